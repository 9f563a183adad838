/* SPDX-License-Identifier: MIT */
/*
 * bench_util.c — the small helpers both modes of `uds bench` use: the clock, CPU pinning,
 * number formatting. No output of its own.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "bench_util.h"

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

int bench_pin(int cpu) {
    cpu_set_t set;

    if (cpu < 0)
        return 0;
    if (cpu >= CPU_SETSIZE) {
        errno = EINVAL;
        return -1;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int bench_cpus(int *ret_a, int *ret_b) {
    cpu_set_t set;
    int n = 0;

    *ret_a = *ret_b = -1;
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return 1;
    for (int i = 0; i < CPU_SETSIZE; i++) {
        if (!CPU_ISSET(i, &set))
            continue;
        if (n == 0)
            *ret_a = i;
        else if (n == 1)
            *ret_b = i;
        n++;
    }
    return n > 0 ? n : 1;
}

const char *bench_fmt_count(double v, char *buf, size_t size) {
    char digits[32];
    int len, j = 0;

    if (v < 0)
        v = 0;
    len = snprintf(digits, sizeof(digits), "%.0f", v);
    if (len < 0 || (size_t) len >= sizeof(digits) || size == 0) {
        snprintf(buf, size, "%.0f", v);
        return buf;
    }
    for (int i = 0; i < len && (size_t) j + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = '\0';
    return buf;
}

const char *bench_fmt_us(uint64_t ns, char *buf, size_t size) {
    double us = (double) ns / 1e3;

    if (us < 1000)
        snprintf(buf, size, "%.1f", us);
    else
        bench_fmt_count(us, buf, size);
    return buf;
}

const char *bench_fmt_size(size_t bytes, char *buf, size_t size) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(buf, size, "%zu MiB", bytes >> 20);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, size, "%zu KiB", bytes >> 10);
    else
        snprintf(buf, size, "%zu B", bytes);
    return buf;
}
