/* SPDX-License-Identifier: MIT */
/*
 * tap_print.c — what `uds tap` shows on stdout: one block per chunk (time, connection,
 * client, direction, length) with its payload as text escaped for a terminal, as a hex
 * dump (-x), or one JSON object per line (--json). Whatever the peers send, the output
 * stays text a terminal shows as it is and JSON a parser takes: every byte goes through
 * cli_text_escape() or cli_json_escape(). It reads no socket.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "cli.h"
#include "tap.h"

#define HEX_ROW 16

static void stamp(char *buf, size_t size, bool iso) {
    struct timeval tv;
    struct tm tm;
    char base[32];

    gettimeofday(&tv, NULL);
    if (iso) {
        gmtime_r(&tv.tv_sec, &tm);
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, size, "%s.%06ldZ", base, (long) tv.tv_usec);
    } else {
        localtime_r(&tv.tv_sec, &tm);
        strftime(base, sizeof(base), "%H:%M:%S", &tm);
        snprintf(buf, size, "%s.%06ld", base, (long) tv.tv_usec);
    }
}

static void emit_file(void *ctx, const char *text, size_t n) {
    fwrite(text, 1, n, ctx);
}

/* "pid 4242 uid 1000 gid 1000 curl", or a TCP client's address. */
static void who(const struct tap_client *c, char *buf, size_t size) {
    char cmd[80];

    char addr[4 * sizeof(c->address) + 1];

    /* A datagram sender's name is its own choice: escaped like a payload. */
    cli_text_escape_buf(c->address, strnlen(c->address, sizeof(c->address)), addr,
                        sizeof(addr));
    size_t used = 0;
    if (!c->has_peer) {
        cli_append(buf, size, &used, "%s", addr[0] ? addr : "unknown client");
        return;
    }
    cli_text_escape_buf(c->command, strnlen(c->command, sizeof(c->command)), cmd, sizeof(cmd));
    cli_append(buf, size, &used, "%s%spid %ld uid %lu gid %lu %s", addr, addr[0] ? " " : "",
               (long) c->pid, (unsigned long) c->uid, (unsigned long) c->gid,
               cmd[0] ? cmd : "?");
}

/* The JSON fields every line has: time, connection, client. */
static void json_head(FILE *out, const struct tap_client *c, const char *event) {
    char ts[48];

    stamp(ts, sizeof(ts), true);
    fprintf(out, "{\"time\":\"%s\",\"conn\":%u,\"event\":\"%s\"", ts, c->id, event);
    if (c->has_peer) {
        fprintf(out, ",\"pid\":%ld,\"uid\":%lu,\"gid\":%lu,\"command\":", (long) c->pid,
                (unsigned long) c->uid, (unsigned long) c->gid);
        cli_json_string(out, c->command, strnlen(c->command, sizeof(c->command)));
    }
    /* A TCP client's address, or a datagram sender's. */
    if (c->address[0] || !c->has_peer) {
        fputs(",\"client\":", out);
        cli_json_string(out, c->address, strnlen(c->address, sizeof(c->address)));
    }
}

static void finish(const struct tap_printer *p) {
    fflush(p->out);     /* a block at a time, so a reader (a pipe, a test) sees it now */
}

void tap_print_open(const struct tap_printer *p, const struct tap_client *c) {
    char ts[32], w[256];

    if (p->format == TAP_JSON) {
        json_head(p->out, c, "open");
        fputs("}\n", p->out);
    } else {
        stamp(ts, sizeof(ts), false);
        who(c, w, sizeof(w));
        fprintf(p->out, "%s #%u open: %s\n", ts, c->id, w);
    }
    finish(p);
}

/* Text: lines kept as lines (a \n shown, then a line break), \r and \t shown as such, every
 * other byte as cli_text_escape() makes it safe. */
static void print_text(FILE *out, const char *s, size_t len) {
    size_t i = 0;

    fputs("    ", out);
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '\n' && s[j] != '\r' && s[j] != '\t')
            j++;
        cli_text_escape(s + i, j - i, emit_file, out);
        if (j == len)
            break;
        fputs(s[j] == '\n' ? "\\n" : s[j] == '\r' ? "\\r" : "\\t", out);
        if (s[j] == '\n' && j + 1 < len)
            fputs("\n    ", out);
        i = j + 1;
    }
    fputc('\n', out);
}

