"""Placing data values into task code (trigflow.domain.code_quoting): no value ever becomes code.

Shell properties run the rendered script with `bash -c` and the referenced variables in its environment (the
process boundary is the only thing faked: no trigflow server). Python properties check the rendered code's
syntax tree (the value is a constant where the placeholder was) and run a few scripts for real."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trigflow.domain.code_quoting import RenderedCode, UnsafePlacement, render_code, render_python, render_shell
from trigflow.domain.params import Data, Segment

MARKER_DIR = Path("/tmp") / f"trigflow-quoting-{os.getpid()}"


def marker() -> Path:
    return MARKER_DIR / "ran"


def attack_fragments() -> list[str]:
    m = marker()
    return [
        f"$(touch {m})", f"`touch {m}`", f"'; touch {m}; '", f'"; touch {m}; "', f"\ntouch {m}\n", "EOF",
        "\nEOF\n", f"${{IFS}}touch${{IFS}}{m}", "\\", "'", '"', "$", "`", "!", "*", "{", "}", "\t", "\n", "%s",
        f"'\"$(touch {m})\"'", "$'", "a[$(touch " + str(m) + ")]", "#", "<<", "\r",
    ]  # fmt: skip


def values() -> st.SearchStrategy[str]:
    printable = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=8)
    return st.lists(st.sampled_from(attack_fragments()) | printable, max_size=6).map("".join)


def run_bash(rendered: RenderedCode) -> str:
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", **rendered.variables}
    result = subprocess.run(["bash", "-c", rendered.text], env=env, capture_output=True, timeout=10)
    return result.stdout.decode("utf-8", "surrogateescape")


@pytest.fixture(autouse=True)
def _no_marker() -> None:
    MARKER_DIR.mkdir(exist_ok=True)
    marker().unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ shell

# (before, after, expected): the value is printed between the two; `expected` is bash's output with `{}` for
# the value, or None where bash itself changes it (word splitting, heredoc lines): there it must only never run.
SHELL_CONTEXTS = [
    ("printf '%s' \"", '"', "{}"),
    ("printf '%s' '", "'", "{}"),
    ("printf '%s' $'", "'", "{}"),
    ("printf '%s' \"a'b", "c'd\"", "a'b{}c'd"),  # single quotes inside double quotes are literal
    ("x=", "\nprintf '%s' \"$x\"", "{}"),  # an assignment does not split
    ("printf '%s' \"$(printf '%s' \"", '")"', None),  # $(...) drops trailing newlines
    ("printf '%s' \"${UNSET:-", '}"', "{}"),
    ("cat <<EOF\n", "\nEOF", None),
    ("cat <<'EOF'\n", "\nEOF", None),
    ("cat <<-\"EOF\"\n\t", "\n\tEOF", None),
    ("printf '%s' ", "", None),  # unquoted: split and globbed like a paste, never run
    ("printf '%s' `printf '%s' ", "`", None),
    ("# a comment ", "\nprintf done", "done"),
    ("printf '%s' \"", '" # ${x}', "{}"),
]


REFERENCES = ("${TRIGFLOW_PARAM_v}", "'\"${TRIGFLOW_PARAM_v}\"'", "'\"${TRIGFLOW_PARAM_v}\"$'")


@pytest.mark.parametrize(("before", "after", "expected"), SHELL_CONTEXTS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values())
def test_shell_data_never_runs(before: str, after: str, expected: str | None, value: str) -> None:
    rendered = render_shell([before, Data("v", value), after])
    middle = rendered.text[len(before) : len(rendered.text) - len(after)]
    assert rendered.text.startswith(before) and rendered.text.endswith(after)
    pasted = (middle == value and "<<'" in before) or "<<-\"" in before
    assert pasted or middle in REFERENCES, middle  # the value itself never enters the script text
    out = run_bash(rendered)
    assert not marker().exists(), rendered.text
    if expected is not None:
        assert out == expected.replace("{}", value)
    if before.startswith("cat <<") and "\n" not in value and "\r" not in value and "EOF" not in value:
        shown = value.lstrip("\t") if "<<-" in before else value  # `<<-` strips leading tabs of every line
        assert out == shown + "\n"  # quoted or not, a one-line value comes out exactly


def test_shell_references_are_per_context() -> None:
    segs = ["a ", Data("v", "x"), " '", Data("v", "x"), "' $'", Data("v", "x"), "' \"", Data("v", "x"), '"']
    rendered = render_shell(segs)
    ref = "${TRIGFLOW_PARAM_v}"
    assert rendered.text == f"a {ref} ''\"{ref}\"'' $''\"{ref}\"$'' \"{ref}\""  # closes and reopens the quotes
    assert rendered.variables == {"TRIGFLOW_PARAM_v": "x"}


def test_names_that_are_not_identifiers_get_numbered_variables() -> None:
    rendered = render_shell(['echo "', Data("file-list", "a"), Data("a.b", "b"), Data("file-list", "a"), '"'])
    assert rendered.text == 'echo "${TRIGFLOW_VALUE_0}${TRIGFLOW_VALUE_1}${TRIGFLOW_VALUE_0}"'
    assert rendered.variables == {"TRIGFLOW_VALUE_0": "a", "TRIGFLOW_VALUE_1": "b"}


def test_quoted_heredoc_pastes_only_what_cannot_end_it() -> None:
    assert render_shell(["cat <<'EOF'\n", Data("v", "a 'b' $c"), "\nEOF\n"]).text == "cat <<'EOF'\na 'b' $c\nEOF\n"
    for value in ("x\nEOF\ntouch /tmp/p", "EOF", "a\rb"):
        assert "${TRIGFLOW_PARAM_v}" in render_shell(["cat <<'EOF'\n", Data("v", value), "\nEOF\n"]).text


def test_quoted_heredoc_paste_cannot_complete_the_delimiter_with_trusted_text() -> None:
    # "E" + value "O" + "F" would make the line `EOF`, ending the heredoc early: referenced, not pasted.
    rendered = render_shell(["cat <<'EOF'\nE", Data("v", "O"), "F\ntouch /tmp/p\nEOF\n"])
    assert "${TRIGFLOW_PARAM_v}" in rendered.text
    assert run_bash(rendered) == "E${TRIGFLOW_PARAM_v}F\ntouch /tmp/p\n"


def test_two_heredocs_on_one_line_and_code_after_them() -> None:
    code: list[Segment] = ["cat <<A; cat <<'B'\n", Data("v", "1"), "\nA\n", Data("v", "2"), "\nB\nprintf '%s' '",
                           Data("v", "3"), "'"]  # fmt: skip
    rendered = render_shell(code)
    assert rendered.text.endswith("printf '%s' ''\"${TRIGFLOW_PARAM_v}\"''")
    assert "\n2\nB\n" in rendered.text  # pasted into the quoted one


@pytest.mark.parametrize("before", ["echo $((", "(( x = ", "echo $[", "echo $(( (1 + "])
def test_arithmetic_accepts_numbers_and_refuses_expressions(before: str) -> None:
    assert "${TRIGFLOW_PARAM_n}" in render_shell([before, Data("n", " 42 + 1"), "))"]).text
    for evil in ("a[$(touch /tmp/p)]", "x", "TRIGFLOW_PARAM_w", "1]"):
        with pytest.raises(UnsafePlacement, match=r"\$\{n\} is used in shell arithmetic"):
            render_shell([before, Data("n", evil), "))"])


def test_arithmetic_in_a_string_is_not_arithmetic() -> None:
    assert render_shell(["echo '$((", Data("n", "a[1]"), "))'"]).text == "echo '$(('\"${TRIGFLOW_PARAM_n}\"'))'"


def test_nul_is_refused_in_shell() -> None:
    with pytest.raises(UnsafePlacement, match="NUL"):
        render_shell(["echo ", Data("v", "a\0b")])


def test_code_without_data_is_returned_as_is() -> None:
    assert render_code("SHELL", ["echo ${HOME}"]) == RenderedCode("echo ${HOME}")
    assert render_code("PYTHON", ["print(1)", "\n"]) == RenderedCode("print(1)\n")
    with pytest.raises(UnsafePlacement, match="MERGE"):
        render_code("MERGE", [Data("v", "x")])


# ----------------------------------------------------------------------------------------------- python

# (before, after): the value is a string literal's content between them; the literal is the assigned value.
PY_STRING_CONTEXTS = [
    ('x = "', '"'), ("x = '", "'"), ('x = """', '"""'), ("x = '''", "'''"), ('x = """a"', '"b"""'),
    ("x = r'", "'"), ('x = r"\\', '"'), ("x = u'", "'"), ("x = 'a\\", "'"), ("x = f'", "'"), ("x = F'{1}", "{{'"),
    ('x = rf"', '"'), ('x = """\n', '\n"""'), ("x = '''a'", "'''"), ("x = 'pre' '", "' 'post'"),
]  # fmt: skip


def assigned(code: str) -> object:
    """The constant value assigned to x by `code`, folding f-strings made only of literal parts."""
    (stmt,) = ast.parse(code).body
    assert isinstance(stmt, ast.Assign)
    node = stmt.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.FormattedValue):
                assert isinstance(v.value, ast.Constant)
                parts.append(str(v.value.value))
            else:
                assert isinstance(v, ast.Constant)
                parts.append(v.value)
        return "".join(parts)
    return ast.literal_eval(node)


def py_values() -> st.SearchStrategy[str]:
    frags = ["'", '"', "'''", '"""', "\\", "\n", "\r", "{", "}", "{{", "#", "__import__('os').system('id')",
             "\\N{BULLET}", "\\x00", "\ud800", "\0", "é", "\t", "\x0c"]  # fmt: skip
    return st.lists(st.sampled_from(frags) | st.text(max_size=6), max_size=6).map("".join)


