/* SPDX-License-Identifier: MIT */
/*
 * dgram_relay.c — standing in front of a datagram server. A datagram socket has no
 * connections: what tells one sender from another is the address it is bound to. Each
 * sender gets a socket of its own, connected to the server and auto-bound to an abstract
 * name, so that the server's answers to it come back apart from everyone else's; what the
 * sender sends goes out there (with the fds it passed and, if asked, its own credentials),
 * what the server answers goes back to the sender from the relay's socket through
 * uds_dgram_reply(). A server with no room is waited for, the relay's own socket left
 * unread meanwhile so that the senders wait as they would have at the server's. Senders
 * quiet for a while are forgotten. It knows nothing of what the datagrams mean and prints
 * nothing: an observer is shown each one.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define SUN_PATH_OFFSET offsetof(struct sockaddr_un, sun_path)
#define DEFAULT_IDLE_MS 30000
#define DEFAULT_MAX_SENDERS 1024
#define DEFAULT_MAX_SIZE (256u << 10)   /* more than a Unix datagram can be by default */
#define MAX_SIZE_LIMIT (64u << 20)
#define BUCKETS_MAX 65536u      /* for the senders looked up by address */
/* Datagrams read from one fd per wakeup: a busy sender, or a busy server, cannot keep the
 * loop from the others. */
#define PER_WAKEUP 64

enum { FROM_SENDER = 0, FROM_SERVER = 1 };

struct sender {
    struct uds_dgram_relay *relay;
    struct sender *next;        /* every sender, for the sweep and the end */
    struct sender *hnext;       /* in its bucket */
    size_t bucket;
    struct sockaddr_un addr;
    socklen_t addr_len;
    struct uds_peer cred;       /* of its first datagram; no groups, pidfd -1 */
    int up;                     /* connected to the server */
    uint64_t last_ms;
    uint64_t bytes[2];          /* FROM_SENDER, FROM_SERVER */
    void *user;                 /* the observer's (event.sender_data) */
};

union control {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(UDS_MAX_FDS * sizeof(int))];
};

/* A datagram and what came with it (d.fds are the relay's until closed). */
struct datagram {
    const char *data;           /* the relay's buffer, or the held one */
    struct uds_datagram d;
};

struct uds_dgram_relay {
    struct uds_loop *loop;
    int fd;                     /* the caller's */
    struct uds_addr server;
    struct uds_dgram_relay_opts o;
    char *buf;                  /* o.max_size bytes: the datagram being relayed */
    struct sender *senders;
    size_t n_senders;
    struct uds_uid_counter *uids;   /* senders remembered per uid (o.max_senders_per_uid) */
    struct sender **buckets;    /* the senders by address: each datagram finds its own */
    size_t mask;                /* buckets - 1, a power of two less one */
    struct uds_timer timer;     /* forgets the idle senders */
    uint64_t dropped;
    /* A datagram the server had no room for, held until it has; meanwhile fd is not read,
     * so that the senders wait in its queue as they would have in the server's. */
    struct sender *held_for;    /* NULL: none is held */
    char *held_buf;             /* o.max_size bytes, from the first time one is held */
    struct datagram held;       /* its fds are the relay's until it goes */
};

static void close_fds(struct datagram *g) {
    for (size_t i = 0; i < g->d.n_fds; i++)
        (void) close(g->d.fds[i]);  /* passed on (the receiver has its own now) or dropped */
    g->d.n_fds = 0;
}

/* One datagram from fd into r->buf, what came with it into *g. Returns 1, 0 when none
 * waits, -1 on an error. */
static int take(struct uds_dgram_relay *r, int fd, struct datagram *g) {
    g->data = r->buf;
    if (uds_dgram_recv(fd, r->buf, r->o.max_size, UDS_DGRAM_DONTWAIT | UDS_DGRAM_KEEP_FDS,
                       &g->d) >= 0)
        return 1;
    g->d.n_fds = 0;
    return errno == EAGAIN ? 0 : -1;
}

/* The observer shown ev (its type, and for a drop why) with the sender's facts and, if
 * g, the datagram. */
static void tell(struct sender *s, struct uds_dgram_relay_event ev, const struct datagram *g) {
    struct uds_dgram_relay *r = s->relay;

    if (!r->o.observe)
        return;
    ev.sender = &s->addr;
    ev.sender_len = s->addr_len;
    ev.cred = &s->cred;
    ev.sender_data = &s->user;
    ev.bytes_from_sender = s->bytes[FROM_SENDER];
    ev.bytes_from_server = s->bytes[FROM_SERVER];
    if (g) {
        ev.data = g->data;
        ev.len = g->d.len;
        ev.full_len = g->d.full_len;
        ev.fds = g->d.fds;
        ev.n_fds = g->d.n_fds;
    }
    r->o.observe(r, &ev, r->o.data);
}

