/* SPDX-License-Identifier: MIT */
/*
 * capture.c — a pcapng capture file written in batches: what a program saw on its
 * connections (a handshake, bytes one way, a half-close, a reset) turned into packets
 * (pcapng.c encodes them), gathered in a buffer and written with one writev() when it
 * fills or is flushed, or packet by packet for a reader that follows live. It knows no
 * socket and no connection: the caller says what happened, this turns it into packets and
 * writes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "internal.h"

#define BUF_SIZE (1u << 20)
#define WRITE_AT (256u << 10)
/* A payload at least this large is written from where it lies rather than copied into the
 * buffer: one writev() per chunk of bulk data costs less than copying it once more. */
#define IN_PLACE_MIN (32u << 10)
#define N_IOV 64
#define DEFAULT_APPLICATION "libudskit"

/* How a write reaches the fd without raising SIGPIPE. */
enum sink {
    SINK_WRITE,         /* writev(): a file, or SIGPIPE ignored */
    SINK_SOCKET,        /* sendmsg() with MSG_NOSIGNAL */
    SINK_PIPE,          /* writev() with SIGPIPE blocked for the call */
};

struct uds_capture {
    int fd;
    bool own_fd;
    bool per_packet;        /* written at once, packet by packet */
    enum sink sink;
    size_t snaplen;         /* payload bytes kept per packet; 0 = all */
    struct iovec iov[N_IOV];    /* buf[0, mark) and the payloads between */
    size_t n_iov;
    size_t mark;            /* the bytes of buf already in iov */
    size_t used;
    uint8_t buf[];          /* BUF_SIZE bytes */
};

static ssize_t write_some(const struct uds_capture *c, struct iovec *iov, size_t n) {
    if (c->sink == SINK_SOCKET) {
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
        return sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    }
    if (c->sink == SINK_PIPE)
        return uds__writev_nosigpipe(c->fd, iov, (int) n);
    return writev(c->fd, iov, (int) n);
}

