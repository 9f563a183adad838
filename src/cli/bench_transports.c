/* SPDX-License-Identifier: MIT */
/*
 * bench_transports.c — `uds bench` without an address: this machine's local transports side
 * by side (Unix stream, seqpacket and dgram, TCP loopback with TCP_NODELAY, a pair of pipes)
 * between two processes pinned to chosen CPUs: round-trip latency and rate per message size,
 * bulk throughput per write size, and the connect+accept+close rate. Plain blocking system
 * calls on both sides, so what is measured is the kernel's path, not an event loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_hist.h"
#include "bench_transports.h"
#include "bench_util.h"
#include "cli.h"

#define WARMUP_TRIPS 200
#define CONNECT_PROBE 200
#define CONNECT_MAX 1000000
#define CONNECT_MAX_TCP 20000
#define WATCHDOG_S 20           /* a peer that stops answering fails the cell, not the run */
#define SINK_BUF (1024 * 1024 + 1)

static const char *const transport_names[BENCH_N_TRANSPORTS] = {
    "unix stream", "unix seqpacket", "unix dgram", "tcp loopback", "pipe",
};

/* One side's ends: the same socket twice, or a pipe's read end and the other pipe's write
 * end. */
struct ends {
    int rfd;
    int wfd;
};

struct pair {
    enum bench_transport t;
    struct ends parent;
    struct ends child;
};

static bool is_packet(enum bench_transport t) {
    return t == BENCH_UNIX_SEQPACKET || t == BENCH_UNIX_DGRAM;
}

static void ends_close(struct ends *e) {
    if (e->rfd >= 0)
        (void) close(e->rfd);
    if (e->wfd >= 0 && e->wfd != e->rfd)
        (void) close(e->wfd);
    e->rfd = e->wfd = -1;
}

static int set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int tcp_listener(struct sockaddr_in *ret_sa) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *) &sa, &len) < 0) {
        int e = errno;
        (void) close(fd);
        errno = e;
        return -1;
    }
    *ret_sa = sa;
    return fd;
}

static int make_pair(enum bench_transport t, struct pair *p) {
    int sv[2], a[2], b[2];

    p->t = t;
    p->parent = p->child = (struct ends) { -1, -1 };
    switch (t) {
    case BENCH_UNIX_STREAM:
    case BENCH_UNIX_SEQPACKET:
    case BENCH_UNIX_DGRAM: {
        int type = t == BENCH_UNIX_STREAM ? SOCK_STREAM :
                   t == BENCH_UNIX_SEQPACKET ? SOCK_SEQPACKET : SOCK_DGRAM;
        if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
            return -1;
        p->parent = (struct ends) { sv[0], sv[0] };
        p->child = (struct ends) { sv[1], sv[1] };
        return 0;
    }
    case BENCH_TCP: {
        struct sockaddr_in sa;
        int lfd = tcp_listener(&sa), cfd = -1, afd = -1;
        if (lfd < 0)
            return -1;
        cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (cfd < 0 || connect(cfd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
            goto tcp_fail;
        afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (afd < 0 || set_nodelay(cfd) < 0 || set_nodelay(afd) < 0)
            goto tcp_fail;
        (void) close(lfd);
        p->parent = (struct ends) { cfd, cfd };
        p->child = (struct ends) { afd, afd };
        return 0;
tcp_fail:
        {
            int e = errno;
            (void) close(lfd);
            if (cfd >= 0)
                (void) close(cfd);
            if (afd >= 0)
                (void) close(afd);
            errno = e;
        }
        return -1;
    }
    case BENCH_PIPE:
        if (pipe2(a, O_CLOEXEC) < 0)
            return -1;
        if (pipe2(b, O_CLOEXEC) < 0) {
            int e = errno;
            (void) close(a[0]);
            (void) close(a[1]);
            errno = e;
            return -1;
        }
        p->parent = (struct ends) { b[0], a[1] };   /* writes a, reads b */
        p->child = (struct ends) { a[0], b[1] };
        return 0;
    case BENCH_N_TRANSPORTS:
        break;
    }
    errno = EINVAL;
    return -1;
}

/* ---- blocking I/O helpers (the point is plain syscalls) --------------------------------- */

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

/* Returns len, or less at end of file, or -1. */
static ssize_t read_full(int fd, void *buf, size_t len) {
    char *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t) n;
    }
    return (ssize_t) got;
}

