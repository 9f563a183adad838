/* SPDX-License-Identifier: MIT */
/* test_capture.c — the capture writer: a file made 0600 and close-on-exec whose blocks
 * chain (each length at both ends, the file their sum), packets held until a flush or
 * written at once when unbuffered, large payloads written from where they lie and still
 * whole and in order, a snap length, UDP messages, a reader that has gone (EPIPE, no
 * SIGPIPE, on a pipe and on a socket), bad arguments; and Wireshark's tshark reading a
 * capture back: HTTP decoded, checksums right, a bulk stream reassembled byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_EPB 6u

static uint32_t rd32(const uint8_t *p) {
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static uint8_t *read_file(const char *path, size_t *ret_len) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;

    assert_non_null(f);
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    *ret_len = len;
    return buf;
}

/* The blocks of a capture, checked to chain: each length a multiple of 4, the same at both
 * ends, the file exactly their sum. */
struct block {
    uint32_t type;
    const uint8_t *p;
    size_t len;
};

static size_t walk_blocks(const uint8_t *buf, size_t len, struct block *out, size_t max) {
    size_t at = 0, n = 0;

    while (at < len) {
        assert_true(len - at >= 12);
        uint32_t blen = rd32(buf + at + 4);
        assert_int_equal(blen % 4, 0);
        assert_true(blen >= 12 && blen <= len - at);
        assert_int_equal(rd32(buf + at + blen - 4), blen);
        assert_true(n < max);
        out[n++] = (struct block) { rd32(buf + at), buf + at, blen };
        at += blen;
    }
    assert_int_equal(at, len);
    return n;
}

/* An EPB's payload (after the IPv4 header and the TCP or UDP one) and its lengths. */
static const uint8_t *epb_payload(const struct block *b, size_t *ret_cap, size_t *ret_orig) {
    const uint8_t *ip = b->p + 28;
    size_t hdr = 20 + (ip[9] == 17 ? 8 : 20);

    assert_int_equal(b->type, BT_EPB);
    *ret_cap = rd32(b->p + 20) - hdr;
    *ret_orig = rd32(b->p + 24) - hdr;
    return ip + hdr;
}

static uint8_t *pattern(size_t len, unsigned seed) {
    uint8_t *p = malloc(len);

    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t) (seed * 131 + i * 29 + i / 253);
    return p;
}

static bool readable_now(int fd) {
    return tu_wait_readable(fd, 0);
}

/* Reads and drops what waits in non-blocking fd; returns the count. */
static size_t drain(int fd) {
    char buf[65536];
    size_t total = 0;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        total += (size_t) n;
    return total;
}

/* ---- the file ------------------------------------------------------------------------------ */

static int fd_open_on(const char *path) {
    char link[64], target[PATH_MAX];

    for (int fd = 0; fd < 1024; fd++) {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0 && (target[n] = '\0', strcmp(target, path) == 0))
            return fd;
    }
    return -1;
}

static void file_is_0600_cloexec_and_its_blocks_chain(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "cap.pcapng");
    struct uds_pcapng_flow flow;
    struct block blocks[16];
    struct stat st;
    size_t len;

    struct uds_capture *c = uds_capture_open(path, NULL);
    assert_non_null(c);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    int fd = fd_open_on(path);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    uds_pcapng_flow_init(&flow, 1, 80, false);
    assert_int_equal(uds_capture_begin(c, &flow, 1, "first"), 0);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, "hello", 5, 2, NULL), 0);
    assert_int_equal(uds_capture_fin(c, &flow, UDS_PCAPNG_TO_SERVER, 3), 0);
    assert_int_equal(uds_capture_fin(c, &flow, UDS_PCAPNG_TO_CLIENT, 4), 0);
    assert_true(uds_capture_pending(c));
    assert_int_equal(uds_capture_close(c), 0);
    assert_int_equal(fd_open_on(path), -1);

    uint8_t *buf = read_file(path, &len);
    assert_int_equal(walk_blocks(buf, len, blocks, 16), 8);
    assert_int_equal(blocks[0].type, BT_SHB);
    assert_memory_equal(blocks[0].p + 28, "libudskit", 9);     /* shb_userappl's default */
    assert_int_equal(blocks[1].type, BT_IDB);
    assert_int_equal(rd32(blocks[1].p + 4), 20);               /* no if_name */
    const uint8_t flags[6] = { 0x02, 0x12, 0x10, 0x18, 0x11, 0x11 };
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(blocks[2 + i].type, BT_EPB);
        assert_int_equal(blocks[2 + i].p[28 + 20 + 13], flags[i]);
    }
    size_t cap, orig;
    assert_memory_equal(epb_payload(&blocks[5], &cap, &orig), "hello", 5);
    assert_int_equal(cap, 5);
    free(buf);
}

