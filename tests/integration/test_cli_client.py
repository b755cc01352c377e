"""The `trigflow` API client "on a second machine": the CLI runs as a subprocess with only an endpoint and a
key in its environment (HOME an empty directory, no data dir, no ProjectId: the key's only project is
found), against a real `trigflow up` of its own (so it has exactly one project). Workflows are made with
the official SDK; everything the CLI reports is checked against the API."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import SECRET_ID, SECRET_KEY, Server, free_port, make_client, start_server, wait_for
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, uid, wait_run
from tests.integration.test_reruns import task_body, update_and_submit

TRIGFLOW = shutil.which("trigflow", path=str(Path(sys.executable).parent))  # the installed entry point


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("cli_client"),
        extra=["--rate-limit", "1000", "--kill-grace", "1", "--minute-seconds", "0.2"],
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sdk(remote: Server) -> Any:
    return make_client(remote.endpoint)


@pytest.fixture(scope="module")
def project(sdk: Any) -> str:
    return str(call(sdk, "ListProjects", {}).Items[0].ProjectId)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def cli(remote: Server, home: Path, *args: str, key: tuple[str, str] | None = (SECRET_ID, SECRET_KEY),
        extra_env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`trigflow ARGS` with nothing but PATH, HOME (empty), the endpoint and (unless None) a key."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TZ": "UTC",
           "TRIGFLOW_ENDPOINT": f"http://{remote.endpoint}"}  # fmt: skip
    if key is not None:
        env.update(TRIGFLOW_SECRET_ID=key[0], TRIGFLOW_SECRET_KEY=key[1])
    env.update(extra_env or {})
    argv = [TRIGFLOW] if TRIGFLOW else [sys.executable, "-m", "trigflow.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, env=env, cwd=home, timeout=timeout,
                          check=False)  # fmt: skip


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr


def pipeline(sdk: Any, project: str, second: str, *, name: str = "pipe") -> tuple[str, str, str]:
    """extract (prints two lines, half a second apart) -> load (`second`); returns (workflow, a, b)."""
    wf = new_workflow(sdk, project, f"{name}_{uid()}")
    a = new_task(sdk, project, wf, "extract", "echo 'rows: 2'; sleep 0.5; echo '读取完成 done'")
    b = new_task(sdk, project, wf, "load", second, upstream=[a])
    return wf, a, b


def task_run_ids(sdk: Any, project: str, run_id: str) -> dict[str, str]:
    def ids() -> dict[str, str] | None:
        runs = get_run(sdk, project, run_id).TriggerTaskRuns
        return {t.TaskName: t.ExecutionId for t in runs} if runs else None

    return dict(wait_for(ids, what="task runs"))


def test_a_run_from_start_to_logs_with_only_an_endpoint_and_a_key(remote: Server, sdk: Any, project: str,
                                                                  home: Path) -> None:  # fmt: skip
    wf, _, _ = pipeline(sdk, project, "echo loaded")
    run_id = start_run(sdk, project, wf)
    extract = task_run_ids(sdk, project, run_id)["extract"]

    follow = cli(remote, home, "logs", extract, "--follow")  # started while extract runs; returns once it ended
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout == "rows: 2\n读取完成 done\n"
    tr = call(sdk, "GetTriggerTaskRun", {"ProjectId": project, "TaskExecutionId": extract})
    assert tr.ExecutionState == "SUCCESS", "--follow returned before the task run ended"

    waited = cli(remote, home, "runs", "wait", run_id, "--timeout", "30")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "State:       SUCCESS" in waited.stdout

    listed = cli(remote, home, "runs", "list", "--workflow", wf)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["RUN", "WORKFLOW", "WORKFLOW_ID", "STATE", "TRIGGER", "CREATED", "DURATION", "ERROR"]
    assert row.split()[:5] == [run_id, get_run(sdk, project, run_id).TriggerWorkflowRun.WorkflowName, wf,
                               "SUCCESS", "Manual"]  # fmt: skip

    got = cli(remote, home, "runs", "get", run_id)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert f"Run:         {run_id}" in lines and "State:       SUCCESS" in lines
    tasks = {line.split()[1]: line.split() for line in lines if line.split()[:1] and line.split()[0] != "TASK_RUN"
             and len(line.split()) >= 4 and line.split()[1] in ("extract", "load")}  # fmt: skip
    assert set(tasks) == {"extract", "load"} and tasks["extract"][0] == extract
    assert all(t[3] == "SUCCESS" for t in tasks.values())

    # --json is the SDK response, parseable, with every field of the model
    as_json = json.loads(cli(remote, home, "runs", "get", run_id, "--json").stdout)
    sdk_view = json.loads(call_raw(sdk, "GetTriggerWorkflowRun", {"ProjectId": project, "WorkflowExecutionId": run_id}))
    assert as_json["Data"]["TriggerWorkflowRun"].keys() == sdk_view["Data"]["TriggerWorkflowRun"].keys()
    assert as_json["Data"]["TriggerWorkflowRun"]["ExecutionState"] == "SUCCESS"
    assert [t["TaskName"] for t in as_json["Data"]["TriggerTaskRuns"]] == ["extract", "load"]
    listed_json = json.loads(cli(remote, home, "runs", "list", "--workflow", wf, "--json").stdout)
    assert [r["ExecutionId"] for r in listed_json["Data"]["Items"]] == [run_id]
    assert listed_json["Data"]["TotalCount"] == 1 and listed_json["RequestId"]

    load = task_run_ids(sdk, project, run_id)["load"]
    plain = cli(remote, home, "logs", load)
    assert (plain.returncode, plain.stdout) == (0, "loaded\n"), plain.stderr
    pages = [json.loads(line) for line in cli(remote, home, "logs", load, "--json").stdout.splitlines()]
    assert pages[0]["Data"]["LogInfo"] == "loaded\n" and pages[-1]["Data"]["NextCursor"] is None
    assert pages[0]["Data"]["CodeContent"] == "echo loaded"


def call_raw(sdk: Any, action: str, params: dict[str, Any]) -> str:
    from tencentcloud.wedata.v20250806 import models

    req = getattr(models, f"{action}Request")()
    req.from_json_string(json.dumps(params))
    return str(getattr(sdk, action)(req).to_json_string())


def test_runs_wait_exit_codes_say_how_a_run_ended(remote: Server, sdk: Any, project: str, home: Path) -> None:
    wf, _, _ = pipeline(sdk, project, "echo about to fail; exit 3", name="failing")
    run_id = start_run(sdk, project, wf)
    waited = cli(remote, home, "runs", "wait", run_id, "--timeout", "30")
    assert waited.returncode == 4, waited.stdout + waited.stderr  # FAILED (docs/cli.md "Exit codes")
    assert "State:       FAILED" in waited.stdout and "exit code 3" in waited.stdout
    as_json = cli(remote, home, "runs", "wait", run_id, "--json")
    assert as_json.returncode == 4
    assert json.loads(as_json.stdout)["Data"]["TriggerWorkflowRun"]["ExecutionState"] == "FAILED"

    failed = cli(remote, home, "runs", "list", "--workflow", wf, "--state", "FAILED", "--json")
    assert [r["ExecutionId"] for r in json.loads(failed.stdout)["Data"]["Items"]] == [run_id]
    assert json.loads(cli(remote, home, "runs", "list", "--workflow", wf, "--state", "success", "--json").stdout)[
        "Data"]["Items"] == []  # fmt: skip

    slow = new_workflow(sdk, project, f"slow_{uid()}")
    new_task(sdk, project, slow, "nap", "sleep 30")
    running = start_run(sdk, project, slow)
    try:
        started = time.monotonic()
        timed_out = cli(remote, home, "runs", "wait", running, "--timeout", "0.5")
        assert timed_out.returncode == 7, timed_out.stderr  # --timeout elapsed
        assert time.monotonic() - started < 20
        assert timed_out.stderr.startswith("Timeout: run ") and "after 0.5s" in timed_out.stderr
    finally:
        call(sdk, "KillTriggerWorkflowRuns",
             {"ProjectId": project, "WorkflowId": slow, "WorkflowExecutionIdList": [running]})  # fmt: skip


def test_runs_kill_stops_a_sleeping_run(remote: Server, sdk: Any, project: str, home: Path) -> None:
    wf = new_workflow(sdk, project, f"sleepy_{uid()}")
    new_task(sdk, project, wf, "nap", "sleep 60")
    other = new_workflow(sdk, project, f"sleepy_{uid()}")
    new_task(sdk, project, other, "nap", "sleep 60")
    run_a, run_b = start_run(sdk, project, wf), start_run(sdk, project, other)
    for r in (run_a, run_b):
        wait_run(sdk, project, r, {"RUNNING"})

    killed = cli(remote, home, "runs", "kill", run_a, run_b)  # two workflows: one KillTriggerWorkflowRuns each
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert killed.stdout.splitlines() == [f"{run_a}  kill sent", f"{run_b}  kill sent"]
    for r in (run_a, run_b):
        assert cli(remote, home, "runs", "wait", r, "--timeout", "30").returncode == 5  # KILLED
        assert get_run(sdk, project, r).TriggerWorkflowRun.ExecutionState == "KILLED"

    again = cli(remote, home, "runs", "kill", run_a, "--json")  # already KILLED: not killed, exit 1
    assert again.returncode == 1
    (resp,) = json.loads(again.stdout)
    assert resp["Data"][0]["ItemId"] == run_a and resp["Data"][0]["OpStatus"] is False

    unknown = cli(remote, home, "runs", "kill", "no-such-run", run_a)  # looked up first: nothing is sent
    assert unknown.returncode == 1 and unknown.stderr.startswith("ResourceNotFound: "), unknown.stderr
    assert "no-such-run" in unknown.stderr and unknown.stdout == ""
    no_traceback(unknown)


def test_runs_rerun_of_chosen_tasks_waits_for_the_async_job(remote: Server, sdk: Any, project: str, home: Path,
                                                            tmp_path: Path) -> None:  # fmt: skip
    flag = tmp_path / "fixed"
    wf, _, load_id = pipeline(sdk, project, f"[ -e {flag} ] && echo fixed", name="rerun")
    run_id = start_run(sdk, project, wf)
    assert cli(remote, home, "runs", "wait", run_id).returncode == 4
    before = task_run_ids(sdk, project, run_id)

    flag.touch()
    rerun = cli(remote, home, "runs", "rerun", run_id, "--tasks", load_id)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    first, second = rerun.stdout.splitlines()
    async_id = first.removeprefix("AsyncId: ")
    job = call(sdk, "GetOpsAsyncJob", {"ProjectId": project, "AsyncId": async_id})
    assert (job.Status, job.AsyncType) == ("SUCCESS", "WORKFLOW_RERUN")
    assert second.startswith(f"rerun of {run_id}: SUCCESS")

    assert cli(remote, home, "runs", "wait", run_id, "--timeout", "30").returncode == 0
    after = get_run(sdk, project, run_id)
    assert after.TriggerWorkflowRun.RerunTimes == 1
    latest = {t.TaskName: t.ExecutionId for t in after.TriggerTaskRuns}
    assert latest["load"] != before["load"]  # only the chosen task ran again (ExecuteType 2 with TaskIds)
    assert cli(remote, home, "logs", latest["load"]).stdout == "fixed\n"

    as_json = cli(remote, home, "runs", "rerun", run_id, "--json")  # ExecuteType 1: the final GetOpsAsyncJob
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["Data"]["Status"] == "SUCCESS"
    assert cli(remote, home, "runs", "wait", run_id, "--timeout", "30").returncode == 0

    refused = cli(remote, home, "runs", "rerun", run_id, "--tasks", "nope")
    assert refused.returncode == 1 and ":" in refused.stderr.splitlines()[0], refused.stderr
    no_traceback(refused)


def test_runs_rerun_runs_the_fix_or_with_original_versions_what_ran(remote: Server, sdk: Any, project: str,
                                                                   home: Path) -> None:  # fmt: skip
    """Fix-and-rerun from the client: by default a rerun runs each task's latest submitted version; with
    --original-versions the version the run ran, so the failure comes back."""
    wf = new_workflow(sdk, project, f"fix_{uid()}")
    task = new_task(sdk, project, wf, "load", "echo broken; exit 3")
    run_id = start_run(sdk, project, wf)
    assert cli(remote, home, "runs", "wait", run_id, "--timeout", "30").returncode == 4
    fixed = update_and_submit(sdk, project, task, task_body("load", "echo fixed"))

    again = cli(remote, home, "runs", "rerun", run_id, "--original-versions")
    assert again.returncode == 0, again.stderr
    assert cli(remote, home, "runs", "wait", run_id, "--timeout", "30").returncode == 4
    (load,) = get_run(sdk, project, run_id).TriggerTaskRuns
    assert load.TaskVersionId != fixed and cli(remote, home, "logs", load.ExecutionId).stdout == "broken\n"

    assert cli(remote, home, "runs", "rerun", run_id).returncode == 0
    assert cli(remote, home, "runs", "wait", run_id, "--timeout", "30").returncode == 0
    (load,) = get_run(sdk, project, run_id).TriggerTaskRuns
    assert load.TaskVersionId == fixed and cli(remote, home, "logs", load.ExecutionId).stdout == "fixed\n"


def test_logs_follow_goes_through_retries(remote: Server, sdk: Any, project: str, home: Path, tmp_path: Path) -> None:
    """Attempt N prints `try N` and waits for the file goN, then fails; one retry. The follower is started
    during attempt 0 and must print both attempts as they come, then stop once the task run has failed."""
    work = tmp_path / "work"
    work.mkdir()
    code = (f'cd {work}; n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count; echo "try $n"; '
            'while [ ! -e "go$n" ]; do sleep 0.02; done; exit 1')  # fmt: skip
    wf = new_workflow(sdk, project, f"retry_{uid()}")
    new_task(sdk, project, wf, "flaky", code, MaxRetryNumber=1, RetryWaitMinute=1)
    run_id = start_run(sdk, project, wf)
    task = task_run_ids(sdk, project, run_id)["flaky"]
    wait_for(lambda: (work / "count").exists(), what="attempt 0 running")

    out, err = tmp_path / "follow.out", tmp_path / "follow.err"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "TRIGFLOW_ENDPOINT": f"http://{remote.endpoint}",
           "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}  # fmt: skip
    argv = [TRIGFLOW] if TRIGFLOW else [sys.executable, "-m", "trigflow.cli"]
    with open(out, "wb") as o, open(err, "wb") as e:
        follower = subprocess.Popen([*argv, "logs", task, "--follow"], stdout=o, stderr=e, env=env, cwd=home)
    try:
        wait_for(lambda: out.read_text() == "try 0\n", what="attempt 0's line followed")
        (work / "go0").touch()
        wait_for(lambda: out.read_text() == "try 0\ntry 1\n", what="the retry's line followed")
        assert follower.poll() is None, "the follower must wait for the retry to end"
        (work / "go1").touch()
        assert follower.wait(timeout=30) == 0, err.read_text()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert out.read_text() == "try 0\ntry 1\n" and "[trigflow logs] attempt 1" in err.read_text()
    assert get_run(sdk, project, run_id).TriggerTaskRuns[0].ExecutionState == "FAILED"

    first = cli(remote, home, "logs", task, "--attempt", "0", "--follow")
    assert (first.returncode, first.stdout) == (0, "try 0\n")
    assert cli(remote, home, "logs", task).stdout == "try 1\n"  # the latest attempt by default
    beyond = cli(remote, home, "logs", task, "--attempt", "5")
    assert beyond.returncode == 1 and beyond.stderr.startswith("InvalidParameterValue: LifeRoundNum")


def test_logs_follow_started_while_a_retry_waits_shows_the_failure_it_retries(
    remote: Server, sdk: Any, project: str, home: Path, tmp_path: Path
) -> None:
    """Started while the task run is PENDING for its retry (RetryTimes 1, attempt 1 not begun), the follower
    prints attempt 0's failure first, as plain `logs` and GetTaskInstanceLog's default do, then waits; a kill
    of the run during the retry wait ends it."""
    wf = new_workflow(sdk, project, f"retry_wait_{uid()}")
    new_task(sdk, project, wf, "flaky", 'echo "try 0"; exit 3', MaxRetryNumber=1, RetryWaitMinute=600)  # 120 s here
    run_id = start_run(sdk, project, wf)
    task = task_run_ids(sdk, project, run_id)["flaky"]

    def waiting_for_retry() -> bool:
        tr = call(sdk, "GetTriggerTaskRun", {"ProjectId": project, "TaskExecutionId": task})
        return bool(tr.ExecutionState == "PENDING" and int(tr.RetryTimes or 0) == 1)

    wait_for(waiting_for_retry, what="the task run waiting for its retry")
    out, err = tmp_path / "follow.out", tmp_path / "follow.err"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "TRIGFLOW_ENDPOINT": f"http://{remote.endpoint}",
           "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}  # fmt: skip
    argv = [TRIGFLOW] if TRIGFLOW else [sys.executable, "-m", "trigflow.cli"]
    with open(out, "wb") as o, open(err, "wb") as e:
        follower = subprocess.Popen([*argv, "logs", task, "--follow"], stdout=o, stderr=e, env=env, cwd=home)
    try:
        wait_for(lambda: out.read_text() == "try 0\n", what="the failed attempt's line")
        assert follower.poll() is None, "the follower waits for the retry"
        kill = {"ProjectId": project, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]}
        call(sdk, "KillTriggerWorkflowRuns", kill)
        assert follower.wait(timeout=30) == 0, err.read_text()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert out.read_text() == "try 0\n"
    assert call(sdk, "GetTriggerTaskRun", {"ProjectId": project, "TaskExecutionId": task}).ExecutionState == "KILLED"


def test_triggers_next_matches_what_the_server_fires(remote: Server, sdk: Any, project: str, home: Path) -> None:
    zone = ZoneInfo("Asia/Tokyo")
    end = (datetime.now(zone) + timedelta(seconds=20)).strftime("%Y-%m-%d %H:%M:%S")  # stops firing by itself
    trigger = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CycleType": "CRONTAB_CYCLE",
               "CrontabExpression": "* * * * * ? *", "ScheduleTimeZone": "Asia/Tokyo", "EndTime": end,
               "SchedulerStatus": "ACTIVE"}  # fmt: skip
    wf = new_workflow(sdk, project, f"cron_{uid()}", TriggerWorkflowSchedulerConfigurations=[trigger],
                      TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 10})  # fmt: skip
    new_task(sdk, project, wf, "tick", "true")

    done = cli(remote, home, "triggers", "next", wf, "--count", "3", "--json")
    assert done.returncode == 0, done.stderr
    (plan,) = json.loads(done.stdout)["Triggers"]
    detail = call(sdk, "GetTriggerWorkflow", {"ProjectId": project, "WorkflowId": wf})
    assert plan["TriggerId"] == detail.TriggerWorkflowSchedulerConfigurations[0].TriggerId
    assert plan["ScheduleTimeZone"] == "Asia/Tokyo" and plan["WillFire"] is True
    predicted = [int(ms) for ms in plan["FireTimes"]]
    assert len(predicted) == 3 and all(b - a == 1000 for a, b in itertools.pairwise(predicted))
    assert all(t.endswith("+09:00") for t in plan["FireTimesLocal"])

    def scheduled() -> set[int] | None:
        items = call(sdk, "ListTriggerWorkflowRuns", {"ProjectId": project, "PageSize": 100,
                                                      "Filters": [{"Name": "WorkflowId", "Values": [wf]}]}).Items
        fired = {int(r.ScheduleTime) for r in items or []}
        return fired if set(predicted) <= fired else None

    wait_for(scheduled, timeout=15, interval=0.1, what=f"the server to fire at {predicted}")

    human = cli(remote, home, "triggers", "next", wf, "--count", "2")
    first, *fires = human.stdout.splitlines()
    assert first == f"trigger {plan['TriggerId']}  * * * * * ? *  Asia/Tokyo" and len(fires) <= 2


def test_errors_are_one_line_with_a_code_and_exit_non_zero(remote: Server, home: Path) -> None:
    bad_secret = cli(remote, home, "runs", "list", key=(SECRET_ID, "x" * 32))
    assert bad_secret.returncode == 1 and bad_secret.stderr.startswith("AuthFailure.SignatureFailure: ")
    unknown_id = cli(remote, home, "runs", "list", key=("AKIDnotakey0000000000000000000000000", "x" * 32))
    assert unknown_id.returncode == 1 and unknown_id.stderr.startswith("AuthFailure.SecretIdNotFound: ")
    unreachable = cli(remote, home, "runs", "list", extra_env={"TRIGFLOW_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    assert unreachable.returncode == 3 and unreachable.stderr.startswith("ClientNetworkError: cannot reach")
    no_key = cli(remote, home, "runs", "list", key=None)
    assert no_key.returncode == 2 and no_key.stderr.startswith("trigflow: no API key")
    missing = cli(remote, home, "runs", "get", "no-such-run")
    assert missing.returncode == 1 and missing.stderr.startswith("ResourceNotFound: ")
    for done in (bad_secret, unknown_id, unreachable, no_key, missing):
        assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
        no_traceback(done)


def test_profiles_the_server_file_and_tccli(remote: Server, project: str, home: Path) -> None:
    """The same machine: trigflow's client.json is the default profile; a WeData user: a named tccli profile."""
    (home / ".trigflow").mkdir()
    (home / ".trigflow" / "client.json").write_text(json.dumps({
        "endpoint": f"http://{remote.endpoint}", "secretId": SECRET_ID, "secretKey": SECRET_KEY,
        "projectId": project}))  # fmt: skip
    from_file = cli(remote, home, "runs", "list", "--limit", "1", key=None, extra_env={"TRIGFLOW_ENDPOINT": ""})
    assert from_file.returncode == 0, from_file.stderr

    tccli = home / ".tccli"
    tccli.mkdir()
    (tccli / "local.credential").write_text(json.dumps({"secretId": SECRET_ID, "secretKey": SECRET_KEY}))
    (tccli / "local.configure").write_text(json.dumps(
        {"_sys_param": {"region": "ap-shanghai", "output": "json"},
         "wedata": {"endpoint": f"http://{remote.endpoint}", "version": "2025-08-06"}}))  # fmt: skip
    (home / ".trigflow" / "client.json").unlink()
    with_tccli = cli(remote, home, "runs", "list", "--limit", "1", "--profile", "local", key=None,
                     extra_env={"TRIGFLOW_ENDPOINT": ""})  # fmt: skip
    assert with_tccli.returncode == 0, with_tccli.stderr
    absent = cli(remote, home, "runs", "list", "--profile", "nope", key=None)
    assert absent.returncode == 2 and "no tccli profile 'nope'" in absent.stderr


