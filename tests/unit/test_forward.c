/* SPDX-License-Identifier: MIT */
/* test_forward.c — the forwarder against real destinations: a Unix and a TCP one relayed
 * both ways with half-closes; one that is not there (ENOENT, ECONNREFUSED) and one that
 * comes within the wait; a client that hangs up meanwhile let go at once, one that sent
 * and half-closed relayed; the first-byte clock counted from the hand-over, before and
 * into the relay; the PROXY header; the connected callback's drop and later/resume; fds
 * passed between Unix sides; two worker threads with twenty clients; closing and freeing
 * with forwards in every stage; bad arguments. The forwarder's own loop runs on the test's
 * thread. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define MAX_RECS 32

/* What the callbacks saw of one forward (its data). Written on the forward's loop, which
 * may be a worker's: read under the harness's lock. */
struct rec {
    struct harness *h;
    struct uds_forward *fwd;
    int connect_error;
    int relay_error;
    bool gone, silent, relayed, closed, freed;
    struct uds_relay_info info;
    struct uds_loop *relay_loop;    /* where it was relayed */
    uint64_t ended_ms;
    int later_fd;                   /* the fd a LATER answer kept, or -1 */
};

enum answer { ANSWER_RELAY, ANSWER_LATER, ANSWER_DROP };

struct harness {
    struct uds_loop *loop;
    struct uds_forwarder *fw;
    enum answer answer;
    pthread_mutex_t lock;
    struct rec recs[MAX_RECS];
    size_t n_recs;
    int freed;
    int count_calls;
    size_t last_count;
    bool count_off_owner;           /* count ran on another thread than the test's */
    pthread_t owner;
};

/* ---- callbacks ---------------------------------------------------------------------------- */

static int on_connected(struct uds_forward *fwd, int fd, void *data) {
    struct rec *r = data;

    (void) fwd;
    if (r->h->answer == ANSWER_DROP) {
        close(fd);
        errno = ELOOP;
        return -1;
    }
    if (r->h->answer == ANSWER_LATER) {
        pthread_mutex_lock(&r->h->lock);
        r->later_fd = fd;
        pthread_mutex_unlock(&r->h->lock);
        return UDS_FORWARD_LATER;
    }
    return UDS_FORWARD_RELAY;
}

static void on_connect_error(struct uds_forward *fwd, int error, void *data) {
    struct rec *r = data;

    (void) fwd;
    pthread_mutex_lock(&r->h->lock);
    r->connect_error = error;
    r->ended_ms = tu_now_ms();
    pthread_mutex_unlock(&r->h->lock);
}

static void on_relay_error(struct uds_forward *fwd, int error, void *data) {
    struct rec *r = data;

    (void) fwd;
    pthread_mutex_lock(&r->h->lock);
    r->relay_error = error;
    pthread_mutex_unlock(&r->h->lock);
}

static void on_gone(struct uds_forward *fwd, void *data) {
    struct rec *r = data;

    (void) fwd;
    pthread_mutex_lock(&r->h->lock);
    r->gone = true;
    r->ended_ms = tu_now_ms();
    pthread_mutex_unlock(&r->h->lock);
}

static void on_silent(struct uds_forward *fwd, void *data) {
    struct rec *r = data;

    (void) fwd;
    pthread_mutex_lock(&r->h->lock);
    r->silent = true;
    r->ended_ms = tu_now_ms();
    pthread_mutex_unlock(&r->h->lock);
}

static void on_relayed(struct uds_forward *fwd, void *data) {
    struct rec *r = data;
    struct uds_loop *loop = uds_forward_loop(fwd);

    pthread_mutex_lock(&r->h->lock);
    r->relayed = true;
    r->relay_loop = loop;
    pthread_mutex_unlock(&r->h->lock);
}

static void on_closed(struct uds_forward *fwd, const struct uds_relay_info *info, void *data) {
    struct rec *r = data;

    (void) fwd;
    pthread_mutex_lock(&r->h->lock);
    r->closed = true;
    r->info = *info;
    r->ended_ms = tu_now_ms();
    pthread_mutex_unlock(&r->h->lock);
}

static void on_freed(struct uds_forward *fwd, void *data) {
    struct rec *r = data;

    (void) fwd;
    pthread_mutex_lock(&r->h->lock);
    r->freed = true;
    r->fwd = NULL;
    r->h->freed++;
    pthread_mutex_unlock(&r->h->lock);
}

