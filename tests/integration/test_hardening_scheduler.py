"""Issue 11, finding 2 and the definition quotas of finding 6, attacked through real `trigflow up` processes
and the official SDK: no saved definition and no stored row stops the scheduler; a scheduler that died says
so on /healthz and hands over to a standby; huge numbers in a body are InvalidParameter; nested fan-out,
CodeContent and FILE_ARRIVAL roots and scans are bounded (docs/limits.md)."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import call, fails, get_run, new_task, new_workflow, start_run, uid, wait_run

EVERY_SECOND = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CycleType": "CRONTAB_CYCLE",
                "CrontabExpression": "* * * * * ? *", "SchedulerStatus": "ACTIVE"}  # fmt: skip
FAST = ["--rate-limit", "1000", "--kill-grace", "1"]
FAULT_FILE_ENV = "TRIGFLOW_TEST_SCHEDULER_FAULT_FILE"  # engine/scheduler.py: the test-only fault hook


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def runs_of(client: Any, project_id: str, wf: str) -> list[Any]:
    by_wf = [{"Name": "WorkflowId", "Values": [wf]}]
    return list(call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": by_wf,
                                                         "PageSize": 200}).Items)  # fmt: skip


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ------------------------------------------------------------------------------ definitions checked at save


@pytest.mark.parametrize("value", ["1e400", "-1e400", "101", "-1", "2.5", '"3"', "true", "9" * 5000])
def test_catch_up_out_of_range_is_refused_at_save_naming_the_key(
    server: Server, client: Any, project_id: str, value: str
) -> None:
    trigger = {**EVERY_SECOND, "SchedulerStatus": "PAUSED", "ExtraInfo": f'{{"catchUpMaxFires": {value}}}'}
    params = {"ProjectId": project_id, "WorkflowName": f"catchup_{uid()}", "ParentFolderPath": "/",
              "TriggerWorkflowSchedulerConfigurations": [trigger]}  # fmt: skip
    fails(client, "CreateTriggerWorkflow", params, "InvalidParameterValue",
          "TriggerWorkflowSchedulerConfigurations.0.ExtraInfo.catchUpMaxFires")  # fmt: skip
    status, body = health(server.port)
    assert (status, body["status"]) == (200, "ok")


def test_catch_up_is_checked_by_both_updates_and_a_valid_one_is_kept(client: Any, project_id: str) -> None:
    ok = {**EVERY_SECOND, "SchedulerStatus": "PAUSED", "ExtraInfo": '{"catchUpMaxFires": 3, "other": 1e400}'}
    wf = new_workflow(client, project_id, f"catchup_{uid()}", TriggerWorkflowSchedulerConfigurations=[ok])
    bad = {**ok, "ExtraInfo": '{"catchUpMaxFires": 1e400}'}
    fails(client, "UpdateTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf, "WorkflowName": f"u_{uid()}",
                                            "TriggerWorkflowSchedulerConfigurations": [bad]},
          "InvalidParameterValue", "ExtraInfo.catchUpMaxFires")  # fmt: skip
    got = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    trigger_id = got.TriggerWorkflowSchedulerConfigurations[0].TriggerId
    patch = {"TriggerWorkflowSchedulerConfigurations": [{"TriggerId": trigger_id, "ExtraInfo": bad["ExtraInfo"]}]}
    fails(client, "UpdateTriggerWorkflowPartially", {"ProjectId": project_id, "WorkflowId": wf, "NewSetting": patch},
          "InvalidParameterValue", "NewSetting.TriggerWorkflowSchedulerConfigurations.0.ExtraInfo.catchUpMaxFires")
    got = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    assert json.loads(got.TriggerWorkflowSchedulerConfigurations[0].ExtraInfo)["catchUpMaxFires"] == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("MaxRetryNumber", 10**6), ("RetryWaitMinute", 2**62), ("RetryWaitMinute", -5),
     ("ExecutionTTLMinute", 2**62), ("ExecutionTTLMinute", -2), ("WaitExecutionTotalTTLMinute", 2**63 - 1)],
)  # fmt: skip
def test_retry_and_timeout_numbers_out_of_range_are_refused(
    client: Any, project_id: str, field: str, value: int
) -> None:
    wf = new_workflow(client, project_id, f"ranges_{uid()}")
    params = {"ProjectId": project_id,
              "TriggerTaskBaseAttribute": {"TaskName": "t", "TaskTypeId": "35", "WorkflowId": wf},
              "TriggerTaskConfiguration": {"CodeContent": b64("true")},
              "TriggerTaskSchedulerConfiguration": {field: value}}  # fmt: skip
    fails(client, "CreateTriggerTask", params, "InvalidParameterValue", f"TriggerTaskSchedulerConfiguration.{field}")


def test_an_interpreter_that_cannot_be_parsed_is_refused_at_save(client: Any, project_id: str) -> None:
    """python_sub_version is split like a command line when a run starts; an unclosed quote made that start
    raise instead of failing with a message."""
    wf = new_workflow(client, project_id, f"interp_{uid()}")
    params = {"ProjectId": project_id,
              "TriggerTaskBaseAttribute": {"TaskName": "py", "TaskTypeId": "30", "WorkflowId": wf},
              "TriggerTaskConfiguration": {"CodeContent": b64("print(1)"), "TaskExtConfigurationList": [
                  {"ParamKey": "python_sub_version", "ParamValue": "python3 '-c"}]},
              "TriggerTaskSchedulerConfiguration": {}}  # fmt: skip
    fails(client, "CreateTriggerTask", params, "InvalidParameterValue",
          "TriggerTaskConfiguration.TaskExtConfigurationList.python_sub_version")  # fmt: skip


def test_code_content_over_the_limit_is_refused_by_create_and_both_updates(client: Any, project_id: str) -> None:
    limit = 1024 * 1024  # the default of --max-code-bytes
    big = base64.b64encode(b"#" * (limit + 1)).decode()
    wf = new_workflow(client, project_id, f"code_{uid()}")
    create = {"ProjectId": project_id,
              "TriggerTaskBaseAttribute": {"TaskName": "big", "TaskTypeId": "35", "WorkflowId": wf},
              "TriggerTaskConfiguration": {"CodeContent": big}, "TriggerTaskSchedulerConfiguration": {}}  # fmt: skip
    fails(client, "CreateTriggerTask", create, "InvalidParameterValue", "TriggerTaskConfiguration.CodeContent",
          str(limit))  # fmt: skip
    fitting = base64.b64encode(b"#" * limit).decode()  # exactly the limit is fine
    task = call(client, "CreateTriggerTask", {**create, "TriggerTaskConfiguration": {"CodeContent": fitting}}).TaskId
    full = {"TriggerTaskBaseAttribute": {"TaskName": "big", "OwnerUin": "100000000001", "TaskDescription": "d"},
            "TriggerTaskConfiguration": {"CodeContent": big},
            "TriggerTaskSchedulerConfiguration": {}}  # fmt: skip
    fails(client, "UpdateTriggerTask", {"ProjectId": project_id, "TaskId": task, "Task": full},
          "InvalidParameterValue", "Task.TriggerTaskConfiguration.CodeContent")  # fmt: skip
    fails(client, "UpdateTriggerTaskPartially",
          {"ProjectId": project_id, "TaskId": task, "NewSetting": {"TriggerTaskConfiguration": {"CodeContent": big}}},
          "InvalidParameterValue", "TriggerTaskConfiguration.CodeContent")  # fmt: skip


def _file_trigger(path: str) -> dict[str, Any]:
    return {"TriggerMode": "FILE_ARRIVAL", "SchedulerStatus": "ACTIVE", "FileArrivalPath": path, "Recursive": 1,
            "TriggerWaitTime": 1, "TriggerMinimumInterval": 1}  # fmt: skip


@pytest.mark.parametrize("where", ["/", "file:///", "/proc", "/proc/self", "/sys/kernel", "/dev", "/etc",
                                   "symlink-to-proc", "relative/dir"])  # fmt: skip
def test_file_arrival_outside_the_allowed_roots_is_refused(
    client: Any, project_id: str, tmp_path: Path, where: str
) -> None:
    path = where
    if where == "symlink-to-proc":  # under the allowed temp dir, but it resolves into /proc
        (tmp_path / "innocent").symlink_to("/proc")
        path = str(tmp_path / "innocent" / "self")
    params = {"ProjectId": project_id, "WorkflowName": f"fa_{uid()}", "ParentFolderPath": "/",
              "TriggerWorkflowSchedulerConfigurations": [_file_trigger(path)]}  # fmt: skip
    fails(client, "CreateTriggerWorkflow", params, "InvalidParameterValue",
          "TriggerWorkflowSchedulerConfigurations.0.FileArrivalPath")  # fmt: skip


# ------------------------------------------------------------------------------------ bodies and numbers


@pytest.mark.parametrize("req_method", ["POST", "GET"])
def test_a_five_thousand_digit_integer_is_invalid_parameter(server: Server, project_id: str, req_method: str) -> None:
    """JSON body (POST) and query string (GET), both sent by the official SDK."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # let the client-side json.dumps / str() write the number
    try:
        client = make_client(server.endpoint, reqMethod=req_method)
        fails(client, "ListTriggerWorkflows", {"ProjectId": project_id, "PageNumber": 10**5000 - 1}, "InvalidParameter")
        fails(client, "ListTriggerWorkflows", {"ProjectId": project_id, "PageSize": -(10**5000)}, "InvalidParameter")
    finally:
        sys.set_int_max_str_digits(limit)
    assert "Traceback" not in server.output()[-20_000:]


