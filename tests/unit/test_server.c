/* SPDX-License-Identifier: MIT */
/*
 * test_server.c — unit tests of the connection server (server.c) over real Unix sockets in a
 * per-test directory: echo, EOF, backpressure, fairness, limits, timeouts, EMFILE, graceful
 * stop, deferred close, seqpacket, allow-lists, memory per idle connection, embedding.
 * Clients and server share one thread: the tests drive the server's loop between steps.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define MAX_CONNS_SEEN 8

enum mode {
    MODE_ECHO = 0,
    MODE_FLOOD_SINK,        /* 'F' data is counted and dropped, the rest echoed */
    MODE_CLOSE_IN_DATA,     /* reply "bye", close own connection inside on_data */
    MODE_CLOSE_OTHER,       /* close the other connection from inside on_data */
};

struct ctx {
    struct tu_server fx;
    enum mode mode;
    int opens, closes, eofs, denies, accept_errors, last_error, last_accept_error;
    int close_errors[MAX_CONNS_SEEN];
    struct uds_conn *conns[MAX_CONNS_SEEN];
    uid_t denied_uid;
    bool refuse_open;
    size_t flood_bytes;
    size_t flood_at_echo;   /* flood_bytes when the first echoed data arrived */
    bool echo_seen;
    int closes_seen_in_data;
    int send_after_close_errno;
    bool peer_at_close;     /* on_close reads the peer (uds_conn_peer) into closed_peer */
    struct uds_peer closed_peer;
};
_Static_assert(offsetof(struct ctx, fx) == 0, "tu_server_new() allocates the state");

/* --- fixture ------------------------------------------------------------------------------ */

static int setup(void **state) {
    struct ctx *c = tu_server_new(sizeof(*c));

    c->last_error = -1;
    *state = c;
    return 0;
}

static int teardown(void **state) {
    tu_server_free(*state);
    return 0;
}

/* --- callbacks ---------------------------------------------------------------------------- */

static int on_open(struct uds_conn *conn, void *data) {
    struct ctx *c = data;

    if (c->opens < MAX_CONNS_SEEN)
        c->conns[c->opens] = conn;
    c->opens++;
    return c->refuse_open ? -1 : 0;
}

static void on_data(struct uds_conn *conn, const void *buf, size_t len, void *data) {
    struct ctx *c = data;
    const char *p = buf;

    switch (c->mode) {
    case MODE_FLOOD_SINK:
        if (len > 0 && p[0] == 'F') {
            c->flood_bytes += len;
            return;
        }
        if (!c->echo_seen) {
            c->echo_seen = true;
            c->flood_at_echo = c->flood_bytes;
        }
        break;
    case MODE_CLOSE_IN_DATA:
        assert_int_equal(uds_conn_send(conn, "bye", 3), 0);
        uds_conn_close(conn, true);
        c->closes_seen_in_data = c->closes;
        errno = 0;
        assert_int_equal(uds_conn_send(conn, "more", 4), -1);
        c->send_after_close_errno = errno;
        return;
    case MODE_CLOSE_OTHER:
        for (int i = 0; i < c->opens && i < MAX_CONNS_SEEN; i++) {
            if (c->conns[i] && c->conns[i] != conn) {
                uds_conn_close(c->conns[i], false);
                c->closes_seen_in_data = c->closes;
                c->conns[i] = NULL;
            }
        }
        break;
    case MODE_ECHO:
        break;
    }
    int r = uds_conn_send(conn, buf, len);
    assert_true(r == 0 || errno == EPIPE || errno == ECONNRESET);
}

static void on_eof(struct uds_conn *conn, void *data) {
    struct ctx *c = data;

    (void) conn;
    c->eofs++;
}

static void on_close(struct uds_conn *conn, int error, void *data) {
    struct ctx *c = data;

    for (int i = 0; i < MAX_CONNS_SEEN; i++) {
        if (c->conns[i] == conn)
            c->conns[i] = NULL;
    }
    if (c->peer_at_close)
        c->closed_peer = *uds_conn_peer(conn);
    if (c->closes < MAX_CONNS_SEEN)
        c->close_errors[c->closes] = error;
    c->closes++;
    c->last_error = error;
}

