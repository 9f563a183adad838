/* SPDX-License-Identifier: MIT */
/* test_reach.c — whether an address leads to a given listener: a socket file by another
 * path, a symbolic link or a symlinked directory; an abstract name; a TCP port on the
 * listener's own address, loopback, the wildcard, an IPv4-mapped address, [::] with and
 * without IPV6_V6ONLY; and which addresses are loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

/* Whether connecting to text reaches l (resolved by the library). */
static int reaches(const struct uds_listener *l, const char *text) {
    struct uds_addr a;

    assert_int_equal(uds_addr_parse(text, UDS_ADDR_ALLOW_TCP, &a), 0);
    return uds_listener_reached_by(l, &a, NULL);
}

/* "tcp:HOST:PORT" in a buffer that lives until the end of the enclosing block. */
#define TCP(host, port) tcp_text((char[80]) { 0 }, (host), (port))
static const char *tcp_text(char *buf, const char *host, uint16_t port) {
    snprintf(buf, 80, strchr(host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", host, (unsigned) port);
    return buf;
}

/* A TCP listener on host (numeric) and a port of the kernel's choosing, made by hand so
 * that IPV6_V6ONLY is as v6only says (-1: as the system has it). */
static void tcp_listener(const char *host, int v6only, struct uds_listener *ret) {
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    int fd;

    if (strchr(host, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
        in6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, host, &in6->sin6_addr), 1);
        len = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *) &ss;
        in->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, host, &in->sin_addr), 1);
        len = sizeof(*in);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (v6only >= 0)
        assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)), 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &ss, len), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(uds_listener_adopt_tcp(fd, ret), fd);
}

static void reached_by_the_same_socket_file_under_any_name(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    char cwd[4096];

    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    assert_int_equal(symlink(fx->path, tu_path(fx->dir, "link.sock")), 0);
    assert_int_equal(symlink(fx->dir, tu_path(fx->dir, "dirlink")), 0);
    assert_int_equal(reaches(&l, fx->path), 1);
    assert_int_equal(reaches(&l, tu_path(fx->dir, "link.sock")), 1);
    assert_int_equal(reaches(&l, tu_path(fx->dir, "dirlink/s.sock")), 1);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(fx->dir), 0);
    assert_int_equal(reaches(&l, "./s.sock"), 1);
    assert_int_equal(chdir(cwd), 0);
    /* Another socket, a missing one, an abstract name, TCP: no. */
    close(tu_bind_unix(tu_path(fx->dir, "other.sock"), SOCK_STREAM, 1));
    assert_int_equal(reaches(&l, tu_path(fx->dir, "other.sock")), 0);
    assert_int_equal(reaches(&l, tu_path(fx->dir, "none.sock")), 0);
    assert_int_equal(reaches(&l, "@s.sock"), 0);
    assert_int_equal(reaches(&l, "tcp:127.0.0.1:1"), 0);
    assert_int_equal(uds_unlisten(&l), 0);
    unlink(tu_path(fx->dir, "link.sock"));
    unlink(tu_path(fx->dir, "dirlink"));
    unlink(tu_path(fx->dir, "other.sock"));
}

static void reached_by_the_same_abstract_name_only(void **state) {
    struct uds_listener l;
    char name[64], other[80];
    (void) state;

    snprintf(name, sizeof(name), "@udskit-test-reach-%ld", (long) getpid());
    snprintf(other, sizeof(other), "%s-other", name);
    assert_true(uds_listen(name, NULL, &l, NULL) >= 0);
    assert_int_equal(reaches(&l, name), 1);
    assert_int_equal(reaches(&l, other), 0);
    assert_int_equal(reaches(&l, name + 1), 0);     /* a path of that name */
    assert_int_equal(uds_unlisten(&l), 0);
}

