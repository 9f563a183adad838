/* SPDX-License-Identifier: MIT */
/*
 * dgram_in.c — datagrams read for a datagram server: recvmsg() on a loop with a budget per
 * wakeup, the sender's credentials taken from SCM_CREDENTIALS, fds it passed closed.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dgram_in.h"
#include "log.h"

/* The sender's credentials (SCM_CREDENTIALS, from SO_PASSCRED) into dg; fds a sender
 * passed are closed, since nobody asked for them and they would leak. */
static void read_control(struct msghdr *mh, struct cli_datagram *dg) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            dg->peer = (struct uds_peer) { .pid = cred.pid, .uid = cred.uid, .gid = cred.gid,
                                           .pidfd = -1 };
            dg->have_cred = true;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfds; i++) {
                int passed;
                memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                (void) close(passed);   /* unwanted; its close status is irrelevant */
            }
        }
    }
}

/* Receive one datagram into in->buf and hand it to in->fn. Returns what fn returned, or
 * false when nothing more can be read now. */
static bool receive_one(struct cli_dgram_in *in) {
    struct sockaddr_un from;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int))];
    } ctl;
    struct iovec iov = { .iov_base = in->buf, .iov_len = in->size };
    struct msghdr mh = {
        .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
    };
    ssize_t n;

    do {
        n = recvmsg(in->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN)
            cli_log(CLI_LOG_WARN, "recv_error", in->address, NULL, 0, "%s: receiving: %s",
                    in->address, strerror(errno));
        return false;
    }
    struct cli_datagram dg = {
        .data = in->buf, .len = (size_t) n, .truncated = (mh.msg_flags & MSG_TRUNC) != 0,
        .from = &from, .from_len = mh.msg_namelen, .peer = { .pidfd = -1 },
    };
    read_control(&mh, &dg);
    return in->fn(&dg, in->data);
}

static void on_readable(struct uds_loop *loop, int fd, unsigned events, void *data) {
    (void) loop, (void) fd, (void) events;
    /* A budget per wakeup, so a flood cannot starve the signalfd. */
    for (int budget = 32; budget > 0; budget--)
        if (!receive_one(data))
            return;
}

int cli_dgram_in_watch(struct cli_dgram_in *in, struct uds_loop *loop) {
    int on = 1;

    if (setsockopt(in->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
        return -1;
    return uds_loop_add(loop, in->fd, UDS_EV_READ, on_readable, in);
}

size_t cli_dgram_sender_name(const struct sockaddr_un *from, socklen_t len, char *out,
                             size_t size) {
    size_t n = len > offsetof(struct sockaddr_un, sun_path)
                   ? len - offsetof(struct sockaddr_un, sun_path) : 0;

    if (n == 0 || size < n + 1)
        return 0;
    if (from->sun_path[0] == '\0') {
        out[0] = '@';
        memcpy(out + 1, from->sun_path + 1, n - 1);
        return n;
    }
    n = strnlen(from->sun_path, n);
    memcpy(out, from->sun_path, n);
    return n;
}