static void on_deny(const struct uds_peer *peer, void *data) {
    struct ctx *c = data;

    c->denies++;
    c->denied_uid = peer->uid;
}

static void on_accept_error(int error, void *data) {
    struct ctx *c = data;

    c->accept_errors++;
    c->last_accept_error = error;
}

static const struct uds_server_callbacks callbacks = {
    .on_open = on_open,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_close = on_close,
    .on_deny = on_deny,
    .on_accept_error = on_accept_error,
};

/* --- helpers ------------------------------------------------------------------------------ */

static void start(struct ctx *c, enum uds_socket_type type, const struct uds_server_opts *opts) {
    tu_server_start(&c->fx, NULL, type, opts, &callbacks, c);
}

static void pump(struct ctx *c, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    for (;;) {
        uint64_t now = tu_now_ms();
        if (now >= end)
            break;
        tu_run_once(c->fx.s, (int) (end - now));
    }
}

/* --- tests -------------------------------------------------------------------------------- */

#define ECHO_CLIENTS 50
#define ECHO_BYTES 20000

static void server_echo_many_clients_each_get_their_bytes(void **state) {
    struct ctx *c = *state;
    static char out[ECHO_CLIENTS][ECHO_BYTES], in[ECHO_CLIENTS][ECHO_BYTES];
    int fds[ECHO_CLIENTS];

    start(c, UDS_STREAM, NULL);
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        tu_fill(out[i], ECHO_BYTES, (unsigned) i + 1);
        fds[i] = tu_client(&c->fx, UDS_STREAM);
    }
    assert_int_equal(tu_echo_streams(c->fx.s, fds, ECHO_CLIENTS, (const char *) out, (char *) in,
                                     ECHO_BYTES, 10000),
                     ECHO_CLIENTS);
    for (int i = 0; i < ECHO_CLIENTS; i++)
        assert_memory_equal(in[i], out[i], ECHO_BYTES);
    assert_int_equal(c->opens, ECHO_CLIENTS);
    assert_int_equal(uds_server_conn_count(c->fx.s), ECHO_CLIENTS);
}

static void server_eof_flushes_reply_then_closes(void **state) {
    struct ctx *c = *state;
    const size_t len = 3u << 20;    /* more than the socket buffers: the reply queues */
    char *out = malloc(len), *in = malloc(len);

    assert_non_null(out);
    assert_non_null(in);
    tu_fill(out, len, 7);
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    /* The client writes everything before reading anything back. */
    size_t sent = 0, got = 0;
    while (sent < len) {
        ssize_t n = send(fd, out + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t) n;
        tu_run_once(c->fx.s, 1);
        n = recv(fd, in + got, len - got, 0);
        if (n > 0)
            got += (size_t) n;
    }
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    bool eof;
    got += tu_recv_pumped(c->fx.s, fd, in + got, len - got, 5000, &eof);
    assert_int_equal(got, len);
    assert_memory_equal(in, out, len);
    assert_true(tu_sees_eof(c->fx.s, fd, 2000));
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->eofs, 1);
    assert_int_equal(c->last_error, 0);
    assert_int_equal(uds_server_conn_count(c->fx.s), 0);
    free(out);
    free(in);
}

static void server_backpressure_bounds_queued_bytes(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .max_outbuf = 64 * 1024, .read_size = 4096 };
    static char chunk[65536];

    start(c, UDS_STREAM, &o);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    size_t before = tu_heap_in_use();
    /* The client writes for a while and never reads. */
    size_t sent = 0;
    uint64_t end = tu_now_ms() + 400;
    while (tu_now_ms() < end) {
        ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t) n;
        tu_run_once(c->fx.s, 1);
    }
    size_t grown = tu_heap_in_use() - before;
    /* The client is held back: its bytes sit in kernel buffers, not in the server. */
    assert_true(sent < 4u << 20);
    if (TU_HEAP_MEASURABLE) {
        /* Queue at most max_outbuf + read_size; the buffer may be twice that by doubling. */
        assert_true(grown < 2 * (o.max_outbuf + o.read_size) + 16384);
    }
    /* Once the client reads, every byte comes back, in order. */
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    size_t got = 0;
    bool eof = false;
    static char in[65536];
    while (!eof) {
        size_t n = tu_recv_pumped(c->fx.s, fd, in, sizeof(in), 2000, &eof);
        assert_true(n > 0 || eof);
        got += n;
    }
    assert_int_equal(got, sent);
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->last_error, 0);
}

