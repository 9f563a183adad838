/* SPDX-License-Identifier: MIT */
/* test_pcapng.c — the pcapng encoder, byte for byte against the specification
 * (draft-ietf-opsawg-pcapng: SHB, IDB, EPB and their options) and the IPv4, TCP and UDP
 * headers it synthesises (RFC 791, 793, 768): block lengths at both ends, padding to 32
 * bits, options, the sequence numbers a flow advances, and checksums verified here by a
 * plain RFC 1071 sum of our own, over payloads of every small length and alignment and the
 * largest one. Also the block in parts (head, payload, tail) against the whole one, a
 * buffer too small, bad arguments, flow numbering and the port guessed from a name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "udskit.h"

#define EPB_FIXED 28
#define IP_HDR 20
#define TCP_HDR 20
#define UDP_HDR 8

static uint32_t rd32(const uint8_t *p) {       /* the host's order, as the section says */
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static uint16_t rd16(const uint8_t *p) {
    uint16_t v;

    memcpy(&v, p, 2);
    return v;
}

static uint32_t be16(const uint8_t *p) {
    return (uint32_t) p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p) {
    return be16(p) << 16 | be16(p + 2);
}

/* RFC 1071, the slow way: 16-bit big-endian words, end-around carry, one at a time. */
static uint32_t ref_add(uint32_t sum, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sum += i % 2 ? p[i] : (uint32_t) p[i] << 8;
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    return sum;
}

/* The transport checksum of a TCP or UDP header hdr (hdr_len bytes, its checksum field
 * zeroed) and payload, with the pseudo-header of the IPv4 header ip. */
static uint16_t ref_transport_sum(const uint8_t *ip, const uint8_t *hdr, size_t hdr_len,
                                  const uint8_t *payload, size_t len) {
    size_t tlen = hdr_len + len;
    uint8_t pseudo[12];

    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = ip[9];
    pseudo[10] = (uint8_t) (tlen >> 8);
    pseudo[11] = (uint8_t) tlen;
    uint32_t sum = ref_add(0, pseudo, sizeof(pseudo));
    sum = ref_add(sum, hdr, hdr_len);
    /* hdr_len is even, so the payload's first byte is a high byte */
    sum = ref_add(sum, payload, len);
    return (uint16_t) ~sum;
}

/* The checksum field at hdr + at is what ref_transport_sum() finds with it zeroed. */
static void assert_transport_sum(const uint8_t *ip, const uint8_t *hdr, size_t hdr_len,
                                 size_t at, const uint8_t *payload, size_t len) {
    uint8_t copy[TCP_HDR];
    uint16_t want;

    memcpy(copy, hdr, hdr_len);
    copy[at] = copy[at + 1] = 0;
    want = ref_transport_sum(ip, copy, hdr_len, payload, len);
    if (ip[9] == 17 && want == 0)
        want = 0xFFFF;          /* UDP sends an all-zero sum as all ones */
    assert_int_equal(be16(hdr + at), want);
}

static void assert_ip_header_sum(const uint8_t *ip) {
    assert_int_equal(ref_add(0, ip, IP_HDR), 0xFFFF);     /* with its checksum: all ones */
}

static uint8_t *pattern(size_t len, unsigned seed) {
    uint8_t *p = malloc(len + 4);

    assert_non_null(p);
    for (size_t i = 0; i < len + 4; i++)
        p[i] = (uint8_t) (seed * 131 + i * 29 + i / 253);
    return p;
}

/* ---- section and interface --------------------------------------------------------------- */

static void section_header_block_byte_for_byte(void **state) {
    uint8_t buf[64];
    (void) state;

    memset(buf, 0xAA, sizeof(buf));
    assert_int_equal(uds_pcapng_section(buf, sizeof(buf), "uds tap"), 44);
    assert_int_equal(rd32(buf), 0x0A0D0D0A);               /* block type */
    assert_int_equal(rd32(buf + 4), 44);                   /* length, and again at the end */
    assert_int_equal(rd32(buf + 8), 0x1A2B3C4D);           /* byte-order magic */
    assert_int_equal(rd16(buf + 12), 1);                   /* version 1.0 */
    assert_int_equal(rd16(buf + 14), 0);
    assert_int_equal(rd32(buf + 16), 0xFFFFFFFF);          /* section length unknown */
    assert_int_equal(rd32(buf + 20), 0xFFFFFFFF);
    assert_int_equal(rd16(buf + 24), 4);                   /* shb_userappl */
    assert_int_equal(rd16(buf + 26), 7);
    assert_memory_equal(buf + 28, "uds tap\0", 8);         /* padded with one zero */
    assert_int_equal(rd32(buf + 36), 0);                   /* opt_endofopt */
    assert_int_equal(rd32(buf + 40), 44);
    assert_int_equal(buf[44], 0xAA);                       /* nothing written past it */

    assert_int_equal(uds_pcapng_section(buf, sizeof(buf), NULL), 28);  /* no options */
    assert_int_equal(rd32(buf + 4), 28);
    assert_int_equal(rd32(buf + 24), 28);
}

