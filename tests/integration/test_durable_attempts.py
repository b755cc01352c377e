"""Tasks outlive a server SIGKILL (issue 10 point 2, docs/adr/0005-durable-local-attempts.md).

`trigflow up` runs its attempts under a keeper process that outlives the server. After a SIGKILL of
`trigflow up` and a restart on the same data dir: an attempt that still runs is adopted and watched to its
end (and can be killed); one that ended while no server ran is recorded with its real exit code and its
outputs; only one that ended with no keeper left to see it is ExecutorLost. Tasks are gated on files the
test creates, so each one ends exactly when the test says, never after a sleep.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, task_states, wait_run


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Gate files for tasks to wait on; all opened at teardown, so a failed test leaves no task waiting."""
    made: list[Path] = []

    def gate(name: str) -> Path:
        made.append(tmp_path / name)
        return made[-1]

    yield gate
    for path in made:
        path.touch()


def _alive(pid: int) -> bool:
    """Running (not a zombie): a zombie has ended, whoever is yet to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _session_leader(pid: int) -> int | None:
    return pid if pid != 1 and os.getsid(pid) == pid else None


def _gated(pidfile: Path, gate: Path, then: str) -> str:
    """A task that records its pid, waits for `gate` to exist (polling the file system, not the clock
    of the test), then runs `then`."""
    return f'echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done; {then}'


def _pid(pidfile: Path) -> int:
    text = wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what=f"{pidfile.name} written")
    return int(text)


def _project(server: Server) -> tuple[Any, str]:
    client = make_client(server.endpoint)
    return client, str(call(client, "ListProjects", {}).Items[0].ProjectId)


def test_a_server_sigkill_neither_fails_nor_reruns_tasks_that_ran_on(tmp_path: Path, gates: Any) -> None:
    data = tmp_path / "data"
    gate, late_gate = gates("gate"), gates("late_gate")
    files = {n: tmp_path / f"{n}.pid" for n in ("ok", "bad", "long")}
    runs_file = tmp_path / "ok.runs"  # one line per execution of `ok`: a re-run would add a second
    server = start_server(data, extra=["--kill-grace", "1"])
    try:
        client, project_id = _project(server)
        wf = new_workflow(client, project_id, "durable_wf")
        ok = new_task(client, project_id, wf, "ok",
                      _gated(files["ok"], gate, f'echo ran >> {runs_file}; echo "##wedata_output total=42"'),
                      ParamTaskOutList=[{"ParamKey": "total", "ParamValue": ""}])  # fmt: skip
        new_task(client, project_id, wf, "bad", _gated(files["bad"], gate, "exit 3"))
        new_task(client, project_id, wf, "long", _gated(files["long"], late_gate, "echo long done"))
        got = tmp_path / "got"
        new_task(client, project_id, wf, "after", f'echo "${{t}}" > {got}', upstream=[ok],
                 ParamTaskInList=[{"ParamKey": "t", "ParamDesc": "p.ok.total", "FromTaskId": ok,
                                   "FromParamKey": "total"}])  # fmt: skip
        run_id = start_run(client, project_id, wf)
        pids = {n: _pid(f) for n, f in files.items()}
    finally:
        server.stop(signal.SIGKILL)  # the launcher: the operator's `kill -9` of `trigflow up`
    server.wait_gone()
    assert all(_alive(p) for p in pids.values()), "the tasks run on without the server"

    gate.touch()  # `ok` and `bad` end while no server runs
    wait_for(lambda: not _alive(pids["ok"]) and not _alive(pids["bad"]), what="ok and bad to end")
    restarted = start_server(data, port=server.port, extra=["--kill-grace", "1"])
    try:
        client, project_id = _project(restarted)

        def settled() -> Any:
            data_ = get_run(client, project_id, run_id)
            states = task_states(data_)
            return data_ if states["ok"] == "SUCCESS" and states["bad"] == "FAILED" else None

        data_ = wait_for(settled, what="ok and bad recorded with their real ends")
        by_name = {t.TaskName: t for t in data_.TriggerTaskRuns}
        assert task_states(data_)["long"] == "RUNNING"  # adopted, not lost
        assert by_name["bad"].ErrorCodeStr == "exit code 3", by_name["bad"].ErrorCodeStr
        assert "ExecutorLost" not in (by_name["ok"].ErrorCodeStr or "")

        late_gate.touch()
        result = wait_run(client, project_id, run_id)
        assert task_states(result) == {"ok": "SUCCESS", "bad": "FAILED", "long": "SUCCESS", "after": "SUCCESS"}
        assert got.read_text().strip() == "42"  # the output written while no server ran reached `after`
        assert runs_file.read_text().splitlines() == ["ran"]  # ran once: nothing was re-run
    finally:
        restarted.stop()


def _one_task_then_crash(tmp_path: Path, gate: Path, then: str) -> tuple[Server, str, str, int]:
    """A server on a fresh data dir runs one gated task `t` of workflow `wf`, and is SIGKILLed (launcher
    included) while the task waits: the server, the workflow id, the run id and the task's pid."""
    pidfile = tmp_path / "t.pid"
    server = start_server(tmp_path / "data", extra=["--kill-grace", "1"])
    try:
        client, project_id = _project(server)
        wf = new_workflow(client, project_id, "one_task_wf")
        new_task(client, project_id, wf, "t", _gated(pidfile, gate, then))
        run_id = start_run(client, project_id, wf)
        pid = _pid(pidfile)
    finally:
        server.stop(signal.SIGKILL)
    server.wait_gone()
    return server, wf, run_id, pid


