"""A worker group's capacity is its live workers' slots, and GetResourceGroupMetrics shows it (issue 10
point 6, service/capacity.py, docs/workers.md "Capacity").

A real `trigflow up --broker` on Redis and real `trigflow worker` processes (the fixtures and helpers of
test_celery_workers.py). The group's slot count is 8, more than its workers have, so what bounds it is
visibly the workers: 2 workers x 2 slots start 4 of 6 tasks; a worker killed takes its 2 slots with it.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, start_server, wait_for
from tests.integration.helpers import get_run, new_workflow, start_run, wait_run
from tests.integration.test_celery_workers import (
    LEASE,
    Worker,
    gates,
    new_group,
    project,
    server_args,
    task,
    workers,
)

__all__ = ["gates", "workers"]  # fixtures used by name below

BROKER = "redis://127.0.0.1:6379/7"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("metrics-workers"), extra=server_args(BROKER))
    yield server
    server.stop()


def metrics(client: Any, group: str) -> dict[str, Any]:
    data = json.loads(client.call("GetResourceGroupMetrics", {"ResourceGroupId": group, "MetricType": "task"}))
    return dict(data["Response"]["Data"])


def snap(client: Any, group: str) -> dict[str, Any]:
    data = metrics(client, group)
    return {m["MetricName"]: m["SnapshotValue"] for m in data["MetricSnapshots"]} | {"Status": data["Status"]}


def states(client: Any, project_id: str, run_id: str) -> list[str]:
    return sorted(t.ExecutionState for t in get_run(client, project_id, run_id).TriggerTaskRuns)


def test_capacity_is_the_live_workers_slots_and_a_killed_worker_takes_its_slots_away(
    srv: Server, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client, slots=8)
    assert snap(client, group)["MaximumConcurrency"] == 8  # no worker yet: a local group, its slot count
    w1 = workers(srv, BROKER, group, f"m1-{uuid.uuid4().hex[:6]}", concurrency=2)
    w2 = workers(srv, BROKER, group, f"m2-{uuid.uuid4().hex[:6]}", concurrency=2)
    wait_for(lambda: snap(client, group)["WorkerCount"] == 2, what="both workers counted")
    now = snap(client, group)
    assert (now["MaximumConcurrency"], now["FreeConcurrency"], now["Status"]) == (4, 4, 1)  # 2 workers x 2 slots
    data = metrics(client, group)
    # the workers' host, reported with their heartbeats; both run on this host, which is counted once
    assert data["CpuNum"] == os.cpu_count()
    assert data["MemSize"] == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 30)
    assert isinstance(data["DiskVolume"], int)

    gate, trace = gates("m"), tmp_path / "m.trace"
    wf = new_workflow(client, project_id, f"metrics_w_{uuid.uuid4().hex[:6]}")
    for i in range(6):
        task(client, project_id, wf, f"t{i}", f"echo $TRIGFLOW_WORKER_NAME >> {trace}; "
             f"while [ ! -e {gate} ]; do sleep 0.05; done", group)  # fmt: skip
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: states(client, project_id, run_id) == ["PENDING"] * 2 + ["RUNNING"] * 4,
             what="4 of 6 tasks running: the workers' 4 slots, not the group's 8")  # fmt: skip
    wait_for(lambda: snap(client, group)["DevelopRunningTask"] == 4, what="the metrics to agree")
    now = snap(client, group)
    assert (now["DevelopQueueTask"], now["FreeConcurrency"], now["ConcurrencyUsage"]) == (2, 0, 100)
    # every dispatched attempt started, two on each worker (a message is taken only for a free slot)
    ran = wait_for(lambda: trace.exists() and len(trace.read_text().split()) == 4 and trace.read_text().split(),
                   timeout=15, what="the 4 attempts started on the workers")  # fmt: skip
    assert sorted(ran) == sorted([w1.name, w2.name] * 2)
    assert states(client, project_id, run_id) == ["PENDING"] * 2 + ["RUNNING"] * 4  # still: nothing more started

    w1.proc.send_signal(signal.SIGKILL)
    w1.proc.wait()
    wait_for(lambda: snap(client, group)["WorkerCount"] == 1, timeout=LEASE + 10, what="the killed worker gone")
    assert snap(client, group)["MaximumConcurrency"] == 2
    # its two attempts are lost (no retry) and their slots are not given to the waiting tasks: 2 is full
    wait_for(lambda: states(client, project_id, run_id) == ["FAILED"] * 2 + ["PENDING"] * 2 + ["RUNNING"] * 2,
             timeout=LEASE + 10, what="the killed worker's attempts lost")  # fmt: skip
    wait_for(lambda: snap(client, group)["DevelopRunningTask"] == 2, what="the lost slots released")
    now = snap(client, group)
    assert (now["MaximumConcurrency"], now["DevelopQueueTask"], now["FreeConcurrency"]) == (2, 2, 0)
    assert states(client, project_id, run_id) == ["FAILED"] * 2 + ["PENDING"] * 2 + ["RUNNING"] * 2

    def trend() -> dict[str, list[Any]]:
        snaps = metrics(client, group)["MetricSnapshots"]
        return {m["MetricName"]: [p["Value"] for p in m["TrendList"]] for m in snaps}

    # The next per-minute sample (a second here) shows the smaller group: the guard's report took the dead
    # worker away at once, so the test may get here before that sample is taken.
    wait_for(lambda: {4, 2} <= set(trend()["MaximumConcurrency"]) and 2 in trend()["WorkerCount"],
             timeout=10, what="the trend showing 4 then 2 slots")  # fmt: skip

    gate.touch()
    result = wait_run(client, project_id, run_id, timeout=60)
    assert sorted(t.ExecutionState for t in result.TriggerTaskRuns) == ["FAILED"] * 2 + ["SUCCESS"] * 4
    lost = [t.ErrorCodeStr for t in result.TriggerTaskRuns if t.ExecutionState == "FAILED"]
    assert all("died while running it" in (e or "") for e in lost), lost  # its guard reported it gone


def test_a_worker_group_without_a_live_worker_has_no_capacity_and_waits(
    srv: Server, workers: Callable[..., Worker], gates: Callable[[str], Path]
) -> None:
    client, project_id = project(srv)
    group = new_group(client, slots=8)
    w = workers(srv, BROKER, group, f"m3-{uuid.uuid4().hex[:6]}", concurrency=1)
    wait_for(lambda: snap(client, group)["MaximumConcurrency"] == 1, what="one worker's slot")
    w.proc.send_signal(signal.SIGTERM)
    w.proc.wait(timeout=20)
    wait_for(lambda: snap(client, group)["WorkerCount"] == 0, timeout=LEASE + 10, what="the worker gone")
    assert (snap(client, group)["MaximumConcurrency"], snap(client, group)["Status"]) == (0, 2)
    assert metrics(client, group)["CpuNum"] is None  # no live worker: no host to size the group by
    wf = new_workflow(client, project_id, f"metrics_z_{uuid.uuid4().hex[:6]}")
    task(client, project_id, wf, "t", "echo ran", group)
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: snap(client, group)["DevelopQueueTask"] == 1, what="the task waiting for a slot")
    run = get_run(client, project_id, run_id)
    assert [t.ExecutionState for t in run.TriggerTaskRuns] == ["PENDING"]  # not sent to a queue nobody reads
    workers(srv, BROKER, group, w.name, concurrency=1)  # a worker back: its slot is used at once
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
