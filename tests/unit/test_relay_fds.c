/* SPDX-License-Identifier: MIT */
/*
 * test_relay_fds.c — unit tests of UDS_RELAY_PASS_FDS: fds passed (SCM_RIGHTS) by either
 * side of a relay between two Unix sockets arrive on the other side with the bytes they came
 * with and are usable there; a seqpacket message keeps its fds and its boundary; without the
 * flag they are closed on arrival as before; the relay leaks none of them; and the flag is
 * refused together with fds_to_pass. The relay runs on a uds_loop in the test's thread; the
 * test plays both outer peers over socket pairs.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

struct fix {
    struct uds_loop *loop;
    struct uds_relay_group *group;
    struct uds_relay *relay;
    int closes;
    int a_peer, b_peer;     /* the test's ends */
    int fds_before;
};

static int setup(void **state) {
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    signal(SIGPIPE, SIG_IGN);
    f->fds_before = tu_count_open_fds();
    f->loop = uds_loop_new();
    assert_non_null(f->loop);
    f->group = uds_relay_group_new(f->loop, NULL);
    assert_non_null(f->group);
    f->a_peer = f->b_peer = -1;
    alarm(20);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fix *f = *state;

    uds_relay_group_free(f->group);
    uds_loop_free(f->loop);
    if (f->a_peer >= 0)
        close(f->a_peer);
    if (f->b_peer >= 0)
        close(f->b_peer);
    assert_int_equal(tu_count_open_fds(), f->fds_before);
    free(f);
    alarm(0);
    return 0;
}

static void on_close(struct uds_relay *relay, const struct uds_relay_info *info, void *data) {
    struct fix *f = data;

    (void) relay;
    (void) info;
    f->closes++;
    f->relay = NULL;
}

static void start(struct fix *f, int type, unsigned flags) {
    int a[2], b[2];

    tu_socketpair(type | SOCK_NONBLOCK, a);
    tu_socketpair(type | SOCK_NONBLOCK, b);
    f->a_peer = a[0];
    f->b_peer = b[0];
    struct uds_relay_args args = { .fd_a_in = a[1], .fd_a_out = a[1], .fd_b = b[1],
                                   .flags = flags };
    f->relay = uds_relay_new2(f->group, &args, on_close, f);
    assert_non_null(f->relay);
}

/* Send len bytes with one fd on fd (blocking enough: a fresh socket has room). */
static void send_with_fd(int fd, const char *buf, size_t len, int pass) {
    assert_int_equal(uds_send_fds(fd, buf, len, &pass, 1), (ssize_t) len);
}

/* One recvmsg of what is waiting on fd, driving the loop until something is: the bytes and
 * the fds that came with them. Returns the byte count. */
static ssize_t take(struct fix *f, int fd, char *buf, size_t len, int *fds, size_t *n_fds) {
    for (int i = 0; i < 2000; i++) {
        assert_true(uds_loop_run_once(f->loop, 5) >= 0);
        char control[CMSG_SPACE(8 * sizeof(int))];
        struct iovec iov = { buf, len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                              .msg_controllen = sizeof(control) };
        ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EAGAIN)
            continue;
        *n_fds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(fds + *n_fds, CMSG_DATA(c), k * sizeof(int));
            *n_fds += k;
        }
        return n;
    }
    fail_msg("nothing arrived");
    return -1;
}

/* A pipe's write end passed one way arrives usable: what is written to it comes out of the
 * test's read end. */
static void check_passes(struct fix *f, int from, int to) {
    int p[2], got[8];
    size_t n_got;
    char buf[64];

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    send_with_fd(from, "here", 4, p[1]);
    close(p[1]);
    assert_int_equal(take(f, to, buf, sizeof(buf), got, &n_got), 4);
    assert_memory_equal(buf, "here", 4);
    assert_int_equal(n_got, 1);
    assert_int_equal(write(got[0], "via", 3), 3);
    close(got[0]);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "via", 3);
    close(p[0]);
}

static void relay_fds_from_a_arrive_usable_at_b(void **state) {
    struct fix *f = *state;

    start(f, SOCK_STREAM, UDS_RELAY_PASS_FDS);
    check_passes(f, f->a_peer, f->b_peer);
}

