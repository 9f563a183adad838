/* SPDX-License-Identifier: MIT */
/*
 * diag_parse.c — one netlink message of a NETLINK_SOCK_DIAG dump (a unix_diag_msg and its
 * UNIX_DIAG_* attributes, NLMSG_DONE or NLMSG_ERROR) into a struct uds__diag_msg. Pure: no
 * syscalls, no allocation, no globals; every field is copied out with memcpy, so the input
 * may be any bytes at any alignment. Sending the request and reading the datagrams is
 * diag.c's job.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "internal.h"

/* The longest name attribute: a 108-byte path (Linux accepts a sun_path with no NUL) and
 * the NUL the kernel stores after it. An abstract name is at most 1 + 107 bytes. */
#define NAME_ATTR_MAX (UDS_SUN_PATH_MAX + 2)

UDS_API const char *uds_sock_state_name(enum uds_sock_state state) {
    switch (state) {
    case UDS_SOCK_UNCONNECTED:
        return "unconnected";
    case UDS_SOCK_LISTENING:
        return "listening";
    case UDS_SOCK_CONNECTED:
        return "connected";
    case UDS_SOCK_CONNECTING:
        return "connecting";
    default:
        return "unknown";
    }
}

static uint32_t get_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static enum uds_sock_state map_state(uint8_t state) {
    /* AF_UNIX reuses the TCP state numbers. */
    switch (state) {
    case TCP_ESTABLISHED:
        return UDS_SOCK_CONNECTED;
    case TCP_SYN_SENT:
        return UDS_SOCK_CONNECTING;
    case TCP_CLOSE:
        return UDS_SOCK_UNCONNECTED;
    case TCP_LISTEN:
        return UDS_SOCK_LISTENING;
    default:
        return UDS_SOCK_UNKNOWN;
    }
}

static int map_type(uint8_t type, enum uds_socket_type *ret_type) {
    switch (type) {
    case SOCK_STREAM:
        *ret_type = UDS_STREAM;
        return 0;
    case SOCK_SEQPACKET:
        *ret_type = UDS_SEQPACKET;
        return 0;
    case SOCK_DGRAM:
        *ret_type = UDS_DGRAM;
        return 0;
    default:
        return uds__fail(EPROTO);
    }
}

/* The name attribute is the sun_path the socket was bound with: a path up to its NUL, or
 * a NUL and then the abstract name, whose bytes (NULs included) all count. */
static int parse_name(const unsigned char *p, size_t len, struct uds_sockinfo *info) {
    if (len == 0) {
        info->name_kind = 0;
        info->name_len = 0;
        info->name[0] = '\0';
        return 0;
    }
    if (len > NAME_ATTR_MAX)
        return uds__fail(EPROTO);
    if (p[0] == '\0') {
        if (len - 1 > UDS_SUN_PATH_MAX)
            return uds__fail(EPROTO);
        info->name_kind = UDS_ADDR_ABSTRACT;
        info->name_len = len - 1;
        memcpy(info->name, p + 1, len - 1);
    } else {
        const unsigned char *nul = memchr(p, '\0', len);
        size_t n = nul ? (size_t) (nul - p) : len;
        /* sizeof(sun_path) bytes at most: a path may fill sun_path with no NUL. */
        if (n > UDS_SUN_PATH_MAX + 1)
            return uds__fail(EPROTO);
        info->name_kind = UDS_ADDR_PATH;
        info->name_len = n;
        memcpy(info->name, p, n);
    }
    info->name[info->name_len] = '\0';
    return 0;
}

/* SK_MEMINFO_*: an array of u32 that newer kernels may make longer; the first nine are
 * what ss -m shows. A shorter one is left out, like an attribute this file does not know. */
