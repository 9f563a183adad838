/* SPDX-License-Identifier: MIT */
/*
 * server.c — connections over a uds_loop: accept on a Unix or TCP listener (allow-list,
 * connection limit, EMFILE shedding), reads into one shared buffer, queued replies with
 * backpressure, idle timeout, deferred close and graceful drain; in message mode, cuts
 * stream input into frames with frame.c. Beyond that it does not interpret the bytes
 * (policy lives in the callbacks) and makes no epoll calls (loop.c does).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "internal.h"
#include "server_workers.h"

#define DEFAULT_MAX_CONNS 1024
#define DEFAULT_DRAIN_MS 10000
#define DEFAULT_MAX_OUTBUF (1024 * 1024)
#define DEFAULT_READ_SIZE (64 * 1024)
#define DEFAULT_READ_BUDGET 32
#define ACCEPT_BATCH 64         /* accepts per wakeup, so a connect storm cannot starve I/O */
#define ACCEPT_DRAIN_MAX 65536  /* graceful stop: more than any backlog (somaxconn) holds */
#define ACCEPT_PAUSE_MS 100     /* accept back-off when shedding is impossible */
#define IDLE_TICK_MAX_MS 1000
#define OUT_MIN_CAP 256
#define MSG_HDR sizeof(uint32_t)    /* seqpacket queue: each message is prefixed by its length */
#define GATHER_MAX 8192         /* message mode: replies below this are sent together */
#define MSG_MIN_CAP 4096        /* first allocation for a message split across reads */

/* What a connection needs in message mode on a stream (frames or lines), allocated with it
 * only then: a byte-stream or seqpacket connection does not carry these 92 bytes. */
struct conn_msgs {
    char *msg;                  /* a message split across reads, being put together; NULL
                                 * between messages */
    size_t msg_have;
    size_t msg_cap;
    char *in;                   /* input read but held back while the replies are over
                                 * max_outbuf, [in + in_off, + in_len) */
    size_t in_off;
    size_t in_len;
    const char *rest;           /* during on_message: the bytes of the same read after this */
    size_t rest_len;            /*   message, not yet delivered */
    struct uds_frame_decoder dec;
};

struct uds_conn {
    struct uds_server *server;
    struct uds_conn *prev;      /* fresh or activity list (head: the oldest) */
    struct uds_conn *next;      /* the same, or the pending list once dead */
    void *data;
    char *out;                  /* unsent bytes [out_head, out_tail); NULL when none */
    size_t out_head;
    size_t out_tail;
    size_t out_cap;
    uint64_t active_ms;
    struct uds_peer peer;       /* valid once have_peer is set (peer_of()) */
    int fd;
    int error;                  /* for on_close */
    unsigned events;            /* watched in the loop now */
    bool dead : 1;              /* closing: on the pending list, freed at depth 0 */
    bool linger : 1;            /* close once the queue is flushed; reading stopped */
    bool eof : 1;               /* the peer shut down its side; reading stopped */
    bool paused : 1;            /* backpressure: reading stopped until the queue drains */
    bool refused : 1;           /* on_open said no: no on_close */
    bool detached : 1;          /* fd handed to the caller: not closed, no on_close */
    bool gather : 1;            /* delivering one read's messages: queue small replies */
    bool have_peer : 1;         /* peer has been read */
    bool fresh : 1;             /* no byte has arrived yet: on the fresh list */
    bool holding : 1;           /* message mode: input held back in m->in */
    struct conn_msgs m[];       /* message mode on a stream only (stream_msgs()) */
};

/* Connections in the order of a time: accept (fresh) or last activity. */
struct conn_list {
    struct uds_conn *head;
    struct uds_conn *tail;
};

struct uds_server {
    struct uds_loop *loop;
    struct uds__workers *workers;   /* threads > 1: the workers this server hands out to */
    struct uds_server *parent;      /* a worker's server: the one whose listener it serves */
    struct uds__worker *worker;     /*   and its worker */
    struct uds_listener listener;
    struct uds_server_callbacks cb;
    void *data;
    char *rbuf;                 /* one read buffer shared by every connection */
    size_t read_size;
    size_t max_outbuf;
    size_t max_conns;
    size_t n_conns;
    uint64_t n_accepted;
    unsigned read_budget;
    unsigned peer_flags;
    uint32_t max_message;
    int idle_ms;
    int first_byte_ms;
    int drain_ms;
    int reserve_fd;             /* spare fd given up to shed a client on EMFILE */
    struct uds_allow allow;     /* own copies of the caller's lists */
    struct conn_list fresh;     /* no byte received yet, in accept order */
    struct conn_list active;    /* the others, least recently active first */
    struct uds_conn *pending;   /* closed, waiting for the callback stack to unwind */
    struct uds_conn *pending_tail;
    unsigned depth;             /* callbacks and API calls in progress */
    unsigned listen_events;
    struct uds_timer idle_timer;
    struct uds_timer drain_timer;
    struct uds_timer accept_timer;
    bool own_loop;
    bool tcp;                   /* a TCP listener: peers without credentials */
    bool seqpacket;
    bool messages;              /* on_message is set */
    bool lines;                 /* messages are lines (UDS_SERVER_LINES) */
    bool stream_msgs;           /* messages on a stream (frames or lines): conns carry m[] */
    bool listening;
    bool accept_paused;         /* backing off after an accept error */
    bool user_paused;           /* uds_server_pause() */
    bool stopping;
    bool stopped;
};

static void close_conn(struct uds_conn *c, bool flush, int error);

/* --- deferred close ----------------------------------------------------------------------
 * Every entry from the loop and every public call that can close runs between enter() and
 * leave(). A close inside only marks the connection and moves it to the pending list; the
 * outermost leave() runs on_close and frees it, when no frame up the stack can still hold
 * the pointer (Redis CONN_FLAG_CLOSE_SCHEDULED, with a server-wide depth instead of
 * per-connection refs, because callbacks may close other connections too). */

static void enter(struct uds_server *s) {
    s->depth++;
}

