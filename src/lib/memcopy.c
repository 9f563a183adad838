/* SPDX-License-Identifier: MIT */
/*
 * memcopy.c — the copy of a message into a shared buffer that another process reads next:
 * memcpy, or on x86-64 non-temporal stores, whichever has been the faster lately. No system
 * calls but the clock, no allocation, no fds.
 */
#include <string.h>
#include <time.h>

#include "internal.h"
#include "memfd.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/* From this size on, a copy may bypass the cache. */
#define STREAM_COPY_MIN (64u << 10)
/* Every this many such copies, the way not in favour is timed again. */
#define COPY_RETRY_EVERY 16

#if defined(__x86_64__)
/* memcpy with non-temporal stores: whole cache lines go to memory without being fetched
 * first, and without staying in this CPU's cache. */
static void copy_streaming(void *dst, const void *src, size_t len) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    size_t body = len & ~(size_t) 63;

    for (size_t i = 0; i < body; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *) (const void *) (s + i));
        __m128i b = _mm_loadu_si128((const __m128i *) (const void *) (s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *) (const void *) (s + i + 32));
        __m128i e = _mm_loadu_si128((const __m128i *) (const void *) (s + i + 48));
        _mm_stream_si128((__m128i *) (void *) (d + i), a);
        _mm_stream_si128((__m128i *) (void *) (d + i + 16), b);
        _mm_stream_si128((__m128i *) (void *) (d + i + 32), c);
        _mm_stream_si128((__m128i *) (void *) (d + i + 48), e);
    }
    /* Non-temporal stores are weakly ordered: make them visible before the message that
     * sends the reader to them. */
    _mm_sfence();
    memcpy(d + body, s + body, len - body);
}

static uint64_t now_ns(void) {
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}
#endif

/* Which kind of store is the faster depends on where the reader is and what its cache
 * holds, which the sender cannot see. While other messages are still in flight, the reader
 * is busy with them and this buffer's old lines have left its cache: memcpy is the faster
 * (1 MiB back to back on a 2-CPU KVM guest, AMD EPYC: ~47 us a message, against ~65 with
 * non-temporal stores, which also make the reader fetch from memory). When nothing else is
 * in flight, the reader has just finished with this very buffer and its cache holds the
 * lines: if it runs on another CPU, each ordinary store must first take a line back from
 * it (a 1 MiB memcpy took ~87 us), while non-temporal stores write whole lines without
 * fetching them (~41 us); on the same CPU, memcpy is the faster again (~22 against ~39 us).
 * So in that case both are timed, and the one faster in the recent past is used, the other
 * being tried again every COPY_RETRY_EVERY copies. Small messages always stay in cache. */
void uds__copy_to_shared(struct uds__copy_costs *costs, void *dst, const void *src,
                         size_t len, bool reader_busy) {
#if defined(__x86_64__)
    if (len >= STREAM_COPY_MIN && !reader_busy) {
        uint64_t *cost = costs->ns_per_mib;
        int way = cost[0] == 0 ? 0 : cost[1] == 0 ? 1 : cost[1] < cost[0];
        if (++costs->copies % COPY_RETRY_EVERY == 0)
            way = !way;
        uint64_t t0 = now_ns();
        if (way)
            copy_streaming(dst, src, len);
        else
            memcpy(dst, src, len);
        uint64_t ns = now_ns() - t0;
        uint64_t sample = len >= ((uint64_t) 1 << 20) ? ns / (len >> 20) : (ns << 20) / len;
        /* A copy stretched by preemption is not the way's fault: one sample moves the
         * average up by a quarter at most. */
        if (cost[way] == 0)
            cost[way] = sample ? sample : 1;
        else
            cost[way] = (3 * cost[way] + (sample < 2 * cost[way] ? sample : 2 * cost[way])) / 4;
        return;
    }
#else
    (void) costs, (void) reader_busy;
#endif
    memcpy(dst, src, len);
}
