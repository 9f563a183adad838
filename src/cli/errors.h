/* SPDX-License-Identifier: MIT */
/*
 * errors.h — how a command fails (cli.c): the exit codes, the one errno → exit-code table,
 * the one message format "uds: ADDRESS: what happened; what to do", and usage errors.
 */
#ifndef UDS_CLI_ERRORS_H
#define UDS_CLI_ERRORS_H

#include <stdbool.h>
#include <sys/types.h>
#include <sysexits.h>

/* Exit codes (sysexits.h): EX_OK 0, EX_USAGE 64, EX_UNAVAILABLE 69, EX_CANTCREAT 73,
 * EX_TEMPFAIL 75, EX_NOPERM 77; anything else is 1. */
#define CLI_EXIT_FAILURE 1

/* What a step of a command returns when the command is to carry on; any other value is the
 * exit code it is to end with (the failure already reported). */
#define CLI_CONTINUE (-1)

/* What the failing call was doing: the same errno means different things (ENOENT is "no
 * directory" for listen, "no server" for connect). */
enum cli_op {
    CLI_OP_ANY = 0,
    CLI_OP_LISTEN,
    CLI_OP_CONNECT,
    CLI_OP_EXCHANGE,    /* after connect: sending and receiving */
};

/* Facts that go into a message besides errno. */
struct cli_fail_info {
    pid_t holder_pid;   /* EADDRINUSE on listen: the live server, 0 if unknown */
    int timeout_ms;     /* ETIMEDOUT: the deadline that passed */
    bool lock_failed;   /* listen: the error is about ADDRESS.lock (uds_listen_info) */
};

/* The exit code for err during op (the one errno → sysexits table). */
int cli_exit_code(enum cli_op op, int err);

/* Print "uds: ADDRESS: what happened; what to do" for err during op and return the exit
 * code. The message tells the facts at the path (uds_pathinfo_get(): the directory in the
 * way, what the file is, its mode and owner) where they explain the error. */
int cli_fail(enum cli_op op, const char *address, int err, const struct cli_fail_info *info);

/* Print "uds: ADDRESS: WHAT; TODO" (address may be NULL) as an error. */
void cli_error(const char *address, const char *todo, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A usage error: "uds CMD: MESSAGE" and "Try 'uds CMD --help'." on stderr; returns 64. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
