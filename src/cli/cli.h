/* SPDX-License-Identifier: MIT */
/*
 * cli.h — what the commands of `uds` share: exit codes, the one error-message format
 * ("uds: ADDRESS: what happened; what to do"), usage errors and logging; options are
 * options.h's. The CLI reaches the library through <udskit.h> only; nothing here opens
 * sockets.
 */
#ifndef UDS_CLI_H
#define UDS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sysexits.h>

#include <udskit.h>

/* Exit codes (sysexits.h): EX_OK 0, EX_USAGE 64, EX_UNAVAILABLE 69, EX_CANTCREAT 73,
 * EX_TEMPFAIL 75, EX_NOPERM 77; anything else is 1. */
#define CLI_EXIT_FAILURE 1

/* What a step of a command returns when the command is to carry on; any other value is the
 * exit code it is to end with (the failure already reported). */
#define CLI_CONTINUE (-1)

/* Commands: argv[0] is the command name, options follow. Each returns an exit code. */
int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* ---- errors --------------------------------------------------------------------------- */

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

/* ---- durations ------------------------------------------------------------------------ */

/* "0.5s", "10s" — the duration as a user typed it, for messages. */
const char *cli_format_duration(int ms, char *buf, size_t size);

/* Monotonic milliseconds. */
uint64_t cli_now_ms(void);

/* ---- signals -------------------------------------------------------------------------- */

/* Block SIGTERM, SIGINT and SIGHUP (and SIGCHLD with children) and return a signalfd
 * (close-on-exec, non-blocking) that receives them, or -1 (errno). A server's stop then runs
 * as ordinary loop code. SIGINT and SIGTERM are reset to their default disposition. */
int cli_signalfd(bool children);
/* "SIGTERM", "SIGINT", "SIGHUP", or "a signal". */
const char *cli_signal_name(uint32_t signo);

/* ---- words for people, JSON for programs --------------------------------------------- */

/* "srwxr-x---" as ls -l writes it: the type letter and the permission bits (setuid, setgid
 * and sticky included). */
void cli_mode_string(mode_t mode, char out[11]);
/* What a file is, in words: "a socket", "a regular file", "a FIFO", "nothing"... */
const char *cli_file_kind(enum uds_file_kind kind);
/* A file's mode, owner and group as ls -l and chown write them: "srw-rw---- root:app". */
void cli_describe_file(const struct uds_file *file, char *buf, size_t size);
/* The name of the user (group), or its number when it has none. */
void cli_user_name(uid_t uid, char *buf, size_t size);
void cli_group_name(gid_t gid, char *buf, size_t size);

/* printf at buf + *used (buf holds size bytes), truncating, never past the end. */
void cli_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* s (len bytes, NULs allowed) as one quoted JSON string, handed to emit in pieces, always
 * valid JSON and reversible: valid UTF-8 goes out as it is, except control characters (C0,
 * DEL, C1, the bidi controls, U+2028/U+2029), '"' and '\\', which are escaped; each byte
 * that is not UTF-8 becomes the lone surrogate \udc80..\udcff (U+DC00 + the byte, Python's
 * surrogateescape), so json.loads(...).encode("utf-8", "surrogateescape") gives s back and
 * the byte 0x9B ("\udc9b") never reads as the character U+009B ("\u009b"). */
void cli_json_escape(const char *s, size_t len,
                     void (*emit)(void *ctx, const char *text, size_t n), void *ctx);
/* s (len bytes) as text safe for a terminal, handed to emit in pieces: valid UTF-8 goes out
 * as it is, except that a C0 control, DEL, a backslash and each byte that is not UTF-8
 * become \xNN, and a C1 or bidi control or U+2028/U+2029 becomes \uNNNN (so the byte 0x9B
 * shows as \x9b, the character U+009B as \u009b). Never longer than 4 * len bytes. */
void cli_text_escape(const char *s, size_t len,
                     void (*emit)(void *ctx, const char *text, size_t n), void *ctx);
/* The same into out (size bytes, 4 * len + 1 always enough), NUL-terminated; returns the
 * length written. Short of room, the text ends before the first piece that does not fit. */
