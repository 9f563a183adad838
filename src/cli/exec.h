/* SPDX-License-Identifier: MIT */
/*
 * exec.h — `uds serve -- PROGRAM` (serve_exec.c): a program started for each client on its
 * connection, with the UCSPI environment, and the children reaped and signalled.
 */
#ifndef UDS_CLI_EXEC_H
#define UDS_CLI_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <udskit.h>

/* PROGRAM ARGS, the UCSPI environment and the children started with them. */
struct cli_exec;

/* One running child. */
struct cli_child {
    pid_t pid;
    pid_t peer_pid;         /* the client it serves */
    uid_t uid;
    gid_t gid;
    uint64_t started_ms;    /* cli_now_ms() */
};

/* Find argv[0] (as execvp would, once) and prepare the environment: the server's own minus
 * PROTO, UNIXLOCAL*, UNIXREMOTE*, LISTEN_* and NOTIFY_SOCKET, plus PROTO=UNIX,
 * UNIXLOCALPATH=local_path, UNIXLOCALUID and UNIXLOCALGID. Also makes every inherited fd
 * above 2 close-on-exec and opens /dev/null on a closed 0, 1 or 2. argv must outlive it.
 * Errors: ENOENT no such program (in PATH); EACCES not an executable file; ENOMEM. */
struct cli_exec *cli_exec_new(char *const argv[], const char *local_path);
void cli_exec_free(struct cli_exec *exec);
/* The program's path as found. */
const char *cli_exec_path(const struct cli_exec *exec);

/* Start the program on the connected socket fd (made blocking, then its stdin and stdout;
 * the caller still closes its own fd) for peer, with UNIXREMOTEPID, UNIXREMOTEEUID and
 * UNIXREMOTEEGID set, an empty signal mask, default dispositions, and a process group of
 * its own. Returns the child's pid. Errors: those of posix_spawn() and execve() (ENOENT,
 * EACCES, ENOEXEC, EAGAIN, ENOMEM). */
pid_t cli_exec_spawn(struct cli_exec *exec, int fd, const struct uds_peer *peer);

/* Reap one child that has exited (never blocks): 1 with its record and wait status, 0 when
 * none has. Call until 0 on every SIGCHLD. */
int cli_exec_reap(struct cli_exec *exec, struct cli_child *ret_child, int *ret_status);
/* Children started and not reaped yet. */
size_t cli_exec_count(const struct cli_exec *exec);
/* Send sig to every child's process group (SIGTERM is followed by SIGCONT). */
void cli_exec_kill(struct cli_exec *exec, int sig);
/* "exited with status 3", "killed by SIGTERM". */
void cli_exec_describe_status(int status, char *buf, size_t size);

#endif
