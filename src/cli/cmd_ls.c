/* SPDX-License-Identifier: MIT */
/*
 * cmd_ls.c — `uds ls`: every Unix socket of the network namespace as a table or JSON, with
 * the processes that hold each one, peers named by address or process, relative names
 * resolved through the holder's directory, and sockets whose path no longer reaches them
 * marked. The facts come from the library (sock_diag, /proc); this file only presents them.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "cli.h"
#include "options.h"

/* Room for a resolved relative name: a directory of PATH_MAX and the name. */
#define RESOLVED_MAX (UDS_PATH_MAX + UDS_SUN_PATH_MAX + 8)

struct args {
    bool listening;
    bool all;
    bool processes;
    bool json;
    const char *pattern;
};

/* What ls shows for one socket, computed once per socket of the dump. */
struct view {
    char *addr;                 /* raw bytes (an abstract name may hold NULs); NULL unnamed */
    size_t addr_len;
    char *text;                 /* addr for a terminal (cli_text_escape); NULL unnamed */
    enum uds_path_status status;
    bool relative;              /* a relative name no holder's directory resolved */
    const struct uds_procfd *procs;
    size_t n_procs;
};

struct ctx {
    const struct args *args;
    struct uds_socklist socks;
    struct uds_procfd_list procs;
    bool have_procs;
    struct view *views;         /* parallel to socks.socks */
};

static const struct cli_command ls_cmd = {
    .name = "ls",
    .synopsis = "[OPTIONS] [PATTERN]",
    .help_col = 20,
    .operands = { .names = "PATTERN", .max = 1, .extra_hint = "quote a glob: uds ls '/run/*'" },
    .intro =
        "List the Unix sockets of this machine (its network namespace), like ss -x -a -p\n"
        "but readable: TYPE, STATE, RECV-Q, SEND-Q, ADDRESS, INODE, PEER and PROCESS.\n"
        "ADDRESS is an absolute path, @name for an abstract socket, or - when unnamed; a\n"
        "relative name is resolved through the directory of a process that holds the\n"
        "socket, and shown as ./NAME when none can tell. A path marked (deleted) or\n"
        "(replaced) no longer leads to the socket: it is unreachable by that path.\n"
        "For a listener, RECV-Q is the connections waiting to be accepted and SEND-Q its\n"
        "backlog. PEER is the peer's address, or its process when it has none.\n",
    .outro =
        "PATTERN is a shell glob matched against ADDRESS, e.g. '/run/*' or '@*'.\n"
        "Processes of other users are shown only to root.\n"
        "\n"
        "Exit status: 0 listed (even if nothing matched), 1 failure, 64 usage error,\n"
        "69 the kernel cannot list sockets (no unix_diag).\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Options:"),
        { "--listening", 'l', NULL, CLI_FLAG(struct args, listening),
          .help = "only sockets that accept: listeners, and bound dgram sockets\n"
                  "that are not connected" },
        { "--all", 'a', NULL, CLI_FLAG(struct args, all),
          .help = "unnamed sockets too (by default only sockets with an address)" },
        { "--processes", 'p', NULL, CLI_FLAG(struct args, processes),
          .help = "every process and fd that holds each socket (by default the\n"
                  "first process and how many more)" },
        { "--json", 0, NULL, CLI_FLAG(struct args, json),
          .help = "one JSON array, one object per socket (see uds(1))" },
        CLI_END,
    },
};

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

