"""Task definitions through the official SDK: read, edit, versions, delete, lists, dependencies, owners.

Happy paths use the SDK's typed models (`helpers.call`), so every response must also decode into the SDK's
classes; refusals use `client.call_json` (still SDK-signed) so that any body can be sent. Every refusal
asserts the exact code and that the message names the offending field (or entry, or task).

The session server is shared with other modules: names carry a uuid suffix and list queries are scoped to
this module's workflows or folders.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, wait_for
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
MISSING_TASK = "20000101000000000"
WALL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")



def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()



def get_task(client: Any, project_id: str, task_id: str) -> Any:
    return call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": task_id})


def submit(client: Any, project_id: str, task_id: str, remark: str = "r") -> str:
    data = call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": task_id, "VersionRemark": remark})
    return str(data.VersionId)


def patch(client: Any, project_id: str, task_id: str, **body: Any) -> Any:
    return call(client, "UpdateTriggerTaskPartially", {"ProjectId": project_id, "TaskId": task_id, **body})


def versions(client: Any, project_id: str, task_id: str, **extra: Any) -> Any:
    return call(client, "ListTriggerTaskVersions", {"ProjectId": project_id, "TaskId": task_id, **extra})


def full_task(name: str, *, code: str = "true", **sched: Any) -> dict[str, Any]:
    """An UpdateTriggerTask `Task` body."""
    return {
        "TriggerTaskBaseAttribute": {"TaskName": name, "OwnerUin": "100000000001", "TaskDescription": "d"},
        "TriggerTaskConfiguration": {"CodeContent": b64(code)},
        "TriggerTaskSchedulerConfiguration": sched,
    }


def merge_ext(*upstreams: str) -> list[dict[str, str]]:
    cond = ",".join(
        f'{{"conditionType":"singleCondition","expectationState":[2],"upstreamTaskId":"{u}"}}' for u in upstreams
    )
    return [{"ParamKey": "mergeCondition", "ParamValue": f"[{cond}]"}]


def raw_task(project_id: str, wf: str, name: str, type_id: str = "35", **sections: Any) -> dict[str, Any]:
    """A CreateTriggerTask body; `sections` are the configuration/scheduler dicts."""
    return {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": type_id, "WorkflowId": wf},
        "TriggerTaskConfiguration": sections.get("config", {"CodeContent": b64("true")}),
        "TriggerTaskSchedulerConfiguration": sections.get("sched", {}),
    }


# ------------------------------------------------------------------------------------------------ fixtures


@dataclass
class Graph:
    """A workflow with a -> c <- b(python), m = merge(a, b), p reads an output of a; plus a foreign workflow."""

    project_id: str
    wf: str
    a: str
    b: str
    c: str
    m: str
    p: str
    other_wf: str
    foreign: str  # a task of other_wf
    lonely: str  # AllowDownstreamDependency 0


@pytest.fixture(scope="module")
def log_mark(server: Server) -> int:
    return len(server.output())


@pytest.fixture(scope="module")
def g(client: Any, project_id: str, log_mark: int) -> Graph:
    wf = new_workflow(client, project_id, f"td_graph_{uid()}")
    a = new_task(
        client, project_id, wf, "a", "true", submit=False, ParamTaskOutList=[{"ParamKey": "o", "ParamValue": "1"}]
    )
    b = new_task(client, project_id, wf, "b", "print(1)", type_id="30", submit=False)
    c = new_task(client, project_id, wf, "c", "true", upstream=[a, b], submit=False)
    m = call(
        client,
        "CreateTriggerTask",
        raw_task(project_id, wf, "m", "131", config={"TaskExtConfigurationList": merge_ext(a, b)}),
    ).TaskId
    inputs = [{"ParamKey": "i", "ParamDesc": "x.a.o", "FromTaskId": a, "FromParamKey": "o"}]
    p = new_task(client, project_id, wf, "p", "true", submit=False, ParamTaskInList=inputs)
    lonely = new_task(client, project_id, wf, "lonely", "true", submit=False, AllowDownstreamDependency=0)
    other = new_workflow(client, project_id, f"td_other_{uid()}")
    foreign = new_task(client, project_id, other, "foreign", "true", submit=False)
    return Graph(project_id, wf, a, b, c, str(m), p, other, foreign, lonely)


# ------------------------------------------------------------------------------------------------ reads


def test_get_trigger_task_shows_the_saved_definition(client: Any, project_id: str) -> None:
    groups = call(client, "ListResourceGroups", {"PageSize": 100}).Items
    group = next(x for x in groups if x.Name == "default")
    wf = new_workflow(client, project_id, f"td_get_{uid()}")
    up = new_task(client, project_id, wf, "up", "true", submit=False)
    before = datetime.now(CST).replace(microsecond=0) - timedelta(seconds=1)
    body = raw_task(
        project_id,
        wf,
        "full",
        "30",
        config={
            "CodeContent": b64("print('hi')"),
            "ResourceGroup": group.Id,
            "BrokerIp": "any",
            "TaskExtConfigurationList": [{"ParamKey": "python_type", "ParamValue": "python3"}],
            "TaskSchedulingParameterList": [{"ParamKey": "k", "ParamValue": "${yyyyMMdd}"}],
            "BundleId": "bundle-1",
        },
        sched={
            "UpstreamDependencyConfigList": [{"TaskId": up}],
            "RunPriorityType": 4,
            "MaxRetryNumber": 1,
            "ParamTaskOutList": [{"ParamKey": "out", "ParamValue": "v"}],
            "TaskOutputRegistryList": [
                {
                    "DatasourceId": "1",
                    "DatabaseName": "db",
                    "TableName": "t",
                    "PartitionName": "",
                    "DataFlowType": "DOWNSTREAM",
                    "TablePhysicalId": "phys-1",
                }
            ],
        },
    )
    body["TriggerTaskBaseAttribute"] |= {"OwnerUin": "100000000007", "TaskDescription": "desc", "TaskFolderPath": "/tf"}
    task_id = call(client, "CreateTriggerTask", body).TaskId

    got = get_task(client, project_id, task_id)
    attr = got.TriggerTaskBaseAttribute
    assert (attr.TaskId, attr.TaskTypeId, attr.WorkflowId, attr.TaskName) == (task_id, 30, wf, "full")
    assert isinstance(attr.TaskTypeId, int)
    assert (attr.TaskLatestVersionNo, attr.TaskLatestSubmitVersionNo, attr.Status, attr.Submit) == (
        "V1",
        "",
        "N",
        False,
    )
    assert attr.WorkflowName.startswith("td_get_")
    assert (attr.OwnerUin, attr.TaskDescription, attr.TaskFolderPath) == ("100000000007", "desc", "/tf")
    assert attr.CreateUserUin and attr.UpdateUserUin == attr.CreateUserUin
    assert WALL.fullmatch(attr.CreateTime) and WALL.fullmatch(attr.LastUpdateTime)
    created = datetime.strptime(attr.CreateTime, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)
    assert before <= created <= datetime.now(CST) + timedelta(seconds=1)  # UTC+8 wall time
    conf = got.TriggerTaskConfiguration
    assert (conf.CodeContent, conf.ResourceGroup, conf.ResourceGroupName, conf.BrokerIp, conf.BundleId) == (
        b64("print('hi')"),
        group.Id,
        "default",
        "any",
        "bundle-1",
    )
    assert [(e.ParamKey, e.ParamValue) for e in conf.TaskExtConfigurationList] == [("python_type", "python3")]
    assert [(e.ParamKey, e.ParamValue) for e in conf.TaskSchedulingParameterList] == [("k", "${yyyyMMdd}")]
    sched = got.TriggerTaskSchedulerConfiguration
    assert [d.TaskId for d in sched.UpstreamDependencyConfigList] == [up]
    assert (sched.RunPriorityType, sched.MaxRetryNumber, sched.RetryWaitMinute, sched.ExecutionTTLMinute) == (
        4,
        1,
        5,
        -1,
    )
    assert (
        sched.AllowRedoType,
        sched.DependencyTriggerPolicy,
        sched.AllowDownstreamDependency,
        sched.ScheduleType,
    ) == (
        "ALL",
        "ALL_SUCCESS",
        1,
        0,
    )
    assert [(o.ParamKey, o.ParamValue) for o in sched.ParamTaskOutList] == [("out", "v")]
    assert [r.TablePhysicalId for r in sched.TaskOutputRegistryList] == ["phys-1"]

    code = call(client, "GetTriggerTaskCode", {"ProjectId": project_id, "TaskId": task_id})
    assert (code.CodeInfo, code.CodeFileSize) == (b64("print('hi')"), str(len(b64("print('hi')"))))  # api-notes §1.21


def test_reads_refuse_unknown_tasks_and_projects(client: Any, project_id: str, g: Graph) -> None:
    for action in (
        "GetTriggerTask",
        "GetTriggerTaskCode",
        "GetTriggerTaskVersion",
        "ListTriggerTaskVersions",
        "ListUpstreamTriggerTasks",
        "ListDownstreamTriggerTasks",
        "DeleteTriggerTask",
    ):
        fails(client, action, {"ProjectId": project_id, "TaskId": MISSING_TASK}, "ResourceNotFound", MISSING_TASK)
        fails(client, action, {"ProjectId": "404404", "TaskId": g.a}, "ResourceNotFound", "404404")
        fails(client, action, {"ProjectId": project_id}, "MissingParameter", "TaskId")
        fails(client, action, {"ProjectId": project_id, "TaskId": g.a, "Bogus": 1}, "UnknownParameter", "Bogus")


# ------------------------------------------------------------------------------------------------ versions


def test_every_save_writes_a_version_and_submit_freezes_one(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"td_versions_{uid()}")
    task_id = new_task(client, project_id, wf, "v", "echo one", submit=False)
    fails(client, "GetTriggerTaskVersion", {"ProjectId": project_id, "TaskId": task_id}, "ResourceNotFound", task_id)

    first = submit(client, project_id, task_id, "first")
    attr = get_task(client, project_id, task_id).TriggerTaskBaseAttribute
    assert (attr.Status, attr.Submit, attr.TaskLatestVersionNo, attr.TaskLatestSubmitVersionNo) == (
        "Y",
        True,
        "V1",
        "V1",
    )

    call(
        client,
        "UpdateTriggerTask",
        {"ProjectId": project_id, "TaskId": task_id, "Task": full_task("v", code="echo two")},
    )
    attr = get_task(client, project_id, task_id).TriggerTaskBaseAttribute
    assert (attr.Status, attr.Submit, attr.TaskLatestVersionNo) == ("Y", False, "V2")  # saved state differs now
    patch(client, project_id, task_id, NewSetting={"TriggerTaskBaseAttribute": {"TaskDescription": "patched"}})
    assert get_task(client, project_id, task_id).TriggerTaskBaseAttribute.TaskLatestVersionNo == "V3"

    saves = versions(client, project_id, task_id)
    assert [v.VersionNum for v in saves.Items] == ["V3", "V2", "V1"]  # newest first, SAVE by default
    assert (saves.TotalCount, saves.TotalPageNumber, saves.PageCount, saves.PageSize, saves.PageNumber) == (
        3,
        1,
        3,
        10,
        1,
    )
    assert all(
        v.VersionId.startswith(task_id + "_") and re.fullmatch(r"\d{17}_\d{17}", v.VersionId) for v in saves.Items
    )
    assert all(WALL.fullmatch(v.CreateTime) and v.CreateUserUin and v.UsedVersion is None for v in saves.Items)

    second = submit(client, project_id, task_id, "second")
    attr = get_task(client, project_id, task_id).TriggerTaskBaseAttribute
    assert (attr.Submit, attr.TaskLatestSubmitVersionNo) == (True, "V2")
    submits = versions(client, project_id, task_id, TaskVersionType="SUBMIT")
    assert [(v.VersionNum, v.VersionId, v.VersionRemark, v.UsedVersion) for v in submits.Items] == [
        ("V2", second, "second", True),
        ("V1", first, "first", False),
    ]

    latest = call(client, "GetTriggerTaskVersion", {"ProjectId": project_id, "TaskId": task_id})
    assert (latest.VersionId, latest.VersionNum, latest.VersionRemark) == (second, "V2", "second")
    assert latest.Task.TriggerTaskConfiguration.CodeContent == b64("echo two")
    assert latest.Task.TriggerTaskBaseAttribute.TaskDescription == "patched"
    old = call(client, "GetTriggerTaskVersion", {"ProjectId": project_id, "TaskId": task_id, "VersionId": first})
    assert (old.VersionNum, old.Task.TriggerTaskConfiguration.CodeContent) == ("V1", b64("echo one"))
    assert (old.Task.TriggerTaskBaseAttribute.TaskId, old.Task.TriggerTaskBaseAttribute.TaskTypeId) == (task_id, 35)
    save_id = saves.Items[0].VersionId
    for wrong in (save_id, f"{task_id}_20000101000000000"):
        fails(
            client,
            "GetTriggerTaskVersion",
            {"ProjectId": project_id, "TaskId": task_id, "VersionId": wrong},
            "ResourceNotFound",
            wrong,
        )

    # an unchanged save still counts as a save: Submit goes false until the next submit
    patch(client, project_id, task_id, NewSetting={"TriggerTaskBaseAttribute": {"TaskDescription": "patched"}})
    assert get_task(client, project_id, task_id).TriggerTaskBaseAttribute.Submit is False


def test_version_paging_bounds(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"td_vpage_{uid()}")
    task_id = new_task(client, project_id, wf, "many", "true", submit=False)
    for i in range(11):
        patch(client, project_id, task_id, NewSetting={"TriggerTaskBaseAttribute": {"TaskDescription": str(i)}})
    page1 = versions(client, project_id, task_id, PageSize=1)  # clamped up to 10 (api-notes Q6)
    assert (page1.PageSize, page1.PageCount, page1.TotalCount, page1.TotalPageNumber) == (10, 10, 12, 2)
    page2 = versions(client, project_id, task_id, PageSize=10, PageNumber=2)
    assert [v.VersionNum for v in page2.Items] == ["V2", "V1"] and page2.PageCount == 2
    assert versions(client, project_id, task_id, PageSize=200).PageCount == 12
    assert versions(client, project_id, task_id, TaskVersionType="SUBMIT").TotalCount == 0
    base = {"ProjectId": project_id, "TaskId": task_id}
    fails(client, "ListTriggerTaskVersions", {**base, "PageSize": 201}, "InvalidParameterValue", "PageSize")
    fails(client, "ListTriggerTaskVersions", {**base, "PageNumber": 0}, "InvalidParameterValue", "PageNumber")
    fails(
        client,
        "ListTriggerTaskVersions",
        {**base, "TaskVersionType": "DRAFT"},
        "InvalidParameterValue",
        "TaskVersionType",
        "DRAFT",
    )
    fails(client, "ListTriggerTaskVersions", {**base, "PageSize": "10"}, "InvalidParameter", "PageSize")


def test_a_run_keeps_the_version_it_started_with(client: Any, project_id: str, tmp_path: Path) -> None:
    gate, out = tmp_path / "gate", tmp_path / "out"
    wf = new_workflow(client, project_id, f"td_runver_{uid()}")
    hold = new_task(client, project_id, wf, "hold", f"while [ ! -e {gate} ]; do sleep 0.02; done")
    work = new_task(client, project_id, wf, "work", f"echo one >> {out}", upstream=[hold])
    v1 = call(client, "GetTriggerTaskVersion", {"ProjectId": project_id, "TaskId": work}).VersionId
    run1 = start_run(client, project_id, wf)
    wait_for(lambda: task_states(get_run(client, project_id, run1)).get("hold") == "RUNNING", what="hold running")

    patch(client, project_id, work, NewSetting={"TriggerTaskConfiguration": {"CodeContent": b64(f"echo two >> {out}")}})
    v2 = submit(client, project_id, work, "two")
    call(client, "UpdateOpsTriggerTasksOwner", {"ProjectId": project_id, "TaskIds": [work], "OwnerIds": ["1", "2"]})
    gate.touch()
    done1 = wait_run(client, project_id, run1)
    assert done1.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert next(t for t in done1.TriggerTaskRuns if t.TaskName == "work").TaskVersionId == v1
    assert out.read_text() == "one\n"

    done2 = wait_run(client, project_id, start_run(client, project_id, wf))
    work_run = next(t for t in done2.TriggerTaskRuns if t.TaskName == "work")
    assert (work_run.TaskVersionId, work_run.UserUinInCharge) == (v2, "1;2")  # owner: the task's current one
    assert out.read_text() == "one\ntwo\n"
    assert v2 != v1 and v2.startswith(work + "_")


# ------------------------------------------------------------------------------------------------ updates


def test_update_trigger_task_replaces_the_whole_definition(client: Any, project_id: str, g: Graph) -> None:
    wf = new_workflow(client, project_id, f"td_update_{uid()}")
    a = new_task(client, project_id, wf, "a", "true", submit=False)
    b = new_task(client, project_id, wf, "b", "true", submit=False)
    body = raw_task(
        project_id,
        wf,
        "t",
        sched={"UpstreamDependencyConfigList": [{"TaskId": a}], "RunPriorityType": 4, "MaxRetryNumber": 0},
    )
    body["TriggerTaskBaseAttribute"]["TaskFolderPath"] = "/keep"
    t = call(client, "CreateTriggerTask", body).TaskId
    new = full_task("renamed", code="echo new", UpstreamDependencyConfigList=[{"TaskId": b}], AllowRedoType="NONE")
    new["TriggerTaskConfiguration"]["TaskSchedulingParameterList"] = [{"ParamKey": "x", "ParamValue": "1"}]
    assert call(client, "UpdateTriggerTask", {"ProjectId": project_id, "TaskId": t, "Task": new}).Status is True
    got = get_task(client, project_id, t)
    attr, sched = got.TriggerTaskBaseAttribute, got.TriggerTaskSchedulerConfiguration
    assert (attr.TaskName, attr.OwnerUin, attr.TaskDescription, attr.TaskFolderPath) == (
        "renamed",
        "100000000001",
        "d",
        "/keep",
    )
    assert [d.TaskId for d in sched.UpstreamDependencyConfigList] == [b]
    assert (sched.RunPriorityType, sched.MaxRetryNumber, sched.AllowRedoType) == (6, 4, "NONE")  # omitted -> defaults
    assert got.TriggerTaskConfiguration.CodeContent == b64("echo new")
    assert [(p.ParamKey, p.ParamValue) for p in got.TriggerTaskConfiguration.TaskSchedulingParameterList] == [
        ("x", "1")
    ]
    downstream = call(client, "ListDownstreamTriggerTasks", {"ProjectId": project_id, "TaskId": a})
    assert downstream.TotalCount == 0  # the old edge is gone
    moved = full_task("renamed")
    moved["TriggerTaskBaseAttribute"]["TaskFolderPath"] = "/moved/"
    call(client, "UpdateTriggerTask", {"ProjectId": project_id, "TaskId": t, "Task": moved})
    assert get_task(client, project_id, t).TriggerTaskBaseAttribute.TaskFolderPath == "/moved"


def test_partial_update_upserts_by_key_and_removes_named_entries(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"td_patch_{uid()}")
    a = new_task(client, project_id, wf, "a", "true", submit=False)
    b = new_task(client, project_id, wf, "b", "true", submit=False)
    body = raw_task(
        project_id,
        wf,
        "t",
        config={
            "CodeContent": b64("true"),
            "TaskSchedulingParameterList": [{"ParamKey": "p", "ParamValue": "1"}, {"ParamKey": "q", "ParamValue": "1"}],
        },
        sched={
            "UpstreamDependencyConfigList": [{"TaskId": a}],
            "MaxRetryNumber": 2,
            "ParamTaskOutList": [{"ParamKey": "o1", "ParamValue": "1"}, {"ParamKey": "o2", "ParamValue": "2"}],
        },
    )
    t = call(client, "CreateTriggerTask", body).TaskId
    ok = patch(
        client,
        project_id,
        t,
        NewSetting={
            "TriggerTaskBaseAttribute": {"TaskName": "t2"},
            "TriggerTaskConfiguration": {
                "TaskSchedulingParameterList": [
                    {"ParamKey": "q", "ParamValue": "2"},
                    {"ParamKey": "r", "ParamValue": "3"},
                ]
            },
            "TriggerTaskSchedulerConfiguration": {
                "UpstreamDependencyConfigList": [{"TaskId": b}],
                "RunPriorityType": 5,
            },
        },
        FieldToRemoveList=[
            " TaskSchedulerConfiguration / ParamTaskOutList : o1 , o2 ",
            "TaskConfiguration/TaskSchedulingParameterList:p",
            "TaskSchedulerConfiguration/EventListenerList:whatever",
        ],  # known but unsupported: ignored
    )
    assert ok.Status is True
    got = get_task(client, project_id, t)
    sched = got.TriggerTaskSchedulerConfiguration
    assert got.TriggerTaskBaseAttribute.TaskName == "t2"
    assert got.TriggerTaskBaseAttribute.TaskDescription is None  # untouched
    assert [(p.ParamKey, p.ParamValue) for p in got.TriggerTaskConfiguration.TaskSchedulingParameterList] == [
        ("q", "2"),
        ("r", "3"),
    ]
    assert [d.TaskId for d in sched.UpstreamDependencyConfigList] == [a, b]  # upserted, not replaced
    assert (sched.RunPriorityType, sched.MaxRetryNumber, sched.ParamTaskOutList) == (5, 2, [])
    assert got.TriggerTaskConfiguration.CodeContent == b64("true")

    patch(client, project_id, t, FieldToRemoveList=[f"TaskSchedulerConfiguration/UpstreamDependencyConfigList:{a}"])
    got = get_task(client, project_id, t)
    assert [d.TaskId for d in got.TriggerTaskSchedulerConfiguration.UpstreamDependencyConfigList] == [b]


def test_partial_update_refusals(client: Any, project_id: str, g: Graph) -> None:
    def bad(code: str, *mentions: str, task: str = g.c, **body: Any) -> None:
        fails(client, "UpdateTriggerTaskPartially", {"ProjectId": project_id, "TaskId": task, **body}, code, *mentions)

    up = "TaskSchedulerConfiguration/UpstreamDependencyConfigList"
    bad("MissingParameter", "NewSetting", "FieldToRemoveList")
    bad("MissingParameter", "NewSetting", NewSetting={})
    bad("InvalidParameterValue", "FieldToRemoveList.1", "Bogus/List", FieldToRemoveList=[f"{up}:{g.a}", "Bogus/List:1"])
    bad(
        "InvalidParameterValue",
        "FieldToRemoveList.0",
        "TriggerTaskSchedulerConfiguration/ParamTaskInList",
        FieldToRemoveList=["TriggerTaskSchedulerConfiguration/ParamTaskInList:i"],
    )
    bad("InvalidParameterValue", "FieldToRemoveList.0", FieldToRemoveList=[f"{up}"])
    bad("InvalidParameterValue", "FieldToRemoveList.0", FieldToRemoveList=[f"{up}: , "])
    bad(
        "InvalidParameterValue",
        "FieldToRemoveList.1",
        MISSING_TASK,
        FieldToRemoveList=[f"{up}:{g.a}", f"{up}:{MISSING_TASK}"],
    )
    bad(
        "InvalidParameterValue",
        "FieldToRemoveList.0",
        "nope",
        FieldToRemoveList=["TaskConfiguration/TaskSchedulingParameterList:nope"],
    )
    # a merge node's condition upstreams are removed by editing the condition
    bad(
        "InvalidParameterValue",
        "FieldToRemoveList.0",
        g.a,
        "mergeCondition",
        task=g.m,
        FieldToRemoveList=[f"{up}:{g.a}"],
    )
    bad(
        "InvalidParameterValue",
        "NewSetting.TriggerTaskConfiguration.TaskSchedulingParameterList",
        "'k'",
        NewSetting={
            "TriggerTaskConfiguration": {
                "TaskSchedulingParameterList": [
                    {"ParamKey": "k", "ParamValue": "1"},
                    {"ParamKey": "k", "ParamValue": "2"},
                ]
            }
        },
    )
    sched = "NewSetting.TriggerTaskSchedulerConfiguration"
    bad(
        "InvalidParameterValue",
        f"{sched}.UpstreamDependencyConfigList",
        "dependency cycle",
        g.c,
        task=g.a,
        NewSetting={"TriggerTaskSchedulerConfiguration": {"UpstreamDependencyConfigList": [{"TaskId": g.c}]}},
    )
    bad(
        "InvalidParameterValue",
        f"{sched}.UpstreamDependencyConfigList",
        g.foreign,
        g.other_wf,
        NewSetting={"TriggerTaskSchedulerConfiguration": {"UpstreamDependencyConfigList": [{"TaskId": g.foreign}]}},
    )
    bad(
        "InvalidParameterValue",
        f"{sched}.DependencyTriggerPolicy",
        NewSetting={"TriggerTaskSchedulerConfiguration": {"DependencyTriggerPolicy": "SOMETIMES"}},
    )
    bad(
        "InvalidParameter.DuplicateName",
        "NewSetting.TriggerTaskBaseAttribute.TaskName",
        "'a'",
        NewSetting={"TriggerTaskBaseAttribute": {"TaskName": "a"}},
    )
    bad(
        "InvalidParameterValue",
        "NewSetting.TriggerTaskBaseAttribute.TaskName",
        NewSetting={"TriggerTaskBaseAttribute": {"TaskName": "  "}},
    )
    bad(
        "UnknownParameter",
        "NewSetting.TriggerTaskBaseAttribute.TaskTypeId",
        NewSetting={"TriggerTaskBaseAttribute": {"TaskTypeId": "30"}},
    )
    bad("InvalidParameter", "FieldToRemoveList", FieldToRemoveList="TaskConfiguration/TaskSchedulingParameterList:k")
    bad("ResourceNotFound", MISSING_TASK, task=MISSING_TASK, NewSetting={"TriggerTaskBaseAttribute": {"TaskName": "z"}})
    assert get_task(client, project_id, g.c).TriggerTaskBaseAttribute.TaskLatestVersionNo == "V1"  # nothing saved


def update_cases(g: Graph) -> dict[str, tuple[str, dict[str, Any], str, tuple[str, ...]]]:
    """(task to update, Task body, code, mentions): every create-time check applies to UpdateTriggerTask."""
    s = "Task.TriggerTaskSchedulerConfiguration"
    ups = f"{s}.UpstreamDependencyConfigList"

    def upstream(*ids: str) -> list[dict[str, str]]:
        return [{"TaskId": i} for i in ids]

    return {
        "cross-workflow": (
            g.c,
            full_task("c", UpstreamDependencyConfigList=upstream(g.foreign)),
            "InvalidParameterValue",
            (ups, g.foreign, g.other_wf),
        ),
        "unknown-upstream": (
            g.c,
            full_task("c", UpstreamDependencyConfigList=upstream(MISSING_TASK)),
            "InvalidParameterValue",
            (ups, MISSING_TASK),
        ),
        "cycle": (
            g.a,
            full_task("a", UpstreamDependencyConfigList=upstream(g.c)),
            "InvalidParameterValue",
            (ups, "dependency cycle", g.a, g.c),
        ),
        "self-dependency": (
            g.a,
            full_task("a", UpstreamDependencyConfigList=upstream(g.a)),
            "InvalidParameterValue",
            (ups, "dependency cycle", g.a),
        ),
        "upstream-forbids": (
            g.c,
            full_task("c", UpstreamDependencyConfigList=upstream(g.lonely)),
            "InvalidParameterValue",
            (ups, g.lonely, "AllowDownstreamDependency"),
        ),
        "has-dependants": (
            g.a,
            full_task("a", AllowDownstreamDependency=0),
            "InvalidParameterValue",
            (f"{s}.AllowDownstreamDependency", g.c, g.m),
        ),
        "duplicate-upstream": (
            g.c,
            full_task("c", UpstreamDependencyConfigList=upstream(g.a, g.a)),
            "InvalidParameterValue",
            (ups,),
        ),
        "bad-policy": (
            g.c,
            full_task("c", DependencyTriggerPolicy="SOMETIMES"),
            "InvalidParameterValue",
            (f"{s}.DependencyTriggerPolicy", "SOMETIMES"),
        ),
        "bad-priority": (g.c, full_task("c", RunPriorityType=7), "InvalidParameterValue", (f"{s}.RunPriorityType",)),
        "bad-redo": (g.c, full_task("c", AllowRedoType="MAYBE"), "InvalidParameterValue", (f"{s}.AllowRedoType",)),
        "bad-schedule-type": (g.c, full_task("c", ScheduleType=2), "InvalidParameterValue", (f"{s}.ScheduleType",)),
        "param-in-unknown": (
            g.c,
            full_task(
                "c", ParamTaskInList=[{"ParamKey": "i", "ParamDesc": "x", "FromTaskId": g.foreign, "FromParamKey": "o"}]
            ),
            "InvalidParameterValue",
            (f"{s}.ParamTaskInList.0.FromTaskId", g.foreign),
        ),
        "param-in-self": (
            g.p,
            full_task(
                "p", ParamTaskInList=[{"ParamKey": "i", "ParamDesc": "x", "FromTaskId": g.p, "FromParamKey": "o"}]
            ),
            "InvalidParameterValue",
            (f"{s}.ParamTaskInList.0.FromTaskId", g.p),
        ),
        "param-in-type": (
            g.p,
            full_task(
                "p",
                ParamTaskInList=[
                    {"ParamKey": "i", "ParamDesc": "x", "FromTaskId": g.a, "FromParamKey": "o", "Type": "FILE"}
                ],
            ),
            "InvalidParameterValue",
            (f"{s}.ParamTaskInList.0.Type", "FILE"),
        ),
        "duplicate-out-key": (
            g.c,
            full_task(
                "c", ParamTaskOutList=[{"ParamKey": "o", "ParamValue": "1"}, {"ParamKey": "o", "ParamValue": "2"}]
            ),
            "InvalidParameterValue",
            (f"{s}.ParamTaskOutList",),
        ),
        "duplicate-name": (
            g.c,
            full_task("b"),
            "InvalidParameter.DuplicateName",
            ("Task.TriggerTaskBaseAttribute.TaskName",),
        ),
        "blank-name": (g.c, full_task(" "), "InvalidParameterValue", ("Task.TriggerTaskBaseAttribute.TaskName",)),
        "blank-owner": (
            g.c,
            {**full_task("c"), "TriggerTaskBaseAttribute": {"TaskName": "c", "OwnerUin": " ", "TaskDescription": ""}},
            "InvalidParameterValue",
            ("Task.TriggerTaskBaseAttribute.OwnerUin",),
        ),
        "missing-owner": (
            g.c,
            {**full_task("c"), "TriggerTaskBaseAttribute": {"TaskName": "c", "TaskDescription": ""}},
            "MissingParameter",
            ("Task.TriggerTaskBaseAttribute.OwnerUin",),
        ),
        "missing-scheduler": (
            g.c,
            {k: v for k, v in full_task("c").items() if k != "TriggerTaskSchedulerConfiguration"},
            "MissingParameter",
            ("Task.TriggerTaskSchedulerConfiguration",),
        ),
        "bad-base64": (
            g.c,
            {**full_task("c"), "TriggerTaskConfiguration": {"CodeContent": "echo hi!"}},
            "InvalidParameterValue",
            ("Task.TriggerTaskConfiguration.CodeContent",),
        ),
        "unknown-group": (
            g.c,
            {**full_task("c"), "TriggerTaskConfiguration": {"ResourceGroup": "nope"}},
            "InvalidParameterValue",
            ("Task.TriggerTaskConfiguration.ResourceGroup", "nope"),
        ),
        "merge-cross-workflow": (
            g.m,
            {**full_task("m"), "TriggerTaskConfiguration": {"TaskExtConfigurationList": merge_ext(g.a, g.foreign)}},
            "InvalidParameterValue",
            ("mergeCondition", g.foreign),
        ),
        "merge-bad-condition": (
            g.m,
            {
                **full_task("m"),
                "TriggerTaskConfiguration": {
                    "TaskExtConfigurationList": [{"ParamKey": "mergeCondition", "ParamValue": "[]"}]
                },
            },
            "InvalidParameterValue",
            ("Task.TriggerTaskConfiguration.TaskExtConfigurationList.mergeCondition",),
        ),
        "type-is-fixed": (
            g.c,
            {
                **full_task("c"),
                "TriggerTaskBaseAttribute": {
                    "TaskName": "c",
                    "OwnerUin": "1",
                    "TaskDescription": "",
                    "TaskTypeId": "30",
                },
            },
            "UnknownParameter",
            ("Task.TriggerTaskBaseAttribute.TaskTypeId",),
        ),
        "long-owner": (
            g.c,
            {
                **full_task("c"),
                "TriggerTaskBaseAttribute": {"TaskName": "c", "OwnerUin": "1" * 256, "TaskDescription": ""},
            },
            "InvalidParameterValue",
            ("Task.TriggerTaskBaseAttribute.OwnerUin", "255"),
        ),
        "long-folder": (
            g.c,
            {
                **full_task("c"),
                "TriggerTaskBaseAttribute": {
                    "TaskName": "c",
                    "OwnerUin": "1",
                    "TaskDescription": "",
                    "TaskFolderPath": "/" + "f" * 1000,
                },
            },
            "InvalidParameterValue",
            ("Task.TriggerTaskBaseAttribute.TaskFolderPath", "1000"),
        ),
    }


UPDATE_CASES = list(update_cases(Graph(*["-"] * 10)))  # the names; the ids come from the fixture


@pytest.mark.parametrize("case", UPDATE_CASES)
def test_update_trigger_task_refusals(client: Any, project_id: str, g: Graph, case: str) -> None:
    task, body, code, mentions = update_cases(g)[case]
    fails(client, "UpdateTriggerTask", {"ProjectId": project_id, "TaskId": task, "Task": body}, code, *mentions)
    assert get_task(client, project_id, task).TriggerTaskBaseAttribute.TaskLatestVersionNo == "V1"  # nothing saved


def test_create_refuses_what_the_shared_path_checks(client: Any, project_id: str, g: Graph) -> None:
    """Checks added with the shared validation path hold for CreateTriggerTask too (unprefixed field names)."""
    s = "TriggerTaskSchedulerConfiguration"

    def bad(code: str, *mentions: str, **sections: Any) -> None:
        fails(client, "CreateTriggerTask", raw_task(project_id, g.wf, f"new_{uid()}", **sections), code, *mentions)

    two = [{"ParamKey": "k", "ParamValue": "1"}, {"ParamKey": "k", "ParamValue": "2"}]
    bad(
        "InvalidParameterValue",
        "TriggerTaskConfiguration.TaskSchedulingParameterList.1.ParamKey",
        config={"TaskSchedulingParameterList": two},
    )
    bad(
        "InvalidParameterValue",
        "TriggerTaskConfiguration.TaskExtConfigurationList.1.ParamKey",
        config={"TaskExtConfigurationList": two},
    )
    bad("InvalidParameterValue", f"{s}.ParamTaskOutList.1.ParamKey", sched={"ParamTaskOutList": two})
    registry = {
        "DatasourceId": "1",
        "DatabaseName": "d",
        "TableName": "t",
        "PartitionName": "",
        "DataFlowType": "DOWNSTREAM",
        "TablePhysicalId": "x",
    }
    bad(
        "InvalidParameterValue",
        f"{s}.TaskOutputRegistryList.1.TablePhysicalId",
        sched={"TaskOutputRegistryList": [registry, registry]},
    )
    source = {"ParamKey": "i", "ParamDesc": "x", "FromTaskId": g.a, "FromParamKey": "o"}
    bad(
        "InvalidParameterValue",
        f"{s}.ParamTaskInList.0.Type",
        "FILE",
        sched={"ParamTaskInList": [{**source, "Type": "FILE"}]},
    )
    bad(
        "InvalidParameterValue",
        f"{s}.ParamTaskInList.0.FromTaskId",
        g.foreign,
        sched={"ParamTaskInList": [{**source, "FromTaskId": g.foreign}]},
    )
    bad(
        "InvalidParameterValue",
        f"{s}.UpstreamDependencyConfigList",
        g.foreign,
        g.other_wf,
        sched={"UpstreamDependencyConfigList": [{"TaskId": g.foreign}]},
    )
    long_owner = raw_task(project_id, g.wf, f"new_{uid()}")
    long_owner["TriggerTaskBaseAttribute"]["OwnerUin"] = "1" * 256
    fails(client, "CreateTriggerTask", long_owner, "InvalidParameterValue", "TriggerTaskBaseAttribute.OwnerUin")
    constant = {**source, "FromTaskId": "anything", "Type": "CONSTANT"}  # For-each constants name no task
    ok = call(
        client, "CreateTriggerTask", raw_task(project_id, g.wf, f"const_{uid()}", sched={"ParamTaskInList": [constant]})
    ).TaskId
    assert call(client, "DeleteTriggerTask", {"ProjectId": project_id, "TaskId": ok}).Status is True


def test_cycles_through_merge_conditions_and_nested_workflows_are_refused(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"td_cycles_{uid()}")
    a = new_task(client, project_id, wf, "a", "true", submit=False)
    m = call(
        client,
        "CreateTriggerTask",
        raw_task(project_id, wf, "m", "131", config={"TaskExtConfigurationList": merge_ext(a)}),
    ).TaskId
    msg = fails(
        client,
        "UpdateTriggerTask",
        {"ProjectId": project_id, "TaskId": a, "Task": full_task("a", UpstreamDependencyConfigList=[{"TaskId": m}])},
        "InvalidParameterValue",
        "dependency cycle",
        a,
        m,
    )
    assert "(a)" in msg and "(m)" in msg  # the cycle names the tasks too

    outer = new_workflow(client, project_id, f"td_nest_outer_{uid()}")
    inner = new_workflow(client, project_id, f"td_nest_inner_{uid()}")
    nest = call(
        client,
        "CreateTriggerTask",
        raw_task(
            project_id,
            outer,
            "n",
            "140",
            config={"TaskExtConfigurationList": [{"ParamKey": "workflowId", "ParamValue": inner}]},
        ),
    ).TaskId
    back = call(
        client,
        "CreateTriggerTask",
        raw_task(
            project_id,
            inner,
            "back",
            "140",
            config={"TaskExtConfigurationList": [{"ParamKey": "workflowId", "ParamValue": wf}]},
        ),
    ).TaskId
    body = {
        **full_task("back"),
        "TriggerTaskConfiguration": {"TaskExtConfigurationList": [{"ParamKey": "workflowId", "ParamValue": outer}]},
    }
    fails(
        client,
        "UpdateTriggerTask",
        {"ProjectId": project_id, "TaskId": back, "Task": body},
        "InvalidParameterValue",
        "Task.TriggerTaskConfiguration.TaskExtConfigurationList.workflowId",
        "cycle",
    )
    # a RunWorkflow node can be re-pointed (its own old target is not counted against it)
    body = {
        **full_task("n"),
        "TriggerTaskConfiguration": {"TaskExtConfigurationList": [{"ParamKey": "workflowId", "ParamValue": wf}]},
    }
    call(client, "UpdateTriggerTask", {"ProjectId": project_id, "TaskId": nest, "Task": body})


# ------------------------------------------------------------------------------------------------ delete


def test_delete_is_refused_while_tasks_depend_on_it_and_keeps_run_history(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    wf = new_workflow(client, project_id, f"td_delete_{uid()}")
    a = new_task(client, project_id, wf, "a", "true", ParamTaskOutList=[{"ParamKey": "o", "ParamValue": "1"}])
    c = new_task(client, project_id, wf, "c", "true", upstream=[a])
    m = call(
        client,
        "CreateTriggerTask",
        raw_task(project_id, wf, "m", "131", config={"TaskExtConfigurationList": merge_ext(a)}),
    ).TaskId
    inputs = [{"ParamKey": "i", "ParamDesc": "x.a.o", "FromTaskId": a, "FromParamKey": "o"}]
    p = new_task(client, project_id, wf, "p", "true", ParamTaskInList=inputs)
    leaf = new_task(client, project_id, wf, "leaf", "true", upstream=[c])
    run_id = start_run(client, project_id, wf)
    first = wait_run(client, project_id, run_id)
    assert first.TriggerWorkflowRun.ExecutionState == "SUCCESS"

    msg = fails(client, "DeleteTriggerTask", {"ProjectId": project_id, "TaskId": a}, "ResourceInUse", a, c, m, p)
    assert "upstream dependency" in msg and "merge condition" in msg and "ParamTaskInList" in msg
    fails(client, "DeleteTriggerTask", {"ProjectId": project_id, "TaskId": c}, "ResourceInUse", leaf)

    assert call(client, "DeleteTriggerTask", {"ProjectId": project_id, "TaskId": leaf, "OperateInform": True}).Status
    fails(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": leaf}, "ResourceNotFound", leaf)
    fails(client, "DeleteTriggerTask", {"ProjectId": project_id, "TaskId": leaf}, "ResourceNotFound", leaf)
    assert call(client, "ListDownstreamTriggerTasks", {"ProjectId": project_id, "TaskId": c}).TotalCount == 0
    # the run that executed it still reads, and reruns, from the kept version snapshot
    leaf_run = next(t for t in first.TriggerTaskRuns if t.TaskName == "leaf")
    assert leaf_run.TaskVersionId.startswith(leaf + "_")
    call(
        client,
        "RerunTriggerWorkflowRunAsync",
        {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "1"},
    )
    again = wait_run(client, project_id, run_id, states={"SUCCESS", "FAILED"})
    assert again.TriggerWorkflowRun.RerunTimes == 1 and task_states(again)["leaf"] == "SUCCESS"
    fresh = wait_run(client, project_id, start_run(client, project_id, wf))
    assert "leaf" not in task_states(fresh)  # new runs no longer have it


# ------------------------------------------------------------------------------------------------ lists


@dataclass
class Listing:
    folder: str
    wf: str
    wf2: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
def listing(client: Any, project_id: str) -> Listing:
    folder = f"/td_list_{uid()}"
    wf = new_workflow(client, project_id, "lw1", ParentFolderPath=folder)
    wf2 = new_workflow(client, project_id, "lw2", ParentFolderPath=f"{folder}/sub")

    def make(name: str, workflow: str, type_id: str = "35", folder_path: str | None = None, **extra: Any) -> str:
        body = raw_task(project_id, workflow, name, type_id, config={"CodeContent": b64("true"), **extra})
        if folder_path:
            body["TriggerTaskBaseAttribute"]["TaskFolderPath"] = folder_path
        return str(call(client, "CreateTriggerTask", body).TaskId)

    ids = {
        "shell_root": make("shell_root", wf),
        "py_etl": make("py_ETL_job", wf, "30", "/etl"),
        "shell_deep": make("shell_deep", wf, "35", "/etl/daily"),
        "bundled": make("bundled", wf2, "35", "/etl2", BundleId="bundle-x"),
    }
    ids["merge"] = str(
        call(
            client,
            "CreateTriggerTask",
            raw_task(project_id, wf2, "merge", "131", config={"TaskExtConfigurationList": merge_ext(ids["bundled"])}),
        ).TaskId
    )
    submit(client, project_id, ids["shell_root"])
    submit(client, project_id, ids["py_etl"])
    patch(client, project_id, ids["py_etl"], NewSetting={"TriggerTaskBaseAttribute": {"TaskDescription": "edited"}})
    call(
        client,
        "UpdateOpsTriggerTasksOwner",
        {"ProjectId": project_id, "TaskIds": [ids["shell_deep"]], "OwnerIds": ["100000000031", "100000000032"]},
    )
    return Listing(folder, wf, wf2, ids)


def test_list_trigger_tasks_filters(client: Any, project_id: str, listing: Listing) -> None:
    ids = listing.ids
    scope = {"WorkflowFolderPathList": [listing.folder]}

    def names(**params: Any) -> set[str]:
        data = call(client, "ListTriggerTasks", {"ProjectId": project_id, "PageSize": 200, **scope, **params})
        assert data.TotalCount == len(data.Items)
        by_id = {v: k for k, v in ids.items()}
        return {by_id[t.TaskId] for t in data.Items}

    everything = set(ids)
    assert names() == everything  # the workflow folder and its sub-folders
    assert names(WorkflowFolderPathList=[f"{listing.folder}/sub"]) == {"bundled", "merge"}
    assert names(WorkflowFolderPathList=[f"{listing.folder}/su"]) == set()  # whole folder names only
    assert names(WorkflowId=listing.wf) == {"shell_root", "py_etl", "shell_deep"}
    assert names(TaskName="ETL") == {"py_etl"}  # case-insensitive substring
    assert names(TaskName="shell_") == {"shell_root", "shell_deep"}  # `_` is literal
    assert names(TaskTypeId=30) == {"py_etl"}
    assert names(TaskNodeTypeList=["GENERAL"]) == everything
    assert names(TaskNodeTypeList=["DLC", "ETL"]) == set()
    assert names(TaskNodeTypeList=["GENERAL"], TaskTypeId=131) == {"merge"}
    assert names(Status="Y") == {"shell_root", "py_etl"}
    assert names(Status="N") == {"shell_deep", "bundled", "merge"}
    assert names(Submit=True) == {"shell_root"}  # py_etl was edited after its submit
    assert names(Submit=False) == everything - {"shell_root"}
    assert names(OwnerUin="100000000032") == {"shell_deep"}  # one of several owners
    assert names(OwnerUin="10000000003") == set()
    assert names(BundleId="bundle-x") == {"bundled"}
    assert names(TaskFolderPathList=["/etl"]) == {"py_etl", "shell_deep"}  # sub-folders included, /etl2 not
    assert names(TaskFolderPathList=["/etl/daily/", "/etl2"]) == {"shell_deep", "bundled"}
    assert names(TaskFolderPathList=["/"]) == everything
    creator = get_task(client, project_id, ids["merge"]).TriggerTaskBaseAttribute.CreateUserUin
    assert names(CreateUserUin=creator) == everything
    assert names(CreateUserUin="1") == set()
    assert names(CreateTime=["2000-01-01 00:00:00", "2999-12-31 23:59:59"]) == everything
    assert names(ModifyTime=["2000-01-01 00:00:00", "2000-01-02 00:00:00"]) == set()
    edited = get_task(client, project_id, ids["py_etl"]).TriggerTaskBaseAttribute.LastUpdateTime
    assert "py_etl" in names(ModifyTime=[edited, "2999-12-31 23:59:59"])

    item = call(client, "ListTriggerTasks", {"ProjectId": project_id, **scope, "TaskName": "shell_deep"}).Items[0]
    assert (item.TaskId, item.TaskTypeId, item.TaskName, item.WorkflowName, item.OwnerUin) == (
        ids["shell_deep"],
        35,
        "shell_deep",
        "lw1",
        "100000000031;100000000032",
    )
    assert (item.TaskFolderPath, item.Status, item.Submit, item.TaskLatestVersionNo) == ("/etl/daily", "N", False, "V1")


def test_list_trigger_tasks_paging_and_refusals(client: Any, project_id: str, listing: Listing) -> None:
    scope = {"ProjectId": project_id, "WorkflowFolderPathList": [listing.folder]}
    clamped = call(client, "ListTriggerTasks", {**scope, "PageSize": 2})
    assert (clamped.PageSize, clamped.PageNumber, clamped.TotalCount, clamped.TotalPageNumber) == (10, 1, 5, 1)
    assert [t.TaskId for t in clamped.Items] == sorted(listing.ids.values(), reverse=True)  # newest first
    assert call(client, "ListTriggerTasks", {**scope, "PageNumber": 2}).Items == []
    default = call(client, "ListTriggerTasks", {"ProjectId": project_id})
    assert (default.PageSize, default.PageNumber) == (10, 1) and default.TotalCount >= 5

    def bad(code: str, *mentions: str, **params: Any) -> None:
        fails(client, "ListTriggerTasks", {**scope, **params}, code, *mentions)

    bad("InvalidParameterValue", "PageSize", PageSize=201)
    bad("InvalidParameterValue", "PageSize", PageSize=-1)
    bad("InvalidParameterValue", "PageNumber", PageNumber=0)
    bad("InvalidParameterValue", "CreateTime", CreateTime=["2000-01-01 00:00:00"])
    bad("InvalidParameterValue", "ModifyTime", ModifyTime=["2000-01-01 00:00:00", "2001-01-01", "2002-01-01 00:00:00"])
    bad("InvalidParameterValue", "ModifyTime", ModifyTime=["yesterday", "2002-01-01 00:00:00"])
    bad("InvalidParameterValue", "TaskNodeTypeList.1", "SPARK", TaskNodeTypeList=["GENERAL", "SPARK"])
    bad("InvalidParameterValue", "Status", "X", Status="X")
    bad("InvalidParameterValue", "TaskName", "200", TaskName="x" * 201)
    bad("InvalidParameterValue", "OwnerUin", "255", OwnerUin="1" * 256)
    bad("InvalidParameterValue", "TaskFolderPathList.1", "1000", TaskFolderPathList=["/a", "/" + "a" * 1000])
    bad("InvalidParameterValue", "WorkflowFolderPathList", "100", WorkflowFolderPathList=["/x"] * 101)
    bad("InvalidParameter", "TaskTypeId", TaskTypeId="35")
    bad("InvalidParameter", "Submit", Submit="yes")
    bad("UnknownParameter", "Keyword", Keyword="x")
    fails(client, "ListTriggerTasks", {"ProjectId": "404404"}, "ResourceNotFound", "404404")


def test_upstream_and_downstream_lists(client: Any, project_id: str, g: Graph) -> None:
    def page(action: str, task: str, **paging: Any) -> Any:
        return call(client, action, {"ProjectId": project_id, "TaskId": task, **paging})

    up = page("ListUpstreamTriggerTasks", g.c)
    assert (up.TotalCount, up.TotalPageNumber, up.PageNumber, up.PageSize) == (2, 1, 1, 10)
    assert [(t.TaskId, t.TaskName, t.TaskTypeId, t.TaskTypeDesc) for t in up.Items] == [
        (g.a, "a", 35, "Shell"),
        (g.b, "b", 30, "Python"),
    ]
    item = up.Items[0]
    assert (item.WorkflowId, item.ProjectId, item.Status) == (g.wf, project_id, "N")
    assert item.WorkflowName.startswith("td_graph_") and item.OwnerUin
    assert [t.TaskId for t in page("ListUpstreamTriggerTasks", g.m).Items] == [g.a, g.b]  # merge conditions
    down = page("ListDownstreamTriggerTasks", g.a)
    assert [t.TaskId for t in down.Items] == sorted([g.c, g.m])  # ParamTaskInList alone is no edge
    assert page("ListDownstreamTriggerTasks", g.c).TotalCount == 0
    one = page("ListDownstreamTriggerTasks", g.a, PageSize=1, PageNumber=2)  # no minimum page size here
    assert (one.PageSize, one.TotalCount, one.TotalPageNumber, [t.TaskId for t in one.Items]) == (
        1,
        2,
        2,
        [sorted([g.c, g.m])[1]],
    )
    assert page("ListUpstreamTriggerTasks", g.c, PageNumber=3).Items == []
    merge_item = page("ListDownstreamTriggerTasks", g.b).Items[-1]
    assert (merge_item.TaskId, merge_item.TaskTypeId, merge_item.TaskTypeDesc) == (g.m, 131, "归并")
    for action in ("ListUpstreamTriggerTasks", "ListDownstreamTriggerTasks"):
        fails(
            client,
            action,
            {"ProjectId": project_id, "TaskId": g.a, "PageSize": 201},
            "InvalidParameterValue",
            "PageSize",
        )
        fails(
            client,
            action,
            {"ProjectId": project_id, "TaskId": g.a, "PageNumber": 0},
            "InvalidParameterValue",
            "PageNumber",
        )
        fails(client, action, {"ProjectId": project_id, "TaskId": g.a, "PageSize": -1}, "InvalidParameter", "PageSize")


# ------------------------------------------------------------------------------------------------ ops owner


def test_update_ops_trigger_tasks_owner(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"td_owner_{uid()}")
    a = new_task(client, project_id, wf, "a", "true")
    b = new_task(client, project_id, wf, "b", "true", submit=False)
    done = call(
        client,
        "UpdateOpsTriggerTasksOwner",
        {"ProjectId": project_id, "TaskIds": [a, b, a, MISSING_TASK], "OwnerIds": ["100000000041", " 100000000042 "]},
    )
    assert (done.TotalCount, done.SuccessCount, done.FailedCount) == (3, 2, 1)
    assert re.fullmatch(r"[0-9a-f-]{36}", done.AsyncActionId)
    for task_id in (a, b):
        attr = get_task(client, project_id, task_id).TriggerTaskBaseAttribute
        assert attr.OwnerUin == "100000000041;100000000042"
    attr = get_task(client, project_id, a).TriggerTaskBaseAttribute
    assert (attr.Submit, attr.TaskLatestVersionNo) == (True, "V1")  # an ops change is not a save
    job = call(client, "GetOpsAsyncJob", {"ProjectId": project_id, "AsyncId": done.AsyncActionId})
    assert (job.Status, job.AsyncType, job.TotalSubProcessCount, job.SuccessSubProcessCount) == (
        "PART_SUCCESS",
        "TASK_OWNER_UPDATE",
        3,
        2,
    )
    assert MISSING_TASK in job.ErrorDesc
    single = call(client, "UpdateOpsTriggerTasksOwner", {"ProjectId": project_id, "TaskIds": [b], "OwnerIds": ["7"]})
    assert (single.TotalCount, single.SuccessCount, single.FailedCount) == (1, 1, 0)
    assert get_task(client, project_id, b).TriggerTaskBaseAttribute.OwnerUin == "7"
    many = [a, *(f"9{i:016d}" for i in range(40_000))]  # more ids than SQLite takes parameters in one statement
    bulk = call(client, "UpdateOpsTriggerTasksOwner", {"ProjectId": project_id, "TaskIds": many, "OwnerIds": ["8"]})
    assert (bulk.TotalCount, bulk.SuccessCount, bulk.FailedCount) == (40_001, 1, 40_000)
    job = call(client, "GetOpsAsyncJob", {"ProjectId": project_id, "AsyncId": bulk.AsyncActionId})
    assert (
        job.ErrorDesc.endswith("and 39980 more")
        and get_task(client, project_id, a).TriggerTaskBaseAttribute.OwnerUin == "8"
    )
    none = call(
        client, "UpdateOpsTriggerTasksOwner", {"ProjectId": project_id, "TaskIds": [MISSING_TASK], "OwnerIds": ["7"]}
    )
    assert (none.TotalCount, none.SuccessCount, none.FailedCount) == (1, 0, 1)

    def bad(code: str, *mentions: str, **params: Any) -> None:
        fails(client, "UpdateOpsTriggerTasksOwner", {"ProjectId": project_id, **params}, code, *mentions)

    bad("MissingParameter", "TaskIds", OwnerIds=["7"])
    bad("MissingParameter", "TaskIds", OwnerIds=["7"], TaskIds=[])
    bad("MissingParameter", "OwnerIds", TaskIds=[a])
    bad("MissingParameter", "OwnerIds", TaskIds=[a], OwnerIds=[])
    bad("InvalidParameterValue", "OwnerIds.1", TaskIds=[a], OwnerIds=["7", "  "])
    bad("InvalidParameterValue", "OwnerIds.0", TaskIds=[a], OwnerIds=["7;8"])
    bad(
        "InvalidParameterValue",
        "OwnerIds",
        "255",
        TaskIds=[a],
        OwnerIds=[f"1000000000{i:02d}" for i in range(20)],  # 20 x 12 digits + 19 separators = 259
    )
    bad("InvalidParameter", "OwnerIds", TaskIds=[a], OwnerIds="7")
    fails(
        client,
        "UpdateOpsTriggerTasksOwner",
        {"ProjectId": "404404", "TaskIds": [a], "OwnerIds": ["7"]},
        "ResourceNotFound",
        "404404",
    )
    assert get_task(client, project_id, b).TriggerTaskBaseAttribute.OwnerUin == "7"


# ------------------------------------------------------------------------------------------------ hygiene


def test_no_internal_error_or_traceback_in_server_log(server: Server, log_mark: int) -> None:
    produced = server.output()[log_mark:]
    assert "Traceback" not in produced and "InternalError" not in produced, produced[-4000:]
