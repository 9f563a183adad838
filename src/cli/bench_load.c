/* SPDX-License-Identifier: MIT */
/*
 * bench_load.c — `uds bench ADDRESS`: a load generator, one thread driving every connection
 * through epoll. For an echo server, requests come from a table of random records, so every
 * byte echoed back is checked against what was sent, in order; for another, each request is
 * the bytes given and each reply is checked as bench_reply.c tells it. Latencies go into an
 * HDR histogram. It measures and reports; it serves nothing and knows no server's internals.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_hist.h"
#include "bench_load.h"
#include "bench_spread.h"
#include "bench_util.h"
#include "cli.h"

#define MAX_EVENTS 512
#define READ_BUF (256 * 1024)
#define TABLE_BYTES (1024 * 1024)   /* the request table aims at about this size */
#define TABLE_MAX_RECORDS 251       /* prime: a record index never lines up with a pipeline */
#define IOV_BATCH 64
#define WRITE_BATCH (1024 * 1024)   /* bytes per writev, at most */
#define MMSG_BATCH 64
#define FD_MARGIN 16
#define PROGRESS_NS 1000000000ull
#define MAX_CONSECUTIVE_ERRORS 100
#define CONNECT_STEP_MS 50
#define PKT_REPLY_MAX (64 * 1024)   /* --request on packets: the largest reply, unless sized */

struct lconn {
    int fd;
    unsigned id;
    uint64_t claimed;       /* requests this connection may send: [0, claimed) */
    uint64_t tx_req;        /* the request being written ... */
    size_t tx_off;          /*   ... and how much of it is out */
    uint64_t rx_req;        /* the request whose reply is arriving ... */
    size_t rx_off;          /*   ... and how much of it came */
    uint64_t replies;       /* replies on this connection since it opened */
    uint64_t *ts;           /* send time of request k at ts[k % pipeline] */
    struct bench_reply_state rs;    /* --request: where the reply coming in is */
    uint64_t opened_ns;     /* --reconnect: when the connect began */
    bool out_armed;
};

struct load {
    const struct bench_load_args *a;
    int epfd;
    int sock_type;          /* SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM */
    bool packets;           /* seqpacket or dgram: one request, one packet */
    bool tcp;
    struct sockaddr_storage sa;     /* fast reconnects */
    socklen_t sa_len;
    bool fast_connect;      /* sa is usable (a short path, abstract, or TCP) */
    struct lconn *conns;
    uint8_t *table;         /* n_rec records of rec bytes each */
    size_t rec;             /* bytes per request on the wire: [header] + payload */
    size_t n_rec;
    uint8_t *rbuf;
    size_t rbuf_size;
    struct mmsghdr *mm;     /* packets: receive vector */
    struct iovec *mm_iov;
    size_t pkt_size;        /* packets: the largest that fits a receive buffer */
    uint64_t budget;        /* requests not yet handed to a connection */
    uint64_t completed;
    uint64_t errors;
    uint64_t connect_steps;     /* connects that slept a whole CONNECT_STEP_MS */
    unsigned consecutive_errors;
    char first_error[512];
    const char *first_advice;   /* what to do about it */
    bool failed;            /* stop: a fatal error */
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t rate_from_ns;      /* the rate counts from here (connect storms: half-way) */
    uint64_t rate_from_count;
    uint64_t deadline_ns;   /* -d */
    uint64_t last_progress_ns;  /* a reply arrived */
    uint64_t next_report_ns;
    uint64_t last_report_ns;    /* the progress line before, and the count then */
    uint64_t last_report_count;
    bool progress;          /* a progress line on stderr (a TTY) */
    struct bench_hist hist;
    struct bench_spread spread;     /* the server's threads' CPU time over the run */
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
    (void) sig;
    interrupted = 1;
}

/* ---- errors ---------------------------------------------------------------------------- */

#define ADVICE_ECHO "is it an echo server? (--framed for one in message mode; --request and " \
    "--expect for one that is not)"
#define ADVICE_REPLY "check --request and --expect, --reply-until or --reply-size against what " \
    "the server answers"
#define ADVICE_LOG "check the server's log"

__attribute__((format(printf, 3, 4)))
static void record_error(struct load *L, const char *advice, const char *fmt, ...) {
    va_list ap;

    L->errors++;
    L->consecutive_errors++;
    if (L->first_error[0])
        return;
    L->first_advice = advice;
    va_start(ap, fmt);
    vsnprintf(L->first_error, sizeof(L->first_error), fmt, ap);
    va_end(ap);
}

/* ---- the request table ----------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Records of random bytes, each with its frame header when framed: a reply that comes back
 * shifted, truncated, reordered or from another connection does not match. With --request,
 * records of its bytes: the table only saves a system call per request. */
static int build_table(struct load *L) {
    const struct bench_load_args *a = L->a;
    size_t hdr = a->framed && !L->packets ? UDS_FRAME_HEADER_SIZE : 0;
    uint64_t seed = 0x9e3779b97f4a7c15ull;

    L->rec = hdr + a->size;
    L->n_rec = L->rec ? TABLE_BYTES / L->rec : TABLE_MAX_RECORDS;
    if (L->n_rec > TABLE_MAX_RECORDS)
        L->n_rec = TABLE_MAX_RECORDS;
    if (L->n_rec < 3)
        L->n_rec = 3;
    L->table = malloc(L->n_rec * L->rec + 1);
    if (!L->table)
        return -1;
    for (size_t r = 0; r < L->n_rec; r++) {
        uint8_t *p = L->table + r * L->rec;
        if (a->request) {
            memcpy(p, a->request, a->size);
            continue;
        }
        if (hdr)
            uds_frame_header(p, (uint32_t) a->size);
        for (size_t i = hdr; i < L->rec; i++)
            p[i] = (uint8_t) (xorshift(&seed) >> 32);
    }
    return 0;
}

