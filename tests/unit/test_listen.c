/* SPDX-License-Identifier: MIT */
/* test_listen.c — safe listen and unlisten on real sockets in a per-test directory: lock
 * file, stale and live sockets, paths that are not sockets, modes, races between starters,
 * long paths, abstract names, adoption; every error path is checked for fd leaks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/lib/internal.h"
#include "testutil.h"
#include "udskit.h"

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static ino_t inode_of(const char *path) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

static mode_t mode_of(const char *path) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void make_stale_socket(const char *path, int type) {
    close(tu_bind_unix(path, type, type != SOCK_DGRAM ? 1 : -1));  /* the file stays: stale */
}

/* A listener set up by hand, without udskit's lock file, as another program would. */
static int raw_listener(const char *path) {
    return tu_bind_unix(path, SOCK_STREAM, 8);
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
}

/* ---- fresh path, modes, umask -------------------------------------------------------- */

static void listen_fresh_path_creates_socket_and_lock(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    struct uds_listen_info info = { .removed_stale = true, .holder_pid = 42 };
    struct stat st;
    int fd, c;

    fd = uds_listen(fx->path, NULL, &l, &info);
    assert_true(fd >= 0);
    assert_int_equal(l.fd, fd);
    assert_true(l.lock_fd >= 0);
    assert_true(l.owns_path);
    assert_int_equal(l.type, UDS_STREAM);
    assert_false(info.removed_stale);
    assert_int_equal(info.holder_pid, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(l.lock_fd, F_GETFD) & FD_CLOEXEC);
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(lstat(fx->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_ino, l.ino);
    assert_int_equal(st.st_dev, l.dev);
    assert_true(exists(fx->lock));

    c = tu_connect_unix(fx->path);
    int a = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    close(a);
    close(c);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_default_mode_is_0600_under_umask_0(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    mode_t old = umask(0);

    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    umask(old);
    assert_int_equal(mode_of(fx->path), 0600);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_mode_0660_exact_under_umask_077(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .mode = 0660 };
    struct uds_listener l;
    mode_t old = umask(077);

    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    umask(old);
    assert_int_equal(mode_of(fx->path), 0660);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_mode_0660_exact_under_umask_0(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .mode = 0660 };
    struct uds_listener l;
    mode_t old = umask(0);

    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    umask(old);
    assert_int_equal(mode_of(fx->path), 0660);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_leaves_process_umask_unchanged(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .mode = 0666 };
    struct uds_listener l;
    mode_t old = umask(027);

    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    assert_int_equal(umask(old), 027);
    assert_int_equal(uds_unlisten(&l), 0);
}

struct watcher {
    const char *path;
    atomic_bool stop;
    atomic_bool running;
    atomic_uint widest;     /* union of every mode seen on the path */
    atomic_uint seen;
};

static void *watch_mode(void *arg) {
    struct watcher *w = arg;
    struct stat st;

    atomic_store(&w->running, true);
    while (!atomic_load(&w->stop)) {
        if (lstat(w->path, &st) == 0) {
            atomic_fetch_or(&w->widest, (unsigned) (st.st_mode & 0777));
            atomic_fetch_add(&w->seen, 1);
        }
    }
    return NULL;
}

/* Without fchmod before bind, a socket file is born 0777 & ~umask: under umask 0 a
 * watcher spinning on lstat would catch it world-writable before the chmod. */
static void listen_socket_file_never_wider_than_mode(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .mode = 0600 };
    struct watcher w = { .path = fx->path };
    pthread_t t;
    mode_t old = umask(0);

    assert_int_equal(pthread_create(&t, NULL, watch_mode, &w), 0);
    /* On a busy machine the watcher may get a CPU late, or rarely: wait for it to run,
     * and go on past the 300 rounds until it has caught the file often enough. */
    while (!atomic_load(&w.running))
        sched_yield();
    for (int i = 0; i < 300 || (atomic_load(&w.seen) < 100 && i < 100000); i++) {
        struct uds_listener l;
        assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
        assert_int_equal(uds_unlisten(&l), 0);
    }
    atomic_store(&w.stop, true);
    assert_int_equal(pthread_join(t, NULL), 0);
    umask(old);
    assert_true(atomic_load(&w.seen) > 0);
    assert_int_equal(atomic_load(&w.widest) & ~0600u, 0);
}

static void listen_nonblock_flag_sets_o_nonblock(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .flags = UDS_LISTEN_NONBLOCK };
    struct uds_listener l;
    int fd = uds_listen(fx->path, &opts, &l, NULL);

    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(accept(fd, NULL, NULL), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_owner_and_group_are_set(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = {
        .mode = 0660, .owner = 65534, .group = 65534,
        .flags = UDS_LISTEN_SET_OWNER | UDS_LISTEN_SET_GROUP,
    };
    struct uds_listener l;
    struct stat st;

    if (geteuid() != 0)
        skip();
    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    assert_int_equal(lstat(fx->path, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_gid, 65534);
    assert_int_equal(st.st_mode & 07777, 0660);
    assert_int_equal(uds_unlisten(&l), 0);
}

/* As nobody: 0 if listening with a chown to root fails EPERM and leaves nothing behind. */
static int chown_refused_as_nobody(void *arg) {
    const struct tu_fixture *fx = arg;
    struct uds_listen_opts opts = { .owner = 0, .flags = UDS_LISTEN_SET_OWNER };
    struct uds_listener l;
    int before = tu_count_open_fds(), r, e;

    r = uds_listen(fx->path, &opts, &l, NULL);
    e = errno;
    if (r != -1)
        return 11;
    if (e != EPERM)
        return 12;
    if (exists(fx->path) || exists(fx->lock))
        return 13;
    if (tu_count_open_fds() != before)
        return 14;
    return 0;
}

/* Unprivileged, a chown to another user is refused: the call fails, and neither the
 * socket nor the lock file stays behind. */
static void listen_chown_not_permitted_fails_and_cleans_up(void **state) {
    struct tu_fixture *fx = *state;

    if (geteuid() != 0)
        skip();
    assert_int_equal(chmod(fx->dir, 0777), 0);
    assert_int_equal(tu_run_as_nobody(chown_refused_as_nobody, fx), 0);
}

/* ---- what is already at the path ----------------------------------------------------- */

static void listen_stale_socket_is_replaced(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    struct uds_listen_info info;
    int c, a;

    make_stale_socket(fx->path, SOCK_STREAM);
    assert_true(uds_listen(fx->path, NULL, &l, &info) >= 0);
    assert_true(info.removed_stale);
    assert_int_equal(info.holder_pid, 0);
    c = tu_connect_unix(fx->path);
    a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    close(a);
    close(c);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_stale_dgram_socket_is_replaced(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .type = UDS_DGRAM };
    struct uds_listener l;
    struct uds_listen_info info;

    make_stale_socket(fx->path, SOCK_DGRAM);
    assert_true(uds_listen(fx->path, &opts, &l, &info) >= 0);
    assert_true(info.removed_stale);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_live_listener_eaddrinuse(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener first, second;
    struct uds_listen_info info;
    ino_t ino;

    assert_true(uds_listen(fx->path, NULL, &first, NULL) >= 0);
    ino = inode_of(fx->path);
    uds_listener_init(&second);
    int before = tu_count_open_fds();
    assert_int_equal(uds_listen(fx->path, NULL, &second, &info), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(tu_count_open_fds(), before);
    assert_int_equal(info.holder_pid, getpid());
    assert_false(info.removed_stale);
    assert_int_equal(second.fd, -1);    /* ret_listener untouched on failure */
    assert_int_equal(inode_of(fx->path), ino);
    assert_true(exists(fx->lock));
    assert_int_equal(uds_unlisten(&first), 0);
}

/* A live server that does not use udskit (no lock file): the probe finds it. */
static void listen_live_foreign_listener_eaddrinuse_nothing_left(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    struct uds_listen_info info;
    int server = raw_listener(fx->path);
    ino_t ino = inode_of(fx->path);
    int before = tu_count_open_fds();

    assert_int_equal(uds_listen(fx->path, NULL, &l, &info), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(tu_count_open_fds(), before);
    assert_int_equal(info.holder_pid, getpid());
    assert_int_equal(inode_of(fx->path), ino);
    assert_false(exists(fx->lock));     /* the lock file we created is gone again */
    close(server);
}

static void listen_live_listener_in_child_reports_child_pid(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    struct uds_listen_info info;
    int ready[2], hold[2];
    char c;
    pid_t pid;

    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
    pid = tu_fork();
    if (pid == 0) {
        struct uds_listener mine;
        close(ready[0]);
        close(hold[1]);
        if (uds_listen(fx->path, NULL, &mine, NULL) < 0)
            _exit(1);
        (void) !write(ready[1], "r", 1);
        (void) !read(hold[0], &c, 1);   /* until the parent closes hold[1] */
        uds_unlisten(&mine);
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(uds_listen(fx->path, NULL, &l, &info), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(info.holder_pid, pid);
    close(hold[1]);
    close(ready[0]);
    assert_int_equal(tu_wait_child(pid), 0);
    assert_false(exists(fx->path));
    assert_false(exists(fx->lock));
}

static void expect_eexist_untouched(struct tu_fixture *fx) {
    struct uds_listener l;
    struct uds_listen_info info;
    struct stat before, after;
    int fds = tu_count_open_fds();

    assert_int_equal(lstat(fx->path, &before), 0);
    assert_int_equal(uds_listen(fx->path, NULL, &l, &info), -1);
    assert_int_equal(errno, EEXIST);
    assert_false(info.removed_stale);
    assert_int_equal(tu_count_open_fds(), fds);
    assert_int_equal(lstat(fx->path, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mode, before.st_mode);
    assert_int_equal(after.st_size, before.st_size);
    assert_false(exists(fx->lock));
}

static void listen_regular_file_eexist_untouched(void **state) {
    struct tu_fixture *fx = *state;
    char buf[16] = { 0 };
    int fd;

    write_file(fx->path, "precious");
    expect_eexist_untouched(fx);
    fd = open(fx->path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof(buf)), 8);
    close(fd);
    assert_string_equal(buf, "precious");
}

static void listen_directory_eexist_untouched(void **state) {
    struct tu_fixture *fx = *state;

    assert_int_equal(mkdir(fx->path, 0755), 0);
    expect_eexist_untouched(fx);
}

static void listen_symlink_to_socket_eexist_untouched(void **state) {
    struct tu_fixture *fx = *state;
    const char *target = tu_path(fx->dir, "target.sock");

    make_stale_socket(target, SOCK_STREAM);
    assert_int_equal(symlink(target, fx->path), 0);
    expect_eexist_untouched(fx);
    assert_true(exists(target));
}

static void listen_dangling_symlink_eexist_untouched(void **state) {
    struct tu_fixture *fx = *state;
    const char *target = tu_path(fx->dir, "nowhere");

    assert_int_equal(symlink(target, fx->path), 0);
    expect_eexist_untouched(fx);
    assert_false(exists(target));
}

static void listen_fifo_eexist_untouched(void **state) {
    struct tu_fixture *fx = *state;

    assert_int_equal(mkfifo(fx->path, 0600), 0);
    expect_eexist_untouched(fx);
}

static void listen_lock_held_by_other_process_eaddrinuse(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    struct uds_listen_info info;
    int ready[2], hold[2], fds;
    char c;
    pid_t pid;

    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
    pid = tu_fork();
    if (pid == 0) {
        int fd = open(fx->lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX) < 0)
            _exit(1);
        (void) !write(ready[1], "r", 1);
        close(hold[1]);
        (void) !read(hold[0], &c, 1);
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    fds = tu_count_open_fds();
    assert_int_equal(uds_listen(fx->path, NULL, &l, &info), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(tu_count_open_fds(), fds);
    assert_int_equal(info.holder_pid, 0);   /* starting up: no socket to ask yet */
    assert_true(exists(fx->lock));          /* not ours to remove */
    assert_false(exists(fx->path));
    close(hold[1]);
    close(ready[0]);
    assert_int_equal(tu_wait_child(pid), 0);
}

/* A lock file left by a crashed listener (nobody holds it) does not stop a new one. */
static void listen_leftover_unlocked_lock_file_is_reused(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;

    write_file(fx->lock, "");
    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_false(exists(fx->path));
    assert_false(exists(fx->lock));
}

#define STARTERS 8

struct outcome {
    int ok;
    int error;
};

static void listen_race_of_starters_exactly_one_wins(void **state) {
    struct tu_fixture *fx = *state;
    int go[2], hold[2], res[2], wins = 0, in_use = 0;
    pid_t pids[STARTERS];

    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
    assert_int_equal(pipe2(res, O_CLOEXEC), 0);
    for (int i = 0; i < STARTERS; i++) {
        pids[i] = tu_fork();
        if (pids[i] == 0) {
            struct uds_listener l;
            struct outcome o;
            char c;
            close(go[1]);
            close(hold[1]);
            close(res[0]);
            (void) !read(go[0], &c, 1);     /* all start when the parent closes go[1] */
            o.ok = uds_listen(fx->path, NULL, &l, NULL) >= 0;
            o.error = o.ok ? 0 : errno;
            (void) !write(res[1], &o, sizeof(o));
            (void) !read(hold[0], &c, 1);   /* the winner keeps listening until told */
            if (o.ok)
                uds_unlisten(&l);
            _exit(0);
        }
    }
    close(go[0]);
    close(hold[0]);
    close(res[1]);
    close(go[1]);
    for (int i = 0; i < STARTERS; i++) {
        struct outcome o;
        assert_int_equal(read(res[0], &o, sizeof(o)), (ssize_t) sizeof(o));
        wins += o.ok;
        in_use += !o.ok && o.error == EADDRINUSE;
    }
    close(hold[1]);
    close(res[0]);
    for (int i = 0; i < STARTERS; i++)
        assert_int_equal(tu_wait_child(pids[i]), 0);
    assert_int_equal(wins, 1);
    assert_int_equal(in_use, STARTERS - 1);
    assert_false(exists(fx->path));
    assert_false(exists(fx->lock));
}

/* ---- unlisten ------------------------------------------------------------------------ */

static void unlisten_removes_socket_and_lock(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;

    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    assert_true(exists(fx->path));
    assert_true(exists(fx->lock));
    assert_int_equal(uds_unlisten(&l), 0);
    assert_false(exists(fx->path));
    assert_false(exists(fx->lock));
    assert_int_equal(l.fd, -1);
    assert_int_equal(l.lock_fd, -1);
}

static void unlisten_twice_is_a_noop(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l, empty;

    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_int_equal(uds_unlisten(&l), 0);
    uds_listener_init(&empty);
    assert_int_equal(empty.fd, -1);
    assert_int_equal(empty.lock_fd, -1);
    assert_int_equal(uds_unlisten(&empty), 0);
}

/* Another instance owns the path now (its socket renamed over ours): leave it alone. */
static void unlisten_leaves_a_replaced_path_alone(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    const char *other = tu_path(fx->dir, "other.sock");
    int server;
    ino_t theirs;

    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    server = raw_listener(other);
    assert_int_equal(rename(other, fx->path), 0);
    theirs = inode_of(fx->path);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_true(exists(fx->path));
    assert_int_equal(inode_of(fx->path), theirs);
    close(server);
}

/* ---- long paths ---------------------------------------------------------------------- */

/* dir/aaaa.../bbbb.../name: well over sun_path's 107 bytes, each part short. */
static void make_long_path(const struct tu_fixture *fx, const char *name, char *out, size_t size) {
    char a[61], b[61];

    memset(a, 'a', 60);
    a[60] = '\0';
    memset(b, 'b', 60);
    b[60] = '\0';
    snprintf(out, size, "%s/%s", fx->dir, a);
    assert_int_equal(mkdir(out, 0755), 0);
    snprintf(out, size, "%s/%s/%s", fx->dir, a, b);
    assert_int_equal(mkdir(out, 0755), 0);
    snprintf(out, size, "%s/%s/%s/%s", fx->dir, a, b, name);
    assert_true(strlen(out) > UDS_SUN_PATH_MAX);
}

static void listen_long_path_listens_connects_and_unlistens(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX], lock[PATH_MAX + 8];
    struct uds_listener l;
    struct stat st;
    int c, a;

    make_long_path(fx, "long.sock", path, sizeof(path));
    snprintf(lock, sizeof(lock), "%s.lock", path);
    assert_true(uds_listen(path, NULL, &l, NULL) >= 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(exists(lock));
    assert_string_equal(l.addr.name, path);

    c = uds_connect(path, NULL);
    assert_true(c >= 0);
    a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    assert_int_equal(send(c, "x", 1, MSG_NOSIGNAL), 1);
    char ch;
    assert_int_equal(recv(a, &ch, 1, 0), 1);
    close(a);
    close(c);

    assert_int_equal(uds_unlisten(&l), 0);
    assert_false(exists(path));
    assert_false(exists(lock));
}

static void listen_long_path_stale_socket_is_replaced(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX];
    struct uds_listener l, second;
    struct uds_listen_info info;

    make_long_path(fx, "long.sock", path, sizeof(path));
    assert_true(uds_listen(path, NULL, &l, NULL) >= 0);
    /* a second listener on the long path sees the first one alive */
    assert_int_equal(uds_listen(path, NULL, &second, &info), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(info.holder_pid, getpid());
    /* close the first without unlisten: its file stays behind, stale */
    close(l.fd);
    close(l.lock_fd);
    assert_true(uds_listen(path, NULL, &second, &info) >= 0);
    assert_true(info.removed_stale);
    assert_int_equal(uds_unlisten(&second), 0);
    assert_false(exists(path));
}

static void listen_path_too_long_even_for_alias_enametoolong(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX], name[101];
    struct uds_listener l;
    int fds = tu_count_open_fds();

    memset(name, 'n', 100);
    name[100] = '\0';
    tu_path_into(path, sizeof(path), fx->dir, name);
    assert_int_equal(uds_listen(path, NULL, &l, NULL), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    assert_int_equal(tu_count_open_fds(), fds);
    assert_false(exists(path));
}

static void sockaddr_for_long_path_uses_proc_alias(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX], expect[64];
    struct uds_addr addr;
    struct sockaddr_un sa;
    socklen_t len;
    int dirfd;

    make_long_path(fx, "x.sock", path, sizeof(path));
    assert_int_equal(uds_addr_parse(path, 0, &addr), 0);
    assert_int_equal(uds__sockaddr_for(&addr, &sa, &len, &dirfd), 0);
    assert_true(dirfd >= 0);
    assert_true(fcntl(dirfd, F_GETFD) & FD_CLOEXEC);
    snprintf(expect, sizeof(expect), "/proc/self/fd/%d/x.sock", dirfd);
    assert_string_equal(sa.sun_path, expect);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen(expect) + 1);
    close(dirfd);
}

static void sockaddr_for_abstract_has_exact_length(void **state) {
    struct uds_addr addr;
    struct sockaddr_un sa;
    socklen_t len;
    int dirfd = 42;
    (void) state;

    assert_int_equal(uds_addr_parse("@abc", 0, &addr), 0);
    assert_int_equal(uds__sockaddr_for(&addr, &sa, &len, &dirfd), 0);
    assert_int_equal(dirfd, -1);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 4);
    assert_int_equal(sa.sun_path[0], '\0');
    assert_memory_equal(sa.sun_path + 1, "abc", 3);
}

static void sockaddr_for_long_path_in_missing_dir_enoent(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX];
    struct uds_addr addr;
    struct sockaddr_un sa;
    socklen_t len;
    int dirfd;

    snprintf(path, sizeof(path), "%s/%0100d/s.sock", fx->dir, 0);
    assert_int_equal(uds_addr_parse(path, 0, &addr), 0);
    assert_int_equal(uds__sockaddr_for(&addr, &sa, &len, &dirfd), -1);
    assert_int_equal(errno, ENOENT);
}

/* ---- abstract names, types, errors --------------------------------------------------- */

static void abstract_name(char *buf, size_t size) {
    snprintf(buf, size, "@udskit-test-%d-%ld", (int) getpid(), (long) random());
}

static void listen_abstract_listens_and_connects(void **state) {
    char name[64];
    struct uds_listener l;
    int c, a;
    (void) state;

    abstract_name(name, sizeof(name));
    assert_true(uds_listen(name, NULL, &l, NULL) >= 0);
    assert_int_equal(l.lock_fd, -1);
    assert_false(l.owns_path);
    assert_int_equal(l.addr.kind, UDS_ADDR_ABSTRACT);
    c = uds_connect(name, NULL);
    assert_true(c >= 0);
    a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    close(a);
    close(c);
    assert_int_equal(uds_unlisten(&l), 0);
    /* the name is free again once the socket is closed */
    assert_true(uds_listen(name, NULL, &l, NULL) >= 0);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_abstract_name_collision_eaddrinuse(void **state) {
    char name[64];
    struct uds_listener l, second;
    struct uds_listen_info info;
    int fds;
    (void) state;

    abstract_name(name, sizeof(name));
    assert_true(uds_listen(name, NULL, &l, NULL) >= 0);
    fds = tu_count_open_fds();
    assert_int_equal(uds_listen(name, NULL, &second, &info), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(info.holder_pid, getpid());
    assert_int_equal(tu_count_open_fds(), fds);
    assert_int_equal(uds_unlisten(&l), 0);
}

static int sock_type_of(int fd) {
    int type = -1;
    socklen_t len = sizeof(type);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    return type;
}

static void listen_seqpacket_listens(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .type = UDS_SEQPACKET };
    struct uds_connect_opts copts = { .type = UDS_SEQPACKET };
    struct uds_listener l;
    char buf[8];
    int c, a;

    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    assert_int_equal(sock_type_of(l.fd), SOCK_SEQPACKET);
    assert_int_equal(l.type, UDS_SEQPACKET);
    c = uds_connect(fx->path, &copts);
    assert_true(c >= 0);
    a = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    assert_int_equal(send(c, "ab", 2, MSG_NOSIGNAL), 2);
    assert_int_equal(send(c, "cde", 3, MSG_NOSIGNAL), 3);
    assert_int_equal(recv(a, buf, sizeof(buf), 0), 2);
    assert_int_equal(recv(a, buf, sizeof(buf), 0), 3);
    close(a);
    close(c);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_dgram_binds_and_receives(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .type = UDS_DGRAM, .mode = 0640 };
    struct uds_connect_opts copts = { .type = UDS_DGRAM };
    struct uds_listener l;
    char buf[8];
    int c;

    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    assert_int_equal(sock_type_of(l.fd), SOCK_DGRAM);
    assert_int_equal(mode_of(fx->path), 0640);
    c = uds_connect(fx->path, &copts);
    assert_true(c >= 0);
    assert_int_equal(send(c, "ping", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(recv(l.fd, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "ping", 4);
    close(c);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_false(exists(fx->path));
}

static void listen_missing_directory_enoent(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "missing/s.sock");
    struct uds_listener l;
    int fds = tu_count_open_fds();

    assert_int_equal(uds_listen(path, NULL, &l, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(tu_count_open_fds(), fds);
}

static void listen_tcp_address_eafnosupport(void **state) {
    struct uds_listener l;
    (void) state;

    assert_int_equal(uds_listen("tcp:127.0.0.1:1", NULL, &l, NULL), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
}

static void listen_bad_arguments_einval(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    struct uds_listen_opts bad_mode = { .mode = 04600 };
    struct uds_listen_opts bad_backlog = { .backlog = -1 };
    struct uds_listen_opts bad_type = { .type = (enum uds_socket_type) 42 };
    struct uds_listen_opts bad_flags = { .flags = 1u << 30 };

    assert_int_equal(uds_listen("", NULL, &l, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen(NULL, NULL, &l, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen(fx->path, NULL, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen(fx->path, &bad_mode, &l, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen(fx->path, &bad_backlog, &l, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen(fx->path, &bad_type, &l, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_listen(fx->path, &bad_flags, &l, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(exists(fx->path));
    assert_false(exists(fx->lock));
}

/* ---- adopt --------------------------------------------------------------------------- */

static void listener_adopt_takes_an_inherited_fd(void **state) {
    struct tu_fixture *fx = *state;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct uds_listener l;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);   /* inherited: no CLOEXEC */

    assert_true(fd >= 0);
    strcpy(sa.sun_path, fx->path);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(uds_listener_adopt(fd, &l), fd);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(l.fd, fd);
    assert_int_equal(l.lock_fd, -1);
    assert_false(l.owns_path);
    assert_int_equal(l.type, UDS_SEQPACKET);
    assert_int_equal(l.addr.kind, UDS_ADDR_PATH);
    assert_string_equal(l.addr.name, fx->path);
    assert_int_equal(l.addr.len, strlen(fx->path));
    assert_int_equal(uds_unlisten(&l), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1);   /* closed */
    assert_true(exists(fx->path));              /* but not its file: not ours */
}

static void listener_adopt_abstract_reads_name(void **state) {
    char name[64];
    struct uds_listener orig, l;
    int fd;
    (void) state;

    abstract_name(name, sizeof(name));
    assert_true(uds_listen(name, NULL, &orig, NULL) >= 0);
    fd = fcntl(orig.fd, F_DUPFD_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(uds_listener_adopt(fd, &l), fd);
    assert_int_equal(l.addr.kind, UDS_ADDR_ABSTRACT);
    assert_string_equal(l.addr.name, name + 1);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_int_equal(uds_unlisten(&orig), 0);
}

static void listener_adopt_rejects_and_closes_bad_fds(void **state) {
    struct uds_listener l;
    int p[2], s, t, fds;
    (void) state;

    uds_listener_init(&l);
    fds = tu_count_open_fds();
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    assert_int_equal(uds_listener_adopt(p[0], &l), -1);
    assert_int_equal(errno, ENOTSOCK);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);     /* not listening */
    assert_int_equal(uds_listener_adopt(s, &l), -1);
    assert_int_equal(errno, EINVAL);
    t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(uds_listener_adopt(t, &l), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
    assert_int_equal(tu_count_open_fds(), fds);     /* consumed: closed on failure too */
    assert_int_equal(l.fd, -1);
    assert_int_equal(uds_listener_adopt(-1, &l), -1);
    assert_int_equal(errno, EBADF);
}

/* ---- an explicit mode ----------------------------------------------------------------- */

/* With UDS_LISTEN_SET_MODE, 0 is the mode: the file is 0000 from bind to unlisten, never
 * 0600 (the default that a bare 0 means) nor anything the umask would leave. */
static void listen_set_mode_0000_is_exact_and_never_wider(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .mode = 0, .flags = UDS_LISTEN_SET_MODE };
    struct watcher w = { .path = fx->path };
    struct uds_listener l;
    pthread_t t;
    mode_t old = umask(0);

    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    assert_int_equal(mode_of(fx->path), 0);
    assert_int_equal(uds_unlisten(&l), 0);
    assert_int_equal(pthread_create(&t, NULL, watch_mode, &w), 0);
    /* On a busy machine the watcher may take a while to be scheduled at all. */
    for (int i = 0; i < 100 || (atomic_load(&w.seen) == 0 && i < 20000); i++) {
        assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
        assert_int_equal(uds_unlisten(&l), 0);
    }
    atomic_store(&w.stop, true);
    assert_int_equal(pthread_join(t, NULL), 0);
    umask(old);
    assert_true(atomic_load(&w.seen) > 0);
    assert_int_equal(atomic_load(&w.widest), 0);
}

/* Callers from before the flag see no change: a bare 0 is still 0600. */
static void listen_mode_0_without_set_mode_is_0600(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .mode = 0 };
    struct uds_listener l;

    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    assert_int_equal(mode_of(fx->path), 0600);
    assert_int_equal(uds_unlisten(&l), 0);
}

static void listen_set_mode_0640_is_exact(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = { .mode = 0640, .flags = UDS_LISTEN_SET_MODE };
    struct uds_listener l;
    mode_t old = umask(077);

    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    umask(old);
    assert_int_equal(mode_of(fx->path), 0640);
    assert_int_equal(uds_unlisten(&l), 0);
}

/* As nobody: 0 if connecting to the socket at arg is refused with EACCES. */
static int connect_refused_as_nobody(void *arg) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int r, e;

    if (fd < 0)
        return 10;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", (const char *) arg);
    r = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
    e = errno;
    close(fd);
    if (r == 0)
        return 11;
    return e == EACCES ? 0 : 12;
}

/* Mode 0000 owned by nobody: nobody, the owner, is refused too (0600 would let it in). */
static void listen_set_mode_0000_refuses_even_the_owner(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listen_opts opts = {
        .mode = 0, .owner = 65534, .flags = UDS_LISTEN_SET_MODE | UDS_LISTEN_SET_OWNER,
    };
    struct uds_listener l;
    struct stat st;

    if (geteuid() != 0)
        skip();
    assert_true(uds_listen(fx->path, &opts, &l, NULL) >= 0);
    assert_int_equal(lstat(fx->path, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_mode & 07777, 0);
    assert_int_equal(tu_run_as_nobody(connect_refused_as_nobody, fx->path), 0);
    assert_int_equal(uds_unlisten(&l), 0);
}

/* ---- which file failed: the socket path or its lock file ------------------------------ */

/* Listening fails with err, info->lock_failed set, and nothing changed at the lock path
 * (same inode, type and size), no socket made, no fd left open. */
static void expect_lock_failed(struct tu_fixture *fx, int err) {
    struct uds_listener l;
    struct uds_listen_info info;
    struct stat before, after;
    int fds = tu_count_open_fds();

    assert_int_equal(lstat(fx->lock, &before), 0);
    assert_int_equal(uds_listen(fx->path, NULL, &l, &info), -1);
    assert_int_equal(errno, err);
    assert_true(info.lock_failed);
    assert_int_equal(info.holder_pid, 0);
    assert_int_equal(tu_count_open_fds(), fds);
    assert_int_equal(lstat(fx->lock, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mode, before.st_mode);
    assert_int_equal(after.st_size, before.st_size);
    assert_false(exists(fx->path));
}

/* The symlink is neither followed (its target keeps its contents) nor removed. */
static void listen_symlink_at_lock_eexist_lock_failed_target_untouched(void **state) {
    struct tu_fixture *fx = *state;
    const char *target = tu_path(fx->dir, "precious");
    char buf[16] = { 0 };
    int fd;

    write_file(target, "precious");
    assert_int_equal(symlink(target, fx->lock), 0);
    expect_lock_failed(fx, EEXIST);
    fd = open(target, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof(buf)), 8);
    close(fd);
    assert_string_equal(buf, "precious");
    assert_int_equal(mode_of(target), 0644);
}

/* O_CREAT must not create the file a dangling symlink names. */
static void listen_dangling_symlink_at_lock_creates_nothing(void **state) {
    struct tu_fixture *fx = *state;
    const char *target = tu_path(fx->dir, "created");

    assert_int_equal(symlink(target, fx->lock), 0);
    expect_lock_failed(fx, EEXIST);
    assert_false(exists(target));
}

static void listen_fifo_at_lock_eexist_lock_failed(void **state) {
    struct tu_fixture *fx = *state;

    assert_int_equal(mkfifo(fx->lock, 0666), 0);
    expect_lock_failed(fx, EEXIST);
}

static void listen_directory_at_lock_eexist_lock_failed(void **state) {
    struct tu_fixture *fx = *state;

    assert_int_equal(mkdir(fx->lock, 0755), 0);
    expect_lock_failed(fx, EEXIST);
}

static void listen_socket_at_lock_eexist_lock_failed(void **state) {
    struct tu_fixture *fx = *state;

    make_stale_socket(fx->lock, SOCK_STREAM);
    expect_lock_failed(fx, EEXIST);
}

/* A process that holds PATH.lock while no server answers at PATH (one starting, or not a
 * server at all): EADDRINUSE, and it is the lock file's doing. */
static void listen_lock_held_without_listener_is_lock_failed(void **state) {
    struct tu_fixture *fx = *state;
    int ready[2], hold[2];
    char c;
    pid_t pid;

    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
    pid = tu_fork();
    if (pid == 0) {
        int fd = open(fx->lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX) < 0)
            _exit(1);
        (void) !write(ready[1], "r", 1);
        close(hold[1]);
        (void) !read(hold[0], &c, 1);
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    expect_lock_failed(fx, EADDRINUSE);
    close(hold[1]);
    close(ready[0]);
    assert_int_equal(tu_wait_child(pid), 0);
}

/* A live listener holds the lock too, but it is the one to name: not lock_failed. */
static void listen_live_listener_is_not_lock_failed(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener first, second;
    struct uds_listen_info info;

    assert_true(uds_listen(fx->path, NULL, &first, NULL) >= 0);
    assert_int_equal(uds_listen(fx->path, NULL, &second, &info), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(info.holder_pid, getpid());
    assert_false(info.lock_failed);
    assert_int_equal(uds_unlisten(&first), 0);
}

/* A lock file that cannot be made for want of its directory is the socket path's problem
 * as much: not lock_failed. */
static void listen_missing_directory_is_not_lock_failed(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    struct uds_listen_info info;

    assert_int_equal(uds_listen(tu_path(fx->dir, "missing/s.sock"), NULL, &l, &info), -1);
    assert_int_equal(errno, ENOENT);
    assert_false(info.lock_failed);
}

/* A path that is not a socket, with no lock file in the way: not lock_failed. */
static void listen_regular_file_at_path_is_not_lock_failed(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    struct uds_listen_info info;

    write_file(fx->path, "precious");
    assert_int_equal(uds_listen(fx->path, NULL, &l, &info), -1);
    assert_int_equal(errno, EEXIST);
    assert_false(info.lock_failed);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(listen_fresh_path_creates_socket_and_lock),
        T(listen_default_mode_is_0600_under_umask_0),
        T(listen_mode_0660_exact_under_umask_077),
        T(listen_mode_0660_exact_under_umask_0),
        T(listen_leaves_process_umask_unchanged),
        T(listen_socket_file_never_wider_than_mode),
        T(listen_nonblock_flag_sets_o_nonblock),
        T(listen_owner_and_group_are_set),
        T(listen_chown_not_permitted_fails_and_cleans_up),
        T(listen_stale_socket_is_replaced),
        T(listen_stale_dgram_socket_is_replaced),
        T(listen_live_listener_eaddrinuse),
        T(listen_live_foreign_listener_eaddrinuse_nothing_left),
        T(listen_live_listener_in_child_reports_child_pid),
        T(listen_regular_file_eexist_untouched),
        T(listen_directory_eexist_untouched),
        T(listen_symlink_to_socket_eexist_untouched),
        T(listen_dangling_symlink_eexist_untouched),
        T(listen_fifo_eexist_untouched),
        T(listen_lock_held_by_other_process_eaddrinuse),
        T(listen_leftover_unlocked_lock_file_is_reused),
        T(listen_race_of_starters_exactly_one_wins),
        T(unlisten_removes_socket_and_lock),
        T(unlisten_twice_is_a_noop),
        T(unlisten_leaves_a_replaced_path_alone),
        T(listen_long_path_listens_connects_and_unlistens),
        T(listen_long_path_stale_socket_is_replaced),
        T(listen_path_too_long_even_for_alias_enametoolong),
        T(sockaddr_for_long_path_uses_proc_alias),
        T(sockaddr_for_abstract_has_exact_length),
        T(sockaddr_for_long_path_in_missing_dir_enoent),
        T(listen_abstract_listens_and_connects),
        T(listen_abstract_name_collision_eaddrinuse),
        T(listen_seqpacket_listens),
        T(listen_dgram_binds_and_receives),
        T(listen_missing_directory_enoent),
        T(listen_tcp_address_eafnosupport),
        T(listen_bad_arguments_einval),
        T(listener_adopt_takes_an_inherited_fd),
        T(listener_adopt_abstract_reads_name),
        T(listener_adopt_rejects_and_closes_bad_fds),
        T(listen_set_mode_0000_is_exact_and_never_wider),
        T(listen_mode_0_without_set_mode_is_0600),
        T(listen_set_mode_0640_is_exact),
        T(listen_set_mode_0000_refuses_even_the_owner),
        T(listen_symlink_at_lock_eexist_lock_failed_target_untouched),
        T(listen_dangling_symlink_at_lock_creates_nothing),
        T(listen_fifo_at_lock_eexist_lock_failed),
        T(listen_directory_at_lock_eexist_lock_failed),
        T(listen_socket_at_lock_eexist_lock_failed),
        T(listen_lock_held_without_listener_is_lock_failed),
        T(listen_live_listener_is_not_lock_failed),
        T(listen_missing_directory_is_not_lock_failed),
        T(listen_regular_file_at_path_is_not_lock_failed),
#undef T
    };

    srandom((unsigned) getpid());
    return cmocka_run_group_tests_name("listen", tests, NULL, NULL);
}
