"""Tests for the wire schema and `trigflow.api.wire`.

Why these tests exist: the SDKs are the clients, and they are strict. The schema must agree with
the SDK models field for field (otherwise we reject valid requests or emit fields the SDK warns
about), validation must point at the exact offending path, and rendering must never produce a JSON
type an SDK cannot decode. The SDK itself is the oracle wherever possible.
"""

from __future__ import annotations

import enum
import importlib.util
import json
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tencentcloud.common.abstract_model import AbstractModel
from tencentcloud.wedata.v20250806 import models as sdk_models

from trigflow.api import wire
from trigflow.domain.errors import (
    ApiError,
    InvalidAction,
    InvalidParameter,
    MissingParameter,
    UnknownParameter,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "src" / "trigflow" / "api" / "wire_schema.json"
REFERENCE_SCHEMA = Path("/work/shared/reference/sdk-schema.json")
RAW = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

FAMILY_ACTIONS = {
    "CreateTriggerWorkflow", "GetTriggerWorkflow", "UpdateTriggerWorkflow",
    "UpdateTriggerWorkflowPartially", "DeleteTriggerWorkflow", "ListTriggerWorkflows",
    "CreateTriggerTask", "GetTriggerTask", "GetTriggerTaskCode", "GetTriggerTaskVersion",
    "ListTriggerTaskVersions", "UpdateTriggerTask", "UpdateTriggerTaskPartially", "DeleteTriggerTask",
    "ListTriggerTasks", "SubmitTriggerTask", "ListUpstreamTriggerTasks", "ListDownstreamTriggerTasks",
    "CreateTriggerWorkflowRun", "GetTriggerWorkflowRun", "ListTriggerWorkflowRuns",
    "KillTriggerWorkflowRuns", "RerunTriggerWorkflowRunAsync", "GetTriggerTaskRun",
    "ListTriggerTaskRuns", "GetOpsTriggerWorkflow", "ListOpsTriggerWorkflows",
    "UpdateOpsTriggerTasksOwner", "GetOpsAsyncJob",
}  # fmt: skip
COMPANION_ACTIONS = {
    "CreateProject", "GetProject", "ListProjects", "UpdateProject", "DeleteProject", "EnableProject",
    "DisableProject", "ListProjectMembers", "CreateResourceGroup", "UpdateResourceGroup",
    "DeleteResourceGroup", "ListResourceGroups", "GetResourceGroupMetrics", "CreateWorkflowFolder",
    "ListWorkflowFolders",
    "CreateTaskFolder", "ListTaskFolders", "GetTaskInstanceLog", "CreateDataSource", "GetDataSource",
    "ListDataSources", "UpdateDataSource", "DeleteDataSource", "GetDataSourceRelatedTasks",
}  # fmt: skip
ALL_MODELS = sorted(RAW["models"])
ALL_ACTIONS = sorted(RAW["actions"])
RESPONSE_MODELS = sorted({pair["response"] for pair in RAW["actions"].values()})

_TYPE_LINE = re.compile(r"^\s*:type (\w+): (.+?)\s*$", re.MULTILINE)
_CLASS_REF = re.compile(r"^:class:`tencentcloud\.wedata\.v20250806\.models\.(\w+)`$")


def load_generator() -> ModuleType:
    """Import tools/gen_wire_schema.py by path: tools/ is not a package."""
    spec = importlib.util.spec_from_file_location("gen_wire_schema", REPO / "tools" / "gen_wire_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_wire_schema", module)
    spec.loader.exec_module(module)
    return module


def sdk_field_names(model: str) -> list[str]:
    return [k[1:] for k in vars(getattr(sdk_models, model)()) if k != "_headers"]


def docstring_types(model: str) -> dict[str, str]:
    return dict(_TYPE_LINE.findall(getattr(sdk_models, model).__init__.__doc__ or ""))


# --------------------------------------------------------------------------------------------------
# Value builders driven by the schema
# --------------------------------------------------------------------------------------------------

_SAMPLES: dict[str, Any] = {"string": "v", "int64": -42, "uint64": 42, "bool": True, "float": 1.5}


def plausible(model: str, *, required_only: bool = False, depth: int = 0) -> dict[str, Any]:
    """A value for every (or every required) field of `model`, one element per list."""
    out: dict[str, Any] = {}
    for name, field in wire.model_fields(model).items():
        if required_only and not field.required:
            continue
        if field.type == "object":
            assert field.model is not None
            if depth > 8:  # no recursive model exists today; guard anyway
                continue
            value: Any = plausible(field.model, required_only=required_only, depth=depth + 1)
        elif field.type == "string":
            value = f"{name}-v"
        else:
            value = _SAMPLES[field.type]
        out[name] = [value] if field.is_list else value
    return out


def stringify(value: Any) -> Any:
    """What a GET/form request carries after unflattening: every scalar as the Python SDK writes it."""
    if isinstance(value, dict):
        return {k: stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringify(v) for v in value]
    return str(value)  # str(True) == "True": exactly the Python SDK's GET encoding


def valid_create_trigger_task() -> dict[str, Any]:
    return plausible("CreateTriggerTaskRequest", required_only=True)


def raises_api(exc: type[ApiError], fn: Callable[[], object], message: str) -> ApiError:
    """Assert an ApiError subclass with its wire code and an exact message."""
    with pytest.raises(exc) as info:
        fn()
    assert info.value.code == exc.code
    assert info.value.message == message
    return info.value


# --------------------------------------------------------------------------------------------------
# The generated schema agrees with the SDK (and with tccli where both know a field)
# --------------------------------------------------------------------------------------------------


def test_schema_file_is_up_to_date() -> None:
    gen = load_generator()
    assert gen.render_json(gen.build_schema()) == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_is_deterministically_sorted_and_versioned() -> None:
    assert list(RAW["actions"]) == sorted(RAW["actions"])
    assert list(RAW["models"]) == sorted(RAW["models"])
    assert RAW["sdk_version"] == "3.1.195"
    assert wire.sdk_version() == RAW["sdk_version"]


def test_actions_cover_the_family_and_companions() -> None:
    assert wire.action_names() == FAMILY_ACTIONS | COMPANION_ACTIONS
    for action in wire.action_names():
        assert RAW["actions"][action] == {"request": f"{action}Request", "response": f"{action}Response"}


@pytest.mark.skipif(not REFERENCE_SCHEMA.exists(), reason="shared reference not mounted")
def test_family_matches_reference_sdk_schema() -> None:
    reference = json.loads(REFERENCE_SCHEMA.read_text(encoding="utf-8"))
    assert set(reference["actions"]) == FAMILY_ACTIONS
    for name, fields in reference["models"].items():
        assert list(fields) == list(RAW["models"][name]), name


def test_model_closure_is_complete() -> None:
    for model, fields in RAW["models"].items():
        for name, field in fields.items():
            assert (field["type"] == "object") == (field["model"] is not None), (model, name)
            if field["model"] is not None:
                assert field["model"] in RAW["models"], (model, name)


@pytest.mark.parametrize("model", ALL_MODELS)
def test_model_matches_sdk(model: str) -> None:
    fields = RAW["models"][model]
    assert list(fields) == sdk_field_names(model)  # same set, same (SDK) order
    doc = docstring_types(model)
    for name, field in fields.items():
        assert set(field) == {"type", "model", "list", "required"}
        doc_type = doc[name]
        is_list = doc_type.startswith("list of ")
        inner = doc_type.removeprefix("list of ")
        assert field["list"] is is_list, (name, doc_type)
        match = _CLASS_REF.match(inner)
        if match or (is_list and inner not in ("str", "int", "bool", "float", "int non-negative")):
            assert (field["type"], field["model"]) == ("object", match.group(1) if match else inner)
        else:
            expected = {
                "str": {"string"},
                "int": {"int64", "uint64"},
                "int non-negative": {"uint64"},
                "bool": {"bool"},
                "float": {"float"},
            }[inner]
            assert field["type"] in expected and field["model"] is None, (name, doc_type)


def test_required_flags_and_widths_follow_tccli() -> None:
    cli = json.loads(load_generator().default_cli_api_path().read_text(encoding="utf-8"))["objects"]
    for model, fields in RAW["models"].items():
        for member in cli.get(model, {"members": []})["members"]:
            field = fields[member["name"]]
            assert field["required"] is bool(member.get("required", False)), (model, member["name"])
            if member["member"] in ("int64", "uint64"):
                assert field["type"] == member["member"], (model, member["name"])


def test_sdk_only_fields_are_included() -> None:
    models = RAW["models"]
    assert models["TriggerTaskRunBrief"]["Privilege"]["type"] == "string"
    assert models["TriggerWorkflowRunBrief"]["Privilege"]["type"] == "string"
    assert models["TriggerTaskBrief"]["CycleType"]["type"] == "string"
    assert models["WorkflowTriggerConfig"]["TriggerMinimumInterval"]["type"] in ("int64", "uint64")
    assert models["WorkflowTriggerConfig"]["TriggerWaitTime"]["type"] in ("int64", "uint64")


# --------------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------------


def test_lookups() -> None:
    assert wire.request_model("GetTriggerWorkflowRun") == "GetTriggerWorkflowRunRequest"
    assert wire.response_model("GetTriggerWorkflowRun") == "GetTriggerWorkflowRunResponse"
    assert wire.response_data_model("GetTriggerWorkflowRun") == ("TriggerWorkflowTaskRunDetailBrief", False)
    assert wire.response_data_model("KillTriggerWorkflowRuns") == ("ExecutionActionBrief", True)
    assert wire.response_data_model("UpdateProject") == (None, False)  # RequestId only
    with pytest.raises(InvalidAction):
        wire.request_model("KillTriggerWorkflowRun")  # the doc typo is not an action
    with pytest.raises(KeyError, match="NoSuchModel"):
        wire.model_fields("NoSuchModel")


def test_only_kill_and_related_tasks_have_list_data() -> None:
    listed = {a for a in wire.action_names() if wire.response_data_model(a)[1]}
    assert listed == {"KillTriggerWorkflowRuns", "GetDataSourceRelatedTasks"}


# --------------------------------------------------------------------------------------------------
# validate_request
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_every_action_accepts_full_and_minimal_requests(action: str) -> None:
    model = wire.request_model(action)
    full = plausible(model)
    assert wire.validate_request(action, full) == full
    minimal = plausible(model, required_only=True)
    assert wire.validate_request(action, minimal) == minimal
    assert wire.validate_request(action, stringify(full), from_query=True) == full


def test_cleaned_copy_is_independent_and_in_sdk_order() -> None:
    params: dict[str, Any] = {
        "WorkflowExecutionId": "w",
        "Filters": [{"Values": ["a"], "Name": "TaskId"}],
        "ProjectId": "p",
    }
    cleaned = wire.validate_request("GetTriggerWorkflowRun", params)
    assert list(cleaned) == ["ProjectId", "WorkflowExecutionId", "Filters"]
    assert list(cleaned["Filters"][0]) == ["Name", "Values"]
    cleaned["Filters"][0]["Values"].append("b")
    assert params["Filters"][0]["Values"] == ["a"]


def test_unknown_parameter_top_level_and_nested() -> None:
    base = {"ProjectId": "p", "WorkflowExecutionId": "w"}
    raises_api(
        UnknownParameter,
        lambda: wire.validate_request("GetTriggerWorkflowRun", {**base, "Foo": 1}),
        "The parameter Foo is not recognized",
    )
    raises_api(
        UnknownParameter,
        lambda: wire.validate_request(
            "GetTriggerWorkflowRun", {**base, "Filters": [{"Name": "a", "Values": ["b"]}, {"Nmae": "x"}]}
        ),
        "The parameter Filters.1.Nmae is not recognized",
    )
    raises_api(
        UnknownParameter,
        lambda: wire.validate_request("GetTriggerWorkflowRun", {**base, "projectId": "p"}),
        "The parameter projectId is not recognized",  # names are case-sensitive
    )


def test_unknown_parameters_can_be_ignored() -> None:
    params = {"ProjectId": "p", "WorkflowExecutionId": "w", "New": 1, "Filters": [{"Name": "a", "X": 2}]}
    cleaned = wire.validate_request("GetTriggerWorkflowRun", params, ignore_unknown=True)
    assert cleaned == {"ProjectId": "p", "WorkflowExecutionId": "w", "Filters": [{"Name": "a"}]}


def test_missing_parameter_top_level_and_nested() -> None:
    raises_api(
        MissingParameter,
        lambda: wire.validate_request("GetTriggerWorkflowRun", {"ProjectId": "p"}),
        "The request is missing a required parameter WorkflowExecutionId",
    )
    params = valid_create_trigger_task()
    del params["TriggerTaskBaseAttribute"]["TaskName"]
    raises_api(
        MissingParameter,
        lambda: wire.validate_request("CreateTriggerTask", params),
        "The request is missing a required parameter TriggerTaskBaseAttribute.TaskName",
    )


def test_null_is_absent() -> None:
    params = valid_create_trigger_task()
    params["TriggerTaskBaseAttribute"]["TaskName"] = None
    with pytest.raises(MissingParameter, match=r"TriggerTaskBaseAttribute\.TaskName"):
        wire.validate_request("CreateTriggerTask", params)
    cleaned = wire.validate_request(
        "GetTriggerWorkflowRun",
        {"ProjectId": "p", "WorkflowExecutionId": "w", "OrderFields": None, "Filters": [None, {"Name": "a"}]},
    )
    assert cleaned == {"ProjectId": "p", "WorkflowExecutionId": "w", "Filters": [{"Name": "a"}]}
    cleaned = wire.validate_request(
        "KillTriggerWorkflowRuns", {"ProjectId": "p", "WorkflowId": "w", "WorkflowExecutionIdList": [None]}
    )
    assert cleaned["WorkflowExecutionIdList"] == []


BASE_RUN = {"ProjectId": "p", "WorkflowExecutionId": "w"}
BASE_LIST = {"ProjectId": "p"}
BASE_KILL = {"ProjectId": "p", "WorkflowId": "w"}


@pytest.mark.parametrize(
    ("action", "params", "message"),
    [
        (
            "GetTriggerWorkflowRun",
            {**BASE_RUN, "Filters": [{"Name": "TaskId", "Values": "t1"}]},
            "The parameter Filters.0.Values must be an array of string, got string",
        ),
        (
            "GetTriggerWorkflowRun",
            {**BASE_RUN, "Filters": [{"Name": "TaskId", "Values": ["a", 7]}]},
            "The parameter Filters.0.Values.1 must be a string, got integer",
        ),
        (
            "GetTriggerWorkflowRun",
            {"ProjectId": 1460947878944567296, "WorkflowExecutionId": "w"},
            "The parameter ProjectId must be a string, got integer",
        ),
        (
            "GetTriggerWorkflowRun",
            {**BASE_RUN, "Filters": {"Name": "TaskId"}},
            "The parameter Filters must be an array of object (Filter), got object",
        ),
        (
            "GetTriggerWorkflowRun",
            {**BASE_RUN, "Filters": ["TaskId"]},
            "The parameter Filters.0 must be an object (Filter), got string",
        ),
        (
            "ListTriggerWorkflowRuns",
            {**BASE_LIST, "PageSize": "10"},
            "The parameter PageSize must be a non-negative integer (uint64), got string",
        ),
        (
            "ListTriggerWorkflowRuns",
            {**BASE_LIST, "PageSize": True},
            "The parameter PageSize must be a non-negative integer (uint64), got boolean",
        ),
        (
            "ListTriggerWorkflowRuns",
            {**BASE_LIST, "PageSize": 10.5},
            "The parameter PageSize must be a non-negative integer (uint64), got number",
        ),
        (
            "ListTriggerWorkflowRuns",
            {**BASE_LIST, "PageNumber": -1},
            "The parameter PageNumber must be a non-negative integer (uint64), got -1 (out of range)",
        ),
        (
            "ListTriggerWorkflowRuns",
            {**BASE_LIST, "PageNumber": 2**64},
            f"The parameter PageNumber must be a non-negative integer (uint64), got {2**64} (out of range)",
        ),
        (
            "KillTriggerWorkflowRuns",
            {**BASE_KILL, "All": 1},
            "The parameter All must be a boolean, got integer",
        ),
        (
            "KillTriggerWorkflowRuns",
            {**BASE_KILL, "All": "true"},  # only GET/form requests carry booleans as text
            "The parameter All must be a boolean, got string",
        ),
        (
            "CreateTriggerTask",
            {**valid_create_trigger_task(), "TriggerTaskBaseAttribute": "x"},
            "The parameter TriggerTaskBaseAttribute must be an object (CreateTriggerTaskBaseAttribute), got string",
        ),
    ],
)
def test_type_mismatches(action: str, params: dict[str, Any], message: str) -> None:
    raises_api(InvalidParameter, lambda: wire.validate_request(action, params), message)


def test_int64_bounds_and_integral_floats() -> None:
    field = wire.WireField("N", "int64", None, False, False)
    options = wire._Options(from_query=False, ignore_unknown=False)
    assert wire._check_value("N", field, -(2**63), options) == -(2**63)
    assert wire._check_value("N", field, 5.0, options) == 5
    assert type(wire._check_value("N", field, 5.0, options)) is int
    with pytest.raises(InvalidParameter, match="out of range"):
        wire._check_value("N", field, 2**63, options)
    with pytest.raises(InvalidParameter):
        wire._check_value("N", field, float("inf"), options)
    cleaned = wire.validate_request("ListTriggerWorkflowRuns", {**BASE_LIST, "PageSize": 10.0})
    assert cleaned["PageSize"] == 10 and type(cleaned["PageSize"]) is int


def test_float_fields() -> None:
    field = wire.WireField("F", "float", None, False, False)
    json_opts = wire._Options(from_query=False, ignore_unknown=False)
    query_opts = wire._Options(from_query=True, ignore_unknown=False)
    assert wire._check_value("F", field, 3, json_opts) == 3.0
    assert wire._check_value("F", field, "2.5", query_opts) == 2.5
    for bad, opts in ((True, json_opts), ("2.5", json_opts), ("abc", query_opts), ("nan", query_opts)):
        with pytest.raises(InvalidParameter):
            wire._check_value("F", field, bad, opts)


def test_non_object_body() -> None:
    raises_api(
        InvalidParameter,
        lambda: wire.validate_request("GetTriggerWorkflowRun", ["ProjectId"]),  # type: ignore[arg-type]
        "The request parameters must be a JSON object, got array",
    )
    with pytest.raises(InvalidAction):
        wire.validate_request("NoSuchAction", {})


# GET / form coercion --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("True", True), ("False", False), ("true", True), ("FALSE", False), ("1", True), ("0", False)],
)
def test_query_booleans(text: str, expected: bool) -> None:
    cleaned = wire.validate_request("KillTriggerWorkflowRuns", {**BASE_KILL, "All": text}, from_query=True)
    assert cleaned["All"] is expected


