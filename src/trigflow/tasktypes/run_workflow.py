"""Run Workflow (140; runs show it as `RunWorkflow` with TaskTypeId 0): the node starts a child run of the
workflow `TaskExtConfigurationList.workflowId` names and ends as it ends (decisions.md Q-N1..Q-N3).

The checks that need the store (the workflow exists, nesting stays acyclic and at most 5 deep) run in
service/tasks.py for every child-run type; the engine's handling is in engine/execution.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trigflow.tasktypes.base import ChildRunTask, Labels

KIND = "RUN_WORKFLOW"


class RunWorkflowNode(ChildRunTask):
    def freeze(self, code: str, ext: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"kind": self.kind, "code": code, "workflow_id": ext.get("workflowId")}

    def extensions(self, common: dict[str, str], ext: Mapping[str, Any]) -> dict[str, str]:
        return {"workflowId": str(ext.get("workflowId", ""))}  # the seed's node shows exactly this


# enums.md §2: no TaskTypeDesc is documented for it; "Run Workflow" is the type list's name.
RUN_WORKFLOW = RunWorkflowNode(
    Labels(140, design=KIND, desc="Run Workflow", category="GENERAL", run_type="RunWorkflow", run_type_id=0), KIND
)
