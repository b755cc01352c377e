"""Action handlers registered under their exact wire names (grep an action's name to find its handler)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trigflow.api.context import RequestContext

Handler = Callable[["RequestContext", dict[str, Any]], Any]


@dataclass(frozen=True)
class Registered:
    name: str
    handler: Handler


ACTIONS: dict[str, Registered] = {}


def action(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in ACTIONS:
            raise RuntimeError(f"action {name} registered twice")
        ACTIONS[name] = Registered(name, fn)
        return fn

    return register


def load_all() -> dict[str, Registered]:
    """Import every action module (registration happens at import)."""
    from trigflow.api.actions import (  # noqa: F401
        datasources,
        folders,
        logs,
        projects,
        resources,
        runs,
        tasks,
        workflows,
    )

    return ACTIONS
