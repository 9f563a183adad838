/* SPDX-License-Identifier: MIT */
/* test_proxy_header.c — the PROXY protocol header, byte for byte against the specification
 * (HAProxy's proxy-protocol.txt): v1 TCP4, TCP6 and UNKNOWN; v2 PROXY over IPv4 and IPv6,
 * LOCAL for a Unix client; a buffer too small; bad arguments; v2 TLVs (PP2_TYPE_SSL with
 * a CN sub-TLV) counted in the header's length. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "udskit.h"

static const unsigned char v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                          0x55, 0x49, 0x54, 0x0a };

static struct sockaddr_in in4(const char *host, uint16_t port) {
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port) };

    assert_int_equal(inet_pton(AF_INET, host, &in.sin_addr), 1);
    return in;
}

static struct sockaddr_in6 in6(const char *host, uint16_t port) {
    struct sockaddr_in6 in = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

    assert_int_equal(inet_pton(AF_INET6, host, &in.sin6_addr), 1);
    return in;
}

#define SA(x) ((const struct sockaddr *) &(x))

static void v1_names_tcp4_and_tcp6(void **state) {
    struct sockaddr_in s4 = in4("192.0.2.1", 56324), d4 = in4("127.0.0.1", 443);
    struct sockaddr_in6 s6 = in6("2001:db8::1", 1), d6 = in6("::1", 65535);
    char buf[UDS_PROXY_HEADER_MAX];
    (void) state;

    assert_int_equal(uds_proxy_header(1, SA(s4), SA(d4), buf, sizeof(buf)), 42);
    assert_memory_equal(buf, "PROXY TCP4 192.0.2.1 127.0.0.1 56324 443\r\n", 42);
    assert_int_equal(uds_proxy_header(1, SA(s6), SA(d6), buf, sizeof(buf)), 36);
    assert_memory_equal(buf, "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", 36);
}

/* The longest v1 header fits UDS_PROXY_HEADER_MAX. */
static void v1_longest_fits(void **state) {
    struct sockaddr_in6 s = in6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535),
                        d = in6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    char buf[UDS_PROXY_HEADER_MAX];
    ssize_t n;
    (void) state;

    n = uds_proxy_header(1, SA(s), SA(d), buf, sizeof(buf));
    assert_int_equal(n, 104);
    assert_memory_equal(buf + n - 2, "\r\n", 2);
}

static void v1_unknown_for_any_other_pair(void **state) {
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct sockaddr_in s4 = in4("127.0.0.1", 1);
    struct sockaddr_in6 d6 = in6("::1", 2);
    char buf[UDS_PROXY_HEADER_MAX];
    (void) state;

    assert_int_equal(uds_proxy_header(1, SA(un), SA(un), buf, sizeof(buf)), 15);
    assert_memory_equal(buf, "PROXY UNKNOWN\r\n", 15);
    assert_int_equal(uds_proxy_header(1, SA(s4), SA(d6), buf, sizeof(buf)), 15);
    assert_int_equal(uds_proxy_header(1, NULL, NULL, buf, sizeof(buf)), 15);
    assert_memory_equal(buf, "PROXY UNKNOWN\r\n", 15);
}

static void v2_proxy_over_ipv4(void **state) {
    struct sockaddr_in s = in4("192.0.2.1", 0x1234), d = in4("10.0.0.2", 0x0050);
    unsigned char buf[UDS_PROXY_HEADER_MAX];
    const unsigned char want[16] = { 0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 10, 0, 0, 2,
                                     0x12, 0x34, 0x00, 0x50 };
    (void) state;

    assert_int_equal(uds_proxy_header(2, SA(s), SA(d), buf, sizeof(buf)), 28);
    assert_memory_equal(buf, v2_sig, 12);
    assert_memory_equal(buf + 12, want, 16);
}

static void v2_proxy_over_ipv6(void **state) {
    struct sockaddr_in6 s = in6("2001:db8::1", 443), d = in6("::1", 8443);
    unsigned char buf[UDS_PROXY_HEADER_MAX];
    (void) state;

    assert_int_equal(uds_proxy_header(2, SA(s), SA(d), buf, sizeof(buf)), 52);
    assert_memory_equal(buf, v2_sig, 12);
    assert_int_equal(buf[12], 0x21);
    assert_int_equal(buf[13], 0x21);
    assert_int_equal(buf[14], 0);
    assert_int_equal(buf[15], 36);
    assert_memory_equal(buf + 16, &s.sin6_addr, 16);
    assert_memory_equal(buf + 32, &d.sin6_addr, 16);
    assert_memory_equal(buf + 48, &s.sin6_port, 2);
    assert_memory_equal(buf + 50, &d.sin6_port, 2);
}

/* A Unix client: LOCAL, UNSPEC, no addresses (what HAProxy and Envoy accept). */
static void v2_local_for_a_unix_client(void **state) {
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    unsigned char buf[16];
    const unsigned char want[4] = { 0x20, 0x00, 0x00, 0x00 };
    (void) state;

    assert_int_equal(uds_proxy_header(2, SA(un), SA(un), buf, sizeof(buf)), 16);
    assert_memory_equal(buf, v2_sig, 12);
    assert_memory_equal(buf + 12, want, 4);
}

