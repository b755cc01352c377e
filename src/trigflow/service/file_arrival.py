"""FILE_ARRIVAL triggers (semantics.md §2.3, decisions.md Q-TR1): new matching files fire one run per batch.

A file is new when its (path, size, mtime) has not triggered a run before, so a rewritten file counts
again and an untouched one never does — across restarts too, because the files of every fired batch
are stored with the fire. After the first new file, the trigger waits TriggerWaitTime for the batch to
settle, then fires one run with the batch's paths as the parameter `file_arrival_paths` (a JSON list);
it never fires sooner than TriggerMinimumInterval after its previous fire, and files that arrive
meanwhile roll into the next batch. The watcher polls: local paths and `file://` URLs.

Bounded (docs/limits.md "File arrival"): a watched path must lie under one of the operator's allowed
roots (`--file-arrival-root`, default the system temp directory) after resolving symlinks, and never
under /proc, /sys or /dev. Scans run on their own thread (`FileScanner`), never on the scheduler's, and
stop at `ScanLimits` (entries visited, directory depth): a scan over its bounds reports an error for the
trigger to record instead of a partial list that would be mistaken for arrivals.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.schedule import FileArrivalSpec

log = logging.getLogger(__name__)

# Kernel pseudo-filesystems: endless, changing and sometimes blocking to read. Never watched, whatever
# the allowed roots say, and never descended into by a scan of a root above them.
FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")
DEFAULT_MAX_SCAN_ENTRIES = 10_000
DEFAULT_MAX_SCAN_DEPTH = 16


def default_roots() -> tuple[str, ...]:
    """The system temp directory: where drop folders usually live, and never the server's own state."""
    return (tempfile.gettempdir(),)

FileKey = tuple[str, int, int]  # path, size, mtime in ns


def local_path(watched: str) -> str:
    if watched.startswith("file://"):
        return unquote(urlparse(watched).path)
    return watched


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _forbidden(path: str) -> str | None:
    return next((r for r in FORBIDDEN_ROOTS if _under(path, r)), None)


def check_watched_path(watched: str, roots: Iterable[str], field_path: str) -> str:
    """The resolved local directory a FILE_ARRIVAL trigger may watch; InvalidParameterValue naming the
    field when it is not absolute, lies (itself or through a symlink) under /proc, /sys or /dev, or
    outside every allowed root."""
    local = local_path(watched)
    if not os.path.isabs(local):
        raise InvalidParameterValue(f"{field_path} must be an absolute path or a file:// URL, got {watched!r}")
    resolved = os.path.realpath(local)
    for candidate in (os.path.normpath(local), resolved):
        bad = _forbidden(candidate)
        if bad is not None:
            raise InvalidParameterValue(f"{field_path} {watched!r} lies under {bad}, which is never watched")
    allowed = [os.path.realpath(r) for r in roots]
    if not any(_under(resolved, r) for r in allowed):
        raise InvalidParameterValue(
            f"{field_path} {watched!r} is outside the allowed file-arrival roots {allowed}"
            " (the operator adds roots with `trigflow up --file-arrival-root DIR`)"
        )
    return resolved


@dataclass(frozen=True)
class ScanLimits:
    max_entries: int = DEFAULT_MAX_SCAN_ENTRIES  # directory entries visited per scan (files and dirs)
    max_depth: int = DEFAULT_MAX_SCAN_DEPTH  # directory levels below the watched one


class ScanTooLarge(Exception):
    pass


def scan(spec: FileArrivalSpec, limits: ScanLimits | None = None) -> list[FileKey]:
    """Matching regular files under the watched path (unreadable parts are skipped, not fatal).

    Raises ScanTooLarge past `limits`; never descends into /proc, /sys or /dev, and re-resolves the
    watched path on every scan (a symlink swapped after the save cannot lead there either).
    """
    lim = limits or ScanLimits()
    root = os.path.realpath(local_path(spec.path))
    if _forbidden(root) is not None:
        raise ScanTooLarge(f"{spec.path} resolves to {root}, under a directory that is never watched")
    pattern = spec.name_pattern or "*"
    found: list[FileKey] = []
    stack = [(root, 0)]
    visited = 0
    while stack:
        directory, depth = stack.pop()
        entries: list[os.DirEntry[str]] = []
        try:
            with os.scandir(directory) as it:
                for entry in it:  # counted while listing: one huge directory is not read whole first
                    visited += 1
                    if visited > lim.max_entries:
                        raise ScanTooLarge(
                            f"more than {lim.max_entries} entries under {spec.path}; narrow FileArrivalPath"
                            " or turn Recursive off (the operator may raise --file-arrival-max-entries)"
                        )
                    entries.append(entry)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if spec.recursive and _forbidden(entry.path) is None:
                        if depth + 1 > lim.max_depth:
                            raise ScanTooLarge(
                                f"{spec.path} has directories more than {lim.max_depth} levels deep;"
                                " narrow FileArrivalPath or turn Recursive off"
                            )
                        stack.append((entry.path, depth + 1))
                    continue
                if not entry.is_file() or not fnmatch.fnmatchcase(entry.name, pattern):
                    continue
                st = entry.stat()
            except OSError:
                continue
            found.append((entry.path, st.st_size, st.st_mtime_ns))
    return sorted(found)


