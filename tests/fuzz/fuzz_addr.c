/* SPDX-License-Identifier: MIT */
/*
 * fuzz_addr.c — the address parser on arbitrary bytes. Properties: it never reads past the
 * input, a parsed address formats and re-parses to the same address, and a sockaddr made
 * from it has an in-bounds length.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "udskit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct uds_addr a, b;
    static char text[UDS_PATH_MAX + UDS_HOST_MAX + 32];

    if (uds_addr_parse_n((const char *) data, size, UDS_ADDR_ALLOW_TCP, &a) < 0)
        return 0;
    int n = uds_addr_format(&a, text, sizeof(text));
    assert(n > 0 && (size_t) n < sizeof(text));
    assert(uds_addr_parse(text, UDS_ADDR_ALLOW_TCP, &b) == 0);
    assert(a.kind == b.kind);
    assert(a.len == b.len && memcmp(a.name, b.name, a.len) == 0);
    assert(strcmp(a.host, b.host) == 0 && a.port == b.port);

    struct sockaddr_un sa;
    socklen_t len;
    if (uds_addr_to_sockaddr(&a, &sa, &len) == 0)
        assert(len <= sizeof(sa) && len > offsetof(struct sockaddr_un, sun_path));
    return 0;
}
