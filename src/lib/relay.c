/* SPDX-License-Identifier: MIT */
/*
 * relay.c — bridge pairs of connected stream sockets on a uds_loop: both directions at once,
 * a half-close passed on as shutdown(SHUT_WR), bounded per-direction buffers (backpressure),
 * splice() through pooled pipes while a direction carries bulk data, and the small writes of
 * one loop wakeup queued in a send batch (uring.c), which hands them to the kernel together.
 * It accepts, connects and parses nothing: it moves bytes between two fds it was given.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

#define DEFAULT_BUFFER (256u << 10)
#define MAX_BUFFER ((size_t) 1 << 30)
/* Buffers and pipes kept for reuse once released: a relay holds them only while bytes are
 * in flight, so idle relays cost two fds and no memory beyond their struct. An empty pipe
 * costs two fds and no pages; a buffer may hold its pages, so fewer of those are kept. */
#define BUF_POOL_MAX 16
#define PIPE_POOL_MAX 64
/* Transfers per direction per wakeup before yielding to other fds (libuv reads 32 times). */
#define PUMP_ROUNDS 16
/* A read at least this large means bulk data: the next read of that direction splices.
 * Below it read() is cheaper: splice() moves at most one skb per pipe slot (16 by
 * default), so a queue of small messages would take many splices where one read() takes
 * them all — and a small read() coalesces them into one write. */
#define SPLICE_MIN (16u << 10)

enum { A = 0, B = 1 };

struct pipe_pair {
    int r, w;
};

struct dir {
    int src, dst;           /* sides: the fds are relay->fd[src] and relay->fd[dst] */
    char *buf;              /* pending bytes are buf[off, len) */
    size_t off, len;
    struct pipe_pair pipe;  /* r = -1 when none is held */
    size_t in_pipe;         /* pending bytes in the pipe */
    bool eof;               /* nothing more will be read from src */
    bool shut;              /* nothing more will be written to dst (shut down, or its peer is
                             * gone) */
    bool no_splice;         /* splice() refused these fds (EINVAL): copy from now on */
    bool bulk;              /* the last read was large: splice the next one */
    bool batched;           /* buf[off, len) is queued in the group's batch: neither read
                             * into nor written from until the batch has been sent */
};

struct uds_relay_group {
    struct uds_loop *loop;
    size_t buffer_size;
    int idle_ms;
    bool can_splice;
    struct uds__batch *batch;   /* NULL: every write is sent at once */
    char *bufs[BUF_POOL_MAX];
    size_t n_bufs;
    struct pipe_pair pipes[PIPE_POOL_MAX];
    size_t n_pipes;
    struct uds_relay *relays;   /* live relays, doubly linked */
    size_t count;
};

struct uds_relay {
    struct uds_relay_group *group;
    struct uds_relay *prev, *next;
    int fd[2];
    unsigned events[2];     /* registered in the loop now */
    struct dir dir[2];      /* dir[A]: A to B, dir[B]: B to A */
    uint64_t bytes[2];      /* read from A, from B */
    uint64_t spliced[2];
    uint64_t timer;
    uint64_t last_ms;       /* last time a byte moved (idle timeout only) */
    bool moved;             /* a byte moved since last_ms was set */
    int error;
    enum uds_relay_side error_side;
    bool ended;
    void (*on_close)(struct uds_relay *relay, const struct uds_relay_info *info, void *data);
    void *data;
};

/* ---- pools ------------------------------------------------------------------------------ */

static char *buf_get(struct uds_relay_group *g) {
    if (g->n_bufs > 0)
        return g->bufs[--g->n_bufs];
    return malloc(g->buffer_size);
}

static void buf_put(struct uds_relay_group *g, char *buf) {
    if (!buf)
        return;
    if (g->n_bufs < BUF_POOL_MAX)
        g->bufs[g->n_bufs++] = buf;
    else
        free(buf);
}

