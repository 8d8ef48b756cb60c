"""The tick: due times start runs once, overlap policies, catch-up after
downtime, pausing, and runs that cannot be submitted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schedules.models import Schedule, ScheduledFire
from schedules.services.editing import set_enabled, update_schedule
from schedules.services.firing import tick
from tests.conftest import shell_task, workflow_document
from tests.schedules.conftest import T0, at, finish
from workflows.models import Run
from workflows.services.submit import update_workflow

pytestmark = pytest.mark.django_db

Status = ScheduledFire.Status


def fires(schedule: Schedule) -> list[tuple[str, str]]:
    return [
        (f"{f.fire_time:%H:%M}", f.status) for f in schedule.fires.order_by("fire_time")
    ]


def test_a_new_schedule_is_due_at_its_first_fire_time(make_schedule):
    assert make_schedule().next_fire_at == at(11)


def test_nothing_fires_before_the_time(make_schedule):
    schedule = make_schedule()
    assert tick(at(10, 59, 59)).started == []
    assert not schedule.fires.exists()


def test_a_due_schedule_starts_one_run_with_its_fire_time(make_schedule):
    schedule = make_schedule(timezone="Europe/Berlin")
    result = tick(at(11, 0, 2))
    fire = ScheduledFire.objects.get(pk=result.started[0])
    assert (fire.fire_time, fire.status) == (at(11), Status.STARTED)
    run = fire.run
    assert run.trigger == Run.Trigger.SCHEDULE
    assert run.parameters == {"when": "2026-01-05T12:00:00+01:00", "label": "plain"}
    schedule.refresh_from_db()
    assert schedule.next_fire_at == at(12)


def test_ticking_again_at_the_same_time_starts_nothing_more(make_schedule):
    make_schedule()
    tick(at(11, 0, 1))
    again = tick(at(11, 0, 1))
    assert again.started == again.skipped == []
    assert Run.objects.count() == 1


def test_a_time_that_fired_never_fires_again_even_with_a_stale_cursor(
    make_schedule,
):
    schedule = make_schedule()
    tick(at(11, 0, 1))
    # A scheduler whose view of the schedule is old (or whose clock is behind).
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=at(11))
    assert tick(at(11, 0, 30)).started == []
    assert Run.objects.count() == 1


# --- overlap -------------------------------------------------------------------


def test_allow_starts_while_the_previous_run_is_going(make_schedule):
    schedule = make_schedule(overlap="allow")
    tick(at(11))
    tick(at(12))
    assert fires(schedule) == [("11:00", Status.STARTED), ("12:00", Status.STARTED)]


def test_allow_with_a_maximum_skips_beyond_it_and_says_why(make_schedule):
    schedule = make_schedule(overlap="allow", max_active=2)
    for hour in (11, 12, 13):
        tick(at(hour))
    assert fires(schedule)[-1] == ("13:00", Status.SKIPPED)
    assert schedule.fires.get(fire_time=at(13)).reason == (
        "2 runs of this schedule are still going (at most 2)"
    )


def test_forbid_skips_while_the_previous_run_is_going_and_records_why(
    make_schedule,
):
    schedule = make_schedule(overlap="forbid")
    first = ScheduledFire.objects.get(pk=tick(at(11)).started[0])
    skipped = ScheduledFire.objects.get(pk=tick(at(12)).skipped[0])
    assert skipped.reason == f"run #{first.run_id} of this schedule is still going"
    finish(first.run)
    assert tick(at(13)).started
    assert fires(schedule) == [
        ("11:00", Status.STARTED),
        ("12:00", Status.SKIPPED),
        ("13:00", Status.STARTED),
    ]


def test_replace_cancels_the_running_run_and_starts_the_new_one(make_schedule):
    make_schedule(overlap="replace")
    first = ScheduledFire.objects.get(pk=tick(at(11)).started[0])
    second = ScheduledFire.objects.get(pk=tick(at(12)).started[0])
    first.run.refresh_from_db()
    assert first.run.status == "Cancelling"
    assert second.reason == f"replaced run #{first.run_id}"
    assert second.run.status == "Pending"


def test_queue_starts_the_next_fire_when_the_running_one_ends(make_schedule):
    schedule = make_schedule(overlap="queue")
    first = ScheduledFire.objects.get(pk=tick(at(11)).started[0])
    assert tick(at(12)).queued
    assert tick(at(13)).queued
    assert tick(at(13, 0, 5)).started == []  # still going
    finish(first.run)
    started = tick(at(13, 0, 10)).started
    assert [ScheduledFire.objects.get(pk=pk).fire_time for pk in started] == [at(12)]
    assert fires(schedule) == [
        ("11:00", Status.STARTED),
        ("12:00", Status.STARTED),
        ("13:00", Status.QUEUED),
    ]
    queued = schedule.fires.get(fire_time=at(13))
    assert "still going; queued until one ends" in queued.reason


def test_a_paused_schedule_keeps_its_queue_until_resumed(make_schedule):
    schedule = make_schedule(overlap="queue")
    first = ScheduledFire.objects.get(pk=tick(at(11)).started[0])
    tick(at(12))
    finish(first.run)
    set_enabled(schedule, False, now=at(12, 1))
    assert tick(at(12, 2)).started == []
    set_enabled(schedule, True, now=at(12, 3))
    assert len(tick(at(12, 4)).started) == 1


# --- catch-up --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "limit", "started", "noted"),
    [
        ("none", 10, [], "catch-up none: none of them"),
        ("latest", 10, ["15:00"], "catch-up latest: the newest of them"),
        ("all", 10, ["11:00", "12:00", "13:00", "14:00", "15:00"], ""),
        ("all", 2, ["14:00", "15:00"], "catch-up starts only the newest 2"),
    ],
)
def test_after_downtime_catch_up_starts_what_its_policy_says(
    make_schedule, policy, limit, started, noted
):
    schedule = make_schedule(catch_up=policy, catch_up_limit=limit)
    tick(at(15, 30))  # nothing ran from 10:00 until now
    assert [t for t, s in fires(schedule) if s == Status.STARTED] == started
    schedule.refresh_from_db()
    assert noted in schedule.note
    assert bool(schedule.note) == bool(noted)
    assert schedule.next_fire_at == at(16)


def test_catch_up_none_still_starts_a_time_that_is_just_due(make_schedule):
    schedule = make_schedule(catch_up="none")
    tick(at(12, 0, 20))  # 11:00 missed, 12:00 on time
    assert fires(schedule) == [("12:00", Status.STARTED)]
    schedule.refresh_from_db()
    assert "missed fire times from 2026-01-05 11:00:00 UTC" in schedule.note


def test_catch_up_all_applies_the_overlap_policy_to_each_missed_time(make_schedule):
    schedule = make_schedule(catch_up="all", overlap="forbid")
    tick(at(13, 30))
    assert fires(schedule) == [
        ("11:00", Status.STARTED),
        ("12:00", Status.SKIPPED),
        ("13:00", Status.SKIPPED),
    ]


# --- pausing, editing, ending ----------------------------------------------------


def test_a_paused_schedule_does_not_fire_and_resuming_does_not_catch_up(
    make_schedule,
):
    schedule = make_schedule()
    set_enabled(schedule, False, now=at(10, 30))
    assert schedule.next_fire_at is None
    assert tick(at(13, 30)).started == []
    set_enabled(schedule, True, now=at(13, 30))
    assert schedule.next_fire_at == at(14)
    assert tick(at(13, 31)).started == []


def test_a_schedule_past_its_end_stops(make_schedule):
    schedule = make_schedule(end_at=at(12))
    tick(at(11))
    tick(at(12))
    schedule.refresh_from_db()
    assert schedule.next_fire_at is None
    assert tick(at(14)).started == []
    assert schedule.fires.count() == 2


def test_editing_the_expression_counts_the_next_time_from_now(make_schedule):
    schedule = make_schedule()
    update_schedule(schedule, {"expression": "*/15 * * * *"}, now=at(10, 20))
    assert schedule.next_fire_at == at(10, 30)


def test_a_run_that_cannot_be_submitted_is_recorded_as_failed(
    make_schedule, stamped, user
):
    schedule = make_schedule()
    # The workflow gains a required parameter the schedule does not give.
    document = workflow_document(
        "stamped",
        [shell_task("say", "echo {{params.when}} {{params.region}}")],
        parameters=[{"name": "when"}, {"name": "region"}],
    )
    update_workflow(stamped, document, author=user)
    result = tick(at(11))
    fire = ScheduledFire.objects.get(pk=result.failed[0])
    assert fire.reason == (
        "the run could not be submitted: parameters.region: is required"
    )
    assert not Run.objects.exists()
    schedule.refresh_from_db()
    assert schedule.next_fire_at == at(12)


def test_an_interval_schedule_fires_every_period(make_schedule):
    schedule = make_schedule(
        kind="interval", expression="every 20m", start_at=T0 + timedelta(minutes=5)
    )
    assert schedule.next_fire_at == at(10, 5)
    for minute in (5, 25, 45):
        tick(at(10, minute))
    assert [t for t, _ in fires(schedule)] == ["10:05", "10:25", "10:45"]


def test_one_schedule_failing_does_not_stop_the_others(make_schedule, monkeypatch):
    from schedules.services import firing

    broken = make_schedule(name="broken")
    fine = make_schedule(name="fine")
    real_start = firing.start

    def start(claimed, now):
        if claimed.schedule_id == broken.pk:
            raise RuntimeError("the database went away")
        return real_start(claimed, now)

    monkeypatch.setattr(firing, "start", start)
    result = tick(at(11))
    assert result.errors == [broken.pk]
    assert fires(fine) == [("11:00", Status.STARTED)]
    # The broken one's transaction rolled back: it is due again next tick.
    broken.refresh_from_db()
    assert (broken.next_fire_at, broken.fires.count()) == (at(11), 0)
    monkeypatch.setattr(firing, "start", real_start)
    tick(at(11, 0, 5))
    assert fires(broken) == [("11:00", Status.STARTED)]


def test_upcoming_times_start_at_the_cursor_not_before_it(make_schedule):
    from schedules.services.editing import upcoming

    schedule = make_schedule()
    assert upcoming(schedule, now=T0, count=2) == [at(11), at(12)]
    tick(at(11, 0, 1))  # fired early, as `tick_schedules --now` can
    schedule.refresh_from_db()
    assert upcoming(schedule, now=T0, count=2) == [at(12), at(13)]
    set_enabled(schedule, False, now=T0)
    assert upcoming(schedule, now=T0, count=2) == []
