/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c — the load generator and echo server behind bench/proxy/run.sh: the same
 * client drives a direct connection and every proxy, so only the proxy changes. Plain
 * syscalls, one thread, epoll; it knows nothing of udskit.
 *
 *   loadgen echo ADDRESS                          echo server; prints "ready" when listening
 *   loadgen rr ADDRESS -c CONNS -P PIPELINE -s SIZE -d SECONDS
 *                                                 requests/s: each connection keeps PIPELINE
 *                                                 SIZE-byte messages in flight
 *   loadgen bulk ADDRESS -c CONNS -s SIZE -d SECONDS
 *                                                 echo throughput: SIZE-byte writes, at most
 *                                                 16 of them in flight per connection
 *   loadgen lat ADDRESS -s SIZE -n COUNT          round-trip latency of one connection
 *
 * ADDRESS is a path, @abstract, or tcp:HOST:PORT (numeric IPv4, or [IPv6]). Results go to
 * stdout as one line of key=value pairs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (256u << 10)
#define BULK_WINDOW 16      /* writes in flight per connection in bulk mode */
#define MAX_EVENTS 256

struct address {
    struct sockaddr_storage ss;
    socklen_t len;
    bool tcp;
};

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(void) {
    fprintf(stderr, "usage: loadgen echo|rr|bulk|lat ADDRESS [-c CONNS] [-P PIPELINE] "
            "[-s SIZE] [-d SECONDS] [-n COUNT]\n");
    exit(2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int parse_address(const char *text, struct address *a) {
    memset(a, 0, sizeof(*a));
    if (strncmp(text, "tcp:", 4) == 0) {
        char host[256];
        const char *h = text + 4, *colon;
        size_t hl;
        if (*h == '[') {
            const char *close = strchr(h, ']');
            if (!close || close[1] != ':')
                return -1;
            hl = (size_t) (close - h - 1);
            memcpy(host, h + 1, hl);
            colon = close + 1;
        } else {
            colon = strrchr(h, ':');
            if (!colon)
                return -1;
            hl = (size_t) (colon - h);
            memcpy(host, h, hl);
        }
        host[hl] = '\0';
        int port = atoi(colon + 1);
        struct sockaddr_in *in = (struct sockaddr_in *) &a->ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &a->ss;
        if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
            in->sin_family = AF_INET;
            in->sin_port = htons((uint16_t) port);
            a->len = sizeof(*in);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons((uint16_t) port);
            a->len = sizeof(*in6);
        } else {
            return -1;
        }
        a->tcp = true;
        return 0;
    }
    if (strncmp(text, "unix:", 5) == 0)
        text += 5;
    struct sockaddr_un *un = (struct sockaddr_un *) &a->ss;
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof(un->sun_path))
        return -1;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, text, n);
    if (text[0] == '@') {
        un->sun_path[0] = '\0';
        a->len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        a->len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

static void set_nonblock(int fd) {
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die("fcntl");
}

static void nodelay(const struct address *a, int fd) {
    int on = 1;
    if (a->tcp)
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

static int dial(const struct address *a) {
    for (int tries = 0;; tries++) {
        int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket");
        if (connect(fd, (const struct sockaddr *) &a->ss, a->len) == 0) {
            nodelay(a, fd);
            return fd;
        }
        if ((errno != EAGAIN && errno != ECONNREFUSED && errno != ENOENT) || tries > 500)
            die("connect");
        close(fd);
        usleep(10000);
    }
}

/* ---- echo server -------------------------------------------------------------------------- */

struct econn {
    int fd;
    char *buf;
    size_t off, len;
};

static void echo_close(int ep, struct econn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

static _Noreturn void run_echo(const struct address *a, const char *text) {
    int lfd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;
    struct epoll_event evs[MAX_EVENTS];
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (lfd < 0 || ep < 0)
        die("socket");
    if (!a->tcp && ((struct sockaddr_un *) &a->ss)->sun_path[0])
        unlink(((struct sockaddr_un *) &a->ss)->sun_path);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(lfd, (const struct sockaddr *) &a->ss, a->len) < 0 || listen(lfd, 4096) < 0)
        die(text);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct econn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    c = calloc(1, sizeof(*c));
                    c->fd = fd;
                    c->buf = malloc(BUF_SIZE);
                    nodelay(a, fd);
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            /* Flush what is pending, then read and echo until the socket is drained or
             * the peer's side is full. */
            for (;;) {
                if (c->len > c->off) {
                    ssize_t w = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
                    if (w < 0 && errno == EAGAIN) {
                        struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                        break;
                    }
                    if (w < 0) {
                        echo_close(ep, c);
                        break;
                    }
                    c->off += (size_t) w;
                    if (c->off < c->len)
                        continue;
                    if (evs[i].events & EPOLLOUT) {
                        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                        evs[i].events = EPOLLIN;
                    }
                }
                ssize_t r = recv(c->fd, c->buf, BUF_SIZE, 0);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    echo_close(ep, c);
                    break;
                }
                c->off = 0;
                c->len = (size_t) r;
            }
        }
    }
}

/* ---- clients ------------------------------------------------------------------------------ */

struct cconn {
    int fd;
    uint64_t sent, received;    /* bytes */
    uint64_t owed;              /* bytes to send when the socket takes them */
    bool want_out;
};

static char *pattern;

