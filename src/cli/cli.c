/* SPDX-License-Identifier: MIT */
/*
 * cli.c — the pieces every `uds` command shares: the one errno → exit-code table and the
 * "uds: ADDRESS: what happened; what to do" messages (with the facts at the path that
 * explain them, from uds_pathinfo_get()), the words for files and modes, option-value
 * parsers, the text/JSON logger and the stop signals of servers. No sockets are opened here.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log_limit.h"

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

/* ---- describing a path: mode, owner, which directory is in the way --------------------- */

void cli_mode_string(mode_t m, char out[11]) {
    static const char rwx[] = "rwxrwxrwx";
    static const char types[] = {
        [UDS_FILE_SOCKET] = 's', [UDS_FILE_REGULAR] = '-', [UDS_FILE_DIR] = 'd',
        [UDS_FILE_SYMLINK] = 'l', [UDS_FILE_FIFO] = 'p', [UDS_FILE_CHAR] = 'c',
        [UDS_FILE_BLOCK] = 'b', [UDS_FILE_OTHER] = '?',
    };

    out[0] = types[uds_file_kind_of(m)];
    for (int i = 0; i < 9; i++)
        out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
    if (m & S_ISUID)
        out[3] = (m & S_IXUSR) ? 's' : 'S';
    if (m & S_ISGID)
        out[6] = (m & S_IXGRP) ? 's' : 'S';
    if (m & S_ISVTX)
        out[9] = (m & S_IXOTH) ? 't' : 'T';
    out[10] = '\0';
}

void cli_user_name(uid_t uid, char *buf, size_t size) {
    struct passwd pw, *res = NULL;
    char tmp[4096];

    if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
        snprintf(buf, size, "%s", res->pw_name);
    else
        snprintf(buf, size, "%u", (unsigned) uid);
}

void cli_group_name(gid_t gid, char *buf, size_t size) {
    struct group gr, *res = NULL;
    char tmp[8192];

    if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) == 0 && res)
        snprintf(buf, size, "%s", res->gr_name);
    else
        snprintf(buf, size, "%u", (unsigned) gid);
}

void cli_append(char *buf, size_t size, size_t *used, const char *fmt, ...) {
    va_list ap;
    int n;

    if (*used + 1 >= size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t) n < size ? *used + (size_t) n : size - 1;
}

const char *cli_file_kind(enum uds_file_kind kind) {
    switch (kind) {
    case UDS_FILE_SOCKET: return "a socket";
    case UDS_FILE_REGULAR: return "a regular file";
    case UDS_FILE_DIR: return "a directory";
    case UDS_FILE_SYMLINK: return "a symbolic link";
    case UDS_FILE_FIFO: return "a FIFO";
    case UDS_FILE_CHAR: return "a character device";
    case UDS_FILE_BLOCK: return "a block device";
    case UDS_FILE_NONE: return "nothing";
    case UDS_FILE_OTHER: break;
    }
    return "a file of an unknown type";
}

void cli_describe_file(const struct uds_file *file, char *buf, size_t size) {
    char mode[11], user[256], group[256];

    cli_mode_string(file->mode, mode);
    cli_user_name(file->uid, user, sizeof(user));
    cli_group_name(file->gid, group, sizeof(group));
    snprintf(buf, size, "%s %s:%s", mode, user, group);
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

int cli_getopt_error(const char *cmd, int c, char **argv) {
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    bool is_long = arg && strncmp(arg, "--", 2) == 0;
    char shortopt[3] = { '-', (char) optopt, '\0' };
    const char *name = is_long || optopt == 0 ? arg : shortopt;

    if (c == ':')
        return cli_usage(cmd, "option '%s' needs a value", name);
    return cli_usage(cmd, "unknown option '%s'", name);
}

/* ---- option values -------------------------------------------------------------------- */

int cli_parse_duration_ms(const char *text, int *ret_ms) {
    const char *p = text;
    long long whole = 0, frac_ms = 0;
    int frac_digits = 0;
    bool any = false, round_up = false, in_ms = false;

    while (isdigit((unsigned char) *p)) {
        whole = whole * 10 + (*p++ - '0');
        any = true;
        if (whole > 2000000)
            goto bad;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char) *p)) {
            if (frac_digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            else if (*p != '0')
                round_up = true;
            frac_digits++;
            p++;
            any = true;
        }
    }
    if (!any)
        goto bad;
    if (strcmp(p, "ms") == 0)
        in_ms = true;
    else if (*p != '\0' && strcmp(p, "s") != 0)
        goto bad;
    for (int i = frac_digits; i < 3; i++)
        frac_ms *= 10;
    long long ms;
    if (in_ms)
        ms = whole + (frac_ms > 0 || round_up ? 1 : 0);
    else
        ms = whole * 1000 + frac_ms + (round_up ? 1 : 0);
    if (ms > INT_MAX)
        goto bad;
    *ret_ms = (int) ms;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

