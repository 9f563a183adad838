#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# proxy_peer.py — the clients and servers that tests/cli/proxy.bats puts on either side of
# `uds proxy`, written with Python's socket module only. Each subcommand is bounded in time.
# ADDRESS is a path, @abstract, or tcp:HOST:PORT (tcp:[v6]:PORT).
import hashlib
import os
import socket
import struct
import sys
import threading
import time


def parse(address):
    if address.startswith("tcp:"):
        rest = address[4:]
        host, _, port = rest.rpartition(":")
        if host.startswith("["):
            return socket.AF_INET6, (host[1:-1], int(port))
        return socket.AF_INET, (host, int(port))
    if address.startswith("unix:"):
        address = address[5:]
    if address.startswith("@"):
        return socket.AF_UNIX, "\0" + address[1:]
    return socket.AF_UNIX, address


def connect(address, timeout=10):
    family, sa = parse(address)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sa)
    return s


def listen(address, backlog=16):
    family, sa = parse(address)
    s = socket.socket(family, socket.SOCK_STREAM)
    if family != socket.AF_UNIX:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(sa)
    s.listen(backlog)
    return s


def announce(s, portfile):
    """Write the bound port (TCP) or 'ready' to portfile, atomically."""
    text = str(s.getsockname()[1]) if s.family != socket.AF_UNIX else "ready"
    with open(portfile + ".tmp", "w") as f:
        f.write(text + "\n")
    os.rename(portfile + ".tmp", portfile)


def read_all(s):
    out = bytearray()
    while True:
        b = s.recv(1 << 20)
        if not b:
            return bytes(out)
        out += b


def echo_check(address, size):
    """Send size random bytes while reading the echo; half-close; compare byte for byte."""
    s = connect(address, timeout=30)
    data = os.urandom(size)
    got = bytearray()

    def reader():
        while True:
            b = s.recv(1 << 20)
            if not b:
                return
            got.extend(b)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    t.join(60)
    same = hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    print("ok %d" % len(got) if same else "MISMATCH sent %d got %d" % (size, len(got)))
    return 0 if same else 1


def chatter(address, conns, rounds):
    """conns connections; each round, a distinct short message on every one of them before
    any echo is read (so the proxy has many to move in one wakeup), then every echo checked."""
    socks = [connect(address, timeout=30) for _ in range(conns)]
    for r in range(rounds):
        msgs = [("%d.%d;" % (i, r)).encode() * (1 + (i + r) % 7) for i in range(conns)]
        for s, m in zip(socks, msgs):
            s.sendall(m)
        for i, (s, m) in enumerate(zip(socks, msgs)):
            got = b""
            while len(got) < len(m):
                b = s.recv(len(m) - len(got))
                if not b:
                    print("EOF on connection %d in round %d" % (i, r))
                    return 1
                got += b
            if got != m:
                print("MISMATCH on connection %d in round %d: %r for %r" % (i, r, got, m))
                return 1
    for s in socks:
        s.close()
    print("ok %d" % (conns * rounds))
    return 0


def serve_forever(address, portfile, handler):
    s = listen(address)
    announce(s, portfile)
    s.settimeout(60)
    while True:
        c, _ = s.accept()
        c.settimeout(30)
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def h_echo(c):
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.close()


def h_count_reply(c):
    """Read until EOF (the half-close), then answer how much came, then close."""
    n = len(read_all(c))
    c.sendall(b"got %d bytes\n" % n)
    c.close()


def h_header(c):
    """Decode a PROXY protocol header (v1 or v2), answer it as one line, then echo."""
    first = c.recv(16, socket.MSG_WAITALL)
    if first.startswith(b"PROXY "):
        line = first
        while not line.endswith(b"\r\n"):
            line += c.recv(1)
        c.sendall(b"v1 " + line[:-2] + b"\n")
    elif first[:12] == b"\r\n\r\n\x00\r\nQUIT\n":
        ver_cmd, fam, length = first[12], first[13], struct.unpack("!H", first[14:16])[0]
        body = c.recv(length, socket.MSG_WAITALL) if length else b""
        if fam == 0x11:
            src, dst, sport, dport = struct.unpack("!4s4sHH", body[:12])
            text = "TCP4 %s %s %d %d" % (socket.inet_ntop(socket.AF_INET, src),
                                         socket.inet_ntop(socket.AF_INET, dst), sport, dport)
        elif fam == 0x21:
            src, dst, sport, dport = struct.unpack("!16s16sHH", body[:36])
            text = "TCP6 %s %s %d %d" % (socket.inet_ntop(socket.AF_INET6, src),
                                         socket.inet_ntop(socket.AF_INET6, dst), sport, dport)
        elif fam == 0x31:
            src, dst = body[:108].rstrip(b"\0"), body[108:216].rstrip(b"\0")
            text = "UNIX src=%r dst=%s" % (src.decode(), dst.decode())
        else:
            text = "family 0x%02x" % fam
        c.sendall(("v2 cmd=0x%02x len=%d %s\n" % (ver_cmd, length, text)).encode())
    else:
        c.sendall(b"no header: %r\n" % first)
    h_echo(c)