static void tcp_listener_on_one_address(void **state) {
    struct uds_listener l;
    uint16_t p;
    (void) state;

    tcp_listener("127.0.0.1", -1, &l);
    p = l.addr.port;
    assert_int_equal(reaches(&l, TCP("127.0.0.1", p)), 1);
    assert_int_equal(reaches(&l, TCP("localhost", p)), 1);
    assert_int_equal(reaches(&l, TCP("0.0.0.0", p)), 1);   /* connect() takes it as loopback */
    assert_int_equal(reaches(&l, TCP("::ffff:127.0.0.1", p)), 1);
    assert_int_equal(reaches(&l, TCP("127.0.0.2", p)), 0);
    assert_int_equal(reaches(&l, TCP("::1", p)), 0);
    assert_int_equal(reaches(&l, TCP("127.0.0.1", (uint16_t) (p + 1))), 0);
    assert_int_equal(reaches(&l, "/tmp/s.sock"), 0);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void tcp_listener_on_every_address(void **state) {
    struct uds_listener any4, any6, dual;
    (void) state;

    tcp_listener("0.0.0.0", -1, &any4);
    assert_int_equal(reaches(&any4, TCP("127.0.0.2", any4.addr.port)), 1);    /* loopback */
    assert_int_equal(reaches(&any4, TCP("::1", any4.addr.port)), 0);
    /* [::] with IPV6_V6ONLY takes IPv6 only; without it, IPv4 too. */
    tcp_listener("::", 1, &any6);
    assert_int_equal(reaches(&any6, TCP("::1", any6.addr.port)), 1);
    assert_int_equal(reaches(&any6, TCP("127.0.0.1", any6.addr.port)), 0);
    tcp_listener("::", 0, &dual);
    assert_int_equal(reaches(&dual, TCP("127.0.0.1", dual.addr.port)), 1);
    assert_int_equal(reaches(&dual, TCP("::", dual.addr.port)), 1);
    assert_int_equal(uds_unlisten(&any4), 0);
    assert_int_equal(uds_unlisten(&any6), 0);
    assert_int_equal(uds_unlisten(&dual), 0);
}

static void reached_by_bad_arguments_einval(void **state) {
    struct uds_listener l;
    struct uds_addr a;
    (void) state;

    uds_listener_init(&l);
    assert_int_equal(uds_addr_parse("@x", 0, &a), 0);
    assert_int_equal(uds_listener_reached_by(&l, &a, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listener_reached_by(NULL, &a, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

static void inet_is_loopback(void **state) {
    struct sockaddr_in in = { .sin_family = AF_INET };
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    const char *yes4[] = { "127.0.0.1", "127.255.0.9" }, *no4[] = { "128.0.0.1", "10.0.0.1" };
    const char *yes6[] = { "::1", "::ffff:127.0.0.2" }, *no6[] = { "::", "::2", "::ffff:10.0.0.1" };
    (void) state;

    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(inet_pton(AF_INET, yes4[i], &in.sin_addr), 1);
        assert_true(uds_inet_is_loopback((struct sockaddr *) &in));
        assert_int_equal(inet_pton(AF_INET, no4[i], &in.sin_addr), 1);
        assert_false(uds_inet_is_loopback((struct sockaddr *) &in));
        assert_int_equal(inet_pton(AF_INET6, yes6[i], &in6.sin6_addr), 1);
        assert_true(uds_inet_is_loopback((struct sockaddr *) &in6));
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(inet_pton(AF_INET6, no6[i], &in6.sin6_addr), 1);
        assert_false(uds_inet_is_loopback((struct sockaddr *) &in6));
    }
    assert_false(uds_inet_is_loopback((struct sockaddr *) &un));
    assert_false(uds_inet_is_loopback(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(reached_by_the_same_socket_file_under_any_name),
        T(reached_by_the_same_abstract_name_only),
        T(tcp_listener_on_one_address),
        T(tcp_listener_on_every_address),
        T(reached_by_bad_arguments_einval),
        T(inet_is_loopback),
#undef T
    };

    return cmocka_run_group_tests_name("reach", tests, NULL, NULL);
}
