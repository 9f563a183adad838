/* SPDX-License-Identifier: MIT */
/*
 * diag.c — dump the Unix sockets of the network namespace over NETLINK_SOCK_DIAG: send the
 * request, read the multi-part answer, collect it into one sorted array; and tell whether
 * a socket's path still names its file. Each message is decoded by diag_parse.c; nothing
 * here looks inside a message, and nothing here reads /proc (procfd.c does).
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "internal.h"

/* A dump the kernel flags NLM_F_DUMP_INTR is inconsistent; start over this many times. */
#define DUMP_TRIES 5
/* The kernel answers a dump at once; this only bounds a kernel that never does. */
#define RECV_TIMEOUT_S 5
#define RECV_BUF_MIN 32768

/* Sockets and their pending-connection inodes while the dump is read. */
struct item {
    struct uds_sockinfo info;
    size_t pending_at;      /* index of its first inode in collect.pending */
};

struct collect {
    struct item *items;
    size_t n, cap;
    ino_t *pending;
    size_t n_pending, cap_pending;
};

static void collect_free(struct collect *c) {
    free(c->items);
    free(c->pending);
    *c = (struct collect) { 0 };
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    size_t n = *cap ? *cap : 64;
    void *q;

    if (need <= *cap)
        return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size)
            return uds__fail(ENOMEM);
        n *= 2;
    }
    q = realloc(*p, n * size);
    if (!q)
        return uds__fail(ENOMEM);
    *p = q;
    *cap = n;
    return 0;
}

static int collect_add(struct collect *c, const struct uds__diag_msg *msg) {
    if (grow((void **) &c->items, &c->cap, c->n + 1, sizeof(*c->items)) < 0)
        return -1;
    if (grow((void **) &c->pending, &c->cap_pending, c->n_pending + msg->info.n_pending,
             sizeof(*c->pending)) < 0)
        return -1;
    for (size_t i = 0; i < msg->info.n_pending; i++) {
        uint32_t ino;
        memcpy(&ino, msg->pending + i * sizeof(ino), sizeof(ino));
        c->pending[c->n_pending + i] = ino;
    }
    c->items[c->n] = (struct item) { .info = msg->info, .pending_at = c->n_pending };
    c->items[c->n].info.pending = NULL;
    c->n_pending += msg->info.n_pending;
    c->n++;
    return 0;
}

static int by_inode(const void *a, const void *b) {
    ino_t x = ((const struct uds_sockinfo *) a)->inode;
    ino_t y = ((const struct uds_sockinfo *) b)->inode;
    return x < y ? -1 : x > y;
}

/* One allocation: the sockets, then every pending inode they point into. */
static int collect_finish(struct collect *c, struct uds_socklist *ret_list) {
    size_t head = c->n * sizeof(struct uds_sockinfo), size;
    struct uds_sockinfo *socks;
    ino_t *pending;

    if (c->n_pending > (SIZE_MAX - head) / sizeof(ino_t))
        return uds__fail(ENOMEM);
    size = head + c->n_pending * sizeof(ino_t);
    socks = malloc(size ? size : 1);
    if (!socks)
        return uds__fail(ENOMEM);
    /* sizeof(struct uds_sockinfo) is a multiple of its alignment, which covers ino_t. */
    pending = (ino_t *) (void *) ((char *) socks + head);
    if (c->n_pending)
        memcpy(pending, c->pending, c->n_pending * sizeof(ino_t));
    for (size_t i = 0; i < c->n; i++) {
        socks[i] = c->items[i].info;
        socks[i].pending = socks[i].n_pending ? pending + c->items[i].pending_at : NULL;
    }
    qsort(socks, c->n, sizeof(*socks), by_inode);
    ret_list->socks = socks;
    ret_list->n = c->n;
    return 0;
}

static int send_request(int fd, uint32_t seq) {
    struct {
        struct nlmsghdr h;
        struct unix_diag_req r;
    } req = {
        .h = {
            .nlmsg_len = sizeof(req),
            .nlmsg_type = SOCK_DIAG_BY_FAMILY,
            .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
            .nlmsg_seq = seq,
        },
        .r = {
            .sdiag_family = AF_UNIX,
            .udiag_states = ~0u,
            .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER |
                          UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID |
                          UDIAG_SHOW_MEMINFO,
        },
    };
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    ssize_t n;

    do
        n = sendto(fd, &req, sizeof(req), MSG_NOSIGNAL, (struct sockaddr *) &kernel,
                   sizeof(kernel));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if ((size_t) n != sizeof(req))
        return uds__fail(EIO);
    return 0;
}

/* Receive one datagram from the kernel into *buf, growing it to fit. Returns its length.
 * A datagram from anyone but the kernel (port 0) is dropped. */