@pytest.mark.parametrize(("before", "after"), PY_STRING_CONTEXTS)
@settings(max_examples=80, deadline=None)
@given(value=py_values())
def test_python_string_literal_holds_the_value(before: str, after: str, value: str) -> None:
    rendered = render_python([before, Data("v", value), after]).text
    # What the literal holds around the value, seen through the same literal with a marker character.
    with_marker = assigned(render_python([before, Data("v", "\x01"), after]).text)
    assert isinstance(with_marker, str)
    head, tail = with_marker.split("\x01")
    assert assigned(rendered) == head + value + tail, rendered


@settings(max_examples=150, deadline=None)
@given(value=py_values())
def test_python_bytes_literal_holds_the_utf8_value(value: str) -> None:
    rendered = render_python(["x = b'<", Data("v", value), ">'"]).text
    assert assigned(rendered) == b"<" + value.encode("utf-8", "surrogatepass") + b">"


@settings(max_examples=200, deadline=None)
@given(value=py_values() | st.sampled_from(["42", "-1.5", "[1, 'a', {2: None}]", "(1, 2)", "True", "1e400",
                                             "set()", "__import__('os')", "1 if 1 else 2", "x", "1, 2"]))
def test_python_code_context_is_one_atom(value: str) -> None:
    rendered = render_python(["x = ", Data("v", value), "\n"]).text
    (stmt,) = ast.parse(rendered).body
    assert isinstance(stmt, ast.Assign)
    got = ast.literal_eval(stmt.value)  # a constant (or a container of constants): never a call or a name
    if got == value:
        return
    assert "#" not in value and "\n" not in value and "\\" not in value
    assert got == ast.literal_eval(value.strip(" \t"))  # a plain literal, pasted as itself


