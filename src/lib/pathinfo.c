/* SPDX-License-Identifier: MIT */
/*
 * pathinfo.c — the facts about a socket path, for a program to explain: which directory on
 * the way is missing or closed to the caller, what the path is (lstat, then stat through a
 * symlink), whether the caller may write it, and on request whether anything listens there.
 * The pure parts (a mode's kind, whose bits apply) touch nothing. It only looks: nothing is
 * created, changed or removed, and no words are chosen here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define KNOWN_FLAGS (UDS_PATHINFO_PROBE | UDS_PATHINFO_CREATE)

/* ---- pure ------------------------------------------------------------------------------ */

enum uds_file_kind uds_file_kind_of(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFSOCK: return UDS_FILE_SOCKET;
    case S_IFREG: return UDS_FILE_REGULAR;
    case S_IFDIR: return UDS_FILE_DIR;
    case S_IFLNK: return UDS_FILE_SYMLINK;
    case S_IFIFO: return UDS_FILE_FIFO;
    case S_IFCHR: return UDS_FILE_CHAR;
    case S_IFBLK: return UDS_FILE_BLOCK;
    default: return UDS_FILE_OTHER;
    }
}

static bool in_group(gid_t gid, const struct uds_ids *who) {
    return who->gid == gid || uds__gid_listed(gid, who->groups, who->n_groups);
}

int uds_perm_check(const struct uds_file *file, const struct uds_ids *who, int want,
                   enum uds_perm_class *ret_class) {
    enum uds_perm_class class;
    unsigned bits;

    if (!file || !who || (want & ~(R_OK | W_OK | X_OK)) || (who->n_groups && !who->groups))
        return uds__fail(EINVAL);
    /* The kernel takes the first class that matches, even when a later one would allow
     * more: an owner shut out by u-w is not let in by g+w. */
    if (who->uid == file->uid)
        class = UDS_PERM_OWNER;
    else if (in_group(file->gid, who))
        class = UDS_PERM_GROUP;
    else
        class = UDS_PERM_OTHER;
    bits = (file->mode >> (3 * (UDS_PERM_OTHER - class))) & 7;
    if (ret_class)
        *ret_class = class;
    if (((unsigned) want & bits) == (unsigned) want)
        return 1;
    if (who->uid != 0)
        return 0;
    /* CAP_DAC_OVERRIDE: everything but executing a file no one may execute. */
    return !(want & X_OK) || file->kind == UDS_FILE_DIR || (file->mode & 0111);
}

/* ---- looking --------------------------------------------------------------------------- */

/* The caller's effective ids and groups; *ret_groups is malloc'ed (free it). */
static int ids_get(struct uds_ids *ret_ids, gid_t **ret_groups) {
    gid_t *groups = NULL;
    int n = getgroups(0, NULL);

    if (n < 0)
        return -1;
    if (n > 0) {
        groups = malloc((size_t) n * sizeof(*groups));
        if (!groups)
            return -1;
        n = getgroups(n, groups);
        if (n < 0) {
            free(groups);
            return -1;
        }
    }
    *ret_ids = (struct uds_ids) {
        .uid = geteuid(), .gid = getegid(), .groups = groups, .n_groups = (size_t) n,
    };
    *ret_groups = groups;
    return 0;
}

static struct uds_file file_of(const struct stat *st, const struct uds_ids *me) {
    struct uds_file f = {
        .kind = uds_file_kind_of(st->st_mode),
        .mode = st->st_mode,
        .uid = st->st_uid,
        .gid = st->st_gid,
        .dev = st->st_dev,
        .ino = st->st_ino,
    };

    (void) uds_perm_check(&f, me, 0, &f.perm);     /* asks nothing: only the class */
    return f;
}

/* Only EACCES means "the caller may not": any other failure of faccessat() is no answer,
 * and the call that needs the permission will say what it is. */
static bool denied(const char *path, int mode) {
    return faccessat(AT_FDCWD, path, mode, AT_EACCESS) < 0 && errno == EACCES;
}

