/* SPDX-License-Identifier: MIT */
/* test_dgram_recv.c — uds_dgram_recv() over real dgram sockets in a temporary directory:
 * the bytes, the real length of a datagram cut to the buffer, the sender's address and
 * credentials, passed fds closed unless asked for (and then close-on-exec), a flood of them,
 * nothing waiting, and bad arguments. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

/* The receiving side, bound at the fixture's path, with credentials asked for. */
static int receiver(const struct tu_fixture *f) {
    int fd = tu_bind_unix(f->path, SOCK_DGRAM, -1);
    int on = 1;

    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
    return fd;
}

/* A sender bound to name in the fixture's directory (NULL: unbound). */
static int sender(const struct tu_fixture *f, const char *name) {
    if (name)
        return tu_bind_unix(tu_path(f->dir, name), SOCK_DGRAM, -1);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    return fd;
}

static void send_to(int fd, const char *path, const void *buf, size_t len, int pass_fd) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
    struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov,
                         .msg_iovlen = 1 };

    strcpy(sa.sun_path, path);
    if (pass_fd >= 0) {
        mh.msg_control = control.bytes;
        mh.msg_controllen = sizeof(control.bytes);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t) len);
}

static void dgram_recv_gives_bytes_sender_and_credentials(void **state) {
    struct tu_fixture *f = *state;
    int r = receiver(f), s = sender(f, "sender.sock");
    struct uds_datagram dg;
    char buf[16];

    send_to(s, f->path, "hello", 5, -1);
    assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), UDS_DGRAM_DONTWAIT, &dg), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(dg.len, 5);
    assert_int_equal(dg.full_len, 5);
    assert_string_equal(dg.from.sun_path, tu_path(f->dir, "sender.sock"));
    assert_true(dg.has_cred);
    assert_int_equal(dg.cred.pid, getpid());
    assert_int_equal(dg.cred.uid, geteuid());
    assert_int_equal(dg.cred.gid, getegid());
    assert_int_equal(dg.cred.pidfd, -1);
    assert_null(dg.cred.groups);
    assert_int_equal(dg.n_fds, 0);
    assert_false(dg.fds_cut);
    close(s);
    close(r);
}

/* Without SO_PASSCRED on the receiver no credentials come; an unbound sender has no
 * address to give. */
static void dgram_recv_tells_a_datagram_cut_to_the_buffer(void **state) {
    struct tu_fixture *f = *state;
    int r = tu_bind_unix(f->path, SOCK_DGRAM, -1), s = sender(f, NULL);
    struct uds_datagram dg;
    char buf[4];

    send_to(s, f->path, "0123456789", 10, -1);
    assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), 0, &dg), 4);
    assert_memory_equal(buf, "0123", 4);
    assert_int_equal(dg.full_len, 10);
    assert_false(dg.has_cred);
    assert_true(dg.from_len <= offsetof(struct sockaddr_un, sun_path));
    /* The rest of a cut datagram is gone: the next receive finds nothing. */
    assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), UDS_DGRAM_DONTWAIT, &dg), -1);
    assert_int_equal(errno, EAGAIN);
    close(s);
    close(r);
}

static void dgram_recv_empty_datagram_is_zero_bytes(void **state) {
    struct tu_fixture *f = *state;
    int r = receiver(f), s = sender(f, NULL);
    struct uds_datagram dg;
    char buf[4];

    send_to(s, f->path, "", 0, -1);
    assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), UDS_DGRAM_DONTWAIT, &dg), 0);
    assert_int_equal(dg.full_len, 0);
    assert_true(dg.has_cred);
    close(s);
    close(r);
}

/* A pipe whose write end is passed and then closed here: the read end sees its end of file
 * only once every copy of the write end, the received one included, is closed. */
static void dgram_recv_closes_passed_fds_unless_kept(void **state) {
    struct tu_fixture *f = *state;
    int r = receiver(f), s = sender(f, NULL);
    struct uds_datagram dg;
    int p[2];
    char buf[4];

    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    send_to(s, f->path, "x", 1, p[1]);
    close(p[1]);
    assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), 0, &dg), 1);
    assert_int_equal(dg.n_fds, 0);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 0);     /* closed by the call */
    close(p[0]);

    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    send_to(s, f->path, "y", 1, p[1]);
    close(p[1]);
    assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), UDS_DGRAM_KEEP_FDS, &dg), 1);
    assert_int_equal(dg.n_fds, 1);
    assert_true(fcntl(dg.fds[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(dg.fds[0], "ok", 2), 2);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "ok", 2);
    close(dg.fds[0]);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 0);
    close(p[0]);
    close(s);
    close(r);
}

/* A hostile sender slips the most fds the kernel takes (253) into each of many datagrams:
 * every one is closed as it arrives, so the receiver's fd table never fills (the fixture
 * checks at the end that no fd was left open). */
static void dgram_recv_survives_a_flood_of_passed_fds(void **state) {
    struct tu_fixture *f = *state;
    int r = receiver(f), s = sender(f, NULL);
    int fds[UDS_MAX_FDS];
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(fds))];
    } control;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct iovec iov = { .iov_base = "x", .iov_len = 1 };
    struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov,
                         .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof(control.bytes) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    struct uds_datagram dg;
    char buf[4];

    strcpy(sa.sun_path, f->path);
    for (size_t i = 0; i < UDS_MAX_FDS; i++)
        fds[i] = s;     /* the same socket, 253 times: the receiver gets 253 new fds */
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    /* 40 × 253 fds: far over the 1024 a default limit allows, were any kept. */
    for (int round = 0; round < 40; round++) {
        assert_int_equal(sendmsg(s, &mh, MSG_NOSIGNAL), 1);
        assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), UDS_DGRAM_DONTWAIT, &dg), 1);
        assert_int_equal(dg.n_fds, 0);
        assert_false(dg.fds_cut);
    }
    close(s);
    close(r);
}

static void dgram_recv_bad_arguments_einval(void **state) {
    struct tu_fixture *f = *state;
    int r = receiver(f);
    struct uds_datagram dg;
    char buf[4];

    assert_int_equal(uds_dgram_recv(-1, buf, sizeof(buf), 0, &dg), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), 0, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dgram_recv(r, NULL, 4, 0, &dg), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dgram_recv(r, buf, sizeof(buf), 0x80, &dg), -1);
    assert_int_equal(errno, EINVAL);
    close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(dgram_recv_gives_bytes_sender_and_credentials),
        T(dgram_recv_tells_a_datagram_cut_to_the_buffer),
        T(dgram_recv_empty_datagram_is_zero_bytes),
        T(dgram_recv_closes_passed_fds_unless_kept),
        T(dgram_recv_survives_a_flood_of_passed_fds),
        T(dgram_recv_bad_arguments_einval),
#undef T
    };

    return cmocka_run_group_tests_name("dgram_recv", tests, NULL, NULL);
}
