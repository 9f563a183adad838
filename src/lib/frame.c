/* SPDX-License-Identifier: MIT */
/*
 * frame.c — the length-prefix codec: a 4-byte big-endian length, then the payload. The
 * decoder is a pure, incremental state machine: no syscalls, no allocation, no fds, and it
 * keeps no pointer into the caller's buffer after returning. The blocking send/recv
 * helpers built on it live in frame_io.c.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

UDS_API void uds_frame_decoder_init(struct uds_frame_decoder *decoder, uint32_t max) {
    *decoder = (struct uds_frame_decoder) { .max = max ? max : UDS_FRAME_DEFAULT_MAX };
}

UDS_API bool uds_frame_decoder_idle(const struct uds_frame_decoder *decoder) {
    return decoder->have == 0 && !decoder->in_payload && decoder->error == 0;
}

UDS_API void uds_frame_header(uint8_t out[UDS_FRAME_HEADER_SIZE], uint32_t len) {
    out[0] = (uint8_t) (len >> 24);
    out[1] = (uint8_t) (len >> 16);
    out[2] = (uint8_t) (len >> 8);
    out[3] = (uint8_t) len;
}

static uint32_t header_value(const uint8_t h[UDS_FRAME_HEADER_SIZE]) {
    return (uint32_t) h[0] << 24 | (uint32_t) h[1] << 16 | (uint32_t) h[2] << 8 | h[3];
}

UDS_API ssize_t uds_frame_decoder_feed(struct uds_frame_decoder *d, const void *buf,
                                       size_t len, enum uds_frame_event *ret_event,
                                       struct uds_frame_piece *ret_piece) {
    const uint8_t *in = buf;
    size_t used = 0;

    if (!d || (!buf && len > 0) || !ret_event || !ret_piece)
        return uds__fail(EINVAL);
    if (d->error)
        return uds__fail(d->error);

    if (!d->in_payload) {
        size_t take = UDS_FRAME_HEADER_SIZE - d->have;
        if (take > len)
            take = len;
        memcpy(d->header + d->have, in, take);
        d->have = (uint8_t) (d->have + take);
        used = take;
        if (d->have < UDS_FRAME_HEADER_SIZE) {
            *ret_event = UDS_FRAME_NEED_MORE;
            return (ssize_t) used;
        }
        uint32_t length = header_value(d->header);
        if (length > d->max) {
            /* Refuse before anyone allocates: the length is the peer's word, not a fact. */
            d->error = EMSGSIZE;
            return uds__fail(EMSGSIZE);
        }
        d->length = d->remaining = length;
        d->have = 0;
        d->in_payload = true;
        *ret_piece = (struct uds_frame_piece) { .data = in + used, .frame_len = length,
                                                .first = true };
    } else {
        *ret_piece = (struct uds_frame_piece) { .data = in, .frame_len = d->length };
    }

    size_t take = len - used;
    if (take > d->remaining)
        take = d->remaining;
    /* A frame whose header has arrived but none of its (non-empty) payload: report the
     * header now only if there is nothing more to read, so that callers see "first" once. */
    if (take == 0 && d->remaining > 0 && !ret_piece->first) {
        *ret_event = UDS_FRAME_NEED_MORE;
        return (ssize_t) used;
    }
    ret_piece->len = take;
    d->remaining -= (uint32_t) take;
    used += take;
    ret_piece->last = d->remaining == 0;
    if (ret_piece->last)
        d->in_payload = false;
    *ret_event = UDS_FRAME_PIECE;
    return (ssize_t) used;
}
