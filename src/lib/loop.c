/* SPDX-License-Identifier: MIT */
/*
 * loop.c — the event loop: epoll for fds, one timerfd for a min-heap of timers, callbacks.
 * It knows fds, events, timers and callbacks only: nothing about sockets, buffers or frames.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define MAX_EVENTS 256
#define TIMERFD_TAG UINT64_MAX
#define NO_INDEX UINT32_MAX

struct fd_slot {
    uds_loop_io_fn *fn;
    void *data;
    uint32_t gen;       /* bumped by del: events fetched for an older registration are stale */
    unsigned events;    /* UDS_EV_READ/WRITE wanted now */
    bool used;
    bool in_epoll;      /* events == 0 is kept out of epoll: it reports HUP/ERR regardless */
};

struct timer {
    uint64_t deadline;  /* uds__now_ms() time */
    uint64_t seq;       /* creation order: ties, and the fence against timers added while
                         * dispatching (a callback re-adding itself with 0 ms must not spin) */
    uds_loop_timer_fn *fn;
    void *data;
    uint32_t gen;       /* in the id, so a stale id never cancels the slot's next timer */
    uint32_t heap_pos;  /* index in heap[], or NO_INDEX when the slot is free */
    uint32_t next_free;
};

struct uds_loop {
    int epfd;
    int tfd;
    struct fd_slot *slots;
    size_t n_slots;
    struct timer *timers;   /* slot pool, indexed by the low half of a timer id minus 1 */
    uint32_t *heap;         /* min-heap of slot indexes, by (deadline, seq) */
    uint32_t n_timers;      /* pool size (also heap capacity) */
    uint32_t heap_len;
    uint32_t free_head;
    uint64_t seq;
    uint64_t armed;         /* deadline the timerfd is set to; 0 = disarmed */
    bool stop;
    struct hook {
        void (*fn)(void *data);
        void *data;
    } hooks[UDS__LOOP_HOOKS];   /* run at the end of each wakeup; fn NULL when free */
    struct epoll_event events[MAX_EVENTS];
};

static uint32_t to_epoll(unsigned events) {
    uint32_t e = 0;

    if (events & UDS_EV_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & UDS_EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

static unsigned from_epoll(uint32_t e) {
    unsigned events = 0;

    if (e & (EPOLLIN | EPOLLPRI))
        events |= UDS_EV_READ;
    if (e & EPOLLOUT)
        events |= UDS_EV_WRITE;
    if (e & (EPOLLHUP | EPOLLRDHUP))
        events |= UDS_EV_HUP;
    if (e & EPOLLERR)
        events |= UDS_EV_ERROR;
    return events;
}

static int ctl(struct uds_loop *loop, int op, int fd, const struct fd_slot *slot) {
    struct epoll_event ev = {
        .events = to_epoll(slot->events),
        .data.u64 = (uint64_t) slot->gen << 32 | (uint32_t) fd,
    };

    return epoll_ctl(loop->epfd, op, fd, &ev);
}

UDS_API struct uds_loop *uds_loop_new(void) {
    struct uds_loop *loop = calloc(1, sizeof(*loop));

    if (!loop)
        return NULL;
    loop->tfd = -1;
    loop->free_head = NO_INDEX;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        goto fail;
    loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (loop->tfd < 0)
        goto fail;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TIMERFD_TAG };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->tfd, &ev) < 0)
        goto fail;
    return loop;

fail:
    uds__close_keep_errno(loop->tfd);
    uds__close_keep_errno(loop->epfd);
    free(loop);
    return NULL;
}

UDS_API void uds_loop_free(struct uds_loop *loop) {
    if (!loop)
        return;
    (void) close(loop->tfd);
    (void) close(loop->epfd);
    free(loop->slots);
    free(loop->timers);
    free(loop->heap);
    free(loop);
}

static bool valid_events(unsigned events) {
    return (events & ~(unsigned) (UDS_EV_READ | UDS_EV_WRITE)) == 0;
}

static struct fd_slot *slot_of(struct uds_loop *loop, int fd) {
    if (fd < 0 || (size_t) fd >= loop->n_slots || !loop->slots[fd].used)
        return NULL;
    return &loop->slots[fd];
}

