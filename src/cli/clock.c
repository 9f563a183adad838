/* SPDX-License-Identifier: MIT */
/*
 * clock.c — the monotonic clock in milliseconds, and durations written as a user types
 * them.
 */
#include <stdio.h>
#include <time.h>

#include "clock.h"

const char *cli_format_duration(int ms, char *buf, size_t size) {
    if (ms % 1000 == 0) {
        snprintf(buf, size, "%ds", ms / 1000);
    } else {
        int len = snprintf(buf, size, "%d.%03d", ms / 1000, ms % 1000);
        while (len > 0 && (size_t) len < size && buf[len - 1] == '0')
            buf[--len] = '\0';
        snprintf(buf + len, size - (size_t) len, "s");
    }
    return buf;
}

uint64_t cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}
