/* SPDX-License-Identifier: MIT */
/*
 * test_relay.c — unit tests of the relay (relay.c): bytes both ways, half-close passed on,
 * large transfers byte for byte with and without splice (Unix socketpairs and TCP
 * loopback), the prefix, backpressure, a vanished peer, the idle timeout, freeing, and
 * bad arguments; many relays writing in one wakeup, and a relay freed while its write
 * waits in the batch. Outer ends are driven by this thread or by helper threads; the relay
 * runs on a uds_loop in the test's thread. Every test runs twice: with writes batched
 * (the default) and with UDS_RELAY_NO_BATCH.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "udskit.h"

/* Flags every test adds to its relay options: 0 or UDS_RELAY_NO_BATCH, one pass each. */
static unsigned pass_flags;

/* One relay between two socket pairs: outer[0] <-> inner[0] =relay= inner[1] <-> outer[1].
 * The test talks through outer[0] (side A's peer) and outer[1] (side B's peer). */
struct fix {
    struct uds_loop *loop;
    struct uds_relay_group *group;
    int outer[2];
    int inner[2];
    struct uds_relay *relay;
    int closes;
    struct uds_relay_info info;
};

static int setup(void **state) {
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->outer[0] = f->outer[1] = f->inner[0] = f->inner[1] = -1;
    f->loop = uds_loop_new();
    assert_non_null(f->loop);
    /* As `uds` does: splice() into a socket can raise SIGPIPE, so the relay splices only
     * where it is ignored. */
    signal(SIGPIPE, SIG_IGN);
    alarm(20);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fix *f = *state;

    uds_relay_group_free(f->group);
    uds_loop_free(f->loop);
    for (int i = 0; i < 2; i++) {
        if (f->outer[i] >= 0)
            close(f->outer[i]);
    }
    free(f);
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

static void unix_pairs(struct fix *f) {
    for (int i = 0; i < 2; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        f->outer[i] = sv[0];
        f->inner[i] = sv[1];
    }
}

/* A connected TCP pair over loopback. */
static void tcp_pair(int *ret_a, int *ret_b) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *) &sa, &len), 0);
    *ret_a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(*ret_a >= 0);
    assert_int_equal(connect(*ret_a, (struct sockaddr *) &sa, sizeof(sa)), 0);
    *ret_b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(*ret_b >= 0);
    close(l);
}

static void tcp_pairs(struct fix *f) {
    for (int i = 0; i < 2; i++)
        tcp_pair(&f->outer[i], &f->inner[i]);
}

static struct uds_relay_group *new_group(struct fix *f, const struct uds_relay_opts *opts) {
    struct uds_relay_opts o = opts ? *opts : (struct uds_relay_opts) { .buffer_size = 0 };

    o.flags |= pass_flags;
    return uds_relay_group_new(f->loop, &o);
}

static void start(struct fix *f, const struct uds_relay_opts *opts, const void *prefix,
                  size_t prefix_len) {
    f->group = new_group(f, opts);
    assert_non_null(f->group);
    f->relay = uds_relay_new(f->group, f->inner[0], f->inner[1], prefix, prefix_len, on_close,
                             f);
    assert_non_null(f->relay);
    f->inner[0] = f->inner[1] = -1;     /* the relay's now */
    assert_int_equal(uds_relay_group_count(f->group), 1);
}

/* Run the loop until the relay has closed (bounded). */
static void run_until_closed(struct fix *f) {
    for (int i = 0; i < 2000 && f->closes == 0; i++)
        assert_true(uds_loop_run_once(f->loop, 10) >= 0);
    assert_int_equal(f->closes, 1);
}

static void run_a_while(struct fix *f, int turns) {
    for (int i = 0; i < turns; i++)
        assert_true(uds_loop_run_once(f->loop, 5) >= 0);
}

/* Read exactly len bytes from fd while running the loop. */
static void recv_exact(struct fix *f, int fd, char *buf, size_t len) {
    size_t got = 0;

    for (int i = 0; i < 2000 && got < len; i++) {
        run_a_while(f, 1);
        ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t) n;
        else
            assert_true(n < 0 && errno == EAGAIN);
    }
    assert_int_equal(got, len);
}

