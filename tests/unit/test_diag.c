/* SPDX-License-Identifier: MIT */
/* test_diag.c — the sock_diag message parser on hand-built messages, and real dumps of
 * sockets this test opens: names, types, states, peers, queues, backlogs, file identity. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/lib/internal.h"
#include "testutil.h"

/* ---- building messages ---------------------------------------------------------------- */

struct builder {
    unsigned char buf[4096];
    size_t len;         /* bytes of complete messages */
    size_t start;       /* where the message being built starts */
};

static void msg_begin(struct builder *b, uint16_t type, uint16_t flags, uint32_t seq) {
    struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq };
    b->start = b->len;
    memcpy(b->buf + b->len, &h, sizeof(h));
    b->len += NLMSG_HDRLEN;
}

static void put(struct builder *b, const void *data, size_t len) {
    assert_true(b->len + len <= sizeof(b->buf));
    memcpy(b->buf + b->len, data, len);
    b->len += len;
}

static void put_sock(struct builder *b, uint8_t type, uint8_t state, uint32_t ino) {
    struct unix_diag_msg m = {
        .udiag_family = AF_UNIX, .udiag_type = type, .udiag_state = state, .udiag_ino = ino,
        .udiag_cookie = { 0x11223344, 0x55667788 },
    };
    put(b, &m, sizeof(m));
}

static void put_attr(struct builder *b, uint16_t type, const void *data, size_t len) {
    struct nlattr a = { .nla_len = (uint16_t) (NLA_HDRLEN + len), .nla_type = type };
    static const unsigned char pad[4];
    put(b, &a, sizeof(a));
    put(b, data, len);
    put(b, pad, NLA_ALIGN(len) - len);
}

static void put_u32_attr(struct builder *b, uint16_t type, uint32_t v) {
    put_attr(b, type, &v, sizeof(v));
}

static void msg_end(struct builder *b) {
    uint32_t len = (uint32_t) (b->len - b->start);
    memcpy(b->buf + b->start, &len, sizeof(len));
    b->len = b->start + NLMSG_ALIGN(len);
}

static ssize_t parse_all(struct builder *b, struct uds__diag_msg *msg) {
    return uds__diag_parse(b->buf, b->len, msg);
}

static void parse_fails_eproto(struct builder *b) {
    struct uds__diag_msg msg;
    errno = 0;
    assert_int_equal(parse_all(b, &msg), -1);
    assert_int_equal(errno, EPROTO);
}

/* ---- parser --------------------------------------------------------------------------- */

static void parse_socket_message_reads_every_attribute(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    struct unix_diag_vfs vfs = { .udiag_vfs_ino = 77, .udiag_vfs_dev = (8u << 20) | 1u };
    struct unix_diag_rqlen rq = { .udiag_rqueue = 3, .udiag_wqueue = 128 };
    uint32_t icons[3] = { 5, 6, 7 };
    uint8_t shut = 2;
    (void) state;

    msg_begin(&b, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, 42);
    put_sock(&b, SOCK_STREAM, TCP_LISTEN, 1234);
    put_attr(&b, UNIX_DIAG_NAME, "/run/a.sock", sizeof("/run/a.sock"));
    put_attr(&b, UNIX_DIAG_VFS, &vfs, sizeof(vfs));
    put_u32_attr(&b, UNIX_DIAG_PEER, 99);
    put_attr(&b, UNIX_DIAG_RQLEN, &rq, sizeof(rq));
    put_u32_attr(&b, UNIX_DIAG_UID, 1000);
    put_attr(&b, UNIX_DIAG_SHUTDOWN, &shut, 1);
    put_attr(&b, UNIX_DIAG_ICONS, icons, sizeof(icons));
    msg_end(&b);

    assert_int_equal(parse_all(&b, &msg), (ssize_t) b.len);
    assert_int_equal(msg.kind, UDS__DIAG_SOCK);
    assert_int_equal(msg.seq, 42);
    assert_false(msg.interrupted);
    assert_int_equal(msg.info.type, UDS_STREAM);
    assert_int_equal(msg.info.state, UDS_SOCK_LISTENING);
    assert_int_equal(msg.info.inode, 1234);
    assert_true(msg.info.cookie == 0x5566778811223344ull);
    assert_int_equal(msg.info.name_kind, UDS_ADDR_PATH);
    assert_string_equal(msg.info.name, "/run/a.sock");
    assert_int_equal(msg.info.name_len, strlen("/run/a.sock"));
    assert_true(msg.info.has & UDS_SOCKINFO_FILE);
    assert_int_equal(msg.info.file_ino, 77);
    assert_int_equal(major(msg.info.file_dev), 8);
    assert_int_equal(minor(msg.info.file_dev), 1);
    assert_int_equal(msg.info.peer_inode, 99);
    assert_true(msg.info.has & UDS_SOCKINFO_QUEUES);
    assert_int_equal(msg.info.recv_q, 3);
    assert_int_equal(msg.info.send_q, 128);
    assert_true(msg.info.has & UDS_SOCKINFO_UID);
    assert_int_equal(msg.info.uid, 1000);
    assert_int_equal(msg.info.shutdown, 2);
    assert_int_equal(msg.info.n_pending, 3);
    assert_null(msg.info.pending);
    assert_memory_equal(msg.pending, icons, sizeof(icons));
}

