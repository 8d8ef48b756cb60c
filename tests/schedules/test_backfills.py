"""Backfills: a preview of the runs a past range will create, a cap on how
many run at once, times already fired left alone, and cancelling."""

from __future__ import annotations

import pytest

from flowcore.fire_times import ScheduleError
from schedules.models import Backfill, ScheduledFire
from schedules.services.backfills import cancel_backfill, create_backfill, preview
from schedules.services.firing import tick
from tests.schedules.conftest import at, finish

pytestmark = pytest.mark.django_db

Status = ScheduledFire.Status


@pytest.fixture
def schedule(make_schedule):
    # Made on the day before, so the backfilled hours are its past; without
    # catch-up, so the ticks below start only the backfill's runs.
    return make_schedule(now=at(0, day=4), catch_up="none")


def test_the_preview_lists_each_time_and_marks_those_already_fired(schedule):
    tick(at(1, day=4))  # fires 01:00 on the 4th
    planned = preview(schedule, at(0, day=4), at(3, day=4), now=at(12))
    assert [(f"{p.fire_time:%H:%M}", p.fire is not None) for p in planned] == [
        ("00:00", False),
        ("01:00", True),
        ("02:00", False),
        ("03:00", False),
    ]


def test_a_backfill_starts_up_to_its_cap_then_the_rest_as_runs_end(schedule, user):
    backfill = create_backfill(
        schedule, at(0), at(4), max_concurrent=2, user=user, now=at(9, 30)
    )
    assert (backfill.total, backfill.already_fired) == (5, 0)
    started = backfill.fires.filter(status=Status.STARTED).order_by("fire_time")
    assert [f"{f.fire_time:%H:%M}" for f in started] == ["00:00", "01:00"]
    assert tick(at(9, 31)).started == []  # both still going
    finish(started[0].run)
    assert len(tick(at(9, 32)).started) == 1
    for fire in backfill.fires.filter(status=Status.STARTED):
        finish(fire.run)
    tick(at(9, 33))
    for fire in backfill.fires.filter(status=Status.STARTED):
        finish(fire.run)
    tick(at(9, 34))
    backfill.refresh_from_db()
    assert backfill.status == Backfill.Status.DONE
    assert backfill.fires.filter(status=Status.STARTED).count() == 5
    run = backfill.fires.get(fire_time=at(3)).run
    assert run.parameters["when"] == "2026-01-05T03:00:00+00:00"


def test_a_backfill_leaves_times_the_schedule_fired_alone(schedule, user):
    tick(at(1, day=4))
    backfill = create_backfill(
        schedule, at(0, day=4), at(2, day=4), max_concurrent=5, user=user, now=at(9)
    )
    assert (backfill.total, backfill.already_fired) == (2, 1)
    assert ScheduledFire.objects.filter(fire_time=at(1, day=4)).count() == 1


def test_cancelling_drops_what_has_not_started_and_cancels_what_runs(schedule, user):
    backfill = create_backfill(
        schedule, at(0), at(5), max_concurrent=1, user=user, now=at(9)
    )
    running = backfill.fires.get(status=Status.STARTED).run
    cancel_backfill(backfill, now=at(9, 1))
    assert backfill.status == Backfill.Status.CANCELLED
    assert list(backfill.fires.values_list("status", flat=True)) == [Status.STARTED]
    running.refresh_from_db()
    assert running.status == "Cancelling"
    assert tick(at(9, 2)).started == []
    # The dropped times can be backfilled again.
    again = create_backfill(
        schedule, at(1), at(2), max_concurrent=1, user=user, now=at(9, 3)
    )
    assert again.total == 2
    assert cancel_backfill(backfill, now=at(9, 4)).status == Backfill.Status.CANCELLED


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (at(5), at(4), "must be after start"),
        (at(5), at(13), "must not be in the future"),
        (at(0, day=1), at(23, day=4), "more than 1000 fire times"),
    ],
)
def test_a_bad_range_says_what_is_wrong(make_schedule, start, end, message):
    schedule = make_schedule(expression="*/5 * * * *")
    with pytest.raises(ScheduleError) as error:
        preview(schedule, start, end, now=at(12))
    assert error.value.field == "end"
    assert message in error.value.message


@pytest.mark.parametrize("cap", [0, 101, "2", True])
def test_the_cap_must_be_a_sensible_number(schedule, user, cap):
    with pytest.raises(ScheduleError) as error:
        create_backfill(
            schedule, at(0), at(1), max_concurrent=cap, user=user, now=at(9)
        )
    assert error.value.field == "max_concurrent"
