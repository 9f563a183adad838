/* SPDX-License-Identifier: MIT */
/*
 * cmd_serve.c — `uds serve`: the policy of a Unix-socket server (echo, a fixed reply per
 * message, framed messages, or a program per client), its own options, signals, readiness
 * and logs. The options and listener it shares with `uds proxy` are listen_opts.c's;
 * listening, accepting, buffering and draining are the library's (uds_listen, uds_server);
 * starting programs is the library's too (uds_spawner); dgram, which has no connections, is
 * served here on a uds_loop. Echo and reply run on --threads worker threads: what their
 * callbacks share (the per-uid counts, the accept-error and drain tallies) is under struct
 * serve's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "dgram_in.h"
#include "listen_opts.h"
#include "listen_proc.h"
#include "options.h"

/* Fds a server needs besides one per connection: stdio, listener, lock file, epoll, timer,
 * signalfd, the EMFILE spare, and some slack. */
#define FD_MARGIN 32
/* After SIGKILL, how long to wait for the children to be reaped before exiting anyway (a
 * process in uninterruptible sleep dies only when its I/O ends). */
#define KILL_GRACE_MS 2000
/* How long an echo or reply server waits for a new client's first byte: such a server never
 * speaks first, so a client that says nothing only holds a slot. */
#define SERVE_FIRST_BYTE_MS 30000

struct serve_args {
    const char *address;
    enum uds_socket_type type;
    const char *reply;          /* --reply TEXT, or NULL for echo */
    bool framed;                /* --framed: length-prefixed messages */
    char **program;             /* -- PROGRAM ARGS (NULL-terminated), or NULL */
    char *reply_line;           /* TEXT "\n", for line-based replies on a stream */
    size_t reply_line_len;
    struct cli_listen_opts common;  /* access, limits, readiness and logs (as uds proxy) */
    size_t max_message;
    const char *max_message_given;
    struct cli_run_as run_as;   /* --user */
};

struct serve {
    const struct serve_args *args;
    char addr[UDS_PATH_MAX + 8];    /* canonical address, for logs */
    bool abstract;                  /* addr is in the abstract namespace */
    struct uds_allow allow;
    struct uds_listener listener;
    struct uds_server *server;      /* stream, seqpacket */
    struct uds_loop *loop;          /* the server's loop, or our own (dgram, -- PROGRAM) */
    bool own_loop;                  /* loop is ours to free */
    char *dgram_buf;
    struct cli_dgram_in dgram_in;   /* reads into dgram_buf */
    struct cli_stop stop;           /* signals received, and whether one cut clients off */
    bool ran;                       /* the loop ran until a stop */
    struct cli_accept_errors accept_errors;
    pthread_mutex_t lock;           /* uids, accept_errors, drain_cut, drain_unsent: the
                                     * callbacks run on every worker thread */
    struct uds_uid_counter *uids;   /* --max-conns-per-uid: clients (programs) per uid */
    bool at_limit;                  /* -- PROGRAM: --max-conns programs are running */
    bool lines;                     /* --reply on a stream: messages are lines */
    int first_byte_ms;              /* the server's first-byte timeout, 0 = none */
    size_t drain_cut;               /* connections the drain timeout closed */
    size_t drain_unsent;            /*   and the reply bytes they still had queued */
    struct uds_spawner *exec;       /* -- PROGRAM */
    const char *program_name;       /* its argv[0], for logs */
    bool stopping;                  /* -- PROGRAM: stop begun, waiting for the children */
    uint64_t stop_timer;
};

/* ---- logging helpers ------------------------------------------------------------------ */

static void log_peer(const struct serve *sv, enum cli_level level, const char *event,
                     const struct uds_peer *peer, const char *what, const char *reason) {
    struct cli_kv kv[] = {
        CLI_KV_NUM("pid", peer ? peer->pid : 0),
        CLI_KV_NUM("uid", peer ? peer->uid : 0),
        CLI_KV_NUM("gid", peer ? peer->gid : 0),
        CLI_KV_STR("reason", reason ? reason : ""),
    };

    if (!cli_log_enabled(level))
        return;
    cli_log(level, event, sv->addr, kv, reason ? 4 : 3, "%s: %s pid %ld uid %lu gid %lu%s%s",
            sv->addr, what, (long) (peer ? peer->pid : 0),
            (unsigned long) (peer ? peer->uid : 0), (unsigned long) (peer ? peer->gid : 0),
            reason ? ": " : "", reason ? reason : "");
}

/* The same for a connection's peer, which the library reads only when asked: not asked
 * when the line is not logged. */
static void log_conn(const struct serve *sv, enum cli_level level, const char *event,
                     struct uds_conn *conn, const char *what, const char *reason) {
    if (cli_log_enabled(level))
        log_peer(sv, level, event, uds_conn_peer(conn), what, reason);
}

/* ---- --max-conns-per-uid ----------------------------------------------------------------- */

/* Count one more client of peer's uid, or say why not: returns 0, or -1 having logged the
 * refusal (over its share, or no memory to count it). what: "program running" or
 * "connection open", for the message. */
