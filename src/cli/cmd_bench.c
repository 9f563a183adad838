/* SPDX-License-Identifier: MIT */
/*
 * cmd_bench.c — `uds bench [OPTIONS] [ADDRESS]`: options and dispatch to the two modes
 * (bench_transports.c without an address, bench_load.c with one, its requests and replies
 * told by bench_reply.c when the server is not an echo server).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_load.h"
#include "bench_reply.h"
#include "bench_transports.h"
#include "bench_util.h"
#include "cli.h"
#include "options.h"

#define DEFAULT_CONNS 16
#define DEFAULT_SIZE 64
#define SIZE_NOT_GIVEN SIZE_MAX
#define DEFAULT_REQUESTS 100000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_CELL_MS 200

struct bench_args {
    struct bench_load_args la;
    struct bench_transport_args ta;
    long conns, pipeline, requests;
    int duration_ms;
    struct cli_sizes sizes, write_sizes;
    const char *cpu;
    const char *request_text, *expect_text, *until_text;   /* as given, with escapes */
    struct bench_bytes request, expect, until;                  /* decoded */
    size_t reply_size;
    struct bench_reply reply;
    bool json, quiet;
    const char *load_only;          /* the last option given that needs an ADDRESS */
    const char *transports_only;    /* ... that is for the table, without one */
};

static const struct cli_word transports[] = {
    { "stream", BENCH_UNIX_STREAM }, { "seqpacket", BENCH_UNIX_SEQPACKET },
    { "dgram", BENCH_UNIX_DGRAM }, { "tcp", BENCH_TCP }, { "pipe", BENCH_PIPE }, { NULL, 0 },
};

