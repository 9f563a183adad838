/* SPDX-License-Identifier: MIT */
/*
 * memfd.c — large messages as sealed memfds passed with SCM_RIGHTS: the sender's pool of
 * reusable buffers with pipe release tokens, and the receiver's seal and size checks before
 * it maps anything. It speaks over framed streams through fdpass.c; it has no event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "internal.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/* Constants missing from older headers; each is tried, and refused by older kernels. */
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define KIND_INLINE 'I'
#define KIND_MEMFD 'M'
#define MEMFD_PAYLOAD 9         /* kind byte + 8-byte length */
#define KNOWN_POOL_FLAGS UDS_MEMFD_POOL_IMMUTABLE
#define KNOWN_RECV_FLAGS UDS_MEMFD_RECV_IMMUTABLE
/* The largest payload that fits in a frame with its kind byte. */
#define INLINE_MAX ((size_t) UINT32_MAX - 1)

#define SEALS_POOLED (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)
#define SEALS_FRESH (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
/* How many times a one-off memfd refused F_SEAL_WRITE is copied into a new one. */
#define SEAL_RETRIES 3
/* From this size on, a copy into a pooled buffer may bypass the cache (copy_to_shared). */
#define STREAM_COPY_MIN (64u << 10)
/* Every this many such copies, the way not in favour is timed again. */
#define COPY_RETRY_EVERY 16

struct slot {
    int memfd;          /* -1: the slot holds no buffer */
    int send_fd;        /* what receivers get: a read-only reopen of memfd, or memfd */
    int release_fd;     /* in flight: read end of the release token pipe; else -1 */
    bool lent;          /* handed out by uds_memfd_buf_init(), not yet sent */
    void *map;          /* the sender's writable mapping, made before the seals */
    size_t cap;
};

struct uds_memfd_pool {
    size_t threshold;
    unsigned flags;
    int wait_ms;
    bool bound;         /* the socket the pooled buffers went to (see the header) */
    dev_t sock_dev;
    ino_t sock_ino;
    struct uds_memfd_pool_stats stats;
    uint64_t copy_cost[2];  /* ns per MiB, moving average: [0] memcpy, [1] streaming */
    unsigned copies;
    struct pollfd *pfds;
    size_t *pfd_slot;
    int *spent;         /* read ends of released tokens, closed after the next send */
    size_t n_spent;
    size_t n_slots;
    struct slot slots[];
};

static const char empty_payload[1];

static bool is_inline(const struct uds_memfd_pool *pool, size_t len) {
    return len < pool->threshold && len <= INLINE_MAX;
}

