/* SPDX-License-Identifier: MIT */
/*
 * listen_proc.h — what a listening `uds serve` or `uds proxy` does as a process once its
 * socket is made: --user (become another user, with its groups, before the first client
 * is accepted) and the check of --backlog against the kernel's cap. The listener itself
 * and the --backlog option are listen_opts.h's.
 */
#ifndef UDS_CLI_LISTEN_PROC_H
#define UDS_CLI_LISTEN_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include <udskit.h>

#include "options.h"

/* --user USER[:GROUP], resolved when parsed. */
struct cli_run_as {
    const char *given;          /* the value as given, NULL when --user was not */
    uid_t uid;
    gid_t gid;                  /* GROUP, or the user's primary group */
    char name[256];             /* for its supplementary groups (initgroups); "" for a uid
                                 * with no passwd entry, which then gets none */
};

/* The --user option, for CLI_INCLUDE() of a struct cli_run_as; help laid out for column 28. */
extern const struct cli_opt cli_run_as_opts[];
/* The same with its --help heading, into the struct cli_run_as run_as of struct T. */
#define CLI_RUN_AS_SECTION(T) \
    CLI_SECTION("Privileges:"), CLI_INCLUDE(cli_run_as_opts, T, run_as, struct cli_run_as)

/* After the options, before anything is made: --user from a process that cannot change
 * its user and groups (not root: no CAP_SETUID and CAP_SETGID) is refused. Returns
 * CLI_CONTINUE, or EX_NOPERM having said why. */
int cli_run_as_check(const struct cli_run_as *run_as);

/* Become the --user (no-op without it) with uds_drop_privileges(): the supplementary
 * groups of its passwd name (or none), its gid and uid, checked. Says so when the user may
 * not remove listener's socket file at the stop. text names the listener in messages.
 * Returns CLI_CONTINUE, or the exit code having said why (77 for EPERM). */
int cli_run_as_drop(const struct cli_run_as *run_as, const struct uds_listener *listener,
                    const char *text);

/* Warn when a --backlog (0: not given) is above net.core.somaxconn, which listen() caps
 * it to without a word. text names the listener. */
void cli_backlog_warn_cap(long backlog, const char *text);

#endif /* UDS_CLI_LISTEN_PROC_H */
