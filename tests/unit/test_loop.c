/* SPDX-License-Identifier: MIT */
/*
 * test_loop.c — unit tests of the event loop (loop.c): fd registration and dispatch, stale
 * events after a delete inside a callback, timers, stop, and embedding through its fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define MAX_CALLS 16

struct rec {
    struct uds_loop *loop;
    int calls;
    int fds[MAX_CALLS];
    unsigned events[MAX_CALLS];
    uint64_t timer_ids[MAX_CALLS];
    int tags[MAX_CALLS];
    int pipes[2][2];
    uint64_t cancel_id;     /* timer to cancel from inside a callback, or 0 */
};

struct tagged {
    struct rec *rec;
    int tag;
};

static int setup(void **state) {
    struct rec *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    for (int i = 0; i < 2; i++)
        r->pipes[i][0] = r->pipes[i][1] = -1;
    r->loop = uds_loop_new();
    assert_non_null(r->loop);
    alarm(10);
    *state = r;
    return 0;
}

static int teardown(void **state) {
    struct rec *r = *state;

    uds_loop_free(r->loop);
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            if (r->pipes[i][j] >= 0)
                close(r->pipes[i][j]);
        }
    }
    free(r);
    alarm(0);
    return 0;
}

static void make_pipes(struct rec *r) {
    for (int i = 0; i < 2; i++)
        assert_int_equal(pipe2(r->pipes[i], O_CLOEXEC | O_NONBLOCK), 0);
}

static void record_fd(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct rec *r = data;

    (void) loop;
    if (r->calls < MAX_CALLS) {
        r->fds[r->calls] = fd;
        r->events[r->calls] = events;
    }
    r->calls++;
}

static void record_timer(struct uds_loop *loop, uint64_t id, void *data) {
    struct tagged *t = data;
    struct rec *r = t->rec;

    if (r->calls < MAX_CALLS) {
        r->timer_ids[r->calls] = id;
        r->tags[r->calls] = t->tag;
    }
    r->calls++;
    if (r->cancel_id) {
        uds_loop_timer_cancel(loop, r->cancel_id);
        r->cancel_id = 0;
    }
}

static void loop_add_read_dispatches_callback(void **state) {
    struct rec *r = *state;

    make_pipes(r);
    assert_int_equal(uds_loop_add(r->loop, r->pipes[0][0], UDS_EV_READ, record_fd, r), 0);
    assert_int_equal(uds_loop_run_once(r->loop, 0), 0);
    assert_int_equal(write(r->pipes[0][1], "x", 1), 1);
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
    assert_int_equal(r->calls, 1);
    assert_int_equal(r->fds[0], r->pipes[0][0]);
    assert_true(r->events[0] & UDS_EV_READ);
}

static void loop_mod_switches_watched_events(void **state) {
    struct rec *r = *state;

    make_pipes(r);
    /* The write end of an empty pipe is writable, never readable. */
    assert_int_equal(uds_loop_add(r->loop, r->pipes[0][1], UDS_EV_READ, record_fd, r), 0);
    assert_int_equal(uds_loop_run_once(r->loop, 0), 0);
    assert_int_equal(uds_loop_mod(r->loop, r->pipes[0][1], UDS_EV_WRITE), 0);
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
    assert_int_equal(r->events[0], UDS_EV_WRITE);
    assert_int_equal(uds_loop_mod(r->loop, r->pipes[0][1], 0), 0);
    assert_int_equal(uds_loop_run_once(r->loop, 0), 0);
    assert_int_equal(uds_loop_mod(r->loop, r->pipes[0][1], UDS_EV_WRITE), 0);
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
    assert_int_equal(r->calls, 2);
}

static void loop_del_stops_dispatch(void **state) {
    struct rec *r = *state;

    make_pipes(r);
    assert_int_equal(uds_loop_add(r->loop, r->pipes[0][0], UDS_EV_READ, record_fd, r), 0);
    assert_int_equal(write(r->pipes[0][1], "x", 1), 1);
    assert_int_equal(uds_loop_del(r->loop, r->pipes[0][0]), 0);
    assert_int_equal(uds_loop_run_once(r->loop, 0), 0);
    assert_int_equal(r->calls, 0);
    /* Deleted means unknown: it can be added again. */
    assert_int_equal(uds_loop_add(r->loop, r->pipes[0][0], UDS_EV_READ, record_fd, r), 0);
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
}

