/* SPDX-License-Identifier: MIT */
/*
 * doctor_tls.c — `uds doctor tls:HOST:PORT [--cert FILE --key FILE] [--ca FILE]`: why a TLS
 * bridge (`uds proxy tls:...`, or any TLS service) refuses, in plain sentences with what
 * to do. It looks at this side's files first (a certificate out of its dates, a key that is
 * not its key, a certificate the CA did not sign), then connects and shakes hands with the
 * verification of the server's certificate recorded rather than fatal, so that every
 * problem is named: an unknown CA, a name mismatch, dates; and last it waits a moment for
 * the server's verdict on this side's certificate, which TLS 1.3 sends after the handshake
 * (no certificate, an unknown CA, an expired one) or, for a name not allowed, by closing.
 * What it finds goes into doctor's findings, each with a code for --json; doctor_findings.c
 * prints them.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "doctor.h"
#include "tls_int.h"

#define VERDICT_MS 1500     /* how long the server has to refuse after the handshake */
#define CONNECT_MS 5000

struct doctor_tls {
    struct doctor *d;
    struct tls_opts *o;     /* &d->tls */
    char host[TLS_HOST_MAX];
    struct uds_addr addr;   /* tcp:HOST:PORT */
};

#define T struct tls_opts
const struct cli_opt doctor_tls_opts[] = {
    { "--cert", 0, "FILE", CLI_STRING(T, cert), .example = "me.pem",
      .help = "the client certificate to show (PEM)" },
    { "--key", 0, "FILE", CLI_STRING(T, key), .example = "me.key",
      .help = "its key (default: in --cert's file)" },
    { "--ca", 0, "FILE", CLI_STRING(T, ca), .example = "ca.pem",
      .help = "the CAs the server's certificate must be signed\n"
              "by (default: the system's)" },
    { "--server-name", 0, "NAME", CLI_STRING(T, server_name), .example = "db.example.org",
      .help = "the name the server's certificate must have\n"
              "(default: HOST)" },
    CLI_END,
};
#undef T

/* ---- findings ----------------------------------------------------------------------------- */

static void finding(struct doctor_tls *t, const char *code, enum severity sev, int exit_code,
                    const char *what, const char *todo) {
    doctor_add(t->d, code, sev, exit_code, todo, "%s", what);
}

/* tls.c's "its certificate ...; do this" as two sentences: whose ("The server's ") stands
 * for a leading "its ", else the first letter is made a capital; the advice too. */
static void finding_why(struct doctor_tls *t, const char *code, int exit_code,
                        const char *whose, const char *why) {
    char what[TLS_WHY_MAX + 64], todo[TLS_WHY_MAX];
    const char *semi = strstr(why, "; ");
    int len = semi ? (int) (semi - why) : (int) strlen(why);
    bool its = strncmp(why, "its ", 4) == 0;

    snprintf(what, sizeof(what), "%s%.*s.", its ? whose : "", its ? len - 4 : len,
             its ? why + 4 : why);
    what[0] = (char) toupper((unsigned char) what[0]);
    if (semi) {
        snprintf(todo, sizeof(todo), "%s.", semi + 2);
        todo[0] = (char) toupper((unsigned char) todo[0]);
    }
    finding(t, code, SEV_ERROR, exit_code, what, semi ? todo : NULL);
}

/* The code of a finding on the server's certificate, by why it failed verification. */
static const char *server_cert_code(int err) {
    if (err == X509_V_ERR_CERT_HAS_EXPIRED)
        return "tls-server-cert-expired";
    if (err == X509_V_ERR_CERT_NOT_YET_VALID)
        return "tls-server-cert-not-yet-valid";
    if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH)
        return "tls-server-name-mismatch";
    return tls_unknown_ca_error(err) ? "tls-server-unknown-ca" : "tls-server-cert-refused";
}

/* ---- this side's files -------------------------------------------------------------------- */

/* The certificate's dates, and whether --ca signed it (a server that trusts --ca only
 * would refuse it otherwise). */
