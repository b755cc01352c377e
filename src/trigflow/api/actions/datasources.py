"""Data-source actions (service/datasources.py): connections tasks name in SourceServiceId/TargetServiceId.

Responses show ProdConProperties/DevConProperties with every secret masked (docs/data-sources.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trigflow.api import shapes
from trigflow.api.context import RequestContext
from trigflow.api.registry import action
from trigflow.domain.timefmt import wall_time
from trigflow.service.common import page_of
from trigflow.service.datasources import masked


@action("CreateDataSource")
def create_data_source(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"Status": True, "DataSourceId": ctx.services.datasources.create(ctx.caller, p)}


@action("GetDataSource")
def get_data_source(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return data_source(ctx.services.datasources.get(p["ProjectId"], p["Id"]))


@action("ListDataSources")
def list_data_sources(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"))
    rows, total = ctx.services.datasources.page(p, pg)
    return shapes.page([data_source(r) for r in rows], total, pg.number, pg.size)


@action("UpdateDataSource")
def update_data_source(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.datasources.update(ctx.caller, p)
    return {"Status": True}


@action("DeleteDataSource")
def delete_data_source(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.datasources.delete(p["ProjectId"], p["Id"])
    return {"Status": True}


@action("GetDataSourceRelatedTasks")
def get_data_source_related_tasks(ctx: RequestContext, p: dict[str, Any]) -> list[dict[str, Any]]:
    """One DatasourceRelationTaskInfo for the data source's project; its TaskInfo groups the tasks by
    TaskTypeId (RelateTask.TaskType is the id as text) and is empty when no task names the data source."""
    row, tasks = ctx.services.datasources.related_tasks(p["Id"])
    groups: dict[int, list[dict[str, Any]]] = {}
    for t in tasks:
        groups.setdefault(int(t["task_type_id"]), []).append(t)
    info = [
        {"TaskType": str(type_id), "TaskNum": len(items), "TaskList": [brief_task(t) for t in items]}
        for type_id, items in sorted(groups.items())
    ]
    return [{"ProjectId": row["project_id"], "ProjectName": row["project_name"], "TaskInfo": info}]


def data_source(row: Mapping[str, Any]) -> dict[str, Any]:
    """DataSource, secrets masked."""
    return {
        "ProjectId": row["project_id"],
        "Id": int(row["id"]),
        "Type": row["type"],
        "Name": row["name"],
        "DisplayName": row["display_name"],
        "Description": row["description"],
        "ProjectName": row.get("project_name"),
        "CreateUser": row["create_user"],
        "CreateTime": wall_time(row["create_ms"]),
        "ModifyUser": row["modify_user"],
        "ModifyTime": wall_time(row["update_ms"]),
        "ProdConProperties": masked(row, "prod_properties"),
        "DevConProperties": masked(row, "dev_properties"),
        "Category": row["category"],
    }


def brief_task(t: Mapping[str, Any]) -> dict[str, Any]:
    owners = [u for u in str(t["owner_uin"] or "").split(";") if u]
    return {
        "TaskId": t["task_id"],
        "TaskName": t["name"],
        "CreateTime": wall_time(t["create_ms"]),
        "OwnerUinList": owners,
    }
