/* SPDX-License-Identifier: MIT */
/*
 * forward.h — the forwarder's structures, shared by its two files and nothing else:
 * forwarder.c (the forwarder, its shards and worker threads, the count) and forward.c
 * (one client's way: held, dialled, waiting for the caller, relayed, ended).
 */
#ifndef UDSKIT_FORWARD_H
#define UDSKIT_FORWARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Where forwards are dialled and relayed: the forwarder's own loop, or a worker's. */
struct uds__fwd_shard {
    struct uds_forwarder *fw;
    unsigned index;                 /* its loop in fw->pool */
    struct uds_loop *loop;
    struct uds_dialer *dialer;
    struct uds_relay_group *relays;
    struct uds_forward *list;       /* its forwards; touched on its thread only */
};

struct uds_forwarder {
    struct uds_loop *loop;
    struct uds_forwarder_opts opts;     /* opts.dial.tcp not kept (the dialers copy it) */
    struct uds_forwarder_callbacks cbs;
    void *data;
    struct uds__fwd_shard *shards;
    unsigned n_shards;
    struct uds_loop_pool *pool;     /* threads > 1; NULL: one shard, on loop */
    int wake_fd;                    /* threads > 1: a worker's forward ended (in loop) */
    struct uds_forward *held;       /* held forwards, on loop */
    atomic_size_t count;
    bool freeing;                   /* in uds_forwarder_free(): count is not called */
};

enum uds__fwd_stage {
    FWD_HELD,       /* on the forwarder's loop, no client yet */
    FWD_POSTED,     /* on its way to a worker: in no list */
    FWD_DIALING,    /* connecting to the destination */
    FWD_WAITING,    /* connected: the caller answered UDS_FORWARD_LATER */
    FWD_RELAYING,
};

struct uds_forward {
    struct uds_forwarder *fw;
    struct uds__fwd_shard *sh;          /* NULL while held */
    struct uds_forward *next, **pprev;  /* in fw->held or sh->list; pprev NULL: in none */
    void *data;
    enum uds__fwd_stage stage;
    int client;                         /* -1 before the start, and once the relay has it */
    struct uds_dial *dial;
    struct uds_relay *relay;
    struct uds_timer first_byte_timer;  /* while connecting */
    bool spoke;                         /* the client sent a byte before the relay began */
    bool watched;                       /* the client is in the shard's loop */
    uint64_t started_ms;                /* the hand-over */
    unsigned char *prefix;              /* uds_forward_set_prefix()'s (prefix_set) */
    size_t prefix_len;
    bool prefix_set;
};

/* forward.c: on the shard's thread, a posted or direct start. */
void uds__forward_run(void *arg);
/* forward.c: end fwd without a callback but freed (close_all, free). */
void uds__forward_end(struct uds_forward *fwd);
/* forwarder.c: a forward on sh (NULL: held) has ended; its count goes. */
void uds__forwarder_gone(struct uds_forwarder *fw, struct uds__fwd_shard *sh);
/* forwarder.c: the count changed on the forwarder's loop: tell the caller. */
void uds__forwarder_counted(struct uds_forwarder *fw);
/* A list of forwards. */
void uds__forward_link(struct uds_forward **head, struct uds_forward *fwd);
void uds__forward_unlink(struct uds_forward *fwd);

#endif /* UDSKIT_FORWARD_H */
