/* SPDX-License-Identifier: MIT */
/*
 * bench_reply.c — the request/reply mode of `uds bench ADDRESS`: escapes decoded, and a
 * stream cut into replies that are checked as they come (their exact bytes, the bytes
 * they end with, or their length). Pure: no I/O; only bench_bytes_parse() allocates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_reply.h"

/* ---- bytes with escapes ------------------------------------------------------------------- */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte an escape stands for, from s just after the backslash; *ret_used: the
 * characters it took. -1 when it is none. */
static int unescape_one(const char *s, size_t *ret_used) {
    static const char from[] = "rnt0e\\", to[] = "\r\n\t\0\033\\";
    const char *at = *s ? strchr(from, *s) : NULL;

    *ret_used = 1;
    if (at)
        return (unsigned char) to[at - from];
    if (*s == 'x' && hex_digit(s[1]) >= 0 && hex_digit(s[2]) >= 0) {
        *ret_used = 3;
        return hex_digit(s[1]) << 4 | hex_digit(s[2]);
    }
    return -1;
}

int bench_bytes_parse(const char *text, struct bench_bytes *ret, char *why, size_t why_size) {
    size_t n = 0, used;
    uint8_t *p = malloc(strlen(text) + 1);

    if (!p) {
        snprintf(why, why_size, "too long to hold in memory");
        return -1;
    }
    for (const char *s = text; *s; s++) {
        int b = *s;
        if (*s == '\\') {
            b = unescape_one(s + 1, &used);
            if (b < 0) {
                /* "\q", or all of a "\x" without its two hex digits */
                int shown = s[1] == 'x' ? (int) strnlen(s + 1, 3) : s[1] ? 1 : 0;
                snprintf(why, why_size, "not bytes: '\\%.*s' is no escape; use \\r, \\n, "
                         "\\t, \\0, \\e, \\\\ or \\xHH", shown, s + 1);
                free(p);
                return -1;
            }
            s += used;
        }
        p[n++] = (uint8_t) b;
    }
    bench_bytes_free(ret);
    *ret = (struct bench_bytes) { .p = p, .len = n };
    return 0;
}

void bench_bytes_free(struct bench_bytes *b) {
    free(b->p);
    *b = (struct bench_bytes) { 0 };
}

/* For stdout, written as it would be typed: the escapes above, other bytes outside
 * printable ASCII as \xHH. Raw, for a message that cli_error() escapes its own way (\x0d),
 * which a NUL would cut short. */
const char *bench_bytes_text(const uint8_t *p, size_t len, size_t max, bool raw, char *buf,
                             size_t size) {
    size_t used = 0;

    if (size < 16) {
        buf[0] = '\0';
        return buf;
    }
    buf[used++] = '"';
    for (size_t i = 0; i < len && i < max && used + 8 < size; i++) {
        const char *esc = p[i] == '\r' ? "\\r" : p[i] == '\n' ? "\\n" : p[i] == '\t' ? "\\t" :
                          p[i] == '\\' ? "\\\\" : p[i] == '"' ? "\\\"" : NULL;
        if (raw && p[i] != 0)
            buf[used++] = (char) p[i];
        else if (esc)
            used += (size_t) snprintf(buf + used, size - used, "%s", esc);
        else if (p[i] < 0x20 || p[i] >= 0x7f)
            used += (size_t) snprintf(buf + used, size - used, "\\x%02x", p[i]);
        else
            buf[used++] = (char) p[i];
    }
    snprintf(buf + used, size - used, len > max ? "\"..." : "\"");
    return buf;
}

/* ---- replies ------------------------------------------------------------------------------- */

/* Knuth-Morris-Pratt: after a mismatch with k bytes of the delimiter matched, the longest
 * of its prefixes that still ends here is fail[k - 1] long. A delimiter that overlaps
 * itself ("\r\n\r\n" after "\r\n\r") is then found however the bytes are cut. */
static void build_fail(struct bench_reply *r) {
    size_t k = 0;

    r->fail[0] = 0;
    for (size_t i = 1; i < r->len; i++) {
        while (k > 0 && r->bytes[i] != r->bytes[k])
            k = r->fail[k - 1];
        if (r->bytes[i] == r->bytes[k])
            k++;
        r->fail[i] = (uint8_t) k;
    }
}

void bench_reply_init(struct bench_reply *r, enum bench_reply_kind kind, const uint8_t *bytes,
                      size_t len, size_t size) {
    *r = (struct bench_reply) { .kind = kind, .bytes = bytes, .len = len, .size = size };
    if (kind == BENCH_REPLY_UNTIL && len > 0 && len <= BENCH_DELIM_MAX)
        build_fail(r);
}

