/* SPDX-License-Identifier: MIT */
/* test_tcp.c — TCP where udskit takes either family: tcp: addresses resolved and named,
 * TCP listeners bound and adopted, and a uds_server accepting on one: echo, the peer of a
 * client without credentials, an allow-list that refuses it, a connection detached. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

static struct uds_addr addr_of(const char *text) {
    struct uds_addr a;

    assert_int_equal(uds_addr_parse(text, UDS_ADDR_ALLOW_TCP, &a), 0);
    return a;
}

static struct sockaddr_in loopback4(uint16_t port) {
    return (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

/* A listener on 127.0.0.1 and a port of the kernel's choosing. */
static void listen_loopback(struct uds_listener *ret_listener) {
    struct sockaddr_in in = loopback4(0);

    assert_true(uds_listen_tcp((struct sockaddr *) &in, sizeof(in), NULL, ret_listener) >= 0);
}

/* A blocking client of the listener l. */
static int client_of(const struct uds_listener *l) {
    struct sockaddr_in in = loopback4(l->addr.port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &in, sizeof(in)), 0);
    return fd;
}

/* ---- addresses ------------------------------------------------------------------------- */

static void tcp_resolve_numeric_ipv4_and_ipv6(void **state) {
    struct uds_addr a = addr_of("tcp:127.0.0.1:80");
    struct uds_tcp_addrs t;
    int gai = -1;
    (void) state;

    assert_int_equal(uds_tcp_resolve(&a, &t, &gai), 1);
    assert_int_equal(gai, 0);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.addrs[0].ss_family, AF_INET);
    assert_int_equal(t.lens[0], sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *) &t.addrs[0])->sin_port), 80);
    a = addr_of("tcp:[::1]:443");
    assert_int_equal(uds_tcp_resolve(&a, &t, NULL), 1);
    assert_int_equal(t.addrs[0].ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *) &t.addrs[0])->sin6_port), 443);
    a = addr_of("/run/x.sock");
    assert_int_equal(uds_tcp_resolve(&a, &t, &gai), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(gai, 0);
}

static void addr_from_inet_names_both_families(void **state) {
    struct sockaddr_in in = loopback4(8080);
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(9),
                                .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct uds_addr a;
    char text[64];
    (void) state;

    assert_int_equal(uds_addr_from_inet((struct sockaddr *) &in, &a), 0);
    uds_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "tcp:127.0.0.1:8080");
    assert_int_equal(uds_addr_from_inet((struct sockaddr *) &in6, &a), 0);
    uds_addr_format(&a, text, sizeof(text));
    assert_string_equal(text, "tcp:[::1]:9");
    assert_int_equal(uds_addr_from_inet((struct sockaddr *) &un, &a), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
    assert_int_equal(uds_addr_from_inet(NULL, &a), -1);
    assert_int_equal(errno, EINVAL);
}

/* ---- listeners ------------------------------------------------------------------------- */

static void listen_tcp_port_zero_gets_the_kernels_port(void **state) {
    struct uds_listener l;
    struct uds_listen_opts opts = { .flags = UDS_LISTEN_NONBLOCK, .backlog = 8 };
    struct sockaddr_in in = loopback4(0);
    int accepting = 0, fd;
    socklen_t len = sizeof(accepting);
    (void) state;

    fd = uds_listen_tcp((struct sockaddr *) &in, sizeof(in), &opts, &l);
    assert_true(fd >= 0);
    assert_int_equal(l.fd, fd);
    assert_int_equal(l.lock_fd, -1);
    assert_false(l.owns_path);
    assert_int_equal(l.type, UDS_STREAM);
    assert_int_equal(l.addr.kind, UDS_ADDR_TCP);
    assert_string_equal(l.addr.host, "127.0.0.1");
    assert_true(l.addr.port != 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len), 0);
    assert_true(accepting);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1);   /* closed */
}

