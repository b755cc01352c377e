"""The task-type registry (trigflow.tasktypes): labels, save-time validation, freezing, runtimes.

Pure: no server, no database. The same behaviour through the API is covered by the integration tests of
task definitions, control nodes and runs; these pin what each type owns.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.merge import MergeOutcome, evaluate, parse_conditions
from trigflow.domain.states import TASK_TERMINAL, TaskEvent, TaskState
from trigflow.domain.task_edit import NODE_CATEGORIES
from trigflow.runner import base as wl
from trigflow.runner.registry import ECHO_TYPE_ID
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.base import ChildRunTask, ControlNode, Labels, Paths, Registry, Runtime, UnknownKind
from trigflow.tasktypes.merge import MERGE
from trigflow.tasktypes.process import PACKAGE_ROOT, RUNNER_ARGV, Attempt, RunnerTask, ScriptTask
from trigflow.tasktypes.python import PYTHON
from trigflow.tasktypes.run_workflow import RUN_WORKFLOW
from trigflow.tasktypes.shell import SHELL, SHELL_FORM

SRC = Path(__file__).resolve().parents[2] / "src" / "trigflow"


def test_the_registry_holds_the_types_that_run_keyed_by_task_type_id() -> None:
    runnable = sorted(t.type_id for t in TASK_TYPES.runnable())
    assert runnable == [26, 30, 32, 35, 38, 46, 50, 130, 131, 132, 133, 137, 139, 140]
    for t in TASK_TYPES:
        assert TASK_TYPES[t.type_id] is t and t.type_id in TASK_TYPES
    assert TASK_TYPES.get(25) is None and 25 not in TASK_TYPES


def test_labels_design_run_side_desc_and_category() -> None:
    # (design TaskType, run-side TaskType, run-side TaskTypeId, TaskTypeDesc), enums.md §2, decisions.md Q-TR2
    want = {
        35: ("SHELL", "SHELL", 35, "Shell"),
        38: ("SHELL_FORM", "SHELL_FORM", 38, "ShellScript"),
        30: ("PYTHON", "PYTHON", 30, "Python"),
        32: ("DLC_SQL", "DLC_SQL", 32, "dlc"),
        133: ("SSH", "SSH", 133, "SSH节点"),  # the codes are inferred: no WeData payload shows them
        46: ("DLC_SPARK", "DLC_SPARK", 46, "dlcsparkTaskType"),
        50: ("DLC_PYSPARK", "DLC_PYSPARK", 50, "DLCPyspark"),
        139: ("DLC_SPARK_STREAMING", "DLC_SPARK_STREAMING", 139, "DLCSparkStreaming"),  # no published desc: inferred
        26: ("OFFLINE_SYNC", "OFFLINE_SYNC", 26, "ETLTaskType"),
        130: ("BRANCH", "BRANCH", 130, "分支"),  # the run-side label is unpublished: trigflow keeps the design one
        132: ("NOTEBOOK", "NOTEBOOK", 132, "Notebook探索"),  # NOTEBOOK observed run-side [CLI-ex]
        131: ("MERGE", "Dependent", 0, "归并"),
        140: ("RUN_WORKFLOW", "RunWorkflow", 0, "Run Workflow"),
        137: ("FOR_EACH", "FOR_EACH", 137, "For-each"),  # unpublished run-side label: the design one, as 130
    }
    got = {t.type_id: (t.labels.design, t.labels.run_code, t.labels.run_id, t.labels.desc) for t in TASK_TYPES}
    assert got == want
    assert TASK_TYPES.design_of(140) == "RUN_WORKFLOW" and TASK_TYPES.design_of(25) is None
    assert TASK_TYPES.desc_of(131) == "归并" and TASK_TYPES.desc_of(25) is None


def test_each_type_is_in_the_listing_category_it_names() -> None:
    for t in TASK_TYPES:
        assert t.type_id in NODE_CATEGORIES[t.labels.category], t.type_id


def test_runtimes_and_slots() -> None:
    assert {t.type_id: t.runtime for t in TASK_TYPES} == {
        35: Runtime.PROCESS, 38: Runtime.PROCESS, 30: Runtime.PROCESS, 32: Runtime.PROCESS, 46: Runtime.PROCESS,
        50: Runtime.PROCESS, 139: Runtime.PROCESS, 133: Runtime.PROCESS, 132: Runtime.PROCESS, 26: Runtime.PROCESS,
        130: Runtime.BRANCH, 131: Runtime.CONTROL, 140: Runtime.CHILD_RUN, 137: Runtime.CHILD_RUN,
    }  # fmt: skip
    # a child run's tasks take slots
    assert [t.type_id for t in TASK_TYPES if t.holds_slot] == [35, 30, 38, 32, 133, 46, 50, 139, 132, 26]
    assert isinstance(MERGE, ControlNode) and isinstance(RUN_WORKFLOW, ChildRunTask)
    assert [t.type_id for t in TASK_TYPES.of_runtime(Runtime.CHILD_RUN)] == [140, 137]


def test_a_frozen_spec_resolves_to_its_type_and_old_rows_without_a_kind_ran_as_shell() -> None:
    for t in (SHELL, PYTHON, MERGE, RUN_WORKFLOW):
        assert TASK_TYPES.of_spec(t.freeze("", {})) is t
    assert TASK_TYPES.of_spec(SHELL_FORM.freeze("echo", {})) is SHELL  # form mode runs exactly as Shell
    assert TASK_TYPES.of_spec({}) is SHELL
    assert TASK_TYPES.of_spec({"kind": 7}) is SHELL
    future = TASK_TYPES.of_spec({"kind": "FUTURE_SQL"})  # frozen by a newer server: never run as Shell
    assert isinstance(future, UnknownKind) and future.kind == "FUTURE_SQL" and not isinstance(future, ScriptTask)
    assert TASK_TYPES.of_spec({"kind": "FUTURE_SQL"}) is future


def test_registering_a_type_id_twice_is_refused() -> None:
    registry = Registry()
    registry.register(SHELL)
    with pytest.raises(ValueError, match="35"):
        registry.register(SHELL)


# --- freezing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "interpreter"),
    [
        ({}, ["python3"]),
        ({"python_sub_version": "python3.11 -X utf8"}, ["python3.11", "-X", "utf8"]),
        ({"python_type": "/usr/bin/python3"}, ["/usr/bin/python3"]),
        ({"python_sub_version": "rm -rf /"}, ["python3"]),  # only python... or an absolute path is used
    ],
)
def test_python_freezes_its_interpreter(ext: dict[str, str], interpreter: list[str]) -> None:
    assert PYTHON.freeze("print(1)", ext) == {"kind": "PYTHON", "code": "print(1)", "interpreter": interpreter}


def test_what_each_type_freezes_and_shows_as_extensions() -> None:
    common = {"brokerIp": "any", "runPriority": "6"}
    assert SHELL.freeze("echo", {}) == {"kind": "SHELL", "code": "echo", "interpreter": ["bash"]}
    assert PYTHON.extensions(dict(common), {}) == {**common, "python_type": "python3"}
    assert SHELL.extensions(dict(common), {}) == common
    ext = {"mergeCondition": "[]", "mergeRelation": "AND"}
    assert MERGE.freeze("", ext) == {"kind": "MERGE", "code": "", "merge_condition": "[]", "merge_relation": "AND"}
    assert MERGE.extensions({**common, "mergeCondition": "[]"}, ext) == {"runPriority": "6", "mergeCondition": "[]"}
    assert RUN_WORKFLOW.freeze("", {"workflowId": "wf"})["workflow_id"] == "wf"
    assert RUN_WORKFLOW.extensions(dict(common), {"workflowId": "wf"}) == {"workflowId": "wf"}


# --- save-time validation ----------------------------------------------------------------------------


def _conditions(*task_ids: str) -> str:
    return json.dumps([{"upstreamTaskId": t, "expectationState": [2]} for t in task_ids])


def test_merge_validation_returns_its_upstreams_and_names_the_field_with_the_action_prefix() -> None:
    ext = {"mergeCondition": _conditions("a", "b")}
    assert MERGE.validate({}, ext, Paths(), ["a"]) == ["a", "b"]
    with pytest.raises(InvalidParameterValue) as e:
        MERGE.validate({}, ext, Paths("NewSetting."), ["a", "c"])
    assert e.value.code == "InvalidParameterValue"
    assert e.value.message.startswith(
        "NewSetting.TriggerTaskSchedulerConfiguration.UpstreamDependencyConfigList: task c is not named in the "
        "merge node's NewSetting.TriggerTaskConfiguration.TaskExtConfigurationList.mergeCondition"
    )
    with pytest.raises(InvalidParameterValue, match=r"^Task\.TriggerTaskConfiguration\.TaskExtConfigurationList"
                                                    r"\.mergeRelation must be AND or OR"):  # fmt: skip
        MERGE.validate({}, {**ext, "mergeRelation": "XOR"}, Paths("Task."), [])
    with pytest.raises(InvalidParameterValue, match=r"TaskExtConfigurationList\.mergeCondition must be"):
        MERGE.validate({}, {}, Paths(), [])


def test_work_types_add_no_upstreams() -> None:
    for t in (SHELL, PYTHON, RUN_WORKFLOW, SHELL_FORM):
        assert t.validate({}, {"workflowId": "x"}, Paths(), ["a"]) == []
    assert RUN_WORKFLOW.child_workflow({"workflowId": "wf-1"}) == "wf-1"


# --- control-node decisions --------------------------------------------------------------------------

STATES = st.sampled_from([TaskState.PENDING, TaskState.RUNNING, *sorted(TASK_TERMINAL)])


@given(
    codes=st.lists(st.lists(st.sampled_from([2, 21, 4, 5, 8, 13]), min_size=1, max_size=3), min_size=1, max_size=4),
    relation=st.sampled_from(["AND", "OR"]),
    states=st.lists(STATES, min_size=4, max_size=4),
)
def test_a_merge_decision_is_the_domain_rule(codes: list[list[int]], relation: str, states: list[TaskState]) -> None:
    text = json.dumps([{"upstreamTaskId": f"t{i}", "expectationState": c} for i, c in enumerate(codes)])
    decide = MERGE.decision(MERGE.freeze("", {"mergeCondition": text, "mergeRelation": relation}))
    upstream = {f"t{i}": states[i] for i in range(len(codes))}
    outcome = evaluate(parse_conditions(text, "m")[0], relation, upstream)
    want = {MergeOutcome.SUCCESS: TaskEvent.MERGE_OK, MergeOutcome.FAILED: TaskEvent.MERGE_FAIL}.get(outcome)
    assert decide(upstream) == want


def test_a_merge_node_without_conditions_succeeds_at_once() -> None:
    assert MERGE.decision({"kind": "MERGE"})({}) == TaskEvent.MERGE_OK


# --- launching ---------------------------------------------------------------------------------------

SECRET = "pa55-w0rd-never-shown"


def _attempt(tmp_path: Path, **kw: object) -> Attempt:
    fields: dict[str, object] = {
        "attempt_id": "e1",
        "env": {"PATH": "/usr/bin", "WEDATA_OUTPUT_FILE": str(tmp_path / "a.outputs")},
        "cwd": str(tmp_path),
        "log_path": str(tmp_path / "a.log"),
        "outputs_path": str(tmp_path / "a.outputs"),
        "code": "select 1",
        "params": {"day": "2026-12-03"},
    }
    fields.update(kw)
    return Attempt(**fields)  # type: ignore[arg-type]


def test_a_script_type_runs_its_frozen_interpreter_on_the_sealed_code(tmp_path: Path) -> None:
    spec = PYTHON.freeze("print(1)", {"python_sub_version": "python3 -u"})
    launch = PYTHON.launch(spec, _attempt(tmp_path, code="print(2)", script_copy_path="copy.py"))
    assert (launch.argv, launch.script, launch.script_copy_path) == (("python3", "-u"), "print(2)", "copy.py")
    assert isinstance(PYTHON, ScriptTask) and PYTHON.code_suffix == ".py" and SHELL.code_suffix == ".sh"


def test_a_runner_type_seals_its_workload_and_keeps_secrets_out_of_argv_env_and_disk(tmp_path: Path) -> None:
    echo = RunnerTask(Labels(ECHO_TYPE_ID, design="ECHO", desc="echo", category="GENERAL"), "ECHO")
    spec = echo.freeze("select 1", {"wait": "no"}, {"SourceServiceId": "7", "CodeContent": "..."})
    assert (spec["source_service_id"], spec["target_service_id"]) == ("7", None)  # looked up when it starts
    source = {"type": "POSTGRE", "host": "127.0.0.1", "password": SECRET}
    launch = echo.launch(spec, _attempt(tmp_path, data_source=source, limits={"maxRows": 10}))
    assert launch.argv == RUNNER_ARGV == (sys.executable, "-m", "trigflow.runner")
    assert launch.script_copy_path is None and not launch.sealed_env
    assert launch.env["PYTHONPATH"] == PACKAGE_ROOT and (Path(PACKAGE_ROOT) / "trigflow" / "runner").is_dir()
    assert SECRET not in " ".join(launch.argv) and SECRET not in json.dumps(dict(launch.env))
    assert launch.script is not None
    doc = json.loads(launch.script)
    assert doc == {
        wl.KEY_TYPE_ID: ECHO_TYPE_ID,
        wl.KEY_CODE: "select 1",
        wl.KEY_PARAMS: {"day": "2026-12-03"},
        wl.KEY_CONFIG: {"wait": "no"},
        wl.KEY_DATA_SOURCE: source,
        wl.KEY_TARGET_DATA_SOURCE: None,
        wl.KEY_OUTPUTS_PATH: str(tmp_path / "a.outputs"),
        wl.KEY_LIMITS: {"maxRows": 10},
    }


def test_no_type_name_is_compared_outside_the_task_type_layer() -> None:
    """Service, API, engine, store and executors ask the registry; the names live in trigflow.tasktypes."""
    names = re.compile(r"""["'](SHELL|PYTHON|MERGE|RUN_WORKFLOW|Dependent|RunWorkflow)["']""")
    found = []
    for package in ("service", "api", "engine", "store", "executors", "app.py"):
        for path in sorted((SRC / package).rglob("*.py")) if package != "app.py" else [SRC / package]:
            for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if names.search(line):
                    found.append(f"{path.relative_to(SRC)}:{no}: {line.strip()}")
    assert found == []


# --- the frozen spec's common keys and accessors ------------------------------------------------------


def test_the_common_spec_keys_read_back_through_the_accessors() -> None:
    scheduler = {
        "RunPriorityType": 4, "MaxRetryNumber": 2, "RetryWaitMinute": 1, "ExecutionTTLMinute": 30,
        "WaitExecutionTotalTTLMinute": -1, "ScheduleType": 1, "AllowRedoType": "FAILURE",
        "ParamTaskOutList": [{"ParamKey": "total", "ParamValue": None}, {"ParamKey": ""}],
        "ParamTaskInList": [{"ParamKey": "x", "FromTaskId": "t1", "FromParamKey": "total"}],
    }  # fmt: skip
    spec = {**SHELL.freeze("echo", {}), **run_spec.common(scheduler, [{"ParamKey": "own", "ParamValue": "1"}],
                                                          {"own", "path"})}  # fmt: skip
    assert run_spec.timing(spec) == run_spec.Timing(4, 2, 1, 30, -1, True)
    assert run_spec.outputs(spec) == [{"ParamKey": "total", "ParamValue": ""}]
    assert run_spec.inputs(spec) == scheduler["ParamTaskInList"]
    assert (run_spec.data_params(spec), run_spec.run_data_params(spec)) == (["path"], ["own", "path"])
    assert run_spec.code(spec) == "echo" and spec[run_spec.ALLOW_REDO] == "FAILURE"
    assert run_spec.child_workflow_id(RUN_WORKFLOW.freeze("", {"workflowId": "wf"})) == "wf"


def test_a_row_frozen_before_a_key_existed_reads_its_default() -> None:
    old: dict[str, object] = {"kind": "SHELL", "code": "echo hi"}
    assert run_spec.timing(old) == run_spec.Timing(6, 0, 0, -1, -1, False)
    assert (run_spec.outputs(old), run_spec.inputs(old), run_spec.run_data_params(old)) == ([], [], [])
    assert run_spec.data_params(old) is None  # provenance unknown: attempt_params falls back to its legacy rule
    assert run_spec.code({}) == "" and run_spec.child_workflow_id({}) is None