static void flush_owed(int ep, struct cconn *c) {
    while (c->owed > 0) {
        size_t chunk = c->owed < BUF_SIZE ? (size_t) c->owed : BUF_SIZE;
        ssize_t w = send(c->fd, pattern, chunk, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN)
            break;
        if (w < 0)
            die("send");
        c->owed -= (uint64_t) w;
        c->sent += (uint64_t) w;
    }
    bool want = c->owed > 0;
    if (want != c->want_out) {
        struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0u), .data.ptr = c };
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
}

/* rr: every SIZE bytes echoed completes a request and sends the next. bulk: SIZE-byte
 * writes, BULK_WINDOW of them in flight. Both measure bytes echoed over the duration. */
static int run_load(const struct address *a, bool bulk, int conns, int pipeline, size_t size,
                    double duration) {
    struct cconn *cs = calloc((size_t) conns, sizeof(*cs));
    char *rbuf = malloc(BUF_SIZE);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event evs[MAX_EVENTS];
    uint64_t window = (uint64_t) size * (uint64_t) (bulk ? BULK_WINDOW : pipeline);
    uint64_t total = 0, at_start = 0;
    double start, warm_end, end;

    pattern = malloc(BUF_SIZE);
    memset(pattern, 'x', BUF_SIZE);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = dial(a);
        set_nonblock(cs[i].fd);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        cs[i].owed = window;
    }
    for (int i = 0; i < conns; i++)
        flush_owed(ep, &cs[i]);
    /* A short warm-up outside the measurement: connection setup, caches, the proxy's
     * pools. */
    start = now_s();
    warm_end = start + (duration > 2 ? 0.5 : duration / 4);
    end = warm_end + duration;
    bool warm = true;
    for (;;) {
        double t = now_s();
        if (warm && t >= warm_end) {
            warm = false;
            at_start = total;
            warm_end = t;
            end = t + duration;
        }
        if (!warm && t >= end)
            break;
        int n = epoll_wait(ep, evs, MAX_EVENTS, 100);
        for (int i = 0; i < n; i++) {
            struct cconn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLIN) {
                for (int k = 0; k < 4; k++) {
                    ssize_t r = recv(c->fd, rbuf, BUF_SIZE, MSG_DONTWAIT);
                    if (r < 0 && errno == EAGAIN)
                        break;
                    if (r <= 0) {
                        fprintf(stderr, "loadgen: connection closed by the server\n");
                        return 1;
                    }
                    uint64_t before = c->received / size;
                    c->received += (uint64_t) r;
                    total += (uint64_t) r;
                    c->owed += (c->received / size - before) * size;
                    if ((size_t) r < BUF_SIZE)
                        break;
                }
            }
            flush_owed(ep, c);
        }
    }
    double secs = now_s() - warm_end;
    uint64_t bytes = total - at_start;
    printf("requests_per_s=%.0f mb_per_s=%.1f bytes=%llu seconds=%.2f\n",
           (double) bytes / (double) size / secs, (double) bytes / secs / 1e6,
           (unsigned long long) bytes, secs);
    return 0;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *) x, b = *(const double *) y;
    return a < b ? -1 : a > b;
}

static int run_latency(const struct address *a, size_t size, long count) {
    int fd = dial(a);
    char *buf = malloc(size);
    double *rtt = malloc(sizeof(double) * (size_t) count);
    double sum = 0;

    memset(buf, 'x', size);
    for (long i = -count / 10; i < count; i++) {    /* the first tenth warms up */
        double t0 = now_s();
        if (send(fd, buf, size, MSG_NOSIGNAL) != (ssize_t) size)
            die("send");
        for (size_t got = 0; got < size;) {
            ssize_t r = recv(fd, buf + got, size - got, 0);
            if (r <= 0)
                die("recv");
            got += (size_t) r;
        }
        if (i >= 0) {
            rtt[i] = (now_s() - t0) * 1e6;
            sum += rtt[i];
        }
    }
    qsort(rtt, (size_t) count, sizeof(double), cmp_double);
    printf("p50_us=%.2f p99_us=%.2f mean_us=%.2f count=%ld\n", rtt[count / 2],
           rtt[count * 99 / 100], sum / (double) count, count);
    return 0;
}

int main(int argc, char **argv) {
    struct address a;
    int conns = 1, pipeline = 1, c;
    size_t size = 64;
    double duration = 5;
    long count = 20000;

    if (argc < 3)
        usage();
    signal(SIGPIPE, SIG_IGN);
    const char *mode = argv[1], *addr = argv[2];
    optind = 3;
    while ((c = getopt(argc, argv, "c:P:s:d:n:")) != -1) {
        switch (c) {
        case 'c': conns = atoi(optarg); break;
        case 'P': pipeline = atoi(optarg); break;
        case 's': size = (size_t) atol(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'n': count = atol(optarg); break;
        default: usage();
        }
    }
    if (parse_address(addr, &a) < 0 || conns < 1 || pipeline < 1 || size < 1 ||
        size > BUF_SIZE || duration <= 0 || count < 10)
        usage();
    if (strcmp(mode, "echo") == 0)
        run_echo(&a, addr);
    if (strcmp(mode, "rr") == 0)
        return run_load(&a, false, conns, pipeline, size, duration);
    if (strcmp(mode, "bulk") == 0)
        return run_load(&a, true, conns, pipeline, size, duration);
    if (strcmp(mode, "lat") == 0)
        return run_latency(&a, size, count);
    usage();
}
