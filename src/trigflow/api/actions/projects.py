"""Project actions (companions of the trigger family: a user needs a ProjectId before anything else)."""

from __future__ import annotations

from typing import Any

from trigflow.api import catalog_shapes, shapes
from trigflow.api.context import RequestContext
from trigflow.api.registry import action
from trigflow.domain.errors import MissingParameter
from trigflow.service.common import page_of


@action("CreateProject")
def create_project(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    if "Project" not in p:
        raise MissingParameter("The request is missing a required parameter Project")
    row = ctx.services.catalog.create_project(ctx.caller, p["Project"])
    return {"ProjectId": row["project_id"]}


@action("GetProject")
def get_project(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return shapes.project(ctx.services.catalog.get_project(p["ProjectId"]))


@action("ListProjects")
def list_projects(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"))
    rows, total = ctx.services.catalog.list_projects(p, pg)
    return shapes.page([shapes.project(r) for r in rows], total, pg.number, pg.size)


@action("UpdateProject")
def update_project(ctx: RequestContext, p: dict[str, Any]) -> None:
    ctx.services.projects.update(p)  # the response has no Data, only a RequestId


@action("DeleteProject")
def delete_project(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.projects.delete(p["ProjectId"])
    return {"Status": True}


@action("EnableProject")
def enable_project(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.projects.set_status(p["ProjectId"], enabled=True)
    return {"Status": True}


@action("DisableProject")
def disable_project(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.projects.set_status(p["ProjectId"], enabled=False)
    return {"Status": True}


@action("ListProjectMembers")
def list_project_members(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"))
    project, members, total, root = ctx.services.projects.members(p["ProjectId"], p, pg)
    app_id, lang = ctx.services.settings.app_id, ctx.language
    items = [catalog_shapes.project_member(m, project, app_id=app_id, root=root, language=lang) for m in members]
    return shapes.page(items, total, pg.number, pg.size)
