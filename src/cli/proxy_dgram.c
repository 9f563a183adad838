/* SPDX-License-Identifier: MIT */
/*
 * proxy_dgram.c — `uds proxy --type dgram LISTEN TARGET`: a Unix datagram socket made at
 * LISTEN (safely, as `uds serve --type dgram` makes it) and handed to the library's
 * datagram relay, which gives each sender a socket of its own to TARGET and sends the
 * answers back. Here: the options that mean something without connections, the start
 * (TARGET probed, a loop back to LISTEN refused), the log lines (senders with -v; why a
 * datagram was dropped is dgram_drops.c's) and the stop. No datagram is read or written by
 * this file.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dgram_drops.h"
#include "lifecycle.h"
#include "proxy_dgram.h"

/* Fds besides the senders': stdio, the socket and its lock file, epoll, timers, signalfd,
 * fds passed with the datagram in hand, and some slack. */
#define FD_MARGIN 320

struct proxy_dgram {
    const struct proxy_dgram_args *args;
    struct uds_addr listen, target;
    char listen_text[UDS_PATH_MAX + 16];
    char target_text[UDS_PATH_MAX + 16];
    struct uds_loop *loop;
    struct uds_listener listener;
    struct uds_allow allow;
    struct uds_dgram_relay *relay;
    struct cli_stop stop;
    bool as_sender;             /* root: the target sees each sender's own credentials */
    struct dgram_drops drops;
};

/* ---- options -------------------------------------------------------------------------- */

static bool is_tls(const char *text) {
    return strncmp(text, "tls:", 4) == 0;
}

/* LISTEN and TARGET, Unix both. Returns CLI_CONTINUE, or EX_USAGE having said why. */
static int parse_sides(struct proxy_dgram *pd) {
    const char *side[2] = { pd->args->listen, pd->args->target };
    const char *name[2] = { "LISTEN", "TARGET" };
    struct uds_addr *addr[2] = { &pd->listen, &pd->target };

    for (int i = 0; i < 2; i++) {
        if (is_tls(side[i]) || (uds_addr_parse(side[i], UDS_ADDR_ALLOW_TCP, addr[i]) == 0 &&
                                addr[i]->kind == UDS_ADDR_TCP))
            return cli_usage("proxy", "--type dgram relays between two Unix datagram sockets; "
                             "%s '%s' is %s; e.g. uds proxy --type dgram /run/front.sock "
                             "/run/app.sock", name[i], side[i], is_tls(side[i]) ? "TLS" : "TCP");
        if (uds_addr_parse(side[i], 0, addr[i]) < 0)
            return cli_usage("proxy", "%s '%s' is not an address (%s); e.g. /run/app.sock or "
                             "@name", name[i], side[i], strerror(errno));
    }
    uds_addr_format(&pd->target, pd->target_text, sizeof(pd->target_text));
    return CLI_CONTINUE;
}

/* The shared options that need connections, and TLS options (no tls: side here). */
static int check_options(const struct proxy_dgram_args *a) {
    const struct cli_listen_opts *c = a->common;
    const char *which = c->first_byte_given ? c->first_byte_given :
                        c->backlog_given ? c->backlog_given : c->threads_given;
    const char *listen = a->listen, *target = a->target;
    struct tls_proxy *none = NULL;

    if (which)
        return cli_usage("proxy", "%s needs connections: not with --type dgram", which);
    /* Neither side is tls: here, so this only checks that no TLS option was given. */
    return tls_proxy_new(a->tls, &listen, &target, NULL, &none);
}