static int memfd_new(void) {
    /* MFD_NOEXEC_SEAL (Linux 6.3) keeps newer kernels from logging a warning about an
     * executable memfd; older ones refuse the flag with EINVAL, so ask again without it. */
    int fd = memfd_create("udskit-msg", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create("udskit-msg", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd;
}

/* A read-only open file of the same memfd, through its /proc/self/fd link. The receiver
 * then cannot even try F_ADD_SEALS or write(): both need a writable file. Without /proc
 * the memfd itself goes; its seals alone already keep the receiver from writing. */
static int reopen_read_only(int memfd) {
    char link[32];

    (void) snprintf(link, sizeof(link), "/proc/self/fd/%d", memfd);
    int fd = open(link, O_RDONLY | O_CLOEXEC);
    return fd >= 0 ? fd : memfd;
}

static void slot_destroy(struct slot *s) {
    if (s->map)
        (void) munmap(s->map, s->cap);
    if (s->send_fd >= 0 && s->send_fd != s->memfd)
        uds__close_keep_errno(s->send_fd);
    uds__close_keep_errno(s->memfd);
    uds__close_keep_errno(s->release_fd);
    *s = (struct slot) { .memfd = -1, .send_fd = -1, .release_fd = -1 };
}

/* Map first, then seal: F_SEAL_FUTURE_WRITE refuses writable mappings made after it but
 * leaves this one working, which is what lets the buffer be reused. MAP_POPULATE allocates
 * the pages now rather than one fault at a time while the first message is written. */
static int slot_create(struct uds_memfd_pool *pool, struct slot *s, size_t cap) {
    struct slot n = { .memfd = -1, .send_fd = -1, .release_fd = -1, .cap = cap };

    n.memfd = memfd_new();
    if (n.memfd < 0)
        return -1;
    pool->stats.created++;
    if (ftruncate(n.memfd, (off_t) cap) < 0)
        goto fail;
    n.map = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, n.memfd, 0);
    if (n.map == MAP_FAILED) {
        n.map = NULL;
        goto fail;
    }
    if (fcntl(n.memfd, F_ADD_SEALS, SEALS_POOLED) < 0) {
        /* No F_SEAL_FUTURE_WRITE before Linux 5.1: nothing can be reused safely, so every
         * message from now on gets a one-off memfd sealed F_SEAL_WRITE. */
        if (errno == EINVAL)
            pool->flags |= UDS_MEMFD_POOL_IMMUTABLE;
        goto fail;
    }
    n.send_fd = reopen_read_only(n.memfd);
    *s = n;
    return 0;
fail:
    slot_destroy(&n);
    return -1;
}

/* Gather the release fds of the buffers in flight into pool->pfds; returns their count. */
static nfds_t in_flight(struct uds_memfd_pool *pool) {
    nfds_t n = 0;

    for (size_t i = 0; i < pool->n_slots; i++) {
        if (pool->slots[i].release_fd < 0)
            continue;
        pool->pfds[n] = (struct pollfd) { .fd = pool->slots[i].release_fd, .events = 0 };
        pool->pfd_slot[n++] = i;
    }
    return n;
}

/* Close the read ends of the released tokens. It is the last close of each pipe, which
 * frees it (~2.5 us on a 2-CPU KVM guest): done after the send rather than before, it no
 * longer delays the message (in a ping-pong the sender then only waits for the reply). */
static void close_spent(struct uds_memfd_pool *pool) {
    for (size_t i = 0; i < pool->n_spent; i++)
        uds__close_keep_errno(pool->spent[i]);
    pool->n_spent = 0;
}

/* Collect the releases that arrived (a token pipe whose write ends are all closed), waiting
 * up to timeout_ms (-1 for ever) for the first. Returns how many were collected. */
static size_t reap(struct uds_memfd_pool *pool, int timeout_ms) {
    uint64_t deadline = timeout_ms > 0 ? uds__now_ms() + (uint64_t) timeout_ms : 0;
    nfds_t n = in_flight(pool);
    size_t got = 0;
    int r;

    if (n == 0)
        return 0;
    for (;;) {
        r = poll(pool->pfds, n, timeout_ms);
        if (r >= 0 || errno != EINTR)
            break;
        if (timeout_ms > 0) {
            uint64_t now = uds__now_ms();
            if (now >= deadline)
                return 0;
            timeout_ms = (int) (deadline - now);
        }
    }
    if (r <= 0)
        return 0;
    for (nfds_t k = 0; k < n; k++) {
        if (!(pool->pfds[k].revents & (POLLHUP | POLLERR | POLLNVAL)))
            continue;
        struct slot *s = &pool->slots[pool->pfd_slot[k]];
        /* Room for every slot's token; a slot is reaped again only after a send, which
         * empties the list. */
        if (pool->n_spent < pool->n_slots)
            pool->spent[pool->n_spent++] = s->release_fd;
        else
            uds__close_keep_errno(s->release_fd);
        s->release_fd = -1;
        got++;
    }
    return got;
}

static bool slot_idle(const struct slot *s) {
    return s->memfd >= 0 && s->release_fd < 0 && !s->lent;
}

/* Capacity for a len-byte message: len rounded up to an eighth of the power of two below
 * it (at least a page), so a slightly longer message later still fits, wasting at most
 * an eighth. */
static size_t capacity_for(size_t len) {
    size_t page = (size_t) sysconf(_SC_PAGESIZE);
    size_t p = 1;

    while (p <= len / 2)
        p <<= 1;
    size_t g = p / 8 > page ? p / 8 : page;
    if (len > SIZE_MAX - g)
        return len;
    return (len + g - 1) / g * g;
}

/* The smallest idle buffer that holds len bytes, or NULL; *ret_spare is then a slot that
 * can take a new buffer: an empty one, else an idle one too small for len (or NULL). */
static struct slot *scan(struct uds_memfd_pool *pool, size_t len, struct slot **ret_spare) {
    struct slot *best = NULL, *empty = NULL, *small = NULL;

    for (size_t i = 0; i < pool->n_slots; i++) {
        struct slot *s = &pool->slots[i];
        if (s->memfd < 0) {
            empty = empty ? empty : s;
        } else if (slot_idle(s)) {
            if (s->cap >= len && (!best || s->cap < best->cap))
                best = s;
            else if (s->cap < len)
                small = small ? small : s;
        }
    }
    *ret_spare = empty ? empty : small;
    return best;
}

/* The slot to carry len bytes, or NULL when every buffer stayed lent or in flight (or none
 * could be made): the caller then uses a one-off memfd. Releases are collected only when no
 * idle buffer fits, so the common case costs no system call. */
static struct slot *pick_slot(struct uds_memfd_pool *pool, size_t len) {
    struct slot *spare, *s = scan(pool, len, &spare);

    if (!s && reap(pool, 0) > 0)
        s = scan(pool, len, &spare);
    if (!s && !spare && pool->wait_ms != 0 && reap(pool, pool->wait_ms) > 0)
        s = scan(pool, len, &spare);
    if (s)
        return s;
    if (!spare)
        return NULL;
    /* No idle buffer fits: make one, in an empty slot or replacing one that is too small. */
    if (spare->memfd >= 0)
        slot_destroy(spare);
    if (slot_create(pool, spare, capacity_for(len)) < 0)
        return NULL;
    return spare;
}

UDS_API struct uds_memfd_pool *uds_memfd_pool_new(const struct uds_memfd_pool_opts *opts) {
    struct uds_memfd_pool_opts o = { 0 };

    if (opts)
        o = *opts;
    if (o.flags & ~KNOWN_POOL_FLAGS) {
        errno = EINVAL;
        return NULL;
    }
    if (o.threshold == 0)
        o.threshold = UDS_MEMFD_DEFAULT_THRESHOLD;
    if (o.max_buffers == 0)
        o.max_buffers = UDS_MEMFD_DEFAULT_BUFFERS;
    if (o.max_buffers > (SIZE_MAX - sizeof(struct uds_memfd_pool)) / sizeof(struct slot) / 2) {
        errno = EINVAL;
        return NULL;
    }
    struct uds_memfd_pool *pool =
        calloc(1, sizeof(*pool) + o.max_buffers * sizeof(struct slot));
    if (!pool)
        return NULL;
    pool->pfds = calloc(o.max_buffers, sizeof(*pool->pfds));
    pool->pfd_slot = calloc(o.max_buffers, sizeof(*pool->pfd_slot));
    pool->spent = calloc(o.max_buffers, sizeof(*pool->spent));
    if (!pool->pfds || !pool->pfd_slot || !pool->spent) {
        free(pool->pfds);
        free(pool->pfd_slot);
        free(pool->spent);
        free(pool);
        errno = ENOMEM;
        return NULL;
    }
    pool->threshold = o.threshold;
    pool->flags = o.flags;
    pool->wait_ms = o.wait_ms < 0 ? -1 : o.wait_ms;
    pool->n_slots = o.max_buffers;
    for (size_t i = 0; i < pool->n_slots; i++)
        pool->slots[i] = (struct slot) { .memfd = -1, .send_fd = -1, .release_fd = -1 };
    return pool;
}

UDS_API void uds_memfd_pool_free(struct uds_memfd_pool *pool) {
    if (!pool)
        return;
    for (size_t i = 0; i < pool->n_slots; i++)
        slot_destroy(&pool->slots[i]);
    close_spent(pool);
    free(pool->pfds);
    free(pool->pfd_slot);
    free(pool->spent);
    free(pool);
}

UDS_API void uds_memfd_pool_stats(struct uds_memfd_pool *pool,
                                  struct uds_memfd_pool_stats *ret_stats) {
    if (!pool || !ret_stats)
        return;
    (void) reap(pool, 0);
    close_spent(pool);
    struct uds_memfd_pool_stats st = pool->stats;
    st.buffers = st.in_flight = 0;
    for (size_t i = 0; i < pool->n_slots; i++) {
        st.buffers += pool->slots[i].memfd >= 0;
        st.in_flight += pool->slots[i].release_fd >= 0;
    }
    *ret_stats = st;
}

/* A one-off memfd of exactly len bytes, mapped writable until it is sent (for the caller
 * to write in place; uds_memfd_send() never maps its one-off memfds). */
static int fresh_init(struct uds_memfd_pool *pool, size_t len, struct uds_memfd_buf *ret) {
    int fd = memfd_new();

    if (fd < 0)
        return -1;
    pool->stats.created++;
    if (ftruncate(fd, (off_t) len) < 0)
        goto fail;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED)
        goto fail;
    *ret = (struct uds_memfd_buf) { .data = map, .len = len, .priv_slot = -1, .priv_fd = fd };
    return 0;
fail:
    uds__close_keep_errno(fd);
    return -1;
}

