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
#include "tls_int.h"

#define VERDICT_MS 1500     /* how long the server has to refuse after the handshake */
#define CONNECT_MS 5000

struct doctor_tls {
    struct tls_opts tls;
    const char *address;
    char host[TLS_HOST_MAX];
    struct uds_addr addr;
    int errors;
    int exit_code;          /* of the first error */
};

static const struct cli_command doctor_tls_cmd = {
    .name = "doctor",
    .synopsis = "[--cert FILE [--key FILE]] [--ca FILE] [--server-name NAME] tls:HOST:PORT",
    .help_col = 28,
    .operands = { .names = "ADDRESS", .min = 1, .max = 1,
                  .example = "uds doctor --cert me.pem --key me.key --ca ca.pem tls:db:7443" },
    .intro =
        "Explain why a TLS service (a 'uds proxy tls:HOST:PORT' listener, or any other)\n"
        "refuses this side, in plain sentences, each with what to do: this side's\n"
        "certificate out of its dates, not matching its key or not signed by --ca; the\n"
        "server unreachable or not speaking TLS; its certificate from an unknown CA, out\n"
        "of its dates or not for HOST; no client certificate given when one is wanted,\n"
        "or this side's refused.\n",
    .outro =
        "Exit status: 0 the server accepts this side, 1 failure, 64 usage error, 69 the\n"
        "server cannot be reached or does not speak TLS, 77 a certificate is refused\n"
        "(either way), 78 a file given cannot be used.\n",
    .opts = (const struct cli_opt[]){
        { "--cert", 0, "FILE", CLI_STRING(struct tls_opts, cert), .example = "me.pem",
          .help = "the client certificate to show (PEM)" },
        { "--key", 0, "FILE", CLI_STRING(struct tls_opts, key), .example = "me.key",
          .help = "its key (default: in --cert's file)" },
        { "--ca", 0, "FILE", CLI_STRING(struct tls_opts, ca), .example = "ca.pem",
          .help = "the CAs the server's certificate must be signed by\n"
                  "(default: the system's)" },
        { "--server-name", 0, "NAME", CLI_STRING(struct tls_opts, server_name),
          .example = "db.example.org",
          .help = "the name the server's certificate must have\n(default: HOST)" },
        CLI_END,
    },
};

/* ---- findings ----------------------------------------------------------------------------- */

enum sev { SEV_OK, SEV_WARNING, SEV_ERROR };

static void finding(struct doctor_tls *d, enum sev sev, int code, const char *what,
                    const char *todo) {
    static const char *const names[] = { "ok", "warning", "error" };

    printf("  %-7s %s\n", names[sev], what);
    if (todo)
        printf("          what to do: %s\n", todo);
    if (sev == SEV_ERROR && d->errors++ == 0)
        d->exit_code = code;
}

/* tls.c's "its certificate ...; do this" as two sentences: whose ("The server's ") stands
 * for a leading "its ", else the first letter is made a capital; the advice too. */
static void finding_why(struct doctor_tls *d, int code, const char *whose, const char *why) {
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
    finding(d, SEV_ERROR, code, what, semi ? todo : NULL);
}

/* ---- this side's files -------------------------------------------------------------------- */

/* The certificate's dates, and whether --ca signed it (a server that trusts --ca only
 * would refuse it otherwise). */
