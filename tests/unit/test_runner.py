"""`trigflow run-attempt` (trigflow.runner), as real processes: the workload contract of docs/adr/0004-task-types.md.

The echo runner (TaskTypeId -1, no wire type) stands in for SQL, SSH, ...: it prints its code, writes its
parameters as outputs and, when told to, waits for its cancel event like a long query. Nothing sleeps: each
wait is on a pipe, a queue or a process with a deadline.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import pytest
import sqlalchemy as sa

import trigflow
from trigflow.app import bootstrap, build
from trigflow.config import Settings
from trigflow.domain.datasources import SourceUse
from trigflow.domain.errors import InvalidParameterValue
from trigflow.engine.execution_messages import Adopt
from trigflow.executors.base import ExecutorEvent
from trigflow.executors.local import LocalExecutor
from trigflow.runner import main as runner_main
from trigflow.runner.base import KEY_DATA_SOURCE, redact, secrets_of
from trigflow.runner.registry import ECHO_TYPE_ID
from trigflow.service.common import Caller
from trigflow.store import runs as rq
from trigflow.store.tables import task_runs
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes.base import Labels
from trigflow.tasktypes.process import RUNNER_ARGV, Attempt, RunnerTask

WAIT = 20.0
SECRET = "s3cr3t-pa55word"
# the runner processes import the trigflow under test, not whichever one the interpreter would find on its own
# (a shared virtualenv's editable install of another checkout)
CODE = str(Path(trigflow.__file__).resolve().parents[1])
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def workload(tmp_path: Path, **config: str) -> dict[str, Any]:
    return {
        "taskTypeId": ECHO_TYPE_ID,
        "code": "select 'hello'",
        "params": {"total": "42", "day": "2026-12-03"},
        "config": config,
        "dataSource": {"type": "POSTGRE", "url": "jdbc:postgresql://127.0.0.1:5432/test", "password": SECRET},
        "outputsPath": str(tmp_path / "a.outputs"),
        "limits": {},
    }


def sealed(doc: Mapping[str, Any]) -> int:
    """The workload in a sealed memfd, as the executor hands it over (LaunchSpec.script)."""
    fd = os.memfd_create("workload", os.MFD_ALLOW_SEALING)
    os.write(fd, json.dumps(doc).encode())
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    return fd


def start(args: list[str], fd: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": CODE, "WEDATA_OUTPUT_FILE": str(tmp_path / "a.outputs")}
    return subprocess.Popen(
        [sys.executable, "-m", "trigflow.cli", "run-attempt", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(fd,), env=env, cwd=tmp_path, bufsize=0,
    )  # fmt: skip


def read_until(proc: subprocess.Popen[bytes], needle: bytes) -> bytes:
    """stdout up to `needle` at least, within WAIT (unbuffered reads: select sees what is really left)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + WAIT
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in the runner's log within {WAIT}s: {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"the runner ended before {needle!r}: {seen!r}"
            seen += chunk
    return seen


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the runner with another group")
@pytest.mark.parametrize("entry", [RUNNER_ARGV[1:], ("-m", "trigflow.cli", "run-attempt")])
def test_the_runner_is_not_dumpable_so_other_tasks_cannot_read_its_workload(
    tmp_path: Path, entry: tuple[str, ...]
) -> None:
    """The sealed workload holds data-source secrets; a same-user task could read it through
    /proc/<runner>/fd/N or /proc/<runner>/mem. A non-dumpable process's /proc files are owned by root:root
    instead of its own uid:gid (the tests run as root, so the group tells the two apart)."""
    fd = sealed(workload(tmp_path, wait="cancel"))
    try:
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": CODE, "WEDATA_OUTPUT_FILE": str(tmp_path / "a.outputs")}
        proc = subprocess.Popen([sys.executable, *entry, "--workload-fd", str(fd)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(fd,), env=env,
                                cwd=tmp_path, bufsize=0, group=65534)  # fmt: skip
        try:
            read_until(proc, b"waiting for cancel")
            assert os.stat(f"/proc/{proc.pid}/fd").st_gid == 0
        finally:
            proc.kill()
            proc.communicate()
    finally:
        os.close(fd)


@pytest.mark.parametrize("how", ["fd", "path"])
def test_run_attempt_logs_writes_outputs_and_exits_with_the_runners_code(tmp_path: Path, how: str) -> None:
    fd = sealed(workload(tmp_path, exit="3"))
    try:
        args = ["--workload-fd", str(fd)] if how == "fd" else [f"/dev/fd/{fd}"]
        proc = start(args, fd, tmp_path)
        out, err = proc.communicate(timeout=WAIT)
    finally:
        os.close(fd)
    assert (proc.returncode, out, err) == (3, b"select 'hello'\n", b"")
    assert (tmp_path / "a.outputs").read_text() == "total=42\nday=2026-12-03\n"  # docs/parameters.md format


def test_sigterm_cancels_the_work_and_the_attempt_dies_of_it_without_showing_its_secret(tmp_path: Path) -> None:
    fd = sealed(workload(tmp_path, wait="cancel"))
    try:
        proc = start(["--workload-fd", str(fd)], fd, tmp_path)
        try:
            before = read_until(proc, b"waiting for cancel")
            for what in ("cmdline", "environ"):  # the password came through the sealed descriptor only
                assert SECRET.encode() not in Path(f"/proc/{proc.pid}/{what}").read_bytes()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=WAIT)
        finally:
            proc.kill()
            proc.communicate()
    finally:
        os.close(fd)
    assert proc.returncode == -signal.SIGTERM  # what the engine sees of any killed attempt
    assert (before + out).endswith(b"cancelled: stopping the work\n") and err == b""