static void server_read_budget_lets_other_client_through(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .read_size = 4096, .read_budget = 2 };
    static char flood[1 << 16];

    c->mode = MODE_FLOOD_SINK;
    memset(flood, 'F', sizeof(flood));
    start(c, UDS_STREAM, &o);
    int a = tu_client(&c->fx, UDS_STREAM);
    int b = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 2, 1000));
    /* Fill a's socket as far as the kernel lets it, before the server reads any of it. */
    size_t total = 0;
    for (;;) {
        ssize_t n = send(a, flood, sizeof(flood), MSG_NOSIGNAL);
        if (n <= 0)
            break;
        total += (size_t) n;
    }
    assert_true(total > 64 * 1024);
    assert_true(uds_loop_run_once(uds_server_loop(c->fx.s), 100) >= 1);
    assert_int_equal(send(b, "ping", 4, MSG_NOSIGNAL), 4);
    char buf[4];
    assert_int_equal(tu_recv_pumped(c->fx.s, b, buf, 4, 2000, NULL), 4);
    assert_memory_equal(buf, "ping", 4);
    /* b was served while most of a's backlog was still unread. */
    assert_true(c->flood_at_echo < total / 2);
    uint64_t end = tu_now_ms() + 2000;
    while (c->flood_bytes < total && tu_now_ms() < end)
        tu_run_once(c->fx.s, 10);
    assert_int_equal(c->flood_bytes, total);
}

static void server_max_conns_holds_extra_client_in_backlog(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .max_conns = 2 };
    char buf[8];

    start(c, UDS_STREAM, &o);
    int c1 = tu_client(&c->fx, UDS_STREAM);
    int c2 = tu_client(&c->fx, UDS_STREAM);
    int c3 = tu_client(&c->fx, UDS_STREAM);     /* connect succeeds: the kernel queues it */
    pump(c, 100);
    assert_int_equal(c->opens, 2);
    assert_int_equal(send(c3, "three", 5, MSG_NOSIGNAL), 5);
    assert_int_equal(tu_recv_pumped(c->fx.s, c3, buf, 5, 150, NULL), 0);
    assert_int_equal(c->opens, 2);
    tu_client_close(&c->fx, c1);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 3, 1000));
    assert_int_equal(tu_recv_pumped(c->fx.s, c3, buf, 5, 1000, NULL), 5);
    assert_memory_equal(buf, "three", 5);
    assert_int_equal(uds_server_conn_count(c->fx.s), 2);
    (void) c2;
}

static void server_idle_timeout_closes_idle_client_only(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .idle_timeout_ms = 200 };
    char buf[1];

    start(c, UDS_STREAM, &o);
    int idle = tu_client(&c->fx, UDS_STREAM);
    int active = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 2, 1000));
    uint64_t end = tu_now_ms() + 700;
    while (tu_now_ms() < end) {
        assert_int_equal(send(active, "a", 1, MSG_NOSIGNAL), 1);
        bool eof;
        assert_int_equal(tu_recv_pumped(c->fx.s, active, buf, 1, 1000, &eof), 1);
        pump(c, 40);
    }
    assert_int_equal(c->closes, 1);
    assert_int_equal(c->last_error, ETIMEDOUT);
    assert_true(tu_sees_eof(c->fx.s, idle, 100));
    assert_int_equal(uds_server_conn_count(c->fx.s), 1);
    assert_false(tu_sees_eof(c->fx.s, active, 50));
}

struct emfile_report {
    int accept_errors;
    int last_accept_error;
    long iterations;
    long cpu_ms;
};

static void stop_flag(struct uds_loop *loop, int fd, unsigned events, void *data) {
    (void) loop, (void) fd, (void) events;
    *(bool *) data = true;
}

