/* SPDX-License-Identifier: MIT */
/*
 * tls.c — TLS for `uds proxy`: the options, the contexts made from --cert, --key and --ca
 * (and made again on SIGHUP), and what a peer's certificate says and whether it is let in.
 *
 * Nothing here weakens TLS quietly: TLS 1.2 is the least either side speaks (1.3 is
 * preferred, OpenSSL's order), the peer is verified both ways by default (a listener asks
 * every client for a certificate signed by --ca; a target's certificate must be signed by
 * --ca, or a CA of the system, and name the host), renegotiation is off. Taking clients
 * without certificates is said out loud (--no-client-cert), never implied.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "tls_int.h"

/* ---- options ------------------------------------------------------------------------------ */

#define T struct tls_opts
const struct cli_opt tls_proxy_opts[] = {
    { "--cert", 0, "FILE", CLI_STRING(T, cert), .example = "/etc/uds/server.pem",
      .help = "the certificate (PEM, its chain after it) that a\n"
              "tls: side shows its peer" },
    { "--key", 0, "FILE", CLI_STRING(T, key), .example = "/etc/uds/server.key",
      .help = "its private key (PEM; default: in --cert's file)" },
    { "--ca", 0, "FILE", CLI_STRING(T, ca), .example = "/etc/uds/ca.pem",
      .help = "the CA certificates (PEM) that must sign the peer's:\n"
              "a tls: LISTEN's clients' (required unless\n"
              "--no-client-cert), a tls: TARGET's (default: the\n"
              "system's CAs)" },
    { "--no-client-cert", 0, NULL, CLI_FLAG(T, no_client_cert),
      .help = "a tls: LISTEN takes clients without a certificate:\n"
              "anyone who reaches it is relayed" },
    { "--server-name", 0, "NAME", CLI_STRING(T, server_name), .example = "db.example.org",
      .help = "the name a tls: TARGET's certificate must have\n"
              "(default: TARGET's host), also sent as SNI" },
    { "--allow-cn", 0, "NAME", CLI_STRINGS(T, allow_cn),
      .example = "backup-client",
      .help = "a tls: LISTEN relays only clients whose certificate\n"
              "has this common name (repeatable; with --allow-san,\n"
              "either suffices); others are closed and logged" },
    { "--allow-san", 0, "NAME", CLI_STRINGS(T, allow_san),
      .example = "client.example.org",
      .help = "...or this subject alternative name: a DNS name,\n"
              "e-mail, URI or IP address (repeatable)" },
    CLI_END,
};
#undef T

/* ---- what a certificate says -------------------------------------------------------------- */

void tls_format_time(const ASN1_TIME *t, char *buf, size_t size) {
    BIO *b = BIO_new(BIO_s_mem());
    int n = 0;

    if (b && ASN1_TIME_print(b, t))
        n = BIO_read(b, buf, (int) size - 1);
    buf[n > 0 ? n : 0] = '\0';
    if (n <= 0)
        snprintf(buf, size, "an unreadable date");
    BIO_free(b);
}

/* The text of an ASN1 string holding no NUL, or false. */
static bool asn1_text(const ASN1_STRING *s, char *buf, size_t size) {
    int len = ASN1_STRING_length(s);
    const unsigned char *d = ASN1_STRING_get0_data(s);

    if (len < 0 || (size_t) len >= size || memchr(d, 0, (size_t) len))
        return false;
    memcpy(buf, d, (size_t) len);
    buf[len] = '\0';
    return true;
}

bool tls_common_name(X509 *cert, char *buf, size_t size) {
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    unsigned char *utf8 = NULL;
    int len;
    bool ok;

    if (i < 0)
        return false;
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    ok = len >= 0 && (size_t) len < size && !memchr(utf8, 0, (size_t) len);
    if (ok) {
        memcpy(buf, utf8, (size_t) len);
        buf[len] = '\0';
    }
    OPENSSL_free(utf8);
    return ok;
}

