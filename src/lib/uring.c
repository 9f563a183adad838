/* SPDX-License-Identifier: MIT */
/*
 * uring.c — send batches: the non-blocking send()s queued during one loop wakeup, on any
 * number of sockets, handed to the kernel in one io_uring_enter() at the end of that
 * wakeup. This file owns the ring and the end-of-wakeup hook; its callers (the relay) queue
 * sends and get each result through their own callback, and it calls nothing but the loop
 * (to register the hook) and the kernel. It knows nothing of what the bytes are: the caller
 * decides what to send and what a result means. Raw system calls only: the product depends
 * on libc and the Linux API, not on liburing.
 *
 * Why batch: under a kernel built without full preemption a task switch happens on the
 * way back to user space. A proxy that forwards N messages with N send() calls gives a
 * server on its CPU N chances to run with one message each; one io_uring_enter() with N
 * sends wakes it once, with N messages to answer in one go.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/io_uring.h>

#include "internal.h"

#define RING_MAX UDS__BATCH_MAX

struct ring {
    int fd;
    unsigned entries;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;      /* cq_map == sq_map with IORING_FEAT_SINGLE_MMAP */
    size_t sq_map_len, cq_map_len, sqes_len;
    unsigned queued;            /* SQEs written and not yet handed to the kernel */
};

typedef void ring_done_fn(uint64_t user_data, int res, void *arg);

static void ring_free(struct ring *ring);

static int ring_setup(unsigned entries, struct io_uring_params *p) {
    return (int) syscall(SYS_io_uring_setup, entries, p);
}

static int ring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
    return (int) syscall(SYS_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

static struct ring *ring_new(unsigned entries) {
    /* SUBMIT_ALL: a send that fails at submission does not stop the ones after it.
     * COOP_TASKRUN: completions need no interrupt of this task (it asks for them itself).
     * Both are 5.19; older kernels get the plain ring. */
    const unsigned wanted[] = { IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, 0 };
    struct io_uring_params p;
    struct ring *ring = calloc(1, sizeof(*ring));
    int e;

    if (!ring)
        return NULL;
    if (entries == 0 || entries > RING_MAX)
        entries = RING_MAX;
    ring->fd = -1;
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        memset(&p, 0, sizeof(p));
        p.flags = wanted[i];
        /* The kernel makes this fd close-on-exec itself (O_CLOEXEC, always). */
        ring->fd = ring_setup(entries, &p);
        if (ring->fd >= 0 || errno != EINVAL)
            break;
    }
    if (ring->fd < 0)
        goto fail;

    ring->entries = p.sq_entries;
    ring->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    ring->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (ring->cq_map_len > ring->sq_map_len)
            ring->sq_map_len = ring->cq_map_len;
        ring->cq_map_len = ring->sq_map_len;
    }
    ring->sq_map = mmap(NULL, ring->sq_map_len, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQ_RING);
    if (ring->sq_map == MAP_FAILED) {
        ring->sq_map = NULL;
        goto fail;
    }
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        ring->cq_map = ring->sq_map;
    } else {
        ring->cq_map = mmap(NULL, ring->cq_map_len, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_CQ_RING);
        if (ring->cq_map == MAP_FAILED) {
            ring->cq_map = NULL;
            goto fail;
        }
    }
    ring->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    ring->sqes = mmap(NULL, ring->sqes_len, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQES);
    if (ring->sqes == MAP_FAILED) {
        ring->sqes = NULL;
        goto fail;
    }

    char *sq = ring->sq_map, *cq = ring->cq_map;
    ring->sq_head = (unsigned *) (sq + p.sq_off.head);
    ring->sq_tail = (unsigned *) (sq + p.sq_off.tail);
    ring->sq_mask = (unsigned *) (sq + p.sq_off.ring_mask);
    ring->sq_array = (unsigned *) (sq + p.sq_off.array);
    ring->cq_head = (unsigned *) (cq + p.cq_off.head);
    ring->cq_tail = (unsigned *) (cq + p.cq_off.tail);
    ring->cq_mask = (unsigned *) (cq + p.cq_off.ring_mask);
    ring->cqes = (struct io_uring_cqe *) (cq + p.cq_off.cqes);
    return ring;

fail:
    e = errno;
    ring_free(ring);
    errno = e;
    return NULL;
}

