/* SPDX-License-Identifier: MIT */
/*
 * cmd_send.c — `uds send`: one request, one reply. Sends MESSAGE (or stdin), half-closes,
 * prints the reply until the server closes (the library's relay moves the bytes, set up by
 * cmd_connect.c's cli_exchange_run());
 * or with --framed, one length-prefixed message out and one back (the library's decoder
 * cuts the reply).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

/* Largest stdin read whole to become one seqpacket/dgram message (the kernel's own limit,
 * the socket send buffer, is lower still and answers EMSGSIZE). */
#define SEND_MAX_MESSAGE (4u * 1024 * 1024)

struct send_args {
    struct uds_connect_opts connect;    /* --type, --timeout, --wait */
    int verbosity;
    bool no_newline;
    bool framed;
};

#define S struct send_args
static const struct cli_command send_cmd = {
    .name = "send",
    .synopsis = "[OPTIONS] ADDRESS [MESSAGE...]",
    .help_col = 25,
    .operands = { .names = "ADDRESS", .min = 1, .max = -1,
                  .example = "uds send /run/app.sock 'hello'" },
    .intro =
        "Send one request to the Unix socket at ADDRESS and print the reply: MESSAGE is\n"
        "the arguments joined by spaces plus a newline (like echo), or stdin when there is\n"
        "no MESSAGE. After sending, the sending side is shut down; the reply is printed\n"
        "until the server closes (dgram: the first reply datagram).\n",
    .outro =
        CLI_EXCHANGE_OUTRO_START
        "Exit status: 0 done, 1 failure, 64 usage error, 69 no server (no such socket, or\n"
        "a stale one), 75 timeout, 77 permission denied.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Options:"),
        { NULL, 'n', NULL, CLI_FLAG(S, no_newline), .help = "do not add the newline" },
        { "--framed", 0, NULL, CLI_FLAG(S, framed),
          .help = "send MESSAGE as one frame (a 4-byte big-endian length,\n"
                  "then the bytes) and print the payload of the one frame\n"
                  "that comes back; the connection is not half-closed\n"
                  "(stream only)" },
        CLI_OPTS_CONNECT(S, connect,
                         "stream (default), seqpacket or dgram (the message is\n"
                         "one packet)",
                         "give up after SECONDS: connecting, sending and the whole\n"
                         "reply (exit 75); counted after any --wait"),
        CLI_OPT_QUIET(S, verbosity, "print errors only"),
        CLI_END,
    },
};
#undef S

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

/* All of stdin (at most max bytes), for a message socket where the input must go as one
 * packet, or for one frame. */
