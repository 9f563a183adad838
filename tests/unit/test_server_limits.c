/* SPDX-License-Identifier: MIT */
/*
 * test_server_limits.c — the server against clients that ask for more than they take: lines
 * (UDS_SERVER_LINES), replies held within max_outbuf whatever one read asks for, frames
 * whose announced length is never sent, and the first-byte timeout. Real Unix sockets in a
 * per-test directory; clients and server share one thread, the tests drive the loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define REPLY_LEN 100
#define MAX_LINES 8
#define MAX_CLIENTS 16

struct ctx {
    char *dir;
    char path[PATH_MAX];
    struct uds_server *s;
    struct uds_conn *conn;      /* the last connection opened */
    int clients[MAX_CLIENTS];
    size_t n_clients;
    int opens, closes, eofs, messages;
    int last_error;
    size_t max_queued;          /* most reply bytes ever queued on one connection */
    char lines[MAX_LINES][64];  /* the first messages, NUL-terminated */
    bool reply;                 /* answer each message with REPLY_LEN bytes */
    bool greet;                 /* send a greeting on open */
    bool echo;                  /* echo each message: a line with its newline, a frame */
    bool lines_mode;
    const char *expect;         /* the payload the next message must have, or NULL */
    size_t expect_len;
    int matched;                /* messages equal to expect */
    bool detach;                /* detach (with its input) on the first message */
    int detached_fd;
    void *detached_input;
    size_t detached_len;
};

static int setup(void **state) {
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->dir = tu_tmpdir_new();
    tu_path_into(c->path, sizeof(c->path), c->dir, "s.sock");
    c->last_error = -1;
    c->detached_fd = -1;
    alarm(30);
    *state = c;
    return 0;
}

static int teardown(void **state) {
    struct ctx *c = *state;

    uds_server_free(c->s);
    if (c->detached_fd >= 0)
        (void) close(c->detached_fd);
    free(c->detached_input);
    for (size_t i = 0; i < c->n_clients; i++)
        (void) close(c->clients[i]);
    assert_int_equal(tu_tmpdir_free(c->dir), 0);
    free(c);
    alarm(0);
    return 0;
}

static int on_open(struct uds_conn *conn, void *data) {
    struct ctx *c = data;

    c->opens++;
    c->conn = conn;
    if (c->greet)
        assert_int_equal(uds_conn_send(conn, "hello\n", 6), 0);
    return 0;
}

static void on_message(struct uds_conn *conn, const void *msg, size_t len, void *data) {
    struct ctx *c = data;
    static const char reply[REPLY_LEN] = { 'r' };

    if (c->messages < MAX_LINES)
        snprintf(c->lines[c->messages], sizeof(c->lines[0]), "%.*s", (int) len,
                 (const char *) msg);
    c->messages++;
    if (c->detach && c->messages == 1) {
        c->detached_fd = uds_conn_detach_input(conn, &c->detached_input, &c->detached_len);
        assert_true(c->detached_fd >= 0);
        return;
    }
    if (c->expect && len == c->expect_len && memcmp(msg, c->expect, len) == 0)
        c->matched++;
    if (c->reply)
        assert_int_equal(uds_conn_send(conn, reply, sizeof(reply)), 0);
    if (c->echo && c->lines_mode) {
        assert_int_equal(uds_conn_send(conn, msg, len), 0);
        assert_int_equal(uds_conn_send(conn, "\n", 1), 0);
    } else if (c->echo) {
        assert_int_equal(uds_conn_send_message(conn, msg, len), 0);
    }
    if (uds_conn_queued(conn) > c->max_queued)
        c->max_queued = uds_conn_queued(conn);
}

static void on_eof(struct uds_conn *conn, void *data) {
    (void) conn;
    ((struct ctx *) data)->eofs++;
}

static void on_close(struct uds_conn *conn, int error, void *data) {
    struct ctx *c = data;

    (void) conn;
    c->closes++;
    c->last_error = error;
}

static void start(struct ctx *c, const struct uds_server_opts *extra) {
    struct uds_listener l;
    struct uds_server_opts o = extra ? *extra : (struct uds_server_opts) { 0 };
    struct uds_server_callbacks cb = {
        .on_open = on_open,
        .on_message = on_message,
        .on_eof = on_eof,
        .on_close = on_close,
    };

    assert_true(uds_listen(c->path, NULL, &l, NULL) >= 0);
    c->s = uds_server_new(NULL, &l, &o, &cb, c);
    assert_non_null(c->s);
}

