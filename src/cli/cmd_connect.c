/* SPDX-License-Identifier: MIT */
/*
 * cmd_connect.c — `uds connect`: stdin to a Unix socket and the socket to stdout, like
 * `nc -U`, and the exchange that does it (shared with `uds send`). Connecting and moving
 * the bytes are the library's jobs (uds_connect, uds_relay_new2); this file sets them up,
 * waits on a uds_loop, and explains failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

#define MESSAGE_MAX (64u * 1024)

struct connect_args {
    struct uds_connect_opts connect;    /* --type, --timeout, --wait */
    int verbosity;
    const char *send_fd;
};

#define C struct connect_args
static const struct cli_command connect_cmd = {
    .name = "connect",
    .synopsis = "[OPTIONS] ADDRESS [-- PROGRAM [ARG...]]",
    .help_col = 25,
    .operands = { .names = "ADDRESS", .min = 1, .max = 1, .example = "uds connect /run/app.sock",
                  .extra_hint = "to run a program on the connection: uds connect ADDRESS -- "
                                "PROGRAM",
                  .rest_after_dashdash = true },
    .intro =
        "Connect stdin and stdout to the Unix socket at ADDRESS, like 'nc -U': what is read\n"
        "from stdin is sent, what arrives is written to stdout. At the end of stdin the\n"
        "sending side is shut down and output continues until the server closes.\n"
        "\n"
        "With -- PROGRAM, run PROGRAM on the connection instead, as ucspi-unix's\n"
        "unixclient does (UCSPI): it reads the connection on fd 6 and writes it on fd 7,\n"
        "with PROTO=UNIX, UNIXLOCALPATH (ADDRESS), UNIXLOCALUID, UNIXLOCALGID,\n"
        "UNIXLOCALPID, UNIXREMOTEPATH, UNIXREMOTEPID, UNIXREMOTEEUID and UNIXREMOTEEGID\n"
        "(the server's, from SO_PEERCRED) in its environment; its stdin and stdout stay\n"
        "ours. PROGRAM replaces uds: its exit status is the command's.\n",
    .outro =
        CLI_EXCHANGE_OUTRO_START
        "Exit status: 0 done, 1 failure, 64 usage error, 66 cannot open --send-fd FILE,\n"
        "69 no server (no such socket, or a stale one), 75 timeout, 77 permission denied.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Options:"),
        CLI_OPTS_CONNECT(C, connect,
                         "stream (default), seqpacket or dgram; with seqpacket and\n"
                         "dgram each read of stdin (up to 64 KiB) is one message",
                         "give up connecting after SECONDS (exit 75); dgram: how\n"
                         "long to wait for replies after stdin ends (default 1)"),
        { "--send-fd", 0, "FILE", CLI_STRING(C, send_fd),
          .help = "open FILE read-only and pass its descriptor (SCM_RIGHTS)\n"
                  "with the first bytes sent; with empty stdin it goes\n"
                  "with a single NUL byte" },
        CLI_OPT_QUIET(C, verbosity, "print errors only"),
        CLI_END,
    },
};
#undef C

int cli_exchange_stdio_code(const struct uds_relay_info *info) {
    int err = info->error;

    if (!info->error_writing) {
        cli_error("stdin", "check the input", "cannot read: %s", strerror(err));
        return CLI_EXIT_FAILURE;
    }
    if (err == EPIPE)
        return EX_OK;   /* whoever reads our output has seen enough (| head) */
    cli_error("stdout", "check where the output goes", "cannot write: %s", strerror(err));
    return CLI_EXIT_FAILURE;
}

void cli_exchange_hold_stdio(void) {
    for (int fd = STDIN_FILENO; fd <= STDOUT_FILENO; fd++) {
        int mode = fd == STDIN_FILENO ? O_RDONLY : O_WRONLY;
        /* open() takes the lowest free number: this one. Nothing to do if it fails: the
         * relay then refuses the socket's own number for stdin or stdout (EINVAL). */
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
            (void) open("/dev/null", mode | O_NOCTTY | O_CLOEXEC);
    }
}

/* The outcome of the relay, filled in by its on_close. */
struct outcome {
    bool done;
    bool late;          /* the deadline passed first */
    struct uds_relay_info info;
};

