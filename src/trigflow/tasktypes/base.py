"""What one task type is, and the one registry of them keyed by TaskTypeId (docs/adr/0004-task-types.md).

Everything trigflow knows about a type lives on its `TaskType`: its labels (the design-side `TaskType`
code, the run-side code and TaskTypeId, `TaskTypeDesc`, the console category), its save-time validation,
what a run freezes of it into the task run's `spec`, and its runtime, which is one of three kinds:

- `ProcessTask`: an attempt is a process the executor starts from a `LaunchSpec` (Shell and Python run
  their interpreter on the sealed code, ADR 0002; other work types run `trigflow run-attempt` on a sealed
  workload document, `RunnerTask`);
- `ControlNode`: no process; the node decides from its upstreams' states (merge);
- `ChildRunTask`: no process; the node starts a child run of another workflow and follows it;
- `Runtime.BRANCH` (tasktypes/branch.py): no process; the node evaluates conditions over parameter values and
  chooses which of its downstream tasks run.

Services ask the registry (`get(type_id)`, `of_spec(spec)`) instead of comparing type names, so a new type
is one module here plus its runner. Resolution costs one dict lookup and is done once per task run, when
the engine loads it, never per event.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from trigflow.domain.datasources import SourceUse
from trigflow.domain.states import TaskEvent, TaskState


class Runtime(StrEnum):
    PROCESS = "process"  # a Workload the executor runs
    CONTROL = "control"  # a decision from upstream states
    CHILD_RUN = "child_run"  # a run of another workflow
    BRANCH = "branch"  # a decision from parameter values, choosing which downstream tasks run (tasktypes/branch.py)


@dataclass(frozen=True, slots=True)
class Labels:
    """How a type is named on the wire (enums.md §2).

    `design` is the `TaskType` of definitions (ListTriggerTasks, workflow task lists) and `run_type` /
    `run_type_id` what task runs report: the design id with the upper-case code, except control nodes,
    which runs show as `Dependent` / `RunWorkflow` with TaskTypeId 0 (decisions.md Q-TR2, the seed).
    `desc` is TriggerTaskDependDto.TaskTypeDesc; `category` the ListTriggerTasks.TaskNodeTypeList group.
    """

    type_id: int
    design: str
    desc: str
    category: str
    run_type: str | None = None  # None: the design code
    run_type_id: int | None = None  # None: the design id

    @property
    def run_code(self) -> str:
        return self.run_type if self.run_type is not None else self.design

    @property
    def run_id(self) -> int:
        return self.run_type_id if self.run_type_id is not None else self.type_id


@dataclass(frozen=True, slots=True)
class Paths:
    """Wire paths of one save request, so a type's refusals name the field as the action spells it
    (`Task.` for UpdateTriggerTask, `NewSetting.` for the partial update, nothing for CreateTriggerTask)."""

    prefix: str = ""

    @property
    def ext(self) -> str:
        return f"{self.prefix}TriggerTaskConfiguration.TaskExtConfigurationList"

    @property
    def config(self) -> str:
        return f"{self.prefix}TriggerTaskConfiguration"

    @property
    def upstreams(self) -> str:
        return f"{self.prefix}TriggerTaskSchedulerConfiguration.UpstreamDependencyConfigList"


# A control node's decision: the upstream task runs' states (by task id) -> its own event, or None to wait.
Decision = Callable[[Mapping[str, TaskState]], TaskEvent | None]


class TaskType:
    """One TaskTypeId: labels, save-time validation, what runs freeze, and (in a subclass) its runtime."""

    runtime: ClassVar[Runtime]
    labels: Labels
    # The run spec's `kind` (persisted in task_runs.spec, so rows frozen by older servers resolve too).
    kind: str
    # Whether CreateTriggerTask accepts it (a registered type that does not run yet is refused at save).
    runnable: bool = True
    # The data sources its configuration names (SourceServiceId, TargetServiceId): checked at save by the task
    # service (service/datasources.py check_uses), and their connections handed to the attempt's workload.
    sources: tuple[SourceUse, ...] = ()

    def __init__(self, labels: Labels, kind: str) -> None:
        self.labels = labels
        self.kind = kind

    @property
    def type_id(self) -> int:
        return self.labels.type_id

    @property
    def holds_slot(self) -> bool:
        """Only processes take resource-group slots: a child-run node waits on its child, whose own tasks
        take slots (a node holding a slot while its child waits for one could deadlock a group)."""
        return self.runtime is Runtime.PROCESS

    def validate(
        self, config: Mapping[str, Any], ext: Mapping[str, Any], paths: Paths, explicit: Sequence[str]
    ) -> list[str]:
        """Refuse a configuration this type cannot run (InvalidParameterValue naming the field).

        `ext` is TaskExtConfigurationList as a dict, `explicit` the UpstreamDependencyConfigList task ids.
        Returns the upstream task ids the configuration itself implies (a merge node's conditions)."""
        return []

    def check_submit(self, ext: Mapping[str, Any], downstream: Collection[str], path: str) -> None:
        """Refuse a SubmitTriggerTask whose configuration does not fit the workflow's submitted DAG
        (InvalidParameterValue naming the field under `path`, TaskExtConfigurationList). `downstream` is the
        task ids whose submitted versions depend directly on this task. Most types need nothing here."""

    def freeze(self, code: str, ext: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The type's own keys of a task run's `spec`, frozen at run creation (decisions.md Q-R2).

        `code` is the decoded CodeContent, `ext` TaskExtConfigurationList as a dict, `config` the whole
        TriggerTaskConfiguration of the version (e.g. its SourceServiceId)."""
        return {"kind": self.kind, "code": code}

    def extensions(self, common: dict[str, str], ext: Mapping[str, Any]) -> dict[str, str]:
        """The task run's TaskTypeExtensions: `common` (every type's keys plus the task's own) as this
        type shows them."""
        return common


class ProcessTask(TaskType):
    """A work type: each attempt is a process. `dialect` names how parameters are placed into the code
    (domain/code_quoting.py); `code_suffix` the extension of the human-readable copy of substituted code."""

    runtime = Runtime.PROCESS
    dialect: str | None = None
    code_suffix: str = ".txt"


class ControlNode(TaskType):
    """A node that runs nothing: it decides from its upstreams' end states."""

    runtime = Runtime.CONTROL

    def decision(self, spec: Mapping[str, Any]) -> Decision:
        raise NotImplementedError


class ChildRunTask(TaskType):
    """A node that runs another workflow as a child run and ends as that run does."""

    runtime = Runtime.CHILD_RUN

    def child_workflow(self, ext: Mapping[str, Any]) -> Any:
        """The workflow id this node runs, as configured (unchecked: the caller checks it in the store)."""
        return ext.get("workflowId")


class UnknownKind(ProcessTask):
    """A frozen spec whose `kind` this server does not know (frozen by a newer server, say): its attempts
    fail to launch, naming the kind; it never runs as another type (SQL code must not reach bash)."""

    def __init__(self, kind: str) -> None:
        super().__init__(Labels(0, design=kind, desc=kind, category="GENERAL"), kind)


class Registry:
    """The task types by TaskTypeId, plus the run spec's `kind` -> type (first registered wins)."""

    def __init__(self) -> None:
        self._by_id: dict[int, TaskType] = {}
        self._by_kind: dict[str, TaskType] = {}
        self._unknown: dict[str, TaskType] = {}

    def register(self, task_type: TaskType) -> TaskType:
        if task_type.type_id in self._by_id:
            raise ValueError(f"TaskTypeId {task_type.type_id} is registered twice")
        self._by_id[task_type.type_id] = task_type
        self._by_kind.setdefault(task_type.kind, task_type)
        return task_type

    def get(self, type_id: int) -> TaskType | None:
        return self._by_id.get(type_id)

    def __getitem__(self, type_id: int) -> TaskType:
        return self._by_id[type_id]

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._by_id

    def __iter__(self) -> Iterator[TaskType]:
        return iter(self._by_id.values())

    def design_of(self, type_id: int) -> str | None:
        """The design-side TaskType code (None for a type trigflow does not know)."""
        t = self._by_id.get(type_id)
        return t.labels.design if t is not None else None

    def desc_of(self, type_id: int) -> str | None:
        """TriggerTaskDependDto.TaskTypeDesc (None for a type trigflow does not know)."""
        t = self._by_id.get(type_id)
        return t.labels.desc if t is not None else None

    def of_spec(self, spec: Mapping[str, Any]) -> TaskType:
        """The type of a frozen task-run spec by its `kind`: rows without one ran as Shell; a kind this
        server does not know is an `UnknownKind`, whose attempts fail to launch."""
        kind = spec.get("kind")
        if not isinstance(kind, str):
            return self._default
        found = self._by_kind.get(kind)
        if found is None:
            found = self._unknown.setdefault(kind, UnknownKind(kind))
        return found

    @property
    def _default(self) -> TaskType:
        return next(iter(self._by_id.values()))

    def runnable(self) -> list[TaskType]:
        return [t for t in self._by_id.values() if t.runnable]

    def of_runtime(self, runtime: Runtime) -> list[TaskType]:
        return [t for t in self._by_id.values() if t.runtime is runtime]
