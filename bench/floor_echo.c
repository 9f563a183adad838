/* SPDX-License-Identifier: MIT */
/*
 * floor_echo.c — the floor for udskit's echo server: a minimal single-threaded epoll echo
 * server written for the benchmark only, the fastest simple thing. Level-triggered epoll,
 * one read into a static buffer and one write back per ready connection, no per-connection
 * memory unless a reply has to wait. No safe listen, peer checks, limits or timeouts: that
 * is what udskit adds, and what the comparison prices.
 *
 *   floor_echo PATH          Unix stream socket at PATH (an old file there is removed)
 *   floor_echo tcp:PORT      TCP on 127.0.0.1:PORT, TCP_NODELAY
 *
 * Prints "listening" on stdout once ready; SIGTERM/SIGINT stop it and remove PATH.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUF_SIZE (64 * 1024)

/* A reply the socket did not take at once; only connections that fell behind have one. */
struct pending {
    char *buf;
    size_t off;
    size_t len;
};

static struct pending *pend;
static size_t n_pend;
static int epfd, lfd;
static bool tcp;
static char buf[BUF_SIZE];
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void) sig;
    stop = 1;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void drop(int fd) {
    if ((size_t) fd < n_pend) {
        free(pend[fd].buf);
        pend[fd] = (struct pending) { 0 };
    }
    close(fd);  /* also leaves the epoll set */
}

static void watch(int fd, int op, uint32_t events) {
    struct epoll_event ev = { .events = events, .data.fd = fd };
    if (epoll_ctl(epfd, op, fd, &ev) < 0)
        die("epoll_ctl");
}

/* Keep what the socket did not take, and wait for room instead of reading more. */
static int defer(int fd, const char *p, size_t len) {
    if ((size_t) fd >= n_pend) {
        size_t n = n_pend ? n_pend : 1024;
        while (n <= (size_t) fd)
            n *= 2;
        struct pending *bigger = realloc(pend, n * sizeof(*pend));
        if (!bigger)
            return -1;
        memset(bigger + n_pend, 0, (n - n_pend) * sizeof(*pend));
        pend = bigger;
        n_pend = n;
    }
    pend[fd].buf = malloc(len);
    if (!pend[fd].buf)
        return -1;
    memcpy(pend[fd].buf, p, len);
    pend[fd].off = 0;
    pend[fd].len = len;
    watch(fd, EPOLL_CTL_MOD, EPOLLOUT);
    return 0;
}

static void on_writable(int fd) {
    struct pending *p = &pend[fd];
    ssize_t n = send(fd, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);

    if (n < 0) {
        if (errno != EAGAIN)
            drop(fd);
        return;
    }
    p->off += (size_t) n;
    if (p->off < p->len)
        return;
    free(p->buf);
    *p = (struct pending) { 0 };
    watch(fd, EPOLL_CTL_MOD, EPOLLIN);
}

static void on_readable(int fd) {
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n <= 0) {
        if (n == 0 || errno != EAGAIN)
            drop(fd);
        return;
    }
    ssize_t w = send(fd, buf, (size_t) n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN) {
            drop(fd);
            return;
        }
        w = 0;
    }
    if (w < n && defer(fd, buf + w, (size_t) (n - w)) < 0)
        drop(fd);
}

static void on_accept(void) {
    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        watch(fd, EPOLL_CTL_ADD, EPOLLIN);
    }
}

int main(int argc, char **argv) {
    struct epoll_event ev[MAX_EVENTS];
    struct rlimit rl;
    const char *path = NULL;

    if (argc != 2) {
        fprintf(stderr, "usage: floor_echo PATH | tcp:PORT\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (strncmp(argv[1], "tcp:", 4) == 0) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t) atoi(argv[1] + 4)),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int one = 1;
        tcp = true;
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
            die("tcp listen");
    } else {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        path = argv[1];
        if (strlen(path) >= sizeof(sa.sun_path)) {
            fprintf(stderr, "floor_echo: path too long\n");
            return 64;
        }
        strcpy(sa.sun_path, path);
        unlink(path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
            die(path);
    }
    if (listen(lfd, SOMAXCONN) < 0)
        die("listen");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    watch(lfd, EPOLL_CTL_ADD, EPOLLIN);
    printf("listening\n");
    fflush(stdout);

    while (!stop) {
        int n = epoll_wait(epfd, ev, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            if (fd == lfd)
                on_accept();
            else if (ev[i].events & EPOLLOUT)
                on_writable(fd);
            else
                on_readable(fd);
        }
    }
    if (path)
        unlink(path);
    return 0;
}
