"""Time formats of the wire: epoch-ms strings on runs, `yyyy-MM-dd HH:mm:ss` (UTC+8) on definitions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from trigflow.domain.errors import InvalidParameterValue

CST = timezone(timedelta(hours=8))
_FMT = "%Y-%m-%d %H:%M:%S"


def ms_str(ms: int | None) -> str | None:
    return None if ms is None else str(ms)


def wall_time(ms: int | None) -> str | None:
    """Design-side time string; WeData shows these in UTC+8 (api-notes Q8)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=CST).strftime(_FMT)


def parse_wall_time(text: str, path: str) -> int:
    try:
        dt = datetime.strptime(text.strip(), _FMT).replace(tzinfo=CST)
    except ValueError:
        raise InvalidParameterValue(f"{path} must be formatted yyyy-MM-dd HH:mm:ss, got {text!r}") from None
    return int(dt.timestamp() * 1000)


def parse_time_filter(text: str, path: str) -> int:
    """Filter bound as epoch ms, epoch seconds or `yyyy-MM-dd HH:mm:ss` in UTC+8 (decisions.md Q-F1)."""
    t = text.strip()
    if t.isascii() and t.isdigit():
        n = int(t)
        return n if n >= 10**12 else n * 1000
    return parse_wall_time(t, path)


def cost_seconds(start_ms: int | None, end_ms: int | None, now_ms: int) -> str | None:
    """Whole seconds between start and end (or now while still going), as the wire's string."""
    if start_ms is None:
        return None
    return str(round(((end_ms if end_ms is not None else now_ms) - start_ms) / 1000))
