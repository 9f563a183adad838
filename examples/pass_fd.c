/* SPDX-License-Identifier: MIT */
/*
 * pass_fd.c — one process hands an open file to another over a Unix socket (SCM_RIGHTS).
 * The parent forks first and only then opens FILE, so the child has no way to the file but
 * the message; the parent sends one framed message (the file's name) with the fd attached
 * (uds_frame_send_fds()), and the child receives both (uds_frame_recv_fds()) and copies the
 * file to its standard output by reading the fd. What travels is the open file itself, with
 * the access checked when the parent opened it: the child needs no permission on FILE, and
 * the file may be renamed or deleted in between. The same calls work over a named socket
 * between unrelated processes.
 *
 *   pass_fd FILE
 */
/* O_CLOEXEC is POSIX.1-2008, not ISO C: under -std=c11 it is
 * declared only when asked for. */
#define _POSIX_C_SOURCE 200809L

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udskit.h>

/* The receiver: one message and at most one fd; then read the file through that fd. */
static int receive(int sock) {
    void *name;
    size_t len, n_fds;
    int fd;
    char buf[65536];
    ssize_t n;

    /* max_fds 1: a sender that attaches more fails the call (EMSGSIZE), and the library
     * closes every fd that came, so nothing leaks into this process. */
    int got = uds_frame_recv_fds(sock, 4096, &name, &len, &fd, 1, &n_fds);
    if (got < 0)
        err(1, "receive");
    if (got == 0)
        errx(1, "the sender closed the socket without sending anything");
    if (n_fds != 1)
        errx(1, "a message without an fd");
    fprintf(stderr, "pass_fd: received fd %d for %s\n", fd, (const char *) name);
    free(name);

    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0)
            err(1, "read");
        if (fwrite(buf, 1, (size_t) n, stdout) != (size_t) n)
            err(1, "stdout");
    }
    if (fflush(stdout) == EOF)
        err(1, "stdout");
    if (close(fd) < 0)
        err(1, "close");
    return 0;
}

/* The sender: open the file, send it, close our copy (the receiver's copy stays open). */
static int send_file(int sock, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        warn("%s", path);
        return -1;
    }
    if (uds_frame_send_fds(sock, path, strlen(path), &fd, 1) < 0) {
        warn("send");
        (void) close(fd);
        return -1;
    }
    return close(fd);
}

int main(int argc, char **argv) {
    int sv[2], status;

    if (argc != 2) {
        fprintf(stderr, "usage: pass_fd FILE\n");
        return 64;
    }
    /* A connected pair of stream sockets: sv[0] for the parent, sv[1] for the child. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        err(1, "socketpair");
    pid_t pid = fork();
    if (pid < 0)
        err(1, "fork");
    if (pid == 0) {
        (void) close(sv[0]);
        exit(receive(sv[1]));
    }
    (void) close(sv[1]);
    /* On failure the child sees the end of the stream and says so. */
    int rc = send_file(sv[0], argv[1]) < 0;
    if (close(sv[0]) < 0)
        err(1, "close");
    if (waitpid(pid, &status, 0) < 0)
        err(1, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = 1;
    return rc;
}