static size_t rec_index(const struct load *L, const struct lconn *c, uint64_t k) {
    return (size_t) ((k + (uint64_t) c->id * 7u) % L->n_rec);
}

static const uint8_t *rec_ptr(const struct load *L, const struct lconn *c, uint64_t k) {
    return L->table + rec_index(L, c, k) * L->rec;
}

/* ---- connecting ------------------------------------------------------------------------ */

static int tcp_resolve(struct load *L) {
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
    struct addrinfo *res = NULL;
    char port[8];
    int r;

    snprintf(port, sizeof(port), "%u", (unsigned) L->a->addr.port);
    r = getaddrinfo(L->a->addr.host, port, &hints, &res);
    if (r != 0 || !res) {
        errno = r == EAI_SYSTEM ? errno : EHOSTUNREACH;
        return -1;
    }
    memcpy(&L->sa, res->ai_addr, res->ai_addrlen);
    L->sa_len = res->ai_addrlen;
    freeaddrinfo(res);
    L->fast_connect = true;
    return 0;
}

/* A connected, non-blocking socket, or -1 with errno. */
static int open_conn(struct load *L) {
    const struct bench_load_args *a = L->a;
    int fd;

    if (!L->fast_connect) {
        struct uds_connect_opts o = {
            .type = a->type,
            .timeout_ms = a->timeout_ms,
            .flags = UDS_CONNECT_NONBLOCK,
        };
        return uds_connect_addr(&a->addr, &o);
    }
    /* The short way for --reconnect storms: no parsing, and a blocking connect that sleeps
     * while the backlog is full instead of polling. The sleep is cut into steps of
     * CONNECT_STEP_MS (SO_SNDTIMEO), re-armed until --timeout: in connect storms on a busy
     * machine, connects sleeping on a full backlog were seen to sleep out a whole 10 s
     * timeout; with steps, a late or missed wake-up costs one step, counted in
     * connect_stalls. */
    fd = socket(L->sa.ss_family, L->sock_type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int step = a->timeout_ms < CONNECT_STEP_MS ? a->timeout_ms : CONNECT_STEP_MS;
    struct timeval tv = { .tv_sec = step / 1000, .tv_usec = (step % 1000) * 1000 };
    uint64_t give_up = bench_now_ns() + (uint64_t) a->timeout_ms * 1000000ull;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        goto fail;
    if (L->tcp && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        goto fail;
    if (L->sock_type == SOCK_DGRAM) {
        /* Autobind, so that the server has an address to answer to. */
        struct sockaddr_un any = { .sun_family = AF_UNIX };
        if (bind(fd, (struct sockaddr *) &any, sizeof(sa_family_t)) < 0)
            goto fail;
    }
    while (connect(fd, (struct sockaddr *) &L->sa, L->sa_len) < 0) {
        if (errno == EINTR && !interrupted)
            continue;
        if (errno == EAGAIN && !L->tcp && !interrupted && bench_now_ns() < give_up) {
            L->connect_steps++;
            continue;
        }
        if (errno == EAGAIN || errno == EINPROGRESS)
            errno = ETIMEDOUT;
        goto fail;
    }
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        goto fail;
    return fd;
fail:
    {
        int e = errno;
        (void) close(fd);
        errno = e;
    }
    return -1;
}

static int prepare_address(struct load *L) {
    const struct bench_load_args *a = L->a;

    L->tcp = a->addr.kind == UDS_ADDR_TCP;
    L->sock_type = L->tcp ? SOCK_STREAM : uds_socket_type_to_sock(a->type);
    L->packets = L->sock_type != SOCK_STREAM;
    if (L->tcp)
        return tcp_resolve(L);
    struct sockaddr_un sun;
    socklen_t len;
    /* A path too long for sun_path goes through uds_connect() every time. */
    if (uds_addr_to_sockaddr(&a->addr, &sun, &len) == 0) {
        memcpy(&L->sa, &sun, len);
        L->sa_len = len;
        L->fast_connect = true;
    }
    return 0;
}

/* ---- per-connection state -------------------------------------------------------------- */

static void conn_reset(struct lconn *c) {
    c->claimed = c->tx_req = c->rx_req = c->replies = 0;
    c->tx_off = c->rx_off = 0;
    c->rs = (struct bench_reply_state) { 0 };
    c->out_armed = false;
}

static int watch(struct load *L, struct lconn *c, int op) {
    struct epoll_event ev = {
        .events = EPOLLIN | (c->out_armed ? EPOLLOUT : 0u),
        .data.ptr = c,
    };
    return epoll_ctl(L->epfd, op, c->fd, &ev);
}

static void conn_close(struct load *L, struct lconn *c) {
    /* Requests handed out and never answered go back to the budget (-n). */
    if (L->a->requests)
        L->budget += c->claimed - c->rx_req;
    if (c->fd >= 0)
        (void) close(c->fd);    /* also leaves the epoll set: nothing else holds the file */
    c->fd = -1;
    conn_reset(c);
}

static int conn_open(struct load *L, struct lconn *c) {
    conn_reset(c);
    c->opened_ns = bench_now_ns();
    c->fd = open_conn(L);
    if (c->fd < 0)
        return -1;
    if (watch(L, c, EPOLL_CTL_ADD) < 0) {
        int e = errno;
        conn_close(L, c);
        errno = e;
        return -1;
    }
    return 0;
}

static bool running(const struct load *L) {
    return !L->failed && !interrupted;
}

/* Hand out requests: keep `pipeline` in flight while the budget lasts. */
static void claim(struct load *L, struct lconn *c) {
    const struct bench_load_args *a = L->a;

    if ((a->reconnect && c->claimed > 0) || !running(L))
        return;
    uint64_t want = (a->reconnect ? 1 : c->rx_req + a->pipeline) - c->claimed;
    if (want > L->budget)
        want = L->budget;
    L->budget -= want;
    c->claimed += want;
}

/* ---- sending --------------------------------------------------------------------------- */

static void set_out(struct load *L, struct lconn *c, bool on) {
    if (c->out_armed == on)
        return;
    c->out_armed = on;
    if (watch(L, c, EPOLL_CTL_MOD) < 0)
        record_error(L, ADVICE_LOG, "epoll_ctl: %s", strerror(errno));
}

/* Advance the stream send position by n bytes, stamping requests as their first byte goes. */
static void tx_advance(const struct load *L, struct lconn *c, size_t n, uint64_t now) {
    size_t pipeline = L->a->pipeline;

    while (n > 0) {
        if (c->tx_off == 0)
            c->ts[c->tx_req % pipeline] = now;
        size_t left = L->rec - c->tx_off;
        if (n < left) {
            c->tx_off += n;
            return;
        }
        n -= left;
        c->tx_off = 0;
        c->tx_req++;
    }
}

/* One batch of the claimed requests not yet sent, in one send() or sendmsg(). Returns 1
 * when all of it went, 0 when part of it did (the socket is full), -1 on an error (errno;
 * EAGAIN when the socket took none). */
static int send_stream(struct load *L, struct lconn *c) {
    struct iovec iov[IOV_BATCH];
    int n = 0;
    size_t total = 0, off = c->tx_off;
    uint64_t k = c->tx_req;

    /* Consecutive requests are consecutive records: one iovec per run of the table. */
    while (k < c->claimed && n < IOV_BATCH && total < WRITE_BATCH) {
        size_t r = rec_index(L, c, k);
        uint64_t run = c->claimed - k;
        if (run > L->n_rec - r)
            run = L->n_rec - r;
        iov[n].iov_base = L->table + r * L->rec + off;
        iov[n].iov_len = (size_t) run * L->rec - off;
        total += iov[n].iov_len;
        n++;
        k += run;
        off = 0;
    }
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t) n };
    uint64_t now = bench_now_ns();
    /* One run of the table is the usual case: send() skips the kernel's copy of a
     * msghdr and its iovec array (bench/send_cost.c prices that difference). */
    ssize_t w = n == 1 ? send(c->fd, iov[0].iov_base, iov[0].iov_len,
                              MSG_NOSIGNAL | MSG_DONTWAIT)
                       : sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0)
        return -1;
    tx_advance(L, c, (size_t) w, now);
    return (size_t) w == total;
}