static int uid_take(struct serve *sv, const struct uds_peer *peer, const char *what) {
    const struct cli_listen_opts *o = &sv->args->common;
    char why[192];
    size_t held;
    int r, e;

    pthread_mutex_lock(&sv->lock);
    r = uds_uid_counter_take(sv->uids, peer->uid, cli_listen_opts_per_uid(o));
    e = errno;
    held = uds_uid_counter_get(sv->uids, peer->uid);
    pthread_mutex_unlock(&sv->lock);
    switch (r) {
    case 1:
        return 0;
    case 0:
        cli_per_uid_reason(o, peer->uid, held, what, why, sizeof(why));
        log_peer(sv, CLI_LOG_WARN, "deny", peer, "refused", why);
        return -1;
    default:
        log_peer(sv, CLI_LOG_WARN, "deny", peer, "refused", strerror(e));
        return -1;
    }
}

static void uid_release(struct serve *sv, uid_t uid) {
    /* Only what uid_take() counted comes back here: nothing to report. */
    pthread_mutex_lock(&sv->lock);
    (void) uds_uid_counter_release(sv->uids, uid);
    pthread_mutex_unlock(&sv->lock);
}

/* ---- stream and seqpacket: callbacks for uds_server ------------------------------------ */

/* A connection's only state is whether its client has sent anything yet, kept in the data
 * pointer itself so that idle clients cost nothing: a timeout before that is the
 * first-byte timeout, not the idle one. */
static void mark_heard(struct uds_conn *conn) {
    uds_conn_set_data(conn, (void *) 1);
}

static bool heard(const struct uds_conn *conn) {
    return uds_conn_data(conn) != NULL;
}

static void send_or_close(const struct serve *sv, struct uds_conn *conn, const void *buf,
                          size_t len) {
    if (uds_conn_send(conn, buf, len) < 0 && errno != EPIPE) {
        log_conn(sv, CLI_LOG_WARN, "close", conn, "closing connection from",
                 strerror(errno));
        uds_conn_close(conn, false);
    }
}

static int on_open(struct uds_conn *conn, void *data) {
    struct serve *sv = data;

    if (uid_take(sv, uds_conn_peer(conn), "connection open") < 0)
        return -1;
    /* Said each time the last slot is taken; past it (a graceful stop serves the backlog)
     * nothing more is. */
    if (uds_server_conn_count(uds_conn_server(conn)) == (size_t) sv->args->common.max_conns)
        cli_log_limit_reached(&sv->args->common, sv->addr, uds_server_conn_count(
                              uds_conn_server(conn)), "connection");
    log_conn(sv, CLI_LOG_DEBUG, "open", conn, "connection from", NULL);
    return 0;
}

/* Echo, or --reply on seqpacket: one read is one packet, answered with one packet. */
static void on_data(struct uds_conn *conn, const void *buf, size_t len, void *data) {
    struct serve *sv = data;
    const char *reply = sv->args->reply;

    mark_heard(conn);
    if (reply)
        send_or_close(sv, conn, reply, strlen(reply));
    else
        send_or_close(sv, conn, buf, len);
}

/* --reply on a stream: a stream has no message boundaries, so a message is a line (the
 * library cuts them, and holds lines back while a client leaves its replies unread). */
static void on_line(struct uds_conn *conn, const void *line, size_t len, void *data) {
    struct serve *sv = data;

    (void) line, (void) len;
    mark_heard(conn);
    send_or_close(sv, conn, sv->args->reply_line, sv->args->reply_line_len);
}

static void on_message(struct uds_conn *conn, const void *msg, size_t len, void *data) {
    struct serve *sv = data;
    const char *reply = sv->args->reply;
    const void *out = reply ? reply : msg;
    size_t out_len = reply ? strlen(reply) : len;

    mark_heard(conn);
    if (uds_conn_send_message(conn, out, out_len) < 0 && errno != EPIPE) {
        log_conn(sv, CLI_LOG_WARN, "close", conn, "closing connection from",
                 strerror(errno));
        uds_conn_close(conn, false);
    }
}

static void on_close(struct uds_conn *conn, int error, void *data) {
    struct serve *sv = data;
    char why[128];

    uid_release(sv, uds_conn_peer(conn)->uid);
    if (error == 0) {
        log_conn(sv, CLI_LOG_DEBUG, "close", conn, "closed connection from",
                 NULL);
        return;
    }
    if (error == ETIMEDOUT && sv->stop.signals > 0) {
        /* The drain timeout (or an idle one during the drain): reported once, in sum. */
        pthread_mutex_lock(&sv->lock);
        sv->drain_cut++;
        sv->drain_unsent += uds_conn_queued(conn);
        pthread_mutex_unlock(&sv->lock);
        snprintf(why, sizeof(why), "still open at the end of --drain-timeout");
    } else if (error == ETIMEDOUT) {
        char dur[32];
        bool first = !heard(conn) && sv->first_byte_ms > 0 &&
                     (sv->args->common.idle_ms <= 0 ||
                      sv->first_byte_ms <= sv->args->common.idle_ms);
        snprintf(why, sizeof(why), first ? "sent nothing for %s (--first-byte-timeout)"
                                         : "idle for %s (--idle-timeout)",
                 cli_format_duration(first ? sv->first_byte_ms : sv->args->common.idle_ms,
                                     dur, sizeof(dur)));
    } else if (error == EMSGSIZE) {
        snprintf(why, sizeof(why), "a %s longer than --max-message %zu bytes",
                 sv->lines ? "line" : "message", sv->args->max_message);
    } else if (error == EPROTO && sv->args->framed) {
        snprintf(why, sizeof(why), "the stream ended in the middle of a message");
    } else if (error == ENOMEM) {
        snprintf(why, sizeof(why), "out of memory for its message (lower --max-message, or "
                 "raise the server's memory limit)");
    } else {
        snprintf(why, sizeof(why), "%s", strerror(error));
    }
    log_conn(sv, error == EMSGSIZE || error == EPROTO || error == ENOMEM ? CLI_LOG_WARN
                                                                          : CLI_LOG_DEBUG,
             "close", conn, "closed connection from", why);
}