def test_query_integers_and_strings() -> None:
    cleaned = wire.validate_request(
        "ListTriggerWorkflowRuns",
        {"ProjectId": "1460947878944567296", "PageNumber": "2", "PageSize": "+10"},
        from_query=True,
    )
    assert cleaned == {"ProjectId": "1460947878944567296", "PageNumber": 2, "PageSize": 10}
    # A string field keeps its text even when it looks numeric: IDs are strings.
    assert type(cleaned["ProjectId"]) is str


@pytest.mark.parametrize(
    ("action", "params", "message"),
    [
        (
            "KillTriggerWorkflowRuns",
            {**BASE_KILL, "All": "yes"},
            "The parameter All must be a boolean, got 'yes'",
        ),
        (
            "ListTriggerWorkflowRuns",
            {**BASE_LIST, "PageSize": "10.0"},
            "The parameter PageSize must be a non-negative integer (uint64), got '10.0'",
        ),
        (
            "ListTriggerWorkflowRuns",
            {**BASE_LIST, "PageSize": "-1"},
            "The parameter PageSize must be a non-negative integer (uint64), got -1 (out of range)",
        ),
        (
            "KillTriggerWorkflowRuns",
            {**BASE_KILL, "WorkflowExecutionIdList": "r1"},
            "The parameter WorkflowExecutionIdList must be an array of string, got string",
        ),
        (
            "KillTriggerWorkflowRuns",
            {**BASE_KILL, "WorkflowExecutionIdList": {"0": "r1", "1": "r2"}},
            "The parameter WorkflowExecutionIdList must be an array of string, got object",
        ),
        (
            "GetTriggerWorkflowRun",
            {**BASE_RUN, "Filters": [{"Name": "a", "Values": "b"}]},
            "The parameter Filters.0.Values must be an array of string, got string",
        ),
    ],
)
def test_query_errors(action: str, params: dict[str, Any], message: str) -> None:
    raises_api(InvalidParameter, lambda: wire.validate_request(action, params, from_query=True), message)


