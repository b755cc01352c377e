"""Workflow actions beyond create/get/list, through the official SDK against the session server:
UpdateTriggerWorkflowPartially, DeleteTriggerWorkflow, GetOpsTriggerWorkflow, ListOpsTriggerWorkflows.

Every name carries a uuid suffix and every list is scoped by it, because the session server is shared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import call, fails, get_run, new_task, new_workflow, start_run, uid, wait_run

MISSING_ID = "00000000-0000-4000-8000-000000000404"
EVERY_SECOND = {
    "TriggerMode": "TIME_TRIGGER",
    "ConfigMode": "CRON_EXPRESSION",
    "CycleType": "CRONTAB_CYCLE",
    "CrontabExpression": "* * * * * ? *",
    "SchedulerStatus": "PAUSED",
}
DAILY = {
    "TriggerMode": "TIME_TRIGGER",
    "ConfigMode": "CRON_EXPRESSION",
    "CycleType": "DAY_CYCLE",
    "CrontabExpression": "0 0 1 * * ? *",
    "SchedulerStatus": "PAUSED",
}




def workflow(client: Any, project_id: str, wf: str) -> Any:
    return call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})


def patch(client: Any, project_id: str, wf: str, setting: dict[str, Any], remove: list[str] | None = None) -> Any:
    params: dict[str, Any] = {"ProjectId": project_id, "WorkflowId": wf, "NewSetting": setting}
    if remove is not None:
        params["FieldToRemoveList"] = remove
    return call(client, "UpdateTriggerWorkflowPartially", params)


def params_of(detail: Any) -> list[tuple[str, str]]:
    return [(p.ParamKey, p.ParamValue) for p in detail.WorkflowParams]


def scheduled_runs(client: Any, project_id: str, wf: str) -> list[Any]:
    filters = [{"Name": "WorkflowId", "Values": [wf]}, {"Name": "TriggerType", "Values": ["Scheduler"]}]
    return list(call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": filters}).Items)


# ------------------------------------------------------------------------------------ partial updates


def test_partial_update_sets_scalars_upserts_lists_by_key_and_removes_named_items(client: Any, project_id: str) -> None:
    name = f"wd_patch_{uid()}"
    wf = new_workflow(
        client,
        project_id,
        name,
        WorkflowDesc="before",
        WorkflowParams=[{"ParamKey": "a", "ParamValue": "1"}, {"ParamKey": "b", "ParamValue": "2"}],
        GeneralTaskParams=[{"Type": "SPARK_SQL", "Value": "x=1"}],
        TriggerWorkflowSchedulerConfigurations=[DAILY, {**DAILY, "CrontabExpression": "0 0 2 * * ? *"}],
        TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 2, "QueuingMode": 0},
    )
    before = workflow(client, project_id, wf)
    first, second = (t.TriggerId for t in before.TriggerWorkflowSchedulerConfigurations)

    result = patch(
        client,
        project_id,
        wf,
        {
            "WorkflowDesc": "after",
            "WorkflowParams": [{"ParamKey": "c", "ParamValue": "3"}, {"ParamKey": "a", "ParamValue": "9"}],
            "GeneralTaskParams": [{"Type": "SPARK_SQL", "Value": "x=2"}],
            "TriggerWorkflowSchedulerConfigurations": [{"TriggerId": first, "CrontabExpression": "0 30 1 * * ? *"}],
            "TriggerWorkflowRunConfiguration": {"MaxConcurrentNum": 4},
        },
        ["WorkflowParams:b"],
    )
    assert result.Status is True
    after = workflow(client, project_id, wf)
    assert after.WorkflowName == name and after.WorkflowDesc == "after"
    assert params_of(after) == [("a", "9"), ("c", "3")]  # upserted in place, new keys appended, b removed
    assert [(g.Type, g.Value) for g in after.GeneralTaskParams] == [("SPARK_SQL", "x=2")]
    run_config = after.TriggerWorkflowRunConfiguration
    assert (run_config.MaxConcurrentNum, run_config.QueuingMode) == (4, 0)  # merged over the stored one
    edited, kept = after.TriggerWorkflowSchedulerConfigurations
    assert (edited.CycleType, edited.CrontabExpression) == ("DAY_CYCLE", "0 30 1 * * ? *")  # unsent fields kept
    assert edited.TriggerId not in (first, second)  # an edited trigger gets a new id, as with UpdateTriggerWorkflow
    assert (kept.TriggerId, kept.CrontabExpression) == (second, "0 0 2 * * ? *")

    # Removal alone; the official example's stray space before the colon is accepted.
    patch(
        client, project_id, wf, {}, [f"TriggerWorkflowSchedulerConfigurations :{second}", "GeneralTaskParams:SPARK_SQL"]
    )
    after = workflow(client, project_id, wf)
    assert [t.TriggerId for t in after.TriggerWorkflowSchedulerConfigurations] == [edited.TriggerId]
    assert after.GeneralTaskParams == [] and params_of(after) == [("a", "9"), ("c", "3")]

    # A trigger without TriggerId is added; one sent back unchanged keeps its id.
    unchanged = {k: v for k, v in after.TriggerWorkflowSchedulerConfigurations[0]._serialize().items() if v is not None}
    patch(
        client,
        project_id,
        wf,
        {
            "TriggerWorkflowSchedulerConfigurations": [
                unchanged,
                {**DAILY, "CycleType": "HOUR_CYCLE", "CrontabExpression": "0 0 * * * ? *"},
            ],
            "WorkflowName": f"{name}_renamed",
        },
    )
    after = workflow(client, project_id, wf)
    ids = [t.TriggerId for t in after.TriggerWorkflowSchedulerConfigurations]
    assert ids[0] == edited.TriggerId and len(ids) == 2 and ids[1] not in (first, second, edited.TriggerId)
    assert after.WorkflowName == f"{name}_renamed" and after.Path.endswith(f"/{name}_renamed")


def test_partial_update_rearms_triggers_like_update(client: Any, project_id: str) -> None:
    wf = new_workflow(
        client,
        project_id,
        f"wd_rearm_{uid()}",
        TriggerWorkflowSchedulerConfigurations=[EVERY_SECOND],
        TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 10},
    )
    new_task(client, project_id, wf, "t", "true")
    trigger_id = workflow(client, project_id, wf).TriggerWorkflowSchedulerConfigurations[0].TriggerId
    patch(client, project_id, wf, {"SchedulerStatus": "ACTIVE"})  # top level: applies to every trigger
    detail = workflow(client, project_id, wf)
    assert detail.SchedulerStatus == "ACTIVE"
    assert detail.TriggerWorkflowSchedulerConfigurations[0].SchedulerStatus == "ACTIVE"
    fired = wait_for(lambda: scheduled_runs(client, project_id, wf), timeout=10, what="a fire after the patch")
    assert fired[0].TriggerId == detail.TriggerWorkflowSchedulerConfigurations[0].TriggerId != trigger_id
    patch(client, project_id, wf, {}, [f"TriggerWorkflowSchedulerConfigurations:{fired[0].TriggerId}"])
    detail = workflow(client, project_id, wf)
    assert detail.TriggerWorkflowSchedulerConfigurations == []


@dataclass
class Target:
    project_id: str
    workflow_id: str
    trigger_id: str
    other_name: str


@pytest.fixture(scope="module")
def target(client: Any, project_id: str) -> Target:
    tag = uid()
    wf = new_workflow(
        client,
        project_id,
        f"wd_target_{tag}",
        TriggerWorkflowSchedulerConfigurations=[DAILY],
        WorkflowParams=[{"ParamKey": "a", "ParamValue": "1"}],
    )
    other = f"wd_other_{tag}"
    new_workflow(client, project_id, other)
    trigger_id = workflow(client, project_id, wf).TriggerWorkflowSchedulerConfigurations[0].TriggerId
    return Target(project_id, wf, trigger_id, other)


def req(t: Target, setting: dict[str, Any] | None = None, remove: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"ProjectId": t.project_id, "WorkflowId": t.workflow_id}
    if setting is not None:
        out["NewSetting"] = setting
    if remove is not None:
        out["FieldToRemoveList"] = remove
    return out


PatchCase = tuple[Callable[[Target], dict[str, Any]], str, Callable[[Target], tuple[str, ...]]]
PATCH_REFUSALS: dict[str, PatchCase] = {
    "unknown-collection": (
        lambda t: req(t, remove=["Tasks:1"]),
        "InvalidParameterValue",
        lambda t: ("FieldToRemoveList.0", "Tasks"),
    ),
    "no-colon": (
        lambda t: req(t, remove=["WorkflowParams"]),
        "InvalidParameterValue",
        lambda t: ("FieldToRemoveList.0", "<Collection>:<key>"),
    ),
    "unknown-param-key": (
        lambda t: req(t, remove=["WorkflowParams:a", "WorkflowParams:zz"]),
        "InvalidParameterValue",
        lambda t: ("FieldToRemoveList.1", "zz"),
    ),
    "unknown-trigger-to-remove": (
        lambda t: req(t, remove=[f"TriggerWorkflowSchedulerConfigurations:{MISSING_ID}"]),
        "InvalidParameterValue",
        lambda t: ("FieldToRemoveList.0", MISSING_ID),
    ),
    "unknown-general-type": (
        lambda t: req(t, remove=["GeneralTaskParams:SPARK_SQL"]),
        "InvalidParameterValue",
        lambda t: ("FieldToRemoveList.0", "SPARK_SQL"),
    ),
    "unknown-trigger-to-edit": (
        lambda t: req(t, {"TriggerWorkflowSchedulerConfigurations": [{"TriggerId": MISSING_ID}]}),
        "InvalidParameterValue",
        lambda t: ("NewSetting.TriggerWorkflowSchedulerConfigurations.0.TriggerId", MISSING_ID),
    ),
    "removed-and-set": (
        lambda t: req(t, {"WorkflowParams": [{"ParamKey": "a", "ParamValue": "2"}]}, ["WorkflowParams:a"]),
        "InvalidParameterValue",
        lambda t: ("NewSetting.WorkflowParams.0.ParamKey", "FieldToRemoveList.0"),
    ),
    "duplicated-key": (
        lambda t: req(
            t, {"WorkflowParams": [{"ParamKey": "k", "ParamValue": "1"}, {"ParamKey": "k", "ParamValue": "2"}]}
        ),
        "InvalidParameterValue",
        lambda t: ("NewSetting.WorkflowParams.1.ParamKey",),
    ),
    "general-without-type": (
        lambda t: req(t, {"GeneralTaskParams": [{"Value": "x"}]}),
        "InvalidParameterValue",
        lambda t: ("NewSetting.GeneralTaskParams.0.Type",),
    ),
    "bad-cron": (
        lambda t: req(
            t,
            {
                "TriggerWorkflowSchedulerConfigurations": [
                    {"TriggerId": t.trigger_id, "CrontabExpression": "0 0 25 * * ? *"}
                ]
            },
        ),
        "InvalidParameterValue",
        lambda t: ("NewSetting.TriggerWorkflowSchedulerConfigurations.0.CrontabExpression",),
    ),
    "bad-new-trigger": (
        lambda t: req(t, {"TriggerWorkflowSchedulerConfigurations": [{"CycleType": "FORTNIGHT"}]}),
        "InvalidParameterValue",
        lambda t: ("NewSetting.TriggerWorkflowSchedulerConfigurations.0.CycleType",),
    ),
    "concurrency": (
        lambda t: req(t, {"TriggerWorkflowRunConfiguration": {"MaxConcurrentNum": 0}}),
        "InvalidParameterValue",
        lambda t: ("NewSetting.TriggerWorkflowRunConfiguration.MaxConcurrentNum",),
    ),
    "scheduler-status": (
        lambda t: req(t, {"SchedulerStatus": "RUNNING"}),
        "InvalidParameterValue",
        lambda t: ("NewSetting.SchedulerStatus", "RUNNING"),
    ),
    "blank-name": (
        lambda t: req(t, {"WorkflowName": "  "}),
        "InvalidParameterValue",
        lambda t: ("NewSetting.WorkflowName",),
    ),
    "duplicate-name": (
        lambda t: req(t, {"WorkflowName": t.other_name}),
        "InvalidParameter.DuplicateName",
        lambda t: (t.other_name,),
    ),
    "unknown-field": (lambda t: req(t, {"Bogus": 1}), "UnknownParameter", lambda t: ("NewSetting.Bogus",)),
    "wrong-type": (
        lambda t: {**req(t), "FieldToRemoveList": "WorkflowParams:a"},
        "InvalidParameter",
        lambda t: ("FieldToRemoveList",),
    ),
    "missing-param-value": (
        lambda t: req(t, {"WorkflowParams": [{"ParamKey": "k"}]}),
        "MissingParameter",
        lambda t: ("NewSetting.WorkflowParams.0.ParamValue",),
    ),
    "missing-workflow-id": (
        lambda t: {"ProjectId": t.project_id, "NewSetting": {}},
        "MissingParameter",
        lambda t: ("WorkflowId",),
    ),
    "unknown-workflow": (
        lambda t: {"ProjectId": t.project_id, "WorkflowId": MISSING_ID, "NewSetting": {}},
        "ResourceNotFound",
        lambda t: (MISSING_ID,),
    ),
    "unknown-project": (
        lambda t: {"ProjectId": "404404", "WorkflowId": t.workflow_id},
        "ResourceNotFound",
        lambda t: ("404404",),
    ),
}


@pytest.mark.parametrize("case", sorted(PATCH_REFUSALS))
def test_partial_update_refusals(client: Any, target: Target, case: str) -> None:
    build, code, mentions = PATCH_REFUSALS[case]
    fails(client, "UpdateTriggerWorkflowPartially", build(target), code, *mentions(target))


def test_refused_partial_update_changes_nothing(client: Any, target: Target) -> None:
    before = workflow(client, target.project_id, target.workflow_id)
    fails(
        client,
        "UpdateTriggerWorkflowPartially",
        req(target, {"WorkflowDesc": "x", "SchedulerStatus": "ACTIVE"}, ["WorkflowParams:nope"]),
        "InvalidParameterValue",
        "nope",
    )
    after = workflow(client, target.project_id, target.workflow_id)
    assert after._serialize() == before._serialize()


# ------------------------------------------------------------------------------------------ deleting


def test_delete_is_refused_while_a_run_is_active_then_keeps_the_history(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    name = f"wd_del_{uid()}"
    marker = tmp_path / "started"
    wf = new_workflow(client, project_id, name)
    new_task(client, project_id, wf, "sleeper", f"touch {marker}; sleep 30 & wait")
    run_id = start_run(client, project_id, wf)
    wait_for(marker.exists, what="sleeper started")
    fails(
        client,
        "DeleteTriggerWorkflow",
        {"ProjectId": project_id, "WorkflowId": wf},
        "ResourceInUse",
        run_id,
        "RUNNING",
        "KillTriggerWorkflowRuns",
    )
    assert workflow(client, project_id, wf).WorkflowName == name  # still there

    call(
        client,
        "KillTriggerWorkflowRuns",
        {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]},
    )
    wait_run(client, project_id, run_id, {"KILLED"})
    deleted = call(client, "DeleteTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    assert deleted.Status is True

    fails(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf}, "ResourceNotFound", wf)
    assert call(client, "ListTriggerWorkflows", {"ProjectId": project_id, "Keyword": name}).TotalCount == 0
    fails(client, "DeleteTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf}, "ResourceNotFound", wf)
    fails(client, "CreateTriggerWorkflowRun", {"ProjectId": project_id, "WorkflowId": wf}, "ResourceNotFound", wf)
    history = get_run(client, project_id, run_id)  # the run and its task runs stay readable
    run = history.TriggerWorkflowRun
    assert (run.ExecutionState, run.WorkflowName) == ("KILLED", name)
    assert (run.AssociatedEntityExist, run.SupportRerun) == (False, False)  # api-notes Q10
    assert [t.TaskName for t in history.TriggerTaskRuns] == ["sleeper"]
    task_run = call(
        client,
        "GetTriggerTaskRun",
        {"ProjectId": project_id, "TaskExecutionId": history.TriggerTaskRuns[0].ExecutionId},
    )
    assert task_run.AssociatedEntityExist is False
    fails(
        client,
        "RerunTriggerWorkflowRunAsync",
        {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "1"},
        "UnsupportedOperation",
        "no longer exists",
    )
    again = new_workflow(client, project_id, name)  # the name is free again
    assert again != wf


def test_delete_is_refused_while_another_workflow_runs_it(client: Any, project_id: str) -> None:
    tag = uid()
    child = new_workflow(client, project_id, f"wd_child_{tag}")
    parent_name = f"wd_parent_{tag}"
    parent = new_workflow(client, project_id, parent_name)
    node = call(
        client,
        "CreateTriggerTask",
        {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": "run_child", "TaskTypeId": "140", "WorkflowId": parent},
            "TriggerTaskConfiguration": {"TaskExtConfigurationList": [{"ParamKey": "workflowId", "ParamValue": child}]},
            "TriggerTaskSchedulerConfiguration": {},
        },
    ).TaskId
    fails(
        client,
        "DeleteTriggerWorkflow",
        {"ProjectId": project_id, "WorkflowId": child},
        "ResourceInUse",
        "run_child",
        node,
        parent_name,
        parent,
    )
    # The parent itself may go: it runs the child, nothing runs it.
    assert call(client, "DeleteTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": parent}).Status is True
    assert call(client, "DeleteTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": child}).Status is True


def test_delete_refusals(client: Any, project_id: str) -> None:
    fails(client, "DeleteTriggerWorkflow", {"ProjectId": project_id}, "MissingParameter", "WorkflowId")
    fails(client, "DeleteTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": 7}, "InvalidParameter", "WorkflowId")
    fails(
        client, "DeleteTriggerWorkflow", {"ProjectId": "404404", "WorkflowId": MISSING_ID}, "ResourceNotFound", "404404"
    )
    fails(
        client,
        "DeleteTriggerWorkflow",
        {"ProjectId": project_id, "WorkflowId": MISSING_ID, "Force": True},
        "UnknownParameter",
        "Force",
    )


# ------------------------------------------------------------------------------------------ ops DAG


@dataclass
class Dag:
    workflow_id: str
    name: str
    child: str
    tasks: dict[str, str]
    draft: str
    run: Any


@pytest.fixture(scope="module")
def dag(client: Any, project_id: str) -> Dag:
    tag = uid()
    child = new_workflow(client, project_id, f"wd_dag_child_{tag}")
    new_task(client, project_id, child, "inner", "true")
    name = f"wd_dag_{tag}"
    wf = new_workflow(client, project_id, name, TriggerWorkflowSchedulerConfigurations=[DAILY])
    a = new_task(client, project_id, wf, "a", "true", DependencyTriggerPolicy="ALL_DONE")
    b = new_task(client, project_id, wf, "b", "print('b')", upstream=[a], type_id="30")
    cond = [{"conditionType": "singleCondition", "expectationState": [2], "orderNum": 0, "upstreamTaskId": b}]
    ext = {"m": ("131", {"mergeCondition": json.dumps(cond)}), "n": ("140", {"workflowId": child})}
    ids = {"a": a, "b": b}
    for task, (type_id, config) in ext.items():
        ids[task] = call(
            client,
            "CreateTriggerTask",
            {
                "ProjectId": project_id,
                "TriggerTaskBaseAttribute": {"TaskName": task, "TaskTypeId": type_id, "WorkflowId": wf},
                "TriggerTaskConfiguration": {
                    "TaskExtConfigurationList": [{"ParamKey": k, "ParamValue": v} for k, v in config.items()]
                },
                "TriggerTaskSchedulerConfiguration": {
                    "MaxRetryNumber": 0,
                    "UpstreamDependencyConfigList": [{"TaskId": ids["b" if task == "m" else "m"]}],
                },
            },
        ).TaskId
        call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": ids[task], "VersionRemark": "v1"})
    draft = new_task(client, project_id, wf, "draft", "true", upstream=[a], submit=False)
    run = wait_run(client, project_id, start_run(client, project_id, wf))
    assert run.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    return Dag(wf, name, child, ids, draft, run)


def ops_dag(client: Any, project_id: str, wf: str, run_id: str | None = None) -> Any:
    params = {"ProjectId": project_id, "WorkflowId": wf}
    if run_id:
        params["WorkflowExecutionId"] = run_id
    return call(client, "GetOpsTriggerWorkflow", params)


def test_ops_dag_shows_submitted_tasks_and_their_links(client: Any, project_id: str, dag: Dag) -> None:
    data = ops_dag(client, project_id, dag.workflow_id)
    nodes = {n.TaskName: n for n in data.TriggerTasks}
    assert list(nodes) == ["a", "b", "m", "n"]  # DAG order; the unsubmitted draft is not in production
    kinds = {k: (n.TaskType, n.TaskTypeId) for k, n in nodes.items()}
    assert kinds == {"a": ("SHELL", 35), "b": ("PYTHON", 30), "m": ("MERGE", 131), "n": ("RUN_WORKFLOW", 140)}
    project = call(client, "GetProject", {"ProjectId": project_id})
    for task, n in nodes.items():
        assert n.TaskId == dag.tasks[task]
        assert (n.ProjectId, n.ProjectName, n.WorkflowId, n.WorkflowName) == (
            project_id,
            project.ProjectName,
            dag.workflow_id,
            dag.name,
        )
        assert n.FolderName == "默认文件夹" and n.FolderId and n.UserUinInCharge == project.CreatorUin
        assert (n.ExecutionState, n.ExecutionStartTime) == (None, None)  # no run asked for
        assert n.CycleType == "DAY_CYCLE"
    assert nodes["a"].DependencyTriggerPolicy == "ALL_DONE" and nodes["b"].DependencyTriggerPolicy == "ALL_SUCCESS"
    t = dag.tasks
    links = [(x.UpstreamTaskId, x.DownstreamTaskId) for x in data.TriggerTaskLinks]
    assert links == [(t["a"], t["b"]), (t["b"], t["m"]), (t["m"], t["n"])]
    assert all(x.WorkflowId == dag.workflow_id and x.WorkflowVersionId is None for x in data.TriggerTaskLinks)
    assert all(re.fullmatch(r"[0-9a-f-]{36}", x.LinkId) for x in data.TriggerTaskLinks)
    again = ops_dag(client, project_id, dag.workflow_id)
    assert [x.LinkId for x in again.TriggerTaskLinks] == [x.LinkId for x in data.TriggerTaskLinks]  # stable ids


def test_ops_dag_with_a_run_overlays_its_task_runs(client: Any, project_id: str, dag: Dag) -> None:
    run = dag.run.TriggerWorkflowRun
    by_task = {tr.TaskId: tr for tr in dag.run.TriggerTaskRuns}
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": dag.draft, "VersionRemark": "later"})
    data = ops_dag(client, project_id, dag.workflow_id, run.ExecutionId)
    nodes = {n.TaskName: n for n in data.TriggerTasks}
    assert list(nodes) == ["a", "b", "m", "n", "draft"]  # submitted after the run: a node, but not in the run
    for task in ("a", "b", "m", "n"):
        tr = by_task[dag.tasks[task]]
        assert (nodes[task].ExecutionState, nodes[task].ExecutionStartTime) == ("SUCCESS", tr.ExecutionStartTime)
        assert nodes[task].ExecuteUserUin == run.ExecuteUserUin
    assert (nodes["draft"].ExecutionState, nodes["draft"].ExecutionStartTime) == (None, None)
    assert {x.WorkflowVersionId for x in data.TriggerTaskLinks} == {run.WorkflowVersionId}

    fails(
        client,
        "GetOpsTriggerWorkflow",
        {"ProjectId": project_id, "WorkflowId": dag.workflow_id, "WorkflowExecutionId": MISSING_ID},
        "ResourceNotFound",
        "WorkflowExecutionId",
        MISSING_ID,
    )
    child_run = (
        call(
            client,
            "ListTriggerWorkflowRuns",
            {"ProjectId": project_id, "Filters": [{"Name": "WorkflowId", "Values": [dag.child]}]},
        )
        .Items[0]
        .ExecutionId
    )
    fails(
        client,
        "GetOpsTriggerWorkflow",  # a run of another workflow
        {"ProjectId": project_id, "WorkflowId": dag.workflow_id, "WorkflowExecutionId": child_run},
        "ResourceNotFound",
        child_run,
        dag.workflow_id,
    )
    fails(
        client,
        "GetOpsTriggerWorkflow",
        {"ProjectId": project_id, "WorkflowId": MISSING_ID},
        "ResourceNotFound",
        MISSING_ID,
    )
    fails(client, "GetOpsTriggerWorkflow", {"ProjectId": project_id}, "MissingParameter", "WorkflowId")
    empty = ops_dag(client, project_id, new_workflow(client, project_id, f"wd_empty_{uid()}"))
    assert (empty.TriggerTasks, empty.TriggerTaskLinks) == ([], [])


# ------------------------------------------------------------------------------------------ ops list


def ops_list(client: Any, project_id: str, **params: Any) -> Any:
    return call(client, "ListOpsTriggerWorkflows", {"ProjectId": project_id, **params})


def flt(name: str, *values: str) -> dict[str, Any]:
    return {"Name": name, "Values": list(values)}


def test_list_ops_workflows_filters_orders_paging_and_trigger(client: Any, project_id: str) -> None:
    tag = uid()
    folder = call(
        client,
        "CreateWorkflowFolder",
        {"ProjectId": project_id, "ParentFolderPath": "/", "FolderName": f"wd_ops_{tag}"},
    ).FolderId
    trigger = {
        **DAILY,
        "ScheduleTimeZone": "UTC+8",
        "StartTime": "2026-01-01 00:00:00",
        "EndTime": "2099-12-31 23:59:59",
    }
    wfs = {
        "zero": new_workflow(
            client,
            project_id,
            f"ops_{tag}_zero",
            OwnerUin="100000000077",
            WorkflowParams=[{"ParamKey": "k", "ParamValue": "v"}],
        ),
        "one": new_workflow(client, project_id, f"ops_{tag}_one", TriggerWorkflowSchedulerConfigurations=[trigger]),
        "two": new_workflow(client, project_id, f"ops_{tag}_two", ParentFolderPath=f"/wd_ops_{tag}"),
    }
    new_task(client, project_id, wfs["one"], "t1", "true")
    new_task(client, project_id, wfs["one"], "unsubmitted", "true", submit=False)  # not in production
    for i in range(2):
        new_task(client, project_id, wfs["two"], f"t{i}", "true")

    everything = ops_list(client, project_id, Filters=[flt("Keyword", f"OPS_{tag.upper()}")], PageSize=200)
    assert everything.TotalCount == 3 and everything.PageNumber == 1 and everything.PageSize == 200
    items = {i.WorkflowName.rsplit("_", 1)[1]: i for i in everything.Items}
    assert {k: i.TaskCount for k, i in items.items()} == {"zero": 0, "one": 1, "two": 2}
    assert [i.WorkflowName for i in everything.Items] == sorted(i.WorkflowName for i in everything.Items)
    zero, one, two = items["zero"], items["one"], items["two"]
    assert (zero.WorkflowId, zero.ProjectId, zero.UserUinInCharge) == (wfs["zero"], project_id, "100000000077")
    assert json.loads(zero.WorkflowParams) == {"k": "v"} and json.loads(one.WorkflowParams) == {}
    assert (two.FolderId, two.FolderName) == (folder, f"wd_ops_{tag}") and zero.FolderName == "默认文件夹"
    assert zero.WorkflowTriggerConfig is None and zero.ExecuteUserUin
    config = one.WorkflowTriggerConfig  # api-notes §1.17: epoch-ms strings and an IANA zone
    assert (config.StartTime, config.EndTime) == ("1767196800000", "4102415999000")
    assert (config.ScheduleTimeZone, config.CrontabExpression, config.CycleType) == (
        "Asia/Shanghai",
        "0 0 1 * * ? *",
        "DAY_CYCLE",
    )
    assert (
        config.TriggerId == workflow(client, project_id, wfs["one"]).TriggerWorkflowSchedulerConfigurations[0].TriggerId
    )

    def names(**params: Any) -> list[str]:
        data = ops_list(client, project_id, **params)
        return [i.WorkflowName.rsplit("_", 1)[1] for i in data.Items]

    mine = flt("Keyword", tag)
    assert names(Filters=[mine], OrderFields=[{"Name": "TaskCount", "Direction": "DESC"}]) == ["two", "one", "zero"]
    assert names(Filters=[mine], OrderFields=[{"Name": "TaskCount", "Direction": "ASC"}]) == ["zero", "one", "two"]
    assert names(Filters=[flt("WorkflowId", wfs["one"], wfs["two"])]) == ["one", "two"]
    assert names(Filters=[flt("Keyword", wfs["zero"])]) == ["zero"]  # exact ID
    assert names(Filters=[flt("FolderId", folder)]) == ["two"]
    assert names(Filters=[mine, flt("InChargeUin", "100000000077")]) == ["zero"]
    first = ops_list(client, project_id, Filters=[mine], PageSize=2)
    assert (first.TotalCount, first.TotalPageNumber, len(first.Items)) == (3, 2, 2)
    assert names(Filters=[mine], PageSize=2, PageNumber=2) == ["zero"]  # name order: one, two, zero
    assert names(Filters=[mine], PageSize=1, PageNumber=2) == ["two"]  # no minimum page size in ops lists
    assert ops_list(client, project_id, Filters=[mine], PageNumber=9).Items == []
    default = ops_list(client, project_id)
    assert (default.PageNumber, default.PageSize) == (1, 10)


@pytest.mark.parametrize(
    ("params", "code", "mentions"),
    [
        (
            {"Filters": [flt("TaskName", "x")]},
            "InvalidParameter.InvalidFilterParameter",
            ("Filters.0.Name", "TaskName"),
        ),
        (
            {"Filters": [flt("Keyword", "a"), {"Name": "Keyword", "Values": []}]},
            "InvalidParameterValue",
            ("Filters.1.Values",),
        ),
        (
            {"OrderFields": [{"Name": "CreateTime", "Direction": "ASC"}]},
            "InvalidParameter.InvalidFilterParameter",
            ("OrderFields.0.Name", "CreateTime", "TaskCount"),
        ),
        (
            {"OrderFields": [{"Name": "TaskCount", "Direction": "UP"}]},
            "InvalidParameterValue",
            ("OrderFields.0.Direction",),
        ),
        ({"OrderFields": [{"Name": "TaskCount"}]}, "MissingParameter", ("OrderFields.0.Direction",)),
        ({"PageSize": 201}, "InvalidParameterValue", ("PageSize",)),
        ({"PageNumber": 0}, "InvalidParameterValue", ("PageNumber",)),
        ({"PageSize": -1}, "InvalidParameter", ("PageSize",)),
        ({"Keyword": "x"}, "UnknownParameter", ("Keyword",)),
    ],
)
def test_list_ops_workflows_refusals(
    client: Any, project_id: str, params: dict[str, Any], code: str, mentions: tuple[str, ...]
) -> None:
    fails(client, "ListOpsTriggerWorkflows", {"ProjectId": project_id, **params}, code, *mentions)


def test_list_ops_workflows_unknown_project(client: Any) -> None:
    fails(client, "ListOpsTriggerWorkflows", {"ProjectId": "404404"}, "ResourceNotFound", "404404")
