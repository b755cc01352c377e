"""Task parameters: `${...}` substitution, time parameters, layered values and output/input passing.

Pure: no clock, no environment, no files. The caller supplies the baseline instant (decisions.md Q-P1: the
run's nominal schedule time, in the run's time zone) and the texts to scan, so the same inputs always give
the same result and a rerun reproduces the original run's values.

Time parameters (semantics.md §4.10, page P65172, decisions.md Q-P4). The body of `${...}` is a time
expression when it is

* a format made of the tokens `yyyy`, `yy`, `MM`, `dd`, `HH`, `mm`, `ss` and literal separators, followed
  by zero or more offsets `+N` / `-N` with a unit: `y`/`Y` years, `M` months, `w`/`W` weeks, `d`/`D` days,
  `H`/`h` hours, `m` minutes (`M` vs `m` is case-sensitive, as in the doc table);
* or `timestamp` (epoch seconds) / `timestamp_ms` (epoch milliseconds) followed by zero or more unit-less
  `+N` / `-N` terms.

Readings chosen where P65172 is silent (each is pinned by a unit test):

* Separators are any characters except ASCII letters, digits, `$`, `{` and `}`, so a format never
  swallows a parameter name (`${address}` is not "a" + `dd` + "ress"), and a digit can never be mistaken
  for part of an offset. Tokens are matched greedily left to right (`yyyy` before `yy`); any other letter
  makes the body "not a time expression". `yyyymmdd` is valid and means year, *minute*, day, exactly as
  in Java's SimpleDateFormat, which WeData's syntax comes from.
* Offsets are the longest suffix of `±N<unit>` terms and apply left to right, each on the previous
  result: `yyyyMMdd-1M+2d` is "one month back, then two days forward".
* Years and months are calendar arithmetic clamped to the target month's last day (Mar 31 -1M is Feb 28
  or 29; Feb 29 +1y is Feb 28). Clamping happens per step, so chains are order-dependent.
* Years, months, weeks and days move the local wall clock (a day is a calendar day, 23 or 25 hours across
  a DST change); hours and minutes move the instant (elapsed time). That is java.time's split between
  `ZonedDateTime.plusDays` and `plusHours`. A wall time that falls in a DST gap is pushed forward by the
  gap (02:30 on a spring-forward day becomes 03:30); an ambiguous wall time takes the earlier instant.
* `timestamp` is the baseline's epoch seconds rounded down, `timestamp_ms` its epoch milliseconds; their
  `±N` terms are plain integers in the same unit (`${timestamp-86400}`, `${timestamp_ms+1000}`). Units
  after them (`${timestamp-1d}`) are not accepted: the doc only shows "+"/"-" operators.
* An offset or format whose result leaves years 1..9999 is not evaluated (the token stays as written and
  a warning says why).

Substitution (decisions.md Q-P3/Q-P4):

* A user parameter of the same name wins over a time expression: it is the more specific definition, and
  it lets an operator pin e.g. `${yyyyMMdd}` for a backfill by defining a parameter of that name.
* Parameter values are themselves substituted, recursively (WeData users define `biz_date` =
  `${yyyyMMdd-1d}`), up to `MAX_DEPTH` levels. While a parameter's value is being expanded its own name
  refers to the built-in time expression, so `yyyyMMdd` = `${yyyyMMdd}` is "the built-in"; a reference
  back to a name still being expanded that is not a time expression is a cycle and is left as written.
* Anything left unresolved (unknown name, cycle, too deep, out of range) stays exactly as written — shell
  scripts are full of `${HOME}` — and is reported once in the returned warnings.
* `$${body}` is the escape: it produces the literal `${body}` and is never evaluated. Only a `$` directly
  before `${` is consumed; a lone `$` anywhere else is ordinary text (`$$${x}` gives `$${x}`).
* Substituted text is never rescanned, so a value that yields `${...}` (through an escape) stays literal.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trigflow.domain.errors import InvalidParameterValue

__all__ = [
    "DEFAULT_MAX_EXPANDED_CHARS",
    "DEFAULT_MAX_PARAM_CHARS",
    "MAX_DEPTH",
    "OUTPUT_FILE_ENV",
    "OUTPUT_MARKER",
    "Data",
    "ExpansionTooLarge",
    "Segment",
    "Substitution",
    "baseline_for",
    "evaluate_time_expression",
    "join_segments",
    "legacy_data_names",
    "merge_params",
    "parse_output_file",
    "parse_outputs",
    "resolve_inputs",
    "substitute",
]

# Q-P2: a stdout line `##wedata_output key=value`, or `key=value` lines in the file named by this variable.
OUTPUT_MARKER = "##wedata_output"
OUTPUT_FILE_ENV = "WEDATA_OUTPUT_FILE"

# Nesting of parameter values inside parameter values; real workflows use one or two levels.
MAX_DEPTH = 16
# Parameter expansions per `substitute` call: a guard against exponential fan-out (a=${b}${b}, b=${c}${c}, ...)
# through cycle-tainted values, which cannot be memoised.
_MAX_EXPANSIONS = 10_000
# Longest value a parameter may expand to; beyond it the reference is left as written.
_MAX_VALUE_CHARS = 1 << 20
# Characters one attempt's substitutions may build in all (code and values, every level): `trigflow up
# --max-expanded-size`. Past it the attempt fails instead of allocating (7.5 KB of code once became 1.5 GB).
DEFAULT_MAX_EXPANDED_CHARS = 16 << 20
# Longest data value (run-time parameter, upstream output, file-arrival list) a task accepts: `trigflow up
# --max-param-size`. Values that do not fit the environment travel through a file; this bounds the file.
DEFAULT_MAX_PARAM_CHARS = 1 << 20

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

_FORMAT_TOKENS = ("yyyy", "yy", "MM", "dd", "HH", "mm", "ss")  # longest first: `yyyy` before `yy`
_FIELDS = {"MM": "month", "dd": "day", "HH": "hour", "mm": "minute", "ss": "second"}
_OFFSETS_RE = re.compile(r"(?:[+-][0-9]+[yYMwWdDHhm])*\Z")
_OFFSET_RE = re.compile(r"([+-])([0-9]+)([yYMwWdDHhm])")
_TIMESTAMP_RE = re.compile(r"(timestamp_ms|timestamp)((?:[+-][0-9]+)*)\Z")
_TERM_RE = re.compile(r"[+-][0-9]+")
_LITERAL_EXCLUDED = frozenset("${}")
# `$${body}` (escape) or `${body}`; a body never contains braces, so `${a${b}}` only matches `${b}`.
_TOKEN_RE = re.compile(r"(\$?)\$\{([^{}]*)\}")
_ZONE_OFFSET_RE = re.compile(r"(?:UTC|GMT)(?:([+-])([0-9]{1,2})(?::?([0-9]{2}))?)?", re.IGNORECASE)


class _OutOfRange(ValueError):
    """A well-formed time expression whose result is not a representable date (years 1..9999)."""


# ------------------------------------------------------------------------------------------ time parameters


def evaluate_time_expression(expr: str, baseline: datetime) -> str | None:
    """The value of the `${expr}` time parameter at `baseline`, or None when `expr` is not one.

    `baseline` must be aware and already in the run's time zone: formats print its wall clock. None also
    covers a well-formed expression whose result falls outside years 1..9999, so a caller can always
    treat None as "leave the token as written".
    """
    try:
        return _evaluate(expr, baseline)
    except _OutOfRange:
        return None


def _evaluate(expr: str, baseline: datetime) -> str | None:
    """Like `evaluate_time_expression`, but raises `_OutOfRange` so `substitute` can say why it gave up."""
    if baseline.tzinfo is None or baseline.utcoffset() is None:
        raise ValueError("time parameters need an aware baseline datetime")
    ts = _TIMESTAMP_RE.match(expr)
    if ts is not None:
        unit_ms = 1 if ts.group(1) == "timestamp_ms" else 1000
        value = (baseline - _EPOCH) // (_ONE_MS * unit_ms)
        for term in _TERM_RE.findall(ts.group(2)):
            value += _int(term)
        return str(value)
    offsets = _OFFSETS_RE.search(expr)
    assert offsets is not None  # the pattern also matches the empty suffix
    fmt = _tokenize(expr[: offsets.start()])
    if fmt is None:
        return None
    moment = baseline
    for sign, digits, unit in _OFFSET_RE.findall(offsets.group(0)):
        moment = _shift(moment, _int(sign + digits), unit)
    return "".join(_render(part, moment) for part in fmt)


def _int(term: str) -> int:
    """A signed decimal; one too long for int() (over 4300 digits) is out of range, not a crash."""
    try:
        return int(term)
    except ValueError:
        raise _OutOfRange(term) from None


def _tokenize(fmt: str) -> list[str] | None:
    """Split a format into tokens and literal characters; None unless it is a format with a token."""
    parts: list[str] = []
    has_token = False
    i = 0
    while i < len(fmt):
        token = next((t for t in _FORMAT_TOKENS if fmt.startswith(t, i)), None)
        if token is not None:
            parts.append(token)
            has_token = True
            i += len(token)
            continue
        ch = fmt[i]
        if (ch.isascii() and ch.isalnum()) or ch in _LITERAL_EXCLUDED:
            return None
        parts.append(ch)
        i += 1
    return parts if has_token else None


def _render(part: str, moment: datetime) -> str:
    """One token as its zero-padded field (without strftime, whose %Y padding below year 1000 varies)."""
    if part == "yyyy":
        return f"{moment.year:04d}"
    if part == "yy":
        return f"{moment.year % 100:02d}"
    attr = _FIELDS.get(part)
    return part if attr is None else f"{getattr(moment, attr):02d}"


def _shift(moment: datetime, n: int, unit: str) -> datetime:
    """Apply one offset: calendar units on the wall clock, hours and minutes on the instant."""
    try:
        if unit in "hHm":
            delta = timedelta(hours=n) if unit in "hH" else timedelta(minutes=n)
            return (moment.astimezone(UTC) + delta).astimezone(moment.tzinfo)
        wall = moment.replace(tzinfo=None, fold=0)
        if unit in "yYM":
            wall = _add_months(wall, n * 12 if unit in "yY" else n)
        else:
            wall = wall + timedelta(days=n * 7 if unit in "wW" else n)
        return _localize(wall, moment.tzinfo)
    except (OverflowError, ValueError):
        raise _OutOfRange(f"{n:+d}{unit}") from None


def _add_months(wall: datetime, months: int) -> datetime:
    """Calendar month arithmetic, clamping the day to the target month's length."""
    year, month0 = divmod(wall.year * 12 + wall.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise ValueError("year out of range")
    month = month0 + 1
    return wall.replace(year=year, month=month, day=min(wall.day, calendar.monthrange(year, month)[1]))


def _localize(wall: datetime, tz: tzinfo | None) -> datetime:
    """Attach the zone to a wall time; a round trip through UTC pushes a DST-gap time past the gap."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)


# ------------------------------------------------------------------------------------------- substitution


@dataclass(frozen=True, slots=True)
class Data:
    """A value from outside the definition (upstream output, file-arrival path, run-time parameter).

    Data is kept apart from trusted text all the way to the task: it is never scanned for `${...}` (so an
    upstream output `${db_password}` stays those characters) and the code renderers of
    `trigflow.domain.code_quoting` decide how it may appear in a script. `name` is the parameter it came from.
    """

    name: str
    value: str


Segment = str | Data  # trusted text, or a data value


class ExpansionTooLarge(ValueError):
    """Substitution would build more than the allowed number of characters (code plus parameter values).

    Raised *while* expanding, before the text exists, so `a=${b}${b}`-style doubling can never allocate it.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"parameter substitution would produce more than {limit} characters")
        self.limit = limit


