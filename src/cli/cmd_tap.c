/* SPDX-License-Identifier: MIT */
/*
 * cmd_tap.c — `uds tap ADDRESS`: stand in front of a live server (uds_swap_in(), with
 * uds_swap_guard()'s watchdog), accept its clients (uds_server, each detached at once),
 * connect each to the real server under its hidden name (as the client's own user when run
 * as root: uds_connect_as()), relay (uds_relay, forwarding passed fds, its observer showing
 * each chunk), print what flows (tap_print.c) and write it as pcapng (uds_capture_open());
 * on SIGINT/SIGTERM put the server back and finish the connections held. A datagram
 * server's senders are tap_dgram.c's. `uds tap --listen NEW TARGET` does the same at a new
 * address, without a swap. No byte of a connection is read or written here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "listen_opts.h"
#include "options.h"
#include "tap.h"

#define FLUSH_MS 200            /* a capture file is at most this far behind */
#define GRACE_MS 250            /* after the swap back: clients that found the tap's socket
                                 * just before it are still accepted */
#define FDS_SHOWN 16
#define COMMENT_MAX 512

struct tap_args {
    const char *listen;         /* --listen NEW, or NULL: swap in at the operand */
    const char *address;        /* ADDRESS (swap) or TARGET (--listen) */
    bool hex;
    bool json;
    bool quiet;
    size_t snaplen;
    const char *write;          /* -w FILE */
    long port;                  /* --port, 0: from the socket's name */
    int drain_ms;
    int connect_ms;
    enum uds_socket_type type;  /* --listen: the sockets' type */
};

struct conn;

struct tap {
    const struct tap_args *args;
    struct uds_loop *loop;
    struct uds_relay_group *relays;
    struct uds_dialer *dialer;      /* a TCP target */
    struct tap_printer printer;
    bool print;
    struct uds_capture *cap;        /* -w, NULL: none (or closed after a failure) */
    struct uds_timer flush_timer;
    uint16_t server_port;
    /* where clients come in */
    struct uds_swap swap;
    struct uds_listener listener;   /* --listen, until the server takes it */
    struct uds_server *server;      /* accepts (stream, seqpacket) on a copy of swap.fd or
                                     * on the listener */
    struct tap_dgram *dgram;        /* a datagram server's senders */
    uint64_t dgram_dropped;         /* by a tap_dgram freed already, at the stop */
    bool listening;                 /* until close_listener() */
    bool listen_unix;
    char listen_text[UDS_PATH_MAX + 16];
    /* where they go */
    struct uds_addr target;
    bool target_unix;
    struct uds_tcp_addrs tcp;
    enum uds_socket_type type;
    char target_text[UDS_PATH_MAX + 16];
    bool as_client;                 /* root: connect with each client's ids */
    /* connections */
    struct conn *conns;
    size_t n_conns;
    unsigned next_id;
    /* stopping */
    unsigned signals;
    bool stopping;
    bool cut_off;
    bool failed;                    /* the capture could not be written */
    struct uds_timer stop_timer;    /* output failed: stop on the loop's next turn */
    struct uds_timer grace_timer, drain_timer;
};

struct conn {
    struct tap *tap;
    struct conn *next, **pprev;
    struct tap_client client;
    struct uds_peer peer;
    int fd;                     /* the client, until the relay has it */
    struct uds_dial *dial;
    struct uds_relay *relay;
    struct uds_pcapng_flow flow;
    bool ended[2];              /* a FIN was written each way (enum uds_pcapng_dir) */
    bool commented;             /* the client's identity went into a packet comment */
};

static uint64_t now_us(void) {
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
}

/* ---- stopping -------------------------------------------------------------------------------- */

static void conn_free(struct conn *c);

static void check_done(struct tap *t) {
    if (t->stopping && t->n_conns == 0 && !t->listening)
        uds_loop_stop(t->loop);
}

static void close_all(struct tap *t) {
    while (t->conns)
        conn_free(t->conns);
}

static void stop_now(struct tap *t) {
    t->stopping = true;
    if (t->n_conns > 0)
        t->cut_off = true;
    close_all(t);
    uds_loop_stop(t->loop);
}

static void begin_stop(struct tap *t, const char *signame);

static void on_stop_soon(void *data) {
    struct tap *t = data;

    if (!t->stopping)
        begin_stop(t, "a capture error");
}

/* Output that cannot be written (a reader of stdout or of -w - that left, a full disk) stops
 * the tap, which puts the server back: watching blind helps nobody. From the loop's next
 * turn, not from inside a relay's observer, which may not end its relay. */
