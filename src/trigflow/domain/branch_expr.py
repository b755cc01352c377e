"""Branch conditions as a small sandboxed language: Python syntax, parsed and walked, never `eval`ed.

A branch node's condition (`${flag} == 'a'`, docs/branch.md) is user text that runs inside the server, so it
is *compiled* here into a tree of a few node kinds and *interpreted* by `Expression.evaluate`; neither the
text nor any value ever reaches `eval`, `exec` or `compile`, and no Python object is reachable from it
(no attribute access, no subscripts, no names except parameter references).

**Parameter references are data.** Every `${name}` is replaced, *before* parsing, by a unique reserved
identifier (a CJK ideograph that the text does not contain, around the reference's number), so the parser
sees a variable, never the value. A reference outside quotes becomes a variable bound to the value; one
inside a string literal (`'${flag}'`) becomes a template whose pieces are joined at run time. Either way a
value such as `' or 1 == 1 or '` is only characters: it can never change the expression (WeData pastes the
text; we do not). `$${x}` is the literal text `${x}` (as in domain/params.py), only useful inside quotes.

**What is allowed** (anything else is refused at save, with the reason):

* literals: text (`'a'`, `"a"`), integers, floats, `True`, `False`, `None`;
* `${name}` references (bare or inside a string literal);
* comparisons `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, chained (`1 <= ${n} < 10`); `is` is refused
  (identity is meaningless for values: use `==`);
* `and`, `or`, `not` over *tests*, parentheses; unary `-` and `+` on numbers;
* a list, tuple or set display of literals/references, only as the right operand of `in` / `not in`
  (`${env} in ('dev', 'test')`);
* the functions `int(x)`, `float(x)`, `str(x)`, `len(x)` (one positional argument) for explicit conversions;
* the text methods `x.startswith(s)`, `x.endswith(s)`, `x.isdigit()` (tests) and `x.lower()`, `x.upper()`,
  `x.strip()` (text), with positional arguments only.

No arithmetic, no `**`, no `*`, no subscripts, no f-strings, no bytes, no lambdas, no comprehensions: nothing
can build a large value, so `10**10**10` or `'a' * 10**9` cannot even be written. The text is at most
`MAX_CONDITION_CHARS` characters, `MAX_SYNTAX_NODES` syntax nodes and `MAX_NESTING` levels deep; text built at
run time (templates) is at most `MAX_TEXT_CHARS`. Evaluation is therefore linear in the sizes of the values.

**A condition is a test.** The whole condition, each operand of `and`/`or` and the operand of `not` must be a
comparison, a test method, a `not`/`and`/`or` of tests or `True`/`False`: `${flag}` alone is refused, so a
value "false" can never be silently truthy.

**Values and types** (WeData parameters are text): a quoted reference `'${x}'` is always text. A bare
reference `${x}` is text that *reads as a number* (optional sign, digits, optional fraction and exponent,
surrounding blanks ignored, at most 400 characters in all) when compared with a number or with another bare
reference that reads as one: that is what WeData's textual substitution would have produced (`${n} == 1` with
n = "1" holds, `${a} > ${b}` compares 9 and 10 numerically). Otherwise values compare as text. Ordering text
against a number, or anything against `None`/`True`/`False`, is an evaluation error, never a guess; `int()` /
`float()` convert explicitly.
Methods on a bare reference see its text; their results are plain text.

Pure: no I/O.
"""

from __future__ import annotations

import ast
import operator
import re
import unicodedata
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

__all__ = [
    "FUNCTIONS",
    "MAX_CONDITION_CHARS",
    "MAX_NESTING",
    "MAX_SYNTAX_NODES",
    "MAX_TEXT_CHARS",
    "METHODS",
    "ConditionEvaluationError",
    "ConditionSyntaxError",
    "Expression",
    "compile_condition",
]

MAX_CONDITION_CHARS = 2000  # a condition as written; real ones are one comparison or a few
MAX_SYNTAX_NODES = 256
MAX_NESTING = 32
MAX_TEXT_CHARS = 1 << 21  # text a template may build at run time: two of the engine's largest values
_MAX_NUMBER_CHARS = 400  # a longer value (blanks included) is never read as a number: no 4300-digit parsing

FUNCTIONS = ("int", "float", "str", "len")
METHODS: dict[str, int] = {"startswith": 1, "endswith": 1, "isdigit": 0, "lower": 0, "upper": 0, "strip": 0}
_TEST_METHODS = frozenset({"startswith", "endswith", "isdigit"})