static void interface_block_byte_for_byte(void **state) {
    uint8_t buf[64];
    (void) state;

    memset(buf, 0xAA, sizeof(buf));
    assert_int_equal(uds_pcapng_interface(buf, sizeof(buf), "/run/a.sock"), 40);
    assert_int_equal(rd32(buf), 1);                        /* IDB */
    assert_int_equal(rd32(buf + 4), 40);
    assert_int_equal(rd16(buf + 8), 101);                  /* LINKTYPE_RAW */
    assert_int_equal(rd16(buf + 10), 0);
    assert_int_equal(rd32(buf + 12), 0);                   /* no snap length */
    assert_int_equal(rd16(buf + 16), 2);                   /* if_name */
    assert_int_equal(rd16(buf + 18), 11);
    assert_memory_equal(buf + 20, "/run/a.sock\0", 12);
    assert_int_equal(rd32(buf + 32), 0);                   /* opt_endofopt */
    assert_int_equal(rd32(buf + 36), 40);
    assert_int_equal(buf[40], 0xAA);

    /* A name of a multiple of 4 bytes has no padding. */
    assert_int_equal(uds_pcapng_interface(buf, sizeof(buf), "abcd"), 32);
    assert_memory_equal(buf + 20, "abcd", 4);
    assert_int_equal(rd32(buf + 24), 0);
    assert_int_equal(rd32(buf + 28), 32);
    assert_int_equal(uds_pcapng_interface(buf, sizeof(buf), NULL), 20);
    assert_int_equal(rd32(buf + 16), 20);
}

/* ---- enhanced packet blocks ----------------------------------------------------------------- */

static void tcp_packet_block_headers_checksums_and_comment(void **state) {
    struct uds_pcapng_flow flow;
    uint8_t buf[256];
    const char payload[] = "GET / HTTP/1";                 /* 12 bytes + NUL: odd, 13 */
    struct uds_pcapng_packet pkt = {
        .dir = UDS_PCAPNG_TO_SERVER, .flags = UDS_PCAPNG_PSH | UDS_PCAPNG_ACK,
        .payload = payload, .len = sizeof(payload), .cap_len = sizeof(payload),
        .ts_us = 0x0000000123456789ull, .comment = "who",
    };
    (void) state;

    uds_pcapng_flow_init(&flow, 7, 80, false);
    size_t size = uds_pcapng_packet_size(&flow, &pkt);
    /* 28 fixed + 40 headers + 13 payload padded to 56, comment option 8, end 4, length 4 */
    assert_int_equal(size, 28 + 56 + 8 + 4 + 4);
    memset(buf, 0xAA, sizeof(buf));
    assert_int_equal(uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt), (ssize_t) size);
    assert_int_equal(buf[size], 0xAA);
    assert_int_equal(rd32(buf), 6);                        /* EPB */
    assert_int_equal(rd32(buf + 4), size);
    assert_int_equal(rd32(buf + size - 4), size);
    assert_int_equal(rd32(buf + 8), 0);                    /* interface 0 */
    assert_int_equal(rd32(buf + 12), 0x1);                 /* timestamp, high then low */
    assert_int_equal(rd32(buf + 16), 0x23456789);
    assert_int_equal(rd32(buf + 20), 53);                  /* captured */
    assert_int_equal(rd32(buf + 24), 53);                  /* original */

    const uint8_t *ip = buf + EPB_FIXED, *tcp = ip + IP_HDR;
    assert_int_equal(ip[0], 0x45);
    assert_int_equal(be16(ip + 2), 53);
    assert_int_equal(be16(ip + 6), 0x4000);                /* don't fragment */
    assert_int_equal(ip[8], 64);
    assert_int_equal(ip[9], 6);
    assert_int_equal(be32(ip + 12), 0x7F000101);           /* 127.0.1.1 + 7 / 60000 */
    assert_int_equal(be32(ip + 16), 0x7F000001);
    assert_ip_header_sum(ip);
    assert_int_equal(be16(tcp), 1031);                     /* 1024 + 7 */
    assert_int_equal(be16(tcp + 2), 80);
    assert_int_equal(be32(tcp + 4), 7000);                 /* the client's first seq */
    assert_int_equal(be32(tcp + 8), 2000007000u);          /* ACK: the server's next */
    assert_int_equal(tcp[12], 5 << 4);
    assert_int_equal(tcp[13], 0x18);                       /* PSH ACK */
    assert_int_equal(be16(tcp + 14), 65535);
    assert_int_equal(be16(tcp + 18), 0);
    assert_transport_sum(ip, tcp, TCP_HDR, 16, (const uint8_t *) payload, sizeof(payload));
    assert_memory_equal(tcp + TCP_HDR, payload, sizeof(payload));

    const uint8_t *pad = tcp + TCP_HDR + sizeof(payload), *opt = buf + EPB_FIXED + 56;
    for (; pad < opt; pad++)
        assert_int_equal(*pad, 0);
    assert_int_equal(rd16(opt), 1);                        /* opt_comment */
    assert_int_equal(rd16(opt + 2), 3);
    assert_memory_equal(opt + 4, "who\0", 4);
    assert_int_equal(rd32(opt + 8), 0);                    /* opt_endofopt */
    assert_int_equal(flow.seq[UDS_PCAPNG_TO_SERVER], 7000 + sizeof(payload));
}