/* Child: a server under a tiny fd limit until the parent writes to ctl. */
static void emfile_child(struct ctx *c, int ready, int ctl, int report) {
    struct rlimit rl;
    struct uds_listen_opts lo = { 0 };
    struct uds_listener l;
    bool done = false;

    alarm(20);
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 24;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || uds_listen(c->fx.path, &lo, &l, NULL) < 0)
        _exit(2);
    c->fx.s = uds_server_new(NULL, &l, NULL, &callbacks, c);
    if (!c->fx.s || uds_loop_add(uds_server_loop(c->fx.s), ctl, UDS_EV_READ, stop_flag, &done) < 0)
        _exit(3);
    if (write(ready, "r", 1) != 1)
        _exit(4);
    struct emfile_report r = { 0 };
    while (!done) {
        if (uds_loop_run_once(uds_server_loop(c->fx.s), 1000) < 0)
            _exit(5);
        r.iterations++;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
    r.accept_errors = c->accept_errors;
    r.last_accept_error = c->last_accept_error;
    if (write(report, &r, sizeof(r)) != (ssize_t) sizeof(r))
        _exit(6);
    uds_server_free(c->fx.s);
    _exit(0);
}

#define EMFILE_CLIENTS 40

static void server_emfile_sheds_clients_and_keeps_serving(void **state) {
    struct ctx *c = *state;
    int ready[2], ctl[2], report[2];
    int fds[EMFILE_CLIENTS];
    char buf[8];

    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ctl, O_CLOEXEC), 0);
    assert_int_equal(pipe2(report, O_CLOEXEC), 0);
    pid_t pid = tu_fork();
    if (pid == 0)
        emfile_child(c, ready[1], ctl[0], report[1]);
    c->fx.child = pid;
    close(ready[1]);
    close(ctl[0]);
    close(report[1]);
    assert_true(tu_wait_readable(ready[0], 5000));

    /* More clients than the server has fds for; each says something. */
    struct uds_connect_opts co = { .timeout_ms = 2000 };
    int served = 0, shed = 0;
    for (int i = 0; i < EMFILE_CLIENTS; i++) {
        fds[i] = uds_connect(c->fx.path, &co);
        assert_true(fds[i] >= 0);
        if (send(fds[i], "x", 1, MSG_NOSIGNAL) != 1) {
            /* Shed before it could speak. */
            assert_true(errno == EPIPE || errno == ECONNRESET);
            shed++;
            close(fds[i]);
            fds[i] = -1;
        }
    }
    /* Each is either served (echo) or shed (closed at once); none is left hanging. */
    for (int i = 0; i < EMFILE_CLIENTS; i++) {
        if (fds[i] < 0)
            continue;
        assert_true(tu_wait_readable(fds[i], 3000));
        ssize_t n = recv(fds[i], buf, 1, MSG_DONTWAIT);
        if (n == 1)
            served++;
        else
            shed++;
    }
    assert_true(served > 0);
    assert_true(shed > 0);
    usleep(300 * 1000);     /* a spinning server would burn this */
    for (int i = 0; i < EMFILE_CLIENTS; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    /* The server keeps working once fds are free again. */
    int fd = uds_connect(c->fx.path, &co);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, "ping", 4, MSG_NOSIGNAL), 4);
    assert_true(tu_wait_readable(fd, 3000));
    assert_int_equal(recv(fd, buf, 4, MSG_WAITALL), 4);
    assert_memory_equal(buf, "ping", 4);
    close(fd);

    assert_int_equal(write(ctl[1], "q", 1), 1);
    struct emfile_report r;
    assert_true(tu_wait_readable(report[0], 5000));
    assert_int_equal(read(report[0], &r, sizeof(r)), (ssize_t) sizeof(r));
    c->fx.child = 0;
    assert_int_equal(tu_wait_child(pid), 0);
    assert_true(r.accept_errors > 0);
    assert_int_equal(r.last_accept_error, EMFILE);
    assert_true(r.cpu_ms < 250);
    assert_true(r.iterations < 2000);
    close(ready[0]);
    close(ctl[1]);
    close(report[0]);
}

