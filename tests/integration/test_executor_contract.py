"""The executor contract (executors/base.py `Executor`), one suite for every executor (issue 10 point 1).

Each test states one rule of the Protocol. The rules every executor keeps run against all of `EXECUTORS`:
the local executor, and the Celery executor (executors/celery_dispatch.py) on Redis and on RabbitMQ. The
rules that differ by design (docs/adr/0006-celery-workers.md) are stated once per executor, side by side:
how a launch that cannot start fails, how a previous server's attempt is adopted, and what a server stop
does to running attempts.

The Celery harness is the smallest that is still the real path: the internal endpoint (api/internal.py with
service/workers.py's `WorkerHub`) served by uvicorn on a loopback socket of this process, over a migrated
SQLite database holding a RUNNING `task_runs` row of `executor = celery` per attempt (the start fence,
store/runs.py `claim_remote_start`, accepts nothing else), a real broker, and one real `trigflow worker`
process per module and broker, with its own data dir and the token. Each test gets a new CeleryExecutor; the
hub reports to the newest one, as a restarted server's endpoint does. No scheduler and no public API: the
test calls start/kill/running/shutdown/adopt_remote itself and reads the events off the callback.

Paths: a LaunchSpec's run directory (the directory of `log_path`) is re-rooted into the worker's attempt
directory wherever it appears (remote_payload.py), so the files a script waits on or writes for the test
(gates, pid files) live in a directory beside it. Real processes; every wait is on the event queue or a
condition with a deadline, never a sleep.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette

from tests.conftest import wait_for
from trigflow.api import internal
from trigflow.executors.base import Executor, ExecutorEvent, LaunchError, LaunchSpec
from trigflow.executors.celery_dispatch import CeleryExecutor
from trigflow.executors.keeper import ExitRecord
from trigflow.executors.local import LocalExecutor, read_proc_start
from trigflow.service.workers import WorkerHub
from trigflow.store.engine import Database
from trigflow.store.tables import task_runs

WAIT = 10.0
REMOTE_WAIT = 20.0  # a remote attempt's event rides on the broker, a worker's heartbeat and its HTTP report
LEASE = 3.0  # the server's lease in this suite (30 s in production): the reaper's test waits that long
GRACE = 1.0  # SIGTERM -> SIGKILL on the worker (the server's --kill-grace, sent in every payload)
BROKERS = {
    "redis": "redis://127.0.0.1:6379/11",  # a db number no other suite uses
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",  # queue names are this module's own group id
}
ALL = ["local", "celery-redis", "celery-rabbitmq"]
CELERY = ["celery-redis", "celery-rabbitmq"]


class Events:
    """The callback's events: terminal ones ("exited", "lost") queued for `next`; the asynchronous "started"
    an executor may send later (a worker took a remote attempt, base.py) kept apart in `started`, checked by
    the rules about it and never mistaken for an exit."""

    def __init__(self) -> None:
        self.q: queue.Queue[ExecutorEvent] = queue.Queue()
        self.started: list[ExecutorEvent] = []
        self.exits_before_started: list[str] = []  # attempt ids whose exit came before their async "started"

    def __call__(self, event: ExecutorEvent) -> None:
        if event.kind == "started":
            self.started.append(event)
            return
        self.q.put(event)

    def next(self, timeout: float = WAIT) -> ExecutorEvent:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no executor event within {timeout}s") from None

    def none_within(self, timeout: float) -> bool:
        try:
            extra = self.q.get(timeout=timeout)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {extra}")


class Records:
    """A keeper's exit records, held in memory (the keeper itself is tested end to end elsewhere)."""

    def __init__(self) -> None:
        self.by_pid: dict[tuple[int, str], ExitRecord] = {}

    def __call__(self, pid: int, proc_start: str) -> ExitRecord | None:
        return self.by_pid.get((pid, proc_start))


# --- the Celery side: internal endpoint, database, broker, worker (one per module and broker) ------------------


