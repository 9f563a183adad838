/* SPDX-License-Identifier: MIT */
/* test_addr.c — address parsing, formatting and sockaddr conversion (pure code). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "udskit.h"

static void parse_ok(const char *text, unsigned flags, struct uds_addr *addr) {
    errno = 0;
    assert_int_equal(uds_addr_parse(text, flags, addr), 0);
}

static void parse_fails(const char *text, unsigned flags, int error) {
    struct uds_addr addr;
    errno = 0;
    assert_int_equal(uds_addr_parse(text, flags, &addr), -1);
    assert_int_equal(errno, error);
}

static void addr_absolute_path_is_a_path(void **state) {
    struct uds_addr a;
    (void) state;
    parse_ok("/run/app.sock", 0, &a);
    assert_int_equal(a.kind, UDS_ADDR_PATH);
    assert_string_equal(a.name, "/run/app.sock");
    assert_int_equal(a.len, strlen("/run/app.sock"));
}

static void addr_relative_paths_are_paths(void **state) {
    struct uds_addr a;
    (void) state;
    parse_ok("./app.sock", 0, &a);
    assert_int_equal(a.kind, UDS_ADDR_PATH);
    assert_string_equal(a.name, "./app.sock");
    parse_ok("app.sock", 0, &a);
    assert_int_equal(a.kind, UDS_ADDR_PATH);
    assert_string_equal(a.name, "app.sock");
}

static void addr_at_name_is_abstract(void **state) {
    struct uds_addr a;
    (void) state;
    parse_ok("@name", 0, &a);
    assert_int_equal(a.kind, UDS_ADDR_ABSTRACT);
    assert_string_equal(a.name, "name");
    assert_int_equal(a.len, 4);
}

static void addr_unix_prefix_is_explicit(void **state) {
    struct uds_addr a;
    (void) state;
    parse_ok("unix:/tmp/x", 0, &a);
    assert_int_equal(a.kind, UDS_ADDR_PATH);
    assert_string_equal(a.name, "/tmp/x");
    parse_ok("unix:@x", 0, &a);
    assert_int_equal(a.kind, UDS_ADDR_ABSTRACT);
    assert_string_equal(a.name, "x");
    parse_ok("unix:rel", 0, &a);
    assert_string_equal(a.name, "rel");
}

static void addr_empty_forms_are_einval(void **state) {
    (void) state;
    parse_fails("", 0, EINVAL);
    parse_fails("@", 0, EINVAL);
    parse_fails("unix:", 0, EINVAL);
    parse_fails("unix:@", 0, EINVAL);
    assert_int_equal(uds_addr_parse(NULL, 0, NULL), -1);
}

static void addr_embedded_nul_is_einval(void **state) {
    struct uds_addr a;
    (void) state;
    errno = 0;
    assert_int_equal(uds_addr_parse_n("/tmp/a\0b", 8, 0, &a), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_addr_parse_n("@a\0b", 4, 0, &a), -1);
    assert_int_equal(errno, EINVAL);
}

static void addr_abstract_limit_is_107_bytes(void **state) {
    char text[UDS_SUN_PATH_MAX + 3];
    struct uds_addr a;
    (void) state;
    text[0] = '@';
    memset(text + 1, 'a', UDS_SUN_PATH_MAX);
    text[UDS_SUN_PATH_MAX + 1] = '\0';
    parse_ok(text, 0, &a);
    assert_int_equal(a.len, UDS_SUN_PATH_MAX);
    text[UDS_SUN_PATH_MAX + 1] = 'a';
    text[UDS_SUN_PATH_MAX + 2] = '\0';
    parse_fails(text, 0, ENAMETOOLONG);
}

static void addr_long_path_parses_but_has_no_sockaddr(void **state) {
    char text[300];
    struct uds_addr a;
    struct sockaddr_un sa;
    socklen_t len = 0;
    (void) state;
    memset(text, 'p', sizeof(text) - 1);
    text[0] = '/';
    text[sizeof(text) - 1] = '\0';
    parse_ok(text, 0, &a);
    assert_int_equal(a.len, sizeof(text) - 1);
    errno = 0;
    assert_int_equal(uds_addr_to_sockaddr(&a, &sa, &len), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    assert_int_equal(len, 0); /* ret_ untouched on failure */
}

