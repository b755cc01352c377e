"""Run actions: start, read, list and kill workflow runs and task runs."""

from __future__ import annotations

from typing import Any

from trigflow.api import shapes
from trigflow.api.context import RequestContext
from trigflow.api.registry import action
from trigflow.service.common import page_of
from trigflow.service.run_reads import filter_task_runs, order_task_runs


@action("CreateTriggerWorkflowRun")
def create_trigger_workflow_run(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    run_id = ctx.services.runs.create_manual_run(ctx.caller, p)
    ctx.services.scheduler.run_created(run_id)
    return {"WorkflowExecutionId": run_id}


@action("GetTriggerWorkflowRun")
def get_trigger_workflow_run(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    svc = ctx.services
    run, task_runs = svc.runs.get_run(p["ProjectId"], p["WorkflowExecutionId"])
    biz = shapes.biz_states(task_runs, ctx.language)  # before Filters: the strip counts the whole run (Q-B1)
    rows = order_task_runs(filter_task_runs(task_runs, p.get("Filters") or []), p.get("OrderFields") or [])
    return {
        "TriggerWorkflowRun": shapes.run_brief(run, svc.clock(), svc.settings.app_id),
        "TriggerTaskRuns": shapes.task_run_briefs(rows),
        "BizStateEnumInfos": biz,
    }


@action("ListTriggerWorkflowRuns")
def list_trigger_workflow_runs(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    svc = ctx.services
    pg = page_of(p.get("PageNumber"), p.get("PageSize"))
    rows, total = svc.runs.list_runs(p["ProjectId"], p.get("Filters") or [], p.get("OrderFields") or [], pg)
    now = svc.clock()
    items = [shapes.run_brief(r, now, svc.settings.app_id) for r in rows]
    return shapes.page(items, total, pg.number, pg.size)


@action("GetTriggerTaskRun")
def get_trigger_task_run(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    tr, run = ctx.services.runs.get_task_run(p["ProjectId"], p["TaskExecutionId"])
    return shapes.task_run_detail(tr, run)


@action("ListTriggerTaskRuns")
def list_trigger_task_runs(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    pg = page_of(p.get("PageNumber"), p.get("PageSize"))
    rows, total = ctx.services.runs.list_task_runs(
        p["ProjectId"], p.get("Filters") or [], p.get("OrderFields") or [], pg
    )
    return shapes.page([shapes.list_task_run_brief(r) for r in rows], total, pg.number, pg.size)


@action("KillTriggerWorkflowRuns")
def kill_trigger_workflow_runs(ctx: RequestContext, p: dict[str, Any]) -> list[dict[str, Any]]:
    svc = ctx.services
    # One item per distinct run, in the order the client listed them (a repeated ID used to yield a
    # second "already KILLED" item, and unknown IDs were moved to the end).
    wanted = list(dict.fromkeys(p.get("WorkflowExecutionIdList") or []))
    wf, runs, missing = svc.runs.runs_to_kill(p["ProjectId"], p["WorkflowId"], {**p, "WorkflowExecutionIdList": wanted})
    results = svc.scheduler.kill([r["execution_id"] for r in runs]) if runs else []
    items: dict[str, dict[str, Any]] = {
        r.run_id: {
            "ItemId": r.run_id,
            "ItemName": wf["name"],
            "ExecutionActionId": ctx.request_id,
            "ErrorMessage": r.message,
            "OpStatus": r.ok,
        }
        for r in results
    }
    for m in missing:
        items[m] = {
            "ItemId": m,
            "ItemName": wf["name"],
            "ExecutionActionId": ctx.request_id,
            "ErrorMessage": f"workflow run {m} does not exist in workflow {wf['workflow_id']}",
            "OpStatus": False,
        }
    order = wanted or [r["execution_id"] for r in runs]
    return [items[i] for i in order if i in items]


@action("RerunTriggerWorkflowRunAsync")
def rerun_trigger_workflow_run_async(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    async_id, run_id = ctx.services.reruns.rerun(ctx.caller, p)
    if run_id is not None:
        ctx.services.scheduler.run_created(run_id)
    return {"AsyncId": async_id}


@action("GetOpsAsyncJob")
def get_ops_async_job(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return shapes.async_job(ctx.services.reruns.job(p["ProjectId"], p["AsyncId"]))
