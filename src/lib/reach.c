/* SPDX-License-Identifier: MIT */
/*
 * reach.c — whether connecting to an address would reach a given listener, whatever the
 * spelling: the same socket file by another path, the same abstract name, the same TCP
 * port on an address the listener takes. For a program that must not connect to itself,
 * such as a proxy whose target is its own listener. It compares; it never connects.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

UDS_API bool uds_inet_is_loopback(const struct sockaddr *sa) {
    const struct in6_addr *a6;

    if (sa && sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) == 127;
    if (!sa || sa->sa_family != AF_INET6)
        return false;
    a6 = &((const struct sockaddr_in6 *) sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it stands for. */
static void unmap(struct sockaddr_storage *ss) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) ss;
    struct sockaddr_in in = { .sin_family = AF_INET };

    if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
        return;
    in.sin_port = in6->sin6_port;
    memcpy(&in.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
    *ss = (struct sockaddr_storage){ .ss_family = AF_INET };
    memcpy(ss, &in, sizeof(in));
}

static bool is_wildcard(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET)
        return ((const struct sockaddr_in *) ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return ss->ss_family == AF_INET6 &&
           IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *) ss)->sin6_addr);
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *) a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *) b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *) a)->sin6_addr,
                  &((const struct sockaddr_in6 *) b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* Whether ss is an address of this machine: loopback, or an interface's. Not a bind()
 * probe: with net.ipv4.ip_nonlocal_bind any address binds. */
static bool is_local(const struct sockaddr_storage *ss) {
    struct ifaddrs *ifs, *i;
    bool local = uds_inet_is_loopback((const struct sockaddr *) ss);

    if (local || getifaddrs(&ifs) < 0)
        return local;
    for (i = ifs; i && !local; i = i->ifa_next) {
        struct sockaddr_storage a = { .ss_family = AF_UNSPEC };
        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
                             i->ifa_addr->sa_family != AF_INET6))
            continue;
        memcpy(&a, i->ifa_addr, i->ifa_addr->sa_family == AF_INET ?
               sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
        local = same_host(&a, ss);
    }
    freeifaddrs(ifs);
    return local;
}

static uint16_t port_of(const struct sockaddr_storage *ss) {
    return ss->ss_family == AF_INET ? ((const struct sockaddr_in *) ss)->sin_port
                                    : ((const struct sockaddr_in6 *) ss)->sin6_port;
}

/* Whether connecting to t reaches the TCP listener fd, bound to l: the same port, and the
 * same address or, for a listener on every address, one of this machine's. */
static bool reaches_tcp(int fd, struct sockaddr_storage l, struct sockaddr_storage t) {
    int v6only = 1;
    socklen_t len = sizeof(v6only);

    unmap(&l);
    unmap(&t);
    if (port_of(&l) != port_of(&t))
        return false;
    /* connect() to 0.0.0.0 goes to 127.0.0.1, to :: to ::1. */
    if (is_wildcard(&t) && t.ss_family == AF_INET)
        ((struct sockaddr_in *) &t)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (is_wildcard(&t))
        ((struct sockaddr_in6 *) &t)->sin6_addr = in6addr_loopback;
    /* [::] without IPV6_V6ONLY (a socket-activated one may be so) takes IPv4 too. */
    if (l.ss_family == AF_INET6 && t.ss_family == AF_INET && is_wildcard(&l) &&
        getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == 0 && !v6only)
        return is_local(&t);
    if (l.ss_family != t.ss_family)
        return false;
    return is_wildcard(&l) ? is_local(&t) : same_host(&l, &t);
}

/* The same abstract name, or the same socket file by any path (stat() follows symlinks,
 * relative paths and symlinked directories alike). */
static bool reaches_unix(const struct uds_addr *l, const struct uds_addr *t) {
    struct stat a, b;

    if (l->kind == UDS_ADDR_ABSTRACT || t->kind == UDS_ADDR_ABSTRACT)
        return l->kind == t->kind && l->len == t->len && memcmp(l->name, t->name, l->len) == 0;
    return stat(l->name, &a) == 0 && stat(t->name, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

UDS_API int uds_listener_reached_by(const struct uds_listener *listener,
                                    const struct uds_addr *addr, const struct uds_tcp_addrs *tcp) {
    struct uds_tcp_addrs resolved;
    struct sockaddr_storage ls;
    socklen_t len = sizeof(ls);

    if (!listener || listener->fd < 0 || !addr)
        return uds__fail(EINVAL);
    if ((listener->addr.kind == UDS_ADDR_TCP) != (addr->kind == UDS_ADDR_TCP))
        return 0;
    if (addr->kind != UDS_ADDR_TCP)
        return reaches_unix(&listener->addr, addr);
    if (!tcp && uds_tcp_resolve(addr, &resolved, NULL) < 0)
        return -1;
    if (getsockname(listener->fd, (struct sockaddr *) &ls, &len) < 0)
        return -1;
    for (size_t i = 0, n = tcp ? tcp->n : resolved.n; i < n; i++)
        if (reaches_tcp(listener->fd, ls, tcp ? tcp->addrs[i] : resolved.addrs[i]))
            return 1;
    return 0;
}
