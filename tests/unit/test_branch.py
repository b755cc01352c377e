"""Branch conditions: the wire JSON, the sandboxed expression language, value typing, targets and `decide`."""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.branch import (
    MAX_BRANCHES,
    BranchCondition,
    BranchEvaluationError,
    check_targets,
    decide,
    parse_branch_conditions,
    resolve_values,
    targets,
)
from trigflow.domain.branch_expr import (
    MAX_CONDITION_CHARS,
    ConditionEvaluationError,
    ConditionSyntaxError,
    _reserved_mark,
    compile_condition,
)
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.params import Substitution

PATH = "TriggerTaskConfiguration.TaskExtConfigurationList.branchConditions"


def holds(condition: str, **values: str) -> bool:
    return compile_condition(condition).evaluate(values)


def refusal(condition: str) -> str:
    with pytest.raises(ConditionSyntaxError) as e:
        compile_condition(condition)
    return str(e.value)


def eval_error(condition: str, **values: str) -> str:
    expr = compile_condition(condition)
    with pytest.raises(ConditionEvaluationError) as e:
        expr.evaluate(values)
    return str(e.value)


def wire(*entries: dict[str, Any]) -> str:
    return json.dumps(list(entries))


def parse(*entries: dict[str, Any]) -> list[BranchCondition]:
    return parse_branch_conditions(wire(*entries), PATH)


def parse_refusal(text: str) -> str:
    with pytest.raises(InvalidParameterValue) as e:
        parse_branch_conditions(text, PATH)
    assert e.value.code == "InvalidParameterValue"
    return e.value.message


# --- the language: what holds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("${flag} == 'a'", {"flag": "a"}, True),
        ("${flag} == 'a'", {"flag": "b"}, False),
        ("${flag} != 'a'", {"flag": "b"}, True),
        ("'${flag}' == 'a'", {"flag": "a"}, True),
        ('"${flag}" == "a"', {"flag": "a"}, True),
        ("${flag} == 1", {"flag": "1"}, True),  # bare reference reads as a number next to a number
        ("${flag} == 1", {"flag": " 1 "}, True),  # blanks around it (an echoed value) do not matter
        ("${flag} == 1.0", {"flag": "1"}, True),
        ("${flag} == 1", {"flag": "1.0"}, True),
        ("${flag} == 1", {"flag": "one"}, False),  # text never equals a number
        ("'${flag}' == 1", {"flag": "1"}, False),  # a quoted reference is text
        ("${code} == '007'", {"code": "007"}, True),  # next to text it stays text: leading zeros survive
        ("${code} == '7'", {"code": "007"}, False),
        ("${a} > ${b}", {"a": "9", "b": "10"}, False),  # two bare numbers compare as numbers
        ("${a} > ${b}", {"a": "b", "b": "a"}, True),  # two bare texts compare as text
        ("'${a}' > '${b}'", {"a": "9", "b": "10"}, True),  # quoted: text order, as written
        ("${a} == ${b}", {"a": "1", "b": "1.0"}, True),
        ("${d} >= '20261201'", {"d": "20261203"}, True),
        ("${n} > -3", {"n": "-2"}, True),
        ("-${n} < 0", {"n": "5"}, True),
        ("+${n} == 5", {"n": "5"}, True),
        ("${n} > 1e3", {"n": "1001"}, True),
        ("1 <= ${n} < 10", {"n": "5"}, True),
        ("1 <= ${n} < 10", {"n": "10"}, False),
        ("${env} in ('dev', 'test')", {"env": "test"}, True),
        ("${env} in ['dev', 'test']", {"env": "prod"}, False),
        ("${env} not in {'dev', 'test'}", {"env": "prod"}, True),
        ("${n} in (1, 2, 3)", {"n": "2"}, True),  # membership uses the same equality as ==
        ("${n} in (${a}, ${b})", {"n": "2", "a": "1", "b": "2.0"}, True),
        ("'err' in ${log}", {"log": "an error occurred"}, True),
        ("'ERR' not in ${log}", {"log": "an error occurred"}, True),
        ("${s}.startswith('ab')", {"s": "abc"}, True),
        ("${s}.endswith('bc')", {"s": "abc"}, True),
        ("${s}.isdigit()", {"s": "123"}, True),
        ("${s}.startswith('1')", {"s": "123"}, True),  # methods see the text even when it reads as a number
        ("${s}.lower() == 'abc'", {"s": "ABC"}, True),
        ("${s}.upper() == 'ABC'", {"s": "abc"}, True),
        ("${s}.strip() == 'x'", {"s": "  x\n"}, True),
        ("len(${s}) == 3", {"s": "abc"}, True),
        ("int(${s}) > 3", {"s": " 4 "}, True),
        ("int('${s}') == 4", {"s": "4"}, True),
        ("float(${s}) < 1", {"s": "0.5"}, True),
        ("str(${n}) == '5'", {"n": "5"}, True),
        ("int(3.9) == 3", {}, True),
        ("${a} == 'x' and ${b} == 'y'", {"a": "x", "b": "z"}, False),
        ("${a} == 'x' or ${b} == 'y'", {"a": "q", "b": "y"}, True),
        ("not ${a} == 'x'", {"a": "y"}, True),
        ("not (${a} == 'x' or ${a} == 'y')", {"a": "z"}, True),
        ("True", {}, True),
        ("False", {}, False),
        ("'${a}${b}' == 'xy'", {"a": "x", "b": "y"}, True),
        ("'${a}_${b}' == 'x_y'", {"a": "x", "b": "y"}, True),
        ("'$${a}' == '$' '{a}'", {}, True),  # `$${x}` is the literal `${x}`
        ("${a} == None", {"a": "None"}, False),  # text is never None
        ("${a} == True", {"a": "True"}, False),  # nor a boolean: compare with 'True'
        ("${a} == 'True'", {"a": "True"}, True),
        ("${a} == 1  # and ${b} == 2", {"a": "1"}, True),  # a reference in a comment is not used
        ("(${a} ==\n 1)", {"a": "1"}, True),
        ("${task.out} == 'ok'", {"task.out": "ok"}, True),  # any name the substitution knows
        ("${yyyyMMdd-1d} == '20261202'", {"yyyyMMdd-1d": "20261202"}, True),
        ("'中文${a}' == '中文x'", {"a": "x"}, True),
    ],
)
def test_conditions(condition: str, values: dict[str, str], expected: bool) -> None:
    assert holds(condition, **values) is expected


