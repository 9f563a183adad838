/* SPDX-License-Identifier: MIT */
/*
 * udskit.h — the one public header of libudskit: safe, fast, observable local IPC over
 * Unix domain sockets (AF_UNIX) on Linux.
 *
 * Conventions (every function below follows them unless its comment says otherwise):
 *  - failure returns -1 (or NULL) and sets errno, like the system calls wrapped; success
 *    returns >= 0 (an fd, a count, or 0);
 *  - a predicate (is it so?) returns bool, and a NULL argument answers false; a question
 *    that asks the system (files, /proc, DNS) and so can fail returns int: 1 yes, 0 no,
 *    -1 with errno;
 *  - nothing here prints, logs, exits, raises a signal, installs a signal handler or
 *    touches the process umask;
 *  - every fd the library opens is O_CLOEXEC, every send uses MSG_NOSIGNAL;
 *  - out-parameters are named ret_* and are written only on success;
 *  - option structs are passed as const pointers; NULL or an all-zero struct means
 *    "defaults": set them with designated initialisers (or = { 0 }) so that a field you
 *    do not name takes its default;
 *  - structs in caller storage (options, struct uds_listener, the records filled for
 *    you) carry no size or version field: a later version may add fields to them, so a
 *    program is built against the header of the library it runs with (until 1.0 no
 *    binary compatibility is kept across versions when a struct grows);
 *  - names: uds_X_new()/uds_X_free() make and free a heap object (free takes NULL);
 *    uds_X_get() fills a struct X in caller storage (a list, a record), and uds_X_done(),
 *    for one that holds memory or fds, releases it (takes NULL, leaves the struct
 *    empty); uds_E_name() is the text of a value of enum uds_E, never NULL ("unknown"
 *    for a value outside the enum);
 *  - a callback is declared with a function type named uds_*_fn (a pointer to it is
 *    passed); the library has no other typedefs.
 */
#ifndef UDSKIT_H
#define UDSKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UDS_API __attribute__((visibility("default")))

#define UDS_VERSION_MAJOR 0
#define UDS_VERSION_MINOR 1
#define UDS_VERSION_PATCH 0
#define UDS_VERSION_STRING "0.1.0"

/* The version of the library actually linked (may differ from UDS_VERSION_STRING). */
UDS_API const char *uds_version(void);

/* ---------------------------------------------------------------------------------------
 * Addresses (SPEC §1)
 *
 *   /run/app.sock, ./app.sock, app.sock   a socket file
 *   @name                                 Linux abstract namespace
 *   unix:PATH, unix:@name                 the same, explicit
 *   tcp:HOST:PORT, tcp:[v6]:PORT          TCP (only with UDS_ADDR_ALLOW_TCP)
 *
 * Parsing is pure: no syscalls, no allocation.
 * ------------------------------------------------------------------------------------- */

/* sun_path holds 108 bytes: a path of up to 107 bytes plus its NUL; an abstract name of
 * up to 107 bytes after the leading NUL. */
#define UDS_SUN_PATH_MAX 107
/* Longest filesystem path accepted (longer than sun_path: bound through a /proc alias). */
#define UDS_PATH_MAX 4095
#define UDS_HOST_MAX 255

enum uds_addr_kind {
    UDS_ADDR_PATH = 1,  /* name is a filesystem path */
    UDS_ADDR_ABSTRACT,  /* name is the abstract name, without the '@' */
    UDS_ADDR_TCP,       /* host and port */
};

struct uds_addr {
    enum uds_addr_kind kind;
    size_t len;                     /* bytes in name, excluding the NUL */
    char name[UDS_PATH_MAX + 1];    /* NUL-terminated */
    char host[UDS_HOST_MAX + 1];    /* TCP only; IPv6 without brackets */
    uint16_t port;                  /* TCP only */
};

enum uds_addr_flags {
    UDS_ADDR_ALLOW_TCP = 1u << 0,   /* accept tcp:HOST:PORT */
};

/* Parse the len bytes at text into *ret_addr.
 * Errors: EINVAL empty address, embedded NUL, "unix:" or "@" with nothing after it, a
 *         malformed tcp: address, or tcp: without UDS_ADDR_ALLOW_TCP;
 *         ENAMETOOLONG abstract name over UDS_SUN_PATH_MAX bytes, path over UDS_PATH_MAX,
 *         host over UDS_HOST_MAX. */
UDS_API int uds_addr_parse_n(const char *text, size_t len, unsigned flags,
                             struct uds_addr *ret_addr);
/* The same for a NUL-terminated string. */
UDS_API int uds_addr_parse(const char *text, unsigned flags, struct uds_addr *ret_addr);

/* Write the canonical text form ("/path", "rel/path", "@name", "tcp:host:port",
 * "tcp:[v6]:port") into buf, NUL-terminated and truncated to size like snprintf.
 * Returns the length the full text needs (excluding the NUL); -1/EINVAL on a bad addr. */
UDS_API int uds_addr_format(const struct uds_addr *addr, char *buf, size_t size);

/* Fill a sockaddr_un for a path or abstract address, with its exact length (an abstract
 * name is not NUL-padded: "@x" and "@x\0\0" are different sockets).
 * Errors: ENAMETOOLONG a path longer than UDS_SUN_PATH_MAX (uds_listen and uds_connect
 * reach such paths anyway); EAFNOSUPPORT a TCP address. */
UDS_API int uds_addr_to_sockaddr(const struct uds_addr *addr, struct sockaddr_un *ret_sa,
                                 socklen_t *ret_len);

/* ---------------------------------------------------------------------------------------
 * Safe listen (SPEC §2)
 * ------------------------------------------------------------------------------------- */

enum uds_socket_type {
    UDS_STREAM = 0,     /* SOCK_STREAM, the default */
    UDS_SEQPACKET,      /* SOCK_SEQPACKET */
    UDS_DGRAM,          /* SOCK_DGRAM */
};

/* The SOCK_* constant for a type, or -1/EINVAL. */
UDS_API int uds_socket_type_to_sock(enum uds_socket_type type);
/* "stream", "seqpacket", "dgram"; "unknown" for a value outside the enum. */
UDS_API const char *uds_socket_type_name(enum uds_socket_type type);
/* Parse one of the names above; -1/EINVAL otherwise. */
UDS_API int uds_socket_type_parse(const char *name, enum uds_socket_type *ret_type);

enum uds_listen_flags {
    UDS_LISTEN_SET_OWNER = 1u << 0,  /* chown the socket file to opts->owner */
    UDS_LISTEN_SET_GROUP = 1u << 1,  /* chown the socket file to opts->group */
    UDS_LISTEN_NONBLOCK = 1u << 2,   /* the listening fd is O_NONBLOCK */
    UDS_LISTEN_SET_MODE = 1u << 3,   /* opts->mode is the mode as it is, 0 included */
};

struct uds_listen_opts {
    enum uds_socket_type type;  /* default UDS_STREAM */
    mode_t mode;                /* permission bits of the socket file; 0 means 0600
                                 * unless UDS_LISTEN_SET_MODE */
    uid_t owner;                /* with UDS_LISTEN_SET_OWNER */
    gid_t group;                /* with UDS_LISTEN_SET_GROUP */
    int backlog;                /* 0 means SOMAXCONN */
    unsigned flags;             /* enum uds_listen_flags */
};

/* A bound listener. Lives in caller storage; uds_unlisten() releases it. */
struct uds_listener {
    int fd;                     /* the listening (or, for dgram, bound) socket */
    int lock_fd;                /* flock'ed PATH.lock, or -1 (abstract, adopted) */
    enum uds_socket_type type;
    struct uds_addr addr;       /* as given */
    dev_t dev;                  /* the socket file this listener bound, to unlink it */
    ino_t ino;                  /*   only while the path still names that inode */
    bool owns_path;             /* created the socket and lock files (not adopted) */
};

/* What uds_listen() found; written on success and on failure alike. */
struct uds_listen_info {
    bool removed_stale;         /* a socket nobody listened on was removed */
    pid_t holder_pid;           /* EADDRINUSE: pid of the live listener, 0 if unknown */
    bool lock_failed;           /* the error is about the lock file PATH.lock, not the
                                 * socket path: see uds_listen() */
};

/* Bind and listen on address (any form of §1 but tcp:), safely:
 *  - the path is examined with lstat() first; a path that exists and is not a socket
 *    (regular file, directory, symlink to anything) is never touched;
 *  - PATH.lock is created and flock()ed for the listener's lifetime, so of several
 *    processes starting at once on one path exactly one wins;
 *  - an existing socket is probed with connect(): ECONNREFUSED means stale, and it is
 *    removed (info->removed_stale) and replaced; a live listener is left alone;
 *  - the socket file never exists with a mode wider than opts->mode, and the process
 *    umask is not changed; then it is chown()ed (flags) and chmod()ed to exactly the mode;
 *  - a path longer than sun_path is bound through /proc/self/fd/N/NAME of an O_PATH fd
 *    to its directory.
 * Returns the listening fd (also ret_listener->fd).
 * Errors: EINVAL bad address or options; EAFNOSUPPORT a tcp: address;
 *         EADDRINUSE a live listener holds the path (info->holder_pid) or the lock file is
 *         held by another listener starting; EEXIST the path exists and is not a socket;
 *         ENOENT the directory is missing; EACCES/EPERM permission; ENAMETOOLONG.
 * info->lock_failed says that the error is about PATH.lock as found, and not about the
 * socket path: EEXIST it is not a regular file (a symlink, FIFO, directory, socket...);
 * EADDRINUSE another process holds its lock and no listener answers at the path (a live
 * one is reported as such, lock_failed false); another errno from opening it (EACCES...).
 * A failure to create PATH.lock in its directory (ENOENT, EACCES, EROFS...) concerns the
 * socket path as much, and leaves lock_failed false. A lock file that is not ours is never
 * followed, written, nor removed.
 * info may be NULL. */
UDS_API int uds_listen(const char *address, const struct uds_listen_opts *opts,
                       struct uds_listener *ret_listener, struct uds_listen_info *info);

/* The same with an already parsed address. */
UDS_API int uds_listen_addr(const struct uds_addr *addr, const struct uds_listen_opts *opts,
                            struct uds_listener *ret_listener, struct uds_listen_info *info);

/* Take over an fd that is already bound and listening (socket activation, inherited):
 * sets O_CLOEXEC, reads its type and address. The listener does not own the path, so
 * uds_unlisten() will only close the fd. Consumes fd (closed on failure too).
 * Errors: ENOTSOCK, EAFNOSUPPORT (not AF_UNIX), EINVAL (not listening, stream/seqpacket). */
UDS_API int uds_listener_adopt(int fd, struct uds_listener *ret_listener);

/* Close the listener. If it created the socket file and the path still names the inode it
 * bound, unlink the path (before closing, so no one connects to a dying socket) and the
 * lock file; a path that another instance has taken over since is left alone.
 * Safe to call twice and on an all-zero-fd struct set up by uds_listener_init(). */
UDS_API int uds_unlisten(struct uds_listener *listener);

/* Make listener an empty one (fd = lock_fd = -1) so uds_unlisten() on it is a no-op. */
UDS_API void uds_listener_init(struct uds_listener *listener);

/* Standing in front of a live server's path without restarting it (uds tap): the
 * caller's socket is bound beside the server's as DIR/.NAME.uds-tap.PID, with the same
 * type, mode, owner and group, then the two names are exchanged atomically
 * (renameat2(RENAME_EXCHANGE)): at no moment is the path missing or unanswered. New
 * clients reach the caller, which reaches the server at server_path. Lives in caller
 * storage; uds_swap_init() makes an empty one. */
struct uds_swap {
    int dir_fd;                 /* O_PATH fd of the path's directory, or -1 */
    int fd;                     /* the caller's socket (listening; bound for dgram) */
    enum uds_socket_type type;  /* the server's, and so the caller's */
    char name[256];             /* the path's last name */
    char hidden[256];           /* where the server's socket is while swapped */
    char server_path[UDS_PATH_MAX + 1]; /* DIR/hidden: connect here to reach the server */
    dev_t dev;
    ino_t server_ino;           /* the server's socket file */
    ino_t own_ino;              /* the caller's */
    pid_t guard_pid;            /* the watchdog (uds_swap_guard()), or 0 */
    int guard_fd;               /* the caller's end of the watchdog's pipe, or -1 */
    bool swapped;               /* the names are exchanged now */
};

/* An empty swap (fds -1), that uds_swap_done() leaves alone. */
UDS_API void uds_swap_init(struct uds_swap *swap);
/* Verify that path (a filesystem path) is a socket file with a live server, probing it
 * once with connect() (the server sees one connection that closes at once), bind the
 * caller's socket beside it as described above, listen, and exchange the names. The
 * exchange is checked: if the server's file changed in the meantime it is undone (EAGAIN).
 * Returns the caller's socket (also ret_swap->fd, owned by the swap: closed by
 * uds_swap_done()).
 * Errors: EINVAL path NULL, empty, abstract, or ending in "/", "." or ".."; ENOENT no such
 *         file; ENOTSOCK the path is not a socket (a file, directory or symlink is never
 *         swapped); ECONNREFUSED no server listens (stale socket); EAGAIN the path changed
 *         while swapping; ENAMETOOLONG; EACCES/EPERM (the directory is not writable, or the
 *         owner cannot be given: the caller is neither root nor the socket's owner);
 *         EINVAL/ENOSYS a filesystem or kernel without RENAME_EXCHANGE. */
UDS_API int uds_swap_in(const char *path, struct uds_swap *ret_swap);
/* Exchange the names back: the server's socket at the path again, the caller's at the
 * hidden name, still open (clients already in its backlog can still be accepted). Only if
 * both names still hold what the swap put there; otherwise nothing is touched and it
 * fails with ESTALE (the server was restarted at the path meanwhile, say). Returns 0 (also
 * when not swapped), or -1: ESTALE; EINVAL; those of renameat2(). */
UDS_API int uds_swap_out(struct uds_swap *swap);
/* Start a watchdog: a child process, out of the caller's session and ignoring SIGINT,
 * SIGTERM, SIGHUP and SIGQUIT, holding no fd of the caller's but its directory fd and one
 * pipe. When the caller exits or dies (SIGKILL included) the pipe's end closes, and the
 * watchdog swaps back as uds_swap_out() does and removes the caller's socket, at once,
 * then exits. Returns 0, or -1: EINVAL (no swap, or a watchdog already); those of
 * pipe2() and fork(). */
UDS_API int uds_swap_guard(struct uds_swap *swap);
/* Swap back if still swapped, remove the caller's socket file (before closing it) if the
 * hidden name still holds it, close the fds, end the watchdog and reap it. Keeps errno.
 * NULL and an empty swap are fine. */
UDS_API void uds_swap_done(struct uds_swap *swap);

/* A swap found beside a path: DIR/.NAME.uds-tap.PID. */
struct uds_swap_leftover {
    pid_t pid;                  /* the process that made it */
    bool running;               /* that pid is alive (a tap at work, or a reused pid) */
    bool hidden_live;           /* a server listens at the hidden name: the path holds
                                 * something else (a dead tap's socket). Else the hidden
                                 * name is only the tap's socket, stale */
    char hidden_path[UDS_PATH_MAX + 1];
};

/* Look beside path for a swap's hidden name. Returns 1 with *ret_leftover, 0 when there
 * is none, or -1: EINVAL; ENAMETOOLONG; those of opening the directory. */
UDS_API int uds_swap_find_leftover(const char *path, struct uds_swap_leftover *ret_leftover);

/* ---------------------------------------------------------------------------------------
 * Connect
 * ------------------------------------------------------------------------------------- */

enum uds_connect_flags {
    UDS_CONNECT_NONBLOCK = 1u << 0,  /* the returned fd is O_NONBLOCK */
};

struct uds_connect_opts {
    enum uds_socket_type type;  /* default UDS_STREAM */
    int timeout_ms;             /* connect deadline, also on a full backlog; 0 = none */
    int wait_ms;                /* keep retrying (backoff) while the server is absent
                                 * (ENOENT, ECONNREFUSED) or its backlog full, up to this
                                 * long; 0 = one attempt */
    unsigned flags;             /* enum uds_connect_flags */
};

/* Connect to address (any form of §1 but tcp:). A dgram socket is also auto-bound to an
 * abstract address so a server can reply. The call has one deadline, the larger of
 * timeout_ms and wait_ms: a missing or stale server is retried only while wait_ms runs; a
 * full backlog (EAGAIN) is waited out, never reported, until the deadline (with neither
 * set, for as long as it takes). Returns the connected fd.
 * Errors: ENOENT no such socket; ECONNREFUSED nobody listens (stale socket);
 *         EACCES/EPERM; ETIMEDOUT deadline passed; EPROTOTYPE type mismatch;
 *         EINVAL/ENAMETOOLONG/EAFNOSUPPORT address. */
UDS_API int uds_connect(const char *address, const struct uds_connect_opts *opts);
UDS_API int uds_connect_addr(const struct uds_addr *addr, const struct uds_connect_opts *opts);
/* uds_connect_addr() as another user: a thread of its own (made for the call, ended
 * after it) takes uid as its effective uid, gid as its effective gid and groups (n_groups
 * of them) as its supplementary groups, with raw system calls that change that thread
 * alone, and connects. The server's SO_PEERCRED then names that uid and gid (and the
 * caller's pid), SO_PEERGROUPS those groups, and the socket file's permissions are checked
 * against them, as for that user's own connect; the caller's threads never change ids.
 * Needs CAP_SETUID and CAP_SETGID (root). A path longer than sun_path is reached through
 * /proc/self/fd, which another user may not read: EACCES. Returns the connected fd.
 * Errors: EINVAL; EPERM not privileged; EAGAIN/ENOMEM no thread; those of
 *         uds_connect_addr(). */
UDS_API int uds_connect_as(const struct uds_addr *addr, const struct uds_connect_opts *opts,
                           uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups);

/* ---------------------------------------------------------------------------------------
 * TCP: where udskit takes either family (a uds_server's listener, a uds_dialer's
 * destination), tcp:HOST:PORT resolved, listened on and named. Which hosts may be
 * listened on is the caller's policy: nothing here refuses a public address.
 * ------------------------------------------------------------------------------------- */

#define UDS_TCP_ADDRS_MAX 8

