"""Resource groups: named pools of execution slots that tasks run in (semantics.md §1.5, §4.3).

A self-hosted group has no machines to buy: its capacity is `Number` concurrent task runs (the
`Type.Schedule.Number` of CreateResourceGroup), and `Specification` is kept and echoed. A default group
exists from the first start; tasks that name no group run there.

The scheduler asks `slots(group_id)` on its own thread while API calls change groups on others, so
capacities are also kept in a dict that is replaced whole (reads never see a half-made update).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from trigflow.domain.errors import InvalidParameter, InvalidParameterValue, ResourceInUse, ResourceNotFound
from trigflow.service.common import Clock, Page
from trigflow.store import catalog as q
from trigflow.store import runs as rq
from trigflow.store.engine import Database

GROUP_TYPES = ("Schedule", "Integration", "DataService")
MAX_SLOTS = 10_000


class ResourceGroups:
    def __init__(self, db: Database, clock: Clock, default_slots: int = 64) -> None:
        self.db = db
        self.clock = clock
        self.default_slots = default_slots
        self._slots: dict[str, int] = {}
        self._default_id: str | None = None
        self.on_change: Callable[[], None] = lambda: None  # the scheduler hooks in to re-dispatch

    # --- used by the scheduler ---------------------------------------------------------------

    def slots(self, group_id: str) -> int | None:
        """Concurrent task runs the group may execute; None for an unknown group (no limit to enforce)."""
        return self._slots.get(group_id)

    @property
    def default_id(self) -> str:
        if self._default_id is None:
            self.ensure_default()
        assert self._default_id is not None
        return self._default_id

    def ensure_default(self) -> dict[str, Any]:
        with self.db.write(serial=True) as conn:
            row = q.default_resource_group(conn)
            if row is None:
                row = self._row("default", "Schedule", "default", self.default_slots, [], "Default resource group")
                row["is_default"] = True
                q.insert_resource_group(conn, row)
            groups = q.all_resource_groups(conn)
        self._default_id = row["group_id"]
        self._slots = {g["group_id"]: int(g["slots"]) for g in groups}
        return row

    # --- API use cases ----------------------------------------------------------------------

    def create(self, p: Mapping[str, Any]) -> str:
        name = str(p.get("Name") or "").strip()
        if not name:
            raise InvalidParameterValue("Name must be a non-empty string")
        if len(name) > 200:
            raise InvalidParameterValue("Name is longer than 200 characters")
        rtype = p["Type"]
        group_type = rtype.get("ResourceGroupType")
        if group_type not in GROUP_TYPES:
            raise InvalidParameterValue(
                f"Type.ResourceGroupType must be one of {list(GROUP_TYPES)}, got {group_type!r}"
            )
        spec = rtype.get(group_type) or {}
        slots = spec.get("Number", 1) if isinstance(spec, Mapping) else 1
        _check_slots(slots, f"Type.{group_type}.Number")
        projects = [p["AssociatedProjectId"]] if p.get("AssociatedProjectId") else []
        with self.db.write(serial=True) as conn:
            if q.find_resource_group_by_name(conn, name) is not None:
                raise InvalidParameter(
                    f"resource group name {name!r} already exists", code="InvalidParameter.DuplicateName"
                )
            row = self._row(name, group_type, spec.get("Specification") if isinstance(spec, Mapping) else None, slots,
                            projects, p.get("Description"))  # fmt: skip
            row["region"] = p.get("ResourceRegion")
            q.insert_resource_group(conn, row)
        self._reload()
        return str(row["group_id"])

    def update(self, p: Mapping[str, Any]) -> None:
        with self.db.write(serial=True) as conn:
            self._get(conn, p["Id"])
            number = p.get("Number")
            if number and number.get("Quantity") is not None:
                _check_slots(number["Quantity"], "Number.Quantity")
                q.update_resource_group(conn, p["Id"], {"slots": int(number["Quantity"])})
        self._reload()

    def delete(self, group_id: str) -> None:
        with self.db.write(serial=True) as conn:
            row = self._get(conn, group_id)
            if row["is_default"]:
                raise ResourceInUse("the default resource group cannot be deleted")
            active = rq.count_active_in_group(conn, group_id)
            if active:
                raise ResourceInUse(f"resource group {group_id} is used by {active} waiting or running task runs")
            q.delete_resource_group(conn, group_id)
        self._reload()

    def list_groups(self, p: Mapping[str, Any], page: Page) -> tuple[list[dict[str, Any]], int]:
        with self.db.read() as conn:
            rows = q.all_resource_groups(conn)
        if p.get("Type"):
            rows = [r for r in rows if r["group_type"] == p["Type"]]
        if p.get("Id"):
            rows = [r for r in rows if r["group_id"] == p["Id"]]
        if p.get("Name"):
            rows = [r for r in rows if str(p["Name"]).lower() in r["name"].lower()]
        if p.get("ProjectIds"):
            wanted = set(p["ProjectIds"])
            rows = [r for r in rows if not r["project_ids"] or wanted & set(r["project_ids"])]
        return rows[page.offset : page.offset + page.size], len(rows)

    def exists(self, group_id: str) -> bool:
        return group_id in self._slots

    def group_ids(self) -> list[str]:
        """Every group, from the in-memory copy (no database read): the metrics sampler asks each second."""
        return list(self._slots)

    def _get(self, conn: Any, group_id: str) -> dict[str, Any]:
        row = q.get_resource_group(conn, group_id)
        if row is None:
            raise ResourceNotFound(f"resource group {group_id} does not exist")
        return row

    def _reload(self) -> None:
        with self.db.read() as conn:
            groups = q.all_resource_groups(conn)
        self._slots = {g["group_id"]: int(g["slots"]) for g in groups}
        self.on_change()

    def _row(
        self, name: str, group_type: str, spec: str | None, slots: int, projects: list[str], description: str | None
    ) -> dict[str, Any]:
        now = self.clock()
        # WeData group ids look like 20240222212719833743: a creation stamp plus random digits.
        stamp = datetime.fromtimestamp(now / 1000, tz=UTC).strftime("%Y%m%d%H%M%S")
        return {
            "group_id": stamp + f"{secrets.randbelow(10**6):06d}",
            "name": name,
            "description": description,
            "group_type": group_type,
            "specification": spec,
            "slots": int(slots),
            "project_ids": projects,
            "region": None,
            "is_default": False,
            "create_ms": now,
        }


def _check_slots(value: Any, path: str) -> None:
    if not isinstance(value, int) or not 1 <= value <= MAX_SLOTS:
        raise InvalidParameterValue(
            f"{path} must be an integer in 1..{MAX_SLOTS} (concurrent task runs), got {value!r}"
        )