UDS_API int uds_memfd_buf_init(struct uds_memfd_pool *pool, size_t len,
                               struct uds_memfd_buf *ret_buf) {
    if (!pool || !ret_buf || len > (size_t) INT64_MAX)
        return uds__fail(EINVAL);
    if (is_inline(pool, len)) {
        void *mem = malloc(len ? len : 1);
        if (!mem)
            return -1;
        *ret_buf = (struct uds_memfd_buf) { .data = mem, .len = len, .priv_slot = -1,
                                            .priv_fd = -1 };
        return 0;
    }
    if (!(pool->flags & UDS_MEMFD_POOL_IMMUTABLE)) {
        struct slot *s = pick_slot(pool, len);
        if (s) {
            s->lent = true;
            *ret_buf = (struct uds_memfd_buf) { .data = s->map, .len = len,
                                                .priv_slot = (int) (s - pool->slots),
                                                .priv_fd = -1 };
            return 0;
        }
    }
    return fresh_init(pool, len, ret_buf);
}

UDS_API void uds_memfd_buf_done(struct uds_memfd_pool *pool, struct uds_memfd_buf *buf) {
    if (!pool || !buf || !buf->data)
        return;
    if (buf->priv_slot >= 0) {
        if ((size_t) buf->priv_slot < pool->n_slots)
            pool->slots[buf->priv_slot].lent = false;
    } else if (buf->priv_fd >= 0) {
        (void) munmap(buf->data, buf->len);
        uds__close_keep_errno(buf->priv_fd);
    } else {
        free(buf->data);
    }
    *buf = (struct uds_memfd_buf) { .priv_slot = -1, .priv_fd = -1 };
}

