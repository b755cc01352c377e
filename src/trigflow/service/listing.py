"""`Filters` / `OrderFields` parsing shared by the list actions (runs, task runs, ops workflows).

One place, so every list answers an unknown name the same way (api-notes §1.10:
`InvalidParameter.InvalidFilterParameter`, naming the entry and the supported names) and reads
`Direction` the same way (ASC/DESC, default DESC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trigflow.domain.errors import InvalidParameter, InvalidParameterValue
from trigflow.domain.timefmt import parse_time_filter
from trigflow.store.criteria import AnyOf, Between, Criterion, Keyword, Order

# 9999-12-31 23:59:59.999 UTC: the latest instant any time format can name. Larger digit strings used to
# overflow the SQL driver (InternalError); they are a client mistake, so refuse them by name.
MAX_TIME_MS = 253_402_300_799_999
TIME_FILTERS = ("ScheduleTimeGreaterEqual", "ScheduleTimeLessEqual")


def unknown_name(kind: str, name: Any, allowed: Sequence[str], path: str) -> InvalidParameter:
    return InvalidParameter(
        f"{path}: unknown {kind} name {name!r}; supported: {', '.join(allowed)}",
        code="InvalidParameter.InvalidFilterParameter",
    )


def filter_values(f: Mapping[str, Any], i: int) -> list[str]:
    """The non-null Values of filter `i`; a filter without any value is a client mistake, refused by name."""
    vals = [v for v in f.get("Values") or [] if v is not None]
    if not vals:
        raise InvalidParameterValue(f"Filters.{i}.Values must hold at least one value for filter {f.get('Name')!r}")
    return [str(v) for v in vals]


@dataclass(frozen=True)
class FilterVocabulary:
    """The `Filters` names one list action accepts, in the order its refusals list them.

    `Keyword` matches a name column by substring or an id column exactly; each name of `columns` matches a
    column by any of its values; `ScheduleTimeGreaterEqual`/`LessEqual` (when `time_column` is set) bound it;
    `aliases` maps accepted spellings of a filter's values to the stored one.
    """

    names: tuple[str, ...]
    keyword: tuple[str, str]
    columns: Mapping[str, str]
    time_column: str | None = None
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def parse(self, f: Mapping[str, Any], i: int) -> Criterion:
        name = f.get("Name")
        if name not in self.names:
            raise unknown_name("filter", name, self.names, f"Filters.{i}.Name")
        vals = filter_values(f, i)
        if name == "Keyword":
            return Keyword(*self.keyword, tuple(vals))
        if name in TIME_FILTERS and self.time_column is not None:
            t = parse_time_filter(vals[0], f"Filters.{i}.Values")
            if t > MAX_TIME_MS:
                raise InvalidParameterValue(f"Filters.{i}.Values: {vals[0]!r} is out of range for filter {name!r}")
            low, high = (t, None) if name.endswith("GreaterEqual") else (None, t)
            return Between(self.time_column, low=low, high=high)
        alias = self.aliases.get(str(name), {})
        return AnyOf(self.columns[str(name)], tuple(alias.get(v, v) for v in vals))

    def parse_all(self, filters: Sequence[Mapping[str, Any]]) -> list[Criterion]:
        return [self.parse(f, i) for i, f in enumerate(filters)]


def parse_orders(orders: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> list[Order]:
    """OrderFields -> store orders over `columns` (wire name -> column); validated before any query runs."""
    out = []
    for i, o in enumerate(orders):
        name = str(o.get("Name"))
        if name not in columns:
            raise unknown_name("order field", name, list(columns), f"OrderFields.{i}.Name")
        direction = str(o.get("Direction") or "DESC").upper()
        if direction not in ("ASC", "DESC"):
            raise InvalidParameterValue(f"OrderFields.{i}.Direction must be ASC or DESC, got {o.get('Direction')!r}")
        out.append(Order(columns[name], descending=direction == "DESC"))
    return out