class Remote:
    """What a server with `--broker` holds for its workers, without the scheduler: the database rows the
    engine would have written when it dispatched, and the hub the internal endpoint hands reports to."""

    def __init__(self, root: Path, broker: str) -> None:
        self.broker = broker
        self.group = f"contract_{uuid.uuid4().hex[:10]}"  # its Celery queue, trigflow.<group>, is this module's
        self.token = uuid.uuid4().hex + uuid.uuid4().hex
        self.token_file = root / "worker-token"
        self.token_file.write_text(self.token + "\n")
        self.token_file.chmod(0o600)
        self.db = Database(f"sqlite:///{root / 'trigflow.db'}")
        self.db.migrate()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hub = WorkerHub(self.db, self.executor(Events()), self.token, lambda: int(time.time() * 1000),
                             lambda: True)  # fmt: skip
        self.activate(self.hub.executor)
        self._server, self._thread = _serve(self.hub, self.sock)
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_out = root / "worker.out"
        self.worker_dir = root / "worker"

    def executor(self, events: Events) -> CeleryExecutor:
        """A new server-side executor, not yet receiving reports (restart recovery may adopt first)."""
        return CeleryExecutor(events, broker=self.broker, token=self.token, servers=(self.url,),
                              lease_seconds=LEASE, remote_groups=(self.group,), grace_seconds=GRACE)  # fmt: skip

    def activate(self, executor: CeleryExecutor) -> None:
        """Recovery is over (RoutingExecutor.recovered): reports go to `executor` from now on, as they go to a
        restarted server's."""
        executor.ready.set()
        self.hub.executor = executor

    def start_worker(self, concurrency: int = 4) -> None:
        args = [sys.executable, "-m", "trigflow.cli", "worker", "--broker", self.broker, "--resource-group",
                self.group, "--token-file", str(self.token_file), "--concurrency", str(concurrency), "--name",
                "contract", "--data-dir", str(self.worker_dir), "--heartbeat", "0.2", "--lease", str(LEASE),
                "--server", self.url]  # fmt: skip
        with open(self.worker_out, "ab") as out:
            self.worker = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        proc = self.worker

        def up() -> bool:
            assert proc.poll() is None, self.worker_output()
            return "ready" in self.worker_output() and any(w["name"] == "contract" for w in self.hub.executor.workers())

        wait_for(up, timeout=60, what="the worker consuming and heartbeating")

    def worker_output(self) -> str:
        return self.worker_out.read_text(errors="replace") if self.worker_out.exists() else ""

    def dispatched(self, exec_id: str, log_path: str, worker_id: str | None = None) -> None:
        """The row the engine writes when it routes an attempt to this group: RUNNING on Celery."""
        now = int(time.time() * 1000)
        with self.db.write() as conn:
            conn.execute(task_runs.insert().values(
                execution_id=exec_id, run_id="contract-run", project_id="contract", workflow_id="contract",
                task_id="contract", task_name=exec_id, task_type="shell", task_type_id=35, state="RUNNING",
                depend_on=[], policy="contract", spec={}, extensions="[]", run_params="[]",
                resource_group_id=self.group, log_path=log_path, executor="celery", worker_id=worker_id,
                create_ms=now, schedule_ms=now, start_ms=now, update_ms=now,
            ))  # fmt: skip

    def worker_of(self, exec_id: str) -> str | None:
        """The worker whose start the fence accepted, as restart recovery reads it back."""
        with self.db.read() as conn:
            value = conn.execute(sa.select(task_runs.c.worker_id).where(task_runs.c.execution_id == exec_id)).scalar()
        return None if value is None else str(value)

    def close(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait()
        self.hub.executor.shutdown(kill=False, grace_seconds=0)
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.db.dispose()


def _serve(hub: WorkerHub, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    """api/internal.py's routes behind a real uvicorn listener, on a thread of the test process."""
    app = Starlette(routes=internal.routes(hub))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="contract-internal", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="the internal endpoint listening")
    return server, thread


@pytest.fixture(scope="module")
def remotes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Remote]]:
    """One endpoint, database and worker per broker, started when a test of that broker first needs it (so
    the local cases start none) and kept for the module: a worker's start-up is most of a test's cost."""
    started: dict[str, Remote] = {}

    def get(broker: str) -> Remote:
        if broker not in started:
            started[broker] = Remote(tmp_path_factory.mktemp(f"contract-{broker}"), BROKERS[broker])
            started[broker].start_worker()  # kept in `started` first: closed at teardown even if it fails
        return started[broker]

    yield get
    for r in started.values():
        r.close()


# --- one executor under test --------------------------------------------------------------------------------


