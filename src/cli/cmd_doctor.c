/* SPDX-License-Identifier: MIT */
/*
 * cmd_doctor.c — `uds doctor ADDRESS`: explain, in plain sentences with what to do, why the
 * caller can or cannot connect to a Unix socket: missing or unsearchable directories, a path
 * that is not a socket, a stale socket (and its lock file), the live listener (process,
 * since when), write permission, a full backlog, a path too long for sun_path, an abstract
 * name, a path deleted or replaced under its listener. It looks (the path's facts from
 * uds_pathinfo_get(), sock_diag, /proc) and, when nothing stands in the way, connects once
 * to confirm; it never removes anything. The words are here, the facts in the library.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_FINDINGS 24
/* The test connection gives up after this long (a listener that does not accept). */
#define PROBE_TIMEOUT_MS 1000

enum severity { SEV_INFO, SEV_WARNING, SEV_ERROR };

struct finding {
    const char *code;
    enum severity severity;
    int exit_code;          /* what `doctor` exits with if this is the first error */
    char *message;
    char *advice;           /* NULL for none */
};

struct doctor {
    const char *address;
    struct uds_addr addr;
    bool json;
    bool no_connect;
    struct finding findings[MAX_FINDINGS];
    size_t n;
    bool blocked;           /* an error finding says the caller cannot connect */
    struct uds_pathinfo pi; /* the facts at a path address */
    struct uds_socklist socks;
    bool have_socks;
    struct uds_procfd_list procs;
    bool have_procs;
    char abs[PATH_MAX + UDS_PATH_MAX + 2];      /* the path made absolute, as given */
    char canon[PATH_MAX + UDS_PATH_MAX + 2];    /* ... with its directory's symlinks resolved */
};

static void doctor_usage(FILE *out) {
    fprintf(out,
            "Usage: uds doctor [OPTIONS] ADDRESS\n"
            "\n"
            "Explain why the Unix socket at ADDRESS does or does not work for you, in plain\n"
            "sentences, each with what to do: whether the path and its directories exist and\n"
            "you may search them, whether it is a socket, its mode, owner and group, whether\n"
            "you may write to it, whether anything listens (which process, since when) or the\n"
            "socket is stale (and who holds its lock file), whether the listener's backlog is\n"
            "full, whether the path was deleted or replaced under its listener, and what an\n"
            "abstract name or a path longer than sun_path means. When nothing stands in the\n"
            "way it connects once to confirm, and closes at once. It never removes anything.\n"
            "\n"
            "Options:\n"
            "      --json        one JSON object: address, ok, exit and findings\n"
            "                    [{code, severity, message, advice}]\n"
            "      --no-connect  only look; do not make the confirming connection\n"
            "  -h, --help        show this help\n"
            "\n"
            "ADDRESS is a path, @abstract, unix:PATH or unix:@name.\n"
            "\n"
            "Exit status: 0 you can connect, 1 failure, 64 usage error, 69 nothing listens\n"
            "(no such socket, stale socket, deleted or replaced path), 73 the path is not a\n"
            "socket or a directory is missing, 75 the listener's backlog is full, 77 permission\n"
            "denied (a directory or the socket).\n");
}

/* ---- findings ------------------------------------------------------------------------- */

__attribute__((format(printf, 6, 7)))
static void add(struct doctor *d, const char *code, enum severity sev, int exit_code,
                const char *advice, const char *fmt, ...) {
    struct finding *f;
    va_list ap;

    if (d->n == MAX_FINDINGS)
        return;
    f = &d->findings[d->n++];
    f->code = code;
    f->severity = sev;
    f->exit_code = sev == SEV_ERROR ? exit_code : 0;
    va_start(ap, fmt);
    if (vasprintf(&f->message, fmt, ap) < 0)
        f->message = NULL;
    va_end(ap);
    f->advice = advice ? strdup(advice) : NULL;
    if (!f->message || (advice && !f->advice)) {
        fprintf(stderr, "uds: out of memory\n");
        exit(CLI_EXIT_FAILURE);
    }
    if (sev == SEV_ERROR)
        d->blocked = true;
}

/* ---- words for people ----------------------------------------------------------------- */

