/* SPDX-License-Identifier: MIT */
/* test_peer.c — peer identity over real socketpairs and connections (SO_PEERCRED,
 * SO_PEERGROUPS, SO_PEERPIDFD) and the uid/gid allow-list check. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

static bool contains(const gid_t *list, size_t n, gid_t gid) {
    for (size_t i = 0; i < n; i++)
        if (list[i] == gid)
            return true;
    return false;
}

/* The pid a pidfd refers to, from its fdinfo. */
static pid_t pidfd_pid(int pidfd) {
    char path[64], line[128];
    pid_t pid = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
    f = fopen(path, "re");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Pid:\t%d", &pid) == 1)
            break;
    fclose(f);
    return pid;
}

static void peer_socketpair_matches_our_credentials(void **state) {
    struct uds_peer peer;
    int sv[2];
    (void) state;

    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_peer_get(sv[0], 0, &peer), 0);
    assert_int_equal(peer.pid, getpid());
    assert_int_equal(peer.uid, geteuid());
    assert_int_equal(peer.gid, getegid());
    assert_null(peer.groups);
    assert_int_equal(peer.n_groups, 0);
    assert_int_equal(peer.pidfd, -1);
    uds_peer_done(&peer);
    tu_close_pair(sv);
}

static void peer_groups_match_getgroups(void **state) {
    struct uds_peer peer;
    gid_t ours[256];
    int sv[2], n = getgroups(256, ours);
    (void) state;

    assert_true(n >= 0);
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_peer_get(sv[0], UDS_PEER_GROUPS, &peer), 0);
    assert_int_equal(peer.n_groups, (size_t) n);
    for (int i = 0; i < n; i++)
        assert_true(contains(peer.groups, peer.n_groups, ours[i]));
    if (n == 0)
        assert_null(peer.groups);
    uds_peer_done(&peer);
    tu_close_pair(sv);
}

/* In the child: 0 if a peer with 100 supplementary groups shows all of them. */
static int many_groups_fetched(void *arg) {
    enum { N = 100 };
    gid_t groups[N];
    struct uds_peer peer;
    int sv[2];
    (void) arg;

    for (int i = 0; i < N; i++)
        groups[i] = (gid_t) (20000 + i);
    if (setgroups(N, groups) < 0)
        return 1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 2;
    if (uds_peer_get(sv[1], UDS_PEER_GROUPS, &peer) < 0)
        return 3;
    if (peer.n_groups != N)
        return 4;
    for (int i = 0; i < N; i++)
        if (!contains(peer.groups, peer.n_groups, groups[i]))
            return 5;
    uds_peer_done(&peer);
    return 0;
}

/* More groups than the first buffer holds: the ERANGE resize path. Needs root to set
 * them, in a child so the test process keeps its own. */
static void peer_many_groups_are_all_fetched(void **state) {
    (void) state;

    if (geteuid() != 0)
        skip();
    assert_int_equal(tu_run_in_child(many_groups_fetched, NULL), 0);
}

