/* SPDX-License-Identifier: MIT */
/*
 * bench.h — what the parts of `uds bench` share: the latency histogram, the two modes (the
 * machine's transports side by side; a load generator against an echo server), CPU pinning
 * and number formatting. Nothing here is library API.
 */
#ifndef UDS_CLI_BENCH_H
#define UDS_CLI_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

/* ---- histogram (bench_hist.c) ----------------------------------------------------------
 * HDR-style: exact below 256 ns, then 128 linear buckets per power of two, so any value is
 * known within 1/128 (0.8%) whatever the range, in a fixed 58 KiB however long the run.
 * Pure: no I/O, no allocation. */

#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_BUCKETS ((65 - BENCH_HIST_SUB_BITS) << BENCH_HIST_SUB_BITS)

struct bench_hist {
    uint64_t count;
    uint64_t min;       /* exact, ns */
    uint64_t max;       /* exact, ns */
    double sum;         /* for the mean */
    uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_init(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t ns);
/* The value at percentile p (0..100): the highest value of the bucket holding that sample,
 * never above the exact max. 0 when empty. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);
double bench_hist_mean(const struct bench_hist *h);

/* ---- clocks, CPUs, formatting (cmd_bench.c) -------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Pin the calling process (or thread) to one CPU; cpu < 0 does nothing. */
int bench_pin(int cpu);
/* The CPUs this process may run on: their count, and the first two in *ret_a, *ret_b (-1
 * when absent). */
int bench_cpus(int *ret_a, int *ret_b);

/* 1234567 -> "1,234,567" (rounded to an integer). */
const char *bench_fmt_count(double v, char *buf, size_t size);
/* Microseconds from nanoseconds with 1 decimal below 1000 ("12.3"), else "1,234". */
const char *bench_fmt_us(uint64_t ns, char *buf, size_t size);
/* 1 -> "1 B", 1024 -> "1 KiB", 1048576 -> "1 MiB" (exact multiples only, else bytes). */
const char *bench_fmt_size(size_t bytes, char *buf, size_t size);

/* ---- transports mode (bench_transports.c) ---------------------------------------------- */

enum bench_transport {
    BENCH_UNIX_STREAM = 0,
    BENCH_UNIX_SEQPACKET,
    BENCH_UNIX_DGRAM,
    BENCH_TCP,
    BENCH_PIPE,
    BENCH_N_TRANSPORTS,
};

#define BENCH_MAX_SIZES 16

struct bench_transport_args {
    unsigned transports;        /* bit per enum bench_transport */
    size_t sizes[BENCH_MAX_SIZES];          /* round-trip message sizes */
    size_t n_sizes;
    size_t write_sizes[BENCH_MAX_SIZES];    /* bulk write sizes */
    size_t n_write_sizes;
    int duration_ms;            /* per measurement */
    int server_cpu;             /* -1: not pinned */
    int client_cpu;
    bool pinned;
    bool json;
    bool quiet;                 /* no progress on a TTY */
};

/* Measure, print the table (or JSON) on stdout; returns an exit code. */
int bench_transports_run(const struct bench_transport_args *args);
const char *bench_transport_name(enum bench_transport t);

/* ---- load generator (bench_load.c) ------------------------------------------------------ */

struct bench_load_args {
    const char *address;        /* as given */
    struct uds_addr addr;
    enum uds_socket_type type;
    size_t conns;
    size_t pipeline;
    size_t size;                /* payload bytes per request */
    uint64_t requests;          /* total, or 0 with duration_ms */
    int duration_ms;
    int timeout_ms;             /* connect, and the longest wait for progress */
    int cpu;                    /* pin the generator; -1 not */
    bool framed;                /* each request a length-prefixed message (stream) */
    bool reconnect;             /* a new connection for every request */
    bool json;
    bool quiet;
};

/* Run the load, print the report (or JSON) on stdout; returns an exit code. */
int bench_load_run(const struct bench_load_args *args);

#endif /* UDS_CLI_BENCH_H */