/* Whether fd reports EOF within a bounded number of loop turns. */
static bool sees_eof(struct fix *f, int fd) {
    char c;

    for (int i = 0; i < 2000; i++) {
        if (f->loop && f->relay)
            run_a_while(f, 1);
        else
            usleep(1000);
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n > 0 || errno != EAGAIN)
            return false;
    }
    return false;
}

static void relay_moves_bytes_both_ways(void **state) {
    struct fix *f = *state;
    char buf[16];

    unix_pairs(f);
    start(f, NULL, NULL, 0);
    assert_int_equal(send(f->outer[0], "ping", 4, 0), 4);
    recv_exact(f, f->outer[1], buf, 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(send(f->outer[1], "pong!", 5, 0), 5);
    recv_exact(f, f->outer[0], buf, 5);
    assert_memory_equal(buf, "pong!", 5);

    struct uds_relay_info info;
    uds_relay_get_info(f->relay, &info);
    assert_int_equal(info.bytes_from_a, 4);
    assert_int_equal(info.bytes_from_b, 5);
    assert_int_equal(info.error, 0);
    assert_int_equal(f->closes, 0);
}

static void relay_eof_is_passed_on_and_the_other_direction_goes_on(void **state) {
    struct fix *f = *state;
    char buf[16];

    unix_pairs(f);
    start(f, NULL, NULL, 0);
    assert_int_equal(send(f->outer[0], "request", 7, 0), 7);
    assert_int_equal(shutdown(f->outer[0], SHUT_WR), 0);
    recv_exact(f, f->outer[1], buf, 7);
    assert_true(sees_eof(f, f->outer[1]));     /* the half-close arrived as one */
    assert_int_equal(f->closes, 0);

    /* B answers after A's EOF: the answer still flows. */
    assert_int_equal(send(f->outer[1], "reply", 5, 0), 5);
    recv_exact(f, f->outer[0], buf, 5);
    assert_memory_equal(buf, "reply", 5);
    assert_int_equal(shutdown(f->outer[1], SHUT_WR), 0);
    run_until_closed(f);
    assert_int_equal(f->info.error, 0);
    assert_int_equal(f->info.error_side, UDS_RELAY_NONE);
    assert_int_equal(f->info.bytes_from_a, 7);
    assert_int_equal(f->info.bytes_from_b, 5);
    assert_int_equal(uds_relay_group_count(f->group), 0);
    assert_true(sees_eof(f, f->outer[0]));
}

/* ---- large transfers with helper threads ---------------------------------------------- */

struct pump_job {
    int fd;
    size_t len;
    uint32_t seed;
    uint64_t sum;       /* reader: checksum of what arrived */
    size_t got;
};

static uint8_t byte_at(uint32_t seed, size_t i) {
    uint32_t x = seed ^ (uint32_t) (i * 2654435761u) ^ (uint32_t) (i >> 13);
    x ^= x >> 15;
    return (uint8_t) (x * 0x2c1b3c6du >> 24);
}

static uint64_t expected_sum(uint32_t seed, size_t len) {
    uint64_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = sum * 31 + byte_at(seed, i);
    return sum;
}

static void *writer(void *arg) {
    struct pump_job *j = arg;
    uint8_t buf[50000];     /* not a power of two: pieces straddle every boundary */
    size_t off = 0;

    while (off < j->len) {
        size_t n = j->len - off < sizeof(buf) ? j->len - off : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(j->seed, off + i);
        if (uds_send_all(j->fd, buf, n) != (ssize_t) n)
            return NULL;
        off += n;
    }
    shutdown(j->fd, SHUT_WR);
    return NULL;
}

static void *reader(void *arg) {
    struct pump_job *j = arg;
    uint8_t buf[70000];

    for (;;) {
        ssize_t n = recv(j->fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            j->sum = j->sum * 31 + buf[i];
        j->got += (size_t) n;
    }
    return NULL;
}

/* len bytes A to B and len + 12345 bytes B to A at once; checked byte for byte. */
static void transfer_both_ways(struct fix *f, size_t len) {
    struct pump_job wa = { .fd = f->outer[0], .len = len, .seed = 1 };
    struct pump_job wb = { .fd = f->outer[1], .len = len + 12345, .seed = 2 };
    struct pump_job ra = { .fd = f->outer[0] }, rb = { .fd = f->outer[1] };
    pthread_t t[4];

    assert_int_equal(pthread_create(&t[0], NULL, writer, &wa), 0);
    assert_int_equal(pthread_create(&t[1], NULL, writer, &wb), 0);
    assert_int_equal(pthread_create(&t[2], NULL, reader, &ra), 0);
    assert_int_equal(pthread_create(&t[3], NULL, reader, &rb), 0);
    run_until_closed(f);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(f->info.error, 0);
    assert_int_equal(rb.got, wa.len);
    assert_int_equal(ra.got, wb.len);
    assert_true(rb.sum == expected_sum(wa.seed, wa.len));
    assert_true(ra.sum == expected_sum(wb.seed, wb.len));
    assert_int_equal(f->info.bytes_from_a, wa.len);
    assert_int_equal(f->info.bytes_from_b, wb.len);
}

static void relay_large_transfer_spliced_is_byte_exact(void **state) {
    struct fix *f = *state;

    unix_pairs(f);
    start(f, NULL, NULL, 0);
    transfer_both_ways(f, 24u << 20);
    /* Bulk data took the zero-copy path. */
    assert_true(f->info.spliced_from_a > 0);
    assert_true(f->info.spliced_from_b > 0);
}

static void relay_large_transfer_copied_is_byte_exact(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .flags = UDS_RELAY_NO_SPLICE, .buffer_size = 3000 };

    unix_pairs(f);
    start(f, &opts, NULL, 0);
    transfer_both_ways(f, 6u << 20);
    assert_int_equal(f->info.spliced_from_a, 0);
    assert_int_equal(f->info.spliced_from_b, 0);
}

static void relay_large_transfer_over_tcp_is_byte_exact(void **state) {
    struct fix *f = *state;

    tcp_pairs(f);
    start(f, NULL, NULL, 0);
    transfer_both_ways(f, 24u << 20);
}

static void relay_copies_when_sigpipe_is_not_ignored(void **state) {
    struct fix *f = *state;

    signal(SIGPIPE, SIG_DFL);
    unix_pairs(f);
    start(f, NULL, NULL, 0);
    signal(SIGPIPE, SIG_IGN);
    transfer_both_ways(f, 4u << 20);
    assert_int_equal(f->info.spliced_from_a, 0);
    assert_int_equal(f->info.spliced_from_b, 0);
}

/* ---- prefix, backpressure, failures --------------------------------------------------- */

static void relay_prefix_reaches_b_before_data_from_a(void **state) {
    struct fix *f = *state;
    char buf[32];

    unix_pairs(f);
    /* Data from A is already waiting when the relay starts. */
    assert_int_equal(send(f->outer[0], "data", 4, 0), 4);
    start(f, NULL, "PROXY UNKNOWN\r\n", 15);
    recv_exact(f, f->outer[1], buf, 19);
    assert_memory_equal(buf, "PROXY UNKNOWN\r\ndata", 19);
    struct uds_relay_info info;
    uds_relay_get_info(f->relay, &info);
    assert_int_equal(info.bytes_from_a, 4);    /* the prefix is not A's */
}

static void relay_slow_reader_stops_reading_its_peer(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .buffer_size = 4096 };
    static char chunk[65536];
    size_t sent = 0;
    int blocked_turns = 0;

    unix_pairs(f);
    start(f, &opts, NULL, 0);
    /* B never reads: A's writes must end up refused (EAGAIN) for good, with the relay
     * holding no more than its buffer beyond what the kernel's socket buffers take. */
    for (int i = 0; i < 400 && blocked_turns < 20; i++) {
        ssize_t n = send(f->outer[0], chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n > 0) {
            sent += (size_t) n;
            blocked_turns = 0;
        } else {
            assert_true(errno == EAGAIN);
            blocked_turns++;
        }
        run_a_while(f, 1);
    }
    assert_int_equal(blocked_turns, 20);
    struct uds_relay_info info;
    uds_relay_get_info(f->relay, &info);
    assert_true(info.bytes_from_a < sent);      /* some of it still waits at A */
    assert_true(sent < (16u << 20));            /* the socket buffers bound it */

    /* B reads everything: the flow resumes and every byte arrives. */
    size_t got = 0;
    char buf[65536];
    for (int i = 0; i < 5000 && got < sent; i++) {
        run_a_while(f, 1);
        ssize_t n = recv(f->outer[1], buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            got += (size_t) n;
    }
    assert_int_equal(got, sent);
}

static void relay_vanished_peer_ends_it_with_the_error_and_its_side(void **state) {
    struct fix *f = *state;
    char buf[16];

    unix_pairs(f);
    start(f, NULL, NULL, 0);
    /* B's peer sends its last words and goes away entirely. */
    assert_int_equal(send(f->outer[1], "bye", 3, 0), 3);
    close(f->outer[1]);
    f->outer[1] = -1;
    recv_exact(f, f->outer[0], buf, 3);
    assert_memory_equal(buf, "bye", 3);
    /* A writes on into the void: the write to B fails, the relay ends. */
    (void) send(f->outer[0], "anyone?", 7, MSG_NOSIGNAL);
    run_until_closed(f);
    assert_int_equal(f->info.error, EPIPE);
    assert_int_equal(f->info.error_side, UDS_RELAY_B);
    assert_int_equal(f->info.bytes_from_b, 3);
    assert_true(sees_eof(f, f->outer[0]));
}

static void relay_idle_timeout_ends_it_with_etimedout(void **state) {
    struct fix *f = *state;
    /* A limit well above the gaps between sends: a loaded machine (a sanitizer build, a
     * parallel make) can stretch a 50 ms sleep by tens of milliseconds. */
    struct uds_relay_opts opts = { .idle_timeout_ms = 300 };
    struct timespec t0, t1;
    char buf[4];

    unix_pairs(f);
    start(f, &opts, NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Traffic keeps it alive past the timeout... */
    for (int i = 0; i < 8; i++) {
        usleep(50000);
        assert_int_equal(send(f->outer[0], "x", 1, 0), 1);
        recv_exact(f, f->outer[1], buf, 1);
    }
    assert_int_equal(f->closes, 0);
    /* ...and silence ends it. */
    run_until_closed(f);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(f->info.error, ETIMEDOUT);
    assert_int_equal(f->info.error_side, UDS_RELAY_NONE);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 8 * 50 + 300);     /* the last send, then the whole limit */
    assert_true(sees_eof(f, f->outer[0]));
    assert_true(sees_eof(f, f->outer[1]));
}

static void relay_free_closes_both_sides_without_callback(void **state) {
    struct fix *f = *state;

    unix_pairs(f);
    start(f, NULL, NULL, 0);
    uds_relay_free(f->relay);
    f->relay = NULL;
    assert_int_equal(uds_relay_group_count(f->group), 0);
    assert_true(sees_eof(f, f->outer[0]));
    assert_true(sees_eof(f, f->outer[1]));
    assert_int_equal(f->closes, 0);
}

static void relay_group_free_ends_every_relay(void **state) {
    struct fix *f = *state;
    int sv[2][2];

    unix_pairs(f);
    start(f, NULL, NULL, 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[0]), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[1]), 0);
    assert_non_null(uds_relay_new(f->group, sv[0][1], sv[1][1], NULL, 0, NULL, NULL));
    assert_int_equal(uds_relay_group_count(f->group), 2);
    uds_relay_group_free(f->group);
    f->group = NULL;
    f->relay = NULL;
    assert_true(sees_eof(f, f->outer[0]));
    assert_true(sees_eof(f, sv[0][0]));
    assert_true(sees_eof(f, sv[1][0]));
    assert_int_equal(f->closes, 0);
    close(sv[0][0]);
    close(sv[1][0]);
}