_TOKEN_RE = re.compile(r"(\$?)\$\{([^{}]*)\}")  # the reference syntax of domain/params.py
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_COMPARE_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip
_TEST_HELP = (
    "a comparison (==, !=, <, <=, >, >=, in, not in), a test method (startswith, endswith, isdigit), "
    "not/and/or of tests, or True/False"
)


class ConditionSyntaxError(ValueError):
    """A condition that cannot be saved; the message says why (the caller adds the field path)."""


class ConditionEvaluationError(ValueError):
    """A condition that cannot be evaluated with the values it got (the branch node fails)."""


# --- the compiled tree ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Const:
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class _Ref:
    slot: int  # a bare `${name}`: Expression.slots[slot] is the name


@dataclass(frozen=True, slots=True)
class _Template:
    parts: tuple[str | int, ...]  # a string literal holding references: text pieces and slots


@dataclass(frozen=True, slots=True)
class _Items:
    items: tuple[_Expr, ...]  # a display, only ever the right operand of `in` / `not in`


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Expr


@dataclass(frozen=True, slots=True)
class _BoolOp:
    is_and: bool
    operands: tuple[_Expr, ...]


@dataclass(frozen=True, slots=True)
class _Compare:
    left: _Expr
    ops: tuple[str, ...]
    rights: tuple[_Expr, ...]


@dataclass(frozen=True, slots=True)
class _Sign:
    negative: bool
    operand: _Expr


@dataclass(frozen=True, slots=True)
class _Call:
    func: str
    arg: _Expr


@dataclass(frozen=True, slots=True)
class _Method:
    name: str
    receiver: _Expr
    args: tuple[_Expr, ...]


_Expr = _Const | _Ref | _Template | _Items | _Not | _BoolOp | _Compare | _Sign | _Call | _Method
_Scalar = str | int | float | bool | None
_Value = _Scalar | tuple[_Scalar, ...]


class _Text(str):
    """The value of a bare `${name}`: text that compares as a number with numbers (module docstring)."""

    __slots__ = ()


