"""Merge nodes (131 → run-level `Dependent`) and nested workflows (140 → `RunWorkflow`) through the SDK."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from tests.conftest import wait_for
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, task_states, wait_run


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def control_task(
    client: Any, project_id: str, wf: str, name: str, type_id: str, ext: dict[str, str], **sched: Any
) -> str:
    data = call(
        client,
        "CreateTriggerTask",
        {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": type_id, "WorkflowId": wf},
            "TriggerTaskConfiguration": {
                "TaskExtConfigurationList": [{"ParamKey": k, "ParamValue": v} for k, v in ext.items()]
            },
            "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0, **sched},
        },
    )
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": data.TaskId, "VersionRemark": "v1"})
    return str(data.TaskId)


Conditions = list[tuple[str, list[int]]]


def merge(client: Any, project_id: str, wf: str, name: str, conditions: Conditions, relation: str = "OR") -> str:
    cond = [{"conditionType": "singleCondition", "expectationState": codes, "orderNum": i, "upstreamTaskId": t}
            for i, (t, codes) in enumerate(conditions)]  # fmt: skip
    return control_task(client, project_id, wf, name, "131", {"mergeCondition": json.dumps(cond),
                                                                "mergeRelation": relation})  # fmt: skip


def runs_of_workflow(client: Any, project_id: str, workflow_id: str) -> list[Any]:
    by_workflow = [{"Name": "WorkflowId", "Values": [workflow_id]}]
    return list(call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": by_workflow}).Items)


def nested(client: Any, project_id: str, wf: str, name: str, child: str, **sched: Any) -> str:
    return control_task(client, project_id, wf, name, "140", {"workflowId": child}, **sched)


def test_merge_or_succeeds_on_one_held_condition_and_reports_like_the_seed(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, uid("merge_or"))
    a = new_task(client, project_id, wf, "a", "true")
    b = new_task(client, project_id, wf, "b", "exit 1")
    m = merge(client, project_id, wf, "join", [(a, [2]), (b, [2])])
    new_task(client, project_id, wf, "after", "true", upstream=[m])
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data) == {"a": "SUCCESS", "b": "FAILED", "join": "SUCCESS", "after": "SUCCESS"}
    join = next(t for t in data.TriggerTaskRuns if t.TaskName == "join")
    assert (join.TaskType, join.TaskTypeId, join.DependOnList) == ("Dependent", 0, [a, b])
    assert "mergeCondition" in json.loads(join.TaskTypeExtensions)


def test_merge_and_fails_when_one_condition_cannot_hold(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, uid("merge_and"))
    a = new_task(client, project_id, wf, "a", "true")
    b = new_task(client, project_id, wf, "b", "exit 1")
    m = merge(client, project_id, wf, "join", [(a, [2]), (b, [2])], relation="AND")
    new_task(client, project_id, wf, "after", "true", upstream=[m])
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data) == {"a": "SUCCESS", "b": "FAILED", "join": "FAILED", "after": "UPSTREAM_FAILED"}
    assert next(t for t in data.TriggerTaskRuns if t.TaskName == "join").ErrorCodeStr == "MergeConditionNotMet"


def test_merge_accepts_skipped_and_failed_states_by_code(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, uid("merge_codes"))
    ok = new_task(client, project_id, wf, "ok", "true")
    skipped = new_task(client, project_id, wf, "skipped", "true", upstream=[ok], DependencyTriggerPolicy="ALL_FAILED")
    bad = new_task(client, project_id, wf, "bad", "exit 3")
    merge(client, project_id, wf, "join", [(skipped, [2, 21]), (bad, [4])], relation="AND")
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data)["skipped"] == "SKIP"
    assert task_states(data)["join"] == "SUCCESS"


@pytest.mark.parametrize(
    "ext",
    [{}, {"mergeCondition": "not json"}, {"mergeCondition": "[]"},
     {"mergeCondition": json.dumps([{"upstreamTaskId": "99999999999999999"}])},
     {"mergeCondition": json.dumps([{"upstreamTaskId": "x"}]), "mergeRelation": "XOR"}],
)  # fmt: skip
def test_bad_merge_conditions_are_refused(client: Any, project_id: str, ext: dict[str, str]) -> None:
    wf = new_workflow(client, project_id, uid("merge_bad"))
    with pytest.raises(TencentCloudSDKException) as e:
        control_task(client, project_id, wf, "join", "131", ext)
    assert e.value.get_code() == "InvalidParameterValue"


def test_a_merge_node_refuses_upstreams_its_conditions_do_not_name(client: Any, project_id: str) -> None:
    """Such an edge was accepted and never waited for: the join could succeed while it still ran."""
    wf = new_workflow(client, project_id, uid("merge_extra"))
    a, b = new_task(client, project_id, wf, "a", "true"), new_task(client, project_id, wf, "b", "true")
    cond = json.dumps([{"upstreamTaskId": a, "expectationState": [2]}])
    with pytest.raises(TencentCloudSDKException) as e:
        control_task(client, project_id, wf, "join", "131", {"mergeCondition": cond},
                     UpstreamDependencyConfigList=[{"TaskId": b}])  # fmt: skip
    assert e.value.get_code() == "InvalidParameterValue"
    assert "UpstreamDependencyConfigList" in e.value.get_message() and b in e.value.get_message()
    # What GetTriggerTask shows (the conditions' upstreams) may be sent back as explicit upstreams.
    same = [{"TaskId": a}]
    control_task(client, project_id, wf, "join", "131", {"mergeCondition": cond}, UpstreamDependencyConfigList=same)
    flagged = json.dumps([{"upstreamTaskId": a, "expectationState": [True]}])
    with pytest.raises(TencentCloudSDKException) as e:
        control_task(client, project_id, wf, "join2", "131", {"mergeCondition": flagged})
    assert e.value.get_code() == "InvalidParameterValue"


def test_nested_workflow_runs_as_a_child_run_and_the_node_follows_it(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    out = tmp_path / "trace"
    child = new_workflow(client, project_id, uid("child"), WorkflowParams=[{"ParamKey": "who", "ParamValue": "child"}])
    c1 = new_task(client, project_id, child, "c1", f"echo c1-${{who}} >> {out}")
    new_task(client, project_id, child, "c2", f"echo c2 >> {out}", upstream=[c1])
    parent = new_workflow(client, project_id, uid("parent"))
    p1 = new_task(client, project_id, parent, "p1", f"echo p1 >> {out}")
    node = nested(client, project_id, parent, "run_child", child, UpstreamDependencyConfigList=[{"TaskId": p1}])
    new_task(client, project_id, parent, "p3", f"echo p3 >> {out}", upstream=[node])
    run_id = start_run(client, project_id, parent, AdvancedParams=[{"ParamKey": "who", "ParamValue": "parent"}])
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert out.read_text().split() == ["p1", "c1-parent", "c2", "p3"]  # the child inherits the parent's params
    rw = next(t for t in data.TriggerTaskRuns if t.TaskName == "run_child")
    assert (rw.TaskType, rw.TaskTypeId, json.loads(rw.TaskTypeExtensions)) == ("RunWorkflow", 0, {"workflowId": child})
    children = runs_of_workflow(client, project_id, child)
    assert len(children) == 1
    kid = children[0]
    assert (kid.ParentWorkflowExecutionId, kid.ParentTaskExecutionId, kid.ParentTaskExecutionName) == (
        run_id, rw.ExecutionId, "run_child",
    )  # fmt: skip
    assert kid.ExecutionState == "SUCCESS" and kid.TriggerType == "Manual" and kid.SupportRerun is False


def test_failing_child_fails_the_node_and_killing_the_parent_kills_the_child(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    bad_child = new_workflow(client, project_id, uid("bad_child"))
    new_task(client, project_id, bad_child, "boom", "exit 4")
    parent = new_workflow(client, project_id, uid("parent_f"))
    node = nested(client, project_id, parent, "run_bad", bad_child)
    new_task(client, project_id, parent, "after", "true", upstream=[node])
    data = wait_run(client, project_id, start_run(client, project_id, parent))
    assert task_states(data) == {"run_bad": "FAILED", "after": "UPSTREAM_FAILED"}
    assert "FAILED" in next(t for t in data.TriggerTaskRuns if t.TaskName == "run_bad").ErrorCodeStr

    gate = tmp_path / "never"
    slow_child = new_workflow(client, project_id, uid("slow_child"))
    new_task(client, project_id, slow_child, "wait", f"while [ ! -e {gate} ]; do sleep 0.02; done")
    parent2 = new_workflow(client, project_id, uid("parent_k"))
    nested(client, project_id, parent2, "run_slow", slow_child)
    run_id = start_run(client, project_id, parent2)
    wait_run(client, project_id, run_id, states={"RUNNING"})

    def child_run() -> Any:
        items = runs_of_workflow(client, project_id, slow_child)
        return items[0] if items and items[0].ExecutionState == "RUNNING" else None

    from tests.conftest import wait_for

    kid = wait_for(child_run, what="child running")
    call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": parent2, "All": True})
    assert get_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "KILLED"
    assert get_run(client, project_id, kid.ExecutionId).TriggerWorkflowRun.ExecutionState == "KILLED"


def test_nesting_cycles_and_unknown_workflows_are_refused(client: Any, project_id: str) -> None:
    a = new_workflow(client, project_id, uid("nest_a"))
    b = new_workflow(client, project_id, uid("nest_b"))
    nested(client, project_id, a, "a_runs_b", b)
    for wf, target in ((b, a), (a, a), (a, "00000000-0000-4000-8000-000000000000")):
        with pytest.raises(TencentCloudSDKException) as e:
            nested(client, project_id, wf, uid("bad"), target)
        assert e.value.get_code() == "InvalidParameterValue" and "workflowId" in e.value.get_message()


def test_child_runs_bypass_the_child_workflows_concurrency_limit(client: Any, project_id: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    child = new_workflow(client, project_id, uid("busy_child"), TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 1},
                         WorkflowParams=[{"ParamKey": "mode", "ParamValue": "slow"}])  # fmt: skip
    new_task(client, project_id, child, "work", f'[ "${{mode}}" = fast ] || while [ ! -e {gate} ]; do sleep 0.02; done')
    blocker = start_run(client, project_id, child)
    wait_run(client, project_id, blocker, states={"RUNNING"})
    parent = new_workflow(client, project_id, uid("parent_b"))
    nested(client, project_id, parent, "run_child", child)
    run_id = start_run(client, project_id, parent, AdvancedParams=[{"ParamKey": "mode", "ParamValue": "fast"}])
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"  # Q-N2
    gate.touch()
    assert wait_run(client, project_id, blocker).TriggerWorkflowRun.ExecutionState == "SUCCESS"


def test_a_nested_run_reads_time_expressions_in_its_parent_s_zone(client: Any, project_id: str) -> None:
    """A child run inherits the parent's baseline instant (Q-P1) and, with it, the parent's zone: it used to
    take the server's default zone, so `${yyyyMMddHH}` in the child named another hour than in the parent."""
    child = new_workflow(client, project_id, uid("tz_child"))
    new_task(client, project_id, child, "c", "true")
    trigger = {"TriggerMode": "TIME_TRIGGER", "SchedulerStatus": "ACTIVE", "ConfigMode": "CRON_EXPRESSION",
               "CycleType": "CRONTAB_CYCLE", "CrontabExpression": "* * * * * ? *", "ScheduleTimeZone": "UTC-5"}
    parent = new_workflow(client, project_id, uid("tz_parent"), TriggerWorkflowSchedulerConfigurations=[trigger],
                          TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 1})  # fmt: skip
    nested(client, project_id, parent, "node", child)
    try:
        first = wait_for(lambda: (r := runs_of_workflow(client, project_id, parent)) and r[-1], timeout=15,
                         what="a fire")  # fmt: skip
        parent_run = wait_run(client, project_id, first.ExecutionId)
    finally:
        pause = {"ProjectId": project_id, "WorkflowId": parent, "SchedulerStatus": "PAUSED"}
        call(client, "UpdateTriggerWorkflow", pause)
    zone = parent_run.TriggerTaskRuns[0].Timezone
    assert zone not in (None, "", "Asia/Shanghai"), zone
    child_run = wait_run(client, project_id, runs_of_workflow(client, project_id, child)[0].ExecutionId)
    assert [t.Timezone for t in child_run.TriggerTaskRuns] == [zone]