#define B struct bench_args
#define LOAD CLI_SEEN(B, load_only)
#define BYTES(f) CLI_STRING(B, f), LOAD
#define TABLE CLI_SEEN(B, transports_only)
static const struct cli_command bench_cmd = {
    .name = "bench",
    .synopsis = "[OPTIONS] [ADDRESS]",
    .help_col = 26,
    .operands = { .names = "ADDRESS", .max = 1 },
    .intro =
        "Without ADDRESS: measure this machine's local transports side by side (Unix\n"
        "stream, seqpacket and dgram, TCP loopback with TCP_NODELAY, a pair of pipes)\n"
        "between two processes pinned to two CPUs: round-trip latency (p50/p99) and round\n"
        "trips per second by message size, bulk throughput by write size, and connections\n"
        "made, accepted and closed per second.\n"
        "\n"
        "With ADDRESS: load an echo server from one thread over many connections, check\n"
        "every byte that comes back, and report requests/s, MB/s and latency percentiles.\n"
        "For a server that is not an echo server, give the request's bytes (--request)\n"
        "and how to tell its reply: its exact bytes (--expect), the bytes it ends with\n"
        "(--reply-until) or its length (--reply-size); every reply is still checked.\n"
        "ADDRESS is a path, @abstract, unix:PATH, unix:@name or tcp:HOST:PORT.\n",
    .outro =
        "With ADDRESS, each reply must be the request's bytes, in order, or what the\n"
        "reply options say; a mismatch, a byte that comes while no request is out, a\n"
        "connection the server closes, or no reply within --timeout counts as an error.\n"
        "MB/s counts payload bytes one way (1 MB = 10^6 bytes). Latency runs from sending\n"
        "a request to the last byte of its reply (--reconnect: from connecting). With\n"
        "--reconnect -s 0 the rate is taken over the second half of the run, once the\n"
        "server's backlog is full and each connect waits for an accept.\n"
        "\n"
        "Exit status: 0 done without errors, 1 failure or any error, 64 usage error,\n"
        "69 no server (no such socket, or a stale one), 75 timeout, 77 permission denied.\n",
    .opts = (const struct cli_opt[]){
        CLI_SECTION("Load (with ADDRESS):"),
        { "--connections", 'c', "N", CLI_LONG(B, conns, 1, 1000000), LOAD, .example = "16",
          .help = "connections at once (default 16)" },
        { "--pipeline", 'P', "N", CLI_LONG(B, pipeline, 1, 65536), LOAD, .example = "16",
          .help = "requests in flight on each connection (default 1)" },
        { "--size", 's', "BYTES", CLI_SIZE(B, la.size, 0, 1L << 30), LOAD, .example = "16K",
          .help = "payload bytes per request, K/M suffixes (default 64)" },
        { "--requests", 'n', "N", CLI_LONG(B, requests, 1, LONG_MAX), LOAD,
          .what = "a positive number", .example = "100000",
          .help = "stop after N replies (default 100000)" },
        { "--duration", 'd', "SECONDS", CLI_DURATION(B, duration_ms, 1), .example = "5",
          .help = "run for SECONDS instead of -n" },
        { "--request", 0, "BYTES", BYTES(request_text), .example = "'PING\\r\\n'",
          .help = "send these bytes as each request, for a server that\n"
                  "is not an echo server; escapes \\r \\n \\t \\0 \\e \\\\\n"
                  "\\xHH. Each reply is these bytes again, unless:" },
        { "--expect", 0, "BYTES", BYTES(expect_text), .example = "'+PONG\\r\\n'",
          .help = "each reply is exactly these bytes (escapes allowed)" },
        { "--reply-until", 0, "BYTES", BYTES(until_text), .example = "'\\n'",
          .help = "each reply ends with these bytes (at most 64,\n"
                  "escapes allowed; a reply of at most 16 MiB)" },
        { "--reply-size", 0, "BYTES", CLI_SIZE(B, reply_size, 1, 1L << 30), LOAD,
          .example = "7", .help = "each reply is this many bytes, K/M suffixes" },
        { "--framed", 0, NULL, CLI_FLAG(B, la.framed), LOAD,
          .help = "send each request as a length-prefixed message (4-byte\n"
                  "big-endian length, then the payload), for a server in\n"
                  "message mode; seqpacket and dgram packets are messages\n"
                  "already" },
        CLI_OPT_TYPE(B, la.type, "stream (default), seqpacket or dgram: a request is one\n"
                                 "packet", LOAD),
        { "--reconnect", 0, NULL, CLI_FLAG(B, la.reconnect), LOAD,
          .help = "a new connection for every request: connections per\n"
                  "second (with -s 0: connect and close, nothing sent)" },
        CLI_OPT_TIMEOUT(B, la.timeout_ms, "give up connecting, or waiting for any reply, after\n"
                                          "SECONDS (default 10)", LOAD),
        { "--cpu", 0, "N", CLI_STRING(B, cpu), .help = "run the load generator on CPU N" },
        CLI_SECTION("Transports (without ADDRESS):"),
        CLI_AGAIN("--duration", NULL, "time spent on each figure (default 0.2)"),
        { "--sizes", 0, "LIST", CLI_SIZES(B, sizes, 1, 1L << 20), TABLE, .example = "1,64,1K",
          .help = "round-trip message sizes (default 1,64,1K,16K)" },
        { "--write-sizes", 0, "LIST", CLI_SIZES(B, write_sizes, 1, 64L << 20), TABLE,
          .example = "4K,64K", .help = "bulk write sizes (default 4K,16K,64K,256K,1M)" },
        { "--transports", 0, "LIST", CLI_WORD_SET(B, ta.transports, transports), TABLE,
          .what = "a list of transports",
          .example = "stream,tcp (stream, seqpacket, dgram, tcp, pipe)",
          .help = "some of stream,seqpacket,dgram,tcp,pipe (default all)" },
        CLI_AGAIN("--cpu", "S,C", "the echoing peer on CPU S, the client on CPU C (default:\n"
                                  "the first two CPUs this process may use; S,S shares\n"
                                  "one core); --cpu none leaves it to the scheduler"),
        CLI_SECTION("Output:"),
        { "--json", 0, NULL, CLI_FLAG(B, json), .help = "print one JSON object on stdout" },
        { "--quiet", 'q', NULL, CLI_FLAG(B, quiet), .help = "no progress line on a terminal" },
        CLI_END,
    },
};
#undef BYTES
#undef TABLE
#undef LOAD
#undef B

/* "none", "N", or "S,C". */
static int parse_cpus(const char *text, int *ret_a, int *ret_b, bool *ret_pinned) {
    long a, b;
    char first[32];
    const char *comma = strchr(text, ',');

    if (strcmp(text, "none") == 0) {
        *ret_pinned = false;
        *ret_a = *ret_b = -1;
        return 0;
    }
    if (!comma) {
        if (cli_parse_long(text, 0, CPU_SETSIZE - 1, &a) < 0)
            return -1;
        *ret_a = *ret_b = (int) a;
        *ret_pinned = true;
        return 0;
    }
    if ((size_t) (comma - text) >= sizeof(first))
        return -1;
    memcpy(first, text, (size_t) (comma - text));
    first[comma - text] = '\0';
    if (cli_parse_long(first, 0, CPU_SETSIZE - 1, &a) < 0 ||
        cli_parse_long(comma + 1, 0, CPU_SETSIZE - 1, &b) < 0)
        return -1;
    *ret_a = (int) a;
    *ret_b = (int) b;
    *ret_pinned = true;
    return 0;
}

