/* SPDX-License-Identifier: MIT */
/* test_activate.c — socket activation and readiness: real listening sockets dup2'ed to
 * fds 3.. in a forked child with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES set by hand (as
 * systemd-socket-activate sets them), and NOTIFY_SOCKET datagrams received on a dgram
 * socket this test binds (path, abstract, long path). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

/* NOTIFY_SOCKET is set by the tests that need it, and by nobody else. */
static int setup(void **state) {
    unsetenv("NOTIFY_SOCKET");
    return tu_fixture_setup(state);
}

static int teardown(void **state) {
    unsetenv("NOTIFY_SOCKET");
    return tu_fixture_teardown(state);
}

/* --- helpers: sockets in the parent, the activated side in a forked child ----------- */

static int unix_socket_at(const char *path, int type, bool listening) {
    return tu_bind_unix(path, type, listening ? 8 : -1);
}

/* In the child: checks report to stderr and exit 1; the parent asserts exit status 0. */
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: child check failed: %s (errno %d)\n", __FILE__, \
                    __LINE__, #cond, errno);                                          \
            _exit(1);                                                                 \
        }                                                                             \
    } while (0)

struct child {
    int fds[4];         /* become fds 3, 4, ...; -1 leaves that number closed */
    int n_fds;
    const char *listen_fds;     /* NULL: unset */
    const char *listen_names;   /* NULL: unset */
    const char *listen_pidfdid; /* NULL: unset */
    int pid_mode;               /* 0 our pid, 1 the parent's pid, 2 unset, 3 garbage */
    void (*body)(void);
};

/* Fork; in the child move the sockets to 3.. (dup2 clears FD_CLOEXEC, as a manager leaves
 * them), set the environment, and run body. */
static void run_activated(struct child *c) {
    pid_t pid = tu_fork();
    if (pid == 0) {
        int high[4];
        for (int i = 0; i < c->n_fds; i++)
            high[i] = c->fds[i] >= 0 ? fcntl(c->fds[i], F_DUPFD_CLOEXEC, 100) : -1;
        for (int i = 0; i < c->n_fds; i++) {
            if (high[i] >= 0)
                CHECK(dup2(high[i], 3 + i) == 3 + i);
            else
                (void) close(3 + i);
        }
        for (int i = 0; i < c->n_fds; i++)
            if (high[i] >= 0)
                close(high[i]);
        char pidbuf[32];
        switch (c->pid_mode) {
        case 0:
            snprintf(pidbuf, sizeof(pidbuf), "%d", (int) getpid());
            setenv("LISTEN_PID", pidbuf, 1);
            break;
        case 1:
            snprintf(pidbuf, sizeof(pidbuf), "%d", (int) getppid());
            setenv("LISTEN_PID", pidbuf, 1);
            break;
        case 2:
            unsetenv("LISTEN_PID");
            break;
        default:
            setenv("LISTEN_PID", "12ab", 1);
            break;
        }
        if (c->listen_fds)
            setenv("LISTEN_FDS", c->listen_fds, 1);
        else
            unsetenv("LISTEN_FDS");
        if (c->listen_names)
            setenv("LISTEN_FDNAMES", c->listen_names, 1);
        else
            unsetenv("LISTEN_FDNAMES");
        if (c->listen_pidfdid)
            setenv("LISTEN_PIDFDID", c->listen_pidfdid, 1);
        else
            unsetenv("LISTEN_PIDFDID");
        c->body();
        _exit(0);
    }
    assert_int_equal(tu_wait_child(pid), 0);
}

static void close_all(struct child *c) {
    for (int i = 0; i < c->n_fds; i++)
        if (c->fds[i] >= 0)
            close(c->fds[i]);
}

