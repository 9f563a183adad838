/* SPDX-License-Identifier: MIT */
/*
 * dgram_in.c — datagrams read for a datagram server: uds_dgram_recv() on a loop with a
 * budget per wakeup; the library takes the sender's credentials and closes the fds it
 * passed.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dgram_in.h"
#include "log.h"

/* Receive one datagram into in->buf and hand it to in->fn. Returns what fn returned, or
 * false when nothing more can be read now. */
static bool receive_one(struct cli_dgram_in *in) {
    struct uds_datagram dg;

    if (uds_dgram_recv(in->fd, in->buf, in->size, UDS_DGRAM_DONTWAIT, &dg) < 0) {
        if (errno != EAGAIN)
            cli_log(CLI_LOG_WARN, "recv_error", in->address, NULL, 0, "%s: receiving: %s",
                    in->address, strerror(errno));
        return false;
    }
    return in->fn(&dg, in->buf, in->data);
}

static void on_readable(struct uds_loop *loop, int fd, unsigned events, void *data) {
    (void) loop, (void) fd, (void) events;
    /* A budget per wakeup, so a flood cannot starve the signalfd. */
    for (int budget = 32; budget > 0; budget--)
        if (!receive_one(data))
            return;
}

int cli_dgram_in_watch(struct cli_dgram_in *in, struct uds_loop *loop) {
    int on = 1;

    if (setsockopt(in->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
        return -1;
    return uds_loop_add(loop, in->fd, UDS_EV_READ, on_readable, in);
}

size_t cli_dgram_sender_name(const struct sockaddr_un *from, socklen_t len, char *out,
                             size_t size) {
    size_t n = len > offsetof(struct sockaddr_un, sun_path)
                   ? len - offsetof(struct sockaddr_un, sun_path) : 0;

    if (n == 0 || size < n + 1)
        return 0;
    if (from->sun_path[0] == '\0') {
        out[0] = '@';
        memcpy(out + 1, from->sun_path + 1, n - 1);
        return n;
    }
    n = strnlen(from->sun_path, n);
    memcpy(out, from->sun_path, n);
    return n;
}
