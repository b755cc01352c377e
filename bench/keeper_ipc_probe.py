"""What a task costs when a keeper process, not the server, spawns and reaps it (the ADR 0005 question).

ADR 0005 proposes that local attempts be children of a small detached keeper, so their exit statuses
survive a server SIGKILL. The price is one request and two notices over a SOCK_SEQPACKET socket per attempt.
This measures it against spawning and reaping `true` directly (pidfd + waitpid, as executors/local.py does),
both ways from the same process with ~100 MB of ballast (a server's size), alternated round by round:
a chain of 50 (one at a time) and a fan-out of 200 (all at once). Ratios, not absolute figures.

    python bench/keeper_ipc_probe.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import time


def keeper(sock: socket.socket) -> None:
    """The keeper: spawn on request, report `S<pid>` at once and `E<pid> <code>` at exit."""
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                msg = sock.recv(65536)
                if not msg:
                    return
                proc = subprocess.Popen(msg.decode().split("\0"), start_new_session=True)
                proc.returncode = 0  # the keeper reaps it through its pidfd, not Popen
                sel.register(os.pidfd_open(proc.pid), selectors.EVENT_READ, proc.pid)
                sock.send(b"S%d" % proc.pid)
            else:
                _, status = os.waitpid(key.data, 0)
                sel.unregister(key.fd)
                os.close(key.fd)
                sock.send(b"E%d %d" % (key.data, os.waitstatus_to_exitcode(status)))


def spawn_direct(sel: selectors.BaseSelector) -> None:
    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.returncode = 0
    sel.register(os.pidfd_open(proc.pid), selectors.EVENT_READ, proc.pid)


def reap_direct(sel: selectors.BaseSelector, n: int) -> None:
    while n:
        for key, _ in sel.select():
            os.waitpid(key.data, 0)
            sel.unregister(key.fd)
            os.close(key.fd)
            n -= 1


def chain_direct(n: int) -> float:
    sel = selectors.DefaultSelector()
    t = time.perf_counter()
    for _ in range(n):
        spawn_direct(sel)
        reap_direct(sel, 1)
    return time.perf_counter() - t


def wide_direct(n: int) -> float:
    sel = selectors.DefaultSelector()
    t = time.perf_counter()
    for _ in range(n):
        spawn_direct(sel)
    reap_direct(sel, n)
    return time.perf_counter() - t


def via_keeper(sock: socket.socket, n: int, chain: bool) -> float:
    t = time.perf_counter()
    exits = 0
    for _ in range(n):
        sock.send(b"true")
        if chain:
            while not sock.recv(64).startswith(b"E"):
                pass
            exits += 1
    while exits < n:
        if sock.recv(64).startswith(b"E"):
            exits += 1
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    rounds = ap.parse_args().rounds
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        ours.close()
        os.setsid()
        keeper(theirs)
        os._exit(0)
    theirs.close()
    ballast = [bytearray(1 << 20) for _ in range(100)]  # noqa: F841 - a server-sized parent
    for name, n, chain in (("chain of 50", 50, True), ("fan-out of 200", 200, False)):
        direct, kept = [], []
        for _ in range(rounds):
            direct.append(chain_direct(n) if chain else wide_direct(n))
            kept.append(via_keeper(ours, n, chain))
        d, k = statistics.median(direct), statistics.median(kept)
        print(f"{name:<16} direct {d * 1000:7.1f} ms   via keeper {k * 1000:7.1f} ms   ratio {k / d:.3f}")
    ours.close()
    os.wait()


if __name__ == "__main__":
    main()