static void ring_free(struct ring *ring) {
    if (!ring)
        return;
    if (ring->sqes)
        (void) munmap(ring->sqes, ring->sqes_len);
    if (ring->cq_map && ring->cq_map != ring->sq_map)
        (void) munmap(ring->cq_map, ring->cq_map_len);
    if (ring->sq_map)
        (void) munmap(ring->sq_map, ring->sq_map_len);
    uds__close_keep_errno(ring->fd);
    free(ring);
}

/* Queue send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT); buf must stay valid until its
 * completion. Returns 0, or -1/EBUSY when the ring is full. */
static int ring_send(struct ring *ring, int fd, const void *buf, size_t len,
                     uint64_t user_data) {
    if (ring->queued >= ring->entries)
        return uds__fail(EBUSY);
    if (len > UINT32_MAX)
        len = UINT32_MAX;   /* a short send, as send() may give anyway */

    /* Only this thread writes the tail; the kernel reads it after the release below. */
    unsigned tail = *ring->sq_tail + ring->queued;
    unsigned idx = tail & *ring->sq_mask;
    struct io_uring_sqe *sqe = &ring->sqes[idx];

    memset(sqe, 0, sizeof(*sqe));
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = fd;
    sqe->addr = (uint64_t) (uintptr_t) buf;
    sqe->len = (uint32_t) len;
    /* MSG_DONTWAIT makes a full socket answer -EAGAIN in its completion instead of the
     * kernel parking the send until there is room: the caller then waits with epoll, as
     * it would after send(). */
    sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    sqe->user_data = user_data;
    ring->sq_array[idx] = idx;
    ring->queued++;
    return 0;
}

/* Turn the queued, not yet submitted send tagged user_data into a no-op (its buffer or fd
 * is going away); its completion still comes, with res 0. */
static void ring_forget(struct ring *ring, uint64_t user_data) {
    for (unsigned i = 0; i < ring->queued; i++) {
        struct io_uring_sqe *sqe = &ring->sqes[(*ring->sq_tail + i) & *ring->sq_mask];
        if (sqe->user_data == user_data && sqe->opcode == IORING_OP_SEND) {
            memset(sqe, 0, sizeof(*sqe));
            sqe->opcode = IORING_OP_NOP;
            sqe->user_data = user_data;
        }
    }
}

/* Call done() for every completion posted so far; returns how many there were. */
static unsigned reap(struct ring *ring, ring_done_fn *done, void *arg) {
    unsigned head = *ring->cq_head;
    unsigned tail = __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE);
    unsigned n = 0;

    while (head != tail) {
        const struct io_uring_cqe *cqe = &ring->cqes[head & *ring->cq_mask];
        uint64_t user_data = cqe->user_data;
        int res = cqe->res;
        head++;
        n++;
        /* Give the slot back before the callback, which may queue and submit again. */
        __atomic_store_n(ring->cq_head, head, __ATOMIC_RELEASE);
        done(user_data, res, arg);
    }
    return n;
}

/* Hand every queued send to the kernel in one call and deliver each result as
 * done(user_data, bytes sent or -errno, arg), all before returning. Returns 0, or -1 with
 * errno when the ring itself failed (the sends it could not take were reported -EAGAIN). */
static int ring_submit(struct ring *ring, ring_done_fn *done, void *arg) {
    unsigned n = ring->queued;
    int ret = 0;

    if (n == 0)
        return 0;
    __atomic_store_n(ring->sq_tail, *ring->sq_tail + n, __ATOMIC_RELEASE);
    ring->queued = 0;

    int taken;
    do
        taken = ring_enter(ring->fd, n, 0, 0);
    while (taken < 0 && errno == EINTR);
    if (taken < 0) {
        ret = -1;
        taken = 0;
    }
    if ((unsigned) taken < n) {
        /* The kernel stopped short (it only does on a ring-level failure: no memory, CQ
         * overflow): take back what it did not read, and report those sends as not done
         * (-EAGAIN), so that their owners wait for room and send them themselves. */
        uint64_t skipped[RING_MAX];
        unsigned left = n - (unsigned) taken;
        for (unsigned i = 0; i < left; i++) {
            unsigned idx = (*ring->sq_tail - left + i) & *ring->sq_mask;
            skipped[i] = ring->sqes[idx].user_data;
        }
        __atomic_store_n(ring->sq_tail, *ring->sq_tail - left, __ATOMIC_RELEASE);
        n = (unsigned) taken;
        for (unsigned i = 0; i < left; i++)
            done(skipped[i], -EAGAIN, arg);
    }

    /* MSG_DONTWAIT sends complete while they are submitted, so their completions are
     * normally all there already; the wait is for the odd one the kernel ran later. */
    unsigned seen = reap(ring, done, arg);
    while (seen < n) {
        if (ring_enter(ring->fd, 0, n - seen, IORING_ENTER_GETEVENTS) < 0 && errno != EINTR) {
            ret = -1;
            break;
        }
        seen += reap(ring, done, arg);
    }
    return ret;
}

