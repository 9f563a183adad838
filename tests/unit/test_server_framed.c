/* SPDX-License-Identifier: MIT */
/*
 * test_server_framed.c — unit tests of the server's message mode (on_message,
 * uds_conn_send_message, max_message) over real Unix sockets in a per-test directory:
 * framed echo, frames split and batched in any way, empty and maximum-size messages, oversize
 * and truncated streams, backpressure, seqpacket messages, memory per idle connection.
 * Clients and server share one thread: the tests drive the server's loop between steps.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define MAX_SEEN 8
#define MAX_LENS 4096
#define RECORD_CAP (2u << 20)

enum mode {
    MODE_ECHO = 0,          /* reply with the same message */
    MODE_RECORD,            /* keep lengths and payloads, reply nothing */
    MODE_CLOSE_FIRST,       /* reply "bye" to the first message and close (flushing) */
};

struct ctx {
    struct tu_server fx;
    enum mode mode;
    int opens, closes, eofs, data_calls, messages;
    int last_error;
    int close_errors[MAX_SEEN];
    struct uds_conn *first_conn;
    size_t lens[MAX_LENS];
    char *record;           /* payloads of MODE_RECORD, back to back */
    size_t record_len;
    bool measure;           /* track the heap inside the callbacks */
    size_t heap_base;
    size_t heap_peak;       /* most heap seen in on_message, minus heap_base */
    size_t heap_at_close;   /* heap in the last on_close, minus heap_base */
};
_Static_assert(offsetof(struct ctx, fx) == 0, "tu_server_new() allocates the state");

/* --- fixture ------------------------------------------------------------------------------ */

static int setup(void **state) {
    struct ctx *c = tu_server_new(sizeof(*c));

    c->last_error = -1;
    c->record = malloc(RECORD_CAP);
    assert_non_null(c->record);
    *state = c;
    return 0;
}

static int teardown(void **state) {
    struct ctx *c = *state;

    free(c->record);
    tu_server_free(c);
    return 0;
}

/* --- callbacks ---------------------------------------------------------------------------- */

static size_t heap_above(size_t base) {
    size_t now = tu_heap_in_use();

    return now > base ? now - base : 0;
}

static int on_open(struct uds_conn *conn, void *data) {
    struct ctx *c = data;

    if (c->opens == 0)
        c->first_conn = conn;
    c->opens++;
    return 0;
}

static void on_data(struct uds_conn *conn, const void *buf, size_t len, void *data) {
    struct ctx *c = data;

    (void) conn, (void) buf, (void) len;
    c->data_calls++;
}

static void on_message(struct uds_conn *conn, const void *msg, size_t len, void *data) {
    struct ctx *c = data;

    if (c->measure) {
        size_t h = heap_above(c->heap_base);
        if (h > c->heap_peak)
            c->heap_peak = h;
    }
    if (c->messages < MAX_LENS)
        c->lens[c->messages] = len;
    c->messages++;
    switch (c->mode) {
    case MODE_ECHO: {
        int r = uds_conn_send_message(conn, msg, len);
        assert_true(r == 0 || errno == EPIPE || errno == ECONNRESET);
        break;
    }
    case MODE_RECORD:
        assert_true(c->record_len + len <= RECORD_CAP);
        if (len > 0)
            memcpy(c->record + c->record_len, msg, len);
        c->record_len += len;
        break;
    case MODE_CLOSE_FIRST:
        assert_int_equal(uds_conn_send_message(conn, "bye", 3), 0);
        uds_conn_close(conn, true);
        break;
    }
}

static void on_eof(struct uds_conn *conn, void *data) {
    struct ctx *c = data;

    (void) conn;
    c->eofs++;
}

static void on_close(struct uds_conn *conn, int error, void *data) {
    struct ctx *c = data;

    if (conn == c->first_conn)
        c->first_conn = NULL;
    if (c->measure)
        c->heap_at_close = heap_above(c->heap_base);
    if (c->closes < MAX_SEEN)
        c->close_errors[c->closes] = error;
    c->closes++;
    c->last_error = error;
}

static const struct uds_server_callbacks callbacks = {
    .on_open = on_open,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_close = on_close,
    .on_message = on_message,
};