static int grow_slots(struct uds_loop *loop, int fd) {
    size_t want = loop->n_slots ? loop->n_slots : 64;

    while (want <= (size_t) fd)
        want *= 2;
    if (want == loop->n_slots)
        return 0;
    struct fd_slot *s = realloc(loop->slots, want * sizeof(*s));
    if (!s)
        return -1;
    memset(s + loop->n_slots, 0, (want - loop->n_slots) * sizeof(*s));
    loop->slots = s;
    loop->n_slots = want;
    return 0;
}

UDS_API int uds_loop_add(struct uds_loop *loop, int fd, unsigned events, uds_loop_io_fn *fn,
                         void *data) {
    if (!loop || fd < 0 || !fn || !valid_events(events))
        return uds__fail(EINVAL);
    if (slot_of(loop, fd))
        return uds__fail(EEXIST);
    if (grow_slots(loop, fd) < 0)
        return -1;

    struct fd_slot *slot = &loop->slots[fd];
    slot->fn = fn;
    slot->data = data;
    slot->events = events;
    slot->in_epoll = events != 0;
    if (slot->in_epoll && ctl(loop, EPOLL_CTL_ADD, fd, slot) < 0)
        return -1;
    slot->used = true;
    return 0;
}

UDS_API int uds_loop_mod(struct uds_loop *loop, int fd, unsigned events) {
    if (!loop || !valid_events(events))
        return uds__fail(EINVAL);
    struct fd_slot *slot = slot_of(loop, fd);
    if (!slot)
        return uds__fail(ENOENT);

    /* epoll reports EPOLLHUP/EPOLLERR even for an empty event mask, so "no events" is
     * done by leaving the set: a hung-up fd nobody wants to hear from must not spin. */
    if (events == 0) {
        if (slot->in_epoll && epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
            return -1;
        slot->in_epoll = false;
        slot->events = 0;
        return 0;
    }
    unsigned old = slot->events;
    slot->events = events;
    if (ctl(loop, slot->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, slot) < 0) {
        slot->events = old;
        return -1;
    }
    slot->in_epoll = true;
    return 0;
}

UDS_API int uds_loop_del(struct uds_loop *loop, int fd) {
    if (!loop)
        return uds__fail(EINVAL);
    struct fd_slot *slot = slot_of(loop, fd);
    if (!slot)
        return uds__fail(ENOENT);
    /* EBADF/ENOENT here mean the caller closed the fd first, which already took it out of
     * the epoll set; the slot must be released all the same. */
    if (slot->in_epoll)
        (void) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    uint32_t gen = slot->gen + 1;
    *slot = (struct fd_slot) { .gen = gen };
    return 0;
}

/* --- timers --------------------------------------------------------------------------- */

static bool timer_before(const struct uds_loop *loop, uint32_t a, uint32_t b) {
    const struct timer *ta = &loop->timers[a], *tb = &loop->timers[b];

    return ta->deadline < tb->deadline || (ta->deadline == tb->deadline && ta->seq < tb->seq);
}

static void heap_set(struct uds_loop *loop, uint32_t pos, uint32_t idx) {
    loop->heap[pos] = idx;
    loop->timers[idx].heap_pos = pos;
}

static void sift_up(struct uds_loop *loop, uint32_t pos) {
    uint32_t idx = loop->heap[pos];

    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!timer_before(loop, idx, loop->heap[parent]))
            break;
        heap_set(loop, pos, loop->heap[parent]);
        pos = parent;
    }
    heap_set(loop, pos, idx);
}

static void sift_down(struct uds_loop *loop, uint32_t pos) {
    uint32_t idx = loop->heap[pos];

    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len && timer_before(loop, loop->heap[child + 1],
                                                       loop->heap[child]))
            child++;
        if (!timer_before(loop, loop->heap[child], idx))
            break;
        heap_set(loop, pos, loop->heap[child]);
        pos = child;
    }
    heap_set(loop, pos, idx);
}

