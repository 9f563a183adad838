/* SPDX-License-Identifier: MIT */
/* test_memfd.c — large messages as sealed memfds over real socketpairs: round trips inline
 * and mapped, buffer reuse only after release, one-off memfds sent even when the kernel
 * refuses their first seal (EBUSY), refusal of memfds a sender could still shrink or that
 * are shorter than announced, and no fd left open on any path (the process's open fds are
 * counted before and after every test). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

static void fill(uint8_t *p, size_t len, unsigned seed) {
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t) (i * 7 + seed + (i >> 12));
}

static void check(const uint8_t *p, size_t len, unsigned seed) {
    for (size_t i = 0; i < len; i++)
        if (p[i] != (uint8_t) (i * 7 + seed + (i >> 12)))
            fail_msg("byte %zu of %zu differs", i, len);
}

/* Write a memfd message by hand: frame payload 'M' + 8-byte big-endian length. */
static void send_raw_memfd(int fd, int memfd, uint64_t len, int token) {
    uint8_t payload[9] = { 'M' };
    int fds[2] = { memfd, token };
    for (int i = 8; i >= 1; i--, len >>= 8)
        payload[i] = (uint8_t) len;
    assert_int_equal(uds_frame_send_fds(fd, payload, sizeof(payload), fds, token >= 0 ? 2 : 1),
                     0);
}

/* A memfd of size bytes of the fill() pattern, with the given seals added. */
static int make_memfd(size_t size, int seals) {
    int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    uint8_t *buf = malloc(size ? size : 1);
    fill(buf, size, 1);
    assert_int_equal(write(fd, buf, size), (ssize_t) size);
    free(buf);
    if (seals)
        assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
    return fd;
}

static void expect_refused(int fd, unsigned flags, int error) {
    struct uds_memfd_msg m = { .len = 12345 };
    errno = 0;
    assert_int_equal(uds_memfd_recv(fd, NULL, 0, flags, &m), -1);
    assert_int_equal(errno, error);
    assert_int_equal(m.len, 12345); /* ret_ untouched on failure */
}

static void memfd_round_trip_inline_and_mapped_sizes(void **state) {
    struct tu_pair_fixture *f = *state;
    const size_t sizes[] = { 0, 1, 4095, 64 * KIB - 1, 64 * KIB, MIB + 3, 5 * MIB };
    struct uds_memfd_pool_opts o = { .threshold = 64 * KIB };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    uint8_t *src = malloc(5 * MIB);
    assert_non_null(pool);

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct uds_memfd_msg m;
        fill(src, sizes[i], (unsigned) i);
        assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizes[i]), 0);
        assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, 0, &m), 1);
        assert_int_equal(m.len, sizes[i]);
        assert_int_equal(m.mapped, sizes[i] >= 64 * KIB);
        check(m.data, m.len, (unsigned) i);
        uds_memfd_msg_done(&m);
        uds_memfd_msg_done(&m); /* twice is harmless */
    }
    struct uds_memfd_pool_stats st;
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.sent_inline, 4);
    assert_int_equal(st.sent_pooled, 3);
    assert_int_equal(st.sent_fresh, 0);
    assert_int_equal(st.in_flight, 0);
    free(src);
    uds_memfd_pool_free(pool);
}

static void memfd_in_place_buffer_round_trip(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool *pool = uds_memfd_pool_new(NULL);
    struct uds_memfd_buf b;
    struct uds_memfd_msg m;

    assert_int_equal(uds_memfd_buf_init(pool, 3 * MIB, &b), 0);
    assert_int_equal(b.len, 3 * MIB);
    fill(b.data, b.len, 9);
    assert_int_equal(uds_memfd_buf_send(f->sv[0], pool, &b), 0);
    assert_null(b.data);
    uds_memfd_buf_done(pool, &b); /* after send: a no-op */
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, 0, &m), 1);
    assert_true(m.mapped);
    assert_false(m.immutable);
    check(m.data, 3 * MIB, 9);
    uds_memfd_msg_done(&m);
    uds_memfd_pool_free(pool);
}