/* "uid 65534 (nobody), group nogroup", "uid 1000 (ann), groups ann, wheel" */
static void describe_me(char *buf, size_t size) {
    gid_t groups[NGROUPS_MAX];
    char user[256], name[256];
    size_t o = 0;
    int n = getgroups(NGROUPS_MAX, groups), others = 0;

    for (int i = 0; i < n; i++)
        others += groups[i] != getegid();
    cli_user_name(geteuid(), user, sizeof(user));
    cli_group_name(getegid(), name, sizeof(name));
    buf[0] = '\0';
    cli_append(buf, size, &o, "uid %u (%s), group%s %s", (unsigned) geteuid(), user,
           others ? "s" : "", name);
    for (int i = 0; i < n; i++) {
        if (groups[i] == getegid())
            continue;
        cli_group_name(groups[i], name, sizeof(name));
        cli_append(buf, size, &o, ", %s", name);
    }
}

/* Why the class of permission bits that applies to the caller is the one it is. */
static const char *perm_why(enum uds_perm_class class) {
    switch (class) {
    case UDS_PERM_OWNER: return "you are its owner";
    case UDS_PERM_GROUP: return "you are in its group";
    default: return "you are neither its owner nor in its group, so the 'other' bits apply";
    }
}

/* "nginx (pid 4242, running since 2026-11-24 09:12:00)", or "a process you may not see".
 * Returns false when no holder is visible. */
static bool describe_holder(const struct doctor *d, ino_t inode, char *buf, size_t size) {
    const struct uds_procfd *p = NULL;
    size_t n = d->have_procs ? uds_procfd_find(&d->procs, inode, &p) : 0, distinct = 0;
    time_t started;
    struct tm tm;
    char when[64] = "";

    if (n == 0) {
        if (d->have_procs && d->procs.n_denied > 0 && geteuid() != 0)
            snprintf(buf, size, "a process you may not see");
        else
            snprintf(buf, size, "a process not visible here (in another PID namespace?)");
        return false;
    }
    for (size_t k = 0; k < n; k++)
        distinct += k == 0 || p[k].pid != p[k - 1].pid;
    if (uds_proc_start_time(p[0].pid, &started) == 0 && localtime_r(&started, &tm))
        strftime(when, sizeof(when), ", running since %Y-%m-%d %H:%M:%S", &tm);
    if (distinct > 1)
        snprintf(buf, size, "%s (pid %d%s) and %zu other process%s", p[0].command,
                 (int) p[0].pid, when, distinct - 1, distinct > 2 ? "es" : "");
    else
        snprintf(buf, size, "%s (pid %d%s)", p[0].command, (int) p[0].pid, when);
    return true;
}

/* ---- sockets from the dump ------------------------------------------------------------ */

static bool accepts(const struct uds_sockinfo *s) {
    return s->state == UDS_SOCK_LISTENING ||
           (s->type == UDS_DGRAM && s->state == UDS_SOCK_UNCONNECTED);
}

/* Whether s was bound with the name d->abs (or its canonical form), relative names
 * resolved through a holder's directory. */
static bool bound_here(const struct doctor *d, const struct uds_sockinfo *s) {
    const struct uds_procfd *p;
    char resolved[PATH_MAX + UDS_SUN_PATH_MAX + 2];
    size_t n;

    if (s->name_kind != UDS_ADDR_PATH)
        return false;
    if (s->name[0] == '/')
        return strcmp(s->name, d->abs) == 0 || strcmp(s->name, d->canon) == 0;
    n = d->have_procs ? uds_procfd_find(&d->procs, s->inode, &p) : 0;
    for (size_t k = 0; k < n; k++)
        if (uds_sockinfo_resolve(s, p[k].pid, resolved, sizeof(resolved)) >= 0 &&
            resolved[0] == '/') {
            /* resolve() writes the path even when it no longer names the socket. */
            return strcmp(resolved, d->abs) == 0 || strcmp(resolved, d->canon) == 0;
        }
    return false;
}

/* The socket that serves the file f, if any. */
static const struct uds_sockinfo *server_of_file(const struct doctor *d,
                                                 const struct uds_file *f) {
    for (size_t i = 0; i < d->socks.n; i++) {
        const struct uds_sockinfo *s = &d->socks.socks[i];
        if ((s->has & UDS_SOCKINFO_FILE) && s->file_dev == f->dev && s->file_ino == f->ino &&
            accepts(s))
            return s;
    }
    return NULL;
}