static void tcp_sequence_numbers_count_bytes_syn_and_fin(void **state) {
    struct uds_pcapng_flow flow;
    uint8_t buf[256];
    struct uds_pcapng_packet pkt = { .dir = UDS_PCAPNG_TO_SERVER, .flags = UDS_PCAPNG_SYN };
    const uint8_t *tcp = buf + EPB_FIXED + IP_HDR;
    (void) state;

    uds_pcapng_flow_init(&flow, 1, 5432, false);
    assert_true(uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt) > 0);
    assert_int_equal(be32(tcp + 4), 1000);
    assert_int_equal(be32(tcp + 8), 0);                    /* no ACK, no number */
    assert_int_equal(tcp[13], 0x02);
    pkt = (struct uds_pcapng_packet) { .dir = UDS_PCAPNG_TO_CLIENT,
                                       .flags = UDS_PCAPNG_SYN | UDS_PCAPNG_ACK };
    assert_true(uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt) > 0);
    assert_int_equal(be32(tcp + 4), 2000001000u);
    assert_int_equal(be32(tcp + 8), 1001);                 /* the SYN took one */
    assert_int_equal(be16(tcp), 5432);                     /* from the server */
    assert_int_equal(be16(tcp + 2), 1025);
    pkt = (struct uds_pcapng_packet) { .dir = UDS_PCAPNG_TO_SERVER, .flags = UDS_PCAPNG_ACK,
                                       .payload = "abc", .len = 3, .cap_len = 3 };
    assert_true(uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt) > 0);
    pkt = (struct uds_pcapng_packet) { .dir = UDS_PCAPNG_TO_SERVER,
                                       .flags = UDS_PCAPNG_FIN | UDS_PCAPNG_ACK };
    assert_true(uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt) > 0);
    assert_int_equal(be32(tcp + 4), 1004);
    assert_int_equal(be32(tcp + 8), 2000001001u);
    assert_int_equal(tcp[13], 0x11);
    assert_int_equal(flow.seq[UDS_PCAPNG_TO_SERVER], 1005);  /* the FIN took one */
    assert_int_equal(flow.seq[UDS_PCAPNG_TO_CLIENT], 2000001001u);
}

