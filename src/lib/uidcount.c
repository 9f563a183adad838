/* SPDX-License-Identifier: MIT */
/*
 * uidcount.c — how many of something (connections, programs) each uid holds, for a limit
 * per user: a hash table of (uid, count) with linear probing, grown and shrunk with the
 * number of uids holding anything, so its size follows the caller's connection limit and
 * not the history of who came. No syscalls, no fds; it allocates its table.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define MIN_BITS 3      /* 8 slots */

struct slot {
    uid_t uid;
    size_t n;           /* 0: the slot is free */
};

struct uds_uid_counter {
    struct slot *slots;
    unsigned bits;      /* the table has 1 << bits slots */
    size_t used;        /* slots with n > 0 */
};

/* Fibonacci hashing: the top bits of uid times 2^32/phi. Neighbouring uids (a range of
 * service accounts) land far apart, so probes stay short. */
static size_t home(uid_t uid, unsigned bits) {
    return (size_t) (((uint32_t) uid * 0x9e3779b1u) >> (32 - bits));
}

static size_t mask(const struct uds_uid_counter *c) {
    return ((size_t) 1 << c->bits) - 1;
}

/* The slot holding uid, or the free slot where it would go. Never full: the table is kept
 * at most half used. */
static struct slot *find(const struct uds_uid_counter *c, uid_t uid) {
    size_t i = home(uid, c->bits);

    while (c->slots[i].n > 0 && c->slots[i].uid != uid)
        i = (i + 1) & mask(c);
    return &c->slots[i];
}

/* Move every entry into a table of 1 << bits slots. On ENOMEM the table is unchanged. */
static int resize(struct uds_uid_counter *c, unsigned bits) {
    struct slot *old = c->slots;
    size_t old_size = (size_t) 1 << c->bits;
    struct slot *slots = calloc((size_t) 1 << bits, sizeof(*slots));

    if (!slots)
        return uds__fail(ENOMEM);
    c->slots = slots;
    c->bits = bits;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].n > 0)
            *find(c, old[i].uid) = old[i];
    free(old);
    return 0;
}

/* Empty the slot at i and pull later entries of the same probe run back into the gap, so
 * that lookups never need tombstones (Knuth's algorithm R). */
static void remove_at(struct uds_uid_counter *c, size_t i) {
    size_t j = i;

    for (;;) {
        j = (j + 1) & mask(c);
        if (c->slots[j].n == 0)
            return;
        size_t k = home(c->slots[j].uid, c->bits);
        /* The entry at j may move to i only if its home is not cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        c->slots[i] = c->slots[j];
        c->slots[j].n = 0;
        i = j;
    }
}

UDS_API struct uds_uid_counter *uds_uid_counter_new(void) {
    struct uds_uid_counter *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->bits = MIN_BITS;
    c->slots = calloc((size_t) 1 << MIN_BITS, sizeof(*c->slots));
    if (!c->slots) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    return c;
}

UDS_API void uds_uid_counter_free(struct uds_uid_counter *counter) {
    if (!counter)
        return;
    free(counter->slots);
    free(counter);
}

UDS_API int uds_uid_counter_take(struct uds_uid_counter *counter, uid_t uid, size_t max) {
    struct slot *s;

    if (!counter)
        return uds__fail(EINVAL);
    s = find(counter, uid);
    if (s->n >= max)
        return 0;   /* at the limit; also max 0, whether uid holds anything or not */
    if (s->n > 0) {
        s->n++;
        return 1;
    }
    /* A new uid: keep the table at most half full, so that probe runs stay short. */
    if ((counter->used + 1) * 2 > ((size_t) 1 << counter->bits)) {
        if (resize(counter, counter->bits + 1) < 0)
            return -1;
        s = find(counter, uid);
    }
    *s = (struct slot){ .uid = uid, .n = 1 };
    counter->used++;
    return 1;
}

UDS_API int uds_uid_counter_release(struct uds_uid_counter *counter, uid_t uid) {
    struct slot *s;

    if (!counter)
        return uds__fail(EINVAL);
    s = find(counter, uid);
    if (s->n == 0)
        return uds__fail(ENOENT);
    if (--s->n > 0)
        return 0;
    remove_at(counter, (size_t) (s - counter->slots));
    counter->used--;
    /* Shrink at an eighth full: a crowd of uids gone leaves no large table behind. A
     * failure to shrink costs only memory. */
    if (counter->bits > MIN_BITS && counter->used * 8 < ((size_t) 1 << counter->bits))
        (void) resize(counter, counter->bits - 1);
    return 0;
}

UDS_API size_t uds_uid_counter_get(const struct uds_uid_counter *counter, uid_t uid) {
    return counter ? find(counter, uid)->n : 0;
}

UDS_API size_t uds_uid_counter_uids(const struct uds_uid_counter *counter) {
    return counter ? counter->used : 0;
}
