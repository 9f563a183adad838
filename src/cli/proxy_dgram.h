/* SPDX-License-Identifier: MIT */
/*
 * proxy_dgram.h — `uds proxy --type dgram LISTEN TARGET`: datagrams between two Unix
 * datagram sockets, composed from the library's datagram relay (proxy_dgram.c). The
 * command's other options and its stream proxy are cmd_proxy.c's.
 */
#ifndef UDS_CLI_PROXY_DGRAM_H
#define UDS_CLI_PROXY_DGRAM_H

#include <stddef.h>

#include "listen_opts.h"
#include "listen_proc.h"
#include "tls.h"

/* What a datagram proxy takes of `uds proxy`'s options; cmd_proxy.c refuses the others. */
struct proxy_dgram_args {
    const char *listen;
    const char *target;
    const struct cli_listen_opts *common;   /* the listener's access, limits and logs */
    const struct cli_run_as *run_as;        /* --user */
    const struct tls_opts *tls;             /* refused: no tls: side here */
    size_t max_size;                        /* --buffer-size: the longest datagram, 0 the
                                             * relay's default */
};

/* Listen on LISTEN (a Unix dgram socket, made safely or taken from a service manager) and
 * relay each sender's datagrams to TARGET and the answers back, until SIGTERM or SIGINT.
 * Returns the exit code (0 stopped by a signal), having printed any error. */
int proxy_dgram_run(const struct proxy_dgram_args *a);

#endif /* UDS_CLI_PROXY_DGRAM_H */
