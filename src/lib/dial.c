/* SPDX-License-Identifier: MIT */
/*
 * dial.c — connect without blocking, on a uds_loop: to a Unix socket (a long path through
 * longpath.c, an abstract name) or a TCP host's addresses in turn, waiting out a full Unix
 * backlog with backoff, up to a deadline, and, if asked, a destination that is not there
 * yet; cancellable. It hands over the connected fd and never reads or writes on it;
 * connect.c is the blocking counterpart.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BACKOFF_FIRST_MS 1
#define BACKOFF_MAX_MS 100
/* A destination that is not there yet (wait_ms) comes up in its own time, seconds for a
 * server being started: trying every few milliseconds would only burn a CPU for each
 * client held meanwhile. */
#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS 1000

struct uds_dialer {
    struct uds_loop *loop;
    struct uds_dial *dials;         /* in progress, cancelled by uds_dialer_free() */
    int timeout_ms;
    int wait_ms;
    bool tcp;
    bool have_sa;                   /* Unix, short enough: sa serves every dial */
    struct sockaddr_un sa;
    socklen_t sa_len;
    struct uds_addr addr;           /* Unix, a long path: looked up at each attempt */
    struct uds_tcp_addrs tcp_addrs;
};

struct uds_dial {
    struct uds_dialer *dialer;
    struct uds_dial *prev, *next;
    uds_dial_done_fn *done;
    void *data;
    int fd;                         /* TCP: the handshake under way, watched; else -1 */
    size_t next_addr;               /* TCP: the next address to try */
    unsigned backoff_ms;            /* Unix: the next wait for a full backlog */
    unsigned retry_ms;              /* the next wait for a destination not there */
    int absent_error;               /* ENOENT or ECONNREFUSED while waiting for it; else 0 */
    uint64_t deadline;              /* loop time to give up at; 0 = never */
    uint64_t wait_until;            /* loop time to stop waiting for it; 0 = no waiting */
    struct uds_timer deadline_timer;    /* TCP: at the deadline */
    struct uds_timer retry_timer;       /* the next attempt */
};

/* ---- attempts ----------------------------------------------------------------------------- */

/* One attempt at the Unix destination. Returns the fd, or -1: EAGAIN the backlog is full,
 * or why not. A non-blocking Unix connect never waits: it is done at once or refused. */
static int attempt_unix(const struct uds_dialer *dl) {
    struct sockaddr_un sa;
    socklen_t len = dl->sa_len;
    const struct sockaddr_un *to = &dl->sa;
    int fd, dirfd = -1;

    if (!dl->have_sa) {
        if (uds__sockaddr_for(&dl->addr, &sa, &len, &dirfd) < 0)
            return -1;
        to = &sa;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (const struct sockaddr *) to, len) < 0) {
        uds__close_keep_errno(fd);
        fd = -1;
    }
    uds__close_keep_errno(dirfd);
    return fd;
}

/* The TCP addresses from d->next_addr on, until one connects at once (its fd) or has its
 * handshake under way (-1/EINPROGRESS, d->fd set). err is the error so far, returned when
 * no address is left. */
static int attempt_tcp(struct uds_dial *d, int err) {
    const struct uds_tcp_addrs *a = &d->dialer->tcp_addrs;
    int on = 1;

    while (d->next_addr < a->n) {
        const struct sockaddr_storage *ss = &a->addrs[d->next_addr];
        socklen_t len = a->lens[d->next_addr++];
        int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* Small writes must leave at once: Nagle's wait for an ACK would add a round
         * trip to every request of a client that writes what it has in one go. */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        if (connect(fd, (const struct sockaddr *) ss, len) == 0)
            return fd;
        err = errno;
        /* EINTR: the handshake goes on without us, as for EINPROGRESS. */
        if (err == EINPROGRESS || err == EINTR) {
            d->fd = fd;
            return uds__fail(EINPROGRESS);
        }
        (void) close(fd);
    }
    return uds__fail(err);
}

/* ---- a dial in progress ------------------------------------------------------------------- */

static void dial_release(struct uds_dial *d) {
    struct uds_dialer *dl = d->dialer;

    uds_timer_cancel(&d->deadline_timer);
    uds_timer_cancel(&d->retry_timer);
    if (d->fd >= 0) {
        (void) uds_loop_del(dl->loop, d->fd);
        (void) close(d->fd);    /* an unfinished handshake: nothing to flush */
    }
    UDS__LIST_UNLINK(dl->dials, d);
    free(d);
}