/* --- helpers ------------------------------------------------------------------------------ */

static void start(struct ctx *c, enum uds_socket_type type, const struct uds_server_opts *opts) {
    tu_server_start(&c->fx, NULL, type, opts, &callbacks, c);
}

/* Send all len bytes within ms, running the server while the socket is full. */
static void send_pumped(struct ctx *c, int fd, const void *buf, size_t len, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;
    size_t sent = 0;

    while (sent < len) {
        ssize_t n = send(fd, (const char *) buf + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t) n;
            continue;
        }
        assert_int_equal(errno, EAGAIN);
        assert_true(tu_now_ms() < end);
        tu_run_once(c->fx.s, 5);
    }
}

/* Append a frame of len bytes of tu_fill(seed) at out; returns the bytes written. */
static size_t put_frame(char *out, size_t len, unsigned seed) {
    uds_frame_header((uint8_t *) out, (uint32_t) len);
    tu_fill(out + UDS_FRAME_HEADER_SIZE, len, seed);
    return UDS_FRAME_HEADER_SIZE + len;
}

/* Receive one frame into buf (at most cap bytes of payload); returns its length. */
static size_t recv_frame(struct ctx *c, int fd, void *buf, size_t cap, int ms) {
    uint8_t h[UDS_FRAME_HEADER_SIZE];

    assert_int_equal(tu_recv_pumped(c->fx.s, fd, h, sizeof(h), ms, NULL), sizeof(h));
    size_t len = (size_t) h[0] << 24 | (size_t) h[1] << 16 | (size_t) h[2] << 8 | h[3];
    assert_true(len <= cap);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, buf, len, ms, NULL), len);
    return len;
}

/* --- tests -------------------------------------------------------------------------------- */

#define ECHO_CLIENTS 30
#define ECHO_STREAM (2 * (0 + 1 + 5 + 300 + 4096 + 70000 + 17 + 7 * UDS_FRAME_HEADER_SIZE))

static void framed_echo_many_clients_each_get_their_messages(void **state) {
    struct ctx *c = *state;
    /* 70000 bytes is more than a read (64 KiB): that message is always put together. */
    static const size_t sizes[] = { 0, 1, 5, 300, 4096, 70000, 17 };
    static char out[ECHO_CLIENTS][ECHO_STREAM], in[ECHO_CLIENTS][ECHO_STREAM];
    int fds[ECHO_CLIENTS];

    start(c, UDS_STREAM, NULL);
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        size_t len = 0;
        for (int k = 0; k < 14; k++)
            len += put_frame(out[i] + len, sizes[k % 7], (unsigned) (i * 100 + k));
        assert_int_equal(len, ECHO_STREAM);
        fds[i] = tu_client(&c->fx, UDS_STREAM);
    }
    /* An echo of frames is the same byte stream: compare streams. The odd pieces cut frames
     * anywhere, headers included. */
    assert_int_equal(tu_echo_streams(c->fx.s, fds, ECHO_CLIENTS, (const char *) out, (char *) in,
                                     ECHO_STREAM, 10000),
                     ECHO_CLIENTS);
    for (int i = 0; i < ECHO_CLIENTS; i++)
        assert_memory_equal(in[i], out[i], ECHO_STREAM);
    assert_int_equal(c->messages, ECHO_CLIENTS * 14);
    assert_int_equal(c->data_calls, 0);
    assert_int_equal(c->closes, 0);
}

static void framed_messages_split_byte_by_byte_arrive_whole(void **state) {
    struct ctx *c = *state;
    static const size_t sizes[] = { 300, 0, 5, 1 };
    char stream[400], want[300 + 5 + 1];
    size_t len = 0, want_len = 0;

    c->mode = MODE_RECORD;
    for (unsigned k = 0; k < 4; k++) {
        len += put_frame(stream + len, sizes[k], k);
        tu_fill(want + want_len, sizes[k], k);
        want_len += sizes[k];
    }
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(send(fd, stream + i, 1, MSG_NOSIGNAL), 1);
        tu_run_once(c->fx.s, 0);
        tu_run_once(c->fx.s, 0);
        /* Nothing is delivered before its last byte. */
        if (i < UDS_FRAME_HEADER_SIZE + 300 - 1)
            assert_int_equal(c->messages, 0);
    }
    assert_true(tu_pump_until(c->fx.s, &c->messages, 4, 1000));
    for (unsigned k = 0; k < 4; k++)
        assert_int_equal(c->lens[k], sizes[k]);
    assert_int_equal(c->record_len, want_len);
    assert_memory_equal(c->record, want, want_len);
    assert_int_equal(c->data_calls, 0);
}

