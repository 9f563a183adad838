/* SPDX-License-Identifier: MIT */
/*
 * fuzz_diag.c — the sock_diag message parser on arbitrary bytes, read as one netlink
 * datagram. Properties: it never reads past the input, each message it accepts advances
 * within the datagram, a parsed name is NUL-terminated and within sun_path, and the
 * pending-connection inodes it points at lie inside the input.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t off = 0;

    while (off < size) {
        struct uds__diag_msg msg;
        ssize_t used = uds__diag_parse(data + off, size - off, &msg);

        if (used < 0)
            break;
        assert(used > 0 && (size_t) used <= size - off);
        if (msg.kind == UDS__DIAG_SOCK) {
            const struct uds_sockinfo *s = &msg.info;
            assert(s->name_len <= UDS_SUN_PATH_MAX + 1);
            assert(s->name[s->name_len] == '\0');
            assert(s->name_kind == 0 || s->name_kind == UDS_ADDR_PATH ||
                   s->name_kind == UDS_ADDR_ABSTRACT);
            if (s->name_kind == UDS_ADDR_PATH)
                assert(s->name_len > 0 && strlen(s->name) == s->name_len);
            assert(s->type == UDS_STREAM || s->type == UDS_DGRAM || s->type == UDS_SEQPACKET);
            assert(uds_sock_state_name(s->state) != NULL);
            assert(s->pending == NULL);
            if (s->n_pending) {
                const uint8_t *p = msg.pending;
                assert(p >= data + off && p + s->n_pending * 4 <= data + off + (size_t) used);
                /* Touch every inode so ASan sees an out-of-bounds one. */
                uint32_t sum = 0, v;
                for (size_t i = 0; i < s->n_pending; i++) {
                    memcpy(&v, p + 4 * i, 4);
                    sum += v;
                }
                (void) sum;
            }
        } else if (msg.kind == UDS__DIAG_DONE || msg.kind == UDS__DIAG_ERROR) {
            assert(msg.error >= 0 && msg.error < 4096);
        }
        off += (size_t) used;
    }
    return 0;
}
