"""Reading workflow runs and task runs: one run with its task runs, pages of runs and task runs, and the
Filters/OrderFields vocabularies of each (actions.md, decisions.md Q-F1..Q-F3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.domain.dag import topological_order
from trigflow.domain.errors import InvalidParameter, InvalidParameterValue, ResourceNotFound
from trigflow.domain.states import RunState
from trigflow.service.common import Page
from trigflow.service.listing import TIME_FILTERS, FilterVocabulary, parse_orders, unknown_name
from trigflow.store import catalog as cq
from trigflow.store import runs as rq
from trigflow.store.criteria import Criterion
from trigflow.store.engine import Database

Row = Mapping[str, Any]  # a store row, read-only
MANUAL = "Manual"  # TriggerType of manual runs (decisions.md Q-TR2: the spelling seen in real data)


class RunReads:
    db: Database

    def get_run(self, project_id: str, run_id: str) -> tuple[dict[str, Any], Sequence[Row]]:
        with self.db.read() as conn:
            run = rq.get_run(conn, run_id, project_id)
            if run is None:
                raise ResourceNotFound(f"workflow run {run_id} does not exist in project {project_id}")
            _mark_deleted_workflows(conn, [run])
            return run, rq.task_runs_view(conn, run_id)

    def get_task_run(self, project_id: str, exec_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        with self.db.read() as conn:
            tr = rq.get_task_run(conn, exec_id, project_id)
            if tr is None:
                raise ResourceNotFound(f"task run {exec_id} does not exist in project {project_id}")
            run = rq.get_run(conn, tr["run_id"])
            assert run is not None
            _mark_deleted_workflows(conn, [run])
            return tr, run

    def list_runs(
        self, project_id: str, filters: Sequence[Mapping[str, Any]], orders: Sequence[Mapping[str, Any]], page: Page
    ) -> tuple[list[dict[str, Any]], int]:
        criteria = RUN_FILTERS.parse_all(filters)
        return self._page(rq.list_runs, project_id, criteria, orders, page)

    def list_task_runs(
        self, project_id: str, filters: Sequence[Mapping[str, Any]], orders: Sequence[Mapping[str, Any]], page: Page
    ) -> tuple[list[dict[str, Any]], int]:
        criteria = TASK_RUN_FILTERS.parse_all(filters)
        return self._page(rq.list_task_runs, project_id, criteria, orders, page)

    def _page(
        self,
        query: Any,
        project_id: str,
        criteria: list[Criterion],
        orders: Sequence[Mapping[str, Any]],
        page: Page,
    ) -> tuple[list[dict[str, Any]], int]:
        order = parse_orders(orders, ORDER_COLUMNS)  # validated before touching the database
        with self.db.read() as conn:
            if cq.get_project(conn, project_id) is None:
                raise ResourceNotFound(f"project {project_id} does not exist")
            rows, total = query(conn, project_id, criteria, order, page.offset, page.size)
            _mark_deleted_workflows(conn, rows)
            return rows, int(total)

    def runs_to_kill(
        self, project_id: str, workflow_id: str, p: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        """The workflow, the runs a Kill request names, and ids it names that do not exist."""
        with self.db.read() as conn:
            if cq.get_project(conn, project_id) is None:
                raise ResourceNotFound(f"project {project_id} does not exist")
            wf = cq.get_workflow(conn, project_id, workflow_id)
            if wf is None:
                raise ResourceNotFound(f"workflow {workflow_id} does not exist in project {project_id}")
            wanted = p.get("WorkflowExecutionIdList") or []
            if wanted:
                found = {r["execution_id"]: r for r in rq.get_runs(conn, wanted) if r["workflow_id"] == workflow_id}
                return wf, [found[w] for w in wanted if w in found], [w for w in wanted if w not in found]
            if p.get("All"):
                states = [RunState.QUEUED.value, RunState.RUNNING.value]
            elif p.get("Pending"):
                states = [RunState.QUEUED.value]
            else:
                raise InvalidParameter("give WorkflowExecutionIdList, or set All or Pending to true")
            return wf, rq.runs_in_states(conn, states, workflow_id), []


def _mark_deleted_workflows(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Set `workflow_exists` on run rows: runs of a deleted workflow stay readable (api-notes Q10) but
    report AssociatedEntityExist false and cannot be rerun."""
    existing = cq.existing_workflow_ids(conn, {r["workflow_id"] for r in rows})
    for r in rows:
        r["workflow_exists"] = r["workflow_id"] in existing


