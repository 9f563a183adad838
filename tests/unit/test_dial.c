/* SPDX-License-Identifier: MIT */
/* test_dial.c — the non-blocking dialer on a loop, against real listeners: a Unix socket
 * reached at once, missing, stale, abstract, through a long path; a full backlog waited
 * out until freed, or timed out; a dial cancelled; TCP through the loop, its addresses
 * tried in turn, refused, timed out against a listener that drops SYNs; a destination not
 * there yet waited for (wait_ms) until it appears, or given up with its own error. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/* What a dial's done callback was told. */
struct result {
    int calls;
    int fd;
    int error;
};

static void on_done(int fd, int error, void *data) {
    struct result *r = data;

    r->calls++;
    r->fd = fd;
    r->error = error;
}

static struct uds_addr addr_of(const char *text) {
    struct uds_addr a;

    assert_int_equal(uds_addr_parse(text, UDS_ADDR_ALLOW_TCP, &a), 0);
    return a;
}

/* Runs loop until r has its answer, for up to ms. */
static bool wait_done(struct uds_loop *loop, const struct result *r, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    while (r->calls == 0 && tu_now_ms() < end)
        assert_true(uds_loop_run_once(loop, 10) >= 0);
    return r->calls > 0;
}

/* Fills the backlog of the listener at path with non-blocking connects until the kernel
 * answers EAGAIN; their fds go to fds. Returns how many. */
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

