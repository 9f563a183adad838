/* SPDX-License-Identifier: MIT */
/*
 * procinfo.c — what /proc says about one process, for explaining who is behind a socket:
 * its effective user and group, command, program, arguments, the systemd unit it runs in
 * and its mount and network namespaces. Read-only; what the caller may not read is left
 * empty, never an error. Which sockets a process holds is procfd.c's job.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Read a small /proc file into buf, NUL-terminated; returns its length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t size) {
    size_t used = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    while (used + 1 < size) {
        ssize_t n = read(fd, buf + used, size - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            uds__close_keep_errno(fd);
            return -1;
        }
        if (n == 0)
            break;
        used += (size_t) n;
    }
    (void) close(fd);
    buf[used] = '\0';
    return (ssize_t) used;
}

/* "Uid:\t0\t1000\t..." → the second number, the effective id. */
static bool status_id(const char *status, const char *key, unsigned long *ret_id) {
    const char *p = strstr(status, key);
    unsigned long real, eff;

    if (!p || sscanf(p + strlen(key), " %lu %lu", &real, &eff) != 2)
        return false;
    *ret_id = eff;
    return true;
}

ino_t uds__ns_inode(pid_t pid, const char *kind) {
    char path[64], link[64];
    unsigned long long ino;
    ssize_t n;

    (void) snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int) pid, kind);
    n = readlink(path, link, sizeof(link) - 1);
    if (n < 0)
        return 0;
    link[n] = '\0';
    if (sscanf(link, "%*[a-z_]:[%llu]", &ino) != 1)
        return 0;
    return (ino_t) ino;
}

/* The systemd unit of a cgroup path: its last component that names a service, scope or
 * socket ("/system.slice/php8.2-fpm.service" → "php8.2-fpm.service"). */
static void unit_of_cgroup(const char *cgroup, char *buf, size_t size) {
    const char *end = cgroup + strcspn(cgroup, "\n"), *start = end;
    static const char *const suffixes[] = { ".service", ".scope", ".socket" };

    while (start > cgroup) {
        const char *slash = start - 1;
        size_t len;

        while (slash > cgroup && *slash != '/')
            slash--;
        len = (size_t) (start - slash - 1);
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
            size_t sl = strlen(suffixes[i]);
            if (len > sl && len < size && memcmp(slash + 1 + len - sl, suffixes[i], sl) == 0) {
                memcpy(buf, slash + 1, len);
                buf[len] = '\0';
                return;
            }
        }
        start = slash;
    }
}

/* The unified hierarchy's line "0::/path" first, else the named systemd one. */
static void read_unit(pid_t pid, char *buf, size_t size) {
    char path[64], cg[4096];
    const char *line;

    (void) snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
    if (read_file(path, cg, sizeof(cg)) < 0)
        return;
    line = strncmp(cg, "0::", 3) == 0 ? cg : strstr(cg, "\n0::");
    if (line)
        unit_of_cgroup(line + (line[0] == '\n' ? 4 : 3), buf, size);
    /* A hybrid set-up keeps systemd's units in the named hierarchy, the unified one at "/". */
    if (!buf[0] && (line = strstr(cg, ":name=systemd:")) != NULL)
        unit_of_cgroup(line + strlen(":name=systemd:"), buf, size);
}

static void read_ids_and_command(pid_t pid, struct uds_procinfo *info) {
    char path[64], buf[2048];
    unsigned long id;
    ssize_t n;

    (void) snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    if (read_file(path, buf, sizeof(buf)) >= 0) {
        if (status_id(buf, "Uid:", &id)) {
            info->uid = (uid_t) id;
            info->has_ids = true;
        }
        if (status_id(buf, "Gid:", &id))
            info->gid = (gid_t) id;
    }
    /* The state follows the last ')': the command before it may hold anything. */
    (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    if (read_file(path, buf, sizeof(buf)) > 0 && strrchr(buf, ')') && strrchr(buf, ')')[1])
        info->state = strrchr(buf, ')')[2];
    (void) snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
    n = read_file(path, buf, sizeof(info->command));
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n > 0)
        memcpy(info->command, buf, (size_t) n + 1);
}

UDS_API int uds_procinfo_get(pid_t pid, struct uds_procinfo *ret_info) {
    struct uds_procinfo *info;
    char path[64];
    ssize_t n;

    if (pid < 0 || !ret_info)
        return uds__fail(EINVAL);
    if (pid == 0)
        pid = getpid();
    /* Built aside: ret_info is written only on success. */
    info = calloc(1, sizeof(*info));
    if (!info)
        return -1;
    info->pid = pid;
    (void) snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
    n = read_file(path, info->cmdline, sizeof(info->cmdline));
    if (n < 0 && (errno == ENOENT || errno == ESRCH)) {
        free(info);
        return uds__fail(ESRCH);
    }
    info->cmdline_len = n > 0 ? (size_t) n : 0;
    read_ids_and_command(pid, info);
    (void) snprintf(path, sizeof(path), "/proc/%d/exe", (int) pid);
    n = readlink(path, info->exe, sizeof(info->exe) - 1);
    info->exe[n > 0 ? n : 0] = '\0';
    read_unit(pid, info->unit, sizeof(info->unit));
    info->mnt_ns = uds__ns_inode(pid, "mnt");
    info->net_ns = uds__ns_inode(pid, "net");
    *ret_info = *info;
    free(info);
    return 0;
}

UDS_API const char *uds_procinfo_arg(const struct uds_procinfo *info, size_t index) {
    size_t at = 0;

    if (!info)
        return NULL;
    for (size_t i = 0; at < info->cmdline_len; i++) {
        if (i == index)
            return info->cmdline + at;
        at += strlen(info->cmdline + at) + 1;
    }
    return NULL;
}