static void too_small_enospc_bad_arguments_einval(void **state) {
    struct sockaddr_in s = in4("127.0.0.1", 1), d = in4("127.0.0.1", 2);
    unsigned char buf[UDS_PROXY_HEADER_MAX];
    (void) state;

    assert_int_equal(uds_proxy_header(1, SA(s), SA(d), buf, 20), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(uds_proxy_header(1, NULL, NULL, buf, 15), -1);     /* no room for NUL */
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(uds_proxy_header(2, SA(s), SA(d), buf, 27), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(uds_proxy_header(3, SA(s), SA(d), buf, sizeof(buf)), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_proxy_header(1, SA(s), SA(d), NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
}

/* A PP2_TYPE_SSL TLV holding a CN sub-TLV, byte for byte, and the length field grown. */
static void v2_tlv_ssl_with_cn(void **state) {
    struct sockaddr_in s = in4("192.0.2.1", 0x1234), d = in4("10.0.0.2", 0x0050);
    unsigned char buf[128], ssl[64];
    const unsigned char want[] = { 0x20, 0x00, 0x0d,                /* PP2_TYPE_SSL, 13 */
                                   0x07, 0x00, 0x00, 0x00, 0x00,    /* client, verify 0 */
                                   0x22, 0x00, 0x05, 'a', 'l', 'i', 'c', 'e' };
    ssize_t n, v;
    (void) state;

    n = uds_proxy_header(2, SA(s), SA(d), buf, sizeof(buf));
    assert_int_equal(n, 28);
    ssl[0] = UDS_PP2_CLIENT_SSL | UDS_PP2_CLIENT_CERT_CONN | UDS_PP2_CLIENT_CERT_SESS;
    memset(ssl + 1, 0, 4);
    v = uds_proxy_tlv(UDS_PP2_SUBTYPE_SSL_CN, "alice", 5, ssl + 5, sizeof(ssl) - 5);
    assert_int_equal(v, 8);
    n = uds_proxy_header_add_tlv(buf, (size_t) n, sizeof(buf), UDS_PP2_TYPE_SSL, ssl,
                                 (size_t) v + 5);
    assert_int_equal(n, 28 + 16);
    assert_int_equal(buf[14], 0);
    assert_int_equal(buf[15], 12 + 16);
    assert_memory_equal(buf + 28, want, sizeof(want));
    /* A second TLV follows the first. */
    n = uds_proxy_header_add_tlv(buf, (size_t) n, sizeof(buf), UDS_PP2_TYPE_AUTHORITY, "h", 1);
    assert_int_equal(n, 48);
    assert_int_equal(buf[15], 32);
    assert_memory_equal(buf + 44, "\x02\x00\x01h", 4);
}

/* A LOCAL header takes TLVs too; what is not a v2 header, or has no room, is refused. */
static void v2_tlv_refusals(void **state) {
    unsigned char buf[32];
    char v1[UDS_PROXY_HEADER_MAX];
    ssize_t n;
    (void) state;

    n = uds_proxy_header(2, NULL, NULL, buf, sizeof(buf));
    assert_int_equal(n, 16);
    assert_int_equal(uds_proxy_header_add_tlv(buf, 16, sizeof(buf), 0x05, "id", 2), 21);
    assert_int_equal(buf[15], 5);
    assert_int_equal(uds_proxy_header_add_tlv(buf, 21, sizeof(buf), 0x05, "0123456789", 10), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(buf[15], 5);                           /* unchanged */
    assert_int_equal(uds_proxy_header_add_tlv(buf, 16, sizeof(buf), 0x05, "id", 2), -1);
    assert_int_equal(errno, EINVAL);                        /* hdr_len is not the header's */
    assert_int_equal(uds_proxy_header_add_tlv(buf, 21, sizeof(buf), 256, "id", 2), -1);
    assert_int_equal(errno, EINVAL);
    n = uds_proxy_header(1, NULL, NULL, v1, sizeof(v1));
    assert_int_equal(uds_proxy_header_add_tlv(v1, (size_t) n, sizeof(v1), 0x05, "x", 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_proxy_tlv(0x05, NULL, 1, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_proxy_tlv(0x05, "ab", 2, buf, 4), -1);
    assert_int_equal(errno, ENOSPC);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_names_tcp4_and_tcp6),
        cmocka_unit_test(v1_longest_fits),
        cmocka_unit_test(v1_unknown_for_any_other_pair),
        cmocka_unit_test(v2_proxy_over_ipv4),
        cmocka_unit_test(v2_proxy_over_ipv6),
        cmocka_unit_test(v2_local_for_a_unix_client),
        cmocka_unit_test(too_small_enospc_bad_arguments_einval),
        cmocka_unit_test(v2_tlv_ssl_with_cn),
        cmocka_unit_test(v2_tlv_refusals),
    };

    return cmocka_run_group_tests_name("proxy_header", tests, NULL, NULL);
}
