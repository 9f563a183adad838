/* SPDX-License-Identifier: MIT */
/*
 * test_dgram_relay.c — unit tests of the datagram relay (uds_dgram_relay_*) over real dgram
 * sockets in a temporary directory, the test playing the senders and the server on its own
 * thread: datagrams both ways keep their boundaries (an empty one too), one longer than
 * max_size is cut and its full length told; two senders, and a hundred, each get their
 * own answers; a server with no room in its queue makes the senders wait, and nothing is
 * lost; an fd passed by a sender reaches the server; the observer sees each
 * datagram with its direction, sender and credentials; a quiet sender is forgotten and its
 * socket closed; an answer that cannot reach its sender, a datagram for a server that is
 * not there, one from a sender over max_senders and one from a sender not allowed are
 * dropped, counted and told; run as root with UDS_DGRAM_RELAY_AS_SENDER the server sees
 * the sender's uid, even once the sender has exited (with the relay's pid then); free
 * closes every fd the relay made and leaves the caller's.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define NOBODY 65534
#define EVENTS_MAX 512

struct seen {
    enum uds_dgram_relay_event_type type;
    int error;
    bool from_server;
    char sender[PATH_MAX];      /* the path, or "@name", or "" unbound */
    struct uds_peer cred;
    size_t len, full_len, n_fds;
    char data[64];
    int *sender_data;           /* what *event->sender_data held */
};

struct fix {
    struct tu_fixture *tu;
    struct uds_loop *loop;
    struct uds_dgram_relay *relay;
    int relay_fd;               /* the relay's socket at DIR/relay.sock (the test's) */
    int server;                 /* the server at DIR/server.sock */
    struct uds_addr server_addr;
    char relay_path[PATH_MAX];
    struct seen seen[EVENTS_MAX];
    size_t n_seen;
    int tags;                   /* sender_data given out so far */
};

/* ---- fixture ---------------------------------------------------------------------------- */

static int setup(void **state) {
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(tu_fixture_setup((void **) &f->tu), 0);
    f->loop = uds_loop_new();
    assert_non_null(f->loop);
    tu_path_into(f->relay_path, sizeof(f->relay_path), f->tu->dir, "relay.sock");
    f->relay_fd = tu_bind_unix(f->relay_path, SOCK_DGRAM, -1);
    f->server = tu_bind_unix(tu_path(f->tu->dir, "server.sock"), SOCK_DGRAM, -1);
    assert_int_equal(uds_addr_parse(tu_path(f->tu->dir, "server.sock"), 0,
                                        &f->server_addr), 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fix *f = *state;

    uds_dgram_relay_free(f->relay);
    uds_loop_free(f->loop);
    close(f->relay_fd);
    close(f->server);
    for (size_t i = 0; i < f->n_seen; i++)
        if (f->seen[i].type == UDS_DGRAM_RELAY_SENDER_GONE)
            free(f->seen[i].sender_data);
    void *tu = f->tu;
    free(f);
    return tu_fixture_teardown(&tu);
}

/* Records each event; gives each sender a tag of its own at SENDER_NEW, freed at the end. */
static void observe(struct uds_dgram_relay *relay, const struct uds_dgram_relay_event *ev,
                    void *data) {
    struct fix *f = data;
    struct seen *s = &f->seen[f->n_seen < EVENTS_MAX ? f->n_seen++ : EVENTS_MAX - 1];
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = ev->sender_len > off ? ev->sender_len - off : 0;

    (void) relay;
    *s = (struct seen) { .type = ev->type, .cred = *ev->cred, .len = ev->len,
                         .full_len = ev->full_len, .n_fds = ev->n_fds, .error = ev->error,
                         .from_server = ev->from_server };
    if (n > 0 && ev->sender->sun_path[0] == '\0')
        snprintf(s->sender, sizeof(s->sender), "@%.*s", (int) (n - 1), ev->sender->sun_path + 1);
    else if (n > 0)
        snprintf(s->sender, sizeof(s->sender), "%.*s", (int) strnlen(ev->sender->sun_path, n),
                 ev->sender->sun_path);
    memcpy(s->data, ev->data ? ev->data : "", ev->len < sizeof(s->data) ? ev->len : 0);
    if (ev->type == UDS_DGRAM_RELAY_SENDER_NEW) {
        assert_null(*ev->sender_data);
        int *tag = malloc(sizeof(*tag));
        assert_non_null(tag);
        *tag = ++f->tags;
        *ev->sender_data = tag;
    }
    s->sender_data = *ev->sender_data;
}

static void relay_start(struct fix *f, const struct uds_dgram_relay_opts *o) {
    struct uds_dgram_relay_opts opts = o ? *o : (struct uds_dgram_relay_opts) { 0 };

    opts.observe = observe;
    opts.data = f;
    f->relay = uds_dgram_relay_new(f->loop, f->relay_fd, &f->server_addr, &opts);
    assert_non_null(f->relay);
}

/* A sender bound at DIR/NAME. */
static int sender(struct fix *f, const char *name) {
    return tu_bind_unix(tu_path(f->tu->dir, name), SOCK_DGRAM, -1);
}

static void send_to_relay(struct fix *f, int fd, const char *text) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    strcpy(sa.sun_path, f->relay_path);
    assert_int_equal(sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *) &sa,
                            sizeof(sa)), (ssize_t) strlen(text));
}