static void udp_packet_length_and_checksum(void **state) {
    struct uds_pcapng_flow flow;
    uint8_t buf[256];
    const char msg[] = "ping";                             /* 5 bytes with the NUL */
    struct uds_pcapng_packet pkt = { .dir = UDS_PCAPNG_TO_CLIENT, .flags = UDS_PCAPNG_SYN,
                                     .payload = msg, .len = 5, .cap_len = 5 };
    (void) state;

    uds_pcapng_flow_init(&flow, 2, 7, true);
    ssize_t n = uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt);
    assert_int_equal(n, 28 + 36 + 4);                      /* 20 + 8 + 5 padded to 36 */
    assert_int_equal(uds_pcapng_packet_size(&flow, &pkt), (size_t) n);
    const uint8_t *ip = buf + EPB_FIXED, *udp = ip + IP_HDR;
    assert_int_equal(rd32(buf + 20), 33);
    assert_int_equal(ip[9], 17);
    assert_int_equal(be16(ip + 2), 33);
    assert_int_equal(be32(ip + 12), 0x7F000001);           /* from the server */
    assert_int_equal(be32(ip + 16), 0x7F000101);
    assert_ip_header_sum(ip);
    assert_int_equal(be16(udp), 7);
    assert_int_equal(be16(udp + 2), 1026);
    assert_int_equal(be16(udp + 4), 13);
    assert_int_equal(be16(udp + 6) != 0, 1);
    assert_transport_sum(ip, udp, UDP_HDR, 6, (const uint8_t *) msg, 5);
    assert_int_equal(flow.seq[0], 2000);                   /* flags mean nothing to UDP */
    assert_int_equal(flow.seq[1], 2000002000u);
}

/* The fast sum (4-byte words, four lanes) against the slow one: every length to 300 at
 * every alignment, and the largest packets, TCP and UDP. */
static void checksums_right_for_every_length_and_alignment(void **state) {
    static uint8_t buf[EPB_FIXED + IP_HDR + TCP_HDR + UDS_PCAPNG_UDP_MAX + 64];
    uint8_t *data = pattern(UDS_PCAPNG_UDP_MAX + 4, 3);
    size_t lens[302];
    (void) state;

    for (size_t i = 0; i <= 300; i++)
        lens[i] = i;
    lens[301] = UDS_PCAPNG_TCP_MAX;
    for (int udp = 0; udp <= 1; udp++) {
        for (size_t i = 0; i < 302; i++) {
            for (size_t align = 0; align < 4; align++) {
                struct uds_pcapng_flow flow;
                size_t len = lens[i] == UDS_PCAPNG_TCP_MAX && udp ? UDS_PCAPNG_UDP_MAX
                                                                  : lens[i];
                struct uds_pcapng_packet pkt = {
                    .dir = UDS_PCAPNG_TO_SERVER, .flags = UDS_PCAPNG_ACK,
                    .payload = data + align, .len = len, .cap_len = len,
                };
                uds_pcapng_flow_init(&flow, (unsigned) (i * 4 + align), 49152, udp);
                assert_true(uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt) > 0);
                const uint8_t *ip = buf + EPB_FIXED;
                assert_ip_header_sum(ip);
                assert_transport_sum(ip, ip + IP_HDR, udp ? UDP_HDR : TCP_HDR, udp ? 6 : 16,
                                     data + align, len);
            }
        }
    }
    free(data);
}

/* A snap length keeps the first bytes, but the packet's length and checksum are the
 * whole payload's, as on the wire. */
static void snap_length_cuts_the_bytes_not_the_checksum(void **state) {
    struct uds_pcapng_flow flow;
    uint8_t buf[512];
    uint8_t *data = pattern(1000, 9);
    struct uds_pcapng_packet pkt = { .dir = UDS_PCAPNG_TO_CLIENT, .flags = UDS_PCAPNG_ACK,
                                     .payload = data, .len = 1000, .cap_len = 10 };
    (void) state;

    uds_pcapng_flow_init(&flow, 3, 80, false);
    ssize_t n = uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt);
    assert_int_equal(n, 28 + 52 + 4);                      /* 40 + 10 padded to 52 */
    assert_int_equal(rd32(buf + 20), 50);
    assert_int_equal(rd32(buf + 24), 1040);
    const uint8_t *ip = buf + EPB_FIXED;
    assert_int_equal(be16(ip + 2), 1040);
    assert_transport_sum(ip, ip + IP_HDR, TCP_HDR, 16, data, 1000);
    assert_memory_equal(ip + 40, data, 10);
    assert_int_equal(flow.seq[UDS_PCAPNG_TO_CLIENT], 2000003000u + 1000);
    free(data);
}