#define BATCH_MSGS 2000

static void framed_many_messages_in_one_write_arrive_in_order(void **state) {
    struct ctx *c = *state;
    static char stream[BATCH_MSGS * (UDS_FRAME_HEADER_SIZE + 40)], want[BATCH_MSGS * 40];
    size_t len = 0, want_len = 0;

    c->mode = MODE_RECORD;
    for (unsigned k = 0; k < BATCH_MSGS; k++) {
        len += put_frame(stream + len, k % 41, k);
        tu_fill(want + want_len, k % 41, k);
        want_len += k % 41;
    }
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, stream, len, MSG_NOSIGNAL), (ssize_t) len);
    assert_true(tu_pump_until(c->fx.s, &c->messages, BATCH_MSGS, 2000));
    for (unsigned k = 0; k < BATCH_MSGS; k++)
        assert_int_equal(c->lens[k], k % 41);
    assert_int_equal(c->record_len, want_len);
    assert_memory_equal(c->record, want, want_len);
}

#define WHOLE_MSGS 30
#define WHOLE_SIZE 2000     /* a copy of any one would show in the heap */

static void framed_whole_messages_are_delivered_without_allocating(void **state) {
    struct ctx *c = *state;
    static char stream[WHOLE_MSGS * (UDS_FRAME_HEADER_SIZE + WHOLE_SIZE)];
    size_t len = 0;

    if (!TU_HEAP_MEASURABLE)
        skip();
    c->mode = MODE_RECORD;
    for (unsigned k = 0; k < WHOLE_MSGS; k++)
        len += put_frame(stream + len, WHOLE_SIZE, k);
    assert_true(len < 64 * 1024);   /* one read takes it all */
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    c->heap_base = tu_heap_in_use();
    c->measure = true;
    assert_int_equal(send(fd, stream, len, MSG_NOSIGNAL), (ssize_t) len);
    assert_true(tu_pump_until(c->fx.s, &c->messages, WHOLE_MSGS, 2000));
    /* Handed over from the read buffer: no copy was allocated for any of them. */
    assert_true(c->heap_peak < 1024);
}

static void framed_split_message_is_assembled_then_freed(void **state) {
    struct ctx *c = *state;
    const size_t big = 50000;
    static char stream[UDS_FRAME_HEADER_SIZE + 50000];

    if (!TU_HEAP_MEASURABLE)
        skip();
    c->mode = MODE_RECORD;
    size_t len = put_frame(stream, big, 9);
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    c->heap_base = tu_heap_in_use();
    c->measure = true;
    assert_int_equal(send(fd, stream, 1000, MSG_NOSIGNAL), 1000);
    for (int i = 0; i < 5; i++)
        tu_run_once(c->fx.s, 2);
    assert_int_equal(c->messages, 0);
    assert_int_equal(send(fd, stream + 1000, len - 1000, MSG_NOSIGNAL),
                     (ssize_t) (len - 1000));
    assert_true(tu_pump_until(c->fx.s, &c->messages, 1, 1000));
    assert_int_equal(c->lens[0], big);
    assert_memory_equal(c->record, stream + UDS_FRAME_HEADER_SIZE, big);
    /* The buffer for it existed during the call, and is gone after it. */
    assert_true(c->heap_peak >= big);
    assert_true(heap_above(c->heap_base) < 1024);
}