/* A host's addresses, in the order getaddrinfo() gives them. */
struct uds_tcp_addrs {
    size_t n;
    struct sockaddr_storage addrs[UDS_TCP_ADDRS_MAX];  /* AF_INET or AF_INET6, with the port */
    socklen_t lens[UDS_TCP_ADDRS_MAX];
};

/* Resolve a tcp: address with getaddrinfo() (which may block, asking DNS): its IPv4 and
 * IPv6 addresses, the first UDS_TCP_ADDRS_MAX of them. Returns the count (>= 1).
 * *gai_error (may be NULL) is written on success and on failure alike: getaddrinfo()'s
 * code, for gai_strerror(), or 0 when it succeeded.
 * Errors: EINVAL not a tcp: address; ENOENT the host is not known (EAI_NONAME) or has no
 * IPv4 or IPv6 address (*gai_error 0); EAGAIN a temporary failure (EAI_AGAIN); ENOMEM;
 * with EAI_SYSTEM, the errno getaddrinfo() left; EIO any other getaddrinfo() failure. */
UDS_API int uds_tcp_resolve(const struct uds_addr *addr, struct uds_tcp_addrs *ret_addrs,
                            int *gai_error);

/* The tcp: address (host as a numeric IPv4 or IPv6 address, port) of an AF_INET or
 * AF_INET6 socket address. Errors: EINVAL NULL; EAFNOSUPPORT another family. */
UDS_API int uds_addr_from_inet(const struct sockaddr *sa, struct uds_addr *ret_addr);

/* Bind a TCP stream socket to sa (AF_INET or AF_INET6, from uds_tcp_resolve() for
 * instance) and listen, with SO_REUSEADDR (a restart need not wait out TIME_WAIT) and, for
 * IPv6, IPV6_V6ONLY ([::] is IPv6 only). Of opts, only backlog (0 = SOMAXCONN), type
 * (UDS_STREAM) and UDS_LISTEN_NONBLOCK apply; the rest is for socket files and must be 0.
 * ret_listener->addr is the address bound: tcp:, with the port the kernel chose for port 0.
 * uds_unlisten() closes it. Returns the listening fd.
 * Errors: EINVAL bad options; EAFNOSUPPORT not AF_INET/AF_INET6; EADDRINUSE the port is
 * taken; EACCES a port below 1024 without CAP_NET_BIND_SERVICE; EADDRNOTAVAIL not an
 * address of this machine; those of socket(). */
UDS_API int uds_listen_tcp(const struct sockaddr *sa, socklen_t len,
                           const struct uds_listen_opts *opts, struct uds_listener *ret_listener);

/* uds_listener_adopt() for a TCP listening socket (an inherited or socket-activated one):
 * sets O_CLOEXEC, reads its address into ret_listener->addr (tcp:). Consumes fd (closed on
 * failure too). Errors: EBADF; ENOTSOCK; EAFNOSUPPORT not AF_INET/AF_INET6; EINVAL not a
 * listening stream socket. */
UDS_API int uds_listener_adopt_tcp(int fd, struct uds_listener *ret_listener);

/* Whether sa is a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. */
UDS_API bool uds_inet_is_loopback(const struct sockaddr *sa);

/* Whether connecting to addr would reach listener, whatever the spelling: the same socket
 * file by any path (relative or absolute, through symbolic links), the same abstract
 * name, or one of addr's TCP addresses (tcp, as uds_tcp_resolve() gives them; NULL:
 * resolved now) on the listener's port at an address it takes: its own, or for a
 * listener on every address (0.0.0.0, [::]) loopback or one of this machine's, IPv4 too
 * on [::] without IPV6_V6ONLY; 0.0.0.0 and :: as a destination are loopback, as connect()
 * takes them. For a program that must not connect to itself. Returns 1, 0 (also when a
 * path cannot be looked at), or -1: EINVAL; those of uds_tcp_resolve(). */
UDS_API int uds_listener_reached_by(const struct uds_listener *listener,
                                    const struct uds_addr *addr, const struct uds_tcp_addrs *tcp);

/* ---------------------------------------------------------------------------------------
 * Dialer: connect without blocking, driven by a uds_loop, for a program that must never
 * wait (a proxy connecting each client to its target). The destination is a Unix socket
 * (a path, one longer than sun_path reached through its directory, an abstract name) or
 * tcp:, whose addresses are tried in turn. A Unix server whose backlog is full is there
 * but busy: that is waited out until the timeout. A TCP socket gets TCP_NODELAY.
 * ------------------------------------------------------------------------------------- */

struct uds_loop;     /* the event loop, below */
struct uds_dialer;
struct uds_dial;

struct uds_dialer_opts {
    int timeout_ms;                     /* a dial gives up after this long (ETIMEDOUT), a
                                         * full backlog included; 0 = never */
    const struct uds_tcp_addrs *tcp;    /* tcp: the addresses to try (copied), as
                                         * uds_tcp_resolve() gives them; NULL: resolve
                                         * them now (blocking) */
    int wait_ms;                        /* keep trying a destination that is not there
                                         * (ENOENT, ECONNREFUSED: no socket file, a stale
                                         * one, a closed TCP port) for up to this long,
                                         * after 50, 100, 200... up to 1000 ms, the last
                                         * try at wait_ms itself; meanwhile uds_dial()
                                         * answers EINPROGRESS, and once the time is up
                                         * done gets that error. The dial's deadline is
                                         * then the longer of timeout_ms and wait_ms, as
                                         * for uds_connect(). 0 = one try */
};

/* A dialer to addr on loop (which must outlive it), for any number of dials. A Unix
 * address is checked now; a long path's directory is looked up at each dial, so it may
 * come and go. Errors: EINVAL; ENAMETOOLONG; EAFNOSUPPORT an address in opts->tcp that is
 * not AF_INET/AF_INET6; those of uds_tcp_resolve(); ENOMEM. */
UDS_API struct uds_dialer *uds_dialer_new(struct uds_loop *loop, const struct uds_addr *addr,
                                          const struct uds_dialer_opts *opts);
/* Cancel the dials in progress (their done is not called) and free the dialer. NULL is
 * fine. */
UDS_API void uds_dialer_free(struct uds_dialer *dialer);

/* How a dial that did not connect at once ends: fd connected, error 0; or fd -1 and the
 * error. */
typedef void uds_dial_done_fn(int fd, int error, void *data);

/* Connect to the dialer's destination, as connect() on a non-blocking socket would:
 *  - connected at once (a Unix server with room in its backlog): returns the fd; done
 *    is not called;
 *  - not yet: returns -1 with EINPROGRESS and *ret_dial; later, from the loop, the dial
 *    ends with done(fd, 0, data), or done(-1, error, data) once every address has
 *    failed (the last error) or the timeout has passed (ETIMEDOUT). The dial is freed
 *    before done is called;
 *  - failed at once: returns -1 with the error; done is not called.
 * The fd is a connected stream socket, O_NONBLOCK and O_CLOEXEC, the caller's.
 * Errors: ENOENT no such socket; ECONNREFUSED nobody listens (a stale socket file, or a
 * TCP port); EACCES/EPERM; ENETUNREACH/EHOSTUNREACH; ETIMEDOUT; EINVAL; ENOMEM; those of
 * socket(). */
UDS_API int uds_dial(struct uds_dialer *dialer, uds_dial_done_fn *done, void *data,
                     struct uds_dial **ret_dial);
/* Give up a dial in progress: its socket is closed, done is not called, dial is freed.
 * Not after done was called. NULL is fine. */
UDS_API void uds_dial_cancel(struct uds_dial *dial);

/* ---------------------------------------------------------------------------------------
 * PROXY protocol (HAProxy's, versions 1 and 2): the header a proxy sends its target before
 * the client's bytes, naming the client. Pure: no system call, no allocation.
 * ------------------------------------------------------------------------------------- */

/* Room for any header uds_proxy_header() writes (v1 at most 107 bytes, v2 at most 52). */
#define UDS_PROXY_HEADER_MAX 108

/* Write the PROXY protocol header of version (1 text, 2 binary) for a connection from src
 * (the client) to dst (the address it reached) into buf. Two TCP addresses of one family
 * are named (TCP4, TCP6); any other pair (a Unix client, NULL) is v1's "UNKNOWN", and in
 * v2 the LOCAL command without addresses: the target then uses the connection's own
 * endpoints. v2's AF_UNIX family is not used: HAProxy and Envoy refuse it. Returns the
 * length. Errors: EINVAL version or buf; ENOSPC size too small (UDS_PROXY_HEADER_MAX is
 * always enough). */
UDS_API ssize_t uds_proxy_header(int version, const struct sockaddr *src,
                                 const struct sockaddr *dst, void *buf, size_t size);

/* PROXY v2 TLV types (proxy-protocol.txt 2.2) and PP2_TYPE_SSL's client bits and sub-types. */
enum {
    UDS_PP2_TYPE_ALPN = 0x01, UDS_PP2_TYPE_AUTHORITY = 0x02, UDS_PP2_TYPE_UNIQUE_ID = 0x05,
    UDS_PP2_TYPE_SSL = 0x20,
    UDS_PP2_SUBTYPE_SSL_VERSION = 0x21, UDS_PP2_SUBTYPE_SSL_CN = 0x22,
    UDS_PP2_SUBTYPE_SSL_CIPHER = 0x23, UDS_PP2_SUBTYPE_SSL_SIG_ALG = 0x24,
    UDS_PP2_SUBTYPE_SSL_KEY_ALG = 0x25,
    UDS_PP2_CLIENT_SSL = 0x01, UDS_PP2_CLIENT_CERT_CONN = 0x02, UDS_PP2_CLIENT_CERT_SESS = 0x04,
};

/* Write one TLV (type, 16-bit length, len bytes of value) into buf: a PROXY v2 TLV, or a
 * sub-TLV inside PP2_TYPE_SSL's value (after its client byte and 32-bit verify field).
 * Returns 3 + len. Errors: EINVAL type over 255, len over 65535, buf NULL (or value NULL
 * with len); ENOSPC size < 3 + len. */
UDS_API ssize_t uds_proxy_tlv(unsigned type, const void *value, size_t len, void *buf,
                              size_t size);
/* Append a TLV to the v2 header of hdr_len bytes at hdr (from uds_proxy_header(2, ...), or
 * with TLVs added already; size bytes of room) and count it in the header's length field.
 * Returns the header's new length. Errors: EINVAL not a v2 header of hdr_len bytes, or the
 * header would pass 65535 bytes after its fixed 16, or as uds_proxy_tlv(); ENOSPC no room. */
UDS_API ssize_t uds_proxy_header_add_tlv(void *hdr, size_t hdr_len, size_t size,
                                         unsigned type, const void *value, size_t len);

/* ---------------------------------------------------------------------------------------
 * I/O helpers
 * ------------------------------------------------------------------------------------- */

/* Send all len bytes (MSG_NOSIGNAL), across partial sends and EINTR; on a non-blocking fd,
 * waits with poll() for room. Returns len, or -1 (EPIPE when the peer is gone). */
UDS_API ssize_t uds_send_all(int fd, const void *buf, size_t len);

/* Receive exactly len bytes, across partial reads and EINTR (polls on a non-blocking fd).
 * Returns len, or fewer only at end of stream (0 if EOF before any byte), or -1. */
UDS_API ssize_t uds_recv_all(int fd, void *buf, size_t len);

/* Set or clear O_NONBLOCK. */
UDS_API int uds_set_nonblock(int fd, bool on);

/* ---------------------------------------------------------------------------------------
 * Messages: length-prefixed framing on stream sockets. A frame is a 4-byte big-endian
 * payload length, then the payload. The decoder is a pure, incremental state machine: no
 * syscalls, no allocation, no fds, no pointers kept into the caller's buffers.
 * ------------------------------------------------------------------------------------- */

#define UDS_FRAME_HEADER_SIZE 4
#define UDS_FRAME_DEFAULT_MAX (16u << 20)   /* 16 MiB */

struct uds_frame_decoder {
    uint32_t max;           /* largest payload accepted */
    uint32_t length;        /* payload length of the frame being decoded */
    uint32_t remaining;     /* payload bytes of it still to come */
    uint8_t header[UDS_FRAME_HEADER_SIZE];
    uint8_t have;           /* header bytes collected so far */
    bool in_payload;        /* header complete, payload (or its end) still to report */
    int error;              /* sticky errno once a frame was refused, else 0 */
};

enum uds_frame_event {
    UDS_FRAME_NEED_MORE = 0,    /* all input consumed; nothing to report yet */
    UDS_FRAME_PIECE,            /* piece holds payload bytes of the current frame */
};

struct uds_frame_piece {
    const uint8_t *data;    /* points into the buffer given to feed(); valid until the
                             * caller reuses that buffer */
    size_t len;             /* may be 0 (an empty frame) */
    uint32_t frame_len;     /* the whole payload's length */
    bool first;             /* the frame's first piece: allocate frame_len now if needed */
    bool last;              /* the frame is complete with this piece */
};

/* Start decoding with a maximum payload of max bytes (0 = UDS_FRAME_DEFAULT_MAX). */
UDS_API void uds_frame_decoder_init(struct uds_frame_decoder *decoder, uint32_t max);

/* Consume at most len bytes of buf. Returns the number of bytes consumed and sets
 * *ret_event; for UDS_FRAME_PIECE, *ret_piece describes payload bytes of one frame (a whole
 * frame that lies in buf comes as one piece with first and last set, without copying).
 * Call again with the rest of buf until it is consumed. A length over max is refused as
 * soon as its 4 header bytes are known, before anyone allocates.
 * Errors (sticky: every later call fails the same way): EMSGSIZE frame over max. */
UDS_API ssize_t uds_frame_decoder_feed(struct uds_frame_decoder *decoder, const void *buf,
                                       size_t len, enum uds_frame_event *ret_event,
                                       struct uds_frame_piece *ret_piece);

/* Whether the decoder is between frames (no partial header or payload pending): a stream
 * that ends when this is false ended mid-frame. */
UDS_API bool uds_frame_decoder_idle(const struct uds_frame_decoder *decoder);

/* Write the 4-byte header for a payload of len bytes. */
UDS_API void uds_frame_header(uint8_t out[UDS_FRAME_HEADER_SIZE], uint32_t len);

/* Send one frame (header and payload in one sendmsg where they fit), across partial sends
 * and EINTR. Errors: EMSGSIZE len over UINT32_MAX; those of uds_send_all(). */
UDS_API int uds_frame_send(int fd, const void *buf, size_t len);

/* Receive one frame of at most max bytes (0 = UDS_FRAME_DEFAULT_MAX) into a malloc'ed
 * buffer (*ret_buf, free() it; NUL-terminated for convenience, not counted in *ret_len).
 * Returns 1 with a frame, 0 at a clean end of stream (no partial frame).
 * Errors: EMSGSIZE frame over max (the stream is then out of step: close it);
 *         EPROTO the stream ended inside a frame; ENOMEM; those of recv(). */
UDS_API int uds_frame_recv(int fd, uint32_t max, void **ret_buf, size_t *ret_len);

/* ---------------------------------------------------------------------------------------
 * Fd passing (SCM_RIGHTS). Received fds are O_CLOEXEC (MSG_CMSG_CLOEXEC) and belong to the
 * caller only on success: on any failure every fd that arrived is closed.
 * ------------------------------------------------------------------------------------- */

/* The kernel's limit of fds in one message (SCM_MAX_FD). */
#define UDS_MAX_FDS 253

/* Send len bytes (len >= 1: the fds travel with the first byte) with n_fds fds attached,
 * across partial sends and EINTR (the fds go with the first sendmsg only).
 * Returns len. Errors: EINVAL len == 0 or n_fds over UDS_MAX_FDS; those of sendmsg(). */
UDS_API ssize_t uds_send_fds(int fd, const void *buf, size_t len, const int *fds,
                             size_t n_fds);

/* Receive up to len bytes (one recvmsg, retried on EINTR and, on a non-blocking fd, waited
 * for) and the fds that came with them, at most max_fds (the per-message limit), into
 * ret_fds; *ret_n_fds is how many. Returns the byte count (0 at end of stream).
 * Errors: EMSGSIZE more fds arrived than max_fds, or the control data was truncated
 * (MSG_CTRUNC) — every fd that did arrive is closed; EPROTO unexpected control data. */
UDS_API ssize_t uds_recv_fds(int fd, void *buf, size_t len, int *ret_fds, size_t max_fds,
                             size_t *ret_n_fds);

/* One framed message (see Messages) with fds attached to it: the fds ride on the header,
 * so they stay tied to their message however the bytes are split on the way. */
UDS_API int uds_frame_send_fds(int fd, const void *buf, size_t len, const int *fds,
                               size_t n_fds);
/* Receive one framed message and its fds (at most max_fds). Returns 1, or 0 at a clean end
 * of stream. Errors: those of uds_frame_recv() and uds_recv_fds(); fds arriving anywhere
 * but on the header are a protocol error (EPROTO). On failure no fd is left open. */
UDS_API int uds_frame_recv_fds(int fd, uint32_t max, void **ret_buf, size_t *ret_len,
                               int *ret_fds, size_t max_fds, size_t *ret_n_fds);

/* ---------------------------------------------------------------------------------------
 * Socket activation and readiness (systemd's protocol, also spoken by
 * systemd-socket-activate): the fds a service manager passes through LISTEN_FDS, and state
 * datagrams to NOTIFY_SOCKET. Both read the process environment, which is process-global:
 * call them before starting threads.
 * ------------------------------------------------------------------------------------- */

/* The first passed fd (systemd's SD_LISTEN_FDS_START); the others follow it. */
#define UDS_LISTEN_FDS_START 3

enum uds_activation_flags {
    /* Remove LISTEN_PID, LISTEN_PIDFDID, LISTEN_FDS and LISTEN_FDNAMES from the environment
     * whatever the outcome, so that child processes do not inherit them. unsetenv() is
     * process-global and not thread-safe: for single-threaded callers. */
    UDS_ACTIVATION_UNSET_ENV = 1u << 0,
};

/* The fds passed to this process, in caller storage; uds_activation_done() frees it. */
struct uds_activation {
    size_t n_fds;
    int *fds;       /* UDS_LISTEN_FDS_START + i; -1 once uds_activation_listener() took it */
    char **names;   /* from LISTEN_FDNAMES (split at ':'), "unknown" each when it is unset */
};