static int pipe_get(struct uds_relay_group *g, struct pipe_pair *ret) {
    int fds[2];

    if (g->n_pipes > 0) {
        *ret = g->pipes[--g->n_pipes];
        return 0;
    }
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    /* Best effort: past the user's pipe-page quota (fs.pipe-user-pages-soft) the kernel
     * refuses to grow a pipe, and a default-sized one still works, in smaller steps. */
    if (g->buffer_size > 4096)
        (void) fcntl(fds[1], F_SETPIPE_SZ, (int) (g->buffer_size < (1u << 20) ? g->buffer_size
                                                                              : (1u << 20)));
    *ret = (struct pipe_pair) { .r = fds[0], .w = fds[1] };
    return 0;
}

static void pipe_close(struct pipe_pair *p) {
    if (p->r >= 0) {
        (void) close(p->r);     /* a pipe has nothing to report at close */
        (void) close(p->w);
    }
    p->r = p->w = -1;
}

/* Only an empty pipe goes back to the pool: bytes left in it belong to no one. */
static void pipe_put(struct uds_relay_group *g, struct pipe_pair *p, bool empty) {
    if (p->r < 0)
        return;
    if (empty && g->n_pipes < PIPE_POOL_MAX) {
        g->pipes[g->n_pipes++] = *p;
        p->r = p->w = -1;
        return;
    }
    pipe_close(p);
}

/* splice() into a socket cannot take MSG_NOSIGNAL: a peer that is gone raises SIGPIPE in
 * the caller. Splice only where that signal is ignored (as `uds` does); elsewhere copy, so
 * the library never raises a signal the caller did not ask for. */
static bool sigpipe_ignored(void) {
    struct sigaction sa;

    return sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
           sa.sa_handler == SIG_IGN;
}

/* ---- group ------------------------------------------------------------------------------ */

UDS_API struct uds_relay_group *uds_relay_group_new(struct uds_loop *loop,
                                                    const struct uds_relay_opts *opts) {
    const struct uds_relay_opts defaults = { .buffer_size = 0 };
    struct uds_relay_group *g;

    if (!opts)
        opts = &defaults;
    if (!loop || opts->buffer_size > MAX_BUFFER || opts->idle_timeout_ms < 0 ||
        (opts->flags & ~(unsigned) (UDS_RELAY_NO_SPLICE | UDS_RELAY_NO_BATCH))) {
        errno = EINVAL;
        return NULL;
    }
    g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->loop = loop;
    g->buffer_size = opts->buffer_size ? opts->buffer_size : DEFAULT_BUFFER;
    g->idle_ms = opts->idle_timeout_ms;
    g->can_splice = !(opts->flags & UDS_RELAY_NO_SPLICE) && sigpipe_ignored();
    /* Without a batch (old kernel, io_uring disabled by policy) writes go one by one,
     * which is correct, only slower on a busy CPU. */
    if (!(opts->flags & UDS_RELAY_NO_BATCH))
        g->batch = uds__batch_new(loop);
    return g;
}

UDS_API size_t uds_relay_group_count(const struct uds_relay_group *group) {
    return group ? group->count : 0;
}

static void destroy(struct uds_relay *r, bool abort_peers);

UDS_API void uds_relay_group_free(struct uds_relay_group *group) {
    if (!group)
        return;
    while (group->relays) {
        struct uds_relay *r = group->relays;
        destroy(r, true);
        free(r);
    }
    for (size_t i = 0; i < group->n_bufs; i++)
        free(group->bufs[i]);
    for (size_t i = 0; i < group->n_pipes; i++)
        pipe_close(&group->pipes[i]);
    uds__batch_free(group->batch);
    free(group);
}

/* ---- moving bytes ----------------------------------------------------------------------- */

static bool pending(const struct dir *d) {
    return d->in_pipe > 0 || d->len > d->off;
}

/* The relay ends with err, blamed on side (UDS_RELAY_NONE for a timeout). The first error
 * is the one reported. */