static void held_until_flushed_or_written_at_once_unbuffered(void **state) {
    struct uds_capture_opts opts = { .application = "app", .if_name = "/run/a.sock" };
    struct uds_pcapng_flow flow;
    int p[2];
    (void) state;

    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    struct uds_capture *c = uds_capture_open_fd(p[1], &opts);
    assert_non_null(c);
    assert_int_equal(drain(p[0]), 40 + 40);        /* the section and interface at once */
    uds_pcapng_flow_init(&flow, 1, 80, true);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, "x", 1, 1, NULL), 0);
    assert_true(uds_capture_pending(c));
    assert_false(readable_now(p[0]));
    assert_int_equal(uds_capture_flush(c), 0);
    assert_false(uds_capture_pending(c));
    assert_int_equal(drain(p[0]), 28 + 32 + 4);
    assert_int_equal(uds_capture_close(c), 0);
    assert_true(fcntl(p[1], F_GETFD) >= 0);         /* the caller's fd stays open */

    opts.flags = UDS_CAPTURE_UNBUFFERED;
    c = uds_capture_open_fd(p[1], &opts);
    assert_non_null(c);
    drain(p[0]);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_CLIENT, "y", 1, 1, NULL), 0);
    assert_false(uds_capture_pending(c));
    assert_int_equal(drain(p[0]), 28 + 32 + 4);
    assert_int_equal(uds_capture_close(c), 0);
    tu_close_pair(p);
}

/* Payloads of 32 KiB and more go out from the caller's buffer between the buffer's parts:
 * the file still has every byte, in packets of at most UDS_PCAPNG_TCP_MAX, in order with
 * the small ones around them. */
static void large_payloads_whole_and_in_order(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "bulk.pcapng");
    const size_t big = 200000, mid = 40000;
    uint8_t *data = pattern(big, 1), *got = malloc(2 * big + 10);
    struct uds_pcapng_flow flow;
    struct block blocks[32];
    size_t len, at = 0, n;

    assert_non_null(got);
    struct uds_capture *c = uds_capture_open(path, NULL);
    assert_non_null(c);
    uds_pcapng_flow_init(&flow, 1, 80, false);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, data, big, 1, "c"), 0);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, "0123456789", 10, 2,
                                      NULL), 0);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, data + 7, mid, 3, NULL),
                     0);
    assert_int_equal(uds_capture_close(c), 0);
    uint8_t *buf = read_file(path, &len);
    n = walk_blocks(buf, len, blocks, 32);
    assert_int_equal(n, 2 + 4 + 1 + 1);            /* 200000 = 3 x 65495 + 3515 */
    for (size_t i = 2; i < n; i++) {
        size_t cap, orig;
        const uint8_t *p = epb_payload(&blocks[i], &cap, &orig);
        assert_int_equal(cap, orig);
        assert_true(cap <= UDS_PCAPNG_TCP_MAX);
        memcpy(got + at, p, cap);
        at += cap;
    }
    assert_int_equal(at, big + 10 + mid);
    assert_memory_equal(got, data, big);
    assert_memory_equal(got + big, "0123456789", 10);
    assert_memory_equal(got + big + 10, data + 7, mid);
    assert_int_equal(flow.seq[UDS_PCAPNG_TO_SERVER], 1000 + big + 10 + mid);
    free(buf);
    free(got);
    free(data);
}

