"""Check, on this host, the kernel features docs/adr/0003-attempt-isolation.md relies on, and what they cost.

1. A sealed memfd run as `bash /dev/fd/N` cannot be rewritten by anyone, not even through /proc/<pid>/fd/N.
2. The data dir's filesystem can punch holes (FALLOC_FL_PUNCH_HOLE), so logs are bounded in place.
3. A pids cgroup is writable here, and what creating one and moving a process into it costs.

    .venv/bin/python bench/isolation_probe.py [--dir DATA_DIR]

Prints one line per check; exits 1 if a guarantee does not hold (a missing cgroup is reported, not fatal:
the executor then uses its documented fallback).
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from trigflow.executors import logcap
from trigflow.executors.cgroups import detect
from trigflow.executors.local import _sealed_memfd


def check_memfd() -> bool:
    fd = _sealed_memfd("probe", b"read _ < /dev/stdin; echo original\n")
    r, w = os.pipe()
    proc = subprocess.Popen(["bash", f"/dev/fd/{fd}"], stdin=r, pass_fds=(fd,), stdout=subprocess.PIPE)
    os.close(fd)
    os.close(r)
    held = True
    for name in os.listdir(f"/proc/{proc.pid}/fd"):
        path = f"/proc/{proc.pid}/fd/{name}"
        if "memfd:" not in os.readlink(path):
            continue
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
            try:
                wfd = os.open(path, flags)
            except PermissionError:
                continue
            try:
                os.write(wfd, b"echo swapped\n")
                held = False
            except PermissionError:
                pass
            try:
                os.ftruncate(wfd, 0)
                held = False
            except PermissionError:
                pass
            os.close(wfd)
        rfd = os.open(path, os.O_RDONLY)
        try:
            mmap.mmap(rfd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            held = False
        except (PermissionError, OSError):
            pass
        os.close(rfd)
    os.write(w, b"go\n")
    os.close(w)
    out = proc.communicate()[0]
    held = held and out == b"original\n"
    code = b"echo hello world; " * 110  # ~2 KB
    costs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(2000):
            os.close(_sealed_memfd("probe", code))
        costs.append((time.perf_counter() - t0) / 2000 * 1e6)
    print(f"sealed memfd: rewrite through /proc refused: {held}; create+write+seal+close {min(costs):.1f} us (best)")
    return held


def check_punch(directory: str) -> bool:
    path = os.path.join(directory, "punch-probe.log")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"x" * (4 << 20))
        state = logcap.LogState(1 << 20)
        try:
            dropped = logcap.trim(fd, state)
        except OSError as exc:
            print(f"hole punching in {directory}: NOT supported ({exc}); over-limit attempts will be killed")
            return True
        kept = os.fstat(fd).st_blocks * 512
        print(f"hole punching in {directory}: supported; 4 MiB log -> {kept} bytes on disk, {dropped} dropped")
        return kept <= (1 << 20) + 65536
    finally:
        os.close(fd)
        os.unlink(path)


def check_cgroups() -> None:
    tree = detect(f"probe-{os.getpid()}", 64)
    if tree is None:
        print("pids cgroup: not writable here; fallback (process group + environment sweep, no process limit)")
        return
    devnull = os.open(os.devnull, os.O_RDONLY)
    cold, warm = [], []
    for i in range(200):
        proc = subprocess.Popen(["sleep", "0"], stdin=devnull, start_new_session=True)
        t0 = time.thread_time()
        path = tree.enter(proc.pid)
        (warm if i % 2 else cold).append(time.thread_time() - t0)  # odd i reuse the group even i released
        proc.wait()
        if path is not None and i % 2 == 0:
            tree.release(path)  # pooled: the next attempt only pays the move
        elif path is not None:
            tree.remove(path)
    tree.close()
    print(
        f"pids cgroup v{tree.version} under {os.path.dirname(tree.root)}: new group (mkdir+pids.max+move) "
        f"{statistics.median(cold) * 1e6:.0f} us, pooled group (move) {statistics.median(warm) * 1e6:.0f} us "
        "(median CPU, on the executor's watcher thread)"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="a directory on the data dir's filesystem")
    args = ap.parse_args()
    ok = check_memfd()
    ok = check_punch(args.dir) and ok
    check_cgroups()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