/* The end of a dial: freed first, so that done may start another or free the dialer. */
static void finish(struct uds_dial *d, int fd, int error) {
    uds_dial_done_fn *done = d->done;
    void *data = d->data;

    dial_release(d);
    done(fd, fd >= 0 ? 0 : error, data);
}

/* TCP. Between two tries for a destination not there, the truth is that it was not. */
static void on_deadline(void *data) {
    struct uds_dial *d = data;

    finish(d, -1, d->fd < 0 && d->absent_error ? d->absent_error : ETIMEDOUT);
}

static void on_writable(struct uds_loop *loop, int fd, unsigned events, void *data);
static void on_retry(void *data);

/* Whether err says that nobody is there: no socket file (or no directory for a long path),
 * a stale one, or a closed TCP port. */
static bool is_absent(int err) {
    return err == ENOENT || err == ECONNREFUSED;
}

/* An attempt failed with err: try again later, or give up. A full Unix backlog means the
 * server is there but busy: waited out until the deadline (ETIMEDOUT), after 1, 2, 4...
 * up to 100 ms. A destination not there is waited for until wait_until, after 50, 100,
 * 200... up to 1000 ms, the last try falling on wait_until itself; then its own error.
 * Returns -1/EINPROGRESS while waiting, else -1 with the error to report. */
static int after_failure(struct uds_dial *d, int err) {
    struct uds_loop *loop = d->dialer->loop;
    uint64_t now = uds_loop_now_ms(loop), wait;

    if (err == EAGAIN && !d->dialer->tcp) {
        if (d->deadline && now >= d->deadline)
            return uds__fail(ETIMEDOUT);
        wait = d->backoff_ms;
        if (d->deadline && d->deadline - now < wait)
            wait = d->deadline - now;
        d->backoff_ms = d->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d->backoff_ms * 2;
        d->absent_error = 0;
    } else if (is_absent(err) && now < d->wait_until) {
        wait = d->retry_ms;
        if (d->wait_until - now < wait)
            wait = d->wait_until - now;
        d->retry_ms = d->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : d->retry_ms * 2;
        d->absent_error = err;
    } else {
        return uds__fail(err);
    }
    if (uds_timer_arm(&d->retry_timer, loop, wait, on_retry, d) < 0)
        return -1;
    return uds__fail(EINPROGRESS);
}

/* Go on with the next TCP address after err: -1/EINPROGRESS while a handshake is under
 * way (watched) or a retry is due, else the fd or the error. */
static int next_tcp(struct uds_dial *d, int err) {
    int fd = attempt_tcp(d, err);

    if (fd >= 0)
        return fd;
    if (errno != EINPROGRESS)
        return after_failure(d, errno);
    if (uds_loop_add(d->dialer->loop, d->fd, UDS_EV_WRITE, on_writable, d) < 0) {
        uds__close_keep_errno(d->fd);
        d->fd = -1;
        return -1;
    }
    return uds__fail(EINPROGRESS);
}

static void on_writable(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct uds_dial *d = data;
    socklen_t len = sizeof(int);
    int err = 0;

    (void) events;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    (void) uds_loop_del(loop, fd);
    d->fd = -1;
    if (err == 0) {
        finish(d, fd, 0);
        return;
    }
    (void) close(fd);
    fd = next_tcp(d, err);
    if (fd >= 0 || errno != EINPROGRESS)
        finish(d, fd, errno);
}

/* The next attempt: the Unix destination again, or every TCP address from the first. */
static void on_retry(void *data) {
    struct uds_dial *d = data;
    int fd;

    if (d->dialer->tcp) {
        d->next_addr = 0;
        fd = next_tcp(d, ECONNREFUSED);
    } else {
        fd = attempt_unix(d->dialer);
        if (fd < 0)
            fd = after_failure(d, errno);
    }
    if (fd < 0 && errno == EINPROGRESS)
        return;
    finish(d, fd, errno);
}

/* ---- public ------------------------------------------------------------------------------- */

/* A Unix destination: its sockaddr once for all, or for a long path a check that one can
 * be made (the directory itself is looked up at each dial). */
static int set_unix(struct uds_dialer *dl, const struct uds_addr *addr) {
    int dirfd = -1;

    if (uds_addr_to_sockaddr(addr, &dl->sa, &dl->sa_len) == 0) {
        dl->have_sa = true;
        return 0;
    }
    if (errno != ENAMETOOLONG || addr->kind != UDS_ADDR_PATH)
        return -1;
    if (uds__sockaddr_for(addr, &dl->sa, &dl->sa_len, &dirfd) < 0 &&
        (errno == ENAMETOOLONG || errno == EINVAL))
        return -1;
    uds__close_keep_errno(dirfd);
    dl->addr = *addr;
    return 0;
}

