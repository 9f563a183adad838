/* SPDX-License-Identifier: MIT */
/*
 * memfd.h — what the three parts of the memfd transport share inside src/lib: the wire
 * format (a kind byte, then the payload inline or the length of a memfd passed with
 * SCM_RIGHTS), the seal constants, and the copy into a pooled buffer. memfd_pool.c sends,
 * memfd_cache.c receives, memcopy.c copies; none of this is public API.
 */
#ifndef UDSKIT_MEMFD_H
#define UDSKIT_MEMFD_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

/* Constants missing from older headers; each is tried, and refused by older kernels. */
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define KIND_INLINE 'I'
#define KIND_MEMFD 'M'
#define MEMFD_PAYLOAD 9         /* kind byte + 8-byte length */
/* The largest payload that fits in a frame with its kind byte. */
#define INLINE_MAX ((size_t) UINT32_MAX - 1)

/* ---- the copy into a pooled buffer (memcopy.c) ---------------------------------------- */

/* What the recent copies cost, for the choice between memcpy and non-temporal stores: the
 * sender keeps one per pool, zero-initialised. */
struct uds__copy_costs {
    uint64_t ns_per_mib[2];     /* moving average: [0] memcpy, [1] streaming */
    unsigned copies;
};

/* Copy len bytes from src into dst, a page-aligned shared buffer that another process maps
 * and reads next. reader_busy: other messages of the same sender are still in flight, so
 * the reader is not working on this buffer now. */
void uds__copy_to_shared(struct uds__copy_costs *costs, void *dst, const void *src,
                         size_t len, bool reader_busy);

#endif /* UDSKIT_MEMFD_H */
