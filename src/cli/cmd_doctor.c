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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

#define MAX_FINDINGS 32
/* The test connection gives up after this long (a listener that does not accept). */
#define PROBE_TIMEOUT_MS 1000
/* Room for a path made absolute: a working directory and the path given. */
#define ABS_MAX (PATH_MAX + UDS_PATH_MAX + 2)
/* Room for an advice or a list built piece by piece. */
#define TEXT_MAX 4096

enum severity { SEV_INFO, SEV_WARNING, SEV_ERROR };

struct finding {
    const char *code;
    enum severity severity;
    int exit_code;          /* what `doctor` exits with if this is the first error */
    char *message;
    char *advice;           /* NULL for none */
};

/* Whom the checks are for: the caller, or with --as the user of a new login. */
struct subject {
    bool as;                /* --as: not the caller */
    char name[256];         /* user name, or the uid in digits */
    uid_t uid;
    gid_t gid;
    gid_t *groups;          /* malloc'ed */
    size_t n_groups;
    struct uds_login login; /* the user's groups as a new login would have them */
    bool have_login;
};

struct doctor {
    const char *address;
    struct uds_addr addr;
    bool json;
    bool no_connect;
    const char *as_user;    /* --as USER, or NULL */
    struct subject who;
    struct finding findings[MAX_FINDINGS];
    size_t n;
    bool blocked;           /* an error finding says the subject cannot connect */
    struct uds_pathinfo pi; /* the facts at a path address, as the subject sees them */
    struct uds_socklist socks;
    bool have_socks;
    struct uds_procfd_list procs;
    bool have_procs;
    char abs[ABS_MAX];      /* the path made absolute, as given */
    char canon[ABS_MAX];    /* ... with its directory's symlinks resolved */
    struct uds_server_ident ident;  /* the server behind the address, once looked for */
    bool have_ident;
    const struct uds_sockinfo *ident_of;    /* the socket ident was looked for with */
};

#define D struct doctor
static const struct cli_command doctor_cmd = {
    .name = "doctor",
    .synopsis = "[OPTIONS] ADDRESS",
    .help_col = 20,
    .operands = { .names = "ADDRESS", .min = 1, .max = 1, .example = "uds doctor /run/app.sock" },
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
        "It never removes anything.\n",
    .outro =
        "ADDRESS is a path, @abstract, unix:PATH or unix:@name.\n"
        "\n"
        "Exit status: 0 you (or USER) can connect, 1 failure, 64 usage error, 69 nothing\n"
        "listens (no such socket, stale socket, deleted or replaced path, a listener in\n"
        "another namespace), 73 the path is not a socket or a directory is missing, 75 the\n"
        "listener's backlog is full, 77 permission denied (a directory or the socket; --as\n"
        "without root).\n",
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
        CLI_END,
    },
};
#undef D

/* ---- findings ------------------------------------------------------------------------- */

static void out_of_memory(void) {
    fprintf(stderr, "uds: out of memory\n");
    exit(CLI_EXIT_FAILURE);
}

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
    f->advice = advice && advice[0] ? strdup(advice) : NULL;
    if (!f->message || (advice && advice[0] && !f->advice))
        out_of_memory();
    if (sev == SEV_ERROR)
        d->blocked = true;
}

static bool has_finding(const struct doctor *d, const char *code) {
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->findings[i].code, code) == 0)
            return true;
    return false;
}

/* A text built piece by piece with cli_append. */
struct text {
    char s[TEXT_MAX];
    size_t o;
};

#define T_ADD(t, ...) cli_append((t)->s, sizeof((t)->s), &(t)->o, __VA_ARGS__)

/* ---- whom the checks are for ---------------------------------------------------------- */

static int subject_self(struct subject *w) {
    int n = getgroups(0, NULL);

    w->uid = geteuid();
    w->gid = getegid();
    cli_user_name(w->uid, w->name, sizeof(w->name));
    if (n < 0)
        return -1;
    w->groups = malloc((size_t) (n ? n : 1) * sizeof(*w->groups));
    if (!w->groups)
        return -1;
    n = getgroups(n, w->groups);
    if (n < 0)
        return -1;
    w->n_groups = (size_t) n;
    /* For telling "in the group in /etc/group" from "in it in this login". */
    w->have_login = uds_login_get(w->name, &w->login) == 0 && w->login.uid == w->uid;
    return 0;
}

/* --as USER: the user's ids as a new login gives them. */
static int subject_as(struct subject *w, const char *user) {
    if (uds_login_get(user, &w->login) < 0)
        return -1;
    w->have_login = true;
    w->as = true;
    w->uid = w->login.uid;
    w->gid = w->login.gid;
    snprintf(w->name, sizeof(w->name), "%s", w->login.name);
    w->groups = malloc((w->login.n_groups ? w->login.n_groups : 1) * sizeof(*w->groups));
    if (!w->groups)
        return -1;
    if (w->login.n_groups)
        memcpy(w->groups, w->login.groups, w->login.n_groups * sizeof(*w->groups));
    w->n_groups = w->login.n_groups;
    return 0;
}

static void subject_done(struct subject *w) {
    free(w->groups);
    uds_login_done(&w->login);
}