size_t cli_text_escape_buf(const char *s, size_t len, char *out, size_t size);
/* The same, written to out. */
void cli_json_string(FILE *out, const char *s, size_t len);

/* ---- logging -------------------------------------------------------------------------- */

enum cli_level {
    CLI_LOG_ERROR = 0,
    CLI_LOG_WARN,
    CLI_LOG_INFO,
    CLI_LOG_DEBUG,  /* -v */
};

/* One extra field of a log line (text mode ignores them, JSON mode prints them). */
struct cli_kv {
    const char *key;
    const char *str;    /* string value, or NULL for num */
    long long num;
};
#define CLI_KV_STR(k, v) ((struct cli_kv){ .key = (k), .str = (v) })
#define CLI_KV_NUM(k, v) ((struct cli_kv){ .key = (k), .num = (long long) (v) })

/* verbosity: -1 quiet (errors only), 0 normal, 1 verbose. json: --log json. */
void cli_log_setup(int verbosity, bool json);
bool cli_log_enabled(enum cli_level level);

/* One log line on stderr. Text: "uds: MESSAGE". JSON: {"ts", "level", "event", "address",
 * the fields, "message"}. address may be NULL. */
void cli_log(enum cli_level level, const char *event, const char *address,
             const struct cli_kv *kv, size_t n_kv, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- connect, send: stdin and stdout to a socket (cmd_connect.c) ------------------------ */

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

/* Before connecting: a closed stdin or stdout becomes /dev/null (as a closed stdin always
 * read as empty), so that the socket cannot take its number. */
void cli_exchange_hold_stdio(void);
/* Run the exchange on a uds_loop until the relay ends: at the end of the input the socket
 * is shut down for writing, and output goes on until the server closes (dgram: until the
 * replies are in). Returns an exit code; prints the message for a failure. */
int cli_exchange_run(const struct cli_exchange *x);

/* ---- serve -- PROGRAM (serve_exec.c) ------------------------------------------------------ */

/* PROGRAM ARGS, the UCSPI environment and the children started with them. */
struct cli_exec;

/* One running child. */
struct cli_child {
    pid_t pid;
    pid_t peer_pid;         /* the client it serves */
    uid_t uid;
    gid_t gid;
    uint64_t started_ms;    /* cli_now_ms() */
};

/* Find argv[0] (as execvp would, once) and prepare the environment: the server's own minus
 * PROTO, UNIXLOCAL*, UNIXREMOTE*, LISTEN_* and NOTIFY_SOCKET, plus PROTO=UNIX,
 * UNIXLOCALPATH=local_path, UNIXLOCALUID and UNIXLOCALGID. Also makes every inherited fd
 * above 2 close-on-exec and opens /dev/null on a closed 0, 1 or 2. argv must outlive it.
 * Errors: ENOENT no such program (in PATH); EACCES not an executable file; ENOMEM. */
struct cli_exec *cli_exec_new(char *const argv[], const char *local_path);
void cli_exec_free(struct cli_exec *exec);
/* The program's path as found. */
const char *cli_exec_path(const struct cli_exec *exec);

/* Start the program on the connected socket fd (made blocking, then its stdin and stdout;
 * the caller still closes its own fd) for peer, with UNIXREMOTEPID, UNIXREMOTEEUID and
 * UNIXREMOTEEGID set, an empty signal mask, default dispositions, and a process group of
 * its own. Returns the child's pid. Errors: those of posix_spawn() and execve() (ENOENT,
 * EACCES, ENOEXEC, EAGAIN, ENOMEM). */
pid_t cli_exec_spawn(struct cli_exec *exec, int fd, const struct uds_peer *peer);

/* Reap one child that has exited (never blocks): 1 with its record and wait status, 0 when
 * none has. Call until 0 on every SIGCHLD. */
int cli_exec_reap(struct cli_exec *exec, struct cli_child *ret_child, int *ret_status);
/* Children started and not reaped yet. */
size_t cli_exec_count(const struct cli_exec *exec);
/* Send sig to every child's process group (SIGTERM is followed by SIGCONT). */
void cli_exec_kill(struct cli_exec *exec, int sig);
/* "exited with status 3", "killed by SIGTERM". */
void cli_exec_describe_status(int status, char *buf, size_t size);

#endif /* UDS_CLI_H */
