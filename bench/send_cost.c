/* SPDX-License-Identifier: MIT */
/*
 * send_cost.c — what one reply costs the kernel by the call that sends it: write(), send()
 * and sendmsg() with one iovec, each followed by the recv() that empties the socket, on a
 * Unix stream socketpair in one process (no wake-ups, no scheduler: the syscall paths
 * alone). The echo servers of the suite differ in exactly this call.
 *
 *   send_cost [SIZE...]      default 64 1024; prints one JSON object per size
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CALLS 2000
#define TRIES 30

enum way { WAY_WRITE, WAY_SEND, WAY_SENDMSG, N_WAYS };
static const char *const way_name[N_WAYS] = { "write", "send", "sendmsg" };

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/* The best of TRIES runs of CALLS send+recv pairs, in ns per pair: the least disturbed. */
static double cost(int sv[2], enum way way, const char *buf, size_t size, char *rbuf,
                   size_t rsize) {
    double best = 1e30;

    for (int t = 0; t < TRIES; t++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < CALLS; i++) {
            ssize_t n;
            if (way == WAY_WRITE) {
                n = write(sv[0], buf, size);
            } else if (way == WAY_SEND) {
                n = send(sv[0], buf, size, MSG_NOSIGNAL | MSG_DONTWAIT);
            } else {
                struct iovec iov = { .iov_base = (void *) buf, .iov_len = size };
                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
                n = sendmsg(sv[0], &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            if (n != (ssize_t) size || recv(sv[1], rbuf, rsize, MSG_DONTWAIT) != n) {
                perror("send_cost");
                exit(1);
            }
        }
        double per = (double) (now_ns() - t0) / CALLS;
        if (per < best)
            best = per;
    }
    return best;
}

int main(int argc, char **argv) {
    size_t sizes[16] = { 64, 1024 };
    int n_sizes = 2, sv[2];

    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 16; i++)
            sizes[n_sizes++] = strtoul(argv[i], NULL, 10);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        return 1;
    }
    for (int s = 0; s < n_sizes; s++) {
        size_t size = sizes[s], rsize = size + 1;
        char *buf = malloc(size), *rbuf = malloc(rsize);
        if (!buf || !rbuf || size == 0) {
            fprintf(stderr, "send_cost: bad size\n");
            return 1;
        }
        memset(buf, 'x', size);
        double ns[N_WAYS];
        /* Interleaved rounds, so that a disturbance falls on every way alike. */
        for (int w = 0; w < N_WAYS; w++)
            ns[w] = 1e30;
        for (int round = 0; round < 3; round++) {
            for (int w = 0; w < N_WAYS; w++) {
                double c = cost(sv, (enum way) w, buf, size, rbuf, rsize);
                if (c < ns[w])
                    ns[w] = c;
            }
        }
        printf("{\"size\":%zu", size);
        for (int w = 0; w < N_WAYS; w++)
            printf(",\"%s_ns\":%.1f", way_name[w], ns[w]);
        printf("}\n");
        free(buf);
        free(rbuf);
    }
    return 0;
}