static void memfd_pool_reuses_buffers_after_release(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .max_buffers = 2 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    struct uds_memfd_cache *cache = uds_memfd_cache_new(0);
    uint8_t *src = malloc(MIB);
    struct uds_memfd_pool_stats st;

    for (unsigned i = 0; i < 50; i++) {
        struct uds_memfd_msg m;
        /* Sizes vary a little: they all fit the first buffer's rounded-up capacity. */
        size_t len = MIB - i * 100;
        fill(src, len, i);
        assert_int_equal(uds_memfd_send(f->sv[0], pool, src, len), 0);
        assert_int_equal(uds_memfd_recv(f->sv[1], cache, 0, 0, &m), 1);
        assert_int_equal(m.len, len);
        /* The same buffer, mapped once by the cache, shows each new message. */
        check(m.data, len, i);
        uds_memfd_msg_done(&m);
    }
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.sent_pooled, 50);
    assert_int_equal(st.sent_fresh, 0);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.buffers, 1);
    assert_int_equal(st.in_flight, 0);
    free(src);
    uds_memfd_cache_free(cache);
    uds_memfd_pool_free(pool);
}

static void memfd_pool_all_in_flight_falls_back_to_fresh(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .max_buffers = 2 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    uint8_t *src = malloc(256 * KIB);
    struct uds_memfd_msg m[3];
    struct uds_memfd_pool_stats st;

    /* Nobody reads yet: the first two stay in flight, the third gets a one-off memfd. */
    for (unsigned i = 0; i < 3; i++) {
        fill(src, 256 * KIB, i);
        assert_int_equal(uds_memfd_send(f->sv[0], pool, src, 256 * KIB), 0);
    }
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.sent_pooled, 2);
    assert_int_equal(st.sent_fresh, 1);
    assert_int_equal(st.in_flight, 2);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, 0, &m[i]), 1);
        check(m[i].data, m[i].len, i);
    }
    assert_false(m[0].immutable);
    assert_true(m[2].immutable); /* the one-off memfd is sealed F_SEAL_WRITE */
    /* Received but not released: still in flight. */
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.in_flight, 2);
    for (unsigned i = 0; i < 3; i++)
        uds_memfd_msg_done(&m[i]);
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.created, 3);
    free(src);
    uds_memfd_pool_free(pool);
}

struct late_receiver {
    int fd;
    int received;
};

/* Receives two messages, holding the first for a while before releasing it. */
static void *late_receiver_main(void *arg) {
    struct late_receiver *r = arg;
    struct uds_memfd_msg m;
    struct timespec hold = { .tv_nsec = 50 * 1000 * 1000 };
    for (int i = 0; i < 2; i++) {
        if (uds_memfd_recv(r->fd, NULL, 0, 0, &m) != 1)
            return NULL;
        if (i == 0)
            nanosleep(&hold, NULL);
        uds_memfd_msg_done(&m);
        r->received++;
    }
    return NULL;
}

static void memfd_pool_wait_ms_waits_for_a_release(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .max_buffers = 1, .wait_ms = 5000 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    struct late_receiver r = { .fd = f->sv[1] };
    uint8_t src[4096] = { 0 };
    struct uds_memfd_pool_stats st;
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, late_receiver_main, &r), 0);
    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.received, 2);
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.sent_pooled, 2);
    assert_int_equal(st.sent_fresh, 0);
    assert_int_equal(st.created, 1);
    uds_memfd_pool_free(pool);
}

static void memfd_closed_connection_releases_unread_buffers(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .max_buffers = 2 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    uint8_t src[8192] = { 0 };
    struct uds_memfd_pool_stats st;

    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.in_flight, 2);
    /* The kernel drops the unread messages, and their tokens with them. */
    close(f->sv[1]);
    f->sv[1] = -1;
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.in_flight, 0);
    uds_memfd_pool_free(pool);
}

static void memfd_buf_done_returns_an_unsent_buffer(void **state) {
    (void) state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .max_buffers = 1 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    struct uds_memfd_buf a, b, c;
    struct uds_memfd_pool_stats st;

    assert_int_equal(uds_memfd_buf_init(pool, MIB, &a), 0);
    /* The only buffer is lent: the next one is a one-off memfd. */
    assert_int_equal(uds_memfd_buf_init(pool, MIB, &b), 0);
    assert_ptr_not_equal(a.data, b.data);
    uds_memfd_buf_done(pool, &a);
    uds_memfd_buf_done(pool, &b);
    assert_int_equal(uds_memfd_buf_init(pool, MIB, &c), 0);
    uds_memfd_buf_done(pool, &c);
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.buffers, 1);
    uds_memfd_pool_free(pool);
}

