#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""suite.py — udskit against the floor and the peers, in one run (started by bench/run.sh).

Servers run on one CPU and the load generator (`uds bench ADDRESS`) on another, both pinned
with taskset; every figure is the median of --repeat runs, the servers taking turns within
each round so that noise from the rest of the machine falls on all of them alike. Writes a
Markdown report (the tables of bench/RESULTS.md, with the commands and the targets) and the
raw figures as JSON. It measures and reports; it changes nothing outside its build directory
and a temporary directory for the sockets.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    pass


# ---- placement and processes ------------------------------------------------------------


def cpus():
    """The CPUs for the server and the client: the first two this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) >= 2:
        return allowed[0], allowed[1]
    return allowed[0], allowed[0]


NICE = 0    # set by main(): a negative nice for the processes under test, when allowed


def pinned(cpu, argv):
    """argv on one CPU, and with a higher priority than the machine's other work when we
    may raise it: a benchmark sharing two cores with compilers measures the compilers."""
    argv = list(argv)
    if NICE:
        argv = ["nice", "-n", str(NICE)] + argv
    return ["taskset", "-c", str(cpu)] + argv if shutil.which("taskset") else argv


def niced(argv):
    return ["nice", "-n", str(NICE)] + list(argv) if NICE else list(argv)


def paired(a, b):
    """The median of a[i] / b[i] over the rounds both measured: each pair ran minutes
    apart from the others but seconds apart from each other, so slow drifts in the
    machine's load cancel out."""
    r = [x / y for x, y in zip(a, b) if x and y]
    return statistics.median(r) if r else None


def shell_words(argv):
    out = []
    for a in argv:
        if a and all(c.isalnum() or c in "-_./:,=@%+" for c in a):
            out.append(a)
        else:
            out.append("'" + a.replace("'", "'\\''") + "'")
    return " ".join(out)


