/* SPDX-License-Identifier: MIT */
/*
 * server_workers.c — a uds_server on N worker threads. Each worker owns a uds_loop, a
 * server without a listener (server.c) and the connections handed to it. The server's own
 * loop keeps the listener and accepts; this file hands each accepted fd to the worker with
 * the fewest connections (ties in turn) through a queue and an eventfd, counts the
 * connections of every worker for max_conns, and stops and joins the workers. It does not
 * accept, read or write connections (server.c does).
 *
 * Several workers sharing one listener would not do: Unix listeners have no SO_REUSEPORT
 * balancing, and EPOLLEXCLUSIVE wakes the waiters in LIFO order, so one worker takes most
 * connections. One acceptor dealing them out is fair by construction.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "server_workers.h"

enum { STOP_NONE, STOP_GRACEFUL, STOP_NOW };

struct uds__worker {
    struct uds__workers *all;
    struct uds_server *srv;         /* its own loop; on the worker thread only */
    pthread_t thread;
    bool started;
    bool joined;
    int efd;                        /* eventfd in srv's loop: something was posted */
    pthread_mutex_t lock;
    int *fds;                       /* under lock: accepted fds not yet taken */
    size_t n_fds;
    size_t cap;
    int stop;                       /* under lock: the strongest stop asked for */
    atomic_size_t live;             /* connections handed and not yet closed */
    atomic_uint_fast64_t accepted;  /* connections handed, ever */
};

struct uds__workers {
    struct uds_server *parent;
    struct uds_loop *loop;          /* the parent's loop */
    int wake_fd;                    /* eventfd in it: a slot freed at the limit, a worker ended */
    size_t max_conns;
    atomic_size_t live;             /* connections of every worker */
    atomic_uint running;            /* workers whose thread has not ended */
    unsigned n;
    unsigned next;                  /* acceptor only: where the next search begins */
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

static void *worker_main(void *arg) {
    struct uds__worker *w = arg;
    struct uds_loop *loop = uds_server_loop(w->srv);

    while (!uds_server_stopped(w->srv))
        if (uds_loop_run_once(loop, -1) < 0 && errno != EINTR)
            break;  /* its connections are closed by uds__workers_free() */
    atomic_fetch_sub(&w->all->running, 1);
    poke(w->all->wake_fd);
    return NULL;
}

void uds__worker_conn_done(struct uds__worker *w) {
    struct uds__workers *all = w->all;

    atomic_fetch_sub(&w->live, 1);
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

/* The worker with the fewest connections; among equals the first after the last chosen. */
static struct uds__worker *least_loaded(struct uds__workers *all) {
    struct uds__worker *best = NULL;
    size_t best_live = SIZE_MAX;

    for (unsigned k = 0; k < all->n; k++) {
        struct uds__worker *w = &all->w[(all->next + k) % all->n];
        size_t live = atomic_load(&w->live);
        if (live < best_live) {
            best = w;
            best_live = live;
        }
    }
    all->next = (unsigned) (best - all->w + 1) % all->n;
    return best;
}

int uds__workers_hand(struct uds__workers *all, int fd) {
    struct uds__worker *w = least_loaded(all);

    atomic_fetch_add(&all->live, 1);
    atomic_fetch_add(&w->live, 1);
    if (post(w, fd, STOP_NONE) < 0) {
        int e = errno;
        (void) close(fd);
        atomic_fetch_sub(&w->live, 1);
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
        if (all->w[i].started)
            (void) post(&all->w[i], -1, graceful ? STOP_GRACEFUL : STOP_NOW);
}

void uds__workers_join(struct uds__workers *all) {
    for (unsigned i = 0; i < all->n; i++) {
        struct uds__worker *w = &all->w[i];
        if (w->started && !w->joined) {
            (void) pthread_join(w->thread, NULL);
            w->joined = true;
        }
    }
}

unsigned uds__workers_count(const struct uds__workers *all) {
    return all->n;
}

void uds__workers_stats(const struct uds__workers *all, unsigned i,
                        struct uds_server_worker_stats *ret_stats) {
    struct uds__worker *w = (struct uds__worker *) &all->w[i];

    ret_stats->accepted = atomic_load(&w->accepted);
    ret_stats->conns = atomic_load(&w->live);
}

/* --- making and ending ------------------------------------------------------------------- */

static void wake_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct uds__workers *all = arg;

    (void) loop, (void) events;
    drain_eventfd(fd);
    uds__server_poke(all->parent);
}

static int worker_init(struct uds__workers *all, struct uds__worker *w) {
    w->all = all;
    w->efd = -1;
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        return uds__fail(ENOMEM);
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0)
        return -1;
    w->srv = uds__server_worker_new(all->parent, w);
    if (!w->srv)
        return -1;
    return uds_loop_add(uds_server_loop(w->srv), w->efd, UDS_EV_READ, mailbox_io, w);
}

/* Every signal blocked in the workers: the process's signals go to its own threads (a
 * signalfd, a handler), never to a worker in the middle of a callback. */
static int start_threads(struct uds__workers *all) {
    sigset_t every, old;
    int r = 0;

    sigfillset(&every);
    pthread_sigmask(SIG_SETMASK, &every, &old);
    for (unsigned i = 0; i < all->n && r == 0; i++) {
        atomic_fetch_add(&all->running, 1);
        r = pthread_create(&all->w[i].thread, NULL, worker_main, &all->w[i]);
        if (r != 0)
            atomic_fetch_sub(&all->running, 1);
        all->w[i].started = r == 0;
        /* Seen in top -H, ps -L and /proc/PID/task/TID/comm; best effort. */
        if (r == 0) {
            char name[16];
            snprintf(name, sizeof(name), "udsw/%u", i);
            (void) pthread_setname_np(all->w[i].thread, name);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r == 0 ? 0 : uds__fail(r);
}

struct uds__workers *uds__workers_new(struct uds_server *parent, struct uds_loop *loop,
                                      unsigned n, size_t max_conns) {
    struct uds__workers *all = calloc(1, sizeof(*all) + n * sizeof(all->w[0]));

    if (!all)
        return NULL;
    all->parent = parent;
    all->loop = loop;
    all->n = n;
    all->max_conns = max_conns;
    all->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (all->wake_fd < 0)
        goto fail;
    for (unsigned i = 0; i < n; i++)
        if (worker_init(all, &all->w[i]) < 0)
            goto fail;
    if (uds_loop_add(loop, all->wake_fd, UDS_EV_READ, wake_io, all) < 0)
        goto fail;
    if (start_threads(all) < 0) {
        int e = errno;
        (void) uds_loop_del(loop, all->wake_fd);
        errno = e;
        goto fail;
    }
    return all;
fail:
    {
        int e = errno;
        all->loop = NULL;   /* wake_fd is not in it */
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
        atomic_fetch_sub(&w->all->live, 1);
    }
    free(w->fds);
    if (w->efd >= 0)
        (void) close(w->efd);
    pthread_mutex_destroy(&w->lock);
}

void uds__workers_free(struct uds__workers *all) {
    if (!all)
        return;
    uds__workers_stop(all, false);
    uds__workers_join(all);
    for (unsigned i = 0; i < all->n; i++) {
        struct uds__worker *w = &all->w[i];
        if (w->all)
            worker_done(w);
    }
    if (all->wake_fd >= 0) {
        if (all->loop)
            (void) uds_loop_del(all->loop, all->wake_fd);
        (void) close(all->wake_fd);
    }
    free(all);
}