static void addr_path_over_path_max_is_enametoolong(void **state) {
    static char text[UDS_PATH_MAX + 2];
    (void) state;
    memset(text, 'p', UDS_PATH_MAX + 1);
    text[UDS_PATH_MAX + 1] = '\0';
    parse_fails(text, 0, ENAMETOOLONG);
}

static void addr_tcp_needs_the_flag(void **state) {
    (void) state;
    parse_fails("tcp:127.0.0.1:80", 0, EINVAL);
}

static void addr_tcp_host_port_parse(void **state) {
    struct uds_addr a;
    (void) state;
    parse_ok("tcp:127.0.0.1:8080", UDS_ADDR_ALLOW_TCP, &a);
    assert_int_equal(a.kind, UDS_ADDR_TCP);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 8080);
    parse_ok("tcp:[::1]:5432", UDS_ADDR_ALLOW_TCP, &a);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 5432);
    parse_ok("tcp:localhost:0", UDS_ADDR_ALLOW_TCP, &a);
    assert_string_equal(a.host, "localhost");
    assert_int_equal(a.port, 0);
}

static void addr_tcp_malformed_is_einval(void **state) {
    (void) state;
    parse_fails("tcp:", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:host", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp::80", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:host:", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:host:65536", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:host:-1", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:host:8o", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:::1:80", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:[::1]80", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:[::1", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:[]:80", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:[[]:543", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:[%]:543", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:[localhost]:543", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:a b:80", UDS_ADDR_ALLOW_TCP, EINVAL);
    parse_fails("tcp:a/b:80", UDS_ADDR_ALLOW_TCP, EINVAL);
}

static void addr_path_named_like_a_prefix_round_trips(void **state) {
    struct uds_addr a, b;
    char buf[64];
    (void) state;
    parse_ok("unix:tcp:x", UDS_ADDR_ALLOW_TCP, &a);
    assert_int_equal(a.kind, UDS_ADDR_PATH);
    assert_string_equal(a.name, "tcp:x");
    uds_addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "unix:tcp:x");
    parse_ok(buf, UDS_ADDR_ALLOW_TCP, &b);
    assert_int_equal(b.kind, UDS_ADDR_PATH);
    assert_string_equal(b.name, "tcp:x");
}

static void addr_format_round_trips(void **state) {
    const char *forms[] = { "/run/app.sock", "rel.sock", "@name", "tcp:127.0.0.1:80",
                            "tcp:[::1]:5432" };
    (void) state;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct uds_addr a, b;
        char buf[64];
        parse_ok(forms[i], UDS_ADDR_ALLOW_TCP, &a);
        assert_int_equal(uds_addr_format(&a, buf, sizeof(buf)), (int) strlen(forms[i]));
        assert_string_equal(buf, forms[i]);
        parse_ok(buf, UDS_ADDR_ALLOW_TCP, &b);
        assert_int_equal(a.kind, b.kind);
        assert_string_equal(a.name, b.name);
    }
}

static void addr_format_truncates_like_snprintf(void **state) {
    struct uds_addr a;
    char buf[4];
    (void) state;
    parse_ok("@abcdef", 0, &a);
    assert_int_equal(uds_addr_format(&a, buf, sizeof(buf)), 7);
    assert_string_equal(buf, "@ab");
    assert_int_equal(uds_addr_format(&a, NULL, 0), 7);
}

static void addr_sockaddr_abstract_has_exact_length(void **state) {
    struct uds_addr a;
    struct sockaddr_un sa;
    socklen_t len;
    (void) state;
    parse_ok("@x", 0, &a);
    assert_int_equal(uds_addr_to_sockaddr(&a, &sa, &len), 0);
    assert_int_equal(sa.sun_family, AF_UNIX);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 2);
    assert_int_equal(sa.sun_path[0], '\0');
    assert_int_equal(sa.sun_path[1], 'x');
}