static void framed_large_message_across_many_reads_echoes_intact(void **state) {
    struct ctx *c = *state;
    const size_t big = (1u << 20) + 3;
    char *out = malloc(UDS_FRAME_HEADER_SIZE + big), *in = malloc(big);

    assert_non_null(out);
    assert_non_null(in);
    size_t len = put_frame(out, big, 11);
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    send_pumped(c, fd, out, len, 5000);
    /* The reply is larger than the socket buffers too: it is queued and flushed. */
    assert_int_equal(recv_frame(c, fd, in, big, 5000), big);
    assert_memory_equal(in, out + UDS_FRAME_HEADER_SIZE, big);
    assert_int_equal(c->messages, 1);
    free(out);
    free(in);
}

static void framed_small_and_large_replies_to_one_read_keep_order(void **state) {
    struct ctx *c = *state;
    /* Small replies are gathered, large ones sent directly: the order must survive both. */
    static const size_t sizes[] = { 3, 0, 100, 20000, 7, 1, 9000, 5 };
    static char stream[40000], back[40000];
    size_t len = 0;

    for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
        len += put_frame(stream + len, sizes[k], k);
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    assert_int_equal(send(fd, stream, len, MSG_NOSIGNAL), (ssize_t) len);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, back, len, 2000, NULL), len);
    assert_memory_equal(back, stream, len);
    assert_int_equal(c->messages, sizeof(sizes) / sizeof(sizes[0]));
}

static void framed_empty_messages_round_trip(void **state) {
    struct ctx *c = *state;
    char stream[6 * UDS_FRAME_HEADER_SIZE + 1], back[sizeof(stream)];
    size_t len = 0;

    for (int k = 0; k < 5; k++)
        len += put_frame(stream + len, 0, 0);
    uds_frame_header((uint8_t *) stream + len, 1);
    stream[len + UDS_FRAME_HEADER_SIZE] = 'x';
    len += UDS_FRAME_HEADER_SIZE + 1;
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, stream, len, MSG_NOSIGNAL), (ssize_t) len);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, back, len, 1000, NULL), len);
    assert_memory_equal(back, stream, len);
    assert_int_equal(c->messages, 6);
    for (int k = 0; k < 5; k++)
        assert_int_equal(c->lens[k], 0);
    assert_int_equal(c->lens[5], 1);
}

#define MAX_MSG 200000

static void framed_max_size_message_is_accepted(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .max_message = MAX_MSG };
    static char out[UDS_FRAME_HEADER_SIZE + MAX_MSG], in[MAX_MSG];

    size_t len = put_frame(out, MAX_MSG, 5);
    start(c, UDS_STREAM, &o);
    int fd = tu_client(&c->fx, UDS_STREAM);
    send_pumped(c, fd, out, len, 5000);
    assert_int_equal(recv_frame(c, fd, in, MAX_MSG, 5000), MAX_MSG);
    assert_memory_equal(in, out + UDS_FRAME_HEADER_SIZE, MAX_MSG);
    assert_int_equal(c->closes, 0);
}

static void framed_oversize_message_closes_emsgsize_without_allocating(void **state) {
    struct ctx *c = *state;
    /* An allocation of the announced length could not hide in the heap figures. */
    struct uds_server_opts o = { .max_message = 8u << 20 };
    char hdr[UDS_FRAME_HEADER_SIZE + 100] = { 0 }, buf[5];

    start(c, UDS_STREAM, &o);
    int good = tu_client(&c->fx, UDS_STREAM);
    int bad = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 2, 1000));
    c->heap_base = tu_heap_in_use();
    c->measure = true;
    uds_frame_header((uint8_t *) hdr, (8u << 20) + 1);
    assert_int_equal(send(bad, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t) sizeof(hdr));
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->last_error, EMSGSIZE);
    assert_int_equal(c->messages, 0);
    assert_true(tu_sees_eof(c->fx.s, bad, 1000));
    if (TU_HEAP_MEASURABLE)
        assert_true(c->heap_at_close < 4096);
    /* The other client is served as before. */
    char frame[UDS_FRAME_HEADER_SIZE + 1];
    put_frame(frame, 1, 1);
    assert_int_equal(send(good, frame, sizeof(frame), MSG_NOSIGNAL), (ssize_t) sizeof(frame));
    assert_int_equal(recv_frame(c, good, buf, sizeof(buf), 1000), 1);
    assert_int_equal(buf[0], frame[UDS_FRAME_HEADER_SIZE]);
    assert_int_equal(uds_server_conn_count(c->fx.s), 1);
}