static void loop_bad_registrations_fail_with_errno(void **state) {
    struct rec *r = *state;

    make_pipes(r);
    int fd = r->pipes[0][0];
    assert_int_equal(uds_loop_add(r->loop, fd, UDS_EV_READ, record_fd, r), 0);
    errno = 0;
    assert_int_equal(uds_loop_add(r->loop, fd, UDS_EV_READ, record_fd, r), -1);
    assert_int_equal(errno, EEXIST);
    errno = 0;
    assert_int_equal(uds_loop_mod(r->loop, r->pipes[1][0], UDS_EV_READ), -1);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(uds_loop_del(r->loop, r->pipes[1][0]), -1);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(uds_loop_add(r->loop, -1, UDS_EV_READ, record_fd, r), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(uds_loop_add(r->loop, r->pipes[1][0], UDS_EV_HUP, record_fd, r), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(uds_loop_add(r->loop, r->pipes[1][0], UDS_EV_READ, NULL, r), -1);
    assert_int_equal(errno, EINVAL);
}

struct pair_ctx {
    struct uds_loop *loop;
    int a, b;
    int calls;
    int called_fd;
    int reused_fd_calls;
    int pipe_new[2];
    bool reuse;
};

static void reused_cb(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct pair_ctx *p = data;

    (void) loop, (void) fd, (void) events;
    p->reused_fd_calls++;
}

static void delete_other_cb(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct pair_ctx *p = data;
    int other = fd == p->a ? p->b : p->a;

    char c;

    (void) events;
    assert_int_equal(read(fd, &c, 1), 1);
    p->calls++;
    p->called_fd = fd;
    assert_int_equal(uds_loop_del(loop, other), 0);
    if (p->reuse) {
        /* Give the deleted fd's number to a fresh, readable file with another callback:
         * the stale event fetched for the old one must not reach it. */
        assert_int_equal(close(other), 0);
        assert_int_equal(pipe2(p->pipe_new, O_CLOEXEC | O_NONBLOCK), 0);
        int fresh = p->pipe_new[0];
        if (fresh != other) {
            assert_int_equal(dup3(fresh, other, O_CLOEXEC), other);
            close(fresh);
            p->pipe_new[0] = other;
        }
        assert_int_equal(write(p->pipe_new[1], "y", 1), 1);
        assert_int_equal(uds_loop_add(loop, other, UDS_EV_READ, reused_cb, p), 0);
    }
}

static void run_delete_other(struct rec *r, bool reuse) {
    struct pair_ctx p = { .loop = r->loop, .reuse = reuse, .pipe_new = { -1, -1 } };

    make_pipes(r);
    p.a = r->pipes[0][0];
    p.b = r->pipes[1][0];
    assert_int_equal(uds_loop_add(r->loop, p.a, UDS_EV_READ, delete_other_cb, &p), 0);
    assert_int_equal(uds_loop_add(r->loop, p.b, UDS_EV_READ, delete_other_cb, &p), 0);
    assert_int_equal(write(r->pipes[0][1], "x", 1), 1);
    assert_int_equal(write(r->pipes[1][1], "x", 1), 1);
    /* Both fds are ready before the wait, so both events come back in one batch. */
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.reused_fd_calls, 0);
    if (reuse) {
        int other = p.called_fd == p.a ? p.b : p.a;
        /* The new registration works from the next wait on. */
        assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
        assert_int_equal(p.reused_fd_calls, 1);
        assert_int_equal(uds_loop_del(r->loop, other), 0);
        if (other == r->pipes[0][0])
            r->pipes[0][0] = -1;
        else
            r->pipes[1][0] = -1;
        close(p.pipe_new[0]);
        close(p.pipe_new[1]);
    }
}

static void loop_del_in_callback_skips_other_ready_fd(void **state) {
    run_delete_other(*state, false);
}

static void loop_fd_reused_in_callback_gets_no_stale_event(void **state) {
    run_delete_other(*state, true);
}

static void loop_timers_fire_in_deadline_order(void **state) {
    struct rec *r = *state;
    struct tagged t[5];
    uint64_t after[5] = { 30, 10, 20, 20, 0 };

    for (int i = 0; i < 5; i++) {
        t[i] = (struct tagged) { r, i };
        assert_int_equal(uds_loop_timer_add(r->loop, after[i], record_timer, &t[i], NULL), 0);
    }
    while (r->calls < 5)
        assert_true(uds_loop_run_once(r->loop, 1000) >= 0);
    /* Equal deadlines keep the order they were added in. */
    int want[5] = { 4, 1, 2, 3, 0 };
    for (int i = 0; i < 5; i++)
        assert_int_equal(r->tags[i], want[i]);
}

static void loop_timer_add_fails_with_errno_and_leaves_id(void **state) {
    struct rec *r = *state;
    uint64_t id = 42;

    errno = 0;
    assert_int_equal(uds_loop_timer_add(r->loop, 10, NULL, NULL, &id), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_loop_timer_add(NULL, 10, record_timer, NULL, &id), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(id, 42);
}

static void loop_timer_cancel_prevents_fire(void **state) {
    struct rec *r = *state;
    struct tagged a = { r, 1 }, b = { r, 2 };

    uint64_t ida = 0, idb = 0;
    assert_int_equal(uds_loop_timer_add(r->loop, 10, record_timer, &a, &ida), 0);
    assert_int_equal(uds_loop_timer_add(r->loop, 20, record_timer, &b, &idb), 0);
    assert_true(ida > 0 && idb > 0 && ida != idb);
    uds_loop_timer_cancel(r->loop, ida);
    while (r->calls < 1)
        assert_true(uds_loop_run_once(r->loop, 1000) >= 0);
    assert_int_equal(r->tags[0], 2);
    assert_int_equal(r->timer_ids[0], idb);
    /* Fired and unknown ids are ignored, and do not disturb a new timer in the same slot. */
    uds_loop_timer_cancel(r->loop, idb);
    uds_loop_timer_cancel(r->loop, 0);
    uds_loop_timer_cancel(r->loop, UINT64_MAX);
    uint64_t idc = 0;
    assert_int_equal(uds_loop_timer_add(r->loop, 0, record_timer, &a, &idc), 0);
    assert_true(idc != idb && idc != ida);
    uds_loop_timer_cancel(r->loop, idb);
    while (r->calls < 2)
        assert_true(uds_loop_run_once(r->loop, 1000) >= 0);
    assert_int_equal(r->tags[1], 1);
}

static void loop_timer_cancelled_from_earlier_timer_does_not_fire(void **state) {
    struct rec *r = *state;
    struct tagged a = { r, 1 }, b = { r, 2 };

    assert_int_equal(uds_loop_timer_add(r->loop, 0, record_timer, &a, NULL), 0);
    assert_int_equal(uds_loop_timer_add(r->loop, 0, record_timer, &b, &r->cancel_id), 0);
    assert_true(r->cancel_id > 0);
    usleep(2000);
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
    assert_int_equal(uds_loop_run_once(r->loop, 50), 0);
    assert_int_equal(r->calls, 1);
    assert_int_equal(r->tags[0], 1);
}

static void readd_zero_timer(struct uds_loop *loop, uint64_t id, void *data) {
    int *count = data;

    (void) id;
    (*count)++;
    assert_int_equal(uds_loop_timer_add(loop, 0, readd_zero_timer, data, NULL), 0);
}

static void loop_timer_readded_with_zero_delay_runs_next_turn(void **state) {
    struct rec *r = *state;
    int count = 0;

    assert_int_equal(uds_loop_timer_add(r->loop, 0, readd_zero_timer, &count, NULL), 0);
    /* Each turn runs the timer once: a self re-adding 0 ms timer must not spin in place. */
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
    assert_int_equal(count, 1);
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
    assert_int_equal(count, 2);
}

static void loop_run_once_times_out_without_events(void **state) {
    struct rec *r = *state;
    uint64_t start = uds_loop_now_ms(r->loop);

    assert_int_equal(uds_loop_run_once(r->loop, 30), 0);
    assert_true(uds_loop_now_ms(r->loop) - start >= 29);
}

static void stop_timer(struct uds_loop *loop, uint64_t id, void *data) {
    int *count = data;

    (void) id;
    (*count)++;
    uds_loop_stop(loop);
}

static void loop_run_returns_after_stop(void **state) {
    struct rec *r = *state;
    int count = 0;

    assert_int_equal(uds_loop_timer_add(r->loop, 10, stop_timer, &count, NULL), 0);
    assert_int_equal(uds_loop_run(r->loop), 0);
    assert_int_equal(count, 1);
}

static void loop_fd_readable_when_watched_fd_ready(void **state) {
    struct rec *r = *state;
    int lfd = uds_loop_fd(r->loop);

    make_pipes(r);
    assert_true(lfd >= 0);
    assert_int_equal(uds_loop_add(r->loop, r->pipes[0][0], UDS_EV_READ, record_fd, r), 0);
    assert_false(tu_wait_readable(lfd, 0));
    assert_int_equal(write(r->pipes[0][1], "x", 1), 1);
    assert_true(tu_wait_readable(lfd, 1000));
    assert_int_equal(uds_loop_run_once(r->loop, 0), 1);
    assert_int_equal(r->calls, 1);
    char c;
    assert_int_equal(read(r->pipes[0][0], &c, 1), 1);
    assert_false(tu_wait_readable(lfd, 0));
}

static void loop_fd_readable_when_timer_due(void **state) {
    struct rec *r = *state;
    struct tagged t = { r, 7 };
    int lfd = uds_loop_fd(r->loop);

    assert_int_equal(uds_loop_timer_add(r->loop, 20, record_timer, &t, NULL), 0);
    assert_false(tu_wait_readable(lfd, 0));
    assert_true(tu_wait_readable(lfd, 1000));
    assert_int_equal(uds_loop_run_once(r->loop, 0), 1);
    assert_int_equal(r->tags[0], 7);
    assert_false(tu_wait_readable(lfd, 0));
}

static void loop_cancelled_timer_leaves_fd_quiet(void **state) {
    struct rec *r = *state;
    struct tagged t = { r, 7 };
    int lfd = uds_loop_fd(r->loop);

    uint64_t id = 0;
    assert_int_equal(uds_loop_timer_add(r->loop, 10, record_timer, &t, &id), 0);
    assert_true(id > 0);
    uds_loop_timer_cancel(r->loop, id);
    assert_false(tu_wait_readable(lfd, 50));
}

static void loop_peer_close_reports_hup(void **state) {
    struct rec *r = *state;
    int sv[2];

    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_loop_add(r->loop, sv[0], UDS_EV_READ, record_fd, r), 0);
    close(sv[1]);
    assert_int_equal(uds_loop_run_once(r->loop, 1000), 1);
    assert_true(r->events[0] & UDS_EV_HUP);
    assert_true(r->events[0] & UDS_EV_READ);
    /* Watching nothing silences even a hang-up (epoll reports HUP for any mask). */
    assert_int_equal(uds_loop_mod(r->loop, sv[0], 0), 0);
    assert_int_equal(uds_loop_run_once(r->loop, 0), 0);
    assert_int_equal(uds_loop_del(r->loop, sv[0]), 0);
    close(sv[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(loop_add_read_dispatches_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_mod_switches_watched_events, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_del_stops_dispatch, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_bad_registrations_fail_with_errno, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_del_in_callback_skips_other_ready_fd, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(loop_fd_reused_in_callback_gets_no_stale_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(loop_timers_fire_in_deadline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_timer_add_fails_with_errno_and_leaves_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(loop_timer_cancel_prevents_fire, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_timer_cancelled_from_earlier_timer_does_not_fire,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(loop_timer_readded_with_zero_delay_runs_next_turn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(loop_run_once_times_out_without_events, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_run_returns_after_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_fd_readable_when_watched_fd_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_fd_readable_when_timer_due, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_cancelled_timer_leaves_fd_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(loop_peer_close_reports_hup, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