static int client(struct ctx *c) {
    int fd = tu_connect_unix(c->path);

    assert_true(fd >= 0);
    assert_true(c->n_clients < MAX_CLIENTS);
    c->clients[c->n_clients++] = fd;
    assert_int_equal(uds_set_nonblock(fd, true), 0);
    return fd;
}

static void send_all(int fd, const void *buf, size_t len) {
    assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t) len);
}

/* Runs the loop for about ms, whatever happens. */
static void pump_for(struct uds_server *s, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    while (tu_now_ms() < end)
        (void) uds_loop_run_once(uds_server_loop(s), 10);
}

/* --- lines ------------------------------------------------------------------------------- */

static void lines_each_line_is_a_message_and_the_last_needs_no_newline(void **state) {
    struct ctx *c = *state;

    start(c, &(struct uds_server_opts) { .flags = UDS_SERVER_LINES });
    int fd = client(c);
    send_all(fd, "one\n\ntwo", 8);
    assert_true(tu_pump_until(c->s, &c->messages, 2, 1000));
    send_all(fd, " halves\nlast", 12);
    assert_true(tu_pump_until(c->s, &c->messages, 3, 1000));
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_true(tu_pump_until(c->s, &c->eofs, 1, 1000));
    assert_int_equal(c->messages, 4);
    assert_string_equal(c->lines[0], "one");
    assert_string_equal(c->lines[1], "");
    assert_string_equal(c->lines[2], "two halves");
    assert_string_equal(c->lines[3], "last");
}

static void lines_over_max_message_close_with_emsgsize(void **state) {
    struct ctx *c = *state;
    char line[40];

    start(c, &(struct uds_server_opts) { .flags = UDS_SERVER_LINES, .max_message = 16 });
    int fd = client(c);
    memset(line, 'x', sizeof(line));
    send_all(fd, line, 10);
    pump_for(c->s, 50);
    send_all(fd, line, 10);     /* 20 bytes and no newline yet: over 16 */
    assert_true(tu_pump_until(c->s, &c->closes, 1, 1000));
    assert_int_equal(c->last_error, EMSGSIZE);
    assert_int_equal(c->messages, 0);
}

/* --- output bounded whatever one read asks for ------------------------------------------- */

/* A client sends n requests at once and reads nothing: the replies queued never pass the bound
 * by more than one reply; once the client reads, every reply comes, none lost. */
static void check_bounded_then_complete(struct ctx *c, int fd, size_t n) {
    const size_t bound = 64 * 1024;
    size_t want = n * REPLY_LEN, got = 0;
    char buf[65536];

    pump_for(c->s, 200);
    assert_true(c->messages < (int) n);
    assert_true(c->max_queued <= bound + REPLY_LEN);
    assert_true(uds_conn_queued(c->conn) <= bound + REPLY_LEN);
    while (got < want) {
        size_t k = tu_recv_pumped(c->s, fd, buf, sizeof(buf), 2000, NULL);
        assert_true(k > 0);
        got += k;
    }
    assert_int_equal(c->messages, (int) n);
    assert_int_equal(got, want);
    assert_int_equal(c->closes, 0);
}

static void lines_replies_to_a_flood_stay_within_max_outbuf_and_all_arrive(void **state) {
    struct ctx *c = *state;
    static char newlines[65536];

    memset(newlines, '\n', sizeof(newlines));
    c->reply = true;
    start(c, &(struct uds_server_opts) { .flags = UDS_SERVER_LINES, .max_outbuf = 64 * 1024 });
    int fd = client(c);
    send_all(fd, newlines, sizeof(newlines));
    check_bounded_then_complete(c, fd, sizeof(newlines));
}

static void frames_replies_to_empty_frames_stay_within_max_outbuf_and_all_arrive(void **state) {
    struct ctx *c = *state;
    static char frames[65536];  /* 16 Ki empty frames */

    c->reply = true;
    start(c, &(struct uds_server_opts) { .max_outbuf = 64 * 1024 });
    int fd = client(c);
    send_all(fd, frames, sizeof(frames));
    check_bounded_then_complete(c, fd, sizeof(frames) / UDS_FRAME_HEADER_SIZE);
}

/* Random requests (lines or frames, many tiny, some long) sent in random pieces while the
 * client reads at random moments: whatever the mix, the replies queued never pass the bound
 * by more than one reply, and the echoes come back byte for byte, in order. */
