/* SPDX-License-Identifier: MIT */
/*
 * test_loop_pool.c — uds_loop_pool: work dealt to the least loaded loop (ties in turn),
 * posted calls run on their loop's own thread in the order posted, a join that runs what
 * was posted before it, a thread that leaves from inside, calls no thread ran run by
 * uds_loop_pool_free(), timers set before the start, thread names, bad arguments.
 * Also run under ThreadSanitizer: make check SANITIZE=thread.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "udskit.h"

#define CALLS 200

/* ---- picking ------------------------------------------------------------------------------- */

static void pick_spreads_to_the_least_loaded_in_turn(void **state) {
    struct uds_loop_pool *pool = uds_loop_pool_new(4, "t");

    (void) state;
    assert_non_null(pool);
    /* Equal loads: in turn. */
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(uds_loop_pool_pick(pool), i % 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(uds_loop_pool_load(pool, i), 2);
    /* Loop 2 finishes both pieces: it is picked twice before the others again. */
    uds_loop_pool_done(pool, 2);
    uds_loop_pool_done(pool, 2);
    assert_int_equal(uds_loop_pool_pick(pool), 2);
    assert_int_equal(uds_loop_pool_pick(pool), 2);
    assert_int_equal(uds_loop_pool_load(pool, 2), 2);
    /* All equal again: the turn goes on after the last picked. */
    assert_int_equal(uds_loop_pool_pick(pool), 3);
    assert_int_equal(uds_loop_pool_size(pool), 4);
    uds_loop_pool_free(pool);
}

struct done_arg {
    struct uds_loop_pool *pool;
    unsigned loop;
};

static void finish_one(void *arg) {
    struct done_arg *d = arg;

    uds_loop_pool_done(d->pool, d->loop);
}

/* The work is dealt on this thread and finished on the pool's: the count stays exact. */
static void pick_counts_what_other_threads_finish(void **state) {
    struct uds_loop_pool *pool = uds_loop_pool_new(2, "t");
    struct done_arg d[2];

    (void) state;
    assert_non_null(pool);
    assert_int_equal(uds_loop_pool_start(pool), 0);
    for (unsigned i = 0; i < 2; i++)
        d[i] = (struct done_arg) { .pool = pool, .loop = i };
    for (unsigned i = 0; i < 1000; i++) {
        unsigned l = uds_loop_pool_pick(pool);
        assert_int_equal(uds_loop_pool_post(pool, l, finish_one, &d[l]), 0);
    }
    uds_loop_pool_join(pool);
    assert_int_equal(uds_loop_pool_load(pool, 0), 0);
    assert_int_equal(uds_loop_pool_load(pool, 1), 0);
    uds_loop_pool_free(pool);
}

/* ---- posting ------------------------------------------------------------------------------- */

struct rec {
    struct uds_loop_pool *pool;
    pthread_mutex_t lock;
    pthread_t thread_of[2];         /* the thread each loop's calls ran on */
    bool seen[2];
    int wrong_thread;               /* a loop's calls on two different threads */
    int order[2][CALLS];            /* the sequence numbers, as run */
    int n[2];
    atomic_int ran;
};

struct call_arg {
    struct rec *r;
    unsigned loop;
    int seq;
};

static void record(void *arg) {
    struct call_arg *a = arg;
    struct rec *r = a->r;

    pthread_mutex_lock(&r->lock);
    if (!r->seen[a->loop]) {
        r->seen[a->loop] = true;
        r->thread_of[a->loop] = pthread_self();
    } else if (!pthread_equal(r->thread_of[a->loop], pthread_self())) {
        r->wrong_thread++;
    }
    r->order[a->loop][r->n[a->loop]++] = a->seq;
    pthread_mutex_unlock(&r->lock);
    atomic_fetch_add(&r->ran, 1);
    free(a);
}

static void post_record(struct rec *r, unsigned loop, int seq) {
    struct call_arg *a = malloc(sizeof(*a));

    assert_non_null(a);
    *a = (struct call_arg) { .r = r, .loop = loop, .seq = seq };
    assert_int_equal(uds_loop_pool_post(r->pool, loop, record, a), 0);
}

static void posted_calls_run_on_their_own_thread_in_order(void **state) {
    struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER };

    (void) state;
    r.pool = uds_loop_pool_new(2, "t");
    assert_non_null(r.pool);
    /* Posted before the start: they wait for it. */
    for (int i = 0; i < CALLS / 2; i++)
        post_record(&r, (unsigned) i % 2, i / 2);
    assert_int_equal(uds_loop_pool_start(r.pool), 0);
    for (int i = CALLS / 2; i < CALLS; i++)
        post_record(&r, (unsigned) i % 2, i / 2);
    /* The join runs what was posted before it. */
    uds_loop_pool_join(r.pool);
    assert_int_equal(atomic_load(&r.ran), CALLS);
    assert_int_equal(r.wrong_thread, 0);
    for (unsigned l = 0; l < 2; l++) {
        assert_true(r.seen[l]);
        assert_false(pthread_equal(r.thread_of[l], pthread_self()));
        assert_int_equal(r.n[l], CALLS / 2);
        for (int i = 0; i < CALLS / 2; i++)
            assert_int_equal(r.order[l][i], i);
    }
    assert_false(pthread_equal(r.thread_of[0], r.thread_of[1]));
    uds_loop_pool_free(r.pool);
}

/* ---- leaving ------------------------------------------------------------------------------- */

struct leave_ctx {
    struct uds_loop_pool *pool;
    atomic_int stopped;
    pthread_t ran_on;
    atomic_int late_ran;
};

