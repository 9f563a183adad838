/* SPDX-License-Identifier: MIT */
/*
 * cmd_bench.c — `uds bench [OPTIONS] [ADDRESS]`: options and dispatch to the two modes
 * (bench_transports.c without an address, bench_load.c with one).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_load.h"
#include "bench_transports.h"
#include "bench_util.h"
#include "cli.h"

#define DEFAULT_CONNS 16
#define DEFAULT_SIZE 64
#define DEFAULT_REQUESTS 100000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_CELL_MS 200

static void bench_usage(FILE *out) {
    fprintf(out,
            "Usage: uds bench [OPTIONS] [ADDRESS]\n"
            "\n"
            "Without ADDRESS: measure this machine's local transports side by side (Unix\n"
            "stream, seqpacket and dgram, TCP loopback with TCP_NODELAY, a pair of pipes)\n"
            "between two processes pinned to two CPUs: round-trip latency (p50/p99) and round\n"
            "trips per second by message size, bulk throughput by write size, and connections\n"
            "made, accepted and closed per second.\n"
            "\n"
            "With ADDRESS: load an echo server from one thread over many connections, check\n"
            "every byte that comes back, and report requests/s, MB/s and latency percentiles.\n"
            "ADDRESS is a path, @abstract, unix:PATH, unix:@name or tcp:HOST:PORT.\n"
            "\n"
            "Load (with ADDRESS):\n"
            "  -c, --connections N     connections at once (default 16)\n"
            "  -P, --pipeline N        requests in flight on each connection (default 1)\n"
            "  -s, --size BYTES        payload bytes per request, K/M suffixes (default 64)\n"
            "  -n, --requests N        stop after N replies (default 100000)\n"
            "  -d, --duration SECONDS  run for SECONDS instead of -n\n"
            "      --framed            send each request as a length-prefixed message (4-byte\n"
            "                          big-endian length, then the payload), for a server in\n"
            "                          message mode; seqpacket and dgram packets are messages\n"
            "                          already\n"
            "      --type TYPE         stream (default), seqpacket or dgram: a request is one\n"
            "                          packet\n"
            "      --reconnect         a new connection for every request: connections per\n"
            "                          second (with -s 0: connect and close, nothing sent)\n"
            "      --timeout SECONDS   give up connecting, or waiting for any reply, after\n"
            "                          SECONDS (default 10)\n"
            "      --cpu N             run the load generator on CPU N\n"
            "\n"
            "Transports (without ADDRESS):\n"
            "  -d, --duration SECONDS  time spent on each figure (default 0.2)\n"
            "      --sizes LIST        round-trip message sizes (default 1,64,1K,16K)\n"
            "      --write-sizes LIST  bulk write sizes (default 4K,16K,64K,256K,1M)\n"
            "      --transports LIST   some of stream,seqpacket,dgram,tcp,pipe (default all)\n"
            "      --cpu S,C           the echoing peer on CPU S, the client on CPU C (default:\n"
            "                          the first two CPUs this process may use; S,S shares\n"
            "                          one core); --cpu none leaves it to the scheduler\n"
            "\n"
            "Output:\n"
            "      --json              print one JSON object on stdout\n"
            "  -q, --quiet             no progress line on a terminal\n"
            "  -h, --help              show this help\n"
            "\n"
            "With ADDRESS, each reply must be the request's bytes, in order; a mismatch, a\n"
            "connection the server closes, or no reply within --timeout counts as an error.\n"
            "MB/s counts payload bytes one way (1 MB = 10^6 bytes). Latency runs from sending\n"
            "a request to the last byte of its reply (--reconnect: from connecting). With\n"
            "--reconnect -s 0 the rate is taken over the second half of the run, once the\n"
            "server's backlog is full and each connect waits for an accept.\n"
            "\n"
            "Exit status: 0 done without errors, 1 failure or any error, 64 usage error,\n"
            "69 no server (no such socket, or a stale one), 75 timeout, 77 permission denied.\n");
}

/* ---- options ------------------------------------------------------------------------------ */