/* Take the fds passed by a service manager: when LISTEN_PID is this process, LISTEN_FDS fds
 * starting at UDS_LISTEN_FDS_START (and LISTEN_PIDFDID, when set, names this process too).
 * Each of them is made close-on-exec. Returns their count; 0 when none were passed, or they
 * were meant for another process. *ret_activation is written on success (empty for 0);
 * the fds stay open and belong to the caller.
 * Errors: EINVAL LISTEN_PID, LISTEN_PIDFDID or LISTEN_FDS is not a plain decimal number
 *         (systemd also takes blanks and 0x/octal forms; nothing writes them), LISTEN_FDS is
 *         0, or LISTEN_FDNAMES does not hold exactly one name per fd, or unknown flags;
 *         EBADF one of the fds is not open; ENOMEM. */
UDS_API int uds_activation_get(unsigned flags, struct uds_activation *ret_activation);
/* Free what uds_activation_get() allocated (not the fds); leaves it empty. NULL is fine. */
UDS_API void uds_activation_done(struct uds_activation *activation);

/* The fd named name, or with name NULL the first fd uds_listener_adopt() takes (an AF_UNIX
 * listening stream or seqpacket socket, or a dgram socket). The fd stays in *activation.
 * Errors: ENOENT no such fd (or it was taken). */
UDS_API int uds_activation_find(const struct uds_activation *activation, const char *name);

/* uds_activation_find(), then uds_listener_adopt() on that fd, which leaves *activation
 * (its entry becomes -1) and is consumed even if adopting fails. Returns the fd.
 * Errors: ENOENT as above; EAFNOSUPPORT the named fd is not such a socket (it is left
 *         open, in *activation); those of uds_listener_adopt(). */
UDS_API int uds_activation_listener(struct uds_activation *activation, const char *name,
                                    struct uds_listener *ret_listener);

/* Send state (e.g. "READY=1", "STOPPING=1", "STATUS=text", several separated by '\n') as
 * one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (an absolute path or
 * "@abstract"). The receiver learns our pid/uid/gid from the kernel (SO_PASSCRED).
 * Returns 1 when sent, 0 when NOTIFY_SOCKET is unset (nothing to do).
 * Errors: EINVAL state empty, or NOTIFY_SOCKET is not an absolute path or '@' name;
 *         EAFNOSUPPORT another family (vsock:...); ENAMETOOLONG; those of sendto() (ENOENT,
 *         ECONNREFUSED: nothing listens there; EMSGSIZE; EACCES). */
UDS_API int uds_notify(const char *state);

/* ---------------------------------------------------------------------------------------
 * Large messages through sealed memfds. On a stream socket, a message of at least the
 * pool's threshold travels as a memfd passed with SCM_RIGHTS, mapped by the receiver: its
 * bytes never go through the socket. A smaller one travels inline. Each message is one
 * frame (see Messages) whose payload starts with a kind byte:
 *   'I', then the payload bytes                                   no fds
 *   'M', then the payload length, 8 bytes big-endian              fds: memfd [, release]
 *
 * What each side may rely on. The sender: a pool never fails for want of a buffer (a
 * one-off memfd stands in), and a receiver that holds messages cannot deadlock it; a pool
 * serves one connection, the first socket it sends a pooled buffer on. The receiver: a
 * memfd it accepts is at least as long as announced and sealed so that it can neither
 * shrink nor grow, so reading it never faults; any other is refused with EPROTO and every
 * fd that came is closed. The bytes of a pooled buffer can still be changed by its sender
 * while they are read: a receiver that parses an untrusted peer's data in place asks for
 * UDS_MEMFD_RECV_IMMUTABLE, and its peer sends with UDS_MEMFD_POOL_IMMUTABLE. The seals,
 * the release token and the receiver's cache are described in udskit.3 (Large messages
 * over memfds).
 * ------------------------------------------------------------------------------------- */

#define UDS_MEMFD_DEFAULT_THRESHOLD (256u << 10)    /* 256 KiB */
#define UDS_MEMFD_DEFAULT_BUFFERS 4
#define UDS_MEMFD_DEFAULT_MAX ((size_t) 1 << 30)    /* 1 GiB */

enum uds_memfd_pool_flags {
    UDS_MEMFD_POOL_IMMUTABLE = 1u << 0, /* every memfd sealed F_SEAL_WRITE: a fresh one per
                                         * message, nothing reused */
};

struct uds_memfd_pool_opts {
    size_t threshold;       /* payloads of at least this many bytes go by memfd; 0 = the
                             * default, SIZE_MAX = only those too big for a frame */
    size_t max_buffers;     /* buffers kept for reuse; 0 = UDS_MEMFD_DEFAULT_BUFFERS */
    unsigned flags;         /* enum uds_memfd_pool_flags */
    int wait_ms;            /* every buffer in flight: wait this long for a release before
                             * using a one-off memfd; 0 = not at all, -1 = for ever (then a
                             * receiver that holds max_buffers messages blocks the sender) */
};

struct uds_memfd_pool_stats {
    uint64_t sent_inline;   /* messages sent inline */
    uint64_t sent_pooled;   /* messages sent in a pooled buffer */
    uint64_t sent_fresh;    /* messages sent in a one-off memfd */
    uint64_t created;       /* memfds created, pooled and one-off */
    size_t buffers;         /* pooled buffers alive */
    size_t in_flight;       /* of those, not yet released by the receiver */
};

struct uds_memfd_pool;

/* A pool for one connection. NULL opts: defaults. Errors: EINVAL; ENOMEM. */
UDS_API struct uds_memfd_pool *uds_memfd_pool_new(const struct uds_memfd_pool_opts *opts);
/* Unmap and close every buffer (a receiver's mapping stays valid). Send or give back every
 * buffer lent by uds_memfd_buf_init() first. NULL is fine. */
UDS_API void uds_memfd_pool_free(struct uds_memfd_pool *pool);
/* Counters, after collecting the releases that have arrived. */
UDS_API void uds_memfd_pool_stats(struct uds_memfd_pool *pool,
                                  struct uds_memfd_pool_stats *ret_stats);

/* A writable buffer lent by a pool, in caller storage: write data[0..len) and send it. */
struct uds_memfd_buf {
    void *data;
    size_t len;
    int priv_slot;          /* library-private from here on */
    int priv_fd;
};

/* Lend a buffer for a message of len bytes, to be filled in place (no copy at all): a
 * pooled buffer, a one-off memfd, or for a message under the threshold plain memory.
 * Give it back with uds_memfd_buf_send() or uds_memfd_buf_done(). Errors: EINVAL; ENOMEM;
 * those of memfd_create(), ftruncate() and mmap(). */
UDS_API int uds_memfd_buf_init(struct uds_memfd_pool *pool, size_t len,
                               struct uds_memfd_buf *ret_buf);
/* Send buf as one message on the stream socket fd; buf goes back to the pool whatever the
 * outcome. Errors: EINVAL a pooled buffer on another socket than the pool's first; those of
 * uds_frame_send_fds(). */
UDS_API int uds_memfd_buf_send(int fd, struct uds_memfd_pool *pool, struct uds_memfd_buf *buf);
/* Give back a buffer that will not be sent. Safe after uds_memfd_buf_send() too. */
UDS_API void uds_memfd_buf_done(struct uds_memfd_pool *pool, struct uds_memfd_buf *buf);

/* Send len bytes of buf as one message: inline under the threshold, else copied once into
 * a memfd (uds_memfd_buf_init() avoids even that copy). Errors: those above. */
UDS_API int uds_memfd_send(int fd, struct uds_memfd_pool *pool, const void *buf, size_t len);

enum uds_memfd_recv_flags {
    UDS_MEMFD_RECV_IMMUTABLE = 1u << 0, /* refuse memfds not sealed F_SEAL_WRITE */
};

/* The receiver's mappings of pooled buffers, kept for reuse (one per connection). */
struct uds_memfd_cache;

/* A cache of up to max_entries mappings (0 = 8); the least recently used one not lent to
 * a message is unmapped to make room. Errors: ENOMEM. */
UDS_API struct uds_memfd_cache *uds_memfd_cache_new(size_t max_entries);
/* Unmap everything. Call uds_memfd_msg_done() on its messages first. NULL is fine. */
UDS_API void uds_memfd_cache_free(struct uds_memfd_cache *cache);

/* One received message, in caller storage; uds_memfd_msg_done() releases it. */
struct uds_memfd_msg {
    const void *data;       /* len bytes, read-only; valid until uds_memfd_msg_done() */
    size_t len;
    bool mapped;            /* came as a memfd (data is a shared mapping) */
    bool immutable;         /* nobody can change the bytes any more (inline: a private copy;
                             * a memfd: sealed F_SEAL_WRITE) */
    bool priv_live;         /* library-private from here on */
    void *priv_mem;
    void *priv_entry;
    int priv_release_fd;
};

/* Receive one message sent by uds_memfd_send()/uds_memfd_buf_send(), of at most max bytes
 * (0 = UDS_MEMFD_DEFAULT_MAX; it also bounds the memory a sparse memfd makes the receiver
 * allocate by reading it). cache may be NULL: each memfd is then mapped for its message
 * alone. Returns 1 with a message, 0 at a clean end of stream.
 * Errors: EPROTO a refused memfd (unsealed, sealed too weakly, shorter than announced, not
 *         a regular file), an unknown kind byte, or fds where none belong; EMSGSIZE over
 *         max, or too many fds; ENOMEM; those of uds_frame_recv_fds() and mmap().
 *         On failure no fd is left open and the stream may be out of step: close it. */
UDS_API int uds_memfd_recv(int fd, struct uds_memfd_cache *cache, size_t max, unsigned flags,
                           struct uds_memfd_msg *ret_msg);
/* Release the message (unmap it, or return its mapping to the cache, or free it) and close
 * its release token, so that the sender may reuse the buffer: the bytes must not be read
 * afterwards. Leaves *msg safe to pass again; an all-zero struct is fine too. */
UDS_API void uds_memfd_msg_done(struct uds_memfd_msg *msg);

/* ---------------------------------------------------------------------------------------
 * Peer identity
 * ------------------------------------------------------------------------------------- */

enum uds_peer_flags {
    UDS_PEER_GROUPS = 1u << 0,  /* also fetch supplementary groups (SO_PEERGROUPS) */
    UDS_PEER_PIDFD = 1u << 1,   /* also fetch a pidfd (SO_PEERPIDFD), where the kernel has
                                 * it; no pidfd_open(pid) fallback: that races pid reuse */
};

struct uds_peer {
    pid_t pid;          /* as of connect() / listen() (SO_PEERCRED); 0 for none */
    uid_t uid;
    gid_t gid;
    gid_t *groups;      /* supplementary groups (UDS_PEER_GROUPS), malloc'ed, or NULL */
    size_t n_groups;
    int pidfd;          /* O_CLOEXEC pidfd, or -1 */
};

/* Read the peer's identity of a connected AF_UNIX socket. uds_peer_done() releases it.
 * A kernel without SO_PEERGROUPS/SO_PEERPIDFD leaves groups NULL / pidfd -1 (no error).
 * Errors: ENOTCONN (also a connected dgram socket: it has no peer credentials), ENOTSOCK,
 * ENOMEM, EIO the kernel answered with an unexpected length. */
UDS_API int uds_peer_get(int fd, unsigned flags, struct uds_peer *ret_peer);
/* Free groups and close the pidfd; leaves *peer in a state safe to pass again. */
UDS_API void uds_peer_done(struct uds_peer *peer);

/* An allow-list of uids and gids. Both empty: everyone is allowed. Otherwise a peer is
 * allowed when its uid is in uids, or its primary gid or one of its supplementary groups
 * (if fetched) is in gids. */
struct uds_allow {
    const uid_t *uids;
    size_t n_uids;
    const gid_t *gids;
    size_t n_gids;
};

/* Whether peer passes allow (NULL allow = everyone); a NULL peer does not. */
UDS_API bool uds_peer_allowed(const struct uds_peer *peer, const struct uds_allow *allow);

/* Whether an allow-list restricts anyone (non-NULL with a non-empty list). */
UDS_API bool uds_allow_is_set(const struct uds_allow *allow);

/* ---------------------------------------------------------------------------------------
 * Receiving datagrams: one datagram, its real length, its sender's address and credentials,
 * and the fds it passed (closed unless asked for).
 * ------------------------------------------------------------------------------------- */

/* One datagram as uds_dgram_recv() received it, and what came with it. */
struct uds_datagram {
    size_t len;                 /* bytes put in the buffer */
    size_t full_len;            /* the datagram's own length: over len when it was cut */
    struct sockaddr_un from;    /* the sender's address, as recvmsg() fills in msg_name */
    socklen_t from_len;         /*   its length (no more than the family for an unbound
                                 *   sender: there is nowhere to answer) */
    bool has_cred;              /* SCM_CREDENTIALS came (SO_PASSCRED is on for the socket) */
    struct uds_peer cred;       /*   then the sender's pid, uid and gid; groups NULL and
                                 *   pidfd -1, so nothing to release */
    bool fds_cut;               /* more fds were passed than arrived (MSG_CTRUNC) */
    size_t n_fds;               /* fds received (UDS_DGRAM_KEEP_FDS only, else 0) */
    int fds[UDS_MAX_FDS];       /*   O_CLOEXEC, the caller's to close */
};

#define UDS_DGRAM_DONTWAIT 0x1u     /* EAGAIN rather than wait when none is queued */
#define UDS_DGRAM_KEEP_FDS 0x2u     /* hand the passed fds over instead of closing them */

/* Receive one datagram from fd (a datagram or seqpacket socket: on a stream socket the
 * kernel would discard the bytes that do not fit) into buf, at most size bytes of it, and
 * what came with it into *ret. Set SO_PASSCRED on fd to have every datagram's credentials.
 * Fds a sender passed are closed before returning unless flags has UDS_DGRAM_KEEP_FDS:
 * a sender must not fill the receiver's fd table with fds nobody reads. Retries on EINTR.
 * Returns len, the bytes put in buf (0 for an empty datagram). Compare ret->full_len with
 * it to tell a datagram cut to size.
 * Errors: EINVAL fd < 0, ret NULL, buf NULL with size > 0, an unknown flag; EAGAIN none is
 * queued (UDS_DGRAM_DONTWAIT or a non-blocking fd); those of recvmsg(). */
UDS_API ssize_t uds_dgram_recv(int fd, void *buf, size_t size, unsigned flags,
                               struct uds_datagram *ret);

/* ---------------------------------------------------------------------------------------
 * Datagram replies: answering a sender at the address it sent from, without letting it
 * choose, through that address, where we send as ourselves.
 * ------------------------------------------------------------------------------------- */

/* Send buf as a reply to the datagram that came from to/to_len (the msg_name and
 * msg_namelen recvmsg() filled in) on fd, whose sender's SCM_CREDENTIALS (SO_PASSCRED) are
 * in sender (pid, uid and gid are read), without the race a plain sendto() has (udskit.3,
 * Datagram replies):
 *  - a path is answered only when it is a socket (not a symlink) whose owner is
 *    sender->uid, and the datagram reaches exactly the file that was checked (needs /proc
 *    mounted). A relative path is taken from the caller's working directory, as sendto()
 *    would;
 *  - an abstract name has no owner to check, and may have been taken over by another socket
 *    once the sender closed its own: the reply carries SCM_CREDENTIALS with the caller's
 *    pid and the sender's uid/gid, so a recipient that checks credentials sees the sender's
 *    identity, not the caller's. That needs CAP_SETUID/CAP_SETGID unless the ids are the
 *    caller's own; without them the reply goes out under the caller's own identity.
 * flags are sendmsg()'s (MSG_DONTWAIT...); MSG_NOSIGNAL is always added.
 * Returns the bytes sent.
 * Errors: EINVAL fd < 0, to or sender NULL, to_len over sizeof(*to), not AF_UNIX;
 *         EDESTADDRREQ the sender is not bound to an address (nowhere to answer);
 *         ELOOP the path's last component is a symbolic link;
 *         ENOTSOCK the path names something else than a socket;
 *         EPERM the socket there is not owned by sender->uid (a path that leads elsewhere);
 *         those of open() on the path (ENOENT, EACCES...) and of sendmsg() (ECONNREFUSED
 *         nobody is bound there any more, EAGAIN the receiver's queue is full...). */
UDS_API ssize_t uds_dgram_reply(int fd, const void *buf, size_t len, int flags,
                                const struct sockaddr_un *to, socklen_t to_len,
                                const struct uds_peer *sender);

/* ---------------------------------------------------------------------------------------
 * Event loop: epoll + timerfd. Knows fds, timers and callbacks; nothing about sockets.
 * Single-threaded: every call on one loop from one thread.
 * ------------------------------------------------------------------------------------- */

struct uds_loop;

enum uds_events {
    UDS_EV_READ = 1u << 0,
    UDS_EV_WRITE = 1u << 1,
    UDS_EV_HUP = 1u << 2,       /* reported, never requested */
    UDS_EV_ERROR = 1u << 3,     /* reported, never requested */
};

UDS_API struct uds_loop *uds_loop_new(void);
/* Frees the loop; does not close the fds registered in it. NULL is fine. */
UDS_API void uds_loop_free(struct uds_loop *loop);

/* Called when a watched fd is ready: events holds what it is ready for (UDS_EV_*). */
typedef void uds_loop_io_fn(struct uds_loop *loop, int fd, unsigned events, void *data);
/* Called once when timer timer_id expires. */
typedef void uds_loop_timer_fn(struct uds_loop *loop, uint64_t timer_id, void *data);

/* Watch fd for events (UDS_EV_READ/WRITE); fn(loop, fd, events, data) when ready.
 * Errors: EEXIST fd already watched; EINVAL; ENOMEM. */
UDS_API int uds_loop_add(struct uds_loop *loop, int fd, unsigned events, uds_loop_io_fn *fn,
                         void *data);
/* Change the events watched for fd (0 = none, keep registered). Errors: ENOENT. */
UDS_API int uds_loop_mod(struct uds_loop *loop, int fd, unsigned events);
/* Stop watching fd. Safe from inside any callback, for any fd. Errors: ENOENT. */
UDS_API int uds_loop_del(struct uds_loop *loop, int fd);

/* Call fn once, after_ms milliseconds from now. The timer's id, never 0, goes to *ret_id
 * (may be NULL) for uds_loop_timer_cancel(). Returns 0.
 * Errors: EINVAL loop or fn NULL; ENOMEM; those of timerfd_settime(). */
UDS_API int uds_loop_timer_add(struct uds_loop *loop, uint64_t after_ms, uds_loop_timer_fn *fn,
                               void *data, uint64_t *ret_id);
