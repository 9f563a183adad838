/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame.c — the frame decoder on arbitrary bytes. The first input byte picks a chunk
 * size; the rest is decoded twice, whole and in chunks. Properties: it never reads past
 * the input, every frame it reports is within the maximum, and the frames (and the error,
 * if any) are the same whatever the chunking.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "udskit.h"

#define MAX_PAYLOAD 4096u

struct result {
    uint8_t bytes[1 << 16];    /* concatenated payloads, each preceded by its length */
    size_t len;
    unsigned frames;
    int error;
};

static void decode(const uint8_t *data, size_t size, size_t chunk, struct result *r) {
    struct uds_frame_decoder d;
    uds_frame_decoder_init(&d, MAX_PAYLOAD);
    memset(r, 0, sizeof(*r));
    size_t off = 0;
    while (off < size) {
        size_t end = chunk ? off + chunk : size;
        if (end > size)
            end = size;
        while (off < end) {
            enum uds_frame_event ev;
            struct uds_frame_piece p;
            ssize_t n = uds_frame_decoder_feed(&d, data + off, end - off, &ev, &p);
            if (n < 0) {
                r->error = 1;
                /* sticky */
                assert(uds_frame_decoder_feed(&d, data, size, &ev, &p) < 0);
                return;
            }
            assert((size_t) n <= end - off);
            if (ev == UDS_FRAME_PIECE) {
                assert(p.frame_len <= MAX_PAYLOAD);
                assert(p.len <= p.frame_len);
                assert(p.data >= data + off && p.data + p.len <= data + end);
                if (p.first && r->len + 4 <= sizeof(r->bytes)) {
                    memcpy(r->bytes + r->len, &p.frame_len, 4);
                    r->len += 4;
                }
                if (r->len + p.len <= sizeof(r->bytes)) {
                    memcpy(r->bytes + r->len, p.data, p.len);
                    r->len += p.len;
                }
                r->frames += p.last;
            } else {
                assert((size_t) n == end - off);
            }
            off += (size_t) n;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct result whole, chunked;
    if (size < 1)
        return 0;
    size_t chunk = (size_t) data[0] % 7 + 1;
    decode(data + 1, size - 1, 0, &whole);
    decode(data + 1, size - 1, chunk, &chunked);
    assert(whole.error == chunked.error);
    assert(whole.frames == chunked.frames);
    assert(whole.len == chunked.len && memcmp(whole.bytes, chunked.bytes, whole.len) == 0);
    return 0;
}