static bool subject_in_group(const struct subject *w, gid_t gid) {
    if (w->gid == gid)
        return true;
    for (size_t i = 0; i < w->n_groups; i++)
        if (w->groups[i] == gid)
            return true;
    return false;
}

/* "you" for the caller, the user's name with --as; and the verb that goes with it. */
static const char *you(const struct doctor *d) {
    return d->who.as ? d->who.name : "you";
}

static const char *You(const struct doctor *d) {
    return d->who.as ? d->who.name : "You";
}

static const char *are(const struct doctor *d) {
    return d->who.as ? "is" : "are";
}

/* "uid 65534 (nobody), group nogroup", "uid 1000 (ann), groups ann, wheel" */
static void describe_subject(const struct doctor *d, char *buf, size_t size) {
    const struct subject *w = &d->who;
    char name[256];
    size_t o = 0, others = 0;

    for (size_t i = 0; i < w->n_groups; i++)
        others += w->groups[i] != w->gid;
    cli_group_name(w->gid, name, sizeof(name));
    buf[0] = '\0';
    cli_append(buf, size, &o, "uid %u (%s), group%s %s", (unsigned) w->uid, w->name,
               others ? "s" : "", name);
    for (size_t i = 0; i < w->n_groups; i++) {
        if (w->groups[i] == w->gid)
            continue;
        cli_group_name(w->groups[i], name, sizeof(name));
        cli_append(buf, size, &o, ", %s", name);
    }
}

/* Why the class of permission bits that applies is the one it is. */
static const char *perm_why(const struct doctor *d, enum uds_perm_class class) {
    switch (class) {
    case UDS_PERM_OWNER: return d->who.as ? "that user is its owner" : "you are its owner";
    case UDS_PERM_GROUP: return d->who.as ? "that user is in its group" : "you are in its group";
    default:
        return d->who.as ? "that user is neither its owner nor in its group, so the 'other' "
                           "bits apply"
                         : "you are neither its owner nor in its group, so the 'other' bits "
                           "apply";
    }
}

/* ---- checks made as the subject --------------------------------------------------------- */

/* Become the subject for good (a child process only): groups, then gid, then uid, so that
 * nothing of root's is left when the checks run. */
static int become(const struct subject *w) {
    if (setgroups(w->n_groups, w->groups) < 0 || setresgid(w->gid, w->gid, w->gid) < 0 ||
        setresuid(w->uid, w->uid, w->uid) < 0)
        return -1;
    return 0;
}

/* Read size bytes, across the short reads of a pipe (a write over PIPE_BUF comes in parts). */
static bool read_full(int fd, void *buf, size_t size) {
    size_t got = 0;

    while (got < size) {
        ssize_t n = read(fd, (char *) buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t) n;
    }
    return true;
}

/* Run fn(d, out) as the subject: in this process for the caller; for --as in a child that
 * has become the user, which hands back fn's result, errno and out through a pipe. */
