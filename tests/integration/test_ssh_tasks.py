"""SSH tasks (TaskTypeId 133) end to end: the official SDK against the session's real `trigflow up`, on a real
OpenSSH server on loopback (tests/integration/sshd.py) with key and password authentication. Proven here:
save-time refusals, the log streaming while the script runs, outputs reaching a downstream shell task, a
nonzero exit failing after its retries, kill and execution timeout killing the remote process group (looked
up among the host's processes), data values staying data on the remote host, host-key pinning, and the key
and password appearing in no log and no response."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import (
    call,
    fails,
    get_run,
    new_task,
    new_workflow,
    start_run,
    submitted_task,
    task_states,
    typed_task_params,
    uid,
    wait_run,
)
from tests.integration.sshd import Sshd, pgid_of, remote_pids, start_sshd
from tests.integration.test_task_logs import whole_log

CONFIG = "TriggerTaskConfiguration"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def ssh_source(client: Any, project_id: str, sshd: Sshd, **props: Any) -> str:
    base: dict[str, Any] = {"host": "127.0.0.1", "port": sshd.port, "username": sshd.user}
    if "password" not in props:
        base["privateKey"] = sshd.client_key
    params = {"ProjectId": project_id, "Name": f"ssh_{uid()}", "Type": "SSH",
              "ProdConProperties": json.dumps({**base, **props})}  # fmt: skip
    return str(call(client, "CreateDataSource", params).DataSourceId)


@pytest.fixture(scope="module")
def key_source(client: Any, project_id: str, sshd: Sshd) -> str:
    return ssh_source(client, project_id, sshd)


def task_params(project_id: str, wf: str, name: str, code: str, source: str | None, **sched: Any) -> dict[str, Any]:
    return typed_task_params(project_id, wf, name, code, 133, source, **sched)


def ssh_task(client: Any, project_id: str, wf: str, name: str, code: str, source: str, **sched: Any) -> str:
    return submitted_task(client, task_params(project_id, wf, name, code, source, **sched))


def task_run(client: Any, project_id: str, run_id: str, name: str) -> Any:
    return {t.TaskName: t for t in get_run(client, project_id, run_id).TriggerTaskRuns}[name]


def run_log(client: Any, project_id: str, run_id: str, name: str) -> str:
    return whole_log(client, project_id, task_run(client, project_id, run_id, name).ExecutionId)[0]


def attempt_log(server: Server, run_id: str, task_id: str, attempt: int = 0) -> str:
    path = server.data_dir / "runs" / run_id / f"{task_id}.{attempt}.0.log"
    return path.read_text(errors="replace") if path.exists() else ""


def key_lines(sshd: Sshd) -> list[str]:
    return [line for line in sshd.client_key.splitlines() if "PRIVATE KEY" not in line and line.strip()]


def assert_no_secret(sshd: Sshd, *texts: str) -> None:
    for text in texts:
        for line in key_lines(sshd):
            assert line not in text
        if sshd.password is not None:
            assert sshd.password not in text


# --- save time ------------------------------------------------------------------------------------------


def test_source_service_id_is_required_and_must_be_an_ssh_data_source(
    client: Any, project_id: str, key_source: str, sshd: Sshd
) -> None:
    wf = new_workflow(client, project_id, f"ssh_save_{uid()}")
    field = f"{CONFIG}.SourceServiceId"
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "none", "echo hi", None),
          "InvalidParameterValue", field, "required", "SSH")  # fmt: skip
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "unknown", "echo hi", "987654321"),
          "InvalidParameterValue", field, "987654321")  # fmt: skip
    pg = str(call(client, "CreateDataSource", {
        "ProjectId": project_id, "Name": f"ssh_pg_{uid()}", "Type": "POSTGRE",
        "ProdConProperties": json.dumps({"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "postgres"}),
    }).DataSourceId)  # fmt: skip
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "pg", "echo hi", pg),
          "InvalidParameterValue", field, "POSTGRE", "SSH")  # fmt: skip
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "two", "echo hi", f"{key_source};{key_source}"),
          "InvalidParameterValue", field)  # fmt: skip
    task_id = ssh_task(client, project_id, wf, "ok", "echo hi", key_source)
    fails(client, "UpdateTriggerTaskPartially",
          {"ProjectId": project_id, "TaskId": task_id, "NewSetting": {CONFIG: {"SourceServiceId": pg}}},
          "InvalidParameterValue", f"NewSetting.{field}", "SSH")  # fmt: skip
    got = call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": task_id})
    assert got.TriggerTaskBaseAttribute.TaskTypeId == 133
    assert got.TriggerTaskConfiguration.SourceServiceType == "SSH"
    assert_no_secret(sshd, got.to_json_string())


def test_a_host_key_pin_that_is_not_a_key_is_refused_at_save(client: Any, project_id: str, sshd: Sshd) -> None:
    base = {"host": "127.0.0.1", "port": sshd.port, "username": "root", "privateKey": sshd.client_key}
    for key, bad in (("hostKey", "not a key"), ("knownHosts", "ssh-ed25519 AAAAC3Nza")):
        message = fails(client, "CreateDataSource", {
            "ProjectId": project_id, "Name": f"ssh_bad_{uid()}", "Type": "SSH",
            "ProdConProperties": json.dumps({**base, key: bad})}, "InvalidParameterValue",
            f"ProdConProperties.{key}")  # fmt: skip
        assert_no_secret(sshd, message)


# --- running ----------------------------------------------------------------------------------------------


def test_the_log_streams_while_the_script_runs_and_outputs_reach_a_downstream_shell_task(
    client: Any, project_id: str, key_source: str, sshd: Sshd, server: Server, tmp_path: Path
) -> None:
    flag, got = tmp_path / "go", tmp_path / "got"
    code = (f"echo first-line; echo to-stderr >&2\n"
            f"while [ ! -e {flag} ]; do sleep 0.02; done\n"
            "echo \"user=$(id -un) in $(pwd)\"\n"
            "echo 'from_file=a value with spaces' >> \"$WEDATA_OUTPUT_FILE\"\n"
            "echo '##wedata_output from_log=42'\n")  # fmt: skip
    wf = new_workflow(client, project_id, f"ssh_ok_{uid()}")
    t = ssh_task(client, project_id, wf, "remote", code, key_source,
                 ParamTaskOutList=[{"ParamKey": "from_file", "ParamValue": ""},
                                   {"ParamKey": "from_log", "ParamValue": ""}])  # fmt: skip
    new_task(client, project_id, wf, "consumer", f"printf '%s\\n' \"${{a}}\" \"${{b}}\" > {got}", upstream=[t],
             ParamTaskInList=[
                 {"ParamKey": "a", "ParamDesc": "p.remote.from_file", "FromTaskId": t, "FromParamKey": "from_file"},
                 {"ParamKey": "b", "ParamDesc": "p.remote.from_log", "FromTaskId": t, "FromParamKey": "from_log"},
             ])  # fmt: skip
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: "first-line" in attempt_log(server, run_id, t), timeout=20, what="the first line, streamed")
    assert "user=" not in attempt_log(server, run_id, t)  # the script is still running
    assert any("first-line" in script for script in sshd.remote_scripts())  # its directory, in sshd's TMPDIR
    flag.touch()
    data = wait_run(client, project_id, run_id)
    log = run_log(client, project_id, run_id, "remote")
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", log
    assert "to-stderr" in log and "user=root in /root" in log
    assert f"SSH to root@127.0.0.1:{sshd.port} (private key)" in log
    assert "remote process group" in log and "remote exit status 0" in log
    assert got.read_text().splitlines() == ["a value with spaces", "42"]
    run = task_run(client, project_id, run_id, "remote")
    assert (run.TaskType, run.TaskTypeId) == ("SSH", 133)
    assert all("first-line" not in script for script in sshd.remote_scripts())  # the remote directory is removed
    assert_no_secret(sshd, log, server.output(), get_run(client, project_id, run_id).to_json_string())


def test_a_nonzero_exit_fails_after_its_retries(client: Any, project_id: str, key_source: str, server: Server) -> None:
    wf = new_workflow(client, project_id, f"ssh_fail_{uid()}")
    t = ssh_task(client, project_id, wf, "bad", "echo trying; exit 4", key_source, MaxRetryNumber=1,
                 RetryWaitMinute=0)  # fmt: skip
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id)
    bad = task_run(client, project_id, run_id, "bad")
    assert (bad.ExecutionState, bad.RetryTimes) == ("FAILED", 1)
    for attempt in (0, 1):
        log = attempt_log(server, run_id, t, attempt)
        assert "trying" in log and "remote exit status 4" in log


def test_data_values_stay_data_on_the_remote_host(
    client: Any, project_id: str, key_source: str, tmp_path: Path
) -> None:
    pwned = tmp_path / f"pwned_{uid()}"
    evil = f'x"; touch {pwned}; echo "'
    evil_runtime = f"$(touch {pwned}) `touch {pwned}` ' \\'; touch {pwned}"
    got = tmp_path / "got"
    wf = new_workflow(client, project_id, f"ssh_data_{uid()}")
    producer = new_task(client, project_id, wf, "emit", f"printf 'v=%s\\n' {json.dumps(evil)} >> "
                        '"$WEDATA_OUTPUT_FILE"', ParamTaskOutList=[{"ParamKey": "v", "ParamValue": ""}])  # fmt: skip
    code = ('echo "quoted ${v}"\necho unquoted ${v}\necho \'single ${v}\'\n'
            'printf \'%s\\n\' "$TRIGFLOW_PARAM_v" "$TRIGFLOW_PARAM_r" "${r}"\n'
            'printf \'%s\\n\' "$TRIGFLOW_PARAM_v" "${r}" > ' + str(got) + "\n")  # fmt: skip
    ssh_task(client, project_id, wf, "remote", code, key_source, upstream=[producer],
             ParamTaskInList=[{"ParamKey": "v", "ParamDesc": "p.emit.v", "FromTaskId": producer,
                               "FromParamKey": "v"}])  # fmt: skip
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "r", "ParamValue": evil_runtime}])
    data = wait_run(client, project_id, run_id)
    log = run_log(client, project_id, run_id, "remote")
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", log
    assert not pwned.exists()
    assert f"quoted {evil}" in log and f"single {evil}" in log
    assert got.read_text().splitlines() == [evil, evil_runtime]


def test_password_authentication(client: Any, project_id: str, sshd: Sshd, server: Server) -> None:
    if sshd.password is None:
        pytest.skip("no mount namespace here: the sshd cannot check a password without changing the system's")
    good = ssh_source(client, project_id, sshd, password=sshd.password)
    wrong = ssh_source(client, project_id, sshd, password="not-" + sshd.password)
    wf = new_workflow(client, project_id, f"ssh_pw_{uid()}")
    ssh_task(client, project_id, wf, "good", "echo by-password", good)
    ssh_task(client, project_id, wf, "wrong", "echo never", wrong)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"good": "SUCCESS", "wrong": "FAILED"}
    good_log, wrong_log = run_log(client, project_id, run_id, "good"), run_log(client, project_id, run_id, "wrong")
    assert "(password)" in good_log and "by-password" in good_log
    assert "cannot connect" in wrong_log and "PermissionDenied" in wrong_log and "never" not in wrong_log
    for text in (good_log, wrong_log, server.output()):
        assert sshd.password not in text


def test_a_pinned_host_key_is_checked(client: Any, project_id: str, sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pinned = ssh_source(client, project_id, sshd, hostKey=sshd.host_public_key)
    known = ssh_source(client, project_id, sshd, knownHosts=f"[127.0.0.1]:{sshd.port} {sshd.host_public_key}\n")
    wrong = ssh_source(client, project_id, sshd, hostKey=" ".join(other.with_suffix(".pub").read_text().split()[:2]))
    wf = new_workflow(client, project_id, f"ssh_pin_{uid()}")
    for name, source in (("pinned", pinned), ("known", known), ("wrong", wrong)):
        ssh_task(client, project_id, wf, name, f"echo ran-{name}", source)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"pinned": "SUCCESS", "known": "SUCCESS", "wrong": "FAILED"}
    assert "verified against the data source" in run_log(client, project_id, run_id, "pinned")
    wrong_log = run_log(client, project_id, run_id, "wrong")
    assert "HostKeyNotVerifiable" in wrong_log and "ran-wrong" not in wrong_log


# --- kill and timeout kill the remote process group ------------------------------------------------------


def sleeper(marker: str) -> str:
    """A script whose child `sleep` has a unique duration, so pgrep finds exactly it on the host."""
    return f"echo started; sleep {marker} & wait\n"


def unique_sleep() -> str:
    return f"1000.{uuid.uuid4().int % 10**9:09d}"


def check_own_group(log: str, pid: int) -> None:
    """The remote sleep is in the process group the log names, which is not the SSH session's."""
    pgid = int(log.split("remote process group ")[1].split()[0])
    assert pgid_of(pid) == pgid
    import os

    assert os.getsid(pid) != pgid