@dataclass
class Harness:
    kind: str  # "local" or "celery"
    events: Events
    executor: Executor
    run_dir: Path  # the attempts' log directory (the server's run directory)
    files: Path  # what scripts and the test share: outside run_dir, so no worker re-roots it
    records: Records = field(default_factory=Records)
    remote: Remote | None = None
    successors: list[tuple[CeleryExecutor, Events]] = field(default_factory=list)
    wait: float = WAIT

    def spec(self, name: str, script: str | None, argv: tuple[str, ...] = ("bash",)) -> LaunchSpec:
        """A LaunchSpec as the engine builds it for this executor: a remote one carries its group and its
        Celery task id `<task-run id>.<retry>.<rerun>`, with the RUNNING row its start fence needs."""
        exec_id = f"{name}-{uuid.uuid4().hex[:8]}"
        log_path = str(self.run_dir / f"{exec_id}.log")
        env = {"PATH": os.environ["PATH"]}
        if self.remote is None:
            return LaunchSpec(attempt_id=exec_id, argv=argv, env=env, cwd=str(self.run_dir), log_path=log_path,
                              script=script)  # fmt: skip
        self.remote.dispatched(exec_id, log_path)
        return LaunchSpec(attempt_id=exec_id, argv=argv, env=env, cwd=str(self.run_dir), log_path=log_path,
                          script=script, resource_group=self.remote.group, remote_task_id=f"{exec_id}.0.0")  # fmt: skip

    def successor(self) -> tuple[CeleryExecutor, Events]:
        """The executor of the next server process (not yet activated: adopt first, then `remote.activate`)."""
        assert self.remote is not None
        events = Events()
        executor = self.remote.executor(events)
        self.successors.append((executor, events))
        return executor, events


def _harness(kind: str, tmp_path: Path, remotes: Callable[[str], Remote]) -> Iterator[Harness]:
    run_dir, files = tmp_path / "run", tmp_path / "files"
    run_dir.mkdir()
    files.mkdir()
    events = Events()
    if kind == "local":
        records = Records()
        h = Harness("local", events, LocalExecutor(events, read_exit=records), run_dir, files, records)
        yield h
        h.executor.shutdown(kill=True, grace_seconds=0.2)
        return
    r = remotes(kind.removeprefix("celery-"))
    executor, idle = r.executor(events), r.hub.executor
    r.activate(executor)
    idle.shutdown(kill=False, grace_seconds=0)  # the one reports went to between tests: it never sent anything
    h = Harness("celery", events, executor, run_dir, files, remote=r, wait=REMOTE_WAIT)
    yield h
    # Kill what the test left running through the executor the endpoint reports to; the worker kills on its
    # own whatever that executor does not know (the heartbeat's reply). The next test starts on a worker
    # with every slot free.
    current = r.hub.executor
    for attempt_id in current.running():
        current.kill(attempt_id, grace_seconds=0.2)
    wait_for(lambda: not current.running(), timeout=REMOTE_WAIT, what="the test's attempts ended")
    wait_for(lambda: (ws := current.workers()) and all(not w["running"] for w in ws), timeout=REMOTE_WAIT,
             what="the worker heartbeating with nothing running")  # fmt: skip
    for ex in [executor, *(e for e, _ in h.successors)]:
        if ex is not current:
            ex.shutdown(kill=True, grace_seconds=0.2)
    r.activate(r.executor(Events()))  # reports between tests go to an executor no test reads
    current.shutdown(kill=True, grace_seconds=0.2)


@pytest.fixture(params=ALL)
def setup(request: pytest.FixtureRequest, tmp_path: Path, remotes: Callable[[str], Remote]) -> Iterator[Harness]:
    yield from _harness(str(request.param), tmp_path, remotes)


@pytest.fixture
def local(tmp_path: Path, remotes: Callable[[str], Remote]) -> Iterator[Harness]:
    yield from _harness("local", tmp_path, remotes)


@pytest.fixture(params=CELERY)
def celery(request: pytest.FixtureRequest, tmp_path: Path, remotes: Callable[[str], Remote]) -> Iterator[Harness]:
    yield from _harness(str(request.param), tmp_path, remotes)


def _pidfile(path: Path) -> str:
    """A shell line writing the pid of the last background job to `path`, whole or not at all."""
    return f"echo $! > {path}.tmp && mv {path}.tmp {path}"


def _read_pid(path: Path, wait: float) -> int:
    return int(wait_for(lambda: path.exists() and path.read_text().strip(), timeout=wait, what=f"{path.name} written"))


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# --- rules every executor keeps ------------------------------------------------------------------------------