static void memfd_pool_is_bound_to_its_first_socket(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1024 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    uint8_t src[4096] = { 0 };
    int other[2];
    struct uds_memfd_msg m;

    tu_socketpair(SOCK_STREAM, other);
    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    errno = 0;
    assert_int_equal(uds_memfd_send(other[0], pool, src, sizeof(src)), -1);
    assert_int_equal(errno, EINVAL);
    /* Inline messages carry no buffer: any socket will do. */
    assert_int_equal(uds_memfd_send(other[0], pool, src, 100), 0);
    assert_int_equal(uds_memfd_recv(other[1], NULL, 0, 0, &m), 1);
    assert_int_equal(m.len, 100);
    uds_memfd_msg_done(&m);
    tu_close_pair(other);
    uds_memfd_pool_free(pool);
}

static void memfd_pooled_fd_is_read_only_and_sealed(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    uint8_t src[8192] = { 0 };
    void *frame;
    size_t len, n_fds;
    int fds[2];

    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    /* Take the message apart by hand, as a hostile receiver would. */
    assert_int_equal(uds_frame_recv_fds(f->sv[1], 0, &frame, &len, fds, 2, &n_fds), 1);
    assert_int_equal(n_fds, 2);
    int memfd = fds[0];
    assert_int_equal(fcntl(memfd, F_GETFL) & O_ACCMODE, O_RDONLY);
    int seals = fcntl(memfd, F_GET_SEALS);
    assert_int_equal(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    assert_true(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
    assert_int_equal(write(memfd, "x", 1), -1);
    assert_int_equal(ftruncate(memfd, 0), -1);
    assert_int_equal(fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE), -1);
    assert_true(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0) == MAP_FAILED);
    void *ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, memfd, 0);
    assert_true(ro != MAP_FAILED);
    assert_int_equal(mprotect(ro, 4096, PROT_READ | PROT_WRITE), -1);
    munmap(ro, 4096);
    close(fds[0]);
    close(fds[1]);
    free(frame);
    uds_memfd_pool_free(pool);
}

static void memfd_recv_refuses_unsealed_memfd(void **state) {
    struct tu_pair_fixture *f = *state;
    int memfd = make_memfd(8192, 0);
    send_raw_memfd(f->sv[0], memfd, 8192, -1);
    close(memfd);
    expect_refused(f->sv[1], 0, EPROTO);
}

static void memfd_recv_refuses_memfd_without_shrink_seal(void **state) {
    struct tu_pair_fixture *f = *state;
    int memfd = make_memfd(8192, F_SEAL_GROW | F_SEAL_WRITE);
    send_raw_memfd(f->sv[0], memfd, 8192, -1);
    close(memfd);
    expect_refused(f->sv[1], 0, EPROTO);
}

static void memfd_recv_refuses_memfd_without_grow_seal(void **state) {
    struct tu_pair_fixture *f = *state;
    int memfd = make_memfd(8192, F_SEAL_SHRINK | F_SEAL_WRITE);
    send_raw_memfd(f->sv[0], memfd, 8192, -1);
    close(memfd);
    expect_refused(f->sv[1], 0, EPROTO);
}

static void memfd_recv_refuses_memfd_without_write_seal(void **state) {
    struct tu_pair_fixture *f = *state;
    int memfd = make_memfd(8192, F_SEAL_SHRINK | F_SEAL_GROW);
    send_raw_memfd(f->sv[0], memfd, 8192, -1);
    close(memfd);
    expect_refused(f->sv[1], 0, EPROTO);
}

static void memfd_recv_refuses_memfd_smaller_than_announced(void **state) {
    struct tu_pair_fixture *f = *state;
    int memfd = make_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    send_raw_memfd(f->sv[0], memfd, 4097, -1);
    close(memfd);
    expect_refused(f->sv[1], 0, EPROTO);
}