def test_numbers_json_cannot_hold_are_invalid_parameter(server: Server, project_id: str) -> None:
    from tests.integration.test_protocol import post

    for literal in ("1e400", "-1e400", "9" * 5000, "-" + "9" * 5000):
        body = f'{{"ProjectId": "{project_id}", "PageNumber": {literal}}}'.encode()
        reply = post(server, "ListTriggerWorkflows", body=body)
        assert reply.code == "InvalidParameter", (literal[:10], reply.raw[:300])


# ------------------------------------------------------------------------------------- scheduler survival


def test_a_bad_row_stored_before_the_checks_does_not_stop_other_triggers(tmp_path: Path) -> None:
    """Rows written straight into the database (as an older version could have saved them): a catch-up of
    1e400, a trigger config that is not an object, a FILE_ARRIVAL on /proc. After a restart the scheduler
    lives, every sound trigger fires, and the 1e400 one fires too (its ExtraInfo read as no catch-up)."""
    data = tmp_path / "srv"
    srv = start_server(data, extra=FAST)
    try:
        client = make_client(srv.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wfs = {}
        for name in ("good", "catchup", "garbage", "proc"):
            wfs[name] = new_workflow(client, project_id, f"{name}_{uid()}",
                                     TriggerWorkflowSchedulerConfigurations=[EVERY_SECOND],
                                     TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 100})  # fmt: skip
            new_task(client, project_id, wfs[name], "t", "true")
    finally:
        srv.stop()
    db = sqlite3.connect(data / "trigflow.db")
    try:
        def corrupt(name: str, configs: list[Any]) -> None:
            db.execute("UPDATE workflows SET trigger_configs = ? WHERE workflow_id = ?", (json.dumps(configs),
                                                                                         wfs[name]))  # fmt: skip

        (row,) = db.execute("SELECT trigger_configs FROM workflows WHERE workflow_id = ?", (wfs["catchup"],))
        (config,) = json.loads(row[0])
        corrupt("catchup", [{**config, "ExtraInfo": '{"catchUpMaxFires": 1e400}'}])
        corrupt("garbage", ["not an object", {"TriggerId": 7, "CrontabExpression": ["x"]}])
        corrupt("proc", [{**_file_trigger("/proc"), "TriggerId": "proc-watch"}])
        db.commit()
    finally:
        db.close()
    srv = start_server(data, extra=FAST)
    try:
        client = make_client(srv.endpoint)
        before = {name: len(runs_of(client, project_id, wf)) for name, wf in wfs.items()}
        for name in ("good", "catchup"):
            wait_for(lambda n=name: len(runs_of(client, project_id, wfs[n])) >= before[n] + 2, timeout=20,
                     what=f"{name} fires after the restart")  # fmt: skip
        status, body = health(srv.port)
        assert (status, body["status"], body["scheduler_role"]) == (200, "ok", "leader")
        log = srv.output()
        assert "ignores its ExtraInfo" in log and "catchUpMaxFires" in log
        assert "is not watched" in log and "/proc" in log
        assert len(runs_of(client, project_id, wfs["proc"])) == before["proc"]
    finally:
        srv.stop()