def can_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(1)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Server:
    """A server under test on the server CPU, ready once its socket accepts a connection."""

    def __init__(self, suite, name, argv, path):
        self.suite, self.name, self.path = suite, name, path
        self.argv = pinned(suite.server_cpu, argv)
        self.proc = None

    def __enter__(self):
        if os.path.lexists(self.path):
            os.unlink(self.path)
        self.err = open(os.path.join(self.suite.tmp, "server.err"), "w+")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 10
        while not can_connect(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.err.seek(0)
                raise Failure(f"{self.name} did not start: {shell_words(self.argv)}\n"
                              f"{self.err.read()}")
            time.sleep(0.02)
        # The probe connection (and, for per-connection servers, its program) goes away.
        time.sleep(0.05)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def schedstat(self):
        """(ns on a CPU, ns waiting for one while runnable), summed over the threads."""
        run = wait = 0
        for task in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{task}/schedstat") as f:
                    fields = f.read().split()
                run += int(fields[0])
                wait += int(fields[1])
            except (OSError, IndexError, ValueError):
                pass
        return run, wait

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        for p in (self.path, self.path + ".lock"):
            if os.path.lexists(p):
                os.unlink(p)
        return False


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure(f"no VmRSS for pid {pid}")


def cpu_busy_ns(cpu):
    """Nanoseconds CPU cpu has spent busy (not idle), all processes together."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return (sum(v[:8]) - v[3] - v[4]) * 1e9 / os.sysconf("SC_CLK_TCK")
    return 0.0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---- the suite ------------------------------------------------------------------------------


class Suite:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(os.path.join(ROOT, args.build))
        self.uds = os.path.abspath(args.uds) if args.uds else os.path.join(self.build, "uds")
        self.bin = os.path.join(self.build, "bench")
        self.server_cpu, self.client_cpu = cpus()
        self.tmp = tempfile.mkdtemp(prefix="uds-bench-")
        self.results = {}
        self.commands = {}
        self.targets = []
        self.errors = []
        self.skipped = []
        self.disturbed = 0     # runs repeated because other work took the CPUs
        self.failed_runs = 0   # runs repeated because they failed (then shown in the report)
        self.foreign = []      # other programs' share of our CPUs in each run kept
        self.last_error = None

    def tool(self, name):
        path = os.path.join(self.bin, name)
        return path if os.access(path, os.X_OK) else None

    def show(self, argv):
        """A command as the report shows it: paths relative to the repository."""
        text = shell_words(argv).replace(self.uds, os.path.join(self.build, "uds"))
        return text.replace(self.build + "/", self.args.build.rstrip("/") + "/") \
                   .replace(self.tmp + "/", "$T/")

    def run_json(self, argv, timeout, record=True):
        """The JSON a command prints, or None when it fails (then, with record, the failure
        is one of the suite's errors); the failure's text is kept in self.last_error."""
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        try:
            out = json.loads(p.stdout) if p.stdout.strip() else None
        except json.JSONDecodeError:
            out = None
        if p.returncode != 0 or out is None:
            self.last_error = f"{self.show(argv)}: exit {p.returncode}: {p.stderr.strip()}"
            log(self.last_error)
            if record:
                self.errors.append(self.last_error)
            return None
        return out

    def load(self, address, opts, record=True):
        argv = pinned(self.client_cpu, [self.uds, "bench", "--json", "-q"] + opts + [address])
        return self.run_json(argv, timeout=120, record=record), argv

    def target(self, name, ok, detail):
        self.targets.append({"target": name, "met": ok, "detail": detail})

    def measure(self, name, argv, sock, opts, children=False):
        """One load run against a fresh server. A run in which other programs took more than
        --max-foreign % of the server's or the generator's CPU (the machine's other work got
        in the way) is run again, up to --attempts times; the least disturbed one counts."""
        best, cmd, failed = None, None, 0
        # One try more when every one failed: a loaded machine can starve a short run of
        # a per-connection server (a fork and exec per client) of any reply at all.
        for attempt in range(self.args.attempts + 1):
            if attempt == self.args.attempts and best is not None:
                break
            with Server(self, name, argv, sock) as srv:
                run0, wait0 = srv.schedstat()
                busy0 = (cpu_busy_ns(self.server_cpu), cpu_busy_ns(self.client_cpu))
                out, cmd = self.load(sock, opts, record=False)
                busy1 = (cpu_busy_ns(self.server_cpu), cpu_busy_ns(self.client_cpu))
                run1, wait1 = srv.schedstat()
            if not out:
                # A run with errors is run again too; only a figure that never comes out
                # right is one of the suite's errors.
                failed += 1
                continue
            secs = out["duration_s"] or 1e-9
            server_ns = run1 - run0
            client_ns = out["client_cpu_percent"] / 100 * secs * 1e9
            out["server_cpu_percent"] = server_ns / 1e9 / secs * 100
            out["server_wait_percent"] = (wait1 - wait0) / 1e9 / secs * 100
            out["server_ns_per_request"] = server_ns / max(out["requests"], 1)
            # Busy time on the two CPUs that was not ours. A per-connection server's
            # programs are its own children: there only the generator's CPU is judged.
            foreign = [busy1[1] - busy0[1] - client_ns]
            if self.server_cpu != self.client_cpu and not children:
                foreign.append(busy1[0] - busy0[0] - server_ns)
            out["foreign_percent"] = max(0.0, max(foreign) / 1e9 / secs * 100)
            out["attempts"] = attempt + 1
            if best is None or out["foreign_percent"] < best["foreign_percent"]:
                best = out
            if out["foreign_percent"] <= self.args.max_foreign:
                break
            self.disturbed += 1
        if best is None:
            self.errors.append(self.last_error)
        else:
            self.foreign.append(best["foreign_percent"])
        self.failed_runs += failed
        return best, cmd

    # ---- transports ------------------------------------------------------------------------

    def transports(self):
        a = self.args
        opts = ["-d", str(a.cell)]
        if a.smoke:
            opts += ["--sizes", "64", "--write-sizes", "64K"]
        cpu = f"{self.server_cpu},{self.client_cpu}"
        runs = []
        argv = niced([self.uds, "bench", "--json", "-q", "--cpu", cpu] + opts)
        for r in range(a.repeat):
            log(f"transports, round {r + 1}/{a.repeat}")
            j = self.run_json(argv, timeout=600)
            if j:
                runs.append(j)
        if not runs:
            return
        self.commands["transports"] = [self.show(argv) + f"   # {a.repeat} times, medians"]

        def med(section, key, match):
            return median([next((c[key] for c in run[section] if match(c)), None)
                           for run in runs])

        base = runs[0]
        res = {"machine": base["machine"], "placement": base["placement"],
               "round_trip": [], "bulk": [], "connect": []}
        for c in base["round_trip"]:
            m = lambda x, c=c: x["transport"] == c["transport"] and x["size"] == c["size"]
            res["round_trip"].append({"transport": c["transport"], "size": c["size"],
                                      "p50_us": med("round_trip", "p50_us", m),
                                      "p99_us": med("round_trip", "p99_us", m),
                                      "round_trips_per_s": med("round_trip",
                                                               "round_trips_per_s", m)})
        for c in base["bulk"]:
            m = lambda x, c=c: x["transport"] == c["transport"] and \
                x["write_size"] == c["write_size"]
            res["bulk"].append({"transport": c["transport"], "write_size": c["write_size"],
                                "mb_per_s": med("bulk", "mb_per_s", m)})
        for c in base["connect"]:
            m = lambda x, c=c: x["transport"] == c["transport"]
            res["connect"].append({"transport": c["transport"],
                                   "per_s": med("connect", "per_s", m)})

        # The same few figures with both processes on one core: the placement note.
        same = niced([self.uds, "bench", "--json", "-q", "--cpu",
                      f"{self.server_cpu},{self.server_cpu}", "-d", str(a.cell), "--transports",
                      "stream,tcp,pipe", "--sizes", "64", "--write-sizes", "64K"])
        j = self.run_json(same, timeout=300)
        if j:
            res["same_core"] = j
            self.commands["transports"].append(self.show(same))

        # The floor program for the same figure, a blocking ping-pong pair keeping every
        # sample, against the same figure from uds bench, in turns: each round runs both
        # within a few seconds, and the check is the median of the rounds' ratios.
        pp = self.tool("pingpong")
        if pp:
            argv = niced([pp, "--cpu", cpu, "-s", "64", "-d", str(a.pingpong)])
            mine_argv = niced([self.uds, "bench", "--json", "-q", "--cpu", cpu, "-d",
                               str(a.pingpong), "--transports", "stream", "--sizes", "64",
                               "--write-sizes", "4K"])
            pps, mine = [], []
            for r in range(a.repeat):
                pair = [(pps, argv), (mine, mine_argv)]
                for out, cmd in (pair if r % 2 == 0 else pair[::-1]):
                    j = self.run_json(cmd, timeout=120)
                    if j and cmd is mine_argv:
                        j = j["round_trip"][0]
                    out.append(j)
            ok = [p for p in pps if p]
            if ok:
                res["pingpong"] = {"p50_us": median([p["p50_us"] for p in ok]),
                                   "p99_us": median([p["p99_us"] for p in ok]),
                                   "round_trips_per_s": median([p["round_trips_per_s"]
                                                                for p in ok])}
                self.commands["transports"].append(self.show(argv) +
                                                   f"   # {a.repeat} times, in turns with:")
                self.commands["transports"].append(self.show(mine_argv))
                ratio = paired([m["p50_us"] if m else None for m in mine],
                               [p["p50_us"] if p else None for p in pps])
                if ratio:
                    mp50 = median([m["p50_us"] for m in mine if m])
                    res["agreement_p50_ratio"] = ratio
                    res["agreement_uds_bench_p50_us"] = mp50
                    self.target("uds bench agrees with the blocking ping-pong pair (unix "
                                "stream, 64 B, p50 within 15%)", abs(ratio - 1) <= 0.15,
                                f"{ratio:.2f}x (uds bench {mp50:.1f} us, pingpong "
                                f"{res['pingpong']['p50_us']:.1f} us)")
        self.results["transports"] = res

    # ---- echo servers -------------------------------------------------------------------

    def echo_servers(self):
        sock = os.path.join(self.tmp, "echo.sock")
        servers = [("floor", [self.tool("floor_echo"), sock]),
                   ("udskit", [self.uds, "serve", "-q", "-c", "20000", sock])]
        uv = self.tool("uv_echo")
        if uv:
            servers += [("libuv", [uv, sock]), ("libuv tuned", [uv, sock, "--try-write"])]
        else:
            self.skipped.append("libuv echo server (libuv1-dev is not installed)")
        return servers, sock

    def echo(self):
        a = self.args
        servers, sock = self.echo_servers()
        configs = [(1, 1), (16, 16), (256, 16)]
        raw = {f"{c}x{p}": {name: [] for name, _ in servers} for c, p in configs}
        cmds = []
        for r in range(a.repeat):
            for c, p in configs:
                # Take turns: who goes first changes every round.
                order = servers[r % len(servers):] + servers[:r % len(servers)]
                for name, argv in order:
                    log(f"echo {c}x{p}, {name}, round {r + 1}/{a.repeat}")
                    out, cmd = self.measure(name, argv, sock, ["-c", str(c), "-P", str(p),
                                                               "-s", "64", "-d",
                                                               str(a.duration)])
                    raw[f"{c}x{p}"][name].append(out)
                    if r == 0:
                        cmds.append(f"{self.show(pinned(self.server_cpu, argv))} &  "
                                    f"{self.show(cmd)}")
        table = {}
        for key, by_server in raw.items():
            table[key] = {}
            for name, outs in by_server.items():
                ok = [o for o in outs if o]
                if not ok:
                    continue
                table[key][name] = {
                    "requests_per_s": median([o["requests_per_s"] for o in ok]),
                    "p50_us": median([o["latency_us"]["p50"] for o in ok]),
                    "p90_us": median([o["latency_us"]["p90"] for o in ok]),
                    "p99_us": median([o["latency_us"]["p99"] for o in ok]),
                    "max_us": median([o["latency_us"]["max"] for o in ok]),
                    "client_cpu_percent": median([o["client_cpu_percent"] for o in ok]),
                    "client_ns_per_request": median([o["client_cpu_percent"] / 100 *
                                                     o["duration_s"] * 1e9 / o["requests"]
                                                     for o in ok if o["requests"]]),
                    "server_cpu_percent": median([o["server_cpu_percent"] for o in ok]),
                    "server_ns_per_request": median([o["server_ns_per_request"]
                                                     for o in ok]),
                    "foreign_percent": median([o["foreign_percent"] for o in ok]),
                    "errors": sum(o["errors"] for o in ok),
                    "runs": [o["requests_per_s"] if o else None for o in outs],
                    "p50_runs": [o["latency_us"]["p50"] if o else None for o in outs],
                    "p99_runs": [o["latency_us"]["p99"] if o else None for o in outs],
                }
            for name, x in table[key].items():
                f = table[key].get("floor")
                if f and name != "floor":
                    x["vs_floor"] = paired(x["runs"], f["runs"])
                    x["p50_vs_floor"] = paired(x["p50_runs"], f["p50_runs"])
                    x["cost_vs_floor"] = x["server_ns_per_request"] / f["server_ns_per_request"]
                l = table[key].get("libuv")
                if l and name != "libuv":
                    x["vs_libuv"] = paired(x["runs"], l["runs"])
                lt = table[key].get("libuv tuned")
                if lt and name != "libuv tuned":
                    x["vs_libuv_tuned"] = paired(x["runs"], lt["runs"])

        # A blocking client against the floor and udskit: the 1x1 round trip's own floor.
        pp = self.tool("pingpong")
        blocking = {}
        if pp:
            for name, argv in servers[:2]:
                vals = []
                for r in range(a.repeat):
                    with Server(self, name, argv, sock):
                        cmd = pinned(self.client_cpu, [pp, "--connect", sock, "-s", "64", "-d",
                                                       str(a.duration)])
                        out = self.run_json(cmd, timeout=120)
                    if out:
                        vals.append(out)
                if vals:
                    blocking[name] = {"p50_us": median([v["p50_us"] for v in vals]),
                                      "p99_us": median([v["p99_us"] for v in vals]),
                                      "round_trips_per_s": median([v["round_trips_per_s"]
                                                                   for v in vals])}
                cmds.append(f"{self.show(pinned(self.server_cpu, argv))} &  {self.show(cmd)}")
        # Why the servers differ: the kernel's cost of the call each sends its replies with.
        sc = self.tool("send_cost")
        syscalls = []
        if sc:
            argv = pinned(self.server_cpu, [sc, "64", "1024"])
            p = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=300)
            syscalls = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
            cmds.append(self.show(argv))
        self.results["echo"] = {"table": table, "blocking_client": blocking,
                                "send_cost": syscalls}
        self.commands["echo"] = cmds

        for key in ("16x16", "256x16"):
            u = table.get(key, {}).get("udskit")
            if u and u.get("vs_floor"):
                self.target(f"echo {key}: requests/s >= 0.95x the floor", u["vs_floor"] >= 0.95,
                            f"{u['vs_floor']:.2f}x ({u['requests_per_s']:,.0f} vs "
                            f"{table[key]['floor']['requests_per_s']:,.0f} requests/s)")
            if u and u.get("vs_libuv"):
                self.target(f"echo {key}: requests/s >= 2x libuv", u["vs_libuv"] >= 2,
                            f"{u['vs_libuv']:.2f}x ({u['requests_per_s']:,.0f} vs "
                            f"{table[key]['libuv']['requests_per_s']:,.0f} requests/s)")
        u = table.get("1x1", {}).get("udskit")
        if u and u.get("p50_vs_floor"):
            self.target("echo 1x1: p50 round trip <= 1.10x the floor", u["p50_vs_floor"] <= 1.10,
                        f"{u['p50_vs_floor']:.2f}x ({u['p50_us']:.1f} vs "
                        f"{table['1x1']['floor']['p50_us']:.1f} us)")
        u = table.get("256x16", {}).get("udskit")
        if u:
            self.target("echo 256x16: p99 <= 3x p50", u["p99_us"] <= 3 * u["p50_us"],
                        f"p50 {u['p50_us']:.0f} us, p99 {u['p99_us']:.0f} us "
                        f"({u['p99_us'] / u['p50_us']:.2f}x)")
        f = table.get("1x1", {}).get("floor")
        if blocking.get("floor") and f:
            mine, theirs = f["p50_us"], blocking["floor"]["p50_us"]
            self.target("uds bench agrees with a blocking client on the floor server (1x1 "
                        "p50 within 15%)", abs(mine / theirs - 1) <= 0.15,
                        f"uds bench {mine:.1f} us, pingpong --connect {theirs:.1f} us "
                        f"({mine / theirs:.2f}x)")

    # ---- accept rate ----------------------------------------------------------------------

    def accept(self):
        a = self.args
        servers, sock = self.echo_servers()
        servers = [s for s in servers if s[0] != "libuv tuned"]
        raw = {name: [] for name, _ in servers}
        cost = {name: [] for name, _ in servers}
        cmds = []
        for r in range(a.repeat):
            order = servers[r % len(servers):] + servers[:r % len(servers)]
            for name, argv in order:
                log(f"accept rate, {name}, round {r + 1}/{a.repeat}")
                out, cmd = self.measure(name, argv, sock, ["--reconnect", "-s", "0", "-d",
                                                           str(a.duration)])
                raw[name].append(out["requests_per_s"] if out else None)
                cost[name].append(out["server_ns_per_request"] if out else None)
                if r == 0:
                    cmds.append(f"{self.show(pinned(self.server_cpu, argv))} &  "
                                f"{self.show(cmd)}")
        res = {name: {"per_s": median(v), "runs": v, "server_ns_per_connection":
                      median(cost[name])} for name, v in raw.items()}
        for name, x in res.items():
            if name != "floor" and "floor" in res:
                x["vs_floor"] = paired(x["runs"], res["floor"]["runs"])
        self.results["accept"] = res
        self.commands["accept"] = cmds
        u = res.get("udskit", {})
        if u.get("vs_floor"):
            self.target("accept rate >= 0.9x the floor", u["vs_floor"] >= 0.9,
                        f"{u['vs_floor']:.2f}x ({u['per_s']:,.0f} vs "
                        f"{res['floor']['per_s']:,.0f} connections/s)")

    # ---- idle connections -------------------------------------------------------------

    def idle(self):
        a = self.args
        servers, sock = self.echo_servers()
        servers = [s for s in servers if s[0] != "libuv tuned"]
        tool = self.tool("idle_conns")
        res, cmds = {}, []
        for name, argv in servers:
            log(f"{a.idle} idle connections, {name}")
            with Server(self, name, argv, sock) as srv:
                time.sleep(0.2)
                before, fds_before = rss_kib(srv.pid), fd_count(srv.pid)
                holder = subprocess.Popen(pinned(self.client_cpu, [tool, sock, str(a.idle)]),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True)
                line = holder.stdout.readline()
                if not line.startswith("connected"):
                    holder.kill()
                    holder.wait()
                    raise Failure(f"idle_conns against {name}: {line!r}")
                deadline = time.monotonic() + 30
                while fd_count(srv.pid) < fds_before + a.idle:
                    if time.monotonic() > deadline:
                        raise Failure(f"{name} did not accept {a.idle} connections")
                    time.sleep(0.05)
                time.sleep(0.2)
                after = rss_kib(srv.pid)
                holder.stdin.close()
                holder.wait(30)
            res[name] = {"rss_before_kib": before, "rss_after_kib": after,
                         "bytes_per_conn": (after - before) * 1024 / a.idle}
            cmds.append(f"{self.show(pinned(self.server_cpu, argv))} &  "
                        f"{self.show(pinned(self.client_cpu, [tool, sock, str(a.idle)]))}  "
                        f"# VmRSS of the server before and after")
        self.results["idle"] = {"connections": a.idle, "servers": res}
        self.commands["idle"] = cmds
        if "udskit" in res:
            per = res["udskit"]["bytes_per_conn"]
            self.target(f"{a.idle:,} idle connections: server RSS grows <= 1 KiB each",
                        per <= 1024, f"{per:.0f} bytes per connection")

    # ---- per-connection programs ------------------------------------------------------

    def programs(self):
        a = self.args
        sock = os.path.join(self.tmp, "prog.sock")
        cat = shutil.which("cat")
        servers = []
        if shutil.which("s6-ipcserver"):
            servers.append(("s6-ipcserver", ["s6-ipcserver", sock, cat]))
        else:
            self.skipped.append("s6-ipcserver (package s6 is not installed)")
        if shutil.which("unixserver"):
            servers.append(("unixserver", ["unixserver", sock, cat]))
        else:
            self.skipped.append("unixserver (package ucspi-unix is not installed)")
        if shutil.which("socat"):
            servers.append(("socat", ["socat", f"UNIX-LISTEN:{sock},fork", f"EXEC:{cat}"]))
            servers.append(("socat nofork", ["socat", f"UNIX-LISTEN:{sock},fork",
                                             f"EXEC:{cat},nofork"]))
        else:
            self.skipped.append("socat (package socat is not installed)")
        help_text = subprocess.run([self.uds, "serve", "--help"], stdout=subprocess.PIPE,
                                   text=True).stdout
        exec_mode = "-- PROGRAM" in help_text
        if exec_mode:
            servers.append(("udskit", [self.uds, "serve", "-q", sock, "--", cat]))
        raw = {name: [] for name, _ in servers}
        cmds = []
        for r in range(a.repeat):
            order = servers[r % len(servers):] + servers[:r % len(servers)]
            for name, argv in order:
                log(f"per-connection programs, {name}, round {r + 1}/{a.repeat}")
                out, cmd = self.measure(name, argv, sock, ["--reconnect", "-c", "8", "-s",
                                                           "64", "-d", str(a.duration)],
                                        children=True)
                raw[name].append(out)
                if r == 0:
                    cmds.append(f"{self.show(pinned(self.server_cpu, argv))} &  "
                                f"{self.show(cmd)}")
        res = {}
        for name, outs in raw.items():
            outs = [o for o in outs if o]
            if outs:
                res[name] = {"per_s": median([o["requests_per_s"] for o in outs]),
                             "p50_us": median([o["latency_us"]["p50"] for o in outs]),
                             "p99_us": median([o["latency_us"]["p99"] for o in outs])}
        self.results["programs"] = {"program": cat, "exec_mode": exec_mode, "servers": res}
        self.commands["programs"] = cmds
        peers = [v["per_s"] for k, v in res.items() if k != "udskit"]
        if exec_mode and "udskit" in res and peers:
            best = max(peers)
            u = res["udskit"]["per_s"]
            self.target("per-connection programs: connections/s >= the best peer", u >= best,
                        f"{u:,.0f} vs {best:,.0f} ({u / best:.2f}x)")
        elif not exec_mode:
            self.target("per-connection programs: connections/s >= the best peer", None,
                        "pending: `uds serve ADDRESS -- PROGRAM` is not in this build")

    # ---- large messages ---------------------------------------------------------------

    def large(self):
        a = self.args
        tool = self.tool("memfd_bench")
        if not tool:
            self.skipped.append("large messages (bench/memfd_bench.c is not there)")
            return
        if a.smoke:
            self.skipped.append("large messages: memfd_bench is built but not run in the "
                                "smoke (it moves gigabytes)")
            return
        # Not pinned: sender and receiver are forked by memfd_bench itself, and the scheduler
        # puts them on the two CPUs (pinning the parent would put both on one).
        argv = niced([tool] + [str(s) for s in a.large_kib])
        log("large messages (memfd_bench)")
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=1800)
        if p.returncode != 0:
            self.errors.append(f"{self.show(argv)}: exit {p.returncode}: {p.stderr.strip()}")
            return
        rows = []
        # "1024 KiB  ping-pong  memfd pooled  123.4  8500  3.10x  4/0/4": the mode is one to
        # three words, then us/msg, MB/s and the ratio to the stream copy.
        for line in p.stdout.splitlines():
            parts = line.split()
            vs = next((i for i, x in enumerate(parts) if re.fullmatch(r"\d+\.\d+x", x)), None)
            if vs is None or vs < 6 or parts[1] != "KiB":
                continue
            rows.append({"size_kib": int(parts[0]), "pattern": parts[2],
                         "mode": " ".join(parts[3:vs - 2]),
                         "us_per_msg": float(parts[vs - 2]), "mb_per_s": float(parts[vs - 1]),
                         "vs_copy": float(parts[vs][:-1])})
        self.results["large"] = {"output": p.stdout, "rows": rows}
        self.commands["large"] = [self.show(argv)]
        for kib in sorted({r["size_kib"] for r in rows}):
            if kib < 1024:
                continue
            for mode, api in (("memfd pooled", "uds_memfd_send"),
                              ("memfd in place", "uds_memfd_buf_init + uds_memfd_buf_send")):
                for pattern in ("ping-pong", "stream"):
                    row = next((r for r in rows if r["size_kib"] == kib and
                                r["pattern"] == pattern and r["mode"] == mode), None)
                    if row:
                        self.target(f"large messages, {kib} KiB {pattern}, {api}: >= 3x a "
                                    f"stream copy", row["vs_copy"] >= 3,
                                    f"{row['vs_copy']:.2f}x ({row['mb_per_s']:,.0f} MB/s)")

    # ---- the report -------------------------------------------------------------------

    def report(self):
        return render(self)


def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def render(s):
    r, a = s.results, s.args
    out = []
    w = out.append
    w(f"<!-- written by bench/run.sh{' --smoke' if a.smoke else ''} on "
      f"{time.strftime('%Y-%m-%d %H:%M')} -->")
    m = r.get("transports", {}).get("machine", {})
    w(f"Machine: {m.get('model', platform.processor())}, {os.cpu_count()} CPUs, Linux "
      f"{platform.release()}; load average at the start {s.load_start}. Servers on CPU "
      f"{s.server_cpu}, load generator on CPU {s.client_cpu} (taskset). Each figure is the "
      f"median of {a.repeat} run{'s' if a.repeat > 1 else ''} of {a.duration} s "
      f"(transports: {a.cell} s per figure), the servers taking turns in each round; a "
      f"ratio (vs floor, udskit / libuv) is the median of the per-round ratios."
      + (f" Processes under test ran at nice {NICE}, ahead of the machine's other work."
         if NICE else ""))
    w("")

    w("### Targets")
    w("")
    w("| target | met | measured |")
    w("|---|---|---|")
    for t in s.targets:
        met = "pending" if t["met"] is None else ("yes" if t["met"] else "**no**")
        w(f"| {t['target']} | {met} | {t['detail']} |")
    w("")

    if "transports" in r:
        t = r["transports"]
        w("### Transports (`uds bench`)")
        w("")
        w(f"Placement: {t['placement']['note']}.")
        w("")
        sizes = sorted({c["size"] for c in t["round_trip"]})
        names = list(dict.fromkeys(c["transport"] for c in t["round_trip"]))
        w("Round trip p50 / p99 (us), and round trips/s:")
        w("")
        w("| transport | " + " | ".join(size_name(x) for x in sizes) + " |")
        w("|---|" + "---:|" * len(sizes))
        for n in names:
            cells = []
            for x in sizes:
                c = next(c for c in t["round_trip"] if c["transport"] == n and c["size"] == x)
                cells.append(f"{fmt(c['p50_us'], 1)} / {fmt(c['p99_us'], 1)}, "
                             f"{fmt(c['round_trips_per_s'])}/s")
            w(f"| {n} | " + " | ".join(cells) + " |")
        w("")
        wsizes = sorted({c["write_size"] for c in t["bulk"]})
        w("Bulk throughput, MB/s by write size (one way):")
        w("")
        w("| transport | " + " | ".join(size_name(x) for x in wsizes) + " |")
        w("|---|" + "---:|" * len(wsizes))
        for n in names:
            cells = [fmt(next(c for c in t["bulk"] if c["transport"] == n and
                              c["write_size"] == x)["mb_per_s"]) for x in wsizes]
            w(f"| {n} | " + " | ".join(cells) + " |")
        w("")
        w("(-: one message larger than the socket's send buffer.)")
        w("")
        w("Connect + accept + close per second: " + ", ".join(
            f"{c['transport']} {fmt(c['per_s'])}" for c in t["connect"]) + ".")
        w("")
        if "same_core" in t:
            sc = t["same_core"]
            w("The same on one core (" + sc["placement"]["note"] + "): " + "; ".join(
                f"{c['transport']} {fmt(c['p50_us'], 1)} us, {fmt(c['round_trips_per_s'])}/s"
                for c in sc["round_trip"]) + " (64 B round trip).")
            w("")
        if "pingpong" in t:
            pp = t["pingpong"]
            w(f"Floor program (bench/pingpong.c, blocking pair, every sample kept and sorted): "
              f"p50 {pp['p50_us']:.1f} us, p99 {pp['p99_us']:.1f} us, "
              f"{fmt(pp['round_trips_per_s'])} round trips/s at 64 B; `uds bench` in the same "
              f"rounds: p50 {t.get('agreement_uds_bench_p50_us', 0):.1f} us.")
            w("")
        cmds(w, s.commands.get("transports"))

    if "echo" in r:
        e = r["echo"]["table"]
        w("### Echo servers (64-byte messages)")
        w("")
        names = list(dict.fromkeys(n for cfg in e.values() for n in cfg))
        w("| connections x pipeline | server | requests/s | vs floor | p50 us | p90 us | "
          "p99 us | server CPU ns/request | server CPU | generator CPU | generator ns/request |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, by in e.items():
            for n in names:
                x = by.get(n)
                if not x:
                    continue
                vs = "1.00x" if n == "floor" else \
                    (f"{x['vs_floor']:.2f}x" if x.get("vs_floor") else "-")
                w(f"| {key} | {n} | {fmt(x['requests_per_s'])} | "
                  f"{vs} | {fmt(x['p50_us'], 1)} | "
                  f"{fmt(x['p90_us'], 1)} | {fmt(x['p99_us'], 1)} | "
                  f"{fmt(x['server_ns_per_request'])} | {fmt(x['server_cpu_percent'])}% | "
                  f"{fmt(x['client_cpu_percent'])}% | {fmt(x['client_ns_per_request'])} |")
        w("")
        for key in ("16x16", "256x16"):
            by = e.get(key, {})
            u = by.get("udskit", {})
            if u.get("vs_libuv"):
                w(f"- {key}: udskit / libuv = {u['vs_libuv']:.2f}x" +
                  (f", udskit / libuv tuned = {u['vs_libuv_tuned']:.2f}x"
                   if u.get("vs_libuv_tuned") else ""))
        for c in r["echo"].get("send_cost", []):
            w(f"- Kernel cost of sending {size_name(c['size'])} and receiving it (send_cost, "
              f"best of many): write {c['write_ns']:.0f} ns, send {c['send_ns']:.0f} ns, "
              f"sendmsg with one iovec {c['sendmsg_ns']:.0f} ns.")
        b = r["echo"].get("blocking_client")
        if b:
            w("- A blocking client (bench/pingpong.c --connect), 1x1: " + "; ".join(
                f"{n} p50 {x['p50_us']:.1f} us, {fmt(x['round_trips_per_s'])}/s"
                for n, x in b.items()) + ".")
        w("")
        cmds(w, s.commands.get("echo"))

    if "accept" in r:
        acc = r["accept"]
        w("### Accept rate (connect + close storms)")
        w("")
        w("| server | connections/s | vs floor | server CPU ns/connection |")
        w("|---|---:|---:|---:|")
        for n, x in acc.items():
            vs = "1.00x" if n == "floor" else (f"{x['vs_floor']:.2f}x" if x.get("vs_floor")
                                               else "-")
            w(f"| {n} | {fmt(x['per_s'])} | {vs} | {fmt(x['server_ns_per_connection'])} |")
        w("")
        cmds(w, s.commands.get("accept"))

    if "idle" in r:
        idle = r["idle"]
        w(f"### Idle connections ({idle['connections']:,})")
        w("")
        w("| server | RSS before | RSS after | per connection |")
        w("|---|---:|---:|---:|")
        for n, x in idle["servers"].items():
            w(f"| {n} | {fmt(x['rss_before_kib'])} KiB | {fmt(x['rss_after_kib'])} KiB | "
              f"{fmt(x['bytes_per_conn'])} B |")
        w("")
        cmds(w, s.commands.get("idle"))

    if "programs" in r:
        p = r["programs"]
        w(f"### Per-connection programs (`{p['program']}` per connection, 64-byte echo, "
          f"8 clients at a time)")
        w("")
        w("| server | connections/s | p50 us | p99 us |")
        w("|---|---:|---:|---:|")
        for n, x in p["servers"].items():
            w(f"| {n} | {fmt(x['per_s'])} | {fmt(x['p50_us'], 1)} | {fmt(x['p99_us'], 1)} |")
        if not p["exec_mode"]:
            w("| udskit (`uds serve ADDRESS -- PROGRAM`) | pending | | |")
        w("")
        cmds(w, s.commands.get("programs"))

    if "large" in r:
        w("### Large messages (bench/memfd_bench.c)")
        w("")
        w("```")
        w(r["large"]["output"].rstrip())
        w("```")
        w("")
        cmds(w, s.commands.get("large"))

    if s.disturbed or s.foreign:
        f = sorted(s.foreign)
        w(f"Other programs' share of the two CPUs during the runs kept: median "
          f"{statistics.median(f):.0f}%, worst {f[-1]:.0f}% ({s.disturbed} run"
          f"{'s' if s.disturbed != 1 else ''} over {a.max_foreign:g}% repeated, up to "
          f"{a.attempts} tries per figure, the least disturbed kept).")
        w("")
    if s.failed_runs:
        w(f"{s.failed_runs} run{'s' if s.failed_runs > 1 else ''} failed and "
          f"{'were' if s.failed_runs > 1 else 'was'} repeated (the last failure: "
          f"{s.last_error}).")
        w("")
    if s.skipped:
        w("Skipped: " + "; ".join(s.skipped) + ".")
        w("")
    if s.errors:
        w("Errors:")
        w("")
        for e in s.errors:
            w(f"- {e}")
        w("")
    return "\n".join(out) + "\n"


def size_name(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n} B"


def cmds(w, lines):
    if not lines:
        return
    w("Commands:")
    w("")
    w("```sh")
    for line in lines:
        w(line)
    w("```")
    w("")


SECTIONS = ["transports", "echo", "accept", "idle", "programs", "large"]


def main():
    ap = argparse.ArgumentParser(prog="bench/run.sh",
                                 description="udskit against the floor and the peers.")
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--uds", help="the uds binary to measure (default BUILD/uds)")
    ap.add_argument("--smoke", action="store_true",
                    help="every part once and briefly, to check that the scripts work")
    ap.add_argument("--repeat", type=int, help="runs per figure, medians (default 7)")
    ap.add_argument("--duration", type=float, help="seconds per load run (default 1.5)")
    ap.add_argument("--cell", type=float,
                    help="seconds per transports figure (default 0.3)")
    ap.add_argument("--pingpong", type=float, help="seconds per ping-pong run (default 1)")
    ap.add_argument("--idle", type=int, help="idle connections (default 10000)")
    ap.add_argument("--large-kib", type=int, nargs="+", default=[1024, 4096],
                    help="message sizes for memfd_bench, KiB (default 1024 4096)")
    ap.add_argument("--max-foreign", type=float, default=5.0,
                    help="repeat a run in which other programs took more than this %% of "
                         "the server's or the generator's CPU (default 5)")
    ap.add_argument("--attempts", type=int,
                    help="runs at most per figure when they keep being disturbed (default 4)")
    ap.add_argument("--nice", type=int, default=-10,
                    help="nice value for the processes under test, when allowed (root); "
                         "0 leaves it (default -10)")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    ap.add_argument("--out", help="report file (default BUILD/bench/report.md)")
    args = ap.parse_args()
    smoke = args.smoke
    args.repeat = args.repeat or (1 if smoke else 7)
    args.duration = args.duration or (0.4 if smoke else 1.5)
    args.cell = args.cell or (0.01 if smoke else 0.3)
    args.pingpong = args.pingpong or (0.1 if smoke else 1.0)
    args.idle = args.idle or (200 if smoke else 10000)
    args.attempts = args.attempts or (1 if smoke else 4)
    sections = args.only or SECTIONS
    global NICE
    NICE = args.nice if args.nice and (args.nice > 0 or os.geteuid() == 0) else 0

    suite = Suite(args)
    with open("/proc/loadavg") as f:
        suite.load_start = " ".join(f.read().split()[:3])
    started = time.monotonic()
    try:
        for name in sections:
            try:
                getattr(suite, name)()
            except Failure as e:
                suite.errors.append(f"{name}: {e}")
                log(f"{name}: {e}")
    finally:
        shutil.rmtree(suite.tmp, ignore_errors=True)
    text = suite.report()
    out = args.out or os.path.join(suite.build, "bench",
                                   "report-smoke.md" if smoke else "report.md")
    with open(out, "w") as f:
        f.write(text)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump({"results": suite.results, "targets": suite.targets,
                   "commands": suite.commands, "errors": suite.errors,
                   "skipped": suite.skipped}, f, indent=1)
    sys.stdout.write(text)
    log(f"done in {time.monotonic() - started:.0f} s; report in {os.path.relpath(out)}")
    return 1 if suite.errors else 0


if __name__ == "__main__":
    sys.exit(main())
