/* SPDX-License-Identifier: MIT */
/*
 * memfd_bench.c — large messages over a Unix stream socket between two processes, side by
 * side: a plain stream copy (length header + bytes into a reused buffer), udskit's pooled
 * sealed memfds, and a fresh sealed memfd per message (UDS_MEMFD_POOL_IMMUTABLE). The
 * receiver reads every byte of every message (a checksum), as a real consumer would.
 * Not a unit test: run it by hand.
 *
 *   make && cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/memfd_bench.c build/libudskit.a \
 *       -o build/memfd_bench && build/memfd_bench [-r RUNS] [-n COUNT] [-m MODES]
 *       [-p PATTERNS] [-c SENDER_CPU,RECEIVER_CPU] [SIZE_KIB...]
 *
 * -m copy,pooled,inplace,nocache,fresh and -p pingpong,stream pick rows (without "copy"
 * there is no ratio: 0.00x); -n sets the messages per run; -c pins the two processes.
 *
 * Two patterns per size: "ping-pong" (send one message, wait for the receiver's one-byte
 * reply once it is done with it: latency, pool always reused) and "stream" (messages back
 * to back, one reply at the end: throughput; the pool falls back to one-off memfds when
 * the sender gets ahead of the receiver by more than its buffers). Each figure is the best
 * of RUNS runs (default 3), the modes taking turns within each round so that a slow spell
 * of the machine hits them all; the median of the runs is printed too. Under the figures
 * of a size, the fixed costs every ping-pong pays whatever the mode: a 1-byte round trip
 * between the two processes, back to back and with the receiver checksumming a buffer of
 * the message's size in its own cache before each reply (no message can go faster than
 * that), and a checksum and a memcpy of that size in one process, in cache.
 */
#include <errno.h>
#include <sched.h>
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
/* Short names for -m. */
static const char *mode_key[] = { "copy", "pooled", "inplace", "nocache", "fresh" };

#define MAX_RUNS 31

/* Where checksums go, so that the compiler keeps computing them. */
static volatile uint64_t sink;

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* -c S,R: the sender's and the receiver's CPU; -1: wherever the scheduler puts them. */
static int cpu_sender = -1, cpu_receiver = -1;

