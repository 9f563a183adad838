/* SPDX-License-Identifier: MIT */
/*
 * tls_pump.c — one TLS session of `uds proxy`, bridged to the library's relay.
 *
 * The design: the relay (src/lib/relay*.c) moves bytes between two fds and knows nothing of
 * TLS. A TLS side is given to it as one end of a socketpair; this pump, driven by the same
 * loop, moves the plaintext between the other end and the SSL object on the TCP socket:
 * SSL_read() → send() to the pair, recv() from the pair → SSL_write(). So the relay, its
 * splice() path and its limits stay as they are for the plain side, and nothing in the
 * library depends on OpenSSL. The price is one copy of the plaintext through a socketpair,
 * small next to the cipher's own pass over the bytes.
 *
 * Backpressure: each direction holds at most one 16 KiB record (the largest TLS record)
 * and reads the next only once that one is written; a side that does not read fills its
 * socket buffer, the pump stops reading the other, and the sender is slowed in turn, as
 * the relay does for plain sockets.
 *
 * Half-close: the peer's close_notify (SSL_read() returns 0) is passed to the relay as the
 * end of the pair's stream (shutdown(SHUT_WR)); the end of the pair's stream (the relay's
 * half-close) is passed to the peer as close_notify, then a TCP FIN, while the other
 * direction goes on (TLS 1.3 allows it, and OpenSSL reads after sending close_notify in
 * 1.2 too). A TCP end without close_notify is a truncation: the connection is dropped as
 * failed, not ended. When the relay ends cleanly, the session finishes alone: what the
 * relay wrote into the pair is still sent, then close_notify; when it ends on an error,
 * the session is dropped without close_notify, so the peer sees a cut, not an end.
 *
 * Kernel TLS: the contexts ask for it (SSL_OP_ENABLE_KTLS); OpenSSL uses it when the kernel
 * has the tls module and the cipher suits it. The pump is the same either way: SSL_read()
 * and SSL_write() then hand the records to the kernel to seal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "tls_int.h"

#define PUMP_BUF 16384          /* one TLS record's plaintext */
#define HANDSHAKE_MS 10000      /* a handshake not done by then is cut */
#define ALONE_MS 30000          /* a session finishing alone that stalls this long is cut */
#define PEER_TEXT_MAX 192

enum pump_state { PUMP_HANDSHAKE, PUMP_RUNNING };

/* One direction's record in flight. */
struct dir {
    unsigned char buf[PUMP_BUF];
    size_t off, len;
    bool eof;           /* its source has ended */
    bool done;          /* ...and the end was passed on */
};

struct tls_pump {
    struct tls_proxy *tp;
    struct tls_pump *next, **pprev;     /* in tp->pumps */
    SSL *ssl;
    struct tls_verify verify;
    bool server;
    int net;                    /* the TCP socket */
    int pair;                   /* our end of the socketpair, -1 before the handshake ends */
    unsigned net_ev, pair_ev;   /* what the loop watches for */
    enum pump_state state;
    bool alone;                 /* released: finishing by itself */
    bool heard;                 /* the peer has sent data since the handshake */
    bool in_fn;                 /* fn is running */
    bool release_asked;         /*   and asked for the release, done once it returns */
    int release_error;
    struct uds_timer timer;     /* the handshake's, or the one of a session alone */
    tls_pump_fn *fn;
    void *data;
    char *who;                  /* the caller's text for the client, or NULL */
    size_t who_size;
    const char *side;           /* "tls:HOST:PORT" of the listener or target */
    char peer[PEER_TEXT_MAX];   /* who, kept for the logs of a session alone */
    struct dir up;              /* net → pair */
    struct dir down;            /* pair → net */
};

static void pump_run(struct tls_pump *p);
static void on_io(struct uds_loop *loop, int fd, unsigned events, void *data);

/* ---- life --------------------------------------------------------------------------------- */

void tls_pump_destroy(struct tls_pump *p) {
    struct uds_loop *loop = p->tp->loop;

    uds_timer_cancel(&p->timer);
    (void) uds_loop_del(loop, p->net);
    if (p->pair >= 0) {
        (void) uds_loop_del(loop, p->pair);
        (void) close(p->pair);
    }
    SSL_free(p->ssl);
    (void) close(p->net);
    if (p->alone)
        p->tp->n_alone--;
    *p->pprev = p->next;
    if (p->next)
        p->next->pprev = p->pprev;
    free(p);
}