/* "1,64,1K": sizes from min to max, at most BENCH_MAX_SIZES of them. */
static int parse_size_list(const char *text, size_t min, size_t max, size_t *out,
                           size_t *ret_n) {
    char item[64];
    size_t n = 0;
    const char *p = text;

    for (;;) {
        size_t len = strcspn(p, ","), v;
        if (len == 0 || len >= sizeof(item) || n == BENCH_MAX_SIZES)
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        if (cli_parse_size(item, &v) < 0 || v < min || v > max)
            return -1;
        out[n++] = v;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *ret_n = n;
    return 0;
}

static int parse_transports(const char *text, unsigned *ret) {
    static const char *const names[BENCH_N_TRANSPORTS] = {
        "stream", "seqpacket", "dgram", "tcp", "pipe",
    };
    unsigned set = 0;
    const char *p = text;

    for (;;) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int t = 0; t < BENCH_N_TRANSPORTS; t++)
            if (strlen(names[t]) == len && strncmp(p, names[t], len) == 0)
                found = t;
        if (found < 0)
            return -1;
        set |= 1u << found;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *ret = set;
    return 0;
}

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

int cmd_bench(int argc, char **argv) {
    enum {
        OPT_FRAMED = 256, OPT_TYPE, OPT_RECONNECT, OPT_TIMEOUT, OPT_CPU, OPT_SIZES,
        OPT_WRITE_SIZES, OPT_TRANSPORTS, OPT_JSON,
    };
    static const struct option longopts[] = {
        { "connections", required_argument, NULL, 'c' },
        { "pipeline", required_argument, NULL, 'P' },
        { "size", required_argument, NULL, 's' },
        { "requests", required_argument, NULL, 'n' },
        { "duration", required_argument, NULL, 'd' },
        { "framed", no_argument, NULL, OPT_FRAMED },
        { "type", required_argument, NULL, OPT_TYPE },
        { "reconnect", no_argument, NULL, OPT_RECONNECT },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "cpu", required_argument, NULL, OPT_CPU },
        { "sizes", required_argument, NULL, OPT_SIZES },
        { "write-sizes", required_argument, NULL, OPT_WRITE_SIZES },
        { "transports", required_argument, NULL, OPT_TRANSPORTS },
        { "json", no_argument, NULL, OPT_JSON },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct bench_load_args la = {
        .type = UDS_STREAM,
        .conns = DEFAULT_CONNS,
        .pipeline = 1,
        .size = DEFAULT_SIZE,
        .timeout_ms = DEFAULT_TIMEOUT_MS,
        .cpu = -1,
    };
    struct bench_transport_args ta = {
        .transports = (1u << BENCH_N_TRANSPORTS) - 1,
        .sizes = { 1, 64, 1024, 16 * 1024 },
        .n_sizes = 4,
        .write_sizes = { 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20 },
        .n_write_sizes = 5,
        .duration_ms = DEFAULT_CELL_MS,
    };
    const char *load_only = NULL, *transports_only = NULL, *cpu_text = NULL;
    bool json = false, quiet = false;
    long v;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:P:s:n:d:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (cli_parse_long(optarg, 1, 1000000, &v) < 0)
                return cli_usage("bench", "--connections: '%s' is not a number from 1 to "
                                 "1000000; e.g. -c 16", optarg);
            la.conns = (size_t) v;
            load_only = "--connections";
            break;
        case 'P':
            if (cli_parse_long(optarg, 1, 65536, &v) < 0)
                return cli_usage("bench", "--pipeline: '%s' is not a number from 1 to 65536; "
                                 "e.g. -P 16", optarg);
            la.pipeline = (size_t) v;
            load_only = "--pipeline";
            break;
        case 's':
            if (cli_parse_size(optarg, &la.size) < 0 || la.size > (1u << 30))
                return cli_usage("bench", "--size: '%s' is not a size up to 1G; e.g. -s 64 or "
                                 "-s 16K", optarg);
            load_only = "--size";
            break;
        case 'n':
            if (cli_parse_long(optarg, 1, INT64_MAX, &v) < 0)
                return cli_usage("bench", "--requests: '%s' is not a positive number; e.g. "
                                 "-n 100000", optarg);
            la.requests = (uint64_t) v;
            load_only = "--requests";
            break;
        case 'd': {
            int ms;
            if (cli_parse_duration_ms(optarg, &ms) < 0 || ms == 0)
                return cli_usage("bench", "--duration: '%s' is not a duration in seconds; "
                                 "e.g. -d 5 or -d 0.5", optarg);
            la.duration_ms = ta.duration_ms = ms;
            break;
        }
        case OPT_FRAMED:
            la.framed = true;
            load_only = "--framed";
            break;
        case OPT_TYPE:
            if (uds_socket_type_parse(optarg, &la.type) < 0)
                return cli_usage("bench", "--type: '%s' is not a socket type; e.g. --type "
                                 "stream, seqpacket or dgram", optarg);
            load_only = "--type";
            break;
        case OPT_RECONNECT:
            la.reconnect = true;
            load_only = "--reconnect";
            break;
        case OPT_TIMEOUT:
            if (cli_parse_duration_ms(optarg, &la.timeout_ms) < 0 || la.timeout_ms == 0)
                return cli_usage("bench", "--timeout: '%s' is not a duration in seconds; "
                                 "e.g. --timeout 10", optarg);
            load_only = "--timeout";
            break;
        case OPT_CPU:
            cpu_text = optarg;
            break;
        case OPT_SIZES:
            if (parse_size_list(optarg, 1, 1u << 20, ta.sizes, &ta.n_sizes) < 0)
                return cli_usage("bench", "--sizes: '%s' is not a list of sizes from 1 byte "
                                 "to 1M; e.g. --sizes 1,64,1K", optarg);
            transports_only = "--sizes";
            break;
        case OPT_WRITE_SIZES:
            if (parse_size_list(optarg, 1, 64u << 20, ta.write_sizes, &ta.n_write_sizes) < 0)
                return cli_usage("bench", "--write-sizes: '%s' is not a list of sizes from 1 "
                                 "byte to 64M; e.g. --write-sizes 4K,64K", optarg);
            transports_only = "--write-sizes";
            break;
        case OPT_TRANSPORTS:
            if (parse_transports(optarg, &ta.transports) < 0)
                return cli_usage("bench", "--transports: '%s' is not a list of transports; "
                                 "e.g. --transports stream,tcp (stream, seqpacket, dgram, "
                                 "tcp, pipe)", optarg);
            transports_only = "--transports";
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            bench_usage(stdout);
            return EX_OK;
        default:
            return cli_getopt_error("bench", c, argv);
        }
    }
    if (argc - optind > 1)
        return cli_usage("bench", "one ADDRESS only; '%s' is extra", argv[optind + 1]);

    if (optind == argc) {
        if (load_only)
            return cli_usage("bench", "%s needs an ADDRESS to load; e.g. uds bench %s ... "
                             "/run/app.sock", load_only, load_only);
        int a, b;
        int n = bench_cpus(&a, &b);
        ta.pinned = true;
        ta.server_cpu = a;
        ta.client_cpu = n > 1 ? b : a;
        if (cpu_text && parse_cpus(cpu_text, &ta.server_cpu, &ta.client_cpu, &ta.pinned) < 0)
            return cli_usage("bench", "--cpu: '%s' is not S,C (two CPU numbers) or none; "
                             "e.g. --cpu 0,1", cpu_text);
        if (!ta.pinned)
            ta.server_cpu = ta.client_cpu = -1;
        ta.json = json;
        ta.quiet = quiet;
        return bench_transports_run(&ta);
    }

    if (transports_only)
        return cli_usage("bench", "%s is for the transports table, without an ADDRESS",
                         transports_only);
    la.address = argv[optind];
    if (uds_addr_parse(la.address, UDS_ADDR_ALLOW_TCP, &la.addr) < 0)
        return cli_fail(CLI_OP_CONNECT, la.address, errno, NULL);
    if (la.addr.kind == UDS_ADDR_TCP && la.type != UDS_STREAM)
        return cli_usage("bench", "--type %s: a tcp: address is a stream",
                         uds_socket_type_name(la.type));
    if (la.requests && la.duration_ms)
        return cli_usage("bench", "-n and -d: give one of them");
    if (!la.requests && !la.duration_ms)
        la.requests = DEFAULT_REQUESTS;
    if (la.size == 0 && !la.reconnect)
        return cli_usage("bench", "--size 0: an echo needs bytes; e.g. -s 64 (or --reconnect "
                         "-s 0 to only connect and close)");
    if (la.size == 0 && la.type != UDS_STREAM)
        return cli_usage("bench", "--size 0: an empty packet cannot be told from the end; "
                         "e.g. -s 1");
    if (la.reconnect && la.pipeline > 1)
        return cli_usage("bench", "--reconnect sends one request per connection; drop -P");
    if (la.framed && la.size > UDS_FRAME_DEFAULT_MAX)
        return cli_usage("bench", "--framed: -s over %u bytes is over a server's default "
                         "largest message", UDS_FRAME_DEFAULT_MAX);
    if (cpu_text) {
        long cpu;
        if (cli_parse_long(cpu_text, 0, CPU_SETSIZE - 1, &cpu) < 0)
            return cli_usage("bench", "--cpu: '%s' is not a CPU number; e.g. --cpu 1",
                             cpu_text);
        la.cpu = (int) cpu;
    }
    la.json = json;
    la.quiet = quiet;
    return bench_load_run(&la);
}
