"""Checks and lookups shared by the definition services (projects, workflows, tasks, folders).

Each refusal names the wire field that was wrong, so every entry point answers the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.domain.errors import InvalidParameterValue, ResourceNotFound, UnsupportedOperation
from trigflow.domain.timefmt import parse_wall_time
from trigflow.store import catalog as q


def project_row(conn: sa.Connection, project_id: str) -> dict[str, Any]:
    row = q.get_project(conn, project_id)
    if row is None:
        raise ResourceNotFound(f"project {project_id} does not exist")
    return row


def enabled_project(conn: sa.Connection, project_id: str) -> dict[str, Any]:
    """The project, refused with UnsupportedOperation while disabled: a disabled project (DisableProject)
    starts no new run, whatever asks for it; runs already going finish."""
    row = project_row(conn, project_id)
    if int(row["status"]) != 1:
        raise UnsupportedOperation(
            f"project {project_id} is disabled (DisableProject); no run starts in it until EnableProject"
        )
    return row


def workflow_row(conn: sa.Connection, project_id: str, workflow_id: str) -> dict[str, Any]:
    row = q.get_workflow(conn, project_id, workflow_id)
    if row is None:
        raise ResourceNotFound(f"workflow {workflow_id} does not exist in project {project_id}")
    return row


def required_text(p: Mapping[str, Any], key: str, path: str | None = None) -> str:
    value = p.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterValue(f"{path or key} must be a non-empty string")
    if len(value) > 200 and key.endswith("Name"):
        raise InvalidParameterValue(f"{path or key} is longer than 200 characters")
    return value.strip()


def normalise_path(path: str) -> str:
    parts = [s for s in path.strip().split("/") if s]
    return "/" + "/".join(parts)


MAX_FOLDER_PATH, MAX_FOLDER_NAME = 1000, 200  # widths of folders.path and folders.name

# Widths of the workflow columns a request sets directly (store/tables.py): refused by field name here, rather
# than by PostgreSQL with a message that names no field (SQLite would keep any length).
WORKFLOW_WIDTHS = {"OwnerUin": 32, "ExecuteUserUin": 32, "BundleId": 200}


def check_widths(p: Mapping[str, Any], widths: Mapping[str, int], prefix: str = "") -> None:
    for key, width in widths.items():
        value = p.get(key)
        if isinstance(value, str) and len(value) > width:
            raise InvalidParameterValue(f"{prefix}{key} is longer than {width} characters")


def folder_path(p: Mapping[str, Any], key: str) -> str:
    """A folder path to store (normalised), refused by name when a column could not hold it.

    PostgreSQL would refuse an over-long value with an error the client must not see, and SQLite would
    keep it, breaking the rule that filters rely on: no stored value is longer than its column.
    """
    path = normalise_path(required_text(p, key))
    if len(path) > MAX_FOLDER_PATH:
        raise InvalidParameterValue(f"{key} is longer than {MAX_FOLDER_PATH} characters")
    if any(len(part) > MAX_FOLDER_NAME for part in path.split("/")):
        raise InvalidParameterValue(f"{key}: a folder name in it is longer than {MAX_FOLDER_NAME} characters")
    return path


def param_list(items: Sequence[Mapping[str, Any]] | None, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items or []):
        key = item.get("ParamKey")
        if not key:
            raise InvalidParameterValue(f"{path}.{i}.ParamKey must be a non-empty string")
        if key in seen:
            raise InvalidParameterValue(f"{path}.{i}.ParamKey {key!r} is duplicated")
        seen.add(key)
        out.append({"ParamKey": key, "ParamValue": item.get("ParamValue")})
    return out


def time_range(values: Sequence[str], key: str) -> tuple[int, int]:
    if len(values) != 2:
        raise InvalidParameterValue(f"{key} must hold exactly two times [from, to] as yyyy-MM-dd HH:mm:ss")
    lo, hi = (parse_wall_time(v, key) for v in values)
    return lo, hi
