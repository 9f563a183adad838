/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.h — how a long-running command (serve, proxy) learns it must stop: SIGTERM,
 * SIGINT and SIGHUP read from a signalfd, as ordinary loop events.
 */
#ifndef UDS_CLI_LIFECYCLE_H
#define UDS_CLI_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

/* Block SIGTERM, SIGINT and SIGHUP (and SIGCHLD with children) and return a signalfd
 * (close-on-exec, non-blocking) that receives them, or -1 (errno). A server's stop then runs
 * as ordinary loop code. SIGINT and SIGTERM are reset to their default disposition. */
int cli_signalfd(bool children);
/* "SIGTERM", "SIGINT", "SIGHUP", or "a signal". */
const char *cli_signal_name(uint32_t signo);

#endif
