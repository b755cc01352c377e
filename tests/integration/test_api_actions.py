"""Every implemented action through the official SDK against the session server: happy paths, then refusals.

Happy paths go through the SDK's typed request/response models (`helpers.call`), so the payloads also
have to decode into the SDK's classes. Refusals go through `client.call_json`, the SDK's own untyped entry
point (still SDK-signed), because the typed models silently drop unknown fields and coerce types, which
would make UnknownParameter / InvalidParameter impossible to send.

The session server is shared with other test files: every name carries a uuid suffix, and every list
query is scoped (WorkflowId, ProjectIds, Keyword of our suffix) so that foreign rows never count.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.wedata.v20250806 import models

from tests.conftest import Server
from tests.integration.helpers import (
    call,
    fails,
    get_run,
    new_task,
    new_workflow,
    start_run,
    task_states,
    uid,
    wait_run,
)

CST = timezone(timedelta(hours=8))
MISSING_ID = "00000000-0000-4000-8000-000000000404"



def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()



def wall(ms: int, tz: timezone = CST) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=tz).strftime("%Y-%m-%d %H:%M:%S")


def flt(name: str, *values: str) -> dict[str, Any]:
    return {"Name": name, "Values": list(values)}


def order(name: str, direction: str) -> dict[str, str]:
    return {"Name": name, "Direction": direction}


# ------------------------------------------------------------------------------------------------ fixtures


@dataclass
class Flow:
    """A finished three-task chain (extract -> transform(python) -> load) run twice, plus a draft task."""

    workflow_id: str
    name: str
    tasks: dict[str, str]
    draft: str
    run1: Any
    run2: Any


@dataclass
class Mixed:
    """A finished run with one FAILED, one UPSTREAM_FAILED and one SUCCESS task run."""

    workflow_id: str
    name: str
    tasks: dict[str, str]
    run: Any


@dataclass
class Ctx:
    project_id: str
    other_project: str
    flow: Flow
    mixed: Mixed
    target: str  # workflow with a submitted task "one" and an unsubmitted task "draft", never run by errors
    target_one: str
    target_draft: str
    empty: str  # workflow without any submitted task


@pytest.fixture(scope="module")
def log_mark(server: Server) -> int:
    return len(server.output())


@pytest.fixture(scope="module")
def flow(client: Any, project_id: str, log_mark: int) -> Flow:
    name = f"api_flow_{uid()}"
    wf = new_workflow(
        client, project_id, name, WorkflowParams=[{"ParamKey": "biz", "ParamValue": "x"}], WorkflowDesc="chain"
    )
    extract = new_task(client, project_id, wf, "extract", "echo extract")
    transform = new_task(client, project_id, wf, "transform", "print('transform')", upstream=[extract], type_id="30")
    load = new_task(client, project_id, wf, "load", "echo load", upstream=[transform])
    draft = new_task(client, project_id, wf, "draft", "echo never", submit=False)
    run1 = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "biz", "ParamValue": "y"}])
    data1 = wait_run(client, project_id, run1)
    run2 = start_run(client, project_id, wf)  # strictly after run1 ended: distinct, ordered times
    data2 = wait_run(client, project_id, run2)
    tasks = {"extract": extract, "transform": transform, "load": load}
    return Flow(wf, name, tasks, draft, data1, data2)


@pytest.fixture(scope="module")
def mixed(client: Any, project_id: str, log_mark: int) -> Mixed:
    name = f"api_mixed_{uid()}"
    wf = new_workflow(client, project_id, name)
    boom = new_task(client, project_id, wf, "boom", "exit 3", MaxRetryNumber=0)
    after = new_task(client, project_id, wf, "after", "true", upstream=[boom], MaxRetryNumber=0)
    fine = new_task(client, project_id, wf, "fine", "true", MaxRetryNumber=0)
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    return Mixed(wf, name, {"boom": boom, "after": after, "fine": fine}, data)


@pytest.fixture(scope="module")
def ctx(client: Any, project_id: str, flow: Flow, mixed: Mixed) -> Ctx:
    tag = uid()
    other = call(client, "CreateProject", {"Project": {"ProjectName": f"api_other_{tag}", "DisplayName": "other"}})
    target = new_workflow(client, project_id, f"api_target_{tag}")
    one = new_task(client, project_id, target, "one", "true")
    draft = new_task(client, project_id, target, "draft", "true", submit=False)
    empty = new_workflow(client, project_id, f"api_empty_{tag}")
    new_task(client, project_id, empty, "unsubmitted", "true", submit=False)
    return Ctx(project_id, str(other.ProjectId), flow, mixed, target, one, draft, empty)


# ------------------------------------------------------------------------------------------------ projects


def test_create_get_list_projects_round_trip(client: Any) -> None:
    tag = uid()
    a = call(
        client,
        "CreateProject",
        {"Project": {"ProjectName": f"tf_a_{tag}", "DisplayName": f"显示 A {tag}", "ProjectModel": "STANDARD"}},
    ).ProjectId
    b = call(
        client, "CreateProject", {"Project": {"ProjectName": f"tf_b_{tag}", "DisplayName": "B", "ScheduleMode": "task"}}
    ).ProjectId
    assert a.isdigit() and b.isdigit() and a != b

    got = call(client, "GetProject", {"ProjectId": a})
    assert (got.ProjectId, got.ProjectName, got.DisplayName) == (a, f"tf_a_{tag}", f"显示 A {tag}")
    assert (got.ProjectModel, got.Status, got.DisplayStatus) == ("STANDARD", 1, "ENABLED")
    assert [(e.Key, e.Value) for e in got.WorkspaceExt] == [("scheduleMode", "workflow")]
    assert got.CreatorUin and got.ProjectOwnerUin == got.CreatorUin
    assert datetime.fromisoformat(got.CreateTime).tzinfo is not None
    got_b = call(client, "GetProject", {"ProjectId": b})
    assert got_b.ProjectModel == "SIMPLE"  # default
    assert [(e.Key, e.Value) for e in got_b.WorkspaceExt] == [("scheduleMode", "task")]

    first = call(client, "ListProjects", {"ProjectIds": [a, b], "PageSize": 1})
    assert (first.TotalCount, first.TotalPageNumber, first.PageNumber, first.PageSize) == (2, 2, 1, 1)
    second = call(client, "ListProjects", {"ProjectIds": [a, b], "PageSize": 1, "PageNumber": 2})
    assert (second.TotalCount, second.PageNumber, len(second.Items)) == (2, 2, 1)
    assert {first.Items[0].ProjectId, second.Items[0].ProjectId} == {a, b}
    beyond = call(client, "ListProjects", {"ProjectIds": [a, b], "PageSize": 1, "PageNumber": 3})
    assert (beyond.TotalCount, beyond.Items) == (2, [])

    def ids(**params: Any) -> set[str]:
        return {p.ProjectId for p in call(client, "ListProjects", params).Items}

    assert ids(ProjectName=tag) == {a, b}  # substring of the name
    assert ids(ProjectName=f"显示 a {tag}") == {a}  # display name too, case-insensitively
    assert ids(ProjectIds=[a, b], ProjectModel="STANDARD") == {a}
    assert ids(ProjectIds=[a, b], Status=1) == {a, b}
    assert ids(ProjectIds=[a, b], Status=0) == set()
    everything = call(client, "ListProjects", {})
    assert everything.PageSize == 10 and everything.PageNumber == 1 and everything.TotalCount >= 3


def test_typed_sdk_models_surface_errors_too(client: Any) -> None:
    with pytest.raises(TencentCloudSDKException) as exc:
        client.GetProject(models.GetProjectRequest())
    assert exc.value.get_code() == "MissingParameter" and "ProjectId" in exc.value.get_message()
    req = models.GetProjectRequest()
    req.ProjectId = "404404"
    with pytest.raises(TencentCloudSDKException) as exc:
        client.GetProject(req)
    assert exc.value.get_code() == "ResourceNotFound" and "404404" in exc.value.get_message()


def test_duplicate_project_name(client: Any) -> None:
    name = f"tf_dup_{uid()}"
    call(client, "CreateProject", {"Project": {"ProjectName": name, "DisplayName": "x"}})
    fails(
        client,
        "CreateProject",
        {"Project": {"ProjectName": name, "DisplayName": "y"}},
        "InvalidParameter.DuplicateName",
        name,
    )


# ----------------------------------------------------------------------------------------------- workflows


def test_create_and_get_trigger_workflow_round_trip(client: Any, project_id: str) -> None:
    tag = uid()
    name = f"api_wf_{tag}"
    wf = call(
        client,
        "CreateTriggerWorkflow",
        {
            "ProjectId": project_id,
            "WorkflowName": name,
            "ParentFolderPath": f"/api_{tag}/sub/",
            "WorkflowDesc": "描述",
            "OwnerUin": "100000000001",
            "ExecuteUserUin": "100000000002",
            "WorkflowParams": [{"ParamKey": "biz", "ParamValue": "1"}, {"ParamKey": "env", "ParamValue": "prod"}],
            "TriggerWorkflowRunConfiguration": {"MaxConcurrentNum": 3, "QueuingMode": 0},
            "SchedulerStatus": "PAUSED",
            "TriggerWorkflowSchedulerConfigurations": [
                {
                    "TriggerMode": "TIME_TRIGGER",
                    "ConfigMode": "CRON_EXPRESSION",
                    "CycleType": "DAY_CYCLE",
                    "CrontabExpression": "0 0 2 * * ? *",
                    "SchedulerStatus": "ACTIVE",
                }
            ],
        },
    ).WorkflowId
    assert str(uuid.UUID(wf)) == wf

    got = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    assert got.WorkflowName == name
    assert got.Path == f"/api_{tag}/sub/{name}"  # trailing slash of the folder normalised away
    assert got.WorkflowDesc == "描述"
    assert (got.OwnerUin, got.ExecuteUserUin) == ("100000000001", "100000000002")
    assert got.CreateUserUin and got.CreateUserUin != got.OwnerUin
    assert [(p.ParamKey, p.ParamValue) for p in got.WorkflowParams] == [("biz", "1"), ("env", "prod")]
    run_config = got.TriggerWorkflowRunConfiguration
    assert (run_config.MaxConcurrentNum, run_config.QueuingMode) == (3, 0)
    (trigger,) = got.TriggerWorkflowSchedulerConfigurations
    assert trigger.SchedulerStatus == "PAUSED"  # the top-level value overrides each trigger's own
    assert (trigger.CycleType, trigger.CrontabExpression) == ("DAY_CYCLE", "0 0 2 * * ? *")
    assert trigger.TriggerId and got.SchedulerStatus == "PAUSED" and got.TriggerMode == "TIME_TRIGGER"

    # minimal workflow: decisions.md Q-C3 defaults and the caller as owner/executor
    minimal = new_workflow(client, project_id, f"api_wf_min_{tag}")
    got = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": minimal})
    assert got.Path == f"/默认文件夹/api_wf_min_{tag}"
    assert (got.TriggerWorkflowRunConfiguration.MaxConcurrentNum, got.TriggerWorkflowRunConfiguration.QueuingMode) == (
        1,
        1,
    )
    assert got.OwnerUin == got.CreateUserUin == got.ExecuteUserUin
    assert got.WorkflowParams == [] and got.TriggerWorkflowSchedulerConfigurations == []


def test_same_workflow_name_in_another_folder_is_allowed(client: Any, project_id: str) -> None:
    name = f"api_twin_{uid()}"
    first = new_workflow(client, project_id, name)
    second = new_workflow(client, project_id, name, ParentFolderPath=f"/{name}_folder")
    assert first != second
    fails(
        client,
        "CreateTriggerWorkflow",
        {"ProjectId": project_id, "WorkflowName": name, "ParentFolderPath": "/默认文件夹/"},
        "InvalidParameter.DuplicateName",
        name,
    )


def test_list_trigger_workflows_paging_and_filters(client: Any, project_id: str) -> None:
    tag = uid()
    folder = f"/api_list_{tag}"
    names = [f"lw_{tag}_{i:02d}" for i in range(11)]
    ids = {n: new_workflow(client, project_id, n, ParentFolderPath=folder) for n in names}
    deep = new_workflow(client, project_id, f"lw_{tag}_deep", ParentFolderPath=f"{folder}/deep")
    ids[f"lw_{tag}_deep"] = deep
    owned = new_workflow(client, project_id, f"lw_{tag}_owned", OwnerUin="100000000009")
    new_workflow(client, project_id, f"lw-{tag}-dash")  # must not match a keyword with "_" in it
    new_workflow(client, project_id, f"decoy-{tag}", ParentFolderPath=f"/api-list-{tag}/sub")  # "_" is not a wildcard

    def page(**params: Any) -> Any:
        return call(client, "ListTriggerWorkflows", {"ProjectId": project_id, **params})

    first = page(ParentFolderPath=folder, PageSize=10)
    assert (first.TotalCount, first.TotalPageNumber, first.PageNumber, first.PageSize) == (12, 2, 1, 10)
    ordered = sorted(ids)  # items are sorted by name
    assert [w.WorkflowName for w in first.Items] == ordered[:10]
    assert all(w.WorkflowId == ids[w.WorkflowName] for w in first.Items)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", w.CreateTime) for w in first.Items)
    second = page(ParentFolderPath=folder, PageNumber=2)
    assert (second.PageNumber, [w.WorkflowName for w in second.Items]) == (2, ordered[10:])
    assert page(ParentFolderPath=folder, PageNumber=3).Items == []

    clamped = page(ParentFolderPath=folder, PageSize=1)  # design lists have a minimum page size of 10
    assert (clamped.PageSize, len(clamped.Items), clamped.TotalPageNumber) == (10, 10, 2)

    assert page(ParentFolderPath=f"{folder}/deep").TotalCount == 1
    assert page(Keyword=f"LW_{tag.upper()}").TotalCount == 13  # case-insensitive; 12 + owned, no dash one
    assert page(Keyword=f"lw%{tag}").TotalCount == 0  # LIKE metacharacters match literally
    assert [w.WorkflowId for w in page(Keyword=deep).Items] == [deep]  # exact ID
    assert [w.WorkflowId for w in page(Keyword=tag, OwnerUin="100000000009").Items] == [owned]
    assert page(ParentFolderPath=folder, CreateTime=["2000-01-01 00:00:00", "2999-12-31 23:59:59"]).TotalCount == 12
    assert page(ParentFolderPath=folder, ModifyTime=["2000-01-01 00:00:00", "2000-01-02 00:00:00"]).TotalCount == 0


# ------------------------------------------------------------------------------------------------ tasks


def test_create_and_submit_trigger_tasks_then_run_them(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"api_tasks_{uid()}")
    first = call(
        client,
        "CreateTriggerTask",
        {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": "first", "TaskTypeId": "35", "WorkflowId": wf},
            "TriggerTaskConfiguration": {"CodeContent": b64("echo first")},
            "TriggerTaskSchedulerConfiguration": {},
        },
    ).TaskId
    assert re.fullmatch(r"\d{17}", first)  # yyyyMMddHHmmssSSS, like WeData
    second = call(
        client,
        "CreateTriggerTask",
        {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": "second", "TaskTypeId": "30", "WorkflowId": wf},
            "TriggerTaskConfiguration": {
                "CodeContent": b64("print('second')"),
                "TaskSchedulingParameterList": [{"ParamKey": "p", "ParamValue": "v"}],
            },
            "TriggerTaskSchedulerConfiguration": {
                "UpstreamDependencyConfigList": [{"TaskId": first}],
                "RunPriorityType": 4,
                "DependencyTriggerPolicy": "ALL_DONE",
                "MaxRetryNumber": 0,
            },
        },
    ).TaskId
    assert second != first

    submitted = call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": first, "VersionRemark": "v1"})
    assert submitted.Status is True and submitted.VersionId.startswith(first + "_")
    change = {"TriggerTaskBaseAttribute": {"TaskDescription": "edited"}}  # with nothing new, a submit mints none
    call(client, "UpdateTriggerTaskPartially", {"ProjectId": project_id, "TaskId": first, "NewSetting": change})
    again = call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": first, "VersionRemark": "v2"})
    assert again.Status is True and again.VersionId.startswith(first + "_") and again.VersionId != submitted.VersionId
    second_version = call(
        client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": second, "VersionRemark": "v1"}
    ).VersionId

    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    by_name = {t.TaskName: t for t in data.TriggerTaskRuns}
    assert by_name["first"].TaskVersionId == again.VersionId  # the latest submitted version runs
    assert by_name["second"].TaskVersionId == second_version
    assert (by_name["first"].TaskType, by_name["first"].TaskTypeId) == ("SHELL", 35)
    assert (by_name["second"].TaskType, by_name["second"].TaskTypeId) == ("PYTHON", 30)
    assert by_name["second"].DependOnList == [first]
    assert json.loads(by_name["second"].RunParams) == {"p": "v"}
    assert json.loads(by_name["second"].TaskTypeExtensions)["runPriority"] == "4"
    detail = call(
        client, "GetTriggerTaskRun", {"ProjectId": project_id, "TaskExecutionId": by_name["second"].ExecutionId}
    )
    assert detail.DependencyTriggerPolicy == "ALL_DONE"


def test_duplicate_task_name_and_upstream_that_forbids_downstream(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"api_taskdup_{uid()}")
    lonely = new_task(client, project_id, wf, "lonely", "true", submit=False, AllowDownstreamDependency=0)
    params = {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": "lonely", "TaskTypeId": "35", "WorkflowId": wf},
        "TriggerTaskConfiguration": {},
        "TriggerTaskSchedulerConfiguration": {},
    }
    fails(client, "CreateTriggerTask", params, "InvalidParameter.DuplicateName", "lonely")
    params["TriggerTaskBaseAttribute"] = {"TaskName": "child", "TaskTypeId": "35", "WorkflowId": wf}
    params["TriggerTaskSchedulerConfiguration"] = {"UpstreamDependencyConfigList": [{"TaskId": lonely}]}
    fails(client, "CreateTriggerTask", params, "InvalidParameterValue", lonely)


# ------------------------------------------------------------------------------------------------- runs


def test_create_trigger_workflow_run_and_get_it(client: Any, project_id: str, flow: Flow) -> None:
    run1, run2 = flow.run1.TriggerWorkflowRun, flow.run2.TriggerWorkflowRun
    for run in (run1, run2):
        assert run.ExecutionState == "SUCCESS"
        assert (run.ProjectId, run.WorkflowId, run.WorkflowName) == (project_id, flow.workflow_id, flow.name)
        assert run.TriggerType == "Manual"
        assert sorted(run.SelectedTaskIds) == sorted(flow.tasks.values())  # the unsubmitted draft is left out
        assert run.FolderName == "默认文件夹"
    assert json.loads(run1.WorkflowParams) == {"biz": "y"}  # AdvancedParams override the workflow's
    assert json.loads(run2.WorkflowParams) == {"biz": "x"}
    assert int(run2.CreateTime) > int(run1.ExecutionEndTime)

    data = get_run(client, project_id, run1.ExecutionId)
    assert data.TriggerWorkflowRun.ExecutionId == run1.ExecutionId
    assert [t.TaskName for t in data.TriggerTaskRuns] == ["extract", "transform", "load"]  # DAG order
    assert task_states(data) == {"extract": "SUCCESS", "transform": "SUCCESS", "load": "SUCCESS"}
    assert all(t.WorkflowExecutionId == run1.ExecutionId for t in data.TriggerTaskRuns)
    assert [(b.LabelKey, b.LabelValue, b.Count) for b in data.BizStateEnumInfos] == [("SUCCESS", "运行成功", 3)]


def test_partial_run_with_task_ids(client: Any, ctx: Ctx) -> None:
    run_id = start_run(client, ctx.project_id, ctx.target, TaskIds=[ctx.target_one])
    assert str(uuid.UUID(run_id)) == run_id
    data = wait_run(client, ctx.project_id, run_id)
    assert data.TriggerWorkflowRun.SelectedTaskIds == [ctx.target_one]
    assert [(t.TaskId, t.ExecutionState) for t in data.TriggerTaskRuns] == [(ctx.target_one, "SUCCESS")]


def test_get_trigger_workflow_run_filters_and_orders(client: Any, project_id: str, flow: Flow, mixed: Mixed) -> None:
    run_id = mixed.run.TriggerWorkflowRun.ExecutionId
    assert mixed.run.TriggerWorkflowRun.ExecutionState == "FAILED"

    def names(run: str = run_id, filters: list[Any] | None = None, orders: list[Any] | None = None) -> list[str]:
        params: dict[str, Any] = {"ProjectId": project_id, "WorkflowExecutionId": run}
        if filters is not None:
            params["Filters"] = filters
        if orders is not None:
            params["OrderFields"] = orders
        return [t.TaskName for t in call(client, "GetTriggerWorkflowRun", params).TriggerTaskRuns]

    everything = names()
    assert sorted(everything) == ["after", "boom", "fine"]
    assert everything.index("boom") < everything.index("after")  # DAG order

    failed_like = call(
        client,
        "GetTriggerWorkflowRun",
        {
            "ProjectId": project_id,
            "WorkflowExecutionId": run_id,
            "Filters": [flt("ExecutionState", "FAILED", "UPSTREAM_FAILED")],
        },
    )
    assert sorted(t.TaskName for t in failed_like.TriggerTaskRuns) == ["after", "boom"]
    # the state strip counts the whole run, before Filters (decisions.md Q-B1), in its fixed order
    assert [(b.LabelKey, b.LabelValue, b.Count) for b in failed_like.BizStateEnumInfos] == [
        ("SUCCESS", "运行成功", 1),
        ("FAILED", "运行失败", 1),
        ("UPSTREAM_FAILED", "上游失败", 1),
    ]

    by_name = {t.TaskName: t for t in mixed.run.TriggerTaskRuns}
    assert names(filters=[flt("Keyword", "BOO")]) == ["boom"]
    assert names(filters=[flt("Keyword", mixed.tasks["after"])]) == ["after"]  # exact task ID
    assert sorted(names(filters=[flt("Keyword", "fin", "aft")])) == ["after", "fine"]  # values OR-ed
    assert names(filters=[flt("TaskId", mixed.tasks["fine"])]) == ["fine"]
    assert names(filters=[flt("ExecutionId", by_name["boom"].ExecutionId)]) == ["boom"]
    assert sorted(names(filters=[flt("TaskTypeId", "35")])) == ["after", "boom", "fine"]
    assert names(filters=[flt("TaskTypeId", "30")]) == []
    assert names(filters=[flt("ExecutionState", "SUCCESS"), flt("Keyword", "boom")]) == []  # filters AND-ed

    assert names(orders=[order("TaskName", "ASC")]) == ["after", "boom", "fine"]
    assert names(orders=[order("TaskName", "DESC")]) == ["fine", "boom", "after"]
    assert names(orders=[order("TaskName", "asc")]) == ["after", "boom", "fine"]  # direction case-insensitive
    assert len({t.CreateTime for t in mixed.run.TriggerTaskRuns}) == 1  # all created together, so ...
    assert names(orders=[order("CreateTime", "ASC"), order("TaskName", "DESC")]) == ["fine", "boom", "after"]
    started = names(orders=[order("ExecutionStartTime", "ASC")])
    assert started[-1] == "after"  # never started: missing values go last
    starts = {t.TaskName: int(t.ExecutionStartTime) for t in mixed.run.TriggerTaskRuns if t.ExecutionStartTime}
    assert started[:2] == sorted(starts, key=lambda n: (starts[n], started.index(n)))

    flow_run = flow.run1.TriggerWorkflowRun.ExecutionId
    assert names(flow_run, filters=[flt("TaskTypeId", "30")]) == ["transform"]
    assert names(flow_run, orders=[order("ExecutionEndTime", "DESC")]) == ["load", "transform", "extract"]
    assert names(flow_run, orders=[order("ExecutionStartTime", "ASC")]) == ["extract", "transform", "load"]


def test_list_trigger_workflow_runs_filters_orders_and_paging(
    client: Any, project_id: str, flow: Flow, mixed: Mixed
) -> None:
    run1, run2 = flow.run1.TriggerWorkflowRun, flow.run2.TriggerWorkflowRun
    by_wf = flt("WorkflowId", flow.workflow_id)

    def listing(*filters: dict[str, Any], orders: list[Any] | None = None, **paging: Any) -> Any:
        params: dict[str, Any] = {"ProjectId": project_id, "Filters": list(filters), **paging}
        if orders is not None:
            params["OrderFields"] = orders
        return call(client, "ListTriggerWorkflowRuns", params)

    def ids(*filters: dict[str, Any], orders: list[Any] | None = None) -> list[str]:
        return [r.ExecutionId for r in listing(*filters, orders=orders).Items]

    page = listing(by_wf)
    assert (page.TotalCount, page.TotalPageNumber, page.PageNumber, page.PageSize) == (2, 1, 1, 10)
    assert [r.ExecutionId for r in page.Items] == [run2.ExecutionId, run1.ExecutionId]  # newest first
    item = page.Items[1]
    assert (item.WorkflowName, item.ExecutionState, item.TriggerType) == (flow.name, "SUCCESS", "Manual")
    assert (item.ScheduleTime, item.CreateTime) == (run1.ScheduleTime, run1.CreateTime)

    first = listing(by_wf, PageSize=1)
    assert (first.TotalCount, first.TotalPageNumber, first.PageSize) == (2, 2, 1)
    second = listing(by_wf, PageSize=1, PageNumber=2)
    assert [r.ExecutionId for r in first.Items + second.Items] == [run2.ExecutionId, run1.ExecutionId]
    assert listing(by_wf, PageSize=1, PageNumber=3).Items == []
    assert listing(by_wf, PageNumber=2**64 - 1).Items == []  # far past the end is just empty

    assert ids(by_wf, orders=[order("CreateTime", "ASC")]) == [run1.ExecutionId, run2.ExecutionId]
    assert ids(by_wf, orders=[order("CreateTime", "DESC")]) == [run2.ExecutionId, run1.ExecutionId]
    assert ids(by_wf, orders=[order("EndTime", "ASC")]) == [run1.ExecutionId, run2.ExecutionId]
    assert ids(by_wf, orders=[order("ScheduleTime", "DESC")]) == [run2.ExecutionId, run1.ExecutionId]

    both = {run1.ExecutionId, run2.ExecutionId}
    assert set(ids(flt("Keyword", flow.name.upper()))) == both  # case-insensitive name match
    assert set(ids(flt("Keyword", flow.workflow_id))) == both  # exact ID
    assert ids(flt("Keyword", flow.name.replace("_", "%"))) == []  # LIKE metacharacters are literal
    assert ids(by_wf, flt("ExecutionId", run1.ExecutionId)) == [run1.ExecutionId]
    assert set(ids(by_wf, flt("ExecutionState", "SUCCESS"))) == both
    assert ids(by_wf, flt("ExecutionState", "FAILED")) == []
    failed = ids(flt("WorkflowId", mixed.workflow_id), flt("ExecutionState", "FAILED", "KILLED"))
    assert failed == [mixed.run.TriggerWorkflowRun.ExecutionId]
    assert set(ids(by_wf, flt("TriggerType", "Manual"))) == both
    assert set(ids(by_wf, flt("TriggerType", "ManualTrigger"))) == both  # the documented spelling
    assert set(ids(by_wf, flt("FolderId", run1.FolderId))) == both
    assert set(ids(by_wf, flt("InChargeUin", run1.UserUinInCharge))) == both
    assert set(ids(by_wf, flt("ExecuteUserUin", run1.ExecuteUserUin))) == both
    assert ids(by_wf, flt("InChargeUin", "1")) == []

    s1, s2 = int(run1.ScheduleTime), int(run2.ScheduleTime)
    assert s1 < s2
    ge, le = "ScheduleTimeGreaterEqual", "ScheduleTimeLessEqual"
    # epoch milliseconds, inclusive bounds
    assert ids(by_wf, flt(ge, str(s2))) == [run2.ExecutionId]
    assert ids(by_wf, flt(le, str(s1))) == [run1.ExecutionId]
    assert set(ids(by_wf, flt(ge, str(s1)), flt(le, str(s2)))) == both
    assert ids(by_wf, flt(ge, str(s2 + 1))) == []
    # epoch seconds
    assert set(ids(by_wf, flt(ge, str(s1 // 1000)))) == both
    # yyyy-MM-dd HH:mm:ss, read as UTC+8
    assert set(ids(by_wf, flt(ge, wall(s1)))) == both
    assert ids(by_wf, flt(ge, wall(s2 + 1000))) == []
    assert set(ids(by_wf, flt(le, wall(s2 + 1000)))) == both
    assert ids(by_wf, flt(le, wall(s2 + 1000, UTC))) == []  # the same text in UTC is 8 h earlier


def test_get_trigger_task_run(client: Any, project_id: str, flow: Flow, mixed: Mixed) -> None:
    run = flow.run1.TriggerWorkflowRun
    for brief in flow.run1.TriggerTaskRuns:
        got = call(client, "GetTriggerTaskRun", {"ProjectId": project_id, "TaskExecutionId": brief.ExecutionId})
        assert (got.ExecutionId, got.TaskId, got.TaskName) == (brief.ExecutionId, brief.TaskId, brief.TaskName)
        assert (got.WorkflowExecutionId, got.WorkflowId, got.WorkflowName) == (
            run.ExecutionId,
            flow.workflow_id,
            flow.name,
        )
        assert (got.ExecutionState, got.WorkflowExecutionState, got.ExecutionResult) == (
            "SUCCESS",
            "SUCCESS",
            "success",
        )
        assert got.ScheduleTime == run.ScheduleTime
        assert got.DependencyTriggerPolicy == "ALL_SUCCESS"  # the scheduler default
        assert json.loads(got.WorkflowParams) == {"biz": "y"}
        assert got.SupportRerun is True and got.IsLatestExecution is True
    transform = next(t for t in flow.run1.TriggerTaskRuns if t.TaskName == "transform")
    got = call(client, "GetTriggerTaskRun", {"ProjectId": project_id, "TaskExecutionId": transform.ExecutionId})
    assert (got.TaskType, got.TaskTypeId, got.DependOnList) == ("PYTHON", 30, [flow.tasks["extract"]])

    boom = next(t for t in mixed.run.TriggerTaskRuns if t.TaskName == "boom")
    got = call(client, "GetTriggerTaskRun", {"ProjectId": project_id, "TaskExecutionId": boom.ExecutionId})
    assert (got.ExecutionState, got.ExecutionResult, got.ErrorCodeStr) == ("FAILED", "failed", "exit code 3")
    assert got.WorkflowExecutionState == "FAILED"


def test_list_trigger_task_runs_filters_orders_and_paging(
    client: Any, project_id: str, flow: Flow, mixed: Mixed
) -> None:
    run1, run2 = flow.run1.TriggerWorkflowRun.ExecutionId, flow.run2.TriggerWorkflowRun.ExecutionId
    by_wf = flt("WorkflowId", flow.workflow_id)
    by_run1 = flt("WorkflowExecutionId", run1)

    def listing(*filters: dict[str, Any], orders: list[Any] | None = None, **paging: Any) -> Any:
        params: dict[str, Any] = {"ProjectId": project_id, "Filters": list(filters), **paging}
        if orders is not None:
            params["OrderFields"] = orders
        return call(client, "ListTriggerTaskRuns", params)

    pages = [listing(by_run1, PageSize=1, PageNumber=n) for n in (1, 2, 3)]
    assert all((p.TotalCount, p.TotalPageNumber, p.PageSize) == (3, 3, 1) for p in pages)
    assert [p.PageNumber for p in pages] == [1, 2, 3]
    assert sorted(p.Items[0].TaskName for p in pages) == ["extract", "load", "transform"]
    beyond = listing(by_run1, PageSize=1, PageNumber=4)
    assert (beyond.TotalCount, beyond.Items) == (3, [])
    default = listing(by_run1)
    assert (default.PageNumber, default.PageSize, default.TotalPageNumber) == (1, 10, 1)

    item = next(i for i in default.Items if i.TaskName == "transform")
    assert (item.TaskId, item.WorkflowId, item.WorkflowName) == (flow.tasks["transform"], flow.workflow_id, flow.name)
    assert (item.TaskExecutionState, item.TriggerType, item.IsLatestExecution) == ("SUCCESS", "Manual", True)
    assert item.ScheduleTime == flow.run1.TriggerWorkflowRun.ScheduleTime
    assert item.ExecutionTime == str(int(item.ExecutionEndTime) - int(item.ExecutionStartTime))

    def runs_of(*filters: dict[str, Any], orders: list[Any] | None = None) -> list[str]:
        return [i.WorkflowExecutionId for i in listing(*filters, orders=orders).Items]

    assert runs_of(by_wf) == [run2] * 3 + [run1] * 3  # newest first by default
    assert runs_of(by_wf, orders=[order("CreateTime", "ASC")]) == [run1] * 3 + [run2] * 3
    assert runs_of(by_wf, orders=[order("ScheduleTime", "DESC")]) == [run2] * 3 + [run1] * 3

    def names(*filters: dict[str, Any], orders: list[Any] | None = None) -> list[str]:
        return [i.TaskName for i in listing(*filters, orders=orders).Items]

    assert names(by_run1, orders=[order("EndTime", "ASC")]) == ["extract", "transform", "load"]
    assert names(by_run1, orders=[order("EndTime", "DESC")]) == ["load", "transform", "extract"]

    assert sorted(runs_of(by_wf, flt("TaskId", flow.tasks["transform"]))) == sorted([run1, run2])
    assert names(by_wf, flt("Keyword", "TRANSF")) == ["transform", "transform"]
    assert names(by_wf, flt("Keyword", flow.tasks["load"])) == ["load", "load"]
    assert listing(by_wf, flt("ExecutionState", "SUCCESS")).TotalCount == 6
    assert listing(by_wf, flt("ExecutionState", "FAILED")).TotalCount == 0
    upstream_failed = listing(flt("WorkflowId", mixed.workflow_id), flt("ExecutionState", "UPSTREAM_FAILED"))
    assert [(i.TaskName, i.TaskExecutionState) for i in upstream_failed.Items] == [("after", "UPSTREAM_FAILED")]
    extract1 = next(t for t in flow.run1.TriggerTaskRuns if t.TaskName == "extract")
    assert [i.ExecutionId for i in listing(flt("ExecutionId", extract1.ExecutionId)).Items] == [extract1.ExecutionId]
    assert listing(by_wf, flt("FolderId", flow.run1.TriggerWorkflowRun.FolderId)).TotalCount == 6
    assert listing(by_wf, flt("InChargeUin", flow.run1.TriggerWorkflowRun.UserUinInCharge)).TotalCount == 6

    s2 = flow.run2.TriggerWorkflowRun.ScheduleTime
    assert runs_of(by_wf, flt("ScheduleTimeGreaterEqual", s2)) == [run2] * 3
    assert runs_of(by_wf, flt("ScheduleTimeLessEqual", wall(int(s2) + 1000))) == [run2] * 3 + [run1] * 3
    assert runs_of(by_wf, flt("ScheduleTimeLessEqual", flow.run1.TriggerWorkflowRun.ScheduleTime)) == [run1] * 3


def test_kill_trigger_workflow_runs(client: Any, project_id: str, mixed: Mixed) -> None:
    name = f"api_kill_{uid()}"
    wf = new_workflow(client, project_id, name)
    new_task(client, project_id, wf, "sleeper", "sleep 30 & wait")
    first = start_run(client, project_id, wf)
    wait_run(client, project_id, first, states={"RUNNING"})

    def kill(**params: Any) -> list[Any]:
        return call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": wf, **params})

    assert kill(Pending=True) == []  # the run is running, not waiting
    foreign = mixed.run.TriggerWorkflowRun.ExecutionId
    res = kill(WorkflowExecutionIdList=[MISSING_ID, first, first, foreign])
    # one item per distinct ID, in request order
    assert [(r.ItemId, r.OpStatus) for r in res] == [(MISSING_ID, False), (first, True), (foreign, False)]
    assert all(r.ItemName == name for r in res)
    assert len({r.ExecutionActionId for r in res}) == 1 and res[0].ExecutionActionId
    assert MISSING_ID in res[0].ErrorMessage and res[1].ErrorMessage is None
    data = get_run(client, project_id, first)
    assert (data.TriggerWorkflowRun.ExecutionState, data.TriggerWorkflowRun.ErrorCodeStr) == ("KILLED", "UserKilled")
    assert task_states(data) == {"sleeper": "KILLED"}
    assert get_run(client, project_id, foreign).TriggerWorkflowRun.ExecutionState == "FAILED"  # untouched

    second = start_run(client, project_id, wf)
    wait_run(client, project_id, second, states={"RUNNING"})
    assert [(r.ItemId, r.OpStatus) for r in kill(All=True)] == [(second, True)]
    assert get_run(client, project_id, second).TriggerWorkflowRun.ExecutionState == "KILLED"
    assert kill(All=True) == []  # nothing left to stop
    (again,) = kill(WorkflowExecutionIdList=[first])
    assert again.OpStatus is False and "KILLED" in again.ErrorMessage


# ------------------------------------------------------------------------------------------------ refusals


def task_req(c: Ctx, *, drop: tuple[str, ...] = (), **sections: dict[str, Any]) -> dict[str, Any]:
    """A valid CreateTriggerTask body for the target workflow, with sections overridden or dropped."""
    params: dict[str, Any] = {
        "ProjectId": c.project_id,
        "TriggerTaskBaseAttribute": {"TaskName": f"t_{uid()}", "TaskTypeId": "35", "WorkflowId": c.target},
        "TriggerTaskConfiguration": {"CodeContent": b64("true")},
        "TriggerTaskSchedulerConfiguration": {},
    }
    for key, value in sections.items():
        params[key] = {**params[key], **value}
    for key in drop:
        if "." in key:
            section, field = key.split(".", 1)
            params[section] = {k: v for k, v in params[section].items() if k != field}
        else:
            params.pop(key)
    return params


def base(**over: Any) -> dict[str, Any]:
    return {"TriggerTaskBaseAttribute": over}


def sched(**over: Any) -> dict[str, Any]:
    return {"TriggerTaskSchedulerConfiguration": over}


def conf(**over: Any) -> dict[str, Any]:
    return {"TriggerTaskConfiguration": over}


def wf_req(c: Ctx, **extra: Any) -> dict[str, Any]:
    return {"ProjectId": c.project_id, "WorkflowName": f"api_bad_{uid()}", "ParentFolderPath": "/默认文件夹", **extra}


def without(params: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != key}


def run_of(c: Ctx) -> str:
    return str(c.mixed.run.TriggerWorkflowRun.ExecutionId)


def task_run_of(c: Ctx) -> str:
    return str(c.mixed.run.TriggerTaskRuns[0].ExecutionId)


def get_run_req(c: Ctx, **extra: Any) -> dict[str, Any]:
    return {"ProjectId": c.project_id, "WorkflowExecutionId": run_of(c), **extra}


def kill_req(c: Ctx, **extra: Any) -> dict[str, Any]:
    return {"ProjectId": c.project_id, "WorkflowId": c.target, **extra}


# (action, params builder, code, words the message must contain, or a builder of them)
Mentions = tuple[str, ...] | Callable[[Ctx], tuple[str, ...]]
Case = tuple[str, Callable[[Ctx], dict[str, Any]], str, Mentions]

ERROR_CASES: dict[str, Case] = {
    # ---- CreateProject
    "project-missing": ("CreateProject", lambda c: {}, "MissingParameter", ("Project",)),
    "project-missing-name": (
        "CreateProject",
        lambda c: {"Project": {"DisplayName": "d"}},
        "MissingParameter",
        ("Project.ProjectName",),
    ),
    "project-missing-display": (
        "CreateProject",
        lambda c: {"Project": {"ProjectName": f"p_{uid()}"}},
        "MissingParameter",
        ("Project.DisplayName",),
    ),
    "project-unknown-top": (
        "CreateProject",
        lambda c: {"Project": {"ProjectName": f"p_{uid()}", "DisplayName": "d"}, "Bogus": 1},
        "UnknownParameter",
        ("Bogus",),
    ),
    "project-unknown-nested": (
        "CreateProject",
        lambda c: {"Project": {"ProjectName": f"p_{uid()}", "DisplayName": "d", "Bogus": 1}},
        "UnknownParameter",
        ("Project.Bogus",),
    ),
    "project-wrong-type": ("CreateProject", lambda c: {"Project": "p"}, "InvalidParameter", ("Project",)),
    "project-wrong-type-nested": (
        "CreateProject",
        lambda c: {"Project": {"ProjectName": 7, "DisplayName": "d"}},
        "InvalidParameter",
        ("Project.ProjectName",),
    ),
    "project-bad-model": (
        "CreateProject",
        lambda c: {"Project": {"ProjectName": f"p_{uid()}", "DisplayName": "d", "ProjectModel": "HUGE"}},
        "InvalidParameterValue",
        ("Project.ProjectModel", "HUGE"),
    ),
    "project-bad-schedule-mode": (
        "CreateProject",
        lambda c: {"Project": {"ProjectName": f"p_{uid()}", "DisplayName": "d", "ScheduleMode": "cron"}},
        "InvalidParameterValue",
        ("Project.ScheduleMode",),
    ),
    "project-blank-name": (
        "CreateProject",
        lambda c: {"Project": {"ProjectName": "  ", "DisplayName": "d"}},
        "InvalidParameterValue",
        ("Project.ProjectName",),
    ),
    # ---- GetProject
    "get-project-missing": ("GetProject", lambda c: {}, "MissingParameter", ("ProjectId",)),
    "get-project-unknown": ("GetProject", lambda c: {"ProjectId": "404404"}, "ResourceNotFound", ("404404",)),
    "get-project-wrong-type": ("GetProject", lambda c: {"ProjectId": 404}, "InvalidParameter", ("ProjectId",)),
    "get-project-unknown-param": (
        "GetProject",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": "x"},
        "UnknownParameter",
        ("WorkflowId",),
    ),
    # ---- ListProjects
    "list-projects-page-size": ("ListProjects", lambda c: {"PageSize": 201}, "InvalidParameterValue", ("PageSize",)),
    "list-projects-page-zero": ("ListProjects", lambda c: {"PageNumber": 0}, "InvalidParameterValue", ("PageNumber",)),
    "list-projects-negative": ("ListProjects", lambda c: {"PageSize": -1}, "InvalidParameter", ("PageSize",)),
    "list-projects-status-type": ("ListProjects", lambda c: {"Status": "1"}, "InvalidParameter", ("Status",)),
    "list-projects-ids-type": ("ListProjects", lambda c: {"ProjectIds": "x"}, "InvalidParameter", ("ProjectIds",)),
    "list-projects-ids-item-type": (
        "ListProjects",
        lambda c: {"ProjectIds": ["1", 2]},
        "InvalidParameter",
        ("ProjectIds.1",),
    ),
    "list-projects-unknown": ("ListProjects", lambda c: {"Filters": []}, "UnknownParameter", ("Filters",)),
    # ---- CreateTriggerWorkflow
    "wf-missing-project": (
        "CreateTriggerWorkflow",
        lambda c: without(wf_req(c), "ProjectId"),
        "MissingParameter",
        ("ProjectId",),
    ),
    "wf-missing-name": (
        "CreateTriggerWorkflow",
        lambda c: without(wf_req(c), "WorkflowName"),
        "MissingParameter",
        ("WorkflowName",),
    ),
    "wf-missing-folder": (
        "CreateTriggerWorkflow",
        lambda c: without(wf_req(c), "ParentFolderPath"),
        "MissingParameter",
        ("ParentFolderPath",),
    ),
    "wf-missing-param-value": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, WorkflowParams=[{"ParamKey": "k"}]),
        "MissingParameter",
        ("WorkflowParams.0.ParamValue",),
    ),
    "wf-unknown-top": ("CreateTriggerWorkflow", lambda c: wf_req(c, Bogus="x"), "UnknownParameter", ("Bogus",)),
    "wf-unknown-nested": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, WorkflowParams=[{"ParamKey": "k", "ParamValue": "v", "Bogus": "x"}]),
        "UnknownParameter",
        ("WorkflowParams.0.Bogus",),
    ),
    "wf-unknown-run-config": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, TriggerWorkflowRunConfiguration={"Concurrency": 1}),
        "UnknownParameter",
        ("TriggerWorkflowRunConfiguration.Concurrency",),
    ),
    "wf-name-type": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, WorkflowName=1),
        "InvalidParameter",
        ("WorkflowName",),
    ),
    "wf-params-type": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, WorkflowParams={"ParamKey": "k", "ParamValue": "v"}),
        "InvalidParameter",
        ("WorkflowParams",),
    ),
    "wf-concurrency-type": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, TriggerWorkflowRunConfiguration={"MaxConcurrentNum": "2"}),
        "InvalidParameter",
        ("TriggerWorkflowRunConfiguration.MaxConcurrentNum",),
    ),
    "wf-concurrency-zero": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 0}),
        "InvalidParameterValue",
        ("TriggerWorkflowRunConfiguration.MaxConcurrentNum",),
    ),
    "wf-queuing-mode": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, TriggerWorkflowRunConfiguration={"QueuingMode": 2}),
        "InvalidParameterValue",
        ("TriggerWorkflowRunConfiguration.QueuingMode",),
    ),
    "wf-scheduler-status": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, SchedulerStatus="RUNNING"),
        "InvalidParameterValue",
        ("SchedulerStatus", "RUNNING"),
    ),
    "wf-cycle-type": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, TriggerWorkflowSchedulerConfigurations=[{"CycleType": "FORTNIGHT"}]),
        "InvalidParameterValue",
        ("TriggerWorkflowSchedulerConfigurations.0.CycleType",),
    ),
    "wf-blank-name": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, WorkflowName="   "),
        "InvalidParameterValue",
        ("WorkflowName",),
    ),
    "wf-duplicate-param": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(
            c, WorkflowParams=[{"ParamKey": "k", "ParamValue": "1"}, {"ParamKey": "k", "ParamValue": "2"}]
        ),
        "InvalidParameterValue",
        ("WorkflowParams.1.ParamKey",),
    ),
    "wf-unknown-project": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, ProjectId="404404"),
        "ResourceNotFound",
        ("404404",),
    ),
    "wf-duplicate-name": (
        "CreateTriggerWorkflow",
        lambda c: wf_req(c, WorkflowName=c.flow.name),
        "InvalidParameter.DuplicateName",
        ("already exists",),
    ),
    # ---- GetTriggerWorkflow
    "get-wf-missing": (
        "GetTriggerWorkflow",
        lambda c: {"ProjectId": c.project_id},
        "MissingParameter",
        ("WorkflowId",),
    ),
    "get-wf-unknown": (
        "GetTriggerWorkflow",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": MISSING_ID},
        "ResourceNotFound",
        (MISSING_ID,),
    ),
    "get-wf-unknown-project": (
        "GetTriggerWorkflow",
        lambda c: {"ProjectId": "404404", "WorkflowId": c.target},
        "ResourceNotFound",
        ("404404",),
    ),
    "get-wf-other-project": (
        "GetTriggerWorkflow",
        lambda c: {"ProjectId": c.other_project, "WorkflowId": c.target},
        "ResourceNotFound",
        ("workflow",),
    ),
    "get-wf-unknown-param": (
        "GetTriggerWorkflow",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "Verbose": True},
        "UnknownParameter",
        ("Verbose",),
    ),
    # ---- ListTriggerWorkflows
    "list-wf-missing": ("ListTriggerWorkflows", lambda c: {}, "MissingParameter", ("ProjectId",)),
    "list-wf-unknown-project": (
        "ListTriggerWorkflows",
        lambda c: {"ProjectId": "404404"},
        "ResourceNotFound",
        ("404404",),
    ),
    "list-wf-page-size": (
        "ListTriggerWorkflows",
        lambda c: {"ProjectId": c.project_id, "PageSize": 201},
        "InvalidParameterValue",
        ("PageSize",),
    ),
    "list-wf-page-number": (
        "ListTriggerWorkflows",
        lambda c: {"ProjectId": c.project_id, "PageNumber": 0},
        "InvalidParameterValue",
        ("PageNumber",),
    ),
    "list-wf-page-type": (
        "ListTriggerWorkflows",
        lambda c: {"ProjectId": c.project_id, "PageSize": "10"},
        "InvalidParameter",
        ("PageSize",),
    ),
    "list-wf-create-time-arity": (
        "ListTriggerWorkflows",
        lambda c: {"ProjectId": c.project_id, "CreateTime": ["2026-01-01 00:00:00"]},
        "InvalidParameterValue",
        ("CreateTime",),
    ),
    "list-wf-modify-time-format": (
        "ListTriggerWorkflows",
        lambda c: {"ProjectId": c.project_id, "ModifyTime": ["2026-01-01", "2026-01-02"]},
        "InvalidParameterValue",
        ("ModifyTime",),
    ),
    "list-wf-filters-unknown": (
        "ListTriggerWorkflows",
        lambda c: {"ProjectId": c.project_id, "Filters": [flt("Keyword", "x")]},
        "UnknownParameter",
        ("Filters",),
    ),
    # ---- CreateTriggerTask
    "task-missing-project": (
        "CreateTriggerTask",
        lambda c: task_req(c, drop=("ProjectId",)),
        "MissingParameter",
        ("ProjectId",),
    ),
    "task-missing-base": (
        "CreateTriggerTask",
        lambda c: task_req(c, drop=("TriggerTaskBaseAttribute",)),
        "MissingParameter",
        ("TriggerTaskBaseAttribute",),
    ),
    "task-missing-config": (
        "CreateTriggerTask",
        lambda c: task_req(c, drop=("TriggerTaskConfiguration",)),
        "MissingParameter",
        ("TriggerTaskConfiguration",),
    ),
    "task-missing-scheduler": (
        "CreateTriggerTask",
        lambda c: task_req(c, drop=("TriggerTaskSchedulerConfiguration",)),
        "MissingParameter",
        ("TriggerTaskSchedulerConfiguration",),
    ),
    "task-missing-name": (
        "CreateTriggerTask",
        lambda c: task_req(c, drop=("TriggerTaskBaseAttribute.TaskName",)),
        "MissingParameter",
        ("TriggerTaskBaseAttribute.TaskName",),
    ),
    "task-missing-type": (
        "CreateTriggerTask",
        lambda c: task_req(c, drop=("TriggerTaskBaseAttribute.TaskTypeId",)),
        "MissingParameter",
        ("TriggerTaskBaseAttribute.TaskTypeId",),
    ),
    "task-missing-workflow": (
        "CreateTriggerTask",
        lambda c: task_req(c, drop=("TriggerTaskBaseAttribute.WorkflowId",)),
        "MissingParameter",
        ("TriggerTaskBaseAttribute.WorkflowId",),
    ),
    "task-missing-upstream-id": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(UpstreamDependencyConfigList=[{}])),
        "MissingParameter",
        ("TriggerTaskSchedulerConfiguration.UpstreamDependencyConfigList.0.TaskId",),
    ),
    "task-unknown-top": (
        "CreateTriggerTask",
        lambda c: {**task_req(c), "TaskId": "1"},
        "UnknownParameter",
        ("TaskId",),
    ),
    "task-unknown-nested": (
        "CreateTriggerTask",
        lambda c: task_req(c, **conf(Script="echo")),
        "UnknownParameter",
        ("TriggerTaskConfiguration.Script",),
    ),
    "task-unknown-deep": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(UpstreamDependencyConfigList=[{"TaskId": c.target_one, "Cycle": "D"}])),
        "UnknownParameter",
        ("TriggerTaskSchedulerConfiguration.UpstreamDependencyConfigList.0.Cycle",),
    ),
    "task-type-id-number": (
        "CreateTriggerTask",
        lambda c: task_req(c, **base(TaskTypeId=35)),
        "InvalidParameter",
        ("TriggerTaskBaseAttribute.TaskTypeId",),
    ),
    "task-priority-string": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(RunPriorityType="6")),
        "InvalidParameter",
        ("TriggerTaskSchedulerConfiguration.RunPriorityType",),
    ),
    "task-upstream-object": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(UpstreamDependencyConfigList={"TaskId": c.target_one})),
        "InvalidParameter",
        ("TriggerTaskSchedulerConfiguration.UpstreamDependencyConfigList",),
    ),
    "task-bad-policy": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(DependencyTriggerPolicy="SOMETIMES")),
        "InvalidParameterValue",
        ("TriggerTaskSchedulerConfiguration.DependencyTriggerPolicy", "SOMETIMES"),
    ),
    "task-bad-priority": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(RunPriorityType=9)),
        "InvalidParameterValue",
        ("TriggerTaskSchedulerConfiguration.RunPriorityType",),
    ),
    "task-bad-redo": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(AllowRedoType="MAYBE")),
        "InvalidParameterValue",
        ("TriggerTaskSchedulerConfiguration.AllowRedoType",),
    ),
    "task-unsupported-type": (
        "CreateTriggerTask",
        lambda c: task_req(c, **base(TaskTypeId="25")),
        "InvalidParameterValue",
        ("TriggerTaskBaseAttribute.TaskTypeId", "25"),
    ),
    "task-non-numeric-type": (
        "CreateTriggerTask",
        lambda c: task_req(c, **base(TaskTypeId="shell")),
        "InvalidParameterValue",
        ("TriggerTaskBaseAttribute.TaskTypeId",),
    ),
    "task-bad-base64": (
        "CreateTriggerTask",
        lambda c: task_req(c, **conf(CodeContent="echo hi!")),
        "InvalidParameterValue",
        ("TriggerTaskConfiguration.CodeContent",),
    ),
    "task-base64-not-utf8": (
        "CreateTriggerTask",
        lambda c: task_req(c, **conf(CodeContent=base64.b64encode(b"\xff\xfe").decode())),
        "InvalidParameterValue",
        ("TriggerTaskConfiguration.CodeContent",),
    ),
    "task-unknown-upstream": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(UpstreamDependencyConfigList=[{"TaskId": "20000101000000000"}])),
        "InvalidParameterValue",
        ("20000101000000000",),
    ),
    "task-cross-workflow-upstream": (
        "CreateTriggerTask",
        lambda c: task_req(c, **sched(UpstreamDependencyConfigList=[{"TaskId": c.flow.tasks["load"]}])),
        "InvalidParameterValue",
        lambda c: (c.flow.tasks["load"], "upstream task"),
    ),
    "task-duplicate-upstream": (
        "CreateTriggerTask",
        lambda c: task_req(
            c, **sched(UpstreamDependencyConfigList=[{"TaskId": c.target_one}, {"TaskId": c.target_one}])
        ),
        "InvalidParameterValue",
        ("UpstreamDependencyConfigList",),
    ),
    "task-blank-name": (
        "CreateTriggerTask",
        lambda c: task_req(c, **base(TaskName=" ")),
        "InvalidParameterValue",
        ("TriggerTaskBaseAttribute.TaskName",),
    ),
    "task-unknown-workflow": (
        "CreateTriggerTask",
        lambda c: task_req(c, **base(WorkflowId=MISSING_ID)),
        "ResourceNotFound",
        (MISSING_ID,),
    ),
    "task-unknown-project": (
        "CreateTriggerTask",
        lambda c: {**task_req(c), "ProjectId": "404404"},
        "ResourceNotFound",
        ("404404",),
    ),
    "task-duplicate-name": (
        "CreateTriggerTask",
        lambda c: task_req(c, **base(TaskName="one")),
        "InvalidParameter.DuplicateName",
        ("one",),
    ),
    # ---- SubmitTriggerTask
    "submit-missing-project": (
        "SubmitTriggerTask",
        lambda c: {"TaskId": c.target_draft, "VersionRemark": "r"},
        "MissingParameter",
        ("ProjectId",),
    ),
    "submit-missing-task": (
        "SubmitTriggerTask",
        lambda c: {"ProjectId": c.project_id, "VersionRemark": "r"},
        "MissingParameter",
        ("TaskId",),
    ),
    "submit-missing-remark": (
        "SubmitTriggerTask",
        lambda c: {"ProjectId": c.project_id, "TaskId": c.target_draft},
        "MissingParameter",
        ("VersionRemark",),
    ),
    "submit-unknown-task": (
        "SubmitTriggerTask",
        lambda c: {"ProjectId": c.project_id, "TaskId": "20000101000000000", "VersionRemark": "r"},
        "ResourceNotFound",
        ("20000101000000000",),
    ),
    "submit-unknown-project": (
        "SubmitTriggerTask",
        lambda c: {"ProjectId": "404404", "TaskId": c.target_draft, "VersionRemark": "r"},
        "ResourceNotFound",
        ("404404",),
    ),
    "submit-other-project": (
        "SubmitTriggerTask",
        lambda c: {"ProjectId": c.other_project, "TaskId": c.target_draft, "VersionRemark": "r"},
        "ResourceNotFound",
        lambda c: (c.target_draft, c.other_project),
    ),
    "submit-task-type": (
        "SubmitTriggerTask",
        lambda c: {"ProjectId": c.project_id, "TaskId": 1, "VersionRemark": "r"},
        "InvalidParameter",
        ("TaskId",),
    ),
    "submit-unknown-param": (
        "SubmitTriggerTask",
        lambda c: {"ProjectId": c.project_id, "TaskId": c.target_draft, "VersionRemark": "r", "Force": True},
        "UnknownParameter",
        ("Force",),
    ),
    # ---- CreateTriggerWorkflowRun
    "run-missing-project": (
        "CreateTriggerWorkflowRun",
        lambda c: {"WorkflowId": c.target},
        "MissingParameter",
        ("ProjectId",),
    ),
    "run-missing-workflow": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id},
        "MissingParameter",
        ("WorkflowId",),
    ),
    "run-unknown-workflow": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": MISSING_ID},
        "ResourceNotFound",
        (MISSING_ID,),
    ),
    "run-unknown-project": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": "404404", "WorkflowId": c.target},
        "ResourceNotFound",
        ("404404",),
    ),
    "run-task-not-in-workflow": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "TaskIds": [c.mixed.tasks["boom"]]},
        "InvalidParameterValue",
        ("TaskIds",),
    ),
    "run-unsubmitted-task": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "TaskIds": [c.target_one, c.target_draft]},
        "InvalidParameterValue",
        ("TaskIds", "SubmitTriggerTask"),
    ),
    "run-duplicate-task-ids": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "TaskIds": [c.target_one, c.target_one]},
        "InvalidParameterValue",
        ("TaskIds",),
    ),
    "run-empty-param-key": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "AdvancedParams": [{"ParamValue": "v"}]},
        "InvalidParameterValue",
        ("AdvancedParams.0.ParamKey",),
    ),
    "run-nothing-submitted": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.empty},
        "FailedOperation",
        ("SubmitTriggerTask",),
    ),
    "run-unknown-top": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "RunNow": True},
        "UnknownParameter",
        ("RunNow",),
    ),
    "run-unknown-nested": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "AdvancedParams": [{"ParamKey": "k", "Type": 1}]},
        "UnknownParameter",
        ("AdvancedParams.0.Type",),
    ),
    "run-task-ids-type": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "TaskIds": c.target_one},
        "InvalidParameter",
        ("TaskIds",),
    ),
    "run-task-id-item-type": (
        "CreateTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target, "TaskIds": [1]},
        "InvalidParameter",
        ("TaskIds.0",),
    ),
    # ---- GetTriggerWorkflowRun
    "get-run-missing-id": (
        "GetTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id},
        "MissingParameter",
        ("WorkflowExecutionId",),
    ),
    "get-run-missing-project": (
        "GetTriggerWorkflowRun",
        lambda c: {"WorkflowExecutionId": run_of(c)},
        "MissingParameter",
        ("ProjectId",),
    ),
    "get-run-unknown": (
        "GetTriggerWorkflowRun",
        lambda c: {"ProjectId": c.project_id, "WorkflowExecutionId": MISSING_ID},
        "ResourceNotFound",
        (MISSING_ID,),
    ),
    "get-run-other-project": (
        "GetTriggerWorkflowRun",
        lambda c: {"ProjectId": c.other_project, "WorkflowExecutionId": run_of(c)},
        "ResourceNotFound",
        ("workflow run",),
    ),
    "get-run-unknown-filter": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, Filters=[flt("Bogus", "x")]),
        "InvalidParameter.InvalidFilterParameter",
        ("Filters.0.Name", "Bogus"),
    ),
    "get-run-list-only-filter": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, Filters=[flt("TaskId", "1"), flt("WorkflowId", "x")]),
        "InvalidParameter.InvalidFilterParameter",
        ("Filters.1.Name", "WorkflowId"),
    ),
    "get-run-unknown-order": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, OrderFields=[order("EndTime", "ASC")]),
        "InvalidParameter.InvalidFilterParameter",
        ("OrderFields.0.Name", "EndTime"),
    ),
    "get-run-bad-direction": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, OrderFields=[order("TaskName", "UP")]),
        "InvalidParameterValue",
        ("OrderFields.0.Direction",),
    ),
    "get-run-missing-direction": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, OrderFields=[{"Name": "TaskName"}]),
        "MissingParameter",
        ("OrderFields.0.Direction",),
    ),
    "get-run-empty-values": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, Filters=[{"Name": "TaskId", "Values": []}]),
        "InvalidParameterValue",
        ("Filters.0.Values",),
    ),
    "get-run-filter-unknown-field": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, Filters=[{"Name": "TaskId", "Values": ["1"], "Op": "eq"}]),
        "UnknownParameter",
        ("Filters.0.Op",),
    ),
    "get-run-values-type": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, Filters=[{"Name": "ExecutionState", "Values": "SUCCESS"}]),
        "InvalidParameter",
        ("Filters.0.Values",),
    ),
    "get-run-filters-type": (
        "GetTriggerWorkflowRun",
        lambda c: get_run_req(c, Filters={"Name": "TaskId"}),
        "InvalidParameter",
        ("Filters",),
    ),
    # ---- ListTriggerWorkflowRuns
    "list-runs-missing": ("ListTriggerWorkflowRuns", lambda c: {}, "MissingParameter", ("ProjectId",)),
    "list-runs-unknown-project": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": "404404"},
        "ResourceNotFound",
        ("404404",),
    ),
    "list-runs-unknown-filter": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "Filters": [flt("WorkflowId", c.target), flt("TaskId", "1")]},
        "InvalidParameter.InvalidFilterParameter",
        ("Filters.1.Name", "TaskId"),
    ),
    "list-runs-unknown-order": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "OrderFields": [order("TaskName", "ASC")]},
        "InvalidParameter.InvalidFilterParameter",
        ("OrderFields.0.Name", "TaskName"),
    ),
    "list-runs-bad-time": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "Filters": [flt("ScheduleTimeGreaterEqual", "tomorrow")]},
        "InvalidParameterValue",
        ("Filters.0.Values", "tomorrow"),
    ),
    "list-runs-bad-date": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "Filters": [flt("ScheduleTimeLessEqual", "2026-13-01 00:00:00")]},
        "InvalidParameterValue",
        ("Filters.0.Values",),
    ),
    "list-runs-huge-time": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "Filters": [flt("ScheduleTimeGreaterEqual", "9" * 25)]},
        "InvalidParameterValue",
        ("Filters.0.Values",),
    ),
    "list-runs-page-size": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "PageSize": 201},
        "InvalidParameterValue",
        ("PageSize",),
    ),
    "list-runs-page-size-zero": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "PageSize": 0},
        "InvalidParameterValue",
        ("PageSize",),
    ),
    "list-runs-page-number-zero": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "PageNumber": 0},
        "InvalidParameterValue",
        ("PageNumber",),
    ),
    "list-runs-negative-page": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "PageNumber": -1},
        "InvalidParameter",
        ("PageNumber",),
    ),
    "list-runs-page-type": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "PageSize": "10"},
        "InvalidParameter",
        ("PageSize",),
    ),
    "list-runs-unknown-param": (
        "ListTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": c.target},
        "UnknownParameter",
        ("WorkflowId",),
    ),
    # ---- GetTriggerTaskRun
    "get-task-run-missing": (
        "GetTriggerTaskRun",
        lambda c: {"ProjectId": c.project_id},
        "MissingParameter",
        ("TaskExecutionId",),
    ),
    "get-task-run-unknown": (
        "GetTriggerTaskRun",
        lambda c: {"ProjectId": c.project_id, "TaskExecutionId": MISSING_ID},
        "ResourceNotFound",
        (MISSING_ID,),
    ),
    "get-task-run-other-project": (
        "GetTriggerTaskRun",
        lambda c: {"ProjectId": c.other_project, "TaskExecutionId": task_run_of(c)},
        "ResourceNotFound",
        ("task run",),
    ),
    "get-task-run-unknown-param": (
        "GetTriggerTaskRun",
        lambda c: {"ProjectId": c.project_id, "TaskExecutionId": task_run_of(c), "WithLog": True},
        "UnknownParameter",
        ("WithLog",),
    ),
    "get-task-run-type": (
        "GetTriggerTaskRun",
        lambda c: {"ProjectId": c.project_id, "TaskExecutionId": ["x"]},
        "InvalidParameter",
        ("TaskExecutionId",),
    ),
    # ---- ListTriggerTaskRuns
    "list-task-runs-missing": ("ListTriggerTaskRuns", lambda c: {}, "MissingParameter", ("ProjectId",)),
    "list-task-runs-unknown-project": (
        "ListTriggerTaskRuns",
        lambda c: {"ProjectId": "404404"},
        "ResourceNotFound",
        ("404404",),
    ),
    "list-task-runs-unknown-filter": (
        "ListTriggerTaskRuns",
        lambda c: {"ProjectId": c.project_id, "Filters": [flt("TaskTypeId", "35")]},
        "InvalidParameter.InvalidFilterParameter",
        ("Filters.0.Name", "TaskTypeId"),
    ),
    "list-task-runs-unknown-order": (
        "ListTriggerTaskRuns",
        lambda c: {"ProjectId": c.project_id, "OrderFields": [order("ExecutionStartTime", "ASC")]},
        "InvalidParameter.InvalidFilterParameter",
        ("OrderFields.0.Name", "ExecutionStartTime"),
    ),
    "list-task-runs-bad-time": (
        "ListTriggerTaskRuns",
        lambda c: {"ProjectId": c.project_id, "Filters": [flt("ScheduleTimeLessEqual", "2026/01/01")]},
        "InvalidParameterValue",
        ("Filters.0.Values",),
    ),
    "list-task-runs-page-size": (
        "ListTriggerTaskRuns",
        lambda c: {"ProjectId": c.project_id, "PageSize": 1000},
        "InvalidParameterValue",
        ("PageSize",),
    ),
    "list-task-runs-orders-type": (
        "ListTriggerTaskRuns",
        lambda c: {"ProjectId": c.project_id, "OrderFields": ["CreateTime"]},
        "InvalidParameter",
        ("OrderFields.0",),
    ),
    "list-task-runs-unknown-order-field": (
        "ListTriggerTaskRuns",
        lambda c: {"ProjectId": c.project_id, "OrderFields": [{"Name": "CreateTime", "Direction": "ASC", "Nulls": 1}]},
        "UnknownParameter",
        ("OrderFields.0.Nulls",),
    ),
    # ---- KillTriggerWorkflowRuns
    "kill-missing-project": (
        "KillTriggerWorkflowRuns",
        lambda c: {"WorkflowId": c.target, "All": True},
        "MissingParameter",
        ("ProjectId",),
    ),
    "kill-missing-workflow": (
        "KillTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "All": True},
        "MissingParameter",
        ("WorkflowId",),
    ),
    "kill-unknown-workflow": (
        "KillTriggerWorkflowRuns",
        lambda c: {"ProjectId": c.project_id, "WorkflowId": MISSING_ID, "All": True},
        "ResourceNotFound",
        (MISSING_ID,),
    ),
    "kill-unknown-project": (
        "KillTriggerWorkflowRuns",
        lambda c: {"ProjectId": "404404", "WorkflowId": c.target, "All": True},
        "ResourceNotFound",
        ("404404",),
    ),
    "kill-nothing-selected": (
        "KillTriggerWorkflowRuns",
        lambda c: kill_req(c),
        "InvalidParameter",
        ("WorkflowExecutionIdList",),
    ),
    "kill-all-type": ("KillTriggerWorkflowRuns", lambda c: kill_req(c, All="true"), "InvalidParameter", ("All",)),
    "kill-list-type": (
        "KillTriggerWorkflowRuns",
        lambda c: kill_req(c, WorkflowExecutionIdList=MISSING_ID),
        "InvalidParameter",
        ("WorkflowExecutionIdList",),
    ),
    "kill-unknown-param": (
        "KillTriggerWorkflowRuns",
        lambda c: kill_req(c, All=True, Force=True),
        "UnknownParameter",
        ("Force",),
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_refusals(client: Any, ctx: Ctx, case: str) -> None:
    action, build, code, mentions = ERROR_CASES[case]
    fails(client, action, build(ctx), code, *(mentions(ctx) if callable(mentions) else mentions))


def test_refused_run_requests_started_nothing(client: Any, ctx: Ctx) -> None:
    listing = call(
        client,
        "ListTriggerWorkflowRuns",
        {"ProjectId": ctx.project_id, "Filters": [flt("WorkflowId", ctx.target, ctx.empty)]},
    )
    # only the partial run of test_partial_run_with_task_ids may exist
    assert listing.TotalCount <= 1
    assert all(r.SelectedTaskIds == [ctx.target_one] for r in listing.Items)


def test_no_internal_error_or_traceback_in_server_log(server: Server, log_mark: int) -> None:
    produced = server.output()[log_mark:]
    assert "Traceback" not in produced and "InternalError" not in produced, produced[-4000:]