def test_a_sigterm_the_kernel_hands_to_the_runner_thread_still_cancels_the_work(tmp_path: Path) -> None:
    """kill(2) of a process may land on any of its threads that does not block the signal. Aimed at the runner's
    thread (a process-directed kill through that thread's id: the kernel tries that thread first), it used to
    leave the main thread asleep in its wait, where Python never ran the handler: the attempt ignored its
    kill (seen once in a parallel suite run as a 20 s timeout of the test above)."""
    fd = sealed(workload(tmp_path, wait="cancel"))
    try:
        proc = start(["--workload-fd", str(fd)], fd, tmp_path)
        try:
            before = read_until(proc, b"waiting for cancel")
            threads = [int(t.name) for t in Path(f"/proc/{proc.pid}/task").iterdir() if int(t.name) != proc.pid]
            assert threads, "the runner's work runs on a thread of its own"
            os.kill(threads[0], signal.SIGTERM)
            out, err = proc.communicate(timeout=WAIT)
        finally:
            proc.kill()
            proc.communicate()
    finally:
        os.close(fd)
    assert proc.returncode == -signal.SIGTERM
    assert (before + out).endswith(b"cancelled: stopping the work\n") and err == b""


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (b"not json", "not a JSON document"),
        (b"[]", "must be a JSON object"),
        (b'{"taskTypeId": "32"}', "taskTypeId must be an integer"),
        (b'{"taskTypeId": 999}', "no runner for TaskTypeId 999"),
    ],
)
def test_a_bad_workload_runs_nothing_and_says_why(tmp_path: Path, document: bytes, why: str) -> None:
    path = tmp_path / "w.json"
    path.write_bytes(document)
    proc = subprocess.run([sys.executable, "-m", "trigflow.cli", "run-attempt", str(path)],
                          capture_output=True, text=True, timeout=WAIT)  # fmt: skip
    assert proc.returncode == 2 and why in proc.stderr and proc.stdout == ""


def test_a_failing_runner_exits_1_and_its_message_never_shows_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(doc: Mapping[str, Any], log: TextIO, outputs: str | None, cancel: threading.Event) -> int:
        raise ConnectionError(f"could not connect with password {SECRET}")

    monkeypatch.setattr(runner_main, "runner_for", lambda _type_id: failing)
    path = tmp_path / "w.json"
    path.write_text(json.dumps(workload(tmp_path)))
    log = io.StringIO()
    assert runner_main.run_attempt(str(path), log) == 1
    assert log.getvalue() == "[trigflow] the attempt failed: ConnectionError: could not connect with password ***\n"


def test_secrets_are_found_under_secret_keys_and_redacted_longest_first() -> None:
    doc = {KEY_DATA_SOURCE: {"username": "u", "password": "abc", "ssh": {"privateKey": "abcdef"}, "port": 5432}}
    assert secrets_of(doc) == ["abcdef", "abc"]
    assert redact("k=abcdef p=abc u=u", secrets_of(doc)) == "k=*** p=*** u=u"
    assert secrets_of({}) == []


# --- through an executor, from the LaunchSpec the task-type layer builds ---------------------------------

ECHO = RunnerTask(Labels(ECHO_TYPE_ID, design="ECHO", desc="echo", category="GENERAL"), "ECHO")


@pytest.fixture
def executor() -> Iterator[tuple[LocalExecutor, queue.Queue[ExecutorEvent]]]:
    events: queue.Queue[ExecutorEvent] = queue.Queue()
    ex = LocalExecutor(events.put)
    yield ex, events
    ex.shutdown(kill=True, grace_seconds=0.2)