static void parse_device_with_large_minor_converts_to_stat_encoding(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    struct unix_diag_vfs vfs = { .udiag_vfs_ino = 1, .udiag_vfs_dev = (259u << 20) | 300u };
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_DGRAM, TCP_CLOSE, 5);
    put_attr(&b, UNIX_DIAG_VFS, &vfs, sizeof(vfs));
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_true(msg.info.file_dev == makedev(259, 300));
    assert_int_equal(msg.info.type, UDS_DGRAM);
    assert_int_equal(msg.info.state, UDS_SOCK_UNCONNECTED);
}

static void parse_abstract_name_keeps_nul_bytes(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_SEQPACKET, TCP_ESTABLISHED, 5);
    put_attr(&b, UNIX_DIAG_NAME, "\0a\0b", 4);
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_int_equal(msg.info.type, UDS_SEQPACKET);
    assert_int_equal(msg.info.state, UDS_SOCK_CONNECTED);
    assert_int_equal(msg.info.name_kind, UDS_ADDR_ABSTRACT);
    assert_int_equal(msg.info.name_len, 3);
    assert_memory_equal(msg.info.name, "a\0b", 4);
}

static void parse_path_of_108_bytes_without_nul_is_kept(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    char path[108];
    (void) state;
    memset(path, 'p', sizeof(path));
    path[0] = '/';
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_STREAM, TCP_LISTEN, 5);
    put_attr(&b, UNIX_DIAG_NAME, path, sizeof(path));
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_int_equal(msg.info.name_kind, UDS_ADDR_PATH);
    assert_int_equal(msg.info.name_len, 108);
    assert_memory_equal(msg.info.name, path, 108);
    assert_int_equal(msg.info.name[108], '\0');
}

static void parse_name_longer_than_sun_path_is_eproto(void **state) {
    struct builder b = { 0 };
    char name[111];
    (void) state;
    memset(name, 'n', sizeof(name));
    name[0] = '\0';
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_STREAM, TCP_LISTEN, 5);
    put_attr(&b, UNIX_DIAG_NAME, name, sizeof(name));
    msg_end(&b);
    parse_fails_eproto(&b);
}

static void parse_socket_without_name_is_unnamed(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_STREAM, TCP_ESTABLISHED, 5);
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_int_equal(msg.info.name_kind, 0);
    assert_int_equal(msg.info.name_len, 0);
    assert_int_equal(msg.info.has, 0);
    assert_int_equal(msg.info.peer_inode, 0);
}

static void parse_truncated_header_is_eproto(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_STREAM, TCP_ESTABLISHED, 5);
    msg_end(&b);
    errno = 0;
    assert_int_equal(uds__diag_parse(b.buf, NLMSG_HDRLEN - 1, &msg), -1);
    assert_int_equal(errno, EPROTO);
    /* nlmsg_len claims more than the datagram holds */
    errno = 0;
    assert_int_equal(uds__diag_parse(b.buf, b.len - 4, &msg), -1);
    assert_int_equal(errno, EPROTO);
}

