/* SPDX-License-Identifier: MIT */
/*
 * activated_server.c — an echo server that a service manager may start on demand. Under
 * systemd (a .socket unit) or systemd-socket-activate, the manager binds the socket itself
 * and passes it as fd 3 with LISTEN_FDS and LISTEN_PID set: the server adopts that fd
 * instead of binding, so clients can connect before it even runs and none is refused while
 * it restarts. Started by hand, it listens on ADDRESS itself. Either way it announces
 * "READY=1" to $NOTIFY_SOCKET once it serves (Type=notify), echoes every byte back, and
 * stops gracefully on SIGTERM or SIGINT. A socket it adopted is the manager's: it is
 * closed, never removed; one it bound itself is removed on exit.
 *
 *   activated_server [ADDRESS]      (ADDRESS only used when no socket is passed)
 */
/* strsignal() and sigprocmask() are POSIX.1-2008, not ISO C: under -std=c11 they
 * are declared only when asked for. */
#define _POSIX_C_SOURCE 200809L

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <udskit.h>

/* Echo: the bytes go back as they came; the server keeps a client that does not read its
 * echoes from making us buffer without bound (it stops reading that client meanwhile). */
static void on_data(struct uds_conn *conn, const void *buf, size_t len, void *data) {
    (void) data;
    if (uds_conn_send(conn, buf, len) < 0)
        warn("echo to pid %d", (int) uds_conn_peer(conn)->pid);
}

static void on_signal(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct signalfd_siginfo si;

    (void) loop;
    (void) events;
    if (read(fd, &si, sizeof(si)) != (ssize_t) sizeof(si))
        return;
    fprintf(stderr, "activated_server: %s, stopping\n", strsignal((int) si.ssi_signo));
    if (uds_notify("STOPPING=1") < 0)
        warn("notify STOPPING=1");
    (void) uds_server_stop(data, true);
}

/* The listening socket: the one passed by a service manager, else our own. */
static int get_listener(const char *address, struct uds_listener *ret_listener) {
    struct uds_activation act;

    /* UNSET_ENV: the LISTEN_* variables describe this process only; a child we might start
     * must not believe the fds are meant for it. Call this before starting any thread. */
    int n = uds_activation_get(UDS_ACTIVATION_UNSET_ENV, &act);
    if (n < 0) {
        warn("socket activation");
        return -1;
    }
    if (n == 0) {
        if (!address) {
            warnx("no socket was passed (LISTEN_FDS) and no ADDRESS given");
            return -1;
        }
        if (uds_listen(address, NULL, ret_listener, NULL) < 0) {
            warn("%s", address);
            return -1;
        }
        fprintf(stderr, "activated_server: not socket-activated; listening on %s\n", address);
        return 0;
    }
    /* NULL: the first fd that is a listening AF_UNIX socket, whatever its name. */
    int fd = uds_activation_listener(&act, NULL, ret_listener);
    if (fd < 0)
        warn("no usable socket among the %d passed", n);
    /* Whatever we did not take is still open and ours: close it rather than leak it. */
    for (size_t i = 0; i < act.n_fds; i++) {
        if (act.fds[i] >= 0)
            (void) close(act.fds[i]);
    }
    uds_activation_done(&act);
    if (fd < 0)
        return -1;
    char name[UDS_PATH_MAX + 2];
    if (uds_addr_format(&ret_listener->addr, name, sizeof(name)) < 0)
        strcpy(name, "(unnamed)");
    fprintf(stderr, "activated_server: socket-activated: serving fd %d, %s\n", fd, name);
    return 0;
}

int main(int argc, char **argv) {
    struct uds_listener listener;
    struct uds_server_callbacks cb = { .on_data = on_data };
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        err(1, "sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        err(1, "signalfd");

    if (get_listener(argc > 1 ? argv[1] : NULL, &listener) < 0)
        return 1;
    if (listener.type == UDS_DGRAM) {
        warnx("the socket is a datagram socket; this server serves connections");
        (void) uds_unlisten(&listener);
        return 1;
    }
    struct uds_server *server = uds_server_new(NULL, &listener, NULL, &cb, NULL);
    if (!server) {
        warn("server");
        (void) uds_unlisten(&listener);
        return 1;
    }
    if (uds_loop_add(uds_server_loop(server), sfd, UDS_EV_READ, on_signal, server) < 0) {
        warn("signalfd in the loop");
        uds_server_free(server);
        return 1;
    }
    /* Only now can we serve: a Type=notify unit counts as started from here. 0 means no
     * manager asked (NOTIFY_SOCKET unset); a failure is worth a warning, not an exit. */
    if (uds_notify("READY=1") < 0)
        warn("notify READY=1");

    int rc = uds_server_run(server);
    if (rc < 0)
        warn("server loop");
    uds_server_free(server);
    (void) close(sfd);
    return rc < 0;
}