def launch(tmp_path: Path, ex: LocalExecutor, attempt_id: str, **config: str) -> Path:
    doc = workload(tmp_path, **config)
    spec = ECHO.freeze(doc["code"], config)
    log = tmp_path / f"{attempt_id}.log"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": CODE, "WEDATA_OUTPUT_FILE": doc["outputsPath"]}
    attempt = Attempt(attempt_id, env, str(tmp_path), str(log), doc["outputsPath"], doc["code"], doc["params"],
                      data_source=doc["dataSource"])  # fmt: skip
    ex.start(ECHO.launch(spec, attempt))
    return log


def next_event(events: queue.Queue[ExecutorEvent]) -> ExecutorEvent:
    try:
        return events.get(timeout=WAIT)
    except queue.Empty:
        raise AssertionError(f"no executor event within {WAIT}s") from None


def test_the_local_executor_runs_a_runner_type_from_its_launch_spec(
    tmp_path: Path, executor: tuple[LocalExecutor, queue.Queue[ExecutorEvent]]
) -> None:
    ex, events = executor
    log = launch(tmp_path, ex, "ok")
    event = next_event(events)
    assert (event.kind, event.exit_code) == ("exited", 0)
    assert log.read_text() == "select 'hello'\n"
    assert (tmp_path / "a.outputs").read_text() == "total=42\nday=2026-12-03\n"
    assert not list(tmp_path.glob("*.sh")) and SECRET not in "".join(p.read_text() for p in tmp_path.iterdir())


def test_a_kill_reaches_the_runner_types_cancel_hook(
    tmp_path: Path, executor: tuple[LocalExecutor, queue.Queue[ExecutorEvent]]
) -> None:
    ex, events = executor
    os.mkfifo(tmp_path / "a.outputs")  # the runner writes its outputs, then waits: reading them is the cue
    outputs: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: outputs.put((tmp_path / "a.outputs").read_text()), daemon=True).start()
    log = launch(tmp_path, ex, "slow", wait="cancel")
    assert outputs.get(timeout=WAIT) == "total=42\nday=2026-12-03\n"
    assert ex.kill("slow", grace_seconds=WAIT)
    event = next_event(events)
    assert (event.kind, event.exit_code) == ("exited", -signal.SIGTERM)
    assert log.read_text().endswith("cancelled: stopping the work\n")


# --- through the engine: a runner type's save check, frozen data source and sealed workload -------------


class ProbeType(RunnerTask):
    """A runner type on a PostgreSQL data source, registered only inside the test below (TaskTypeId -1)."""

    sources = (SourceUse("SourceServiceId", ("POSTGRE",)),)


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    probe = ProbeType(Labels(ECHO_TYPE_ID, design="PROBE", desc="probe", category="GENERAL"), "PROBE")
    monkeypatch.setitem(TASK_TYPES._by_id, ECHO_TYPE_ID, probe)
    monkeypatch.setitem(TASK_TYPES._by_kind, "PROBE", probe)
    built = build(Settings(data_dir=tmp_path / "data"), clock=lambda: 1_700_000_000_000)
    try:
        yield built
    finally:
        built.scheduler.executor.shutdown(kill=False, grace_seconds=0)
        built.db.dispose()