#if defined(__x86_64__)
/* memcpy with non-temporal stores: whole cache lines go to memory without being fetched
 * first, and without staying in this CPU's cache. */
static void copy_streaming(void *dst, const void *src, size_t len) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    size_t body = len & ~(size_t) 63;

    for (size_t i = 0; i < body; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *) (const void *) (s + i));
        __m128i b = _mm_loadu_si128((const __m128i *) (const void *) (s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *) (const void *) (s + i + 32));
        __m128i e = _mm_loadu_si128((const __m128i *) (const void *) (s + i + 48));
        _mm_stream_si128((__m128i *) (void *) (d + i), a);
        _mm_stream_si128((__m128i *) (void *) (d + i + 16), b);
        _mm_stream_si128((__m128i *) (void *) (d + i + 32), c);
        _mm_stream_si128((__m128i *) (void *) (d + i + 48), e);
    }
    /* Non-temporal stores are weakly ordered: make them visible before the message that
     * sends the reader to them. */
    _mm_sfence();
    memcpy(d + body, s + body, len - body);
}

static uint64_t now_ns(void) {
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}
#endif

/* Copy a message into the pooled buffer s (page-aligned), which another process reads next.
 * Which kind of store is the faster depends on where that reader is and what its cache
 * holds, which the sender cannot see. While other messages are still in flight, the reader
 * is busy with them and this buffer's old lines have left its cache: memcpy is the faster
 * (1 MiB back to back on a 2-CPU KVM guest, AMD EPYC: ~47 us a message, against ~65 with
 * non-temporal stores, which also make the reader fetch from memory). When nothing else is
 * in flight, the reader has just finished with this very buffer and its cache holds the
 * lines: if it runs on another CPU, each ordinary store must first take a line back from
 * it (a 1 MiB memcpy took ~87 us), while non-temporal stores write whole lines without
 * fetching them (~41 us); on the same CPU, memcpy is the faster again (~22 against ~39 us).
 * So in that case both are timed, and the one faster in the recent past is used, the other
 * being tried again every COPY_RETRY_EVERY copies. Small messages always stay in cache. */
