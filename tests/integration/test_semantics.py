"""Run semantics through the official SDK against a real server: dependency policies past failures,
retries, timeouts, workflow concurrency and queueing, dry runs. The session server runs with
`--minute-seconds 0.2`, so one "minute" of RetryWaitMinute / *TTLMinute lasts 0.2 s here."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import wait_for
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, task_states, wait_run

MINUTE_MS = 200


def name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def runs_of(data: Any) -> dict[str, Any]:
    return {t.TaskName: t for t in data.TriggerTaskRuns}


def test_failure_handlers_run_and_skip_wins_over_failure_under_all_success(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, name("policies"))
    ok = new_task(client, project_id, wf, "ok", "true")
    boom = new_task(client, project_id, wf, "boom", "exit 7")
    skipped = new_task(client, project_id, wf, "only_if_all_failed", "true", upstream=[ok],
                       DependencyTriggerPolicy="ALL_FAILED")  # fmt: skip
    new_task(client, project_id, wf, "on_failure", "true", upstream=[ok, boom], DependencyTriggerPolicy="ONE_FAILED")
    new_task(client, project_id, wf, "always", "true", upstream=[ok, boom], DependencyTriggerPolicy="ALL_DONE")
    new_task(client, project_id, wf, "strict", "true", upstream=[skipped, boom])  # ALL_SUCCESS: SKIP wins (Q-T6)
    new_task(client, project_id, wf, "after_failure", "true", upstream=[boom])
    new_task(
        client, project_id, wf, "none_failed", "true", upstream=[ok, skipped], DependencyTriggerPolicy="NONE_FAILED"
    )
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data) == {
        "ok": "SUCCESS",
        "boom": "FAILED",
        "only_if_all_failed": "SKIP",
        "on_failure": "SUCCESS",
        "always": "SUCCESS",
        "strict": "SKIP",
        "after_failure": "UPSTREAM_FAILED",
        "none_failed": "SUCCESS",
    }
    assert data.TriggerWorkflowRun.ExecutionState == "FAILED"  # Q-R1: any failure fails the run


def test_retry_until_success_keeps_one_record_and_logs_every_attempt(
    client: Any, project_id: str, tmp_path: Path, server: Any
) -> None:
    counter = tmp_path / "count"
    script = f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; echo attempt $n; [ "$n" -ge 2 ]'
    wf = new_workflow(client, project_id, name("retry_ok"))
    t = new_task(client, project_id, wf, "flaky", script, MaxRetryNumber=3, RetryWaitMinute=0)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    flaky = runs_of(data)["flaky"]
    assert (flaky.ExecutionState, flaky.RetryTimes, flaky.ErrorCodeStr) == ("SUCCESS", 2, None)
    assert counter.read_text().strip() == "3"
    logs = sorted(p.name for p in (server.data_dir / "runs" / run_id).glob("*.log"))
    assert logs == [f"{t}.0.0.log", f"{t}.1.0.log", f"{t}.2.0.log"]
    assert (server.data_dir / "runs" / run_id / f"{t}.1.0.log").read_text().strip() == "attempt 1"
    by_run = [{"Name": "WorkflowExecutionId", "Values": [run_id]}]
    listed = call(client, "ListTriggerTaskRuns", {"ProjectId": project_id, "Filters": by_run})
    assert listed.TotalCount == 1  # retries reuse the task run (Q-T4)


def test_retries_exhausted_fail_after_waiting_between_attempts(client: Any, project_id: str, tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    wf = new_workflow(client, project_id, name("retry_fail"))
    new_task(
        client, project_id, wf, "hopeless", f"date +%s%3N >> {stamps}; exit 2", MaxRetryNumber=2, RetryWaitMinute=1
    )
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    hopeless = runs_of(data)["hopeless"]
    assert (hopeless.ExecutionState, hopeless.RetryTimes, hopeless.ErrorCodeStr) == ("FAILED", 2, "exit code 2")
    starts = [int(x) for x in stamps.read_text().split()]
    assert len(starts) == 3  # 1 + MaxRetryNumber attempts (Q-T3)
    assert all(b - a >= MINUTE_MS - 20 for a, b in itertools.pairwise(starts))  # RetryWaitMinute honoured


def test_state_during_retry_wait_is_pending_with_the_previous_error(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, name("retry_wait"))
    new_task(client, project_id, wf, "slow_retry", "exit 5", MaxRetryNumber=1, RetryWaitMinute=50)  # 10 s wait
    run_id = start_run(client, project_id, wf)

    def waiting() -> Any:
        t = runs_of(get_run(client, project_id, run_id))["slow_retry"]
        return t if t.RetryTimes == 1 else None

    t = wait_for(waiting, what="first attempt failed")
    assert t.ExecutionState == "PENDING" and t.ErrorCodeStr.startswith("exit code 5; retry 1 of 1 at ")  # Q-T4
    res = call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": wf, "All": True})
    assert [r.OpStatus for r in res] == [True]
    assert runs_of(get_run(client, project_id, run_id))["slow_retry"].ExecutionState == "KILLED"


def test_execution_timeout_kills_the_group_and_is_not_retried(client: Any, project_id: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    wf = new_workflow(client, project_id, name("exec_ttl"))
    new_task(client, project_id, wf, "stuck", f"echo $$ > {pidfile}; sleep 60", ExecutionTTLMinute=1, MaxRetryNumber=3)
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    stuck = runs_of(data)["stuck"]
    assert stuck.ExecutionState == "FAILED" and stuck.ErrorCodeStr.startswith("ExecutionTimeout")
    assert stuck.RetryTimes == 0  # timeouts are final (Q-T5)
    pid = int(pidfile.read_text())
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2],
             what="timed-out process killed")  # fmt: skip


def test_wait_timeout_fails_a_task_that_never_started_in_time(client: Any, project_id: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    wf = new_workflow(client, project_id, name("wait_ttl"))
    slow = new_task(client, project_id, wf, "slow", f"while [ ! -e {gate} ]; do sleep 0.02; done")
    new_task(client, project_id, wf, "impatient", "true", upstream=[slow], WaitExecutionTotalTTLMinute=1)
    run_id = start_run(client, project_id, wf)

    def timed_out() -> bool:
        return runs_of(get_run(client, project_id, run_id))["impatient"].ExecutionState == "FAILED"

    wait_for(timed_out, what="wait timeout")
    gate.touch()
    data = wait_run(client, project_id, run_id)
    assert runs_of(data)["impatient"].ErrorCodeStr.startswith("WaitTimeout")
    assert runs_of(data)["impatient"].ExecutionStartTime is None
    assert task_states(data) == {"slow": "SUCCESS", "impatient": "FAILED"}


def test_concurrency_limit_queues_runs_fifo(client: Any, project_id: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    wf = new_workflow(
        client, project_id, name("queue"), TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 1, "QueuingMode": 1}
    )
    new_task(client, project_id, wf, "hold", f"while [ ! -e {gate} ]; do sleep 0.02; done")
    first = start_run(client, project_id, wf)
    wait_run(client, project_id, first, states={"RUNNING"})
    second, third = start_run(client, project_id, wf), start_run(client, project_id, wf)
    queued = get_run(client, project_id, second).TriggerWorkflowRun
    assert queued.ExecutionState == "QUEUED"
    assert queued.QueueStartTime is not None and queued.PendingStartTime is None
    assert queued.ErrorCodeStr is None  # Q-S2: null while waiting for a concurrency slot
    assert task_states(get_run(client, project_id, second)) == {"hold": "PENDING"}
    gate.touch()
    done = [wait_run(client, project_id, r).TriggerWorkflowRun for r in (first, second, third)]
    assert [r.ExecutionState for r in done] == ["SUCCESS", "SUCCESS", "SUCCESS"]
    assert int(done[1].PendingStartTime) >= int(done[0].ExecutionEndTime)  # admitted when the first finished
    assert int(done[2].ExecutionStartTime) >= int(done[1].ExecutionEndTime)  # FIFO, one at a time
    assert int(done[1].QueueCostTime) >= 0


def test_queueing_off_skips_a_run_that_finds_no_slot(client: Any, project_id: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    wf = new_workflow(
        client, project_id, name("noqueue"), TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 1, "QueuingMode": 0}
    )
    new_task(client, project_id, wf, "hold", f"while [ ! -e {gate} ]; do sleep 0.02; done")
    first = start_run(client, project_id, wf)
    wait_run(client, project_id, first, states={"RUNNING"})
    skipped = wait_run(client, project_id, start_run(client, project_id, wf))
    assert skipped.TriggerWorkflowRun.ExecutionState == "SKIPED"
    assert skipped.TriggerWorkflowRun.ErrorCodeStr == "ConcurrencyLimitSkipped"
    assert task_states(skipped) == {"hold": "SKIP"}
    gate.touch()
    assert wait_run(client, project_id, first).TriggerWorkflowRun.ExecutionState == "SUCCESS"


def test_two_slots_run_two_at_once(client: Any, project_id: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    wf = new_workflow(
        client, project_id, name("two"), TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 2, "QueuingMode": 1}
    )
    new_task(client, project_id, wf, "hold", f"while [ ! -e {gate} ]; do sleep 0.02; done")
    a, b, c = (start_run(client, project_id, wf) for _ in range(3))
    wait_run(client, project_id, a, states={"RUNNING"})
    wait_run(client, project_id, b, states={"RUNNING"})
    assert get_run(client, project_id, c).TriggerWorkflowRun.ExecutionState == "QUEUED"
    killed = call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": wf, "Pending": True})
    assert [(k.ItemId, k.OpStatus) for k in killed] == [(c, True)]  # Pending: only the waiting run
    gate.touch()
    assert [wait_run(client, project_id, r).TriggerWorkflowRun.ExecutionState for r in (a, b, c)] == [
        "SUCCESS", "SUCCESS", "KILLED",
    ]  # fmt: skip


def test_dry_run_task_succeeds_without_executing(client: Any, project_id: str, tmp_path: Path) -> None:
    touched = tmp_path / "touched"
    wf = new_workflow(client, project_id, name("dry"))
    dry = new_task(client, project_id, wf, "dry", f"touch {touched}; exit 1", ScheduleType=1)
    new_task(client, project_id, wf, "after", "true", upstream=[dry])
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data) == {"dry": "SUCCESS", "after": "SUCCESS"}
    assert not touched.exists()