static void on_count(struct uds_forwarder *fwdr, size_t count, void *data) {
    struct harness *h = data;

    (void) fwdr;
    pthread_mutex_lock(&h->lock);
    h->count_calls++;
    h->last_count = count;
    if (!pthread_equal(pthread_self(), h->owner))
        h->count_off_owner = true;
    pthread_mutex_unlock(&h->lock);
}

static const struct uds_forwarder_callbacks callbacks = {
    .connected = on_connected,
    .connect_error = on_connect_error,
    .relay_error = on_relay_error,
    .client_gone = on_gone,
    .silent = on_silent,
    .relayed = on_relayed,
    .closed = on_closed,
    .freed = on_freed,
    .count = on_count,
};

/* ---- the harness -------------------------------------------------------------------------- */

static struct harness *harness_new(void) {
    struct harness *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    pthread_mutex_init(&h->lock, NULL);
    h->owner = pthread_self();
    h->loop = uds_loop_new();
    assert_non_null(h->loop);
    return h;
}

static void forwarder_start(struct harness *h, const char *dest,
                            const struct uds_forwarder_opts *opts) {
    struct uds_addr a;

    assert_int_equal(uds_addr_parse(dest, UDS_ADDR_ALLOW_TCP, &a), 0);
    h->fw = uds_forwarder_new(h->loop, &a, opts, &callbacks, h);
    assert_non_null(h->fw);
}

static void harness_free(struct harness *h) {
    uds_forwarder_free(h->fw);
    for (size_t i = 0; i < h->n_recs; i++)
        if (h->recs[i].later_fd >= 0)
            close(h->recs[i].later_fd);
    uds_loop_free(h->loop);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* A held forward with a record of its own. */
static struct rec *forward_new(struct harness *h) {
    struct rec *r;

    assert_true(h->n_recs < MAX_RECS);
    r = &h->recs[h->n_recs++];
    *r = (struct rec) { .h = h, .later_fd = -1 };
    r->fwd = uds_forward_new(h->fw, r);
    assert_non_null(r->fwd);
    return r;
}

/* A client on a socketpair: the forward gets one end, the test keeps the other
 * (non-blocking). */
static int client_started(struct harness *h, struct rec **ret_rec) {
    int sv[2];
    struct rec *r = forward_new(h);

    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_set_nonblock(sv[0], true), 0);
    assert_int_equal(uds_forward_start(r->fwd, sv[1]), 0);
    if (ret_rec)
        *ret_rec = r;
    return sv[0];
}

static bool rec_flag(struct harness *h, const bool *flag) {
    pthread_mutex_lock(&h->lock);
    bool v = *flag;
    pthread_mutex_unlock(&h->lock);
    return v;
}

static int rec_int(struct harness *h, const int *v) {
    pthread_mutex_lock(&h->lock);
    int x = *v;
    pthread_mutex_unlock(&h->lock);
    return x;
}

/* Runs the loop until *flag is set, for up to ms. */
static bool run_until(struct harness *h, const bool *flag, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    while (!rec_flag(h, flag) && tu_now_ms() < end)
        assert_true(uds_loop_run_once(h->loop, 10) >= 0);
    return rec_flag(h, flag);
}

static void run_for(struct harness *h, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    while (tu_now_ms() < end)
        assert_true(uds_loop_run_once(h->loop, 10) >= 0);
}

/* Accepts one connection on the non-blocking listener lfd, running the loop meanwhile. */
static int accept_pumped(struct harness *h, int lfd, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0)
            return fd;
        assert_int_equal(errno, EAGAIN);
        assert_true(tu_now_ms() < end);
        assert_true(uds_loop_run_once(h->loop, 10) >= 0);
    }
}

/* Reads from non-blocking fd until want bytes or the end of its stream, running the loop
 * meanwhile; returns the count, *ret_eof whether the end came. */
static size_t recv_pumped(struct harness *h, int fd, char *buf, size_t want, bool *ret_eof) {
    uint64_t end = tu_now_ms() + 5000;
    size_t got = 0;

    *ret_eof = false;
    while (tu_now_ms() < end) {
        ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            *ret_eof = true;
            return got;
        }
        if (n > 0)
            got += (size_t) n;
        if (got == want && want > 0)
            return got;
        if (n < 0)
            assert_true(uds_loop_run_once(h->loop, 10) >= 0);
    }
    return got;
}

