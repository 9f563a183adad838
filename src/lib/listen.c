/* SPDX-License-Identifier: MIT */
/*
 * listen.c — safe listen and unlisten: the PATH.lock, the lstat-then-probe decision about
 * an existing path, the socket file's mode and owner, and removal of only what this
 * listener created. It never accepts connections and never touches the process umask.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "internal.h"

#define LOCK_SUFFIX ".lock"
/* Rounds of "open the lock file, lock it, find it was unlinked meanwhile" before giving
 * up: each round means another listener came and went, so a few are plenty. */
#define LOCK_TRIES 8
#define KNOWN_FLAGS (UDS_LISTEN_SET_OWNER | UDS_LISTEN_SET_GROUP | UDS_LISTEN_NONBLOCK | \
                     UDS_LISTEN_SET_MODE)

struct params {
    enum uds_socket_type type;
    int sock_type;
    mode_t mode;
    int backlog;
    unsigned flags;
    uid_t owner;
    gid_t group;
};

/* Where the path calls reach the socket and its lock: sa.sun_path is the path itself, or
 * its /proc/self/fd/N/NAME alias for a path longer than sun_path (N is dirfd). */
struct target {
    struct sockaddr_un sa;
    socklen_t sa_len;
    int dirfd;
    char lock[sizeof(((struct sockaddr_un *) 0)->sun_path) + sizeof(LOCK_SUFFIX)];
};

_Static_assert(UDS_LOCK_PATH_MAX == UDS_PATH_MAX + sizeof(LOCK_SUFFIX) - 1,
               "UDS_LOCK_PATH_MAX follows the suffix");

int uds_lock_path(const char *path, char *buf, size_t size) {
    int n;

    if (!path || !path[0] || !buf)
        return uds__fail(EINVAL);
    n = snprintf(buf, size, "%s" LOCK_SUFFIX, path);
    if (n < 0 || (size_t) n >= size)
        return uds__fail(ENAMETOOLONG);
    return n;
}

static int target_open(const struct uds_addr *addr, struct target *t) {
    if (uds__sockaddr_for(addr, &t->sa, &t->sa_len, &t->dirfd) < 0)
        return -1;
    /* Cannot fail: lock holds any sun_path and the suffix. */
    (void) uds_lock_path(t->sa.sun_path, t->lock, sizeof(t->lock));
    return 0;
}

static void target_close(struct target *t) {
    uds__close_keep_errno(t->dirfd);
    t->dirfd = -1;
}

