/* SPDX-License-Identifier: MIT */
/*
 * test_relay_sides.c — unit tests of the relay (relay*.c) with a side that is not one
 * stream socket: a pipe pair (bytes both ways, an end of input passed on as a half-close,
 * backpressure from a full output pipe nobody reads, a reader that leaves without a
 * SIGPIPE), a terminal (a pty), a regular file and /dev/null as input, borrowed fds left as
 * they were; seqpacket and dgram sockets keeping their message boundaries, the dgram end
 * rules (a reply count, every message answered, a linger time), an fd passed with the first
 * bytes, the first-byte limit, and bad arguments. The relay runs on a uds_loop in the
 * test's thread; the test plays both outer ends. Every test runs twice: writes batched, and
 * UDS_RELAY_NO_BATCH.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "udskit.h"

static unsigned pass_flags;

/* Side A: the relay reads a_in and writes a_out; the test writes in_w and reads out_r.
 * Side B: the relay has b; the test is its peer. */
struct fix {
    struct uds_loop *loop;
    struct uds_relay_group *group;
    struct uds_relay *relay;
    int closes;
    struct uds_relay_info info;
    int a_in, a_out, b;
    int in_w, out_r, peer;
    int extra[4];       /* more fds a test opens, closed at teardown */
};

static int setup(void **state) {
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->a_in = f->a_out = f->b = f->in_w = f->out_r = f->peer = -1;
    for (int i = 0; i < 4; i++)
        f->extra[i] = -1;
    f->loop = uds_loop_new();
    assert_non_null(f->loop);
    signal(SIGPIPE, SIG_IGN);
    alarm(20);
    *state = f;
    return 0;
}

static void close_if(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int teardown(void **state) {
    struct fix *f = *state;

    uds_relay_group_free(f->group);
    uds_loop_free(f->loop);
    close_if(&f->in_w);
    close_if(&f->out_r);
    close_if(&f->peer);
    for (int i = 0; i < 4; i++)
        close_if(&f->extra[i]);
    free(f);
    signal(SIGPIPE, SIG_IGN);
    alarm(0);
    return 0;
}

static void on_close(struct uds_relay *relay, const struct uds_relay_info *info, void *data) {
    struct fix *f = data;

    assert_ptr_equal(relay, f->relay);
    f->closes++;
    f->info = *info;
    f->relay = NULL;
}

/* A's input and output are pipes (the test's ends non-blocking), B a socket pair. */
static void pipes_and_socket(struct fix *f, int type) {
    int in[2], out[2], sv[2];

    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
    f->a_in = in[0];
    f->in_w = in[1];
    f->a_out = out[1];
    f->out_r = out[0];
    f->b = sv[1];
    f->peer = sv[0];
    assert_int_equal(fcntl(f->out_r, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(f->peer, F_SETFL, O_NONBLOCK), 0);
}

static void start_with(struct fix *f, const struct uds_relay_opts *opts,
                       struct uds_relay_args args) {
    struct uds_relay_opts o = opts ? *opts : (struct uds_relay_opts) { .buffer_size = 0 };

    o.flags |= pass_flags;
    f->group = uds_relay_group_new(f->loop, &o);
    assert_non_null(f->group);
    args.fd_a_in = f->a_in;
    args.fd_a_out = f->a_out;
    args.fd_b = f->b;
    f->relay = uds_relay_new2(f->group, &args, on_close, f);
    assert_non_null(f->relay);
    if (!(args.flags & UDS_RELAY_BORROW_A))
        f->a_in = f->a_out = -1;    /* the relay's now */
    f->b = -1;
}

static void start(struct fix *f, unsigned flags) {
    start_with(f, NULL, (struct uds_relay_args) { .flags = flags });
}

static void run_a_while(struct fix *f, int turns) {
    for (int i = 0; i < turns; i++)
        assert_true(uds_loop_run_once(f->loop, 5) >= 0);
}

static void run_until_closed(struct fix *f) {
    for (int i = 0; i < 2000 && f->closes == 0; i++)
        assert_true(uds_loop_run_once(f->loop, 10) >= 0);
    assert_int_equal(f->closes, 1);
}

/* Read exactly len bytes from fd (non-blocking, a pipe or a socket) while running the
 * loop. */
static void read_exact(struct fix *f, int fd, char *buf, size_t len) {
    size_t got = 0;

    for (int i = 0; i < 2000 && got < len; i++) {
        if (f->relay)
            run_a_while(f, 1);
        ssize_t n = read(fd, buf + got, len - got);
        if (n > 0)
            got += (size_t) n;
        else
            assert_true(n < 0 && errno == EAGAIN);
    }
    assert_int_equal(got, len);
}

/* One message from a non-blocking socket, while running the loop. Returns its length. */
static ssize_t recv_message(struct fix *f, int fd, char *buf, size_t len) {
    for (int i = 0; i < 2000; i++) {
        if (f->relay)
            run_a_while(f, 1);
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n >= 0)
            return n;
        assert_true(errno == EAGAIN);
    }
    fail_msg("no message");
    return -1;
}

/* Whether fd reads an end of stream within a bounded number of loop turns. */
static bool sees_eof(struct fix *f, int fd) {
    char c;

    for (int i = 0; i < 2000; i++) {
        if (f->relay)
            run_a_while(f, 1);
        else
            usleep(1000);
        ssize_t n = read(fd, &c, 1);
        if (n == 0)
            return true;
        if (n > 0 || errno != EAGAIN)
            return false;
    }
    return false;
}

static bool fd_is_open(int fd) {
    return fcntl(fd, F_GETFD) >= 0;
}

static bool nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);

    assert_true(flags >= 0);
    return flags & O_NONBLOCK;
}