static void check_own_cert(struct doctor_tls *t, SSL_CTX *ctx) {
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    X509_STORE_CTX *sc;
    char id[TLS_IDENTITY_MAX], when[64], what[TLS_WHY_MAX + 128];
    int err = X509_V_OK;

    if (!cert)
        return;
    tls_identity(cert, id, sizeof(id));
    if (t->o->ca && (sc = X509_STORE_CTX_new())) {
        if (X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx), cert, NULL) == 1 &&
            X509_verify_cert(sc) != 1)
            err = X509_STORE_CTX_get_error(sc);
        X509_STORE_CTX_free(sc);
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        tls_format_time(X509_get0_notAfter(cert), when, sizeof(when));
        snprintf(what, sizeof(what), "Your certificate (--cert %s: %s) expired on %s: the "
                 "server will refuse it.", t->o->cert, id, when);
        finding(t, "tls-cert-expired", SEV_ERROR, EX_NOPERM, what,
                "Renew it, and give the new one with --cert.");
    } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        tls_format_time(X509_get0_notBefore(cert), when, sizeof(when));
        snprintf(what, sizeof(what), "Your certificate (--cert %s: %s) is not valid before "
                 "%s: the server will refuse it until then.", t->o->cert, id, when);
        finding(t, "tls-cert-not-yet-valid", SEV_ERROR, EX_NOPERM, what,
                "Check this machine's clock, or wait.");
    } else if (err != X509_V_OK && err != X509_V_ERR_CERT_HAS_EXPIRED &&
               err != X509_V_ERR_CERT_NOT_YET_VALID) {
        snprintf(what, sizeof(what), "Your certificate (--cert %s: %s) is not signed by a CA "
                 "in --ca %s (%s): a server that trusts only that CA will refuse it.",
                 t->o->cert, id, t->o->ca, X509_verify_cert_error_string(err));
        finding(t, "tls-cert-other-ca", SEV_WARNING, 0, what, "If the server's --ca is another "
                "file, ignore this; else have your certificate signed by that CA.");
    } else {
        snprintf(what, sizeof(what), "Your certificate (%s) is within its dates%s.", id,
                 t->o->ca ? " and signed by a CA in --ca" : "");
        finding(t, "tls-cert", SEV_INFO, 0, what, NULL);
    }
}

/* ---- connecting --------------------------------------------------------------------------- */

/* A non-blocking TCP connection to sa, within ms; -1 with errno. */
static int tcp_connect(const struct sockaddr *sa, socklen_t len, int ms) {
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0;
    socklen_t elen = sizeof(err);
    struct pollfd p = { .fd = fd, .events = POLLOUT };

    if (fd < 0)
        return -1;
    if (connect(fd, sa, len) == 0)
        return fd;
    if (errno == EINPROGRESS) {
        int n = poll(&p, 1, ms);
        if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
            return fd;
        errno = n == 0 ? ETIMEDOUT : err ? err : errno;
    }
    err = errno;
    (void) close(fd);
    errno = err;
    return -1;
}

/* A TCP connection to the address, or -1 after a finding. */
static int connect_tcp(struct doctor_tls *t) {
    struct uds_tcp_addrs a;
    char what[512];
    int gai, fd = -1, err = 0;

    if (uds_tcp_resolve(&t->addr, &a, &gai) < 0) {
        snprintf(what, sizeof(what), "Cannot resolve '%s': %s.", t->addr.host,
                 gai ? gai_strerror(gai) : strerror(errno));
        finding(t, "tls-unresolved", SEV_ERROR, EX_UNAVAILABLE, what, "Check the host name.");
        return -1;
    }
    for (size_t i = 0; i < a.n && fd < 0; i++) {
        fd = tcp_connect((const struct sockaddr *) &a.addrs[i], a.lens[i], CONNECT_MS);
        if (fd < 0)
            err = errno;
    }
    if (fd >= 0)
        return fd;
    snprintf(what, sizeof(what), "Cannot reach %s:%u: %s.", t->addr.host, t->addr.port,
             err == ETIMEDOUT ? "no answer (timed out)" : strerror(err));
    finding(t, "tls-unreachable", SEV_ERROR, EX_UNAVAILABLE, what, err == ECONNREFUSED ?
            "Start the TLS listener "
            "(uds proxy tls:HOST:PORT ...), or check the port." : "Check the address, the "
            "route and any firewall between here and there.");
    return -1;
}