/* A listener that was bound at this path but that the path no longer leads to. */
static const struct uds_sockinfo *orphan_listener(const struct doctor *d,
                                                  enum uds_path_status want) {
    for (size_t i = 0; i < d->socks.n; i++) {
        const struct uds_sockinfo *s = &d->socks.socks[i];
        if (accepts(s) && bound_here(d, s) && uds_sockinfo_path_status(s, d->abs) == want)
            return s;
    }
    return NULL;
}

static const struct uds_sockinfo *server_of_abstract(const struct doctor *d) {
    for (size_t i = 0; i < d->socks.n; i++) {
        const struct uds_sockinfo *s = &d->socks.socks[i];
        if (s->name_kind == UDS_ADDR_ABSTRACT && s->name_len == d->addr.len &&
            memcmp(s->name, d->addr.name, s->name_len) == 0 && accepts(s))
            return s;
    }
    return NULL;
}

/* ---- the checks ----------------------------------------------------------------------- */

static void check_listener(struct doctor *d, const struct uds_sockinfo *s) {
    char who[512], what[160], uid[64] = "";
    bool visible = describe_holder(d, s->inode, who, sizeof(who));

    if (s->has & UDS_SOCKINFO_UID)
        snprintf(uid, sizeof(uid), ", created by uid %lu", (unsigned long) s->uid);
    if (s->state == UDS_SOCK_LISTENING)
        snprintf(what, sizeof(what), "a %s listener, backlog %lu",
                 uds_socket_type_name(s->type), (unsigned long) s->send_q);
    else
        snprintf(what, sizeof(what), "a bound %s socket", uds_socket_type_name(s->type));
    add(d, "listening", SEV_INFO, 0, NULL, "It is served by %s%s: %s, socket inode %lu%s.", who,
        visible || geteuid() == 0 ? "" : " (run as root to see which)", what,
        (unsigned long) s->inode, uid);
    /* Found by file identity: the file may have been moved or linked here since. */
    if (d->addr.kind == UDS_ADDR_PATH && s->name_kind == UDS_ADDR_PATH && s->name[0] == '/' &&
        strncmp(s->name, "/proc/self/", 11) != 0 && strcmp(s->name, d->abs) != 0 &&
        strcmp(s->name, d->canon) != 0)
        add(d, "bound-elsewhere", SEV_INFO, 0, NULL,
            "That socket was bound as %s; its file was moved or hard-linked here since.",
            s->name);
}

static void check_backlog(struct doctor *d, const struct uds_sockinfo *s) {
    if (s->state != UDS_SOCK_LISTENING || !(s->has & UDS_SOCKINFO_QUEUES))
        return;
    /* The kernel refuses a new connection once more than the backlog are waiting. */
    if (s->recv_q > s->send_q)
        add(d, "backlog-full", SEV_ERROR, EX_TEMPFAIL,
            "The server is not accepting fast enough, or is stuck: look at the process above. "
            "A larger backlog (listen(2), net.core.somaxconn) only buys time.",
            "Its backlog is full: %lu connections wait to be accepted and the backlog is %lu, "
            "so a new connection waits (or fails with EAGAIN if non-blocking) until the server "
            "accepts one.", (unsigned long) s->recv_q, (unsigned long) s->send_q);
    else if (s->recv_q > 0)
        add(d, "backlog-waiting", SEV_INFO, 0, NULL,
            "%lu connection%s wait%s to be accepted (backlog %lu).", (unsigned long) s->recv_q,
            s->recv_q == 1 ? "" : "s", s->recv_q == 1 ? "s" : "", (unsigned long) s->send_q);
}

/* The directory on the way that the caller may not search. */
static void check_dir_search(struct doctor *d) {
    const struct uds_pathinfo *pi = &d->pi;
    char desc[600], me[1024], group[256], *advice = NULL;

    cli_describe_file(&pi->dir_file, desc, sizeof(desc));
    describe_me(me, sizeof(me));
    cli_group_name(pi->dir_file.gid, group, sizeof(group));
    if (asprintf(&advice,
                 "Ask the owner of %s to let you through (chmod o+x %s, or add you to group %s "
                 "and chmod g+x %s), or run as a user who may. The socket's own mode does not "
                 "help while a directory blocks the way.", pi->dir, pi->dir, group,
                 pi->dir) < 0)
        advice = NULL;
    add(d, "dir-not-searchable", SEV_ERROR, EX_NOPERM, advice,
        "You cannot reach the socket: the directory %s is %s and you (%s) may not search it "
        "(%s).", pi->dir, desc, me, perm_why(pi->dir_file.perm));
    free(advice);
}

