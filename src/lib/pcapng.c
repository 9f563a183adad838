/* SPDX-License-Identifier: MIT */
/*
 * pcapng.c — pcapng blocks (section header, interface, enhanced packet with a comment
 * option) holding synthetic IPv4 packets, TCP for a stream connection (handshake, sequence
 * numbers, FIN) and UDP for messages, so that Wireshark's own dissectors reassemble and
 * decode what a Unix socket carried. A pure encoder: it writes into the caller's buffer and
 * makes no system call, no allocation, keeps no pointer. capture.c writes its blocks.
 * Block layouts: the pcapng specification (IETF draft-ietf-opsawg-pcapng), sections 4.1
 * (SHB), 4.2 (IDB) and 4.3 (EPB); options are code, length, value padded to 32 bits.
 */
#include <string.h>

#include "internal.h"

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_EPB 0x00000006u
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define LINKTYPE_RAW 101u
#define OPT_END 0
#define OPT_COMMENT 1
#define OPT_IF_NAME 2
#define OPT_SHB_USERAPPL 4
#define EPB_FIXED 28u           /* block type, length, interface, timestamp, two lengths */
#define IP_HDR 20u
#define TCP_HDR 20u
#define UDP_HDR 8u

static size_t pad4(size_t n) {
    return (n + 3u) & ~(size_t) 3u;
}

/* Writing into a buffer that is known to be large enough (checked before). */
struct out {
    uint8_t *p;
    size_t at;
};

static void put(struct out *o, const void *v, size_t n) {
    memcpy(o->p + o->at, v, n);
    o->at += n;
}

static void put32(struct out *o, uint32_t v) {
    put(o, &v, 4);      /* the host's order, which the section's byte-order magic states */
}

static void put16(struct out *o, uint16_t v) {
    put(o, &v, 2);
}

static void zeros(struct out *o, size_t n) {
    memset(o->p + o->at, 0, n);
    o->at += n;
}

static size_t text_len(const char *text) {
    return text ? strnlen(text, UDS_PCAPNG_TEXT_MAX) : 0;
}

/* One option holding text, or nothing for NULL; and the end of options after it. */
static size_t text_option_size(const char *text) {
    return text ? 4 + pad4(text_len(text)) + 4 : 0;
}

static void put_text_option(struct out *o, uint16_t code, const char *text) {
    size_t len = text_len(text);

    if (!text)
        return;
    put16(o, code);
    put16(o, (uint16_t) len);
    put(o, text, len);
    zeros(o, pad4(len) - len);
    put16(o, OPT_END);
    put16(o, 0);
}

/* Open a block of type and total length at buf, checked to fit: its first two fields. */
static int block_open(struct out *o, void *buf, size_t size, uint32_t type, size_t total) {
    if (!buf)
        return uds__fail(EINVAL);
    if (size < total)
        return uds__fail(ENOSPC);
    *o = (struct out) { buf, 0 };
    put32(o, type);
    put32(o, (uint32_t) total);
    return 0;
}

UDS_API ssize_t uds_pcapng_section(void *buf, size_t size, const char *application) {
    size_t total = 28 + text_option_size(application);
    struct out o;

    if (block_open(&o, buf, size, BT_SHB, total) < 0)
        return -1;
    put32(&o, BYTE_ORDER_MAGIC);
    put16(&o, 1);                   /* version 1.0 */
    put16(&o, 0);
    put32(&o, 0xFFFFFFFFu);         /* section length: not given (-1) */
    put32(&o, 0xFFFFFFFFu);
    put_text_option(&o, OPT_SHB_USERAPPL, application);
    put32(&o, (uint32_t) total);
    return (ssize_t) o.at;
}

