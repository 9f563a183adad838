/* SPDX-License-Identifier: MIT */
/* test_frame.c — the length-prefix decoder state by state, and whole frames over real
 * socketpairs with the blocking helpers. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

static size_t frame(uint8_t *out, const char *payload) {
    size_t len = strlen(payload);
    uds_frame_header(out, (uint32_t) len);
    memcpy(out + 4, payload, len);
    return len + 4;
}

static void frame_header_is_big_endian(void **state) {
    uint8_t h[4];
    (void) state;
    uds_frame_header(h, 0x01020304u);
    assert_int_equal(h[0], 1);
    assert_int_equal(h[1], 2);
    assert_int_equal(h[2], 3);
    assert_int_equal(h[3], 4);
}

static void frame_whole_frame_in_one_buffer_is_one_piece_without_copy(void **state) {
    uint8_t buf[64];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece p;
    (void) state;
    size_t n = frame(buf, "hello");
    uds_frame_decoder_init(&d, 0);
    assert_int_equal(uds_frame_decoder_feed(&d, buf, n, &ev, &p), (ssize_t) n);
    assert_int_equal(ev, UDS_FRAME_PIECE);
    assert_true(p.first);
    assert_true(p.last);
    assert_int_equal(p.frame_len, 5);
    assert_int_equal(p.len, 5);
    assert_ptr_equal(p.data, buf + 4);
    assert_true(uds_frame_decoder_idle(&d));
}

static void frame_partial_header_needs_more(void **state) {
    uint8_t buf[16];
    struct uds_frame_decoder d;
    enum uds_frame_event ev = UDS_FRAME_PIECE;
    struct uds_frame_piece p;
    (void) state;
    frame(buf, "abc");
    uds_frame_decoder_init(&d, 0);
    assert_int_equal(uds_frame_decoder_feed(&d, buf, 3, &ev, &p), 3);
    assert_int_equal(ev, UDS_FRAME_NEED_MORE);
    assert_false(uds_frame_decoder_idle(&d));
    assert_int_equal(uds_frame_decoder_feed(&d, buf + 3, 4, &ev, &p), 4);
    assert_int_equal(ev, UDS_FRAME_PIECE);
    assert_true(p.first && p.last);
    assert_int_equal(p.len, 3);
    assert_memory_equal(p.data, "abc", 3);
}

static void frame_header_alone_reports_the_length_first(void **state) {
    uint8_t buf[16];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece p;
    (void) state;
    frame(buf, "abcdef");
    uds_frame_decoder_init(&d, 0);
    assert_int_equal(uds_frame_decoder_feed(&d, buf, 4, &ev, &p), 4);
    assert_int_equal(ev, UDS_FRAME_PIECE);
    assert_true(p.first);
    assert_false(p.last);
    assert_int_equal(p.len, 0);
    assert_int_equal(p.frame_len, 6);
    /* No input: nothing to report, and "first" is not repeated. */
    assert_int_equal(uds_frame_decoder_feed(&d, buf + 4, 0, &ev, &p), 0);
    assert_int_equal(ev, UDS_FRAME_NEED_MORE);
    assert_int_equal(uds_frame_decoder_feed(&d, buf + 4, 2, &ev, &p), 2);
    assert_int_equal(ev, UDS_FRAME_PIECE);
    assert_false(p.first);
    assert_false(p.last);
    assert_memory_equal(p.data, "ab", 2);
    assert_int_equal(uds_frame_decoder_feed(&d, buf + 6, 4, &ev, &p), 4);
    assert_true(p.last);
    assert_memory_equal(p.data, "cdef", 4);
}

static void frame_empty_payload_is_a_frame(void **state) {
    uint8_t buf[16];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece p;
    (void) state;
    size_t n = frame(buf, "");
    uds_frame_decoder_init(&d, 0);
    assert_int_equal(uds_frame_decoder_feed(&d, buf, n, &ev, &p), 4);
    assert_int_equal(ev, UDS_FRAME_PIECE);
    assert_true(p.first && p.last);
    assert_int_equal(p.len, 0);
    assert_int_equal(p.frame_len, 0);
}

