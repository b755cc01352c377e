"""The pure parts of Notebook tasks (trigflow.domain.notebook, tasktypes/notebook.py): what is a notebook at
save, the settings, the injected parameters cell and `${...}` placed cell by cell."""

from __future__ import annotations

import ast
import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.code_quoting import UnsafePlacement
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.notebook import (
    INJECTED_TAG,
    NotebookError,
    NotebookSettings,
    SettingError,
    cell_source,
    dump_notebook,
    inject_parameters,
    injectable,
    notebook_settings,
    parameters_source,
    parse_notebook,
    render_cell,
    substitute_cells,
)
from trigflow.domain.params import Data, Segment
from trigflow.runner import base as wl
from trigflow.service.attempt_params import DEFAULT_LIMITS, ParameterRefused, resolve_attempt
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.base import Paths
from trigflow.tasktypes.notebook import NOTEBOOK, NOTEBOOK_DIALECT, artifact_path
from trigflow.tasktypes.process import Attempt


def code(source: str, **extra: Any) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None, **extra}


def nb(*cells: dict[str, Any], minor: int = 5) -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": list(cells)}


# --- what a notebook is --------------------------------------------------------------------------------


def test_a_v4_notebook_parses_and_gets_the_fields_the_schema_requires() -> None:
    text = json.dumps(nb({"cell_type": "code", "source": ["a = 1\n", "a"]}, {"cell_type": "markdown", "source": "x"},
                         minor=4))  # fmt: skip
    parsed = parse_notebook(text)
    assert parsed["nbformat_minor"] == 5
    first, second = parsed["cells"]
    assert (first["id"], first["outputs"], first["execution_count"], first["metadata"]) == ("cell-1", [], None, {})
    assert second["id"] == "cell-2" and "outputs" not in second
    assert cell_source(first) == "a = 1\na"


def test_an_empty_code_content_is_an_empty_notebook() -> None:
    assert parse_notebook("")["cells"] == [] and parse_notebook("  \n")["nbformat"] == 4


def test_ids_are_kept_and_new_ones_never_collide() -> None:
    parsed = parse_notebook(json.dumps(nb(code("1", id="cell-2"), code("2"))))
    assert [c["id"] for c in parsed["cells"]] == ["cell-2", "cell-2-2"]


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ("print('not json')", "it is not JSON"),
        ("[]", "a notebook is a JSON object (a .ipynb file), got an array"),
        ('{"cells": []}', 'no integer "nbformat"'),
        ('{"nbformat": 3, "worksheets": []}', "it is nbformat 3; only nbformat 4 runs"),
        ('{"nbformat": 4, "cells": {}}', '"cells" must be an array, got an object'),
        ('{"nbformat": 4, "nbformat_minor": -1, "cells": []}', '"nbformat_minor" must be a non-negative integer'),
        ('{"nbformat": 4, "metadata": [], "cells": []}', '"metadata" must be an object'),
        ('{"nbformat": 4, "cells": [1]}', "cells[0] must be an object, got a number"),
        ('{"nbformat": 4, "cells": [{"cell_type": "sql"}]}', "cells[0].cell_type must be one of code, markdown, raw"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}', "cells[0].source must be a string or"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "outputs": {}}]}', "cells[0].outputs must be an array"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "execution_count": "1"}]}', "execution_count must be"),
        ('{"nbformat": 4, "cells": [{"cell_type": "raw", "metadata": {"tags": "parameters"}}]}', "tags must be"),
        ('{"nbformat": 4, "cells": [{"cell_type": "raw", "id": "a b"}]}', "cells[0].id must be 1-64 letters"),
        ('{"nbformat": 4, "cells": [{"cell_type": "raw", "id": "a"}, {"cell_type": "raw", "id": "a"}]}',
         "cells[1].id 'a' is used by an earlier cell too"),
    ],
)  # fmt: skip
def test_what_is_not_a_runnable_notebook_is_named(doc: str, why: str) -> None:
    with pytest.raises(NotebookError) as e:
        parse_notebook(doc)
    assert why in str(e.value)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_save_time_refusals_name_the_wire_field_with_the_actions_prefix() -> None:
    good = {"CodeContent": b64(json.dumps(nb(code("1"))))}
    assert NOTEBOOK.validate(good, {}, Paths(), []) == []
    with pytest.raises(InvalidParameterValue) as e:
        NOTEBOOK.validate({"CodeContent": b64("print(1)")}, {}, Paths("Task."), [])
    assert str(e.value).startswith("Task.TriggerTaskConfiguration.CodeContent is not a Jupyter notebook: it is not")
    with pytest.raises(InvalidParameterValue) as e:
        NOTEBOOK.validate(good, {"cellTimeout": "soon"}, Paths("NewSetting."), [])
    assert str(e.value).startswith("NewSetting.TriggerTaskConfiguration.TaskExtConfigurationList.cellTimeout must be")


