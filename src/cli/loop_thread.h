/* SPDX-License-Identifier: MIT */
/*
 * loop_thread.h — a thread that runs a uds_loop of its own, and a mailbox to have a
 * function run there: how `uds proxy --threads` puts each connection's dial and relay on
 * one worker. It knows nothing of what runs on the loop.
 */
#ifndef UDS_CLI_LOOP_THREAD_H
#define UDS_CLI_LOOP_THREAD_H

#include <udskit.h>

struct cli_loop_thread;

/* A loop, and a mailbox in it, for a thread not started yet. NULL with errno. */
struct cli_loop_thread *cli_loop_thread_new(void);
/* Start the thread running the loop, named name (at most 15 bytes), with every signal
 * blocked. Returns 0, or -1 with errno. */
int cli_loop_thread_start(struct cli_loop_thread *t, const char *name);
/* The thread's loop: use it only from the thread itself (a posted function), or before
 * the thread starts. */
struct uds_loop *cli_loop_thread_loop(const struct cli_loop_thread *t);
/* Run fn(arg) on the thread, after what was posted before. Any thread. Returns 0, or -1
 * (ENOMEM). */
int cli_loop_thread_post(struct cli_loop_thread *t, void (*fn)(void *arg), void *arg);
/* Have the thread leave its loop once what was posted before has run, and wait for it.
 * Its loop stays (for the caller to free what it holds) until cli_loop_thread_free(). */
void cli_loop_thread_join(struct cli_loop_thread *t);
/* Join if not done, free the loop and the rest. NULL is fine. */
void cli_loop_thread_free(struct cli_loop_thread *t);

#endif
