/* SPDX-License-Identifier: MIT */
/*
 * test_connect_as.c — unit tests of uds_connect_as() (run as root, as the suite is): the
 * server's SO_PEERCRED and SO_PEERGROUPS name the user connected as, its socket file's mode
 * is checked against that user, and the caller keeps its own ids throughout.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define NOBODY 65534

static void connect_as_server_sees_that_user(void **state) {
    struct tu_fixture *f = *state;
    struct uds_addr addr;
    struct uds_peer peer;
    const gid_t groups[] = { 4242, 4343 };

    if (geteuid() != 0)
        skip();
    int server = tu_bind_unix(f->path, SOCK_STREAM, 16);
    assert_int_equal(chmod(f->path, 0666), 0);
    assert_int_equal(uds_addr_parse(f->path, 0, &addr), 0);
    int fd = uds_connect_as(&addr, NULL, NOBODY, NOBODY, groups, 2);
    assert_true(fd >= 0);
    assert_int_equal(geteuid(), 0);
    assert_int_equal(getegid(), 0);
    int s = accept4(server, NULL, NULL, SOCK_CLOEXEC);
    assert_true(s >= 0);
    assert_int_equal(uds_peer_get(s, UDS_PEER_GROUPS, &peer), 0);
    assert_int_equal(peer.uid, NOBODY);
    assert_int_equal(peer.gid, NOBODY);
    assert_int_equal(peer.pid, getpid());
    assert_int_equal(peer.n_groups, 2);
    assert_int_equal(peer.groups[0], 4242);
    uds_peer_done(&peer);
    close(s);
    close(fd);
    close(server);
}

static void connect_as_socket_mode_is_checked_for_that_user(void **state) {
    struct tu_fixture *f = *state;
    struct uds_addr addr;

    if (geteuid() != 0)
        skip();
    int server = tu_bind_unix(f->path, SOCK_STREAM, 16);
    assert_int_equal(chmod(f->path, 0600), 0);
    assert_int_equal(uds_addr_parse(f->path, 0, &addr), 0);
    assert_int_equal(uds_connect_as(&addr, NULL, NOBODY, NOBODY, NULL, 0), -1);
    assert_int_equal(errno, EACCES);
    int fd = uds_connect_as(&addr, NULL, 0, 0, NULL, 0);
    assert_true(fd >= 0);
    close(fd);
    close(server);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(connect_as_server_sees_that_user),
        T(connect_as_socket_mode_is_checked_for_that_user),
#undef T
    };

    return cmocka_run_group_tests_name("connect as", tests, NULL, NULL);
}
