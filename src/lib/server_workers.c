/* SPDX-License-Identifier: MIT */
/*
 * server_workers.c — a uds_server on N worker threads, the threads and loops of a
 * uds_loop_pool (loop_pool.c). On each pool loop a worker runs a server without a listener
 * (server.c) that serves the connections handed to it. The server's own loop keeps the
 * listener and accepts; this file hands each accepted fd to the worker the pool picks (the
 * fewest connections, ties in turn) through a queue and an eventfd, counts the connections
 * of every worker for max_conns, and stops the workers. It does not accept, read or write
 * connections (server.c does).
 *
 * Several workers sharing one listener would not do: Unix listeners have no SO_REUSEPORT
 * balancing, and EPOLLEXCLUSIVE wakes the waiters in LIFO order, so one worker takes most
 * connections. One acceptor dealing them out is fair by construction.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "server_workers.h"

enum { STOP_NONE, STOP_GRACEFUL, STOP_NOW };

struct uds__worker {
    struct uds__workers *all;
    unsigned index;                 /* its thread and loop in all->pool */
    struct uds_server *srv;         /* on the pool's loop; on the worker thread only */
    int efd;                        /* eventfd in srv's loop: something was posted */
    pthread_mutex_t lock;
    int *fds;                       /* under lock: accepted fds not yet taken */
    size_t n_fds;
    size_t cap;
    int stop;                       /* under lock: the strongest stop asked for */
    atomic_uint_fast64_t accepted;  /* connections handed, ever */
};

struct uds__workers {
    struct uds_server *parent;
    struct uds_loop *loop;          /* the parent's loop */
    struct uds_loop_pool *pool;     /* the threads, their loops, their connections counted */
    int wake_fd;                    /* eventfd in loop: a slot freed at the limit, a worker ended */
    size_t max_conns;
    atomic_size_t live;             /* connections of every worker */
    atomic_uint running;            /* workers whose thread has not ended */
    unsigned n;
    struct uds__worker w[];
};

static void poke(int fd) {
    uint64_t one = 1;

    /* Only full if 2^64-2 pokes are unread: the reader is woken either way. */
    if (write(fd, &one, sizeof(one)) < 0) {
    }
}

static void drain_eventfd(int fd) {
    uint64_t n;

    if (read(fd, &n, sizeof(n)) < 0) {
        /* EAGAIN: another wakeup took it already. */
    }
}

/* --- the worker's side ------------------------------------------------------------------- */

/* The fds handed, and the stop, come through a mailbox of their own rather than
 * uds_loop_pool_post(): a burst of accepts costs one lock each and no allocation. */
static void mailbox_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct uds__worker *w = arg;
    int *fds;
    size_t n;
    int stop;

    (void) loop, (void) events;
    drain_eventfd(fd);
    pthread_mutex_lock(&w->lock);
    fds = w->fds;
    n = w->n_fds;
    stop = w->stop;
    w->fds = NULL;
    w->n_fds = w->cap = 0;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++)
        if (!uds__server_adopt(w->srv, fds[i]))
            uds__worker_conn_done(w);
    free(fds);
    if (stop != STOP_NONE)
        uds_server_stop(w->srv, stop == STOP_GRACEFUL);
}

/* A worker's thread has left its loop: its server stopped (or the loop failed; its
 * connections are then closed by uds__workers_free()). */
static void worker_ended(unsigned i, void *arg) {
    struct uds__workers *all = arg;

    (void) i;
    atomic_fetch_sub(&all->running, 1);
    poke(all->wake_fd);
}

void uds__worker_conn_done(struct uds__worker *w) {
    struct uds__workers *all = w->all;

    uds_loop_pool_done(all->pool, w->index);
    /* At the limit the acceptor's listener is out of its epoll set: tell it a slot is free. */
    if (atomic_fetch_sub(&all->live, 1) >= all->max_conns)
        poke(all->wake_fd);
}

/* --- the acceptor's side ----------------------------------------------------------------- */

static int post(struct uds__worker *w, int fd, int stop) {
    int ret = 0;

    pthread_mutex_lock(&w->lock);
    if (fd >= 0 && w->n_fds == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        int *p = realloc(w->fds, cap * sizeof(*p));
        if (p) {
            w->fds = p;
            w->cap = cap;
        }
    }
    if (fd >= 0 && w->n_fds < w->cap)
        w->fds[w->n_fds++] = fd;
    else if (fd >= 0)
        ret = uds__fail(ENOMEM);
    if (stop > w->stop)
        w->stop = stop;
    pthread_mutex_unlock(&w->lock);
    if (ret == 0)
        poke(w->efd);
    return ret;
}