/* End of input for the peer: a half-close, a closed pipe, or (dgram, which has no end) an
 * empty datagram. */
static void send_end(struct pair *p) {
    switch (p->t) {
    case BENCH_UNIX_DGRAM:
        (void) send(p->parent.wfd, "", 0, MSG_NOSIGNAL);
        break;
    case BENCH_PIPE:
        (void) close(p->parent.wfd);
        p->parent.wfd = -1;
        break;
    default:
        (void) shutdown(p->parent.wfd, SHUT_WR);
    }
}

/* ---- the peer process ------------------------------------------------------------------- */

enum job { JOB_ECHO, JOB_SINK };

static void peer_echo(const struct pair *p, char *buf) {
    for (;;) {
        ssize_t n = read(p->child.rfd, buf, SINK_BUF);
        if (n <= 0)
            return;
        if (write_all(p->child.wfd, buf, (size_t) n) < 0)
            return;
    }
}

static void peer_sink(const struct pair *p, char *buf) {
    uint64_t total = 0;

    for (;;) {
        ssize_t n = read(p->child.rfd, buf, SINK_BUF);
        if (n < 0)
            return;
        if (n == 0)
            break;
        total += (uint64_t) n;
    }
    (void) write_all(p->child.wfd, &total, sizeof(total));
}

static pid_t start_peer(struct pair *p, enum job job, int cpu) {
    pid_t pid = fork();

    if (pid != 0) {
        if (pid > 0)
            ends_close(&p->child);
        return pid;
    }
    ends_close(&p->parent);
    (void) bench_pin(cpu);
    char *buf = malloc(SINK_BUF);
    if (buf) {
        if (job == JOB_ECHO)
            peer_echo(p, buf);
        else
            peer_sink(p, buf);
    }
    _exit(0);
}

/* A pair of transport t with its peer process doing job: the peer's pid, or -1 with
 * nothing left open. */
static pid_t open_pair(enum bench_transport t, enum job job, int cpu, struct pair *p) {
    pid_t pid;

    if (make_pair(t, p) < 0)
        return -1;
    pid = start_peer(p, job, cpu);
    if (pid < 0) {
        ends_close(&p->parent);
        ends_close(&p->child);
    }
    return pid;
}

static void stop_peer(struct pair *p, pid_t pid) {
    ends_close(&p->parent);
    (void) kill(pid, SIGKILL);
    (void) waitpid(pid, NULL, 0);
}

/* ---- watchdog ---------------------------------------------------------------------------- */

static volatile sig_atomic_t watchdog_fired;

static void on_alarm(int sig) {
    (void) sig;
    watchdog_fired = 1;
}

static void watchdog_arm(int duration_ms) {
    struct sigaction sa = { .sa_handler = on_alarm };   /* no SA_RESTART: I/O returns EINTR */

    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    watchdog_fired = 0;
    alarm((unsigned) (duration_ms / 1000 + WATCHDOG_S));
}

static void watchdog_disarm(void) {
    alarm(0);
}

/* ---- measurements ----------------------------------------------------------------------- */

struct rtt_result {
    bool ok;
    double p50_us, p99_us, per_s;
};

struct bulk_result {
    bool ok;
    bool too_big;       /* a message larger than the socket allows */
    double mb_per_s;
};

struct conn_result {
    bool ok;
    double per_s;
};

static int round_trip(int fd_w, int fd_r, bool packet, char *out, char *in, size_t size) {
    if (packet) {
        if (send(fd_w, out, size, MSG_NOSIGNAL) != (ssize_t) size)
            return -1;
        return recv(fd_r, in, size + 1, 0) == (ssize_t) size ? 0 : -1;
    }
    if (write_all(fd_w, out, size) < 0)
        return -1;
    return read_full(fd_r, in, size) == (ssize_t) size ? 0 : -1;
}