#define EVENT(t) ((struct uds_dgram_relay_event) { .type = (t) })

/* A datagram dropped, counted and told (error: why). */
static void drop(struct sender *s, const struct datagram *g, int error, bool from_server) {
    s->relay->dropped++;
    tell(s, (struct uds_dgram_relay_event) { .type = UDS_DGRAM_RELAY_DROPPED, .error = error,
                                             .from_server = from_server }, g);
}

/* A datagram dropped before its sender was taken in: told with what it came with. */
static void drop_unknown(struct uds_dgram_relay *r, const struct datagram *g, int error) {
    struct sender s = {
        .relay = r, .addr = g->d.from, .addr_len = g->d.from_len, .up = -1,
        .cred = g->d.cred,
    };

    drop(&s, g, error, false);
}

/* ---- senders ------------------------------------------------------------------------------ */

static bool is_bound(socklen_t addr_len) {
    return addr_len > SUN_PATH_OFFSET;
}

/* Where a sender is filed: by its address, and an unbound one (all of them alike) by its
 * pid too. FNV-1a: a sender who picks names that collide only slows down its own bucket's
 * lookups to what a list would cost. */
static size_t bucket_of(const struct uds_dgram_relay *r, const struct sockaddr_un *addr,
                        socklen_t len, pid_t pid) {
    const unsigned char *p = (const unsigned char *) addr;
    uint64_t h = 14695981039346656037u;

    for (socklen_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211u;
    if (!is_bound(len))
        h = (h ^ (uint32_t) pid) * 1099511628211u;
    return (size_t) h & r->mask;
}

static void sender_unfile(struct sender *s) {
    struct sender **p = &s->relay->buckets[s->bucket];

    while (*p != s)
        p = &(*p)->hnext;
    *p = s->hnext;
}

static void let_go(struct uds_dgram_relay *r);

static void sender_free(struct sender *s) {
    struct uds_dgram_relay *r = s->relay;

    if (r->held_for == s) {
        drop(s, &r->held, ESHUTDOWN, false);    /* the relay is freed */
        let_go(r);
    }
    sender_unfile(s);
    tell(s, EVENT(UDS_DGRAM_RELAY_SENDER_GONE), NULL);
    (void) uds_loop_del(r->loop, s->up);
    (void) close(s->up);        /* the server's answers to it, if any, are no one's now */
    if (r->uids)
        (void) uds_uid_counter_release(r->uids, s->cred.uid);  /* taken in sender_new() */
    r->n_senders--;
    free(s);
}

static void on_reply(struct uds_loop *loop, int fd, unsigned events, void *data);

static struct sender *sender_new(struct uds_dgram_relay *r, const struct datagram *g) {
    const struct uds_connect_opts opts = {
        .type = UDS_DGRAM, .timeout_ms = 1000, .flags = UDS_CONNECT_NONBLOCK,
    };
    struct sender *s;

    if (r->n_senders >= r->o.max_senders) {
        errno = EUSERS;
        return NULL;
    }
    /* One user's share, so that senders under one uid cannot fill every slot and leave
     * the other users' datagrams dropped (EUSERS) until theirs are forgotten. */
    if (r->uids) {
        int took = uds_uid_counter_take(r->uids, g->d.cred.uid, r->o.max_senders_per_uid);
        if (took <= 0) {
            if (took == 0)
                errno = EDQUOT;
            return NULL;
        }
    }
    if (!(s = calloc(1, sizeof(*s)))) {
        if (r->uids)
            (void) uds_uid_counter_release(r->uids, g->d.cred.uid);
        return NULL;
    }
    *s = (struct sender) {
        .relay = r, .addr = g->d.from, .addr_len = g->d.from_len, .up = -1,
        .last_ms = uds_loop_now_ms(r->loop),
        .cred = g->d.cred,
    };
    /* Connected, so that what arrives there is the server's answer to this sender and no
     * one else's; uds_connect_addr() binds it to an abstract name the server can answer. */
    s->up = uds_connect_addr(&r->server, &opts);
    if (s->up < 0 || uds_loop_add(r->loop, s->up, UDS_EV_READ, on_reply, s) < 0) {
        int e = errno;
        if (s->up >= 0)
            (void) close(s->up);
        if (r->uids)
            (void) uds_uid_counter_release(r->uids, s->cred.uid);
        free(s);
        errno = e;
        return NULL;
    }
    s->next = r->senders;
    r->senders = s;
    s->bucket = bucket_of(r, &s->addr, s->addr_len, s->cred.pid);
    s->hnext = r->buckets[s->bucket];
    r->buckets[s->bucket] = s;
    r->n_senders++;
    tell(s, EVENT(UDS_DGRAM_RELAY_SENDER_NEW), NULL);
    return s;
}

/* The sender g came from: the same address and ids (a name taken by another user after
 * its owner left is another sender), or for an unbound one, which has no name, the same
 * pid. */
static struct sender *sender_find(struct uds_dgram_relay *r, const struct datagram *g) {
    size_t b = bucket_of(r, &g->d.from, g->d.from_len, g->d.cred.pid);

    for (struct sender *s = r->buckets[b]; s; s = s->hnext) {
        if (s->addr_len != g->d.from_len || memcmp(&s->addr, &g->d.from, g->d.from_len) != 0)
            continue;
        if (is_bound(g->d.from_len)
                ? s->cred.uid == g->d.cred.uid && s->cred.gid == g->d.cred.gid
                : s->cred.pid == g->d.cred.pid)
            return s;
    }
    return sender_new(r, g);
}

/* ---- forgetting ----------------------------------------------------------------------------- */

static void on_timer(void *data);

/* One timer for all the senders, never moved as datagrams flow: it fires when the quietest
 * sender could first be idle long enough, and checks. Should it fail to be set (ENOMEM), the
 * next sender's datagram tries again. */
static void arm_timer(struct uds_dgram_relay *r) {
    uint64_t now = uds_loop_now_ms(r->loop), oldest = now, after;

    if (uds_timer_armed(&r->timer) || !r->senders)
        return;
    for (const struct sender *s = r->senders; s; s = s->next)
        if (s->last_ms < oldest)
            oldest = s->last_ms;
    after = oldest + (uint64_t) r->o.idle_timeout_ms;
    (void) uds_timer_arm(&r->timer, r->loop, after > now ? after - now : 1, on_timer, r);
}

static void on_timer(void *data) {
    struct uds_dgram_relay *r = data;
    uint64_t now = uds_loop_now_ms(r->loop), idle = (uint64_t) r->o.idle_timeout_ms;

    for (struct sender **p = &r->senders; *p;) {
        struct sender *s = *p;
        if (now - s->last_ms < idle || s == r->held_for) {
            p = &s->next;
            continue;
        }
        *p = s->next;
        sender_free(s);
    }
    arm_timer(r);
}

/* ---- forwarding ----------------------------------------------------------------------------- */

/* To the server, with the fds and, as asked, the sender's own credentials. */
static int forward(struct sender *s, const struct datagram *g) {
    struct uds_dgram_relay *r = s->relay;
    union control control = { .bytes = { 0 } };
    struct iovec iov = { .iov_base = (void *) g->data, .iov_len = g->d.len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes };
    struct cmsghdr *c = (struct cmsghdr *) control.bytes;
    struct ucred *cred = NULL;
    size_t ctl = 0;

    if ((r->o.flags & UDS_DGRAM_RELAY_AS_SENDER) && g->d.has_cred) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof(*cred));
        cred = (struct ucred *) (void *) CMSG_DATA(c);
        *cred = (struct ucred) { .pid = g->d.cred.pid, .uid = g->d.cred.uid,
                                 .gid = g->d.cred.gid };
        ctl = CMSG_SPACE(sizeof(*cred));
        c = (struct cmsghdr *) (control.bytes + ctl);
    }
    if (g->d.n_fds > 0) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(g->d.n_fds * sizeof(int));
        memcpy(CMSG_DATA(c), g->d.fds, g->d.n_fds * sizeof(int));
        ctl += CMSG_SPACE(g->d.n_fds * sizeof(int));
    }
    mh.msg_controllen = ctl;
    if (ctl == 0)
        mh.msg_control = NULL;
    /* Never blocking the loop: a server with no room answers EAGAIN, and the datagram is
     * held until it has some (hold()). */
    if (sendmsg(s->up, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
        return 0;
    if (errno != ESRCH || !cred)
        return -1;  /* EPERM among others: never as the relay instead, whose ids may be
                     * worth more to the server than the sender's */
    /* The sender has exited since (the kernel wants a live pid): its uid and gid with our
     * pid, as uds_dgram_reply() speaks to an abstract name. */
    cred->pid = getpid();
    return sendmsg(s->up, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 ? 0 : -1;
}

/* Checked on every datagram, not once per sender: each comes with its own credentials. */
static bool allowed(const struct uds_dgram_relay *r, const struct datagram *g) {
    return !uds_allow_is_set(r->o.allow) ||
           (g->d.has_cred && uds_peer_allowed(&g->d.cred, r->o.allow));
}

/* ---- a server with no room ------------------------------------------------------------- */

/* The server's queue is full: keep g (its bytes copied, its fds taken) until s's socket to
 * the server is writable again, and stop reading the relay's socket meanwhile. Senders then
 * wait in its queue, or get EAGAIN, as they would have at the server's, rather than lose
 * datagrams the relay could not pass on. Returns 0, or -1 with g still the caller's. */
static int hold(struct sender *s, struct datagram *g) {
    struct uds_dgram_relay *r = s->relay;

    if (!r->held_buf && !(r->held_buf = malloc(r->o.max_size)))
        return -1;
    if (uds_loop_mod(r->loop, s->up, UDS_EV_READ | UDS_EV_WRITE) < 0)
        return -1;
    if (uds_loop_mod(r->loop, r->fd, 0) < 0) {
        (void) uds_loop_mod(r->loop, s->up, UDS_EV_READ);
        return -1;
    }
    memcpy(r->held_buf, g->data, g->d.len);
    r->held = *g;
    r->held.data = r->held_buf;
    g->d.n_fds = 0;             /* they are the held datagram's now */
    r->held_for = s;
    return 0;
}

/* The held datagram is gone (sent, or dropped): read the relay's socket again. */
static void let_go(struct uds_dgram_relay *r) {
    struct sender *s = r->held_for;

    close_fds(&r->held);
    r->held_for = NULL;
    (void) uds_loop_mod(r->loop, s->up, UDS_EV_READ);
    (void) uds_loop_mod(r->loop, r->fd, UDS_EV_READ);
}

/* s's socket to the server is writable: the held datagram goes, unless the queue filled
 * again first. */
static void send_held(struct sender *s) {
    struct uds_dgram_relay *r = s->relay;

    if (forward(s, &r->held) < 0) {
        if (errno == EAGAIN)
            return;
        drop(s, &r->held, errno, false);
    }
    let_go(r);
}

/* ---- both ways ---------------------------------------------------------------------------- */

/* One datagram from a sender to the server: 0 when done with (sent or dropped), 1 when held
 * (then nothing more is read until it has gone). */
static int pass_request(struct uds_dgram_relay *r, struct datagram *g) {
    struct sender *s;

    if (!allowed(r, g)) {
        drop_unknown(r, g, EACCES);
        return 0;
    }
    s = g->d.fds_cut ? NULL : sender_find(r, g);
    if (!s) {
        drop_unknown(r, g, g->d.fds_cut ? EMSGSIZE : errno);
        return 0;
    }
    s->last_ms = uds_loop_now_ms(r->loop);
    s->bytes[FROM_SENDER] += g->d.len;
    tell(s, EVENT(UDS_DGRAM_RELAY_FROM_SENDER), g);
    if (forward(s, g) == 0)
        return 0;
    int e = errno;
    if (e == EAGAIN && hold(s, g) == 0)
        return 1;
    drop(s, g, e, false);
    return 0;
}

static void on_request(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct uds_dgram_relay *r = data;
    struct datagram g;

    (void) loop;
    (void) events;
    for (int i = 0; i < PER_WAKEUP && !r->held_for && take(r, fd, &g) > 0; i++) {
        int held = pass_request(r, &g);
        close_fds(&g);          /* passed on (the server has its own), dropped, or held */
        if (held)
            break;
    }
    arm_timer(r);
}

static void on_reply(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct sender *s = data;
    struct uds_dgram_relay *r = s->relay;
    struct datagram g;

    if (r->held_for == s && (events & (UDS_EV_WRITE | UDS_EV_ERROR | UDS_EV_HUP)))
        send_held(s);
    for (int i = 0; i < PER_WAKEUP && take(r, fd, &g) > 0; i++) {
        s->last_ms = uds_loop_now_ms(loop);
        s->bytes[FROM_SERVER] += g.d.len;
        tell(s, EVENT(UDS_DGRAM_RELAY_FROM_SERVER), &g);
        /* An unbound sender cannot be answered (EDESTADDRREQ); fds are not passed back:
         * the sender's address is its word, not a channel to hand it ours. A sender whose
         * queue is full loses its answer: the relay's socket is not connected to it, so
         * there is nothing to wait on for room there. */
        if (uds_dgram_reply(r->fd, g.data, g.d.len, MSG_DONTWAIT, &s->addr, s->addr_len,
                            &s->cred) < 0)
            drop(s, &g, errno, true);
        close_fds(&g);
    }
}

/* ---- the relay ------------------------------------------------------------------------------ */

static int check_args(struct uds_loop *loop, int fd, const struct uds_addr *server,
                      const struct uds_dgram_relay_opts *o) {
    int type = 0;
    socklen_t len = sizeof(type);

    if (!loop || fd < 0 || !server || o->idle_timeout_ms < 0 || o->max_size > MAX_SIZE_LIMIT ||
        (o->flags & ~(unsigned) UDS_DGRAM_RELAY_AS_SENDER))
        return uds__fail(EINVAL);
    if (server->kind == UDS_ADDR_TCP)
        return uds__fail(EAFNOSUPPORT);
    if (server->kind != UDS_ADDR_PATH && server->kind != UDS_ADDR_ABSTRACT)
        return uds__fail(EINVAL);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return errno == ENOTSOCK ? uds__fail(EINVAL) : -1;
    return type == SOCK_DGRAM ? 0 : uds__fail(EINVAL);
}

/* What a relay holds in memory, r itself last: for uds_dgram_relay_free(), and for a relay
 * that uds_dgram_relay_new() could not finish. */
static void free_memory(struct uds_dgram_relay *r) {
    while (r->senders) {
        struct sender *s = r->senders;
        r->senders = s->next;
        sender_free(s);
    }
    uds_uid_counter_free(r->uids);
    free(r->buf);
    free(r->held_buf);
    free(r->buckets);
    free(r);
}

UDS_API struct uds_dgram_relay *uds_dgram_relay_new(struct uds_loop *loop, int fd,
                                                    const struct uds_addr *server,
                                                    const struct uds_dgram_relay_opts *opts) {
    const struct uds_dgram_relay_opts defaults = { .idle_timeout_ms = 0 };
    struct uds_dgram_relay *r;
    int on = 1;

    if (!opts)
        opts = &defaults;
    if (check_args(loop, fd, server, opts) < 0 || !(r = calloc(1, sizeof(*r))))
        return NULL;
    *r = (struct uds_dgram_relay) { .loop = loop, .fd = fd, .server = *server, .o = *opts };
    if (!r->o.idle_timeout_ms)
        r->o.idle_timeout_ms = DEFAULT_IDLE_MS;
    if (!r->o.max_senders)
        r->o.max_senders = DEFAULT_MAX_SENDERS;
    if (!r->o.max_size)
        r->o.max_size = DEFAULT_MAX_SIZE;
    for (r->mask = 15; r->mask + 1 < r->o.max_senders && r->mask + 1 < BUCKETS_MAX;)
        r->mask = r->mask * 2 + 1;
    r->buckets = calloc(r->mask + 1, sizeof(*r->buckets));
    r->buf = r->buckets ? malloc(r->o.max_size) : NULL;
    if (r->buf && r->o.max_senders_per_uid > 0 && !(r->uids = uds_uid_counter_new())) {
        free(r->buf);
        r->buf = NULL;
    }
    /* Each datagram then carries its sender's pid, uid and gid: who it is, and whom an
     * answer may go to (uds_dgram_reply() checks the owner of the sender's path). */
    if (!r->buf || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 ||
        uds_loop_add(loop, fd, UDS_EV_READ, on_request, r) < 0) {
        UDS__KEEP_ERRNO(free_memory(r));
        return NULL;
    }
    return r;
}

UDS_API uint64_t uds_dgram_relay_dropped(const struct uds_dgram_relay *relay) {
    return relay ? relay->dropped : 0;
}

UDS_API size_t uds_dgram_relay_senders(const struct uds_dgram_relay *relay) {
    return relay ? relay->n_senders : 0;
}

UDS_API void uds_dgram_relay_free(struct uds_dgram_relay *relay) {
    if (!relay)
        return;
    (void) uds_loop_del(relay->loop, relay->fd);
    uds_timer_cancel(&relay->timer);
    free_memory(relay);
}