/* One datagram from fd into buf (NUL-terminated), the relay's loop running while none has
 * come, for up to 2 s; its length, or -1 when none came. The sender's address to *from. */
static ssize_t recv_pumped(struct fix *f, int fd, char *buf, size_t size,
                           struct sockaddr_un *from, socklen_t *from_len) {
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    uint64_t end = tu_now_ms() + 2000;

    for (;;) {
        ssize_t n = recvfrom(fd, buf, size - 1, MSG_DONTWAIT, (struct sockaddr *) &sa, &len);
        if (n >= 0) {
            buf[n] = '\0';
            if (from)
                *from = sa;
            if (from_len)
                *from_len = len;
            return n;
        }
        assert_int_equal(errno, EAGAIN);
        if (tu_now_ms() > end)
            return -1;
        uds_loop_run_once(f->loop, 10);
    }
}

/* The loop run for ms, whatever comes. */
static void pump(struct fix *f, int ms) {
    uint64_t end = tu_now_ms() + (uint64_t) ms;

    while (tu_now_ms() < end)
        uds_loop_run_once(f->loop, 10);
}

static void server_answer(struct fix *f, const struct sockaddr_un *to, socklen_t to_len,
                          const char *text) {
    assert_int_equal(sendto(f->server, text, strlen(text), MSG_NOSIGNAL,
                            (const struct sockaddr *) to, to_len), (ssize_t) strlen(text));
}

static size_t count_seen(const struct fix *f, enum uds_dgram_relay_event_type type) {
    size_t n = 0;

    for (size_t i = 0; i < f->n_seen; i++)
        n += f->seen[i].type == type;
    return n;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void dgram_relay_keeps_boundaries_both_ways_with_an_empty_datagram(void **state) {
    struct fix *f = *state;
    const char *sent[] = { "a", "", "bcd", "a longer datagram" };
    struct sockaddr_un up;
    socklen_t up_len;
    char buf[256];
    int a = sender(f, "a.sock");

    relay_start(f, NULL);
    for (size_t i = 0; i < 4; i++)
        send_to_relay(f, a, sent[i]);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), &up, &up_len),
                         (ssize_t) strlen(sent[i]));
        assert_string_equal(buf, sent[i]);
        /* The relay's socket for this sender, auto-bound to an abstract name. */
        assert_true(up_len > offsetof(struct sockaddr_un, sun_path));
        assert_int_equal(up.sun_path[0], '\0');
    }
    /* Answers, an empty one among them, each back whole and alone. */
    server_answer(f, &up, up_len, "");
    server_answer(f, &up, up_len, "xy");
    assert_int_equal(recv_pumped(f, a, buf, sizeof(buf), NULL, NULL), 0);
    assert_int_equal(recv_pumped(f, a, buf, sizeof(buf), NULL, NULL), 2);
    assert_string_equal(buf, "xy");
    assert_int_equal(uds_dgram_relay_senders(f->relay), 1);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 0);
    close(a);
}

