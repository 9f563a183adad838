/* SPDX-License-Identifier: MIT */
/*
 * cmd_listen.h — `uds listen`, the `nc -lU` of udskit (cmd_listen.c), for main.c's table.
 */
#ifndef UDS_CLI_CMD_LISTEN_H
#define UDS_CLI_CMD_LISTEN_H

/* argv[0] is "listen", options follow. Returns an exit code. */
int cmd_listen(int argc, char **argv);

#endif /* UDS_CLI_CMD_LISTEN_H */