static void stop_own_loop(void *arg) {
    struct leave_ctx *l = arg;

    uds_loop_stop(uds_loop_pool_loop(l->pool, 0));
    atomic_store(&l->stopped, 1);
}

static void late(void *arg) {
    struct leave_ctx *l = arg;

    l->ran_on = pthread_self();
    atomic_fetch_add(&l->late_ran, 1);
}

static void a_thread_that_leaves_from_inside_has_its_late_calls_run_by_free(void **state) {
    struct leave_ctx l = { 0 };

    (void) state;
    l.pool = uds_loop_pool_new(1, "t");
    assert_non_null(l.pool);
    assert_int_equal(uds_loop_pool_start(l.pool), 0);
    assert_int_equal(uds_loop_pool_post(l.pool, 0, stop_own_loop, &l), 0);
    for (int i = 0; i < 500 && !atomic_load(&l.stopped); i++)
        usleep(2000);
    assert_int_equal(atomic_load(&l.stopped), 1);
    usleep(20000);  /* the thread has left its loop by now, or leaves right after */
    assert_int_equal(uds_loop_pool_post(l.pool, 0, late, &l), 0);
    uds_loop_pool_join(l.pool);
    /* Either the thread ran it before it left, or nobody has yet; free runs it then. */
    int before_free = atomic_load(&l.late_ran);
    uds_loop_pool_free(l.pool);
    assert_int_equal(atomic_load(&l.late_ran), 1);
    if (before_free == 0)
        assert_true(pthread_equal(l.ran_on, pthread_self()));
}

static void a_pool_never_started_runs_its_calls_at_free(void **state) {
    struct leave_ctx l = { 0 };

    (void) state;
    l.pool = uds_loop_pool_new(3, "t");
    assert_non_null(l.pool);
    assert_int_equal(uds_loop_pool_post(l.pool, 2, late, &l), 0);
    uds_loop_pool_free(l.pool);
    assert_int_equal(atomic_load(&l.late_ran), 1);
}

/* ---- the loops ----------------------------------------------------------------------------- */

struct timer_ctx {
    atomic_int fired;
    pthread_t on;
};

static void on_timer(struct uds_loop *loop, uint64_t id, void *data) {
    struct timer_ctx *t = data;

    (void) loop, (void) id;
    t->on = pthread_self();
    atomic_store(&t->fired, 1);
}

static void a_timer_set_before_the_start_fires_on_the_pool_thread(void **state) {
    struct uds_loop_pool *pool = uds_loop_pool_new(2, "t");
    struct timer_ctx t = { 0 };
    uint64_t id;

    (void) state;
    assert_non_null(pool);
    assert_int_equal(uds_loop_timer_add(uds_loop_pool_loop(pool, 1), 10, on_timer, &t, &id), 0);
    assert_int_equal(uds_loop_pool_start(pool), 0);
    for (int i = 0; i < 500 && !atomic_load(&t.fired); i++)
        usleep(2000);
    uds_loop_pool_join(pool);
    assert_int_equal(atomic_load(&t.fired), 1);
    assert_false(pthread_equal(t.on, pthread_self()));
    uds_loop_pool_free(pool);
}

/* How many of this process's threads are named name. */
static int threads_named(const char *name) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[300], comm[32] = "";
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        n += strcmp(comm, name) == 0;
    }
    closedir(d);
    return n;
}

static void threads_are_named_and_gone_after_the_join(void **state) {
    struct uds_loop_pool *pool = uds_loop_pool_new(3, "poolname");

    (void) state;
    assert_non_null(pool);
    assert_int_equal(uds_loop_pool_start(pool), 0);
    usleep(20000);
    assert_int_equal(threads_named("poolname/0"), 1);
    assert_int_equal(threads_named("poolname/2"), 1);
    uds_loop_pool_join(pool);
    assert_int_equal(threads_named("poolname/1"), 0);
    uds_loop_pool_free(pool);
}

static void bad_arguments_are_einval(void **state) {
    struct uds_loop_pool *pool;

    (void) state;
    errno = 0;
    assert_null(uds_loop_pool_new(0, "t"));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(uds_loop_pool_new(UDS_LOOP_POOL_MAX + 1, "t"));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(uds_loop_pool_new(1, "tenletters"));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_loop_pool_new(1, NULL));
    pool = uds_loop_pool_new(1, "ninechars");
    assert_non_null(pool);
    errno = 0;
    assert_int_equal(uds_loop_pool_post(pool, 1, late, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_loop_pool_post(pool, 0, NULL, NULL), -1);
    assert_null(uds_loop_pool_loop(pool, 1));
    assert_int_equal(uds_loop_pool_load(pool, 5), 0);
    uds_loop_pool_done(pool, 5);    /* out of range: nothing */
    uds_loop_pool_free(pool);
    uds_loop_pool_free(NULL);
    uds_loop_pool_join(NULL);
    assert_int_equal(uds_loop_pool_pick(NULL), 0);
    assert_int_equal(uds_loop_pool_size(NULL), 0);
    assert_int_equal(uds_loop_pool_start(NULL), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pick_spreads_to_the_least_loaded_in_turn),
        cmocka_unit_test(pick_counts_what_other_threads_finish),
        cmocka_unit_test(posted_calls_run_on_their_own_thread_in_order),
        cmocka_unit_test(a_thread_that_leaves_from_inside_has_its_late_calls_run_by_free),
        cmocka_unit_test(a_pool_never_started_runs_its_calls_at_free),
        cmocka_unit_test(a_timer_set_before_the_start_fires_on_the_pool_thread),
        cmocka_unit_test(threads_are_named_and_gone_after_the_join),
        cmocka_unit_test(bad_arguments_are_einval),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
