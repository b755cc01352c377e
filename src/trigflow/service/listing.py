"""`Filters` / `OrderFields` parsing shared by the list actions (runs, task runs, ops workflows).

One place, so every list answers an unknown name the same way (api-notes §1.10:
`InvalidParameter.InvalidFilterParameter`, naming the entry and the supported names) and reads
`Direction` the same way (ASC/DESC, default DESC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trigflow.domain.errors import InvalidParameter, InvalidParameterValue
from trigflow.store.criteria import Order


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
