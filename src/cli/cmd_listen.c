/* SPDX-License-Identifier: MIT */
/*
 * cmd_listen.c — `uds listen`: the `nc -lU` of udskit. On a stream or seqpacket address one
 * client at a time is joined to stdin and stdout, both ways, with half-close (-k: the next
 * one after it); on a dgram address each datagram is printed as it arrives (--json: with
 * its sender). The listener is listen_opts.c's (stale file, mode, lock, activation),
 * accepting is the library's uds_server, moving the bytes its relay; this file decides
 * who is served when, and prints datagrams.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_listen.h"
#include "dgram_in.h"
#include "listen_opts.h"
#include "options.h"

/* The largest datagram printed whole: above the kernel's default largest (net.core.wmem_max,
 * 212992 bytes); a longer one is cut and said to be. */
#define DGRAM_MAX (256u * 1024)

struct listen_args {
    const char *address;
    enum uds_socket_type type;
    bool keep_open;             /* -k */
    long count;                 /* -n: clients or datagrams, then exit; 0 = no limit */
    bool json;                  /* --json: datagrams as JSON lines */
    struct cli_listen_opts common;  /* access, readiness and logs (as uds serve) */
};

struct lsn {
    const struct listen_args *args;
    char addr[UDS_PATH_MAX + 8];    /* canonical address, for logs */
    struct uds_allow allow;
    struct uds_listener listener;
    struct uds_loop *loop;
    struct uds_server *server;      /* stream, seqpacket: accepts, one client at a time */
    struct uds_relay_group *relays;
    struct uds_relay *relay;        /* the client being served, or NULL */
    struct uds_peer client;         /* its identity, for the log */
    bool abstract;                  /* addr is in the abstract namespace */
    bool stdin_tty;
    long served;                    /* clients done, or datagrams printed */
    int code;                       /* the exit code so far */
    struct cli_accept_errors accept_errors;
    char *buf;                      /* dgram */
    struct cli_dgram_in din;        /* dgram: reads into buf */
    struct cli_stop stop;           /* the stop signals */
};

/* ---- logs ------------------------------------------------------------------------------- */

static void log_peer(const struct lsn *l, enum cli_level level, const char *event,
                     const struct uds_peer *peer, const char *what, const char *reason) {
    struct cli_kv kv[] = {
        CLI_KV_NUM("pid", peer->pid),
        CLI_KV_NUM("uid", peer->uid),
        CLI_KV_NUM("gid", peer->gid),
        CLI_KV_STR("reason", reason ? reason : ""),
    };

    if (!cli_log_enabled(level))
        return;
    cli_log(level, event, l->addr, kv, reason ? 4 : 3, "%s: %s pid %ld uid %lu gid %lu%s%s",
            l->addr, what, (long) peer->pid, (unsigned long) peer->uid,
            (unsigned long) peer->gid, reason ? ": " : "", reason ? reason : "");
}

static void on_deny(const struct uds_peer *peer, void *data) {
    log_peer(data, CLI_LOG_WARN, "deny", peer, "refused", "not in --allow-uid/--allow-gid");
}

static void on_accept_error(int error, void *data) {
    struct lsn *l = data;

    cli_log_accept_error(&l->accept_errors, l->addr, error);
}

/* ---- stream and seqpacket: one client at a time ------------------------------------------ */

static bool want_more(const struct lsn *l) {
    return l->args->count > 0 ? l->served < l->args->count : l->args->keep_open;
}

static void stop(struct lsn *l) {
    if (l->server)
        (void) uds_server_stop(l->server, false);
    uds_loop_stop(l->loop);
}

/* How the client's relay ended: a failure of stdin or stdout ends the command (1; a
 * reader of stdout that has left, 0); a client's is its own, logged, and the end of a
 * single client's run (1). */
static int relay_code(const struct lsn *l, const struct uds_relay_info *info) {
    int err = info->error;

    if (!err)
        return EX_OK;
    if (info->error_side == UDS_RELAY_A)
        return cli_exchange_stdio_code(info);
    log_peer(l, CLI_LOG_WARN, "close", &l->client, "connection from", strerror(err));
    return want_more(l) ? EX_OK : CLI_EXIT_FAILURE;
}

