/* SPDX-License-Identifier: MIT */
/* testutil.c — the fixture plumbing declared in testutil.h. Linked into every unit test; it
 * tests nothing itself, and its name keeps it out of the tests/unit/test_*.c glob. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

/* A child's exit status meaning "could not become nobody", out of the range fn may use. */
#define EXIT_NO_NOBODY 125

/* ---- temporary directories and paths --------------------------------------------------- */

char *tu_tmpdir_new(void) {
    const char *name = program_invocation_short_name;
    char *dir = NULL;

    if (strncmp(name, "test_", 5) == 0)
        name += 5;
    assert_true(asprintf(&dir, "/tmp/udskit-%s-XXXXXX", name) > 0);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    return dir;
}

/* Entries below the top directory that remove_entry() was given: nftw() passes no context. */
static size_t removed_below;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void) st;
    (void) flag;
    if (ftw->level > 0)
        removed_below++;
    return remove(path);
}

size_t tu_tmpdir_free(char *dir) {
    if (!dir)
        return 0;
    removed_below = 0;
    /* Depth first, so that each directory is empty when its turn comes. */
    (void) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return removed_below;
}

char *tu_path_into(char *out, size_t size, const char *dir, const char *name) {
    int n = snprintf(out, size, "%s/%s", dir, name);

    assert_true(n >= 0 && (size_t) n < size);
    return out;
}

/* ---- fds and plain sockets ------------------------------------------------------------- */

int tu_count_open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    /* The count includes the fd of d itself: the same one every time. */
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

void tu_socketpair(int type, int sv[2]) {
    assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
}

void tu_close_pair(const int sv[2]) {
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
}

int tu_bind_unix(const char *path, int type, int backlog) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t len = sizeof(sa);
    size_t n = strlen(path);
    int fd;

    assert_true(n > 0 && n < sizeof(sa.sun_path));
    if (path[0] == '@') {
        /* Abstract: a leading NUL, and only the address length says where the name ends. */
        memcpy(sa.sun_path + 1, path + 1, n - 1);
        len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(sa.sun_path, path, n + 1);
    }
    fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, len), 0);
    if (backlog >= 0)
        assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

int tu_connect_unix(const char *path) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    assert_true(strlen(path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    return fd;
}

ino_t tu_fd_inode(int fd) {
    struct stat st;

    assert_int_equal(fstat(fd, &st), 0);
    return st.st_ino;
}

/* ---- ready-made fixtures --------------------------------------------------------------- */

int tu_fixture_setup(void **state) {
    struct tu_fixture *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->dir = tu_tmpdir_new();
    tu_path_into(fx->path, sizeof(fx->path), fx->dir, "s.sock");
    tu_path_into(fx->lock, sizeof(fx->lock), fx->dir, "s.sock.lock");
    fx->fds_before = tu_count_open_fds();
    alarm(20);
    *state = fx;
    return 0;
}

int tu_fixture_teardown(void **state) {
    struct tu_fixture *fx = *state;
    int before = fx->fds_before, after = tu_count_open_fds();

    alarm(0);
    tu_tmpdir_free(fx->dir);
    free(fx);
    /* Every test releases what it opened: anything left is a leak in the library. */
    assert_int_equal(after, before);
    return 0;
}

int tu_pair_setup(void **state) {
    struct tu_pair_fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->fds_before = tu_count_open_fds();
    tu_socketpair(SOCK_STREAM, f->sv);
    *state = f;
    return 0;
}

int tu_pair_teardown(void **state) {
    struct tu_pair_fixture *f = *state;
    int before = f->fds_before, after;

    tu_close_pair(f->sv);
    free(f);
    /* Nothing the test received may still be open. */
    after = tu_count_open_fds();
    assert_int_equal(after, before);
    return 0;
}

/* ---- children -------------------------------------------------------------------------- */

pid_t tu_fork(void) {
    pid_t pid;

    /* Output still buffered at the fork would be written by both processes. */
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    return pid;
}

int tu_wait_child(pid_t pid) {
    uint64_t end = tu_now_ms() + TU_CHILD_TIMEOUT_MS;
    int status = 0, delay_ms = 1;
    pid_t r;

    for (;;) {
        r = waitpid(pid, &status, WNOHANG);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != 0)
            break;
        if (tu_now_ms() >= end) {
            tu_kill_child(pid);
            fail_msg("child %d still running after %d ms", (int) pid, TU_CHILD_TIMEOUT_MS);
        }
        tu_sleep_ms(delay_ms);
        if (delay_ms < 16)
            delay_ms *= 2;
    }
    assert_int_equal(r, pid);
    if (!WIFEXITED(status))
        fail_msg("child %d killed by signal %d", (int) pid, WTERMSIG(status));
    return WEXITSTATUS(status);
}