static void output_failed(struct tap *t, const char *what, const char *why) {
    if (t->failed)
        return;
    t->failed = true;
    t->print = false;
    (void) uds_capture_close(t->cap);
    t->cap = NULL;
    cli_error(what, "stopping; the server is put back", "cannot write %s", why);
    if (uds_timer_arm(&t->stop_timer, t->loop, 0, on_stop_soon, t) < 0) {
        t->cut_off = true;
        uds_loop_stop(t->loop);     /* the end of cmd_tap() closes everything */
    }
}

static void capture_failed(struct tap *t, int err) {
    char why[160];

    snprintf(why, sizeof(why), "the capture: %s", strerror(err));
    output_failed(t, strcmp(t->args->write, "-") == 0 ? "stdout" : t->args->write, why);
}

static void on_flush(void *data) {
    struct tap *t = data;

    if (t->cap && uds_capture_flush(t->cap) < 0)
        capture_failed(t, errno);
}

/* After a block was printed, or packets went into the capture's buffer (r: what the
 * capture returned): a timer writes them if nothing else does soon. */
static void captured(struct tap *t, int r) {
    if (t->print && ferror(t->printer.out)) {
        output_failed(t, "stdout", "what is shown (has its reader gone?)");
        return;
    }
    if (r < 0) {
        capture_failed(t, errno);
        return;
    }
    if (!uds_timer_armed(&t->flush_timer) && uds_capture_pending(t->cap))
        (void) uds_timer_arm(&t->flush_timer, t->loop, FLUSH_MS, on_flush, t);
}

/* ---- what flows ------------------------------------------------------------------------------ */

/* "pid 4242 uid 1000 gid 1000 comm curl", for the first packet of a connection. */
static const char *identity_comment(struct conn *c, char *buf, size_t size) {
    const struct tap_client *cl = &c->client;
    const struct tap *t = c->tap;
    const char *server = t->args->listen ? t->target_text : t->listen_text;

    if (c->commented)
        return NULL;
    c->commented = true;
    size_t used = 0;
    if (cl->has_peer)
        cli_append(buf, size, &used, "uds tap #%u: client pid %ld uid %lu gid %lu comm %s; "
                   "server %s", cl->id, (long) cl->pid, (unsigned long) cl->uid,
                   (unsigned long) cl->gid, cl->command, server);
    else
        cli_append(buf, size, &used, "uds tap #%u: client %s; server %s", cl->id, cl->address,
                   server);
    return buf;
}

/* What each passed fd is, from /proc/self/fd (the relay's copies, valid during the call). */
static size_t describe_fds(const int *fds, size_t n, struct tap_fd *out) {
    size_t shown = n < FDS_SHOWN ? n : FDS_SHOWN;

    for (size_t i = 0; i < shown; i++) {
        char link[32];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fds[i]);
        ssize_t len = readlink(link, out[i].what, sizeof(out[i].what) - 1);
        if (len < 0)
            snprintf(out[i].what, sizeof(out[i].what), "unknown (%s)", strerror(errno));
        else
            out[i].what[len] = '\0';
    }
    return shown;
}