static void framed_max_plus_one_refused_repeatedly_memory_stays_flat(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .max_message = 65536 };
    char hdr[UDS_FRAME_HEADER_SIZE];

    if (!TU_HEAP_MEASURABLE)
        skip();
    start(c, UDS_STREAM, &o);
    /* Warm up: the first connection's allocations are not growth. */
    int fd = tu_client(&c->fx, UDS_STREAM);
    uds_frame_header((uint8_t *) hdr, 65537);
    assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t) sizeof(hdr));
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    size_t before = tu_heap_in_use();
    for (int i = 2; i <= 50; i++) {
        fd = tu_client(&c->fx, UDS_STREAM);
        assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t) sizeof(hdr));
        assert_true(tu_pump_until(c->fx.s, &c->closes, i, 1000));
        assert_int_equal(c->last_error, EMSGSIZE);
    }
    size_t after = tu_heap_in_use();
    assert_true(after < before + 4096);
    assert_int_equal(uds_server_conn_count(c->fx.s), 0);
}

static void framed_stream_ending_mid_payload_closes_eproto(void **state) {
    struct ctx *c = *state;
    char stream[UDS_FRAME_HEADER_SIZE + 10];

    uds_frame_header((uint8_t *) stream, 100);
    memset(stream + UDS_FRAME_HEADER_SIZE, 'p', 10);
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, stream, sizeof(stream), MSG_NOSIGNAL), (ssize_t) sizeof(stream));
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->last_error, EPROTO);
    assert_int_equal(c->eofs, 0);
    assert_int_equal(c->messages, 0);
    assert_true(tu_sees_eof(c->fx.s, fd, 1000));
}

static void framed_stream_ending_mid_header_closes_eproto(void **state) {
    struct ctx *c = *state;
    char stream[UDS_FRAME_HEADER_SIZE + 2 + 2], back[UDS_FRAME_HEADER_SIZE + 2];

    /* A whole message, then half a header: the reply to the first still arrives. */
    put_frame(stream, 2, 3);
    stream[UDS_FRAME_HEADER_SIZE + 2] = 0;
    stream[UDS_FRAME_HEADER_SIZE + 3] = 0;
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    int other = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 2, 1000));
    assert_int_equal(send(fd, stream, sizeof(stream), MSG_NOSIGNAL), (ssize_t) sizeof(stream));
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->last_error, EPROTO);
    assert_int_equal(c->messages, 1);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, back, sizeof(back), 1000, NULL), sizeof(back));
    assert_memory_equal(back, stream, sizeof(back));
    assert_true(tu_sees_eof(c->fx.s, fd, 1000));
    assert_int_equal(uds_server_conn_count(c->fx.s), 1);
    (void) other;
}

static void framed_stream_ending_between_messages_is_orderly(void **state) {
    struct ctx *c = *state;
    char frame[UDS_FRAME_HEADER_SIZE + 3], back[sizeof(frame)];

    put_frame(frame, 3, 4);
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, frame, sizeof(frame), MSG_NOSIGNAL), (ssize_t) sizeof(frame));
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, back, sizeof(back), 1000, NULL), sizeof(back));
    assert_memory_equal(back, frame, sizeof(frame));
    assert_true(tu_sees_eof(c->fx.s, fd, 1000));
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->eofs, 1);
    assert_int_equal(c->last_error, 0);
}

#define SLOW_FRAME 1004     /* 1000-byte messages */

