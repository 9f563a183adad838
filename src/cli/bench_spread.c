/* SPDX-License-Identifier: MIT */
/*
 * bench_spread.c — the CPU time of each thread of the server under load, before and after a
 * `uds bench` run, so that how evenly a multi-threaded server spread the work is measured,
 * not assumed. Threads born during the run count from zero; threads gone by its end are
 * left out (their time is lost with them).
 */
#include "bench_spread.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int bench_spread_parse_stat(const char *line, char name[16], uint64_t *ticks) {
    const char *open = strchr(line, '('), *close = strrchr(line, ')');
    unsigned long long utime, stime;

    if (!open || !close || close < open)
        return -1;
    size_t len = (size_t) (close - open - 1);
    if (len > 15)
        len = 15;
    memcpy(name, open + 1, len);
    name[len] = '\0';
    /* After the command: state (field 3) ... utime (14) and stime (15). */
    if (sscanf(close + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
               &stime) != 2)
        return -1;
    *ticks = (uint64_t) utime + (uint64_t) stime;
    return 0;
}

static int read_stat(pid_t pid, pid_t tid, char name[16], uint64_t *ticks) {
    char path[64], line[1024];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int) pid, (int) tid);
    f = fopen(path, "re");
    if (!f)
        return -1;
    bool got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    return got ? bench_spread_parse_stat(line, name, ticks) : -1;
}

static struct bench_thread *find(struct bench_spread *s, pid_t tid) {
    for (size_t i = 0; i < s->n; i++)
        if (s->threads[i].tid == tid)
            return &s->threads[i];
    return NULL;
}

/* Every thread of s->pid now: new ones are added, known ones get their ticks updated. */
static void snapshot(struct bench_spread *s, bool before) {
    char path[64];
    struct dirent *e;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/task", (int) s->pid);
    d = opendir(path);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        pid_t tid = (pid_t) atoi(e->d_name);
        char name[16];
        uint64_t ticks;

        if (tid <= 0 || read_stat(s->pid, tid, name, &ticks) < 0)
            continue;
        struct bench_thread *t = find(s, tid);
        if (!t && s->n < BENCH_SPREAD_MAX) {
            t = &s->threads[s->n++];
            *t = (struct bench_thread) { .tid = tid, .ticks_before = before ? ticks : 0 };
        }
        if (!t)
            continue;
        memcpy(t->name, name, sizeof(t->name));
        t->ticks = ticks >= t->ticks_before ? ticks - t->ticks_before : 0;
    }
    closedir(d);
}

void bench_spread_begin(struct bench_spread *s, int fd) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    uint64_t ticks;

    memset(s, 0, sizeof(*s));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0)
        return;
    /* The main thread's stat tells whether this pid is the server's in our namespace. */
    if (read_stat(cred.pid, cred.pid, s->name, &ticks) < 0)
        return;
    s->pid = cred.pid;
    snapshot(s, true);
}

void bench_spread_end(struct bench_spread *s) {
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t total = 0, most = 0, least = UINT64_MAX;

    if (!s->pid)
        return;
    for (size_t i = 0; i < s->n; i++)
        s->threads[i].ticks = 0;
    snapshot(s, false);
    for (size_t i = 0; i < s->n; i++)
        total += s->threads[i].ticks;
    s->cpu_s = hz > 0 ? (double) total / (double) hz : 0;
    for (size_t i = 0; i < s->n && total > 0; i++) {
        uint64_t t = s->threads[i].ticks;
        if ((double) t < BENCH_SPREAD_BUSY * (double) total)
            continue;
        s->n_busy++;
        most = t > most ? t : most;
        least = t < least ? t : least;
    }
    s->busiest_over_least = s->n_busy > 1 && least > 0 ? (double) most / (double) least : 0;
}
