/* SPDX-License-Identifier: MIT */
/*
 * relay.c — bridge two sides on a uds_loop: the groups and relays, their fds in the loop,
 * their timers, and when a relay is over. Each side is a connected socket, or for side A an
 * input and an output fd (stdin and stdout); relay_port.c knows how each fd is read and
 * written, relay_pump.c moves the bytes of one direction. It accepts, connects and parses
 * nothing: it moves bytes between fds it was given.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "relay.h"

#define DEFAULT_BUFFER (256u << 10)
#define MAX_BUFFER ((size_t) 1 << 30)
#define ARGS_FLAGS ((unsigned) (UDS_RELAY_BORROW_A | UDS_RELAY_END_WITH_B | UDS_RELAY_PASS_FDS))

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
        opts->first_byte_timeout_ms < 0 ||
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
    g->first_byte_ms = opts->first_byte_timeout_ms;
    g->sigpipe_ignored = sigpipe_ignored();
    g->can_splice = !(opts->flags & UDS_RELAY_NO_SPLICE) && g->sigpipe_ignored;
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
        uds__relay_pipe_close(&group->pipes[i]);
    uds__batch_free(group->batch);
    free(group);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int uds__relay_fail(struct uds_relay *r, int err, enum uds_relay_side side, bool writing) {
    if (!r->error) {
        r->error = err;
        r->error_side = side;
        r->error_writing = writing;
    }
    r->ended = true;
    return -1;
}

/* Close or give back everything the relay holds; not unlinked from its group, not freed. */
static void release(struct uds_relay *r, bool abort_peers) {
    struct uds_relay_group *g = r->group;

    if (r->timer)
        uds_loop_timer_cancel(g->loop, r->timer);
    if (r->kick)
        uds_loop_timer_cancel(g->loop, r->kick);
    r->timer = r->kick = 0;
    if (r->dir[A].batched || r->dir[B].batched)
        uds__relay_batch_remove(r);
    for (int i = 0; i < N_PORTS; i++)
        uds__port_close(g->loop, &r->port[i], abort_peers);
    for (int s = A; s <= B; s++) {
        struct dir *d = &r->dir[s];
        uds__relay_buf_put(g, d->buf);
        d->buf = NULL;
        uds__relay_pipe_put(g, &d->pipe, d->in_pipe == 0);
        uds__relay_drop_dir_fds(d);
    }
    uds__relay_drop_pass_fds(r);
}