static void dgram_relay_cuts_a_datagram_longer_than_max_size_and_says_so(void **state) {
    struct fix *f = *state;
    const struct uds_dgram_relay_opts o = { .max_size = 16 };
    char big[100], buf[256];
    int a = sender(f, "a.sock");

    relay_start(f, &o);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    send_to_relay(f, a, big);
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), NULL, NULL), 16);
    assert_int_equal(f->seen[1].type, UDS_DGRAM_RELAY_FROM_SENDER);
    assert_int_equal(f->seen[1].len, 16);
    assert_int_equal(f->seen[1].full_len, 99);
    close(a);
}

/* A datagram "i" from fd to the relay without waiting: 0, or -1 with EAGAIN. */
static int try_send(struct fix *f, int fd, int i) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char text[16];
    int n = snprintf(text, sizeof(text), "%d", i);

    strcpy(sa.sun_path, f->relay_path);
    if (sendto(fd, text, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *) &sa,
               sizeof(sa)) == n)
        return 0;
    assert_int_equal(errno, EAGAIN);
    return -1;
}

static void dgram_relay_a_server_with_no_room_makes_senders_wait_and_loses_nothing(void **state) {
    struct fix *f = *state;
    enum { N = 100 };
    int a = sender(f, "a.sock"), sent = 0, got = 0, refused = 0;
    char buf[32], want[32];
    uint64_t end = tu_now_ms() + 10000;

    relay_start(f, NULL);
    /* The server reads nothing: its queue fills, then the relay's, then the sender waits
     * (here: EAGAIN), as it would at the server's own socket. */
    while (sent < N && refused < 5) {
        if (try_send(f, a, sent) == 0)
            sent++;
        else
            refused++;
        uds_loop_run_once(f->loop, 5);
    }
    assert_true(sent < N);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 0);
    /* The server reads: everything comes, once, in order. */
    while (got < N && tu_now_ms() < end) {
        ssize_t n;
        while ((n = recv(f->server, buf, sizeof(buf) - 1, MSG_DONTWAIT)) >= 0) {
            buf[n] = '\0';
            snprintf(want, sizeof(want), "%d", got++);
            assert_string_equal(buf, want);
        }
        if (sent < N && try_send(f, a, sent) == 0)
            sent++;
        uds_loop_run_once(f->loop, 5);
    }
    assert_int_equal(got, N);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 0);
    close(a);
}

/* A datagram "fd" with fd passed, from the connected socket from, without waiting: 0, or
 * -1 with EAGAIN. */
static int try_send_fd(int from, int fd) {
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int))];
    } control = { .bytes = { 0 } };
    struct iovec iov = { .iov_base = "fd", .iov_len = 2 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof(control.bytes) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(from, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == 2)
        return 0;
    assert_int_equal(errno, EAGAIN);
    return -1;
}