static void on_relay_close(struct uds_relay *relay, const struct uds_relay_info *info,
                           void *data) {
    struct outcome *o = data;

    (void) relay;
    o->info = *info;
    o->done = true;
}

static void on_deadline(struct uds_loop *loop, uint64_t timer_id, void *data) {
    struct outcome *o = data;

    (void) loop;
    (void) timer_id;
    o->late = true;
}

/* Bytes in flight each way, and on seqpacket and dgram the largest message: each read of
 * stdin is one message of up to 64 KiB, and longer replies are cut there. A message given
 * whole must fit too. */
static size_t buffer_for(const struct cli_exchange *x) {
    size_t size = x->type == UDS_STREAM ? (256u << 10) : MESSAGE_MAX;

    return x->message_len > size ? x->message_len : size;
}

/* The exit code for how the relay ended; prints what went wrong. */
static int exchange_code(const struct cli_exchange *x, const struct uds_relay_info *info,
                         size_t max) {
    int err = info->error;

    if (info->messages_cut > 0)
        cli_log(CLI_LOG_WARN, "truncated", x->address, NULL, 0,
                "%s: %" PRIu64 " message%s longer than %zu bytes cut to that length",
                x->address, info->messages_cut, info->messages_cut == 1 ? "" : "s", max);
    if (!err)
        return EX_OK;
    if (info->error_side == UDS_RELAY_A)
        return cli_exchange_stdio_code(info);
    /* The server stopped reading: what it still sent was printed, input was left over. */
    if (info->error_side == UDS_RELAY_B && info->error_writing && err == ECONNRESET)
        err = EPIPE;
    return cli_fail(CLI_OP_EXCHANGE, x->address, err, NULL);
}

/* Start the relay: stdin (or the message) to the socket, the socket to stdout. */
static struct uds_relay *exchange_start(struct uds_relay_group *group,
                                        const struct cli_exchange *x, struct outcome *o) {
    const struct uds_relay_args args = {
        .fd_a_in = x->message ? -1 : STDIN_FILENO,
        .fd_a_out = STDOUT_FILENO,
        .fd_b = x->sock,
        .prefix = x->message,
        .prefix_len = x->message_len,
        .fds_to_pass = x->fd_to_pass >= 0 ? &x->fd_to_pass : NULL,
        .n_fds_to_pass = x->fd_to_pass >= 0 ? 1 : 0,
        /* stdin and stdout stay ours (and blocking, for whoever shares them); the server's
         * end is the end, even while a terminal's input goes on. */
        .flags = UDS_RELAY_BORROW_A | UDS_RELAY_END_WITH_B,
        .max_replies = x->max_replies,
        .linger_ms = x->linger_ms,
    };

    return uds_relay_new2(group, &args, on_relay_close, o);
}

int cli_exchange_run(const struct cli_exchange *x) {
    /* One relay has no other writes to batch its own with. */
    const struct uds_relay_opts opts = {
        .buffer_size = buffer_for(x),
        .flags = UDS_RELAY_NO_BATCH,
    };
    struct cli_fail_info info = { .timeout_ms = x->timeout_ms };
    struct uds_loop *loop = uds_loop_new();
    struct uds_relay_group *group = loop ? uds_relay_group_new(loop, &opts) : NULL;
    struct outcome o = { .done = false };
    struct uds_relay *relay = NULL;
    int code;

    if (group)
        relay = exchange_start(group, x, &o);
    else
        (void) close(x->sock);  /* never used: nothing to report about it */
    if (!relay) {
        code = cli_fail(CLI_OP_EXCHANGE, x->address, errno, NULL);
        goto out;
    }
    if (x->deadline_ms) {
        uint64_t now = cli_now_ms();
        if (uds_loop_timer_add(loop, x->deadline_ms > now ? x->deadline_ms - now : 0,
                               on_deadline, &o, NULL) < 0) {
            code = cli_fail(CLI_OP_EXCHANGE, x->address, errno, NULL);
            uds_relay_free(relay);
            goto out;
        }
    }
    while (!o.done && !o.late) {
        if (uds_loop_run_once(loop, -1) < 0) {
            code = cli_fail(CLI_OP_EXCHANGE, x->address, errno, NULL);
            uds_relay_free(relay);
            goto out;
        }
    }
    if (o.done) {
        code = exchange_code(x, &o.info, opts.buffer_size);
    } else {
        uds_relay_free(relay);
        code = cli_fail(CLI_OP_EXCHANGE, x->address, ETIMEDOUT, &info);
    }
out:
    uds_relay_group_free(group);
    uds_loop_free(loop);
    return code;
}

