/* SPDX-License-Identifier: MIT */
/*
 * forward.c — one client's way to the forwarder's destination: held until started, dialled
 * while the client is watched (gone with nothing to deliver, or silent past the first-byte
 * timeout), shown to the caller's connected callback, relayed, ended. Runs on its shard's
 * loop; the forwarder, its shards and worker threads are forwarder.c's. No byte of the
 * client is read here, only peeked at: the relay reads it from its start.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forward.h"

void uds__forward_link(struct uds_forward **head, struct uds_forward *fwd) {
    fwd->next = *head;
    fwd->pprev = head;
    if (fwd->next)
        fwd->next->pprev = &fwd->next;
    *head = fwd;
}

void uds__forward_unlink(struct uds_forward *fwd) {
    if (!fwd->pprev)
        return;
    *fwd->pprev = fwd->next;
    if (fwd->next)
        fwd->next->pprev = fwd->pprev;
    fwd->next = NULL;
    fwd->pprev = NULL;
}

static void unwatch_client(struct uds_forward *fwd) {
    if (!fwd->watched)
        return;
    (void) uds_loop_del(fwd->sh->loop, fwd->client);
    fwd->watched = false;
}

void uds__forward_end(struct uds_forward *fwd) {
    struct uds_forwarder *fw = fwd->fw;
    struct uds__fwd_shard *sh = fwd->sh;

    uds_timer_cancel(&fwd->first_byte_timer);
    uds_dial_cancel(fwd->dial);
    unwatch_client(fwd);
    if (fwd->client >= 0)
        (void) close(fwd->client);  /* the client learns of it by the end of its stream */
    if (fwd->relay)
        uds_relay_free(fwd->relay);
    uds__forward_unlink(fwd);
    if (fw->cbs.freed)
        fw->cbs.freed(fwd, fwd->data);
    free(fwd->prefix);
    free(fwd);
    uds__forwarder_gone(fw, sh);
}

static void end_error(struct uds_forward *fwd, uds_forward_error_fn *fn, int error) {
    if (fn)
        fn(fwd, error, fwd->data);
    uds__forward_end(fwd);
}

static void end_event(struct uds_forward *fwd, uds_forward_fn *fn) {
    if (fn)
        fn(fwd, fwd->data);
    uds__forward_end(fwd);
}

/* ---- the client's first byte, while the destination is being connected ------------------ */

static uint64_t first_byte_limit(const struct uds_forward *fwd) {
    return (uint64_t) fwd->fw->opts.relay.first_byte_timeout_ms;
}

