/* SPDX-License-Identifier: MIT */
/*
 * hello_server.c — the tutorial's server on libudskit: it answers each message with
 * "Hello from server!". Where the tutorial unlinks blindly, binds, chmods late and takes one
 * read() for a message, this one listens safely (a stale socket file is replaced, a live
 * server or a file that is not a socket is left alone, the file never has a wider mode than
 * 0600), serves many clients on one thread, and speaks length-prefixed messages: the server's
 * message mode hands over each message whole, however the bytes were split on the way (the
 * tutorial's read() may see half a message, or two). SIGTERM or SIGINT stop it cleanly:
 * clients in flight are answered, then the socket file is removed.
 *
 *   hello_server [ADDRESS]          (default /tmp/mysock; hello_client is its client)
 */
/* strsignal() and sigprocmask() are POSIX.1-2008, not ISO C: under -std=c11 they
 * are declared only when asked for. */
#define _POSIX_C_SOURCE 200809L

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <udskit.h>

static const char reply[] = "Hello from server!";

/* One whole message from a client: msg is valid during this call only. */
static void on_message(struct uds_conn *conn, const void *msg, size_t len, void *data) {
    (void) data;
    fprintf(stderr, "hello_server: pid %d says \"%.*s\"\n", (int) uds_conn_peer(conn)->pid,
            (int) len, (const char *) msg);
    /* Queued and sent by the server's loop; a client that vanished makes this fail, and the
     * server then closes that connection itself. */
    if (uds_conn_send_message(conn, reply, strlen(reply)) < 0)
        warn("reply to pid %d", (int) uds_conn_peer(conn)->pid);
}

/* A connection ended: error is 0 when the client simply closed it. */
static void on_close(struct uds_conn *conn, int error, void *data) {
    (void) data;
    if (error != 0)
        fprintf(stderr, "hello_server: pid %d: connection closed: %s\n",
                (int) uds_conn_peer(conn)->pid, strerror(error));
}

/* SIGTERM or SIGINT arrived on the signalfd: stop gracefully. uds_server_run() returns once
 * every connection has finished (or the drain timeout passed). */
static void on_signal(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct uds_server *server = data;
    struct signalfd_siginfo si;

    (void) loop;
    (void) events;
    if (read(fd, &si, sizeof(si)) != (ssize_t) sizeof(si))
        return;     /* nothing there after all (the fd is non-blocking) */
    fprintf(stderr, "hello_server: %s, stopping\n", strsignal((int) si.ssi_signo));
    (void) uds_server_stop(server, true);   /* never fails on a live server */
}

int main(int argc, char **argv) {
    const char *address = argc > 1 ? argv[1] : "/tmp/mysock";
    struct uds_listener listener;
    struct uds_listen_info info;
    struct uds_listen_opts lopts = {
        .mode = 0600,   /* only our own user may connect; use 0660 and .group to share */
    };
    struct uds_server_callbacks cb = {
        .on_message = on_message,   /* message mode: one call per whole message */
        .on_close = on_close,
    };
    struct uds_server_opts sopts = {
        .max_message = 4096,        /* a longer message closes that connection (EMSGSIZE) */
    };
    sigset_t mask;

    /* Block the stop signals before anything else, so that they wait for the signalfd
     * instead of killing us between uds_listen() and the loop (leaving the socket file). */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        err(1, "sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        err(1, "signalfd");

    if (uds_listen(address, &lopts, &listener, &info) < 0) {
        if (errno == EADDRINUSE && info.holder_pid > 0)
            errx(1, "%s: in use by a running server (pid %d)", address, (int) info.holder_pid);
        if (errno == EEXIST)
            errx(1, "%s: exists and is not a socket; left alone", address);
        err(1, "%s", address);
    }
    if (info.removed_stale)
        fprintf(stderr, "hello_server: %s: removed a stale socket file\n", address);

    /* NULL loop: the server makes its own; the listener now belongs to the server. */
    struct uds_server *server = uds_server_new(NULL, &listener, &sopts, &cb, NULL);
    if (!server) {
        warn("server");
        (void) uds_unlisten(&listener);     /* on failure the listener is still ours */
        return 1;
    }
    if (uds_loop_add(uds_server_loop(server), sfd, UDS_EV_READ, on_signal, server) < 0) {
        warn("signalfd in the loop");
        uds_server_free(server);            /* also removes the socket file */
        return 1;
    }

    fprintf(stderr, "hello_server: listening on %s\n", address);
    int rc = uds_server_run(server);
    if (rc < 0)
        warn("server loop");
    uds_server_free(server);    /* the loop does not close the fds it watched: */
    (void) close(sfd);          /* the signalfd is ours */
    return rc < 0;
}