int cli_parse_size(const char *text, size_t *ret_size) {
    unsigned long long value = 0, mult = 1;
    const char *p = text;

    if (!isdigit((unsigned char) *p))
        goto bad;
    while (isdigit((unsigned char) *p)) {
        value = value * 10 + (unsigned long long) (*p++ - '0');
        if (value > (1ull << 40))
            goto bad;
    }
    switch (*p) {
    case 'k': case 'K': mult = 1ull << 10; p++; break;
    case 'm': case 'M': mult = 1ull << 20; p++; break;
    case 'g': case 'G': mult = 1ull << 30; p++; break;
    }
    if (mult > 1 && (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0))
        p += strlen(p);
    else if (mult == 1 && strcmp(p, "B") == 0)
        p++;
    if (*p != '\0' || value * mult > SIZE_MAX / 2)
        goto bad;
    *ret_size = (size_t) (value * mult);
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

int cli_parse_long(const char *text, long min, long max, long *ret_value) {
    char *end;
    long v;

    if (!isdigit((unsigned char) text[0]) && !(text[0] == '-' && isdigit((unsigned char) text[1])))
        goto bad;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        goto bad;
    *ret_value = v;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

int cli_parse_mode(const char *text, mode_t *ret_mode) {
    unsigned v = 0;
    size_t n = strlen(text);

    if (n == 0 || n > 4)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '7')
            goto bad;
        v = v * 8 + (unsigned) (text[i] - '0');
    }
    if (v > 0777)
        goto bad;
    *ret_mode = (mode_t) v;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

/* A plain non-negative decimal id; (uid_t) -1 is "no change" to chown, so never an id. */
static int parse_id(const char *text, unsigned long *ret_id) {
    char *end;
    unsigned long v;

    if (!isdigit((unsigned char) text[0]))
        return -1;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v >= UINT32_MAX)
        return -1;
    *ret_id = v;
    return 0;
}