static void measure_rtt(const struct bench_transport_args *a, enum bench_transport t,
                        size_t size, struct bench_hist *h, struct rtt_result *r) {
    struct pair p;
    char *out = malloc(size + 1), *in = malloc(size + 1);
    pid_t pid = -1;

    *r = (struct rtt_result) { .ok = false };
    if (!out || !in || (pid = open_pair(t, JOB_ECHO, a->server_cpu, &p)) < 0)
        goto done;
    memset(out, 0x5a, size);
    watchdog_arm(a->duration_ms);
    bool packet = is_packet(t);
    for (int i = 0; i < WARMUP_TRIPS; i++)
        if (round_trip(p.parent.wfd, p.parent.rfd, packet, out, in, size) < 0)
            goto stop;
    bench_hist_init(h);
    uint64_t start = bench_now_ns(), t1 = start, end = start + (uint64_t) a->duration_ms * 1000000;
    while (t1 < end) {
        uint64_t t0 = t1;
        if (round_trip(p.parent.wfd, p.parent.rfd, packet, out, in, size) < 0)
            goto stop;
        t1 = bench_now_ns();
        bench_hist_record(h, t1 - t0);
    }
    r->ok = memcmp(out, in, size) == 0;
    r->p50_us = (double) bench_hist_percentile(h, 50) / 1e3;
    r->p99_us = (double) bench_hist_percentile(h, 99) / 1e3;
    r->per_s = (double) h->count / ((double) (t1 - start) / 1e9);
stop:
    watchdog_disarm();
    if (t == BENCH_UNIX_DGRAM)
        send_end(&p);
    stop_peer(&p, pid);
done:
    free(out);
    free(in);
}

static void measure_bulk(const struct bench_transport_args *a, enum bench_transport t,
                         size_t wsize, struct bulk_result *r) {
    struct pair p;
    char *buf = malloc(wsize);
    pid_t pid = -1;
    uint64_t sent = 0, got = 0;

    *r = (struct bulk_result) { .ok = false };
    if (!buf || (pid = open_pair(t, JOB_SINK, a->server_cpu, &p)) < 0)
        goto done;
    memset(buf, 0xa5, wsize);
    watchdog_arm(a->duration_ms);
    uint64_t start = bench_now_ns(), end = start + (uint64_t) a->duration_ms * 1000000;
    for (;;) {
        if (is_packet(t)) {
            if (send(p.parent.wfd, buf, wsize, MSG_NOSIGNAL) != (ssize_t) wsize) {
                r->too_big = errno == EMSGSIZE || errno == ENOBUFS;
                goto stop;
            }
        } else if (write_all(p.parent.wfd, buf, wsize) < 0) {
            goto stop;
        }
        sent += wsize;
        if (bench_now_ns() >= end)
            break;
    }
    send_end(&p);
    if (read_full(p.parent.rfd, &got, sizeof(got)) != (ssize_t) sizeof(got) || got != sent)
        goto stop;
    r->mb_per_s = (double) got / ((double) (bench_now_ns() - start) / 1e9) / 1e6;
    r->ok = true;
stop:
    watchdog_disarm();
    if (!r->ok && t == BENCH_UNIX_DGRAM)
        send_end(&p);
    stop_peer(&p, pid);
done:
    free(buf);
}

/* A listening socket for the connect storm: abstract Unix names need no file to clean up. */
static int storm_listener(enum bench_transport t, struct sockaddr_storage *ret_sa,
                          socklen_t *ret_len) {
    static unsigned counter;

    if (t == BENCH_TCP) {
        struct sockaddr_in sa;
        int fd = tcp_listener(&sa);
        memcpy(ret_sa, &sa, sizeof(sa));
        *ret_len = sizeof(sa);
        return fd;
    }
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "uds-bench-%ld-%u",
                     (long) getpid(), counter++);
    socklen_t len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + (size_t) n);
    int fd = socket(AF_UNIX, (t == BENCH_UNIX_STREAM ? SOCK_STREAM : SOCK_SEQPACKET) |
                    SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *) &sun, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        (void) close(fd);
        errno = e;
        return -1;
    }
    memcpy(ret_sa, &sun, len);
    *ret_len = len;
    return fd;
}