static void fds_comment(const struct tap_fd *fds, size_t n, size_t total, char *buf,
                        size_t size) {
    size_t used = 0;

    cli_append(buf, size, &used, "passed %zu fd%s:", total, total == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        cli_append(buf, size, &used, " %s", fds[i].what);
}

static void show_data(struct conn *c, enum uds_pcapng_dir dir,
                      const struct uds_relay_chunk *ch) {
    struct tap *t = c->tap;
    struct tap_fd fds[FDS_SHOWN];
    size_t n_fds = describe_fds(ch->fds, ch->n_fds, fds);
    char who[COMMENT_MAX], passed[COMMENT_MAX];
    const char *comment = identity_comment(c, who, sizeof(who));

    if (t->print)
        tap_print_data(&t->printer, &c->client, dir, ch->data, ch->len, ch->full_len,
                       ch->message, fds, n_fds);
    if (!t->cap) {
        captured(t, 0);
        return;
    }
    if (ch->n_fds > 0) {
        fds_comment(fds, n_fds, ch->n_fds, passed, sizeof(passed));
        if (comment) {
            size_t used = strlen(who);
            cli_append(who, sizeof(who), &used, "; %s", passed);
        } else {
            comment = passed;
        }
    }
    captured(t, uds_capture_data(t->cap, &c->flow, dir, ch->data, ch->len, now_us(), comment));
}

static void on_chunk(struct uds_relay *relay, const struct uds_relay_chunk *ch, void *data) {
    struct conn *c = data;
    struct tap *t = c->tap;
    enum uds_pcapng_dir dir = ch->from == UDS_RELAY_A ? UDS_PCAPNG_TO_SERVER
                                                      : UDS_PCAPNG_TO_CLIENT;

    (void) relay;
    if (!ch->end) {
        show_data(c, dir, ch);
        return;
    }
    if (t->print)
        tap_print_end(&t->printer, &c->client, dir);
    if (!c->ended[dir]) {
        c->ended[dir] = true;
        captured(t, t->cap ? uds_capture_fin(t->cap, &c->flow, dir, now_us()) : 0);
    }
}

static void describe_end(const struct uds_relay_info *info, char *buf, size_t size) {
    if (!info->error)
        buf[0] = '\0';
    else if (info->error_side == UDS_RELAY_A)
        snprintf(buf, size, "the client went away (%s)", strerror(info->error));
    else if (info->error_side == UDS_RELAY_B)
        snprintf(buf, size, "the server went away (%s)", strerror(info->error));
    else
        snprintf(buf, size, "%s", strerror(info->error));
}

static void on_relay_close(struct uds_relay *relay, const struct uds_relay_info *info,
                           void *data) {
    struct conn *c = data;
    struct tap *t = c->tap;
    char why[160];

    (void) relay;
    c->relay = NULL;
    describe_end(info, why, sizeof(why));
    if (t->print)
        tap_print_close(&t->printer, &c->client, info->bytes_from_a, info->bytes_from_b,
                        why[0] ? why : NULL);
    if (info->error && !c->ended[0] && !c->ended[1]) {
        enum uds_pcapng_dir from = info->error_side == UDS_RELAY_B ? UDS_PCAPNG_TO_CLIENT
                                                                   : UDS_PCAPNG_TO_SERVER;
        captured(t, t->cap ? uds_capture_reset(t->cap, &c->flow, from, now_us()) : 0);
    } else {
        for (int d = UDS_PCAPNG_TO_SERVER; d <= UDS_PCAPNG_TO_CLIENT; d++)
            if (!c->ended[d])
                captured(t, t->cap ? uds_capture_fin(t->cap, &c->flow, (enum uds_pcapng_dir) d,
                                                     now_us()) : 0);
    }
    c->ended[0] = c->ended[1] = true;
    conn_free(c);
}

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_free(struct conn *c) {
    struct tap *t = c->tap;

    uds_dial_cancel(c->dial);
    if (c->fd >= 0)
        (void) close(c->fd);    /* the client learns of it by the end of its stream */
    if (c->relay)
        uds_relay_free(c->relay);
    uds_peer_done(&c->peer);
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    t->n_conns--;
    free(c);
    check_done(t);
}

static void fail_conn(struct conn *c, int err) {
    struct tap *t = c->tap;
    char why[160];

    snprintf(why, sizeof(why), "cannot reach the server: %s", strerror(err));
    if (t->print)
        tap_print_close(&t->printer, &c->client, 0, 0, why);
    cli_log(CLI_LOG_WARN, "connect_error", t->target_text, NULL, 0, "%s: client #%u closed: "
            "%s", t->target_text, c->client.id, strerror(err));
    conn_free(c);
}

static void start_relay(struct conn *c, int server_fd) {
    struct tap *t = c->tap;
    char who[COMMENT_MAX];
    struct uds_relay_args args = {
        .fd_a_in = c->fd,
        .fd_a_out = c->fd,
        .fd_b = server_fd,
        .flags = UDS_RELAY_PASS_FDS,
        .observe = on_chunk,
    };

    c->fd = -1;     /* the relay's from here, on failure too */
    c->relay = uds_relay_new2(t->relays, &args, on_relay_close, c);
    if (!c->relay) {
        fail_conn(c, errno);
        return;
    }
    if (t->cap && !c->flow.udp)
        captured(t, uds_capture_begin(t->cap, &c->flow, now_us(),
                                      identity_comment(c, who, sizeof(who))));
}

static void on_dialed(int fd, int error, void *data) {
    struct conn *c = data;

    c->dial = NULL;
    if (fd < 0)
        fail_conn(c, error);
    else
        start_relay(c, fd);
}

/* To the server: a Unix one at once (as the client's user when run as root), a TCP one
 * through the dialer. */
static void connect_server(struct conn *c) {
    struct tap *t = c->tap;
    const struct uds_connect_opts opts = { .type = t->type, .timeout_ms = t->args->connect_ms };
    int fd;

    if (!t->target_unix) {
        fd = uds_dial(t->dialer, on_dialed, c, &c->dial);
        if (fd < 0 && errno == EINPROGRESS)
            return;
    } else if (t->as_client && c->client.has_peer) {
        fd = uds_connect_as(&t->target, &opts, c->peer.uid, c->peer.gid, c->peer.groups,
                            c->peer.n_groups);
    } else {
        fd = uds_connect_addr(&t->target, &opts);
    }
    if (fd < 0)
        fail_conn(c, errno);
    else
        start_relay(c, fd);
}

static void identify(struct conn *c) {
    struct tap_client *cl = &c->client;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct uds_addr addr;

    if (c->tap->listen_unix) {
        struct uds_procinfo info;
        if (uds_peer_get(c->fd, UDS_PEER_GROUPS, &c->peer) < 0)
            return;
        cl->has_peer = true;
        cl->pid = c->peer.pid;
        cl->uid = c->peer.uid;
        cl->gid = c->peer.gid;
        if (c->peer.pid > 0 && uds_procinfo_get(c->peer.pid, &info) == 0)
            memcpy(cl->command, info.command, sizeof(cl->command));
        return;
    }
    if (getpeername(c->fd, (struct sockaddr *) &ss, &len) == 0 &&
        uds_addr_from_inet((struct sockaddr *) &ss, &addr) == 0)
        uds_addr_format(&addr, cl->address, sizeof(cl->address));
}

/* ---- accepting ------------------------------------------------------------------------------- */

/* A client, detached from the server before it has read a byte of it: the relay reads it
 * from its start, and its observer shows each byte once. */
static int on_open(struct uds_conn *uc, void *data) {
    struct tap *t = data;
    struct conn *c = calloc(1, sizeof(*c));

    if (!c || (c->fd = uds_conn_detach(uc)) < 0) {
        free(c);
        return -1;          /* the server closes it: it sees its end at once */
    }
    c->tap = t;
    c->peer.pidfd = -1;
    c->client.id = ++t->next_id;
    c->next = t->conns;
    c->pprev = &t->conns;
    if (c->next)
        c->next->pprev = &c->next;
    t->conns = c;
    t->n_conns++;
    identify(c);
    uds_pcapng_flow_init(&c->flow, c->client.id, t->server_port, t->type != UDS_STREAM);
    if (t->print)
        tap_print_open(&t->printer, &c->client);
    captured(t, 0);
    connect_server(c);
    return 0;
}

/* Out of fds, the server closes the client waiting (accepted into its spare fd); after
 * another error it rests a moment. Either way it goes on. */
static void on_accept_error(int error, void *data) {
    struct tap *t = data;
    bool fds = error == EMFILE || error == ENFILE;

    cli_log(CLI_LOG_WARN, "accept_error", t->listen_text, NULL, 0, "%s: cannot accept: %s; "
            "trying again%s", t->listen_text, strerror(error), fds ? " (a client that finds "
            "no fd is closed); raise the open-file limit (ulimit -n)" : "");
}

/* The server takes the --listen listener, or for a swap a copy of its socket: the swap
 * keeps its own fd, its socket file and its watchdog until close_listener(). */
static int start_server(struct tap *t) {
    const struct uds_server_callbacks cbs = { .on_open = on_open,
                                              .on_accept_error = on_accept_error };
    struct uds_listener copy, *l = &t->listener;

    if (!t->args->listen) {
        int fd = fcntl(t->swap.fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0 || uds_listener_adopt(fd, &copy) < 0)
            return -1;
        l = &copy;
    }
    t->server = uds_server_new(t->loop, l, NULL, &cbs, t);
    if (!t->server && l == &copy)
        (void) uds_unlisten(&copy);     /* only closes the copy; errno kept */
    return t->server ? 0 : -1;
}

/* No more clients: the tap's socket file goes (swap: the watchdog ends), the clients
 * queued are taken, then the socket is closed. */
static void close_listener(struct tap *t) {
    if (!t->listening)
        return;
    if (t->dgram) {
        t->dgram_dropped += tap_dgram_dropped(t->dgram);
        tap_dgram_free(t->dgram);   /* answers still on their way are lost: no connection
                                     * says they are due */
        t->dgram = NULL;
    }
    uds_swap_done(&t->swap);
    uds_server_stop(t->server, true);
    (void) uds_unlisten(&t->listener);
    t->listening = false;
    check_done(t);
}

/* ---- signals --------------------------------------------------------------------------------- */

static void on_drain_timeout(void *data) {
    struct tap *t = data;

    cli_log_drain_timeout(t->listen_text, t->n_conns, t->args->drain_ms);
    stop_now(t);
}

static void on_grace_over(void *data) {
    close_listener(data);
}

/* The server's path back at once; the tap's socket a moment longer for clients that
 * reached it just before; then the connections held finish. */
static void begin_stop(struct tap *t, const char *signame) {
    char dur[32];

    t->stopping = true;
    if (t->swap.swapped && uds_swap_out(&t->swap) < 0) {
        cli_log(CLI_LOG_WARN, "restore", t->listen_text, NULL, 0, "%s: %s; left as it is",
                t->listen_text, errno == ESTALE ? "the path changed while tapped (the "
                "server restarted?)" : strerror(errno));
    } else if (!t->args->listen) {
        /* The hidden name is the tap's own socket now: a client still accepted goes to the
         * server at its path. */
        (void) uds_addr_parse(t->args->address, 0, &t->target);
        snprintf(t->target_text, sizeof(t->target_text), "%s", t->args->address);
    }
    cli_log(CLI_LOG_INFO, "stopping", t->listen_text, NULL, 0, "%s: stopping on %s%s: "
            "finishing %zu connection%s (up to %s; a second signal stops at once)",
            t->listen_text, signame, t->args->listen ? "" : ", the server is back at its path",
            t->n_conns, t->n_conns == 1 ? "" : "s",
            cli_format_duration(t->args->drain_ms, dur, sizeof(dur)));
    if (t->args->listen || uds_timer_arm(&t->grace_timer, t->loop, GRACE_MS, on_grace_over,
                                         t) < 0)
        close_listener(t);
    (void) uds_timer_arm(&t->drain_timer, t->loop, (uint64_t) t->args->drain_ms,
                         on_drain_timeout, t);
    check_done(t);
}

static void on_signal(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct tap *t = data;
    struct signalfd_siginfo si;

    (void) loop;
    (void) events;
    while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
        /* A second signal, or the first once a failed output has begun the stop. */
        if (++t->signals > 1 || t->stopping) {
            cli_log(CLI_LOG_INFO, "stopping_now", t->listen_text, NULL, 0, "%s: %s %s: "
                    "stopping now", t->listen_text, cli_signal_name(si.ssi_signo),
                    t->signals > 1 ? "again" : "while stopping");
            stop_now(t);
            return;
        }
        begin_stop(t, cli_signal_name(si.ssi_signo));
    }
}

