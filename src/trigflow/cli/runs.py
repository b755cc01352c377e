"""`trigflow runs list|get|kill|rerun|wait`: workflow runs through the API, from any machine."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trigflow.cli.clientbase import (
    API_ERROR,
    OK,
    RUN_TERMINAL,
    TIMED_OUT,
    Failure,
    Patience,
    add_client_flags,
    as_dict,
    client_command,
    emit_json,
    polls,
    positive_float,
    positive_int,
)
from trigflow.client.tables import format_duration, format_time, render_pairs, render_table

MAX_PAGE = 200  # the server's (and WeData's) largest PageSize
ASYNC_DONE = frozenset({"SUCCESS", "FAIL", "PART_SUCCESS"})


def _get_run(api: Any, run_id: str) -> Any:
    return api.call("GetTriggerWorkflowRun", {"ProjectId": api.project_id, "WorkflowExecutionId": run_id})


# --- list -------------------------------------------------------------------------------------------


def cmd_list(api: Any, args: argparse.Namespace) -> int:
    filters = []
    if args.workflow:
        filters.append({"Name": "WorkflowId", "Values": [args.workflow]})
    if args.state:
        filters.append({"Name": "ExecutionState", "Values": [s.strip().upper() for s in args.state.split(",")]})
    items: list[Any] = []
    first: Any = None
    page, size = 1, min(MAX_PAGE, args.limit)  # one size for every page, so PageNumber offsets line up
    while len(items) < args.limit:
        params: dict[str, Any] = {"ProjectId": api.project_id, "PageNumber": page, "PageSize": size}
        if filters:
            params["Filters"] = filters
        resp = api.call("ListTriggerWorkflowRuns", params)
        first = first or resp
        got = list(resp.Data.Items or [])
        items.extend(got)
        if len(got) < size or page * size >= (resp.Data.TotalCount or 0):
            break
        page += 1
    items = items[: args.limit]
    if args.json:
        doc = as_dict(first)
        doc["Data"]["Items"] = [as_dict(i) for i in items]
        emit_json(doc)
        return OK
    if not items:
        print("no runs")
        return OK
    rows = [
        (r.ExecutionId, r.WorkflowName, r.WorkflowId, r.ExecutionState, r.TriggerType, format_time(r.CreateTime),
         format_duration(r.ExecutionStartTime, r.ExecutionEndTime), r.ErrorCodeStr)
        for r in items
    ]  # fmt: skip
    print(render_table(["RUN", "WORKFLOW", "WORKFLOW_ID", "STATE", "TRIGGER", "CREATED", "DURATION", "ERROR"], rows))
    total = first.Data.TotalCount or 0
    if total > len(items):
        print(f"({len(items)} of {total}; --limit N shows more)")
    return OK


# --- get --------------------------------------------------------------------------------------------


def cmd_get(api: Any, args: argparse.Namespace) -> int:
    resp = _get_run(api, args.run_id)
    if args.json:
        emit_json(resp)
        return OK
    print(describe_run(resp.Data))
    return OK


def describe_run(data: Any) -> str:
    run = data.TriggerWorkflowRun
    header = render_pairs([
        ("Run", run.ExecutionId),
        ("Workflow", f"{run.WorkflowName} ({run.WorkflowId})"),
        ("State", run.ExecutionState),
        ("Trigger", run.TriggerType),
        ("Created", format_time(run.CreateTime)),
        ("Started", format_time(run.ExecutionStartTime)),
        ("Ended", format_time(run.ExecutionEndTime)),
        ("Duration", format_duration(run.ExecutionStartTime, run.ExecutionEndTime)),
        ("Reruns", run.RerunTimes),
        ("Error", run.ErrorCodeStr),
        ("Parameters", run.WorkflowParams),
    ])  # fmt: skip
    tasks = list(data.TriggerTaskRuns or [])
    if not tasks:
        return header + "\n\nno task runs"
    rows = [
        (t.ExecutionId, t.TaskName, t.TaskId, t.ExecutionState, t.RetryTimes, format_time(t.ExecutionStartTime),
         format_duration(t.ExecutionStartTime, t.ExecutionEndTime), t.ErrorCodeStr)
        for t in tasks
    ]  # fmt: skip
    table = render_table(["TASK_RUN", "TASK", "TASK_ID", "STATE", "RETRIES", "STARTED", "DURATION", "ERROR"], rows)
    return f"{header}\n\n{table}"


# --- kill -------------------------------------------------------------------------------------------


def cmd_kill(api: Any, args: argparse.Namespace) -> int:
    """Every ID is looked up first (KillTriggerWorkflowRuns takes one WorkflowId), so an unknown ID
    stops the command before anything is killed."""
    by_workflow: dict[str, list[str]] = {}
    for run_id in dict.fromkeys(args.run_ids):
        wf = _get_run(api, run_id).Data.TriggerWorkflowRun.WorkflowId
        by_workflow.setdefault(str(wf), []).append(run_id)
    responses = [
        api.call("KillTriggerWorkflowRuns",
                 {"ProjectId": api.project_id, "WorkflowId": wf, "WorkflowExecutionIdList": ids})
        for wf, ids in by_workflow.items()
    ]  # fmt: skip
    items = [item for resp in responses for item in (resp.Data or [])]
    if args.json:
        print("[" + ",\n".join(r.to_json_string(indent=2) for r in responses) + "]")
    else:
        for item in items:
            print(f"{item.ItemId}  {'kill sent' if item.OpStatus else 'not killed: ' + str(item.ErrorMessage)}")
    refused = [i for i in items if not i.OpStatus]
    if refused and not args.json:
        print(f"FailedOperation: {len(refused)} of {len(items)} runs not killed", file=sys.stderr)
    return API_ERROR if refused else OK


# --- rerun ------------------------------------------------------------------------------------------


def cmd_rerun(api: Any, args: argparse.Namespace) -> int:
    run = _get_run(api, args.run_id).Data.TriggerWorkflowRun
    params: dict[str, Any] = {"ProjectId": api.project_id, "WorkflowId": run.WorkflowId,
                              "WorkflowExecutionId": args.run_id, "ExecuteType": "1"}  # fmt: skip
    if args.tasks:
        params.update(ExecuteType="2", TaskIds=[t.strip() for t in args.tasks.split(",") if t.strip()])
    if args.original_versions:  # the reserved entry; the SDK's request has no field for it (docs/api.md "Reruns")
        params["AdvancedParams"] = [{"ParamKey": "trigflow.rerun.versions", "ParamValue": "original"}]
    started = api.call("RerunTriggerWorkflowRunAsync", params)
    async_id = started.Data.AsyncId
    if args.no_wait:
        if args.json:
            emit_json(started)
        else:
            print(f"AsyncId: {async_id}")
        return OK
    if not args.json:
        print(f"AsyncId: {async_id}", flush=True)
    job, patience = None, Patience()
    patience.answered = True  # the rerun was accepted: ride out a restart from here on
    for _ in polls(args.timeout):
        job = patience.attempt(lambda: api.call("GetOpsAsyncJob", {"ProjectId": api.project_id, "AsyncId": async_id}))
        if job is not None and job.Data.Status in ASYNC_DONE:
            break
    else:
        raise Failure("Timeout", f"async job {async_id} still {job.Data.Status if job else 'unknown'} "
                                 f"after {args.timeout}s", TIMED_OUT)  # fmt: skip
    if args.json:
        emit_json(job)
    status = job.Data.Status
    if status != "SUCCESS":
        raise Failure("FailedOperation", f"rerun of {args.run_id} ended {status}: {job.Data.ErrorDesc or ''}".strip())
    if not args.json:
        print(f"rerun of {args.run_id}: {status} (follow it with `trigflow runs wait {args.run_id}`)")
    return OK


# --- wait -------------------------------------------------------------------------------------------


def cmd_wait(api: Any, args: argparse.Namespace) -> int:
    resp, patience = None, Patience()
    for _ in polls(args.timeout):
        got = patience.attempt(lambda: _get_run(api, args.run_id))
        if got is None:
            continue
        resp = got
        state = resp.Data.TriggerWorkflowRun.ExecutionState
        if state in RUN_TERMINAL:
            if args.json:
                emit_json(resp)
            else:
                print(describe_run(resp.Data))
            return RUN_TERMINAL[state]
    state = resp.Data.TriggerWorkflowRun.ExecutionState if resp else "unknown"
    raise Failure("Timeout", f"run {args.run_id} still {state} after {args.timeout}s", TIMED_OUT)


def add_parser(sub: Any) -> None:
    runs = sub.add_parser("runs", help="workflow runs, through the API")
    rsub = runs.add_subparsers(dest="runs_cmd", required=True)

    ls = rsub.add_parser("list", help="recent runs, newest first")
    ls.add_argument("--workflow", metavar="WORKFLOW_ID", help="only this workflow's runs")
    ls.add_argument("--state", metavar="S[,S...]", help="only runs in these states (QUEUED, RUNNING, SUCCESS, ...)")
    ls.add_argument("--limit", type=positive_int, default=20, help="at most N runs (default 20)")
    ls.set_defaults(func=client_command(cmd_list))

    get = rsub.add_parser("get", help="one run and its task runs")
    get.add_argument("run_id", metavar="RUN_ID")
    get.set_defaults(func=client_command(cmd_get))

    kill = rsub.add_parser("kill", help="kill runs (exit 1 if any was not killed, e.g. already finished)")
    kill.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    kill.set_defaults(func=client_command(cmd_kill))

    rerun = rsub.add_parser("rerun", help="rerun a run in place (all tasks, or --tasks) and wait for the async job")
    rerun.add_argument("run_id", metavar="RUN_ID")
    rerun.add_argument("--tasks", metavar="TASK_ID[,TASK_ID...]", help="rerun only these tasks (ExecuteType 2)")
    rerun.add_argument("--original-versions", action="store_true",
                       help="run the versions the run ran, not the latest submitted ones (the default)")  # fmt: skip
    rerun.add_argument("--no-wait", action="store_true", help="print the AsyncId and return at once")
    rerun.add_argument("--timeout", type=positive_float, default=60.0, help="seconds to wait for the job (60)")
    rerun.set_defaults(func=client_command(cmd_rerun))

    wait = rsub.add_parser("wait", help="wait until a run ends; the exit code tells how (see docs/cli.md)")
    wait.add_argument("run_id", metavar="RUN_ID")
    wait.add_argument("--timeout", type=positive_float, help="give up after S seconds (exit 7); default: no limit")
    wait.set_defaults(func=client_command(cmd_wait))

    for p in (ls, get, kill, rerun, wait):
        add_client_flags(p)
