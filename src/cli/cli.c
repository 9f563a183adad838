/* SPDX-License-Identifier: MIT */
/*
 * cli.c — how a command fails (errors.h): the one errno → exit-code table and the
 * "uds: ADDRESS: what happened; what to do" messages, with the facts at the path that
 * explain them (uds_pathinfo_get()), and usage errors. No sockets are opened here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- errno → exit code and wording: the one table ------------------------------------- */

static const struct errmap {
    int err;
    enum cli_op op;     /* CLI_OP_ANY matches every operation */
    int code;
    const char *what;
    const char *todo;
} errmap[] = {
    { EADDRINUSE, CLI_OP_LISTEN, EX_UNAVAILABLE, "in use by a running server", "not removed" },
    { EEXIST, CLI_OP_LISTEN, EX_CANTCREAT, "exists and is not a socket",
      "remove it or choose another path" },
    { ENOTSOCK, CLI_OP_LISTEN, EX_CANTCREAT, "exists and is not a socket",
      "remove it or choose another path" },
    { ENOENT, CLI_OP_LISTEN, EX_CANTCREAT, "directory does not exist",
      "create it or choose another path" },
    { ENOTDIR, CLI_OP_LISTEN, EX_CANTCREAT, "a component of the path is not a directory",
      "choose another path" },
    { EISDIR, CLI_OP_LISTEN, EX_CANTCREAT, "exists and is not a socket",
      "remove it or choose another path" },
    { EROFS, CLI_OP_LISTEN, EX_CANTCREAT, "read-only file system",
      "choose a writable directory" },
    { ENOSPC, CLI_OP_LISTEN, EX_CANTCREAT, "no space left on the device",
      "free some space or choose another file system" },
    { EDQUOT, CLI_OP_LISTEN, EX_CANTCREAT, "disk quota exceeded",
      "free some space or choose another file system" },
    { EACCES, CLI_OP_LISTEN, EX_NOPERM, "permission denied",
      "choose a directory you can write to, or run as its owner" },
    { EPERM, CLI_OP_LISTEN, EX_NOPERM, "operation not permitted",
      "setting --owner or --group needs root (CAP_CHOWN)" },
    { ENOENT, CLI_OP_CONNECT, EX_UNAVAILABLE, "no such socket", "is the server running?" },
    { ENOTDIR, CLI_OP_CONNECT, EX_UNAVAILABLE, "no such socket (a component of the path is "
      "not a directory)", "check the address" },
    { ECONNREFUSED, CLI_OP_CONNECT, EX_UNAVAILABLE, "nothing is listening (stale socket file)",
      "start the server, or remove the file" },
    { ENOTSOCK, CLI_OP_CONNECT, EX_UNAVAILABLE, "exists and is not a socket",
      "check the address" },
    { EACCES, CLI_OP_CONNECT, EX_NOPERM, "permission denied",
      "ask for access, or run as the owner" },
    { EPERM, CLI_OP_CONNECT, EX_NOPERM, "permission denied",
      "ask for access, or run as the owner" },
    { EAGAIN, CLI_OP_CONNECT, EX_TEMPFAIL, "the server's backlog is full",
      "retry later, or give it time with --timeout" },
    { EPROTOTYPE, CLI_OP_CONNECT, EX_UNAVAILABLE, "the server uses another socket type",
      "try another --type (stream, seqpacket or dgram)" },
    { ECONNREFUSED, CLI_OP_EXCHANGE, EX_UNAVAILABLE, "nothing is listening any more",
      "is the server running?" },
    { ETIMEDOUT, CLI_OP_CONNECT, EX_TEMPFAIL, "timed out connecting (the server is not "
      "accepting)", "is it overloaded? try a longer --timeout" },
    { ETIMEDOUT, CLI_OP_ANY, EX_TEMPFAIL, "timed out",
      "the server may be slow or stuck; try a longer --timeout" },
    { ECONNRESET, CLI_OP_ANY, CLI_EXIT_FAILURE, "connection reset by the server",
      "check the server's log" },
    { EPIPE, CLI_OP_ANY, CLI_EXIT_FAILURE,
      "the server closed the connection before all input was sent", "check the server's log" },
    { EMSGSIZE, CLI_OP_ANY, CLI_EXIT_FAILURE, "message too long for this socket type",
      "send less at once, or use --type stream" },
    { ENAMETOOLONG, CLI_OP_ANY, EX_USAGE, "name too long",
      "use a shorter path or abstract name" },
    { EINVAL, CLI_OP_ANY, EX_USAGE, "not a valid address",
      "use a path, @name, unix:PATH or unix:@name" },
    { EAFNOSUPPORT, CLI_OP_ANY, EX_USAGE, "not a Unix socket address",
      "use a path, @name, unix:PATH or unix:@name" },
    { EMFILE, CLI_OP_ANY, CLI_EXIT_FAILURE, "too many open files",
      "raise the limit (ulimit -n) or lower --max-conns" },
    { ENFILE, CLI_OP_ANY, CLI_EXIT_FAILURE, "too many open files in the system",
      "close some programs, or raise fs.file-max" },
    { ENOMEM, CLI_OP_ANY, CLI_EXIT_FAILURE, "out of memory",
      "free some memory, or lower --max-conns" },
    { ENOBUFS, CLI_OP_ANY, CLI_EXIT_FAILURE, "out of kernel buffer space",
      "free some memory, or retry" },
};