def test_python_code_context_examples() -> None:
    assert render_python(["n = ", Data("n", "42"), ""]).text == "n = (42)"
    assert render_python(["n = ", Data("n", "__import__('os').system('id')"), ""]).text == (
        "n = (\"__import__('os').system('id')\")"
    )
    assert render_python(["f(", Data("n", "1, 2"), ")"]).text == "f((1, 2))"  # one argument: a tuple


@settings(max_examples=150, deadline=None)
@given(value=py_values())
def test_python_comment_never_ends_early(value: str) -> None:
    rendered = render_python(["x = 1  # note: ", Data("v", value), "\ny = 2\n"]).text
    tree = ast.parse(rendered)
    assert [type(s) for s in tree.body] == [ast.Assign, ast.Assign]


def test_python_coding_cookie_cannot_be_injected() -> None:
    rendered = render_python(["# ", Data("v", "-*- coding: utf-7 -*-"), "\nprint(1)\n"]).text
    assert "coding:" not in rendered and "coding=" not in rendered


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (["import os\nos", Data("v", ".system('id')"), "\n"], "part of a Python name"),
        (["x = f'{", Data("v", "1"), "}'\n"], "f-string replacement field"),
        (["x = '", Data("v", "1"), "\n"], "cannot be tokenized|does not compile without it"),
        (["def f(:\n  x = ", Data("v", "1"), "\n"], "cannot be tokenized|does not compile without it"),
        (["if x:\n  y = ", Data("v", "1"), "\n z = 2\n"], "cannot be tokenized|does not compile without it"),
        (["x.", Data("v", "1"), "\n"], "no longer compiles"),
        (["def ", Data("v", "f"), "(): pass\n"], "no longer compiles"),
        (["x = 1", Data("v", "0"), "\n"], "cannot be tokenized|does not compile"),
    ],
)
def test_python_refusals(code: Sequence[Segment], message: str) -> None:
    with pytest.raises(UnsafePlacement, match=message):
        render_python(code)


