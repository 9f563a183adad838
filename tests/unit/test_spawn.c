/* SPDX-License-Identifier: MIT */
/*
 * test_spawn.c — unit tests of the UCSPI mechanism: uds_program_find(), a uds_spawner
 * starting real programs on one end of a socketpair (what they see: environment, fds,
 * signals, limits; reaping, counting, killing), uds_exec_client() in a forked child, and
 * uds_drop_privileges() in a forked child (as root).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define NOBODY 65534
#define WAIT_MS 5000

/* ---- helpers ----------------------------------------------------------------------------- */

/* Everything fd gives until its end (or WAIT_MS), NUL-terminated; returns the length. */
static size_t read_to_end(int fd, char *buf, size_t size) {
    size_t len = 0;

    while (len + 1 < size && tu_wait_readable(fd, WAIT_MS)) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t) n;
    }
    buf[len] = '\0';
    return len;
}

/* One line from fd (without its newline), read a byte at a time so that nothing after it
 * is taken. */
static void read_line(int fd, char *buf, size_t size) {
    size_t len = 0;
    char c;

    while (len + 1 < size && tu_wait_readable(fd, WAIT_MS) && read(fd, &c, 1) == 1 &&
           c != '\n')
        buf[len++] = c;
    buf[len] = '\0';
}

/* Reap one of sp's programs, waiting up to WAIT_MS for one to exit. */
static void reap_one(struct uds_spawner *sp, struct uds_child *ret_child, int *ret_status) {
    uint64_t end = tu_now_ms() + WAIT_MS;
    int r;

    while ((r = uds_spawner_reap(sp, ret_child, ret_status)) == 0 && tu_now_ms() < end)
        tu_sleep_ms(2);
    assert_int_equal(r, 1);
}

/* sp's program started on a new socketpair of type for peer (NULL: read from the socket);
 * its end is closed here. Returns ours, and the program's pid in *ret_pid unless NULL. */
static int start_on_pair(struct uds_spawner *sp, int type, const struct uds_peer *peer,
                         pid_t *ret_pid) {
    int sv[2];
    pid_t pid;

    tu_socketpair(type, sv);
    pid = uds_spawner_spawn(sp, sv[1], peer);
    assert_true(pid > 0);
    close(sv[1]);
    if (ret_pid)
        *ret_pid = pid;
    return sv[0];
}

/* Everything the program on fd writes until it ends; then fd is closed and the program
 * reaped, with its status. */
static void finish(struct uds_spawner *sp, int fd, char *out, size_t size, int *ret_status) {
    struct uds_child ch;

    read_to_end(fd, out, size);
    close(fd);
    reap_one(sp, &ch, ret_status);
}

/* argv run through a new spawner, for peer: what it wrote, and its status. */
static void run_program(char *const argv[], const struct uds_peer *peer, char *out,
                        size_t size, int *ret_status) {
    struct uds_spawner *sp = uds_spawner_new(argv, "/run/test.sock", NULL);

    assert_non_null(sp);
    finish(sp, start_on_pair(sp, SOCK_STREAM, peer, NULL), out, size, ret_status);
    uds_spawner_free(sp);
}