def test_an_adopted_task_can_be_killed(tmp_path: Path, gates: Any) -> None:
    data = tmp_path / "data"
    server, wf, run_id, pid = _one_task_then_crash(tmp_path, gates("never"), "true")
    restarted = start_server(data, port=server.port, extra=["--kill-grace", "1"])
    try:
        client, project_id = _project(restarted)
        assert task_states(get_run(client, project_id, run_id))["t"] == "RUNNING"
        call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": wf, "All": True})
        result = wait_run(client, project_id, run_id)
        assert result.TriggerWorkflowRun.ExecutionState == "KILLED"
        wait_for(lambda: not _alive(pid), timeout=10, what="the adopted task's process to be killed")
    finally:
        restarted.stop()


def test_a_task_that_ends_with_no_keeper_left_is_lost_not_guessed(tmp_path: Path, gates: Any) -> None:
    data, gate = tmp_path / "data", gates("gate")
    server, _wf, run_id, pid = _one_task_then_crash(tmp_path, gate, "exit 0")
    # The keeper leads a session of its own (the server does not): wait until the task's parent is it.
    keeper = wait_for(lambda: _session_leader(_ppid(pid)), what="the task re-parented to its keeper")
    assert b"trigflow" in Path(f"/proc/{keeper}/cmdline").read_bytes()
    os.kill(keeper, signal.SIGKILL)  # nobody is left to see how the task ends
    gate.touch()
    wait_for(lambda: not _alive(pid), what="the task to end")
    restarted = start_server(data, port=server.port, extra=["--kill-grace", "1"])
    try:
        client, project_id = _project(restarted)
        result = wait_run(client, project_id, run_id)
        t = result.TriggerTaskRuns[0]
        assert task_states(result) == {"t": "FAILED"}
        assert t.ErrorCodeStr.startswith("ExecutorLost"), t.ErrorCodeStr
    finally:
        restarted.stop()


def test_a_graceful_stop_leaves_tasks_running_for_the_next_server(tmp_path: Path, gates: Any) -> None:
    """SIGTERM (an upgrade, a restart) does not kill running tasks unless `--kill-on-stop`: the next
    `trigflow up` on the data dir adopts them and records how they end."""
    data = tmp_path / "data"
    pidfile, gate = tmp_path / "t.pid", gates("gate")
    server = start_server(data, extra=["--kill-grace", "1"], kill_on_stop=False)
    try:
        client, project_id = _project(server)
        wf = new_workflow(client, project_id, "graceful_wf")
        new_task(client, project_id, wf, "t", _gated(pidfile, gate, 'echo "##wedata_output n=7"'),
                 ParamTaskOutList=[{"ParamKey": "n", "ParamValue": ""}])  # fmt: skip
        run_id = start_run(client, project_id, wf)
        pid = _pid(pidfile)
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert _alive(pid), "a graceful stop left the task running"
    gate.touch()
    wait_for(lambda: not _alive(pid), what="the task to end while no server runs")
    restarted = start_server(data, port=server.port, extra=["--kill-grace", "1"])
    try:
        client, project_id = _project(restarted)
        result = wait_run(client, project_id, run_id)
        assert task_states(result) == {"t": "SUCCESS"}
        ext = json.loads(result.TriggerTaskRuns[0].TaskTypeExtensions)
        assert json.loads(ext["taskOutputs"]) == {"n": "7"}  # written while no server ran
    finally:
        restarted.stop()


