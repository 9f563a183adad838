/* SPDX-License-Identifier: MIT */
/*
 * activate.c — socket activation and readiness: the fds a service manager passes in
 * LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES, and state datagrams to NOTIFY_SOCKET (systemd's
 * protocol). It reads the environment and never binds or listens itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>

#include "internal.h"

#define KNOWN_FLAGS UDS_ACTIVATION_UNSET_ENV
#define UNKNOWN_NAME "unknown"
/* statfs f_type of pidfs (Linux 6.9+), where a pidfd's inode number names one process
 * for the life of the system. */
#define PIDFS_MAGIC 0x50494446

static void unset_env(unsigned flags) {
    if (!(flags & UDS_ACTIVATION_UNSET_ENV))
        return;
    /* unsetenv() fails only for a name that is empty or contains '='. */
    (void) unsetenv("LISTEN_PID");
    (void) unsetenv("LISTEN_PIDFDID");
    (void) unsetenv("LISTEN_FDS");
    (void) unsetenv("LISTEN_FDNAMES");
}

/* A plain decimal number: digits only, no sign, no blanks, no overflow past max. systemd
 * itself writes nothing else; its own parser also takes blanks and 0x/octal forms, which
 * are refused here rather than guessed at. */
static int parse_decimal(const char *s, uint64_t max, uint64_t *ret) {
    uint64_t v = 0;

    if (!*s)
        return uds__fail(EINVAL);
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return uds__fail(EINVAL);
        unsigned d = (unsigned) (*s - '0');
        if (v > (max - d) / 10)
            return uds__fail(EINVAL);
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

/* Whether LISTEN_PIDFDID (when set) names this process: 1 yes or cannot tell, 0 no.
 * LISTEN_PID alone can match a process that reused a pid of a short-lived intended
 * receiver; the pidfs inode number cannot be reused. pidfd_open() on our own pid has no
 * reuse race (we are alive), unlike on a peer's pid. */
static int pidfdid_matches(const char *text) {
    uint64_t want, own;
    struct statfs sfs;
    struct stat st;

    if (parse_decimal(text, UINT64_MAX, &want) < 0)
        return -1;
#ifdef SYS_pidfd_open
    int pidfd = (int) syscall(SYS_pidfd_open, getpid(), 0);
    if (pidfd < 0)
        return 1;
    /* pidfd_open() fds are O_CLOEXEC by definition; this one lives for two calls. */
    bool known = fstatfs(pidfd, &sfs) == 0 && sfs.f_type == PIDFS_MAGIC &&
                 fstat(pidfd, &st) == 0 && sizeof(st.st_ino) >= sizeof(uint64_t);
    own = known ? (uint64_t) st.st_ino : 0;
    (void) close(pidfd);
    if (!known)
        return 1;
    return own == want;
#else
    (void) want;
    (void) own;
    (void) sfs;
    (void) st;
    return 1;
#endif
}

/* n fds, their names (NULL: "unknown" each), all in one allocation. */
static int build(size_t n, const char *names_env, struct uds_activation *ret) {
    /* An empty LISTEN_FDNAMES holds no names at all, so it matches no count of fds. */
    if (names_env && !*names_env)
        return uds__fail(EINVAL);
    size_t text_len = names_env ? strlen(names_env) + 1 : sizeof(UNKNOWN_NAME);
    size_t size = n * (sizeof(char *) + sizeof(int)) + text_len;
    char **names = malloc(size);

    if (!names)
        return uds__fail(ENOMEM);
    int *fds = (int *) (names + n);
    char *text = (char *) (fds + n);

    memcpy(text, names_env ? names_env : UNKNOWN_NAME, text_len);
    for (size_t i = 0; i < n; i++) {
        fds[i] = UDS_LISTEN_FDS_START + (int) i;
        if (!names_env) {
            names[i] = text;
            continue;
        }
        /* Separators are not coalesced: "a::b" is three names, the middle one empty. */
        names[i] = text;
        char *colon = strchr(text, ':');
        if (!colon != (i == n - 1)) {
            free(names);
            return uds__fail(EINVAL);
        }
        if (colon) {
            *colon = '\0';
            text = colon + 1;
        }
    }
    *ret = (struct uds_activation) { .n_fds = n, .fds = fds, .names = names };
    return 0;
}

static int get(struct uds_activation *ret) {
    const char *e;
    uint64_t pid, n;

    e = getenv("LISTEN_PID");
    if (!e)
        return 0;
    if (parse_decimal(e, INT32_MAX, &pid) < 0 || pid == 0)
        return uds__fail(EINVAL);
    if ((pid_t) pid != getpid())
        return 0;   /* meant for an ancestor, which left them in the environment */
    e = getenv("LISTEN_PIDFDID");
    if (e) {
        int r = pidfdid_matches(e);
        if (r <= 0)
            return r;
    }
    e = getenv("LISTEN_FDS");
    if (!e)
        return 0;
    /* 0 is refused like garbage, as systemd does: a manager never sets it. */
    if (parse_decimal(e, INT32_MAX - UDS_LISTEN_FDS_START, &n) < 0 || n == 0)
        return uds__fail(EINVAL);
    /* Set close-on-exec first: a huge LISTEN_FDS stops at the first fd that is not open
     * (EBADF) long before anything is allocated for it. */
    for (uint64_t i = 0; i < n; i++) {
        int fd = UDS_LISTEN_FDS_START + (int) i;
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || (!(fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0))
            return -1;
    }
    if (build((size_t) n, getenv("LISTEN_FDNAMES"), ret) < 0)
        return -1;
    return (int) n;
}

UDS_API int uds_activation_get(unsigned flags, struct uds_activation *ret_activation) {
    struct uds_activation a = { 0 };

    if (!ret_activation || (flags & ~KNOWN_FLAGS))
        return uds__fail(EINVAL);
    int n = get(&a);
    UDS__KEEP_ERRNO(unset_env(flags));
    if (n < 0)
        return -1;
    *ret_activation = a;
    return n;
}

UDS_API void uds_activation_done(struct uds_activation *activation) {
    if (!activation)
        return;
    /* names is the one allocation that also holds fds and the name text. */
    free(activation->names);
    *activation = (struct uds_activation) { 0 };
}

/* Whether fd is an AF_UNIX socket that uds_listener_adopt() takes: a listening stream or
 * seqpacket socket, or a dgram socket. 1, 0, or -1 on a failing call. */
static int adoptable(int fd) {
    int domain, type, accepting;
    socklen_t len = sizeof(domain);

    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        return errno == ENOTSOCK ? 0 : -1;
    if (domain != AF_UNIX)
        return 0;
    len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -1;
    if (type == SOCK_DGRAM)
        return 1;
    if (type != SOCK_STREAM && type != SOCK_SEQPACKET)
        return 0;
    len = sizeof(accepting);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0)
        return -1;
    return accepting != 0;
}

