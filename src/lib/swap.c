/* SPDX-License-Identifier: MIT */
/*
 * swap.c — putting a socket of the caller's in front of a live server's path without a
 * moment when the path is missing: bind beside it with the same mode, owner and group,
 * then exchange the two names with renameat2(RENAME_EXCHANGE); exchange them back; a
 * watchdog process that puts them back if the caller dies first; and finding what a swap
 * left behind. Every name is looked up relative to one O_PATH fd of the directory, so
 * that the directory cannot change under a swap. It accepts, connects to and relays
 * nothing: the caller serves the socket it is given.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "internal.h"

#define HIDDEN_TAG ".uds-tap."

UDS_API void uds_swap_init(struct uds_swap *swap) {
    *swap = (struct uds_swap) { .dir_fd = -1, .fd = -1, .guard_fd = -1 };
}

/* Split path into its directory (into dir) and last name (into name). */
static int split(const char *path, char *dir, size_t dir_size, char *name, size_t name_size) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_len = slash ? (size_t) (slash - path) : 1;

    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return uds__fail(EINVAL);
    if (strlen(base) >= name_size || dir_len + 1 > dir_size)
        return uds__fail(ENAMETOOLONG);
    if (!slash)
        memcpy(dir, ".", 2);
    else if (slash == path)
        memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, dir_len);
        dir[dir_len] = '\0';
    }
    memcpy(name, base, strlen(base) + 1);
    return 0;
}

static int hidden_name(const char *name, pid_t pid, char *buf, size_t size) {
    int n = snprintf(buf, size, ".%s" HIDDEN_TAG "%ld", name, (long) pid);

    return n < 0 || (size_t) n >= size ? uds__fail(ENAMETOOLONG) : 0;
}

/* The inode at name in dir_fd, not following a symlink; 0 when there is none. */
static ino_t inode_at(int dir_fd, const char *name, dev_t dev) {
    struct stat st;

    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
        return 0;
    return st.st_ino;
}

