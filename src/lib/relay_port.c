/* SPDX-License-Identifier: MIT */
/*
 * relay_port.c — the fds of a relay: what each one is (a socket keeping message boundaries
 * or not, a pipe, a terminal, a regular file), how the relay reads and writes it without
 * blocking, and, for an fd the caller only lends (stdin, stdout), how to do that without
 * changing what the caller and the processes sharing it see. It moves no bytes of its own
 * accord and decides nothing about directions: relay_pump.c calls it for each transfer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "relay.h"

/* O_NONBLOCK belongs to the open file description, which a borrowed fd shares with the
 * caller and with every process that inherited it: a terminal left non-blocking breaks the
 * shell's next read. A description of our own — the same pipe or terminal opened again
 * through /proc — can be non-blocking alone (libuv does the same for terminals). Regular
 * files need no O_NONBLOCK (it changes nothing for them) and are used as they are. */
static int reopen(int fd, bool reads, bool writes) {
    char path[32];
    int mode = reads && writes ? O_RDWR : reads ? O_RDONLY : O_WRONLY;

    (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return open(path, mode | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

/* A borrowed fd that cannot be opened again (no /proc, a terminal we may not open, a FIFO
 * with no reader left): non-blocking on the caller's description, put back at the end. */
static int borrow_as_is(struct port *p, int fd) {
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -1;
    if (!(flags & O_NONBLOCK)) {
        if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
            return -1;
        p->saved_flags = flags;
    }
    p->fd = fd;
    return 0;
}

/* Linux hides the end of a FIFO from a description opened with O_NONBLOCK after its last
 * writer left (fifo_open(): no EPOLLHUP "until we have seen a writer"), so a reader that
 * opens it again too late waits for ever for an end that has come: the caller's own
 * description, which has seen the writers, must be read instead. Asked after the second
 * open, so that writers leaving in between are seen too. */
static bool end_hidden(int caller_fd, int own) {
    struct pollfd p[2] = {
        { .fd = caller_fd, .events = POLLIN },
        { .fd = own, .events = POLLIN },
    };

    return poll(p, 2, 0) > 0 && (p[0].revents & POLLHUP) && !(p[1].revents & POLLHUP);
}

static int open_socket(struct port *p, int fd) {
    int type;
    socklen_t len = sizeof(type);

    int domain;

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -1;
    len = sizeof(domain);
    p->unix_socket = getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
                     domain == AF_UNIX;
    p->kind = PORT_SOCKET;
    p->message = type == SOCK_SEQPACKET || type == SOCK_DGRAM;
    p->dgram = type == SOCK_DGRAM;
    if (p->borrowed) {
        /* Every recv() and send() says MSG_DONTWAIT; only splice() would block on it. */
        int flags = fcntl(fd, F_GETFL);
        p->fd = fd;
        p->splice_ok = !p->message && flags >= 0 && (flags & O_NONBLOCK);
        return 0;
    }
    p->splice_ok = !p->message;
    return uds_set_nonblock(fd, true);
}

int uds__port_open(struct port *p, int fd, bool reads, bool writes, bool borrowed) {
    struct stat st;

    /* An fd taken over is the port's from the start, so that it is closed on failure. */
    *p = (struct port) {
        .relay = p->relay,
        .fd = borrowed ? -1 : fd,
        .caller_fd = borrowed ? fd : -1,
        .saved_flags = -1,
        .own = !borrowed,
        .borrowed = borrowed,
    };
    if (fstat(fd, &st) < 0)
        return -1;
    if (S_ISSOCK(st.st_mode))
        return open_socket(p, fd);
    p->splice_ok = true;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
        p->kind = PORT_FILE;
        p->fd = fd;
        return 0;
    }
    p->kind = S_ISFIFO(st.st_mode) ? PORT_PIPE : PORT_POLLED;
    if (!borrowed)
        return uds_set_nonblock(fd, true);
    int own = reopen(fd, reads, writes);
    if (own >= 0 && reads && p->kind == PORT_PIPE && end_hidden(fd, own)) {
        (void) close(own);  /* never used */
        own = -1;
    }
    if (own >= 0) {
        p->fd = own;
        p->own = true;
        return 0;
    }
    return borrow_as_is(p, fd);
}

static void set_abortive(int fd) {
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    /* A TCP peer then gets a reset, not a FIN it would take for a complete end. Nothing
     * to do if it fails: the close still happens. */
    (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void uds__port_close(struct uds_loop *loop, struct port *p, bool abortive) {
    if (p->fd < 0)
        return;
    if (p->polled)
        (void) uds_loop_del(loop, p->fd);
    p->polled = false;
    p->events = 0;
    if (p->saved_flags >= 0) {
        /* Only O_NONBLOCK was ours to change; the caller may have set other flags since. */
        int now = fcntl(p->caller_fd, F_GETFL);
        if (now >= 0)
            (void) fcntl(p->caller_fd, F_SETFL, (now & ~O_NONBLOCK) |
                                                (p->saved_flags & O_NONBLOCK));
        p->saved_flags = -1;
    }
    if (p->own) {
        if (abortive && p->kind == PORT_SOCKET)
            set_abortive(p->fd);
        (void) close(p->fd);    /* the relay is done with it; a close error changes nothing */
    }
    p->fd = -1;
    p->own = false;
}

ssize_t uds__port_read(const struct port *p, void *buf, size_t len) {
    ssize_t n;

    do {
        if (p->kind != PORT_SOCKET)
            n = read(p->fd, buf, len);
        else
            n = recv(p->fd, buf, len, MSG_DONTWAIT | (p->message ? MSG_TRUNC : 0));
    } while (n < 0 && errno == EINTR);
    return n;
}

union fd_control {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(UDS_MAX_FDS * sizeof(int))];
};

/* The fds of one SCM_RIGHTS header, moved into a new array appended to *fds. */
static int take_rights(const struct cmsghdr *c, int **fds, size_t *n) {
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *grown = realloc(*fds, (*n + k) * sizeof(int));

    if (!grown) {
        int one;
        for (size_t i = 0; i < k; i++) {
            memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            (void) close(one);     /* nowhere to keep it: it would leak */
        }
        return -1;
    }
    memcpy(grown + *n, CMSG_DATA(c), k * sizeof(int));
    *fds = grown;
    *n += k;
    return 0;
}

static void close_fds(int *fds, size_t n) {
    for (size_t i = 0; i < n; i++)
        (void) close(fds[i]);   /* ours alone: nobody else will see them */
    free(fds);
}

ssize_t uds__port_read_fds(const struct port *p, void *buf, size_t len, int **ret_fds,
                           size_t *ret_n) {
    union fd_control control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = sizeof(control.bytes),
    };
    int *fds = NULL, flags = MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (p->message ? MSG_TRUNC : 0);
    size_t n_fds = 0;
    ssize_t n;

    do
        n = recvmsg(p->fd, &msg, flags);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    bool failed = false;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            take_rights(c, &fds, &n_fds) < 0)
            failed = true;
    /* More fds than SCM_MAX_FD, or other control data: those cut off are closed by the
     * kernel, and forwarding the rest would pass on a message that was never sent. */
    if (failed || (msg.msg_flags & MSG_CTRUNC)) {
        close_fds(fds, n_fds);
        return uds__fail(failed ? ENOMEM : EMSGSIZE);
    }
    *ret_fds = fds;
    *ret_n = n_fds;
    return n;
}

ssize_t uds__port_write(const struct uds_relay_group *g, const struct port *p,
                        const void *buf, size_t len) {
    ssize_t n;

    do {
        if (p->kind == PORT_SOCKET)
            n = send(p->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        else if (p->kind == PORT_PIPE && !g->sigpipe_ignored)
            n = uds__writev_nosigpipe(p->fd, &(struct iovec) { (void *) buf, len }, 1);
        else
            n = write(p->fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t uds__port_write_fds(const struct port *p, const void *buf, size_t len,
                            const int *fds, size_t n_fds) {
    union fd_control control;
    struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
    size_t control_len = CMSG_SPACE(n_fds * sizeof(int));
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = control_len,
    };
    ssize_t n;

    memset(control.bytes, 0, control_len);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds, n_fds * sizeof(int));
    do
        n = sendmsg(p->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n;
}
