"""When a schedule fires: cron expressions and fixed intervals in a time zone.

PURE: the standard library and zoneinfo only, never Django; `now` is passed in.
Every instant returned is an aware UTC datetime.

Cron expressions are evaluated on the zone's wall clock. A wall time that does
not exist (the hour skipped when clocks spring forward) is skipped; a wall time
that happens twice (clocks fall back) fires once, at its first occurrence.
Intervals are elapsed time ("every 1h" is always 3600 s apart, across DST),
counted from the schedule's start, or from the Unix epoch when it has none, so
"every 10m" fires at :00, :10, :20 ...

What people type is held to documented ranges (docs/schedules.md#ranges) with
`strict`; a schedule saved before a range was tightened is read without them
and still fires. Either way no computation here raises on any input: fire
times exist only within a window every zone's clock can represent, and past
its edges a schedule simply has no more times.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CRON = "cron"
INTERVAL = "interval"
KINDS = (CRON, INTERVAL)

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The instants and intervals settings may name (strict): docs/schedules.md.
EARLIEST = EPOCH
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
MAX_INTERVAL = timedelta(days=366)
# Where fire times may fall, whatever a stored schedule says. Any zone's wall
# clock (offsets within a day) and a microsecond either side of an instant in
# it are representable, and a cron walk stops at its edges, so no datetime
# arithmetic here can overflow.
_WINDOW_START = datetime(2, 1, 1, tzinfo=UTC)
_WINDOW_END = datetime(9998, 12, 31, tzinfo=UTC)
# Longer than any interval anything could mean, short enough for timedelta.
_LONGEST = timedelta(days=1_000_000)
# More digits than any field or amount needs; int() refuses past 4300.
_MAX_DIGITS = 12
# Long enough for the rarest expression that fires at all (29 February on a
# given weekday-or-day combination: at most eight years apart, 2096 -> 2104).
_MAX_DAYS = 366 * 9
_ONE = timedelta(microseconds=1)

_MONTHS = [
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
]
_WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


class ScheduleError(ValueError):
    """Bad schedule input: `field` names what is wrong, `message` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_start: int = 0


_FIELDS = (
    _FieldSpec("minute", 0, 59),
    _FieldSpec("hour", 0, 23),
    _FieldSpec("day-of-month", 1, 31),
    _FieldSpec("month", 1, 12, tuple(_MONTHS), 1),
    # 7 is Sunday too, as in Vixie cron.
    _FieldSpec("day-of-week", 0, 7, tuple(_WEEKDAYS), 0),
)


@dataclass(frozen=True)
class Cron:
    """A parsed five-field cron expression."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    # Vixie cron: when both day fields are restricted, a day matching either fires.
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_day or by_weekday
        if self.days_restricted:
            return by_day
        if self.weekdays_restricted:
            return by_weekday
        return True


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _shown(text: str) -> str:
    return text if len(text) <= _MAX_DIGITS else text[:_MAX_DIGITS] + "..."


def _whole(text: str) -> int | None:
    """ASCII digits as an int, None for anything longer than any field or
    amount needs (int() refuses past 4300 digits, and "²" though isdigit())."""
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else None


def _number(text: str, spec: _FieldSpec) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.names_start
    if not _digits(text):
        raise ScheduleError(
            "expression", f"the {spec.name} field has {text!r}, which is not a number"
        )
    value = _whole(text)
    if value is None or not spec.low <= value <= spec.high:
        raise ScheduleError(
            "expression",
            f"the {spec.name} field has {_shown(text)}, outside {spec.low}-{spec.high}",
        )
    return value


def _step(text: str, spec: _FieldSpec, strict: bool) -> int:
    step = _whole(text) if _digits(text) else 0
    if step == 0:
        raise ScheduleError(
            "expression",
            f"the {spec.name} field's step {text!r} must be a positive number",
        )
    if step is None or step > spec.high:
        if strict:
            raise ScheduleError(
                "expression",
                f"the {spec.name} field's step {_shown(text)} must be from 1 to "
                f"{spec.high}",
            )
        return spec.high + 1  # as good as any larger step: the first value only
    return step


def _parse_field(text: str, spec: _FieldSpec, strict: bool = False) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(
                "expression", f"the {spec.name} field has an empty item"
            )
        span, _, step_text = item.partition("/")
        step = _step(step_text, spec, strict) if step_text else 1
        if span == "*":
            low, high = spec.low, spec.high
        elif "-" in span:
            first, _, last = span.partition("-")
            low, high = _number(first, spec), _number(last, spec)
            if low > high:
                raise ScheduleError(
                    "expression",
                    f"the {spec.name} field's range {span!r} runs backwards",
                )
        else:
            low = _number(span, spec)
            # "5/15" means from 5 to the end in steps of 15.
            high = spec.high if step_text else low
        values.update(range(low, high + 1, step))
    return values


def parse_cron(expression: str, *, strict: bool = False) -> Cron:
    """A Cron from five fields or an alias; ScheduleError at `expression`.
    `strict`: a step may not exceed its field's largest value."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise ScheduleError(
                "expression",
                f"unknown alias {text!r}; use one of {', '.join(ALIASES)}",
            )
        text = ALIASES[text.lower()]
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise ScheduleError(
            "expression",
            "a cron expression has 5 fields (minute hour day-of-month month "
            f"day-of-week), not {len(parts)}",
        )
    minutes, hours, days, months, weekdays = (
        _parse_field(part, spec, strict)
        for part, spec in zip(parts, _FIELDS, strict=True)
    )
    if 7 in weekdays:
        weekdays = (weekdays - {7}) | {0}
    cron = Cron(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(weekdays),
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )
    if cron.days_restricted and not cron.weekdays_restricted:
        # 2000 is a leap year: 29 February counts as a day that exists.
        longest = {month: calendar.monthrange(2000, month)[1] for month in months}
        if not any(day <= longest[month] for day in days for month in months):
            raise ScheduleError(
                "expression",
                "never fires: none of the chosen months has the chosen days",
            )
    return cron


