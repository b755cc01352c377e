"""A restart of `trigflow up` during a run loses nothing: lost attempts are resolved, waiting work goes on."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.conftest import make_client, start_server, wait_for
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, task_states, wait_run


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1].split()[0] != "Z"


def test_without_a_keeper_a_crash_kills_orphans_marks_them_lost_and_continues(tmp_path: Path) -> None:
    """`--no-keeper` keeps the old contract (ADR 0005): a task that outlives the crash is killed and lost."""
    data = tmp_path / "data"
    server = start_server(data, extra=["--kill-grace", "1", "--no-keeper"])
    pidfile = tmp_path / "slow.pid"
    try:
        client = make_client(server.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "restart_wf")
        slow = new_task(client, project_id, wf, "slow", f"echo $$ > {pidfile}; sleep 60")
        new_task(
            client, project_id, wf, "cleanup", "echo cleaning", upstream=[slow], DependencyTriggerPolicy="ALL_DONE"
        )
        new_task(client, project_id, wf, "strict", "true", upstream=[slow])
        run_id = start_run(client, project_id, wf)
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="slow task started")
        task_pid = int(pidfile.read_text())
        assert _pid_alive(task_pid)
    finally:
        server.stop(signal.SIGKILL)  # a crash: no shutdown code runs

    assert _pid_alive(task_pid), "the task should survive the crash of the server (own session)"
    restarted = start_server(data, port=server.port, extra=["--kill-grace", "1", "--no-keeper"])
    try:
        client = make_client(restarted.endpoint)
        result = wait_run(client, project_id, run_id)
        assert task_states(result) == {"slow": "FAILED", "cleanup": "SUCCESS", "strict": "UPSTREAM_FAILED"}
        slow_run = next(t for t in result.TriggerTaskRuns if t.TaskName == "slow")
        assert slow_run.ErrorCodeStr.startswith("ExecutorLost")
        assert result.TriggerWorkflowRun.ExecutionState == "FAILED"
        wait_for(lambda: not _pid_alive(task_pid), timeout=10, what="orphaned task process killed")
        # The server is healthy for new work after recovery.
        again = wait_run(client, project_id, start_run(client, project_id, wf, TaskIds=[slow]), states={"RUNNING"})
        assert again.TriggerWorkflowRun.ExecutionState == "RUNNING"
        call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": wf, "All": True})
    finally:
        restarted.stop()


def test_graceful_stop_then_start_resumes_queued_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    client: Any = make_client(server.endpoint)
    project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
    wf = new_workflow(client, project_id, "graceful_wf")
    new_task(client, project_id, wf, "one", "true")
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id)
    assert server.stop(signal.SIGTERM) == 0
    restarted = start_server(data, port=server.port)
    try:
        client = make_client(restarted.endpoint)
        assert get_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        second = wait_run(client, project_id, start_run(client, project_id, wf))
        assert second.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    finally:
        restarted.stop()
