/* SPDX-License-Identifier: MIT */
/*
 * dgram_drops.h — a datagram relay's senders and its dropped datagrams, in the log
 * (dgram_drops.c).
 */
#ifndef UDS_CLI_DGRAM_DROPS_H
#define UDS_CLI_DGRAM_DROPS_H

#include <stdint.h>

#include <udskit.h>

struct dgram_drops {
    const char *listen_text;        /* where the senders write */
    const char *target_text;        /* the server behind it */
    const char *who_relays;         /* "this proxy", "this tap": whose user needs access */
    const struct uds_allow *allow;  /* the senders allowed, or NULL for all */
    long max_senders;               /* how many are remembered at once, for the advice */
    const char *max_option;         /* the option that sets it ("--max-conns"), or NULL */
    size_t per_uid;                 /* of those, how many one uid may hold (0: no limit) */
    int idle_ms;                    /* how long a quiet sender is remembered (0: 30 s) */
    const char *per_uid_option;     /* the option that sets that, or NULL */
    uint64_t logged_ms;             /* the rate limit's state: zero it with the rest */
    unsigned unlogged;
};

/* "PATH (pid P uid U gid G)", "@name (...)" or "an unbound socket (...)". */
void dgram_describe_sender(const struct uds_dgram_relay_event *ev, char *buf, size_t size);
/* A warning for a DROPPED event: which datagram, why, what to do; one a second at most. */
void dgram_drops_log(struct dgram_drops *d, const struct uds_dgram_relay_event *ev);

#endif