static bool cloexec(int fd) {
    return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

static bool env_clean(void) {
    return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES") &&
           !getenv("LISTEN_PIDFDID");
}

/* Three sockets: a stream listener on a path, a seqpacket listener on an abstract name, a
 * bound dgram socket. */
static void three_sockets(struct tu_fixture *fx, struct child *c) {
    char abstract[64];
    snprintf(abstract, sizeof(abstract), "@udskit-test-activate-%d", (int) getpid());
    c->fds[0] = unix_socket_at(tu_path(fx->dir, "web.sock"), SOCK_STREAM, true);
    c->fds[1] = unix_socket_at(abstract, SOCK_SEQPACKET, true);
    c->fds[2] = unix_socket_at(tu_path(fx->dir, "logs.sock"), SOCK_DGRAM, false);
    c->n_fds = 3;
}

/* Runs c with the three sockets, then closes them and removes their files. */
static void run_with_three_sockets(struct tu_fixture *fx, struct child *c) {
    three_sockets(fx, c);
    run_activated(c);
    close_all(c);
    unlink(tu_path(fx->dir, "web.sock"));
    unlink(tu_path(fx->dir, "logs.sock"));
}

/* --- LISTEN_FDS ---------------------------------------------------------------------- */

static void body_names_match_fds(void) {
    struct uds_activation a;
    struct uds_listener l;
    char expect[64];

    CHECK(uds_activation_get(0, &a) == 3);
    CHECK(a.n_fds == 3);
    for (int i = 0; i < 3; i++)
        CHECK(a.fds[i] == 3 + i);
    CHECK(strcmp(a.names[0], "web") == 0);
    CHECK(strcmp(a.names[1], "admin") == 0);
    CHECK(strcmp(a.names[2], "logs") == 0);
    CHECK(uds_activation_find(&a, "admin") == 4);
    CHECK(uds_activation_find(&a, "nope") == -1 && errno == ENOENT);
    CHECK(uds_activation_listener(&a, "admin", &l) == 4);
    CHECK(l.type == UDS_SEQPACKET && l.addr.kind == UDS_ADDR_ABSTRACT);
    snprintf(expect, sizeof(expect), "udskit-test-activate-%d", (int) getppid());
    CHECK(strcmp(l.addr.name, expect) == 0);
    CHECK(!l.owns_path);
    /* Taken once: its entry is gone. */
    CHECK(a.fds[1] == -1);
    CHECK(uds_activation_find(&a, "admin") == -1 && errno == ENOENT);
    CHECK(uds_unlisten(&l) == 0);
    CHECK(fcntl(4, F_GETFD) == -1 && errno == EBADF);
    CHECK(uds_activation_listener(&a, "logs", &l) == 5);
    CHECK(l.type == UDS_DGRAM && l.addr.kind == UDS_ADDR_PATH);
    CHECK(uds_unlisten(&l) == 0);
    uds_activation_done(&a);
    CHECK(a.n_fds == 0 && !a.names && !a.fds);
    uds_activation_done(&a);
}

static void activation_names_match_fds(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .listen_names = "web:admin:logs",
                       .body = body_names_match_fds };
    run_with_three_sockets(fx, &c);
}

static void body_unknown_names(void) {
    struct uds_activation a;
    CHECK(uds_activation_get(0, &a) == 3);
    for (int i = 0; i < 3; i++)
        CHECK(strcmp(a.names[i], "unknown") == 0);
    CHECK(uds_activation_find(&a, "unknown") == 3);
    uds_activation_done(&a);
}

static void activation_without_names_they_are_unknown(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .body = body_unknown_names };
    run_with_three_sockets(fx, &c);
}

static void body_empty_names_kept(void) {
    struct uds_activation a;
    CHECK(uds_activation_get(0, &a) == 3);
    CHECK(strcmp(a.names[0], "a") == 0);
    CHECK(strcmp(a.names[1], "") == 0);
    CHECK(strcmp(a.names[2], "c") == 0);
    uds_activation_done(&a);
}

static void activation_empty_names_are_not_coalesced(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .listen_names = "a::c", .body = body_empty_names_kept };
    run_with_three_sockets(fx, &c);
}

static void body_sets_cloexec(void) {
    struct uds_activation a;
    for (int fd = 3; fd < 6; fd++)
        CHECK(!cloexec(fd));
    CHECK(uds_activation_get(UDS_ACTIVATION_UNSET_ENV, &a) == 3);
    for (int fd = 3; fd < 6; fd++)
        CHECK(cloexec(fd));
    CHECK(env_clean());
    uds_activation_done(&a);
}

