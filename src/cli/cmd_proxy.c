/* SPDX-License-Identifier: MIT */
/*
 * cmd_proxy.c — `uds proxy LISTEN TARGET`, a composition of library pieces: uds_server
 * accepts on the Unix or TCP listener (EMFILE shedding, the allow-lists); each client is
 * admitted here (no loop back to the proxy, its user's share of the slots), detached from
 * the server and handed to a uds_forwarder, which connects it to the target and relays it
 * (behind a PROXY protocol header if asked), on the proxy's loop or, with --threads N, on
 * the one of its N worker loops with the fewest connections. Limits, signals, logs, the
 * TLS glue and the graceful stop are here (the options and listener it shares with `uds
 * serve` are listen_opts.c's); no byte of a connection is read or written by this file.
 * What the forwarder's workers share with the proxy's loop (the per-uid counts, loop
 * detection, the target-failure log rate) is under struct proxy's lock.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "listen_opts.h"
#include "listen_proc.h"
#include "options.h"
#include "proxy_dgram.h"
#include "tls.h"

/* Fds besides those of the connections: stdio, listener, lock file, epoll, timer,
 * signalfd, the EMFILE spare, the pooled pipes (64 pairs), and some slack. */
#define FD_MARGIN 192
/* "tcp:[v6%zone]:port", "pid 4294967295 uid 4294967295 gid 4294967295" */
#define CLIENT_TEXT_MAX 128

struct proxy_args {
    const char *listen;
    const char *target;
    struct cli_listen_opts common;  /* access, limits, readiness and logs (as uds serve) */
    bool public;
    int send_proxy;             /* 0, 1 (v1 text) or 2 (v2 binary) */
    int connect_ms;
    const char *connect_ms_given;   /* --connect-timeout said (not the default) */
    int retry_ms;               /* --connect-retry: how long to wait for a TARGET not there */
    int exit_idle_ms;           /* --exit-idle-time, 0 never */
    size_t buffer_size;
    bool no_splice;
    bool no_pass_fds;           /* between two Unix sides, drop passed fds (splice again) */
    bool no_batch;
    long busy_poll_us;
    struct cli_run_as run_as;   /* --user */
    struct tls_opts tls;        /* tls:HOST:PORT on either side (tls.c) */
    enum uds_socket_type type;  /* --type dgram: proxy_dgram.c's */
};

/* Where clients are relayed to, resolved once at start. */
struct target {
    struct uds_addr addr;
    char text[UDS_PATH_MAX + 16];
    bool is_unix;
    struct uds_tcp_addrs tcp;       /* a TCP target's addresses */
};

struct proxy {
    const struct proxy_args *args;
    struct uds_loop *loop;
    struct uds_server *server;      /* accepts; each client leaves it at once, detached */
    struct uds_forwarder *fwdr;     /* connects each client to the target and relays it */
    struct tls_proxy *tls;          /* TLS sides, or NULL */
    struct target target;
    /* the listener, until the server takes it over */
    struct uds_listener listener;
    bool listen_unix;
    char listen_text[UDS_PATH_MAX + 16];
    bool abstract;
    struct uds_allow allow;
    pthread_mutex_t lock;           /* uids, fail_*, target_*, self_loops */
    bool at_limit;                  /* --max-conns connections: the server is paused */
    /* stop */
    struct cli_stop stop;
    bool stopping;
    bool done;                      /* the loop is to return */
    struct uds_timer drain_timer;
    struct uds_timer idle_timer;    /* --exit-idle-time, while no connection is open */
    /* rate limits */
    uint64_t fail_logged_ms;
    unsigned fails_unlogged;
    struct cli_accept_errors accept_errors;
    /* a Unix listener: clients per uid, against --max-conns-per-uid */
    struct uds_uid_counter *uids;
    /* loops: a TARGET that leads back here */
    pid_t target_pid;               /* the process listening on a Unix TARGET, 0 unknown */
    time_t target_started;          /*   and when it started, to tell a reused pid */
    unsigned self_loops;            /* our own connections back in our backlog, reported */
};

/* A client, from its admission until its forward is freed (on the forward's loop). */
struct conn {
    struct proxy *px;
    struct uds_forward *fwd;
    uint64_t started_ms;
    char client_text[CLIENT_TEXT_MAX];
    pid_t client_pid;           /* a Unix client's, 0 for none */
    uid_t client_uid;
    bool uid_counted;           /* client_uid holds one of its --max-conns-per-uid */
    pid_t loop_pid;             /* ELOOP: the process the client would come back to */
    struct tls_pump *tls_client;    /* a TLS listener's session with the client */
    struct tls_pump *tls_target;    /* a TLS target's session */
    bool relaying;              /* the relay runs: its end has not come */
    int relay_error;            /* how the relay ended, for the TLS sessions */
};

/* ---- addresses -------------------------------------------------------------------------- */

/* A tcp: address's IPv4 and IPv6 addresses. Returns 0, or -1 after printing the usage
 * error. */
static int resolve_tcp(const struct uds_addr *addr, const char *text,
                       struct uds_tcp_addrs *ret_addrs) {
    int gai;

    if (uds_tcp_resolve(addr, ret_addrs, &gai) >= 0)
        return 0;
    if (gai == 0 && errno == ENOENT)
        cli_usage("proxy", "%s: '%s' has no IPv4 or IPv6 address; check the host name", text,
                  addr->host);
    else
        cli_usage("proxy", "%s: cannot resolve '%s': %s; check the host name", text,
                  addr->host, gai == 0 || gai == EAI_SYSTEM ? strerror(errno)
                                                            : gai_strerror(gai));
    return -1;
}

/* The target, resolved once: a TCP host's addresses, or a Unix address. Returns
 * CLI_CONTINUE, or the exit code. */
static int setup_target(struct proxy *px) {
    struct target *t = &px->target;
    const char *text = px->args->target;

    if (uds_addr_parse(text, UDS_ADDR_ALLOW_TCP, &t->addr) < 0)
        return cli_usage("proxy", "TARGET '%s' is not an address (%s); e.g. /run/app.sock, "
                         "@name or tcp:127.0.0.1:8080", text, strerror(errno));
    uds_addr_format(&t->addr, t->text, sizeof(t->text));
    tls_proxy_name_target(px->tls, t->text);
    t->is_unix = t->addr.kind != UDS_ADDR_TCP;
    if (t->is_unix)
        return CLI_CONTINUE;
    if (resolve_tcp(&t->addr, t->text, &t->tcp) < 0)
        return EX_USAGE;
    if (t->addr.port == 0)
        return cli_usage("proxy", "%s: TARGET needs a port other than 0", t->text);
    return CLI_CONTINUE;
}

/* ---- logging ------------------------------------------------------------------------------ */

