/* SPDX-License-Identifier: MIT */
/*
 * forwarder.c — the forwarder: its shards (the caller's loop alone, or the worker loops of
 * a uds_loop_pool), each with its own dialer and relay group; the count of forwards and
 * how a change made on a worker reaches the caller's loop (an eventfd there); closing
 * every forward and stopping the workers. One forward's way is forward.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "forward.h"

void uds__forwarder_counted(struct uds_forwarder *fw) {
    if (!fw->freeing && fw->cbs.count)
        fw->cbs.count(fw, atomic_load(&fw->count), fw->data);
}

/* On the forward's thread: a worker tells the forwarder's loop through wake_fd, where the
 * count callback runs; its load in the pool goes down at once, for the next pick. */
void uds__forwarder_gone(struct uds_forwarder *fw, struct uds__fwd_shard *sh) {
    uint64_t one = 1;

    atomic_fetch_sub(&fw->count, 1);
    if (!fw->pool || !sh) {
        uds__forwarder_counted(fw);
        return;
    }
    uds_loop_pool_done(fw->pool, sh->index);
    if (write(fw->wake_fd, &one, sizeof(one)) < 0) {
        /* Only full after 2^64-2 unread wakeups: the loop is woken either way. */
    }
}

static void wake_io(struct uds_loop *loop, int fd, unsigned events, void *data) {
    uint64_t n;

    (void) loop, (void) events;
    if (read(fd, &n, sizeof(n)) < 0) {
        /* EAGAIN: an earlier wakeup saw it already. */
    }
    uds__forwarder_counted(data);
}

/* ---- shards -------------------------------------------------------------------------------- */

static int start_shard(struct uds__fwd_shard *sh, const struct uds_addr *dest,
                       const struct uds_forwarder_opts *opts) {
    sh->dialer = uds_dialer_new(sh->loop, dest, &opts->dial);
    sh->relays = sh->dialer ? uds_relay_group_new(sh->loop, &opts->relay) : NULL;
    return sh->relays ? 0 : -1;
}

/* The shards: the caller's loop, or opts->threads workers (started). Returns 0, or -1 with
 * what was made left for stop_shards(). */
static int start_shards(struct uds_forwarder *fw, const struct uds_addr *dest,
                        const struct uds_forwarder_opts *opts, unsigned n) {
    fw->shards = calloc(n, sizeof(*fw->shards));
    if (!fw->shards)
        return -1;
    fw->n_shards = n;
    for (unsigned i = 0; i < n; i++)
        fw->shards[i] = (struct uds__fwd_shard) { .fw = fw, .index = i, .loop = fw->loop };
    if (n == 1)
        return start_shard(&fw->shards[0], dest, opts);
    fw->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fw->wake_fd < 0 || uds_loop_add(fw->loop, fw->wake_fd, UDS_EV_READ, wake_io, fw) < 0)
        return -1;
    fw->pool = uds_loop_pool_new(n, opts->thread_name ? opts->thread_name : "udsfwd");
    if (!fw->pool)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        fw->shards[i].loop = uds_loop_pool_loop(fw->pool, i);
        if (start_shard(&fw->shards[i], dest, opts) < 0)
            return -1;
    }
    return uds_loop_pool_start(fw->pool);
}

static void shard_close_all(void *arg) {
    struct uds__fwd_shard *sh = arg;

    while (sh->list)
        uds__forward_end(sh->list);
}

/* Every forward closed on its worker, the workers joined, and what the shards hold freed. */
static void stop_shards(struct uds_forwarder *fw) {
    for (unsigned i = 0; fw->pool && i < fw->n_shards; i++)
        (void) uds_loop_pool_post(fw->pool, i, shard_close_all, &fw->shards[i]);
    uds_loop_pool_join(fw->pool);
    for (unsigned i = 0; i < fw->n_shards; i++) {
        struct uds__fwd_shard *sh = &fw->shards[i];
        shard_close_all(sh);    /* what a failed post left, now that the threads have ended */
        uds_relay_group_free(sh->relays);
        uds_dialer_free(sh->dialer);
    }
    uds_loop_pool_free(fw->pool);
    fw->pool = NULL;
    free(fw->shards);
    if (fw->wake_fd >= 0) {
        (void) uds_loop_del(fw->loop, fw->wake_fd);   /* ENOENT when never added */
        (void) close(fw->wake_fd);
    }
}

/* ---- the caller's calls ------------------------------------------------------------------ */

static bool opts_valid(const struct uds_forwarder_opts *opts) {
    return opts->threads <= UDS_LOOP_POOL_MAX && opts->proxy_header >= 0 &&
           opts->proxy_header <= 2 && (opts->flags & ~(unsigned) UDS_FORWARDER_PASS_FDS) == 0 &&
           (!opts->thread_name || strlen(opts->thread_name) <= 9);
}

UDS_API struct uds_forwarder *uds_forwarder_new(struct uds_loop *loop,
                                                const struct uds_addr *dest,
                                                const struct uds_forwarder_opts *opts,
                                                const struct uds_forwarder_callbacks *cbs,
                                                void *data) {
    static const struct uds_forwarder_opts defaults = { .threads = 1 };
    struct uds_forwarder *fw;

    if (!opts)
        opts = &defaults;
    if (!loop || !dest || !opts_valid(opts))
        return errno = EINVAL, NULL;
    fw = calloc(1, sizeof(*fw));
    if (!fw)
        return NULL;
    *fw = (struct uds_forwarder) { .loop = loop, .opts = *opts, .data = data, .wake_fd = -1 };
    fw->opts.dial.tcp = NULL;
    fw->opts.thread_name = NULL;
    if (cbs)
        fw->cbs = *cbs;
    atomic_init(&fw->count, 0);
    if (start_shards(fw, dest, opts, opts->threads > 1 ? opts->threads : 1) < 0) {
        int e = errno;
        stop_shards(fw);
        free(fw);
        return errno = e, NULL;
    }
    return fw;
}

UDS_API size_t uds_forwarder_count(const struct uds_forwarder *fwdr) {
    return fwdr ? atomic_load(&((struct uds_forwarder *) fwdr)->count) : 0;
}

UDS_API void uds_forwarder_close_all(struct uds_forwarder *fwdr) {
    if (!fwdr)
        return;
    while (fwdr->held)
        uds__forward_end(fwdr->held);
    for (unsigned i = 0; i < fwdr->n_shards; i++) {
        if (!fwdr->pool)
            shard_close_all(&fwdr->shards[i]);
        else    /* a post that finds no memory leaves them to uds_forwarder_free() */
            (void) uds_loop_pool_post(fwdr->pool, i, shard_close_all, &fwdr->shards[i]);
    }
}

UDS_API void uds_forwarder_free(struct uds_forwarder *fwdr) {
    if (!fwdr)
        return;
    fwdr->freeing = true;
    while (fwdr->held)
        uds__forward_end(fwdr->held);
    stop_shards(fwdr);
    free(fwdr);
}
