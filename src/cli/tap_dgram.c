/* SPDX-License-Identifier: MIT */
/*
 * tap_dgram.c — `uds tap` in front of a datagram server. A datagram socket has no
 * connections to relay: each sender (by the address it is bound to) gets a socket of its
 * own, connected to the server and bound to an automatic abstract name so the server can
 * answer; what a sender sends goes out there (with the fds it passed and, run as root, its
 * own credentials: SCM_CREDENTIALS), what the server answers goes back to the sender from
 * the tap's socket at the server's path, through uds_dgram_reply() (which never lets a
 * sender's name redirect an answer). Senders quiet for a while are forgotten. Every
 * datagram is shown and captured as one UDP datagram.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "tap.h"

#define DGRAM_MAX (256u << 10)      /* larger than a Unix datagram can be by default */
#define IDLE_MS 30000
#define SWEEP_MS 5000
#define FDS_MAX 253
#define PER_WAKEUP 64

struct sender {
    struct tap_dgram *d;
    struct sender *next;
    struct sockaddr_un addr;
    socklen_t addr_len;
    struct uds_peer peer;       /* from SCM_CREDENTIALS: pid, uid, gid */
    struct tap_client client;
    struct tap_flow flow;
    int up;                     /* connected to the server */
    uint64_t last_ms;
    uint64_t bytes[2];          /* to the server, to the sender (enum tap_dir) */
    bool commented;
};

struct tap_dgram {
    struct tap_dgram_opts o;
    char *buf;
    struct sender *senders;
    uint64_t sweep;
    uint64_t dropped;
};

union control {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(FDS_MAX * sizeof(int))];
};

/* A datagram and what came with it. */
struct dgram {
    size_t len, full_len;
    struct sockaddr_un from;
    socklen_t from_len;
    struct ucred cred;
    bool has_cred;
    int fds[FDS_MAX];
    size_t n_fds;
};

static uint64_t now_us(void) {
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
}

static void close_fds(struct dgram *g) {
    for (size_t i = 0; i < g->n_fds; i++)
        (void) close(g->fds[i]);   /* delivered (the receiver has its own) or dropped */
    g->n_fds = 0;
}

static void take_control(struct msghdr *mh, struct dgram *g) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(g->cred))) {
            memcpy(&g->cred, CMSG_DATA(c), sizeof(g->cred));
            g->has_cred = true;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            if (k > FDS_MAX - g->n_fds)
                k = FDS_MAX - g->n_fds;
            memcpy(g->fds + g->n_fds, CMSG_DATA(c), k * sizeof(int));
            g->n_fds += k;
        }
    }
}

/* One datagram from fd into d->buf, what came with it into *g. Returns 1, 0 when none
 * waits, -1 on an error. */
static int take(struct tap_dgram *d, int fd, struct dgram *g) {
    union control control;
    struct iovec iov = { .iov_base = d->buf, .iov_len = DGRAM_MAX };
    struct msghdr mh = {
        .msg_name = &g->from, .msg_namelen = sizeof(g->from), .msg_iov = &iov,
        .msg_iovlen = 1, .msg_control = control.bytes, .msg_controllen = sizeof(control),
    };
    ssize_t n;

    *g = (struct dgram) { .n_fds = 0 };
    do
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    g->full_len = (size_t) n;
    g->len = (size_t) n < DGRAM_MAX ? (size_t) n : DGRAM_MAX;
    g->from_len = mh.msg_namelen;
    take_control(&mh, g);
    return 1;
}

/* ---- showing ------------------------------------------------------------------------------ */