static void dgram_relay_free_with_a_datagram_held_closes_the_fds_it_holds(void **state) {
    struct fix *f = *state;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int a = sender(f, "a.sock"), p[2], before, refused = 0;

    strcpy(sa.sun_path, f->relay_path);
    assert_int_equal(connect(a, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    before = tu_count_open_fds();
    relay_start(f, NULL);
    /* The pipe's write end with each datagram, until the sender has to wait: the server's
     * queue is full, one datagram is held, the relay's own queue full behind it. */
    for (int i = 0; i < 100 && refused < 5; i++) {
        if (try_send_fd(a, p[1]) < 0)
            refused++;
        uds_loop_run_once(f->loop, 5);
    }
    assert_int_equal(refused, 5);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 0);
    uds_dgram_relay_free(f->relay);
    f->relay = NULL;
    /* The held one is told as dropped, and its fd closed with the sender's socket. */
    assert_int_equal(count_seen(f, UDS_DGRAM_RELAY_DROPPED), 1);
    assert_int_equal(f->seen[f->n_seen - 2].error, ESHUTDOWN);
    assert_int_equal(tu_count_open_fds(), before);
    close(p[0]);
    close(p[1]);
    close(a);
}

static void dgram_relay_two_senders_each_get_their_own_answers(void **state) {
    struct fix *f = *state;
    struct sockaddr_un up[2];
    socklen_t up_len[2];
    char buf[256];
    int a = sender(f, "a.sock"), b = sender(f, "b.sock");

    relay_start(f, NULL);
    send_to_relay(f, a, "from a");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), &up[0], &up_len[0]), 6);
    assert_string_equal(buf, "from a");
    send_to_relay(f, b, "from b");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), &up[1], &up_len[1]), 6);
    assert_string_equal(buf, "from b");
    /* Two senders, two sockets with names of their own. */
    assert_false(up_len[0] == up_len[1] && memcmp(&up[0], &up[1], up_len[0]) == 0);
    server_answer(f, &up[1], up_len[1], "for b");
    server_answer(f, &up[0], up_len[0], "for a");
    assert_int_equal(recv_pumped(f, a, buf, sizeof(buf), NULL, NULL), 5);
    assert_string_equal(buf, "for a");
    assert_int_equal(recv_pumped(f, b, buf, sizeof(buf), NULL, NULL), 5);
    assert_string_equal(buf, "for b");
    pump(f, 50);
    assert_int_equal(recv(a, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(recv(b, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(uds_dgram_relay_senders(f->relay), 2);
    close(a);
    close(b);
}

static void dgram_relay_a_hundred_senders_each_get_their_own_answers(void **state) {
    struct fix *f = *state;
    enum { N = 100 };
    int s[N];
    char buf[64], want[64];

    relay_start(f, NULL);
    /* One at a time: a datagram socket's queue is short (net.unix.max_dgram_qlen), and the
     * senders would wait for a relay that only runs between their sends. */
    for (int i = 0; i < N; i++) {
        struct sockaddr_un up;
        socklen_t up_len;
        snprintf(buf, sizeof(buf), "@udskit-test-dgram-relay-%d-%d", (int) getpid(), i);
        s[i] = tu_bind_unix(buf, SOCK_DGRAM, -1);
        snprintf(buf, sizeof(buf), "%d", i);
        send_to_relay(f, s[i], buf);
        /* The server echoes it to where it came from: the relay's socket for its sender. */
        assert_true(recv_pumped(f, f->server, buf, sizeof(buf), &up, &up_len) > 0);
        server_answer(f, &up, up_len, buf);
    }
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof(want), "%d", i);
        assert_true(recv_pumped(f, s[i], buf, sizeof(buf), NULL, NULL) > 0);
        assert_string_equal(buf, want);
    }
    assert_int_equal(uds_dgram_relay_senders(f->relay), N);
    assert_int_equal(count_seen(f, UDS_DGRAM_RELAY_SENDER_NEW), N);
    for (int i = 0; i < N; i++)
        close(s[i]);
}

static void dgram_relay_observer_sees_direction_sender_and_credentials(void **state) {
    struct fix *f = *state;
    struct sockaddr_un up;
    socklen_t up_len;
    char buf[256];
    int a = sender(f, "a.sock");

    relay_start(f, NULL);
    send_to_relay(f, a, "ping");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), &up, &up_len), 4);
    server_answer(f, &up, up_len, "pong!");
    assert_int_equal(recv_pumped(f, a, buf, sizeof(buf), NULL, NULL), 5);
    assert_int_equal(f->n_seen, 3);
    assert_int_equal(f->seen[0].type, UDS_DGRAM_RELAY_SENDER_NEW);
    assert_int_equal(f->seen[1].type, UDS_DGRAM_RELAY_FROM_SENDER);
    assert_int_equal(f->seen[1].len, 4);
    assert_string_equal(f->seen[1].data, "ping");
    assert_int_equal(f->seen[2].type, UDS_DGRAM_RELAY_FROM_SERVER);
    assert_int_equal(f->seen[2].len, 5);
    assert_int_equal(f->seen[2].full_len, 5);
    assert_string_equal(f->seen[2].data, "pong!");
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(f->seen[i].sender, tu_path(f->tu->dir, "a.sock"));
        assert_int_equal(f->seen[i].cred.pid, getpid());
        assert_int_equal(f->seen[i].cred.uid, geteuid());
        assert_int_equal(f->seen[i].cred.gid, getegid());
        assert_int_equal(*f->seen[i].sender_data, 1);
    }
    close(a);
}