# --- settings ------------------------------------------------------------------------------------------


def test_settings_default_and_parse() -> None:
    assert notebook_settings({}) == NotebookSettings("python3", None, 60, False)
    got = notebook_settings({"kernelName": "ir", "cellTimeout": "30", "startupTimeout": " 90 ", "allowErrors": "TRUE"})
    assert got == NotebookSettings("ir", 30, 90, True)
    assert notebook_settings({"kernelName": "", "cellTimeout": None}) == NotebookSettings()


@pytest.mark.parametrize(
    ("ext", "key"),
    [
        ({"kernelName": "../python3"}, "kernelName"),
        ({"kernelName": "x" * 65}, "kernelName"),
        ({"cellTimeout": "0"}, "cellTimeout"),
        ({"cellTimeout": "1.5"}, "cellTimeout"),
        ({"cellTimeout": str(7 * 24 * 3600 + 1)}, "cellTimeout"),
        ({"startupTimeout": "601"}, "startupTimeout"),
        ({"allowErrors": "yes"}, "allowErrors"),
    ],
)
def test_bad_settings_name_their_key(ext: dict[str, str], key: str) -> None:
    with pytest.raises(SettingError) as e:
        notebook_settings(ext)
    assert e.value.key == key


# --- the injected parameters cell ----------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True).filter(injectable)
values = st.text(st.characters(codec="utf-8") | st.sampled_from(["\n", "\r", "'", '"', "\\", "\0", "\ud800"]))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, values, max_size=6))
def test_the_injected_cell_assigns_each_value_as_itself_and_runs_nothing_else(params: dict[str, str]) -> None:
    source = parameters_source(params)
    namespace: dict[str, Any] = {"__builtins__": {}}  # a value that tried to call anything would fail here
    exec(compile(source, "<injected>", "exec"), namespace)
    del namespace["__builtins__"]
    assert namespace == params
    assert source.count("\n") == len(params) + 1  # one line per value: no value breaks a line


def test_a_value_written_to_break_out_stays_data() -> None:
    evil = 'x"); import os; os.system("touch /tmp/p"); ("'
    source = parameters_source({"x": evil})
    assert source == '# Parameters (injected by trigflow)\nx = \'x"); import os; os.system("touch /tmp/p"); ("\'\n'
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(source, namespace)
    assert namespace["x"] == evil


def test_the_cell_goes_after_the_tagged_cell_and_replaces_an_earlier_injection() -> None:
    book = parse_notebook(json.dumps(nb(
        code("print(1)"),
        code("x = 'default'", metadata={"tags": ["parameters"]}),
        code("x = 'old'", metadata={"tags": [INJECTED_TAG]}, id="injected-parameters"),
        code("print(x)"),
    )))  # fmt: skip
    injection = inject_parameters(book, {"x": "new", "sys.dag.loopDataArray": "[]", "class": "c"})
    cells = injection.notebook["cells"]
    assert [cell_source(c) for c in cells] == [
        "print(1)", "x = 'default'", "# Parameters (injected by trigflow)\nx = 'new'\n", "print(x)"
    ]  # fmt: skip
    assert (injection.index, injection.after_tagged) == (2, True)
    assert injection.injected == ["x"] and injection.skipped == ["sys.dag.loopDataArray", "class"]
    assert cells[2]["id"] == "injected-parameters" and cells[2]["metadata"]["tags"] == [INJECTED_TAG]
    assert len(book["cells"]) == 4  # the input is not changed


def test_without_a_tagged_cell_the_parameters_come_first_and_without_parameters_no_cell() -> None:
    book = parse_notebook(json.dumps(nb(code("print(x)"))))
    injection = inject_parameters(book, {"x": "1"})
    assert injection.index == 0 and not injection.after_tagged
    assert cell_source(injection.notebook["cells"][0]).endswith("x = '1'\n")
    assert inject_parameters(book, {"a.b": "1"}).index is None
    assert inject_parameters(book, {}).notebook == book


# --- ${...} in cells -----------------------------------------------------------------------------------


def test_trusted_text_is_pasted_into_code_cells_only() -> None:
    text = json.dumps(nb(code("print('${d}')"), {"cell_type": "markdown", "metadata": {}, "source": "${d}"}))
    out = json.loads(substitute_cells(text, lambda s: [s.replace("${d}", "2026-01-01")]))
    assert [cell_source(c) for c in out["cells"]] == ["print('2026-01-01')", "${d}"]


def test_nothing_to_substitute_keeps_the_text_as_it_was() -> None:
    text = json.dumps(nb(code("print(1)"), {"cell_type": "markdown", "metadata": {}, "source": "${d}"}))
    assert substitute_cells(text, lambda s: [s]) is text
    assert substitute_cells("not a notebook ${x}", lambda s: [s]) == "not a notebook ${x}"


def segments_of(template: str, value: str) -> list[Segment]:
    before, _, after = template.partition("${v}")
    return [before, Data("v", value), after]