/* Cancel a pending timer; a timer that already fired or was cancelled, and id 0, are
 * ignored. */
UDS_API void uds_loop_timer_cancel(struct uds_loop *loop, uint64_t timer_id);

/* A one-shot timer that keeps its own id: armed, it is there to cancel; once it has fired
 * or been cancelled it is not, so no caller keeps or clears an id by hand (the stale id of
 * a timer that already fired is the usual bug of id-based timers). Zero-initialised it is
 * not armed. Its callback takes only its data. It must stay at its address while armed
 * (the loop holds a pointer to it). */
typedef void uds_timer_fn(void *data);
struct uds_timer {
    struct uds_loop *loop;      /* the loop it was last armed on */
    uint64_t id;                /* the loop's timer id; 0: not armed */
    uds_timer_fn *fn;
    void *data;
};

/* Call fn(data) once, after_ms milliseconds from now, unless cancelled first. A timer still
 * armed is cancelled first; fn may arm the timer again. Returns 0.
 * Errors: EINVAL timer, loop or fn NULL; those of uds_loop_timer_add() (the timer is then
 * not armed). */
UDS_API int uds_timer_arm(struct uds_timer *timer, struct uds_loop *loop, uint64_t after_ms,
                          uds_timer_fn *fn, void *data);
/* Cancel the timer if it is armed (NULL is fine). */
UDS_API void uds_timer_cancel(struct uds_timer *timer);
/* Whether it is armed: set and not yet fired or cancelled. */
UDS_API bool uds_timer_armed(const struct uds_timer *timer);

/* Monotonic clock in milliseconds, as the loop sees it. */
UDS_API uint64_t uds_loop_now_ms(struct uds_loop *loop);

/* Wait up to timeout_ms (-1 forever, 0 not at all) and dispatch what is ready.
 * Returns the number of callbacks run, or -1 (EINTR is retried, not returned). */
UDS_API int uds_loop_run_once(struct uds_loop *loop, int timeout_ms);
/* Dispatch until uds_loop_stop(). Returns 0, or -1 on a failing epoll_wait. */
UDS_API int uds_loop_run(struct uds_loop *loop);
/* Make uds_loop_run() return after the current dispatch. */
UDS_API void uds_loop_stop(struct uds_loop *loop);

/* One fd (the epoll fd) that turns readable when the loop has work: put it in the caller's
 * own poll/epoll loop and call uds_loop_run_once(loop, 0) when it is readable. */
UDS_API int uds_loop_fd(const struct uds_loop *loop);

/* ---------------------------------------------------------------------------------------
 * Loop pool: N threads, each running a uds_loop of its own, and a fair way to deal work
 * out to them: pick the loop with the least work counted, count one more there, post a
 * function to run on its thread, and mark the work done when it ends (on any thread).
 * The threaded server (uds_server_opts.threads) runs on one; a program that spreads its
 * own connections, as `uds proxy --threads` does, uses one directly. Each loop stays
 * single-threaded: touch it only from its own thread (a posted function, or a callback
 * of what runs there), or while its thread is not running (before uds_loop_pool_start(),
 * after uds_loop_pool_join()). Pool threads block every signal and are named "NAME/I".
 * ------------------------------------------------------------------------------------- */

struct uds_loop_pool;
#define UDS_LOOP_POOL_MAX 1024

typedef void uds_loop_pool_fn(void *arg);

/* n loops (1 to UDS_LOOP_POOL_MAX) and their threads, not started yet: put on each loop
 * what is to run there first (uds_loop_pool_loop()). name: at most 9 bytes.
 * Errors: EINVAL, ENOMEM, and those of epoll and eventfd. */
UDS_API struct uds_loop_pool *uds_loop_pool_new(unsigned n, const char *name);
/* Start the threads. Errors: EINVAL; pthread_create's (EAGAIN): threads already started
 * run on, and uds_loop_pool_start() may be called again for the others. */
UDS_API int uds_loop_pool_start(struct uds_loop_pool *pool);
UDS_API unsigned uds_loop_pool_size(const struct uds_loop_pool *pool);
/* Loop i (0 <= i < size), NULL for none. See above for when it may be touched. */
UDS_API struct uds_loop *uds_loop_pool_loop(const struct uds_loop_pool *pool, unsigned i);
/* The loop with the least work counted (among equals, the first after the last picked),
 * counted one more; 0 for NULL. Call it from one thread at a time (the one that deals
 * work out). */
UDS_API unsigned uds_loop_pool_pick(struct uds_loop_pool *pool);
/* One piece of loop i's work ended. Any thread. */
UDS_API void uds_loop_pool_done(struct uds_loop_pool *pool, unsigned i);
/* Work counted on loop i now. Any thread. */
UDS_API size_t uds_loop_pool_load(const struct uds_loop_pool *pool, unsigned i);
/* Run fn(arg) on loop i's thread, after what was posted to it before. Any thread.
 * Errors: EINVAL, ENOMEM. */
UDS_API int uds_loop_pool_post(struct uds_loop_pool *pool, unsigned i, uds_loop_pool_fn *fn,
                               void *arg);
/* Have every thread leave its loop, once what was posted before has run, and wait for
 * them; a thread also leaves when uds_loop_stop() is called on its loop from inside.
 * The loops stay, for the caller to free what it put in them. Not from a pool thread. */
UDS_API void uds_loop_pool_join(struct uds_loop_pool *pool);
/* Join, then free the loops. Calls that no thread ran (posted to a thread that had left)
 * are run here first, so that what they carry is not lost. NULL is fine. */
UDS_API void uds_loop_pool_free(struct uds_loop_pool *pool);

/* ---------------------------------------------------------------------------------------
 * Server: many connections on one loop, with bounded buffers, limits and graceful stop.
 * ------------------------------------------------------------------------------------- */

struct uds_server;
struct uds_conn;

struct uds_server_callbacks {
    /* A connection was accepted and passed the allow-list. Return -1 to refuse it (it is
     * closed, on_close is not called). May be NULL. */
    int (*on_open)(struct uds_conn *conn, void *data);
    /* Bytes arrived (stream), or one whole message (seqpacket). The span is valid during
     * the call only. May call uds_conn_send() and uds_conn_close(). Not called when
     * on_message is set. */
    void (*on_data)(struct uds_conn *conn, const void *buf, size_t len, void *data);
    /* The peer shut down its writing side. Queued replies are still delivered; the
     * connection closes once they are flushed. May be NULL. */
    void (*on_eof)(struct uds_conn *conn, void *data);
    /* The connection is closing (error is 0 for an orderly close, else an errno such as
     * ETIMEDOUT for the idle or drain timeout, ECANCELED for a non-graceful stop or
     * uds_server_free(), EMSGSIZE, EPROTO, ECONNRESET, EPIPE). May be NULL. */
    void (*on_close)(struct uds_conn *conn, int error, void *data);
    /* A peer was refused by the allow-list; its identity is in peer. May be NULL. */
    void (*on_deny)(const struct uds_peer *peer, void *data);
    /* accept() failed for a reason the server survives (EMFILE, ENFILE, ENOBUFS, ENOMEM):
     * the server sheds that client and keeps going. May be NULL. */
    void (*on_accept_error)(int error, void *data);
    /* Message mode, when set: one call per whole message, on_data unused. On stream the
     * bytes are decoded as frames (see Messages), or as lines with UDS_SERVER_LINES; on
     * seqpacket each packet is a message. msg is valid during the call only, and memory
     * follows the bytes that arrived, never the length a header announces. A length over
     * max_message closes the connection with EMSGSIZE; a stream ending inside a frame
     * closes it with EPROTO (on_eof is not called), while a last line without its newline
     * is delivered as a message before on_eof; either way replies already queued are
     * flushed first. Replies keep the order of the messages. Output stays bounded whatever
     * the input: once the replies queued pass max_outbuf and the socket takes no more, the
     * messages still unread in that read are held back (nothing is lost) until the peer has
     * taken its replies. */
    void (*on_message)(struct uds_conn *conn, const void *msg, size_t len, void *data);
};

enum uds_server_flags {
    /* Message mode on stream: a message is a line ending in '\n' (not part of the message),
     * of at most max_message bytes, instead of a length-prefixed frame. */
    UDS_SERVER_LINES = 1u << 0,
};

struct uds_server_opts {
    size_t max_conns;           /* 0 = 1024; at the limit accept pauses (backlog waits) */
    int idle_timeout_ms;        /* close a connection idle this long; 0 = never */
    int drain_timeout_ms;       /* graceful stop gives up after this; 0 = 10000, <0 never */
    size_t max_outbuf;          /* queued reply bytes above which reading that client
                                 * pauses (backpressure); 0 = 1 MiB */
    size_t read_size;           /* bytes per read, and the largest seqpacket message;
                                 * 0 = 64 KiB */
    unsigned read_budget;       /* reads per connection per wakeup; 0 = 32 */
    const struct uds_allow *allow;  /* checked on accept; NULL = everyone */
    unsigned peer_flags;        /* enum uds_peer_flags fetched for every connection */
    uint32_t max_message;       /* message mode: largest message accepted; 0 =
                                 * UDS_FRAME_DEFAULT_MAX (on seqpacket read_size also
                                 * bounds it) */
    unsigned flags;             /* enum uds_server_flags */
    int first_byte_timeout_ms;  /* close a connection from which no byte has arrived this
                                 * long after accept (ETIMEDOUT), so that idle clients
                                 * cannot hold every slot; 0 = never. Bytes the server
                                 * sends do not count. */
    unsigned threads;           /* worker threads serving the connections; 0 or 1 = none:
                                 * everything runs in the server's loop, as before.
                                 * At most UDS_SERVER_THREADS_MAX. See Threads below. */
};

#define UDS_SERVER_THREADS_MAX 1024

/* Threads (uds_server_opts.threads = N > 1). The server's loop (its own, run by
 * uds_server_run(), or the caller's) keeps the listener and accepts; each accepted
 * connection goes to the worker with the fewest connections (ties in turn), and lives on
 * that worker's thread and uds_loop until it closes. max_conns counts the connections of
 * every worker together; timeouts and the drain run on each worker's loop.
 * - Called on the worker that owns the connection: on_open, on_data, on_message, on_eof,
 *   on_close, and on_deny and on_accept_error when they concern a client handed to it. One
 *   worker calls one connection's callbacks one at a time; different workers call them at
 *   the same time, so data (the callbacks' argument) must be safe to share between
 *   threads. on_accept_error for accept() itself: on the server's loop.
 * - From a callback, only for its own worker's connections: uds_conn_*() (send, close,
 *   detach, peer, data, queued, fd) and uds_conn_loop() (timers on the worker's loop).
 *   uds_server_conn_count() may be called from any thread.
 * - Only on the thread of the server's loop, never from a worker's callback:
 *   uds_server_stop(), uds_server_pause(), uds_server_free(), uds_server_run(). To stop
 *   from a callback, wake the server's thread (an eventfd on its loop, a signal).
 * - uds_server_stop() posts the stop to every worker; the stop is finished (and
 *   uds_server_run() returns) once every worker has drained and its thread has ended.
 *   uds_server_free() stops the workers at once (on_close with ECANCELED on the workers'
 *   threads) and joins them before it returns.
 * Workers block every signal, and are named "udsw/I" (I from 0: ps -L, top -H). With 0 or
 * 1 nothing changes: every callback runs in the server's loop. */

/* A server over listener (taken over: the server unlistens it when it stops or is freed):
 * a Unix stream or seqpacket listener, or a TCP one (uds_listen_tcp(),
 * uds_listener_adopt_tcp()). A TCP client gets TCP_NODELAY and has no credentials: see
 * uds_conn_peer().
 * loop: NULL makes the server its own loop (see uds_server_fd()).
 * opts->threads > 1 starts that many worker threads (see Threads below).
 * Errors: EINVAL (a bad option, threads over UDS_SERVER_THREADS_MAX, a listener of another
 * type), ENOMEM, and those of epoll, eventfd and pthread_create (EAGAIN) when threads are
 * asked for. On failure the listener is left to the caller. */
UDS_API struct uds_server *uds_server_new(struct uds_loop *loop, struct uds_listener *listener,
                                          const struct uds_server_opts *opts,
                                          const struct uds_server_callbacks *callbacks,
                                          void *data);
/* Run the server's loop until it has stopped (uds_server_stop() and the drain finished).
 * Only for a server that owns its loop. */
UDS_API int uds_server_run(struct uds_server *server);
/* Begin a stop. graceful: stop accepting (the socket file is removed at once; clients
 * already queued in the backlog are still accepted and served), let connections finish,
 * flush replies, close each connection when its peer is done or after drain_timeout_ms
 * (when no timer can be set for that, close them now, as without graceful). Not graceful:
 * close everything now. Calling it again, or after the stop finished, only turns a
 * graceful stop into an immediate one. NULL is fine. */
UDS_API void uds_server_stop(struct uds_server *server, bool graceful);
/* True once a stop has finished (no connections left, listener closed). */
UDS_API bool uds_server_stopped(const struct uds_server *server);
/* Pollable fd of the server's loop for embedding (== uds_loop_fd(uds_server_loop(s))). */
UDS_API int uds_server_fd(const struct uds_server *server);
UDS_API struct uds_loop *uds_server_loop(const struct uds_server *server);
/* Number of open connections (of every worker). Any thread. */
UDS_API size_t uds_server_conn_count(const struct uds_server *server);
/* Worker threads: uds_server_opts.threads, 1 for none. */
UDS_API unsigned uds_server_threads(const struct uds_server *server);
struct uds_server_worker_stats {
    uint64_t accepted;          /* connections handed to the worker, ever */
    size_t conns;               /* open now */
};
/* How worker i (0 <= i < uds_server_threads()) was given connections; without workers, i
 * 0 is the server's loop. Any thread. Errors: EINVAL. */
UDS_API int uds_server_worker_stats(const struct uds_server *server, unsigned i,
                                    struct uds_server_worker_stats *ret_stats);
/* Stop (paused true) or resume accepting, whatever max_conns says; clients wait in the
 * backlog meanwhile. For a limit the server cannot count itself, such as processes started
 * for detached connections. A graceful uds_server_stop() still accepts the clients already
 * queued. */
UDS_API void uds_server_pause(struct uds_server *server, bool paused);
/* Close every connection (on_close with ECANCELED) and the listener, free the server (and
 * its own loop). Not from inside one of the server's callbacks. */
UDS_API void uds_server_free(struct uds_server *server);

/* Queue bytes to send to conn (copied; the caller's buffer is free on return). Sends what
 * it can at once. On seqpacket each call is one message (of any length, 0 included).
 * Errors: EPIPE the connection is closing; ECONNRESET/EPIPE the peer is gone (the
 * connection is then closed with that error); EMSGSIZE a seqpacket message too large for
 * the socket (the connection stays open; behind queued replies, the connection closes
 * with EMSGSIZE when its turn comes); ENOMEM (if part was sent already, the connection is
 * closed with ENOMEM: the peer would be out of step). */
UDS_API int uds_conn_send(struct uds_conn *conn, const void *buf, size_t len);
/* Queue one message: on stream a frame (4-byte header, then the payload), on seqpacket
 * the payload alone as one packet; whatever mode the connection reads in. Copies, sends
 * and fails like uds_conn_send(); also EMSGSIZE len over UINT32_MAX on stream. */
UDS_API int uds_conn_send_message(struct uds_conn *conn, const void *buf, size_t len);
/* Close after the queued bytes are flushed (graceful) — or now, dropping them. Deferred
 * until the current callback returns, so a callback may close its own connection. */
UDS_API void uds_conn_close(struct uds_conn *conn, bool flush);
/* Hand the connection's fd over to the caller, who owns it from now on: the server stops
 * watching it at once, forgets the connection without closing the fd (on_close is not
 * called; queued bytes are dropped) and no longer counts it against max_conns. The fd is
 * still O_NONBLOCK and O_CLOEXEC. conn stays valid until the current callback returns.
 * Returns the fd. Errors: EPIPE the connection is closing. */
UDS_API int uds_conn_detach(struct uds_conn *conn);
/* uds_conn_detach(), handing over with the fd the input the server has read from it but not
 * delivered, in stream order: in message mode, the messages of the same read after the one
 * on_message is handling (pipelined requests), a message begun (a frame with its header),
 * input held back by the output bound. *ret_buf is malloc'ed (free() it), NULL when
 * *ret_len is 0. Errors: EINVAL; EPIPE as above; ENOMEM (the connection stays). */
UDS_API int uds_conn_detach_input(struct uds_conn *conn, void **ret_buf, size_t *ret_len);
/* Bytes queued for conn, not yet taken by the socket (in on_close: those dropped). */
UDS_API size_t uds_conn_queued(const struct uds_conn *conn);
/* The connection's fd (do not close it), peer and user data. Without an allow-list or
 * peer_flags the peer is read on the first uds_conn_peer() call (SO_PEERCRED keeps the
 * credentials of connect time, so the answer is the same); if it cannot be read then, it
 * is pid 0, uid and gid -1. A TCP peer has no credentials: it is always that (no groups,
 * pidfd -1), and an allow-list refuses every TCP client (on_deny with that peer), having
 * nothing to check. */
UDS_API int uds_conn_fd(const struct uds_conn *conn);
UDS_API const struct uds_peer *uds_conn_peer(const struct uds_conn *conn);
UDS_API void uds_conn_set_data(struct uds_conn *conn, void *data);
UDS_API void *uds_conn_data(const struct uds_conn *conn);
/* The server the connection belongs to. */
UDS_API struct uds_server *uds_conn_server(const struct uds_conn *conn);
/* The loop the connection's callbacks run on: the server's, or its worker's (threads). */
UDS_API struct uds_loop *uds_conn_loop(const struct uds_conn *conn);

/* ---------------------------------------------------------------------------------------
 * Programs per connection, the UCSPI way (ucspi-unix's unixserver and unixclient, s6's
 * s6-ipcserverd and s6-ipcclient): a server starts a program for each client with the
 * connection as its stdin and stdout (struct uds_spawner); a client becomes a program with
 * the connection on fds 6 and 7 (uds_exec_client()). The program learns about the
 * connection from its environment: PROTO=UNIX, UNIXLOCALPATH, UNIXLOCALUID, UNIXLOCALGID,
 * and, where the peer's credentials can be read, UNIXREMOTEPID, UNIXREMOTEEUID and
 * UNIXREMOTEEGID; variables of those names the caller had are never passed on. A server
 * started as root drops to another user with uds_drop_privileges() once its socket is made.
 * ------------------------------------------------------------------------------------- */