def test_kill_on_stop_kills_running_tasks_at_a_graceful_stop(tmp_path: Path, gates: Any) -> None:
    data = tmp_path / "data"
    pidfile, never = tmp_path / "t.pid", gates("never")
    server = start_server(data, extra=["--kill-grace", "1"], kill_on_stop=True)
    try:
        client, project_id = _project(server)
        wf = new_workflow(client, project_id, "kill_on_stop_wf")
        new_task(client, project_id, wf, "t", _gated(pidfile, never, "true"))
        start_run(client, project_id, wf)
        pid = _pid(pidfile)
    finally:
        assert server.stop(signal.SIGTERM) == 0
    wait_for(lambda: not _alive(pid), timeout=10, what="the task killed by the graceful stop")


def test_a_task_whose_start_was_never_committed_is_found_and_adopted(tmp_path: Path, gates: Any) -> None:
    """The server can die after spawning a task and before committing its pid (the "started" event is written
    in the next batch). Recovery then finds the task by the task-run id in its environment and adopts it, so it
    neither runs twice nor is killed half-way. The crash is reproduced exactly: the pid is erased from the
    database while no server runs, leaving the row as such a crash leaves it."""
    import sqlite3

    gate, ledger = gates("gate"), tmp_path / "ledger"
    server, _wf, run_id, pid = _one_task_then_crash(tmp_path, gate, f"echo ran >> {ledger}")
    with sqlite3.connect(tmp_path / "data" / "trigflow.db") as db:
        erased = db.execute("UPDATE task_runs SET pid = NULL, proc_start = NULL WHERE state = 'RUNNING'").rowcount
    assert erased == 1
    restarted = start_server(tmp_path / "data", port=server.port, extra=["--kill-grace", "1"])
    try:
        client, project_id = _project(restarted)
        wait_for(lambda: task_states(get_run(client, project_id, run_id))["t"] == "RUNNING", what="still running",
                 interval=0.1)  # fmt: skip
        assert _alive(pid), "recovery adopted the task instead of killing it"
        gate.touch()
        result = wait_run(client, project_id, run_id)
        assert task_states(result) == {"t": "SUCCESS"}
        assert ledger.read_text().splitlines() == ["ran"]
    finally:
        restarted.stop()


def test_a_server_process_killed_with_sigkill_makes_its_launcher_die_of_sigkill(tmp_path: Path) -> None:
    """`kill -9` of the server process itself (not of `trigflow up`): the launcher exits as a shell expects,
    of the same signal, instead of failing to reset a handler SIGKILL cannot have (found by
    bench/restart_chaos.py, which printed a traceback from the launcher at every such kill)."""
    server = start_server(tmp_path / "data", extra=["--kill-grace", "1"])
    try:
        os.kill(server.server_pid, signal.SIGKILL)
        assert server.proc.wait(timeout=20) == -signal.SIGKILL
        assert "Traceback" not in server.output(), server.output()
    finally:
        server.stop(signal.SIGKILL)


@pytest.mark.parametrize("retries", [1, 0], ids=["with-a-retry", "without"])
def test_an_exit_reaped_but_not_yet_committed_survives_a_server_sigkill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retries: int
) -> None:
    """The window bench/restart_chaos.py found: a local attempt ends while the server is alive, the watcher
    thread sees the exit, and the server is SIGKILLed before its engine commits it (held open here by the
    test-only fault file, which makes every loop pass fail). The exit must not be lost: the executor keeps the
    zombie until the exit is recorded (`LocalExecutor.recorded`), so the dead server's zombie goes to the
    keeper, which records its status, and the restarted server records SUCCESS with the first attempt's own
    output; its work ran once (before: ExecutorLost, then a retry ran the work again, or FAILED without one)."""
    fault, gate, trace, pidfile = tmp_path / "fault", tmp_path / "gate", tmp_path / "trace", tmp_path / "pid"
    monkeypatch.setenv("TRIGFLOW_TEST_SCHEDULER_FAULT_FILE", str(fault))
    server = start_server(tmp_path / "data", extra=["--kill-grace", "1"])
    monkeypatch.delenv("TRIGFLOW_TEST_SCHEDULER_FAULT_FILE")
    try:
        client = make_client(server.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "exit_window")
        new_task(client, project_id, wf, "t",
                 f'echo "ran $(basename "$WEDATA_OUTPUT_FILE" .outputs)" >> {trace}; echo $$ > {pidfile}; '
                 f'while [ ! -e {gate} ]; do sleep 0.05; done; echo "##wedata_output token=$$"',
                 MaxRetryNumber=retries, RetryWaitMinute=0,
                 ParamTaskOutList=[{"ParamKey": "token", "ParamValue": ""}])  # fmt: skip
        run_id = start_run(client, project_id, wf)
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the attempt running"))
        fault.touch()  # the engine drains its queue but applies nothing from now on
        gate.touch()
        wait_for(lambda: _zombie_or_gone(pid), what="the attempt ended while the server was alive")
        assert get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionState == "RUNNING"
    finally:
        server.stop(signal.SIGKILL)
    server.wait_gone()
    fault.unlink()
    t = _restarted_run_task(tmp_path, server.port, project_id, run_id, pid)
    assert trace.read_text().split("\n") == [f"ran {t.TaskId}.0.0", ""]  # its work ran once


