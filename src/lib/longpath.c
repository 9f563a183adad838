/* SPDX-License-Identifier: MIT */
/*
 * longpath.c — the sockaddr_un the kernel can use for an address, reaching a path longer
 * than sun_path through /proc/self/fd/N/NAME of an O_PATH fd to its directory. It opens
 * that one fd and nothing else; it never binds, connects or truncates.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define ALIAS_PREFIX "/proc/self/fd/"

/* Shortest alias for base: the prefix, one digit, '/', base. */
static bool alias_can_fit(size_t base_len) {
    return sizeof(ALIAS_PREFIX) - 1 + 1 + 1 + base_len <= UDS_SUN_PATH_MAX;
}

static int long_path(const struct uds_addr *addr, struct sockaddr_un *sa, int *ret_dirfd) {
    char dir[UDS_PATH_MAX + 1];
    const char *slash = memrchr(addr->name, '/', addr->len);
    const char *base;
    size_t base_len;
    int dirfd, n;

    /* A relative name without a directory part is already its own shortest form. */
    if (!slash)
        return uds__fail(ENAMETOOLONG);
    base = slash + 1;
    base_len = addr->len - (size_t) (base - addr->name);
    if (!alias_can_fit(base_len))
        return uds__fail(ENAMETOOLONG);

    if (slash == addr->name) {
        memcpy(dir, "/", 2);
    } else {
        size_t dir_len = (size_t) (slash - addr->name);
        memcpy(dir, addr->name, dir_len);
        dir[dir_len] = '\0';
    }
    /* O_PATH needs no read permission on the directory, only search permission on the
     * way there: the same rights bind() and connect() on the full path would need. */
    dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    n = snprintf(sa->sun_path, sizeof(sa->sun_path), ALIAS_PREFIX "%d/%s", dirfd, base);
    if (n < 0 || (size_t) n > UDS_SUN_PATH_MAX) {
        uds__close_keep_errno(dirfd);
        return uds__fail(ENAMETOOLONG);
    }
    *ret_dirfd = dirfd;
    return n;
}

int uds__sockaddr_for(const struct uds_addr *addr, struct sockaddr_un *ret_sa,
                      socklen_t *ret_len, int *ret_dirfd) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int dirfd = -1, n;

    if (!addr || !ret_sa || !ret_len || !ret_dirfd)
        return uds__fail(EINVAL);
    if (addr->kind != UDS_ADDR_PATH || addr->len <= UDS_SUN_PATH_MAX) {
        if (uds_addr_to_sockaddr(addr, ret_sa, ret_len) < 0)
            return -1;
        *ret_dirfd = -1;
        return 0;
    }
    if (addr->len > UDS_PATH_MAX)
        return uds__fail(ENAMETOOLONG);
    if (memchr(addr->name, '\0', addr->len))
        return uds__fail(EINVAL);
    n = long_path(addr, &sa, &dirfd);
    if (n < 0)
        return -1;
    *ret_sa = sa;
    *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + (size_t) n + 1);
    *ret_dirfd = dirfd;
    return 0;
}