static void addr_sockaddr_path_includes_nul(void **state) {
    struct uds_addr a;
    struct sockaddr_un sa;
    socklen_t len;
    (void) state;
    parse_ok("/tmp/s", 0, &a);
    assert_int_equal(uds_addr_to_sockaddr(&a, &sa, &len), 0);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 7);
    assert_string_equal(sa.sun_path, "/tmp/s");
}

static void addr_sockaddr_of_107_byte_path_fits(void **state) {
    char text[UDS_SUN_PATH_MAX + 1];
    struct uds_addr a;
    struct sockaddr_un sa;
    socklen_t len;
    (void) state;
    memset(text, 'q', UDS_SUN_PATH_MAX);
    text[UDS_SUN_PATH_MAX] = '\0';
    parse_ok(text, 0, &a);
    assert_int_equal(uds_addr_to_sockaddr(&a, &sa, &len), 0);
    assert_int_equal(len, sizeof(struct sockaddr_un));
    assert_int_equal(sa.sun_path[UDS_SUN_PATH_MAX], '\0');
}

static void addr_sockaddr_of_tcp_is_eafnosupport(void **state) {
    struct uds_addr a;
    struct sockaddr_un sa;
    socklen_t len;
    (void) state;
    parse_ok("tcp:h:1", UDS_ADDR_ALLOW_TCP, &a);
    errno = 0;
    assert_int_equal(uds_addr_to_sockaddr(&a, &sa, &len), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
}

static void socket_type_names_round_trip(void **state) {
    enum uds_socket_type t;
    (void) state;
    assert_int_equal(uds_socket_type_parse("seqpacket", &t), 0);
    assert_int_equal(t, UDS_SEQPACKET);
    assert_string_equal(uds_socket_type_name(t), "seqpacket");
    assert_int_equal(uds_socket_type_to_sock(UDS_DGRAM), SOCK_DGRAM);
    assert_int_equal(uds_socket_type_to_sock(UDS_STREAM), SOCK_STREAM);
    errno = 0;
    assert_int_equal(uds_socket_type_parse("raw", &t), -1);
    assert_int_equal(errno, EINVAL);
    assert_string_equal(uds_socket_type_name((enum uds_socket_type) 42), "unknown");
}

static void version_matches_header(void **state) {
    (void) state;
    assert_string_equal(uds_version(), UDS_VERSION_STRING);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addr_absolute_path_is_a_path),
        cmocka_unit_test(addr_relative_paths_are_paths),
        cmocka_unit_test(addr_at_name_is_abstract),
        cmocka_unit_test(addr_unix_prefix_is_explicit),
        cmocka_unit_test(addr_empty_forms_are_einval),
        cmocka_unit_test(addr_embedded_nul_is_einval),
        cmocka_unit_test(addr_abstract_limit_is_107_bytes),
        cmocka_unit_test(addr_long_path_parses_but_has_no_sockaddr),
        cmocka_unit_test(addr_path_over_path_max_is_enametoolong),
        cmocka_unit_test(addr_tcp_needs_the_flag),
        cmocka_unit_test(addr_tcp_host_port_parse),
        cmocka_unit_test(addr_tcp_malformed_is_einval),
        cmocka_unit_test(addr_format_round_trips),
        cmocka_unit_test(addr_path_named_like_a_prefix_round_trips),
        cmocka_unit_test(addr_format_truncates_like_snprintf),
        cmocka_unit_test(addr_sockaddr_abstract_has_exact_length),
        cmocka_unit_test(addr_sockaddr_path_includes_nul),
        cmocka_unit_test(addr_sockaddr_of_107_byte_path_fits),
        cmocka_unit_test(addr_sockaddr_of_tcp_is_eafnosupport),
        cmocka_unit_test(socket_type_names_round_trip),
        cmocka_unit_test(version_matches_header),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