static void expect_recv(struct harness *h, int fd, const char *text, bool then_eof) {
    char buf[256] = { 0 };
    bool eof;
    size_t len = strlen(text);

    assert_int_equal(recv_pumped(h, fd, buf, len, &eof), len);
    assert_memory_equal(buf, text, len);
    if (then_eof) {
        assert_int_equal(recv_pumped(h, fd, buf, sizeof(buf), &eof), 0);
        assert_true(eof);
    }
}

static int listen_unix(const char *path) {
    int fd = tu_bind_unix(path, SOCK_STREAM, 16);

    assert_int_equal(uds_set_nonblock(fd, true), 0);
    return fd;
}

/* A TCP listener on 127.0.0.1 and a port the kernel chose; "tcp:127.0.0.1:PORT" in text. */
static int listen_tcp(char *text, size_t size) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
    snprintf(text, size, "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

/* Bytes both ways through an established forward: the client's request and end go to the
 * server (srv), its answer and end come back. */
static void exchange(struct harness *h, int client, int srv) {
    assert_int_equal(send(client, "ping", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(shutdown(client, SHUT_WR), 0);
    expect_recv(h, srv, "ping", true);
    assert_int_equal(send(srv, "pong", 4, MSG_NOSIGNAL), 4);
    close(srv);
    expect_recv(h, client, "pong", true);
}

/* ---- relaying ----------------------------------------------------------------------------- */

static void forward_unix_relays_both_ways_with_half_close(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    int lfd = listen_unix(f->path);
    struct rec *r;

    forwarder_start(h, f->path, NULL);
    int client = client_started(h, &r);
    assert_true(rec_flag(h, &r->relayed));     /* a Unix server with room: at once */
    exchange(h, client, accept_pumped(h, lfd, 2000));
    assert_true(run_until(h, &r->freed, 2000));
    assert_true(r->closed);
    assert_int_equal(r->info.error, 0);
    assert_int_equal(r->info.bytes_from_a, 4);
    assert_int_equal(r->info.bytes_from_b, 4);
    assert_int_equal(uds_forwarder_count(h->fw), 0);
    assert_int_equal(h->last_count, 0);
    close(client);
    close(lfd);
    harness_free(h);
}

static void forward_tcp_relays_both_ways_with_half_close(void **state) {
    struct harness *h = harness_new();
    char dest[64];
    int lfd = listen_tcp(dest, sizeof(dest));
    struct rec *r;

    (void) state;
    forwarder_start(h, dest, NULL);
    int client = client_started(h, &r);
    exchange(h, client, accept_pumped(h, lfd, 2000));
    assert_true(run_until(h, &r->freed, 2000));
    assert_true(r->relayed && r->closed);
    assert_int_equal(r->info.error, 0);
    assert_int_equal(uds_forwarder_count(h->fw), 0);
    close(client);
    close(lfd);
    harness_free(h);
}

/* ---- a destination not there -------------------------------------------------------------- */

static void forward_missing_destination_connect_error_enoent(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct rec *r;

    forwarder_start(h, f->path, NULL);
    int client = client_started(h, &r);
    assert_true(run_until(h, &r->freed, 2000));
    assert_int_equal(r->connect_error, ENOENT);
    assert_false(r->relayed);
    assert_true(tu_wait_readable(client, 1000));    /* its end of stream */
    assert_int_equal(uds_forwarder_count(h->fw), 0);
    close(client);
    harness_free(h);
}

static void forward_stale_destination_connect_error_econnrefused(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    int stale = tu_bind_unix(f->path, SOCK_STREAM, -1);     /* bound, never listening */
    struct rec *r;

    forwarder_start(h, f->path, NULL);
    int client = client_started(h, &r);
    assert_true(run_until(h, &r->freed, 2000));
    assert_int_equal(r->connect_error, ECONNREFUSED);
    close(client);
    close(stale);
    harness_free(h);
}

static void forward_destination_that_comes_within_the_wait_is_relayed(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .dial.wait_ms = 3000, .dial.timeout_ms = 5000 };
    struct rec *r;

    forwarder_start(h, f->path, &opts);
    int client = client_started(h, &r);
    run_for(h, 300);
    assert_false(r->freed);
    int lfd = listen_unix(f->path);
    exchange(h, client, accept_pumped(h, lfd, 3000));
    assert_true(run_until(h, &r->freed, 2000));
    assert_true(r->closed);
    assert_int_equal(r->connect_error, 0);
    close(client);
    close(lfd);
    harness_free(h);
}

static void forward_client_hanging_up_while_waiting_is_let_go_at_once(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .dial.wait_ms = 10000, .dial.timeout_ms = 10000 };
    struct rec *r;

    forwarder_start(h, f->path, &opts);
    int client = client_started(h, &r);
    run_for(h, 100);
    uint64_t t0 = tu_now_ms();
    close(client);
    assert_true(run_until(h, &r->freed, 2000));
    assert_true(r->gone);
    assert_true(r->ended_ms - t0 < 1000);
    assert_int_equal(r->connect_error, 0);
    assert_int_equal(uds_forwarder_count(h->fw), 0);
    harness_free(h);
}

static void forward_client_half_closed_after_sending_is_relayed(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .dial.wait_ms = 5000, .dial.timeout_ms = 5000 };
    struct rec *r;

    forwarder_start(h, f->path, &opts);
    int client = client_started(h, &r);
    assert_int_equal(send(client, "ping", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(shutdown(client, SHUT_WR), 0);
    run_for(h, 300);
    assert_false(r->gone || r->freed);
    int lfd = listen_unix(f->path);
    int srv = accept_pumped(h, lfd, 3000);
    expect_recv(h, srv, "ping", true);
    assert_int_equal(send(srv, "pong", 4, MSG_NOSIGNAL), 4);
    close(srv);
    expect_recv(h, client, "pong", true);
    assert_true(run_until(h, &r->freed, 2000));
    assert_true(r->closed);
    close(client);
    close(lfd);
    harness_free(h);
}

/* ---- the first byte ----------------------------------------------------------------------- */

static void forward_silent_client_while_connecting_is_closed_in_time(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = {
        .dial.wait_ms = 10000, .dial.timeout_ms = 10000, .relay.first_byte_timeout_ms = 300,
    };
    struct rec *r;

    forwarder_start(h, f->path, &opts);
    uint64_t t0 = tu_now_ms();
    int client = client_started(h, &r);
    assert_true(run_until(h, &r->freed, 3000));
    assert_true(r->silent);
    assert_int_equal(r->connect_error, 0);
    assert_true(r->ended_ms - t0 >= 250 && r->ended_ms - t0 < 1500);
    close(client);
    harness_free(h);
}

/* Held for 300 ms, then started against a destination there at once: the relay has what
 * is left of the 400 ms (ending near 400 ms from the hand-over), not 400 ms of its own
 * (near 700). */
static void forward_relay_gets_the_rest_of_the_first_byte_time(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .relay.first_byte_timeout_ms = 400 };
    int lfd = listen_unix(f->path), sv[2];

    forwarder_start(h, f->path, &opts);
    uint64_t t0 = tu_now_ms();
    struct rec *r = forward_new(h);
    run_for(h, 300);
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_forward_start(r->fwd, sv[1]), 0);
    assert_true(r->relayed);
    assert_true(run_until(h, &r->freed, 3000));
    assert_true(r->closed);
    assert_int_equal(r->info.error, ETIMEDOUT);
    assert_int_equal(r->info.error_side, UDS_RELAY_A);
    assert_true(r->ended_ms - t0 >= 380 && r->ended_ms - t0 < 650);
    int srv = accept_pumped(h, lfd, 1000);
    close(srv);
    close(sv[0]);
    close(lfd);
    harness_free(h);
}

