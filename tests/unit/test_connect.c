/* SPDX-License-Identifier: MIT */
/* test_connect.c — connect with real listeners: missing and stale sockets, waiting for a
 * server that starts later, a full backlog waited out or timed out, dgram autobind, types,
 * and permissions as an unprivileged user. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

static void make_stale_socket(const char *path) {
    close(tu_bind_unix(path, SOCK_STREAM, -1));
}

/* Fill l's backlog with non-blocking connects until the kernel answers EAGAIN. Returns
 * how many are pending; their fds go to fds. */
static int fill_backlog(const char *path, int *fds, int max) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int n = 0;

    strcpy(sa.sun_path, path);
    while (n < max) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
            assert_int_equal(errno, EAGAIN);
            close(fd);
            return n;
        }
        fds[n++] = fd;
    }
    fail_msg("backlog never filled");
    return n;
}

/* ---- absent servers ------------------------------------------------------------------ */

static void connect_missing_path_enoent(void **state) {
    struct tu_fixture *fx = *state;
    int fds = tu_count_open_fds();

    assert_int_equal(uds_connect(fx->path, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(tu_count_open_fds(), fds);
}

static void connect_stale_socket_econnrefused(void **state) {
    struct tu_fixture *fx = *state;
    int fds;

    make_stale_socket(fx->path);
    fds = tu_count_open_fds();
    assert_int_equal(uds_connect(fx->path, NULL), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(tu_count_open_fds(), fds);
}

static void connect_wait_expiry_returns_enoent(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_connect_opts opts = { .wait_ms = 150 };
    uint64_t t0 = tu_now_ms(), elapsed;
    int fds = tu_count_open_fds();

    assert_int_equal(uds_connect(fx->path, &opts), -1);
    assert_int_equal(errno, ENOENT);
    elapsed = tu_now_ms() - t0;
    assert_true(elapsed >= 140);
    assert_true(elapsed < 1000);
    assert_int_equal(tu_count_open_fds(), fds);
}

static void connect_wait_expiry_on_stale_socket_returns_econnrefused(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_connect_opts opts = { .wait_ms = 150, .timeout_ms = 100 };
    uint64_t t0, elapsed;

    make_stale_socket(fx->path);
    t0 = tu_now_ms();
    assert_int_equal(uds_connect(fx->path, &opts), -1);
    assert_int_equal(errno, ECONNREFUSED);
    elapsed = tu_now_ms() - t0;
    assert_true(elapsed >= 140);
    assert_true(elapsed < 1000);
}

static void connect_wait_reaches_a_server_that_starts_later(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_connect_opts opts = { .wait_ms = 5000 };
    uint64_t t0;
    char buf[4] = { 0 };
    int fd;
    pid_t pid;

    t0 = tu_now_ms();
    pid = tu_fork();
    if (pid == 0) {
        struct uds_listener l;
        int a;
        tu_sleep_ms(100);
        if (uds_listen(fx->path, NULL, &l, NULL) < 0)
            _exit(1);
        a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
        if (a < 0 || send(a, "hi", 2, MSG_NOSIGNAL) != 2)
            _exit(2);
        (void) !recv(a, buf, sizeof(buf), 0);   /* until the client closes */
        close(a);
        uds_unlisten(&l);
        _exit(0);
    }
    fd = uds_connect(fx->path, &opts);
    assert_true(fd >= 0);
    assert_true(tu_now_ms() - t0 >= 90);
    assert_int_equal(uds_recv_all(fd, buf, 2), 2);
    assert_string_equal(buf, "hi");
    close(fd);
    assert_int_equal(tu_wait_child(pid), 0);
}

/* A long path whose directory does not exist yet is waited for like a missing socket. */
static void connect_wait_long_path_directory_appears_later(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_connect_opts opts = { .wait_ms = 5000 };
    char dir[PATH_MAX], path[PATH_MAX + 16];
    int fd;
    pid_t pid;

    snprintf(dir, sizeof(dir), "%s/%0100d", fx->dir, 7);
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    assert_true(strlen(path) > UDS_SUN_PATH_MAX);
    pid = tu_fork();
    if (pid == 0) {
        struct uds_listener l;
        char c;
        int a;
        tu_sleep_ms(80);
        if (mkdir(dir, 0755) < 0 || uds_listen(path, NULL, &l, NULL) < 0)
            _exit(1);
        a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
        if (a < 0)
            _exit(2);
        (void) !recv(a, &c, 1, 0);
        close(a);
        uds_unlisten(&l);
        _exit(0);
    }
    fd = uds_connect(path, &opts);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(tu_wait_child(pid), 0);
}

/* ---- full backlog -------------------------------------------------------------------- */

#define MAX_PENDING 64

static void connect_full_backlog_times_out_etimedout(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts lopts = { .backlog = 1 };
    struct uds_connect_opts opts = { .timeout_ms = 200 };
    struct uds_listener l;
    int pending[MAX_PENDING], n, fds;
    uint64_t t0, elapsed;

    assert_true(uds_listen(fx->path, &lopts, &l, NULL) >= 0);
    n = fill_backlog(fx->path, pending, MAX_PENDING);
    assert_true(n >= 1);
    fds = tu_count_open_fds();
    t0 = tu_now_ms();
    assert_int_equal(uds_connect(fx->path, &opts), -1);
    assert_int_equal(errno, ETIMEDOUT);
    elapsed = tu_now_ms() - t0;
    assert_true(elapsed >= 190);
    assert_true(elapsed < 1500);
    assert_int_equal(tu_count_open_fds(), fds);
    for (int i = 0; i < n; i++)
        close(pending[i]);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void connect_wait_on_full_backlog_times_out_etimedout(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts lopts = { .backlog = 1 };
    struct uds_connect_opts opts = { .wait_ms = 150 };
    struct uds_listener l;
    int pending[MAX_PENDING], n;
    uint64_t t0, elapsed;

    assert_true(uds_listen(fx->path, &lopts, &l, NULL) >= 0);
    n = fill_backlog(fx->path, pending, MAX_PENDING);
    t0 = tu_now_ms();
    assert_int_equal(uds_connect(fx->path, &opts), -1);
    assert_int_equal(errno, ETIMEDOUT);
    elapsed = tu_now_ms() - t0;
    assert_true(elapsed >= 140);
    assert_true(elapsed < 1500);
    for (int i = 0; i < n; i++)
        close(pending[i]);
    assert_int_equal(uds_unlisten(&l), 0);
}

struct late_acceptor {
    int listen_fd;
    int delay_ms;
    int accepted[MAX_PENDING + 1];
    int n;
};

static void *accept_later(void *arg) {
    struct late_acceptor *la = arg;

    tu_sleep_ms(la->delay_ms);
    la->accepted[la->n] = accept4(la->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (la->accepted[la->n] >= 0)
        la->n++;
    return NULL;
}

static void expect_backlog_waited_out(struct tu_fixture *fx, int timeout_ms) {
    struct uds_listen_opts lopts = { .backlog = 1 };
    struct uds_connect_opts opts = { .timeout_ms = timeout_ms };
    struct uds_listener l;
    struct late_acceptor la = { .delay_ms = 150 };
    int pending[MAX_PENDING], n, fd;
    struct timeval tv;
    socklen_t len = sizeof(tv);
    pthread_t t;
    uint64_t t0;

    assert_true(uds_listen(fx->path, &lopts, &l, NULL) >= 0);
    n = fill_backlog(fx->path, pending, MAX_PENDING);
    la.listen_fd = l.fd;
    t0 = tu_now_ms();
    assert_int_equal(pthread_create(&t, NULL, accept_later, &la), 0);
    fd = uds_connect(fx->path, &opts);
    assert_true(fd >= 0);
    assert_true(tu_now_ms() - t0 >= 140);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(la.n, 1);
    /* the send timeout used to bound the wait is not left on the caller's fd */
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len), 0);
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 0);
    close(fd);
    for (int i = 0; i < la.n; i++)
        close(la.accepted[i]);
    for (int i = 0; i < n; i++)
        close(pending[i]);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void connect_full_backlog_waits_until_server_accepts(void **state) {
    expect_backlog_waited_out(*state, 5000);
}

static void connect_full_backlog_without_timeout_waits_until_server_accepts(void **state) {
    expect_backlog_waited_out(*state, 0);
}

/* ---- types and flags ----------------------------------------------------------------- */

static void connect_nonblock_flag_sets_o_nonblock_and_cloexec(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_connect_opts opts = { .flags = UDS_CONNECT_NONBLOCK, .timeout_ms = 1000 };
    struct uds_listener l;
    char c;
    int fd;

    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    fd = uds_connect(fx->path, &opts);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(recv(fd, &c, 1, 0), -1);
    assert_int_equal(errno, EAGAIN);
    close(fd);
    fd = uds_connect(fx->path, NULL);
    assert_true(fd >= 0);
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void connect_dgram_is_autobound_and_gets_a_reply(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts lopts = { .type = UDS_DGRAM };
    struct uds_connect_opts opts = { .type = UDS_DGRAM };
    struct uds_listener l;
    struct sockaddr_un from;
    socklen_t from_len = sizeof(from);
    char buf[8];
    int fd;

    assert_true(uds_listen(fx->path, &lopts, &l, NULL) >= 0);
    fd = uds_connect(fx->path, &opts);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, "ping", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(recvfrom(l.fd, buf, sizeof(buf), 0, (struct sockaddr *) &from, &from_len),
                     4);
    /* autobind: a kernel-chosen abstract name the server can answer */
    assert_true(from_len > offsetof(struct sockaddr_un, sun_path) + 1);
    assert_int_equal(from.sun_path[0], '\0');
    assert_int_equal(sendto(l.fd, "pong", 4, MSG_NOSIGNAL, (struct sockaddr *) &from,
                            from_len),
                     4);
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "pong", 4);
    close(fd);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void connect_seqpacket_keeps_boundaries(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts lopts = { .type = UDS_SEQPACKET };
    struct uds_connect_opts opts = { .type = UDS_SEQPACKET };
    struct uds_listener l;
    char buf[8];
    int fd, a;

    assert_true(uds_listen(fx->path, &lopts, &l, NULL) >= 0);
    fd = uds_connect(fx->path, &opts);
    assert_true(fd >= 0);
    a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    assert_int_equal(send(fd, "one", 3, MSG_NOSIGNAL), 3);
    assert_int_equal(send(fd, "two!", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(recv(a, buf, sizeof(buf), 0), 3);
    assert_int_equal(recv(a, buf, sizeof(buf), 0), 4);
    close(a);
    close(fd);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void connect_type_mismatch_eprototype(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_connect_opts opts = { .type = UDS_SEQPACKET, .wait_ms = 100 };
    struct uds_listener l;
    int fds;

    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    fds = tu_count_open_fds();
    assert_int_equal(uds_connect(fx->path, &opts), -1);
    assert_int_equal(errno, EPROTOTYPE);
    assert_int_equal(tu_count_open_fds(), fds);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void connect_abstract_name(void **state) {
    struct uds_listener l;
    char name[64];
    int fd, a;
    (void) state;

    snprintf(name, sizeof(name), "unix:@udskit-connect-%d", (int) getpid());
    assert_int_equal(uds_connect(name, NULL), -1);
    assert_int_equal(errno, ECONNREFUSED);   /* an unbound abstract name: nobody there */
    assert_true(uds_listen(name, NULL, &l, NULL) >= 0);
    fd = uds_connect(name, NULL);
    assert_true(fd >= 0);
    a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    close(a);
    close(fd);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void connect_bad_arguments_einval(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_connect_opts bad_timeout = { .timeout_ms = -1 };
    struct uds_connect_opts bad_wait = { .wait_ms = -5 };
    struct uds_connect_opts bad_type = { .type = (enum uds_socket_type) 9 };
    struct uds_connect_opts bad_flags = { .flags = 1u << 20 };

    assert_int_equal(uds_connect(NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_connect("", NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_connect(fx->path, &bad_timeout), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_connect(fx->path, &bad_wait), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_connect(fx->path, &bad_type), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_connect(fx->path, &bad_flags), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_connect("tcp:127.0.0.1:9", NULL), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
    assert_int_equal(uds_connect_addr(NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

static void connect_path_too_long_even_for_alias_enametoolong(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%0100d", fx->dir, 1);
    assert_int_equal(uds_connect(path, NULL), -1);
    assert_int_equal(errno, ENAMETOOLONG);
}

/* ---- permissions (meaningful only when a root parent can drop a child to nobody) ----- */

/* In the child: 0 if path lets us connect, 13 if it refuses with EACCES. */
static int connect_result(void *path) {
    if (uds_connect(path, NULL) >= 0)
        return 0;
    return errno == EACCES ? 13 : 101;
}

static int child_connect_as_nobody(const char *path) {
    return tu_run_as_nobody(connect_result, (void *) path);
}

static void connect_mode_0600_as_other_user_eacces(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;

    if (geteuid() != 0)
        skip();
    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);     /* 0600, root-owned */
    assert_int_equal(child_connect_as_nobody(fx->path), 13);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void connect_mode_0666_as_other_user_succeeds(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .mode = 0666 };
    struct uds_listener l;

    if (geteuid() != 0)
        skip();
    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    assert_int_equal(child_connect_as_nobody(fx->path), 0);
    assert_int_equal(uds_unlisten(&l), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(connect_missing_path_enoent),
        T(connect_stale_socket_econnrefused),
        T(connect_wait_expiry_returns_enoent),
        T(connect_wait_expiry_on_stale_socket_returns_econnrefused),
        T(connect_wait_reaches_a_server_that_starts_later),
        T(connect_wait_long_path_directory_appears_later),
        T(connect_full_backlog_times_out_etimedout),
        T(connect_wait_on_full_backlog_times_out_etimedout),
        T(connect_full_backlog_waits_until_server_accepts),
        T(connect_full_backlog_without_timeout_waits_until_server_accepts),
        T(connect_nonblock_flag_sets_o_nonblock_and_cloexec),
        T(connect_dgram_is_autobound_and_gets_a_reply),
        T(connect_seqpacket_keeps_boundaries),
        T(connect_type_mismatch_eprototype),
        T(connect_abstract_name),
        T(connect_bad_arguments_einval),
        T(connect_path_too_long_even_for_alias_enametoolong),
        T(connect_mode_0600_as_other_user_eacces),
        T(connect_mode_0666_as_other_user_succeeds),
#undef T
    };

    return cmocka_run_group_tests_name("connect", tests, NULL, NULL);
}