static void finalize(struct uds_conn *c) {
    struct uds_server *s = c->server;

    s->n_conns--;
    if (s->worker)
        uds__worker_conn_done(s->worker);
    if (c->fd >= 0)
        (void) uds_loop_del(s->loop, c->fd);
    if (!c->refused && !c->detached && s->cb.on_close)
        s->cb.on_close(c, c->error, s->data);
    if (c->fd >= 0)
        (void) close(c->fd);
    if (c->have_peer)
        uds_peer_done(&c->peer);
    if (s->stream_msgs) {
        free(c->m->msg);
        free(c->m->in);
    }
    free(c->out);
    free(c);
}

static void update_listener(struct uds_server *s);
static void finish_stop(struct uds_server *s);

/* Connections open: with workers, those of every worker. */
static size_t conns(const struct uds_server *s) {
    return s->workers ? uds__workers_live(s->workers) : s->n_conns;
}

static void leave(struct uds_server *s) {
    if (s->depth > 1) {
        s->depth--;
        return;
    }
    /* on_close runs with depth still 1, so closes it asks for land on this list too. */
    while (s->pending) {
        struct uds_conn *c = s->pending;
        s->pending = c->next;
        if (!s->pending)
            s->pending_tail = NULL;
        finalize(c);
    }
    s->depth = 0;
    update_listener(s);
    if (s->stopping && !s->stopped && s->n_conns == 0 &&
        (!s->workers || uds__workers_done(s->workers)))
        finish_stop(s);
}

/* --- activity list ---------------------------------------------------------------------- */

static struct conn_list *list_of(struct uds_conn *c) {
    return c->fresh ? &c->server->fresh : &c->server->active;
}

static void list_remove(struct uds_conn *c) {
    struct conn_list *l = list_of(c);

    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
}

static void list_append(struct uds_conn *c) {
    struct conn_list *l = list_of(c);

    c->prev = l->tail;
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

/* Sends do not count as the client's first byte: a fresh connection stays fresh. */
static void touch(struct uds_conn *c) {
    struct uds_server *s = c->server;

    if (s->idle_ms <= 0 || c->fresh)
        return;
    c->active_ms = uds_loop_now_ms(s->loop);
    if (s->active.tail != c) {
        list_remove(c);
        list_append(c);
    }
}

static void got_first_byte(struct uds_conn *c) {
    list_remove(c);
    c->fresh = false;
    list_append(c);
}

/* --- per-connection I/O ----------------------------------------------------------------- */

static size_t queued(const struct uds_conn *c) {
    return c->out_tail - c->out_head;
}

/* Whether the connection takes input now: not while its replies are over the bound. */
static bool taking_input(const struct uds_conn *c) {
    return !c->dead && !c->linger && !c->eof && !c->paused;
}

/* Whether to read the socket: input held back from an earlier read goes first. */
static bool reading(const struct uds_conn *c) {
    return taking_input(c) && !c->holding;
}

static void update_events(struct uds_conn *c) {
    unsigned want = 0;

    if (c->dead)
        return;
    if (reading(c))
        want |= UDS_EV_READ;
    if (queued(c) > 0)
        want |= UDS_EV_WRITE;
    if (want == c->events)
        return;
    if (uds_loop_mod(c->server->loop, c->fd, want) < 0) {
        close_conn(c, false, errno);
        return;
    }
    c->events = want;
}

static void schedule_close(struct uds_conn *c, int error) {
    struct uds_server *s = c->server;

    c->dead = true;
    c->error = error;
    list_remove(c);
    if (s->pending_tail)
        s->pending_tail->next = c;
    else
        s->pending = c;
    s->pending_tail = c;
}

/* flush: drop what is queued (false) or send it first (true). A second call can turn a
 * lingering close into an immediate one, never the reverse. */
static void close_conn(struct uds_conn *c, bool flush, int error) {
    if (c->dead)
        return;
    if (flush && queued(c) > 0) {
        if (!c->linger) {
            c->linger = true;
            c->error = error;
            update_events(c);
        }
        return;
    }
    schedule_close(c, c->linger && error == 0 ? c->error : error);
}

static void out_release(struct uds_conn *c) {
    free(c->out);
    c->out = NULL;
    c->out_head = c->out_tail = c->out_cap = 0;
}

/* Make *buf (*cap bytes) hold at least want bytes: twice as large, at least min, at most
 * max (want <= max), so that a stream of small appends costs few copies. */
static int grow(char **buf, size_t *cap, size_t want, size_t min, size_t max) {
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : min;
    if (n < want)
        n = want;
    if (n < min)
        n = min;
    if (n > max)
        n = max;
    char *p = realloc(*buf, n);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static int out_append(struct uds_conn *c, const void *hdr, size_t hdr_len, const void *buf,
                      size_t len) {
    size_t need = hdr_len + len;

    if (c->out_cap - c->out_tail < need && c->out_head > 0) {
        memmove(c->out, c->out + c->out_head, queued(c));
        c->out_tail -= c->out_head;
        c->out_head = 0;
    }
    if (need > SIZE_MAX / 2 - c->out_tail)
        return uds__fail(ENOMEM);
    if (grow(&c->out, &c->out_cap, c->out_tail + need, OUT_MIN_CAP, SIZE_MAX) < 0)
        return -1;
    if (hdr_len > 0)
        memcpy(c->out + c->out_tail, hdr, hdr_len);
    if (len > 0)
        memcpy(c->out + c->out_tail + hdr_len, buf, len);
    c->out_tail += need;
    return 0;
}

/* Sends hdr (hdr_len may be 0) then buf in one call, so a frame header never goes out in a
 * packet of its own. Returns bytes sent, or -1 with errno (EAGAIN when the socket is full). */
static ssize_t send_nb(int fd, const void *hdr, size_t hdr_len, const void *buf, size_t len) {
    struct iovec iov[2] = {
        { .iov_base = (void *) hdr, .iov_len = hdr_len },
        { .iov_base = (void *) buf, .iov_len = len },
    };
    struct msghdr msg = { .msg_iov = hdr_len > 0 ? iov : iov + 1,
                          .msg_iovlen = hdr_len > 0 ? 2 : 1 };
    ssize_t n;

    /* send() where there is no header: sendmsg() first copies in and checks the msghdr
     * and its iovec array, 100-130 ns more per call in bench/send_cost.c. */
    do {
        n = hdr_len > 0 ? sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EWOULDBLOCK)
        errno = EAGAIN;
    return n;
}

static void flush(struct uds_conn *c) {
    struct uds_server *s = c->server;

    while (queued(c) > 0) {
        const char *p = c->out + c->out_head;
        size_t len = queued(c), hdr = 0;
        if (s->seqpacket) {
            uint32_t msg_len;
            memcpy(&msg_len, p, MSG_HDR);
            hdr = MSG_HDR;
            len = msg_len;
        }
        /* A seqpacket message goes whole or not at all. */
        ssize_t n = send_nb(c->fd, NULL, 0, p + hdr, len);
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            close_conn(c, false, errno);
            return;
        }
        c->out_head += hdr + (size_t) n;
        touch(c);
    }
    if (queued(c) == 0)
        out_release(c);
    if (c->paused && queued(c) <= s->max_outbuf / 2)
        c->paused = false;
    if (c->linger && queued(c) == 0) {
        schedule_close(c, c->error);
        return;
    }
    update_events(c);
}

/* On seqpacket, recv() returns 0 both for an empty message and at end of stream. It is the
 * end only if the peer has shut down and nothing at all is left queued (SIOCINQ counts the
 * bytes of every queued message); trailing empty messages before the end are lost. */
static bool seqpacket_at_eof(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    int inq = 0;

    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLRDHUP | POLLHUP)))
        return false;
    return ioctl(fd, SIOCINQ, &inq) < 0 || inq == 0;
}