/* The directories leading to the path. Returns false when one blocks the way. */
static bool check_dirs(struct doctor *d) {
    const struct uds_pathinfo *pi = &d->pi;

    switch (pi->dir_problem) {
    case UDS_DIR_OK:
    case UDS_DIR_NO_WRITE:      /* asked only of a path to create */
        return true;
    case UDS_DIR_MISSING:
        add(d, "dir-missing", SEV_ERROR, EX_CANTCREAT,
            "Check the path; if it is right, the server has not created its directory yet: "
            "start it (or create the directory with the owner and mode it expects).",
            "The directory %s does not exist.", pi->dir);
        break;
    case UDS_DIR_NOT_DIR:
        if (pi->dir_file.kind == UDS_FILE_NONE)
            add(d, "not-a-directory", SEV_ERROR, EX_CANTCREAT, "Check the path.",
                "%s is not a directory, so nothing can be under it.", pi->dir);
        else
            add(d, "not-a-directory", SEV_ERROR, EX_CANTCREAT, "Check the path.",
                "%s is %s, not a directory, so nothing can be under it.", pi->dir,
                cli_file_kind(pi->dir_file.kind));
        break;
    case UDS_DIR_NO_SEARCH:
        check_dir_search(d);
        break;
    case UDS_DIR_ERROR:
        add(d, "dir-unreadable", SEV_ERROR, CLI_EXIT_FAILURE, "Check the path.",
            "Cannot examine the directory %s: %s.", pi->dir, strerror(pi->dir_errno));
        break;
    }
    return false;
}

/* Whether pid holds a listener bound at this path (one the path may no longer reach). */
static bool holds_listener_here(const struct doctor *d, pid_t pid) {
    for (size_t i = 0; i < d->socks.n; i++) {
        const struct uds_sockinfo *s = &d->socks.socks[i];
        const struct uds_procfd *p;
        size_t n;

        if (!accepts(s) || !bound_here(d, s))
            continue;
        n = d->have_procs ? uds_procfd_find(&d->procs, s->inode, &p) : 0;
        for (size_t k = 0; k < n; k++)
            if (p[k].pid == pid)
                return true;
    }
    return false;
}

static void check_lock(struct doctor *d, const char *path) {
    char lock[UDS_LOCK_PATH_MAX + 1], who[512];
    pid_t pid = 0;
    int r;

    if (uds_lock_path(path, lock, sizeof(lock)) < 0)
        return;
    r = uds_flock_holder(lock, &pid);
    if (r < 0)
        return;     /* no lock file: nothing to say */
    if (r == 0) {
        add(d, "lock-abandoned", SEV_INFO, 0,
            "Nothing to do about it: the next uds serve (or libudskit listener) takes it "
            "over.",
            "Its lock file %s exists but nobody holds it: the server that made both exited "
            "without cleaning up (it was killed or crashed).", lock);
        return;
    }
    if (pid > 0) {
        char comm_path[64], comm[64] = "?";
        FILE *fp;
        snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", (int) pid);
        fp = fopen(comm_path, "re");
        if (fp) {
            if (fgets(comm, sizeof(comm), fp))
                comm[strcspn(comm, "\n")] = '\0';
            fclose(fp);
        }
        snprintf(who, sizeof(who), "%s (pid %d)", comm, (int) pid);
    } else {
        snprintf(who, sizeof(who), "a process outside your PID namespace");
    }
    if (pid > 0 && holds_listener_here(d, pid)) {
        add(d, "lock-held", SEV_INFO, 0,
            "Stop that server before starting another on this path: the new one would "
            "refuse to start (address in use) while the lock is held.",
            "Its lock file %s is still held by that same server, %s.", lock, who);
        return;
    }
    add(d, "lock-held", SEV_WARNING, 0,
        "Wait a moment and check again; if it stays like this, look at that process: it may "
        "be hung before listening.",
        "Its lock file %s is held by %s: a server is starting on this path, or is stuck "
        "before listening.", lock, who);
}

