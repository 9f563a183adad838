/* SPDX-License-Identifier: MIT */
/*
 * tap_capture.c — the capture file of `uds tap -w`: each connection as packets
 * (tap_pcapng.c encodes them) gathered in a buffer and written in batches, or packet by
 * packet when a reader follows live (-w -). It knows no socket and no connection: the
 * command says what happened, this turns it into packets and writes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tap.h"

#define BUF_SIZE (1u << 20)
#define WRITE_AT (256u << 10)
/* A payload at least this large is written from where it lies rather than copied into the
 * buffer: one writev() per chunk of bulk data costs less than copying it once more. */
#define IN_PLACE_MIN (32u << 10)

/* Write iov[0, n) whole, resuming after a short write. */
static int write_all(int fd, struct iovec *iov, size_t n) {
    while (n > 0) {
        ssize_t w = writev(fd, iov, (int) n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
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

int tap_capture_flush(struct tap_capture *c) {
    if (c->used > c->mark)
        c->iov[c->n_iov++] = (struct iovec) { c->buf + c->mark, c->used - c->mark };
    int r = write_all(c->fd, c->iov, c->n_iov);
    /* Lost on failure: a capture that cannot be written is not retried. */
    c->used = c->mark = c->n_iov = 0;
    return r;
}

bool tap_capture_pending(const struct tap_capture *c) {
    return c->fd >= 0 && c->used > 0;
}

int tap_capture_open(struct tap_capture *c, const char *file, const char *ifname,
                     size_t snaplen) {
    *c = (struct tap_capture) { .fd = -1, .snaplen = snaplen };
    c->buf = malloc(BUF_SIZE);
    if (!c->buf)
        return -1;
    c->size = BUF_SIZE;
    if (strcmp(file, "-") == 0) {
        c->fd = STDOUT_FILENO;
        c->per_packet = true;
    } else {
        /* 0600: what flows through a socket is often a secret (passwords, tokens). */
        c->fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
        if (c->fd < 0)
            return -1;
        c->own_fd = true;
    }
    c->used = tap_pcapng_section(c->buf, c->size);
    c->used += tap_pcapng_interface(c->buf + c->used, c->size - c->used, ifname);
    return tap_capture_flush(c);
}

int tap_capture_close(struct tap_capture *c) {
    int r = 0;

    if (c->fd >= 0) {
        r = tap_capture_flush(c);
        if (c->own_fd && close(c->fd) < 0)
            r = -1;
    }
    free(c->buf);
    c->buf = NULL;
    c->fd = -1;
    return r;
}

static int packet(struct tap_capture *c, struct tap_flow *f, const struct tap_packet *pkt) {
    size_t need = tap_pcapng_packet_size(pkt);

    if (c->fd < 0)
        return 0;
    if (c->used + need > c->size && tap_capture_flush(c) < 0)
        return -1;
    if (need > c->size)
        return 0;   /* cannot happen: a packet is at most 64 KiB and a comment */
    c->used += tap_pcapng_packet(c->buf + c->used, c->size - c->used, f, pkt);
    if (c->per_packet || c->used >= WRITE_AT)
        return tap_capture_flush(c);
    return 0;
}

/* pkt with its payload left where it is: the caller flushes before the payload goes. */
static int packet_in_place(struct tap_capture *c, struct tap_flow *f,
                           const struct tap_packet *pkt) {
    size_t need = tap_pcapng_packet_size(pkt) - pkt->cap_len;

    if (c->fd < 0)
        return 0;
    /* Room for the head, the payload's and the tail's entries, and the buffer's last. */
    if ((c->used + need > c->size || c->n_iov + 3 > TAP_CAPTURE_IOV) &&
        tap_capture_flush(c) < 0)
        return -1;
    c->used += tap_pcapng_packet_head(c->buf + c->used, c->size - c->used, f, pkt);
    c->iov[c->n_iov++] = (struct iovec) { c->buf + c->mark, c->used - c->mark };
    c->iov[c->n_iov++] = (struct iovec) { (void *) pkt->payload, pkt->cap_len };
    c->mark = c->used;
    c->used += tap_pcapng_packet_tail(c->buf + c->used, c->size - c->used, f, pkt);
    return 0;
}

int tap_capture_begin(struct tap_capture *c, struct tap_flow *f, uint64_t ts_us,
                      const char *comment) {
    struct tap_packet syn = { .dir = TAP_TO_SERVER, .flags = TAP_SYN, .payload = "",
                              .ts_us = ts_us, .comment = comment };
    struct tap_packet syn_ack = { .dir = TAP_TO_CLIENT, .flags = TAP_SYN | TAP_ACK,
                                  .payload = "", .ts_us = ts_us };
    struct tap_packet ack = { .dir = TAP_TO_SERVER, .flags = TAP_ACK, .payload = "",
                              .ts_us = ts_us };

    if (f->udp)
        return 0;
    if (packet(c, f, &syn) < 0 || packet(c, f, &syn_ack) < 0)
        return -1;
    return packet(c, f, &ack);
}

int tap_capture_data(struct tap_capture *c, struct tap_flow *f, enum tap_dir dir,
                     const void *data, size_t len, uint64_t ts_us, const char *comment) {
    size_t max = f->udp ? TAP_PCAP_UDP_MAX : TAP_PCAP_TCP_MAX, off = 0;

    /* A message longer than a UDP datagram can be is cut: the rest would be another
     * message to a dissector. */
    if (f->udp && len > max)
        len = max;
    do {
        size_t n = len - off > max ? max : len - off;
        struct tap_packet pkt = {
            .dir = dir, .flags = TAP_PSH | TAP_ACK, .payload = (const char *) data + off,
            .len = n, .cap_len = c->snaplen && n > c->snaplen ? c->snaplen : n,
            .ts_us = ts_us, .comment = off == 0 ? comment : NULL,
        };
        if ((pkt.cap_len >= IN_PLACE_MIN ? packet_in_place(c, f, &pkt)
                                         : packet(c, f, &pkt)) < 0)
            return -1;
        off += n;
    } while (off < len);
    return c->n_iov > 0 ? tap_capture_flush(c) : 0;
}

int tap_capture_fin(struct tap_capture *c, struct tap_flow *f, enum tap_dir dir,
                    uint64_t ts_us) {
    struct tap_packet fin = { .dir = dir, .flags = TAP_FIN | TAP_ACK, .payload = "",
                              .ts_us = ts_us };

    return f->udp ? 0 : packet(c, f, &fin);
}

int tap_capture_reset(struct tap_capture *c, struct tap_flow *f, enum tap_dir dir,
                      uint64_t ts_us) {
    struct tap_packet rst = { .dir = dir, .flags = TAP_RST | TAP_ACK, .payload = "",
                              .ts_us = ts_us };

    return f->udp ? 0 : packet(c, f, &rst);
}
