"""Shared pieces of the use-case layer: who is calling, what time it is, paging arithmetic."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from trigflow.domain.errors import InvalidParameterValue

Clock = Callable[[], int]  # epoch milliseconds


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Caller:
    """The authenticated key behind a request; its UIN stands in for the WeData account."""

    secret_id: str
    uin: str
    is_admin: bool = True


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        """Rows to skip. SQL takes OFFSET as a signed 64-bit integer while PageNumber is a uint64 on the
        wire: a page far past the end must read as empty, not overflow the driver."""
        return min((self.number - 1) * self.size, 2**63 - 1)

    def total_pages(self, total: int) -> int:
        return (total + self.size - 1) // self.size if total else 0


def page_of(number: int | None, size: int | None, *, default: int = 10, minimum: int = 1, maximum: int = 200) -> Page:
    """Validate paging: PageNumber >= 1; PageSize clamped up to `minimum`, refused above `maximum`."""
    n = 1 if number is None else number
    s = default if size is None else size
    if n < 1:
        raise InvalidParameterValue(f"PageNumber must be >= 1, got {n}")
    if s < 1:
        raise InvalidParameterValue(f"PageSize must be >= 1, got {s}")
    if s > maximum:
        raise InvalidParameterValue(f"PageSize must be <= {maximum}, got {s}")
    return Page(n, max(s, minimum))
