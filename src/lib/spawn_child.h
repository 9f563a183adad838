/* SPDX-License-Identifier: MIT */
/*
 * spawn_child.h — what spawn.c asks of spawn_child.c: start a program with a setup of its
 * own (fds, signals, process group, open-file limit) made in the child alone, the caller
 * left exactly as it was. None of this is public API.
 */
#ifndef UDSKIT_SPAWN_CHILD_H
#define UDSKIT_SPAWN_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Signals 1 to 128 (MIPS has 127), bit sig - 1. */
#define UDS__SIG_WORDS 2

struct uds__child_setup {
    const char *path;           /* for execve() */
    char *const *argv;
    char *const *envp;
    int fd;                     /* onto 0 and 1 */
    bool null_stderr;           /* /dev/null onto 2 */
    uint64_t nofile;            /* the soft RLIMIT_NOFILE (at most the hard one); 0: as is */
    uint64_t reset[UDS__SIG_WORDS];     /* signals to SIG_DFL even if ignored */
    void *stack;                /* uds__child_stack_new() */
};

/* The signals ignored now, into set. */
void uds__child_ignored(uint64_t set[UDS__SIG_WORDS]);

/* A stack for the children of one thread at a time (each runs on it until it has
 * exec'ed): NULL and errno (ENOMEM) when it cannot be mapped. */
void *uds__child_stack_new(void);
void uds__child_stack_free(void *stack);

/* Start setup's program: 0 with its pid in *ret_pid, else an errno value (the execve()'s in
 * the child's, which is then reaped). */
int uds__child_spawn(const struct uds__child_setup *setup, pid_t *ret_pid);

#endif