/* Index of the fd named name, or of the first adoptable one for NULL; -1/ENOENT. */
static ssize_t find(const struct uds_activation *a, const char *name) {
    for (size_t i = 0; i < a->n_fds; i++) {
        if (a->fds[i] < 0)
            continue;
        if (name) {
            if (strcmp(a->names[i], name) == 0)
                return (ssize_t) i;
            continue;
        }
        int r = adoptable(a->fds[i]);
        if (r < 0)
            return -1;
        if (r > 0)
            return (ssize_t) i;
    }
    return uds__fail(ENOENT);
}

UDS_API int uds_activation_find(const struct uds_activation *activation, const char *name) {
    if (!activation)
        return uds__fail(EINVAL);
    ssize_t i = find(activation, name);
    return i < 0 ? -1 : activation->fds[i];
}

UDS_API int uds_activation_listener(struct uds_activation *activation, const char *name,
                                    struct uds_listener *ret_listener) {
    if (!activation || !ret_listener)
        return uds__fail(EINVAL);
    ssize_t i = find(activation, name);
    if (i < 0)
        return -1;
    int fd = activation->fds[i];
    /* Refuse a named fd of the wrong kind here, leaving it open: adopt would close it. */
    int r = adoptable(fd);
    if (r < 0)
        return -1;
    if (r == 0)
        return uds__fail(EAFNOSUPPORT);
    activation->fds[i] = -1;   /* adopt consumes it, on failure too */
    return uds_listener_adopt(fd, ret_listener);
}

UDS_API int uds_notify(const char *state) {
    struct uds_addr addr;
    struct sockaddr_un sa;
    socklen_t sa_len;
    int fd = -1, dirfd = -1;
    size_t len;

    if (!state || !(len = strlen(state)))
        return uds__fail(EINVAL);
    const char *e = getenv("NOTIFY_SOCKET");
    if (!e)
        return 0;
    /* Only what systemd puts there for AF_UNIX: an absolute path or an abstract name
     * ('@'). vsock:CID:PORT and the like are another family. */
    if (e[0] != '/' && e[0] != '@')
        return uds__fail(e[0] && strchr(e, ':') ? EAFNOSUPPORT : EINVAL);
    if (uds_addr_parse(e, 0, &addr) < 0)
        return -1;
    if (uds__sockaddr_for(&addr, &sa, &sa_len, &dirfd) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    /* No SCM_CREDENTIALS needed: a receiver with SO_PASSCRED gets the kernel's record of
     * our pid/uid/gid for every datagram. One datagram, so no partial sends. */
    for (;;) {
        ssize_t n = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *) &sa, sa_len);
        if (n >= 0)
            break;
        if (errno != EINTR)
            goto fail;
    }
    (void) close(fd);
    uds__close_keep_errno(dirfd);
    return 1;
fail:
    uds__close_keep_errno(fd);
    uds__close_keep_errno(dirfd);
    return -1;
}
