"""The pure parts of GetResourceGroupMetrics (domain/group_metrics.py): samples, the per-minute fold the
sampler stores, the trend buckets a request reads, and the request's window checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain import group_metrics as gm
from trigflow.domain.errors import InvalidParameterValue

MINUTE = 60_000


def test_a_sample_derives_usage_and_free_slots() -> None:
    assert gm.sample(3, 5, 4, None) == {"MaximumConcurrency": 4, "DevelopRunningTask": 3, "DevelopQueueTask": 5,
                                        "ConcurrencyUsage": 75, "FreeConcurrency": 1, "WorkerCount": None}  # fmt: skip
    lost = gm.sample(2, 1, 0, 0)  # a worker group whose workers are gone, its attempts not declared lost yet
    assert (lost["ConcurrencyUsage"], lost["FreeConcurrency"]) == (100, 0)
    assert gm.sample(0, 0, 0, 0)["ConcurrencyUsage"] == 0
    assert gm.sample(5, 0, 4, 2)["FreeConcurrency"] == 0  # over the limit after a lost worker: never negative


samples = st.builds(
    gm.sample,
    running=st.integers(0, 20),
    waiting=st.integers(0, 20),
    limit=st.integers(0, 20),
    workers=st.one_of(st.none(), st.integers(0, 5)),
)
timeline = st.lists(st.tuples(st.integers(0, 30 * MINUTE), samples), max_size=60).map(
    lambda xs: sorted(xs, key=lambda x: x[0])
)


def per_minute(points: list[tuple[int, gm.Sample]]) -> list[tuple[int, gm.Sample]]:
    """What the sampler stores: one folded row per minute."""
    return gm.buckets(points, 0, 10**12, MINUTE)


@given(timeline, st.integers(1, 15), st.integers(0, 30 * MINUTE), st.integers(0, 30 * MINUTE))
def test_buckets_from_stored_minutes_equal_buckets_from_the_raw_samples(
    points: list[tuple[int, gm.Sample]], granularity: int, a: int, b: int
) -> None:
    start, end = min(a, b), max(a, b)
    width = granularity * MINUTE
    assert gm.buckets(per_minute(points), start, end, width) == gm.buckets(points, start, end, width)


@given(timeline, st.integers(1, 15))
def test_every_bucket_is_aligned_ordered_and_reduces_each_metric_its_own_way(
    points: list[tuple[int, gm.Sample]], granularity: int
) -> None:
    width = granularity * MINUTE
    out = gm.buckets(points, 0, 30 * MINUTE, width)
    stamps = [at for at, _ in out]
    assert stamps == sorted(set(stamps)) and all(at % width == 0 for at in stamps)
    for at, folded in out:
        inside = [s for t, s in points if at <= t < at + width]
        assert inside, "a bucket without samples is left out"
        assert folded["DevelopRunningTask"] == max(s["DevelopRunningTask"] for s in inside)  # type: ignore[type-var]
        assert folded["DevelopQueueTask"] == max(s["DevelopQueueTask"] for s in inside)  # type: ignore[type-var]
        assert folded["FreeConcurrency"] == min(s["FreeConcurrency"] for s in inside)  # type: ignore[type-var]
        assert folded["MaximumConcurrency"] == inside[-1]["MaximumConcurrency"]
        known = [s["WorkerCount"] for s in inside if s["WorkerCount"] is not None]
        assert folded["WorkerCount"] == (known[-1] if known else None)


@given(samples, samples, samples)
def test_fold_is_associative(x: gm.Sample, y: gm.Sample, z: gm.Sample) -> None:
    assert gm.fold(gm.fold(x, y), z) == gm.fold(x, gm.fold(y, z))


def test_the_window_defaults_to_the_last_hour_by_minute_over_all_metrics() -> None:
    w = gm.window({}, now_ms=10 * 3_600_000)
    assert (w.start_ms, w.end_ms, w.granularity, w.metric_type) == (9 * 3_600_000, 10 * 3_600_000, 1, "all")
    assert gm.window({"EndTime": 7_200_000}, now_ms=0).start_ms == 3_600_000
    assert gm.window({"StartTime": 5}, now_ms=9).end_ms == 9
    assert gm.window({}, now_ms=100_000, minute_ms=1000).start_ms == 40_000  # --minute-seconds 1: 60 s


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"MetricType": "cpu"}, "MetricType"),
        ({"Granularity": 0}, "Granularity"),
        ({"Granularity": gm.RETENTION_MINUTES + 1}, "Granularity"),
        ({"StartTime": 2, "EndTime": 1}, "StartTime"),
        ({"StartTime": 0, "EndTime": gm.RETENTION_MINUTES * MINUTE + 1}, "StartTime"),
    ],
)
def test_a_bad_window_is_refused_naming_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameterValue, match=field):
        gm.window(params, now_ms=10**13)


def test_metric_data_lists_task_then_system_metrics_by_type() -> None:
    w = gm.window({}, now_ms=10 * MINUTE)
    snap = gm.sample(1, 0, 2, None)
    trend = [(9 * MINUTE, gm.sample(2, 1, 2, None))]
    data = gm.metric_data(w, snap, trend)
    assert [m["MetricName"] for m in data] == [*gm.TASK_METRICS, *gm.SYSTEM_METRICS]
    first = data[1]
    assert first == {"MetricName": "DevelopRunningTask", "SnapshotValue": 1,
                     "TrendList": [{"Timestamp": 9 * MINUTE, "Value": 2}]}  # fmt: skip
    assert data[5] == {"MetricName": "WorkerCount", "SnapshotValue": None, "TrendList": None}
    system = gm.metric_data(gm.window({"MetricType": "system"}, now_ms=MINUTE), snap, trend)
    assert all(m["SnapshotValue"] is None and m["TrendList"] is None for m in system)
