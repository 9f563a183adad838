/* SPDX-License-Identifier: MIT */
/*
 * cmd_ls.c — `uds ls`: every Unix socket of the network namespace as a table or JSON, with
 * the processes that hold each one and their users, peers named by address or process
 * (a client waiting in a backlog by its listener, a peer in another network namespace as
 * such), relative names and the /proc/self/fd aliases of long paths resolved through the
 * holders, sockets whose path no longer reaches them marked (or reaches them only in a
 * holder's mount namespace), socket memory as ss -m shows it. Patterns match a path as
 * given and with its directory's symlinks resolved. The facts come from the library
 * (sock_diag, /proc); this file only presents them.
 */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "cli.h"
#include "options.h"

struct args {
    bool listening;
    bool all;
    bool processes;
    bool json;
    bool memory;                /* -m: a MEMORY column */
    long pid;                   /* --pid: only sockets this process holds; 0 all */
    const char *by_user;        /* "--user" when given: only sockets of user */
    uid_t user;
    const char *pattern;
};

/* What ls shows for one socket, computed once per socket of the dump. */
struct view {
    char *addr;                 /* raw bytes (an abstract name may hold NULs); NULL unnamed */
    size_t addr_len;
    char *text;                 /* addr for a terminal (cli_text_escape); NULL unnamed */
    char *canon;                /* text with the directory's symlinks resolved, when it
                                 * differs (for matching PATTERN); else NULL */
    enum uds_path_status status;
    bool relative;              /* a relative name no holder's directory resolved */
    pid_t ns_pid;               /* UDS_PATH_OTHER_NS: the holder whose namespace has it */
    char *reach;                /*   and the /proc/PID/root path that reaches it */
    size_t waiting_in;          /* a client in a listener's backlog: 1 + its index */
    const struct uds_procfd *procs;
    size_t n_procs;
};

/* The user of a process, read once. */
struct proc_user {
    pid_t pid;
    bool known;
    uid_t uid;
};

struct ctx {
    const struct args *args;
    struct uds_socklist socks;
    struct uds_procfd_list procs;
    bool have_procs;
    struct view *views;         /* parallel to socks.socks */
    char *pattern_canon;        /* the pattern with its directory resolved, when it differs */
    struct proc_user *users;
    size_t n_users, cap_users;
};

#define A struct args
static const struct cli_command ls_cmd = {
    .name = "ls",
    .synopsis = "[OPTIONS] [PATTERN]",
    .help_col = 20,
    .operands = { .names = "PATTERN", .max = 1, .extra_hint = "quote a glob: uds ls '/run/*'",
                  .at = { CLI_OPERAND(A, pattern) } },
    .intro =
        "List the Unix sockets of this machine (its network namespace), like ss -x -a -p\n"
        "but readable: TYPE, STATE, RECV-Q, SEND-Q, ADDRESS, INODE, PEER and PROCESS.\n"
        "ADDRESS is an absolute path, @name for an abstract socket, or - when unnamed; a\n"
        "relative name is resolved through the directory of a process that holds the\n"
        "socket, and shown as ./NAME when none can tell. A path marked (deleted) or\n"
        "(replaced) no longer leads to the socket: it is unreachable by that path; one\n"
        "marked (mount ns of pid N) leads to it only in that process's mount namespace.\n"
        "For a listener, RECV-Q is the connections waiting to be accepted and SEND-Q its\n"
        "backlog. PEER is the peer's address, or its process when it has none; for a\n"
        "client waiting in a backlog, the listener; (other netns) marks a peer in another\n"
        "network namespace.\n",
    .outro =
        "PATTERN is a shell glob matched against ADDRESS, e.g. '/run/*' or '@*', as it is\n"
        "shown and with the symlinks of its directory resolved ('/var/run/*' finds what\n"
        "is bound in /run).\n"
        "Processes of other users are shown only to root.\n"
        "\n"
        "Exit status: 0 listed (even if nothing matched), 1 failure, 64 usage error,\n"
        "69 the kernel cannot list sockets (no unix_diag).\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Options:"),
        { "--listening", 'l', NULL, CLI_FLAG(A, listening),
          .help = "only sockets that accept: listeners, and bound dgram sockets\n"
                  "that are not connected" },
        { "--all", 'a', NULL, CLI_FLAG(A, all),
          .help = "unnamed sockets too (by default only sockets with an address)" },
        { "--processes", 'p', NULL, CLI_FLAG(A, processes),
          .help = "every process and fd that holds each socket (by default the\n"
                  "first process and how many more), and a USER column: the\n"
                  "users those processes run as" },
        { "--memory", 'm', NULL, CLI_FLAG(A, memory),
          .help = "a MEMORY column: each socket's memory as ss -xm shows it" },
        { "--pid", 0, "PID", CLI_LONG(A, pid, 1, INT_MAX), .what = "a process id",
          .example = "4242", .help = "only the sockets process PID holds (unnamed ones too)" },
        { "--user", 0, "USER", CLI_USER(A, user), CLI_SEEN(A, by_user),
          .example = "www-data or 33",
          .help = "only the sockets USER created or a process of USER holds\n"
                  "(unnamed ones too)" },
        { "--json", 0, NULL, CLI_FLAG(A, json),
          .help = "one JSON array, one object per socket (see uds(1))" },
        CLI_END,
    },
};
#undef A

