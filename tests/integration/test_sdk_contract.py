"""Contract test: every registered action, called through the official SDK with valid input, answers a raw
`Response.Data` that has exactly the SDK model's fields with the SDK's JSON types.

The expected shapes are read from the SDK itself (`tencentcloud.wedata.v20250806.models`), never from our own
`wire_schema.json`: each model's `__init__` sets one `self._Field = None` per field, each field's property
docstring names its type (`:rtype: str`, `int`, `float`, `bool`, `list of X`, or a model class), and
`_deserialize` names the nested model classes (cross-checked below). So if the generated schema, a shape
function or the renderer drifts from the SDK, this file notices.

`EXAMPLES` holds one valid request per action of the family (all 45 of the SDK schema, registered or not) as
one small function of a `World` of real objects, so an action that gets registered later only needs its
example checked, and an action registered without one fails `test_registered_action_matches_sdk_model`.
Destructive and mutating examples create their own objects, so test order does not matter.
"""

from __future__ import annotations

import base64
import functools
import inspect
import itertools
import json
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from tencentcloud.common.abstract_model import AbstractModel
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.wedata.v20250806 import models

from tests.conftest import Server, make_client, pg_schema, start_server
from tests.integration.helpers import call, new_task, new_workflow, start_run, wait_run
from tests.unit.test_api_doc import documented_actions
from trigflow.api import wire
from trigflow.api.registry import load_all

# ------------------------------------------------------------------------------------ SDK introspection


@dataclass(frozen=True)
class SdkType:
    """One SDK field type: a JSON scalar (`str`, `int`, `float`, `bool`) or a `model`, maybe a list of it."""

    kind: str
    model: str | None = None
    is_list: bool = False
    non_negative: bool = False

    def describe(self) -> str:
        inner = self.model if self.kind == "model" else self.kind
        return f"list of {inner}" if self.is_list else str(inner)


_SCALARS = frozenset({"str", "int", "float", "bool"})
_RTYPE = re.compile(r":rtype:\s*(.+?)\s*$", re.M)
_CLASS_REF = re.compile(r":class:`tencentcloud\.wedata\.v20250806\.models\.(\w+)`")
# `_deserialize` instantiates nested models as `self._Field = Model()` or, for lists, `obj = Model()` inside
# the field's `if params.get("Field") is not None:` block.
_DESERIALIZE_NESTED = re.compile(
    r'if params\.get\("(\w+)"\) is not None:\s*\n(?:[^\n]*\n){0,3}?\s*(?:self\._\w+|obj) = (\w+)\(\)'
)


def parse_sdk_type(text: str) -> SdkType:
    """`str`, `list of int non-negative`, `list of TriggerTaskRunBrief`, ``:class:`...models.X` ``..."""
    is_list = text.startswith("list of ")
    if is_list:
        text = text.removeprefix("list of ")
    non_negative = text.endswith(" non-negative")
    text = text.removesuffix(" non-negative")
    ref = _CLASS_REF.fullmatch(text)
    if ref:
        return SdkType("model", ref.group(1), is_list)
    if text in _SCALARS:
        return SdkType(text, None, is_list, non_negative)
    if isinstance(getattr(models, text, None), type):
        return SdkType("model", text, is_list)
    raise ValueError(f"unknown SDK type text {text!r}")


@functools.cache
def sdk_fields(model: str) -> dict[str, SdkType]:
    """The fields of an SDK model, in SDK order, with their types (from the property docstrings; a few
    deprecated properties carry none, then the `:type Field:` line of `__init__` says the same)."""
    cls = getattr(models, model)
    init_doc = cls.__init__.__doc__ or ""
    out: dict[str, SdkType] = {}
    for attr in vars(cls()):
        name = attr[1:]
        prop = getattr(cls, name, None)
        if not attr.startswith("_") or not isinstance(prop, property):
            continue  # e.g. the request headers slot
        found = _RTYPE.search(prop.__doc__ or "") or re.search(rf":type {name}:\s*(.+?)\s*$", init_doc, re.M)
        if found is None:
            raise AssertionError(f"SDK model {model}.{name} documents no type")
        out[name] = parse_sdk_type(found.group(1))
    return out