UDS_API ssize_t uds_pcapng_interface(void *buf, size_t size, const char *name) {
    size_t total = 20 + text_option_size(name);
    struct out o;

    if (block_open(&o, buf, size, BT_IDB, total) < 0)
        return -1;
    put16(&o, LINKTYPE_RAW);        /* each packet an IPv4 packet, no link header */
    put16(&o, 0);
    put32(&o, 0);                   /* snaplen: no limit */
    put_text_option(&o, OPT_IF_NAME, name);
    put32(&o, (uint32_t) total);
    return (ssize_t) o.at;
}

/* ---- flows ----------------------------------------------------------------------------- */

UDS_API void uds_pcapng_flow_init(struct uds_pcapng_flow *flow, unsigned id,
                                  uint16_t server_port, bool udp) {
    /* 60000 ports per address, from 127.0.1.1 up: a capture of millions of connections
     * still gives each its own pair, and none is 127.0.0.1, the server's. */
    *flow = (struct uds_pcapng_flow) {
        .client_ip = 0x7F000101u + id / 60000u,
        .server_ip = 0x7F000001u,
        .client_port = (uint16_t) (1024u + id % 60000u),
        .server_port = server_port,
        .seq = { 1000u * id, 2000000000u + 1000u * id },
        .udp = udp,
    };
}

UDS_API uint16_t uds_pcapng_port(const char *path) {
    static const char pg[] = ".s.PGSQL.";
    const char *base = path ? strrchr(path, '/') : NULL;

    if (!path)
        return 49152;
    base = base ? base + 1 : path;
    if (strncmp(base, pg, sizeof(pg) - 1) == 0) {
        unsigned long port = 0;
        const char *d = base + sizeof(pg) - 1;
        for (; *d >= '0' && *d <= '9' && port <= 65535; d++)
            port = port * 10 + (unsigned long) (*d - '0');
        if (!*d && port > 0 && port <= 65535)
            return (uint16_t) port;
    }
    if (strstr(base, "docker"))
        return 80;
    if (strstr(base, "php") || strstr(base, "fpm"))
        return 9000;
    return 49152;
}

/* ---- IPv4, TCP, UDP ---------------------------------------------------------------------- */

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n) {
    for (; n > 1; p += 2, n -= 2)
        sum += (uint32_t) p[0] << 8 | p[1];
    if (n)
        sum += (uint32_t) p[0] << 8;
    return sum;
}

/* The same sum over a payload, 4 bytes at a time: a one's complement sum does not depend
 * on byte order (RFC 1071), so native 32-bit words are added into 64-bit sums, which
 * cannot overflow for a packet (carries are kept in the upper half, none is lost), folded
 * to 16 bits and put in network order at the end. Four independent sums and no carry test
 * let the compiler use vector adds. A bulk transfer is checksummed byte for byte, so this
 * is the encoder's hot loop. */
static uint32_t sum_payload(uint32_t sum, const uint8_t *p, size_t n) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        uint32_t v[4];
        memcpy(v, p + i, 16);
        s0 += v[0];
        s1 += v[1];
        s2 += v[2];
        s3 += v[3];
    }
    for (; i + 4 <= n; i += 4) {
        uint32_t v;
        memcpy(&v, p + i, 4);
        s0 += v;
    }
    uint64_t acc = s0 + s1 + s2 + s3;   /* under 2^50 for 64 KiB: no wrap */
    acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
    acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
    acc = (acc & 0xFFFFu) + (acc >> 16);
    acc = (acc & 0xFFFFu) + (acc >> 16);
    acc = (acc & 0xFFFFu) + (acc >> 16);
    uint16_t folded = (uint16_t) acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    folded = (uint16_t) (folded << 8 | folded >> 8);
#endif
    return sum16(sum + folded, p + i, n - i);
}

static uint16_t fold(uint32_t sum) {
    while (sum >> 16)
        sum = (sum & 0xFFFFu) + (sum >> 16);
    return (uint16_t) ~sum;
}

static void be16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static void be32(uint8_t *p, uint32_t v) {
    be16(p, v >> 16);
    be16(p + 2, v);
}