/* Head, payload and tail laid end to end are the block uds_pcapng_packet() writes. */
static void head_payload_tail_make_the_whole_block(void **state) {
    static uint8_t whole[70000], parts[70000];
    uint8_t *data = pattern(40001, 5);
    struct uds_pcapng_flow f1, f2;
    struct uds_pcapng_packet pkt = {
        .dir = UDS_PCAPNG_TO_SERVER, .flags = UDS_PCAPNG_PSH | UDS_PCAPNG_ACK,
        .payload = data, .len = 40001, .cap_len = 40001, .ts_us = 42, .comment = "c1",
    };
    (void) state;

    uds_pcapng_flow_init(&f1, 11, 80, false);
    f2 = f1;
    ssize_t n = uds_pcapng_packet(whole, sizeof(whole), &f1, &pkt);
    assert_true(n > 0);
    ssize_t head = uds_pcapng_packet_head(parts, sizeof(parts), &f2, &pkt);
    assert_int_equal(head, EPB_FIXED + IP_HDR + TCP_HDR);
    memcpy(parts + head, data, 40001);
    ssize_t tail = uds_pcapng_packet_tail(parts + head + 40001, 100, &f2, &pkt);
    assert_int_equal(head + 40001 + tail, n);
    assert_int_equal((size_t) (head + tail), uds_pcapng_packet_size(&f2, &pkt) - 40001);
    assert_memory_equal(whole, parts, (size_t) n);
    assert_memory_equal(&f1, &f2, sizeof(f1));
    free(data);
}

