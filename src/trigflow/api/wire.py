"""The wire contract: validate request parameters and render response objects from `wire_schema.json`.

Why one module: the official SDKs are strongly typed and unforgiving. A field they do not know
makes the Python SDK warn, a JSON number where they expect a string makes the Go and Java SDKs fail
to decode, and a missing key is fine but a *wrongly typed* one is not. Every handler therefore goes
through the two functions here, which read the same generated schema (tools/gen_wire_schema.py),
instead of each handler shaping dicts by hand.

Choices where the protocol documents are silent (see also the docstrings below):

* Integers: a JSON float with no fraction (`5.0`) is accepted as `5`; `5.5`, booleans and
  out-of-range values (int64 / uint64 bounds, negative uint64) are `InvalidParameter`.
* Floats accept JSON integers; NaN and infinities are refused (they cannot be re-emitted as JSON).
* `None` is treated as absent everywhere, including inside arrays (api-notes.md §1.8: the official
  ListResourceGroups example sends `[null]`).
* The cleaned copy holds only the fields that were present, in SDK order. Absent stays absent,
  so the partial-update actions can tell "not given" from "given".
* Strings holding NUL (`\\u0000`) are `InvalidParameter`: PostgreSQL text cannot store them, and
  refusing them on every backend keeps SQLite and PostgreSQL installations answering alike.
* Unknown parameters are refused by default (api-notes.md Q18); `ignore_unknown=True` drops them
  instead, for the lenient mode a newer SDK may need.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from trigflow.domain.errors import (
    InvalidAction,
    InvalidParameter,
    MissingParameter,
    UnknownParameter,
)

__all__ = [
    "AsString",
    "Rendered",
    "WireField",
    "action_names",
    "model_fields",
    "model_names",
    "render",
    "render_response_data",
    "request_model",
    "response_data_model",
    "response_model",
    "row_renderer",
    "sdk_action_names",
    "sdk_version",
    "validate_request",
]

SCHEMA_RESOURCE = "wire_schema.json"

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1

_QUERY_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_QUERY_INT = re.compile(r"[+-]?[0-9]+")
# A sign and 20 digits hold every int64/uint64; longer text is refused before int() meets Python's
# int-string conversion limit (a ValueError that would become InternalError).
_MAX_QUERY_INT_CHARS = 21
_DESCRIPTIONS = {
    "string": "string",
    "int64": "integer (int64)",
    "uint64": "non-negative integer (uint64)",
    "bool": "boolean",
    "float": "number",
}


@dataclass(frozen=True, slots=True)
class WireField:
    """One field of an SDK model as the wire sees it.

    `type` is one of string/int64/uint64/bool/float/object; `model` names the nested model when
    `type` is `object`; `is_list` means a JSON array of that type.
    """

    name: str
    type: str
    model: str | None
    is_list: bool
    required: bool

    def describe(self) -> str:
        """Human wording of the expected JSON type, for error messages."""
        inner = f"object ({self.model})" if self.type == "object" else _DESCRIPTIONS[self.type]
        return f"array of {inner}" if self.is_list else inner


@dataclass(frozen=True, slots=True)
class _Schema:
    sdk_version: str
    actions: Mapping[str, tuple[str, str]]
    models: Mapping[str, Mapping[str, WireField]]
    sdk_actions: frozenset[str]


@functools.cache
def _schema() -> _Schema:
    """Load and index the packaged schema once; the file is immutable for the process lifetime."""
    raw = json.loads(resources.files("trigflow.api").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8"))
    models = {
        name: {
            fname: WireField(fname, f["type"], f["model"], bool(f["list"]), bool(f["required"]))
            for fname, f in fields.items()
        }
        for name, fields in raw["models"].items()
    }
    actions = {a: (p["request"], p["response"]) for a, p in raw["actions"].items()}
    return _Schema(raw["sdk_version"], actions, models, frozenset(raw["sdk_actions"]))


# --------------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------------


def sdk_version() -> str:
    """The SDK version the schema was generated from (what "compatible" means for this build)."""
    return _schema().sdk_version


def action_names() -> frozenset[str]:
    """Every action the schema describes; anything else is `InvalidAction` at the front door."""
    return frozenset(_schema().actions)


def sdk_action_names() -> frozenset[str]:
    """Every action the official SDK's 2025-08-06 client defines (~180), implemented by trigflow or not.

    The front door consults it only for an action it does not serve, to tell "not implemented by trigflow
    yet" (`UnsupportedOperation.NotImplemented`) from "no such action" (`InvalidAction`).
    """
    return _schema().sdk_actions


def model_names() -> frozenset[str]:
    """Every model the schema describes (request, response and nested)."""
    return frozenset(_schema().models)


def _action(action: str) -> tuple[str, str]:
    try:
        return _schema().actions[action]
    except KeyError:
        raise InvalidAction(f"The action {action} is not supported") from None


def request_model(action: str) -> str:
    """Name of the action's request model; raises `InvalidAction` for an unknown action."""
    return _action(action)[0]