static void ip_header(uint8_t *h, const struct uds_pcapng_flow *f, enum uds_pcapng_dir dir,
                      size_t total) {
    uint32_t src = dir == UDS_PCAPNG_TO_SERVER ? f->client_ip : f->server_ip;
    uint32_t dst = dir == UDS_PCAPNG_TO_SERVER ? f->server_ip : f->client_ip;

    memset(h, 0, IP_HDR);
    h[0] = 0x45;
    be16(h + 2, (uint32_t) total);
    be16(h + 6, 0x4000);            /* don't fragment */
    h[8] = 64;
    h[9] = f->udp ? 17 : 6;
    be32(h + 12, src);
    be32(h + 16, dst);
    be16(h + 10, fold(sum16(0, h, IP_HDR)));
}

/* The transport checksum, over the pseudo-header, the header and the whole payload. */
static uint16_t transport_sum(const uint8_t *ip, const uint8_t *hdr, size_t hdr_len,
                              const struct uds_pcapng_packet *pkt) {
    uint32_t sum = sum16(0, ip + 12, 8);
    size_t len = hdr_len + pkt->len;

    sum += ip[9];
    sum += (uint32_t) len;
    sum = sum16(sum, hdr, hdr_len);
    if (pkt->len)   /* hdr_len is even: no odd byte between the header and the payload */
        sum = sum_payload(sum, pkt->payload, pkt->len);
    uint16_t c = fold(sum);
    return c == 0 && ip[9] == 17 ? 0xFFFFu : c;     /* UDP's 0 means "no checksum" */
}

static void ports(uint8_t *h, const struct uds_pcapng_flow *f, enum uds_pcapng_dir dir) {
    be16(h, dir == UDS_PCAPNG_TO_SERVER ? f->client_port : f->server_port);
    be16(h + 2, dir == UDS_PCAPNG_TO_SERVER ? f->server_port : f->client_port);
}

static void tcp_header(uint8_t *h, const uint8_t *ip, struct uds_pcapng_flow *f,
                       const struct uds_pcapng_packet *pkt) {
    int other = pkt->dir == UDS_PCAPNG_TO_SERVER ? UDS_PCAPNG_TO_CLIENT : UDS_PCAPNG_TO_SERVER;

    memset(h, 0, TCP_HDR);
    ports(h, f, pkt->dir);
    be32(h + 4, f->seq[pkt->dir]);
    if (pkt->flags & UDS_PCAPNG_ACK)
        be32(h + 8, f->seq[other]);
    h[12] = (TCP_HDR / 4) << 4;
    h[13] = (uint8_t) pkt->flags;
    be16(h + 14, 65535);
    be16(h + 16, transport_sum(ip, h, TCP_HDR, pkt));
    /* SYN and FIN take a sequence number each, as the bytes do. */
    f->seq[pkt->dir] += (uint32_t) pkt->len + !!(pkt->flags & UDS_PCAPNG_SYN) +
                        !!(pkt->flags & UDS_PCAPNG_FIN);
}

static void udp_header(uint8_t *h, const uint8_t *ip, const struct uds_pcapng_flow *f,
                       const struct uds_pcapng_packet *pkt) {
    memset(h, 0, UDP_HDR);
    ports(h, f, pkt->dir);
    be16(h + 4, (uint32_t) (UDP_HDR + pkt->len));
    be16(h + 6, transport_sum(ip, h, UDP_HDR, pkt));
}

/* ---- enhanced packet blocks -------------------------------------------------------------- */

/* The bytes of the block around its payload: the head (block header, IP and TCP/UDP
 * headers) and the tail (padding, comment option, block length). */
static size_t head_size(const struct uds_pcapng_flow *flow) {
    return EPB_FIXED + IP_HDR + (flow->udp ? UDP_HDR : TCP_HDR);
}

