"""docs/hardening.md names the tests that prove each defence: every test it names exists, so a renamed or
deleted test cannot leave the page pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_the_hardening_page_names_exists() -> None:
    text = (ROOT / "docs" / "hardening.md").read_text(encoding="utf-8")
    # `::test_name`, not a prefix of a family (`::test_log_throttle_*`) or a name cut short with `…`
    named = {m.group(1) for m in re.finditer(r"::(test_\w+)(?![\w…*])", text) if not m.group(1).endswith("_")}
    defined = {d for p in (ROOT / "tests").rglob("*.py") for d in re.findall(r"def (test_\w+)", p.read_text("utf-8"))}
    assert len(named) > 50
    assert sorted(named - defined) == []