static int as_subject(struct doctor *d, int (*fn)(struct doctor *d, void *out), void *out,
                      size_t size) {
    int fds[2], status, r = -1, e = EIO;
    pid_t pid;

    if (!d->who.as)
        return fn(d, out);
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        e = errno;
        close(fds[0]);
        close(fds[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        int res[2] = { -1, 0 };
        close(fds[0]);
        if (become(&d->who) < 0)
            res[1] = errno;
        else if ((res[0] = fn(d, out)) < 0)
            res[1] = errno;
        if (write(fds[1], res, sizeof(res)) != sizeof(res) ||
            (res[0] >= 0 && write(fds[1], out, size) != (ssize_t) size))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    {
        int res[2];
        if (read_full(fds[0], res, sizeof(res))) {
            r = res[0];
            e = res[1];
            if (r >= 0 && !read_full(fds[0], out, size))
                r = -1, e = EIO;
        }
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    errno = e;
    return r;
}

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

static size_t holders(const struct doctor *d, const struct uds_sockinfo *s,
                      const struct uds_procfd **ret) {
    *ret = NULL;
    return s && d->have_procs ? uds_procfd_find(&d->procs, s->inode, ret) : 0;
}

static const char *base_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Where the file of a socket bound to a path is, seen from here. */
static bool where_of(const struct doctor *d, const struct uds_sockinfo *s,
                     struct uds_sockwhere *w) {
    const struct uds_procfd *p;
    size_t n = holders(d, s, &p);

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
    size_t n = holders(d, s, &p), distinct = 0;
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

/* ---- the server behind the socket, in its own words --------------------------------------- */

/* Recognise the server once, from the socket that serves the address (or by its name when
 * none does). */
static const struct uds_server_ident *ident(struct doctor *d, const struct uds_sockinfo *s) {
    const struct uds_procfd *p;
    size_t n;

    if (d->have_ident && (d->ident_of == s || !s))
        return &d->ident;
    n = holders(d, s, &p);
    if (uds_server_identify(&d->addr, p, n, &d->ident) < 0)
        d->ident = (struct uds_server_ident) { .kind = UDS_SERVER_UNKNOWN };
    d->have_ident = true;
    d->ident_of = s;
    return &d->ident;
}

/* The server that reads the configuration: the one systemd hands its socket to. */
static enum uds_server_kind served_by(const struct uds_server_ident *id) {
    return id->kind == UDS_SERVER_SYSTEMD && id->service ? id->service : id->kind;
}

static const char *server_title(enum uds_server_kind kind) {
    switch (kind) {
    case UDS_SERVER_UDSKIT: return "a udskit listener";
    case UDS_SERVER_PHP_FPM: return "php-fpm";
    case UDS_SERVER_POSTGRESQL: return "PostgreSQL";
    case UDS_SERVER_REDIS: return "redis";
    case UDS_SERVER_DOCKERD: return "dockerd";
    case UDS_SERVER_SYSTEMD: return "systemd";
    default: return "an unknown server";
    }
}

/* "listen.owner = nobody (line 6), listen.mode = 0660 (line 8)" for the keys that are
 * set; "" when none is. */
static void settings_text(const struct uds_server_ident *id, const char *const *keys,
                          struct text *t) {
    /* As each file writes them: "listen.mode = 0660", "SocketMode=0600", "unixsocketperm
     * 700". */
    const char *sep = id->kind == UDS_SERVER_SYSTEMD ? "=" : served_by(id) == UDS_SERVER_REDIS
                                                             ? " " : " = ";
    size_t n = 0;

    for (; *keys; keys++) {
        unsigned line = 0;
        const char *v = uds_server_setting(id, *keys, &line);
        if (!v)
            continue;
        if (line)
            T_ADD(t, "%s%s%s%s (line %u)", n++ ? ", " : "", *keys, sep, v, line);
        else
            T_ADD(t, "%s%s=%s (on the command line)", n++ ? ", " : "", *keys, v);
    }
}

/* "systemctl start php8.2-fpm": how the server is started, when it is known. */
static void start_command(const struct uds_server_ident *id, char *buf, size_t size) {
    buf[0] = '\0';
    if (id->socket_unit[0])
        snprintf(buf, size, "systemctl start %s", id->socket_unit);
    else if (id->unit[0] && strcmp(id->unit, "init.scope") != 0)
        snprintf(buf, size, "systemctl start %s", id->unit);
    else if (served_by(id) == UDS_SERVER_PHP_FPM && id->version[0])
        snprintf(buf, size, "systemctl start php%s-fpm", id->version);
    else if (served_by(id) == UDS_SERVER_POSTGRESQL)
        snprintf(buf, size, "systemctl start postgresql");
    else if (served_by(id) == UDS_SERVER_REDIS)
        snprintf(buf, size, "systemctl start redis-server");
    else if (served_by(id) == UDS_SERVER_DOCKERD)
        snprintf(buf, size, "systemctl start docker");
}

/* "; its socket settings are read from F" and so on, for the kind that reads them. */
static void describe_config(const struct uds_server_ident *id, struct text *t) {
    switch (served_by(id)) {
    case UDS_SERVER_PHP_FPM:
        if (id->config[0])
            T_ADD(t, ", pool [%s]: listen = at line %u of %s makes this socket", id->pool,
                  id->config_line, id->config);
        else if (id->main_config[0])
            T_ADD(t, "; no pool of %s (nor of the files it includes) has listen = this path",
                  id->main_config);
        return;
    case UDS_SERVER_POSTGRESQL:
        if (id->data_dir[0])
            T_ADD(t, " (data directory %s)", id->data_dir);
        if (id->config[0])
            T_ADD(t, "; its socket settings are read from %s", id->config);
        if (id->config_line)
            T_ADD(t, " (unix_socket_directories at line %u)", id->config_line);
        return;
    case UDS_SERVER_REDIS:
        if (id->config_line)
            T_ADD(t, "; unixsocket at line %u of %s makes this socket", id->config_line,
                  id->config);
        else
            T_ADD(t, " (which redis.conf it read is not known: redis-server renames itself "
                  "once started)");
        return;
    case UDS_SERVER_DOCKERD:
        T_ADD(t, "; its socket settings are its command line and %s",
              id->config[0] ? id->config : "/etc/docker/daemon.json");
        return;
    case UDS_SERVER_UDSKIT:
        T_ADD(t, ", uds serve or a program built on libudskit");
        return;
    default:
        return;
    }
}

/* One sentence: which server this is, and where its socket is configured. */
static void describe_server(const struct uds_server_ident *id, struct text *t) {
    T_ADD(t, "The server is %s", server_title(id->kind));
    if (id->kind == UDS_SERVER_SYSTEMD) {
        if (id->socket_unit[0])
            T_ADD(t, ", for the socket unit %s (ListenStream= at line %u of %s)",
                  id->socket_unit, id->socket_unit_line, id->socket_unit_file);
        else if (id->systemd_pid)
            T_ADD(t, " (systemd-socket-activate or the service manager, pid %d), with no "
                  ".socket unit found that lists this address", (int) id->systemd_pid);
        if (id->service)
            T_ADD(t, "; it hands the socket to %s", server_title(id->service));
    } else if (id->version[0]) {
        T_ADD(t, " %s", id->version);
    }
    describe_config(id, t);
    if (id->found_by == UDS_SERVER_BY_PATH && id->kind == UDS_SERVER_UDSKIT)
        T_ADD(t, " (known by the lock file its listener left: no process can be seen "
              "holding the socket)");
    else if (id->found_by == UDS_SERVER_BY_PATH)
        T_ADD(t, " (known by its name: no process can be seen holding it)");
    else if (id->found_by == UDS_SERVER_BY_CONFIG)
        T_ADD(t, " (known by the configuration of %s pid %d, which is running)",
              id->program[0] ? id->program : server_title(id->kind), (int) id->pid);
    T_ADD(t, ".");
}

static void note_server(struct doctor *d, const struct uds_sockinfo *s) {
    const struct uds_server_ident *id = ident(d, s);
    struct text t = { .o = 0 };

    if (id->kind == UDS_SERVER_UNKNOWN || has_finding(d, "server"))
        return;
    describe_server(id, &t);
    add(d, "server", SEV_INFO, 0, NULL, "%s", t.s);
}

/* A group the subject is in, to suggest: its primary group. */
static void subject_group(const struct doctor *d, char *buf, size_t size) {
    cli_group_name(d->who.gid, buf, size);
}

static void access_php_fpm(const struct doctor *d, const struct uds_server_ident *id,
                           struct text *t) {
    static const char *const keys[] = { "listen.owner", "listen.group", "listen.mode",
                                        "listen.acl_users", "listen.acl_groups", NULL };
    char group[256], restart[64] = "systemctl restart php-fpm";
    struct text now = { .o = 0 };

    subject_group(d, group, sizeof(group));
    if (id->version[0])
        snprintf(restart, sizeof(restart), "systemctl restart php%s-fpm", id->version);
    settings_text(id, keys, &now);
    if (id->config[0])
        T_ADD(t, "php-fpm sets this socket's owner, group and mode from listen.owner, "
              "listen.group and listen.mode in pool [%s] of %s (%s%s). ", id->pool, id->config,
              now.o ? "now " : "none is set there, so the pool's user and group and mode "
              "0660 apply", now.s);
    else
        T_ADD(t, "php-fpm sets this socket's owner, group and mode from listen.owner, "
              "listen.group and listen.mode in the pool whose listen = names it. ");
    T_ADD(t, "Set listen.group = %s (a group %s %s in) and listen.mode = 0660 there, or "
          "listen.owner = %s, then restart php-fpm (%s). If "
          "listen.acl_users or listen.acl_groups is set, it replaces owner and group: add "
          "%s there instead.", group, you(d), are(d), d->who.name, restart, d->who.name);
}

static void access_postgres(const struct doctor *d, const struct uds_server_ident *id,
                            struct text *t) {
    static const char *const keys[] = { "unix_socket_group", "unix_socket_permissions", NULL };
    struct text now = { .o = 0 };
    char group[256];

    subject_group(d, group, sizeof(group));
    settings_text(id, keys, &now);
    T_ADD(t, "PostgreSQL sets this socket's group and mode from unix_socket_group and "
          "unix_socket_permissions in %s (", id->config[0] ? id->config : "its postgresql.conf");
    if (now.o)
        T_ADD(t, "now %s; ", now.s);
    else if (id->config[0])
        T_ADD(t, "neither is set; ");
    T_ADD(t, "the defaults are the server's own group and 0777). Set unix_socket_group = '%s' "
          "(a group %s %s in) with unix_socket_permissions = 0770, or "
          "unix_socket_permissions = 0777 to leave it to pg_hba.conf who may log in; then "
          "restart PostgreSQL (systemctl restart postgresql", group, you(d), are(d));
    if (id->data_dir[0])
        T_ADD(t, ", or pg_ctl restart -D %s", id->data_dir);
    T_ADD(t, ").");
}

static void access_redis(const struct doctor *d, const struct uds_server_ident *id,
                         const char *sock_group, struct text *t) {
    static const char *const keys[] = { "unixsocketperm", "unixsocketgroup", NULL };
    struct text now = { .o = 0 };

    settings_text(id, keys, &now);
    T_ADD(t, "redis sets this socket's mode from unixsocketperm in %s",
          id->config_line ? id->config : "its redis.conf");
    if (id->config_line)
        T_ADD(t, " (%s%s)", now.o ? "now " : "not set there, so 0 (the umask decides)", now.s);
    T_ADD(t, "; its group is redis-server's own, %s. Set unixsocketperm 770 and add %s to "
          "group %s (usermod -aG %s %s, then a new login), or unixsocketperm 777; then "
          "restart redis-server.", sock_group, d->who.name, sock_group, sock_group,
          d->who.name);
}

static void access_docker(const struct doctor *d, const struct uds_server_ident *id,
                          const char *sock_group, struct text *t) {
    static const char *const keys[] = { "group", "--group", NULL };
    struct text now = { .o = 0 };

    settings_text(id, keys, &now);
    T_ADD(t, "dockerd gives its socket the group docker unless its -G/--group option or "
          "\"group\" in %s says otherwise (%s%s), and mode 0660. Add %s to group %s: "
          "usermod -aG %s %s, then log in again. Mind that this group is worth root: "
          "whoever may use the docker socket controls this host.",
          id->config[0] ? id->config : "/etc/docker/daemon.json", now.o ? "now " : "not set",
          now.s, d->who.name, sock_group, sock_group, d->who.name);
}

static void access_systemd(const struct doctor *d, const struct uds_server_ident *id,
                           struct text *t) {
    static const char *const keys[] = { "SocketMode", "SocketUser", "SocketGroup", NULL };
    struct text now = { .o = 0 };
    char group[256];

    subject_group(d, group, sizeof(group));
    settings_text(id, keys, &now);
    if (!id->socket_unit[0]) {
        T_ADD(t, "This socket was made by systemd-socket-activate (or a service manager) "
              "with no .socket unit found for it; systemd-socket-activate has no option for "
              "the mode, so the socket has what its umask gave. In a .socket unit, "
              "SocketGroup=%s and SocketMode=0660 in [Socket] let %s in.", group,
              d->who.name);
        return;
    }
    T_ADD(t, "systemd makes this socket for %s (%s) with SocketMode= (default 0666), "
          "SocketUser= and SocketGroup= of its [Socket] section (%s%s). Set SocketGroup=%s "
          "(a group %s %s in) and SocketMode=0660 there (systemctl edit %s), then "
          "systemctl daemon-reload and systemctl restart %s.", id->socket_unit,
          id->socket_unit_file, now.o ? "now " : "none is set", now.s, group, you(d),
          are(d), id->socket_unit, id->socket_unit);
}

/* What to do when the socket's mode shuts the subject out, in the server's own terms. */
static void access_advice(struct doctor *d, const struct uds_sockinfo *s,
                          const struct uds_file *sock, struct text *t) {
    const struct uds_server_ident *id = ident(d, s);
    char group[256], owner[256];

    cli_group_name(sock->gid, group, sizeof(group));
    cli_user_name(sock->uid, owner, sizeof(owner));
    if (id->kind == UDS_SERVER_SYSTEMD && id->socket_unit[0]) {
        access_systemd(d, id, t);
        return;
    }
    switch (served_by(id)) {
    case UDS_SERVER_PHP_FPM: access_php_fpm(d, id, t); return;
    case UDS_SERVER_POSTGRESQL: access_postgres(d, id, t); return;
    case UDS_SERVER_REDIS: access_redis(d, id, group, t); return;
    case UDS_SERVER_DOCKERD: access_docker(d, id, group, t); return;
    case UDS_SERVER_SYSTEMD: access_systemd(d, id, t); return;
    case UDS_SERVER_UDSKIT:
        T_ADD(t, "Ask for access: the server can give its socket a group %s %s in and mode "
              "0660 (uds serve --group %s --mode 0660, and add %s to %s), or mode 0666 for "
              "everyone; or run as the socket's owner or root.", you(d), are(d),
              sock->gid == 0 ? "GROUP" : group, d->who.as ? d->who.name : "yourself",
              sock->gid == 0 ? "GROUP" : group);
        return;
    default:
        T_ADD(t, "Ask for access: the server's own configuration decides its socket's owner, "
              "group and mode. Have it give the socket a group %s %s in and mode 0660 (or "
              "0666 for everyone), or run as the socket's owner (%s) or root.", you(d),
              are(d), owner);
        return;
    }
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
        add(d, "bound-elsewhere", SEV_INFO, 0, NULL,
            "That socket was bound as %s; this path is a bind mount of its file.", w.path);
    else
        add(d, "bound-elsewhere", SEV_INFO, 0, NULL,
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
    add(d, "listening", SEV_INFO, 0, NULL, "It is served by %s%s: %s, socket inode %lu%s.", who,
        visible || geteuid() == 0 ? "" : " (run as root to see which)", what,
        (unsigned long) s->inode, uid);
    check_bound_as(d, s);
    note_server(d, s);
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
    const struct uds_server_ident *id = ident(d, s);
    unsigned line = 0;
    const char *v;

    if (id->kind == UDS_SERVER_SYSTEMD && id->socket_unit[0]) {
        v = uds_server_setting(id, "Backlog", &line);
        T_ADD(t, "Backlog= in [Socket] of %s (%s%s)", id->socket_unit_file,
              v ? "now " : "default SOMAXCONN", v ? v : "");
        return;
    }
    switch (served_by(id)) {
    case UDS_SERVER_PHP_FPM:
        v = uds_server_setting(id, "listen.backlog", &line);
        T_ADD(t, "listen.backlog in pool [%s] of %s (%s%s), and more workers "
              "(pm.max_children), since a pool whose workers are all busy accepts nobody",
              id->pool, id->config[0] ? id->config : "its pool file",
              v ? "now " : "default 511", v ? v : "");
        return;
    case UDS_SERVER_POSTGRESQL:
        T_ADD(t, "PostgreSQL asks for twice max_connections (in %s)",
              id->config[0] ? id->config : "postgresql.conf");
        return;
    case UDS_SERVER_REDIS:
        T_ADD(t, "tcp-backlog in %s, which redis uses for its Unix socket too",
              id->config[0] ? id->config : "redis.conf");
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
        add(d, "backlog-waiting", SEV_INFO, 0, NULL,
            "%lu connection%s wait%s to be accepted (backlog %lu).", (unsigned long) s->recv_q,
            s->recv_q == 1 ? "" : "s", s->recv_q == 1 ? "s" : "", (unsigned long) s->send_q);
        return;
    }
    /* The kernel refuses a new connection once more than the backlog are waiting. */
    describe_holder(d, s, who, sizeof(who));
    if (holders(d, s, &p) > 0)
        T_ADD(&t, "%s (pid %d) is not accepting: see what it is doing (stuck, or paused at a "
              "connection limit? top -p %d, cat /proc/%d/wchan, strace -p %d). ",
              p[0].command, (int) p[0].pid, (int) p[0].pid, (int) p[0].pid, (int) p[0].pid);
    else
        T_ADD(&t, "The server is not accepting: see what it is doing. ");
    T_ADD(&t, "A larger backlog only buys time: ");
    backlog_setting(d, s, &t);
    T_ADD(&t, "; the kernel caps any backlog at net.core.somaxconn (sysctl -w "
          "net.core.somaxconn=N).");
    add(d, "backlog-full", SEV_ERROR, EX_TEMPFAIL, t.s,
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
    describe_subject(d, me, sizeof(me));
    cli_group_name(pi->dir_file.gid, group, sizeof(group));
    T_ADD(&t, "Ask the owner of %s to let %s through (chmod o+x %s, or add %s to group %s and "
          "chmod g+x %s), or run as a user who may. The socket's own mode does not help while "
          "a directory blocks the way.", pi->dir, d->who.as ? d->who.name : "you", pi->dir,
          d->who.as ? d->who.name : "you", group, pi->dir);
    add(d, "dir-not-searchable", SEV_ERROR, EX_NOPERM, t.s,
        "%s cannot reach the socket: the directory %s is %s and %s (%s) may not search it "
        "(%s).", d->who.as ? d->who.name : "You", pi->dir, desc, you(d), me,
        perm_why(d, pi->dir_file.perm));
}

/* A listener bound at this path that lives in another mount namespace. */
static void check_other_mnt_ns(struct doctor *d, const struct uds_sockinfo *s,
                               const struct uds_sockwhere *w) {
    struct uds_procinfo p = { 0 };
    struct text t = { .o = 0 };
    char who[512], unit[300] = "";
    bool tmp = strncmp(w->path, "/tmp/", 5) == 0 || strncmp(w->path, "/var/tmp/", 9) == 0;

    describe_holder(d, s, who, sizeof(who));
    if (uds_procinfo_get(w->pid, &p) == 0 && p.unit[0])
        snprintf(unit, sizeof(unit), " (its unit: %s)", p.unit);
    T_ADD(&t, "If the server is a systemd service with PrivateTmp=yes%s, its /tmp and /var/tmp "
          "are its own: put the socket in /run (RuntimeDirectory=) or set PrivateTmp=no. If "
          "it runs in a container or another mount namespace, share the socket's directory "
          "with the clients (a bind mount of the directory, as -v /run/app:/run/app), not "
          "the socket file. Meanwhile root reaches it as %s.", unit, w->reach);
    add(d, "other-mount-namespace", SEV_ERROR, EX_UNAVAILABLE, t.s,
        "%s listens on a socket bound at this path, but in another mount namespace: the file "
        "is in that process's view of the filesystem%s, not in yours, so this path does not "
        "lead to it here. It is reachable from here as %s.", who,
        tmp ? " (a private /tmp?)" : "", w->reach);
}

/* A way into the socket's directory is blocked or missing: the listener may still be
 * somewhere, in another mount namespace or behind the directory. */
static void check_elsewhere(struct doctor *d) {
    struct uds_sockwhere w;
    const struct uds_sockinfo *s = bound_listener(d, false, UDS_PATH_OTHER_NS, &w);
    char who[512];

    if (s) {
        check_other_mnt_ns(d, s, &w);
        return;
    }
    s = bound_listener(d, false, UDS_PATH_OK, &w);
    if (!s)
        s = bound_listener(d, false, UDS_PATH_UNKNOWN, &w);
    if (s) {
        describe_holder(d, s, who, sizeof(who));
        add(d, "listening", SEV_INFO, 0, NULL,
            "A socket bound at this path is served by %s (%s cannot reach it from here).", who,
            you(d));
    }
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
        n = holders(d, s, &p);
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
        add(d, "lock-held", SEV_INFO, 0,
            "PostgreSQL will not start on this socket while that process runs. If it is no "
            "postmaster (its pid was reused), the lock file is stale: remove it.",
            "Its lock file %s is PostgreSQL's own (it holds a pid, not a flock): it names pid "
            "%d, %s, which is running.", lock, (int) pid, comm);
        return;
    }
    add(d, "lock-abandoned", SEV_INFO, 0,
        "Nothing to do about it: PostgreSQL takes it over at its next start, once it sees "
        "that pid is gone.",
        "Its lock file %s is PostgreSQL's own (it holds a pid, not a flock): it names pid %d, "
        "which is no longer running.", lock, (int) pid);
}

static void check_lock(struct doctor *d, const char *path) {
    char lock[UDS_LOCK_PATH_MAX + 1], who[512], comm[64];
    const struct uds_server_ident *id = ident(d, NULL);
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
        add(d, "lock-abandoned", SEV_INFO, 0,
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
    struct uds_sockwhere w;
    const struct uds_sockinfo *s = bound_listener(d, false, UDS_PATH_OTHER_NS, &w);
    char who[512];

    if (s) {
        check_other_mnt_ns(d, s, &w);
        return;
    }
    s = bound_listener(d, false, UDS_PATH_REPLACED, &w);
    if (!s)
        return;
    describe_holder(d, s, who, sizeof(who));
    add(d, "path-replaced", SEV_ERROR, EX_UNAVAILABLE,
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

    add(d, "bind-mounted-socket", SEV_WARNING, 0,
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
    const struct uds_server_ident *id = ident(d, NULL);
    char start[300];

    start_command(id, start, sizeof(start));
    if (mounted) {
        T_ADD(t, "The file cannot be removed here (it is a mount point): see the bind mount "
              "below.");
        return;
    }
    switch (served_by(id)) {
    case UDS_SERVER_POSTGRESQL:
        T_ADD(t, "Start PostgreSQL (%s%s%s): it removes its stale socket file and lock file "
              "itself once the pid in the lock file has gone.", start,
              id->data_dir[0] ? ", or pg_ctl start -D " : "", id->data_dir);
        return;
    case UDS_SERVER_PHP_FPM:
    case UDS_SERVER_REDIS:
    case UDS_SERVER_DOCKERD:
        T_ADD(t, "Start %s%s%s%s: it replaces a stale socket file itself.",
              server_title(served_by(id)), start[0] ? " (" : "", start, start[0] ? ")" : "");
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
    add(d, "stale", SEV_ERROR, EX_UNAVAILABLE, t.s,
        "Nothing listens on it: the socket file is stale, left by a server that exited "
        "without removing it. Connecting gets \"Connection refused\".");
    note_server(d, NULL);
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
        !(sock->mode & 0020) || subject_in_group(&d->who, sock->gid) ||
        !uds_login_in_group(&d->who.login, sock->gid))
        return false;
    cli_group_name(sock->gid, group, sizeof(group));
    describe_subject(d, me, sizeof(me));
    T_ADD(&t, "Log in again (a new session), or use the group at once: newgrp %s starts a "
          "shell in it, sg %s -c 'COMMAND' runs one command in it. A service running as "
          "this user gets the group when it is restarted.", group, group);
    add(d, "group-not-in-login", SEV_ERROR, EX_NOPERM, t.s,
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
    describe_subject(d, me, sizeof(me));
    access_advice(d, s, sock, &t);
    add(d, "no-write-permission", SEV_ERROR, EX_NOPERM, t.s,
        "%s may not connect: connecting needs write permission on the socket, which is %s, "
        "and %s (%s) %s none (%s).", You(d), desc, you(d), me, d->who.as ? "has" : "have",
        perm_why(d, sock->perm));
}

/* Nothing at the path: deleted under its listener, in another mount namespace, or never
 * made. */
static void check_missing(struct doctor *d, const char *path) {
    struct uds_sockwhere w;
    const struct uds_sockinfo *s = bound_listener(d, false, UDS_PATH_OTHER_NS, &w);
    struct text t = { .o = 0 };
    char who[512], start[300];

    if (s) {
        check_other_mnt_ns(d, s, &w);
    } else if ((s = bound_listener(d, false, UDS_PATH_MISSING, &w)) != NULL) {
        describe_holder(d, s, who, sizeof(who));
        add(d, "path-deleted", SEV_ERROR, EX_UNAVAILABLE,
            "Restart the server so it creates the file again (and find out what deleted it: "
            "a cleanup job, or a second instance stopping?).",
            "There is no file at this path, but %s still listens on a socket bound here: its "
            "file was deleted, so it is unreachable by path.", who);
    } else {
        start_command(ident(d, NULL), start, sizeof(start));
        if (start[0])
            T_ADD(&t, "Start the server (%s), or check the path: ", start);
        else
            T_ADD(&t, "Start the server, or check the path: ");
        T_ADD(&t, "is the server configured for another one?");
        add(d, "path-missing", SEV_ERROR, EX_UNAVAILABLE, t.s,
            "There is no socket at this path (nothing exists there).");
        note_server(d, NULL);
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

/* A socket at the path: who serves it, or that it is stale; whether the subject may write
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
    check_write(d, server);
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

    if (as_subject(d, get_pathinfo, &d->pi, sizeof(d->pi)) < 0) {
        add(d, "unreadable", SEV_ERROR, CLI_EXIT_FAILURE, "Check the path.",
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
            add(d, "searched-namespaces", SEV_INFO, 0, NULL,
                "Searched %zu other network namespace%s too: it is not bound there either%s.",
                r.n_searched, r.n_searched == 1 ? "" : "s",
                geteuid() == 0 ? "" : " (those of your own processes; root sees every one)");
        else if (geteuid() != 0)
            add(d, "searched-namespaces", SEV_INFO, 0, NULL,
                "No other network namespace was searched: only root may look into those of "
                "other users' processes.");
        return;
    }
    h = &r.hits[0];
    n = d->have_procs ? uds_procfd_find(&d->procs, h->inode, &p) : 0;
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
    add(d, "other-network-namespace", SEV_WARNING, 0, t.s,
        "It is bound in another network namespace, %s, by %s, as a %s %s: an abstract name "
        "exists only in the network namespace it was bound in (this command runs in "
        "net:[%lu]).", where.s, who, h->listening ? "listening" : "bound",
        uds_socket_type_name(h->type), (unsigned long) own);
}

static void check_abstract(struct doctor *d) {
    const struct uds_sockinfo *server;
    struct uds_procinfo self;
    ino_t own = uds_procinfo_get(0, &self) == 0 ? self.net_ns : 0;

    add(d, "abstract", SEV_WARNING, 0,
        "To limit who may connect, have the server check its peers' credentials (uds serve "
        "--allow-uid/--allow-gid), or use a socket file with a mode and group.",
        "@%s is an abstract socket: it has no file, hence no file permissions; any process "
        "in this network namespace (net:[%lu]) can connect to it.", d->addr.name,
        (unsigned long) own);
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
    add(d, "as-root", SEV_INFO, 0, t.s,
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
    if (as_subject(d, test_connect, &p, sizeof(p)) == 0) {
        add(d, "can-connect", SEV_INFO, 0, NULL,
            "A test connection%s%s succeeded (and was closed at once): %s can connect.",
            d->who.as ? " as " : "", d->who.as ? d->who.name : "", you(d));
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

/* "server":{...} or null: what was recognised, for scripts. */
static void json_server(const struct doctor *d) {
    const struct uds_server_ident *id = &d->ident;

    fputs(",\"server\":", stdout);
    if (!d->have_ident || id->kind == UDS_SERVER_UNKNOWN) {
        fputs("null", stdout);
        return;
    }
    printf("{\"kind\":\"%s\",\"service\":", uds_server_kind_name(id->kind));
    if (id->kind == UDS_SERVER_SYSTEMD && id->service)
        printf("\"%s\"", uds_server_kind_name(id->service));
    else
        fputs("null", stdout);
    printf(",\"pid\":%d,\"config\":", (int) id->pid);
    if (id->config[0])
        json_string(id->config);
    else
        fputs("null", stdout);
    printf(",\"config_line\":%u,\"socket_unit\":", id->config_line);
    if (id->socket_unit[0])
        json_string(id->socket_unit);
    else
        fputs("null", stdout);
    putchar('}');
}

static void print_json(const struct doctor *d, int code) {
    fputs("{\"address\":", stdout);
    json_string(d->address);
    printf(",\"ok\":%s,\"exit\":%d,\"as\":", code == EX_OK ? "true" : "false", code);
    if (d->who.as)
        json_string(d->who.name);
    else
        fputs("null", stdout);
    json_server(d);
    fputs(",\"findings\":[", stdout);
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
}

static void print_report(const struct doctor *d, int code) {
    if (d->json) {
        print_json(d, code);
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
        printf("Result: %s can connect.\n", you(d));
    else
        printf("Result: %s cannot connect (exit %d).\n", you(d), code);
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
    subject_done(&d->who);
    uds_procfd_done(&d->procs);
    uds_socklist_done(&d->socks);
    free(d);
}

/* Whom to check: the caller, or --as USER (root only: it takes the user's ids). */
static int setup_subject(struct doctor *d) {
    if (!d->as_user) {
        if (subject_self(&d->who) < 0) {
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
    if (subject_as(&d->who, d->as_user) < 0) {
        int e = errno;
        if (e == ENOENT)
            return cli_usage("doctor", "--as %s: no such user", d->as_user);
        cli_error(d->address, NULL, "--as %s: %s", d->as_user, strerror(e));
        return CLI_EXIT_FAILURE;
    }
    return EX_OK;
}

static int doctor_run(struct doctor *d) {
    int code = setup_subject(d);

    if (code != EX_OK) {
        doctor_free(d);
        return code;
    }
    d->have_socks = uds_socklist_dump(&d->socks) == 0;
    if (!d->have_socks)
        add(d, "no-sock-diag", SEV_WARNING, 0,
            "Load it (modprobe unix_diag) for the full picture; meanwhile doctor connects to "
            "find out.",
            "Cannot list the machine's sockets (%s): who listens cannot be told.",
            strerror(errno));
    d->have_procs = uds_procfd_scan(0, &d->procs) == 0;
    if (d->who.as) {
        char me[1024];
        describe_subject(d, me, sizeof(me));
        add(d, "checked-as", SEV_INFO, 0, NULL,
            "Checked as %s (%s), with the groups a new login gives: the permission checks "
            "and the test connection are made with these ids.", d->who.name, me);
    }
    if (d->addr.kind == UDS_ADDR_ABSTRACT) {
        check_abstract(d);
    } else {
        absolute_forms(d);
        check_path(d);
        note_root(d);
    }
    if (!d->blocked && !d->no_connect)
        confirm(d);

    code = first_exit(d);
    print_report(d, code);
    doctor_free(d);
    if (fflush(stdout) != 0)
        return CLI_EXIT_FAILURE;
    return code;
}

int cmd_doctor(int argc, char **argv) {
    struct cli_parsed p;
    struct doctor *d;
    int code;

    d = calloc(1, sizeof(*d));
    if (!d) {
        cli_error(NULL, NULL, "out of memory");
        return CLI_EXIT_FAILURE;
    }
    code = cli_parse(&doctor_cmd, argc, argv, d, &p);
    if (code != CLI_CONTINUE) {
        free(d);
        return code;
    }
    d->address = p.operands[0];
    cli_log_setup(0, false);
    if (uds_addr_parse(d->address, 0, &d->addr) < 0) {
        int e = errno;
        free(d);
        return cli_fail(CLI_OP_ANY, p.operands[0], e, NULL);
    }

    return doctor_run(d);
}