def test_start_returns_started_and_exactly_one_exit_follows(setup: Harness) -> None:
    h = setup
    assert isinstance(h.executor, Executor)
    s = h.spec("a1", "echo hello; exit 3")
    started = h.executor.start(s)
    assert started.kind == "started" and started.attempt_id == s.attempt_id
    exited = h.events.next(h.wait)
    assert (exited.kind, exited.attempt_id, exited.exit_code) == ("exited", s.attempt_id, 3)
    assert h.events.none_within(0.5)
    # "started" may also arrive asynchronously, once, before the exit: a remote attempt when a worker took it
    # (its ExecutionStartTime); the local executor's start is the synchronous one only.
    late = [e for e in h.events.started if e.attempt_id == s.attempt_id]
    assert len(late) == (1 if h.kind == "celery" else 0), late
    assert all(started.at_ms <= e.at_ms <= exited.at_ms for e in late)
    # The log is at spec.log_path once the exit is reported: written there by the local executor, or shipped
    # there by the worker (a finish report is refused until the server's copy is whole).
    assert Path(s.log_path).read_text() == "hello\n"
    assert s.attempt_id not in h.executor.running()


def test_kill_stops_the_whole_group_and_reports_the_signal(setup: Harness) -> None:
    h = setup
    pidfile = h.files / "child"
    s = h.spec("a3", f"sleep 300 & {_pidfile(pidfile)}; wait")
    h.executor.start(s)
    child = _read_pid(pidfile, h.wait)
    assert h.executor.running() == {s.attempt_id}
    assert h.executor.kill(s.attempt_id, grace_seconds=5)
    exited = h.events.next(h.wait)
    assert exited.kind == "exited" and exited.attempt_id == s.attempt_id
    assert exited.exit_code is not None and exited.exit_code < 0
    wait_for(lambda: _gone(child), timeout=WAIT, what="the attempt's background child killed with its group")
    assert h.events.none_within(0.5)
    assert h.executor.running() == set()


def test_kill_of_an_unknown_or_ended_attempt_is_false(setup: Harness) -> None:
    h = setup
    assert h.executor.kill("nobody", grace_seconds=1) is False
    s = h.spec("a4", "true")
    h.executor.start(s)
    assert (h.events.next(h.wait).kind, h.executor.kill(s.attempt_id, grace_seconds=1)) == ("exited", False)


def test_running_is_a_snapshot_of_started_and_not_yet_ended(setup: Harness) -> None:
    h = setup
    gate = h.files / "gate"
    specs = [h.spec(f"r{i}", f"while [ ! -e {gate} ]; do sleep 0.02; done; exit {i}") for i in range(2)]
    for s in specs:
        h.executor.start(s)
    snapshot = h.executor.running()
    assert snapshot == {s.attempt_id for s in specs}
    snapshot.clear()  # a copy: the caller's changes are not the executor's
    assert h.executor.running() == {s.attempt_id for s in specs}
    gate.touch()
    ended = {(e := h.events.next(h.wait)).attempt_id: e.exit_code for _ in specs}
    assert ended == {s.attempt_id: i for i, s in enumerate(specs)}
    assert h.executor.running() == set()


def test_celery_a_kill_before_a_worker_started_it_is_lost_and_the_message_never_runs(celery: Harness) -> None:
    """The one kill the local executor has no counterpart for: the message still waits for a worker. It is
    reported "lost" at once (nothing ran, so there is no exit code), and the fence refuses the message the
    worker holds. The endpoint answers 503 until the kill is done, as a recovering server does, so the
    worker's start request waits for it, not races it."""
    h, r = celery, celery.remote
    assert r is not None
    nxt, events = h.successor()
    r.hub.executor = nxt  # not ready: every report is answered 503 and retried
    marker = h.files / "ran"
    s = h.spec("k1", f"touch {marker}")
    nxt.start(s)
    received = f"Task trigflow.run_attempt[{s.remote_task_id}] received"
    wait_for(lambda: received in r.worker_output(), timeout=REMOTE_WAIT, what="the message at the worker")
    assert nxt.kill(s.attempt_id, grace_seconds=1)
    lost = events.next()
    assert (lost.kind, lost.attempt_id, lost.exit_code) == ("lost", s.attempt_id, None)
    assert nxt.running() == set() and nxt.kill(s.attempt_id, grace_seconds=1) is False
    r.activate(nxt)
    refused = f"attempt {s.remote_task_id} refused by the server"
    wait_for(lambda: refused in r.worker_output(), timeout=REMOTE_WAIT, what="the worker's start refused")
    assert not marker.exists() and r.worker_of(s.attempt_id) is None
    assert events.none_within(0.2)