static void activation_fds_become_cloexec_and_env_is_unset(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .listen_names = "a:b:c", .body = body_sets_cloexec };
    run_with_three_sockets(fx, &c);
}

static void body_keeps_env(void) {
    struct uds_activation a;
    CHECK(uds_activation_get(0, &a) == 3);
    CHECK(getenv("LISTEN_PID") && getenv("LISTEN_FDS") && getenv("LISTEN_FDNAMES"));
    uds_activation_done(&a);
}

static void activation_without_unset_flag_keeps_env(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .listen_names = "a:b:c", .body = body_keeps_env };
    run_with_three_sockets(fx, &c);
}

static void body_not_for_us(void) {
    struct uds_activation a = { .n_fds = 99 };
    CHECK(uds_activation_get(UDS_ACTIVATION_UNSET_ENV, &a) == 0);
    CHECK(a.n_fds == 0 && !a.fds && !a.names);
    /* Meant for another process: not even made close-on-exec. */
    for (int fd = 3; fd < 6; fd++)
        CHECK(!cloexec(fd));
    /* Still removed, so that no child of ours takes them for its own. */
    CHECK(env_clean());
}

static void activation_wrong_listen_pid_is_ignored(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .listen_names = "a:b:c", .pid_mode = 1,
                       .body = body_not_for_us };
    run_with_three_sockets(fx, &c);
}

static void activation_without_listen_pid_is_zero(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .pid_mode = 2, .body = body_not_for_us };
    run_with_three_sockets(fx, &c);
}

static void body_einval_and_unset(void) {
    struct uds_activation a = { .n_fds = 99 };
    errno = 0;
    CHECK(uds_activation_get(UDS_ACTIVATION_UNSET_ENV, &a) == -1);
    CHECK(errno == EINVAL);
    CHECK(a.n_fds == 99);
    CHECK(env_clean());
}

static void activation_garbage_listen_fds_is_einval(void **state) {
    struct tu_fixture *fx = *state;
    const char *bad[] = { "", "x", "3x", "-1", "+3", " 3", "3 ", "0x3", "0", "99999999999" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct child c = { .listen_fds = bad[i], .body = body_einval_and_unset };
        run_with_three_sockets(fx, &c);
    }
}

static void activation_garbage_listen_pid_is_einval(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .pid_mode = 3, .body = body_einval_and_unset };
    run_with_three_sockets(fx, &c);
}

static void activation_name_count_mismatch_is_einval(void **state) {
    struct tu_fixture *fx = *state;
    const char *bad[] = { "a:b", "a:b:c:d", "", "abc" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct child c = { .listen_fds = "3", .listen_names = bad[i],
                           .body = body_einval_and_unset };
        run_with_three_sockets(fx, &c);
    }
}

static void body_ebadf(void) {
    struct uds_activation a;
    errno = 0;
    CHECK(uds_activation_get(0, &a) == -1);
    CHECK(errno == EBADF);
}

static void activation_fd_not_open_is_ebadf(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "one.sock");
    /* LISTEN_FDS says 2, but fd 4 is closed. */
    struct child c = { .fds = { unix_socket_at(path, SOCK_STREAM, true), -1 }, .n_fds = 2,
                       .listen_fds = "2", .body = body_ebadf };
    run_activated(&c);
    close_all(&c);
}

static void body_find_first_unix_listener(void) {
    struct uds_activation a;
    struct uds_listener l;
    CHECK(uds_activation_get(0, &a) == 3);
    /* fd 3 is a pipe, fd 4 a unix socket that does not listen, fd 5 the listener. */
    CHECK(uds_activation_find(&a, NULL) == 5);
    errno = 0;
    CHECK(uds_activation_listener(&a, "pipe", &l) == -1 && errno == EAFNOSUPPORT);
    CHECK(fcntl(3, F_GETFD) >= 0); /* refused, left open */
    CHECK(uds_activation_find(&a, "pipe") == 3);
    CHECK(uds_activation_listener(&a, NULL, &l) == 5);
    CHECK(l.type == UDS_STREAM);
    CHECK(uds_activation_find(&a, NULL) == -1 && errno == ENOENT);
    CHECK(uds_unlisten(&l) == 0);
    uds_activation_done(&a);
}

