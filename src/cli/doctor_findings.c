/* SPDX-License-Identifier: MIT */
/*
 * doctor_findings.c — what `uds doctor` found: each finding recorded as the checks make it,
 * and the report of them as text (wrapped on a terminal, names escaped) or one JSON object,
 * with the exit status of the first blocking one.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"

/* ---- recording ------------------------------------------------------------------------ */

static void out_of_memory(void) {
    fprintf(stderr, "uds: out of memory\n");
    exit(CLI_EXIT_FAILURE);
}

__attribute__((format(printf, 6, 7)))
void doctor_add(struct doctor *d, const char *code, enum severity sev, int exit_code,
                const char *advice, const char *fmt, ...) {
    struct finding *f;
    va_list ap;

    if (d->n == MAX_FINDINGS)
        return;
    f = &d->findings[d->n++];
    f->code = code;
    f->severity = sev;
    f->exit_code = sev == SEV_ERROR ? exit_code : 0;
    va_start(ap, fmt);
    if (vasprintf(&f->message, fmt, ap) < 0)
        f->message = NULL;
    va_end(ap);
    f->advice = advice && advice[0] ? strdup(advice) : NULL;
    if (!f->message || (advice && advice[0] && !f->advice))
        out_of_memory();
    if (sev == SEV_ERROR)
        d->blocked = true;
}

bool doctor_has_finding(const struct doctor *d, const char *code) {
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->findings[i].code, code) == 0)
            return true;
    return false;
}

/* ---- output --------------------------------------------------------------------------- */

static const char *sev_name(enum severity s) {
    static const char *const names[] = { "info", "warning", "error" };
    return names[s];
}

static void json_string(const char *s) {
    cli_json_string(stdout, s, strlen(s));
}

/* Finding texts are ours (ASCII) except for the names in them (paths, abstract names,
 * process names: anyone's to choose), so they go out through cli_text_escape. On a
 * terminal, wrap at the width, continuing lines at column indent; a pipe gets one line. */
static void print_text(const char *s, size_t col, size_t indent, bool wrap) {
    enum { WIDTH = 100 };
    size_t len = strlen(s);
    char *text = malloc(4 * len + 1);
    const char *u = text;

    if (!text) {
        fprintf(stderr, "uds: out of memory\n");
        exit(CLI_EXIT_FAILURE);
    }
    cli_text_escape_buf(s, len, text, 4 * len + 1);
    while (*u) {
        size_t word = 0, spaces = 0, cols = 0;
        while (u[spaces] == ' ')
            spaces++;
        while (u[spaces + word] && u[spaces + word] != ' ')
            cols += ((unsigned char) u[spaces + word++] & 0xc0) != 0x80;
        if (wrap && col > indent && col + spaces + cols > WIDTH) {
            printf("\n%*s", (int) indent, "");
            col = indent;
        } else {
            printf("%*s", (int) spaces, "");
            col += spaces;
        }
        fwrite(u + spaces, 1, word, stdout);
        col += cols;
        u += spaces + word;
    }
    free(text);
}

int doctor_first_exit(const struct doctor *d) {
    for (size_t i = 0; i < d->n; i++)
        if (d->findings[i].severity == SEV_ERROR)
            return d->findings[i].exit_code;
    return EX_OK;
}

/* "server":{...} or null: what was recognised, for scripts. */
static void json_server(const struct doctor *d) {
    const struct uds_server_ident *id = &d->ident;

    fputs(",\"server\":", stdout);
    if (!d->have_ident || id->kind == UDS_SERVER_UNKNOWN) {
        fputs("null", stdout);
        return;
    }
    printf("{\"kind\":\"%s\",\"service\":", uds_server_kind_name(id->kind));
    if (id->kind == UDS_SERVER_SYSTEMD && id->service)
        printf("\"%s\"", uds_server_kind_name(id->service));
    else
        fputs("null", stdout);
    printf(",\"pid\":%d,\"config\":", (int) id->pid);
    if (id->config[0])
        json_string(id->config);
    else
        fputs("null", stdout);
    printf(",\"config_line\":%u,\"socket_unit\":", id->config_line);
    if (id->socket_unit[0])
        json_string(id->socket_unit);
    else
        fputs("null", stdout);
    putchar('}');
}

/* A TLS subject's "tls":{version, cipher, server_certificate}, or null when no handshake
 * completed. */
static void json_tls(const struct doctor *d) {
    if (!d->is_tls)
        return;
    fputs(",\"tls\":", stdout);
    if (!d->session.version[0]) {
        fputs("null", stdout);
        return;
    }
    fputs("{\"version\":", stdout);
    json_string(d->session.version);
    fputs(",\"cipher\":", stdout);
    json_string(d->session.cipher);
    fputs(",\"server_certificate\":", stdout);
    if (d->session.server_id[0])
        json_string(d->session.server_id);
    else
        fputs("null", stdout);
    putchar('}');
}

static void print_json(const struct doctor *d, int code) {
    fputs("{\"address\":", stdout);
    json_string(d->address);
    printf(",\"ok\":%s,\"exit\":%d,\"as\":", code == EX_OK ? "true" : "false", code);
    if (d->who.as)
        json_string(d->who.name);
    else
        fputs("null", stdout);
    json_server(d);
    json_tls(d);
    fputs(",\"findings\":[", stdout);
    for (size_t i = 0; i < d->n; i++) {
        const struct finding *f = &d->findings[i];
        printf("%s\n {\"code\":\"%s\",\"severity\":\"%s\",\"message\":", i ? "," : "",
               f->code, sev_name(f->severity));
        json_string(f->message);
        fputs(",\"advice\":", stdout);
        if (f->advice)
            json_string(f->advice);
        else
            fputs("null", stdout);
        putchar('}');
    }
    fputs(d->n ? "\n]}\n" : "]}\n", stdout);
}

/* The last line of the text report. */
static void print_result(const struct doctor *d, int code) {
    size_t errors = 0;

    for (size_t i = 0; i < d->n; i++)
        errors += d->findings[i].severity == SEV_ERROR;
    if (d->is_tls && code == EX_OK)
        printf("Result: the TLS service accepts you (exit 0).\n");
    else if (d->is_tls)
        printf("Result: %zu problem%s; the first decides the exit status (exit %d).\n",
               errors, errors == 1 ? "" : "s", code);
    else if (code == EX_OK)
        printf("Result: %s can connect.\n", doctor_you(d));
    else
        printf("Result: %s cannot connect (exit %d).\n", doctor_you(d), code);
}

void doctor_print_report(const struct doctor *d, int code) {
    if (d->json) {
        print_json(d, code);
        return;
    }
    bool wrap = isatty(STDOUT_FILENO);
    fputs("uds doctor: ", stdout);
    print_text(d->address, 12, 12, false);
    putchar('\n');
    for (size_t i = 0; i < d->n; i++) {
        const struct finding *f = &d->findings[i];
        printf("  %-8s", sev_name(f->severity));
        print_text(f->message, 10, 10, wrap);
        putchar('\n');
        if (f->advice) {
            fputs("          what to do: ", stdout);
            print_text(f->advice, 22, 10, wrap);
            putchar('\n');
        }
    }
    print_result(d, code);
}