static void show(struct sender *s, enum tap_dir dir, const struct dgram *g) {
    struct tap_dgram *d = s->d;
    struct tap_fd fds[16];
    size_t n = g->n_fds < 16 ? g->n_fds : 16;
    char comment[512];
    size_t used = 0;

    s->bytes[dir] += g->len;
    for (size_t i = 0; i < n; i++) {
        char link[32];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", g->fds[i]);
        ssize_t len = readlink(link, fds[i].what, sizeof(fds[i].what) - 1);
        fds[i].what[len < 0 ? 0 : len] = '\0';
    }
    if (d->o.printer)
        tap_print_data(d->o.printer, &s->client, dir, d->buf, g->len, g->full_len, true, fds, n);
    if (d->o.cap->fd < 0) {
        d->o.captured(d->o.data, 0);    /* to see whether the printing went well */
        return;
    }
    comment[0] = '\0';
    if (!s->commented) {
        s->commented = true;
        cli_append(comment, sizeof(comment), &used, "uds tap #%u: client %s pid %ld uid %lu "
                   "gid %lu comm %s; server %s", s->client.id, s->client.address,
                   (long) s->client.pid, (unsigned long) s->client.uid,
                   (unsigned long) s->client.gid, s->client.command, d->o.server_name);
    }
    if (n > 0) {
        cli_append(comment, sizeof(comment), &used, "%spassed %zu fd%s:", used ? "; " : "",
                   g->n_fds, g->n_fds == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            cli_append(comment, sizeof(comment), &used, " %s", fds[i].what);
    }
    d->o.captured(d->o.data, tap_capture_data(d->o.cap, &s->flow, dir, d->buf, g->len,
                                              now_us(), used ? comment : NULL));
}

/* ---- senders -------------------------------------------------------------------------------- */

static void name_sender(struct sender *s) {
    size_t n = s->addr_len > offsetof(struct sockaddr_un, sun_path)
                   ? s->addr_len - offsetof(struct sockaddr_un, sun_path) : 0;
    char *out = s->client.address;
    size_t size = sizeof(s->client.address);

    if (n == 0)
        snprintf(out, size, "(unbound)");
    else if (s->addr.sun_path[0] == '\0')
        snprintf(out, size, "@%.*s", (int) (n - 1), s->addr.sun_path + 1);
    else
        snprintf(out, size, "%.*s", (int) strnlen(s->addr.sun_path, n), s->addr.sun_path);
}

static void sender_free(struct sender *s) {
    struct tap_dgram *d = s->d;

    if (d->o.printer)
        tap_print_close(d->o.printer, &s->client, s->bytes[TAP_TO_SERVER],
                        s->bytes[TAP_TO_CLIENT], NULL);
    if (s->up >= 0) {
        (void) uds_loop_del(d->o.loop, s->up);
        (void) close(s->up);    /* the server's answers to it, if any, are no one's now */
    }
    free(s);
}

static void on_reply(struct uds_loop *loop, int fd, unsigned events, void *data);

static struct sender *sender_new(struct tap_dgram *d, const struct dgram *g) {
    struct sender *s = calloc(1, sizeof(*s));
    const struct uds_connect_opts opts = { .type = UDS_DGRAM, .timeout_ms = 1000 };

    if (!s)
        return NULL;
    s->d = d;
    s->addr = g->from;
    s->addr_len = g->from_len;
    s->client.id = ++*d->o.next_id;
    s->client.has_peer = g->has_cred;
    s->client.pid = s->peer.pid = g->cred.pid;
    s->client.uid = s->peer.uid = g->cred.uid;
    s->client.gid = s->peer.gid = g->cred.gid;
    s->peer.pidfd = -1;
    name_sender(s);
    struct uds_procinfo info;
    if (g->has_cred && uds_procinfo_get(g->cred.pid, &info) == 0)
        memcpy(s->client.command, info.command, sizeof(s->client.command));
    s->flow = (struct tap_flow) {
        .client_ip = 0x7F000101u + s->client.id / 60000u, .server_ip = 0x7F000001u,
        .client_port = (uint16_t) (1024u + s->client.id % 60000u),
        .server_port = d->o.server_port, .udp = true,
    };
    s->up = uds_connect_addr(d->o.server, &opts);
    if (s->up < 0 || uds_set_nonblock(s->up, true) < 0 ||
        uds_loop_add(d->o.loop, s->up, UDS_EV_READ, on_reply, s) < 0) {
        if (s->up >= 0)
            (void) close(s->up);
        free(s);
        return NULL;
    }
    if (d->o.printer)
        tap_print_open(d->o.printer, &s->client);
    s->next = d->senders;
    d->senders = s;
    return s;
}

static struct sender *sender_find(struct tap_dgram *d, const struct dgram *g) {
    for (struct sender *s = d->senders; s; s = s->next)
        if (s->addr_len == g->from_len && memcmp(&s->addr, &g->from, g->from_len) == 0 &&
            (g->from_len > offsetof(struct sockaddr_un, sun_path) || s->peer.pid == g->cred.pid))
            return s;   /* unbound senders have no name: told apart by their pid */
    return sender_new(d, g);
}

/* ---- forwarding ----------------------------------------------------------------------------- */

/* To the server, with the fds and, run as root, the sender's own credentials (without
 * CAP_SETUID the kernel refuses other ids: then as the tap). */
static void forward(struct sender *s, struct dgram *g) {
    union control control = { .bytes = { 0 } };
    struct iovec iov = { .iov_base = s->d->buf, .iov_len = g->len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes };
    size_t ctl = 0;
    struct cmsghdr *c = (struct cmsghdr *) control.bytes;

    if (s->d->o.as_client && g->has_cred) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof(g->cred));
        memcpy(CMSG_DATA(c), &g->cred, sizeof(g->cred));
        ctl += CMSG_SPACE(sizeof(g->cred));
        c = (struct cmsghdr *) (control.bytes + ctl);
    }
    if (g->n_fds > 0) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(g->n_fds * sizeof(int));
        memcpy(CMSG_DATA(c), g->fds, g->n_fds * sizeof(int));
        ctl += CMSG_SPACE(g->n_fds * sizeof(int));
    }
    mh.msg_controllen = ctl;
    if (ctl == 0)
        mh.msg_control = NULL;
    /* A server whose queue is full would have made the sender wait; the tap cannot, and
     * drops it, as an overloaded datagram path may. */
    if (sendmsg(s->up, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        s->d->dropped++;
}

static void on_request(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct tap_dgram *d = data;
    struct dgram g;

    (void) loop;
    (void) events;
    for (int i = 0; i < PER_WAKEUP && take(d, fd, &g) > 0; i++) {
        struct sender *s = sender_find(d, &g);
        if (s) {
            s->last_ms = cli_now_ms();
            show(s, TAP_TO_SERVER, &g);
            forward(s, &g);
        } else {
            d->dropped++;
        }
        close_fds(&g);
    }
}

static void on_reply(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct sender *s = data;
    struct tap_dgram *d = s->d;
    struct dgram g;

    (void) loop;
    (void) events;
    for (int i = 0; i < PER_WAKEUP && take(d, fd, &g) > 0; i++) {
        s->last_ms = cli_now_ms();
        show(s, TAP_TO_CLIENT, &g);
        /* An unbound sender cannot be answered; fds on answers are not passed back. */
        if (s->addr_len <= offsetof(struct sockaddr_un, sun_path) ||
            uds_dgram_reply(d->o.fd, d->buf, g.len, MSG_DONTWAIT, &s->addr, s->addr_len,
                            &s->peer) < 0)
            d->dropped++;
        close_fds(&g);
    }
}

static void on_sweep(struct uds_loop *loop, uint64_t timer_id, void *data) {
    struct tap_dgram *d = data;
    uint64_t now = cli_now_ms();

    (void) timer_id;
    for (struct sender **p = &d->senders; *p;) {
        struct sender *s = *p;
        if (now - s->last_ms < IDLE_MS) {
            p = &s->next;
            continue;
        }
        *p = s->next;
        sender_free(s);
    }
    d->sweep = 0;
    (void) uds_loop_timer_add(loop, SWEEP_MS, on_sweep, d, &d->sweep);
}

/* ---- the whole ------------------------------------------------------------------------------ */

struct tap_dgram *tap_dgram_new(const struct tap_dgram_opts *o) {
    struct tap_dgram *d = calloc(1, sizeof(*d));
    int on = 1;

    if (!d)
        return NULL;
    d->o = *o;
    d->buf = malloc(DGRAM_MAX);
    /* The senders' pid, uid and gid come with each datagram. */
    if (!d->buf || setsockopt(o->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 ||
        uds_loop_add(o->loop, o->fd, UDS_EV_READ, on_request, d) < 0) {
        int e = errno;
        free(d->buf);
        free(d);
        errno = e;
        return NULL;
    }
    (void) uds_loop_timer_add(o->loop, SWEEP_MS, on_sweep, d, &d->sweep);
    return d;
}

uint64_t tap_dgram_dropped(const struct tap_dgram *d) {
    return d ? d->dropped : 0;
}

void tap_dgram_free(struct tap_dgram *d) {
    if (!d)
        return;
    (void) uds_loop_del(d->o.loop, d->o.fd);
    if (d->sweep)
        uds_loop_timer_cancel(d->o.loop, d->sweep);
    while (d->senders) {
        struct sender *s = d->senders;
        d->senders = s->next;
        sender_free(s);
    }
    free(d->buf);
    free(d);
}
