"""Time triggers (trigflow.domain.schedule): Quartz cron parsing, next fire times, trigger configurations.

Fire times are checked two ways: against hand-computed dates for the documented edge cases, and against an
independent brute-force oracle written here. The oracle shares no code with the module: it reads each cron
field as a literal predicate (`a-b/n` is "a <= v <= b and (v - a) % n == 0", `nW` is "the weekday of the
month closest to n", `6#3` is "a Friday in days 15-21"), then walks real time in 15-minute UTC blocks,
looks at the local wall clock zoneinfo shows for each minute, and fires at every second whose wall clock
matches, except during the second pass over a repeated (fall-back) hour. Wall times in a spring-forward
gap are never shown by the clock, so they never fire. That is the rule the module documents, stated over
instants instead of wall times.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue, UnsupportedOperation
from trigflow.domain.schedule import (
    DEFAULT_CRONS,
    QuartzCron,
    TriggerSpec,
    compile_trigger,
    fires_between,
    iana_name,
    next_fire,
    next_fire_ms,
    parse_quartz,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
SHANGHAI = ZoneInfo("Asia/Shanghai")
SANTIAGO = ZoneInfo("America/Santiago")  # DST changes at midnight: some days have no 00:00
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # +05:45
CST = timezone(timedelta(hours=8))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Q = timedelta(minutes=15)

# ================================================================================================ the oracle

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def _num(text: str, names: list[str]) -> int:
    return int(text) if text.isdigit() else names.index(text) + 1


def _generic(token: str, lo: int, hi: int, names: list[str]) -> Callable[[int], bool]:
    rng, slash, step_text = token.partition("/")
    step = int(step_text) if slash else 1
    if rng in ("*", ""):
        a, b = lo, hi
    elif "-" in rng:
        a_text, b_text = rng.split("-")
        a, b = _num(a_text, names), _num(b_text, names)
    else:
        a = _num(rng, names)
        b = hi if slash else a
    if a <= b:
        return lambda v: a <= v <= b and (v - a) % step == 0
    span = hi - lo + 1  # an overflowing range counts on through the wrap: 22-2/2 is 22, 0, 2
    return lambda v: (v >= a and (v - a) % step == 0) or (v <= b and (v - a + span) % step == 0)


def _any_of(text: str, lo: int, hi: int, names: list[str] | None = None) -> Callable[[int], bool]:
    preds = [_generic(t, lo, hi, names or []) for t in text.split(",")]
    return lambda v: any(p(v) for p in preds)


def _last(y: int, m: int) -> int:
    return calendar.monthrange(y, m)[1]


def _closest_weekday(y: int, m: int, target: int) -> int | None:
    if not 1 <= target <= _last(y, m):
        return None
    weekdays = [d for d in range(1, _last(y, m) + 1) if date(y, m, d).weekday() < 5]
    return min(weekdays, key=lambda d: abs(d - target))


def _dom_item(token: str) -> Callable[[int, int, int], bool]:
    if token == "L":
        return lambda y, m, d: d == _last(y, m)
    if mt := re.fullmatch(r"L-(\d+)", token):
        n = int(mt.group(1))
        return lambda y, m, d: d == _last(y, m) - n
    if mt := re.fullmatch(r"L(?:-(\d+))?W", token):
        n = int(mt.group(1) or 0)
        return lambda y, m, d: d == _closest_weekday(y, m, _last(y, m) - n)
    if mt := re.fullmatch(r"(\d+)W", token):
        n = int(mt.group(1))
        return lambda y, m, d: d == _closest_weekday(y, m, n)
    pred = _generic(token, 1, 31, [])
    return lambda y, m, d: pred(d)


def _dow_pred(text: str) -> Callable[[int, int, int], bool]:
    def quartz_dow(y: int, m: int, d: int) -> int:
        return date(y, m, d).isoweekday() % 7 + 1  # SUN=1 ... SAT=7

    if text == "L":
        return lambda y, m, d: quartz_dow(y, m, d) == 7
    if mt := re.fullmatch(r"(\w+)L", text):
        x = _num(mt.group(1), DAYS)
        return lambda y, m, d: quartz_dow(y, m, d) == x and d + 7 > _last(y, m)
    if mt := re.fullmatch(r"(\w+)#(\d)", text):
        x, k = _num(mt.group(1), DAYS), int(mt.group(2))
        return lambda y, m, d: quartz_dow(y, m, d) == x and (d - 1) // 7 + 1 == k
    pred = _any_of(text, 1, 7, DAYS)
    return lambda y, m, d: pred(quartz_dow(y, m, d))


class Oracle:
    def __init__(self, expr: str) -> None:
        f = expr.upper().split()
        if len(f) == 6:
            f.append("*")
        # The time-of-day predicates, tabulated once (the oracle still evaluates each literally).
        second, minute, hour = _any_of(f[0], 0, 59), _any_of(f[1], 0, 59), _any_of(f[2], 0, 23)
        self.seconds = [timedelta(seconds=s) for s in range(60) if second(s)]
        self.minute_ok = [minute(m) for m in range(60)]
        self.hour_ok = [hour(h) for h in range(24)]
        month = _any_of(f[4], 1, 12, MONTHS)
        year = _any_of(f[6], 1970, 2099)
        if f[3] == "?":
            day = _dow_pred(f[5])
        else:
            items = [_dom_item(t) for t in f[3].split(",")]

            def day(y: int, m: int, d: int) -> bool:
                return any(p(y, m, d) for p in items)

        self.date_ok = functools.cache(lambda d: year(d.year) and month(d.month) and day(d.year, d.month, d.day))

    def fires(self, tz: tzinfo, after: datetime, until: datetime) -> Iterator[datetime]:
        """Every fire instant in (after, until], in order (as UTC datetimes)."""
        t = after.astimezone(UTC).replace(second=0, microsecond=0)
        t -= timedelta(minutes=t.minute % 15)
        while t <= until:
            loc = t.astimezone(tz)
            offset = loc.utcoffset()
            assert offset is not None and offset % Q == timedelta(0) and loc.minute % 15 == 0
            assert (t + Q - timedelta(seconds=1)).astimezone(tz).utcoffset() == offset  # no change mid-block
            if not self.date_ok(loc.date()):
                # Skip most of a non-matching local day; a 2-hour margin absorbs any DST change on the way.
                to_midnight = 24 * 60 - loc.hour * 60 - loc.minute
                t += timedelta(minutes=max(15, to_midnight - 120))
                continue
            if loc.fold == 0 and self.hour_ok[loc.hour]:  # fold 1: second pass over a repeated wall time
                for k in range(15):
                    if self.minute_ok[loc.minute + k]:
                        for s in self.seconds:
                            instant = t + timedelta(minutes=k) + s
                            if after < instant <= until:
                                yield instant
            t += Q


def oracle_fires(expr: str, tz: tzinfo, after: datetime, until: datetime, limit: int = 10**9) -> list[datetime]:
    return list(islice(Oracle(expr).fires(tz, after, until), limit))


def impl_fires(expr: str, tz: tzinfo, after: datetime, until: datetime, limit: int = 10**9) -> list[datetime]:
    cron = parse_quartz(expr)
    out: list[datetime] = []
    cursor: datetime | None = after.astimezone(tz)
    while len(out) < limit:
        assert cursor is not None
        previous = cursor.astimezone(UTC)
        cursor = next_fire(cron, cursor)
        if cursor is None or cursor.astimezone(UTC) > until:
            break
        assert cursor.tzinfo is tz and cursor.microsecond == 0
        assert cursor.astimezone(UTC) > previous, f"{expr}: {cursor} does not come after {previous}"
        out.append(cursor.astimezone(UTC))
    return out


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def nf(expr: str, after: datetime) -> datetime | None:
    return next_fire(parse_quartz(expr), after)


def wall(dt: datetime | None) -> str | None:
    """Local wall clock plus offset: '2025-02-03 00:00:00+08:00'."""
    return None if dt is None else dt.isoformat(sep=" ")


def local(tz: tzinfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=tz, fold=fold)  # type: ignore[misc]


def test_oracle_sanity() -> None:
    """The oracle itself on a few facts checked by hand."""
    fires = oracle_fires("0 0 0 * * ? *", SHANGHAI, utc(2025, 1, 1), utc(2025, 1, 4))
    assert fires == [utc(2025, 1, 1, 16), utc(2025, 1, 2, 16), utc(2025, 1, 3, 16)]
    assert oracle_fires("0 30 2 * * ?", NY, utc(2024, 3, 10), utc(2024, 3, 11)) == []  # the gap day
    once = oracle_fires("0 30 1 * * ?", NY, utc(2024, 11, 3), utc(2024, 11, 4))
    assert once == [utc(2024, 11, 3, 5, 30)]  # 01:30 EDT only
    assert oracle_fires("0 0 0 ? * 6#5", UTC, utc(2025, 2, 1), utc(2025, 6, 1)) == [utc(2025, 5, 30)]


# ================================================================================================ parsing


def test_parses_the_observed_expressions() -> None:
    daily = parse_quartz("0 0 0 * * ? *")
    assert (daily.seconds, daily.minutes, daily.hours) == ((0,), (0,), (0,))
    assert daily.months == tuple(range(1, 13)) and daily.years == tuple(range(1970, 2100))
    assert daily.day_of_week is None and daily.day_of_month is not None
    assert daily.day_of_month.days == frozenset(range(1, 32))
    half_hourly = parse_quartz("0 0/30 0-23 * * ? *")
    assert half_hourly.minutes == (0, 30) and half_hourly.hours == tuple(range(24))
    assert isinstance(half_hourly, QuartzCron) and str(half_hourly) == "0 0/30 0-23 * * ? *"


def test_six_fields_means_every_year_and_whitespace_is_free() -> None:
    six = parse_quartz("  0\t15  10 ? *   mon-FRI ")
    assert six.years == tuple(range(1970, 2100))
    assert six.expression == "0 15 10 ? * mon-FRI"
    seven = parse_quartz("0 15 10 ? * 2-6 *")
    assert (six.seconds, six.minutes, six.hours, six.months, six.years) == (
        seven.seconds, seven.minutes, seven.hours, seven.months, seven.years,
    )  # fmt: skip
    assert (six.day_of_month, six.day_of_week) == (seven.day_of_month, seven.day_of_week)


@pytest.mark.parametrize(
    ("field_text", "index", "expected"),
    [
        ("*/15", 0, (0, 15, 30, 45)),
        ("/20", 0, (0, 20, 40)),  # Quartz reads `/n` as `*/n`
        ("5/15", 0, (5, 20, 35, 50)),
        ("10-30/7", 1, (10, 17, 24)),
        ("1,2,3,10-12", 1, (1, 2, 3, 10, 11, 12)),
        ("22-2", 2, (0, 1, 2, 22, 23)),  # overflowing range
        ("22-2/2", 2, (0, 2, 22)),
        ("23/5", 2, (23,)),
        ("7/6", 4, (7,)),  # "does NOT mean every 6th month" (Quartz docs)
        ("NOV-FEB", 4, (1, 2, 11, 12)),
        ("jan,Mar-may", 4, (1, 3, 4, 5)),
        ("JAN-3/2", 4, (1, 3)),  # names and numbers may be mixed
        ("2020-2030/5", 6, (2020, 2025, 2030)),
        ("2090/4", 6, (2090, 2094, 2098)),
        ("05", 0, (5,)),
    ],
)
def test_plain_fields(field_text: str, index: int, expected: tuple[int, ...]) -> None:
    fields = ["0", "0", "0", "?", "*", "MON", "*"]
    fields[index] = field_text
    cron = parse_quartz(" ".join(fields))
    got = (cron.seconds, cron.minutes, cron.hours, None, cron.months, None, cron.years)[index]
    assert got == expected


@pytest.mark.parametrize(
    ("field_text", "expected"),
    [
        ("1", {1}),  # Quartz: 1 = SUNDAY
        ("7", {7}),
        ("SUN", {1}),
        ("sat", {7}),
        ("MON-FRI", {2, 3, 4, 5, 6}),
        ("FRI-MON", {6, 7, 1, 2}),
        ("MON-FRI/2", {2, 4, 6}),
        ("*/3", {1, 4, 7}),
        ("L", {7}),  # 'L' by itself is SAT
        ("2,WED,6", {2, 4, 6}),
    ],
)
def test_day_of_week_numbering(field_text: str, expected: set[int]) -> None:
    dow = parse_quartz(f"0 0 0 ? * {field_text}").day_of_week
    assert dow is not None and dow.days == frozenset(expected) and not dow.last and dow.nth == 0


def test_day_of_week_numbering_fires_on_the_right_weekday() -> None:
    # 2025-06-01 is a Sunday.
    assert wall(nf("0 0 0 ? * 1", local(UTC, 2025, 5, 30))) == "2025-06-01 00:00:00+00:00"
    assert wall(nf("0 0 0 ? * 7", local(UTC, 2025, 5, 30))) == "2025-05-31 00:00:00+00:00"
    assert wall(nf("0 0 0 ? * 2", local(UTC, 2025, 5, 30))) == "2025-06-02 00:00:00+00:00"


def test_special_day_forms_parse() -> None:
    dom = parse_quartz("0 0 0 1,L,L-3,15W,LW,L-2W * ?").day_of_month
    assert dom is not None
    assert dom.days == {1} and dom.last_offsets == {0, 3}
    assert dom.nearest_weekdays == {15} and dom.last_nearest_weekdays == {0, 2}
    last_friday = parse_quartz("0 0 0 ? * 6L").day_of_week
    assert last_friday is not None and last_friday.last and last_friday.days == {6}
    third = parse_quartz("0 0 0 ? * fri#3").day_of_week
    assert third is not None and third.nth == 3 and third.days == {6}


@pytest.mark.parametrize(
    ("expr", "field", "token"),
    [
        ("60 0 0 * * ?", "seconds", "60"),
        ("0 60 0 * * ?", "minutes", "60"),
        ("0 0 24 * * ?", "hours", "24"),
        ("0 0 0 32 * ?", "day-of-month", "32"),
        ("0 0 0 0 * ?", "day-of-month", "0"),
        ("0 0 0 * 13 ?", "month", "13"),
        ("0 0 0 * 0 ?", "month", "0"),
        ("0 0 0 ? * 0", "day-of-week", "0"),
        ("0 0 0 ? * 8", "day-of-week", "8"),
        ("0 0 0 * * ? 1969", "year", "1969"),
        ("0 0 0 * * ? 2100", "year", "2100"),
        ("0 0 0 * * ? 2030-2020", "year", "2030-2020"),
        ("0 0 0-24 * * ?", "hours", "24"),
        ("0 */0 * * * ?", "minutes", "*/0"),
        ("0 */60 * * * ?", "minutes", "*/60"),
        ("0 0 */24 * * ?", "hours", "*/24"),
        ("0 0 0 */32 * ?", "day-of-month", "*/32"),
        ("0 0 0 * */13 ?", "month", "*/13"),
        ("0 0 0 ? * */8", "day-of-week", "*/8"),
        ("0 0/x * * * ?", "minutes", "0/x"),
        ("0 */ * * * ?", "minutes", "*/"),
        ("0 5- * * * ?", "minutes", "5-"),
        ("0 -5 * * * ?", "minutes", "-5"),
        ("0 1-2-3 * * * ?", "minutes", "1-2-3"),
        ("0 1,,2 * * * ?", "minutes", "1,,2"),
        ("0 1, * * * ?", "minutes", "1,"),
        ("0 *5 * * * ?", "minutes", "*5"),
        ("0 MON * * * ?", "minutes", "MON"),
        ("0 0 0 * FOO ?", "month", "FOO"),
        ("0 0 0 * JANUARY ?", "month", "JANUARY"),
        ("0 0 0 ? * MONDAY", "day-of-week", "MONDAY"),
        ("0 0 0 ? JAN-FOO MON", "month", "FOO"),
        ("? 0 0 * * ?", "seconds", "?"),
        ("0 0 ? * * ?", "hours", "?"),
        ("0 0 0 * ? ?", "month", "?"),
        ("0 0 0 * * ? ?", "year", "?"),
        ("0 0 0 ?,1 * ?", "day-of-month", "?,1"),
        ("0 0 0 ? * ?5", "day-of-week", "?5"),
        ("0 0 L * * ?", "hours", "L"),
        ("0 0 0 * L ?", "month", "L"),
        ("0 0 0 * * ? L", "year", "L"),
        ("0 0 5W * * ?", "hours", "5W"),
        ("0 0 0 ? * 5W", "day-of-week", "5W"),
        ("0 0 0 * * ? 2030W", "year", "2030W"),
        ("0 0 1#2 * * ?", "hours", "1#2"),
        ("0 0 0 1#2 * ?", "day-of-month", "1#2"),
        ("0 0 0 5L * ?", "day-of-month", "5L"),
        ("0 0 0 L-31 * ?", "day-of-month", "L-31"),
        ("0 0 0 L- * ?", "day-of-month", "L-"),
        ("0 0 0 L-W * ?", "day-of-month", "L-W"),
        ("0 0 0 W * ?", "day-of-month", "W"),
        ("0 0 0 0W * ?", "day-of-month", "0W"),
        ("0 0 0 32W * ?", "day-of-month", "32W"),
        ("0 0 0 1-5W * ?", "day-of-month", "1-5W"),
        ("0 0 0 */2W * ?", "day-of-month", "*/2W"),
        ("0 0 0 ? * 6#6", "day-of-week", "6#6"),
        ("0 0 0 ? * 6#0", "day-of-week", "6#0"),
        ("0 0 0 ? * 6#", "day-of-week", "6#"),
        ("0 0 0 ? * #3", "day-of-week", "#3"),
        ("0 0 0 ? * 8#1", "day-of-week", "8"),
        ("0 0 0 ? * 0L", "day-of-week", "0"),
        ("0 0 0 ? * 6#3,2#1", "day-of-week", "6#3"),
        ("0 0 0 ? * 6#3,2", "day-of-week", "6#3"),
        ("0 0 0 ? * 6L,2", "day-of-week", "6L"),
        ("0 0 0 ? * 1,L", "day-of-week", "L"),
        ("0 0 0 ? * 2-6L", "day-of-week", "2-6L"),
        ("0 0 0 ? * LL", "day-of-week", "L"),
    ],
)
def test_invalid_expressions_name_the_field_and_token(expr: str, field: str, token: str) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        parse_quartz(expr)
    message = exc.value.message
    assert message.startswith("CrontabExpression field "), message
    assert f"field '{field}'" in message, message
    assert token in message, message


def test_the_message_reads_as_documented() -> None:
    with pytest.raises(InvalidParameterValue, match=r"^CrontabExpression field 'hours' value 24 is out of range 0-23$"):
        parse_quartz("0 0 24 * * ? *")
    with pytest.raises(InvalidParameterValue, match=r"^X\.0\.CrontabExpression field 'minutes' "):
        parse_quartz("0 99 * * * ?", label="X.0.CrontabExpression")


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("0 0 0 * * *", "both specified"),  # Quartz refuses even when one of them is '*'
        ("0 0 0 * * * *", "both specified"),
        ("0 0 0 1 * MON", "both specified"),
        ("0 0 0 L * 6L", "both specified"),
        ("0 0 0 ? * ?", "also '?'"),
    ],
)
def test_exactly_one_day_field_is_a_question_mark(expr: str, fragment: str) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        parse_quartz(expr)
    assert fragment in exc.value.message
    assert "field 'day-of-week'" in exc.value.message and "exactly one" in exc.value.message


@pytest.mark.parametrize("expr", ["", "   ", "* * * * *", "0 0 0 * * ? * *", "0 0 0 * * ? 2025 2026"])
def test_field_count(expr: str) -> None:
    with pytest.raises(InvalidParameterValue, match="must have 6 or 7 fields"):
        parse_quartz(expr)


def test_non_string_expression() -> None:
    with pytest.raises(InvalidParameterValue, match="must be a string"):
        parse_quartz(5)  # type: ignore[arg-type]


# ========================================================================================= next_fire: dates


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # the observed expressions
        ("0 0 0 * * ? *", "2025-12-04 11:40:00", "2025-12-05 00:00:00"),
        ("0 0/30 0-23 * * ? *", "2025-12-04 11:40:00", "2025-12-04 12:00:00"),
        ("0 0/30 0-23 * * ? *", "2025-12-04 12:00:00", "2025-12-04 12:30:00"),  # strictly after
        ("0 0/30 0-23 * * ? *", "2025-12-04 11:59:59", "2025-12-04 12:00:00"),
        # month ends: the 31st only in 31-day months
        ("0 0 0 31 * ?", "2025-03-31 00:00:00", "2025-05-31 00:00:00"),
        ("0 0 0 31 * ?", "2025-07-31 00:00:00", "2025-08-31 00:00:00"),
        ("0 0 0 30 * ?", "2025-01-30 00:00:00", "2025-03-30 00:00:00"),
        # leap days
        ("0 0 0 29 2 ? *", "2025-01-01 00:00:00", "2028-02-29 00:00:00"),
        ("0 0 0 29 2 ? *", "2028-02-29 00:00:00", "2032-02-29 00:00:00"),
        ("0 0 0 29 2 ? *", "2096-02-29 00:00:00", None),  # 2100 is not a leap year, and past 2099
        ("0 0 0 L 2 ?", "2024-01-01 00:00:00", "2024-02-29 00:00:00"),
        ("0 0 0 L 2 ?", "2024-03-01 00:00:00", "2025-02-28 00:00:00"),
        # year boundaries
        ("0 0 0 1 1 ? *", "2025-12-31 23:59:59", "2026-01-01 00:00:00"),
        ("59 59 23 31 12 ?", "2025-12-31 23:59:59", "2026-12-31 23:59:59"),
        ("* * * * * ?", "2025-12-31 23:59:59", "2026-01-01 00:00:00"),
        ("0 0 0 1 1 ? 2030/5", "2026-01-01 00:00:00", "2030-01-01 00:00:00"),
        ("0 0 0 1 1 ? 2030/5", "2030-01-01 00:00:00", "2035-01-01 00:00:00"),
        ("0 0 0 1 1 ? 2025", "2025-01-01 00:00:00", None),  # year field exhausted
        ("0 0 0 * * ? 2099", "2099-12-31 00:00:00", None),
        ("59 59 23 31 12 ? 2099", "2099-12-31 23:59:58", "2099-12-31 23:59:59"),
        ("0 0 0 * * ? 1970", "2025-01-01 00:00:00", None),
        ("0 0 0 1 1 ? 2020-2025", "1960-01-01 00:00:00", "2020-01-01 00:00:00"),
        # L and L-n
        ("0 0 0 L * ?", "2025-04-01 00:00:00", "2025-04-30 00:00:00"),
        ("0 0 0 L-3 * ?", "2025-02-01 00:00:00", "2025-02-25 00:00:00"),
        ("0 0 0 L-30 * ?", "2025-01-02 00:00:00", "2025-03-01 00:00:00"),  # no day L-30 in February
        ("0 0 0 L-30 * ?", "2024-12-31 00:00:00", "2025-01-01 00:00:00"),
        # W: nearest weekday, never leaving the month
        ("0 0 0 1W * ?", "2025-01-31 00:00:00", "2025-02-03 00:00:00"),  # 1 Feb 2025 is a Saturday
        ("0 0 0 1W * ?", "2025-05-02 00:00:00", "2025-06-02 00:00:00"),  # 1 Jun 2025 is a Sunday
        ("0 0 0 31W * ?", "2025-05-01 00:00:00", "2025-05-30 00:00:00"),  # 31 May 2025 is a Saturday
        ("0 0 0 31W * ?", "2025-03-31 00:00:00", "2025-05-30 00:00:00"),  # April has no 31st
        ("0 0 0 15W * ?", "2025-03-01 00:00:00", "2025-03-14 00:00:00"),  # 15 Mar 2025 is a Saturday
        ("0 0 0 15W * ?", "2025-06-01 00:00:00", "2025-06-16 00:00:00"),  # 15 Jun 2025 is a Sunday
        ("0 0 0 15W * ?", "2025-07-01 00:00:00", "2025-07-15 00:00:00"),  # a Tuesday stays
        ("0 0 0 30W 2 ?", "2025-01-01 00:00:00", None),  # February never has a 30th
        ("0 0 0 LW * ?", "2025-08-01 00:00:00", "2025-08-29 00:00:00"),  # 31 Aug 2025 is a Sunday
        ("0 0 0 LW * ?", "2025-05-01 00:00:00", "2025-05-30 00:00:00"),  # 31 May 2025 is a Saturday
        ("0 0 0 L-1W * ?", "2025-06-01 00:00:00", "2025-06-30 00:00:00"),  # 29 Jun 2025 is a Sunday -> Monday 30
        ("0 0 0 L-1W * ?", "2025-08-01 00:00:00", "2025-08-29 00:00:00"),  # 30 Aug 2025 is a Saturday -> Friday
        ("0 0 0 1W,15 * ?", "2025-02-01 00:00:00", "2025-02-03 00:00:00"),
        ("0 0 0 1W,15 * ?", "2025-02-03 00:00:00", "2025-02-15 00:00:00"),
        # nth and last weekday of the month
        ("0 0 0 ? * 6#5", "2025-02-01 00:00:00", "2025-05-30 00:00:00"),  # Feb-Apr 2025 have four Fridays
        ("0 0 0 ? * 2#1", "2025-06-01 00:00:00", "2025-06-02 00:00:00"),
        ("0 0 0 ? * MON#1", "2025-06-02 00:00:00", "2025-07-07 00:00:00"),
        ("0 0 0 ? * 6L", "2025-02-01 00:00:00", "2025-02-28 00:00:00"),
        ("0 0 0 ? * 6L", "2025-02-28 00:00:00", "2025-03-28 00:00:00"),
        ("0 0 0 ? * 1L", "2025-08-01 00:00:00", "2025-08-31 00:00:00"),
        ("0 0 0 ? * L", "2025-06-01 00:00:00", "2025-06-07 00:00:00"),  # plain 'L' is Saturday
        # ranges, steps, names, overflow
        ("0 0 22-2 * * ?", "2025-01-01 02:00:00", "2025-01-01 22:00:00"),
        ("0 0 22-2 * * ?", "2025-01-01 23:00:00", "2025-01-02 00:00:00"),
        ("0 0 0 1 NOV-FEB ?", "2025-02-01 00:00:00", "2025-11-01 00:00:00"),
        ("0 0 0 ? * FRI-MON", "2025-06-02 00:00:00", "2025-06-06 00:00:00"),  # Mon -> Fri
        ("0 15 10 ? * MON-FRI", "2025-06-06 10:15:00", "2025-06-09 10:15:00"),
        ("30 */20 9-17/4 ? * *", "2025-06-06 09:40:30", "2025-06-06 13:00:30"),
        ("0 0 12 ? JAN,JUL MON#2", "2025-01-20 00:00:00", "2025-07-14 12:00:00"),
    ],
)
def test_next_fire_dates(expr: str, after: str, expected: str | None) -> None:
    start = datetime.strptime(after, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    got = nf(expr, start)
    assert (None if got is None else got.strftime("%Y-%m-%d %H:%M:%S")) == expected
    if got is not None and got - start < timedelta(days=400):
        assert oracle_fires(expr, SHANGHAI, start, got, limit=1) == [got.astimezone(UTC)]


def test_sub_second_after_and_result_zone() -> None:
    after = datetime(2025, 1, 1, 0, 0, 0, 500_000, tzinfo=CST)
    got = nf("* * * * * ?", after)
    assert got == datetime(2025, 1, 1, 0, 0, 1, tzinfo=CST) and got.tzinfo is CST
    assert nf("0 0 0 * * ?", datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=CST)) == datetime(2025, 1, 2, tzinfo=CST)


def test_next_fire_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        nf("0 0 0 * * ?", datetime(2025, 1, 1))


def test_far_future_after_has_no_fire() -> None:
    assert nf("* * * * * ?", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)) is None
    assert nf("* * * * * ?", datetime(2100, 1, 1, tzinfo=UTC)) is None
    assert wall(nf("0 0 0 1 1 ? 2020", datetime(1, 1, 1, tzinfo=CST))) == "2020-01-01 00:00:00+08:00"
    assert (
        wall(nf("0 0 0 1 1 ?", datetime(1, 1, 1, tzinfo=timezone(-timedelta(hours=8))))) == "1970-01-01 00:00:00-08:00"
    )
    # 2100-01-01 05:00 UTC is still 2099 in New York.
    assert wall(nf("0 0 * * * ?", datetime(2100, 1, 1, 2, tzinfo=UTC).astimezone(NY))) == "2099-12-31 22:00:00-05:00"


# ============================================================================================ next_fire: DST


def test_premises_about_the_zones() -> None:
    def exists(tz: ZoneInfo, *args: int) -> bool:
        w = datetime(*args)  # type: ignore[misc]
        return w.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == w

    def ambiguous(tz: ZoneInfo, *args: int) -> bool:
        w = datetime(*args)  # type: ignore[misc]
        return w.replace(tzinfo=tz, fold=0).utcoffset() != w.replace(tzinfo=tz, fold=1).utcoffset()

    assert not exists(NY, 2024, 3, 10, 2, 30) and ambiguous(NY, 2024, 11, 3, 1, 30)
    assert not exists(BERLIN, 2024, 3, 31, 2, 30) and ambiguous(BERLIN, 2024, 10, 27, 2, 30)
    assert not exists(SYDNEY, 2024, 10, 6, 2, 30) and ambiguous(SYDNEY, 2024, 4, 7, 2, 30)
    assert not exists(LORD_HOWE, 2024, 10, 6, 2, 15) and exists(LORD_HOWE, 2024, 10, 6, 2, 30)
    assert ambiguous(LORD_HOWE, 2024, 4, 7, 1, 45) and not ambiguous(LORD_HOWE, 2024, 4, 7, 1, 15)
    assert not exists(SANTIAGO, 2024, 9, 8, 0, 0)
    assert all(not ambiguous(SHANGHAI, 2024, m, 1, 2, 30) for m in range(1, 13))


@pytest.mark.parametrize(
    ("tz", "expr", "after", "expected"),
    [
        # New York, spring forward 2024-03-10 02:00 EST -> 03:00 EDT: the gap is skipped, not moved
        (NY, "0 30 2 * * ?", (2024, 3, 9, 2, 30), "2024-03-11 02:30:00-04:00"),
        (NY, "0 0 2 * * ?", (2024, 3, 9, 12, 0), "2024-03-11 02:00:00-04:00"),
        (NY, "0 0,30 * * * ?", (2024, 3, 10, 1, 30), "2024-03-10 03:00:00-04:00"),
        (NY, "0 0 3 * * ?", (2024, 3, 10, 1, 59), "2024-03-10 03:00:00-04:00"),
        (NY, "* * * * * ?", (2024, 3, 10, 1, 59, 59), "2024-03-10 03:00:00-04:00"),
        # New York, fall back 2024-11-03 02:00 EDT -> 01:00 EST: a repeated wall time fires once, first
        (NY, "0 30 1 * * ?", (2024, 11, 3, 0, 0), "2024-11-03 01:30:00-04:00"),
        (NY, "0 30 1 * * ?", (2024, 11, 3, 1, 30), "2024-11-04 01:30:00-05:00"),
        (NY, "0 */15 * * * ?", (2024, 11, 3, 1, 45), "2024-11-03 02:00:00-05:00"),
        (NY, "0 0 2 * * ?", (2024, 11, 3, 0, 0), "2024-11-03 02:00:00-05:00"),
        # Berlin: 2024-03-31 02:00 -> 03:00, 2024-10-27 03:00 -> 02:00
        (BERLIN, "0 30 2 * * ?", (2024, 3, 30, 3, 0), "2024-04-01 02:30:00+02:00"),
        (BERLIN, "0 30 2 * * ?", (2024, 10, 26, 3, 0), "2024-10-27 02:30:00+02:00"),
        (BERLIN, "0 30 2 * * ?", (2024, 10, 27, 2, 30), "2024-10-28 02:30:00+01:00"),
        # Sydney (southern hemisphere): back 2024-04-07 03:00 -> 02:00, forward 2024-10-06 02:00 -> 03:00
        (SYDNEY, "0 30 2 * * ?", (2024, 4, 6, 12, 0), "2024-04-07 02:30:00+11:00"),
        (SYDNEY, "0 30 2 * * ?", (2024, 4, 7, 2, 30), "2024-04-08 02:30:00+10:00"),
        (SYDNEY, "0 30 2 * * ?", (2024, 10, 5, 12, 0), "2024-10-07 02:30:00+11:00"),
        # Lord Howe: half-hour shifts; 2024-04-07 02:00 -> 01:30, 2024-10-06 02:00 -> 02:30
        (LORD_HOWE, "0 45 1 * * ?", (2024, 4, 7, 0, 0), "2024-04-07 01:45:00+11:00"),
        (LORD_HOWE, "0 45 1 * * ?", (2024, 4, 7, 1, 45), "2024-04-08 01:45:00+10:30"),
        (LORD_HOWE, "0 15 2 * * ?", (2024, 10, 5, 12, 0), "2024-10-07 02:15:00+11:00"),
        (LORD_HOWE, "0 0/15 2 * * ?", (2024, 10, 5, 12, 0), "2024-10-06 02:30:00+11:00"),
        # Santiago: 2024-09-08 starts at 01:00 (midnight does not exist)
        (SANTIAGO, "0 0 0 * * ?", (2024, 9, 7, 0, 0), "2024-09-09 00:00:00-03:00"),
        (SANTIAGO, "0 0 1 * * ?", (2024, 9, 7, 1, 0), "2024-09-08 01:00:00-03:00"),
    ],
)
def test_dst_cases(tz: ZoneInfo, expr: str, after: tuple[int, ...], expected: str) -> None:
    start = local(tz, *after)
    got = nf(expr, start)
    assert wall(got) == expected
    assert got is not None
    oracle = oracle_fires(expr, tz, start, got.astimezone(UTC) + timedelta(days=1), limit=1)
    assert oracle == [got.astimezone(UTC)]


def test_second_pass_of_a_repeated_hour_does_not_fire_again() -> None:
    cron = parse_quartz("0 */15 * * * ?")
    second_pass = local(NY, 2024, 11, 3, 1, 10, fold=1)  # 01:10 EST, 06:10 UTC
    assert second_pass.astimezone(UTC) == utc(2024, 11, 3, 6, 10)
    got = next_fire(cron, second_pass)
    assert got is not None and got.astimezone(UTC) == utc(2024, 11, 3, 7)  # 02:00 EST
    every_second = next_fire(parse_quartz("* * * * * ?"), second_pass)
    assert every_second is not None and every_second.astimezone(UTC) == utc(2024, 11, 3, 7)
    # The first pass itself fires normally.
    first_pass = next_fire(cron, local(NY, 2024, 11, 3, 1, 10))
    assert first_pass is not None and first_pass.astimezone(UTC) == utc(2024, 11, 3, 5, 15)


DST_WINDOWS = [
    (NY, utc(2024, 3, 9, 12), utc(2024, 3, 11, 12)),
    (NY, utc(2024, 11, 2, 12), utc(2024, 11, 4, 12)),
    (BERLIN, utc(2024, 3, 30, 12), utc(2024, 4, 1)),
    (BERLIN, utc(2024, 10, 26, 12), utc(2024, 10, 28)),
    (SYDNEY, utc(2024, 4, 6), utc(2024, 4, 7, 12)),
    (SYDNEY, utc(2024, 10, 5), utc(2024, 10, 6, 12)),
    (LORD_HOWE, utc(2024, 4, 6), utc(2024, 4, 7, 12)),
    (LORD_HOWE, utc(2024, 10, 5), utc(2024, 10, 6, 12)),
    (SANTIAGO, utc(2024, 4, 6), utc(2024, 4, 8)),
    (SANTIAGO, utc(2024, 9, 7), utc(2024, 9, 9)),
    (SHANGHAI, utc(2024, 12, 31), utc(2025, 1, 1, 12)),
    (KATHMANDU, utc(2024, 12, 31), utc(2025, 1, 1, 12)),
]
DST_EXPRESSIONS = [
    "0 */15 * * * ?",
    "0 0,30 * * * ?",
    "0 0 * * * ?",
    "0 30 0-3 * * ?",
    "0 0 0 * * ?",
    "0 15,45 1-3 * * ?",
    "0 0 2 * * ?",
    "30 10 1,2 ? * *",
    "0 0/20 23,0-2 * * ?",
    "0 59 * * * ?",
]


@pytest.mark.parametrize(("tz", "start", "end"), DST_WINDOWS, ids=lambda v: str(v)[:19])
def test_dst_windows_match_the_oracle(tz: ZoneInfo, start: datetime, end: datetime) -> None:
    for expr in DST_EXPRESSIONS:
        expected = oracle_fires(expr, tz, start, end)
        got = impl_fires(expr, tz, start, end)
        assert got == expected, expr
        assert all(a < b for a, b in pairwise(got))


@pytest.mark.parametrize(
    ("tz", "start", "silent_minutes"),
    [
        (NY, utc(2024, 3, 10, 6, 50), 0),  # spring forward: every real second shows a new wall time
        (NY, utc(2024, 11, 3, 5, 50), 60),  # fall back: the repeated hour is silent
        (LORD_HOWE, utc(2024, 4, 6, 14, 50), 30),  # fall back by half an hour
    ],
)
def test_every_second_across_a_gap_and_an_overlap(tz: ZoneInfo, start: datetime, silent_minutes: int) -> None:
    end = start + timedelta(minutes=80)
    expected = oracle_fires("* * * * * ?", tz, start, end)
    assert len(expected) == (80 - silent_minutes) * 60
    assert impl_fires("* * * * * ?", tz, start, end) == expected


# ============================================================================================= time zones


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("UTC+8", "Asia/Shanghai"),
        ("UTC+08:00", "Asia/Shanghai"),
        ("GMT+8", "Asia/Shanghai"),
        ("utc+0800", "Asia/Shanghai"),
        ("UTC+9", "Asia/Tokyo"),
        ("UTC+7", "Asia/Bangkok"),
        ("UTC+5:30", "Asia/Kolkata"),
        ("UTC", "UTC"),
        ("UTC+0", "UTC"),
        ("UTC-5", "UTC-5"),  # New York, Bogota, Lima ... ambiguous: kept
        ("UTC+10", "UTC+10"),
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("Not/AZone", "Not/AZone"),
    ],
)
def test_iana_name(given: str, expected: str) -> None:
    assert iana_name(given) == expected


def test_iana_table_entries_really_are_fixed_offsets_since_1992() -> None:
    for fixed in ("UTC+8", "UTC+9", "UTC+7", "UTC+5:30", "UTC"):
        offset = compile_trigger({"CrontabExpression": "0 0 0 * * ?"}, fixed).tz.utcoffset(None)
        zone = ZoneInfo(iana_name(fixed))
        for year in range(1992, 2100, 3):
            for month in (1, 4, 7, 10):
                assert datetime(year, month, 15, tzinfo=zone).utcoffset() == offset, (fixed, year, month)


# ========================================================================================= compile_trigger


def time_config(**overrides: object) -> dict[str, object]:
    config: dict[str, object] = {
        "TriggerId": "8f0c7a52-0a0e-4a38-9a55-0c3d0f6f2d11",
        "TriggerMode": "TIME_TRIGGER",
        "SchedulerStatus": "ACTIVE",
        "ScheduleTimeZone": "UTC+8",
        "StartTime": "2025-01-01 00:00:00",
        "EndTime": "2099-12-31 23:59:59",
        "ConfigMode": "CRON_EXPRESSION",
        "CycleType": "DAY_CYCLE",
        "CrontabExpression": "0 0 0 * * ? *",
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def ms(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


def test_compile_a_full_time_trigger() -> None:
    spec = compile_trigger(time_config(), "Asia/Shanghai", path="TriggerWorkflowSchedulerConfigurations.0")
    assert isinstance(spec, TriggerSpec)
    assert spec.trigger_id == "8f0c7a52-0a0e-4a38-9a55-0c3d0f6f2d11"
    assert (spec.mode, spec.status, spec.active, spec.oneoff) == ("TIME_TRIGGER", "ACTIVE", True, False)
    assert (spec.config_mode, spec.cycle_type) == ("CRON_EXPRESSION", "DAY_CYCLE")
    assert spec.time_zone == "UTC+8" and spec.iana_time_zone == "Asia/Shanghai"
    assert spec.tz.utcoffset(None) == timedelta(hours=8)
    assert spec.cron == parse_quartz("0 0 0 * * ? *") and spec.cron_expression == "0 0 0 * * ? *"
    assert spec.start_ms == ms(datetime(2025, 1, 1, tzinfo=CST))
    assert spec.end_ms == 4102415999000  # 2099-12-31 23:59:59 +08
    assert spec.file_arrival is None


def test_epoch_ms_strings_as_echoed_by_wedata() -> None:
    spec = compile_trigger(time_config(StartTime="1735660800000", EndTime="4102329600000"), "Asia/Shanghai")
    assert spec.start_ms == 1735660800000 and spec.end_ms == 4102329600000
    assert compile_trigger(time_config(StartTime=1735660800000), "UTC").start_ms == 1735660800000


def test_wall_times_are_read_in_the_trigger_zone() -> None:
    ny = compile_trigger(time_config(ScheduleTimeZone="America/New_York", StartTime="2025-07-01 00:00:00"), "UTC")
    assert ny.start_ms == ms(utc(2025, 7, 1, 4))
    default = compile_trigger(time_config(ScheduleTimeZone=None, StartTime="2025-07-01 00:00:00"), "Europe/Berlin")
    assert default.time_zone == "Europe/Berlin" and default.start_ms == ms(utc(2025, 6, 30, 22))
    empty = compile_trigger(time_config(ScheduleTimeZone=""), "Asia/Shanghai")
    assert empty.time_zone == "Asia/Shanghai"
    gap = compile_trigger(time_config(ScheduleTimeZone="America/New_York", StartTime="2024-03-10 02:30:00"), "UTC")
    assert gap.start_ms == ms(utc(2024, 3, 10, 7, 30))  # pushed forward by the gap: 03:30 EDT
    overlap = compile_trigger(time_config(ScheduleTimeZone="America/New_York", StartTime="2024-11-03 01:30:00"), "UTC")
    assert overlap.start_ms == ms(utc(2024, 11, 3, 5, 30))  # the earlier 01:30


def test_defaults_for_missing_fields() -> None:
    spec = compile_trigger({"CrontabExpression": "0 0 * * * ?"}, "Asia/Shanghai")
    assert (spec.mode, spec.status, spec.trigger_id, spec.config_mode, spec.cycle_type) == (
        "TIME_TRIGGER", "ACTIVE", None, None, None,
    )  # fmt: skip
    assert spec.start_ms is None and spec.end_ms is None and spec.time_zone == "Asia/Shanghai"
    assert compile_trigger(time_config(SchedulerStatus="PAUSED"), "UTC").active is False


@pytest.mark.parametrize(("cycle", "expr"), sorted(DEFAULT_CRONS.items()))
def test_common_mode_defaults_per_cycle(cycle: str, expr: str) -> None:
    spec = compile_trigger(time_config(ConfigMode="COMMON", CycleType=cycle, CrontabExpression=None), "UTC")
    assert spec.cron_expression == expr and spec.cron == parse_quartz(expr)


def test_common_mode_default_values() -> None:
    assert DEFAULT_CRONS["DAY_CYCLE"] == "0 0 0 * * ? *"
    assert DEFAULT_CRONS["HOUR_CYCLE"] == "0 0 * * * ? *"
    start = ms(datetime(2025, 1, 1, tzinfo=CST))
    week = compile_trigger(time_config(ConfigMode="COMMON", CycleType="WEEK_CYCLE", CrontabExpression=None), "UTC")
    assert fires_between(week, start, start + 14 * 86_400_000, 5) == [
        ms(datetime(2025, 1, 6, tzinfo=CST)),  # Monday
        ms(datetime(2025, 1, 13, tzinfo=CST)),
    ]


def test_the_cron_decides_not_the_cycle_type() -> None:
    # The TF example pairs DAY_CYCLE with an hourly cron (semantics.md §2.2): it fires hourly.
    spec = compile_trigger(
        time_config(ConfigMode="COMMON", CycleType="DAY_CYCLE", CrontabExpression="0 0 * * * ? *"), "UTC"
    )
    start = ms(datetime(2025, 1, 1, tzinfo=CST))
    assert len(fires_between(spec, start, start + 86_400_000, 100)) == 24


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"ConfigMode": "COMMON", "CycleType": "MINUTE_CYCLE", "CrontabExpression": None}, "MINUTE_CYCLE"),
        ({"ConfigMode": "COMMON", "CycleType": "CRONTAB_CYCLE", "CrontabExpression": None}, "CRONTAB_CYCLE"),
        ({"ConfigMode": "CRON_EXPRESSION", "CycleType": "DAY_CYCLE", "CrontabExpression": None}, "CRON_EXPRESSION"),
        ({"ConfigMode": None, "CycleType": None, "CrontabExpression": None}, "is required"),
        ({"CrontabExpression": "   "}, "is required"),
    ],
)
def test_missing_cron_is_refused(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        compile_trigger(time_config(**overrides), "UTC", path="T.3")
    assert exc.value.message.startswith("T.3.CrontabExpression") and fragment in exc.value.message


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"TriggerMode": "HOURLY"}, "T.0.TriggerMode"),
        ({"TriggerMode": 1}, "T.0.TriggerMode"),
        ({"SchedulerStatus": "RUNNING"}, "T.0.SchedulerStatus"),
        ({"ConfigMode": "FORM"}, "T.0.ConfigMode"),
        ({"CycleType": "SECOND_CYCLE"}, "T.0.CycleType"),
        ({"TriggerId": 7}, "T.0.TriggerId"),
        ({"ScheduleTimeZone": "Mars/Olympus"}, "T.0.ScheduleTimeZone"),
        ({"ScheduleTimeZone": "UTC+19"}, "T.0.ScheduleTimeZone"),
        ({"ScheduleTimeZone": 8}, "T.0.ScheduleTimeZone"),
        ({"StartTime": "2025/01/01 00:00:00"}, "T.0.StartTime"),
        ({"StartTime": "2025-01-01"}, "T.0.StartTime"),
        ({"StartTime": "2025-02-30 00:00:00"}, "T.0.StartTime"),
        ({"StartTime": "2025-01-01 24:00:00"}, "T.0.StartTime"),
        ({"StartTime": "-5"}, "T.0.StartTime"),
        ({"StartTime": True}, "T.0.StartTime"),
        ({"StartTime": "9" * 30}, "T.0.StartTime"),
        ({"EndTime": "tomorrow"}, "T.0.EndTime"),
        ({"EndTime": "2024-12-31 23:59:59"}, "T.0.EndTime"),  # before StartTime
        ({"CrontabExpression": "0 0 24 * * ?"}, "T.0.CrontabExpression field 'hours'"),
        ({"CrontabExpression": 5}, "T.0.CrontabExpression"),
        ({"CycleType": "ONEOFF_CYCLE", "StartTime": None}, "T.0.StartTime"),
    ],
)
def test_invalid_time_trigger_fields(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        compile_trigger(time_config(**overrides), "Asia/Shanghai", path="T.0")
    assert exc.value.message.startswith(field), exc.value.message


def test_bad_default_zone_and_non_mapping() -> None:
    with pytest.raises(InvalidParameterValue, match=r"^ScheduleTimeZone"):
        compile_trigger(time_config(ScheduleTimeZone=None), "Nowhere/Land")
    with pytest.raises(InvalidParameterValue, match="must be an object"):
        compile_trigger(["not", "a", "mapping"], "UTC")  # type: ignore[arg-type]


def test_continue_run_is_unsupported() -> None:
    with pytest.raises(UnsupportedOperation, match=r"^T\.0\.TriggerMode"):
        compile_trigger(time_config(TriggerMode="CONTINUE_RUN"), "UTC", path="T.0")


def test_end_equal_to_start_is_allowed() -> None:
    spec = compile_trigger(time_config(EndTime="2025-01-01 00:00:00"), "UTC")
    assert spec.start_ms == spec.end_ms


# ------------------------------------------------------------------------------------------ file arrival


def file_config(**overrides: object) -> dict[str, object]:
    config: dict[str, object] = {
        "TriggerMode": "FILE_ARRIVAL",
        "SchedulerStatus": "ACTIVE",
        "FileArrivalPath": "cosn://bucket/dir/",
        "FileNamePattern": "data_*.csv",
        "Recursive": 0,
        "TriggerMinimumInterval": 30,
        "TriggerWaitTime": 5,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def test_compile_a_file_arrival_trigger() -> None:
    spec = compile_trigger(file_config(), "Asia/Shanghai")
    assert spec.mode == "FILE_ARRIVAL" and spec.cron is None and spec.cron_expression is None
    fa = spec.file_arrival
    assert fa is not None
    assert (fa.path, fa.name_pattern, fa.recursive, fa.min_interval_s, fa.wait_s) == (
        "cosn://bucket/dir/", "data_*.csv", False, 1800, 300,
    )  # fmt: skip
    assert next_fire_ms(spec, 0) is None and fires_between(spec, 0, 10**13, 10) == []


def test_file_arrival_defaults_and_deprecated_seconds() -> None:
    fa = compile_trigger(
        file_config(FileNamePattern="", Recursive=None, TriggerMinimumInterval=None, TriggerWaitTime=None), "UTC"
    ).file_arrival
    assert fa is not None and (fa.name_pattern, fa.recursive, fa.min_interval_s, fa.wait_s) == (None, True, 60, 60)
    seconds = compile_trigger(
        file_config(
            TriggerMinimumInterval=None, TriggerWaitTime=None, TriggerMinimumIntervalSecond=90, TriggerWaitTimeSecond=45
        ),
        "UTC",
    ).file_arrival
    assert seconds is not None and (seconds.min_interval_s, seconds.wait_s) == (90, 45)
    both = compile_trigger(file_config(TriggerMinimumIntervalSecond=90), "UTC").file_arrival
    assert both is not None and both.min_interval_s == 1800  # the minute field wins
    ignored = compile_trigger(file_config(CrontabExpression="not a cron"), "UTC")
    assert ignored.cron is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"FileArrivalPath": None}, "F.1.FileArrivalPath"),
        ({"FileArrivalPath": "  "}, "F.1.FileArrivalPath"),
        ({"FileArrivalPath": 3}, "F.1.FileArrivalPath"),
        ({"FileNamePattern": "dir/*.csv"}, "F.1.FileNamePattern"),
        ({"FileNamePattern": "data?.csv"}, "F.1.FileNamePattern"),
        ({"FileNamePattern": "data[0-9].csv"}, "F.1.FileNamePattern"),
        ({"FileNamePattern": "{a,b}.csv"}, "F.1.FileNamePattern"),
        ({"FileNamePattern": "a\\b"}, "F.1.FileNamePattern"),
        ({"FileNamePattern": "a\tb"}, "F.1.FileNamePattern"),
        ({"Recursive": 2}, "F.1.Recursive"),
        ({"Recursive": True}, "F.1.Recursive"),
        ({"Recursive": "1"}, "F.1.Recursive"),
        ({"TriggerMinimumInterval": 0}, "F.1.TriggerMinimumInterval"),
        ({"TriggerMinimumInterval": 1441}, "F.1.TriggerMinimumInterval"),
        ({"TriggerWaitTime": 0}, "F.1.TriggerWaitTime"),
        ({"TriggerWaitTime": 61}, "F.1.TriggerWaitTime"),
        ({"TriggerWaitTime": 1.5}, "F.1.TriggerWaitTime"),
        ({"TriggerMinimumIntervalSecond": 0}, "F.1.TriggerMinimumIntervalSecond"),
        ({"TriggerWaitTimeSecond": 3601}, "F.1.TriggerWaitTimeSecond"),
        ({"StartTime": "2025-02-01 00:00:00", "EndTime": "2025-01-01 00:00:00"}, "F.1.EndTime"),
    ],
)
def test_invalid_file_arrival_fields(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        compile_trigger(file_config(**overrides), "UTC", path="F.1")
    assert exc.value.message.startswith(field), exc.value.message


@pytest.mark.parametrize("pattern", ["*", "report.csv", "*_2025*.parquet", "数据*.txt", "a b-c_d.e~f"])
def test_valid_file_name_patterns(pattern: str) -> None:
    fa = compile_trigger(file_config(FileNamePattern=pattern), "UTC").file_arrival
    assert fa is not None and fa.name_pattern == pattern
    for edge in (1, 1440):
        assert compile_trigger(file_config(TriggerMinimumInterval=edge), "UTC").file_arrival is not None
    for edge in (1, 60):
        assert compile_trigger(file_config(TriggerWaitTime=edge), "UTC").file_arrival is not None


# ====================================================================================== windows and one-off

DAY = 86_400_000


def test_fires_between_is_half_open_and_limited() -> None:
    spec = compile_trigger(time_config(StartTime=None, EndTime=None), "UTC")  # daily 00:00 +08
    d0 = ms(datetime(2025, 3, 1, tzinfo=CST))
    assert fires_between(spec, d0, d0 + 3 * DAY, 10) == [d0 + DAY, d0 + 2 * DAY, d0 + 3 * DAY]  # (after, until]
    assert fires_between(spec, d0 - 1, d0 + 3 * DAY - 1, 10) == [d0, d0 + DAY, d0 + 2 * DAY]
    assert fires_between(spec, d0, d0 + 30 * DAY, 2) == [d0 + DAY, d0 + 2 * DAY]
    assert fires_between(spec, d0, d0 + 30 * DAY, 0) == []
    assert fires_between(spec, d0, d0, 10) == [] and fires_between(spec, d0, d0 - DAY, 10) == []
    assert next_fire_ms(spec, d0) == d0 + DAY and next_fire_ms(spec, d0 - 1) == d0
    assert next_fire_ms(spec, 10**18) is None  # far past 2099 (and past datetime's range)
    assert next_fire_ms(spec, -(10**18)) == ms(datetime(1970, 1, 1, tzinfo=CST))


def test_window_bounds_are_inclusive() -> None:
    spec = compile_trigger(time_config(StartTime="2025-03-02 00:00:00", EndTime="2025-03-04 00:00:00"), "UTC")
    d = ms(datetime(2025, 3, 2, tzinfo=CST))
    assert fires_between(spec, 0, 10**13, 100) == [d, d + DAY, d + 2 * DAY]
    assert next_fire_ms(spec, 0) == d and next_fire_ms(spec, d + 2 * DAY) is None
    inside = compile_trigger(time_config(StartTime="2025-03-02 00:00:01", EndTime="2025-03-03 23:59:59"), "UTC")
    assert fires_between(inside, 0, 10**13, 100) == [d + DAY]
    # epoch-ms bounds with milliseconds: a fire exactly 1 ms outside is excluded
    tight = compile_trigger(time_config(StartTime=str(d + 1), EndTime=str(d + 2 * DAY - 1)), "UTC")
    assert fires_between(tight, 0, 10**13, 100) == [d + DAY]


def test_paused_triggers_still_have_a_nominal_schedule() -> None:
    spec = compile_trigger(time_config(SchedulerStatus="PAUSED"), "UTC")
    assert not spec.active and next_fire_ms(spec, 0) == spec.start_ms


def test_exhausted_schedule() -> None:
    spec = compile_trigger(time_config(CrontabExpression="0 0 0 1 1 ? 2026", EndTime=None), "UTC")
    first = ms(datetime(2026, 1, 1, tzinfo=CST))
    assert fires_between(spec, 0, 10**14, 10) == [first]
    assert next_fire_ms(spec, first) is None


def test_oneoff_fires_once_at_the_first_cron_instant_at_or_after_start() -> None:
    spec = compile_trigger(
        time_config(CycleType="ONEOFF_CYCLE", StartTime="2025-06-15 10:00:00", CrontabExpression="0 30 10 * * ? *"),
        "UTC",
    )
    at = ms(datetime(2025, 6, 15, 10, 30, tzinfo=CST))
    assert spec.oneoff and spec.oneoff_ms == at
    assert fires_between(spec, 0, 10**14, 10) == [at]
    assert next_fire_ms(spec, at - 1) == at and next_fire_ms(spec, at) is None  # Q-TR7: no future fire
    exact = compile_trigger(
        time_config(CycleType="ONEOFF_CYCLE", StartTime="2025-06-15 10:30:00", CrontabExpression="0 30 10 * * ? *"),
        "UTC",
    )
    assert exact.oneoff_ms == at  # "at or after": the start instant itself counts


def test_oneoff_without_expression_fires_at_start() -> None:
    spec = compile_trigger(
        time_config(
            ConfigMode="COMMON", CycleType="ONEOFF_CYCLE", CrontabExpression=None, StartTime="2025-06-15 08:00:00"
        ),
        "UTC",
    )
    assert spec.cron is None and spec.oneoff_ms == ms(datetime(2025, 6, 15, 8, tzinfo=CST))
    assert fires_between(spec, 0, 10**14, 10) == [spec.oneoff_ms]


def test_oneoff_past_end_time_never_fires() -> None:
    spec = compile_trigger(
        time_config(
            CycleType="ONEOFF_CYCLE", StartTime="2025-06-15 11:00:00", EndTime="2025-06-15 12:00:00",
            CrontabExpression="0 30 10 * * ? *",
        ),
        "UTC",
    )  # fmt: skip
    assert spec.oneoff_ms is None and fires_between(spec, 0, 10**14, 10) == []


def test_windows_in_a_dst_zone() -> None:
    spec = compile_trigger(
        time_config(
            ScheduleTimeZone="America/New_York", CrontabExpression="0 30 2 * * ?",
            StartTime="2024-03-09 00:00:00", EndTime="2024-03-12 23:59:59",
        ),
        "UTC",
    )  # fmt: skip
    assert fires_between(spec, 0, 10**14, 10) == [
        ms(utc(2024, 3, 9, 7, 30)),
        ms(utc(2024, 3, 11, 6, 30)),
        ms(utc(2024, 3, 12, 6, 30)),
    ]


# ============================================================================================== properties

ZONES = [UTC, CST, SHANGHAI, NY, BERLIN, SYDNEY, LORD_HOWE, SANTIAGO, KATHMANDU]
# Each zone's 2024 DST changes (UTC instants); test_zone_transitions_are_real checks them.
ZONE_TRANSITIONS = [
    (NY, utc(2024, 3, 10, 7)), (NY, utc(2024, 11, 3, 6)), (BERLIN, utc(2024, 3, 31, 1)),
    (BERLIN, utc(2024, 10, 27, 1)), (SYDNEY, utc(2024, 4, 6, 16)), (SYDNEY, utc(2024, 10, 5, 16)),
    (LORD_HOWE, utc(2024, 4, 6, 15)), (LORD_HOWE, utc(2024, 10, 5, 15, 30)), (SANTIAGO, utc(2024, 4, 7, 3)),
    (SANTIAGO, utc(2024, 9, 8, 4)),
]  # fmt: skip
STARTS = st.one_of(
    # right around a DST change of the zone itself (often inside the gap's aftermath or the repeated hour)
    st.tuples(st.sampled_from(ZONE_TRANSITIONS), st.integers(-7_200, 7_200)).map(lambda t: (*t[0], t[1])),
    # within a few days of one
    st.tuples(st.sampled_from(ZONES), st.sampled_from(ZONE_TRANSITIONS), st.integers(-3 * 86_400, 3 * 86_400)).map(
        lambda t: (t[0], t[1][1], t[2])
    ),
    # anywhere in 2024-2026 (month ends, leap day, year ends, weekdays of the 1st ...)
    st.tuples(st.sampled_from(ZONES), st.just(utc(2024, 1, 1)), st.integers(0, 3 * 365 * 86_400)),
)


def test_zone_transitions_are_real() -> None:
    for tz, instant in ZONE_TRANSITIONS:
        before, after = (instant - timedelta(seconds=1)).astimezone(tz), instant.astimezone(tz)
        assert before.utcoffset() != after.utcoffset(), (tz, instant)


def plain_field(lo: int, hi: int, names: list[str] | None = None, max_step: int = 0) -> st.SearchStrategy[str]:
    """Comma lists of `*`, `*/n`, `a`, `a/n`, `a-b` (possibly overflowing), `a-b/n`; names in any case."""
    value = st.integers(lo, hi).map(str)
    if names:
        value = st.one_of(value, st.sampled_from(names), st.sampled_from(names).map(str.lower))
    step = st.integers(1, max_step or hi - lo).map(str)
    item = st.one_of(
        st.just("*"),
        step.map(lambda n: f"*/{n}"),
        value,
        st.tuples(value, step).map("/".join),
        st.tuples(value, value).map("-".join),
        st.tuples(value, value, step).map(lambda t: f"{t[0]}-{t[1]}/{t[2]}"),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


SECOND_FIELDS = st.one_of(st.just("0"), st.just("0,30"), plain_field(0, 59, None, 59))
# Hours where the zones' clocks change (NY/Berlin/Sydney 02-03, Lord Howe 01:30-02:30, Santiago 23-01) are common.
HOUR_FIELDS = st.one_of(
    st.just("*"), st.sampled_from(["0", "1", "2", "23", "1,2", "0-2", "2,3"]), plain_field(0, 23, None, 23)
)
MINUTE_FIELDS = st.one_of(
    st.just("0"), st.just("*/15"), st.sampled_from(["15", "45", "20-40"]), plain_field(0, 59, None, 59)
)
MONTH_FIELDS = st.one_of(st.just("*"), plain_field(1, 12, MONTHS, 12))
DOM_FIELDS = st.lists(
    st.one_of(
        plain_field(1, 31, None, 31),
        st.sampled_from(["L", "LW", "1W", "15W", "31W", "30W"]),
        st.integers(0, 30).map(lambda n: f"L-{n}"),
        st.integers(0, 5).map(lambda n: f"L-{n}W"),
        st.integers(1, 31).map(lambda n: f"{n}W"),
    ),
    min_size=1,
    max_size=2,
).map(",".join)
DOW_FIELDS = st.one_of(
    plain_field(1, 7, DAYS, 7),
    st.just("L"),
    st.tuples(st.integers(1, 7).map(str), st.integers(1, 5).map(str)).map("#".join),
    st.sampled_from(DAYS).map(lambda d: f"{d}#2"),
    st.integers(1, 7).map(lambda n: f"{n}L"),
    st.sampled_from(DAYS).map(lambda d: f"{d.lower()}L"),
)
DAY_FIELDS = st.one_of(DOM_FIELDS.map(lambda f: (f, "?")), DOW_FIELDS.map(lambda f: ("?", f)))
YEAR_FIELDS = st.sampled_from(["", " *", " 2024-2026", " 2024,2025", " 2020/2", " 2023"])
EXPRESSIONS = st.builds(
    lambda s, m, h, days, mo, y: f"{s} {m} {h} {days[0]} {mo} {days[1]}{y}",
    SECOND_FIELDS, MINUTE_FIELDS, HOUR_FIELDS, DAY_FIELDS, MONTH_FIELDS, YEAR_FIELDS,
)  # fmt: skip


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(expr=EXPRESSIONS, start=STARTS, micro=st.sampled_from([0, 0, 999_999, 500_000]))
def test_next_fire_matches_the_oracle(expr: str, start: tuple[tzinfo, datetime, int], micro: int) -> None:
    tz, anchor, shift_s = start
    after = (anchor + timedelta(seconds=shift_s, microseconds=micro)).astimezone(tz)
    horizon = after.astimezone(UTC) + timedelta(days=100)
    expected = oracle_fires(expr, tz, after.astimezone(UTC), horizon, limit=6)
    got = impl_fires(expr, tz, after, horizon, limit=6)
    assert got == expected, expr
    assert all(a < b for a, b in pairwise([after.astimezone(UTC), *got]))
    if not expected:  # nothing within the horizon: whatever comes later must be a genuine fire
        later = nf(expr, after)
        if later is not None:
            assert later.astimezone(UTC) > horizon
            around = later.astimezone(UTC)
            assert oracle_fires(expr, tz, around - timedelta(seconds=1), around) == [around]


TIME_OF_DAY = st.builds(
    lambda s, m, h: f"{s} {m} {h} * * ?",
    st.sampled_from(["0", "30", "0,30", "*/20", "59"]),
    MINUTE_FIELDS,
    st.one_of(st.sampled_from(["*", "0", "1", "2", "3", "23", "1,2", "0-2", "2,3", "1-3", "22-2"]), plain_field(0, 23)),
)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    expr=TIME_OF_DAY,
    change=st.sampled_from(ZONE_TRANSITIONS),
    shift_s=st.integers(-26 * 3_600, 2 * 3_600),
    micro=st.sampled_from([0, 999_999]),
)
def test_next_fire_matches_the_oracle_across_dst_changes(
    expr: str, change: tuple[tzinfo, datetime], shift_s: int, micro: int
) -> None:
    """Daily schedules started in the day before one of the zone's own clock changes, up to just after it."""
    tz, instant = change
    after = (instant + timedelta(seconds=shift_s, microseconds=micro)).astimezone(tz)
    horizon = instant + timedelta(days=2)
    expected = oracle_fires(expr, tz, after.astimezone(UTC), horizon, limit=40)
    got = impl_fires(expr, tz, after, horizon, limit=40)
    assert got == expected, expr
    assert all(a < b for a, b in pairwise([after.astimezone(UTC), *got]))
