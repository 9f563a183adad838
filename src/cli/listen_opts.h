/* SPDX-License-Identifier: MIT */
/*
 * listen_opts.h — the options `uds serve` and `uds proxy` share for a listening service
 * (the Unix listener's file mode, owner, group and allow-lists; limits; readiness and
 * logs), parsed, validated and documented once, and the code that applies them: safe or
 * socket-activated listening, readiness, rate-limited accept errors. `uds listen` takes
 * the access and log options too. The commands' own options stay in their files; --user
 * is listen_proc.h's.
 */
#ifndef UDS_CLI_LISTEN_OPTS_H
#define UDS_CLI_LISTEN_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <udskit.h>

#include "log.h"
#include "options.h"

/* The shared options, in the command's own struct of parsed options. */
struct cli_listen_opts {
    /* A Unix listener: its socket file and who may connect. */
    mode_t mode;                /* -m, --mode (default 0600) */
    uid_t owner;                /* -o, --owner */
    gid_t group;                /* -g, --group */
    const char *mode_given;     /* "--mode" when given, else NULL; the same for the others */
    const char *owner_given;
    const char *group_given;
    struct cli_ids allow_uids;  /* --allow-uid, none = anyone */
    struct cli_ids allow_gids;  /* --allow-gid */
    /* Limits. */
    long max_conns;             /* -c, --max-conns (default 1024) */
    long max_per_uid;           /* --max-conns-per-uid, 0 = the default share (see below) */
    int idle_ms;                /* --idle-timeout, 0 = never */
    int drain_ms;               /* --drain-timeout (default 10 s) */
    int first_byte_ms;          /* --first-byte-timeout, 0 = never; when not given, the
                                 * command's default (cli_listen_opts_first_byte_ms()) */
    const char *first_byte_given;
    /* Readiness and logs. */
    long ready_fd;              /* --ready-fd, -1 = none */
    int verbosity;              /* -q -1, -v 1 */
    int log_format;             /* --log: CLI_LOG_FORMAT_TEXT or _JSON */
    /* The listen() backlog: --backlog, 0 = the kernel's most (net.core.somaxconn). */
    long backlog;
    const char *backlog_given;
    /* Worker threads: --threads, 0 = the CPUs the process may run on. */
    long threads;
    const char *threads_given;
};

enum { CLI_LOG_FORMAT_TEXT, CLI_LOG_FORMAT_JSON };

/* The shared options by --help section, for CLI_INCLUDE() in a command's table: access to
 * a Unix listener (-m -o -g --allow-uid --allow-gid), limits (-c --max-conns-per-uid
 * --idle-timeout --drain-timeout --first-byte-timeout --backlog), readiness and logs
 * (--ready-fd --log -q -v; -h follows, as in every command). Their help is laid out for
 * column 28. */
extern const struct cli_opt cli_listen_access_opts[], cli_listen_limit_opts[],
    cli_listen_log_opts[];
/* The access and the log options under their usual --help heading, into the struct
 * cli_listen_opts common of struct T. */
#define CLI_LISTEN_ACCESS_SECTION(T) \
    CLI_SECTION("Access:"), \
    CLI_INCLUDE(cli_listen_access_opts, T, common, struct cli_listen_opts)
#define CLI_LISTEN_LOG_SECTION(T) \
    CLI_SECTION("Readiness and logs:"), \
    CLI_INCLUDE(cli_listen_log_opts, T, common, struct cli_listen_opts)
/* --threads, for the commands that can serve on worker threads. */
extern const struct cli_opt cli_listen_thread_opts[];

/* --threads N, or when not given the CPUs this process may run on (sched_getaffinity),
 * at least 1 and at most UDS_SERVER_THREADS_MAX. */
unsigned cli_listen_opts_threads(const struct cli_listen_opts *opts);

/* Defaults; cli_listen_opts_done() frees the allow-lists. */
void cli_listen_opts_init(struct cli_listen_opts *opts);
void cli_listen_opts_done(struct cli_listen_opts *opts);

/* The first option given that only a Unix listener can honour ("--mode", ...), or NULL. */
const char *cli_listen_opts_unix_only(const struct cli_listen_opts *opts);

/* --first-byte-timeout in milliseconds (0: no limit), or the command's default when it
 * was not given. */
int cli_listen_opts_first_byte_ms(const struct cli_listen_opts *opts, int default_ms);

/* ---- one user's share of the slots ---------------------------------------------------- */

/* After the options: --max-conns-per-uid over --max-conns is a usage error. Returns
 * CLI_CONTINUE when all is well, else EX_USAGE having printed why. */