/* ---- pipes ---------------------------------------------------------------------------- */

static void sides_pipe_pair_moves_bytes_both_ways(void **state) {
    struct fix *f = *state;
    char buf[16];

    pipes_and_socket(f, SOCK_STREAM);
    start(f, 0);
    assert_int_equal(write(f->in_w, "ping", 4), 4);
    read_exact(f, f->peer, buf, 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(send(f->peer, "pong!", 5, 0), 5);
    read_exact(f, f->out_r, buf, 5);
    assert_memory_equal(buf, "pong!", 5);

    struct uds_relay_info info;
    uds_relay_get_info(f->relay, &info);
    assert_int_equal(info.bytes_from_a, 4);
    assert_int_equal(info.bytes_from_b, 5);
    assert_int_equal(f->closes, 0);
}

static void sides_input_eof_half_closes_b_and_output_goes_on(void **state) {
    struct fix *f = *state;
    char buf[16];

    pipes_and_socket(f, SOCK_STREAM);
    start(f, 0);
    assert_int_equal(write(f->in_w, "request", 7), 7);
    close_if(&f->in_w);
    read_exact(f, f->peer, buf, 7);
    assert_true(sees_eof(f, f->peer));     /* the end of the pipe arrived as a half-close */
    assert_int_equal(f->closes, 0);

    /* B answers after the end of A's input: the answer still flows. */
    assert_int_equal(send(f->peer, "late reply", 10, 0), 10);
    read_exact(f, f->out_r, buf, 10);
    assert_memory_equal(buf, "late reply", 10);
    assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_int_equal(f->info.bytes_from_a, 7);
    assert_int_equal(f->info.bytes_from_b, 10);
    assert_true(sees_eof(f, f->out_r));     /* taken over: closed at the end */
}

static void sides_end_with_b_ends_while_the_input_is_still_open(void **state) {
    struct fix *f = *state;
    char buf[8];

    pipes_and_socket(f, SOCK_STREAM);
    start(f, UDS_RELAY_END_WITH_B);
    assert_int_equal(send(f->peer, "bye", 3, 0), 3);
    assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
    read_exact(f, f->out_r, buf, 3);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_memory_equal(buf, "bye", 3);
    assert_true(sees_eof(f, f->out_r));
    assert_true(fd_is_open(f->in_w));       /* nobody ended A's input */
}

static void sides_borrowed_fds_stay_open_and_blocking(void **state) {
    struct fix *f = *state;
    char buf[8];

    pipes_and_socket(f, SOCK_STREAM);
    start(f, UDS_RELAY_BORROW_A | UDS_RELAY_END_WITH_B);
    assert_int_equal(write(f->in_w, "in", 2), 2);
    read_exact(f, f->peer, buf, 2);
    /* The relay reads and writes descriptions of its own: the caller's stay blocking. */
    assert_false(nonblocking(f->a_in));
    assert_false(nonblocking(f->a_out));
    assert_int_equal(send(f->peer, "out", 3, 0), 3);
    read_exact(f, f->out_r, buf, 3);
    close_if(&f->peer);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_true(fd_is_open(f->a_in));
    assert_true(fd_is_open(f->a_out));
    assert_false(nonblocking(f->a_in));
    assert_false(nonblocking(f->a_out));
    /* The caller's write end is still open: no end for the reader until it is closed. */
    assert_int_equal(read(f->out_r, buf, 1), -1);
    assert_int_equal(errno, EAGAIN);
    close_if(&f->a_out);
    assert_true(sees_eof(f, f->out_r));
    close_if(&f->a_in);
}

/* A FIFO whose reader has gone cannot be opened again for writing (ENXIO; an anonymous
 * pipe can): the relay then sets O_NONBLOCK on the caller's description, and clears it at
 * the end. */
static void sides_borrowed_fd_that_cannot_be_reopened_gets_its_flags_back(void **state) {
    struct fix *f = *state;
    char dir[] = "/tmp/uds-relay-fifo.XXXXXX", path[64];

    pipes_and_socket(f, SOCK_STREAM);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    int reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(reader >= 0);
    close_if(&f->a_out);
    f->a_out = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(f->a_out >= 0);
    close(reader);
    unlink(path);
    rmdir(dir);
    start(f, UDS_RELAY_BORROW_A);
    assert_true(nonblocking(f->a_out));
    assert_int_equal(send(f->peer, "lost", 4, 0), 4);
    run_until_closed(f);
    assert_int_equal(f->info.error, EPIPE);
    assert_int_equal(f->info.error_side, UDS_RELAY_A);
    assert_false(nonblocking(f->a_out));
    assert_false(nonblocking(f->a_in));
    close_if(&f->a_in);
    close_if(&f->a_out);
}

/* A FIFO that got its bytes and lost its last writer before the relay began: opened again
 * then, it would never report its end (Linux suppresses EPOLLHUP for a late non-blocking
 * reader); the relay must still deliver the bytes, pass the end on, and finish. */
static void sides_borrowed_fifo_whose_writer_left_before_the_relay_still_ends(void **state) {
    struct fix *f = *state;
    char dir[] = "/tmp/uds-relay-fifo.XXXXXX", path[64], buf[16];

    pipes_and_socket(f, SOCK_STREAM);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    close_if(&f->a_in);
    close_if(&f->in_w);
    f->a_in = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(f->a_in >= 0);
    int writer = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(writer >= 0);
    assert_int_equal(write(writer, "late", 4), 4);
    close(writer);
    assert_int_equal(fcntl(f->a_in, F_SETFL, 0), 0);   /* as a shell hands it over */
    unlink(path);
    rmdir(dir);
    start(f, UDS_RELAY_BORROW_A | UDS_RELAY_END_WITH_B);
    run_a_while(f, 20);
    assert_int_equal(recv(f->peer, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "late", 4);
    /* The end came through as a half-close. */
    assert_int_equal(recv(f->peer, buf, sizeof(buf), 0), 0);
    assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
    for (int i = 0; i < 2000 && f->closes == 0; i++)
        assert_true(uds_loop_run_once(f->loop, 10) >= 0);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->info.error, 0);
    assert_false(nonblocking(f->a_in));
    close_if(&f->a_in);
    close_if(&f->a_out);
}

static size_t rss_kib(void) {
    long pages = 0, rss = 0;
    FILE *fp = fopen("/proc/self/statm", "r");

    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%ld %ld", &pages, &rss), 2);
    fclose(fp);
    return (size_t) rss * (size_t) sysconf(_SC_PAGESIZE) / 1024;
}

static void sides_full_output_pipe_stops_reading_b_and_memory_stays_flat(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .buffer_size = 64 << 10 };
    static char chunk[1 << 16];
    size_t offered = 0, sent = 0;
    int blocked_turns = 0;

    pipes_and_socket(f, SOCK_STREAM);
    int pipe_size = fcntl(f->out_r, F_GETPIPE_SZ);
    assert_true(pipe_size > 0);
    start_with(f, &opts, (struct uds_relay_args) { .flags = 0 });
    size_t before = rss_kib();
    /* B's peer offers 64 MiB; nobody reads A's output. Its writes must end up refused
     * (EAGAIN) for good, with the relay holding a bounded amount. */
    for (int i = 0; i < 1024 && blocked_turns < 30; i++) {
        ssize_t n = send(f->peer, chunk, sizeof(chunk), MSG_DONTWAIT);
        offered += sizeof(chunk);
        if (n > 0) {
            sent += (size_t) n;
            blocked_turns = 0;
        } else {
            assert_true(errno == EAGAIN);
            blocked_turns++;
        }
        run_a_while(f, 1);
    }
    assert_int_equal(blocked_turns, 30);
    struct uds_relay_info info;
    uds_relay_get_info(f->relay, &info);
    /* What left the socket is in the output pipe, the relay's buffer or its own pipe. */
    assert_true(info.bytes_from_b <= (size_t) pipe_size + 3 * opts.buffer_size);
    assert_true(sent < (8u << 20));
    assert_true(rss_kib() < before + 4096);
    print_message("offered %zu, sent %zu, relayed %llu, RSS +%zd KiB\n", offered, sent,
                  (unsigned long long) info.bytes_from_b, (ssize_t) (rss_kib() - before));

    /* The reader comes back: every byte arrives. */
    size_t got = 0;
    char buf[1 << 16];
    for (int i = 0; i < 20000 && got < sent; i++) {
        run_a_while(f, 1);
        ssize_t n = read(f->out_r, buf, sizeof(buf));
        if (n > 0)
            got += (size_t) n;
    }
    assert_int_equal(got, sent);
}

