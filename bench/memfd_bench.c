/* SPDX-License-Identifier: MIT */
/*
 * memfd_bench.c — large messages over a Unix stream socket between two processes, side by
 * side: a plain stream copy (length header + bytes into a reused buffer), udskit's pooled
 * sealed memfds, and a fresh sealed memfd per message (UDS_MEMFD_POOL_IMMUTABLE). The
 * receiver reads every byte of every message (a checksum), as a real consumer would.
 * Not a unit test: run it by hand.
 *
 *   make && cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/memfd_bench.c build/libudskit.a \
 *       -o build/memfd_bench && build/memfd_bench [SIZE_KIB...]
 *
 * Two patterns per size: "ping-pong" (send one message, wait for the receiver's one-byte
 * reply once it is done with it: latency, pool always reused) and "stream" (messages back
 * to back, one reply at the end: throughput; the pool falls back to one-off memfds when
 * the sender gets ahead of the receiver by more than its buffers).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "udskit.h"

enum mode { STREAM_COPY, MEMFD_POOLED, MEMFD_INPLACE, MEMFD_NOCACHE, MEMFD_FRESH, N_MODES };
static const char *mode_name[] = {
    "stream copy",      /* header + send(), recv() into one reused buffer */
    "memfd pooled",     /* uds_memfd_send(): one copy into a pooled buffer; receiver cache */
    "memfd in place",   /* uds_memfd_buf_init() + _send(): the sender writes in place */
    "pooled no cache",  /* as "memfd pooled", but the receiver maps every message anew */
    "memfd fresh",      /* UDS_MEMFD_POOL_IMMUTABLE: a new F_SEAL_WRITE memfd per message */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static uint64_t checksum(const void *p, size_t len) {
    const uint64_t *w = p;
    uint64_t sum = 0;
    for (size_t i = 0; i < len / 8; i++)
        sum += w[i];
    return sum;
}

/* Receive count messages; reply one byte after each (ping-pong) or only after the last. */
static void receiver(int fd, enum mode mode, size_t size, int count, bool pingpong) {
    uint8_t *buf = mode == STREAM_COPY ? malloc(size) : NULL;
    struct uds_memfd_cache *cache = mode == MEMFD_NOCACHE ? NULL : uds_memfd_cache_new(0);
    volatile uint64_t sink = 0;

    for (int i = 0; i < count; i++) {
        if (mode == STREAM_COPY) {
            uint8_t h[4];
            if (uds_recv_all(fd, h, 4) != 4)
                die("recv header");
            size_t len = (size_t) h[0] << 24 | (size_t) h[1] << 16 | (size_t) h[2] << 8 | h[3];
            if (len != size || uds_recv_all(fd, buf, len) != (ssize_t) len)
                die("recv payload");
            sink += checksum(buf, len);
        } else {
            struct uds_memfd_msg m;
            if (uds_memfd_recv(fd, cache, 0, 0, &m) != 1)
                die("uds_memfd_recv");
            if (m.len != size)
                die("size");
            sink += checksum(m.data, m.len);
            uds_memfd_msg_done(&m);
        }
        if ((pingpong || i == count - 1) && uds_send_all(fd, "k", 1) != 1)
            die("reply");
    }
    free(buf);
    uds_memfd_cache_free(cache);
}

struct result {
    double seconds;
    struct uds_memfd_pool_stats stats;
};

static struct result run(enum mode mode, size_t size, int count, bool pingpong) {
    int sv[2];
    struct result r = { 0 };

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(sv[0]);
        receiver(sv[1], mode, size, count, pingpong);
        _exit(0);
    }
    close(sv[1]);
    int fd = sv[0];
    uint8_t *src = malloc(size);
    for (size_t i = 0; i < size; i++)
        src[i] = (uint8_t) (i * 131);
    struct uds_memfd_pool_opts o = {
        .threshold = 1, .flags = mode == MEMFD_FRESH ? UDS_MEMFD_POOL_IMMUTABLE : 0,
        .wait_ms = pingpong ? 0 : 1000,
    };
    struct uds_memfd_pool *pool = uds_memfd_pool_new(&o);
    char c;

    double t0 = now_s();
    for (int i = 0; i < count; i++) {
        if (mode == STREAM_COPY) {
            uint8_t h[4];
            uds_frame_header(h, (uint32_t) size);
            if (uds_send_all(fd, h, 4) != 4 || uds_send_all(fd, src, size) != (ssize_t) size)
                die("send");
        } else if (mode == MEMFD_INPLACE) {
            /* The producer writes its message straight into the buffer; here one byte
             * stands for it, the rest being what the buffer held before. */
            struct uds_memfd_buf b;
            if (uds_memfd_buf_init(pool, size, &b) < 0)
                die("uds_memfd_buf_init");
            ((uint8_t *) b.data)[0] = (uint8_t) i;
            if (uds_memfd_buf_send(fd, pool, &b) < 0)
                die("uds_memfd_buf_send");
        } else if (uds_memfd_send(fd, pool, src, size) < 0) {
            die("uds_memfd_send");
        }
        if ((pingpong || i == count - 1) && uds_recv_all(fd, &c, 1) != 1)
            die("reply");
    }
    r.seconds = now_s() - t0;
    uds_memfd_pool_stats(pool, &r.stats);
    uds_memfd_pool_free(pool);
    free(src);
    close(fd);
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("receiver");
    return r;
}

int main(int argc, char **argv) {
    size_t sizes_kib[16] = { 64, 256, 1024, 16384 };
    int n_sizes = 4;

    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 16; i++)
            sizes_kib[n_sizes++] = strtoul(argv[i], NULL, 10);
    }
    printf("%-9s %-10s %-15s %10s %10s %8s  %s\n", "size", "pattern", "mode", "us/msg",
           "MB/s", "vs copy", "pool: pooled/fresh/created");
    for (int s = 0; s < n_sizes; s++) {
        size_t size = sizes_kib[s] << 10;
        /* About 1 GiB moved per run, at least 50 and at most 20000 messages. */
        size_t want = ((size_t) 1 << 30) / size;
        int count = want < 50 ? 50 : want > 20000 ? 20000 : (int) want;
        for (int p = 0; p < 2; p++) {
            bool pingpong = p == 0;
            double base = 0;
            for (int m = 0; m < N_MODES; m++) {
                /* Best of three runs, against noise from the other core's load. */
                struct result best = { .seconds = 1e9 };
                for (int rep = 0; rep < 3; rep++) {
                    struct result r = run((enum mode) m, size, count, pingpong);
                    if (r.seconds < best.seconds)
                        best = r;
                }
                double per = best.seconds / count;
                if (m == STREAM_COPY)
                    base = per;
                char pool[64] = "-";
                if (m != STREAM_COPY)
                    snprintf(pool, sizeof(pool), "%llu/%llu/%llu",
                             (unsigned long long) best.stats.sent_pooled,
                             (unsigned long long) best.stats.sent_fresh,
                             (unsigned long long) best.stats.created);
                char label[16];
                snprintf(label, sizeof(label), "%zu KiB", sizes_kib[s]);
                printf("%-9s %-10s %-15s %10.1f %10.0f %7.2fx  %s\n", label,
                       pingpong ? "ping-pong" : "stream", mode_name[m], per * 1e6,
                       (double) size / per / 1e6, base / per, pool);
                fflush(stdout);
            }
        }
        printf("  (%d messages per run, best of 3)\n", count);
    }
    return 0;
}