static void server_graceful_stop_finishes_inflight_and_removes_socket(void **state) {
    struct ctx *c = *state;
    struct stat st;
    char buf[8];

    start(c, UDS_STREAM, NULL);
    int a = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    int b = tu_client(&c->fx, UDS_STREAM);      /* still in the backlog when the stop begins */
    assert_int_equal(send(a, "hello", 5, MSG_NOSIGNAL), 5);
    uds_server_stop(c->fx.s, true);

    /* The socket file is gone at once: new clients cannot connect. */
    assert_int_equal(stat(c->fx.path, &st), -1);
    assert_int_equal(errno, ENOENT);
    struct uds_connect_opts co = { 0 };
    assert_int_equal(uds_connect(c->fx.path, &co), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(c->opens, 2);
    assert_false(uds_server_stopped(c->fx.s));

    /* Conversations in flight finish, the queued client included. */
    assert_int_equal(tu_recv_pumped(c->fx.s, a, buf, 5, 1000, NULL), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(send(b, "bye", 3, MSG_NOSIGNAL), 3);
    assert_int_equal(tu_recv_pumped(c->fx.s, b, buf, 3, 1000, NULL), 3);
    assert_memory_equal(buf, "bye", 3);
    assert_int_equal(shutdown(a, SHUT_WR), 0);
    assert_true(tu_sees_eof(c->fx.s, a, 1000));
    assert_false(uds_server_stopped(c->fx.s));
    assert_int_equal(shutdown(b, SHUT_WR), 0);
    assert_true(tu_sees_eof(c->fx.s, b, 1000));
    assert_true(uds_server_stopped(c->fx.s));
    assert_int_equal(uds_server_conn_count(c->fx.s), 0);
    assert_int_equal(c->closes, 2);
    assert_int_equal(c->close_errors[0], 0);
    assert_int_equal(c->close_errors[1], 0);
}

static void server_drain_timeout_forces_close(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .drain_timeout_ms = 150 };

    start(c, UDS_STREAM, &o);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    uint64_t t0 = tu_now_ms();
    uds_server_stop(c->fx.s, true);
    pump(c, 50);
    assert_false(uds_server_stopped(c->fx.s));
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 2000));
    assert_true(tu_now_ms() - t0 >= 140);
    assert_true(uds_server_stopped(c->fx.s));
    assert_int_equal(c->last_error, ETIMEDOUT);
    assert_true(tu_sees_eof(c->fx.s, fd, 100));
}

static void server_nongraceful_stop_closes_everything_now(void **state) {
    struct ctx *c = *state;
    struct stat st;

    start(c, UDS_STREAM, NULL);
    int a = tu_client(&c->fx, UDS_STREAM);
    int b = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 2, 1000));
    uds_server_stop(c->fx.s, false);
    assert_true(uds_server_stopped(c->fx.s));
    /* Again, once stopped, and on no server at all: nothing happens. */
    uds_server_stop(c->fx.s, false);
    uds_server_stop(NULL, true);
    assert_int_equal(c->closes, 2);
    assert_int_equal(c->close_errors[0], ECANCELED);
    assert_int_equal(c->close_errors[1], ECANCELED);
    assert_int_equal(stat(c->fx.path, &st), -1);
    assert_true(tu_sees_eof(c->fx.s, a, 100));
    assert_true(tu_sees_eof(c->fx.s, b, 100));
}

static void stop_server_timer(struct uds_loop *loop, uint64_t id, void *data) {
    (void) loop, (void) id;
    uds_server_stop(data, true);
}

static void server_run_returns_once_stopped(void **state) {
    struct ctx *c = *state;

    start(c, UDS_STREAM, NULL);
    assert_int_equal(uds_loop_timer_add(uds_server_loop(c->fx.s), 20, stop_server_timer, c->fx.s,
                                        NULL), 0);
    assert_int_equal(uds_server_run(c->fx.s), 0);
    assert_true(uds_server_stopped(c->fx.s));
}