static void parse_length_below_header_is_eproto(void **state) {
    struct builder b = { 0 };
    uint32_t len = NLMSG_HDRLEN - 1;
    (void) state;
    msg_begin(&b, NLMSG_DONE, 0, 1);
    put(&b, "\0\0\0\0", 4);
    msg_end(&b);
    memcpy(b.buf, &len, sizeof(len));
    parse_fails_eproto(&b);
}

static void parse_socket_body_shorter_than_unix_diag_msg_is_eproto(void **state) {
    struct builder b = { 0 };
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put(&b, "\1\1\1\0", 4);
    msg_end(&b);
    parse_fails_eproto(&b);
}

static void parse_attribute_past_message_end_is_eproto(void **state) {
    struct builder b = { 0 };
    struct nlattr a = { .nla_len = 200, .nla_type = UNIX_DIAG_NAME };
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_STREAM, TCP_LISTEN, 5);
    put(&b, &a, sizeof(a));
    put(&b, "/x\0\0", 4);
    msg_end(&b);
    parse_fails_eproto(&b);
}

static void parse_attribute_shorter_than_its_header_is_eproto(void **state) {
    struct builder b = { 0 };
    struct nlattr a = { .nla_len = 2, .nla_type = UNIX_DIAG_PEER };
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_STREAM, TCP_LISTEN, 5);
    put(&b, &a, sizeof(a));
    msg_end(&b);
    parse_fails_eproto(&b);
}

static void parse_short_fixed_attributes_are_eproto(void **state) {
    static const uint16_t types[] = { UNIX_DIAG_VFS, UNIX_DIAG_PEER, UNIX_DIAG_RQLEN,
                                      UNIX_DIAG_UID };
    (void) state;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct builder b = { 0 };
        msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
        put_sock(&b, SOCK_STREAM, TCP_LISTEN, 5);
        put_attr(&b, types[i], "\1\2\3", 3);
        msg_end(&b);
        parse_fails_eproto(&b);
    }
}

static void parse_icons_not_a_multiple_of_four_is_eproto(void **state) {
    struct builder b = { 0 };
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_STREAM, TCP_LISTEN, 5);
    put_attr(&b, UNIX_DIAG_ICONS, "\1\0\0\0\2\0", 6);
    msg_end(&b);
    parse_fails_eproto(&b);
}

static void parse_unknown_socket_type_is_eproto(void **state) {
    struct builder b = { 0 };
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, 9, TCP_LISTEN, 5);
    msg_end(&b);
    parse_fails_eproto(&b);
}

static void parse_unknown_attribute_and_state_are_tolerated(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put_sock(&b, SOCK_STREAM, 99, 5);
    put_attr(&b, UNIX_DIAG_MEMINFO, "0123456789abcdef", 16);
    put_attr(&b, 200, "zz", 2);
    put_u32_attr(&b, UNIX_DIAG_PEER | NLA_F_NESTED, 8);
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_int_equal(msg.kind, UDS__DIAG_SOCK);
    assert_int_equal(msg.info.state, UDS_SOCK_UNKNOWN);
    assert_string_equal(uds_sock_state_name(msg.info.state), "unknown");
    assert_int_equal(msg.info.peer_inode, 8);
}

static void parse_other_family_and_type_are_skipped(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    struct unix_diag_msg m = { .udiag_family = AF_INET, .udiag_type = SOCK_STREAM };
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, 0, 1);
    put(&b, &m, sizeof(m));
    msg_end(&b);
    assert_int_equal(parse_all(&b, &msg), (ssize_t) b.len);
    assert_int_equal(msg.kind, UDS__DIAG_SKIP);

    b = (struct builder) { 0 };
    msg_begin(&b, NLMSG_NOOP, 0, 1);
    msg_end(&b);
    assert_int_equal(parse_all(&b, &msg), (ssize_t) b.len);
    assert_int_equal(msg.kind, UDS__DIAG_SKIP);
}

static void parse_done_carries_the_dump_status(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    int32_t status = -ENOBUFS;
    (void) state;
    msg_begin(&b, NLMSG_DONE, NLM_F_MULTI, 7);
    put(&b, &status, sizeof(status));
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_int_equal(msg.kind, UDS__DIAG_DONE);
    assert_int_equal(msg.error, ENOBUFS);

    b = (struct builder) { 0 };
    msg_begin(&b, NLMSG_DONE, NLM_F_MULTI, 7);
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_int_equal(msg.kind, UDS__DIAG_DONE);
    assert_int_equal(msg.error, 0);
}

