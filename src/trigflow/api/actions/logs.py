"""Task-run log actions: GetTaskInstanceLog pages through one attempt's log (docs/api.md)."""

from __future__ import annotations

from typing import Any

from trigflow.api.context import RequestContext
from trigflow.api.registry import action


@action("GetTaskInstanceLog")
def get_task_instance_log(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = ctx.services.task_logs.page(
        p["ProjectId"], p["InstanceKey"], p.get("LifeRoundNum"), p.get("LogLevel"), p.get("NextCursor")
    )
    return {
        "InstanceKey": page.instance_key,
        "ProjectId": page.project_id,
        "CodeContent": page.code,
        "LogInfo": page.text,
        "NextCursor": page.next_cursor,
    }