static void dgram_relay_passes_a_senders_fd_to_the_server(void **state) {
    struct fix *f = *state;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int p[2], got = -1, a = sender(f, "a.sock");
    size_t n_got = 0;
    char buf[16];

    relay_start(f, NULL);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    strcpy(sa.sun_path, f->relay_path);
    assert_int_equal(connect(a, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(uds_send_fds(a, "fd", 2, &p[1], 1), 2);
    close(p[1]);
    assert_true(tu_wait_readable(f->relay_fd, 1000));
    for (int i = 0; i < 100 && !tu_wait_readable(f->server, 0); i++)
        uds_loop_run_once(f->loop, 10);
    assert_int_equal(uds_recv_fds(f->server, buf, sizeof(buf), &got, 1, &n_got), 2);
    assert_int_equal(n_got, 1);
    assert_int_equal(count_seen(f, UDS_DGRAM_RELAY_FROM_SENDER), 1);
    assert_int_equal(f->seen[1].n_fds, 1);
    /* The relay kept no copy: the pipe ends once the server closes its own. */
    assert_int_equal(write(got, "through", 7), 7);
    close(got);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 7);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 0);
    close(p[0]);
    close(a);
}

static void dgram_relay_forgets_a_quiet_sender_and_closes_its_socket(void **state) {
    struct fix *f = *state;
    const struct uds_dgram_relay_opts o = { .idle_timeout_ms = 100 };
    struct sockaddr_un up;
    socklen_t up_len;
    char buf[64];
    int a = sender(f, "a.sock"), fds;

    relay_start(f, &o);
    send_to_relay(f, a, "hello");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), &up, &up_len), 5);
    assert_int_equal(uds_dgram_relay_senders(f->relay), 1);
    fds = tu_count_open_fds();
    for (int i = 0; i < 200 && uds_dgram_relay_senders(f->relay) > 0; i++)
        uds_loop_run_once(f->loop, 10);
    assert_int_equal(uds_dgram_relay_senders(f->relay), 0);
    assert_int_equal(count_seen(f, UDS_DGRAM_RELAY_SENDER_GONE), 1);
    assert_int_equal(tu_count_open_fds(), fds - 1);
    /* Its name is gone with it: the server's late answer finds no one. */
    assert_int_equal(sendto(f->server, "late", 4, MSG_NOSIGNAL, (struct sockaddr *) &up, up_len),
                     -1);
    assert_int_equal(errno, ECONNREFUSED);
    /* Heard again, it is a new sender. */
    send_to_relay(f, a, "again");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), NULL, NULL), 5);
    assert_int_equal(count_seen(f, UDS_DGRAM_RELAY_SENDER_NEW), 2);
    close(a);
}

