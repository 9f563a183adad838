/* SPDX-License-Identifier: MIT */
/*
 * relay_pump.c — moving a relay's bytes in one direction: read the source into a buffer or,
 * for bulk data, a pipe (splice); write them to the destination; pass an end of input on.
 * A seqpacket or dgram socket keeps its message boundaries (one read, one message); fds to
 * pass go with B's first bytes; small writes wait for the group's send batch (uring.c). And
 * the pools of buffers and pipes those transfers borrow. It registers nothing in the loop
 * and does not decide when a relay ends: relay.c does, from the state left here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

/* Transfers per direction per wakeup before yielding to other fds (libuv reads 32 times). */
#define PUMP_ROUNDS 16
/* A read at least this large means bulk data: the next read of that direction splices.
 * Below it read() is cheaper: splice() moves at most one skb per pipe slot (16 by
 * default), so a queue of small messages would take many splices where one read() takes
 * them all — and a small read() coalesces them into one write. */
#define SPLICE_MIN (16u << 10)

/* ---- pools ------------------------------------------------------------------------------ */

char *uds__relay_buf_get(struct uds_relay_group *g) {
    if (g->n_bufs > 0)
        return g->bufs[--g->n_bufs];
    return malloc(g->buffer_size);
}

void uds__relay_buf_put(struct uds_relay_group *g, char *buf) {
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

void uds__relay_pipe_close(struct pipe_pair *p) {
    if (p->r >= 0) {
        (void) close(p->r);     /* a pipe has nothing to report at close */
        (void) close(p->w);
    }
    p->r = p->w = -1;
}

/* Only an empty pipe goes back to the pool: bytes left in it belong to no one. */
void uds__relay_pipe_put(struct uds_relay_group *g, struct pipe_pair *p, bool empty) {
    if (p->r < 0)
        return;
    if (empty && g->n_pipes < PIPE_POOL_MAX) {
        g->pipes[g->n_pipes++] = *p;
        p->r = p->w = -1;
        return;
    }
    uds__relay_pipe_close(p);
}

/* ---- writing ---------------------------------------------------------------------------- */

/* The peer at dst is gone (EPIPE, ECONNRESET): what d still holds can never be delivered.
 * Drop it and stop reading its source; the other direction still carries what that peer
 * sent before it went (a reply, then EOF), and the relay ends when that is done. */
static void abandon(struct uds_relay *r, struct dir *d, int err) {
    struct uds_relay_group *g = r->group;

    if (!r->error) {
        r->error = err;
        r->error_side = side_of(d->dst);
        r->error_writing = true;
    }
    uds__relay_buf_put(g, d->buf);
    d->buf = NULL;
    d->off = d->len = 0;
    d->empty_msg = false;
    uds__relay_pipe_put(g, &d->pipe, false);
    d->in_pipe = 0;
    uds__relay_drop_dir_fds(d);
    d->eof = d->shut = true;
}

/* Writing to d's destination failed with err. Returns 1 (the direction is over) or -1 (the
 * relay is). Only a stream or seqpacket socket that is also read can still tell us more
 * after its peer went; a pipe or terminal whose reader left says nothing on the input side,
 * no end of stream will come from a dgram socket, and a message too long is not a peer
 * gone: those end the relay. */
static int lost(struct uds_relay *r, struct dir *d, int err) {
    const struct port *to = d->to;

    if (to->kind == PORT_SOCKET && !to->dgram && to == r->dir[d->dst].from && err != EMSGSIZE) {
        abandon(r, d, err);
        return 1;
    }
    return uds__relay_fail(r, err, side_of(d->dst), true);
}

void uds__relay_drop_dir_fds(struct dir *d) {
    for (size_t i = 0; i < d->n_fds; i++)
        (void) close(d->fds[i]);    /* never delivered: ours alone */
    free(d->fds);
    d->fds = NULL;
    d->n_fds = 0;
}

void uds__relay_drop_pass_fds(struct uds_relay *r) {
    for (size_t i = 0; i < r->n_pass; i++)
        (void) close(r->pass_fds[i]);   /* our copies: the receiver has its own now */
    free(r->pass_fds);
    r->pass_fds = NULL;
    r->n_pass = 0;
}

/* n bytes of d went out: a message goes whole. */
static void consumed(struct uds_relay *r, struct dir *d, size_t n) {
    d->off += n;
    d->empty_msg = false;
    r->moved = true;
    if (d->to->message) {
        d->off = d->len;
        if (d->dst == B)
            r->sent_to_b++;
    }
}

static ssize_t write_some(struct uds_relay *r, struct dir *d) {
    const char *p = d->buf ? d->buf + d->off : "";
    size_t len = d->len - d->off;
    ssize_t n;

    if (d->dst == B && r->n_pass > 0) {
        n = uds__port_write_fds(d->to, p, len, r->pass_fds, r->n_pass);
        if (n >= 0)
            uds__relay_drop_pass_fds(r);
        return n;
    }
    if (d->n_fds > 0) {
        n = uds__port_write_fds(d->to, p, len, d->fds, d->n_fds);
        if (n >= 0)     /* the receiver has its own now */
            uds__relay_drop_dir_fds(d);
        return n;
    }
    if (d->to->kind != PORT_SOCKET)
        return uds__port_write(r->group, d->to, p, len);
    /* A socket, which is what a proxy writes to every time: no detour. */
    do
        n = send(d->to->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n;
}

/* splice() into dst was refused (EINVAL: a file that takes none): bring the bytes back
 * from the pipe and send them by copy from now on. */
static int take_back(struct uds_relay *r, struct dir *d) {
    d->no_splice = true;
    d->buf = uds__relay_buf_get(r->group);
    if (!d->buf)
        return uds__relay_fail(r, ENOMEM, UDS_RELAY_NONE, false);
    ssize_t n = read(d->pipe.r, d->buf, d->in_pipe);
    if (n < 0 || (size_t) n != d->in_pipe)
        return uds__relay_fail(r, n < 0 ? errno : EIO, UDS_RELAY_NONE, false);
    d->off = 0;
    d->len = (size_t) n;
    d->in_pipe = 0;
    return 0;
}

/* Write what d holds to dst. Returns 1 when nothing is left, 0 when dst is full (wait for
 * it to be writable), -1 when the relay ends. */
static int flush(struct uds_relay *r, struct dir *d) {
    struct uds_relay_group *g = r->group;

    while (d->in_pipe > 0) {
        ssize_t n = splice(d->pipe.r, NULL, d->to->fd, NULL, d->in_pipe,
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
            if (take_back(r, d) < 0)
                return -1;
            break;
        }
        return lost(r, d, n < 0 ? errno : EPIPE);
    }
    if (d->pipe.r >= 0 && d->in_pipe == 0)
        uds__relay_pipe_put(g, &d->pipe, true);

    while (d->len > d->off || d->empty_msg) {
        ssize_t n = write_some(r, d);
        if (n > 0 || (n == 0 && d->to->message)) {
            consumed(r, d, (size_t) n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == ENOBUFS))
            return 0;
        return lost(r, d, n < 0 ? errno : EPIPE);
    }
    if (d->buf) {
        uds__relay_buf_put(g, d->buf);
        d->buf = NULL;
        d->off = d->len = 0;
    }
    return 1;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* A message of n bytes was read from d's source (n may exceed the buffer: it was cut).
 * Returns 1, or 0 for the end of the stream. */
static int took_message(struct uds_relay *r, struct dir *d, size_t n) {
    size_t max = r->group->buffer_size;

    /* On seqpacket an empty message reads as 0 too; it is taken for the end, which is what
     * a server that closes after its replies sends. A datagram has no end: 0 is a message. */
    if (n == 0 && !d->from->dgram)
        return 0;
    if (n > max) {
        n = max;
        r->messages_cut++;
    }
    r->messages[d->src]++;
    if (d->src == B && d->from->dgram && r->linger_ms > 0)
        r->last_reply_ms = uds_loop_now_ms(r->group->loop);
    d->off = 0;
    d->len = n;
    d->empty_msg = n == 0 && d->to->message;
    return 1;
}

/* Read once from src into d: *ret_n bytes. Returns 1 (something was read: an empty
 * datagram is something), 0 at the end of the stream, -1 with errno (EAGAIN: nothing to
 * read now). */
static int fill(struct uds_relay *r, struct dir *d, size_t *ret_n) {
    struct uds_relay_group *g = r->group;
    ssize_t n;

    if (!d->no_splice && d->bulk && (d->pipe.r >= 0 || pipe_get(g, &d->pipe) == 0)) {
        do
            n = splice(d->from->fd, NULL, d->pipe.w, NULL, g->buffer_size,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        while (n < 0 && errno == EINTR);
        if (n > 0) {
            d->in_pipe = (size_t) n;
            r->spliced[d->src] += (uint64_t) n;
            d->bulk = (size_t) n >= SPLICE_MIN;
            *ret_n = (size_t) n;
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno != EINVAL)
            return -1;
        d->no_splice = true;    /* this source gives no splice: copy from now on */
    }
    if (!d->buf) {
        d->buf = uds__relay_buf_get(g);
        if (!d->buf)
            return uds__fail(ENOMEM);
    }
    if (d->pass_fds) {
        n = uds__port_read_fds(d->from, d->buf, g->buffer_size, &d->fds, &d->n_fds);
    } else if (d->from->kind == PORT_SOCKET && !d->from->message) {
        do  /* what a proxy reads every time: no detour */
            n = recv(d->from->fd, d->buf, g->buffer_size, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
    } else {
        n = uds__port_read(d->from, d->buf, g->buffer_size);
    }
    if (n < 0)
        return -1;
    *ret_n = (size_t) n;
    if (d->from->message) {
        int got = took_message(r, d, (size_t) n);
        d->full_len = (size_t) n;
        *ret_n = d->len;
        if (got == 0)
            uds__relay_drop_dir_fds(d);     /* an empty seqpacket message, taken for the end */
        return got;
    }
    if (n == 0)
        return 0;
    d->off = 0;
    d->len = (size_t) n;
    d->bulk = (size_t) n >= SPLICE_MIN;
    return 1;
}

/* ---- a direction ------------------------------------------------------------------------ */

/* d's source has ended and all it sent is written: pass the end on. Returns 1 when there
 * is one more thing to write first, 0, or -1 when the relay ends. */
static int end_of_input(struct uds_relay *r, struct dir *d) {
    struct port *to = d->to;

    if (d->dst == B && r->n_pass > 0) {
        /* Nothing went to B, so the fds have not either: ancillary data needs at least one
         * byte to ride on (on a stream, a sendmsg of no bytes sends nothing at all). */
        d->buf = uds__relay_buf_get(r->group);
        if (!d->buf)
            return uds__relay_fail(r, ENOMEM, UDS_RELAY_NONE, false);
        d->buf[0] = '\0';
        d->off = 0;
        d->len = 1;
        return 1;
    }
    d->shut = true;
    if (to->kind == PORT_SOCKET && to->dgram) {
        if (d->dst == B && r->linger_ms > 0) {
            r->a_ended_ms = uds_loop_now_ms(r->group->loop);
            if (uds__relay_arm(r) < 0)
                return uds__relay_fail(r, errno, UDS_RELAY_NONE, false);
        }
        return 0;
    }
    if (to->kind == PORT_SOCKET) {
        /* ENOTCONN: that peer is gone already; the other direction finds out. */
        if (!to->borrowed && shutdown(to->fd, SHUT_WR) < 0 && errno != ENOTCONN)
            return uds__relay_fail(r, errno, side_of(d->dst), true);
        return 0;
    }
    /* An output of its own (stdout): closing it is how its reader learns of the end. */
    if (to != r->dir[d->dst].from)
        uds__port_close(r->group->loop, to, false);
    return 0;
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
        uds__relay_buf_put(g, d->buf);
        d->buf = NULL;
        d->off = d->len = 0;
    }
    if (d->pipe.r >= 0 && d->in_pipe == 0)
        uds__relay_pipe_put(g, &d->pipe, true);
}

/* One result of the batch: what the kernel took of d's bytes. */
static void on_sent(void *arg, unsigned tag, int res, int ring_error) {
    struct uds_relay *r = arg;
    struct dir *d = &r->dir[tag];

    d->batched = false;
    if (ring_error) {
        /* A send whose result never came may or may not have gone out, and neither
         * sending it again nor dropping it keeps the stream whole: the relay ends. */
        (void) uds__relay_fail(r, ring_error, UDS_RELAY_NONE, false);
    } else if (res > 0) {
        consumed(r, d, (size_t) res);
    } else if (res < 0 && res != -EAGAIN && res != -ENOBUFS && res != -EINTR) {
        (void) lost(r, d, -res);
    }
    /* Bytes left over (a full socket): the events set in settle() wait for room. The other
     * direction's send, if it has one in this batch, settles the relay when it is in. */
    if (r->dir[!tag].batched)
        return;
    tidy(r, &r->dir[A]);
    tidy(r, &r->dir[B]);
    uds__relay_settle(r);
}

/* Queue what d holds to be sent at the end of this wakeup, together with every other
 * relay's (see uring.c for why). Returns false when it cannot be queued: send it now. */
static bool batch_add(struct uds_relay *r, struct dir *d) {
    struct uds_relay_group *g = r->group;

    if (!g->batch || d->to->kind != PORT_SOCKET || (d->dst == B && r->n_pass > 0) ||
        d->n_fds > 0 ||
        uds__batch_send(g->batch, d->to->fd, d->buf + d->off, d->len - d->off, on_sent, r,
                        (unsigned) d->src) < 0)
        return false;
    d->batched = true;
    return true;
}

void uds__relay_batch_remove(struct uds_relay *r) {
    uds__batch_cancel(r->group->batch, r);
    r->dir[A].batched = r->dir[B].batched = false;
}

/* A stream source that answered less than asked has nothing more queued: the loop says
 * when more comes, which saves a read that would only answer EAGAIN. Not so for a message
 * socket (one message per read) nor for a file the loop cannot watch. */
static bool drained(const struct uds_relay *r, const struct dir *d, size_t n) {
    return n < r->group->buffer_size && !d->in_pipe && !d->from->message &&
           d->from->kind != PORT_FILE;
}

/* The observer sees what was just read into d: buf[off, len), read as n bytes (a message
 * cut to the buffer was longer). */
static void show(struct uds_relay *r, const struct dir *d, size_t n) {
    const struct uds_relay_chunk chunk = {
        .from = side_of(d->src),
        .data = d->buf ? d->buf + d->off : "",
        .len = d->len - d->off,
        .full_len = d->from->message && d->full_len > n ? d->full_len : n,
        .fds = d->fds,
        .n_fds = d->n_fds,
        .message = d->from->message,
    };

    r->observe(r, &chunk, r->data);
}

static void show_end(struct uds_relay *r, const struct dir *d) {
    const struct uds_relay_chunk chunk = {
        .from = side_of(d->src),
        .data = "",
        .message = d->from->message,
        .end = true,
    };

    r->observe(r, &chunk, r->data);
}

int uds__relay_pump(struct uds_relay *r, struct dir *d) {
    int ret = 0;

    if (d->batched)
        return 0;
    for (unsigned round = 0; round < PUMP_ROUNDS; round++) {
        int f = flush(r, d);
        if (f <= 0) {
            ret = f;
            break;
        }
        if (d->from->dgram && d->src == B && !d->eof && uds__relay_replies_done(r))
            d->eof = true;
        if (d->eof) {
            int e = d->shut ? 0 : end_of_input(r, d);
            if (e > 0)
                continue;
            ret = e;
            break;
        }
        size_t n = 0;
        int got = fill(r, d, &n);
        if (got == 0) {
            d->eof = true;
            if (r->observe)
                show_end(r, d);
            continue;
        }
        if (got < 0) {
            /* Whatever a failed source sent last is lost with it: the relay ends. */
            if (errno != EAGAIN)
                ret = uds__relay_fail(r, errno, side_of(d->src), false);
            break;
        }
        r->bytes[d->src] += (uint64_t) n;
        if (r->observe)
            show(r, d, n);
        if (drained(r, d, n)) {
            if (!batch_add(r, d))
                ret = flush(r, d) < 0 ? -1 : 0;
            break;
        }
    }
    tidy(r, d);
    return ret;
}
