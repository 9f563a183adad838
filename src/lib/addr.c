/* SPDX-License-Identifier: MIT */
/*
 * addr.c — parse and format udskit addresses ("path", "@abstract", "unix:…", "tcp:…") and
 * turn them into a sockaddr_un. Pure: no syscalls, no allocation, no globals. Reaching a
 * path longer than sun_path is longpath.c's job, not this file's.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static bool has_prefix(const char *text, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    return len >= n && memcmp(text, prefix, n) == 0;
}

/* Decimal port 0..65535, digits only (no sign, no spaces, no empty). */
static int parse_port(const char *text, size_t len, uint16_t *ret_port) {
    unsigned long value = 0;

    if (len == 0 || len > 5)
        return uds__fail(EINVAL);
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return uds__fail(EINVAL);
        value = value * 10 + (unsigned long) (text[i] - '0');
    }
    if (value > 65535)
        return uds__fail(EINVAL);
    *ret_port = (uint16_t) value;
    return 0;
}

/* Host names and IP literals: letters, digits, '.', '-', '_', and in a bracketed IPv6
 * literal ':' and '%' (zone id). Anything else ("[", "/", spaces) is a typo to report, and
 * would not survive formatting and re-parsing. */
static bool valid_host(const char *host, size_t len, bool bracketed) {
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || (bracketed && (c == ':' || c == '%'));
        if (!ok)
            return false;
    }
    return true;
}

/* "HOST:PORT" or "[V6]:PORT". */
static int parse_tcp(const char *text, size_t len, struct uds_addr *addr) {
    const char *host, *port;
    size_t host_len;
    bool bracketed = len > 0 && text[0] == '[';

    if (bracketed) {
        const char *close = memchr(text, ']', len);
        if (!close || close + 1 >= text + len || close[1] != ':')
            return uds__fail(EINVAL);
        host = text + 1;
        host_len = (size_t) (close - host);
        port = close + 2;
    } else {
        const char *colon = memrchr(text, ':', len);
        if (!colon)
            return uds__fail(EINVAL);
        host = text;
        host_len = (size_t) (colon - text);
        port = colon + 1;
        /* An unbracketed IPv6 literal is ambiguous ("::1:80"): insist on brackets. */
        if (memchr(host, ':', host_len))
            return uds__fail(EINVAL);
    }
    if (host_len == 0 || !valid_host(host, host_len, bracketed))
        return uds__fail(EINVAL);
    /* Brackets are for IPv6 literals only, which always hold a ':'. */
    if (bracketed && !memchr(host, ':', host_len))
        return uds__fail(EINVAL);
    if (host_len > UDS_HOST_MAX)
        return uds__fail(ENAMETOOLONG);
    if (parse_port(port, (size_t) (text + len - port), &addr->port) < 0)
        return -1;
    memcpy(addr->host, host, host_len);
    addr->host[host_len] = '\0';
    addr->kind = UDS_ADDR_TCP;
    return 0;
}

UDS_API int uds_addr_parse_n(const char *text, size_t len, unsigned flags,
                             struct uds_addr *ret_addr) {
    struct uds_addr addr = { 0 };

    if (!text || !ret_addr || len == 0)
        return uds__fail(EINVAL);
    if (memchr(text, '\0', len))
        return uds__fail(EINVAL);

    if (has_prefix(text, len, "tcp:")) {
        if (!(flags & UDS_ADDR_ALLOW_TCP))
            return uds__fail(EINVAL);
        if (parse_tcp(text + 4, len - 4, &addr) < 0)
            return -1;
        *ret_addr = addr;
        return 0;
    }
    if (has_prefix(text, len, "unix:")) {
        text += 5;
        len -= 5;
        if (len == 0)
            return uds__fail(EINVAL);
    }

    if (text[0] == '@') {
        text++;
        len--;
        if (len == 0)
            return uds__fail(EINVAL);
        if (len > UDS_SUN_PATH_MAX)
            return uds__fail(ENAMETOOLONG);
        addr.kind = UDS_ADDR_ABSTRACT;
    } else {
        if (len > UDS_PATH_MAX)
            return uds__fail(ENAMETOOLONG);
        addr.kind = UDS_ADDR_PATH;
    }
    memcpy(addr.name, text, len);
    addr.name[len] = '\0';
    addr.len = len;
    *ret_addr = addr;
    return 0;
}

UDS_API int uds_addr_parse(const char *text, unsigned flags, struct uds_addr *ret_addr) {
    if (!text)
        return uds__fail(EINVAL);
    return uds_addr_parse_n(text, strlen(text), flags, ret_addr);
}

UDS_API int uds_addr_format(const struct uds_addr *addr, char *buf, size_t size) {
    int n;

    if (!addr || (!buf && size > 0))
        return uds__fail(EINVAL);
    switch (addr->kind) {
    case UDS_ADDR_PATH:
        /* A file literally named "tcp:…" or "unix:…" keeps an explicit prefix, so the text
         * parses back to the same path. (A path never starts with '@': "unix:@x" is
         * abstract, and a file named "@x" is written "./@x".) */
        if (has_prefix(addr->name, addr->len, "tcp:") ||
            has_prefix(addr->name, addr->len, "unix:"))
            n = snprintf(buf, size, "unix:%s", addr->name);
        else
            n = snprintf(buf, size, "%s", addr->name);
        break;
    case UDS_ADDR_ABSTRACT:
        n = snprintf(buf, size, "@%s", addr->name);
        break;
    case UDS_ADDR_TCP:
        if (strchr(addr->host, ':'))
            n = snprintf(buf, size, "tcp:[%s]:%u", addr->host, (unsigned) addr->port);
        else
            n = snprintf(buf, size, "tcp:%s:%u", addr->host, (unsigned) addr->port);
        break;
    default:
        return uds__fail(EINVAL);
    }
    return n;
}

UDS_API int uds_addr_to_sockaddr(const struct uds_addr *addr, struct sockaddr_un *ret_sa,
                                 socklen_t *ret_len) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t len;

    if (!addr || !ret_sa || !ret_len)
        return uds__fail(EINVAL);
    switch (addr->kind) {
    case UDS_ADDR_PATH:
        if (addr->len == 0)
            return uds__fail(EINVAL);
        if (addr->len > UDS_SUN_PATH_MAX)
            return uds__fail(ENAMETOOLONG);
        memcpy(sa.sun_path, addr->name, addr->len);
        len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + addr->len + 1);
        break;
    case UDS_ADDR_ABSTRACT:
        if (addr->len == 0)
            return uds__fail(EINVAL);
        if (addr->len > UDS_SUN_PATH_MAX)
            return uds__fail(ENAMETOOLONG);
        /* The kernel compares abstract names over exactly the length given, so the name
         * is not NUL-padded: "@x" must stay one byte long to match what ss shows. */
        memcpy(sa.sun_path + 1, addr->name, addr->len);
        len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + addr->len);
        break;
    case UDS_ADDR_TCP:
        return uds__fail(EAFNOSUPPORT);
    default:
        return uds__fail(EINVAL);
    }
    *ret_sa = sa;
    *ret_len = len;
    return 0;
}
