/* SPDX-License-Identifier: MIT */
/*
 * words.h — files, modes and owners in the words people read (ls -l's and chown's), and a
 * bounded printf into a buffer to build such sentences.
 */
#ifndef UDS_CLI_WORDS_H
#define UDS_CLI_WORDS_H

#include <stddef.h>
#include <sys/types.h>

#include <udskit.h>

/* "srwxr-x---" as ls -l writes it: the type letter and the permission bits (setuid, setgid
 * and sticky included). */
void cli_mode_string(mode_t mode, char out[11]);
/* What a file is, in words: "a socket", "a regular file", "a FIFO", "nothing"... */
const char *cli_file_kind(enum uds_file_kind kind);
/* A file's mode, owner and group as ls -l and chown write them: "srw-rw---- root:app". */
void cli_describe_file(const struct uds_file *file, char *buf, size_t size);
/* The name of the user (group), or its number when it has none. */
void cli_user_name(uid_t uid, char *buf, size_t size);
void cli_group_name(gid_t gid, char *buf, size_t size);

/* printf at buf + *used (buf holds size bytes), truncating, never past the end. */
void cli_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