static bool fd_is_open(int fd) {
    return fcntl(fd, F_GETFD) >= 0;
}

static void relay_bad_arguments_fail_and_consume_the_fds(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts bad_flags = { .flags = 1u << 7 };
    struct uds_relay_opts small = { .buffer_size = 8 };

    errno = 0;
    assert_null(uds_relay_group_new(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_relay_group_new(f->loop, &bad_flags));
    assert_int_equal(errno, EINVAL);

    unix_pairs(f);
    f->group = new_group(f, &small);
    assert_non_null(f->group);
    int a = f->inner[0], b = f->inner[1];
    assert_null(uds_relay_new(f->group, a, b, "longer than eight", 17, NULL, NULL));
    assert_int_equal(errno, EMSGSIZE);
    assert_false(fd_is_open(a));
    assert_false(fd_is_open(b));
    assert_int_equal(uds_relay_group_count(f->group), 0);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_null(uds_relay_new(f->group, sv[0], sv[0], NULL, 0, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_false(fd_is_open(sv[0]));
    close(sv[1]);
    assert_null(uds_relay_new(NULL, -1, -1, NULL, 0, NULL, NULL));
    assert_int_equal(errno, EINVAL);
}

/* Many relays with bytes to move in the same wakeup: every byte reaches its own peer, in
 * order, both ways. */
static void relay_many_relays_in_one_wakeup_each_get_their_own_bytes(void **state) {
    struct fix *f = *state;
    enum { N = 40, ROUNDS = 20 };
    int a[N], b[N];
    int closes = 0;

    f->group = new_group(f, NULL);
    assert_non_null(f->group);
    for (int i = 0; i < N; i++) {
        int sa[2], sb[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sa), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sb), 0);
        a[i] = sa[0];
        b[i] = sb[0];
        assert_non_null(uds_relay_new(f->group, sa[1], sb[1], NULL, 0, NULL, &closes));
    }
    for (int round = 0; round < ROUNDS; round++) {
        char msg[32], got[32];
        for (int i = 0; i < N; i++) {
            int len = snprintf(msg, sizeof(msg), "a%d.%d;", i, round);
            assert_int_equal(send(a[i], msg, (size_t) len, MSG_NOSIGNAL), len);
            len = snprintf(msg, sizeof(msg), "b%d.%d;", i, round);
            assert_int_equal(send(b[i], msg, (size_t) len, MSG_NOSIGNAL), len);
        }
        for (int i = 0; i < N; i++) {
            int len = snprintf(msg, sizeof(msg), "a%d.%d;", i, round);
            recv_exact(f, b[i], got, (size_t) len);
            assert_memory_equal(got, msg, (size_t) len);
            len = snprintf(msg, sizeof(msg), "b%d.%d;", i, round);
            recv_exact(f, a[i], got, (size_t) len);
            assert_memory_equal(got, msg, (size_t) len);
        }
    }
    for (int i = 0; i < N; i++) {
        close(a[i]);
        close(b[i]);
    }
    for (int i = 0; i < 2000 && uds_relay_group_count(f->group) > 0; i++)
        assert_true(uds_loop_run_once(f->loop, 10) >= 0);
    assert_int_equal(uds_relay_group_count(f->group), 0);
}

/* Frees the relay from inside the loop, after the relay has taken its read in the same
 * wakeup, and opens a socket pair that takes the freed fd numbers. */
struct free_later {
    struct fix *f;
    int pipe[2];
    int reused[2];
};

static void free_the_relay(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct free_later *fl = data;
    char c;

    (void) events;
    assert_int_equal(read(fd, &c, 1), 1);
    assert_int_equal(uds_loop_del(loop, fd), 0);
    uds_relay_free(fl->f->relay);
    fl->f->relay = NULL;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fl->reused), 0);
}