static void parse_error_message_gives_the_errno(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    struct nlmsgerr e = { .error = -ENOENT };
    (void) state;
    msg_begin(&b, NLMSG_ERROR, 0, 3);
    put(&b, &e, sizeof(e));
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_int_equal(msg.kind, UDS__DIAG_ERROR);
    assert_int_equal(msg.error, ENOENT);

    /* A nonsense code is reported as a protocol error, never as a negative errno. */
    e.error = 5;
    b = (struct builder) { 0 };
    msg_begin(&b, NLMSG_ERROR, 0, 3);
    put(&b, &e, sizeof(e));
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_int_equal(msg.error, EPROTO);

    b = (struct builder) { 0 };
    msg_begin(&b, NLMSG_ERROR, 0, 3);
    msg_end(&b);
    parse_fails_eproto(&b);
}

static void parse_dump_interrupted_flag_is_reported(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI | NLM_F_DUMP_INTR, 1);
    put_sock(&b, SOCK_STREAM, TCP_LISTEN, 5);
    msg_end(&b);
    assert_true(parse_all(&b, &msg) > 0);
    assert_true(msg.interrupted);
}

static void parse_walks_several_messages_in_one_datagram(void **state) {
    struct builder b = { 0 };
    struct uds__diag_msg msg;
    size_t off = 0;
    ssize_t n;
    (void) state;
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, 1);
    put_sock(&b, SOCK_STREAM, TCP_LISTEN, 10);
    put_attr(&b, UNIX_DIAG_NAME, "/a", 3);    /* 3 bytes: padded to 4 */
    msg_end(&b);
    msg_begin(&b, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, 1);
    put_sock(&b, SOCK_DGRAM, TCP_CLOSE, 11);
    msg_end(&b);
    msg_begin(&b, NLMSG_DONE, NLM_F_MULTI, 1);
    put(&b, "\0\0\0\0", 4);
    msg_end(&b);

    n = uds__diag_parse(b.buf + off, b.len - off, &msg);
    assert_true(n > 0 && n % NLMSG_ALIGNTO == 0);
    assert_int_equal(msg.info.inode, 10);
    assert_string_equal(msg.info.name, "/a");
    off += (size_t) n;
    n = uds__diag_parse(b.buf + off, b.len - off, &msg);
    assert_true(n > 0);
    assert_int_equal(msg.info.inode, 11);
    off += (size_t) n;
    n = uds__diag_parse(b.buf + off, b.len - off, &msg);
    assert_true(n > 0);
    assert_int_equal(msg.kind, UDS__DIAG_DONE);
    off += (size_t) n;
    assert_int_equal(off, b.len);
}

/* ---- real dumps ----------------------------------------------------------------------- */

/* The state of these tests is their directory. */
static int setup(void **state) {
    *state = tu_tmpdir_new();
    alarm(20);
    return 0;
}

static int teardown(void **state) {
    alarm(0);
    tu_tmpdir_free(*state);
    return 0;
}

static const struct uds_sockinfo *must_find_inode(const struct uds_socklist *l, ino_t ino) {
    const struct uds_sockinfo *s = uds_socklist_find(l, ino);
    assert_non_null(s);
    return s;
}

static const struct uds_sockinfo *must_find(const struct uds_socklist *l, int fd) {
    return must_find_inode(l, tu_fd_inode(fd));
}