static void msg_release(struct uds_conn *c);

static void got_eof(struct uds_conn *c) {
    struct uds_server *s = c->server;

    /* No update_events() here: close_conn() below either sets the events a lingering
     * connection needs or takes the fd out of the loop, one epoll_ctl() either way. */
    c->eof = true;
    if (s->lines && c->m->msg_have > 0) {
        /* A last line without its newline is still a message. */
        s->cb.on_message(c, c->m->msg, c->m->msg_have, s->data);
        msg_release(c);
    } else if (s->messages && !s->seqpacket && !s->lines && !uds_frame_decoder_idle(&c->m->dec)) {
        /* The rest of this message will never come. */
        msg_release(c);
        close_conn(c, true, EPROTO);
        return;
    }
    if (s->cb.on_eof && !c->dead)
        s->cb.on_eof(c, s->data);
    close_conn(c, true, 0);
}

/* --- message mode: frames and lines ------------------------------------------------------
 * A message lying whole in one read is handed over in place; only one split across reads is
 * copied, into m->msg. That buffer grows with the bytes that arrive, never with the length a
 * frame header announces: the length is the peer's word, and reserving it up front let five
 * bytes pin 16 MiB of address space per connection. */

static void msg_release(struct uds_conn *c) {
    free(c->m->msg);
    c->m->msg = NULL;
    c->m->msg_have = c->m->msg_cap = 0;
}

/* Room for n more bytes in m->msg, which never needs more than limit bytes in all. */
static int msg_reserve(struct uds_conn *c, size_t n, size_t limit) {
    return grow(&c->m->msg, &c->m->msg_cap, c->m->msg_have + n, MSG_MIN_CAP, limit);
}

static bool msg_append(struct uds_conn *c, const void *data, size_t len, size_t limit) {
    if (msg_reserve(c, len, limit) < 0) {
        close_conn(c, false, ENOMEM);
        return false;
    }
    /* read_some may have received the piece straight into place. */
    if (len > 0 && data != c->m->msg + c->m->msg_have)
        memcpy(c->m->msg + c->m->msg_have, data, len);
    c->m->msg_have += len;
    return true;
}

/* Deliver the message put together in m->msg. */
static void msg_deliver(struct uds_conn *c) {
    struct uds_server *s = c->server;
    char *msg = c->m->msg;
    size_t len = c->m->msg_have;

    c->m->msg = NULL;
    c->m->msg_have = c->m->msg_cap = 0;
    s->cb.on_message(c, msg, len, s->data);
    free(msg);
}

/* Keep the n bytes at rest (at most one read's worth) for later. */
static void hold_input(struct uds_conn *c, const char *rest, size_t n) {
    char *p = malloc(n);

    if (!p) {
        close_conn(c, false, ENOMEM);
        return;
    }
    memcpy(p, rest, n);
    c->m->in = p;
    c->m->in_off = 0;
    c->m->in_len = n;
    c->holding = true;
}

/* After a message, with n bytes of this read still to deliver: when the replies queued are
 * over max_outbuf and the socket takes no more of them now, hold the rest back and stop
 * (true). Otherwise one read of tiny requests (64 Ki empty lines) could queue a reply each,
 * whatever the bound. */
static bool over_bound(struct uds_conn *c, const char *rest, size_t n) {
    if (c->dead || c->linger)
        return true;
    if (!c->paused || n == 0)
        return false;
    flush(c);
    if (c->dead)
        return true;
    if (!c->paused)
        return false;
    hold_input(c, rest, n);
    return true;
}

static void feed_frames(struct uds_conn *c, const char *buf, size_t len) {
    struct uds_server *s = c->server;
    size_t off = 0;

    /* A callback that closes its connection ends the delivery: the rest is dropped. */
    while (off < len && !over_bound(c, buf + off, len - off)) {
        enum uds_frame_event ev;
        struct uds_frame_piece p;
        ssize_t used = uds_frame_decoder_feed(&c->m->dec, buf + off, len - off, &ev, &p);
        if (used < 0) {
            close_conn(c, true, errno);
            return;
        }
        off += (size_t) used;
        if (ev != UDS_FRAME_PIECE)
            continue;
        c->m->rest = buf + off;
        c->m->rest_len = len - off;
        /* One read may hold a thousand small requests: their replies go out in one send
         * (after the last of them) rather than a send each, which is most of the cost of a
         * small message. A lone request is answered at once. */
        c->gather = off < len;
        if (p.first && p.last) {
            s->cb.on_message(c, p.data, p.len, s->data);
            continue;
        }
        if (!msg_append(c, p.data, p.len, p.frame_len))
            return;
        if (p.last)
            msg_deliver(c);
    }
}