static void dgram_relay_a_sender_that_cannot_be_answered_is_dropped(void **state) {
    struct fix *f = *state;
    struct sockaddr_un up;
    socklen_t up_len;
    char buf[64];
    int unbound = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int gone = sender(f, "gone.sock");

    relay_start(f, NULL);
    /* An unbound sender is relayed to the server, but has no address to answer. */
    send_to_relay(f, unbound, "who am I");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), &up, &up_len), 8);
    server_answer(f, &up, up_len, "nobody");
    pump(f, 100);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 1);
    assert_int_equal(count_seen(f, UDS_DGRAM_RELAY_FROM_SERVER), 1);
    assert_string_equal(f->seen[0].sender, "");
    assert_int_equal(f->seen[f->n_seen - 1].type, UDS_DGRAM_RELAY_DROPPED);
    assert_int_equal(f->seen[f->n_seen - 1].error, EDESTADDRREQ);
    assert_true(f->seen[f->n_seen - 1].from_server);
    assert_string_equal(f->seen[f->n_seen - 1].data, "nobody");
    /* A sender that left before its answer came. */
    send_to_relay(f, gone, "bye");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), &up, &up_len), 3);
    close(gone);
    server_answer(f, &up, up_len, "too late");
    pump(f, 100);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 2);
    assert_int_equal(f->seen[f->n_seen - 1].type, UDS_DGRAM_RELAY_DROPPED);
    assert_int_equal(f->seen[f->n_seen - 1].error, ECONNREFUSED);
    assert_string_equal(f->seen[f->n_seen - 1].sender, tu_path(f->tu->dir, "gone.sock"));
    close(unbound);
}

static void dgram_relay_a_server_that_is_not_there_drops(void **state) {
    struct fix *f = *state;
    int a = sender(f, "a.sock");

    close(f->server);
    f->server = -1;
    assert_int_equal(unlink(tu_path(f->tu->dir, "server.sock")), 0);
    relay_start(f, NULL);
    send_to_relay(f, a, "anyone?");
    pump(f, 100);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 1);
    assert_int_equal(uds_dgram_relay_senders(f->relay), 0);
    /* No sender was taken in: the drop alone is told, with who sent what. */
    assert_int_equal(f->n_seen, 1);
    assert_int_equal(f->seen[0].type, UDS_DGRAM_RELAY_DROPPED);
    assert_int_equal(f->seen[0].error, ENOENT);
    assert_false(f->seen[0].from_server);
    assert_string_equal(f->seen[0].data, "anyone?");
    assert_string_equal(f->seen[0].sender, tu_path(f->tu->dir, "a.sock"));
    assert_int_equal(f->seen[0].cred.pid, getpid());
    assert_null(f->seen[0].sender_data);
    close(a);
}

/* Three senders, room for two: the third's datagram is dropped with error; once the two
 * are forgotten (idle), the third gets through. */
static void third_sender_waits_for_room(struct fix *f, const struct uds_dgram_relay_opts *o,
                                        const char *names[3], int error) {
    int s[3] = { sender(f, names[0]), sender(f, names[1]), sender(f, names[2]) };
    char buf[16];

    relay_start(f, o);
    send_to_relay(f, s[0], "0");
    send_to_relay(f, s[1], "1");
    send_to_relay(f, s[2], "2");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), NULL, NULL), 1);
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), NULL, NULL), 1);
    pump(f, 50);
    assert_int_equal(recv(f->server, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(uds_dgram_relay_senders(f->relay), 2);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 1);
    assert_int_equal(f->seen[f->n_seen - 1].type, UDS_DGRAM_RELAY_DROPPED);
    assert_int_equal(f->seen[f->n_seen - 1].error, error);
    /* Once the others are forgotten, there is room again. */
    for (int i = 0; i < 200 && uds_dgram_relay_senders(f->relay) > 0; i++)
        uds_loop_run_once(f->loop, 10);
    send_to_relay(f, s[2], "2");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), NULL, NULL), 1);
    assert_string_equal(buf, "2");
    for (int i = 0; i < 3; i++)
        close(s[i]);
}