/* name as execvp() would find it: name itself when it has a '/', else the first executable
 * regular file of that name in $PATH (an empty entry is the current directory; no PATH
 * is "/usr/local/bin:/usr/bin:/bin"). Executable means by the caller's effective ids now:
 * look again after uds_drop_privileges(). Returns it malloc'ed (free() it).
 * Errors: ENOENT none (or name is ""); EACCES found, but not an executable regular file;
 * EINVAL name NULL; ENOMEM. */
UDS_API char *uds_program_find(const char *name);

struct uds_spawner;

struct uds_spawner_opts {
    uint64_t nofile;            /* the programs' soft RLIMIT_NOFILE (never above the hard
                                 * limit); 0 = the caller's soft limit when the spawner was
                                 * made, so that a server may raise its own afterwards (a
                                 * program using select() needs fds below 1024) */
};

/* A program started and not reaped yet. */
struct uds_child {
    pid_t pid;                  /* also its process group's id */
    pid_t peer_pid;             /* the client it serves, 0 when not known */
    uid_t peer_uid;             /* (uid_t) -1 when not known */
    gid_t peer_gid;             /* (gid_t) -1 when not known */
    uint64_t started_ms;        /* CLOCK_MONOTONIC, in milliseconds */
};

/* A spawner for argv (PROGRAM ARGS; argv[0] found with uds_program_find() now, once, so that
 * a connection costs one execve()) serving the address local_path (UNIXLOCALPATH; give it
 * in its canonical form, uds_addr_format()). The programs' environment is the caller's as
 * it is now, minus PROTO, UNIXLOCAL*, UNIXREMOTE* and the service manager's LISTEN_PID,
 * LISTEN_PIDFDID, LISTEN_FDS, LISTEN_FDNAMES and NOTIFY_SOCKET (meant for the server alone),
 * plus the UCSPI variables. Signals the caller ignores now (SIGPIPE, SIGHUP under nohup)
 * are back to their default in the programs. argv must outlive the spawner. opts: NULL
 * for defaults. Errors: EINVAL argv empty or local_path NULL; ENOENT, EACCES as
 * uds_program_find(); ENOMEM. */
UDS_API struct uds_spawner *uds_spawner_new(char *const argv[], const char *local_path,
                                            const struct uds_spawner_opts *opts);
/* The program's path as found. */
UDS_API const char *uds_spawner_path(const struct uds_spawner *spawner);
/* Start the program on the connected socket fd: fd (made blocking: O_NONBLOCK belongs to
 * the open file, shared with the program) becomes its stdin and stdout, fd 2 is the
 * caller's (/dev/null if the caller had no fd 2 when the spawner was made, or its fd 2 is
 * close-on-exec or closed now: a socket may have taken that number since), and no other
 * fd reaches it, close-on-exec or not. UNIXLOCALUID and UNIXLOCALGID are the caller's ids
 * at this call, UNIXREMOTE* those of peer (the client's identity as the server read it,
 * uds_conn_peer()), or with peer NULL read from fd (SO_PEERCRED; left out when that
 * fails). The program runs with an empty signal mask, in a process group of its own, with
 * RLIMIT_NOFILE as opts said. All that is set in the child alone (made as glibc's
 * posix_spawn() makes one, clone(CLONE_VM | CLONE_VFORK)): the caller's own limit never
 * changes, and its other threads may open fds meanwhile. The caller still owns fd and
 * closes it (close(), never shutdown(): the program's copy stays connected). One thread at
 * a time per spawner. Returns the program's pid, once it has exec'ed, with errno as it
 * was. Errors: EINVAL; ENOMEM; those of fcntl() on fd (EBADF); those of clone() (EAGAIN,
 * ENOMEM) and of the execve() in the child (ENOENT, EACCES, ENOEXEC, E2BIG, ENOMEM), that
 * child reaped; EINVAL/EPERM from setrlimit() in the child. */
UDS_API pid_t uds_spawner_spawn(struct uds_spawner *spawner, int fd,
                                const struct uds_peer *peer);
/* Reap one of the spawner's programs that has exited, never blocking: 1 with its record
 * in *ret_child and its wait status (waitpid()) in *ret_status (either may be NULL), 0
 * when none has. Call it until 0 on every SIGCHLD (a signalfd, say). Children of the
 * caller's that are not the spawner's are left alone, for the caller to reap (while one of
 * them is waiting, each call asks every program in turn); the spawner's own must be reaped
 * through it only. With SIGCHLD set to SIG_IGN the kernel reaps them itself, and this
 * never reports them. Errors: EINVAL; ECHILD a program was reaped by someone else. */
UDS_API int uds_spawner_reap(struct uds_spawner *spawner, struct uds_child *ret_child,
                             int *ret_status);
/* Programs started and not reaped yet; 0 for NULL. */
UDS_API size_t uds_spawner_count(const struct uds_spawner *spawner);
/* Send sig to every program's process group (and to the program itself when it has left
 * its group); SIGTERM is followed by SIGCONT, for a program that is stopped. A program
 * that is gone already is skipped (it is reaped soon). NULL is fine. */
UDS_API void uds_spawner_kill(struct uds_spawner *spawner, int sig);
/* Free the spawner; its programs keep running, unreaped. NULL is fine. */
UDS_API void uds_spawner_free(struct uds_spawner *spawner);

/* Become argv (argv[0] found with uds_program_find()) on the connected socket fd to
 * address (as given): fd, made blocking, goes to fds 6 (read) and 7 (write), which stay
 * open across exec (whatever was there is replaced), and fd itself is closed. The
 * environment gets PROTO=UNIX, UNIXLOCALPATH (address as given), UNIXLOCALUID,
 * UNIXLOCALGID, UNIXLOCALPID (this process, which the program becomes), UNIXREMOTEPATH
 * (address in its canonical form) and, from SO_PEERCRED, UNIXREMOTEPID, UNIXREMOTEEUID and
 * UNIXREMOTEEGID (left out when they cannot be read, as on a connected dgram socket); the
 * caller's earlier variables of those names are removed. SIGPIPE goes back to its
 * default. Returns only on failure: -1, fd closed; by then the environment, fds 6 and 7
 * and SIGPIPE may have changed (nothing has when the program was not found): exit.
 * Errors: EINVAL; ENOENT, EACCES as uds_program_find(); ENOMEM; those of fcntl() and
 * dup2() (EBADF, EMFILE) and of execve() (ENOEXEC, E2BIG, ETXTBSY, ...). */
UDS_API int uds_exec_client(int fd, const char *address, char *const argv[]);

/* Become uid and gid for good, for the whole process (every thread): the supplementary
 * groups of user (initgroups()), or none when user is NULL (a uid with no passwd entry);
 * then real, effective and saved gid; then uid; then check that all six ids are those asked
 * for and, unless uid is 0, that root cannot be taken back. Needs CAP_SETGID and
 * CAP_SETUID (root). On failure the process may be half changed: exit. Errors: EINVAL uid
 * or gid is -1; EPERM not allowed, or the check failed; those of initgroups() (ENOMEM),
 * setgroups() and setresuid() (EAGAIN). */
UDS_API int uds_drop_privileges(uid_t uid, gid_t gid, const char *user);

/* ---------------------------------------------------------------------------------------
 * Relay: bridge two sides on a uds_loop, as a proxy or `nc -U` does. Bytes read on one side
 * are written to the other, both ways at once; an end of input on one side is passed on
 * (shutdown(SHUT_WR) on a socket), and the relay ends once both directions have ended. Each
 * direction holds at most buffer_size bytes: a side that does not read makes the relay stop
 * reading its peer (backpressure), so memory stays flat, and an idle relay holds its fds and
 * nothing else. Bulk data is spliced only while SIGPIPE is ignored (signal(SIGPIPE,
 * SIG_IGN)), and copied otherwise. How the bytes move (splice(), writes batched through
 * io_uring, the group's pools) is described in udskit.3 (Relay).
 *
 * A side is a connected socket (stream, seqpacket or dgram: a seqpacket or dgram socket
 * keeps message boundaries, each read of the other side becoming one message), or for side
 * A two fds, one read and one written, such as stdin and stdout: pipes, FIFOs, terminals or
 * regular files (a regular file, which cannot be waited for, is read until its end as fast
 * as the other side takes it).
 * ------------------------------------------------------------------------------------- */

struct uds_relay_group;
struct uds_relay;

/* For a group (uds_relay_opts.flags). */
enum uds_relay_flags {
    UDS_RELAY_NO_SPLICE = 1u << 0,  /* always copy through a buffer */
    UDS_RELAY_NO_BATCH = 1u << 1,   /* send each write at once, never batched with the
                                     * others of the same loop wakeup */
};

struct uds_relay_opts {
    size_t buffer_size;     /* bytes in flight per direction, and the largest message;
                             * 0 = 256 KiB; at most 1 GiB */
    int idle_timeout_ms;    /* end a relay when no byte moved either way for this long
                             * (ETIMEDOUT); 0 = never */
    unsigned flags;         /* enum uds_relay_flags */
    int first_byte_timeout_ms;  /* end a relay when side A has sent no byte this long after
                                 * it was made (ETIMEDOUT, error_side UDS_RELAY_A): a
                                 * client that connects and says nothing. Bytes from B (a
                                 * server that speaks first), the prefix and an end of
                                 * stream do not count; A with no input has no limit.
                                 * 0 = never */
};

enum uds_relay_side {
    UDS_RELAY_NONE = 0,     /* neither side (the idle timeout, or a local failure) */
    UDS_RELAY_A,
    UDS_RELAY_B,
};

struct uds_relay_info {
    uint64_t bytes_from_a;      /* read from side A (and written to B, unless B failed) */
    uint64_t bytes_from_b;
    uint64_t spliced_from_a;    /* of those, moved with splice() */
    uint64_t spliced_from_b;
    int error;                  /* 0 while running and for an orderly end; else the first
                                 * error: ECONNRESET/EPIPE a peer went away (reading from
                                 * or writing to error_side), ETIMEDOUT the idle timeout
                                 * (error_side UDS_RELAY_NONE) or A's first byte not in
                                 * time (UDS_RELAY_A), EMSGSIZE a message too long for B,
                                 * ENOMEM... */
    enum uds_relay_side error_side;
    bool error_writing;         /* the error came writing to error_side (else reading) */
    uint64_t messages_from_a;   /* messages read from a seqpacket or dgram side A */
    uint64_t messages_from_b;
    uint64_t messages_cut;      /* messages longer than buffer_size, cut to it */
};

/* Called once when a relay ends, with its final counters and error; the relay is freed
 * when it returns. */
typedef void uds_relay_close_fn(struct uds_relay *relay, const struct uds_relay_info *info,
                                void *data);

/* Relays that share a loop, options, buffers and pipes. The loop must outlive
 * the group. Errors: EINVAL (bad options); ENOMEM. */
UDS_API struct uds_relay_group *uds_relay_group_new(struct uds_loop *loop,
                                                    const struct uds_relay_opts *opts);
/* Live relays in the group. */
UDS_API size_t uds_relay_group_count(const struct uds_relay_group *group);
/* End every relay as uds_relay_free() does (no on_close calls) and free the group. Not
 * from inside a relay's on_close. NULL is fine. */
UDS_API void uds_relay_group_free(struct uds_relay_group *group);

/* Relay between the connected sockets fd_a and fd_b (made non-blocking), taking both over:
 * they are closed when the relay ends, and on failure too. prefix_len bytes of prefix
 * (copied; at most buffer_size) are sent to B before anything read from A — a PROXY
 * protocol header, for instance. When the relay ends, both fds are closed (after an error
 * other than ETIMEDOUT with SO_LINGER 0, so that a TCP peer gets a reset instead of an end
 * it could take for complete), then on_close(relay, info, data) is called, then the relay
 * is freed: do not use it after on_close returns. on_close may be NULL. The same as
 * uds_relay_new2() with fd_a_in = fd_a_out = fd_a.
 * Errors: EINVAL; EMSGSIZE prefix longer than buffer_size; ENOMEM; those of fcntl() and
 *         of uds_loop_add(). */
UDS_API struct uds_relay *uds_relay_new(struct uds_relay_group *group, int fd_a, int fd_b,
                                        const void *prefix, size_t prefix_len,
                                        uds_relay_close_fn *on_close, void *data);

/* For one relay (uds_relay_args.flags). */
enum uds_relay_args_flags {
    UDS_RELAY_BORROW_A = 1u << 8,   /* side A's fds stay the caller's (stdin, stdout): see
                                     * uds_relay_new2() */
    UDS_RELAY_END_WITH_B = 1u << 9, /* end once B's stream has ended and all of it has been
                                     * written to A, even while A's input goes on (a user at
                                     * a terminal, when the server has closed) */
    UDS_RELAY_PASS_FDS = 1u << 10,  /* between two Unix sockets, forward the fds a side
                                     * passes (SCM_RIGHTS) with the bytes they came with;
                                     * without it they are closed on arrival, as a plain
                                     * read() does. Not with fds_to_pass */
};

struct uds_relay;

/* What a relay's observer is shown: one read from a side, or its end. */
struct uds_relay_chunk {
    enum uds_relay_side from;   /* the side it was read from */
    const void *data;           /* the bytes read, valid during the call only */
    size_t len;
    size_t full_len;            /* a message's length before it was cut to buffer_size
                                 * (len otherwise) */
    const int *fds;             /* fds that came with it (UDS_RELAY_PASS_FDS): the relay's,
                                 * valid during the call only; the observer must not close
                                 * them */
    size_t n_fds;
    bool message;               /* one message of a seqpacket or dgram side */
    bool end;                   /* the side's end of stream (no bytes): the relay passes it
                                 * on as a half-close */
};

struct uds_relay_args {
    int fd_a_in;            /* side A is read from here: a connected socket, pipe, FIFO,
                             * terminal or regular file; -1: A has no input (its end has
                             * come already: only the prefix goes to B) */
    int fd_a_out;           /* ...and written here: the same fd (a socket), or another */
    int fd_b;               /* side B: a connected socket (or any fd, read and written) */
    const void *prefix;     /* prefix_len bytes sent to B first (copied); for a seqpacket
                             * or dgram B one message, and with a non-NULL prefix an empty
                             * message when prefix_len is 0 */
    size_t prefix_len;
    const int *fds_to_pass; /* passed (SCM_RIGHTS) with the first bytes written to B; if A's
                             * input ends before any, with a single NUL byte (a message of
                             * one NUL on seqpacket and dgram). Copied: the caller may close
                             * its own at once */
    size_t n_fds_to_pass;   /* at most UDS_MAX_FDS */
    unsigned flags;         /* enum uds_relay_args_flags */
    size_t max_replies;     /* B a dgram socket: end once this many messages from B have
                             * been written to A; 0 = once A's input has ended and B has
                             * sent as many messages as it was sent */
    int linger_ms;          /* B a dgram socket, which has no end of stream: once A's input
                             * has ended, end when nothing has come from B for this long;
                             * 0 = no limit */
    /* Shown every chunk read, both ways, before it is written to the other side, with the
     * data given to uds_relay_new2(); it may not free the relay. NULL = none. With an
     * observer the bytes pass through a buffer (no splice()), where it can see them. */
    void (*observe)(struct uds_relay *relay, const struct uds_relay_chunk *chunk, void *data);
};

/* Relay between side A (fd_a_in, fd_a_out) and side B (fd_b) as args says; otherwise as
 * uds_relay_new(). fd_b is taken over (made non-blocking, closed at the end and on
 * failure), and so are A's fds unless flags has UDS_RELAY_BORROW_A:
 * - taken over: made non-blocking and closed when the relay ends; fd_a_out, if it is not
 *   fd_a_in, as soon as B's stream has ended and been written to it (shut down for
 *   writing if it is a socket), so that its reader sees the end at once.
 * - borrowed (stdin and stdout, say): never closed or shut down, and left blocking or not
 *   as they were, except where the kernel refuses to open a pipe, FIFO or terminal again:
 *   then O_NONBLOCK is set on the caller's description while the relay lives (not cleared
 *   if the process is killed first; see udskit.3). The reader of a pipe sees the end of
 *   B's stream once the caller closes its fd as well.
 * A write to a pipe whose reader has left fails with EPIPE and raises no SIGPIPE. An error
 * writing to fd_a_out (EPIPE: whoever read it has left), or to a dgram B, ends the relay;
 * an EPIPE or ECONNRESET writing to a stream or seqpacket socket only ends that direction,
 * the other still carrying what that peer sent before it went.
 * Errors: EINVAL (args NULL, bad fds or flags, linger_ms < 0, n_fds_to_pass over
 *         UDS_MAX_FDS); EMSGSIZE prefix longer than buffer_size; ENOMEM; those of fstat(),
 *         fcntl() and uds_loop_add(). */
UDS_API struct uds_relay *uds_relay_new2(struct uds_relay_group *group,
                                         const struct uds_relay_args *args,
                                         uds_relay_close_fn *on_close, void *data);
/* Restart the clock for side A's first byte (first_byte_timeout_ms) of this relay: the
 * relay ends with ETIMEDOUT (error_side UDS_RELAY_A) unless A sends a byte within
 * timeout_ms from now; 0 = no limit for this relay. For a caller whose client was kept
 * waiting before the relay existed, as a proxy's is while it connects to its target: the
 * group's limit less the time already spent, so that the clock runs from the accept. Does
 * nothing once A has sent a byte. Returns 0, or -1 with nothing changed: EINVAL (NULL,
 * timeout_ms < 0); ENOMEM. */
UDS_API int uds_relay_set_first_byte_timeout(struct uds_relay *relay, int timeout_ms);
/* Counters so far (error is 0 while the relay runs). */
UDS_API void uds_relay_get_info(const struct uds_relay *relay, struct uds_relay_info *ret_info);
/* End the relay now: close the fds it owns (sockets with SO_LINGER 0, a reset for a TCP
 * peer) and put back what it borrowed, without calling on_close, and free it. Not from
 * inside its own on_close. NULL is fine. */
UDS_API void uds_relay_free(struct uds_relay *relay);

