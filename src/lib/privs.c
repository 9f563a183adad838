/* SPDX-License-Identifier: MIT */
/*
 * privs.c — becoming another user for good, as a server started as root does once its
 * socket is made (ucspi-unix's unixserver -u/-g, s6's s6-applyuidgid): supplementary
 * groups, gid, uid, then a check that the change took and cannot be undone. Finding the
 * user, and saying what went wrong, are the caller's.
 */
#include <errno.h>
#include <grp.h>
#include <unistd.h>

#include "internal.h"

/* The ids now are exactly the ones asked for, all three of each. */
static bool became(uid_t uid, gid_t gid) {
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return false;
    return ru == uid && eu == uid && su == uid && rg == gid && eg == gid && sg == gid;
}

UDS_API int uds_drop_privileges(uid_t uid, gid_t gid, const char *user) {
    if (uid == (uid_t) -1 || gid == (gid_t) -1)
        return uds__fail(EINVAL);
    /* Groups first, then gid, then uid: each step needs the privilege the next takes away.
     * glibc's wrappers change every thread of the process. */
    if (user ? initgroups(user, gid) < 0 : setgroups(0, NULL) < 0)
        return -1;
    if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return -1;
    /* A kernel or security module that half-applied the change must not leave a process
     * that believes it is unprivileged and is not. */
    if (!became(uid, gid) || (uid != 0 && setresuid(0, 0, 0) == 0))
        return uds__fail(EPERM);
    return 0;
}