@dataclass(frozen=True)
class ScanResult:
    spec: FileArrivalSpec
    files: list[FileKey]
    error: str | None = None  # "FileArrivalScanLimit: ..." when the scan went over its bounds


class FileScanner:
    """Scans every watched directory each `interval_s` on its own thread and keeps the newest result per
    trigger for the scheduler to `take()`; `on_results` wakes the scheduler after a round.

    Why a thread: a large or slow directory (a network mount, thousands of files) must delay only the
    file-arrival triggers, never run starts, retries and time triggers.
    """

    def __init__(self, interval_s: float, limits: ScanLimits, on_results: Callable[[], None]) -> None:
        self.interval_s = interval_s
        self.limits = limits
        self.on_results = on_results
        self._specs: dict[str, FileArrivalSpec] = {}
        self._results: dict[str, ScanResult] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, specs: Mapping[str, FileArrivalSpec]) -> None:
        """Replace the set of watched triggers (the thread starts with the first one) and scan soon."""
        with self._lock:
            self._specs = dict(specs)
            self._results = {k: v for k, v in self._results.items() if k in self._specs}
        if specs and self._thread is None and not self._stopped.is_set():
            self._thread = threading.Thread(target=self._run, name="trigflow-file-scanner", daemon=True)
            self._thread.start()
        self._wake.set()

    def take(self) -> dict[str, ScanResult]:
        with self._lock:
            out, self._results = self._results, {}
        return out

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def scan_round(self) -> bool:
        """Scan every watched trigger once; True when there are results to take."""
        with self._lock:
            specs = dict(self._specs)
        for trigger_id, spec in specs.items():
            if self._stopped.is_set():
                return False
            result = scan_once(spec, self.limits)
            with self._lock:
                if self._specs.get(trigger_id) == spec:
                    self._results[trigger_id] = result
        return bool(specs)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            try:
                if self.scan_round():
                    self.on_results()
            except Exception:
                log.exception("file-arrival scan round failed; retrying next round")
            self._wake.wait(self.interval_s)


def scan_once(spec: FileArrivalSpec, limits: ScanLimits) -> ScanResult:
    try:
        return ScanResult(spec, scan(spec, limits))
    except ScanTooLarge as e:
        return ScanResult(spec, [], f"FileArrivalScanLimit: {e}")


@dataclass
class FileWatch:
    """The batching state of one FILE_ARRIVAL trigger; times are epoch ms."""

    trigger_id: str
    workflow_id: str
    project_id: str
    spec: FileArrivalSpec
    wait_ms: int
    min_interval_ms: int
    seen: set[FileKey] = field(default_factory=set)
    batch: dict[str, FileKey] = field(default_factory=dict)
    window_close_ms: int | None = None
    quiet_until_ms: int = 0
    baseline_pending: bool = False  # no scan recorded yet: the first one is the baseline, not arrivals
    error: str | None = None  # the last scan's error, recorded once per episode

    def observe(self, files: list[FileKey], now: int) -> None:
        for key in files:
            if key not in self.seen and self.batch.get(key[0]) != key:
                self.batch[key[0]] = key
                if self.window_close_ms is None:
                    self.window_close_ms = now + self.wait_ms

    def due_at(self) -> int | None:
        if self.window_close_ms is None:
            return None
        return max(self.window_close_ms, self.quiet_until_ms)

    def take_batch(self, now: int) -> list[FileKey]:
        """The files of the batch to fire now (and start the quiet interval)."""
        files = sorted(self.batch.values())
        self.seen.update(files)
        self.batch.clear()
        self.window_close_ms = None
        self.quiet_until_ms = now + self.min_interval_ms
        return files