def test_a_run_whose_rows_cannot_be_loaded_is_failed_and_the_others_run(tmp_path: Path) -> None:
    """A run stored with a task state no version writes: the recovery batch fails, the replay isolates it,
    the run is marked FAILED with the reason (quarantined, never retried), and the other run completes.
    The server starts as a standby (we hold its scheduler lock), so both runs wait, untouched, to be corrupted."""
    import fcntl

    data = tmp_path / "srv"
    data.mkdir()
    db_path = data / "trigflow.db"
    lock_fd = os.open(f"{db_path}.scheduler.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    srv = start_server(data, extra=FAST)
    try:
        assert health(srv.port)[1]["scheduler_role"] == "standby"
        client = make_client(srv.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "poison", TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 10})
        new_task(client, project_id, wf, "t", "true")
        poison, good = start_run(client, project_id, wf), start_run(client, project_id, wf)
        db = sqlite3.connect(db_path)
        try:
            db.execute("UPDATE task_runs SET state = 'BOGUS' WHERE run_id = ?", (poison,))
            db.commit()
        finally:
            db.close()
        os.close(lock_fd)  # the server takes over, recovers both runs
        lock_fd = -1
        assert wait_run(client, project_id, good).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        ro = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            def poisoned() -> Any:
                return ro.execute("SELECT state, error_code_str FROM workflow_runs WHERE execution_id = ?",
                                  (poison,)).fetchone()  # fmt: skip

            _, error = wait_for(lambda: (r := poisoned()) and r[0] == "FAILED" and r, what="poison run failed")
        finally:
            ro.close()
        assert error.startswith("SchedulerError: the scheduler cannot process this run (ValueError")
        assert srv.output().count(f"run {poison} quarantined") == 1
        third = start_run(client, project_id, wf)
        assert wait_run(client, project_id, third).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert health(srv.port)[0] == 200
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)
        srv.stop()


