"""`wire.render` compiles one renderer per model; it must behave exactly like the plain schema walk.

Why: rendering is the guard that no response carries a wrongly typed or undeclared field. The compiled
renderers (fast enough for a 1,000-task-run GetTriggerWorkflowRun) take a shortcut for values that are
already of the exact JSON type; this checks, for every field of every model and for values of every
awkward kind (subclasses, bools as ints, ints as floats, NaN, out of range, nulls in arrays, wrong
containers, unknown keys), that the result or the exception (type and message) is the one the
reference walk below gives. The reference is the straightforward recursive implementation the compiled
one replaced.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pytest

from trigflow.api import wire
from trigflow.api.wire import WireField

# --- the reference: a plain recursive walk over the schema ------------------------------------------------


def ref_value(path: str, field: WireField, value: Any) -> Any:
    if value is None:
        return None
    if not field.is_list:
        return ref_element(path, field, value)
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise TypeError(f"{path}: expected a list, got {type(value).__name__}")
    out = []
    for index, item in enumerate(value):
        if item is None:
            raise TypeError(f"{path}[{index}]: null inside an array")
        out.append(ref_element(f"{path}[{index}]", field, item))
    return out


def ref_element(path: str, field: WireField, value: Any) -> Any:
    if field.type == "object":
        assert field.model is not None
        return ref_object(path, field.model, value)
    return wire._render_scalar(path, field, value)


def ref_object(path: str, model: str, data: Any) -> dict[str, Any]:
    fields = wire.model_fields(model)
    if not isinstance(data, Mapping):
        raise TypeError(f"{path}: expected a mapping for {model}, got {type(data).__name__}")
    for key in data:
        if key not in fields:
            raise KeyError(f"{path}: model {model} has no field {key!r}")
    return {name: ref_value(f"{path}.{name}", field, data.get(name)) for name, field in fields.items()}


# --- awkward values -------------------------------------------------------------------------------------


class Text(str, enum.Enum):  # noqa: UP042 - a str mixin enum is the case whose str() differs from its value
    A = "a"


class Number(enum.IntEnum):
    TEN = 10


SCALARS: list[Any] = [
    "x", "", "中文", Text.A, 0, 1, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64,
    Number.TEN, True, False, 1.5, 2.0, -0.0, math.nan, math.inf, b"x", object(),
]  # fmt: skip
CONTAINERS: list[Any] = [{}, MappingProxyType({}), [], (), {"Bogus": 1}]


def candidates(field: WireField) -> list[Any]:
    if field.is_list:
        items: list[Any] = [{}, MappingProxyType({}), {"Bogus": 1}, "x"] if field.type == "object" else SCALARS
        return [[], (), "abc", {"0": "x"}, 5, [None], *([item] for item in items), ["x", 1], ["x", "y"]]
    if field.type == "object":
        return [*CONTAINERS, "x", 1, ["x"]]
    return [*SCALARS, [], {}]


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except (TypeError, ValueError, KeyError) as e:
        return type(e).__name__, str(e)


def same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    """Equal outcomes, NaN-safe, and with the exact same builtin types (True is not 1, 2.0 is not 2)."""
    if a[0] != b[0]:
        return False
    return a[0] != "ok" or repr(a[1]) == repr(b[1])


@pytest.mark.parametrize("model", sorted(wire.model_names()))
def test_compiled_renderer_matches_the_schema_walk(model: str) -> None:
    for name, field in wire.model_fields(model).items():
        for value in candidates(field):
            data = {name: value}
            got = outcome(wire.render, model, data)
            want = outcome(ref_object, model, model, data)
            assert same(got, want), (model, name, value, got, want)
            if got[0] == "ok":
                assert [type(v) for v in got[1].values()] == [type(v) for v in want[1].values()]


@pytest.mark.parametrize("data", [None, {}, {"Nmae": "x"}, {"Name": "n", "Nmae": "x"}, "x", ["Name"], 3])
def test_compiled_renderer_matches_on_whole_objects(data: Any) -> None:
    if data is None:
        assert wire.render("Filter", None) is None
        return
    assert same(outcome(wire.render, "Filter", data), outcome(ref_object, "Filter", "Filter", data))


def test_compiled_renderer_nested_paths() -> None:
    data = {"TriggerTaskRuns": [{"TaskId": "t1"}, {"TaskId": 2}]}
    with pytest.raises(TypeError, match=r"TriggerWorkflowTaskRunDetailBrief\.TriggerTaskRuns\[1\]\.TaskId"):
        wire.render("TriggerWorkflowTaskRunDetailBrief", data)
    got = outcome(wire.render_response_data, "GetTriggerWorkflowRun", data)
    data_field = wire.model_fields("GetTriggerWorkflowRunResponse")["Data"]
    want = outcome(ref_value, "GetTriggerWorkflowRunResponse.Data", data_field, data)
    assert got == want and got[0] == "TypeError"


def test_rendered_lists_are_fresh_lists() -> None:
    ids = ("a", "b")
    out = wire.render("TriggerWorkflowRunBrief", {"SelectedTaskIds": ids})
    assert out is not None and out["SelectedTaskIds"] == ["a", "b"] and type(out["SelectedTaskIds"]) is list
    same_list = ["a"]
    out = wire.render("TriggerWorkflowRunBrief", {"SelectedTaskIds": same_list})
    assert out is not None and out["SelectedTaskIds"] is not same_list


@pytest.mark.parametrize("model", sorted(wire.model_names()))
def test_row_renderer_matches_render_of_the_shaped_dict(model: str) -> None:
    """Rendering straight from a row gives what shaping a dict and rendering it gives: values, types, errors."""
    import collections

    fields = wire.model_fields(model)
    from_row = wire.row_renderer(model, {name: f"col_{name}" for name in fields})
    for name, field in fields.items():
        for value in candidates(field):
            row = collections.defaultdict(lambda: None, {f"col_{name}": value})
            got = outcome(from_row, row)
            want = outcome(wire.render, model, {name: value})
            assert same(got, want), (model, name, value, got, want)


def test_row_renderer_sources() -> None:
    render = wire.row_renderer(
        "TriggerTaskRunBrief",
        {"TaskId": "task_id", "CreateTime": wire.AsString("create_ms"), "RetryTimes": lambda r: r["n"] + 1},
    )
    out = render({"task_id": "t1", "create_ms": 1764819600341, "n": 2})
    assert (out["TaskId"], out["CreateTime"], out["RetryTimes"]) == ("t1", "1764819600341", 3)
    assert list(out) == list(wire.model_fields("TriggerTaskRunBrief")) and out["TaskName"] is None
    assert render({"task_id": "t1", "create_ms": None, "n": 0})["CreateTime"] is None
    with pytest.raises(TypeError, match=r"TriggerTaskRunBrief\.TaskId"):
        render({"task_id": 7, "create_ms": None, "n": 0})
    with pytest.raises(KeyError, match="Nmae"):
        wire.row_renderer("TriggerTaskRunBrief", {"Nmae": "task_name"})


def test_rendered_lists_pass_only_as_their_own_model() -> None:
    rendered = wire.Rendered("TriggerTaskRunBrief", [wire.row_renderer("TriggerTaskRunBrief", {})({})])
    out = wire.render("TriggerWorkflowTaskRunDetailBrief", {"TriggerTaskRuns": rendered})
    assert out is not None and out["TriggerTaskRuns"] is rendered
    wrong = wire.Rendered("Filter", [{"Name": 3}])  # claims another model: checked like any list
    with pytest.raises((TypeError, KeyError)):
        wire.render("TriggerWorkflowTaskRunDetailBrief", {"TriggerTaskRuns": wrong})