static int set_tcp(struct uds_dialer *dl, const struct uds_addr *addr,
                   const struct uds_tcp_addrs *tcp) {
    dl->tcp = true;
    if (!tcp)
        return uds_tcp_resolve(addr, &dl->tcp_addrs, NULL) < 0 ? -1 : 0;
    if (tcp->n == 0 || tcp->n > UDS_TCP_ADDRS_MAX)
        return uds__fail(EINVAL);
    for (size_t i = 0; i < tcp->n; i++) {
        if (tcp->addrs[i].ss_family != AF_INET && tcp->addrs[i].ss_family != AF_INET6)
            return uds__fail(EAFNOSUPPORT);
        if (tcp->lens[i] > sizeof(tcp->addrs[i]))
            return uds__fail(EINVAL);
    }
    dl->tcp_addrs = *tcp;
    return 0;
}

UDS_API struct uds_dialer *uds_dialer_new(struct uds_loop *loop, const struct uds_addr *addr,
                                          const struct uds_dialer_opts *opts) {
    static const struct uds_dialer_opts defaults = { .timeout_ms = 0 };
    struct uds_dialer dl = { .loop = loop }, *ret;

    if (!opts)
        opts = &defaults;
    if (!loop || !addr || opts->timeout_ms < 0 || opts->wait_ms < 0) {
        errno = EINVAL;
        return NULL;
    }
    dl.timeout_ms = opts->timeout_ms;
    dl.wait_ms = opts->wait_ms;
    if ((addr->kind == UDS_ADDR_TCP ? set_tcp(&dl, addr, opts->tcp) : set_unix(&dl, addr)) < 0)
        return NULL;
    ret = malloc(sizeof(*ret));
    if (ret)
        *ret = dl;
    return ret;
}

UDS_API void uds_dialer_free(struct uds_dialer *dl) {
    while (dl && dl->dials)
        dial_release(dl->dials);
    free(dl);
}

/* The dial that goes on from the loop: the first TCP attempt, or the wait after a Unix
 * attempt that failed with err. One deadline for the whole dial, the longer of timeout_ms
 * and wait_ms, as uds_connect() has. Returns the fd or -1 (EINPROGRESS: under way,
 * *ret_dial set). */
static int dial_async(struct uds_dialer *dl, uds_dial_done_fn *done, void *data,
                      struct uds_dial **ret_dial, int err) {
    struct uds_dial *d = calloc(1, sizeof(*d));
    uint64_t now = uds_loop_now_ms(dl->loop);
    int fd, longest = dl->timeout_ms > dl->wait_ms ? dl->timeout_ms : dl->wait_ms;

    if (!d)
        return -1;
    *d = (struct uds_dial) {
        .dialer = dl, .done = done, .data = data, .fd = -1, .backoff_ms = BACKOFF_FIRST_MS,
        .retry_ms = RETRY_FIRST_MS,
        .deadline = longest ? now + (uint64_t) longest : 0,
        .wait_until = dl->wait_ms ? now + (uint64_t) dl->wait_ms : 0,
    };
    if (dl->tcp && longest) {
        if (uds_timer_arm(&d->deadline_timer, dl->loop, (uint64_t) longest, on_deadline,
                          d) < 0) {
            free(d);
            return -1;
        }
    }
    fd = dl->tcp ? next_tcp(d, ECONNREFUSED) : after_failure(d, err);
    if (fd >= 0 || errno != EINPROGRESS) {
        int e = errno;
        dial_release(d);
        errno = e;
        return fd;
    }
    UDS__LIST_PUSH(dl->dials, d);
    *ret_dial = d;
    return -1;  /* errno EINPROGRESS */
}

UDS_API int uds_dial(struct uds_dialer *dl, uds_dial_done_fn *done, void *data,
                     struct uds_dial **ret_dial) {
    if (!dl || !done || !ret_dial)
        return uds__fail(EINVAL);
    /* The usual case, a Unix server with room in its backlog, costs no allocation and no
     * timer; so does one not there when nobody asked to wait for it. */
    if (!dl->tcp) {
        int fd = attempt_unix(dl);
        if (fd >= 0 || (errno != EAGAIN && !(dl->wait_ms && is_absent(errno))))
            return fd;
        return dial_async(dl, done, data, ret_dial, errno);
    }
    return dial_async(dl, done, data, ret_dial, 0);
}

UDS_API void uds_dial_cancel(struct uds_dial *d) {
    if (d)
        dial_release(d);
}
