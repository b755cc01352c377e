"""Generate `src/trigflow/api/wire_schema.json`, the one machine-readable wire schema of trigflow.

Why a generated file: the server must accept exactly what the official SDKs send and emit exactly
the fields the SDK models declare, so the schema has to come from the SDKs themselves, not be typed
by hand. Two sources are merged because neither is complete on its own:

* tccli's `api.json` knows the *required* flags and the integer widths (`int64` vs `uint64`), which
  the Python SDK does not record (its docstrings say only `int`).
* The Python SDK models (`vars(Model())` and the `:type X:` docstrings) are newer and carry a few
  fields the CLI metadata lacks (api-notes.md §0); they are authoritative for the field *set* and
  the field *order*.

The union of both is emitted. A field known only to the CLI cannot be represented (the SDK would
neither send nor accept it), so it aborts generation; so does any type disagreement between the two
sources. Either means the pinned versions drifted apart and a human should look.

Run `python tools/gen_wire_schema.py` to (re)write the file, or `--check` to fail when the file on
disk is stale (useful in CI).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tencentcloud.common.abstract_model import AbstractModel
from tencentcloud.wedata.v20250806 import models as sdk_models
from tencentcloud.wedata.v20250806 import wedata_client

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT_PATH = REPO_ROOT / "src" / "trigflow" / "api" / "wire_schema.json"
SDK_DISTRIBUTION = "tencentcloud-sdk-python-wedata"

#: The trigger-workflow family (the 29 actions of reference/sdk-schema.json), in the reference order.
TRIGGER_ACTIONS: tuple[str, ...] = (
    "CreateTriggerWorkflow",
    "GetTriggerWorkflow",
    "UpdateTriggerWorkflow",
    "UpdateTriggerWorkflowPartially",
    "DeleteTriggerWorkflow",
    "ListTriggerWorkflows",
    "CreateTriggerTask",
    "GetTriggerTask",
    "GetTriggerTaskCode",
    "GetTriggerTaskVersion",
    "ListTriggerTaskVersions",
    "UpdateTriggerTask",
    "UpdateTriggerTaskPartially",
    "DeleteTriggerTask",
    "ListTriggerTasks",
    "SubmitTriggerTask",
    "ListUpstreamTriggerTasks",
    "ListDownstreamTriggerTasks",
    "CreateTriggerWorkflowRun",
    "GetTriggerWorkflowRun",
    "ListTriggerWorkflowRuns",
    "KillTriggerWorkflowRuns",
    "RerunTriggerWorkflowRunAsync",
    "GetTriggerTaskRun",
    "ListTriggerTaskRuns",
    "GetOpsTriggerWorkflow",
    "ListOpsTriggerWorkflows",
    "UpdateOpsTriggerTasksOwner",
    "GetOpsAsyncJob",
)

#: Actions outside the family that a self-hosted server needs to be usable at all (projects, resource
#: groups and folders must exist before a workflow can be created). Skipped if the SDK lacks one.
COMPANION_ACTIONS: tuple[str, ...] = (
    "CreateProject",
    "GetProject",
    "ListProjects",
    "UpdateProject",
    "DeleteProject",
    "EnableProject",
    "DisableProject",
    "ListProjectMembers",
    "CreateResourceGroup",
    "UpdateResourceGroup",
    "DeleteResourceGroup",
    "ListResourceGroups",
    "GetResourceGroupMetrics",
    "CreateWorkflowFolder",
    "ListWorkflowFolders",
    "CreateTaskFolder",
    "ListTaskFolders",
    "GetTaskInstanceLog",
    "CreateDataSource",
    "GetDataSource",
    "ListDataSources",
    "UpdateDataSource",
    "DeleteDataSource",
    "GetDataSourceRelatedTasks",
)

SCALARS = frozenset({"string", "int64", "uint64", "bool", "float"})
#: CLI member spellings that are plain strings on the wire.
_CLI_STRING_ALIASES = frozenset({"string", "datetime_iso"})
_SDK_SCALARS = {"str": "string", "int": "int", "bool": "bool", "float": "float"}
_TYPE_LINE = re.compile(r"^\s*:type (\w+): (.+?)\s*$", re.MULTILINE)
_CLASS_REF = re.compile(r"^:class:`tencentcloud\.wedata\.v20250806\.models\.(\w+)`$")

Field = dict[str, Any]
Model = dict[str, Field]


class SchemaConflict(RuntimeError):
    """The CLI metadata and the SDK disagree in a way that cannot be merged automatically."""


def default_cli_api_path() -> Path:
    """Locate tccli's wedata metadata in the installed tccli, so no virtualenv path is hard-coded."""
    spec = importlib.util.find_spec("tccli")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("tccli is not installed; it provides the required flags and integer widths")
    base = Path(next(iter(spec.submodule_search_locations)))
    return base / "services" / "wedata" / "v20250806" / "api.json"