static void stress_random_input(struct ctx *c, bool lines, unsigned seed) {
    enum { TOTAL = 1 << 20, BOUND = 4096, MAX_MSG = 3000 };
    char *in = malloc(TOTAL), *out = malloc(TOTAL + 1);
    uint32_t x = seed;
    size_t len = 0, sent = 0, got = 0;

#define RAND() (x = x * 1103515245u + 12345u, x >> 8)
    assert_non_null(in);
    assert_non_null(out);
    while (len < TOTAL - MAX_MSG - 8) {
        size_t n = RAND() % 4 == 0 ? RAND() % MAX_MSG : RAND() % 4;
        if (lines) {
            for (size_t i = 0; i < n; i++)
                in[len + i] = (char) ('a' + RAND() % 26);
            in[len + n] = '\n';
            len += n + 1;
        } else {
            uds_frame_header((uint8_t *) in + len, (uint32_t) n);
            tu_fill(in + len + UDS_FRAME_HEADER_SIZE, n, RAND());
            len += UDS_FRAME_HEADER_SIZE + n;
        }
    }
#undef RAND
    c->echo = true;
    c->lines_mode = lines;
    start(c, &(struct uds_server_opts) { .flags = lines ? UDS_SERVER_LINES : 0,
                                        .max_outbuf = BOUND, .max_message = MAX_MSG });
    int fd = client(c);
    while (got < len) {
        if (sent < len) {
            size_t n = 1 + (x = x * 1103515245u + 12345u) % 20000;
            ssize_t k = send(fd, in + sent, n < len - sent ? n : len - sent, MSG_NOSIGNAL);
            assert_true(k > 0 || errno == EAGAIN);
            sent += k > 0 ? (size_t) k : 0;
        }
        (void) uds_loop_run_once(uds_server_loop(c->s), 1);
        if ((x = x * 1103515245u + 12345u) % 3 == 0 || sent == len) {
            ssize_t k = recv(fd, out + got, len - got, MSG_DONTWAIT);
            assert_true(k > 0 || errno == EAGAIN);
            got += k > 0 ? (size_t) k : 0;
        }
        assert_true(c->max_queued <= BOUND + MAX_MSG + 1 + UDS_FRAME_HEADER_SIZE);
    }
    assert_int_equal(c->closes, 0);
    /* The bound was reached: the hold-back path ran. */
    assert_true(c->max_queued > BOUND);
    assert_memory_equal(out, in, len);
    free(in);
    free(out);
}

static void lines_random_input_echoes_exactly_within_the_bound(void **state) {
    stress_random_input(*state, true, 11);
}

static void frames_random_input_echoes_exactly_within_the_bound(void **state) {
    stress_random_input(*state, false, 12);
}

/* --- frames announced, never sent --------------------------------------------------------- */

static size_t vm_size_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmSize: %zu", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static void frames_announcing_16_mib_take_memory_only_as_bytes_arrive(void **state) {
    struct ctx *c = *state;
    uint8_t msg[UDS_FRAME_HEADER_SIZE + 1];

    uds_frame_header(msg, 16u << 20);
    msg[UDS_FRAME_HEADER_SIZE] = 'x';
    start(c, NULL);
    int fds[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++)
        fds[i] = client(c);
    pump_for(c->s, 50);
    size_t before = vm_size_kib();
    for (int i = 0; i < MAX_CLIENTS; i++)
        send_all(fds[i], msg, sizeof(msg));
    pump_for(c->s, 200);
    /* Reserved up front, 16 clients took 256 MiB of address space. */
    assert_true(vm_size_kib() - before < 8 * 1024);
    assert_int_equal(c->messages, 0);
    assert_int_equal(c->closes, 0);
}

static void frames_grown_as_they_arrive_are_delivered_whole(void **state) {
    struct ctx *c = *state;
    const size_t len = 3u << 20;
    char *msg = malloc(UDS_FRAME_HEADER_SIZE + len);

    assert_non_null(msg);
    uds_frame_header((uint8_t *) msg, (uint32_t) len);
    tu_fill(msg + UDS_FRAME_HEADER_SIZE, len, 7);
    c->expect = msg + UDS_FRAME_HEADER_SIZE;
    c->expect_len = len;
    start(c, NULL);
    int fd = client(c);
    /* In pieces of odd sizes, with the loop running between them. */
    for (size_t off = 0, step = 1; off < UDS_FRAME_HEADER_SIZE + len; step = step * 3 + 1) {
        size_t n = UDS_FRAME_HEADER_SIZE + len - off;
        if (n > step)
            n = step;
        if (n > 200000)
            n = 200000;
        ssize_t k = send(fd, msg + off, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EAGAIN) {
            pump_for(c->s, 5);
            continue;
        }
        assert_true(k > 0);
        off += (size_t) k;
        (void) uds_loop_run_once(uds_server_loop(c->s), 0);
    }
    assert_true(tu_pump_until(c->s, &c->messages, 1, 2000));
    assert_int_equal(c->matched, 1);
    free(msg);
}