def test_names_are_the_used_references_in_order() -> None:
    assert compile_condition("${b} == 1 or '${a}' == ${b} # ${c}").names == ("b", "a")


# --- the language: what is refused at save ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "why"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("${flag}", "must be a test"),  # a value "false" would otherwise be truthy
        ("'x'", "must be a test"),
        ("1", "must be a test"),
        ("not ${flag}", "negates with `not` an operand that is not a test"),
        ("${a} == 1 and ${b}", "combines with `and` an operand that is not a test"),
        ("${a} or ${a} == 1", "combines with `or` an operand that is not a test"),
        ("flag == 'a'", "uses the bare name flag: refer to a parameter as ${flag}"),
        ("__import__('os').system('x') == 0", "calls the method .system()"),
        ("__import__('os') == 0", "calls __import__()"),
        ("eval('1') == 1", "calls eval()"),
        ("open('/etc/passwd').read() == ''", "calls the method .read()"),
        ("${x}.__class__ == 1", "uses attribute access"),
        ("().__class__.__bases__ == 1", "uses attribute access"),
        ("${x}.format() == 1", "calls the method .format()"),
        ("${x}[0] == 'a'", "uses a subscript"),
        ("${x}[1:] == 'a'", "uses a subscript"),
        ("10**10**10 > 1", "uses arithmetic (**)"),
        ("'a' * 10**9 == 'x'", "uses arithmetic (*)"),
        ("${a} + 1 > 2", "uses arithmetic (+)"),
        ("~${a} == 1", "uses the operator ~"),
        ("(lambda: 1)() == 1", "calls an expression"),
        ("(lambda: 1) == 1", "uses a lambda"),
        ("[x for x in 'ab'] == 1", "uses a comprehension"),
        ("1 if True else 2 == 1", "uses a conditional expression"),
        ("(y := 1) == 1", "uses an assignment (:=)"),
        ("f'{1}' == '1'", "uses an f-string"),
        ("b'x' == 'x'", "uses a bytes literal"),
        ("1j == 1", "uses a complex number"),
        ("{'a': 1} == 1", "uses a dict"),
        ("(1, 2) == (1, 2)", "uses a tuple other than as the right operand of in"),
        ("${a} in (1, 2) == True", "uses a list or tuple other than as the right operand of in"),
        ("${a} in ((1,), 2)", "uses a tuple other than as the right operand of in"),  # no nesting
        ("${a} is None", "uses `is` / `is not`"),
        ("${a} is not None", "uses `is` / `is not`"),
        ("int(${a}, 16) == 1", "calls int() with 2 arguments"),
        ("int(x=${a}) == 1", "passes keyword or * arguments"),
        ("int(*${a}) == 1", "passes keyword or * arguments"),
        ("${a}.startswith() == 1", "calls .startswith() with 0 arguments"),
        ("int == 1", "names the function int without calling it"),
        ("${a}${b} == 1", "joins a ${...} reference to other characters"),
        ("${a}x == 1", "joins a ${...} reference to other characters"),
        ("${} == 1", "holds ${}, which names no parameter"),
        ("${a} ==", "is not a Python expression"),
        ("${a} = 1", "is not a Python expression"),
        ("import os", "is not a Python expression"),
        ("1 == 1; 2 == 2", "is not a Python expression"),
        ("$${a} == 1", "is not a Python expression"),  # the literal text `${a}` outside quotes
        ("'\x00' == 1", "is not a Python expression"),
        ("(" * 300 + "1" + ")" * 300, "is not a Python expression"),  # the parser's own nesting limit
        ("-" * 1000 + "1 == 1", "is too complex"),
        ("not " * 40 + "True", "nests deeper than 32 levels"),
        (" or ".join(["${a} == 1"] * 100), "is too complex"),
        ("'x' == '" + "x" * MAX_CONDITION_CHARS + "'", "characters long; at most 2000 are allowed"),
        # \N{...} can write the reserved character; it is refused, never read as a reference
        ("'\\N{CJK UNIFIED IDEOGRAPH-4E00}0\\N{CJK UNIFIED IDEOGRAPH-4E00}' == ${a}", "a string escape produces"),
    ],
)
def test_refused_constructs(condition: str, why: str) -> None:
    assert why in refusal(condition)