def response_model(action: str) -> str:
    """Name of the action's response model (the object inside `Response`, with `RequestId`)."""
    return _action(action)[1]


def model_fields(model: str) -> Mapping[str, WireField]:
    """The model's fields in SDK order; raises `KeyError` for a model the schema lacks."""
    try:
        return _schema().models[model]
    except KeyError:
        raise KeyError(f"unknown wire model {model}") from None


def response_data_model(action: str) -> tuple[str | None, bool]:
    """The model of the response's `Data` field and whether `Data` is a list.

    `(None, False)` when the response has no `Data` at all (UpdateProject answers only a
    RequestId); KillTriggerWorkflowRuns is the one family action whose `Data` is a list.
    """
    data = model_fields(response_model(action)).get("Data")
    if data is None:
        return None, False
    return data.model, data.is_list


# --------------------------------------------------------------------------------------------------
# Request validation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Options:
    """Per-call switches threaded through the recursive checks."""

    from_query: bool
    ignore_unknown: bool


def _json_type(value: Any) -> str:
    """Name a Python value by the JSON type it came from, for "got ..." in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _mismatch(path: str, expected: str, value: Any) -> InvalidParameter:
    return InvalidParameter(f"The parameter {path} must be {expected}, got {_json_type(value)}")


def _check_int(path: str, kind: str, value: Any, from_query: bool) -> int:
    """JSON ints (or an integral float such as 5.0); query strings of digits when from_query."""
    expected = "a non-negative integer (uint64)" if kind == "uint64" else "an integer (int64)"
    if from_query and isinstance(value, str):
        if not _QUERY_INT.fullmatch(value) or len(value) > _MAX_QUERY_INT_CHARS:
            raise InvalidParameter(f"The parameter {path} must be {expected}, got {value[:40]!r}")
        number = int(value)
    elif isinstance(value, bool):
        raise _mismatch(path, expected, value)
    elif isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer()):
        number = int(value)  # 5.0 is accepted as 5: JSON has one number type, some encoders emit it
    else:
        raise _mismatch(path, expected, value)
    low = 0 if kind == "uint64" else INT64_MIN
    high = UINT64_MAX if kind == "uint64" else INT64_MAX
    if not low <= number <= high:
        raise InvalidParameter(f"The parameter {path} must be {expected}, got {number} (out of range)")
    return number


def _check_float(path: str, value: Any, from_query: bool) -> float:
    """JSON numbers (ints included); a decimal string when from_query; never NaN or infinite."""
    if from_query and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise InvalidParameter(f"The parameter {path} must be a number, got {value[:40]!r}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise _mismatch(path, "a number", value)
    if not math.isfinite(number):
        raise InvalidParameter(f"The parameter {path} must be a finite number")
    return number


def _check_bool(path: str, value: Any, from_query: bool) -> bool:
    """JSON booleans; `True`/`False`/`true`/`false`/`1`/`0` (any case) when from_query.

    The Python SDK writes booleans as `True`/`False` in GET/form requests (api-notes.md §1.7).
    """
    if isinstance(value, bool):
        return value
    if from_query and isinstance(value, str):
        parsed = _QUERY_BOOLS.get(value.lower())
        if parsed is not None:
            return parsed
        raise InvalidParameter(f"The parameter {path} must be a boolean, got {value!r}")
    raise _mismatch(path, "a boolean", value)


def _check_scalar(path: str, field: WireField, value: Any, from_query: bool) -> Any:
    """Validate one scalar element against the field's declared type and return the clean value."""
    kind = field.type
    if kind == "string":
        if not isinstance(value, str):
            # No number -> string coercion: strongly typed SDKs never send one, and accepting it would
            # hide a client bug behind a silently different ID (e.g. 1e3 vs "1000").
            raise _mismatch(path, "a string", value)
        if "\x00" in value:
            # Valid JSON, but no PostgreSQL text value can hold it (and no name, id or path needs it).
            raise InvalidParameter(f"The parameter {path} must not contain NUL (\\u0000) characters")
        return str.__str__(value)
    if kind in ("int64", "uint64"):
        return _check_int(path, kind, value, from_query)
    if kind == "float":
        return _check_float(path, value, from_query)
    if kind == "bool":
        return _check_bool(path, value, from_query)
    raise AssertionError(f"schema field {path} has unknown type {kind}")


