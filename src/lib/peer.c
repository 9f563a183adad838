/* SPDX-License-Identifier: MIT */
/*
 * peer.c — who is on the other end of a connected AF_UNIX socket (SO_PEERCRED,
 * SO_PEERGROUPS, SO_PEERPIDFD) and whether allow-lists of uids and gids admit it. It reads
 * socket options only; it never reads /proc and never opens a pidfd by pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "internal.h"

#define KNOWN_FLAGS (UDS_PEER_GROUPS | UDS_PEER_PIDFD)
/* Start with room for this many groups; NGROUPS_MAX (65536) is the ceiling the kernel
 * enforces, so the ERANGE loop below ends. */
#define GROUPS_FIRST 32
#define GROUPS_TRIES 4

/* The peer's supplementary groups: *ret_groups malloc'ed (NULL when none or when the
 * kernel cannot tell), *ret_n their count. */
static int get_groups(int fd, gid_t **ret_groups, size_t *ret_n) {
    socklen_t len = GROUPS_FIRST * sizeof(gid_t);
    gid_t *groups = NULL;

    for (int i = 0; i < GROUPS_TRIES; i++) {
        gid_t *bigger = realloc(groups, len > 0 ? len : sizeof(gid_t));
        if (!bigger) {
            free(groups);
            return uds__fail(ENOMEM);
        }
        groups = bigger;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
            size_t n = len / sizeof(gid_t);
            if (n == 0) {
                free(groups);
                groups = NULL;
            }
            *ret_groups = groups;
            *ret_n = n;
            return 0;
        }
        /* ERANGE: the kernel wrote the size it needs into len; the groups may still
         * change in between (they are the peer's as of connect, so not really). */
        if (errno == ERANGE)
            continue;
        free(groups);
        /* ENOPROTOOPT: a kernel before 4.13; ENODATA: a peer without credentials
         * (a connected dgram socket). Neither is an error for the caller. */
        if (errno == ENOPROTOOPT || errno == ENODATA) {
            *ret_groups = NULL;
            *ret_n = 0;
            return 0;
        }
        return -1;
    }
    free(groups);
    return uds__fail(EAGAIN);
}

/* The peer's pidfd, or -1 where the kernel has none to give. */
static int get_pidfd(int fd, int *ret_pidfd) {
    int pidfd = -1, flags;
    socklen_t len = sizeof(pidfd);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
        /* ENOPROTOOPT/EINVAL: a kernel before 6.5; ENODATA: no peer pid (dgram);
         * ESRCH: the peer has already been reaped. */
        if (errno == ENOPROTOOPT || errno == EINVAL || errno == ENODATA || errno == ESRCH) {
            *ret_pidfd = -1;
            return 0;
        }
        return -1;
    }
    if (len != sizeof(pidfd) || pidfd < 0) {
        uds__close_keep_errno(pidfd);
        return uds__fail(EIO);
    }
    /* The kernel makes it O_CLOEXEC today; make sure of the rule rather than trust it. */
    flags = fcntl(pidfd, F_GETFD);
    if (flags < 0 || (!(flags & FD_CLOEXEC) && fcntl(pidfd, F_SETFD, flags | FD_CLOEXEC) < 0)) {
        uds__close_keep_errno(pidfd);
        return -1;
    }
    *ret_pidfd = pidfd;
    return 0;
}

UDS_API int uds_peer_get(int fd, unsigned flags, struct uds_peer *ret_peer) {
    struct uds_peer peer = { .pidfd = -1 };
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (!ret_peer || (flags & ~KNOWN_FLAGS))
        return uds__fail(EINVAL);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    if (len != sizeof(cred))
        return uds__fail(EIO);
    /* An unconnected socket (or one whose peer left no credentials) answers with no
     * error but pid 0 and uid/gid -1. */
    if (cred.pid == 0 && cred.uid == (uid_t) -1 && cred.gid == (gid_t) -1)
        return uds__fail(ENOTCONN);
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;

    if ((flags & UDS_PEER_GROUPS) && get_groups(fd, &peer.groups, &peer.n_groups) < 0)
        return -1;
    if ((flags & UDS_PEER_PIDFD) && get_pidfd(fd, &peer.pidfd) < 0) {
        UDS__KEEP_ERRNO(free(peer.groups));
        return -1;
    }
    *ret_peer = peer;
    return 0;
}

UDS_API void uds_peer_done(struct uds_peer *peer) {
    if (!peer)
        return;
    free(peer->groups);
    peer->groups = NULL;
    peer->n_groups = 0;
    uds__close_keep_errno(peer->pidfd);
    peer->pidfd = -1;
}

UDS_API bool uds_allow_is_set(const struct uds_allow *allow) {
    return allow && ((allow->uids && allow->n_uids > 0) || (allow->gids && allow->n_gids > 0));
}

static bool has_gid(const struct uds_allow *allow, gid_t gid) {
    return uds__gid_listed(gid, allow->gids, allow->n_gids);
}

UDS_API bool uds_peer_allowed(const struct uds_peer *peer, const struct uds_allow *allow) {
    if (!peer)
        return false;
    if (!uds_allow_is_set(allow))
        return true;
    if (allow->uids) {
        for (size_t i = 0; i < allow->n_uids; i++)
            if (allow->uids[i] == peer->uid)
                return true;
    }
    if (allow->gids) {
        if (has_gid(allow, peer->gid))
            return true;
        for (size_t i = 0; peer->groups && i < peer->n_groups; i++)
            if (has_gid(allow, peer->groups[i]))
                return true;
    }
    return false;
}