static void check_own_cert(struct doctor_tls *d, SSL_CTX *ctx) {
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    X509_STORE_CTX *sc;
    char id[TLS_IDENTITY_MAX], when[64], what[TLS_WHY_MAX + 128];
    int err = X509_V_OK;

    if (!cert)
        return;
    tls_identity(cert, id, sizeof(id));
    if (d->tls.ca && (sc = X509_STORE_CTX_new())) {
        if (X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx), cert, NULL) == 1 &&
            X509_verify_cert(sc) != 1)
            err = X509_STORE_CTX_get_error(sc);
        X509_STORE_CTX_free(sc);
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        tls_format_time(X509_get0_notAfter(cert), when, sizeof(when));
        snprintf(what, sizeof(what), "Your certificate (--cert %s: %s) expired on %s: the "
                 "server will refuse it.", d->tls.cert, id, when);
        finding(d, SEV_ERROR, EX_NOPERM, what, "Renew it, and give the new one with --cert.");
    } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        tls_format_time(X509_get0_notBefore(cert), when, sizeof(when));
        snprintf(what, sizeof(what), "Your certificate (--cert %s: %s) is not valid before "
                 "%s: the server will refuse it until then.", d->tls.cert, id, when);
        finding(d, SEV_ERROR, EX_NOPERM, what, "Check this machine's clock, or wait.");
    } else if (err != X509_V_OK && err != X509_V_ERR_CERT_HAS_EXPIRED &&
               err != X509_V_ERR_CERT_NOT_YET_VALID) {
        snprintf(what, sizeof(what), "Your certificate (--cert %s: %s) is not signed by a CA "
                 "in --ca %s (%s): a server that trusts only that CA will refuse it.",
                 d->tls.cert, id, d->tls.ca, X509_verify_cert_error_string(err));
        finding(d, SEV_WARNING, 0, what, "If the server's --ca is another file, ignore this; "
                "else have your certificate signed by that CA.");
    } else {
        snprintf(what, sizeof(what), "Your certificate (%s) is within its dates%s.", id,
                 d->tls.ca ? " and signed by a CA in --ca" : "");
        finding(d, SEV_OK, 0, what, NULL);
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
static int connect_tcp(struct doctor_tls *d) {
    struct uds_tcp_addrs a;
    char what[512];
    int gai, fd = -1, err = 0;

    if (uds_tcp_resolve(&d->addr, &a, &gai) < 0) {
        snprintf(what, sizeof(what), "Cannot resolve '%s': %s.", d->addr.host,
                 gai ? gai_strerror(gai) : strerror(errno));
        finding(d, SEV_ERROR, EX_UNAVAILABLE, what, "Check the host name.");
        return -1;
    }
    for (size_t i = 0; i < a.n && fd < 0; i++) {
        fd = tcp_connect((const struct sockaddr *) &a.addrs[i], a.lens[i], CONNECT_MS);
        if (fd < 0)
            err = errno;
    }
    if (fd >= 0)
        return fd;
    snprintf(what, sizeof(what), "Cannot reach %s:%u: %s.", d->addr.host, d->addr.port,
             err == ETIMEDOUT ? "no answer (timed out)" : strerror(err));
    finding(d, SEV_ERROR, EX_UNAVAILABLE, what, err == ECONNREFUSED ? "Start the TLS listener "
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

/* The handshake failed: why, as the server or the connection tells. */
static void handshake_failed(struct doctor_tls *d, struct tls_verify *v, int e) {
    unsigned long last = ERR_peek_last_error();
    int reason = ERR_GET_REASON(last);
    char why[TLS_WHY_MAX];

    if (e == SSL_ERROR_SYSCALL && last == 0) {
        snprintf(why, sizeof(why), "The server closed the connection during the handshake "
                 "(%s)", errno ? strerror(errno) : "end of stream");
        finding(d, SEV_ERROR, EX_UNAVAILABLE, why, "Is it a TLS service? Its log says why.");
        return;
    }
    if (!d->tls.cert && (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
                         reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)) {
        ERR_clear_error();
        finding(d, SEV_ERROR, EX_NOPERM, "The server wants a client certificate, and you gave none.",
                "Give --cert and --key: a certificate signed by the CA the server trusts (its "
                "--ca).");
        return;
    }
    tls_describe_handshake_error(v, false, why, sizeof(why));
    finding_why(d, reason == SSL_R_WRONG_VERSION_NUMBER ? EX_UNAVAILABLE : EX_NOPERM,
                "The server's ", why);
}

/* After the handshake: the server's certificate as verified. */
static void check_server_cert(struct doctor_tls *d, SSL *ssl, const struct tls_verify *v) {
    X509 *cert = SSL_get0_peer_certificate(ssl);
    char id[TLS_IDENTITY_MAX], what[TLS_WHY_MAX + 128];

    if (v->error != X509_V_OK) {
        finding_why(d, EX_NOPERM, "The server's ", v->why);
        return;
    }
    tls_identity(cert, id, sizeof(id));
    snprintf(what, sizeof(what), "The server's certificate (%s) is signed by %s, within its "
             "dates and for '%s'; %s, %s.", id, d->tls.ca ? "a CA in --ca" : "a CA of the "
             "system", d->host, SSL_get_version(ssl),
             SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
    finding(d, SEV_OK, 0, what, NULL);
}

/* TLS 1.3 servers judge the client's certificate after the client's handshake is done: an
 * alert, or a close (a uds proxy whose --allow-cn misses), says so within a moment. */
static void await_verdict(struct doctor_tls *d, SSL *ssl, int fd, struct tls_verify *v) {
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
        finding(d, SEV_OK, 0, d->tls.cert ? "The server accepted your certificate." :
                "The server asks for no client certificate.", NULL);
        return;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) ||
        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        finding(d, SEV_ERROR, EX_NOPERM, "The server closed the connection right after the "
                "handshake: it may not allow your certificate's name (uds proxy --allow-cn, "
                "--allow-san), or its target may be down.", "Its log names the reason.");
        return;
    }
    handshake_failed(d, v, e);
}

/* ---- the command -------------------------------------------------------------------------- */

static void examine(struct doctor_tls *d, SSL_CTX *ctx) {
    struct tls_verify v = { .ca = d->tls.ca, .host = d->host, .keep_going = true };
    SSL *ssl;
    int fd, r, e;

    check_own_cert(d, ctx);
    fd = connect_tcp(d);
    if (fd < 0)
        return;
    ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || !SSL_set_app_data(ssl, &v) ||
        tls_set_host(ssl, d->host) < 0) {
        finding(d, SEV_ERROR, CLI_EXIT_FAILURE, "Cannot set up TLS.", NULL);
    } else {
        SSL_set_connect_state(ssl);
        r = handshake(ssl, fd, &e);
        if (r == 1) {
            check_server_cert(d, ssl, &v);
            await_verdict(d, ssl, fd, &v);
        } else {
            handshake_failed(d, &v, e);
        }
    }
    SSL_free(ssl);
    (void) close(fd);
}

bool doctor_tls_wanted(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "tls:", 4) == 0)
            return true;
    return false;
}