static void copy_to_shared(struct uds_memfd_pool *pool, struct slot *s, const void *src,
                           size_t len) {
#if defined(__x86_64__)
    bool reader_busy = false;

    for (size_t i = 0; i < pool->n_slots; i++)
        reader_busy |= &pool->slots[i] != s && pool->slots[i].release_fd >= 0;
    if (len >= STREAM_COPY_MIN && !reader_busy) {
        uint64_t *cost = pool->copy_cost;
        int way = cost[0] == 0 ? 0 : cost[1] == 0 ? 1 : cost[1] < cost[0];
        if (++pool->copies % COPY_RETRY_EVERY == 0)
            way = !way;
        uint64_t t0 = now_ns();
        if (way)
            copy_streaming(s->map, src, len);
        else
            memcpy(s->map, src, len);
        uint64_t ns = now_ns() - t0;
        uint64_t sample = len >= ((uint64_t) 1 << 20) ? ns / (len >> 20) : (ns << 20) / len;
        /* A copy stretched by preemption is not the way's fault: one sample moves the
         * average up by a quarter at most. */
        if (cost[way] == 0)
            cost[way] = sample ? sample : 1;
        else
            cost[way] = (3 * cost[way] + (sample < 2 * cost[way] ? sample : 2 * cost[way])) / 4;
        return;
    }
#else
    (void) pool;
#endif
    memcpy(s->map, src, len);
}

static int pwrite_all(int fd, const void *buf, size_t len) {
    const uint8_t *p = buf;
    off_t off = 0;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        off += n;
        len -= (size_t) n;
    }
    return 0;
}

/* A new memfd holding the first len bytes of the memfd src, written with pwrite(): no
 * mapping of it ever exists. */
static int copy_memfd(int src, size_t len) {
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, src, 0);

    if (map == MAP_FAILED)
        return -1;
    int fd = memfd_new();
    if (fd >= 0 && pwrite_all(fd, map, len) < 0) {
        uds__close_keep_errno(fd);
        fd = -1;
    }
    int saved = errno;
    (void) munmap(map, len);
    errno = saved;
    return fd;
}

/* Seal a one-off memfd F_SEAL_WRITE. Consumes fd: returns the memfd to send (fd or a
 * copy), or -1 with fd closed. The kernel refuses F_SEAL_WRITE with EBUSY while a
 * writable shared mapping of the file exists anywhere (a child forked while the buffer
 * was lent inherits the sender's), and also while any page of it still has a reference
 * from outside the page cache after waiting ~150 ms for those to go: vmsplice() or
 * direct I/O on a lent buffer, or pages the kernel itself has isolated for reclaim or
 * migration (kswapd, DAMON, compaction), which a loaded machine may keep past that wait.
 * None of these is the sender's error, so the bytes move to a new memfd that was never
 * mapped (the sender's mapping is gone, so a fork now leaves no writer behind), and that
 * one is sealed instead. */
static int seal_fresh(struct uds_memfd_pool *pool, int fd, size_t len) {
    for (int retry = 0;; retry++) {
        if (fcntl(fd, F_ADD_SEALS, SEALS_FRESH) == 0)
            return fd;
        if (errno != EBUSY || retry == SEAL_RETRIES) {
            uds__close_keep_errno(fd);
            return -1;
        }
        int copy = copy_memfd(fd, len);
        uds__close_keep_errno(fd);
        if (copy < 0)
            return -1;
        pool->stats.created++;
        fd = copy;
    }
}

static int send_inline(int fd, const void *buf, size_t len) {
    uint8_t prefix[UDS_FRAME_HEADER_SIZE + 1];

    uds_frame_header(prefix, (uint32_t) (len + 1));
    prefix[UDS_FRAME_HEADER_SIZE] = KIND_INLINE;
    struct iovec iov[2] = {
        { .iov_base = prefix, .iov_len = sizeof(prefix) },
        { .iov_base = (void *) buf, .iov_len = len },
    };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    return uds__sendmsg_all(fd, &msg);
}

/* One frame, one sendmsg: the receiver wakes once per message. */
static int send_memfd(int fd, size_t len, const int *fds, size_t n_fds) {
    uint8_t payload[MEMFD_PAYLOAD];
    uint64_t v = len;

    payload[0] = KIND_MEMFD;
    for (int i = 8; i >= 1; i--) {
        payload[i] = (uint8_t) v;
        v >>= 8;
    }
    return uds_frame_send_fds(fd, payload, sizeof(payload), fds, n_fds);
}

/* A pool's buffers go to one socket only (see the header): the first one it sends on. */
static int check_bound(struct uds_memfd_pool *pool, int fd) {
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -1;
    if (!pool->bound) {
        pool->bound = true;
        pool->sock_dev = st.st_dev;
        pool->sock_ino = st.st_ino;
        return 0;
    }
    if (st.st_dev != pool->sock_dev || st.st_ino != pool->sock_ino)
        return uds__fail(EINVAL);
    return 0;
}

