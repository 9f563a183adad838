/* SPDX-License-Identifier: MIT */
/*
 * tap.h — `uds tap` (cmd_tap.c) and its helpers: printing what flows (tap_print.c: text
 * with escapes, hex, JSON lines), encoding it as pcapng with synthetic TCP and UDP packets
 * for Wireshark (tap_pcapng.c, a pure encoder: no I/O, no allocation), writing the capture
 * file in batches (tap_capture.c), and showing a datagram server's traffic, which the
 * library's datagram relay carries (tap_dgram.c).
 */
#ifndef UDS_CLI_TAP_H
#define UDS_CLI_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <udskit.h>

int cmd_tap(int argc, char **argv);

/* Which way a chunk went. */
enum tap_dir {
    TAP_TO_SERVER = 0,      /* from the client */
    TAP_TO_CLIENT = 1,      /* from the server */
};

/* ---- printing (tap_print.c) ------------------------------------------------------------- */

enum tap_format {
    TAP_TEXT = 0,           /* the payload as text, escaped for a terminal */
    TAP_HEX,                /* a hex dump with the printable bytes beside it */
    TAP_JSON,               /* one JSON object per line */
};

/* Who a connection's client is, as the tap saw it at accept. */
struct tap_client {
    unsigned id;            /* the connection's number, from 1 */
    bool has_peer;          /* pid/uid/gid are known (a Unix client) */
    pid_t pid;
    uid_t uid;
    gid_t gid;
    char command[16];       /* its /proc/PID/comm, "" unknown */
    char address[128];      /* a TCP client's address, "" for a Unix one */
};

struct tap_printer {
    FILE *out;
    enum tap_format format;
    size_t snaplen;         /* payload bytes shown at most; 0 = all */
};

/* An fd passed with a chunk, described (what /proc/self/fd/N points to). */
struct tap_fd {
    char what[128];
};

/* One block (text, hex) or line (JSON) each; every call flushes. */
void tap_print_open(const struct tap_printer *p, const struct tap_client *c);
void tap_print_data(const struct tap_printer *p, const struct tap_client *c, enum tap_dir dir,
                    const void *data, size_t len, size_t full_len, bool message,
                    const struct tap_fd *fds, size_t n_fds);
void tap_print_end(const struct tap_printer *p, const struct tap_client *c, enum tap_dir dir);
void tap_print_close(const struct tap_printer *p, const struct tap_client *c,
                     uint64_t bytes_to_server, uint64_t bytes_to_client, const char *error);

/* ---- pcapng (tap_pcapng.c) ---------------------------------------------------------------- */

/* The largest payload of one synthetic packet: what fits in an IPv4 packet. */
#define TAP_PCAP_TCP_MAX 65495u
#define TAP_PCAP_UDP_MAX 65507u

enum tap_tcp_flag {
    TAP_FIN = 0x01,
    TAP_SYN = 0x02,
    TAP_RST = 0x04,
    TAP_PSH = 0x08,
    TAP_ACK = 0x10,
};

/* One connection as a flow between two loopback addresses. */
struct tap_flow {
    uint32_t client_ip, server_ip;      /* host order */
    uint16_t client_port, server_port;
    uint32_t seq[2];                    /* next sequence number sent by each (enum tap_dir) */
    bool udp;                           /* each message one UDP datagram */
};

struct tap_packet {
    enum tap_dir dir;
    unsigned flags;             /* enum tap_tcp_flag (TCP only) */
    const void *payload;        /* at most TAP_PCAP_TCP_MAX / TAP_PCAP_UDP_MAX bytes */
    size_t len;
    size_t cap_len;             /* payload bytes written (snaplen), <= len */
    uint64_t ts_us;             /* microseconds since the epoch */
    const char *comment;        /* opt_comment, or NULL */
};

/* The Section Header Block, the Interface Description Block (LINKTYPE_RAW, if_name name),
 * one Enhanced Packet Block. Each writes into buf (size bytes) and returns the bytes
 * written, or 0 when they do not fit (nothing is then written that counts); the packet
 * advances flow's sequence numbers. */
size_t tap_pcapng_section(uint8_t *buf, size_t size);
size_t tap_pcapng_interface(uint8_t *buf, size_t size, const char *name);
size_t tap_pcapng_packet(uint8_t *buf, size_t size, struct tap_flow *flow,
                         const struct tap_packet *pkt);