@pytest.fixture
def shared_db(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'shared.db'}"


def test_a_dead_scheduler_fails_healthz_and_a_standby_takes_over(
    tmp_path: Path, shared_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop of `a` is made to raise on every pass (the test-only fault file): it restarts with a backoff,
    gives up, kills its tasks, releases the lock and answers 503 with the reason; `b` becomes the leader."""
    fault = tmp_path / "fault"
    monkeypatch.setenv(FAULT_FILE_ENV, str(fault))
    a = start_server(tmp_path / "a", db_url=shared_db, extra=FAST)
    monkeypatch.delenv(FAULT_FILE_ENV)
    b = start_server(tmp_path / "b", db_url=shared_db, extra=FAST)
    try:
        wait_for(lambda: health(a.port)[1]["scheduler_role"] == "leader", what="a leads")
        assert health(b.port)[1]["scheduler_role"] == "standby"
        client = make_client(b.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "dead_leader")
        new_task(client, project_id, wf, "t", "true")
        first = start_run(client, project_id, wf)
        assert wait_run(client, project_id, first).TriggerWorkflowRun.ExecutionState == "SUCCESS", a.output()

        fault.touch()
        _, body = wait_for(lambda: (h := health(a.port))[0] == 503 and h, timeout=30, what="a reports 503")
        assert body["status"] == "failed" and body["scheduler_role"] == "failed"
        assert "injected fault" in body["reason"] and "5 times" in body["reason"]
        wait_for(lambda: health(b.port)[1]["scheduler_role"] == "leader", timeout=20, what="b takes over")
        assert health(b.port)[0] == 200
        run = start_run(make_client(a.endpoint), project_id, wf)  # a still serves the API; b runs it
        assert wait_run(client, project_id, run).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert "restarting it in" in a.output() and "leadership released" in a.output()
    finally:
        a.stop()
        b.stop()


def test_a_stalled_scheduler_fails_healthz_and_a_supervisor_restart_hands_over_to_the_standby(
    tmp_path: Path, shared_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop of `a` is held (the fault file says `stall`): alive but making no pass, it keeps the lock (a thread
    that may wake up must not share it) and /healthz answers 503 `stalled`. What a supervisor's liveness probe
    then does, SIGKILL and restart, releases the lock: `b` takes over and runs what `a` never started."""
    fault = tmp_path / "fault"
    monkeypatch.setenv(FAULT_FILE_ENV, str(fault))
    a = start_server(tmp_path / "a", db_url=shared_db, extra=[*FAST, "--stall-after", "1"])
    monkeypatch.delenv(FAULT_FILE_ENV)
    b = start_server(tmp_path / "b", db_url=shared_db, extra=FAST)
    try:
        wait_for(lambda: health(a.port)[1]["scheduler_role"] == "leader", what="a leads")
        client = make_client(b.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "stalled_leader")
        new_task(client, project_id, wf, "t", "true")

        fault.write_text("stall")
        _, body = wait_for(lambda: (h := health(a.port))[0] == 503 and h, timeout=20, what="a reports 503")
        assert body["status"] == "stalled" and "restart the process" in body["reason"], body
        run = start_run(client, project_id, wf)  # nobody schedules it: a holds the lock and makes no pass
        assert health(b.port)[1]["scheduler_role"] == "standby"
        assert get_run(client, project_id, run).TriggerWorkflowRun.ExecutionState != "SUCCESS"

        a.stop(signal.SIGKILL)  # the supervisor's answer to a failing liveness probe
        wait_for(lambda: health(b.port)[1]["scheduler_role"] == "leader", timeout=20, what="b takes over")
        assert wait_run(client, project_id, run).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    finally:
        fault.unlink(missing_ok=True)
        a.stop()
        b.stop()


# ----------------------------------------------------------------------------------------------- quotas


def test_nested_fan_out_stops_at_the_limit_and_fails_the_node(tmp_path: Path) -> None:
    """top -> 3 x mid -> 3 x leaf would be 12 nested runs; with --max-nested-runs 5 exactly 5 are created and the
    RunWorkflow nodes past the limit fail with a message naming it. The scheduler goes on."""
    from tests.integration.test_control_nodes import nested

    srv = start_server(tmp_path / "srv", extra=[*FAST, "--max-nested-runs", "5"])
    try:
        client = make_client(srv.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        leaf = new_workflow(client, project_id, "leaf", TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 100})
        new_task(client, project_id, leaf, "work", "true")
        mid = new_workflow(client, project_id, "mid", TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 100})
        top = new_workflow(client, project_id, "top")
        for i in range(3):
            nested(client, project_id, mid, f"leaf{i}", leaf)
            nested(client, project_id, top, f"mid{i}", mid)
        root = start_run(client, project_id, top)
        done = wait_run(client, project_id, root, timeout=60)
        assert done.TriggerWorkflowRun.ExecutionState == "FAILED"
        made = len(runs_of(client, project_id, mid)) + len(runs_of(client, project_id, leaf))
        assert made == 5
        messages = []
        for mid_run in runs_of(client, project_id, mid):
            data = wait_run(client, project_id, mid_run.ExecutionId)
            messages += [t.ErrorCodeStr or "" for t in data.TriggerTaskRuns]
        assert any("NestedRunsLimitExceeded" in m and "--max-nested-runs" in m for m in messages), messages
        # The limit is per top-level run: the next one gets its own budget, and the server is healthy.
        again = start_run(client, project_id, leaf)
        assert wait_run(client, project_id, again).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert health(srv.port)[0] == 200
    finally:
        srv.stop()