static int send_pooled(int fd, struct uds_memfd_pool *pool, struct slot *s, size_t len) {
    int token[2];

    if (check_bound(pool, fd) < 0)
        return -1;
    if (pipe2(token, O_CLOEXEC) < 0)
        return -1;
    int fds[2] = { s->send_fd, token[1] };
    int r = send_memfd(fd, len, fds, 2);
    /* Our write end goes now: from here the token's only holders are the message in the
     * socket and, once received, the receiver. Even a failed send keeps the read end, so
     * the buffer comes back only when no copy of the token is left anywhere. */
    uds__close_keep_errno(token[1]);
    s->release_fd = token[0];
    s->lent = false;
    if (r == 0)
        pool->stats.sent_pooled++;
    return r;
}

/* Seal and send the one-off memfd, consumed whatever the outcome. */
static int send_fresh(int fd, struct uds_memfd_pool *pool, int memfd, size_t len) {
    memfd = seal_fresh(pool, memfd, len);
    if (memfd < 0)
        return -1;
    int r = send_memfd(fd, len, &memfd, 1);
    uds__close_keep_errno(memfd);
    if (r == 0)
        pool->stats.sent_fresh++;
    return r;
}

/* A message copied into a one-off memfd by pwrite(), never mapped by the sender: it
 * costs no page table work, and no writable mapping exists for a fork to copy. */
static int send_copied_fresh(int fd, struct uds_memfd_pool *pool, const void *buf,
                             size_t len) {
    int memfd = memfd_new();

    if (memfd < 0)
        return -1;
    pool->stats.created++;
    if (pwrite_all(memfd, buf, len) < 0) {
        uds__close_keep_errno(memfd);
        return -1;
    }
    return send_fresh(fd, pool, memfd, len);
}

static int buf_send(int fd, struct uds_memfd_pool *pool, struct uds_memfd_buf *buf) {
    int r;

    if (buf->priv_slot >= 0) {
        if ((size_t) buf->priv_slot >= pool->n_slots || !pool->slots[buf->priv_slot].lent ||
            buf->len > pool->slots[buf->priv_slot].cap) {
            uds_memfd_buf_done(pool, buf);
            return uds__fail(EINVAL);
        }
        r = send_pooled(fd, pool, &pool->slots[buf->priv_slot], buf->len);
        if (r < 0 && pool->slots[buf->priv_slot].lent)
            uds_memfd_buf_done(pool, buf);   /* refused before anything went out */
        *buf = (struct uds_memfd_buf) { .priv_slot = -1, .priv_fd = -1 };
        return r;
    }
    if (buf->priv_fd >= 0) {
        /* F_SEAL_WRITE needs every writable mapping gone, so the sender's goes first. */
        (void) munmap(buf->data, buf->len);
        r = send_fresh(fd, pool, buf->priv_fd, buf->len);
        *buf = (struct uds_memfd_buf) { .priv_slot = -1, .priv_fd = -1 };
        return r;
    }
    r = buf->len > INLINE_MAX ? uds__fail(EMSGSIZE) : send_inline(fd, buf->data, buf->len);
    if (r == 0)
        pool->stats.sent_inline++;
    int saved = errno;
    free(buf->data);
    errno = saved;
    *buf = (struct uds_memfd_buf) { .priv_slot = -1, .priv_fd = -1 };
    return r;
}

UDS_API int uds_memfd_buf_send(int fd, struct uds_memfd_pool *pool, struct uds_memfd_buf *buf) {
    if (!pool || !buf || !buf->data)
        return uds__fail(EINVAL);
    int r = buf_send(fd, pool, buf);
    close_spent(pool);
    return r;
}

static int copy_send(int fd, struct uds_memfd_pool *pool, const void *buf, size_t len) {
    if (is_inline(pool, len)) {
        if (send_inline(fd, buf, len) < 0)
            return -1;
        pool->stats.sent_inline++;
        return 0;
    }
    if (!(pool->flags & UDS_MEMFD_POOL_IMMUTABLE)) {
        struct slot *s = pick_slot(pool, len);
        if (s) {
            copy_to_shared(pool, s, buf, len);
            return send_pooled(fd, pool, s, len);
        }
    }
    return send_copied_fresh(fd, pool, buf, len);
}