/* Bytes tap_pcapng_packet() needs at most for pkt. */
size_t tap_pcapng_packet_size(const struct tap_packet *pkt);
/* The same block in parts, for a payload written from where it lies: the head (block, IP
 * and TCP/UDP headers; it advances flow's sequence numbers), then the caller's cap_len
 * payload bytes, then the tail (padding, comment, block length). Each returns the bytes
 * written, or 0 when they do not fit; check both fit before writing the head. */
size_t tap_pcapng_packet_head(uint8_t *buf, size_t size, struct tap_flow *flow,
                              const struct tap_packet *pkt);
size_t tap_pcapng_packet_tail(uint8_t *buf, size_t size, const struct tap_flow *flow,
                              const struct tap_packet *pkt);

/* The server port written for a socket at path when --port is not given: PostgreSQL's
 * .s.PGSQL.N is N, docker.sock HTTP (80), php-fpm FastCGI (9000); otherwise 49152, a port
 * no dissector claims. */
uint16_t tap_default_port(const char *path);

/* ---- the capture file (tap_capture.c) ------------------------------------------------------- */

#define TAP_CAPTURE_IOV 64

/* pcapng written to a file or stdout, batched: packets are encoded into a buffer written
 * when it fills, when tap_capture_flush() is called (a timer does), and after every packet
 * for a pipe being read live (-w -). A large payload is not copied into the buffer: it is
 * written from where it lies, between the buffer's parts, in one writev() before
 * tap_capture_data() returns. */
struct tap_capture {
    int fd;                 /* -1: no capture */
    bool own_fd;
    bool per_packet;        /* written at once, packet by packet */
    uint8_t *buf;
    size_t used, size;
    size_t snaplen;         /* payload bytes kept per packet; 0 = all */
    struct iovec iov[TAP_CAPTURE_IOV];  /* buf[0, mark) and the payloads between */
    size_t n_iov;
    size_t mark;            /* the bytes of buf already in iov */
};

/* Open file ("-" for stdout: then written per packet) and write the section and interface
 * blocks (the interface named ifname, the socket's path). Returns 0, or -1 with errno. */
int tap_capture_open(struct tap_capture *c, const char *file, const char *ifname,
                     size_t snaplen);
/* Write what is buffered. Returns 0, or -1 with errno (EPIPE: the reader has gone). */
int tap_capture_flush(struct tap_capture *c);
/* Whether bytes wait in the buffer. */
bool tap_capture_pending(const struct tap_capture *c);
/* Flush and close (the fd if it opened it). */
int tap_capture_close(struct tap_capture *c);

/* A connection begins: SYN, SYN-ACK, ACK for TCP (nothing for UDP); comment on the first. */
int tap_capture_begin(struct tap_capture *c, struct tap_flow *f, uint64_t ts_us,
                      const char *comment);
/* Bytes one way, in as many packets as they need; comment on the first. */
int tap_capture_data(struct tap_capture *c, struct tap_flow *f, enum tap_dir dir,
                     const void *data, size_t len, uint64_t ts_us, const char *comment);
/* One side's end (FIN), or the connection's abortive end (RST from dir). TCP only. */
int tap_capture_fin(struct tap_capture *c, struct tap_flow *f, enum tap_dir dir,
                    uint64_t ts_us);
int tap_capture_reset(struct tap_capture *c, struct tap_flow *f, enum tap_dir dir,
                      uint64_t ts_us);

/* ---- datagram servers (tap_dgram.c) -------------------------------------------------------- */

struct tap_dgram;

struct tap_dgram_opts {
    struct uds_loop *loop;
    int fd;                             /* the tap's bound dgram socket (the caller's) */
    const struct uds_addr *server;
    const char *server_name;            /* for capture comments and drop warnings */
    const char *listen_name;            /* the address the senders write to, for the log */
    bool as_client;                     /* root: send with each sender's credentials */
    const struct tap_printer *printer;  /* NULL: print nothing */
    struct tap_capture *cap;
    uint16_t server_port;
    unsigned *next_id;                  /* the tap's connection numbers, shared */
    void (*captured)(void *data, int result);   /* after each capture call */
    void *data;
};

/* Relay o->fd's senders to o->server (uds_dgram_relay_new()), showing and capturing each
 * datagram, until tap_dgram_free(). Errors: ENOMEM; those of uds_dgram_relay_new(). */
struct tap_dgram *tap_dgram_new(const struct tap_dgram_opts *o);
/* Datagrams dropped: a full queue, a sender that cannot be answered. */
uint64_t tap_dgram_dropped(const struct tap_dgram *d);
/* Forget every sender (their sockets closed) and stop reading o->fd (not closed). */
void tap_dgram_free(struct tap_dgram *d);

#endif /* UDS_CLI_TAP_H */