int cli_parse_user(const char *text, uid_t *ret_uid) {
    struct passwd pw, *res = NULL;
    char buf[16384];
    unsigned long id;
    int r;

    if (parse_id(text, &id) == 0) {
        *ret_uid = (uid_t) id;
        return 0;
    }
    if (text[0] == '\0')
        goto bad;
    r = getpwnam_r(text, &pw, buf, sizeof(buf), &res);
    if (r != 0 || !res) {
        errno = r != 0 ? r : ENOENT;
        return -1;
    }
    *ret_uid = res->pw_uid;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

int cli_parse_group(const char *text, gid_t *ret_gid) {
    struct group gr, *res = NULL;
    char buf[65536];
    unsigned long id;
    int r;

    if (parse_id(text, &id) == 0) {
        *ret_gid = (gid_t) id;
        return 0;
    }
    if (text[0] == '\0')
        goto bad;
    r = getgrnam_r(text, &gr, buf, sizeof(buf), &res);
    if (r != 0 || !res) {
        errno = r != 0 ? r : ENOENT;
        return -1;
    }
    *ret_gid = res->gr_gid;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

/* Split text at commas and resolve each item (a name or a number) into an array of ids. */
static int parse_id_list(const char *text, bool users, void **ret_ids, size_t *ret_n,
                         char *bad, size_t bad_size) {
    size_t n = 1, i = 0;
    uint32_t *ids;
    const char *p = text;

    for (const char *q = text; *q; q++)
        n += *q == ',';
    ids = calloc(n, sizeof(*ids));
    if (!ids)
        return -1;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        char item[256];
        int r = -1;

        if (len > 0 && len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = '\0';
            if (users) {
                uid_t u;
                r = cli_parse_user(item, &u);
                ids[i] = (uint32_t) u;
            } else {
                gid_t g;
                r = cli_parse_group(item, &g);
                ids[i] = (uint32_t) g;
            }
        }
        if (r < 0) {
            snprintf(bad, bad_size, "%.*s", (int) len, p);
            free(ids);
            errno = EINVAL;
            return -1;
        }
        i++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *ret_ids = ids;
    *ret_n = i;
    return 0;
}

_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
               "ids are 32 bits on Linux");

int cli_parse_uid_list(const char *text, uid_t **ret_ids, size_t *ret_n, char *bad,
                       size_t bad_size) {
    void *ids;
    if (parse_id_list(text, true, &ids, ret_n, bad, bad_size) < 0)
        return -1;
    *ret_ids = ids;
    return 0;
}

int cli_parse_gid_list(const char *text, gid_t **ret_ids, size_t *ret_n, char *bad,
                       size_t bad_size) {
    void *ids;
    if (parse_id_list(text, false, &ids, ret_n, bad, bad_size) < 0)
        return -1;
    *ret_ids = ids;
    return 0;
}

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

/* ---- signals -------------------------------------------------------------------------- */

int cli_signalfd(bool children) {
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (children)
        sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    /* A shell starts background jobs with SIGINT ignored, and an ignored signal is
     * discarded even while blocked: take it back so `kill -INT` stops us. SIGHUP stays
     * ignored if it was (nohup). */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

const char *cli_signal_name(uint32_t signo) {
    switch (signo) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    }
    return "a signal";
}

/* ---- names for terminals and for JSON ------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most len bytes), its code point in *ret_cp;
 * 0 when s does not start one (a stray, overlong, surrogate or out-of-range sequence). */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *ret_cp) {
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80) {
        *ret_cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *ret_cp = cp;
    return n;
}

/* Room for one escape (a backslash, "u" and four hex digits) and its NUL, with margin. */
#define ESC_MAX 12

/* Characters a terminal acts on instead of showing: C0 and DEL, C1 (U+009B is a CSI to
 * many terminals, as ESC [ is), and the bidi controls, which reorder what follows so that a
 * name reads as something else ("exe.txt" shown for "txt.exe"); the Unicode line and
 * paragraph separators too, which some terminals break lines at. */