void tu_kill_child(pid_t pid) {
    if (pid <= 0)
        return;
    (void) kill(pid, SIGKILL);
    (void) waitpid(pid, NULL, 0);
}

int tu_run_in_child(int (*fn)(void *arg), void *arg) {
    pid_t pid = tu_fork();

    if (pid == 0)
        _exit(fn(arg));
    return tu_wait_child(pid);
}

struct nobody_call {
    int (*fn)(void *arg);
    void *arg;
};

static int call_as_nobody(void *arg) {
    struct nobody_call *call = arg;

    /* Groups first: once the uid is gone, setgroups and setresgid are refused. */
    if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
        setresuid(65534, 65534, 65534) < 0)
        return EXIT_NO_NOBODY;
    return call->fn(call->arg);
}

int tu_run_as_nobody(int (*fn)(void *arg), void *arg) {
    struct nobody_call call = { .fn = fn, .arg = arg };
    int status = tu_run_in_child(call_as_nobody, &call);

    if (status == EXIT_NO_NOBODY)
        fail_msg("the child could not drop its privileges to nobody (65534)");
    return status;
}

/* ---- time ------------------------------------------------------------------------------ */

uint64_t tu_now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

void tu_sleep_ms(int ms) {
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

bool tu_wait_readable(int fd, int ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, ms) == 1;
}

/* ---- a server driven from the test's own thread ---------------------------------------- */

bool tu_pump_until(struct uds_server *s, const int *flag, int want, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    while (*flag < want) {
        uint64_t now = tu_now_ms();
        if (now >= end)
            return false;
        tu_run_once(s, (int) (end - now));
    }
    return true;
}

void tu_connect_many(struct uds_server *s, const char *path, int n, int *fds) {
    for (int i = 0; i < n; i++) {
        fds[i] = uds_connect(path, NULL);
        assert_true(fds[i] >= 0);
        if (i % 64 == 63)
            tu_run_once(s, 0);
    }
}

size_t tu_recv_pumped(struct uds_server *s, int fd, void *buf, size_t want, int ms,
                      bool *ret_eof) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;
    size_t got = 0;

    if (ret_eof)
        *ret_eof = false;
    while (got < want || (ret_eof && want == 0)) {
        ssize_t n = recv(fd, (char *) buf + got, want - got, 0);
        if (n > 0) {
            got += (size_t) n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            if (ret_eof)
                *ret_eof = true;
            break;
        }
        if (tu_now_ms() >= end)
            break;
        tu_run_once(s, 5);
    }
    return got;
}

bool tu_sees_eof(struct uds_server *s, int fd, int ms) {
    char buf[4096];
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    for (;;) {
        bool eof;
        (void) tu_recv_pumped(s, fd, buf, sizeof(buf), 10, &eof);
        if (eof)
            return true;
        if (tu_now_ms() >= end)
            return false;
    }
}

/* ---- a server under test, with its clients --------------------------------------------- */

