"""Task definition actions: create, read, edit, delete, versions, dependencies, and the ops owner change."""

from __future__ import annotations

from typing import Any

from trigflow.api import shapes, task_shapes
from trigflow.api.context import RequestContext
from trigflow.api.registry import action
from trigflow.service.common import page_of


@action("CreateTriggerTask")
def create_trigger_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"TaskId": ctx.services.tasks.create_task(ctx.caller, p)}


@action("SubmitTriggerTask")
def submit_trigger_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    version_id = ctx.services.tasks.submit_task(ctx.caller, p["ProjectId"], p["TaskId"], p["VersionRemark"])
    return {"VersionId": version_id, "Status": True}


@action("GetTriggerTask")
def get_trigger_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    task, group_name = ctx.services.tasks.get_task(p["ProjectId"], p["TaskId"])
    return task_shapes.trigger_task(task, group_name)


@action("GetTriggerTaskCode")
def get_trigger_task_code(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    task, _ = ctx.services.tasks.get_task(p["ProjectId"], p["TaskId"])
    return task_shapes.task_code(task)


@action("GetTriggerTaskVersion")
def get_trigger_task_version(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    task, version, group_name = ctx.services.tasks.get_version(p["ProjectId"], p["TaskId"], p.get("VersionId"))
    return task_shapes.version_detail(task, version, group_name)


@action("ListTriggerTaskVersions")
def list_trigger_task_versions(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"), minimum=10)  # design list: clamp up to 10 (Q6)
    rows, total, task = ctx.services.tasks.list_versions(p["ProjectId"], p["TaskId"], p.get("TaskVersionType"), pg)
    items = [task_shapes.version_item(v, task["submitted_version_id"]) for v in rows]
    return task_shapes.versions_page(items, total, pg.number, pg.size)


@action("UpdateTriggerTask")
def update_trigger_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.tasks.update_task(ctx.caller, p)
    return {"Status": True}


@action("UpdateTriggerTaskPartially")
def update_trigger_task_partially(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.tasks.update_task_partially(ctx.caller, p)
    return {"Status": True}


@action("DeleteTriggerTask")
def delete_trigger_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    # OperateInform (notify downstream owners) has nobody to notify: a task with dependants is refused.
    ctx.services.tasks.delete_task(p["ProjectId"], p["TaskId"])
    return {"Status": True}


@action("ListTriggerTasks")
def list_trigger_tasks(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"), minimum=10)  # design list: clamp up to 10 (Q6)
    rows, total = ctx.services.tasks.list_tasks(p, pg)
    return shapes.page([task_shapes.base_attribute(r) for r in rows], total, pg.number, pg.size)


def _dependencies(ctx: RequestContext, p: dict[str, Any], *, upstream: bool) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"))  # ops-style list: no minimum (api-notes Q5)
    rows, total = ctx.services.tasks.neighbours(p["ProjectId"], p["TaskId"], upstream=upstream, page=pg)
    return shapes.page([task_shapes.depend_item(r) for r in rows], total, pg.number, pg.size)


@action("ListUpstreamTriggerTasks")
def list_upstream_trigger_tasks(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return _dependencies(ctx, p, upstream=True)


@action("ListDownstreamTriggerTasks")
def list_downstream_trigger_tasks(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return _dependencies(ctx, p, upstream=False)


@action("UpdateOpsTriggerTasksOwner")
def update_ops_trigger_tasks_owner(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return ctx.services.tasks.update_owners(ctx.caller, p)
