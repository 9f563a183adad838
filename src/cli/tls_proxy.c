/* SPDX-License-Identifier: MIT */
/*
 * tls_proxy.c — a proxy's TLS sides: tls:HOST:PORT addresses turned into the TCP ones the
 * proxy listens on or connects to, the checks of the TLS options against them, the
 * contexts, and their reload on SIGHUP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tls_int.h"

static bool is_tls(const char *text) {
    return strncmp(text, "tls:", 4) == 0;
}

/* The first TLS option given, for "X is for a tls: ..." */
static const char *first_option(const struct tls_opts *o) {
    return o->cert ? "--cert" : o->key ? "--key" : o->ca ? "--ca" :
           o->server_name ? "--server-name" : o->no_client_cert ? "--no-client-cert" :
           o->allow_cn.n ? "--allow-cn" : o->allow_san.n ? "--allow-san" : NULL;
}

/* Combinations that cannot mean what they say. Returns CLI_CONTINUE, or EX_USAGE. */
static int check_options(const struct tls_opts *o, const char *listen, const char *target) {
    bool lis = is_tls(listen), tar = is_tls(target), allow = o->allow_cn.n || o->allow_san.n;

    if (!lis && !tar && first_option(o))
        return cli_usage("proxy", "%s is for a tls:HOST:PORT LISTEN or TARGET; neither '%s' "
                         "nor '%s' is one", first_option(o), listen, target);
    if (o->key && !o->cert)
        return cli_usage("proxy", "--key goes with --cert FILE, the certificate it is the key "
                         "of");
    if (lis && !o->cert)
        return cli_usage("proxy", "%s: a TLS listener needs --cert FILE (and --key FILE): the "
                         "certificate it shows its clients", listen);
    if (lis && !o->ca && !o->no_client_cert)
        return cli_usage("proxy", "%s: a TLS listener needs --ca FILE, the CA certificates "
                         "that sign its clients' certificates, or --no-client-cert to take "
                         "clients without one", listen);
    if (o->no_client_cert && allow)
        return cli_usage("proxy", "%s checks the client's certificate, and --no-client-cert "
                         "takes clients without one; choose", o->allow_cn.n ? "--allow-cn" :
                         "--allow-san");
    if (!lis && (o->no_client_cert || allow))
        return cli_usage("proxy", "%s is for a tls:HOST:PORT LISTEN; '%s' is not one",
                         o->no_client_cert ? "--no-client-cert" : o->allow_cn.n ?
                         "--allow-cn" : "--allow-san", listen);
    if (!tar && o->server_name)
        return cli_usage("proxy", "--server-name is for a tls:HOST:PORT TARGET; '%s' is not one",
                         target);
    return CLI_CONTINUE;
}

/* A warning when this side's own certificate is out of its dates: peers will refuse it. */
static void check_own_dates(SSL_CTX *ctx, const char *text, const char *file) {
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    char when[64];

    if (!cert)
        return;
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        tls_format_time(X509_get0_notAfter(cert), when, sizeof(when));
        cli_log(CLI_LOG_WARN, "cert_expired", text, NULL, 0, "%s: --cert %s expired on %s: "
                "peers will refuse it; renew it and send SIGHUP", text, file, when);
    } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        tls_format_time(X509_get0_notBefore(cert), when, sizeof(when));
        cli_log(CLI_LOG_WARN, "cert_not_yet_valid", text, NULL, 0, "%s: --cert %s is not "
                "valid before %s: peers will refuse it until then; check the clock", text,
                file, when);
    }
}

/* The contexts of the TLS sides. Returns CLI_CONTINUE, or EX_CONFIG having said why. */
static int make_contexts(struct tls_proxy *tp) {
    char why[TLS_WHY_MAX + 256];

    if (tp->listen) {
        tp->server_ctx = tls_context_new(tp->opts, true, why, sizeof(why));
        if (!tp->server_ctx) {
            cli_error(tp->listen_text, NULL, "%s", why);
            return EX_CONFIG;
        }
        check_own_dates(tp->server_ctx, tp->listen_text, tp->opts->cert);
    }
    if (tp->target) {
        tp->client_ctx = tls_context_new(tp->opts, false, why, sizeof(why));
        if (!tp->client_ctx) {
            cli_error(tp->target_text, NULL, "%s", why);
            return EX_CONFIG;
        }
        if (tp->opts->cert)
            check_own_dates(tp->client_ctx, tp->target_text, tp->opts->cert);
    }
    return CLI_CONTINUE;
}