/* Release r and unlink it from its group. Not freed. */
static void destroy(struct uds_relay *r, bool abort_peers) {
    struct uds_relay_group *g = r->group;

    release(r, abort_peers);
    UDS__LIST_UNLINK(g->relays, r);
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
        .error_writing = r->error && r->error_writing,
        .messages_from_a = r->messages[A],
        .messages_from_b = r->messages[B],
        .messages_cut = r->messages_cut,
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

/* ---- events ------------------------------------------------------------------------------ */

static void on_kick(struct uds_loop *loop, uint64_t timer_id, void *data);

/* A file that is always ready (a regular file, /dev/null) has work to do: the loop cannot
 * say when, so it is done on the next turn, after the fds that are waiting. */
static int kick_soon(struct uds_relay *r) {
    if (r->kick)
        return 0;
    if (uds_loop_timer_add(r->group->loop, 0, on_kick, r, &r->kick) < 0)
        return uds__relay_fail(r, errno, UDS_RELAY_NONE, false);
    return 0;
}

/* epoll takes no such file (EPERM: /dev/null, a device without poll): like a regular
 * file, it is always ready. */
static void unwatch(struct uds_relay *r, struct port *p) {
    (void) uds_loop_del(r->group->loop, p->fd);
    p->polled = false;
    p->events = 0;
    p->kind = PORT_FILE;
}

/* Watch for what each port can do next: read a source whose direction holds nothing (a
 * full one is the backpressure: its source waits), write to a port that has bytes waiting
 * for it. */
static int update(struct uds_relay *r) {
    unsigned want[N_PORTS] = { 0 };
    bool kick = false;

    for (int s = A; s <= B; s++) {
        const struct dir *d = &r->dir[s];
        if (pending(d))
            want[d->to_i] |= UDS_EV_WRITE;
        else if (!d->eof)
            want[d->from_i] |= UDS_EV_READ;
    }
    for (int i = 0; i < N_PORTS; i++) {
        struct port *p = &r->port[i];
        if (p->fd < 0 || want[i] == p->events)
            continue;
        if (p->kind == PORT_FILE) {
            kick = true;
            continue;
        }
        if (uds_loop_mod(r->group->loop, p->fd, want[i]) < 0) {
            if (errno != EPERM)
                return uds__relay_fail(r, errno, UDS_RELAY_NONE, false);
            unwatch(r, p);
            kick = true;
            continue;
        }
        p->events = want[i];
    }
    return kick ? kick_soon(r) : 0;
}

bool uds__relay_replies_done(const struct uds_relay *r) {
    const struct dir *a = &r->dir[A];

    if (!r->port[B_IO].dgram)
        return false;
    if (r->max_replies > 0)
        return r->messages[B] >= r->max_replies;
    return a->shut && !pending(a) && r->messages[B] >= r->sent_to_b;
}

/* Both directions have ended; or B's has, and that is the end of it: the caller said so,
 * or B is a dgram socket, whose end is the one the relay found for it. */
static bool over(const struct uds_relay *r) {
    const struct dir *a = &r->dir[A], *b = &r->dir[B];

    if (!b->shut || pending(b))
        return false;
    if ((r->flags & UDS_RELAY_END_WITH_B) || r->port[B_IO].dgram)
        return true;
    return a->shut && !pending(a);
}

/* An end found outside a pump (the replies, the linger time) is passed on here, and a
 * relay that is over marked so. */
static void pass_on_ends(struct uds_relay *r) {
    if (!r->dir[B].eof && uds__relay_replies_done(r))
        r->dir[B].eof = true;
    for (int s = A; s <= B && !r->ended; s++) {
        struct dir *d = &r->dir[s];
        if (d->eof && !d->shut && !d->batched && !pending(d))
            (void) uds__relay_pump(r, d);
    }
    if (!r->ended && over(r))
        r->ended = true;
}

void uds__relay_settle(struct uds_relay *r) {
    /* Nothing can be over while both directions read on, unless B is a dgram socket, whose
     * end the relay decides. */
    if (!r->ended && (r->dir[A].eof || r->dir[B].eof || r->port[B_IO].dgram))
        pass_on_ends(r);
    /* A batched direction looks pending, but its bytes are as good as sent: the events
     * are set once the batch's results are in. */
    if (!r->ended && !r->dir[A].batched && !r->dir[B].batched)
        (void) update(r);
    if (r->ended)
        finish(r);
}

static void on_fd(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct port *p = data;
    struct uds_relay *r = p->relay;
    const unsigned trouble = UDS_EV_HUP | UDS_EV_ERROR;

    (void) loop;
    (void) fd;
    /* As a source first: what it sent before a hang-up is still to be delivered. */
    for (int s = A; s <= B; s++) {
        struct dir *d = &r->dir[s];
        if (d->from == p && (events & (UDS_EV_READ | trouble)) && !d->eof && !r->ended)
            (void) uds__relay_pump(r, d);
    }
    for (int s = A; s <= B; s++) {
        struct dir *d = &r->dir[s];
        if (d->to == p && (events & (UDS_EV_WRITE | trouble)) && pending(d) && !r->ended)
            (void) uds__relay_pump(r, d);
    }
    uds__relay_settle(r);
}

static void on_kick(struct uds_loop *loop, uint64_t timer_id, void *data) {
    struct uds_relay *r = data;

    (void) loop;
    (void) timer_id;
    r->kick = 0;
    for (int s = A; s <= B && !r->ended; s++) {
        struct dir *d = &r->dir[s];
        if ((d->from->kind == PORT_FILE && d->from->fd >= 0 && !d->eof) ||
            (d->to->kind == PORT_FILE && d->to->fd >= 0 && pending(d)))
            (void) uds__relay_pump(r, d);
    }
    uds__relay_settle(r);
}

/* ---- deadlines ------------------------------------------------------------------------ */

/* B a dgram socket with a linger time, A's input over: when B will have been quiet long
 * enough. 0 when there is no such deadline. */
static uint64_t linger_deadline(const struct uds_relay *r) {
    uint64_t from = r->a_ended_ms;

    if (!from || r->dir[B].eof)
        return 0;
    if (r->last_reply_ms > from)
        from = r->last_reply_ms;
    return from + (uint64_t) r->linger_ms;
}

/* One timer per relay serves every limit, set for the earliest deadline. None is pushed
 * back as bytes move, which would cost the hot path a timer update per read: the timer
 * fires at the earliest moment a limit could be reached and looks at what happened since.
 * A's first byte needs nothing on the hot path at all: bytes[A] already counts it. */
static uint64_t next_deadline(const struct uds_relay *r) {
    uint64_t when = 0, linger = linger_deadline(r);

    if (r->group->idle_ms > 0)
        when = r->last_ms + (uint64_t) r->group->idle_ms;
    if (r->first_byte_at && (!when || r->first_byte_at < when))
        when = r->first_byte_at;
    if (linger && (!when || linger < when))
        when = linger;
    return when;
}

static void on_timer(struct uds_loop *loop, uint64_t timer_id, void *data);

/* The new timer is added before the old one goes, so a failure leaves things as they
 * were. */
int uds__relay_arm(struct uds_relay *r) {
    struct uds_loop *loop = r->group->loop;
    uint64_t when = next_deadline(r), timer = 0;

    if (when) {
        uint64_t now = uds_loop_now_ms(loop);
        if (uds_loop_timer_add(loop, when > now ? when - now : 0, on_timer, r, &timer) < 0)
            return -1;
    }
    if (r->timer)
        uds_loop_timer_cancel(loop, r->timer);
    r->timer = timer;
    return 0;
}

/* Whether A has sent a byte: one read, or one waiting to be. A byte may wait unread while
 * the prefix still fills A's direction, or arrive in the same wakeup as the deadline. */
static bool a_has_spoken(const struct uds_relay *r) {
    const struct port *in = r->dir[A].from;
    char c;
    int n = 0;

    if (r->bytes[A] > 0)
        return true;
    if (in->kind == PORT_SOCKET)
        return recv(in->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
    return ioctl(in->fd, FIONREAD, &n) == 0 && n > 0;
}

static void on_timer(struct uds_loop *loop, uint64_t timer_id, void *data) {
    struct uds_relay *r = data;
    uint64_t now = uds_loop_now_ms(loop), linger = linger_deadline(r);

    (void) timer_id;
    r->timer = 0;
    if (r->first_byte_at && now >= r->first_byte_at) {
        r->first_byte_at = 0;
        /* An end of stream is not a byte: a side that only half-closed has said nothing. */
        if (!a_has_spoken(r))
            (void) uds__relay_fail(r, ETIMEDOUT, UDS_RELAY_A, false);
    }
    if (!r->ended && r->group->idle_ms > 0 && now - r->last_ms >= (uint64_t) r->group->idle_ms)
        (void) uds__relay_fail(r, ETIMEDOUT, UDS_RELAY_NONE, false);
    /* B has been quiet for the linger time: that is the end of what it had to say. */
    if (linger && now >= linger)
        r->dir[B].eof = true;
    if (!r->ended && uds__relay_arm(r) < 0)
        (void) uds__relay_fail(r, errno, UDS_RELAY_NONE, false);
    uds__relay_settle(r);
}

/* ---- a new relay ---------------------------------------------------------------------- */

static int check_args(const struct uds_relay_group *group, const struct uds_relay_args *a) {
    if (!group || a->fd_b < 0 || a->fd_a_in < -1 || a->fd_a_out < 0 ||
        a->fd_a_in == a->fd_b || a->fd_a_out == a->fd_b || (a->prefix_len && !a->prefix) ||
        (a->n_fds_to_pass && !a->fds_to_pass) || a->n_fds_to_pass > UDS_MAX_FDS ||
        a->linger_ms < 0 || (a->flags & ~ARGS_FLAGS) ||
        ((a->flags & UDS_RELAY_PASS_FDS) && a->n_fds_to_pass))
        return EINVAL;
    if (a->prefix_len > group->buffer_size)
        return EMSGSIZE;
    return 0;
}

/* The fds taken over, closed when the relay fails before it has them in its ports. */
static void close_taken(const struct uds_relay_args *a) {
    if (a->fd_b >= 0)
        (void) close(a->fd_b);     /* consumed on failure too, as documented */
    if (a->flags & UDS_RELAY_BORROW_A)
        return;
    if (a->fd_a_in >= 0 && a->fd_a_in != a->fd_b)
        (void) close(a->fd_a_in);
    if (a->fd_a_out >= 0 && a->fd_a_out != a->fd_a_in && a->fd_a_out != a->fd_b)
        (void) close(a->fd_a_out);
}

/* The relay's ports and directions. Every fd is in its port from the start, so that one
 * release() undoes whatever step fails later. */
static void init(struct uds_relay *r, struct uds_relay_group *group,
                 const struct uds_relay_args *a) {
    bool same = a->fd_a_in == a->fd_a_out, borrow = a->flags & UDS_RELAY_BORROW_A;
    struct port *a_out = same ? &r->port[A_IN] : &r->port[A_OUT];

    r->group = group;
    for (int i = 0; i < N_PORTS; i++)
        r->port[i] = (struct port) { .relay = r, .fd = -1, .caller_fd = -1, .saved_flags = -1 };
    r->port[B_IO].fd = a->fd_b;
    r->port[B_IO].own = true;
    if (!borrow) {
        r->port[A_IN].fd = a->fd_a_in;
        r->port[A_IN].own = a->fd_a_in >= 0;
        a_out->fd = a->fd_a_out;
        a_out->own = true;
    }
    r->dir[A] = (struct dir) { .src = A, .dst = B, .from = &r->port[A_IN],
                               .to = &r->port[B_IO], .from_i = A_IN, .to_i = B_IO,
                               .pipe = { -1, -1 }, .eof = a->fd_a_in < 0 };
    r->dir[B] = (struct dir) { .src = B, .dst = A, .from = &r->port[B_IO], .to = a_out,
                               .from_i = B_IO, .to_i = (uint8_t) (a_out - r->port),
                               .pipe = { -1, -1 } };
    r->flags = a->flags;
    r->max_replies = a->max_replies;
    r->linger_ms = a->linger_ms;
    r->observe = a->observe;
}

static int open_ports(struct uds_relay *r, const struct uds_relay_args *a) {
    bool same = a->fd_a_in == a->fd_a_out, borrow = a->flags & UDS_RELAY_BORROW_A;

    if (uds__port_open(&r->port[B_IO], a->fd_b, true, true, false) < 0)
        return -1;
    if (a->fd_a_in >= 0 && uds__port_open(&r->port[A_IN], a->fd_a_in, true, same, borrow) < 0)
        return -1;
    if (!same && uds__port_open(&r->port[A_OUT], a->fd_a_out, false, true, borrow) < 0)
        return -1;
    for (int s = A; s <= B; s++) {
        struct dir *d = &r->dir[s];
        d->pass_fds = (a->flags & UDS_RELAY_PASS_FDS) && d->from->kind == PORT_SOCKET &&
                      d->from->unix_socket && d->to->kind == PORT_SOCKET &&
                      d->to->unix_socket;
        /* splice() drops passed fds, and an observer has to see the bytes. */
        d->no_splice = !r->group->can_splice || !d->from->splice_ok || !d->to->splice_ok ||
                       d->pass_fds || r->observe;
    }
    return 0;
}

/* Our own copies of the fds to pass, and the prefix, both for B's first write. */
static int take_first_bytes(struct uds_relay *r, const struct uds_relay_args *a) {
    struct dir *d = &r->dir[A];

    if (a->n_fds_to_pass > 0) {
        r->pass_fds = calloc(a->n_fds_to_pass, sizeof(int));
        if (!r->pass_fds)
            return -1;
        for (; r->n_pass < a->n_fds_to_pass; r->n_pass++) {
            r->pass_fds[r->n_pass] = fcntl(a->fds_to_pass[r->n_pass], F_DUPFD_CLOEXEC, 0);
            if (r->pass_fds[r->n_pass] < 0)
                return -1;
        }
        d->no_splice = true;    /* the fds go by sendmsg(), with bytes from a buffer */
    }
    if (a->prefix_len > 0) {
        d->buf = uds__relay_buf_get(r->group);
        if (!d->buf)
            return uds__fail(ENOMEM);
        memcpy(d->buf, a->prefix, a->prefix_len);
        d->len = a->prefix_len;
    } else if (a->prefix && r->port[B_IO].message) {
        d->empty_msg = true;
    }
    return 0;
}

static int watch(struct uds_relay *r) {
    for (int i = 0; i < N_PORTS; i++) {
        struct port *p = &r->port[i];
        if (p->fd < 0 || p->kind == PORT_FILE)
            continue;
        if (uds_loop_add(r->group->loop, p->fd, 0, on_fd, p) < 0)
            return -1;
        p->polled = true;
    }
    r->last_ms = uds_loop_now_ms(r->group->loop);
    /* A with no input will never speak: no first-byte limit for it. */
    if (r->group->first_byte_ms > 0 && r->dir[A].from->fd >= 0)
        r->first_byte_at = r->last_ms + (uint64_t) r->group->first_byte_ms;
    return uds__relay_arm(r);
}

UDS_API struct uds_relay *uds_relay_new2(struct uds_relay_group *group,
                                         const struct uds_relay_args *args,
                                         void (*on_close)(struct uds_relay *relay,
                                                          const struct uds_relay_info *info,
                                                          void *data),
                                         void *data) {
    struct uds_relay *r;
    int e;

    if (!args)
        return (errno = EINVAL, NULL);
    e = check_args(group, args);
    r = e ? NULL : calloc(1, sizeof(*r));
    if (!r) {
        close_taken(args);
        errno = e ? e : ENOMEM;
        return NULL;
    }
    init(r, group, args);
    r->on_close = on_close;
    r->data = data;
    if (open_ports(r, args) < 0 || take_first_bytes(r, args) < 0 || watch(r) < 0)
        goto fail;
    if (update(r) < 0) {
        errno = r->error;
        goto fail;
    }
    /* With no input, A's end is there already: it is passed on (the fds with a NUL byte,
     * the half-close) on the first turn of the loop, not from inside this call. */
    if (args->fd_a_in < 0 && kick_soon(r) < 0) {
        errno = r->error;
        goto fail;
    }
    UDS__LIST_PUSH(group->relays, r);
    group->count++;
    return r;

fail:
    e = errno;
    release(r, false);
    free(r);
    errno = e;
    return NULL;
}

UDS_API struct uds_relay *uds_relay_new(struct uds_relay_group *group, int fd_a, int fd_b,
                                        const void *prefix, size_t prefix_len,
                                        void (*on_close)(struct uds_relay *relay,
                                                         const struct uds_relay_info *info,
                                                         void *data),
                                        void *data) {
    const struct uds_relay_args args = {
        .fd_a_in = fd_a,
        .fd_a_out = fd_a,
        .fd_b = fd_b,
        /* No empty message: this call never sent one for an empty prefix. */
        .prefix = prefix_len ? prefix : NULL,
        .prefix_len = prefix_len,
    };

    if (fd_a < 0) {
        /* -1 means "no input" to uds_relay_new2(); here it is a mistake. */
        if (fd_b >= 0)
            (void) close(fd_b);
        return (errno = EINVAL, NULL);
    }
    return uds_relay_new2(group, &args, on_close, data);
}

UDS_API int uds_relay_set_first_byte_timeout(struct uds_relay *relay, int timeout_ms) {
    uint64_t was;

    if (!relay || timeout_ms < 0)
        return uds__fail(EINVAL);
    if (relay->bytes[A] > 0 || relay->dir[A].from->fd < 0)
        return 0;   /* A has spoken, or never will: nothing is due any more */
    was = relay->first_byte_at;
    relay->first_byte_at = timeout_ms > 0 ? uds_loop_now_ms(relay->group->loop) +
                                            (uint64_t) timeout_ms : 0;
    if (uds__relay_arm(relay) < 0) {
        relay->first_byte_at = was;
        return -1;
    }
    return 0;
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
