"""The worker's guard: a tiny process that kills a `trigflow worker`'s attempts the moment the worker dies.

Why (docs/adr/0006-celery-workers.md, "Attempts die with their worker"): attempts run in process groups of
their own (and cgroups where writable), so a worker killed with `kill -9` (or the OOM killer, or a crash)
would leave them running while the server, after its lease, retries them on another worker: the same task
twice at once. The guard closes that:

* `trigflow worker` starts it before Celery (no threads yet, no broker connection; the token comes on a
  pipe, below): a fresh interpreter, exec'd, in a session of its own so a signal to the worker's process
  group does not reach it;
* it opens a pidfd on the worker and checks the worker is still its parent (so the pidfd cannot name a
  recycled pid), then blocks in poll() on it: no polling interval, the kernel wakes it when the worker
  exits, whatever the signal;
* it then SIGKILLs every process that carries the dead worker's id in TRIGFLOW_WORKER_ID (each attempt's
  environment has it, which reaches double-forked/`setsid` children too) and every member of the worker's
  attempt cgroups (`g<worker pid>.*` under its cgroup instance: catches a child that scrubbed its env),
  round after round until none is left, and exits.

PR_SET_PDEATHSIG would not do: it fires when the *thread* that forked the child exits (the LocalExecutor
forks from short-lived threads), reaches only the direct child (not a `setsid` grandchild), and is cleared
by a setuid exec. A subreaper does not help either: it adopts orphans, it does not kill them.

Then it tells the server (`POST /internal/v1/workers/<id>/gone`), so the dead worker's attempts are declared
lost and retried elsewhere at once instead of after the server's lease (30 s by default): the report is sent
only once nothing of them is left, so the retry can never overlap them. For that the guard holds the worker
token, which the worker hands it on a pipe (never argv or the environment, which other processes of the user
can read) and, like the worker, it makes itself non-dumpable. If no server answers within GONE_REPORT_S the
lease still applies.

A guard that is itself killed (a `kill -9` of both) leaves the startup sweep of the next worker on the same
data dir as the backstop (WorkerRuntime._sweep_orphans), and the server's lease.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ENV_WORKER_ID = "TRIGFLOW_WORKER_ID"
KILL_ROUNDS = 50
GONE_REPORT_S = 15.0  # how long the guard tries to tell a server the worker is gone (then the lease applies)
_GONE_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)


def start(
    worker_id: str,
    cgroup_root: str | None,
    cgroup_version: int | None,
    servers: Sequence[str] = (),
    token: str | None = None,
    data_dir: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start the guard of this process (the worker); it runs until this process is gone. With `servers` and
    `token` it reports the worker gone once it has killed the worker's attempts."""
    argv = [sys.executable, "-m", "trigflow.executors.worker_guard", "--pid", str(os.getpid()),
            "--worker-id", worker_id]  # fmt: skip
    if cgroup_root is not None and cgroup_version is not None:
        argv += ["--cgroup-root", cgroup_root, "--cgroup-version", str(cgroup_version)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True, close_fds=True)
    assert proc.stdin is not None
    with proc.stdin:  # the token on a pipe: never in argv or the environment
        proc.stdin.write(json.dumps({"servers": list(servers), "token": token, "data_dir": data_dir}).encode())
    return proc


def report_gone(worker_id: str, servers: Sequence[str], token: str, killed: int, data_dir: str | None) -> bool:
    """Deliver the exits the dead worker kept but had not reported (executors/worker_exits.py: their attempts
    ended, their results must not be lost), then tell a server the worker is gone and the rest of its attempts
    dead; True once one answered the latter for good."""
    from trigflow.executors import worker_exits
    from trigflow.executors.celery_worker import Reporter, Unavailable

    reporter = Reporter(servers, token, timeout=2.0)
    deadline = time.monotonic() + GONE_REPORT_S
    left = worker_exits.pending(Path(data_dir), worker_id) if data_dir else []
    pause = 0
    while left and time.monotonic() < deadline:
        left = [(d, r) for d, r in left if not worker_exits.deliver(reporter.post, d, r)]
        if left:
            time.sleep(_GONE_BACKOFF_S[min(pause, len(_GONE_BACKOFF_S) - 1)])
            pause += 1
    pause = 0
    while True:
        try:
            status, _answer = reporter.post(f"/internal/v1/workers/{worker_id}/gone", {"killed": killed})
            if status in (200, 404, 409):
                return status == 200
        except Unavailable:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(_GONE_BACKOFF_S[min(pause, len(_GONE_BACKOFF_S) - 1)])
        pause += 1


