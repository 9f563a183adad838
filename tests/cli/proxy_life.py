#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The peers of proxy_idle_retry.bats.

activate PATH LOG MAX -- CMD...
    A service manager in miniature, as systemd runs a .socket unit with Accept=no: it
    binds and listens on PATH and keeps that socket for its whole life, never accepting.
    Whenever a client is waiting and CMD is not running, it starts CMD with the socket as
    fd 3 (LISTEN_FDS=1, LISTEN_PID), at most MAX times. LOG gets "listening", then
    "started PID" and "exited PID STATUS" for each run. On SIGTERM it stops CMD, removes
    PATH and exits.

echo ADDRESS TEXT [HOLD]
    Connect (a Unix path, or tcp:HOST:PORT), say "connected" on stderr, wait HOLD seconds,
    send TEXT, read as many bytes back (or up to the end), print them and the seconds it all
    took: "TEXT-BACK SECONDS". "refused" or
    "missing" when the connect fails, "reset SECONDS" when the peer resets or has closed.
    Once it has closed the connection, "closed EPOCH-SECONDS" on stderr: the time of the
    close, for the tests to measure from.

exited PID
    Wait for PID (any process, not only a child) to exit and print the time it did, in
    seconds since the epoch: woken by the kernel (a pidfd), not polling.
"""
import os
import select
import signal
import socket
import sys
import time


def activate(path, log_path, max_starts, cmd):
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(16)
    log = open(log_path, "w", buffering=1)
    child = [0]

    def stop(*_):
        if child[0]:
            try:
                os.kill(child[0], signal.SIGTERM)
                os.waitpid(child[0], 0)
            except OSError:
                pass
        try:
            os.unlink(path)
        except OSError:
            pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    log.write("listening\n")
    for _ in range(max_starts):
        # A client waiting in the backlog makes the listening socket readable.
        select.select([lsock], [], [])
        pid = os.fork()
        if pid == 0:
            if lsock.fileno() != 3:
                os.dup2(lsock.fileno(), 3)
            # dup2() onto itself would leave it close-on-exec, as Python makes sockets.
            os.set_inheritable(3, True)
            os.environ["LISTEN_FDS"] = "1"
            os.environ["LISTEN_PID"] = str(os.getpid())
            os.execvp(cmd[0], cmd)
        child[0] = pid
        log.write("started %d\n" % pid)
        _, status = os.waitpid(pid, 0)
        child[0] = 0
        log.write("exited %d %d\n" % (pid, os.waitstatus_to_exitcode(status)))
    signal.pause()


def connect(address):
    if address.startswith("tcp:"):
        host, port = address[4:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=10)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(address)
    return s


def echo(address, text, hold):
    t0 = time.monotonic()
    try:
        s = connect(address)
    except ConnectionRefusedError:
        print("refused")
        return
    except FileNotFoundError:
        print("missing")
        return
    print("connected", file=sys.stderr, flush=True)
    time.sleep(hold)
    out = b""
    try:
        s.sendall(text.encode())
        # No half-close: systemd-socket-proxyd drops the whole connection at the client's
        # end of input, before the reply.
        while len(out) < len(text):
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, BrokenPipeError):
        closed(s)
        print("reset %.2f" % (time.monotonic() - t0))
        return
    closed(s)
    print("%s %.2f" % (out.decode(), time.monotonic() - t0))


def closed(s):
    s.close()
    print("closed %.6f" % time.time(), file=sys.stderr, flush=True)


def exited(pid):
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        pass        # gone already: now is the earliest time this can tell
    else:
        select.select([fd], [], [])
    print("%.6f" % time.time(), flush=True)


def main():
    if sys.argv[1] == "activate":
        dash = sys.argv.index("--")
        activate(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[dash + 1:])
    elif sys.argv[1] == "exited":
        exited(int(sys.argv[2]))
    elif sys.argv[1] == "echo":
        echo(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 0)
    else:
        sys.exit("unknown subcommand " + sys.argv[1])


if __name__ == "__main__":
    main()
