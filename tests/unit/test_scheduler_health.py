"""What /healthz reports for a scheduler (engine/scheduler.assess_health): failed and stalled are not ok."""

from __future__ import annotations

from trigflow.engine.scheduler import assess_health

BASE = {"failure": None, "stopping": False, "alive": True, "last_pass_ms": 1_000, "now_ms": 2_000,
        "stall_after_ms": 30_000}  # fmt: skip


def test_a_running_scheduler_is_ok() -> None:
    assert assess_health(**BASE).ok  # type: ignore[arg-type]
    assert assess_health(**{**BASE, "last_pass_ms": None}).ok  # type: ignore[arg-type]


def test_a_scheduler_that_gave_up_is_failed_with_its_reason() -> None:
    h = assess_health(**{**BASE, "failure": "the loop failed 5 times", "alive": False})  # type: ignore[arg-type]
    assert (h.ok, h.state) == (False, "failed") and h.reason is not None and "5 times" in h.reason


def test_a_dead_thread_is_failed() -> None:
    h = assess_health(**{**BASE, "alive": False})  # type: ignore[arg-type]
    assert (h.ok, h.state) == (False, "failed")


def test_no_loop_pass_for_longer_than_the_bound_is_stalled() -> None:
    assert assess_health(**{**BASE, "now_ms": 1_000 + 30_000}).ok  # type: ignore[arg-type]
    h = assess_health(**{**BASE, "now_ms": 1_000 + 30_001})  # type: ignore[arg-type]
    assert (h.ok, h.state) == (False, "stalled") and h.reason is not None and "restart" in h.reason


def test_a_scheduler_stopping_on_purpose_is_ok() -> None:
    assert assess_health(**{**BASE, "stopping": True, "alive": False}).ok  # type: ignore[arg-type]
