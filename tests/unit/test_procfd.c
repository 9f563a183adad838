/* SPDX-License-Identifier: MIT */
/* test_procfd.c — mapping socket inodes to processes through /proc/PID/fd, with processes
 * that share sockets, vanish mid-scan or may not be read; cwd resolution of relative
 * socket names, process start times and flock holders. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

struct fixture {
    char *dir;
    pid_t child;    /* from spawn(), killed by teardown */
    int pipe[2];
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = tu_tmpdir_new();
    f->pipe[0] = f->pipe[1] = -1;
    alarm(20);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;

    alarm(0);
    tu_kill_child(f->child);
    tu_close_pair(f->pipe);
    tu_tmpdir_free(f->dir);
    free(f);
    return 0;
}

static void comm_of_self(char *buf, size_t size) {
    FILE *fp = fopen("/proc/self/comm", "re");
    assert_non_null(fp);
    assert_non_null(fgets(buf, (int) size, fp));
    buf[strcspn(buf, "\n")] = '\0';
    fclose(fp);
}

/* Fork a child that runs fn, tells the parent it is ready with one byte, and waits to be
 * killed. */
static void spawn(struct fixture *f, void (*fn)(struct fixture *f)) {
    char c;
    assert_int_equal(pipe2(f->pipe, O_CLOEXEC), 0);
    f->child = tu_fork();
    if (f->child == 0) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        fn(f);
        if (write(f->pipe[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(f->pipe[1]);
    f->pipe[1] = -1;
    assert_int_equal(read(f->pipe[0], &c, 1), 1);
}

static void scan_finds_own_socket_fds_with_pid_and_command(void **state) {
    struct uds_procfd_list l = { 0 };
    const struct uds_procfd *e;
    char comm[32];
    int sv[2];
    (void) state;
    comm_of_self(comm, sizeof(comm));
    tu_socketpair(SOCK_STREAM, sv);

    assert_int_equal(uds_procfd_list_get(0, &l), 0);
    assert_int_equal(uds_procfd_list_find(&l, tu_fd_inode(sv[1]), &e), 1);
    assert_int_equal(e->pid, getpid());
    assert_int_equal(e->fd, sv[1]);
    assert_string_equal(e->command, comm);
    assert_int_equal(e->inode, tu_fd_inode(sv[1]));
    for (size_t i = 1; i < l.n; i++)
        assert_true(l.entries[i - 1].inode <= l.entries[i].inode);
    uds_procfd_list_done(&l);
    assert_null(l.entries);
    uds_procfd_list_done(&l);
    uds_procfd_list_done(NULL);

    /* The same for one pid only. */
    assert_int_equal(uds_procfd_list_get(getpid(), &l), 0);
    assert_int_equal(uds_procfd_list_find(&l, tu_fd_inode(sv[0]), &e), 1);
    assert_int_equal(e->fd, sv[0]);
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(l.entries[i].pid, getpid());
    uds_procfd_list_done(&l);
    tu_close_pair(sv);
}

static int shared_fd = -1;

static void child_keeps_fds(struct fixture *f) {
    (void) f;
    /* Move the inherited socket to another fd number, so the entries differ by fd too. */
    if (dup3(shared_fd, 100, O_CLOEXEC) < 0)
        _exit(1);
    (void) prctl(PR_SET_NAME, "procfd-child");
}

static void find_returns_every_process_that_holds_a_socket(void **state) {
    struct fixture *f = *state;
    struct uds_procfd_list l = { 0 };
    const struct uds_procfd *e;
    int sv[2];
    tu_socketpair(SOCK_STREAM, sv);
    shared_fd = sv[0];
    spawn(f, child_keeps_fds);

    assert_int_equal(uds_procfd_list_get(0, &l), 0);
    size_t n = uds_procfd_list_find(&l, tu_fd_inode(sv[0]), &e);
    /* parent: sv[0]; child: sv[0] (inherited) and 100 */
    assert_int_equal(n, 3);
    size_t child_entries = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].pid == f->child) {
            child_entries++;
            assert_string_equal(e[i].command, "procfd-child");
        } else {
            assert_int_equal(e[i].pid, getpid());
        }
    }
    assert_int_equal(child_entries, 2);
    assert_int_equal(uds_procfd_list_find(&l, (ino_t) -1, &e), 0);
    assert_null(e);
    uds_procfd_list_done(&l);
    tu_close_pair(sv);
}

/* A burst of short-lived children: each opens a socket and exits at once. */
static void child_churns(struct fixture *f) {
    (void) f;
    if (write(f->pipe[1], "r", 1) != 1)
        _exit(1);
    for (;;) {
        pid_t p = fork();
        if (p == 0) {
            int sv[2];
            if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0)
                _exit(0);
            _exit(1);
        }
        if (p > 0)
            (void) waitpid(p, NULL, 0);
    }
}

static void scan_survives_processes_exiting_mid_scan(void **state) {
    struct fixture *f = *state;
    spawn(f, child_churns);
    for (int i = 0; i < 50; i++) {
        struct uds_procfd_list l = { 0 };
        assert_int_equal(uds_procfd_list_get(0, &l), 0);
        uds_procfd_list_done(&l);
    }
}

/* In the child, as nobody, with the parent's socketpair in arg: 0 if the scan counts root's
 * processes as unreadable, finds our own sockets but not the parent's. */