# --- a launch that cannot start: stated per executor ---------------------------------------------------------


def test_local_a_launch_that_cannot_start_raises_and_emits_nothing(local: Harness) -> None:
    h = local
    bad = h.spec("a2", None, argv=("/nonexistent/interpreter",))
    with pytest.raises(LaunchError):
        h.executor.start(bad)
    assert h.events.none_within(0.2)
    assert h.executor.running() == set()


def test_celery_a_launch_that_cannot_start_is_exited_127_from_the_worker(celery: Harness) -> None:
    """`start` only queues the message: the worker finds out, and reports exit 127 with the reason."""
    h = celery
    bad = h.spec("a2", None, argv=("/nonexistent/interpreter",))
    started = h.executor.start(bad)
    assert (started.kind, started.attempt_id) == ("started", bad.attempt_id)
    exited = h.events.next(h.wait)
    assert (exited.kind, exited.attempt_id, exited.exit_code) == ("exited", bad.attempt_id, 127)
    assert exited.message is not None and exited.message.startswith("LaunchFailed")
    assert h.events.none_within(0.5)
    assert h.executor.running() == set()


def test_local_started_carries_the_pid_and_its_identity(local: Harness) -> None:
    h = local
    started = h.executor.start(h.spec("p1", "exit 0"))
    assert started.pid and started.proc_start
    h.events.next()


def test_celery_started_carries_no_local_pid(celery: Harness) -> None:
    """The process is on the worker's host: the engine records `executor = celery` and, once the fence
    accepted the start, the worker's id; no pid of the server's host is ever stored for it."""
    h = celery
    s = h.spec("p1", "exit 0")
    started = h.executor.start(s)
    assert (started.pid, started.proc_start) == (None, None)
    assert h.events.next(h.wait).exit_code == 0
    assert h.remote is not None and (h.remote.worker_of(s.attempt_id) or "").startswith("contract-")


# --- adopting a previous server's attempt: adopt(pid) locally, adopt_remote(task id) on Celery ------------------


def _foreign(cwd: Path, script: str) -> tuple[subprocess.Popen[bytes], str]:
    """A process this executor did not start (as a previous server's attempt is), in its own session."""
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True, cwd=cwd)
    token = read_proc_start(proc.pid)
    assert token is not None
    return proc, token


def test_local_adopt_reports_the_recorded_exit_of_a_process_it_did_not_start(local: Harness) -> None:
    h = local
    gate = h.files / "gate"
    proc, token = _foreign(h.files, f"while [ ! -e {gate} ]; do sleep 0.02; done; exit 5")
    assert h.executor.adopt("a5", proc.pid, token)
    assert "a5" in h.executor.running()
    gate.touch()
    proc.wait()  # here the test is the parent; in production the keeper reaps it and records the status
    h.records.by_pid[(proc.pid, token)] = ExitRecord(proc.pid, token, 5, 1234)
    exited = h.events.next()
    assert (exited.kind, exited.attempt_id, exited.exit_code, exited.at_ms) == ("exited", "a5", 5, 1234)


def test_local_adopt_without_a_record_reports_lost_never_a_guess(local: Harness) -> None:
    h = local
    gate = h.files / "gate"
    proc, token = _foreign(h.files, f"while [ ! -e {gate} ]; do sleep 0.02; done")
    assert h.executor.adopt("a6", proc.pid, token)
    gate.touch()
    proc.wait()
    lost = h.events.next(timeout=WAIT + 5)
    assert (lost.kind, lost.attempt_id, lost.exit_code) == ("lost", "a6", None)


def test_local_an_adopted_attempt_can_be_killed(local: Harness) -> None:
    h = local
    proc, token = _foreign(h.files, "sleep 300")
    assert h.executor.adopt("a7", proc.pid, token)
    assert h.executor.kill("a7", grace_seconds=5)
    assert proc.wait(timeout=WAIT) == -signal.SIGTERM
    h.records.by_pid[(proc.pid, token)] = ExitRecord(proc.pid, token, -signal.SIGTERM, 1)
    exited = h.events.next()
    assert (exited.kind, exited.exit_code) == ("exited", -signal.SIGTERM)


