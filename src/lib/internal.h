/* SPDX-License-Identifier: MIT */
/*
 * internal.h — helpers shared inside src/lib (uds__ prefix, hidden from the .so). Nothing
 * outside src/lib and tests/unit includes this file.
 */
#ifndef UDSKIT_INTERNAL_H
#define UDSKIT_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "udskit.h"

/* Constants missing from older kernel headers; detected at run time by trying. */
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* Run cleanup, a statement, leaving errno as it was: for error paths that undo what they
 * built before returning the error (STYLE E2). */
#define UDS__KEEP_ERRNO(cleanup)                                                           \
    do {                                                                                   \
        int saved_errno_ = errno;                                                          \
        cleanup;                                                                           \
        errno = saved_errno_;                                                              \
    } while (0)

/* close() that leaves errno as it was, for error paths. */
static inline void uds__close_keep_errno(int fd) {
    if (fd >= 0)
        UDS__KEEP_ERRNO((void) close(fd));
}

/* Set errno and return -1, for one-line error returns. */
static inline int uds__fail(int error) {
    errno = error;
    return -1;
}

/* Whether gid is one of the n gids at list. */
static inline bool uds__gid_listed(gid_t gid, const gid_t *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (list[i] == gid)
            return true;
    return false;
}

/* A doubly linked list of structs with prev and next fields, first at head (NULL: empty),
 * the newest first. Unlinking an item that is in no list (prev NULL, not head) does no
 * harm; its own fields are left as they were. */
#define UDS__LIST_PUSH(head, item) \
    do { \
        (item)->prev = NULL; \
        (item)->next = (head); \
        if (head) \
            (head)->prev = (item); \
        (head) = (item); \
    } while (0)
#define UDS__LIST_UNLINK(head, item) \
    do { \
        if ((item)->prev) \
            (item)->prev->next = (item)->next; \
        else if ((head) == (item)) \
            (head) = (item)->next; \
        if ((item)->next) \
            (item)->next->prev = (item)->prev; \
    } while (0)

/* Monotonic milliseconds. */
uint64_t uds__now_ms(void);

/* A sockaddr_un for addr that the kernel can use now. For a path longer than sun_path it
 * opens an O_PATH fd to the parent directory and names the socket through
 * /proc/self/fd/N/BASENAME; *ret_dirfd is that fd (close it after bind/connect), else -1.
 * Errors: ENAMETOOLONG (the basename alone is too long), ENOENT/EACCES opening the parent,
 * EAFNOSUPPORT for tcp. */
int uds__sockaddr_for(const struct uds_addr *addr, struct sockaddr_un *ret_sa,
                      socklen_t *ret_len, int *ret_dirfd);

/* Wait until fd is ready for events (POLLIN/POLLOUT), up to timeout_ms (-1 forever).
 * Returns 0 when ready, -1 with ETIMEDOUT or another errno. Retries EINTR. */
int uds__wait_fd(int fd, short events, int timeout_ms);

/* Send everything msg's iovecs hold (MSG_NOSIGNAL), across partial sends and EINTR,
 * waiting with poll() on a non-blocking fd. Control data (fds) goes with the first
 * sendmsg only. msg's iovecs are consumed (advanced) on the way. Returns 0 or -1. */
int uds__sendmsg_all(int fd, struct msghdr *msg);

/* One recvmsg(), retried on EINTR and waited for with poll() on a non-blocking fd. */
ssize_t uds__recvmsg_wait(int fd, struct msghdr *msg, int flags);

/* writev() that raises no SIGPIPE when fd is a pipe whose reader has gone (EPIPE all the
 * same), whatever the caller's disposition: for pipes, where MSG_NOSIGNAL cannot be had. */
struct iovec;
ssize_t uds__writev_nosigpipe(int fd, const struct iovec *iov, int n_iov);

/* One netlink message of a sock_diag dump, as diag_parse.c reads it (pure). */
enum uds__diag_kind {
    UDS__DIAG_SKIP = 0,     /* not for us: another type or address family; ignore it */
    UDS__DIAG_SOCK,         /* a socket: info is set */
    UDS__DIAG_DONE,         /* end of the dump; error may say it failed */
    UDS__DIAG_ERROR,        /* NLMSG_ERROR: error is the errno (0 for a plain ack) */
};