/* --- detach ------------------------------------------------------------------------------ */

/* Three requests in one write, the first of which hands the connection over: the other two
 * were read already, and come with the fd instead of being lost. */
static void detach_in_on_message_hands_over_the_pipelined_requests(void **state) {
    struct ctx *c = *state;
    char stream[3 * (UDS_FRAME_HEADER_SIZE + 5) + 2];
    size_t len = 0;

    for (int i = 0; i < 3; i++) {
        uds_frame_header((uint8_t *) stream + len, 5);
        memcpy(stream + len + UDS_FRAME_HEADER_SIZE, i == 0 ? "first" : i == 1 ? "secnd" : "third",
               5);
        len += UDS_FRAME_HEADER_SIZE + 5;
    }
    memcpy(stream + len, "\0\0", 2);     /* and half of a fourth header */
    len += 2;
    c->detach = true;
    start(c, NULL);
    int fd = client(c);
    send_all(fd, stream, len);
    assert_true(tu_pump_until(c->s, &c->messages, 1, 1000));
    pump_for(c->s, 50);
    assert_int_equal(c->messages, 1);
    assert_int_equal(c->closes, 0);     /* detached: no on_close */
    size_t first = UDS_FRAME_HEADER_SIZE + 5;
    assert_int_equal(c->detached_len, len - first);
    assert_memory_equal(c->detached_input, stream + first, len - first);
    /* The fd is the caller's, and still the client's connection. */
    assert_int_equal(send(c->detached_fd, "ok", 2, MSG_NOSIGNAL), 2);
    char buf[2];
    assert_true(tu_wait_readable(fd, 1000));
    assert_int_equal(recv(fd, buf, 2, 0), 2);
    assert_memory_equal(buf, "ok", 2);
}

static void detach_of_a_line_server_hands_over_the_rest_and_a_line_begun(void **state) {
    struct ctx *c = *state;
    const char *stream = "one\ntwo\nthr";

    c->detach = true;
    start(c, &(struct uds_server_opts) { .flags = UDS_SERVER_LINES });
    int fd = client(c);
    send_all(fd, stream, strlen(stream));
    assert_true(tu_pump_until(c->s, &c->messages, 1, 1000));
    assert_int_equal(c->detached_len, strlen("two\nthr"));
    assert_memory_equal(c->detached_input, "two\nthr", c->detached_len);
}

/* --- first byte --------------------------------------------------------------------------- */

static void first_byte_timeout_closes_a_silent_client_only(void **state) {
    struct ctx *c = *state;

    c->greet = true;    /* what the server sends does not count */
    start(c, &(struct uds_server_opts) { .flags = UDS_SERVER_LINES,
                                        .first_byte_timeout_ms = 150 });
    int silent = client(c);
    int talker = client(c);
    assert_true(tu_pump_until(c->s, &c->opens, 2, 1000));
    send_all(talker, "hi\n", 3);
    uint64_t t0 = tu_now_ms();
    assert_true(tu_pump_until(c->s, &c->closes, 1, 2000));
    assert_true(tu_now_ms() - t0 >= 100);
    assert_int_equal(c->last_error, ETIMEDOUT);
    assert_true(tu_sees_eof(c->s, silent, 1000));
    /* The one that spoke stays, with no idle timeout set. */
    pump_for(c->s, 400);
    assert_int_equal(c->closes, 1);
    assert_int_equal(uds_server_conn_count(c->s), 1);
    (void) talker;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            lines_each_line_is_a_message_and_the_last_needs_no_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(lines_over_max_message_close_with_emsgsize, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            lines_replies_to_a_flood_stay_within_max_outbuf_and_all_arrive, setup, teardown),
        cmocka_unit_test_setup_teardown(
            frames_replies_to_empty_frames_stay_within_max_outbuf_and_all_arrive, setup,
            teardown),
        cmocka_unit_test_setup_teardown(lines_random_input_echoes_exactly_within_the_bound,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(frames_random_input_echoes_exactly_within_the_bound,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            frames_announcing_16_mib_take_memory_only_as_bytes_arrive, setup, teardown),
        cmocka_unit_test_setup_teardown(frames_grown_as_they_arrive_are_delivered_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(first_byte_timeout_closes_a_silent_client_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(detach_in_on_message_hands_over_the_pipelined_requests,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            detach_of_a_line_server_hands_over_the_rest_and_a_line_begun, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