void *tu_server_new(size_t size) {
    struct tu_server *t = calloc(1, size);

    assert_true(size >= sizeof(*t));
    assert_non_null(t);
    t->connect_flags = UDS_CONNECT_NONBLOCK;
    t->dir = tu_tmpdir_new();
    tu_path_into(t->path, sizeof(t->path), t->dir, "s.sock");
    alarm(30);
    return t;
}

void tu_server_free(void *state) {
    struct tu_server *t = state;

    tu_kill_child(t->child);
    uds_server_free(t->s);
    for (size_t i = 0; i < t->n_clients; i++) {
        if (t->clients[i] >= 0)
            close(t->clients[i]);
    }
    (void) unlink(t->path);
    (void) unlink(tu_path(t->dir, "s.sock.lock"));
    size_t left = tu_tmpdir_free(t->dir);
    free(t);
    alarm(0);
    assert_int_equal(left, 0);  /* nothing else was left in the directory */
}

void tu_server_start(struct tu_server *t, struct uds_loop *loop, enum uds_socket_type type,
                     const struct uds_server_opts *opts, const struct uds_server_callbacks *cbs,
                     void *data) {
    struct uds_listen_opts lo = { .type = type };
    struct uds_listener l;

    assert_true(uds_listen(t->path, &lo, &l, NULL) >= 0);
    t->s = uds_server_new(loop, &l, opts, cbs, data);
    assert_non_null(t->s);
    assert_int_equal(l.fd, -1);     /* taken over */
}

int tu_client(struct tu_server *t, enum uds_socket_type type) {
    struct uds_connect_opts o = { .type = type, .flags = t->connect_flags };
    int fd = uds_connect(t->path, &o);

    assert_true(fd >= 0);
    assert_true(t->n_clients < TU_SERVER_MAX_CLIENTS);
    t->clients[t->n_clients++] = fd;
    return fd;
}

void tu_client_close(struct tu_server *t, int fd) {
    for (size_t i = 0; i < t->n_clients; i++) {
        if (t->clients[i] == fd)
            t->clients[i] = -1;
    }
    close(fd);
}

int *tu_clients_many(struct tu_server *t, int n) {
    int *fds = t->clients + t->n_clients;

    assert_true(n >= 0 && (size_t) n <= TU_SERVER_MAX_CLIENTS - t->n_clients);
    tu_connect_many(t->s, t->path, n, fds);
    t->n_clients += (size_t) n;
    return fds;
}

int tu_echo_streams(struct uds_server *s, const int *fds, int n, const char *out, char *in,
                    size_t len, int ms) {
    size_t *sent = calloc((size_t) n, sizeof(*sent)), *got = calloc((size_t) n, sizeof(*got));
    uint64_t end = tu_now_ms() + (uint64_t) ms;
    int complete = 0;

    assert_non_null(sent);
    assert_non_null(got);
    while (complete < n && tu_now_ms() < end) {
        tu_run_once(s, 1);
        complete = 0;
        for (int i = 0; i < n; i++) {
            if (sent[i] < len) {
                size_t chunk = len - sent[i] < 1777 ? len - sent[i] : 1777;
                ssize_t k = send(fds[i], out + i * len + sent[i], chunk, MSG_NOSIGNAL);
                if (k > 0)
                    sent[i] += (size_t) k;
            }
            ssize_t k = recv(fds[i], in + i * len + got[i], len - got[i], 0);
            if (k > 0)
                got[i] += (size_t) k;
            if (got[i] == len)
                complete++;
        }
    }
    free(sent);
    free(got);
    return complete;
}

void tu_run_once(struct uds_server *s, int ms) {
    assert_true(uds_loop_run_once(uds_server_loop(s), ms) >= 0);
}

/* ---- memory and limits ----------------------------------------------------------------- */

size_t tu_heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

void tu_fill(char *buf, size_t len, unsigned seed) {
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char) (x >> 16);
    }
}

bool tu_raise_fd_limit(rlim_t want) {
    struct rlimit rl;

    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < want && rl.rlim_max >= want) {
        rl.rlim_cur = want;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    return rl.rlim_cur >= want;
}
