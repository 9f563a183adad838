/* SPDX-License-Identifier: MIT */
/*
 * test_server_threads.c — uds_server on worker threads (uds_server_opts.threads): accepted
 * connections spread evenly over the workers, each connection's callbacks on one worker,
 * max_conns exact across workers under a burst, a graceful and an immediate stop reaching
 * every worker, and uds_server_free() with connections open on every worker. Real Unix
 * sockets in a per-test directory; the server runs on a thread of its own (uds_server_run),
 * or, embedded, in loop turns of the test's thread; clients are the test's.
 * Also run under ThreadSanitizer: make check SANITIZE=thread.
 */
#include <errno.h>
#include <poll.h>
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
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define MAX_THREADS 8
#define IO_MS 5000

struct ctx {
    struct tu_server t;             /* first: tu_server_new() / tu_server_free() */
    pthread_t runner;               /* runs uds_server_run() */
    bool running;
    int run_result;
    int stop_fd;                    /* eventfd on the server's loop: 1 graceful, 2 now */
    pthread_mutex_t lock;           /* the fields below */
    pthread_t threads[MAX_THREADS]; /* threads that called on_open, in first-seen order */
    int opens_on[MAX_THREADS];
    size_t n_threads;
    int other_thread_calls;         /* a callback on another thread than its conn's on_open */
    atomic_int opens;
    atomic_int closes;
    atomic_int open_now;
    atomic_int open_max;
    atomic_int close_errors[256];   /* by errno */
};

static int setup(void **state) {
    struct ctx *c = tu_server_new(sizeof(struct ctx));

    pthread_mutex_init(&c->lock, NULL);
    c->stop_fd = -1;
    *state = c;
    return 0;
}

/* The server stopped and its thread joined by the test, or here if it failed early. */
static int teardown(void **state) {
    struct ctx *c = *state;

    if (c->running) {
        uint64_t now = 2;
        assert_int_equal(write(c->stop_fd, &now, sizeof(now)), sizeof(now));
        pthread_join(c->runner, NULL);
    }
    if (c->stop_fd >= 0)
        (void) close(c->stop_fd);
    uds_server_free(c->t.s);    /* on_close takes the lock */
    c->t.s = NULL;
    pthread_mutex_destroy(&c->lock);
    tu_server_free(c);
    return 0;
}

/* ---- callbacks ------------------------------------------------------------------------- */

static size_t thread_slot(struct ctx *c, pthread_t self) {
    size_t i;

    for (i = 0; i < c->n_threads; i++)
        if (pthread_equal(c->threads[i], self))
            return i;
    if (i < MAX_THREADS) {
        c->threads[i] = self;
        c->n_threads++;
    }
    return i;
}

static int on_open(struct uds_conn *conn, void *data) {
    struct ctx *c = data;
    pthread_t self = pthread_self();

    pthread_mutex_lock(&c->lock);
    size_t i = thread_slot(c, self);
    if (i < MAX_THREADS)
        c->opens_on[i]++;
    pthread_mutex_unlock(&c->lock);
    uds_conn_set_data(conn, (void *) (uintptr_t) (i + 1));
    atomic_fetch_add(&c->opens, 1);
    int now = atomic_fetch_add(&c->open_now, 1) + 1;
    int max = atomic_load(&c->open_max);
    while (now > max && !atomic_compare_exchange_weak(&c->open_max, &max, now)) {
    }
    return 0;
}

/* Whether this callback runs on the thread that opened conn. */
static void check_thread(struct ctx *c, struct uds_conn *conn) {
    size_t want = (size_t) (uintptr_t) uds_conn_data(conn) - 1;

    pthread_mutex_lock(&c->lock);
    if (want >= c->n_threads || !pthread_equal(c->threads[want], pthread_self()))
        c->other_thread_calls++;
    pthread_mutex_unlock(&c->lock);
}

static void on_data(struct uds_conn *conn, const void *buf, size_t len, void *data) {
    check_thread(data, conn);
    (void) uds_conn_send(conn, buf, len);
}

static void on_close(struct uds_conn *conn, int error, void *data) {
    struct ctx *c = data;

    check_thread(c, conn);
    atomic_fetch_sub(&c->open_now, 1);
    atomic_fetch_add(&c->closes, 1);
    if (error >= 0 && error < 256)
        atomic_fetch_add(&c->close_errors[error], 1);
}

static const struct uds_server_callbacks echo_cbs = {
    .on_open = on_open,
    .on_data = on_data,
    .on_close = on_close,
};

/* ---- the server on a thread of its own ------------------------------------------------ */

/* The stop asked for through stop_fd, on the server's own loop, as the contract says. */
static void stop_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct ctx *c = arg;
    uint64_t how;

    (void) loop, (void) events;
    if (read(fd, &how, sizeof(how)) == sizeof(how))
        uds_server_stop(c->t.s, how == 1);
}

static void *runner(void *arg) {
    struct ctx *c = arg;

    c->run_result = uds_server_run(c->t.s);
    return NULL;
}

