/* SPDX-License-Identifier: MIT */
/*
 * login.c — a user's ids as a new login gives them: uid and primary group from the user
 * database, supplementary groups from the group database (what initgroups(3) would set).
 * A running process keeps the groups of the login it came from, so comparing the two
 * tells "added to the group since" from "not in the group". It only reads the databases.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A name, or a number that names no user ("1234" for a uid without an entry is refused:
 * with no entry there are no groups to tell). */
static int lookup(const char *user, struct passwd *pw, char *buf, size_t size,
                  struct passwd **ret) {
    char *end;
    unsigned long n;
    int e;

    e = getpwnam_r(user, pw, buf, size, ret);
    if (e == 0 && *ret)
        return 0;
    errno = 0;
    n = strtoul(user, &end, 10);
    if (user[0] >= '0' && user[0] <= '9' && *end == '\0' && errno == 0 && n <= UINT_MAX) {
        e = getpwuid_r((uid_t) n, pw, buf, size, ret);
        if (e == 0 && *ret)
            return 0;
    }
    return uds__fail(e && e != ENOENT && e != ESRCH ? e : ENOENT);
}

/* getgrouplist() into a buffer that grows until the list fits. */
static int group_list(const char *name, gid_t gid, gid_t **ret_groups, size_t *ret_n) {
    int n = 32;

    for (int tries = 0; tries < 16; tries++) {
        gid_t *groups = malloc((size_t) n * sizeof(*groups));
        int want = n;

        if (!groups)
            return -1;
        if (getgrouplist(name, gid, groups, &want) >= 0) {
            *ret_groups = groups;
            *ret_n = (size_t) want;
            return 0;
        }
        free(groups);
        if (want <= n)
            want = n * 2;
        if (want > 65536)
            return uds__fail(E2BIG);
        n = want;
    }
    return uds__fail(E2BIG);
}

UDS_API int uds_login_get(const char *user, struct uds_login *ret_login) {
    struct passwd pw, *res = NULL;
    char buf[16384];
    gid_t *groups;
    size_t n;

    if (!user || !user[0] || !ret_login)
        return uds__fail(EINVAL);
    if (lookup(user, &pw, buf, sizeof(buf), &res) < 0)
        return -1;
    if (strlen(res->pw_name) >= sizeof(ret_login->name))
        return uds__fail(ENAMETOOLONG);
    if (group_list(res->pw_name, res->pw_gid, &groups, &n) < 0)
        return -1;
    *ret_login = (struct uds_login) {
        .uid = res->pw_uid, .gid = res->pw_gid, .groups = groups, .n_groups = n,
    };
    memcpy(ret_login->name, res->pw_name, strlen(res->pw_name) + 1);
    return 0;
}

UDS_API void uds_login_done(struct uds_login *login) {
    if (!login)
        return;
    free(login->groups);
    *login = (struct uds_login) { 0 };
}

UDS_API bool uds_login_in_group(const struct uds_login *login, gid_t gid) {
    return login && (login->gid == gid || uds__gid_listed(gid, login->groups, login->n_groups));
}
