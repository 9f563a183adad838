/* SPDX-License-Identifier: MIT */
/*
 * cmd_connect.c — `uds connect`: stdin to a Unix socket and the socket to stdout, like
 * `nc -U`, and the relay that does it (shared with `uds send`). Connecting is the
 * library's job; this file only moves bytes and explains failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

#define RELAY_BUF (64 * 1024)

struct connect_args {
    enum uds_socket_type type;
    int timeout_ms;
    int wait_ms;
    int verbosity;
    const char *send_fd;
    const char *address;
};

#define C struct connect_args
static const struct cli_command connect_cmd = {
    .name = "connect",
    .synopsis = "[OPTIONS] ADDRESS",
    .help_col = 25,
    .operands = { .names = "ADDRESS", .min = 1, .max = 1, .example = "uds connect /run/app.sock" },
    .intro =
        "Connect stdin and stdout to the Unix socket at ADDRESS, like 'nc -U': what is read\n"
        "from stdin is sent, what arrives is written to stdout. At the end of stdin the\n"
        "sending side is shut down and output continues until the server closes.\n",
    .outro =
        "SECONDS may have decimals (0.5). ADDRESS is a path, @abstract, unix:PATH or\n"
        "unix:@name.\n"
        "\n"
        "Exit status: 0 done, 1 failure, 64 usage error, 66 cannot open --send-fd FILE,\n"
        "69 no server (no such socket, or a stale one), 75 timeout, 77 permission denied.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Options:"),
        CLI_OPT_TYPE(C, type, "stream (default), seqpacket or dgram; with seqpacket and\n"
                              "dgram each read of stdin (up to 64 KiB) is one message"),
        CLI_OPT_TIMEOUT(C, timeout_ms, "give up connecting after SECONDS (exit 75); dgram: how\n"
                                       "long to wait for replies after stdin ends (default 1)"),
        CLI_OPT_WAIT(C, wait_ms),
        { "--send-fd", 0, "FILE", CLI_STRING(C, send_fd),
          .help = "open FILE read-only and pass its descriptor (SCM_RIGHTS)\n"
                  "with the first bytes sent; with empty stdin it goes\n"
                  "with a single NUL byte" },
        CLI_OPT_QUIET(C, verbosity, "print errors only"),
        CLI_END,
    },
};
#undef C

/* Write some of what is pending for stdout. Returns 0, or -1 with errno (EPIPE: the reader
 * left). */
