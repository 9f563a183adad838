/* SPDX-License-Identifier: MIT */
/*
 * test_server_detach.c — unit tests of handing a connection's fd over (uds_conn_detach) and
 * of pausing accept (uds_server_pause), the two calls `uds serve -- PROGRAM` is built on.
 * Real sockets in a per-test directory; clients and server share one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

struct ctx {
    struct tu_server fx;
    bool detach;            /* on_open detaches every connection into fds[] */
    bool pause_in_open;     /* on_open pauses accepting after the first connection */
    bool detach_in_data;    /* on_data detaches with uds_conn_detach_input() into fds[] */
    void *input;            /*   and what it handed over */
    size_t input_len;
    int fds[8];
    size_t n_fds;
    int opens, closes, datas;
};
_Static_assert(offsetof(struct ctx, fx) == 0, "tu_server_new() allocates the state");

static int setup(void **state) {
    struct ctx *c = tu_server_new(sizeof(*c));

    c->fx.connect_flags = 0;    /* blocking clients */
    *state = c;
    return 0;
}

static int teardown(void **state) {
    struct ctx *c = *state;

    for (size_t i = 0; i < c->n_fds; i++)
        close(c->fds[i]);
    free(c->input);
    tu_server_free(c);
    return 0;
}

static int on_open(struct uds_conn *conn, void *data) {
    struct ctx *c = data;

    c->opens++;
    if (c->pause_in_open)
        uds_server_pause(c->fx.s, true);
    if (c->detach) {
        int fd = uds_conn_detach(conn);
        assert_true(fd >= 0);
        /* Valid until the callback returns; closing now fails. */
        assert_int_equal(uds_conn_detach(conn), -1);
        assert_int_equal(errno, EPIPE);
        c->fds[c->n_fds++] = fd;
    }
    return 0;
}

static void on_data(struct uds_conn *conn, const void *buf, size_t len, void *data) {
    struct ctx *c = data;

    c->datas++;
    if (c->detach_in_data) {
        int fd = uds_conn_detach_input(conn, &c->input, &c->input_len);
        assert_true(fd >= 0);
        c->fds[c->n_fds++] = fd;
        return;
    }
    assert_int_equal(uds_conn_send(conn, buf, len), 0);
}

static void on_close(struct uds_conn *conn, int error, void *data) {
    struct ctx *c = data;

    (void) conn, (void) error;
    c->closes++;
}

static const struct uds_server_callbacks callbacks = {
    .on_open = on_open,
    .on_data = on_data,
    .on_close = on_close,
};

static void start(struct ctx *c) {
    tu_server_start(&c->fx, NULL, UDS_STREAM, NULL, &callbacks, c);
}

/* Run the loop until cond or about a second has passed. */
#define SPIN_UNTIL(c, cond)                                                      \
    do {                                                                         \
        for (int spin_ = 0; spin_ < 100 && !(cond); spin_++)                     \
            tu_run_once((c)->fx.s, 10);                                          \
    } while (0)

static void detach_hands_over_an_open_fd_the_server_never_reads(void **state) {
    struct ctx *c = *state;
    char buf[16];

    c->detach = true;
    start(c);
    int cl = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(cl, "ping", 4, MSG_NOSIGNAL), 4);
    SPIN_UNTIL(c, c->n_fds == 1);
    assert_int_equal(c->n_fds, 1);
    /* Let the loop run: the bytes stay for the new owner. */
    for (int i = 0; i < 5; i++)
        tu_run_once(c->fx.s, 5);
    assert_int_equal(c->datas, 0);
    assert_int_equal(c->closes, 0);
    assert_int_equal(uds_server_conn_count(c->fx.s), 0);
    int fd = c->fds[0];
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "ping", 4);
    /* Still connected both ways through the detached fd. */
    assert_int_equal(send(fd, "pong", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(recv(cl, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "pong", 4);
}

static void detached_fd_closed_by_owner_ends_the_stream(void **state) {
    struct ctx *c = *state;
    char buf[4];

    c->detach = true;
    start(c);
    int cl = tu_client(&c->fx, UDS_STREAM);
    SPIN_UNTIL(c, c->n_fds == 1);
    assert_int_equal(c->n_fds, 1);
    close(c->fds[0]);
    c->n_fds = 0;
    assert_int_equal(recv(cl, buf, sizeof(buf), 0), 0);
    /* A new connection may get the same fd number: the server serves it normally. */
    c->detach = false;
    int cl2 = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(cl2, "hi", 2, MSG_NOSIGNAL), 2);
    SPIN_UNTIL(c, c->datas == 1);
    assert_int_equal(recv(cl2, buf, sizeof(buf), 0), 2);
}

/* A byte stream delivers all of a read in on_data: detaching from there hands over no input
 * (the server keeps no message state for it), and what comes next is the new owner's. */
static void detach_input_of_a_byte_stream_hands_over_nothing_already_delivered(void **state) {
    struct ctx *c = *state;
    char buf[16];

    c->detach_in_data = true;
    start(c);
    int cl = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(cl, "first", 5, MSG_NOSIGNAL), 5);
    SPIN_UNTIL(c, c->n_fds == 1);
    assert_int_equal(c->n_fds, 1);
    assert_int_equal(c->datas, 1);
    assert_null(c->input);
    assert_int_equal(c->input_len, 0);
    assert_int_equal(send(cl, "second", 6, MSG_NOSIGNAL), 6);
    for (int i = 0; i < 5; i++)
        tu_run_once(c->fx.s, 5);
    assert_int_equal(c->datas, 1);
    assert_int_equal(recv(c->fds[0], buf, sizeof(buf), 0), 6);
    assert_memory_equal(buf, "second", 6);
}

static void detach_null_is_einval(void **state) {
    (void) state;
    assert_int_equal(uds_conn_detach(NULL), -1);
    assert_int_equal(errno, EINVAL);
    uds_server_pause(NULL, true);   /* no effect, no crash */
}

static void pause_leaves_clients_in_the_backlog_until_resumed(void **state) {
    struct ctx *c = *state;

    c->pause_in_open = true;
    start(c);
    tu_client(&c->fx, UDS_STREAM);
    tu_client(&c->fx, UDS_STREAM);
    tu_client(&c->fx, UDS_STREAM);
    SPIN_UNTIL(c, c->opens >= 1);
    for (int i = 0; i < 10; i++)
        tu_run_once(c->fx.s, 5);
    /* Paused inside the first on_open: the batch stopped there. */
    assert_int_equal(c->opens, 1);
    c->pause_in_open = false;
    uds_server_pause(c->fx.s, false);
    SPIN_UNTIL(c, c->opens == 3);
    assert_int_equal(c->opens, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(detach_hands_over_an_open_fd_the_server_never_reads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(detached_fd_closed_by_owner_ends_the_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            detach_input_of_a_byte_stream_hands_over_nothing_already_delivered, setup, teardown),
        cmocka_unit_test(detach_null_is_einval),
        cmocka_unit_test_setup_teardown(pause_leaves_clients_in_the_backlog_until_resumed,
                                        setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