def deserialize_nested_models(model: str) -> dict[str, str]:
    """Field -> nested model class, as the SDK's own `_deserialize` instantiates them."""
    source = inspect.getsource(getattr(models, model)._deserialize)
    return dict(_DESERIALIZE_NESTED.findall(source))


def reachable_models(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(t.model for t in sdk_fields(name).values() if t.model)
    return seen


# ------------------------------------------------------------------------------------ raw response checks


def _check_one(value: Any, t: SdkType, path: str, problems: list[str]) -> None:
    if t.kind == "model":
        assert t.model is not None
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({t.model}), got {type(value).__name__} {value!r:.80}")
            return
        check_object(value, t.model, path, problems)
        return
    ok = {
        "str": isinstance(value, str),
        "int": type(value) is int,  # JSON integer: not a float, not a boolean
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
    }[t.kind]
    if not ok:
        problems.append(f"{path}: expected {t.kind}, got {type(value).__name__} {value!r:.80}")
    elif t.non_negative and value < 0:
        problems.append(f"{path}: expected a non-negative int, got {value}")


def check_value(value: Any, t: SdkType, path: str, problems: list[str]) -> None:
    """Null is allowed for any field; arrays are checked element by element (null elements are not)."""
    if value is None:
        return
    if not t.is_list:
        _check_one(value, t, path, problems)
        return
    if not isinstance(value, list):
        problems.append(f"{path}: expected a {t.describe()}, got {type(value).__name__} {value!r:.80}")
        return
    for index, item in enumerate(value):
        if item is None:
            problems.append(f"{path}[{index}]: null inside an array")
        else:
            _check_one(item, t, f"{path}[{index}]", problems)


def check_object(obj: dict[str, Any], model: str, path: str, problems: list[str]) -> None:
    fields = sdk_fields(model)
    missing = [name for name in fields if name not in obj]
    extra = sorted(set(obj) - set(fields))
    if missing:
        problems.append(f"{path}: missing fields of {model}: {missing}")
    if extra:
        problems.append(f"{path}: fields {model} does not have: {extra}")
    for name, t in fields.items():
        if name in obj:
            check_value(obj[name], t, f"{path}.{name}", problems)


def response_problems(action: str, body: Any, *, require_data: bool) -> list[str]:
    """Everything wrong with a raw success body `{"Response": {...}}` of `action`, per the SDK response model."""
    if not isinstance(body, dict) or set(body) != {"Response"} or not isinstance(body["Response"], dict):
        return [f"body is not a single Response object: {body!r:.200}"]
    response = body["Response"]
    if "Error" in response:
        return [f"answered an error: {response['Error']!r:.500}"]
    problems: list[str] = []
    if not isinstance(response.get("RequestId"), str) or not response["RequestId"]:
        problems.append(f"Response.RequestId is not a non-empty string: {response.get('RequestId')!r}")
    check_object(response, f"{action}Response", "Response", problems)
    if require_data and "Data" in sdk_fields(f"{action}Response") and response.get("Data") is None:
        problems.append("Response.Data is null: nothing to check")
    return problems


def sdk_request(action: str, params: dict[str, Any]) -> AbstractModel:
    """The SDK's request model for `params`; fails if the SDK does not know a field or would drop one."""
    request = getattr(models, f"{action}Request")()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "X fileds are useless." = a field the SDK model does not have
        request.from_json_string(json.dumps(params))
    assert request._serialize() == params, f"{action}: the SDK does not round-trip the example {params}"
    return request


# ------------------------------------------------------------------------------------ the world of objects

MISSING_RUN = "00000000-0000-4000-8000-00000000f00d"  # valid-looking IDs that are never issued
MISSING_TASK_RUN = "00000000-0000-4000-8000-00000000f00e"
MISSING_ASYNC = "00000000-0000-4000-8000-00000000f00f"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class World:
    """Real objects on one server that examples refer to. With `client=None` it is a dry world of made-up
    IDs (no server), used to check that every example is a request the SDK accepts."""

    client: Any | None
    tag: str
    project_id: str
    uin: str
    workflow_id: str  # extract (SHELL `echo hi`) -> load, both submitted; a PAUSED daily trigger
    workflow_name: str
    upstream_task: str
    downstream_task: str
    version_id: str  # a submitted version of upstream_task
    run_id: str  # a finished run of workflow_id (rerun once, so a WORKFLOW_RERUN job exists)
    task_run_id: str
    rerun_run_id: str  # a finished run reserved for the RerunTriggerWorkflowRunAsync example
    async_id: str
    group_id: str
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def name(self, prefix: str) -> str:
        return f"{prefix}_{self.tag}_{next(self._seq)}"

    def call(self, action: str, params: dict[str, Any]) -> Any:
        assert self.client is not None
        return call(self.client, action, params)

    def fresh_project(self) -> str:
        if self.client is None:
            return f"4{next(self._seq):018d}"
        return str(
            self.call("CreateProject", {"Project": {"ProjectName": self.name("ct_p"), "DisplayName": "ct"}}).ProjectId
        )

    def fresh_workflow(self) -> str:
        if self.client is None:
            return str(uuid.uuid4())
        return new_workflow(self.client, self.project_id, self.name("ct_wf"))

    def fresh_task(self, *, submit: bool = False, workflow_id: str | None = None) -> str:
        if self.client is None:
            return f"2026{next(self._seq):013d}"
        wf = workflow_id or self.fresh_workflow()
        return new_task(self.client, self.project_id, wf, self.name("ct_task"), "echo hi", submit=submit)

    def fresh_group(self) -> str:
        if self.client is None:
            return f"2026{next(self._seq):016d}"
        return str(self.call("CreateResourceGroup", resource_group_request(self.name("ct_rg"))).ResourceGroupId)


def resource_group_request(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": {"ResourceGroupType": "Schedule", "Schedule": {"Specification": "local", "Number": 2}},
        "AutoRenewEnabled": False,
        "PurchasePeriod": 1,
        "VpcId": "vpc-local",
        "SubNet": "subnet-local",
        "ResourceRegion": "ap-guangzhou",
        "Description": "contract",
    }


PAUSED_DAILY = {
    "TriggerMode": "TIME_TRIGGER",
    "ConfigMode": "CRON_EXPRESSION",
    "CycleType": "DAY_CYCLE",
    "CrontabExpression": "0 0 2 * * ? *",
    "SchedulerStatus": "PAUSED",
}


def dry_world() -> World:
    return World(
        client=None,
        tag="dry",
        project_id="1460947878944567296",
        uin="100000000001",
        workflow_id=str(uuid.uuid4()),
        workflow_name="dry_wf",
        upstream_task="20251124153853796",
        downstream_task="20251124153853797",
        version_id="20251124153853796_20251124175701621",
        run_id=MISSING_RUN,
        task_run_id=MISSING_TASK_RUN,
        rerun_run_id=MISSING_RUN,
        async_id=MISSING_ASYNC,
        group_id="20240222212719833743",
    )


def build_world(client: Any, *, with_runs: bool) -> World:
    """A project with a two-task workflow; with runs, a finished run (rerun once) and a spare finished run.
    Without runs the run, task-run and async IDs are valid-looking IDs that do not exist."""
    tag = uuid.uuid4().hex[:8]
    project_id = str(
        call(client, "CreateProject", {"Project": {"ProjectName": f"ct_{tag}", "DisplayName": "ct"}}).ProjectId
    )
    wf_name = f"ct_world_{tag}"
    workflow_id = new_workflow(
        client,
        project_id,
        wf_name,
        WorkflowDesc="contract world",
        SchedulerStatus="PAUSED",
        WorkflowParams=[{"ParamKey": "biz", "ParamValue": "x"}],
        TriggerWorkflowSchedulerConfigurations=[PAUSED_DAILY],
    )
    upstream = new_task(client, project_id, workflow_id, "extract", "echo hi", submit=False)
    version_id = str(
        call(
            client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": upstream, "VersionRemark": "v1"}
        ).VersionId
    )
    downstream = new_task(client, project_id, workflow_id, "load", "echo hi", upstream=[upstream])
    uin = str(call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": workflow_id}).OwnerUin)
    group_id = str(call(client, "CreateResourceGroup", resource_group_request(f"ct_rg_{tag}")).ResourceGroupId)
    run_id, task_run_id, rerun_run_id, async_id = MISSING_RUN, MISSING_TASK_RUN, MISSING_RUN, MISSING_ASYNC
    if with_runs:
        run_id = start_run(client, project_id, workflow_id)
        assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        async_id = str(
            call(
                client,
                "RerunTriggerWorkflowRunAsync",
                {"ProjectId": project_id, "WorkflowId": workflow_id, "WorkflowExecutionId": run_id, "ExecuteType": "1"},
            ).AsyncId
        )
        data = wait_run(client, project_id, run_id)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
        task_run_id = str(data.TriggerTaskRuns[0].ExecutionId)
        rerun_run_id = start_run(client, project_id, workflow_id)
        assert wait_run(client, project_id, rerun_run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    return World(
        client=client,
        tag=tag,
        project_id=project_id,
        uin=uin,
        workflow_id=workflow_id,
        workflow_name=wf_name,
        upstream_task=upstream,
        downstream_task=downstream,
        version_id=version_id,
        run_id=run_id,
        task_run_id=task_run_id,
        rerun_run_id=rerun_run_id,
        async_id=async_id,
        group_id=group_id,
    )


# ------------------------------------------------------------------------------------ one example per action

Example = Callable[[World], dict[str, Any]]
EXAMPLES: dict[str, Example] = {}


def example(action: str) -> Callable[[Example], Example]:
    def register(fn: Example) -> Example:
        assert action not in EXAMPLES, action
        EXAMPLES[action] = fn
        return fn

    return register


# --- projects


@example("CreateProject")
def _create_project(w: World) -> dict[str, Any]:
    return {"Project": {"ProjectName": w.name("ct_new"), "DisplayName": "契约", "ProjectModel": "SIMPLE"}}


@example("GetProject")
def _get_project(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id}


@example("ListProjects")
def _list_projects(w: World) -> dict[str, Any]:
    return {"ProjectIds": [w.project_id], "PageNumber": 1, "PageSize": 10}


@example("UpdateProject")  # not registered when written
def _update_project(w: World) -> dict[str, Any]:
    return {"ProjectId": w.fresh_project(), "DisplayName": "renamed", "Description": "contract"}


@example("DeleteProject")  # not registered when written
def _delete_project(w: World) -> dict[str, Any]:
    return {"ProjectId": w.fresh_project()}


@example("DisableProject")  # not registered when written
def _disable_project(w: World) -> dict[str, Any]:
    return {"ProjectId": w.fresh_project()}


@example("EnableProject")  # not registered when written; enables a project it disabled first
def _enable_project(w: World) -> dict[str, Any]:
    project_id = w.fresh_project()
    if w.client is not None:
        w.call("DisableProject", {"ProjectId": project_id})
    return {"ProjectId": project_id}


@example("ListProjectMembers")  # not registered when written
def _list_project_members(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "PageNumber": 1, "PageSize": 10}


# --- folders (none registered when written)


@example("CreateWorkflowFolder")
def _create_workflow_folder(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "ParentFolderPath": "/", "FolderName": w.name("ct_folder")}


@example("ListWorkflowFolders")
def _list_workflow_folders(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "ParentFolderPath": "/", "PageNumber": 1, "PageSize": 10}


@example("CreateTaskFolder")
def _create_task_folder(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "ParentTaskFolderPath": "/",
        "TaskFolderName": w.name("ct_tf"),
        "TaskFolderType": "GENERAL",
        "WorkflowId": w.workflow_id,
    }


@example("ListTaskFolders")
def _list_task_folders(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "ParentTaskFolderPath": "/",
        "WorkflowId": w.workflow_id,
        "TaskFolderType": "GENERAL",
        "PageNumber": 1,
        "PageSize": 10,
    }


# --- workflows


@example("CreateTriggerWorkflow")
def _create_trigger_workflow(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "WorkflowName": w.name("ct_created"),
        "ParentFolderPath": "/默认文件夹",
        "WorkflowDesc": "contract",
        "WorkflowParams": [{"ParamKey": "k", "ParamValue": "v"}],
    }


@example("GetTriggerWorkflow")
def _get_trigger_workflow(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "WorkflowId": w.workflow_id}


@example("UpdateTriggerWorkflow")
def _update_trigger_workflow(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "WorkflowId": w.fresh_workflow(),
        "WorkflowDesc": "updated",
        "WorkflowParams": [{"ParamKey": "k", "ParamValue": "v"}],
    }


@example("UpdateTriggerWorkflowPartially")  # not registered when written
def _update_trigger_workflow_partially(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "WorkflowId": w.fresh_workflow(),
        "NewSetting": {"WorkflowDesc": "patched", "WorkflowParams": [{"ParamKey": "k", "ParamValue": "v"}]},
    }


@example("DeleteTriggerWorkflow")  # not registered when written
def _delete_trigger_workflow(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "WorkflowId": w.fresh_workflow()}


@example("ListTriggerWorkflows")
def _list_trigger_workflows(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "Keyword": w.workflow_name, "PageNumber": 1, "PageSize": 10}


@example("GetOpsTriggerWorkflow")  # not registered when written
def _get_ops_trigger_workflow(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "WorkflowId": w.workflow_id, "WorkflowExecutionId": w.run_id}


@example("ListOpsTriggerWorkflows")  # not registered when written
def _list_ops_trigger_workflows(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "Filters": [{"Name": "WorkflowId", "Values": [w.workflow_id]}],
        "PageNumber": 1,
        "PageSize": 10,
    }


# --- tasks


@example("CreateTriggerTask")
def _create_trigger_task(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "TriggerTaskBaseAttribute": {
            "TaskName": w.name("ct_t"),
            "TaskTypeId": "35",
            "WorkflowId": w.fresh_workflow(),
            "TaskDescription": "contract",
        },
        "TriggerTaskConfiguration": {
            "CodeContent": b64("echo hi"),
            "TaskSchedulingParameterList": [{"ParamKey": "p", "ParamValue": "v"}],
        },
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
    }


@example("SubmitTriggerTask")
def _submit_trigger_task(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "TaskId": w.fresh_task(), "VersionRemark": "v1"}


@example("GetTriggerTask")  # not registered when written
def _get_trigger_task(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "TaskId": w.downstream_task}


@example("GetTriggerTaskCode")  # not registered when written
def _get_trigger_task_code(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "TaskId": w.upstream_task}


@example("GetTriggerTaskVersion")  # not registered when written
def _get_trigger_task_version(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "TaskId": w.upstream_task, "VersionId": w.version_id}


@example("ListTriggerTaskVersions")  # not registered when written
def _list_trigger_task_versions(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "TaskId": w.upstream_task,
        "TaskVersionType": "SUBMIT",
        "PageNumber": 1,
        "PageSize": 10,
    }


@example("UpdateTriggerTask")  # not registered when written
def _update_trigger_task(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "TaskId": w.fresh_task(),
        "Task": {
            "TriggerTaskBaseAttribute": {"TaskName": w.name("ct_upd"), "OwnerUin": w.uin, "TaskDescription": "upd"},
            "TriggerTaskConfiguration": {"CodeContent": b64("echo updated")},
            "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
        },
    }


@example("UpdateTriggerTaskPartially")  # not registered when written
def _update_trigger_task_partially(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "TaskId": w.fresh_task(),
        "NewSetting": {"TriggerTaskBaseAttribute": {"TaskDescription": "patched"}},
    }


@example("DeleteTriggerTask")  # not registered when written
def _delete_trigger_task(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "TaskId": w.fresh_task(), "OperateInform": False}


@example("ListTriggerTasks")  # not registered when written
def _list_trigger_tasks(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "WorkflowId": w.workflow_id, "PageNumber": 1, "PageSize": 10}


@example("ListUpstreamTriggerTasks")  # not registered when written
def _list_upstream_trigger_tasks(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "TaskId": w.downstream_task, "PageNumber": 1, "PageSize": 10}


@example("ListDownstreamTriggerTasks")  # not registered when written
def _list_downstream_trigger_tasks(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "TaskId": w.upstream_task, "PageNumber": 1, "PageSize": 10}


@example("UpdateOpsTriggerTasksOwner")  # not registered when written
def _update_ops_trigger_tasks_owner(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "OwnerIds": [w.uin], "TaskIds": [w.fresh_task(submit=True)]}


# --- runs


@example("CreateTriggerWorkflowRun")
def _create_trigger_workflow_run(w: World) -> dict[str, Any]:
    workflow_id = w.fresh_workflow()
    w.fresh_task(submit=True, workflow_id=workflow_id)
    return {
        "ProjectId": w.project_id,
        "WorkflowId": workflow_id,
        "AdvancedParams": [{"ParamKey": "biz", "ParamValue": "y"}],
    }


@example("GetTriggerWorkflowRun")
def _get_trigger_workflow_run(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "WorkflowExecutionId": w.run_id,
        "OrderFields": [{"Name": "TaskName", "Direction": "ASC"}],
    }


@example("ListTriggerWorkflowRuns")
def _list_trigger_workflow_runs(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "Filters": [{"Name": "WorkflowId", "Values": [w.workflow_id]}],
        "PageNumber": 1,
        "PageSize": 10,
    }


@example("KillTriggerWorkflowRuns")  # a finished run: one ExecutionActionBrief with OpStatus false, nothing killed
def _kill_trigger_workflow_runs(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "WorkflowId": w.workflow_id, "WorkflowExecutionIdList": [w.run_id]}


@example("RerunTriggerWorkflowRunAsync")
def _rerun_trigger_workflow_run_async(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "WorkflowId": w.workflow_id,
        "WorkflowExecutionId": w.rerun_run_id,
        "ExecuteType": "1",
    }


@example("GetTriggerTaskRun")
def _get_trigger_task_run(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "TaskExecutionId": w.task_run_id}


@example("GetTaskInstanceLog")
def _get_task_instance_log(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "InstanceKey": w.task_run_id, "LifeRoundNum": 0, "LogLevel": "All"}


@example("ListTriggerTaskRuns")
def _list_trigger_task_runs(w: World) -> dict[str, Any]:
    return {
        "ProjectId": w.project_id,
        "Filters": [{"Name": "WorkflowExecutionId", "Values": [w.run_id]}],
        "PageNumber": 1,
        "PageSize": 10,
    }


@example("GetOpsAsyncJob")
def _get_ops_async_job(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "AsyncId": w.async_id}


# --- resource groups


@example("CreateResourceGroup")
def _create_resource_group(w: World) -> dict[str, Any]:
    return resource_group_request(w.name("ct_rg_new"))


@example("UpdateResourceGroup")
def _update_resource_group(w: World) -> dict[str, Any]:
    return {"Id": w.fresh_group(), "Number": {"Type": "Schedule", "Quantity": 3}}


@example("DeleteResourceGroup")
def _delete_resource_group(w: World) -> dict[str, Any]:
    return {"Id": w.fresh_group()}


@example("ListResourceGroups")
def _list_resource_groups(w: World) -> dict[str, Any]:
    return {"Id": w.group_id, "PageNumber": 1, "PageSize": 10}


@example("GetResourceGroupMetrics")
def _get_resource_group_metrics(w: World) -> dict[str, Any]:
    end = int(time.time() * 1000)  # a recent minute: test servers' minutes (and so their retention) are short
    return {"ResourceGroupId": w.group_id, "StartTime": end - 60_000, "EndTime": end, "MetricType": "all",
            "Granularity": 5}  # fmt: skip


# --- data sources


def fresh_data_source(w: World, *, used: bool = False) -> int:
    """A POSTGRE data source of the world's project; `used`: a saved Shell task names it (SourceServiceId)."""
    if w.client is None:
        return 2_000_000_000 - next(w._seq)
    props = {"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "postgres", "password": "ct-secret"}
    source_id = int(
        w.call(
            "CreateDataSource",
            {
                "ProjectId": w.project_id,
                "Name": w.name("ct_ds"),
                "Type": "POSTGRE",
                "ProdConProperties": json.dumps(props),
            },
        ).DataSourceId
    )
    if used:
        task_id = w.fresh_task()
        w.call(
            "UpdateTriggerTaskPartially",
            {
                "ProjectId": w.project_id,
                "TaskId": task_id,
                "NewSetting": {"TriggerTaskConfiguration": {"SourceServiceId": str(source_id)}},
            },
        )
    return source_id


@example("CreateDataSource")
def _create_data_source(w: World) -> dict[str, Any]:
    props = {
        "deployType": "CONNSTR_PUBLICDB",
        "url": "jdbc:mysql://127.0.0.1:3306/test",
        "username": "root",
        "type": "MYSQL",
    }
    return {
        "ProjectId": w.project_id,
        "Name": w.name("ct_ds_new"),
        "Type": "MYSQL",
        "ProdConProperties": json.dumps(props),
        "DevConProperties": json.dumps({**props, "password": "dev"}),
        "DisplayName": "契约",
        "Description": "contract",
    }


@example("GetDataSource")
def _get_data_source(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "Id": fresh_data_source(w)}


@example("ListDataSources")
def _list_data_sources(w: World) -> dict[str, Any]:
    fresh_data_source(w)
    return {"ProjectId": w.project_id, "PageNumber": 1, "PageSize": 10, "Type": ["POSTGRE"], "Name": "ct_ds"}


@example("UpdateDataSource")
def _update_data_source(w: World) -> dict[str, Any]:
    props = {"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "postgres", "password": "******"}
    return {"ProjectId": w.project_id, "Id": fresh_data_source(w), "ProdConProperties": json.dumps(props),
            "DisplayName": "renamed"}  # fmt: skip


@example("DeleteDataSource")
def _delete_data_source(w: World) -> dict[str, Any]:
    return {"ProjectId": w.project_id, "Id": fresh_data_source(w)}


@example("GetDataSourceRelatedTasks")
def _get_data_source_related_tasks(w: World) -> dict[str, Any]:
    return {"Id": fresh_data_source(w, used=True)}


# ------------------------------------------------------------------------------------ tests

REGISTERED = sorted(load_all())

# Registered actions whose contract a real server bug breaks today: action -> precise reason (strict xfail,
# so the mark must go when the bug is fixed).
KNOWN_BUGS: dict[str, str] = {}


def _registered_cases() -> list[Any]:
    return [
        pytest.param(a, id=a, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[a])] if a in KNOWN_BUGS else [])
        for a in REGISTERED
    ]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, World]]:
    """The server and its world, once on the embedded SQLite and once on PostgreSQL: column widths, JSON
    and boolean types differ between the two, and a response must not."""
    if request.param == "sqlite":
        yield server, build_world(make_client(server.endpoint), with_runs=True)
        return
    with pg_schema("tf_contract") as url:
        srv = start_server(
            tmp_path_factory.mktemp("contract-pg"),
            db_url=url,
            extra=["--rate-limit", "1000", "--kill-grace", "1", "--minute-seconds", "0.2"],
        )
        try:
            yield srv, build_world(make_client(srv.endpoint), with_runs=True)
        finally:
            srv.stop()


def capturing_client(server: Server) -> tuple[Any, list[bytes]]:
    """An SDK client whose typed action methods also hand us the raw body they decoded."""
    client = make_client(server.endpoint)
    bodies: list[bytes] = []
    sdk_call = client.call

    def call_and_keep(action: str, params: Any, options: Any = None, headers: Any = None) -> Any:
        body = sdk_call(action, params, options=options, headers=headers)
        bodies.append(body)
        return body

    client.call = call_and_keep
    return client, bodies


@pytest.mark.parametrize("action", _registered_cases())
def test_registered_action_matches_sdk_model(target: tuple[Server, World], action: str) -> None:
    server, world = target
    build = EXAMPLES.get(action)
    assert build is not None, f"{action} is registered but EXAMPLES has no valid request for it: add one"
    request = sdk_request(action, build(world))
    client, bodies = capturing_client(server)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(client, action)(request)  # raises TencentCloudSDKException on an error answer
    (raw,) = bodies
    problems = response_problems(action, json.loads(raw), require_data=True)
    assert not problems, f"{action} response differs from the SDK model:\n  " + "\n  ".join(problems[:40])
    useless = [str(w.message) for w in caught if "useless" in str(w.message)]
    assert not useless, f"the SDK warned while decoding {action}: {useless}"


@pytest.mark.parametrize("action", sorted(EXAMPLES))
def test_example_is_a_request_the_sdk_accepts(action: str) -> None:
    """Also for actions not registered yet: names and nesting of each example match the SDK request model."""
    sdk_request(action, EXAMPLES[action](dry_world()))


def test_every_action_of_the_family_has_an_example() -> None:
    assert set(EXAMPLES) == set(wire.action_names())  # every action the SDK schema describes


def test_registered_actions_equal_documented_actions() -> None:
    assert set(REGISTERED) == documented_actions()


def test_sdk_introspection_agrees_with_the_sdk_deserializers() -> None:
    """The types read from docstrings name the same nested models as the SDK's `_deserialize` code, for every
    model an action of the family can send or receive; and a known model reads as expected."""
    roots = [f"{a}{suffix}" for a in EXAMPLES for suffix in ("Request", "Response")]
    checked = 0
    for model in sorted(reachable_models(roots)):
        from_docs = {name: t.model for name, t in sdk_fields(model).items() if t.kind == "model"}
        assert deserialize_nested_models(model) == from_docs, model
        checked += len(from_docs)
    assert checked > 50
    assert sdk_fields("ExecutionActionBrief") == {
        "ItemId": SdkType("str"),
        "ItemName": SdkType("str"),
        "ExecutionActionId": SdkType("str"),
        "ErrorMessage": SdkType("str"),
        "OpStatus": SdkType("bool"),
    }
    assert sdk_fields("KillTriggerWorkflowRunsResponse")["Data"] == SdkType("model", "ExecutionActionBrief", True)


def _overlong(action: str, params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The example with one string field at a time (top level, or one level down) made 300 characters long."""
    request_fields = sdk_fields(f"{action}Request")
    for name, value in params.items():
        kind = request_fields[name]
        if kind.kind == "str" and not kind.is_list:
            yield name, {**params, name: "9" * 300}
        elif kind.kind == "str" and kind.is_list and value:
            yield name, {**params, name: ["9" * 300, *value[1:]]}
        elif kind.kind == "model" and not kind.is_list and isinstance(value, dict):
            nested = sdk_fields(str(kind.model))
            for sub in value:
                if nested[sub].kind == "str" and not nested[sub].is_list:
                    yield f"{name}.{sub}", {**params, name: {**value, sub: "9" * 300}}


@pytest.mark.parametrize("action", REGISTERED)
def test_overlong_strings_are_refused_by_name_not_internal_errors(target: tuple[Server, World], action: str) -> None:
    """PostgreSQL enforces column widths (SQLite does not): a value longer than its column must come back as
    a client error naming the field, or be accepted where the column is wide enough; never InternalError."""
    server, world = target
    client = make_client(server.endpoint)
    for field_name, params in _overlong(action, EXAMPLES[action](world)):
        try:
            client.call_json(action, params)
        except TencentCloudSDKException as e:
            assert e.get_code() != "InternalError", f"{action} with a 300-character {field_name}: {e.get_message()}"
            assert "does not fit what the server stores" not in e.get_message(), (
                f"{action}: a 300-character {field_name} was refused by the database, not by name: {e.get_message()}"
            )
