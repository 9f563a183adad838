/* SPDX-License-Identifier: MIT */
/*
 * io.c — whole-buffer send/recv over partial transfers and EINTR, O_NONBLOCK, and a
 * poll() wait: blocking helpers for clients and tests; the server never calls them (it
 * has its own non-blocking path in server.c). Also writev() to a pipe without SIGPIPE,
 * which the relay and the capture writer share.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>
#include <time.h>

#include "internal.h"

uint64_t uds__now_ms(void) {
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

int uds__wait_fd(int fd, short events, int timeout_ms) {
    uint64_t deadline = timeout_ms >= 0 ? uds__now_ms() + (uint64_t) timeout_ms : 0;
    struct pollfd pfd = { .fd = fd, .events = events };

    for (;;) {
        int wait_ms = -1;
        if (timeout_ms >= 0) {
            uint64_t now = uds__now_ms();
            wait_ms = now >= deadline ? 0 : (int) (deadline - now);
        }
        int n = poll(&pfd, 1, wait_ms);
        if (n > 0)
            return 0;   /* ready, or POLLERR/POLLHUP: the next call reports the error */
        if (n == 0)
            return uds__fail(ETIMEDOUT);
        if (errno != EINTR)
            return -1;
    }
}

int uds__sendmsg_all(int fd, struct msghdr *msg) {
    for (;;) {
        /* Skip what is already sent (and empty iovecs) before each attempt. */
        while (msg->msg_iovlen > 0 && msg->msg_iov->iov_len == 0) {
            msg->msg_iov++;
            msg->msg_iovlen--;
        }
        if (msg->msg_iovlen == 0)
            return 0;
        ssize_t n = sendmsg(fd, msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && uds__wait_fd(fd, POLLOUT, -1) == 0)
                continue;
            return -1;
        }
        /* The control data (fds) went with these bytes; the rest goes without it. */
        msg->msg_control = NULL;
        msg->msg_controllen = 0;
        size_t done = (size_t) n;
        while (msg->msg_iovlen > 0 && done >= msg->msg_iov->iov_len) {
            done -= msg->msg_iov->iov_len;
            msg->msg_iov++;
            msg->msg_iovlen--;
        }
        if (msg->msg_iovlen > 0) {
            msg->msg_iov->iov_base = (char *) msg->msg_iov->iov_base + done;
            msg->msg_iov->iov_len -= done;
        }
    }
}

ssize_t uds__recvmsg_wait(int fd, struct msghdr *msg, int flags) {
    for (;;) {
        ssize_t n = recvmsg(fd, msg, flags);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && uds__wait_fd(fd, POLLIN, -1) == 0)
            continue;
        return -1;
    }
}

/* writev() to a pipe whose reader has left raises SIGPIPE, which a library must not do to
 * a caller who has not ignored it: block it for the call, and take back the one this write
 * raised, unless one was pending already (then it is someone else's, and stays). */
ssize_t uds__writev_nosigpipe(int fd, const struct iovec *iov, int n_iov) {
    sigset_t pipe_only, old, pending;
    bool was_pending;
    ssize_t n;
    int e;

    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigemptyset(&pending);
    (void) sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE) == 1;
    e = pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    if (e)
        return uds__fail(e);
    n = writev(fd, iov, n_iov);
    e = errno;
    if (n < 0 && e == EPIPE && !was_pending) {
        const struct timespec now = { 0, 0 };
        (void) sigtimedwait(&pipe_only, NULL, &now);
    }
    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}

UDS_API ssize_t uds_send_all(int fd, const void *buf, size_t len) {
    if (!buf && len > 0)
        return uds__fail(EINVAL);
    struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (uds__sendmsg_all(fd, &msg) < 0)
        return -1;
    return (ssize_t) len;
}

UDS_API ssize_t uds_recv_all(int fd, void *buf, size_t len) {
    char *p = buf;
    size_t done = 0;

    if (!buf && len > 0)
        return uds__fail(EINVAL);
    while (done < len) {
        struct iovec iov = { .iov_base = p + done, .iov_len = len - done };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n = uds__recvmsg_wait(fd, &msg, 0);
        if (n < 0)
            return -1;
        if (n == 0)
            break;  /* end of stream: the caller sees a short count */
        done += (size_t) n;
    }
    return (ssize_t) done;
}

UDS_API int uds_set_nonblock(int fd, bool on) {
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -1;
    int wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    if (wanted != flags && fcntl(fd, F_SETFL, wanted) < 0)
        return -1;
    return 0;
}