/* One batch of the claimed requests not yet sent, a datagram each, in one sendmmsg().
 * Returns as send_stream(). */
static int send_packets(struct load *L, struct lconn *c) {
    size_t pipeline = L->a->pipeline;
    struct mmsghdr mm[MMSG_BATCH];
    struct iovec iov[MMSG_BATCH];
    unsigned n = 0;

    for (uint64_t k = c->tx_req; k < c->claimed && n < MMSG_BATCH; k++, n++) {
        iov[n] = (struct iovec) { .iov_base = (void *) rec_ptr(L, c, k), .iov_len = L->rec };
        mm[n] = (struct mmsghdr) { .msg_hdr = { .msg_iov = &iov[n], .msg_iovlen = 1 } };
    }
    uint64_t now = bench_now_ns();
    int w = sendmmsg(c->fd, mm, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0)
        return -1;
    for (int i = 0; i < w; i++)
        c->ts[(c->tx_req++) % pipeline] = now;
    return (unsigned) w == n;
}

/* Sends the claimed requests until all are sent, or the socket is full: then waits for
 * EPOLLOUT. Returns -1 when the connection failed (the caller handles it). */
static int send_claimed(struct load *L, struct lconn *c) {
    while (c->tx_req < c->claimed) {
        int r = L->packets ? send_packets(L, c) : send_stream(L, c);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (r <= 0) {
            set_out(L, c, true);
            return 0;
        }
    }
    set_out(L, c, false);
    return 0;
}

/* ---- receiving ------------------------------------------------------------------------- */

static void complete(struct load *L, struct lconn *c, uint64_t now) {
    uint64_t sent = L->a->reconnect ? c->opened_ns : c->ts[c->rx_req % L->a->pipeline];

    bench_hist_record(&L->hist, now - sent);
    c->rx_req++;
    c->replies++;
    L->completed++;
    L->consecutive_errors = 0;
    L->last_progress_ns = now;
}

