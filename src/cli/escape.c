/* SPDX-License-Identifier: MIT */
/*
 * escape.c — peers' bytes as JSON strings and as terminal-safe text: a UTF-8 decoder and
 * two ways to write what it finds. Pure: no I/O but the FILE * given.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

/* Length of the valid UTF-8 sequence at s (at most len bytes), its code point in *ret_cp;
 * 0 when s does not start one (a stray, overlong, surrogate or out-of-range sequence). */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *ret_cp) {
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80) {
        *ret_cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *ret_cp = cp;
    return n;
}

/* Room for one escape (a backslash, "u" and four hex digits) and its NUL, with margin. */
#define ESC_MAX 12

/* Characters a terminal acts on instead of showing: C0 and DEL, C1 (U+009B is a CSI to
 * many terminals, as ESC [ is), and the bidi controls, which reorder what follows so that a
 * name reads as something else ("exe.txt" shown for "txt.exe"); the Unicode line and
 * paragraph separators too, which some terminals break lines at. */
static bool is_control(uint32_t cp) {
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Escape s character by character: esc() writes the escape of one character (or of one byte
 * that is not UTF-8: invalid) into out and returns true, or returns false for a character
 * that goes out as it is; runs of those reach emit() whole. */
static void escape_with(const char *s, size_t len,
                        bool (*esc)(char out[ESC_MAX], uint32_t cp, bool invalid),
                        void (*emit)(void *ctx, const char *text, size_t n), void *ctx) {
    const unsigned char *u = (const unsigned char *) s;
    size_t plain = 0, i = 0;

    while (i < len) {
        uint32_t cp;
        size_t n = utf8_seq(u + i, len - i, &cp);
        bool invalid = n == 0;
        char out[ESC_MAX];

        if (invalid) {
            cp = u[i];
            n = 1;
        }
        if (!esc(out, cp, invalid)) {
            i += n;
            continue;
        }
        if (i > plain)
            emit(ctx, s + plain, i - plain);
        emit(ctx, out, strlen(out));
        plain = i += n;
    }
    if (i > plain)
        emit(ctx, s + plain, i - plain);
}

/* JSON: the usual escapes; a byte that is not UTF-8 becomes the lone surrogate U+DC00+byte
 * (Python's surrogateescape), which no character can be, so the bytes come back exactly:
 * json.loads(text).encode("utf-8", "surrogateescape"). The raw byte 0x9B is "\udc9b", the
 * character U+009B "\u009b". */
static bool json_piece(char out[ESC_MAX], uint32_t cp, bool invalid) {
    if (invalid) {
        snprintf(out, ESC_MAX, "\\u%04x", (unsigned) (0xdc00 + cp));
        return true;
    }
    switch (cp) {
    case '"': memcpy(out, "\\\"", 3); return true;
    case '\\': memcpy(out, "\\\\", 3); return true;
    case '\n': memcpy(out, "\\n", 3); return true;
    case '\t': memcpy(out, "\\t", 3); return true;
    case '\r': memcpy(out, "\\r", 3); return true;
    }
    if (!is_control(cp))
        return false;
    snprintf(out, ESC_MAX, "\\u%04x", (unsigned) cp);
    return true;
}

/* Text: \xNN for a byte (a C0 control, DEL, a backslash, or a byte that is not UTF-8) and
 * \uNNNN for a character (C1, bidi), so the raw byte 0x9B reads \x9b and U+009B \u009b. */
static bool text_piece(char out[ESC_MAX], uint32_t cp, bool invalid) {
    if (!invalid && !is_control(cp) && cp != '\\')
        return false;
    if (invalid || cp < 0x80)
        snprintf(out, ESC_MAX, "\\x%02x", (unsigned) cp);
    else
        snprintf(out, ESC_MAX, "\\u%04x", (unsigned) cp);
    return true;
}

void cli_json_escape(const char *s, size_t len,
                     void (*emit)(void *ctx, const char *text, size_t n), void *ctx) {
    emit(ctx, "\"", 1);
    escape_with(s, len, json_piece, emit, ctx);
    emit(ctx, "\"", 1);
}

void cli_text_escape(const char *s, size_t len,
                     void (*emit)(void *ctx, const char *text, size_t n), void *ctx) {
    escape_with(s, len, text_piece, emit, ctx);
}

struct buf_out {
    char *buf;
    size_t size;
    size_t used;
    bool full;
};

/* A piece that does not fit ends the text there: never half an escape or a character. */
static void buf_emit(void *ctx, const char *s, size_t n) {
    struct buf_out *b = ctx;

    if (b->full || n > b->size - 1 - b->used) {
        b->full = true;
        return;
    }
    memcpy(b->buf + b->used, s, n);
    b->used += n;
}

size_t cli_text_escape_buf(const char *s, size_t len, char *out, size_t size) {
    struct buf_out b = { .buf = out, .size = size };

    if (size == 0)
        return 0;
    cli_text_escape(s, len, buf_emit, &b);
    out[b.used] = '\0';
    return b.used;
}

static void file_emit(void *ctx, const char *s, size_t n) {
    fwrite(s, 1, n, ctx);
}

void cli_json_string(FILE *out, const char *s, size_t len) {
    cli_json_escape(s, len, file_emit, out);
}