static void memfd_recv_refuses_fd_that_is_not_a_memfd(void **state) {
    struct tu_pair_fixture *f = *state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    send_raw_memfd(f->sv[0], devnull, 1, p[1]);
    close(devnull);
    close(p[1]);
    expect_refused(f->sv[1], 0, EPROTO);
    /* The token that came with the refused message was closed too. */
    char c;
    assert_int_equal(read(p[0], &c, 1), 0);
    close(p[0]);
}

static void memfd_recv_immutable_refuses_pooled_buffer(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    uint8_t src[8192] = { 0 };

    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    expect_refused(f->sv[1], UDS_MEMFD_RECV_IMMUTABLE, EPROTO);
    uds_memfd_pool_free(pool);
}

static void memfd_recv_immutable_accepts_write_sealed_memfd(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .flags = UDS_MEMFD_POOL_IMMUTABLE };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    struct uds_memfd_cache *cache = uds_memfd_cache_new(0);
    uint8_t src[8192];
    struct uds_memfd_msg m;
    struct uds_memfd_pool_stats st;

    for (unsigned i = 0; i < 3; i++) {
        fill(src, sizeof(src), i);
        assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
        assert_int_equal(uds_memfd_recv(f->sv[1], cache, 0, UDS_MEMFD_RECV_IMMUTABLE, &m), 1);
        assert_true(m.immutable);
        check(m.data, m.len, i);
        uds_memfd_msg_done(&m);
    }
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.sent_fresh, 3);
    assert_int_equal(st.buffers, 0);
    uds_memfd_cache_free(cache);
    uds_memfd_pool_free(pool);
}

static void memfd_recv_inline_over_max_is_emsgsize(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 4096 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    uint8_t src[2000] = { 0 };

    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    struct uds_memfd_msg m;
    errno = 0;
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 1999, 0, &m), -1);
    assert_int_equal(errno, EMSGSIZE);
    uds_memfd_pool_free(pool);
}

static void memfd_recv_memfd_over_max_is_emsgsize(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 4096 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    uint8_t src[8192] = { 0 };
    struct uds_memfd_pool_stats st;

    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, sizeof(src)), 0);
    struct uds_memfd_msg m;
    errno = 0;
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 8191, 0, &m), -1);
    assert_int_equal(errno, EMSGSIZE);
    /* Refused, its token closed: the buffer is free again. */
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.in_flight, 0);
    uds_memfd_pool_free(pool);
}

static void memfd_recv_inline_with_fds_is_eproto(void **state) {
    struct tu_pair_fixture *f = *state;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_int_equal(uds_frame_send_fds(f->sv[0], "Ihello", 6, &devnull, 1), 0);
    close(devnull);
    expect_refused(f->sv[1], 0, EPROTO);
}

static void memfd_recv_unknown_kind_or_empty_frame_is_eproto(void **state) {
    struct tu_pair_fixture *f = *state;
    assert_int_equal(uds_frame_send(f->sv[0], "Xabc", 4), 0);
    expect_refused(f->sv[1], 0, EPROTO);
    assert_int_equal(uds_frame_send(f->sv[0], "", 0), 0);
    expect_refused(f->sv[1], 0, EPROTO);
    /* 'M' without its fd, and 'M' with a short length field. */
    uint8_t m[9] = { 'M', 0, 0, 0, 0, 0, 0, 0, 1 };
    assert_int_equal(uds_frame_send(f->sv[0], m, sizeof(m)), 0);
    expect_refused(f->sv[1], 0, EPROTO);
    int memfd = make_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    assert_int_equal(uds_frame_send_fds(f->sv[0], m, 5, &memfd, 1), 0);
    close(memfd);
    expect_refused(f->sv[1], 0, EPROTO);
}

static void memfd_recv_too_many_fds_is_emsgsize(void **state) {
    struct tu_pair_fixture *f = *state;
    int memfd = make_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    uint8_t m[9] = { 'M', 0, 0, 0, 0, 0, 0, 0x10, 0 };
    int fds[3] = { memfd, memfd, memfd };
    assert_int_equal(uds_frame_send_fds(f->sv[0], m, sizeof(m), fds, 3), 0);
    close(memfd);
    expect_refused(f->sv[1], 0, EMSGSIZE);
}