static int parse_meminfo(const unsigned char *p, size_t len, struct uds_sockinfo *info) {
    struct uds_sockmem *m = &info->mem;

    if (len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
        return 0;
    m->rmem_alloc = get_u32(p + SK_MEMINFO_RMEM_ALLOC * sizeof(uint32_t));
    m->rcvbuf = get_u32(p + SK_MEMINFO_RCVBUF * sizeof(uint32_t));
    m->wmem_alloc = get_u32(p + SK_MEMINFO_WMEM_ALLOC * sizeof(uint32_t));
    m->sndbuf = get_u32(p + SK_MEMINFO_SNDBUF * sizeof(uint32_t));
    m->fwd_alloc = get_u32(p + SK_MEMINFO_FWD_ALLOC * sizeof(uint32_t));
    m->wmem_queued = get_u32(p + SK_MEMINFO_WMEM_QUEUED * sizeof(uint32_t));
    m->optmem = get_u32(p + SK_MEMINFO_OPTMEM * sizeof(uint32_t));
    m->backlog = get_u32(p + SK_MEMINFO_BACKLOG * sizeof(uint32_t));
    m->drops = get_u32(p + SK_MEMINFO_DROPS * sizeof(uint32_t));
    info->has |= UDS_SOCKINFO_MEM;
    return 0;
}

static int parse_attr(unsigned type, const unsigned char *p, size_t len,
                      struct uds__diag_msg *msg) {
    struct uds_sockinfo *info = &msg->info;

    switch (type) {
    case UNIX_DIAG_NAME:
        return parse_name(p, len, info);
    case UNIX_DIAG_VFS: {
        if (len < sizeof(struct unix_diag_vfs))
            return uds__fail(EPROTO);
        /* udiag_vfs_dev is the kernel's internal dev_t (major << 20 | minor), not the
         * encoding stat() returns: convert it so it compares with st_dev. */
        uint32_t kdev = get_u32(p + offsetof(struct unix_diag_vfs, udiag_vfs_dev));
        info->file_ino = get_u32(p + offsetof(struct unix_diag_vfs, udiag_vfs_ino));
        info->file_dev = makedev(kdev >> 20, kdev & 0xfffff);
        info->has |= UDS_SOCKINFO_FILE;
        return 0;
    }
    case UNIX_DIAG_PEER:
        if (len < sizeof(uint32_t))
            return uds__fail(EPROTO);
        info->peer_inode = get_u32(p);
        return 0;
    case UNIX_DIAG_ICONS:
        if (len % sizeof(uint32_t) != 0)
            return uds__fail(EPROTO);
        info->n_pending = len / sizeof(uint32_t);
        msg->pending = info->n_pending ? p : NULL;
        return 0;
    case UNIX_DIAG_RQLEN:
        if (len < sizeof(struct unix_diag_rqlen))
            return uds__fail(EPROTO);
        info->recv_q = get_u32(p + offsetof(struct unix_diag_rqlen, udiag_rqueue));
        info->send_q = get_u32(p + offsetof(struct unix_diag_rqlen, udiag_wqueue));
        info->has |= UDS_SOCKINFO_QUEUES;
        return 0;
    case UNIX_DIAG_SHUTDOWN:
        if (len < 1)
            return uds__fail(EPROTO);
        /* RCV_SHUTDOWN is 1, SEND_SHUTDOWN 2 in the kernel's sk_shutdown. */
        info->shutdown = p[0] & 3u;
        info->has |= UDS_SOCKINFO_SHUTDOWN;
        return 0;
    case UNIX_DIAG_UID:
        if (len < sizeof(uint32_t))
            return uds__fail(EPROTO);
        info->uid = (uid_t) get_u32(p);
        info->has |= UDS_SOCKINFO_UID;
        return 0;
    case UNIX_DIAG_MEMINFO:
        return parse_meminfo(p, len, info);
    default:
        /* Whatever newer kernels add. */
        return 0;
    }
}

static int parse_sock(const unsigned char *body, size_t len, struct uds__diag_msg *msg) {
    struct unix_diag_msg um;
    size_t off;

    if (len < sizeof(um))
        return uds__fail(EPROTO);
    memcpy(&um, body, sizeof(um));
    if (um.udiag_family != AF_UNIX) {
        msg->kind = UDS__DIAG_SKIP;
        return 0;
    }
    if (map_type(um.udiag_type, &msg->info.type) < 0)
        return -1;
    msg->info.state = map_state(um.udiag_state);
    msg->info.inode = um.udiag_ino;
    msg->info.cookie = (uint64_t) um.udiag_cookie[0] | (uint64_t) um.udiag_cookie[1] << 32;

    off = NLMSG_ALIGN(sizeof(um));
    while (off < len) {
        struct nlattr nla;
        size_t attr_len;

        if (len - off < sizeof(nla))
            return uds__fail(EPROTO);
        memcpy(&nla, body + off, sizeof(nla));
        attr_len = nla.nla_len;
        if (attr_len < sizeof(nla) || attr_len > len - off)
            return uds__fail(EPROTO);
        if (parse_attr(nla.nla_type & NLA_TYPE_MASK, body + off + NLA_HDRLEN,
                       attr_len - NLA_HDRLEN, msg) < 0)
            return -1;
        /* The last attribute may lack its padding. */
        off += NLA_ALIGN(attr_len) < len - off ? NLA_ALIGN(attr_len) : len - off;
    }
    msg->kind = UDS__DIAG_SOCK;
    return 0;
}

/* An error code from the kernel: negative errno; anything else is nonsense. */
static int kernel_error(int32_t value) {
    if (value == 0)
        return 0;
    if (value < 0 && value > -4096)
        return -value;
    return EPROTO;
}

ssize_t uds__diag_parse(const void *buf, size_t len, struct uds__diag_msg *ret_msg) {
    const unsigned char *p = buf;
    struct uds__diag_msg msg = { .kind = UDS__DIAG_SKIP };
    struct nlmsghdr h;
    size_t msg_len, body_len;
    int32_t value;

    if (!buf || !ret_msg)
        return uds__fail(EINVAL);
    if (len < sizeof(h))
        return uds__fail(EPROTO);
    memcpy(&h, p, sizeof(h));
    msg_len = h.nlmsg_len;
    if (msg_len < sizeof(h) || msg_len > len)
        return uds__fail(EPROTO);
    body_len = msg_len - NLMSG_HDRLEN;
    msg.seq = h.nlmsg_seq;
    msg.port = h.nlmsg_pid;
    msg.interrupted = (h.nlmsg_flags & NLM_F_DUMP_INTR) != 0;

    switch (h.nlmsg_type) {
    case NLMSG_DONE:
        msg.kind = UDS__DIAG_DONE;
        /* The payload, when there is one, is the dump's final status. */
        if (body_len >= sizeof(value)) {
            memcpy(&value, p + NLMSG_HDRLEN, sizeof(value));
            msg.error = kernel_error(value);
        }
        break;
    case NLMSG_ERROR:
        if (body_len < sizeof(value))
            return uds__fail(EPROTO);
        memcpy(&value, p + NLMSG_HDRLEN, sizeof(value));
        msg.kind = UDS__DIAG_ERROR;
        msg.error = kernel_error(value);
        break;
    case SOCK_DIAG_BY_FAMILY:
        if (parse_sock(p + NLMSG_HDRLEN, body_len, &msg) < 0)
            return -1;
        break;
    default:
        /* NLMSG_NOOP, NLMSG_OVERRUN and anything else: nothing to read. */
        break;
    }
    *ret_msg = msg;
    return (ssize_t) (NLMSG_ALIGN(msg_len) < len ? NLMSG_ALIGN(msg_len) : len);
}