static void framed_client_not_reading_replies_is_throttled(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .max_outbuf = 64 * 1024, .read_size = 4096 };
    static char frame[SLOW_FRAME], in[65536];

    put_frame(frame, SLOW_FRAME - UDS_FRAME_HEADER_SIZE, 8);
    start(c, UDS_STREAM, &o);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    size_t before = tu_heap_in_use();
    /* The client writes messages for a while and never reads. */
    size_t sent = 0;
    uint64_t end = tu_now_ms() + 400;
    while (tu_now_ms() < end) {
        size_t off = sent % SLOW_FRAME;
        ssize_t n = send(fd, frame + off, SLOW_FRAME - off, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t) n;
        tu_run_once(c->fx.s, 1);
    }
    size_t grown = tu_heap_in_use() - before;
    /* Held back: its bytes sit in kernel buffers, not in the server. */
    assert_true(sent < 4u << 20);
    if (TU_HEAP_MEASURABLE)
        assert_true(grown < 2 * (o.max_outbuf + o.read_size) + 16384);
    /* Once the client reads, it finishes its last message and gets every reply back. */
    size_t got = 0;
    end = tu_now_ms() + 5000;
    while (sent % SLOW_FRAME != 0 && tu_now_ms() < end) {
        size_t off = sent % SLOW_FRAME;
        ssize_t n = send(fd, frame + off, SLOW_FRAME - off, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t) n;
        got += tu_recv_pumped(c->fx.s, fd, in, sizeof(in), 5, NULL);
    }
    assert_int_equal(sent % SLOW_FRAME, 0);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    bool eof = false;
    while (!eof) {
        size_t n = tu_recv_pumped(c->fx.s, fd, in, sizeof(in), 2000, &eof);
        assert_true(n > 0 || eof);
        got += n;
    }
    assert_int_equal(got, sent);
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->last_error, 0);
    assert_int_equal((size_t) c->messages, sent / SLOW_FRAME);
}

static void framed_close_in_on_message_drops_the_rest(void **state) {
    struct ctx *c = *state;
    char stream[3 * (UDS_FRAME_HEADER_SIZE + 2)], back[32];
    size_t len = 0;
    bool eof;

    c->mode = MODE_CLOSE_FIRST;
    for (unsigned k = 0; k < 3; k++)
        len += put_frame(stream + len, 2, k);
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_int_equal(send(fd, stream, len, MSG_NOSIGNAL), (ssize_t) len);
    assert_int_equal(tu_recv_pumped(c->fx.s, fd, back, sizeof(back), 1000, &eof),
                     UDS_FRAME_HEADER_SIZE + 3);
    assert_true(eof);
    assert_memory_equal(back, "\0\0\0\3bye", UDS_FRAME_HEADER_SIZE + 3);
    assert_int_equal(c->messages, 1);
    assert_int_equal(c->closes, 1);
    assert_int_equal(c->last_error, 0);
}

static void framed_seqpacket_calls_on_message_per_packet(void **state) {
    struct ctx *c = *state;
    size_t sizes[] = { 1, 0, 100, 3000, 7 };
    char out[3000], in[4096];

    start(c, UDS_SEQPACKET, NULL);
    int fd = tu_client(&c->fx, UDS_SEQPACKET);
    tu_fill(out, sizeof(out), 3);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        assert_int_equal(send(fd, out, sizes[i], MSG_NOSIGNAL), (ssize_t) sizes[i]);
    /* Replies from uds_conn_send_message are bare packets: no frame header. */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ssize_t n;
        uint64_t end = tu_now_ms() + 1000;
        while ((n = recv(fd, in, sizeof(in), 0)) < 0 && errno == EAGAIN && tu_now_ms() < end)
            tu_run_once(c->fx.s, 5);
        assert_int_equal(n, (ssize_t) sizes[i]);
        assert_memory_equal(in, out, sizes[i]);
        assert_int_equal(c->lens[i], sizes[i]);
    }
    assert_int_equal(c->messages, 5);
    assert_int_equal(c->data_calls, 0);
}

static void framed_seqpacket_over_max_message_closes_emsgsize(void **state) {
    struct ctx *c = *state;
    struct uds_server_opts o = { .max_message = 16 };
    char out[17] = { 0 };

    start(c, UDS_SEQPACKET, &o);
    int fd = tu_client(&c->fx, UDS_SEQPACKET);
    assert_int_equal(send(fd, out, 16, MSG_NOSIGNAL), 16);
    assert_int_equal(send(fd, out, 17, MSG_NOSIGNAL), 17);
    assert_true(tu_pump_until(c->fx.s, &c->closes, 1, 1000));
    assert_int_equal(c->last_error, EMSGSIZE);
    assert_int_equal(c->messages, 1);
    assert_true(tu_sees_eof(c->fx.s, fd, 1000));
}

