/* SPDX-License-Identifier: MIT */
/*
 * connect_as.c — connect as another user: a short-lived thread takes that user's effective
 * uid, gid and groups and connects, so that the server's SO_PEERCRED, and its socket
 * file's permissions, see that user (a tap or proxy run as root passing its clients'
 * identity on). The ids are changed with raw system calls, which change the calling thread
 * only (glibc's wrappers would change every thread of the process), and the thread ends
 * with them: no thread of the caller ever runs as another user, and nothing has to be
 * taken back.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include "internal.h"

struct job {
    const struct uds_addr *addr;
    const struct uds_connect_opts *opts;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t n_groups;
    int fd;
    int error;
};

/* Groups, then gid, then uid: each step needs the capabilities the next one drops. */
static int become(const struct job *j) {
    if (syscall(SYS_setgroups, j->n_groups, j->groups) < 0)
        return -1;
    if (syscall(SYS_setresgid, -1, j->gid, -1) < 0)
        return -1;
    return syscall(SYS_setresuid, -1, j->uid, -1) < 0 ? -1 : 0;
}

static void *run(void *arg) {
    struct job *j = arg;

    j->fd = become(j) < 0 ? -1 : uds_connect_addr(j->addr, j->opts);
    j->error = j->fd < 0 ? errno : 0;
    return NULL;
}

UDS_API int uds_connect_as(const struct uds_addr *addr, const struct uds_connect_opts *opts,
                           uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups) {
    struct job j = { .addr = addr, .opts = opts, .uid = uid, .gid = gid, .groups = groups,
                     .n_groups = n_groups, .fd = -1 };
    sigset_t all, old;
    pthread_t t;
    int e;

    if (!addr || (n_groups && !groups))
        return uds__fail(EINVAL);
    /* The thread takes no signal meant for the caller's threads. */
    sigfillset(&all);
    e = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (e)
        return uds__fail(e);
    e = pthread_create(&t, NULL, run, &j);
    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return uds__fail(e);
    (void) pthread_join(t, NULL);
    if (j.fd < 0)
        return uds__fail(j.error);
    return j.fd;
}