_Static_assert(CLI_MAX_SIZES <= BENCH_MAX_SIZES, "a list of sizes fits the transports'");

/* Without an ADDRESS: the transports table. */
static int run_transports(struct bench_args *a) {
    struct bench_transport_args *ta = &a->ta;
    int first, second, n;

    if (a->load_only)
        return cli_usage("bench", "%s needs an ADDRESS to load; e.g. uds bench %s ... "
                         "/run/app.sock", a->load_only, a->load_only);
    n = bench_cpus(&first, &second);
    ta->pinned = true;
    ta->server_cpu = first;
    ta->client_cpu = n > 1 ? second : first;
    if (a->cpu && parse_cpus(a->cpu, &ta->server_cpu, &ta->client_cpu, &ta->pinned) < 0)
        return cli_usage("bench", "--cpu: '%s' is not S,C (two CPU numbers) or none; "
                         "e.g. --cpu 0,1", a->cpu);
    if (!ta->pinned)
        ta->server_cpu = ta->client_cpu = -1;
    if (a->sizes.n) {
        memcpy(ta->sizes, a->sizes.v, a->sizes.n * sizeof(a->sizes.v[0]));
        ta->n_sizes = a->sizes.n;
    }
    if (a->write_sizes.n) {
        memcpy(ta->write_sizes, a->write_sizes.v, a->write_sizes.n * sizeof(a->sizes.v[0]));
        ta->n_write_sizes = a->write_sizes.n;
    }
    if (a->duration_ms)
        ta->duration_ms = a->duration_ms;
    ta->json = a->json;
    ta->quiet = a->quiet;
    return bench_transports_run(ta);
}

/* The reply options given, to name them in messages: how many, and the first. */
static int reply_options(const struct bench_args *a, const char **ret_first) {
    int n = (a->expect.p != NULL) + (a->until.p != NULL) + (a->reply_size > 0);

    *ret_first = a->expect.p ? "--expect" : a->until.p ? "--reply-until" : "--reply-size";
    return n;
}

/* The bytes of --request, --expect or --reply-until, escapes decoded. Returns 0, or -1
 * after printing the usage error. */
static int decode(const char *name, const char *text, const char *example,
                  struct bench_bytes *ret) {
    char why[256];

    if (!text || bench_bytes_parse(text, ret, why, sizeof(why)) == 0)
        return 0;
    cli_usage("bench", "%s: '%s' is %s; e.g. %s %s", name, text, why, name, example);
    return -1;
}

/* --request and how to tell its reply (by default, the same bytes back). Returns
 * CLI_CONTINUE, or the exit code. */
static int check_request(struct bench_args *a, bool size_given) {
    struct bench_load_args *la = &a->la;
    const char *opt;
    int n;

    if (decode("--request", a->request_text, "'PING\\r\\n'", &a->request) < 0 ||
        decode("--expect", a->expect_text, "'+PONG\\r\\n'", &a->expect) < 0 ||
        decode("--reply-until", a->until_text, "'\\r\\n'", &a->until) < 0)
        return EX_USAGE;
    n = reply_options(a, &opt);

    if (!a->request.p)
        return n == 0 ? CLI_CONTINUE : cli_usage("bench", "%s needs --request, the bytes to "
                                                 "send; e.g. --request 'PING\\r\\n' --expect "
                                                 "'+PONG\\r\\n'", opt);
    if (n > 1)
        return cli_usage("bench", "--expect, --reply-until and --reply-size: give one of them");
    if (a->request.len == 0 || (a->expect.p && a->expect.len == 0) ||
        (a->until.p && a->until.len == 0))
        return cli_usage("bench", "%s: no bytes; e.g. --request 'PING\\r\\n'",
                         a->request.len == 0 ? "--request" : opt);
    if (size_given)
        return cli_usage("bench", "-s and --request: a request is as long as its bytes");
    if (la->framed)
        return cli_usage("bench", "--framed and --request: write the frame's header in the "
                         "request, e.g. --request '\\x00\\x00\\x00\\x02hi', and tell its "
                         "reply with --reply-size");
    if (a->until.len > BENCH_DELIM_MAX)
        return cli_usage("bench", "--reply-until: %zu bytes; give at most %d", a->until.len,
                         BENCH_DELIM_MAX);
    if (a->expect.p)
        bench_reply_init(&a->reply, BENCH_REPLY_EXACT, a->expect.p, a->expect.len, 0);
    else if (a->until.p)
        bench_reply_init(&a->reply, BENCH_REPLY_UNTIL, a->until.p, a->until.len, 0);
    else if (a->reply_size)
        bench_reply_init(&a->reply, BENCH_REPLY_SIZE, NULL, 0, a->reply_size);
    else
        bench_reply_init(&a->reply, BENCH_REPLY_EXACT, a->request.p, a->request.len, 0);
    la->request = a->request.p;
    la->size = a->request.len;
    la->reply = &a->reply;
    return CLI_CONTINUE;
}

