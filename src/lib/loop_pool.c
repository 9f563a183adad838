/* SPDX-License-Identifier: MIT */
/*
 * loop_pool.c — N threads, each running a uds_loop of its own, with a mailbox to have a
 * function run on one of them and a count of the work each holds, for dealing work out
 * to the least loaded. The threaded uds_server (server_workers.c) and `uds proxy
 * --threads` are built on it. It knows nothing of what runs on the loops.
 *
 * A mailbox is a list of (function, argument) under a mutex, and an eventfd in the loop to
 * say it is not empty: one system call for a post that finds the thread asleep, none of
 * the thread's time while it is busy elsewhere.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

struct call {
    uds_loop_pool_fn *fn;
    void *arg;
    struct call *next;
};

struct pool_thread {
    struct uds_loop_pool *pool;
    unsigned index;
    struct uds_loop *loop;
    pthread_t thread;
    bool started;
    bool joined;
    int efd;                    /* in loop: calls are waiting */
    pthread_mutex_t lock;
    struct call *head;          /* under lock, oldest first */
    struct call *tail;
    struct call leave_call;     /* posted by uds_loop_pool_join(): needs no memory */
    atomic_size_t load;         /* work counted by uds_loop_pool_pick(), not yet done */
};

/* Threads are named "NAME/I": at most 15 bytes with I below UDS_LOOP_POOL_MAX. */
#define NAME_MAX_LEN 9

struct uds_loop_pool {
    char name[NAME_MAX_LEN + 1];
    uds__loop_pool_end_fn *on_end;
    void *end_data;
    unsigned next;              /* the picker's: where the next search begins */
    unsigned n;
    struct pool_thread t[];
};

/* --- on a pool thread ---------------------------------------------------------------------- */

static struct call *take_calls(struct pool_thread *t) {
    struct call *c;

    pthread_mutex_lock(&t->lock);
    c = t->head;
    t->head = t->tail = NULL;
    pthread_mutex_unlock(&t->lock);
    return c;
}

static void run_calls(struct pool_thread *t, struct call *c) {
    while (c) {
        struct call *next = c->next;
        c->fn(c->arg);
        if (c != &t->leave_call)
            free(c);
        c = next;
    }
}

static void mailbox_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct pool_thread *t = arg;
    uint64_t n;

    (void) loop, (void) events;
    if (read(fd, &n, sizeof(n)) < 0) {
        /* EAGAIN: an earlier wakeup took the calls already. */
    }
    run_calls(t, take_calls(t));
}

static void *thread_main(void *arg) {
    struct pool_thread *t = arg;
    struct uds_loop_pool *pool = t->pool;

    /* Until uds_loop_stop() on this loop: the leave call, or the code running on it. */
    (void) uds_loop_run(t->loop);
    if (pool->on_end)
        pool->on_end(t->index, pool->end_data);
    return NULL;
}

static void leave(void *arg) {
    uds_loop_stop(arg);
}

/* --- any thread ---------------------------------------------------------------------------- */

static void enqueue(struct pool_thread *t, struct call *c) {
    uint64_t one = 1;

    pthread_mutex_lock(&t->lock);
    if (t->tail)
        t->tail->next = c;
    else
        t->head = c;
    t->tail = c;
    pthread_mutex_unlock(&t->lock);
    if (write(t->efd, &one, sizeof(one)) < 0) {
        /* Only full after 2^64-2 unread wakeups: the thread is woken either way. */
    }
}

UDS_API int uds_loop_pool_post(struct uds_loop_pool *pool, unsigned i, uds_loop_pool_fn *fn,
                               void *arg) {
    if (!pool || i >= pool->n || !fn)
        return uds__fail(EINVAL);

    struct call *c = malloc(sizeof(*c));
    if (!c)
        return -1;
    *c = (struct call) { .fn = fn, .arg = arg };
    enqueue(&pool->t[i], c);
    return 0;
}

UDS_API unsigned uds_loop_pool_pick(struct uds_loop_pool *pool) {
    if (!pool)
        return 0;

    unsigned best = pool->next;
    size_t best_load = SIZE_MAX;

    for (unsigned k = 0; k < pool->n; k++) {
        unsigned i = (pool->next + k) % pool->n;
        size_t load = atomic_load(&pool->t[i].load);
        if (load < best_load) {
            best = i;
            best_load = load;
        }
    }
    atomic_fetch_add(&pool->t[best].load, 1);
    pool->next = (best + 1) % pool->n;
    return best;
}

UDS_API void uds_loop_pool_done(struct uds_loop_pool *pool, unsigned i) {
    if (pool && i < pool->n)
        atomic_fetch_sub(&pool->t[i].load, 1);
}

