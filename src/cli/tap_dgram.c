/* SPDX-License-Identifier: MIT */
/*
 * tap_dgram.c — `uds tap` in front of a datagram server: the library's datagram relay
 * (uds_dgram_relay_new()) does the relaying, a socket to the server for each sender and
 * the answers back; here each sender becomes one of the tap's numbered clients, and every
 * datagram the relay's observer is shown is printed and captured as one UDP datagram.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "dgram_drops.h"
#include "tap.h"

#define FDS_SHOWN 16

/* A sender as the tap shows it (the relay's sender_data). */
struct tap_sender {
    struct tap_client client;
    struct uds_pcapng_flow flow;
    bool commented;             /* the capture has said who it is */
};

#define TAP_DGRAM_SENDERS 1024

struct tap_dgram {
    struct tap_dgram_opts o;
    struct uds_dgram_relay *relay;
    struct dgram_drops drops;
};

static uint64_t now_us(void) {
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
}

static void name_sender(struct tap_client *c, const struct sockaddr_un *sa, socklen_t len) {
    size_t n = len > offsetof(struct sockaddr_un, sun_path)
                   ? len - offsetof(struct sockaddr_un, sun_path) : 0;

    if (n == 0)
        snprintf(c->address, sizeof(c->address), "(unbound)");
    else if (sa->sun_path[0] == '\0')
        snprintf(c->address, sizeof(c->address), "@%.*s", (int) (n - 1), sa->sun_path + 1);
    else
        snprintf(c->address, sizeof(c->address), "%.*s", (int) strnlen(sa->sun_path, n),
                 sa->sun_path);
}

static struct tap_sender *sender_new(struct tap_dgram *d, const struct uds_dgram_relay_event *ev) {
    struct tap_sender *s = calloc(1, sizeof(*s));
    struct uds_procinfo info;

    if (!s)
        return NULL;    /* relayed all the same, not shown */
    s->client.id = ++*d->o.next_id;
    s->client.has_peer = ev->cred->pid > 0;
    s->client.pid = ev->cred->pid;
    s->client.uid = ev->cred->uid;
    s->client.gid = ev->cred->gid;
    name_sender(&s->client, ev->sender, ev->sender_len);
    if (s->client.has_peer && uds_procinfo_get(ev->cred->pid, &info) == 0)
        memcpy(s->client.command, info.command, sizeof(s->client.command));
    uds_pcapng_flow_init(&s->flow, s->client.id, d->o.server_port, true);
    if (d->o.printer)
        tap_print_open(d->o.printer, &s->client);
    return s;
}

static void describe_fds(const struct uds_dgram_relay_event *ev, struct tap_fd *fds, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char link[32];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", ev->fds[i]);
        ssize_t len = readlink(link, fds[i].what, sizeof(fds[i].what) - 1);
        fds[i].what[len < 0 ? 0 : len] = '\0';
    }
}

static void show(struct tap_dgram *d, struct tap_sender *s, enum uds_pcapng_dir dir,
                 const struct uds_dgram_relay_event *ev) {
    struct tap_fd fds[FDS_SHOWN];
    size_t n = ev->n_fds < FDS_SHOWN ? ev->n_fds : FDS_SHOWN;
    char comment[512];
    size_t used = 0;

    describe_fds(ev, fds, n);
    if (d->o.printer)
        tap_print_data(d->o.printer, &s->client, dir, ev->data, ev->len, ev->full_len, true,
                       fds, n);
    if (!*d->o.cap) {
        d->o.captured(d->o.data, 0);    /* to see whether the printing went well */
        return;
    }
    comment[0] = '\0';
    if (!s->commented) {
        s->commented = true;
        cli_append(comment, sizeof(comment), &used, "uds tap #%u: client %s pid %ld uid %lu "
                   "gid %lu comm %s; server %s", s->client.id, s->client.address,
                   (long) s->client.pid, (unsigned long) s->client.uid,
                   (unsigned long) s->client.gid, s->client.command, d->o.server_name);
    }
    if (n > 0) {
        cli_append(comment, sizeof(comment), &used, "%spassed %zu fd%s:", used ? "; " : "",
                   ev->n_fds, ev->n_fds == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            cli_append(comment, sizeof(comment), &used, " %s", fds[i].what);
    }
    d->o.captured(d->o.data, uds_capture_data(*d->o.cap, &s->flow, dir, ev->data, ev->len,
                                              now_us(), used ? comment : NULL));
}

static void observe(struct uds_dgram_relay *relay, const struct uds_dgram_relay_event *ev,
                    void *data) {
    struct tap_dgram *d = data;
    struct tap_sender *s = *ev->sender_data;

    (void) relay;
    if (ev->type == UDS_DGRAM_RELAY_DROPPED) {
        dgram_drops_log(&d->drops, ev);
        return;
    }
    if (ev->type == UDS_DGRAM_RELAY_SENDER_NEW) {
        *ev->sender_data = sender_new(d, ev);
        return;
    }
    if (!s)
        return;
    if (ev->type == UDS_DGRAM_RELAY_SENDER_GONE) {
        if (d->o.printer)
            tap_print_close(d->o.printer, &s->client, ev->bytes_from_sender,
                            ev->bytes_from_server, NULL);
        free(s);
        return;
    }
    if (ev->type == UDS_DGRAM_RELAY_FROM_SENDER || ev->type == UDS_DGRAM_RELAY_FROM_SERVER)
        show(d, s, ev->type == UDS_DGRAM_RELAY_FROM_SENDER ? UDS_PCAPNG_TO_SERVER
                                                          : UDS_PCAPNG_TO_CLIENT, ev);
}

struct tap_dgram *tap_dgram_new(const struct tap_dgram_opts *o) {
    struct tap_dgram *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->o = *o;
    d->drops = (struct dgram_drops) {
        .listen_text = o->listen_name, .target_text = o->server_name,
        .who_relays = "this tap", .max_senders = TAP_DGRAM_SENDERS,
        .per_uid = TAP_DGRAM_SENDERS / 2,
    };
    const struct uds_dgram_relay_opts ro = {
        /* The server itself has no slots to fill; the tap's are the relay's 1024, and one
         * user may hold half of them, so that the others still get through. */
        .max_senders = TAP_DGRAM_SENDERS,
        .max_senders_per_uid = TAP_DGRAM_SENDERS / 2,
        .flags = o->as_client ? UDS_DGRAM_RELAY_AS_SENDER : 0,
        .observe = observe,
        .data = d,
    };
    d->relay = uds_dgram_relay_new(o->loop, o->fd, o->server, &ro);
    if (!d->relay) {
        int e = errno;
        free(d);
        errno = e;
        return NULL;
    }
    return d;
}

uint64_t tap_dgram_dropped(const struct tap_dgram *d) {
    return d ? uds_dgram_relay_dropped(d->relay) : 0;
}

void tap_dgram_free(struct tap_dgram *d) {
    if (!d)
        return;
    uds_dgram_relay_free(d->relay);
    free(d);
}