/* To the worker with the fewest connections (among equals, the next in turn). */
int uds__workers_hand(struct uds__workers *all, int fd) {
    unsigned i = uds_loop_pool_pick(all->pool);
    struct uds__worker *w = &all->w[i];

    atomic_fetch_add(&all->live, 1);
    if (post(w, fd, STOP_NONE) < 0) {
        int e = errno;
        (void) close(fd);
        uds_loop_pool_done(all->pool, i);
        atomic_fetch_sub(&all->live, 1);
        return uds__fail(e);
    }
    atomic_fetch_add(&w->accepted, 1);
    return 0;
}

size_t uds__workers_live(const struct uds__workers *all) {
    return atomic_load(&((struct uds__workers *) all)->live);
}

bool uds__workers_done(const struct uds__workers *all) {
    return atomic_load(&((struct uds__workers *) all)->running) == 0;
}

void uds__workers_stop(struct uds__workers *all, bool graceful) {
    for (unsigned i = 0; i < all->n; i++)
        if (all->w[i].all)  /* made (a failed start stops what it made) */
            (void) post(&all->w[i], -1, graceful ? STOP_GRACEFUL : STOP_NOW);
}

void uds__workers_join(struct uds__workers *all) {
    uds_loop_pool_join(all->pool);
}

unsigned uds__workers_count(const struct uds__workers *all) {
    return all->n;
}

void uds__workers_stats(const struct uds__workers *all, unsigned i,
                        struct uds_server_worker_stats *ret_stats) {
    struct uds__worker *w = (struct uds__worker *) &all->w[i];

    ret_stats->accepted = atomic_load(&w->accepted);
    ret_stats->conns = uds_loop_pool_load(all->pool, i);
}

/* --- making and ending ------------------------------------------------------------------- */

static void wake_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct uds__workers *all = arg;

    (void) loop, (void) events;
    drain_eventfd(fd);
    uds__server_poke(all->parent);
}

static int worker_init(struct uds__workers *all, unsigned i) {
    struct uds__worker *w = &all->w[i];
    struct uds_loop *loop = uds_loop_pool_loop(all->pool, i);

    w->all = all;
    w->index = i;
    w->efd = -1;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        w->all = NULL;  /* nothing to undo */
        return uds__fail(ENOMEM);
    }
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0)
        return -1;
    w->srv = uds__server_worker_new(all->parent, w, loop);
    if (!w->srv)
        return -1;
    return uds_loop_add(loop, w->efd, UDS_EV_READ, mailbox_io, w);
}

struct uds__workers *uds__workers_new(struct uds_server *parent, struct uds_loop *loop,
                                      unsigned n, size_t max_conns) {
    struct uds__workers *all = calloc(1, sizeof(*all) + n * sizeof(all->w[0]));

    if (!all)
        return NULL;
    all->parent = parent;
    all->n = n;
    all->max_conns = max_conns;
    all->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    all->pool = uds_loop_pool_new(n, "udsw");
    if (all->wake_fd < 0 || !all->pool)
        goto fail;
    for (unsigned i = 0; i < n; i++)
        if (worker_init(all, i) < 0)
            goto fail;
    if (uds_loop_add(loop, all->wake_fd, UDS_EV_READ, wake_io, all) < 0)
        goto fail;
    all->loop = loop;
    uds__loop_pool_on_end(all->pool, worker_ended, all);
    atomic_store(&all->running, n);
    if (uds_loop_pool_start(all->pool) < 0)
        goto fail;
    return all;
fail:
    {
        int e = errno;
        uds__workers_free(all);
        errno = e;
    }
    return NULL;
}

static void worker_done(struct uds__worker *w) {
    /* Its thread has ended: what is left runs here (on_close of connections a failed loop
     * left open, fds never taken). */
    uds_server_free(w->srv);
    for (size_t i = 0; i < w->n_fds; i++) {
        (void) close(w->fds[i]);
        uds__worker_conn_done(w);
    }
    free(w->fds);
    if (w->efd >= 0) {
        (void) uds_loop_del(uds_loop_pool_loop(w->all->pool, w->index), w->efd);
        (void) close(w->efd);
    }
    pthread_mutex_destroy(&w->lock);
}

void uds__workers_free(struct uds__workers *all) {
    if (!all)
        return;
    uds__workers_stop(all, false);
    uds_loop_pool_join(all->pool);
    for (unsigned i = 0; i < all->n; i++) {
        struct uds__worker *w = &all->w[i];
        if (w->all)
            worker_done(w);
    }
    uds_loop_pool_free(all->pool);
    if (all->wake_fd >= 0) {
        if (all->loop)
            (void) uds_loop_del(all->loop, all->wake_fd);
        (void) close(all->wake_fd);
    }
    free(all);
}
