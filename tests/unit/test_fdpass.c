/* SPDX-License-Identifier: MIT */
/* test_fdpass.c — SCM_RIGHTS over real socketpairs: fds arrive close-on-exec, stay tied to
 * their message, and are never leaked on any failure path (the process's open fds are
 * counted before and after). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

static void fdpass_received_fd_works_and_is_cloexec(void **state) {
    struct tu_pair_fixture *f = *state;
    int p[2], got = -1;
    size_t n_got = 0;
    char buf[8];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(uds_send_fds(f->sv[0], "F", 1, &p[1], 1), 1);
    close(p[1]);
    assert_int_equal(uds_recv_fds(f->sv[1], buf, sizeof(buf), &got, 1, &n_got), 1);
    assert_int_equal(n_got, 1);
    assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(got, "via fd", 6), 6);
    close(got);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "via fd", 6);
    close(p[0]);
}

static void fdpass_253_fds_in_one_message(void **state) {
    struct tu_pair_fixture *f = *state;
    int fds[UDS_MAX_FDS], got[UDS_MAX_FDS];
    size_t n_got = 0;
    char c;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < UDS_MAX_FDS; i++)
        fds[i] = devnull;
    assert_int_equal(uds_send_fds(f->sv[0], "x", 1, fds, UDS_MAX_FDS), 1);
    close(devnull);
    assert_int_equal(uds_recv_fds(f->sv[1], &c, 1, got, UDS_MAX_FDS, &n_got), 1);
    assert_int_equal(n_got, UDS_MAX_FDS);
    for (int i = 0; i < UDS_MAX_FDS; i++) {
        assert_true(got[i] >= 0);
        close(got[i]);
    }
}

static void fdpass_more_fds_than_allowed_closes_all_and_fails(void **state) {
    struct tu_pair_fixture *f = *state;
    int fds[5], got[2] = { -1, -1 };
    size_t n_got = 99;
    char c;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 5; i++)
        fds[i] = devnull;
    assert_int_equal(uds_send_fds(f->sv[0], "x", 1, fds, 5), 1);
    close(devnull);
    errno = 0;
    assert_int_equal(uds_recv_fds(f->sv[1], &c, 1, got, 2, &n_got), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(n_got, 99); /* ret_ untouched on failure */
}

static void fdpass_ctrunc_closes_every_fd_that_arrived(void **state) {
    struct tu_pair_fixture *f = *state;
    int fds[UDS_MAX_FDS], got[1];
    size_t n_got = 0;
    char c;
    /* 253 fds against room for 1 (+1): the kernel truncates the control data. */
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < UDS_MAX_FDS; i++)
        fds[i] = devnull;
    assert_int_equal(uds_send_fds(f->sv[0], "x", 1, fds, UDS_MAX_FDS), 1);
    close(devnull);
    errno = 0;
    assert_int_equal(uds_recv_fds(f->sv[1], &c, 1, got, 1, &n_got), -1);
    assert_int_equal(errno, EMSGSIZE);
}

static void fdpass_fds_where_none_are_allowed_fail(void **state) {
    struct tu_pair_fixture *f = *state;
    size_t n_got = 0;
    char c;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_int_equal(uds_send_fds(f->sv[0], "x", 1, &devnull, 1), 1);
    close(devnull);
    errno = 0;
    assert_int_equal(uds_recv_fds(f->sv[1], &c, 1, NULL, 0, &n_got), -1);
    assert_int_equal(errno, EMSGSIZE);
}

static void fdpass_plain_bytes_have_no_fds(void **state) {
    struct tu_pair_fixture *f = *state;
    int got[4];
    size_t n_got = 9;
    char buf[8];
    assert_int_equal(uds_send_all(f->sv[0], "plain", 5), 5);
    assert_int_equal(uds_recv_fds(f->sv[1], buf, sizeof(buf), got, 4, &n_got), 5);
    assert_int_equal(n_got, 0);
}

