#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the rules of the tree that the compiler cannot see, over every .c and .h in src/
and include/, and report each as a TAP test (scripts/run-tests.sh counts them):

- no function longer than 80 lines, no line wider than 100 columns;
- no include cycle, between files or between modules (foo.c, foo.h and foo_int.h are one);
- the library includes nothing of the tool's, and never prints or exits;
- every send() has MSG_NOSIGNAL (a peer that went away is an EPIPE, not a SIGPIPE);
- every call that makes an fd asks for close-on-exec, except the few listed below that must
  not (an fd meant for a program about to be started).

The sources are read as written by this project (a function's body ends with a "}" in the
first column), with comments and string literals blanked first.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FUNCTION_LINES = 80
MAX_COLUMNS = 100

# Calls that make an fd and how close-on-exec is asked for (the argument text must name it).
FD_CALLS = ("socket", "socketpair", "accept4", "open", "openat", "pipe2", "epoll_create1",
            "eventfd", "timerfd_create", "signalfd", "memfd_create", "dup3", "inotify_init1",
            "pidfd_open", "fopen")
# Calls that make an fd and cannot ask for close-on-exec: never to be used.
FD_CALLS_WITHOUT_FLAG = ("accept", "pipe", "dup", "epoll_create", "inotify_init")
# Calls allowed without close-on-exec, as written (spaces squeezed), and why.
NOT_CLOEXEC = {
    "dup2(fd, t)": "puts a connection on fds 6 and 7 for the program exec'd next (UCSPI)",
}
SENDS = ("send", "sendto", "sendmsg", "sendmmsg")
# (_exit() is allowed: it is how a process the library forks ends, swap.c's watchdog.)
LIB_NEVER = ("printf", "fprintf", "vfprintf", "puts", "fputs", "perror", "exit", "abort",
             "syslog")


def sources():
    for top in ("src", "include"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if name.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, name), ROOT)


def blank(text):
    """Comments and string/char literals replaced by spaces, newlines kept."""
    def keep_lines(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    pattern = r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
    return re.sub(pattern, keep_lines, text, flags=re.S)


def calls(code, raw, name):
    """(line, text as written) of each call of name() in code (blanked) / raw (original)."""
    for m in re.finditer(r"(?<![\w.>])" + name + r"\s*\(", code):
        i, depth = m.end(), 1
        while depth and i < len(code):
            depth += {"(": 1, ")": -1}.get(code[i], 0)
            i += 1
        yield code.count("\n", 0, m.start()) + 1, " ".join(raw[m.start():i].split())


def functions(code):
    """(name, first line, line count) of each function definition: a "{" outside any braces
    whose declaration (the text since the last ";" or "}" there) has "(" and no "="."""
    code = re.sub(r"^[ \t]*#.*$", "", code, flags=re.M)    # preprocessor lines
    depth, decl_start, start = 0, 0, None
    for i, ch in enumerate(code):
        if ch == "{":
            if depth == 0:
                decl = code[decl_start:i]
                m = re.search(r"(\w+)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*$", decl)
                if m and "=" not in decl:
                    first = decl_start + len(decl) - len(decl.lstrip())
                    start = (m.group(1), code.count("\n", 0, first) + 1)
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                if start:
                    yield start[0], start[1], code.count("\n", 0, i) + 2 - start[1]
                start = None
                decl_start = i + 1
        elif ch == ";" and depth == 0:
            decl_start = i + 1


def includes(raw):
    return re.findall(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]', raw, flags=re.M)


def find_cycle(graph):
    """One cycle of graph (node -> set of nodes) as a list, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path)
                if found:
                    return found
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def main():
    files = list(sources())
    raw = {f: open(os.path.join(ROOT, f), encoding="utf-8").read() for f in files}
    code = {f: blank(raw[f]) for f in files}
    by_name = {}
    for f in files:
        by_name.setdefault(os.path.basename(f), []).append(f)
    results = []

    long_ones = [f"{f}:{line}: {name}() is {n} lines"
                 for f in files
                 for name, line, n in functions(code[f]) if n > MAX_FUNCTION_LINES]
    results.append((f"no function in src/ is over {MAX_FUNCTION_LINES} lines", long_ones))
    wide = [f"{f}:{i}: {len(line)} columns" for f in files
            for i, line in enumerate(raw[f].split("\n"), 1) if len(line) > MAX_COLUMNS]
    results.append((f"no line in src/ or include/ is over {MAX_COLUMNS} columns", wide))

    def resolve(f, inc):
        here = os.path.join(os.path.dirname(f), inc)
        if here in raw:
            return here
        cands = by_name.get(os.path.basename(inc), [])
        return cands[0] if len(cands) == 1 else None

    file_graph = {f: {t for t in (resolve(f, i) for i in includes(raw[f])) if t} for f in files}
    cycle = find_cycle(file_graph)
    results.append(("no include cycle between files", [" -> ".join(cycle)] if cycle else []))

    def module(f):
        # foo_int.h holds what foo's own files share inside: it is part of foo.
        return re.sub(r"_int$", "", os.path.splitext(f)[0])
    mod_graph = {}
    for f, targets in file_graph.items():
        for t in targets:
            if module(t) != module(f):
                mod_graph.setdefault(module(f), set()).add(module(t))
    cycle = find_cycle(mod_graph)
    results.append(("no include cycle between modules (foo.c with foo.h, foo_int.h)",
                    [" -> ".join(cycle)] if cycle else []))

    lib = [f for f in files if f.startswith("src/lib/")]
    bad = [f"{f}: includes {t}" for f in lib for t in file_graph[f] if t.startswith("src/cli/")]
    bad += [f"{f}:{line}: {text}" for f in lib for name in LIB_NEVER
            for line, text in calls(code[f], raw[f], name)]
    results.append(("the library includes nothing of the tool's, never prints or exits", bad))

    bad = [f"{f}:{line}: {text}" for f in files for name in SENDS
           for line, text in calls(code[f], raw[f], name) if "MSG_NOSIGNAL" not in text]
    results.append(("every send in src/ has MSG_NOSIGNAL", bad))

    bad = []
    for f in files:
        for name in FD_CALLS + FD_CALLS_WITHOUT_FLAG + ("dup2", "fcntl"):
            for line, text in calls(code[f], raw[f], name):
                if name == "fcntl" and "F_DUPFD" not in text:
                    continue
                if name == "fopen" and re.search(r'"[rwa]\+?e', text):
                    continue
                if "CLOEXEC" in text or text in NOT_CLOEXEC:
                    continue
                bad.append(f"{f}:{line}: {text}")
    results.append(("every fd made in src/ is close-on-exec (or listed in check-tree.py)", bad))

    print(f"1..{len(results)}")
    failed = 0
    for i, (what, problems) in enumerate(results, 1):
        print(f"{'not ok' if problems else 'ok'} {i} - {what}")
        for p in problems:
            print(f"# {p}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
