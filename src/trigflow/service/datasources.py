"""Data sources: CreateDataSource, GetDataSource, ListDataSources, UpdateDataSource, DeleteDataSource and
GetDataSourceRelatedTasks, plus what task types and runners need from them (docs/data-sources.md).

The properties are stored as validated JSON text with their secrets (the database is the trust boundary,
docs/security.md) and leave this module masked, except through `connection()`, which only runners call.
`ProdConProperties` is what runs; `DevConProperties` is stored and echoed (masked) as WeData does, and
is validated by the same rules when given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from trigflow.domain import datasources as dom
from trigflow.domain.errors import InvalidParameter, InvalidParameterValue, ResourceInUse, ResourceNotFound
from trigflow.service.checks import project_row, required_text
from trigflow.service.common import Caller, Clock, Page
from trigflow.store import datasources as q
from trigflow.store.engine import Database

MAX_ID = 2**31 - 1  # data_sources.id is an INTEGER: a larger wire Id names nothing (and must not reach SQL)
MAX_DISPLAY_NAME, MAX_DESCRIPTION, MAX_TYPE_FILTERS = 200, 2000, 100
IN_USE_NAMES = 5  # tasks named in a ResourceInUse message
MAX_REFERENCES = 100  # ids one SourceServiceId may name: each is an SQL parameter (SQLite caps them)


@dataclass(frozen=True)
class Reference:
    """A data source a task names, as a task type's save check returns it."""

    source_id: int
    name: str
    type: str