static void frame_feed_stops_at_the_frame_boundary(void **state) {
    uint8_t buf[64];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece p;
    (void) state;
    size_t n1 = frame(buf, "one");
    size_t n2 = frame(buf + n1, "second");
    uds_frame_decoder_init(&d, 0);
    assert_int_equal(uds_frame_decoder_feed(&d, buf, n1 + n2, &ev, &p), (ssize_t) n1);
    assert_memory_equal(p.data, "one", 3);
    assert_int_equal(uds_frame_decoder_feed(&d, buf + n1, n2, &ev, &p), (ssize_t) n2);
    assert_memory_equal(p.data, "second", 6);
    assert_true(p.last);
}

static void frame_over_max_is_emsgsize_before_payload(void **state) {
    uint8_t buf[8];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece p;
    (void) state;
    uds_frame_header(buf, 1001);
    uds_frame_decoder_init(&d, 1000);
    errno = 0;
    assert_int_equal(uds_frame_decoder_feed(&d, buf, 4, &ev, &p), -1);
    assert_int_equal(errno, EMSGSIZE);
}

static void frame_error_is_sticky(void **state) {
    uint8_t buf[16];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece p;
    (void) state;
    uds_frame_header(buf, 0xffffffffu);
    uds_frame_decoder_init(&d, 0);
    assert_int_equal(uds_frame_decoder_feed(&d, buf, 4, &ev, &p), -1);
    size_t n = frame(buf, "ok");
    errno = 0;
    assert_int_equal(uds_frame_decoder_feed(&d, buf, n, &ev, &p), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_false(uds_frame_decoder_idle(&d));
}

static void frame_exactly_max_is_accepted(void **state) {
    uint8_t buf[4];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece p;
    (void) state;
    uds_frame_header(buf, 1000);
    uds_frame_decoder_init(&d, 1000);
    assert_int_equal(uds_frame_decoder_feed(&d, buf, 4, &ev, &p), 4);
    assert_int_equal(p.frame_len, 1000);
}

static void frame_default_max_is_16_mib(void **state) {
    struct uds_frame_decoder d;
    (void) state;
    uds_frame_decoder_init(&d, 0);
    assert_int_equal(d.max, 16u << 20);
}

static void frame_byte_by_byte_gives_the_same_frames(void **state) {
    uint8_t buf[256], got[256];
    size_t len = 0, got_len = 0;
    unsigned frames = 0;
    struct uds_frame_decoder d;
    (void) state;
    len += frame(buf + len, "alpha");
    len += frame(buf + len, "");
    len += frame(buf + len, "gamma delta");
    uds_frame_decoder_init(&d, 0);
    for (size_t i = 0; i < len; i++) {
        enum uds_frame_event ev;
        struct uds_frame_piece p;
        assert_int_equal(uds_frame_decoder_feed(&d, buf + i, 1, &ev, &p), 1);
        if (ev == UDS_FRAME_PIECE) {
            memcpy(got + got_len, p.data, p.len);
            got_len += p.len;
            frames += p.last;
        }
    }
    assert_int_equal(frames, 3);
    assert_int_equal(got_len, strlen("alphagamma delta"));
    assert_memory_equal(got, "alphagamma delta", got_len);
    assert_true(uds_frame_decoder_idle(&d));
}

static void frame_bad_arguments_are_einval(void **state) {
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece p;
    (void) state;
    uds_frame_decoder_init(&d, 0);
    errno = 0;
    assert_int_equal(uds_frame_decoder_feed(&d, NULL, 3, &ev, &p), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_frame_decoder_feed(&d, "x", 1, NULL, &p), -1);
}

static void frame_send_and_recv_round_trip(void **state) {
    int sv[2];
    void *buf;
    size_t len;
    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_frame_send(sv[0], "Hi server!", 10), 0);
    assert_int_equal(uds_frame_send(sv[0], "", 0), 0);
    assert_int_equal(uds_frame_recv(sv[1], 0, &buf, &len), 1);
    assert_int_equal(len, 10);
    assert_string_equal(buf, "Hi server!");
    free(buf);
    assert_int_equal(uds_frame_recv(sv[1], 0, &buf, &len), 1);
    assert_int_equal(len, 0);
    free(buf);
    close(sv[0]);
    assert_int_equal(uds_frame_recv(sv[1], 0, &buf, &len), 0);
    close(sv[1]);
}

