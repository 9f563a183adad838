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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "listen_opts.h"

/* ---- options --------------------------------------------------------------------------- */

void cli_listen_opts_init(struct cli_listen_opts *opts) {
    *opts = (struct cli_listen_opts){
        .mode = 0600,
        .max_conns = 1024,
        .drain_ms = 10000,
        .first_byte_ms = CLI_NOT_GIVEN,
        .ready_fd = -1,
    };
}

void cli_listen_opts_done(struct cli_listen_opts *opts) {
    free(opts->allow_uids);
    free(opts->allow_gids);
    opts->allow_uids = NULL;
    opts->allow_gids = NULL;
    opts->n_allow_uids = opts->n_allow_gids = 0;
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

static int parse_ready_fd(struct cli_listen_opts *o, const char *cmd, const char *arg) {
    char buf[160];
    const char *problem;
    long fd;

    if (cli_parse_long(arg, 0, INT32_MAX, &fd) < 0)
        problem = "not an open file descriptor";
    else
        problem = ready_fd_problem(fd, buf, sizeof(buf));
    if (problem) {
        cli_usage(cmd, "--ready-fd: '%s' is %s; e.g. --ready-fd 3 3>ready", arg, problem);
        return -1;
    }
    o->ready_fd = fd;
    return 1;
}

int cli_listen_opts_parse(struct cli_listen_opts *o, const char *cmd, int c, const char *arg) {
    char bad[256];

    switch (c) {
    case 'm':
        if (cli_parse_mode(arg, &o->mode) < 0) {
            cli_usage(cmd, "--mode: '%s' is not an octal mode; e.g. --mode 0660", arg);
            return -1;
        }
        o->mode_set = true;
        return 1;
    case 'o':
        if (cli_parse_user(arg, &o->owner) < 0) {
            cli_usage(cmd, "--owner: '%s' is not a user; e.g. --owner www-data or --owner 33",
                      arg);
            return -1;
        }
        o->set_owner = true;
        return 1;
    case 'g':
        if (cli_parse_group(arg, &o->group) < 0) {
            cli_usage(cmd, "--group: '%s' is not a group; e.g. --group www-data or --group 33",
                      arg);
            return -1;
        }
        o->set_group = true;
        return 1;
    case CLI_OPT_ALLOW_UID:
        /* The last one given counts, as for every other option. */
        free(o->allow_uids);
        o->allow_uids = NULL;
        o->n_allow_uids = 0;
        if (cli_parse_uid_list(arg, &o->allow_uids, &o->n_allow_uids, bad, sizeof(bad)) < 0) {
            cli_usage(cmd, "--allow-uid: '%s' is not a user; e.g. --allow-uid root,1000", bad);
            return -1;
        }
        return 1;
    case CLI_OPT_ALLOW_GID:
        free(o->allow_gids);
        o->allow_gids = NULL;
        o->n_allow_gids = 0;
        if (cli_parse_gid_list(arg, &o->allow_gids, &o->n_allow_gids, bad, sizeof(bad)) < 0) {
            cli_usage(cmd, "--allow-gid: '%s' is not a group; e.g. --allow-gid adm,1000", bad);
            return -1;
        }
        return 1;
    case 'c':
        if (cli_parse_long(arg, 1, 1L << 24, &o->max_conns) < 0) {
            cli_usage(cmd, "--max-conns: '%s' is not a number from 1 to %ld; e.g. --max-conns "
                      "100", arg, 1L << 24);
            return -1;
        }
        return 1;
    case CLI_OPT_MAX_PER_UID:
        if (cli_parse_long(arg, 1, 1L << 24, &o->max_per_uid) < 0) {
            cli_usage(cmd, "--max-conns-per-uid: '%s' is not a number from 1 to %ld; e.g. "
                      "--max-conns-per-uid 10", arg, 1L << 24);
            return -1;
        }
        return 1;
    case CLI_OPT_IDLE_TIMEOUT:
        if (cli_parse_duration_ms(arg, &o->idle_ms) < 0) {
            cli_usage(cmd, "--idle-timeout: '%s' is not a duration in seconds; e.g. "
                      "--idle-timeout 30", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_DRAIN_TIMEOUT:
        if (cli_parse_duration_ms(arg, &o->drain_ms) < 0) {
            cli_usage(cmd, "--drain-timeout: '%s' is not a duration in seconds; e.g. "
                      "--drain-timeout 2.5", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_FIRST_BYTE_TIMEOUT:
        /* "none" says what 0 does, for a reader who would take 0 for "at once". */
        if (strcmp(arg, "none") == 0) {
            o->first_byte_ms = 0;
        } else if (cli_parse_duration_ms(arg, &o->first_byte_ms) < 0) {
            cli_usage(cmd, "--first-byte-timeout: '%s' is not a duration in seconds; e.g. "
                      "--first-byte-timeout 10, or none", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_READY_FD:
        return parse_ready_fd(o, cmd, arg);
    case CLI_OPT_LOG:
        if (strcmp(arg, "json") == 0) {
            o->json = true;
        } else if (strcmp(arg, "text") == 0) {
            o->json = false;
        } else {
            cli_usage(cmd, "--log: '%s' is not a log format; e.g. --log json", arg);
            return -1;
        }
        return 1;
    case 'q':
        o->verbosity = -1;
        return 1;
    case 'v':
        o->verbosity = 1;
        return 1;
    }
    return 0;
}

const char *cli_listen_opts_unix_only(const struct cli_listen_opts *o) {
    return o->mode_set ? "--mode" : o->set_owner ? "--owner" : o->set_group ? "--group" :
           o->n_allow_uids ? "--allow-uid" : o->n_allow_gids ? "--allow-gid" :
           o->max_per_uid ? "--max-conns-per-uid" : NULL;
}

/* ---- one user's share of the slots ----------------------------------------------------- */

int cli_listen_opts_check_per_uid(const struct cli_listen_opts *o, const char *cmd) {
    if (o->max_per_uid > o->max_conns)
        return cli_usage(cmd, "--max-conns-per-uid %ld is more than --max-conns %ld; up to "
                         "--max-conns %ld (which lets one user take every slot)",
                         o->max_per_uid, o->max_conns, o->max_conns);
    return -1;
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
    return o->first_byte_ms == CLI_NOT_GIVEN ? default_ms : o->first_byte_ms;
}

void cli_listen_opts_log_setup(const struct cli_listen_opts *o) {
    cli_log_setup(o->verbosity, o->json);
}

struct uds_allow cli_listen_opts_allow(const struct cli_listen_opts *o) {
    return (struct uds_allow){
        .uids = o->allow_uids,
        .n_uids = o->n_allow_uids,
        .gids = o->allow_gids,
        .n_gids = o->n_allow_gids,
    };
}

unsigned cli_listen_opts_peer_flags(const struct cli_listen_opts *o) {
    return o->n_allow_gids > 0 ? UDS_PEER_GROUPS : 0u;
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

int cli_listen_unix(const char *cmd, const struct cli_listen_opts *o, const char *given,
                    const struct uds_addr *addr, enum uds_socket_type type,
                    const char *type_hint, struct uds_listener *ret_listener,
                    char *ret_text, size_t text_size) {
    struct uds_listen_opts lopts = {
        .type = type,
        .mode = o->mode,
        .owner = o->owner,
        .group = o->group,
        /* The mode as given (or our 0600), 0000 included. */
        .flags = UDS_LISTEN_NONBLOCK | UDS_LISTEN_SET_MODE |
                 (o->set_owner ? UDS_LISTEN_SET_OWNER : 0u) |
                 (o->set_group ? UDS_LISTEN_SET_GROUP : 0u),
    };
    struct uds_listen_info info = { .removed_stale = false };
    struct uds_listener l;
    int r;

    /* An abstract socket has no file: the options would be ignored, and a server thought
     * restricted would be open to the whole network namespace. */
    if (addr->kind == UDS_ADDR_ABSTRACT && (o->mode_set || o->set_owner || o->set_group))
        return cli_usage(cmd, "%s: %s is an abstract address, with no file to set it on; "
                         "restrict clients with --allow-uid/--allow-gid",
                         o->mode_set ? "--mode" : o->set_owner ? "--owner" : "--group", given);
    uds_listener_init(&l);
    r = cli_activation_take_unix(addr, &l);
    if (r < 0)
        return cli_fail(CLI_OP_LISTEN, given, errno, NULL);
    if (r == 1) {
        uds_addr_format(&l.addr, ret_text, text_size);
        if (l.type != type) {
            const char *have = uds_socket_type_name(l.type);
            (void) uds_unlisten(&l);    /* only closes it: an adopted socket's file is not ours */
            if (type_hint)
                return cli_usage(cmd, "%s: the socket passed by the service manager is %s, not "
                                 "%s; e.g. %s %s", ret_text, have, uds_socket_type_name(type),
                                 type_hint, have);
            return cli_usage(cmd, "%s: the socket passed by the service manager is %s; a %s "
                             "socket is needed (%s= in a .socket unit)", ret_text, have,
                             uds_socket_type_name(type), unit_setting(type));
        }
        /* The service manager's socket may be blocking; the loop must never wait in accept. */
        if (uds_set_nonblock(l.fd, true) < 0) {
            int e = errno;
            (void) uds_unlisten(&l);
            return cli_fail(CLI_OP_LISTEN, given, e, NULL);
        }
        cli_log(CLI_LOG_INFO, "activated", ret_text, NULL, 0, "%s: using the socket passed by "
                "the service manager (LISTEN_FDS)", ret_text);
        /* The manager made the file: changing it behind its back would be undone at its
         * next start, so say where the setting belongs instead. */
        if (o->mode_set || o->set_owner || o->set_group)
            cli_log(CLI_LOG_WARN, "activated", ret_text, NULL, 0, "%s: --mode/--owner/--group "
                    "are not applied to a socket passed by the service manager; set "
                    "SocketMode=, SocketUser= and SocketGroup= in its .socket unit", ret_text);
        *ret_listener = l;
        return -1;
    }
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
    return -1;
}

/* ---- process setup, readiness, logs ----------------------------------------------------- */

/* The limit as it was before cli_raise_nofile() raised it, for the programs we start. */
static struct rlimit nofile_before;
static bool nofile_raised;

int cli_nofile_before_raise(struct rlimit *ret_limit) {
    if (!nofile_raised)
        return 0;
    *ret_limit = nofile_before;
    return 1;
}

void cli_raise_nofile(const struct cli_listen_opts *o, unsigned fds_per_conn, unsigned margin) {
    struct rlimit rl;
    unsigned long long need = (unsigned long long) fds_per_conn *
                              (unsigned long long) o->max_conns + margin;
    const char *each = fds_per_conn == 2 ? " (two per connection)" : "";

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            nofile_before = rl;
            nofile_raised = true;
            rl = want;
        }
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

void cli_notify(const char *state) {
    if (uds_notify(state) < 0)
        cli_log(CLI_LOG_WARN, "notify", NULL, NULL, 0, "NOTIFY_SOCKET=%s: cannot send %s: %s",
                getenv("NOTIFY_SOCKET"), state, strerror(errno));
}

void cli_signal_ready(const struct cli_listen_opts *o, const char *text) {
    if (o->ready_fd >= 0) {
        int fd = (int) o->ready_fd;
        if (write(fd, "\n", 1) != 1)
            cli_log(CLI_LOG_WARN, "ready_fd", text, NULL, 0, "--ready-fd %d: cannot write: %s",
                    fd, strerror(errno));
        (void) close(fd);   /* the close is the rest of the signal; nothing to retry */
    }
    cli_notify("READY=1");
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