static void on_relay_close(struct uds_relay *relay, const struct uds_relay_info *info,
                           void *data) {
    struct lsn *l = data;
    int code;
    char why[96];

    (void) relay;
    l->relay = NULL;
    l->served++;
    snprintf(why, sizeof(why), "%llu bytes in, %llu out",
             (unsigned long long) info->bytes_from_b, (unsigned long long) info->bytes_from_a);
    log_peer(l, CLI_LOG_DEBUG, "close", &l->client, "closed connection from", why);
    code = relay_code(l, info);
    if (code != EX_OK || (info->error_side == UDS_RELAY_A && info->error) || !want_more(l)) {
        l->code = code;
        stop(l);
        return;
    }
    uds_server_pause(l->server, false);
}

/* A client: it leaves the server (which rests until it is done) for a relay with stdin
 * and stdout. */
static int on_open(struct uds_conn *conn, void *data) {
    struct lsn *l = data;
    const struct uds_peer *peer = uds_conn_peer(conn);
    struct uds_relay_args ra = {
        .fd_a_in = STDIN_FILENO,
        .fd_a_out = STDOUT_FILENO,
        /* stdin and stdout stay ours (and blocking, for whoever shares them). A terminal's
         * input never ends by itself: there the client's end is the end, as for nc. Else
         * each side ends its own direction (half-close), and the client is done when both
         * have. */
        .flags = UDS_RELAY_BORROW_A | (l->stdin_tty ? UDS_RELAY_END_WITH_B : 0u),
    };

    if (l->relay)
        return -1;  /* cannot happen: the server rests while a client is served */
    l->client = (struct uds_peer){ .pid = peer->pid, .uid = peer->uid, .gid = peer->gid,
                                   .pidfd = -1 };
    ra.fd_b = uds_conn_detach(conn);
    if (ra.fd_b < 0)
        return -1;
    uds_server_pause(l->server, true);
    log_peer(l, CLI_LOG_DEBUG, "open", &l->client, "connection from", NULL);
    l->relay = uds_relay_new2(l->relays, &ra, on_relay_close, l);
    if (!l->relay) {
        /* The relay closed the client's fd: say why, and serve the next one. */
        log_peer(l, CLI_LOG_WARN, "close", &l->client, "closing connection from",
                 strerror(errno));
        uds_server_pause(l->server, false);
    }
    return 0;
}

static int run_stream(struct lsn *l) {
    const struct uds_server_opts sopts = {
        .max_conns = 1,
        .allow = uds_allow_is_set(&l->allow) ? &l->allow : NULL,
        .peer_flags = cli_listen_opts_peer_flags(&l->args->common),
    };
    const struct uds_server_callbacks cbs = {
        .on_open = on_open,
        .on_deny = on_deny,
        .on_accept_error = on_accept_error,
    };
    /* One relay has no other writes to batch its own with. */
    const struct uds_relay_opts ropts = { .flags = UDS_RELAY_NO_BATCH };

    l->stdin_tty = isatty(STDIN_FILENO) == 1;
    l->relays = uds_relay_group_new(l->loop, &ropts);
    if (!l->relays)
        return cli_fail(CLI_OP_ANY, l->addr, errno, NULL);
    l->server = uds_server_new(l->loop, &l->listener, &sopts, &cbs, l);
    if (!l->server)
        return cli_fail(CLI_OP_ANY, l->addr, errno, NULL);
    return CLI_CONTINUE;
}

/* ---- dgram: print what arrives ------------------------------------------------------------ */

/* One datagram as a JSON line: sender, credentials, length and bytes, every string escaped
 * (a sender chooses both its address and its bytes). */
static void print_json(const char *data, size_t len, bool cut, const char *name,
                       size_t name_len, const struct uds_peer *peer, bool have_cred) {
    fputs("{\"from\":", stdout);
    if (name_len)
        cli_json_string(stdout, name, name_len);
    else
        fputs("null", stdout);
    if (have_cred)
        printf(",\"pid\":%ld,\"uid\":%lu,\"gid\":%lu", (long) peer->pid,
               (unsigned long) peer->uid, (unsigned long) peer->gid);
    else
        fputs(",\"pid\":null,\"uid\":null,\"gid\":null", stdout);
    printf(",\"bytes\":%zu,\"truncated\":%s,\"data\":", len, cut ? "true" : "false");
    cli_json_string(stdout, data, len);
    fputs("}\n", stdout);
}

/* Print one datagram and count it (one the allow-lists refuse is neither); returns false
 * when stdout is gone (the code is set). */