def test_the_reserved_character_is_not_one_the_condition_uses() -> None:
    # The text itself holds the first candidate character: it stays text, the reference stays a reference.
    assert holds("'一0一' == '${a}'", a="一0一")
    # Names are NFKC-normalised: U+F900 (a compatibility ideograph) is read as U+8C48, which is never the mark.
    crowded = "".join(chr(c) for c in range(0x4E00, 0x8C48)) + "\uf900"
    assert _reserved_mark(crowded) == "\u8c49"
    assert "uses the bare name \u8c480\u8c48" in refusal("\uf9000\uf900 == 1 or ${a} == 1")


def test_syntax_errors_show_references_as_written() -> None:
    message = refusal("${flag} ${other} == 1")
    assert "丁" not in message and "一" not in message


# --- values are data ------------------------------------------------------------------------------------

INJECTIONS = [
    "' or 1 == 1 or '",
    '" or 1 == 1 or "',
    "a' or 'a' == 'a",
    "1 or 1 == 1",
    "__import__('os').system('touch /tmp/pwned')",
    "${other}",
    "') or True or ('",
    "\\",
    "'''",
    "\n1 == 1",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_value_never_changes_the_expression(value: str) -> None:
    assert holds("${flag} == 'a'", flag=value) is False
    assert holds("'${flag}' == 'a'", flag=value) is False
    assert holds("${flag} == ${flag}", flag=value) is True
    assert holds("'${flag}' == '${flag}'", flag=value) is True
    assert holds("'${flag}' in ('a', 'b') or ${flag} not in ('a', 'b')", flag=value)


@settings(max_examples=300)
@given(value=st.text(max_size=60), literal=st.text(max_size=20).filter(lambda s: "${" not in s))
def test_any_value_compares_as_its_text(value: str, literal: str) -> None:
    quoted = repr(literal)  # a valid Python string literal for any text
    assert holds(f"'${{v}}' == {quoted}", v=value) is (value == literal)
    assert holds(f"${{v}} == {quoted}", v=value) is (value == literal)
    assert holds(f"{quoted} in '${{v}}'", v=value) is (literal in value)
    assert holds("'<${v}>' == '<' '" + "${v}" + "' '>'", v=value)


@settings(max_examples=300)
@given(text=st.text(max_size=80))
def test_any_text_is_refused_cleanly_or_compiles(text: str) -> None:
    try:
        expr = compile_condition(text)
    except ConditionSyntaxError:
        return
    with contextlib.suppress(ConditionEvaluationError):
        assert isinstance(expr.evaluate(dict.fromkeys(expr.names, "1")), bool)


_TOKENS = ["${a}", "${b}", "'x'", "'${a}'", "$${a}", "1", "-", "2.5", "True", "None", "(", ")", "[", "]", "{", "}",
           ",", ".", "__class__", "startswith", "strip", "lower", "int", "len", "str", "eval", "==", "!=", "<", ">=",
           "in", "not", "and", "or", "is", "+", "*", "**", "~", "lambda", ":", ":=", "if", "else", "for", "f'{1}'",
           "b'x'", "1j", "#", "\n", "\\", "'", "x"]  # fmt: skip


@settings(max_examples=500)
@given(tokens=st.lists(st.sampled_from(_TOKENS), max_size=14), a=st.sampled_from(["", "1", " 2 ", "x", "1e5"]))
def test_token_soup_is_refused_or_evaluates_without_any_other_exception(tokens: list[str], a: str) -> None:
    try:
        expr = compile_condition(" ".join(tokens))
    except ConditionSyntaxError as e:
        assert str(e)
        return
    try:
        assert isinstance(expr.evaluate({"a": a, "b": "abc"}), bool)
    except ConditionEvaluationError as e:
        assert str(e)


_ATOMS = st.sampled_from(["${a}", "${b}", "'${a}'", "'x'", "1", "-2.5", "None", "True", "int(${a})", "len(${b})"])
_OPS = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])