/* n connections made and closed by us, accepted and closed by the peer: the time until the
 * peer has accepted the last one. Returns seconds, or -1. The peer reports every
 * STORM_TOKEN accepts and the client stays at most STORM_AHEAD connections ahead: a TCP
 * client that overflows the accept queue would wait out SYN retransmits (a second each)
 * instead of measuring anything. */
#define STORM_TOKEN 256
#define STORM_AHEAD 1024

static double connect_storm(const struct bench_transport_args *a, enum bench_transport t,
                            unsigned n) {
    struct sockaddr_storage sa;
    socklen_t sa_len;
    int ctl[2] = { -1, -1 };
    int lfd = storm_listener(t, &sa, &sa_len);
    int type = t == BENCH_UNIX_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
    double secs = -1;

    if (lfd < 0 || pipe2(ctl, O_CLOEXEC) < 0)
        goto out;
    pid_t pid = fork();
    if (pid < 0)
        goto out;
    if (pid == 0) {
        (void) bench_pin(a->server_cpu);
        (void) close(ctl[0]);
        for (unsigned i = 1; i <= n; i++) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                _exit(1);
            (void) close(fd);
            if (i % STORM_TOKEN == 0 || i == n)
                (void) write_all(ctl[1], i == n ? "E" : "t", 1);
        }
        _exit(0);
    }
    (void) close(ctl[1]);
    ctl[1] = -1;
    watchdog_arm(a->duration_ms);
    uint64_t start = bench_now_ns();
    unsigned done = 0, acked = 0;
    char token = 0;
    for (; done < n; done++) {
        while (done - acked >= STORM_AHEAD) {
            if (read(ctl[0], &token, 1) != 1)
                goto stop;
            acked += STORM_TOKEN;
        }
        int fd = socket(sa.ss_family, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *) &sa, sa_len) < 0) {
            (void) close(fd);
            break;
        }
        (void) close(fd);
    }
    while (done == n && token != 'E') {
        if (read(ctl[0], &token, 1) != 1)
            goto stop;
    }
    if (token == 'E')
        secs = (double) (bench_now_ns() - start) / 1e9;
stop:
    watchdog_disarm();
    (void) kill(pid, SIGKILL);
    (void) waitpid(pid, NULL, 0);
out:
    if (lfd >= 0)
        (void) close(lfd);
    if (ctl[0] >= 0)
        (void) close(ctl[0]);
    if (ctl[1] >= 0)
        (void) close(ctl[1]);
    return secs;
}

static void measure_connect(const struct bench_transport_args *a, enum bench_transport t,
                            struct conn_result *r) {
    *r = (struct conn_result) { .ok = false };
    double probe = connect_storm(a, t, CONNECT_PROBE);
    if (probe <= 0)
        return;
    double n = (double) CONNECT_PROBE / probe * (double) a->duration_ms / 1000.0;
    if (n < CONNECT_PROBE)
        n = CONNECT_PROBE;
    /* TCP: each connection leaves a TIME_WAIT port behind; stay well inside the range. */
    double max = t == BENCH_TCP ? CONNECT_MAX_TCP : CONNECT_MAX;
    if (n > max)
        n = max;
    double secs = connect_storm(a, t, (unsigned) n);
    if (secs <= 0)
        return;
    r->per_s = (unsigned) n / secs;
    r->ok = true;
}

/* ---- report ----------------------------------------------------------------------------- */

struct results {
    struct rtt_result rtt[BENCH_N_TRANSPORTS][BENCH_MAX_SIZES];
    struct bulk_result bulk[BENCH_N_TRANSPORTS][BENCH_MAX_SIZES];
    struct conn_result conn[BENCH_N_TRANSPORTS];
};

static bool has_connect(enum bench_transport t) {
    return t == BENCH_UNIX_STREAM || t == BENCH_UNIX_SEQPACKET || t == BENCH_TCP;
}

/* Whether transport t is one of those measured (--transports). */
static bool chosen(const struct bench_transport_args *a, int t) {
    return a->transports & (1u << t);
}

