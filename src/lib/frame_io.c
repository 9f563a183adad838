/* SPDX-License-Identifier: MIT */
/*
 * frame_io.c — blocking helpers to send and receive one length-prefixed frame on a stream
 * socket, for clients and tools. The server does not use them: it feeds frame.c's decoder
 * from its own non-blocking reads.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

UDS_API int uds_frame_send(int fd, const void *buf, size_t len) {
    /* The same frame with no fds: header and payload in one sendmsg (fdpass.c). */
    return uds_frame_send_fds(fd, buf, len, NULL, 0);
}

UDS_API int uds_frame_recv(int fd, uint32_t max, void **ret_buf, size_t *ret_len) {
    uint8_t header[UDS_FRAME_HEADER_SIZE];
    struct uds_frame_decoder d;
    enum uds_frame_event ev;
    struct uds_frame_piece piece;

    if (!ret_buf || !ret_len)
        return uds__fail(EINVAL);
    uds_frame_decoder_init(&d, max);

    ssize_t n = uds_recv_all(fd, header, sizeof(header));
    if (n < 0)
        return -1;
    if (n == 0)
        return 0;
    if ((size_t) n < sizeof(header))
        return uds__fail(EPROTO);
    if (uds_frame_decoder_feed(&d, header, sizeof(header), &ev, &piece) < 0)
        return -1;

    /* The decoder has checked the length against max: only now is it safe to allocate. */
    char *buf = malloc((size_t) piece.frame_len + 1);
    if (!buf)
        return -1;
    n = uds_recv_all(fd, buf, piece.frame_len);
    if (n < 0 || (size_t) n < piece.frame_len) {
        int e = n < 0 ? errno : EPROTO;
        free(buf);
        return uds__fail(e);
    }
    buf[piece.frame_len] = '\0';
    *ret_buf = buf;
    *ret_len = piece.frame_len;
    return 1;
}