static void server_close_in_on_data_is_deferred_and_flushes(void **state) {
    struct ctx *c = *state;
    char buf[8];
    bool eof;

    c->mode = MODE_CLOSE_IN_DATA;
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, "hi", 2, MSG_NOSIGNAL), 2);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, buf, sizeof(buf), 1000, &eof), 3);
    assert_memory_equal(buf, "bye", 3);
    assert_true(eof);
    assert_int_equal(c->closes, 1);
    assert_int_equal(c->closes_seen_in_data, 0);    /* on_close ran after on_data returned */
    assert_int_equal(c->send_after_close_errno, EPIPE);
    assert_int_equal(c->last_error, 0);
}

static void server_close_other_conn_from_callback(void **state) {
    struct ctx *c = *state;
    char buf[4];

    c->mode = MODE_CLOSE_OTHER;
    start(c, UDS_STREAM, NULL);
    int a = tu_client(&c->fx, UDS_STREAM);
    int b = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 2, 1000));
    assert_int_equal(send(a, "x", 1, MSG_NOSIGNAL), 1);
    assert_int_equal(tu_recv_pumped(c->fx.s, a, buf, 1, 1000, NULL), 1);
    assert_true(tu_sees_eof(c->fx.s, b, 1000));
    assert_int_equal(c->closes, 1);
    assert_int_equal(c->closes_seen_in_data, 0);
    assert_int_equal(uds_server_conn_count(c->fx.s), 1);
}

static void server_on_open_refusal_closes_without_on_close(void **state) {
    struct ctx *c = *state;

    c->refuse_open = true;
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    assert_true(tu_sees_eof(c->fx.s, fd, 1000));
    assert_int_equal(c->closes, 0);
    assert_int_equal(uds_server_conn_count(c->fx.s), 0);
}

static void server_seqpacket_echo_keeps_message_boundaries(void **state) {
    struct ctx *c = *state;
    size_t sizes[] = { 1, 0, 100, 3000, 7 };
    char out[3000], in[4096];

    start(c, UDS_SEQPACKET, NULL);
    int fd = tu_client(&c->fx, UDS_SEQPACKET);
    tu_fill(out, sizeof(out), 3);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        assert_int_equal(send(fd, out, sizes[i], MSG_NOSIGNAL), (ssize_t) sizes[i]);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ssize_t n;
        uint64_t end = tu_now_ms() + 1000;
        while ((n = recv(fd, in, sizeof(in), 0)) < 0 && errno == EAGAIN && tu_now_ms() < end)
            tu_run_once(c->fx.s, 5);
        assert_int_equal(n, (ssize_t) sizes[i]);
        assert_memory_equal(in, out, sizes[i]);
    }
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->eofs, 1);
    assert_int_equal(c->last_error, 0);
}

#define SEQ_MSGS 300
#define SEQ_SIZE 2000

static void server_seqpacket_queued_replies_keep_boundaries(void **state) {
    struct ctx *c = *state;
    char out[SEQ_SIZE], in[SEQ_SIZE + 1];
    size_t sent = 0, got = 0;

    start(c, UDS_SEQPACKET, NULL);
    int fd = tu_client(&c->fx, UDS_SEQPACKET);
    /* Far more than the socket holds: replies queue in the server, as whole messages. */
    uint64_t end = tu_now_ms() + 5000;
    while (sent < SEQ_MSGS && tu_now_ms() < end) {
        size_t len = 1 + sent % SEQ_SIZE;
        tu_fill(out, len, (unsigned) sent);
        ssize_t n = send(fd, out, len, MSG_NOSIGNAL);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            tu_run_once(c->fx.s, 5);
            continue;
        }
        assert_int_equal(n, (ssize_t) len);
        sent++;
        tu_run_once(c->fx.s, 0);
    }
    assert_int_equal(sent, SEQ_MSGS);
    while (got < SEQ_MSGS && tu_now_ms() < end) {
        ssize_t n = recv(fd, in, sizeof(in), 0);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            tu_run_once(c->fx.s, 5);
            continue;
        }
        size_t len = 1 + got % SEQ_SIZE;
        tu_fill(out, len, (unsigned) got);
        assert_int_equal(n, (ssize_t) len);
        assert_memory_equal(in, out, len);
        got++;
    }
    assert_int_equal(got, SEQ_MSGS);
}