def join_segments(segments: Sequence[Segment]) -> str:
    """The plain text of a substitution result, data pasted as is (for values, never for code)."""
    return "".join(s if isinstance(s, str) else s.value for s in segments)


_Expanded = tuple[list[Segment], int]  # segments, their total length


@dataclass
class _Resolver:
    """One attempt's substitutions: the parameters, which of them are data, the baseline, memoised values,
    the warnings so far and the character budget shared by everything it expands."""

    params: Mapping[str, str]
    baseline: datetime
    data: AbstractSet[str] = frozenset()
    limit: int = DEFAULT_MAX_EXPANDED_CHARS
    warnings: dict[str, None] = field(default_factory=dict)  # an ordered set
    memo: dict[str, _Expanded | None] = field(default_factory=dict)
    expansions: int = 0
    work: int = 0  # characters copied plus segments shared so far, at every level: bounds time and memory
    total: int = 0  # characters of every top-level result so far: what the attempt will materialise

    def warn(self, message: str) -> None:
        self.warnings.setdefault(message)

    def _spend(self, n: int) -> None:
        self.work += n
        if self.work > self.limit:
            raise ExpansionTooLarge(self.limit)

    def expand(self, text: str, stack: tuple[str, ...]) -> tuple[list[Segment], int, set[str]]:
        """`text` with its tokens replaced (as segments), its length, and the stack names it depended on.

        A reference to the parameter whose value is being expanded (`stack[-1]`) is not a dependency: that
        name is on the stack in every context. Any other hit is (it means a cycle through an ancestor, which
        another entry point would cut elsewhere), and it taints every value up the chain. A value with no
        dependency is the same wherever it is expanded, so it is memoised.
        """
        if "${" not in text:  # the common case: nothing to scan
            self._spend(len(text))
            return ([text] if text else []), len(text), set()
        out: list[Segment] = []
        size = 0
        deps: set[str] = set()
        pos = 0
        for match in _TOKEN_RE.finditer(text):
            start = match.start()
            # `$${body}` is the literal `${body}`, never evaluated
            piece = text[pos:start] + match.group(0)[1:] if match.group(1) else text[pos:start]
            if piece:
                self._spend(len(piece))
                out.append(piece)
                size += len(piece)
            pos = match.end()
            if match.group(1):
                continue
            resolved, used = self.resolve(match.group(2), stack)
            deps.update(used)
            if resolved is None:
                token = match.group(0)
                self._spend(len(token))
                out.append(token)
                size += len(token)
            else:
                self._spend(len(resolved[0]))  # shared segments: a reference each, no characters copied
                out.extend(resolved[0])
                size += resolved[1]
        tail = text[pos:]
        if tail:
            self._spend(len(tail))
            out.append(tail)
            size += len(tail)
        return out, size, deps

    def resolve(self, name: str, stack: tuple[str, ...]) -> tuple[_Expanded | None, set[str]]:
        """The value of `${name}`, or None to leave it as written, plus the stack names it depended on."""
        deps: set[str] = set()
        if name in self.params:
            if name in self.data:
                given = self.params[name]
                return ([Data(name, given)], len(given)), deps
            if name not in stack:
                return self._resolve_param(name, stack)
            if name != stack[-1]:
                deps.add(name)  # on the stack: refers to the built-in, if there is one
        token = "${" + name + "}"
        try:
            value = _evaluate(name, self.baseline)
        except _OutOfRange:
            self.warn(f"time parameter {token} is out of range at baseline {self.baseline.isoformat()}; left as is")
            return None, deps
        if value is not None:
            return ([value], len(value)), deps
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name) :], name))
            self.warn(f"parameter cycle {cycle}; {token} left as is")
        else:
            self.warn(f"unknown parameter {token} left as is")
        return None, deps

    def _resolve_param(self, name: str, stack: tuple[str, ...]) -> tuple[_Expanded | None, set[str]]:
        token = "${" + name + "}"
        if name in self.memo:
            return self.memo[name], set()
        if len(stack) >= MAX_DEPTH:
            self.warn(f"parameter {token} is nested deeper than {MAX_DEPTH} levels ({' -> '.join(stack)}); left as is")
            return None, set(stack)  # whether the limit is hit depends on the whole stack
        self.expansions += 1
        if self.expansions > _MAX_EXPANSIONS:
            self.warn(f"more than {_MAX_EXPANSIONS} parameter expansions; {token} and later ones left as is")
            return None, set(stack)
        segments, size, deps = self.expand(self.params[name], (*stack, name))
        result: _Expanded | None = (segments, size)
        if size > _MAX_VALUE_CHARS:
            self.warn(f"parameter {token} expands to more than {_MAX_VALUE_CHARS} characters; left as is")
            result = None
        if not deps:
            self.memo[name] = result
        return result, deps