static void listen_tcp_port_in_use_eaddrinuse(void **state) {
    struct uds_listener a, b;
    struct sockaddr_in in;
    int fds;
    (void) state;

    listen_loopback(&a);
    in = loopback4(a.addr.port);
    fds = tu_count_open_fds();
    assert_int_equal(uds_listen_tcp((struct sockaddr *) &in, sizeof(in), NULL, &b), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(tu_count_open_fds(), fds);
    assert_int_equal(uds_unlisten(&a), 0);
}

static void listen_tcp_options_for_files_einval(void **state) {
    struct uds_listener l;
    struct sockaddr_in in = loopback4(0);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct uds_listen_opts mode = { .mode = 0600 }, owner = { .flags = UDS_LISTEN_SET_OWNER },
                           dgram = { .type = UDS_DGRAM };
    (void) state;

    assert_int_equal(uds_listen_tcp((struct sockaddr *) &in, sizeof(in), &mode, &l), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen_tcp((struct sockaddr *) &in, sizeof(in), &owner, &l), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen_tcp((struct sockaddr *) &in, sizeof(in), &dgram, &l), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen_tcp((struct sockaddr *) &un, sizeof(un), NULL, &l), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
    assert_int_equal(uds_listen_tcp(NULL, 0, NULL, &l), -1);
    assert_int_equal(errno, EINVAL);
}

static void listener_adopt_tcp_takes_an_inherited_fd(void **state) {
    struct uds_listener orig, l;
    int fd;
    (void) state;

    listen_loopback(&orig);
    fd = dup(orig.fd);      /* inherited: no CLOEXEC */
    assert_true(fd >= 0);
    assert_int_equal(uds_listener_adopt_tcp(fd, &l), fd);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(l.addr.kind, UDS_ADDR_TCP);
    assert_string_equal(l.addr.host, "127.0.0.1");
    assert_int_equal(l.addr.port, orig.addr.port);
    assert_false(l.owns_path);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_int_equal(uds_unlisten(&orig), 0);
}

static void listener_adopt_tcp_rejects_and_closes_bad_fds(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    int fds = tu_count_open_fds();

    uds_listener_init(&l);
    /* Not listening, not a stream, not TCP. */
    assert_int_equal(uds_listener_adopt_tcp(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                                            &l), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listener_adopt_tcp(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0),
                                            &l), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listener_adopt_tcp(tu_bind_unix(fx->path, SOCK_STREAM, 4), &l), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
    assert_int_equal(tu_count_open_fds(), fds);     /* consumed: closed on failure too */
    assert_int_equal(l.fd, -1);
    assert_int_equal(uds_listener_adopt_tcp(-1, &l), -1);
    assert_int_equal(errno, EBADF);
    unlink(fx->path);
}

/* ---- a server on a TCP listener --------------------------------------------------------- */

struct ctx {
    struct uds_server *s;
    struct uds_peer peer;       /* as on_open or on_deny saw it */
    int opens, denies, closes;
    int nodelay;                /* TCP_NODELAY on the accepted socket */
    bool detach;
    int detached;               /* the fd on_open took, or -1 */
};

static int on_open(struct uds_conn *conn, void *data) {
    struct ctx *c = data;
    socklen_t len = sizeof(c->nodelay);

    c->opens++;
    c->peer = *uds_conn_peer(conn);
    assert_int_equal(getsockopt(uds_conn_fd(conn), IPPROTO_TCP, TCP_NODELAY, &c->nodelay,
                                &len), 0);
    if (c->detach)
        c->detached = uds_conn_detach(conn);
    return 0;
}

static void on_data(struct uds_conn *conn, const void *buf, size_t len, void *data) {
    (void) data;
    assert_int_equal(uds_conn_send(conn, buf, len), 0);
}

static void on_close(struct uds_conn *conn, int error, void *data) {
    struct ctx *c = data;

    (void) conn, (void) error;
    c->closes++;
}

static void on_deny(const struct uds_peer *peer, void *data) {
    struct ctx *c = data;

    c->denies++;
    c->peer = *peer;
}

static const struct uds_server_callbacks callbacks = {
    .on_open = on_open, .on_data = on_data, .on_close = on_close, .on_deny = on_deny,
};

/* A server on its own loop over a TCP listener on 127.0.0.1; *ret_listener keeps a copy
 * of the listener's address. */
static void start(struct ctx *c, const struct uds_server_opts *opts,
                  struct uds_listener *ret_listener) {
    struct uds_listener l;

    listen_loopback(&l);
    *ret_listener = l;
    c->detached = -1;
    c->s = uds_server_new(NULL, &l, opts, &callbacks, c);
    assert_non_null(c->s);
    assert_int_equal(l.fd, -1);     /* taken over */
}

#define SPIN_UNTIL(c, cond)                                                      \
    do {                                                                         \
        for (int spin_ = 0; spin_ < 200 && !(cond); spin_++)                     \
            tu_run_once((c)->s, 10);                                             \
    } while (0)

static void server_accepts_on_a_tcp_listener_and_echoes(void **state) {
    struct ctx c = { 0 };
    struct uds_listener l;
    char buf[8];
    int cl;
    (void) state;

    start(&c, NULL, &l);
    cl = client_of(&l);
    assert_int_equal(send(cl, "hello", 5, MSG_NOSIGNAL), 5);
    SPIN_UNTIL(&c, tu_wait_readable(cl, 0));
    assert_int_equal(recv(cl, buf, sizeof(buf), MSG_DONTWAIT), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(c.opens, 1);
    assert_true(c.nodelay);
    /* No credentials over TCP: "nobody", without asking the kernel. */
    assert_int_equal(c.peer.pid, 0);
    assert_int_equal(c.peer.uid, (uid_t) -1);
    assert_int_equal(c.peer.gid, (gid_t) -1);
    assert_int_equal(c.peer.pidfd, -1);
    close(cl);
    SPIN_UNTIL(&c, c.closes == 1);
    assert_int_equal(c.closes, 1);
    uds_server_free(c.s);
}

/* An allow-list has nothing to check on a TCP peer: every client is refused. */
static void server_tcp_allow_list_refuses_every_client(void **state) {
    uid_t uids[] = { 0, (uid_t) -1 };
    struct uds_allow allow = { .uids = uids, .n_uids = 2 };
    struct uds_server_opts opts = { .allow = &allow };
    struct ctx c = { 0 };
    struct uds_listener l;
    char b;
    int cl;
    (void) state;

    start(&c, &opts, &l);
    cl = client_of(&l);
    SPIN_UNTIL(&c, c.denies == 1);
    assert_int_equal(c.denies, 1);
    assert_int_equal(c.opens, 0);
    assert_int_equal(c.peer.uid, (uid_t) -1);
    assert_true(tu_wait_readable(cl, 1000));
    assert_true(recv(cl, &b, 1, 0) <= 0);     /* closed: EOF, or a reset */
    close(cl);
    uds_server_free(c.s);
}

static void server_tcp_detach_hands_the_socket_over(void **state) {
    struct ctx c = { .detach = true };
    struct uds_listener l;
    char buf[4];
    int cl;
    (void) state;

    start(&c, NULL, &l);
    cl = client_of(&l);
    SPIN_UNTIL(&c, c.opens == 1);
    assert_true(c.detached >= 0);
    assert_int_equal(uds_server_conn_count(c.s), 0);
    assert_int_equal(send(cl, "ping", 4, MSG_NOSIGNAL), 4);
    tu_run_once(c.s, 10);
    assert_true(tu_wait_readable(c.detached, 1000));
    assert_int_equal(recv(c.detached, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(c.closes, 0);
    close(c.detached);
    close(cl);
    uds_server_free(c.s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(tcp_resolve_numeric_ipv4_and_ipv6),
        T(addr_from_inet_names_both_families),
        T(listen_tcp_port_zero_gets_the_kernels_port),
        T(listen_tcp_port_in_use_eaddrinuse),
        T(listen_tcp_options_for_files_einval),
        T(listener_adopt_tcp_takes_an_inherited_fd),
        T(listener_adopt_tcp_rejects_and_closes_bad_fds),
        T(server_accepts_on_a_tcp_listener_and_echoes),
        T(server_tcp_allow_list_refuses_every_client),
        T(server_tcp_detach_hands_the_socket_over),
#undef T
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("tcp", tests, NULL, NULL);
}