static void memfd_recv_end_of_stream_is_zero(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_msg m = { .len = 7 };
    close(f->sv[0]);
    f->sv[0] = -1;
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, 0, &m), 0);
    assert_int_equal(m.len, 7);
}

static void memfd_hand_made_sealed_memfd_is_accepted(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_msg m;
    /* A buffer longer than the message: only the announced bytes are the message. */
    int memfd = make_memfd(3 * 4096, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    send_raw_memfd(f->sv[0], memfd, 5000, -1);
    send_raw_memfd(f->sv[0], memfd, 0, -1);
    close(memfd);
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, 0, &m), 1);
    assert_int_equal(m.len, 5000);
    assert_true(m.mapped && m.immutable);
    check(m.data, m.len, 1);
    uds_memfd_msg_done(&m);
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, 0, &m), 1);
    assert_int_equal(m.len, 0);
    assert_non_null(m.data);
    uds_memfd_msg_done(&m);
}

static void memfd_cache_evicts_least_recently_used(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .max_buffers = 3 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    struct uds_memfd_cache *cache = uds_memfd_cache_new(1);
    uint8_t *src = malloc(4 * MIB);
    struct uds_memfd_msg held, m;

    /* One message held while others pass: the cache's one entry is in use, so the others
     * are mapped for themselves; then sizes alternate between two buffers. */
    fill(src, MIB, 0);
    assert_int_equal(uds_memfd_send(f->sv[0], pool, src, MIB), 0);
    assert_int_equal(uds_memfd_recv(f->sv[1], cache, 0, 0, &held), 1);
    for (unsigned i = 1; i < 12; i++) {
        size_t len = i % 2 ? 2 * MIB : 4 * MIB;
        fill(src, len, i);
        assert_int_equal(uds_memfd_send(f->sv[0], pool, src, len), 0);
        assert_int_equal(uds_memfd_recv(f->sv[1], cache, 0, 0, &m), 1);
        check(m.data, len, i);
        uds_memfd_msg_done(&m);
        if (i == 5)
            uds_memfd_msg_done(&held);
    }
    free(src);
    uds_memfd_cache_free(cache);
    uds_memfd_pool_free(pool);
}

/* Copies into pooled buffers take another path from 64 KiB on (stores that bypass the
 * cache, 64 bytes at a time): sources at odd addresses and lengths with a ragged tail must
 * come out whole, through a pooled buffer and through a one-off memfd alike. */
static void memfd_copy_from_unaligned_source_keeps_every_byte(void **state) {
    struct tu_pair_fixture *f = *state;
    const size_t sizes[] = { 64 * KIB - 1, 64 * KIB, 64 * KIB + 13, MIB + 63, 3 * MIB + 1 };
    uint8_t *src = malloc(3 * MIB + 64);

    for (unsigned immutable = 0; immutable < 2; immutable++) {
        struct uds_memfd_pool_opts o = {
            .threshold = 1, .flags = immutable ? UDS_MEMFD_POOL_IMMUTABLE : 0,
        };
        struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
        struct uds_memfd_cache *cache = uds_memfd_cache_new(0);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            struct uds_memfd_msg m;
            size_t offset = 1 + i % 3 * 4;
            fill(src + offset, sizes[i], (unsigned) (i + 10 * immutable));
            assert_int_equal(uds_memfd_send(f->sv[0], pool, src + offset, sizes[i]), 0);
            assert_int_equal(uds_memfd_recv(f->sv[1], cache, 0, 0, &m), 1);
            assert_int_equal(m.len, sizes[i]);
            assert_int_equal(m.immutable, immutable == 1);
            check(m.data, m.len, (unsigned) (i + 10 * immutable));
            uds_memfd_msg_done(&m);
        }
        uds_memfd_cache_free(cache);
        uds_memfd_pool_free(pool);
    }
    free(src);
}

/* A child forked while a one-off buffer is lent would keep a writable mapping of it, and
 * F_SEAL_WRITE is refused (EBUSY) while any writable mapping exists anywhere. */
