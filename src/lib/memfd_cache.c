/* SPDX-License-Identifier: MIT */
/*
 * memfd_cache.c — the receiving side of large messages as sealed memfds: a memfd is mapped
 * only after its seals show that the sender can neither shrink it nor write it behind the
 * reader's back, and its size covers the message; the mappings of pooled buffers, which come
 * again, are kept in a small cache. It sends nothing and creates no memfd (memfd_pool.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"
#include "memfd.h"

#define KNOWN_RECV_FLAGS UDS_MEMFD_RECV_IMMUTABLE

static const char empty_payload[1];

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
