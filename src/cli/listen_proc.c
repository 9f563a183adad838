/* SPDX-License-Identifier: MIT */
/*
 * listen_proc.c — --user for `uds serve` and `uds proxy`: resolving USER[:GROUP] when the
 * options are read, refusing it early when the process cannot change ids, and the drop
 * once the socket is bound (the change of ids and its check are the library's,
 * uds_drop_privileges()); and the --backlog cap warning. Making the listener is
 * listen_opts.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "listen_proc.h"
#include "log.h"
#include "words.h"

/* CAP_SETGID and CAP_SETUID, from <linux/capability.h>. */
enum { CAP_BIT_SETGID = 6, CAP_BIT_SETUID = 7 };

static bool all_digits(const char *s) {
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char) *s))
            return false;
    return true;
}

/* A user by name or number into r: its uid, primary gid and name (a number with no passwd
 * entry keeps only the uid; *ret_known says which). */
static int find_user(const char *text, struct cli_run_as *r, bool *ret_known,
                     struct cli_bad *bad) {
    char buf[16384];
    struct passwd pw, *found = NULL;
    bool number = all_digits(text);
    unsigned long v = number ? strtoul(text, NULL, 10) : 0;

    if (number && v < (uid_t) -1)
        (void) getpwuid_r((uid_t) v, &pw, buf, sizeof(buf), &found);
    else if (!number)
        (void) getpwnam_r(text, &pw, buf, sizeof(buf), &found);
    snprintf(bad->item, sizeof(bad->item), "%s", text);
    if (number && v >= (uid_t) -1) {
        snprintf(bad->why, sizeof(bad->why), "not a uid");
        return -1;
    }
    if (!found && !number) {
        snprintf(bad->why, sizeof(bad->why), "not a user on this system");
        return -1;
    }
    *ret_known = found != NULL;
    r->uid = found ? found->pw_uid : (uid_t) v;
    r->gid = found ? found->pw_gid : 0;
    snprintf(r->name, sizeof(r->name), "%s", found ? found->pw_name : "");
    if (found && strlen(found->pw_name) >= sizeof(r->name)) {
        snprintf(bad->why, sizeof(bad->why), "a user with too long a name");
        return -1;
    }
    return 0;
}

static int find_group(const char *text, gid_t *ret_gid, struct cli_bad *bad) {
    char buf[16384];
    struct group gr, *found = NULL;
    unsigned long v;

    snprintf(bad->item, sizeof(bad->item), "%s", text);
    if (all_digits(text)) {
        v = strtoul(text, NULL, 10);
        if (v >= (gid_t) -1) {
            snprintf(bad->why, sizeof(bad->why), "not a gid");
            return -1;
        }
        *ret_gid = (gid_t) v;
        return 0;
    }
    if (getgrnam_r(text, &gr, buf, sizeof(buf), &found) != 0 || !found) {
        snprintf(bad->why, sizeof(bad->why), "not a group on this system");
        return -1;
    }
    *ret_gid = found->gr_gid;
    return 0;
}

static int parse_user(const struct cli_opt *opt, const char *arg, void *dest,
                      struct cli_bad *bad) {
    struct cli_run_as *r = dest, got = { .given = arg };
    const char *colon = strchr(arg, ':');
    size_t len = colon ? (size_t) (colon - arg) : strlen(arg);
    char user[256];
    bool known = false;

    (void) opt;
    if (len >= sizeof(user)) {
        snprintf(bad->why, sizeof(bad->why), "too long a name");
        return -1;
    }
    snprintf(user, sizeof(user), "%.*s", (int) len, arg);
    if (find_user(user, &got, &known, bad) < 0)
        return -1;
    if (colon && find_group(colon + 1, &got.gid, bad) < 0)
        return -1;
    if (!known && !colon) {
        snprintf(bad->why, sizeof(bad->why), "a uid with no passwd entry, so no group; name "
                 "one (UID:GROUP)");
        return -1;
    }
    *r = got;
    return 0;
}

