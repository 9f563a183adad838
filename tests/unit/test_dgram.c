/* SPDX-License-Identifier: MIT */
/* test_dgram.c — uds_dgram_reply() over real dgram sockets in a temporary directory: an
 * honest sender gets its answer; a sender whose path became a symlink, whose socket file
 * belongs to someone else, or whose directory was swapped for a symlink gets none, and the
 * socket its path now leads to receives nothing; an abstract sender's answer speaks with
 * the sender's uid/gid. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define NOBODY 65534

/* The sender as SCM_CREDENTIALS would describe this process. */
static struct uds_peer me(void) {
    return (struct uds_peer) { .pid = getpid(), .uid = geteuid(), .gid = getegid(), .pidfd = -1 };
}

/* The server's side: an unbound dgram socket is enough to answer from. */
static int server_socket(void) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    return fd;
}

/* The address fd is bound to, as recvmsg() would report it to a server. */
static socklen_t bound_address(int fd, struct sockaddr_un *ret_sa) {
    socklen_t len = sizeof(*ret_sa);

    assert_int_equal(getsockname(fd, (struct sockaddr *) ret_sa, &len), 0);
    return len;
}

/* A datagram waiting on fd, or -1/EAGAIN when none is. */
static ssize_t take(int fd, char *buf, size_t size) {
    return recv(fd, buf, size, MSG_DONTWAIT);
}

static void assert_nothing_waiting(int fd) {
    char buf[16];

    assert_int_equal(take(fd, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EAGAIN);
}

static void dgram_reply_to_honest_path_sender_arrives(void **state) {
    struct tu_fixture *f = *state;
    struct uds_peer sender = me();
    struct sockaddr_un to;
    int srv = server_socket(), c = tu_bind_unix(f->path, SOCK_DGRAM, -1);
    socklen_t len = bound_address(c, &to);
    char buf[16];

    assert_int_equal(uds_dgram_reply(srv, "hello", 5, 0, &to, len, &sender), 5);
    assert_int_equal(take(c, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    close(c);
    close(srv);
}

static void dgram_reply_path_turned_symlink_eloop(void **state) {
    struct tu_fixture *f = *state;
    struct uds_peer sender = me();
    struct sockaddr_un to;
    const char *victim_path = tu_path(f->dir, "victim.sock");
    int srv = server_socket(), victim = tu_bind_unix(victim_path, SOCK_DGRAM, -1);
    int c = tu_bind_unix(f->path, SOCK_DGRAM, -1);
    socklen_t len = bound_address(c, &to);

    /* The sender keeps its bound name; the name now leads to the victim. */
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(symlink(victim_path, f->path), 0);
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, len, &sender), -1);
    assert_int_equal(errno, ELOOP);
    assert_nothing_waiting(victim);
    assert_nothing_waiting(c);
    close(c);
    close(victim);
    close(srv);
}

static void dgram_reply_socket_of_another_uid_eperm(void **state) {
    struct tu_fixture *f = *state;
    struct uds_peer sender = me();
    struct sockaddr_un to;
    int srv = server_socket(), c = tu_bind_unix(f->path, SOCK_DGRAM, -1);
    socklen_t len = bound_address(c, &to);

    /* The datagram claims to come from another uid than the file's owner (ours). */
    sender.uid = geteuid() + 1;
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, len, &sender), -1);
    assert_int_equal(errno, EPERM);
    assert_nothing_waiting(c);
    close(c);
    close(srv);
}