static void activation_find_null_picks_first_unix_listener(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "l.sock");
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct child c = {
        .fds = { p[0], socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
                 unix_socket_at(path, SOCK_STREAM, true) },
        .n_fds = 3, .listen_fds = "3", .listen_names = "pipe:idle:l",
        .body = body_find_first_unix_listener,
    };
    run_activated(&c);
    close_all(&c);
    close(p[1]);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#define PIDFS_MAGIC 0x50494446

static void body_pidfdid_match(void) {
    struct uds_activation a;
    CHECK(uds_activation_get(0, &a) == 3);
    uds_activation_done(&a);
}

static void body_pidfdid_other(void) {
    struct uds_activation a;
    CHECK(uds_activation_get(UDS_ACTIVATION_UNSET_ENV, &a) == 0);
    CHECK(env_clean());
}

/* Our own pidfs inode number, computed in the child itself; false without pidfs. */
static bool own_pidfs_id(char *buf, size_t size) {
    struct statfs sfs;
    struct stat st;
    int pidfd = (int) syscall(SYS_pidfd_open, getpid(), 0);
    if (pidfd < 0)
        return false;
    bool ok = fstatfs(pidfd, &sfs) == 0 && sfs.f_type == PIDFS_MAGIC && fstat(pidfd, &st) == 0;
    close(pidfd);
    if (ok)
        snprintf(buf, size, "%llu", (unsigned long long) st.st_ino);
    return ok;
}

static void body_pidfdid_self(void) {
    char id[32], other[40];
    if (!own_pidfs_id(id, sizeof(id)))
        _exit(0); /* no pidfs: nothing to compare with */
    setenv("LISTEN_PIDFDID", id, 1);
    body_pidfdid_match();
    snprintf(other, sizeof(other), "%s0", id);
    setenv("LISTEN_PIDFDID", other, 1);
    body_pidfdid_other();
}

static void activation_listen_pidfdid_must_name_this_process(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .listen_pidfdid = "1", .body = body_pidfdid_self };
    run_with_three_sockets(fx, &c);
}

static void activation_garbage_listen_pidfdid_is_einval(void **state) {
    struct tu_fixture *fx = *state;
    struct child c = { .listen_fds = "3", .listen_pidfdid = "12x",
                       .body = body_einval_and_unset };
    run_with_three_sockets(fx, &c);
}

static void activation_invalid_arguments_are_einval(void **state) {
    (void) state;
    struct uds_activation a;
    struct uds_listener l;
    errno = 0;
    assert_int_equal(uds_activation_get(1u << 5, &a), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_activation_get(0, NULL), -1);
    assert_int_equal(uds_activation_find(NULL, "x"), -1);
    assert_int_equal(uds_activation_listener(NULL, NULL, &l), -1);
    uds_activation_done(NULL);
}

/* --- NOTIFY_SOCKET ------------------------------------------------------------------- */

