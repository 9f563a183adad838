/* SPDX-License-Identifier: MIT */
/*
 * dgram_recv.c — one datagram received with everything a server must know before it acts on
 * it: its real length (so a cut datagram is seen as cut), the sender's address and
 * credentials, and the fds it passed, which are closed here unless the caller asked for
 * them (a sender must not be able to fill our fd table by passing fds nobody reads).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

union dgram_control {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(UDS_MAX_FDS * sizeof(int))];
};

static void take_fds(const struct cmsghdr *c, struct uds_datagram *dg, bool keep) {
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

    for (size_t i = 0; i < n; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
        if (keep && dg->n_fds < UDS_MAX_FDS)
            dg->fds[dg->n_fds++] = fd;
        else
            (void) close(fd);   /* unwanted: nothing to report */
    }
}

static void take_control(struct msghdr *mh, struct uds_datagram *dg, bool keep_fds) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            dg->cred = (struct uds_peer) { .pid = cred.pid, .uid = cred.uid, .gid = cred.gid,
                                           .pidfd = -1 };
            dg->has_cred = true;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            take_fds(c, dg, keep_fds);
        }
    }
    /* The kernel drops the fds that did not fit: what arrived is not what was sent. */
    dg->fds_cut = (mh->msg_flags & MSG_CTRUNC) != 0;
}

UDS_API ssize_t uds_dgram_recv(int fd, void *buf, size_t size, unsigned flags,
                               struct uds_datagram *ret) {
    union dgram_control control;
    ssize_t n;

    if (fd < 0 || !ret || (!buf && size > 0) ||
        (flags & ~(unsigned) (UDS_DGRAM_DONTWAIT | UDS_DGRAM_KEEP_FDS)))
        return uds__fail(EINVAL);
    *ret = (struct uds_datagram) { .cred = { .pidfd = -1 } };
    struct iovec iov = { .iov_base = buf, .iov_len = size };
    struct msghdr mh = {
        .msg_name = &ret->from, .msg_namelen = sizeof(ret->from), .msg_iov = &iov,
        .msg_iovlen = 1, .msg_control = control.bytes, .msg_controllen = sizeof(control),
    };
    /* MSG_TRUNC: the datagram's own length, not the part that fitted. */
    int rflags = MSG_TRUNC | MSG_CMSG_CLOEXEC | (flags & UDS_DGRAM_DONTWAIT ? MSG_DONTWAIT : 0);
    do
        n = recvmsg(fd, &mh, rflags);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    ret->full_len = (size_t) n;
    ret->len = (size_t) n < size ? (size_t) n : size;
    ret->from_len = mh.msg_namelen;
    take_control(&mh, ret, flags & UDS_DGRAM_KEEP_FDS);
    return (ssize_t) ret->len;
}
