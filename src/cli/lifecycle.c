/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.c — readiness and the stop of a long-running command (serve, proxy): the stop
 * signals received on a signalfd, STOPPING=1, and the words said on the first signal (a
 * drain) and the second (now). What stopping does to connections is the command's.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "lifecycle.h"
#include "listen_opts.h"
#include "log.h"

int cli_signalfd(bool children) {
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (children)
        sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    /* A shell starts background jobs with SIGINT ignored, and an ignored signal is
     * discarded even while blocked: take it back so `kill -INT` stops us. SIGHUP stays
     * ignored if it was (nohup). */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

const char *cli_signal_name(uint32_t signo) {
    switch (signo) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    }
    return "a signal";
}

void cli_notify(const char *state) {
    if (uds_notify(state) < 0)
        cli_log(CLI_LOG_WARN, "notify", NULL, NULL, 0, "NOTIFY_SOCKET=%s: cannot send %s: %s",
                getenv("NOTIFY_SOCKET"), state, strerror(errno));
}

void cli_signal_ready(const struct cli_listen_opts *o, const char *text) {
    if (o->ready_fd >= 0) {
        int fd = (int) o->ready_fd;
        if (write(fd, "\n", 1) != 1)
            cli_log(CLI_LOG_WARN, "ready_fd", text, NULL, 0, "--ready-fd %d: cannot write: %s",
                    fd, strerror(errno));
        (void) close(fd);   /* the close is the rest of the signal; nothing to retry */
    }
    cli_notify("READY=1");
}

void cli_listen_announce(const struct cli_listen_opts *o, const char *text, bool abstract,
                         enum uds_socket_type type) {
    struct cli_kv kv[] = {
        CLI_KV_STR("type", uds_socket_type_name(type)),
        CLI_KV_NUM("pid", getpid()),
    };

    cli_warn_open_access(o, text, abstract);
    cli_log(CLI_LOG_INFO, "listening", text, kv, 2, "listening on %s", text);
    cli_signal_ready(o, text);
}

static void say_stop(struct cli_stop *st, const char *name) {
    size_t conns = st->count ? st->count(st->data) : 0;
    struct cli_kv kv[] = {
        CLI_KV_STR("signal", name),
        CLI_KV_NUM("connections", conns),
    };
    const char *s = conns == 1 ? "" : "s";
    char dur[32];

    if (st->signals > 1) {
        cli_log(CLI_LOG_INFO, "stopping_now", st->address, kv, 2, "%s: %s again: stopping "
                "now, closing %zu connection%s", st->address, name, conns, s);
        if (conns > 0)
            st->cut_off = true;
        st->now(st->data);
        return;
    }
    cli_notify("STOPPING=1");
    if (!st->count)
        cli_log(CLI_LOG_INFO, "stopping", st->address, kv, 1, "%s: stopping on %s",
                st->address, name);
    else
        cli_log(CLI_LOG_INFO, "stopping", st->address, kv, 2, "%s: stopping on %s: no new "
                "clients, finishing %zu connection%s (up to %s; a second signal stops at once)",
                st->address, name, conns, s,
                cli_format_duration(st->drain_ms, dur, sizeof(dur)));
    st->drain(st->data);
}

static void on_signal(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct cli_stop *st = data;
    struct signalfd_siginfo si;

    (void) loop, (void) events;
    while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            if (st->on_child)
                st->on_child(st->data);
            continue;
        }
        if (si.ssi_signo == SIGHUP && st->on_hup && st->on_hup(st->data))
            continue;
        st->signals++;
        if (st->on_stop)
            st->on_stop(st, cli_signal_name(si.ssi_signo), st->data);
        else
            say_stop(st, cli_signal_name(si.ssi_signo));
    }
}

void cli_log_drain_timeout(const char *address, size_t conns, int drain_ms) {
    char dur[32];

    cli_log(CLI_LOG_INFO, "drain_timeout", address, NULL, 0, "%s: %zu connection%s still open "
            "after %s (--drain-timeout): closing them", address, conns, conns == 1 ? "" : "s",
            cli_format_duration(drain_ms, dur, sizeof(dur)));
}

int cli_stop_watch(struct cli_stop *st, struct uds_loop *loop, int sigfd) {
    return uds_loop_add(loop, sigfd, UDS_EV_READ, on_signal, st);
}

void cli_signalfd_close(int sigfd, struct uds_loop *loop) {
    if (loop && sigfd >= 0)
        (void) uds_loop_del(loop, sigfd);
    uds_loop_free(loop);
    if (sigfd >= 0)
        (void) close(sigfd);
}
