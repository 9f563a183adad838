/* SPDX-License-Identifier: MIT */
/*
 * bench_server_cpu.c — the server's threads' CPU time over a `uds bench` run
 * (bench_server_cpu.h): /proc/PID/task/TID/stat fields 14 and 15 (utime, stime) and the
 * thread's name, for every thread; the share of each over the run, and how evenly its
 * worker threads (named udsw/I by uds_server, udsp/I by uds proxy) were loaded.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udskit.h>

#include "bench_server_cpu.h"

pid_t bench_server_pid(int fd) {
    struct uds_peer peer;
    pid_t pid;

    if (uds_peer_get(fd, 0, &peer) < 0)
        return 0;
    pid = peer.pid;
    uds_peer_done(&peer);
    return pid > 0 && pid != getpid() ? pid : 0;
}

/* One thread's name and utime + stime from its stat line; the name is in parentheses and
 * may hold spaces and parentheses itself, so the fields are counted from the last ')'. */
static int read_task(pid_t pid, const char *tid, struct bench_task *t) {
    char path[64], line[1024], *close_paren, *open_paren;
    unsigned long long utime, stime;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int) pid, tid);
    f = fopen(path, "re");
    if (!f)
        return -1;
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    open_paren = ok ? strchr(line, '(') : NULL;
    close_paren = ok ? strrchr(line, ')') : NULL;
    if (!open_paren || !close_paren || close_paren < open_paren)
        return -1;
    /* After ") ": state (3), then fields 4..13, then utime (14) and stime (15). */
    if (sscanf(close_paren + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu",
               &utime, &stime) != 2)
        return -1;
    size_t len = (size_t) (close_paren - open_paren - 1);
    if (len >= sizeof(t->name))
        len = sizeof(t->name) - 1;
    memcpy(t->name, open_paren + 1, len);
    t->name[len] = '\0';
    t->tid = (pid_t) atoi(tid);
    t->ticks = utime + stime;
    return 0;
}

int bench_server_cpu_read(pid_t pid, struct bench_server_cpu *snap) {
    char path[64];
    struct dirent *d;
    DIR *dir;

    snap->pid = 0;
    snap->n = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
    dir = opendir(path);
    if (!dir)
        return -1;
    while ((d = readdir(dir)) && snap->n < BENCH_TASKS_MAX) {
        if (d->d_name[0] != '.' && read_task(pid, d->d_name, &snap->tasks[snap->n]) == 0)
            snap->n++;
    }
    closedir(dir);
    snap->pid = pid;
    return 0;
}

static const struct bench_task *find(const struct bench_server_cpu *s, pid_t tid) {
    for (size_t i = 0; i < s->n; i++)
        if (s->tasks[i].tid == tid)
            return &s->tasks[i];
    return NULL;
}

static bool is_worker(const char *name) {
    return strncmp(name, "udsw/", 5) == 0 || strncmp(name, "udsp/", 5) == 0;
}

/* Percent of a CPU thread t of after used since before (a thread born meanwhile: all). */
static double share(const struct bench_server_cpu *before, const struct bench_task *t,
                    double secs) {
    const struct bench_task *b = find(before, t->tid);
    uint64_t ticks = t->ticks - (b && b->ticks <= t->ticks ? b->ticks : 0);
    long hz = sysconf(_SC_CLK_TCK);

    return secs > 0 && hz > 0 ? 100.0 * (double) ticks / (double) hz / secs : 0;
}

/* The busiest worker's share over the least busy one's; 0 when fewer than two workers,
 * -1 when one did nothing. */
static double workers_ratio(const struct bench_server_cpu *before,
                            const struct bench_server_cpu *after, double secs) {
    double max = 0, min = -1;
    int n = 0;

    for (size_t i = 0; i < after->n; i++) {
        if (!is_worker(after->tasks[i].name))
            continue;
        double p = share(before, &after->tasks[i], secs);
        max = p > max ? p : max;
        min = min < 0 || p < min ? p : min;
        n++;
    }
    if (n < 2)
        return 0;
    return min > 0 ? max / min : -1;
}

void bench_server_cpu_print(const struct bench_server_cpu *before,
                            const struct bench_server_cpu *after, double secs) {
    if (!before->pid || !after->pid || after->n == 0)
        return;
    printf("  server       pid %d, %zu thread%s:", (int) after->pid, after->n,
           after->n == 1 ? "" : "s");
    for (size_t i = 0; i < after->n; i++)
        printf("%s %s %.0f%%", i ? " ·" : "", after->tasks[i].name,
               share(before, &after->tasks[i], secs));
    printf(" of a CPU");
    double r = workers_ratio(before, after, secs);
    if (r > 0)
        printf("; workers busiest/least %.2f", r);
    else if (r < 0)
        printf("; a worker did nothing");
    printf("\n");
}

void bench_server_cpu_json(const struct bench_server_cpu *before,
                           const struct bench_server_cpu *after, double secs) {
    if (!before->pid || !after->pid || after->n == 0)
        return;
    printf(",\"server\":{\"pid\":%d,\"threads\":[", (int) after->pid);
    for (size_t i = 0; i < after->n; i++) {
        const struct bench_task *t = &after->tasks[i];
        printf("%s{\"tid\":%d,\"name\":\"", i ? "," : "", (int) t->tid);
        for (const char *p = t->name; *p; p++)
            printf(*p == '"' || *p == '\\' ? "\\%c" : (unsigned char) *p < 0x20 ? "?" : "%c",
                   *p);
        printf("\",\"cpu_percent\":%.1f}", share(before, t, secs));
    }
    double r = workers_ratio(before, after, secs);
    if (r > 0)
        printf("],\"workers_max_over_min\":%.3f}", r);
    else
        printf("],\"workers_max_over_min\":null}");
}