static void server_seqpacket_oversize_message_closes_emsgsize(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .read_size = 16 };
    char out[32] = { 0 };

    start(c, UDS_SEQPACKET, &o);
    int fd = tu_client(&c->fx, UDS_SEQPACKET);
    assert_int_equal(send(fd, out, sizeof(out), MSG_NOSIGNAL), (ssize_t) sizeof(out));
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->last_error, EMSGSIZE);
    assert_true(tu_sees_eof(c->fx.s, fd, 100));
}

static void server_allow_list_denies_peer_and_closes(void **state) {
    struct ctx *c = *state;
    uid_t other = getuid() + 4242;
    struct uds_allow allow = { .uids = &other, .n_uids = 1 };
    struct uds_server_opts o = { .allow = &allow };

    start(c, UDS_STREAM, &o);
    other = getuid();   /* the server keeps its own copy of the list */
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->denies, 1, 1000));
    assert_int_equal(c->denied_uid, getuid());
    assert_int_equal(c->opens, 0);
    assert_true(tu_sees_eof(c->fx.s, fd, 1000));
    assert_int_equal(uds_server_conn_count(c->fx.s), 0);
}

static void server_allow_list_admits_listed_gid(void **state) {
    struct ctx *c = *state;
    gid_t mine = getgid();
    struct uds_allow allow = { .gids = &mine, .n_gids = 1 };
    struct uds_server_opts o = { .allow = &allow };
    char buf[2];

    start(c, UDS_STREAM, &o);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, "ok", 2, MSG_NOSIGNAL), 2);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, buf, 2, 1000, NULL), 2);
    assert_int_equal(c->denies, 0);
    assert_int_equal(c->opens, 1);
}

#define IDLE_CONNS 1000

static void server_idle_connections_cost_under_1kib_each(void **state) {
    struct ctx *c = *state;

    if (!TU_HEAP_MEASURABLE)
        skip();
    /* Both ends of every connection live in this process. */
    if (!tu_raise_fd_limit(2 * IDLE_CONNS + 64))
        skip();
    start(c, UDS_STREAM, NULL);
    size_t before = tu_heap_in_use();
    tu_clients_many(&c->fx, IDLE_CONNS);
    assert_true(tu_pump_until(c->fx.s, &c->opens, IDLE_CONNS, 5000));
    size_t per_conn = (tu_heap_in_use() - before) / IDLE_CONNS;
    print_message("# heap per idle connection: %zu bytes\n", per_conn);
    assert_true(per_conn < 1024);
}

static void server_embeds_in_callers_poll_loop(void **state) {
    struct ctx *c = *state;
    char buf[5];
    size_t got = 0;

    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, "embed", 5, MSG_NOSIGNAL), 5);
    uint64_t end = tu_now_ms() + 2000;
    while (got < 5 && tu_now_ms() < end) {
        struct pollfd p[2] = {
            { .fd = uds_server_fd(c->fx.s), .events = POLLIN },
            { .fd = fd, .events = POLLIN },
        };
        assert_true(poll(p, 2, 1000) > 0);
        if (p[0].revents & POLLIN)
            tu_run_once(c->fx.s, 0);
        if (p[1].revents & POLLIN) {
            ssize_t n = recv(fd, buf + got, 5 - got, 0);
            assert_true(n > 0);
            got += (size_t) n;
        }
    }
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "embed", 5);
}

static void server_shares_callers_loop(void **state) {
    struct ctx *c = *state;
    struct uds_loop *loop = uds_loop_new();
    char buf[3];

    assert_non_null(loop);
    tu_server_start(&c->fx, loop, UDS_STREAM, NULL, &callbacks, c);
    assert_ptr_equal(uds_server_loop(c->fx.s), loop);
    assert_int_equal(uds_server_fd(c->fx.s), uds_loop_fd(loop));
    errno = 0;
    assert_int_equal(uds_server_run(c->fx.s), -1);     /* not its loop to run */
    assert_int_equal(errno, EINVAL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, "abc", 3, MSG_NOSIGNAL), 3);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, buf, 3, 1000, NULL), 3);
    uds_server_free(c->fx.s);
    c->fx.s = NULL;
    uds_loop_free(loop);
}