static ssize_t feed_exact(const struct bench_reply *r, struct bench_reply_state *st,
                          const uint8_t *p, size_t n, bool *ret_done, char *why,
                          size_t why_size) {
    size_t take = r->len - st->off < n ? r->len - st->off : n;
    char got[160], want[160];

    if (memcmp(r->bytes + st->off, p, take) != 0) {
        size_t i = 0;
        while (r->bytes[st->off + i] == p[i])
            i++;
        snprintf(why, why_size, "differs from the expected reply at byte %zu: got %s where %s "
                 "was expected", st->off + i, bench_bytes_text(p + i, n - i, 40, true, got,
                 sizeof(got)), bench_bytes_text(r->bytes + st->off + i, r->len - st->off - i,
                 40, true, want, sizeof(want)));
        return -1;
    }
    st->off += take;
    *ret_done = st->off == r->len;
    return (ssize_t) take;
}

static ssize_t feed_until(const struct bench_reply *r, struct bench_reply_state *st,
                          const uint8_t *p, size_t n, bool *ret_done, char *why,
                          size_t why_size) {
    size_t i = 0;
    char delim[160];

    while (i < n) {
        if (st->matched == 0) {
            /* Most bytes of a reply are not its end: skip to the next candidate at once. */
            const uint8_t *q = memchr(p + i, r->bytes[0], n - i);
            size_t skip = q ? (size_t) (q - p) - i : n - i;
            st->off += skip;
            i += skip;
            if (st->off > BENCH_REPLY_MAX || i == n)
                break;
        }
        while (st->matched > 0 && p[i] != r->bytes[st->matched])
            st->matched = r->fail[st->matched - 1];
        if (p[i] == r->bytes[st->matched])
            st->matched++;
        st->off++;
        i++;
        if (st->matched == r->len) {
            *ret_done = true;
            return (ssize_t) i;
        }
    }
    if (st->off > BENCH_REPLY_MAX) {
        snprintf(why, why_size, "is over %u MiB and has not ended with %s", BENCH_REPLY_MAX >> 20,
                 bench_bytes_text(r->bytes, r->len, 40, true, delim, sizeof(delim)));
        return -1;
    }
    return (ssize_t) n;
}

ssize_t bench_reply_feed(const struct bench_reply *r, struct bench_reply_state *st,
                         const uint8_t *p, size_t n, bool *ret_done, char *why,
                         size_t why_size) {
    ssize_t used;

    *ret_done = false;
    switch (r->kind) {
    case BENCH_REPLY_EXACT:
        used = feed_exact(r, st, p, n, ret_done, why, why_size);
        break;
    case BENCH_REPLY_UNTIL:
        used = feed_until(r, st, p, n, ret_done, why, why_size);
        break;
    default:
        used = (ssize_t) (r->size - st->off < n ? r->size - st->off : n);
        st->off += (size_t) used;
        *ret_done = st->off == r->size;
        break;
    }
    if (*ret_done)
        *st = (struct bench_reply_state) { 0 };
    return used;
}

bool bench_reply_packet(const struct bench_reply *r, const uint8_t *p, size_t len, char *why,
                        size_t why_size) {
    char got[160], want[160];

    switch (r->kind) {
    case BENCH_REPLY_EXACT:
        if (len == r->len && memcmp(p, r->bytes, len) == 0)
            return true;
        snprintf(why, why_size, "is %s where %s was expected",
                 bench_bytes_text(p, len, 40, true, got, sizeof(got)),
                 bench_bytes_text(r->bytes, r->len, 40, true, want, sizeof(want)));
        return false;
    case BENCH_REPLY_UNTIL:
        if (len >= r->len && memcmp(p + len - r->len, r->bytes, r->len) == 0)
            return true;
        snprintf(why, why_size, "does not end with %s (%zu bytes)",
                 bench_bytes_text(r->bytes, r->len, 40, true, want, sizeof(want)), len);
        return false;
    default:
        if (len == r->size)
            return true;
        snprintf(why, why_size, "is %zu bytes where %zu were expected", len, r->size);
        return false;
    }
}

const char *bench_reply_text(const struct bench_reply *r, char *buf, size_t size) {
    char bytes[160];

    if (r->kind == BENCH_REPLY_SIZE)
        snprintf(buf, size, "of %zu B", r->size);
    else
        snprintf(buf, size, "%s%s", r->kind == BENCH_REPLY_UNTIL ? "up to " : "",
                 bench_bytes_text(r->bytes, r->len, 40, false, bytes, sizeof(bytes)));
    return buf;
}
