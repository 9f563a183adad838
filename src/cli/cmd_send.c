/* SPDX-License-Identifier: MIT */
/*
 * cmd_send.c — `uds send`: one request, one reply. Sends MESSAGE (or stdin), half-closes,
 * prints the reply until the server closes. The moving of bytes is cmd_connect.c's relay.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Largest stdin read whole to become one seqpacket/dgram message (the kernel's own limit,
 * the socket send buffer, is lower still and answers EMSGSIZE). */
#define SEND_MAX_MESSAGE (4u * 1024 * 1024)

static void send_usage(FILE *out) {
    fprintf(out,
            "Usage: uds send [OPTIONS] ADDRESS [MESSAGE...]\n"
            "\n"
            "Send one request to the Unix socket at ADDRESS and print the reply: MESSAGE is\n"
            "the arguments joined by spaces plus a newline (like echo), or stdin when there is\n"
            "no MESSAGE. After sending, the sending side is shut down; the reply is printed\n"
            "until the server closes (dgram: the first reply datagram).\n"
            "\n"
            "Options:\n"
            "  -n                     do not add the newline\n"
            "      --type TYPE        stream (default), seqpacket or dgram (the message is\n"
            "                         one packet)\n"
            "      --timeout SECONDS  give up after SECONDS: connecting, sending and the whole\n"
            "                         reply (exit 75); counted after any --wait\n"
            "      --wait SECONDS     wait up to SECONDS for the server to appear\n"
            "  -q, --quiet            print errors only\n"
            "  -h, --help             show this help\n"
            "\n"
            "SECONDS may have decimals (0.5). ADDRESS is a path, @abstract, unix:PATH or\n"
            "unix:@name.\n"
            "\n"
            "Exit status: 0 done, 1 failure, 64 usage error, 69 no server (no such socket, or\n"
            "a stale one), 75 timeout, 77 permission denied.\n");
}

/* The arguments joined by spaces, plus "\n" unless no_newline. */
static char *join_message(char **words, int n, bool no_newline, size_t *ret_len) {
    size_t len = 0, off = 0;
    char *msg;

    for (int i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    msg = malloc(len + 1);
    if (!msg)
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t w = strlen(words[i]);
        if (i > 0)
            msg[off++] = ' ';
        memcpy(msg + off, words[i], w);
        off += w;
    }
    if (!no_newline)
        msg[off++] = '\n';
    msg[off] = '\0';
    *ret_len = off;
    return msg;
}

/* All of stdin, for a message socket where the input must go as one packet. */
static char *read_all_stdin(size_t *ret_len) {
    size_t len = 0, cap = 64 * 1024;
    char *buf = malloc(cap);

    if (!buf)
        return NULL;
    for (;;) {
        if (len == cap) {
            char *bigger;
            if (cap >= SEND_MAX_MESSAGE) {
                free(buf);
                errno = EMSGSIZE;
                return NULL;
            }
            bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                errno = ENOMEM;
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            errno = e;
            return NULL;
        }
        len += (size_t) n;
    }
    *ret_len = len;
    return buf;
}

int cmd_send(int argc, char **argv) {
    enum { OPT_TYPE = 256, OPT_TIMEOUT, OPT_WAIT };
    static const struct option longopts[] = {
        { "type", required_argument, NULL, OPT_TYPE },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "wait", required_argument, NULL, OPT_WAIT },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct {
        enum uds_socket_type type;
        int timeout_ms;
        int wait_ms;
        bool quiet;
        bool no_newline;
        const char *address;
    } args = { .type = UDS_STREAM };
    char *msg = NULL;
    size_t msg_len = 0;
    int c, fd, code;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":nqh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TYPE:
            if (uds_socket_type_parse(optarg, &args.type) < 0)
                return cli_usage("send", "--type: '%s' is not a socket type; e.g. --type "
                                 "stream, seqpacket or dgram", optarg);
            break;
        case OPT_TIMEOUT:
            if (cli_parse_duration_ms(optarg, &args.timeout_ms) < 0 || args.timeout_ms == 0)
                return cli_usage("send", "--timeout: '%s' is not a positive duration in "
                                 "seconds; e.g. --timeout 2.5", optarg);
            break;
        case OPT_WAIT:
            if (cli_parse_duration_ms(optarg, &args.wait_ms) < 0)
                return cli_usage("send", "--wait: '%s' is not a duration in seconds; e.g. "
                                 "--wait 5", optarg);
            break;
        case 'n':
            args.no_newline = true;
            break;
        case 'q':
            args.quiet = true;
            break;
        case 'h':
            send_usage(stdout);
            return EX_OK;
        default:
            return cli_getopt_error("send", c, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("send", "missing ADDRESS; e.g. uds send /run/app.sock 'hello'");
    args.address = argv[optind++];
    cli_log_setup(args.quiet ? -1 : 0, false);

    if (optind < argc) {
        msg = join_message(argv + optind, argc - optind, args.no_newline, &msg_len);
        if (!msg)
            return cli_fail(CLI_OP_ANY, args.address, errno, NULL);
    } else if (args.type != UDS_STREAM) {
        msg = read_all_stdin(&msg_len);
        if (!msg) {
            if (errno == EMSGSIZE) {
                cli_error("stdin", "send less, or use --type stream", "more than %u bytes "
                          "for one message", SEND_MAX_MESSAGE);
                return CLI_EXIT_FAILURE;
            }
            cli_error("stdin", "check the input", "cannot read: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
    }

    uint64_t start = cli_now_ms();
    struct uds_connect_opts opts = {
        .type = args.type,
        .timeout_ms = args.timeout_ms,
        .wait_ms = args.wait_ms,
    };
    fd = uds_connect(args.address, &opts);
    if (fd < 0) {
        struct cli_fail_info info = {
            .timeout_ms = args.timeout_ms ? args.timeout_ms : args.wait_ms,
        };
        code = cli_fail(CLI_OP_CONNECT, args.address, errno, &info);
        free(msg);
        return code;
    }
    struct cli_relay relay = {
        .sock = fd,
        .type = args.type,
        .in_fd = msg ? -1 : STDIN_FILENO,
        .in_buf = msg,
        .in_len = msg_len,
        .out_fd = STDOUT_FILENO,
        .deadline_ms = args.timeout_ms ? start + (uint64_t) args.wait_ms +
                                             (uint64_t) args.timeout_ms : 0,
        .timeout_ms = args.timeout_ms,
        .max_replies = 1,
        .address = args.address,
    };
    code = cli_relay_run(&relay);
    (void) close(fd);   /* done with it; a close error cannot change the reply we printed */
    free(msg);
    return code;
}