/* Take slot idx out of the heap and put it on the free list. */
static void timer_release(struct uds_loop *loop, uint32_t idx) {
    struct timer *t = &loop->timers[idx];
    uint32_t pos = t->heap_pos;
    uint32_t last = --loop->heap_len;

    if (pos != last) {
        heap_set(loop, pos, loop->heap[last]);
        if (pos > 0 && timer_before(loop, loop->heap[pos], loop->heap[(pos - 1) / 2]))
            sift_up(loop, pos);
        else
            sift_down(loop, pos);
    }
    t->heap_pos = NO_INDEX;
    t->fn = NULL;
    t->data = NULL;
    t->gen++;
    t->next_free = loop->free_head;
    loop->free_head = idx;
}

/* Point the timerfd at the earliest deadline. An absolute CLOCK_MONOTONIC expiry already in
 * the past fires at once, which is what a due timer needs. Re-arming also clears a pending
 * expiry, so a cancelled earliest timer leaves no spurious wakeup behind. */
static int timerfd_sync(struct uds_loop *loop) {
    uint64_t want = loop->heap_len ? loop->timers[loop->heap[0]].deadline : 0;

    if (want == loop->armed)
        return 0;
    struct itimerspec its = { 0 };
    if (want) {
        its.it_value.tv_sec = (time_t) (want / 1000);
        its.it_value.tv_nsec = (long) (want % 1000) * 1000000L;
    }
    if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return -1;
    loop->armed = want;
    return 0;
}

static int grow_timers(struct uds_loop *loop) {
    uint32_t n = loop->n_timers ? loop->n_timers * 2 : 16;

    if (n <= loop->n_timers || n >= NO_INDEX)
        return uds__fail(ENOMEM);
    struct timer *t = realloc(loop->timers, n * sizeof(*t));
    if (!t)
        return -1;
    loop->timers = t;
    uint32_t *h = realloc(loop->heap, n * sizeof(*h));
    if (!h)
        return -1;
    loop->heap = h;
    for (uint32_t i = n; i-- > loop->n_timers;) {
        t[i] = (struct timer) { .gen = 1, .heap_pos = NO_INDEX, .next_free = loop->free_head };
        loop->free_head = i;
    }
    loop->n_timers = n;
    return 0;
}

UDS_API int uds_loop_timer_add(struct uds_loop *loop, uint64_t after_ms, uds_loop_timer_fn *fn,
                               void *data, uint64_t *ret_id) {
    if (!loop || !fn)
        return uds__fail(EINVAL);
    if (loop->free_head == NO_INDEX && grow_timers(loop) < 0)
        return -1;

    uint32_t idx = loop->free_head;
    struct timer *t = &loop->timers[idx];
    uint64_t now = uds__now_ms();
    loop->free_head = t->next_free;
    t->deadline = after_ms > UINT64_MAX - now ? UINT64_MAX : now + after_ms;
    t->seq = loop->seq++;
    t->fn = fn;
    t->data = data;
    t->heap_pos = loop->heap_len++;
    loop->heap[t->heap_pos] = idx;
    sift_up(loop, t->heap_pos);
    if (timerfd_sync(loop) < 0) {
        int e = errno;
        timer_release(loop, idx);
        errno = e;
        return -1;
    }
    if (ret_id)
        *ret_id = (uint64_t) t->gen << 32 | (uint64_t) (idx + 1);
    return 0;
}

static struct timer *timer_of(struct uds_loop *loop, uint64_t id, uint32_t *ret_idx) {
    uint64_t low = id & 0xffffffffu;

    if (low == 0 || low > loop->n_timers)
        return NULL;
    uint32_t idx = (uint32_t) (low - 1);
    struct timer *t = &loop->timers[idx];
    if (t->heap_pos == NO_INDEX || t->gen != (uint32_t) (id >> 32))
        return NULL;
    *ret_idx = idx;
    return t;
}

UDS_API void uds_loop_timer_cancel(struct uds_loop *loop, uint64_t timer_id) {
    uint32_t idx;

    if (!loop || !timer_of(loop, timer_id, &idx))
        return;
    timer_release(loop, idx);
    /* A failure leaves the timerfd early, never late: the wakeup finds nothing due and
     * re-arms. */
    (void) timerfd_sync(loop);
}

UDS_API uint64_t uds_loop_now_ms(struct uds_loop *loop) {
    (void) loop;
    return uds__now_ms();
}