class Substitution:
    """Every `${...}` expansion of one task attempt, sharing memoised values and one character budget.

    `data` names the parameters whose values came from outside the definition: they are returned as `Data`
    segments and never scanned. Everything else is trusted and follows the recursive rules of this module.
    """

    def __init__(
        self,
        params: Mapping[str, str],
        baseline: datetime,
        *,
        data: AbstractSet[str] = frozenset(),
        limit: int = DEFAULT_MAX_EXPANDED_CHARS,
    ) -> None:
        self._resolver = _Resolver(params, baseline, data, limit)

    def segments(self, text: str) -> list[Segment]:
        """`text` expanded as segments; raises ExpansionTooLarge past the budget.

        The budget covers everything this attempt expands (its code and its parameter values): the segments
        share memoised values, so the size is checked before anything is joined into one string.
        """
        resolver = self._resolver
        segments, size, _ = resolver.expand(text, ())
        resolver.total += size
        if resolver.total > resolver.limit:
            raise ExpansionTooLarge(resolver.limit)
        return segments

    def text(self, text: str) -> str:
        """`text` expanded to plain text (data pasted): for parameter values, never for code."""
        if "${" not in text:
            return text
        return join_segments(self.segments(text))

    def value_of(self, name: str) -> str:
        """The effective value of parameter `name`: data as given, a trusted value expanded."""
        value = self._resolver.params[name]
        return value if name in self._resolver.data else self.text(value)

    @property
    def warnings(self) -> list[str]:
        """Warnings (each once, in order of first occurrence) for tokens left as written."""
        return list(self._resolver.warnings)


