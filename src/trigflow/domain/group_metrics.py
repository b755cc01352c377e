"""Resource-group metrics (GetResourceGroupMetrics): what one sample holds, how samples fold into
one stored row per group per minute, and how minutes fold into the trend buckets a request asks for.

Pure, no I/O: the service samples the engine, this module only reduces numbers. Every metric has one
reducer (the peak for counts and usage, the lowest value for free slots, the latest value for gauges of
the group's size), and every reducer is associative, so a bucket of G minutes built from the stored
per-minute rows holds exactly what it would hold if built from the raw samples (tests/unit: a hypothesis
property). Metric names are the official MetricData names where one means what trigflow measures; two
trigflow additions (FreeConcurrency, WorkerCount) follow the same naming (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from trigflow.domain.errors import InvalidParameterValue

Reducer = Literal["max", "min", "last"]

#: Task metrics: name -> reducer. Order is the order of MetricSnapshots in a response.
TASK_METRICS: dict[str, Reducer] = {
    "MaximumConcurrency": "last",  # the slot limit the engine enforces now
    "DevelopRunningTask": "max",  # task runs holding a slot (RUNNING processes)
    "DevelopQueueTask": "max",  # task runs waiting for a slot (WaitingExecutionResource)
    "ConcurrencyUsage": "max",  # 100 * running / limit, rounded
    "FreeConcurrency": "min",  # trigflow: limit - running, never below 0
    "WorkerCount": "last",  # trigflow: live workers of a worker group; null for a local group
}
#: System metrics trigflow does not measure: listed with null values so a client sees "not measured".
SYSTEM_METRICS: tuple[str, ...] = ("CpuCoreUsage", "CpuLoad", "DiskUsage", "DiskUsed", "MemoryLoad", "MemoryUsage")
METRIC_TYPES = ("all", "task", "system")

RETENTION_MINUTES = 24 * 60  # rows older than this are pruned; the longest window a request may ask for
DEFAULT_WINDOW_MINUTES = 60  # StartTime's default: the last hour (the SDK docstring)
DEFAULT_GRANULARITY = 1  # minutes (the SDK docstring)

Sample = dict[str, int | None]


def sample(running: int, waiting: int, limit: int, workers: int | None) -> Sample:
    """One observation of a group: every task metric's value at one instant."""
    # limit 0: a worker group whose workers are gone (its attempts may still run until declared lost)
    usage = round(100 * running / limit) if limit > 0 else (100 if running else 0)
    return {
        "MaximumConcurrency": limit,
        "DevelopRunningTask": running,
        "DevelopQueueTask": waiting,
        "ConcurrencyUsage": usage,
        "FreeConcurrency": max(0, limit - running),
        "WorkerCount": workers,
    }


def _reduce(kind: Reducer, a: int | None, b: int | None) -> int | None:
    """Fold `b` (the later value) into `a`; None means "not measured" and never wins over a number."""
    if kind == "last":
        return b if b is not None else a
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b) if kind == "max" else min(a, b)


def fold(acc: Sample | None, later: Sample) -> Sample:
    """Two consecutive observations (or reductions of consecutive spans) as one."""
    if acc is None:
        return dict(later)
    return {name: _reduce(kind, acc.get(name), later.get(name)) for name, kind in TASK_METRICS.items()}


def bucket_start(at_ms: int, width_ms: int) -> int:
    return at_ms - at_ms % width_ms


def buckets(
    rows: Iterable[tuple[int, Sample]], start_ms: int, end_ms: int, width_ms: int
) -> list[tuple[int, Sample]]:
    """Fold time-ordered (stamp, sample) pairs into buckets of `width_ms` aligned on the epoch, keeping
    the buckets that start in [bucket_start(start), end]. A bucket without data is left out: trigflow
    did not observe the group then (the server was down, or the group did not exist)."""
    first = bucket_start(start_ms, width_ms)
    out: dict[int, Sample] = {}
    for at, s in rows:
        b = bucket_start(at, width_ms)
        if first <= b <= end_ms:
            out[b] = fold(out.get(b), s)
    return sorted(out.items())


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int
    granularity: int  # minutes
    metric_type: str


def window(p: Mapping[str, object], now_ms: int, minute_ms: int = 60_000) -> Window:
    """The request's time window, defaults filled in, or InvalidParameterValue naming the field."""
    metric_type = p.get("MetricType")
    metric_type = "all" if metric_type is None else metric_type
    if metric_type not in METRIC_TYPES:
        raise InvalidParameterValue(f"MetricType must be one of {list(METRIC_TYPES)}, got {metric_type!r}")
    granularity = p.get("Granularity")
    granularity = DEFAULT_GRANULARITY if granularity is None else granularity
    if not isinstance(granularity, int) or not 1 <= granularity <= RETENTION_MINUTES:
        raise InvalidParameterValue(
            f"Granularity must be a whole number of minutes in 1..{RETENTION_MINUTES}, got {granularity!r}"
        )
    end = _int_or(p, "EndTime", now_ms)
    start = _int_or(p, "StartTime", end - DEFAULT_WINDOW_MINUTES * minute_ms)
    if start > end:
        raise InvalidParameterValue(f"StartTime ({start}) must not be after EndTime ({end}); both in milliseconds")
    if end - start > RETENTION_MINUTES * minute_ms:
        raise InvalidParameterValue(
            f"StartTime: the window EndTime - StartTime is {end - start} ms, longer than the "
            f"{RETENTION_MINUTES * minute_ms} ms ({RETENTION_MINUTES} minutes) of metrics trigflow keeps"
        )
    return Window(start, end, granularity, str(metric_type))


def _int_or(p: Mapping[str, object], key: str, default: int) -> int:
    value = p.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):  # the wire schema checked uint64 already
        raise InvalidParameterValue(f"{key} must be a time in milliseconds, got {value!r}")
    return value


def metric_data(
    w: Window, snapshot: Sample, trend: Sequence[tuple[int, Sample]]
) -> list[dict[str, object]]:
    """MetricSnapshots for the window: SnapshotValue now, TrendList per bucket (SDK MetricData/TrendData)."""
    out: list[dict[str, object]] = []
    if w.metric_type in ("all", "task"):
        for name in TASK_METRICS:
            if snapshot.get(name) is None:  # WorkerCount of a local group: nothing to count
                out.append({"MetricName": name, "SnapshotValue": None, "TrendList": None})
                continue
            points = [{"Timestamp": at, "Value": s[name]} for at, s in trend if s.get(name) is not None]
            out.append({"MetricName": name, "SnapshotValue": snapshot[name], "TrendList": points})
    if w.metric_type in ("all", "system"):
        out.extend({"MetricName": name, "SnapshotValue": None, "TrendList": None} for name in SYSTEM_METRICS)
    return out