static void cpu_model(char *buf, size_t size) {
    FILE *f = fopen("/proc/cpuinfo", "re");
    char line[512];

    snprintf(buf, size, "unknown CPU");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 2;
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(buf, size, "%s", colon);
            break;
        }
    }
    fclose(f);
}

static void placement_note(const struct bench_transport_args *a, char *buf, size_t size) {
    if (!a->pinned)
        snprintf(buf, size, "not pinned: the scheduler places both processes, so results "
                 "vary more from run to run");
    else if (a->server_cpu == a->client_cpu)
        snprintf(buf, size, "both processes on CPU %d: a round trip is two context switches "
                 "on one core, with no cross-core wake-up", a->server_cpu);
    else
        snprintf(buf, size, "peer on CPU %d, client on CPU %d: every round trip wakes a "
                 "process on the other core twice, which is most of its cost; --cpu %d,%d "
                 "puts both on one core", a->server_cpu, a->client_cpu, a->server_cpu,
                 a->server_cpu);
}

/* What a report says of the machine and of where the processes ran. */
struct machine {
    char model[256];
    char note[512];
    struct utsname u;
};

static void machine_of(const struct bench_transport_args *a, struct machine *m) {
    cpu_model(m->model, sizeof(m->model));
    placement_note(a, m->note, sizeof(m->note));
    if (uname(&m->u) < 0)
        snprintf(m->u.release, sizeof(m->u.release), "unknown");
}

/* What follows a JSON row's transport and size: the figures of transport t at size i. */
typedef void json_fields_fn(const struct results *res, int t, size_t i);

static void rtt_fields(const struct results *res, int t, size_t i) {
    const struct rtt_result *r = &res->rtt[t][i];

    if (r->ok)
        printf("\"p50_us\":%.3f,\"p99_us\":%.3f,\"round_trips_per_s\":%.1f}", r->p50_us,
               r->p99_us, r->per_s);
    else
        printf("\"p50_us\":null,\"p99_us\":null,\"round_trips_per_s\":null}");
}

static void bulk_fields(const struct results *res, int t, size_t i) {
    const struct bulk_result *r = &res->bulk[t][i];

    if (r->ok)
        printf("\"mb_per_s\":%.1f}", r->mb_per_s);
    else
        printf("\"mb_per_s\":null,\"why\":\"%s\"}", r->too_big ?
               "message larger than the socket's send buffer" : "failed");
}

/* The rows of a JSON array, one per transport chosen and size: size_key names the size. */
static void print_json_rows(const struct bench_transport_args *a, const struct results *res,
                            const char *size_key, const size_t *sizes, size_t n,
                            json_fields_fn *fields) {
    bool first = true;

    for (int t = 0; t < BENCH_N_TRANSPORTS; t++) {
        if (!chosen(a, t))
            continue;
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"transport\":\"%s\",\"%s\":%zu,", first ? "" : ",", transport_names[t],
                   size_key, sizes[i]);
            fields(res, t, i);
            first = false;
        }
    }
}

static void print_json(const struct bench_transport_args *a, const struct results *res) {
    struct machine m;
    bool first = true;

    machine_of(a, &m);
    printf("{\"machine\":{\"cpus\":%ld,\"model\":", sysconf(_SC_NPROCESSORS_ONLN));
    cli_json_string(stdout, m.model, strlen(m.model));
    printf(",\"kernel\":");
    cli_json_string(stdout, m.u.release, strlen(m.u.release));
    printf("},\"placement\":{\"pinned\":%s,\"server_cpu\":%d,\"client_cpu\":%d,\"note\":",
           a->pinned ? "true" : "false", a->pinned ? a->server_cpu : -1,
           a->pinned ? a->client_cpu : -1);
    cli_json_string(stdout, m.note, strlen(m.note));
    printf("},\"duration_ms\":%d,\"round_trip\":[", a->duration_ms);
    print_json_rows(a, res, "size", a->sizes, a->n_sizes, rtt_fields);
    printf("],\"bulk\":[");
    print_json_rows(a, res, "write_size", a->write_sizes, a->n_write_sizes, bulk_fields);
    printf("],\"connect\":[");
    for (int t = 0; t < BENCH_N_TRANSPORTS; t++) {
        if (!chosen(a, t) || !has_connect((enum bench_transport) t))
            continue;
        const struct conn_result *r = &res->conn[t];
        printf("%s{\"transport\":\"%s\",", first ? "" : ",", transport_names[t]);
        if (r->ok)
            printf("\"per_s\":%.1f}", r->per_s);
        else
            printf("\"per_s\":null}");
        first = false;
    }
    printf("]}\n");
}

