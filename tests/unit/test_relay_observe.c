/* SPDX-License-Identifier: MIT */
/*
 * test_relay_observe.c — unit tests of a relay's observer (uds_relay_args.observe): it sees
 * every byte each way, in order and with its direction, before the other side does; an end
 * of input as an end chunk while the half-close is still passed on; one chunk per seqpacket
 * message with its length; the fds that came with the bytes (UDS_RELAY_PASS_FDS). Bulk data
 * without an observer still moves with splice(); with one it is all seen and none spliced.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define SEEN_MAX (4u << 20)

struct fix {
    struct uds_loop *loop;
    struct uds_relay_group *group;
    struct uds_relay *relay;
    struct uds_relay_info info;
    int closes;
    int a_peer, b_peer;
    /* what the observer saw */
    char *seen[2];          /* bytes from A, from B */
    size_t n_seen[2];
    size_t chunks[2], ends[2], messages[2], fds[2];
    size_t last_len;
};

static int setup(void **state) {
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    signal(SIGPIPE, SIG_IGN);
    f->loop = uds_loop_new();
    assert_non_null(f->loop);
    f->group = uds_relay_group_new(f->loop, NULL);
    assert_non_null(f->group);
    f->seen[0] = malloc(SEEN_MAX);
    f->seen[1] = malloc(SEEN_MAX);
    f->a_peer = f->b_peer = -1;
    alarm(20);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fix *f = *state;

    uds_relay_group_free(f->group);
    uds_loop_free(f->loop);
    if (f->a_peer >= 0)
        close(f->a_peer);
    if (f->b_peer >= 0)
        close(f->b_peer);
    free(f->seen[0]);
    free(f->seen[1]);
    free(f);
    alarm(0);
    return 0;
}

static void on_close(struct uds_relay *relay, const struct uds_relay_info *info, void *data) {
    struct fix *f = data;

    (void) relay;
    f->info = *info;
    f->closes++;
    f->relay = NULL;
}

static void observe(struct uds_relay *relay, const struct uds_relay_chunk *c, void *data) {
    struct fix *f = data;
    int s = c->from == UDS_RELAY_A ? 0 : 1;

    assert_ptr_equal(relay, f->relay);
    if (c->end) {
        assert_int_equal(c->len, 0);
        f->ends[s]++;
        return;
    }
    assert_true(f->n_seen[s] + c->len <= SEEN_MAX);
    memcpy(f->seen[s] + f->n_seen[s], c->data, c->len);
    f->n_seen[s] += c->len;
    f->chunks[s]++;
    f->messages[s] += c->message;
    f->fds[s] += c->n_fds;
    f->last_len = c->full_len;
}

static void start(struct fix *f, int type, unsigned flags, bool observed) {
    int a[2], b[2];

    tu_socketpair(type | SOCK_NONBLOCK, a);
    tu_socketpair(type | SOCK_NONBLOCK, b);
    f->a_peer = a[0];
    f->b_peer = b[0];
    struct uds_relay_args args = { .fd_a_in = a[1], .fd_a_out = a[1], .fd_b = b[1],
                                   .flags = flags, .observe = observed ? observe : NULL };
    f->relay = uds_relay_new2(f->group, &args, on_close, f);
    assert_non_null(f->relay);
}

static void turn(struct fix *f) {
    assert_true(uds_loop_run_once(f->loop, 5) >= 0);
}

/* Read len bytes from fd into buf while running the loop. */
static void read_exact(struct fix *f, int fd, char *buf, size_t len) {
    size_t got = 0;

    for (int i = 0; i < 20000 && got < len; i++) {
        if (f->relay)
            turn(f);
        ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t) n;
        else
            assert_true(n < 0 && errno == EAGAIN);
    }
    assert_int_equal(got, len);
}

