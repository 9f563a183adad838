/* SPDX-License-Identifier: MIT */
/*
 * bench_reply.h — the request/reply mode of `uds bench ADDRESS` (bench_reply.c): a request
 * given as bytes with C escapes, and the reply told by its exact bytes, by the bytes it ends
 * with, or by its length. Pure: no I/O; only the escapes' decoding allocates.
 */
#ifndef UDS_CLI_BENCH_REPLY_H
#define UDS_CLI_BENCH_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_DELIM_MAX 64              /* --reply-until's bytes, at most */
#define BENCH_REPLY_MAX (16u << 20)     /* a reply told by its end, at most */

/* Bytes from the command line, escapes decoded. */
struct bench_bytes {
    uint8_t *p;         /* malloc'ed; NULL when not given */
    size_t len;
};

/* Decode text's escapes (\r \n \t \0 \e \\ \xHH) into *ret (malloc'ed, freed first if
 * set). Returns 0, or -1 with why written (an unknown escape, a trailing backslash). */
int bench_bytes_parse(const char *text, struct bench_bytes *ret, char *why, size_t why_size);
void bench_bytes_free(struct bench_bytes *b);
/* The bytes in quotes, at most max of them (then "..."): escaped back as they would be
 * typed, for stdout; or raw (raw), for a message that cli_error() escapes in its own way,
 * but a NUL as "\x00". */
const char *bench_bytes_text(const uint8_t *p, size_t len, size_t max, bool raw, char *buf,
                             size_t size);

enum bench_reply_kind {
    BENCH_REPLY_EXACT,  /* bytes: the reply, byte for byte (an echo: the request) */
    BENCH_REPLY_UNTIL,  /* bytes: what the reply ends with */
    BENCH_REPLY_SIZE,   /* size: its length */
};

struct bench_reply {
    enum bench_reply_kind kind;
    const uint8_t *bytes;
    size_t len;         /* of bytes */
    size_t size;        /* BENCH_REPLY_SIZE */
    uint8_t fail[BENCH_DELIM_MAX];      /* UNTIL: the delimiter's KMP failure table */
};

/* Where a connection is within its current reply. */
struct bench_reply_state {
    size_t off;         /* bytes of it so far */
    size_t matched;     /* UNTIL: bytes of the delimiter matched at the end of them */
};

/* Set up r for kind, with bytes (EXACT, UNTIL: at most BENCH_DELIM_MAX) or size. */
void bench_reply_init(struct bench_reply *r, enum bench_reply_kind kind, const uint8_t *bytes,
                      size_t len, size_t size);

/* Take up to n bytes of a stream as the continuation of the reply st is in. Returns how
 * many belong to it (all n, or fewer when it ends within them, *ret_done then true and st
 * reset for the next), or -1 when they cannot be that reply: why says how ("differs from
 * --expect at byte 3: got ...", "over 16 MiB without --reply-until's bytes"). */
ssize_t bench_reply_feed(const struct bench_reply *r, struct bench_reply_state *st,
                         const uint8_t *p, size_t n, bool *ret_done, char *why,
                         size_t why_size);

/* Whether a packet of len bytes is one whole reply; why as above. */
bool bench_reply_packet(const struct bench_reply *r, const uint8_t *p, size_t len, char *why,
                        size_t why_size);

/* "\"+PONG\\r\\n\"", "up to \"\\n\"", "of 7 B": the reply, for the report (stdout). */
const char *bench_reply_text(const struct bench_reply *r, char *buf, size_t size);

#endif /* UDS_CLI_BENCH_REPLY_H */