/* Whoever reads A's output leaves: the relay ends with EPIPE on A, and the process lives
 * though SIGPIPE is not ignored. */
static void sides_output_reader_gone_is_epipe_without_sigpipe(void **state) {
    struct fix *f = *state;

    signal(SIGPIPE, SIG_DFL);
    pipes_and_socket(f, SOCK_STREAM);
    start(f, 0);
    close_if(&f->out_r);
    assert_int_equal(send(f->peer, "anyone?", 7, 0), 7);
    run_until_closed(f);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(f->info.error, EPIPE);
    assert_int_equal(f->info.error_side, UDS_RELAY_A);
    assert_true(f->info.error_writing);
    sigset_t pending;
    assert_int_equal(sigpending(&pending), 0);
    assert_false(sigismember(&pending, SIGPIPE));
}

/* ---- a terminal, a file, /dev/null ------------------------------------------------------ */

/* A pty: the master is the test's (the user at the keyboard), the slave side A. Canonical
 * input without echo, output unchanged. */
static void open_pty(struct fix *f, int *ret_master) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios t;

    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(s >= 0);
    assert_int_equal(tcgetattr(s, &t), 0);
    t.c_lflag &= ~(tcflag_t) (ECHO | ECHONL);
    t.c_oflag &= ~(tcflag_t) OPOST;
    assert_int_equal(tcsetattr(s, TCSANOW, &t), 0);
    assert_int_equal(fcntl(m, F_SETFL, O_NONBLOCK), 0);
    f->a_in = f->a_out = s;
    f->extra[0] = s;
    f->extra[1] = m;
    *ret_master = m;
}