/* ---- addresses ------------------------------------------------------------------------ */

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "uds: out of memory\n");
        exit(CLI_EXIT_FAILURE);
    }
    return p;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static void set_addr(struct view *v, const char *prefix, const char *s, size_t len) {
    size_t p = strlen(prefix);

    v->addr = xmalloc(p + len + 1);
    memcpy(v->addr, prefix, p);
    memcpy(v->addr + p, s, len);
    v->addr_len = p + len;
    v->addr[v->addr_len] = '\0';
    v->text = xmalloc(4 * v->addr_len + 1);
    cli_text_escape_buf(v->addr, v->addr_len, v->text, 4 * v->addr_len + 1);
}

static char *escaped(const char *s) {
    size_t len = strlen(s);
    char *out = xmalloc(4 * len + 1);

    cli_text_escape_buf(s, len, out, 4 * len + 1);
    return out;
}

/* A path socket: where its file is, through its holders when its name does not say. */
static void path_view(const struct uds_sockinfo *s, struct view *v) {
    struct uds_sockwhere *w = xmalloc(sizeof(*w));
    bool relative = s->name[0] != '/';

    /* A relative name counts only where a holder's directory still leads to the file. */
    if (uds_sockinfo_where(s, v->procs, v->n_procs, w) == 0 && w->path[0] &&
        (!relative || w->status == UDS_PATH_OK || w->status == UDS_PATH_OTHER_NS)) {
        set_addr(v, "", w->path, strlen(w->path));
        v->status = w->status;
        if (strcmp(w->canon, w->path) != 0)
            v->canon = escaped(w->canon);
        if (w->status == UDS_PATH_OTHER_NS) {
            v->ns_pid = w->pid;
            v->reach = xstrdup(w->reach);
        }
    } else if (!relative) {
        set_addr(v, "", s->name, s->name_len);     /* an alias no holder explains */
    } else {
        /* "./" keeps a file named "@x" apart from the abstract "@x". */
        bool dotted = strncmp(s->name, "./", 2) == 0 || strncmp(s->name, "../", 3) == 0;
        set_addr(v, dotted ? "" : "./", s->name, s->name_len);
        v->relative = true;
    }
    free(w);
}

static void compute_view(struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    struct view *v = &c->views[i];

    v->status = UDS_PATH_UNKNOWN;
    if (c->have_procs)
        v->n_procs = uds_procfd_list_find(&c->procs, s->inode, &v->procs);
    if (s->name_kind == UDS_ADDR_ABSTRACT)
        set_addr(v, "@", s->name, s->name_len);
    else if (s->name_kind == UDS_ADDR_PATH)
        path_view(s, v);
}