static void snap_length_keeps_the_first_bytes_of_each_packet(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "snap.pcapng");
    const struct uds_capture_opts opts = { .snaplen = 100 };
    uint8_t *data = pattern(70000, 2);
    struct uds_pcapng_flow flow;
    struct block blocks[8];
    size_t len, cap, orig;

    struct uds_capture *c = uds_capture_open(path, &opts);
    assert_non_null(c);
    uds_pcapng_flow_init(&flow, 1, 80, false);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_CLIENT, data, 70000, 1, NULL),
                     0);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_CLIENT, data, 50, 1, NULL), 0);
    assert_int_equal(uds_capture_close(c), 0);
    uint8_t *buf = read_file(path, &len);
    assert_int_equal(walk_blocks(buf, len, blocks, 8), 5);
    assert_memory_equal(epb_payload(&blocks[2], &cap, &orig), data, 100);
    assert_int_equal(cap, 100);
    assert_int_equal(orig, UDS_PCAPNG_TCP_MAX);
    assert_memory_equal(epb_payload(&blocks[3], &cap, &orig), data + UDS_PCAPNG_TCP_MAX, 100);
    assert_int_equal(orig, 70000 - UDS_PCAPNG_TCP_MAX);
    epb_payload(&blocks[4], &cap, &orig);
    assert_int_equal(cap, 50);
    free(buf);
    free(data);
}

/* A UDP flow has no handshake and no FIN; a message is one datagram, cut at the largest. */
static void udp_messages_one_datagram_each(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "udp.pcapng");
    uint8_t *data = pattern(70000, 3);
    struct uds_pcapng_flow flow;
    struct block blocks[8];
    size_t len, cap, orig;

    struct uds_capture *c = uds_capture_open(path, NULL);
    assert_non_null(c);
    uds_pcapng_flow_init(&flow, 1, 7, true);
    assert_int_equal(uds_capture_begin(c, &flow, 1, "ignored"), 0);
    assert_false(uds_capture_pending(c));
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, data, 70000, 1, NULL),
                     0);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_CLIENT, NULL, 0, 1, NULL), 0);
    assert_int_equal(uds_capture_fin(c, &flow, UDS_PCAPNG_TO_SERVER, 1), 0);
    assert_int_equal(uds_capture_reset(c, &flow, UDS_PCAPNG_TO_SERVER, 1), 0);
    assert_int_equal(uds_capture_close(c), 0);
    uint8_t *buf = read_file(path, &len);
    assert_int_equal(walk_blocks(buf, len, blocks, 8), 4);
    assert_memory_equal(epb_payload(&blocks[2], &cap, &orig), data, UDS_PCAPNG_UDP_MAX);
    assert_int_equal(orig, UDS_PCAPNG_UDP_MAX);
    epb_payload(&blocks[3], &cap, &orig);
    assert_int_equal(orig, 0);                      /* an empty message is a datagram too */
    free(buf);
    free(data);
}

/* ---- a reader that has gone --------------------------------------------------------------- */

/* In a child with SIGPIPE's default action: a signal would kill it, and the test fail. */
static int write_after_reader_left(void *arg) {
    bool socket = *(bool *) arg;
    uint8_t *data = pattern(100000, 4);
    struct uds_pcapng_flow flow;
    int p[2];

    signal(SIGPIPE, SIG_DFL);
    if ((socket ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p)
                : pipe2(p, O_CLOEXEC)) < 0)
        return 10;
    if (socket) {           /* the writing end is p[1] either way */
        int t = p[0];
        p[0] = p[1];
        p[1] = t;
    }
    struct uds_capture *c = uds_capture_open_fd(p[1], NULL);
    if (!c)
        return 11;
    close(p[0]);
    uds_pcapng_flow_init(&flow, 1, 80, false);
    if (uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, "x", 1, 1, NULL) != 0)
        return 12;          /* held in the buffer: nothing written yet */
    if (uds_capture_flush(c) != -1 || errno != EPIPE)
        return 13;
    if (uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, data, 100000, 1, NULL) != -1 ||
        errno != EPIPE)
        return 14;          /* written in place, at once */
    if (uds_capture_close(c) != 0)
        return 15;          /* nothing left to write */
    close(p[1]);
    free(data);
    return 0;
}

static void reader_gone_epipe_without_sigpipe(void **state) {
    bool socket = false;
    (void) state;

    assert_int_equal(tu_run_in_child(write_after_reader_left, &socket), 0);
    socket = true;
    assert_int_equal(tu_run_in_child(write_after_reader_left, &socket), 0);
}