static void relay_freed_with_a_write_pending_sends_nothing_anywhere(void **state) {
    struct fix *f = *state;
    struct free_later fl = { .f = f };
    char buf[8];

    unix_pairs(f);
    int old_a = f->inner[0], old_b = f->inner[1];
    start(f, NULL, NULL, 0);
    assert_int_equal(pipe2(fl.pipe, O_CLOEXEC), 0);
    assert_int_equal(uds_loop_add(f->loop, fl.pipe[0], UDS_EV_READ, free_the_relay, &fl), 0);
    /* Ready in this order, so reported in this order by the one epoll_wait below: the
     * relay reads "secret" before the pipe's callback frees it. */
    assert_int_equal(send(f->outer[0], "secret", 6, MSG_NOSIGNAL), 6);
    assert_int_equal(write(fl.pipe[1], "x", 1), 1);
    assert_true(uds_loop_run_once(f->loop, 1000) >= 1);
    assert_null(f->relay);
    /* The new pair took at least one of the relay's old numbers: a write that outlived
     * its relay would land there. */
    assert_true(fl.reused[0] == old_a || fl.reused[0] == old_b || fl.reused[1] == old_a ||
                fl.reused[1] == old_b);
    run_a_while(f, 3);
    for (int i = 0; i < 2; i++) {
        errno = 0;
        assert_int_equal(recv(fl.reused[i], buf, sizeof(buf), MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
    }
    /* Batched, the write had not gone when the relay was freed, and never goes. */
    if (!(pass_flags & UDS_RELAY_NO_BATCH))
        assert_true(recv(f->outer[1], buf, sizeof(buf), MSG_DONTWAIT) <= 0);
    close(fl.reused[0]);
    close(fl.reused[1]);
    close(fl.pipe[0]);
    close(fl.pipe[1]);
}

/* ---- A's first byte ----------------------------------------------------------------------- */

static long ms_since(const struct timespec *t0) {
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void relay_silent_side_a_ends_with_etimedout_blamed_on_a(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .first_byte_timeout_ms = 60 };
    struct timespec t0;

    unix_pairs(f);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    start(f, &opts, NULL, 0);
    run_until_closed(f);
    /* The loop's clock counts whole milliseconds: a deadline may come up to 1 ms early. */
    assert_true(ms_since(&t0) >= 59);
    assert_int_equal(f->info.error, ETIMEDOUT);
    assert_int_equal(f->info.error_side, UDS_RELAY_A);
    assert_int_equal(f->info.bytes_from_a, 0);
    assert_true(sees_eof(f, f->outer[0]));
    assert_true(sees_eof(f, f->outer[1]));
}

static void relay_side_a_that_sent_one_byte_keeps_going(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .first_byte_timeout_ms = 40 };
    char buf[8];

    unix_pairs(f);
    start(f, &opts, NULL, 0);
    assert_int_equal(send(f->outer[0], "x", 1, 0), 1);
    recv_exact(f, f->outer[1], buf, 1);
    /* Silent from then on, well past the limit: only the first byte was due. */
    run_a_while(f, 40);
    assert_int_equal(f->closes, 0);
    assert_int_equal(send(f->outer[1], "still", 5, 0), 5);
    recv_exact(f, f->outer[0], buf, 5);
    assert_memory_equal(buf, "still", 5);
    assert_int_equal(f->closes, 0);
}

static void relay_b_speaking_first_is_not_a_first_byte_from_a(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .first_byte_timeout_ms = 60 };
    char buf[8];

    unix_pairs(f);
    start(f, &opts, "PROXY", 5);
    /* A server that greets, and a prefix sent to it: neither is A's word. */
    assert_int_equal(send(f->outer[1], "greeting", 8, 0), 8);
    recv_exact(f, f->outer[0], buf, 8);
    recv_exact(f, f->outer[1], buf, 5);
    run_until_closed(f);
    assert_int_equal(f->info.error, ETIMEDOUT);
    assert_int_equal(f->info.error_side, UDS_RELAY_A);
    assert_int_equal(f->info.bytes_from_b, 8);
    assert_int_equal(f->info.bytes_from_a, 0);
}

