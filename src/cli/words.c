/* SPDX-License-Identifier: MIT */
/*
 * words.c — files, modes and owners in the words of ls -l and chown, for messages. Reads
 * the user and group databases; opens nothing else.
 */
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "words.h"

void cli_mode_string(mode_t m, char out[11]) {
    static const char rwx[] = "rwxrwxrwx";
    static const char types[] = {
        [UDS_FILE_SOCKET] = 's', [UDS_FILE_REGULAR] = '-', [UDS_FILE_DIR] = 'd',
        [UDS_FILE_SYMLINK] = 'l', [UDS_FILE_FIFO] = 'p', [UDS_FILE_CHAR] = 'c',
        [UDS_FILE_BLOCK] = 'b', [UDS_FILE_OTHER] = '?',
    };

    out[0] = types[uds_file_kind_of(m)];
    for (int i = 0; i < 9; i++)
        out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
    if (m & S_ISUID)
        out[3] = (m & S_IXUSR) ? 's' : 'S';
    if (m & S_ISGID)
        out[6] = (m & S_IXGRP) ? 's' : 'S';
    if (m & S_ISVTX)
        out[9] = (m & S_IXOTH) ? 't' : 'T';
    out[10] = '\0';
}

/* name, or the number id when there is no name. */
static void name_or_id(const char *name, unsigned id, char *buf, size_t size) {
    if (name)
        snprintf(buf, size, "%s", name);
    else
        snprintf(buf, size, "%u", id);
}

void cli_user_name(uid_t uid, char *buf, size_t size) {
    struct passwd pw, *res = NULL;
    char tmp[4096];
    bool found = getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res;

    name_or_id(found ? res->pw_name : NULL, (unsigned) uid, buf, size);
}

void cli_group_name(gid_t gid, char *buf, size_t size) {
    struct group gr, *res = NULL;
    char tmp[8192];
    bool found = getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) == 0 && res;

    name_or_id(found ? res->gr_name : NULL, (unsigned) gid, buf, size);
}

void cli_append(char *buf, size_t size, size_t *used, const char *fmt, ...) {
    va_list ap;
    int n;

    if (*used + 1 >= size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t) n < size ? *used + (size_t) n : size - 1;
}

const char *cli_file_kind(enum uds_file_kind kind) {
    switch (kind) {
    case UDS_FILE_SOCKET: return "a socket";
    case UDS_FILE_REGULAR: return "a regular file";
    case UDS_FILE_DIR: return "a directory";
    case UDS_FILE_SYMLINK: return "a symbolic link";
    case UDS_FILE_FIFO: return "a FIFO";
    case UDS_FILE_CHAR: return "a character device";
    case UDS_FILE_BLOCK: return "a block device";
    case UDS_FILE_NONE: return "nothing";
    case UDS_FILE_OTHER: break;
    }
    return "a file of an unknown type";
}

void cli_describe_file(const struct uds_file *file, char *buf, size_t size) {
    char mode[11], user[256], group[256];

    cli_mode_string(file->mode, mode);
    cli_user_name(file->uid, user, sizeof(user));
    cli_group_name(file->gid, group, sizeof(group));
    snprintf(buf, size, "%s %s:%s", mode, user, group);
}