static bool is_control(uint32_t cp) {
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Escape s character by character: esc() writes the escape of one character (or of one byte
 * that is not UTF-8: invalid) into out and returns true, or returns false for a character
 * that goes out as it is; runs of those reach emit() whole. */
static void escape_with(const char *s, size_t len,
                        bool (*esc)(char out[ESC_MAX], uint32_t cp, bool invalid),
                        void (*emit)(void *ctx, const char *text, size_t n), void *ctx) {
    const unsigned char *u = (const unsigned char *) s;
    size_t plain = 0, i = 0;

    while (i < len) {
        uint32_t cp;
        size_t n = utf8_seq(u + i, len - i, &cp);
        bool invalid = n == 0;
        char out[ESC_MAX];

        if (invalid) {
            cp = u[i];
            n = 1;
        }
        if (!esc(out, cp, invalid)) {
            i += n;
            continue;
        }
        if (i > plain)
            emit(ctx, s + plain, i - plain);
        emit(ctx, out, strlen(out));
        plain = i += n;
    }
    if (i > plain)
        emit(ctx, s + plain, i - plain);
}

/* JSON: the usual escapes; a byte that is not UTF-8 becomes the lone surrogate U+DC00+byte
 * (Python's surrogateescape), which no character can be, so the bytes come back exactly:
 * json.loads(text).encode("utf-8", "surrogateescape"). The raw byte 0x9B is "\udc9b", the
 * character U+009B "\u009b". */
static bool json_piece(char out[ESC_MAX], uint32_t cp, bool invalid) {
    if (invalid) {
        snprintf(out, ESC_MAX, "\\u%04x", (unsigned) (0xdc00 + cp));
        return true;
    }
    switch (cp) {
    case '"': memcpy(out, "\\\"", 3); return true;
    case '\\': memcpy(out, "\\\\", 3); return true;
    case '\n': memcpy(out, "\\n", 3); return true;
    case '\t': memcpy(out, "\\t", 3); return true;
    case '\r': memcpy(out, "\\r", 3); return true;
    }
    if (!is_control(cp))
        return false;
    snprintf(out, ESC_MAX, "\\u%04x", (unsigned) cp);
    return true;
}

/* Text: \xNN for a byte (a C0 control, DEL, a backslash, or a byte that is not UTF-8) and
 * \uNNNN for a character (C1, bidi), so the raw byte 0x9B reads \x9b and U+009B \u009b. */
static bool text_piece(char out[ESC_MAX], uint32_t cp, bool invalid) {
    if (!invalid && !is_control(cp) && cp != '\\')
        return false;
    if (invalid || cp < 0x80)
        snprintf(out, ESC_MAX, "\\x%02x", (unsigned) cp);
    else
        snprintf(out, ESC_MAX, "\\u%04x", (unsigned) cp);
    return true;
}

void cli_json_escape(const char *s, size_t len,
                     void (*emit)(void *ctx, const char *text, size_t n), void *ctx) {
    emit(ctx, "\"", 1);
    escape_with(s, len, json_piece, emit, ctx);
    emit(ctx, "\"", 1);
}

void cli_text_escape(const char *s, size_t len,
                     void (*emit)(void *ctx, const char *text, size_t n), void *ctx) {
    escape_with(s, len, text_piece, emit, ctx);
}

struct buf_out {
    char *buf;
    size_t size;
    size_t used;
    bool full;
};

/* A piece that does not fit ends the text there: never half an escape or a character. */
static void buf_emit(void *ctx, const char *s, size_t n) {
    struct buf_out *b = ctx;

    if (b->full || n > b->size - 1 - b->used) {
        b->full = true;
        return;
    }
    memcpy(b->buf + b->used, s, n);
    b->used += n;
}

size_t cli_text_escape_buf(const char *s, size_t len, char *out, size_t size) {
    struct buf_out b = { .buf = out, .size = size };

    if (size == 0)
        return 0;
    cli_text_escape(s, len, buf_emit, &b);
    out[b.used] = '\0';
    return b.used;
}

static void file_emit(void *ctx, const char *s, size_t n) {
    fwrite(s, 1, n, ctx);
}

void cli_json_string(FILE *out, const char *s, size_t len) {
    cli_json_escape(s, len, file_emit, out);
}

/* ---- logging -------------------------------------------------------------------------- */

static int log_verbosity;
static bool log_json;
static struct log_limit log_limits;

static void log_limit_flush(void);

void cli_log_setup(int verbosity, bool json) {
    static bool flush_at_exit;

    log_verbosity = verbosity;
    log_json = json;
    /* Lines held back by the rate limit are summarised at the latest when the command
     * exits. */
    if (!flush_at_exit)
        flush_at_exit = atexit(log_limit_flush) == 0;
}

bool cli_log_enabled(enum cli_level level) {
    switch (level) {
    case CLI_LOG_ERROR: return true;
    case CLI_LOG_WARN:
    case CLI_LOG_INFO: return log_verbosity >= 0;
    case CLI_LOG_DEBUG: return log_verbosity >= 1;
    }
    return false;
}

/* A growing line buffer; output past its end is dropped (lines are short). */
struct line {
    char buf[8192];
    size_t len;
};

static void line_add(struct line *l, const char *s, size_t n) {
    size_t room = sizeof(l->buf) - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_puts(struct line *l, const char *s) {
    line_add(l, s, strlen(s));
}

static void line_emit(void *ctx, const char *s, size_t n) {
    line_add(ctx, s, n);
}

static void line_json_string(struct line *l, const char *s) {
    cli_json_escape(s, strlen(s), line_emit, l);
}

static void line_json_key(struct line *l, const char *key) {
    line_add(l, ",", 1);
    line_json_string(l, key);
    line_add(l, ":", 1);
}

static const char *level_name(enum cli_level level) {
    static const char *const names[] = { "error", "warning", "info", "debug" };
    return names[level];
}

static void write_line(enum cli_level level, const char *event, const char *address,
                       const struct cli_kv *kv, size_t n_kv, const char *msg) {
    struct line l = { .len = 0 };

    if (!log_json) {
        /* Messages carry what peers chose (names, paths): a terminal sees no control. */
        line_puts(&l, "uds: ");
        cli_text_escape(msg, strlen(msg), line_emit, &l);
    } else {
        struct timespec ts;
        struct tm tm;
        char stamp[64], num[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%03ldZ",
                 ts.tv_nsec / 1000000);
        line_puts(&l, "{\"ts\":");
        line_json_string(&l, stamp);
        line_json_key(&l, "level");
        line_json_string(&l, level_name(level));
        line_json_key(&l, "event");
        line_json_string(&l, event);
        if (address) {
            line_json_key(&l, "address");
            line_json_string(&l, address);
        }
        for (size_t i = 0; i < n_kv; i++) {
            line_json_key(&l, kv[i].key);
            if (kv[i].str) {
                line_json_string(&l, kv[i].str);
            } else {
                snprintf(num, sizeof(num), "%lld", kv[i].num);
                line_puts(&l, num);
            }
        }
        line_json_key(&l, "message");
        line_json_string(&l, msg);
        line_puts(&l, "}");
    }
    l.buf[l.len++] = '\n';    /* line_add() always leaves room for it */
    /* One write per line, so lines from concurrent writers never interleave. */
    if (write(STDERR_FILENO, l.buf, l.len) < 0) {
        /* Nowhere left to report that stderr failed. */
    }
}

/* The lines of one event held back by the rate limit, in one line. */
static void write_summary(struct log_limit_entry *e, uint64_t now) {
    char msg[512], secs[32];
    uint64_t span = (e->last_ms > e->start_ms ? e->last_ms - e->start_ms : 0) + 999;
    struct cli_kv kv[] = {
        CLI_KV_STR("of", e->event),
        CLI_KV_NUM("count", e->held),
        CLI_KV_NUM("seconds", span / 1000),
    };

    snprintf(secs, sizeof(secs), "%llu s", (unsigned long long) (span / 1000));
    snprintf(msg, sizeof(msg), "%s%s… and %zu more \"%s\" line%s like it in %s, not written "
             "one by one (at most %d in %d s)", e->address, e->address[0] ? ": " : "",
             e->held, e->event, e->held == 1 ? "" : "s", secs, LOG_LIMIT_BURST,
             LOG_LIMIT_WINDOW_MS / 1000);
    write_line((enum cli_level) e->level, "suppressed", e->address[0] ? e->address : NULL, kv,
               sizeof(kv) / sizeof(kv[0]), msg);
    log_limit_summarised(e, now);
}

static void log_limit_flush(void) {
    struct log_limit_entry *e;
    uint64_t now = cli_now_ms();

    while ((e = log_limit_due(&log_limits, now, true)))
        write_summary(e, now);
}

__attribute__((format(printf, 6, 0)))
static void vlog(enum cli_level level, const char *event, const char *address,
                 const struct cli_kv *kv, size_t n_kv, const char *fmt, va_list ap) {
    char msg[4096];

    if (!cli_log_enabled(level))
        return;
    /* What peers cause (refusals, oversized messages, unanswerable datagrams) comes at their
     * pace: warnings and notices are rate-limited per event. Errors are ours and rare;
     * debug lines were asked for one by one (-v). */
    if (level == CLI_LOG_WARN || level == CLI_LOG_INFO) {
        uint64_t now = cli_now_ms();
        struct log_limit_entry *e;
        while ((e = log_limit_due(&log_limits, now, false)))
            write_summary(e, now);
        if (!log_limit_admit(&log_limits, event, address, (int) level, now))
            return;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    write_line(level, event, address, kv, n_kv, msg);
}

void cli_log(enum cli_level level, const char *event, const char *address,
             const struct cli_kv *kv, size_t n_kv, const char *fmt, ...) {
    va_list ap;

    va_start(ap, fmt);
    vlog(level, event, address, kv, n_kv, fmt, ap);
    va_end(ap);
}