static void on_deny(const struct uds_peer *peer, void *data) {
    log_peer(data, CLI_LOG_WARN, "deny", peer, "refused",
             "not in --allow-uid/--allow-gid");
}

static void on_accept_error(int error, void *data) {
    struct serve *sv = data;

    pthread_mutex_lock(&sv->lock);
    cli_log_accept_error(&sv->accept_errors, sv->addr, error);
    pthread_mutex_unlock(&sv->lock);
}

/* ---- -- PROGRAM: a process per client ------------------------------------------------------ */

static void log_child(const struct serve *sv, enum cli_level level, const char *event,
                      const struct uds_child *ch, const char *what) {
    char dur[32];
    uint64_t ms = cli_now_ms() - ch->started_ms;
    struct cli_kv kv[] = {
        CLI_KV_NUM("child_pid", ch->pid),
        CLI_KV_NUM("pid", ch->peer_pid),
        CLI_KV_NUM("uid", ch->peer_uid),
        CLI_KV_NUM("gid", ch->peer_gid),
        CLI_KV_STR("status", what ? what : ""),
        CLI_KV_NUM("duration_ms", ms),
    };

    if (!cli_log_enabled(level))
        return;
    if (!what) {
        cli_log(level, event, sv->addr, kv, 4, "%s: started %s (pid %ld) for pid %ld uid %lu "
                "gid %lu", sv->addr, sv->program_name, (long) ch->pid, (long) ch->peer_pid,
                (unsigned long) ch->peer_uid, (unsigned long) ch->peer_gid);
        return;
    }
    cli_log(level, event, sv->addr, kv, 6, "%s: %s (pid %ld) for pid %ld uid %lu gid %lu %s "
            "after %s", sv->addr, sv->program_name, (long) ch->pid, (long) ch->peer_pid,
            (unsigned long) ch->peer_uid, (unsigned long) ch->peer_gid, what,
            cli_format_duration(ms > INT32_MAX ? INT32_MAX : (int) ms, dur, sizeof(dur)));
}

/* At --max-conns programs the listener rests: new clients wait in the backlog (s6). */
static void update_accepting(struct serve *sv) {
    size_t n = uds_spawner_count(sv->exec);
    bool full = n >= (size_t) sv->args->common.max_conns;

    if (sv->stopping)
        return;
    if (full && !sv->at_limit)
        cli_log_limit_reached(&sv->args->common, sv->addr, n, "program running");
    sv->at_limit = full;
    uds_server_pause(sv->server, full);
}

/* The connection goes to a new process and leaves the server: the server never reads it. */
static int on_open_exec(struct uds_conn *conn, void *data) {
    struct serve *sv = data;
    const struct uds_peer *peer = uds_conn_peer(conn);
    char why[256];
    pid_t pid;
    int fd;

    if (sv->stopping || uid_take(sv, peer, "program running") < 0)
        return -1;
    pid = uds_spawner_spawn(sv->exec, uds_conn_fd(conn), peer);
    if (pid < 0) {
        snprintf(why, sizeof(why), "cannot start %s: %s", uds_spawner_path(sv->exec),
                 strerror(errno));
        log_peer(sv, CLI_LOG_WARN, "exec_error", peer, "closing connection from", why);
        uid_release(sv, peer->uid);
        return -1;
    }
    /* Our copy goes, with close() and never shutdown(): the child's stays connected. */
    fd = uds_conn_detach(conn);
    if (fd >= 0)
        (void) close(fd);
    if (cli_log_enabled(CLI_LOG_DEBUG)) {
        struct uds_child ch = {
            .pid = pid, .peer_pid = peer->pid, .peer_uid = peer->uid, .peer_gid = peer->gid,
            .started_ms = cli_now_ms(),
        };
        log_child(sv, CLI_LOG_DEBUG, "exec", &ch, NULL);
    }
    update_accepting(sv);
    return 0;
}

/* "exited with status 3", "killed by SIGTERM". */
static void describe_status(int status, char *buf, size_t size) {
    if (WIFEXITED(status)) {
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));
        char num[16];
        snprintf(num, sizeof(num), "%d", WTERMSIG(status));
        snprintf(buf, size, "killed by %s%s%s", name ? "SIG" : "signal ", name ? name : num,
                 WCOREDUMP(status) ? " (core dumped)" : "");
    } else {
        snprintf(buf, size, "ended (wait status 0x%x)", (unsigned) status);
    }
}