static void peer_pidfd_is_ours_or_minus_one(void **state) {
    struct uds_peer peer;
    int sv[2];
    (void) state;

    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_peer_get(sv[0], UDS_PEER_PIDFD | UDS_PEER_GROUPS, &peer), 0);
    if (peer.pidfd >= 0) {
        assert_true(fcntl(peer.pidfd, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(pidfd_pid(peer.pidfd), getpid());
    } else {
        assert_int_equal(peer.pidfd, -1);
    }
    uds_peer_done(&peer);
    assert_int_equal(peer.pidfd, -1);
    assert_null(peer.groups);
    uds_peer_done(&peer);   /* twice is harmless */
    tu_close_pair(sv);
}

/* Across a real connect, each side sees the other process: a child is the client. */
static void peer_of_accepted_connection_is_the_client_process(void **state) {
    char name[64];
    struct uds_listener l;
    struct uds_peer peer;
    int a;
    pid_t pid;
    (void) state;

    snprintf(name, sizeof(name), "@udskit-peer-%d", (int) getpid());
    assert_true(uds_listen(name, NULL, &l, NULL) >= 0);
    pid = tu_fork();
    if (pid == 0) {
        struct uds_peer server;
        int fd = uds_connect(name, NULL);
        char c;
        if (fd < 0 || uds_peer_get(fd, 0, &server) < 0 || server.pid != getppid())
            _exit(1);
        (void) !recv(fd, &c, 1, 0);
        _exit(0);
    }
    a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    assert_int_equal(uds_peer_get(a, UDS_PEER_PIDFD, &peer), 0);
    assert_int_equal(peer.pid, pid);
    if (peer.pidfd >= 0)
        assert_int_equal(pidfd_pid(peer.pidfd), pid);
    uds_peer_done(&peer);
    close(a);
    assert_int_equal(tu_wait_child(pid), 0);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void peer_unconnected_socket_enotconn(void **state) {
    struct uds_peer peer = { .pid = 4242, .pidfd = -7 };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    (void) state;

    assert_true(fd >= 0);
    assert_int_equal(uds_peer_get(fd, UDS_PEER_GROUPS | UDS_PEER_PIDFD, &peer), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(peer.pid, 4242);   /* ret_peer untouched on failure */
    assert_int_equal(peer.pidfd, -7);
    close(fd);
}

static void peer_of_a_pipe_enotsock(void **state) {
    struct uds_peer peer;
    int p[2];
    (void) state;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(uds_peer_get(p[0], 0, &peer), -1);
    assert_int_equal(errno, ENOTSOCK);
    close(p[0]);
    close(p[1]);
}

static void peer_bad_arguments_einval(void **state) {
    struct uds_peer peer;
    int sv[2];
    (void) state;

    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_peer_get(sv[0], 0, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_peer_get(sv[0], 1u << 9, &peer), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(uds_peer_allowed(NULL, NULL));
    uds_peer_done(NULL);
    tu_close_pair(sv);
}

/* ---- allow-lists --------------------------------------------------------------------- */

static const struct uds_peer someone = {
    .pid = 1234,
    .uid = 1000,
    .gid = 100,
    .groups = (gid_t[]) { 27, 44 },
    .n_groups = 2,
    .pidfd = -1,
};

static void allow_empty_or_null_list_allows_everyone(void **state) {
    const struct uds_allow empty = { 0 };
    const struct uds_allow zero_counts = { .uids = (uid_t[]) { 1 }, .gids = (gid_t[]) { 1 } };
    (void) state;

    assert_true(uds_peer_allowed(&someone, NULL));
    assert_true(uds_peer_allowed(&someone, &empty));
    assert_true(uds_peer_allowed(&someone, &zero_counts));
    assert_false(uds_allow_is_set(NULL));
    assert_false(uds_allow_is_set(&empty));
    assert_false(uds_allow_is_set(&zero_counts));
}

static void allow_uid_match_allows(void **state) {
    const uid_t uids[] = { 0, 1000 };
    const struct uds_allow allow = { .uids = uids, .n_uids = 2 };
    (void) state;

    assert_true(uds_allow_is_set(&allow));
    assert_true(uds_peer_allowed(&someone, &allow));
}

static void allow_primary_gid_match_allows(void **state) {
    const gid_t gids[] = { 100 };
    const struct uds_allow allow = { .gids = gids, .n_gids = 1 };
    (void) state;

    assert_true(uds_allow_is_set(&allow));
    assert_true(uds_peer_allowed(&someone, &allow));
}

static void allow_supplementary_gid_match_allows(void **state) {
    const uid_t uids[] = { 0 };
    const gid_t gids[] = { 5, 44 };
    const struct uds_allow allow = { .uids = uids, .n_uids = 1, .gids = gids, .n_gids = 2 };
    struct uds_peer without_groups = someone;
    (void) state;

    assert_true(uds_peer_allowed(&someone, &allow));
    /* groups not fetched: only the primary gid can match */
    without_groups.groups = NULL;
    without_groups.n_groups = 0;
    assert_false(uds_peer_allowed(&without_groups, &allow));
}

static void allow_no_match_denies(void **state) {
    const uid_t uids[] = { 0, 1001 };
    const gid_t gids[] = { 0, 101 };
    const struct uds_allow by_uid = { .uids = uids, .n_uids = 2 };
    const struct uds_allow by_gid = { .gids = gids, .n_gids = 2 };
    const struct uds_allow both = { .uids = uids, .n_uids = 2, .gids = gids, .n_gids = 2 };
    (void) state;

    assert_false(uds_peer_allowed(&someone, &by_uid));
    assert_false(uds_peer_allowed(&someone, &by_gid));
    assert_false(uds_peer_allowed(&someone, &both));
}

/* The whole chain on a live socketpair: our own identity passes a list naming our uid. */
static void allow_real_peer_by_uid_and_group(void **state) {
    struct uds_peer peer;
    const uid_t uids[] = { geteuid() };
    const gid_t gids[] = { getegid() };
    const uid_t other_uids[] = { geteuid() + 1 };
    const struct uds_allow by_uid = { .uids = uids, .n_uids = 1 };
    const struct uds_allow by_gid = { .gids = gids, .n_gids = 1 };
    const struct uds_allow other = { .uids = other_uids, .n_uids = 1 };
    int sv[2];
    (void) state;

    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_peer_get(sv[1], UDS_PEER_GROUPS, &peer), 0);
    assert_true(uds_peer_allowed(&peer, &by_uid));
    assert_true(uds_peer_allowed(&peer, &by_gid));
    assert_false(uds_peer_allowed(&peer, &other));
    uds_peer_done(&peer);
    tu_close_pair(sv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(peer_socketpair_matches_our_credentials),
        T(peer_groups_match_getgroups),
        T(peer_many_groups_are_all_fetched),
        T(peer_pidfd_is_ours_or_minus_one),
        T(peer_of_accepted_connection_is_the_client_process),
        T(peer_unconnected_socket_enotconn),
        T(peer_of_a_pipe_enotsock),
        T(peer_bad_arguments_einval),
        T(allow_empty_or_null_list_allows_everyone),
        T(allow_uid_match_allows),
        T(allow_primary_gid_match_allows),
        T(allow_supplementary_gid_match_allows),
        T(allow_no_match_denies),
        T(allow_real_peer_by_uid_and_group),
#undef T
    };

    return cmocka_run_group_tests_name("peer", tests, NULL, NULL);
}
