"""Placing data values into task code so that no value can become code.

`${...}` substitution (trigflow.domain.params) turns a task's code into a sequence of segments: trusted text
(the definition's own code and parameter values) and `Data` (upstream outputs, file-arrival paths, run-time
parameters). Trusted text is code by definition; data must never be. How a data value may appear depends on
the language, so each dialect (the task type's language, `TaskType.dialect` in trigflow.tasktypes) has its
renderer (`RENDERERS`), chosen by `render_code`:

* **SHELL** — a data value never enters the script text. It becomes a reference to an environment variable
  that carries it (`TRIGFLOW_PARAM_<name>`, or `TRIGFLOW_VALUE_<n>` for a name that cannot be a variable
  name), written for the quoting context a small lexer finds at that point: unquoted, in `"..."`, in an
  unquoted heredoc, in backticks or `$(...)` → `${VAR}`; in `'...'` → `'"${VAR}"'`; in `$'...'` → close,
  `"${VAR}"`, reopen. Bash expands a variable once and never parses its value as shell code, so if the lexer
  misjudges a context the worst outcome is a wrong value, never code execution. Two contexts differ: in a
  quoted heredoc (`<<'EOF'`) nothing is expanded, so the value is pasted literally unless it could end the
  heredoc (a line equal to the delimiter), then referenced; in shell arithmetic (`$((...))`, `((...))`,
  `$[...]`) bash evaluates a value as an expression (and `a[$(cmd)]` in it runs cmd), so only a value made of
  digits, blanks and operators is accepted there.
* **PYTHON** — the code is tokenized with a unique placeholder for each data value. In a string literal the
  literal is split and the value inserted as its `repr` by implicit concatenation (`'a' 'value' 'b'`), keeping
  the prefix of the pieces (bytes literals get a bytes repr). In code, a plain literal (`42`, `'x'`,
  `[1, 2]`: constants and containers only, no `#`, no newline) is pasted in parentheses, anything else as its
  `repr` in parentheses, so the value is always one atom. In a comment, line breaks become spaces. If the code
  cannot be tokenized, a value sits where it cannot be placed safely (inside a name, an f-string replacement
  field), or the result no longer compiles when the code with placeholders did, the attempt is refused.
* SQL tasks (later) will bind data as statement parameters, never as text.

Pure: no I/O. The caller provides the environment variables the shell references (`RenderedCode.variables`).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trigflow.domain.params import Data, Segment
from trigflow.domain.stand_ins import with_stand_ins
from trigflow.domain.task_env import VALUE_ENV_PREFIX, param_env_name

__all__ = [
    "PYTHON_DIALECT",
    "RENDERERS",
    "SHELL_DIALECT",
    "RenderedCode",
    "UnsafePlacement",
    "render_code",
    "render_python",
    "render_shell",
]


class UnsafePlacement(ValueError):
    """A data value cannot be placed into the code without risking that it runs; the attempt is refused."""


@dataclass(frozen=True)
class RenderedCode:
    """The code to write, and the variables (name -> value) it references that the caller must define."""

    text: str
    variables: dict[str, str] = field(default_factory=dict)


SHELL_DIALECT, PYTHON_DIALECT = "shell", "python"


def render_code(dialect: str | None, segments: Sequence[Segment]) -> RenderedCode:
    """The code in `dialect` (SHELL_DIALECT, PYTHON_DIALECT; None: a type without one) with its data values
    placed safely."""
    if all(isinstance(s, str) for s in segments):  # the common case: no data, nothing to decide
        return RenderedCode("".join(segments))  # type: ignore[arg-type]
    renderer = RENDERERS.get(dialect) if dialect is not None else None
    if renderer is None:
        raise UnsafePlacement(f"{dialect or 'this'} code has no place where data values could be put safely")
    return renderer(segments)


# ---------------------------------------------------------------------------------------------- shell

_ARITH_SAFE = re.compile(r"[0-9 \t\n+\-*/%<>=!&|^~?:(),]*\Z")


@dataclass
class _Frame:
    kind: str  # plain, cmdsub, backtick, dquote, squote, dsquote, param, arith, comment, heredoc
    depth: int = 0  # arith: open parentheses; param: open braces
    closer: str = ""  # arith: "))" or "]"
    delimiter: str = ""  # heredoc
    strip_tabs: bool = False  # heredoc: `<<-`
    quoted: bool = False  # heredoc: `<<'EOF'` (nothing expanded)
    # plain-like frames: the word being read, whether it is (or starts) a command, whether it is a redirection
    # target. A value there would choose what runs, so it is refused (`${v} arg`, `"${v}"`, `eval ${v}`).
    word: str = ""
    cmd: bool = True
    redirect: bool = False


_PLAIN_LIKE = ("plain", "cmdsub", "backtick")
_WORD_BREAK = " \t\n;&|()<>"
_QUOTED = ("dquote", "squote", "dsquote", "param")  # inside a word of the enclosing plain-like frame
# Words after which the next word is still a command: reserved words and the common command runners.
_STILL_COMMAND = frozenset(
    {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time", "exec", "command", "builtin",
     "nohup", "nice", "sudo", "xargs", "eval", "coproc", "then{", "do{"}
)  # fmt: skip
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")


class _ShellLexer:
    """Just enough of bash's quoting rules to know, at any point of a script, how a reference must be written.

    Fed incrementally with the trusted text; `frame` is the innermost context. It need not be exact: every
    answer it gives leads to a variable reference (or, in a quoted heredoc, to a paste that cannot end it), so a
    misjudged context yields a wrong value, never code.
    """

    def __init__(self) -> None:
        self.stack: list[_Frame] = [_Frame("plain")]
        self.prev = "\n"  # previous character, for word starts (`#` comments)
        self.pending: list[_Frame] = []  # heredocs whose bodies start after the current line
        self.line = ""  # heredoc: the body line read so far
        self.lines = 0  # newlines seen
        self.heredocs: list[tuple[str, int]] = []  # where heredoc bodies start and end, by line

    @property
    def structure(self) -> tuple[tuple[str, int], ...]:
        return tuple(self.heredocs)

    @property
    def frame(self) -> _Frame:
        return self.stack[-1]

    def feed(self, text: str) -> None:
        i, n = 0, len(text)
        while i < n:
            i = self._step(text, i)

    def _step(self, t: str, i: int) -> int:
        f = self.frame
        c = t[i]
        nxt = t[i + 1] if i + 1 < len(t) else ""
        if f.kind == "heredoc":
            if c == "\n":
                line = self.line.lstrip("\t") if f.strip_tabs else self.line
                self.line = ""
                self.lines += 1
                if line == f.delimiter:
                    self.stack.pop()
                    self.heredocs.append(("end", self.lines))
                    self._start_heredoc()
                return self._advance(c, i + 1)
            self.line += c
            if f.quoted:
                return self._advance(c, i + 1)
            if c == "\\":
                self.line += nxt
                return self._advance(nxt, i + 2)
            return self._expansion(t, i, c, nxt)
        if f.kind == "comment":
            if c == "\n":
                self.stack.pop()
                return self._newline(i)
            return self._advance(c, i + 1)
        if f.kind == "squote":
            if c == "'":
                self.stack.pop()
            return self._advance(c, i + 1)
        if f.kind == "dsquote":
            if c == "\\":
                return self._advance(nxt, i + 2)
            if c == "'":
                self.stack.pop()
            return self._advance(c, i + 1)
        if f.kind == "dquote":
            if c == "\\":
                return self._advance(nxt, i + 2)
            if c == '"':
                self.stack.pop()
                return self._advance(c, i + 1)
            return self._expansion(t, i, c, nxt)
        if f.kind == "arith":
            if f.closer == "]" and c == "]" and f.depth == 0:
                self.stack.pop()
                return self._advance(c, i + 1)
            if f.closer == "))" and c == ")" and nxt == ")" and f.depth == 0:
                self.stack.pop()
                return self._advance(")", i + 2)
            if c == "(":
                f.depth += 1
            elif c == ")":
                f.depth = max(0, f.depth - 1)
            return self._expansion(t, i, c, nxt)
        # plain, cmdsub, backtick, param: command text with quotes
        if f.kind in _PLAIN_LIKE:
            self._track_word(f, c)
        if c == "\\":
            return self._advance(nxt, i + 2)
        if c == "'":
            self.stack.append(_Frame("squote"))
            return self._advance(c, i + 1)
        if c == '"':
            self.stack.append(_Frame("dquote"))
            return self._advance(c, i + 1)
        if f.kind == "param":
            if c == "}":
                if f.depth == 0:
                    self.stack.pop()
                else:
                    f.depth -= 1
                return self._advance(c, i + 1)
            if c == "{":
                f.depth += 1
            return self._expansion(t, i, c, nxt)
        if c == "#" and self.prev in _WORD_BREAK:
            self.stack.append(_Frame("comment"))
            return self._advance(c, i + 1)
        if f.kind == "backtick" and c == "`":
            self.stack.pop()
            return self._advance(c, i + 1)
        if f.kind == "cmdsub" and c == ")":
            if f.depth == 0:
                self.stack.pop()
            else:
                f.depth -= 1
            return self._advance(c, i + 1)
        if c == "(":
            if nxt == "(" and self.prev in _WORD_BREAK:
                self.stack.append(_Frame("arith", closer="))"))
                return self._advance("(", i + 2)
            if f.kind == "cmdsub":
                f.depth += 1
            return self._advance(c, i + 1)
        if c == "<" and nxt == "<" and t[i + 2 : i + 3] != "<":
            return self._heredoc_operator(t, i)
        if c == "\n":
            return self._newline(i)
        if c == "$" and nxt == "'":
            self.stack.append(_Frame("dsquote"))
            return self._advance("'", i + 2)
        return self._expansion(t, i, c, nxt)

    def _expansion(self, t: str, i: int, c: str, nxt: str) -> int:
        """`$(`, `$((`, `${`, `$[` and backticks, wherever expansions happen."""
        if c == "$":
            if nxt == "(":
                if t[i + 2 : i + 3] == "(":
                    self.stack.append(_Frame("arith", closer="))"))
                    return self._advance("(", i + 3)
                self.stack.append(_Frame("cmdsub"))
                return self._advance("(", i + 2)
            if nxt == "{":
                self.stack.append(_Frame("param"))
                return self._advance("{", i + 2)
            if nxt == "[":
                self.stack.append(_Frame("arith", closer="]"))
                return self._advance("[", i + 2)
        if c == "`" and self.frame.kind != "backtick":
            self.stack.append(_Frame("backtick"))
        return self._advance(c, i + 1)

    def _heredoc_operator(self, t: str, i: int) -> int:
        j = i + 2
        strip = t[j : j + 1] == "-"
        if strip:
            j += 1
        while j < len(t) and t[j] in " \t":
            j += 1
        word_start = j
        quote = ""
        while j < len(t):
            ch = t[j]
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "\\":
                j += 1
            elif ch in _WORD_BREAK:
                break
            j += 1
        word = t[word_start:j]
        if word:
            delimiter = word.replace("\\", "").replace("'", "").replace('"', "")
            quoted = any(q in word for q in "'\"\\")
            self.pending.append(_Frame("heredoc", delimiter=delimiter, strip_tabs=strip, quoted=quoted))
            self.frame.redirect = False  # the delimiter was the operator's word
            self.prev = word[-1]
            return j
        return self._advance("<", i + 2)

    def _track_word(self, f: _Frame, c: str) -> None:
        """Follow words and command positions (approximately: enough to refuse the usual shapes)."""
        if c in " \t":
            self._end_word(f)
        elif c in ";()" or (c in "&|" and self.prev not in "<>"):
            self._end_word(f)
            f.cmd, f.redirect = True, False
        elif c in "<>":
            self._end_word(f)
            f.redirect = True
        elif c != "\n":
            f.word += c

    @staticmethod
    def _end_word(f: _Frame) -> None:
        if not f.word:
            return
        if f.redirect:
            f.redirect = False  # a redirection's target: the command position is unchanged
        elif f.word not in _STILL_COMMAND and not _ASSIGNMENT.match(f.word):
            f.cmd = False
        f.word = ""

    def in_command_position(self) -> bool:
        """Whether a value here would be (part of) the command that runs."""
        frames = self.stack
        i = len(frames) - 1
        while i > 0 and frames[i].kind in _QUOTED:
            i -= 1
        f = frames[i]
        if f.kind not in _PLAIN_LIKE:
            return False
        return f.cmd and not f.redirect and not _ASSIGNMENT.match(f.word)

    def _newline(self, i: int) -> int:
        self.lines += 1
        f = self.frame
        if f.kind in _PLAIN_LIKE:
            f.word, f.cmd, f.redirect = "", True, False
        self._advance("\n", i + 1)
        self._start_heredoc()
        return i + 1

    def _start_heredoc(self) -> None:
        if self.pending and self.frame.kind in _PLAIN_LIKE:
            self.stack.append(self.pending.pop(0))
            self.line = ""
            self.heredocs.append(("start", self.lines))

    def _advance(self, c: str, i: int) -> int:
        self.prev = c
        return i


def render_shell(segments: Sequence[Segment]) -> RenderedCode:
    """A bash script in which every data value is a variable reference (see the module docstring)."""
    pasted = _render_shell(segments, paste=True)
    if pasted.text is None:
        return _render_shell(segments, paste=False).code
    # A value pasted into a quoted heredoc has no line break, so both versions have the same lines: if the
    # heredocs still start and end on the same lines, no value shortened or extended one.
    if _shell_structure(pasted.code.text) == _shell_structure(_render_shell(segments, paste=False).code.text):
        return pasted.code
    return _render_shell(segments, paste=False).code


@dataclass(frozen=True)
class _ShellRender:
    code: RenderedCode
    text: str | None  # set when some value was pasted into a quoted heredoc


def _shell_structure(text: str) -> tuple[tuple[str, int], ...]:
    lexer = _ShellLexer()
    lexer.feed(text)
    return lexer.structure


def _render_shell(segments: Sequence[Segment], *, paste: bool) -> _ShellRender:
    lexer = _ShellLexer()
    out: list[str] = []
    variables: dict[str, str] = {}
    by_value: dict[tuple[str, str], str] = {}
    any_paste = False
    for seg in segments:
        if isinstance(seg, str):
            lexer.feed(seg)
            out.append(seg)
            continue
        if "\0" in seg.value:
            raise UnsafePlacement(f"the value of ${{{seg.name}}} contains a NUL character, which bash cannot hold")
        frame = lexer.frame
        if paste and frame.kind == "heredoc" and frame.quoted and _pasteable_in_heredoc(seg.value, frame):
            lexer.feed(seg.value)
            out.append(seg.value)
            any_paste = True
            continue
        if lexer.in_command_position():
            raise UnsafePlacement(
                f"the value of ${{{seg.name}}} would be the command that runs; data may be an argument, never "
                f'the command (validate "${_var_hint(seg.name)}" first if that is what you mean)'
            )
        if frame.kind == "arith" and not _ARITH_SAFE.match(seg.value):
            raise UnsafePlacement(
                f"the value of ${{{seg.name}}} is used in shell arithmetic, where bash would evaluate it as an "
                "expression, and it is not a number; compare it as a string or validate "
                f'"${_var_hint(seg.name)}" first'
            )
        var = param_env_name(seg.name)
        if var is None:
            var = by_value.setdefault((seg.name, seg.value), f"{VALUE_ENV_PREFIX}{len(by_value)}")
        variables[var] = seg.value
        out.append(_reference(var, frame.kind))
    text = "".join(out)
    return _ShellRender(RenderedCode(text, variables), text if any_paste else None)


def _var_hint(name: str) -> str:
    return param_env_name(name) or "TRIGFLOW_PARAMS_FILE"


def _pasteable_in_heredoc(value: str, frame: _Frame) -> bool:
    """A quoted heredoc expands nothing: a value on one line, that cannot be the delimiter, can be pasted."""
    return "\n" not in value and "\r" not in value and frame.delimiter not in value


def _reference(var: str, context: str) -> str:
    if context == "squote":
        return f"'\"${{{var}}}\"'"
    if context == "dsquote":
        return f"'\"${{{var}}}\"$'"
    return f"${{{var}}}"


# --------------------------------------------------------------------------------------------- python

_PLACEHOLDER_RE_TEMPLATE = r"{base}([0-9]+)_"
_LITERAL_NODES = (ast.Expression, ast.Constant, ast.UnaryOp, ast.BinOp, ast.USub, ast.UAdd, ast.Add, ast.Sub,
                  ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Load)  # fmt: skip
_CODING_RE = re.compile(r"coding[:=]")
_STRING_PREFIX_RE = re.compile(r"[A-Za-z]*")


def render_python(segments: Sequence[Segment]) -> RenderedCode:
    """Python code in which every data value is a correctly escaped literal (see the module docstring)."""
    source, base, values = with_stand_ins(segments, "__trigflow_value_", "_")
    placeholder = re.compile(_PLACEHOLDER_RE_TEMPLATE.format(base=re.escape(base)))
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError) as e:
        raise UnsafePlacement(f"the Python code cannot be tokenized with its data values held out ({e})") from None
    base_compiles = _compiles(source)
    lines = io.StringIO(source).readlines()
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits: list[tuple[int, int, str]] = []
    code_context = False
    for tok in tokens:
        if not placeholder.search(tok.string):
            continue
        start = offsets[tok.start[0] - 1] + tok.start[1]
        end = offsets[tok.end[0] - 1] + tok.end[1]
        if tok.type == tokenize.NAME:
            code_context = True
            edits.append((start, end, _python_code_value(tok.string, placeholder, values)))
        elif tok.type == tokenize.STRING:
            edits.append((start, end, _python_string(tok.string, placeholder, values)))
        elif tok.type == tokenize.COMMENT:
            edits.append((start, end, _python_comment(tok.string, placeholder, values, tok.start[0])))
        else:
            where = _names(tok.string, placeholder, values)
            raise UnsafePlacement(f"a data value sits where Python cannot hold it ({where})")
    if code_context and not base_compiles:
        raise UnsafePlacement(
            "a data value is used as Python code in a script that does not compile without it; "
            "read it with os.environ instead"
        )
    result = []
    pos = 0
    for start, end, text in edits:
        result.append(source[pos:start])
        result.append(text)
        pos = end
    result.append(source[pos:])
    rendered = "".join(result)
    if base_compiles and not _compiles(rendered):
        raise UnsafePlacement("the Python code no longer compiles with its data values placed; refused")
    return RenderedCode(rendered)


def _names(text: str, placeholder: re.Pattern[str], values: Sequence[Data]) -> str:
    return ", ".join("${" + values[int(m.group(1))].name + "}" for m in placeholder.finditer(text))


def _compiles(source: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "<task>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


def _python_code_value(token: str, placeholder: re.Pattern[str], values: Sequence[Data]) -> str:
    """A value in code: one parenthesised atom, the literal itself when it is a plain literal."""
    match = placeholder.fullmatch(token)
    if match is None:
        raise UnsafePlacement(
            f"a data value is part of a Python name ({_names(token, placeholder, values)}); "
            "read it with os.environ instead"
        )
    value = values[int(match.group(1))].value
    core = value.strip(" \t")
    return f"({core})" if _is_plain_literal(core) else f"({value!r})"


def _is_plain_literal(value: str) -> bool:
    if not value or "#" in value or "\n" in value or "\r" in value or "\\" in value:
        return False
    try:
        tree = ast.parse(value, mode="eval")
        ast.literal_eval(tree)  # constants and containers only (`0-0` is an expression, `1-2j` a literal)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    return all(isinstance(node, _LITERAL_NODES) for node in ast.walk(tree))  # and no call (`set()`)


def _python_string(token: str, placeholder: re.Pattern[str], values: Sequence[Data]) -> str:
    """A string literal split at each placeholder, each value inserted as its repr (implicit concatenation)."""
    prefix = _STRING_PREFIX_RE.match(token).group(0)  # type: ignore[union-attr]
    rest = token[len(prefix) :]
    quote = rest[:3] if rest[:3] in ('"""', "'''") else rest[:1]
    body = rest[len(quote) : len(rest) - len(quote)]
    lower = prefix.lower()
    is_bytes = "b" in lower
    is_f = "f" in lower
    pieces: list[str] = []
    pos = 0
    for m in placeholder.finditer(body):
        if is_f and _in_replacement_field(body, m.start()):
            raise UnsafePlacement(
                f"a data value ({_names(m.group(0), placeholder, values)}) is inside an f-string replacement "
                "field; put it in the literal text or read it with os.environ"
            )
        before = body[pos : m.start()]
        pieces.extend(_literal_piece(prefix, quote, before, is_bytes))
        value = values[int(m.group(1))].value
        pieces.append(repr(value.encode("utf-8", "surrogatepass")) if is_bytes else repr(value))
        pos = m.end()
    pieces.append(f"{prefix}{quote}{body[pos:]}{quote}")
    return " ".join(pieces)  # spaced: an empty `r''` then `'x'` must not read as the triple quote `r'''x'`