static void reap_children(struct serve *sv) {
    struct uds_child ch;
    char what[64];
    int status;

    while (uds_spawner_reap(sv->exec, &ch, &status) == 1) {
        uid_release(sv, ch.peer_uid);
        if (cli_log_enabled(CLI_LOG_DEBUG)) {
            describe_status(status, what, sizeof(what));
            log_child(sv, CLI_LOG_DEBUG, "exit", &ch, what);
        }
    }
    update_accepting(sv);
    if (sv->stopping && uds_spawner_count(sv->exec) == 0)
        uds_loop_stop(sv->loop);
}

static void stop_now(struct uds_loop *loop, uint64_t id, void *data) {
    struct serve *sv = data;
    size_t n = uds_spawner_count(sv->exec);
    char dur[32];

    (void) id;
    sv->stop_timer = 0;
    cli_log(CLI_LOG_WARN, "stopped_waiting", sv->addr, NULL, 0, "%s: %zu program%s not reaped "
            "%s after SIGKILL; exiting without them", sv->addr, n, n == 1 ? "" : "s",
            cli_format_duration(KILL_GRACE_MS, dur, sizeof(dur)));
    uds_loop_stop(loop);
}

static void kill_children(struct serve *sv) {
    uds_spawner_kill(sv->exec, SIGKILL);
    uds_loop_timer_cancel(sv->loop, sv->stop_timer);
    sv->stop_timer = 0;
    /* Without this timer the loop still ends, once the killed programs are reaped. */
    (void) uds_loop_timer_add(sv->loop, KILL_GRACE_MS, stop_now, sv, &sv->stop_timer);
}

static void drain_expired(struct uds_loop *loop, uint64_t id, void *data) {
    struct serve *sv = data;
    size_t n = uds_spawner_count(sv->exec);
    char dur[32];

    (void) loop, (void) id;
    sv->stop_timer = 0;
    cli_log(CLI_LOG_WARN, "drain_timeout", sv->addr, NULL, 0, "%s: %zu program%s still running "
            "after --drain-timeout %s: killing them (SIGKILL)", sv->addr, n, n == 1 ? "" : "s",
            cli_format_duration(sv->args->common.drain_ms, dur, sizeof(dur)));
    kill_children(sv);
}

/* First signal: no new clients, SIGTERM to every program, SIGKILL after --drain-timeout.
 * Second signal: SIGKILL now. The loop ends once every child is reaped. */
static void stop_exec(struct serve *sv, const char *name) {
    size_t n = uds_spawner_count(sv->exec);
    struct cli_kv kv[] = {
        CLI_KV_STR("signal", name),
        CLI_KV_NUM("programs", n),
    };
    char dur[32];

    if (sv->stop.signals == 1) {
        cli_notify("STOPPING=1");
        sv->stopping = true;
        /* Not graceful for the backlog: a client still queued would only get a program
         * that is told to stop at once. */
        uds_server_stop(sv->server, false);
        if (n == 0) {
            cli_log(CLI_LOG_INFO, "stopping", sv->addr, kv, 2, "%s: stopping on %s", sv->addr,
                    name);
            uds_loop_stop(sv->loop);
            return;
        }
        cli_log(CLI_LOG_INFO, "stopping", sv->addr, kv, 2, "%s: stopping on %s: no new clients, "
                "sent SIGTERM to %zu program%s (SIGKILL after %s; a second signal sends it at "
                "once)", sv->addr, name, n, n == 1 ? "" : "s",
                cli_format_duration(sv->args->common.drain_ms, dur, sizeof(dur)));
        uds_spawner_kill(sv->exec, SIGTERM);
        if (uds_loop_timer_add(sv->loop, (uint64_t) sv->args->common.drain_ms, drain_expired,
                               sv, &sv->stop_timer) < 0)
            kill_children(sv);
        return;
    }
    cli_log(CLI_LOG_INFO, "stopping_now", sv->addr, kv, 2, "%s: %s again: stopping now, killing "
            "%zu program%s (SIGKILL)", sv->addr, name, n, n == 1 ? "" : "s");
    if (n == 0) {
        uds_loop_stop(sv->loop);
        return;
    }
    sv->stop.cut_off = true;
    kill_children(sv);
}

/* ---- dgram: no connections, so no uds_server ------------------------------------------- */

/* Why the answer to sender at from was not sent (errno err from uds_dgram_reply), logged
 * once per datagram (the log escapes the sender's choice of bytes). */
static void log_unanswered(const struct serve *sv, int err, const struct sockaddr_un *from,
                           socklen_t from_len, const struct uds_peer *sender) {
    size_t n = from_len > offsetof(struct sockaddr_un, sun_path)
                   ? strnlen(from->sun_path, from_len - offsetof(struct sockaddr_un, sun_path))
                   : 0;
    char path[sizeof(from->sun_path) + 1], why[sizeof(path) + 160];
    const char *what = "not answering the datagram from";

    memcpy(path, from->sun_path, n);
    path[n] = '\0';
    switch (err) {
    case EDESTADDRREQ:
        log_peer(sv, CLI_LOG_WARN, "drop", sender, "cannot answer the datagram from",
                 "its socket is not bound to an address (bind it, e.g. to an abstract name)");
        return;
    case ELOOP:
        snprintf(why, sizeof(why), "its address %s is a symbolic link; answers go only to "
                 "the sender's own socket", path);
        break;
    case EPERM:
        snprintf(why, sizeof(why), "its address %s is not a socket of uid %lu (a directory "
                 "on the way may lead elsewhere); answers go only to the sender's own socket",
                 path, (unsigned long) sender->uid);
        break;
    case ENOTSOCK:
        snprintf(why, sizeof(why), "its address %s is not a socket", path);
        break;
    case EINVAL:
        snprintf(why, sizeof(why), "it came without credentials (SCM_CREDENTIALS)");
        break;
    default:
        /* Datagrams are unreliable by contract: a full or vanished sender loses its
         * answer, which is worth a line but not a stop. */
        log_peer(sv, err == EAGAIN || err == ECONNREFUSED ? CLI_LOG_DEBUG : CLI_LOG_WARN,
                 "drop", sender, "cannot answer the datagram from", strerror(err));
        return;
    }
    log_peer(sv, CLI_LOG_WARN, "reply_refused", sender, what, why);
}

