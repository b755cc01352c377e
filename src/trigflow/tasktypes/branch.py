"""Branch node (130, 分支): conditions over parameter values choose which direct downstream tasks run; the
others end SKIP (docs/branch.md). It runs no process and takes no resource-group slot.

Where each part runs:

* save (Create/UpdateTriggerTask): `validate` compiles `branchConditions` when present. A branch node may be
  saved without it, because its targets are its downstream tasks, which usually do not exist yet;
* submit: `check_submit` requires it and checks every `taskId` against the task's direct downstream tasks in
  the workflow's submitted DAG (what a run freezes);
* run creation: `freeze` keeps the text as submitted;
* engine load: `targets(spec)` is the node's `Node.branch` (its gated targets);
* when `RunGraph.ready()` offers it: `conditions(spec)` for the engine to resolve values and `decide`
  (service/branch_decisions.py), then `RunGraph.decide_branch`.

Runs show it as TaskType `BRANCH` with TaskTypeId 130: WeData's run-side label of a branch node is not
published (merge nodes show `Dependent` / 0 in the seed, Q-TR2; nothing is known for 130), so trigflow keeps
the design label. The chosen targets are written into the task run's TaskTypeExtensions under
`branchChosenTaskIds` (a JSON array, in branchConditions order) when the node decides.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from trigflow.domain.branch import (
    BRANCH_CONDITIONS_KEY,
    BranchCondition,
    BranchEvaluationError,
    check_targets,
    parse_branch_conditions,
)
from trigflow.domain.branch import targets as condition_targets
from trigflow.domain.errors import ApiError, InvalidParameterValue
from trigflow.tasktypes.base import Labels, Paths, Runtime, TaskType

KIND = "BRANCH"
SPEC_KEY = "branch_conditions"  # the frozen branchConditions text in the task run's spec
CHOSEN_KEY = "branchChosenTaskIds"  # TaskTypeExtensions: JSON array of the targets that ran


class BranchNode(TaskType):
    runtime = Runtime.BRANCH

    def validate(
        self, config: Mapping[str, Any], ext: Mapping[str, Any], paths: Paths, explicit: Sequence[str]
    ) -> list[str]:
        text = ext.get(BRANCH_CONDITIONS_KEY)
        if text not in (None, ""):  # absent until the targets exist (checked at submit)
            parse_branch_conditions(text, f"{paths.ext}.{BRANCH_CONDITIONS_KEY}")
        return []

    def check_submit(self, ext: Mapping[str, Any], downstream: Collection[str], path: str) -> None:
        field = f"{path}.{BRANCH_CONDITIONS_KEY}"
        text = ext.get(BRANCH_CONDITIONS_KEY)
        if text in (None, ""):
            raise InvalidParameterValue(
                f"{field} is required to submit a branch node: a JSON array such as "
                """[{"condition": "${flag} == 'a'", "taskId": "<a direct downstream task>"}]"""
            )
        check_targets(parse_branch_conditions(text, field), downstream, field)

    def freeze(self, code: str, ext: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"kind": self.kind, "code": code, SPEC_KEY: ext.get(BRANCH_CONDITIONS_KEY)}

    def extensions(self, common: dict[str, str], ext: Mapping[str, Any]) -> dict[str, str]:
        return {k: v for k, v in common.items() if k != "brokerIp"}  # runs nowhere, like a merge node

    def conditions(self, spec: Mapping[str, Any]) -> list[BranchCondition]:
        """The frozen conditions; BranchEvaluationError when there are none or they no longer parse (frozen by
        an older server with other rules), so the node fails instead of guessing a path."""
        text = spec.get(SPEC_KEY)
        if not text:
            raise BranchEvaluationError("branchConditions: the submitted version of this branch node has none")
        try:
            return parse_branch_conditions(text, BRANCH_CONDITIONS_KEY)
        except ApiError as e:
            raise BranchEvaluationError(e.message) from None

    def targets(self, spec: Mapping[str, Any]) -> frozenset[str]:
        """`Node.branch`: the task ids the conditions name (empty when they cannot be read: deciding fails)."""
        try:
            return condition_targets(self.conditions(spec))
        except BranchEvaluationError:
            return frozenset()

    @staticmethod
    def chosen_extensions(extensions_text: str, conditions: Sequence[BranchCondition], chosen: Collection[str]) -> str:
        """The task run's TaskTypeExtensions text with the chosen targets added (`CHOSEN_KEY`)."""
        ext = json.loads(extensions_text or "{}")
        picked = [c.task_id for c in conditions if c.task_id in chosen]
        ext[CHOSEN_KEY] = json.dumps(picked, separators=(",", ":"))
        return json.dumps(ext, ensure_ascii=False, separators=(",", ":"))


BRANCH = BranchNode(Labels(130, design=KIND, desc="分支", category="GENERAL"), KIND)