static void check_replaced(struct doctor *d) {
    const struct uds_sockinfo *s = orphan_listener(d, UDS_PATH_REPLACED);
    char who[512];

    if (!s)
        return;
    describe_holder(d, s->inode, who, sizeof(who));
    add(d, "path-replaced", SEV_ERROR, EX_UNAVAILABLE,
        "Restart that server so it binds the path again (remove the file now at the path "
        "first if it is stale or not a socket).",
        "A server, %s, listens on a socket that was bound at this path, but the path has "
        "been replaced since: it now names another file, so that server is unreachable by "
        "path.", who);
}

static void check_stale(struct doctor *d, const char *path) {
    char *advice = NULL;

    if (asprintf(&advice, "Start the server: uds serve and libudskit listeners replace a "
                 "stale socket by themselves. Or remove the file: rm %s", path) < 0)
        advice = NULL;
    add(d, "stale", SEV_ERROR, EX_UNAVAILABLE, advice,
        "Nothing listens on it: the socket file is stale, left by a server that exited "
        "without removing it. Connecting gets \"Connection refused\".");
    free(advice);
    check_replaced(d);
    check_lock(d, path);
}

static void check_write(struct doctor *d) {
    const struct uds_file *sock = &d->pi.target;
    char desc[600], me[1024], group[256], *advice = NULL;

    if (d->pi.may_write)
        return;
    cli_describe_file(sock, desc, sizeof(desc));
    describe_me(me, sizeof(me));
    cli_group_name(sock->gid, group, sizeof(group));
    if (asprintf(&advice,
                 "Ask for access: the server can give its socket a group you are in and mode "
                 "0660 (uds serve --group %s --mode 0660, and add yourself to %s), or mode "
                 "0666 for everyone; or run as the socket's owner or root.",
                 sock->gid == 0 ? "GROUP" : group, sock->gid == 0 ? "GROUP" : group) < 0)
        advice = NULL;
    add(d, "no-write-permission", SEV_ERROR, EX_NOPERM, advice,
        "You may not connect: connecting needs write permission on the socket, which is %s, "
        "and you (%s) have none (%s).", desc, me, perm_why(sock->perm));
    free(advice);
}

/* Nothing at the path: deleted under its listener, or never made. */
static void check_missing(struct doctor *d, const char *path) {
    const struct uds_sockinfo *s = orphan_listener(d, UDS_PATH_MISSING);
    char who[512];

    if (s) {
        describe_holder(d, s->inode, who, sizeof(who));
        add(d, "path-deleted", SEV_ERROR, EX_UNAVAILABLE,
            "Restart the server so it creates the file again (and find out what deleted it: "
            "a cleanup job, or a second instance stopping?).",
            "There is no file at this path, but %s still listens on a socket bound here: its "
            "file was deleted, so it is unreachable by path.", who);
    } else {
        add(d, "path-missing", SEV_ERROR, EX_UNAVAILABLE,
            "Start the server, or check the path: is the server configured for another one?",
            "There is no socket at this path (nothing exists there).");
    }
    check_lock(d, path);
}

/* A symlink at the path: followed, or why it cannot be. Returns false when it cannot. */
static bool check_symlink(struct doctor *d) {
    const struct uds_pathinfo *pi = &d->pi;
    int e = pi->target_errno;

    if (e == 0) {
        add(d, "symlink", SEV_INFO, 0, NULL,
            "The path is a symbolic link to %s; connecting follows it.", pi->link);
        return true;
    }
    add(d, e == ENOENT ? "dangling-symlink" : "symlink-blocked", SEV_ERROR,
        e == ENOENT ? EX_UNAVAILABLE : e == EACCES ? EX_NOPERM : CLI_EXIT_FAILURE,
        "Point the link at the server's socket, or start the server.",
        "The path is a symbolic link to %s, which cannot be followed: %s.", pi->link,
        strerror(e));
    return false;
}

/* A socket at the path: who serves it, or that it is stale; whether the caller may write
 * it. With sock_diag the dump says who listens; without it, the probe did. */
static void check_socket(struct doctor *d, const char *path) {
    const struct uds_sockinfo *server = NULL;
    char desc[600];

    cli_describe_file(&d->pi.target, desc, sizeof(desc));
    add(d, "socket", SEV_INFO, 0, NULL, "The path is a socket: %s.", desc);
    if (d->have_socks) {
        server = server_of_file(d, &d->pi.target);
        if (!server)
            check_stale(d, path);
    } else if (d->pi.live == UDS_LIVE_STALE) {
        check_stale(d, path);
    } else if (d->pi.live != UDS_LIVE_UNKNOWN) {
        add(d, "listening", SEV_INFO, 0, NULL, "Something listens on it.");
    }
    if (server)
        check_listener(d, server);
    check_write(d);
    if (server)
        check_backlog(d, server);
}