static void on_alone_timeout(void *data) {
    struct tls_pump *p = data;

    cli_log(CLI_LOG_DEBUG, "close", p->side, NULL, 0, "%s: %s: dropped the TLS session: its "
            "peer took nothing for %d s after the connection ended", p->side, p->peer,
            ALONE_MS / 1000);
    tls_pump_destroy(p);
}

/* The release proper. Returns whether p still exists. */
static bool release(struct tls_pump *p, int error) {
    p->fn = NULL;
    p->who = NULL;
    if (p->state != PUMP_RUNNING || error || !p->up.done ||
        (p->down.done && p->up.done)) {
        tls_pump_destroy(p);
        return false;
    }
    p->alone = true;
    p->tp->n_alone++;
    if (uds_timer_arm(&p->timer, p->tp->loop, ALONE_MS, on_alone_timeout, p) < 0) {
        tls_pump_destroy(p);
        return false;
    }
    return true;
}

void tls_pump_release(struct tls_pump *p, int error) {
    if (!p)
        return;
    if (p->in_fn) {
        p->release_asked = true;
        p->release_error = error;
        return;
    }
    if (release(p, error))
        pump_run(p);
}

/* Tell the caller; returns whether p still exists (the caller may release it). */
static bool notify(struct tls_pump *p, int fd, int err) {
    if (!p->fn)
        return true;
    p->in_fn = true;
    p->fn(p, fd, err, p->data);
    p->in_fn = false;
    return p->release_asked ? release(p, p->release_error) : true;
}

/* A session that failed: closed, logged by the caller of this; the caller of the pump told.
 * The pump is gone after this. */
static void pump_fail(struct tls_pump *p, int err) {
    if (p->alone || !p->fn) {
        tls_pump_destroy(p);
        return;
    }
    if (notify(p, -1, err))
        tls_pump_destroy(p);    /* not released in fn: freed all the same (tls.h) */
}

static void watch(struct tls_pump *p, unsigned net_ev, unsigned pair_ev) {
    if (net_ev != p->net_ev && uds_loop_mod(p->tp->loop, p->net, net_ev) == 0)
        p->net_ev = net_ev;
    if (p->pair >= 0 && pair_ev != p->pair_ev &&
        uds_loop_mod(p->tp->loop, p->pair, pair_ev) == 0)
        p->pair_ev = pair_ev;
}

/* ---- errors in words ---------------------------------------------------------------------- */

/* Why an SSL call failed (ret, its SSL_get_error()). */
static void describe_io_error(struct tls_pump *p, int ret, int ssl_err, char *buf,
                              size_t size) {
    int e = errno;

    if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        snprintf(buf, size, ret == 0 || e == 0 ? "the peer closed the connection" : "%s",
                 strerror(e));
    else
        tls_describe_handshake_error(&p->verify, p->server, buf, size);
    ERR_clear_error();
}

/* A session that fails once running: a warning when the peer sent an alert (in TLS 1.3 a
 * server refuses a client's certificate only after the client's handshake is done), or
 * when a TLS target cut the connection before sending anything (a uds proxy whose
 * --allow-cn or --allow-san refuses this side closes so); else a debug line (a peer that
 * went away). */
static void log_session_error(struct tls_pump *p, int ret, int ssl_err) {
    char why[TLS_WHY_MAX];
    int reason = ERR_GET_REASON(ERR_peek_last_error());
    bool alert = reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256;
    bool eof = reason == SSL_R_UNEXPECTED_EOF_WHILE_READING;
    bool cut = !p->server && !p->heard &&
               (eof || (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0));
    struct cli_kv kv[] = {
        CLI_KV_STR("client", p->peer),
        CLI_KV_STR("reason", why),
    };

    if (cut) {
        ERR_clear_error();
        snprintf(why, sizeof(why), "the server cut the connection right after the handshake, "
                 "before sending anything: it may not allow this side's certificate (uds "
                 "proxy --allow-cn, --allow-san), or its own target may be down; its log "
                 "names the reason");
        cli_log(CLI_LOG_WARN, "tls_error", p->side, kv, 2, "%s: %s: closed: TLS session "
                "failed: %s", p->side, p->peer, why);
        return;
    }
    describe_io_error(p, ret, ssl_err, why, sizeof(why));
    if (alert || cli_log_enabled(CLI_LOG_DEBUG))
        cli_log(alert ? CLI_LOG_WARN : CLI_LOG_DEBUG, "tls_error", p->side, kv, 2, "%s: %s: "
                "closed: TLS session failed: %s%s", p->side, p->peer, why,
                eof ? " (it ended without close_notify: taken as cut, not as an end)" : "");
}

