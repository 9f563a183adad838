/* SPDX-License-Identifier: MIT */
/*
 * bench_load.h — `uds bench ADDRESS` (bench_load.c): a load generator against an echo
 * server, or any server given a request and a way to tell its reply (bench_reply.h).
 */
#ifndef UDS_CLI_BENCH_LOAD_H
#define UDS_CLI_BENCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udskit.h>

#include "bench_reply.h"

struct bench_load_args {
    const char *address;        /* as given */
    struct uds_addr addr;
    enum uds_socket_type type;
    size_t conns;
    size_t pipeline;
    size_t size;                /* payload bytes per request */
    const uint8_t *request;     /* --request: each request's bytes (size of them); NULL: an
                                 * echo of random bytes */
    const struct bench_reply *reply;    /* with request: how to tell its reply */
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

#endif /* UDS_CLI_BENCH_LOAD_H */
