/* SPDX-License-Identifier: MIT */
/*
 * relay.h — the relay's structures, shared by its three files and nothing else:
 * relay.c (lifecycle, events, timers, when a relay ends), relay_pump.c (moving bytes and
 * messages, pools) and relay_port.c (what an fd is, and how the relay reads and writes it).
 */
#ifndef UDSKIT_RELAY_H
#define UDSKIT_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Buffers and pipes kept for reuse once released: a relay holds them only while bytes are
 * in flight, so idle relays cost their fds and no memory beyond their struct. An empty pipe
 * costs two fds and no pages; a buffer may hold its pages, so fewer of those are kept. */
#define BUF_POOL_MAX 16
#define PIPE_POOL_MAX 64

enum { A = 0, B = 1 };

/* What an fd is, which says how the relay reads, writes and waits for it. */
enum port_kind {
    PORT_SOCKET,    /* recv()/send() with MSG_DONTWAIT and MSG_NOSIGNAL */
    PORT_PIPE,      /* a pipe or FIFO: read()/write(), and a write can raise SIGPIPE */
    PORT_POLLED,    /* another file epoll can watch (a terminal): read()/write() */
    PORT_FILE,      /* a regular file, or one epoll refuses (EPERM: /dev/null): never waited
                     * for, always ready */
};

/* One fd the relay reads, writes or both (a socket is one port for both directions). */
struct port {
    struct uds_relay *relay;
    int fd;                 /* what the relay reads and writes; -1 when none or closed */
    int caller_fd;          /* borrowed: the caller's fd (fd may be the relay's own
                             * description of the same file); else -1 */
    int saved_flags;        /* borrowed with O_NONBLOCK set on the caller's description:
                             * its flags before, put back at the end; else -1 */
    unsigned events;        /* registered in the loop now */
    enum port_kind kind;
    bool message;           /* a seqpacket or dgram socket: a read is one message, a write
                             * sends one */
    bool dgram;             /* a datagram socket: no end of stream, an empty read is an
                             * empty message */
    bool own;               /* the relay closes fd */
    bool borrowed;          /* the caller's fd: never shut down or closed by the relay */
    bool polled;            /* registered in the loop */
    bool splice_ok;         /* splice() to or from it cannot block (O_NONBLOCK, or a file) */
    bool unix_socket;       /* an AF_UNIX socket: it can carry fds */
};

struct pipe_pair {
    int r, w;
};

struct dir {
    int src, dst;           /* sides: A or B */
    struct port *from, *to; /* read from, written to */
    uint8_t from_i, to_i;   /* their indexes in the relay's port[] */
    char *buf;              /* pending bytes are buf[off, len) */
    size_t off, len;
    struct pipe_pair pipe;  /* r = -1 when none is held */
    size_t in_pipe;         /* pending bytes in the pipe */
    bool empty_msg;         /* an empty message is pending (message sockets only) */
    bool eof;               /* nothing more will be read from src */
    bool shut;              /* nothing more will be written to dst (shut down, or its peer is
                             * gone) */
    bool no_splice;         /* copy, never splice: splice() refused these fds (EINVAL), or
                             * one end keeps message boundaries or could block */
    bool bulk;              /* the last read was large: splice the next one */
    bool batched;           /* buf[off, len) is queued in the group's batch: neither read
                             * into nor written from until the batch has been sent */
    bool pass_fds;          /* fds read with the bytes are forwarded with them */
    int *fds;               /* fds that came with buf[off, len), to go with its first write */
    size_t full_len;        /* the last message read, before it was cut to the buffer */
    size_t n_fds;
};

struct uds_relay_group {
    struct uds_loop *loop;
    size_t buffer_size;
    int idle_ms;
    int first_byte_ms;
    bool can_splice;
    bool sigpipe_ignored;       /* a write to a pipe whose reader left cannot kill us */
    struct uds__batch *batch;   /* NULL: every write is sent at once */
    char *bufs[BUF_POOL_MAX];
    size_t n_bufs;
    struct pipe_pair pipes[PIPE_POOL_MAX];
    size_t n_pipes;
    struct uds_relay *relays;   /* live relays, doubly linked */
    size_t count;
};

#define N_PORTS 3
enum { A_IN = 0, A_OUT = 1, B_IO = 2 };

