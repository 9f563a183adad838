/* SPDX-License-Identifier: MIT */
/*
 * framed_echo.c — a message echo server and its client, in one program. On a stream
 * socket a message is a frame: a 4-byte big-endian payload length, then the payload (any
 * bytes, any length up to a limit, empty included), so any language can speak it. The
 * server runs in message mode: on_message gets each message whole, and a frame longer than
 * the limit closes that connection before anything is allocated for it. The client sends
 * each argument as one message and prints each echo on a line. SIGTERM or SIGINT stop the
 * server gracefully.
 *
 *   framed_echo serve ADDRESS
 *   framed_echo client ADDRESS MESSAGE...
 */
/* strsignal() and sigprocmask() are POSIX.1-2008, not ISO C: under -std=c11 they
 * are declared only when asked for. */
#define _POSIX_C_SOURCE 200809L

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <udskit.h>

#define MAX_MESSAGE (1u << 20)  /* 1 MiB, both ways */

static void on_message(struct uds_conn *conn, const void *msg, size_t len, void *data) {
    (void) data;
    /* Copied into the connection's send queue: msg may go away when we return. */
    if (uds_conn_send_message(conn, msg, len) < 0)
        warn("echo to pid %d", (int) uds_conn_peer(conn)->pid);
}

static void on_close(struct uds_conn *conn, int error, void *data) {
    (void) data;
    /* EMSGSIZE: a frame over MAX_MESSAGE; EPROTO: the stream ended inside a frame. */
    if (error != 0)
        fprintf(stderr, "framed_echo: pid %d: connection closed: %s\n",
                (int) uds_conn_peer(conn)->pid, strerror(error));
}

static void on_signal(struct uds_loop *loop, int fd, unsigned events, void *data) {
    struct signalfd_siginfo si;

    (void) loop;
    (void) events;
    if (read(fd, &si, sizeof(si)) != (ssize_t) sizeof(si))
        return;
    fprintf(stderr, "framed_echo: %s, stopping\n", strsignal((int) si.ssi_signo));
    (void) uds_server_stop(data, true);
}

static int serve(const char *address) {
    struct uds_listener listener;
    struct uds_server_callbacks cb = { .on_message = on_message, .on_close = on_close };
    struct uds_server_opts opts = { .max_message = MAX_MESSAGE };
    sigset_t mask;

    /* Stop signals go to a signalfd watched by the server's own loop (see hello_server.c). */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        err(1, "sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        err(1, "signalfd");

    if (uds_listen(address, NULL, &listener, NULL) < 0)     /* defaults: stream, 0600 */
        err(1, "%s", address);
    struct uds_server *server = uds_server_new(NULL, &listener, &opts, &cb, NULL);
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
    fprintf(stderr, "framed_echo: listening on %s\n", address);
    int rc = uds_server_run(server);
    if (rc < 0)
        warn("server loop");
    uds_server_free(server);
    (void) close(sfd);
    return rc < 0;
}

static int client(const char *address, int n, char **messages) {
    struct uds_connect_opts opts = { .wait_ms = 5000 };

    int fd = uds_connect(address, &opts);
    if (fd < 0)
        err(1, "%s", address);
    for (int i = 0; i < n; i++) {
        void *echo;
        size_t len;

        if (uds_frame_send(fd, messages[i], strlen(messages[i])) < 0)
            err(1, "%s: send", address);
        int got = uds_frame_recv(fd, MAX_MESSAGE, &echo, &len);
        if (got < 0)
            err(1, "%s: receive", address);
        if (got == 0)
            errx(1, "%s: the server closed the connection", address);
        if (printf("%.*s\n", (int) len, (const char *) echo) < 0)
            err(1, "stdout");
        free(echo);
    }
    if (fflush(stdout) == EOF)
        err(1, "stdout");
    if (close(fd) < 0)
        err(1, "close");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "client") == 0)
        return client(argv[2], argc - 3, argv + 3);
    fprintf(stderr, "usage: framed_echo serve ADDRESS\n"
                    "       framed_echo client ADDRESS MESSAGE...\n");
    return 64;
}