def test_a_file_arrival_scan_over_its_bound_is_recorded_and_hoards_nothing(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(8):
        (inbox / f"old{i}.csv").write_text("x")
    data = tmp_path / "srv"
    srv = start_server(data, extra=[*FAST, "--file-arrival-max-entries", "5", "--minute-seconds", "0.2",
                                    "--file-arrival-root", str(tmp_path)])  # fmt: skip
    try:
        client = make_client(srv.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "bounded_scan", TriggerWorkflowSchedulerConfigurations=[
            _file_trigger(str(inbox))])  # fmt: skip
        new_task(client, project_id, wf, "t", "true")
        wait_for(lambda: "FileArrivalScanLimit" in srv.output(), timeout=15, what="the scan limit is logged")
        db = sqlite3.connect(f"file:{data / 'trigflow.db'}?mode=ro", uri=True)
        try:
            def notes() -> list[str]:
                return [r[0] for r in db.execute("SELECT note FROM trigger_fires WHERE note IS NOT NULL")]

            def files() -> int:
                return int(db.execute("SELECT count(*) FROM trigger_files").fetchone()[0])

            wait_for(lambda: any("FileArrivalScanLimit" in n and "more than 5 entries" in n for n in notes()),
                     what="the scan error recorded as a fire result")  # fmt: skip
            assert files() == 0, "an over-bound scan must not record its files"
            assert runs_of(client, project_id, wf) == []
            for i in range(6):  # back under the bound: the trigger recovers, takes its baseline, then fires
                (inbox / f"old{i}.csv").unlink()
            wait_for(lambda: files() == 3, what="baseline taken (marker row + 2 files)")
        finally:
            db.close()
        (inbox / "new.csv").write_text("y")
        (run,) = wait_for(lambda: runs_of(client, project_id, wf), timeout=15, what="a run for the new file")
        paths = json.loads(json.loads(get_run(client, project_id, run.ExecutionId).TriggerWorkflowRun
                                      .WorkflowParams)["file_arrival_paths"])  # fmt: skip
        assert paths == [str(inbox / "new.csv")]
        assert health(srv.port)[0] == 200
    finally:
        srv.stop()


def test_a_file_arrival_root_outside_the_default_needs_the_flag(tmp_path: Path) -> None:
    """A server whose only root is one directory refuses the system temp dir elsewhere and accepts its root."""
    root = tmp_path / "drop"
    root.mkdir()
    srv = start_server(tmp_path / "srv", extra=[*FAST, "--file-arrival-root", str(root)])
    try:
        client = make_client(srv.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        params = {"ProjectId": project_id, "WorkflowName": "fa_out", "ParentFolderPath": "/",
                  "TriggerWorkflowSchedulerConfigurations": [_file_trigger(str(outside))]}  # fmt: skip
        message = fails(client, "CreateTriggerWorkflow", params, "InvalidParameterValue", "FileArrivalPath",
                        "--file-arrival-root")  # fmt: skip
        assert os.path.realpath(root) in message
        new_workflow(client, project_id, "fa_in", TriggerWorkflowSchedulerConfigurations=[
            _file_trigger(f"file://{root}/sub")])  # fmt: skip
    finally:
        srv.stop()
