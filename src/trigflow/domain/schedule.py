"""Time triggers: the Quartz cron dialect, next fire times, and validated trigger configurations.

Pure: no clock and no I/O. Every function takes the instant it works from, so the engine, `trigflow triggers
next` and the tests all get the same answers for the same inputs.

The cron dialect (semantics.md §2.2, decisions.md Q-TR5) is Quartz's `CronExpression`:

* 6 or 7 whitespace-separated fields `seconds minutes hours day-of-month month day-of-week [year]`; a missing
  year means every year. More than 7 fields is refused, as Quartz does.
* Values: seconds/minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or
  SUN-SAT with **1 = SUN … 7 = SAT** (Quartz numbering, not Unix cron's 0-6), year 1970-2099. Letters are
  case-insensitive; names are the three-letter forms only.
* In every field: `*`, `n`, `a-b`, `a/n` (from a to the field's maximum in steps of n, so month `7/6` is
  July only), `*/n` (from the field's minimum), `a-b/n`, and comma lists of these. A range may overflow
  (`22-2` hours, `NOV-FEB`, `FRI-MON`), as in Quartz, except in the year field. Steps are 1 up to Quartz's
  limits (59 for seconds/minutes, 23 hours, 31 day-of-month, 12 month, 7 day-of-week; 129 for years). A
  step of 0, which Quartz silently turns into "every value", is refused.
* `?` ("no specific value") is allowed only as the whole day-of-month or day-of-week field, and **exactly
  one of the two must be `?`**. That is Quartz's parser, not a guess: it throws "Support for specifying
  both a day-of-week AND a day-of-month parameter is not implemented" whenever neither is `?`, even when
  one of them is `*` (`0 0 0 * * *` is invalid Quartz), and "'?' can only be specified for Day-of-Month
  -OR- Day-of-Week" when both are.
* Day-of-month also takes `L` (last day), `L-n` (n = 0-30 days before the last day), `nW` (the weekday
  nearest day n), `LW` and `L-nW`, and may mix them with plain days in a list (current Quartz keeps `W`
  days in a separate set and fires on the union). `nW` never leaves the month: a Saturday 1st moves to
  Monday the 3rd, a Sunday last day to Friday. A day that does not exist in a month (31 in April, `31W`
  in April, `L-30` in February) does not fire that month.
* Day-of-week also takes `L` alone (= 7, Saturday, exactly as Quartz), `nL` (last day n of the month,
  `6L` = last Friday) and `n#k` (k-th day n of the month, k = 1-5; no fire in a month without a k-th
  one). `nL` and `n#k` must be the whole field: Quartz refuses `L` and several `#` in lists and its
  documentation says `#` allows a single expression; `W` must follow a single day number.
* Quartz quietly accepts some malformed text (`MON-FRI/2` drops the step, `1-5W` drops the `W`, extra
  characters after a name); here those are either given their obvious meaning (`MON-FRI/2` steps, names
  and numbers may be mixed in a range) or refused with a message that names the field and the token.

Fire instants (`next_fire`). The cron is evaluated on the wall clock of the zone it is given. A fire time
is a wall time matching every field, turned into an instant. The two DST cases follow Quartz (its FAQ on
daylight saving: a daily 2:15 am trigger "will be skipped" on the spring-forward day, and an every-15-minutes
trigger has "an hour of time for which no triggerings occur" on the fall-back day; that is also what
`CronExpression.getTimeAfter` with `setCalendarHour` computes; Spring's `CronExpression` and robfig/cron skip
gap times too), with the one Quartz oddity removed: Quartz's docs warn that a repeated time may fire twice
in some cases, which never happens here. Vixie cron's alternative (run gap jobs right after the jump) was
not taken: it is not Quartz, and it would put several nominal times on one instant.

* **Spring-forward gap: a wall time that does not exist that day is skipped.** A daily `0 30 2 * * ?` in
  America/New_York does not fire on the day clocks jump from 02:00 to 03:00; it fires 02:30 the day before
  and the day after. Nothing is moved to 03:00, so no run is created for a nominal time that never
  happened, and a job that also matches 03:00 is not fired twice at 03:00.
* **Fall-back overlap: a wall time that occurs twice fires once, at its first occurrence.** During the
  repeated hour nothing fires a second time (Quartz: "all of the firings during the one o'clock hour
  have already occurred"), so an every-15-minutes cron has a one-hour pause in real time.

So every nominal wall time fires at most once, fire instants strictly increase, and a time that occurs
once always fires. Fire instants are whole seconds; `next_fire(cron, after)` is the first one strictly
after `after` (sub-second parts of `after` are honoured). With no year left (the year field is exhausted,
or after 2099) it returns None.

Trigger configurations (`compile_trigger`, actions.md WorkflowTriggerConfig). Readings chosen where the
reference is silent; each is pinned by a unit test:

* `TriggerMode` defaults to `TIME_TRIGGER` (the only mode CreateTriggerWorkflow lists); `CONTINUE_RUN` is
  refused with `UnsupportedOperation` (api-notes 26). `SchedulerStatus` defaults to `ACTIVE`.
* `ScheduleTimeZone` is an IANA name or `UTC±H[:MM]`, parsed by the same code as run baselines
  (params.baseline_for), and kept as given (Q-TR6); an empty or missing zone means `default_tz`.
* `StartTime`/`EndTime` are `yyyy-MM-dd HH:mm:ss` wall times in the trigger's zone, or epoch-millisecond
  strings (how WeData echoes them); both ends of the window are inclusive; missing means unbounded;
  EndTime before StartTime is refused. A wall time in a DST gap is pushed forward by the gap and an
  ambiguous one takes the earlier instant (java.time's rule, as in params.py).
* The cron string decides fire times; `CycleType` and `ConfigMode` are labels (Q-TR5). Without a
  `CrontabExpression`, `ConfigMode` COMMON (or absent) uses a default per CycleType (`DEFAULT_CRONS`:
  daily at 00:00, hourly on the hour, weekly Monday 00:00, monthly on the 1st, yearly on 1 January);
  MINUTE_CYCLE and CRONTAB_CYCLE have no default interval and are refused, as is CRON_EXPRESSION.
* ONEOFF_CYCLE (Q-TR7) fires exactly once: at the cron's first fire instant at or after StartTime (and not
  after EndTime), or at StartTime itself when there is no expression. It needs a StartTime: without one
  "the first instant" would drift with the clock and fire again and again.
* `SchedulerStatus` is recorded, not applied: `next_fire_ms` and `fires_between` give the nominal
  schedule and the caller decides whether a PAUSED trigger creates runs (Q-TR3: it never does).
* FILE_ARRIVAL (semantics.md §2.3): `FileArrivalPath` non-empty; `FileNamePattern` optional (absent or
  empty matches every name) and made of literal characters and `*` only: `/` and `\\` (separators) and
  `? [ ] { }` (glob syntax that `*`-only matching would take literally) and control characters are
  refused; `Recursive` 0/1 (default 1); `TriggerMinimumInterval` 1-1440 and `TriggerWaitTime` 1-60
  minutes, falling back to the deprecated `...Second` fields (1-86400 and 1-3600 seconds) and then to the
  smallest allowed value, 1 minute. Such a spec has no cron and no fire times.
* `ExtraInfo` is opaque (WeData: the config serialised as JSON) except for trigflow's own key
  `catchUpMaxFires` (decisions.md Q-TR3), read by `catch_up_max_fires`: when ExtraInfo is a JSON object
  holding that key, it must be an integer 0-MAX_CATCH_UP (`1e400`, `2.5`, `"3"`, `true` are refused), so
  nothing the scheduler reads later can be out of range. Text that is not a JSON object is left alone.
"""