/* ---- options --------------------------------------------------------------------------------- */

#define T struct tap_args
static const struct cli_command tap_cmd = {
    .name = "tap",
    .synopsis = "[OPTIONS] ADDRESS | --listen NEW [OPTIONS] TARGET",
    .help_col = 26,
    .operands = { .names = "ADDRESS", .min = 1, .max = 1,
                  .example = "uds tap /run/app.sock", .at = { CLI_OPERAND(T, address) } },
    .intro =
        "Show what flows through a live Unix socket without restarting its server: bind a\n"
        "socket beside ADDRESS with the same mode, owner and group and exchange the two\n"
        "names atomically (renameat2 RENAME_EXCHANGE), so that new clients reach the tap,\n"
        "which connects each to the server under its hidden name, DIR/.NAME.uds-tap.PID,\n"
        "and relays both ways: bytes, seqpacket message boundaries, half-closes and passed\n"
        "fds (SCM_RIGHTS); a datagram server's senders each get a socket of their own.\n"
        "Run as root, it connects as each client's own user, so that the server's\n"
        "SO_PEERCRED (or SCM_CREDENTIALS) checks still see the client. Each message is\n"
        "printed: time, connection number, client (pid, uid, command), direction, length,\n"
        "payload.\n",
    .outro =
        "SIGINT or SIGTERM puts the server's socket back at ADDRESS at once, then finishes\n"
        "the connections held (up to --drain-timeout); a second signal stops at once. If\n"
        "the tap is killed (even with SIGKILL), a watchdog process it started puts the\n"
        "server back within a second. A swap left behind all the same is reported, with\n"
        "the command that undoes it. ADDRESS must be a socket file a server listens on:\n"
        "anything else is never swapped.\n"
        "\n"
        "--listen NEW TARGET records like a proxy at a new address instead: each side a\n"
        "Unix socket or tcp:HOST:PORT (a TCP listener on a loopback host only).\n"
        "\n"
        "With -w FILE, a stream connection is written as a TCP connection between\n"
        "loopback addresses (handshake, sequence numbers, FIN at each half-close) and\n"
        "seqpacket and dgram messages as UDP datagrams, so that Wireshark and tshark\n"
        "dissect them; the interface is named after the socket, the client and passed fds\n"
        "are in packet comments. The server port (and so the dissector) is --port, or\n"
        "from the socket's name: .s.PGSQL.N is N (PostgreSQL), docker.sock 80 (HTTP),\n"
        "php-fpm 9000 (FastCGI), else 49152. 'uds tap -w - ADDRESS | wireshark -k -i -'\n"
        "watches live.\n"
        "\n"
        "Exit status: 0 stopped by a signal, 1 failure (or connections cut off), 64 usage\n"
        "error, 69 nothing listens at ADDRESS or it is tapped already, 73 ADDRESS is not a\n"
        "socket, 77 permission denied.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("What is shown (stdout):"),
        { "--hex", 'x', NULL, CLI_FLAG(T, hex),
          .help = "payloads as a hex dump, the printable bytes beside" },
        { "--json", 0, NULL, CLI_FLAG(T, json),
          .help = "one JSON object per line: open, data, end and close\n"
                  "events with the same fields" },
        { "--snaplen", 0, "BYTES", CLI_SIZE(T, snaplen, 0, 1L << 30), .example = "256",
          .help = "show (and write with -w) at most BYTES of each\n"
                  "payload (default all)" },
        { "--quiet", 'q', NULL, CLI_FLAG(T, quiet),
          .help = "print no payloads (with -w: write them only)" },
        CLI_SECTION("Capture for Wireshark:"),
        { "--write", 'w', "FILE", CLI_STRING(T, write), .example = "tap.pcapng",
          .help = "write pcapng to FILE (mode 0600), '-' for stdout\n"
                  "(then nothing else is printed there)" },
        { "--port", 0, "N", CLI_LONG(T, port, 1, 65535), .what = "a port number",
          .example = "5432", .help = "the server's TCP/UDP port in the capture" },
        CLI_SECTION("Where:"),
        { "--listen", 0, "NEW", CLI_STRING(T, listen), .example = "/tmp/tap.sock",
          .help = "listen at NEW and relay to the operand, TARGET,\n"
                  "instead of swapping in front of it" },
        CLI_OPT_TYPE(T, type, "--listen: the sockets' type: stream (default),\n"
                              "seqpacket or dgram"),
        { "--connect-timeout", 0, "SECONDS", CLI_DURATION(T, connect_ms, 1),
          .help = "give up connecting a client to the server after\n"
                  "this long (default 5)" },
        { "--drain-timeout", 0, "SECONDS", CLI_DURATION(T, drain_ms, 0),
          .help = "after a stop signal, close connections still open\n"
                  "after this long (default 10)" },
        CLI_END,
    },
};
#undef T

