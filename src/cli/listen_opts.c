/* SPDX-License-Identifier: MIT */
/*
 * listen_opts.c — the options `uds serve` and `uds proxy` share, parsed and validated in one
 * place with one wording for their errors, and what applies them: a Unix listener that is
 * socket-activated or made safely, readiness, and the logs around accepting. Each command's
 * own options, handlers and loop stay in its cmd_*.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "listen_opts.h"
#include "listen_proc.h"

/* ---- options --------------------------------------------------------------------------- */

void cli_listen_opts_init(struct cli_listen_opts *opts) {
    *opts = (struct cli_listen_opts){
        .mode = 0600,
        .max_conns = 1024,
        .drain_ms = 10000,
        .ready_fd = -1,
    };
}

void cli_listen_opts_done(struct cli_listen_opts *opts) {
    free(opts->allow_uids.ids);
    free(opts->allow_gids.ids);
    opts->allow_uids = opts->allow_gids = (struct cli_ids){ .ids = NULL };
}

/* Why fd cannot be a --ready-fd, or NULL when it can: open, 3 or above (it is closed once
 * ready, and the next client's connection takes its number: with 2, that client would be
 * sent the server's log, other clients' pids and uids), writable, and something a newline
 * can be written to as a signal. */
static const char *ready_fd_problem(long fd, char *buf, size_t size) {
    static const char *const stdio[] = { "input", "output", "error" };
    struct stat st;
    int fl = fcntl((int) fd, F_GETFL);

    if (fl < 0 || fstat((int) fd, &st) < 0)
        return "not an open file descriptor";
    if (fd <= 2) {
        snprintf(buf, size, "standard %s: the fd is closed once ready and the next client's "
                 "connection would take its number; use 3 or above", stdio[fd]);
        return buf;
    }
    if (S_ISDIR(st.st_mode))
        return "a directory, not a pipe, socket or file";
    if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISREG(st.st_mode) &&
        !S_ISCHR(st.st_mode))
        return "not a pipe, socket or file";
    if ((fl & O_PATH) || ((fl & O_ACCMODE) != O_WRONLY && (fl & O_ACCMODE) != O_RDWR))
        return "not open for writing";
    return NULL;
}

static int parse_ready_fd(const struct cli_opt *opt, const char *arg, void *dest,
                          struct cli_bad *bad) {
    const char *problem;
    long fd;

    (void) opt;
    if (cli_parse_long(arg, 0, INT32_MAX, &fd) < 0)
        problem = "not an open file descriptor";
    else
        problem = ready_fd_problem(fd, bad->why, sizeof(bad->why));
    if (problem) {
        if (problem != bad->why)
            snprintf(bad->why, sizeof(bad->why), "%s", problem);
        return -1;
    }
    *(long *) dest = fd;
    return 0;
}

static const struct cli_word log_formats[] = {
    { "text", CLI_LOG_FORMAT_TEXT }, { "json", CLI_LOG_FORMAT_JSON }, { NULL, 0 },
};
/* "none" says what 0 does, for a reader who would take 0 for "at once". */
static const struct cli_word no_limit[] = { { "none", 0 }, { NULL, 0 } };

#define L struct cli_listen_opts

const struct cli_opt cli_listen_access_opts[] = {
    { "--mode", 'm', "OCTAL", CLI_MODE(L, mode), CLI_SEEN(L, mode_given),
      .help = "permissions of the socket file (default 0600)" },
    { "--owner", 'o', "USER", CLI_USER(L, owner), CLI_SEEN(L, owner_given),
      .example = "www-data or 33", .help = "owner of the socket file (name or number)" },
    { "--group", 'g', "GROUP", CLI_GROUP_ID(L, group), CLI_SEEN(L, group_given),
      .example = "www-data or 33", .help = "group of the socket file (name or number)" },
    { "--allow-uid", 0, "LIST", CLI_UIDS(L, allow_uids), .example = "root,1000",
      .help = "accept only these users (comma-separated names or\n"
              "numbers); other peers are closed at once and logged" },
    { "--allow-gid", 0, "LIST", CLI_GIDS(L, allow_gids), .example = "adm,1000",
      .help = "accept only members of these groups (primary or\n"
              "supplementary); with --allow-uid, either suffices" },
    CLI_END,
};