static void close_all(int *fds, int n) {
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void assert_nonblock_cloexec(int fd) {
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* Dials path once and expects an answer at once: the fd, or -1 with errno. */
static int dial_once(struct uds_loop *loop, const char *text,
                     const struct uds_dialer_opts *opts) {
    struct uds_addr a = addr_of(text);
    struct uds_dialer *d = uds_dialer_new(loop, &a, opts);
    struct result r = { 0 };
    struct uds_dial *dial = NULL;
    int fd, e;

    assert_non_null(d);
    fd = uds_dial(d, on_done, &r, &dial);
    e = errno;
    assert_int_equal(r.calls, 0);
    uds_dialer_free(d);
    errno = e;
    return fd;
}

/* ---- Unix: answered at once ------------------------------------------------------------ */

static void dial_unix_listener_connects_at_once(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    int l = tu_bind_unix(fx->path, SOCK_STREAM, 4), fd;

    fd = dial_once(loop, fx->path, NULL);
    assert_true(fd >= 0);
    assert_nonblock_cloexec(fd);
    close(fd);
    close(l);
    uds_loop_free(loop);
}

static void dial_missing_socket_enoent(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();

    assert_int_equal(dial_once(loop, fx->path, NULL), -1);
    assert_int_equal(errno, ENOENT);
    uds_loop_free(loop);
}

static void dial_stale_socket_econnrefused(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();

    close(tu_bind_unix(fx->path, SOCK_STREAM, -1));
    assert_int_equal(dial_once(loop, fx->path, NULL), -1);
    assert_int_equal(errno, ECONNREFUSED);
    uds_loop_free(loop);
}

static void dial_abstract_name(void **state) {
    struct uds_loop *loop = uds_loop_new();
    char name[64];
    int l, fd;
    (void) state;

    snprintf(name, sizeof(name), "@udskit-test-dial-%ld", (long) getpid());
    l = tu_bind_unix(name, SOCK_STREAM, 4);
    fd = dial_once(loop, name, NULL);
    assert_true(fd >= 0);
    close(fd);
    close(l);
    uds_loop_free(loop);
}

/* A path over sun_path is reached through its directory; the directory is looked up at each
 * dial, so it may appear after the dialer was made. */
static void dial_long_path_directory_appears_later(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    char dir[PATH_MAX], path[PATH_MAX + 16];
    struct uds_addr a;
    struct uds_dialer *d;
    struct uds_dial *dial = NULL;
    struct result r = { 0 };
    struct uds_listener l;
    int fd, fds;

    snprintf(dir, sizeof(dir), "%s/%0100d", fx->dir, 7);
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    assert_true(strlen(path) > UDS_SUN_PATH_MAX);
    a = addr_of(path);
    d = uds_dialer_new(loop, &a, NULL);
    assert_non_null(d);
    fds = tu_count_open_fds();
    assert_int_equal(uds_dial(d, on_done, &r, &dial), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(tu_count_open_fds(), fds);    /* the directory's fd is not kept */
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_true(uds_listen(path, NULL, &l, NULL) >= 0);
    fd = uds_dial(d, on_done, &r, &dial);
    assert_true(fd >= 0);
    assert_int_equal(tu_count_open_fds(), fds + 3);    /* the listener, its lock, fd */
    close(fd);
    uds_dialer_free(d);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_int_equal(r.calls, 0);
    uds_loop_free(loop);
}

/* ---- Unix: a full backlog --------------------------------------------------------------- */

static void dial_full_backlog_waits_until_freed(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    struct uds_addr a = addr_of(fx->path);
    struct uds_dialer *d = uds_dialer_new(loop, &a, NULL);     /* no timeout */
    struct uds_dial *dial = NULL;
    struct result r = { 0 };
    int l = tu_bind_unix(fx->path, SOCK_STREAM, 0), fds[64], n, c;

    n = fill_backlog(fx->path, fds, 64);
    assert_int_equal(uds_dial(d, on_done, &r, &dial), -1);
    assert_int_equal(errno, EINPROGRESS);
    assert_non_null(dial);
    /* Still full: retried, not answered. */
    assert_false(wait_done(loop, &r, 150));
    c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    assert_true(wait_done(loop, &r, 2000));     /* backoff is at most 100 ms */
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.error, 0);
    assert_true(r.fd >= 0);
    assert_nonblock_cloexec(r.fd);
    close(r.fd);
    close(c);
    close_all(fds, n);
    close(l);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

static void dial_full_backlog_times_out_etimedout(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    struct uds_addr a = addr_of(fx->path);
    struct uds_dialer_opts opts = { .timeout_ms = 120 };
    struct uds_dialer *d = uds_dialer_new(loop, &a, &opts);
    struct uds_dial *dial = NULL;
    struct result r = { 0 };
    int l = tu_bind_unix(fx->path, SOCK_STREAM, 0), fds[64], n, before;
    uint64_t t0;

    n = fill_backlog(fx->path, fds, 64);
    before = tu_count_open_fds();
    t0 = tu_now_ms();
    assert_int_equal(uds_dial(d, on_done, &r, &dial), -1);
    assert_int_equal(errno, EINPROGRESS);
    assert_true(wait_done(loop, &r, 2000));
    assert_in_range(tu_now_ms() - t0, 110, 1000);
    assert_int_equal(r.fd, -1);
    assert_int_equal(r.error, ETIMEDOUT);
    assert_int_equal(tu_count_open_fds(), before);
    close_all(fds, n);
    close(l);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

/* A cancelled dial calls nothing back and leaves no fd; so do those a dialer frees. */
static void dial_cancel_calls_nothing_back(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    struct uds_addr a = addr_of(fx->path);
    struct uds_dialer *d = uds_dialer_new(loop, &a, NULL);
    struct uds_dial *one = NULL, *two = NULL;
    struct result r1 = { 0 }, r2 = { 0 };
    int l = tu_bind_unix(fx->path, SOCK_STREAM, 0), fds[64], n, before, c;

    n = fill_backlog(fx->path, fds, 64);
    before = tu_count_open_fds();
    assert_int_equal(uds_dial(d, on_done, &r1, &one), -1);
    assert_int_equal(errno, EINPROGRESS);
    assert_int_equal(uds_dial(d, on_done, &r2, &two), -1);
    assert_int_equal(errno, EINPROGRESS);
    uds_dial_cancel(one);
    uds_dial_cancel(NULL);
    c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    close(c);
    assert_true(wait_done(loop, &r2, 2000));
    assert_true(r2.fd >= 0);
    close(r2.fd);
    /* One more left pending when the dialer goes. */
    assert_int_equal(uds_dial(d, on_done, &r2, &two), -1);
    assert_int_equal(errno, EINPROGRESS);
    uds_dialer_free(d);
    tu_sleep_ms(20);
    assert_int_equal(uds_loop_run_once(loop, 0), 0);
    assert_int_equal(r1.calls, 0);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(tu_count_open_fds(), before);
    close_all(fds, n);
    close(l);
    uds_loop_free(loop);
}

/* ---- TCP ------------------------------------------------------------------------------- */

/* A TCP listener on 127.0.0.1 and a port of the kernel's choosing, with backlog. */
static int tcp_listener(int backlog, uint16_t *ret_port) {
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(in);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &in, sizeof(in)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &in, &len), 0);
    *ret_port = ntohs(in.sin_port);
    return fd;
}

/* A port nothing listens on (bound, then closed). */
static uint16_t closed_port(void) {
    uint16_t port;

    close(tcp_listener(1, &port));
    return port;
}

/* Dials d and waits for the answer, at once or from the loop: the fd, or -1 with errno. */
static int dial_wait(struct uds_loop *loop, struct uds_dialer *d, int ms) {
    struct uds_dial *dial = NULL;
    struct result r = { 0 };
    int fd = uds_dial(d, on_done, &r, &dial);

    if (fd >= 0 || errno != EINPROGRESS)
        return fd;
    assert_true(wait_done(loop, &r, ms));
    errno = r.error;
    return r.fd;
}

static void dial_tcp_connects_through_the_loop(void **state) {
    struct uds_loop *loop = uds_loop_new();
    uint16_t port;
    int l = tcp_listener(4, &port), fd, on = 0;
    socklen_t len = sizeof(on);
    char text[64];
    struct uds_addr a;
    struct uds_dialer *d;
    (void) state;

    snprintf(text, sizeof(text), "tcp:127.0.0.1:%u", (unsigned) port);
    a = addr_of(text);
    d = uds_dialer_new(loop, &a, NULL);     /* resolved by the dialer */
    assert_non_null(d);
    fd = dial_wait(loop, d, 2000);
    assert_true(fd >= 0);
    assert_nonblock_cloexec(fd);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    assert_true(on);
    close(fd);
    close(l);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

static void set_port(struct uds_tcp_addrs *t, size_t i, uint16_t port) {
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

    memcpy(&t->addrs[i], &in, sizeof(in));
    t->lens[i] = sizeof(in);
}

static void dial_tcp_tries_each_address_in_turn(void **state) {
    struct uds_loop *loop = uds_loop_new();
    struct uds_tcp_addrs t = { .n = 3 };
    struct uds_dialer_opts opts = { .tcp = &t, .timeout_ms = 2000 };
    struct uds_addr a = addr_of("tcp:example.invalid:1");   /* the addresses are opts' */
    struct uds_dialer *d;
    uint16_t port;
    int l = tcp_listener(4, &port), c, fd, before;
    (void) state;

    set_port(&t, 0, closed_port());
    set_port(&t, 1, closed_port());
    set_port(&t, 2, port);
    d = uds_dialer_new(loop, &a, &opts);
    assert_non_null(d);
    before = tu_count_open_fds();
    fd = dial_wait(loop, d, 2000);
    assert_true(fd >= 0);
    c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    assert_int_equal(send(fd, "x", 1, MSG_NOSIGNAL), 1);
    assert_true(tu_wait_readable(c, 1000));
    close(c);
    close(fd);
    assert_int_equal(tu_count_open_fds(), before);     /* the refused attempts' fds closed */
    /* Every address refusing: the last error. */
    t.n = 2;
    uds_dialer_free(d);
    d = uds_dialer_new(loop, &a, &opts);
    assert_int_equal(dial_wait(loop, d, 2000), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(tu_count_open_fds(), before);
    close(l);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

/* A TCP listener whose accept queue is full drops SYNs: the handshake never completes. */
static void dial_tcp_timeout_etimedout(void **state) {
    struct uds_loop *loop = uds_loop_new();
    uint16_t port;
    int l = tcp_listener(0, &port), held[4], n = 0, before;
    struct uds_tcp_addrs t = { .n = 1 };
    struct uds_dialer_opts opts = { .tcp = &t, .timeout_ms = 150 };
    struct uds_addr a = addr_of("tcp:127.0.0.1:1");
    struct uds_dialer *d;
    uint64_t t0;
    (void) state;

    set_port(&t, 0, port);
    /* Blocking connects complete while the accept queue has room; then it is full. */
    for (; n < 2; n++) {
        struct sockaddr_in in;
        memcpy(&in, &t.addrs[0], sizeof(in));
        held[n] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        (void) connect(held[n], (struct sockaddr *) &in, sizeof(in));
        tu_sleep_ms(50);
    }
    d = uds_dialer_new(loop, &a, &opts);
    assert_non_null(d);
    before = tu_count_open_fds();
    t0 = tu_now_ms();
    assert_int_equal(dial_wait(loop, d, 3000), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_in_range(tu_now_ms() - t0, 140, 2000);
    assert_int_equal(tu_count_open_fds(), before);
    close_all(held, n);
    close(l);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

/* ---- waiting for a destination not there yet (wait_ms) --------------------------------- */

/* The socket appears 300 ms after the dial began: the dial, held meanwhile, connects to it
 * within one backoff step (at most 1 s) and leaves no fd of its tries behind. */
static void dial_wait_missing_socket_connects_once_it_appears(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    struct uds_addr a = addr_of(fx->path);
    struct uds_dialer_opts opts = { .wait_ms = 5000 };
    struct uds_dialer *d = uds_dialer_new(loop, &a, &opts);
    struct uds_dial *dial = NULL;
    struct result r = { 0 };
    int l, before = tu_count_open_fds(), c;
    uint64_t t0 = tu_now_ms();

    assert_int_equal(uds_dial(d, on_done, &r, &dial), -1);
    assert_int_equal(errno, EINPROGRESS);
    assert_non_null(dial);
    assert_false(wait_done(loop, &r, 300));
    assert_int_equal(tu_count_open_fds(), before);
    l = tu_bind_unix(fx->path, SOCK_STREAM, 4);
    assert_true(wait_done(loop, &r, 2000));
    assert_true(tu_now_ms() - t0 < 300 + 1000 + 200);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.error, 0);
    assert_true(r.fd >= 0);
    assert_nonblock_cloexec(r.fd);
    c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    close(c);
    close(r.fd);
    close(l);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

/* A stale socket file that stays stale: the dial ends after wait_ms with ECONNREFUSED, the
 * truth about the destination, not ETIMEDOUT. */
static void dial_wait_stale_socket_gives_up_with_econnrefused(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    struct uds_addr a = addr_of(fx->path);
    struct uds_dialer_opts opts = { .wait_ms = 250, .timeout_ms = 100 };
    struct uds_dialer *d;
    uint64_t t0;
    int before;

    close(tu_bind_unix(fx->path, SOCK_STREAM, -1));
    d = uds_dialer_new(loop, &a, &opts);
    before = tu_count_open_fds();
    t0 = tu_now_ms();
    assert_int_equal(dial_wait(loop, d, 3000), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_in_range(tu_now_ms() - t0, 240, 1000);
    assert_int_equal(tu_count_open_fds(), before);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

/* An error that no waiting mends is answered at once, wait_ms or not: here a path through
 * a regular file (ENOTDIR). */
static void dial_wait_enotdir_fails_at_once(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    struct uds_dialer_opts opts = { .wait_ms = 5000 };
    char through[PATH_MAX + 8];
    int fd = open(fx->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    close(fd);
    snprintf(through, sizeof(through), "%s/s", fx->path);
    assert_int_equal(dial_once(loop, through, &opts), -1);
    assert_int_equal(errno, ENOTDIR);
    uds_loop_free(loop);
}

/* A TCP port that opens 300 ms after the dial began: every address is tried again from the
 * first, and the dial connects. */
static void dial_wait_tcp_port_connects_once_it_listens(void **state) {
    struct uds_loop *loop = uds_loop_new();
    struct uds_tcp_addrs t = { .n = 1 };
    struct uds_dialer_opts opts = { .tcp = &t, .wait_ms = 5000, .timeout_ms = 1000 };
    struct uds_addr a = addr_of("tcp:127.0.0.1:1");
    struct sockaddr_in in;
    struct uds_dialer *d;
    struct uds_dial *dial = NULL;
    struct result r = { 0 };
    uint16_t port = closed_port();
    int l, c, one = 1;
    (void) state;

    set_port(&t, 0, port);
    d = uds_dialer_new(loop, &a, &opts);
    assert_non_null(d);
    assert_int_equal(uds_dial(d, on_done, &r, &dial), -1);
    assert_int_equal(errno, EINPROGRESS);
    /* Past the 1 s timeout: the wait is the longer of the two. */
    assert_false(wait_done(loop, &r, 1200));
    memcpy(&in, &t.addrs[0], sizeof(in));
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(bind(l, (struct sockaddr *) &in, sizeof(in)), 0);
    assert_int_equal(listen(l, 4), 0);
    assert_true(wait_done(loop, &r, 2000));
    assert_int_equal(r.error, 0);
    assert_true(r.fd >= 0);
    c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    close(c);
    close(r.fd);
    close(l);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

/* A closed TCP port past wait_ms: ECONNREFUSED, even when the deadline timer fires between
 * two tries. */
static void dial_wait_tcp_closed_port_gives_up_with_econnrefused(void **state) {
    struct uds_loop *loop = uds_loop_new();
    struct uds_tcp_addrs t = { .n = 1 };
    struct uds_dialer_opts opts = { .tcp = &t, .wait_ms = 200 };
    struct uds_addr a = addr_of("tcp:127.0.0.1:1");
    struct uds_dialer *d;
    uint64_t t0;
    int before;
    (void) state;

    set_port(&t, 0, closed_port());
    d = uds_dialer_new(loop, &a, &opts);
    before = tu_count_open_fds();
    t0 = tu_now_ms();
    assert_int_equal(dial_wait(loop, d, 3000), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_in_range(tu_now_ms() - t0, 190, 1000);
    assert_int_equal(tu_count_open_fds(), before);
    uds_dialer_free(d);
    uds_loop_free(loop);
}

/* A dial waiting for its destination, cancelled or left to uds_dialer_free(): nothing is
 * called back, no timer fires later (the loop stays quiet), no fd stays open. */
static void dial_wait_cancelled_calls_nothing_back(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_loop *loop = uds_loop_new();
    struct uds_addr a = addr_of(fx->path);
    struct uds_dialer_opts opts = { .wait_ms = 5000 };
    struct uds_dialer *d = uds_dialer_new(loop, &a, &opts);
    struct uds_dial *one = NULL, *two = NULL;
    struct result r1 = { 0 }, r2 = { 0 };
    int before = tu_count_open_fds();

    assert_int_equal(uds_dial(d, on_done, &r1, &one), -1);
    assert_int_equal(errno, EINPROGRESS);
    assert_int_equal(uds_dial(d, on_done, &r2, &two), -1);
    assert_int_equal(errno, EINPROGRESS);
    assert_false(wait_done(loop, &r1, 120));
    uds_dial_cancel(one);
    uds_dialer_free(d);
    close(tu_bind_unix(fx->path, SOCK_STREAM, 4));
    tu_sleep_ms(100);
    assert_int_equal(uds_loop_run_once(loop, 0), 0);
    assert_int_equal(r1.calls, 0);
    assert_int_equal(r2.calls, 0);
    assert_int_equal(tu_count_open_fds(), before);
    uds_loop_free(loop);
}

/* ---- arguments ------------------------------------------------------------------------- */

static void dialer_bad_arguments(void **state) {
    struct uds_loop *loop = uds_loop_new();
    struct uds_addr a = addr_of("@x"), tcp = addr_of("tcp:127.0.0.1:1");
    struct uds_tcp_addrs t = { .n = 1 };
    struct uds_dialer_opts bad_timeout = { .timeout_ms = -1 }, bad_family = { .tcp = &t };
    struct uds_dialer_opts bad_wait = { .wait_ms = -1 };
    struct uds_dialer *d;
    struct uds_dial *dial = NULL;
    struct result r = { 0 };
    char long_name[UDS_PATH_MAX];
    (void) state;

    assert_null(uds_dialer_new(NULL, &a, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dialer_new(loop, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dialer_new(loop, &a, &bad_timeout));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dialer_new(loop, &a, &bad_wait));
    assert_int_equal(errno, EINVAL);
    t.addrs[0].ss_family = AF_UNIX;
    assert_null(uds_dialer_new(loop, &tcp, &bad_family));
    assert_int_equal(errno, EAFNOSUPPORT);
    /* A base name that no alias can fit. */
    snprintf(long_name, sizeof(long_name), "/tmp/%0200d", 1);
    a = addr_of(long_name);
    assert_null(uds_dialer_new(loop, &a, NULL));
    assert_int_equal(errno, ENAMETOOLONG);
    a = addr_of("@x");
    d = uds_dialer_new(loop, &a, NULL);
    assert_non_null(d);
    assert_int_equal(uds_dial(NULL, on_done, &r, &dial), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dial(d, NULL, &r, &dial), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_dial(d, on_done, &r, NULL), -1);
    assert_int_equal(errno, EINVAL);
    uds_dialer_free(d);
    uds_dialer_free(NULL);
    uds_loop_free(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(dial_unix_listener_connects_at_once),
        T(dial_missing_socket_enoent),
        T(dial_stale_socket_econnrefused),
        T(dial_abstract_name),
        T(dial_long_path_directory_appears_later),
        T(dial_full_backlog_waits_until_freed),
        T(dial_full_backlog_times_out_etimedout),
        T(dial_cancel_calls_nothing_back),
        T(dial_tcp_connects_through_the_loop),
        T(dial_tcp_tries_each_address_in_turn),
        T(dial_tcp_timeout_etimedout),
        T(dial_wait_missing_socket_connects_once_it_appears),
        T(dial_wait_stale_socket_gives_up_with_econnrefused),
        T(dial_wait_enotdir_fails_at_once),
        T(dial_wait_tcp_port_connects_once_it_listens),
        T(dial_wait_tcp_closed_port_gives_up_with_econnrefused),
        T(dial_wait_cancelled_calls_nothing_back),
        T(dialer_bad_arguments),
#undef T
    };

    return cmocka_run_group_tests_name("dial", tests, NULL, NULL);
}