def _check_element(path: str, field: WireField, value: Any, opts: _Options) -> Any:
    """Validate one (non-list) value of a field: a nested object or a scalar."""
    if field.type == "object":
        assert field.model is not None
        if not isinstance(value, Mapping):
            raise _mismatch(path, f"an object ({field.model})", value)
        return _check_object(path, field.model, value, opts)
    return _check_scalar(path, field, value, opts.from_query)


def _check_value(path: str, field: WireField, value: Any, opts: _Options) -> Any:
    """Validate a present, non-null field value, descending into arrays."""
    if not field.is_list:
        return _check_element(path, field, value, opts)
    if not isinstance(value, list | tuple):
        # In query form a list must already have been unflattened from A.0, A.1, ... by the caller;
        # a bare scalar or a {"0": ...} mapping here means the request was malformed.
        raise _mismatch(path, f"an {field.describe()}", value)
    return [
        _check_element(_join(path, index), field, item, opts) for index, item in enumerate(value) if item is not None
    ]


def _check_object(path: str, model: str, params: Mapping[str, Any], opts: _Options) -> dict[str, Any]:
    """Validate an object against a model: unknown keys first, then fields in SDK order."""
    fields = model_fields(model)
    if not opts.ignore_unknown:
        for key in params:
            if key not in fields:
                raise UnknownParameter(f"The parameter {_join(path, key)} is not recognized")
    cleaned: dict[str, Any] = {}
    for name, field in fields.items():
        value = params.get(name)
        field_path = _join(path, name)
        if value is None:
            if field.required:
                raise MissingParameter(f"The request is missing a required parameter {field_path}")
            continue
        cleaned[name] = _check_value(field_path, field, value, opts)
    return cleaned


def validate_request(
    action: str,
    params: Mapping[str, Any],
    *,
    from_query: bool = False,
    ignore_unknown: bool = False,
) -> dict[str, Any]:
    """Check an action's parameters against its request model and return a cleaned copy.

    Errors name the full dotted path (`Filters.0.Values`):
    unknown field -> `UnknownParameter`, missing required field -> `MissingParameter`, wrong JSON
    type -> `InvalidParameter`; an unknown action -> `InvalidAction`.

    `from_query=True` is for GET and form requests, where every scalar arrives as a string: strings
    are converted to int/float/bool as the schema says. Lists must already be real lists (another
    module unflattens `A.0.B` keys). `ignore_unknown=True` drops unknown fields instead of refusing
    them (lenient mode for newer SDKs).

    Value checks beyond the JSON type (enums, ranges, formats) belong to the handlers, which answer
    `InvalidParameterValue`.
    """
    model = request_model(action)
    if not isinstance(params, Mapping):
        raise InvalidParameter(f"The request parameters must be a JSON object, got {_json_type(params)}")
    return _check_object("", model, params, _Options(from_query, ignore_unknown))


# --------------------------------------------------------------------------------------------------
# Response rendering
# --------------------------------------------------------------------------------------------------


def _render_scalar(path: str, field: WireField, value: Any) -> Any:
    """Return the value as the exact builtin JSON type the schema declares, or raise.

    This is a guard against our own bugs, hence `TypeError`/`ValueError` rather than API errors:
    an int in a string field (IDs must be strings), a bool in an int field (`True` is an int in
    Python but not in Go), and so on.
    """
    kind = field.type
    if kind == "string":
        if not isinstance(value, str):
            raise TypeError(f"{path}: expected str, got {type(value).__name__} {value!r}")
        return str.__str__(value)  # plain str, even from a str-based enum
    if kind in ("int64", "uint64"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{path}: expected int ({kind}), got {type(value).__name__} {value!r}")
        number = int(value)
        low = 0 if kind == "uint64" else INT64_MIN
        high = UINT64_MAX if kind == "uint64" else INT64_MAX
        if not low <= number <= high:
            raise ValueError(f"{path}: {number} is out of the {kind} range")
        return number
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{path}: expected float, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value!r} cannot be encoded as JSON")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"{path}: expected bool, got {type(value).__name__} {value!r}")
        return value
    raise AssertionError(f"schema field {path} has unknown type {kind}")


