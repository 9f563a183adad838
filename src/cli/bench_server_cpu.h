/* SPDX-License-Identifier: MIT */
/*
 * bench_server_cpu.h — how the server's threads shared the work of a `uds bench` run: the
 * CPU time of each thread of the process at the other end of a connection (SO_PEERCRED
 * names it), read from /proc/PID/task/TID/stat before and after the run. Fairness
 * measured, not assumed: a server whose workers got unequal shares shows it.
 */
#ifndef UDS_CLI_BENCH_SERVER_CPU_H
#define UDS_CLI_BENCH_SERVER_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_TASKS_MAX 256

struct bench_task {
    pid_t tid;
    char name[16];              /* its comm: "uds", "udsw/0" */
    uint64_t ticks;             /* utime + stime, in clock ticks */
};

struct bench_server_cpu {
    pid_t pid;                  /* 0: unknown (TCP, our own process, not readable) */
    size_t n;
    struct bench_task tasks[BENCH_TASKS_MAX];
};

/* The process at the other end of connected Unix socket fd, or 0 when it cannot be told
 * (TCP, a peer gone) or is this very process. */
pid_t bench_server_pid(int fd);

/* Every thread of pid with its CPU time so far. Returns 0, or -1 (errno). */
int bench_server_cpu_read(pid_t pid, struct bench_server_cpu *ret_snap);

/* "  server       pid P, N threads: uds 1% · udsw/0 49% · udsw/1 48% of a CPU; workers
 * busiest/least 1.02" from two snapshots secs apart; nothing when either is empty. */
void bench_server_cpu_print(const struct bench_server_cpu *before,
                            const struct bench_server_cpu *after, double secs);
/* The same as a JSON member: ,"server":{"pid":P,"threads":[{"tid","name","cpu_percent"}],
 * "workers_max_over_min":R}; nothing when either snapshot is empty. */
void bench_server_cpu_json(const struct bench_server_cpu *before,
                           const struct bench_server_cpu *after, double secs);

#endif /* UDS_CLI_BENCH_SERVER_CPU_H */
