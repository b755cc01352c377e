"""`trigflow worker`: a Celery worker that runs a resource group's attempts and reports them over HTTP.

Each Celery task (threads pool, one per slot) runs one attempt (docs/adr/0006-celery-workers.md):

1. decrypt the payload with the worker token (anything that does not authenticate is dropped);
2. ask the server to start it (the fence): 409 = stale or duplicate delivery, ack and drop, nothing runs;
3. run it through a LocalExecutor in the worker's own data dir (`<data dir>/attempts/<attempt id>`, the
   payload's paths re-rooted there by remote_payload.local_spec), so sealed scripts, process groups,
   cgroups and log caps are those of a local attempt;
4. stream its log to the server while it runs (byte offsets; the server skips what it has);
5. report the exit fact (code, message, the declared outputs read here), retrying until the server
   acknowledges (a server restart or a failover loses nothing: the Celery message stays unacked and the
   report buffered meanwhile).

A heartbeat thread reports the worker and its attempts every `heartbeat_s`; the reply names attempts to
kill (KillTriggerWorkflowRuns, execution timeouts, or attempts the server no longer counts as this
worker's). A worker cut off from the server kills its attempts itself, strictly before the server can declare
them lost (ADR 0006, "A cut-off worker stops first"): each attempt is killed at t + L - G - M, where t is when
the worker *sent* the last request the server accepted for it (a heartbeat listing it, or its start), L the
server's lease and G the kill grace (both in every heartbeat and start reply) and M = KILL_MARGIN_S; the
server declares it lost no earlier than t + L. `lease_s` (`--lease`) is an upper bound on top. The late
report is ignored by the server. Workers never open the trigflow database.

A worker whose heartbeat reply says `stalled` (C6: the server saw it report free slots while it took nothing from
its queue, celery_dispatch.py) logs an error, takes nothing more (a message that still arrives goes back to the
queue), lets its running attempts finish (they report over HTTP, not through the broker) and then exits with
EX_TEMPFAIL (75) for its supervisor to restart it (docs/workers.md: systemd `Restart=on-failure`). Restarting
Celery's consumer in-process would go through the very reconnect path that C6 is a bug of; a new process is the
one cure that holds across Celery versions. Any other non-zero exit of Celery (e.g. an unrecoverable broker error)
is passed on as the process's status, so the supervisor restarts those too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trigflow.domain.task_env import task_base_env
from trigflow.executors import remote_payload, worker_exits
from trigflow.executors.base import AttemptLimits, ExecutorEvent, LaunchError, LaunchSpec
from trigflow.executors.host_facts import host_facts
from trigflow.executors.local import LocalExecutor

log = logging.getLogger("trigflow.worker")

LOG_CHUNK = 1 << 20  # bytes per log report
LOG_POLL_S = 0.1  # how often a running attempt's log is shipped (the tail latency)
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)
WORKER_DIR_ENV = "TRIGFLOW_WORKER_DIR"  # in every attempt's environment: found again after a kill -9
STOP_REPORT_S = 10.0  # how long a stopping worker keeps trying to deliver its last reports
LEFT_REPORTS_S = 60.0  # how long a starting worker tries to deliver the exits a dead one left on its data dir
KILL_MARGIN_S = 0.5  # > the watchdog's period + SIGKILL delivery and reaping: the self-kill's safety margin
WATCHDOG_S = 0.05  # how often the lease watchdog looks at the attempts' deadlines
EX_TEMPFAIL = 75  # the exit status of a worker that stopped consuming (C6): "restart me"


class Unavailable(Exception):
    """No server accepted the request (unreachable, standby, recovering)."""


class Reporter:
    """The worker's HTTP client: tries each known server in turn; 503 and connection errors mean "next"."""

    def __init__(self, servers: Sequence[str], token: str, timeout: float = 10.0) -> None:
        self.servers = list(dict.fromkeys(s.rstrip("/") for s in servers))
        self._auth = f"Bearer {token}"
        self.timeout = timeout
        self._lock = threading.Lock()

    def learn(self, servers: Sequence[str]) -> None:
        """Servers named by a payload are tried after the configured ones."""
        with self._lock:
            for s in servers:
                if s.rstrip("/") not in self.servers:
                    self.servers.append(s.rstrip("/"))

    def post(
        self, path: str, body: bytes | dict[str, Any], query: dict[str, str] | None = None, timeout: float | None = None
    ) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        ctype = "application/octet-stream" if isinstance(body, bytes) else "application/json"
        url_path = path + ("?" + urllib.parse.urlencode(query) if query else "")
        with self._lock:
            servers = list(self.servers)
        for server in servers:
            req = urllib.request.Request(server + url_path, data=data, method="POST",
                                         headers={"Authorization": self._auth, "Content-Type": ctype})  # fmt: skip
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                    return resp.status, json.loads(resp.read() or b"{}")
            except urllib.error.HTTPError as e:
                if e.code == 503:
                    continue
                try:
                    answer = json.loads(e.read() or b"{}")
                except ValueError:
                    answer = {}
                return e.code, answer
            except (OSError, ValueError):
                continue
        raise Unavailable(f"no server accepted {path}")