/* ---- what goes first to the destination --------------------------------------------------- */

static void forward_proxy_v1_header_names_the_tcp_client(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .proxy_header = 1 };
    char ltext[64], want[128], buf[128] = { 0 };
    int lfd = listen_unix(f->path), front = listen_tcp(ltext, sizeof(ltext));
    struct sockaddr_in cs, ls;
    socklen_t clen = sizeof(cs), llen = sizeof(ls);
    bool eof;

    forwarder_start(h, f->path, &opts);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(getsockname(front, (struct sockaddr *) &ls, &llen), 0);
    assert_int_equal(connect(client, (struct sockaddr *) &ls, llen), 0);
    assert_int_equal(getsockname(client, (struct sockaddr *) &cs, &clen), 0);
    struct rec *r = forward_new(h);
    assert_int_equal(uds_forward_start(r->fwd, accept_pumped(h, front, 1000)), 0);
    assert_int_equal(send(client, "data", 4, MSG_NOSIGNAL), 4);
    snprintf(want, sizeof(want), "PROXY TCP4 127.0.0.1 127.0.0.1 %u %u\r\ndata",
             ntohs(cs.sin_port), ntohs(ls.sin_port));
    int srv = accept_pumped(h, lfd, 1000);
    assert_int_equal(recv_pumped(h, srv, buf, strlen(want), &eof), strlen(want));
    assert_string_equal(buf, want);
    close(srv);
    close(client);
    assert_true(run_until(h, &r->freed, 2000));
    close(front);
    close(lfd);
    harness_free(h);
}