static bool same_inode(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int params_from(const struct uds_listen_opts *opts, struct params *ret_params) {
    struct params p = { .type = UDS_STREAM, .mode = 0600, .backlog = SOMAXCONN };

    if (opts) {
        if ((opts->mode & ~(mode_t) 0777) || opts->backlog < 0 || (opts->flags & ~KNOWN_FLAGS))
            return uds__fail(EINVAL);
        p.type = opts->type;
        /* Without the flag 0 stays "the default", as callers from before it expect; with
         * it, 0 is a mode like any other, never widened. */
        if (opts->mode || (opts->flags & UDS_LISTEN_SET_MODE))
            p.mode = opts->mode;
        if (opts->backlog)
            p.backlog = opts->backlog;
        p.flags = opts->flags;
        p.owner = opts->owner;
        p.group = opts->group;
    }
    p.sock_type = uds_socket_type_to_sock(p.type);
    if (p.sock_type < 0)
        return -1;
    *ret_params = p;
    return 0;
}

/* Open the lock file that the O_EXCL create found at path (*ret_found: it was there) and
 * check that it is a regular file. The symlink O_NOFOLLOW refuses (ELOOP) and the socket
 * open() cannot open (ENXIO) are files that are not lock files, like a FIFO or a directory:
 * EEXIST. */
static int lock_open_existing(const char *path, bool *ret_found) {
    struct stat st;
    /* O_NONBLOCK: a FIFO planted at PATH.lock must not hang the open. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    *ret_found = !(fd < 0 && errno == ENOENT);  /* else its holder removed it meanwhile */
    if (fd < 0)
        return errno == ELOOP || errno == ENXIO ? uds__fail(EEXIST) : -1;
    if (fstat(fd, &st) < 0) {
        uds__close_keep_errno(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        (void) close(fd);
        return uds__fail(EEXIST);
    }
    return fd;
}

/* Open and flock PATH.lock. Returns the locked fd; *ret_created tells whether this call
 * created the file. On failure *ret_lock_failed tells whether the lock file itself is the
 * problem (not a regular file, locked, cannot be opened) rather than its directory. Never
 * removes a file it could not lock: its holder owns it. */
static int lock_acquire(const char *path, bool *ret_created, bool *ret_lock_failed) {
    *ret_lock_failed = true;
    for (int i = 0; i < LOCK_TRIES; i++) {
        struct stat by_fd, by_path;
        bool created = true, found;
        int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                      0600);

        if (fd < 0 && errno == EEXIST) {
            created = false;
            fd = lock_open_existing(path, &found);
            if (!found)
                continue;   /* its holder removed it between our two opens */
        } else if (fd < 0) {
            /* O_EXCL answers EEXIST before any other check, so this is about the directory:
             * missing, not writable, read-only... */
            *ret_lock_failed = false;
        }
        if (fd < 0)
            return -1;
        if (fstat(fd, &by_fd) < 0) {
            uds__close_keep_errno(fd);
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno == EWOULDBLOCK)
                errno = EADDRINUSE;
            uds__close_keep_errno(fd);
            return -1;
        }
        /* A listener unlinks its lock file while still holding it. A lock won on an inode
         * that no longer is the path guards nothing: the next starter creates a fresh
         * file and locks that one too. So the lock counts only if the path is still it. */
        if (lstat(path, &by_path) == 0 && same_inode(&by_fd, &by_path)) {
            *ret_created = created;
            *ret_lock_failed = false;
            return fd;
        }
        (void) close(fd);
    }
    return uds__fail(EADDRINUSE);
}

/* Connect to the socket at sa as a client of that type would. Returns 1 when something
 * listens there (*ret_pid its pid, or 0 if unknown), 0 when it is stale (ECONNREFUSED),
 * -1 with errno when the probe could not tell. */
static int probe(const struct sockaddr_un *sa, socklen_t sa_len, int sock_type,
                 pid_t *ret_pid) {
    struct ucred cred = { 0 };
    socklen_t cred_len = sizeof(cred);
    int fd, r;

    *ret_pid = 0;
    /* Non-blocking: a live listener with a full backlog answers EAGAIN at once instead
     * of making us wait for it. */
    fd = socket(AF_UNIX, sock_type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    r = connect(fd, (const struct sockaddr *) sa, sa_len);
    if (r == 0) {
        /* The listener's credentials as of its listen(); a dgram peer has none (pid 0). */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0 &&
            cred_len == sizeof(cred) && cred.pid > 0)
            *ret_pid = cred.pid;
        (void) close(fd);
        return 1;
    }
    switch (errno) {
    case ECONNREFUSED:
        (void) close(fd);
        return 0;
    case EAGAIN:        /* live, backlog full */
    case EINPROGRESS:
    case EPROTOTYPE:    /* live, another socket type: a stale socket refuses whatever type */
        (void) close(fd);
        return 1;
    default:
        uds__close_keep_errno(fd);
        return -1;
    }
}

/* The lock is held by another process: whether a live listener answers at the path, and
 * who it is if it can tell (info->holder_pid), for the caller's message. Changes nothing
 * on disk. */