struct big {
    int fd;
    uint8_t *data;
    size_t len;
    int result;
};

static void *send_big(void *arg) {
    struct big *b = arg;
    b->result = uds_frame_send(b->fd, b->data, b->len);
    return NULL;
}

static void frame_large_frame_crosses_partial_sends(void **state) {
    int sv[2];
    size_t n = 3u << 20;
    uint8_t *data = malloc(n);
    void *buf;
    size_t len;
    pthread_t t;
    (void) state;
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t) (i * 7u);
    tu_socketpair(SOCK_STREAM, sv);
    struct big b = { .fd = sv[0], .data = data, .len = n };
    assert_int_equal(pthread_create(&t, NULL, send_big, &b), 0);
    assert_int_equal(uds_frame_recv(sv[1], 0, &buf, &len), 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(b.result, 0);
    assert_int_equal(len, n);
    assert_memory_equal(buf, data, n);
    free(buf);
    free(data);
    tu_close_pair(sv);
}

static void frame_recv_over_max_is_emsgsize(void **state) {
    int sv[2];
    void *buf = NULL;
    size_t len = 0;
    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_frame_send(sv[0], "0123456789", 10), 0);
    errno = 0;
    assert_int_equal(uds_frame_recv(sv[1], 9, &buf, &len), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_null(buf);
    tu_close_pair(sv);
}

static void frame_recv_of_truncated_stream_is_eproto(void **state) {
    int sv[2];
    uint8_t h[4];
    void *buf = NULL;
    size_t len = 0;
    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    uds_frame_header(h, 10);
    assert_int_equal(uds_send_all(sv[0], h, 4), 4);
    assert_int_equal(uds_send_all(sv[0], "abc", 3), 3);
    close(sv[0]);
    errno = 0;
    assert_int_equal(uds_frame_recv(sv[1], 0, &buf, &len), -1);
    assert_int_equal(errno, EPROTO);
    assert_null(buf);
    close(sv[1]);
    /* A header cut short is a truncated frame too. */
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(uds_send_all(sv[0], h, 2), 2);
    close(sv[0]);
    errno = 0;
    assert_int_equal(uds_frame_recv(sv[1], 0, &buf, &len), -1);
    assert_int_equal(errno, EPROTO);
    close(sv[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_header_is_big_endian),
        cmocka_unit_test(frame_whole_frame_in_one_buffer_is_one_piece_without_copy),
        cmocka_unit_test(frame_partial_header_needs_more),
        cmocka_unit_test(frame_header_alone_reports_the_length_first),
        cmocka_unit_test(frame_empty_payload_is_a_frame),
        cmocka_unit_test(frame_feed_stops_at_the_frame_boundary),
        cmocka_unit_test(frame_over_max_is_emsgsize_before_payload),
        cmocka_unit_test(frame_error_is_sticky),
        cmocka_unit_test(frame_exactly_max_is_accepted),
        cmocka_unit_test(frame_default_max_is_16_mib),
        cmocka_unit_test(frame_byte_by_byte_gives_the_same_frames),
        cmocka_unit_test(frame_bad_arguments_are_einval),
        cmocka_unit_test(frame_send_and_recv_round_trip),
        cmocka_unit_test(frame_large_frame_crosses_partial_sends),
        cmocka_unit_test(frame_recv_over_max_is_emsgsize),
        cmocka_unit_test(frame_recv_of_truncated_stream_is_eproto),
    };
    alarm(60);
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
