/* SPDX-License-Identifier: MIT */
/*
 * proxy_header.c — the PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and
 * 2) that a proxy sends its target first, naming the client. Pure: no system call, no
 * allocation, no fds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define V2_HEADER 16

/* The family both ends share, AF_INET or AF_INET6; AF_UNSPEC for any other pair. */
static int pair_family(const struct sockaddr *src, const struct sockaddr *dst) {
    if (!src || !dst || src->sa_family != dst->sa_family)
        return AF_UNSPEC;
    return src->sa_family == AF_INET || src->sa_family == AF_INET6 ? src->sa_family : AF_UNSPEC;
}

/* Where an IPv4 or IPv6 socket address keeps its address and its port (network order). */
static const void *ip_of(const struct sockaddr *sa, const uint16_t **ret_port) {
    if (sa->sa_family == AF_INET) {
        *ret_port = &((const struct sockaddr_in *) sa)->sin_port;
        return &((const struct sockaddr_in *) sa)->sin_addr;
    }
    *ret_port = &((const struct sockaddr_in6 *) sa)->sin6_port;
    return &((const struct sockaddr_in6 *) sa)->sin6_addr;
}

/* "PROXY TCP4 SRC DST SPORT DPORT\r\n"; a pair v1 has no family for is "UNKNOWN". */
static ssize_t header_v1(const struct sockaddr *src, const struct sockaddr *dst, char *buf,
                         size_t size) {
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    const uint16_t *sport, *dport;
    int family = pair_family(src, dst), n;

    if (family == AF_UNSPEC) {
        n = snprintf(buf, size, "PROXY UNKNOWN\r\n");
    } else {
        inet_ntop(family, ip_of(src, &sport), s, sizeof(s));
        inet_ntop(family, ip_of(dst, &dport), d, sizeof(d));
        n = snprintf(buf, size, "PROXY TCP%c %s %s %u %u\r\n", family == AF_INET ? '4' : '6',
                     s, d, (unsigned) ntohs(*sport), (unsigned) ntohs(*dport));
    }
    if (n < 0 || (size_t) n >= size)
        return uds__fail(ENOSPC);
    return n;
}

/* Signature, version and command, family, length, then the source and destination
 * addresses and ports, in network order. */
static ssize_t header_v2(const struct sockaddr *src, const struct sockaddr *dst,
                         unsigned char *buf, size_t size) {
    static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                           0x55, 0x49, 0x54, 0x0a };
    int family = pair_family(src, dst);
    size_t ip = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
    size_t alen = ip ? 2 * ip + 4 : 0;
    const uint16_t *sport, *dport;

    if (size < V2_HEADER + alen)
        return uds__fail(ENOSPC);
    memcpy(buf, sig, sizeof(sig));
    /* Version 2, command PROXY, TCP over IPv4 or IPv6. A Unix client has no address in IP
     * terms. The protocol's AF_UNIX family (0x31) is refused by HAProxy and Envoy, and so
     * is UNSPEC with PROXY; a LOCAL header (0x20) with no addresses is taken by all of
     * them and means the same as v1's UNKNOWN: use the connection's own endpoints. */
    buf[12] = ip ? 0x21 : 0x20;
    buf[13] = family == AF_INET ? 0x11 : family == AF_INET6 ? 0x21 : 0x00;
    buf[14] = (unsigned char) (alen >> 8);
    buf[15] = (unsigned char) alen;
    if (ip) {
        memcpy(buf + V2_HEADER, ip_of(src, &sport), ip);
        memcpy(buf + V2_HEADER + ip, ip_of(dst, &dport), ip);
        memcpy(buf + V2_HEADER + 2 * ip, sport, 2);
        memcpy(buf + V2_HEADER + 2 * ip + 2, dport, 2);
    }
    return (ssize_t) (V2_HEADER + alen);
}

UDS_API ssize_t uds_proxy_header(int version, const struct sockaddr *src,
                                 const struct sockaddr *dst, void *buf, size_t size) {
    if (!buf || (version != 1 && version != 2))
        return uds__fail(EINVAL);
    return version == 1 ? header_v1(src, dst, buf, size) : header_v2(src, dst, buf, size);
}

/* ---- v2 TLVs ---------------------------------------------------------------------------- */

/* A TLV is a type byte, a 16-bit length (network order) and that many bytes; the same
 * encoding nests inside PP2_TYPE_SSL's value for its sub-TLVs. */
UDS_API ssize_t uds_proxy_tlv(unsigned type, const void *value, size_t len, void *buf,
                              size_t size) {
    unsigned char *b = buf;

    if (!buf || type > 0xff || len > 0xffff || (len && !value))
        return uds__fail(EINVAL);
    if (size < 3 + len)
        return uds__fail(ENOSPC);
    b[0] = (unsigned char) type;
    b[1] = (unsigned char) (len >> 8);
    b[2] = (unsigned char) len;
    if (len)
        memcpy(b + 3, value, len);
    return (ssize_t) (3 + len);
}

/* The TLV goes after everything the header holds; the header's length field (bytes 14-15,
 * what follows the fixed 16 bytes) grows by the TLV's size, which must keep it within 16
 * bits. */
UDS_API ssize_t uds_proxy_header_add_tlv(void *hdr, size_t hdr_len, size_t size, unsigned type,
                                         const void *value, size_t len) {
    static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                           0x55, 0x49, 0x54, 0x0a };
    unsigned char *b = hdr;
    size_t body;
    ssize_t n;

    if (!hdr || hdr_len < V2_HEADER || hdr_len > size || memcmp(b, sig, sizeof(sig)) != 0 ||
        (b[12] & 0xf0) != 0x20)
        return uds__fail(EINVAL);
    body = ((size_t) b[14] << 8) | b[15];
    if (body != hdr_len - V2_HEADER || body + 3 + len > 0xffff)
        return uds__fail(EINVAL);
    n = uds_proxy_tlv(type, value, len, b + hdr_len, size - hdr_len);
    if (n < 0)
        return -1;
    body += (size_t) n;
    b[14] = (unsigned char) (body >> 8);
    b[15] = (unsigned char) body;
    return (ssize_t) (hdr_len + (size_t) n);
}