/* One subject alternative name: its kind ("DNS") and value as text, or false. */
static bool san_text(const GENERAL_NAME *gn, const char **ret_kind, char *buf, size_t size) {
    const ASN1_OCTET_STRING *ip;

    switch (gn->type) {
    case GEN_DNS:
        *ret_kind = "DNS";
        return asn1_text(gn->d.dNSName, buf, size);
    case GEN_EMAIL:
        *ret_kind = "email";
        return asn1_text(gn->d.rfc822Name, buf, size);
    case GEN_URI:
        *ret_kind = "URI";
        return asn1_text(gn->d.uniformResourceIdentifier, buf, size);
    case GEN_IPADD:
        *ret_kind = "IP";
        ip = gn->d.iPAddress;
        if (ASN1_STRING_length(ip) != 4 && ASN1_STRING_length(ip) != 16)
            return false;
        return inet_ntop(ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6,
                         ASN1_STRING_get0_data(ip), buf, (socklen_t) size) != NULL;
    }
    return false;
}

/* Whether one of cert's subject alternative names is one of names; with names NULL, appends
 * them all to buf instead ("DNS:a,IP:10.0.0.1"). */
static bool san_walk(X509 *cert, const struct cli_strings *names, char *buf, size_t size) {
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    size_t used = names ? 0 : strlen(buf);
    bool found = false;
    char v[256];
    const char *kind;

    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !found; i++) {
        if (!san_text(sk_GENERAL_NAME_value(gens, i), &kind, v, sizeof(v)))
            continue;
        if (!names) {
            cli_append(buf, size, &used, "%s%s:", used && buf[used - 1] != '=' ? "," : "",
                       kind);
            used += cli_text_escape_buf(v, strlen(v), buf + used, size - used);
            continue;
        }
        for (size_t j = 0; j < names->n && !found; j++)
            found = strcmp(names->v[j], v) == 0;
    }
    GENERAL_NAMES_free(gens);
    return found;
}

void tls_identity(X509 *cert, char *buf, size_t size) {
    char cn[256];
    size_t used = 0;

    buf[0] = '\0';
    if (!cert) {
        snprintf(buf, size, "no certificate");
        return;
    }
    if (tls_common_name(cert, cn, sizeof(cn))) {
        cli_append(buf, size, &used, "CN=");
        used += cli_text_escape_buf(cn, strlen(cn), buf + used, size - used);
    }
    if (X509_get_ext_by_NID(cert, NID_subject_alt_name, -1) >= 0) {
        cli_append(buf, size, &used, "%sSAN=", used ? " " : "");
        (void) san_walk(cert, NULL, buf, size);
    }
    if (!buf[0])
        snprintf(buf, size, "a certificate with no common name");
}

bool tls_admitted(const struct tls_opts *opts, X509 *cert, char *why, size_t size) {
    char cn[256], id[TLS_IDENTITY_MAX];

    if (opts->allow_cn.n == 0 && opts->allow_san.n == 0)
        return true;
    if (cert && opts->allow_cn.n && tls_common_name(cert, cn, sizeof(cn)))
        for (size_t i = 0; i < opts->allow_cn.n; i++)
            if (strcmp(opts->allow_cn.v[i], cn) == 0)
                return true;
    if (cert && opts->allow_san.n && san_walk(cert, &opts->allow_san, NULL, 0))
        return true;
    tls_identity(cert, id, sizeof(id));
    snprintf(why, size, "its certificate (%s) is not allowed by %s%s%s; add its name there "
             "to let it in", id, opts->allow_cn.n ? "--allow-cn" : "",
             opts->allow_cn.n && opts->allow_san.n ? " or " : "",
             opts->allow_san.n ? "--allow-san" : "");
    return false;
}

/* ---- why verification failed -------------------------------------------------------------- */

bool tls_unknown_ca_error(int err) {
    switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return true;
    }
    return false;
}

