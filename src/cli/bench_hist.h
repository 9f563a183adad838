/* SPDX-License-Identifier: MIT */
/*
 * bench_hist.h — the latency histogram of `uds bench` (bench_hist.c). HDR-style: exact
 * below 256 ns, then 128 linear buckets per power of two, so any value is known within 1/128
 * (0.8%) whatever the range, in a fixed 58 KiB however long the run. Pure: no I/O, no
 * allocation.
 */
#ifndef UDS_CLI_BENCH_HIST_H
#define UDS_CLI_BENCH_HIST_H

#include <stdint.h>

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

#endif /* UDS_CLI_BENCH_HIST_H */
