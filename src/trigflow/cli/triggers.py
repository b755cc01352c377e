"""`trigflow triggers next WORKFLOW_ID`: upcoming fires, read through the API (GetTriggerWorkflow) and
computed here with the scheduler's own pure code, so it works from any machine with a key."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from trigflow.cli.clientbase import OK, add_client_flags, as_dict, client_command, emit_json, positive_int


def cmd_next(api: Any, args: argparse.Namespace) -> int:
    from trigflow.client.upcoming import upcoming

    resp = api.call("GetTriggerWorkflow", {"ProjectId": api.project_id, "WorkflowId": args.workflow_id})
    data = as_dict(resp)["Data"] or {}
    configs = data.get("TriggerWorkflowSchedulerConfigurations") or []
    plans = upcoming(configs, int(time.time() * 1000), args.count, workflow_status=data.get("SchedulerStatus"))
    if args.json:
        emit_json({
            "WorkflowId": args.workflow_id,
            "SchedulerStatus": data.get("SchedulerStatus"),
            "Triggers": [
                {"TriggerId": p.trigger_id, "CrontabExpression": p.cron_expression, "ScheduleTimeZone": p.time_zone,
                 "WillFire": p.active, "FireTimes": [str(ms) for ms in p.fires_ms],
                 "FireTimesLocal": [_iso(ms, p.time_zone) for ms in p.fires_ms]}
                for p in plans
            ],
        })  # fmt: skip
        return OK
    if not plans:
        print(f"workflow {args.workflow_id} has no time trigger")
    for p in plans:
        status = "" if p.active else "  (PAUSED: will not fire)"
        print(f"trigger {p.trigger_id}  {p.cron_expression}  {p.time_zone}{status}")
        for ms in p.fires_ms:
            print("  " + _iso(ms, p.time_zone))
        if not p.fires_ms:
            print("  (no future fire)")
    return OK


def _iso(ms: int, zone: str) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone)).isoformat(sep=" ")


def add_parser(sub: Any) -> None:
    trig = sub.add_parser("triggers", help="inspect triggers, through the API")
    tsub = trig.add_subparsers(dest="triggers_cmd", required=True)
    tn = tsub.add_parser("next", help="the next fire times of a workflow's time triggers, in each trigger's zone")
    tn.add_argument("workflow_id", metavar="WORKFLOW_ID")
    tn.add_argument("--count", type=positive_int, default=5, help="fires per trigger (default 5)")
    add_client_flags(tn)
    tn.set_defaults(func=client_command(cmd_next))