static void observe_sees_every_byte_both_ways_in_order(void **state) {
    struct fix *f = *state;
    char buf[64];

    start(f, SOCK_STREAM, 0, true);
    assert_int_equal(send(f->a_peer, "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
    read_exact(f, f->b_peer, buf, 18);
    assert_int_equal(send(f->b_peer, "HTTP/1.0 200 OK\r\n", 17, 0), 17);
    read_exact(f, f->a_peer, buf, 17);
    assert_int_equal(send(f->a_peer, "more", 4, 0), 4);
    read_exact(f, f->b_peer, buf, 4);
    assert_int_equal(f->n_seen[0], 22);
    assert_memory_equal(f->seen[0], "GET / HTTP/1.0\r\n\r\nmore", 22);
    assert_int_equal(f->n_seen[1], 17);
    assert_memory_equal(f->seen[1], "HTTP/1.0 200 OK\r\n", 17);
    assert_int_equal(f->messages[0] + f->messages[1], 0);
}

static void observe_sees_the_end_and_the_half_close_goes_on(void **state) {
    struct fix *f = *state;
    char buf[8];

    start(f, SOCK_STREAM, 0, true);
    assert_int_equal(send(f->a_peer, "bye", 3, 0), 3);
    assert_int_equal(shutdown(f->a_peer, SHUT_WR), 0);
    read_exact(f, f->b_peer, buf, 3);
    ssize_t n = -1;
    for (int i = 0; i < 2000 && n < 0; i++) {
        turn(f);
        n = recv(f->b_peer, buf, sizeof(buf), MSG_DONTWAIT);
    }
    assert_int_equal(n, 0);
    assert_int_equal(f->ends[0], 1);
    assert_int_equal(f->ends[1], 0);
    /* B answers after A's end: still carried and seen. */
    assert_int_equal(send(f->b_peer, "ok", 2, 0), 2);
    read_exact(f, f->a_peer, buf, 2);
    assert_int_equal(f->n_seen[1], 2);
    assert_int_equal(shutdown(f->b_peer, SHUT_WR), 0);
    for (int i = 0; i < 2000 && f->relay; i++)
        turn(f);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->ends[1], 1);
}

static void observe_seqpacket_one_chunk_per_message(void **state) {
    struct fix *f = *state;
    char buf[64];

    start(f, SOCK_SEQPACKET, 0, true);
    assert_int_equal(send(f->a_peer, "a", 1, 0), 1);
    assert_int_equal(send(f->a_peer, "bb", 2, 0), 2);
    assert_int_equal(send(f->a_peer, "ccc", 3, 0), 3);
    for (int want = 1; want <= 3; want++) {
        ssize_t n = -1;
        for (int i = 0; i < 2000 && n < 0; i++) {
            turn(f);
            n = recv(f->b_peer, buf, sizeof(buf), MSG_DONTWAIT);
        }
        assert_int_equal(n, want);
    }
    assert_int_equal(f->chunks[0], 3);
    assert_int_equal(f->messages[0], 3);
    assert_int_equal(f->last_len, 3);
    assert_memory_equal(f->seen[0], "abbccc", 6);
}

static void observe_sees_passed_fds(void **state) {
    struct fix *f = *state;
    int p[2], got;
    char buf[8];

    start(f, SOCK_STREAM, UDS_RELAY_PASS_FDS, true);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(uds_send_fds(f->a_peer, "f", 1, &p[1], 1), 1);
    read_exact(f, f->b_peer, buf, 1);
    assert_int_equal(f->fds[0], 1);
    close(p[0]);
    close(p[1]);
    /* The fd arrived with the byte just read; take it so it is not left in the socket. */
    size_t n = 0;
    (void) uds_recv_fds(f->b_peer, buf, 0, &got, 1, &n);
}

/* 2 MiB through the relay one way; returns what the relay counted as spliced. */
static uint64_t bulk(struct fix *f, bool observed) {
    static char out[2u << 20], in[2u << 20];
    size_t sent = 0, got = 0;

    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (char) (i * 7 + i / 4096);
    start(f, SOCK_STREAM, 0, observed);
    for (int i = 0; i < 200000 && got < sizeof(in); i++) {
        if (sent < sizeof(out)) {
            ssize_t n = send(f->a_peer, out + sent, sizeof(out) - sent, MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t) n;
        }
        turn(f);
        ssize_t n = recv(f->b_peer, in + got, sizeof(in) - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t) n;
    }
    assert_int_equal(got, sizeof(in));
    assert_memory_equal(in, out, sizeof(in));
    struct uds_relay_info info;
    uds_relay_get_info(f->relay, &info);
    assert_int_equal(info.bytes_from_a, sizeof(out));
    return info.spliced_from_a;
}

static void observe_bulk_without_observer_still_splices(void **state) {
    struct fix *f = *state;

    assert_true(bulk(f, false) > 0);
}

static void observe_bulk_is_all_seen_and_none_spliced(void **state) {
    struct fix *f = *state;

    assert_int_equal(bulk(f, true), 0);
    assert_int_equal(f->n_seen[0], 2u << 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(observe_sees_every_byte_both_ways_in_order),
        T(observe_sees_the_end_and_the_half_close_goes_on),
        T(observe_seqpacket_one_chunk_per_message),
        T(observe_sees_passed_fds),
        T(observe_bulk_without_observer_still_splices),
        T(observe_bulk_is_all_seen_and_none_spliced),
#undef T
    };

    return cmocka_run_group_tests_name("relay observer", tests, NULL, NULL);
}