def _literal_piece(prefix: str, quote: str, before: str, is_bytes: bool) -> list[str]:
    """`before` as a literal of its own; a tail of quotes and backslashes (which would merge with the closing
    quote) is evaluated as it was meant and emitted as a repr piece."""
    cut = len(before)
    while cut > 0 and before[cut - 1] in ("\\", quote[0]):
        cut -= 1
    pieces = [f"{prefix}{quote}{before[:cut]}{quote}"]
    tail = before[cut:]
    if tail:
        plain_prefix = prefix.replace("f", "").replace("F", "")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The placeholder that followed starts with `_`, so a space stands in for it: same escapes.
            meant = ast.literal_eval(f"{plain_prefix}{quote}{tail} {quote}")[:-1]
        pieces.append(repr(meant))
    return pieces


def _in_replacement_field(body: str, index: int) -> bool:
    """Whether `index` of an f-string body lies inside `{...}` (Python 3.11 f-strings: no nested same quotes)."""
    depth = 0
    i = 0
    quote = ""
    while i < index:
        c = body[i]
        if depth == 0:
            if c in "{}" and body[i + 1 : i + 2] == c:
                i += 2
                continue
            if c == "{":
                depth = 1
        elif quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
        i += 1
    return depth > 0


def _python_comment(token: str, placeholder: re.Pattern[str], values: Sequence[Data], row: int) -> str:
    def value(m: re.Match[str]) -> str:
        text = values[int(m.group(1))].value
        text = re.sub(r"[\r\n\0]", " ", text).encode("utf-8", "replace").decode("utf-8")
        if row <= 2:  # a coding declaration on line 1 or 2 would change how Python decodes the file
            text = _CODING_RE.sub("coding ", text)
        return text

    return placeholder.sub(value, token)


RENDERERS: dict[str, Callable[[Sequence[Segment]], RenderedCode]] = {
    SHELL_DIALECT: render_shell,
    PYTHON_DIALECT: render_python,
}
