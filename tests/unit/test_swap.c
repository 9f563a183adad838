/* SPDX-License-Identifier: MIT */
/*
 * test_swap.c — unit tests of swap.c: a live server's path exchanged with the caller's
 * socket (same mode and owner, the server still reachable at the hidden name, clients at
 * the path reaching the caller), exchanged back and cleaned up; what is refused (a file, a
 * missing path, a stale socket) and left untouched; the watchdog restoring the path after
 * its owner is SIGKILLed; and a leftover recognised.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

static ino_t inode_of(const char *path) {
    struct stat st;

    return lstat(path, &st) == 0 ? st.st_ino : 0;
}

static void swap_live_server_path_reaches_the_caller_then_the_server_again(void **state) {
    struct tu_fixture *f = *state;
    struct uds_swap swap;
    struct stat before, after;
    int server = tu_bind_unix(f->path, SOCK_STREAM, 16);

    assert_int_equal(chmod(f->path, 0660), 0);
    assert_int_equal(lstat(f->path, &before), 0);
    int fd = uds_swap_in(f->path, &swap);
    assert_true(fd >= 0);
    assert_int_equal(fd, swap.fd);
    assert_true(swap.swapped);
    assert_int_equal(swap.type, UDS_STREAM);
    assert_int_equal(lstat(f->path, &after), 0);
    assert_int_not_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mode, before.st_mode);
    assert_int_equal(after.st_uid, before.st_uid);
    assert_int_equal(after.st_gid, before.st_gid);
    assert_int_equal(inode_of(swap.server_path), before.st_ino);
    assert_non_null(strstr(swap.server_path, "/.s.sock.uds-tap."));

    /* The probe left one connection on the server: take it. */
    int probe = accept4(server, NULL, NULL, SOCK_CLOEXEC);
    assert_true(probe >= 0);
    close(probe);
    int c = tu_connect_unix(f->path);
    int a = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    int to_server = tu_connect_unix(swap.server_path);
    int s = accept4(server, NULL, NULL, SOCK_CLOEXEC);
    assert_true(s >= 0);
    close(c);
    close(a);
    close(to_server);
    close(s);

    assert_int_equal(uds_swap_out(&swap), 0);
    assert_int_equal(inode_of(f->path), before.st_ino);
    assert_int_equal(inode_of(swap.server_path), after.st_ino);
    char hidden[PATH_MAX];
    strcpy(hidden, swap.server_path);
    uds_swap_done(&swap);
    assert_int_equal(swap.fd, -1);
    assert_int_equal(inode_of(f->path), before.st_ino);
    assert_int_equal(inode_of(hidden), 0);
    close(server);
}

static void swap_done_while_swapped_puts_the_server_back(void **state) {
    struct tu_fixture *f = *state;
    struct uds_swap swap;
    int server = tu_bind_unix(f->path, SOCK_SEQPACKET, 16);
    ino_t ino = inode_of(f->path);

    assert_true(uds_swap_in(f->path, &swap) >= 0);
    assert_int_equal(swap.type, UDS_SEQPACKET);
    uds_swap_done(&swap);
    assert_int_equal(inode_of(f->path), ino);
    close(server);
}

static void swap_refuses_a_regular_file_and_leaves_it(void **state) {
    struct tu_fixture *f = *state;
    struct uds_swap swap;
    int fd = open(f->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    close(fd);
    ino_t ino = inode_of(f->path);
    assert_int_equal(uds_swap_in(f->path, &swap), -1);
    assert_int_equal(errno, ENOTSOCK);
    assert_int_equal(inode_of(f->path), ino);
    assert_int_equal(unlink(f->path), 0);
    /* Nothing was left beside it. */
    assert_int_equal(rmdir(f->dir), 0);
    assert_int_equal(mkdir(f->dir, 0755), 0);
}

static void swap_refuses_missing_and_stale(void **state) {
    struct tu_fixture *f = *state;
    struct uds_swap swap;

    assert_int_equal(uds_swap_in(f->path, &swap), -1);
    assert_int_equal(errno, ENOENT);
    int stale = tu_bind_unix(f->path, SOCK_STREAM, -1);
    close(stale);
    assert_int_equal(uds_swap_in(f->path, &swap), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(uds_swap_in("@abstract", &swap), -1);
    assert_int_equal(errno, EINVAL);
}

/* The child swaps in, starts the watchdog, says so, and waits to be killed. */
static void swap_and_wait(const char *path, int ready) {
    struct uds_swap swap;

    if (uds_swap_in(path, &swap) < 0 || uds_swap_guard(&swap) < 0)
        _exit(1);
    if (write(ready, "x", 1) != 1)
        _exit(2);
    for (;;)
        pause();
}

static void swap_guard_restores_the_path_after_sigkill(void **state) {
    struct tu_fixture *f = *state;
    int server = tu_bind_unix(f->path, SOCK_STREAM, 16);
    ino_t ino = inode_of(f->path);
    int p[2];
    char c;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = tu_fork();
    if (pid == 0)
        swap_and_wait(f->path, p[1]);
    close(p[1]);
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    assert_int_not_equal(inode_of(f->path), ino);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    uint64_t t0 = tu_now_ms();
    while (inode_of(f->path) != ino && tu_now_ms() - t0 < 1000)
        tu_sleep_ms(5);
    assert_int_equal(inode_of(f->path), ino);
    struct uds_swap_leftover left;
    /* The hidden socket goes just after the exchange. */
    while (uds_swap_find_leftover(f->path, &left) == 1 && tu_now_ms() - t0 < 1000)
        tu_sleep_ms(5);
    assert_int_equal(uds_swap_find_leftover(f->path, &left), 0);
    close(server);
}

static void swap_leftover_is_recognised(void **state) {
    struct tu_fixture *f = *state;
    struct uds_swap_leftover left;
    int server = tu_bind_unix(f->path, SOCK_STREAM, 16);
    char hidden[PATH_MAX];

    assert_int_equal(uds_swap_find_leftover(f->path, &left), 0);
    snprintf(hidden, sizeof(hidden), "%s/.s.sock.uds-tap.2147483646", f->dir);
    int h = tu_bind_unix(hidden, SOCK_STREAM, 16);
    assert_int_equal(uds_swap_find_leftover(f->path, &left), 1);
    assert_int_equal(left.pid, 2147483646);
    assert_false(left.running);
    assert_true(left.hidden_live);
    assert_string_equal(left.hidden_path, hidden);
    close(h);
    unlink(hidden);
    close(server);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(swap_live_server_path_reaches_the_caller_then_the_server_again),
        T(swap_done_while_swapped_puts_the_server_back),
        T(swap_refuses_a_regular_file_and_leaves_it),
        T(swap_refuses_missing_and_stale),
        T(swap_guard_restores_the_path_after_sigkill),
        T(swap_leftover_is_recognised),
#undef T
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("swap", tests, NULL, NULL);
}