def sdk_model_class(name: str) -> type[AbstractModel] | None:
    """Return the SDK model class called `name`, or None when the SDK has no such model."""
    cls = getattr(sdk_models, name, None)
    if isinstance(cls, type) and issubclass(cls, AbstractModel):
        return cls
    return None


def sdk_fields(name: str) -> list[tuple[str, str]]:
    """The SDK model's fields in SDK order, each with its raw docstring type (`str`, `list of X`...).

    The field set comes from `vars(Model())` because that is exactly what the SDK's `_deserialize`
    compares incoming keys against (its "fileds are useless" warning) and what it serialises.
    """
    cls = sdk_model_class(name)
    if cls is None:
        raise SchemaConflict(f"the SDK has no model {name}")
    types = dict(_TYPE_LINE.findall(cls.__init__.__doc__ or ""))
    out: list[tuple[str, str]] = []
    for attr in vars(cls()):
        if attr == "_headers":  # request-header plumbing of AbstractModel, never a wire field
            continue
        field = attr[1:] if attr.startswith("_") else attr
        if field not in types:
            raise SchemaConflict(f"{name}.{field}: no ':type' line in the SDK docstring")
        out.append((field, types[field]))
    return out


def parse_sdk_type(doc_type: str) -> tuple[str, str | None, bool]:
    """Turn an SDK docstring type into (kind, model, is_list); kind `int` means "width unknown"."""
    is_list = doc_type.startswith("list of ")
    inner = doc_type[len("list of ") :] if is_list else doc_type
    if inner == "int non-negative":  # how the SDK spells a list of uint64
        return "uint64", None, is_list
    if inner in _SDK_SCALARS:
        return _SDK_SCALARS[inner], None, is_list
    match = _CLASS_REF.match(inner)
    if match:
        return "object", match.group(1), is_list
    if is_list and re.fullmatch(r"\w+", inner):
        return "object", inner, True
    raise SchemaConflict(f"unrecognised SDK docstring type {doc_type!r}")


def parse_cli_member(member: Mapping[str, Any]) -> tuple[str, str | None, bool]:
    """Turn a tccli member description into (kind, model, is_list)."""
    cli_type, inner = member["type"], member["member"]
    is_list = cli_type == "list"
    if inner in _CLI_STRING_ALIASES:
        return "string", None, is_list
    if inner in SCALARS:
        return inner, None, is_list
    if cli_type in ("list", "object"):
        return "object", inner, is_list
    raise SchemaConflict(f"unrecognised CLI member {member['name']}: type={cli_type} member={inner}")


def merge_field(model: str, name: str, sdk_type: str, cli_member: Mapping[str, Any] | None) -> Field:
    """Combine both sources for one field: SDK decides the shape, the CLI the width and `required`."""
    kind, ref, is_list = parse_sdk_type(sdk_type)
    required = False
    if cli_member is not None:
        cli_kind, cli_ref, cli_list = parse_cli_member(cli_member)
        compatible = (
            cli_list == is_list
            and cli_ref == ref
            and (cli_kind == kind or (kind == "int" and cli_kind in ("int64", "uint64")))
        )
        if not compatible:
            raise SchemaConflict(
                f"{model}.{name}: SDK says {sdk_type!r}, CLI says {cli_member['type']}/{cli_member['member']}"
            )
        kind = cli_kind
        required = bool(cli_member.get("required", False))
    elif kind == "int":
        # SDK-only integer: the SDK cannot tell the width; signed is the safe reading for input.
        kind = "int64"
    return {"type": kind, "model": ref, "list": is_list, "required": required}


def build_model(name: str, cli_objects: Mapping[str, Any], notes: list[str]) -> Model:
    """Build one model's field table, in SDK order, from both sources."""
    cli_obj = cli_objects.get(name)
    cli_members = {m["name"]: m for m in cli_obj["members"]} if cli_obj else {}
    if cli_obj is None:
        notes.append(f"model {name}: absent from the CLI metadata (SDK types, nothing required)")
    fields: Model = {}
    for field, doc_type in sdk_fields(name):
        member = cli_members.pop(field, None)
        if cli_obj is not None and member is None:
            notes.append(f"{name}.{field}: SDK-only field")
        fields[field] = merge_field(name, field, doc_type, member)
    if cli_members:
        raise SchemaConflict(f"{name}: CLI-only fields the SDK lacks: {sorted(cli_members)}")
    return fields


