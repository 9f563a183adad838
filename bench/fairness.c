/* SPDX-License-Identifier: MIT */
/*
 * fairness.c — how evenly connections opened in a burst spread over the workers of a
 * Unix-socket server, for each way of sharing a listener among threads:
 *
 *   udskit           uds_server with .threads = WORKERS: one acceptor hands each
 *                    connection to the worker with the fewest (uds_server_worker_stats()
 *                    counts them)
 *   exclusive-drain  every worker has its own epoll with the one listener added with
 *                    EPOLLEXCLUSIVE and accepts until EAGAIN at each wakeup (libuv, and
 *                    most event loops)
 *   exclusive-one    the same, one accept per wakeup (nginx without multi_accept)
 *
 * The kernel wakes EPOLLEXCLUSIVE waiters last-in first-out, so the worker that went back
 * to sleep last gets the next connection: a burst tends to land on one or two workers.
 * The three take turns within each round.
 *
 *   cc -std=c11 -O2 -pthread -Iinclude -o build/bench/fairness bench/fairness.c \
 *       build/libudskit.a          (bench/run.sh builds it)
 *   fairness [-w WORKERS] [-c CONNS] [-r ROUNDS]   (defaults 4, 256, 5)
 *
 * prints one line per mode and round: the connections each worker took, and the busiest
 * worker's count over the least busy one's ("inf" when a worker took none).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "udskit.h"

#define MAX_WORKERS 64

struct shared {
    int listen_fd;
    bool one_per_wakeup;
    long target;                /* connections to accept in all */
    atomic_long accepted;
    atomic_bool done;
};

struct worker {
    struct shared *sh;
    pthread_t thread;
    int epfd;
    long taken;
    int *fds;                   /* held open until the round ends, as a server would */
    long n_fds, cap_fds;
};

static int hold(struct worker *w, int fd) {
    if (w->n_fds == w->cap_fds) {
        long cap = w->cap_fds ? w->cap_fds * 2 : 64;
        int *fds = realloc(w->fds, (size_t) cap * sizeof(*fds));
        if (!fds)
            return -1;
        w->fds = fds;
        w->cap_fds = cap;
    }
    w->fds[w->n_fds++] = fd;
    return 0;
}

/* Accept what this wakeup offers: one connection, or all of them. */
static void accept_some(struct worker *w) {
    for (;;) {
        int fd = accept4(w->sh->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;     /* EAGAIN: another worker took it, or none is left */
        if (hold(w, fd) < 0) {
            close(fd);
            return;
        }
        w->taken++;
        if (atomic_fetch_add(&w->sh->accepted, 1) + 1 >= w->sh->target)
            atomic_store(&w->sh->done, true);
        if (w->sh->one_per_wakeup)
            return;
    }
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct epoll_event ev;

    while (!atomic_load(&w->sh->done)) {
        /* A short timeout so that a worker never woken sees the end of the round. */
        int n = epoll_wait(w->epfd, &ev, 1, 20);
        if (n > 0)
            accept_some(w);
    }
    return NULL;
}

static int listen_at(const char *path) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    (void) unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0) {
        perror(path);
        exit(1);
    }
    return fd;
}

/* Opens conns connections at once; they are closed by the caller's close of *fds. */
static int burst(const char *path, long conns, int *fds) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    for (long i = 0; i < conns; i++) {
        fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *) &sa, sizeof(sa)) < 0) {
            perror("connect");
            return -1;
        }
    }
    return 0;
}

static void report(const char *mode, int round, const long *taken, int n) {
    long most = 0, least = -1;

    printf("%-16s round %d:", mode, round);
    for (int i = 0; i < n; i++) {
        printf(" %ld", taken[i]);
        most = taken[i] > most ? taken[i] : most;
        least = least < 0 || taken[i] < least ? taken[i] : least;
    }
    if (least > 0)
        printf("  max/min %.2f\n", (double) most / (double) least);
    else
        printf("  max/min inf\n");
}