static void observe(struct uds_dgram_relay *relay, const struct uds_dgram_relay_event *ev,
                    void *data) {
    struct proxy_dgram *pd = data;
    char who[256];

    (void) relay;
    if (ev->type == UDS_DGRAM_RELAY_DROPPED) {
        dgram_drops_log(&pd->drops, ev);
        return;
    }
    if (!cli_log_enabled(CLI_LOG_DEBUG) || (ev->type != UDS_DGRAM_RELAY_SENDER_NEW &&
                                            ev->type != UDS_DGRAM_RELAY_SENDER_GONE))
        return;
    dgram_describe_sender(ev, who, sizeof(who));
    if (ev->type == UDS_DGRAM_RELAY_SENDER_NEW)
        cli_log(CLI_LOG_DEBUG, "sender", pd->listen_text, NULL, 0, "%s: sender %s",
                pd->listen_text, who);
    else
        cli_log(CLI_LOG_DEBUG, "sender_gone", pd->listen_text, NULL, 0, "%s: sender %s "
                "forgotten: %llu bytes to %s, %llu back", pd->listen_text, who,
                (unsigned long long) ev->bytes_from_sender, pd->target_text,
                (unsigned long long) ev->bytes_from_server);
}

/* ---- the start ---------------------------------------------------------------------------- */

/* A TARGET of another type can never take a datagram: refused. One not there yet is only
 * a warning: datagrams are dropped until it is. Returns CLI_CONTINUE, or the exit code. */
static int probe_target(const struct proxy_dgram *pd) {
    const struct uds_connect_opts o = { .type = UDS_DGRAM };
    int fd = uds_connect_addr(&pd->target, &o);

    if (fd >= 0) {
        (void) close(fd);
        return CLI_CONTINUE;
    }
    if (errno == EPROTOTYPE) {
        cli_error(pd->target_text, "point TARGET at a datagram server, or leave out --type "
                  "dgram for a stream server", "not a datagram socket");
        return EX_UNAVAILABLE;
    }
    cli_log(CLI_LOG_WARN, "target_error", pd->target_text, NULL, 0, "%s: %s; datagrams are "
            "dropped until a server is there", pd->target_text, strerror(errno));
    return CLI_CONTINUE;
}

static int start_listening(struct proxy_dgram *pd) {
    const struct proxy_dgram_args *a = pd->args;
    int code = cli_listen_unix("proxy", a->common, a->listen, &pd->listen, UDS_DGRAM, "--type",
                               &pd->listener, pd->listen_text, sizeof(pd->listen_text));

    if (code != CLI_CONTINUE)
        return code;
    /* Every datagram would come back to the proxy, and again, as fast as it can send. */
    if (uds_listener_reached_by(&pd->listener, &pd->target, NULL) == 1)
        return cli_usage("proxy", "%s: TARGET %s is this proxy's own socket: every datagram "
                         "would be relayed back to the proxy itself; choose another TARGET",
                         pd->listen_text, pd->target_text);
    return cli_run_as_drop(a->run_as, &pd->listener, pd->listen_text);
}

static void announce_ready(struct proxy_dgram *pd) {
    const char *t = pd->target_text;
    struct cli_kv kv[] = {
        CLI_KV_STR("target", t),
        CLI_KV_STR("type", "dgram"),
        CLI_KV_NUM("pid", getpid()),
    };

    cli_warn_open_access(pd->args->common, pd->listen_text,
                         pd->listener.addr.kind == UDS_ADDR_ABSTRACT);
    if (pd->as_sender)
        cli_log(CLI_LOG_INFO, "identity", t, NULL, 0, "%s: each datagram carries its sender's "
                "own pid, uid and gid (SCM_CREDENTIALS), as this proxy runs as root", t);
    else
        cli_log(CLI_LOG_WARN, "identity", t, NULL, 0, "%s: senders reach it as this proxy (pid "
                "%ld uid %lu gid %lu): its SCM_CREDENTIALS checks see the proxy, not them; "
                "restrict senders here with --allow-uid/--allow-gid", t, (long) getpid(),
                (unsigned long) geteuid(), (unsigned long) getegid());
    cli_log(CLI_LOG_INFO, "listening", pd->listen_text, kv, 3, "listening on %s; forwarding "
            "to %s", pd->listen_text, t);
    cli_signal_ready(pd->args->common, pd->listen_text);
}