/* Lines: each ends at '\n', which is not part of the message. */
static void feed_lines(struct uds_conn *c, const char *buf, size_t len) {
    struct uds_server *s = c->server;
    size_t off = 0;

    while (off < len && !over_bound(c, buf + off, len - off)) {
        const char *line = buf + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t piece = nl ? (size_t) (nl - line) : len - off;
        if (c->m->msg_have + piece > s->max_message) {
            msg_release(c);
            close_conn(c, true, EMSGSIZE);
            return;
        }
        off += piece + (nl ? 1 : 0);
        c->m->rest = buf + off;
        c->m->rest_len = len - off;
        c->gather = off < len;
        if (nl && c->m->msg_have == 0)
            s->cb.on_message(c, line, piece, s->data);
        else if (msg_append(c, line, piece, s->max_message) && nl)
            msg_deliver(c);
    }
}

static void deliver(struct uds_conn *c, const char *buf, size_t len) {
    struct uds_server *s = c->server;

    if (!s->messages) {
        if (s->cb.on_data)
            s->cb.on_data(c, buf, len, s->data);
    } else if (!s->seqpacket) {
        if (s->lines)
            feed_lines(c, buf, len);
        else
            feed_frames(c, buf, len);
        c->gather = false;
        c->m->rest_len = 0;
        if (!c->dead && queued(c) > 0)
            flush(c);
    } else if (len > s->max_message) {
        close_conn(c, true, EMSGSIZE);
    } else {
        s->cb.on_message(c, buf, len, s->data);
    }
}

/* Input held back by over_bound(), now that the replies have drained. Feeding it may hold
 * back a tail of it again, in a buffer of its own. */
static void deliver_held(struct uds_conn *c) {
    char *in = c->m->in;
    size_t off = c->m->in_off, len = c->m->in_len;

    c->m->in = NULL;
    c->m->in_off = c->m->in_len = 0;
    c->holding = false;
    deliver(c, in + off, len);
    free(in);
}

static void read_some(struct uds_conn *c) {
    struct uds_server *s = c->server;

    for (unsigned i = 0; i < s->read_budget && taking_input(c); i++) {
        if (c->holding) {
            deliver_held(c);
            continue;
        }
        char *dst = s->rbuf;
        size_t want = s->read_size;
        /* The rest of a frame being put together that would fill a whole read anyway is
         * received straight into its buffer: one copy fewer, and larger reads. */
        if (s->stream_msgs && c->m->msg && !s->lines && c->m->dec.remaining >= s->read_size) {
            if (msg_reserve(c, s->read_size, c->m->dec.length) < 0) {
                close_conn(c, false, ENOMEM);
                return;
            }
            dst = c->m->msg + c->m->msg_have;
            want = c->m->msg_cap - c->m->msg_have;
            if (want > c->m->dec.remaining)
                want = c->m->dec.remaining;
        }
        ssize_t n;
        bool truncated = false;
        if (s->seqpacket) {
            struct iovec iov = { .iov_base = s->rbuf, .iov_len = s->read_size };
            struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
            /* MSG_TRUNC makes a too-long message report its real length instead of
             * being cut silently; passed fds are dropped by the kernel (no msg_control). */
            n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
            truncated = n >= 0 && (msg.msg_flags & MSG_TRUNC);
        } else {
            n = recv(c->fd, dst, want, MSG_DONTWAIT);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                close_conn(c, false, errno);
            return;
        }
        if (truncated) {
            close_conn(c, s->messages, EMSGSIZE);
            return;
        }
        if (n == 0 && (!s->seqpacket || seqpacket_at_eof(c->fd))) {
            got_eof(c);
            return;
        }
        if (c->fresh)
            got_first_byte(c);
        touch(c);
        deliver(c, dst, (size_t) n);
        /* A short stream read means the socket is empty: skip the EAGAIN round trip. */
        if (!s->seqpacket && (size_t) n < want)
            return;
    }
    /* Budget spent with data left: level-triggered epoll reports the fd again next turn,
     * after the other ready connections have had theirs. */
}

static void conn_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct uds_conn *c = arg;
    struct uds_server *s = c->server;

    (void) loop, (void) fd;
    enter(s);
    if ((events & (UDS_EV_WRITE | UDS_EV_HUP | UDS_EV_ERROR)) && queued(c) > 0)
        flush(c);
    /* Replies drained below the bound: the input held back goes first, even with nothing
     * new to read (level-triggered epoll would not report the socket for it). */
    if (c->holding && taking_input(c))
        read_some(c);
    else if ((events & (UDS_EV_READ | UDS_EV_HUP | UDS_EV_ERROR)) && reading(c))
        read_some(c);
    if (!c->dead)
        update_events(c);
    leave(s);
}

/* --- accepting -------------------------------------------------------------------------- */

static void update_listener(struct uds_server *s) {
    if (!s->listening)
        return;
    unsigned want = !s->stopping && !s->accept_paused && !s->user_paused &&
                    conns(s) < s->max_conns ? UDS_EV_READ : 0;
    /* At the limit the listener leaves the epoll set: clients wait in the kernel backlog
     * instead of being accepted and dropped (s6-ipcserverd). */
    if (want != s->listen_events && uds_loop_mod(s->loop, s->listener.fd, want) == 0)
        s->listen_events = want;
}

static void accept_error(struct uds_server *s, int error) {
    if (s->cb.on_accept_error)
        s->cb.on_accept_error(error, s->data);
}

static void resume_accept(void *arg) {
    struct uds_server *s = arg;

    s->accept_paused = false;
    enter(s);
    leave(s);   /* re-evaluates the listener */
}

static void pause_accept(struct uds_server *s) {
    if (uds_timer_armed(&s->accept_timer))
        return;
    /* Without a timer there would be nothing to resume with: keep accepting instead. */
    s->accept_paused = uds_timer_arm(&s->accept_timer, s->loop, ACCEPT_PAUSE_MS,
                                     resume_accept, s) == 0;
}