def test_a_runner_type_checks_its_data_source_at_save_and_its_attempt_gets_the_connection_sealed(
    services: Any,
) -> None:
    boot = bootstrap(services)
    caller, project = Caller(boot.admin.secret_id, boot.admin.uin), boot.project_id
    props = json.dumps({"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "probe", "password": SECRET})
    source_id = services.datasources.create(
        caller, {"ProjectId": project, "Name": "probe_db", "Type": "POSTGRE", "ProdConProperties": props}
    )
    wf = services.catalog.create_workflow(
        caller, {"ProjectId": project, "WorkflowName": "probe", "ParentFolderPath": "/p"}
    )

    def create(config: dict[str, Any]) -> str:
        return str(services.tasks.create_task(caller, {
            "ProjectId": project,
            "TriggerTaskBaseAttribute": {"TaskName": f"probe{len(config)}", "TaskTypeId": str(ECHO_TYPE_ID),
                                         "WorkflowId": wf},
            "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(b"select '${day}'").decode(),
                                         "TaskSchedulingParameterList": [{"ParamKey": "day", "ParamValue": "d1"}],
                                         **config},
            "TriggerTaskSchedulerConfiguration": {},
        }))  # fmt: skip

    with pytest.raises(InvalidParameterValue, match=r"^TriggerTaskConfiguration\.SourceServiceId is required"):
        create({})
    with pytest.raises(InvalidParameterValue, match=r"SourceServiceId: data source 999 does not exist"):
        create({"SourceServiceId": "999"})
    task_id = create({"SourceServiceId": str(source_id)})
    services.tasks.submit_task(caller, project, task_id, "probe")
    run_id = services.runs.create_manual_run(caller, {"ProjectId": project, "WorkflowId": wf})
    effects = services.scheduler.execution.process([Adopt(run_id)])
    (launch,) = effects.launches
    assert launch.argv == RUNNER_ARGV and launch.script_copy_path is None
    assert SECRET not in " ".join(launch.argv) + json.dumps(dict(launch.env))
    assert launch.script is not None
    doc = json.loads(launch.script)
    source = doc[KEY_DATA_SOURCE]
    assert (source["driver"], source["host"], source["port"], source["username"]) == ("postgresql", "127.0.0.1", 5432,
                                                                                     "probe")  # fmt: skip
    assert source["password"] == SECRET  # only here, in the sealed document
    assert (doc["taskTypeId"], doc["code"]) == (ECHO_TYPE_ID, "select 'd1'")
    # The substituted code is kept for GetTaskInstanceLog (the executor copies nothing of a sealed workload).
    (copy,) = (services.scheduler.execution.runs_dir / run_id).glob("*.txt")
    assert copy.read_text() == "select 'd1'" and copy.stat().st_mode & 0o777 == 0o600


def test_an_attempt_whose_data_source_is_gone_fails_to_launch_saying_so(services: Any) -> None:
    boot = bootstrap(services)
    caller, project = Caller(boot.admin.secret_id, boot.admin.uin), boot.project_id
    props = json.dumps({"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "probe", "password": SECRET})
    old, new = (
        services.datasources.create(
            caller, {"ProjectId": project, "Name": name, "Type": "POSTGRE", "ProdConProperties": props}
        )
        for name in ("old_db", "new_db")
    )
    wf = services.catalog.create_workflow(
        caller, {"ProjectId": project, "WorkflowName": "gone", "ParentFolderPath": "/p"}
    )
    task = {
        "TriggerTaskBaseAttribute": {"TaskName": "probe", "TaskTypeId": str(ECHO_TYPE_ID), "WorkflowId": wf,
                                     "OwnerUin": boot.admin.uin},
        "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(b"select 1").decode(),
                                     "SourceServiceId": str(old)},
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
    }  # fmt: skip
    task_id = services.tasks.create_task(caller, {"ProjectId": project, **task})
    services.tasks.submit_task(caller, project, task_id, "v1")
    run_id = services.runs.create_manual_run(caller, {"ProjectId": project, "WorkflowId": wf})  # freezes `old`
    task["TriggerTaskConfiguration"]["SourceServiceId"] = str(new)
    services.tasks.update_task(caller, {"ProjectId": project, "TaskId": task_id, "Task": task})
    services.tasks.submit_task(caller, project, task_id, "v2")
    services.datasources.delete(project, old)  # no task names it any more
    effects = services.scheduler.execution.process([Adopt(run_id)])
    assert effects.launches == []
    with services.db.read() as conn:
        (row,) = rq.task_runs_of(conn, run_id)
    assert row["state"] == "FAILED"
    assert row["error_code_str"] == f"DataSourceUnavailable: data source {old} of task 'probe' no longer exists"


def test_a_task_run_of_a_kind_this_server_does_not_know_fails_to_launch_instead_of_running_as_shell(
    services: Any,
) -> None:
    boot = bootstrap(services)
    caller, project = Caller(boot.admin.secret_id, boot.admin.uin), boot.project_id
    wf = services.catalog.create_workflow(
        caller, {"ProjectId": project, "WorkflowName": "future", "ParentFolderPath": "/p"}
    )
    task_id = services.tasks.create_task(caller, {
        "ProjectId": project,
        "TriggerTaskBaseAttribute": {"TaskName": "future", "TaskTypeId": "35", "WorkflowId": wf},
        "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(b"echo never").decode()},
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
    })  # fmt: skip
    services.tasks.submit_task(caller, project, task_id, "v1")
    run_id = services.runs.create_manual_run(caller, {"ProjectId": project, "WorkflowId": wf})
    with services.db.write() as conn:  # as a newer server would have frozen it
        (row,) = rq.task_runs_of(conn, run_id)
        spec = {**row["spec"], "kind": "FUTURE_SQL"}
        conn.execute(sa.update(task_runs).where(task_runs.c.execution_id == row["execution_id"]).values(spec=spec))
    effects = services.scheduler.execution.process([Adopt(run_id)])
    assert effects.launches == []
    with services.db.read() as conn:
        (row,) = rq.task_runs_of(conn, run_id)
    assert row["state"] == "FAILED"
    assert row["error_code_str"] == "LaunchFailed: task type 'FUTURE_SQL' is not known to this server; it was not run"