def test_query_nested_lists() -> None:
    cleaned = wire.validate_request(
        "GetTriggerWorkflowRun",
        {**BASE_RUN, "Filters": [{"Name": "TaskId", "Values": ["1", "2"]}]},
        from_query=True,
    )
    assert cleaned["Filters"] == [{"Name": "TaskId", "Values": ["1", "2"]}]


# --------------------------------------------------------------------------------------------------
# render
# --------------------------------------------------------------------------------------------------


def test_render_fills_nulls_in_sdk_order() -> None:
    out = wire.render("Filter", {"Values": ["a"]})
    assert out == {"Name": None, "Values": ["a"]}
    assert list(out or {}) == sdk_field_names("Filter")
    assert wire.render("Filter", None) is None
    assert wire.render("Filter", {}) == {"Name": None, "Values": None}


def test_render_recurses_into_models_and_lists() -> None:
    out = wire.render(
        "TriggerWorkflowTaskRunDetailBrief",
        {"TriggerTaskRuns": [{"TaskId": "t1", "LeftCoordinate": 3}], "BizStateEnumInfos": []},
    )
    assert out is not None
    assert list(out) == sdk_field_names("TriggerWorkflowTaskRunDetailBrief")
    run = out["TriggerTaskRuns"][0]
    assert list(run) == sdk_field_names("TriggerTaskRunBrief")
    assert run["TaskId"] == "t1" and run["ExecutionState"] is None
    assert run["LeftCoordinate"] == 3.0 and type(run["LeftCoordinate"]) is float
    assert out["BizStateEnumInfos"] == []


