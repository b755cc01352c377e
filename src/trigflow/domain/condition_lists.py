"""The wire shape merge and branch nodes share: a TaskExtConfigurationList value holding a JSON array.

Both `mergeCondition` and `branchConditions` are a non-empty JSON array of condition objects with an upper
bound; one function refuses the same malformed inputs with the same messages, naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from trigflow.domain.errors import InvalidParameterValue

__all__ = ["json_condition_list"]


def json_condition_list(text: str | None, path: str, what: str, max_items: int) -> list[Any]:
    """The array's items; InvalidParameterValue naming `path` when it is not JSON, not a non-empty array,
    or holds more than `max_items` (`what` names the items, e.g. "merge conditions")."""
    try:
        raw = json.loads(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidParameterValue(f"{path} must be a JSON array of {what}") from None
    if not isinstance(raw, list) or not raw:
        raise InvalidParameterValue(f"{path} must be a non-empty JSON array of {what}")
    if len(raw) > max_items:
        raise InvalidParameterValue(f"{path} holds {len(raw)} conditions; at most {max_items} are allowed")
    return raw
