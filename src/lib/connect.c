/* SPDX-License-Identifier: MIT */
/*
 * connect.c — connect to a Unix socket address with a deadline, waiting out a full backlog
 * and, on request, a server that is not there yet. It opens the client socket only; it
 * never reads or writes on it.
 */
#include <errno.h>
#include <sys/time.h>
#include <time.h>

#include "internal.h"

#define BACKOFF_FIRST_MS 1
#define BACKOFF_MAX_MS 100
#define KNOWN_FLAGS UDS_CONNECT_NONBLOCK

static void sleep_ms(uint64_t ms) {
    struct timespec ts = {
        .tv_sec = (time_t) (ms / 1000),
        .tv_nsec = (long) (ms % 1000) * 1000000L,
    };

    /* An interruption only shortens one backoff step; the caller re-checks the clock. */
    (void) nanosleep(&ts, NULL);
}

static int set_sndtimeo(int fd, uint64_t ms) {
    struct timeval tv = {
        .tv_sec = (time_t) (ms / 1000),
        .tv_usec = (suseconds_t) (ms % 1000) * 1000,
    };

    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* One connect attempt on a fresh socket. deadline is 0 for none. A full backlog makes a
 * blocking connect sleep in unix_wait_for_peer() for the socket's send timeout (a
 * non-blocking one answers EAGAIN at once), so SO_SNDTIMEO bounds the wait by the
 * deadline; it answers EAGAIN when that wait runs out. */
static int attempt(const struct uds_addr *addr, int sock_type, uint64_t deadline) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    int fd = -1, dirfd = -1;

    /* Per attempt: the directory of a long path may itself appear only later. */
    if (uds__sockaddr_for(addr, &sa, &sa_len, &dirfd) < 0)
        return -1;
    fd = socket(AF_UNIX, sock_type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (sock_type == SOCK_DGRAM) {
        /* Autobind: an address of just the family makes the kernel pick a unique
         * abstract name, so the server has somewhere to send its replies. */
        struct sockaddr_un any = { .sun_family = AF_UNIX };
        if (bind(fd, (const struct sockaddr *) &any, sizeof(sa_family_t)) < 0)
            goto fail;
    }
    for (;;) {
        if (deadline) {
            /* Past the deadline still one real try (1 ms, as 0 would mean "forever"),
             * so the caller learns ENOENT or ECONNREFUSED rather than a bare timeout. */
            uint64_t now = uds__now_ms();
            if (set_sndtimeo(fd, now < deadline ? deadline - now : 1) < 0)
                goto fail;
        }
        if (connect(fd, (const struct sockaddr *) &sa, sa_len) == 0)
            break;
        /* A signal cut the backlog wait short; the socket is still unconnected. */
        if (errno != EINTR)
            goto fail;
    }
    /* The send timeout was for connect only; the caller's sends must not inherit it. */
    if (deadline && set_sndtimeo(fd, 0) < 0)
        goto fail;
    uds__close_keep_errno(dirfd);
    return fd;
fail:
    uds__close_keep_errno(fd);
    uds__close_keep_errno(dirfd);
    return -1;
}

UDS_API int uds_connect_addr(const struct uds_addr *addr, const struct uds_connect_opts *opts) {
    const struct uds_connect_opts defaults = { .type = UDS_STREAM };
    uint64_t start, deadline = 0, wait_until = 0, backoff = BACKOFF_FIRST_MS;
    int sock_type, fd;

    if (!opts)
        opts = &defaults;
    if (!addr || opts->timeout_ms < 0 || opts->wait_ms < 0 || (opts->flags & ~KNOWN_FLAGS))
        return uds__fail(EINVAL);
    if (addr->kind == UDS_ADDR_TCP)
        return uds__fail(EAFNOSUPPORT);
    sock_type = uds_socket_type_to_sock(opts->type);
    if (sock_type < 0)
        return -1;

    /* One deadline for the whole call, the longer of the two; absent-server errors are
     * retried only within wait_ms, a full backlog up to the deadline (forever without). */
    start = uds__now_ms();
    if (opts->timeout_ms || opts->wait_ms)
        deadline = start + (uint64_t) (opts->timeout_ms > opts->wait_ms ? opts->timeout_ms
                                                                       : opts->wait_ms);
    if (opts->wait_ms)
        wait_until = start + (uint64_t) opts->wait_ms;

    for (;;) {
        uint64_t now;

        fd = attempt(addr, sock_type, deadline);
        if (fd >= 0)
            break;
        now = uds__now_ms();
        if (errno == EAGAIN) {
            /* The backlog stayed full for all the time we had: the server is there
             * but not accepting, which is a timeout, not a refusal. */
            if (deadline && now >= deadline)
                return uds__fail(ETIMEDOUT);
            if (!deadline)
                sleep_ms(BACKOFF_FIRST_MS);   /* not expected without SO_SNDTIMEO; never spin */
            continue;
        }
        if ((errno != ENOENT && errno != ECONNREFUSED) || !wait_until || now >= wait_until)
            return -1;  /* the last real error: ENOENT, ECONNREFUSED, EACCES... */
        sleep_ms(backoff < wait_until - now ? backoff : wait_until - now);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    if ((opts->flags & UDS_CONNECT_NONBLOCK) && uds_set_nonblock(fd, true) < 0) {
        uds__close_keep_errno(fd);
        return -1;
    }
    return fd;
}

UDS_API int uds_connect(const char *address, const struct uds_connect_opts *opts) {
    struct uds_addr addr;

    /* tcp: parses so that it can be refused with EAFNOSUPPORT, as documented. */
    if (uds_addr_parse(address, UDS_ADDR_ALLOW_TCP, &addr) < 0)
        return -1;
    return uds_connect_addr(&addr, opts);
}