const struct cli_opt cli_listen_limit_opts[] = {
    { "--max-conns", 'c', "N", CLI_LONG(L, max_conns, 1, 1L << 24), .example = "100",
      .help = "at most N clients at once (default 1024); more wait\n"
              "in the backlog until one leaves" },
    { "--max-conns-per-uid", 0, "N", CLI_LONG(L, max_per_uid, 1, 1L << 24), .example = "10",
      .help = "at most N clients of one user at once (the peer's\n"
              "uid on a Unix listener; TCP clients have none);\n"
              "more are closed at once and logged. Default: half\n"
              "of --max-conns, rounded up, so that no one user\n"
              "takes every slot; N equal to --max-conns lifts it" },
    { "--idle-timeout", 0, "SECONDS", CLI_DURATION(L, idle_ms, 0), .example = "30",
      .help = "close a connection when nothing moved either way\n"
              "for that long (default: never)" },
    { "--drain-timeout", 0, "SECONDS", CLI_DURATION(L, drain_ms, 0),
      .help = "on SIGTERM/SIGINT, give open connections that long\n"
              "to finish (default 10)" },
    { "--first-byte-timeout", 0, "SECONDS", CLI_DURATION(L, first_byte_ms, 0),
      CLI_SEEN(L, first_byte_given), .words = no_limit, .example = "10, or none",
      .help = "close a client that has sent nothing this\n"
              "long after it connected; 0 or none: never (default\n"
              "30 for serve's echo and reply, else never)" },
    { "--backlog", 0, "N", CLI_LONG(L, backlog, 1, INT32_MAX), CLI_SEEN(L, backlog_given),
      .example = "128", .help = "clients that may wait to be accepted (the listen()\n"
                                "backlog; default and most: net.core.somaxconn)" },
    CLI_END,
};

const struct cli_opt cli_listen_thread_opts[] = {
    { "--threads", 0, "N", CLI_LONG(L, threads, 1, UDS_SERVER_THREADS_MAX),
      CLI_SEEN(L, threads_given), .example = "4",
      .help = "serve on N worker threads, each client on one of\n"
              "them, handed out evenly by one acceptor (default:\n"
              "the CPUs this process may run on); 1: one thread.\n"
              "-- PROGRAM and dgram always run on one" },
    CLI_END,
};

const struct cli_opt cli_listen_log_opts[] = {
    { "--ready-fd", 0, "N", CLI_CUSTOM(parse_ready_fd, L, ready_fd, long),
      .example = "3 3>ready", .help = "write a newline to fd N, then close it, once ready\n"
                                      "(3 or above, open for writing)" },
    { "--log", 0, "FORMAT", CLI_WORD(L, log_format, log_formats), .what = "a log format",
      .example = "json", .help = "text (default) or json (one JSON object per line)" },
    { "--quiet", 'q', NULL, CLI_SET(L, verbosity, -1), .help = "log errors only" },
    { "--verbose", 'v', NULL, CLI_SET(L, verbosity, 1),
      .help = "also log each connection opening and closing" },
    CLI_END,
};

#undef L

const char *cli_listen_opts_unix_only(const struct cli_listen_opts *o) {
    return o->mode_given ? o->mode_given : o->owner_given ? o->owner_given :
           o->group_given ? o->group_given : o->allow_uids.n ? "--allow-uid" :
           o->allow_gids.n ? "--allow-gid" : o->max_per_uid ? "--max-conns-per-uid" : NULL;
}

unsigned cli_listen_opts_threads(const struct cli_listen_opts *o) {
    cpu_set_t set;
    int n;

    if (o->threads > 0)
        return (unsigned) o->threads;
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return 1;
    n = CPU_COUNT(&set);
    if (n > UDS_SERVER_THREADS_MAX)
        n = UDS_SERVER_THREADS_MAX;
    return n > 1 ? (unsigned) n : 1;
}

