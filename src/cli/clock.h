/* SPDX-License-Identifier: MIT */
/*
 * clock.h — time as the commands count it (monotonic milliseconds) and write it ("0.5s").
 */
#ifndef UDS_CLI_CLOCK_H
#define UDS_CLI_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds. */
uint64_t cli_now_ms(void);

/* "0.5s", "10s" — the duration as a user typed it, for messages. */
const char *cli_format_duration(int ms, char *buf, size_t size);

#endif