static void check_path(struct doctor *d) {
    const char *path = d->addr.name;
    const struct uds_pathinfo *pi = &d->pi;

    if (d->addr.len > UDS_SUN_PATH_MAX)
        add(d, "path-too-long", SEV_WARNING, 0,
            "Other clients need a shorter path: move the socket, or give them a symlink to "
            "its directory (ln -s DIR /run/short) and the short path through it.",
            "The path is %zu bytes, longer than the %d that sun_path holds: socat, nc -U, "
            "Python and most programs cannot connect to it. udskit tools (uds, libudskit) "
            "still reach it, through /proc/self/fd.", d->addr.len, UDS_SUN_PATH_MAX);

    if (uds_pathinfo_get(path, d->have_socks ? 0 : UDS_PATHINFO_PROBE, &d->pi) < 0) {
        add(d, "unreadable", SEV_ERROR, CLI_EXIT_FAILURE, "Check the path.",
            "Cannot examine the path: %s.", strerror(errno));
        return;
    }
    if (!check_dirs(d)) {
        const struct uds_sockinfo *s = orphan_listener(d, UDS_PATH_OK);
        if (!s)
            s = orphan_listener(d, UDS_PATH_UNKNOWN);
        if (s) {
            char who[512];
            describe_holder(d, s->inode, who, sizeof(who));
            add(d, "listening", SEV_INFO, 0, NULL,
                "A socket bound at this path is served by %s (you cannot reach it from here).",
                who);
        }
        return;
    }
    if (pi->path_errno == ENOENT) {
        check_missing(d, path);
        return;
    }
    if (pi->path_errno != 0) {
        add(d, "unreadable", SEV_ERROR, CLI_EXIT_FAILURE, "Check the path.",
            "Cannot examine the path: %s.", strerror(pi->path_errno));
        return;
    }
    if (pi->file.kind == UDS_FILE_SYMLINK && !check_symlink(d))
        return;
    if (pi->target.kind != UDS_FILE_SOCKET) {
        add(d, "not-a-socket", SEV_ERROR, EX_CANTCREAT,
            "Point the client at the server's socket. If this file stands where a server "
            "should listen, move it away: uds serve never replaces what is not a socket.",
            "The path is %s, not a socket: nothing can connect to it.",
            cli_file_kind(pi->target.kind));
        check_replaced(d);
        check_lock(d, path);
        return;
    }
    check_socket(d, path);
}

static void check_abstract(struct doctor *d) {
    const struct uds_sockinfo *server;

    add(d, "abstract", SEV_WARNING, 0,
        "To limit who may connect, have the server check its peers' credentials (uds serve "
        "--allow-uid/--allow-gid), or use a socket file with a mode and group.",
        "@%s is an abstract socket: it has no file, hence no file permissions; any process "
        "in this network namespace can connect to it.", d->addr.name);
    if (!d->have_socks) {
        enum uds_liveness live = UDS_LIVE_UNKNOWN;
        (void) uds_probe(&d->addr, &live, NULL);   /* on failure it cannot tell: UNKNOWN */
        if (live == UDS_LIVE_STALE)
            add(d, "no-listener", SEV_ERROR, EX_UNAVAILABLE, "Start the server.",
                "Nothing is bound to this abstract name.");
        else if (live != UDS_LIVE_UNKNOWN)
            add(d, "listening", SEV_INFO, 0, NULL, "Something listens on it.");
        return;
    }
    server = server_of_abstract(d);
    if (!server) {
        add(d, "no-listener", SEV_ERROR, EX_UNAVAILABLE,
            "Start the server. An abstract name vanishes with its socket, so there is never a "
            "stale file to remove.",
            "Nothing is bound to this abstract name in this network namespace.");
        return;
    }
    check_listener(d, server);
    check_backlog(d, server);
}