def sdk_client_actions() -> list[str]:
    """Every action the official 2025-08-06 client defines, sorted.

    Why: an action the SDK offers but trigflow does not serve must be answered "not implemented yet",
    not "does not exist" (`InvalidAction`), so the server needs the SDK's full list as data. The client's
    own public methods are exactly its actions (each one `self.call("<Name>", ...)`), and every one has
    `<Name>Request`/`<Name>Response` models; a method without them means the SDK changed shape.
    """
    names = sorted(
        name for name, value in vars(wedata_client.WedataClient).items() if callable(value) and name[:1].isupper()
    )
    for name in names:
        if sdk_model_class(f"{name}Request") is None or sdk_model_class(f"{name}Response") is None:
            raise SchemaConflict(f"the SDK client defines {name} without its Request/Response models")
    return names


def referenced_models(model: Model) -> Iterable[str]:
    """Names of the models a model's fields point to."""
    return (f["model"] for f in model.values() if f["model"] is not None)


def build_schema(cli_api_path: Path | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """Build the whole schema: the selected actions and the transitive closure of their models."""
    notes = [] if notes is None else notes
    cli = json.loads((cli_api_path or default_cli_api_path()).read_text(encoding="utf-8"))
    cli_objects: Mapping[str, Any] = cli["objects"]

    actions: dict[str, dict[str, str]] = {}
    for action in (*TRIGGER_ACTIONS, *COMPANION_ACTIONS):
        request, response = f"{action}Request", f"{action}Response"
        if sdk_model_class(request) is None or sdk_model_class(response) is None:
            if action in TRIGGER_ACTIONS:
                raise SchemaConflict(f"the SDK lacks the family action {action}")
            notes.append(f"action {action}: not in the SDK, skipped")
            continue
        if action not in cli["actions"]:
            notes.append(f"action {action}: absent from the CLI metadata")
        actions[action] = {"request": request, "response": response}

    models: dict[str, Model] = {}
    pending = [name for pair in actions.values() for name in pair.values()]
    while pending:
        name = pending.pop()
        if name in models:
            continue
        models[name] = build_model(name, cli_objects, notes)
        pending.extend(referenced_models(models[name]))

    sdk_actions = sdk_client_actions()
    unknown = sorted(set(actions) - set(sdk_actions))
    if unknown:
        raise SchemaConflict(f"actions with models but no SDK client method: {unknown}")
    return {
        "sdk_version": importlib.metadata.version(SDK_DISTRIBUTION),
        "actions": {a: actions[a] for a in sorted(actions)},
        "sdk_actions": sdk_actions,
        "models": {m: models[m] for m in sorted(models)},
    }


def render_json(schema: Mapping[str, Any]) -> str:
    """Serialise compactly but one action/model per line, so that a regeneration diffs readably.

    Keys are emitted in the order built (actions and models sorted, fields in SDK order), never
    re-sorted, because field order is part of what the schema records.
    """

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def section(items: Mapping[str, Any]) -> str:
        return ",\n".join(f"  {dump(k)}:{dump(v)}" for k, v in items.items())

    def names(items: Iterable[str]) -> str:
        return ",\n".join(f"  {dump(n)}" for n in items)

    return (
        "{\n"
        f' "sdk_version":{dump(schema["sdk_version"])},\n'
        f' "actions":{{\n{section(schema["actions"])}\n }},\n'
        f' "sdk_actions":[\n{names(schema["sdk_actions"])}\n ],\n'
        f' "models":{{\n{section(schema["models"])}\n }}\n'
        "}\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the schema file; print merge notes to stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli-api", type=Path, default=None, help="tccli wedata v20250806 api.json")
    parser.add_argument("--output", type=Path, default=OUTPUT_PATH)
    parser.add_argument("--check", action="store_true", help="fail if the output file is stale")
    parser.add_argument("--quiet", action="store_true", help="do not print merge notes")
    args = parser.parse_args(argv)

    notes: list[str] = []
    text = render_json(build_schema(args.cli_api, notes))
    if not args.quiet:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is stale; run tools/gen_wire_schema.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    schema = json.loads(text)
    print(
        f"wrote {args.output}: {len(schema['actions'])} actions, {len(schema['models'])} models, "
        f"{len(schema['sdk_actions'])} SDK client actions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