static int run_round(const char *path, bool one, int n, long conns, int round) {
    struct shared sh = { .one_per_wakeup = one, .target = conns };
    struct worker ws[MAX_WORKERS];
    int *client = calloc((size_t) conns, sizeof(int));

    sh.listen_fd = listen_at(path);
    memset(ws, 0, sizeof(ws));
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
        ws[i].sh = &sh;
        ws[i].epfd = epoll_create1(EPOLL_CLOEXEC);
        if (!client || ws[i].epfd < 0 || epoll_ctl(ws[i].epfd, EPOLL_CTL_ADD, sh.listen_fd,
                                                    &ev) < 0) {
            perror("epoll");
            return -1;
        }
        pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    }
    usleep(50 * 1000);      /* every worker asleep in epoll_wait, as a server between bursts */
    int rc = burst(path, conns, client);
    for (int i = 0; i < n; i++)
        pthread_join(ws[i].thread, NULL);
    long taken[MAX_WORKERS];
    for (int i = 0; i < n; i++)
        taken[i] = ws[i].taken;
    if (rc == 0)
        report(one ? "exclusive-one" : "exclusive-drain", round, taken, n);
    for (int i = 0; i < n; i++) {
        for (long k = 0; k < ws[i].n_fds; k++)
            close(ws[i].fds[k]);
        free(ws[i].fds);
        close(ws[i].epfd);
    }
    for (long i = 0; i < conns; i++)
        close(client[i]);
    free(client);
    close(sh.listen_fd);
    unlink(path);
    return rc;
}

/* ---- udskit: uds_server with worker threads -------------------------------------------- */

struct uds_run {
    struct uds_server *s;
    int stop_fd;                /* in the server's loop: stop from its own thread */
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

static int run_round_udskit(const char *path, int n, long conns, int round) {
    struct uds_listen_opts lo = { .type = UDS_STREAM };
    struct uds_server_opts so = { .threads = (unsigned) n, .max_conns = (size_t) conns };
    struct uds_listener l;
    struct uds_run r = { .stop_fd = -1 };
    pthread_t t;
    long taken[MAX_WORKERS];
    uint64_t one = 1;
    int *client = calloc((size_t) conns, sizeof(int));

    if (!client || uds_listen(path, &lo, &l, NULL) < 0 ||
        !(r.s = uds_server_new(NULL, &l, &so, NULL, NULL)) ||
        (r.stop_fd = eventfd(0, EFD_CLOEXEC)) < 0 ||
        uds_loop_add(uds_server_loop(r.s), r.stop_fd, UDS_EV_READ, stop_io, &r) < 0) {
        perror("udskit");
        return -1;
    }
    pthread_create(&t, NULL, uds_runner, &r);
    int rc = burst(path, conns, client);
    for (int i = 0; i < 5000 && uds_server_conn_count(r.s) < (size_t) conns; i++)
        usleep(1000);
    for (int i = 0; i < n; i++) {
        struct uds_server_worker_stats st = { 0 };
        (void) uds_server_worker_stats(r.s, (unsigned) i, &st);
        taken[i] = (long) st.conns;
    }
    if (rc == 0)
        report("udskit", round, taken, n);
    if (write(r.stop_fd, &one, sizeof(one)) < 0)
        perror("stop");
    pthread_join(t, NULL);
    uds_server_free(r.s);
    close(r.stop_fd);
    for (long i = 0; i < conns; i++)
        close(client[i]);
    free(client);
    return rc;
}

int main(int argc, char **argv) {
    int workers = 4, rounds = 5, opt;
    long conns = 256;
    char dir[] = "/tmp/fairness.XXXXXX", path[64];
    struct rlimit rl;

    while ((opt = getopt(argc, argv, "w:c:r:")) != -1) {
        if (opt == 'w')
            workers = atoi(optarg);
        else if (opt == 'c')
            conns = atol(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else
            return 64;
    }
    if (workers < 1 || workers > MAX_WORKERS || conns < 1 || rounds < 1 || !mkdtemp(dir)) {
        fprintf(stderr, "usage: fairness [-w WORKERS (1-%d)] [-c CONNS] [-r ROUNDS]\n",
                MAX_WORKERS);
        return 64;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    int rc = 0;
    for (int r = 1; r <= rounds && rc == 0; r++) {
        rc = run_round_udskit(path, workers, conns, r);
        if (rc == 0)
            rc = run_round(path, false, workers, conns, r);
        if (rc == 0)
            rc = run_round(path, true, workers, conns, r);
    }
    rmdir(dir);
    return rc ? 1 : 0;
}