/* ---- one user's share of the slots ----------------------------------------------------- */

int cli_listen_opts_check_per_uid(const struct cli_listen_opts *o, const char *cmd) {
    if (o->max_per_uid > o->max_conns)
        return cli_usage(cmd, "--max-conns-per-uid %ld is more than --max-conns %ld; up to "
                         "--max-conns %ld (which lets one user take every slot)",
                         o->max_per_uid, o->max_conns, o->max_conns);
    return CLI_CONTINUE;
}

size_t cli_listen_opts_per_uid(const struct cli_listen_opts *o) {
    /* Without a share of its own, one local user holding every slot (idle connections
     * cost it nothing) would leave all others waiting in the backlog for ever. */
    if (o->max_per_uid > 0)
        return (size_t) o->max_per_uid;
    return o->max_conns > 1 ? (size_t) (o->max_conns + 1) / 2 : 1;
}

void cli_per_uid_reason(const struct cli_listen_opts *o, uid_t uid, size_t held,
                        const char *what, char *buf, size_t size) {
    const char *space = strchr(what, ' ');
    int noun = space ? (int) (space - what) : (int) strlen(what);

    if (o->max_per_uid > 0)
        snprintf(buf, size, "uid %lu already has %zu %.*s%s%s (--max-conns-per-uid %ld)",
                 (unsigned long) uid, held, noun, what, held == 1 ? "" : "s",
                 space ? space : "", o->max_per_uid);
    else
        snprintf(buf, size, "uid %lu already has %zu %.*s%s%s (--max-conns-per-uid %zu, by "
                 "default half of --max-conns %ld)", (unsigned long) uid, held, noun, what,
                 held == 1 ? "" : "s", space ? space : "", cli_listen_opts_per_uid(o),
                 o->max_conns);
}

void cli_log_limit_reached(const struct cli_listen_opts *o, const char *text, size_t n,
                           const char *what) {
    const char *space = strchr(what, ' ');
    int noun = space ? (int) (space - what) : (int) strlen(what);
    struct cli_kv kv[] = {
        CLI_KV_NUM("count", n),
        CLI_KV_NUM("max_conns", o->max_conns),
    };

    cli_log(CLI_LOG_WARN, "limit", text, kv, 2, "%s: %zu %.*s%s%s: the limit --max-conns %ld "
            "is reached; new clients wait in the backlog until one %s", text, n, noun, what,
            n == 1 ? "" : "s", space ? space : "", o->max_conns,
            strcmp(what, "program running") == 0 ? "ends" : "leaves");
}

int cli_listen_opts_first_byte_ms(const struct cli_listen_opts *o, int default_ms) {
    return o->first_byte_given ? o->first_byte_ms : default_ms;
}

void cli_listen_opts_log_setup(const struct cli_listen_opts *o) {
    cli_log_setup(o->verbosity, o->log_format == CLI_LOG_FORMAT_JSON);
}

struct uds_allow cli_listen_opts_allow(const struct cli_listen_opts *o) {
    return (struct uds_allow){
        .uids = o->allow_uids.ids,
        .n_uids = o->allow_uids.n,
        .gids = o->allow_gids.ids,
        .n_gids = o->allow_gids.n,
    };
}

unsigned cli_listen_opts_peer_flags(const struct cli_listen_opts *o) {
    return o->allow_gids.n > 0 ? UDS_PEER_GROUPS : 0u;
}

struct uds_server_opts cli_listen_opts_server(const struct cli_listen_opts *o,
                                              const struct uds_allow *allow) {
    return (struct uds_server_opts) {
        .max_conns = (size_t) o->max_conns,
        .allow = uds_allow_is_set(allow) ? allow : NULL,
        .peer_flags = cli_listen_opts_peer_flags(o),
    };
}

/* ---- socket activation ----------------------------------------------------------------- */