static void start(struct ctx *c, unsigned threads, size_t max_conns) {
    struct uds_server_opts o = { .threads = threads, .max_conns = max_conns,
                                 .drain_timeout_ms = IO_MS };

    tu_server_start(&c->t, NULL, UDS_STREAM, &o, &echo_cbs, c);
    assert_int_equal(uds_server_threads(c->t.s), threads);
    c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(c->stop_fd >= 0);
    assert_int_equal(uds_loop_add(uds_server_loop(c->t.s), c->stop_fd, UDS_EV_READ, stop_io, c),
                     0);
    assert_int_equal(pthread_create(&c->runner, NULL, runner, c), 0);
    c->running = true;
}

static void stop_and_join(struct ctx *c, bool graceful) {
    uint64_t how = graceful ? 1 : 2;

    assert_int_equal(write(c->stop_fd, &how, sizeof(how)), sizeof(how));
    pthread_join(c->runner, NULL);
    c->running = false;
    assert_int_equal(c->run_result, 0);
}

/* ---- clients ----------------------------------------------------------------------------- */

/* n blocking clients, connected in one burst. */
static void connect_burst(struct ctx *c, int n) {
    c->t.connect_flags = 0;
    for (int i = 0; i < n; i++)
        (void) tu_client(&c->t, UDS_STREAM);
}

static bool echoes(int fd, const char *msg) {
    char buf[64];
    size_t len = strlen(msg), got = 0;

    if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t) len)
        return false;
    while (got < len && tu_wait_readable(fd, IO_MS)) {
        ssize_t r = recv(fd, buf + got, len - got, MSG_DONTWAIT);
        if (r <= 0)
            return false;
        got += (size_t) r;
    }
    return got == len && memcmp(buf, msg, len) == 0;
}

static bool sees_eof(int fd) {
    char buf[64];

    return tu_wait_readable(fd, IO_MS) && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0;
}

static void wait_opens(struct ctx *c, int n) {
    uint64_t end = tu_now_ms() + IO_MS;

    while (atomic_load(&c->opens) < n && tu_now_ms() < end)
        tu_sleep_ms(2);
    assert_int_equal(atomic_load(&c->opens), n);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void burst_is_spread_evenly_over_four_workers(void **state) {
    struct ctx *c = *state;

    start(c, 4, 0);
    connect_burst(c, 64);
    for (size_t i = 0; i < c->t.n_clients; i++)
        assert_true(echoes(c->t.clients[i], "ping"));
    wait_opens(c, 64);
    assert_int_equal(uds_server_conn_count(c->t.s), 64);
    for (unsigned w = 0; w < 4; w++) {
        struct uds_server_worker_stats st;
        assert_int_equal(uds_server_worker_stats(c->t.s, w, &st), 0);
        assert_int_equal(st.accepted, 16);
        assert_int_equal(st.conns, 16);
    }
    pthread_mutex_lock(&c->lock);
    assert_int_equal(c->n_threads, 4);
    for (size_t i = 0; i < c->n_threads; i++) {
        assert_int_equal(c->opens_on[i], 16);
        assert_false(pthread_equal(c->threads[i], c->runner));
    }
    pthread_mutex_unlock(&c->lock);
    stop_and_join(c, false);
    assert_int_equal(c->other_thread_calls, 0);
    assert_int_equal(atomic_load(&c->closes), 64);
}

/* 40 clients at once against max_conns 8: never more than 8 open across the workers, and
 * every client is served once others leave. */
static void max_conns_is_exact_across_four_workers_under_a_burst(void **state) {
    struct ctx *c = *state;
    int served = 0;
    bool done[64] = { false };

    start(c, 4, 8);
    connect_burst(c, 40);
    for (size_t i = 0; i < c->t.n_clients; i++)
        assert_int_equal(send(c->t.clients[i], "x", 1, MSG_NOSIGNAL), 1);
    uint64_t end = tu_now_ms() + 3 * IO_MS;
    while (served < 40 && tu_now_ms() < end) {
        for (size_t i = 0; i < c->t.n_clients; i++) {
            char b;
            if (done[i] || !tu_wait_readable(c->t.clients[i], 0))
                continue;
            assert_int_equal(recv(c->t.clients[i], &b, 1, MSG_DONTWAIT), 1);
            assert_true(uds_server_conn_count(c->t.s) <= 8);
            tu_client_close(&c->t, c->t.clients[i]);
            done[i] = true;
            served++;
        }
        tu_sleep_ms(1);
    }
    assert_int_equal(served, 40);
    assert_int_equal(atomic_load(&c->open_max), 8);
    stop_and_join(c, true);
    assert_int_equal(atomic_load(&c->opens), 40);
    assert_int_equal(atomic_load(&c->closes), 40);
}

/* A graceful stop: the socket file goes at once, the connections on every worker are still
 * served until their clients leave, then the run returns. */
static void graceful_stop_drains_connections_on_every_worker(void **state) {
    struct ctx *c = *state;
    uint64_t how = 1;

    start(c, 4, 0);
    connect_burst(c, 8);
    for (size_t i = 0; i < 8; i++)
        assert_true(echoes(c->t.clients[i], "before"));
    assert_int_equal(write(c->stop_fd, &how, sizeof(how)), sizeof(how));
    uint64_t end = tu_now_ms() + IO_MS;
    while (access(c->t.path, F_OK) == 0 && tu_now_ms() < end)
        tu_sleep_ms(2);
    assert_int_equal(access(c->t.path, F_OK), -1);
    for (size_t i = 0; i < 8; i++)
        assert_true(echoes(c->t.clients[i], "during the drain"));
    assert_int_equal(atomic_load(&c->closes), 0);
    for (size_t i = 0; i < 8; i++)
        tu_client_close(&c->t, c->t.clients[i]);
    pthread_join(c->runner, NULL);
    c->running = false;
    assert_int_equal(c->run_result, 0);
    assert_true(uds_server_stopped(c->t.s));
    assert_int_equal(atomic_load(&c->close_errors[0]), 8);
    assert_int_equal(c->other_thread_calls, 0);
}

static void stop_now_closes_connections_on_every_worker(void **state) {
    struct ctx *c = *state;

    start(c, 4, 0);
    connect_burst(c, 12);
    for (size_t i = 0; i < 12; i++)
        assert_true(echoes(c->t.clients[i], "hello"));
    stop_and_join(c, false);
    for (size_t i = 0; i < 12; i++)
        assert_true(sees_eof(c->t.clients[i]));
    assert_int_equal(atomic_load(&c->close_errors[ECANCELED]), 12);
    assert_int_equal(uds_server_conn_count(c->t.s), 0);
}

/* Embedded: the acceptor runs in the test's loop turns; uds_server_free() with connections
 * open on every worker closes them there, joins the workers, and leaves no fd behind. */
static void free_with_connections_on_every_worker_leaks_nothing(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .threads = 3 };
    int fds_before = tu_count_open_fds();
    char buf[8];

    tu_server_start(&c->t, NULL, UDS_STREAM, &o, &echo_cbs, c);
    for (int i = 0; i < 9; i++)
        (void) tu_client(&c->t, UDS_STREAM);
    for (size_t i = 0; i < 9; i++) {
        assert_int_equal(send(c->t.clients[i], "abc", 3, MSG_NOSIGNAL), 3);
        assert_int_equal(tu_recv_pumped(c->t.s, c->t.clients[i], buf, 3, IO_MS, NULL), 3);
    }
    for (unsigned w = 0; w < 3; w++) {
        struct uds_server_worker_stats st;
        assert_int_equal(uds_server_worker_stats(c->t.s, w, &st), 0);
        assert_int_equal(st.conns, 3);
    }
    uds_server_free(c->t.s);
    c->t.s = NULL;
    assert_int_equal(atomic_load(&c->close_errors[ECANCELED]), 9);
    for (size_t i = 0; i < 9; i++)
        assert_true(sees_eof(c->t.clients[i]));
    /* The clients are the test's: 9 fds more than before, nothing of the server's. */
    assert_int_equal(tu_count_open_fds(), fds_before + 9);
}

