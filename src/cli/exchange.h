/* SPDX-License-Identifier: MIT */
/*
 * exchange.h — what `uds connect` and `uds send` share (cmd_connect.c): stdin and stdout,
 * or one message, relayed to a connected socket by the library's relay.
 */
#ifndef UDS_CLI_EXCHANGE_H
#define UDS_CLI_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include <udskit.h>

/* How the --help of connect and send ends, before its exit status. */
#define CLI_EXCHANGE_OUTRO_START                                                            \
    "SECONDS may have decimals (0.5). ADDRESS is a path, @abstract, unix:PATH or\n"        \
    "unix:@name.\n"                                                                         \
    "\n"

/* What `uds connect` and `uds send` hand to the library's relay: stdin and stdout (or one
 * message given whole) on one side, the connected socket on the other. */
struct cli_exchange {
    int sock;               /* connected; taken over (closed when done) */
    enum uds_socket_type type;
    const char *address;    /* for messages */
    const void *message;    /* non-NULL: send this instead of reading stdin (on seqpacket
                             * and dgram one message, even an empty one) */
    size_t message_len;
    int fd_to_pass;         /* -1, or passed (SCM_RIGHTS) with the first bytes sent; with no
                             * input at all, with a single NUL byte */
    uint64_t deadline_ms;   /* cli_now_ms() deadline for the whole exchange, 0 = none */
    int timeout_ms;         /* the --timeout behind deadline_ms, for the message */
    int linger_ms;          /* dgram: after the input ends, wait up to this long (since the
                             * last reply) for more replies; 0 = no limit */
    size_t max_replies;     /* dgram: stop after this many replies; 0 = once every message
                             * sent has had a reply (or linger_ms passed) */
};

/* The exit code for a relay that ended on its side A, stdin and stdout (info->error_side
 * UDS_RELAY_A), the failure reported: 1 when stdin could not be read or stdout written, 0
 * when the reader of stdout has left (EPIPE: it has seen enough, as with | head). */
int cli_exchange_stdio_code(const struct uds_relay_info *info);

/* Before connecting: a closed stdin or stdout becomes /dev/null (as a closed stdin always
 * read as empty), so that the socket cannot take its number. */
void cli_exchange_hold_stdio(void);
/* Report that uds_connect(address, opts) failed (errno); a timeout is said to be --timeout,
 * or --wait without it. Returns the exit code. */
int cli_exchange_connect_failed(const char *address, const struct uds_connect_opts *opts);
/* Run the exchange on a uds_loop until the relay ends: at the end of the input the socket
 * is shut down for writing, and output goes on until the server closes (dgram: until the
 * replies are in). Returns an exit code; prints the message for a failure. */
int cli_exchange_run(const struct cli_exchange *x);

#endif
