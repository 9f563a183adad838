#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A hostile client for the server tests: open N connections to a Unix socket, send each
the same bytes, never read a reply, and hold the connections until killed or a time limit
passes. Prints "sent N" once every connection has sent, so a test
waits for that line instead of sleeping."""
import socket
import sys
import time

def main():
    path, conns, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    if kind == "newlines":          # 64 KiB of empty lines
        payload = b"\n" * 65536
    elif kind == "empty-frames":    # 16 Ki empty length-prefixed frames
        payload = b"\0\0\0\0" * 16384
    elif kind == "big-header":      # a frame announcing 16 MiB, then one payload byte
        payload = (16 << 20).to_bytes(4, "big") + b"x"
    else:
        raise SystemExit("unknown kind " + kind)
    socks = []
    for _ in range(conns):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        # The server stops reading once its replies pile up: never block on that.
        s.setblocking(False)
        try:
            s.send(payload)
        except BlockingIOError:
            pass
        socks.append(s)
    print("sent", conns, flush=True)
    time.sleep(hold)

main()