_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_INTERVAL = re.compile(
    r"\A\s*(?:every\s+)?((?:\d+\s*[a-z]+\s*)+)\Z", re.IGNORECASE | re.ASCII
)
_PART = re.compile(r"(\d+)\s*([a-z]+)", re.IGNORECASE | re.ASCII)


def parse_interval(expression: str, *, strict: bool = False) -> timedelta:
    """ "every 10m", "every 1h30m", "every 2 days" -> a timedelta. `strict`:
    at most MAX_INTERVAL."""
    match = _INTERVAL.match(expression)
    wrong = ScheduleError(
        "expression",
        f"{expression!r} is not an interval; write one like 'every 10m' "
        "(units s, m, h, d)",
    )
    if match is None:
        raise wrong
    seconds = 0
    longest = MAX_INTERVAL if strict else _LONGEST
    for amount, unit in _PART.findall(match.group(1)):
        if unit.lower() not in _UNITS:
            raise wrong
        count = _whole(amount)
        if count is None:
            seconds = int(longest.total_seconds()) + 1
            continue
        seconds += count * _UNITS[unit.lower()]
    if seconds <= 0:
        raise ScheduleError("expression", "the interval must be longer than zero")
    if seconds > longest.total_seconds():
        raise ScheduleError(
            "expression",
            f"the interval is longer than the maximum, every "
            f"{format_interval(longest)}",
        )
    return timedelta(seconds=seconds)


def format_interval(every: timedelta) -> str:
    """A timedelta as the shortest "every" text: 5400 s -> "1h30m"."""
    seconds = int(every.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone; ScheduleError at `timezone` when it is unknown."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            "timezone",
            f"unknown time zone {name!r}; use an IANA name like Europe/Berlin",
        ) from None


@dataclass(frozen=True)
class Trigger:
    """What a schedule fires on: a cron expression or an interval, in a zone,
    between an optional start and end (both inclusive)."""

    kind: str
    expression: str
    zone: ZoneInfo
    start: datetime | None = None
    end: datetime | None = None
    cron: Cron | None = None
    every: timedelta | None = None

    @property
    def anchor(self) -> datetime:
        return self.start or EPOCH