/* A client that a listener has not accepted yet has no peer socket to show: its listener
 * is the one it waits for. */
static void note_waiting(struct ctx *c) {
    for (size_t i = 0; i < c->socks.n; i++) {
        const struct uds_sockinfo *l = &c->socks.socks[i];
        for (size_t k = 0; k < l->n_pending; k++) {
            const struct uds_sockinfo *w = uds_socklist_find(&c->socks, l->pending[k]);
            if (w)
                c->views[w - c->socks.socks].waiting_in = i + 1;
        }
    }
}

/* The user a process runs as (its effective uid), read once per process. */
static bool proc_uid(struct ctx *c, pid_t pid, uid_t *ret_uid) {
    struct uds_procinfo p;

    for (size_t k = 0; k < c->n_users; k++)
        if (c->users[k].pid == pid) {
            *ret_uid = c->users[k].uid;
            return c->users[k].known;
        }
    if (c->n_users == c->cap_users) {
        c->cap_users = c->cap_users ? 2 * c->cap_users : 64;
        c->users = realloc(c->users, c->cap_users * sizeof(*c->users));
        if (!c->users) {
            fprintf(stderr, "uds: out of memory\n");
            exit(CLI_EXIT_FAILURE);
        }
    }
    c->users[c->n_users] = (struct proc_user) { .pid = pid };
    if (uds_procinfo_get(pid, &p) == 0 && p.has_ids)
        c->users[c->n_users] = (struct proc_user) { .pid = pid, .known = true, .uid = p.uid };
    *ret_uid = c->users[c->n_users].uid;
    return c->users[c->n_users++].known;
}

/* Whether the socket is user's: created by that uid, or held by a process of it. */
static bool belongs_to(struct ctx *c, size_t i, uid_t user) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    const struct view *v = &c->views[i];
    uid_t uid;

    if ((s->has & UDS_SOCKINFO_UID) && s->uid == user)
        return true;
    for (size_t k = 0; k < v->n_procs; k++)
        if (proc_uid(c, v->procs[k].pid, &uid) && uid == user)
            return true;
    return false;
}

static bool held_by(const struct view *v, pid_t pid) {
    for (size_t k = 0; k < v->n_procs; k++)
        if (v->procs[k].pid == pid)
            return true;
    return false;
}

/* A pattern's directory part resolved like the paths it is matched against: a pattern in
 * /var/run matches what is bound in /run. NULL when it resolves to itself. */
static char *resolve_pattern(const char *pattern) {
    size_t glob_at = strcspn(pattern, "*?[");
    const char *slash = NULL;
    char dir[PATH_MAX], *real, *out;

    for (const char *p = pattern; p < pattern + glob_at; p++)
        if (*p == '/')
            slash = p;
    if (pattern[0] != '/' || !slash || slash == pattern ||
        (size_t) (slash - pattern) >= sizeof(dir))
        return NULL;
    snprintf(dir, sizeof(dir), "%.*s", (int) (slash - pattern), pattern);
    real = realpath(dir, NULL);
    if (!real || strcmp(real, dir) == 0) {
        free(real);
        return NULL;
    }
    out = xmalloc(strlen(real) + strlen(slash) + 1);
    strcpy(out, real);
    strcat(out, slash);
    free(real);
    return out;
}

static bool matches(const char *pattern, const struct view *v) {
    return v->text && (fnmatch(pattern, v->text, 0) == 0 ||
                       (v->canon && fnmatch(pattern, v->canon, 0) == 0));
}

static bool accepts(const struct uds_sockinfo *s) {
    if (s->state == UDS_SOCK_LISTENING)
        return true;
    return s->type == UDS_DGRAM && s->name_kind != 0 && s->peer_inode == 0 &&
           s->state == UDS_SOCK_UNCONNECTED;
}

