"""One pids cgroup per attempt: a process limit, and a kill that reaches every descendant.

A process group is not enough for either: a task can `setsid` out of its group (and then survives
KillTriggerWorkflowRuns), and nothing stops it forking without limit. A cgroup cannot be left by an
unprivileged descendant and its `pids.max` bounds processes plus threads.

Where the groups live: in the hierarchy that carries the `pids` controller (cgroup v1 `pids`, or cgroup2
with `pids` available), under the server's own cgroup there, as `trigflow/<instance>/<group>`,
where `<instance>` is derived from the data dir (several servers on one host never share groups, and a
restarted server finds its predecessor's) and `<group>` is recycled from attempt to attempt. Detection
happens once at start; when no such hierarchy is writable (not root, read-only /sys/fs/cgroup in a
container, v2 without delegation) `detect` returns None and the executor falls back to process groups plus
an environment sweep (docs/adr/0003-attempt-isolation.md).

Cost (measured on cgroup v1 here, kernel CPU): mkdir ~40 us, pids.max ~30 us, the move ~35 us, rmdir
~35 us; groups are pooled so an attempt pays the move only. The move itself can wait for an RCU grace
period (6-15 ms) when no migration happened for ~20 ms, so the executor does it on a mover thread of its
own, never on the thread that starts attempts or the one that reports exits (LocalExecutor._move_loop).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import threading

__all__ = ["CgroupTree", "detect"]

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_KILL_ROUNDS = 200  # SIGKILL sweeps of cgroup.procs before giving up on an (impossible) endless fork race
_POOL_MAX = 256  # emptied groups kept for reuse; beyond that they are removed
_GONE = (errno.ENOENT, errno.ENODEV)  # a removed group: its path, or an fd opened before the removal
_OWNER = re.compile(r"g([0-9]+)\.[0-9]+\Z")


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
    """This server's subtree of pids cgroups: one group per running attempt, recycled through a pool.

    Creating and removing a group costs ~75 us of kernel CPU on top of the ~35 us move (mkdir, pids.max,
    rmdir; measured on cgroup v1 here), so an emptied group goes back to a pool and the next attempt only
    pays the move. Groups are named `g<server pid>.<n>`; the attempt a group belongs to is whoever is in it.
    `enter` runs on the executor's mover thread, the rest on its watcher thread: the pool, the only state
    they share, is guarded by a lock.
    """

    def __init__(self, root: str, version: int, max_processes: int | None) -> None:
        self.root = root  # .../trigflow/<instance>
        self.version = version  # 1 or 2
        self.max_processes = max_processes
        self._pool: list[str] = []
        self._pool_lock = threading.Lock()
        # cgroup.procs of each group, open for writing: a move is one write() instead of open/write/close
        # (each syscall also hands the GIL around, which with 200 tasks starting at once costs more than
        # the kernel's own migration work).
        self._procs: dict[str, int] = {}
        self._made = 0

    def enter(self, pid: int) -> str | None:
        """Put `pid` (an attempt's leader) into a group of its own; the group's path, or None (logged)
        if that failed and the attempt runs with the fallback guarantees only."""
        for _attempt in range(2):
            with self._pool_lock:
                path = self._pool.pop() if self._pool else None
            path = path or self._create()
            if path is None:
                return None
            try:
                os.write(self._procs_fd(path), str(pid).encode("ascii"))
                return path
            except OSError as exc:
                if exc.errno in _GONE:  # removed behind our back (a sweep): make a fresh one
                    self._forget_fd(path)
                    continue
                if exc.errno != errno.ESRCH:  # ESRCH: it exited already, nothing to contain
                    log.warning("cannot move attempt process %s into cgroup %s: %s", pid, path, exc)
                self.release(path)
                return None
        return None

    def _procs_fd(self, path: str) -> int:
        with self._pool_lock:
            fd = self._procs.get(path)
        if fd is None:
            fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
            with self._pool_lock:
                self._procs[path] = fd
        return fd

    def _forget_fd(self, path: str) -> None:
        with self._pool_lock:
            fd = self._procs.pop(path, None)
        if fd is not None:
            os.close(fd)

    def _create(self) -> str | None:
        with self._pool_lock:
            self._made += 1
            path = os.path.join(self.root, f"g{os.getpid()}.{self._made}")
        try:
            try:
                os.mkdir(path, 0o700)
            except FileNotFoundError:  # the instance dir was removed: recreate it
                os.makedirs(self.root, 0o700, exist_ok=True)
                os.mkdir(path, 0o700)
            if self.max_processes is not None:
                _write(os.path.join(path, "pids.max"), str(self.max_processes))
        except OSError as exc:
            log.warning("cannot create cgroup %s: %s", path, exc)
            self.remove(path)
            return None
        return path

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

    def release(self, path: str) -> bool:
        """The attempt is over: back to the pool if the group is empty; False while something still runs in it
        (a daemonised descendant, an unreaped leader), so the caller retries later."""
        # A fresh open each time: cgroup v1 caches an open cgroup.procs' pid list (stale reads).
        # A group removed behind our back reads as empty; its pooled write fd then fails with ENODEV
        # in enter(), which makes a fresh group.
        if self.pids(path):
            return False
        with self._pool_lock:
            pooled = len(self._pool) < _POOL_MAX
            if pooled:
                self._pool.append(path)
        if not pooled:
            self.remove(path)
        return True

    def remove(self, path: str) -> bool:
        """Remove an empty group; False while processes are still in it."""
        self._forget_fd(path)
        try:
            os.rmdir(path)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Remove the pooled groups and, when nothing else is left, the instance dir."""
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for path in pool:
            self.remove(path)
        with self._pool_lock:
            fds, self._procs = list(self._procs.values()), {}
        for fd in fds:  # groups still busy with a daemonised task: they stay, our descriptors do not
            os.close(fd)
        self.remove(self.root)

    def sweep_empty(self) -> None:
        """Remove empty groups left by servers that are gone (killed before their cleanup); groups of a live
        server on the same data dir (a standby, the leader) and busy groups are left alone."""
        with contextlib.suppress(OSError), os.scandir(self.root) as it:
            for entry in it:
                owner = _OWNER.match(entry.name)
                if owner is not None and _alive(int(owner.group(1))):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    self.remove(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    # Another server starting on this host sweeps every instance dir (below): it removes ours while still empty,
    # between our makedirs and our probe, and removes a probe it does not know to be alive. So the probe is
    # named like a group of this live process (the sweep leaves those), and a vanished dir is made again.
    probe = os.path.join(root, f"g{os.getpid()}.0")  # _create numbers groups from 1
    for attempt in range(3):
        try:
            os.makedirs(root, 0o700, exist_ok=True)
            if version == 2:  # the pids controller must be enabled on the way down
                with contextlib.suppress(OSError):  # refused unless `base` is the root (it holds our process)
                    _write(os.path.join(base, "cgroup.subtree_control"), "+pids")
                for parent in (top, root):
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+pids")
            os.mkdir(probe, 0o700)
            try:
                if max_processes is not None and not os.path.exists(os.path.join(probe, "pids.max")):
                    return None
            finally:
                os.rmdir(probe)
            break
        except FileNotFoundError as exc:  # the instance dir was swept away meanwhile: once more
            if attempt == 2:
                log.info("no writable pids cgroup under %s (%s); using the process-group fallback", base, exc)
                return None
        except OSError as exc:
            log.info("no writable pids cgroup under %s (%s); using the process-group fallback", base, exc)
            return None
    for entry in _subdirs(top):  # leftovers of servers killed without cleanup, any data dir
        CgroupTree(entry, version, max_processes).sweep_empty()
        if entry != root:
            with contextlib.suppress(OSError):
                os.rmdir(entry)  # only if empty; a live server recreates its dir when it needs it
    return CgroupTree(root, version, max_processes)


def _subdirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