/* ---- the connected callback --------------------------------------------------------------- */

static void forward_connected_drop_is_a_connect_error(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    int lfd = listen_unix(f->path);
    struct rec *r;

    h->answer = ANSWER_DROP;
    forwarder_start(h, f->path, NULL);
    int client = client_started(h, &r);
    assert_true(run_until(h, &r->freed, 2000));
    assert_int_equal(r->connect_error, ELOOP);
    assert_false(r->relayed);
    int srv = accept_pumped(h, lfd, 1000);
    char c;
    assert_int_equal(recv(srv, &c, 1, 0), 0);   /* the callback closed it */
    close(srv);
    close(client);
    close(lfd);
    harness_free(h);
}

static void forward_connected_later_then_resumed_with_a_prefix(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    int lfd = listen_unix(f->path);
    struct rec *r;

    h->answer = ANSWER_LATER;
    forwarder_start(h, f->path, NULL);
    int client = client_started(h, &r);
    run_for(h, 50);
    assert_true(r->later_fd >= 0);
    assert_false(r->relayed || r->freed);
    assert_int_equal(uds_forward_set_prefix(r->fwd, "HDR:", 4), 0);
    int fd = r->later_fd;
    r->later_fd = -1;
    assert_int_equal(uds_forward_resume(r->fwd, fd), 0);
    assert_true(r->relayed);
    assert_int_equal(send(client, "ping", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(shutdown(client, SHUT_WR), 0);
    int srv = accept_pumped(h, lfd, 1000);
    expect_recv(h, srv, "HDR:ping", true);
    close(srv);
    expect_recv(h, client, "", true);
    assert_true(run_until(h, &r->freed, 2000));
    assert_true(r->closed);
    close(client);
    close(lfd);
    harness_free(h);
}

/* ---- fds ---------------------------------------------------------------------------------- */

static void forward_passes_fds_between_unix_sides(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .flags = UDS_FORWARDER_PASS_FDS };
    int lfd = listen_unix(f->path), p[2], got_fd = -1;
    char buf[8];
    size_t n_fds = 0;
    struct rec *r;

    forwarder_start(h, f->path, &opts);
    int client = client_started(h, &r);
    int srv = accept_pumped(h, lfd, 1000);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(uds_send_fds(client, "x", 1, &p[1], 1), 1);
    run_for(h, 100);
    assert_int_equal(uds_recv_fds(srv, buf, sizeof(buf), &got_fd, 1, &n_fds), 1);
    assert_int_equal(n_fds, 1);
    assert_int_equal(tu_fd_inode(got_fd), tu_fd_inode(p[1]));
    close(got_fd);
    close(p[0]);
    close(p[1]);
    close(srv);
    close(client);
    assert_true(run_until(h, &r->freed, 2000));
    close(lfd);
    harness_free(h);
}

/* ---- threads ------------------------------------------------------------------------------ */

/* An echo server in a child: one grandchild per connection, echoing until its end. */
static pid_t echo_server(const char *path) {
    int lfd = tu_bind_unix(path, SOCK_STREAM, 64);
    pid_t pid = tu_fork();

    if (pid == 0) {
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            if (fork() == 0) {
                char buf[512];
                ssize_t n;
                while ((n = recv(c, buf, sizeof(buf), 0)) > 0)
                    if (send(c, buf, (size_t) n, MSG_NOSIGNAL) != n)
                        break;
                _exit(0);
            }
            close(c);
        }
    }
    close(lfd);
    return pid;
}