static bool is_self_alias(const char *name) {
    return strncmp(name, "/proc/self/", 11) == 0 || strncmp(name, "/proc/thread-self/", 18) == 0 ||
           strncmp(name, "/dev/fd/", 8) == 0;
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

static void compute_view(struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    struct view *v = &c->views[i];
    char resolved[RESOLVED_MAX];

    v->status = UDS_PATH_UNKNOWN;
    if (c->have_procs)
        v->n_procs = uds_procfd_find(&c->procs, s->inode, &v->procs);
    switch (s->name_kind) {
    case UDS_ADDR_ABSTRACT:
        set_addr(v, "@", s->name, s->name_len);
        break;
    case UDS_ADDR_PATH:
        if (s->name[0] == '/') {
            set_addr(v, "", s->name, s->name_len);
            if (!is_self_alias(s->name))
                v->status = uds_sockinfo_path_status(s, NULL);
            break;
        }
        /* Relative to the binder's directory: any holder still sitting there can tell. */
        for (size_t k = 0; k < v->n_procs; k++) {
            if (k > 0 && v->procs[k].pid == v->procs[k - 1].pid)
                continue;
            if (uds_sockinfo_resolve(s, v->procs[k].pid, resolved, sizeof(resolved)) == 1) {
                set_addr(v, "", resolved, strlen(resolved));
                v->status = UDS_PATH_OK;
                break;
            }
        }
        if (!v->addr) {
            /* "./" keeps a file named "@x" apart from the abstract "@x". */
            bool dotted = strncmp(s->name, "./", 2) == 0 || strncmp(s->name, "../", 3) == 0;
            set_addr(v, dotted ? "" : "./", s->name, s->name_len);
            v->relative = true;
        }
        break;
    default:
        break;
    }
}

static bool accepts(const struct uds_sockinfo *s) {
    if (s->state == UDS_SOCK_LISTENING)
        return true;
    return s->type == UDS_DGRAM && s->name_kind != 0 && s->peer_inode == 0 &&
           s->state == UDS_SOCK_UNCONNECTED;
}

static bool selected(const struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    const struct view *v = &c->views[i];

    if (c->args->listening && !accepts(s))
        return false;
    if (c->args->pattern)
        return v->text && fnmatch(c->args->pattern, v->text, 0) == 0;
    return c->args->all || s->name_kind != 0;
}

static const char *status_mark(enum uds_path_status st) {
    switch (st) {
    case UDS_PATH_MISSING:
        return " (deleted)";
    case UDS_PATH_REPLACED:
        return " (replaced)";
    default:
        return "";
    }
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
    default:
        return "unknown";
    }
}

/* ---- table ---------------------------------------------------------------------------- */

enum { COL_TYPE, COL_STATE, COL_RECVQ, COL_SENDQ, COL_ADDR, COL_INODE, COL_PEER, COL_PROC,
       N_COLS };

static const char *const headers[N_COLS] = {
    "TYPE", "STATE", "RECV-Q", "SEND-Q", "ADDRESS", "INODE", "PEER", "PROCESS",
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

static char *peer_text(const struct ctx *c, const struct uds_sockinfo *s) {
    const struct uds_sockinfo *p;
    char buf[64];

    if (s->peer_inode == 0)
        return xstrdup("-");
    p = uds_socklist_find(&c->socks, s->peer_inode);
    if (p) {
        const struct view *v = &c->views[p - c->socks.socks];
        if (v->text)
            return xstrdup(v->text);
        if (v->n_procs > 0)
            return process_text(v, false);
    }
    /* A peer in another network namespace, or one nobody may see. */
    snprintf(buf, sizeof(buf), "#%lu", (unsigned long) s->peer_inode);
    return xstrdup(buf);
}

static void fill_cells(const struct ctx *c, size_t i, struct cells *r) {
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
        const char *mark = status_mark(v->status);
        size_t len = strlen(v->text) + strlen(mark) + 1;
        r->col[COL_ADDR] = xmalloc(len);
        snprintf(r->col[COL_ADDR], len, "%s%s", v->text, mark);
    } else {
        r->col[COL_ADDR] = xstrdup("-");
    }
    snprintf(buf, sizeof(buf), "%lu", (unsigned long) s->inode);
    r->col[COL_INODE] = xstrdup(buf);
    r->col[COL_PEER] = peer_text(c, s);
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

static void print_table(const struct ctx *c, const size_t *order, size_t n) {
    struct cells *rows = xmalloc(n * sizeof(*rows));
    size_t width[N_COLS];
    static const bool right[N_COLS] = { [COL_RECVQ] = true, [COL_SENDQ] = true };

    for (int k = 0; k < N_COLS; k++)
        width[k] = strlen(headers[k]);
    for (size_t i = 0; i < n; i++) {
        fill_cells(c, order[i], &rows[i]);
        for (int k = 0; k < N_COLS; k++)
            if (text_width(rows[i].col[k]) > width[k])
                width[k] = text_width(rows[i].col[k]);
    }
    for (size_t i = 0; i <= n; i++)
        for (int k = 0; k < N_COLS; k++)
            print_cell(i == 0 ? headers[k] : rows[i - 1].col[k], width[k], right[k] && i > 0,
                       k == N_COLS - 1);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < N_COLS; k++)
            free(rows[i].col[k]);
    free(rows);
}

/* ---- JSON ----------------------------------------------------------------------------- */

