#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tap_peer.py — the servers and clients that tests/cli/tap.bats and tap_real.bats put on
# either side of `uds tap`, written with Python's socket module only. Each subcommand is
# bounded in time. A server writes READY (a file) once it listens.
import hashlib
import http.server
import os
import socket
import socketserver
import struct
import sys
import threading
import time


def ready(path):
    with open(path, "w") as f:
        f.write("ready\n")


def serve_forever(sock, handle):
    sock.settimeout(60)
    while True:
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            return
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def recv_all(c, size=65536):
    """What c receives until its end."""
    got = bytearray()
    while True:
        b = c.recv(size)
        if not b:
            return bytes(got)
        got += b


def listen(path, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(path)
    s.listen(128)
    return s


def http_server(path, ready_file):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b'{"path":"%s"}\n' % self.path.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self):
            return "unix"

        def log_message(self, *args):
            pass

    class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    srv = S(path, H)
    ready(ready_file)
    srv.timeout = 60
    srv.serve_forever()


def cred_server(path, ready_file, out_file):
    """Writes 'uid UID gid GID' of each client (SO_PEERCRED), then answers 'hello'."""
    s = listen(path)
    os.chmod(path, 0o777)
    ready(ready_file)

    def handle(conn):
        cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, gid = struct.unpack("3i", cred)
        with open(out_file, "a") as f:
            f.write("uid %d gid %d\n" % (uid, gid))
        conn.recv(100)
        conn.sendall(b"hello uid %d\n" % uid)
        conn.close()

    serve_forever(s, handle)


def fd_server(path, ready_file):
    """Takes one fd with its message, writes 'written by the server' into it, answers."""
    s = listen(path)
    ready(ready_file)

    def handle(conn):
        msg, fds, _, _ = socket.recv_fds(conn, 100, 4)
        for fd in fds:
            os.write(fd, b"written by the server\n")
            os.close(fd)
        conn.sendall(b"got %d fd with %s\n" % (len(fds), msg))
        conn.close()

    serve_forever(s, handle)


def fd_client(path, file):
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    socket.send_fds(c, [b"take-this"], [fd])
    os.close(fd)
    sys.stdout.write(c.recv(100).decode())


def seq_server(path, ready_file):
    """Seqpacket: answers each message with its length, as text."""
    s = listen(path, socket.SOCK_SEQPACKET)
    ready(ready_file)

    def handle(conn):
        while True:
            m = conn.recv(1 << 20)
            if not m:
                break
            conn.send(b"len=%d" % len(m))
        conn.close()

    serve_forever(s, handle)


def seq_client(path, *sizes):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.settimeout(10)
    c.connect(path)
    for n in sizes:
        c.send(b"m" * int(n))
    out = [c.recv(100).decode() for _ in sizes]
    print(" ".join(out))


