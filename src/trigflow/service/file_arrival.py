"""FILE_ARRIVAL triggers (semantics.md §2.3, decisions.md Q-TR1): new matching files fire one run per batch.

A file is new when its (path, size, mtime) has not triggered a run before, so a rewritten file counts
again and an untouched one never does — across restarts too, because the files of every fired batch
are stored with the fire. After the first new file, the trigger waits TriggerWaitTime for the batch to
settle, then fires one run with the batch's paths as the parameter `file_arrival_paths` (a JSON list);
it never fires sooner than TriggerMinimumInterval after its previous fire, and files that arrive
meanwhile roll into the next batch. The watcher polls: local paths and `file://` URLs.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from trigflow.domain.schedule import FileArrivalSpec

FileKey = tuple[str, int, int]  # path, size, mtime in ns


def local_path(watched: str) -> str:
    if watched.startswith("file://"):
        return unquote(urlparse(watched).path)
    return watched


def scan(spec: FileArrivalSpec) -> list[FileKey]:
    """Matching regular files under the watched path (unreadable parts are skipped, not fatal)."""
    root = local_path(spec.path)
    pattern = spec.name_pattern or "*"
    found: list[FileKey] = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if spec.recursive:
                        stack.append(entry.path)
                    continue
                if not entry.is_file() or not fnmatch.fnmatchcase(entry.name, pattern):
                    continue
                st = entry.stat()
            except OSError:
                continue
            found.append((entry.path, st.st_size, st.st_mtime_ns))
    return sorted(found)


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