RUN_FILTERS = FilterVocabulary(
    names=("Keyword", "WorkflowId", "FolderId", "InChargeUin", "ExecuteUserUin", "ExecutionId",
           *TIME_FILTERS, "TriggerType", "ExecutionState"),
    keyword=("workflow_name", "workflow_id"),
    columns={"WorkflowId": "workflow_id", "FolderId": "folder_id", "InChargeUin": "owner_uin",
             "ExecuteUserUin": "execute_user_uin", "ExecutionId": "execution_id", "TriggerType": "trigger_type",
             "ExecutionState": "state"},
    time_column="schedule_ms",
    aliases={"TriggerType": {"ManualTrigger": MANUAL}},  # the documented spelling too (api-notes §1.14)
)  # fmt: skip
TASK_RUN_FILTERS = FilterVocabulary(
    names=("Keyword", "WorkflowId", "FolderId", "InChargeUin", "WorkflowExecutionId", "ExecutionId", "TaskId",
           *TIME_FILTERS, "ExecutionState"),
    keyword=("task_name", "task_id"),
    columns={"WorkflowId": "workflow_id", "FolderId": "folder_id", "InChargeUin": "owner_uin",
             "WorkflowExecutionId": "run_id", "ExecutionId": "execution_id", "TaskId": "task_id",
             "ExecutionState": "state"},
    time_column="schedule_ms",
)  # fmt: skip


ORDER_COLUMNS = {"CreateTime": "create_ms", "EndTime": "end_ms", "ScheduleTime": "schedule_ms"}


# --- GetTriggerWorkflowRun: filters and orders over one run's task runs (decisions.md Q-F2) ---

DETAIL_FILTERS = ("Keyword", "TaskId", "ExecutionId", "ExecutionState", "TaskTypeId")
DETAIL_ORDERS = {
    "CreateTime": "create_ms",
    "ExecutionStartTime": "start_ms",
    "ExecutionEndTime": "end_ms",
    "TaskName": "task_name",
}


def filter_task_runs(rows: Sequence[Row], filters: list[dict[str, Any]]) -> Sequence[Row]:
    """Decisions.md Q-F2 vocabulary; values of one filter are OR-ed, filters AND-ed."""
    for i, f in enumerate(filters):
        name = f.get("Name")
        if name not in DETAIL_FILTERS:
            raise unknown_name("filter", name, DETAIL_FILTERS, f"Filters.{i}.Name")
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


def order_task_runs(rows: Sequence[Row], orders: list[dict[str, Any]]) -> Sequence[Row]:
    if not orders:  # default: DAG topological order, then TaskId (Q-F2)
        upstream = {r["task_id"]: list(r["depend_on"]) for r in rows}
        rank = {t: i for i, t in enumerate(topological_order(upstream))}
        return sorted(rows, key=lambda r: (rank.get(r["task_id"], 0), r["task_id"]))
    for i, o in reversed(list(enumerate(orders))):
        name = o.get("Name")
        if name not in DETAIL_ORDERS:
            raise unknown_name("order field", name, list(DETAIL_ORDERS), f"OrderFields.{i}.Name")
        direction = str(o.get("Direction") or "DESC").upper()
        if direction not in ("ASC", "DESC"):
            raise InvalidParameterValue(f"OrderFields.{i}.Direction must be ASC or DESC, got {o.get('Direction')!r}")
        col = DETAIL_ORDERS[name]
        present = [r for r in rows if r[col] is not None]
        missing = [r for r in rows if r[col] is None]
        rows = sorted(present, key=lambda r: r[col], reverse=direction == "DESC") + missing
    return rows
