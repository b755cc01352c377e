"""For-each (137): the node runs its loop body, the workflow `workflowId`, once per element of `loopDataArray`,
as child runs, at most `loopConcurrency` at once, and ends as `loopFailurePolicy` says (docs/task-types.md).

Wire keys (TaskExtConfigurationList; WeData's are not published, ANCHORS §2.1, so these follow the issue and
DataWorks' for-each): `workflowId`, `loopDataArray` (a JSON array, or one `${name}` reference resolved when the
node starts, e.g. to an upstream's `$[*][0]` output), `maxLoopTimes` (1..1000, default 128, WeData's limit),
`loopConcurrency` (1..100, default 1 = serial, as WeData and DataWorks run), `loopFailurePolicy` (`STOP`
default, `CONTINUE`). Each iteration's child run gets `dag.foreach.current`, `dag.offset`, `dag.loopTimes`
(and identifier twins `dag_foreach_current`, `dag_offset`, `dag_loopTimes`, so `TRIGFLOW_PARAM_*` carries
them too) as data parameters.

Runs show it as `FOR_EACH` with TaskTypeId 137: only the merge and nested-workflow nodes were ever seen with
TaskTypeId 0 (enums.md §2 note), nothing is known of 137, so the design label stays (as for the branch node).

The checks that need the store (the body exists in the project, nesting stays acyclic, so a loop never runs
its own workflow, and at most 5 deep) run in service/tasks.py for every child-run type; the engine's part is
service/loops.py, the window and policy domain/loops.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.loops import REFERENCE_RE, Policy, parse_array
from trigflow.tasktypes.base import ChildRunTask, Labels, Paths

KIND = "FOR_EACH"
SPEC_KEY = "loop"  # the frozen settings in the task run's spec

WORKFLOW_ID = "workflowId"
DATA_ARRAY = "loopDataArray"
MAX_TIMES = "maxLoopTimes"
CONCURRENCY = "loopConcurrency"
POLICY = "loopFailurePolicy"

DEFAULT_MAX_TIMES = 128  # WeData: at most 128 loops (ANCHORS §2.1)
MAX_TIMES_LIMIT = 1000  # = the default nested-run quota of one top-level run (docs/limits.md)
DEFAULT_CONCURRENCY = 1
CONCURRENCY_LIMIT = 100

# The iteration parameters of each child run (DataWorks' names), and their identifier twins.
CURRENT = "dag.foreach.current"
OFFSET = "dag.offset"
LOOP_TIMES = "dag.loopTimes"
TWINS = {CURRENT: "dag_foreach_current", OFFSET: "dag_offset", LOOP_TIMES: "dag_loopTimes"}


@dataclass(frozen=True, slots=True)
class LoopSettings:
    data_array: str
    max_times: int
    concurrency: int
    policy: Policy

    def to_spec(self) -> dict[str, Any]:
        return {"data_array": self.data_array, "max_times": self.max_times, "concurrency": self.concurrency,
                "policy": self.policy.value}  # fmt: skip


def iteration_params(element: str, offset: int, total: int) -> dict[str, str]:
    """The parameters one iteration's child run adds over its parent's (all of them data)."""
    values = {CURRENT: element, OFFSET: str(offset), LOOP_TIMES: str(total)}
    return values | {TWINS[k]: v for k, v in values.items()}


def _bounded(ext: Mapping[str, Any], key: str, default: int, limit: int, paths: Paths) -> int:
    raw = ext.get(key)
    if raw in (None, ""):
        return default
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= limit:
        raise InvalidParameterValue(f"{paths.ext}.{key} must be a whole number from 1 to {limit}, got {str(raw)!r}")
    return int(text)


def parse_settings(ext: Mapping[str, Any], paths: Paths) -> LoopSettings:
    """The loop settings of TaskExtConfigurationList; InvalidParameterValue naming the key."""
    max_times = _bounded(ext, MAX_TIMES, DEFAULT_MAX_TIMES, MAX_TIMES_LIMIT, paths)
    concurrency = _bounded(ext, CONCURRENCY, DEFAULT_CONCURRENCY, CONCURRENCY_LIMIT, paths)
    raw_policy = ext.get(POLICY)
    if raw_policy in (None, ""):
        policy = Policy.STOP
    elif raw_policy in (Policy.STOP.value, Policy.CONTINUE.value):
        policy = Policy(raw_policy)
    else:
        raise InvalidParameterValue(f"{paths.ext}.{POLICY} must be STOP or CONTINUE, got {str(raw_policy)!r}")
    data = ext.get(DATA_ARRAY)
    field = f"{paths.ext}.{DATA_ARRAY}"
    if not isinstance(data, str) or not data.strip():
        raise InvalidParameterValue(
            f'{field} is required: a JSON array such as ["a", "b"], or a parameter reference such as ${{rows}}'
        )
    if REFERENCE_RE.match(data) is None:
        if "${" in data:
            raise InvalidParameterValue(
                f"{field} must be a JSON array or exactly one parameter reference such as ${{rows}}; a reference "
                "inside an array is not substituted"
            )
        try:
            elements = parse_array(data)
        except ValueError as e:
            raise InvalidParameterValue(f"{field} {e}; write a JSON array or a reference such as ${{rows}}") from None
        if len(elements) > max_times:
            raise InvalidParameterValue(
                f"{field} has {len(elements)} elements, more than {paths.ext}.{MAX_TIMES} {max_times}"
            )
    return LoopSettings(data, max_times, concurrency, policy)


def settings_of(spec: Mapping[str, Any]) -> LoopSettings:
    """The settings a task run froze (checked at save; a spec without them runs nothing and fails)."""
    frozen = spec.get(SPEC_KEY)
    if not isinstance(frozen, Mapping):
        raise ValueError("the task run froze no loop settings")
    return LoopSettings(str(frozen["data_array"]), int(frozen["max_times"]), int(frozen["concurrency"]),
                        Policy(frozen["policy"]))  # fmt: skip


class ForEachNode(ChildRunTask):
    def validate(
        self, config: Mapping[str, Any], ext: Mapping[str, Any], paths: Paths, explicit: Sequence[str]
    ) -> list[str]:
        target = ext.get(WORKFLOW_ID)
        if not isinstance(target, str) or not target.strip():
            raise InvalidParameterValue(
                f"{paths.ext}.{WORKFLOW_ID} must name the workflow each iteration runs (For-each, TaskTypeId 137)"
            )
        parse_settings(ext, paths)
        return []

    def freeze(self, code: str, ext: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"kind": self.kind, "code": code, "workflow_id": ext.get(WORKFLOW_ID),
                SPEC_KEY: parse_settings(ext, Paths()).to_spec()}  # fmt: skip

    def extensions(self, common: dict[str, str], ext: Mapping[str, Any]) -> dict[str, str]:
        return {k: v for k, v in common.items() if k != "brokerIp"}  # runs nowhere, like a merge node

    @staticmethod
    def progress_extensions(base: Mapping[str, str], progress: Mapping[str, str]) -> str:
        """The task run's TaskTypeExtensions text: its frozen keys plus the loop's progress keys."""
        return json.dumps({**base, **progress}, ensure_ascii=False, separators=(",", ":"))


FOR_EACH = ForEachNode(Labels(137, design=KIND, desc="For-each", category="GENERAL"), KIND)