/* One datagram received: check the sender, answer it. */
static bool on_datagram(const struct uds_datagram *dg, const char *data, void *ctx) {
    struct serve *sv = ctx;
    const struct serve_args *a = sv->args;
    const struct uds_peer *peer = &dg->cred;

    if (uds_allow_is_set(&sv->allow) && (!dg->has_cred || !uds_peer_allowed(peer, &sv->allow))) {
        on_deny(peer, sv);
        return true;
    }
    if (dg->full_len > dg->len) {
        char why[96];
        snprintf(why, sizeof(why), "a datagram longer than --max-message %zu bytes, dropped",
                 a->max_message);
        log_peer(sv, CLI_LOG_WARN, "drop", peer, "datagram from", why);
        return true;
    }
    log_peer(sv, CLI_LOG_DEBUG, "datagram", peer, "datagram from", NULL);
    /* Not a plain sendto(): the sender's address is a name it chose, and resolved again
     * now it could lead to a socket the sender cannot reach, with our credentials. */
    if (uds_dgram_reply(sv->listener.fd, a->reply ? a->reply : data,
                        a->reply ? strlen(a->reply) : dg->len, MSG_DONTWAIT, &dg->from,
                        dg->from_len, dg->has_cred ? peer : NULL) < 0)
        log_unanswered(sv, errno, &dg->from, dg->from_len, peer);
    return true;
}

/* ---- signals --------------------------------------------------------------------------- */

static void on_child(void *data) {
    reap_children(data);
}

static void on_stop_exec(struct cli_stop *stop, const char *name, void *data) {
    (void) stop;
    /* signalfd hands out the lowest signal number first: SIGTERM before a SIGCHLD that
     * came first. Reap now, so the count is of programs still alive. */
    reap_children(data);
    stop_exec(data, name);
}

static size_t stop_count(void *data) {
    return uds_server_conn_count(((struct serve *) data)->server);
}

static void stop_server(struct serve *sv, bool graceful) {
    if (sv->server)
        uds_server_stop(sv->server, graceful);
    else
        uds_loop_stop(sv->loop);
}

static void stop_drain(void *data) {
    stop_server(data, true);
}

static void stop_at_once(void *data) {
    stop_server(data, false);
}

/* The stop signals on sigfd, once the server (if any) and the loop exist. */
static int watch_stop(struct serve *sv, int sigfd) {
    sv->stop = (struct cli_stop) {
        .address = sv->addr, .drain_ms = sv->args->common.drain_ms,
        .count = sv->server && !sv->exec ? stop_count : NULL,
        .drain = stop_drain, .now = stop_at_once,
        .on_stop = sv->exec ? on_stop_exec : NULL,
        .on_child = on_child, .data = sv,
    };
    return cli_stop_watch(&sv->stop, sv->loop, sigfd);
}

/* ---- options --------------------------------------------------------------------------- */

static void serve_args_done(struct serve_args *a) {
    cli_listen_opts_done(&a->common);
    free(a->reply_line);
}