static size_t tail_size(const struct uds_pcapng_flow *flow,
                        const struct uds_pcapng_packet *pkt) {
    size_t cap = head_size(flow) - EPB_FIXED + pkt->cap_len;

    return pad4(cap) - cap + text_option_size(pkt->comment) + 4;
}

UDS_API size_t uds_pcapng_packet_size(const struct uds_pcapng_flow *flow,
                                      const struct uds_pcapng_packet *pkt) {
    return head_size(flow) + pkt->cap_len + tail_size(flow, pkt);
}

static bool packet_valid(const struct uds_pcapng_flow *flow,
                         const struct uds_pcapng_packet *pkt) {
    return flow && pkt &&
           (pkt->dir == UDS_PCAPNG_TO_SERVER || pkt->dir == UDS_PCAPNG_TO_CLIENT) &&
           pkt->cap_len <= pkt->len && (pkt->payload || pkt->len == 0) &&
           pkt->len <= (flow->udp ? UDS_PCAPNG_UDP_MAX : UDS_PCAPNG_TCP_MAX);
}

UDS_API ssize_t uds_pcapng_packet_head(void *buf, size_t size, struct uds_pcapng_flow *flow,
                                       const struct uds_pcapng_packet *pkt) {
    if (!buf || !packet_valid(flow, pkt))
        return uds__fail(EINVAL);
    size_t hdr = IP_HDR + (flow->udp ? UDP_HDR : TCP_HDR);
    size_t cap = hdr + pkt->cap_len, orig = hdr + pkt->len;
    struct out o = { buf, 0 };
    uint8_t h[IP_HDR + TCP_HDR];

    if (size < head_size(flow))
        return uds__fail(ENOSPC);
    ip_header(h, flow, pkt->dir, orig);
    if (flow->udp)
        udp_header(h + IP_HDR, h, flow, pkt);
    else
        tcp_header(h + IP_HDR, h, flow, pkt);
    put32(&o, BT_EPB);
    put32(&o, (uint32_t) uds_pcapng_packet_size(flow, pkt));
    put32(&o, 0);                               /* interface 0 */
    put32(&o, (uint32_t) (pkt->ts_us >> 32));   /* microseconds: the default if_tsresol */
    put32(&o, (uint32_t) pkt->ts_us);
    put32(&o, (uint32_t) cap);
    put32(&o, (uint32_t) orig);
    put(&o, h, hdr);
    return (ssize_t) o.at;
}

UDS_API ssize_t uds_pcapng_packet_tail(void *buf, size_t size,
                                       const struct uds_pcapng_flow *flow,
                                       const struct uds_pcapng_packet *pkt) {
    if (!buf || !packet_valid(flow, pkt))
        return uds__fail(EINVAL);
    size_t cap = head_size(flow) - EPB_FIXED + pkt->cap_len;
    struct out o = { buf, 0 };

    if (size < tail_size(flow, pkt))
        return uds__fail(ENOSPC);
    zeros(&o, pad4(cap) - cap);
    put_text_option(&o, OPT_COMMENT, pkt->comment);
    put32(&o, (uint32_t) uds_pcapng_packet_size(flow, pkt));
    return (ssize_t) o.at;
}

UDS_API ssize_t uds_pcapng_packet(void *buf, size_t size, struct uds_pcapng_flow *flow,
                                  const struct uds_pcapng_packet *pkt) {
    if (!buf || !packet_valid(flow, pkt))
        return uds__fail(EINVAL);
    size_t head = head_size(flow), total = uds_pcapng_packet_size(flow, pkt);
    uint8_t *p = buf;

    if (size < total)
        return uds__fail(ENOSPC);
    (void) uds_pcapng_packet_head(p, head, flow, pkt);
    if (pkt->cap_len)
        memcpy(p + head, pkt->payload, pkt->cap_len);
    (void) uds_pcapng_packet_tail(p + head + pkt->cap_len, total - head - pkt->cap_len, flow,
                                  pkt);
    return (ssize_t) total;
}
