/* SPDX-License-Identifier: MIT */
/*
 * cmd_doctor.c — `uds doctor ADDRESS`: explain, in plain sentences with what to do, why a
 * user can or cannot connect to a Unix socket: missing or unsearchable directories, a path
 * that is not a socket, a stale socket (and its lock file), the live listener (process,
 * since when), write permission and group membership (a group joined since the login), a
 * full backlog, a path too long for sun_path, an abstract name, a path deleted or replaced
 * under its listener, a listener in another mount or network namespace, a socket file
 * bind-mounted in. The advice speaks the configuration of the server behind the socket
 * (php-fpm, PostgreSQL, redis, dockerd, systemd, udskit) when it is recognised. With
 * --as USER (root only) the permission checks and the test connection run with USER's ids
 * as a new login gives them. It looks (the facts come from the library) and, when nothing
 * stands in the way, connects once to confirm; it never removes anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "doctor.h"
#include "options.h"

#define D struct doctor
static const struct cli_command doctor_cmd = {
    .name = "doctor",
    .synopsis = "[OPTIONS] ADDRESS\n"
                "       uds doctor [--cert FILE [--key FILE]] [--ca FILE] [--server-name NAME]\n"
                "                  [--json] tls:HOST:PORT",
    .help_col = 20,
    .operands = { .names = "ADDRESS", .min = 1, .max = 1, .example = "uds doctor /run/app.sock",
                  .at = { CLI_OPERAND(D, address) } },
    .intro =
        "Explain why the Unix socket at ADDRESS does or does not work for you, in plain\n"
        "sentences, each with what to do: whether the path and its directories exist and\n"
        "you may search them, whether it is a socket, its mode, owner and group, whether\n"
        "you may write to it (a group joined since your login counts only in a new one),\n"
        "whether anything listens (which process, since when) or the socket is stale (and\n"
        "who holds its lock file), whether the listener's backlog is full, whether the\n"
        "path was deleted or replaced under its listener or leads to it only in another\n"
        "mount namespace, and what an abstract name or a path longer than sun_path means.\n"
        "The advice speaks the configuration of the server behind the socket when it is\n"
        "recognised (php-fpm, PostgreSQL, redis, dockerd, a systemd .socket unit, udskit).\n"
        "When nothing stands in the way it connects once to confirm, and closes at once.\n"
        "It never removes anything.\n"
        "\n"
        "With tls:HOST:PORT it explains why a TLS service (a 'uds proxy tls:HOST:PORT'\n"
        "listener, or any other) refuses this side: this side's certificate out of its\n"
        "dates, not matching its key or not signed by --ca; the server unreachable or not\n"
        "speaking TLS; its certificate from an unknown CA, out of its dates or not for\n"
        "HOST; no client certificate given when one is wanted, or this side's refused.\n",
    .outro =
        "ADDRESS is a path, @abstract, unix:PATH or unix:@name, or tls:HOST:PORT.\n"
        "\n"
        "Exit status: 0 you (or USER) can connect, 1 failure, 64 usage error, 69 nothing\n"
        "listens (no such socket, stale socket, deleted or replaced path, a listener in\n"
        "another namespace), 73 the path is not a socket or a directory is missing, 75 the\n"
        "listener's backlog is full, 77 permission denied (a directory or the socket; --as\n"
        "without root). For tls:HOST:PORT: 0 the server accepts this side, 69 it cannot be\n"
        "reached or does not speak TLS, 77 a certificate is refused (either way), 78 a\n"
        "file given cannot be used.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Options:"),
        { "--as", 0, "USER", CLI_STRING(D, as_user),
          .help = "(root only) check as USER would connect: every check and the\n"
                  "test connection with USER's uid, gid and the groups of a new\n"
                  "login, such as the web server's user for a php-fpm socket" },
        { "--json", 0, NULL, CLI_FLAG(D, json),
          .help = "one JSON object: address, ok, exit, as, server and findings\n"
                  "[{code, severity, message, advice}]" },
        { "--no-connect", 0, NULL, CLI_FLAG(D, no_connect),
          .help = "only look; do not make the confirming connection" },
        CLI_SECTION("TLS (ADDRESS tls:HOST:PORT):"),
        CLI_INCLUDE(doctor_tls_opts, D, tls, struct tls_opts),
        CLI_END,
    },
};
#undef D

/* ---- checks made with the subject's ids (doctor_as_subject) ---------------------------- */

static int get_pathinfo(struct doctor *d, void *out) {
    return uds_pathinfo_get(d->addr.name, d->have_socks ? 0 : UDS_PATHINFO_PROBE, out);
}

/* The test connection: 0, or -1 and errno. */
struct probe {
    enum uds_socket_type type;
};