static bool selected(struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    const struct view *v = &c->views[i];

    if (c->args->listening && !accepts(s))
        return false;
    if (c->args->pid && !held_by(v, c->args->pid))
        return false;
    if (c->args->by_user && !belongs_to(c, i, c->args->user))
        return false;
    if (c->args->pattern)
        return matches(c->args->pattern, v) ||
               (c->pattern_canon && matches(c->pattern_canon, v));
    return c->args->all || s->name_kind != 0 || c->args->pid || c->args->by_user;
}

/* " (deleted)", " (replaced)", " (mount ns of pid 42)". */
static char *status_mark(const struct view *v) {
    char buf[64] = "";

    switch (v->status) {
    case UDS_PATH_MISSING:
        snprintf(buf, sizeof(buf), " (deleted)");
        break;
    case UDS_PATH_REPLACED:
        snprintf(buf, sizeof(buf), " (replaced)");
        break;
    case UDS_PATH_OTHER_NS:
        snprintf(buf, sizeof(buf), " (mount ns of pid %d)", (int) v->ns_pid);
        break;
    default:
        break;
    }
    return xstrdup(buf);
}

static const char *status_name(const struct uds_sockinfo *s, const struct view *v) {
    if (s->name_kind != UDS_ADDR_PATH)
        return NULL;
    switch (v->status) {
    case UDS_PATH_OK:
        return "ok";
    case UDS_PATH_MISSING:
        return "deleted";
    case UDS_PATH_REPLACED:
        return "replaced";
    case UDS_PATH_OTHER_NS:
        return "other-namespace";
    default:
        return "unknown";
    }
}

/* ---- table ---------------------------------------------------------------------------- */

enum { COL_TYPE, COL_STATE, COL_RECVQ, COL_SENDQ, COL_ADDR, COL_INODE, COL_PEER, COL_MEM,
       COL_USER, COL_PROC, N_COLS };

static const char *const headers[N_COLS] = {
    "TYPE", "STATE", "RECV-Q", "SEND-Q", "ADDRESS", "INODE", "PEER", "MEMORY", "USER",
    "PROCESS",
};

struct cells {
    char *col[N_COLS];
};

/* "4242/nginx", ",+N" more processes; with -p every "pid/command:fd". */
static char *process_text(const struct view *v, bool every) {
    /* pid, '/', a command of 15 bytes escaped to at most 60, ':', fd, ',' */
    size_t size = 32 + v->n_procs * 96, o = 0, distinct = 0;
    char *out = xmalloc(size);

    out[0] = '\0';
    if (v->n_procs == 0) {
        cli_append(out, size, &o, "-");
        return out;
    }
    for (size_t k = 0; k < v->n_procs; k++) {
        const struct uds_procfd *p = &v->procs[k];
        char comm[64];
        bool new_pid = k == 0 || p->pid != v->procs[k - 1].pid;

        distinct += new_pid;
        cli_text_escape_buf(p->command, strlen(p->command), comm, sizeof(comm));
        if (every)
            cli_append(out, size, &o, "%s%d/%s:%d", k ? "," : "", (int) p->pid, comm, p->fd);
        else if (k == 0)
            cli_append(out, size, &o, "%d/%s", (int) p->pid, comm);
    }
    if (!every && distinct > 1)
        cli_append(out, size, &o, ",+%zu", distinct - 1);
    return out;
}

/* The processes that hold a socket the dump does not list: it is in another network
 * namespace (the dump lists this one's only). */
static size_t foreign_holders(const struct ctx *c, ino_t inode, const struct uds_procfd **ret) {
    *ret = NULL;
    return c->have_procs ? uds_procfd_list_find(&c->procs, inode, ret) : 0;
}

