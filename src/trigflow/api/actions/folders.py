"""Folder actions: workflow folders of a project and task folders of a workflow (service/folders.py)."""

from __future__ import annotations

from typing import Any

from trigflow.api import catalog_shapes, shapes
from trigflow.api.context import RequestContext
from trigflow.api.registry import action
from trigflow.service.common import page_of


@action("CreateWorkflowFolder")
def create_workflow_folder(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"FolderId": ctx.services.folders.create_workflow_folder(ctx.caller, p)}


@action("ListWorkflowFolders")
def list_workflow_folders(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    # The SDK documents a minimum page size of 10 here, as for the design lists (api-notes Q6: clamp up).
    pg = page_of(p.get("PageNumber"), p.get("PageSize"), minimum=10)
    rows, total = ctx.services.folders.list_workflow_folders(p, pg)
    return shapes.page([catalog_shapes.workflow_folder(r) for r in rows], total, pg.number, pg.size)


@action("CreateTaskFolder")
def create_task_folder(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"TaskFolderId": ctx.services.folders.create_task_folder(ctx.caller, p)}


@action("ListTaskFolders")
def list_task_folders(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"), minimum=10)
    rows, total = ctx.services.folders.list_task_folders(p, pg)
    return shapes.page([catalog_shapes.task_folder(r) for r in rows], total, pg.number, pg.size)