static void dgram_reply_directory_swapped_for_symlink_eperm(void **state) {
    struct tu_fixture *f = *state;
    struct uds_peer sender = { .pid = getpid(), .uid = NOBODY, .gid = NOBODY, .pidfd = -1 };
    struct sockaddr_un to;
    char buf[16];
    int srv, victim, c;
    socklen_t len;

    /* Files owned by another uid than ours: only root can make them. */
    if (geteuid() != 0)
        skip();
    srv = server_socket();
    assert_int_equal(mkdir(tu_path(f->dir, "victim"), 0700), 0);
    victim = tu_bind_unix(tu_path(f->dir, "victim/v.sock"), SOCK_DGRAM, -1);
    assert_int_equal(mkdir(tu_path(f->dir, "sub"), 0755), 0);
    c = tu_bind_unix(tu_path(f->dir, "sub/v.sock"), SOCK_DGRAM, -1);
    assert_int_equal(chown(tu_path(f->dir, "sub/v.sock"), NOBODY, NOBODY), 0);
    len = bound_address(c, &to);
    /* Before the swap: the sender's own socket, answered. */
    assert_int_equal(uds_dgram_reply(srv, "mine", 4, 0, &to, len, &sender), 4);
    assert_int_equal(take(c, buf, sizeof(buf)), 4);

    assert_int_equal(rename(tu_path(f->dir, "sub"), tu_path(f->dir, "sub.old")), 0);
    assert_int_equal(symlink(tu_path(f->dir, "victim"), tu_path(f->dir, "sub")), 0);
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, len, &sender), -1);
    assert_int_equal(errno, EPERM);
    assert_nothing_waiting(victim);
    close(c);
    close(victim);
    close(srv);
}

static void dgram_reply_path_not_a_socket_enotsock(void **state) {
    struct tu_fixture *f = *state;
    struct uds_peer sender = me();
    struct sockaddr_un to;
    int srv = server_socket(), c = tu_bind_unix(f->path, SOCK_DGRAM, -1);
    socklen_t len = bound_address(c, &to);
    FILE *file;

    assert_int_equal(unlink(f->path), 0);
    file = fopen(f->path, "w");
    assert_non_null(file);
    fclose(file);
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, len, &sender), -1);
    assert_int_equal(errno, ENOTSOCK);
    close(c);
    close(srv);
}

static void dgram_reply_path_gone_enoent(void **state) {
    struct tu_fixture *f = *state;
    struct uds_peer sender = me();
    struct sockaddr_un to;
    int srv = server_socket(), c = tu_bind_unix(f->path, SOCK_DGRAM, -1);
    socklen_t len = bound_address(c, &to);

    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, len, &sender), -1);
    assert_int_equal(errno, ENOENT);
    close(c);
    close(srv);
}

static void dgram_reply_unbound_sender_edestaddrreq(void **state) {
    struct uds_peer sender = me();
    struct sockaddr_un to = { .sun_family = AF_UNIX };
    int srv = server_socket();
    (void) state;

    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, sizeof(sa_family_t), &sender), -1);
    assert_int_equal(errno, EDESTADDRREQ);
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, 0, &sender), -1);
    assert_int_equal(errno, EDESTADDRREQ);
    close(srv);
}

static void dgram_reply_bad_arguments_einval(void **state) {
    struct tu_fixture *f = *state;
    struct uds_peer sender = me();
    struct sockaddr_un to, inet = { .sun_family = AF_INET };
    int srv = server_socket(), c = tu_bind_unix(f->path, SOCK_DGRAM, -1);
    socklen_t len = bound_address(c, &to);

    /* No credentials: no answer, whatever the address. */
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, len, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dgram_reply(-1, "x", 1, 0, &to, len, &sender), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, NULL, len, &sender), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dgram_reply(srv, NULL, 1, 0, &to, len, &sender), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &inet, len, &sender), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dgram_reply(srv, "x", 1, 0, &to, sizeof(to) + 1, &sender), -1);
    assert_int_equal(errno, EINVAL);
    assert_nothing_waiting(c);
    close(c);
    close(srv);
}

/* The uid and gid of the SCM_CREDENTIALS that came with one datagram on fd. */
static void received_ids(int fd, const char *want, uid_t *ret_uid, gid_t *ret_gid) {
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    char buf[16] = { 0 };
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
        .msg_controllen = sizeof(ctl.buf),
    };
    struct cmsghdr *c;
    struct ucred cred;

    assert_int_equal(recvmsg(fd, &mh, MSG_DONTWAIT), (ssize_t) strlen(want));
    assert_string_equal(buf, want);
    c = CMSG_FIRSTHDR(&mh);
    assert_non_null(c);
    assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
    memcpy(&cred, CMSG_DATA(c), sizeof(cred));
    assert_int_equal(cred.pid, getpid());
    *ret_uid = cred.uid;
    *ret_gid = cred.gid;
}