int cli_exchange_connect_failed(const char *address, const struct uds_connect_opts *opts) {
    struct cli_fail_info info = {
        .timeout_ms = opts->timeout_ms ? opts->timeout_ms : opts->wait_ms,
    };

    return cli_fail(CLI_OP_CONNECT, address, errno, &info);
}

/* Open --send-fd FILE, connect, relay. Returns an exit code. */
static int connect_and_relay(const char *address, const struct uds_connect_opts *opts,
                             const char *send_fd) {
    int fd, code, file = -1;

    if (send_fd) {
        /* Read-only: the receiver gets no more than it needs to read the file. */
        file = open(send_fd, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        if (file < 0) {
            int e = errno;
            cli_error(send_fd, "check the --send-fd FILE", "cannot open: %s", strerror(e));
            return e == EACCES || e == EPERM ? EX_NOPERM : EX_NOINPUT;
        }
    }
    fd = uds_connect(address, opts);
    if (fd < 0) {
        code = cli_exchange_connect_failed(address, opts);
        if (file >= 0)
            (void) close(file);     /* never sent: nothing to report about it */
        return code;
    }
    struct cli_exchange x = {
        .sock = fd,
        .type = opts->type,
        .address = address,
        .fd_to_pass = file,
        .linger_ms = opts->timeout_ms ? opts->timeout_ms : 1000,
    };
    code = cli_exchange_run(&x);
    if (file >= 0)
        (void) close(file);     /* the relay took its own copy to pass */
    return code;
}

/* -- PROGRAM: found before connecting (a typo is a usage error, and the server never sees
 * a client that says nothing), then connect and become it. Returns only on failure. */
static int connect_and_exec(const char *address, const struct uds_connect_opts *opts,
                            char **program) {
    char *path = uds_program_find(program[0]);
    int fd, e;

    if (!path && (errno == ENOENT || errno == EACCES))
        return cli_usage("connect", "%s: %s", program[0], errno == EACCES ?
                         "not an executable file" : strchr(program[0], '/') ?
                         "no such program" : "no such program in PATH");
    if (!path)
        return cli_fail(CLI_OP_ANY, address, errno, NULL);
    fd = uds_connect(address, opts);
    if (fd < 0) {
        free(path);
        return cli_exchange_connect_failed(address, opts);
    }
    uds_exec_client(fd, address, program);
    e = errno;
    /* Handing the connection over failed (the socket, the environment), or the program
     * itself could not run. */
    if (e != ENOENT && e != EACCES && e != ENOEXEC && e != ETXTBSY && e != E2BIG) {
        free(path);
        return cli_fail(CLI_OP_ANY, address, e, NULL);
    }
    cli_error(path, "check the program", "cannot run it: %s", strerror(e));
    free(path);
    return e == ENOENT || e == EACCES ? EX_USAGE : CLI_EXIT_FAILURE;
}

int cmd_connect(int argc, char **argv) {
    struct connect_args args = { .connect = { .type = UDS_STREAM } };
    struct cli_parsed p;
    int code = cli_parse(&connect_cmd, argc, argv, &args, &p);

    if (code != CLI_CONTINUE)
        return code;
    if (p.dashdash && p.n_operands < 2)
        return cli_usage("connect", "missing PROGRAM after --; e.g. uds connect %s -- cat",
                         p.operands[0]);
    if (p.dashdash && args.send_fd)
        return cli_usage("connect", "--send-fd does not go with -- PROGRAM: the program does "
                         "the talking");
    cli_log_setup(args.verbosity, false);
    cli_exchange_hold_stdio();
    if (p.dashdash)
        return connect_and_exec(p.operands[0], &args.connect, p.operands + 1);
    return connect_and_relay(p.operands[0], &args.connect, args.send_fd);
}