/* A dgram socket bound at address (path or @name) that receives credentials. */
static int notify_receiver(const char *address) {
    struct uds_listener l;
    struct uds_listen_opts o = { .type = UDS_DGRAM };
    int one = 1;
    assert_true(uds_listen(address, &o, &l, NULL) >= 0);
    /* Keep only the fd: the test directory is removed by teardown. */
    int fd = fcntl(l.fd, F_DUPFD_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (l.lock_fd >= 0)
        close(l.lock_fd);
    close(l.fd);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
    return fd;
}

/* Receive one datagram: its text and the sender's pid from SCM_CREDENTIALS. */
static void expect_datagram(int fd, const char *text) {
    char buf[256];
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                          .msg_controllen = sizeof(control.bytes) };
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    assert_int_equal(n, (ssize_t) strlen(text));
    assert_memory_equal(buf, text, (size_t) n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    assert_non_null(c);
    assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
    struct ucred cred;
    memcpy(&cred, CMSG_DATA(c), sizeof(cred));
    assert_int_equal(cred.pid, getpid());
    assert_int_equal(cred.uid, getuid());
    /* Exactly one datagram. */
    assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
}

static void notify_without_notify_socket_is_zero(void **state) {
    (void) state;
    assert_int_equal(uds_notify("READY=1"), 0);
}

static void notify_path_gets_one_datagram_with_credentials(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "notify");
    int fd = notify_receiver(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(uds_notify("READY=1"), 1);
    expect_datagram(fd, "READY=1");
    assert_int_equal(uds_notify("STATUS=serving\nMAINPID=1"), 1);
    expect_datagram(fd, "STATUS=serving\nMAINPID=1");
    assert_int_equal(uds_notify("STOPPING=1"), 1);
    expect_datagram(fd, "STOPPING=1");
    close(fd);
}

static void notify_abstract_name_gets_datagram(void **state) {
    (void) state;
    char name[64];
    snprintf(name, sizeof(name), "@udskit-test-notify-%d", (int) getpid());
    int fd = notify_receiver(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(uds_notify("READY=1"), 1);
    expect_datagram(fd, "READY=1");
    close(fd);
}

static void notify_long_path_gets_datagram(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/", fx->dir);
    memset(path + n, 'd', 120);
    path[n + 120] = '\0';
    assert_int_equal(mkdir(path, 0700), 0);
    strcat(path, "/notify");
    int fd = notify_receiver(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(uds_notify("READY=1"), 1);
    expect_datagram(fd, "READY=1");
    close(fd);
}

static void notify_nobody_there_fails(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "absent");
    setenv("NOTIFY_SOCKET", path, 1);
    errno = 0;
    assert_int_equal(uds_notify("READY=1"), -1);
    assert_int_equal(errno, ENOENT);
    /* A socket file nobody holds any more. */
    path = tu_path(fx->dir, "stale");
    close(unix_socket_at(path, SOCK_DGRAM, false));
    setenv("NOTIFY_SOCKET", path, 1);
    errno = 0;
    assert_int_equal(uds_notify("READY=1"), -1);
    assert_int_equal(errno, ECONNREFUSED);
}

static void notify_bad_address_or_state_is_refused(void **state) {
    (void) state;
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    errno = 0;
    assert_int_equal(uds_notify("READY=1"), -1);
    assert_int_equal(errno, EINVAL);
    setenv("NOTIFY_SOCKET", "", 1);
    errno = 0;
    assert_int_equal(uds_notify("READY=1"), -1);
    assert_int_equal(errno, EINVAL);
    setenv("NOTIFY_SOCKET", "@", 1);
    errno = 0;
    assert_int_equal(uds_notify("READY=1"), -1);
    assert_int_equal(errno, EINVAL);
    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    errno = 0;
    assert_int_equal(uds_notify("READY=1"), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
    setenv("NOTIFY_SOCKET", "/run/whatever", 1);
    errno = 0;
    assert_int_equal(uds_notify(""), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_notify(NULL), -1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(activation_names_match_fds),
        T(activation_without_names_they_are_unknown),
        T(activation_empty_names_are_not_coalesced),
        T(activation_fds_become_cloexec_and_env_is_unset),
        T(activation_without_unset_flag_keeps_env),
        T(activation_wrong_listen_pid_is_ignored),
        T(activation_without_listen_pid_is_zero),
        T(activation_garbage_listen_fds_is_einval),
        T(activation_garbage_listen_pid_is_einval),
        T(activation_name_count_mismatch_is_einval),
        T(activation_fd_not_open_is_ebadf),
        T(activation_find_null_picks_first_unix_listener),
        T(activation_listen_pidfdid_must_name_this_process),
        T(activation_garbage_listen_pidfdid_is_einval),
        T(activation_invalid_arguments_are_einval),
        T(notify_without_notify_socket_is_zero),
        T(notify_path_gets_one_datagram_with_credentials),
        T(notify_abstract_name_gets_datagram),
        T(notify_long_path_gets_datagram),
        T(notify_nobody_there_fails),
        T(notify_bad_address_or_state_is_refused),
    };
    alarm(60);
    return cmocka_run_group_tests_name("activate", tests, NULL, NULL);
}
