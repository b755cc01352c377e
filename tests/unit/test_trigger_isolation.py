"""One trigger never stops the others (service/triggers.py): stored rows saved before a check existed, and a
trigger whose next fire time cannot be computed, on a real SQLite database with a fake clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.unit.test_trigger_firing import FakeClock, fresh_triggers, ms, scheduled, services_at, workflow_with_trigger
from trigflow.service import triggers as triggers_module
from trigflow.store import triggers as tq


def corrupt(services: Any, wf: str, configs: list[Any]) -> None:
    with services.db.write() as conn:
        conn.execute(sa.text("UPDATE workflows SET trigger_configs = :c WHERE workflow_id = :w"),
                     {"c": json.dumps(configs), "w": wf})  # fmt: skip


def stored_config(services: Any, wf: str) -> dict[str, Any]:
    with services.db.read() as conn:
        raw = conn.execute(sa.text("SELECT trigger_configs FROM workflows WHERE workflow_id = :w"), {"w": wf}).scalar()
    configs = json.loads(raw) if isinstance(raw, str) else raw
    return dict(configs[0])


def test_bad_stored_rows_are_skipped_or_defaulted_and_the_rest_fire(tmp_path: Path) -> None:
    clock = FakeClock(ms("2026-06-01T08:30:00"))
    services = services_at(tmp_path, f"sqlite:///{tmp_path / 'iso.db'}", clock)
    good = workflow_with_trigger(services, "0 0 * * * ? *")
    catchup = workflow_with_trigger(services, "0 0 * * * ? *")
    garbage = workflow_with_trigger(services, "0 0 * * * ? *")
    corrupt(services, catchup, [{**stored_config(services, catchup), "ExtraInfo": '{"catchUpMaxFires": 1e400}'}])
    corrupt(services, garbage, ["not an object", {"TriggerId": "x", "CrontabExpression": ["*"]}, 7])
    triggers = fresh_triggers(services, clock)
    triggers.reload(clock.ms, starting=True)  # the original raised OverflowError here, on every restart
    assert triggers.fingerprint is not None
    assert triggers.armed[stored_config(services, catchup)["TriggerId"]].catch_up == 0
    clock.ms = ms("2026-06-01T09:00:00")
    triggers.fire_due(clock.ms)
    assert len(scheduled(services, good)) == 1 and len(scheduled(services, catchup)) == 1
    assert scheduled(services, garbage) == []
    services.db.dispose()


def test_a_trigger_whose_next_fire_fails_is_disarmed_with_a_recorded_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(ms("2026-06-01T08:30:00"))
    services = services_at(tmp_path, f"sqlite:///{tmp_path / 'iso.db'}", clock)
    good = workflow_with_trigger(services, "0 0 * * * ? *")
    doomed = workflow_with_trigger(services, "0 0 9 * * ? *")
    doomed_id = stored_config(services, doomed)["TriggerId"]
    real = triggers_module.next_fire_ms

    def next_fire_ms(spec: Any, after_ms: int) -> int | None:
        if spec.cron_expression == "0 0 9 * * ? *" and after_ms >= ms("2026-06-01T09:00:00"):
            raise OverflowError("date value out of range")  # what a broken spec did to the whole loop
        return real(spec, after_ms)

    monkeypatch.setattr(triggers_module, "next_fire_ms", next_fire_ms)
    triggers = fresh_triggers(services, clock)
    triggers.reload(clock.ms, starting=True)
    clock.ms = ms("2026-06-01T09:00:00")
    triggers.fire_due(clock.ms)  # the doomed trigger fires at 09:00, then cannot be re-armed
    assert doomed_id not in triggers.armed
    with services.db.read() as conn:
        notes = [f["note"] for f in tq.fires_of(conn, doomed_id)]
    assert any(n and n.startswith("TriggerDisabled: next fire time failed: OverflowError") for n in notes)
    clock.ms = ms("2026-06-01T10:00:00")
    triggers.fire_due(clock.ms)
    assert len(scheduled(services, good)) == 2 and len(scheduled(services, doomed)) == 1
    services.db.dispose()