/* ---- starting -------------------------------------------------------------------------------- */

static int swap_error(const char *address, int err) {
    switch (err) {
    case ENOTSOCK:
        cli_error(address, "give the path of a live server's socket",
                  "is not a socket; uds tap stands only in front of a listening socket");
        return EX_CANTCREAT;
    case EAGAIN:
        cli_error(address, "try again", "changed while the tap swapped in; nothing was left "
                  "changed");
        return EX_TEMPFAIL;
    case EACCES:
    case EPERM:
        cli_error(address, "run uds tap as root, or as the user who owns the socket and its "
                  "directory", "cannot put a socket beside it with the same owner (uid %lu: "
                  "%s)", (unsigned long) geteuid(), strerror(err));
        return EX_NOPERM;
    case EINVAL:
    case ENOSYS:
        cli_error(address, "use --listen NEW instead", "cannot exchange names here "
                  "(renameat2 RENAME_EXCHANGE: %s)", strerror(err));
        return EX_UNAVAILABLE;
    default:
        return cli_fail(CLI_OP_CONNECT, address, err, NULL);
    }
}

/* In front of the server at the operand. Returns CLI_CONTINUE or the exit code. */
static int swap_in(struct tap *t) {
    const char *address = t->args->address;
    struct uds_addr addr;
    int code;

    if (uds_addr_parse(address, 0, &addr) < 0 || addr.kind != UDS_ADDR_PATH)
        return cli_usage("tap", "ADDRESS '%s' is not a socket file's path; an abstract or "
                         "TCP address has no file to swap: use --listen NEW TARGET", address);
    code = cli_listen_refuse_leftover(address);
    if (code != CLI_CONTINUE)
        return code;
    if (uds_swap_in(address, &t->swap) < 0)
        return swap_error(address, errno);
    if (uds_swap_guard(&t->swap) < 0) {
        int e = errno;
        uds_swap_done(&t->swap);
        return cli_fail(CLI_OP_ANY, address, e, NULL);
    }
    t->listen_unix = true;
    t->type = t->swap.type;
    snprintf(t->listen_text, sizeof(t->listen_text), "%s", address);
    (void) uds_addr_parse(t->swap.server_path, 0, &t->target);
    snprintf(t->target_text, sizeof(t->target_text), "%s", t->swap.server_path);
    t->target_unix = true;
    return CLI_CONTINUE;
}