static void sides_pty_lines_in_output_out_and_eof_at_ctrl_d(void **state) {
    struct fix *f = *state;
    int sv[2], master;
    char buf[32];

    open_pty(f, &master);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->b = sv[1];
    f->peer = sv[0];
    assert_int_equal(fcntl(f->peer, F_SETFL, O_NONBLOCK), 0);
    start(f, UDS_RELAY_BORROW_A);
    assert_int_equal(write(master, "typed line\n", 11), 11);
    read_exact(f, f->peer, buf, 11);
    assert_memory_equal(buf, "typed line\n", 11);
    assert_int_equal(send(f->peer, "shown", 5, 0), 5);
    read_exact(f, master, buf, 5);
    assert_memory_equal(buf, "shown", 5);
    assert_false(nonblocking(f->a_in));     /* the terminal the shell shares stays blocking */

    struct termios t;
    assert_int_equal(tcgetattr(f->a_in, &t), 0);
    assert_int_equal(write(master, &t.c_cc[VEOF], 1), 1);   /* ^D at the start of a line */
    assert_true(sees_eof(f, f->peer));
    close_if(&f->peer);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_int_equal(f->info.bytes_from_a, 11);
    assert_true(fd_is_open(f->a_in));
}

static uint8_t byte_at(size_t i) {
    return (uint8_t) ((i * 2654435761u) >> 13);
}