static void server_new_rejects_dgram_listener(void **state) {
    struct ctx *c = *state;
    struct uds_listen_opts lo = { .type = UDS_DGRAM };
    struct uds_listener l;

    assert_true(uds_listen(c->fx.path, &lo, &l, NULL) >= 0);
    errno = 0;
    assert_null(uds_server_new(NULL, &l, NULL, &callbacks, c));
    assert_int_equal(errno, EINVAL);
    assert_true(l.fd >= 0);     /* still the caller's */
    assert_int_equal(uds_unlisten(&l), 0);
}

static void server_free_closes_connections_and_removes_socket(void **state) {
    struct ctx *c = *state;
    struct stat st;

    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    uds_server_free(c->fx.s);
    c->fx.s = NULL;
    assert_int_equal(c->closes, 1);
    assert_int_equal(c->last_error, ECANCELED);
    assert_int_equal(stat(c->fx.path, &st), -1);
    assert_int_equal(errno, ENOENT);
    char buf[1];
    assert_int_equal(recv(fd, buf, 1, 0), 0);
}

static void server_send_on_closing_conn_fails_epipe(void **state) {
    struct ctx *c = *state;

    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    struct uds_conn *conn = c->conns[0];
    assert_non_null(conn);
    assert_int_equal(uds_conn_fd(conn) >= 0, 1);
    assert_int_equal(uds_conn_peer(conn)->uid, getuid());
    assert_int_equal(uds_conn_peer(conn)->pid, getpid());
    assert_ptr_equal(uds_conn_server(conn), c->fx.s);
    uds_conn_set_data(conn, c);
    assert_ptr_equal(uds_conn_data(conn), c);
    uds_conn_close(conn, false);   /* outside any callback: closes now */
    assert_int_equal(c->closes, 1);
    assert_true(tu_sees_eof(c->fx.s, fd, 1000));
}

/* Nobody asked for the peer at accept (no allow-list, no peer_flags): it is read when first
 * asked for, after the client has gone, and is still the process that connected. */
static void server_peer_read_late_is_still_the_connecting_process(void **state) {
    struct ctx *c = *state;
    int status;

    start(c, UDS_STREAM, NULL);
    c->peer_at_close = true;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = uds_connect(c->fx.path, NULL);
        _exit(fd >= 0 && send(fd, "x", 1, MSG_NOSIGNAL) == 1 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The client has exited before the server even accepts it. */
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 2000));
    assert_int_equal(c->closed_peer.pid, pid);
    assert_int_equal(c->closed_peer.uid, getuid());
    assert_int_equal(c->closed_peer.gid, getgid());
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(server_echo_many_clients_each_get_their_bytes),
        T(server_eof_flushes_reply_then_closes),
        T(server_backpressure_bounds_queued_bytes),
        T(server_read_budget_lets_other_client_through),
        T(server_max_conns_holds_extra_client_in_backlog),
        T(server_idle_timeout_closes_idle_client_only),
        T(server_emfile_sheds_clients_and_keeps_serving),
        T(server_graceful_stop_finishes_inflight_and_removes_socket),
        T(server_drain_timeout_forces_close),
        T(server_nongraceful_stop_closes_everything_now),
        T(server_run_returns_once_stopped),
        T(server_close_in_on_data_is_deferred_and_flushes),
        T(server_close_other_conn_from_callback),
        T(server_on_open_refusal_closes_without_on_close),
        T(server_seqpacket_echo_keeps_message_boundaries),
        T(server_seqpacket_queued_replies_keep_boundaries),
        T(server_seqpacket_oversize_message_closes_emsgsize),
        T(server_allow_list_denies_peer_and_closes),
        T(server_allow_list_admits_listed_gid),
        T(server_idle_connections_cost_under_1kib_each),
        T(server_embeds_in_callers_poll_loop),
        T(server_shares_callers_loop),
        T(server_new_rejects_dgram_listener),
        T(server_free_closes_connections_and_removes_socket),
        T(server_send_on_closing_conn_fails_epipe),
        T(server_peer_read_late_is_still_the_connecting_process),
#undef T
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