int cmd_doctor_tls(int argc, char **argv) {
    struct doctor_tls d = { .exit_code = EX_OK };
    struct cli_parsed p;
    char tcp[TLS_HOST_MAX + 16], why[TLS_WHY_MAX + 256];
    SSL_CTX *ctx;
    int code = cli_parse(&doctor_tls_cmd, argc, argv, &d.tls, &p);

    if (code != CLI_CONTINUE)
        return code;
    d.address = p.operands[0];
    cli_log_setup(0, false);
    snprintf(tcp, sizeof(tcp), "tcp:%s", d.address + 4);
    if (strncmp(d.address, "tls:", 4) != 0 ||
        uds_addr_parse(tcp, UDS_ADDR_ALLOW_TCP, &d.addr) < 0 || d.addr.port == 0)
        return cli_usage("doctor", "'%s' is not a TLS address; e.g. tls:db.example.org:7443",
                         d.address);
    if (d.tls.key && !d.tls.cert)
        return cli_usage("doctor", "--key goes with --cert FILE");
    snprintf(d.host, sizeof(d.host), "%s", d.tls.server_name ? d.tls.server_name : d.addr.host);
    printf("uds doctor: %s\n", d.address);
    ctx = tls_context_new(&d.tls, false, why, sizeof(why));
    if (!ctx) {
        finding_why(&d, EX_CONFIG, "Your ", why);
    } else {
        examine(&d, ctx);
        SSL_CTX_free(ctx);
    }
    if (d.errors == 0)
        printf("Result: the TLS service accepts you (exit 0).\n");
    else
        printf("Result: %d problem%s; the first decides the exit status (exit %d).\n",
               d.errors, d.errors == 1 ? "" : "s", d.exit_code);
    return d.exit_code;
}
