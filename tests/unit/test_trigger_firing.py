"""Trigger firing with a fake clock on a real database: exactly once across restarts and competing
schedulers (SQLite and PostgreSQL), no catch-up beyond the misfire grace unless opted in."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import pg_schema
from trigflow.app import Services, bootstrap, build
from trigflow.config import Settings
from trigflow.service.common import Caller
from trigflow.service.triggers import Triggers
from trigflow.store import triggers as tq

NY = ZoneInfo("America/New_York")


class FakeClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def ms(text: str, tz: ZoneInfo = NY) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fire.db'}"
        return
    with pg_schema("tf_fire") as url:
        yield url


def services_at(tmp_path: Path, db_url: str, clock: FakeClock) -> Services:
    services = build(Settings(data_dir=tmp_path, db_url=db_url, default_timezone="Asia/Shanghai"), clock=clock)
    bootstrap(services)
    return services


def workflow_with_trigger(services: Services, cron: str, tz: str = "America/New_York", extra: str | None = None) -> str:
    caller = Caller("test", "100000000001")
    project_id = services.catalog.ensure_default_project(caller.uin)["project_id"]
    trigger = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CycleType": "DAY_CYCLE",
               "CrontabExpression": cron, "ScheduleTimeZone": tz, "SchedulerStatus": "ACTIVE"}  # fmt: skip
    if extra:
        trigger["ExtraInfo"] = extra
    wf = services.catalog.create_workflow(
        caller,
        {"ProjectId": project_id, "WorkflowName": f"wf_{uuid.uuid4().hex[:6]}", "ParentFolderPath": "/f",
         "TriggerWorkflowSchedulerConfigurations": [trigger],
         "TriggerWorkflowRunConfiguration": {"MaxConcurrentNum": 1000}},
    )  # fmt: skip
    task = services.tasks.create_task(
        caller,
        {"ProjectId": project_id,
         "TriggerTaskBaseAttribute": {"TaskName": "t", "TaskTypeId": "35", "WorkflowId": wf},
         "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(b"true").decode()},
         "TriggerTaskSchedulerConfiguration": {}},
    )  # fmt: skip
    services.tasks.submit_task(caller, project_id, task, "v1")
    return wf


def fresh_triggers(services: Services, clock: FakeClock, grace_ms: int = 60_000) -> Triggers:
    """What a (re)started or second scheduler process has: its own in-memory state, the same database."""
    return Triggers(services.db, clock, services.runs.create_scheduled_run, default_tz="Asia/Shanghai",
                    misfire_grace_ms=grace_ms)  # fmt: skip


def scheduled(services: Services, wf: str) -> list[tuple[int, str]]:
    with services.db.read() as conn:
        rows = conn.execute(
            sa.text("SELECT schedule_ms, trigger_type FROM workflow_runs WHERE workflow_id = :w ORDER BY schedule_ms"),
            {"w": wf},
        ).all()
    return [(int(r[0]), str(r[1])) for r in rows]


def advance(triggers: Triggers, clock: FakeClock, until_ms: int, step_ms: int) -> None:
    while clock.ms < until_ms:
        clock.ms = min(until_ms, clock.ms + step_ms)
        triggers.fire_due(clock.ms)


def test_daily_trigger_across_dst_fires_each_day_once_and_survives_restarts(tmp_path: Path, db_url: str) -> None:
    clock = FakeClock(ms("2026-03-06T12:00:00"))
    services = services_at(tmp_path, db_url, clock)
    wf = workflow_with_trigger(services, "0 30 9 * * ? *")  # 09:30 New York, across the 2026-03-08 DST change
    first = fresh_triggers(services, clock)
    first.reload(clock.ms, starting=True)
    advance(first, clock, ms("2026-03-08T12:00:00"), 3_600_000)
    second = fresh_triggers(services, clock)  # a restart: a new process, the same database
    second.reload(clock.ms, starting=True)
    advance(second, clock, ms("2026-03-10T12:00:00"), 3_600_000)
    got = scheduled(services, wf)
    expected = [ms(f"2026-03-{d:02d}T09:30:00") for d in (7, 8, 9, 10)]  # the 6th at 09:30 had passed
    assert got == [(t, "Scheduler") for t in expected]  # 09:30 local every day, EST then EDT, once each
    services.db.dispose()


def test_two_schedulers_racing_the_same_fire_create_one_run(tmp_path: Path, db_url: str) -> None:
    clock = FakeClock(ms("2026-06-01T08:59:59"))
    services = services_at(tmp_path, db_url, clock)
    wf = workflow_with_trigger(services, "0 0 9 * * ? *")
    a, b = fresh_triggers(services, clock), fresh_triggers(services, clock)
    a.reload(clock.ms, starting=True)
    b.reload(clock.ms, starting=True)
    clock.ms = ms("2026-06-01T09:00:00")
    created = a.fire_due(clock.ms) + b.fire_due(clock.ms) + a.fire_due(clock.ms)
    assert len(created) == 1
    assert scheduled(services, wf) == [(ms("2026-06-01T09:00:00"), "Scheduler")]
    with services.db.read() as conn:
        assert [f["run_id"] for f in tq.fires_of(conn, next(iter(a.armed)))] == created
    services.db.dispose()


def test_no_catch_up_after_downtime_but_the_misfire_grace_holds(tmp_path: Path, db_url: str) -> None:
    clock = FakeClock(ms("2026-01-01T08:05:00"))
    services = services_at(tmp_path, db_url, clock)
    wf = workflow_with_trigger(services, "0 0 * * * ? *")  # hourly
    t = fresh_triggers(services, clock)
    t.reload(clock.ms, starting=True)
    advance(t, clock, ms("2026-01-01T10:00:00"), 60_000)  # fires 09:00 and 10:00
    # Down for three days; back 30 s after an hourly fire: that one still fires (grace), nothing older.
    clock.ms = ms("2026-01-04T13:00:30")
    restarted = fresh_triggers(services, clock)
    restarted.reload(clock.ms, starting=True)
    restarted.fire_due(clock.ms)
    times = [t for t, _ in scheduled(services, wf)]
    assert times == [ms("2026-01-01T09:00:00"), ms("2026-01-01T10:00:00"), ms("2026-01-04T13:00:00")]
    services.db.dispose()


def test_bounded_catch_up_when_the_trigger_opts_in(tmp_path: Path, db_url: str) -> None:
    clock = FakeClock(ms("2026-01-01T08:30:00"))
    services = services_at(tmp_path, db_url, clock)
    wf = workflow_with_trigger(services, "0 0 * * * ? *", extra='{"catchUpMaxFires": 2}')
    t = fresh_triggers(services, clock)
    t.reload(clock.ms, starting=True)
    advance(t, clock, ms("2026-01-01T09:00:00"), 60_000)
    clock.ms = ms("2026-01-01T15:30:00")  # missed 10:00 .. 15:00 (6 fires)
    restarted = fresh_triggers(services, clock)
    restarted.reload(clock.ms, starting=True)
    restarted.fire_due(clock.ms)
    times = [t for t, _ in scheduled(services, wf)]
    assert times == [ms("2026-01-01T09:00:00"), ms("2026-01-01T14:00:00"), ms("2026-01-01T15:00:00")]
    services.db.dispose()


def test_paused_triggers_do_not_fire(tmp_path: Path) -> None:
    clock = FakeClock(ms("2026-01-01T08:30:00"))
    services = services_at(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", clock)
    caller = Caller("test", "100000000001")
    project_id = services.catalog.ensure_default_project(caller.uin)["project_id"]
    trigger: dict[str, Any] = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION",
                               "CycleType": "HOUR_CYCLE", "CrontabExpression": "0 0 * * * ? *",
                               "SchedulerStatus": "ACTIVE"}  # fmt: skip
    wf = services.catalog.create_workflow(
        caller,
        {"ProjectId": project_id, "WorkflowName": "paused", "ParentFolderPath": "/f", "SchedulerStatus": "PAUSED",
         "TriggerWorkflowSchedulerConfigurations": [trigger]},
    )  # fmt: skip
    t = fresh_triggers(services, clock)
    t.reload(clock.ms, starting=True)
    assert t.armed == {}
    advance(t, clock, ms("2026-01-01T12:00:00"), 600_000)
    assert scheduled(services, wf) == []
    services.db.dispose()
