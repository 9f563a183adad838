#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# proxy_dgram_peer.py — the senders and datagram servers that tests/cli/proxy_dgram.bats
# puts on either side of `uds proxy --type dgram`, written with Python's socket module
# only. Every receive is bounded in time. A server writes READY (a file) once it is bound.
import array
import os
import socket
import struct
import sys
import time


def bound(own):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + own[1:] if own.startswith("@") else own)
    s.settimeout(10)
    return s


def release(*owns):
    """A sender's socket file goes with it (an abstract name needs nothing)."""
    for own in owns:
        if not own.startswith("@"):
            os.unlink(own)


def sizes(proxy, own, *lens):
    """Datagrams of the lengths given, then as many answers: prints their lengths."""
    s = bound(own)
    for n in lens:
        s.sendto(bytes((i * 7 + int(n)) % 251 for i in range(int(n))), proxy)
    got = []
    for n in lens:
        data = s.recv(1 << 20)
        want = bytes((i * 7 + int(n)) % 251 for i in range(int(n)))
        got.append(str(len(data)) if data == want else "wrong(%d)" % len(data))
    print(" ".join(got))
    release(own)


def two(proxy, a_path, b_path):
    """Two senders, their datagrams interleaved; prints what each got back."""
    a, b = bound(a_path), bound(b_path)
    for s, m in ((a, b"a1"), (b, b"b1"), (a, b"a2"), (b, b"b2"), (a, b"a3")):
        s.sendto(m, proxy)
    got_a = [a.recv(100).decode() for _ in range(3)]
    got_b = [b.recv(100).decode() for _ in range(2)]
    # Nothing more for either: each answer went to its own sender.
    for s in (a, b):
        s.settimeout(0.3)
        try:
            got = s.recv(100)
            print("extra", got)
        except socket.timeout:
            pass
    print("a:", " ".join(got_a), "b:", " ".join(got_b))
    release(a_path, b_path)


def pass_fd(proxy, own, path):
    """An fd of the file at path passed with one datagram; prints the answer."""
    s = bound(own)
    fd = os.open(path, os.O_RDONLY)
    s.sendmsg([b"fd"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))],
               0, proxy)
    os.close(fd)
    print(s.recv(100).decode())
    release(own)


def fd_server(path, ready_file):
    """Answers each datagram with what the fd that came with it reads, or 'no fd'."""
    s = bound(path)
    open(ready_file, "w").close()
    s.settimeout(60)
    while True:
        try:
            m, anc, _, addr = s.recvmsg(100, socket.CMSG_SPACE(4 * 4))
        except socket.timeout:
            return
        fds = array.array("i")
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % 4])
        answer = b"no fd"
        if fds:
            answer = os.read(fds[0], 100)
            for fd in fds:
                os.close(fd)
        s.sendto(answer, addr)


def creds_server(path, ready_file):
    """Answers each datagram with the uid and gid it came with (SCM_CREDENTIALS)."""
    s = bound(path)
    os.chmod(path, 0o777)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    open(ready_file, "w").close()
    s.settimeout(60)
    while True:
        try:
            m, anc, _, addr = s.recvmsg(100, socket.CMSG_SPACE(12))
        except socket.timeout:
            return
        answer = b"no credentials"
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, uid, gid = struct.unpack("3i", data[:12])
                answer = b"uid %d gid %d" % (uid, gid)
        s.sendto(answer, addr)


def slow_server(path, ready_file):
    """Reads nothing for a second, then counts datagrams up to 'end' and answers that
    sender 'got N in order' (or 'got N out of order')."""
    s = bound(path)
    open(ready_file, "w").close()
    time.sleep(1)
    s.settimeout(30)
    n, in_order = 0, True
    while True:
        m, addr = s.recvfrom(100)
        if m == b"end":
            s.sendto(b"got %d %s" % (n, b"in order" if in_order else b"out of order"), addr)
            return
        in_order = in_order and m == b"%d" % n
        n += 1


def burst(proxy, own, count):
    """COUNT datagrams as fast as they go (a send waits while there is no room), then
    'end'; prints the answer."""
    s = bound(own)
    for i in range(int(count)):
        s.sendto(b"%d" % i, proxy)
    s.sendto(b"end", proxy)
    print(s.recv(100).decode())
    release(own)


def say(proxy, own, text):
    """One datagram; prints the answer, or 'no answer' after 2 s."""
    s = bound(own)
    s.settimeout(2)
    s.sendto(text.encode(), proxy)
    try:
        print(s.recv(100).decode())
    except socket.timeout:
        print("no answer")
    release(own)


COMMANDS = {
    "sizes": sizes, "two": two, "pass-fd": pass_fd, "fd-server": fd_server,
    "creds-server": creds_server, "say": say, "slow-server": slow_server, "burst": burst,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
