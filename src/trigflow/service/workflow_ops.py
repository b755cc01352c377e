"""The ops (运维) view of workflows: GetOpsTriggerWorkflow's DAG and ListOpsTriggerWorkflows.

Ops shows what is in production, so a workflow's nodes are its *submitted* tasks as submitted (the
snapshot of their submitted version, not unsaved edits), and `TaskCount` counts those. A DAG read with a
WorkflowExecutionId overlays each node with its latest task run in that run (api-notes Q13); nodes the run
did not execute keep null run fields.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trigflow.domain.dag import topological_order
from trigflow.domain.errors import ApiError, ResourceNotFound
from trigflow.domain.schedule import TIME_TRIGGER, compile_trigger
from trigflow.domain.timefmt import ms_str
from trigflow.service.checks import project_row, workflow_row
from trigflow.service.common import Page
from trigflow.service.listing import FilterVocabulary, parse_orders
from trigflow.store import catalog as q
from trigflow.store import runs as rq
from trigflow.store.engine import Database
from trigflow.tasktypes import TASK_TYPES

OPS_WORKFLOW_FILTERS = FilterVocabulary(
    names=("Keyword", "WorkflowId", "FolderId", "InChargeUin"),
    keyword=("name", "workflow_id"),
    columns={"WorkflowId": "workflow_id", "FolderId": "folder_id", "InChargeUin": "owner_uin"},
)
OPS_WORKFLOW_ORDERS = {"TaskCount": "task_count"}
_LINK_NAMESPACE = uuid.UUID("5b0a5f4e-3c1d-4e0f-9a57-7a1c0d7f2b10")


@dataclass(frozen=True)
class Dag:
    """A workflow's production DAG; `task_runs` holds the overlaid run's latest task runs by TaskId."""

    project: dict[str, Any]
    workflow: dict[str, Any]
    nodes: list[dict[str, Any]]  # task_id, name, task_type, task_type_id, owner_uin, policy, upstream
    links: list[dict[str, str]]  # link_id, upstream, downstream
    run: dict[str, Any] | None
    task_runs: dict[str, Mapping[str, Any]]


class WorkflowOps:
    def __init__(self, db: Database, *, default_tz: str) -> None:
        self.db = db
        self.default_tz = default_tz

    def dag(self, project_id: str, workflow_id: str, run_id: str | None) -> Dag:
        with self.db.read() as conn:
            project = project_row(conn, project_id)
            wf = workflow_row(conn, project_id, workflow_id)
            run = None
            task_runs: dict[str, Mapping[str, Any]] = {}
            if run_id:
                run = rq.get_run(conn, run_id, project_id)
                if run is None or run["workflow_id"] != workflow_id:
                    raise ResourceNotFound(
                        f"WorkflowExecutionId: workflow run {run_id} does not exist in workflow {workflow_id}"
                    )
                task_runs = {tr["task_id"]: tr for tr in rq.task_runs_view(conn, run_id)}
            submitted = [t for t in q.tasks_of_workflow(conn, workflow_id) if t["submitted_version_id"]]
            versions = q.get_versions(conn, [t["submitted_version_id"] for t in submitted])
        nodes = {}
        for task in submitted:
            snap = versions[task["submitted_version_id"]]["snapshot"]
            type_id = int(snap["task_type_id"])
            nodes[task["task_id"]] = {
                "task_id": task["task_id"],
                "name": snap["name"],
                "task_type": TASK_TYPES.design_of(type_id),
                "task_type_id": type_id,
                "owner_uin": snap.get("owner_uin"),
                "policy": snap["scheduler"].get("DependencyTriggerPolicy", "ALL_SUCCESS"),
                "upstream": list(snap["upstream"]),
            }
        order = topological_order({t: [u for u in n["upstream"] if u in nodes] for t, n in nodes.items()})
        # Links get stable ids (a name-based UUID of the edge), so two reads of the same DAG agree.
        edges = [(up, down) for down in order for up in nodes[down]["upstream"] if up in nodes]
        links = [
            {
                "link_id": str(uuid.uuid5(_LINK_NAMESPACE, f"{workflow_id}/{up}/{down}")),
                "upstream": up,
                "downstream": down,
            }
            for up, down in edges
        ]
        return Dag(project, wf, [nodes[t] for t in order], links, run, task_runs)

    def list_workflows(
        self, project_id: str, filters: Sequence[Mapping[str, Any]], orders: Sequence[Mapping[str, Any]], page: Page
    ) -> tuple[list[dict[str, Any]], int]:
        """Workflows with `task_count` and `ops_trigger` (their first trigger in the ops format, or None)."""
        criteria = OPS_WORKFLOW_FILTERS.parse_all(filters)
        order = parse_orders(orders, OPS_WORKFLOW_ORDERS)  # validated before touching the database
        with self.db.read() as conn:
            project_row(conn, project_id)
            rows, total = q.list_ops_workflows(conn, project_id, criteria, order, page.offset, page.size)
        for row in rows:
            row["ops_trigger"] = self._ops_trigger(row["trigger_configs"][0]) if row["trigger_configs"] else None
            row["params_json"] = json.dumps(
                {p["ParamKey"]: p.get("ParamValue") for p in row["params"]}, ensure_ascii=False, separators=(",", ":")
            )
        return rows, total

    def _ops_trigger(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """api-notes §1.17: the ops view shows StartTime/EndTime as epoch-ms strings and an IANA time zone."""
        out = dict(config)
        try:
            spec = compile_trigger(config, self.default_tz)
        except ApiError:  # saved before a rule tightened: show it as stored rather than fail the whole list
            return out
        out["StartTime"] = ms_str(spec.start_ms)
        out["EndTime"] = ms_str(spec.end_ms)
        out["ScheduleTimeZone"] = spec.iana_time_zone
        if spec.mode == TIME_TRIGGER and not out.get("CrontabExpression"):
            out["CrontabExpression"] = spec.cron_expression  # the COMMON form's default schedule (Q-TR5)
        return out