/* ---------------------------------------------------------------------------------------
 * Forwarder: clients connected one by one to one destination and relayed there, as a
 * proxy does. A forward is one client on its way: it is connected to the destination by
 * a uds_dialer (waiting for one that is not there yet, if asked), then relayed both ways
 * by a uds_relay, behind a PROXY protocol header if asked. Meanwhile the client is
 * watched: one that hangs up with nothing to deliver is let go at once, and one that
 * sends nothing for the first-byte timeout is closed, that clock counting from when the
 * client was handed over. With threads, each forward is dialled and relayed on one of
 * N worker loops, the one with the fewest; the forwarder itself is the caller's, on its
 * loop. Words, policy and who may come in stay the caller's. How: udskit.3 (Forwarder).
 * ------------------------------------------------------------------------------------- */

struct uds_forwarder;
struct uds_forward;

/* uds_forwarder_opts.flags */
enum uds_forwarder_flags {
    UDS_FORWARDER_PASS_FDS = 1u << 0,   /* between a Unix client and a Unix destination,
                                         * forward the fds a side passes
                                         * (UDS_RELAY_PASS_FDS) */
};

struct uds_forwarder_opts {
    struct uds_dialer_opts dial;    /* how the destination is connected (timeout_ms, tcp,
                                     * wait_ms), as for uds_dialer_new() */
    struct uds_relay_opts relay;    /* the relays' options, as for uds_relay_group_new();
                                     * first_byte_timeout_ms counts from the hand-over
                                     * (uds_forward_new()), also while the destination
                                     * is being connected */
    unsigned threads;               /* 0 or 1: everything on the forwarder's loop; N: N
                                     * worker threads (at most UDS_LOOP_POOL_MAX) */
    unsigned flags;                 /* enum uds_forwarder_flags */
    int proxy_header;               /* 0 none; 1 or 2: each relay begins with a PROXY
                                     * protocol header of that version, naming the client
                                     * by its socket's two addresses (uds_proxy_header()),
                                     * unless uds_forward_set_prefix() gave another */
    const char *thread_name;        /* the workers are named "NAME/I" (at most 9 bytes);
                                     * NULL: "udsfwd" */
};

/* What a connected callback answers (or -1 with errno). */
enum uds_forward_next {
    UDS_FORWARD_RELAY = 0,      /* relay the client to fd (the forward takes fd over) */
    UDS_FORWARD_LATER = 1,      /* fd stays the caller's: it will call uds_forward_resume()
                                 * with the fd to relay to (a TLS session's, say), or
                                 * uds_forward_close() */
};

/* The destination answered on fd (connected, non-blocking, O_CLOEXEC), before any relay:
 * the caller may look at it (SO_PEERCRED), set a prefix, or put something between. Returns
 * UDS_FORWARD_RELAY, UDS_FORWARD_LATER, or -1 with errno to drop the client with that
 * error (reported to connect_error; fd stays the caller's, to close). It may not free the
 * forward nor the forwarder. */
typedef int uds_forward_connected_fn(struct uds_forward *fwd, int fd, void *data);
/* A forward ends with error: connect_error when the destination could not be connected
 * (the dial's error: ENOENT, ECONNREFUSED, ETIMEDOUT... or the connected callback's);
 * relay_error when the relay could not be made (ENOMEM, EMFILE...). */
typedef void uds_forward_error_fn(struct uds_forward *fwd, int error, void *data);
/* A forward ends without a relay (client_gone: the client hung up while the destination
 * was being connected, with nothing to deliver; silent: the first-byte timeout passed
 * before the relay began), its relay began (relayed), or it is being freed (freed: the
 * last call with data). */
typedef void uds_forward_fn(struct uds_forward *fwd, void *data);
/* The relay ended (closed): its counters and error, as uds_relay_close_fn has them. */
typedef void uds_forward_closed_fn(struct uds_forward *fwd, const struct uds_relay_info *info,
                                   void *data);
/* The number of forwards changed; count is the new one (it may have changed again). */
typedef void uds_forwarder_count_fn(struct uds_forwarder *fwdr, size_t count, void *data);

/* Each may be NULL. The forward callbacks get the data given to uds_forward_new() and run on
 * the forward's loop: the forwarder's while it is held, then the worker's it was started on
 * (with threads 0 or 1 always the forwarder's). A forward ends with exactly one of
 * connect_error, relay_error, client_gone, silent or closed, or with none when the caller
 * closes it (uds_forward_close(), uds_forwarder_close_all(), uds_forwarder_free()); freed
 * follows in every case. count runs on the forwarder's loop (a change on a worker is told
 * through the loop, soon after) with the forwarder's data; it may not free the forwarder.
 * None may free the forward it is called for. */
struct uds_forwarder_callbacks {
    uds_forward_connected_fn *connected;    /* NULL: relay */
    uds_forward_error_fn *connect_error;
    uds_forward_error_fn *relay_error;
    uds_forward_fn *client_gone;
    uds_forward_fn *silent;
    uds_forward_fn *relayed;                /* the relay began (no ending: it is told
                                             * when it ends, by closed) */
    uds_forward_closed_fn *closed;
    uds_forward_fn *freed;
    uds_forwarder_count_fn *count;
};

/* A forwarder to dest (copied) on loop, which must outlive it; with opts->threads > 1 its
 * worker threads are started here (they block every signal). opts NULL: defaults; cbs
 * NULL: none; data goes to cbs->count.
 * Errors: EINVAL; those of uds_dialer_new(), uds_relay_group_new() and
 * uds_loop_pool_new(); ENOMEM; EAGAIN no thread could be started. */
UDS_API struct uds_forwarder *uds_forwarder_new(struct uds_loop *loop,
                                                const struct uds_addr *dest,
                                                const struct uds_forwarder_opts *opts,
                                                const struct uds_forwarder_callbacks *cbs,
                                                void *data);
/* Forwards alive now, held ones included. Any thread; 0 for NULL. */
UDS_API size_t uds_forwarder_count(const struct uds_forwarder *fwdr);
/* Close every forward as uds_forward_close() does: the held ones at once, a worker's on
 * its thread, soon after. From the forwarder's loop, not from inside a callback. */
UDS_API void uds_forwarder_close_all(struct uds_forwarder *fwdr);
/* Close every forward (freed is called for each, on its thread or on the caller's), stop
 * and join the workers, and free the forwarder; count is not called. From the forwarder's
 * loop, not from inside a callback. NULL is fine. */
UDS_API void uds_forwarder_free(struct uds_forwarder *fwdr);

/* A new forward, held: counted (count is called), its first-byte clock started, nothing
 * else until uds_forward_start(). data is the caller's, given to every callback of this
 * forward until freed. On the forwarder's loop. Errors: EINVAL; ENOMEM. */
UDS_API struct uds_forward *uds_forward_new(struct uds_forwarder *fwdr, void *data);
/* Connect the held forward's client, client_fd (a connected stream socket, taken over:
 * closed when the forward ends, and on failure too), to the destination and relay it: on
 * the forwarder's loop, or posted to the worker with the fewest forwards. Returns 0; the
 * forward then ends with one of the callbacks (on the forwarder's loop, possibly before
 * this returns). Returns -1 when it could not be started (EINVAL client_fd < 0; ENOMEM):
 * the forward has ended then, freed called before the return. EINVAL for fwd NULL or not
 * held: nothing changes but client_fd closed. On the forwarder's loop. */
UDS_API int uds_forward_start(struct uds_forward *fwd, int client_fd);
/* After connected answered UDS_FORWARD_LATER: relay the client to fd (taken over, also on
 * failure). Returns 0, or -1 when the relay could not be made (fd < 0 included): the
 * forward has ended, relay_error and freed called before the return. EINVAL for fwd NULL
 * or not waiting: nothing changes but fd closed. On the forward's loop. */
UDS_API int uds_forward_resume(struct uds_forward *fwd, int fd);
/* Send these len bytes (copied; none for 0) to the destination before anything from the
 * client, instead of the PROXY header of opts->proxy_header: any time before the relay
 * begins (held, in or after a connected callback), on the forward's loop. A prefix longer
 * than the relays' buffer_size ends the forward with relay_error (EMSGSIZE).
 * Errors: EINVAL fwd NULL, buf NULL with len, or relaying already; ENOMEM. */
UDS_API int uds_forward_set_prefix(struct uds_forward *fwd, const void *buf, size_t len);
/* End the forward now, in whatever stage: its dial cancelled, its relay freed (sockets
 * with SO_LINGER 0), its fds closed; only freed is called. On the forward's loop, not from
 * inside its own callbacks. NULL is fine. */
UDS_API void uds_forward_close(struct uds_forward *fwd);
/* The loop the forward runs on now (see above). */
UDS_API struct uds_loop *uds_forward_loop(const struct uds_forward *fwd);

/* ---------------------------------------------------------------------------------------
 * Datagram relay: stand in front of a Unix datagram server, as `uds tap` and `uds proxy`
 * do for one. A datagram socket has no connections to relay: a sender is told from another
 * by the address it is bound to (an unbound one by its pid). Each sender gets a socket of
 * its own, connected to the server and auto-bound to an abstract name, so that the server
 * can answer it; what the sender sends goes out there, with the fds it passed, and what the
 * server sends to that socket goes back to the sender from the relay's socket, through
 * uds_dgram_reply() (a sender's name never redirects an answer). A sender from which
 * nothing has passed either way for idle_timeout_ms is forgotten: its socket is closed.
 * Boundaries are kept (an empty datagram too). A server with no room in its queue is
 * waited for: the relay holds the one datagram and reads no more until the server has
 * room, so that senders wait as they would at the server's own socket. Anything else that
 * cannot go at once (no server there, an answer to a sender whose queue is full) is dropped
 * and counted. How and why: udskit.3 (Datagram relay).
 * ------------------------------------------------------------------------------------- */

struct uds_dgram_relay;

/* uds_dgram_relay_opts.flags */
enum uds_dgram_relay_flags {
    UDS_DGRAM_RELAY_AS_SENDER = 1u << 0,    /* forward each datagram with its sender's pid,
                                             * uid and gid (SCM_CREDENTIALS), so that a
                                             * server that reads credentials sees the
                                             * sender, not the relay (the relay's pid for a
                                             * sender that has exited). Needs CAP_SYS_ADMIN,
                                             * CAP_SETUID and CAP_SETGID (root); without
                                             * them the datagram is dropped, never sent
                                             * with the relay's ids instead */
};

/* What an observer is told. */
enum uds_dgram_relay_event_type {
    UDS_DGRAM_RELAY_SENDER_NEW = 1, /* a sender's first datagram: its socket to the server
                                     * is made; the datagram follows as FROM_SENDER */
    UDS_DGRAM_RELAY_FROM_SENDER,    /* a datagram from the sender, before it goes to the
                                     * server */
    UDS_DGRAM_RELAY_FROM_SERVER,    /* a datagram from the server to the sender, before it
                                     * goes back (with no fds: those are not passed back) */
    UDS_DGRAM_RELAY_SENDER_GONE,    /* the sender is forgotten (idle, or the relay freed):
                                     * the last event with its sender_data */
    UDS_DGRAM_RELAY_DROPPED,        /* a datagram dropped (counted): error says why,
                                     * from_server which way it was going */
};

struct uds_dgram_relay_event {
    enum uds_dgram_relay_event_type type;
    const struct sockaddr_un *sender;   /* the sender's address, as recvmsg() gave it */
    socklen_t sender_len;               /* offsetof(struct sockaddr_un, sun_path) or less:
                                         * the sender is not bound (it cannot be answered) */
    const struct uds_peer *cred;        /* pid, uid and gid its first datagram came with
                                         * (SCM_CREDENTIALS; for a datagram dropped before
                                         * its sender was taken in, that datagram's); no
                                         * groups, pidfd -1 */
    void **sender_data;                 /* the observer's own pointer for this sender: NULL
                                         * at SENDER_NEW, kept from one event to the next;
                                         * free what it points to at SENDER_GONE. For a
                                         * datagram dropped before its sender was taken in,
                                         * points to a NULL that is not kept */
    const void *data;                   /* the datagram (FROM_*, DROPPED), valid during
                                         * the call */
    size_t len;
    size_t full_len;                    /* its length before it was cut to max_size */
    const int *fds;                     /* fds that came with it: the relay's, valid during
                                         * the call only; the observer must not close them */
    size_t n_fds;
    uint64_t bytes_from_sender;         /* so far, this datagram's included */
    uint64_t bytes_from_server;
    int error;                          /* DROPPED: ENOENT/ECONNREFUSED no server there,
                                         * EAGAIN the sender's queue full (an answer; the
                                         * server's is waited for), ESHUTDOWN one held for
                                         * a full server when the relay is freed, EACCES
                                         * a sender not in allow, EUSERS max_senders
                                         * reached, EDQUOT max_senders_per_uid reached
                                         * for its uid, EMSGSIZE more fds than could be
                                         * received; for an answer, those of
                                         * uds_dgram_reply() (EDESTADDRREQ an unbound
                                         * sender...); ENOMEM, EMFILE... */
    bool from_server;                   /* DROPPED: an answer (else the sender's datagram) */
};

/* Called for every event of every sender, in order (for a new sender: SENDER_NEW, then its
 * datagram); it may not free the relay. */
typedef void uds_dgram_relay_observe_fn(struct uds_dgram_relay *relay,
                                        const struct uds_dgram_relay_event *event,
                                        void *data);

struct uds_dgram_relay_opts {
    int idle_timeout_ms;    /* forget a sender once nothing has passed either way for this
                             * long; 0 = 30 s */
    size_t max_senders;     /* senders remembered at once (each holds an fd): a datagram
                             * from one more is dropped until one is forgotten; 0 = 1024 */
    size_t max_senders_per_uid; /* of those, at most this many under one uid (the uid its
                                 * datagrams carry): one more of that uid's is dropped
                                 * (EDQUOT) until one of its own is forgotten, so that one
                                 * user cannot take every slot; 0 = no such limit */
    size_t max_size;        /* longest datagram passed whole, a longer one is cut to it;
                             * 0 = 256 KiB; at most 64 MiB */
    unsigned flags;         /* enum uds_dgram_relay_flags */
    uds_dgram_relay_observe_fn *observe;    /* NULL: none */
    void *data;             /* given to observe */
    const struct uds_allow *allow;  /* who may send (uds_peer_allowed() on the uid and
                                     * primary gid each datagram comes with: no
                                     * supplementary groups); a datagram from anyone else
                                     * is dropped (EACCES) before a socket is made for
                                     * it. Borrowed: it must outlive the relay. NULL:
                                     * everyone */
};

/* Relay the datagrams that come to fd, a bound dgram socket of the caller's, to the
 * datagram server at server (a path or abstract name; copied), and the server's answers
 * back, on loop, until uds_dgram_relay_free(). fd stays the caller's: it is watched for
 * reading and SO_PASSCRED is turned on on it (each datagram's credentials are its sender's
 * identity), never closed. The sockets made for the senders are the relay's (O_CLOEXEC,
 * non-blocking). The server need not be there yet: a sender for which no socket can be
 * connected has its datagram dropped.
 * Errors: EINVAL loop, server or fd invalid, fd not a dgram socket, bad options;
 *         EAFNOSUPPORT server is a tcp: address; ENOMEM; those of setsockopt() and
 *         uds_loop_add(). */
UDS_API struct uds_dgram_relay *uds_dgram_relay_new(struct uds_loop *loop, int fd,
                                                    const struct uds_addr *server,
                                                    const struct uds_dgram_relay_opts *opts);
/* Datagrams dropped so far either way (each told to the observer as DROPPED, with why):
 * no socket to the server could be made, a sender not allowed or one more than
 * max_senders (or than max_senders_per_uid for its uid), a receiver gone, a sender that
 * cannot be answered (unbound, its queue full, or its address no longer its: see
 * uds_dgram_reply()), more fds than could be received.
 * 0 for NULL. */
UDS_API uint64_t uds_dgram_relay_dropped(const struct uds_dgram_relay *relay);
/* Senders remembered now (each with its socket to the server). 0 for NULL. */
UDS_API size_t uds_dgram_relay_senders(const struct uds_dgram_relay *relay);
/* Forget every sender (the observer sees SENDER_GONE for each; their sockets are closed,
 * and answers still on their way are lost, as is a datagram held for a full server:
 * DROPPED, ESHUTDOWN), stop watching fd (not closed; what waits in its queue stays there)
 * and free the relay. Not from inside its observer. NULL is fine. */
UDS_API void uds_dgram_relay_free(struct uds_dgram_relay *relay);

/* ---------------------------------------------------------------------------------------
 * Capture: what flows through Unix sockets, as pcapng that Wireshark and tshark read with
 * their own dissectors. A Unix socket has no link layer they know, so each connection is
 * written as a synthetic IPv4 flow between two loopback addresses: a stream connection as
 * TCP (handshake, sequence numbers, FIN at each half-close, RST at an abortive end), which
 * Wireshark reassembles; each seqpacket or dgram message as one UDP datagram. The server's
 * port chooses the dissector. The encoder (uds_pcapng_*) is pure: no system call, no
 * allocation, it writes into the caller's buffer. The writer (uds_capture_*) turns what a
 * program saw into those packets and writes them to a file in batches. Blocks as the pcapng
 * specification (draft-ietf-opsawg-pcapng) lays them out, in the host's byte order (which
 * the section header states), timestamps in microseconds. How and why: udskit.3 (Capture).
 * ------------------------------------------------------------------------------------- */

/* The largest payload of one synthetic packet: what fits in an IPv4 packet of 65535 bytes
 * after its 20-byte header and a 20-byte TCP or 8-byte UDP header. */
#define UDS_PCAPNG_TCP_MAX 65495u
#define UDS_PCAPNG_UDP_MAX 65507u
/* A comment or name is written up to this many bytes; the rest is left out. */
#define UDS_PCAPNG_TEXT_MAX 65000u

/* Which way a packet goes. */
enum uds_pcapng_dir {
    UDS_PCAPNG_TO_SERVER = 0,   /* from the client */
    UDS_PCAPNG_TO_CLIENT = 1,   /* from the server */
};

/* The TCP flags of a packet (struct uds_pcapng_packet's flags). */
enum uds_pcapng_tcp_flags {
    UDS_PCAPNG_FIN = 0x01,
    UDS_PCAPNG_SYN = 0x02,
    UDS_PCAPNG_RST = 0x04,
    UDS_PCAPNG_PSH = 0x08,
    UDS_PCAPNG_ACK = 0x10,
};