/* ---- moving bytes ------------------------------------------------------------------------- */

/* After an SSL call that returned r <= 0: 0 when it only waits (added to *net_ev), else -1
 * having failed the session (p is gone). */
static int wait_or_fail(struct tls_pump *p, int r, unsigned *net_ev) {
    int ssl_err = SSL_get_error(p->ssl, r);

    switch (ssl_err) {
    case SSL_ERROR_WANT_READ: *net_ev |= UDS_EV_READ; return 0;
    case SSL_ERROR_WANT_WRITE: *net_ev |= UDS_EV_WRITE; return 0;
    }
    log_session_error(p, r, ssl_err);
    pump_fail(p, ECONNRESET);
    return -1;
}

/* net → pair: records read, their plaintext written to the pair; the peer's close_notify
 * as the pair's end. Returns -1 when the session failed (p is gone), else 0, having added
 * to *net_ev and *pair_ev what it waits for. */
static int pump_up(struct tls_pump *p, unsigned *net_ev, unsigned *pair_ev) {
    struct dir *d = &p->up;
    int r;

    for (;;) {
        if (d->off < d->len) {
            ssize_t n = send(p->pair, d->buf + d->off, d->len - d->off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno == EAGAIN) {
                *pair_ev |= UDS_EV_WRITE;
                return 0;
            }
            if (n < 0 && errno != EINTR) {
                pump_fail(p, errno);    /* the relay's end is gone */
                return -1;
            }
            d->off += n > 0 ? (size_t) n : 0;
            if (d->off == d->len)
                d->off = d->len = 0;
            continue;
        }
        if (d->eof) {
            if (!d->done)
                (void) shutdown(p->pair, SHUT_WR);
            d->done = true;
            return 0;
        }
        ERR_clear_error();
        r = SSL_read(p->ssl, d->buf, sizeof(d->buf));
        if (r > 0) {
            d->len = (size_t) r;
            p->heard = true;
            continue;
        }
        if (SSL_get_error(p->ssl, r) != SSL_ERROR_ZERO_RETURN)
            return wait_or_fail(p, r, net_ev);
        d->eof = true;
    }
}

/* The end of the pair's stream as close_notify and a TCP FIN. Returns 1 when sent, 0 to
 * wait (*net_ev), -1 when failed (p is gone). */
static int send_close_notify(struct tls_pump *p, unsigned *net_ev) {
    int r;

    ERR_clear_error();
    r = SSL_shutdown(p->ssl);
    if (r >= 0) {
        (void) shutdown(p->net, SHUT_WR);
        return 1;
    }
    return wait_or_fail(p, r, net_ev);
}

/* pair → net: what the relay wrote, sealed and sent; its end as close_notify. Returns as
 * pump_up(). */
static int pump_down(struct tls_pump *p, unsigned *net_ev, unsigned *pair_ev) {
    struct dir *d = &p->down;
    int r;

    for (;;) {
        if (d->off < d->len) {
            ERR_clear_error();
            r = SSL_write(p->ssl, d->buf + d->off, (int) (d->len - d->off));
            if (r > 0) {
                d->off += (size_t) r;
                if (d->off == d->len)
                    d->off = d->len = 0;
                continue;
            }
            return wait_or_fail(p, r, net_ev);
        }
        if (d->eof) {
            r = d->done ? 1 : send_close_notify(p, net_ev);
            if (r < 0)
                return -1;
            d->done = r == 1;
            return 0;
        }
        ssize_t n = recv(p->pair, d->buf, sizeof(d->buf), MSG_DONTWAIT);
        if (n > 0)
            d->len = (size_t) n;
        else if (n == 0)
            d->eof = true;
        else if (errno == EAGAIN)
            return *pair_ev |= UDS_EV_READ, 0;
        else if (errno != EINTR)
            return pump_fail(p, errno), -1;
    }
}