static void print_hex(FILE *out, const unsigned char *s, size_t len) {
    for (size_t row = 0; row < len; row += HEX_ROW) {
        fprintf(out, "    %04zx ", row);
        for (size_t i = row; i < row + HEX_ROW; i++) {
            if (i - row == HEX_ROW / 2)
                fputc(' ', out);
            if (i < len)
                fprintf(out, " %02x", s[i]);
            else
                fputs("   ", out);
        }
        fputs("  ", out);
        for (size_t i = row; i < row + HEX_ROW && i < len; i++)
            fputc(s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '.', out);
        fputc('\n', out);
    }
}

static void print_fds_text(FILE *out, const struct tap_fd *fds, size_t n) {
    for (size_t i = 0; i < n; i++) {
        fputs("    passed fd: ", out);
        cli_text_escape(fds[i].what, strnlen(fds[i].what, sizeof(fds[i].what)), emit_file, out);
        fputc('\n', out);
    }
}

static void print_data_json(const struct tap_printer *p, const struct tap_client *c,
                            enum uds_pcapng_dir dir, const char *data, size_t shown, size_t len,
                            bool message, const struct tap_fd *fds, size_t n_fds) {
    FILE *out = p->out;

    json_head(out, c, "data");
    fprintf(out, ",\"dir\":\"%s\",\"len\":%zu,\"message\":%s,\"data\":",
            dir == UDS_PCAPNG_TO_SERVER ? "to_server" : "to_client", len,
            message ? "true" : "false");
    cli_json_escape(data, shown, emit_file, out);
    fprintf(out, ",\"truncated\":%s,\"fds\":[", shown < len ? "true" : "false");
    for (size_t i = 0; i < n_fds; i++) {
        if (i)
            fputc(',', out);
        cli_json_string(out, fds[i].what, strnlen(fds[i].what, sizeof(fds[i].what)));
    }
    fputs("]}\n", out);
}

void tap_print_data(const struct tap_printer *p, const struct tap_client *c,
                    enum uds_pcapng_dir dir, const void *data, size_t len, size_t full_len,
                    bool message, const struct tap_fd *fds, size_t n_fds) {
    size_t shown = p->snaplen && len > p->snaplen ? p->snaplen : len;
    char ts[32], w[256];

    if (p->format == TAP_JSON) {
        print_data_json(p, c, dir, data, shown, full_len, message, fds, n_fds);
        finish(p);
        return;
    }
    stamp(ts, sizeof(ts), false);
    who(c, w, sizeof(w));
    fprintf(p->out, "%s #%u %s %zu byte%s%s (%s)\n", ts, c->id,
            dir == UDS_PCAPNG_TO_SERVER ? "client > server" : "client < server", full_len,
            full_len == 1 ? "" : "s", message ? " message" : "", w);
    if (shown > 0) {
        if (p->format == TAP_HEX)
            print_hex(p->out, data, shown);
        else
            print_text(p->out, data, shown);
    }
    if (shown < full_len)
        fprintf(p->out, "    ... %zu more byte%s not shown\n", full_len - shown,
                full_len - shown == 1 ? "" : "s");
    print_fds_text(p->out, fds, n_fds);
    finish(p);
}

void tap_print_end(const struct tap_printer *p, const struct tap_client *c,
                   enum uds_pcapng_dir dir) {
    char ts[32];

    if (p->format == TAP_JSON) {
        json_head(p->out, c, "end");
        fprintf(p->out, ",\"dir\":\"%s\"}\n",
                dir == UDS_PCAPNG_TO_SERVER ? "to_server" : "to_client");
    } else {
        stamp(ts, sizeof(ts), false);
        fprintf(p->out, "%s #%u %s end of stream (%s half-closed)\n", ts, c->id,
                dir == UDS_PCAPNG_TO_SERVER ? "client > server" : "client < server",
                dir == UDS_PCAPNG_TO_SERVER ? "client" : "server");
    }
    finish(p);
}

void tap_print_close(const struct tap_printer *p, const struct tap_client *c,
                     uint64_t bytes_to_server, uint64_t bytes_to_client, const char *error) {
    char ts[32];

    if (p->format == TAP_JSON) {
        json_head(p->out, c, "close");
        fprintf(p->out, ",\"bytes_to_server\":%llu,\"bytes_to_client\":%llu,\"error\":",
                (unsigned long long) bytes_to_server, (unsigned long long) bytes_to_client);
        if (error)
            cli_json_string(p->out, error, strlen(error));
        else
            fputs("null", p->out);
        fputs("}\n", p->out);
    } else {
        stamp(ts, sizeof(ts), false);
        fprintf(p->out, "%s #%u close: %llu bytes to the server, %llu to the client%s%s\n", ts,
                c->id, (unsigned long long) bytes_to_server,
                (unsigned long long) bytes_to_client, error ? "; " : "", error ? error : "");
    }
    finish(p);
}