def test_local_adopt_of_a_process_already_gone_is_false_and_silent(local: Harness) -> None:
    h = local
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = read_proc_start(proc.pid) or "x"
    proc.wait()
    assert h.executor.adopt("a8", proc.pid, token) is False
    assert h.events.none_within(0.2)


def _started_remotely(h: Harness, name: str, script: str) -> tuple[LaunchSpec, int, str]:
    """An attempt the harness's (first) executor sent and a worker runs: (spec, its shell's pid, the worker id)."""
    assert h.remote is not None
    pidfile = h.files / f"{name}.pid"
    s = h.spec(name, f"echo before; echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}; {script}")
    h.executor.start(s)
    pid = _read_pid(pidfile, h.wait)
    worker_id = h.remote.worker_of(s.attempt_id)
    assert worker_id is not None
    return s, pid, worker_id


def _adopt(h: Harness, executor: CeleryExecutor, s: LaunchSpec, worker_id: str | None) -> None:
    """What restart recovery does with a RUNNING row of `executor = celery` (scheduler -> adopt_remote)."""
    assert s.remote_task_id is not None and s.resource_group is not None
    executor.adopt_remote(s.attempt_id, s.remote_task_id, s.resource_group, s.log_path, worker_id)


def test_celery_adopt_remote_reports_the_real_exit_of_an_attempt_a_previous_executor_started(
    celery: Harness,
) -> None:
    h = celery
    assert h.remote is not None
    gate = h.files / "gate"
    s, _, worker_id = _started_remotely(h, "a5", f"while [ ! -e {gate} ]; do sleep 0.02; done; echo after; exit 5")
    h.executor.shutdown(kill=False, grace_seconds=0)
    nxt, events = h.successor()
    _adopt(h, nxt, s, worker_id)
    h.remote.activate(nxt)
    assert nxt.running() == {s.attempt_id}
    gate.touch()
    exited = events.next(h.wait)
    assert (exited.kind, exited.attempt_id, exited.exit_code) == ("exited", s.attempt_id, 5)
    assert Path(s.log_path).read_text() == "before\nafter\n"  # the server's copy, shipped across both executors
    assert h.events.none_within(0.2) and events.none_within(0.5)
    assert nxt.running() == set()


def test_celery_an_adopted_attempt_can_be_killed(celery: Harness) -> None:
    h = celery
    assert h.remote is not None
    child_file = h.files / "child"
    s, _, worker_id = _started_remotely(h, "a7", f"sleep 300 & {_pidfile(child_file)}; wait")
    child = _read_pid(child_file, h.wait)
    h.executor.shutdown(kill=False, grace_seconds=0)
    nxt, events = h.successor()
    _adopt(h, nxt, s, worker_id)
    h.remote.activate(nxt)
    assert nxt.kill(s.attempt_id, grace_seconds=5)
    exited = events.next(h.wait)
    assert (exited.kind, exited.attempt_id) == ("exited", s.attempt_id)
    assert exited.exit_code is not None and exited.exit_code < 0
    wait_for(lambda: _gone(child), timeout=WAIT, what="the adopted attempt's group killed on the worker")


def test_celery_adopt_of_an_attempt_no_worker_runs_reports_lost_never_a_guess(celery: Harness) -> None:
    """The Celery form of both "no record: lost" and "already gone": the previous server recorded a worker's
    start, no worker reports the attempt any more, so it is lost once the lease passes, never given an exit."""
    h = celery
    assert h.remote is not None
    exec_id = f"a6-{uuid.uuid4().hex[:8]}"
    log_path = str(h.run_dir / f"{exec_id}.log")
    h.remote.dispatched(exec_id, log_path, worker_id="contract-gone-0")
    nxt, events = h.successor()
    nxt.adopt_remote(exec_id, f"{exec_id}.0.0", h.remote.group, log_path, "contract-gone-0")
    h.remote.activate(nxt)
    assert nxt.running() == {exec_id}
    lost = events.next(timeout=LEASE + 5)
    assert (lost.kind, lost.attempt_id, lost.exit_code) == ("lost", exec_id, None)
    assert events.none_within(0.2) and nxt.running() == set()