static void sides_regular_file_input_is_read_to_its_end(void **state) {
    struct fix *f = *state;
    const size_t len = 3u << 20;
    char path[] = "/tmp/uds-relay-file.XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    uint8_t *data = malloc(len), buf[65536];
    int out[2];

    assert_true(fd >= 0);
    unlink(path);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = byte_at(i);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->a_in = fd;
    f->a_out = out[1];
    f->out_r = out[0];
    f->b = sv[1];
    f->peer = sv[0];
    assert_int_equal(fcntl(f->peer, F_SETFL, O_NONBLOCK), 0);
    start(f, 0);

    /* A file cannot be waited for: the relay reads it as fast as B takes it, to its end. */
    size_t got = 0;
    bool eof = false, same = true;
    for (int i = 0; i < 20000 && !eof; i++) {
        run_a_while(f, 1);
        ssize_t n = recv(f->peer, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0)
            eof = true;
        for (ssize_t j = 0; j < n; j++)
            same = same && buf[j] == data[got + (size_t) j];
        if (n > 0)
            got += (size_t) n;
    }
    assert_true(eof);
    assert_int_equal(got, len);
    assert_true(same);
    close_if(&f->peer);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_int_equal(f->info.bytes_from_a, len);
    free(data);
}

static void sides_dev_null_input_ends_at_once(void **state) {
    struct fix *f = *state;
    int sv[2], out[2];

    f->a_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(f->a_in >= 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    f->a_out = out[1];
    f->out_r = out[0];
    assert_int_equal(fcntl(f->out_r, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->b = sv[1];
    f->peer = sv[0];
    assert_int_equal(fcntl(f->peer, F_SETFL, O_NONBLOCK), 0);
    start(f, UDS_RELAY_BORROW_A);
    f->extra[0] = f->a_in;      /* borrowed: ours to close */
    f->extra[1] = f->a_out;
    assert_true(sees_eof(f, f->peer));
    assert_int_equal(send(f->peer, "ok", 2, 0), 2);
    close_if(&f->peer);
    char buf[2];
    read_exact(f, f->out_r, buf, 2);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
}

/* ---- messages --------------------------------------------------------------------------- */

static void sides_seqpacket_both_sides_keep_message_boundaries(void **state) {
    struct fix *f = *state;
    int a[2], b[2];
    char buf[16];

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, b), 0);
    f->a_in = f->a_out = a[1];
    f->extra[0] = a[0];
    f->b = b[1];
    f->peer = b[0];
    /* Queued before the relay starts, so that one read could take them all if it did not
     * keep boundaries. */
    assert_int_equal(send(a[0], "a", 1, 0), 1);
    assert_int_equal(send(a[0], "bb", 2, 0), 2);
    assert_int_equal(send(a[0], "ccc", 3, 0), 3);
    start(f, 0);
    for (size_t len = 1; len <= 3; len++)
        assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), (ssize_t) len);
    assert_int_equal(send(f->peer, "xy", 2, 0), 2);
    assert_int_equal(send(f->peer, "z", 1, 0), 1);
    assert_int_equal(recv_message(f, a[0], buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "xy", 2);
    assert_int_equal(recv_message(f, a[0], buf, sizeof(buf)), 1);
    assert_memory_equal(buf, "z", 1);

    struct uds_relay_info info;
    uds_relay_get_info(f->relay, &info);
    assert_int_equal(info.messages_from_a, 3);
    assert_int_equal(info.messages_from_b, 2);
}

static void sides_each_read_of_a_pipe_is_one_seqpacket_message(void **state) {
    struct fix *f = *state;
    char buf[16];

    pipes_and_socket(f, SOCK_SEQPACKET);
    start(f, 0);
    assert_int_equal(write(f->in_w, "one", 3), 3);
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 3);
    assert_int_equal(write(f->in_w, "two!", 4), 4);
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "two!", 4);
    /* The end of the pipe: B reads the end of the stream. */
    close_if(&f->in_w);
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 0);
}