static void dgram_relay_one_sender_over_max_senders_is_dropped(void **state) {
    const struct uds_dgram_relay_opts o = { .max_senders = 2, .idle_timeout_ms = 200 };
    const char *names[3] = { "s0.sock", "s1.sock", "s2.sock" };

    third_sender_waits_for_room(*state, &o, names, EUSERS);
}

/* One uid's senders are held to their share, though the relay has room for more (other
 * users would get it; the test has one uid, so the share is what is checked). */
static void dgram_relay_one_uid_over_its_share_is_dropped_with_edquot(void **state) {
    const struct uds_dgram_relay_opts o = {
        .max_senders = 8, .max_senders_per_uid = 2, .idle_timeout_ms = 200,
    };
    const char *names[3] = { "u0.sock", "u1.sock", "u2.sock" };

    third_sender_waits_for_room(*state, &o, names, EDQUOT);
}

static void dgram_relay_a_sender_not_allowed_is_dropped(void **state) {
    struct fix *f = *state;
    const uid_t other = geteuid() + 1;
    const struct uds_allow only_other = { .uids = &other, .n_uids = 1 };
    const uid_t me = geteuid();
    const struct uds_allow only_me = { .uids = &me, .n_uids = 1 };
    struct uds_dgram_relay_opts o = { .allow = &only_other };
    char buf[16];
    int a = sender(f, "a.sock");

    relay_start(f, &o);
    send_to_relay(f, a, "let me in");
    pump(f, 50);
    assert_int_equal(recv(f->server, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(uds_dgram_relay_senders(f->relay), 0);
    assert_int_equal(uds_dgram_relay_dropped(f->relay), 1);
    assert_int_equal(f->seen[0].type, UDS_DGRAM_RELAY_DROPPED);
    assert_int_equal(f->seen[0].error, EACCES);
    uds_dgram_relay_free(f->relay);
    o.allow = &only_me;
    relay_start(f, &o);
    send_to_relay(f, a, "me");
    assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), NULL, NULL), 2);
    close(a);
}

static int send_as_nobody(void *arg) {
    const char *relay_path = arg;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct sockaddr_un me = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    memcpy(me.sun_path, "\0udskit-test-nobody", 19);
    strcpy(sa.sun_path, relay_path);
    if (fd < 0 || bind(fd, (struct sockaddr *) &me, offsetof(struct sockaddr_un, sun_path) + 19))
        return 1;
    return sendto(fd, "mine", 4, MSG_NOSIGNAL, (struct sockaddr *) &sa, sizeof(sa)) == 4 ? 0 : 2;
}

