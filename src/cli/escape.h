/* SPDX-License-Identifier: MIT */
/*
 * escape.h — bytes a peer chose (names, paths, messages) made safe to show: as JSON strings
 * for programs, as text for terminals. Pure: no I/O but the FILE * given.
 */
#ifndef UDS_CLI_ESCAPE_H
#define UDS_CLI_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* s (len bytes, NULs allowed) as one quoted JSON string, handed to emit in pieces, always
 * valid JSON and reversible: valid UTF-8 goes out as it is, except control characters (C0,
 * DEL, C1, the bidi controls, U+2028/U+2029), '"' and '\\', which are escaped; each byte
 * that is not UTF-8 becomes the lone surrogate \udc80..\udcff (U+DC00 + the byte, Python's
 * surrogateescape), so json.loads(...).encode("utf-8", "surrogateescape") gives s back and
 * the byte 0x9B ("\udc9b") never reads as the character U+009B ("\u009b"). */
void cli_json_escape(const char *s, size_t len,
                     void (*emit)(void *ctx, const char *text, size_t n), void *ctx);
/* s (len bytes) as text safe for a terminal, handed to emit in pieces: valid UTF-8 goes out
 * as it is, except that a C0 control, DEL, a backslash and each byte that is not UTF-8
 * become \xNN, and a C1 or bidi control or U+2028/U+2029 becomes \uNNNN (so the byte 0x9B
 * shows as \x9b, the character U+009B as \u009b). Never longer than 4 * len bytes. */
void cli_text_escape(const char *s, size_t len,
                     void (*emit)(void *ctx, const char *text, size_t n), void *ctx);
/* The same into out (size bytes, 4 * len + 1 always enough), NUL-terminated; returns the
 * length written. Short of room, the text ends before the first piece that does not fit. */
size_t cli_text_escape_buf(const char *s, size_t len, char *out, size_t size);
/* The same, written to out. */
void cli_json_string(FILE *out, const char *s, size_t len);

#endif