static bool print_datagram(struct lsn *l, const struct uds_datagram *dg, const char *data) {
    const struct uds_peer *peer = &dg->cred;
    char name[sizeof(((struct sockaddr_un *) 0)->sun_path) + 1];
    size_t name_len = cli_dgram_sender_name(&dg->from, dg->from_len, name, sizeof(name));
    bool truncated = dg->full_len > dg->len;

    if (uds_allow_is_set(&l->allow) && (!dg->has_cred || !uds_peer_allowed(peer, &l->allow))) {
        on_deny(peer, l);
        return true;
    }
    log_peer(l, CLI_LOG_DEBUG, "datagram", peer, "datagram from", NULL);
    if (truncated)
        log_peer(l, CLI_LOG_WARN, "truncated", peer, "datagram from",
                 "longer than 256 KiB, cut to that length");
    if (l->args->json) {
        print_json(data, dg->len, truncated, name, name_len, peer, dg->has_cred);
    } else {
        fwrite(data, 1, dg->len, stdout);
        /* One datagram a line, unless it brings its own newline. */
        if (dg->len == 0 || data[dg->len - 1] != '\n')
            putchar('\n');
    }
    l->served++;
    if (fflush(stdout) == 0)
        return true;
    if (errno != EPIPE) {
        cli_error("stdout", "check where the output goes", "cannot write: %s", strerror(errno));
        l->code = CLI_EXIT_FAILURE;
    }
    return false;
}

/* Print it; once --count datagrams are printed or stdout is gone, the loop ends. */
static bool on_datagram(const struct uds_datagram *dg, const char *data, void *ctx) {
    struct lsn *l = ctx;
    bool printed = print_datagram(l, dg, data);
    bool all = l->args->count > 0 && l->served >= l->args->count;

    if (printed && !all)
        return true;
    if (l->code != EX_OK || all || ferror(stdout))
        uds_loop_stop(l->loop);
    return false;
}

static int run_dgram(struct lsn *l) {
    l->buf = malloc(DGRAM_MAX);
    if (!l->buf)
        return cli_fail(CLI_OP_ANY, l->addr, ENOMEM, NULL);
    /* The sender's pid/uid/gid for --json and the allow-lists come with every datagram. */
    l->din = (struct cli_dgram_in) {
        .fd = l->listener.fd, .buf = l->buf, .size = DGRAM_MAX, .address = l->addr,
        .fn = on_datagram, .data = l,
    };
    if (cli_dgram_in_watch(&l->din, l->loop) < 0)
        return cli_fail(CLI_OP_ANY, l->addr, errno, NULL);
    return CLI_CONTINUE;
}

/* ---- signals ------------------------------------------------------------------------------ */

/* Any stop signal stops at once: there is no drain of a single client. */
static void on_stop(struct cli_stop *st, const char *name, void *data) {
    struct lsn *l = data;
    struct cli_kv kv[] = { CLI_KV_STR("signal", name) };

    (void) st;
    cli_log(CLI_LOG_INFO, "stopping", l->addr, kv, 1, "%s: stopping on %s%s", l->addr, name,
            l->relay ? ", closing the connection" : "");
    uds_relay_free(l->relay);
    l->relay = NULL;
    stop(l);
}

/* ---- options ------------------------------------------------------------------------------ */

#define A struct listen_args
static const struct cli_command listen_cmd = {
    .name = "listen",
    .synopsis = "[OPTIONS] ADDRESS",
    .help_col = 28,
    .operands = { .names = "ADDRESS", .min = 1, .max = 1,
                  .example = "uds listen /tmp/talk.sock", .at = { CLI_OPERAND(A, address) } },
    .intro =
        "Listen on ADDRESS (a path, @abstract, unix:PATH or unix:@name), like 'nc -lU':\n"
        "accept one client and join it to stdin and stdout, both ways. At the end of\n"
        "stdin the client's receiving side is shut down, and what it sends goes on to\n"
        "stdout until it ends too; when stdin is a terminal, the client's end is the end.\n"
        "Other clients wait in the backlog. With --type dgram, print each datagram that\n"
        "arrives instead, on a line of its own unless it ends with a newline.\n",
    .outro =
        "The socket is made as by 'uds serve': a stale socket file is replaced, a live\n"
        "server's or any other file is never touched, and the file is removed at the end.\n"
        "Once ready it logs 'uds: listening on ADDRESS' on stderr. SIGTERM or SIGINT stops\n"
        "it (exit 0).\n"
        "\n"
        "Exit status: 0 done, 1 failure (stdin or stdout failed, or the one client's\n"
        "connection did), 64 usage error, 69 the address is held by a running server, 73\n"
        "cannot create (the path exists and is not a socket, or its directory is missing),\n"
        "77 permission denied.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Options:"),
        CLI_OPT_TYPE(A, type, "stream (default), seqpacket or dgram; with seqpacket\n"
                              "each read of stdin (up to 256 KiB) is one message"),
        { "--keep-open", 'k', NULL, CLI_FLAG(A, keep_open),
          .help = "when a client is done, accept the next one (until a\n"
                  "signal)" },
        { "--count", 'n', "COUNT", CLI_LONG(A, count, 1, 1L << 62), .example = "1",
          .help = "exit after COUNT clients (stream, seqpacket; -k is\n"
                  "implied) or COUNT datagrams (dgram)" },
        { "--json", 0, NULL, CLI_FLAG(A, json),
          .help = "dgram: print each datagram as one JSON object a line:\n"
                  "from (the sender's address, or null), pid, uid, gid,\n"
                  "bytes, truncated, data" },
        CLI_LISTEN_ACCESS_SECTION(A),
        CLI_LISTEN_LOG_SECTION(A),
        CLI_END,
    },
};
#undef A