@dataclass(frozen=True)
class Expression:
    """A compiled condition: evaluate it with `values`, name -> text, for every name in `names`."""

    text: str  # as written
    slots: tuple[str | None, ...]  # the name of each `${...}` occurrence in order; None where unused (a comment)
    root: _Expr

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter names the condition uses, each once, in order of first appearance."""
        return tuple(dict.fromkeys(name for name in self.slots if name is not None))

    def evaluate(self, values: Mapping[str, str]) -> bool:
        """True or False; raises ConditionEvaluationError when a value is missing or does not fit."""
        env: list[str] = []
        for name in self.slots:
            if name is None:
                env.append("")
                continue
            value = values.get(name)
            if value is None:
                raise ConditionEvaluationError(f"no value for ${{{name}}} (no such parameter or upstream output)")
            env.append(value)
        result = _eval(self.root, env)
        assert isinstance(result, bool)  # compile_condition only accepts tests
        return result


# --- compiling --------------------------------------------------------------------------------------------


def compile_condition(text: str) -> Expression:
    """Check and compile one condition; raises ConditionSyntaxError saying what is wrong."""
    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionSyntaxError(f"is {len(text)} characters long; at most {MAX_CONDITION_CHARS} are allowed")
    if not text.strip():
        raise ConditionSyntaxError(f"is empty; write a test such as ${{flag}} == 'a' ({_TEST_HELP})")
    mark = _reserved_mark(text)
    source, slots = _mark_references(text, mark)
    placeholder = re.compile(f"{mark}([0-9]+){mark}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences warn; they are still valid Python
            tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        why = placeholder.sub(lambda m: "${" + slots[int(m[1])] + "}", str(e.msg))
        raise ConditionSyntaxError(f"is not a Python expression ({why})") from None
    except (ValueError, RecursionError, MemoryError):  # null bytes; pathological nesting
        raise ConditionSyntaxError("is not a Python expression") from None
    size = sum(isinstance(node, ast.expr) for node in ast.walk(tree))  # iterative: safe however deep
    if size > MAX_SYNTAX_NODES:
        raise ConditionSyntaxError(f"is too complex: {size} operands and operations, at most {MAX_SYNTAX_NODES}")
    builder = _Builder(placeholder, mark, slots)
    root = builder.build(tree.body, 0)
    if not _is_test(root):
        raise ConditionSyntaxError(f"must be a test: {_TEST_HELP}; e.g. ${{flag}} == 'a'")
    used = tuple(name if i in builder.used else None for i, name in enumerate(slots))
    return Expression(text, used, root)


def _reserved_mark(text: str) -> str:
    """An identifier character that neither the text nor its NFKC form (identifiers are normalised) holds."""
    seen = set(text) | set(unicodedata.normalize("NFKC", text))
    return next(chr(c) for c in range(0x4E00, 0x9FFF) if chr(c) not in seen)  # 20,000 > MAX_CONDITION_CHARS


def _mark_references(text: str, mark: str) -> tuple[str, list[str]]:
    """The text with each `${name}` replaced by `<mark><n><mark>`, and the name of each n."""
    slots: list[str] = []

    def replace(m: re.Match[str]) -> str:
        if m[1]:
            return m[0][1:]  # `$${x}` is the literal text `${x}`
        if not m[2]:
            raise ConditionSyntaxError("holds ${}, which names no parameter")
        slots.append(m[2])
        return f"{mark}{len(slots) - 1}{mark}"

    return _TOKEN_RE.sub(replace, text), slots


class _Builder:
    """Turns the parsed tree into the compiled one, refusing every construct outside the whitelist."""

    def __init__(self, placeholder: re.Pattern[str], mark: str, slots: Sequence[str]) -> None:
        self.placeholder = placeholder
        self.mark = mark
        self.slots = slots
        self.used: set[int] = set()

    def use(self, slot: int) -> int:
        # Each placeholder is written once; a second sighting (or one out of range) can only come from a
        # string escape such as \N{...} producing the reserved character, which is refused rather than guessed.
        if slot >= len(self.slots) or slot in self.used:
            raise ConditionSyntaxError("cannot be read: a string escape produces a reserved character")
        self.used.add(slot)
        return slot

    def build(self, node: ast.expr, depth: int) -> _Expr:
        if depth > MAX_NESTING:
            raise ConditionSyntaxError(f"nests deeper than {MAX_NESTING} levels")
        d = depth + 1
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, ast.Name):
            m = self.placeholder.fullmatch(node.id)
            if m is not None:
                return _Ref(self.use(int(m[1])))
            if self.mark in node.id:
                raise ConditionSyntaxError(
                    "joins a ${...} reference to other characters; put it in quotes to build text, e.g. '${a}_x'"
                )
            if node.id in FUNCTIONS:
                raise ConditionSyntaxError(f"names the function {node.id} without calling it")
            raise ConditionSyntaxError(
                f"uses the bare name {node.id}: refer to a parameter as ${{{node.id}}}, to text as '{node.id}'"
            )
        if isinstance(node, ast.BoolOp):
            operands = tuple(self.build(v, d) for v in node.values)
            word = "and" if isinstance(node.op, ast.And) else "or"
            if not all(_is_test(o) for o in operands):
                raise ConditionSyntaxError(f"combines with `{word}` an operand that is not a test ({_TEST_HELP})")
            return _BoolOp(isinstance(node.op, ast.And), operands)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, d)
        if isinstance(node, ast.Compare):
            return self.compare(node, d)
        if isinstance(node, ast.Call):
            return self.call(node, d)
        raise ConditionSyntaxError(f"uses {_describe(node)}, which is not allowed")

    def constant(self, value: object) -> _Expr:
        if isinstance(value, str):
            return self.string(value)
        if value is None or isinstance(value, bool | int | float):
            return _Const(value)
        kind = {bytes: "a bytes literal", complex: "a complex number"}.get(type(value), "this literal")
        raise ConditionSyntaxError(f"uses {kind}, which is not allowed")

    def string(self, value: str) -> _Expr:
        if self.mark not in value:
            return _Const(value)
        parts: list[str | int] = []
        pos = 0
        for m in self.placeholder.finditer(value):
            if m.start() > pos:
                parts.append(value[pos : m.start()])
            parts.append(self.use(int(m[1])))
            pos = m.end()
        if pos < len(value):
            parts.append(value[pos:])
        if any(isinstance(p, str) and self.mark in p for p in parts):
            raise ConditionSyntaxError("cannot be read: a string escape produces a reserved character")
        return _Template(tuple(parts))

    def unary(self, node: ast.UnaryOp, d: int) -> _Expr:
        operand = self.build(node.operand, d)
        if isinstance(node.op, ast.Not):
            if not _is_test(operand):
                raise ConditionSyntaxError(f"negates with `not` an operand that is not a test ({_TEST_HELP})")
            return _Not(operand)
        if isinstance(node.op, ast.USub | ast.UAdd):
            return _Sign(isinstance(node.op, ast.USub), operand)
        raise ConditionSyntaxError("uses the operator ~, which is not allowed")

    def compare(self, node: ast.Compare, d: int) -> _Expr:
        ops: list[str] = []
        for op in node.ops:
            word = _COMPARE_OPS.get(type(op))
            if word is None:
                raise ConditionSyntaxError("uses `is` / `is not`, which compare identity: use == or !=")
            ops.append(word)
        left = self.build(node.left, d)
        rights: list[_Expr] = []
        for i, (word, right) in enumerate(zip(ops, node.comparators, strict=True)):
            if isinstance(right, ast.List | ast.Tuple | ast.Set):
                if word not in ("in", "not in") or i != len(ops) - 1:
                    raise ConditionSyntaxError("uses a list or tuple other than as the right operand of in / not in")
                rights.append(_Items(tuple(self.build(e, d + 1) for e in right.elts)))  # no display nests
            else:
                rights.append(self.build(right, d))
        return _Compare(left, tuple(ops), tuple(rights))

    def call(self, node: ast.Call, d: int) -> _Expr:
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ConditionSyntaxError("passes keyword or * arguments; only positional arguments are allowed")
        func = node.func
        if isinstance(func, ast.Name) and func.id in FUNCTIONS:
            if len(node.args) != 1:
                raise ConditionSyntaxError(f"calls {func.id}() with {len(node.args)} arguments; it takes one")
            return _Call(func.id, self.build(node.args[0], d))
        if isinstance(func, ast.Attribute) and func.attr in METHODS:
            want = METHODS[func.attr]
            if len(node.args) != want:
                raise ConditionSyntaxError(f"calls .{func.attr}() with {len(node.args)} arguments; it takes {want}")
            receiver = self.build(func.value, d)
            return _Method(func.attr, receiver, tuple(self.build(a, d) for a in node.args))
        allowed = ", ".join(f"{f}()" for f in FUNCTIONS) + " and the methods " + ", ".join(f".{m}()" for m in METHODS)
        if isinstance(func, ast.Attribute):
            raise ConditionSyntaxError(f"calls the method .{func.attr}(); the only calls allowed are {allowed}")
        name = f"{func.id}()" if isinstance(func, ast.Name) else "an expression"
        raise ConditionSyntaxError(f"calls {name}; the only calls allowed are {allowed}")


def _is_test(e: _Expr) -> bool:
    """Whether `e` always evaluates to True or False."""
    if isinstance(e, _Const):
        return isinstance(e.value, bool)
    if isinstance(e, _Method):
        return e.name in _TEST_METHODS
    return isinstance(e, _Compare | _Not | _BoolOp)  # their operands were checked when they were built


_DESCRIPTIONS: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access (only the methods " + ", ".join(METHODS) + " can be called)",
    ast.Subscript: "a subscript x[...]",
    ast.Slice: "a slice",
    ast.Lambda: "a lambda",
    ast.IfExp: "a conditional expression (a if c else b)",
    ast.NamedExpr: "an assignment (:=)",
    ast.JoinedStr: "an f-string (put ${...} inside a plain string instead)",
    ast.Dict: "a dict",
    ast.List: "a list other than as the right operand of in / not in",
    ast.Tuple: "a tuple other than as the right operand of in / not in",
    ast.Set: "a set other than as the right operand of in / not in",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Starred: "a * expression",
}


def _describe(node: ast.expr) -> str:
    if isinstance(node, ast.BinOp):
        symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
                  ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^",
                  ast.BitAnd: "&", ast.MatMult: "@"}.get(type(node.op), "?")  # fmt: skip
        return f"arithmetic ({symbol})"
    return _DESCRIPTIONS.get(type(node), f"a {type(node).__name__} expression")


# --- evaluating -------------------------------------------------------------------------------------------


def _eval(e: _Expr, env: Sequence[str]) -> _Value:
    if isinstance(e, _Const):
        return e.value
    if isinstance(e, _Ref):
        return _Text(env[e.slot])
    if isinstance(e, _Template):
        size = sum(len(p) if isinstance(p, str) else len(env[p]) for p in e.parts)
        if size > MAX_TEXT_CHARS:
            raise ConditionEvaluationError(f"builds text of {size} characters; at most {MAX_TEXT_CHARS} are allowed")
        return "".join(p if isinstance(p, str) else env[p] for p in e.parts)
    if isinstance(e, _Not):
        return not _eval(e.operand, env)
    if isinstance(e, _BoolOp):
        for operand in e.operands:
            if bool(_eval(operand, env)) is not e.is_and:  # and: first False decides; or: first True
                return not e.is_and
        return e.is_and
    if isinstance(e, _Compare):
        left = _eval(e.left, env)
        for op, right_expr in zip(e.ops, e.rights, strict=True):
            right = _eval(right_expr, env)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    if isinstance(e, _Items):
        return tuple(_scalar(_eval(item, env)) for item in e.items)
    if isinstance(e, _Sign):
        n = _as_number(_eval(e.operand, env), "unary -" if e.negative else "unary +")
        return -n if e.negative else n
    if isinstance(e, _Call):
        return _call(e.func, _scalar(_eval(e.arg, env)))
    receiver = _eval(e.receiver, env)
    args = [_eval(a, env) for a in e.args]
    if not isinstance(receiver, str):
        raise ConditionEvaluationError(f".{e.name}() works on text, got {_kind(receiver)}")
    for arg in args:
        if not isinstance(arg, str):
            raise ConditionEvaluationError(f".{e.name}() takes text, got {_kind(arg)}")
    result: str | bool = getattr(str, e.name)(str(receiver), *args)
    return result


def _scalar(v: _Value) -> _Scalar:
    if isinstance(v, tuple):  # cannot happen: displays only sit right of `in`; kept for the type checker
        raise ConditionEvaluationError("a list is only allowed after in / not in")
    return v


def _is_number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _read_number(text: str) -> int | float | None:
    """The number a text reads as (module docstring), or None."""
    if len(text) > _MAX_NUMBER_CHARS:  # checked first: a long value is compared often (`in` lists), stripped never
        return None
    s = text.strip()
    if not _NUMBER_RE.fullmatch(s):
        return None
    return int(s) if _INT_RE.fullmatch(s) else float(s)


def _as_number(v: _Value, what: str) -> int | float:
    n = _read_number(v) if isinstance(v, _Text) else v
    if _is_number(n):
        return n
    raise ConditionEvaluationError(f"{what} needs a number, got {_kind(v)}")


def _coerce(a: _Value, b: _Value) -> tuple[_Value, _Value]:
    """Bare references read as numbers next to a number or another bare reference that reads as one."""
    if isinstance(a, _Text) and isinstance(b, _Text):
        na, nb = _read_number(a), _read_number(b)
        return (na, nb) if na is not None and nb is not None else (a, b)
    if isinstance(a, _Text) and _is_number(b):
        na = _read_number(a)
        return (a, b) if na is None else (na, b)
    if isinstance(b, _Text) and _is_number(a):
        nb = _read_number(b)
        return (a, b) if nb is None else (a, nb)
    return a, b


def _equal(a: _Value, b: _Value) -> bool:
    a, b = _coerce(a, b)
    return bool(a == b)


_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def _compare(op: str, a: _Value, b: _Value) -> bool:
    if op in ("in", "not in"):
        if isinstance(b, tuple):
            found = any(_equal(a, item) for item in b)
        elif isinstance(b, str) and isinstance(a, str):
            found = a in b
        else:
            raise ConditionEvaluationError(
                f"`{op}` looks for text in text or for a value in a list; got {_kind(a)} {op} {_kind(b)}"
            )
        return found is (op == "in")
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    a, b = _coerce(a, b)
    if not ((_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise ConditionEvaluationError(
            f"cannot order {_kind(a)} and {_kind(b)} with {op}; convert with int() or float(), or quote both sides"
        )
    return bool(_ORDER[op](a, b))


def _call(func: str, v: _Scalar) -> _Scalar:
    if func == "str":
        return str(v)
    if func == "len":
        if not isinstance(v, str):
            raise ConditionEvaluationError(f"len() works on text, got {_kind(v)}")
        return len(v)
    if not (isinstance(v, str) or _is_number(v)):
        raise ConditionEvaluationError(f"{func}() converts text or a number, got {_kind(v)}")
    try:
        return int(v) if func == "int" else float(v)
    except (ValueError, OverflowError):
        raise ConditionEvaluationError(f"{func}() cannot convert this text to a number") from None


def _kind(v: object) -> str:
    """What a value is, without echoing it (values are user data, error texts land in logs and responses)."""
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True/False"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, tuple):
        return "a list"
    return "text"