static void fdpass_too_many_fds_to_send_is_einval(void **state) {
    struct tu_pair_fixture *f = *state;
    int fds[UDS_MAX_FDS + 1] = { 0 };
    errno = 0;
    assert_int_equal(uds_send_fds(f->sv[0], "x", 1, fds, UDS_MAX_FDS + 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_send_fds(f->sv[0], "", 0, fds, 1), -1);
}

static void fdpass_fds_stay_with_their_frame(void **state) {
    struct tu_pair_fixture *f = *state;
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int b = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ino_t ino_a = tu_fd_inode(a), ino_b = tu_fd_inode(b);
    void *buf;
    size_t len, n_got;
    int got[4];
    /* Two framed messages back to back, each with its own fd, plus one with none. */
    assert_int_equal(uds_frame_send_fds(f->sv[0], "first", 5, &a, 1), 0);
    assert_int_equal(uds_frame_send_fds(f->sv[0], "none", 4, NULL, 0), 0);
    assert_int_equal(uds_frame_send_fds(f->sv[0], "second", 6, &b, 1), 0);
    close(a);
    close(b);

    assert_int_equal(uds_frame_recv_fds(f->sv[1], 0, &buf, &len, got, 4, &n_got), 1);
    assert_string_equal(buf, "first");
    assert_int_equal(n_got, 1);
    assert_int_equal(tu_fd_inode(got[0]), ino_a);
    close(got[0]);
    free(buf);

    assert_int_equal(uds_frame_recv_fds(f->sv[1], 0, &buf, &len, got, 4, &n_got), 1);
    assert_string_equal(buf, "none");
    assert_int_equal(n_got, 0);
    free(buf);

    assert_int_equal(uds_frame_recv_fds(f->sv[1], 0, &buf, &len, got, 4, &n_got), 1);
    assert_string_equal(buf, "second");
    assert_int_equal(n_got, 1);
    assert_int_equal(tu_fd_inode(got[0]), ino_b);
    close(got[0]);
    free(buf);
}

static void fdpass_fds_inside_a_payload_are_a_protocol_error(void **state) {
    struct tu_pair_fixture *f = *state;
    uint8_t h[4];
    void *buf = NULL;
    size_t len, n_got;
    int got[4];
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    uds_frame_header(h, 3);
    assert_int_equal(uds_send_all(f->sv[0], h, 4), 4);
    assert_int_equal(uds_send_fds(f->sv[0], "abc", 3, &devnull, 1), 3);
    close(devnull);
    errno = 0;
    assert_int_equal(uds_frame_recv_fds(f->sv[1], 0, &buf, &len, got, 4, &n_got), -1);
    assert_int_equal(errno, EPROTO);
    assert_null(buf);
}

static void fdpass_oversize_frame_with_fds_closes_them(void **state) {
    struct tu_pair_fixture *f = *state;
    void *buf = NULL;
    size_t len, n_got;
    int got[4];
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_int_equal(uds_frame_send_fds(f->sv[0], "0123456789", 10, &devnull, 1), 0);
    close(devnull);
    errno = 0;
    assert_int_equal(uds_frame_recv_fds(f->sv[1], 5, &buf, &len, got, 4, &n_got), -1);
    assert_int_equal(errno, EMSGSIZE);
}

#define T(name) cmocka_unit_test_setup_teardown(name, tu_pair_setup, tu_pair_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(fdpass_received_fd_works_and_is_cloexec),
        T(fdpass_253_fds_in_one_message),
        T(fdpass_more_fds_than_allowed_closes_all_and_fails),
        T(fdpass_ctrunc_closes_every_fd_that_arrived),
        T(fdpass_fds_where_none_are_allowed_fail),
        T(fdpass_plain_bytes_have_no_fds),
        T(fdpass_too_many_fds_to_send_is_einval),
        T(fdpass_fds_stay_with_their_frame),
        T(fdpass_fds_inside_a_payload_are_a_protocol_error),
        T(fdpass_oversize_frame_with_fds_closes_them),
    };
    alarm(60);
    return cmocka_run_group_tests_name("fdpass", tests, NULL, NULL);
}