def test_render_rejects_unknown_keys() -> None:
    with pytest.raises(KeyError, match=r"Filter.*'Nmae'"):
        wire.render("Filter", {"Nmae": "x"})
    with pytest.raises(KeyError, match=r"TriggerTaskRunBrief.*'Bogus'"):
        wire.render("TriggerWorkflowTaskRunDetailBrief", {"TriggerTaskRuns": [{"Bogus": 1}]})


@pytest.mark.parametrize(
    ("model", "data"),
    [
        ("TriggerTaskRunBrief", {"TaskId": 1460947878944567296}),  # IDs must be strings
        ("TriggerTaskRunBrief", {"RetryTimes": "26"}),  # a uint64 given as text
        ("TriggerTaskRunBrief", {"TaskTypeId": True}),  # bool is not an int on the wire
        ("TriggerTaskRunBrief", {"TaskTypeId": 26.0}),
        ("TriggerTaskRunBrief", {"LeftCoordinate": "1.5"}),
        ("TriggerTaskRunBrief", {"LeftCoordinate": False}),
        ("KillTriggerWorkflowRunsRequest", {"All": 1}),
        ("Filter", {"Values": "a"}),  # a string is not a list
        ("Filter", {"Values": ["a", None]}),
        ("TriggerWorkflowTaskRunDetailBrief", {"TriggerTaskRuns": {"TaskId": "t"}}),
        ("TriggerWorkflowTaskRunDetailBrief", {"TriggerTaskRuns": ["t"]}),
    ],
)
def test_render_rejects_wrong_types(model: str, data: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        wire.render(model, data)


def test_render_range_and_normalisation() -> None:
    with pytest.raises(ValueError, match="uint64"):
        wire.render("TriggerTaskRunBrief", {"RetryTimes": -1})
    with pytest.raises(ValueError):
        wire.render("TriggerTaskRunBrief", {"LeftCoordinate": float("nan")})

    class State(str, enum.Enum):  # noqa: UP042 - the mixin is the case whose str() is "State.RUNNING"
        RUNNING = "RUNNING"

    class Size(enum.IntEnum):
        TEN = 10

    out = wire.render("TriggerTaskRunBrief", {"ExecutionState": State.RUNNING, "TaskTypeId": Size.TEN})
    assert out is not None
    assert type(out["ExecutionState"]) is str and out["ExecutionState"] == "RUNNING"
    assert type(out["TaskTypeId"]) is int and out["TaskTypeId"] == 10
    assert json.loads(json.dumps(out))["ExecutionState"] == "RUNNING"


def test_render_response_data() -> None:
    data = wire.render_response_data("KillTriggerWorkflowRuns", [{}])
    assert data == [dict.fromkeys(sdk_field_names("ExecutionActionBrief"))]
    assert wire.render_response_data("KillTriggerWorkflowRuns", None) is None
    with pytest.raises(TypeError):
        wire.render_response_data("KillTriggerWorkflowRuns", {})
    assert wire.render_response_data("GetTriggerTaskCode", {}) == dict.fromkeys(sdk_field_names("TaskCodeResult"))
    assert wire.render_response_data("UpdateProject", None) is None
    with pytest.raises(KeyError):
        wire.render_response_data("UpdateProject", {})


# --------------------------------------------------------------------------------------------------
# Round trip through the SDK's own decoder
# --------------------------------------------------------------------------------------------------


def sdk_decode(model: str, payload: dict[str, Any]) -> tuple[AbstractModel, list[str]]:
    """Decode with the SDK, collecting its warnings (pytest turns them into errors otherwise)."""
    obj = getattr(sdk_models, model)()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obj._deserialize(payload)
    return obj, [str(w.message) for w in caught]


@pytest.mark.parametrize("model", RESPONSE_MODELS)
def test_response_round_trips_through_sdk(model: str) -> None:
    action = model.removesuffix("Response")
    data_model, is_list = wire.response_data_model(action)
    fields = wire.model_fields(model)
    data = None
    if data_model is not None:
        one = plausible(data_model)
        data = wire.render_response_data(action, [one] if is_list else one)
    payload = {"RequestId": "req-1", **({"Data": data} if "Data" in fields else {})}
    obj, caught = sdk_decode(model, payload)
    assert caught == []
    assert json.loads(obj.to_json_string()) == payload


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_model_round_trips_through_sdk(model: str) -> None:
    for data in (plausible(model), {}):
        rendered = wire.render(model, data)
        assert rendered is not None
        obj, caught = sdk_decode(model, rendered)
        assert caught == []
        assert json.loads(obj.to_json_string()) == rendered  # same fields, values and order


def test_sdk_warns_about_undeclared_fields() -> None:
    """Guard the oracle: if the SDK stopped warning, the round-trip tests would prove nothing."""
    _, caught = sdk_decode("Filter", {"Name": "a", "Nmae": "b"})
    assert any("useless" in message for message in caught)


# --- query-string integers longer than any int64 (issue 11: int() met Python's 4,300-digit limit)


@pytest.mark.parametrize("text", ["9" * 5000, "-" + "9" * 5000, "1" * 22, "+" + "0" * 21])
def test_query_integers_longer_than_int64_are_invalid_parameter(text: str) -> None:
    from trigflow.api.wire import validate_request
    from trigflow.domain.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="PageNumber"):
        validate_request("ListTriggerWorkflows", {"ProjectId": "1", "PageNumber": text}, from_query=True)


def test_query_floats_never_echo_a_huge_value() -> None:
    from trigflow.api.wire import _check_float
    from trigflow.domain.errors import InvalidParameter

    with pytest.raises(InvalidParameter) as e:
        _check_float("F", "x" * 100_000, True)
    assert len(e.value.message) < 200
