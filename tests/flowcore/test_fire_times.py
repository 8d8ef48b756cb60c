"""Fire times, pure: cron fields and aliases, intervals, zones and DST, start
and end, parameters, and what bad input says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcore.fire_times import (
    ScheduleError,
    fire_parameters,
    latest_times,
    make_trigger,
    next_after,
    next_times,
    parse_cron,
    parse_interval,
    previous_before,
    times_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(zone: ZoneInfo, times: list[datetime]) -> list[str]:
    return [t.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for t in times]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", utc(2026, 1, 1, 10, 7), ["10:15", "10:30", "10:45"]),
        ("0 9-11 * * *", utc(2026, 1, 1, 9, 0), ["10:00", "11:00", "09:00"]),
        ("5,35 */6 * * *", utc(2026, 1, 1, 6, 30), ["06:35", "12:05", "12:35"]),
        ("10/20 8 * * *", utc(2026, 1, 1, 0, 0), ["08:10", "08:30", "08:50"]),
        ("@hourly", utc(2026, 1, 1, 10, 0), ["11:00", "12:00", "13:00"]),
        ("@daily", utc(2026, 1, 1, 10, 0), ["00:00", "00:00", "00:00"]),
    ],
)
def test_cron_fields_pick_the_minutes_and_hours(expression, after, expected):
    trigger = make_trigger("cron", expression, "UTC")
    times = next_times(trigger, after, 3)
    assert [t.strftime("%H:%M") for t in times] == expected
    assert times == sorted(times) and times[0] > after


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 1 January 2026 is a Thursday.
        ("0 0 * * mon-fri", utc(2026, 1, 2, 12), ["01-05", "01-06", "01-07"]),
        ("0 0 * * 0", utc(2026, 1, 1), ["01-04", "01-11", "01-18"]),
        ("0 0 * * 7", utc(2026, 1, 1), ["01-04", "01-11", "01-18"]),
        ("@weekly", utc(2026, 1, 1), ["01-04", "01-11", "01-18"]),
        ("@monthly", utc(2026, 1, 15), ["02-01", "03-01", "04-01"]),
        ("@yearly", utc(2026, 1, 15), ["01-01", "01-01", "01-01"]),
        ("0 0 31 * *", utc(2026, 1, 1), ["01-31", "03-31", "05-31"]),
        # Both day fields restricted: either matches (Vixie cron).
        ("0 0 13 * fri", utc(2026, 2, 1), ["02-06", "02-13", "02-20"]),
        ("0 0 29 feb *", utc(2026, 1, 1), ["02-29", "02-29", "02-29"]),
        ("0 0 1 jan,jul *", utc(2026, 2, 1), ["07-01", "01-01", "07-01"]),
    ],
)
def test_cron_days_months_and_weekdays(expression, after, expected):
    trigger = make_trigger("cron", expression, "UTC")
    assert [t.strftime("%m-%d") for t in next_times(trigger, after, 3)] == expected


def test_the_29th_of_february_waits_for_leap_years():
    trigger = make_trigger("cron", "0 0 29 2 *", "UTC")
    assert [t.year for t in next_times(trigger, utc(2026, 1, 1), 3)] == [
        2028,
        2032,
        2036,
    ]


# --- DST --------------------------------------------------------------------------


def test_a_time_clocks_skip_in_spring_is_skipped_in_berlin():
    # 29 March 2026: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist.
    trigger = make_trigger("cron", "30 2 * * *", "Europe/Berlin")
    times = next_times(trigger, utc(2026, 3, 27), 3)
    assert local(BERLIN, times) == [
        "2026-03-27 02:30 CET",
        "2026-03-28 02:30 CET",
        "2026-03-30 02:30 CEST",
    ]


def test_a_time_that_happens_twice_in_autumn_fires_once_in_berlin():
    # 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice.
    trigger = make_trigger("cron", "30 2 * * *", "Europe/Berlin")
    times = next_times(trigger, utc(2026, 10, 24), 3)
    assert local(BERLIN, times) == [
        "2026-10-24 02:30 CEST",
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
    ]


def test_every_half_hour_across_new_yorks_spring_forward():
    # 8 March 2026: 02:00 EST becomes 03:00 EDT.
    trigger = make_trigger("cron", "*/30 * * * *", "America/New_York")
    times = next_times(trigger, utc(2026, 3, 8, 6, 0), 4)  # 01:00 EST
    assert local(NEW_YORK, times) == [
        "2026-03-08 01:30 EST",
        "2026-03-08 03:00 EDT",
        "2026-03-08 03:30 EDT",
        "2026-03-08 04:00 EDT",
    ]
    assert times[1] - times[0] == timedelta(minutes=30)


def test_every_half_hour_across_new_yorks_fall_back_fires_each_wall_time_once():
    # 1 November 2026: 02:00 EDT becomes 01:00 EST; 01:00-01:59 happen twice.
    trigger = make_trigger("cron", "*/30 * * * *", "America/New_York")
    times = next_times(trigger, utc(2026, 11, 1, 4, 45), 4)  # 00:45 EDT
    assert local(NEW_YORK, times) == [
        "2026-11-01 01:00 EDT",
        "2026-11-01 01:30 EDT",
        "2026-11-01 02:00 EST",
        "2026-11-01 02:30 EST",
    ]
    assert times[2] - times[1] == timedelta(minutes=90)


def test_walking_backwards_sees_the_same_times_across_dst():
    trigger = make_trigger("cron", "*/30 * * * *", "Europe/Berlin")
    start, end = utc(2026, 10, 24, 22), utc(2026, 10, 25, 3)
    forwards = times_between(trigger, start, end, 100)
    assert latest_times(trigger, start, end, 100) == forwards
    assert len(forwards) == 9  # 00:00-04:00 local, 02:00 and 02:30 only once
    assert previous_before(trigger, forwards[3]) == forwards[2]


def test_intervals_are_elapsed_time_across_dst():
    trigger = make_trigger(
        "interval", "every 1h", "Europe/Berlin", start=utc(2026, 3, 28, 23)
    )
    times = next_times(trigger, utc(2026, 3, 28, 23), 4)
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [
        timedelta(hours=1)
    ] * 3
    assert local(BERLIN, times)[:2] == [
        "2026-03-29 01:00 CET",
        "2026-03-29 03:00 CEST",
    ]


# --- intervals, start and end -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("every 10m", 600),
        ("every 1h30m", 5400),
        ("every 2 days", 172800),
        ("EVERY 45 Seconds", 45),
        ("15m", 900),
    ],
)
def test_intervals_read_like_english(text, seconds):
    assert parse_interval(text) == timedelta(seconds=seconds)


def test_an_interval_without_a_start_is_counted_from_the_epoch():
    trigger = make_trigger("interval", "every 10m", "UTC")
    assert next_times(trigger, utc(2026, 1, 1, 10, 3), 2) == [
        utc(2026, 1, 1, 10, 10),
        utc(2026, 1, 1, 10, 20),
    ]
    assert previous_before(trigger, utc(2026, 1, 1, 10, 10)) == utc(2026, 1, 1, 10)


def test_an_interval_with_a_start_begins_there():
    start = utc(2026, 1, 1, 10, 3, 30)
    trigger = make_trigger("interval", "every 10m", "UTC", start=start)
    assert next_times(trigger, utc(2025, 1, 1), 2) == [
        start,
        start + timedelta(minutes=10),
    ]
    assert previous_before(trigger, start) is None


def test_start_and_end_bound_the_fire_times():
    trigger = make_trigger(
        "cron",
        "0 * * * *",
        "UTC",
        start=utc(2026, 1, 1, 10, 30),
        end=utc(2026, 1, 1, 13, 0),
    )
    assert next_times(trigger, utc(2026, 1, 1), 10) == [
        utc(2026, 1, 1, 11),
        utc(2026, 1, 1, 12),
        utc(2026, 1, 1, 13),
    ]
    assert next_after(trigger, utc(2026, 1, 1, 13)) is None
    assert previous_before(trigger, utc(2026, 1, 2)) == utc(2026, 1, 1, 13)


def test_a_naive_start_is_refused():
    with pytest.raises(ScheduleError) as error:
        make_trigger("cron", "@daily", "UTC", start=datetime(2026, 1, 1))
    assert error.value.field == "start"


def test_latest_times_keeps_the_newest_within_the_window():
    trigger = make_trigger("cron", "0 * * * *", "UTC")
    assert latest_times(trigger, utc(2026, 1, 1, 0), utc(2026, 1, 1, 5, 30), 2) == [
        utc(2026, 1, 1, 4),
        utc(2026, 1, 1, 5),
    ]


# --- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expression", "zone", "field", "message"),
    [
        ("cron", "* * * *", "UTC", "expression", "has 5 fields"),
        (
            "cron",
            "61 * * * *",
            "UTC",
            "expression",
            "minute field has 61, outside 0-59",
        ),
        ("cron", "* 24 * * *", "UTC", "expression", "hour field has 24, outside 0-23"),
        ("cron", "* * * 13 *", "UTC", "expression", "outside 1-12"),
        ("cron", "* * * * funday", "UTC", "expression", "'funday', which is not"),
        ("cron", "*/0 * * * *", "UTC", "expression", "must be a positive number"),
        ("cron", "5-1 * * * *", "UTC", "expression", "runs backwards"),
        ("cron", "1,,2 * * * *", "UTC", "expression", "empty item"),
        ("cron", "@often", "UTC", "expression", "unknown alias '@often'"),
        ("cron", "0 0 30 2 *", "UTC", "expression", "never fires"),
        ("cron", "@daily", "Mars/Olympus", "timezone", "unknown time zone"),
        ("cron", "@daily", "../etc/passwd", "timezone", "unknown time zone"),
        ("interval", "every fortnight", "UTC", "expression", "is not an interval"),
        ("interval", "every 0m", "UTC", "expression", "longer than zero"),
        ("interval", "every 10 parsecs", "UTC", "expression", "is not an interval"),
        ("weekly", "@daily", "UTC", "kind", "must be one of cron, interval"),
    ],
)
def test_bad_input_names_the_field_and_says_what_is_wrong(
    kind, expression, zone, field, message
):
    with pytest.raises(ScheduleError) as error:
        make_trigger(kind, expression, zone)
    assert error.value.field == field
    assert message in error.value.message


def test_an_end_before_the_start_is_refused():
    with pytest.raises(ScheduleError) as error:
        make_trigger("cron", "@daily", "UTC", utc(2026, 2, 1), utc(2026, 1, 1))
    assert (error.value.field, error.value.message) == ("end", "must be after start")


def test_an_interval_under_the_minimum_is_refused_with_both_values():
    with pytest.raises(ScheduleError) as error:
        make_trigger("interval", "every 30s", "UTC", min_interval=timedelta(minutes=1))
    assert error.value.message == (
        "every 30s is more often than the minimum interval, every 1m"
    )
    make_trigger("interval", "every 1m", "UTC", min_interval=timedelta(minutes=1))


def test_parse_cron_maps_sunday_seven_to_zero():
    assert parse_cron("0 0 * * 5-7").weekdays == frozenset({0, 5, 6})


# --- parameters -------------------------------------------------------------------


def test_the_fire_time_is_substituted_in_parameter_values():
    fire = utc(2026, 7, 1, 22, 30)
    values = fire_parameters(
        {
            "when": "{{schedule.time}}",
            "day": "day={{ schedule.date }}",
            "utc": "{{schedule.time_utc}}",
            "epoch": "{{schedule.timestamp}}",
            "plain": "hello",
            "number": 3,
        },
        fire,
        BERLIN,
    )
    assert values == {
        "when": "2026-07-02T00:30:00+02:00",
        "day": "day=2026-07-02",
        "utc": "2026-07-01T22:30:00Z",
        "epoch": str(int(fire.timestamp())),
        "plain": "hello",
        "number": 3,
    }


def test_an_unknown_placeholder_is_refused_at_its_parameter():
    from flowcore.fire_times import check_placeholders

    with pytest.raises(ScheduleError) as error:
        check_placeholders({"when": "{{schedule.tomorrow}}"})
    assert error.value.field == "parameters.when"
    assert "unknown placeholder {{schedule.tomorrow}}" in error.value.message


def test_a_rare_expression_still_lists_many_years_ahead():
    trigger = make_trigger("cron", "@yearly", "UTC")
    times = next_times(trigger, utc(2026, 6, 1), 20)
    assert [t.year for t in times] == list(range(2027, 2047))


def test_a_short_range_of_a_rare_expression_is_quick_and_empty():
    trigger = make_trigger("cron", "0 0 29 2 *", "UTC")
    assert times_between(trigger, utc(2026, 1, 1), utc(2026, 12, 31), 1001) == []


# --- properties: against a minute-by-minute brute force ---------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
# The instants clocks change in these zones (spring and autumn), and a day
# without a change.
AROUND = [
    utc(2026, 3, 8, 7),  # New York springs forward
    utc(2026, 11, 1, 6),  # New York falls back
    utc(2026, 3, 29, 1),  # Berlin springs forward
    utc(2026, 10, 25, 1),  # Berlin falls back
    utc(2026, 4, 4, 15),  # Lord Howe falls back half an hour
    utc(2026, 10, 3, 15, 30),  # Lord Howe springs forward half an hour
    utc(2026, 7, 1, 0),
]


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    single = st.integers(low, high).map(str)
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda p: f"{min(p)}-{max(p)}"
    )
    step = st.integers(1, max(1, (high - low) // 2)).map(lambda n: f"*/{n}")
    item = st.one_of(st.just("*"), single, span, step)
    return st.lists(item, min_size=1, max_size=3).map(",".join)


expressions = st.tuples(
    _field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 6)
).map(" ".join)


def _brute(expression: str, zone: str, first: datetime, last: datetime):
    cron = parse_cron(expression)
    info = ZoneInfo(zone)
    found = []
    minute = first.replace(second=0, microsecond=0)
    if minute < first:
        minute += timedelta(minutes=1)
    while minute <= last:
        local = minute.astimezone(info)
        # A wall time that happens twice fires at its first occurrence only.
        if (
            local.fold == 0
            and local.minute in cron.minutes
            and local.hour in cron.hours
            and cron.matches(local.date())
        ):
            found.append(minute)
        minute += timedelta(minutes=1)
    return found


@settings(max_examples=200, deadline=None)
@given(
    expression=expressions,
    zone=st.sampled_from(ZONES),
    around=st.sampled_from(AROUND),
    offset=st.integers(-5 * 60, 60),
)
def test_cron_times_are_exactly_the_matching_first_wall_times(
    expression, zone, around, offset
):
    try:
        trigger = make_trigger("cron", expression, zone)
    except ScheduleError:
        return  # an expression that never fires
    first = around + timedelta(minutes=offset)
    last = first + timedelta(hours=6)
    expected = _brute(expression, zone, first, last)
    assert times_between(trigger, first, last, 10_000) == expected
    assert latest_times(trigger, first, last, 10_000) == expected


# --- ranges, and no input that overflows -------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (f"*/{2**63} * * * *", "minute field's step 922337203685... must be from 1"),
        ("*/60 * * * *", "minute field's step 60 must be from 1 to 59"),
        ("0 0 */32 * *", "day-of-month field's step 32 must be from 1 to 31"),
        ("² * * * *", "minute field has '²', which is not a number"),
        ("*/² * * * *", "step '²' must be a positive number"),
        ("9" * 5000 + " * * * *", "minute field has 999999999999..., outside 0-59"),
    ],
)
def test_a_cron_field_out_of_its_range_is_refused_when_typed(expression, message):
    with pytest.raises(ScheduleError, match=message.replace("*", r"\*")) as error:
        make_trigger("cron", expression, "UTC", strict=True)
    assert error.value.field == "expression"


def test_a_stored_step_past_its_field_still_reads_as_the_first_value_only():
    # Saved before steps were held to their field: it keeps firing as it did.
    trigger = make_trigger("cron", f"*/{2**63} * * * *", "UTC")
    assert next_times(trigger, utc(2026, 1, 1, 10, 30), 2) == [
        utc(2026, 1, 1, 11),
        utc(2026, 1, 1, 12),
    ]


@pytest.mark.parametrize(
    "expression",
    ["every 99999999999999999d", "every 367d", "every 9" + "9" * 5000 + "s"],
)
def test_an_interval_longer_than_a_year_is_refused(expression):
    with pytest.raises(ScheduleError, match="longer than the maximum, every 366d"):
        make_trigger("interval", expression, "UTC", strict=True)


def test_an_interval_no_timedelta_could_hold_is_refused_even_when_stored():
    with pytest.raises(ScheduleError, match="longer than the maximum"):
        parse_interval("every 99999999999999999d")
    assert parse_interval("every 366d", strict=True) == timedelta(days=366)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start", datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),
        ("start", datetime(1969, 12, 31, 23, 59, tzinfo=UTC)),
        ("end", datetime(1, 1, 1, tzinfo=UTC)),
        ("end", datetime(1, 1, 1, 0, 30, tzinfo=BERLIN)),  # before any UTC instant
        ("end", datetime(3000, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_start_or_end_outside_1970_to_2999_is_refused(field, value):
    with pytest.raises(ScheduleError, match="must be from 1970-01-01T00:00:00Z to"):
        make_trigger("cron", "0 * * * *", "UTC", strict=True, **{field: value})


instants = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda moment: moment.replace(tzinfo=UTC))


@settings(max_examples=300, deadline=None)
@given(
    cron=expressions,
    every=st.integers(1, 10**15),
    interval=st.booleans(),
    zone=st.sampled_from(["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Europe/Berlin"]),
    start=st.none() | instants,
    end=st.none() | instants,
    moment=instants,
)
def test_no_schedule_and_no_instant_makes_the_computations_raise(
    cron, every, interval, zone, start, end, moment
):
    """What a stored schedule says is read without the ranges: any start, end
    and interval a database could hold. Its times end where datetimes do."""
    if start is not None and end is not None and end <= start:
        end = None
    try:
        trigger = make_trigger(
            "interval" if interval else "cron",
            f"every {every}s" if interval else cron,
            zone,
            start,
            end,
        )
    except ScheduleError:
        return  # refused with a reason (never fires, too long): not a crash
    times = next_times(trigger, moment, 3)
    assert times == sorted(set(times)) and all(t > moment for t in times)
    info = ZoneInfo(zone)
    for t in times:
        fire_parameters({"at": "{{schedule.time}}"}, t, info)  # any zone's clock
    earlier = previous_before(trigger, moment)
    assert earlier is None or earlier < moment
    first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    after = times_between(trigger, moment, last, 3)
    assert after == sorted(after) and all(t >= moment for t in after)
    before = latest_times(trigger, first, moment, 3)
    assert before == sorted(before) and all(t <= moment for t in before)