static bool find_holder(const struct target *t, int sock_type, struct uds_listen_info *info) {
    struct stat st;
    pid_t pid;
    int e = errno;
    bool live = lstat(t->sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
                probe(&t->sa, t->sa_len, sock_type, &pid) > 0;

    if (live)
        info->holder_pid = pid;
    errno = e;
    return live;
}

/* Unlink path if it still names the inode dev/ino. */
static int unlink_if_same(const char *path, dev_t dev, ino_t ino) {
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (st.st_dev != dev || st.st_ino != ino)
        return 0;
    if (unlink(path) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* Unlink the lock file if the path is still the file lock_fd holds. */
static int unlink_lock(const char *path, int lock_fd) {
    struct stat st;

    if (fstat(lock_fd, &st) < 0)
        return -1;
    return unlink_if_same(path, st.st_dev, st.st_ino);
}

/* After bind: identify the socket file (*ret_st, *ret_recorded as soon as known), then
 * set owner and mode through an O_PATH fd of that very inode, so a symlink or file swapped
 * in at the path since bind is never chmod'ed. Mode goes last: the file only ever widens
 * to what was asked. */
static int finish_node(const char *path, const struct params *p, struct stat *ret_st,
                       bool *ret_recorded) {
    char proc[sizeof("/proc/self/fd/") + 3 * sizeof(int)];
    struct stat st;
    int node = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

    if (node < 0)
        return -1;
    if (fstat(node, &st) < 0)
        goto fail;
    if (!S_ISSOCK(st.st_mode)) {
        errno = EEXIST;
        goto fail;
    }
    *ret_st = st;
    *ret_recorded = true;
    if (p->flags & (UDS_LISTEN_SET_OWNER | UDS_LISTEN_SET_GROUP)) {
        uid_t uid = p->flags & UDS_LISTEN_SET_OWNER ? p->owner : (uid_t) -1;
        gid_t gid = p->flags & UDS_LISTEN_SET_GROUP ? p->group : (gid_t) -1;
        if (fchownat(node, "", uid, gid, AT_EMPTY_PATH) < 0)
            goto fail;
    }
    /* fchmod() does not work on an O_PATH fd; its /proc magic link reaches the inode. */
    (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", node);
    if (chmod(proc, p->mode) < 0) {
        struct stat again;
        if (errno != ENOENT)
            goto fail;
        /* No /proc: check the path once more and chmod by name, a window as narrow as
         * this can get without it. */
        if (lstat(path, &again) < 0)
            goto fail;
        if (!same_inode(&st, &again)) {
            errno = EEXIST;
            goto fail;
        }
        if (chmod(path, p->mode) < 0)
            goto fail;
    }
    (void) close(node);
    return 0;
fail:
    uds__close_keep_errno(node);
    return -1;
}

static int new_socket(const struct params *p) {
    int nonblock = p->flags & UDS_LISTEN_NONBLOCK ? SOCK_NONBLOCK : 0;

    return socket(AF_UNIX, p->sock_type | SOCK_CLOEXEC | nonblock, 0);
}

/* Remove the stale socket the probe refused, unless the path changed since lstat: a
 * regular file put there meanwhile would also have refused the probe. */
static int remove_stale(const char *path, const struct stat *seen) {
    struct stat now;

    if (lstat(path, &now) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(now.st_mode))
        return uds__fail(EEXIST);
    if (!same_inode(seen, &now))
        return uds__fail(EADDRINUSE);   /* someone else just bound a new socket there */
    if (unlink(path) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* Make room at the path: nothing there, or a stale socket removed. A path that is not a
 * socket (EEXIST) or a live listener (EADDRINUSE) is left as it is. */
static int clear_path(const struct target *t, const struct params *p,
                      struct uds_listen_info *info) {
    const char *path = t->sa.sun_path;
    struct stat st;
    pid_t holder;
    int r;

    /* lstat before any probe: connect() to a regular file or a directory also answers
     * ECONNREFUSED, so a probe alone would take a user's file for a stale socket. */
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(st.st_mode))
        return uds__fail(EEXIST);
    r = probe(&t->sa, t->sa_len, p->sock_type, &holder);
    if (r > 0) {
        info->holder_pid = holder;
        return uds__fail(EADDRINUSE);
    }
    if (r < 0)
        return errno == ENOENT ? 0 : -1;
    if (remove_stale(path, &st) < 0)
        return -1;
    info->removed_stale = true;
    return 0;
}

static int listen_path(const struct uds_addr *addr, const struct params *p,
                       struct uds_listener *l, struct uds_listen_info *info) {
    struct target t = { .dirfd = -1 };
    struct stat st;
    const char *path;
    bool lock_created = false, recorded = false;
    int lock_fd = -1, fd = -1, r;

    if (target_open(addr, &t) < 0)
        return -1;
    path = t.sa.sun_path;

    lock_fd = lock_acquire(t.lock, &lock_created, &info->lock_failed);
    if (lock_fd < 0) {
        /* A live listener at the path explains a held lock: that is the error to report. */
        if (errno == EADDRINUSE && find_holder(&t, p->sock_type, info))
            info->lock_failed = false;
        goto fail;
    }

    if (clear_path(&t, p, info) < 0)
        goto fail;

    fd = new_socket(p);
    if (fd < 0)
        goto fail;
    /* unix_bind() creates the file with the socket inode's mode minus the umask, so the
     * file is born no wider than the requested mode and umask() stays untouched. */
    if (fchmod(fd, p->mode) < 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *) &t.sa, t.sa_len) < 0)
        goto fail;
    if (finish_node(path, p, &st, &recorded) < 0)
        goto fail;
    if (p->sock_type != SOCK_DGRAM && listen(fd, p->backlog) < 0)
        goto fail;

    target_close(&t);
    *l = (struct uds_listener) {
        .fd = fd,
        .lock_fd = lock_fd,
        .type = p->type,
        .addr = *addr,
        .dev = st.st_dev,
        .ino = st.st_ino,
        .owns_path = true,
    };
    return fd;

fail:
    r = errno;
    if (recorded)
        (void) unlink_if_same(path, st.st_dev, st.st_ino);  /* best effort: already failing */
    uds__close_keep_errno(fd);
    if (lock_fd >= 0) {
        /* We hold the lock, so removing a file we created cannot pull it from under
         * another listener; a lock file we found is left as it was. */
        if (lock_created)
            (void) unlink_lock(t.lock, lock_fd);
        (void) close(lock_fd);
    }
    target_close(&t);
    errno = r;
    return -1;
}

static int listen_abstract(const struct uds_addr *addr, const struct params *p,
                           struct uds_listener *l, struct uds_listen_info *info) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    int fd, dirfd;

    if (uds__sockaddr_for(addr, &sa, &sa_len, &dirfd) < 0)
        return -1;
    fd = new_socket(p);
    if (fd < 0)
        return -1;
    /* No file and no lock: the kernel itself refuses a second bind of the name. */
    if (bind(fd, (const struct sockaddr *) &sa, sa_len) < 0) {
        if (errno == EADDRINUSE) {
            pid_t pid;
            if (probe(&sa, sa_len, p->sock_type, &pid) > 0)
                info->holder_pid = pid;
            errno = EADDRINUSE;
        }
        goto fail;
    }
    if (p->sock_type != SOCK_DGRAM && listen(fd, p->backlog) < 0)
        goto fail;
    *l = (struct uds_listener) {
        .fd = fd,
        .lock_fd = -1,
        .type = p->type,
        .addr = *addr,
        .owns_path = false,
    };
    return fd;
fail:
    uds__close_keep_errno(fd);
    return -1;
}

UDS_API int uds_listen_addr(const struct uds_addr *addr, const struct uds_listen_opts *opts,
                            struct uds_listener *ret_listener, struct uds_listen_info *info) {
    struct uds_listen_info scratch;
    struct params p;

    if (!info)
        info = &scratch;
    *info = (struct uds_listen_info) { 0 };
    if (!addr || !ret_listener)
        return uds__fail(EINVAL);
    if (params_from(opts, &p) < 0)
        return -1;
    switch (addr->kind) {
    case UDS_ADDR_PATH:
        if (addr->len == 0)
            return uds__fail(EINVAL);
        return listen_path(addr, &p, ret_listener, info);
    case UDS_ADDR_ABSTRACT:
        return listen_abstract(addr, &p, ret_listener, info);
    case UDS_ADDR_TCP:
        return uds__fail(EAFNOSUPPORT);
    default:
        return uds__fail(EINVAL);
    }
}

UDS_API int uds_listen(const char *address, const struct uds_listen_opts *opts,
                       struct uds_listener *ret_listener, struct uds_listen_info *info) {
    struct uds_addr addr;

    if (info)
        *info = (struct uds_listen_info) { 0 };
    /* tcp: parses so that it can be refused with EAFNOSUPPORT, as documented. */
    if (uds_addr_parse(address, UDS_ADDR_ALLOW_TCP, &addr) < 0)
        return -1;
    return uds_listen_addr(&addr, opts, ret_listener, info);
}

/* Fill addr from getsockname(): path, abstract name, or left zero when unnamed. */
static int adopt_name(int fd, struct uds_addr *addr) {
    struct sockaddr_un sa = { 0 };
    socklen_t len = sizeof(sa);
    const size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n;

    if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
        return -1;
    if (sa.sun_family != AF_UNIX)
        return uds__fail(EAFNOSUPPORT);
    if (len <= off)
        return 0;
    n = (size_t) len - off;
    if (n > sizeof(sa.sun_path))
        n = sizeof(sa.sun_path);
    if (sa.sun_path[0] == '\0') {
        addr->kind = UDS_ADDR_ABSTRACT;
        addr->len = n - 1;
        memcpy(addr->name, sa.sun_path + 1, n - 1);
    } else {
        addr->kind = UDS_ADDR_PATH;
        addr->len = strnlen(sa.sun_path, n);
        memcpy(addr->name, sa.sun_path, addr->len);
    }
    addr->name[addr->len] = '\0';
    return 0;
}

UDS_API int uds_listener_adopt(int fd, struct uds_listener *ret_listener) {
    struct uds_listener l = { .fd = fd, .lock_fd = -1 };
    int domain, type, accepting = 0, flags;
    socklen_t len;

    if (fd < 0)
        return uds__fail(EBADF);
    if (!ret_listener) {
        errno = EINVAL;
        goto fail;
    }
    flags = fcntl(fd, F_GETFD);
    if (flags < 0 || (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0))
        goto fail;
    len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        goto fail;
    if (domain != AF_UNIX) {
        errno = EAFNOSUPPORT;
        goto fail;
    }
    len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        goto fail;
    switch (type) {
    case SOCK_STREAM:
        l.type = UDS_STREAM;
        break;
    case SOCK_SEQPACKET:
        l.type = UDS_SEQPACKET;
        break;
    case SOCK_DGRAM:
        l.type = UDS_DGRAM;
        break;
    default:
        errno = EINVAL;
        goto fail;
    }
    if (type != SOCK_DGRAM) {
        len = sizeof(accepting);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0)
            goto fail;
        if (!accepting) {
            errno = EINVAL;
            goto fail;
        }
    }
    if (adopt_name(fd, &l.addr) < 0)
        goto fail;
    *ret_listener = l;
    return fd;
fail:
    uds__close_keep_errno(fd);
    return -1;
}

UDS_API int uds_unlisten(struct uds_listener *listener) {
    struct target t = { .dirfd = -1 };
    int ret = 0, error = 0;

    if (!listener)
        return uds__fail(EINVAL);
    if (listener->owns_path && listener->fd >= 0 && listener->addr.kind == UDS_ADDR_PATH) {
        if (target_open(&listener->addr, &t) == 0) {
            /* Unlink before close: once the fd is closed, another starter may find the
             * file stale and bind its own socket there, which we must not remove. */
            if (unlink_if_same(t.sa.sun_path, listener->dev, listener->ino) < 0) {
                ret = -1;
                error = errno;
            }
            if (listener->lock_fd >= 0)
                (void) unlink_lock(t.lock, listener->lock_fd);
            target_close(&t);
        } else if (errno != ENOENT) {
            ret = -1;
            error = errno;
        }
    }
    if (listener->lock_fd >= 0)
        (void) close(listener->lock_fd);
    if (listener->fd >= 0)
        (void) close(listener->fd);
    listener->fd = -1;
    listener->lock_fd = -1;
    listener->owns_path = false;
    if (ret < 0)
        errno = error;
    return ret;
}

UDS_API void uds_listener_init(struct uds_listener *listener) {
    if (listener)
        *listener = (struct uds_listener) { .fd = -1, .lock_fd = -1 };
}