static void bad_arguments_einval(void **state) {
    struct tu_fixture *fx = *state;
    const struct uds_capture_opts bad_flags = { .flags = 1u << 7 };
    struct uds_pcapng_flow flow;

    uds_pcapng_flow_init(&flow, 1, 80, false);
    assert_null(uds_capture_open(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_capture_open("", NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_capture_open(tu_path(fx->dir, "x"), &bad_flags));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_capture_open(tu_path(fx->dir, "no/such/dir"), NULL));
    assert_int_equal(errno, ENOENT);
    assert_null(uds_capture_open_fd(-1, NULL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_capture_flush(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_capture_begin(NULL, &flow, 1, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_capture_fin(NULL, &flow, UDS_PCAPNG_TO_SERVER, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(uds_capture_pending(NULL));
    assert_int_equal(uds_capture_close(NULL), 0);

    struct uds_capture *c = uds_capture_open(tu_path(fx->dir, "y"), NULL);
    assert_non_null(c);
    assert_int_equal(uds_capture_data(c, NULL, UDS_PCAPNG_TO_SERVER, "a", 1, 1, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_capture_data(c, &flow, (enum uds_pcapng_dir) 2, "a", 1, 1, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_capture_data(c, &flow, UDS_PCAPNG_TO_SERVER, NULL, 1, 1, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_capture_reset(c, &flow, (enum uds_pcapng_dir) -1, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_capture_close(c), 0);
}

/* ---- read back by Wireshark --------------------------------------------------------------- */

/* tshark's stdout for args on file (args may end in a pipe; stderr dropped), malloc'd. */
static char *tshark(const char *file, const char *args) {
    char cmd[PATH_MAX + 512];
    char *out = NULL;
    size_t len = 0;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "{ timeout 60 tshark -r '%s' %s; } 2>/dev/null", file, args);
    f = popen(cmd, "r");
    assert_non_null(f);
    FILE *mem = open_memstream(&out, &len);
    assert_non_null(mem);
    for (int ch; (ch = fgetc(f)) != EOF;)
        fputc(ch, mem);
    assert_int_equal(pclose(f), 0);
    fclose(mem);
    return out;
}

static bool have_tshark(void) {
    return system("command -v tshark >/dev/null 2>&1") == 0;
}

/* tshark -z follow,tcp,raw: hex lines, the server's indented by a tab; into the two
 * directions' bytes, counted in ret_len[dir]. */
static void follow_bytes(const char *text, uint8_t *out[2], size_t ret_len[2]) {
    ret_len[0] = ret_len[1] = 0;
    for (const char *line = text, *end; (end = strchr(line, '\n')); line = end + 1) {
        int dir = *line == '\t';
        const char *h = line + dir;
        size_t n = (size_t) (end - h);
        if (n == 0 || n % 2 || strspn(h, "0123456789abcdef") != n)
            continue;
        for (size_t i = 0; i < n; i += 2) {
            unsigned v;
            assert_int_equal(sscanf(h + i, "%2x", &v), 1);
            out[dir][ret_len[dir]++] = (uint8_t) v;
        }
    }
}

static void write_http_and_bulk(const char *path, const uint8_t *bulk, size_t len) {
    static const char req[] = "GET /v1/info HTTP/1.1\r\nHost: localhost\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 5\r\n\r\nhello";
    const struct uds_capture_opts opts = { .if_name = "/run/app.sock" };
    struct uds_pcapng_flow http, raw;
    uint64_t t = 1700000000000000ull;

    struct uds_capture *c = uds_capture_open(path, &opts);
    assert_non_null(c);
    uds_pcapng_flow_init(&http, 1, 80, false);
    uds_pcapng_flow_init(&raw, 2, 49152, false);
    assert_int_equal(uds_capture_begin(c, &http, t, "client pid 42"), 0);
    assert_int_equal(uds_capture_begin(c, &raw, t, NULL), 0);
    assert_int_equal(uds_capture_data(c, &http, UDS_PCAPNG_TO_SERVER, req, sizeof(req) - 1,
                                      t + 1, NULL), 0);
    for (size_t off = 0; off < len; off += 50000) {     /* in place and copied, both ways */
        size_t n = len - off < 50000 ? len - off : 50000;
        assert_int_equal(uds_capture_data(c, &raw, UDS_PCAPNG_TO_SERVER, bulk + off, n, t + 2,
                                          NULL), 0);
        assert_int_equal(uds_capture_data(c, &raw, UDS_PCAPNG_TO_CLIENT, bulk + off, n / 3,
                                          t + 3, NULL), 0);
    }
    assert_int_equal(uds_capture_data(c, &http, UDS_PCAPNG_TO_CLIENT, resp, sizeof(resp) - 1,
                                      t + 4, NULL), 0);
    for (int d = UDS_PCAPNG_TO_SERVER; d <= UDS_PCAPNG_TO_CLIENT; d++) {
        assert_int_equal(uds_capture_fin(c, &http, (enum uds_pcapng_dir) d, t + 5), 0);
        assert_int_equal(uds_capture_fin(c, &raw, (enum uds_pcapng_dir) d, t + 5), 0);
    }
    assert_int_equal(uds_capture_close(c), 0);
}

static void tshark_decodes_http_and_reassembles_a_bulk_stream(void **state) {
    struct tu_fixture *fx = *state;
    const char *path = tu_path(fx->dir, "ws.pcapng");
    const size_t len = 300007;
    uint8_t *bulk = pattern(len, 5), *got[2] = { malloc(len), malloc(len) };
    size_t got_len[2];
    char *out;

    if (!have_tshark())
        skip();
    alarm(120);
    assert_non_null(got[0]);
    assert_non_null(got[1]);
    write_http_and_bulk(path, bulk, len);
    out = tshark(path, "-Y http.request -T fields -e http.request.method "
                       "-e http.request.uri -e tcp.dstport");
    assert_string_equal(out, "GET\t/v1/info\t80\n");
    free(out);
    out = tshark(path, "-Y http.response -T fields -e http.response.code -e http.file_data");
    assert_true(strncmp(out, "200\t", 4) == 0);
    free(out);
    out = tshark(path, "-Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' -T fields "
                       "-e frame.comment -e frame.interface_name");
    assert_string_equal(out, "client pid 42\t/run/app.sock\n\t/run/app.sock\n");
    free(out);
    /* Every checksum right, as Wireshark checks them when asked (1: good). */
    out = tshark(path, "-o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -T fields "
                       "-e tcp.checksum.status -e ip.checksum.status | sort -u");
    assert_string_equal(out, "1\t1\n");
    free(out);
    /* No segment lost, repeated or out of order in Wireshark's eyes. */
    out = tshark(path, "-Y 'tcp.analysis.flags' -T fields -e frame.number");
    assert_string_equal(out, "");
    free(out);
    out = tshark(path, "-q -z follow,tcp,raw,1");
    follow_bytes(out, got, got_len);
    free(out);
    assert_int_equal(got_len[0], len);
    assert_memory_equal(got[0], bulk, len);
    size_t back = 0;
    for (size_t off = 0; off < len; off += 50000) {
        size_t n = (len - off < 50000 ? len - off : 50000) / 3;
        assert_memory_equal(got[1] + back, bulk + off, n);
        back += n;
    }
    assert_int_equal(got_len[1], back);
    free(got[0]);
    free(got[1]);
    free(bulk);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(file_is_0600_cloexec_and_its_blocks_chain,
                                        tu_fixture_setup, tu_fixture_teardown),
        cmocka_unit_test_setup_teardown(held_until_flushed_or_written_at_once_unbuffered,
                                        tu_fixture_setup, tu_fixture_teardown),
        cmocka_unit_test_setup_teardown(large_payloads_whole_and_in_order,
                                        tu_fixture_setup, tu_fixture_teardown),
        cmocka_unit_test_setup_teardown(snap_length_keeps_the_first_bytes_of_each_packet,
                                        tu_fixture_setup, tu_fixture_teardown),
        cmocka_unit_test_setup_teardown(udp_messages_one_datagram_each,
                                        tu_fixture_setup, tu_fixture_teardown),
        cmocka_unit_test_setup_teardown(reader_gone_epipe_without_sigpipe,
                                        tu_fixture_setup, tu_fixture_teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_einval,
                                        tu_fixture_setup, tu_fixture_teardown),
        cmocka_unit_test_setup_teardown(tshark_decodes_http_and_reassembles_a_bulk_stream,
                                        tu_fixture_setup, tu_fixture_teardown),
    };

    return cmocka_run_group_tests_name("capture", tests, NULL, NULL);
}