static const struct errmap *errmap_find(enum cli_op op, int err) {
    const struct errmap *any = NULL;

    for (size_t i = 0; i < sizeof(errmap) / sizeof(errmap[0]); i++) {
        if (errmap[i].err != err)
            continue;
        if (errmap[i].op == op)
            return &errmap[i];
        if (errmap[i].op == CLI_OP_ANY && !any)
            any = &errmap[i];
    }
    return any;
}

int cli_exit_code(enum cli_op op, int err) {
    const struct errmap *m = errmap_find(op, err);
    return m ? m->code : CLI_EXIT_FAILURE;
}

/* ---- messages ------------------------------------------------------------------------- */

void cli_error(const char *address, const char *todo, const char *fmt, ...) {
    char what[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (address)
        cli_log(CLI_LOG_ERROR, "error", address, NULL, 0, "%s: %s%s%s", address, what,
                todo ? "; " : "", todo ? todo : "");
    else
        cli_log(CLI_LOG_ERROR, "error", NULL, NULL, 0, "%s%s%s", what, todo ? "; " : "",
                todo ? todo : "");
}

/* A listen that failed on the lock file PATH.lock: name that file, not the socket's path,
 * and say what is wrong with it. Nothing is removed here: it may be another server's. */
static int fail_lock(const char *address, int err) {
    const char *todo = "remove it if no server uses it";
    struct uds_addr addr;
    struct uds_pathinfo pi;
    char lock[UDS_LOCK_PATH_MAX + 1], what[UDS_PATH_MAX + 600], desc[600];
    bool seen;

    if (uds_addr_parse(address, 0, &addr) < 0 || addr.kind != UDS_ADDR_PATH ||
        uds_lock_path(addr.name, lock, sizeof(lock)) < 0)
        return cli_fail(CLI_OP_LISTEN, address, err, NULL);
    seen = uds_pathinfo_get(lock, 0, &pi) == 0 && pi.file.kind != UDS_FILE_NONE;
    switch (err) {
    case EEXIST:
        snprintf(what, sizeof(what), "is %s, not a lock file",
                 seen ? cli_file_kind(pi.file.kind) : "not a regular file");
        break;
    case EADDRINUSE:
        snprintf(what, sizeof(what), "locked by another process, and no server answers at %s",
                 addr.name);
        todo = "if one is starting, wait for it; remove the lock file if no server uses it";
        break;
    case EACCES:
    case EPERM:
        if (seen) {
            cli_describe_file(&pi.file, desc, sizeof(desc));
            snprintf(what, sizeof(what), "permission denied (lock file %s, you are uid %u)", desc,
                     (unsigned) geteuid());
            todo = "remove it if no server uses it, or run as its owner";
            break;
        }
        /* fall through */
    default:
        snprintf(what, sizeof(what), "%s", strerror(err));
        break;
    }
    cli_error(lock, todo, "%s", what);
    return err == EEXIST ? EX_CANTCREAT : cli_exit_code(CLI_OP_LISTEN, err);
}

/* The words of one failure: what happened and what to do; what points into buf when it
 * was written for this case. */
struct words {
    const char *what;
    const char *todo;
    char buf[3 * UDS_PATH_MAX];
};

/* ENOENT, ENOTDIR: name the directory on the way that is missing or not one. */
static void say_no_dir(enum cli_op op, const struct uds_pathinfo *pi, struct words *w) {
    const char *why = pi->dir_problem == UDS_DIR_MISSING ? "does not exist" : "is not a directory";

    if (pi->dir_problem != UDS_DIR_MISSING && pi->dir_problem != UDS_DIR_NOT_DIR)
        return;
    if (op == CLI_OP_LISTEN)
        snprintf(w->buf, sizeof(w->buf), "directory %s %s", pi->dir, why);
    else
        snprintf(w->buf, sizeof(w->buf), "no such socket (directory %s %s)", pi->dir, why);
    w->what = w->buf;
}

/* EACCES, EPERM: the directory that stops the caller, else the socket's mode and owner. */
static void say_denied(enum cli_op op, const struct uds_pathinfo *pi, struct words *w) {
    unsigned me = (unsigned) geteuid();
    char desc[600];

    if (pi->dir_problem == UDS_DIR_NO_SEARCH || pi->dir_problem == UDS_DIR_NO_WRITE) {
        cli_describe_file(&pi->dir_file, desc, sizeof(desc));
        snprintf(w->buf, sizeof(w->buf), "permission denied (directory %s is not %s: %s, you "
                 "are uid %u)", pi->dir, pi->dir_problem == UDS_DIR_NO_SEARCH ? "searchable" :
                 "writable", desc, me);
        w->what = w->buf;
        if (op == CLI_OP_LISTEN)
            w->todo = "choose a directory you can write to, or ask for access";
        else
            w->todo = "ask for access to the directory, or run as its owner";
    } else if (op == CLI_OP_CONNECT && pi->target.kind != UDS_FILE_NONE) {
        cli_describe_file(&pi->target, desc, sizeof(desc));
        if (pi->may_write) {
            snprintf(w->buf, sizeof(w->buf), "permission denied (socket %s is writable by you, "
                     "uid %u; a security module may refuse it)", desc, me);
            w->todo = "check the SELinux/AppArmor policy";
        } else {
            snprintf(w->buf, sizeof(w->buf), "permission denied (socket %s, you are uid %u)",
                     desc, me);
        }
        w->what = w->buf;
    }
}

/* Words from the facts at the path, for the errors they explain. */
static void say_path(enum cli_op op, const char *path, int err, struct words *w) {
    struct uds_pathinfo pi;
    bool facts_help = err == ENOENT || err == ENOTDIR || err == EACCES || err == EPERM ||
                      (err == ECONNREFUSED && op == CLI_OP_CONNECT);

    if (!facts_help ||
        uds_pathinfo_get(path, op == CLI_OP_LISTEN ? UDS_PATHINFO_CREATE : 0, &pi) < 0)
        return;
    if (err == ENOENT || err == ENOTDIR) {
        say_no_dir(op, &pi, w);
    } else if (err == ECONNREFUSED) {
        /* Linux connect() to a regular file or directory also says ECONNREFUSED. */
        if (pi.target.kind != UDS_FILE_NONE && pi.target.kind != UDS_FILE_SOCKET) {
            w->what = "exists and is not a socket";
            w->todo = "check the address";
        }
    } else {
        say_denied(op, &pi, w);
    }
}

int cli_fail(enum cli_op op, const char *address, int err, const struct cli_fail_info *info) {
    const struct errmap *m = errmap_find(op, err);
    struct words w = {
        .what = m ? m->what : strerror(err),
        .todo = m ? m->todo : "check the address and try again",
    };
    int code = m ? m->code : CLI_EXIT_FAILURE;
    struct uds_addr addr;
    bool is_path = uds_addr_parse(address, 0, &addr) == 0 && addr.kind == UDS_ADDR_PATH;
    char dur[32];

    if (op == CLI_OP_LISTEN && info && info->lock_failed)
        return fail_lock(address, err);
    if (is_path)
        say_path(op, addr.name, err, &w);
    switch (err) {
    case EADDRINUSE:
        if (op == CLI_OP_LISTEN && info && info->holder_pid > 0) {
            snprintf(w.buf, sizeof(w.buf), "%s (pid %ld)", w.what, (long) info->holder_pid);
            w.what = w.buf;
        }
        break;
    case ECONNREFUSED:
        if (op == CLI_OP_CONNECT && !is_path) {
            w.what = "nothing is listening";
            w.todo = "is the server running?";
        }
        break;
    case ETIMEDOUT:
        if (info && info->timeout_ms > 0) {
            cli_format_duration(info->timeout_ms, dur, sizeof(dur));
            if (op == CLI_OP_CONNECT)
                snprintf(w.buf, sizeof(w.buf), "timed out after %s connecting (the server is "
                         "not accepting)", dur);
            else
                snprintf(w.buf, sizeof(w.buf), "no complete reply within %s", dur);
            w.what = w.buf;
        }
        break;
    case ENAMETOOLONG:
        snprintf(w.buf, sizeof(w.buf), "name too long (%zu bytes; the limit is %d for an "
                 "abstract name or a path's last component, %d for a path)", strlen(address),
                 UDS_SUN_PATH_MAX, UDS_PATH_MAX);
        w.what = w.buf;
        break;
    }
    cli_error(address, w.todo, "%s", w.what);
    return code;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "uds%s%s: %s\nTry 'uds%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "",
            msg, cmd ? " " : "", cmd ? cmd : "");
    return EX_USAGE;
}