/* One connection as a flow between two IPv4 endpoints, in caller storage. Packets of a TCP
 * flow advance seq: keep the flow for the connection's life. */
struct uds_pcapng_flow {
    uint32_t client_ip, server_ip;      /* host byte order */
    uint16_t client_port, server_port;
    uint32_t seq[2];                    /* the next sequence number each side sends, indexed
                                         * by enum uds_pcapng_dir (TCP only) */
    bool udp;                           /* messages: each one UDP datagram */
};

/* One packet of a flow. */
struct uds_pcapng_packet {
    enum uds_pcapng_dir dir;
    unsigned flags;             /* enum uds_pcapng_tcp_flags (TCP only) */
    const void *payload;        /* len bytes; may be NULL when len is 0 */
    size_t len;                 /* at most UDS_PCAPNG_TCP_MAX, or UDS_PCAPNG_UDP_MAX */
    size_t cap_len;             /* of those, the bytes written (a snap length); <= len */
    uint64_t ts_us;             /* microseconds since the epoch */
    const char *comment;        /* the packet's comment (opt_comment), or NULL */
};

/* Set flow up for connection number id (each connection of a capture its own number): the
 * client 127.0.1.1 + id / 60000 at port 1024 + id % 60000, the server 127.0.0.1 at
 * server_port, initial sequence numbers 1000 * id and 2000000000 + 1000 * id; udp for
 * messages. */
UDS_API void uds_pcapng_flow_init(struct uds_pcapng_flow *flow, unsigned id,
                                  uint16_t server_port, bool udp);
/* A server port for a capture of the socket at path, which chooses Wireshark's dissector:
 * for a file named .s.PGSQL.N, N (PostgreSQL); with "docker" in its name, 80 (HTTP); with
 * "php" or "fpm", 9000 (FastCGI); otherwise (and for NULL) 49152, which no dissector
 * claims. Only the name is read, never the file. */
UDS_API uint16_t uds_pcapng_port(const char *path);

/* Write the Section Header Block into buf (size bytes), with shb_userappl application
 * (NULL: no such option). Returns its length (28 bytes plus the option).
 * Errors: ENOSPC size too small (nothing counts as written); EINVAL buf NULL. */
UDS_API ssize_t uds_pcapng_section(void *buf, size_t size, const char *application);
/* Write the Interface Description Block of the section's interface 0, which every packet
 * block names: LINKTYPE_RAW (each packet an IPv4 packet), no snap length, if_name name
 * (NULL: no such option). Returns its length. Errors: as uds_pcapng_section(). */
UDS_API ssize_t uds_pcapng_interface(void *buf, size_t size, const char *name);
/* The length of the block uds_pcapng_packet() writes for pkt on flow. */
UDS_API size_t uds_pcapng_packet_size(const struct uds_pcapng_flow *flow,
                                      const struct uds_pcapng_packet *pkt);
/* Write pkt's Enhanced Packet Block into buf: an IPv4 packet with a TCP header (flags,
 * sequence and, with ACK, acknowledgement numbers from flow) or a UDP one, both checksums
 * right (the transport's over the whole payload, past cap_len too), cap_len payload bytes,
 * the comment. Advances flow->seq[pkt->dir] by len, and by one more for SYN and for FIN.
 * Returns the block's length, uds_pcapng_packet_size().
 * Errors (flow then unchanged): EINVAL a NULL argument, dir outside the enum, len over the
 * flow's maximum, cap_len over len, payload NULL with len; ENOSPC size too small. */
UDS_API ssize_t uds_pcapng_packet(void *buf, size_t size, struct uds_pcapng_flow *flow,
                                  const struct uds_pcapng_packet *pkt);
/* The same block in three parts, for a payload written from where it lies (with writev())
 * instead of copied: the head (block header, IP and TCP/UDP headers), then the caller's
 * cap_len payload bytes, then the tail (padding, comment, the block's length again). The
 * head advances flow as uds_pcapng_packet() does, and the tail needs the flow as the head
 * left it; head and tail together take uds_pcapng_packet_size() - cap_len bytes: have room
 * for both before writing the head. Each returns its length. Errors: as
 * uds_pcapng_packet(). */
UDS_API ssize_t uds_pcapng_packet_head(void *buf, size_t size, struct uds_pcapng_flow *flow,
                                       const struct uds_pcapng_packet *pkt);
UDS_API ssize_t uds_pcapng_packet_tail(void *buf, size_t size,
                                       const struct uds_pcapng_flow *flow,
                                       const struct uds_pcapng_packet *pkt);

/* A capture being written: a section, its interface, then the packets of the flows the
 * program reports. Packets are gathered in a buffer of the capture's own and written with
 * one writev() once 256 KiB wait, at uds_capture_flush() and at uds_capture_close(); a
 * payload of 32 KiB or more is not copied into it but written from where it lies, before
 * uds_capture_data() returns. Writes block until done (a non-blocking fd is waited for);
 * on a socket they use MSG_NOSIGNAL, and a pipe whose reader has gone fails with EPIPE
 * without raising SIGPIPE. Bytes that cannot be written are lost, not retried: the next
 * call starts afresh. One thread at a time. */
struct uds_capture;

enum uds_capture_flags {
    UDS_CAPTURE_UNBUFFERED = 1u << 0,   /* every call writes its packets before it returns:
                                         * for a reader that follows the capture live (a
                                         * pipe into `wireshark -k -i -`) */
};

/* Read by uds_capture_open() and uds_capture_open_fd() only: none of it is kept. */
struct uds_capture_opts {
    const char *application;    /* the section's shb_userappl; NULL: "libudskit" */
    const char *if_name;        /* the interface's name, e.g. the socket's path; NULL:
                                 * none */
    size_t snaplen;             /* payload bytes kept of each packet (its length still
                                 * counts them all); 0 = all */
    unsigned flags;             /* enum uds_capture_flags */
};

/* Create the file at path, or truncate it, with mode 0600 (what flows through a socket is
 * often a secret: passwords, tokens) before the process umask, O_CLOEXEC, and write the
 * section and interface blocks. Close the capture with uds_capture_close().
 * Errors: EINVAL path NULL or empty, bad options; ENOMEM; those of open() and write(). */
UDS_API struct uds_capture *uds_capture_open(const char *path,
                                             const struct uds_capture_opts *opts);
/* The same on fd, open for writing (stdout, a pipe, a file, a socket). fd stays the
 * caller's: the capture writes to it and never closes it.
 * Errors: EINVAL fd negative, bad options; ENOMEM; those of fstat() and write(). */
UDS_API struct uds_capture *uds_capture_open_fd(int fd, const struct uds_capture_opts *opts);
/* Flush, close the file (an fd given to uds_capture_open_fd() is left open) and free the
 * capture, whatever fails. Returns 0, or -1 with the errno of the flush or close() that
 * failed (then the file misses its last packets). NULL is fine (0). */
UDS_API int uds_capture_close(struct uds_capture *capture);
/* Write what is buffered. Errors: EINVAL capture NULL; those of writev() (EPIPE: the
 * reader has gone; ENOSPC...). */
UDS_API int uds_capture_flush(struct uds_capture *capture);
/* Whether packets wait in the buffer for a flush. false for NULL. */
UDS_API bool uds_capture_pending(const struct uds_capture *capture);

/* A connection begins: for TCP, its handshake (SYN, SYN-ACK, ACK), with comment (NULL:
 * none) on the SYN; for UDP nothing (returns 0). */
UDS_API int uds_capture_begin(struct uds_capture *capture, struct uds_pcapng_flow *flow,
                              uint64_t ts_us, const char *comment);
/* len bytes went dir: on a TCP flow as many packets as they need (up to UDS_PCAPNG_TCP_MAX
 * each), on a UDP flow one datagram (a message over UDS_PCAPNG_UDP_MAX is cut there: the
 * rest would be another message to a dissector); comment on the first. data is borrowed for
 * the call only. */
UDS_API int uds_capture_data(struct uds_capture *capture, struct uds_pcapng_flow *flow,
                             enum uds_pcapng_dir dir, const void *data, size_t len,
                             uint64_t ts_us, const char *comment);
/* The side that sends dir has ended its stream (FIN), or the connection ended abortively,
 * reset from that side (RST). TCP only: nothing for UDP (returns 0). */
UDS_API int uds_capture_fin(struct uds_capture *capture, struct uds_pcapng_flow *flow,
                            enum uds_pcapng_dir dir, uint64_t ts_us);
UDS_API int uds_capture_reset(struct uds_capture *capture, struct uds_pcapng_flow *flow,
                              enum uds_pcapng_dir dir, uint64_t ts_us);
/* The errors of uds_capture_begin(), _data(), _fin() and _reset(): EINVAL a NULL capture
 * or flow, dir outside the enum, data NULL with len; those of uds_capture_flush() when the
 * buffer is written. */

/* ---------------------------------------------------------------------------------------
 * Inspection (SPEC §2): the Unix sockets of the caller's network namespace, read through
 * NETLINK_SOCK_DIAG (UNIX_DIAG_*), and the processes that hold them, read from
 * /proc/PID/fd. Needs no privilege; an unprivileged caller sees every socket but only the
 * processes whose /proc entries it may read.
 * ------------------------------------------------------------------------------------- */

enum uds_sock_state {
    UDS_SOCK_UNKNOWN = 0,       /* a state this library does not know */
    UDS_SOCK_UNCONNECTED,       /* not connected: new, bound dgram, or peer gone (ss UNCONN) */
    UDS_SOCK_LISTENING,         /* ss LISTEN */
    UDS_SOCK_CONNECTED,         /* ss ESTAB */
    UDS_SOCK_CONNECTING,        /* ss SYN-SENT */
};

/* "unconnected", "listening", "connected", "connecting", "unknown" (also for a value
 * outside the enum). */
UDS_API const char *uds_sock_state_name(enum uds_sock_state state);

enum uds_sockinfo_has {
    UDS_SOCKINFO_QUEUES = 1u << 0,  /* recv_q and send_q are set */
    UDS_SOCKINFO_UID = 1u << 1,     /* uid is set */
    UDS_SOCKINFO_FILE = 1u << 2,    /* file_dev and file_ino are set */
    UDS_SOCKINFO_SHUTDOWN = 1u << 3,/* shutdown is set */
    UDS_SOCKINFO_MEM = 1u << 4,     /* mem is set */
};

/* A socket's memory, in bytes, as the kernel accounts it (ss -m: skmem). */
struct uds_sockmem {
    uint32_t rmem_alloc;            /* r: received, not yet read */
    uint32_t rcvbuf;                /* rb: the receive buffer's size */
    uint32_t wmem_alloc;            /* t: sent, not yet read by the peer */
    uint32_t sndbuf;                /* tb: the send buffer's size */
    uint32_t fwd_alloc;             /* f */
    uint32_t wmem_queued;           /* w */
    uint32_t optmem;                /* o: options, ancillary data */
    uint32_t backlog;               /* bl */
    uint32_t drops;                 /* d: packets dropped */
};

/* One socket as the kernel describes it. */
struct uds_sockinfo {
    enum uds_socket_type type;
    enum uds_sock_state state;
    enum uds_addr_kind name_kind;   /* UDS_ADDR_PATH, UDS_ADDR_ABSTRACT, or 0: unnamed */
    size_t name_len;                /* bytes in name, excluding the NUL that follows them */
    char name[UDS_SUN_PATH_MAX + 2];/* the path exactly as bound: it may be relative (to the
                                     * binder's cwd then) or a /proc/self/fd alias (a long
                                     * path); or the abstract name without '@', which may
                                     * contain NUL bytes */
    ino_t inode;                    /* the socket's inode: fstat(fd).st_ino, socket:[N] */
    uint64_t cookie;
    ino_t peer_inode;               /* the connected peer's inode, 0 for none */
    uint32_t recv_q;                /* bytes waiting to be read; a listener: connections
                                     * waiting in the backlog (ss Recv-Q) */
    uint32_t send_q;                /* bytes sent, not yet read by the peer; a listener:
                                     * its backlog (ss Send-Q) */
    uid_t uid;                      /* the creator's uid */
    dev_t file_dev;                 /* the socket file bound, as lstat() st_dev/st_ino */
    ino_t file_ino;
    unsigned shutdown;              /* 1: no more receiving, 2: no more sending, 3: both */
    unsigned has;                   /* enum uds_sockinfo_has: which fields the kernel gave */
    size_t n_pending;               /* a listener: clients waiting in its backlog */
    const ino_t *pending;           /*   their inodes (NULL when n_pending is 0) */
    struct uds_sockmem mem;         /* UDS_SOCKINFO_MEM */
};

/* Every Unix socket of the network namespace, sorted by inode. Caller storage. */
struct uds_socklist {
    struct uds_sockinfo *socks;
    size_t n;
};

/* Dump every Unix socket into *ret_list (release it with uds_socklist_done()). A dump the
 * kernel marks as interrupted by concurrent changes is retried a few times.
 * Errors: EPROTONOSUPPORT/ENOENT the kernel has no unix_diag; EAGAIN every retry was
 *         interrupted; ETIMEDOUT the kernel did not answer; EPROTO a malformed answer;
 *         ENOMEM. */
UDS_API int uds_socklist_get(struct uds_socklist *ret_list);
/* Free the list; leaves it empty. NULL is fine. */
UDS_API void uds_socklist_done(struct uds_socklist *list);
/* The socket with this inode, or NULL (errno ENOENT). */
UDS_API const struct uds_sockinfo *uds_socklist_find(const struct uds_socklist *list,
                                                     ino_t inode);

enum uds_path_status {
    UDS_PATH_UNKNOWN = 0,   /* cannot tell: unnamed, abstract, relative, a /proc/self alias,
                             * no file identity, or the path cannot be examined */
    UDS_PATH_OK,            /* the path names the socket's file */
    UDS_PATH_MISSING,       /* nothing is at the path: the file was deleted */
    UDS_PATH_REPLACED,      /* the path names another file now */
    UDS_PATH_OTHER_NS,      /* uds_sockinfo_where(): the path leads to it only in the mount
                             * namespace of a process that holds it (PrivateTmp=, a
                             * container), not in the caller's */
};

/* Whether path (NULL: the socket's own name, when it is absolute) still names the file
 * sock was bound to. MISSING and REPLACED mean the socket is unreachable by that path. */
UDS_API enum uds_path_status uds_sockinfo_path_status(const struct uds_sockinfo *sock,
                                                      const char *path);

/* One open fd of a process that refers to a socket. */
struct uds_procfd {
    ino_t inode;        /* the socket's inode */
    pid_t pid;
    int fd;
    char command[16];   /* /proc/PID/comm */
};

/* Caller storage: entries sorted by inode, then pid, then fd. */
struct uds_procfd_list {
    struct uds_procfd *entries;
    size_t n;
    size_t n_denied;    /* processes whose fds the caller may not read */
};

/* Scan /proc/PID/fd of every process (pid 0) or of one process. Processes that exit during
 * the scan are skipped; those the caller may not read are counted in n_denied.
 * Errors: ENOENT /proc is not mounted, or the one pid does not exist; EACCES the one pid
 *         may not be read; ENOMEM. */
UDS_API int uds_procfd_list_get(pid_t pid, struct uds_procfd_list *ret_list);
/* Free the list; leaves it empty. NULL is fine. */
UDS_API void uds_procfd_list_done(struct uds_procfd_list *list);
/* The number of entries for inode; *ret_first points at the first of them (NULL if none). */
UDS_API size_t uds_procfd_list_find(const struct uds_procfd_list *list, ino_t inode,
                                    const struct uds_procfd **ret_first);

/* Resolve the relative name of a bound socket against the current directory of process
 * pid (one that holds it): writes the absolute path into buf (size bytes) and returns 1
 * when that path names the socket's file now, 0 when it does not (the process changed
 * directory, or the file was deleted or replaced); buf is "" when the directory itself is
 * gone.
 * Errors: EINVAL sock has no relative name or no file identity; ENOENT/ESRCH no such
 *         process; EACCES its cwd may not be read; ENAMETOOLONG buf too small. */
UDS_API int uds_sockinfo_resolve(const struct uds_sockinfo *sock, pid_t pid, char *buf,
                                 size_t size);

/* When process pid started, in seconds since the epoch: with a pid read earlier, a later
 * start means the pid was reused. Errors: EINVAL pid <= 0 or ret_time NULL; ENOENT no such
 * process; EIO /proc says something unexpected. */
UDS_API int uds_proc_start_time(pid_t pid, time_t *ret_time);

/* Which process holds a flock() on the file at path (from /proc/locks): returns 1 and
 * *ret_pid (0 if the holder is outside the caller's pid namespace) when one does, 0 when
 * none does. Errors: those of lstat(path); ENOENT /proc/locks missing. */
UDS_API int uds_flock_holder(const char *path, pid_t *ret_pid);

/* ---------------------------------------------------------------------------------------
 * Per-uid counts: how many connections (programs, ...) each user holds, for a limit per
 * user, so that one local user cannot take every slot of a server. A hash table by uid:
 * take, release and get are O(1) on average; memory follows the number of uids holding
 * at least one, and a uid that holds nothing is forgotten. Single-threaded, like the loop.
 * ------------------------------------------------------------------------------------- */

struct uds_uid_counter;

/* An empty counter; uds_uid_counter_free() releases it. Errors: ENOMEM. */
UDS_API struct uds_uid_counter *uds_uid_counter_new(void);
/* NULL is fine. */
UDS_API void uds_uid_counter_free(struct uds_uid_counter *counter);
/* Count one more for uid, unless uid already holds max (max 0: nobody may take any; no
 * limit: SIZE_MAX). Returns 1 when counted, 0 when uid is at max (nothing changes), -1 on
 * error. Errors: EINVAL counter is NULL; ENOMEM (nothing changes). */
UDS_API int uds_uid_counter_take(struct uds_uid_counter *counter, uid_t uid, size_t max);
/* Count one less for uid: what a successful take gave back. Returns 0.
 * Errors: EINVAL counter is NULL; ENOENT uid holds nothing (a release without a take). */
UDS_API int uds_uid_counter_release(struct uds_uid_counter *counter, uid_t uid);
/* How many uid holds now; 0 for a NULL counter. */
UDS_API size_t uds_uid_counter_get(const struct uds_uid_counter *counter, uid_t uid);
/* How many uids hold at least one; 0 for a NULL counter. */
UDS_API size_t uds_uid_counter_uids(const struct uds_uid_counter *counter);

