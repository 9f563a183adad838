/* SPDX-License-Identifier: MIT */
/* testutil.h — fixture plumbing shared by the cmocka unit tests: per-test directories and
 * paths, open-fd counting, forked children (bounded waits, dropped to nobody), plain sockets
 * set up by hand, and driving a server from the test's thread. Nothing here checks udskit
 * itself: every helper fails the test only when its own set-up step fails. */
#ifndef UDSKIT_TESTUTIL_H
#define UDSKIT_TESTUTIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "udskit.h"

/* ---- temporary directories and paths --------------------------------------------------- */

/* Makes /tmp/udskit-NAME-XXXXXX (NAME: the test program, less "test_"), mode 0755 so that a
 * child dropped to nobody can reach it; returns the malloc'd path. */
char *tu_tmpdir_new(void);

/* Removes dir and everything below it (symlinks are not followed), then frees it; returns how
 * many files and directories were below it. NULL is a no-op. */
size_t tu_tmpdir_free(char *dir);

/* Writes "DIR/NAME" into out (size bytes) and returns out; fails the test if it does not fit. */
char *tu_path_into(char *out, size_t size, const char *dir, const char *name);

/* "DIR/NAME" in a PATH_MAX buffer that lives until the end of the enclosing block. */
#define tu_path(dir, name) tu_path_into((char[PATH_MAX]) { 0 }, PATH_MAX, (dir), (name))

/* ---- fds and plain sockets ------------------------------------------------------------- */

/* The number of fds this process has open, or -1; asserts nothing, so a child may call it. */
int tu_count_open_fds(void);

/* socketpair(AF_UNIX, type | SOCK_CLOEXEC) into sv; type may carry SOCK_NONBLOCK. */
void tu_socketpair(int type, int sv[2]);

/* Closes both ends of sv, skipping those already set to -1. */
void tu_close_pair(const int sv[2]);

/* A socket of type bound at path ("@name": abstract) without udskit, listening with backlog
 * unless backlog < 0. */
int tu_bind_unix(const char *path, int type, int backlog);

/* A blocking stream socket connected to path without udskit. */
int tu_connect_unix(const char *path);

/* The inode number of the file open at fd. */
ino_t tu_fd_inode(int fd);

/* ---- ready-made fixtures --------------------------------------------------------------- */

/* A fresh directory with the usual socket path in it, and the open fds to compare at the end. */
struct tu_fixture {
    char *dir;              /* from tu_tmpdir_new() */
    char path[PATH_MAX];    /* DIR/s.sock */
    char lock[PATH_MAX];    /* DIR/s.sock.lock */
    int fds_before;
};

/* cmocka setup: a struct tu_fixture in *state, its fds counted, alarm(20) against hangs. */
int tu_fixture_setup(void **state);

/* cmocka teardown: disarms the alarm, removes the directory, frees the fixture, then fails the
 * test if an fd opened during it is still open (a leak). */
int tu_fixture_teardown(void **state);

/* A connected stream socketpair, and the open fds before it was made. */
struct tu_pair_fixture {
    int sv[2];              /* a test that closes one sets it to -1 */
    int fds_before;
};

/* cmocka setup: a struct tu_pair_fixture in *state; sets no alarm. */
int tu_pair_setup(void **state);

/* cmocka teardown: closes the pair, frees the fixture, then fails the test on any fd leak. */
int tu_pair_teardown(void **state);

/* ---- children -------------------------------------------------------------------------- */

/* How long tu_wait_child() waits before it kills the child and fails the test. */
#define TU_CHILD_TIMEOUT_MS 10000

/* fork() after flushing stdio; the child must leave by _exit() and use no cmocka assertion
 * (it would run the rest of the suite), reporting through its exit status instead. */
pid_t tu_fork(void);

/* Reaps pid and returns its exit status; fails the test if it was killed by a signal or is
 * still running after TU_CHILD_TIMEOUT_MS (it is killed and reaped first). */
int tu_wait_child(pid_t pid);

/* SIGKILLs pid and reaps it, for teardowns; pid <= 0 is a no-op. */
void tu_kill_child(pid_t pid);

/* Runs fn(arg) in a forked child and returns what fn returned (0..255) as the child's exit
 * status. */
int tu_run_in_child(int (*fn)(void *arg), void *arg);

/* The same in a child that first drops to nobody (setgroups, setresgid, setresuid to 65534):
 * as root, the only way to see a permission check. fn returns 0..124; the test fails if the
 * drop itself fails. */
int tu_run_as_nobody(int (*fn)(void *arg), void *arg);