static void sides_message_longer_than_the_buffer_is_cut_and_counted(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .buffer_size = 1024 };
    static char big[3000], buf[3000];

    pipes_and_socket(f, SOCK_SEQPACKET);
    start_with(f, &opts, (struct uds_relay_args) { .flags = 0 });
    memset(big, 'm', sizeof(big));
    assert_int_equal(send(f->peer, big, sizeof(big), 0), (ssize_t) sizeof(big));
    assert_int_equal(send(f->peer, "next", 4, 0), 4);
    read_exact(f, f->out_r, buf, 1024 + 4);
    assert_memory_equal(buf + 1024, "next", 4);

    struct uds_relay_info info;
    uds_relay_get_info(f->relay, &info);
    assert_int_equal(info.messages_cut, 1);
    assert_int_equal(info.messages_from_b, 2);
}

static void sides_dgram_ends_after_max_replies_though_input_goes_on(void **state) {
    struct fix *f = *state;
    char buf[16];

    pipes_and_socket(f, SOCK_DGRAM);
    start_with(f, NULL, (struct uds_relay_args) { .max_replies = 1 });
    assert_int_equal(write(f->in_w, "ping", 4), 4);
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 4);
    assert_int_equal(send(f->peer, "r1", 2, 0), 2);
    assert_int_equal(send(f->peer, "r2", 2, 0), 2);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_int_equal(f->info.messages_from_b, 1);
    read_exact(f, f->out_r, buf, 2);
    assert_memory_equal(buf, "r1", 2);
    assert_true(sees_eof(f, f->out_r));     /* and nothing of r2 */
}

static void sides_dgram_ends_once_every_message_has_its_reply(void **state) {
    struct fix *f = *state;
    char buf[16];

    pipes_and_socket(f, SOCK_DGRAM);
    start_with(f, NULL, (struct uds_relay_args) { .max_replies = 0 });
    assert_int_equal(write(f->in_w, "a", 1), 1);
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 1);
    assert_int_equal(write(f->in_w, "b", 1), 1);
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 1);
    close_if(&f->in_w);
    assert_int_equal(send(f->peer, "A", 1, 0), 1);
    read_exact(f, f->out_r, buf, 1);
    run_a_while(f, 20);
    assert_int_equal(f->closes, 0);         /* one reply still to come */
    assert_int_equal(send(f->peer, "B", 1, 0), 1);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_int_equal(f->info.messages_from_a, 0);   /* a pipe's reads are not messages */
    assert_int_equal(f->info.messages_from_b, 2);
}

static uint64_t now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void sides_dgram_linger_ends_it_when_b_stays_quiet(void **state) {
    struct fix *f = *state;
    char buf[16];

    pipes_and_socket(f, SOCK_DGRAM);
    start_with(f, NULL, (struct uds_relay_args) { .linger_ms = 150 });
    assert_int_equal(write(f->in_w, "a", 1), 1);
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 1);
    assert_int_equal(write(f->in_w, "b", 1), 1);
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 1);
    close_if(&f->in_w);
    run_a_while(f, 10);
    /* One reply, and no more: the linger time counts from it. */
    assert_int_equal(send(f->peer, "A", 1, 0), 1);
    read_exact(f, f->out_r, buf, 1);
    uint64_t replied = now_ms();
    run_until_closed(f);
    uint64_t waited = now_ms() - replied;
    assert_int_equal(f->info.error, 0);
    assert_int_equal(f->info.messages_from_b, 1);
    assert_true(waited >= 120);
    assert_true(waited < 2000);
}

/* ---- the first bytes: prefix, fds ------------------------------------------------------- */

static int file_with(const char *content) {
    char path[] = "/tmp/uds-relay-pass.XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);

    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
    return fd;
}

/* One recvmsg on the peer: the bytes and at most one fd (-1 if none). */
static ssize_t recv_with_fd(struct fix *f, char *buf, size_t len, int *ret_fd) {
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int))];
    } control;

    for (int i = 0; i < 2000; i++) {
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = control.bytes,
                              .msg_controllen = sizeof(control.bytes) };
        run_a_while(f, 1);
        ssize_t n = recvmsg(f->peer, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EAGAIN)
            continue;
        *ret_fd = -1;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (c && c->cmsg_type == SCM_RIGHTS)
            memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
        return n;
    }
    fail_msg("nothing came");
    return -1;
}

