/* SPDX-License-Identifier: MIT */
/*
 * cli.h — everything the commands of `uds` share, for a command to include in one line:
 * each header below has one job. Options are options.h's. The CLI reaches the library
 * through <udskit.h> only; nothing here opens sockets.
 */
#ifndef UDS_CLI_H
#define UDS_CLI_H

#include <udskit.h>

#include "clock.h"      /* cli_now_ms, durations as typed */
#include "commands.h"   /* cmd_serve, cmd_connect... */
#include "errors.h"     /* exit codes, "uds: ADDRESS: what; what to do", usage errors */
#include "escape.h"     /* peers' bytes made safe for JSON and terminals */
#include "exchange.h"   /* connect and send: stdin and stdout to a socket */
#include "lifecycle.h"  /* stop signals */
#include "log.h"        /* the log on stderr */
#include "words.h"      /* files, modes and owners in words */

#endif /* UDS_CLI_H */