/* tls:HOST:PORT as the tcp:HOST:PORT the proxy uses, and the host a target must be. */
static void rewrite(struct tls_proxy *tp, const char **listen, const char **target) {
    struct uds_addr addr;

    if (tp->listen) {
        snprintf(tp->listen_text, sizeof(tp->listen_text), "%s", *listen);
        snprintf(tp->listen_tcp, sizeof(tp->listen_tcp), "tcp:%s", *listen + 4);
        *listen = tp->listen_tcp;
    }
    if (tp->target) {
        snprintf(tp->target_text, sizeof(tp->target_text), "%s", *target);
        snprintf(tp->target_tcp, sizeof(tp->target_tcp), "tcp:%s", *target + 4);
        *target = tp->target_tcp;
        if (tp->opts->server_name)
            snprintf(tp->target_host, sizeof(tp->target_host), "%s", tp->opts->server_name);
        else if (uds_addr_parse(tp->target_tcp, UDS_ADDR_ALLOW_TCP, &addr) == 0)
            snprintf(tp->target_host, sizeof(tp->target_host), "%s", addr.host);
    }
}

int tls_proxy_new(const struct tls_opts *opts, const char **listen, const char **target,
                  struct uds_loop *loop, struct tls_proxy **ret) {
    struct tls_proxy *tp;
    int code = check_options(opts, *listen, *target);

    *ret = NULL;
    if (code != CLI_CONTINUE || (!is_tls(*listen) && !is_tls(*target)))
        return code;
    tp = calloc(1, sizeof(*tp));
    if (!tp) {
        cli_error(*listen, NULL, "out of memory");
        return CLI_EXIT_FAILURE;
    }
    tp->opts = opts;
    tp->loop = loop;
    tp->listen = is_tls(*listen);
    tp->target = is_tls(*target);
    rewrite(tp, listen, target);
    code = make_contexts(tp);
    if (code != CLI_CONTINUE) {
        tls_proxy_free(tp);
        return code;
    }
    *ret = tp;
    return CLI_CONTINUE;
}

void tls_proxy_free(struct tls_proxy *tp) {
    if (!tp)
        return;
    while (tp->pumps)
        tls_pump_destroy(tp->pumps);
    SSL_CTX_free(tp->server_ctx);
    SSL_CTX_free(tp->client_ctx);
    free(tp);
}

void tls_proxy_flush(struct tls_proxy *tp, int ms) {
    uint64_t end = cli_now_ms() + (uint64_t) ms;

    while (tp && tp->n_alone > 0 && cli_now_ms() < end)
        if (uds_loop_run_once(tp->loop, 50) < 0)
            break;
}

bool tls_proxy_listens(const struct tls_proxy *tp) {
    return tp && tp->listen;
}

bool tls_proxy_targets(const struct tls_proxy *tp) {
    return tp && tp->target;
}

bool tls_proxy_authenticates(const struct tls_proxy *tp) {
    return tp && tp->listen && !tp->opts->no_client_cert;
}

static void name_tls(char *text) {
    if (strncmp(text, "tcp:", 4) == 0)
        memcpy(text, "tls:", 4);
}

void tls_proxy_name_listen(const struct tls_proxy *tp, char *text) {
    if (tls_proxy_listens(tp))
        name_tls(text);
}

void tls_proxy_name_target(const struct tls_proxy *tp, char *text) {
    if (tls_proxy_targets(tp))
        name_tls(text);
}

/* One side's context made again from the files; the old one stays for the sessions that
 * hold it (OpenSSL counts them) and on failure. */
static void reload_one(struct tls_proxy *tp, SSL_CTX **ctx, bool server, const char *text) {
    char why[TLS_WHY_MAX + 256], id[TLS_IDENTITY_MAX], until[64];
    SSL_CTX *fresh = tls_context_new(tp->opts, server, why, sizeof(why));
    X509 *cert;

    if (!fresh) {
        cli_log(CLI_LOG_ERROR, "reload_error", text, NULL, 0, "%s: SIGHUP: kept the "
                "certificates in use: %s", text, why);
        return;
    }
    SSL_CTX_free(*ctx);
    *ctx = fresh;
    cert = SSL_CTX_get0_certificate(fresh);
    if (!cert) {
        cli_log(CLI_LOG_INFO, "reloaded", text, NULL, 0, "%s: SIGHUP: reloaded --ca", text);
        return;
    }
    tls_identity(cert, id, sizeof(id));
    tls_format_time(X509_get0_notAfter(cert), until, sizeof(until));
    cli_log(CLI_LOG_INFO, "reloaded", text, NULL, 0, "%s: SIGHUP: reloaded --cert %s (%s, "
            "valid until %s); new connections use it, open ones go on", text, tp->opts->cert,
            id, until);
    check_own_dates(fresh, text, tp->opts->cert);
}

bool tls_proxy_reload(struct tls_proxy *tp) {
    if (!tp)
        return false;
    if (tp->listen)
        reload_one(tp, &tp->server_ctx, true, tp->listen_text);
    if (tp->target)
        reload_one(tp, &tp->client_ctx, false, tp->target_text);
    return true;
}