/* What a failed connection to the target means, and what to do about it. */
static void describe_connect_error(const struct proxy *px, const struct conn *c, int err,
                                   char *buf, size_t size) {
    const struct target *t = &px->target;
    char dur[32], retried[64] = "";

    if (px->args->retry_ms)
        snprintf(retried, sizeof(retried), ", still after %s (--connect-retry)",
                 cli_format_duration(px->args->retry_ms, dur, sizeof(dur)));
    switch (err) {
    case ELOOP:
        if (c->loop_pid == getpid())
            snprintf(buf, size, "the target is this proxy's own listener (a loop); choose "
                     "another TARGET");
        else
            snprintf(buf, size, "the client is the process listening on the target (pid %ld): "
                     "relaying it would loop back to it; check that TARGET does not lead back "
                     "here", (long) c->loop_pid);
        break;
    case ENOENT:
        snprintf(buf, size, "no such socket%s; is the server running?", retried);
        break;
    case ECONNREFUSED:
        snprintf(buf, size, t->is_unix ? "nothing is listening (stale socket file)%s; start "
                 "the server" : "connection refused%s; is the server running?", retried);
        break;
    case ETIMEDOUT:
        snprintf(buf, size, "timed out after %s (--connect-timeout); is the server "
                 "overloaded?", cli_format_duration(px->args->connect_ms, dur, sizeof(dur)));
        break;
    case EACCES:
    case EPERM:
        snprintf(buf, size, "permission denied; give this proxy's user (uid %lu) access",
                 (unsigned long) geteuid());
        break;
    case ENOTSOCK:
        snprintf(buf, size, "exists and is not a socket; check the address");
        break;
    case EHOSTUNREACH:
    case ENETUNREACH:
        snprintf(buf, size, "%s; check the address", strerror(err));
        break;
    default:
        snprintf(buf, size, "%s", strerror(err));
        break;
    }
}

static void log_connect_failure(struct proxy *px, const struct conn *c, int err) {
    uint64_t now = cli_now_ms();
    char why[256];
    struct cli_kv kv[] = {
        CLI_KV_STR("client", c->client_text),
        CLI_KV_STR("reason", strerror(err)),
    };

    unsigned unlogged;

    /* A target that is down fails every client: one line per second says it all. */
    pthread_mutex_lock(&px->lock);
    if (px->fail_logged_ms && now - px->fail_logged_ms < 1000) {
        px->fails_unlogged++;
        pthread_mutex_unlock(&px->lock);
        return;
    }
    unlogged = px->fails_unlogged;
    px->fail_logged_ms = now;
    px->fails_unlogged = 0;
    pthread_mutex_unlock(&px->lock);
    describe_connect_error(px, c, err, why, sizeof(why));
    if (unlogged)
        cli_log(CLI_LOG_WARN, "target_error", px->target.text, kv, 2, "%s: client %s closed "
                "(and %u more since the last report): %s", px->target.text, c->client_text,
                unlogged, why);
    else
        cli_log(CLI_LOG_WARN, "target_error", px->target.text, kv, 2, "%s: client %s "
                "closed: %s", px->target.text, c->client_text, why);
}

/* ---- connections -------------------------------------------------------------------------- */

static void check_drained(struct proxy *px);
static void update_idle_timer(struct proxy *px);

/* Connections open now: relaying, connecting, or in a TLS handshake. */
static size_t conns(const struct proxy *px) {
    return uds_forwarder_count(px->fwdr);
}

/* --first-byte-timeout: none unless given, for the target may be the one to speak first
 * (MySQL, SMTP) while its client waits in silence. */
static int first_byte_ms(const struct proxy *px) {
    return cli_listen_opts_first_byte_ms(&px->args->common, 0);
}

/* At --max-conns the listener rests and new clients wait in the backlog (s6): the server
 * cannot count the connections itself, as each leaves it at once. */
static void update_accepting(struct proxy *px) {
    size_t n = conns(px);
    bool full = n >= (size_t) px->args->common.max_conns;

    if (px->stopping || !px->server)
        return;
    if (full && !px->at_limit)
        cli_log_limit_reached(&px->args->common, px->listen_text, n, "connection");
    px->at_limit = full;
    uds_server_pause(px->server, full);
}

/* The number of connections changed (on the proxy's loop): re-evaluate the limit, the idle
 * clock and the drain. */
static void on_count(struct uds_forwarder *fwdr, size_t count, void *data) {
    struct proxy *px = data;

    (void) fwdr, (void) count;
    update_accepting(px);
    update_idle_timer(px);
    check_drained(px);
}

static void release_uid(struct conn *c) {
    struct proxy *px = c->px;

    if (!c->uid_counted)
        return;
    pthread_mutex_lock(&px->lock);
    (void) uds_uid_counter_release(px->uids, c->client_uid);   /* counted, so held */
    pthread_mutex_unlock(&px->lock);
}

/* The connection is gone, on its loop: its TLS sessions and its share of the slots. */
static void on_freed(struct uds_forward *fwd, void *data) {
    struct conn *c = data;

    (void) fwd;
    /* A relay cut short here (a failed session, the drain's end) has no clean end to
     * pass on: its TLS sessions are dropped without close_notify. */
    tls_pump_release(c->tls_client, c->relaying ? ECONNABORTED : c->relay_error);
    tls_pump_release(c->tls_target, c->relaying ? ECONNABORTED : c->relay_error);
    release_uid(c);
    free(c);
}

static void on_connect_error(struct uds_forward *fwd, int err, void *data) {
    struct conn *c = data;

    (void) fwd;
    log_connect_failure(c->px, c, err);
}

/* ---- the client on its way ---------------------------------------------------------------- */

static void on_silent(struct uds_forward *fwd, void *data) {
    const struct conn *c = data;
    struct proxy *px = c->px;
    char dur[32];
    struct cli_kv kv[] = {
        CLI_KV_STR("client", c->client_text),
        CLI_KV_STR("reason", "sent nothing (--first-byte-timeout)"),
    };

    (void) fwd;
    if (cli_log_enabled(CLI_LOG_DEBUG))
        cli_log(CLI_LOG_DEBUG, "close", px->listen_text, kv, 2, "%s: closed connection from "
                "%s while connecting to %s: sent nothing for %s (--first-byte-timeout)",
                px->listen_text, c->client_text, px->target.text,
                cli_format_duration(first_byte_ms(px), dur, sizeof(dur)));
}

/* "LISTEN: client CLIENT WHAT TARGET", with the client as a field of its own for --log
 * json: what became of a client on its way to the target. */
static void log_client_to_target(const struct conn *c, enum cli_level level, const char *event,
                                 const char *what, const char *after) {
    struct proxy *px = c->px;
    struct cli_kv kv[] = { CLI_KV_STR("client", c->client_text) };

    if (cli_log_enabled(level))
        cli_log(level, event, px->listen_text, kv, 1, "%s: client %s %s %s%s", px->listen_text,
                c->client_text, what, px->target.text, after);
}