def make_trigger(
    kind: str,
    expression: str,
    zone: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    min_interval: timedelta | None = None,
    strict: bool = False,
) -> Trigger:
    """Check every part and build the Trigger; the first problem found raises
    ScheduleError naming its field (kind, expression, timezone, start, end).
    `strict`: also hold what people type to the ranges (check_instant, cron
    steps, MAX_INTERVAL); a stored schedule is read without them."""
    if kind not in KINDS:
        raise ScheduleError("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    info = parse_zone(zone)
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.utcoffset() is None:
            raise ScheduleError(name, "must include a time zone offset")
        if value is not None and strict:
            check_instant(name, value)
    if start is not None and end is not None and end <= start:
        raise ScheduleError("end", "must be after start")
    start = _utc("start", start)
    end = _utc("end", end)
    if kind == CRON:
        cron = parse_cron(expression, strict=strict)
        return Trigger(kind, expression.strip(), info, start, end, cron=cron)
    every = parse_interval(expression, strict=strict)
    if min_interval is not None and every < min_interval:
        raise ScheduleError(
            "expression",
            f"every {format_interval(every)} is more often than the minimum "
            f"interval, every {format_interval(min_interval)}",
        )
    return Trigger(kind, expression.strip(), info, start, end, every=every)


def check_instant(name: str, value: datetime) -> None:
    """ScheduleError at `name` unless EARLIEST <= value <= LATEST."""
    if not EARLIEST <= value <= LATEST:
        raise ScheduleError(
            name,
            f"must be from {EARLIEST:%Y-%m-%dT%H:%M:%SZ} to "
            f"{LATEST:%Y-%m-%dT%H:%M:%SZ}",
        )


def _utc(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 at +01:00 is before the first UTC instant
        raise ScheduleError(name, "is out of range") from None


# --- computing fire times --------------------------------------------------------


def _shift(
    moment: datetime, delta: timedelta, *, back: bool = False
) -> datetime | None:
    """`moment` moved by `delta`; None when that leaves the window."""
    try:
        moved = moment - delta if back else moment + delta
    except OverflowError:
        return None
    return moved if _WINDOW_START <= moved <= _WINDOW_END else None


def _instant(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time in `zone`: the first of two when
    the time happens twice, None when it does not happen at all."""
    utc = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the earlier one
    if utc.astimezone(zone).replace(tzinfo=None) != wall:
        return None  # in the gap clocks skip
    return utc


def _cron_walk(trigger: Trigger, origin: datetime, forward: bool) -> Iterator[datetime]:
    """Instants strictly after (forward) or before `origin`, in order. Wall
    times map to instants monotonically (the earlier of two, none in a gap),
    so walking the wall clock in order walks time in order."""
    cron = trigger.cron
    assert cron is not None
    local = origin.astimezone(trigger.zone).replace(tzinfo=None)
    day = local.date()
    step = timedelta(days=1 if forward else -1)
    # Only times within three hours of the origin's wall time can be on the
    # wrong side of it after a DST shift; the rest are skipped unresolved.
    margin = timedelta(hours=3)
    hours = cron.hours if forward else tuple(reversed(cron.hours))
    minutes = cron.minutes if forward else tuple(reversed(cron.minutes))
    idle = 0  # days walked since the last instant: give up after _MAX_DAYS
    first_day, last_day = _WINDOW_START.date(), _WINDOW_END.date()
    while idle < _MAX_DAYS and first_day <= day <= last_day:
        idle += 1
        if cron.matches(day):
            for hour in hours:
                for minute in minutes:
                    wall = datetime.combine(day, time(hour, minute))
                    if forward and wall < local - margin:
                        continue
                    if not forward and wall > local + margin:
                        continue
                    instant = _instant(wall, trigger.zone)
                    if instant is None:
                        continue
                    if (instant > origin) if forward else (instant < origin):
                        idle = 0
                        yield instant
        day += step


def _interval_after(trigger: Trigger, origin: datetime) -> datetime | None:
    every = trigger.every
    assert every is not None
    steps = (origin - trigger.anchor) // every + 1
    if trigger.start is not None:
        steps = max(steps, 0)
    try:
        return _shift(trigger.anchor, steps * every)
    except OverflowError:  # steps * every is past what a timedelta holds
        return None


def _interval_before(trigger: Trigger, origin: datetime) -> datetime | None:
    every = trigger.every
    assert every is not None
    steps = -((trigger.anchor - origin) // every) - 1  # ceil(...) - 1
    if trigger.start is not None and steps < 0:
        return None
    try:
        return _shift(trigger.anchor, steps * every)
    except OverflowError:
        return None


def _interval_walk(
    first: datetime, every: timedelta, *, back: bool = False
) -> Iterator[datetime]:
    moment: datetime | None = first
    while moment is not None:
        yield moment
        moment = _shift(moment, every, back=back)


def next_after(trigger: Trigger, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`; None when there is none."""
    if trigger.start is not None and after < trigger.start:
        after = trigger.start - _ONE  # start > after: no overflow
    after = max(after, _WINDOW_START)
    if after >= _WINDOW_END:
        return None
    if trigger.kind == INTERVAL:
        found = _interval_after(trigger, after)
    else:
        found = next(_cron_walk(trigger, after, forward=True), None)
    if found is None or found > _WINDOW_END:
        return None
    if trigger.end is not None and found > trigger.end:
        return None
    return found


def previous_before(trigger: Trigger, before: datetime) -> datetime | None:
    """The last fire time strictly before `before`; None when there is none."""
    if trigger.end is not None and before > trigger.end:
        before = trigger.end + _ONE  # end < before: no overflow
    before = min(before, _WINDOW_END)
    if before <= _WINDOW_START:
        return None
    if trigger.kind == INTERVAL:
        found = _interval_before(trigger, before)
    else:
        found = next(_cron_walk(trigger, before, forward=False), None)
    if found is None or found < _WINDOW_START:
        return None
    if trigger.start is not None and found < trigger.start:
        return None
    return found


def iter_after(trigger: Trigger, after: datetime) -> Iterator[datetime]:
    """Every fire time strictly after `after`, in order, until the end."""
    first = next_after(trigger, after)
    if first is None:
        return
    if trigger.kind == CRON:
        # One walk instead of one per time: "* * * * *" would rescan the day.
        times = _cron_walk(trigger, first - _ONE, forward=True)
    else:
        assert trigger.every is not None
        times = _interval_walk(first, trigger.every)
    for found in times:
        if found > _WINDOW_END:
            return
        if trigger.end is not None and found > trigger.end:
            return
        yield found


def next_times(trigger: Trigger, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `after` (fewer when the schedule ends)."""
    return list(itertools.islice(iter_after(trigger, after), max(count, 0)))


def times_between(
    trigger: Trigger, first: datetime, last: datetime, limit: int
) -> list[datetime]:
    """Fire times t with first <= t <= last, oldest first, at most `limit`
    of them (callers ask for one more than they allow to detect too many)."""
    after = max(first, _WINDOW_START) - _ONE
    within = itertools.takewhile(lambda t: t <= last, iter_after(trigger, after))
    return list(itertools.islice(within, max(limit, 0)))


def iter_before(trigger: Trigger, before: datetime) -> Iterator[datetime]:
    """Every fire time strictly before `before`, newest first, to the start."""
    last = previous_before(trigger, before)
    if last is None:
        return
    if trigger.kind == CRON:
        times = _cron_walk(trigger, last + _ONE, forward=False)
    else:
        assert trigger.every is not None
        times = _interval_walk(last, trigger.every, back=True)
    for found in times:
        if found < _WINDOW_START:
            return
        if trigger.start is not None and found < trigger.start:
            return
        yield found


def latest_times(
    trigger: Trigger, since: datetime, until: datetime, limit: int
) -> list[datetime]:
    """The newest `limit` fire times t with since <= t <= until, oldest first."""
    before = min(until, _WINDOW_END) + _ONE
    within = itertools.takewhile(lambda t: t >= since, iter_before(trigger, before))
    times = list(itertools.islice(within, max(limit, 0)))
    times.reverse()
    return times


# --- parameters ------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*schedule\.([A-Za-z_]+)\s*\}\}")
PLACEHOLDERS = ("time", "time_utc", "date", "timestamp")


def check_placeholders(parameters: Mapping[str, Any]) -> None:
    """ScheduleError at parameters.<name> for an unknown {{schedule.x}}."""
    for name, value in parameters.items():
        if not isinstance(value, str):
            continue
        for key in _PLACEHOLDER.findall(value):
            if key not in PLACEHOLDERS:
                raise ScheduleError(
                    f"parameters.{name}",
                    f"unknown placeholder {{{{schedule.{key}}}}}; use "
                    + ", ".join(f"{{{{schedule.{p}}}}}" for p in PLACEHOLDERS),
                )


def fire_parameters(
    parameters: Mapping[str, Any], fire_time: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """The run's parameters for one fire: {{schedule.time}} (ISO 8601 in the
    schedule's zone), {{schedule.time_utc}}, {{schedule.date}} (the local
    date) and {{schedule.timestamp}} (Unix seconds) replaced in string values."""
    local = fire_time.astimezone(zone)
    values = {
        "time": local.isoformat(),
        "time_utc": fire_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "date": local.date().isoformat(),
        "timestamp": str(int(fire_time.timestamp())),
    }
    return {
        name: _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
        if isinstance(value, str)
        else value
        for name, value in parameters.items()
    }