/* Options that make no sense together: a usage error, or CLI_CONTINUE. */
static int check_listen_args(const struct listen_args *a) {
    if (a->json && a->type != UDS_DGRAM)
        return cli_usage("listen", "--json is for datagrams (--type dgram); a client's "
                         "bytes go to stdout as they are");
    if (a->keep_open && a->type == UDS_DGRAM)
        return cli_usage("listen", "--keep-open needs connections: --type stream or "
                         "seqpacket; dgram prints datagrams until a signal or --count");
    return CLI_CONTINUE;
}

/* ---- the command -------------------------------------------------------------------------- */

static int start(struct lsn *l, int *ret_sigfd) {
    const struct listen_args *a = l->args;
    struct uds_addr addr;
    int code;

    /* Before the socket exists, so a stop signal can never leave it behind. */
    *ret_sigfd = cli_signalfd(false);
    l->loop = uds_loop_new();
    if (*ret_sigfd < 0 || !l->loop)
        return cli_fail(CLI_OP_ANY, a->address, errno, NULL);
    if (uds_addr_parse(a->address, UDS_ADDR_ALLOW_TCP, &addr) < 0)
        return cli_fail(CLI_OP_LISTEN, a->address, errno, NULL);
    code = cli_listen_unix("listen", &a->common, a->address, &addr, a->type, "--type",
                           &l->listener, l->addr, sizeof(l->addr));
    if (code != CLI_CONTINUE)
        return code;
    l->abstract = l->listener.addr.kind == UDS_ADDR_ABSTRACT;
    code = a->type == UDS_DGRAM ? run_dgram(l) : run_stream(l);
    if (code != CLI_CONTINUE)
        return code;
    l->stop = (struct cli_stop) { .address = l->addr, .on_stop = on_stop, .data = l };
    if (cli_stop_watch(&l->stop, l->loop, *ret_sigfd) < 0)
        return cli_fail(CLI_OP_ANY, l->addr, errno, NULL);
    return CLI_CONTINUE;
}

int cmd_listen(int argc, char **argv) {
    struct listen_args args = { .type = UDS_STREAM };
    struct lsn l = { .args = &args, .code = EX_OK };
    struct cli_parsed p;
    int code, sigfd = -1;

    cli_listen_opts_init(&args.common);
    uds_listener_init(&l.listener);
    code = cli_parse(&listen_cmd, argc, argv, &args, &p);
    if (code == CLI_CONTINUE)
        code = check_listen_args(&args);
    if (code != CLI_CONTINUE)
        goto out;
    cli_listen_opts_log_setup(&args.common);
    l.allow = cli_listen_opts_allow(&args.common);
    cli_exchange_hold_stdio();
    code = start(&l, &sigfd);
    if (code != CLI_CONTINUE)
        goto out;
    cli_listen_announce(&args.common, l.addr, l.abstract, args.type);
    code = uds_loop_run(l.loop) < 0 ? cli_fail(CLI_OP_ANY, l.addr, errno, NULL) : l.code;
out:
    uds_relay_free(l.relay);
    uds_relay_group_free(l.relays);
    if (l.server)
        uds_server_free(l.server);      /* also its listener */
    else
        (void) uds_unlisten(&l.listener);
    cli_signalfd_close(sigfd, l.loop);
    free(l.buf);
    cli_listen_opts_done(&args.common);
    return code;
}
