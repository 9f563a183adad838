/* SPDX-License-Identifier: MIT */
/*
 * sockwhere.c — where a bound socket's file is, seen from here: its name made absolute
 * (a relative name through the holder's directory, a /proc/self/fd/N/NAME alias of a long
 * path through the holder's open files), whether that path still leads to it, and when it
 * does only in the holder's mount namespace, the /proc/PID/root path that reaches it. Also
 * whether a path is a mount point (a socket file bind-mounted there), and in which other
 * network namespaces an abstract name is bound. Read-only, like procfd.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static bool names_file(const struct uds_sockinfo *s, const char *path) {
    struct stat st;

    return lstat(path, &st) == 0 && st.st_dev == s->file_dev && st.st_ino == s->file_ino;
}

/* "/proc/self/fd/7/app.sock" → 7 and "app.sock": the alias longpath.c binds through. */
static bool alias_parts(const char *name, int *ret_fd, const char **ret_base) {
    static const char *const prefixes[] = { "/proc/self/fd/", "/proc/thread-self/fd/",
                                            "/dev/fd/" };

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t len = strlen(prefixes[i]);
        char *end;
        long fd;

        if (strncmp(name, prefixes[i], len) != 0)
            continue;
        errno = 0;
        fd = strtol(name + len, &end, 10);
        if (end == name + len || *end != '/' || errno || fd < 0 || fd > 1 << 30 ||
            strchr(end + 1, '/') || !end[1])
            return false;
        *ret_fd = (int) fd;
        *ret_base = end + 1;
        return true;
    }
    return false;
}

/* One open file of the holder as a way to the socket: fd N itself (the directory it
 * bound through, if still open), or a lock file BASE.lock (a libudskit listener holds
 * one for as long as it listens). Writes the candidate path into buf. */
static bool alias_candidate(const char *entry, const char *link, int fdnum, const char *base,
                            char *buf, size_t size) {
    size_t ll = strlen(link), bl = strlen(base);
    int n;

    if (link[0] != '/')
        return false;
    if (atoi(entry) == fdnum) {
        n = snprintf(buf, size, "%s%s%s", link, strcmp(link, "/") ? "/" : "", base);
        return n > 0 && (size_t) n < size;
    }
    if (ll > bl + 6 && strcmp(link + ll - 5, ".lock") == 0 && link[ll - bl - 6] == '/' &&
        memcmp(link + ll - bl - 5, base, bl) == 0 && ll - 5 < size) {
        memcpy(buf, link, ll - 5);
        buf[ll - 5] = '\0';
        return true;
    }
    return false;
}

/* A path, as seen here or in pid's root, that leads to the socket's file. */
static bool leads_to(const struct uds_sockinfo *s, pid_t pid, const char *path) {
    char rooted[UDS_PATH_MAX + 64];

    if (names_file(s, path))
        return true;
    return snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", (int) pid, path) <
               (int) sizeof(rooted) && names_file(s, rooted);
}