/* Whether fd is an AF_UNIX socket bound to the same name as addr. */
static bool bound_to_unix(int fd, const void *want_addr) {
    const struct uds_addr *addr = want_addr;
    struct sockaddr_un want, have;
    socklen_t want_len, have_len = sizeof(have);

    if (uds_addr_to_sockaddr(addr, &want, &want_len) < 0)
        return false;
    if (getsockname(fd, (struct sockaddr *) &have, &have_len) < 0 || have.sun_family != AF_UNIX)
        return false;
    if (addr->kind == UDS_ADDR_ABSTRACT)
        return have_len == want_len && memcmp(have.sun_path, want.sun_path,
                                              want_len - offsetof(struct sockaddr_un,
                                                                  sun_path)) == 0;
    if (have_len <= offsetof(struct sockaddr_un, sun_path) || have.sun_path[0] == '\0')
        return false;
    if (strncmp(have.sun_path, want.sun_path, sizeof(have.sun_path)) == 0)
        return true;
    /* The same file by another name ("app.sock" for "/run/app.sock", a symlinked dir). */
    struct stat a, b;
    char bound[sizeof(have.sun_path) + 1];
    memcpy(bound, have.sun_path, sizeof(have.sun_path));
    bound[sizeof(have.sun_path)] = '\0';
    return stat(bound, &a) == 0 && stat(addr->name, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Whether fd is bound to the same family, address and port as want_sa (an IPv6 scope
 * aside). */
static bool bound_to_inet(int fd, const void *want_sa) {
    const struct sockaddr *want = want_sa;
    struct sockaddr_storage have;
    socklen_t have_len = sizeof(have);

    if (getsockname(fd, (struct sockaddr *) &have, &have_len) < 0 ||
        have.ss_family != want->sa_family)
        return false;
    if (have.ss_family == AF_INET) {
        const struct sockaddr_in *h = (const void *) &have, *s = (const void *) want;
        return h->sin_port == s->sin_port && h->sin_addr.s_addr == s->sin_addr.s_addr;
    }
    if (have.ss_family == AF_INET6) {
        const struct sockaddr_in6 *h = (const void *) &have, *s = (const void *) want;
        return h->sin6_port == s->sin6_port &&
               memcmp(&h->sin6_addr, &s->sin6_addr, sizeof(s->sin6_addr)) == 0;
    }
    return false;
}

/* The passed fd that match() says is bound to want, removed from the activation's set.
 * Returns 1 with *ret_fd, 0 when none matches, -1 on error. */
static int take_bound(bool (*match)(int fd, const void *want), const void *want, int *ret_fd) {
    struct uds_activation act;
    int found = -1, n;

    /* The variables are for this process only: a child must not take them as its own. */
    n = uds_activation_get(UDS_ACTIVATION_UNSET_ENV, &act);
    if (n <= 0)
        return n;
    for (size_t i = 0; i < act.n_fds && found < 0; i++)
        if (act.fds[i] >= 0 && match(act.fds[i], want))
            found = act.fds[i];
    /* The others stay open and unused: the service manager holds its own copies, so
     * closing ours would change nothing for it. */
    uds_activation_done(&act);
    if (found < 0)
        return 0;
    *ret_fd = found;
    return 1;
}

int cli_activation_take_unix(const struct uds_addr *addr, struct uds_listener *ret_listener) {
    int fd, r = take_bound(bound_to_unix, addr, &fd);

    if (r <= 0)
        return r;
    return uds_listener_adopt(fd, ret_listener) < 0 ? -1 : 1;
}

int cli_activation_take_inet(const struct sockaddr *sa, int *ret_fd) {
    return take_bound(bound_to_inet, sa, ret_fd);
}

/* ---- listening ------------------------------------------------------------------------- */

/* The systemd.socket(5) setting that makes a socket of this type. */
static const char *unit_setting(enum uds_socket_type type) {
    switch (type) {
    case UDS_STREAM: return "ListenStream";
    case UDS_SEQPACKET: return "ListenSequentialPacket";
    case UDS_DGRAM: return "ListenDatagram";
    }
    return "Listen";
}

int cli_listen_refuse_leftover(const char *address) {
    struct uds_swap_leftover left;

    if (uds_swap_find_leftover(address, &left) != 1)
        return CLI_CONTINUE;
    if (left.running) {
        cli_error(address, "stop that one first",
                  "already tapped by process %ld (its server is at %s)", (long) left.pid,
                  left.hidden_path);
        return EX_UNAVAILABLE;
    }
    if (left.hidden_live) {
        cli_error(address, NULL, "a tap (pid %ld) that is gone left the server's socket at "
                  "%s; put it back with: mv -T '%s' '%s'", (long) left.pid, left.hidden_path,
                  left.hidden_path, address);
        return EX_UNAVAILABLE;
    }
    cli_log(CLI_LOG_WARN, "leftover", address, NULL, 0, "%s: %s is the socket of a tap (pid "
            "%ld) that is gone; nothing listens there: remove it with rm '%s'", address,
            left.hidden_path, (long) left.pid, left.hidden_path);
    return CLI_CONTINUE;
}

/* A socket passed by the service manager for the address, in *l (text: its address):
 * checked for type, made non-blocking, and the options it ignores named. Returns
 * CLI_CONTINUE, or the exit code with *l closed. */
static int use_activated(const char *cmd, const struct cli_listen_opts *o, const char *given,
                         enum uds_socket_type type, const char *type_hint,
                         struct uds_listener *l, const char *text) {
    if (l->type != type) {
        const char *have = uds_socket_type_name(l->type);
        (void) uds_unlisten(l);     /* only closes it: an adopted socket's file is not ours */
        if (type_hint)
            return cli_usage(cmd, "%s: the socket passed by the service manager is %s, not "
                             "%s; e.g. %s %s", text, have, uds_socket_type_name(type),
                             type_hint, have);
        return cli_usage(cmd, "%s: the socket passed by the service manager is %s; a %s "
                         "socket is needed (%s= in a .socket unit)", text, have,
                         uds_socket_type_name(type), unit_setting(type));
    }
    /* The service manager's socket may be blocking; the loop must never wait in accept. */
    if (uds_set_nonblock(l->fd, true) < 0) {
        int e = errno;
        (void) uds_unlisten(l);
        return cli_fail(CLI_OP_LISTEN, given, e, NULL);
    }
    cli_log(CLI_LOG_INFO, "activated", text, NULL, 0, "%s: using the socket passed by "
            "the service manager (LISTEN_FDS)", text);
    /* The manager made the file: changing it behind its back would be undone at its
     * next start, so say where the setting belongs instead. */
    if (o->mode_given || o->owner_given || o->group_given)
        cli_log(CLI_LOG_WARN, "activated", text, NULL, 0, "%s: --mode/--owner/--group "
                "are not applied to a socket passed by the service manager; set "
                "SocketMode=, SocketUser= and SocketGroup= in its .socket unit", text);
    if (o->backlog_given)
        cli_log(CLI_LOG_WARN, "activated", text, NULL, 0, "%s: --backlog is not applied "
                "to a socket passed by the service manager; set Backlog= in its .socket "
                "unit", text);
    return CLI_CONTINUE;
}

int cli_listen_unix(const char *cmd, const struct cli_listen_opts *o, const char *given,
                    const struct uds_addr *addr, enum uds_socket_type type,
                    const char *type_hint, struct uds_listener *ret_listener,
                    char *ret_text, size_t text_size) {
    struct uds_listen_opts lopts = {
        .type = type,
        .backlog = (int) o->backlog,
        .mode = o->mode,
        .owner = o->owner,
        .group = o->group,
        /* The mode as given (or our 0600), 0000 included. */
        .flags = UDS_LISTEN_NONBLOCK | UDS_LISTEN_SET_MODE |
                 (o->owner_given ? UDS_LISTEN_SET_OWNER : 0u) |
                 (o->group_given ? UDS_LISTEN_SET_GROUP : 0u),
    };
    struct uds_listen_info info = { .removed_stale = false };
    struct uds_listener l;
    const char *file_opt = o->mode_given ? o->mode_given : o->owner_given ? o->owner_given :
                           o->group_given;
    int r;

    /* An abstract socket has no file: the options would be ignored, and a server thought
     * restricted would be open to the whole network namespace. */
    if (addr->kind == UDS_ADDR_ABSTRACT && file_opt)
        return cli_usage(cmd, "%s: %s is an abstract address, with no file to set it on; "
                         "restrict clients with --allow-uid/--allow-gid", file_opt, given);
    uds_listener_init(&l);
    r = cli_activation_take_unix(addr, &l);
    if (r < 0)
        return cli_fail(CLI_OP_LISTEN, given, errno, NULL);
    if (r == 1) {
        uds_addr_format(&l.addr, ret_text, text_size);
        r = use_activated(cmd, o, given, type, type_hint, &l, ret_text);
        if (r == CLI_CONTINUE)
            *ret_listener = l;
        return r;
    }
    if (type != UDS_DGRAM)
        cli_backlog_warn_cap(o->backlog, given);
    if (addr->kind == UDS_ADDR_PATH && (r = cli_listen_refuse_leftover(given)) != CLI_CONTINUE)
        return r;
    if (uds_listen_addr(addr, &lopts, &l, &info) < 0) {
        struct cli_fail_info fi = {
            .holder_pid = info.holder_pid,
            .lock_failed = info.lock_failed,
        };
        return cli_fail(CLI_OP_LISTEN, given, errno, &fi);
    }
    uds_addr_format(&l.addr, ret_text, text_size);
    if (info.removed_stale)
        cli_log(CLI_LOG_INFO, "stale_removed", ret_text, NULL, 0, "%s: removed stale socket "
                "file (no server was listening)", ret_text);
    *ret_listener = l;
    return CLI_CONTINUE;
}

/* ---- process setup, readiness, logs ----------------------------------------------------- */

void cli_raise_nofile(const struct cli_listen_opts *o, unsigned fds_per_conn, unsigned margin) {
    struct rlimit rl;
    unsigned long long need = (unsigned long long) fds_per_conn *
                              (unsigned long long) o->max_conns + margin;
    const char *each = fds_per_conn == 2 ? " (two per connection)" : "";

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    if (rl.rlim_max != RLIM_INFINITY && need > rl.rlim_max) {
        cli_log(CLI_LOG_WARN, "limit", NULL, NULL, 0, "--max-conns %ld needs about %llu open "
                "files%s but the hard limit is %llu; raise it (ulimit -Hn, LimitNOFILE=) or "
                "lower --max-conns", o->max_conns, need, each,
                (unsigned long long) rl.rlim_max);
    } else if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
        cli_log(CLI_LOG_WARN, "limit", NULL, NULL, 0, "--max-conns %ld needs about %llu open "
                "files%s but only %llu are allowed (ulimit -n); raise it or lower --max-conns",
                o->max_conns, need, each, (unsigned long long) rl.rlim_cur);
    }
}

void cli_warn_open_access(const struct cli_listen_opts *o, const char *text, bool abstract) {
    struct uds_allow allow = cli_listen_opts_allow(o);

    if (abstract && !uds_allow_is_set(&allow))
        cli_log(CLI_LOG_WARN, "open_access", text, NULL, 0, "%s: an abstract socket has no file "
                "permissions: anyone in this network namespace can connect; restrict it with "
                "--allow-uid/--allow-gid", text);
}

void cli_log_accept_error(struct cli_accept_errors *errs, const char *text, int err) {
    uint64_t now = cli_now_ms();

    if (errs->logged_ms && now - errs->logged_ms < 1000) {
        errs->unlogged++;
        return;
    }
    cli_log(CLI_LOG_WARN, "accept_error", text, NULL, 0, "%s: shed a client: %s%s; raise the "
            "open-file limit (ulimit -n) or lower --max-conns", text, strerror(err),
            errs->unlogged ? " (and more since the last report)" : "");
    errs->logged_ms = now;
    errs->unlogged = 0;
}