/* Everything looks fine: connect once, as a client would, and close. */
static void confirm(struct doctor *d) {
    struct uds_connect_opts o = { .timeout_ms = PROBE_TIMEOUT_MS };
    const struct uds_sockinfo *s = NULL;
    int fd, e;

    if (d->have_socks) {
        if (d->addr.kind == UDS_ADDR_ABSTRACT)
            s = server_of_abstract(d);
        else if (d->pi.target.kind != UDS_FILE_NONE)
            s = server_of_file(d, &d->pi.target);
    }
    if (s)
        o.type = s->type;
    else if (d->pi.live != UDS_LIVE_UNKNOWN)
        o.type = d->pi.live_type;   /* what answered the probe */
    fd = uds_connect(d->address, &o);
    if (fd >= 0) {
        close(fd);
        add(d, "can-connect", SEV_INFO, 0, NULL,
            "A test connection succeeded (and was closed at once): you can connect.");
        return;
    }
    e = errno;
    switch (e) {
    case EACCES:
    case EPERM:
        add(d, "connect-denied", SEV_ERROR, EX_NOPERM,
            "Look at the security policy (SELinux: ausearch -m avc; AppArmor: the kernel "
            "log), or at namespaces: the server may be in another mount namespace.",
            "The kernel refused the test connection (%s) although the file permissions "
            "allow it: a security module (SELinux, AppArmor) may be in the way.",
            strerror(e));
        break;
    case ECONNREFUSED:
    case ENOENT:
        add(d, "connect-refused", SEV_ERROR, EX_UNAVAILABLE,
            "Check whether the server is restarting, and try again.",
            "The test connection failed (%s): the server went away meanwhile?", strerror(e));
        break;
    case ETIMEDOUT:
    case EAGAIN:
        add(d, "connect-timeout", SEV_ERROR, EX_TEMPFAIL,
            "The server is not accepting: it may be overloaded or stuck.",
            "The test connection was not accepted within %d ms.", PROBE_TIMEOUT_MS);
        break;
    default:
        add(d, "connect-failed", SEV_ERROR, CLI_EXIT_FAILURE, "Check the address.",
            "The test connection failed: %s.", strerror(e));
        break;
    }
}

/* ---- output --------------------------------------------------------------------------- */

static const char *sev_name(enum severity s) {
    static const char *const names[] = { "info", "warning", "error" };
    return names[s];
}

static void json_string(const char *s) {
    cli_json_string(stdout, s, strlen(s));
}

/* Finding texts are ours (ASCII) except for the names in them (paths, abstract names,
 * process names: anyone's to choose), so they go out through cli_text_escape. On a
 * terminal, wrap at the width, continuing lines at column indent; a pipe gets one line. */
static void print_text(const char *s, size_t col, size_t indent, bool wrap) {
    enum { WIDTH = 100 };
    size_t len = strlen(s);
    char *text = malloc(4 * len + 1);
    const char *u = text;

    if (!text) {
        fprintf(stderr, "uds: out of memory\n");
        exit(CLI_EXIT_FAILURE);
    }
    cli_text_escape_buf(s, len, text, 4 * len + 1);
    while (*u) {
        size_t word = 0, spaces = 0, cols = 0;
        while (u[spaces] == ' ')
            spaces++;
        while (u[spaces + word] && u[spaces + word] != ' ')
            cols += ((unsigned char) u[spaces + word++] & 0xc0) != 0x80;
        if (wrap && col > indent && col + spaces + cols > WIDTH) {
            printf("\n%*s", (int) indent, "");
            col = indent;
        } else {
            printf("%*s", (int) spaces, "");
            col += spaces;
        }
        fwrite(u + spaces, 1, word, stdout);
        col += cols;
        u += spaces + word;
    }
    free(text);
}

static int first_exit(const struct doctor *d) {
    for (size_t i = 0; i < d->n; i++)
        if (d->findings[i].severity == SEV_ERROR)
            return d->findings[i].exit_code;
    return EX_OK;
}