static void too_small_enospc_flow_unchanged(void **state) {
    struct uds_pcapng_flow flow, before;
    uint8_t buf[256];
    struct uds_pcapng_packet pkt = { .dir = UDS_PCAPNG_TO_SERVER, .flags = UDS_PCAPNG_ACK,
                                     .payload = "abcd", .len = 4, .cap_len = 4 };
    (void) state;

    assert_int_equal(uds_pcapng_section(buf, 43, "uds tap"), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(uds_pcapng_interface(buf, 39, "/run/a.sock"), -1);
    assert_int_equal(errno, ENOSPC);
    uds_pcapng_flow_init(&flow, 1, 80, false);
    before = flow;
    size_t size = uds_pcapng_packet_size(&flow, &pkt);
    assert_int_equal(uds_pcapng_packet(buf, size - 1, &flow, &pkt), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(uds_pcapng_packet_head(buf, 67, &flow, &pkt), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(uds_pcapng_packet_tail(buf, 3, &flow, &pkt), -1);
    assert_int_equal(errno, ENOSPC);
    assert_memory_equal(&flow, &before, sizeof(flow));
    assert_int_equal(uds_pcapng_packet(buf, size, &flow, &pkt), (ssize_t) size);
}

static void bad_packets_einval(void **state) {
    struct uds_pcapng_flow tcp, udp;
    static uint8_t buf[70000];
    static const uint8_t big[UDS_PCAPNG_UDP_MAX + 1];
    struct uds_pcapng_packet ok = { .dir = UDS_PCAPNG_TO_SERVER, .payload = big };
    struct uds_pcapng_packet bad;
    (void) state;

    uds_pcapng_flow_init(&tcp, 1, 80, false);
    uds_pcapng_flow_init(&udp, 1, 80, true);
    bad = ok;
    bad.len = bad.cap_len = UDS_PCAPNG_TCP_MAX + 1;         /* over TCP's, within UDP's */
    assert_int_equal(uds_pcapng_packet(buf, sizeof(buf), &tcp, &bad), -1);
    assert_int_equal(errno, EINVAL);
    assert_true(uds_pcapng_packet(buf, sizeof(buf), &udp, &bad) > 0);
    bad.len = bad.cap_len = UDS_PCAPNG_UDP_MAX + 1;
    assert_int_equal(uds_pcapng_packet(buf, sizeof(buf), &udp, &bad), -1);
    assert_int_equal(errno, EINVAL);
    bad = ok;
    bad.len = 3;
    bad.cap_len = 4;                                        /* more kept than there is */
    assert_int_equal(uds_pcapng_packet_head(buf, sizeof(buf), &tcp, &bad), -1);
    assert_int_equal(errno, EINVAL);
    bad = ok;
    bad.payload = NULL;
    bad.len = bad.cap_len = 1;
    assert_int_equal(uds_pcapng_packet(buf, sizeof(buf), &tcp, &bad), -1);
    assert_int_equal(errno, EINVAL);
    bad = ok;
    bad.dir = (enum uds_pcapng_dir) 2;
    assert_int_equal(uds_pcapng_packet_tail(buf, sizeof(buf), &tcp, &bad), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_pcapng_packet(NULL, sizeof(buf), &tcp, &ok), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_pcapng_packet(buf, sizeof(buf), NULL, &ok), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_pcapng_section(NULL, 64, NULL), -1);
    assert_int_equal(errno, EINVAL);
    /* An empty payload may be NULL. */
    ok.payload = NULL;
    assert_true(uds_pcapng_packet(buf, sizeof(buf), &tcp, &ok) > 0);
}

/* A comment or name longer than UDS_PCAPNG_TEXT_MAX is cut there: the option's 16-bit
 * length cannot say more. */
static void long_comment_is_cut(void **state) {
    static uint8_t buf[UDS_PCAPNG_TEXT_MAX + 256];
    char *text = malloc(70000);
    struct uds_pcapng_flow flow;
    (void) state;

    assert_non_null(text);
    memset(text, 'x', 69999);
    text[69999] = '\0';
    struct uds_pcapng_packet pkt = { .dir = UDS_PCAPNG_TO_SERVER, .comment = text };
    uds_pcapng_flow_init(&flow, 1, 80, false);
    ssize_t n = uds_pcapng_packet(buf, sizeof(buf), &flow, &pkt);
    assert_int_equal(n, 28 + 40 + 4 + UDS_PCAPNG_TEXT_MAX + 4 + 4);
    assert_int_equal(rd16(buf + 68 + 2), UDS_PCAPNG_TEXT_MAX);
    assert_int_equal(uds_pcapng_interface(buf, sizeof(buf), text),
                     20 + 4 + UDS_PCAPNG_TEXT_MAX + 4);
    free(text);
}

/* ---- flows and ports ------------------------------------------------------------------------ */

static void flow_numbers_make_distinct_loopback_endpoints(void **state) {
    struct uds_pcapng_flow a, b;
    (void) state;

    uds_pcapng_flow_init(&a, 59999, 443, false);
    uds_pcapng_flow_init(&b, 60000, 443, true);
    assert_int_equal(a.client_ip, 0x7F000101);
    assert_int_equal(a.client_port, 1024 + 59999);
    assert_int_equal(b.client_ip, 0x7F000102);             /* the next address */
    assert_int_equal(b.client_port, 1024);
    assert_int_equal(a.server_ip, 0x7F000001);
    assert_int_equal(a.server_port, 443);
    assert_false(a.udp);
    assert_true(b.udp);
    assert_int_equal(b.seq[0], 60000000u);
    assert_int_equal(b.seq[1], 2060000000u);
}

static void port_guessed_from_the_socket_name(void **state) {
    (void) state;

    assert_int_equal(uds_pcapng_port("/run/postgresql/.s.PGSQL.5433"), 5433);
    assert_int_equal(uds_pcapng_port(".s.PGSQL.5432"), 5432);
    assert_int_equal(uds_pcapng_port("/tmp/.s.PGSQL.70000"), 49152);    /* not a port */
    assert_int_equal(uds_pcapng_port("/tmp/.s.PGSQL.54x"), 49152);
    assert_int_equal(uds_pcapng_port("/var/run/docker.sock"), 80);
    assert_int_equal(uds_pcapng_port("/run/php/php8.2-fpm.sock"), 9000);
    assert_int_equal(uds_pcapng_port("/docker/app.sock"), 49152);       /* the name only */
    assert_int_equal(uds_pcapng_port("/run/app.sock"), 49152);
    assert_int_equal(uds_pcapng_port(NULL), 49152);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(section_header_block_byte_for_byte),
        cmocka_unit_test(interface_block_byte_for_byte),
        cmocka_unit_test(tcp_packet_block_headers_checksums_and_comment),
        cmocka_unit_test(tcp_sequence_numbers_count_bytes_syn_and_fin),
        cmocka_unit_test(udp_packet_length_and_checksum),
        cmocka_unit_test(checksums_right_for_every_length_and_alignment),
        cmocka_unit_test(snap_length_cuts_the_bytes_not_the_checksum),
        cmocka_unit_test(head_payload_tail_make_the_whole_block),
        cmocka_unit_test(too_small_enospc_flow_unchanged),
        cmocka_unit_test(bad_packets_einval),
        cmocka_unit_test(long_comment_is_cut),
        cmocka_unit_test(flow_numbers_make_distinct_loopback_endpoints),
        cmocka_unit_test(port_guessed_from_the_socket_name),
    };

    return cmocka_run_group_tests_name("pcapng", tests, NULL, NULL);
}