def substitute(text: str, params: Mapping[str, str], baseline: datetime) -> tuple[str, list[str]]:
    """Replace every `${name}` in `text`: user parameters first (recursively), then time expressions.

    Returns the new text and the warnings (each once, in order of first occurrence) for tokens left as
    written. Every parameter is trusted here; see `Substitution` for data. See the module docstring for
    the rules.
    """
    sub = Substitution(params, baseline)
    return sub.text(text), sub.warnings


def legacy_data_names(params: Mapping[str, object]) -> set[str]:
    """Data names of a run stored before provenance was recorded: the file-arrival list (the others were
    trusted then, and an old row keeps that reading rather than failing)."""
    return {"file_arrival_paths"} & params.keys()


def merge_params(*layers: Mapping[str, str | None]) -> dict[str, str]:
    """Flatten parameter layers, later layers overriding earlier ones; None never overrides.

    Callers pass layers lowest first. The order trigflow uses (docs/decisions.md Q-P3, which differs from
    the reference): workflow params, run AdvancedParams, the task's own scheduling params, inputs from
    upstream. An empty string is a value and does override.
    """
    merged: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.items():
            if value is not None:
                merged[key] = value
    return merged


# --------------------------------------------------------------------------------------- output parameters


def _split_assignment(line: str) -> tuple[str, str] | None:
    """`key=value` with the key trimmed and the value verbatim after the first `=` (it may contain `=`)."""
    key, sep, value = line.partition("=")
    key = key.strip()
    if not sep or not key:
        return None
    return key, value