/* threads 0 and 1: no worker, every callback on the thread that runs the loop. */
static void one_thread_runs_everything_in_the_servers_loop(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .threads = 1 };
    char buf[8];
    struct uds_server_worker_stats st;

    tu_server_start(&c->t, NULL, UDS_STREAM, &o, &echo_cbs, c);
    assert_int_equal(uds_server_threads(c->t.s), 1);
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = tu_client(&c->t, UDS_STREAM);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(send(fds[i], "abc", 3, MSG_NOSIGNAL), 3);
        assert_int_equal(tu_recv_pumped(c->t.s, fds[i], buf, 3, IO_MS, NULL), 3);
    }
    assert_int_equal(c->n_threads, 1);
    assert_true(pthread_equal(c->threads[0], pthread_self()));
    assert_int_equal(uds_server_worker_stats(c->t.s, 0, &st), 0);
    assert_int_equal(st.accepted, 3);
    assert_int_equal(st.conns, 3);
    assert_int_equal(uds_server_worker_stats(c->t.s, 1, &st), -1);
    assert_int_equal(errno, EINVAL);
}

static void too_many_threads_is_einval(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .threads = UDS_SERVER_THREADS_MAX + 1 };
    struct uds_listen_opts lo = { .type = UDS_STREAM };
    struct uds_listener l;

    assert_true(uds_listen(c->t.path, &lo, &l, NULL) >= 0);
    assert_null(uds_server_new(NULL, &l, &o, &echo_cbs, c));
    assert_int_equal(errno, EINVAL);
    uds_unlisten(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(burst_is_spread_evenly_over_four_workers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(max_conns_is_exact_across_four_workers_under_a_burst,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(graceful_stop_drains_connections_on_every_worker,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(stop_now_closes_connections_on_every_worker, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(free_with_connections_on_every_worker_leaks_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(one_thread_runs_everything_in_the_servers_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(too_many_threads_is_einval, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