static int fail(struct uds_relay *r, int err, enum uds_relay_side side) {
    if (!r->error) {
        r->error = err;
        r->error_side = side;
    }
    r->ended = true;
    return -1;
}

static enum uds_relay_side side_of(int index) {
    return index == A ? UDS_RELAY_A : UDS_RELAY_B;
}

/* The peer at dst is gone (EPIPE, ECONNRESET): what d still holds can never be delivered.
 * Drop it and stop reading its source; the other direction still carries what that peer
 * sent before it went (a reply, then EOF), and the relay ends when that is done. */
static void abandon(struct uds_relay *r, struct dir *d, int err) {
    struct uds_relay_group *g = r->group;

    if (!r->error) {
        r->error = err;
        r->error_side = side_of(d->dst);
    }
    buf_put(g, d->buf);
    d->buf = NULL;
    d->off = d->len = 0;
    pipe_put(g, &d->pipe, false);
    d->in_pipe = 0;
    d->eof = d->shut = true;
}

/* Write what d holds to dst. Returns 1 when nothing is left, 0 when dst is full (wait for
 * it to be writable), -1 when the relay ends. */
static int flush(struct uds_relay *r, struct dir *d) {
    struct uds_relay_group *g = r->group;
    int dst = r->fd[d->dst];

    while (d->in_pipe > 0) {
        ssize_t n = splice(d->pipe.r, NULL, dst, NULL, d->in_pipe,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            d->in_pipe -= (size_t) n;
            r->moved = true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0 && errno == EINVAL && !d->buf) {
            /* This socket takes no splice: bring the bytes back and send them by copy. */
            d->no_splice = true;
            d->buf = buf_get(g);
            if (!d->buf)
                return fail(r, ENOMEM, UDS_RELAY_NONE);
            n = read(d->pipe.r, d->buf, d->in_pipe);
            if (n < 0 || (size_t) n != d->in_pipe)
                return fail(r, n < 0 ? errno : EIO, UDS_RELAY_NONE);
            d->off = 0;
            d->len = (size_t) n;
            d->in_pipe = 0;
            break;
        }
        abandon(r, d, n < 0 ? errno : EPIPE);
        return 1;
    }
    if (d->pipe.r >= 0 && d->in_pipe == 0)
        pipe_put(g, &d->pipe, true);

    while (d->len > d->off) {
        ssize_t n = send(dst, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            d->off += (size_t) n;
            r->moved = true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == ENOBUFS))
            return 0;
        abandon(r, d, n < 0 ? errno : EPIPE);
        return 1;
    }
    if (d->buf) {
        buf_put(g, d->buf);
        d->buf = NULL;
        d->off = d->len = 0;
    }
    return 1;
}

/* Read once from src into d. Returns the byte count, 0 at EOF, -1 with errno (EAGAIN:
 * nothing to read now). */
