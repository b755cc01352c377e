"""The waiting message of a task run between a failed attempt and its retry (issue 12 point 5, Q-T4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain.states import parse_retry_notice, retry_notice

# 2026-12-03 09:05:00.750 UTC
DUE_MS = int(datetime(2026, 12, 3, 9, 5, 0, 750_000, tzinfo=UTC).timestamp() * 1000)


def test_reads_like_the_issue_example_in_the_run_zone() -> None:
    text = retry_notice("exit code 3", 1, 4, DUE_MS, "Asia/Shanghai")
    assert text == "exit code 3; retry 1 of 4 at 2026-12-03 17:05:00 +08:00"


def test_time_is_rounded_down_so_the_retry_never_starts_before_it() -> None:
    parsed = parse_retry_notice(retry_notice("exit code 3", 1, 4, DUE_MS, "UTC"))
    assert parsed is not None
    assert parsed.at == datetime(2026, 12, 3, 9, 5, 0, tzinfo=UTC)
    assert parsed.at.timestamp() * 1000 <= DUE_MS


def test_negative_and_fractional_offsets_are_written_out() -> None:
    assert retry_notice("x", 1, 1, DUE_MS, "America/St_Johns").endswith("at 2026-12-03 05:35:00 -03:30")
    assert retry_notice("x", 1, 1, DUE_MS, "UTC+5:45").endswith("at 2026-12-03 14:50:00 +05:45")
    assert retry_notice("x", 1, 1, DUE_MS, "UTC").endswith("at 2026-12-03 09:05:00 +00:00")


def test_a_zone_that_does_not_resolve_falls_back_to_utc() -> None:
    assert retry_notice("x", 2, 3, DUE_MS, "Mars/Olympus").endswith("retry 2 of 3 at 2026-12-03 09:05:00 +00:00")


def test_no_error_text_still_says_it_failed() -> None:
    assert retry_notice(None, 1, 4, DUE_MS, "UTC").startswith("failed; retry 1 of 4 at ")


def test_final_errors_and_other_codes_are_not_notices() -> None:
    for text in (None, "", "exit code 3", "UserKilled", "ExecutionTimeout: ran longer than ExecutionTTLMinute",
                 "exit code 3; retry 1 of 4 at tomorrow", "retry 1 of 4 at 2026-12-03 17:05:00 +08:00"):  # fmt: skip
        assert parse_retry_notice(text) is None, text


@given(
    error=st.text(min_size=1, max_size=80),
    retry=st.integers(1, 10),
    extra=st.integers(0, 10),
    due_ms=st.integers(0, 253_402_000_000_000),  # through year 9999
    offset_minutes=st.integers(-18 * 60, 18 * 60),
)
def test_round_trip(error: str, retry: int, extra: int, due_ms: int, offset_minutes: int) -> None:
    """Whatever the last error says (even something that looks like a notice), a script reads back the parts."""
    sign = "-" if offset_minutes < 0 else "+"
    zone = f"UTC{sign}{abs(offset_minutes) // 60}:{abs(offset_minutes) % 60:02d}"
    parsed = parse_retry_notice(retry_notice(error, retry, retry + extra, due_ms, zone))
    assert parsed is not None
    assert (parsed.last_error, parsed.retry, parsed.max_retry) == (error, retry, retry + extra)
    assert parsed.at.utcoffset() == timedelta(minutes=offset_minutes)
    assert int(parsed.at.timestamp()) == due_ms // 1000