/* A client gone with nothing to deliver while the target is connecting is let go at once,
 * so that its slot (--max-conns, --max-conns-per-uid) is not held for a target that may
 * take the whole --connect-retry to come. */
static void on_client_gone(struct uds_forward *fwd, void *data) {
    (void) fwd;
    log_client_to_target(data, CLI_LOG_INFO, "client_gone", "hung up while connecting to",
                         "; let go");
}

/* ---- relaying ----------------------------------------------------------------------------- */

static void on_relayed(struct uds_forward *fwd, void *data) {
    struct conn *c = data;

    (void) fwd;
    c->relaying = true;
    log_client_to_target(c, CLI_LOG_DEBUG, "open", "relayed to", "");
}

static void on_relay_error(struct uds_forward *fwd, int err, void *data) {
    const struct conn *c = data;
    struct proxy *px = c->px;

    (void) fwd;
    cli_log(CLI_LOG_WARN, "relay_error", px->listen_text, NULL, 0, "%s: closed connection "
            "from %s: cannot relay it: %s", px->listen_text, c->client_text, strerror(err));
}

static void on_relay_close(struct uds_forward *fwd, const struct uds_relay_info *info,
                           void *data) {
    struct conn *c = data;
    struct proxy *px = c->px;
    bool target_failed = info->error && info->error_side == UDS_RELAY_B;
    enum cli_level level = target_failed ? CLI_LOG_WARN : CLI_LOG_DEBUG;
    char why[160] = "", dur[32];
    struct cli_kv kv[] = {
        CLI_KV_STR("client", c->client_text),
        CLI_KV_NUM("bytes_from_client", info->bytes_from_a),
        CLI_KV_NUM("bytes_from_target", info->bytes_from_b),
        CLI_KV_NUM("spliced", info->spliced_from_a + info->spliced_from_b),
        CLI_KV_NUM("duration_ms", cli_now_ms() - c->started_ms),
        CLI_KV_STR("reason", info->error ? strerror(info->error) : ""),
    };

    (void) fwd;
    c->relaying = false;
    c->relay_error = info->error;
    if (info->error == ETIMEDOUT && info->error_side == UDS_RELAY_A)
        snprintf(why, sizeof(why), ": sent nothing for %s (--first-byte-timeout)",
                 cli_format_duration(first_byte_ms(px), dur, sizeof(dur)));
    else if (info->error == ETIMEDOUT)
        snprintf(why, sizeof(why), ": idle for %s (--idle-timeout)",
                 cli_format_duration(px->args->common.idle_ms, dur, sizeof(dur)));
    else if (info->error && info->error_side != UDS_RELAY_NONE)
        snprintf(why, sizeof(why), ": the %s went away (%s)",
                 info->error_side == UDS_RELAY_A ? "client" : "target", strerror(info->error));
    else if (info->error)
        snprintf(why, sizeof(why), ": %s", strerror(info->error));
    if (cli_log_enabled(level))
        cli_log(level, "close", px->listen_text, kv, info->error ? 6 : 5, "%s: closed "
                "connection from %s after %llu bytes from it and %llu to it%s",
                px->listen_text, c->client_text, (unsigned long long) info->bytes_from_a,
                (unsigned long long) info->bytes_from_b, why);
}

/* Whether relaying c to the Unix target it has just reached on fd would loop: the target
 * is this proxy's own listener, or the client is the very process that listens on the
 * target (another proxy whose target is this one). SO_PEERCRED on our end names the
 * process that called listen() on the target. Remembers that process for comes_back(). */
static bool target_loops(struct conn *c, int fd) {
    struct proxy *px = c->px;
    struct uds_peer tp = { .pidfd = -1 };
    time_t started;

    if (!px->target.is_unix || uds_peer_get(fd, 0, &tp) < 0 || tp.pid <= 0)
        return false;
    if (tp.pid == getpid()) {
        /* Our connection now waits in our own backlog: comes_back() need not say it again. */
        pthread_mutex_lock(&px->lock);
        px->self_loops++;
        pthread_mutex_unlock(&px->lock);
        c->loop_pid = tp.pid;
        return true;
    }
    bool known = uds_proc_start_time(tp.pid, &started) == 0;
    pthread_mutex_lock(&px->lock);
    if (tp.pid != px->target_pid) {
        px->target_pid = known ? tp.pid : 0;
        px->target_started = known ? started : 0;
    }
    pthread_mutex_unlock(&px->lock);
    if (tp.pid != c->client_pid)
        return false;
    c->loop_pid = tp.pid;
    return true;
}

/* A TLS client's PROXY header names the TCP client beneath its session (and, in v2, its
 * certificate): the forward's own would name the session's socketpair. Returns 0, or -1
 * (errno). */
static int tls_client_header(struct conn *c) {
    unsigned char hdr[UDS_PROXY_HEADER_MAX + TLS_TLV_MAX];
    int version = c->px->args->send_proxy;

    if (!version || !c->tls_client)
        return 0;
    return uds_forward_set_prefix(c->fwd, hdr, tls_pump_proxy_header(c->tls_client, version,
                                                                     hdr, sizeof(hdr)));
}

static void on_tls_ready(struct tls_pump *pump, int fd, int err, void *data);

/* The target answered on fd: wrap it in TLS (back in on_tls_ready() with its plaintext),
 * or check for a loop and relay. */
static int on_connected(struct uds_forward *fwd, int fd, void *data) {
    struct conn *c = data;
    struct proxy *px = c->px;

    (void) fwd;
    if (tls_proxy_targets(px->tls)) {
        c->tls_target = tls_pump_connect(px->tls, fd, c->client_text, px->target.text,
                                         on_tls_ready, c);
        return c->tls_target ? UDS_FORWARD_LATER : -1;     /* fd closed on failure */
    }
    if (target_loops(c, fd)) {
        (void) close(fd);
        errno = ELOOP;
        return -1;
    }
    if (tls_client_header(c) < 0) {
        int e = errno;
        (void) close(fd);               /* a -1 leaves fd to us */
        errno = e;
        return -1;
    }
    return UDS_FORWARD_RELAY;
}

/* A TLS session is ready (fd, its plaintext) or failed (logged): go on, or drop c. */
static void on_tls_ready(struct tls_pump *pump, int fd, int err, void *data) {
    struct conn *c = data;

    (void) err;
    if (fd < 0) {
        uds_forward_close(c->fwd);
    } else if (pump == c->tls_client) {
        (void) uds_forward_start(c->fwd, fd);
    } else if (tls_client_header(c) < 0) {
        (void) close(fd);
        on_relay_error(c->fwd, errno, c);
        uds_forward_close(c->fwd);
    } else {
        (void) uds_forward_resume(c->fwd, fd);
    }
}

