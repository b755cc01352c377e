"""GetResourceGroupMetrics: a resource group's capacity and load now, and their trend (issue 10 point 6).

Where the numbers come from: the engine's own slot counters (Execution.group_load: slots held and task
runs waiting for a slot, per group), the capacity rule (service/capacity.py) and the live workers. The
snapshot is read when the request comes, so it agrees with what GetTriggerWorkflowRun shows at that moment.

History: a sampler thread of the active scheduler's process reads those counters about once a second
(copies of in-memory dicts: no database read, nothing on the engine's thread), folds them into the current
minute per group (domain/group_metrics.py), and writes one row per group when the minute is over, then
prunes rows older than RETENTION_MINUTES. The hot path is untouched: no write per task, one small write
transaction per minute. The minute still being sampled is served from memory. A standby (no engine state)
answers from the stored rows, its snapshot being the latest stored minute.

`minute_ms` is the server's minute (60 s; `trigflow up --minute-seconds` shortens it for tests), so the
Granularity unit, the default window (one hour) and the retention scale with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trigflow.domain import group_metrics as gm
from trigflow.domain.errors import ResourceNotFound
from trigflow.executors.host_facts import host_facts
from trigflow.service.capacity import GroupCapacity
from trigflow.service.common import Clock
from trigflow.service.resources import ResourceGroups
from trigflow.store import group_metrics as mq
from trigflow.store.engine import Database

log = logging.getLogger(__name__)

GIB = 1 << 30
STATUS_RUNNING = 1  # ResourceGroupMetrics.Status: 1 running
STATUS_ABNORMAL = 2  # 2 running abnormally: a worker group without a live worker has no capacity

Load = tuple[dict[str, int], dict[str, int]]


class GroupMetrics:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        resources: ResourceGroups,
        capacity: GroupCapacity,
        *,
        minute_ms: int = 60_000,
        data_dir: Path | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.resources = resources
        self.capacity = capacity
        self.minute_ms = minute_ms
        self.data_dir = data_dir
        # Wired by the composition root: the engine's counters, and whether this process runs the engine.
        self.load: Callable[[], Load] = lambda: ({}, {})
        self.is_active: Callable[[], bool] = lambda: False
        self.period_s = max(0.05, min(1.0, minute_ms / 4000))
        self._lock = threading.Lock()
        self._minute: int | None = None
        self._acc: dict[str, gm.Sample] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._local_host = host_facts(data_dir) if data_dir is not None else None

    # --- sampling -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="trigflow-group-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.tick(self.clock())
            except Exception:  # the database went away: the next tick tries again
                log.warning("sampling resource-group metrics failed", exc_info=True)

    def samples(self) -> dict[str, gm.Sample]:
        """Every group's metrics now."""
        used, waiting = self.load()
        out: dict[str, gm.Sample] = {}
        for group in self.resources.group_ids():
            limit = self.capacity.limit(group)
            workers = len(self.capacity.live_workers(group)) if self.capacity.served_by_workers(group) else None
            out[group] = gm.sample(used.get(group, 0), waiting.get(group, 0), limit or 0, workers)
        return out

    def tick(self, now_ms: int) -> None:
        """One sample of every group into the current minute; the minute before is written when it ends."""
        if not self.is_active():
            with self._lock:
                self._minute, self._acc = None, {}
            return
        now_samples = self.samples()
        minute = gm.bucket_start(now_ms, self.minute_ms)
        with self._lock:
            if self._minute is not None and minute != self._minute and self._acc:
                with self.db.write() as conn:
                    mq.write_minute(conn, self._minute, self._acc)
                    mq.prune(conn, minute - gm.RETENTION_MINUTES * self.minute_ms)
                self._acc = {}
            self._minute = minute
            for group, s in now_samples.items():
                self._acc[group] = gm.fold(self._acc.get(group), s)

    # --- the action ---------------------------------------------------------------------------

    def get(self, p: Mapping[str, Any]) -> dict[str, Any]:
        group = str(p["ResourceGroupId"])
        if not self.resources.exists(group):
            raise ResourceNotFound(f"ResourceGroupId: resource group {group} does not exist")
        now = self.clock()
        w = gm.window(p, now, self.minute_ms)
        active = self.is_active()
        with self._lock:  # against a flush moving the current minute from memory to the table meanwhile
            with self.db.read() as conn:
                rows = mq.minutes(conn, group, gm.bucket_start(w.start_ms, self.minute_ms), w.end_ms)
                stored = None if active else mq.latest(conn, group)
            if active and self._minute is not None and group in self._acc:
                rows.append((self._minute, dict(self._acc[group])))
        if active:
            snapshot = self.samples().get(group) or _unknown()
        else:
            snapshot = stored[1] if stored is not None else _unknown()
        trend = gm.buckets(rows, w.start_ms, w.end_ms, w.granularity * self.minute_ms)
        served = self.capacity.served_by_workers(group)
        if served:
            status = STATUS_RUNNING if self.capacity.live_workers(group) else STATUS_ABNORMAL
        else:
            status = STATUS_RUNNING
        host = self._size(group, served)
        return {
            "CpuNum": host[0],
            "DiskVolume": host[1],
            "MemSize": host[2],
            "LifeCycle": None,  # a self-hosted group does not expire
            "MaximumConcurrency": snapshot.get("MaximumConcurrency"),
            "Status": status,
            "MetricSnapshots": gm.metric_data(w, snapshot, trend),
        }

    def _size(self, group: str, served: bool) -> tuple[int | None, int | None, int | None]:
        """(CpuNum, DiskVolume GiB, MemSize GiB): of this host for a local group; summed over the distinct
        hosts of the live workers for a worker group (null when one did not report it, or none is live)."""
        if served:
            hosts = self.capacity.live_hosts(group)
        else:
            hosts = [self._local_host] if self._local_host is not None else []
        return _total(hosts, "cpus", 1), _total(hosts, "disk_bytes", GIB), _total(hosts, "mem_bytes", GIB)


def _total(hosts: list[Mapping[str, Any] | None], key: str, unit: int) -> int | None:
    values = [h.get(key) if h is not None else None for h in hosts]
    if not values or any(not isinstance(v, int) or isinstance(v, bool) for v in values):
        return None
    return sum(values) // unit  # type: ignore[arg-type]


def _unknown() -> gm.Sample:
    return dict.fromkeys(gm.TASK_METRICS)