/* An abstract receiver with SO_PASSCRED, and its address. */
static int abstract_receiver(struct sockaddr_un *ret_to, socklen_t *ret_len) {
    char name[64];
    int on = 1, fd;

    snprintf(name, sizeof(name), "@udskit-test-dgram-%d", (int) getpid());
    fd = tu_bind_unix(name, SOCK_DGRAM, -1);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
    *ret_len = bound_address(fd, ret_to);
    return fd;
}

static void dgram_reply_abstract_speaks_with_the_senders_ids(void **state) {
    struct uds_peer sender = { .pid = getpid(), .uid = NOBODY, .gid = NOBODY, .pidfd = -1 };
    struct sockaddr_un to;
    socklen_t len;
    int srv, c;
    uid_t uid;
    gid_t gid;
    (void) state;

    /* Other ids than ours need CAP_SETUID/CAP_SETGID. */
    if (geteuid() != 0)
        skip();
    srv = server_socket();
    c = abstract_receiver(&to, &len);
    assert_int_equal(uds_dgram_reply(srv, "abs", 3, 0, &to, len, &sender), 3);
    received_ids(c, "abs", &uid, &gid);
    assert_int_equal(uid, NOBODY);
    assert_int_equal(gid, NOBODY);
    close(c);
    close(srv);
}

/* In a child dropped to nobody: 0 when a reply to an abstract sender that claims root
 * still goes out, under nobody's own ids (the kernel refuses to let it claim others). */
static int unprivileged_abstract_reply(void *arg) {
    struct uds_peer sender = { .pid = getpid(), .uid = 0, .gid = 0, .pidfd = -1 };
    struct sockaddr_un to;
    socklen_t len = sizeof(to);
    char name[64];
    int on = 1, srv = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int c = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    char buf[16];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
        .msg_controllen = sizeof(ctl.buf),
    };
    struct ucred cred;
    (void) arg;

    snprintf(name, sizeof(name), "%cudskit-test-dgram-nobody-%d", '\0', (int) getpid());
    to.sun_family = AF_UNIX;
    memcpy(to.sun_path, name, sizeof(name));
    len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name + 1));
    if (srv < 0 || c < 0 || bind(c, (struct sockaddr *) &to, len) < 0 ||
        setsockopt(c, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
        return 1;
    if (uds_dgram_reply(srv, "me", 2, 0, &to, len, &sender) != 2)
        return 2;
    if (recvmsg(c, &mh, MSG_DONTWAIT) != 2 || !CMSG_FIRSTHDR(&mh))
        return 3;
    memcpy(&cred, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(cred));
    return cred.uid == NOBODY && cred.gid == NOBODY ? 0 : 4;
}

static void dgram_reply_abstract_unprivileged_answers_as_itself(void **state) {
    (void) state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(tu_run_as_nobody(unprivileged_abstract_reply, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(dgram_reply_to_honest_path_sender_arrives),
        T(dgram_reply_path_turned_symlink_eloop),
        T(dgram_reply_socket_of_another_uid_eperm),
        T(dgram_reply_directory_swapped_for_symlink_eperm),
        T(dgram_reply_path_not_a_socket_enotsock),
        T(dgram_reply_path_gone_enoent),
        T(dgram_reply_unbound_sender_edestaddrreq),
        T(dgram_reply_bad_arguments_einval),
        T(dgram_reply_abstract_speaks_with_the_senders_ids),
        T(dgram_reply_abstract_unprivileged_answers_as_itself),
#undef T
    };

    return cmocka_run_group_tests_name("dgram", tests, NULL, NULL);
}