/* ---- admitting ---------------------------------------------------------------------------- */

static void describe_peer(const struct uds_peer *peer, char *buf, size_t size) {
    snprintf(buf, size, "pid %ld uid %lu gid %lu", (long) peer->pid, (unsigned long) peer->uid,
             (unsigned long) peer->gid);
}

/* Whether a Unix client is a connection of ours coming back: from this very process (the
 * target leads back to our listener), or from the process that listens on our target
 * (it would be relayed straight back to it: two proxies pointed at each other). Writes
 * the reason; *ret_quiet when it was already reported as the connection left. The pid
 * could have been reused by now: the process's start time tells. */
static bool comes_back(struct proxy *px, const struct uds_peer *peer, char *buf, size_t size,
                       bool *ret_quiet) {
    time_t started, target_started;
    pid_t target_pid;

    *ret_quiet = false;
    if (peer->pid <= 0)
        return false;
    pthread_mutex_lock(&px->lock);
    if (peer->pid == getpid()) {
        *ret_quiet = px->self_loops > 0;
        if (px->self_loops > 0)
            px->self_loops--;
    }
    target_pid = px->target_pid;
    target_started = px->target_started;
    pthread_mutex_unlock(&px->lock);
    if (peer->pid == getpid()) {
        snprintf(buf, size, "a connection from this proxy itself: TARGET %s leads back to this "
                 "listener (a loop); choose another TARGET", px->target.text);
        return true;
    }
    if (peer->pid != target_pid || uds_proc_start_time(peer->pid, &started) < 0 ||
        started != target_started)
        return false;
    snprintf(buf, size, "it is the process listening on the target %s: relaying it would loop "
             "back to it; check that TARGET does not lead back here", px->target.text);
    return true;
}

static void log_refusal(const struct proxy *px, const struct uds_peer *peer,
                        enum cli_level level, const char *why) {
    char client[CLIENT_TEXT_MAX];
    struct cli_kv kv[] = {
        CLI_KV_NUM("pid", peer->pid),
        CLI_KV_NUM("uid", peer->uid),
        CLI_KV_NUM("gid", peer->gid),
        CLI_KV_STR("reason", why),
    };

    describe_peer(peer, client, sizeof(client));
    cli_log(level, "deny", px->listen_text, kv, 4, "%s: refused %s: %s", px->listen_text,
            client, why);
}

/* A Unix client past the allow-lists (the server's): who it is, and whether it may be
 * relayed: not a loop, within its user's share of the slots. Returns true to go on,
 * false when refused (logged). */
static bool admit_unix_client(struct proxy *px, struct conn *c, const struct uds_peer *peer) {
    const struct cli_listen_opts *o = &px->args->common;
    bool quiet;
    int r;
    char why[sizeof(px->target.text) + 192];

    /* pid 0, uid -1: gone before it could be asked; the relay will see it leave. */
    if (peer->pid == 0 && peer->uid == (uid_t) -1) {
        snprintf(c->client_text, sizeof(c->client_text), "an unknown peer");
        return true;
    }
    describe_peer(peer, c->client_text, sizeof(c->client_text));
    if (comes_back(px, peer, why, sizeof(why), &quiet)) {
        log_refusal(px, peer, quiet ? CLI_LOG_DEBUG : CLI_LOG_WARN, why);
        return false;
    }
    pthread_mutex_lock(&px->lock);
    r = uds_uid_counter_take(px->uids, peer->uid, cli_listen_opts_per_uid(o));
    int e = errno;
    size_t held = uds_uid_counter_get(px->uids, peer->uid);
    pthread_mutex_unlock(&px->lock);
    if (r == 0)
        cli_per_uid_reason(o, peer->uid, held, "connection open", why, sizeof(why));
    if (r <= 0) {
        log_refusal(px, peer, CLI_LOG_WARN, r == 0 ? why : strerror(e));
        return false;
    }
    c->client_pid = peer->pid;
    c->client_uid = peer->uid;
    c->uid_counted = true;
    return true;
}

/* "tcp:1.2.3.4:80", "tcp:[::1]:80" */
static void describe_tcp_client(int fd, char *buf, size_t size) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct uds_addr addr;

    if (getpeername(fd, (struct sockaddr *) &ss, &len) < 0 ||
        uds_addr_from_inet((const struct sockaddr *) &ss, &addr) < 0)
        snprintf(buf, size, "unknown");
    else
        uds_addr_format(&addr, buf, size);
}

/* The client is the forward's from here; with a TLS listener, the target is reached only
 * once the client's certificate has been checked (on_tls_ready() starts the forward with
 * the session's plaintext). */
static void start_client(struct conn *c, int fd) {
    struct proxy *px = c->px;

    if (!px->listen_unix)
        describe_tcp_client(fd, c->client_text, sizeof(c->client_text));
    if (!tls_proxy_listens(px->tls)) {
        (void) uds_forward_start(c->fwd, fd);   /* on failure it has ended, c with it */
        return;
    }
    c->tls_client = tls_pump_accept(px->tls, fd, c->client_text, sizeof(c->client_text),
                                    px->listen_text, on_tls_ready, c);
    if (!c->tls_client)
        uds_forward_close(c->fwd);
}

/* A new client, accepted by the server: check it, take it from the server and hand it to
 * the forwarder, counted at once (on the proxy's loop, so that --max-conns pauses the
 * server at once), to be connected to the target on one of its loops. */
static int on_open(struct uds_conn *uc, void *data) {
    struct proxy *px = data;
    struct conn *c = calloc(1, sizeof(*c));
    int fd;

    if (c)
        *c = (struct conn) { .px = px, .started_ms = cli_now_ms() };
    if (c && px->listen_unix && !admit_unix_client(px, c, uds_conn_peer(uc))) {
        free(c);
        return -1;
    }
    if (!c || !(c->fwd = uds_forward_new(px->fwdr, c))) {
        cli_log(CLI_LOG_WARN, "accept_error", px->listen_text, NULL, 0, "%s: shed a client: %s",
                px->listen_text, strerror(c ? errno : ENOMEM));
        if (c)
            release_uid(c);
        free(c);
        return -1;
    }
    /* Nothing has been read from it yet: the relay reads it from the start. */
    fd = uds_conn_detach(uc);
    if (fd < 0) {
        uds_forward_close(c->fwd);
        return -1;
    }
    start_client(c, fd);
    return 0;
}

static void on_deny(const struct uds_peer *peer, void *data) {
    log_refusal(data, peer, CLI_LOG_WARN, "not in --allow-uid/--allow-gid");
}

static void on_accept_error(int error, void *data) {
    struct proxy *px = data;

    cli_log_accept_error(&px->accept_errors, px->listen_text, error);
}

/* ---- listening ---------------------------------------------------------------------------- */