def _lines(text: str) -> list[str]:
    """Lines split on `\\n` only (str.splitlines would also split values on \\x0c, \\u2028, ...), CR dropped."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def parse_outputs(log_text: str, declared: Sequence[str]) -> dict[str, str]:
    """Output values a task printed as `##wedata_output key=value` lines (decisions.md Q-P2).

    The marker must start the line (leading whitespace allowed) and be followed by whitespace; the value is
    kept verbatim (only a CRLF's CR is dropped) so meaningful spaces survive. Undeclared keys are dropped;
    the last line for a key wins.
    """
    wanted = set(declared)
    found: dict[str, str] = {}
    for line in _lines(log_text):
        rest = line.lstrip()
        if not rest.startswith(OUTPUT_MARKER):
            continue
        rest = rest[len(OUTPUT_MARKER) :]
        if not rest[:1].isspace():
            continue
        pair = _split_assignment(rest.lstrip())
        if pair is not None and pair[0] in wanted:
            found[pair[0]] = pair[1]
    return found


def parse_output_file(text: str, declared: Sequence[str]) -> dict[str, str]:
    """Output values from the `key=value` lines of the file named by `WEDATA_OUTPUT_FILE` (Q-P2).

    Lines without `=` (blank lines, comments) are ignored; same key/value rules as `parse_outputs`.
    """
    wanted = set(declared)
    found: dict[str, str] = {}
    for line in _lines(text):
        pair = _split_assignment(line)
        if pair is not None and pair[0] in wanted:
            found[pair[0]] = pair[1]
    return found


# ---------------------------------------------------------------------------------------- input parameters


def resolve_inputs(
    inputs: Sequence[Mapping[str, str]], outputs_by_task: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, str], list[str]]:
    """Values of a task's `ParamTaskInList` from its upstream tasks' outputs in this run.

    `outputs_by_task` maps a task id to the outputs of its latest successful execution in the run
    (Q-P2). A reference that cannot be satisfied (upstream not run, e.g. not selected in a partial run, or
    no such output) resolves to the empty string with a warning (decisions.md Q-R3). `CONSTANT` entries
    belong to For-each nodes, whose loop semantics are unknown (semantics.md §4.8), so they are skipped
    here. A later entry for the same `ParamKey` wins.
    """
    values: dict[str, str] = {}
    warnings: list[str] = []
    for entry in inputs:
        key = entry.get("ParamKey") or ""
        if (entry.get("Type") or "TASK").upper() == "CONSTANT":
            continue
        from_task = entry.get("FromTaskId") or ""
        from_key = entry.get("FromParamKey") or ""
        if not key:
            warnings.append(f"input parameter without ParamKey (from {from_task}.{from_key}) ignored")
            continue
        upstream = outputs_by_task.get(from_task)
        if upstream is None:
            warnings.append(
                f"input parameter {key}: upstream task {from_task} has no successful run in this execution; "
                "using an empty value"
            )
            values[key] = ""
        elif from_key not in upstream:
            warnings.append(
                f"input parameter {key}: upstream task {from_task} produced no output {from_key}; using an empty value"
            )
            values[key] = ""
        else:
            values[key] = upstream[from_key]
    return values, warnings


# ------------------------------------------------------------------------------------------------ baseline


def _zone(tz_name: str) -> tzinfo:
    """An IANA zone, or a fixed offset written `UTC±H[H][[:]MM]` / `GMT±...` (decisions.md Q-TR6).

    `GMT+8` means eight hours *ahead* of UTC, as users write it; the inverted POSIX meaning only applies to
    the IANA names `Etc/GMT+8`, which are passed to zoneinfo unchanged. Offsets are limited to ±18:00
    (java.time's ZoneOffset range).
    """
    name = tz_name.strip()
    m = _ZONE_OFFSET_RE.fullmatch(name)
    if m is not None:
        sign, hours, minutes = m.groups()
        if sign is None:
            return UTC
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if offset > timedelta(hours=18) or int(minutes or 0) >= 60:
            raise InvalidParameterValue(f"time zone offset out of range: {tz_name!r}")
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidParameterValue(f"unknown time zone {tz_name!r}") from None


def baseline_for(schedule_ms: int, tz_name: str) -> datetime:
    """The aware baseline datetime of a run scheduled at epoch `schedule_ms`, seen in zone `tz_name`.

    Raises InvalidParameterValue for a zone that is neither an IANA name nor a `UTC±H[:MM]` offset.
    """
    return (_EPOCH + timedelta(milliseconds=schedule_ms)).astimezone(_zone(tz_name))