/* Returns -1 on a mismatch (recorded). */
static int check_stream(struct load *L, struct lconn *c, const uint8_t *p, size_t n,
                        uint64_t now) {
    uint64_t rx_pos = c->rx_req * L->rec + c->rx_off;
    uint64_t tx_pos = c->tx_req * L->rec + c->tx_off;

    if (rx_pos + n > tx_pos) {
        record_error(L, ADVICE_ECHO, "connection %u got %llu bytes more than it sent", c->id,
                     (unsigned long long) (rx_pos + n - tx_pos));
        return -1;
    }
    while (n > 0) {
        const uint8_t *want = rec_ptr(L, c, c->rx_req) + c->rx_off;
        size_t take = L->rec - c->rx_off;
        if (take > n)
            take = n;
        if (memcmp(want, p, take) != 0) {
            size_t i = 0;
            while (want[i] == p[i])
                i++;
            record_error(L, ADVICE_ECHO, "reply %llu on connection %u differs from the "
                         "request at byte %zu (sent 0x%02x, got 0x%02x)",
                         (unsigned long long) c->replies + 1, c->id, c->rx_off + i, want[i],
                         p[i]);
            return -1;
        }
        c->rx_off += take;
        p += take;
        n -= take;
        if (c->rx_off == L->rec) {
            c->rx_off = 0;
            complete(L, c, now);
        }
    }
    return 0;
}

/* --request: cut the stream into replies, each checked as it comes. A byte that comes
 * while no request is out is no reply. Returns -1 on a wrong reply (recorded). */
static int check_replies(struct load *L, struct lconn *c, const uint8_t *p, size_t n,
                         uint64_t now) {
    char why[400];

    while (n > 0) {
        bool done;
        if (c->rx_req >= c->tx_req + (c->tx_off > 0)) {
            record_error(L, ADVICE_REPLY, "connection %u got %zu bytes while no request was "
                         "out: %s", c->id, n, bench_bytes_text(p, n, 40, true, why, sizeof(why)));
            return -1;
        }
        ssize_t used = bench_reply_feed(L->a->reply, &c->rs, p, n, &done, why, sizeof(why));
        if (used < 0) {
            record_error(L, ADVICE_REPLY, "reply %llu on connection %u %s",
                         (unsigned long long) c->replies + 1, c->id, why);
            return -1;
        }
        p += used;
        n -= (size_t) used;
        if (done)
            complete(L, c, now);
    }
    return 0;
}

/* After a receive call failed (not interrupted): 0 when nothing waits, else -1 (recorded). */
static int recv_failed(struct load *L, const struct lconn *c) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
    record_error(L, ADVICE_LOG, "connection %u: %s", c->id, strerror(errno));
    return -1;
}