def test_python_strings_are_placed_even_when_the_code_does_not_compile() -> None:
    # Python 2 style code: the data goes into a string literal, the interpreter reports its own SyntaxError.
    assert render_python(["print 'v=", Data("v", "1"), "'\n"]).text == "print 'v=' '1' ''\n"


def test_python_placeholder_never_collides_with_the_code() -> None:
    code: list[Segment] = ["__trigflow_value_0_ = 'keep'\nx = '", Data("v", "data"),
                           "'\nprint(__trigflow_value_0_, x)\n"]  # fmt: skip
    rendered = render_python(code).text
    out = subprocess.run([sys.executable, "-c", rendered], capture_output=True, text=True, timeout=10)
    assert out.stdout == "keep data\n"


def test_python_scripts_run_with_their_values(tmp_path: Path) -> None:
    m = tmp_path / "ran"
    value = f"\"); __import__('os').system('touch {m}'); print(\"'''\\\n"
    code: list[Segment] = [
        'print("s:", "', Data("v", value), '")\n',
        "print('r:', r'", Data("v", value), "')\n",
        "print('c:', ", Data("v", value), ")\n",
        "print(f'f: {1}", Data("v", value), "')\n",
        "# ", Data("v", value), "\n",
        'print("""t:', Data("v", value), '""")\n',
    ]
    rendered = render_python(code).text
    out = subprocess.run([sys.executable, "-c", rendered], capture_output=True, text=True, timeout=10).stdout
    assert not m.exists()
    assert out == f"s: {value}\nr: {value}\nc: {value}\nf: 1{value}\nt:{value}\n"


@pytest.mark.parametrize(
    "before",
    ["", "\n", "echo a; ", "echo a && ", "a | ", "eval ", '"', "X=1 ", "if ", "then ", "$(", "`", "nohup ", "{ ",
     "./", "x=1; '", "f() { "],
)  # fmt: skip
def test_shell_data_never_chooses_the_command(before: str) -> None:
    with pytest.raises(UnsafePlacement, match=r"\$\{v\} would be the command that runs"):
        render_shell([before, Data("v", "touch /tmp/p"), " arg\n"])


@pytest.mark.parametrize(
    "before",
    ["echo ", "x=", 'echo "a" ', "ls > ", "cmd 2>&1 ", "for f in ", "case ", "echo $(echo ", "[[ ", 'X=1 Y="',
     'if [ "', "cat <<E\n", "a | grep ", "# "],
)  # fmt: skip
def test_shell_data_as_an_argument_is_referenced(before: str) -> None:
    assert "${TRIGFLOW_PARAM_v}" in render_shell([before, Data("v", "touch /tmp/p"), "\n"]).text
