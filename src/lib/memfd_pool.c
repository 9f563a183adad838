/* SPDX-License-Identifier: MIT */
/*
 * memfd_pool.c — the sending side of large messages as sealed memfds passed with SCM_RIGHTS:
 * a pool of reusable buffers, each lent out again only once the pipe release token sent
 * with it is closed by every receiver, and one-off memfds sealed F_SEAL_WRITE when the pool
 * has no buffer to give. It speaks over framed streams through fdpass.c; it has no event
 * loop, never maps what it receives (memfd_cache.c) and leaves the choice of stores for a
 * copy to memcopy.c.
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

#include "internal.h"
#include "memfd.h"

#define KNOWN_POOL_FLAGS UDS_MEMFD_POOL_IMMUTABLE

#define SEALS_POOLED (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)
#define SEALS_FRESH (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
/* How many times a one-off memfd refused F_SEAL_WRITE is copied into a new one. */
#define SEAL_RETRIES 3

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
    struct uds__copy_costs copy_costs;
    struct pollfd *pfds;
    size_t *pfd_slot;
    int *spent;         /* read ends of released tokens, closed after the next send */
    size_t n_spent;
    size_t n_slots;
    struct slot slots[];
};

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
        uds_memfd_pool_free(pool);  /* no slot made yet: only the arrays */
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

/* Copy a message into the pooled buffer s. While other buffers are in flight, the reader is
 * busy with them rather than with this one (memcopy.c says why that matters). */
static void copy_to_shared(struct uds_memfd_pool *pool, struct slot *s, const void *src,
                           size_t len) {
    bool reader_busy = false;

    for (size_t i = 0; i < pool->n_slots; i++)
        reader_busy |= &pool->slots[i] != s && pool->slots[i].release_fd >= 0;
    uds__copy_to_shared(&pool->copy_costs, s->map, src, len, reader_busy);
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
