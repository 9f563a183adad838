/* SPDX-License-Identifier: MIT */
/*
 * doctor_subject.c — whom `uds doctor` answers for: the caller, or with --as USER that user
 * as a new login would be (its uid, gid and groups); and a check run with those ids, in a
 * child that takes them, so that the kernel, not our reading of the modes, decides.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"

/* ---- whom the checks are for ---------------------------------------------------------- */

int doctor_subject_self(struct subject *w) {
    int n = getgroups(0, NULL);

    w->uid = geteuid();
    w->gid = getegid();
    cli_user_name(w->uid, w->name, sizeof(w->name));
    if (n < 0)
        return -1;
    w->groups = malloc((size_t) (n ? n : 1) * sizeof(*w->groups));
    if (!w->groups)
        return -1;
    n = getgroups(n, w->groups);
    if (n < 0)
        return -1;
    w->n_groups = (size_t) n;
    /* For telling "in the group in /etc/group" from "in it in this login". */
    w->have_login = uds_login_get(w->name, &w->login) == 0 && w->login.uid == w->uid;
    return 0;
}

/* --as USER: the user's ids as a new login gives them. */
int doctor_subject_as(struct subject *w, const char *user) {
    if (uds_login_get(user, &w->login) < 0)
        return -1;
    w->have_login = true;
    w->as = true;
    w->uid = w->login.uid;
    w->gid = w->login.gid;
    snprintf(w->name, sizeof(w->name), "%s", w->login.name);
    w->groups = malloc((w->login.n_groups ? w->login.n_groups : 1) * sizeof(*w->groups));
    if (!w->groups)
        return -1;
    if (w->login.n_groups)
        memcpy(w->groups, w->login.groups, w->login.n_groups * sizeof(*w->groups));
    w->n_groups = w->login.n_groups;
    return 0;
}

void doctor_subject_done(struct subject *w) {
    free(w->groups);
    uds_login_done(&w->login);
}

bool doctor_subject_in_group(const struct subject *w, gid_t gid) {
    if (w->gid == gid)
        return true;
    for (size_t i = 0; i < w->n_groups; i++)
        if (w->groups[i] == gid)
            return true;
    return false;
}

/* "you" for the caller, the user's name with --as; and the verb that goes with it. */
const char *doctor_you(const struct doctor *d) {
    return d->who.as ? d->who.name : "you";
}

const char *doctor_You(const struct doctor *d) {
    return d->who.as ? d->who.name : "You";
}

const char *doctor_are(const struct doctor *d) {
    return d->who.as ? "is" : "are";
}

/* "uid 65534 (nobody), group nogroup", "uid 1000 (ann), groups ann, wheel" */
void doctor_describe_subject(const struct doctor *d, char *buf, size_t size) {
    const struct subject *w = &d->who;
    char name[256];
    size_t o = 0, others = 0;

    for (size_t i = 0; i < w->n_groups; i++)
        others += w->groups[i] != w->gid;
    cli_group_name(w->gid, name, sizeof(name));
    buf[0] = '\0';
    cli_append(buf, size, &o, "uid %u (%s), group%s %s", (unsigned) w->uid, w->name,
               others ? "s" : "", name);
    for (size_t i = 0; i < w->n_groups; i++) {
        if (w->groups[i] == w->gid)
            continue;
        cli_group_name(w->groups[i], name, sizeof(name));
        cli_append(buf, size, &o, ", %s", name);
    }
}

/* Why the class of permission bits that applies is the one it is. */
const char *doctor_perm_why(const struct doctor *d, enum uds_perm_class class) {
    switch (class) {
    case UDS_PERM_OWNER: return d->who.as ? "that user is its owner" : "you are its owner";
    case UDS_PERM_GROUP: return d->who.as ? "that user is in its group" : "you are in its group";
    default:
        return d->who.as ? "that user is neither its owner nor in its group, so the 'other' "
                           "bits apply"
                         : "you are neither its owner nor in its group, so the 'other' bits "
                           "apply";
    }
}

/* ---- checks made as the subject --------------------------------------------------------- */

/* Become the subject for good (a child process only): groups, then gid, then uid, so that
 * nothing of root's is left when the checks run. */
static int become(const struct subject *w) {
    if (setgroups(w->n_groups, w->groups) < 0 || setresgid(w->gid, w->gid, w->gid) < 0 ||
        setresuid(w->uid, w->uid, w->uid) < 0)
        return -1;
    return 0;
}

/* Read size bytes, across the short reads of a pipe (a write over PIPE_BUF comes in parts). */
static bool read_full(int fd, void *buf, size_t size) {
    size_t got = 0;

    while (got < size) {
        ssize_t n = read(fd, (char *) buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t) n;
    }
    return true;
}

/* Run fn(d, out) as the subject: in this process for the caller; for --as in a child that
 * has become the user, which hands back fn's result, errno and out through a pipe. */
int doctor_as_subject(struct doctor *d, int (*fn)(struct doctor *d, void *out), void *out,
                      size_t size) {
    int fds[2], status, r = -1, e = EIO;
    pid_t pid;

    if (!d->who.as)
        return fn(d, out);
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        e = errno;
        close(fds[0]);
        close(fds[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        int res[2] = { -1, 0 };
        close(fds[0]);
        if (become(&d->who) < 0)
            res[1] = errno;
        else if ((res[0] = fn(d, out)) < 0)
            res[1] = errno;
        if (write(fds[1], res, sizeof(res)) != sizeof(res) ||
            (res[0] >= 0 && write(fds[1], out, size) != (ssize_t) size))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    {
        int res[2];
        if (read_full(fds[0], res, sizeof(res))) {
            r = res[0];
            e = res[1];
            if (r >= 0 && !read_full(fds[0], out, size))
                r = -1, e = EIO;
        }
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    errno = e;
    return r;
}