void tls_describe_verify_error(int err, X509 *cert, X509 *leaf, const struct tls_verify *v,
                               char *buf, size_t size) {
    char id[TLS_IDENTITY_MAX], when[64], issuer[256] = "?";
    const char *ca = v && v->ca ? v->ca : NULL;

    /* Dates are the failing certificate's; a chain that leads to no known CA is named by
     * its end certificate (the peer's own), with the issuer of the last one it holds. */
    tls_identity(tls_unknown_ca_error(err) && leaf ? leaf : cert, id, sizeof(id));
    if (err == X509_V_ERR_CERT_HAS_EXPIRED && cert) {
        tls_format_time(X509_get0_notAfter(cert), when, sizeof(when));
        snprintf(buf, size, "its certificate (%s) expired on %s; renew it (a proxy that "
                 "shows it reloads it on SIGHUP)", id, when);
    } else if (err == X509_V_ERR_CERT_NOT_YET_VALID && cert) {
        tls_format_time(X509_get0_notBefore(cert), when, sizeof(when));
        snprintf(buf, size, "its certificate (%s) is not valid before %s; check both "
                 "machines' clocks, or wait", id, when);
    } else if (tls_unknown_ca_error(err)) {
        if (cert)
            X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
        snprintf(buf, size, "its certificate (%s, issued by %s) is not signed by a CA in %s%s; "
                 "give %s the CA that signed it, or have it signed by one there", id, issuer,
                 ca ? "--ca " : "the system's CAs", ca ? ca : "", ca ? "--ca" : "--ca FILE");
    } else if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        snprintf(buf, size, "its certificate (%s) is not for '%s'; connect by a name it has, "
                 "or give --server-name one of its names", id, v && v->host ? v->host : "?");
    } else {
        snprintf(buf, size, "its certificate (%s) was refused: %s", id,
                 X509_verify_cert_error_string(err));
    }
}

int tls_verify_cb(int ok, X509_STORE_CTX *store) {
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_verify *v = ssl ? SSL_get_app_data(ssl) : NULL;

    if (ok || !v)
        return ok;
    if (v->error == X509_V_OK) {
        v->error = X509_STORE_CTX_get_error(store);
        tls_describe_verify_error(v->error, X509_STORE_CTX_get_current_cert(store),
                                  X509_STORE_CTX_get0_cert(store), v, v->why, sizeof(v->why));
    }
    return v->keep_going ? 1 : 0;
}

/* An alert the peer sent: it refused something of ours. */
static void describe_alert(int alert, bool server, char *buf, size_t size) {
    const char *peer = server ? "the client" : "the server";

    switch (alert) {
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
        snprintf(buf, size, "%s refused this side's certificate (alert '%s'); give it the CA "
                 "that signed --cert, or a certificate signed by a CA it trusts", peer,
                 SSL_alert_desc_string_long(alert));
        break;
    case SSL_AD_CERTIFICATE_EXPIRED:
        snprintf(buf, size, "%s says this side's certificate (--cert) has expired; renew it "
                 "and send SIGHUP", peer);
        break;
    case SSL_AD_CERTIFICATE_REQUIRED:
        snprintf(buf, size, "%s wants a client certificate and this side showed none; give "
                 "this side --cert and --key, signed by a CA it trusts", peer);
        break;
    case SSL_AD_HANDSHAKE_FAILURE:
        snprintf(buf, size, "%s refused the handshake (alert '%s'): it may want a client "
                 "certificate; give this side --cert and --key signed by a CA it trusts", peer,
                 SSL_alert_desc_string_long(alert));
        break;
    case SSL_AD_PROTOCOL_VERSION:
        snprintf(buf, size, "%s speaks no TLS version this side accepts (TLS 1.2 or later); "
                 "upgrade it", peer);
        break;
    default:
        snprintf(buf, size, "%s sent the alert '%s'", peer, SSL_alert_desc_string_long(alert));
    }
}

void tls_describe_handshake_error(const struct tls_verify *v, bool server, char *buf,
                                  size_t size) {
    unsigned long e = ERR_peek_last_error();
    int reason = ERR_GET_REASON(e);

    if (v && v->error != X509_V_OK)
        snprintf(buf, size, "%s", v->why);
    else if (e == 0)
        snprintf(buf, size, "the connection closed during the handshake");
    else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
        snprintf(buf, size, "it sent no client certificate; give the client a certificate "
                 "signed by --ca %s (--cert, --key), or let anyone in with --no-client-cert",
                 v && v->ca ? v->ca : "");
    else if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
        describe_alert(reason - SSL_AD_REASON_OFFSET, server, buf, size);
    else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
             reason == SSL_R_PACKET_LENGTH_TOO_LONG)
        snprintf(buf, size, "it does not speak TLS (%s); is it a plain TCP %s?",
                 ERR_reason_error_string(e), server ? "client" : "service");
    else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE)
        snprintf(buf, size, "it offers no TLS version this side accepts (TLS 1.2 or later)");
    else if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        snprintf(buf, size, "it closed the connection during the handshake");
    else
        snprintf(buf, size, "TLS handshake failed: %s",
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error");
    ERR_clear_error();
}

