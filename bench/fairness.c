/* SPDX-License-Identifier: MIT */
/*
 * fairness.c — how evenly a burst of connections to one Unix listener is spread over worker
 * threads, in one run:
 *   udskit      uds_server with .threads = W: one acceptor hands each connection to the
 *               worker with the fewest (uds_server_worker_stats() counts them);
 *   excl-one    W threads, each with its own epoll set holding the one listener with
 *               EPOLLEXCLUSIVE, accepting one connection per wakeup (nginx's default);
 *   excl-all    the same, accepting until EAGAIN on each wakeup (multi_accept, libuv).
 * Each round opens N connections as fast as one client thread can, waits until all are
 * accepted, and prints each worker's count and the busiest / least busy ratio.
 *
 *   cc -std=c11 -D_GNU_SOURCE -O2 -pthread -Iinclude -o build/bench/fairness \
 *       bench/fairness.c build/libudskit.a
 *   build/bench/fairness [-n CONNS] [-w WORKERS] [-r ROUNDS]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "udskit.h"

#define MAX_WORKERS 64
#define MAX_CONNS 65536

static int n_conns = 256, n_workers = 4, rounds = 5;
static char path[108];

static void die(const char *what) {
    fprintf(stderr, "fairness: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void sleep_ms(int ms) {
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The burst: n non-blocking connects, as fast as they go (a full backlog is retried). */
static void burst(int *fds) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    memcpy(sa.sun_path, path, strlen(path) + 1);
    for (int i = 0; i < n_conns; i++) {
        fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fds[i] < 0)
            die("socket");
        while (connect(fds[i], (struct sockaddr *) &sa, sizeof(sa)) < 0) {
            if (errno != EAGAIN)
                die("connect");
            sleep_ms(1);
        }
    }
}

static void close_all(int *fds) {
    for (int i = 0; i < n_conns; i++)
        (void) close(fds[i]);
}

/* Prints "NAME  c0 c1 ...  max/min R" and returns R. */
static double report(const char *name, const size_t *counts) {
    size_t max = 0, min = SIZE_MAX;

    printf("%-9s", name);
    for (int w = 0; w < n_workers; w++) {
        printf(" %4zu", counts[w]);
        if (counts[w] > max)
            max = counts[w];
        if (counts[w] < min)
            min = counts[w];
    }
    double r = min ? (double) max / (double) min : 1e9;
    if (min)
        printf("   max/min %.2f\n", r);
    else
        printf("   max/min inf (a worker got none)\n");
    fflush(stdout);
    return r;
}

/* ---- udskit: uds_server with worker threads ----------------------------------------------- */

struct uds_run {
    struct uds_server *s;
    int stop_fd;
};

static void stop_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct uds_run *r = arg;
    uint64_t v;

    (void) loop, (void) events;
    if (read(fd, &v, sizeof(v)) == sizeof(v))
        uds_server_stop(r->s, false);
}

static void *uds_runner(void *arg) {
    (void) uds_server_run(((struct uds_run *) arg)->s);
    return NULL;
}

static double round_udskit(int *fds) {
    struct uds_listen_opts lo = { .type = UDS_STREAM };
    struct uds_server_opts so = { .threads = (unsigned) n_workers, .max_conns = MAX_CONNS };
    struct uds_listener l;
    struct uds_run r;
    pthread_t t;
    size_t counts[MAX_WORKERS];
    uint64_t one = 1;

    if (uds_listen(path, &lo, &l, NULL) < 0)
        die("uds_listen");
    r.s = uds_server_new(NULL, &l, &so, NULL, NULL);
    r.stop_fd = eventfd(0, EFD_CLOEXEC);
    if (!r.s || r.stop_fd < 0 ||
        uds_loop_add(uds_server_loop(r.s), r.stop_fd, UDS_EV_READ, stop_io, &r) < 0)
        die("uds_server_new");
    pthread_create(&t, NULL, uds_runner, &r);
    burst(fds);
    for (int i = 0; i < 5000 && uds_server_conn_count(r.s) < (size_t) n_conns; i++)
        sleep_ms(1);
    for (int w = 0; w < n_workers; w++) {
        struct uds_server_worker_stats st;
        (void) uds_server_worker_stats(r.s, (unsigned) w, &st);
        counts[w] = st.conns;
    }
    double ratio = report("udskit", counts);
    if (write(r.stop_fd, &one, sizeof(one)) < 0)
        die("write");
    pthread_join(t, NULL);
    uds_server_free(r.s);
    (void) close(r.stop_fd);
    close_all(fds);
    return ratio;
}