static void pin_to(int cpu) {
    cpu_set_t set;

    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        die("sched_setaffinity");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* One copy for every mode, never inlined, at a 64-byte boundary: the speed of so tight a
 * loop depends on where it lands (inlined, it moved with the size of the library linked in,
 * and straddling a 64-byte boundary it ran ~1.5x slower on this machine's AMD EPYC). */
__attribute__((noinline, aligned(64))) static uint64_t checksum(const void *p, size_t len) {
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
        pin_to(cpu_receiver);
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

    if (!pool)
        die("uds_memfd_pool_new");
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

/* The time of one 1-byte round trip between two processes, the receiver first reading
 * work bytes of a buffer in its own cache (0: none): with work = the message size, the
 * floor of a ping-pong where the receiver reads the message, whatever carries it. */
static double round_trip_s(int count, size_t work) {
    int sv[2];
    char c = 'x';

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(sv[0]);
        pin_to(cpu_receiver);
        uint8_t *local = calloc(1, work + 8);
        if (!local)
            _exit(1);
        for (int i = 0; i < count; i++) {
            if (uds_recv_all(sv[1], &c, 1) != 1)
                _exit(1);
            sink += checksum(local, work);
            if (uds_send_all(sv[1], &c, 1) != 1)
                _exit(1);
        }
        _exit(0);
    }
    close(sv[1]);
    double t0 = now_s();
    for (int i = 0; i < count; i++)
        if (uds_send_all(sv[0], &c, 1) != 1 || uds_recv_all(sv[0], &c, 1) != 1)
            die("round trip");
    double t = now_s() - t0;
    close(sv[0]);
    if (waitpid(pid, NULL, 0) < 0)
        die("waitpid");
    return t / count;
}

/* Best time of fn over a buffer already in this core's cache (every page touched before). */
static void local_costs(size_t size, double *ret_sum, double *ret_copy) {
    uint8_t *a = malloc(size), *b = malloc(size);

    if (!a || !b)
        die("malloc");
    memset(a, 1, size);
    memset(b, 2, size);
    *ret_sum = *ret_copy = 1e9;
    for (int i = 0; i < 50; i++) {
        double t0 = now_s();
        sink += checksum(a, size);
        double t1 = now_s();
        memcpy(b, a, size);
        double t2 = now_s();
        sink += b[size / 2];
        if (t1 - t0 < *ret_sum)
            *ret_sum = t1 - t0;
        if (t2 - t1 < *ret_copy)
            *ret_copy = t2 - t1;
    }
    free(a);
    free(b);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double s[MAX_RUNS];
    memcpy(s, v, (size_t) n * sizeof(*s));
    qsort(s, (size_t) n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void usage(void) {
    fprintf(stderr, "usage: memfd_bench [-r RUNS] [-n COUNT] [-m copy,pooled,inplace,nocache,"
                    "fresh] [-p pingpong,stream] [-c SENDER_CPU,RECEIVER_CPU] [SIZE_KIB...]\n");
    exit(64);
}

int main(int argc, char **argv) {
    size_t sizes_kib[16] = { 64, 256, 1024, 16384 };
    int n_sizes = 4, runs = 3, fixed_count = 0, opt;
    bool want_mode[N_MODES] = { true, true, true, true, true };
    bool want_pattern[2] = { true, true };

    while ((opt = getopt(argc, argv, "r:n:m:p:c:")) != -1) {
        switch (opt) {
        case 'c':
            if (sscanf(optarg, "%d,%d", &cpu_sender, &cpu_receiver) != 2)
                usage();
            break;
        case 'r':
            runs = atoi(optarg);
            if (runs < 1 || runs > MAX_RUNS)
                usage();
            break;
        case 'n':
            fixed_count = atoi(optarg);
            if (fixed_count < 1)
                usage();
            break;
        case 'm':
            for (int m = 0; m < N_MODES; m++)
                want_mode[m] = strstr(optarg, mode_key[m]) != NULL;
            break;
        case 'p':
            want_pattern[0] = strstr(optarg, "ping") != NULL;
            want_pattern[1] = strstr(optarg, "stream") != NULL;
            break;
        default:
            usage();
        }
    }
    /* The sender is this process: it forks each receiver after pinning itself, so each
     * child moves from here to its own CPU. */
    pin_to(cpu_sender);
    if (optind < argc) {
        n_sizes = 0;
        for (int i = optind; i < argc && n_sizes < 16; i++)
            sizes_kib[n_sizes++] = strtoul(argv[i], NULL, 10);
    }
    printf("%-9s %-10s %-15s %10s %10s %8s  %-26s %10s %8s\n", "size", "pattern", "mode",
           "us/msg", "MB/s", "vs copy", "pool: pooled/fresh/created", "median us",
           "vs copy");
    for (int s = 0; s < n_sizes; s++) {
        size_t size = sizes_kib[s] << 10;
        /* About 1 GiB moved per run, at least 50 and at most 20000 messages. */
        size_t want = ((size_t) 1 << 30) / size;
        int count = want < 50 ? 50 : want > 20000 ? 20000 : (int) want;
        if (fixed_count)
            count = fixed_count;
        for (int p = 0; p < 2; p++) {
            bool pingpong = p == 0;
            struct result best[N_MODES];
            double times[N_MODES][MAX_RUNS];

            if (!want_pattern[p])
                continue;
            for (int m = 0; m < N_MODES; m++)
                best[m] = (struct result) { .seconds = 1e9 };
            /* The modes take turns in each round, against drifts in the machine's load. */
            for (int rep = 0; rep < runs; rep++) {
                for (int m = 0; m < N_MODES; m++) {
                    if (!want_mode[m])
                        continue;
                    struct result r = run((enum mode) m, size, count, pingpong);
                    times[m][rep] = r.seconds;
                    if (r.seconds < best[m].seconds)
                        best[m] = r;
                }
            }
            /* Without the stream copy (not in -m), there is no ratio: 0.00x. */
            double base = 0, base_med = 0;
            if (want_mode[STREAM_COPY]) {
                base = best[STREAM_COPY].seconds / count;
                base_med = median(times[STREAM_COPY], runs) / count;
            }
            for (int m = 0; m < N_MODES; m++) {
                if (!want_mode[m])
                    continue;
                double per = best[m].seconds / count, med = median(times[m], runs) / count;
                char pool[64] = "-";
                if (m != STREAM_COPY)
                    snprintf(pool, sizeof(pool), "%llu/%llu/%llu",
                             (unsigned long long) best[m].stats.sent_pooled,
                             (unsigned long long) best[m].stats.sent_fresh,
                             (unsigned long long) best[m].stats.created);
                char label[16];
                snprintf(label, sizeof(label), "%zu KiB", sizes_kib[s]);
                printf("%-9s %-10s %-15s %10.1f %10.0f %7.2fx  %-26s %10.1f %7.2fx\n", label,
                       pingpong ? "ping-pong" : "stream", mode_name[m], per * 1e6,
                       (double) size / per / 1e6, base / per, pool, med * 1e6,
                       base_med / med);
                fflush(stdout);
            }
        }
        double rtt = 1e9, floor_s = 1e9, sum, copy;
        for (int rep = 0; rep < runs; rep++) {
            double t = round_trip_s(2000, 0);
            rtt = t < rtt ? t : rtt;
            t = round_trip_s(count, size);
            floor_s = t < floor_s ? t : floor_s;
        }
        local_costs(size, &sum, &copy);
        printf("  (%d messages per run, best and median of %d)\n", count, runs);
        printf("  fixed costs: 1-byte round trip %.1f us, %.1f us with the receiver's checksum "
               "of %zu KiB in its cache before each reply; in one process, in cache: checksum "
               "%.1f us, memcpy %.1f us\n", rtt * 1e6, floor_s * 1e6, sizes_kib[s], sum * 1e6,
               copy * 1e6);
    }
    return 0;
}