/* Look at one directory on the way; true when it stops the caller (info says why). */
static bool dir_stops(const char *dir, bool create, const struct uds_ids *me,
                      struct uds_pathinfo *info) {
    enum uds_dir_problem problem = UDS_DIR_OK;
    struct stat st;
    int e = 0;

    if (stat(dir, &st) < 0) {
        e = errno;
        problem = e == ENOENT ? UDS_DIR_MISSING : e == ENOTDIR ? UDS_DIR_NOT_DIR : UDS_DIR_ERROR;
    } else if (!S_ISDIR(st.st_mode)) {
        problem = UDS_DIR_NOT_DIR;
    } else if (denied(dir, X_OK)) {
        problem = UDS_DIR_NO_SEARCH;
    } else if (create && denied(dir, W_OK)) {
        problem = UDS_DIR_NO_WRITE;
    }
    if (problem == UDS_DIR_OK)
        return false;
    info->dir_problem = problem;
    info->dir_errno = e;
    (void) snprintf(info->dir, sizeof(info->dir), "%s", dir);
    if (e == 0)
        info->dir_file = file_of(&st, me);
    return true;
}

/* Walk the directories leading to path, "/" or "." first, down to the one it is in;
 * true when one stops the caller. */
static bool dirs_stop(const char *path, bool create, const struct uds_ids *me,
                      struct uds_pathinfo *info) {
    const char *last = strrchr(path, '/');
    size_t end = last ? (size_t) (last - path) : 0;
    char dir[UDS_PATH_MAX + 1];

    if (path[0] != '/' && dir_stops(".", create && !last, me, info))
        return true;
    if (!last)
        return false;
    for (size_t i = 0; i <= end; i++) {
        if (path[i] != '/')
            continue;
        if (i == 0) {
            (void) snprintf(dir, sizeof(dir), "/");
        } else {
            memcpy(dir, path, i);
            dir[i] = '\0';
        }
        if (dir_stops(dir, create && i == end, me, info))
            return true;
    }
    return false;
}

/* The path itself: lstat, then what a connect would reach through a symlink. */
static void examine_path(const char *path, const struct uds_ids *me,
                         struct uds_pathinfo *info) {
    struct stat st;
    ssize_t n;

    if (lstat(path, &st) < 0) {
        info->path_errno = errno;
        return;
    }
    info->file = file_of(&st, me);
    info->target = info->file;
    if (S_ISLNK(st.st_mode)) {
        n = readlink(path, info->link, sizeof(info->link) - 1);
        info->link[n > 0 ? n : 0] = '\0';
        if (stat(path, &st) < 0) {
            info->target_errno = errno;
            info->target = (struct uds_file) { .kind = UDS_FILE_NONE };
            return;
        }
        info->target = file_of(&st, me);
    }
    info->may_write = faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0;
}

/* ---- probing --------------------------------------------------------------------------- */

