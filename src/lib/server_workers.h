/* SPDX-License-Identifier: MIT */
/*
 * server_workers.h — between server.c and server_workers.c: the worker threads of a
 * uds_server (uds_server_opts.threads > 1). server.c accepts and serves; server_workers.c
 * starts, feeds, counts, stops and joins the workers.
 */
#ifndef UDS_SERVER_WORKERS_H
#define UDS_SERVER_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "udskit.h"

struct uds__workers;
struct uds__worker;

/* --- server.c, for server_workers.c -------------------------------------------------------- */

/* A server without a listener on loop (a pool thread's), serving for parent what worker is
 * handed, with parent's callbacks, data and limits. */
struct uds_server *uds__server_worker_new(struct uds_server *parent, struct uds__worker *worker,
                                          struct uds_loop *loop);
/* Take fd (accepted on parent's listener) as a connection of worker server srv: allow-list,
 * on_open. Returns false when no connection was made (fd closed). */
bool uds__server_adopt(struct uds_server *srv, int fd);
/* Re-evaluate server s: whether it accepts, whether its stop has finished. */
void uds__server_poke(struct uds_server *s);

/* --- server_workers.c, for server.c -------------------------------------------------------- */

/* n workers for parent, whose loop is loop, with max_conns for all of them; threads started.
 * NULL with errno. */
struct uds__workers *uds__workers_new(struct uds_server *parent, struct uds_loop *loop,
                                      unsigned n, size_t max_conns);
/* Stop every worker (posting a stop to each), join the threads, free their servers (with
 * on_close for connections still open) and the rest. NULL is fine. */
void uds__workers_free(struct uds__workers *all);
/* Hand fd, just accepted, to the least loaded worker (it is counted at once). On failure
 * (ENOMEM) fd is closed. */
int uds__workers_hand(struct uds__workers *all, int fd);
/* A connection of worker's has closed, or was never made of a handed fd. */
void uds__worker_conn_done(struct uds__worker *worker);
/* Connections of every worker: handed and not yet closed. */
size_t uds__workers_live(const struct uds__workers *all);
/* Whether every worker's thread has ended. */
bool uds__workers_done(const struct uds__workers *all);
/* Post a stop to every worker: graceful (drain), or now; now overrides graceful. */
void uds__workers_stop(struct uds__workers *all, bool graceful);
/* Join the threads that have ended or are ending (after uds__workers_done()). */
void uds__workers_join(struct uds__workers *all);
unsigned uds__workers_count(const struct uds__workers *all);
void uds__workers_stats(const struct uds__workers *all, unsigned i,
                        struct uds_server_worker_stats *ret_stats);

#endif