static void dgram_relay_as_sender_gives_the_server_an_exited_senders_uid(void **state) {
    struct fix *f = *state;
    const struct uds_dgram_relay_opts o = { .flags = UDS_DGRAM_RELAY_AS_SENDER };
    struct ucred cred = { 0 };
    char buf[16], control[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof(control) };
    int on = 1;

    if (geteuid() != 0)
        skip();
    assert_int_equal(setsockopt(f->server, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
    assert_int_equal(chmod(f->relay_path, 0666), 0);
    relay_start(f, &o);
    assert_int_equal(tu_run_as_nobody(send_as_nobody, f->relay_path), 0);
    for (int i = 0; i < 100 && !tu_wait_readable(f->server, 0); i++)
        uds_loop_run_once(f->loop, 10);
    assert_int_equal(recvmsg(f->server, &mh, MSG_DONTWAIT), 4);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    assert_non_null(c);
    assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
    memcpy(&cred, CMSG_DATA(c), sizeof(cred));
    assert_int_equal(cred.uid, NOBODY);
    assert_int_equal(cred.gid, NOBODY);
    assert_int_equal(cred.pid, getpid());   /* the sender's is no more: the relay's */
    assert_string_equal(f->seen[0].sender, "@udskit-test-nobody");
    assert_int_equal(f->seen[0].cred.uid, NOBODY);
}

static void never_called(struct uds_loop *loop, int fd, unsigned events, void *data) {
    (void) loop;
    (void) fd;
    (void) events;
    (void) data;
    fail();
}

static void dgram_relay_free_closes_every_fd_it_made(void **state) {
    struct fix *f = *state;
    int before = tu_count_open_fds(), s[3];
    char buf[16];

    relay_start(f, NULL);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d.sock", i);
        s[i] = sender(f, name);
        send_to_relay(f, s[i], "x");
        assert_int_equal(recv_pumped(f, f->server, buf, sizeof(buf), NULL, NULL), 1);
    }
    assert_int_equal(uds_dgram_relay_senders(f->relay), 3);
    assert_int_equal(tu_count_open_fds(), before + 6);
    uds_dgram_relay_free(f->relay);
    f->relay = NULL;
    assert_int_equal(tu_count_open_fds(), before + 3);
    assert_int_equal(count_seen(f, UDS_DGRAM_RELAY_SENDER_GONE), 3);
    /* The caller's socket is still the caller's, and no longer watched. */
    assert_true(fcntl(f->relay_fd, F_GETFD) >= 0);
    assert_int_equal(uds_loop_add(f->loop, f->relay_fd, UDS_EV_READ, never_called, NULL), 0);
    assert_int_equal(uds_loop_del(f->loop, f->relay_fd), 0);
    for (int i = 0; i < 3; i++)
        close(s[i]);
}

static void dgram_relay_new_refuses_bad_arguments(void **state) {
    struct fix *f = *state;
    struct uds_addr tcp;
    int stream = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const struct uds_dgram_relay_opts negative = { .idle_timeout_ms = -1 };
    const struct uds_dgram_relay_opts flags = { .flags = 1u << 7 };

    assert_int_equal(uds_addr_parse("tcp:127.0.0.1:1", UDS_ADDR_ALLOW_TCP, &tcp), 0);
    assert_null(uds_dgram_relay_new(NULL, f->relay_fd, &f->server_addr, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dgram_relay_new(f->loop, -1, &f->server_addr, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dgram_relay_new(f->loop, f->relay_fd, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dgram_relay_new(f->loop, stream, &f->server_addr, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dgram_relay_new(f->loop, f->relay_fd, &f->server_addr, &negative));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dgram_relay_new(f->loop, f->relay_fd, &f->server_addr, &flags));
    assert_int_equal(errno, EINVAL);
    assert_null(uds_dgram_relay_new(f->loop, f->relay_fd, &tcp, NULL));
    assert_int_equal(errno, EAFNOSUPPORT);
    close(stream);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(dgram_relay_keeps_boundaries_both_ways_with_an_empty_datagram),
        T(dgram_relay_cuts_a_datagram_longer_than_max_size_and_says_so),
        T(dgram_relay_a_server_with_no_room_makes_senders_wait_and_loses_nothing),
        T(dgram_relay_free_with_a_datagram_held_closes_the_fds_it_holds),
        T(dgram_relay_two_senders_each_get_their_own_answers),
        T(dgram_relay_a_hundred_senders_each_get_their_own_answers),
        T(dgram_relay_observer_sees_direction_sender_and_credentials),
        T(dgram_relay_passes_a_senders_fd_to_the_server),
        T(dgram_relay_forgets_a_quiet_sender_and_closes_its_socket),
        T(dgram_relay_a_sender_that_cannot_be_answered_is_dropped),
        T(dgram_relay_a_server_that_is_not_there_drops),
        T(dgram_relay_one_sender_over_max_senders_is_dropped),
        T(dgram_relay_one_uid_over_its_share_is_dropped_with_edquot),
        T(dgram_relay_a_sender_not_allowed_is_dropped),
        T(dgram_relay_as_sender_gives_the_server_an_exited_senders_uid),
        T(dgram_relay_free_closes_every_fd_it_made),
        T(dgram_relay_new_refuses_bad_arguments),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
