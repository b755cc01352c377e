"""Workflow definition actions, and the ops view of workflows (GetOpsTriggerWorkflow, ListOpsTriggerWorkflows)."""

from __future__ import annotations

from typing import Any

from trigflow.api import catalog_shapes, shapes
from trigflow.api.context import RequestContext
from trigflow.api.registry import action
from trigflow.service.common import page_of


@action("CreateTriggerWorkflow")
def create_trigger_workflow(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"WorkflowId": ctx.services.catalog.create_workflow(ctx.caller, p)}


@action("GetTriggerWorkflow")
def get_trigger_workflow(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return shapes.workflow_detail(ctx.services.catalog.get_workflow(p["ProjectId"], p["WorkflowId"]))


@action("ListTriggerWorkflows")
def list_trigger_workflows(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    # Design lists clamp PageSize up to 10 (api-notes Q6).
    pg = page_of(p.get("PageNumber"), p.get("PageSize"), minimum=10)
    rows, total = ctx.services.catalog.list_workflows(p, pg)
    return shapes.page([shapes.workflow_info(r) for r in rows], total, pg.number, pg.size)


@action("UpdateTriggerWorkflow")
def update_trigger_workflow(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.catalog.update_workflow(ctx.caller, p)
    return {"Status": True}


@action("UpdateTriggerWorkflowPartially")
def update_trigger_workflow_partially(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.catalog.update_workflow_partially(ctx.caller, p)
    return {"Status": True}


@action("DeleteTriggerWorkflow")
def delete_trigger_workflow(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.services.catalog.delete_workflow(p["ProjectId"], p["WorkflowId"])
    return {"Status": True}


@action("GetOpsTriggerWorkflow")
def get_ops_trigger_workflow(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    dag = ctx.services.workflow_ops.dag(p["ProjectId"], p["WorkflowId"], p.get("WorkflowExecutionId") or None)
    return catalog_shapes.dag(dag)


@action("ListOpsTriggerWorkflows")
def list_ops_trigger_workflows(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    # Ops lists: defaults 1/10, no minimum, at most 200 (api-notes Q5).
    pg = page_of(p.get("PageNumber"), p.get("PageSize"))
    rows, total = ctx.services.workflow_ops.list_workflows(
        p["ProjectId"], p.get("Filters") or [], p.get("OrderFields") or [], pg
    )
    return shapes.page([catalog_shapes.ops_workflow(r) for r in rows], total, pg.number, pg.size)