/* Why binding a TCP listener failed, and the exit code. */
static int tcp_listen_error(const char *text, int err) {
    switch (err) {
    case EADDRINUSE:
        cli_error(text, "stop it or choose another port", "port in use by another program");
        return EX_UNAVAILABLE;
    case EACCES:
    case EPERM:
        cli_error(text, "ports below 1024 need root or CAP_NET_BIND_SERVICE",
                  "permission denied");
        return EX_NOPERM;
    case EADDRNOTAVAIL:
        cli_error(text, "check the host", "not an address of this machine");
        return EX_UNAVAILABLE;
    default:
        return cli_fail(CLI_OP_LISTEN, text, err, NULL);
    }
}

/* The socket a service manager passed for sa (LISTEN_FDS), or a new one on a loopback
 * address unless --public. Returns CLI_CONTINUE, or the exit code. */
static int listen_tcp(struct proxy *px, const struct uds_addr *addr, const char *text) {
    struct uds_tcp_addrs a;
    const struct sockaddr *sa = (const struct sockaddr *) &a.addrs[0];
    int fd, r;

    if (resolve_tcp(addr, text, &a) < 0)
        return EX_USAGE;
    if (!uds_inet_is_loopback(sa) && !px->args->public && !tls_proxy_authenticates(px->tls))
        return cli_usage("proxy", "%s: not a loopback address: anyone who can reach this "
                         "machine could connect; add --public to mean it, or listen on "
                         "tcp:127.0.0.1:PORT or tcp:[::1]:PORT", text);
    r = cli_activation_take_inet(sa, &fd);
    if (r < 0)
        return cli_fail(CLI_OP_LISTEN, text, errno, NULL);
    struct uds_listen_opts lopts = { .backlog = (int) px->args->common.backlog };
    if (r == 0)
        cli_backlog_warn_cap(px->args->common.backlog, text);
    if (r == 0 && uds_listen_tcp(sa, a.lens[0], &lopts, &px->listener) < 0)
        return tcp_listen_error(text, errno);
    /* Closed on failure: we exit, and the service manager keeps its own copy. */
    if (r == 1 && uds_listener_adopt_tcp(fd, &px->listener) < 0) {
        if (errno == EINVAL)
            return cli_usage("proxy", "%s: the socket passed by the service manager is not a "
                             "listening stream socket; a stream socket is needed "
                             "(ListenStream= in a .socket unit)", text);
        return cli_fail(CLI_OP_LISTEN, text, errno, NULL);
    }
    if (r == 1)
        cli_log(CLI_LOG_INFO, "activated", text, NULL, 0, "%s: using the socket passed by the "
                "service manager (LISTEN_FDS)", text);
    /* With the port the kernel chose for :0, for the readiness line. */
    uds_addr_format(&px->listener.addr, px->listen_text, sizeof(px->listen_text));
    tls_proxy_name_listen(px->tls, px->listen_text);
    if (!uds_inet_is_loopback(sa) && !tls_proxy_authenticates(px->tls))
        cli_log(CLI_LOG_WARN, "public", px->listen_text, NULL, 0, "%s: reachable from other "
                "machines (--public); nothing here checks who connects", px->listen_text);
    return CLI_CONTINUE;
}

/* Returns CLI_CONTINUE when listening, else the exit code. */
static int start_listening(struct proxy *px) {
    const struct proxy_args *a = px->args;
    struct uds_addr addr;
    const char *unix_only;
    int code;

    if (uds_addr_parse(a->listen, UDS_ADDR_ALLOW_TCP, &addr) < 0)
        return cli_usage("proxy", "LISTEN '%s' is not an address (%s); e.g. /run/app.sock, "
                         "@name or tcp:127.0.0.1:8080", a->listen, strerror(errno));
    uds_addr_format(&addr, px->listen_text, sizeof(px->listen_text));
    if (addr.kind == UDS_ADDR_TCP) {
        unix_only = cli_listen_opts_unix_only(&a->common);
        if (unix_only)
            return cli_usage("proxy", "%s is for a Unix listener; %s has no file permissions "
                             "nor peer credentials", unix_only, px->listen_text);
        return listen_tcp(px, &addr, px->listen_text);
    }
    if (a->public)
        return cli_usage("proxy", "--public is for a TCP listener; %s is a Unix socket",
                         px->listen_text);
    code = cli_listen_unix("proxy", &a->common, a->listen, &addr, UDS_STREAM, NULL,
                           &px->listener, px->listen_text, sizeof(px->listen_text));
    if (code != CLI_CONTINUE)
        return code;
    px->listen_unix = true;
    px->abstract = px->listener.addr.kind == UDS_ADDR_ABSTRACT;
    return CLI_CONTINUE;
}

/* ---- a TARGET that is LISTEN itself ------------------------------------------------------- */

/* Refused before the first client: one connection through such a proxy would come back
 * to it, again and again, until every slot and fd is taken. */
static int check_not_looping(const struct proxy *px) {
    const struct target *t = &px->target;
    const char *which = t->addr.kind == UDS_ADDR_TCP ? "the same port" :
                        t->addr.kind == UDS_ADDR_ABSTRACT ? "the same abstract name" :
                        "the same socket file";

    if (uds_listener_reached_by(&px->listener, &t->addr, t->is_unix ? NULL : &t->tcp) != 1)
        return CLI_CONTINUE;
    return cli_usage("proxy", "%s: TARGET %s is this proxy's own listener (%s): every client "
                     "would be relayed back to the proxy itself; choose another TARGET",
                     px->listen_text, px->target.text, which);
}

/* ---- signals and stopping ----------------------------------------------------------------- */

static void stop_loop(struct proxy *px) {
    px->done = true;
    uds_loop_stop(px->loop);
}

static void check_drained(struct proxy *px) {
    if (px->stopping && conns(px) == 0)
        stop_loop(px);
}

static void on_drain_timeout(void *data) {
    struct proxy *px = data;

    cli_log_drain_timeout(px->listen_text, conns(px), px->args->common.drain_ms);
    uds_forwarder_close_all(px->fwdr);
    stop_loop(px);
}

/* --exit-idle-time, as systemd-socket-proxyd has it: a proxy started by socket activation
 * goes away once unused, and the service manager, which keeps the listening socket,
 * starts it again for the next client (waiting meanwhile in the backlog). */
static void on_idle(void *data) {
    struct proxy *px = data;
    char dur[32];
    struct cli_kv kv[] = { CLI_KV_NUM("idle_ms", px->args->exit_idle_ms) };

    cli_notify("STOPPING=1");
    cli_log(CLI_LOG_INFO, "idle_exit", px->listen_text, kv, 1, "%s: no connection for %s "
            "(--exit-idle-time): exiting", px->listen_text,
            cli_format_duration(px->args->exit_idle_ms, dur, sizeof(dur)));
    stop_loop(px);
}

