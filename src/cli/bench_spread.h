/* SPDX-License-Identifier: MIT */
/*
 * bench_spread.h — how a server shared a `uds bench` run among its threads (bench_spread.c):
 * the CPU time each thread of the server's process used during the run, read from
 * /proc/PID/task/TID/stat before and after. The server's pid comes from SO_PEERCRED, so this
 * needs a Unix stream or seqpacket server on this machine (in this pid namespace).
 */
#ifndef UDS_CLI_BENCH_SPREAD_H
#define UDS_CLI_BENCH_SPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_SPREAD_MAX 64     /* threads followed; a server with more is cut here */

struct bench_thread {
    pid_t tid;
    char name[16];              /* its comm, as the kernel keeps it (15 characters) */
    uint64_t ticks_before;      /* utime + stime, in clock ticks */
    uint64_t ticks;             /* used during the run */
};

struct bench_spread {
    pid_t pid;                  /* the server; 0: unknown, nothing to report */
    char name[16];
    size_t n;
    struct bench_thread threads[BENCH_SPREAD_MAX];
    double cpu_s;               /* all threads together */
    size_t n_busy;              /* threads with at least BENCH_SPREAD_BUSY of cpu_s */
    double busiest_over_least;  /* among the busy threads; 0 with fewer than two */
};

#define BENCH_SPREAD_BUSY 0.05  /* a thread under 5% of the server's time is not a worker */

/* Parse one /proc/.../stat line: the command (between the first '(' and the last ')')
 * into name, utime + stime into *ticks. Returns 0, or -1 if the line is not one. */
int bench_spread_parse_stat(const char *line, char name[16], uint64_t *ticks);

/* Before the run: find the server behind the connected socket fd (SO_PEERCRED) and note
 * each of its threads' CPU time. Leaves s->pid 0 when it cannot (a TCP or dgram socket, a
 * server in another pid namespace, /proc unreadable): nothing is reported then. */
void bench_spread_begin(struct bench_spread *s, int fd);
/* After the run: what each thread used since bench_spread_begin(), the sums and the
 * busiest-to-least ratio. */
void bench_spread_end(struct bench_spread *s);

#endif /* UDS_CLI_BENCH_SPREAD_H */
