/* SPDX-License-Identifier: MIT */
/*
 * tls_int.h — what tls.c, tls_pump.c and doctor_tls.c share inside the tool's TLS code:
 * the proxy's contexts, the record of why a certificate failed, the peer's identity.
 */
#ifndef UDS_CLI_TLS_INT_H
#define UDS_CLI_TLS_INT_H

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"

#define TLS_HOST_MAX 256
#define TLS_WHY_MAX 512
#define TLS_IDENTITY_MAX 256

struct tls_proxy {
    const struct tls_opts *opts;
    struct uds_loop *loop;
    bool listen, target;                /* which sides are TLS */
    char listen_tcp[TLS_HOST_MAX + 16]; /* "tcp:HOST:PORT" for the proxy to use */
    char target_tcp[TLS_HOST_MAX + 16];
    char target_host[TLS_HOST_MAX];     /* the name a TLS target's certificate must have */
    char listen_text[TLS_HOST_MAX + 16];    /* "tls:HOST:PORT", for messages */
    char target_text[TLS_HOST_MAX + 16];
    SSL_CTX *server_ctx;                /* a TLS listener's; replaced on SIGHUP */
    SSL_CTX *client_ctx;                /* a TLS target's */
    struct tls_pump *pumps;             /* every session, attached or finishing alone */
    size_t n_alone;                     /* those finishing alone */
};

/* Why verifying a peer's certificate failed, written by tls_verify_cb() for the first
 * error; set with SSL_set_app_data(ssl, struct tls_verify *). */
struct tls_verify {
    const char *ca;         /* --ca, for messages ("the system's CAs" when NULL) */
    const char *host;       /* the name asked for, NULL for a client */
    bool keep_going;        /* doctor: record the error but finish the handshake */
    int error;              /* X509_V_OK, or the first error */
    char why[TLS_WHY_MAX];  /* that error in words, with what to do */
};

/* The verify callback of every context: records the first error's explanation. */
int tls_verify_cb(int ok, X509_STORE_CTX *store);

/* Whether an X509_V_ERR_* says the chain leads to no CA this side trusts. */
bool tls_unknown_ca_error(int err);
/* What an X509_V_ERR_* means for cert, the one that failed, in the chain of leaf, the
 * peer's own (either may be NULL), with what to do. */
void tls_describe_verify_error(int err, X509 *cert, X509 *leaf, const struct tls_verify *v,
                               char *buf, size_t size);
/* Why a handshake failed, from the OpenSSL error queue and v: "no client certificate ...",
 * "the client refused our certificate ...". Empties the error queue. */
void tls_describe_handshake_error(const struct tls_verify *v, bool server, char *buf,
                                  size_t size);

/* "CN=alice SAN=DNS:alice.example,URI:spiffe://x" (escaped for a terminal). */
void tls_identity(X509 *cert, char *buf, size_t size);
/* The certificate's common name, raw, in buf; false when it has none (or a NUL in it). */
bool tls_common_name(X509 *cert, char *buf, size_t size);
/* Whether --allow-cn / --allow-san admit cert (true when neither was given); *ret_why says
 * what was missing. */
bool tls_admitted(const struct tls_opts *opts, X509 *cert, char *why, size_t size);

/* "Jan  1 00:00:00 2030 GMT" */
void tls_format_time(const ASN1_TIME *t, char *buf, size_t size);

/* The name the peer's certificate must have, an IP address or a DNS name (then also sent
 * as SNI). Returns 0, or -1. */
int tls_set_host(SSL *ssl, const char *host);

/* Free a session whatever its state, closing its fds (tls_proxy_free()). */
void tls_pump_destroy(struct tls_pump *pump);

/* A new context for a server (listener) or a client (target) from the files; NULL after
 * writing why into buf (the file named, what to do). */
SSL_CTX *tls_context_new(const struct tls_opts *opts, bool server, char *why, size_t size);

#endif /* UDS_CLI_TLS_INT_H */