static void forward_two_threads_twenty_clients_all_relayed(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .threads = 2, .thread_name = "fwtest" };
    pid_t srv = echo_server(f->path);
    int clients[20];
    struct uds_loop *loops[2] = { NULL, NULL };

    forwarder_start(h, f->path, &opts);
    for (int i = 0; i < 20; i++)
        clients[i] = client_started(h, NULL);
    assert_int_equal(uds_forwarder_count(h->fw), 20);
    for (int i = 0; i < 20; i++) {
        char msg[16], buf[16] = { 0 };
        bool eof;
        snprintf(msg, sizeof(msg), "client %02d", i);
        assert_int_equal(send(clients[i], msg, strlen(msg), MSG_NOSIGNAL),
                         (ssize_t) strlen(msg));
        assert_int_equal(recv_pumped(h, clients[i], buf, strlen(msg), &eof), strlen(msg));
        assert_string_equal(buf, msg);
    }
    for (int i = 0; i < 20; i++)
        close(clients[i]);
    uint64_t end = tu_now_ms() + 5000;
    while ((uds_forwarder_count(h->fw) > 0 || rec_int(h, &h->freed) < 20) && tu_now_ms() < end)
        assert_true(uds_loop_run_once(h->loop, 10) >= 0);
    run_for(h, 50);     /* the last wakeup */
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n_recs; i++) {
        struct rec *r = &h->recs[i];
        assert_true(r->relayed && r->closed && r->freed);
        assert_true(r->relay_loop != h->loop);
        if (!loops[0] || loops[0] == r->relay_loop)
            loops[0] = r->relay_loop;
        else
            loops[1] = r->relay_loop;
    }
    assert_non_null(loops[1]);      /* spread over both */
    assert_int_equal(h->last_count, 0);
    assert_false(h->count_off_owner);
    pthread_mutex_unlock(&h->lock);
    assert_int_equal(uds_forwarder_count(h->fw), 0);
    harness_free(h);
    tu_kill_child(srv);
}

/* ---- closing with forwards in every stage ------------------------------------------------ */

static void set_answer(struct harness *h, enum answer answer) {
    pthread_mutex_lock(&h->lock);
    h->answer = answer;
    pthread_mutex_unlock(&h->lock);
}

/* Runs the loop until r's connected callback has kept its fd. */
static void wait_later(struct harness *h, struct rec *r) {
    uint64_t end = tu_now_ms() + 3000;

    while (rec_int(h, &r->later_fd) < 0 && tu_now_ms() < end)
        assert_true(uds_loop_run_once(h->loop, 10) >= 0);
    assert_true(rec_int(h, &r->later_fd) >= 0);
}

/* Forwards to the listener lfd (backlog 0) in every stage but posted: one in the connected
 * callback's hands, one relaying, one waiting for room in the backlog (filled by hand),
 * one held. Their clients' fds and the fillers go to fds; returns how many. */
static int every_stage(struct harness *h, const char *path, int lfd, int *fds) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct rec *later, *relaying;
    int n = 0;

    set_answer(h, ANSWER_LATER);
    fds[n++] = client_started(h, &later);
    wait_later(h, later);
    fds[n++] = accept_pumped(h, lfd, 1000);
    set_answer(h, ANSWER_RELAY);
    fds[n++] = client_started(h, &relaying);
    fds[n++] = accept_pumped(h, lfd, 1000);
    assert_true(run_until(h, &relaying->relayed, 3000));
    strcpy(sa.sun_path, path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
            assert_int_equal(errno, EAGAIN);
            close(fd);
            break;
        }
        fds[n++] = fd;
    }
    fds[n++] = client_started(h, NULL);     /* waits for room */
    forward_new(h);                         /* held */
    run_for(h, 50);
    return n;
}