static void conn_send_message_over_4gib_fails_emsgsize(void **state) {
    struct ctx *c = *state;
    char byte = 'z', buf[2];

    if (SIZE_MAX <= UINT32_MAX)
        skip();
    start(c, UDS_STREAM, NULL);
    int fd = tu_client(&c->fx, UDS_STREAM);
    assert_true(tu_pump_until(c->fx.s, &c->opens, 1, 1000));
    errno = 0;
    /* Refused from the length alone: the buffer is never read. */
    assert_int_equal(uds_conn_send_message(c->first_conn, &byte, (size_t) UINT32_MAX + 1), -1);
    assert_int_equal(errno, EMSGSIZE);
    errno = 0;
    assert_int_equal(uds_conn_send_message(NULL, &byte, 1), -1);
    assert_int_equal(errno, EINVAL);
    /* The connection is still good. */
    assert_int_equal(uds_conn_send_message(c->first_conn, &byte, 1), 0);
    assert_int_equal(recv_frame(c, fd, buf, sizeof(buf), 1000), 1);
    assert_int_equal(buf[0], 'z');
    assert_int_equal(c->closes, 0);
}

#define IDLE_CONNS 1000

static void framed_idle_connections_cost_under_1kib_each(void **state) {
    struct ctx *c = *state;

    if (!TU_HEAP_MEASURABLE)
        skip();
    /* Both ends of every connection live in this process. */
    if (!tu_raise_fd_limit(2 * IDLE_CONNS + 64))
        skip();
    start(c, UDS_STREAM, NULL);
    size_t before = tu_heap_in_use();
    int *fds = tu_clients_many(&c->fx, IDLE_CONNS);
    assert_true(tu_pump_until(c->fx.s, &c->opens, IDLE_CONNS, 5000));
    /* Each sent one whole message and half of the next header: idle mid-frame. */
    char stream[UDS_FRAME_HEADER_SIZE + 2 + 2];
    put_frame(stream, 2, 1);
    memset(stream + UDS_FRAME_HEADER_SIZE + 2, 0, 2);
    for (int i = 0; i < IDLE_CONNS; i++) {
        assert_int_equal(send(fds[i], stream, sizeof(stream), MSG_NOSIGNAL),
                         (ssize_t) sizeof(stream));
        if (i % 64 == 63)
            tu_run_once(c->fx.s, 0);
    }
    assert_true(tu_pump_until(c->fx.s, &c->messages, IDLE_CONNS, 5000));
    size_t per_conn = (tu_heap_in_use() - before) / IDLE_CONNS;
    print_message("# heap per idle framed connection: %zu bytes\n", per_conn);
    assert_true(per_conn < 1024);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(framed_echo_many_clients_each_get_their_messages),
        T(framed_messages_split_byte_by_byte_arrive_whole),
        T(framed_many_messages_in_one_write_arrive_in_order),
        T(framed_whole_messages_are_delivered_without_allocating),
        T(framed_split_message_is_assembled_then_freed),
        T(framed_large_message_across_many_reads_echoes_intact),
        T(framed_small_and_large_replies_to_one_read_keep_order),
        T(framed_empty_messages_round_trip),
        T(framed_max_size_message_is_accepted),
        T(framed_oversize_message_closes_emsgsize_without_allocating),
        T(framed_max_plus_one_refused_repeatedly_memory_stays_flat),
        T(framed_stream_ending_mid_payload_closes_eproto),
        T(framed_stream_ending_mid_header_closes_eproto),
        T(framed_stream_ending_between_messages_is_orderly),
        T(framed_client_not_reading_replies_is_throttled),
        T(framed_close_in_on_message_drops_the_rest),
        T(framed_seqpacket_calls_on_message_per_packet),
        T(framed_seqpacket_over_max_message_closes_emsgsize),
        T(conn_send_message_over_4gib_fails_emsgsize),
        T(framed_idle_connections_cost_under_1kib_each),
#undef T
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
