/* SPDX-License-Identifier: MIT */
/*
 * tcp.c — TCP where udskit takes either family: resolve tcp:HOST:PORT, name an AF_INET or
 * AF_INET6 address as tcp:, bind a TCP listener or adopt one. It opens listening sockets
 * only: accepting is server.c's, connecting dial.c's. Which hosts may be listened on is
 * the caller's policy, not this file's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The errno that stands for a getaddrinfo() failure. */
static int gai_errno(int gai) {
    switch (gai) {
    case EAI_SYSTEM:
        return errno;
    case EAI_MEMORY:
        return ENOMEM;
    case EAI_AGAIN:
        return EAGAIN;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return ENOENT;
    default:
        return EIO;
    }
}

UDS_API int uds_tcp_resolve(const struct uds_addr *addr, struct uds_tcp_addrs *ret_addrs,
                            int *gai_error) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    struct uds_tcp_addrs out = { .n = 0 };
    char port[8];
    int r;

    if (gai_error)
        *gai_error = 0;
    if (!addr || addr->kind != UDS_ADDR_TCP || !ret_addrs)
        return uds__fail(EINVAL);
    snprintf(port, sizeof(port), "%u", (unsigned) addr->port);
    r = getaddrinfo(addr->host, port, &hints, &res);
    if (r != 0) {
        int e = gai_errno(r);
        if (gai_error)
            *gai_error = r;
        return uds__fail(e);
    }
    for (struct addrinfo *ai = res; ai && out.n < UDS_TCP_ADDRS_MAX; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(out.addrs[0]))
            continue;
        memcpy(&out.addrs[out.n], ai->ai_addr, ai->ai_addrlen);
        out.lens[out.n++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    if (out.n == 0)
        return uds__fail(ENOENT);
    *ret_addrs = out;
    return (int) out.n;
}

UDS_API int uds_addr_from_inet(const struct sockaddr *sa, struct uds_addr *ret_addr) {
    char host[INET6_ADDRSTRLEN];
    uint16_t port;

    if (!sa || !ret_addr)
        return uds__fail(EINVAL);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    } else {
        return uds__fail(EAFNOSUPPORT);
    }
    /* Field by field: the struct is 4 KiB, mostly a path a TCP address has no use for. */
    ret_addr->kind = UDS_ADDR_TCP;
    ret_addr->len = 0;
    ret_addr->name[0] = '\0';
    memcpy(ret_addr->host, host, strlen(host) + 1);
    ret_addr->port = port;
    return 0;
}

/* The listener for a TCP listening fd: its address as getsockname() has it. */
static int tcp_listener(int fd, struct uds_listener *ret_listener) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    ret_listener->fd = fd;
    ret_listener->lock_fd = -1;
    ret_listener->type = UDS_STREAM;
    ret_listener->dev = 0;
    ret_listener->ino = 0;
    ret_listener->owns_path = false;
    if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
        return -1;
    return uds_addr_from_inet((const struct sockaddr *) &ss, &ret_listener->addr);
}

static bool opts_fit_tcp(const struct uds_listen_opts *o) {
    return o->type == UDS_STREAM && o->mode == 0 && o->owner == 0 && o->group == 0 &&
           o->backlog >= 0 && (o->flags & ~UDS_LISTEN_NONBLOCK) == 0;
}

UDS_API int uds_listen_tcp(const struct sockaddr *sa, socklen_t len,
                           const struct uds_listen_opts *opts, struct uds_listener *ret_listener) {
    static const struct uds_listen_opts defaults = { .type = UDS_STREAM };
    struct uds_listener l;
    int fd, on = 1;

    if (!opts)
        opts = &defaults;
    if (!sa || !ret_listener || !opts_fit_tcp(opts))
        return uds__fail(EINVAL);
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return uds__fail(EAFNOSUPPORT);
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC |
                (opts->flags & UDS_LISTEN_NONBLOCK ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
    /* A restart must not wait out TIME_WAIT; [::] means IPv6 only, as written. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
        (sa->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
        bind(fd, sa, len) < 0 || listen(fd, opts->backlog ? opts->backlog : SOMAXCONN) < 0 ||
        tcp_listener(fd, &l) < 0) {
        uds__close_keep_errno(fd);
        return -1;
    }
    *ret_listener = l;
    return fd;
}

UDS_API int uds_listener_adopt_tcp(int fd, struct uds_listener *ret_listener) {
    struct uds_listener l;
    int domain, type, accepting, flags;
    socklen_t len = sizeof(int);

    if (fd < 0)
        return uds__fail(EBADF);
    if (!ret_listener) {
        errno = EINVAL;
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        goto fail;
    if (domain != AF_INET && domain != AF_INET6) {
        errno = EAFNOSUPPORT;
        goto fail;
    }
    len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        goto fail;
    len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0)
        goto fail;
    if (type != SOCK_STREAM || !accepting) {
        errno = EINVAL;
        goto fail;
    }
    /* An inherited fd may lack it: a program we start must not keep our listener. */
    flags = fcntl(fd, F_GETFD);
    if (flags < 0 || (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0))
        goto fail;
    if (tcp_listener(fd, &l) < 0)
        goto fail;
    *ret_listener = l;
    return fd;
fail:
    uds__close_keep_errno(fd);
    return -1;
}