def _restarted_run_task(tmp_path: Path, port: int, project_id: str, run_id: str, pid: int) -> Any:
    """Restart the server on the same data dir; its one task run must be SUCCESS on its first attempt, with
    that attempt's own output (`token` = the pid of the process that ran), not a retry's."""
    restarted = start_server(tmp_path / "data", port=port, extra=["--kill-grace", "1"])
    try:
        client = make_client(restarted.endpoint)
        t = wait_run(client, project_id, run_id, timeout=60).TriggerTaskRuns[0]
        outputs = json.loads(json.loads(t.TaskTypeExtensions or "{}").get("taskOutputs", "{}"))
        assert (t.ExecutionState, t.RetryTimes, t.ErrorCodeStr) == ("SUCCESS", 0, None)
        assert outputs.get("token") == str(pid)
        return t
    finally:
        restarted.stop()


def _zombie_or_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("found_by", ["the-spawn-journal", "the-keeper"])
def test_an_attempt_whose_pid_was_never_committed_is_found_and_recorded(tmp_path: Path, found_by: str) -> None:
    """The other window bench/restart_chaos.py found: the engine commits an attempt's pid a batch after the
    spawn; a server killed in between left a RUNNING row without a pid, and once the attempt had ended nothing
    could find its keeper record (its environment dies with it), so it was lost and ran again. The executor
    journals the process at its spawn (executors/spawns.py, `<data dir>/keeper/spawned`); and, for a server
    killed during the spawn itself (nothing journalled yet), the keeper notes the task run of each orphan the
    dead server left it (`keeper._note_orphans`, from its environment,
    while it still runs). The crash state is made exactly: the server is SIGKILLed while the attempt runs,
    and the pid the batch had committed is erased from the row (for the keeper case, the journal too),
    as if the crash came first; the attempt then ends before the restart."""
    import sqlite3

    gate, trace, pidfile = tmp_path / "gate", tmp_path / "trace", tmp_path / "pid"
    server = start_server(tmp_path / "data", extra=["--kill-grace", "1"])
    try:
        client = make_client(server.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "pid_window")
        new_task(client, project_id, wf, "t",
                 f'echo ran >> {trace}; echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done; '
                 'echo "##wedata_output token=$$"', MaxRetryNumber=1, RetryWaitMinute=0,
                 ParamTaskOutList=[{"ParamKey": "token", "ParamValue": ""}])  # fmt: skip
        run_id = start_run(client, project_id, wf)
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the attempt running"))
        exec_id = get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionId
    finally:
        server.stop(signal.SIGKILL)
    server.wait_gone()
    with sqlite3.connect(tmp_path / "data" / "trigflow.db") as db:
        assert db.execute("UPDATE task_runs SET pid = NULL, proc_start = NULL WHERE execution_id = ?",
                          (exec_id,)).rowcount == 1  # fmt: skip
    journal, noted = tmp_path / "data" / "keeper" / "spawned", tmp_path / "data" / "keeper" / "ids" / f"{exec_id}.json"
    assert exec_id in journal.read_text()
    wait_for(noted.exists, what="the keeper noting the dead server's orphan")
    if found_by == "the-keeper":
        journal.write_text("")  # only the keeper's note can find it
    else:
        noted.unlink()  # only the journal can find it
    gate.touch()
    wait_for(lambda: _zombie_or_gone(pid), what="the attempt ended while no server ran")
    _restarted_run_task(tmp_path, server.port, project_id, run_id, pid)
    assert trace.read_text().split() == ["ran"]  # its work ran once
