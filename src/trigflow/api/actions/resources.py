"""Resource-group actions: named pools of execution slots (a self-hosted group's size is its slot count)."""

from __future__ import annotations

from typing import Any

from trigflow.api import shapes
from trigflow.api.context import RequestContext
from trigflow.api.registry import action
from trigflow.service.common import page_of


@action("CreateResourceGroup")
def create_resource_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"Status": True, "ResourceGroupId": ctx.services.resources.create(p)}


@action("UpdateResourceGroup")
def update_resource_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.resources.update(p)
    return {"Status": True}


@action("DeleteResourceGroup")
def delete_resource_group(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.resources.delete(p["Id"])
    return {"Status": True}


@action("ListResourceGroups")
def list_resource_groups(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"))
    rows, total = ctx.services.resources.list_groups(p, pg)
    return shapes.page([shapes.resource_group(r) for r in rows], total, pg.number, pg.size)


@action("GetResourceGroupMetrics")
def get_resource_group_metrics(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    """Capacity, load and trend of one group (service/group_metrics.py, docs/api.md)."""
    metrics = ctx.services.group_metrics
    assert metrics is not None  # built by app.build for every server
    return metrics.get(p)
