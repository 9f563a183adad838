/* SPDX-License-Identifier: MIT */
/*
 * main.c — `uds COMMAND [OPTIONS] ARGS`: the command table, `uds --version`, `uds --help`
 * and dispatch. Each command parses its own options; nothing command-specific lives here.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_listen.h"
#include "tap.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "serve", cmd_serve, "serve a Unix socket: echo, a reply, or a program per client" },
    { "connect", cmd_connect, "connect stdin and stdout to a Unix socket, like nc -U" },
    { "listen", cmd_listen, "listen for one client on stdin and stdout, like nc -lU" },
    { "send", cmd_send, "send one message and print the reply" },
    { "ls", cmd_ls, "list the machine's Unix sockets and who holds them" },
    { "doctor", cmd_doctor, "explain why a socket does or does not work for you" },
    { "proxy", cmd_proxy, "bridge Unix sockets and TCP: LISTEN to TARGET, both ways" },
    { "bench", cmd_bench, "measure transports, or load an echo server" },
    { "tap", cmd_tap, "show what flows through a live Unix socket, or write it for Wireshark" },
};

static void usage(FILE *out) {
    fprintf(out,
            "Usage: uds COMMAND [OPTIONS] ARGS\n"
            "       uds --version | --help | help COMMAND\n"
            "\n"
            "Serve, talk to and diagnose Unix domain sockets.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Addresses: /path/to.sock, rel/path.sock, @abstract, unix:PATH, unix:@name.\n"
            "Run 'uds COMMAND --help' for a command's options.\n"
            "\n"
            "Exit status: 0 ok, 1 failure, 64 usage error, 69 unavailable (nothing listening,\n"
            "address held by a running server), 73 cannot create (path exists and is not a\n"
            "socket, directory missing), 75 timeout, 77 permission denied.\n");
}

static const struct command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    const struct command *cmd;

    /* A peer that goes away must be an EPIPE to handle, not a death. */
    signal(SIGPIPE, SIG_IGN);

    if (argc < 2) {
        usage(stderr);
        return EX_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("uds %s (libudskit %s)\n", UDS_VERSION_STRING, uds_version());
        return fflush(stdout) == 0 ? EX_OK : CLI_EXIT_FAILURE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return fflush(stdout) == 0 ? EX_OK : CLI_EXIT_FAILURE;
    }
    /* For the shell's completion (completion/uds.bash): the commands, one a line, as
     * `uds CMD --list-options` gives a command's options. */
    if (strcmp(argv[1], "--list-commands") == 0) {
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            printf("%s\n", commands[i].name);
        return fflush(stdout) == 0 ? EX_OK : CLI_EXIT_FAILURE;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return EX_OK;
        }
        cmd = find_command(argv[2]);
        if (!cmd)
            return cli_usage(NULL, "'%s' is not a command; see 'uds --help'", argv[2]);
        char *help_argv[] = { argv[2], (char *) "--help", NULL };
        return cmd->run(2, help_argv);
    }
    if (argv[1][0] == '-')
        return cli_usage(NULL, "unknown option '%s'", argv[1]);
    cmd = find_command(argv[1]);
    if (!cmd)
        return cli_usage(NULL, "'%s' is not a command; see 'uds --help'", argv[1]);
    return cmd->run(argc - 1, argv + 1);
}
