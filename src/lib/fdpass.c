/* SPDX-License-Identifier: MIT */
/*
 * fdpass.c — send and receive file descriptors with SCM_RIGHTS, with no leak on any path:
 * received fds are O_CLOEXEC from the start (MSG_CMSG_CLOEXEC, so a fork+exec in another
 * thread cannot inherit them), and every fd that arrived is closed when the call fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "internal.h"

/* Fill msg's control buffer with one SCM_RIGHTS message carrying fds. */
static void attach_fds(struct msghdr *msg, char *control, const int *fds, size_t n_fds) {
    size_t control_len = CMSG_SPACE(n_fds * sizeof(int));
    memset(control, 0, control_len);
    msg->msg_control = control;
    msg->msg_controllen = control_len;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds, n_fds * sizeof(int));
}

union fd_control {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(UDS_MAX_FDS * sizeof(int))];
};

UDS_API ssize_t uds_send_fds(int fd, const void *buf, size_t len, const int *fds,
                             size_t n_fds) {
    union fd_control control;

    if (!buf || len == 0 || n_fds > UDS_MAX_FDS || (n_fds > 0 && !fds))
        return uds__fail(EINVAL);
    struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (n_fds > 0)
        attach_fds(&msg, control.bytes, fds, n_fds);
    if (uds__sendmsg_all(fd, &msg) < 0)
        return -1;
    return (ssize_t) len;
}

static void close_all(const int *fds, size_t n) {
    for (size_t i = 0; i < n; i++)
        uds__close_keep_errno(fds[i]);
}

/* Collect the SCM_RIGHTS fds of msg into ret_fds (at most max_fds). Any fd beyond the
 * limit, any other control message and MSG_CTRUNC fail the call; then every fd that
 * arrived is closed, including the ones beyond the limit. */
static int take_fds(struct msghdr *msg, int *ret_fds, size_t max_fds, size_t *ret_n) {
    size_t n = 0;
    int error = 0;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            error = error ? error : EPROTO;
            continue;
        }
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < count; i++) {
            int got;
            memcpy(&got, data + i * sizeof(int), sizeof(int));
            if (n < max_fds)
                ret_fds[n++] = got;
            else {
                (void) close(got);
                error = error ? error : EMSGSIZE;
            }
        }
    }
    if (msg->msg_flags & MSG_CTRUNC)
        error = error ? error : EMSGSIZE;
    if (error) {
        close_all(ret_fds, n);
        return uds__fail(error);
    }
    *ret_n = n;
    return 0;
}

UDS_API ssize_t uds_recv_fds(int fd, void *buf, size_t len, int *ret_fds, size_t max_fds,
                             size_t *ret_n_fds) {
    if (!buf || len == 0 || !ret_n_fds || (max_fds > 0 && !ret_fds))
        return uds__fail(EINVAL);
    if (max_fds > UDS_MAX_FDS)
        max_fds = UDS_MAX_FDS;

    /* Room for one more fd than allowed: a sender over the limit is then seen (and its
     * fds closed) rather than silently cut off by the kernel. */
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE((UDS_MAX_FDS + 1) * sizeof(int))];
    } control;
    size_t control_len = CMSG_SPACE((max_fds + 1) * sizeof(int));
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                          .msg_controllen = control_len };
    int fds_local[UDS_MAX_FDS + 1];
    size_t n_fds = 0;
    ssize_t n;

    n = uds__recvmsg_wait(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -1;
    if (take_fds(&msg, fds_local, max_fds, &n_fds) < 0)
        return -1;
    if (n_fds > 0)
        memcpy(ret_fds, fds_local, n_fds * sizeof(int));
    *ret_n_fds = n_fds;
    return n;
}

UDS_API int uds_frame_send_fds(int fd, const void *buf, size_t len, const int *fds,
                               size_t n_fds) {
    uint8_t header[UDS_FRAME_HEADER_SIZE];
    union fd_control control;

    if ((!buf && len > 0) || n_fds > UDS_MAX_FDS || (n_fds > 0 && !fds))
        return uds__fail(EINVAL);
    if (len > UINT32_MAX)
        return uds__fail(EMSGSIZE);
    uds_frame_header(header, (uint32_t) len);
    /* Header, payload and fds in one sendmsg: one system call and, for a small frame, one
     * wakeup of the receiver instead of two; the fds ride on the header's first byte,
     * which is where uds_frame_recv_fds() looks for them. */
    struct iovec iov[2] = {
        { .iov_base = header, .iov_len = sizeof(header) },
        { .iov_base = (void *) buf, .iov_len = len },
    };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    if (n_fds > 0)
        attach_fds(&msg, control.bytes, fds, n_fds);
    return uds__sendmsg_all(fd, &msg);
}

/* Read exactly len bytes with recvmsg, so that fds arriving where none belong are seen
 * (and closed) rather than silently dropped. Returns the count (short only at EOF). */
static ssize_t recv_exact_no_fds(int fd, uint8_t *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        int stray[UDS_MAX_FDS];
        size_t n_stray = 0;
        ssize_t n = uds_recv_fds(fd, buf + done, len - done, stray, UDS_MAX_FDS, &n_stray);
        if (n < 0)
            return -1;
        if (n_stray > 0) {
            close_all(stray, n_stray);
            return uds__fail(EPROTO);
        }
        if (n == 0)
            break;
        done += (size_t) n;
    }
    return (ssize_t) done;
}

UDS_API int uds_frame_recv_fds(int fd, uint32_t max, void **ret_buf, size_t *ret_len,
                               int *ret_fds, size_t max_fds, size_t *ret_n_fds) {
    uint8_t header[UDS_FRAME_HEADER_SIZE];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece piece;
    int fds[UDS_MAX_FDS];
    size_t n_fds = 0;
    char *buf = NULL;

    if (!ret_buf || !ret_len || !ret_n_fds || (max_fds > 0 && !ret_fds))
        return uds__fail(EINVAL);
    if (max_fds > UDS_MAX_FDS)
        max_fds = UDS_MAX_FDS;
    uds_frame_decoder_init(&d, max);

    /* The fds ride on the header's first byte: the first read gets them. */
    ssize_t n = uds_recv_fds(fd, header, sizeof(header), fds, max_fds, &n_fds);
    if (n < 0)
        return -1;
    if (n == 0)
        return 0;
    if ((size_t) n < sizeof(header)) {
        ssize_t more = recv_exact_no_fds(fd, header + n, sizeof(header) - (size_t) n);
        if (more < 0)
            goto fail;
        if ((size_t) (n + more) < sizeof(header)) {
            errno = EPROTO;
            goto fail;
        }
    }
    if (uds_frame_decoder_feed(&d, header, sizeof(header), &ev, &piece) < 0)
        goto fail;
    buf = malloc((size_t) piece.frame_len + 1);
    if (!buf)
        goto fail;
    n = recv_exact_no_fds(fd, (uint8_t *) buf, piece.frame_len);
    if (n < 0)
        goto fail;
    if ((size_t) n < piece.frame_len) {
        errno = EPROTO;
        goto fail;
    }
    buf[piece.frame_len] = '\0';
    *ret_buf = buf;
    *ret_len = piece.frame_len;
    if (n_fds > 0)
        memcpy(ret_fds, fds, n_fds * sizeof(int));
    *ret_n_fds = n_fds;
    return 1;

fail:
    free(buf);
    close_all(fds, n_fds);
    return -1;
}
