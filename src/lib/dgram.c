/* SPDX-License-Identifier: MIT */
/*
 * dgram.c — answering a datagram at its sender's address without becoming the sender's
 * deputy. A sender's address is a name the sender chose, resolved again at the time of the
 * answer: here a path is opened without following a final symlink and answered through that
 * very inode only if it is a socket of the sender's uid, and an abstract name is answered
 * with the sender's uid/gid where the kernel lets us say so. It sends one datagram; it
 * never receives, never keeps an fd, and binds nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define SUN_PATH_OFFSET offsetof(struct sockaddr_un, sun_path)

/* The sender's name as a C string: sun_path holds it up to its first NUL or to_len. */
static void path_of(const struct sockaddr_un *to, socklen_t to_len, char *ret_path) {
    size_t n = (size_t) to_len - SUN_PATH_OFFSET;
    const char *nul = memchr(to->sun_path, '\0', n);

    if (nul)
        n = (size_t) (nul - to->sun_path);
    memcpy(ret_path, to->sun_path, n);
    ret_path[n] = '\0';
}

/* Open the sender's path and check what it names, before anything is sent there. O_PATH
 * with O_NOFOLLOW opens a final symlink itself rather than its target, so lstat-like
 * facts come from the same fd the answer will go through. A directory on the way may still
 * be a symlink (the sender can swap one in after binding), which is why the owner must be
 * the sender: a path that leads elsewhere finds a socket of someone else. */
static int open_sender_socket(const char *path, uid_t uid) {
    struct stat st;
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0) {
        uds__close_keep_errno(fd);
        return -1;
    }
    if (S_ISSOCK(st.st_mode) && st.st_uid == uid)
        return fd;
    (void) close(fd);   /* only read from; nothing to report */
    if (S_ISLNK(st.st_mode))
        return uds__fail(ELOOP);
    return uds__fail(S_ISSOCK(st.st_mode) ? EPERM : ENOTSOCK);
}

/* Send to the inode behind fd: connect and sendto follow /proc/self/fd/N to the file that
 * fd was opened on, whatever its path names by now, so nothing can change between the
 * check above and the send. */
static ssize_t send_to_fd(int sock, const struct msghdr *tmpl, int flags, int path_fd) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct msghdr mh = *tmpl;
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", path_fd);

    mh.msg_name = &sa;
    mh.msg_namelen = (socklen_t) (SUN_PATH_OFFSET + (size_t) n + 1);
    return sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
}

/* An abstract name has no file to check: the name may have passed to another socket since
 * the sender used it. Speak for the sender rather than for ourselves: SCM_CREDENTIALS with
 * its uid/gid, so a socket that checks credentials sees the sender's identity, never ours.
 * The kernel allows other ids only with CAP_SETUID/CAP_SETGID (EPERM); a process without
 * them has no identity worth borrowing beyond its own, and answers as itself. */
static ssize_t send_as_sender(int sock, const struct msghdr *tmpl, int flags,
                              const struct uds_peer *sender) {
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl = { .buf = { 0 } };
    struct ucred cred = { .pid = getpid(), .uid = sender->uid, .gid = sender->gid };
    struct msghdr mh = *tmpl;
    struct cmsghdr *c;
    ssize_t n;

    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(cred));
    memcpy(CMSG_DATA(c), &cred, sizeof(cred));
    n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
    if (n >= 0 || errno != EPERM)
        return n;
    return sendmsg(sock, tmpl, flags | MSG_NOSIGNAL);
}

ssize_t uds_dgram_reply(int fd, const void *buf, size_t len, int flags,
                        const struct sockaddr_un *to, socklen_t to_len,
                        const struct uds_peer *sender) {
    struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
    struct msghdr mh = {
        .msg_name = (void *) to, .msg_namelen = to_len, .msg_iov = &iov, .msg_iovlen = 1,
    };
    char path[sizeof(to->sun_path) + 1];
    ssize_t n;
    int path_fd;

    if (fd < 0 || (!buf && len > 0) || !to || !sender || to_len > sizeof(*to) ||
        (to_len >= sizeof(sa_family_t) && to->sun_family != AF_UNIX))
        return uds__fail(EINVAL);
    if (to_len <= SUN_PATH_OFFSET)
        return uds__fail(EDESTADDRREQ);
    if (to->sun_path[0] == '\0')
        return send_as_sender(fd, &mh, flags, sender);
    path_of(to, to_len, path);
    path_fd = open_sender_socket(path, sender->uid);
    if (path_fd < 0)
        return -1;
    n = send_to_fd(fd, &mh, flags, path_fd);
    uds__close_keep_errno(path_fd);
    return n;
}