class DataSources:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # --- writes -----------------------------------------------------------------------------------------

    def create(self, caller: Caller, p: Mapping[str, Any]) -> int:
        name = required_text(p, "Name")
        source_type = dom.check_type(str(p["Type"]))
        prod = dom.parse_properties(str(p["ProdConProperties"]), source_type, "ProdConProperties")
        dev = _dev(p, source_type, None)
        _no_file_upload(p)
        now = self.clock()
        row = {
            "project_id": p["ProjectId"],
            "name": name,
            "display_name": _bounded(p.get("DisplayName"), MAX_DISPLAY_NAME, "DisplayName"),
            "description": _bounded(p.get("Description"), MAX_DESCRIPTION, "Description"),
            "type": source_type,
            "category": "DB",
            "prod_properties": _dump(prod),
            "dev_properties": None if dev is None else _dump(dev),
            "create_user": caller.uin,
            "modify_user": caller.uin,
            "create_ms": now,
            "update_ms": now,
        }
        with self.db.write(serial=True) as conn:
            project_row(conn, p["ProjectId"])
            if q.name_taken(conn, p["ProjectId"], name):
                raise InvalidParameter(
                    f"Name: data source {name!r} already exists in project {p['ProjectId']}",
                    code="InvalidParameter.DuplicateName",
                )
            return q.insert(conn, row)

    def update(self, caller: Caller, p: Mapping[str, Any]) -> None:
        """Sent fields replace stored ones; a secret sent back as the mask keeps the stored secret."""
        _no_file_upload(p)
        with self.db.write(serial=True) as conn:
            row = self._row(conn, p["ProjectId"], p["Id"])
            source_type = str(row["type"])
            values: dict[str, Any] = {}
            if "ProdConProperties" in p:
                path = "ProdConProperties"
                prod = dom.parse_properties(str(p[path]), source_type, path, _load(row["prod_properties"]))
                values["prod_properties"] = _dump(prod)
            if "DevConProperties" in p:
                dev = _dev(p, source_type, _load(row["dev_properties"]))
                values["dev_properties"] = None if dev is None else _dump(dev)
            if "DisplayName" in p:
                values["display_name"] = _bounded(p["DisplayName"], MAX_DISPLAY_NAME, "DisplayName")
            if "Description" in p:
                values["description"] = _bounded(p["Description"], MAX_DESCRIPTION, "Description")
            values.update(modify_user=caller.uin, update_ms=self.clock())
            q.update(conn, int(row["id"]), values)

    def delete(self, project_id: str, source_id: int) -> None:
        """Refused with ResourceInUse, naming the tasks, while a task's saved or submitted configuration
        names the data source (it would fail at its next run)."""
        with self.db.write(serial=True) as conn:
            row = self._row(conn, project_id, source_id)
            users = _users(q.tasks_naming_services(conn, project_id), int(row["id"]))
            if users:
                shown = ", ".join(f"{t['name']!r} ({t['task_id']})" for t in users[:IN_USE_NAMES])
                more = f" and {len(users) - IN_USE_NAMES} more" if len(users) > IN_USE_NAMES else ""
                raise ResourceInUse(
                    f"data source {row['id']} ({row['name']!r}) is used by {len(users)} task(s): {shown}{more};"
                    " change their SourceServiceId/TargetServiceId first (GetDataSourceRelatedTasks lists them)"
                )
            q.delete(conn, int(row["id"]))

    # --- reads ------------------------------------------------------------------------------------------

    def get(self, project_id: str, source_id: int) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._row(conn, project_id, source_id)

    def page(self, p: Mapping[str, Any], page: Page) -> tuple[list[dict[str, Any]], int]:
        types = list(p.get("Type") or [])
        if len(types) > MAX_TYPE_FILTERS:
            raise InvalidParameterValue(f"Type holds {len(types)} types; at most {MAX_TYPE_FILTERS}")
        with self.db.read() as conn:
            project_row(conn, p["ProjectId"])
            return q.page(
                conn,
                p["ProjectId"],
                name=p.get("Name"),
                display_name=p.get("DisplayName"),
                types=types,
                creator=p.get("Creator"),
                offset=page.offset,
                limit=page.size,
            )

    def related_tasks(self, source_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(the data source, the tasks of its project that name it); the request carries no ProjectId."""
        with self.db.read() as conn:
            row = q.get(conn, source_id) if 0 < source_id <= MAX_ID else None
            if row is None:
                raise ResourceNotFound(f"Id: data source {source_id} does not exist")
            return row, _users(q.tasks_naming_services(conn, str(row["project_id"])), source_id)

    def connection(self, project_id: str, source_id: int) -> dom.Connection:
        """The clear connection dict of the production properties, for a runner (never for a response)."""
        with self.db.read() as conn:
            row = self._row(conn, project_id, source_id)
        return connection_of(row)

    def _row(self, conn: sa.Connection, project_id: str, source_id: int) -> dict[str, Any]:
        project_row(conn, project_id)
        row = q.get(conn, source_id) if 0 < source_id <= MAX_ID else None
        if row is None or row["project_id"] != project_id:
            raise ResourceNotFound(f"Id: data source {source_id} does not exist in project {project_id}")
        return row


# --- for task types (save) and runners ----------------------------------------------------------------------


def check_reference(
    conn: sa.Connection, project_id: str, value: str | None, path: str, allowed_types: Iterable[str]
) -> list[Reference]:
    """Save-time check of a task's `SourceServiceId` / `TargetServiceId` (`;`-separated ids).

    Called by the task types that use a data source (SQL, SSH, Spark, offline sync) inside their save
    transaction, so a concurrent DeleteDataSource (serial too) cannot slip between check and save.
    Refusals are InvalidParameterValue naming `path`: a non-integer id, an id no data source of the project
    has, or a data source of a type not in `allowed_types`. Returns the named data sources, in order.
    An empty value is allowed here; a type that needs one refuses it itself.
    """
    ids = dom.service_ids(value, path)
    if len(ids) > MAX_REFERENCES:
        raise InvalidParameterValue(f"{path} names {len(ids)} data sources; at most {MAX_REFERENCES}")
    allowed = tuple(allowed_types)
    found = q.get_many(conn, project_id, [i for i in ids if i <= MAX_ID])
    out: list[Reference] = []
    for source_id in ids:
        row = found.get(source_id)
        if row is None:
            raise InvalidParameterValue(
                f"{path}: data source {source_id} does not exist in project {project_id}"
                " (ListDataSources shows the ids)"
            )
        if row["type"] not in allowed:
            raise InvalidParameterValue(
                f"{path}: data source {source_id} is of type {row['type']};"
                f" this task type needs one of {', '.join(allowed)}"
            )
        out.append(Reference(source_id, str(row["name"]), str(row["type"])))
    return out


def check_uses(
    conn: sa.Connection, project_id: str, config: Mapping[str, Any], uses: Iterable[dom.SourceUse], config_path: str
) -> dict[str, list[Reference]]:
    """Save-time check of every data-source use a task type declares (`TaskType` attribute, see
    docs/data-sources.md): per use, `check_reference` on the field, plus `required` (the field must name
    one) and `single` (at most one). `config_path` is the wire path of TriggerTaskConfiguration as the
    action spells it (`Task.TriggerTaskConfiguration` on UpdateTriggerTask). Returns the references by field."""
    out: dict[str, list[Reference]] = {}
    for use in uses:
        path = f"{config_path}.{use.field}"
        value = config.get(use.field)
        if value is not None and not isinstance(value, str):
            raise InvalidParameterValue(f"{path} must be a string of data-source ids")
        refs = check_reference(conn, project_id, value, path, use.allowed_types)
        if use.required and not refs:
            raise InvalidParameterValue(
                f"{path} is required for this task type: the Id of a data source of type"
                f" {' or '.join(use.allowed_types)} (ListDataSources shows the ids)"
            )
        if use.single and len(refs) > 1:
            raise InvalidParameterValue(f"{path} names {len(refs)} data sources; this task type runs on one")
        out[use.field] = refs
    return out


def describe_services(conn: sa.Connection, project_id: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with SourceServiceType/Name and TargetServiceType/Name filled from the data sources it names
    (`;`-joined like the ids; None when none of its ids names an existing data source). For GetTriggerTask."""
    out = dict(config)
    for side in ("Source", "Target"):
        try:
            ids = dom.service_ids(config.get(f"{side}ServiceId"), f"{side}ServiceId")[:MAX_REFERENCES]
        except (InvalidParameterValue, AttributeError):
            ids = []  # saved by a task type that does not check the field: shown as stored, not described
        rows = q.get_many(conn, project_id, [i for i in ids if i <= MAX_ID])
        known = [rows[i] for i in ids if i in rows]
        out[f"{side}ServiceType"] = ";".join(str(r["type"]) for r in known) if known else None
        out[f"{side}ServiceName"] = ";".join(str(r["name"]) for r in known) if known else None
    return out


def connection_of(row: Mapping[str, Any]) -> dom.Connection:
    """A stored data-source row -> the runner's connection dict (production properties)."""
    return dom.to_connection(str(row["type"]), _load(row["prod_properties"]) or {})


def masked(row: Mapping[str, Any], column: str) -> str | None:
    """A properties column as a response shows it: JSON text with every secret masked."""
    return dom.masked_text(_load(row[column]))


# --- helpers ----------------------------------------------------------------------------------------------


def _users(candidates: Sequence[Mapping[str, Any]], source_id: int) -> list[dict[str, Any]]:
    return [
        dict(t)
        for t in candidates
        if dom.references(t["config"] or {}, source_id) or dom.references(t["submitted_config"] or {}, source_id)
    ]


def _dev(p: Mapping[str, Any], source_type: str, stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """DevConProperties: same rules as production; empty text clears it."""
    text = p.get("DevConProperties")
    if text is None or not str(text).strip():
        return None
    return dom.parse_properties(str(text), source_type, "DevConProperties", stored)


def _no_file_upload(p: Mapping[str, Any]) -> None:
    for key in ("ProdFileUpload", "DevFileUpload"):
        if p.get(key):
            raise InvalidParameterValue(
                f"{key} is not supported by trigflow (WeData uploads them to COS); put an SSH private key in "
                "ProdConProperties.privateKey"
            )


def _bounded(value: Any, limit: int, path: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if len(text) > limit:
        raise InvalidParameterValue(f"{path} is longer than {limit} characters")
    return text


def _dump(props: Mapping[str, Any]) -> str:
    return json.dumps(props, ensure_ascii=False)


def _load(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None