static char *peer_text(const struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i], *p;
    const struct view *v = &c->views[i];
    struct view other = { 0 };
    char buf[64];

    if (s->peer_inode == 0) {
        const struct view *l = v->waiting_in ? &c->views[v->waiting_in - 1] : NULL;
        return xstrdup(l && l->text ? l->text : "-");
    }
    p = uds_socklist_find(&c->socks, s->peer_inode);
    if (p) {
        const struct view *pv = &c->views[p - c->socks.socks];
        if (pv->text)
            return xstrdup(pv->text);
        if (pv->n_procs > 0)
            return process_text(pv, false);
    } else if ((other.n_procs = foreign_holders(c, s->peer_inode, &other.procs)) > 0) {
        char *who = process_text(&other, false), *out;
        out = xmalloc(strlen(who) + 32);
        sprintf(out, "%s (other netns)", who);
        free(who);
        return out;
    }
    /* The dump lists this network namespace whole: a peer missing from it is in another
     * one (or went away meanwhile), held by no process this user may see. */
    snprintf(buf, sizeof(buf), "#%lu%s", (unsigned long) s->peer_inode,
             p ? "" : " (other netns)");
    return xstrdup(buf);
}

/* The users of the processes that hold the socket; its creator's when none is seen. */
static char *user_text(struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    const struct view *v = &c->views[i];
    size_t size = 16 + v->n_procs * 260, o = 0, n = 0;
    char *out = xmalloc(size), name[256];
    uid_t uid, seen[8];

    out[0] = '\0';
    for (size_t k = 0; k < v->n_procs; k++) {
        bool dup = false;
        if (!proc_uid(c, v->procs[k].pid, &uid))
            continue;
        for (size_t j = 0; j < n && j < 8; j++)
            dup |= seen[j] == uid;
        if (dup)
            continue;
        if (n < 8)
            seen[n] = uid;
        cli_user_name(uid, name, sizeof(name));
        cli_append(out, size, &o, "%s%s", n++ ? "," : "", name);
    }
    if (n == 0 && (s->has & UDS_SOCKINFO_UID)) {
        cli_user_name(s->uid, name, sizeof(name));
        cli_append(out, size, &o, "%s", name);
    }
    if (!out[0])
        cli_append(out, size, &o, "-");
    return out;
}

/* As ss -m writes it. */
static char *mem_text(const struct uds_sockinfo *s) {
    const struct uds_sockmem *m = &s->mem;
    char buf[160];

    if (!(s->has & UDS_SOCKINFO_MEM))
        return xstrdup("-");
    snprintf(buf, sizeof(buf), "skmem:(r%u,rb%u,t%u,tb%u,f%u,w%u,o%u,bl%u,d%u)",
             m->rmem_alloc, m->rcvbuf, m->wmem_alloc, m->sndbuf, m->fwd_alloc, m->wmem_queued,
             m->optmem, m->backlog, m->drops);
    return xstrdup(buf);
}

static void fill_cells(struct ctx *c, size_t i, struct cells *r) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    const struct view *v = &c->views[i];
    char buf[64];

    r->col[COL_TYPE] = xstrdup(uds_socket_type_name(s->type));
    r->col[COL_STATE] = xstrdup(uds_sock_state_name(s->state));
    snprintf(buf, sizeof(buf), "%lu", (unsigned long) s->recv_q);
    r->col[COL_RECVQ] = xstrdup(s->has & UDS_SOCKINFO_QUEUES ? buf : "-");
    snprintf(buf, sizeof(buf), "%lu", (unsigned long) s->send_q);
    r->col[COL_SENDQ] = xstrdup(s->has & UDS_SOCKINFO_QUEUES ? buf : "-");
    if (v->text) {
        char *mark = status_mark(v);
        size_t len = strlen(v->text) + strlen(mark) + 1;
        r->col[COL_ADDR] = xmalloc(len);
        snprintf(r->col[COL_ADDR], len, "%s%s", v->text, mark);
        free(mark);
    } else {
        r->col[COL_ADDR] = xstrdup("-");
    }
    snprintf(buf, sizeof(buf), "%lu", (unsigned long) s->inode);
    r->col[COL_INODE] = xstrdup(buf);
    r->col[COL_PEER] = peer_text(c, i);
    r->col[COL_MEM] = c->args->memory ? mem_text(s) : NULL;
    r->col[COL_USER] = c->args->processes ? user_text(c, i) : NULL;
    r->col[COL_PROC] = process_text(v, c->args->processes);
}

