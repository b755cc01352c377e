"""Two `trigflow up` processes on one database: one active scheduler, one standby that takes over."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_client, pg_schema, start_server, wait_for
from tests.integration.helpers import call, new_task, new_workflow, start_run, wait_run


def role(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        return str(json.load(r)["scheduler_role"])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    with pg_schema("tf_standby") as url:
        yield url


def test_standby_serves_the_api_and_takes_over_when_the_leader_stops(tmp_path: Path, db_url: str) -> None:
    a = start_server(tmp_path / "a", db_url=db_url, extra=["--kill-grace", "1"])
    b = start_server(tmp_path / "b", db_url=db_url, extra=["--kill-grace", "1"])
    try:
        assert wait_for(lambda: role(a.port) == "leader", what="a leads")
        assert role(b.port) == "standby"
        via_b = make_client(b.endpoint)
        project_id = str(call(via_b, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(via_b, project_id, "standby_wf")
        new_task(via_b, project_id, wf, "t", "true")
        first = start_run(via_b, project_id, wf)  # created by b, executed by the active scheduler a
        assert wait_run(via_b, project_id, first).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        gate = tmp_path / "gate"
        held = new_workflow(via_b, project_id, "standby_hold")
        new_task(via_b, project_id, held, "hold", f"while [ ! -e {gate} ]; do sleep 0.02; done")
        running = start_run(via_b, project_id, held)
        wait_run(via_b, project_id, running, states={"RUNNING"})
        # A kill sent to the standby is handed to the active scheduler, which stops the process.
        kill = {"ProjectId": project_id, "WorkflowId": held, "WorkflowExecutionIdList": [running]}
        (answer,) = call(via_b, "KillTriggerWorkflowRuns", kill)
        assert (answer.ItemId, answer.OpStatus) == (running, True)
        killed = wait_run(via_b, project_id, running)
        assert killed.TriggerWorkflowRun.ExecutionState == "KILLED"
        assert [t.ExecutionState for t in killed.TriggerTaskRuns] == ["KILLED"]
        (again,) = call(via_b, "KillTriggerWorkflowRuns", kill)  # already finished: answered, not killed
        assert again.OpStatus is False and "KILLED" in (again.ErrorMessage or "")
        a.stop()
        assert wait_for(lambda: role(b.port) == "leader", what="b takes over")
        second = start_run(via_b, project_id, wf)
        assert wait_run(via_b, project_id, second).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    finally:
        a.stop()
        b.stop()


def test_two_processes_on_postgresql_fire_each_trigger_tick_once_across_a_failover(tmp_path: Path) -> None:

    with pg_schema("tf_fail") as url:
        failover(tmp_path, url)


def failover(tmp_path: Path, url: str) -> None:
    import signal

    a = start_server(tmp_path / "a", db_url=url, extra=["--rate-limit", "1000"])
    b = start_server(tmp_path / "b", db_url=url, extra=["--rate-limit", "1000"])
    try:
        wait_for(lambda: role(a.port) == "leader", what="a leads")
        client = make_client(b.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        every_second = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CycleType": "CRONTAB_CYCLE",
                        "CrontabExpression": "* * * * * ? *", "SchedulerStatus": "ACTIVE"}  # fmt: skip
        wf = new_workflow(client, project_id, "ha_cron", TriggerWorkflowSchedulerConfigurations=[every_second],
                          TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 100})  # fmt: skip
        new_task(client, project_id, wf, "t", "true")

        def fire_times() -> list[int]:
            by_wf = [{"Name": "WorkflowId", "Values": [wf]}]
            items = call(
                client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": by_wf, "PageSize": 200}
            )
            return sorted(int(r.ScheduleTime) for r in items.Items)

        wait_for(lambda: len(fire_times()) >= 3, timeout=20, what="fires from a")
        a.stop(signal.SIGKILL)  # the leader dies without a word
        wait_for(lambda: role(b.port) == "leader", timeout=20, what="b takes over")
        count = len(fire_times())
        wait_for(lambda: len(fire_times()) >= count + 3, timeout=20, what="fires from b")
        times = fire_times()
        assert len(times) == len(set(times)), "a nominal second fired twice"
        assert all(t % 1000 == 0 for t in times)
    finally:
        a.stop()
        b.stop()
