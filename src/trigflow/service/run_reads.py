"""Reading workflow runs and task runs: one run with its task runs, pages of runs and task runs, and the
Filters/OrderFields vocabularies of each (actions.md, decisions.md Q-F1..Q-F3).

What a read shows beyond the stored row (docs/api.md, "Run reads"):
* a run's `WorkflowParams` resolved as its tasks saw them (`resolved_run_params`);
* a task run's output parameters inside its `TaskTypeExtensions` (`extensions_with_outputs`), bounded.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.domain.dag import topological_order
from trigflow.domain.errors import InvalidParameter, InvalidParameterValue, ResourceNotFound
from trigflow.domain.params import ExpansionTooLarge, Substitution, baseline_for, legacy_data_names, merge_params
from trigflow.domain.states import RunState
from trigflow.service.common import Page
from trigflow.service.listing import TIME_FILTERS, FilterVocabulary, parse_orders, unknown_name
from trigflow.store import catalog as cq
from trigflow.store import runs as rq
from trigflow.store.criteria import Criterion
from trigflow.store.engine import Database
from trigflow.store.tables import task_runs
from trigflow.tasktypes import spec as run_spec

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
            _resolve_params(conn, [run])
            rows = rq.task_runs_view(conn, run_id)
            return run, _with_outputs(rows, rq.outputs_of_run(conn, run_id))

    def get_task_run(self, project_id: str, exec_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        with self.db.read() as conn:
            tr = rq.get_task_run(conn, exec_id, project_id)
            if tr is None:
                raise ResourceNotFound(f"task run {exec_id} does not exist in project {project_id}")
            run = rq.get_run(conn, tr["run_id"])
            assert run is not None
            _mark_deleted_workflows(conn, [run])
            _resolve_params(conn, [run])
            outputs = rq.outputs_of_run(conn, tr["run_id"]).get(exec_id)
            if outputs is not None:
                tr["extensions"] = extensions_with_outputs(tr["extensions"], outputs)
            return tr, run

    def list_runs(
        self, project_id: str, filters: Sequence[Mapping[str, Any]], orders: Sequence[Mapping[str, Any]], page: Page
    ) -> tuple[list[dict[str, Any]], int]:
        criteria = RUN_FILTERS.parse_all(filters)
        return self._page(rq.list_runs, project_id, criteria, orders, page, resolve=True)

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
        *,
        resolve: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        order = parse_orders(orders, ORDER_COLUMNS)  # validated before touching the database
        with self.db.read() as conn:
            if cq.get_project(conn, project_id) is None:
                raise ResourceNotFound(f"project {project_id} does not exist")
            rows, total = query(conn, project_id, criteria, order, page.offset, page.size)
            _mark_deleted_workflows(conn, rows)
            if resolve:
                _resolve_params(conn, rows)
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


# --- the run's parameters as its tasks saw them ------------------------------------------------------------

# What resolving one run's parameters for a read may build at most (the shared budget of domain/params.py).
# Far below an attempt's (16 MiB): a read is answered often, and a run whose parameters expand further shows
# them as defined instead (docs/api.md).
READ_EXPANSION_CHARS = 1 << 20
DEFAULT_TZ = "Asia/Shanghai"  # the zone of runs stored without one (the server's default zone)


def resolved_run_params(
    params_text: str, schedule_ms: int, tz_name: str, data: Collection[str] | None, limit: int = READ_EXPANSION_CHARS
) -> str:
    """A run's WorkflowParams (JSON object text) with every trusted value resolved at its schedule time.

    The substitution is the attempt's own (domain/params.py: baseline = ScheduleTime in the run's zone, data
    values never expanded, unknown `${...}` left as written), so `${yyyyMMdd-1d}` reads as the tasks saw it.
    `data` is the run's data names (None: a run stored before provenance, read as the attempt reads it).
    Returns `params_text` unchanged when nothing needs resolving or resolving would pass `limit` characters.
    """
    if "${" not in params_text:
        return params_text
    stored = json.loads(params_text)
    names = set(data) if data is not None else legacy_data_names(stored)
    values = merge_params(stored)
    try:
        sub = Substitution(values, baseline_for(schedule_ms, tz_name), data=names, limit=limit)
        resolved = {k: (sub.value_of(k) if k in values else v) for k, v in stored.items()}
    except (ExpansionTooLarge, InvalidParameterValue):  # a bomb, or a zone that no longer resolves
        return params_text
    return json.dumps(resolved, ensure_ascii=False, separators=(",", ":"))


def _resolve_params(conn: sa.Connection, runs: Iterable[dict[str, Any]]) -> None:
    """Replace each run row's `params` by its resolved text; one query for the runs that need it."""
    pending = {r["execution_id"]: r for r in runs if "${" in r["params"]}
    if not pending:
        return
    zones: dict[str, str] = {}
    data: dict[str, set[str]] = {}  # the union: a rerun's AdvancedParams are data in the task runs it made only
    legacy: set[str] = set()  # runs with a task run recorded before provenance
    stmt = sa.select(task_runs.c.run_id, task_runs.c.timezone, task_runs.c.spec[run_spec.RUN_DATA_PARAMS]).where(
        task_runs.c.run_id.in_(list(pending)), task_runs.c.is_latest.is_(True)
    )
    for run_id, zone, names in conn.execute(stmt):
        zones.setdefault(run_id, zone or DEFAULT_TZ)
        data.setdefault(run_id, set()).update(names or ())
        if names is None:
            legacy.add(run_id)
    for run_id, run in pending.items():
        if run_id not in zones:
            continue
        names = data[run_id]
        if run_id in legacy:
            names |= legacy_data_names(json.loads(run["params"]))
        run["params"] = resolved_run_params(run["params"], run["schedule_ms"], zones[run_id], names)


