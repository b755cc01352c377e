"""The registered actions are exactly the ones docs/api.md documents, and all exist in the SDK schema."""

from __future__ import annotations

import re
from pathlib import Path

from trigflow.api import wire
from trigflow.api.registry import load_all

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_actions() -> set[str]:
    table = DOC.read_text().split("## Registered actions", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", table, flags=re.M))


def test_registered_actions_equal_documented_list() -> None:
    assert set(load_all()) == documented_actions()


def test_every_registered_action_is_a_real_sdk_action() -> None:
    assert set(load_all()) <= wire.action_names()


def documented_not_implemented() -> list[str]:
    section = DOC.read_text().split("## Not implemented yet", 1)[1].split("\n## ", 1)[0]
    listed = [line for line in section.splitlines() if line.startswith("`")]
    return re.findall(r"`(\w+)`", "\n".join(listed))


def test_not_implemented_list_is_the_sdk_actions_minus_the_registered_ones() -> None:
    """docs/api.md cannot drift from the data the front door answers `UnsupportedOperation.NotImplemented` from."""
    listed = documented_not_implemented()
    assert listed == sorted(listed), "keep the list sorted"
    assert set(listed) == wire.sdk_action_names() - set(load_all())


def test_every_served_action_is_an_sdk_client_action() -> None:
    assert wire.action_names() <= wire.sdk_action_names()
    assert {"GetTaskInstanceLog", "CreateDataBackfillPlan", "ListOpsAlarmRules", "KillTaskInstancesAsync"} <= (
        wire.sdk_action_names()
    )