from __future__ import annotations

import bisect
import calendar
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from trigflow.domain.errors import InvalidParameterValue, UnsupportedOperation
from trigflow.domain.params import baseline_for

__all__ = [
    "DEFAULT_CRONS",
    "FILE_ARRIVAL",
    "MAX_CATCH_UP",
    "MAX_YEAR",
    "MIN_YEAR",
    "ONEOFF_CYCLE",
    "TIME_TRIGGER",
    "DayOfMonth",
    "DayOfWeek",
    "FileArrivalSpec",
    "QuartzCron",
    "TriggerSpec",
    "catch_up_max_fires",
    "compile_trigger",
    "fires_between",
    "iana_name",
    "next_fire",
    "next_fire_ms",
    "parse_quartz",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_ONE_S = timedelta(seconds=1)
MIN_YEAR = 1970
MAX_YEAR = 2099
MAX_CATCH_UP = 100  # ExtraInfo catchUpMaxFires: missed fires one trigger may replay after a restart

# ------------------------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class DayOfMonth:
    """A day-of-month field that is not `?`: the union of its plain days and its `L`/`W` forms."""

    days: frozenset[int] = frozenset()  # plain days 1-31
    last_offsets: frozenset[int] = frozenset()  # `L` (0) and `L-n` (n)
    nearest_weekdays: frozenset[int] = frozenset()  # `nW`
    last_nearest_weekdays: frozenset[int] = frozenset()  # `LW` (0) and `L-nW` (n)


@dataclass(frozen=True)
class DayOfWeek:
    """A day-of-week field that is not `?`, in Quartz numbering (1 = SUN … 7 = SAT)."""

    days: frozenset[int]
    nth: int = 0  # `n#k`: k (1-5); `days` then holds exactly n
    last: bool = False  # `nL`: the last day n of the month; `days` then holds exactly n


@dataclass(frozen=True)
class QuartzCron:
    """A parsed Quartz cron expression. Exactly one of `day_of_month` / `day_of_week` is None (`?`)."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_of_month: DayOfMonth | None
    months: tuple[int, ...]
    day_of_week: DayOfWeek | None
    years: tuple[int, ...]

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """The days of `month` of `year` on which the day fields match (month and year not checked)."""
        return _days_in(self.day_of_month, self.day_of_week, year, month)

    def __str__(self) -> str:
        return self.expression


# ---------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Field:
    name: str
    lo: int
    hi: int
    max_step: int
    names: Mapping[str, int] = field(default_factory=dict)
    hint: str = ""  # how names / numbering read, for messages


_MONTH_NAMES = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_SECONDS = _Field("seconds", 0, 59, 59)
_MINUTES = _Field("minutes", 0, 59, 59)
_HOURS = _Field("hours", 0, 23, 23)
_DOM = _Field("day-of-month", 1, 31, 31)
_MONTH = _Field("month", 1, 12, 12, _MONTH_NAMES, " (or JAN-DEC)")
_DOW = _Field("day-of-week", 1, 7, 7, _DAY_NAMES, " (1=SUN ... 7=SAT, or SUN-SAT)")
_YEAR = _Field("year", MIN_YEAR, MAX_YEAR, MAX_YEAR - MIN_YEAR)

_NUMBER_RE = re.compile(r"[0-9]+")
_L_OFFSET_RE = re.compile(r"L-([0-9]+)(W?)", re.IGNORECASE | re.ASCII)
_NEAREST_RE = re.compile(r"([0-9]+)W", re.IGNORECASE | re.ASCII)
_DOW_LAST_RE = re.compile(r"([0-9]+|[A-Z]+)L", re.IGNORECASE | re.ASCII)
_DOW_NTH_RE = re.compile(r"([0-9]+|[A-Z]+)#([0-9]*)", re.IGNORECASE | re.ASCII)
_MAX_L_OFFSET = 30


class _Parser:
    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, f: _Field, message: str) -> InvalidParameterValue:
        return InvalidParameterValue(f"{self.label} field '{f.name}' {message}")

    def value(self, f: _Field, text: str, token: str) -> int:
        if _NUMBER_RE.fullmatch(text):
            v = int(text)
        elif text.upper() in f.names:
            v = f.names[text.upper()]
        elif not text:
            raise self.fail(f, f"has an incomplete token {token!r}")
        elif f.names and text.isalpha():
            raise self.fail(f, f"has an unknown name {text!r} in {token!r}: expected {f.lo}-{f.hi}{f.hint}")
        else:
            raise self.fail(f, f"has an invalid value {text!r} in {token!r}: expected a number {f.lo}-{f.hi}{f.hint}")
        if not f.lo <= v <= f.hi:
            where = "" if token == text else f" in {token!r}"
            raise self.fail(f, f"value {text}{where} is out of range {f.lo}-{f.hi}{f.hint}")
        return v

    def step(self, f: _Field, text: str, token: str) -> int:
        if not _NUMBER_RE.fullmatch(text):
            raise self.fail(f, f"step {text!r} in {token!r} must be a number 1-{f.max_step}")
        n = int(text)
        if not 1 <= n <= f.max_step:
            raise self.fail(f, f"step {text} in {token!r} is out of range 1-{f.max_step}")
        return n

    def item(self, f: _Field, token: str) -> set[int]:
        """`*`, `*/n` (or `/n`), `a`, `a/n`, `a-b`, `a-b/n`: the set of values it turns on."""
        if "?" in token:
            raise self.fail(f, f"token {token!r} is not valid: '?' must be the whole day-of-month or day-of-week field")
        if "#" in token:
            raise self.fail(f, f"token {token!r} is not valid: only day-of-week allows '#' (n#k, as the whole field)")
        if not f.names and "L" in token.upper():
            raise self.fail(f, f"token {token!r} is not valid: only day-of-month and day-of-week allow 'L'")
        if not f.names and "W" in token.upper():
            raise self.fail(f, f"token {token!r} is not valid: only day-of-month allows 'W', after a single day")
        base, slash, step_text = token.partition("/")
        step = self.step(f, step_text, token) if slash else 1
        if base == "*" or (slash and not base):  # Quartz reads `/n` as `*/n`
            lo, hi = f.lo, f.hi
        elif "-" in base:
            a, _, b = base.partition("-")
            lo, hi = self.value(f, a, token), self.value(f, b, token)
        else:
            lo = self.value(f, base, token)
            hi = f.hi if slash else lo
        if lo <= hi:
            return set(range(lo, hi + 1, step))
        if f is _YEAR:
            raise self.fail(f, f"range {token!r} runs backwards (only non-year ranges may overflow)")
        size = f.hi - f.lo + 1  # an overflowing range: 22-2 is 22, 23, 0, 1, 2
        return {(v - f.lo) % size + f.lo for v in range(lo, hi + size + 1, step)}

    def plain(self, f: _Field, text: str) -> tuple[int, ...]:
        values: set[int] = set()
        for token in self.tokens(f, text):
            values |= self.item(f, token)
        return tuple(sorted(values))

    def tokens(self, f: _Field, text: str) -> list[str]:
        tokens = text.split(",")
        if any(not t for t in tokens):
            raise self.fail(f, f"{text!r} has an empty list item")
        return tokens

    def day_of_month(self, text: str) -> DayOfMonth | None:
        f = _DOM
        if text == "?":
            return None
        if "?" in text:
            raise self.fail(f, f"{text!r}: '?' must be the whole field")
        days: set[int] = set()
        last: set[int] = set()
        nearest: set[int] = set()
        last_nearest: set[int] = set()
        for token in self.tokens(f, text):
            upper = token.upper()
            if upper in ("L", "LW"):
                (last if upper == "L" else last_nearest).add(0)
            elif m := _L_OFFSET_RE.fullmatch(token):
                n = int(m.group(1))
                if n > _MAX_L_OFFSET:
                    raise self.fail(f, f"offset {m.group(1)} in {token!r} is out of range 0-{_MAX_L_OFFSET}")
                (last_nearest if m.group(2) else last).add(n)
            elif m := _NEAREST_RE.fullmatch(token):
                nearest.add(self.value(f, m.group(1), token))
            elif "L" in upper:
                raise self.fail(f, f"token {token!r} is not valid: 'L' must be written L, L-n, LW or L-nW")
            elif "W" in upper:
                raise self.fail(f, f"token {token!r} is not valid: 'W' must follow a single day number (nW)")
            else:
                days |= self.item(f, token)
        return DayOfMonth(frozenset(days), frozenset(last), frozenset(nearest), frozenset(last_nearest))

    def day_of_week(self, text: str) -> DayOfWeek | None:
        f = _DOW
        if text == "?":
            return None
        if "?" in text:
            raise self.fail(f, f"{text!r}: '?' must be the whole field")
        tokens = self.tokens(f, text)
        for token in tokens:
            special = "L" in token.upper() or "#" in token
            if special and len(tokens) > 1:
                raise self.fail(f, f"token {token!r} cannot be combined with other values in a list")
        first = tokens[0]
        if first.upper() == "L":  # by itself, 'L' is simply 7 (SAT)
            return DayOfWeek(frozenset({7}))
        if m := _DOW_LAST_RE.fullmatch(first):
            return DayOfWeek(frozenset({self.value(f, m.group(1), first)}), last=True)
        if m := _DOW_NTH_RE.fullmatch(first):
            day = self.value(f, m.group(1), first)
            k = m.group(2)
            if not _NUMBER_RE.fullmatch(k) or not 1 <= int(k) <= 5:
                raise self.fail(f, f"token {first!r}: the occurrence after '#' must be a number 1-5")
            return DayOfWeek(frozenset({day}), nth=int(k))
        if "L" in first.upper() or "#" in first:
            raise self.fail(f, f"token {first!r} is not valid: write 'nL' (last) or 'n#k' (k-th) for one day n")
        return DayOfWeek(frozenset(self.plain(f, text)))


def parse_quartz(expr: str, *, label: str = "CrontabExpression") -> QuartzCron:
    """Parse a Quartz cron expression (see the module docstring for the dialect).

    Raises InvalidParameterValue naming `label`, the field and the offending token, e.g.
    "CrontabExpression field 'hours' value 24 is out of range 0-23".
    """
    if not isinstance(expr, str):
        raise InvalidParameterValue(f"{label} must be a string, got {type(expr).__name__}")
    fields = expr.split()
    if len(fields) not in (6, 7):
        raise InvalidParameterValue(
            f"{label} must have 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), "
            f"got {len(fields)}: {expr!r}"
        )
    if len(fields) == 6:
        fields.append("*")
    p = _Parser(label)
    seconds, minutes, hours = p.plain(_SECONDS, fields[0]), p.plain(_MINUTES, fields[1]), p.plain(_HOURS, fields[2])
    dom = p.day_of_month(fields[3])
    months = p.plain(_MONTH, fields[4])
    dow = p.day_of_week(fields[5])
    years = p.plain(_YEAR, fields[6])
    if dom is None and dow is None:
        raise InvalidParameterValue(
            f"{label} field 'day-of-week' '?' is not allowed when day-of-month is also '?': "
            "exactly one of day-of-month and day-of-week must be '?'"
        )
    if dom is not None and dow is not None:
        raise InvalidParameterValue(
            f"{label} field 'day-of-week' {fields[5]!r} and field 'day-of-month' {fields[3]!r} are both "
            "specified: exactly one of them must be '?' (Quartz does not support both), e.g. '0 0 0 * * ? *'"
        )
    return QuartzCron(
        expression=" ".join(expr.split()),
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        day_of_month=dom,
        months=months,
        day_of_week=dow,
        years=years,
    )


# ------------------------------------------------------------------------------------------ evaluation


def _nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """The weekday (Mon-Fri) nearest `day`, without leaving the month."""
    wd = date(year, month, day).weekday()  # Mon=0 … Sun=6
    if wd == 5:  # Saturday: Friday before, unless that is last month
        return day - 1 if day > 1 else day + 2
    if wd == 6:  # Sunday: Monday after, unless that is next month
        return day + 1 if day < last else day - 2
    return day


@lru_cache(maxsize=4096)
def _days_in(dom: DayOfMonth | None, dow: DayOfWeek | None, year: int, month: int) -> tuple[int, ...]:
    first_wd, last = calendar.monthrange(year, month)  # weekday of the 1st (Mon=0), days in month
    out: set[int] = set()
    if dom is not None:
        out.update(d for d in dom.days if d <= last)
        out.update(last - n for n in dom.last_offsets if last - n >= 1)
        out.update(_nearest_weekday(year, month, d, last) for d in dom.nearest_weekdays if d <= last)
        out.update(_nearest_weekday(year, month, last - n, last) for n in dom.last_nearest_weekdays if last - n >= 1)
    elif dow is not None:
        quartz_first = (first_wd + 1) % 7 + 1  # Mon=0 -> 2 (MON), Sun=6 -> 1 (SUN)
        matching = [d for d in range(1, last + 1) if (quartz_first + d - 2) % 7 + 1 in dow.days]
        if dow.last:
            out.update(matching[-1:])
        elif dow.nth:
            out.update(matching[dow.nth - 1 : dow.nth])
        else:
            out.update(matching)
    return tuple(sorted(out))


def _from(values: tuple[int, ...], lower: int, bounded: bool) -> tuple[int, ...]:
    return values[bisect.bisect_left(values, lower) :] if bounded else values


def _walls_from(cron: QuartzCron, start: datetime) -> Iterator[datetime]:
    """Every naive wall time >= `start` that matches all fields, in order."""
    for y in _from(cron.years, start.year, True):
        in_y = y == start.year
        for mo in _from(cron.months, start.month, in_y):
            in_mo = in_y and mo == start.month
            for d in _from(cron.days_in(y, mo), start.day, in_mo):
                in_d = in_mo and d == start.day
                for h in _from(cron.hours, start.hour, in_d):
                    in_h = in_d and h == start.hour
                    for mi in _from(cron.minutes, start.minute, in_h):
                        in_mi = in_h and mi == start.minute
                        for s in _from(cron.seconds, start.second, in_mi):
                            yield datetime(y, mo, d, h, mi, s)


def _first_instant(wall: datetime, tz: tzinfo) -> datetime | None:
    """The first instant showing `wall` in `tz`, or None when that wall time does not exist (DST gap)."""
    back = wall.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)
    return back if back.replace(tzinfo=None) == wall else None


def next_fire(cron: QuartzCron, after: datetime) -> datetime | None:
    """The first fire instant strictly after the aware `after`, on the wall clock of `after`'s zone.

    Gap wall times are skipped; a repeated wall time fires at its first occurrence only (module
    docstring). The result is in `after`'s zone; None when the expression has no later fire time.
    """
    tz = after.tzinfo
    if tz is None or after.utcoffset() is None:
        raise ValueError("next_fire needs an aware datetime")
    if after.year > MAX_YEAR:
        return None
    if after.year < MIN_YEAR - 1:  # nothing fires before 1970; keeps the UTC arithmetic in range
        after = datetime(MIN_YEAR - 1, 1, 1, tzinfo=tz)
    first = after.astimezone(UTC).replace(microsecond=0) + _ONE_S  # fire instants are whole seconds
    # Start at the wall clock of `first`. Wall times map to instants monotonically (a repeated wall time maps
    # to its first occurrence), so nothing earlier can be later than `after`; when `after` lies in the
    # second pass of a repeated hour, the candidates up to the end of the overlap map to instants before
    # it and are passed over.
    start = first.astimezone(tz).replace(tzinfo=None)
    for candidate in _walls_from(cron, start):
        instant = _first_instant(candidate, tz)
        # Compare in UTC: aware datetimes sharing a tzinfo compare by wall clock, ignoring fold.
        if instant is not None and instant.astimezone(UTC) >= first:
            return instant
    return None


# --------------------------------------------------------------------------------------------- time zones

# Q-TR6: `UTC±H[:MM]` offsets reported under the IANA name whose offset has been exactly that, with no DST,
# since 1992 (Asia/Shanghai last observed DST in 1991). UTC+8 -> Asia/Shanghai is the decision's example;
# the others are the obvious single zone of their offset in Tencent Cloud's regions. Anything else is kept.
_IANA_FOR_OFFSET: dict[timedelta, str] = {
    timedelta(0): "UTC",
    timedelta(hours=5, minutes=30): "Asia/Kolkata",
    timedelta(hours=7): "Asia/Bangkok",
    timedelta(hours=8): "Asia/Shanghai",
    timedelta(hours=9): "Asia/Tokyo",
}


def _zone(tz_name: str, path: str) -> tzinfo:
    """The zone of an IANA name or `UTC±H[:MM]`, via the run-baseline parser (params.baseline_for)."""
    if not isinstance(tz_name, str):
        raise InvalidParameterValue(f"{path} must be a string, got {type(tz_name).__name__}")
    try:
        zone = baseline_for(0, tz_name).tzinfo
    except InvalidParameterValue as e:
        raise InvalidParameterValue(f"{path}: {e.message}") from None
    assert zone is not None
    return zone


def iana_name(tz: str) -> str:
    """The IANA equivalent of a `UTC±H[:MM]` zone when there is an unambiguous one, else `tz` unchanged."""
    try:
        zone = baseline_for(0, tz).tzinfo
    except InvalidParameterValue:
        return tz
    if isinstance(zone, timezone):
        offset = zone.utcoffset(None)
        return _IANA_FOR_OFFSET.get(offset, tz)
    return tz


# ------------------------------------------------------------------------------------------- triggers

TIME_TRIGGER = "TIME_TRIGGER"
FILE_ARRIVAL = "FILE_ARRIVAL"
ONEOFF_CYCLE = "ONEOFF_CYCLE"

# ConfigMode COMMON without a CrontabExpression (Q-TR5: the form's default schedule per cycle).
DEFAULT_CRONS: Mapping[str, str] = {
    "YEAR_CYCLE": "0 0 0 1 1 ? *",
    "MONTH_CYCLE": "0 0 0 1 * ? *",
    "WEEK_CYCLE": "0 0 0 ? * MON *",
    "DAY_CYCLE": "0 0 0 * * ? *",
    "HOUR_CYCLE": "0 0 * * * ? *",
}
_MODES = (TIME_TRIGGER, FILE_ARRIVAL)
_STATUSES = ("ACTIVE", "PAUSED")
_CONFIG_MODES = ("COMMON", "CRON_EXPRESSION")
_CYCLE_TYPES = (
    "ONEOFF_CYCLE", "YEAR_CYCLE", "MONTH_CYCLE", "WEEK_CYCLE", "DAY_CYCLE", "HOUR_CYCLE", "MINUTE_CYCLE",
    "CRONTAB_CYCLE",
)  # fmt: skip
_WALL_FORMAT = "%Y-%m-%d %H:%M:%S"
_WALL_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_PATTERN_FORBIDDEN = frozenset("/\\?[]{}")


@dataclass(frozen=True)
class FileArrivalSpec:
    """A validated FILE_ARRIVAL configuration (semantics.md §2.3); intervals in seconds."""

    path: str
    name_pattern: str | None  # None: every file name
    recursive: bool
    min_interval_s: int
    wait_s: int


@dataclass(frozen=True)
class TriggerSpec:
    """One validated WorkflowTriggerConfig. Times are epoch ms; `start_ms`/`end_ms` bound an inclusive window."""

    trigger_id: str | None
    mode: str  # TIME_TRIGGER or FILE_ARRIVAL
    status: str  # ACTIVE or PAUSED (recorded; not applied by next_fire_ms)
    time_zone: str  # as given (Q-TR6), or the default
    tz: tzinfo
    config_mode: str | None
    cycle_type: str | None
    cron_expression: str | None  # the expression that drives firing (given, or the CycleType default)
    cron: QuartzCron | None
    start_ms: int | None
    end_ms: int | None
    oneoff_ms: int | None = None  # ONEOFF_CYCLE: the single fire instant (None: it never fires)
    file_arrival: FileArrivalSpec | None = None

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    @property
    def oneoff(self) -> bool:
        return self.mode == TIME_TRIGGER and self.cycle_type == ONEOFF_CYCLE

    @property
    def iana_time_zone(self) -> str:
        return iana_name(self.time_zone)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _text(config: Mapping[str, Any], key: str, path: str) -> str | None:
    """An optional string field; None and "" both mean absent."""
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterValue(f"{_join(path, key)} must be a string, got {type(value).__name__}")
    return value.strip() or None


def _enum(config: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(config, key, path)
    if value is not None and value not in allowed:
        raise InvalidParameterValue(f"{_join(path, key)} must be one of {list(allowed)}, got {value!r}")
    return value


def _instant(config: Mapping[str, Any], key: str, path: str, tz: tzinfo) -> int | None:
    """`yyyy-MM-dd HH:mm:ss` in `tz`, or an epoch-ms string (or integer), as epoch ms."""
    where = _join(path, key)
    raw = config.get(key)
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, str):
        text = raw.strip()
    else:
        raise InvalidParameterValue(f"{where} must be a string, got {type(raw).__name__}")
    try:
        if text.isascii() and text.isdigit():
            moment = _EPOCH + int(text) * _ONE_MS
        elif _WALL_RE.fullmatch(text):
            wall = datetime.strptime(text, _WALL_FORMAT)
            moment = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)  # a gap time moves forward by the gap
        else:
            raise ValueError(text)
    except (ValueError, OverflowError):
        raise InvalidParameterValue(
            f"{where} must be 'yyyy-MM-dd HH:mm:ss' or epoch milliseconds, got {raw!r}"
        ) from None
    return (moment - _EPOCH) // _ONE_MS


def _int(config: Mapping[str, Any], key: str, path: str, lo: int, hi: int) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{_join(path, key)} must be an integer {lo}-{hi}, got {value!r}")
    if not lo <= value <= hi:
        raise InvalidParameterValue(f"{_join(path, key)} must be in {lo}-{hi}, got {value}")
    return value


def _file_arrival(config: Mapping[str, Any], path: str) -> FileArrivalSpec:
    watched = _text(config, "FileArrivalPath", path)
    if watched is None:
        raise InvalidParameterValue(f"{_join(path, 'FileArrivalPath')} is required for TriggerMode FILE_ARRIVAL")
    pattern = _text(config, "FileNamePattern", path)
    if pattern is not None:
        bad = sorted({c for c in pattern if c in _PATTERN_FORBIDDEN or ord(c) < 32 or ord(c) == 127})
        if bad:
            raise InvalidParameterValue(
                f"{_join(path, 'FileNamePattern')} may hold only literal characters and '*', "
                f"got {pattern!r} (not allowed: {''.join(bad)!r})"
            )
    recursive = _int(config, "Recursive", path, 0, 1)
    interval_min = _int(config, "TriggerMinimumInterval", path, 1, 1440)
    wait_min = _int(config, "TriggerWaitTime", path, 1, 60)
    interval_s = _int(config, "TriggerMinimumIntervalSecond", path, 1, 86400)
    wait_s = _int(config, "TriggerWaitTimeSecond", path, 1, 3600)
    return FileArrivalSpec(
        path=watched,
        name_pattern=pattern,
        recursive=recursive != 0,
        min_interval_s=interval_min * 60 if interval_min is not None else interval_s or 60,
        wait_s=wait_min * 60 if wait_min is not None else wait_s or 60,
    )


def _bounded_int(literal: str) -> int | float:
    """A JSON integer literal; an absurdly long one becomes inf (refused as a value, not a crash)."""
    return int(literal) if len(literal) <= 40 else float("inf")


def catch_up_max_fires(config: Mapping[str, Any], path: str = "") -> int:
    """`ExtraInfo`'s `catchUpMaxFires` (0 when absent); InvalidParameterValue naming the key when it is
    present but not an integer 0-MAX_CATCH_UP. The save path calls it to refuse; the scheduler calls it
    too and treats a refusal (a row saved before this check) as 0."""
    where = _join(path, "ExtraInfo")
    raw = config.get("ExtraInfo")
    if raw is None or raw == "":
        return 0
    if not isinstance(raw, str):
        raise InvalidParameterValue(f"{where} must be a string, got {type(raw).__name__}")
    try:
        extra = json.loads(raw, parse_int=_bounded_int)
    except (ValueError, RecursionError):
        return 0  # opaque text: not ours to read
    if not isinstance(extra, dict) or "catchUpMaxFires" not in extra:
        return 0
    n = extra["catchUpMaxFires"]
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_CATCH_UP:
        raise InvalidParameterValue(
            f"{where}.catchUpMaxFires must be an integer 0-{MAX_CATCH_UP}, got {json.dumps(n)[:40]}"
        )
    return n


def compile_trigger(
    config: Mapping[str, Any], default_tz: str, *, path: str = "", strict: bool = True
) -> TriggerSpec:
    """Validate one WorkflowTriggerConfig (wire field names) into a TriggerSpec.

    `strict=False` (the scheduler reading stored rows) skips the checks whose failure has a harmless
    default (ExtraInfo), so a row saved before a check existed still fires.

    `default_tz` applies when ScheduleTimeZone is absent. Every refusal is InvalidParameterValue naming the
    field as `path.Field` (e.g. path "TriggerWorkflowSchedulerConfigurations.0"), except CONTINUE_RUN,
    which is UnsupportedOperation.
    """
    if not isinstance(config, Mapping):
        raise InvalidParameterValue(f"{path or 'WorkflowTriggerConfig'} must be an object")
    if config.get("TriggerMode") == "CONTINUE_RUN":
        raise UnsupportedOperation(f"{_join(path, 'TriggerMode')} CONTINUE_RUN is not supported")
    mode = _enum(config, "TriggerMode", path, _MODES) or TIME_TRIGGER
    status = _enum(config, "SchedulerStatus", path, _STATUSES) or "ACTIVE"
    config_mode = _enum(config, "ConfigMode", path, _CONFIG_MODES)
    cycle_type = _enum(config, "CycleType", path, _CYCLE_TYPES)
    trigger_id = _text(config, "TriggerId", path)
    if strict:
        catch_up_max_fires(config, path)
    zone_name = _text(config, "ScheduleTimeZone", path)
    if zone_name is None:
        tz = _zone(default_tz, _join(path, "ScheduleTimeZone"))
        zone_name = default_tz
    else:
        tz = _zone(zone_name, _join(path, "ScheduleTimeZone"))
    start_ms = _instant(config, "StartTime", path, tz)
    end_ms = _instant(config, "EndTime", path, tz)
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise InvalidParameterValue(
            f"{_join(path, 'EndTime')} {config.get('EndTime')!r} is before StartTime {config.get('StartTime')!r}"
        )
    spec = TriggerSpec(
        trigger_id=trigger_id, mode=mode, status=status, time_zone=zone_name, tz=tz, config_mode=config_mode,
        cycle_type=cycle_type, cron_expression=None, cron=None, start_ms=start_ms, end_ms=end_ms,
    )  # fmt: skip
    if mode == FILE_ARRIVAL:
        return replace(spec, file_arrival=_file_arrival(config, path))

    cron_path = _join(path, "CrontabExpression")
    expression = _text(config, "CrontabExpression", path)
    if expression is None:
        if config_mode == "CRON_EXPRESSION":
            raise InvalidParameterValue(f"{cron_path} is required when ConfigMode is CRON_EXPRESSION")
        if cycle_type is not None and cycle_type in DEFAULT_CRONS:
            expression = DEFAULT_CRONS[cycle_type]
        elif cycle_type != ONEOFF_CYCLE:
            raise InvalidParameterValue(
                f"{cron_path} is required"
                + (f" for CycleType {cycle_type} (it has no default schedule)" if cycle_type else "")
            )
    cron = parse_quartz(expression, label=cron_path) if expression is not None else None
    oneoff_ms = None
    if cycle_type == ONEOFF_CYCLE:
        if start_ms is None:
            raise InvalidParameterValue(f"{_join(path, 'StartTime')} is required for CycleType ONEOFF_CYCLE")
        first = start_ms if cron is None else _next_cron_ms(cron, tz, start_ms - 1)
        oneoff_ms = first if first is not None and (end_ms is None or first <= end_ms) else None
    return replace(spec, cron_expression=expression, cron=cron, oneoff_ms=oneoff_ms)


_FIRST_MS = (datetime(MIN_YEAR - 1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS
_LAST_MS = (datetime(MAX_YEAR + 1, 1, 2, tzinfo=UTC) - _EPOCH) // _ONE_MS  # past 2099 in every zone


def _next_cron_ms(cron: QuartzCron, tz: tzinfo, after_ms: int) -> int | None:
    if after_ms >= _LAST_MS:
        return None
    nxt = next_fire(cron, (_EPOCH + max(after_ms, _FIRST_MS) * _ONE_MS).astimezone(tz))
    return None if nxt is None else (nxt - _EPOCH) // _ONE_MS


def next_fire_ms(spec: TriggerSpec, after_ms: int) -> int | None:
    """The trigger's first nominal fire instant (epoch ms) strictly after `after_ms`, inside its window.

    None for FILE_ARRIVAL, for a fired one-off, and when the schedule is exhausted. SchedulerStatus is not
    applied (the caller decides what a PAUSED trigger does).
    """
    if spec.mode != TIME_TRIGGER:
        return None
    if spec.oneoff:
        return spec.oneoff_ms if spec.oneoff_ms is not None and spec.oneoff_ms > after_ms else None
    if spec.cron is None or (spec.end_ms is not None and after_ms >= spec.end_ms):
        return None
    if spec.start_ms is not None and after_ms < spec.start_ms:
        after_ms = spec.start_ms - 1
    nxt = _next_cron_ms(spec.cron, spec.tz, after_ms)
    if nxt is None or (spec.end_ms is not None and nxt > spec.end_ms):
        return None
    return nxt


def fires_between(spec: TriggerSpec, after_ms: int, until_ms: int, limit: int) -> list[int]:
    """Nominal fire instants in (after_ms, until_ms], oldest first, at most `limit` of them."""
    out: list[int] = []
    cursor = after_ms
    while len(out) < limit:
        nxt = next_fire_ms(spec, cursor)
        if nxt is None or nxt > until_ms:
            break
        out.append(nxt)
        cursor = nxt
    return out