#define R struct cli_run_as
const struct cli_opt cli_run_as_opts[] = {
    { "--user", 0, "USER[:GROUP]", CLI_CUSTOM(parse_user, R, given, const char *),
      .example = "nobody or www-data:www-data",
      .help = "once the socket is made (and owned as --owner and\n"
              "--group say), become USER: its uid, GROUP or its\n"
              "primary group, and its supplementary groups; before\n"
              "the first client is accepted. Needs root" },
    CLI_END,
};
#undef R

/* Whether the effective capabilities have both bits; -1 when /proc cannot say. */
static int has_caps(int bit_a, int bit_b) {
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long eff;
    int r = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1) {
            r = (eff >> bit_a & 1) && (eff >> bit_b & 1);
            break;
        }
    fclose(f);
    return r;
}

int cli_run_as_check(const struct cli_run_as *r) {
    int caps;
    char me[64];

    if (!r->given)
        return CLI_CONTINUE;
    caps = has_caps(CAP_BIT_SETUID, CAP_BIT_SETGID);
    if (caps == 1 || (caps < 0 && geteuid() == 0))
        return CLI_CONTINUE;
    cli_user_name(geteuid(), me, sizeof(me));
    cli_error(NULL, "start it as root, or leave out --user", "--user %s: only root can become "
              "another user (this is %s, uid %lu)", r->given, me,
              (unsigned long) geteuid());
    return EX_NOPERM;
}

static int drop_failed(const struct cli_run_as *r, const char *text, int err) {
    cli_error(text, "check the user and group of --user", "cannot become %s (uid %lu gid %lu): "
              "%s", r->given, (unsigned long) r->uid, (unsigned long) r->gid, strerror(err));
    return err == EPERM ? EX_NOPERM : CLI_EXIT_FAILURE;
}

/* After the drop: a socket file in a directory the user may not write to stays behind at
 * the stop. That is safe (the next start finds it stale and replaces it), but worth saying
 * once rather than leaving a file nobody expected. */
static void warn_file_stays(const struct cli_run_as *r, const struct uds_listener *l,
                            const char *text) {
    char dir[sizeof(l->addr.name)];
    char *slash;

    if (l->addr.kind != UDS_ADDR_PATH || !l->owns_path)
        return;
    snprintf(dir, sizeof(dir), "%s", l->addr.name);
    slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        slash[slash == dir] = '\0';  /* "/x.sock" is in "/" */
    /* access() checks the real ids: the user's, now. */
    if (access(dir, W_OK | X_OK) == 0)
        return;
    cli_log(CLI_LOG_INFO, "user", text, NULL, 0, "%s: %s may not write to %s, so the socket "
            "file stays there after the stop (the next start replaces it as stale)", text,
            r->given, dir);
}

int cli_run_as_drop(const struct cli_run_as *r, const struct uds_listener *l,
                    const char *text) {
    struct cli_kv kv[] = {
        CLI_KV_NUM("uid", r->uid),
        CLI_KV_NUM("gid", r->gid),
    };

    if (!r->given)
        return CLI_CONTINUE;
    /* A uid with no passwd entry has no name, and gets no supplementary groups. */
    if (uds_drop_privileges(r->uid, r->gid, r->name[0] ? r->name : NULL) < 0)
        return drop_failed(r, text, errno);
    warn_file_stays(r, l, text);
    cli_log(CLI_LOG_DEBUG, "user", text, kv, 2, "%s: running as %s (uid %lu gid %lu)", text,
            r->given, (unsigned long) r->uid, (unsigned long) r->gid);
    return CLI_CONTINUE;
}

void cli_backlog_warn_cap(long backlog, const char *text) {
    FILE *f;
    long max = 0;

    if (backlog <= 0 || !(f = fopen("/proc/sys/net/core/somaxconn", "re")))
        return;
    if (fscanf(f, "%ld", &max) == 1 && max > 0 && backlog > max)
        cli_log(CLI_LOG_WARN, "backlog", text, NULL, 0, "%s: --backlog %ld is more than the "
                "kernel allows (net.core.somaxconn %ld): it gets %ld; raise it with sysctl "
                "net.core.somaxconn=%ld", text, backlog, max, max, backlog);
    fclose(f);
}