static void dump_listener_shows_path_backlog_and_pending_clients(void **state) {
    struct uds_socklist l = { 0 };
    const char *path = tu_path(*state, "l.sock");
    struct stat st;
    int lfd = tu_bind_unix(path, SOCK_STREAM, 5);
    int c1 = tu_connect_unix(path), c2 = tu_connect_unix(path);

    assert_int_equal(uds_socklist_get(&l), 0);
    const struct uds_sockinfo *s = must_find(&l, lfd);
    assert_int_equal(s->type, UDS_STREAM);
    assert_int_equal(s->state, UDS_SOCK_LISTENING);
    assert_int_equal(s->name_kind, UDS_ADDR_PATH);
    assert_string_equal(s->name, path);
    assert_true(s->has & UDS_SOCKINFO_QUEUES);
    assert_int_equal(s->recv_q, 2);
    assert_int_equal(s->send_q, 5);
    assert_true(s->has & UDS_SOCKINFO_UID);
    assert_int_equal(s->uid, getuid());
    assert_int_equal(lstat(path, &st), 0);
    assert_true(s->has & UDS_SOCKINFO_FILE);
    assert_true(s->file_dev == st.st_dev);
    assert_int_equal(s->file_ino, st.st_ino);
    assert_int_equal(s->n_pending, 2);
    assert_non_null(s->pending);
    bool seen1 = false, seen2 = false;
    for (size_t i = 0; i < s->n_pending; i++) {
        seen1 |= s->pending[i] == tu_fd_inode(c1);
        seen2 |= s->pending[i] == tu_fd_inode(c2);
    }
    assert_true(seen1 && seen2);
    /* A client is connected at once, but its peer (the server's socket to be) has no
     * inode until accept(): the kernel reports peer 0. */
    const struct uds_sockinfo *c = must_find(&l, c1);
    assert_int_equal(c->state, UDS_SOCK_CONNECTED);
    assert_int_equal(c->name_kind, 0);
    assert_int_equal(c->peer_inode, 0);
    assert_int_equal(uds_sockinfo_path_status(s, NULL), UDS_PATH_OK);
    uds_socklist_done(&l);
    assert_null(l.socks);
    assert_int_equal(l.n, 0);

    /* Accepted: the server's socket carries the listener's name and file, and the pair
     * name each other. */
    int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    assert_int_equal(uds_socklist_get(&l), 0);
    s = must_find(&l, lfd);
    assert_int_equal(s->recv_q, 1);
    const struct uds_sockinfo *srv = must_find(&l, a);
    assert_int_equal(srv->state, UDS_SOCK_CONNECTED);
    assert_string_equal(srv->name, path);
    assert_true(srv->has & UDS_SOCKINFO_FILE);
    assert_int_equal(srv->file_ino, st.st_ino);
    c = must_find_inode(&l, srv->peer_inode);
    assert_true(c->inode == tu_fd_inode(c1) || c->inode == tu_fd_inode(c2));
    assert_int_equal(c->peer_inode, tu_fd_inode(a));
    uds_socklist_done(&l);
    close(a);
    close(c1);
    close(c2);
    close(lfd);
}

static void dump_socketpair_shows_peers_and_queued_bytes(void **state) {
    struct uds_socklist l = { 0 };
    int sv[2];
    char data[100] = { 0 };
    (void) state;
    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(send(sv[0], data, sizeof(data), MSG_NOSIGNAL), (ssize_t) sizeof(data));
    assert_int_equal(shutdown(sv[0], SHUT_WR), 0);

    assert_int_equal(uds_socklist_get(&l), 0);
    const struct uds_sockinfo *a = must_find(&l, sv[0]), *b = must_find(&l, sv[1]);
    assert_int_equal(a->peer_inode, tu_fd_inode(sv[1]));
    assert_int_equal(b->peer_inode, tu_fd_inode(sv[0]));
    assert_int_equal(a->state, UDS_SOCK_CONNECTED);
    assert_int_equal(b->recv_q, 100);
    assert_true(a->send_q > 0);
    assert_int_equal(a->name_kind, 0);
    assert_false(a->has & UDS_SOCKINFO_FILE);
    assert_true(a->has & UDS_SOCKINFO_SHUTDOWN);
    assert_int_equal(a->shutdown & 2, 2);
    assert_int_equal(b->shutdown & 1, 1);
    assert_int_equal(uds_sockinfo_path_status(a, NULL), UDS_PATH_UNKNOWN);
    uds_socklist_done(&l);
    tu_close_pair(sv);
}