/* The clock runs while no connection is open, from the start on (systemd-socket-proxyd
 * starts it only when a connection ends): a proxy started for a client that gave up
 * before it was accepted goes away too. */
static void update_idle_timer(struct proxy *px) {
    bool idle = conns(px) == 0 && !px->stopping && !px->done;

    if (px->args->exit_idle_ms == 0 || idle == uds_timer_armed(&px->idle_timer))
        return;
    if (!idle) {
        uds_timer_cancel(&px->idle_timer);
        return;
    }
    if (uds_timer_arm(&px->idle_timer, px->loop, (uint64_t) px->args->exit_idle_ms, on_idle,
                      px) < 0)
        cli_log(CLI_LOG_WARN, "idle_error", px->listen_text, NULL, 0, "%s: cannot time "
                "--exit-idle-time (%s); the proxy stays", px->listen_text, strerror(errno));
}

/* SIGHUP with a tls: side re-reads the certificate and key; without one it stops. */
static bool reload_tls(void *data) {
    struct proxy *px = data;
    return px->tls && tls_proxy_reload(px->tls);
}

static size_t stop_count(void *data) {
    return conns(data);
}

static void stop_drain(void *data) {
    struct proxy *px = data;

    px->stopping = true;
    update_idle_timer(px);
    /* The listener closes (its socket file removed, if it made it) and clients in its
     * backlog get a reset. The server holds no connection, each having left it at
     * once: a graceful stop would only accept the backlog, not relayed when stopping. */
    uds_server_stop(px->server, false);
    if (conns(px) == 0)
        stop_loop(px);
    else if (uds_timer_arm(&px->drain_timer, px->loop, (uint64_t) px->args->common.drain_ms,
                           on_drain_timeout, px) < 0)
        on_drain_timeout(px);
}

static void stop_now(void *data) {
    struct proxy *px = data;

    uds_forwarder_close_all(px->fwdr);
    stop_loop(px);
}

/* ---- options ------------------------------------------------------------------------------ */

#define P struct proxy_args
static const struct cli_command proxy_cmd = {
    .name = "proxy",
    .synopsis = "[OPTIONS] LISTEN TARGET",
    .help_col = 28,
    .operands = { .names = "LISTEN and TARGET", .min = 2, .max = 2,
                  .example = "uds proxy tcp:127.0.0.1:6380 /run/redis.sock",
                  .at = { CLI_OPERAND(P, listen), CLI_OPERAND(P, target) } },
    .intro =
        "Accept clients on LISTEN and relay each one, both ways, to its own connection to\n"
        "TARGET. Each side is a Unix socket (a path, @abstract, unix:PATH or unix:@name),\n"
        "tcp:HOST:PORT (tcp:[IPv6]:PORT) or tls:HOST:PORT (TCP with TLS, both ends\n"
        "authenticated): a Unix-socket service exposed on TCP, a TCP service on a Unix\n"
        "socket, a Unix socket reached from another machine, or a Unix socket re-exposed\n"
        "at another path with other permissions. Each connection is relayed on one of\n"
        "--threads worker threads; an end of input on one side is passed on as a\n"
        "half-close on the other; a side that does not read slows its peer; bulk data\n"
        "moves with splice() (zero-copy).\n"
        "Between two Unix sockets, fds passed with SCM_RIGHTS are forwarded with their\n"
        "bytes (then bulk data is copied: --no-pass-fds trades them for splice()).\n"
        "With --type dgram, LISTEN and TARGET are Unix datagram sockets: each sender gets a\n"
        "socket of its own to TARGET, so that the answers go back to it alone, whole, with\n"
        "the fds it passed forwarded; a sender quiet for --idle-timeout (default 30) is\n"
        "forgotten, at most --max-conns are remembered at once.\n",
    .outro =
        "Once ready it logs 'uds: listening on LISTEN; forwarding to TARGET' (with the port\n"
        "the kernel chose for tcp:HOST:0). A client whose target is down, refuses or\n"
        "times out is closed and logged (with --connect-retry, once that time is up\n"
        "without the target appearing); the proxy serves on. The target sees every\n"
        "client as this proxy: a Unix server's SO_PEERCRED names the proxy's pid and uid\n"
        "(a 'uds serve' target needs --max-conns-per-uid equal to its --max-conns). A\n"
        "TARGET that is LISTEN itself, by any name, is refused; a loop that forms later\n"
        "(two proxies pointed at each other) is cut and logged.\n"
        "SIGTERM or SIGINT stops gracefully: no new clients, open connections finish (up\n"
        "to --drain-timeout); a second signal stops at once. With a tls: side, SIGHUP\n"
        "reads --cert, --key and --ca again (open connections go on).\n"
        "\n"
        "Socket activation: a socket passed by systemd (LISTEN_FDS, as systemd-socket-proxyd\n"
        "gets it) that is bound to LISTEN, a Unix socket at that path or name or a TCP\n"
        "socket on that host and port, is used instead of binding one; its file, mode and\n"
        "owner are then the service manager's to make and remove.\n"
        "\n"
        "Exit status: 0 stopped by a signal or by --exit-idle-time, 1 failure (or a\n"
        "second signal cut off open connections), 64 usage error (also: TARGET is LISTEN\n"
        "itself), 69 LISTEN is held by a running server, 73 cannot create (the path\n"
        "exists and is not a socket, or its directory is missing), 77 permission denied,\n"
        "78 a TLS file cannot be used.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Unix listener (made safely, as by 'uds serve': a stale socket is replaced, a "
                    "live\nserver's or any other file is never touched):"),
        CLI_INCLUDE(cli_listen_access_opts, P, common, struct cli_listen_opts),
        CLI_SECTION("TCP listener (binds only the host given):"),
        { "--public", 0, NULL, CLI_FLAG(P, public),
          .help = "allow a host that is not loopback (127.0.0.0/8, ::1)" },
        CLI_SECTION("Target:"),
        CLI_OPT_TYPE(P, type, "stream (default) or dgram: datagrams between\n"
                     "two Unix datagram sockets"),
        { "--connect-timeout", 0, "SECONDS", CLI_DURATION(P, connect_ms, 1),
          CLI_SEEN(P, connect_ms_given),
          .help = "give up connecting to TARGET for a client after\n"
                  "this long and close that client (default 5)" },
        { "--connect-retry", 0, "SECONDS", CLI_DURATION(P, retry_ms, 0), .example = "10",
          .help = "hold a client while TARGET is missing or refuses,\n"
                  "trying again (after 50 ms, doubling up to 1 s) for\n"
                  "up to SECONDS (default 0: close it at once)" },
        { "--send-proxy", 0, NULL, CLI_SET(P, send_proxy, 1),
          .help = "begin each connection to TARGET with a PROXY protocol\n"
                  "v1 header (text) naming the client's address" },
        { "--send-proxy-v2", 0, NULL, CLI_SET(P, send_proxy, 2),
          .help = "the same with a PROXY protocol v2 header (binary)" },
        CLI_SECTION("TLS (LISTEN or TARGET tls:HOST:PORT; peers verified both ways):"),
        CLI_INCLUDE(tls_proxy_opts, P, tls, struct tls_opts),
        CLI_SECTION("Limits:"),
        CLI_INCLUDE(cli_listen_limit_opts, P, common, struct cli_listen_opts),
        { "--threads", 0, "N", CLI_LONG(P, common.threads, 1, UDS_SERVER_THREADS_MAX),
          CLI_SEEN(P, common.threads_given), .example = "4",
          .help = "relay on N worker threads, each client on one of\n"
                  "them, handed out evenly (default: the CPUs this\n"
                  "process may run on); 1: one thread. A tls: side\n"
                  "or --busy-poll always runs on one" },
        { "--exit-idle-time", 0, "SECONDS", CLI_DURATION(P, exit_idle_ms, 1), .example = "30",
          .help = "exit (status 0) once no connection has been open\n"
                  "for SECONDS, from the start on: for a proxy started\n"
                  "by socket activation (default: never)" },
        { "--buffer-size", 0, "BYTES", CLI_SIZE(P, buffer_size, 1024, 64L << 20),
          .example = "256K", .help = "bytes in flight per direction of a connection, K/M\n"
                                     "suffixes (default 256K)" },
        { "--no-splice", 0, NULL, CLI_FLAG(P, no_splice),
          .help = "always copy through a buffer, never splice()" },
        { "--no-pass-fds", 0, NULL, CLI_FLAG(P, no_pass_fds),
          .help = "between two Unix sockets, close the fds a side\n"
                  "passes instead of forwarding them, so that bulk\n"
                  "data can move with splice()" },
        { "--no-batch", 0, NULL, CLI_FLAG(P, no_batch),
          .help = "one send() per write, instead of the writes of a\n"
                  "wakeup together in one io_uring submission" },
        { "--busy-poll", 0, "USEC", CLI_LONG(P, busy_poll_us, 0, 1000000),
          .what = "a number of microseconds", .example = "50",
          .help = "after activity, poll without sleeping for up to USEC\n"
                  "microseconds before waiting again: lower latency\n"
                  "for a CPU kept busy while traffic flows (default 0)" },
        CLI_RUN_AS_SECTION(P),
        CLI_LISTEN_LOG_SECTION(P),
        CLI_END,
    },
};
#undef P