UDS_API size_t uds_loop_pool_load(const struct uds_loop_pool *pool, unsigned i) {
    if (!pool || i >= pool->n)
        return 0;
    return atomic_load(&((struct uds_loop_pool *) pool)->t[i].load);
}

UDS_API unsigned uds_loop_pool_size(const struct uds_loop_pool *pool) {
    return pool ? pool->n : 0;
}

UDS_API struct uds_loop *uds_loop_pool_loop(const struct uds_loop_pool *pool, unsigned i) {
    return pool && i < pool->n ? pool->t[i].loop : NULL;
}

/* --- making and ending --------------------------------------------------------------------- */

static int thread_init(struct uds_loop_pool *pool, unsigned i) {
    struct pool_thread *t = &pool->t[i];

    if (pthread_mutex_init(&t->lock, NULL) != 0)
        return uds__fail(ENOMEM);   /* t->pool stays NULL: nothing for free to undo */
    t->pool = pool;
    t->index = i;
    t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->loop = uds_loop_new();
    if (t->efd < 0 || !t->loop)
        return -1;
    return uds_loop_add(t->loop, t->efd, UDS_EV_READ, mailbox_io, t);
}

UDS_API struct uds_loop_pool *uds_loop_pool_new(unsigned n, const char *name) {
    if (n == 0 || n > UDS_LOOP_POOL_MAX || !name || strlen(name) > NAME_MAX_LEN) {
        errno = EINVAL;
        return NULL;
    }

    struct uds_loop_pool *pool = calloc(1, sizeof(*pool) + n * sizeof(pool->t[0]));
    if (!pool)
        return NULL;
    snprintf(pool->name, sizeof(pool->name), "%s", name);
    pool->n = n;
    for (unsigned i = 0; i < n; i++) {
        pool->t[i].efd = -1;
        if (thread_init(pool, i) < 0) {
            int e = errno;
            uds_loop_pool_free(pool);
            errno = e;
            return NULL;
        }
    }
    return pool;
}

void uds__loop_pool_on_end(struct uds_loop_pool *pool, uds__loop_pool_end_fn *fn, void *data) {
    pool->on_end = fn;
    pool->end_data = data;
}

/* Every signal blocked in the threads: the process's signals go to its own threads (a
 * signalfd, a handler), never to a pool thread in the middle of a callback. */
UDS_API int uds_loop_pool_start(struct uds_loop_pool *pool) {
    sigset_t every, old;
    int r = 0;

    if (!pool)
        return uds__fail(EINVAL);
    sigfillset(&every);
    pthread_sigmask(SIG_SETMASK, &every, &old);
    for (unsigned i = 0; i < pool->n && r == 0; i++) {
        struct pool_thread *t = &pool->t[i];
        if (t->started)
            continue;
        r = pthread_create(&t->thread, NULL, thread_main, t);
        t->started = r == 0;
        if (r == 0) {
            /* Seen in top -H, ps -L and /proc/PID/task/TID/comm; best effort. */
            char name[32];
            snprintf(name, sizeof(name), "%s/%u", pool->name, i);
            name[15] = '\0';   /* the kernel's limit; never reached (i < 10000) */
            (void) pthread_setname_np(t->thread, name);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r == 0 ? 0 : uds__fail(r);
}

UDS_API void uds_loop_pool_join(struct uds_loop_pool *pool) {
    if (!pool)
        return;
    for (unsigned i = 0; i < pool->n; i++) {
        struct pool_thread *t = &pool->t[i];
        if (t->started && !t->joined) {
            t->leave_call = (struct call) { .fn = leave, .arg = t->loop };
            enqueue(t, &t->leave_call);
        }
    }
    for (unsigned i = 0; i < pool->n; i++) {
        struct pool_thread *t = &pool->t[i];
        if (t->started && !t->joined) {
            (void) pthread_join(t->thread, NULL);
            t->joined = true;
        }
    }
}

UDS_API void uds_loop_pool_free(struct uds_loop_pool *pool) {
    if (!pool)
        return;
    uds_loop_pool_join(pool);
    for (unsigned i = 0; i < pool->n; i++) {
        struct pool_thread *t = &pool->t[i];
        if (!t->pool)
            continue;
        /* Calls no thread ran (never started, or left early): run here, the threads
         * having ended, so that what they carry is not lost. */
        run_calls(t, take_calls(t));
        uds_loop_free(t->loop);
        if (t->efd >= 0)
            (void) close(t->efd);
        pthread_mutex_destroy(&t->lock);
    }
    free(pool);
}