static void json_procs(const struct uds_procfd *procs, size_t n) {
    putchar('[');
    for (size_t k = 0; k < n; k++) {
        printf("%s{\"pid\":%d,\"command\":", k ? "," : "", (int) procs[k].pid);
        cli_json_string(stdout, procs[k].command, strlen(procs[k].command));
        printf(",\"fd\":%d}", procs[k].fd);
    }
    putchar(']');
}

static void print_json_one(const struct ctx *c, size_t i) {
    const struct uds_sockinfo *s = &c->socks.socks[i];
    const struct view *v = &c->views[i];
    const char *st = status_name(s, v);
    const char *kind = s->name_kind == UDS_ADDR_PATH       ? "path"
                       : s->name_kind == UDS_ADDR_ABSTRACT ? "abstract"
                                                           : "unnamed";

    fputs("{\"address\":", stdout);
    if (v->addr)
        cli_json_string(stdout, v->addr, v->addr_len);
    else
        fputs("null", stdout);
    printf(",\"kind\":\"%s\",\"name\":", kind);
    if (s->name_kind != 0)
        cli_json_string(stdout, s->name, s->name_len);
    else
        fputs("null", stdout);
    printf(",\"path_status\":");
    if (st)
        printf("\"%s\"", st);
    else
        fputs("null", stdout);
    printf(",\"type\":\"%s\",\"state\":\"%s\",\"inode\":%lu", uds_socket_type_name(s->type),
           uds_sock_state_name(s->state), (unsigned long) s->inode);
    if (s->peer_inode)
        printf(",\"peer_inode\":%lu", (unsigned long) s->peer_inode);
    else
        fputs(",\"peer_inode\":null", stdout);
    fputs(",\"peer_address\":", stdout);
    {
        const struct uds_sockinfo *p = s->peer_inode ? uds_socklist_find(&c->socks, s->peer_inode)
                                                     : NULL;
        const struct view *pv = p ? &c->views[p - c->socks.socks] : NULL;
        if (pv && pv->addr)
            cli_json_string(stdout, pv->addr, pv->addr_len);
        else
            fputs("null", stdout);
    }
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
    fputs(",\"processes\":", stdout);
    json_procs(v->procs, v->n_procs);
    putchar('}');
}

static void print_json(const struct ctx *c, const size_t *order, size_t n) {
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

int cmd_ls(int argc, char **argv) {
    struct args args = { 0 };
    struct ctx c = { .args = &args };
    struct cli_parsed p;
    size_t *order = NULL, n = 0;
    bool missing_proc = false;
    int code = cli_parse(&ls_cmd, argc, argv, &args, &p);

    if (code != CLI_CONTINUE)
        return code;
    if (p.n_operands == 1)
        args.pattern = p.operands[0];
    cli_log_setup(0, false);

    if (uds_socklist_dump(&c.socks) < 0) {
        int e = errno;
        if (e == EPROTONOSUPPORT || e == ENOENT) {
            cli_error(NULL, "load it (modprobe unix_diag) or use ss -x",
                      "cannot list sockets: this kernel has no unix_diag (%s)", strerror(e));
            return EX_UNAVAILABLE;
        }
        cli_error(NULL, "try again", "cannot list sockets: %s", strerror(e));
        return CLI_EXIT_FAILURE;
    }
    if (uds_procfd_scan(0, &c.procs) == 0)
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
        uds_procfd_done(&c.procs);
        uds_socklist_done(&c.socks);
        return CLI_EXIT_FAILURE;
    }
    for (size_t i = 0; i < c.socks.n; i++)
        compute_view(&c, i);
    for (size_t i = 0; i < c.socks.n; i++)
        if (selected(&c, i)) {
            order[n++] = i;
            missing_proc |= c.views[i].n_procs == 0;
        }
    qsort_r(order, n, sizeof(*order), by_address, &c);

    if (args.json)
        print_json(&c, order, n);
    else
        print_table(&c, order, n);
    if (missing_proc && c.have_procs && c.procs.n_denied > 0)
        cli_log(CLI_LOG_INFO, "note", NULL, NULL, 0,
                "%zu processes could not be read (other users'); run as root to see which "
                "process holds every socket", c.procs.n_denied);

    free(order);
    for (size_t i = 0; i < c.socks.n; i++) {
        free(c.views[i].addr);
        free(c.views[i].text);
    }
    free(c.views);
    uds_procfd_done(&c.procs);
    uds_socklist_done(&c.socks);
    return fflush(stdout) == 0 ? EX_OK : CLI_EXIT_FAILURE;
}
