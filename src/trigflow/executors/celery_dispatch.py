"""The server side of Celery workers: sends attempts to a group's queue and tracks them until they end.

What it knows lives in memory and is rebuilt from the database on a restart (the scheduler calls
`adopt_remote` for RUNNING attempts whose row says `executor = celery`); the database's start fence is the
service layer's (service/workers.py), this class never touches the database. Events follow the Executor
contract (base.py): `start` returns "started" at once (the message is queued for the sender thread, so a
slow broker never stalls the scheduler), and exactly one "exited"/"lost" follows, from the worker's finish
report, a kill of an attempt no worker started yet, or the reaper declaring a silent worker's attempts lost.

Liveness (ADR 0006): an attempt a worker started is *seen* whenever a heartbeat of that worker lists it
(and on start, log and finish reports); one not seen for `lease_seconds` is lost and the engine retries it
per its policy, with a new attempt id, so the old message, if redelivered, is refused by the fence.

C4 (ADR 0006, "Dispatched, never started, never stuck"): an attempt still waiting in the broker is never
declared lost; its sealed payload is kept next to its log (`<attempt>.payload`, 0600, written before the first
publish) and the same payload is published again under the same task id when the attempt has not started a
lease after its last publish while a live worker of its group has reported free slots on two heartbeats since
(with prefetch 1 and late acks an idle worker would have taken any message there was: it was lost, by a broker
restart without persistence, a purge, or a server crash before the publish). A copy that survived is refused
by the start fence. A restarted server re-publishes adopted not-started attempts from that file; one adopted
without the file was never published and is recorded lost (it never ran).

C6 (ADR 0006, "A worker that stops consuming"): a worker whose heartbeat goes on while its Celery consumer takes
nothing (a half-open broker connection, Celery's reconnect bugs) shows up as a C4 re-publish that does not help:
when the attempt is again not started a lease after the re-publish while a worker that was an idle witness of the
first loss is again idle on IDLE_BEATS heartbeats, that worker is flagged as not consuming. A flagged worker's
slots no longer count (`live_slots`, service/capacity.py), it is no witness of a loss any more (so a group with
only stuck workers stops piling copies into its queue), `workers()` shows it, and its heartbeat reply tells it
(`stalled`): the worker drains and exits with EX_TEMPFAIL for its supervisor to restart (celery_worker.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trigflow.executors import remote_payload
from trigflow.executors.base import EventCallback, ExecutorEvent, ExecutorHealth, LaunchError, LaunchSpec
from trigflow.executors.celery_app import TASK_NAME, make_app, queue_name

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0
IDLE_BEATS = 2  # heartbeats with free slots after a publish that prove the message is not in the queue
PAYLOAD_SUFFIX = ".payload"
SEND_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RemoteAttempt:
    """One attempt on a worker, as the server tracks it."""

    task_id: str  # Celery task id = attempt id
    exec_id: str
    group: str
    log_path: str
    worker_id: str | None = None  # set when the fence accepted a worker's start
    last_seen: float = field(default_factory=time.monotonic)
    kill_requested: bool = False
    sealed: str | None = None  # the payload as published (also in payload_path(log_path))
    published_at: float | None = None  # monotonic time of the last successful publish; None while in flight
    publishes: int = 0
    never_published: bool = False  # adopted on restart with no payload file: the old server never sent it
    lost_witnesses: frozenset[str] = frozenset()  # the idle workers that did not take it before its re-publish (C6)


@dataclass
class WorkerInfo:
    worker_id: str
    name: str
    group: str
    concurrency: int
    last_seen: float
    running: tuple[str, ...] = ()
    host: Mapping[str, Any] | None = None  # executors/host_facts.py, as the worker reported it
    idle_beats: tuple[float, ...] = ()  # receipt times of the latest consecutive heartbeats with a free slot
    stalled: str | None = None  # why this server holds that the worker does not consume its queue (C6)


class CeleryExecutor:
    """Sends and tracks remote attempts; `serves(group)` tells the engine which groups go remote."""

    def __init__(
        self,
        on_event: EventCallback,
        *,
        broker: str,
        token: str,
        servers: tuple[str, ...],
        lease_seconds: float = DEFAULT_LEASE_S,
        remote_groups: Iterable[str] = (),
        visibility_timeout_s: int = 86_400,
        grace_seconds: float = 5.0,
        sender: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self._on_event = on_event
        self.grace = grace_seconds  # SIGTERM -> SIGKILL on the worker: the server's --kill-grace
        self._fernet = remote_payload.fernet_for(token)
        self.servers = servers
        self.lease = lease_seconds
        self._configured = frozenset(remote_groups)
        self._seen_groups: set[str] = set()
        self._lock = threading.Lock()
        self._by_exec: dict[str, RemoteAttempt] = {}
        self._by_task: dict[str, RemoteAttempt] = {}
        self._workers: dict[str, WorkerInfo] = {}
        # Called (off the lock) when a worker joins, comes back within the reaper's memory, or changes its
        # concurrency: its group's capacity grew (service/capacity.py), so the engine re-dispatches.
        self.on_workers_changed: Callable[[], None] = lambda: None
        self._outbox: queue.SimpleQueue[tuple[str, str, str] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once restart recovery registered the attempts it adopted
        self._broker = broker
        self._visibility = visibility_timeout_s
        self._send = sender or self._celery_send
        self._send_failing_since: float | None = None  # monotonic time of the first failed publish in a row
        self._app: Any = None
        self._sender = threading.Thread(target=self._send_loop, name="trigflow-celery-sender", daemon=True)
        self._reaper = threading.Thread(target=self._reap_loop, name="trigflow-worker-reaper", daemon=True)
        self._sender.start()
        self._reaper.start()

    # --- routing ------------------------------------------------------------------------------

    def serves(self, group: str) -> bool:
        """A group runs on workers when configured so (`up --remote-group`) or once a worker of it has
        registered with this server (the first heartbeat); the default group stays local otherwise."""
        return group in self._configured or group in self._seen_groups

    # --- Executor protocol --------------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> ExecutorEvent:
        if spec.remote_task_id is None or spec.resource_group is None:
            raise LaunchError("internal error: a local attempt reached the Celery executor")
        run_dir = Path(spec.log_path).parent
        attempt = Path(spec.log_path).name.removesuffix(".log")
        try:
            log_base = os.stat(spec.log_path).st_size
        except OSError:
            log_base = 0
        files = remote_payload.spilled_files(run_dir, attempt)
        body = remote_payload.build(spec, self.servers, self.grace, log_base, files)
        sealed = remote_payload.seal(self._fernet, body)
        try:  # before the first publish: a restarted server re-publishes from it (C4)
            _write_payload(payload_path(spec.log_path), sealed)
        except OSError as e:
            raise LaunchError(f"cannot keep the attempt's payload next to its log: {e.strerror}") from e
        r = RemoteAttempt(spec.remote_task_id, spec.attempt_id, spec.resource_group, spec.log_path, sealed=sealed)
        with self._lock:
            self._by_exec[spec.attempt_id] = r
            self._by_task[r.task_id] = r
        self._outbox.put((r.task_id, queue_name(r.group), sealed))
        return ExecutorEvent(spec.attempt_id, "started", _now_ms())

    def kill(self, attempt_id: str, grace_seconds: float) -> bool:
        """Started: the kill request rides on the worker's next heartbeat reply. Not started yet: it is
        forgotten here, so the fence refuses its message when a worker takes it, and reported lost now."""
        with self._lock:
            r = self._by_exec.get(attempt_id)
            if r is None:
                return False
            if r.worker_id is not None:
                r.kill_requested = True
                return True
            self._forget(r)
        self._emit(ExecutorEvent(attempt_id, "lost", _now_ms(), message="killed before a worker started it"))
        return True

    def adopt(self, attempt_id: str, pid: int, proc_start: str) -> bool:
        return False  # remote attempts are adopted through adopt_remote

    def adopt_remote(self, exec_id: str, task_id: str, group: str, log_path: str, worker_id: str | None) -> None:
        """Restart recovery: an attempt the previous server process sent; seen now, so it is lost only if
        no worker reports it within the lease."""
        r = RemoteAttempt(task_id, exec_id, group, log_path, worker_id)
        if worker_id is None:  # not started: published (then lost or waiting), or never published at all
            try:
                if not log_path:
                    raise FileNotFoundError(log_path)
                with open(payload_path(log_path), encoding="ascii") as f:
                    r.sealed = f.read().strip() or None
            except (OSError, ValueError):
                r.sealed = None
            r.published_at = time.monotonic()
            r.never_published = r.sealed is None
        with self._lock:
            self._by_exec[exec_id] = r
            self._by_task[task_id] = r
            self._seen_groups.add(group)

    def running(self) -> set[str]:
        with self._lock:
            return set(self._by_exec)

    def recorded(self, attempt_ids: Iterable[str]) -> None:
        """Nothing to release: a worker's finish report is durable before it is acknowledged (record_remote_exit)."""

    def health(self) -> ExecutorHealth:
        """Not ok when the sender or the reaper thread is gone (attempts would never be sent, or a dead worker's
        never declared lost). A broker refusing publishes is not a failure of this process (the sender retries,
        nothing is lost): `details` says for how long, beside the live workers and the attempts not started."""
        now = time.monotonic()
        failing = self._send_failing_since
        with self._lock:
            live = [w for w in self._workers.values() if now - w.last_seen <= self.lease]
            details: dict[str, Any] = {
                "workers": len(live),
                "remote_running": sum(1 for r in self._by_exec.values() if r.worker_id is not None),
                "remote_waiting": sum(1 for r in self._by_exec.values() if r.worker_id is None),
                "broker_failing_s": round(now - failing, 1) if failing is not None else None,
            }
        if not self._stop.is_set():
            for thread in (self._sender, self._reaper):
                if not thread.is_alive():
                    return ExecutorHealth(False, f"the Celery executor's {thread.name} thread is not running", details)
        return ExecutorHealth(True, None, details)

    def shutdown(self, kill: bool, grace_seconds: float) -> None:
        """Remote attempts are never killed by a server stop: they run on other hosts, keep reporting, and
        the next server adopts them (ADR 0006); an operator kills runs through the API."""
        self._stop.set()
        self._outbox.put(None)
        self._sender.join(timeout=5)
        app = self._app
        if app is not None:
            try:
                app.close()
            except Exception:
                log.debug("closing the Celery app failed", exc_info=True)

    # --- reports (service/workers.py, after authentication) ------------------------------------

    def may_start(self, task_id: str) -> bool:
        """The in-memory half of the fence: a message this server sent (or adopted) and nobody started."""
        with self._lock:
            r = self._by_task.get(task_id)
            return r is not None and r.worker_id is None

    def started(self, task_id: str, worker_id: str) -> bool:
        """After the database accepted the start: the attempt belongs to `worker_id` from now on, and the
        engine hears the second, asynchronous "started" (base.py): the moment it really started, which is its
        StartTime, not the moment it was sent (a message may wait in the broker)."""
        with self._lock:
            r = self._by_task.get(task_id)
            if r is None:
                return False
            r.worker_id = worker_id
            r.last_seen = time.monotonic()
        self._emit(ExecutorEvent(r.exec_id, "started", _now_ms()))
        return True

    def owned(self, task_id: str, worker_id: str) -> RemoteAttempt | None:
        """The attempt if `worker_id` runs it (a log or finish report); refreshes its liveness."""
        with self._lock:
            r = self._by_task.get(task_id)
            if r is None or r.worker_id != worker_id:
                return None
            r.last_seen = time.monotonic()
            return r

    def finished(
        self, task_id: str, worker_id: str, exit_code: int | None, message: str | None, at_ms: int,
        outputs: Mapping[str, str] | None = None,
    ) -> bool:  # fmt: skip
        """A worker's finish report: the exit fact, outputs included (read on the worker, base.py)."""
        with self._lock:
            r = self._by_task.get(task_id)
            if r is None or r.worker_id != worker_id:
                return False
            self._forget(r)
        if exit_code is None:
            self._emit(ExecutorEvent(r.exec_id, "lost", at_ms, message=message))
        else:
            self._emit(ExecutorEvent(r.exec_id, "exited", at_ms, exit_code=exit_code, message=message,
                                     outputs=outputs))  # fmt: skip
        return True

    def heartbeat(
        self, worker_id: str, name: str, group: str, concurrency: int, running: list[str],
        host: Mapping[str, Any] | None = None,
    ) -> list[str]:  # fmt: skip
        """Record a worker's heartbeat; the reply lists the attempts it must kill: those the engine asked
        to stop, and those this server does not (or no longer) count as that worker's (stale: e.g.
        declared lost while the worker was cut off), so nothing runs that the database does not expect."""
        now = time.monotonic()
        kills: list[str] = []
        with self._lock:
            prev = self._workers.get(worker_id)
            grew = prev is None or now - prev.last_seen > self.lease or prev.concurrency != concurrency
            idle = (((prev.idle_beats if prev else ()) + (now,))[-IDLE_BEATS:]) if len(running) < concurrency else ()
            self._workers[worker_id] = WorkerInfo(worker_id, name, group, concurrency, now, tuple(running),
                                                  host=host, idle_beats=idle,
                                                  stalled=prev.stalled if prev else None)  # fmt: skip
            self._seen_groups.add(group)
            for task_id in running:
                r = self._by_task.get(task_id)
                if r is None or r.worker_id != worker_id:
                    kills.append(task_id)
                    continue
                r.last_seen = now
                if r.kill_requested:
                    kills.append(task_id)
        if grew:
            self.on_workers_changed()
        return kills

    def worker_gone(self, worker_id: str) -> int:
        """The worker's guard saw it die and killed every process of its attempts (executors/worker_guard.py):
        they are lost now, not a lease from now, and its slots leave the group's capacity. Returns how many
        attempts were declared lost. Safe against a late or forged-free report: only the attempts the fence
        gave to that worker id are touched, and nothing of them runs any more."""
        with self._lock:
            mine = [r for r in self._by_exec.values() if r.worker_id == worker_id]
            for r in mine:
                self._forget(r)
            self._workers.pop(worker_id, None)
        for r in mine:
            log.warning("attempt %s on worker %s: the worker died (its guard killed the attempt), declared lost",
                        r.task_id, worker_id)  # fmt: skip
            msg = f"worker {worker_id} died while running it (its guard killed the attempt's processes)"
            self._emit(ExecutorEvent(r.exec_id, "lost", _now_ms(), message=msg))
        return len(mine)

    def stalled(self, worker_id: str) -> str | None:
        """Why the worker is held not to consume its queue (C6), for its heartbeat reply; None if it does."""
        with self._lock:
            w = self._workers.get(worker_id)
            return w.stalled if w is not None else None

    def live_slots(self, group: str) -> int:
        """The slots of `group`'s live, consuming workers (heartbeat within the lease, not flagged C6): asked
        before each dispatch (service/capacity.py), so it sums in place instead of building `workers()`."""
        now = time.monotonic()
        with self._lock:
            return sum(w.concurrency for w in self._workers.values()
                       if w.group == group and now - w.last_seen <= self.lease and w.stalled is None)  # fmt: skip

    def workers(self) -> list[dict[str, Any]]:
        """Live workers (heartbeat within the lease), for the internal endpoint and docs/workers.md; one flagged
        as not consuming (C6) is listed with `consuming` false and the reason in `stalled`."""
        now = time.monotonic()
        with self._lock:
            return [
                {"worker_id": w.worker_id, "name": w.name, "group": w.group, "concurrency": w.concurrency,
                 "running": list(w.running), "seen_s_ago": round(now - w.last_seen, 3), "host": w.host,
                 "consuming": w.stalled is None, "stalled": w.stalled}
                for w in self._workers.values() if now - w.last_seen <= self.lease
            ]  # fmt: skip

    # --- threads ------------------------------------------------------------------------------

    def _forget(self, r: RemoteAttempt) -> None:
        self._by_exec.pop(r.exec_id, None)
        self._by_task.pop(r.task_id, None)
        with contextlib.suppress(OSError):
            os.unlink(payload_path(r.log_path))

    def _emit(self, ev: ExecutorEvent) -> None:
        try:
            self._on_event(ev)
        except Exception:
            log.exception("executor event callback failed for %s", ev.attempt_id)

    def _celery_send(self, task_id: str, queue_name_: str, sealed: str) -> None:
        if self._app is None:
            self._app = make_app(self._broker, self._visibility)
        self._app.send_task(TASK_NAME, args=[sealed], task_id=task_id, queue=queue_name_, retry=True)

    def _send_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            task_id, queue_, sealed = item
            for attempt in range(10**9):
                with self._lock:
                    if task_id not in self._by_task:
                        break  # killed before it was even sent
                try:
                    self._send(task_id, queue_, sealed)
                    self._send_failing_since = None
                    with self._lock:
                        r = self._by_task.get(task_id)
                        if r is not None:
                            r.published_at = time.monotonic()
                            r.publishes += 1
                    break
                except Exception:
                    if self._send_failing_since is None:
                        self._send_failing_since = time.monotonic()
                    pause = SEND_BACKOFF_S[min(attempt, len(SEND_BACKOFF_S) - 1)]
                    log.warning("sending attempt %s to %s failed; retrying in %g s", task_id, queue_, pause,
                                exc_info=attempt == 0)  # fmt: skip
                    if self._stop.wait(pause):
                        return

    def _reap_loop(self) -> None:
        period = max(0.05, min(1.0, self.lease / 5))
        while not self._stop.wait(period):
            now = time.monotonic()
            lost: list[RemoteAttempt] = []
            never: list[RemoteAttempt] = []
            flagged: list[WorkerInfo] = []
            with self._lock:
                if not self.ready.is_set():
                    continue
                for r in list(self._by_exec.values()):
                    if r.worker_id is not None and now - r.last_seen > self.lease:
                        self._forget(r)
                        lost.append(r)
                    elif r.worker_id is None and r.never_published:
                        self._forget(r)
                        never.append(r)
                    elif r.worker_id is None and (witnesses := self._idle_witnesses(r, now)):
                        assert r.sealed is not None
                        for worker_id in sorted(witnesses & r.lost_witnesses):  # idle through two publishes: C6
                            w = self._workers[worker_id]
                            w.stalled = (f"attempt {r.task_id} was not started {self.lease:g} s after it was "
                                         f"published, then again {self.lease:g} s after it was published again, "
                                         "while this worker reported free slots: its Celery consumer takes nothing"
                                         )  # fmt: skip
                            flagged.append(w)
                        witnesses -= r.lost_witnesses
                        if not witnesses:
                            continue  # no consuming witness: it waits for a (restarted) worker, as in C4
                        log.warning("attempt %s not started %g s after it was published while a worker of %s had"
                                    " free slots: its message was lost; publishing it again", r.task_id,
                                    self.lease, r.group)  # fmt: skip
                        r.published_at = None
                        r.lost_witnesses = frozenset(witnesses)
                        self._outbox.put((r.task_id, queue_name(r.group), r.sealed))
                for w in [w for w in self._workers.values() if now - w.last_seen > 10 * self.lease]:
                    del self._workers[w.worker_id]
            for w in flagged:
                log.warning("worker %s (%s, group %s) does not consume its queue: %s; its %d slots no longer count"
                            " and its heartbeat reply tells it to drain and exit for its supervisor to restart it",
                            w.worker_id, w.name, w.group, w.stalled, w.concurrency)  # fmt: skip
            for r in lost:
                log.warning("attempt %s on worker %s: no report for %g s, declared lost", r.task_id, r.worker_id,
                            self.lease)  # fmt: skip
                msg = f"worker {r.worker_id} stopped reporting for more than {self.lease:g} s (lease)"
                self._emit(ExecutorEvent(r.exec_id, "lost", _now_ms(), message=msg))
            for r in never:
                msg = ("never sent to a worker: the server stopped between recording the attempt RUNNING and "
                       "publishing it; it never ran")  # fmt: skip
                log.warning("attempt %s: %s", r.task_id, msg)
                self._emit(ExecutorEvent(r.exec_id, "lost", _now_ms(), message=msg))

    def _idle_witnesses(self, r: RemoteAttempt, now: float) -> set[str]:
        """Caller holds the lock. Empty unless the attempt is not started a lease after its last publish: then
        the live workers of its group, not flagged C6, that reported a free slot on IDLE_BEATS heartbeats since
        (each would have taken the message, had it been in the queue and had its consumer been consuming)."""
        if r.sealed is None or r.published_at is None or now - r.published_at < self.lease:
            return set()
        return {
            w.worker_id for w in self._workers.values()
            if w.group == r.group and now - w.last_seen <= self.lease and w.stalled is None
            and len(w.idle_beats) >= IDLE_BEATS and w.idle_beats[-IDLE_BEATS] > r.published_at
        }  # fmt: skip


def payload_path(log_path: str) -> str:
    """Where an attempt's sealed payload is kept: next to its log (`<attempt>.payload`)."""
    return log_path.removesuffix(".log") + PAYLOAD_SUFFIX


def _write_payload(path: str, sealed: str) -> None:
    """0600, whole or not at all (a crash mid-write must not leave a truncated token to re-publish)."""
    tmp = f"{path}.tmp"
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(sealed.encode("ascii"))
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)