/* Wait up to ms for fd to be ready for what SSL wants (err); false on timeout. */
static bool wait_ssl(int fd, int err, int ms) {
    struct pollfd p = { .fd = fd, .events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN };

    return poll(&p, 1, ms) > 0;
}

/* SSL_do_handshake() until done, failed or CONNECT_MS; returns its last result. */
static int handshake(SSL *ssl, int fd, int *ret_err) {
    int r, e;

    for (;;) {
        ERR_clear_error();
        r = SSL_do_handshake(ssl);
        e = SSL_get_error(ssl, r);
        if (r == 1 || (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE))
            break;
        if (!wait_ssl(fd, e, CONNECT_MS)) {
            e = SSL_ERROR_SYSCALL;
            errno = ETIMEDOUT;
            break;
        }
    }
    *ret_err = e;
    return r;
}

/* The code of a failed handshake's finding, by the OpenSSL reason of its last error. */
static const char *handshake_code(const struct tls_verify *v, int reason) {
    if (v->error != X509_V_OK)
        return server_cert_code(v->error);
    if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
        reason == SSL_R_PACKET_LENGTH_TOO_LONG)
        return "tls-not-tls";
    switch (reason - SSL_AD_REASON_OFFSET) {
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_REVOKED:
        return "tls-cert-refused";
    case SSL_AD_CERTIFICATE_REQUIRED:
        return "tls-client-cert-missing";
    }
    return "tls-handshake-failed";
}

/* The handshake failed: why, as the server or the connection tells. */
static void handshake_failed(struct doctor_tls *t, struct tls_verify *v, int e) {
    unsigned long last = ERR_peek_last_error();
    int reason = ERR_GET_REASON(last);
    const char *code;
    char why[TLS_WHY_MAX];

    if (e == SSL_ERROR_SYSCALL && last == 0) {
        snprintf(why, sizeof(why), "The server closed the connection during the handshake "
                 "(%s)", errno ? strerror(errno) : "end of stream");
        finding(t, "tls-closed-in-handshake", SEV_ERROR, EX_UNAVAILABLE, why,
                "Is it a TLS service? Its log says why.");
        return;
    }
    if (!t->o->cert && (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
                         reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)) {
        ERR_clear_error();
        finding(t, "tls-client-cert-missing", SEV_ERROR, EX_NOPERM,
                "The server wants a client certificate, and you gave none.",
                "Give --cert and --key: a certificate signed by the CA the server trusts (its "
                "--ca).");
        return;
    }
    code = handshake_code(v, reason);
    tls_describe_handshake_error(v, false, why, sizeof(why));
    finding_why(t, code, strcmp(code, "tls-not-tls") == 0 ? EX_UNAVAILABLE : EX_NOPERM,
                "The server's ", why);
}

