/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fdrecv.c — the fd-receive path over a real socketpair. The input drives a sender
 * that writes framed messages with fds (uds_frame_send_fds), raw bytes with fds at
 * arbitrary split points (uds_send_fds) and plain bytes; the fds are /dev/null and a
 * sealed 1 KiB memfd. The receiver then reads to the end with uds_frame_recv_fds() or, for odd
 * first bytes, uds_memfd_recv(). Properties: no crash, only the documented errnos, and no
 * fd left open after each input (the process's fds are counted before and after).
 *
 * Input: byte 0 selects the receiver (bit 0), its fd limit (bits 1-2) and its maximum
 * payload ((bits 3-7) + 1, times 64); then ops, each an op byte and its arguments:
 *   op % 4 == 0  frame:  fds (byte % 5, each /dev/null or the memfd by its bits), length
 *                (byte), payload bytes from the input
 *   op % 4 == 1  raw with fds: fds (byte % 4 + 1), length (byte % 64 + 1), bytes
 *   op % 4 == 2  raw without fds: length (byte % 64 + 1), bytes
 *   op % 4 == 3  stop sending
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udskit.h"

/* Bounds that keep everything inside the socket buffer: the sender never blocks. */
#define MAX_OPS 48
#define MAX_OP_BYTES 255
#define MAX_RECV_CALLS 1000

static int devnull = -1, memfd = -1;

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert(d);
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void init_once(void) {
    if (devnull >= 0)
        return;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    memfd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert(devnull >= 0 && memfd >= 0);
    /* Shorter than the largest maximum: announced lengths past it must be refused. */
    static const uint8_t bytes[1024];
    assert(write(memfd, bytes, sizeof(bytes)) == (ssize_t) sizeof(bytes));
    assert(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0);
}

struct input {
    const uint8_t *p;
    size_t left;
};

static uint8_t next(struct input *in) {
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

/* Up to len bytes of the input itself (fewer at its end). */
static size_t take(struct input *in, const uint8_t **ret, size_t len) {
    if (len > in->left)
        len = in->left;
    *ret = in->p;
    in->p += len;
    in->left -= len;
    return len;
}

static void send_ops(int fd, struct input *in) {
    for (int op_i = 0; op_i < MAX_OPS && in->left > 0; op_i++) {
        uint8_t op = next(in);
        int fds[UDS_MAX_FDS];
        size_t n_fds = 0, len;
        const uint8_t *bytes;

        switch (op % 4) {
        case 0:
            n_fds = next(in) % 5;
            for (size_t i = 0; i < n_fds; i++)
                fds[i] = (op >> (2 + i)) & 1 ? memfd : devnull;
            len = take(in, &bytes, next(in));
            (void) uds_frame_send_fds(fd, bytes, len, fds, n_fds);
            break;
        case 1:
            n_fds = next(in) % 4 + 1;
            for (size_t i = 0; i < n_fds; i++)
                fds[i] = (op >> (2 + i)) & 1 ? memfd : devnull;
            len = take(in, &bytes, next(in) % 64 + 1);
            if (len > 0)
                (void) uds_send_fds(fd, bytes, len, fds, n_fds);
            break;
        case 2:
            len = take(in, &bytes, next(in) % 64 + 1);
            if (len > 0)
                (void) uds_send_all(fd, bytes, len);
            break;
        default:
            return;
        }
    }
}

static bool documented(int error) {
    return error == EMSGSIZE || error == EPROTO || error == ENOMEM;
}

static void receive_frames(int fd, uint32_t max, size_t max_fds) {
    for (int i = 0; i < MAX_RECV_CALLS; i++) {
        void *buf = NULL;
        size_t len = 0, n_fds = 0;
        int fds[4];
        int r = uds_frame_recv_fds(fd, max, &buf, &len, fds, max_fds, &n_fds);
        if (r == 0)
            return;
        if (r < 0) {
            assert(documented(errno));
            continue;   /* out of step now, but it must still never leak */
        }
        assert(len <= max && n_fds <= max_fds);
        assert(((char *) buf)[len] == '\0');
        for (size_t k = 0; k < n_fds; k++) {
            assert(fcntl(fds[k], F_GETFD) & FD_CLOEXEC);
            close(fds[k]);
        }
        free(buf);
    }
}

static void receive_memfd_msgs(int fd, size_t max) {
    struct uds_memfd_cache *cache = uds_memfd_cache_new(2);
    assert(cache);
    for (int i = 0; i < MAX_RECV_CALLS; i++) {
        struct uds_memfd_msg m;
        int r = uds_memfd_recv(fd, cache, max, 0, &m);
        if (r == 0)
            break;
        if (r < 0) {
            assert(documented(errno));
            continue;
        }
        assert(m.len <= max);
        /* Read every byte: a mapping that could fault would show here. */
        volatile uint8_t sum = 0;
        for (size_t k = 0; k < m.len; k++)
            sum += ((const uint8_t *) m.data)[k];
        (void) sum;
        uds_memfd_msg_done(&m);
    }
    uds_memfd_cache_free(cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct input in = { .p = data, .left = size };
    int sv[2];

    if (size < 1)
        return 0;
    init_once();
    int before = count_fds();
    uint8_t mode = next(&in);
    bool memfd_receiver = mode & 1;
    size_t max_fds = (mode >> 1) & 3;
    /* Small maxima: an announced length is allocated before its bytes arrive, and the
     * default 16 MiB per call would only make the fuzzer slow. */
    uint32_t max = ((uint32_t) (mode >> 3) + 1) * 64;
    int sndbuf = 1 << 20;

    assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    /* Room for every op (the kernel caps it at wmem_max): the sender must never block. */
    (void) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    send_ops(sv[0], &in);
    close(sv[0]);   /* the receiver reads to the end of the stream */
    if (memfd_receiver)
        receive_memfd_msgs(sv[1], max);
    else
        receive_frames(sv[1], max, max_fds);
    close(sv[1]);
    assert(count_fds() == before);
    return 0;
}