static void forward_close_all_ends_every_stage(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    int lfd = tu_bind_unix(f->path, SOCK_STREAM, 0), fds[16], n;

    assert_int_equal(uds_set_nonblock(lfd, true), 0);
    forwarder_start(h, f->path, NULL);
    n = every_stage(h, f->path, lfd, fds);
    assert_int_equal(uds_forwarder_count(h->fw), 4);
    assert_int_equal(h->freed, 0);
    uds_forwarder_close_all(h->fw);
    assert_int_equal(h->freed, 4);
    assert_int_equal(uds_forwarder_count(h->fw), 0);
    assert_int_equal(h->last_count, 0);
    for (size_t i = 0; i < h->n_recs; i++)
        assert_false(h->recs[i].closed);   /* closed by the caller: only freed */
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(lfd);
    harness_free(h);
}

static void forward_free_ends_every_stage_on_two_threads(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .threads = 2 };
    int lfd = tu_bind_unix(f->path, SOCK_STREAM, 0), fds[24], n;

    assert_int_equal(uds_set_nonblock(lfd, true), 0);
    forwarder_start(h, f->path, &opts);
    n = every_stage(h, f->path, lfd, fds);
    for (int i = 0; i < 4; i++)
        fds[n++] = client_started(h, NULL);     /* posted: some not run yet */
    int count_calls = rec_int(h, &h->count_calls);
    uds_forwarder_free(h->fw);
    h->fw = NULL;
    assert_int_equal(h->freed, 8);
    assert_int_equal(h->count_calls, count_calls);  /* not called while freeing */
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(lfd);
    harness_free(h);
}

/* ---- arguments ---------------------------------------------------------------------------- */

static void forward_start_without_a_client_ends_it_einval(void **state) {
    struct tu_fixture *f = *state;
    struct harness *h = harness_new();
    struct uds_forwarder_opts opts = { .threads = 2 };

    forwarder_start(h, f->path, &opts);
    struct rec *r = forward_new(h);
    assert_int_equal(uds_forwarder_count(h->fw), 1);
    errno = 0;
    assert_int_equal(uds_forward_start(r->fwd, -1), -1);
    assert_int_equal(errno, EINVAL);
    assert_true(r->freed);
    assert_int_equal(uds_forwarder_count(h->fw), 0);
    assert_int_equal(h->last_count, 0);
    harness_free(h);
}

static void forwarder_bad_arguments_einval(void **state) {
    struct tu_fixture *f = *state;
    struct uds_loop *loop = uds_loop_new();
    struct uds_addr a;
    struct uds_forwarder_opts bad_header = { .proxy_header = 3 };
    struct uds_forwarder_opts bad_name = { .threads = 2, .thread_name = "much-too-long" };

    assert_int_equal(uds_addr_parse(f->path, 0, &a), 0);
    errno = 0;
    assert_null(uds_forwarder_new(NULL, &a, NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_forwarder_new(loop, NULL, NULL, NULL, NULL));
    assert_null(uds_forwarder_new(loop, &a, &bad_header, NULL, NULL));
    assert_null(uds_forwarder_new(loop, &a, &bad_name, NULL, NULL));
    assert_int_equal(uds_forward_start(NULL, -1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_forward_resume(NULL, -1), -1);
    assert_null(uds_forward_new(NULL, NULL));
    uds_forward_close(NULL);
    uds_forwarder_free(NULL);
    assert_int_equal(uds_forwarder_count(NULL), 0);
    uds_loop_free(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(forward_unix_relays_both_ways_with_half_close),
        T(forward_tcp_relays_both_ways_with_half_close),
        T(forward_missing_destination_connect_error_enoent),
        T(forward_stale_destination_connect_error_econnrefused),
        T(forward_destination_that_comes_within_the_wait_is_relayed),
        T(forward_client_hanging_up_while_waiting_is_let_go_at_once),
        T(forward_client_half_closed_after_sending_is_relayed),
        T(forward_silent_client_while_connecting_is_closed_in_time),
        T(forward_relay_gets_the_rest_of_the_first_byte_time),
        T(forward_proxy_v1_header_names_the_tcp_client),
        T(forward_connected_drop_is_a_connect_error),
        T(forward_connected_later_then_resumed_with_a_prefix),
        T(forward_passes_fds_between_unix_sides),
        T(forward_two_threads_twenty_clients_all_relayed),
        T(forward_close_all_ends_every_stage),
        T(forward_free_ends_every_stage_on_two_threads),
        T(forward_start_without_a_client_ends_it_einval),
        T(forwarder_bad_arguments_einval),
#undef T
    };

    return cmocka_run_group_tests_name("forward", tests, NULL, NULL);
}