static void sides_fd_passed_with_the_first_bytes_arrives_usable(void **state) {
    struct fix *f = *state;
    int file = file_with("the secret"), got_fd;
    char buf[32];

    pipes_and_socket(f, SOCK_STREAM);
    start_with(f, NULL, (struct uds_relay_args) { .fds_to_pass = &file, .n_fds_to_pass = 1 });
    close(file);    /* the relay has its own copy */
    assert_int_equal(write(f->in_w, "hi", 2), 2);
    assert_int_equal(recv_with_fd(f, buf, sizeof(buf), &got_fd), 2);
    assert_memory_equal(buf, "hi", 2);
    assert_true(got_fd >= 0);
    assert_int_equal(pread(got_fd, buf, sizeof(buf), 0), 10);
    assert_memory_equal(buf, "the secret", 10);
    close(got_fd);
    /* Only once. */
    assert_int_equal(write(f->in_w, "more", 4), 4);
    assert_int_equal(recv_with_fd(f, buf, sizeof(buf), &got_fd), 4);
    assert_int_equal(got_fd, -1);
}

static void sides_fd_with_no_input_goes_with_one_nul_byte(void **state) {
    struct fix *f = *state;
    int file = file_with("x"), got_fd, sv[2], out[2];
    char buf[8];

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    f->b = sv[1];
    f->peer = sv[0];
    f->a_out = out[1];
    f->out_r = out[0];
    f->a_in = -1;       /* no input at all */
    start_with(f, NULL, (struct uds_relay_args) { .fds_to_pass = &file, .n_fds_to_pass = 1 });
    close(file);
    assert_int_equal(recv_with_fd(f, buf, sizeof(buf), &got_fd), 1);
    assert_int_equal(buf[0], '\0');
    assert_true(got_fd >= 0);
    close(got_fd);
    assert_true(sees_eof(f, f->peer));
}

static void sides_no_input_sends_the_prefix_then_half_closes(void **state) {
    struct fix *f = *state;
    int sv[2], out[2];
    char buf[16];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
    f->b = sv[1];
    f->peer = sv[0];
    assert_int_equal(fcntl(f->peer, F_SETFL, O_NONBLOCK), 0);
    f->a_out = out[1];
    f->out_r = out[0];
    f->a_in = -1;
    start_with(f, NULL, (struct uds_relay_args) { .prefix = "request", .prefix_len = 7 });
    read_exact(f, f->peer, buf, 7);
    assert_memory_equal(buf, "request", 7);
    assert_true(sees_eof(f, f->peer));
    assert_int_equal(send(f->peer, "reply", 5, 0), 5);
    read_exact(f, f->out_r, buf, 5);
    close_if(&f->peer);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
}

static void sides_empty_prefix_is_an_empty_datagram(void **state) {
    struct fix *f = *state;
    char buf[8];

    pipes_and_socket(f, SOCK_DGRAM);
    close_if(&f->in_w);
    close_if(&f->a_in);
    f->a_in = -1;
    start_with(f, NULL, (struct uds_relay_args) { .prefix = "", .max_replies = 1 });
    assert_int_equal(recv_message(f, f->peer, buf, sizeof(buf)), 0);
    assert_int_equal(send(f->peer, "", 0, 0), 0);   /* an empty reply is a reply */
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_int_equal(f->info.messages_from_b, 1);
}

/* ---- the first-byte limit ---------------------------------------------------------------- */

static void sides_silent_pipe_input_meets_the_first_byte_limit(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .first_byte_timeout_ms = 50 };

    pipes_and_socket(f, SOCK_STREAM);
    start_with(f, &opts, (struct uds_relay_args) { .flags = 0 });
    run_until_closed(f);
    assert_int_equal(f->info.error, ETIMEDOUT);
    assert_int_equal(f->info.error_side, UDS_RELAY_A);
}

static void sides_no_input_has_no_first_byte_limit(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .first_byte_timeout_ms = 30 };
    char buf[8];

    pipes_and_socket(f, SOCK_STREAM);
    close_if(&f->in_w);
    close_if(&f->a_in);
    f->a_in = -1;
    start_with(f, &opts, (struct uds_relay_args) { .prefix = "q", .prefix_len = 1 });
    read_exact(f, f->peer, buf, 1);
    run_a_while(f, 30);     /* 150 ms and more */
    assert_int_equal(f->closes, 0);
    assert_int_equal(uds_relay_set_first_byte_timeout(f->relay, 10), 0);
    run_a_while(f, 10);
    assert_int_equal(f->closes, 0);
}

