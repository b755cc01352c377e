"""Project lifecycle and members: UpdateProject, DeleteProject, EnableProject, DisableProject, ListProjectMembers.

(Creating, reading and listing projects stay in service/catalog.py, next to the default-project bootstrap.)

What a disabled project (Status 0) means here: nothing new starts in it. Its triggers are disarmed (and a
fire that races the switch creates no run), CreateTriggerWorkflowRun and RerunTriggerWorkflowRunAsync
are refused with UnsupportedOperation; runs already started go on to their end, and definitions stay
readable and editable, so a project can be fixed while it is switched off.

Members: one account per installation (docs/api.md, "Identity"), so the members of every project are the
holders of the server's active API keys, one per UIN, each a project manager.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from trigflow.domain.errors import InvalidParameterValue, ResourceInUse, UnsupportedOperation
from trigflow.service.checks import project_row, required_text
from trigflow.service.common import Page
from trigflow.store import catalog as q
from trigflow.store import datasources as dsq
from trigflow.store.engine import Database

ENABLED, DISABLED = 1, 0


@dataclass(frozen=True)
class Member:
    """A UIN that holds API keys: named after its oldest active key, member since that key was made."""

    uin: str
    name: str
    created_ms: int


class Projects:
    def __init__(self, db: Database, *, on_triggers_changed: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.on_triggers_changed = on_triggers_changed

    def update(self, p: Mapping[str, Any]) -> None:
        """UpdateProject: DisplayName, Description and ProjectOwnerUin, each only when sent.

        ProjectName stays the unique key (CreateProject refuses duplicates); display names are labels and
        may repeat. The owner must be a member (ListProjectMembers), as on WeData.
        """
        values: dict[str, Any] = {}
        if "DisplayName" in p:
            values["display_name"] = required_text(p, "DisplayName")
            if len(values["display_name"]) > 200:
                raise InvalidParameterValue("DisplayName is longer than 200 characters")
        if "Description" in p:
            values["description"] = p["Description"]
        with self.db.write(serial=True) as conn:
            project_row(conn, p["ProjectId"])
            if "ProjectOwnerUin" in p:
                owner = str(p["ProjectOwnerUin"]).strip()
                uins = [m.uin for m in _members(conn)]
                if owner not in uins:
                    raise InvalidParameterValue(
                        f"ProjectOwnerUin {owner!r} is not a member of project {p['ProjectId']}"
                        f" (ListProjectMembers: {', '.join(uins)})"
                    )
                values["owner_uin"] = owner
            if values:
                q.update_project(conn, p["ProjectId"], values)

    def delete(self, project_id: str) -> None:
        """DeleteProject: only an empty project, and never the last one.

        Workflows must be deleted first (ResourceInUse names them), so a project's runs, tasks and
        triggers can never be orphaned by one call. The last project stays because the server always
        needs one (the CLI prints it on start and the default one would be recreated silently).
        """
        with self.db.write(serial=True) as conn:
            project_row(conn, project_id)
            names, total = q.workflow_names(conn, project_id, limit=3)
            if total:
                more = f" and {total - len(names)} more" if total > len(names) else ""
                raise ResourceInUse(
                    f"project {project_id} still has {total} workflow(s): {', '.join(map(repr, names))}{more};"
                    " delete them first (DeleteTriggerWorkflow)"
                )
            names, total = dsq.names_in_project(conn, project_id, limit=3)
            if total:  # its data sources (and their secrets) would stay behind, unreachable by any action
                more = f" and {total - len(names)} more" if total > len(names) else ""
                raise ResourceInUse(
                    f"project {project_id} still has {total} data source(s): {', '.join(map(repr, names))}{more};"
                    " delete them first (DeleteDataSource)"
                )
            if q.count_projects(conn) <= 1:
                raise UnsupportedOperation(f"project {project_id} is the last project; the server keeps one")
            q.delete_project(conn, project_id)

    def set_status(self, project_id: str, enabled: bool) -> None:
        """EnableProject / DisableProject (idempotent); triggers are re-armed or disarmed at once."""
        with self.db.write(serial=True) as conn:
            row = project_row(conn, project_id)
            status = ENABLED if enabled else DISABLED
            if int(row["status"]) == status:
                return
            q.update_project(conn, project_id, {"status": status})
        self.on_triggers_changed()

    def members(
        self, project_id: str, p: Mapping[str, Any], page: Page
    ) -> tuple[dict[str, Any], list[Member], int, str | None]:
        """(project, the page of members, how many match, the root account UIN) for ListProjectMembers.

        UserName and UserUin filter by case-insensitive substring, as the SDK documents (模糊查询).
        """
        with self.db.read() as conn:
            project = project_row(conn, project_id)
            members = _members(conn)
        root = members[0].uin if members else None
        if p.get("UserName"):
            members = [m for m in members if str(p["UserName"]).lower() in m.name.lower()]
        if p.get("UserUin"):
            members = [m for m in members if str(p["UserUin"]) in m.uin]
        return project, members[page.offset : page.offset + page.size], len(members), root


def _members(conn: sa.Connection) -> list[Member]:
    """One member per UIN holding an active key, oldest first."""
    out: dict[str, Member] = {}
    for key in q.list_keys(conn):
        if key["revoked_ms"] is None and key["uin"] not in out:
            out[key["uin"]] = Member(key["uin"], key["name"] or key["uin"], int(key["created_ms"]))
    return list(out.values())