/* Columns on a terminal: a UTF-8 character is one column, whatever its bytes. */
static size_t text_width(const char *s) {
    size_t w = 0;

    for (; *s; s++)
        w += ((unsigned char) *s & 0xc0) != 0x80;
    return w;
}

static void print_cell(const char *cell, size_t width, bool right, bool last) {
    size_t pad = width - text_width(cell);

    if (last) {
        printf("%s\n", cell);
        return;
    }
    if (right)
        printf("%*s%s  ", (int) pad, "", cell);
    else
        printf("%s%*s  ", cell, (int) pad, "");
}

static void print_table(struct ctx *c, const size_t *order, size_t n) {
    struct cells *rows = xmalloc(n * sizeof(*rows));
    size_t width[N_COLS];
    static const bool right[N_COLS] = { [COL_RECVQ] = true, [COL_SENDQ] = true };
    bool shown[N_COLS];

    for (int k = 0; k < N_COLS; k++) {
        width[k] = strlen(headers[k]);
        shown[k] = (k != COL_MEM || c->args->memory) && (k != COL_USER || c->args->processes);
    }
    for (size_t i = 0; i < n; i++) {
        fill_cells(c, order[i], &rows[i]);
        for (int k = 0; k < N_COLS; k++)
            if (shown[k] && text_width(rows[i].col[k]) > width[k])
                width[k] = text_width(rows[i].col[k]);
    }
    for (size_t i = 0; i <= n; i++)
        for (int k = 0; k < N_COLS; k++)
            if (shown[k])
                print_cell(i == 0 ? headers[k] : rows[i - 1].col[k], width[k],
                           right[k] && i > 0, k == N_COLS - 1);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < N_COLS; k++)
            free(rows[i].col[k]);
    free(rows);
}

/* ---- JSON ----------------------------------------------------------------------------- */

static void json_procs(struct ctx *c, const struct uds_procfd *procs, size_t n) {
    char name[256];
    uid_t uid;

    putchar('[');
    for (size_t k = 0; k < n; k++) {
        printf("%s{\"pid\":%d,\"command\":", k ? "," : "", (int) procs[k].pid);
        cli_json_string(stdout, procs[k].command, strlen(procs[k].command));
        printf(",\"fd\":%d,\"uid\":", procs[k].fd);
        if (proc_uid(c, procs[k].pid, &uid)) {
            cli_user_name(uid, name, sizeof(name));
            printf("%lu,\"user\":", (unsigned long) uid);
            cli_json_string(stdout, name, strlen(name));
        } else {
            fputs("null,\"user\":null", stdout);
        }
        putchar('}');
    }
    putchar(']');
}

static void json_text_or_null(const char *key, const char *s, size_t len) {
    printf(",\"%s\":", key);
    if (s)
        cli_json_string(stdout, s, len);
    else
        fputs("null", stdout);
}

/* address, kind, name, path_status, and where a file in another namespace is reached. */
static void json_address(const struct uds_sockinfo *s, const struct view *v) {
    const char *st = status_name(s, v);
    const char *kind = s->name_kind == UDS_ADDR_PATH       ? "path"
                       : s->name_kind == UDS_ADDR_ABSTRACT ? "abstract"
                                                           : "unnamed";

    fputs("{\"address\":", stdout);
    if (v->addr)
        cli_json_string(stdout, v->addr, v->addr_len);
    else
        fputs("null", stdout);
    printf(",\"kind\":\"%s\"", kind);
    json_text_or_null("name", s->name_kind ? s->name : NULL, s->name_len);
    printf(",\"path_status\":");
    if (st)
        printf("\"%s\"", st);
    else
        fputs("null", stdout);
    json_text_or_null("reach", v->reach, v->reach ? strlen(v->reach) : 0);
}