/* Whether the client has sent a byte that nobody has read yet. */
static bool client_spoke(int fd) {
    char b;

    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

static void on_first_byte_due(void *data) {
    struct uds_forward *fwd = data;

    if (client_spoke(fwd->client)) {
        fwd->spoke = true;
        return;
    }
    end_event(fwd, fwd->fw->cbs.silent);
}

/* The clock started at the hand-over and keeps running while the destination is slow to
 * answer: what the client sends meanwhile waits in its socket and counts. Armed only once
 * a connect does not complete at once, so a destination that answers at once (a Unix
 * server with room in its backlog) costs no timer. */
static int watch_first_byte(struct uds_forward *fwd) {
    uint64_t limit = first_byte_limit(fwd), spent = uds__now_ms() - fwd->started_ms;

    if (limit == 0)
        return 0;
    return uds_timer_arm(&fwd->first_byte_timer, fwd->sh->loop,
                         spent < limit ? limit - spent : 0, on_first_byte_due, fwd);
}

/* The relay counts from its own start: give it what is left of the limit. At least 1 ms,
 * as 0 would lift it; the relay then reads what is waiting before it judges. */
static int hand_over_first_byte(struct uds_forward *fwd) {
    uint64_t limit = first_byte_limit(fwd), spent = uds__now_ms() - fwd->started_ms;

    if (limit == 0 || fwd->spoke || spent == 0)
        return 0;   /* none, met already, or the relay's own clock is the same */
    return uds_relay_set_first_byte_timeout(fwd->relay,
                                            spent < limit ? (int) (limit - spent) : 1);
}

/* ---- a client that leaves while the destination is being connected ---------------------- */

/* Whether the client has closed its end altogether. A Unix client that only shut down its
 * writing (a request, then EOF) still waits for the answer: poll() tells the two apart
 * (POLLHUP once both ways are shut), where the loop's UDS_EV_HUP does not. A TCP client's
 * FIN is a half-close to us; only its reset counts. */
static bool client_hung_up(int fd) {
    struct pollfd p = { .fd = fd };

    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* The client stirred. Bytes it sent wait in its socket for the relay, also after it
 * closed: it is watched no more. A client gone with nothing to deliver is let go at once,
 * so that its place is not held for a destination that may take the whole wait to come. */
static void on_client_event(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct uds_forward *fwd = data;

    (void) loop, (void) events;
    if (client_spoke(fd)) {
        fwd->spoke = true;
        unwatch_client(fwd);
    } else if (client_hung_up(fd)) {
        end_event(fwd, fwd->fw->cbs.client_gone);
    } else {
        unwatch_client(fwd);    /* a half-close: its end is passed on by the relay */
    }
}

static void watch_client(struct uds_forward *fwd) {
    if (uds_loop_add(fwd->sh->loop, fwd->client, UDS_EV_READ, on_client_event, fwd) == 0)
        fwd->watched = true;
    /* Not watched (no memory): it is held until the destination answers, as it would be. */
}

/* ---- relaying ---------------------------------------------------------------------------- */

static void on_relay_close(struct uds_relay *relay, const struct uds_relay_info *info,
                           void *data) {
    struct uds_forward *fwd = data;

    (void) relay;
    fwd->relay = NULL;      /* the relay frees itself when this returns */
    if (fwd->fw->cbs.closed)
        fwd->fw->cbs.closed(fwd, info, fwd->data);
    uds__forward_end(fwd);
}

/* The PROXY protocol header naming the client, from its socket's two ends. */
static size_t proxy_header(const struct uds_forward *fwd, unsigned char *buf, size_t size) {
    struct sockaddr_storage peer, local;
    socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
    bool known = getpeername(fwd->client, (struct sockaddr *) &peer, &peer_len) == 0 &&
                 getsockname(fwd->client, (struct sockaddr *) &local, &local_len) == 0;
    ssize_t n = uds_proxy_header(fwd->fw->opts.proxy_header,
                                 known ? (const struct sockaddr *) &peer : NULL,
                                 known ? (const struct sockaddr *) &local : NULL, buf, size);

    return n > 0 ? (size_t) n : 0;
}

/* Relay the client to fd (taken over). Returns 0, or -1 once the forward has ended. */
static int relay(struct uds_forward *fwd, int fd) {
    const struct uds_forwarder *fw = fwd->fw;
    unsigned char hdr[UDS_PROXY_HEADER_MAX];
    size_t hdr_len = fwd->prefix_set || !fw->opts.proxy_header ? 0 :
                     proxy_header(fwd, hdr, sizeof(hdr));
    const struct uds_relay_args args = {
        .fd_a_in = fwd->client,
        .fd_a_out = fwd->client,
        .fd_b = fd,
        .prefix = fwd->prefix_set ? fwd->prefix : hdr_len ? hdr : NULL,
        .prefix_len = fwd->prefix_set ? fwd->prefix_len : hdr_len,
        .flags = (fw->opts.flags & UDS_FORWARDER_PASS_FDS) ? UDS_RELAY_PASS_FDS : 0u,
    };

    uds_timer_cancel(&fwd->first_byte_timer);
    unwatch_client(fwd);        /* the relay watches it from here */
    fwd->client = -1;           /* the relay's from here, also if it fails */
    fwd->stage = FWD_RELAYING;
    fwd->relay = uds_relay_new2(fwd->sh->relays, &args, on_relay_close, fwd);
    if (!fwd->relay || hand_over_first_byte(fwd) < 0) {
        end_error(fwd, fw->cbs.relay_error, errno);
        return -1;
    }
    if (fw->cbs.relayed)
        fw->cbs.relayed(fwd, fwd->data);
    return 0;
}

/* The destination answered on fd: ask the caller, then relay. */
static void connected(struct uds_forward *fwd, int fd) {
    uds_forward_connected_fn *fn = fwd->fw->cbs.connected;
    int next = fn ? fn(fwd, fd, fwd->data) : UDS_FORWARD_RELAY;

    if (next == UDS_FORWARD_RELAY)
        (void) relay(fwd, fd);
    else if (next == UDS_FORWARD_LATER)
        fwd->stage = FWD_WAITING;
    else
        end_error(fwd, fwd->fw->cbs.connect_error, errno ? errno : ECONNABORTED);
}

static void on_dialed(int fd, int error, void *data) {
    struct uds_forward *fwd = data;

    fwd->dial = NULL;
    if (fd < 0)
        end_error(fwd, fwd->fw->cbs.connect_error, error);
    else
        connected(fwd, fd);
}

/* On the shard's thread: connect the client, at once or from the loop. */
void uds__forward_run(void *arg) {
    struct uds_forward *fwd = arg;
    int fd;

    uds__forward_link(&fwd->sh->list, fwd);
    fwd->stage = FWD_DIALING;
    fd = uds_dial(fwd->sh->dialer, on_dialed, fwd, &fwd->dial);
    if (fd >= 0) {
        connected(fwd, fd);
    } else if (errno != EINPROGRESS) {
        end_error(fwd, fwd->fw->cbs.connect_error, errno);
    } else {
        watch_client(fwd);
        if (watch_first_byte(fwd) < 0)
            end_error(fwd, fwd->fw->cbs.connect_error, errno);
    }
}

/* ---- the caller's calls ----------------------------------------------------------------- */

UDS_API struct uds_forward *uds_forward_new(struct uds_forwarder *fwdr, void *data) {
    struct uds_forward *fwd;

    if (!fwdr || fwdr->freeing)
        return errno = EINVAL, NULL;
    fwd = calloc(1, sizeof(*fwd));
    if (!fwd)
        return NULL;
    fwd->fw = fwdr;
    fwd->data = data;
    fwd->client = -1;
    fwd->stage = FWD_HELD;
    fwd->started_ms = uds__now_ms();
    uds__forward_link(&fwdr->held, fwd);
    atomic_fetch_add(&fwdr->count, 1);
    uds__forwarder_counted(fwdr);
    return fwd;
}

UDS_API int uds_forward_start(struct uds_forward *fwd, int client_fd) {
    struct uds_forwarder *fw;
    int e;

    if (!fwd || fwd->stage != FWD_HELD) {
        if (client_fd >= 0)
            (void) close(client_fd);
        return uds__fail(EINVAL);
    }
    if (client_fd < 0) {
        uds__forward_end(fwd);      /* held still: counted on no worker */
        return uds__fail(EINVAL);
    }
    fw = fwd->fw;
    uds__forward_unlink(fwd);
    fwd->client = client_fd;
    if (!fw->pool) {
        fwd->sh = &fw->shards[0];
        uds__forward_run(fwd);
        return 0;
    }
    /* Counted on the loop picked at once, so that the next pick sees it. */
    fwd->sh = &fw->shards[uds_loop_pool_pick(fw->pool)];
    fwd->stage = FWD_POSTED;
    if (uds_loop_pool_post(fw->pool, fwd->sh->index, uds__forward_run, fwd) == 0)
        return 0;
    e = errno;
    uds__forward_end(fwd);
    return uds__fail(e);
}

UDS_API int uds_forward_resume(struct uds_forward *fwd, int fd) {
    if (!fwd || fwd->stage != FWD_WAITING) {
        if (fd >= 0)
            (void) close(fd);
        return uds__fail(EINVAL);
    }
    return relay(fwd, fd);
}

UDS_API int uds_forward_set_prefix(struct uds_forward *fwd, const void *buf, size_t len) {
    unsigned char *copy = NULL;

    if (!fwd || (!buf && len) || fwd->stage == FWD_RELAYING)
        return uds__fail(EINVAL);
    if (len && !(copy = malloc(len)))
        return -1;
    if (len)
        memcpy(copy, buf, len);
    free(fwd->prefix);
    fwd->prefix = copy;
    fwd->prefix_len = len;
    fwd->prefix_set = true;
    return 0;
}

UDS_API void uds_forward_close(struct uds_forward *fwd) {
    if (fwd)
        uds__forward_end(fwd);
}

UDS_API struct uds_loop *uds_forward_loop(const struct uds_forward *fwd) {
    if (!fwd)
        return NULL;
    return fwd->sh ? fwd->sh->loop : fwd->fw->loop;
}