/* ---- the command -------------------------------------------------------------------------- */

static void announce_ready(struct proxy *px) {
    const struct proxy_args *a = px->args;
    struct cli_kv kv[] = {
        CLI_KV_STR("target", px->target.text),
        CLI_KV_NUM("pid", getpid()),
    };

    cli_warn_open_access(&a->common, px->listen_text, px->abstract);
    if (px->target.is_unix)
        cli_log(CLI_LOG_WARN, "identity", px->target.text, NULL, 0, "%s: %s reach it as this "
                "proxy (pid %ld uid %lu gid %lu): its SO_PEERCRED checks see the proxy, not "
                "them%s", px->target.text, px->listen_unix ? "clients" : "TCP clients",
                (long) getpid(), (unsigned long) geteuid(), (unsigned long) getegid(),
                px->listen_unix ? "; restrict clients here with --allow-uid/--allow-gid" : "");
    cli_log(CLI_LOG_INFO, "listening", px->listen_text, kv, 2, "listening on %s; forwarding "
            "to %s", px->listen_text, px->target.text);
    cli_signal_ready(&a->common, px->listen_text);
}

static uint64_t now_us(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* --busy-poll (HAProxy's busy-polling): after a wakeup that did work, keep polling without
 * sleeping for a while. The next message then finds the proxy running: its sender wakes
 * no one, and the proxy does not pay for going to sleep and being woken, which on a VM
 * includes waking an idle virtual CPU. The price is a CPU kept busy while traffic flows. */
static int run_loop(struct proxy *px) {
    uint64_t spin = (uint64_t) px->args->busy_poll_us, last = 0;

    if (spin == 0)
        return uds_loop_run(px->loop);
    while (!px->done) {
        int n = uds_loop_run_once(px->loop, now_us() - last < spin ? 0 : -1);
        if (n < 0)
            return -1;
        if (n > 0)
            last = now_us();
    }
    return 0;
}

static struct uds_dialer_opts dial_opts(const struct proxy *px) {
    return (struct uds_dialer_opts) {
        .timeout_ms = px->args->connect_ms,
        .tcp = px->target.is_unix ? NULL : &px->target.tcp,
        .wait_ms = px->args->retry_ms,
    };
}

/* A TARGET that can never be reached (a path too long for any directory to help) is
 * reported before the listener exists: a dialer checks it, as the forwarder's will. */
static int check_target(struct proxy *px) {
    struct uds_dialer_opts dopts = dial_opts(px);
    struct uds_dialer *dialer = uds_dialer_new(px->loop, &px->target.addr, &dopts);

    if (!dialer)
        return cli_fail(CLI_OP_CONNECT, px->args->target, errno, NULL);
    uds_dialer_free(dialer);
    return CLI_CONTINUE;
}

/* --threads; a TLS side (its sessions and SIGHUP reload live on the proxy's loop) and
 * --busy-poll (one spinning loop is the point) run on one. */
static unsigned proxy_threads(const struct proxy *px) {
    if (tls_proxy_listens(px->tls) || tls_proxy_targets(px->tls) || px->args->busy_poll_us > 0)
        return 1;
    return cli_listen_opts_threads(&px->args->common);
}

/* Between two Unix sockets the fds a side passes (SCM_RIGHTS) go on with their bytes, as if
 * the client were connected to the target itself: programs such as tmux rely on it. That
 * costs splice(), which would drop them, so --no-pass-fds trades them for bulk speed. */
static bool passes_fds(const struct proxy *px) {
    return px->listen_unix && px->target.is_unix && !px->tls && !px->args->no_pass_fds;
}

/* The forwarder, with its worker threads if any. Returns 0, or -1 (errno). */
static int start_forwarder(struct proxy *px) {
    const struct proxy_args *a = px->args;
    const struct uds_forwarder_opts opts = {
        .dial = dial_opts(px),
        .relay = {
            .buffer_size = a->buffer_size,
            .idle_timeout_ms = a->common.idle_ms,
            .first_byte_timeout_ms = first_byte_ms(px),
            .flags = (a->no_splice ? UDS_RELAY_NO_SPLICE : 0u) |
                     (a->no_batch ? UDS_RELAY_NO_BATCH : 0u),
        },
        .threads = proxy_threads(px),
        .flags = passes_fds(px) ? UDS_FORWARDER_PASS_FDS : 0u,
        .proxy_header = a->send_proxy,
        .thread_name = "udsp",
    };
    const struct uds_forwarder_callbacks cbs = {
        .connected = on_connected,
        .connect_error = on_connect_error,
        .relay_error = on_relay_error,
        .client_gone = on_client_gone,
        .silent = on_silent,
        .relayed = on_relayed,
        .closed = on_relay_close,
        .freed = on_freed,
        .count = on_count,
    };

    px->fwdr = uds_forwarder_new(px->loop, &px->target.addr, &opts, &cbs, px);
    return px->fwdr ? 0 : -1;
}

static int run(struct proxy *px, int sigfd) {
    const struct proxy_args *a = px->args;
    struct uds_server_opts sopts = cli_listen_opts_server(&a->common, &px->allow);
    struct uds_server_callbacks cbs = {
        .on_open = on_open,
        .on_deny = on_deny,
        .on_accept_error = on_accept_error,
    };

    if (start_forwarder(px) < 0)
        return cli_fail(CLI_OP_ANY, px->listen_text, errno, NULL);
    px->server = uds_server_new(px->loop, &px->listener, &sopts, &cbs, px);
    px->stop = (struct cli_stop) {
        .address = px->listen_text, .drain_ms = a->common.drain_ms, .count = stop_count,
        .drain = stop_drain, .now = stop_now, .on_hup = reload_tls, .data = px,
    };
    if (!px->server || cli_stop_watch(&px->stop, px->loop, sigfd) < 0)
        return cli_fail(CLI_OP_ANY, px->listen_text, errno, NULL);
    announce_ready(px);
    update_idle_timer(px);
    if (run_loop(px) < 0)
        return cli_fail(CLI_OP_ANY, px->listen_text, errno, NULL);
    cli_log(CLI_LOG_INFO, "stopped", px->listen_text, NULL, 0, "%s: stopped", px->listen_text);
    return px->stop.cut_off ? CLI_EXIT_FAILURE : EX_OK;
}

/* TLS sides: their contexts, and LISTEN and TARGET as the TCP addresses beneath. Needs the
 * loop, made here first. */
static int start_tls(struct proxy *px, struct proxy_args *args) {
    px->loop = uds_loop_new();
    if (!px->loop)
        return cli_fail(CLI_OP_ANY, args->listen, errno, NULL);
    return tls_proxy_new(&args->tls, &args->listen, &args->target, px->loop, &px->tls);
}

/* --type dgram: what has a meaning without connections goes to proxy_dgram.c, the rest is
 * refused. Returns the exit code. */
static int run_dgram(const struct proxy_args *a) {
    const char *which = a->public ? "--public" : a->send_proxy == 1 ? "--send-proxy" :
                        a->send_proxy ? "--send-proxy-v2" : a->retry_ms ? "--connect-retry" :
                        a->exit_idle_ms ? "--exit-idle-time" : a->no_splice ? "--no-splice" :
                        a->no_pass_fds ? "--no-pass-fds" : a->no_batch ? "--no-batch" :
                        a->busy_poll_us ? "--busy-poll" :
                        a->connect_ms_given ? "--connect-timeout" : NULL;
    const struct proxy_dgram_args d = {
        .listen = a->listen, .target = a->target, .common = &a->common,
        .run_as = &a->run_as, .tls = &a->tls, .max_size = a->buffer_size,
    };

    if (a->type == UDS_SEQPACKET)
        return cli_usage("proxy", "--type seqpacket: the proxy relays stream (the default) or "
                         "dgram sockets");
    if (which)
        return cli_usage("proxy", "%s needs connections: not with --type dgram", which);
    return proxy_dgram_run(&d);
}

/* Everything up to the loop; returns CLI_CONTINUE, or the exit code. */
static int prepare(struct proxy *px, struct proxy_args *args, int argc, char **argv,
                   int *ret_sigfd) {
    struct cli_parsed p;
    int code = cli_parse(&proxy_cmd, argc, argv, args, &p);

    if (code == CLI_CONTINUE)
        code = cli_listen_opts_check_per_uid(&args->common, "proxy");
    if (code == CLI_CONTINUE && args->type != UDS_STREAM)
        return run_dgram(args);
    if (code != CLI_CONTINUE)
        return code;
    cli_listen_opts_log_setup(&args->common);
    px->allow = cli_listen_opts_allow(&args->common);
    code = start_tls(px, args);
    if (code == CLI_CONTINUE)
        code = setup_target(px);
    if (code == CLI_CONTINUE)
        code = check_target(px);
    if (code != CLI_CONTINUE)
        return code;
    /* Before the socket exists, so a stop signal can never leave it behind. */
    *ret_sigfd = cli_signalfd(false);
    if (*ret_sigfd < 0)
        return cli_fail(CLI_OP_ANY, args->listen, errno, NULL);
    /* Two fds a connection: the client's and the target's; a TLS side adds its
     * socketpair's two. */
    cli_raise_nofile(&args->common, 2 + (tls_proxy_listens(px->tls) ? 2 : 0) +
                     (tls_proxy_targets(px->tls) ? 2 : 0), FD_MARGIN);
    code = cli_run_as_check(&args->run_as);
    if (code == CLI_CONTINUE)
        code = start_listening(px);
    if (code == CLI_CONTINUE)
        code = check_not_looping(px);
    if (code == CLI_CONTINUE)
        code = cli_run_as_drop(&args->run_as, &px->listener, px->listen_text);
    if (code == CLI_CONTINUE && px->listen_unix && !(px->uids = uds_uid_counter_new()))
        code = cli_fail(CLI_OP_ANY, px->listen_text, errno, NULL);
    return code;
}

int cmd_proxy(int argc, char **argv) {
    struct proxy_args args = {
        .connect_ms = 5000,
    };
    struct proxy px = { .args = &args, .lock = PTHREAD_MUTEX_INITIALIZER };
    int code, sigfd = -1;

    cli_listen_opts_init(&args.common);
    uds_listener_init(&px.listener);
    code = prepare(&px, &args, argc, argv, &sigfd);
    if (code == CLI_CONTINUE)
        code = run(&px, sigfd);
    uds_timer_cancel(&px.drain_timer);
    uds_forwarder_free(px.fwdr);       /* every connection closed, the workers joined */
    uds_timer_cancel(&px.idle_timer);
    tls_proxy_flush(px.tls, args.common.drain_ms);
    tls_proxy_free(px.tls);
    uds_server_free(px.server);         /* and its listener */
    (void) uds_unlisten(&px.listener);  /* when no server took it over */
    cli_signalfd_close(sigfd, px.loop);
    uds_uid_counter_free(px.uids);
    cli_listen_opts_done(&args.common);
    return code;
}