# --- a server stop: stated per executor ----------------------------------------------------------------------


def test_local_shutdown_with_kill_reports_every_running_attempt(local: Harness) -> None:
    h = local
    specs = [h.spec(f"s{i}", "sleep 300") for i in range(3)]
    for s in specs:
        h.executor.start(s)
    h.executor.shutdown(kill=True, grace_seconds=0.5)
    ended = {h.events.next().attempt_id for _ in range(3)}
    assert ended == {s.attempt_id for s in specs}
    assert h.executor.running() == set()


def test_celery_shutdown_with_kill_leaves_remote_attempts_to_the_next_executor(celery: Harness) -> None:
    """A server stop never kills what runs on workers: the attempts keep running, nothing is reported by
    the stopped executor, and the executor of the next server, adopting them, gets their real exits."""
    h = celery
    assert h.remote is not None
    gate = h.files / "gate"
    started = [_started_remotely(h, f"s{i}", f"while [ ! -e {gate} ]; do sleep 0.02; done; exit {i}")
               for i in range(3)]  # fmt: skip
    h.executor.shutdown(kill=True, grace_seconds=0.5)
    assert h.events.none_within(0.5)
    assert not any(_gone(pid) for _, pid, _ in started)  # still running on the worker
    nxt, events = h.successor()
    for s, _, worker_id in started:
        _adopt(h, nxt, s, worker_id)
    h.remote.activate(nxt)
    gate.touch()
    ended = {(e := events.next(h.wait)).attempt_id: (e.kind, e.exit_code) for _ in started}
    assert ended == {s.attempt_id: ("exited", i) for i, (s, _, _) in enumerate(started)}
    assert h.events.none_within(0.2) and nxt.running() == set()


# --- the exit fact carries the outputs; health -----------------------------------------------------------------


def test_the_exit_carries_the_declared_outputs_read_where_the_attempt_ran(setup: Harness) -> None:
    """Output parameters travel in the "exited" event (docs/adr/0007): the log's `##wedata_output` lines, then
    the `$WEDATA_OUTPUT_FILE` lines (the file wins), declared keys only. On Celery they are read on the worker:
    no outputs file is ever written on the server's side."""
    h = setup
    base = h.spec("o1", None)
    outputs_path = str(Path(base.log_path).with_suffix(".outputs"))
    script = ('echo "##wedata_output a=from log"; echo "##wedata_output b=from log"; echo "##wedata_output x=1";'
              ' printf "b=from file\\nundeclared=2\\n" >> "$WEDATA_OUTPUT_FILE"')  # fmt: skip
    s = dataclasses.replace(base, script=script, env={**base.env, "WEDATA_OUTPUT_FILE": outputs_path},
                            output_keys=("a", "b", "c"), outputs_path=outputs_path)  # fmt: skip
    h.executor.start(s)
    exited = h.events.next(h.wait)
    assert (exited.kind, exited.exit_code) == ("exited", 0)
    assert exited.outputs == {"a": "from log", "b": "from file"}  # c unset: its declared default is the engine's
    if h.kind == "celery":
        assert not Path(outputs_path).exists()


def test_an_attempt_declaring_no_outputs_reads_none(setup: Harness) -> None:
    h = setup
    h.executor.start(h.spec("o2", 'echo "##wedata_output a=1"'))
    exited = h.events.next(h.wait)
    assert exited.kind == "exited" and exited.outputs is None


def test_health_is_ok_while_it_watches_attempts_and_says_what(setup: Harness) -> None:
    h = setup
    gate = h.files / "health.gate"
    s = h.spec("h1", f"while [ ! -e {gate} ]; do sleep 0.02; done")
    h.executor.start(s)
    health = h.executor.health()
    assert health.ok and health.reason is None
    if h.kind == "local":
        assert health.details["running"] == 1
    else:
        assert health.details["broker_failing_s"] is None  # the publish went through
        wait_for(lambda: h.executor.health().details["remote_running"] == 1, timeout=h.wait,
                 what="the worker took it")  # fmt: skip
        wait_for(lambda: h.executor.health().details["workers"] >= 1, timeout=h.wait,
                 what="the worker's heartbeat counted")  # fmt: skip
    gate.touch()
    assert h.events.next(h.wait).exit_code == 0
    after = h.executor.health()
    assert after.ok and after.details.get("running", 0) == 0 and after.details.get("remote_running", 0) == 0
