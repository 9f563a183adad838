/* SPDX-License-Identifier: MIT */
/*
 * bench_transports.h — `uds bench` without an address (bench_transports.c): this machine's
 * local transports side by side.
 */
#ifndef UDS_CLI_BENCH_TRANSPORTS_H
#define UDS_CLI_BENCH_TRANSPORTS_H

#include <stdbool.h>
#include <stddef.h>

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

#endif /* UDS_CLI_BENCH_TRANSPORTS_H */
