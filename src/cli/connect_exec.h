/* SPDX-License-Identifier: MIT */
/*
 * connect_exec.h — `uds connect ADDRESS -- PROGRAM`: the UCSPI client side, as ucspi-unix's
 * unixclient and s6-ipcclient do it: PROGRAM runs in this process, the connection on fds 6
 * (read) and 7 (write), with the UCSPI client environment.
 */
#ifndef UDS_CLI_CONNECT_EXEC_H
#define UDS_CLI_CONNECT_EXEC_H

/* PROGRAM as execvp() would find it (taken as it is with a '/', else the first executable
 * of that name in $PATH), malloc'ed; NULL with errno ENOENT (none) or EACCES (found, not
 * executable), or ENOMEM. Defined with the serve side, in serve_exec.c. */
char *cli_find_program(const char *name);

/* Run path (argv as given) on the connected socket fd to address (as given): fd becomes
 * 6 and 7, blocking and kept across exec; the environment gets PROTO=UNIX, UNIXLOCALPATH
 * (address as given), UNIXLOCALUID, UNIXLOCALGID, UNIXLOCALPID (this process, which
 * PROGRAM becomes), UNIXREMOTEPATH (address, canonical) and, from SO_PEERCRED,
 * UNIXREMOTEPID, UNIXREMOTEEUID and UNIXREMOTEEGID; earlier ones of those names are
 * removed. SIGPIPE goes back to its default. Returns only on failure: the exit code, the
 * error printed. */
int cli_connect_exec(int fd, const char *address, const char *path, char *const argv[]);

#endif /* UDS_CLI_CONNECT_EXEC_H */