/* ---- EPOLLEXCLUSIVE: W threads on one listener --------------------------------------------- */

struct excl {
    int lfd;
    bool all;                   /* accept until EAGAIN, else one per wakeup */
    atomic_int accepted;        /* by every thread */
    atomic_bool stop;
    int *held;                  /* accepted fds, to close at the end */
    atomic_int n_held;
};

struct excl_worker {
    struct excl *x;
    pthread_t t;
    size_t count;
};

static void *excl_main(void *arg) {
    struct excl_worker *w = arg;
    struct excl *x = w->x;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };

    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, x->lfd, &ev) < 0)
        die("epoll");
    while (!atomic_load(&x->stop)) {
        if (epoll_wait(ep, &ev, 1, 20) <= 0)
            continue;
        do {
            int fd = accept4(x->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
                break;
            x->held[atomic_fetch_add(&x->n_held, 1)] = fd;
            w->count++;
            atomic_fetch_add(&x->accepted, 1);
        } while (x->all);
    }
    (void) close(ep);
    return NULL;
}

static double round_excl(int *fds, bool all) {
    struct uds_listen_opts lo = { .type = UDS_STREAM };
    struct uds_listener l;
    struct excl x = { .all = all };
    struct excl_worker w[MAX_WORKERS];
    size_t counts[MAX_WORKERS];

    if (uds_listen(path, &lo, &l, NULL) < 0 || uds_set_nonblock(l.fd, true) < 0)
        die("uds_listen");
    x.lfd = l.fd;
    x.held = calloc((size_t) n_conns, sizeof(int));
    for (int i = 0; i < n_workers; i++) {
        w[i] = (struct excl_worker) { .x = &x };
        pthread_create(&w[i].t, NULL, excl_main, &w[i]);
    }
    sleep_ms(50);   /* every thread waiting in epoll_wait */
    burst(fds);
    for (int i = 0; i < 5000 && atomic_load(&x.accepted) < n_conns; i++)
        sleep_ms(1);
    atomic_store(&x.stop, true);
    for (int i = 0; i < n_workers; i++) {
        pthread_join(w[i].t, NULL);
        counts[i] = w[i].count;
    }
    double ratio = report(all ? "excl-all" : "excl-one", counts);
    for (int i = 0; i < atomic_load(&x.n_held); i++)
        (void) close(x.held[i]);
    free(x.held);
    uds_unlisten(&l);
    close_all(fds);
    return ratio;
}

/* ---- main ------------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int opt;

    while ((opt = getopt(argc, argv, "n:w:r:")) != -1) {
        if (opt == 'n')
            n_conns = atoi(optarg);
        else if (opt == 'w')
            n_workers = atoi(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else
            return 64;
    }
    if (n_conns < 1 || n_conns > MAX_CONNS || n_workers < 1 || n_workers > MAX_WORKERS ||
        rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: fairness [-n CONNS] [-w WORKERS (<= 64)] [-r ROUNDS]\n");
        return 64;
    }
    snprintf(path, sizeof(path), "/tmp/uds-fairness-%d.sock", (int) getpid());
    int *fds = calloc((size_t) n_conns, sizeof(int));
    double *r[3];
    for (int k = 0; k < 3; k++)
        r[k] = calloc((size_t) rounds, sizeof(double));
    printf("%d connections in a burst over %d workers, %d rounds; per-worker counts\n",
           n_conns, n_workers, rounds);
    for (int i = 0; i < rounds; i++) {
        r[0][i] = round_udskit(fds);
        r[1][i] = round_excl(fds, false);
        r[2][i] = round_excl(fds, true);
    }
    static const char *const names[] = { "udskit", "excl-one", "excl-all" };
    printf("median max/min:");
    for (int k = 0; k < 3; k++) {
        qsort(r[k], (size_t) rounds, sizeof(double), cmp_double);
        double m = r[k][rounds / 2];
        if (m >= 1e9)
            printf(" %s inf%s", names[k], k < 2 ? "," : "\n");
        else
            printf(" %s %.2f%s", names[k], m, k < 2 ? "," : "\n");
    }
    return 0;
}
