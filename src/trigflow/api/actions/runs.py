"""Run actions: start, read, list and kill workflow runs and task runs."""

from __future__ import annotations

from typing import Any

from trigflow.api import shapes
from trigflow.api.context import RequestContext
from trigflow.api.registry import action
from trigflow.domain.dag import topological_order
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.states import TASK_TERMINAL
from trigflow.service.common import page_of


@action("CreateTriggerWorkflowRun")
def create_trigger_workflow_run(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    run_id = ctx.services.runs.create_manual_run(ctx.caller, p)
    ctx.services.scheduler.run_created(run_id)
    return {"WorkflowExecutionId": run_id}


TASK_RUN_FILTERS = ("Keyword", "TaskId", "ExecutionId", "ExecutionState", "TaskTypeId")
TASK_RUN_ORDERS = {
    "CreateTime": "create_ms",
    "ExecutionStartTime": "start_ms",
    "ExecutionEndTime": "end_ms",
    "TaskName": "task_name",
}


@action("GetTriggerWorkflowRun")
def get_trigger_workflow_run(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    svc = ctx.services
    run, task_runs = svc.runs.get_run(p["ProjectId"], p["WorkflowExecutionId"])
    biz = shapes.biz_states(task_runs, ctx.language)  # before Filters: the strip counts the whole run (Q-B1)
    rows = _filter_task_runs(task_runs, p.get("Filters") or [])
    rows = _order_task_runs(rows, p.get("OrderFields") or [])
    return {
        "TriggerWorkflowRun": shapes.run_brief(run, svc.clock(), svc.settings.app_id),
        "TriggerTaskRuns": [shapes.task_run_brief(r, run, detail=False) for r in rows],
        "BizStateEnumInfos": biz,
    }


def _filter_task_runs(rows: list[dict[str, Any]], filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decisions.md Q-F2 vocabulary; values of one filter are OR-ed, filters AND-ed."""
    from trigflow.service.runs import _unknown

    for i, f in enumerate(filters):
        name = f.get("Name")
        if name not in TASK_RUN_FILTERS:
            raise _unknown("filter", name, TASK_RUN_FILTERS, f"Filters.{i}.Name")
        vals = [str(v) for v in f.get("Values") or []]
        if not vals:
            raise InvalidParameterValue(f"Filters.{i}.Values must hold at least one value for filter {name!r}")
        if name == "Keyword":
            rows = [r for r in rows if any(v.lower() in r["task_name"].lower() or v == r["task_id"] for v in vals)]
        else:
            col = {
                "TaskId": "task_id",
                "ExecutionId": "execution_id",
                "ExecutionState": "state",
                "TaskTypeId": "task_type_id",
            }[name]
            rows = [r for r in rows if str(r[col]) in vals]
    return rows


def _order_task_runs(rows: list[dict[str, Any]], orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from trigflow.service.runs import _unknown

    if not orders:  # default: DAG topological order, then TaskId (Q-F2)
        upstream = {r["task_id"]: list(r["depend_on"]) for r in rows}
        rank = {t: i for i, t in enumerate(topological_order(upstream))}
        return sorted(rows, key=lambda r: (rank.get(r["task_id"], 0), r["task_id"]))
    for i, o in reversed(list(enumerate(orders))):
        name = o.get("Name")
        if name not in TASK_RUN_ORDERS:
            raise _unknown("order field", name, list(TASK_RUN_ORDERS), f"OrderFields.{i}.Name")
        direction = str(o.get("Direction") or "DESC").upper()
        if direction not in ("ASC", "DESC"):
            raise InvalidParameterValue(f"OrderFields.{i}.Direction must be ASC or DESC, got {o.get('Direction')!r}")
        col = TASK_RUN_ORDERS[name]
        present = [r for r in rows if r[col] is not None]
        missing = [r for r in rows if r[col] is None]
        rows = sorted(present, key=lambda r: r[col], reverse=direction == "DESC") + missing
    return rows


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
    return shapes.task_run_brief(tr, run, detail=True)


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


__all__ = ["TASK_TERMINAL"]
