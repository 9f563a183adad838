# SPDX-License-Identifier: MIT
"""Clients for tests/cli/threads.bats, all at once (one thread each).

threads_peer.py echo ADDRESS N BYTES: N clients connect together, each sends BYTES bytes of
    its own, half-closes and reads until the end; prints "ok N" when every one got exactly
    its own bytes back, else what went wrong.
threads_peer.py hold ADDRESS N SECONDS: N clients connect and send a byte each; prints how
    many were answered within SECONDS (the others wait in the backlog), then, the answered
    ones closed, how many of the rest are answered.
threads_peer.py drain ADDRESS N PID: N clients echo once, PID gets SIGTERM, the socket file
    must go, then each client echoes again before it closes; prints "drained N".
threads_peer.py cut ADDRESS N PID: N clients echo once, PID gets SIGTERM twice; prints
    "cut N" when every client then sees its connection end.
"""
import os
import signal
import socket
import sys
import threading
import time

ADDR = sys.argv[2]
N = int(sys.argv[3])


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(ADDR)
    return s


def echo_one(i, size, results, start):
    data = (b"%06d" % i) * (size // 6 + 1)
    data = data[:size]
    try:
        s = connect()
        start.wait()
        sender = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
        sender.start()
        got = bytearray()
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        sender.join()
        s.close()
        results[i] = bytes(got) == data or "client %d: %d bytes back of %d" % (i, len(got), size)
    except OSError as e:
        results[i] = "client %d: %s" % (i, e)


def echo(size):
    results = [None] * N
    start = threading.Barrier(N)
    threads = [threading.Thread(target=echo_one, args=(i, size, results, start))
               for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [r for r in results if r is not True]
    print("ok %d" % N if not bad else "\n".join(str(b) for b in bad[:5]))


def answered(socks, secs):
    end = time.monotonic() + secs
    done = set()
    while time.monotonic() < end and len(done) < len(socks):
        for i, s in enumerate(socks):
            if i in done:
                continue
            s.setblocking(False)
            try:
                if s.recv(1) == b"x":
                    done.add(i)
            except BlockingIOError:
                pass
        time.sleep(0.01)
    return done


def hold(secs):
    socks = [connect() for _ in range(N)]
    for s in socks:
        s.sendall(b"x")
    first = answered(socks, secs)
    print("answered %d" % len(first))
    for i in first:
        socks[i].close()
    rest = [s for i, s in enumerate(socks) if i not in first]
    print("then %d" % len(answered(rest, 5)))


def drain(pid):
    socks = [connect() for _ in range(N)]
    for s in socks:
        s.sendall(b"before")
        assert s.recv(64) == b"before"
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + 5
    while os.path.exists(ADDR) and time.monotonic() < end:
        time.sleep(0.01)
    assert not os.path.exists(ADDR), "socket file still there"
    for s in socks:
        s.sendall(b"after")
        assert s.recv(64) == b"after"
        s.close()
    print("drained %d" % N)


def cut(pid):
    socks = [connect() for _ in range(N)]
    for s in socks:
        s.sendall(b"before")
        assert s.recv(64) == b"before"
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.2)
    os.kill(pid, signal.SIGTERM)
    ended = 0
    for s in socks:
        s.settimeout(5)
        try:
            ended += s.recv(64) == b""
        except ConnectionResetError:
            ended += 1
        s.close()
    print("cut %d" % ended)


if sys.argv[1] == "echo":
    echo(int(sys.argv[4]))
elif sys.argv[1] == "hold":
    hold(float(sys.argv[4]))
elif sys.argv[1] == "cut":
    cut(int(sys.argv[4]))
else:
    drain(int(sys.argv[4]))