# --- output parameters of a task run ----------------------------------------------------------------------

OUTPUTS_KEY = "taskOutputs"  # TaskTypeExtensions key: JSON object text {name: value}
OUTPUTS_CUT_KEY = "taskOutputsTruncated"  # JSON object text {name: full length} of the values cut short
OUTPUT_VALUE_CHARS = 4096  # at most this much of each value
OUTPUT_TOTAL_CHARS = 16384  # and of all values of one task run together (a 1,000-task run stays readable)


def bounded_outputs(
    outputs: Mapping[str, str], per_value: int = OUTPUT_VALUE_CHARS, total: int = OUTPUT_TOTAL_CHARS
) -> tuple[dict[str, str], dict[str, int]]:
    """The output values a response carries: each cut to `per_value`, all to `total` characters (in name
    order), and the full length of each value that was cut. The full values stay with the engine, which
    passes them to downstream inputs unchanged."""
    shown: dict[str, str] = {}
    cut: dict[str, int] = {}
    left = total
    for name in sorted(outputs):
        value = outputs[name]
        keep = min(len(value), per_value, left)
        shown[name] = value[:keep]
        left -= keep
        if keep < len(value):
            cut[name] = len(value)
    return shown, cut


def extensions_with_outputs(extensions_text: str, outputs_text: str) -> str:
    """TaskTypeExtensions with the task run's output parameters added as `taskOutputs` (and
    `taskOutputsTruncated` when a value was cut), each a JSON text like the other values there."""
    ext = json.loads(extensions_text)
    shown, cut = bounded_outputs(json.loads(outputs_text))
    ext[OUTPUTS_KEY] = json.dumps(shown, ensure_ascii=False, separators=(",", ":"))
    if cut:
        ext[OUTPUTS_CUT_KEY] = json.dumps(cut, separators=(",", ":"))
    return json.dumps(ext, ensure_ascii=False, separators=(",", ":"))


def _with_outputs(rows: Sequence[Row], outputs: Mapping[str, str]) -> Sequence[Row]:
    """Rows of task runs that produced outputs get them in `extensions`; the rest stay as read (no copy)."""
    if not outputs:
        return rows
    out: list[Row] = []
    for r in rows:
        text = outputs.get(r["execution_id"])
        out.append(r if text is None else {**r, "extensions": extensions_with_outputs(r["extensions"], text)})
    return out


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