@dataclass
class _Running:
    payload: remote_payload.Payload
    log_path: str
    attempt_dir: Path
    done: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    message: str | None = None
    outputs: dict[str, str] | None = None  # the declared outputs the attempt set (its exit fact, base.py)
    at_ms: int = 0
    shipped: int = 0  # bytes of the local log the server holds
    lease_killed: bool = False
    seen_sent: float = 0.0  # monotonic send time of the last request the server accepted for this attempt


class WorkerRuntime:
    def __init__(
        self,
        *,
        data_dir: Path,
        group: str,
        name: str,
        concurrency: int,
        servers: Sequence[str],
        token: str,
        heartbeat_s: float = 1.0,
        lease_s: float = 30.0,
        max_log_bytes: int | None = 64 << 20,
        task_env: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.group = group
        self.name = name
        self.concurrency = concurrency
        self.worker_id = f"{name}-{uuid.uuid4().hex[:12]}"
        self.fernet = remote_payload.fernet_for(token)
        self.reporter = Reporter(servers, token)
        self.heartbeat_s = heartbeat_s
        self.lease_s = lease_s
        # What an attempt inherits of this host's environment (the names the payload says it inherits):
        # the same allow-list as the server's, never the worker's own TRIGFLOW_* (domain/task_env.py).
        self.base_env = task_base_env(os.environ, task_env)
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}  # by Celery task id: accepted, not yet acknowledged finished
        self._by_exec: dict[str, _Running] = {}
        self._server_lease: float | None = None  # the server's --worker-lease, from its replies
        self.stopping = threading.Event()
        self.draining = threading.Event()  # C6: take nothing more, exit once the running attempts reported
        self._starting = 0  # messages between receipt and the server's answer to their start
        (data_dir / "attempts").mkdir(parents=True, exist_ok=True, mode=0o700)
        instance = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
        self.executor = LocalExecutor(self._on_event, AttemptLimits(max_log_bytes=max_log_bytes,
                                                                    cgroup_instance=instance))  # fmt: skip
        self._heart = threading.Thread(target=self._heartbeat_loop, name="trigflow-worker-heartbeat", daemon=True)
        self.host = host_facts(data_dir)  # sent with every heartbeat: the group's size (GetResourceGroupMetrics)
        self._watchdog = threading.Thread(target=self._watchdog_loop, name="trigflow-worker-lease", daemon=True)
        self._sweep_orphans()

    def _sweep_orphans(self) -> None:
        """Kill what a previous worker on this data dir left running (it was killed with -9): the server has
        declared those attempts lost and retried them elsewhere. Found by the TRIGFLOW_WORKER_DIR every
        attempt of this data dir carries in its environment."""
        from trigflow.executors.local import find_process_groups_by_env, kill_process_group

        for pgids in find_process_groups_by_env(WORKER_DIR_ENV, {str(self.data_dir)}).values():
            for pgid in sorted(pgids):
                log.warning("killing process group %s left running by a previous worker on this data dir", pgid)
                kill_process_group(pgid, 1.0)

    def start_heartbeat(self) -> None:
        self._heart.start()
        self._watchdog.start()
        left = [item for item in worker_exits.pending(self.data_dir) if item[1].get("worker_id") != self.worker_id]
        if left:  # a previous worker on this data dir died with reports its guard could not deliver
            threading.Thread(target=self._deliver_left, args=(left,), name="trigflow-worker-left", daemon=True).start()

    def _deliver_left(self, left: list[tuple[Path, dict[str, Any]]]) -> None:
        deadline = time.monotonic() + LEFT_REPORTS_S
        pause = 0
        while left and time.monotonic() < deadline and not self.stopping.is_set():
            left = [(d, r) for d, r in left if not worker_exits.deliver(self.reporter.post, d, r)]
            if left:
                time.sleep(BACKOFF_S[min(pause, len(BACKOFF_S) - 1)])
                pause += 1
        for _dir, r in left:
            log.warning("the exit of %s left by worker %s could not be delivered", r.get("task_id"), r.get("worker_id"))

    # --- one attempt (a Celery task thread) ----------------------------------------------------

    def run_attempt(self, sealed: object) -> str:
        """The body of the Celery task; returns what happened (for the worker's log)."""
        try:
            payload = remote_payload.open_sealed(self.fernet, sealed)
        except remote_payload.PayloadRefused as e:
            log.warning("dropping a message that is not a payload of this server: %s", e)
            return "refused: not authentic"
        if payload.group != self.group:
            log.warning("dropping attempt %s of group %s: this worker serves %s", payload.task_id, payload.group,
                        self.group)  # fmt: skip
            return "refused: other group"
        self.reporter.learn(payload.servers)
        with self._lock:
            if self.draining.is_set():  # C6: back to the queue, for a worker that consumes
                from celery.exceptions import Reject

                raise Reject("worker draining: the server holds that it does not consume its queue", requeue=True)
            self._starting += 1
        try:
            accepted = self._accept(payload)
        finally:
            with self._lock:
                self._starting -= 1  # counted from here on in `_running` (a drain waits for both)
        if accepted is None:
            return "refused: fence"
        run, spec = accepted
        try:
            self.executor.start(spec)
        except LaunchError as e:
            run.exit_code, run.message, run.at_ms = 127, f"LaunchFailed: {e.message}", _now_ms()
            run.done.set()
        log.info("attempt %s running", payload.task_id)
        while not run.done.wait(LOG_POLL_S):
            self._ship_log(run)
        self._finish(run)
        return f"exit {run.exit_code}"

    def _accept(self, payload: remote_payload.Payload) -> tuple[_Running, LaunchSpec] | None:
        """Ask the server to start the attempt (the fence); when it accepts, lay out the attempt's directory and
        register it as running. None: refused (a stale or duplicate message)."""
        status, answer, sent = self._until_answered(
            f"/internal/v1/attempts/{payload.task_id}/start", {"worker_id": self.worker_id}, requeue_on_stop=True
        )
        if status != 200:
            log.info("attempt %s refused by the server (stale or duplicate message): not run", payload.task_id)
            return None
        attempt_dir = self.data_dir / "attempts" / payload.task_id
        shutil.rmtree(attempt_dir, ignore_errors=True)
        attempt_dir.mkdir(parents=True, mode=0o700)
        for fname, data in payload.files.items():
            if "/" in fname or fname in (".", ".."):
                continue
            fd = os.open(attempt_dir / fname, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        spec = remote_payload.local_spec(payload, attempt_dir, self.base_env)
        self._learn_lease(answer)
        run = _Running(payload, spec.log_path, attempt_dir, seen_sent=sent)
        with self._lock:
            self._running[payload.task_id] = run
            self._by_exec[payload.execution_id] = run
        env = dict(spec.env)
        env["TRIGFLOW_WORKER_NAME"] = self.name
        env["TRIGFLOW_WORKER_ID"] = self.worker_id
        env[WORKER_DIR_ENV] = str(self.data_dir)
        return run, _with_env(spec, env)

    def _on_event(self, ev: ExecutorEvent) -> None:
        with self._lock:
            run = self._by_exec.get(ev.attempt_id)
        if run is None:
            return
        run.exit_code = ev.exit_code
        run.message = ev.message
        run.outputs = dict(ev.outputs) if ev.outputs is not None else None
        if run.lease_killed:
            run.message = (f"killed by its worker: no heartbeat reached the server for {self.kill_after(run):g} s "
                           "(before the server's lease)")  # fmt: skip
        run.at_ms = ev.at_ms
        try:  # before any report: a result must not die with this process (executors/worker_exits.py)
            worker_exits.write(run.attempt_dir, {
                "task_id": run.payload.task_id, "execution_id": run.payload.execution_id, "worker_id": self.worker_id,
                "exit_code": run.exit_code, "message": run.message, "outputs": run.outputs, "at_ms": run.at_ms,
                "log_base": run.payload.log_base, "log_path": run.log_path,
            })  # fmt: skip
        except OSError as e:
            log.warning("cannot keep the exit of %s on disk (%s): it is reported from memory only",
                        run.payload.task_id, e.strerror)  # fmt: skip
        run.done.set()

    def _ship_log(self, run: _Running, final: bool = False) -> bool:
        """Send what the server does not have of the local log; False when the server cannot be reached."""
        base = run.payload.log_base
        try:
            fd = os.open(run.log_path, os.O_RDONLY)
        except OSError:
            return True
        try:
            while True:
                chunk = os.pread(fd, LOG_CHUNK, run.shipped)
                if not chunk:
                    return True
                try:
                    status, answer = self.reporter.post(
                        f"/internal/v1/attempts/{run.payload.task_id}/log", chunk,
                        {"worker_id": self.worker_id, "offset": str(base + run.shipped)},
                    )  # fmt: skip
                except Unavailable:
                    return False
                if status == 200:
                    run.shipped = int(answer["size"]) - base
                elif status == 409 and "size" in answer and int(answer["size"]) >= base:  # a gap: resend
                    run.shipped = max(0, int(answer["size"]) - base)
                    continue
                else:
                    return True  # unknown attempt: the server forgot it (lost); nothing more to ship
                if len(chunk) < LOG_CHUNK and not final:
                    return True
        finally:
            os.close(fd)

    def _finish(self, run: _Running) -> None:
        """Deliver the whole log, then the exit fact (code, message, outputs), until the server answers for good."""
        task_id = run.payload.task_id
        stop_deadline: float | None = None
        pause = 0
        while True:
            delivered = self._ship_log(run, final=True)
            if delivered:
                body = {"worker_id": self.worker_id, "exit_code": run.exit_code, "message": run.message,
                        "log_size": run.payload.log_base + _size(run.log_path), "output_values": run.outputs,
                        "at_ms": run.at_ms}  # fmt: skip
                try:
                    status, answer = self.reporter.post(f"/internal/v1/attempts/{task_id}/finish", body)
                except Unavailable:
                    status, answer = 0, {}
                if status == 409 and "size" in answer:  # the server's log is short: resend from its end
                    run.shipped = max(0, int(answer["size"]) - run.payload.log_base)
                elif status in (200, 400, 409):
                    break  # acknowledged, or refused for good (the server no longer counts the attempt)
            if self.stopping.is_set():
                stop_deadline = stop_deadline or time.monotonic() + STOP_REPORT_S
                if time.monotonic() > stop_deadline:
                    log.warning("stopping: the finish report of %s was not delivered", task_id)
                    break
            time.sleep(BACKOFF_S[min(pause, len(BACKOFF_S) - 1)])
            pause += 1
        with self._lock:
            self._running.pop(task_id, None)
            self._by_exec.pop(run.payload.execution_id, None)
        shutil.rmtree(run.attempt_dir, ignore_errors=True)
        log.info("attempt %s reported: exit %s", task_id, run.exit_code)

    def _until_answered(
        self, path: str, body: dict[str, Any], requeue_on_stop: bool = False
    ) -> tuple[int, Any, float]:
        """(status, answer, monotonic time the answered request was sent)."""
        pause = 0
        while True:
            try:
                sent = time.monotonic()
                status, answer = self.reporter.post(path, body)
                return status, answer, sent
            except Unavailable:
                if self.stopping.is_set() and requeue_on_stop:
                    from celery.exceptions import Reject

                    raise Reject("worker stopping before the server accepted the start", requeue=True) from None
                time.sleep(BACKOFF_S[min(pause, len(BACKOFF_S) - 1)])
                pause += 1

    # --- heartbeat and lease -----------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self.stopping.is_set() or self._running:
            with self._lock:
                running = list(self._running)
            body = {"worker_id": self.worker_id, "name": self.name, "group": self.group,
                    "concurrency": self.concurrency, "running": running, "host": self.host}  # fmt: skip
            sent = time.monotonic()  # the server refreshes the attempts no earlier than this
            try:
                # A hung server must not hold the lease check up: a heartbeat waits a fraction of the lease.
                status, answer = self.reporter.post("/internal/v1/workers/heartbeat", body,
                                                    timeout=min(10.0, max(0.5, self.lease_s / 4)))  # fmt: skip
            except Unavailable:
                status, answer = 0, {}
            if status == 200:
                self._learn_lease(answer)
                if isinstance(answer.get("stalled"), str) and not self.draining.is_set():
                    self._drain(answer["stalled"])
                kills = set(answer.get("kill", []))
                with self._lock:
                    for task_id in running:
                        run = self._running.get(task_id)
                        if run is not None and task_id not in kills:
                            run.seen_sent = max(run.seen_sent, sent)
                for task_id in kills:
                    self._kill(task_id, float(answer.get("grace", 5.0)))
            time.sleep(self.heartbeat_s)

    def _drain(self, reason: str) -> None:
        """C6: the server holds that this worker's Celery consumer takes nothing. Take nothing more, let the
        running attempts finish and report, then exit EX_TEMPFAIL for the supervisor to restart the worker."""
        with self._lock:
            self.draining.set()
            running = len(self._running)
        log.error("the server reports that this worker does not consume its queue (%s): taking nothing more, "
                  "exiting with status %d once its %d running attempt(s) have finished and reported, for its "
                  "supervisor to restart it", reason, EX_TEMPFAIL, running)  # fmt: skip
        threading.Thread(target=self._exit_when_drained, name="trigflow-worker-drain", daemon=True).start()

    def _exit_when_drained(self) -> None:
        while True:
            with self._lock:
                if not self._running and not self._starting:
                    break
            time.sleep(0.1)
        # Nothing runs and nothing is acked any more, so a hard exit loses nothing; Celery's warm shutdown would
        # wait on the very broker connection that is stuck (measured: it had not ended 10 s later).
        log.error("drained: exiting with status %d (the Celery consumer of this worker takes nothing)", EX_TEMPFAIL)
        logging.shutdown()
        sys.stdout.flush()
        os._exit(EX_TEMPFAIL)

    def _learn_lease(self, answer: Any) -> None:
        if isinstance(answer, dict) and isinstance(answer.get("lease"), (int, float)):
            self._server_lease = float(answer["lease"])

    def kill_after(self, run: _Running) -> float:
        """Seconds after `run.seen_sent` at which the worker kills the attempt: its processes are then gone
        (SIGKILL after the grace, within the margin) before the server's lease can expire."""
        if self._server_lease is None:
            return self.lease_s
        return max(0.0, min(self.lease_s, self._server_lease - run.payload.grace_seconds - KILL_MARGIN_S))

    def _watchdog_loop(self) -> None:
        """Kill each attempt whose last accepted contact with the server is older than `kill_after`."""
        while not self.stopping.wait(WATCHDOG_S) or self._running:
            now = time.monotonic()
            with self._lock:
                runs = [r for r in self._running.values() if not r.done.is_set() and not r.lease_killed]
            expired = [r for r in runs if now - r.seen_sent >= self.kill_after(r)]
            if expired:
                self._lease_expired(expired)
            if self.stopping.is_set():
                time.sleep(WATCHDOG_S)

    def _kill(self, task_id: str, grace: float) -> None:
        with self._lock:
            run = self._running.get(task_id)
        if run is not None and not run.done.is_set():
            log.info("killing attempt %s at the server's request", task_id)
            self.executor.kill(run.payload.execution_id, grace)

    def _lease_expired(self, runs: list[_Running]) -> None:
        for run in runs:
            log.warning("no heartbeat reached a server for %g s: killing attempt %s before the server's lease"
                        " (%s s) declares it lost", self.kill_after(run), run.payload.task_id,
                        self._server_lease)  # fmt: skip
            run.lease_killed = True
            self.executor.kill(run.payload.execution_id, run.payload.grace_seconds)

    def shutdown(self) -> None:
        """Stop: kill the running attempts (their reports are still delivered while the worker drains)."""
        self.stopping.set()
        with self._lock:
            runs = list(self._running.values())
        for run in runs:
            if not run.done.is_set():
                self.executor.kill(run.payload.execution_id, run.payload.grace_seconds)


def _with_env(spec: LaunchSpec, env: dict[str, str]) -> LaunchSpec:
    return dataclasses.replace(spec, env=env)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _now_ms() -> int:
    return int(time.time() * 1000)


def serve(runtime: WorkerRuntime, broker: str, *, visibility_timeout_s: int, log_level: str) -> int:
    """Run the Celery worker in this process (blocks until it stops)."""
    from celery import signals

    from trigflow.executors.celery_app import TASK_NAME, make_app, queue_name

    app = make_app(broker, visibility_timeout_s)

    @app.task(name=TASK_NAME, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_attempt(sealed: object) -> str:
        return runtime.run_attempt(sealed)

    def on_shutdown(**_: Any) -> None:
        runtime.shutdown()

    signals.worker_shutting_down.connect(on_shutdown, weak=False)
    runtime.start_heartbeat()
    argv = ["worker", "--pool=threads", f"--concurrency={runtime.concurrency}", "-Q", queue_name(runtime.group),
            "-n", f"{runtime.name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
            f"--loglevel={log_level.upper()}"]  # fmt: skip
    status = app.start(argv)  # not worker_main, which drops Celery's exit status
    return status if isinstance(status, int) else 0
