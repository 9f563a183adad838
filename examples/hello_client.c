/* SPDX-License-Identifier: MIT */
/*
 * hello_client.c — the tutorial's client on libudskit: it sends "Hi server!" to
 * hello_server and prints the reply. uds_connect() waits up to five seconds for the server
 * to appear, so a script can start both at once without a sleep; every failure says what
 * went wrong. The request and the reply are length-prefixed messages (uds_frame_send(),
 * uds_frame_recv()): a 4-byte big-endian length, then the bytes. The tutorial's single
 * read() is not "the reply" — a stream has no message boundaries, and a read may return
 * part of one — while a frame arrives whole or not at all. (A line protocol would work too,
 * but then the payload may not contain a newline, and the reader must search for it.)
 *
 *   hello_client [ADDRESS]          (default /tmp/mysock)
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udskit.h>

int main(int argc, char **argv) {
    const char *address = argc > 1 ? argv[1] : "/tmp/mysock";
    const char request[] = "Hi server!";
    struct uds_connect_opts opts = {
        .wait_ms = 5000,    /* retry while the server is not there yet (no sleep needed) */
    };
    void *reply;
    size_t len;

    int fd = uds_connect(address, &opts);
    if (fd < 0)
        err(1, "%s", address);
    if (uds_frame_send(fd, request, strlen(request)) < 0)
        err(1, "%s: send", address);
    /* At most 4096 bytes: a server cannot make us allocate more than that. */
    int got = uds_frame_recv(fd, 4096, &reply, &len);
    if (got < 0)
        err(1, "%s: receive", address);
    if (got == 0)
        errx(1, "%s: the server closed the connection without replying", address);
    /* reply is NUL-terminated for convenience; print it as the bytes it is. */
    if (printf("%.*s\n", (int) len, (const char *) reply) < 0 || fflush(stdout) == EOF)
        err(1, "stdout");
    free(reply);
    if (close(fd) < 0)
        err(1, "close");
    return 0;
}
