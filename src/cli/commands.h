/* SPDX-License-Identifier: MIT */
/*
 * commands.h — the commands of `uds`, one function each, as main.c's table calls them.
 */
#ifndef UDS_CLI_COMMANDS_H
#define UDS_CLI_COMMANDS_H

/* argv[0] is the command name, options follow. Each returns an exit code. */
int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
