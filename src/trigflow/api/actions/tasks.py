"""Task definition actions."""

from __future__ import annotations

from typing import Any

from trigflow.api.context import RequestContext
from trigflow.api.registry import action


@action("CreateTriggerTask")
def create_trigger_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"TaskId": ctx.services.tasks.create_task(ctx.caller, p)}


@action("SubmitTriggerTask")
def submit_trigger_task(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    version_id = ctx.services.tasks.submit_task(ctx.caller, p["ProjectId"], p["TaskId"], p["VersionRemark"])
    return {"VersionId": version_id, "Status": True}