static int test_connect(struct doctor *d, void *out) {
    const struct probe *p = out;
    struct uds_connect_opts o = { .timeout_ms = PROBE_TIMEOUT_MS, .type = p->type };
    int fd = uds_connect(d->address, &o);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* ---- sockets from the dump ------------------------------------------------------------ */

static bool accepts(const struct uds_sockinfo *s) {
    return s->state == UDS_SOCK_LISTENING ||
           (s->type == UDS_DGRAM && s->state == UDS_SOCK_UNCONNECTED);
}

static const char *base_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Where the file of a socket bound to a path is, seen from here. */
static bool where_of(const struct doctor *d, const struct uds_sockinfo *s,
                     struct uds_sockwhere *w) {
    const struct uds_procfd *p;
    size_t n = doctor_holders(d, s, &p);

    return uds_sockinfo_where(s, p, n, w) == 0;
}

static bool same_place(const struct doctor *d, const struct uds_sockwhere *w) {
    return w->path[0] && (strcmp(w->path, d->abs) == 0 || strcmp(w->canon, d->canon) == 0 ||
                          strcmp(w->path, d->canon) == 0);
}

/* A socket that accepts and was bound at this path, however either was written (relative,
 * through a symlinked directory, a long path's /proc/self/fd alias); *w says where its
 * file is now. With want, only one whose file is in that state. */
static const struct uds_sockinfo *bound_listener(const struct doctor *d, bool any,
                                                 enum uds_path_status want,
                                                 struct uds_sockwhere *w) {
    const char *base = base_of(d->abs);

    for (size_t i = 0; i < d->socks.n; i++) {
        const struct uds_sockinfo *s = &d->socks.socks[i];
        if (!accepts(s) || s->name_kind != UDS_ADDR_PATH ||
            strcmp(base_of(s->name), base) != 0 || !where_of(d, s, w) || !same_place(d, w))
            continue;
        if (any || w->status == want)
            return s;
    }
    return NULL;
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

static const struct uds_sockinfo *server_of_abstract(const struct doctor *d) {
    for (size_t i = 0; i < d->socks.n; i++) {
        const struct uds_sockinfo *s = &d->socks.socks[i];
        if (s->name_kind == UDS_ADDR_ABSTRACT && s->name_len == d->addr.len &&
            memcmp(s->name, d->addr.name, s->name_len) == 0 && accepts(s))
            return s;
    }
    return NULL;
}

/* ---- processes -------------------------------------------------------------------------- */

static void command_of(pid_t pid, char *buf, size_t size) {
    struct uds_procinfo p;

    if (uds_procinfo_get(pid, &p) == 0 && p.command[0])
        snprintf(buf, size, "%s", p.command);
    else
        snprintf(buf, size, "?");
}

/* "nginx (pid 4242, running since 2026-11-24 09:12:00)", or "a process you may not see".
 * Returns false when no holder is visible. */
static bool describe_holder(const struct doctor *d, const struct uds_sockinfo *s, char *buf,
                            size_t size) {
    const struct uds_procfd *p;
    size_t n = doctor_holders(d, s, &p), distinct = 0;
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

/* Who listens on a socket bound at this path whose file is in the state want, described
 * into buf as describe_holder() does. Returns false when no such socket listens. */
static bool bound_holder(const struct doctor *d, enum uds_path_status want, char *buf,
                         size_t size) {
    struct uds_sockwhere w;
    const struct uds_sockinfo *s = bound_listener(d, false, want, &w);

    if (s)
        describe_holder(d, s, buf, size);
    return s != NULL;
}

/* Whether name is one of the names of list ("a, b, c"). */
static bool listed(const char *list, const char *name) {
    size_t len = strlen(name);

    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && memcmp(p, name, len) == 0)
            return true;
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

/* Whom to suggest checking with --as: the members of the socket's group (those it lists
 * and those whose primary group it is), and its owner; root is no example. */
static void likely_clients(gid_t gid, uid_t owner, char *buf, size_t size) {
    struct group *gr = getgrgid(gid);
    struct passwd *pw;
    size_t o = 0, n = 0;

    buf[0] = '\0';
    for (char **m = gr ? gr->gr_mem : NULL; m && *m && n < 8; m++)
        if (strcmp(*m, "root") != 0 && !listed(buf, *m)) {
            cli_append(buf, size, &o, "%s%s", n++ ? ", " : "", *m);
        }
    setpwent();
    while ((pw = getpwent()) != NULL && n < 8)
        if (pw->pw_uid != 0 && (pw->pw_gid == gid || pw->pw_uid == owner) &&
            !listed(buf, pw->pw_name))
            cli_append(buf, size, &o, "%s%s", n++ ? ", " : "", pw->pw_name);
    endpwent();
}

/* ---- the checks ----------------------------------------------------------------------- */

/* The socket was found by its file: say so when it was bound under another name. */
static void check_bound_as(struct doctor *d, const struct uds_sockinfo *s) {
    struct uds_sockwhere w;
    struct uds_mount m;

    if (d->addr.kind != UDS_ADDR_PATH || s->name_kind != UDS_ADDR_PATH || !where_of(d, s, &w) ||
        !w.path[0] || same_place(d, &w))
        return;
    if (uds_mount_at(d->canon, &m) == 1)
        doctor_add(d, "bound-elsewhere", SEV_INFO, 0, NULL,
            "That socket was bound as %s; this path is a bind mount of its file.", w.path);
    else
        doctor_add(d, "bound-elsewhere", SEV_INFO, 0, NULL,
            "That socket was bound as %s; its file was moved or hard-linked here since.",
            w.path);
}

static void check_listener(struct doctor *d, const struct uds_sockinfo *s) {
    char who[512], what[160], uid[64] = "";
    bool visible = describe_holder(d, s, who, sizeof(who));

    if (s->has & UDS_SOCKINFO_UID)
        snprintf(uid, sizeof(uid), ", created by uid %lu", (unsigned long) s->uid);
    if (s->state == UDS_SOCK_LISTENING)
        snprintf(what, sizeof(what), "a %s listener, backlog %lu",
                 uds_socket_type_name(s->type), (unsigned long) s->send_q);
    else
        snprintf(what, sizeof(what), "a bound %s socket", uds_socket_type_name(s->type));
    doctor_add(d, "listening", SEV_INFO, 0, NULL,
        "It is served by %s%s: %s, socket inode %lu%s.", who,
        visible || geteuid() == 0 ? "" : " (run as root to see which)", what,
        (unsigned long) s->inode, uid);
    check_bound_as(d, s);
    doctor_note_server(d, s);
}

static long somaxconn(void) {
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
    long v = -1;

    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* How the server's backlog is raised, in its own configuration. */
static void backlog_setting(struct doctor *d, const struct uds_sockinfo *s, struct text *t) {
    const struct uds_server_ident *id = doctor_ident(d, s);
    unsigned line = 0;
    const char *v;

    if (id->kind == UDS_SERVER_SYSTEMD && id->socket_unit[0]) {
        v = uds_server_setting(id, "Backlog", &line);
        T_ADD(t, "Backlog= in [Socket] of %s (%s%s)", id->socket_unit_file,
              v ? "now " : "default SOMAXCONN", v ? v : "");
        return;
    }
    switch (doctor_served_by(id)) {
    case UDS_SERVER_PHP_FPM:
        v = uds_server_setting(id, "listen.backlog", &line);
        T_ADD(t, "listen.backlog in pool [%s] of %s (%s%s), and more workers "
              "(pm.max_children), since a pool whose workers are all busy accepts nobody",
              id->pool, doctor_config_file(id), v ? "now " : "default 511", v ? v : "");
        return;
    case UDS_SERVER_POSTGRESQL:
        T_ADD(t, "PostgreSQL asks for twice max_connections (in %s)", doctor_config_file(id));
        return;
    case UDS_SERVER_REDIS:
        T_ADD(t, "tcp-backlog in %s, which redis uses for its Unix socket too",
              doctor_config_file(id));
        return;
    case UDS_SERVER_UDSKIT:
        T_ADD(t, "uds serve asks for SOMAXCONN; at --max-conns it stops accepting and lets "
              "clients wait here, so raise --max-conns");
        return;
    default:
        T_ADD(t, "the backlog is the argument the server gives listen(2)");
        return;
    }
}

static void check_backlog(struct doctor *d, const struct uds_sockinfo *s) {
    char who[512];
    struct text t = { .o = 0 };
    long max = somaxconn();
    const struct uds_procfd *p;

    if (s->state != UDS_SOCK_LISTENING || !(s->has & UDS_SOCKINFO_QUEUES))
        return;
    if (s->recv_q == 0)
        return;
    if (s->recv_q <= s->send_q) {
        doctor_add(d, "backlog-waiting", SEV_INFO, 0, NULL,
            "%lu connection%s wait%s to be accepted (backlog %lu).", (unsigned long) s->recv_q,
            s->recv_q == 1 ? "" : "s", s->recv_q == 1 ? "s" : "", (unsigned long) s->send_q);
        return;
    }
    /* The kernel refuses a new connection once more than the backlog are waiting. */
    describe_holder(d, s, who, sizeof(who));
    if (doctor_holders(d, s, &p) > 0)
        T_ADD(&t, "%s (pid %d) is not accepting: see what it is doing (stuck, or paused at a "
              "connection limit? top -p %d, cat /proc/%d/wchan, strace -p %d). ",
              p[0].command, (int) p[0].pid, (int) p[0].pid, (int) p[0].pid, (int) p[0].pid);
    else
        T_ADD(&t, "The server is not accepting: see what it is doing. ");
    T_ADD(&t, "A larger backlog only buys time: ");
    backlog_setting(d, s, &t);
    T_ADD(&t, "; the kernel caps any backlog at net.core.somaxconn (sysctl -w "
          "net.core.somaxconn=N).");
    doctor_add(d, "backlog-full", SEV_ERROR, EX_TEMPFAIL, t.s,
        "Its backlog is full: %lu connections wait to be accepted and the backlog is %lu "
        "(net.core.somaxconn is %ld%s), so a new connection waits (a blocking client) or "
        "fails with EAGAIN (a non-blocking one) until %s accepts one.",
        (unsigned long) s->recv_q, (unsigned long) s->send_q, max,
        max > 0 && s->send_q == (unsigned long) max ? ", the most the kernel grants" : "", who);
}

/* The directory on the way that the subject may not search. */
static void check_dir_search(struct doctor *d) {
    const struct uds_pathinfo *pi = &d->pi;
    char desc[600], me[1024], group[256];
    struct text t = { .o = 0 };

    cli_describe_file(&pi->dir_file, desc, sizeof(desc));
    doctor_describe_subject(d, me, sizeof(me));
    cli_group_name(pi->dir_file.gid, group, sizeof(group));
    T_ADD(&t, "Ask the owner of %s to let %s through (chmod o+x %s, or add %s to group %s and "
          "chmod g+x %s), or run as a user who may. The socket's own mode does not help while "
          "a directory blocks the way.", pi->dir, d->who.as ? d->who.name : "you", pi->dir,
          d->who.as ? d->who.name : "you", group, pi->dir);
    doctor_add(d, "dir-not-searchable", SEV_ERROR, EX_NOPERM, t.s,
        "%s cannot reach the socket: the directory %s is %s and %s (%s) may not search it "
        "(%s).", d->who.as ? d->who.name : "You", pi->dir, desc, doctor_you(d), me,
        doctor_perm_why(d, pi->dir_file.perm));
}

/* A listener bound at this path that lives in another mount namespace: reported, and
 * true; false when there is none. */
static bool check_other_mnt_ns(struct doctor *d) {
    struct uds_sockwhere w;
    const struct uds_sockinfo *s = bound_listener(d, false, UDS_PATH_OTHER_NS, &w);
    struct uds_procinfo p = { 0 };
    struct text t = { .o = 0 };
    char who[512], unit[300] = "";

    if (!s)
        return false;
    bool tmp = strncmp(w.path, "/tmp/", 5) == 0 || strncmp(w.path, "/var/tmp/", 9) == 0;
    describe_holder(d, s, who, sizeof(who));
    if (uds_procinfo_get(w.pid, &p) == 0 && p.unit[0])
        snprintf(unit, sizeof(unit), " (its unit: %s)", p.unit);
    T_ADD(&t, "If the server is a systemd service with PrivateTmp=yes%s, its /tmp and /var/tmp "
          "are its own: put the socket in /run (RuntimeDirectory=) or set PrivateTmp=no. If "
          "it runs in a container or another mount namespace, share the socket's directory "
          "with the clients (a bind mount of the directory, as -v /run/app:/run/app), not "
          "the socket file. Meanwhile root reaches it as %s.", unit, w.reach);
    doctor_add(d, "other-mount-namespace", SEV_ERROR, EX_UNAVAILABLE, t.s,
        "%s listens on a socket bound at this path, but in another mount namespace: the file "
        "is in that process's view of the filesystem%s, not in yours, so this path does not "
        "lead to it here. It is reachable from here as %s.", who,
        tmp ? " (a private /tmp?)" : "", w.reach);
    return true;
}

/* A way into the socket's directory is blocked or missing: the listener may still be
 * somewhere, in another mount namespace or behind the directory. */
static void check_elsewhere(struct doctor *d) {
    char who[512];

    if (check_other_mnt_ns(d))
        return;
    if (bound_holder(d, UDS_PATH_OK, who, sizeof(who)) ||
        bound_holder(d, UDS_PATH_UNKNOWN, who, sizeof(who)))
        doctor_add(d, "listening", SEV_INFO, 0, NULL,
            "A socket bound at this path is served by %s (%s cannot reach it from here).", who,
            doctor_you(d));
}

/* The directories leading to the path. Returns false when one blocks the way. */
static bool check_dirs(struct doctor *d) {
    const struct uds_pathinfo *pi = &d->pi;

    switch (pi->dir_problem) {
    case UDS_DIR_OK:
    case UDS_DIR_NO_WRITE:      /* asked only of a path to create */
        return true;
    case UDS_DIR_MISSING:
        doctor_add(d, "dir-missing", SEV_ERROR, EX_CANTCREAT,
            "Check the path; if it is right, the server has not created its directory yet: "
            "start it (or create the directory with the owner and mode it expects).",
            "The directory %s does not exist.", pi->dir);
        break;
    case UDS_DIR_NOT_DIR:
        if (pi->dir_file.kind == UDS_FILE_NONE)
            doctor_add(d, "not-a-directory", SEV_ERROR, EX_CANTCREAT, "Check the path.",
                "%s is not a directory, so nothing can be under it.", pi->dir);
        else
            doctor_add(d, "not-a-directory", SEV_ERROR, EX_CANTCREAT, "Check the path.",
                "%s is %s, not a directory, so nothing can be under it.", pi->dir,
                cli_file_kind(pi->dir_file.kind));
        break;
    case UDS_DIR_NO_SEARCH:
        check_dir_search(d);
        break;
    case UDS_DIR_ERROR:
        doctor_add(d, "dir-unreadable", SEV_ERROR, CLI_EXIT_FAILURE, "Check the path.",
            "Cannot examine the directory %s: %s.", pi->dir, strerror(pi->dir_errno));
        break;
    }
    check_elsewhere(d);
    return false;
}

/* Whether pid holds a listener bound at this path (one the path may no longer reach). */
static bool holds_listener_here(const struct doctor *d, pid_t pid) {
    const char *base = base_of(d->abs);

    for (size_t i = 0; i < d->socks.n; i++) {
        const struct uds_sockinfo *s = &d->socks.socks[i];
        const struct uds_procfd *p;
        struct uds_sockwhere w;
        size_t n;

        if (!accepts(s) || s->name_kind != UDS_ADDR_PATH ||
            strcmp(base_of(s->name), base) != 0 || !where_of(d, s, &w) || !same_place(d, &w))
            continue;
        n = doctor_holders(d, s, &p);
        for (size_t k = 0; k < n; k++)
            if (p[k].pid == pid)
                return true;
    }
    return false;
}

/* PostgreSQL's .s.PGSQL.N.lock names its postmaster; it is no flock. */
static void check_pg_lock(struct doctor *d, const char *lock, pid_t pid) {
    struct uds_procinfo p;
    char comm[64];

    if (pid > 0 && uds_procinfo_get(pid, &p) == 0 && p.state != 'Z') {
        command_of(pid, comm, sizeof(comm));
        doctor_add(d, "lock-held", SEV_INFO, 0,
            "PostgreSQL will not start on this socket while that process runs. If it is no "
            "postmaster (its pid was reused), the lock file is stale: remove it.",
            "Its lock file %s is PostgreSQL's own (it holds a pid, not a flock): it names pid "
            "%d, %s, which is running.", lock, (int) pid, comm);
        return;
    }
    doctor_add(d, "lock-abandoned", SEV_INFO, 0,
        "Nothing to do about it: PostgreSQL takes it over at its next start, once it sees "
        "that pid is gone.",
        "Its lock file %s is PostgreSQL's own (it holds a pid, not a flock): it names pid %d, "
        "which is no longer running.", lock, (int) pid);
}

static void check_lock(struct doctor *d, const char *path) {
    char lock[UDS_LOCK_PATH_MAX + 1], who[512], comm[64];
    const struct uds_server_ident *id = doctor_ident(d, NULL);
    pid_t pid = 0;
    int r;

    if (uds_lock_path(path, lock, sizeof(lock)) < 0)
        return;
    if (id->has_own_lock) {
        check_pg_lock(d, lock, id->lock_pid);
        return;
    }
    r = uds_flock_holder(lock, &pid);
    if (r < 0)
        return;     /* no lock file: nothing to say */
    if (r == 0) {
        doctor_add(d, "lock-abandoned", SEV_INFO, 0,
            "Nothing to do about it: the next uds serve (or libudskit listener) takes it "
            "over.",
            "Its lock file %s exists but nobody holds it: the server that made both exited "
            "without cleaning up (it was killed or crashed).", lock);
        return;
    }
    if (pid > 0) {
        command_of(pid, comm, sizeof(comm));
        snprintf(who, sizeof(who), "%s (pid %d)", comm, (int) pid);
    } else {
        snprintf(who, sizeof(who), "a process outside your PID namespace");
    }
    if (pid > 0 && holds_listener_here(d, pid)) {
        doctor_add(d, "lock-held", SEV_INFO, 0,
            "Stop that server before starting another on this path: the new one would "
            "refuse to start (address in use) while the lock is held.",
            "Its lock file %s is still held by that same server, %s.", lock, who);
        return;
    }
    doctor_add(d, "lock-held", SEV_WARNING, 0,
        "Wait a moment and check again; if it stays like this, look at that process: it may "
        "be hung before listening.",
        "Its lock file %s is held by %s: a server is starting on this path, or is stuck "
        "before listening.", lock, who);
}

static void check_replaced(struct doctor *d) {
    char who[512];

    if (check_other_mnt_ns(d) || !bound_holder(d, UDS_PATH_REPLACED, who, sizeof(who)))
        return;
    doctor_add(d, "path-replaced", SEV_ERROR, EX_UNAVAILABLE,
        "Restart that server so it binds the path again (remove the file now at the path "
        "first if it is stale or not a socket).",
        "A server, %s, listens on a socket that was bound at this path, but the path has "
        "been replaced since: it now names another file, so that server is unreachable by "
        "path.", who);
}

/* A listener bound at the path a bind mount was made from: the server, restarted. */
static void describe_listener_at(const struct doctor *d, const char *path, size_t len,
                                 struct text *t) {
    const char *base = memrchr(path, '/', len);
    char who[512];

    base = base ? base + 1 : path;
    for (size_t i = 0; i < d->socks.n; i++) {
        const struct uds_sockinfo *s = &d->socks.socks[i];
        struct uds_sockwhere w;
        size_t bl = (size_t) (path + len - base);
        if (s->name_kind != UDS_ADDR_PATH || strlen(base_of(s->name)) != bl ||
            memcmp(base_of(s->name), base, bl) != 0)
            continue;
        if (!accepts(s) || s->name_kind != UDS_ADDR_PATH || !where_of(d, s, &w) ||
            strlen(w.path) != len || memcmp(w.path, path, len) != 0)
            continue;
        describe_holder(d, s, who, sizeof(who));
        T_ADD(t, " %s listens at %.*s now, on a new socket file.", who, (int) len, path);
        return;
    }
}

/* The path is where a socket file was bind-mounted: it keeps the inode it was made with. */
static void check_bind_mount(struct doctor *d, const struct uds_mount *m) {
    size_t len = strlen(m->root);
    bool deleted = len > 9 && strcmp(m->root + len - 9, "//deleted") == 0;
    struct text now = { .o = 0 };

    describe_listener_at(d, m->root, deleted ? len - 9 : len, &now);

    doctor_add(d, "bind-mounted-socket", SEV_WARNING, 0,
        "Bind-mount the socket's directory instead of the socket file (docker run -v "
        "/run/app:/run/app, not -v /run/app/app.sock:/run/app/app.sock), so that the new "
        "socket file of a restarted server shows through; then recreate the mount (restart "
        "the container).",
        "This path is a mount point: a socket file, %.*s, was bind-mounted here%s. A bind "
        "mount holds on to the inode it was made with, so when the server restarted and made "
        "a new socket file, this path kept leading to the old one, which nobody listens on.%s",
        (int) (deleted ? len - 9 : len), m->root,
        deleted ? " (that file has since been removed or replaced)" : "", now.s);
}

static void stale_advice(struct doctor *d, const char *path, bool mounted, struct text *t) {
    const struct uds_server_ident *id = doctor_ident(d, NULL);
    char start[300];

    doctor_start_command(id, start, sizeof(start));
    if (mounted) {
        T_ADD(t, "The file cannot be removed here (it is a mount point): see the bind mount "
              "below.");
        return;
    }
    switch (doctor_served_by(id)) {
    case UDS_SERVER_POSTGRESQL:
        T_ADD(t, "Start PostgreSQL (%s%s%s): it removes its stale socket file and lock file "
              "itself once the pid in the lock file has gone.", start,
              id->data_dir[0] ? ", or pg_ctl start -D " : "", id->data_dir);
        return;
    case UDS_SERVER_PHP_FPM:
    case UDS_SERVER_REDIS:
    case UDS_SERVER_DOCKERD:
        T_ADD(t, "Start %s%s%s%s: it replaces a stale socket file itself.",
              doctor_server_title(doctor_served_by(id)), start[0] ? " (" : "", start,
              start[0] ? ")" : "");
        return;
    case UDS_SERVER_UDSKIT:
        T_ADD(t, "Start the server: uds serve and libudskit listeners replace a stale socket "
              "by themselves. Or remove the file: rm %s", path);
        return;
    default:
        if (id->kind == UDS_SERVER_SYSTEMD && start[0])
            T_ADD(t, "Start it: %s. ", start);
        T_ADD(t, "Start the server. If it refuses because the file exists, remove the file "
              "first (a stale socket file holds no data): rm %s", path);
        return;
    }
}

static void check_stale(struct doctor *d, const char *path) {
    struct uds_mount m;
    bool mounted = uds_mount_at(d->canon, &m) == 1;
    struct text t = { .o = 0 };

    stale_advice(d, path, mounted, &t);
    doctor_add(d, "stale", SEV_ERROR, EX_UNAVAILABLE, t.s,
        "Nothing listens on it: the socket file is stale, left by a server that exited "
        "without removing it. Connecting gets \"Connection refused\".");
    doctor_note_server(d, NULL);
    if (mounted)
        check_bind_mount(d, &m);
    check_replaced(d);
    check_lock(d, path);
}

/* The subject is in the socket's group in /etc/group but not in this login: a group added
 * since the login shows only in a new one. */
static bool check_new_group(struct doctor *d) {
    const struct uds_file *sock = &d->pi.target;
    char group[256], me[1024];
    struct text t = { .o = 0 };

    if (d->who.as || !d->who.have_login || sock->perm == UDS_PERM_OWNER ||
        !(sock->mode & 0020) || doctor_subject_in_group(&d->who, sock->gid) ||
        !uds_login_in_group(&d->who.login, sock->gid))
        return false;
    cli_group_name(sock->gid, group, sizeof(group));
    doctor_describe_subject(d, me, sizeof(me));
    T_ADD(&t, "Log in again (a new session), or use the group at once: newgrp %s starts a "
          "shell in it, sg %s -c 'COMMAND' runs one command in it. A service running as "
          "this user gets the group when it is restarted.", group, group);
    doctor_add(d, "group-not-in-login", SEV_ERROR, EX_NOPERM, t.s,
        "You may not connect yet: the socket's group %s may write it, and you are a member "
        "of %s in the group database (/etc/group), but not in this login (you: %s). A "
        "process keeps the groups of the login it comes from: this one started before you "
        "were added.", group, group, me);
    return true;
}

static void check_write(struct doctor *d, const struct uds_sockinfo *s) {
    const struct uds_file *sock = &d->pi.target;
    char desc[600], me[1024];
    struct text t = { .o = 0 };

    if (d->pi.may_write || check_new_group(d))
        return;
    cli_describe_file(sock, desc, sizeof(desc));
    doctor_describe_subject(d, me, sizeof(me));
    doctor_access_advice(d, s, sock, &t);
    doctor_add(d, "no-write-permission", SEV_ERROR, EX_NOPERM, t.s,
        "%s may not connect: connecting needs write permission on the socket, which is %s, "
        "and %s (%s) %s none (%s).", doctor_You(d), desc, doctor_you(d), me,
        d->who.as ? "has" : "have", doctor_perm_why(d, sock->perm));
}

/* Nothing at the path: deleted under its listener, in another mount namespace, or never
 * made. */
static void check_missing(struct doctor *d, const char *path) {
    struct text t = { .o = 0 };
    char who[512], start[300];

    if (check_other_mnt_ns(d)) {
        /* reported there; the lock file may still tell more */
    } else if (bound_holder(d, UDS_PATH_MISSING, who, sizeof(who))) {
        doctor_add(d, "path-deleted", SEV_ERROR, EX_UNAVAILABLE,
            "Restart the server so it creates the file again (and find out what deleted it: "
            "a cleanup job, or a second instance stopping?).",
            "There is no file at this path, but %s still listens on a socket bound here: its "
            "file was deleted, so it is unreachable by path.", who);
    } else {
        doctor_start_command(doctor_ident(d, NULL), start, sizeof(start));
        if (start[0])
            T_ADD(&t, "Start the server (%s), or check the path: ", start);
        else
            T_ADD(&t, "Start the server, or check the path: ");
        T_ADD(&t, "is the server configured for another one?");
        doctor_add(d, "path-missing", SEV_ERROR, EX_UNAVAILABLE, t.s,
            "There is no socket at this path (nothing exists there).");
        doctor_note_server(d, NULL);
    }
    check_lock(d, path);
}

/* A symlink at the path: followed, or why it cannot be. Returns false when it cannot. */
static bool check_symlink(struct doctor *d) {
    const struct uds_pathinfo *pi = &d->pi;
    int e = pi->target_errno;

    if (e == 0) {
        doctor_add(d, "symlink", SEV_INFO, 0, NULL,
            "The path is a symbolic link to %s; connecting follows it.", pi->link);
        return true;
    }
    doctor_add(d, e == ENOENT ? "dangling-symlink" : "symlink-blocked", SEV_ERROR,
        e == ENOENT ? EX_UNAVAILABLE : e == EACCES ? EX_NOPERM : CLI_EXIT_FAILURE,
        "Point the link at the server's socket, or start the server.",
        "The path is a symbolic link to %s, which cannot be followed: %s.", pi->link,
        strerror(e));
    return false;
}

/* A socket at the path: who serves it, or that it is stale; whether the subject may write
 * it. With sock_diag the dump says who listens; without it, the probe did. */
static void check_socket(struct doctor *d, const char *path) {
    const struct uds_sockinfo *server = NULL;
    char desc[600];

    cli_describe_file(&d->pi.target, desc, sizeof(desc));
    doctor_add(d, "socket", SEV_INFO, 0, NULL, "The path is a socket: %s.", desc);
    if (d->have_socks) {
        server = server_of_file(d, &d->pi.target);
        if (!server)
            check_stale(d, path);
    } else if (d->pi.live == UDS_LIVE_STALE) {
        check_stale(d, path);
    } else if (d->pi.live != UDS_LIVE_UNKNOWN) {
        doctor_add(d, "listening", SEV_INFO, 0, NULL, "Something listens on it.");
    }
    if (server)
        check_listener(d, server);
    check_write(d, server);
    if (server)
        check_backlog(d, server);
}

static void check_path(struct doctor *d) {
    const char *path = d->addr.name;
    const struct uds_pathinfo *pi = &d->pi;

    if (d->addr.len > UDS_SUN_PATH_MAX)
        doctor_add(d, "path-too-long", SEV_WARNING, 0,
            "Other clients need a shorter path: move the socket, or give them a symlink to "
            "its directory (ln -s DIR /run/short) and the short path through it.",
            "The path is %zu bytes, longer than the %d that sun_path holds: socat, nc -U, "
            "Python and most programs cannot connect to it. udskit tools (uds, libudskit) "
            "still reach it, through /proc/self/fd.", d->addr.len, UDS_SUN_PATH_MAX);

    if (doctor_as_subject(d, get_pathinfo, &d->pi, sizeof(d->pi)) < 0) {
        doctor_add(d, "unreadable", SEV_ERROR, CLI_EXIT_FAILURE, "Check the path.",
            "Cannot examine the path: %s.", strerror(errno));
        return;
    }
    if (!check_dirs(d))
        return;
    if (pi->path_errno == ENOENT) {
        check_missing(d, path);
        return;
    }
    if (pi->path_errno != 0) {
        doctor_add(d, "unreadable", SEV_ERROR, CLI_EXIT_FAILURE, "Check the path.",
            "Cannot examine the path: %s.", strerror(pi->path_errno));
        return;
    }
    if (pi->file.kind == UDS_FILE_SYMLINK && !check_symlink(d))
        return;
    if (pi->target.kind != UDS_FILE_SOCKET) {
        doctor_add(d, "not-a-socket", SEV_ERROR, EX_CANTCREAT,
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

/* Not bound in this network namespace: look in the others (all of them for root). */
static void check_other_net_ns(struct doctor *d, ino_t own) {
    struct uds_abstract_search r;
    struct text t = { .o = 0 }, where = { .o = 0 };
    const struct uds_procfd *p;
    const struct uds_nshit *h;
    char who[512];
    size_t n;

    if (uds_abstract_search(d->addr.name, d->addr.len, &r) < 0)
        return;
    if (r.n_hits == 0) {
        if (r.n_searched > 0)
            doctor_add(d, "searched-namespaces", SEV_INFO, 0, NULL,
                "Searched %zu other network namespace%s too: it is not bound there either%s.",
                r.n_searched, r.n_searched == 1 ? "" : "s",
                geteuid() == 0 ? "" : " (those of your own processes; root sees every one)");
        else if (geteuid() != 0)
            doctor_add(d, "searched-namespaces", SEV_INFO, 0, NULL,
                "No other network namespace was searched: only root may look into those of "
                "other users' processes.");
        return;
    }
    h = &r.hits[0];
    n = d->have_procs ? uds_procfd_list_find(&d->procs, h->inode, &p) : 0;
    if (n > 0)
        snprintf(who, sizeof(who), "%s (pid %d)", p[0].command, (int) p[0].pid);
    else
        snprintf(who, sizeof(who), "a process in it (pid %d is there)", (int) h->pid);
    T_ADD(&where, "net:[%lu]", (unsigned long) h->net_ns);
    T_ADD(&t, "Run the client in the server's network namespace (nsenter --net=/proc/%d/ns/net "
          "CLIENT; for a container, docker exec, or --network container:NAME), or have the "
          "server bind a socket file instead: a file is reachable from any network namespace "
          "that sees its path. A systemd service with PrivateNetwork=yes, or a container "
          "without --network host, has a namespace of its own.", (int) h->pid);
    doctor_add(d, "other-network-namespace", SEV_WARNING, 0, t.s,
        "It is bound in another network namespace, %s, by %s, as a %s %s: an abstract name "
        "exists only in the network namespace it was bound in (this command runs in "
        "net:[%lu]).", where.s, who, h->listening ? "listening" : "bound",
        uds_socket_type_name(h->type), (unsigned long) own);
}

static void check_abstract(struct doctor *d) {
    const struct uds_sockinfo *server;
    struct uds_procinfo self;
    ino_t own = uds_procinfo_get(0, &self) == 0 ? self.net_ns : 0;

    doctor_add(d, "abstract", SEV_WARNING, 0,
        "To limit who may connect, have the server check its peers' credentials (uds serve "
        "--allow-uid/--allow-gid), or use a socket file with a mode and group.",
        "@%s is an abstract socket: it has no file, hence no file permissions; any process "
        "in this network namespace (net:[%lu]) can connect to it.", d->addr.name,
        (unsigned long) own);
    if (!d->have_socks) {
        enum uds_liveness live = UDS_LIVE_UNKNOWN;
        (void) uds_probe(&d->addr, &live, NULL);   /* on failure it cannot tell: UNKNOWN */
        if (live == UDS_LIVE_STALE)
            doctor_add(d, "no-listener", SEV_ERROR, EX_UNAVAILABLE, "Start the server.",
                "Nothing is bound to this abstract name.");
        else if (live != UDS_LIVE_UNKNOWN)
            doctor_add(d, "listening", SEV_INFO, 0, NULL, "Something listens on it.");
        return;
    }
    server = server_of_abstract(d);
    if (!server) {
        doctor_add(d, "no-listener", SEV_ERROR, EX_UNAVAILABLE,
            "Start the server. An abstract name vanishes with its socket, so there is never a "
            "stale file to remove.",
            "Nothing is bound to this abstract name in this network namespace (net:[%lu], "
            "the one this command runs in).", (unsigned long) own);
        check_other_net_ns(d, own);
        return;
    }
    check_listener(d, server);
    check_backlog(d, server);
}

/* Root may connect to any socket file: say so, and whom to check instead. */
static void note_root(struct doctor *d) {
    const struct uds_file *sock = &d->pi.target;
    char group[256], members[1024];
    struct text t = { .o = 0 };

    /* Only when root gets through: a socket nobody reaches needs no word about root. */
    if (d->who.as || geteuid() != 0 || d->blocked || d->addr.kind != UDS_ADDR_PATH ||
        sock->kind != UDS_FILE_SOCKET)
        return;
    cli_group_name(sock->gid, group, sizeof(group));
    likely_clients(sock->gid, sock->uid, members, sizeof(members));
    T_ADD(&t, "Check as a user who connects: uds doctor --as USER %s", d->address);
    if (members[0])
        T_ADD(&t, " (its likely clients, the members of its group %s and its owner: %s).",
              group, members);
    else
        T_ADD(&t, ". No user but root owns the socket or is in its group %s: whoever is meant "
              "to connect has no access yet.", group);
    doctor_add(d, "as-root", SEV_INFO, 0, t.s,
        "You are root, and root may connect whatever the socket's mode: this says nothing "
        "about the users who will connect to it.");
}

/* Everything looks fine: connect once, as a client would, and close. */
static void confirm(struct doctor *d) {
    struct probe p = { .type = UDS_STREAM };
    const struct uds_sockinfo *s = NULL;
    int e;

    if (d->have_socks) {
        if (d->addr.kind == UDS_ADDR_ABSTRACT)
            s = server_of_abstract(d);
        else if (d->pi.target.kind != UDS_FILE_NONE)
            s = server_of_file(d, &d->pi.target);
    }
    if (s)
        p.type = s->type;
    else if (d->pi.live != UDS_LIVE_UNKNOWN)
        p.type = d->pi.live_type;   /* what answered the probe */
    if (doctor_as_subject(d, test_connect, &p, sizeof(p)) == 0) {
        doctor_add(d, "can-connect", SEV_INFO, 0, NULL,
            "A test connection%s%s succeeded (and was closed at once): %s can connect.",
            d->who.as ? " as " : "", d->who.as ? d->who.name : "", doctor_you(d));
        return;
    }
    e = errno;
    switch (e) {
    case EACCES:
    case EPERM:
        doctor_add(d, "connect-denied", SEV_ERROR, EX_NOPERM,
            "Look at the security policy (SELinux: ausearch -m avc; AppArmor: the kernel "
            "log), or at namespaces: the server may be in another mount namespace.",
            "The kernel refused the test connection (%s) although the file permissions "
            "allow it: a security module (SELinux, AppArmor) may be in the way.",
            strerror(e));
        break;
    case ECONNREFUSED:
    case ENOENT:
        doctor_add(d, "connect-refused", SEV_ERROR, EX_UNAVAILABLE,
            "Check whether the server is restarting, and try again.",
            "The test connection failed (%s): the server went away meanwhile?", strerror(e));
        break;
    case ETIMEDOUT:
    case EAGAIN:
        doctor_add(d, "connect-timeout", SEV_ERROR, EX_TEMPFAIL,
            "The server is not accepting: it may be overloaded or stuck.",
            "The test connection was not accepted within %d ms.", PROBE_TIMEOUT_MS);
        break;
    default:
        doctor_add(d, "connect-failed", SEV_ERROR, CLI_EXIT_FAILURE, "Check the address.",
            "The test connection failed: %s.", strerror(e));
        break;
    }
}

/* A swap `uds tap` left beside the path (its watchdog could not put it back). Returns true
 * when the path leads to a dead tap's socket while the server listens under the hidden
 * name: then that is the whole answer. */
static bool check_tap_swap(struct doctor *d) {
    struct uds_swap_leftover left;
    struct text t = { .o = 0 };

    if (uds_swap_find_leftover(d->addr.name, &left) != 1)
        return false;
    if (left.running) {
        doctor_add(d, "tapped", SEV_INFO, 0, NULL,
            "uds tap (pid %ld) stands in front of this socket: clients reach the server "
            "through it, and the server's own socket is at %s until the tap stops.",
            (long) left.pid, left.hidden_path);
        return false;
    }
    if (left.hidden_live) {
        T_ADD(&t, "Put the server's socket back: mv -T '%s' '%s'", left.hidden_path,
              d->addr.name);
        doctor_add(d, "tap-leftover", SEV_ERROR, EX_UNAVAILABLE, t.s,
            "A uds tap (pid %ld) that is gone left the server's socket at %s: this path "
            "holds the tap's own socket, where nothing listens.", (long) left.pid,
            left.hidden_path);
        return true;
    }
    T_ADD(&t, "Remove it: rm '%s'", left.hidden_path);
    doctor_add(d, "tap-leftover", SEV_WARNING, 0, t.s,
        "%s is the socket of a uds tap (pid %ld) that is gone; nothing listens there.",
        left.hidden_path, (long) left.pid);
    return false;
}

/* The path absolute, and with its directory's symlinks resolved: how the sockets of the
 * dump are compared with it. */
static void absolute_forms(struct doctor *d) {
    if (uds_path_canonical(d->addr.name, d->canon, sizeof(d->canon)) < 0)
        snprintf(d->canon, sizeof(d->canon), "%s", d->addr.name);
    if (d->addr.name[0] == '/') {
        snprintf(d->abs, sizeof(d->abs), "%s", d->addr.name);
    } else {
        char cwd[PATH_MAX];
        const char *rel = d->addr.name;
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        if (!getcwd(cwd, sizeof(cwd)))
            strcpy(cwd, ".");
        snprintf(d->abs, sizeof(d->abs), "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", rel);
    }
}

static void doctor_free(struct doctor *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->findings[i].message);
        free(d->findings[i].advice);
    }
    doctor_subject_done(&d->who);
    uds_procfd_list_done(&d->procs);
    uds_socklist_done(&d->socks);
    free(d);
}

/* Whom to check: the caller, or --as USER (root only: it takes the user's ids). */
static int setup_subject(struct doctor *d) {
    if (!d->as_user) {
        if (doctor_subject_self(&d->who) < 0) {
            cli_error(NULL, NULL, "cannot read your groups: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        return EX_OK;
    }
    if (geteuid() != 0) {
        cli_error(d->address, "run it as root (sudo uds doctor --as ...), or as that user "
                  "(sudo -u USER uds doctor ADDRESS)",
                  "--as %s needs root: only root can take another user's ids", d->as_user);
        return EX_NOPERM;
    }
    if (doctor_subject_as(&d->who, d->as_user) < 0) {
        int e = errno;
        if (e == ENOENT)
            return cli_usage("doctor", "--as %s: no such user", d->as_user);
        cli_error(d->address, NULL, "--as %s: %s", d->as_user, strerror(e));
        return CLI_EXIT_FAILURE;
    }
    return EX_OK;
}

/* The checks on a Unix socket address. Returns CLI_CONTINUE, or an exit code having said
 * why. */
static int examine_unix(struct doctor *d) {
    int code = setup_subject(d);

    if (code != EX_OK)
        return code;
    if (uds_addr_parse(d->address, 0, &d->addr) < 0)
        return cli_fail(CLI_OP_ANY, d->address, errno, NULL);
    d->have_socks = uds_socklist_get(&d->socks) == 0;
    if (!d->have_socks)
        doctor_add(d, "no-sock-diag", SEV_WARNING, 0,
            "Load it (modprobe unix_diag) for the full picture; meanwhile doctor connects to "
            "find out.",
            "Cannot list the machine's sockets (%s): who listens cannot be told.",
            strerror(errno));
    d->have_procs = uds_procfd_list_get(0, &d->procs) == 0;
    if (d->who.as) {
        char me[1024];
        doctor_describe_subject(d, me, sizeof(me));
        doctor_add(d, "checked-as", SEV_INFO, 0, NULL,
            "Checked as %s (%s), with the groups a new login gives: the permission checks "
            "and the test connection are made with these ids.", d->who.name, me);
    }
    if (d->addr.kind == UDS_ADDR_ABSTRACT) {
        check_abstract(d);
    } else {
        absolute_forms(d);
        if (!check_tap_swap(d)) {
            check_path(d);
            note_root(d);
        }
    }
    if (!d->blocked && !d->no_connect)
        confirm(d);
    return CLI_CONTINUE;
}

/* Options that belong to the other kind of address are a usage error. */
static int check_options(const struct doctor *d) {
    const struct tls_opts *t = &d->tls;
    const char *tls_opt = t->cert ? "--cert" : t->key ? "--key" : t->ca ? "--ca" :
                          t->server_name ? "--server-name" : NULL;

    if (!d->is_tls && tls_opt)
        return cli_usage("doctor", "%s is for a tls:HOST:PORT address; '%s' is not one",
                         tls_opt, d->address);
    if (d->is_tls && (d->as_user || d->no_connect))
        return cli_usage("doctor", "%s is for a Unix socket address, not tls:HOST:PORT",
                         d->as_user ? "--as" : "--no-connect");
    return CLI_CONTINUE;
}

static int doctor_run(struct doctor *d) {
    int code = check_options(d);

    if (code == CLI_CONTINUE)
        code = d->is_tls ? doctor_tls_examine(d) : examine_unix(d);
    if (code == CLI_CONTINUE) {
        code = doctor_first_exit(d);
        doctor_print_report(d, code);
        if (fflush(stdout) != 0)
            code = CLI_EXIT_FAILURE;
    }
    doctor_free(d);
    return code;
}

int cmd_doctor(int argc, char **argv) {
    struct cli_parsed p;
    struct doctor *d = calloc(1, sizeof(*d));
    int code;

    if (!d) {
        cli_error(NULL, NULL, "out of memory");
        return CLI_EXIT_FAILURE;
    }
    code = cli_parse(&doctor_cmd, argc, argv, d, &p);
    if (code != CLI_CONTINUE) {
        free(d);
        return code;
    }
    d->is_tls = strncmp(d->address, "tls:", 4) == 0;   /* doctor_tls.c */
    cli_log_setup(0, false);
    return doctor_run(d);
}