UDS_API int uds_memfd_send(int fd, struct uds_memfd_pool *pool, const void *buf, size_t len) {
    if (!pool || (!buf && len > 0) || len > (size_t) INT64_MAX)
        return uds__fail(EINVAL);
    int r = copy_send(fd, pool, buf, len);
    close_spent(pool);
    return r;
}

/* Whether the memfd can be mapped without its sender being able to fault us: its seals,
 * then (only then: once F_SEAL_SHRINK is seen, the size read after it holds) its size. */
static int check_memfd(int memfd, uint64_t len, unsigned flags, struct stat *ret_st,
                       bool *ret_immutable) {
    int seals = fcntl(memfd, F_GET_SEALS);

    /* EINVAL: not a file that has seals at all (not shmem, not a memfd). */
    if (seals < 0)
        return uds__fail(errno == EINVAL ? EPROTO : errno);
    if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
        return uds__fail(EPROTO);
    if (!(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
        return uds__fail(EPROTO);
    if ((flags & UDS_MEMFD_RECV_IMMUTABLE) && !(seals & F_SEAL_WRITE))
        return uds__fail(EPROTO);
    if (fstat(memfd, ret_st) < 0)
        return -1;
    if (!S_ISREG(ret_st->st_mode) || ret_st->st_size < 0 || (uint64_t) ret_st->st_size < len)
        return uds__fail(EPROTO);
    *ret_immutable = (seals & F_SEAL_WRITE) != 0;
    return 0;
}

/* One mapping of a pooled buffer. The mapping holds a reference to the file, so the inode
 * (and its number) stays the same file for as long as the entry lives; its seals can only
 * have grown since they were checked, and F_SEAL_SHRINK keeps the size. */
struct entry {
    dev_t dev;
    ino_t ino;
    void *map;          /* NULL: the entry is free */
    size_t map_len;
    bool immutable;
    unsigned refs;      /* messages using the mapping now */
    uint64_t used;      /* for least-recently-used eviction */
};

struct uds_memfd_cache {
    size_t n;
    uint64_t clock;
    struct entry entries[];
};

UDS_API struct uds_memfd_cache *uds_memfd_cache_new(size_t max_entries) {
    if (max_entries == 0)
        max_entries = 8;
    if (max_entries > (SIZE_MAX - sizeof(struct uds_memfd_cache)) / sizeof(struct entry)) {
        errno = ENOMEM;
        return NULL;
    }
    struct uds_memfd_cache *c =
        calloc(1, sizeof(*c) + max_entries * sizeof(struct entry));
    if (!c)
        return NULL;
    c->n = max_entries;
    return c;
}

UDS_API void uds_memfd_cache_free(struct uds_memfd_cache *cache) {
    if (!cache)
        return;
    for (size_t i = 0; i < cache->n; i++)
        if (cache->entries[i].map)
            (void) munmap(cache->entries[i].map, cache->entries[i].map_len);
    free(cache);
}

static struct entry *cache_lookup(struct uds_memfd_cache *c, const struct stat *st) {
    for (size_t i = 0; i < c->n; i++) {
        struct entry *e = &c->entries[i];
        if (e->map && e->dev == st->st_dev && e->ino == st->st_ino)
            return e;
    }
    return NULL;
}

/* A free entry, or the least recently used one no message is using (unmapped); NULL when
 * every entry is in use. */
static struct entry *cache_victim(struct uds_memfd_cache *c) {
    struct entry *victim = NULL;

    for (size_t i = 0; i < c->n; i++) {
        struct entry *e = &c->entries[i];
        if (!e->map)
            return e;
        if (e->refs == 0 && (!victim || e->used < victim->used))
            victim = e;
    }
    if (victim) {
        (void) munmap(victim->map, victim->map_len);
        victim->map = NULL;
    }
    return victim;
}

/* Map the memfd for a message of len bytes: through the cache (pooled buffers, which come
 * again) or for this message alone. On success *ret_msg has data, mapped, immutable and
 * the private fields set. */
static int map_memfd(int memfd, uint64_t len, bool pooled, struct uds_memfd_cache *cache,
                     size_t max, unsigned flags, struct uds_memfd_msg *ret_msg) {
    struct stat st;
    bool immutable;
    struct entry *e = NULL;

    if (cache && pooled) {
        if (fstat(memfd, &st) < 0)
            return -1;
        e = cache_lookup(cache, &st);
        if (e && len <= e->map_len && (e->immutable || !(flags & UDS_MEMFD_RECV_IMMUTABLE)))
            goto hit;
        e = NULL;
    }
    if (check_memfd(memfd, len, flags, &st, &immutable) < 0)
        return -1;
    if (cache && pooled && !cache_lookup(cache, &st))
        e = cache_victim(cache);
    if (e) {
        /* The whole buffer (up to max), so that its later, longer messages fit too. This
         * only reserves address space: pages are touched only as the bytes are read. */
        size_t map_len = (uint64_t) st.st_size < max ? (size_t) st.st_size : max;
        if (map_len < len)
            map_len = (size_t) len;
        void *map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, memfd, 0);
        if (map == MAP_FAILED)
            return -1;
        *e = (struct entry) { .dev = st.st_dev, .ino = st.st_ino, .map = map,
                              .map_len = map_len, .immutable = immutable };
        goto hit;
    }
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, (size_t) len, PROT_READ, MAP_SHARED, memfd, 0);
        if (map == MAP_FAILED)
            return -1;
    }
    *ret_msg = (struct uds_memfd_msg) {
        .data = map ? map : empty_payload, .len = (size_t) len, .mapped = true,
        .immutable = immutable, .priv_live = true, .priv_mem = map, .priv_release_fd = -1,
    };
    return 0;