static void stop_loop(void *data) {
    uds_loop_stop(((struct proxy_dgram *) data)->loop);
}

/* The loop, from the relay's start to a stop signal. Returns the exit code. */
static int run(struct proxy_dgram *pd, int sigfd) {
    const struct proxy_dgram_args *a = pd->args;
    const struct uds_dgram_relay_opts o = {
        .idle_timeout_ms = a->common->idle_ms,
        .max_senders = (size_t) a->common->max_conns,
        .max_senders_per_uid = cli_listen_opts_per_uid(a->common),
        .max_size = a->max_size,
        .flags = pd->as_sender ? UDS_DGRAM_RELAY_AS_SENDER : 0,
        .observe = observe,
        .data = pd,
        .allow = &pd->allow,
    };
    uint64_t dropped;

    pd->drops = (struct dgram_drops) {
        .listen_text = pd->listen_text, .target_text = pd->target_text,
        .who_relays = "this proxy", .allow = &pd->allow, .max_senders = a->common->max_conns,
        .max_option = "--max-conns", .per_uid = cli_listen_opts_per_uid(a->common),
        .per_uid_option = "--max-conns-per-uid", .idle_ms = a->common->idle_ms,
    };
    pd->relay = uds_dgram_relay_new(pd->loop, pd->listener.fd, &pd->target, &o);
    pd->stop = (struct cli_stop) {
        .address = pd->listen_text, .drain = stop_loop, .now = stop_loop, .data = pd,
    };
    if (!pd->relay || cli_stop_watch(&pd->stop, pd->loop, sigfd) < 0)
        return cli_fail(CLI_OP_ANY, pd->listen_text, errno, NULL);
    announce_ready(pd);
    if (uds_loop_run(pd->loop) < 0)
        return cli_fail(CLI_OP_ANY, pd->listen_text, errno, NULL);
    dropped = uds_dgram_relay_dropped(pd->relay);
    if (dropped > 0)
        cli_log(CLI_LOG_WARN, "dropped", pd->listen_text, NULL, 0, "%s: %llu datagram%s "
                "dropped in all", pd->listen_text, (unsigned long long) dropped,
                dropped == 1 ? "" : "s");
    cli_log(CLI_LOG_INFO, "stopped", pd->listen_text, NULL, 0, "%s: stopped", pd->listen_text);
    return EX_OK;
}

int proxy_dgram_run(const struct proxy_dgram_args *a) {
    struct proxy_dgram pd = { .args = a };
    int code, sigfd = -1;

    uds_listener_init(&pd.listener);
    cli_listen_opts_log_setup(a->common);
    code = parse_sides(&pd);
    if (code == CLI_CONTINUE)
        code = check_options(a);
    if (code == CLI_CONTINUE)
        code = cli_run_as_check(a->run_as);
    if (code == CLI_CONTINUE)
        code = probe_target(&pd);
    if (code != CLI_CONTINUE)
        return code;
    pd.allow = cli_listen_opts_allow(a->common);
    /* One fd a sender remembered (its socket to TARGET), up to --max-conns of them. */
    cli_raise_nofile(a->common, 1, FD_MARGIN);
    pd.loop = uds_loop_new();
    /* Before the socket exists, so a stop signal can never leave it behind. */
    sigfd = pd.loop ? cli_signalfd(false) : -1;
    if (sigfd < 0)
        code = cli_fail(CLI_OP_ANY, a->listen, errno, NULL);
    if (code == CLI_CONTINUE)
        code = start_listening(&pd);
    if (code == CLI_CONTINUE) {
        pd.as_sender = geteuid() == 0;
        code = run(&pd, sigfd);
    }
    uds_dgram_relay_free(pd.relay);
    (void) uds_unlisten(&pd.listener);
    if (pd.loop && sigfd >= 0)
        (void) uds_loop_del(pd.loop, sigfd);
    uds_loop_free(pd.loop);
    if (sigfd >= 0)
        (void) close(sigfd);
    return code;
}