@st.composite
def _conditions(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 3 if depth < 3 else 0))
    if kind == 0:
        return f"{draw(_ATOMS)} {draw(_OPS)} {draw(_ATOMS)}"
    if kind == 1:
        return f"not ({draw(_conditions(depth + 1))})"
    if kind == 2:
        return f"({draw(_ATOMS)}).startswith({draw(_ATOMS)})"
    word = draw(st.sampled_from(["and", "or"]))
    return f"({draw(_conditions(depth + 1))}) {word} ({draw(_conditions(depth + 1))})"


@settings(max_examples=300)
@given(condition=_conditions(), a=st.text(max_size=12), b=st.sampled_from(["", "0", "12", "-3.5", "abc", " 7 "]))
def test_evaluation_is_total_a_bool_or_a_named_error(condition: str, a: str, b: str) -> None:
    expr = compile_condition(condition)
    try:
        assert isinstance(expr.evaluate({"a": a, "b": b}), bool)
    except ConditionEvaluationError as e:
        assert str(e)  # always says why


_QUOTED = ["'${a}'", "'${b}'", "'x'", "''", "1", "-2.5", "0", "None", "len('${a}')", "int(1.5)", "str(3)",
           "'${a}'.lower()", "'${b}'.strip()", "float('2')"]  # fmt: skip