static int listen_tcp(struct tap *t, const struct uds_addr *addr) {
    struct uds_tcp_addrs addrs;
    const struct uds_listen_opts opts = { .flags = UDS_LISTEN_NONBLOCK };

    if (uds_tcp_resolve(addr, &addrs, NULL) < 0)
        return cli_usage("tap", "--listen %s: cannot resolve it (%s)", t->args->listen,
                         strerror(errno));
    if (!uds_inet_is_loopback((struct sockaddr *) &addrs.addrs[0]))
        return cli_usage("tap", "--listen %s: not a loopback address; what a tap shows is "
                         "not for the network", t->args->listen);
    if (uds_listen_tcp((struct sockaddr *) &addrs.addrs[0], addrs.lens[0], &opts,
                       &t->listener) < 0)
        return cli_fail(CLI_OP_LISTEN, t->args->listen, errno, NULL);
    uds_addr_format(&t->listener.addr, t->listen_text, sizeof(t->listen_text));
    return CLI_CONTINUE;
}

static int listen_new(struct tap *t) {
    const struct tap_args *a = t->args;
    struct uds_addr addr;
    struct uds_listen_info info;
    const struct uds_listen_opts opts = { .type = a->type, .flags = UDS_LISTEN_NONBLOCK };
    int code;

    if (uds_addr_parse(a->listen, UDS_ADDR_ALLOW_TCP, &addr) < 0)
        return cli_usage("tap", "--listen '%s' is not an address (%s)", a->listen,
                         strerror(errno));
    t->listen_unix = addr.kind != UDS_ADDR_TCP;
    if (!t->listen_unix && a->type != UDS_STREAM)
        return cli_usage("tap", "--type %s: a TCP listener is a stream",
                         uds_socket_type_name(a->type));
    if (!t->listen_unix) {
        code = listen_tcp(t, &addr);
    } else if (uds_listen_addr(&addr, &opts, &t->listener, &info) < 0) {
        struct cli_fail_info fi = { .holder_pid = info.holder_pid,
                                    .lock_failed = info.lock_failed };
        code = cli_fail(CLI_OP_LISTEN, a->listen, errno, &fi);
    } else {
        uds_addr_format(&addr, t->listen_text, sizeof(t->listen_text));
        code = CLI_CONTINUE;
    }
    return code;
}