hit:
    e->refs++;
    e->used = ++cache->clock;
    *ret_msg = (struct uds_memfd_msg) {
        .data = e->map, .len = (size_t) len, .mapped = true, .immutable = e->immutable,
        .priv_live = true, .priv_entry = e, .priv_release_fd = -1,
    };
    return 0;
}

static void close_fds(const int *fds, size_t n) {
    for (size_t i = 0; i < n; i++)
        uds__close_keep_errno(fds[i]);
}

UDS_API int uds_memfd_recv(int fd, struct uds_memfd_cache *cache, size_t max, unsigned flags,
                           struct uds_memfd_msg *ret_msg) {
    uint8_t *frame = NULL;
    size_t frame_len = 0, n_fds = 0;
    int fds[2];
    uint64_t len = 0;
    struct uds_memfd_msg m;

    if (!ret_msg || (flags & ~KNOWN_RECV_FLAGS))
        return uds__fail(EINVAL);
    if (max == 0)
        max = UDS_MEMFD_DEFAULT_MAX;
    uint32_t frame_max = max >= INLINE_MAX ? UINT32_MAX : (uint32_t) (max + 1);
    int r = uds_frame_recv_fds(fd, frame_max, (void **) &frame, &frame_len, fds, 2, &n_fds);
    if (r <= 0)
        return r;
    if (frame_len == 0)
        goto protocol;
    if (frame[0] == KIND_INLINE) {
        if (n_fds > 0)
            goto protocol;
        *ret_msg = (struct uds_memfd_msg) {
            .data = frame + 1, .len = frame_len - 1, .immutable = true,
            .priv_live = true, .priv_mem = frame, .priv_release_fd = -1,
        };
        return 1;
    }
    if (frame[0] != KIND_MEMFD || frame_len != MEMFD_PAYLOAD || n_fds == 0)
        goto protocol;
    for (int i = 1; i <= 8; i++)
        len = len << 8 | frame[i];
    free(frame);
    frame = NULL;
    if (len > max) {
        errno = EMSGSIZE;
        goto fail;
    }
    /* A release token marks a pooled buffer, the kind worth keeping mapped. */
    if (map_memfd(fds[0], len, n_fds > 1, cache, max, flags, &m) < 0)
        goto fail;
    /* The mapping keeps the file alive; the fd is no longer needed. */
    (void) close(fds[0]);
    m.priv_release_fd = n_fds > 1 ? fds[1] : -1;
    *ret_msg = m;
    return 1;

protocol:
    errno = EPROTO;
fail:
    free(frame);
    close_fds(fds, n_fds);
    return -1;
}

UDS_API void uds_memfd_msg_done(struct uds_memfd_msg *msg) {
    if (!msg || !msg->priv_live)
        return;
    if (msg->priv_entry) {
        struct entry *e = msg->priv_entry;
        e->refs--;
    } else if (msg->mapped) {
        if (msg->priv_mem)
            (void) munmap(msg->priv_mem, msg->len);
    } else {
        free(msg->priv_mem);
    }
    /* Unmapped first: the sender may write the buffer as soon as the token is gone. */
    uds__close_keep_errno(msg->priv_release_fd);
    *msg = (struct uds_memfd_msg) { .priv_release_fd = -1 };
}