int cli_listen_opts_check_per_uid(const struct cli_listen_opts *opts, const char *cmd);

/* How many clients one uid may hold: --max-conns-per-uid, or by default half of
 * --max-conns rounded up (at least 1). */
size_t cli_listen_opts_per_uid(const struct cli_listen_opts *opts);

/* Why a client of uid was refused, having held clients already ("uid 1000 already has 3
 * connections open (--max-conns-per-uid 3)"); what is "connection open" or "program
 * running", a noun and a participle. */
void cli_per_uid_reason(const struct cli_listen_opts *opts, uid_t uid, size_t held,
                        const char *what, char *buf, size_t size);

/* The warning that --max-conns is reached (n clients, what as above): new clients wait in
 * the backlog. */
void cli_log_limit_reached(const struct cli_listen_opts *opts, const char *text, size_t n,
                           const char *what);

/* cli_log_setup() from -q, -v and --log. */
void cli_listen_opts_log_setup(const struct cli_listen_opts *opts);

/* The allow-lists as the library checks them (pointing into opts), and the uds_peer_get()
 * flags they need (supplementary groups for --allow-gid). */
struct uds_allow cli_listen_opts_allow(const struct cli_listen_opts *opts);
unsigned cli_listen_opts_peer_flags(const struct cli_listen_opts *opts);
/* The server options these set: --max-conns, the allow-list (allow, from
 * cli_listen_opts_allow(): the caller keeps it alive) and the peer facts it needs. The
 * caller adds the rest. */
struct uds_server_opts cli_listen_opts_server(const struct cli_listen_opts *opts,
                                              const struct uds_allow *allow);

/* ---- applying them -------------------------------------------------------------------- */

/* A swap `uds tap` left beside the path given (its watchdog could not put it back): a
 * tap still at work, or the server's socket under the hidden name while the path holds a
 * dead tap's, is refused with the command that undoes it (exit 69); a dead tap's own
 * socket is only a warning. CLI_CONTINUE when nothing is in the way. */
int cli_listen_refuse_leftover(const char *given);

/* Listen on the Unix address addr (given: as the user wrote it, for messages) for `uds cmd`:
 * take the socket a service manager passed for addr (cli_activation_take_unix()), or else
 * make one safely with uds_listen_addr() and the options' mode, owner and group. Either way
 * the fd is non-blocking. An activated socket of a type other than type is a usage error;
 * type_hint says how to ask for another ("--type", or NULL: the command has no such
 * option). Logs which socket it took, or the stale file it replaced; writes the
 * listener's address, canonical, to ret_text. Returns CLI_CONTINUE when listening
 * (*ret_listener written), else the exit code, the error printed. */
int cli_listen_unix(const char *cmd, const struct cli_listen_opts *opts, const char *given,
                    const struct uds_addr *addr, enum uds_socket_type type,
                    const char *type_hint, struct uds_listener *ret_listener,
                    char *ret_text, size_t text_size);

/* Socket activation: the socket that a service manager (systemd, systemd-socket-activate)
 * passed through LISTEN_FDS/LISTEN_PID and that is bound to the same address as addr
 * (another name of the same socket file counts), adopted into *ret_listener. The
 * variables are removed from the environment: they are for this process only. Returns 1
 * when one was taken, 0 when none was passed for addr, -1 on error (errno). */
int cli_activation_take_unix(const struct uds_addr *addr, struct uds_listener *ret_listener);
/* The same for an AF_INET/AF_INET6 socket bound to sa (same family, address and port):
 * *ret_fd (close-on-exec) becomes the caller's. */
int cli_activation_take_inet(const struct sockaddr *sa, int *ret_fd);

/* Soft RLIMIT_NOFILE up to the hard limit; warn when even that is short of what --max-conns
 * needs at fds_per_conn descriptors a connection plus margin. */
void cli_raise_nofile(const struct cli_listen_opts *opts, unsigned fds_per_conn,
                      unsigned margin);

/* The warning for an abstract listener (no file permissions) without an allow-list. */
void cli_warn_open_access(const struct cli_listen_opts *opts, const char *text, bool abstract);

/* Readiness (cli_signal_ready(), --ready-fd) is lifecycle.h's. */

/* A failed accept(), logged at most once a second (under EMFILE every wakeup fails alike). */
struct cli_accept_errors {
    uint64_t logged_ms;
    unsigned unlogged;
};
void cli_log_accept_error(struct cli_accept_errors *errs, const char *text, int err);

#endif /* UDS_CLI_LISTEN_OPTS_H */
