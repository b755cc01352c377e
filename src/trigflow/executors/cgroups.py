"""One pids cgroup per attempt: a process limit, and a kill that reaches every descendant.

A process group is not enough for either: a task can `setsid` out of its group (and then survives
KillTriggerWorkflowRuns), and nothing stops it forking without limit. A cgroup cannot be left by an
unprivileged descendant and its `pids.max` bounds processes plus threads.

Where the groups live: in the hierarchy that carries the `pids` controller (cgroup v1 `pids`, or cgroup2
with `pids` available), under the server's own cgroup there, as `trigflow/<instance>/<attempt>.<pid>`,
where `<instance>` is derived from the data dir (several servers on one host never share groups, and a
restarted server finds its predecessor's). Detection happens once at start; when no such hierarchy is
writable (not root, read-only /sys/fs/cgroup in a container, v2 without delegation) `detect` returns None
and the executor falls back to process groups plus an environment sweep (docs/adr/0003-attempt-isolation.md).

Cost: a move into a cgroup waits for an RCU grace period in the kernel (~150 us on cgroup v1 here, more
on v2), so the executor does it on its own thread, never on the caller's (the scheduler's) hot path.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal

__all__ = ["CgroupTree", "detect"]

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_KILL_ROUNDS = 200  # SIGKILL sweeps of cgroup.procs before giving up on an (impossible) endless fork race


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def _read_pids(path: str) -> list[int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return []
    finally:
        os.close(fd)
    return [int(p) for p in b"".join(chunks).split()]


class CgroupTree:
    """This server's subtree of pids cgroups: create, fill, signal and remove one group per attempt."""

    def __init__(self, root: str, version: int, max_processes: int | None) -> None:
        self.root = root  # .../trigflow/<instance>
        self.version = version  # 1 or 2
        self.max_processes = max_processes

    def path_for(self, attempt_id: str, pid: int) -> str:
        return os.path.join(self.root, f"{_SAFE.sub('_', attempt_id)[:200]}.{pid}")

    def adopt(self, path: str, pid: int) -> bool:
        """Create the attempt's group, set its limit and move `pid` (the attempt's leader) in.

        False (logged) if any step fails: the attempt then runs with the fallback guarantees only.
        """
        try:
            try:
                os.mkdir(path, 0o700)
            except FileNotFoundError:  # the instance dir was removed (or never made): recreate it
                os.makedirs(self.root, 0o700, exist_ok=True)
                os.mkdir(path, 0o700)
            if self.max_processes is not None:
                _write(os.path.join(path, "pids.max"), str(self.max_processes))
            _write(os.path.join(path, "cgroup.procs"), str(pid))
            return True
        except OSError as exc:
            if exc.errno != errno.ESRCH:  # ESRCH: it exited already, nothing to contain
                log.warning("cannot put attempt process %s into cgroup %s: %s", pid, path, exc)
            self.remove(path)
            return False

    def pids(self, path: str) -> list[int]:
        return _read_pids(os.path.join(path, "cgroup.procs"))

    def signal(self, path: str, sig: int) -> None:
        """Send `sig` to every process in the group; SIGKILL repeats until the group is empty.

        cgroup2's `cgroup.kill` is atomic; on v1 a process forked between the read and the kill is caught
        by the next round, and `pids.max` bounds how many can appear, so the rounds end.
        """
        if sig == signal.SIGKILL and self.version == 2:
            with contextlib.suppress(OSError):
                _write(os.path.join(path, "cgroup.kill"), "1")
                return
        for _round in range(_KILL_ROUNDS if sig == signal.SIGKILL else 1):
            pids = self.pids(path)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)

    def remove(self, path: str) -> bool:
        """Remove an empty group; False while processes (or an unreaped leader) are still in it."""
        try:
            os.rmdir(path)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    def sweep_empty(self) -> None:
        """Remove empty leftovers (a server killed before its cleanup); busy groups belong to live tasks."""
        with contextlib.suppress(OSError), os.scandir(self.root) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    self.remove(entry.path)


def _own_cgroup(version: int) -> str | None:
    """This process's cgroup path in the pids hierarchy (v1 line `N:pids:/x`, v2 line `0::/x`)."""
    try:
        with open("/proc/self/cgroup", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if version == 1 and "pids" in parts[1].split(","):
            return parts[2]
        if version == 2 and parts[0] == "0" and parts[1] == "":
            return parts[2]
    return None


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of every cgroup mount, from /proc/self/mountinfo."""
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, rfields = left.split(), right.split()
                if len(fields) >= 5 and len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
                    found.append((fields[4], rfields[0], rfields[2]))
    except OSError:
        pass
    return found


def detect(instance: str, max_processes: int | None) -> CgroupTree | None:
    """The writable pids hierarchy of this host as a CgroupTree for `instance`, or None (fallback)."""
    for mount, fstype, options in _mounts():
        if fstype == "cgroup" and "pids" in options.split(","):
            version = 1
        elif fstype == "cgroup2":
            try:
                with open(os.path.join(mount, "cgroup.controllers"), encoding="ascii") as f:
                    if "pids" not in f.read().split():
                        continue
            except OSError:
                continue
            version = 2
        else:
            continue
        own = _own_cgroup(version)
        if own is None:
            continue
        tree = _prepare(os.path.join(mount, own.lstrip("/")), version, instance, max_processes)
        if tree is not None:
            return tree
    return None


def _prepare(base: str, version: int, instance: str, max_processes: int | None) -> CgroupTree | None:
    top = os.path.join(base, "trigflow")
    root = os.path.join(top, _SAFE.sub("_", instance))
    try:
        os.makedirs(root, 0o700, exist_ok=True)
        if version == 2:  # the pids controller must be enabled on the way down
            with contextlib.suppress(OSError):  # refused unless `base` is the root (it holds our process)
                _write(os.path.join(base, "cgroup.subtree_control"), "+pids")
            for parent in (top, root):
                _write(os.path.join(parent, "cgroup.subtree_control"), "+pids")
        probe = os.path.join(root, f"probe.{os.getpid()}")
        os.mkdir(probe, 0o700)
        try:
            if max_processes is not None and not os.path.exists(os.path.join(probe, "pids.max")):
                return None
        finally:
            os.rmdir(probe)
    except OSError as exc:
        log.info("no writable pids cgroup under %s (%s); using the process-group fallback", base, exc)
        return None
    tree = CgroupTree(root, version, max_processes)
    tree.sweep_empty()
    return tree
