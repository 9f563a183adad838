/* SPDX-License-Identifier: MIT */
/* test_io.c — whole-buffer send/recv over real socketpairs: partial transfers, EINTR,
 * non-blocking fds, EOF and a vanished peer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define BIG (4u << 20) /* far more than a socket buffer holds: forces partial sends */

struct pump {
    int fd;
    size_t len;
    unsigned char *buf;
    ssize_t result;
};

static void *reader(void *arg) {
    struct pump *p = arg;
    p->result = uds_recv_all(p->fd, p->buf, p->len);
    return NULL;
}

static void fill_pattern(unsigned char *buf, size_t len) {
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char) (i * 31u + (i >> 13));
}

/* uds_send_all of BIG bytes on a pair of type (blocking or not), read by a thread. */
static void expect_big_buffer_moves(int type) {
    int sv[2];
    unsigned char *out = malloc(BIG), *in = calloc(1, BIG);
    pthread_t t;
    assert_non_null(out);
    assert_non_null(in);
    fill_pattern(out, BIG);
    tu_socketpair(type, sv);
    struct pump p = { .fd = sv[1], .len = BIG, .buf = in };
    assert_int_equal(pthread_create(&t, NULL, reader, &p), 0);
    assert_int_equal(uds_send_all(sv[0], out, BIG), (ssize_t) BIG);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.result, (ssize_t) BIG);
    assert_memory_equal(in, out, BIG);
    tu_close_pair(sv);
    free(out);
    free(in);
}

static void io_send_all_moves_a_buffer_larger_than_the_socket(void **state) {
    (void) state;
    expect_big_buffer_moves(SOCK_STREAM);
}

static void io_send_all_waits_on_a_nonblocking_fd(void **state) {
    (void) state;
    expect_big_buffer_moves(SOCK_STREAM | SOCK_NONBLOCK);
}

static void io_recv_all_returns_short_count_at_eof(void **state) {
    int sv[2];
    char buf[16];
    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_send_all(sv[0], "abc", 3), 3);
    assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
    assert_int_equal(uds_recv_all(sv[1], buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(uds_recv_all(sv[1], buf, sizeof(buf)), 0);
    tu_close_pair(sv);
}

static void on_alarm(int sig) {
    (void) sig;
}

struct delayed {
    int fd;
};

static void *send_later(void *arg) {
    struct delayed *d = arg;
    usleep(150 * 1000);
    (void) uds_send_all(d->fd, "late", 4);
    return NULL;
}

static void io_recv_all_survives_eintr(void **state) {
    struct sigaction sa = { .sa_handler = on_alarm }, old;
    struct itimerval it = { .it_value = { .tv_usec = 50 * 1000 } }, off = { 0 };
    int sv[2];
    char buf[4];
    pthread_t t;
    (void) state;
    /* No SA_RESTART: the signal interrupts recv() with EINTR, which must be retried. */
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    tu_socketpair(SOCK_STREAM, sv);
    struct delayed d = { .fd = sv[0] };
    assert_int_equal(pthread_create(&t, NULL, send_later, &d), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    assert_int_equal(uds_recv_all(sv[1], buf, 4), 4);
    assert_memory_equal(buf, "late", 4);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
    alarm(60); /* setitimer replaced the suite's hang guard: put it back */
    tu_close_pair(sv);
}

static void io_send_to_closed_peer_is_epipe_without_sigpipe(void **state) {
    int sv[2];
    (void) state;
    /* SIGPIPE stays at its default (fatal) action: MSG_NOSIGNAL is what keeps us alive. */
    assert_true(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    tu_socketpair(SOCK_STREAM, sv);
    close(sv[1]);
    errno = 0;
    assert_int_equal(uds_send_all(sv[0], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(sv[0]);
}

static void io_set_nonblock_toggles_the_flag(void **state) {
    int sv[2];
    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_set_nonblock(sv[0], true), 0);
    assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(uds_set_nonblock(sv[0], false), 0);
    assert_false(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    errno = 0;
    assert_int_equal(uds_set_nonblock(-1, true), -1);
    assert_int_equal(errno, EBADF);
    tu_close_pair(sv);
}

static void io_zero_length_is_a_no_op(void **state) {
    int sv[2];
    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_send_all(sv[0], NULL, 0), 0);
    assert_int_equal(uds_recv_all(sv[1], NULL, 0), 0);
    tu_close_pair(sv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(io_send_all_moves_a_buffer_larger_than_the_socket),
        cmocka_unit_test(io_send_all_waits_on_a_nonblocking_fd),
        cmocka_unit_test(io_recv_all_returns_short_count_at_eof),
        cmocka_unit_test(io_recv_all_survives_eintr),
        cmocka_unit_test(io_send_to_closed_peer_is_epipe_without_sigpipe),
        cmocka_unit_test(io_set_nonblock_toggles_the_flag),
        cmocka_unit_test(io_zero_length_is_a_no_op),
    };
    alarm(60);
    return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