/* peer_inode, peer_address (for a client in a backlog: its listener's), waiting_in, and
 * the processes of a peer in another network namespace. */
static void json_peer(struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i], *p = NULL;
    const struct view *v = &c->views[i], *pv = NULL;
    const struct uds_procfd *fp = NULL;
    size_t nf = 0;

    if (s->peer_inode) {
        printf(",\"peer_inode\":%lu", (unsigned long) s->peer_inode);
        p = uds_socklist_find(&c->socks, s->peer_inode);
        pv = p ? &c->views[p - c->socks.socks] : NULL;
        if (!p)
            nf = foreign_holders(c, s->peer_inode, &fp);
    } else {
        fputs(",\"peer_inode\":null", stdout);
        pv = v->waiting_in ? &c->views[v->waiting_in - 1] : NULL;
    }
    json_text_or_null("peer_address", pv ? pv->addr : NULL, pv ? pv->addr_len : 0);
    if (v->waiting_in)
        printf(",\"waiting_in\":%lu",
               (unsigned long) c->socks.socks[v->waiting_in - 1].inode);
    else
        fputs(",\"waiting_in\":null", stdout);
    printf(",\"peer_other_netns\":%s", s->peer_inode && !p ? "true" : "false");
    if (nf) {
        fputs(",\"peer_processes\":", stdout);
        json_procs(c, fp, nf);
    }
}

static void json_mem(const struct uds_sockinfo *s) {
    const struct uds_sockmem *m = &s->mem;

    if (!(s->has & UDS_SOCKINFO_MEM)) {
        fputs(",\"mem\":null", stdout);
        return;
    }
    printf(",\"mem\":{\"rmem_alloc\":%u,\"rcvbuf\":%u,\"wmem_alloc\":%u,\"sndbuf\":%u,"
           "\"fwd_alloc\":%u,\"wmem_queued\":%u,\"optmem\":%u,\"backlog\":%u,"
           "\"drops\":%u}", m->rmem_alloc, m->rcvbuf, m->wmem_alloc, m->sndbuf, m->fwd_alloc,
           m->wmem_queued, m->optmem, m->backlog, m->drops);
}

static void print_json_one(struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    const struct view *v = &c->views[i];

    json_address(s, v);
    printf(",\"type\":\"%s\",\"state\":\"%s\",\"inode\":%lu", uds_socket_type_name(s->type),
           uds_sock_state_name(s->state), (unsigned long) s->inode);
    json_peer(c, i);
    if (s->has & UDS_SOCKINFO_QUEUES)
        printf(",\"recv_q\":%lu,\"send_q\":%lu", (unsigned long) s->recv_q,
               (unsigned long) s->send_q);
    else
        fputs(",\"recv_q\":null,\"send_q\":null", stdout);
    if (s->has & UDS_SOCKINFO_UID)
        printf(",\"uid\":%lu", (unsigned long) s->uid);
    else
        fputs(",\"uid\":null", stdout);
    if (s->has & UDS_SOCKINFO_FILE)
        printf(",\"file\":{\"dev\":\"%u:%u\",\"inode\":%lu}", major(s->file_dev),
               minor(s->file_dev), (unsigned long) s->file_ino);
    else
        fputs(",\"file\":null", stdout);
    if (s->state == UDS_SOCK_LISTENING) {
        fputs(",\"pending\":[", stdout);
        for (size_t k = 0; k < s->n_pending; k++)
            printf("%s%lu", k ? "," : "", (unsigned long) s->pending[k]);
        putchar(']');
    }
    json_mem(s);
    fputs(",\"processes\":", stdout);
    json_procs(c, v->procs, v->n_procs);
    putchar('}');
}