/* ---------------------------------------------------------------------------------------
 * Path facts: what stands between the caller and the socket at a path
 *
 * Facts and codes only, for a program to put into words (uds doctor and the uds error
 * messages do). Looking changes nothing: no file is created, changed or removed.
 * ------------------------------------------------------------------------------------- */

/* The name of the lock file that a listener at path holds: path followed by ".lock"
 * (uds_listen() uses this rule), written into buf (size bytes) with its NUL. Returns its
 * length. A buffer of UDS_LOCK_PATH_MAX + 1 bytes holds the lock path of any path.
 * Errors: EINVAL path NULL or empty; ENAMETOOLONG it does not fit in size. */
#define UDS_LOCK_PATH_MAX (UDS_PATH_MAX + 5)
UDS_API int uds_lock_path(const char *path, char *buf, size_t size);

/* What a file is, from the type bits of its st_mode. */
enum uds_file_kind {
    UDS_FILE_NONE = 0,      /* nothing there, or not examined */
    UDS_FILE_SOCKET,
    UDS_FILE_REGULAR,
    UDS_FILE_DIR,
    UDS_FILE_SYMLINK,
    UDS_FILE_FIFO,
    UDS_FILE_CHAR,          /* character device */
    UDS_FILE_BLOCK,         /* block device */
    UDS_FILE_OTHER,         /* a type this header does not know */
};

/* Which permission bits of a file apply to someone (the kernel's order: owner, else group
 * or supplementary group, else other). */
enum uds_perm_class {
    UDS_PERM_OWNER = 1,
    UDS_PERM_GROUP,
    UDS_PERM_OTHER,
};

/* One file as stat() saw it, and which of its bits apply to the caller. */
struct uds_file {
    enum uds_file_kind kind;
    mode_t mode;                /* st_mode: type and permission bits */
    uid_t uid;
    gid_t gid;
    dev_t dev;
    ino_t ino;
    enum uds_perm_class perm;   /* the class the caller falls in */
};

/* Someone whose permissions are asked about: effective ids and supplementary groups. */
struct uds_ids {
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t n_groups;
};

/* The kind of file a st_mode describes. Pure. */
UDS_API enum uds_file_kind uds_file_kind_of(mode_t mode);

/* Whether who may access file for want (R_OK, W_OK, X_OK of <unistd.h>, or'ed; 0 asks
 * nothing) by its mode bits: 1 yes, 0 no. *ret_class (may be NULL) tells which bits were
 * read. uid 0 is granted what CAP_DAC_OVERRIDE grants (anything but executing a file
 * that is not a directory and has no x bit), as root has unless its capabilities were
 * dropped. ACLs and security modules are not seen: uds_pathinfo_get() asks the kernel.
 * Pure. Errors: EINVAL file or who NULL, or want beyond R_OK | W_OK | X_OK. */
UDS_API int uds_perm_check(const struct uds_file *file, const struct uds_ids *who, int want,
                           enum uds_perm_class *ret_class);

/* Whether anything listens at an address, as found by a connect(). */
enum uds_liveness {
    UDS_LIVE_UNKNOWN = 0,   /* not probed, or the probe could not tell */
    UDS_LIVE_STALE,         /* refused: a socket file nobody listens on (for an abstract
                             * name: nothing bound to it) */
    UDS_LIVE_LISTENING,     /* a connection was made (and closed at once) */
    UDS_LIVE_BACKLOG_FULL,  /* a listener whose backlog is full (EAGAIN) */
};

/* Connect once to addr (a path or an abstract name), non-blocking, as a stream client,
 * then as seqpacket and dgram while the kernel answers EPROTOTYPE (another type listens),
 * and close at once: a live listener sees one connection that closes. A path is stat()ed
 * first, since connect() to a file that is not a socket also answers ECONNREFUSED.
 * Returns 0 with *ret_live (STALE, LISTENING or BACKLOG_FULL) and *ret_type (may be NULL:
 * the type that answered; UDS_STREAM when stale).
 * Errors: EINVAL addr or ret_live NULL; EAFNOSUPPORT a tcp address; ENOTSOCK the path is
 *         not a socket; ENOENT, EACCES, ELOOP... from stat() or connect(). */
UDS_API int uds_probe(const struct uds_addr *addr, enum uds_liveness *ret_live,
                      enum uds_socket_type *ret_type);

/* The first directory on the way to a path that stops the caller. */
enum uds_dir_problem {
    UDS_DIR_OK = 0,         /* every directory on the way is there and searchable */
    UDS_DIR_MISSING,        /* dir does not exist */
    UDS_DIR_NOT_DIR,        /* dir is not a directory (dir_file.kind says what, when known) */
    UDS_DIR_NO_SEARCH,      /* the caller may not search dir (x) */
    UDS_DIR_NO_WRITE,       /* with UDS_PATHINFO_CREATE: the caller may not write the
                             * directory the path is in */
    UDS_DIR_ERROR,          /* stat(dir) failed otherwise: dir_errno */
};

enum uds_pathinfo_flags {
    UDS_PATHINFO_PROBE = 1u << 0,   /* a socket found is probed (uds_probe()): live, stale? */
    UDS_PATHINFO_CREATE = 1u << 1,  /* the caller means to create the path (listen): a
                                     * directory it may not write stops it too */
};

struct uds_pathinfo {
    /* The directories on the way, "." first for a relative path, each stat()ed and checked
     * with faccessat(AT_EACCESS): the first that stops the caller. */
    enum uds_dir_problem dir_problem;
    char dir[UDS_PATH_MAX + 1];     /* that directory ("" when none stops) */
    int dir_errno;                  /* the error of stat(dir) when it failed, or 0 */
    struct uds_file dir_file;       /* what dir is, when stat() worked */

    /* The path itself, examined when dir_problem is UDS_DIR_OK or UDS_DIR_NO_WRITE. */
    int path_errno;                 /* the error of lstat(path) (ENOENT: nothing there) */
    struct uds_file file;           /* lstat(path) */
    char link[UDS_PATH_MAX + 1];    /* a symlink's target as written in it, or "" */
    int target_errno;               /* a symlink that stat() cannot follow: why (ENOENT
                                     * dangling, EACCES, ELOOP...); else 0 */
    struct uds_file target;         /* stat(path): what a connect reaches (file itself
                                     * when it is no symlink; kind NONE when it cannot) */
    bool may_write;                 /* the kernel lets the caller write target, which
                                     * connecting to a socket needs (faccessat W_OK,
                                     * AT_EACCESS: ACLs and capabilities count) */

    /* With UDS_PATHINFO_PROBE, when target is a socket: */
    enum uds_liveness live;
    enum uds_socket_type live_type; /* the type that answered */
    int probe_errno;                /* why live is UNKNOWN after a probe, or 0 */
};

/* Examine path (a filesystem path; "@" has no meaning here) as a client about to connect
 * to it, or with UDS_PATHINFO_CREATE a server about to create it, would find it: fills
 * *ret_info with the facts above. What cannot be examined is recorded, not an error.
 * Errors: EINVAL path NULL or empty, ret_info NULL or an unknown flag; ENAMETOOLONG path
 *         over UDS_PATH_MAX; ENOMEM; those of getgroups(). */
UDS_API int uds_pathinfo_get(const char *path, unsigned flags, struct uds_pathinfo *ret_info);

/* The same path however it is written, for comparing paths: made absolute (against the
 * caller's working directory), with the symbolic links of its directory resolved
 * (/var/run/app.sock → /run/app.sock), its last name kept as written (it may itself be a
 * symlink). A directory that cannot be resolved (missing, not searchable) is kept as
 * written. Writes it into buf (size bytes) and returns its length.
 * Errors: EINVAL path NULL or empty, buf NULL or size 0; ENAMETOOLONG it does not fit;
 *         those of getcwd() for a relative path. */
UDS_API int uds_path_canonical(const char *path, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------
 * Who is behind a socket: the processes that hold it (their user, program, systemd unit
 * and namespaces), where its file is seen from here, which known server it is and the
 * configuration file that makes its socket; and a user's ids as a new login gives them.
 * Facts for a program to put into words (uds doctor and uds ls do). Looking changes
 * nothing; what the caller may not read is left empty rather than failing.
 * ------------------------------------------------------------------------------------- */

/* One process, from /proc/PID. exe, mnt_ns and net_ns need the right to trace the process
 * (its user, or root); the rest any user may read. */
struct uds_procinfo {
    pid_t pid;
    bool has_ids;               /* uid and gid were read */
    uid_t uid;                  /* effective uid and gid */
    gid_t gid;
    char command[16];           /* /proc/PID/comm */
    char state;                 /* 'R', 'S', ... 'Z' for a zombie (exited, not yet reaped) */
    char exe[UDS_PATH_MAX + 1]; /* the program (/proc/PID/exe), "" unknown */
    char cmdline[1024];         /* the arguments, each followed by a NUL, cut at 1023 bytes
                                 * (a program may have rewritten them: php-fpm, redis) */
    size_t cmdline_len;
    char unit[256];             /* the systemd unit it runs in ("php8.2-fpm.service"), from
                                 * /proc/PID/cgroup; "" none */
    ino_t mnt_ns;               /* its mount and network namespaces (the inode of
                                 * /proc/PID/ns/mnt, .../net), 0 unknown */
    ino_t net_ns;
};

/* Read what /proc says about process pid (0: the caller) into *ret_info.
 * Errors: EINVAL pid < 0 or ret_info NULL; ESRCH no such process; ENOMEM. */
UDS_API int uds_procinfo_get(pid_t pid, struct uds_procinfo *ret_info);
/* Argument index of info's command line (0: the program as it named itself), or NULL. */
UDS_API const char *uds_procinfo_arg(const struct uds_procinfo *info, size_t index);

/* Where a socket's file is, seen from the caller. */
struct uds_sockwhere {
    enum uds_path_status status;    /* OK, MISSING, REPLACED, OTHER_NS; UNKNOWN when no
                                     * absolute path could be told */
    char path[UDS_PATH_MAX + 1];    /* the absolute path it was bound at: its name, or a
                                     * relative name resolved through a holder's working
                                     * directory, or a /proc/self/fd/N/NAME alias (a path
                                     * longer than sun_path) resolved through the holder's
                                     * open files; "" when none could tell */
    char canon[UDS_PATH_MAX + 1];   /* path as uds_path_canonical() writes it */
    pid_t pid;                      /* OTHER_NS: the holder whose namespace it is in */
    char reach[UDS_PATH_MAX + 1];   /* OTHER_NS: "/proc/PID/root" + path, a path that leads
                                     * to the file from here (for who may trace pid) */
};

/* Where the file of sock (a socket bound to a path) is, given the processes that hold it
 * (holders, n_holders: as uds_procfd_list_find() returns them; none is fine), into
 * *ret_where. Reading a holder's directory and files needs the right to trace it.
 * Errors: EINVAL sock is not bound to a path, or a NULL argument; ENOMEM. */
UDS_API int uds_sockinfo_where(const struct uds_sockinfo *sock,
                               const struct uds_procfd *holders, size_t n_holders,
                               struct uds_sockwhere *ret_where);

/* A mount, from /proc/self/mountinfo. */
struct uds_mount {
    unsigned id;
    char root[UDS_PATH_MAX + 1];    /* what of its filesystem is mounted: a bind mount of a
                                     * file names that file, with "//deleted" appended once
                                     * the file was removed from its directory */
    char fstype[32];
    char source[256];
};

/* Whether path (absolute, written as uds_path_canonical() writes it) is a mount point in
 * the caller's mount namespace: 1 with the topmost mount there in *ret_mount, 0 when it is
 * not. Errors: EINVAL path not absolute or ret_mount NULL; those of opening
 * /proc/self/mountinfo. */
UDS_API int uds_mount_at(const char *path, struct uds_mount *ret_mount);

/* An abstract name bound in another network namespace. */
struct uds_nshit {
    ino_t net_ns;                   /* that namespace */
    pid_t pid;                      /* a process in it */
    ino_t inode;                    /* the socket */
    enum uds_socket_type type;
    bool listening;
};

#define UDS_NSHITS_MAX 8
struct uds_abstract_search {
    ino_t own_ns;                   /* the caller's network namespace (0 unknown) */
    size_t n_searched;              /* other network namespaces whose sockets were read */
    size_t n_hits;
    struct uds_nshit hits[UDS_NSHITS_MAX];
};

/* Look for the abstract name (len bytes, without the '@') in every network namespace but
 * the caller's that a process the caller may trace is in (root: all of them), through
 * /proc/PID/net/unix. A name holding a newline is not found.
 * Errors: EINVAL name NULL, len 0 or over UDS_SUN_PATH_MAX; ENOMEM; those of opendir(). */
UDS_API int uds_abstract_search(const char *name, size_t len,
                                struct uds_abstract_search *ret_search);

/* The servers uds_server_identify() knows. */
enum uds_server_kind {
    UDS_SERVER_UNKNOWN = 0,
    UDS_SERVER_UDSKIT,          /* uds, or a libudskit listener (it holds PATH.lock) */
    UDS_SERVER_PHP_FPM,
    UDS_SERVER_POSTGRESQL,
    UDS_SERVER_REDIS,
    UDS_SERVER_DOCKERD,
    UDS_SERVER_SYSTEMD,         /* made by systemd for a .socket unit, or by
                                 * systemd-socket-activate */
};

/* "udskit", "php-fpm", "postgresql", "redis", "dockerd", "systemd", "unknown" (also for a
 * value outside the enum). */
UDS_API const char *uds_server_kind_name(enum uds_server_kind kind);

enum uds_server_found {
    UDS_SERVER_BY_PROCESS = 1,  /* a process that holds the socket */
    UDS_SERVER_BY_UNIT,         /* a systemd .socket unit that lists its address */
    UDS_SERVER_BY_PATH,         /* its well-known name (.s.PGSQL.5432, php8.2-fpm.sock,
                                 * docker.sock, redis*.sock), or for udskit the PATH.lock
                                 * file its listener left */
    UDS_SERVER_BY_CONFIG,       /* a running server whose configuration names the path
                                 * (a php-fpm master or a redis-server the caller
                                 * cannot see holding it) */
};

/* One setting of a configuration file, as written there. */
struct uds_server_setting {
    char key[32];               /* "listen.group", "unix_socket_permissions", "SocketMode" */
    char value[128];
    unsigned line;              /* its line in the file (0: a command-line option) */
};

#define UDS_SERVER_SETTINGS_MAX 8
struct uds_server_ident {
    enum uds_server_kind kind;
    enum uds_server_found found_by;
    pid_t pid;                  /* the process recognised (the php-fpm master), 0 none */
    char program[64];           /* its program: "php-fpm8.2", "postgres" */
    char version[32];           /* "8.2", "15", from the program's name or path; "" */
    char unit[256];             /* the systemd unit that process runs in, "" none */
    /* The file whose settings make this socket, and the line that names the socket: the
     * php-fpm pool file and its "listen =", postgresql.conf and unix_socket_directories,
     * redis.conf and unixsocket, dockerd's daemon.json (line 0); "" unknown. */
    char config[UDS_PATH_MAX + 1];
    unsigned config_line;
    char main_config[UDS_PATH_MAX + 1];     /* php-fpm: its php-fpm.conf */
    char pool[64];              /* php-fpm: the pool ([www]) whose listen = is the socket */
    char data_dir[UDS_PATH_MAX + 1];        /* PostgreSQL: its data directory */
    bool has_own_lock;          /* PostgreSQL: PATH.lock is its own lock file, which holds */
    pid_t lock_pid;             /*   the postmaster's pid (not a flock) */
    /* A systemd .socket unit that lists the address (Listen*=), searched in
     * $SYSTEMD_UNIT_PATH as systemd does, else in the default unit directories. */
    char socket_unit[256];      /* "docker.socket", "" none */
    char socket_unit_file[UDS_PATH_MAX + 1];
    unsigned socket_unit_line;
    pid_t systemd_pid;          /* SYSTEMD: the systemd process that holds the socket */
    enum uds_server_kind service;   /* SYSTEMD: the server it hands the socket to */
    /* The settings that decide the socket's owner, group, mode and backlog, from config
     * (listen.owner, listen.group, listen.mode, listen.acl_users, listen.acl_groups,
     * listen.backlog; unix_socket_group, unix_socket_permissions; unixsocketperm,
     * unixsocketgroup; dockerd's group, "--group" for -G) and from the socket unit
     * (SocketMode, SocketUser, SocketGroup, Backlog). */
    size_t n_settings;
    struct uds_server_setting settings[UDS_SERVER_SETTINGS_MAX];
};

/* Recognise the server behind the socket at addr (a path, or an abstract name), held by
 * holders (n_holders of them, as uds_procfd_list_find() returns them; none is fine):
 * from the processes first, then a .socket unit, then a running php-fpm or redis-server
 * whose configuration names the path, then the name; and read what its configuration says
 * about the socket. Fills *ret_ident; kind UNKNOWN when nothing is recognised.
 * Reads the environment ($SYSTEMD_UNIT_PATH): call it before starting threads.
 * Errors: EINVAL addr not a path or an abstract name, or a NULL argument; ENOMEM. */
UDS_API int uds_server_identify(const struct uds_addr *addr, const struct uds_procfd *holders,
                                size_t n_holders, struct uds_server_ident *ret_ident);
/* The value of setting key in ident (and its line in *ret_line, may be NULL), or NULL. */
UDS_API const char *uds_server_setting(const struct uds_server_ident *ident, const char *key,
                                       unsigned *ret_line);

/* A user as a new login makes them: uid and primary group from the user database, the
 * supplementary groups from the group database (what initgroups(3) sets). */
struct uds_login {
    char name[256];
    uid_t uid;
    gid_t gid;
    gid_t *groups;              /* every group of the login, the primary one included */
    size_t n_groups;
};

/* The login of user (a name, or a uid that has an entry) into *ret_login; release it with
 * uds_login_done(). Errors: EINVAL user NULL or empty; ENOENT no such user; E2BIG more
 * than 65536 groups; ENOMEM; those of the user database. */
UDS_API int uds_login_get(const char *user, struct uds_login *ret_login);
/* Free the group list; leaves the login empty. NULL is fine. */
UDS_API void uds_login_done(struct uds_login *login);
/* Whether gid is one of the login's groups. */
UDS_API bool uds_login_in_group(const struct uds_login *login, gid_t gid);

#ifdef __cplusplus
}
#endif

#endif /* UDSKIT_H */
