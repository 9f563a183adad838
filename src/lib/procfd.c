/* SPDX-License-Identifier: MIT */
/*
 * procfd.c — what /proc says about the processes behind sockets: which pid holds which
 * socket inode on which fd (/proc/PID/fd), a process's command, current directory and
 * start time, and who holds a flock (/proc/locks). Read-only; it never signals, traces or
 * changes a process, and it knows nothing of netlink (diag.c does).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "internal.h"

struct scan {
    struct uds_procfd *entries;
    size_t n, cap;
    size_t n_denied;
};

/* A /proc directory name: decimal digits only, at most INT_MAX. */
static bool parse_number(const char *s, int *ret_value) {
    long v = 0;

    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
        if (v > INT_MAX)
            return false;
    }
    *ret_value = (int) v;
    return true;
}

/* Read a small /proc file (relative to dirfd) into buf, NUL-terminated. Returns length. */
static ssize_t read_small(int dirfd, const char *name, char *buf, size_t size) {
    ssize_t n;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    do
        n = read(fd, buf, size - 1);
    while (n < 0 && errno == EINTR);
    uds__close_keep_errno(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static int add_entry(struct scan *s, const struct uds_procfd *e) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct uds_procfd *bigger;

        if (cap > SIZE_MAX / sizeof(*bigger))
            return uds__fail(ENOMEM);
        bigger = realloc(s->entries, cap * sizeof(*bigger));
        if (!bigger)
            return uds__fail(ENOMEM);
        s->entries = bigger;
        s->cap = cap;
    }
    s->entries[s->n++] = *e;
    return 0;
}

/* "socket:[12345]" → 12345. */
static bool parse_socket_link(const char *link, ino_t *ret_ino) {
    unsigned long long v;
    int end = 0;

    if (sscanf(link, "socket:[%llu]%n", &v, &end) != 1 || end == 0 || link[end] != '\0')
        return false;
    *ret_ino = (ino_t) v;
    return true;
}

/* The socket fds of one process. A process that exits meanwhile is skipped; one the
 * caller may not read is counted. Returns -1 only for the caller's own failures (ENOMEM),
 * or, when strict, for any reason the process cannot be read. */
static int scan_pid(int proc_fd, pid_t pid, struct scan *s, bool strict) {
    struct uds_procfd e = { .pid = pid };
    char path[64], comm[64];
    struct dirent *de;
    DIR *dir;
    ssize_t n;
    int fd_dir;

    (void) snprintf(path, sizeof(path), "%d/comm", (int) pid);
    n = read_small(proc_fd, path, comm, sizeof(comm));
    if (n < 0)
        return strict ? -1 : 0;
    while (n > 0 && comm[n - 1] == '\n')
        comm[--n] = '\0';
    if ((size_t) n >= sizeof(e.command))
        n = (ssize_t) sizeof(e.command) - 1;
    memcpy(e.command, comm, (size_t) n);
    e.command[n] = '\0';

    (void) snprintf(path, sizeof(path), "%d/fd", (int) pid);
    fd_dir = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_dir < 0) {
        if (strict)
            return -1;
        if (errno == EACCES || errno == EPERM)
            s->n_denied++;
        return 0;
    }
    dir = fdopendir(fd_dir);
    if (!dir) {
        uds__close_keep_errno(fd_dir);
        return strict ? -1 : 0;
    }
    for (;;) {
        char link[64];
        ssize_t len;

        errno = 0;
        de = readdir(dir);
        if (!de)
            break;
        if (!parse_number(de->d_name, &e.fd))
            continue;
        /* The fd may be closed or replaced between readdir and readlink: skip it then. */
        len = readlinkat(dirfd(dir), de->d_name, link, sizeof(link) - 1);
        if (len < 0)
            continue;
        link[len] = '\0';
        if (!parse_socket_link(link, &e.inode))
            continue;
        if (add_entry(s, &e) < 0) {
            UDS__KEEP_ERRNO((void) closedir(dir));
            return -1;
        }
    }
    /* A readdir error here means the process went away mid-listing: keep what we got. */
    (void) closedir(dir);
    return 0;
}

static int by_inode_pid_fd(const void *a, const void *b) {
    const struct uds_procfd *x = a, *y = b;

    if (x->inode != y->inode)
        return x->inode < y->inode ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return (x->fd > y->fd) - (x->fd < y->fd);
}

UDS_API int uds_procfd_list_get(pid_t pid, struct uds_procfd_list *ret_list) {
    struct scan s = { 0 };
    DIR *proc = NULL;
    int proc_fd;

    if (!ret_list || pid < 0)
        return uds__fail(EINVAL);
    proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0)
        return -1;
    if (pid > 0) {
        if (scan_pid(proc_fd, pid, &s, true) < 0)
            goto fail;
        (void) close(proc_fd);
        proc_fd = -1;
    } else {
        proc = fdopendir(proc_fd);
        if (!proc)
            goto fail;
        proc_fd = -1;
        for (;;) {
            struct dirent *de;
            int p;

            errno = 0;
            de = readdir(proc);
            if (!de) {
                if (errno)
                    goto fail;
                break;
            }
            if (!parse_number(de->d_name, &p) || p == 0)
                continue;
            if (scan_pid(dirfd(proc), p, &s, false) < 0)
                goto fail;
        }
        (void) closedir(proc);
        proc = NULL;
    }
    if (s.n > 1)
        qsort(s.entries, s.n, sizeof(*s.entries), by_inode_pid_fd);
    *ret_list = (struct uds_procfd_list) {
        .entries = s.entries, .n = s.n, .n_denied = s.n_denied,
    };
    return 0;