/* ---- arguments -------------------------------------------------------------------------- */

static void sides_bad_arguments_fail_and_consume_only_what_is_taken(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts small = { .buffer_size = 8 };
    int fd = 0;

    small.flags |= pass_flags;
    f->group = uds_relay_group_new(f->loop, &small);
    assert_non_null(f->group);
    assert_null(uds_relay_new2(f->group, NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);

    /* Borrowed A is never closed, B always is. */
    pipes_and_socket(f, SOCK_STREAM);
    struct uds_relay_args args = {
        .fd_a_in = f->a_in, .fd_a_out = f->a_out, .fd_b = f->b,
        .prefix = "longer than eight", .prefix_len = 17, .flags = UDS_RELAY_BORROW_A,
    };
    assert_null(uds_relay_new2(f->group, &args, NULL, NULL));
    assert_int_equal(errno, EMSGSIZE);
    assert_true(fd_is_open(f->a_in));
    assert_true(fd_is_open(f->a_out));
    assert_false(fd_is_open(f->b));

    /* Taken over: closed on failure too. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    args = (struct uds_relay_args) { .fd_a_in = f->a_in, .fd_a_out = f->a_out, .fd_b = sv[0],
                                     .flags = 1u << 20 };
    assert_null(uds_relay_new2(f->group, &args, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_false(fd_is_open(f->a_in));
    assert_false(fd_is_open(f->a_out));
    assert_false(fd_is_open(sv[0]));
    close(sv[1]);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    args = (struct uds_relay_args) { .fd_a_in = sv[0], .fd_a_out = sv[0], .fd_b = sv[1],
                                     .fds_to_pass = &fd, .n_fds_to_pass = UDS_MAX_FDS + 1 };
    assert_null(uds_relay_new2(f->group, &args, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_false(fd_is_open(sv[0]));
    assert_false(fd_is_open(sv[1]));

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    args = (struct uds_relay_args) { .fd_a_in = sv[0], .fd_a_out = sv[0], .fd_b = sv[1],
                                     .linger_ms = -1 };
    assert_null(uds_relay_new2(f->group, &args, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_false(fd_is_open(sv[0]));
    f->a_in = f->a_out = f->b = -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(sides_pipe_pair_moves_bytes_both_ways),
        T(sides_input_eof_half_closes_b_and_output_goes_on),
        T(sides_end_with_b_ends_while_the_input_is_still_open),
        T(sides_borrowed_fds_stay_open_and_blocking),
        T(sides_borrowed_fd_that_cannot_be_reopened_gets_its_flags_back),
        T(sides_borrowed_fifo_whose_writer_left_before_the_relay_still_ends),
        T(sides_full_output_pipe_stops_reading_b_and_memory_stays_flat),
        T(sides_output_reader_gone_is_epipe_without_sigpipe),
        T(sides_pty_lines_in_output_out_and_eof_at_ctrl_d),
        T(sides_regular_file_input_is_read_to_its_end),
        T(sides_dev_null_input_ends_at_once),
        T(sides_seqpacket_both_sides_keep_message_boundaries),
        T(sides_each_read_of_a_pipe_is_one_seqpacket_message),
        T(sides_message_longer_than_the_buffer_is_cut_and_counted),
        T(sides_dgram_ends_after_max_replies_though_input_goes_on),
        T(sides_dgram_ends_once_every_message_has_its_reply),
        T(sides_dgram_linger_ends_it_when_b_stays_quiet),
        T(sides_fd_passed_with_the_first_bytes_arrives_usable),
        T(sides_fd_with_no_input_goes_with_one_nul_byte),
        T(sides_no_input_sends_the_prefix_then_half_closes),
        T(sides_empty_prefix_is_an_empty_datagram),
        T(sides_silent_pipe_input_meets_the_first_byte_limit),
        T(sides_no_input_has_no_first_byte_limit),
        T(sides_bad_arguments_fail_and_consume_only_what_is_taken),
#undef T
    };

    int failed = cmocka_run_group_tests_name("relay sides, writes batched", tests, NULL, NULL);
    pass_flags = UDS_RELAY_NO_BATCH;
    failed += cmocka_run_group_tests_name("relay sides, one write at a time", tests, NULL,
                                          NULL);
    return failed;
}