static void print_report(const struct doctor *d, int code) {
    if (d->json) {
        fputs("{\"address\":", stdout);
        json_string(d->address);
        printf(",\"ok\":%s,\"exit\":%d,\"findings\":[", code == EX_OK ? "true" : "false", code);
        for (size_t i = 0; i < d->n; i++) {
            const struct finding *f = &d->findings[i];
            printf("%s\n {\"code\":\"%s\",\"severity\":\"%s\",\"message\":", i ? "," : "",
                   f->code, sev_name(f->severity));
            json_string(f->message);
            fputs(",\"advice\":", stdout);
            if (f->advice)
                json_string(f->advice);
            else
                fputs("null", stdout);
            putchar('}');
        }
        fputs(d->n ? "\n]}\n" : "]}\n", stdout);
        return;
    }
    bool wrap = isatty(STDOUT_FILENO);
    fputs("uds doctor: ", stdout);
    print_text(d->address, 12, 12, false);
    putchar('\n');
    for (size_t i = 0; i < d->n; i++) {
        const struct finding *f = &d->findings[i];
        printf("  %-8s", sev_name(f->severity));
        print_text(f->message, 10, 10, wrap);
        putchar('\n');
        if (f->advice) {
            fputs("          what to do: ", stdout);
            print_text(f->advice, 22, 10, wrap);
            putchar('\n');
        }
    }
    if (code == EX_OK)
        printf("Result: you can connect.\n");
    else
        printf("Result: you cannot connect (exit %d).\n", code);
}

/* d->abs and d->canon: the path absolute, and with its directory's symlinks resolved. */
static void absolute_forms(struct doctor *d) {
    const char *path = d->addr.name, *slash, *base;
    char cwd[PATH_MAX], dir[PATH_MAX + UDS_PATH_MAX + 2], real[PATH_MAX];

    if (path[0] == '/') {
        snprintf(d->abs, sizeof(d->abs), "%s", path);
    } else {
        const char *rel = path;
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        if (!getcwd(cwd, sizeof(cwd)))
            strcpy(cwd, ".");
        snprintf(d->abs, sizeof(d->abs), "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", rel);
    }
    snprintf(d->canon, sizeof(d->canon), "%s", d->abs);
    slash = strrchr(d->abs, '/');
    base = slash + 1;
    if (slash == d->abs)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int) (slash - d->abs), d->abs);
    if (realpath(dir, real))
        snprintf(d->canon, sizeof(d->canon), "%s%s%s", real, strcmp(real, "/") ? "/" : "",
                 base);
}

int cmd_doctor(int argc, char **argv) {
    enum { OPT_JSON = 256, OPT_NO_CONNECT };
    static const struct option longopts[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "no-connect", no_argument, NULL, OPT_NO_CONNECT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct doctor *d;
    int ch, code;

    d = calloc(1, sizeof(*d));
    if (!d) {
        cli_error(NULL, NULL, "out of memory");
        return CLI_EXIT_FAILURE;
    }
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_JSON:
            d->json = true;
            break;
        case OPT_NO_CONNECT:
            d->no_connect = true;
            break;
        case 'h':
            free(d);
            doctor_usage(stdout);
            return fflush(stdout) == 0 ? EX_OK : CLI_EXIT_FAILURE;
        default:
            free(d);
            return cli_getopt_error("doctor", ch, argv);
        }
    }
    if (argc - optind != 1) {
        free(d);
        return cli_usage("doctor", argc - optind == 0 ? "missing ADDRESS; e.g. uds doctor "
                         "/run/app.sock" : "one ADDRESS at a time");
    }
    d->address = argv[optind];
    cli_log_setup(0, false);
    if (uds_addr_parse(d->address, 0, &d->addr) < 0) {
        int e = errno;
        free(d);
        return cli_fail(CLI_OP_ANY, argv[optind], e, NULL);
    }

    d->have_socks = uds_socklist_dump(&d->socks) == 0;
    if (!d->have_socks)
        add(d, "no-sock-diag", SEV_WARNING, 0,
            "Load it (modprobe unix_diag) for the full picture; meanwhile doctor connects to "
            "find out.",
            "Cannot list the machine's sockets (%s): who listens cannot be told.",
            strerror(errno));
    d->have_procs = uds_procfd_scan(0, &d->procs) == 0;

    if (d->addr.kind == UDS_ADDR_ABSTRACT) {
        check_abstract(d);
    } else {
        absolute_forms(d);
        check_path(d);
    }
    if (!d->blocked && !d->no_connect)
        confirm(d);

    code = first_exit(d);
    print_report(d, code);
    for (size_t i = 0; i < d->n; i++) {
        free(d->findings[i].message);
        free(d->findings[i].advice);
    }
    uds_procfd_done(&d->procs);
    uds_socklist_done(&d->socks);
    free(d);
    if (fflush(stdout) != 0)
        return CLI_EXIT_FAILURE;
    return code;
}