# The inline test, per scalar type, that a value is *already* exactly what `_render_scalar` would return
# for it, so it can be emitted as is. Anything else (None aside) goes through `_render_scalar`, which
# converts (str-based enums, IntEnum, ints in float fields) or raises. Both the compiled renderers and
# the list fast path below are built from these expressions, so there is one statement of the rule.
_ALREADY_EXACT = {
    "string": "type({v}) is str",
    "int64": f"type({{v}}) is int and {INT64_MIN} <= {{v}} <= {INT64_MAX}",
    "uint64": f"type({{v}}) is int and 0 <= {{v}} <= {UINT64_MAX}",
    "float": "type({v}) is float and _isfinite({v})",
    "bool": "{v} is True or {v} is False",
}
_EXACT: dict[str, Callable[[Any], bool]] = {
    kind: eval("lambda v: " + expr.format(v="v"), {"_isfinite": math.isfinite}) for kind, expr in _ALREADY_EXACT.items()
}


def _render_list(path: str, field: WireField, value: Any) -> list[Any]:
    """Render a present array field element by element; null elements are refused."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise TypeError(f"{path}: expected a list, got {type(value).__name__}")
    if field.type == "object":
        assert field.model is not None
        if type(value) is Rendered and value.model == field.model:  # built by a row renderer, already checked
            return value
        render_item = _model_renderer(field.model)
        out = []
        for index, item in enumerate(value):
            if item is None:
                raise TypeError(f"{path}[{index}]: null inside an array")
            out.append(render_item(f"{path}[{index}]", item))
        return out
    if all(map(_EXACT[field.type], value)):
        return list(value)
    scalars = []
    for index, item in enumerate(value):
        if item is None:
            raise TypeError(f"{path}[{index}]: null inside an array")
        scalars.append(_render_scalar(f"{path}[{index}]", field, item))
    return scalars


def _render_value(path: str, field: WireField, value: Any) -> Any:
    """Render one field value (None stays None); arrays element by element."""
    if value is None:
        return None
    if field.is_list:
        return _render_list(path, field, value)
    if field.type == "object":
        assert field.model is not None
        return _model_renderer(field.model)(path, value)
    return value if _EXACT[field.type](value) else _render_scalar(path, field, value)


def _unknown_key(path: str, model: str, names: frozenset[str], data: Mapping[str, Any]) -> KeyError:
    key = next(k for k in data if k not in names)
    return KeyError(f"{path}: model {model} has no field {key!r}")


def _check_line(i: int, f: WireField, path_expr: str) -> str:
    """The generated statement that checks (and, where `_render_scalar` allows, converts) value `v<i>` of field
    `f`, shared by both code generators below; `path_expr` is the Python expression of its error path."""
    v = f"v{i}"
    if f.is_list:
        return f"    if {v} is not None: {v} = _render_list({path_expr}, _f{i}, {v})"
    if f.type == "object":
        return f"    if {v} is not None: {v} = _model_renderer({f.model!r})({path_expr}, {v})"
    exact = _ALREADY_EXACT[f.type].format(v=v)
    return f"    if {v} is not None and not ({exact}): {v} = _render_scalar({path_expr}, _f{i}, {v})"


@functools.cache
def _model_renderer(model: str) -> Callable[[str, Any], dict[str, Any]]:
    """Compile `render(path, data)` for one model: every field in SDK order, each value checked inline.

    The generated function is the straight-line equivalent of walking `model_fields(model)`: refuse a
    non-mapping and unknown keys, then per field `data.get(name)`, None as is, an exact scalar as is,
    anything else through `_render_scalar` (which converts or raises), nested models and arrays through
    their own renderers. Compiling it once per model keeps a 1,000-task-run GetTriggerWorkflowRun
    (60,000 fields) in single-digit milliseconds instead of ~30 ms for the generic walk, and error
    messages name the same paths.
    """
    fields = list(model_fields(model).values())
    ns: dict[str, Any] = {
        "_Mapping": Mapping,
        "_model": model,
        "_names": frozenset(f.name for f in fields),
        "_unknown_key": _unknown_key,
        "_render_scalar": _render_scalar,
        "_render_list": _render_list,
        "_model_renderer": _model_renderer,
        "_isfinite": math.isfinite,
    }
    lines = [
        "def render(path, data):",
        "    if type(data) is not dict and not isinstance(data, _Mapping):",
        "        raise TypeError(f'{path}: expected a mapping for {_model}, got {type(data).__name__}')",
        "    if not data.keys() <= _names:",
        "        raise _unknown_key(path, _model, _names, data)",
        "    get = data.get",
    ]
    for i, f in enumerate(fields):
        ns[f"_f{i}"] = f
        sub = f"path + {'.' + f.name!r}"
        lines.append(f"    v{i} = get({f.name!r})")
        lines.append(_check_line(i, f, sub))
    lines.append("    return {" + ", ".join(f"{f.name!r}: v{i}" for i, f in enumerate(fields)) + "}")
    exec(compile("\n".join(lines), f"<wire renderer {model}>", "exec"), ns)
    render: Callable[[str, Any], dict[str, Any]] = ns["render"]
    return render


class Rendered(list[Any]):
    """Objects of `model` already rendered by its `row_renderer`: `render` takes such a list as it is
    instead of checking every element a second time."""

    def __init__(self, model: str, items: Iterable[dict[str, Any]]) -> None:
        super().__init__(items)
        self.model = model


# How a row renderer gets a field: a column's value as is, a column's value as a string (epoch ms times,
# ids stored as integers), or any function of the row.
Column = str


@dataclass(frozen=True)
class AsString:
    column: str


FieldSource = Column | AsString | Callable[[Any], Any]


def row_renderer(model: str, sources: Mapping[str, FieldSource]) -> Callable[[Any], dict[str, Any]]:
    """Compile `render(row)` that builds `model` straight from a database row, with `render`'s checks.

    The same result as shaping a dict from the row and rendering it, without the intermediate dict:
    for the 1,000 task runs of a big GetTriggerWorkflowRun that was a third of the server's time. Each
    field comes from `sources` (a field without a source is None), and is checked inline exactly as
    `_model_renderer` checks it; a source for a field the model does not declare is a `KeyError` here,
    at import time, not per request.
    """
    fields = model_fields(model)
    unknown = [name for name in sources if name not in fields]
    if unknown:
        raise KeyError(f"model {model} has no field(s) {unknown}")
    ns: dict[str, Any] = {
        "_render_scalar": _render_scalar,
        "_render_list": _render_list,
        "_model_renderer": _model_renderer,
        "_isfinite": math.isfinite,
    }
    lines = ["def render(row):"]
    out: list[str] = []
    for i, f in enumerate(fields.values()):
        source = sources.get(f.name)
        if source is None:
            out.append(f"{f.name!r}: None")
            continue
        ns[f"_f{i}"] = f
        path = f"{model}.{f.name}"
        if isinstance(source, str):
            lines.append(f"    v{i} = row[{source!r}]")
        elif isinstance(source, AsString):
            lines.append(f"    v{i} = row[{source.column!r}]")
            lines.append(f"    if v{i} is not None: v{i} = str(v{i})")
        else:
            ns[f"_s{i}"] = source
            lines.append(f"    v{i} = _s{i}(row)")
        lines.append(_check_line(i, f, repr(path)))
        out.append(f"{f.name!r}: v{i}")
    lines.append("    return {" + ", ".join(out) + "}")
    exec(compile("\n".join(lines), f"<row renderer {model}>", "exec"), ns)
    render_row: Callable[[Any], dict[str, Any]] = ns["render"]
    return render_row


def render(model: str, data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Render `data` as `model`: exactly the model's fields, in SDK order, missing ones as None.

    Why every field: real responses carry explicit nulls and every SDK decodes them (api-notes.md
    §1.31), whereas emitting a field the SDK does not declare triggers its "fileds are useless"
    warning. So a key the model does not declare is a programming error (`KeyError` naming model
    and key), and a scalar of the wrong type is one too (`TypeError`; `ValueError` for out-of-range
    integers or non-finite floats). Nested models and lists of models are rendered recursively.
    """
    if data is None:
        return None
    return _model_renderer(model)(model, data)


def render_response_data(action: str, data: Any) -> Any:
    """Render the `Data` of an action's response (a list for KillTriggerWorkflowRuns).

    Responses without a `Data` field (UpdateProject) accept only `None`.
    """
    response = response_model(action)
    field = model_fields(response).get("Data")
    if field is None:
        if data is not None:
            raise KeyError(f"{response} has no Data field")
        return None
    return _render_value(f"{response}.Data", field, data)