static void dump_abstract_dgram_and_seqpacket_types(void **state) {
    struct uds_socklist l = { 0 };
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char name[64];
    int n, d, q, sv[2];
    (void) state;
    /* An abstract name with a NUL inside: "udskit-test-PID\0x". */
    n = snprintf(name, sizeof(name), "udskit-test-%d", (int) getpid());
    memcpy(sa.sun_path + 1, name, (size_t) n);
    memcpy(sa.sun_path + 1 + n, "\0x", 2);
    d = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(d >= 0);
    assert_int_equal(bind(d, (struct sockaddr *) &sa,
                          (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + n + 2)),
                     0);
    tu_socketpair(SOCK_SEQPACKET, sv);
    q = sv[0];

    assert_int_equal(uds_socklist_get(&l), 0);
    const struct uds_sockinfo *s = must_find(&l, d);
    assert_int_equal(s->type, UDS_DGRAM);
    assert_int_equal(s->state, UDS_SOCK_UNCONNECTED);
    assert_int_equal(s->name_kind, UDS_ADDR_ABSTRACT);
    assert_int_equal(s->name_len, (size_t) n + 2);
    assert_memory_equal(s->name, name, (size_t) n);
    assert_memory_equal(s->name + n, "\0x", 2);
    assert_false(s->has & UDS_SOCKINFO_FILE);
    assert_int_equal(uds_sockinfo_path_status(s, NULL), UDS_PATH_UNKNOWN);
    s = must_find(&l, q);
    assert_int_equal(s->type, UDS_SEQPACKET);
    assert_int_equal(s->state, UDS_SOCK_CONNECTED);
    uds_socklist_done(&l);
    close(d);
    tu_close_pair(sv);
}

/* The inodes in /proc/net/unix (the kernel's other view of the same table). */
static size_t proc_net_unix(ino_t *out, size_t max) {
    FILE *fp = fopen("/proc/net/unix", "re");
    char line[512];
    size_t n = 0;
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));   /* header */
    while (n < max && fgets(line, sizeof(line), fp)) {
        unsigned long long ino;
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %llu", &ino) == 1)
            out[n++] = (ino_t) ino;
    }
    fclose(fp);
    return n;
}

static void dump_sees_every_socket_that_proc_net_unix_lists(void **state) {
    enum { MAX = 65536 };
    ino_t *before = calloc(MAX, sizeof(ino_t)), *after = calloc(MAX, sizeof(ino_t));
    struct uds_socklist l = { 0 };
    int sv[2];
    (void) state;
    assert_non_null(before);
    assert_non_null(after);
    tu_socketpair(SOCK_DGRAM, sv);
    size_t nb = proc_net_unix(before, MAX);
    assert_int_equal(uds_socklist_get(&l), 0);
    size_t na = proc_net_unix(after, MAX);
    assert_true(nb >= 2);
    /* Other processes open and close sockets meanwhile: every socket that existed both
     * before and after the dump must be in it. The server side of a connection not yet
     * accepted shows in /proc/net/unix with inode 0 and is not dumped (nor shown by ss). */
    for (size_t i = 0; i < nb; i++) {
        bool still = false;
        if (before[i] == 0)
            continue;
        for (size_t j = 0; j < na && !still; j++)
            still = after[j] == before[i];
        if (still)
            assert_non_null(uds_socklist_find(&l, before[i]));
    }
    for (size_t i = 1; i < l.n; i++)
        assert_true(l.socks[i - 1].inode < l.socks[i].inode);
    uds_socklist_done(&l);
    free(before);
    free(after);
    tu_close_pair(sv);
}

static void find_unknown_inode_is_enoent(void **state) {
    struct uds_socklist l = { 0 };
    (void) state;
    assert_int_equal(uds_socklist_get(&l), 0);
    errno = 0;
    assert_null(uds_socklist_find(&l, (ino_t) -1));
    assert_int_equal(errno, ENOENT);
    uds_socklist_done(&l);
    uds_socklist_done(&l);
    uds_socklist_done(NULL);
    errno = 0;
    assert_null(uds_socklist_find(NULL, 1));
    assert_int_equal(errno, EINVAL);
}

static const struct uds_sockinfo *dump_one(struct uds_socklist *l, int fd) {
    assert_int_equal(uds_socklist_get(l), 0);
    return must_find(l, fd);
}

static void path_status_tells_deleted_and_replaced_files(void **state) {
    struct uds_socklist l = { 0 };
    const char *path = tu_path(*state, "p.sock");
    int fd = tu_bind_unix(path, SOCK_STREAM, 1);

    const struct uds_sockinfo *s = dump_one(&l, fd);
    assert_int_equal(uds_sockinfo_path_status(s, NULL), UDS_PATH_OK);
    assert_int_equal(uds_sockinfo_path_status(s, path), UDS_PATH_OK);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(uds_sockinfo_path_status(s, NULL), UDS_PATH_MISSING);
    /* Another server takes the path: the first is unreachable by it. */
    int other = tu_bind_unix(path, SOCK_STREAM, 1);
    assert_int_equal(uds_sockinfo_path_status(s, NULL), UDS_PATH_REPLACED);
    uds_socklist_done(&l);
    close(other);
    close(fd);
}