static int run_timers(struct uds_loop *loop) {
    int ran = 0;

    if (loop->heap_len == 0)
        return 0;
    uint64_t now = uds__now_ms();
    uint64_t fence = loop->seq;
    while (loop->heap_len > 0) {
        uint32_t idx = loop->heap[0];
        struct timer *t = &loop->timers[idx];
        if (t->deadline > now || t->seq >= fence)
            break;
        uint64_t id = (uint64_t) t->gen << 32 | (uint64_t) (idx + 1);
        struct timer due = *t;
        timer_release(loop, idx);
        due.fn(loop, id, due.data);
        ran++;
    }
    /* Nothing to report if this fails: the loop's only clock would be lost either way, and
     * EINVAL/EFAULT cannot come from a well-formed itimerspec. */
    (void) timerfd_sync(loop);
    return ran;
}

/* --- dispatch ------------------------------------------------------------------------- */

UDS_API int uds_loop_run_once(struct uds_loop *loop, int timeout_ms) {
    if (!loop)
        return uds__fail(EINVAL);

    uint64_t deadline = timeout_ms > 0 ? uds__now_ms() + (uint64_t) timeout_ms : 0;
    int n;
    for (;;) {
        n = epoll_wait(loop->epfd, loop->events, MAX_EVENTS, timeout_ms);
        if (n >= 0)
            break;
        if (errno != EINTR)
            return -1;
        if (timeout_ms > 0) {
            uint64_t now = uds__now_ms();
            timeout_ms = now >= deadline ? 0 : (int) (deadline - now);
        }
    }

    int ran = 0;
    for (int i = 0; i < n; i++) {
        uint64_t tag = loop->events[i].data.u64;
        if (tag == TIMERFD_TAG) {
            uint64_t expirations;
            /* Consumes the expiry so the epoll fd stops reporting it. EAGAIN (a re-arm in
             * this batch already cleared it) needs nothing more. */
            if (read(loop->tfd, &expirations, sizeof(expirations)) > 0)
                loop->armed = 0;
            continue;
        }
        int fd = (int) (uint32_t) tag;
        struct fd_slot *slot = slot_of(loop, fd);
        /* A callback earlier in this batch may have deleted this fd, or deleted it and
         * registered a new file under the same number: the generation tells them apart. */
        if (!slot || slot->gen != (uint32_t) (tag >> 32))
            continue;
        unsigned events = from_epoll(loop->events[i].events) &
                          (slot->events | UDS_EV_HUP | UDS_EV_ERROR);
        if (!events || !slot->in_epoll)
            continue;
        slot->fn(loop, fd, events, slot->data);
        ran++;
    }
    ran += run_timers(loop);
    for (size_t i = 0; i < UDS__LOOP_HOOKS; i++) {
        if (loop->hooks[i].fn)
            loop->hooks[i].fn(loop->hooks[i].data);
    }
    return ran;
}

int uds__loop_hook_add(struct uds_loop *loop, void (*fn)(void *data), void *data) {
    for (size_t i = 0; i < UDS__LOOP_HOOKS; i++) {
        if (!loop->hooks[i].fn) {
            loop->hooks[i] = (struct hook) { .fn = fn, .data = data };
            return 0;
        }
    }
    return uds__fail(ENOSPC);
}

void uds__loop_hook_del(struct uds_loop *loop, void (*fn)(void *data), void *data) {
    for (size_t i = 0; i < UDS__LOOP_HOOKS; i++) {
        if (loop->hooks[i].fn == fn && loop->hooks[i].data == data)
            loop->hooks[i] = (struct hook) { .fn = NULL };
    }
}

UDS_API int uds_loop_run(struct uds_loop *loop) {
    if (!loop)
        return uds__fail(EINVAL);
    loop->stop = false;
    while (!loop->stop) {
        if (uds_loop_run_once(loop, -1) < 0)
            return -1;
    }
    return 0;
}

UDS_API void uds_loop_stop(struct uds_loop *loop) {
    if (loop)
        loop->stop = true;
}

UDS_API int uds_loop_fd(const struct uds_loop *loop) {
    if (!loop)
        return uds__fail(EINVAL);
    return loop->epfd;
}