/* The path names a socket with a live server of a type we can stand in for. */
static int check_server(const char *path, struct uds_swap *s, struct stat *ret_st) {
    struct uds_addr addr;
    enum uds_liveness live;
    enum uds_socket_type type;

    if (fstatat(s->dir_fd, s->name, ret_st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    if (!S_ISSOCK(ret_st->st_mode))
        return uds__fail(ENOTSOCK);     /* a file, a directory, a symlink: never swapped */
    if (uds_addr_parse(path, 0, &addr) < 0 || uds_probe(&addr, &live, &type) < 0)
        return -1;
    if (live == UDS_LIVE_STALE)
        return uds__fail(ECONNREFUSED);
    s->type = type;
    return 0;
}

/* Our socket at the hidden name, born no wider than the server's mode, then given its
 * owner, group and exact mode, and listening before anyone can reach it. */
static int bind_beside(struct uds_swap *s, const struct stat *server) {
    struct uds_addr addr;
    struct sockaddr_un sa;
    socklen_t len;
    int alias_fd = -1, r;
    mode_t mode = server->st_mode & 07777;

    if (uds_addr_parse(s->server_path, 0, &addr) < 0 ||
        uds__sockaddr_for(&addr, &sa, &len, &alias_fd) < 0)
        return -1;
    s->fd = socket(AF_UNIX, uds_socket_type_to_sock(s->type) | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || fchmod(s->fd, mode) < 0) {
        uds__close_keep_errno(alias_fd);
        return -1;
    }
    r = bind(s->fd, (const struct sockaddr *) &sa, len);
    uds__close_keep_errno(alias_fd);
    if (r < 0)
        return -1;
    s->own_ino = inode_at(s->dir_fd, s->hidden, server->st_dev);
    if (!s->own_ino)
        return uds__fail(EAGAIN);   /* replaced as soon as made: not ours to go on with */
    if (fchownat(s->dir_fd, s->hidden, server->st_uid, server->st_gid,
                 AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(s->dir_fd, s->hidden, mode, 0) < 0)
        return -1;
    if (s->type != UDS_DGRAM && listen(s->fd, SOMAXCONN) < 0)
        return -1;
    return 0;
}

static int exchange(const struct uds_swap *s) {
    return renameat2(s->dir_fd, s->hidden, s->dir_fd, s->name, RENAME_EXCHANGE);
}

/* Both names hold what a swap put there: ours at the path, the server's hidden. */
static bool in_place(const struct uds_swap *s) {
    return inode_at(s->dir_fd, s->name, s->dev) == s->own_ino &&
           inode_at(s->dir_fd, s->hidden, s->dev) == s->server_ino;
}

static int prepare(const char *path, struct uds_swap *s) {
    char dir[UDS_PATH_MAX + 1];
    struct stat st;
    int n;

    if (split(path, dir, sizeof(dir), s->name, sizeof(s->name)) < 0 ||
        hidden_name(s->name, getpid(), s->hidden, sizeof(s->hidden)) < 0)
        return -1;
    n = snprintf(s->server_path, sizeof(s->server_path), "%s/%s", dir, s->hidden);
    if (n < 0 || (size_t) n >= sizeof(s->server_path))
        return uds__fail(ENAMETOOLONG);
    s->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0 || check_server(path, s, &st) < 0)
        return -1;
    s->dev = st.st_dev;
    s->server_ino = st.st_ino;
    return bind_beside(s, &st);
}

UDS_API int uds_swap_in(const char *path, struct uds_swap *ret_swap) {
    struct uds_swap s;
    int e;

    if (!path || !*path || path[0] == '@' || !ret_swap)
        return uds__fail(EINVAL);
    uds_swap_init(&s);
    if (prepare(path, &s) < 0)
        goto fail;
    if (exchange(&s) < 0)
        goto fail;
    /* The server's file may have been replaced (a restart) between the look and the
     * exchange: then what went into hiding is not what was verified. Put it back. */
    if (!in_place(&s)) {
        (void) exchange(&s);
        errno = EAGAIN;
        goto fail;
    }
    s.swapped = true;
    *ret_swap = s;
    return s.fd;

fail:
    e = errno;
    if (s.own_ino && inode_at(s.dir_fd, s.hidden, s.dev) == s.own_ino)
        (void) unlinkat(s.dir_fd, s.hidden, 0);   /* ours, and nowhere in use */
    if (s.fd >= 0)
        (void) close(s.fd);
    if (s.dir_fd >= 0)
        (void) close(s.dir_fd);
    errno = e;
    return -1;
}

/* Put the server's socket back at the path and remove ours, as far as each name still
 * holds what the swap put there; anything else found there is someone else's and is left
 * alone. Only system calls on fds the swap holds: the watchdog runs it after a fork.
 * Returns 0, or -1 with ESTALE when the path no longer holds our socket. */
static int restore(struct uds_swap *s) {
    int ret = 0;

    if (s->swapped) {
        if (in_place(s)) {
            if (exchange(s) < 0)
                return -1;
        } else {
            ret = -1;
            errno = ESTALE;
        }
        s->swapped = false;
    }
    /* Our socket, wherever the exchange left it: at the hidden name. */
    if (s->own_ino && inode_at(s->dir_fd, s->hidden, s->dev) == s->own_ino)
        (void) unlinkat(s->dir_fd, s->hidden, 0);   /* nothing to do if it is gone */
    return ret;
}

UDS_API int uds_swap_out(struct uds_swap *swap) {
    if (!swap || swap->dir_fd < 0)
        return uds__fail(EINVAL);
    if (!swap->swapped)
        return 0;
    if (in_place(swap)) {
        if (exchange(swap) < 0)
            return -1;
        swap->swapped = false;
        return 0;
    }
    swap->swapped = false;
    return uds__fail(ESTALE);
}

UDS_API void uds_swap_done(struct uds_swap *swap) {
    int e = errno;

    if (!swap || swap->dir_fd < 0)
        return;
    (void) restore(swap);
    /* Unlinked before closing (above), so no client connects to a dying socket. */
    if (swap->fd >= 0)
        (void) close(swap->fd);
    (void) close(swap->dir_fd);
    if (swap->guard_fd >= 0)
        (void) close(swap->guard_fd);  /* the watchdog wakes, finds nothing to do, exits */
    if (swap->guard_pid > 0)
        while (waitpid(swap->guard_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    uds_swap_init(swap);
    errno = e;
}

/* ---- the watchdog ---------------------------------------------------------------------- */

/* Close every fd but keep_a and keep_b: the watchdog must not hold the caller's sockets
 * open (its clients would never see their end) nor its stdout (a pipe's reader would
 * never see the end either). */
static void close_all_but(int keep_a, int keep_b) {
    int lo = keep_a < keep_b ? keep_a : keep_b, hi = keep_a < keep_b ? keep_b : keep_a;

    if (syscall(SYS_close_range, 0, lo - 1, 0) == 0 && lo > 0) {
        (void) syscall(SYS_close_range, lo + 1, hi - 1, 0);
        (void) syscall(SYS_close_range, hi + 1, ~0U, 0);
        return;
    }
    for (int fd = 0; fd < 65536; fd++)      /* no close_range(): an older kernel */
        if (fd != keep_a && fd != keep_b)
            (void) close(fd);
}

static void guard_main(struct uds_swap *s, int pipe_r) {
    struct sigaction ignore = { .sa_handler = SIG_IGN };
    char c;

    close_all_but(pipe_r, s->dir_fd);
    /* Out of the caller's session and deaf to the signals a terminal or a service
     * manager sends the whole group: it must outlive the caller, and it ends by itself
     * as soon as the caller is gone. */
    (void) setsid();
    (void) sigaction(SIGINT, &ignore, NULL);
    (void) sigaction(SIGTERM, &ignore, NULL);
    (void) sigaction(SIGHUP, &ignore, NULL);
    (void) sigaction(SIGQUIT, &ignore, NULL);
    (void) prctl(PR_SET_NAME, "uds-swap-guard", 0, 0, 0);
    /* The caller never writes: the read returns when its end closes, at its exit or
     * death, whichever way it comes. */
    while (read(pipe_r, &c, 1) < 0 && errno == EINTR)
        ;
    (void) restore(s);
    _exit(0);
}

UDS_API int uds_swap_guard(struct uds_swap *swap) {
    int p[2];
    pid_t pid;

    if (!swap || swap->dir_fd < 0 || swap->guard_pid > 0)
        return uds__fail(EINVAL);
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        int e = errno;
        (void) close(p[0]);
        (void) close(p[1]);
        return uds__fail(e);
    }
    if (pid == 0)
        guard_main(swap, p[0]);
    (void) close(p[0]);
    swap->guard_pid = pid;
    swap->guard_fd = p[1];
    return 0;
}

/* ---- what a swap left behind ------------------------------------------------------------ */

/* name is ".NAME.uds-tap.PID" for our NAME: the PID, or 0. */
static pid_t leftover_pid(const char *entry, const char *name) {
    size_t len = strlen(name), tag = sizeof(HIDDEN_TAG) - 1;
    char *end;

    if (entry[0] != '.' || strncmp(entry + 1, name, len) != 0 ||
        strncmp(entry + 1 + len, HIDDEN_TAG, tag) != 0)
        return 0;
    const char *digits = entry + 1 + len + tag;
    if (*digits < '1' || *digits > '9')
        return 0;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    return errno || *end || pid <= 0 || pid > INT_MAX ? 0 : (pid_t) pid;
}

static void describe_leftover(int dir_fd, const char *dir, const char *entry, pid_t pid,
                              struct uds_swap_leftover *ret) {
    struct uds_addr addr;
    enum uds_liveness live = UDS_LIVE_UNKNOWN;
    struct stat st;

    *ret = (struct uds_swap_leftover) { .pid = pid };
    ret->running = kill(pid, 0) == 0 || errno == EPERM;
    int n = snprintf(ret->hidden_path, sizeof(ret->hidden_path), "%s/%s", dir, entry);
    if (n < 0 || (size_t) n >= sizeof(ret->hidden_path))
        ret->hidden_path[0] = '\0';    /* too long to name: the pid still says whose */
    else if (fstatat(dir_fd, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
        uds_addr_parse(ret->hidden_path, 0, &addr) == 0)
        (void) uds_probe(&addr, &live, NULL);
    ret->hidden_live = live == UDS_LIVE_LISTENING || live == UDS_LIVE_BACKLOG_FULL;
}

UDS_API int uds_swap_find_leftover(const char *path, struct uds_swap_leftover *ret_leftover) {
    char dir[UDS_PATH_MAX + 1], name[NAME_MAX + 1];
    struct dirent *de;
    DIR *d;
    int dir_fd, found = 0;

    if (!path || !*path || path[0] == '@' || !ret_leftover)
        return uds__fail(EINVAL);
    if (split(path, dir, sizeof(dir), name, sizeof(name)) < 0)
        return -1;
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return -1;
    d = fdopendir(dir_fd);
    if (!d) {
        uds__close_keep_errno(dir_fd);
        return -1;
    }
    while (!found && (de = readdir(d))) {
        pid_t pid = leftover_pid(de->d_name, name);
        if (pid > 0) {
            describe_leftover(dir_fd, dir, de->d_name, pid, ret_leftover);
            found = 1;
        }
    }
    (void) closedir(d);
    return found;
}