static int relay_write_out(int fd, const char *buf, size_t *off, size_t *len) {
    ssize_t n = write(fd, buf + *off, *len);

    if (n > 0) {
        *off += (size_t) n;
        *len -= (size_t) n;
        return 0;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    return -1;
}

int cli_relay_run(const struct cli_relay *r) {
    char ibuf[RELAY_BUF], obuf[RELAY_BUF];
    const char *ip = r->in_buf;
    size_t ilen = 0, olen = 0, ooff = 0, sent = 0, got = 0;
    bool msgs = r->type != UDS_STREAM, dgram = r->type == UDS_DGRAM;
    bool in_done = false, have_in = false, shut = false, sock_eof = false, lost = false;
    bool fd_pending = r->pass_fd;
    uint64_t linger_until = 0;
    struct cli_fail_info info = { .timeout_ms = r->timeout_ms };

    if (r->in_fd < 0) {
        ilen = r->in_len;
        /* A message socket sends the given input as one message, even an empty one. */
        have_in = ilen > 0 || msgs;
        in_done = true;
    }
    for (;;) {
        struct pollfd p[3];
        int n = 0, i_in = -1, i_sock = -1, i_out = -1, timeout = -1;
        uint64_t now = cli_now_ms();

        /* Ancillary data needs at least one byte to ride on (on a stream, a sendmsg of no
         * bytes sends nothing at all): with no input, the fd goes with a NUL byte. */
        if (in_done && !have_in && fd_pending && !shut) {
            ip = "";
            ilen = 1;
            have_in = true;
        }
        if (in_done && !have_in && !shut) {
            shut = true;
            if (!dgram && shutdown(r->sock, SHUT_WR) < 0 && errno != ENOTCONN)
                return cli_fail(CLI_OP_EXCHANGE, r->address, errno, NULL);
            linger_until = now + (uint64_t) r->linger_ms;
        }
        if (olen == 0) {
            if (!dgram && sock_eof)
                break;
            if (dgram && r->max_replies > 0 && got >= r->max_replies)
                break;
            if (dgram && shut && r->max_replies == 0 && got >= sent)
                break;
            if (dgram && shut && r->linger_ms > 0 && now >= linger_until)
                break;
        }
        if (r->deadline_ms) {
            if (now >= r->deadline_ms)
                return cli_fail(CLI_OP_EXCHANGE, r->address, ETIMEDOUT, &info);
            timeout = (int) (r->deadline_ms - now);
        }
        if (dgram && shut && r->linger_ms > 0) {
            int left = linger_until > now ? (int) (linger_until - now) : 0;
            if (timeout < 0 || left < timeout)
                timeout = left;
        }

        if (!in_done && !have_in) {
            p[n] = (struct pollfd){ .fd = r->in_fd, .events = POLLIN };
            i_in = n++;
        }
        short sock_events = (short) ((have_in ? POLLOUT : 0) |
                                     (!sock_eof && olen == 0 ? POLLIN : 0));
        /* With nothing to ask of the socket, leave it out: a hung-up socket would
         * otherwise wake poll() at once, again and again. */
        if (sock_events) {
            p[n] = (struct pollfd){ .fd = r->sock, .events = sock_events };
            i_sock = n++;
        }
        if (olen > 0) {
            p[n] = (struct pollfd){ .fd = r->out_fd, .events = POLLOUT };
            i_out = n++;
        }
        int ready = poll(p, (nfds_t) n, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            return cli_fail(CLI_OP_EXCHANGE, r->address, errno, NULL);
        }
        if (ready == 0)
            continue;

        if (i_in >= 0 && p[i_in].revents) {
            ssize_t got_in = read(r->in_fd, ibuf, sizeof(ibuf));
            if (got_in > 0) {
                ip = ibuf;
                ilen = (size_t) got_in;
                have_in = true;
            } else if (got_in == 0 || (p[i_in].revents & POLLNVAL)) {
                in_done = true;
            } else if (errno != EINTR && errno != EAGAIN) {
                cli_error("stdin", "check the input", "cannot read: %s", strerror(errno));
                return CLI_EXIT_FAILURE;
            }
        }

        short rev = i_sock >= 0 ? p[i_sock].revents : 0;
        if (have_in && (rev & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w;
            if (fd_pending) {
                /* The whole first chunk with the fd (one message, or on a stream bytes
                 * that fit in an empty socket buffer); may block briefly, once. */
                w = uds_send_fds(r->sock, ip, ilen, &r->fd_to_pass, 1);
                if (w >= 0)
                    fd_pending = false;
            } else {
                w = send(r->sock, ip, ilen, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            if (w >= 0) {
                if (msgs) {
                    /* seqpacket and dgram sends are all or nothing. */
                    ilen = 0;
                    sent++;
                } else {
                    ip += w;
                    ilen -= (size_t) w;
                }
                have_in = ilen > 0;
            } else if (errno == EPIPE || errno == ECONNRESET) {
                /* The server stopped reading: keep what it still sends us, report at the
                 * end that input was left over. */
                lost = true;
                have_in = false;
                in_done = true;
                shut = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return cli_fail(CLI_OP_EXCHANGE, r->address, errno, NULL);
            }
        }
        if (!sock_eof && olen == 0 && (rev & (POLLIN | POLLERR | POLLHUP))) {
            ssize_t got_out = recv(r->sock, obuf, sizeof(obuf),
                                   MSG_DONTWAIT | (msgs ? MSG_TRUNC : 0));
            if (got_out > 0 || (got_out == 0 && dgram)) {
                if ((size_t) got_out > sizeof(obuf)) {
                    cli_log(CLI_LOG_WARN, "truncated", r->address, NULL, 0,
                            "%s: a %zd-byte message was cut to %zu bytes", r->address,
                            got_out, sizeof(obuf));
                    got_out = (ssize_t) sizeof(obuf);
                }
                olen = (size_t) got_out;
                ooff = 0;
                if (msgs)
                    got++;
                linger_until = cli_now_ms() + (uint64_t) r->linger_ms;
            } else if (got_out == 0) {
                /* On seqpacket an empty message reads as 0 too; it is taken for the end,
                 * which is what a server that closes after its replies sends. */
                sock_eof = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return cli_fail(CLI_OP_EXCHANGE, r->address, errno, NULL);
            }
        }
        if (i_out >= 0 && p[i_out].revents && olen > 0 &&
            relay_write_out(r->out_fd, obuf, &ooff, &olen) < 0) {
            if (errno == EPIPE)
                return EX_OK;   /* whoever reads our output has seen enough (| head) */
            cli_error("stdout", "check where the output goes", "cannot write: %s",
                      strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        /* A chunk that arrived while stdout was not polled yet: try it now. */
        if (olen > 0 && i_out < 0 && relay_write_out(r->out_fd, obuf, &ooff, &olen) < 0) {
            if (errno == EPIPE)
                return EX_OK;
            cli_error("stdout", "check where the output goes", "cannot write: %s",
                      strerror(errno));
            return CLI_EXIT_FAILURE;
        }
    }
    if (lost)
        return cli_fail(CLI_OP_EXCHANGE, r->address, EPIPE, NULL);
    return EX_OK;
}

int cmd_connect(int argc, char **argv) {
    struct connect_args args = { .type = UDS_STREAM };
    struct cli_parsed p;
    int fd, file = -1, code = cli_parse(&connect_cmd, argc, argv, &args, &p);

    if (code != CLI_CONTINUE)
        return code;
    args.address = p.operands[0];
    cli_log_setup(args.verbosity, false);

    if (args.send_fd) {
        /* Read-only: the receiver gets no more than it needs to read the file. */
        file = open(args.send_fd, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        if (file < 0) {
            int e = errno;
            cli_error(args.send_fd, "check the --send-fd FILE", "cannot open: %s",
                      strerror(e));
            return e == EACCES || e == EPERM ? EX_NOPERM : EX_NOINPUT;
        }
    }
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
        if (file >= 0)
            (void) close(file);     /* never sent: nothing to report about it */
        return code;
    }
    struct cli_relay relay = {
        .sock = fd,
        .type = args.type,
        .in_fd = STDIN_FILENO,
        .out_fd = STDOUT_FILENO,
        .linger_ms = args.timeout_ms ? args.timeout_ms : 1000,
        .address = args.address,
        .pass_fd = file >= 0,
        .fd_to_pass = file,
    };
    code = cli_relay_run(&relay);
    (void) close(fd);   /* nothing more to say about a socket we are done with */
    if (file >= 0)
        (void) close(file);     /* the receiver has its own copy */
    return code;
}