/* ---- contexts ----------------------------------------------------------------------------- */

/* The last OpenSSL error in words, the queue emptied. */
static const char *ssl_reason(void) {
    const char *r = ERR_reason_error_string(ERR_peek_last_error());

    ERR_clear_error();
    return r ? r : "unknown error";
}

/* Whether path can be opened for reading; else why, with what to do. */
static bool readable(const char *opt, const char *path, const char *what, char *why,
                     size_t size) {
    FILE *f = fopen(path, "re");

    if (f) {
        fclose(f);
        return true;
    }
    snprintf(why, size, "%s %s: cannot read it (%s); give %s", opt, path, strerror(errno),
             what);
    return false;
}

static bool load_identity(SSL_CTX *ctx, const struct tls_opts *o, char *why, size_t size) {
    const char *key = o->key ? o->key : o->cert;

    if (!readable("--cert", o->cert, "the PEM certificate this side shows", why, size) ||
        !readable("--key", key, "the PEM private key of --cert", why, size))
        return false;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
        snprintf(why, size, "--cert %s: no usable PEM certificate in it (%s); give a PEM file "
                 "beginning with the certificate", o->cert, ssl_reason());
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            snprintf(why, size, "--key %s is not the key of --cert %s; give the key the "
                     "certificate was made for", key, o->cert);
            return false;
        }
        snprintf(why, size, "--key %s: no usable PEM private key in it (%s)%s", key,
                 ssl_reason(), o->key ? "" : "; give the key with --key FILE");
        return false;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(why, size, "--key %s is not the key of --cert %s (%s); give the key the "
                 "certificate was made for", key, o->cert, ssl_reason());
        return false;
    }
    return true;
}

static bool load_ca(SSL_CTX *ctx, const struct tls_opts *o, bool server, char *why,
                    size_t size) {
    STACK_OF(X509_NAME) *names;

    if (!o->ca) {
        if (SSL_CTX_set_default_verify_paths(ctx) == 1)
            return true;
        snprintf(why, size, "cannot load the system's CAs (%s); give --ca FILE", ssl_reason());
        return false;
    }
    if (!readable("--ca", o->ca, "the PEM certificates of the CAs that sign the peers", why,
                  size))
        return false;
    if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
        snprintf(why, size, "--ca %s: no usable PEM certificate in it (%s)", o->ca, ssl_reason());
        return false;
    }
    if (server) {
        /* Sent in the certificate request: a client with several picks the right one. */
        names = SSL_load_client_CA_file(o->ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
    }
    return true;
}

SSL_CTX *tls_context_new(const struct tls_opts *o, bool server, char *why, size_t size) {
    static const unsigned char sid[] = "uds proxy";
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    bool verify = !server || !o->no_client_cert;

    if (!ctx) {
        snprintf(why, size, "cannot make a TLS context: %s", ssl_reason());
        return NULL;
    }
    /* TLS 1.2 at least; the highest both speak (1.3) is chosen. Kernel TLS where the kernel
     * has it (the tls module): records are then sealed in the kernel. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_ENABLE_KTLS |
                        (server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if ((server || o->cert) && !load_identity(ctx, o, why, size))
        goto fail;
    if (verify && !load_ca(ctx, o, server, why, size))
        goto fail;
    SSL_CTX_set_verify(ctx, !verify ? SSL_VERIFY_NONE : server ?
                       SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
                       verify ? tls_verify_cb : NULL);
    /* Resumed sessions keep the client's verified certificate; OpenSSL refuses to resume
     * under client verification without a session context. */
    if (server)
        SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