/* What the handshake agreed on, for --json. */
static void note_session(struct doctor *d, SSL *ssl) {
    X509 *cert = SSL_get0_peer_certificate(ssl);

    snprintf(d->session.version, sizeof(d->session.version), "%s", SSL_get_version(ssl));
    snprintf(d->session.cipher, sizeof(d->session.cipher), "%s",
             SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
    if (cert)
        tls_identity(cert, d->session.server_id, sizeof(d->session.server_id));
}

/* After the handshake: the server's certificate as verified. */
static void check_server_cert(struct doctor_tls *t, SSL *ssl, const struct tls_verify *v) {
    X509 *cert = SSL_get0_peer_certificate(ssl);
    char id[TLS_IDENTITY_MAX], what[TLS_WHY_MAX + 128];

    if (v->error != X509_V_OK) {
        finding_why(t, server_cert_code(v->error), EX_NOPERM, "The server's ", v->why);
        return;
    }
    tls_identity(cert, id, sizeof(id));
    snprintf(what, sizeof(what), "The server's certificate (%s) is signed by %s, within its "
             "dates and for '%s'; %s, %s.", id, t->o->ca ? "a CA in --ca" : "a CA of the "
             "system", t->host, SSL_get_version(ssl),
             SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
    finding(t, "tls-server-cert", SEV_INFO, 0, what, NULL);
}

/* TLS 1.3 servers judge the client's certificate after the client's handshake is done: an
 * alert, or a close (a uds proxy whose --allow-cn misses), says so within a moment. */
static void await_verdict(struct doctor_tls *t, SSL *ssl, int fd, struct tls_verify *v) {
    uint64_t end = cli_now_ms() + VERDICT_MS;
    char buf[256];
    int r, e = SSL_ERROR_WANT_READ;

    while (cli_now_ms() < end) {
        ERR_clear_error();
        r = SSL_read(ssl, buf, sizeof(buf));
        e = SSL_get_error(ssl, r);
        if (r > 0 || (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE))
            break;
        if (!wait_ssl(fd, e, (int) (end - cli_now_ms())))
            break;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_NONE) {
        finding(t, t->o->cert ? "tls-accepted" : "tls-no-client-cert-wanted", SEV_INFO, 0,
                t->o->cert ? "The server accepted your certificate." :
                "The server asks for no client certificate.", NULL);
        return;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) ||
        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        finding(t, "tls-closed-after-handshake", SEV_ERROR, EX_NOPERM, "The server closed the "
                "connection right after the "
                "handshake: it may not allow your certificate's name (uds proxy --allow-cn, "
                "--allow-san), or its target may be down.", "Its log names the reason.");
        return;
    }
    handshake_failed(t, v, e);
}

/* ---- the command -------------------------------------------------------------------------- */

static void examine(struct doctor_tls *t, SSL_CTX *ctx) {
    struct tls_verify v = { .ca = t->o->ca, .host = t->host, .keep_going = true };
    SSL *ssl;
    int fd, r, e;

    check_own_cert(t, ctx);
    fd = connect_tcp(t);
    if (fd < 0)
        return;
    ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || !SSL_set_app_data(ssl, &v) ||
        tls_set_host(ssl, t->host) < 0) {
        finding(t, "tls-setup", SEV_ERROR, CLI_EXIT_FAILURE, "Cannot set up TLS.", NULL);
    } else {
        SSL_set_connect_state(ssl);
        r = handshake(ssl, fd, &e);
        if (r == 1) {
            note_session(t->d, ssl);
            check_server_cert(t, ssl, &v);
            await_verdict(t, ssl, fd, &v);
        } else {
            handshake_failed(t, &v, e);
        }
    }
    SSL_free(ssl);
    (void) close(fd);
}

int doctor_tls_examine(struct doctor *d) {
    struct doctor_tls t = { .d = d, .o = &d->tls };
    char tcp[TLS_HOST_MAX + 16], why[TLS_WHY_MAX + 256];
    SSL_CTX *ctx;

    snprintf(tcp, sizeof(tcp), "tcp:%s", d->address + 4);
    if (uds_addr_parse(tcp, UDS_ADDR_ALLOW_TCP, &t.addr) < 0 || t.addr.port == 0)
        return cli_usage("doctor", "'%s' is not a TLS address; e.g. tls:db.example.org:7443",
                         d->address);
    if (t.o->key && !t.o->cert)
        return cli_usage("doctor", "--key goes with --cert FILE");
    snprintf(t.host, sizeof(t.host), "%s", t.o->server_name ? t.o->server_name : t.addr.host);
    ctx = tls_context_new(t.o, false, why, sizeof(why));
    if (!ctx) {
        finding_why(&t, "tls-files", EX_CONFIG, "Your ", why);
        return CLI_CONTINUE;
    }
    examine(&t, ctx);
    SSL_CTX_free(ctx);
    return CLI_CONTINUE;
}
