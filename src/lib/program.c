/* SPDX-License-Identifier: MIT */
/*
 * program.c — what the two UCSPI sides (spawn.c, exec_client.c) share about the program
 * they run: finding it as execvp() would, and telling the environment variables that
 * describe a connection. No fds, no process changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* A regular file the caller may execute. */
static bool is_program(const char *path) {
    struct stat st;

    if (stat(path, &st) < 0)
        return false;
    if (!S_ISREG(st.st_mode)) {
        errno = EACCES;
        return false;
    }
    /* The effective ids, which execve() checks; access() would take the real ones. */
    return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

UDS_API char *uds_program_find(const char *name) {
    const char *path = getenv("PATH");
    int err = ENOENT;

    if (!name || name[0] == '\0') {
        errno = name ? ENOENT : EINVAL;
        return NULL;
    }
    if (strchr(name, '/'))
        return is_program(name) ? strdup(name) : NULL;
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; ) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t) (colon - p) : strlen(p);
        char *full = malloc(len + strlen(name) + 3);

        if (!full)
            return NULL;
        /* An empty entry is the current directory, as for execvp. */
        sprintf(full, "%.*s/%s", (int) (len ? len : 1), len ? p : ".", name);
        if (is_program(full))
            return full;
        if (errno != ENOENT && errno != ENOTDIR)
            err = errno;    /* found, but not executable: worth saying */
        free(full);
        if (!colon)
            break;
        p = colon + 1;
    }
    errno = err;
    return NULL;
}

bool uds__ucspi_var(const char *var) {
    static const char *const prefixes[] = { "PROTO=", "UNIXLOCAL", "UNIXREMOTE" };

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(var, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}