#define S struct serve_args
static const struct cli_command serve_cmd = {
    .name = "serve",
    .synopsis = "[OPTIONS] ADDRESS [-- PROGRAM [ARG...]]",
    .help_col = 28,
    .operands = { .names = "ADDRESS", .min = 1, .max = 1, .example = "uds serve /run/app.sock",
                  .extra_hint = "to run a program for each client: uds serve ADDRESS -- PROGRAM",
                  .rest_after_dashdash = true, .at = { CLI_OPERAND(S, address) } },
    .intro =
        "Serve the Unix socket at ADDRESS (a path, @abstract, unix:PATH or unix:@name):\n"
        "echo what each client sends, answer each message with --reply TEXT, or run\n"
        "PROGRAM for each client. A stale socket file (nobody listening) is replaced; a\n"
        "live server's is never touched.\n",
    .outro =
        "Once ready it logs 'uds: listening on ADDRESS' on stderr and, when NOTIFY_SOCKET\n"
        "is set, sends READY=1 there. Sockets passed by systemd (LISTEN_FDS) that are\n"
        "bound to ADDRESS are used instead of binding. SIGTERM or SIGINT stops gracefully:\n"
        "no new clients, the socket file is removed, clients in flight get their replies\n"
        "(programs get SIGTERM, and SIGKILL after --drain-timeout); a second signal stops\n"
        "at once. SIGHUP stops like SIGTERM.\n"
        "\n"
        "Exit status: 0 stopped by a signal, 1 failure (or a second signal cut off clients\n"
        "in flight), 64 usage error (also: PROGRAM not found), 69 the address is held by a\n"
        "running server, 73 cannot create (the path exists and is not a socket, or its\n"
        "directory is missing), 77 permission denied.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Handler:"),
        { "--reply", 0, "TEXT", CLI_STRING(S, reply),
          .help = "answer each message with TEXT instead of echoing;\n"
                  "on a stream a message is a line (TEXT and a newline\n"
                  "per line, and for data left without a newline at\n"
                  "the end); on seqpacket and dgram it is one packet\n"
                  "(answered with exactly TEXT)" },
        { "--framed", 0, NULL, CLI_FLAG(S, framed),
          .help = "messages are frames: a 4-byte big-endian length,\n"
                  "then that many bytes; each is echoed, or answered\n"
                  "with TEXT as one frame (stream, seqpacket)" },
        CLI_OPT_TYPE(S, type, "stream (default), seqpacket or dgram"),
        CLI_TEXT("-- PROGRAM [ARG...]",
                 "run PROGRAM for each client, its stdin and stdout\n"
                 "the connection, stderr the server's (UCSPI, like\n"
                 "unixserver and s6-ipcserver); its environment has\n"
                 "PROTO=UNIX, UNIXREMOTEPID, UNIXREMOTEEUID,\n"
                 "UNIXREMOTEEGID, UNIXLOCALPATH, UNIXLOCALUID and\n"
                 "UNIXLOCALGID. Then --max-conns limits the programs\n"
                 "running, --drain-timeout is how long they get after\n"
                 "their SIGTERM, and -v logs each start and end"),
        CLI_LISTEN_ACCESS_SECTION(S),
        CLI_SECTION("Limits:"),
        CLI_INCLUDE(cli_listen_limit_opts, S, common, struct cli_listen_opts),
        CLI_INCLUDE(cli_listen_thread_opts, S, common, struct cli_listen_opts),
        { "--max-message", 0, "BYTES", CLI_SIZE(S, max_message, 1, 1L << 30),
          CLI_SEEN(S, max_message_given),
          .help = "longest line (--reply on a stream), frame\n"
                  "(--framed) or packet (seqpacket, dgram), K/M\n"
                  "suffixes (default 64K); a client over it is closed\n"
                  "and logged" },
        CLI_RUN_AS_SECTION(S),
        CLI_LISTEN_LOG_SECTION(S),
        CLI_END,
    },
};
#undef S

/* Options that make no sense together, and -- PROGRAM: a usage error, or CLI_CONTINUE. */
static int check_serve_args(struct serve_args *a, const struct cli_parsed *p) {
    if (p->dashdash && p->n_operands < 2)
        return cli_usage("serve", "missing PROGRAM after --; e.g. uds serve %s -- cat",
                         a->address);
    if (p->dashdash)
        a->program = p->operands + 1;
    if (a->program) {
        const char *which = a->reply ? "--reply" : a->framed ? "--framed" :
                            a->common.idle_ms > 0 ? "--idle-timeout" :
                            a->common.first_byte_given ? a->common.first_byte_given :
                            a->max_message_given;
        if (which)
            return cli_usage("serve", "%s does not go with -- PROGRAM: the program does the "
                             "talking; e.g. uds serve ADDRESS -- cat", which);
        if (a->type == UDS_DGRAM)
            return cli_usage("serve", "-- PROGRAM needs connections: --type stream or "
                             "seqpacket, not dgram");
    }
    if (a->framed && a->type == UDS_DGRAM)
        return cli_usage("serve", "--framed needs --type stream or seqpacket, not dgram");
    if (a->common.first_byte_given && a->type == UDS_DGRAM)
        return cli_usage("serve", "--first-byte-timeout needs connections: --type stream or "
                         "seqpacket, not dgram");
    if (a->common.backlog_given && a->type == UDS_DGRAM)
        return cli_usage("serve", "--backlog needs connections: --type stream or seqpacket, "
                         "not dgram");
    if (a->common.max_per_uid > 0 && a->type == UDS_DGRAM)
        return cli_usage("serve", "--max-conns-per-uid needs connections: --type stream or "
                         "seqpacket, not dgram");
    return cli_listen_opts_check_per_uid(&a->common, "serve");
}

/* Returns CLI_CONTINUE when the command should go on, else the exit code. */
static int parse_serve_args(int argc, char **argv, struct serve_args *a) {
    struct cli_parsed p;
    int code = cli_parse(&serve_cmd, argc, argv, a, &p);

    if (code == CLI_CONTINUE)
        code = check_serve_args(a, &p);
    if (code != CLI_CONTINUE || !a->reply)
        return code;
    a->reply_line_len = strlen(a->reply) + 1;
    a->reply_line = malloc(a->reply_line_len + 1);
    if (!a->reply_line)
        return cli_fail(CLI_OP_ANY, a->address, ENOMEM, NULL);
    snprintf(a->reply_line, a->reply_line_len + 1, "%s\n", a->reply);
    return CLI_CONTINUE;
}

/* ---- the command ----------------------------------------------------------------------- */

