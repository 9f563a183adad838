/* SPDX-License-Identifier: MIT */
/*
 * dgram_in.h — the receiving side of a datagram server (uds serve and uds listen on a dgram
 * socket): datagrams read on a loop (uds_dgram_recv()), a budget of them per wakeup, each
 * with its sender's address and credentials (SO_PASSCRED). What to do with one is the
 * command's.
 */
#ifndef UDS_CLI_DGRAM_IN_H
#define UDS_CLI_DGRAM_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <udskit.h>

/* Called for each datagram (its bytes at data, valid during the call; fds it passed are
 * closed already); returns false to read no more in this wakeup. */
typedef bool cli_datagram_fn(const struct uds_datagram *dg, const char *data, void *ctx);

/* A bound dgram socket read into buf (size bytes: the longest datagram kept whole). */
struct cli_dgram_in {
    int fd;
    char *buf;
    size_t size;
    const char *address;                /* for the log line of a failing receive */
    cli_datagram_fn *fn;
    void *data;
};

/* Ask for the senders' credentials on in->fd (SO_PASSCRED) and watch it on loop; in must
 * outlive the watch. Fds a sender passes are closed: nobody asked for them. Returns 0, or
 * -1 with errno. */
int cli_dgram_in_watch(struct cli_dgram_in *in, struct uds_loop *loop);

/* The sender's address as it bound it: a path, "@" and an abstract name (any bytes), or
 * nothing (an unbound sender), into out (not NUL-terminated). Returns its length, 0 for
 * none or when it does not fit in size. */
size_t cli_dgram_sender_name(const struct sockaddr_un *from, socklen_t len, char *out,
                             size_t size);

#endif