static int scan_sees_only_own_sockets(void *arg) {
    const int *sv = arg;
    ino_t root_ino = tu_fd_inode(sv[0]);
    struct uds_procfd_list l = { 0 };
    int mine[2];

    close(sv[0]);   /* the parent's socket, inherited: only the parent holds it now */
    close(sv[1]);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mine) < 0)
        return 1;
    if (uds_procfd_list_get(0, &l) < 0)
        return 2;
    /* The parent (root) may not be read; our own sockets may. */
    if (l.n_denied == 0)
        return 3;
    if (uds_procfd_list_find(&l, root_ino, NULL) != 0)
        return 4;
    if (uds_procfd_list_find(&l, tu_fd_inode(mine[0]), NULL) != 1)
        return 5;
    uds_procfd_list_done(&l);
    errno = 0;
    if (uds_procfd_list_get(getppid(), &l) != -1 || errno != EACCES)
        return 6;
    return 0;
}

static void scan_as_unprivileged_user_counts_unreadable_processes(void **state) {
    int sv[2];
    (void) state;
    if (geteuid() != 0)
        skip();
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(tu_run_as_nobody(scan_sees_only_own_sockets, sv), 0);
    tu_close_pair(sv);
}

static void scan_of_a_missing_pid_is_enoent(void **state) {
    struct uds_procfd_list l = { .n = 7 };
    pid_t pid = tu_fork();
    (void) state;
    if (pid == 0)
        _exit(0);
    assert_int_equal(tu_wait_child(pid), 0);
    errno = 0;
    assert_int_equal(uds_procfd_list_get(pid, &l), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(l.n, 7);   /* untouched on failure */
    errno = 0;
    assert_int_equal(uds_procfd_list_get(-1, &l), -1);
    assert_int_equal(errno, EINVAL);
}

static void child_binds_relative_name(struct fixture *f) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    strcpy(sa.sun_path, "./rel.sock");
    if (fd < 0 || chdir(f->dir) < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
        listen(fd, 1) < 0)
        _exit(1);
}

static const struct uds_sockinfo *find_named(const struct uds_socklist *l, const char *name,
                                            ino_t file_ino) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->socks[i].name, name) == 0 && l->socks[i].file_ino == file_ino)
            return &l->socks[i];
    return NULL;
}

static void resolve_relative_name_through_the_holders_cwd(void **state) {
    struct fixture *f = *state;
    struct uds_socklist sl = { 0 };
    const char *path = tu_path(f->dir, "rel.sock");
    char buf[256];
    struct stat st;
    spawn(f, child_binds_relative_name);
    assert_int_equal(lstat(path, &st), 0);

    assert_int_equal(uds_socklist_get(&sl), 0);
    const struct uds_sockinfo *s = find_named(&sl, "./rel.sock", st.st_ino);
    assert_non_null(s);
    assert_int_equal(uds_sockinfo_resolve(s, f->child, buf, sizeof(buf)), 1);
    assert_string_equal(buf, path);
    /* From a process elsewhere, the name means another file: not resolved. */
    assert_int_equal(uds_sockinfo_resolve(s, getpid(), buf, sizeof(buf)), 0);
    errno = 0;
    assert_int_equal(uds_sockinfo_resolve(s, f->child, buf, 8), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    /* Once the file is replaced, the name no longer reaches the socket. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(uds_sockinfo_resolve(s, f->child, buf, sizeof(buf)), 0);
    struct uds_sockinfo abs = *s;
    strcpy(abs.name, "/abs.sock");
    errno = 0;
    assert_int_equal(uds_sockinfo_resolve(&abs, f->child, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EINVAL);
    uds_socklist_done(&sl);
}

static void start_time_of_a_new_process_is_now(void **state) {
    time_t started, before = time(NULL);
    pid_t pid;
    (void) state;
    pid = tu_fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(uds_proc_start_time(pid, &started), 0);
    /* btime and the tick count are whole seconds: allow for rounding both ways. */
    assert_true(started >= before - 2 && started <= time(NULL) + 2);
    tu_kill_child(pid);
    errno = 0;
    assert_int_equal(uds_proc_start_time(pid, &started), -1);
    assert_int_equal(errno, ENOENT);
}

static char lock_path[128];

static void child_holds_lock(struct fixture *f) {
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
    (void) f;
    if (fd < 0 || flock(fd, LOCK_EX) < 0)
        _exit(1);
}

static void flock_holder_names_the_process_that_holds_it(void **state) {
    struct fixture *f = *state;
    pid_t holder = -1;
    tu_path_into(lock_path, sizeof(lock_path), f->dir, "x.sock.lock");
    int fd = open(lock_path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(uds_flock_holder(lock_path, &holder), 0);
    assert_int_equal(holder, -1);   /* untouched when nobody holds it */

    spawn(f, child_holds_lock);
    assert_int_equal(uds_flock_holder(lock_path, &holder), 1);
    assert_int_equal(holder, f->child);

    tu_kill_child(f->child);
    f->child = 0;
    assert_int_equal(uds_flock_holder(lock_path, &holder), 0);
    errno = 0;
    tu_path_into(lock_path, sizeof(lock_path), f->dir, "none.lock");
    assert_int_equal(uds_flock_holder(lock_path, &holder), -1);
    assert_int_equal(errno, ENOENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(scan_finds_own_socket_fds_with_pid_and_command, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(find_returns_every_process_that_holds_a_socket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(scan_survives_processes_exiting_mid_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(scan_as_unprivileged_user_counts_unreadable_processes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(scan_of_a_missing_pid_is_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(resolve_relative_name_through_the_holders_cwd, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(start_time_of_a_new_process_is_now, setup, teardown),
        cmocka_unit_test_setup_teardown(flock_holder_names_the_process_that_holds_it, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