/* Returns CLI_CONTINUE when listening, else the exit code. */
static int start_listening(struct serve *sv) {
    const struct serve_args *a = sv->args;
    struct uds_addr addr;

    /* tcp: parses, to be refused by the library with a message that says why. */
    if (uds_addr_parse(a->address, UDS_ADDR_ALLOW_TCP, &addr) < 0)
        return cli_fail(CLI_OP_LISTEN, a->address, errno, NULL);
    int code = cli_listen_unix("serve", &a->common, a->address, &addr, a->type, "--type",
                               &sv->listener, sv->addr, sizeof(sv->addr));
    sv->abstract = sv->listener.addr.kind == UDS_ADDR_ABSTRACT;
    return code;
}

/* Readiness: the log line scripts wait for, --ready-fd, and systemd. */
static void announce_ready(struct serve *sv) {
    cli_listen_announce(&sv->args->common, sv->addr, sv->abstract, sv->args->type);
}

static int run_dgram(struct serve *sv, int sigfd) {
    sv->dgram_buf = malloc(sv->args->max_message);
    sv->loop = uds_loop_new();
    sv->own_loop = true;
    if (!sv->dgram_buf || !sv->loop)
        return cli_fail(CLI_OP_ANY, sv->addr, ENOMEM, NULL);
    /* The sender's pid/uid/gid for logs and allow-lists come with every datagram. */
    sv->dgram_in = (struct cli_dgram_in) {
        .fd = sv->listener.fd, .buf = sv->dgram_buf, .size = sv->args->max_message,
        .address = sv->addr, .fn = on_datagram, .data = sv,
    };
    if (cli_dgram_in_watch(&sv->dgram_in, sv->loop) < 0 || watch_stop(sv, sigfd) < 0)
        return cli_fail(CLI_OP_ANY, sv->addr, errno, NULL);
    announce_ready(sv);
    if (uds_loop_run(sv->loop) < 0)
        return cli_fail(CLI_OP_ANY, sv->addr, errno, NULL);
    sv->ran = true;
    return EX_OK;
}

static void log_drain_cut(const struct serve *sv) {
    char dur[32];

    if (sv->drain_cut == 0)
        return;
    cli_log(CLI_LOG_WARN, "drain_timeout", sv->addr, NULL, 0,
            "%s: --drain-timeout %s ran out: closed %zu connection%s still open, with %zu "
            "reply byte%s unsent; raise --drain-timeout to let slow clients finish",
            sv->addr, cli_format_duration(sv->args->common.drain_ms, dur, sizeof(dur)),
            sv->drain_cut, sv->drain_cut == 1 ? "" : "s", sv->drain_unsent,
            sv->drain_unsent == 1 ? "" : "s");
}

static int run_server(struct serve *sv, int sigfd) {
    const struct serve_args *a = sv->args;
    sv->lines = a->reply && a->type == UDS_STREAM && !a->framed;
    sv->first_byte_ms = cli_listen_opts_first_byte_ms(&a->common, SERVE_FIRST_BYTE_MS);
    struct uds_server_opts sopts = {
        .max_conns = (size_t) a->common.max_conns,
        .idle_timeout_ms = a->common.idle_ms,
        /* 0 asks the library for its default; "--drain-timeout 0" means no waiting. */
        .drain_timeout_ms = a->common.drain_ms > 0 ? a->common.drain_ms : 1,
        .read_size = a->type == UDS_SEQPACKET ? a->max_message : 0,
        .allow = uds_allow_is_set(&sv->allow) ? &sv->allow : NULL,
        .peer_flags = cli_listen_opts_peer_flags(&a->common),
        .max_message = (uint32_t) a->max_message,
        .flags = sv->lines ? UDS_SERVER_LINES : 0,
        .first_byte_timeout_ms = sv->first_byte_ms,
        .threads = cli_listen_opts_threads(&a->common),
    };
    struct uds_server_callbacks cbs = {
        .on_open = on_open,
        .on_data = a->framed || sv->lines ? NULL : on_data,
        .on_message = a->framed ? on_message : sv->lines ? on_line : NULL,
        .on_close = on_close,
        .on_deny = on_deny,
        .on_accept_error = on_accept_error,
    };

    sv->server = uds_server_new(NULL, &sv->listener, &sopts, &cbs, sv);
    if (!sv->server)
        return cli_fail(CLI_OP_ANY, sv->addr, errno, NULL);
    sv->loop = uds_server_loop(sv->server);
    if (watch_stop(sv, sigfd) < 0)
        return cli_fail(CLI_OP_ANY, sv->addr, errno, NULL);
    announce_ready(sv);
    if (uds_server_run(sv->server) < 0)
        return cli_fail(CLI_OP_ANY, sv->addr, errno, NULL);
    sv->ran = true;
    log_drain_cut(sv);
    return sv->stop.cut_off ? CLI_EXIT_FAILURE : EX_OK;
}

/* -- PROGRAM: the server only accepts and hands each connection to a new process; the loop is
 * ours, since it outlives the server's stop while the children finish. */