fail:
    {
        int e = errno;
        if (proc)
            (void) closedir(proc);
        if (proc_fd >= 0)
            (void) close(proc_fd);
        free(s.entries);
        errno = e;
    }
    return -1;
}

UDS_API void uds_procfd_list_done(struct uds_procfd_list *list) {
    if (!list)
        return;
    free(list->entries);
    *list = (struct uds_procfd_list) { 0 };
}

UDS_API size_t uds_procfd_list_find(const struct uds_procfd_list *list, ino_t inode,
                                    const struct uds_procfd **ret_first) {
    size_t lo = 0, hi, count = 0;

    if (ret_first)
        *ret_first = NULL;
    if (!list || !list->entries)
        return 0;
    /* Lower bound: the first entry whose inode is not below the one sought. */
    hi = list->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list->entries[mid].inode < inode)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo + count < list->n && list->entries[lo + count].inode == inode)
        count++;
    if (count && ret_first)
        *ret_first = &list->entries[lo];
    return count;
}

UDS_API int uds_sockinfo_resolve(const struct uds_sockinfo *sock, pid_t pid, char *buf,
                                 size_t size) {
    char link[64], cwd[PATH_MAX];
    const char *name;
    struct stat st;
    ssize_t n;
    int len;

    if (!sock || !buf || pid <= 0 || sock->name_kind != UDS_ADDR_PATH ||
        sock->name[0] == '/' || sock->name_len == 0 || !(sock->has & UDS_SOCKINFO_FILE) ||
        strlen(sock->name) != sock->name_len)
        return uds__fail(EINVAL);
    if (size)
        buf[0] = '\0';
    (void) snprintf(link, sizeof(link), "/proc/%d/cwd", (int) pid);
    n = readlink(link, cwd, sizeof(cwd) - 1);
    if (n < 0)
        return -1;
    cwd[n] = '\0';
    /* A deleted or unreachable cwd reads as "/x (deleted)" or "(unreachable)/x". */
    if (cwd[0] != '/')
        return 0;
    name = sock->name;
    while (name[0] == '.' && name[1] == '/') {
        name += 2;
        while (*name == '/')
            name++;
    }
    len = snprintf(buf, size, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", name);
    if (len < 0 || (size_t) len >= size) {
        if (size)
            buf[0] = '\0';
        return uds__fail(ENAMETOOLONG);
    }
    if (lstat(buf, &st) < 0 || st.st_dev != sock->file_dev || st.st_ino != sock->file_ino)
        return 0;
    return 1;
}

UDS_API int uds_proc_start_time(pid_t pid, time_t *ret_time) {
    char path[64], buf[1024], *p;
    unsigned long long start_ticks, boot = 0;
    long ticks;
    FILE *f;
    char line[256];
    bool found = false;

    if (pid <= 0 || !ret_time)
        return uds__fail(EINVAL);
    (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    if (read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0)
        return -1;
    /* The command in parentheses may hold spaces and ')': fields restart after the last
     * ')'. starttime is field 22; the state after the ')' is field 3. */
    p = strrchr(buf, ')');
    if (!p)
        return uds__fail(EIO);
    p++;
    for (int field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
        if (!*p)
            return uds__fail(EIO);
    }
    if (sscanf(p, " %llu", &start_ticks) != 1)
        return uds__fail(EIO);

    f = fopen("/proc/stat", "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %llu", &boot) == 1) {
            found = true;
            break;
        }
    (void) fclose(f);
    ticks = sysconf(_SC_CLK_TCK);
    if (!found || ticks <= 0)
        return uds__fail(EIO);
    *ret_time = (time_t) (boot + start_ticks / (unsigned long long) ticks);
    return 0;
}

/* One line of /proc/locks, e.g. "3: FLOCK  ADVISORY  WRITE 4242 00:1a:7740 0 EOF".
 * A waiter's line has "->" after the number; it holds nothing. Returns true for a held
 * lock on dev/ino and sets *ret_pid. */
static bool lock_line_matches(char *line, unsigned maj, unsigned min, unsigned long long ino,
                              pid_t *ret_pid) {
    char *save = NULL, *tok, *prev = NULL;
    int i = 0;

    for (tok = strtok_r(line, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        unsigned a, b;
        unsigned long long c;
        int end = 0;

        if (i == 1 && strcmp(tok, "->") == 0)
            return false;
        if (i >= 4 && prev && sscanf(tok, "%x:%x:%llu%n", &a, &b, &c, &end) == 3 &&
            tok[end] == '\0') {
            long pid;
            if (a != maj || b != min || c != ino)
                return false;
            pid = strtol(prev, NULL, 10);
            *ret_pid = pid > 0 && pid <= INT_MAX ? (pid_t) pid : 0;
            return true;
        }
        prev = tok;
        i++;
    }
    return false;
}

UDS_API int uds_flock_holder(const char *path, pid_t *ret_pid) {
    struct stat st;
    char line[512];
    FILE *f;
    pid_t pid = 0;
    bool held = false;

    if (!path || !ret_pid)
        return uds__fail(EINVAL);
    if (lstat(path, &st) < 0)
        return -1;
    f = fopen("/proc/locks", "re");
    if (!f)
        return -1;
    while (!held && fgets(line, sizeof(line), f))
        held = lock_line_matches(line, major(st.st_dev), minor(st.st_dev),
                                 (unsigned long long) st.st_ino, &pid);
    (void) fclose(f);
    if (!held)
        return 0;
    *ret_pid = pid;
    return 1;
}
