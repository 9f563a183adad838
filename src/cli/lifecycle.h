/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.h — the life of a long-running command (serve, proxy) after its socket exists:
 * readiness told to whoever waits for it (--ready-fd, systemd's READY=1), and the stop:
 * SIGTERM, SIGINT and SIGHUP read from a signalfd as ordinary loop events, STOPPING=1, a
 * drain on the first signal and an immediate stop on the second, with the same words in
 * every command.
 */
#ifndef UDS_CLI_LIFECYCLE_H
#define UDS_CLI_LIFECYCLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udskit.h>

struct cli_listen_opts;

/* Block SIGTERM, SIGINT and SIGHUP (and SIGCHLD with children) and return a signalfd
 * (close-on-exec, non-blocking) that receives them, or -1 (errno). A server's stop then runs
 * as ordinary loop code. SIGINT and SIGTERM are reset to their default disposition. */
int cli_signalfd(bool children);
/* "SIGTERM", "SIGINT", "SIGHUP", or "a signal". */
const char *cli_signal_name(uint32_t signo);

/* Readiness, after the command's "listening on" line: a newline to --ready-fd (closed
 * then), and READY=1 to $NOTIFY_SOCKET. */
void cli_signal_ready(const struct cli_listen_opts *opts, const char *text);

/* Readiness of a listener of type at text (serve, listen): the warning for access left
 * open, the "listening on TEXT" line scripts wait for (with the type and the pid), then
 * cli_signal_ready(). */
void cli_listen_announce(const struct cli_listen_opts *opts, const char *text, bool abstract,
                         enum uds_socket_type type);

/* state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET when set; a failure is logged. */
void cli_notify(const char *state);

/* How a command stops on its signals. The command fills in the first part; the rest is
 * lifecycle.c's. On the first stop signal: STOPPING=1, "ADDRESS: stopping on SIGTERM: no
 * new clients, finishing N connections (up to DRAIN...)", then drain(); on each later one:
 * "ADDRESS: SIGTERM again: stopping now, closing N connections", then now(). */
struct cli_stop {
    const char *address;            /* for the log lines */
    int drain_ms;                   /* --drain-timeout, for the words */
    size_t (*count)(void *data);    /* connections open now; NULL: none to speak of */
    void (*drain)(void *data);      /* no new clients; finish those open, then end the loop */
    void (*now)(void *data);        /* close everything and end the loop */
    /* Replaces the words and the two calls above (for a command whose stop is not a
     * drain of connections); stop->signals counts this signal already. May be NULL. */
    void (*on_stop)(struct cli_stop *stop, const char *signal_name, void *data);
    void (*on_child)(void *data);   /* SIGCHLD (one may stand for many children); may be
                                     * NULL */
    bool (*on_hup)(void *data);     /* SIGHUP: true when it was taken as a reload, not a
                                     * stop (uds proxy's certificates); may be NULL */
    void *data;
    _Atomic unsigned signals;       /* stop signals received (read by worker threads) */
    bool cut_off;                   /* a second signal closed connections in flight */
};

/* The drain has run out with conns connections still open, about to be closed: "ADDRESS: N
 * connections still open after DRAIN (--drain-timeout): closing them". */
void cli_log_drain_timeout(const char *address, size_t conns, int drain_ms);

/* Watch sigfd (from cli_signalfd()) on loop for stop; stop must outlive the watch.
 * Returns 0, or -1 with errno (those of uds_loop_add()). */
int cli_stop_watch(struct cli_stop *stop, struct uds_loop *loop, int sigfd);
/* At the end of a command: free loop (NULL is fine) and close sigfd (-1 is fine), which
 * may be watched on it. */
void cli_signalfd_close(int sigfd, struct uds_loop *loop);

#endif
