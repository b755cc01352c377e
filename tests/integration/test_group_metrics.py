"""GetResourceGroupMetrics on a local group (issue 10 point 6, docs/api.md "Resource-group metrics").

A real `trigflow up` with a 2-slot default group and 1-second "minutes" (`--minute-seconds 1`), so the
per-minute rows are written within the test. Tasks are gated on files; every wait is a condition with a
deadline. The snapshot must agree with what GetTriggerWorkflowRun shows; the trend must keep the peak,
in memory for the current minute and in the table after it, across a restart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import call, fails, get_run, new_task, new_workflow, start_run, wait_run

TASK_NAMES = ["MaximumConcurrency", "DevelopRunningTask", "DevelopQueueTask", "ConcurrencyUsage",
              "FreeConcurrency", "WorkerCount"]  # fmt: skip
SYSTEM_NAMES = ["CpuCoreUsage", "CpuLoad", "DiskUsage", "DiskUsed", "MemoryLoad", "MemoryUsage"]
ARGS = ["--slots", "2", "--minute-seconds", "1", "--rate-limit", "1000"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("metrics-server"), extra=ARGS)
    yield server
    server.stop()


def project(server: Server) -> tuple[Any, str]:
    client = make_client(server.endpoint)
    return client, str(call(client, "ListProjects", {}).Items[0].ProjectId)


def default_group(client: Any) -> str:
    items = call(client, "ListResourceGroups", {"Name": "default"}).Items
    return str(next(g.Id for g in items if g.Name == "default"))


def metrics(client: Any, group: str, **params: Any) -> dict[str, Any]:
    """The raw response Data (a dict), so the test sees exactly the JSON the SDK decodes."""
    raw = json.loads(client.call("GetResourceGroupMetrics", {"ResourceGroupId": group, **params}))
    return dict(raw["Response"]["Data"])


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["MetricName"]: m for m in data["MetricSnapshots"]}


def snap(data: dict[str, Any]) -> dict[str, Any]:
    return {name: m["SnapshotValue"] for name, m in by_name(data).items()}


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Callable[[], Path]]:
    made: list[Path] = []

    def make() -> Path:
        made.append(tmp_path / f"gate-{uuid.uuid4().hex[:6]}")
        return made[-1]

    yield make
    for path in made:
        path.touch()


def gated_workflow(client: Any, project_id: str, n: int, gate: Path) -> str:
    wf = new_workflow(client, project_id, f"metrics_{uuid.uuid4().hex[:8]}")
    for i in range(n):
        new_task(client, project_id, wf, f"t{i}", f"while [ ! -e {gate} ]; do sleep 0.05; done")
    return wf


def test_the_sdk_model_decodes_every_declared_field(srv: Server) -> None:
    from tencentcloud.wedata.v20250806 import models

    client, _ = project(srv)
    group = default_group(client)
    req = models.GetResourceGroupMetricsRequest()
    req.ResourceGroupId = group
    data = client.GetResourceGroupMetrics(req).Data
    assert data.MaximumConcurrency == 2 and data.Status == 1 and data.LifeCycle is None
    assert isinstance(data.CpuNum, int) and data.CpuNum >= 1
    assert isinstance(data.MemSize, int) and isinstance(data.DiskVolume, int)
    assert [m.MetricName for m in data.MetricSnapshots] == TASK_NAMES + SYSTEM_NAMES
    raw = metrics(client, group)
    assert set(raw) == {"CpuNum", "DiskVolume", "MemSize", "LifeCycle", "MaximumConcurrency", "Status",
                        "MetricSnapshots"}  # fmt: skip
    for m in raw["MetricSnapshots"]:
        assert set(m) == {"MetricName", "SnapshotValue", "TrendList"}
    assert snap(raw)["WorkerCount"] is None and by_name(raw)["WorkerCount"]["TrendList"] is None  # a local group
    assert all(snap(raw)[n] is None for n in SYSTEM_NAMES)  # not measured, said as null
    assert [m["MetricName"] for m in metrics(client, group, MetricType="task")["MetricSnapshots"]] == TASK_NAMES
    assert [m["MetricName"] for m in metrics(client, group, MetricType="system")["MetricSnapshots"]] == SYSTEM_NAMES


def test_running_and_waiting_tasks_show_as_slots_used_free_and_queued_and_the_trend_keeps_the_peak(
    srv: Server, gate: Callable[[], Path], tmp_path: Path
) -> None:
    client, project_id = project(srv)
    group = default_group(client)
    g = gate()
    wf = gated_workflow(client, project_id, 4, g)
    run_id = start_run(client, project_id, wf)

    def two_running() -> Any:
        d = get_run(client, project_id, run_id)
        states = sorted(t.ExecutionState for t in d.TriggerTaskRuns)
        return d if states == ["PENDING", "PENDING", "RUNNING", "RUNNING"] else None

    wait_for(two_running, what="two tasks running, two waiting for a slot")
    now = snap(metrics(client, group))
    assert now == {"MaximumConcurrency": 2, "DevelopRunningTask": 2, "DevelopQueueTask": 2, "ConcurrencyUsage": 100,
                   "FreeConcurrency": 0, "WorkerCount": None, **dict.fromkeys(SYSTEM_NAMES)}  # fmt: skip

    def peak_in_trend() -> Any:
        trend = by_name(metrics(client, group, MetricType="task"))
        points = {n: [p["Value"] for p in trend[n]["TrendList"]] for n in TASK_NAMES[:5]}
        return points if 2 in points["DevelopRunningTask"] and 2 in points["DevelopQueueTask"] else None

    points = wait_for(peak_in_trend, what="the sampler to see two running and two waiting")
    assert 100 in points["ConcurrencyUsage"] and 0 in points["FreeConcurrency"]
    assert set(points["MaximumConcurrency"]) == {2}
    g.touch()
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    wait_for(lambda: snap(metrics(client, group))["DevelopRunningTask"] == 0, what="slots released")
    after = snap(metrics(client, group))
    assert (after["DevelopQueueTask"], after["FreeConcurrency"], after["ConcurrencyUsage"]) == (0, 2, 0)

    # Buckets: aligned on Granularity "minutes" (1 s here), oldest first, each metric reduced per bucket.
    data = metrics(client, group, Granularity=5)
    running = by_name(data)["DevelopRunningTask"]["TrendList"]
    stamps = [p["Timestamp"] for p in running]
    assert stamps == sorted(stamps) and all(s % 5000 == 0 for s in stamps)
    assert max(p["Value"] for p in running) == 2


def test_the_trend_is_stored_per_minute_and_survives_a_restart(gate: Callable[[], Path], tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    server = start_server(data_dir, extra=ARGS)
    try:
        client, project_id = project(server)
        group = default_group(client)
        g = gate()
        run_id = start_run(client, project_id, gated_workflow(client, project_id, 3, g))
        wait_for(lambda: snap(metrics(client, group))["DevelopQueueTask"] == 1, what="one task waiting")
        t0 = int(wait_for(lambda: [p["Timestamp"] for p in by_name(metrics(client, group))["DevelopQueueTask"]
                                   ["TrendList"] if p["Value"] == 1], what="a sampled minute")[0])  # fmt: skip
        # the minute after t0 began: t0's row is in the table now
        wait_for(lambda: any(p["Timestamp"] > t0 for p in by_name(metrics(client, group))["DevelopRunningTask"]
                             ["TrendList"]), what="the next minute sampled")  # fmt: skip
        g.touch()
        wait_run(client, project_id, run_id)
    finally:
        server.stop()
    restarted = start_server(data_dir, port=server.port, extra=ARGS)
    try:
        client, _ = project(restarted)
        window = {"StartTime": t0, "EndTime": t0 + 999}
        stored = by_name(metrics(client, group, **window))
        assert stored["DevelopRunningTask"]["TrendList"] == [{"Timestamp": t0, "Value": 2}]
        assert stored["DevelopQueueTask"]["TrendList"] == [{"Timestamp": t0, "Value": 1}]
        assert stored["MaximumConcurrency"]["TrendList"] == [{"Timestamp": t0, "Value": 2}]
    finally:
        restarted.stop()


def test_bad_requests_get_the_exact_code_naming_the_field(srv: Server) -> None:
    client, _ = project(srv)
    group = default_group(client)
    fails(client, "GetResourceGroupMetrics", {"ResourceGroupId": "20990101000000000000"}, "ResourceNotFound",
          "ResourceGroupId", "20990101000000000000")  # fmt: skip
    fails(client, "GetResourceGroupMetrics", {}, "MissingParameter", "ResourceGroupId")
    bad_value = [
        ({"MetricType": "cpu"}, "MetricType"),
        ({"MetricType": "ALL"}, "MetricType"),
        ({"Granularity": 0}, "Granularity"),
        ({"Granularity": 1441}, "Granularity"),
        ({"StartTime": 2_000_000, "EndTime": 1_000_000}, "StartTime"),
        ({"StartTime": 0, "EndTime": 24 * 60 * 1000 + 1}, "StartTime"),  # over the retention: 1440 minutes of 1 s
    ]
    for params, field in bad_value:
        fails(client, "GetResourceGroupMetrics", {"ResourceGroupId": group, **params}, "InvalidParameterValue", field)
    fails(client, "GetResourceGroupMetrics", {"ResourceGroupId": group, "StartTime": "soon"}, "InvalidParameter",
          "StartTime")  # fmt: skip
    fails(client, "GetResourceGroupMetrics", {"ResourceGroupId": group, "Granularity": -1}, "InvalidParameter",
          "Granularity")  # fmt: skip


def test_a_standby_answers_from_the_stored_minutes(gate: Callable[[], Path], tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    active = start_server(tmp_path / "a", db_url=db_url, extra=ARGS)
    standby = start_server(tmp_path / "b", db_url=db_url, extra=ARGS)
    try:
        client, project_id = project(active)
        via_standby = make_client(standby.endpoint)
        group = default_group(client)
        g = gate()
        run_id = start_run(client, project_id, gated_workflow(client, project_id, 3, g))
        wait_for(lambda: snap(metrics(client, group))["DevelopQueueTask"] == 1, what="one task waiting")

        def stored_on_standby() -> Any:
            s = snap(metrics(via_standby, group))
            return s if s["DevelopQueueTask"] == 1 else None

        # the standby runs no engine: its snapshot is the latest minute the active scheduler stored
        s = wait_for(stored_on_standby, what="a minute stored and read by the standby")
        assert (s["MaximumConcurrency"], s["DevelopRunningTask"], s["FreeConcurrency"]) == (2, 2, 0)
        trend = by_name(metrics(via_standby, group))["DevelopRunningTask"]["TrendList"]
        assert trend and max(p["Value"] for p in trend) == 2
        g.touch()
        wait_run(client, project_id, run_id)
    finally:
        active.stop()
        standby.stop()