static void memfd_fresh_buffer_sent_while_forked_child_lives(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .flags = UDS_MEMFD_POOL_IMMUTABLE };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    struct uds_memfd_buf b;
    struct uds_memfd_msg m;
    int hold[2];
    char c;

    assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
    assert_int_equal(uds_memfd_buf_init(pool, MIB, &b), 0);
    fill(b.data, b.len, 3);
    pid_t pid = tu_fork();
    if (pid == 0) {
        /* Lives, with whatever it inherited, until the parent is done sending. */
        close(hold[1]);
        _exit(read(hold[0], &c, 1) == 0 ? 0 : 1);
    }
    close(hold[0]);
    assert_int_equal(uds_memfd_buf_send(f->sv[0], pool, &b), 0);
    close(hold[1]);
    assert_int_equal(tu_wait_child(pid), 0);
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, UDS_MEMFD_RECV_IMMUTABLE, &m), 1);
    assert_true(m.immutable);
    check(m.data, MIB, 3);
    uds_memfd_msg_done(&m);
    uds_memfd_pool_free(pool);
}

/* A page of a one-off buffer still referenced elsewhere (here a pipe holds it, as vmsplice
 * or in-flight direct I/O would) makes F_SEAL_WRITE fail with EBUSY after the kernel has
 * waited for it; the message must go all the same, its bytes intact. */
static void memfd_fresh_buffer_with_pinned_page_is_still_sent(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .flags = UDS_MEMFD_POOL_IMMUTABLE };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    struct uds_memfd_buf b;
    struct uds_memfd_msg m;
    struct uds_memfd_pool_stats st;
    int p[2];

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(uds_memfd_buf_init(pool, 256 * KIB, &b), 0);
    fill(b.data, b.len, 4);
    struct iovec iov = { .iov_base = (uint8_t *) b.data + 8192, .iov_len = 4096 };
    assert_int_equal(vmsplice(p[1], &iov, 1, 0), 4096);
    assert_int_equal(uds_memfd_buf_send(f->sv[0], pool, &b), 0);
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, UDS_MEMFD_RECV_IMMUTABLE, &m), 1);
    assert_true(m.immutable);
    check(m.data, 256 * KIB, 4);
    uds_memfd_msg_done(&m);
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.sent_fresh, 1);
    close(p[0]);
    close(p[1]);
    uds_memfd_pool_free(pool);
}

struct slow_receiver {
    int fd;
    int go;             /* read end of a pipe: a byte means start */
    unsigned count;
    unsigned ok;
};

/* Checks every message, sleeping now and then so that the sender runs out of buffers. */
static void *slow_receiver_main(void *arg) {
    struct slow_receiver *r = arg;
    struct uds_memfd_cache *cache = uds_memfd_cache_new(2);
    struct timespec nap = { .tv_nsec = 200 * 1000 };
    char c;

    if (read(r->go, &c, 1) != 1)
        return NULL;
    for (unsigned i = 0; i < r->count; i++) {
        struct uds_memfd_msg m;
        if (uds_memfd_recv(r->fd, cache, 0, 0, &m) != 1)
            break;
        size_t len = MIB / 2 + (i % 7) * 40000;
        const uint8_t *d = m.data;
        bool good = m.len == len;
        for (size_t k = 0; good && k < len; k += 997)
            good = d[k] == (uint8_t) (k * 7 + i + (k >> 12));
        if (i % 3 == 0)
            nanosleep(&nap, NULL);
        uds_memfd_msg_done(&m);
        r->ok += good;
    }
    uds_memfd_cache_free(cache);
    return NULL;
}