static ssize_t recv_datagram(int fd, unsigned char **buf, size_t *cap) {
    for (;;) {
        struct sockaddr_nl from = { 0 };
        struct iovec iov = { .iov_base = *buf, .iov_len = *cap };
        struct msghdr mh = {
            .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
        };
        ssize_t n;

        /* Peek first: MSG_TRUNC makes the kernel report the datagram's full size, so a
         * listener with a huge UNIX_DIAG_ICONS list cannot be cut short. */
        n = recvmsg(fd, &mh, MSG_PEEK | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                errno = ETIMEDOUT;
            return -1;
        }
        if ((size_t) n > *cap) {
            unsigned char *bigger = realloc(*buf, (size_t) n);
            if (!bigger)
                return uds__fail(ENOMEM);
            *buf = bigger;
            *cap = (size_t) n;
            continue;
        }
        iov = (struct iovec) { .iov_base = *buf, .iov_len = *cap };
        mh = (struct msghdr) {
            .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
        };
        n = recvmsg(fd, &mh, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (mh.msg_flags & MSG_TRUNC)
            return uds__fail(EPROTO);
        if (from.nl_pid != 0)
            continue;
        return n;
    }
}

/* Read the answer to request seq until NLMSG_DONE. Returns 1 when complete, 0 when the
 * kernel flagged it interrupted (c holds a partial result), -1 on error. */
static int read_dump(int fd, uint32_t seq, struct collect *c, unsigned char **buf,
                     size_t *cap) {
    bool interrupted = false;

    for (;;) {
        ssize_t n = recv_datagram(fd, buf, cap);
        size_t off = 0;

        if (n < 0)
            return -1;
        while (off < (size_t) n) {
            struct uds__diag_msg msg;
            ssize_t used = uds__diag_parse(*buf + off, (size_t) n - off, &msg);

            if (used < 0)
                return -1;
            off += (size_t) used;
            /* A late answer to an earlier, abandoned request. */
            if (msg.seq != seq)
                continue;
            interrupted |= msg.interrupted;
            switch (msg.kind) {
            case UDS__DIAG_SOCK:
                if (collect_add(c, &msg) < 0)
                    return -1;
                break;
            case UDS__DIAG_DONE:
                if (msg.error)
                    return uds__fail(msg.error);
                return interrupted ? 0 : 1;
            case UDS__DIAG_ERROR:
                /* An ack (0) does not come for a dump without NLM_F_ACK; ignore one. */
                if (msg.error)
                    return uds__fail(msg.error);
                break;
            case UDS__DIAG_SKIP:
                break;
            }
        }
    }
}

UDS_API int uds_socklist_get(struct uds_socklist *ret_list) {
    struct timeval tv = { .tv_sec = RECV_TIMEOUT_S };
    struct collect c = { 0 };
    unsigned char *buf = NULL;
    size_t cap = RECV_BUF_MIN;
    int fd = -1, r = 0, ret = -1, e;

    if (!ret_list)
        return uds__fail(EINVAL);
    buf = malloc(cap);
    if (!buf)
        return uds__fail(ENOMEM);
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        goto out;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        goto out;
    for (uint32_t seq = 1; seq <= DUMP_TRIES; seq++) {
        collect_free(&c);
        if (send_request(fd, seq) < 0)
            goto out;
        r = read_dump(fd, seq, &c, &buf, &cap);
        if (r < 0)
            goto out;
        if (r > 0)
            break;
    }
    if (r == 0)
        errno = EAGAIN;
    else if (collect_finish(&c, ret_list) == 0)
        ret = 0;

out:
    e = errno;
    collect_free(&c);
    free(buf);
    if (fd >= 0)
        (void) close(fd);
    errno = e;
    return ret;
}

UDS_API void uds_socklist_done(struct uds_socklist *list) {
    if (!list)
        return;
    free(list->socks);
    *list = (struct uds_socklist) { 0 };
}

UDS_API const struct uds_sockinfo *uds_socklist_find(const struct uds_socklist *list,
                                                     ino_t inode) {
    struct uds_sockinfo key = { .inode = inode };
    const struct uds_sockinfo *found;

    if (!list || !list->socks) {
        errno = list ? ENOENT : EINVAL;
        return NULL;
    }
    found = bsearch(&key, list->socks, list->n, sizeof(*list->socks), by_inode);
    if (!found)
        errno = ENOENT;
    return found;
}

/* A path that means something only to the process that used it: the fd or thread it
 * names is not ours. Long paths are bound through /proc/self/fd/N/NAME (longpath.c). */
static bool is_self_alias(const char *path) {
    static const char *const prefixes[] = { "/proc/self/", "/proc/thread-self/", "/dev/fd/" };

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(path, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

UDS_API enum uds_path_status uds_sockinfo_path_status(const struct uds_sockinfo *sock,
                                                      const char *path) {
    struct stat st;

    if (!sock || !(sock->has & UDS_SOCKINFO_FILE))
        return UDS_PATH_UNKNOWN;
    if (!path) {
        if (sock->name_kind != UDS_ADDR_PATH || sock->name[0] != '/' ||
            strlen(sock->name) != sock->name_len)
            return UDS_PATH_UNKNOWN;
        path = sock->name;
    }
    if (path[0] == '\0' || is_self_alias(path))
        return UDS_PATH_UNKNOWN;
    if (lstat(path, &st) < 0)
        return errno == ENOENT || errno == ENOTDIR ? UDS_PATH_MISSING : UDS_PATH_UNKNOWN;
    if (st.st_dev == sock->file_dev && st.st_ino == sock->file_ino)
        return UDS_PATH_OK;
    return UDS_PATH_REPLACED;
}