struct uds_relay {
    struct uds_relay_group *group;
    struct uds_relay *prev, *next;
    struct port port[N_PORTS];  /* A's input, A's output (unused, fd -1, when A is one fd:
                                 * then port[A_IN] is both), B */
    struct dir dir[2];      /* dir[A]: A to B, dir[B]: B to A */
    uint64_t bytes[2];      /* read from A, from B */
    uint64_t spliced[2];
    uint64_t messages[2];   /* messages read from A, from B (seqpacket, dgram) */
    uint64_t messages_cut;
    uint64_t sent_to_b;     /* messages written to B */
    int *pass_fds;          /* our copies of the fds to pass with B's first bytes, until sent */
    size_t n_pass;
    unsigned flags;         /* enum uds_relay_args_flags */
    size_t max_replies;
    int linger_ms;
    uint64_t timer;         /* for the earliest deadline below */
    uint64_t first_byte_at; /* when A's first byte is due; 0 = not (any more) */
    uint64_t kick;          /* a 0 ms timer: a file that is always ready has work */
    uint64_t last_ms;       /* last time a byte moved (idle timeout only) */
    uint64_t a_ended_ms;    /* B a dgram socket, linger_ms set: when A's input ended; 0
                             * while it goes on */
    uint64_t last_reply_ms; /* B a dgram socket, linger_ms set: when B last sent */
    bool moved;             /* a byte moved since last_ms was set */
    int error;
    enum uds_relay_side error_side;
    bool error_writing;
    bool ended;
    void (*observe)(struct uds_relay *relay, const struct uds_relay_chunk *chunk, void *data);
    void (*on_close)(struct uds_relay *relay, const struct uds_relay_info *info, void *data);
    void *data;
};

static inline bool pending(const struct dir *d) {
    return d->in_pipe > 0 || d->len > d->off || d->empty_msg;
}

static inline enum uds_relay_side side_of(int index) {
    return index == A ? UDS_RELAY_A : UDS_RELAY_B;
}

/* relay.c */
/* The relay ends with err, blamed on side (UDS_RELAY_NONE for a timeout or a local
 * failure), reading from it or writing to it. The first error is the one reported.
 * Returns -1. */
int uds__relay_fail(struct uds_relay *r, int err, enum uds_relay_side side, bool writing);
/* After events: pass on ends found outside a pump, end the relay if it is over (freeing
 * it), else watch for what each port can do next. */
void uds__relay_settle(struct uds_relay *r);
/* Set the relay's timer for its earliest deadline (idle, A's first byte, linger), replacing
 * the one set before. Returns 0, or -1/errno with the old one still set. */
int uds__relay_arm(struct uds_relay *r);
/* B is a dgram socket and has sent all that will be waited for (max_replies, or one
 * reply per message once A's input has ended). */
bool uds__relay_replies_done(const struct uds_relay *r);

/* relay_pump.c */
char *uds__relay_buf_get(struct uds_relay_group *g);
void uds__relay_buf_put(struct uds_relay_group *g, char *buf);
void uds__relay_pipe_put(struct uds_relay_group *g, struct pipe_pair *p, bool empty);
void uds__relay_pipe_close(struct pipe_pair *p);
/* Move what can be moved in direction d now. Returns 0, or -1 when the relay ends. */
int uds__relay_pump(struct uds_relay *r, struct dir *d);
/* Take the relay's sends out of the group's batch (its fds and buffers are going). */
void uds__relay_batch_remove(struct uds_relay *r);
/* Close the relay's copies of the fds to pass. */
void uds__relay_drop_pass_fds(struct uds_relay *r);
/* Close the fds d holds for its pending bytes. */
void uds__relay_drop_dir_fds(struct dir *d);

/* relay_port.c */
/* Make p the port for fd: what it is, and how it is read and written (borrowed: without
 * touching the caller's description where that can be helped). Returns 0 or -1/errno. */
int uds__port_open(struct port *p, int fd, bool reads, bool writes, bool borrowed);
/* Stop watching p, put back the caller's flags, close what the relay owns. */
void uds__port_close(struct uds_loop *loop, struct port *p, bool abortive);
/* One read or write of p, retried on EINTR; -1 with errno (EAGAIN: not now). A read of a
 * message socket returns the message's whole length, which may be more than len (it was
 * cut). write does not raise SIGPIPE, whatever the caller's disposition. */
ssize_t uds__port_read(const struct port *p, void *buf, size_t len);
/* The same from a socket, taking the fds that come with the bytes (SCM_RIGHTS, O_CLOEXEC):
 * *ret_fds malloc'ed (NULL when none) and *ret_n. EMSGSIZE when the control data was cut
 * (every fd that arrived is closed). */
ssize_t uds__port_read_fds(const struct port *p, void *buf, size_t len, int **ret_fds,
                           size_t *ret_n);
ssize_t uds__port_write(const struct uds_relay_group *g, const struct port *p,
                        const void *buf, size_t len);
/* The first bytes to B, with the fds to pass (SCM_RIGHTS). */
ssize_t uds__port_write_fds(const struct port *p, const void *buf, size_t len,
                            const int *fds, size_t n_fds);

#endif /* UDSKIT_RELAY_H */
