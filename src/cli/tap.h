/* SPDX-License-Identifier: MIT */
/*
 * tap.h — `uds tap` (cmd_tap.c) and its helpers: printing what flows (tap_print.c: text
 * with escapes, hex, JSON lines) and showing a datagram server's traffic, which the
 * library's datagram relay carries (tap_dgram.c). The capture file is the library's
 * (uds_capture_open(): pcapng with synthetic TCP and UDP packets for Wireshark).
 */
#ifndef UDS_CLI_TAP_H
#define UDS_CLI_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <udskit.h>

int cmd_tap(int argc, char **argv);

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
void tap_print_data(const struct tap_printer *p, const struct tap_client *c,
                    enum uds_pcapng_dir dir, const void *data, size_t len, size_t full_len,
                    bool message, const struct tap_fd *fds, size_t n_fds);
void tap_print_end(const struct tap_printer *p, const struct tap_client *c,
                   enum uds_pcapng_dir dir);
void tap_print_close(const struct tap_printer *p, const struct tap_client *c,
                     uint64_t bytes_to_server, uint64_t bytes_to_client, const char *error);

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
    struct uds_capture *const *cap;     /* the tap's capture (NULL: none, or closed) */
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