@settings(max_examples=200, deadline=None)
@given(values.filter(lambda v: "\0" not in v and "\ud800" not in v))
def test_a_data_value_in_a_plain_python_cell_is_a_literal(value: str) -> None:
    for template in ("x = '${v}'", "x = ${v}", 'x = f"""${v}"""', "# ${v}\nx = None"):
        rendered = render_cell(segments_of(template, value))
        namespace: dict[str, Any] = {"__builtins__": {}}
        exec(compile(rendered, "<cell>", "exec"), namespace)
        if template.startswith("#"):
            assert namespace["x"] is None
        elif namespace["x"] != value:  # `x = ${v}`: a plain literal (`42`, `[1]`) is pasted as that literal
            assert template == "x = ${v}" and namespace["x"] == ast.literal_eval(value)
        else:
            assert namespace["x"] == value


@pytest.mark.parametrize("template", ["!echo ${v}", "%time x = '${v}'", "%%bash\necho '${v}'", "x = '${v}'\nx?"])
def test_a_data_value_in_an_ipython_cell_is_refused(template: str) -> None:
    with pytest.raises(UnsafePlacement, match="not plain Python"):
        render_cell(segments_of(template, "{__import__('os').system('touch /tmp/p')}"))


def test_the_refusal_names_the_cell() -> None:
    text = json.dumps(nb(code("print(1)"), code("!echo ${v}")))
    with pytest.raises(UnsafePlacement, match=r"^cell 2: a data value \(\$\{v\}\)"):
        substitute_cells(text, lambda s: segments_of(s, "x") if "${v}" in s else [s])


def test_trusted_text_in_a_magic_cell_is_pasted() -> None:
    assert render_cell(["!echo ", "hello"]) == "!echo hello"


# --- the type --------------------------------------------------------------------------------------------


def test_registered_as_a_runner_type_with_the_observed_labels() -> None:
    t = TASK_TYPES[132]
    assert t is NOTEBOOK and t.dialect == NOTEBOOK_DIALECT and t.code_suffix == ".ipynb" and t.holds_slot
    assert (t.labels.design, t.labels.run_code, t.labels.run_id, t.labels.desc, t.labels.category) == (
        "NOTEBOOK", "NOTEBOOK", 132, "Notebook探索", "GENERAL"
    )  # fmt: skip


def test_the_workload_names_where_the_executed_notebook_goes() -> None:
    attempt = Attempt("e1", {}, "/runs/r1", "/runs/r1/t.0.0.log", "/runs/r1/t.0.0.outputs", "{}", {"x": "1"})
    doc = NOTEBOOK.workload({"config": {"kernelName": "python3"}}, attempt)
    assert doc[wl.KEY_ARTIFACT_PATH] == "/runs/r1/t.0.0.ipynb" == artifact_path(attempt.log_path)
    assert doc[wl.KEY_TYPE_ID] == 132 and doc[wl.KEY_PARAMS] == {"x": "1"}


def test_dump_is_what_jupyter_writes() -> None:
    assert dump_notebook({"b": 1, "a": "é"}) == '{\n "a": "é",\n "b": 1\n}\n'


# --- the parameter layer (service/attempt_params.py) -----------------------------------------------------


def resolved(notebook: dict[str, Any], params: dict[str, str], data: list[str]) -> Any:
    spec = {**NOTEBOOK.freeze(json.dumps(notebook), {}), **run_spec.common({}, [], data)}
    r = {"spec": spec, "run_params": json.dumps(params), "schedule_ms": 0, "timezone": "UTC"}
    return resolve_attempt(r, {}, DEFAULT_LIMITS, NOTEBOOK_DIALECT)


def test_the_parameter_layer_substitutes_cell_by_cell_trusted_pasted_data_as_literals() -> None:
    book = nb(code("day = '${day}'\nwho = ${who}"), {"cell_type": "markdown", "metadata": {}, "source": "${day}"})
    prepared = resolved(book, {"day": "20261203", "who": "x'); import os; ('"}, ["who"])
    cells = json.loads(prepared.code)["cells"]
    assert cell_source(cells[0]) == "day = '20261203'\nwho = (\"x'); import os; ('\")"
    assert cell_source(cells[1]) == "${day}"  # markdown is never substituted
    assert prepared.params == {"day": "20261203", "who": "x'); import os; ('"}


def test_the_parameter_layer_refuses_a_data_value_in_a_magic_cell_naming_it() -> None:
    with pytest.raises(ParameterRefused, match=r"^UnsafeParameter: cell 1: a data value \(\$\{who\}\)"):
        resolved(nb(code("!echo ${who}")), {"who": "{__import__('os')}"}, ["who"])


def test_without_references_the_code_is_what_was_saved() -> None:
    book = nb(code("print(1)"))
    assert resolved(book, {"who": "x"}, ["who"]).code == json.dumps(book)
