"""C4 rule of the Celery executor (docs/adr/0006-celery-workers.md, "Dispatched, never started, never stuck"):
the same sealed payload is published again under the same task id only when the attempt has not started a
lease after its last publish AND a worker of its group reported free slots on two heartbeats since; a busy
group's waiting message is never duplicated. The broker is faked at the process boundary (the `sender`);
the integration tests (`tests/integration/test_celery_workers.py::test_c4_*`) do it with real brokers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import wait_for
from trigflow.executors.base import ExecutorEvent, LaunchSpec
from trigflow.executors.celery_dispatch import CeleryExecutor, payload_path

LEASE = 0.3


class Sent:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, task_id: str, queue: str, sealed: str) -> None:
        with self.lock:
            self.items.append((task_id, queue, sealed))

    def count(self) -> int:
        with self.lock:
            return len(self.items)


def _executor(sent: Sent, events: list[ExecutorEvent]) -> CeleryExecutor:
    ex = CeleryExecutor(events.append, broker="redis://127.0.0.1:1/0", token="t" * 32, servers=("http://s",),
                        lease_seconds=LEASE, sender=sent)  # fmt: skip
    ex.ready.set()
    return ex


def _spec(tmp_path: Path, exec_id: str = "tr1") -> LaunchSpec:
    run_dir = tmp_path / "runs" / "r1"
    return LaunchSpec(exec_id, ("bash",), {"PATH": "/bin"}, str(run_dir), str(run_dir / f"{exec_id}.0.0.log"),
                      script="true\n", resource_group="g", remote_task_id=f"{exec_id}.0.0")  # fmt: skip


def _beats(ex: CeleryExecutor, n: int, running: list[str], concurrency: int = 1) -> None:
    for _ in range(n):
        ex.heartbeat("w1", "w1", "g", concurrency, running)
        time.sleep(LEASE / 6)


def test_a_message_lost_while_a_worker_is_idle_is_published_again_with_the_same_id_and_payload(
    tmp_path: Path,
) -> None:
    sent, events = Sent(), []
    ex = _executor(sent, events)
    try:
        spec = _spec(tmp_path)
        ex.start(spec)
        wait_for(lambda: sent.count() == 1, what="the first publish")
        path = Path(payload_path(spec.log_path))
        assert path.stat().st_mode & 0o777 == 0o600 and path.read_text() == sent.items[0][2]
        _beats(ex, 8, running=[])  # idle for more than a lease after the publish
        wait_for(lambda: sent.count() >= 2, timeout=5, what="the re-publish")
        assert sent.items[1] == sent.items[0]  # same task id, queue and sealed payload
        assert ex.may_start(spec.remote_task_id or "")  # still fenced as one attempt: the first start wins
        assert events == []  # nothing declared lost or failed
    finally:
        ex.shutdown(kill=False, grace_seconds=0)


def test_a_message_waiting_behind_a_busy_worker_is_never_duplicated(tmp_path: Path) -> None:
    sent, events = Sent(), []
    ex = _executor(sent, events)
    try:
        ex.start(_spec(tmp_path))
        wait_for(lambda: sent.count() == 1, what="the first publish")
        _beats(ex, 12, running=["other.0.0"])  # every slot busy for two leases
        assert sent.count() == 1  # two leases of reaper passes, and no second publish
    finally:
        ex.shutdown(kill=False, grace_seconds=0)


def test_a_started_or_killed_attempt_forgets_its_payload_file(tmp_path: Path) -> None:
    sent, events = Sent(), []
    ex = _executor(sent, events)
    try:
        a, b = _spec(tmp_path, "tra"), _spec(tmp_path, "trb")
        ex.start(a)
        ex.start(b)
        wait_for(lambda: sent.count() == 2, what="both published")
        assert ex.started(a.remote_task_id or "", "w1")
        assert ex.finished(a.remote_task_id or "", "w1", 0, None, 1)
        assert ex.kill(b.attempt_id, 0)
        assert not Path(payload_path(a.log_path)).exists() and not Path(payload_path(b.log_path)).exists()
        assert [e.kind for e in events] == ["started", "exited", "lost"]  # the second "started": a worker took a
    finally:
        ex.shutdown(kill=False, grace_seconds=0)


def test_an_adopted_attempt_without_its_payload_file_is_lost_saying_it_never_ran(tmp_path: Path) -> None:
    sent, events = Sent(), []
    ex = CeleryExecutor(events.append, broker="redis://127.0.0.1:1/0", token="t" * 32, servers=("http://s",),
                        lease_seconds=LEASE, sender=sent)  # fmt: skip
    try:
        spec = _spec(tmp_path)
        ex.adopt_remote(spec.attempt_id, spec.remote_task_id or "", "g", spec.log_path, None)
        ex.ready.set()
        wait_for(lambda: events, what="the adopted attempt declared lost")
        assert events[0].kind == "lost" and "never ran" in (events[0].message or "")
        assert sent.count() == 0 and not ex.may_start(spec.remote_task_id or "")
    finally:
        ex.shutdown(kill=False, grace_seconds=0)


def _beat_until(ex: CeleryExecutor, cond: Callable[[], bool], worker: str = "w1", timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        ex.heartbeat(worker, worker, "g", 1, [])
        time.sleep(LEASE / 6)


def test_c6_a_worker_idle_through_the_publish_and_the_re_publish_is_flagged_and_loses_its_slots(
    tmp_path: Path,
) -> None:
    """The C6 rule: the same idle worker did not take the message, nor its re-publish a lease later."""
    sent, events = Sent(), []
    ex = _executor(sent, events)
    try:
        ex.start(_spec(tmp_path))
        wait_for(lambda: sent.count() == 1, what="the first publish")
        _beat_until(ex, lambda: sent.count() == 2)  # C4: the message was lost
        assert ex.stalled("w1") is None and ex.live_slots("g") == 1
        _beat_until(ex, lambda: ex.stalled("w1") is not None)  # and its copy too: w1 takes nothing
        assert "takes nothing" in (ex.stalled("w1") or "")
        assert ex.live_slots("g") == 0
        assert [(w["worker_id"], w["consuming"]) for w in ex.workers()] == [("w1", False)]
        deadline = time.monotonic() + 3 * LEASE
        _beat_until(ex, lambda: time.monotonic() > deadline)  # a stuck worker is no witness: no copies pile up
        assert sent.count() == 2 and events == []
    finally:
        ex.shutdown(kill=False, grace_seconds=0)


def test_c6_a_re_publish_witnessed_by_another_worker_flags_nobody(tmp_path: Path) -> None:
    """w1 was idle when the message was lost, then went silent; w2, idle after the re-publish, is not held to
    account for the first loss: the message is published again, nobody is flagged."""
    sent, events = Sent(), []
    ex = _executor(sent, events)
    try:
        ex.start(_spec(tmp_path))
        wait_for(lambda: sent.count() == 1, what="the first publish")
        _beat_until(ex, lambda: sent.count() == 2, worker="w1")
        _beat_until(ex, lambda: sent.count() == 3, worker="w2")
        assert ex.stalled("w1") is None and ex.stalled("w2") is None
    finally:
        ex.shutdown(kill=False, grace_seconds=0)