def test_project_must_be_named_when_the_key_sees_several(remote: Server, sdk: Any, project: str, home: Path) -> None:
    """Last in this module: the other tests rely on the key seeing a single project."""
    name = f"second_{uid()}"
    other = call(sdk, "CreateProject", {"Project": {"ProjectName": name, "DisplayName": name}}).ProjectId
    try:
        ambiguous = cli(remote, home, "runs", "list")
        assert ambiguous.returncode == 1 and ambiguous.stderr.startswith("MissingParameter: ProjectId")
        assert project in ambiguous.stderr and other in ambiguous.stderr
        named = cli(remote, home, "runs", "list", "--project", other)
        assert (named.returncode, named.stdout.strip()) == (0, "no runs"), named.stderr
    finally:
        call(sdk, "DeleteProject", {"ProjectId": other})


def test_runs_wait_and_logs_follow_ride_out_a_server_restart(tmp_path: Path, home: Path) -> None:
    """A script waiting on a long run survives a server upgrade: once the server has answered, no answer
    is retried (one stderr line) until it answers again. The run's task dies with the server, so the run
    ends FAILED (ExecutorLost) and the waiter exits 4."""
    data = tmp_path / "srv"
    extra = ["--kill-grace", "1", "--minute-seconds", "0.2"]
    srv = start_server(data, extra=extra)
    port = srv.port
    try:
        sdk = make_client(srv.endpoint)
        project = str(call(sdk, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(sdk, project, f"restart_{uid()}")
        new_task(sdk, project, wf, "long", "echo started; sleep 60")
        run_id = start_run(sdk, project, wf)
        task = task_run_ids(sdk, project, run_id)["long"]
        wait_run(sdk, project, run_id, {"RUNNING"})

        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "TRIGFLOW_ENDPOINT": f"http://{srv.endpoint}",
               "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}  # fmt: skip
        argv = [TRIGFLOW] if TRIGFLOW else [sys.executable, "-m", "trigflow.cli"]
        outs = {name: (tmp_path / f"{name}.out", tmp_path / f"{name}.err") for name in ("wait", "logs")}
        procs = {}
        for name, args in (("wait", ["runs", "wait", run_id, "--timeout", "120"]), ("logs", ["logs", task, "-f"])):
            with open(outs[name][0], "wb") as o, open(outs[name][1], "wb") as e:
                procs[name] = subprocess.Popen([*argv, *args], stdout=o, stderr=e, env=env, cwd=home)
        wait_for(lambda: outs["logs"][0].read_text() == "started\n", what="the follower read the log")
        # The waiter must have been answered once (before that, a failure ends it, by design): its SDK
        # connection is open once its first call went out, and a stopping server still answers it.
        wait_for(lambda: _has_socket(procs["wait"].pid), what="the waiter's first call")

        srv.stop()
        wait_for(lambda: "still trying" in outs["wait"][1].read_text(), timeout=30, what="the waiter noticed")
        assert procs["wait"].poll() is None and procs["logs"].poll() is None
        srv = start_server(data, extra=extra, port=port)

        assert procs["wait"].wait(timeout=60) == 4, outs["wait"][1].read_text()
        assert procs["logs"].wait(timeout=60) == 0, outs["logs"][1].read_text()
        wait_out, wait_err = outs["wait"][0].read_text(), outs["wait"][1].read_text()
        assert "State:       FAILED" in wait_out and "ExecutorLost" in wait_out
        assert wait_err.splitlines()[0].startswith("trigflow: ClientNetworkError: cannot reach")
        assert wait_err.splitlines()[-1] == "trigflow: the server answers again"
        assert outs["logs"][0].read_text().startswith("started\n")  # the first page is not printed twice
    finally:
        for p in locals().get("procs", {}).values():
            if p.poll() is None:
                p.kill()
            p.wait()  # reaped: no ResourceWarning lands on a later test
        srv.stop()


def _has_socket(pid: int) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        return any(os.readlink(fd).startswith("socket:") for fd in fds.iterdir())
    return False


def test_https_endpoint_with_a_self_signed_certificate(tmp_path: Path, home: Path) -> None:
    """The second machine reaches the server over HTTPS (docs/security.md): --ca-bundle / TRIGFLOW_CA_BUNDLE
    trusts a self-signed certificate; without it the handshake fails as no API answer (exit 3)."""
    import ssl
    import urllib.request

    from tests.integration.test_hardening_front_door import self_signed

    cert, key = self_signed(tmp_path)
    port = free_port()
    data = tmp_path / "tls"
    data.mkdir()
    env = {**os.environ, "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}
    args = [sys.executable, "-m", "trigflow.cli", "up", "--port", str(port), "--data-dir", str(data),
            "--tls-cert", str(cert), "--tls-key", str(key)]  # fmt: skip
    with open(data / "server.out", "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    trusted = ssl.create_default_context(cafile=str(cert))
    try:

        def healthy() -> bool:
            assert proc.poll() is None, (data / "server.out").read_text()
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=2, context=trusted) as r:
                return r.status == 200

        wait_for(healthy, timeout=30, interval=0.05, what="trigflow https /healthz")
        remote = Server(port, data, proc, data / "server.out")
        https = {"TRIGFLOW_ENDPOINT": f"https://127.0.0.1:{port}"}
        trusting = cli(remote, home, "runs", "list", extra_env={**https, "TRIGFLOW_CA_BUNDLE": str(cert)})
        assert (trusting.returncode, trusting.stdout.strip()) == (0, "no runs"), trusting.stderr
        flag = cli(remote, home, "runs", "list", "--ca-bundle", str(cert), extra_env=https)
        assert flag.returncode == 0, flag.stderr
        untrusting = cli(remote, home, "runs", "list", extra_env=https)
        assert untrusting.returncode == 3 and untrusting.stderr.startswith("ClientNetworkError: cannot reach https://")
        assert "CERTIFICATE_VERIFY_FAILED" in untrusting.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
