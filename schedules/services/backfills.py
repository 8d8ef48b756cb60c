"""Backfills: run a schedule for the fire times of a past range, at most
`max_concurrent` runs at once, previewed first and cancellable.

A backfill claims its times with the same unique (schedule, fire_time) rows as
the tick, so a time the schedule already fired (or another backfill claimed)
is left alone and never runs twice.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from flowcore.fire_times import ScheduleError, check_instant, times_between
from flowcore.states import TERMINAL_RUN_STATUSES
from schedules.models import MAX_BACKFILL_CONCURRENCY, Backfill, Schedule, ScheduledFire
from schedules.services.editing import trigger_of
from schedules.services.firing import TickResult, advance_backfill
from workflows.models import Run
from workflows.services.control import ActionRefused, cancel_run

MAX_BACKFILL = 1000


@dataclass(frozen=True)
class PlannedFire:
    """One time of a backfill preview; `fire` is set when the time has
    already been claimed (it will not run again)."""

    fire_time: datetime
    fire: ScheduledFire | None


def check_range(start: datetime, end: datetime, now: datetime) -> None:
    check_instant("start", start)
    check_instant("end", end)
    if end <= start:
        raise ScheduleError("end", "must be after start")
    if end > now:
        raise ScheduleError(
            "end", "must not be in the future: backfills are for the past"
        )


def check_concurrency(value: Any) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 1 <= value <= MAX_BACKFILL_CONCURRENCY
    ):
        raise ScheduleError(
            "max_concurrent",
            f"must be a whole number from 1 to {MAX_BACKFILL_CONCURRENCY}",
        )
    return value


def preview(
    schedule: Schedule, start: datetime, end: datetime, *, now: datetime
) -> list[PlannedFire]:
    """The schedule's fire times from `start` to `end` (inclusive), each with
    the fire that already claimed it, if any. ScheduleError at `end` for a
    backwards or future range, or one of more than MAX_BACKFILL times."""
    check_range(start, end, now)
    times = times_between(trigger_of(schedule), start, end, MAX_BACKFILL + 1)
    if len(times) > MAX_BACKFILL:
        raise ScheduleError(
            "end",
            f"the range holds more than {MAX_BACKFILL} fire times; backfill a "
            "shorter one",
        )
    claimed = {
        fire.fire_time: fire
        for fire in ScheduledFire.objects.filter(
            schedule=schedule, fire_time__in=times
        ).select_related("run")
    }
    return [PlannedFire(t, claimed.get(t)) for t in times]


def create_backfill(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    *,
    max_concurrent: int,
    user: Any,
    now: datetime,
) -> Backfill:
    """Claim the range's unclaimed times and start the first `max_concurrent`
    runs; the tick starts the rest as runs end."""
    max_concurrent = check_concurrency(max_concurrent)
    planned = preview(schedule, start, end, now=now)
    new = [p.fire_time for p in planned if p.fire is None]
    with transaction.atomic():
        backfill = Backfill.objects.create(
            schedule=schedule,
            start_at=start,
            end_at=end,
            max_concurrent=max_concurrent,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        # Conflicts are times claimed since the preview: theirs, not ours.
        ScheduledFire.objects.bulk_create(
            [
                ScheduledFire(
                    schedule=schedule,
                    fire_time=t,
                    status=ScheduledFire.Status.PENDING,
                    backfill=backfill,
                )
                for t in new
            ],
            ignore_conflicts=True,
        )
        backfill.total = backfill.fires.count()
        backfill.already_fired = len(planned) - backfill.total
        backfill.save(update_fields=["total", "already_fired"])
        advance_backfill(backfill.pk, now, TickResult())
    backfill.refresh_from_db()
    return backfill


def cancel_backfill(backfill: Backfill, *, now: datetime) -> Backfill:
    """Stop a backfill: its fires not started yet are dropped (so the times
    can be backfilled again) and its unfinished runs are cancelled. Cancelling
    a finished or cancelled backfill changes nothing."""
    with transaction.atomic():
        locked = Backfill.objects.select_for_update().get(pk=backfill.pk)
        if locked.status != Backfill.Status.RUNNING:
            return locked
        locked.fires.filter(status=ScheduledFire.Status.PENDING).delete()
        live = (
            locked.fires.filter(status=ScheduledFire.Status.STARTED)
            .exclude(run=None)
            .exclude(run__status__in=TERMINAL_RUN_STATUSES)
            .values_list("run_id", flat=True)
        )
        for run_id in list(live):
            with suppress(ActionRefused, Run.DoesNotExist):  # it finished meanwhile
                cancel_run(run_id)
        locked.status = Backfill.Status.CANCELLED
        locked.finished_at = now
        locked.save(update_fields=["status", "finished_at"])
    backfill.refresh_from_db()
    return backfill
