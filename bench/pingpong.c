/* SPDX-License-Identifier: MIT */
/*
 * pingpong.c — the blocking ping-pong pair: the lowest round trip a Unix stream socket can
 * give, with nothing but write() and read() on both sides, and the independent check of
 * `uds bench`'s own figures (it keeps every sample and sorts them, where uds bench keeps a
 * histogram).
 *
 *   pingpong [-s SIZE] [-d SECONDS] [--cpu S,C]
 *       fork a blocking echo peer on CPU S over a socketpair; the client runs on CPU C
 *   pingpong --connect PATH [-s SIZE] [-d SECONDS] [--cpu C]
 *       a blocking client against an echo server listening at PATH
 *
 * Prints one JSON object: p50_us, p99_us, max_us, round_trips_per_s, samples.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void pin(int cpu) {
    cpu_set_t set;

    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        die("sched_setaffinity");
}

static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

static int read_full(int fd, char *p, size_t len) {
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* The sample of rank ceil(p% of n), as uds bench reports it. */
static double pct_us(const uint64_t *s, size_t n, double p) {
    size_t rank = (size_t) ((double) n * p / 100.0);
    if ((double) rank < (double) n * p / 100.0)
        rank++;
    if (rank == 0)
        rank = 1;
    return (double) s[rank - 1] / 1e3;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    size_t size = 64;
    double secs = 1.0;
    int server_cpu = -1, client_cpu = -1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            size = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            secs = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc) {
            const char *v = argv[++i], *comma = strchr(v, ',');
            if (comma) {
                server_cpu = atoi(v);
                client_cpu = atoi(comma + 1);
            } else {
                client_cpu = atoi(v);
            }
        } else {
            fprintf(stderr, "usage: pingpong [--connect PATH] [-s SIZE] [-d SECONDS] "
                    "[--cpu S,C | --cpu C]\n");
            return 64;
        }
    }
    if (size == 0 || secs <= 0) {
        fprintf(stderr, "pingpong: -s and -d must be positive\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);

    int fd;
    pid_t pid = -1;
    char *out = malloc(size), *in = malloc(size);
    if (!out || !in)
        die("malloc");
    memset(out, 'p', size);
    if (path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path)) {
            fprintf(stderr, "pingpong: path too long\n");
            return 64;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
            die(path);
    } else {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            die("socketpair");
        pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            close(sv[0]);
            pin(server_cpu);
            char *buf = malloc(size);
            while (buf && read_full(sv[1], buf, size) == 0 && write_all(sv[1], buf, size) == 0)
                continue;
            _exit(0);
        }
        close(sv[1]);
        fd = sv[0];
    }
    pin(client_cpu);

    for (int i = 0; i < 200; i++)
        if (write_all(fd, out, size) < 0 || read_full(fd, in, size) < 0)
            die("warm-up round trip");
    size_t cap = 1 << 20, n = 0;
    uint64_t *samples = malloc(cap * sizeof(*samples));
    if (!samples)
        die("malloc");
    uint64_t start = now_ns(), end = start + (uint64_t) (secs * 1e9), t1 = start;
    while (t1 < end) {
        uint64_t t0 = t1;
        if (write_all(fd, out, size) < 0 || read_full(fd, in, size) < 0)
            die("round trip");
        t1 = now_ns();
        if (n == cap) {
            cap *= 2;
            samples = realloc(samples, cap * sizeof(*samples));
            if (!samples)
                die("realloc");
        }
        samples[n++] = t1 - t0;
    }
    double elapsed = (double) (t1 - start) / 1e9;
    if (memcmp(in, out, size) != 0) {
        fprintf(stderr, "pingpong: the reply differs from the request\n");
        return 1;
    }
    close(fd);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    qsort(samples, n, sizeof(*samples), cmp_u64);
    printf("{\"size\":%zu,\"samples\":%zu,\"p50_us\":%.3f,\"p99_us\":%.3f,\"max_us\":%.3f,"
           "\"round_trips_per_s\":%.1f}\n", size, n, pct_us(samples, n, 50),
           pct_us(samples, n, 99), (double) samples[n - 1] / 1e3, (double) n / elapsed);
    free(samples);
    free(out);
    free(in);
    return 0;
}