/* --listen's TARGET: a Unix socket, or a TCP service reached through a dialer. */
static int setup_target(struct tap *t) {
    const char *text = t->args->address;

    if (uds_addr_parse(text, UDS_ADDR_ALLOW_TCP, &t->target) < 0)
        return cli_usage("tap", "TARGET '%s' is not an address (%s); e.g. /run/app.sock or "
                         "tcp:127.0.0.1:8080", text, strerror(errno));
    uds_addr_format(&t->target, t->target_text, sizeof(t->target_text));
    t->target_unix = t->target.kind != UDS_ADDR_TCP;
    t->type = t->args->type;
    if (t->target_unix)
        return CLI_CONTINUE;
    if (t->type != UDS_STREAM)
        return cli_usage("tap", "--type %s: a TCP target is a stream",
                         uds_socket_type_name(t->type));
    const struct uds_dialer_opts dopts = { .timeout_ms = t->args->connect_ms };
    t->dialer = uds_dialer_new(t->loop, &t->target, &dopts);
    if (!t->dialer)
        return cli_fail(CLI_OP_CONNECT, text, errno, NULL);
    return CLI_CONTINUE;
}

static int check_args(const struct tap_args *a) {
    if (a->hex && a->json)
        return cli_usage("tap", "-x and --json: choose one");
    if (a->write && strcmp(a->write, "-") == 0 && (a->hex || a->json))
        return cli_usage("tap", "-w - writes the capture to stdout: -x and --json have "
                         "nowhere to go");
    return CLI_CONTINUE;
}

static void announce(struct tap *t) {
    const char *what = uds_socket_type_name(t->type);

    if (t->target_unix && !t->as_client && t->listen_unix)
        cli_log(CLI_LOG_WARN, "identity", t->listen_text, NULL, 0, "%s: not run as root: the "
                "server sees every client as this tap (uid %lu), not as itself", t->listen_text,
                (unsigned long) geteuid());
    if (t->args->listen)
        cli_log(CLI_LOG_INFO, "tapping", t->listen_text, NULL, 0, "tapping %s (%s): "
                "listening there, relaying to %s", t->listen_text, what, t->target_text);
    else
        cli_log(CLI_LOG_INFO, "tapping", t->listen_text, NULL, 0, "tapping %s (%s): the "
                "server is at %s until the tap stops", t->listen_text, what, t->target_text);
}

/* -w FILE, or -w - on stdout, each packet written at once for a reader that follows it. */
static int open_capture(struct tap *t, const char *name) {
    bool out = strcmp(t->args->write, "-") == 0;
    const struct uds_capture_opts opts = {
        .application = "uds tap",
        .if_name = name,
        .snaplen = t->args->snaplen,
        .flags = out ? UDS_CAPTURE_UNBUFFERED : 0,
    };

    t->cap = out ? uds_capture_open_fd(STDOUT_FILENO, &opts)
                 : uds_capture_open(t->args->write, &opts);
    return t->cap ? 0 : -1;
}