static void memfd_back_to_back_with_slow_receiver_all_sent(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts o = { .threshold = 1, .max_buffers = 2 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    struct slow_receiver r = { .fd = f->sv[1], .count = 300 };
    struct uds_memfd_pool_stats st;
    uint8_t *src = malloc(MIB);
    pthread_t t;
    int go[2];

    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    r.go = go[0];
    assert_int_equal(pthread_create(&t, NULL, slow_receiver_main, &r), 0);
    for (unsigned i = 0; i < r.count; i++) {
        /* The receiver starts once both buffers are in flight: the third message at
         * least goes in a one-off memfd, whatever the speed of either side. */
        if (i == 3)
            assert_int_equal(write(go[1], "g", 1), 1);
        size_t len = MIB / 2 + (i % 7) * 40000;
        if (i % 2) {
            fill(src, len, i);
            assert_int_equal(uds_memfd_send(f->sv[0], pool, src, len), 0);
        } else {
            struct uds_memfd_buf b;
            assert_int_equal(uds_memfd_buf_init(pool, len, &b), 0);
            fill(b.data, len, i);
            assert_int_equal(uds_memfd_buf_send(f->sv[0], pool, &b), 0);
        }
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    close(go[0]);
    close(go[1]);
    assert_int_equal(r.ok, r.count);
    uds_memfd_pool_stats(pool, &st);
    assert_int_equal(st.sent_pooled + st.sent_fresh, r.count);
    assert_true(st.sent_fresh > 0);
    assert_true(st.buffers <= 2);
    free(src);
    uds_memfd_pool_free(pool);
}

static void memfd_invalid_arguments_are_einval(void **state) {
    struct tu_pair_fixture *f = *state;
    struct uds_memfd_pool_opts bad = { .flags = 1u << 7 };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(NULL);
    struct uds_memfd_msg m;
    struct uds_memfd_buf b = { 0 };

    errno = 0;
    assert_null(uds_memfd_pool_new(&bad));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_memfd_send(f->sv[0], NULL, "x", 1), -1);
    assert_int_equal(uds_memfd_send(f->sv[0], pool, NULL, 1), -1);
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, 1u << 9, &m), -1);
    assert_int_equal(uds_memfd_recv(f->sv[1], NULL, 0, 0, NULL), -1);
    assert_int_equal(uds_memfd_buf_send(f->sv[0], pool, &b), -1);
    assert_int_equal(errno, EINVAL);
    uds_memfd_pool_free(pool);
    uds_memfd_pool_free(NULL);
    uds_memfd_cache_free(NULL);
    uds_memfd_msg_done(NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, tu_pair_setup, tu_pair_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(memfd_round_trip_inline_and_mapped_sizes),
        T(memfd_in_place_buffer_round_trip),
        T(memfd_pool_reuses_buffers_after_release),
        T(memfd_pool_all_in_flight_falls_back_to_fresh),
        T(memfd_pool_wait_ms_waits_for_a_release),
        T(memfd_closed_connection_releases_unread_buffers),
        T(memfd_buf_done_returns_an_unsent_buffer),
        T(memfd_pool_is_bound_to_its_first_socket),
        T(memfd_pooled_fd_is_read_only_and_sealed),
        T(memfd_recv_refuses_unsealed_memfd),
        T(memfd_recv_refuses_memfd_without_shrink_seal),
        T(memfd_recv_refuses_memfd_without_grow_seal),
        T(memfd_recv_refuses_memfd_without_write_seal),
        T(memfd_recv_refuses_memfd_smaller_than_announced),
        T(memfd_recv_refuses_fd_that_is_not_a_memfd),
        T(memfd_recv_immutable_refuses_pooled_buffer),
        T(memfd_recv_immutable_accepts_write_sealed_memfd),
        T(memfd_recv_inline_over_max_is_emsgsize),
        T(memfd_recv_memfd_over_max_is_emsgsize),
        T(memfd_recv_inline_with_fds_is_eproto),
        T(memfd_recv_unknown_kind_or_empty_frame_is_eproto),
        T(memfd_recv_too_many_fds_is_emsgsize),
        T(memfd_recv_end_of_stream_is_zero),
        T(memfd_hand_made_sealed_memfd_is_accepted),
        T(memfd_cache_evicts_least_recently_used),
        T(memfd_copy_from_unaligned_source_keeps_every_byte),
        T(memfd_fresh_buffer_sent_while_forked_child_lives),
        T(memfd_fresh_buffer_with_pinned_page_is_still_sent),
        T(memfd_back_to_back_with_slow_receiver_all_sent),
        T(memfd_invalid_arguments_are_einval),
    };
    alarm(60);
    return cmocka_run_group_tests_name("memfd", tests, NULL, NULL);
}