static void print_json(struct ctx *c, const size_t *order, size_t n) {
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",\n " : "\n ", stdout);
        print_json_one(c, order[i]);
    }
    fputs(n ? "\n]\n" : "]\n", stdout);
}

/* ---- the command ---------------------------------------------------------------------- */

/* Named sockets first, by address; then by inode. */
static int by_address(const void *a, const void *b, void *arg) {
    const struct ctx *c = arg;
    size_t i = *(const size_t *) a, j = *(const size_t *) b;
    const struct view *x = &c->views[i], *y = &c->views[j];
    ino_t xi = c->socks.socks[i].inode, yi = c->socks.socks[j].inode;

    if (!x->text != !y->text)
        return x->text ? -1 : 1;
    if (x->text) {
        int r = strcmp(x->text, y->text);
        if (r)
            return r;
    }
    return xi < yi ? -1 : xi > yi;
}

static void ctx_free(struct ctx *c) {
    for (size_t i = 0; c->views && i < c->socks.n; i++) {
        free(c->views[i].addr);
        free(c->views[i].text);
        free(c->views[i].canon);
        free(c->views[i].reach);
    }
    free(c->views);
    free(c->pattern_canon);
    free(c->users);
    uds_procfd_list_done(&c->procs);
    uds_socklist_done(&c->socks);
}

/* List, after the options: dump, look at each socket once, select, sort, print. */
static int ls_run(const struct args *args) {
    struct ctx c = { .args = args };
    size_t *order = NULL, n = 0;
    bool missing_proc = false;

    if (uds_socklist_get(&c.socks) < 0) {
        int e = errno;
        if (e == EPROTONOSUPPORT || e == ENOENT) {
            cli_error(NULL, "load it (modprobe unix_diag) or use ss -x",
                      "cannot list sockets: this kernel has no unix_diag (%s)", strerror(e));
            return EX_UNAVAILABLE;
        }
        cli_error(NULL, "try again", "cannot list sockets: %s", strerror(e));
        return CLI_EXIT_FAILURE;
    }
    if (uds_procfd_list_get(0, &c.procs) == 0)
        c.have_procs = true;
    else
        cli_log(CLI_LOG_WARN, "warning", NULL, NULL, 0,
                "cannot read processes from /proc (%s); the PROCESS column stays empty",
                strerror(errno));
    c.views = calloc(c.socks.n ? c.socks.n : 1, sizeof(*c.views));
    order = calloc(c.socks.n ? c.socks.n : 1, sizeof(*order));
    if (!c.views || !order) {
        cli_error(NULL, NULL, "out of memory");
        free(c.views);
        free(order);
        uds_procfd_list_done(&c.procs);
        uds_socklist_done(&c.socks);
        return CLI_EXIT_FAILURE;
    }
    for (size_t i = 0; i < c.socks.n; i++)
        compute_view(&c, i);
    note_waiting(&c);
    if (args->pattern)
        c.pattern_canon = resolve_pattern(args->pattern);
    for (size_t i = 0; i < c.socks.n; i++)
        if (selected(&c, i)) {
            order[n++] = i;
            missing_proc |= c.views[i].n_procs == 0;
        }
    qsort_r(order, n, sizeof(*order), by_address, &c);

    if (args->json)
        print_json(&c, order, n);
    else
        print_table(&c, order, n);
    if (missing_proc && c.have_procs && c.procs.n_denied > 0)
        cli_log(CLI_LOG_INFO, "note", NULL, NULL, 0,
                "%zu processes could not be read (other users'); run as root to see which "
                "process holds every socket", c.procs.n_denied);

    free(order);
    ctx_free(&c);
    return fflush(stdout) == 0 ? EX_OK : CLI_EXIT_FAILURE;
}


int cmd_ls(int argc, char **argv) {
    struct args args = { 0 };
    struct cli_parsed p;
    int code = cli_parse(&ls_cmd, argc, argv, &args, &p);

    if (code != CLI_CONTINUE)
        return code;
    cli_log_setup(0, false);
    return ls_run(&args);
}