/* ---- the handshake ------------------------------------------------------------------------ */

/* Kernel TLS, for the debug log: whether OpenSSL handed the records to the kernel. */
static void log_established(struct tls_pump *p) {
    const char *ver = SSL_get_version(p->ssl);
    const char *cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(p->ssl));
    bool ktx = BIO_get_ktls_send(SSL_get_wbio(p->ssl)) > 0;
    bool krx = BIO_get_ktls_recv(SSL_get_rbio(p->ssl)) > 0;

    if (cli_log_enabled(CLI_LOG_DEBUG))
        cli_log(CLI_LOG_DEBUG, "tls", p->side, NULL, 0, "%s: %s: %s, %s, kernel TLS %s", p->side,
                p->peer, ver, cipher, ktx && krx ? "both ways" : ktx ? "for sending" :
                krx ? "for receiving" : "not in use (user-space records)");
}

/* A listener's client: its certificate's identity, logged and checked against the
 * allow-lists. Returns false when refused (logged). */
static bool admit_client(struct tls_pump *p) {
    X509 *cert = SSL_get0_peer_certificate(p->ssl);
    char id[TLS_IDENTITY_MAX], why[TLS_WHY_MAX + TLS_IDENTITY_MAX];
    struct cli_kv kv[] = {
        CLI_KV_STR("client", p->peer),
        CLI_KV_STR("identity", id),
        CLI_KV_STR("reason", why),
    };

    tls_identity(cert, id, sizeof(id));
    if (!tls_admitted(p->tp->opts, cert, why, sizeof(why))) {
        cli_log(CLI_LOG_WARN, "deny", p->side, kv, 3, "%s: refused %s: %s", p->side, p->peer,
                why);
        return false;
    }
    cli_log(CLI_LOG_INFO, "tls_client", p->side, kv, 2, "%s: %s: TLS client %s (%s)", p->side,
            p->peer, id, SSL_get_version(p->ssl));
    if (p->who) {
        size_t used = strlen(p->who);
        cli_append(p->who, p->who_size, &used, " (%s)", id);
        snprintf(p->peer, sizeof(p->peer), "%s", p->who);
    }
    return true;
}

/* The handshake is done: the socketpair, handed to the caller. */
static void established(struct tls_pump *p) {
    int sv[2];

    uds_timer_cancel(&p->timer);
    log_established(p);
    if (p->server && !admit_client(p)) {
        pump_fail(p, EACCES);
        return;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
        cli_log(CLI_LOG_WARN, "tls_error", p->side, NULL, 0, "%s: %s: closed: %s", p->side,
                p->peer, strerror(errno));
        pump_fail(p, errno);
        return;
    }
    if (uds_loop_add(p->tp->loop, sv[0], 0, on_io, p) < 0) {
        (void) close(sv[0]);
        (void) close(sv[1]);
        pump_fail(p, errno);
        return;
    }
    p->pair = sv[0];
    p->state = PUMP_RUNNING;
    if (notify(p, sv[1], 0))
        pump_run(p);
}

static void handshake_failed(struct tls_pump *p, int ret, int ssl_err) {
    char why[TLS_WHY_MAX];
    struct cli_kv kv[] = {
        CLI_KV_STR("client", p->peer),
        CLI_KV_STR("reason", why),
    };

    describe_io_error(p, ret, ssl_err, why, sizeof(why));
    if (p->server)
        cli_log(CLI_LOG_WARN, "deny", p->side, kv, 2, "%s: refused %s: %s", p->side, p->peer,
                why);
    else
        cli_log(CLI_LOG_WARN, "target_error", p->side, kv, 2, "%s: client %s closed: TLS "
                "with the target failed: %s", p->side, p->peer, why);
    pump_fail(p, ECONNREFUSED);
}