def test_kill_kills_the_remote_process_group(client: Any, project_id: str, key_source: str, server: Server) -> None:
    duration = unique_sleep()
    wf = new_workflow(client, project_id, f"ssh_kill_{uid()}")
    t = ssh_task(client, project_id, wf, "sleeper", sleeper(duration), key_source)
    run_id = start_run(client, project_id, wf)
    pids = wait_for(lambda: remote_pids(f"sleep {duration}"), timeout=20, what="the remote sleep")
    wait_for(lambda: "remote process group" in attempt_log(server, run_id, t), timeout=10, what="the pgid line")
    check_own_group(attempt_log(server, run_id, t), pids[0])
    started = time.monotonic()
    res = call(client, "KillTriggerWorkflowRuns",
               {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]})  # fmt: skip
    assert [r.OpStatus for r in res] == [True]
    wait_for(lambda: not remote_pids(f"sleep {duration}"), timeout=5, what="the remote sleep gone")
    assert time.monotonic() - started < 5
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"sleeper": "KILLED"}


@pytest.fixture(scope="module")
def slow_minutes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server whose minute is 2 s, so ExecutionTTLMinute 1 fires while the remote script runs."""
    extra = ["--rate-limit", "1000", "--kill-grace", "1", "--minute-seconds", "2"]
    srv = start_server(tmp_path_factory.mktemp("trigflow_ssh_ttl"), extra=extra)
    yield make_client(srv.endpoint)
    srv.stop()


def test_execution_timeout_kills_the_remote_process_group(slow_minutes: Any, sshd: Sshd) -> None:
    client = slow_minutes
    project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
    source = ssh_source(client, project_id, sshd)
    duration = unique_sleep()
    wf = new_workflow(client, project_id, f"ssh_ttl_{uid()}")
    ssh_task(client, project_id, wf, "sleeper", sleeper(duration), source, ExecutionTTLMinute=1)
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: remote_pids(f"sleep {duration}"), timeout=20, what="the remote sleep")
    data = wait_run(client, project_id, run_id, timeout=20)
    assert task_states(data) == {"sleeper": "FAILED"}
    assert str(task_run(client, project_id, run_id, "sleeper").ErrorCodeStr).startswith("ExecutionTimeout")
    wait_for(lambda: not remote_pids(f"sleep {duration}"), timeout=5, what="the remote sleep gone")
