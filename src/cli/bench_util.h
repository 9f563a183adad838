/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h — what both modes of `uds bench` use (bench_util.c): the clock, CPU pinning
 * and number formatting.
 */
#ifndef UDS_CLI_BENCH_UTIL_H
#define UDS_CLI_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

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

#endif /* UDS_CLI_BENCH_UTIL_H */