static int open_output(struct tap *t) {
    const struct tap_args *a = t->args;
    const char *name = a->listen ? t->target_text : a->address;

    t->printer = (struct tap_printer) {
        .out = stdout,
        .format = a->json ? TAP_JSON : a->hex ? TAP_HEX : TAP_TEXT,
        .snaplen = a->snaplen,
    };
    t->print = !a->quiet && !(a->write && strcmp(a->write, "-") == 0);
    t->server_port = a->port ? (uint16_t) a->port : uds_pcapng_port(name);
    if (a->write && open_capture(t, name) < 0) {
        int e = errno;
        cli_error(a->write, "check the -w FILE", "cannot write: %s", strerror(e));
        return e == EACCES || e == EPERM ? EX_NOPERM : EX_CANTCREAT;
    }
    return CLI_CONTINUE;
}

static void dgram_captured(void *data, int result) {
    captured(data, result);
}

/* Accept clients, or for a datagram server read its senders' datagrams. */
static int watch_clients(struct tap *t) {
    int fd = t->args->listen ? t->listener.fd : t->swap.fd;

    if (t->type != UDS_DGRAM)
        return start_server(t);
    if (uds_set_nonblock(fd, true) < 0)
        return -1;
    const struct tap_dgram_opts o = {
        .loop = t->loop,
        .fd = fd,
        .server = &t->target,
        .server_name = t->args->listen ? t->target_text : t->listen_text,
        .listen_name = t->listen_text,
        .as_client = t->as_client,
        .printer = t->print ? &t->printer : NULL,
        .cap = &t->cap,
        .server_port = t->server_port,
        .next_id = &t->next_id,
        .captured = dgram_captured,
        .data = t,
    };
    t->dgram = tap_dgram_new(&o);
    return t->dgram ? 0 : -1;
}

static int prepare(struct tap *t, int *ret_sigfd) {
    const struct tap_args *a = t->args;
    int code = check_args(a);

    if (code == CLI_CONTINUE)
        code = open_output(t);
    if (code != CLI_CONTINUE)
        return code;
    t->loop = uds_loop_new();
    t->relays = t->loop ? uds_relay_group_new(t->loop, NULL) : NULL;
    if (!t->relays)
        return cli_fail(CLI_OP_ANY, a->address, errno, NULL);
    /* Before the swap, so that a stop signal can never leave it in place. */
    *ret_sigfd = cli_signalfd(false);
    if (*ret_sigfd < 0 || uds_loop_add(t->loop, *ret_sigfd, UDS_EV_READ, on_signal, t) < 0)
        return cli_fail(CLI_OP_ANY, a->address, errno, NULL);
    t->as_client = geteuid() == 0;
    if (a->listen) {
        code = setup_target(t);
        if (code == CLI_CONTINUE)
            code = listen_new(t);
    } else {
        code = swap_in(t);
    }
    if (code != CLI_CONTINUE)
        return code;
    if (watch_clients(t) < 0)
        return cli_fail(CLI_OP_ANY, t->listen_text, errno, NULL);
    t->listening = true;
    announce(t);
    return CLI_CONTINUE;
}

int cmd_tap(int argc, char **argv) {
    struct tap_args args = { .drain_ms = 10000, .connect_ms = 5000 };
    struct tap t = { .args = &args };
    struct cli_parsed p;
    int code, sigfd = -1;

    uds_swap_init(&t.swap);
    uds_listener_init(&t.listener);
    code = cli_parse(&tap_cmd, argc, argv, &args, &p);
    if (code != CLI_CONTINUE)
        return code;
    cli_log_setup(0, false);
    code = prepare(&t, &sigfd);
    if (code == CLI_CONTINUE) {
        code = uds_loop_run(t.loop) < 0 ? cli_fail(CLI_OP_ANY, t.listen_text, errno, NULL)
                                         : t.cut_off ? CLI_EXIT_FAILURE : EX_OK;
    }
    close_all(&t);
    t.dgram_dropped += tap_dgram_dropped(t.dgram);
    if (t.dgram_dropped > 0)
        cli_log(CLI_LOG_WARN, "dropped", t.listen_text, NULL, 0, "%s: %llu datagram%s dropped "
                "in all (no server to take them, or a sender that cannot be answered)",
                t.listen_text, (unsigned long long) t.dgram_dropped,
                t.dgram_dropped == 1 ? "" : "s");
    tap_dgram_free(t.dgram);
    uds_swap_done(&t.swap);             /* the server back, if a signal did not already */
    uds_server_free(t.server);          /* and its socket (--listen: its file too) */
    (void) uds_unlisten(&t.listener);   /* a datagram one, or one no server took */
    if (uds_capture_close(t.cap) < 0 && code == EX_OK && !t.failed)
        code = cli_fail(CLI_OP_ANY, args.write, errno, NULL);
    uds_relay_group_free(t.relays);
    uds_dialer_free(t.dialer);
    cli_signalfd_close(sigfd, t.loop);
    return code;
}