/* ---- time ------------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t tu_now_ms(void);

/* Sleeps ms milliseconds, resuming after signals. */
void tu_sleep_ms(int ms);

/* True if fd becomes readable (data, end of stream or error) within ms. */
bool tu_wait_readable(int fd, int ms);

/* ---- a server driven from the test's own thread ---------------------------------------- */

/* Runs s's loop until *flag reaches want (a callback counts it up); false after ms. */
bool tu_pump_until(struct uds_server *s, const int *flag, int want, int ms);
/* Connect n blocking clients to path, storing their fds in fds (the caller closes them),
 * and run s's loop now and then so that its backlog never fills. */
void tu_connect_many(struct uds_server *s, const char *path, int n, int *fds);

/* Receives up to want bytes from non-blocking fd within ms, running s's loop while none come;
 * returns the count. *ret_eof, if given, tells whether the stream ended (EOF or reset). */
size_t tu_recv_pumped(struct uds_server *s, int fd, void *buf, size_t want, int ms,
                      bool *ret_eof);

/* True if fd reaches the end of its stream within ms, after reading whatever is left. */
bool tu_sees_eof(struct uds_server *s, int fd, int ms);

/* ---- a server under test, with its clients --------------------------------------------- */

#define TU_SERVER_MAX_CLIENTS 1100

/* The part of a server test's state that every such test has: a per-test directory with the
 * socket path in it, the server, and the clients connected to it. A test's state begins with
 * it (its first member), and is passed to the callbacks as their data. */
struct tu_server {
    char *dir;              /* from tu_tmpdir_new() */
    char path[PATH_MAX];    /* DIR/s.sock */
    struct uds_server *s;   /* NULL until tu_server_start(), or once a test frees it */
    unsigned connect_flags; /* of tu_client(): UDS_CONNECT_NONBLOCK unless a test changes it */
    int clients[TU_SERVER_MAX_CLIENTS];     /* -1 once closed */
    size_t n_clients;
    pid_t child;            /* a forked server, killed by tu_server_free() if a test fails */
};

/* For cmocka setups: a zeroed test state of size bytes that begins with a struct tu_server,
 * its directory made, and alarm(30) armed against hangs. */
void *tu_server_new(size_t size);

/* For cmocka teardowns: kills the child, frees the server, closes the clients, removes the
 * socket, its lock file and the directory, disarms the alarm and frees the state (from
 * tu_server_new()); then fails the test if anything else was left in the directory. */
void tu_server_free(void *state);

/* Listens on t->path (type; the listener is taken over) and makes t->s serve it on loop (NULL:
 * a loop of its own) with opts, cbs and data. */
void tu_server_start(struct tu_server *t, struct uds_loop *loop, enum uds_socket_type type,
                     const struct uds_server_opts *opts, const struct uds_server_callbacks *cbs,
                     void *data);

/* A client connected to t->path with t->connect_flags, closed by tu_server_done(). */
int tu_client(struct tu_server *t, enum uds_socket_type type);

/* Closes fd, one of t's clients, before the end of the test. */
void tu_client_close(struct tu_server *t, int fd);

/* n blocking clients of t (tu_connect_many()); returns the first of their fds. */
int *tu_clients_many(struct tu_server *t, int n);

/* Each of the n non-blocking clients fds[i] sends len bytes from out + i * len, in pieces of
 * 1777 bytes so that the echoes interleave in odd pieces, and reads what comes back into
 * in + i * len, the server's loop running in between. Returns how many clients got all len
 * bytes back within ms. */
int tu_echo_streams(struct uds_server *s, const int *fds, int n, const char *out, char *in,
                    size_t len, int ms);

/* One turn of s's loop, waiting up to ms for an event. */
void tu_run_once(struct uds_server *s, int ms);

/* ---- memory and limits ----------------------------------------------------------------- */

/* ASan's allocator is not the one mallinfo2() describes: heap figures mean nothing there. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_HEAP_MEASURABLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_HEAP_MEASURABLE 0
#endif
#endif
#ifndef TU_HEAP_MEASURABLE
#define TU_HEAP_MEASURABLE 1
#endif

/* Bytes the malloc heap has handed out (small blocks and mmapped ones). */
size_t tu_heap_in_use(void);

/* Fills buf with len pseudo-random bytes that depend only on seed. */
void tu_fill(char *buf, size_t len, unsigned seed);

/* Raises the soft RLIMIT_NOFILE to want if the hard limit allows; true if it is now >= want. */
bool tu_raise_fd_limit(rlim_t want);

#endif