@st.composite
def _python_tests(draw: st.DrawFn, depth: int = 0) -> str:
    atom = st.sampled_from(_QUOTED)
    kind = draw(st.integers(0, 5 if depth < 3 else 2))
    if kind == 0:
        ops = draw(st.lists(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), min_size=1, max_size=3))
        return draw(atom) + "".join(f" {op} {draw(atom)}" for op in ops)
    if kind == 1:
        items = "".join(f"{x}, " for x in draw(st.lists(atom, max_size=3)))
        return f"{draw(atom)} {draw(st.sampled_from(['in', 'not in']))} ({items})"
    if kind == 2:
        return f"{draw(atom)} {draw(st.sampled_from(['in', 'not in']))} {draw(atom)}"
    if kind == 3:
        return f"not ({draw(_python_tests(depth + 1))})"
    if kind == 4:
        return f"({draw(atom)}).{draw(st.sampled_from(['startswith', 'endswith']))}({draw(atom)})"
    word = draw(st.sampled_from(["and", "or"]))
    return f"({draw(_python_tests(depth + 1))}) {word} ({draw(_python_tests(depth + 1))})"


@settings(max_examples=500)
@given(condition=_python_tests(), a=st.text(max_size=4), b=st.sampled_from(["", " 1 ", "x", "2"]))
def test_quoted_conditions_mean_what_python_says(condition: str, a: str, b: str) -> None:
    """With quoted references only (always text) and no booleans among the operands, a condition means exactly
    what Python's expression over the values means, errors included (text ordered against a number, a number
    looked for in text, a method on a number)."""
    pasted = condition.replace("'${a}'", repr(a)).replace("'${b}'", repr(b))  # the test's own text, not user text
    try:
        python: object = eval(pasted, {"__builtins__": {"len": len, "int": int, "str": str, "float": float}})
    except (TypeError, ValueError, AttributeError):
        python = TypeError
    try:
        ours: object = compile_condition(condition).evaluate({"a": a, "b": b})
    except ConditionEvaluationError:
        ours = TypeError
    assert ours == python, pasted


def test_conditions_are_parsed_never_compiled_to_code(monkeypatch: pytest.MonkeyPatch) -> None:
    real_compile = builtins.compile

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec called")

    def only_ast(source: Any, filename: Any, mode: str, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        assert flags & ast.PyCF_ONLY_AST, "compiled to a code object"  # ast.parse is compile(..., ONLY_AST)
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", only_ast)
    assert holds("${a} == 1 and int('${a}') < 2 and ${a}.startswith('1')", a="1")


# --- evaluation errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "values", "why"),
    [
        ("${a} > 3", {"a": "abc"}, "cannot order text and a number with >"),
        ("${a} < None", {"a": "1"}, "cannot order text and None with <"),
        ("'${a}' > 3", {"a": "5"}, "cannot order text and a number with >"),  # quoted is text
        ("True > 1", {}, "cannot order True/False and a number"),
        ("int(${a}) == 1", {"a": "x"}, "int() cannot convert this text to a number"),
        ("int(${a}) == 1", {"a": "9" * 5000}, "int() cannot convert"),
        ("float(${a}) == 1", {"a": "1,5"}, "float() cannot convert"),
        ("int(None) == 1", {}, "int() converts text or a number, got None"),
        ("len(1) == 1", {}, "len() works on text, got a number"),
        ("-${a} < 0", {"a": "x"}, "unary - needs a number, got text"),
        ("-'1' < 0", {}, "unary - needs a number, got text"),  # only bare references read as numbers
        ("1 in ${a}", {"a": "123"}, "`in` looks for text in text or for a value in a list"),
        ("int(${a}).startswith('1')", {"a": "1"}, ".startswith() works on text, got a number"),
        ("${a}.startswith(1)", {"a": "1"}, ".startswith() takes text, got a number"),
        ("${a} == 1", {}, "no value for ${a}"),
    ],
)
def test_evaluation_errors(condition: str, values: dict[str, str], why: str) -> None:
    assert why in eval_error(condition, **values)


def test_evaluation_errors_never_echo_values() -> None:
    assert "s3cr3t" not in eval_error("${a} > 3", a="s3cr3t")
    assert "s3cr3t" not in eval_error("int(${a}) > 3", a="s3cr3t")