struct uds__diag_msg {
    enum uds__diag_kind kind;
    uint32_t seq;
    uint32_t port;          /* nlmsg_pid */
    bool interrupted;       /* NLM_F_DUMP_INTR: the dump raced with changes */
    int error;              /* DONE/ERROR: a positive errno, or 0 */
    struct uds_sockinfo info;   /* SOCK: info.pending is NULL, info.n_pending is set */
    const unsigned char *pending;   /* SOCK: info.n_pending native-endian u32 inodes,
                                     * unaligned, inside the parsed buffer */
};

/* Parse the netlink message at the start of buf (len bytes left in the datagram).
 * Returns the bytes it occupies, padding included (> 0, <= len), or -1/EPROTO when the
 * message is malformed (the rest of the datagram cannot be trusted either). */
ssize_t uds__diag_parse(const void *buf, size_t len, struct uds__diag_msg *ret_msg);

/* The namespace of kind ("mnt", "net") process pid is in: the inode of /proc/PID/ns/KIND
 * ("mnt:[4026531841]"), or 0 when it cannot be read (the right to trace pid is needed). */
ino_t uds__ns_inode(pid_t pid, const char *kind);

/* Send batches (uring.c): the sends queued during one loop wakeup go to the kernel together,
 * in one io_uring_enter() at the end of that wakeup. One batch per caller; each send's result
 * comes back through the caller's callback, from the loop's end-of-wakeup hook. */
#define UDS__BATCH_MAX 256u
struct uds__batch;
/* The result of one send: res is the bytes sent or -errno (-EAGAIN: the socket was full, or
 * the kernel did not take the send: nothing went). ring_error is 0, or the errno with which
 * the ring itself failed: then res means nothing, the send may or may not have gone out,
 * and the batch refuses every send from now on. */
typedef void uds__batch_done_fn(void *arg, unsigned tag, int res, int ring_error);

/* A batch flushed at the end of each wakeup of loop (which must outlive it). NULL with
 * errno when this kernel or its policy gives no io_uring (ENOSYS, EPERM: io_uring_disabled,
 * a seccomp filter), or the loop has no hook left (ENOSPC). */
struct uds__batch *uds__batch_new(struct uds_loop *loop);
/* Free the batch; sends still queued are dropped unsent and their owners not told. */
void uds__batch_free(struct uds__batch *batch);
/* Queue send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) for the end of this wakeup; buf must
 * stay valid until done(arg, tag, ...) is called. Returns 0, or -1 (send at once instead):
 * EBUSY the batch is full; ENXIO its ring has failed, or its results are being delivered
 * (a send from a done callback). */
int uds__batch_send(struct uds__batch *batch, int fd, const void *buf, size_t len,
                    uds__batch_done_fn *done, void *arg, unsigned tag);
/* Forget every send queued with arg: those not yet handed to the kernel never go, and no
 * result reaches arg any more (its buffers and fds are about to go). */
void uds__batch_cancel(struct uds__batch *batch, void *arg);

/* Call fn(data) at the end of every uds_loop_run_once(), after the callbacks of that
 * wakeup: where work gathered during the wakeup is handed on in one go. Returns 0, or
 * -1/ENOSPC past UDS__LOOP_HOOKS hooks on one loop. */
#define UDS__LOOP_HOOKS 8
int uds__loop_hook_add(struct uds_loop *loop, void (*fn)(void *data), void *data);
/* Remove the hook added with the same fn and data; nothing if there is none. */
void uds__loop_hook_del(struct uds_loop *loop, void (*fn)(void *data), void *data);

/* Called on pool thread i as it ends (its loop has returned), for the threaded server to
 * count its workers. Set before uds_loop_pool_start(). */
typedef void uds__loop_pool_end_fn(unsigned i, void *data);
void uds__loop_pool_on_end(struct uds_loop_pool *pool, uds__loop_pool_end_fn *fn, void *data);

/* Whether the environment entry var ("NAME=value") describes a connection the UCSPI way:
 * PROTO, UNIXLOCAL*, UNIXREMOTE* (program.c). */
bool uds__ucspi_var(const char *var);

#endif /* UDSKIT_INTERNAL_H */