/* One non-blocking connect() to sa as a client of type, closed at once: 0 or -1/errno. */
static int connect_once(const struct sockaddr_un *sa, socklen_t len, enum uds_socket_type type) {
    int fd = socket(AF_UNIX, uds_socket_type_to_sock(type) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int r;

    if (fd < 0)
        return -1;
    r = connect(fd, (const struct sockaddr *) sa, len);
    uds__close_keep_errno(fd);
    return r;
}

/* The probe without the stat() that keeps it from taking a file for a stale socket. */
static int probe_addr(const struct uds_addr *addr, enum uds_liveness *ret_live,
                      enum uds_socket_type *ret_type) {
    static const enum uds_socket_type types[] = { UDS_STREAM, UDS_SEQPACKET, UDS_DGRAM };
    struct sockaddr_un sa;
    socklen_t len;
    int dirfd, r = -1;

    if (uds__sockaddr_for(addr, &sa, &len, &dirfd) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && r < 0; i++) {
        enum uds_liveness live = UDS_LIVE_LISTENING;
        /* A socket nobody listens on refuses every type before its own is looked at, so
         * EPROTOTYPE means a live listener of another type: try the next. Non-blocking,
         * so a full backlog answers EAGAIN at once instead of making us wait. */
        if (connect_once(&sa, len, types[i]) < 0) {
            if (errno == EPROTOTYPE)
                continue;
            if (errno == ECONNREFUSED)
                live = UDS_LIVE_STALE;
            else if (errno == EAGAIN)
                live = UDS_LIVE_BACKLOG_FULL;
            else
                break;
        }
        *ret_live = live;
        if (ret_type)
            *ret_type = live == UDS_LIVE_STALE ? UDS_STREAM : types[i];
        r = 0;
    }
    uds__close_keep_errno(dirfd);
    return r;
}

int uds_probe(const struct uds_addr *addr, enum uds_liveness *ret_live,
              enum uds_socket_type *ret_type) {
    struct stat st;

    if (!addr || !ret_live)
        return uds__fail(EINVAL);
    if (addr->kind == UDS_ADDR_TCP)
        return uds__fail(EAFNOSUPPORT);
    if (addr->kind == UDS_ADDR_PATH) {
        if (stat(addr->name, &st) < 0)
            return -1;
        if (!S_ISSOCK(st.st_mode))
            return uds__fail(ENOTSOCK);
    }
    return probe_addr(addr, ret_live, ret_type);
}

static void probe_path(const char *path, struct uds_pathinfo *info) {
    struct uds_addr addr = { .kind = UDS_ADDR_PATH, .len = strlen(path) };

    memcpy(addr.name, path, addr.len + 1);
    if (probe_addr(&addr, &info->live, &info->live_type) < 0)
        info->probe_errno = errno;
}

int uds_pathinfo_get(const char *path, unsigned flags, struct uds_pathinfo *ret_info) {
    struct uds_pathinfo *info;
    struct uds_ids me;
    gid_t *groups;

    if (!path || !path[0] || !ret_info || (flags & ~KNOWN_FLAGS))
        return uds__fail(EINVAL);
    if (strlen(path) > UDS_PATH_MAX)
        return uds__fail(ENAMETOOLONG);
    /* Built aside: ret_info is written only on success. */
    info = calloc(1, sizeof(*info));
    if (!info)
        return -1;
    if (ids_get(&me, &groups) < 0) {
        free(info);
        return -1;
    }
    if (!dirs_stop(path, flags & UDS_PATHINFO_CREATE, &me, info) ||
        info->dir_problem == UDS_DIR_NO_WRITE)
        examine_path(path, &me, info);
    if ((flags & UDS_PATHINFO_PROBE) && info->target.kind == UDS_FILE_SOCKET)
        probe_path(path, info);
    *ret_info = *info;
    free(groups);
    free(info);
    return 0;
}

/* ---- the same path, however it is written ----------------------------------------------- */

UDS_API int uds_path_canonical(const char *path, char *buf, size_t size) {
    char cwd[UDS_PATH_MAX + 1], abs[2 * UDS_PATH_MAX + 2], dir[2 * UDS_PATH_MAX + 2];
    char *real, *slash;
    const char *base;
    int n;

    if (!path || !path[0] || !buf || size == 0)
        return uds__fail(EINVAL);
    if (path[0] == '/') {
        n = snprintf(abs, sizeof(abs), "%s", path);
    } else {
        if (!getcwd(cwd, sizeof(cwd)))
            return -1;
        while (path[0] == '.' && path[1] == '/')
            path += 2 + strspn(path + 2, "/");
        n = snprintf(abs, sizeof(abs), "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path);
    }
    if (n < 0 || (size_t) n >= sizeof(abs))
        return uds__fail(ENAMETOOLONG);
    /* The directory's symlinks (/var/run -> /run) resolved; the last name kept as written,
     * since it may itself be a symlink the caller asks about. */
    slash = strrchr(abs, '/');
    base = slash + 1;
    if (slash == abs)
        memcpy(dir, "/", 2);
    else
        (void) snprintf(dir, sizeof(dir), "%.*s", (int) (slash - abs), abs);
    real = realpath(dir, NULL);
    if (real) {
        n = snprintf(buf, size, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base);
        free(real);
    } else {
        n = snprintf(buf, size, "%s", abs);
    }
    if (n < 0 || (size_t) n >= size) {
        buf[0] = '\0';
        return uds__fail(ENAMETOOLONG);
    }
    return n;
}
