/* SPDX-License-Identifier: MIT */
/*
 * tls.h — TLS for `uds proxy` (tls:HOST:PORT as LISTEN or TARGET) and `uds doctor
 * tls:HOST:PORT`, on OpenSSL. Only the tool links OpenSSL: the library stays libc-only.
 *
 * tls.c holds the options, the contexts (certificate, key, CA; reloaded on SIGHUP) and the
 * checks of a peer's identity; tls_pump.c moves a connection's bytes between its TLS
 * session and a socketpair the library's relay sees as a plain socket.
 */
#ifndef UDS_CLI_TLS_H
#define UDS_CLI_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <udskit.h>

#include "options.h"

/* The TLS options of `uds proxy` and `uds doctor`, in their structs of parsed options. */
struct tls_opts {
    const char *cert;           /* --cert: PEM certificate (chain) */
    const char *key;            /* --key: PEM private key (default: in --cert's file) */
    const char *ca;             /* --ca: PEM CA certificates that sign the peers */
    const char *server_name;    /* --server-name: the name a TLS target must have */
    bool no_client_cert;        /* --no-client-cert: a TLS listener takes anyone */
    struct cli_strings allow_cn;    /* --allow-cn */
    struct cli_strings allow_san;   /* --allow-san */
};

/* For CLI_INCLUDE() in proxy's table (help laid out for column 28). */
extern const struct cli_opt tls_proxy_opts[];

/* ---- a proxy's TLS ------------------------------------------------------------------------ */

struct tls_proxy;
struct tls_pump;

/* After the options: LISTEN and TARGET given as tls:HOST:PORT are rewritten (*listen,
 * *target) to the tcp:HOST:PORT the proxy listens on or connects to, and the contexts are
 * made from the files. *ret is NULL when neither is TLS (then TLS options are a usage
 * error). Returns CLI_CONTINUE, or the exit code having printed why. */
int tls_proxy_new(const struct tls_opts *opts, const char **listen, const char **target,
                  struct uds_loop *loop, struct tls_proxy **ret);
/* Frees every session still open (NULL is fine); call before freeing the loop. */
void tls_proxy_free(struct tls_proxy *tp);
/* Run the loop until the sessions that outlived their connections have sent what they
 * hold, for up to ms. */
void tls_proxy_flush(struct tls_proxy *tp, int ms);

bool tls_proxy_listens(const struct tls_proxy *tp);    /* LISTEN is tls: (NULL: false) */
bool tls_proxy_targets(const struct tls_proxy *tp);    /* TARGET is tls: */
/* A TLS listener that checks its clients' certificates: needs no --public. */
bool tls_proxy_authenticates(const struct tls_proxy *tp);
/* "tcp:..." written back as "tls:..." in an address text, when that side is TLS. */
void tls_proxy_name_listen(const struct tls_proxy *tp, char *text);
void tls_proxy_name_target(const struct tls_proxy *tp, char *text);
/* SIGHUP: read the certificate, key and CA again; sessions open continue on the old ones.
 * Returns false when there is no TLS (the caller then treats SIGHUP as before). */
bool tls_proxy_reload(struct tls_proxy *tp);

/* ---- a connection's session --------------------------------------------------------------- */

/* Called with fd >= 0 once the handshake succeeded (and the peer was admitted): fd is the
 * caller's end of a socketpair carrying the session's plaintext both ways, to relay. Called
 * with fd -1 and an errno if the handshake fails (already logged), or later if the session
 * fails while the caller still holds it: the caller then drops the connection, and the
 * session is freed when fn returns (released in fn or not): forget the pointer. */
typedef void tls_pump_fn(struct tls_pump *pump, int fd, int err, void *data);

/* Begin the server side of a session on a TCP client just accepted (net, taken over; closed
 * on failure too). who: the client's address text, to which its identity is appended once
 * known (size bytes). listen_text: for log lines. Returns NULL on failure (errno). */
struct tls_pump *tls_pump_accept(struct tls_proxy *tp, int net, char *who, size_t size,
                                 const char *listen_text, tls_pump_fn *fn, void *data);
/* Begin the client side on a TCP connection to the target (net, taken over). */
struct tls_pump *tls_pump_connect(struct tls_proxy *tp, int net, const char *who,
                                  const char *target_text, tls_pump_fn *fn, void *data);
/* The caller is done with the connection. error 0 (the relay ended cleanly): the session
 * finishes alone (what the relay wrote is sent, then close_notify) and frees itself; an
 * error, or a session still in its handshake: it is dropped at once, without close_notify,
 * so that the peer cannot take a cut stream for a complete one. NULL is fine. fn is not
 * called again. */
void tls_pump_release(struct tls_pump *pump, int error);

/* Room tls_pump_proxy_header() needs beyond UDS_PROXY_HEADER_MAX. */
#define TLS_TLV_MAX 512
/* The PROXY header of version for an accepted session: the TCP client's addresses and, in
 * v2, its certificate in the PP2_TYPE_SSL TLV. Returns the length, 0 on failure. */
size_t tls_pump_proxy_header(const struct tls_pump *pump, int version, unsigned char *buf,
                             size_t size);

#endif /* UDS_CLI_TLS_H */