/* Whether the output has this line. */
static bool has_line(const char *out, const char *line) {
    size_t len = strlen(line);

    for (const char *p = out; (p = strstr(p, line)) != NULL; p += len)
        if ((p == out || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
            return true;
    return false;
}

static void write_file(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

/* ---- uds_program_find() -------------------------------------------------------------------- */

static void program_find_searches_path_and_says_why_not(void **state) {
    struct tu_fixture *f = *state;
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char path[PATH_MAX * 2];
    char *found;

    write_file(tu_path(f->dir, "prog"), "#!/bin/sh\n", 0755);
    write_file(tu_path(f->dir, "plain"), "text\n", 0644);
    snprintf(path, sizeof(path), "/nonexistent:%s:/bin", f->dir);
    setenv("PATH", path, 1);
    found = uds_program_find("prog");
    assert_non_null(found);
    assert_string_equal(found, tu_path(f->dir, "prog"));
    free(found);
    assert_null(uds_program_find("plain"));
    assert_int_equal(errno, EACCES);
    assert_null(uds_program_find("no-such-program-xyz"));
    assert_int_equal(errno, ENOENT);
    assert_null(uds_program_find(f->dir));     /* a directory */
    assert_int_equal(errno, EACCES);
    assert_null(uds_program_find(""));
    assert_int_equal(errno, ENOENT);
    if (old)
        setenv("PATH", old, 1);
    else
        unsetenv("PATH");
    free(old);
}

/* ---- what a program gets ------------------------------------------------------------------- */

static void spawn_child_gets_the_ucspi_environment(void **state) {
    char *argv[] = { "env", NULL };
    char out[16384], want[128];
    int status;

    (void) state;
    setenv("UDS_TEST_KEPT", "yes", 1);
    setenv("PROTO", "TCP", 1);
    setenv("UNIXREMOTEPATH", "stale", 1);
    setenv("UNIXLOCALPID", "1", 1);
    setenv("LISTEN_FDS", "3", 1);
    setenv("NOTIFY_SOCKET", "/run/nothing", 1);
    run_program(argv, NULL, out, sizeof(out), &status);
    unsetenv("UDS_TEST_KEPT"), unsetenv("PROTO"), unsetenv("UNIXREMOTEPATH");
    unsetenv("UNIXLOCALPID"), unsetenv("LISTEN_FDS"), unsetenv("NOTIFY_SOCKET");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(has_line(out, "UDS_TEST_KEPT=yes"));
    assert_true(has_line(out, "PROTO=UNIX"));
    assert_true(has_line(out, "UNIXLOCALPATH=/run/test.sock"));
    snprintf(want, sizeof(want), "UNIXLOCALUID=%lu", (unsigned long) getuid());
    assert_true(has_line(out, want));
    snprintf(want, sizeof(want), "UNIXLOCALGID=%lu", (unsigned long) getgid());
    assert_true(has_line(out, want));
    /* A socketpair's peer is the process that made it: this one. */
    snprintf(want, sizeof(want), "UNIXREMOTEPID=%ld", (long) getpid());
    assert_true(has_line(out, want));
    snprintf(want, sizeof(want), "UNIXREMOTEEUID=%lu", (unsigned long) geteuid());
    assert_true(has_line(out, want));
    snprintf(want, sizeof(want), "UNIXREMOTEEGID=%lu", (unsigned long) getegid());
    assert_true(has_line(out, want));
    assert_null(strstr(out, "PROTO=TCP"));
    assert_null(strstr(out, "UNIXREMOTEPATH"));
    assert_null(strstr(out, "UNIXLOCALPID"));
    assert_null(strstr(out, "LISTEN_FDS"));
    assert_null(strstr(out, "NOTIFY_SOCKET"));
}

static void spawn_peer_given_is_the_remote_one(void **state) {
    char *argv[] = { "env", NULL };
    struct uds_peer peer = { .pid = 4242, .uid = 77, .gid = 88, .pidfd = -1 };
    char out[16384];
    int status;

    (void) state;
    run_program(argv, &peer, out, sizeof(out), &status);
    assert_true(has_line(out, "UNIXREMOTEPID=4242"));
    assert_true(has_line(out, "UNIXREMOTEEUID=77"));
    assert_true(has_line(out, "UNIXREMOTEEGID=88"));
}

static void spawn_socket_is_stdin_and_stdout_and_no_other_fd_passes(void **state) {
    char *argv[] = { "/bin/sh", "-c", "readlink /proc/$$/fd/0 /proc/$$/fd/1; ls /proc/$$/fd",
                     NULL };
    char out[4096], want[128];
    int sv[2], status;
    /* An fd the process holds without O_CLOEXEC must not reach the program either. */
    int stray = open("/dev/null", O_RDONLY);
    struct uds_spawner *sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    struct uds_child ch;

    (void) state;
    assert_true(stray > 2);
    assert_non_null(sp);
    tu_socketpair(SOCK_STREAM, sv);
    snprintf(want, sizeof(want), "socket:[%lu]\nsocket:[%lu]\n0\n1\n2\n",
             (unsigned long) tu_fd_inode(sv[1]), (unsigned long) tu_fd_inode(sv[1]));
    assert_true(uds_spawner_spawn(sp, sv[1], NULL) > 0);
    close(sv[1]);
    read_to_end(sv[0], out, sizeof(out));
    close(sv[0]);
    close(stray);
    reap_one(sp, &ch, &status);
    uds_spawner_free(sp);
    assert_string_equal(out, want);
}

/* What the program finds on fd 2 (readlink) when the caller has closed its own fd 2 and
 * a socket of its own took the number, as a client's would: before the spawner was made
 * (close_first) or after. Asserts the socket took 2; fd 2 is put back before any assert
 * can fail. */
static void program_stderr_with_ours_closed(bool close_first, char *out, size_t size) {
    char *argv[] = { "/bin/sh", "-c", "readlink /proc/$$/fd/2", NULL };
    int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    struct uds_spawner *sp = NULL;
    struct uds_child ch;
    int sv[2], status;
    pid_t pid = -1;

    assert_true(saved >= 0);
    *out = '\0';
    if (!close_first)
        sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    close(STDERR_FILENO);
    if (close_first)
        sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    tu_socketpair(SOCK_STREAM, sv);
    bool took_2 = sv[0] == STDERR_FILENO;
    if (sp)
        pid = uds_spawner_spawn(sp, sv[1], NULL);
    close(sv[1]);
    if (pid > 0)
        read_to_end(sv[0], out, size);
    close(sv[0]);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    assert_non_null(sp);
    assert_true(pid > 0);
    assert_true(took_2);
    reap_one(sp, &ch, &status);
    uds_spawner_free(sp);
}

static void spawn_without_a_stderr_the_program_gets_dev_null_there(void **state) {
    char out[256];

    (void) state;
    program_stderr_with_ours_closed(true, out, sizeof(out));
    assert_string_equal(out, "/dev/null\n");
}

/* A caller that had a stderr when the spawner was made and closed it since: the number
 * went to a socket of its own (close-on-exec), and the programs get /dev/null there, not
 * a closed fd 2 that their first open() would take. */
static void spawn_stderr_closed_after_the_spawner_was_made_dev_null_there(void **state) {
    char out[256];

    (void) state;
    program_stderr_with_ours_closed(false, out, sizeof(out));
    assert_string_equal(out, "/dev/null\n");
}

/* The child shares the caller's memory, errno included: what its own steps fail at (here
 * the close of an fd 2 the caller does not have) must not show in the caller's errno. */
static void spawn_success_leaves_the_callers_errno_alone(void **state) {
    char *argv[] = { "/bin/true", NULL };
    int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    struct uds_spawner *sp;
    struct uds_child ch;
    int sv[2], status, e;
    pid_t pid;

    (void) state;
    assert_true(saved >= 0);
    tu_socketpair(SOCK_STREAM, sv);
    close(STDERR_FILENO);
    sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    errno = ERANGE;
    pid = sp ? uds_spawner_spawn(sp, sv[1], NULL) : -1;
    e = errno;
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    assert_non_null(sp);
    assert_true(pid > 0);
    reap_one(sp, &ch, &status);
    uds_spawner_free(sp);
    tu_close_pair(sv);
    assert_int_equal(e, ERANGE);
}

static void spawn_low_limit_and_every_low_fd_taken_still_dev_null_on_stderr(void **state) {
    char *argv[] = { "/bin/sh", "-c", "readlink /proc/$$/fd/2; ulimit -Sn", NULL };
    struct uds_spawner_opts opts = { .nofile = 16 };
    int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
    int fillers[64], n = 0, sv[2], status;
    struct uds_spawner *sp;
    struct uds_child ch;
    char out[256] = "";

    (void) state;
    assert_true(saved >= 0);
    close(STDERR_FILENO);
    sp = uds_spawner_new(argv, "/run/test.sock", &opts);
    /* Every number from 2 to 40 taken, none free under the programs' limit. */
    while (n < 64 && (n == 0 || fillers[n - 1] < 40))
        fillers[n++] = fcntl(saved, F_DUPFD_CLOEXEC, 0);
    tu_socketpair(SOCK_STREAM, sv);
    pid_t pid = sp ? uds_spawner_spawn(sp, sv[1], NULL) : -1;
    close(sv[1]);
    if (pid > 0)
        read_to_end(sv[0], out, sizeof(out));
    close(sv[0]);
    for (int i = 0; i < n; i++)
        close(fillers[i]);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    assert_non_null(sp);
    assert_true(pid > 0);
    reap_one(sp, &ch, &status);
    uds_spawner_free(sp);
    assert_string_equal(out, "/dev/null\n16\n");
}

static void spawn_program_reads_blocking_though_the_socket_was_not(void **state) {
    char *argv[] = { "head", "-c", "5", NULL };
    struct uds_spawner *sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    char out[64];
    int fd, status;

    (void) state;
    assert_non_null(sp);
    fd = start_on_pair(sp, SOCK_STREAM | SOCK_NONBLOCK, NULL, NULL);
    /* head has surely read once by now, and found nothing: blocking, it waits. */
    tu_sleep_ms(50);
    assert_int_equal(write(fd, "hello", 5), 5);
    finish(sp, fd, out, sizeof(out), &status);
    uds_spawner_free(sp);
    assert_string_equal(out, "hello");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void spawn_signal_mask_empty_and_ignored_signals_reset(void **state) {
    char *argv[] = { "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL };
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_usr1, old_hup;
    sigset_t block, old_mask;
    char out[256];
    int status;

    (void) state;
    sigaction(SIGUSR1, &ign, &old_usr1);
    sigaction(SIGHUP, &ign, &old_hup);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    run_program(argv, NULL, out, sizeof(out), &status);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    assert_string_equal(out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

/* sig ignored behind libc's back: as glibc's internal signals (32 and 33) are in a process
 * started by glibc's posix_spawn() (make's, say), and SIGHUP under nohup before any
 * sanitizer's records begin. The kernel's struct sigaction: the handler, then zeros. */
static int ignore_raw(int sig) {
    struct { void (*handler)(int); unsigned long rest[4]; } ign = { .handler = SIG_IGN };

    return (int) syscall(SYS_rt_sigaction, sig, &ign, NULL, 8);
}

static int ignored_signals_of_a_program(void *arg) {
    char *argv[] = { "grep", "^SigIgn", "/proc/self/status", NULL };
    struct uds_spawner *sp;
    char out[128];
    int sv[2];

    (void) arg;
    if (ignore_raw(SIGHUP) < 0 || ignore_raw(32) < 0 || ignore_raw(33) < 0)
        return 1;
    sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    if (!sp || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 2;
    if (uds_spawner_spawn(sp, sv[1], NULL) < 0)
        return 3;
    close(sv[1]);
    read_to_end(sv[0], out, sizeof(out));
    if (waitpid(-1, NULL, 0) < 0)
        return 4;
    return strcmp(out, "SigIgn:\t0000000000000000\n") == 0 ? 0 : 5;
}

static void spawn_signals_ignored_behind_libcs_back_reset_too(void **state) {
    (void) state;
    assert_int_equal(tu_run_in_child(ignored_signals_of_a_program, NULL), 0);
}

static void spawn_program_has_a_process_group_of_its_own(void **state) {
    char *argv[] = { "/bin/sh", "-c", "cut -d ' ' -f 5 /proc/$$/stat; echo $$", NULL };
    char out[256], want[64];
    int status;

    (void) state;
    run_program(argv, NULL, out, sizeof(out), &status);
    /* Both lines the same: its pgid is its pid. */
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    snprintf(want, sizeof(want), "%.*s\n%.*s\n", (int) (nl - out), out, (int) (nl - out), out);
    assert_string_equal(out, want);
    assert_int_not_equal(atol(out), (long) getpgrp());
}

/* Our soft open-file limit to soft, the one before in *ret_orig for the test to put back;
 * the test is skipped where the hard limit leaves no room for 1024. */
static void set_soft_nofile(rlim_t soft, struct rlimit *ret_orig) {
    struct rlimit rl;

    assert_int_equal(getrlimit(RLIMIT_NOFILE, ret_orig), 0);
    if (ret_orig->rlim_max != RLIM_INFINITY && ret_orig->rlim_max < 1024) {
        print_message("# skip: the hard open-file limit is under 1024\n");
        skip();
    }
    rl = (struct rlimit){ .rlim_cur = soft, .rlim_max = ret_orig->rlim_max };
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void spawn_gives_the_open_file_limit_of_when_it_was_made(void **state) {
    char *argv[] = { "/bin/sh", "-c", "ulimit -Sn", NULL };
    struct uds_spawner_opts opts = { .nofile = 300 };
    struct rlimit orig, low, now;
    struct uds_spawner *sp, *sp_opts;
    char out[64];
    int status;

    (void) state;
    set_soft_nofile(256, &orig);
    low = (struct rlimit){ .rlim_cur = 256, .rlim_max = orig.rlim_max };
    sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    sp_opts = uds_spawner_new(argv, "/run/test.sock", &opts);
    /* The server raises its own afterwards. */
    low.rlim_cur = 1024;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    assert_non_null(sp);
    assert_non_null(sp_opts);
    for (int i = 0; i < 2; i++) {
        struct uds_spawner *x = i ? sp_opts : sp;
        finish(x, start_on_pair(x, SOCK_STREAM, NULL, NULL), out, sizeof(out), &status);
        assert_string_equal(out, i ? "300\n" : "256\n");
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
        assert_int_equal(now.rlim_cur, 1024);
    }
    uds_spawner_free(sp);
    uds_spawner_free(sp_opts);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &orig), 0);
}

/* What a thread of the caller sees of its own open-file limit while another spawns. */
struct limit_watch {
    rlim_t want;                /* the caller's soft limit, all along */
    int high;                   /* an fd number under it, above the programs' limit */
    atomic_bool stop;
    unsigned long looks;
    unsigned long lowered;      /* getrlimit() saw another soft limit */
    unsigned long emfile;       /* fcntl(F_DUPFD, high) failed */
};

static void *watch_limit(void *arg) {
    struct limit_watch *w = arg;

    while (!atomic_load(&w->stop)) {
        struct rlimit rl;
        int fd;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != w->want)
            w->lowered++;
        fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, w->high);
        if (fd < 0)
            w->emfile++;
        else
            close(fd);
        w->looks++;
    }
    return NULL;
}

static void spawn_never_lowers_the_callers_own_limit_for_its_other_threads(void **state) {
    char *argv[] = { "true", NULL };
    struct uds_spawner_opts opts = { .nofile = 64 };
    struct limit_watch w = { .want = 1024, .high = 512 };
    struct uds_spawner *sp;
    struct rlimit orig;
    pthread_t th;
    int status;

    (void) state;
    set_soft_nofile(1024, &orig);
    sp = uds_spawner_new(argv, "/run/test.sock", &opts);
    assert_non_null(sp);
    atomic_init(&w.stop, false);
    assert_int_equal(pthread_create(&th, NULL, watch_limit, &w), 0);
    for (int i = 0; i < 200; i++) {
        struct uds_child ch;
        int fd = start_on_pair(sp, SOCK_STREAM, NULL, NULL);

        close(fd);
        reap_one(sp, &ch, &status);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&w.stop, true);
    assert_int_equal(pthread_join(th, NULL), 0);
    uds_spawner_free(sp);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &orig), 0);
    print_message("# %lu looks: %lu saw the limit lowered, %lu got EMFILE\n", w.looks,
                  w.lowered, w.emfile);
    assert_true(w.looks > 0);
    assert_int_equal(w.lowered, 0);
    assert_int_equal(w.emfile, 0);
}

/* ---- children: reaping, counting, killing ---------------------------------------------------- */

static void spawn_reap_reports_each_program_once_and_count_follows(void **state) {
    char *argv[] = { "/bin/sh", "-c", "exit $(head -c 1)", NULL };
    struct uds_spawner *sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    struct uds_child ch;
    pid_t pids[3];
    bool seen[3] = { false };
    int fds[3], status;
    uint64_t before = tu_now_ms();

    (void) state;
    assert_non_null(sp);
    assert_int_equal(uds_spawner_reap(sp, &ch, &status), 0);
    for (int i = 0; i < 3; i++) {
        fds[i] = start_on_pair(sp, SOCK_STREAM, NULL, &pids[i]);
        assert_int_equal(uds_spawner_count(sp), (size_t) i + 1);
    }
    /* None has exited: each waits for its exit status on its socket. */
    assert_int_equal(uds_spawner_reap(sp, &ch, &status), 0);
    for (int i = 0; i < 3; i++) {
        char code = (char) ('3' + i);
        assert_int_equal(write(fds[i], &code, 1), 1);
    }
    for (int n = 0; n < 3; n++) {
        reap_one(sp, &ch, &status);
        int i = ch.pid == pids[0] ? 0 : ch.pid == pids[1] ? 1 : ch.pid == pids[2] ? 2 : -1;
        assert_true(i >= 0);
        assert_false(seen[i]);
        seen[i] = true;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 3 + i);
        assert_int_equal(ch.peer_pid, getpid());
        assert_int_equal(ch.peer_uid, geteuid());
        assert_true(ch.started_ms >= before && ch.started_ms <= tu_now_ms());
        assert_int_equal(uds_spawner_count(sp), (size_t) (2 - n));
    }
    assert_int_equal(uds_spawner_reap(sp, &ch, &status), 0);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    uds_spawner_free(sp);
}

static void spawn_reap_leaves_other_children_to_the_caller(void **state) {
    char *argv[] = { "true", NULL };
    struct uds_spawner *sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    struct uds_child ch;
    int status;
    pid_t other, prog;

    (void) state;
    assert_non_null(sp);
    other = tu_fork();
    if (other == 0)
        _exit(9);
    /* Let it exit first, so that the quick way finds it before the program. */
    tu_sleep_ms(50);
    close(start_on_pair(sp, SOCK_STREAM, NULL, &prog));
    reap_one(sp, &ch, &status);
    assert_int_equal(ch.pid, prog);
    assert_int_equal(uds_spawner_reap(sp, &ch, &status), 0);
    assert_int_equal(uds_spawner_count(sp), 0);
    /* Still there for us. */
    assert_int_equal(tu_wait_child(other), 9);
    uds_spawner_free(sp);
}

/* The state letter of /proc/PID/stat, or 0 when the process is gone. */
static char proc_state(pid_t pid) {
    char path[64], buf[512], *paren;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long) pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    buf[0] = '\0';
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

static void spawn_kill_reaches_the_programs_process_group(void **state) {
    /* The program starts a grandchild and waits: SIGTERM must reach both. */
    char *argv[] = { "/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL };
    struct uds_spawner *sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    struct uds_child ch;
    char line[64];
    int fd, status;
    pid_t prog, grandchild;
    uint64_t end;

    (void) state;
    assert_non_null(sp);
    fd = start_on_pair(sp, SOCK_STREAM, NULL, &prog);
    read_line(fd, line, sizeof(line));
    grandchild = (pid_t) atol(line);
    assert_true(grandchild > 0);
    assert_int_equal(getpgid(grandchild), prog);
    uds_spawner_kill(sp, SIGTERM);
    reap_one(sp, &ch, &status);
    assert_int_equal(ch.pid, prog);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
    /* The grandchild went too (reaped by whoever inherited it, or a zombie until then). */
    end = tu_now_ms() + WAIT_MS;
    while (proc_state(grandchild) != 0 && proc_state(grandchild) != 'Z' && tu_now_ms() < end)
        tu_sleep_ms(5);
    char st = proc_state(grandchild);
    assert_true(st == 0 || st == 'Z');
    close(fd);
    uds_spawner_free(sp);
}

/* ---- failures ------------------------------------------------------------------------------ */

static void spawner_new_bad_program_enoent_or_eacces(void **state) {
    struct tu_fixture *f = *state;
    char *missing[] = { "/nonexistent/prog", NULL };
    char *not_in_path[] = { "no-such-program-xyz", NULL };
    char *plain[] = { tu_path(f->dir, "plain"), NULL };
    char *dir[] = { f->dir, NULL };
    char *empty[] = { NULL };

    write_file(plain[0], "text\n", 0644);
    assert_null(uds_spawner_new(missing, "/run/test.sock", NULL));
    assert_int_equal(errno, ENOENT);
    assert_null(uds_spawner_new(not_in_path, "/run/test.sock", NULL));
    assert_int_equal(errno, ENOENT);
    assert_null(uds_spawner_new(plain, "/run/test.sock", NULL));
    assert_int_equal(errno, EACCES);
    assert_null(uds_spawner_new(dir, "/run/test.sock", NULL));
    assert_int_equal(errno, EACCES);
    assert_null(uds_spawner_new(empty, "/run/test.sock", NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_spawner_new(missing, NULL, NULL));
    assert_int_equal(errno, EINVAL);
}

/* ENOENT, EACCES and ENOEXEC of a program gone or changed since: the test after this one. */
static void spawn_path_as_found_and_a_bad_fd_einval(void **state) {
    struct tu_fixture *f = *state;
    char *argv[] = { tu_path(f->dir, "prog"), NULL };
    struct uds_spawner *sp;

    write_file(argv[0], "#!/bin/sh\nexit 0\n", 0755);
    sp = uds_spawner_new(argv, "/run/test.sock", NULL);
    assert_non_null(sp);
    assert_string_equal(uds_spawner_path(sp), argv[0]);
    assert_int_equal(uds_spawner_spawn(sp, -1, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_spawner_count(sp), 0);
    uds_spawner_free(sp);
    uds_spawner_free(NULL);
}

/* No child of ours left, reaped or not. */
static bool no_children(void) {
    return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

static void spawn_program_not_executable_errno_and_nothing_left(void **state) {
    struct tu_fixture *f = *state;
    char *argv[] = { tu_path(f->dir, "prog"), NULL };
    /* With and without a limit of their own for the programs. */
    struct uds_spawner_opts opts[] = { { 0 }, { .nofile = 100 } };
    int sv[2];

    tu_socketpair(SOCK_STREAM, sv);
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        struct uds_spawner *sp;
        int fds;

        write_file(argv[0], "#!/bin/sh\nexit 0\n", 0755);
        sp = uds_spawner_new(argv, "/run/test.sock", &opts[i]);
        assert_non_null(sp);
        assert_true(no_children());
        fds = tu_count_open_fds();
        assert_int_equal(unlink(argv[0]), 0);
        assert_int_equal(uds_spawner_spawn(sp, sv[1], NULL), -1);
        assert_int_equal(errno, ENOENT);
        write_file(argv[0], "#!/bin/sh\nexit 0\n", 0600);
        assert_int_equal(uds_spawner_spawn(sp, sv[1], NULL), -1);
        assert_int_equal(errno, EACCES);
        /* Executable, but neither ELF nor a script. */
        write_file(argv[0], "\x01\x02\x03\x04 not a program\n", 0755);
        assert_int_equal(uds_spawner_spawn(sp, sv[1], NULL), -1);
        assert_int_equal(errno, ENOEXEC);
        assert_int_equal(uds_spawner_count(sp), 0);
        assert_true(no_children());
        assert_int_equal(tu_count_open_fds(), fds);
        uds_spawner_free(sp);
    }
    tu_close_pair(sv);
}

/* ---- the client side ------------------------------------------------------------------------- */

struct client_job {
    int fd;
    char **argv;
};

static int exec_client_in_child(void *arg) {
    struct client_job *j = arg;

    setenv("PROTO", "TCP", 1);
    setenv("UNIXREMOTEEUID", "4242", 1);
    setenv("UNIXLOCALSTALE", "1", 1);
    uds_exec_client(j->fd, "unix:/run/test.sock", j->argv);
    return 111;
}

static void exec_client_gets_fds_6_and_7_and_the_client_environment(void **state) {
    char script[512], line[512], want[512], echo[8] = "";
    int sv[2];
    pid_t child;

    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    /* The socket's own number must be closed in the program: only 6 and 7 hold it. */
    snprintf(script, sizeof(script),
             "if test -e /proc/$$/fd/%d; then s=open; else s=closed; fi; "
             "echo \"$PROTO $UNIXLOCALPATH $UNIXREMOTEPATH $UNIXREMOTEPID $UNIXREMOTEEUID "
             "${UNIXLOCALSTALE-none} $s $UNIXLOCALPID\" >&7; head -c 2 <&6 >&7", sv[1]);
    char *argv[] = { "sh", "-c", script, NULL };
    struct client_job job = { .fd = sv[1], .argv = argv };
    child = tu_fork();
    if (child == 0) {
        close(sv[0]);
        _exit(exec_client_in_child(&job));
    }
    close(sv[1]);
    sv[1] = -1;
    read_line(sv[0], line, sizeof(line));
    snprintf(want, sizeof(want), "UNIX unix:/run/test.sock /run/test.sock %ld %lu none "
             "closed %ld", (long) getpid(), (unsigned long) geteuid(), (long) child);
    assert_string_equal(line, want);
    assert_int_equal(write(sv[0], "hi", 2), 2);
    read_to_end(sv[0], echo, sizeof(echo));
    assert_string_equal(echo, "hi");
    assert_int_equal(tu_wait_child(child), 0);
    tu_close_pair(sv);
}

static int missing_program_in_child(void *arg) {
    int fd = *(int *) arg;
    char *argv[] = { "no-such-program-xyz", NULL };

    setenv("PROTO", "TCP", 1);
    if (uds_exec_client(fd, "/run/test.sock", argv) != -1 || errno != ENOENT)
        return 1;
    /* fd is closed; nothing else changed. */
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
        return 2;
    if (!getenv("PROTO") || strcmp(getenv("PROTO"), "TCP") != 0)
        return 3;
    if (fcntl(6, F_GETFD) != -1 || fcntl(7, F_GETFD) != -1)
        return 4;
    return 0;
}

static void exec_client_missing_program_enoent_fd_closed(void **state) {
    int sv[2];

    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(tu_run_in_child(missing_program_in_child, &sv[1]), 0);
    tu_close_pair(sv);
}

/* ---- uds_drop_privileges() ----------------------------------------------------------------- */

static bool need_root(void) {
    if (geteuid() == 0)
        return true;
    print_message("# skip: only root can change its uid and gid (this is uid %lu)\n",
                  (unsigned long) geteuid());
    return false;
}

/* The six ids are nobody's, the groups those asked for, and root cannot come back. */
static int check_nobody(int want_groups) {
    uid_t ru, eu, su;
    gid_t rg, eg, sg, groups[64];
    int n;

    if (getresuid(&ru, &eu, &su) < 0 || ru != NOBODY || eu != NOBODY || su != NOBODY)
        return 10;
    if (getresgid(&rg, &eg, &sg) < 0 || rg != NOBODY || eg != NOBODY || sg != NOBODY)
        return 11;
    bool listed = false;
    n = getgroups(64, groups);
    for (int i = 0; i < n; i++) {
        if (groups[i] == 0)
            return 12;
        listed = listed || groups[i] == NOBODY;
    }
    /* initgroups() lists the gid given; without a name there are none. */
    if (want_groups ? !listed : n != 0)
        return 13;
    if (setuid(0) == 0 || errno != EPERM)
        return 14;
    if (setresuid(0, 0, 0) == 0 || setgid(0) == 0 || setgroups(0, NULL) == 0)
        return 15;
    return 0;
}

static int drop_with_groups(void *arg) {
    const char *name = arg;

    if (uds_drop_privileges(NOBODY, NOBODY, name) < 0)
        return 1;
    return check_nobody(1);
}

static int drop_without_groups(void *arg) {
    (void) arg;
    if (uds_drop_privileges(NOBODY, NOBODY, NULL) < 0)
        return 1;
    return check_nobody(0);
}

static void drop_privileges_becomes_nobody_for_good(void **state) {
    struct passwd *pw;
    char name[64];

    (void) state;
    if (!need_root())
        skip();
    pw = getpwuid(NOBODY);
    if (!pw) {
        print_message("# skip: no passwd entry for uid %d\n", NOBODY);
        skip();
    }
    snprintf(name, sizeof(name), "%s", pw->pw_name);
    assert_int_equal(tu_run_in_child(drop_with_groups, name), 0);
    assert_int_equal(tu_run_in_child(drop_without_groups, NULL), 0);
    /* The test process itself is untouched. */
    assert_int_equal(geteuid(), 0);
}

static int drop_as_nobody(void *arg) {
    (void) arg;
    if (uds_drop_privileges(0, 0, NULL) == 0 || errno != EPERM)
        return 1;
    return 0;
}

static void drop_privileges_without_the_right_eperm_and_bad_ids_einval(void **state) {
    (void) state;
    assert_int_equal(uds_drop_privileges((uid_t) -1, 0, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_drop_privileges(0, (gid_t) -1, NULL), -1);
    assert_int_equal(errno, EINVAL);
    if (!need_root())
        skip();
    assert_int_equal(tu_run_as_nobody(drop_as_nobody, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(program_find_searches_path_and_says_why_not),
        T(spawn_child_gets_the_ucspi_environment),
        T(spawn_peer_given_is_the_remote_one),
        T(spawn_socket_is_stdin_and_stdout_and_no_other_fd_passes),
        T(spawn_without_a_stderr_the_program_gets_dev_null_there),
        T(spawn_stderr_closed_after_the_spawner_was_made_dev_null_there),
        T(spawn_success_leaves_the_callers_errno_alone),
        T(spawn_low_limit_and_every_low_fd_taken_still_dev_null_on_stderr),
        T(spawn_program_reads_blocking_though_the_socket_was_not),
        T(spawn_signal_mask_empty_and_ignored_signals_reset),
        T(spawn_signals_ignored_behind_libcs_back_reset_too),
        T(spawn_program_has_a_process_group_of_its_own),
        T(spawn_gives_the_open_file_limit_of_when_it_was_made),
        T(spawn_never_lowers_the_callers_own_limit_for_its_other_threads),
        T(spawn_reap_reports_each_program_once_and_count_follows),
        T(spawn_reap_leaves_other_children_to_the_caller),
        T(spawn_kill_reaches_the_programs_process_group),
        T(spawner_new_bad_program_enoent_or_eacces),
        T(spawn_path_as_found_and_a_bad_fd_einval),
        T(spawn_program_not_executable_errno_and_nothing_left),
        T(exec_client_gets_fds_6_and_7_and_the_client_environment),
        T(exec_client_missing_program_enoent_fd_closed),
        T(drop_privileges_becomes_nobody_for_good),
        T(drop_privileges_without_the_right_eperm_and_bad_ids_einval),
#undef T
    };

    /* Programs by name come from here: a PATH with a directory the user may not search
     * (root's own, run as another user) would turn ENOENT into EACCES. */
    setenv("PATH", "/usr/bin:/bin", 1);
    return cmocka_run_group_tests_name("spawn", tests, NULL, NULL);
}