def slow_server(address, portfile, delay, outfile):
    """Accept one client, read nothing for delay seconds, then read all and count it."""
    s = listen(address)
    announce(s, portfile)
    s.settimeout(30)
    c, _ = s.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with open(outfile + ".accepted", "w") as f:
        f.write("accepted\n")
    time.sleep(delay)
    c.settimeout(60)
    n = len(read_all(c))
    with open(outfile, "w") as f:
        f.write("%d\n" % n)


def flood_server(address, portfile, outfile):
    """Accept one client and send to it until it is gone; record how that ended."""
    s = listen(address)
    announce(s, portfile)
    s.settimeout(30)
    c, _ = s.accept()
    c.settimeout(30)
    chunk = b"z" * 65536
    try:
        while True:
            c.sendall(chunk)
        result = "none"
    except (BrokenPipeError, ConnectionResetError) as e:
        result = type(e).__name__
    except socket.timeout:
        result = "timeout"
    with open(outfile, "w") as f:
        f.write(result + "\n")


def full_backlog_server(address, portfile):
    """Listen with a backlog of 0 and never accept; fill the backlog itself, so that every
    further connection attempt finds it full."""
    s = listen(address, backlog=0)
    fillers = []
    family, sa = parse(address)
    for _ in range(4):
        f = socket.socket(family, socket.SOCK_STREAM)
        f.setblocking(False)
        try:
            f.connect(sa)
        except BlockingIOError:
            f.close()
            break
        fillers.append(f)
    announce(s, portfile)
    time.sleep(30)


def hold(address, message, gofile):
    """Connect, send message, print the reply, wait for gofile, then close."""
    s = connect(address, timeout=20)
    s.sendall(message.encode())
    print(s.recv(65536).decode(), flush=True)
    for _ in range(2000):
        if os.path.exists(gofile):
            break
        time.sleep(0.01)
    s.close()


def send_wait(address, message, timeout):
    """Connect, send message, print what comes back within timeout: the bytes, or EOF,
    RESET (closed with our message unread), or TIMEOUT."""
    s = connect(address, timeout=timeout)
    try:
        s.sendall(message.encode())
        b = s.recv(65536)
        print(b.decode() if b else "EOF")
    except (ConnectionResetError, BrokenPipeError):
        print("RESET")
    except socket.timeout:
        print("TIMEOUT")


def push(address, size, outfile):
    """Send size bytes, half-close, wait for the close; record 'done'."""
    s = connect(address, timeout=60)
    chunk = b"p" * 65536
    left = size
    while left > 0:
        n = s.send(chunk[:min(left, len(chunk))])
        left -= n
    s.shutdown(socket.SHUT_WR)
    read_all(s)
    with open(outfile, "w") as f:
        f.write("done\n")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "echo-check":
        return echo_check(args[0], int(args[1]))
    if cmd == "chatter":
        return chatter(args[0], int(args[1]), int(args[2]))
    if cmd == "echo-server":
        serve_forever(args[0], args[1], h_echo)
    if cmd == "count-reply-server":
        serve_forever(args[0], args[1], h_count_reply)
    if cmd == "header-server":
        serve_forever(args[0], args[1], h_header)
    if cmd == "slow-server":
        return slow_server(args[0], args[1], float(args[2]), args[3])
    if cmd == "flood-server":
        return flood_server(args[0], args[1], args[2])
    if cmd == "full-backlog-server":
        return full_backlog_server(args[0], args[1])
    if cmd == "hold":
        return hold(args[0], args[1], args[2])
    if cmd == "send-wait":
        return send_wait(args[0], args[1], float(args[2]))
    if cmd == "push":
        return push(args[0], int(args[1]), args[2])
    print("unknown subcommand " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