/* Write iov[0, n) whole, resuming after a short write. */
static int write_all(const struct uds_capture *c, struct iovec *iov, size_t n) {
    while (n > 0) {
        ssize_t w = write_some(c, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
            uds__wait_fd(c->fd, POLLOUT, -1) == 0)
            continue;
        if (w < 0)
            return -1;
        if (w == 0)
            return uds__fail(EIO);
        size_t left = (size_t) w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *) iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

UDS_API int uds_capture_flush(struct uds_capture *c) {
    if (!c)
        return uds__fail(EINVAL);
    if (c->used > c->mark)
        c->iov[c->n_iov++] = (struct iovec) { c->buf + c->mark, c->used - c->mark };
    int r = write_all(c, c->iov, c->n_iov);
    /* Lost on failure: a capture that cannot be written is not retried. */
    c->used = c->mark = c->n_iov = 0;
    return r;
}

UDS_API bool uds_capture_pending(const struct uds_capture *c) {
    return c && c->used > 0;
}

static bool sigpipe_ignored(void) {
    struct sigaction sa;

    return sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
           sa.sa_handler == SIG_IGN;
}

/* The capture on fd (own_fd: closed by uds_capture_close(), and here on failure). */
static struct uds_capture *capture_new(int fd, bool own_fd,
                                       const struct uds_capture_opts *opts) {
    const struct uds_capture_opts defaults = { .application = NULL };
    struct uds_capture *c;
    struct stat st;

    if (!opts)
        opts = &defaults;
    if (fstat(fd, &st) < 0 || !(c = malloc(sizeof(*c) + BUF_SIZE))) {
        if (own_fd)
            uds__close_keep_errno(fd);
        return NULL;
    }
    *c = (struct uds_capture) {
        .fd = fd, .own_fd = own_fd, .snaplen = opts->snaplen,
        .per_packet = opts->flags & UDS_CAPTURE_UNBUFFERED,
        .sink = S_ISSOCK(st.st_mode) ? SINK_SOCKET
                : S_ISFIFO(st.st_mode) && !sigpipe_ignored() ? SINK_PIPE : SINK_WRITE,
    };
    /* The two blocks are short (the name is cut at UDS_PCAPNG_TEXT_MAX): they fit. */
    c->used = (size_t) uds_pcapng_section(c->buf, BUF_SIZE, opts->application
                                          ? opts->application : DEFAULT_APPLICATION);
    c->used += (size_t) uds_pcapng_interface(c->buf + c->used, BUF_SIZE - c->used,
                                             opts->if_name);
    if (uds_capture_flush(c) < 0) {
        UDS__KEEP_ERRNO((void) uds_capture_close(c));
        return NULL;
    }
    return c;
}

static bool opts_valid(const struct uds_capture_opts *opts) {
    return !opts || !(opts->flags & ~(unsigned) UDS_CAPTURE_UNBUFFERED);
}

UDS_API struct uds_capture *uds_capture_open(const char *path,
                                             const struct uds_capture_opts *opts) {
    if (!path || !*path || !opts_valid(opts)) {
        errno = EINVAL;
        return NULL;
    }
    /* 0600: what flows through a socket is often a secret (passwords, tokens). */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return NULL;
    return capture_new(fd, true, opts);
}

UDS_API struct uds_capture *uds_capture_open_fd(int fd, const struct uds_capture_opts *opts) {
    if (fd < 0 || !opts_valid(opts)) {
        errno = EINVAL;
        return NULL;
    }
    return capture_new(fd, false, opts);
}

UDS_API int uds_capture_close(struct uds_capture *c) {
    int r = 0, e = 0;

    if (!c)
        return 0;
    if (uds_capture_flush(c) < 0) {
        r = -1;
        e = errno;
    }
    if (c->own_fd && close(c->fd) < 0 && r == 0) {
        r = -1;
        e = errno;
    }
    free(c);
    if (r < 0)
        errno = e;
    return r;
}

/* ---- packets ------------------------------------------------------------------------------ */

static int packet(struct uds_capture *c, struct uds_pcapng_flow *f,
                  const struct uds_pcapng_packet *pkt) {
    size_t need = uds_pcapng_packet_size(f, pkt);

    if (c->used + need > BUF_SIZE && uds_capture_flush(c) < 0)
        return -1;
    /* At most 64 KiB and a comment cut at UDS_PCAPNG_TEXT_MAX: the buffer holds it. */
    ssize_t n = uds_pcapng_packet(c->buf + c->used, BUF_SIZE - c->used, f, pkt);
    if (n < 0)
        return -1;
    c->used += (size_t) n;
    if (c->per_packet || c->used >= WRITE_AT)
        return uds_capture_flush(c);
    return 0;
}

/* pkt with its payload left where it is: the caller flushes before the payload goes. */
static int packet_in_place(struct uds_capture *c, struct uds_pcapng_flow *f,
                           const struct uds_pcapng_packet *pkt) {
    size_t need = uds_pcapng_packet_size(f, pkt) - pkt->cap_len;

    /* Room for the head, the payload's and the tail's entries, and the buffer's last. */
    if ((c->used + need > BUF_SIZE || c->n_iov + 3 > N_IOV) && uds_capture_flush(c) < 0)
        return -1;
    ssize_t head = uds_pcapng_packet_head(c->buf + c->used, BUF_SIZE - c->used, f, pkt);
    if (head < 0)
        return -1;
    c->used += (size_t) head;
    c->iov[c->n_iov++] = (struct iovec) { c->buf + c->mark, c->used - c->mark };
    c->iov[c->n_iov++] = (struct iovec) { (void *) pkt->payload, pkt->cap_len };
    c->mark = c->used;
    c->used += (size_t) uds_pcapng_packet_tail(c->buf + c->used, BUF_SIZE - c->used, f, pkt);
    return 0;
}

static bool args_valid(const struct uds_capture *c, const struct uds_pcapng_flow *f,
                       enum uds_pcapng_dir dir) {
    return c && f && (dir == UDS_PCAPNG_TO_SERVER || dir == UDS_PCAPNG_TO_CLIENT);
}

UDS_API int uds_capture_begin(struct uds_capture *c, struct uds_pcapng_flow *f,
                              uint64_t ts_us, const char *comment) {
    const struct uds_pcapng_packet syn = {
        .dir = UDS_PCAPNG_TO_SERVER, .flags = UDS_PCAPNG_SYN, .ts_us = ts_us,
        .comment = comment,
    };
    const struct uds_pcapng_packet syn_ack = {
        .dir = UDS_PCAPNG_TO_CLIENT, .flags = UDS_PCAPNG_SYN | UDS_PCAPNG_ACK, .ts_us = ts_us,
    };
    const struct uds_pcapng_packet ack = {
        .dir = UDS_PCAPNG_TO_SERVER, .flags = UDS_PCAPNG_ACK, .ts_us = ts_us,
    };

    if (!args_valid(c, f, UDS_PCAPNG_TO_SERVER))
        return uds__fail(EINVAL);
    if (f->udp)
        return 0;
    if (packet(c, f, &syn) < 0 || packet(c, f, &syn_ack) < 0)
        return -1;
    return packet(c, f, &ack);
}

UDS_API int uds_capture_data(struct uds_capture *c, struct uds_pcapng_flow *f,
                             enum uds_pcapng_dir dir, const void *data, size_t len,
                             uint64_t ts_us, const char *comment) {
    if (!args_valid(c, f, dir) || (!data && len > 0))
        return uds__fail(EINVAL);
    size_t max = f->udp ? UDS_PCAPNG_UDP_MAX : UDS_PCAPNG_TCP_MAX, off = 0;

    /* A message longer than a UDP datagram can be is cut: the rest would be another
     * message to a dissector. */
    if (f->udp && len > max)
        len = max;
    do {
        size_t n = len - off > max ? max : len - off;
        struct uds_pcapng_packet pkt = {
            .dir = dir, .flags = UDS_PCAPNG_PSH | UDS_PCAPNG_ACK,
            .payload = n ? (const char *) data + off : NULL, .len = n,
            .cap_len = c->snaplen && n > c->snaplen ? c->snaplen : n,
            .ts_us = ts_us, .comment = off == 0 ? comment : NULL,
        };
        if ((pkt.cap_len >= IN_PLACE_MIN ? packet_in_place(c, f, &pkt)
                                         : packet(c, f, &pkt)) < 0)
            return -1;
        off += n;
    } while (off < len);
    return c->n_iov > 0 ? uds_capture_flush(c) : 0;
}

static int tcp_end(struct uds_capture *c, struct uds_pcapng_flow *f, enum uds_pcapng_dir dir,
                   unsigned flag, uint64_t ts_us) {
    const struct uds_pcapng_packet end = {
        .dir = dir, .flags = flag | UDS_PCAPNG_ACK, .ts_us = ts_us,
    };

    if (!args_valid(c, f, dir))
        return uds__fail(EINVAL);
    return f->udp ? 0 : packet(c, f, &end);
}

UDS_API int uds_capture_fin(struct uds_capture *c, struct uds_pcapng_flow *f,
                            enum uds_pcapng_dir dir, uint64_t ts_us) {
    return tcp_end(c, f, dir, UDS_PCAPNG_FIN, ts_us);
}

UDS_API int uds_capture_reset(struct uds_capture *c, struct uds_pcapng_flow *f,
                              enum uds_pcapng_dir dir, uint64_t ts_us) {
    return tcp_end(c, f, dir, UDS_PCAPNG_RST, ts_us);
}
