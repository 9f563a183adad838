/* SPDX-License-Identifier: MIT */
/*
 * internal.h — helpers shared inside src/lib (uds__ prefix, hidden from the .so). Nothing
 * outside src/lib and tests/unit includes this file.
 */
#ifndef UDSKIT_INTERNAL_H
#define UDSKIT_INTERNAL_H

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "udskit.h"

/* Constants missing from older kernel headers; detected at run time by trying. */
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* close() that leaves errno as it was, for error paths (STYLE E2). */
static inline void uds__close_keep_errno(int fd) {
    if (fd >= 0) {
        int saved = errno;
        (void) close(fd);
        errno = saved;
    }
}

/* Set errno and return -1, for one-line error returns. */
static inline int uds__fail(int error) {
    errno = error;
    return -1;
}

/* Monotonic milliseconds. */
uint64_t uds__now_ms(void);

/* A sockaddr_un for addr that the kernel can use now. For a path longer than sun_path it
 * opens an O_PATH fd to the parent directory and names the socket through
 * /proc/self/fd/N/BASENAME; *ret_dirfd is that fd (close it after bind/connect), else -1.
 * Errors: ENAMETOOLONG (the basename alone is too long), ENOENT/EACCES opening the parent,
 * EAFNOSUPPORT for tcp. */
int uds__sockaddr_for(const struct uds_addr *addr, struct sockaddr_un *ret_sa,
                      socklen_t *ret_len, int *ret_dirfd);

/* Wait until fd is ready for events (POLLIN/POLLOUT), up to timeout_ms (-1 forever).
 * Returns 0 when ready, -1 with ETIMEDOUT or another errno. Retries EINTR. */
int uds__wait_fd(int fd, short events, int timeout_ms);

#endif /* UDSKIT_INTERNAL_H */