/* What a table's cell says for transport t at size i, written in buf if need be. */
typedef const char *cell_fn(const struct results *res, int t, size_t i, char *buf,
                            size_t size);

static const char *latency_cell(const struct results *res, int t, size_t i, char *buf,
                                size_t size) {
    const struct rtt_result *r = &res->rtt[t][i];

    if (!r->ok)
        return "-";
    snprintf(buf, size, "%.1f / %.1f", r->p50_us, r->p99_us);
    return buf;
}

static const char *rate_cell(const struct results *res, int t, size_t i, char *buf,
                             size_t size) {
    const struct rtt_result *r = &res->rtt[t][i];

    return r->ok ? bench_fmt_count(r->per_s, buf, size) : "-";
}

static const char *bulk_cell(const struct results *res, int t, size_t i, char *buf,
                             size_t size) {
    const struct bulk_result *r = &res->bulk[t][i];

    return r->ok ? bench_fmt_count(r->mb_per_s, buf, size) : r->too_big ? "too big" : "-";
}

/* A table: its title, a header row of sizes, then a row per transport chosen; each column
 * width characters wide. */
static void print_table(const struct bench_transport_args *a, const struct results *res,
                        const char *title, const size_t *sizes, size_t n, int width,
                        cell_fn *cell) {
    char b[64];

    printf("\n%s\n%-16s", title, "");
    for (size_t i = 0; i < n; i++)
        printf("%*s", width, bench_fmt_size(sizes[i], b, sizeof(b)));
    printf("\n");
    for (int t = 0; t < BENCH_N_TRANSPORTS; t++) {
        if (!chosen(a, t))
            continue;
        printf("%-16s", transport_names[t]);
        for (size_t i = 0; i < n; i++)
            printf("%*s", width, cell(res, t, i, b, sizeof(b)));
        printf("\n");
    }
}

static void print_rtt_tables(const struct bench_transport_args *a, const struct results *res) {
    print_table(a, res, "Round trip, p50 / p99 latency in us (a message echoed by the other "
                "process)", a->sizes, a->n_sizes, 16, latency_cell);
    print_table(a, res, "Round trips per second", a->sizes, a->n_sizes, 16, rate_cell);
}

static void print_bulk_table(const struct bench_transport_args *a, const struct results *res) {
    bool any_too_big = false;

    print_table(a, res, "Bulk throughput, MB/s (one way, by write size)", a->write_sizes,
                a->n_write_sizes, 12, bulk_cell);
    for (int t = 0; t < BENCH_N_TRANSPORTS; t++)
        for (size_t i = 0; i < a->n_write_sizes; i++)
            any_too_big |= chosen(a, t) && res->bulk[t][i].too_big;
    if (any_too_big)
        printf("(too big: one message larger than the socket's send buffer, "
               "net.core.wmem_default)\n");
}

static void print_connect_table(const struct bench_transport_args *a, const struct results *res) {
    bool any_conn = false;
    char c[64];

    for (int t = 0; t < BENCH_N_TRANSPORTS; t++)
        any_conn |= chosen(a, t) && has_connect((enum bench_transport) t);
    if (!any_conn)
        return;
    printf("\nConnect + accept + close, per second\n");
    for (int t = 0; t < BENCH_N_TRANSPORTS; t++) {
        if (!chosen(a, t) || !has_connect((enum bench_transport) t))
            continue;
        const struct conn_result *r = &res->conn[t];
        printf("%-16s%16s\n", transport_names[t],
               r->ok ? bench_fmt_count(r->per_s, c, sizeof(c)) : "-");
    }
}