/* Read what is there. Returns 1 when the peer closed, 0, or -1 on an error (recorded). */
static int recv_stream(struct load *L, struct lconn *c) {
    for (;;) {
        ssize_t n = recv(c->fd, L->rbuf, L->rbuf_size, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return recv_failed(L, c);
        if (n == 0)
            return 1;
        if ((L->a->request ? check_replies : check_stream)(L, c, L->rbuf, (size_t) n,
                                                            bench_now_ns()) < 0)
            return -1;
        /* A short read emptied the socket: skip the EAGAIN round trip. */
        if ((size_t) n < L->rbuf_size)
            return 0;
    }
}

/* Whether a packet is the reply to c's next request: the request's bytes echoed, or with
 * --request the reply as bench_reply_packet() tells it. Records the error if not. */
static bool packet_ok(struct load *L, const struct lconn *c, const struct mmsghdr *m) {
    const uint8_t *p = m->msg_hdr.msg_iov[0].iov_base;
    size_t len = m->msg_len;
    char why[400];

    if (m->msg_hdr.msg_flags & MSG_TRUNC) {
        record_error(L, L->a->request ? ADVICE_REPLY : ADVICE_ECHO, "reply %llu on connection "
                     "%u is over %zu bytes", (unsigned long long) c->replies + 1, c->id,
                     L->pkt_size);
        return false;
    }
    if (L->a->request) {
        if (bench_reply_packet(L->a->reply, p, len, why, sizeof(why)))
            return true;
        record_error(L, ADVICE_REPLY, "reply %llu on connection %u %s",
                     (unsigned long long) c->replies + 1, c->id, why);
        return false;
    }
    if (len == L->rec && memcmp(p, rec_ptr(L, c, c->rx_req), L->rec) == 0)
        return true;
    record_error(L, ADVICE_ECHO, "reply %llu on connection %u differs from the request (%zu "
                 "bytes sent, %zu back)", (unsigned long long) c->replies + 1, c->id, L->rec,
                 len);
    return false;
}

static int recv_packets(struct load *L, struct lconn *c) {
    for (;;) {
        unsigned want = MMSG_BATCH;
        for (unsigned i = 0; i < want; i++) {
            L->mm[i].msg_hdr = (struct msghdr) { .msg_iov = &L->mm_iov[i], .msg_iovlen = 1 };
            L->mm[i].msg_len = 0;
        }
        int n = recvmmsg(c->fd, L->mm, want, MSG_DONTWAIT, NULL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return recv_failed(L, c);
        uint64_t now = bench_now_ns();
        for (int i = 0; i < n; i++) {
            size_t len = L->mm[i].msg_len;
            /* Requests are never empty: an empty read on seqpacket is the end. */
            if (len == 0 && L->sock_type == SOCK_SEQPACKET)
                return 1;
            if (c->rx_req >= c->tx_req) {
                record_error(L, L->a->request ? ADVICE_REPLY : ADVICE_ECHO, "connection %u "
                             "got a packet it did not ask for", c->id);
                return -1;
            }
            if (!packet_ok(L, c, &L->mm[i]))
                return -1;
            complete(L, c, now);
        }
        if ((unsigned) n < want)
            return 0;
    }
}

/* ---- the loop -------------------------------------------------------------------------- */

/* Put a connection back in service after it failed or (--reconnect) finished; false when
 * it stays closed. */
static bool reopen(struct load *L, struct lconn *c) {
    conn_close(L, c);
    while (running(L) && L->budget > 0) {
        if (L->consecutive_errors >= MAX_CONSECUTIVE_ERRORS) {
            L->failed = true;
            break;
        }
        if (conn_open(L, c) == 0)
            return true;
        record_error(L, ADVICE_LOG, "connecting: %s", strerror(errno));
    }
    return false;
}

static void pump(struct load *L, struct lconn *c) {
    claim(L, c);
    if (send_claimed(L, c) < 0) {
        record_error(L, ADVICE_LOG, "connection %u: sending: %s", c->id, strerror(errno));
        if (reopen(L, c))
            pump(L, c);
    }
}

static void on_event(struct load *L, struct lconn *c, uint32_t events) {
    if (events & EPOLLIN || events & (EPOLLHUP | EPOLLERR)) {
        int r = L->packets ? recv_packets(L, c) : recv_stream(L, c);
        bool done = L->a->reconnect && c->rx_req == c->claimed && c->claimed > 0;
        if (r == 1 && !done)
            record_error(L, ADVICE_LOG, "the server closed connection %u with %llu of its "
                         "requests unanswered", c->id, (unsigned long long) (c->tx_req - c->rx_req +
                                                                   (c->tx_off > 0)));
        if (r != 0 || done) {
            if (reopen(L, c))
                pump(L, c);
            return;
        }
    }
    pump(L, c);
}

static void report_progress(struct load *L, uint64_t now, bool last) {
    char rate[32], done[32];
    double secs = (double) (now - L->start_ns) / 1e9;
    double since = (double) (now - L->last_report_ns) / 1e9;

    if (!L->progress)
        return;
    if (last) {
        fputs("\r\033[K", stderr);
        return;
    }
    /* The rate of the last interval: a server slowing down shows at once. */
    fprintf(stderr, "\r\033[K%.0f s: %s requests, %s/s now, %llu errors", secs,
            bench_fmt_count((double) L->completed, done, sizeof(done)),
            bench_fmt_count(since > 0 ? (double) (L->completed - L->last_report_count) / since
                                      : 0, rate, sizeof(rate)),
            (unsigned long long) L->errors);
    L->last_report_ns = now;
    L->last_report_count = L->completed;
}

/* A connection storm of empty connections needs no loop: connect, close, count. A Unix
 * connect() returns as soon as the connection is queued in the server's backlog, so the
 * first few thousand cost the server nothing yet; only once the backlog is full does each
 * connect wait for an accept. The rate is therefore taken over the second half of the run,
 * when the client goes at the server's pace (or at its own, if that is slower). */
static void run_connect_only(struct load *L) {
    const struct bench_load_args *a = L->a;
    struct lconn *c = &L->conns[0];
    uint64_t half = a->duration_ms ? L->start_ns + (uint64_t) a->duration_ms * 500000ull : 0;

    while (running(L) && L->budget > 0) {
        uint64_t t0 = bench_now_ns();
        int fd = open_conn(L);
        if (fd < 0) {
            record_error(L, ADVICE_LOG, "connecting: %s", strerror(errno));
            if (L->consecutive_errors >= MAX_CONSECUTIVE_ERRORS)
                L->failed = true;
            continue;
        }
        (void) close(fd);
        L->budget--;
        c->opened_ns = t0;
        complete(L, c, bench_now_ns());
        uint64_t now = L->last_progress_ns;
        if (!L->rate_from_ns &&
            (half ? now >= half : L->completed >= (a->requests + 1) / 2)) {
            L->rate_from_ns = now;
            L->rate_from_count = L->completed;
        }
        if (L->deadline_ns && now >= L->deadline_ns)
            break;
        if (now >= L->next_report_ns) {
            report_progress(L, now, false);
            L->next_report_ns = now + PROGRESS_NS;
        }
    }
    L->end_ns = bench_now_ns();
}

static void run_loop(struct load *L) {
    const struct bench_load_args *a = L->a;
    struct epoll_event ev[MAX_EVENTS];

    for (size_t i = 0; i < a->conns; i++)
        if (L->conns[i].fd >= 0)
            pump(L, &L->conns[i]);
    for (;;) {
        uint64_t now = bench_now_ns();
        if (!running(L))
            break;
        if (a->requests && L->completed >= a->requests)
            break;
        if (L->deadline_ns && now >= L->deadline_ns)
            break;
        if (now - L->last_progress_ns > (uint64_t) a->timeout_ms * 1000000ull) {
            record_error(L, a->request ? "raise --timeout if it is only slow" :
                         "raise --timeout if it is only slow; for a server that is not an "
                         "echo server, give --request and --expect", "no reply for %d ms; the "
                         "server may be stuck (--timeout)", a->timeout_ms);
            L->failed = true;
            break;
        }
        if (now >= L->next_report_ns) {
            report_progress(L, now, false);
            L->next_report_ns = now + PROGRESS_NS;
        }
        uint64_t wake = L->next_report_ns;
        if (L->deadline_ns && L->deadline_ns < wake)
            wake = L->deadline_ns;
        int timeout = (int) ((wake - now + 999999) / 1000000);
        int n = epoll_wait(L->epfd, ev, MAX_EVENTS, timeout > 0 ? timeout : 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            record_error(L, ADVICE_LOG, "epoll_wait: %s", strerror(errno));
            L->failed = true;
            break;
        }
        for (int i = 0; i < n; i++)
            on_event(L, ev[i].data.ptr, ev[i].events);
    }
    L->end_ns = bench_now_ns();
}

/* ---- setup and report ------------------------------------------------------------------- */

static int raise_nofile(size_t need) {
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);   /* checked just below */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -1;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        cli_error(NULL, "raise the limit (ulimit -n) or use fewer connections",
                  "-c %zu needs about %zu open files; the limit is %llu", need - FD_MARGIN,
                  need, (unsigned long long) rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* Nanoseconds this thread spent waiting for a CPU while runnable (the second field of
 * /proc/self/schedstat), or -1: how much the rest of the machine got in the way. */
static double wait_ns(void) {
    FILE *f = fopen("/proc/thread-self/schedstat", "re");
    unsigned long long run, wait;
    int n;

    if (!f)
        return -1;
    n = fscanf(f, "%llu %llu", &run, &wait);
    fclose(f);
    return n == 2 ? (double) wait : -1;
}

static double cpu_seconds(void) {
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
           (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

static void json_str(const char *s) {
    cli_json_string(stdout, s, strlen(s));
}

/* What was measured, for both forms of the report. */
struct figures {
    double secs, rps, mbps, cpu_pct, waited;    /* waited: ns, or -1 unknown */
    const char *type;
};

static struct figures figures_of(const struct load *L, double cpu, double waited) {
    const struct bench_load_args *a = L->a;
    struct figures f = { .secs = (double) (L->end_ns - L->start_ns) / 1e9, .waited = waited };

    f.rps = f.secs > 0 ? (double) L->completed / f.secs : 0;
    if (L->rate_from_ns && L->end_ns > L->rate_from_ns)
        f.rps = (double) (L->completed - L->rate_from_count) /
                ((double) (L->end_ns - L->rate_from_ns) / 1e9);
    f.mbps = f.rps * (double) a->size / 1e6;
    f.cpu_pct = f.secs > 0 ? 100.0 * cpu / f.secs : 0;
    f.type = L->tcp ? "tcp" : uds_socket_type_name(a->type);
    return f;
}

/* --request: what was sent and how each reply was told, as JSON members. */
static void json_request(const struct bench_load_args *a) {
    static const char *const kinds[] = {
        [BENCH_REPLY_EXACT] = "exact", [BENCH_REPLY_UNTIL] = "until",
        [BENCH_REPLY_SIZE] = "size",
    };

    printf("\"request\":");
    cli_json_string(stdout, (const char *) a->request, a->size);
    printf(",\"reply\":{\"kind\":\"%s\",", kinds[a->reply->kind]);
    if (a->reply->kind == BENCH_REPLY_SIZE) {
        printf("\"size\":%zu},", a->reply->size);
    } else {
        printf("\"bytes\":");
        cli_json_string(stdout, (const char *) a->reply->bytes, a->reply->len);
        printf("},");
    }
}

/* A latency in microseconds; null when nothing was measured, for 0 would be a figure. */
static void json_us(const char *name, uint64_t ns, bool any, bool last) {
    if (any)
        printf("\"%s\":%.3f%s", name, (double) ns / 1e3, last ? "" : ",");
    else
        printf("\"%s\":null%s", name, last ? "" : ",");
}

/* A thread's CPU time in percent of one CPU over the run. */
static double cpu_percent(uint64_t ticks, double secs) {
    long hz = sysconf(_SC_CLK_TCK);

    return hz > 0 && secs > 0 ? 100.0 * (double) ticks / (double) hz / secs : 0;
}

static void json_spread(const struct bench_spread *sp, double secs) {
    if (!sp->pid)
        return;
    printf(",\"server\":{\"pid\":%d,\"name\":", (int) sp->pid);
    json_str(sp->name);
    printf(",\"cpu_percent\":%.1f,\"threads\":[", secs > 0 ? 100.0 * sp->cpu_s / secs : 0);
    for (size_t i = 0; i < sp->n; i++) {
        printf("%s{\"tid\":%d,\"name\":", i ? "," : "", (int) sp->threads[i].tid);
        json_str(sp->threads[i].name);
        printf(",\"cpu_percent\":%.1f}", cpu_percent(sp->threads[i].ticks, secs));
    }
    if (sp->busiest_over_least > 0)
        printf("],\"busy_threads\":%zu,\"busiest_over_least\":%.2f}", sp->n_busy,
               sp->busiest_over_least);
    else
        printf("],\"busy_threads\":%zu,\"busiest_over_least\":null}", sp->n_busy);
}

/* Where the server is known: its CPU, and how its busy threads shared it. */
static void print_spread(const struct bench_spread *sp, double secs) {
    if (!sp->pid)
        return;
    printf("  server       pid %d (%s) used %.0f%% of a CPU", (int) sp->pid, sp->name,
           secs > 0 ? 100.0 * sp->cpu_s / secs : 0);
    if (sp->n_busy < 2) {
        printf("%s\n", sp->n > 1 ? ", one thread doing the work" : "");
        return;
    }
    printf(", %zu threads doing the work:", sp->n_busy);
    for (size_t i = 0; i < sp->n; i++) {
        if ((double) sp->threads[i].ticks >= BENCH_SPREAD_BUSY * sp->cpu_s *
                                                 (double) sysconf(_SC_CLK_TCK))
            printf(" %.0f%%", cpu_percent(sp->threads[i].ticks, secs));
    }
    printf(" (busiest/least busy %.2f)\n", sp->busiest_over_least);
}

static void print_json(const struct load *L, const struct figures *f) {
    const struct bench_load_args *a = L->a;
    const struct bench_hist *h = &L->hist;
    bool any = h->count > 0;

    printf("{\"address\":");
    json_str(a->address);
    printf(",\"type\":\"%s\",\"framed\":%s,\"reconnect\":%s,\"connections\":%zu,"
           "\"pipeline\":%zu,\"size\":%zu,", f->type, a->framed ? "true" : "false",
           a->reconnect ? "true" : "false", a->conns, a->pipeline, a->size);
    if (a->request)
        json_request(a);
    printf("\"duration_s\":%.3f,\"requests\":%llu,\"requests_per_s\":%.1f,\"mb_per_s\":%.3f,"
           "\"errors\":%llu,", f->secs, (unsigned long long) L->completed, f->rps, f->mbps,
           (unsigned long long) L->errors);
    if (a->reconnect)
        printf("\"connections_per_s\":%.1f,", f->rps);
    printf("\"latency_us\":{");
    json_us("min", h->min, any, false);
    json_us("p50", bench_hist_percentile(h, 50), any, false);
    json_us("p90", bench_hist_percentile(h, 90), any, false);
    json_us("p99", bench_hist_percentile(h, 99), any, false);
    json_us("p999", bench_hist_percentile(h, 99.9), any, false);
    json_us("max", h->max, any, false);
    json_us("mean", (uint64_t) bench_hist_mean(h), any, true);
    printf("},\"client_cpu_percent\":%.1f", f->cpu_pct);
    if (f->waited >= 0)
        printf(",\"client_wait_percent\":%.1f",
               f->secs > 0 ? f->waited / 1e9 / f->secs * 100 : 0);
    if (a->reconnect)
        printf(",\"connect_stalls\":%llu", (unsigned long long) L->connect_steps);
    if (L->first_error[0]) {
        printf(",\"first_error\":");
        json_str(L->first_error);
    }
    json_spread(&L->spread, f->secs);
    printf("}\n");
}

/* The first line: the address, and what each request is. */
static void print_heading(const struct load *L, const struct figures *f) {
    const struct bench_load_args *a = L->a;
    char sz[32], req[200], rep[200];
    bool storm = a->reconnect && a->size == 0;

    const char *what = a->request
                       ? bench_bytes_text(a->request, a->size, 40, false, req, sizeof(req))
                       : bench_fmt_size(a->size, sz, sizeof(sz));

    printf("uds bench: %s: %s%s, ", a->address, f->type, a->framed ? " framed" : "");
    if (storm)
        printf("connect and close, one at a time\n");
    else if (a->reconnect)
        printf("a new connection for each %s request, %zu at a time", what, a->conns);
    else
        printf("%zu connection%s x pipeline %zu, %s requests", a->conns,
               a->conns == 1 ? "" : "s", a->pipeline, what);
    if (a->request)
        printf(", replies %s", bench_reply_text(a->reply, rep, sizeof(rep)));
    if (!storm)
        printf("\n");
}

static void print_text(const struct load *L, const struct figures *f) {
    const struct bench_load_args *a = L->a;
    const struct bench_hist *h = &L->hist;
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    bool storm = a->reconnect && a->size == 0;

    print_heading(L, f);
    printf("  %-12s %s in %.2f s, %s, %llu error%s\n", storm ? "connections" : "requests",
           bench_fmt_count((double) L->completed, b1, sizeof(b1)), f->secs,
           storm ? "nothing sent" : "every reply checked", (unsigned long long) L->errors,
           L->errors == 1 ? "" : "s");
    if (storm)
        printf("  throughput   %s connections/s (steady state: the second half of the run)\n",
               bench_fmt_count(f->rps, b1, sizeof(b1)));
    else
        printf("  throughput   %s %s/s, %.1f MB/s each way\n",
               bench_fmt_count(f->rps, b1, sizeof(b1)),
               a->reconnect ? "connections" : "requests", f->mbps);
    if (h->count == 0)
        printf("  latency us   none: no reply came\n");
    else
        printf("  latency us   p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
               bench_fmt_us(bench_hist_percentile(h, 50), b1, sizeof(b1)),
               bench_fmt_us(bench_hist_percentile(h, 90), b2, sizeof(b2)),
               bench_fmt_us(bench_hist_percentile(h, 99), b3, sizeof(b3)),
               bench_fmt_us(bench_hist_percentile(h, 99.9), b4, sizeof(b4)),
               bench_fmt_us(h->max, b5, sizeof(b5)),
               bench_fmt_us((uint64_t) bench_hist_mean(h), b6, sizeof(b6)));
    printf("  load         this generator used %.0f%% of a CPU%s", f->cpu_pct,
           f->cpu_pct > 90 ? ": it may be the bottleneck; give it a core of its own" : "");
    if (f->waited >= 0 && f->secs > 0 && f->waited / 1e9 / f->secs > 0.03)
        printf("; it waited for a CPU %.0f%% of the time: other work disturbed the run",
               f->waited / 1e9 / f->secs * 100);
    printf("\n");
    print_spread(&L->spread, f->secs);
}

static void print_report(const struct load *L, double cpu, double waited) {
    struct figures f = figures_of(L, cpu, waited);

    if (L->a->json)
        print_json(L, &f);
    else
        print_text(L, &f);
}

static void load_free(struct load *L) {
    if (L->conns) {
        for (size_t i = 0; i < L->a->conns; i++) {
            if (L->conns[i].fd >= 0)
                (void) close(L->conns[i].fd);
            free(L->conns[i].ts);
        }
    }
    free(L->conns);
    if (L->mm_iov)
        free(L->mm_iov[0].iov_base);
    free(L->mm_iov);
    free(L->mm);
    free(L->rbuf);
    free(L->table);
    if (L->epfd >= 0)
        (void) close(L->epfd);
}

/* The receive vector for packets: room for the echo of a request and one byte more, to
 * see a longer one (MSG_TRUNC); with --request, for any reply up to PKT_REPLY_MAX. */
static int setup_packets(struct load *L) {
    const struct bench_load_args *a = L->a;
    size_t room = L->rec;

    if (a->request) {
        room = a->reply->kind == BENCH_REPLY_SIZE ? a->reply->size : PKT_REPLY_MAX;
        if (room < a->reply->len)
            room = a->reply->len;
    }
    L->pkt_size = room;
    L->mm = calloc(MMSG_BATCH, sizeof(*L->mm));
    L->mm_iov = calloc(MMSG_BATCH, sizeof(*L->mm_iov));
    uint8_t *space = L->mm_iov ? malloc(MMSG_BATCH * (room + 1)) : NULL;
    if (!L->mm || !space)
        return -1;
    for (size_t i = 0; i < MMSG_BATCH; i++)
        L->mm_iov[i] = (struct iovec) { .iov_base = space + i * (room + 1), .iov_len = room + 1 };
    return 0;
}

/* Returns CLI_CONTINUE once the connections are open, else the exit code (reported). */
static int setup(struct load *L) {
    const struct bench_load_args *a = L->a;

    if (prepare_address(L) < 0)
        return cli_fail(CLI_OP_CONNECT, a->address, errno, NULL);
    if (raise_nofile(a->conns + FD_MARGIN) < 0)
        return CLI_EXIT_FAILURE;
    L->epfd = epoll_create1(EPOLL_CLOEXEC);
    L->conns = calloc(a->conns, sizeof(*L->conns));
    L->rbuf_size = READ_BUF;
    L->rbuf = malloc(L->rbuf_size);
    if (L->epfd < 0 || !L->conns || !L->rbuf || build_table(L) < 0)
        return cli_fail(CLI_OP_ANY, a->address, errno, NULL);
    if (L->packets && setup_packets(L) < 0)
        return cli_fail(CLI_OP_ANY, a->address, ENOMEM, NULL);
    for (size_t i = 0; i < a->conns; i++) {
        struct lconn *c = &L->conns[i];
        c->fd = -1;
        c->id = (unsigned) i;
        c->ts = calloc(a->pipeline, sizeof(*c->ts));
        if (!c->ts)
            return cli_fail(CLI_OP_ANY, a->address, ENOMEM, NULL);
    }
    /* One connection first, with the full error message if the server is not there; with
     * --reconnect and empty requests the storm itself makes every connection. */
    size_t open_now = a->reconnect && a->size == 0 ? 0 : a->conns;
    for (size_t i = 0; i < open_now; i++) {
        if (conn_open(L, &L->conns[i]) < 0)
            return cli_fail(CLI_OP_CONNECT, a->address, errno, NULL);
    }
    if (open_now == 0) {
        int fd = open_conn(L);
        if (fd < 0)
            return cli_fail(CLI_OP_CONNECT, a->address, errno, NULL);
        (void) close(fd);
    }
    return CLI_CONTINUE;
}

int bench_load_run(const struct bench_load_args *a) {
    struct load L = { .a = a, .epfd = -1 };
    struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;
    int code;

    bench_hist_init(&L.hist);
    if (a->cpu >= 0 && bench_pin(a->cpu) < 0) {
        code = cli_usage("bench", "--cpu %d: cannot run there (%s); see nproc", a->cpu,
                         strerror(errno));
        goto out;
    }
    code = setup(&L);
    if (code != CLI_CONTINUE)
        goto out;

    /* Ctrl-C ends the run early and still reports what was measured. */
    interrupted = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    L.progress = !a->quiet && isatty(STDERR_FILENO);
    L.budget = a->requests ? a->requests : UINT64_MAX;
    if (L.conns[0].fd >= 0)
        bench_spread_begin(&L.spread, L.conns[0].fd);
    double cpu0 = cpu_seconds(), wait0 = wait_ns();
    L.start_ns = L.last_progress_ns = bench_now_ns();
    L.next_report_ns = L.start_ns + PROGRESS_NS;
    L.last_report_ns = L.start_ns;
    if (a->duration_ms)
        L.deadline_ns = L.start_ns + (uint64_t) a->duration_ms * 1000000ull;
    if (a->reconnect && a->size == 0)
        run_connect_only(&L);
    else
        run_loop(&L);
    double cpu = cpu_seconds() - cpu0, wait1 = wait_ns();
    bench_spread_end(&L.spread);
    report_progress(&L, L.end_ns, true);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    print_report(&L, cpu, wait0 >= 0 && wait1 >= 0 ? wait1 - wait0 : -1);
    if (fflush(stdout) != 0) {
        code = CLI_EXIT_FAILURE;
        goto out;
    }
    code = EX_OK;
    if (L.errors > 0) {
        cli_error(a->address, L.first_advice, "%llu error%s; the first: %s",
                  (unsigned long long) L.errors, L.errors == 1 ? "" : "s", L.first_error);
        code = CLI_EXIT_FAILURE;
    } else if (L.completed == 0) {
        cli_error(a->address, a->request ? "does it answer this request? (--request)"
                                         : "is it an echo server?", "no reply at all");
        code = CLI_EXIT_FAILURE;
    }
out:
    load_free(&L);
    return code;
}