static void handshake(struct tls_pump *p) {
    int r, e;

    ERR_clear_error();
    r = SSL_do_handshake(p->ssl);
    if (r == 1) {
        established(p);
        return;
    }
    e = SSL_get_error(p->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        watch(p, e == SSL_ERROR_WANT_READ ? UDS_EV_READ : UDS_EV_WRITE, 0);
    else
        handshake_failed(p, r, e);
}

static void on_handshake_timeout(void *data) {
    struct tls_pump *p = data;

    cli_log(CLI_LOG_WARN, p->server ? "deny" : "target_error", p->side, NULL, 0, "%s: %s: "
            "closed: the TLS handshake was not done after %d s", p->side, p->peer,
            HANDSHAKE_MS / 1000);
    pump_fail(p, ETIMEDOUT);
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void pump_run(struct tls_pump *p) {
    unsigned net_ev = 0, pair_ev = 0;

    if (p->state == PUMP_HANDSHAKE) {
        handshake(p);
        return;
    }
    if (pump_up(p, &net_ev, &pair_ev) < 0 || pump_down(p, &net_ev, &pair_ev) < 0)
        return;
    if (p->alone && p->up.done && p->down.done) {
        tls_pump_destroy(p);
        return;
    }
    watch(p, net_ev, pair_ev);
}

static void on_io(struct uds_loop *loop, int fd, unsigned events, void *data) {
    (void) loop;
    (void) fd;
    (void) events;
    pump_run(data);
}

/* ---- making one --------------------------------------------------------------------------- */

int tls_set_host(SSL *ssl, const char *host) {
    unsigned char ip[16];
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 ? 0 : -1;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
        return -1;
    return 0;
}

static struct tls_pump *pump_new(struct tls_proxy *tp, SSL_CTX *ctx, int net, const char *who,
                                 const char *side, tls_pump_fn *fn, void *data) {
    struct tls_pump *p = calloc(1, sizeof(*p));

    if (!p || uds_set_nonblock(net, true) < 0 || !(p->ssl = SSL_new(ctx)) ||
        SSL_set_fd(p->ssl, net) != 1) {
        if (p)
            SSL_free(p->ssl);
        free(p);
        (void) close(net);
        ERR_clear_error();
        errno = ENOMEM;
        return NULL;
    }
    p->tp = tp;
    p->net = net;
    p->pair = -1;
    p->fn = fn;
    p->data = data;
    p->side = side;
    p->verify.ca = tp->opts->ca;
    snprintf(p->peer, sizeof(p->peer), "%s", who);
    SSL_set_app_data(p->ssl, &p->verify);
    p->next = tp->pumps;
    p->pprev = &tp->pumps;
    if (p->next)
        p->next->pprev = &p->next;
    tp->pumps = p;
    return p;
}

/* Watch the TCP socket (for both: the handshake then says what it waits for) and start the
 * handshake clock. Returns p, or NULL (p destroyed). */
static struct tls_pump *pump_start(struct tls_pump *p) {
    int e;

    if (uds_loop_add(p->tp->loop, p->net, UDS_EV_READ | UDS_EV_WRITE, on_io, p) == 0) {
        p->net_ev = UDS_EV_READ | UDS_EV_WRITE;
        if (uds_timer_arm(&p->timer, p->tp->loop, HANDSHAKE_MS, on_handshake_timeout, p) == 0)
            return p;
    }
    e = errno;
    p->fn = NULL;
    tls_pump_destroy(p);
    errno = e;
    return NULL;
}

struct tls_pump *tls_pump_accept(struct tls_proxy *tp, int net, char *who, size_t size,
                                 const char *listen_text, tls_pump_fn *fn, void *data) {
    struct tls_pump *p = pump_new(tp, tp->server_ctx, net, who, listen_text, fn, data);

    if (!p)
        return NULL;
    p->server = true;
    p->who = who;
    p->who_size = size;
    SSL_set_accept_state(p->ssl);
    return pump_start(p);
}

struct tls_pump *tls_pump_connect(struct tls_proxy *tp, int net, const char *who,
                                  const char *target_text, tls_pump_fn *fn, void *data) {
    struct tls_pump *p = pump_new(tp, tp->client_ctx, net, who, target_text, fn, data);

    if (!p)
        return NULL;
    p->verify.host = tp->target_host;
    if (tls_set_host(p->ssl, tp->target_host) < 0) {
        p->fn = NULL;
        tls_pump_destroy(p);
        errno = EINVAL;
        return NULL;
    }
    SSL_set_connect_state(p->ssl);
    return pump_start(p);
}

/* ---- the PROXY header --------------------------------------------------------------------- */

/* "RSA2048", "EC256": the key's algorithm and size, as HAProxy writes PP2_SUBTYPE_SSL_KEY_ALG. */
static void key_alg(X509 *cert, char *buf, size_t size) {
    EVP_PKEY *key = X509_get0_pubkey(cert);
    int id = key ? EVP_PKEY_get_base_id(key) : NID_undef;

    snprintf(buf, size, "%s%d", id == EVP_PKEY_EC ? "EC" : id == NID_undef ? "?" :
             OBJ_nid2sn(id), key ? EVP_PKEY_get_bits(key) : 0);
}

/* PP2_TYPE_SSL's value: client bits, verify result, then the sub-TLVs. Returns its length. */
static size_t ssl_tlv_value(const struct tls_pump *p, unsigned char *v, size_t size) {
    X509 *cert = SSL_get0_peer_certificate(p->ssl);
    const char *ver = SSL_get_version(p->ssl);
    const char *cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(p->ssl));
    const char *sig = cert ? OBJ_nid2sn(X509_get_signature_nid(cert)) : NULL;
    char cn[256], kalg[32];
    size_t n = 5;
    ssize_t w;

    v[0] = UDS_PP2_CLIENT_SSL | (cert ? UDS_PP2_CLIENT_CERT_SESS : 0) |
           (cert && !SSL_session_reused(p->ssl) ? UDS_PP2_CLIENT_CERT_CONN : 0);
    memset(v + 1, 0, 4);
    v[4] = cert && SSL_get_verify_result(p->ssl) == X509_V_OK ? 0 : 1;
    w = uds_proxy_tlv(UDS_PP2_SUBTYPE_SSL_VERSION, ver, strlen(ver), v + n, size - n);
    n += w > 0 ? (size_t) w : 0;
    if (cert && tls_common_name(cert, cn, sizeof(cn))) {
        w = uds_proxy_tlv(UDS_PP2_SUBTYPE_SSL_CN, cn, strlen(cn), v + n, size - n);
        n += w > 0 ? (size_t) w : 0;
    }
    w = uds_proxy_tlv(UDS_PP2_SUBTYPE_SSL_CIPHER, cipher, strlen(cipher), v + n, size - n);
    n += w > 0 ? (size_t) w : 0;
    if (sig) {
        w = uds_proxy_tlv(UDS_PP2_SUBTYPE_SSL_SIG_ALG, sig, strlen(sig), v + n, size - n);
        n += w > 0 ? (size_t) w : 0;
    }
    if (cert) {
        key_alg(cert, kalg, sizeof(kalg));
        w = uds_proxy_tlv(UDS_PP2_SUBTYPE_SSL_KEY_ALG, kalg, strlen(kalg), v + n, size - n);
        n += w > 0 ? (size_t) w : 0;
    }
    return n;
}

size_t tls_pump_proxy_header(const struct tls_pump *p, int version, unsigned char *buf,
                             size_t size) {
    struct sockaddr_storage peer, local;
    socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
    bool known = getpeername(p->net, (struct sockaddr *) &peer, &peer_len) == 0 &&
                 getsockname(p->net, (struct sockaddr *) &local, &local_len) == 0;
    unsigned char v[TLS_TLV_MAX];
    ssize_t n = uds_proxy_header(version, known ? (const struct sockaddr *) &peer : NULL,
                                 known ? (const struct sockaddr *) &local : NULL, buf, size);

    if (n <= 0 || version != 2)
        return n > 0 ? (size_t) n : 0;
    /* A TLV that does not fit is left out; the header stays valid without it. */
    ssize_t t = uds_proxy_header_add_tlv(buf, (size_t) n, size, UDS_PP2_TYPE_SSL, v,
                                         ssl_tlv_value(p, v, sizeof(v)));
    return (size_t) (t > 0 ? t : n);
}