static void path_status_of_a_self_alias_or_relative_name_is_unknown(void **state) {
    struct uds_sockinfo s = {
        .name_kind = UDS_ADDR_PATH, .has = UDS_SOCKINFO_FILE, .file_ino = 1,
    };
    (void) state;
    strcpy(s.name, "/proc/self/fd/3/x.sock");
    s.name_len = strlen(s.name);
    assert_int_equal(uds_sockinfo_path_status(&s, NULL), UDS_PATH_UNKNOWN);
    strcpy(s.name, "rel.sock");
    s.name_len = strlen(s.name);
    assert_int_equal(uds_sockinfo_path_status(&s, NULL), UDS_PATH_UNKNOWN);
    assert_int_equal(uds_sockinfo_path_status(NULL, "/"), UDS_PATH_UNKNOWN);
}

struct root_socket {
    const char *path;
    ino_t ino;
};

/* In the child: 0 if the dump shows the root-owned socket with its name. */
static int dump_shows_root_socket(void *arg) {
    const struct root_socket *want = arg;
    struct uds_socklist l = { 0 };

    if (uds_socklist_get(&l) < 0)
        return 1;
    const struct uds_sockinfo *s = uds_socklist_find(&l, want->ino);
    if (!s || strcmp(s->name, want->path) != 0 || s->uid != 0)
        return 2;
    uds_socklist_done(&l);
    return 0;
}

static void dump_works_for_an_unprivileged_user(void **state) {
    const char *path = tu_path(*state, "u.sock");
    if (geteuid() != 0)
        skip();
    int fd = tu_bind_unix(path, SOCK_STREAM, 1);
    struct root_socket want = { .path = path, .ino = tu_fd_inode(fd) };

    assert_int_equal(tu_run_as_nobody(dump_shows_root_socket, &want), 0);
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_socket_message_reads_every_attribute),
        cmocka_unit_test(parse_device_with_large_minor_converts_to_stat_encoding),
        cmocka_unit_test(parse_abstract_name_keeps_nul_bytes),
        cmocka_unit_test(parse_path_of_108_bytes_without_nul_is_kept),
        cmocka_unit_test(parse_name_longer_than_sun_path_is_eproto),
        cmocka_unit_test(parse_socket_without_name_is_unnamed),
        cmocka_unit_test(parse_truncated_header_is_eproto),
        cmocka_unit_test(parse_length_below_header_is_eproto),
        cmocka_unit_test(parse_socket_body_shorter_than_unix_diag_msg_is_eproto),
        cmocka_unit_test(parse_attribute_past_message_end_is_eproto),
        cmocka_unit_test(parse_attribute_shorter_than_its_header_is_eproto),
        cmocka_unit_test(parse_short_fixed_attributes_are_eproto),
        cmocka_unit_test(parse_icons_not_a_multiple_of_four_is_eproto),
        cmocka_unit_test(parse_unknown_socket_type_is_eproto),
        cmocka_unit_test(parse_unknown_attribute_and_state_are_tolerated),
        cmocka_unit_test(parse_other_family_and_type_are_skipped),
        cmocka_unit_test(parse_done_carries_the_dump_status),
        cmocka_unit_test(parse_error_message_gives_the_errno),
        cmocka_unit_test(parse_dump_interrupted_flag_is_reported),
        cmocka_unit_test(parse_walks_several_messages_in_one_datagram),
        cmocka_unit_test_setup_teardown(dump_listener_shows_path_backlog_and_pending_clients,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(dump_socketpair_shows_peers_and_queued_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dump_abstract_dgram_and_seqpacket_types, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dump_sees_every_socket_that_proc_net_unix_lists, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(find_unknown_inode_is_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(path_status_tells_deleted_and_replaced_files, setup,
                                        teardown),
        cmocka_unit_test(path_status_of_a_self_alias_or_relative_name_is_unknown),
        cmocka_unit_test_setup_teardown(dump_works_for_an_unprivileged_user, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