def test_templates_are_bounded() -> None:
    big = "x" * (1 << 20)
    assert holds("'${a}${a}' != ''", a=big)  # two of the engine's largest values fit
    assert "builds text of" in eval_error("'${a}${a}${a}' != ''", a=big)


def test_huge_numbers_in_values_stay_text() -> None:
    assert holds("${a} != 1", a="9" * 1000)  # never parsed as a 1000-digit number
    assert holds("${a} == ${a}", a="9" * 1000)
    assert holds("${a} == 1", a=" " * 399 + "1") and holds("${a} != 1", a=" " * 400 + "1")  # blanks count


# --- the wire list ----------------------------------------------------------------------------------------


def test_parse_keeps_every_field() -> None:
    conditions = parse(
        {"condition": "${flag} == 'a'", "taskId": "t_a", "description": "path A", "extra": 1},
        {"condition": "${flag} == 'b'", "taskId": "t_b"},
        {"taskId": "t_else", "default": True, "description": "otherwise"},
    )
    assert [(c.index, c.task_id, c.condition, c.description, c.default) for c in conditions] == [
        (0, "t_a", "${flag} == 'a'", "path A", False),
        (1, "t_b", "${flag} == 'b'", "", False),
        (2, "t_else", "", "otherwise", True),
    ]
    assert conditions[0].names == ("flag",)
    assert conditions[2].names == () and conditions[2].expression is None
    assert targets(conditions) == {"t_a", "t_b", "t_else"}


def test_default_may_carry_an_empty_or_null_condition() -> None:
    assert parse({"taskId": "t", "default": True, "condition": ""})[0].default
    assert parse({"taskId": "t", "default": True, "condition": None})[0].default
    assert not parse({"taskId": "t", "default": False, "condition": "True"})[0].default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", f"{PATH} must be a JSON array of branch conditions"),
        ("{}", f"{PATH} must be a non-empty JSON array of branch conditions"),
        ("[]", f"{PATH} must be a non-empty JSON array of branch conditions"),
        (
            wire(*[{"condition": "True", "taskId": f"t{i}"} for i in range(MAX_BRANCHES + 1)]),
            f"{PATH} holds 51 conditions; at most 50 are allowed",
        ),
        ("[1]", f"{PATH}[0] must be a JSON object with condition and taskId"),
        (wire({"condition": "True"}), f"{PATH}[0].taskId must be a task id"),
        (wire({"condition": "True", "taskId": ""}), f"{PATH}[0].taskId must be a task id"),
        (wire({"condition": "True", "taskId": 12}), f"{PATH}[0].taskId must be a task id"),
        (
            wire({"condition": "True", "taskId": "t"}, {"condition": "False", "taskId": "t"}),
            f"{PATH}[1].taskId: task t already has a condition ({PATH}[0]); combine the two with `or`",
        ),
        (wire({"condition": "True", "taskId": "t", "description": 3}), f"{PATH}[0].description must be text"),
        (wire({"taskId": "t", "default": "yes"}), f"{PATH}[0].default must be true or false"),
        (
            wire({"taskId": "t", "default": True, "condition": "True"}),
            f"{PATH}[0].condition must be empty on the default branch (default: true)",
        ),
        (
            wire({"taskId": "t", "default": True}, {"taskId": "u", "default": True}),
            f"{PATH}[1].default: {PATH}[0] is already the default branch",
        ),
        (wire({"taskId": "t"}), f"{PATH}[0].condition must be text: a test such as ${{flag}} == 'a'"),
        (wire({"taskId": "t", "condition": 1}), f"{PATH}[0].condition must be text"),
        (
            wire({"taskId": "t", "condition": "True"}, {"taskId": "u", "condition": "flag == 1"}),
            f"{PATH}[1].condition uses the bare name flag: refer to a parameter as ${{flag}}, to text as 'flag'",
        ),
        (wire({"taskId": "t", "condition": "${a} ** 2 > 1"}), f"{PATH}[0].condition uses arithmetic (**)"),
    ],
)
def test_parse_refusals(text: str, message: str) -> None:
    assert parse_refusal(text).startswith(message)


