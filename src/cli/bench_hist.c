/* SPDX-License-Identifier: MIT */
/*
 * bench_hist.c — the latency histogram of `uds bench`: log-linear buckets in the manner of
 * HdrHistogram, so a run of any length keeps a fixed-size record with a bounded relative
 * error. Pure: no I/O, no allocation, no clock.
 */
#include <string.h>

#include "bench_hist.h"

#define SUB (1u << BENCH_HIST_SUB_BITS)     /* buckets per power of two */

/* Values below 2 * SUB are their own bucket. Above, a value with its top bit at position
 * msb keeps its BENCH_HIST_SUB_BITS + 1 leading bits: bucket group msb - SUB_BITS + 1. */
static size_t bucket_of(uint64_t v) {
    if (v < 2 * SUB)
        return (size_t) v;
    unsigned msb = 63u - (unsigned) __builtin_clzll(v);
    unsigned shift = msb - BENCH_HIST_SUB_BITS;
    return (size_t) (shift + 1) * SUB + (size_t) ((v >> shift) - SUB);
}

/* The highest value that lands in bucket i. */
static uint64_t bucket_high(size_t i) {
    if (i < 2 * SUB)
        return i;
    unsigned shift = (unsigned) (i / SUB) - 1;
    uint64_t low = (uint64_t) (i % SUB + SUB) << shift;
    return low + ((uint64_t) 1 << shift) - 1;
}

void bench_hist_init(struct bench_hist *h) {
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void bench_hist_record(struct bench_hist *h, uint64_t ns) {
    h->buckets[bucket_of(ns)]++;
    h->count++;
    h->sum += (double) ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double p) {
    if (h->count == 0)
        return 0;
    if (p <= 0)
        return h->min;
    if (p >= 100)
        return h->max;
    /* The sample of rank ceil(p% of count), counting from 1. */
    uint64_t rank = (uint64_t) ((double) h->count * p / 100.0);
    if ((double) rank < (double) h->count * p / 100.0)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double bench_hist_mean(const struct bench_hist *h) {
    return h->count ? h->sum / (double) h->count : 0;
}