static int run_exec(struct serve *sv, int sigfd) {
    const struct serve_args *a = sv->args;
    struct uds_server_opts sopts = cli_listen_opts_server(&a->common, &sv->allow);
    struct uds_server_callbacks cbs = {
        .on_open = on_open_exec,
        .on_deny = on_deny,
        .on_accept_error = on_accept_error,
    };

    sv->loop = uds_loop_new();
    sv->own_loop = true;
    if (!sv->loop)
        return cli_fail(CLI_OP_ANY, sv->addr, errno, NULL);
    sv->server = uds_server_new(sv->loop, &sv->listener, &sopts, &cbs, sv);
    if (!sv->server || watch_stop(sv, sigfd) < 0)
        return cli_fail(CLI_OP_ANY, sv->addr, errno, NULL);
    announce_ready(sv);
    if (uds_loop_run(sv->loop) < 0)
        return cli_fail(CLI_OP_ANY, sv->addr, errno, NULL);
    sv->ran = true;
    return sv->stop.cut_off ? CLI_EXIT_FAILURE : EX_OK;
}

/* -- PROGRAM, found before the socket exists: a typo is a usage error, not a server that
 * fails every client. Returns CLI_CONTINUE, or the exit code. */
static int prepare_exec(struct serve *sv) {
    const struct serve_args *a = sv->args;
    struct uds_addr addr;
    char local[UDS_PATH_MAX + 8];

    /* UNIXLOCALPATH is the address as given (in its canonical form), as ucspi-unix has it. */
    if (uds_addr_parse(a->address, 0, &addr) < 0)
        return cli_fail(CLI_OP_LISTEN, a->address, errno, NULL);
    uds_addr_format(&addr, local, sizeof(local));
    sv->program_name = a->program[0];
    /* Before cli_raise_nofile(): the programs keep the open-file limit we were given. */
    sv->exec = uds_spawner_new(a->program, local, NULL);
    if (sv->exec)
        return CLI_CONTINUE;
    if (errno == ENOENT)
        return cli_usage("serve", "%s: no such program%s", a->program[0],
                         strchr(a->program[0], '/') ? "" : " in PATH");
    if (errno == EACCES)
        return cli_usage("serve", "%s: not an executable file", a->program[0]);
    return cli_fail(CLI_OP_ANY, a->address, errno, NULL);
}

/* --user, now that the socket is made: every client is served, and every program run, as
 * that user. PROGRAM was found as we were; one the user may not run is said now, not at
 * each client. Returns CLI_CONTINUE, or the exit code. */
static int become_user(struct serve *sv) {
    const struct serve_args *a = sv->args;
    int code = cli_run_as_drop(&a->run_as, &sv->listener, sv->addr);

    if (code != CLI_CONTINUE || !sv->exec ||
        faccessat(AT_FDCWD, uds_spawner_path(sv->exec), X_OK, AT_EACCESS) == 0)
        return code;
    cli_error(uds_spawner_path(sv->exec), "let the user of --user run it, or choose another",
              "%s (--user) may not run it: %s", a->run_as.given, strerror(errno));
    return EX_NOPERM;
}

int cmd_serve(int argc, char **argv) {
    struct serve_args args = {
        .type = UDS_STREAM,
        .max_message = 64 * 1024,
    };
    struct serve sv = { .args = &args, .lock = PTHREAD_MUTEX_INITIALIZER };
    int code, sigfd = -1;

    cli_listen_opts_init(&args.common);
    uds_listener_init(&sv.listener);
    code = parse_serve_args(argc, argv, &args);
    if (code != CLI_CONTINUE)
        goto out;
    cli_listen_opts_log_setup(&args.common);
    sv.allow = cli_listen_opts_allow(&args.common);
    code = cli_run_as_check(&args.run_as);
    if (code != CLI_CONTINUE)
        goto out;

    /* Before the socket exists, so a stop signal can never leave it behind. */
    sigfd = cli_signalfd(args.program != NULL);
    if (sigfd < 0) {
        code = cli_fail(CLI_OP_ANY, args.address, errno, NULL);
        goto out;
    }
    if (args.program) {
        code = prepare_exec(&sv);
        if (code != CLI_CONTINUE)
            goto out;
    }
    if (args.type != UDS_DGRAM && !(sv.uids = uds_uid_counter_new())) {
        code = cli_fail(CLI_OP_ANY, args.address, errno, NULL);
        goto out;
    }
    cli_raise_nofile(&args.common, 1, FD_MARGIN);
    code = start_listening(&sv);
    if (code == CLI_CONTINUE)
        code = become_user(&sv);
    if (code != CLI_CONTINUE)
        goto out;
    if (args.program)
        code = run_exec(&sv, sigfd);
    else if (args.type == UDS_DGRAM)
        code = run_dgram(&sv, sigfd);
    else
        code = run_server(&sv, sigfd);
    if (sv.ran)
        cli_log(CLI_LOG_INFO, "stopped", sv.addr, NULL, 0, "%s: stopped", sv.addr);
out:
    if (sv.server)
        uds_server_free(sv.server);     /* also its listener, and its loop unless ours */
    else
        uds_unlisten(&sv.listener);     /* uds_server_new() leaves it to us when it fails */
    if (sv.own_loop)
        uds_loop_free(sv.loop);
    if (sigfd >= 0)
        (void) close(sigfd);    /* nothing is pending on it that matters any more */
    uds_spawner_free(sv.exec);
    uds_uid_counter_free(sv.uids);
    free(sv.dgram_buf);
    serve_args_done(&args);
    return code;
}