def test_fifty_conditions_are_fine() -> None:
    assert len(parse(*[{"condition": f"${{n}} == {i}", "taskId": f"t{i}"} for i in range(MAX_BRANCHES)])) == 50


# --- targets ----------------------------------------------------------------------------------------------


def test_check_targets_accepts_direct_downstreams() -> None:
    check_targets(parse({"condition": "True", "taskId": "a"}), {"a", "b"}, PATH)


def test_check_targets_names_the_entry_and_the_downstreams() -> None:
    conditions = parse({"condition": "True", "taskId": "a"}, {"condition": "True", "taskId": "z"})
    with pytest.raises(InvalidParameterValue) as e:
        check_targets(conditions, {"b", "a"}, PATH)
    assert e.value.message == (
        f"{PATH}[1].taskId: task z is not a direct downstream of this branch node (its direct downstream tasks: a, b)"
    )
    with pytest.raises(InvalidParameterValue, match=r"\(its direct downstream tasks: none\)"):
        check_targets(conditions, set(), PATH)


# --- decide -----------------------------------------------------------------------------------------------

ABC = [
    {"condition": "${flag} == 'a'", "taskId": "A"},
    {"condition": "${flag} in ('a', 'b')", "taskId": "B"},
    {"condition": "${n} > 10", "taskId": "C"},
]


@pytest.mark.parametrize(
    ("values", "chosen"),
    [
        ({"flag": "a", "n": "1"}, {"A", "B"}),  # several conditions may hold: each target runs
        ({"flag": "b", "n": "11"}, {"B", "C"}),
        ({"flag": "z", "n": "1"}, set()),  # none holds: every target is skipped
    ],
)
def test_decide(values: dict[str, str], chosen: set[str]) -> None:
    assert decide(parse(*ABC), values) == chosen


def test_decide_with_a_default() -> None:
    conditions = parse(*ABC, {"taskId": "D", "default": True})
    assert decide(conditions, {"flag": "z", "n": "1"}) == {"D"}
    assert decide(conditions, {"flag": "a", "n": "1"}) == {"A", "B"}  # the default only runs alone


def test_decide_error_names_the_condition() -> None:
    with pytest.raises(BranchEvaluationError) as e:
        decide(parse(*ABC), {"flag": "a", "n": "many"})
    assert str(e.value) == (
        "branchConditions[2].condition '${n} > 10': cannot order text and a number with >; "
        "convert with int() or float(), or quote both sides"
    )
    with pytest.raises(BranchEvaluationError, match=r"branchConditions\[0\].*no value for \$\{flag\}"):
        decide(parse(*ABC), {})


def test_decide_evaluates_every_condition() -> None:
    # The first holds, the second cannot be evaluated: the node fails rather than hiding the broken one.
    conditions = parse({"condition": "True", "taskId": "A"}, {"condition": "${x} > 1", "taskId": "B"})
    with pytest.raises(BranchEvaluationError, match=r"branchConditions\[1\]"):
        decide(conditions, {"x": "x"})


# --- values from a substitution ---------------------------------------------------------------------------

BASELINE = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_resolve_values_through_a_substitution() -> None:
    conditions = parse(
        {"condition": "${flag} == 'a' and ${day} == ${yyyyMMdd-1d}", "taskId": "A"},
        {"condition": "${out} == '${x}' or ${missing} == 1", "taskId": "B"},
    )
    sub = Substitution(
        {"flag": "a", "day": "${yyyyMMdd-1d}", "out": "${x}", "x": "1"}, BASELINE, data={"out"}
    )  # `out` is an upstream output: data, never expanded
    values = resolve_values(conditions, sub)
    assert values == {"flag": "a", "day": "20261202", "yyyyMMdd-1d": "20261202", "out": "${x}", "x": "1"}
    assert decide(conditions[:1], values) == {"A"}
    with pytest.raises(BranchEvaluationError, match=r"no value for \$\{missing\}"):
        decide(conditions, values)