static int open_reserve(void) {
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Out of fds, the pending client cannot even be accepted to be refused, and a level-
 * triggered listener would wake us forever: give up the spare fd, accept the client into it
 * and close it at once, then take the spare back (libuv uv__emfile_trick). Returns whether
 * a client was shed. */
static bool shed_one(struct uds_server *s) {
    if (s->reserve_fd < 0)
        return false;
    (void) close(s->reserve_fd);
    int fd;
    do {
        fd = accept4(s->listener.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0)
        (void) close(fd);
    s->reserve_fd = open_reserve();
    return fd >= 0;
}

static void idle_tick(void *arg);

/* How long a connection may stay fresh (no byte received): the first-byte timeout, or the
 * idle timeout if shorter; 0 for no limit. */
static int fresh_ms(const struct uds_server *s) {
    if (s->first_byte_ms <= 0 || (s->idle_ms > 0 && s->idle_ms < s->first_byte_ms))
        return s->idle_ms;
    return s->first_byte_ms;
}

static void arm_idle_timer(struct uds_server *s) {
    if ((s->idle_ms <= 0 && s->first_byte_ms <= 0) || uds_timer_armed(&s->idle_timer) ||
        s->stopped)
        return;
    int shortest = s->idle_ms > 0 && s->idle_ms < fresh_ms(s) ? s->idle_ms : fresh_ms(s);
    uint64_t tick = (uint64_t) shortest / 4;
    if (tick > IDLE_TICK_MAX_MS)
        tick = IDLE_TICK_MAX_MS;
    if (tick == 0)
        tick = 1;
    /* On failure the next accepted connection tries again. */
    (void) uds_timer_arm(&s->idle_timer, s->loop, tick, idle_tick, s);
}

/* Close the connections of l idle for limit_ms (0: no limit) by now. Most recently active at
 * the tail: stop at the first one still within its time. */
static void expire(struct conn_list *l, int limit_ms, uint64_t now) {
    if (limit_ms <= 0)
        return;
    for (struct uds_conn *c = l->head, *next; c; c = next) {
        next = c->next;
        if (c->active_ms + (uint64_t) limit_ms > now)
            break;
        close_conn(c, false, ETIMEDOUT);
    }
}

static void idle_tick(void *arg) {
    struct uds_server *s = arg;
    uint64_t now = uds_loop_now_ms(s->loop);

    enter(s);
    expire(&s->fresh, fresh_ms(s), now);
    expire(&s->active, s->idle_ms, now);
    leave(s);
    if (s->n_conns > 0)
        arm_idle_timer(s);
}

/* The peer of a connection, read on first use: SO_PEERCRED keeps the credentials of
 * connect() time, so a late read gives the answer an early one would have, and a server
 * that never asks saves a system call per connection. If it cannot be read any more
 * (detached, or the kernel says no), it is "nobody": pid 0, uid and gid -1. */
static const struct uds_peer *peer_of(struct uds_conn *c) {
    if (!c->have_peer) {
        if (c->server->tcp || c->fd < 0 ||
            uds_peer_get(c->fd, c->server->peer_flags, &c->peer) < 0)
            c->peer = (struct uds_peer) { .uid = (uid_t) -1, .gid = (gid_t) -1, .pidfd = -1 };
        c->have_peer = true;
    }
    return &c->peer;
}

/* A TCP client: it has no credentials, so an allow-list, having nothing to check, refuses
 * it. Returns false when refused (fd closed). */
static bool admit_tcp(struct uds_server *s, int fd) {
    int on = 1;

    if (uds_allow_is_set(&s->allow)) {
        struct uds_peer nobody = { .uid = (uid_t) -1, .gid = (gid_t) -1, .pidfd = -1 };
        if (s->cb.on_deny)
            s->cb.on_deny(&nobody, s->data);
        (void) close(fd);
        return false;
    }
    /* Replies leave in one send already: Nagle's wait for an ACK would only add a round
     * trip to each. */
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    return true;
}

/* Returns whether a connection was made (on_open may have refused it since). */
static bool accept_one(struct uds_server *s, int fd) {
    struct uds_peer peer = { .pidfd = -1 };
    /* Read at once only when it decides admission or the caller asked for more than the
     * credentials (groups, a pidfd: a pidfd is worth most taken while the client lives). */
    bool eager = !s->tcp && (uds_allow_is_set(&s->allow) || s->peer_flags != 0);

    if (s->tcp && !admit_tcp(s, fd))
        return false;
    if (eager && uds_peer_get(fd, s->peer_flags, &peer) < 0) {
        int e = errno;
        (void) close(fd);
        /* The client left before we looked: nothing to report. */
        if (e != ENOTCONN)
            accept_error(s, e);
        return false;
    }
    if (eager && !uds_peer_allowed(&peer, &s->allow)) {
        if (s->cb.on_deny)
            s->cb.on_deny(&peer, s->data);
        uds_peer_done(&peer);
        (void) close(fd);
        return false;
    }
    struct uds_conn *c = calloc(1, sizeof(*c) + (s->stream_msgs ? sizeof(c->m[0]) : 0));
    if (c) {
        c->server = s;
        c->fd = fd;
    }
    if (!c || uds_loop_add(s->loop, fd, UDS_EV_READ, conn_io, c) < 0) {
        int e = errno;
        free(c);
        uds_peer_done(&peer);
        (void) close(fd);
        accept_error(s, e);
        return false;
    }
    c->peer = peer;
    c->have_peer = eager;
    if (s->stream_msgs)
        uds_frame_decoder_init(&c->m->dec, s->max_message);
    c->events = UDS_EV_READ;
    c->active_ms = uds_loop_now_ms(s->loop);
    c->fresh = s->first_byte_ms > 0;
    list_append(c);
    s->n_conns++;
    s->n_accepted++;
    arm_idle_timer(s);
    if (s->cb.on_open && s->cb.on_open(c, s->data) < 0) {
        c->refused = true;
        close_conn(c, false, 0);
    }
    return true;
}

/* drain: accept everything queued, even past max_conns (graceful stop serves the backlog). */
static void accept_batch(struct uds_server *s, bool drain) {
    unsigned batch = drain ? ACCEPT_DRAIN_MAX : ACCEPT_BATCH;

    for (unsigned i = 0; i < batch; i++) {
        if (!drain && (conns(s) >= s->max_conns || s->accept_paused || s->user_paused))
            break;
        int fd = accept4(s->listener.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0 && s->workers && uds__workers_hand(s->workers, fd) < 0)
            accept_error(s, errno);
        else if (fd >= 0 && !s->workers)
            (void) accept_one(s, fd);
        if (fd >= 0)
            continue;
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            break;
        bool shed = (e == EMFILE || e == ENFILE) && shed_one(s);
        accept_error(s, e);
        /* A shed client is progress: the listener stays readable only while more wait. */
        if (!shed)
            pause_accept(s);
        break;
    }
}

static void listener_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct uds_server *s = arg;

    (void) loop, (void) fd, (void) events;
    enter(s);
    accept_batch(s, false);
    leave(s);
}

/* --- stop --------------------------------------------------------------------------------- */

static void close_listener(struct uds_server *s) {
    if (!s->listening)
        return;
    (void) uds_loop_del(s->loop, s->listener.fd);
    /* The socket file is gone before any other check: nobody new can queue up. Failing to
     * unlink (permissions changed under us) leaves a stale socket, which uds_listen
     * replaces safely; there is no one to report it to. */
    (void) uds_unlisten(&s->listener);
    s->listening = false;
    uds_timer_cancel(&s->accept_timer);
}

static void close_all(struct uds_server *s, int error) {
    while (s->fresh.head)
        close_conn(s->fresh.head, false, error);
    while (s->active.head)
        close_conn(s->active.head, false, error);
}

static void finish_stop(struct uds_server *s) {
    s->stopped = true;
    uds_timer_cancel(&s->idle_timer);
    uds_timer_cancel(&s->drain_timer);
    uds_timer_cancel(&s->accept_timer);
    close_listener(s);
    /* Their threads have ended or are ending: none calls back once the run returns. */
    if (s->workers)
        uds__workers_join(s->workers);
    /* A worker's thread leaves its loop with it (loop_pool.c). */
    if (s->own_loop || s->worker)
        uds_loop_stop(s->loop);
}

static void drain_expired(void *arg) {
    struct uds_server *s = arg;

    enter(s);
    close_all(s, ETIMEDOUT);
    leave(s);
}

UDS_API void uds_server_stop(struct uds_server *s, bool graceful) {
    if (!s || s->stopped)
        return;
    enter(s);
    if (!s->stopping) {
        s->stopping = true;
        if (graceful && s->listening)
            accept_batch(s, true);
        close_listener(s);
        /* A drain without its deadline could last for ever: without a timer, stop now.
         * With workers, each drains its own connections against its own timer. */
        if (graceful && s->drain_ms >= 0 && !s->workers &&
            uds_timer_arm(&s->drain_timer, s->loop, (uint64_t) s->drain_ms, drain_expired,
                          s) < 0)
            graceful = false;
    }
    if (s->workers)
        uds__workers_stop(s->workers, graceful);
    else if (!graceful)
        close_all(s, ECANCELED);
    leave(s);
}

/* --- public ------------------------------------------------------------------------------ */

/* A malloc'ed copy of n ids of size bytes each at ids; NULL for none (or ENOMEM). */
static void *copy_ids(const void *ids, size_t n, size_t size) {
    void *copy = ids && n > 0 ? malloc(n * size) : NULL;

    if (copy)
        memcpy(copy, ids, n * size);
    return copy;
}

static int copy_allow(const struct uds_allow *from, struct uds_allow *to) {
    if (!from)
        return 0;
    to->uids = copy_ids(from->uids, from->n_uids, sizeof(*from->uids));
    to->gids = copy_ids(from->gids, from->n_gids, sizeof(*from->gids));
    if ((from->uids && from->n_uids && !to->uids) || (from->gids && from->n_gids && !to->gids))
        return -1;  /* ENOMEM; free_server() frees the copy that was made */
    to->n_uids = to->uids ? from->n_uids : 0;
    to->n_gids = to->gids ? from->n_gids : 0;
    return 0;
}

static void free_server(struct uds_server *s) {
    uds__workers_free(s->workers);
    free((void *) s->allow.uids);
    free((void *) s->allow.gids);
    free(s->rbuf);
    uds__close_keep_errno(s->reserve_fd);
    if (s->own_loop)
        uds_loop_free(s->loop);
    free(s);
}

/* free_server() on an error path: errno is kept, and NULL returned for the caller to pass
 * on. */
static struct uds_server *discard_server(struct uds_server *s) {
    int e = errno;

    free_server(s);
    errno = e;
    return NULL;
}

/* Asked of the socket, not of listener->addr: a caller may fill in a listener by hand. */
static bool is_tcp(int fd) {
    int domain = AF_UNIX;
    socklen_t len = sizeof(domain);

    (void) getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
    return domain == AF_INET || domain == AF_INET6;
}

/* A server with the settings of opts and no listener yet: the part a worker's server
 * shares with the server whose listener it serves. */
static struct uds_server *server_alloc(struct uds_loop *loop, const struct uds_server_opts *opts,
                                       const struct uds_server_callbacks *callbacks,
                                       void *data, enum uds_socket_type type) {
    struct uds_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->reserve_fd = -1;
    s->loop = loop;
    if (!loop) {
        s->loop = uds_loop_new();
        s->own_loop = true;
        if (!s->loop)
            goto fail;
    }
    if (callbacks)
        s->cb = *callbacks;
    s->data = data;
    s->max_conns = opts->max_conns ? opts->max_conns : DEFAULT_MAX_CONNS;
    s->idle_ms = opts->idle_timeout_ms;
    s->first_byte_ms = opts->first_byte_timeout_ms;
    s->drain_ms = opts->drain_timeout_ms ? opts->drain_timeout_ms : DEFAULT_DRAIN_MS;
    s->max_outbuf = opts->max_outbuf ? opts->max_outbuf : DEFAULT_MAX_OUTBUF;
    s->read_size = opts->read_size ? opts->read_size : DEFAULT_READ_SIZE;
    s->read_budget = opts->read_budget ? opts->read_budget : DEFAULT_READ_BUDGET;
    s->peer_flags = opts->peer_flags;
    s->seqpacket = type == UDS_SEQPACKET;
    s->messages = s->cb.on_message != NULL;
    s->stream_msgs = s->messages && !s->seqpacket;
    s->lines = s->stream_msgs && (opts->flags & UDS_SERVER_LINES);
    s->max_message = opts->max_message ? opts->max_message : UDS_FRAME_DEFAULT_MAX;
    if (copy_allow(opts->allow, &s->allow) < 0)
        goto fail;
    /* A gid in the allow-list matches supplementary groups too: they must be fetched. */
    if (s->allow.n_gids > 0)
        s->peer_flags |= UDS_PEER_GROUPS;
    s->rbuf = malloc(s->read_size);
    if (!s->rbuf)
        goto fail;
    return s;

fail:
    return discard_server(s);
}

/* The settings server_alloc() took from opts, back as opts. */
static struct uds_server_opts opts_of(const struct uds_server *s) {
    return (struct uds_server_opts) {
        .max_conns = SIZE_MAX,     /* the parent counts */
        .idle_timeout_ms = s->idle_ms,
        .drain_timeout_ms = s->drain_ms,
        .max_outbuf = s->max_outbuf,
        .read_size = s->read_size,
        .read_budget = s->read_budget,
        .allow = &s->allow,
        .peer_flags = s->peer_flags,
        .max_message = s->max_message,
        .flags = s->lines ? UDS_SERVER_LINES : 0,
        .first_byte_timeout_ms = s->first_byte_ms,
    };
}

struct uds_server *uds__server_worker_new(struct uds_server *parent, struct uds__worker *worker,
                                          struct uds_loop *loop) {
    struct uds_server_opts opts = opts_of(parent);
    struct uds_server *s = server_alloc(loop, &opts, &parent->cb, parent->data,
                                        parent->seqpacket ? UDS_SEQPACKET : UDS_STREAM);

    if (!s)
        return NULL;
    s->parent = parent;
    s->worker = worker;
    s->tcp = parent->tcp;
    return s;
}

bool uds__server_adopt(struct uds_server *s, int fd) {
    enter(s);
    bool made = accept_one(s, fd);
    leave(s);
    return made;
}

void uds__server_poke(struct uds_server *s) {
    enter(s);
    leave(s);
}

/* The worker threads asked for in opts, if more than one. */
static int start_workers(struct uds_server *s, const struct uds_server_opts *opts) {
    if (opts->threads <= 1)
        return 0;
    s->workers = uds__workers_new(s, s->loop, opts->threads, s->max_conns);
    return s->workers ? 0 : -1;
}

UDS_API struct uds_server *uds_server_new(struct uds_loop *loop, struct uds_listener *listener,
                                          const struct uds_server_opts *opts,
                                          const struct uds_server_callbacks *callbacks,
                                          void *data) {
    static const struct uds_server_opts defaults = { 0 };

    if (!opts)
        opts = &defaults;
    if (!listener || listener->fd < 0 || opts->idle_timeout_ms < 0 ||
        opts->first_byte_timeout_ms < 0 || (opts->flags & ~UDS_SERVER_LINES) ||
        opts->threads > UDS_SERVER_THREADS_MAX ||
        (listener->type != UDS_STREAM && listener->type != UDS_SEQPACKET)) {
        errno = EINVAL;
        return NULL;
    }
    struct uds_server *s = server_alloc(loop, opts, callbacks, data, listener->type);
    if (!s)
        return NULL;
    s->tcp = is_tcp(listener->fd);
    if (uds_set_nonblock(listener->fd, true) < 0)
        goto fail;
    /* Best effort: without it EMFILE is survived by pausing instead of shedding. */
    s->reserve_fd = open_reserve();
    if (start_workers(s, opts) < 0)
        goto fail;
    if (uds_loop_add(s->loop, listener->fd, UDS_EV_READ, listener_io, s) < 0)
        goto fail;
    s->listen_events = UDS_EV_READ;
    s->listening = true;
    s->listener = *listener;
    uds_listener_init(listener);
    return s;

fail:
    return discard_server(s);
}

UDS_API int uds_server_run(struct uds_server *s) {
    if (!s || !s->own_loop)
        return uds__fail(EINVAL);
    while (!s->stopped) {
        if (uds_loop_run_once(s->loop, -1) < 0)
            return -1;
    }
    return 0;
}

UDS_API bool uds_server_stopped(const struct uds_server *s) {
    return s && s->stopped;
}

UDS_API int uds_server_fd(const struct uds_server *s) {
    if (!s)
        return uds__fail(EINVAL);
    return uds_loop_fd(s->loop);
}

UDS_API struct uds_loop *uds_server_loop(const struct uds_server *s) {
    return s ? s->loop : NULL;
}

UDS_API size_t uds_server_conn_count(const struct uds_server *s) {
    return s ? conns(s) : 0;
}

UDS_API unsigned uds_server_threads(const struct uds_server *s) {
    return !s ? 0 : s->workers ? uds__workers_count(s->workers) : 1;
}

UDS_API int uds_server_worker_stats(const struct uds_server *s, unsigned i,
                                    struct uds_server_worker_stats *ret_stats) {
    if (!s || !ret_stats || i >= uds_server_threads(s))
        return uds__fail(EINVAL);
    if (s->workers)
        uds__workers_stats(s->workers, i, ret_stats);
    else
        *ret_stats = (struct uds_server_worker_stats) { .accepted = s->n_accepted,
                                                        .conns = s->n_conns };
    return 0;
}

UDS_API void uds_server_free(struct uds_server *s) {
    if (!s)
        return;
    enter(s);
    s->stopping = true;
    close_listener(s);
    /* Workers close their connections on their own threads, and are joined. */
    uds__workers_free(s->workers);
    s->workers = NULL;
    close_all(s, ECANCELED);
    leave(s);
    free_server(s);
}

/* Send now what the socket takes of hdr + buf, queue the rest. */
static int send_or_queue(struct uds_conn *c, const uint8_t *hdr, size_t hdr_len,
                         const char *buf, size_t len) {
    struct uds_server *s = c->server;
    size_t sent = 0;
    bool small = hdr_len + len < GATHER_MAX;

    /* A large reply is not worth copying to save a send: let the small ones before it go,
     * then send it directly. */
    if (c->gather && !small && queued(c) > 0) {
        flush(c);
        if (c->dead)
            return uds__fail(c->error ? c->error : EPIPE);
    }
    if (queued(c) == 0 && !(c->gather && small)) {
        ssize_t n = send_nb(c->fd, hdr, hdr_len, buf, len);
        if (n < 0 && errno != EAGAIN) {
            /* Too big for one seqpacket message is the caller's mistake, not the link's. */
            if (errno != EMSGSIZE)
                close_conn(c, false, errno);
            return -1;
        }
        if (n >= 0) {
            touch(c);
            if ((size_t) n == hdr_len + len)
                return 0;
            sent = (size_t) n;
        }
    }
    int r;
    if (s->seqpacket) {
        /* A seqpacket message is sent whole or not at all: sent is 0 here. */
        uint32_t msg_len = (uint32_t) len;
        r = out_append(c, &msg_len, MSG_HDR, buf, len);
    } else {
        size_t hsent = sent < hdr_len ? sent : hdr_len, bsent = sent - hsent;
        r = out_append(c, hsent < hdr_len ? hdr + hsent : NULL, hdr_len - hsent,
                       bsent < len ? buf + bsent : NULL, len - bsent);
    }
    if (r < 0) {
        /* Part of it is on the wire already: dropping the rest would leave the peer out
         * of step (mid-frame, or missing bytes), so the connection cannot go on. */
        if (sent > 0) {
            int e = errno;
            close_conn(c, false, e);
            errno = e;
        }
        return -1;
    }
    /* Stop taking input from a client that does not take its replies: the queue stops
     * growing at max_outbuf plus what one read can produce. */
    if (queued(c) > s->max_outbuf)
        c->paused = true;
    /* Gathering: deliver() flushes next, which sets the events once. */
    if (!c->gather)
        update_events(c);
    return 0;
}

/* framed: prefix a frame header on stream (seqpacket keeps its own boundaries). */
static int conn_send(struct uds_conn *c, const void *buf, size_t len, bool framed) {
    if (!c || (!buf && len > 0))
        return uds__fail(EINVAL);
    if (c->dead || c->linger)
        return uds__fail(EPIPE);
    struct uds_server *s = c->server;
    framed = framed && !s->seqpacket;
    if ((s->seqpacket || framed) && len > UINT32_MAX)
        return uds__fail(EMSGSIZE);
    if (!s->seqpacket && !framed && len == 0)
        return 0;

    uint8_t hdr[UDS_FRAME_HEADER_SIZE];
    if (framed)
        uds_frame_header(hdr, (uint32_t) len);
    enter(s);
    int ret = send_or_queue(c, hdr, framed ? sizeof(hdr) : 0, buf, len);
    int e = errno;
    leave(s);
    errno = e;
    return ret;
}

UDS_API int uds_conn_send(struct uds_conn *c, const void *buf, size_t len) {
    return conn_send(c, buf, len, false);
}

UDS_API int uds_conn_send_message(struct uds_conn *c, const void *buf, size_t len) {
    return conn_send(c, buf, len, true);
}

UDS_API void uds_conn_close(struct uds_conn *c, bool flush) {
    if (!c)
        return;
    struct uds_server *s = c->server;
    enter(s);
    close_conn(c, flush, 0);
    leave(s);
}

UDS_API int uds_conn_detach(struct uds_conn *c) {
    if (!c)
        return uds__fail(EINVAL);
    if (c->dead || c->linger)
        return uds__fail(EPIPE);
    struct uds_server *s = c->server;
    int fd = c->fd;
    enter(s);
    (void) peer_of(c);      /* still readable from the fd, for uds_conn_peer() after this */
    /* Out of the epoll set at once, not when the conn is freed: the caller may close fd
     * before that, and its number be reused by a new connection. */
    (void) uds_loop_del(s->loop, fd);
    c->fd = -1;
    c->detached = true;
    schedule_close(c, 0);
    leave(s);
    return fd;
}

/* The input read from c but not delivered, in stream order: a message begun (its frame
 * header written back), the rest of the read being delivered, input held back. */
static void *undelivered(const struct uds_conn *c, size_t *ret_len) {
    const struct uds_server *s = c->server;
    uint8_t hdr[UDS_FRAME_HEADER_SIZE];
    size_t hdr_len = 0;

    *ret_len = 0;
    if (!s->stream_msgs)
        return NULL;    /* every byte read was delivered, in the read itself */
    const struct conn_msgs *m = c->m;
    if (!s->lines) {
        if (m->dec.in_payload) {
            uds_frame_header(hdr, m->dec.length);
            hdr_len = sizeof(hdr);
        } else {
            memcpy(hdr, m->dec.header, m->dec.have);
            hdr_len = m->dec.have;
        }
    }
    size_t len = hdr_len + m->msg_have + m->rest_len + m->in_len;
    char *buf = len > 0 ? malloc(len) : NULL;
    if (len > 0 && !buf)
        return NULL;
    char *p = buf;
    if (hdr_len > 0)
        p = (char *) memcpy(p, hdr, hdr_len) + hdr_len;
    if (m->msg_have > 0)
        p = (char *) memcpy(p, m->msg, m->msg_have) + m->msg_have;
    if (m->rest_len > 0)
        p = (char *) memcpy(p, m->rest, m->rest_len) + m->rest_len;
    if (m->in_len > 0)
        memcpy(p, m->in + m->in_off, m->in_len);
    *ret_len = len;
    return buf;
}

UDS_API int uds_conn_detach_input(struct uds_conn *c, void **ret_buf, size_t *ret_len) {
    size_t len = 0;

    if (!c || !ret_buf || !ret_len)
        return uds__fail(EINVAL);
    if (c->dead || c->linger)
        return uds__fail(EPIPE);
    void *buf = undelivered(c, &len);
    if (len > 0 && !buf)
        return -1;
    int fd = uds_conn_detach(c);
    if (fd < 0) {
        free(buf);
        return -1;
    }
    *ret_buf = buf;
    *ret_len = len;
    return fd;
}

UDS_API void uds_server_pause(struct uds_server *s, bool paused) {
    if (!s)
        return;
    enter(s);
    s->user_paused = paused;
    leave(s);   /* re-evaluates the listener */
}

UDS_API size_t uds_conn_queued(const struct uds_conn *c) {
    return c ? queued(c) : 0;
}

UDS_API int uds_conn_fd(const struct uds_conn *c) {
    return c ? c->fd : uds__fail(EINVAL);
}

UDS_API const struct uds_peer *uds_conn_peer(const struct uds_conn *c) {
    /* Logically const: the peer is only read late, never changed. */
    return c ? peer_of((struct uds_conn *) c) : NULL;
}

UDS_API void uds_conn_set_data(struct uds_conn *c, void *data) {
    if (c)
        c->data = data;
}

UDS_API void *uds_conn_data(const struct uds_conn *c) {
    return c ? c->data : NULL;
}

UDS_API struct uds_server *uds_conn_server(const struct uds_conn *c) {
    if (!c)
        return NULL;
    return c->server->parent ? c->server->parent : c->server;
}

UDS_API struct uds_loop *uds_conn_loop(const struct uds_conn *c) {
    return c ? c->server->loop : NULL;
}