static void relay_side_a_half_closed_without_a_byte_has_said_nothing(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .first_byte_timeout_ms = 60 };

    unix_pairs(f);
    start(f, &opts, NULL, 0);
    assert_int_equal(shutdown(f->outer[0], SHUT_WR), 0);
    assert_true(sees_eof(f, f->outer[1]));
    run_until_closed(f);
    assert_int_equal(f->info.error, ETIMEDOUT);
    assert_int_equal(f->info.error_side, UDS_RELAY_A);
}

/* Both limits on one relay: the first byte is due first, the idle limit goes on after it. */
static void relay_first_byte_then_idle_timeout_on_one_relay(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .first_byte_timeout_ms = 50, .idle_timeout_ms = 150 };
    struct timespec t0;
    char buf[4];

    unix_pairs(f);
    start(f, &opts, NULL, 0);
    assert_int_equal(send(f->outer[0], "x", 1, 0), 1);
    recv_exact(f, f->outer[1], buf, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_until_closed(f);
    assert_true(ms_since(&t0) >= 140);
    assert_int_equal(f->info.error, ETIMEDOUT);
    assert_int_equal(f->info.error_side, UDS_RELAY_NONE);
}

static void relay_set_first_byte_timeout_lifts_and_restarts_the_clock(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts opts = { .first_byte_timeout_ms = 30 };
    struct timespec t0;

    unix_pairs(f);
    start(f, &opts, NULL, 0);
    assert_int_equal(uds_relay_set_first_byte_timeout(f->relay, -1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_relay_set_first_byte_timeout(NULL, 10), -1);
    assert_int_equal(errno, EINVAL);
    /* 0: no limit for this relay, whatever the group's. */
    assert_int_equal(uds_relay_set_first_byte_timeout(f->relay, 0), 0);
    run_a_while(f, 20);
    assert_int_equal(f->closes, 0);
    /* A new deadline counts from now. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(uds_relay_set_first_byte_timeout(f->relay, 80), 0);
    run_until_closed(f);
    assert_true(ms_since(&t0) >= 79);
    assert_int_equal(f->info.error, ETIMEDOUT);
    assert_int_equal(f->info.error_side, UDS_RELAY_A);
}

static void relay_negative_first_byte_timeout_is_einval(void **state) {
    struct fix *f = *state;
    struct uds_relay_opts bad = { .first_byte_timeout_ms = -1 };

    errno = 0;
    assert_null(uds_relay_group_new(f->loop, &bad));
    assert_int_equal(errno, EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(relay_moves_bytes_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(relay_eof_is_passed_on_and_the_other_direction_goes_on,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_large_transfer_spliced_is_byte_exact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_large_transfer_copied_is_byte_exact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_large_transfer_over_tcp_is_byte_exact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_copies_when_sigpipe_is_not_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_prefix_reaches_b_before_data_from_a, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_slow_reader_stops_reading_its_peer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_vanished_peer_ends_it_with_the_error_and_its_side,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_idle_timeout_ends_it_with_etimedout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_free_closes_both_sides_without_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_group_free_ends_every_relay, setup, teardown),
        cmocka_unit_test_setup_teardown(relay_bad_arguments_fail_and_consume_the_fds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_many_relays_in_one_wakeup_each_get_their_own_bytes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_freed_with_a_write_pending_sends_nothing_anywhere,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_silent_side_a_ends_with_etimedout_blamed_on_a,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_side_a_that_sent_one_byte_keeps_going, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_b_speaking_first_is_not_a_first_byte_from_a,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_side_a_half_closed_without_a_byte_has_said_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_first_byte_then_idle_timeout_on_one_relay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relay_set_first_byte_timeout_lifts_and_restarts_the_clock,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_negative_first_byte_timeout_is_einval, setup,
                                        teardown),
    };

    int failed = cmocka_run_group_tests_name("relay, writes batched", tests, NULL, NULL);
    pass_flags = UDS_RELAY_NO_BATCH;
    failed += cmocka_run_group_tests_name("relay, one write at a time", tests, NULL, NULL);
    return failed;
}