static void relay_fds_from_b_arrive_usable_at_a(void **state) {
    struct fix *f = *state;

    start(f, SOCK_STREAM, UDS_RELAY_PASS_FDS);
    check_passes(f, f->b_peer, f->a_peer);
}

static void relay_fds_and_bytes_both_ways_many_times(void **state) {
    struct fix *f = *state;

    start(f, SOCK_STREAM, UDS_RELAY_PASS_FDS);
    for (int i = 0; i < 20; i++) {
        check_passes(f, f->a_peer, f->b_peer);
        check_passes(f, f->b_peer, f->a_peer);
    }
}

static void relay_seqpacket_message_keeps_its_fds_and_boundary(void **state) {
    struct fix *f = *state;
    int p[2], got[8];
    size_t n_got;
    char buf[64];

    start(f, SOCK_SEQPACKET, UDS_RELAY_PASS_FDS);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(send(f->a_peer, "one", 3, 0), 3);
    send_with_fd(f->a_peer, "two", 3, p[1]);
    assert_int_equal(send(f->a_peer, "three", 5, 0), 5);
    close(p[1]);
    assert_int_equal(take(f, f->b_peer, buf, sizeof(buf), got, &n_got), 3);
    assert_int_equal(n_got, 0);
    assert_int_equal(take(f, f->b_peer, buf, sizeof(buf), got, &n_got), 3);
    assert_memory_equal(buf, "two", 3);
    assert_int_equal(n_got, 1);
    close(got[0]);
    assert_int_equal(take(f, f->b_peer, buf, sizeof(buf), got, &n_got), 5);
    assert_int_equal(n_got, 0);
    close(p[0]);
}

static void relay_without_the_flag_fds_are_dropped_bytes_go_on(void **state) {
    struct fix *f = *state;
    int p[2], got[8];
    size_t n_got;
    char buf[64];

    start(f, SOCK_STREAM, 0);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    send_with_fd(f->a_peer, "here", 4, p[1]);
    close(p[1]);
    assert_int_equal(take(f, f->b_peer, buf, sizeof(buf), got, &n_got), 4);
    assert_int_equal(n_got, 0);
    /* The only write end left was the one in flight: dropped, the pipe reads its end. */
    assert_int_equal(read(p[0], buf, sizeof(buf)), 0);
    close(p[0]);
}

static void relay_fds_for_a_peer_gone_are_closed(void **state) {
    struct fix *f = *state;
    int p[2];
    char buf[8];

    start(f, SOCK_STREAM, UDS_RELAY_PASS_FDS);
    close(f->b_peer);
    f->b_peer = -1;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    send_with_fd(f->a_peer, "x", 1, p[1]);
    close(p[1]);
    for (int i = 0; i < 2000 && f->relay; i++)
        assert_true(uds_loop_run_once(f->loop, 5) >= 0);
    assert_null(f->relay);
    /* No copy of the write end is left anywhere: the pipe reads its end. */
    assert_int_equal(read(p[0], buf, sizeof(buf)), 0);
    close(p[0]);
}

static void relay_pass_fds_with_fds_to_pass_is_einval(void **state) {
    struct fix *f = *state;
    int a[2], b[2], one = 0;

    tu_socketpair(SOCK_STREAM, a);
    tu_socketpair(SOCK_STREAM, b);
    struct uds_relay_args args = { .fd_a_in = a[1], .fd_a_out = a[1], .fd_b = b[1],
                                   .flags = UDS_RELAY_PASS_FDS, .fds_to_pass = &one,
                                   .n_fds_to_pass = 1 };
    errno = 0;
    assert_null(uds_relay_new2(f->group, &args, on_close, f));
    assert_int_equal(errno, EINVAL);
    close(a[0]);    /* a[1] and b[1] were taken over, and closed on the failure */
    close(b[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(relay_fds_from_a_arrive_usable_at_b),
        T(relay_fds_from_b_arrive_usable_at_a),
        T(relay_fds_and_bytes_both_ways_many_times),
        T(relay_seqpacket_message_keeps_its_fds_and_boundary),
        T(relay_without_the_flag_fds_are_dropped_bytes_go_on),
        T(relay_fds_for_a_peer_gone_are_closed),
        T(relay_pass_fds_with_fds_to_pass_is_einval),
#undef T
    };

    return cmocka_run_group_tests_name("relay fds", tests, NULL, NULL);
}