static bool resolve_alias(const struct uds_sockinfo *s, pid_t pid, int fdnum, const char *base,
                          char *buf, size_t size) {
    char dirpath[64], link[UDS_PATH_MAX + 1];
    struct dirent *de;
    bool found = false;
    DIR *dir;

    (void) snprintf(dirpath, sizeof(dirpath), "/proc/%d/fd", (int) pid);
    dir = opendir(dirpath);
    if (!dir)
        return false;
    while (!found && (de = readdir(dir)) != NULL) {
        ssize_t n;

        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        n = readlinkat(dirfd(dir), de->d_name, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        found = alias_candidate(de->d_name, link, fdnum, base, buf, size) &&
                leads_to(s, pid, buf);
    }
    (void) closedir(dir);
    if (!found && size)
        buf[0] = '\0';
    return found;
}

/* The absolute path the socket was bound at, through its holders when its name does not
 * say; "" when none can tell. */
static void bound_path(const struct uds_sockinfo *s, const struct uds_procfd *holders,
                       size_t n, char *buf, size_t size) {
    const char *base;
    int fdnum;

    buf[0] = '\0';
    if (alias_parts(s->name, &fdnum, &base)) {
        for (size_t k = 0; k < n; k++)
            if ((k == 0 || holders[k].pid != holders[k - 1].pid) &&
                resolve_alias(s, holders[k].pid, fdnum, base, buf, size))
                return;
        return;
    }
    if (s->name[0] == '/') {
        (void) snprintf(buf, size, "%s", s->name);
        return;
    }
    /* Relative: a holder whose directory leads to the file, or else the first answer. */
    for (size_t k = 0; k < n; k++) {
        char try[UDS_PATH_MAX + 1];
        int r = uds_sockinfo_resolve(s, holders[k].pid, try, sizeof(try));

        if (r < 0 || try[0] != '/')
            continue;
        if (r == 1 || !buf[0])
            (void) snprintf(buf, size, "%s", try);
        if (r == 1)
            return;
    }
}

/* A path missing or replaced here may be the holder's in its own mount namespace. */
static void look_in_namespaces(const struct uds_sockinfo *s, const struct uds_procfd *holders,
                               size_t n, struct uds_sockwhere *w) {
    ino_t mine = uds__ns_inode(getpid(), "mnt");

    for (size_t k = 0; k < n; k++) {
        pid_t pid = holders[k].pid;
        ino_t theirs;
        int len;

        if (k > 0 && pid == holders[k - 1].pid)
            continue;
        theirs = uds__ns_inode(pid, "mnt");
        if (!mine || !theirs || theirs == mine)
            continue;
        len = snprintf(w->reach, sizeof(w->reach), "/proc/%d/root%s", (int) pid, w->path);
        if (len > 0 && (size_t) len < sizeof(w->reach) && names_file(s, w->reach)) {
            w->status = UDS_PATH_OTHER_NS;
            w->pid = pid;
            return;
        }
        w->reach[0] = '\0';
    }
}

UDS_API int uds_sockinfo_where(const struct uds_sockinfo *sock,
                               const struct uds_procfd *holders, size_t n_holders,
                               struct uds_sockwhere *ret_where) {
    struct uds_sockwhere *w;

    if (!sock || !ret_where || (n_holders && !holders) || sock->name_kind != UDS_ADDR_PATH ||
        sock->name_len == 0 || strlen(sock->name) != sock->name_len)
        return uds__fail(EINVAL);
    w = calloc(1, sizeof(*w));
    if (!w)
        return -1;
    bound_path(sock, holders, n_holders, w->path, sizeof(w->path));
    if (w->path[0]) {
        if (uds_path_canonical(w->path, w->canon, sizeof(w->canon)) < 0)
            (void) snprintf(w->canon, sizeof(w->canon), "%s", w->path);
        w->status = uds_sockinfo_path_status(sock, w->path);
        if (w->status == UDS_PATH_MISSING || w->status == UDS_PATH_REPLACED)
            look_in_namespaces(sock, holders, n_holders, w);
    }
    *ret_where = *w;
    free(w);
    return 0;
}

/* ---- mounts ------------------------------------------------------------------------------ */

/* mountinfo writes space, tab, newline and backslash as \040, \011, \012 and \134. */
static void unescape(char *s) {
    char *out = s;

    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *out++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw" (proc(5)). */
static bool parse_mount_line(char *line, const char *path, struct uds_mount *m) {
    char *save = NULL, *tok, *fields[5] = { 0 };
    int i = 0;

    for (tok = strtok_r(line, " \n", &save); tok && i < 5; tok = strtok_r(NULL, " \n", &save))
        fields[i++] = tok;
    if (i < 5)
        return false;
    unescape(fields[4]);
    if (strcmp(fields[4], path) != 0)
        return false;
    unescape(fields[3]);
    *m = (struct uds_mount) { .id = (unsigned) strtoul(fields[0], NULL, 10) };
    (void) snprintf(m->root, sizeof(m->root), "%s", fields[3]);
    /* Optional fields, then "-", the filesystem type and the source. */
    while ((tok = strtok_r(NULL, " \n", &save)) != NULL && strcmp(tok, "-") != 0)
        ;
    if (tok && (tok = strtok_r(NULL, " \n", &save)) != NULL) {
        (void) snprintf(m->fstype, sizeof(m->fstype), "%s", tok);
        if ((tok = strtok_r(NULL, " \n", &save)) != NULL) {
            unescape(tok);
            (void) snprintf(m->source, sizeof(m->source), "%s", tok);
        }
    }
    return true;
}

UDS_API int uds_mount_at(const char *path, struct uds_mount *ret_mount) {
    struct uds_mount found = { 0 }, m;
    char *line = NULL;
    size_t cap = 0;
    bool is_mount = false;
    FILE *f;

    if (!path || path[0] != '/' || !ret_mount)
        return uds__fail(EINVAL);
    f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    /* Mounts are listed in the order they were made: the last one at path is on top. */
    while (getline(&line, &cap, f) > 0)
        if (parse_mount_line(line, path, &m)) {
            found = m;
            is_mount = true;
        }
    free(line);
    (void) fclose(f);
    if (is_mount)
        *ret_mount = found;
    return is_mount;
}

/* ---- abstract names in other network namespaces ------------------------------------------ */

/* /proc/net/unix shows an abstract name as '@' and its bytes, each NUL as '@' too. */
static bool unix_line_matches(const char *line, const char *want, struct uds_nshit *hit) {
    unsigned long flags, type, state;
    unsigned long long ino;
    int end = 0;

    if (sscanf(line, "%*s %*x %*x %lx %lx %lx %llu %n", &flags, &type, &state, &ino, &end) < 4 ||
        end == 0)
        return false;
    if (strcmp(line + end, want) != 0)
        return false;
    hit->inode = (ino_t) ino;
    hit->type = type == SOCK_DGRAM ? UDS_DGRAM : type == SOCK_SEQPACKET ? UDS_SEQPACKET
                                                                        : UDS_STREAM;
    /* __SO_ACCEPTCON: the socket listens. */
    hit->listening = (flags & 0x10000) != 0;
    return true;
}

static bool search_table(pid_t pid, const char *want, struct uds_nshit *hit) {
    char path[64], *line = NULL;
    size_t cap = 0;
    bool found = false;
    ssize_t n;
    FILE *f;

    (void) snprintf(path, sizeof(path), "/proc/%d/net/unix", (int) pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    while (!found && (n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        found = unix_line_matches(line, want, hit);
    }
    free(line);
    (void) fclose(f);
    return found;
}

static bool seen_ns(const ino_t *seen, size_t n, ino_t ns) {
    for (size_t i = 0; i < n; i++)
        if (seen[i] == ns)
            return true;
    return false;
}

/* One process per network namespace: its table lists the namespace's sockets. */
static int search_namespaces(DIR *proc, const char *want, struct uds_abstract_search *r) {
    ino_t *seen = NULL;
    size_t n_seen = 0, cap = 0;
    struct dirent *de;

    while ((de = readdir(proc)) != NULL) {
        struct uds_nshit hit = { 0 };
        int pid = atoi(de->d_name);
        ino_t ns;

        if (pid <= 0 || (ns = uds__ns_inode(pid, "net")) == 0 || ns == r->own_ns ||
            seen_ns(seen, n_seen, ns))
            continue;
        if (n_seen == cap) {
            ino_t *bigger = realloc(seen, (cap ? cap * 2 : 16) * sizeof(*seen));
            if (!bigger) {
                free(seen);
                return -1;
            }
            seen = bigger;
            cap = cap ? cap * 2 : 16;
        }
        seen[n_seen++] = ns;
        if (!search_table(pid, want, &hit))
            continue;
        hit.net_ns = ns;
        hit.pid = pid;
        if (r->n_hits < UDS_NSHITS_MAX)
            r->hits[r->n_hits++] = hit;
    }
    r->n_searched = n_seen;
    free(seen);
    return 0;
}

UDS_API int uds_abstract_search(const char *name, size_t len,
                                struct uds_abstract_search *ret_search) {
    struct uds_abstract_search r = { 0 };
    char want[UDS_SUN_PATH_MAX + 2];
    DIR *proc;
    int rc;

    if (!name || len == 0 || len > UDS_SUN_PATH_MAX || !ret_search)
        return uds__fail(EINVAL);
    want[0] = '@';
    for (size_t i = 0; i < len; i++)
        want[i + 1] = name[i] ? name[i] : '@';
    want[len + 1] = '\0';
    r.own_ns = uds__ns_inode(getpid(), "net");
    proc = opendir("/proc");
    if (!proc)
        return -1;
    rc = search_namespaces(proc, want, &r);
    {
        int e = errno;
        (void) closedir(proc);
        errno = e;
    }
    if (rc < 0)
        return -1;
    *ret_search = r;
    return 0;
}
