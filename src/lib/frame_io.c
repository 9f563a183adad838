/* SPDX-License-Identifier: MIT */
/*
 * frame_io.c — blocking helpers to send and receive one length-prefixed frame on a stream
 * socket, for clients and tools. The server does not use them: it feeds frame.c's decoder
 * from its own non-blocking reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "internal.h"

UDS_API int uds_frame_send(int fd, const void *buf, size_t len) {
    uint8_t header[UDS_FRAME_HEADER_SIZE];

    if (!buf && len > 0)
        return uds__fail(EINVAL);
    if (len > UINT32_MAX)
        return uds__fail(EMSGSIZE);
    uds_frame_header(header, (uint32_t) len);

    /* Header and payload in one sendmsg: one syscall and, for small frames, one packet's
     * worth of wakeups at the receiver instead of two. */
    struct iovec iov[2] = {
        { .iov_base = header, .iov_len = sizeof(header) },
        { .iov_base = (void *) buf, .iov_len = len },
    };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    return uds__sendmsg_all(fd, &msg);
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