/* With an ADDRESS: the options of a load, and those that do not go together. Returns
 * CLI_CONTINUE, or the exit code. */
static int check_load(struct bench_args *a) {
    struct bench_load_args *la = &a->la;
    long cpu;

    if (a->transports_only)
        return cli_usage("bench", "%s is for the transports table, without an ADDRESS",
                         a->transports_only);
    la->conns = (size_t) a->conns;
    la->pipeline = (size_t) a->pipeline;
    la->requests = (uint64_t) a->requests;
    la->duration_ms = a->duration_ms;
    la->json = a->json;
    la->quiet = a->quiet;
    bool size_given = la->size != SIZE_NOT_GIVEN;
    if (!size_given)
        la->size = DEFAULT_SIZE;
    int code = check_request(a, size_given);
    if (code != CLI_CONTINUE)
        return code;
    if (uds_addr_parse(la->address, UDS_ADDR_ALLOW_TCP, &la->addr) < 0)
        return cli_fail(CLI_OP_CONNECT, la->address, errno, NULL);
    if (la->addr.kind == UDS_ADDR_TCP && la->type != UDS_STREAM)
        return cli_usage("bench", "--type %s: a tcp: address is a stream",
                         uds_socket_type_name(la->type));
    if (la->requests && la->duration_ms)
        return cli_usage("bench", "-n and -d: give one of them");
    if (!la->requests && !la->duration_ms)
        la->requests = DEFAULT_REQUESTS;
    if (la->size == 0 && !la->reconnect)
        return cli_usage("bench", "--size 0: an echo needs bytes; e.g. -s 64 (or --reconnect "
                         "-s 0 to only connect and close)");
    if (la->size == 0 && la->type != UDS_STREAM)
        return cli_usage("bench", "--size 0: an empty packet cannot be told from the end; "
                         "e.g. -s 1");
    if (la->reconnect && la->pipeline > 1)
        return cli_usage("bench", "--reconnect sends one request per connection; drop -P");
    if (la->framed && la->size > UDS_FRAME_DEFAULT_MAX)
        return cli_usage("bench", "--framed: -s over %u bytes is over a server's default "
                         "largest message", UDS_FRAME_DEFAULT_MAX);
    if (a->cpu && cli_parse_long(a->cpu, 0, CPU_SETSIZE - 1, &cpu) < 0)
        return cli_usage("bench", "--cpu: '%s' is not a CPU number; e.g. --cpu 1", a->cpu);
    if (a->cpu)
        la->cpu = (int) cpu;
    return CLI_CONTINUE;
}

int cmd_bench(int argc, char **argv) {
    struct bench_args a = {
        .la = {
            .type = UDS_STREAM,
            .size = SIZE_NOT_GIVEN,     /* DEFAULT_SIZE, once -s is known not to be given */
            .timeout_ms = DEFAULT_TIMEOUT_MS,
            .cpu = -1,
        },
        .ta = {
            .transports = (1u << BENCH_N_TRANSPORTS) - 1,
            .sizes = { 1, 64, 1024, 16 * 1024 },
            .n_sizes = 4,
            .write_sizes = { 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20 },
            .n_write_sizes = 5,
            .duration_ms = DEFAULT_CELL_MS,
        },
        .conns = DEFAULT_CONNS,
        .pipeline = 1,
    };
    struct cli_parsed p;
    int code = cli_parse(&bench_cmd, argc, argv, &a, &p);

    if (code == CLI_CONTINUE && p.n_operands == 0) {
        code = run_transports(&a);
    } else if (code == CLI_CONTINUE) {
        a.la.address = p.operands[0];
        code = check_load(&a);
        if (code == CLI_CONTINUE)
            code = bench_load_run(&a.la);
    }
    bench_bytes_free(&a.request);
    bench_bytes_free(&a.expect);
    bench_bytes_free(&a.until);
    return code;
}