static ssize_t fill(struct uds_relay *r, struct dir *d) {
    struct uds_relay_group *g = r->group;
    int src = r->fd[d->src];
    ssize_t n;

    if (g->can_splice && !d->no_splice && d->bulk &&
        (d->pipe.r >= 0 || pipe_get(g, &d->pipe) == 0)) {
        do
            n = splice(src, NULL, d->pipe.w, NULL, g->buffer_size,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        while (n < 0 && errno == EINTR);
        if (n > 0) {
            d->in_pipe = (size_t) n;
            r->spliced[d->src] += (uint64_t) n;
            d->bulk = (size_t) n >= SPLICE_MIN;
            return n;
        }
        if (n == 0 || errno != EINVAL)
            return n;
        d->no_splice = true;    /* this socket gives no splice: copy from now on */
    }
    if (!d->buf) {
        d->buf = buf_get(g);
        if (!d->buf) {
            errno = ENOMEM;
            return -1;
        }
    }
    do
        n = recv(src, d->buf, g->buffer_size, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        d->off = 0;
        d->len = (size_t) n;
        d->bulk = (size_t) n >= SPLICE_MIN;
    }
    return n;
}

/* After moving bytes in d: note the activity for the idle timeout, and give back what d
 * no longer holds anything in (buffer, pipe) to the pools until bytes come again. */
static void tidy(struct uds_relay *r, struct dir *d) {
    struct uds_relay_group *g = r->group;

    if (g->idle_ms > 0 && r->moved) {
        r->moved = false;
        r->last_ms = uds_loop_now_ms(g->loop);
    }
    if (d->buf && !pending(d)) {
        buf_put(g, d->buf);
        d->buf = NULL;
        d->off = d->len = 0;
    }
    if (d->pipe.r >= 0 && d->in_pipe == 0)
        pipe_put(g, &d->pipe, true);
}

static void settle(struct uds_relay *r);

/* One result of the batch: what the kernel took of d's bytes. */
static void on_sent(void *arg, unsigned tag, int res, int ring_error) {
    struct uds_relay *r = arg;
    struct dir *d = &r->dir[tag];

    d->batched = false;
    if (ring_error) {
        /* A send whose result never came may or may not have gone out, and neither
         * sending it again nor dropping it keeps the stream whole: the relay ends. */
        (void) fail(r, ring_error, UDS_RELAY_NONE);
    } else if (res > 0) {
        d->off += (size_t) res;
        r->moved = true;
    } else if (res < 0 && res != -EAGAIN && res != -ENOBUFS && res != -EINTR) {
        abandon(r, d, -res);
    }
    /* Bytes left over (a full socket): the events set in settle() wait for room. The other
     * direction's send, if it has one in this batch, settles the relay when it is in. */
    if (r->dir[!tag].batched)
        return;
    tidy(r, &r->dir[A]);
    tidy(r, &r->dir[B]);
    settle(r);
}

/* Queue what d holds to be sent at the end of this wakeup, together with every other
 * relay's (see uring.c for why). Returns false when it cannot be queued: send it now. */
static bool batch_add(struct uds_relay *r, struct dir *d) {
    struct uds_relay_group *g = r->group;

    if (!g->batch || uds__batch_send(g->batch, r->fd[d->dst], d->buf + d->off,
                                     d->len - d->off, on_sent, r, (unsigned) d->src) < 0)
        return false;
    d->batched = true;
    return true;
}

/* Take the relay out of the batch: its sends not yet submitted never go (its fds and
 * buffers are about to go), and none of the results will reach it. */
static void batch_remove(struct uds_relay *r) {
    uds__batch_cancel(r->group->batch, r);
    r->dir[A].batched = r->dir[B].batched = false;
}

/* Move what can be moved in direction d now. Returns 0, or -1 when the relay ends. */
static int pump(struct uds_relay *r, struct dir *d) {
    struct uds_relay_group *g = r->group;
    int ret = 0;

    if (d->batched)
        return 0;

    for (unsigned round = 0; round < PUMP_ROUNDS; round++) {
        int f = flush(r, d);
        if (f <= 0) {
            ret = f;
            break;
        }
        if (d->eof) {
            if (!d->shut) {
                d->shut = true;
                /* ENOTCONN: that peer is gone already; the other direction finds out. */
                if (shutdown(r->fd[d->dst], SHUT_WR) < 0 && errno != ENOTCONN)
                    ret = fail(r, errno, side_of(d->dst));
            }
            break;
        }
        ssize_t n = fill(r, d);
        if (n == 0) {
            d->eof = true;
            continue;
        }
        if (n < 0) {
            /* Whatever a failed source sent last is lost with it: the relay ends. */
            if (errno != EAGAIN)
                ret = fail(r, errno, side_of(d->src));
            break;
        }
        r->bytes[d->src] += (uint64_t) n;
        /* A short read emptied the socket's queue; the loop says when more arrives, which
         * saves a read() that would only answer EAGAIN. */
        if ((size_t) n < g->buffer_size && !d->in_pipe) {
            if (!batch_add(r, d))
                ret = flush(r, d) < 0 ? -1 : 0;
            break;
        }
    }
    tidy(r, d);
    return ret;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void set_abortive(int fd) {
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    /* A TCP peer then gets a reset, not a FIN it would take for a complete end. Nothing
     * to do if it fails: the close still happens. */
    (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Close both fds and give back buffers and pipes; unlink r from its group. Not freed. */
static void destroy(struct uds_relay *r, bool abort_peers) {
    struct uds_relay_group *g = r->group;

    if (r->timer)
        uds_loop_timer_cancel(g->loop, r->timer);
    r->timer = 0;
    if (r->dir[A].batched || r->dir[B].batched)
        batch_remove(r);
    for (int s = A; s <= B; s++) {
        struct dir *d = &r->dir[s];
        if (r->fd[s] >= 0) {
            (void) uds_loop_del(g->loop, r->fd[s]);
            if (abort_peers)
                set_abortive(r->fd[s]);
            (void) close(r->fd[s]);     /* the relay is over; a close error changes nothing */
            r->fd[s] = -1;
        }
        buf_put(g, d->buf);
        d->buf = NULL;
        pipe_put(g, &d->pipe, d->in_pipe == 0);
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        g->relays = r->next;
    if (r->next)
        r->next->prev = r->prev;
    g->count--;
}

static void info_of(const struct uds_relay *r, struct uds_relay_info *info) {
    *info = (struct uds_relay_info) {
        .bytes_from_a = r->bytes[A],
        .bytes_from_b = r->bytes[B],
        .spliced_from_a = r->spliced[A],
        .spliced_from_b = r->spliced[B],
        .error = r->error,
        .error_side = r->error ? r->error_side : UDS_RELAY_NONE,
    };
}

/* The relay is over: close everything, tell the owner, free it. */
static void finish(struct uds_relay *r) {
    struct uds_relay_info info;

    info_of(r, &info);
    destroy(r, r->error != 0 && r->error != ETIMEDOUT);
    if (r->on_close)
        r->on_close(r, &info, r->data);
    free(r);
}

/* Watch for what each side can do next: read from a side whose outgoing direction holds
 * nothing (a full one is the backpressure: its source waits), write to a side that has
 * bytes waiting for it. */
static int update(struct uds_relay *r) {
    for (int s = A; s <= B; s++) {
        unsigned want = 0;
        if (!r->dir[s].eof && !pending(&r->dir[s]))
            want |= UDS_EV_READ;
        if (pending(&r->dir[!s]))
            want |= UDS_EV_WRITE;
        if (want != r->events[s]) {
            if (uds_loop_mod(r->group->loop, r->fd[s], want) < 0)
                return fail(r, errno, UDS_RELAY_NONE);
            r->events[s] = want;
        }
    }
    return 0;
}

static void settle(struct uds_relay *r) {
    if (!r->ended && r->dir[A].shut && r->dir[B].shut && !pending(&r->dir[A]) &&
        !pending(&r->dir[B]))
        r->ended = true;
    /* A batched direction looks pending, but its bytes are as good as sent: the events
     * are set once the batch's results are in. */
    if (!r->ended && !r->dir[A].batched && !r->dir[B].batched)
        (void) update(r);
    if (r->ended)
        finish(r);
}

static void on_fd(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct uds_relay *r = data;
    int s = fd == r->fd[A] ? A : B;
    const unsigned trouble = UDS_EV_HUP | UDS_EV_ERROR;

    (void) loop;
    /* As a source first: what it sent before a hang-up is still to be delivered. */
    if ((events & (UDS_EV_READ | trouble)) && !r->dir[s].eof)
        (void) pump(r, &r->dir[s]);
    if (!r->ended && (events & (UDS_EV_WRITE | trouble)) && pending(&r->dir[!s]))
        (void) pump(r, &r->dir[!s]);
    settle(r);
}

static void on_idle(struct uds_loop *loop, uint64_t timer_id, void *data) {
    struct uds_relay *r = data;
    uint64_t now = uds_loop_now_ms(loop), idle = now - r->last_ms;
    uint64_t limit = (uint64_t) r->group->idle_ms;

    (void) timer_id;
    r->timer = 0;
    if (idle < limit) {
        r->timer = uds_loop_timer_add(loop, limit - idle, on_idle, r);
        if (r->timer)
            return;
        fail(r, errno, UDS_RELAY_NONE);
    } else {
        fail(r, ETIMEDOUT, UDS_RELAY_NONE);
    }
    settle(r);
}

UDS_API struct uds_relay *uds_relay_new(struct uds_relay_group *group, int fd_a, int fd_b,
                                        const void *prefix, size_t prefix_len,
                                        void (*on_close)(struct uds_relay *relay,
                                                         const struct uds_relay_info *info,
                                                         void *data),
                                        void *data) {
    struct uds_relay *r = NULL;
    int e;

    if (!group || fd_a < 0 || fd_b < 0 || fd_a == fd_b || (prefix_len && !prefix)) {
        e = EINVAL;
        goto fail;
    }
    if (prefix_len > group->buffer_size) {
        e = EMSGSIZE;
        goto fail;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        e = ENOMEM;
        goto fail;
    }
    *r = (struct uds_relay) {
        .group = group,
        .fd = { fd_a, fd_b },
        .dir = {
            { .src = A, .dst = B, .pipe = { -1, -1 } },
            { .src = B, .dst = A, .pipe = { -1, -1 } },
        },
        .on_close = on_close,
        .data = data,
    };
    if (uds_set_nonblock(fd_a, true) < 0 || uds_set_nonblock(fd_b, true) < 0) {
        e = errno;
        goto fail;
    }
    if (prefix_len > 0) {
        r->dir[A].buf = buf_get(group);
        if (!r->dir[A].buf) {
            e = ENOMEM;
            goto fail;
        }
        memcpy(r->dir[A].buf, prefix, prefix_len);
        r->dir[A].len = prefix_len;
    }
    if (uds_loop_add(group->loop, fd_a, 0, on_fd, r) < 0) {
        e = errno;
        goto fail;
    }
    if (uds_loop_add(group->loop, fd_b, 0, on_fd, r) < 0) {
        e = errno;
        (void) uds_loop_del(group->loop, fd_a);
        goto fail;
    }
    if (group->idle_ms > 0) {
        r->last_ms = uds_loop_now_ms(group->loop);
        r->timer = uds_loop_timer_add(group->loop, (uint64_t) group->idle_ms, on_idle, r);
        if (!r->timer) {
            e = errno;
            goto fail_registered;
        }
    }
    if (update(r) < 0) {
        e = r->error;
        goto fail_registered;
    }
    r->next = group->relays;
    if (group->relays)
        group->relays->prev = r;
    group->relays = r;
    group->count++;
    return r;

fail_registered:
    if (r->timer)
        uds_loop_timer_cancel(group->loop, r->timer);
    (void) uds_loop_del(group->loop, fd_a);
    (void) uds_loop_del(group->loop, fd_b);
fail:
    if (r)
        buf_put(group, r->dir[A].buf);
    free(r);
    if (fd_a >= 0)
        (void) close(fd_a);     /* consumed on failure too, as documented */
    if (fd_b >= 0 && fd_b != fd_a)
        (void) close(fd_b);
    errno = e;
    return NULL;
}

UDS_API void uds_relay_get_info(const struct uds_relay *relay, struct uds_relay_info *ret_info) {
    if (relay && ret_info)
        info_of(relay, ret_info);
}

UDS_API void uds_relay_free(struct uds_relay *relay) {
    if (!relay)
        return;
    destroy(relay, true);
    free(relay);
}