/* The claim the command exists to check, in one line. */
static void print_claim(const struct bench_transport_args *a, const struct results *res) {
    const unsigned both = 1u << BENCH_UNIX_STREAM | 1u << BENCH_TCP;
    char b[64];

    if ((a->transports & both) != both || a->n_sizes == 0)
        return;
    size_t i = a->n_sizes > 1 ? 1 : 0;
    const struct rtt_result *u_r = &res->rtt[BENCH_UNIX_STREAM][i];
    const struct rtt_result *t_r = &res->rtt[BENCH_TCP][i];
    if (!u_r->ok || !t_r->ok || u_r->p50_us <= 0)
        return;
    printf("\nunix stream vs tcp loopback: %s round trip %.2fx as fast (p50 %.1f vs %.1f us)",
           bench_fmt_size(a->sizes[i], b, sizeof(b)), t_r->p50_us / u_r->p50_us, u_r->p50_us,
           t_r->p50_us);
    size_t j = a->n_write_sizes > 2 ? 2 : 0;
    const struct bulk_result *u_b = &res->bulk[BENCH_UNIX_STREAM][j];
    const struct bulk_result *t_b = &res->bulk[BENCH_TCP][j];
    if (a->n_write_sizes > 0 && u_b->ok && t_b->ok && t_b->mb_per_s > 0)
        printf("; %s writes %.2fx the throughput", bench_fmt_size(a->write_sizes[j], b, sizeof(b)),
               u_b->mb_per_s / t_b->mb_per_s);
    printf("\n");
}

static void print_text(const struct bench_transport_args *a, const struct results *res) {
    struct machine m;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    machine_of(a, &m);
    printf("uds bench: this machine's transports (%s, %ld CPU%s, Linux %s)\n", m.model, cpus,
           cpus == 1 ? "" : "s", m.u.release);
    printf("placement: %s\n", m.note);
    printf("each figure: %d ms of one measurement (-d)\n", a->duration_ms);
    print_rtt_tables(a, res);
    print_bulk_table(a, res);
    print_connect_table(a, res);
    print_claim(a, res);
}

static void progress(const struct bench_transport_args *a, const char *what,
                     enum bench_transport t, size_t size) {
    char b[32];

    if (a->quiet || !isatty(STDERR_FILENO))
        return;
    fprintf(stderr, "\r\033[Kmeasuring %s %s%s%s", transport_names[t], what,
            size ? " " : "", size ? bench_fmt_size(size, b, sizeof(b)) : "");
}

int bench_transports_run(const struct bench_transport_args *a) {
    struct results *res = calloc(1, sizeof(*res));
    struct bench_hist *h = malloc(sizeof(*h));
    int code = EX_OK;

    if (!res || !h) {
        code = cli_fail(CLI_OP_ANY, NULL, ENOMEM, NULL);
        goto out;
    }
    /* The client's own CPU; the peers are pinned as they start. */
    if (a->pinned && bench_pin(a->client_cpu) < 0) {
        code = cli_usage("bench", "--cpu: cannot run on CPU %d (%s); see nproc", a->client_cpu,
                         strerror(errno));
        goto out;
    }
    for (int t = 0; t < BENCH_N_TRANSPORTS; t++) {
        if (!chosen(a, t))
            continue;
        for (size_t i = 0; i < a->n_sizes; i++) {
            progress(a, "round trip", (enum bench_transport) t, a->sizes[i]);
            measure_rtt(a, (enum bench_transport) t, a->sizes[i], h, &res->rtt[t][i]);
        }
        for (size_t i = 0; i < a->n_write_sizes; i++) {
            progress(a, "bulk", (enum bench_transport) t, a->write_sizes[i]);
            measure_bulk(a, (enum bench_transport) t, a->write_sizes[i], &res->bulk[t][i]);
        }
        if (has_connect((enum bench_transport) t)) {
            progress(a, "connect", (enum bench_transport) t, 0);
            measure_connect(a, (enum bench_transport) t, &res->conn[t]);
        }
    }
    if (!a->quiet && isatty(STDERR_FILENO))
        fputs("\r\033[K", stderr);
    if (a->json)
        print_json(a, res);
    else
        print_text(a, res);
    if (fflush(stdout) != 0)
        code = CLI_EXIT_FAILURE;
out:
    free(res);
    free(h);
    return code;
}
