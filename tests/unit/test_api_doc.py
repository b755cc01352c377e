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