static char *read_all_stdin(size_t max, size_t *ret_len) {
    size_t len = 0, cap = 64 * 1024;
    char *buf = malloc(cap);

    if (!buf)
        return NULL;
    for (;;) {
        if (len == cap) {
            char *bigger;
            if (cap >= max) {
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

/* ---- --framed ---------------------------------------------------------------------------- */

struct exchange {
    int fd;                 /* connected, non-blocking */
    uint64_t deadline_ms;   /* 0 = none */
    int timeout_ms;
    const char *address;
};

/* Wait for events on x->fd until the deadline. Returns poll's revents, or -1 with errno
 * (ETIMEDOUT). */
static int wait_for(const struct exchange *x, short events) {
    struct pollfd p = { .fd = x->fd, .events = events };

    for (;;) {
        int timeout = -1;
        if (x->deadline_ms) {
            uint64_t now = cli_now_ms();
            if (now >= x->deadline_ms) {
                errno = ETIMEDOUT;
                return -1;
            }
            timeout = (int) (x->deadline_ms - now);
        }
        int n = poll(&p, 1, timeout);
        if (n > 0)
            return p.revents;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

/* Collect the reply frame from in (len bytes); returns 1 once it is whole (in *reply). */
static int take_reply(struct uds_frame_decoder *dec, const char *in, size_t len, char **reply,
                      size_t *have, size_t *reply_len) {
    while (len > 0) {
        enum uds_frame_event ev;
        struct uds_frame_piece piece;
        ssize_t used = uds_frame_decoder_feed(dec, in, len, &ev, &piece);

        if (used < 0)
            return -1;
        in += used;
        len -= (size_t) used;
        if (ev != UDS_FRAME_PIECE)
            continue;
        if (piece.first) {
            /* The decoder has checked the length against its maximum already. */
            *reply = malloc(piece.frame_len ? piece.frame_len : 1);
            if (!*reply)
                return -1;
            *reply_len = piece.frame_len;
        }
        memcpy(*reply + *have, piece.data, piece.len);
        *have += piece.len;
        if (piece.last)
            return 1;   /* anything after the one reply is not ours to read */
    }
    return 0;
}

/* Send one frame, receive one, print its payload. Reads while it sends, so a server that
 * answers early cannot deadlock a large request. Returns an exit code. */
static int framed_exchange(const struct exchange *x, const char *msg, size_t len) {
    uint8_t hdr[UDS_FRAME_HEADER_SIZE];
    struct uds_frame_decoder dec;
    struct cli_fail_info info = { .timeout_ms = x->timeout_ms };
    size_t off = 0, total = sizeof(hdr) + len, have = 0, reply_len = 0;
    char *reply = NULL, buf[64 * 1024];
    int code = CLI_EXIT_FAILURE, r = 0;

    if (len > UINT32_MAX)
        return cli_fail(CLI_OP_EXCHANGE, x->address, EMSGSIZE, NULL);
    uds_frame_header(hdr, (uint32_t) len);
    uds_frame_decoder_init(&dec, 0);
    while (r == 0) {
        int rev = wait_for(x, (short) (POLLIN | (off < total ? POLLOUT : 0)));
        if (rev < 0) {
            code = cli_fail(CLI_OP_EXCHANGE, x->address, errno, &info);
            goto out;
        }
        if (off < total && (rev & (POLLOUT | POLLERR))) {
            struct iovec iov[2] = {
                { .iov_base = hdr + (off < sizeof(hdr) ? off : sizeof(hdr)),
                  .iov_len = off < sizeof(hdr) ? sizeof(hdr) - off : 0 },
                { .iov_base = (char *) msg + (off > sizeof(hdr) ? off - sizeof(hdr) : 0),
                  .iov_len = len - (off > sizeof(hdr) ? off - sizeof(hdr) : 0) },
            };
            struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
            ssize_t n = sendmsg(x->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n >= 0) {
                off += (size_t) n;
            } else if (errno != EAGAIN && errno != EINTR && errno != EPIPE &&
                       errno != ECONNRESET) {
                code = cli_fail(CLI_OP_EXCHANGE, x->address, errno, NULL);
                goto out;
            }
            /* A peer that hung up may still have answered: the reading below says. */
        }
        if (!(rev & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = recv(x->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            code = cli_fail(CLI_OP_EXCHANGE, x->address, errno, NULL);
            goto out;
        }
        if (n == 0) {
            if (uds_frame_decoder_idle(&dec))
                cli_error(x->address, "check the server's log", "the server closed the "
                          "connection without a reply%s", off < total ? " (before taking the "
                          "whole message)" : "");
            else
                cli_error(x->address, "check the server's log", "the server closed the "
                          "connection in the middle of its reply");
            goto out;
        }
        r = take_reply(&dec, buf, (size_t) n, &reply, &have, &reply_len);
        if (r < 0 && errno == EMSGSIZE) {
            cli_error(x->address, "is it speaking another protocol?", "the reply announces "
                      "more than %u bytes", UDS_FRAME_DEFAULT_MAX);
            goto out;
        }
        if (r < 0) {
            code = cli_fail(CLI_OP_EXCHANGE, x->address, errno, NULL);
            goto out;
        }
    }
    if (write_all(STDOUT_FILENO, reply, reply_len) < 0 && errno != EPIPE) {
        cli_error("stdout", "check where the output goes", "cannot write: %s", strerror(errno));
        goto out;
    }
    code = EX_OK;
out:
    free(reply);
    return code;
}

/* The message: the words joined, or all of stdin where it must go whole (one seqpacket or
 * dgram message, one frame); NULL on a stream without words, which relays stdin as it
 * comes. Returns CLI_CONTINUE, or the exit code of a failure it has reported. */
static int take_message(char **words, int n_words, bool no_newline,
                        const struct uds_connect_opts *opts, bool framed, const char *address,
                        char **ret_msg, size_t *ret_len) {
    *ret_msg = NULL;
    *ret_len = 0;
    if (n_words > 0) {
        *ret_msg = join_message(words, n_words, no_newline, ret_len);
        return *ret_msg ? CLI_CONTINUE : cli_fail(CLI_OP_ANY, address, errno, NULL);
    }
    if (opts->type == UDS_STREAM && !framed)
        return CLI_CONTINUE;
    size_t max = framed ? UDS_FRAME_DEFAULT_MAX : SEND_MAX_MESSAGE;
    *ret_msg = read_all_stdin(max, ret_len);
    if (*ret_msg)
        return CLI_CONTINUE;
    if (errno == EMSGSIZE)
        cli_error("stdin", framed ? "send less" : "send less, or use --type stream",
                  "more than %zu bytes for one message", max);
    else
        cli_error("stdin", "check the input", "cannot read: %s", strerror(errno));
    return CLI_EXIT_FAILURE;
}

/* Connect, send msg (NULL: stdin) and print the reply. Returns an exit code. */
static int connect_and_send(const char *address, const struct uds_connect_opts *opts,
                            bool framed, const char *msg, size_t msg_len) {
    uint64_t start = cli_now_ms();
    int fd = uds_connect(address, opts), code;

    if (fd < 0)
        return cli_exchange_connect_failed(address, opts);
    uint64_t deadline = opts->timeout_ms ? start + (uint64_t) opts->wait_ms +
                                           (uint64_t) opts->timeout_ms : 0;
    if (framed) {
        struct exchange x = {
            .fd = fd,
            .deadline_ms = deadline,
            .timeout_ms = opts->timeout_ms,
            .address = address,
        };
        code = framed_exchange(&x, msg, msg_len);
        (void) close(fd);   /* done with it; a close error cannot change the reply printed */
        return code;
    }
    struct cli_exchange x = {
        .sock = fd,
        .type = opts->type,
        .address = address,
        .message = msg,
        .message_len = msg_len,
        .fd_to_pass = -1,
        .deadline_ms = deadline,
        .timeout_ms = opts->timeout_ms,
        .max_replies = 1,
    };
    return cli_exchange_run(&x);
}

int cmd_send(int argc, char **argv) {
    struct send_args args = { .connect = { .type = UDS_STREAM } };
    struct cli_parsed p;
    char *msg = NULL;
    size_t msg_len = 0;
    int code = cli_parse(&send_cmd, argc, argv, &args, &p);

    if (code != CLI_CONTINUE)
        return code;
    if (args.framed && args.connect.type != UDS_STREAM)
        return cli_usage("send", "--framed is for stream sockets: seqpacket and dgram keep "
                         "message boundaries themselves; drop --framed or --type");
    cli_log_setup(args.verbosity, false);
    cli_exchange_hold_stdio();
    args.connect.flags = args.framed ? UDS_CONNECT_NONBLOCK : 0u;
    code = take_message(p.operands + 1, p.n_operands - 1, args.no_newline, &args.connect,
                        args.framed, p.operands[0], &msg, &msg_len);
    if (code == CLI_CONTINUE)
        code = connect_and_send(p.operands[0], &args.connect, args.framed, msg, msg_len);
    free(msg);
    return code;
}