/* ---- batches: a ring per caller, flushed at the end of each loop wakeup ----------------- */

/* One queued send: whose it is, and how to tell them its result; done is NULL once the send
 * is cancelled, and its completion is then dropped. */
struct slot {
    uds__batch_done_fn *done;
    void *arg;
    unsigned tag;
};

struct uds__batch {
    struct uds_loop *loop;
    struct ring *ring;          /* NULL once it has failed: every send is refused */
    struct slot slots[RING_MAX];    /* the sends queued since the last flush, in order;
                                     * a send's user_data is its index */
    unsigned n;
    bool flushing;              /* results are being delivered: sends are refused */
};

static void flush_batch(void *data);

struct uds__batch *uds__batch_new(struct uds_loop *loop) {
    struct uds__batch *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->loop = loop;
    b->ring = ring_new(RING_MAX);
    if (!b->ring || uds__loop_hook_add(loop, flush_batch, b) < 0) {
        UDS__KEEP_ERRNO(uds__batch_free(b));
        return NULL;
    }
    return b;
}

void uds__batch_free(struct uds__batch *b) {
    if (!b)
        return;
    if (b->ring) {
        uds__loop_hook_del(b->loop, flush_batch, b);
        ring_free(b->ring);
    }
    free(b);
}

int uds__batch_send(struct uds__batch *b, int fd, const void *buf, size_t len,
                    uds__batch_done_fn *done, void *arg, unsigned tag) {
    /* While results are delivered the slots are still in use; an owner that sends from its
     * callback (none does today) sends at once, which is always correct. */
    if (!b->ring || b->flushing)
        return uds__fail(ENXIO);
    if (ring_send(b->ring, fd, buf, len, b->n) < 0)
        return -1;
    b->slots[b->n++] = (struct slot) { .done = done, .arg = arg, .tag = tag };
    return 0;
}

void uds__batch_cancel(struct uds__batch *b, void *arg) {
    for (unsigned i = 0; i < b->n; i++) {
        struct slot *s = &b->slots[i];
        if (s->arg != arg || !s->done)
            continue;
        s->done = NULL;
        if (b->ring && !b->flushing)
            ring_forget(b->ring, i);    /* not submitted yet: it becomes a no-op */
    }
}

/* One completion: tell its owner, unless the send was cancelled. */
static void on_result(uint64_t user_data, int res, void *arg) {
    struct uds__batch *b = arg;

    if (user_data >= b->n)
        return;
    struct slot *s = &b->slots[user_data];
    uds__batch_done_fn *done = s->done;
    s->done = NULL;     /* delivered once, even if the kernel said it twice */
    if (done)
        done(s->arg, s->tag, res, 0);
}

/* The loop's end-of-wakeup hook: every queued send in one system call. If the ring itself
 * fails, a send whose result never came may or may not have gone out: every owner still
 * waiting is told (with the ring's error), and the batch goes on without a ring. */
static void flush_batch(void *data) {
    struct uds__batch *b = data;

    if (b->n == 0 || !b->ring)
        return;
    b->flushing = true;
    if (ring_submit(b->ring, on_result, b) < 0) {
        int err = errno;
        uds__loop_hook_del(b->loop, flush_batch, b);
        ring_free(b->ring);
        b->ring = NULL;
        for (unsigned i = 0; i < b->n; i++) {
            struct slot *s = &b->slots[i];
            uds__batch_done_fn *done = s->done;
            s->done = NULL;
            if (done)
                done(s->arg, s->tag, 0, err);
        }
    }
    b->n = 0;
    b->flushing = false;
}