def _read_handover() -> tuple[list[str], str | None, str | None]:
    """What the worker wrote on stdin: the servers, the token and its data dir (nothing when started without)."""
    try:
        raw = json.loads(sys.stdin.buffer.read() or b"{}")
    except (OSError, ValueError):
        return [], None, None
    if not isinstance(raw, dict):
        return [], None, None
    servers = [str(s) for s in raw.get("servers") or []]
    token, data_dir = raw.get("token"), raw.get("data_dir")
    return (servers, token if isinstance(token, str) and token else None,
            data_dir if isinstance(data_dir, str) and data_dir else None)  # fmt: skip


def wait_for_exit(pid: int) -> None:
    """Block until `pid` (our parent) has exited; returns at once when it is gone already."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if os.getppid() != pid:  # the parent died before the pidfd was opened: the pid may be reused
            return
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
    finally:
        os.close(fd)


def kill_attempts(worker_id: str, cgroup_root: str | None, cgroup_version: int | None, worker_pid: int) -> int:
    """SIGKILL everything of the worker's attempts until nothing is left; how many processes were signalled."""
    from trigflow.executors.local import find_pids_by_env

    killed = 0
    for _round in range(KILL_ROUNDS):
        pids = set(find_pids_by_env(ENV_WORKER_ID, worker_id))
        pids.update(_cgroup_members(cgroup_root, worker_pid))
        pids.discard(os.getpid())
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        if cgroup_root is not None and cgroup_version == 2:
            for path in _cgroups_of(cgroup_root, worker_pid):
                with contextlib.suppress(OSError), open(os.path.join(path, "cgroup.kill"), "w") as f:
                    f.write("1")
        time.sleep(0.005)  # let the kernel tear them down before the next scan (killed zombies read as dead)
    return killed


def _cgroups_of(root: str, worker_pid: int) -> list[str]:
    pattern = re.compile(rf"g{worker_pid}\.\d+$")
    try:
        with os.scandir(root) as it:
            return [e.path for e in it if pattern.match(e.name) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _cgroup_members(root: str | None, worker_pid: int) -> set[int]:
    if root is None:
        return set()
    found: set[int] = set()
    for path in _cgroups_of(root, worker_pid):
        with contextlib.suppress(OSError, ValueError), open(os.path.join(path, "cgroup.procs")) as f:
            found.update(int(p) for p in f.read().split())
    return found


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="trigflow-worker-guard")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--worker-id", required=True)
    p.add_argument("--cgroup-root")
    p.add_argument("--cgroup-version", type=int)
    args = p.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the worker's terminal is the worker's business
    from trigflow.process_guard import forbid_inspection

    forbid_inspection()  # it may hold the worker token
    servers, token, data_dir = _read_handover()
    wait_for_exit(args.pid)
    killed = kill_attempts(args.worker_id, args.cgroup_root, args.cgroup_version, args.pid)
    if killed:
        print(f"trigflow worker guard: worker {args.worker_id} (pid {args.pid}) is gone; killed {killed} "
              "process(es) of its attempts", file=sys.stderr, flush=True)  # fmt: skip
    if servers and token is not None and report_gone(args.worker_id, servers, token, killed, data_dir):
        print(f"trigflow worker guard: told the server worker {args.worker_id} is gone", file=sys.stderr,
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