def dgram_server(path, ready_file, out_file):
    """Datagrams: writes 'uid UID' of each sender (SCM_CREDENTIALS), answers 'len=N'."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o777)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.settimeout(60)
    ready(ready_file)
    while True:
        try:
            m, anc, _, addr = s.recvmsg(1 << 20, socket.CMSG_SPACE(12))
        except socket.timeout:
            return
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, uid, gid = struct.unpack("3i", data[:12])
                with open(out_file, "a") as f:
                    f.write("uid %d gid %d\n" % (uid, gid))
        if addr:
            s.sendto(b"len=%d" % len(m), addr)


def dgram_client(path, own, *sizes):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    c.bind(own)
    c.settimeout(10)
    for n in sizes:
        c.sendto(b"d" * int(n), path)
    out = [c.recv(100).decode() for _ in sizes]
    print(" ".join(out))
    os.unlink(own)


def bulk_one(path, size, seed, results, i):
    data = hashlib.sha256(b"%d" % seed).digest() * (size // 32 + 1)
    data = data[:size]
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(30)
        c.connect(path)
        sender = threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)))
        sender.start()
        got = recv_all(c, 262144)
        sender.join()
        results[i] = got == data
    except Exception as e:  # noqa: BLE001 - reported as a failure
        sys.stderr.write("client %d: %s\n" % (i, e))
        results[i] = False


def bulk(path, clients, size):
    """CLIENTS echo clients at once, each SIZE bytes there and back, compared byte for byte."""
    n = int(clients)
    results = [False] * n
    ts = [threading.Thread(target=bulk_one, args=(path, int(size), i, results, i))
          for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("ok %d of %d" % (sum(results), n))


def client_loop(path, stop_file, out_file):
    """Connect, say hi, read the echo, again and again until STOP_FILE exists; count."""
    ok = failed = 0
    errors = {}
    deadline = time.time() + 60
    while not os.path.exists(stop_file) and time.time() < deadline:
        try:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(5)
            c.connect(path)
            c.sendall(b"hi")
            c.shutdown(socket.SHUT_WR)
            if c.recv(10) != b"hi":
                raise OSError("no echo")
            c.close()
            ok += 1
        except OSError as e:
            failed += 1
            errors[str(e)] = errors.get(str(e), 0) + 1
    with open(out_file, "w") as f:
        f.write("ok %d failed %d %s\n" % (ok, failed, errors if errors else ""))


def flood(path, clients):
    """CLIENTS clients connect at once and wait up to 5 s for their end; counts those the
    tap closed (shed) and those still open, then closes them all."""
    socks = []
    for _ in range(int(clients)):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(path)
        socks.append(c)
    shed = 0
    deadline = time.time() + 5
    for c in socks:
        c.settimeout(max(0.01, deadline - time.time()))
        try:
            if c.recv(1) == b"":
                shed += 1
        except ConnectionResetError:
            shed += 1
        except socket.timeout:
            pass
        c.close()
    print("shed %d of %d" % (shed, len(socks)))


def pipelined(path, tap_pid, out_file):
    """Requests sent at once on connect, the first ones while the tap is stopped (SIGSTOP),
    so that they wait in the socket before it accepts; the echo compared byte for byte.
    Writes what was sent to OUT_FILE."""
    data = b"".join(b"request %06d\n" % i for i in range(20000))
    with open(out_file, "wb") as f:
        f.write(data)
    pid = int(tap_pid)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(30)
    os.kill(pid, 19)    # SIGSTOP
    try:
        c.connect(path)
        c.sendall(data[:4096])
    finally:
        os.kill(pid, 18)    # SIGCONT
    sender = threading.Thread(target=lambda: (c.sendall(data[4096:]),
                                              c.shutdown(socket.SHUT_WR)))
    sender.start()
    got = recv_all(c)
    sender.join()
    print("ok %d bytes" % len(got) if got == data else "mismatch: %d bytes" % len(got))


def after_stop(path, tap_pid, text):
    """SIGTERM to the tap, then, once the server is back at PATH, a client at the tap's
    socket (its hidden name) within the grace period: sends TEXT, prints the answer."""
    d, name = os.path.split(path)
    hidden = [os.path.join(d, n) for n in os.listdir(d) if n.startswith("." + name + ".uds-tap.")]
    server_ino = os.stat(hidden[0]).st_ino
    os.kill(int(tap_pid), 15)   # SIGTERM
    deadline = time.time() + 5
    while os.stat(path).st_ino != server_ino:
        if time.time() > deadline:
            raise SystemExit("the server is not back at %s" % path)
        time.sleep(0.001)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(hidden[0])
    c.sendall(text.encode())
    c.shutdown(socket.SHUT_WR)
    print(recv_all(c).decode())


def send_raw(path, hexdata):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    c.sendall(bytes.fromhex(hexdata))
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {
        "http-server": http_server,
        "cred-server": cred_server,
        "fd-server": fd_server,
        "fd-client": fd_client,
        "seq-server": seq_server,
        "seq-client": seq_client,
        "dgram-server": dgram_server,
        "dgram-client": dgram_client,
        "bulk": bulk,
        "client-loop": client_loop,
        "send-raw": send_raw,
        "flood": flood,
        "pipelined": pipelined,
        "after-stop": after_stop,
    }[cmd](*args)
