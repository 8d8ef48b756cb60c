"""The tick: fire due schedules exactly once, apply the overlap policy and
catch-up, start queued fires and backfill fires when there is room.

Run by Celery beat (schedules.tasks.tick) every few seconds, possibly by
several beats at once. Each schedule is handled in its own transaction holding
its row lock (SKIP LOCKED: a schedule another scheduler is firing is left to
it), which keeps overlap decisions consistent. Exactly once does not rest on
that lock but on the unique (schedule, fire_time) of ScheduledFire, inserted
in the same transaction that submits the run: whoever inserts second gets an
IntegrityError and starts nothing, whatever its clock or its view of the
schedule's cursor.

Lock order: the schedule (or backfill), then runs (submit_run, cancel_run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from flowcore.fire_times import (
    fire_parameters,
    latest_times,
    next_after,
)
from flowcore.spec import SpecError
from flowcore.states import TERMINAL_RUN_STATUSES
from observability import metrics
from schedules.models import Backfill, Schedule, ScheduledFire
from schedules.services.editing import trigger_of
from workflows.models import Run
from workflows.services import leadership
from workflows.services.control import ActionRefused, cancel_run
from workflows.services.submit import submit_run

log = logging.getLogger(__name__)

# A fire time this late is "missed" (the scheduler was down) rather than due:
# catch-up "none" does not start it.
ON_TIME = timedelta(minutes=1)
# A schedule never queues more fires than this; further ones are skipped.
MAX_QUEUED = 100
# Schedules handled per tick; the rest wait for the next one.
BATCH = 500

Status = ScheduledFire.Status


@dataclass
class TickResult:
    """What one tick did, by fire status (for logs and tests)."""

    started: list[int] = field(default_factory=list)  # fire ids
    skipped: list[int] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)  # schedule/backfill ids
    # Seconds from each started fire's time to its run's submission.
    lateness: list[float] = field(default_factory=list)
    # Fires started later than the tolerance (schedule.missed notifications).
    late: list[int] = field(default_factory=list)

    def add(self, fire: ScheduledFire | None) -> None:
        if fire is None:
            return
        if fire.status == Status.STARTED and fire.started_at is not None:
            seconds = max(0.0, (fire.started_at - fire.fire_time).total_seconds())
            self.lateness.append(seconds)
            if seconds > _tolerance():
                self.late.append(fire.pk)
        bucket = {
            Status.STARTED: self.started,
            Status.SKIPPED: self.skipped,
            Status.QUEUED: self.queued,
            Status.FAILED: self.failed,
        }.get(Status(fire.status))
        if bucket is not None:
            bucket.append(fire.pk)


def _tolerance() -> float:
    from django.conf import settings

    return float(settings.FLOWDECK_SCHEDULE_TOLERANCE_SECONDS)


def tick(now: datetime) -> TickResult:
    """Fire everything due at `now`, then start what waits and has room.
    Call outside any transaction (each schedule commits on its own)."""
    result = TickResult()
    due = Schedule.objects.filter(enabled=True, next_fire_at__lte=now).order_by(
        "next_fire_at"
    )
    for schedule_id in list(due.values_list("pk", flat=True)[:BATCH]):
        _guarded(fire_due, schedule_id, now, result)
    waiting = (
        ScheduledFire.objects.filter(status=Status.QUEUED)
        .order_by()
        .values_list("schedule_id", flat=True)
        .distinct()
    )
    for schedule_id in list(waiting[:BATCH]):
        _guarded(start_queued, schedule_id, now, result)
    running = Backfill.objects.filter(status=Backfill.Status.RUNNING)
    for backfill_id in list(running.values_list("pk", flat=True)[:BATCH]):
        _guarded(advance_backfill, backfill_id, now, result)
    _count(result)
    _notify_missed(result, now)
    return result


def _notify_missed(result: TickResult, now: datetime) -> None:
    """Notification rules asking for `schedule.missed` hear of each fire time
    this tick skipped, could not submit, or submitted later than
    FLOWDECK_SCHEDULE_TOLERANCE_SECONDS after its time."""
    from django.conf import settings
    from django.urls import reverse

    from notifications import outbox

    tolerance = timedelta(seconds=settings.FLOWDECK_SCHEDULE_TOLERANCE_SECONDS)
    ids = [*result.skipped, *result.failed, *result.late]
    if not ids:
        return
    missed = []
    for fire in ScheduledFire.objects.filter(pk__in=ids).select_related(
        "schedule__workflow"
    ):
        schedule = fire.schedule
        reason = fire.reason
        if fire.status == Status.STARTED and fire.started_at is not None:
            after = (fire.started_at - fire.fire_time).total_seconds()
            reason = (
                f"started {after:.0f} s after its time "
                f"(tolerance {tolerance.total_seconds():.0f} s)"
            )
        missed.append(
            (
                schedule.workflow_id,
                fire.pk,
                {
                    "id": schedule.pk,
                    "name": schedule.name,
                    "workflow": schedule.workflow.name,
                    "fire_time": fire.fire_time.isoformat(),
                    "status": fire.status,
                    "reason": reason,
                    "run": fire.run_id,
                    "url": settings.FLOWDECK_BASE_URL.rstrip("/")
                    + reverse("schedule-detail", args=[schedule.pk]),
                },
            )
        )
    try:
        with transaction.atomic():
            outbox.schedule_missed(missed, now)
    except Exception:
        log.exception("writing schedule.missed notifications failed")


def _count(result: TickResult) -> None:
    """The tick's fires in flowdeck_schedule_fires (committed: each schedule
    commits on its own before the tick goes on)."""
    for outcome, fires in (
        ("submitted", result.started),
        ("skipped", result.skipped),
        ("queued", result.queued),
        ("failed", result.failed),
        ("error", result.errors),
    ):
        if fires:
            metrics.SCHEDULE_FIRES.labels(outcome).inc(len(fires))
    for seconds in result.lateness:
        metrics.SCHEDULE_LATENESS.observe(seconds)


def _guarded(
    step: Callable[[int, datetime, TickResult], None],
    pk: int,
    now: datetime,
    result: TickResult,
) -> None:
    """One schedule's trouble (its workflow deleted mid-fire, a database
    error) rolls back only its own transaction; the others still fire, and
    it is tried again on the next tick."""
    try:
        step(pk, now, result)
    except leadership.NotLeader:
        raise  # a deposed beat's tick: the leader's ticks fire the rest
    except Exception:
        log.exception("schedule tick: %s(%s) failed", step.__name__, pk)
        result.errors.append(pk)


def fire_due(schedule_id: int, now: datetime, result: TickResult) -> None:
    """Fire the schedule's times due at `now` as its catch-up policy says,
    and move its cursor past `now`."""
    with transaction.atomic():
        schedule = (
            Schedule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("workflow__latest_version")
            .filter(pk=schedule_id, enabled=True, next_fire_at__lte=now)
            .first()
        )
        if schedule is None:
            return  # another scheduler has it, or it was handled, paused, deleted
        trigger = trigger_of(schedule)
        cursor = schedule.next_fire_at
        assert cursor is not None
        policy = schedule.catch_up
        limit = schedule.catch_up_limit if policy == Schedule.CatchUp.ALL else 1
        due = latest_times(trigger, cursor, now, limit)
        if policy == Schedule.CatchUp.NONE:
            due = [t for t in due if now - t <= ON_TIME]
        missed = not due or due[0] != cursor
        for fire_time in due:
            result.add(fire(schedule, fire_time, now))
        if missed:
            schedule.note = _missed_note(schedule, cursor, due, now)
            log.info("schedule %s: %s", schedule.pk, schedule.note)
        schedule.next_fire_at = next_after(trigger, now)
        schedule.save(update_fields=["next_fire_at", "note"])


def _missed_note(
    schedule: Schedule, cursor: datetime, started: list[datetime], now: datetime
) -> str:
    until = started[0] if started else now
    when = f"from {cursor:%Y-%m-%d %H:%M:%S} UTC until {until:%Y-%m-%d %H:%M:%S} UTC"
    if schedule.catch_up == Schedule.CatchUp.ALL:
        return (
            f"missed fire times {when} were not started: catch-up starts only "
            f"the newest {schedule.catch_up_limit}"
        )
    kept = "the newest" if started else "none"
    return (
        f"missed fire times {when} were not started (catch-up "
        f"{schedule.catch_up}: {kept} of them)"
    )


def fire(
    schedule: Schedule, fire_time: datetime, now: datetime
) -> ScheduledFire | None:
    """Claim `fire_time` for the schedule and act on it: start, skip, queue or
    replace, by the overlap policy. None when it was claimed already (by
    another scheduler, an earlier tick, or a backfill). The caller holds a
    transaction (the claim must commit with the run it starts) and, for the
    overlap decision to be consistent, the schedule's row lock."""
    # Sent by a deposed beat (its tick waited in the broker, or it did not
    # know yet): claim nothing. Checked in the claim's transaction.
    leadership.check_fence()
    try:
        # A savepoint: losing the race leaves the caller's transaction usable.
        with transaction.atomic():
            claimed = ScheduledFire.objects.create(
                schedule=schedule, fire_time=fire_time, status=Status.QUEUED
            )
    except IntegrityError:
        return None
    active = active_runs(schedule)
    limit = _limit(schedule)
    overlap = schedule.overlap
    if overlap == Schedule.Overlap.REPLACE and active:
        for run_id in active:
            with suppress(ActionRefused, Run.DoesNotExist):  # it ended meanwhile
                cancel_run(run_id)
        claimed.reason = "replaced run " + ", ".join(f"#{pk}" for pk in active)
        active = []
    if overlap == Schedule.Overlap.QUEUE:
        waiting = ScheduledFire.objects.filter(
            schedule=schedule, status=Status.QUEUED, backfill=None
        ).exclude(pk=claimed.pk)
        if waiting.exists() or (limit is not None and len(active) >= limit):
            if waiting.count() >= MAX_QUEUED:
                return _skip(claimed, f"the queue already holds {MAX_QUEUED} fires")
            claimed.reason = _busy(active, limit) + "; queued until one ends"
            claimed.save(update_fields=["reason"])
            return claimed
    elif limit is not None and len(active) >= limit:
        return _skip(claimed, _busy(active, limit))
    return start(claimed, now)


def _busy(active: list[int], limit: int | None) -> str:
    runs = ", ".join(f"#{pk}" for pk in active[:5])
    if limit == 1:
        return f"run {runs} of this schedule is still going"
    return f"{len(active)} runs of this schedule are still going (at most {limit})"


def _skip(claimed: ScheduledFire, reason: str) -> ScheduledFire:
    claimed.status = Status.SKIPPED
    claimed.reason = reason
    claimed.save(update_fields=["status", "reason"])
    return claimed


def _limit(schedule: Schedule) -> int | None:
    if schedule.max_active is not None:
        return schedule.max_active
    if schedule.overlap in (Schedule.Overlap.FORBID, Schedule.Overlap.QUEUE):
        return 1
    return None


def active_runs(schedule: Schedule) -> list[int]:
    """The ids of the schedule's own runs (not its backfills') that have not
    finished, oldest first."""
    return list(
        ScheduledFire.objects.filter(
            schedule=schedule, status=Status.STARTED, backfill=None
        )
        .exclude(run=None)
        .exclude(run__status__in=TERMINAL_RUN_STATUSES)
        .order_by("run_id")
        .values_list("run_id", flat=True)
    )


def start(claimed: ScheduledFire, now: datetime) -> ScheduledFire:
    """Submit the fire's run with the schedule's parameters for its time. The
    caller holds the transaction the claim was inserted in."""
    schedule = claimed.schedule
    version = schedule.workflow.latest_version
    if version is None:
        return _fail(claimed, "the workflow has no version to run")
    parameters = fire_parameters(
        schedule.parameters, claimed.fire_time, trigger_of(schedule).zone
    )
    try:
        with transaction.atomic():
            run = submit_run(
                version, parameters=parameters, trigger=Run.Trigger.SCHEDULE
            )
    except SpecError as error:
        problems = "; ".join(f"{e.path}: {e.message}" for e in error.errors)
        return _fail(claimed, f"the run could not be submitted: {problems}")
    claimed.status = Status.STARTED
    claimed.run = run
    claimed.started_at = now
    claimed.save(update_fields=["status", "run", "started_at", "reason"])
    return claimed


def _fail(claimed: ScheduledFire, reason: str) -> ScheduledFire:
    claimed.status = Status.FAILED
    claimed.reason = reason
    claimed.save(update_fields=["status", "reason"])
    log.warning("schedule %s at %s: %s", claimed.schedule_id, claimed.fire_time, reason)
    return claimed


def start_queued(schedule_id: int, now: datetime, result: TickResult) -> None:
    """Start the schedule's queued fires, oldest first, while there is room.
    A paused schedule keeps its queue until it is resumed."""
    with transaction.atomic():
        schedule = (
            Schedule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("workflow__latest_version")
            .filter(pk=schedule_id, enabled=True)
            .first()
        )
        if schedule is None:
            return
        limit = _limit(schedule)
        room = None if limit is None else limit - len(active_runs(schedule))
        queued = ScheduledFire.objects.filter(
            schedule=schedule, status=Status.QUEUED, backfill=None
        ).order_by("fire_time")
        if room is not None:
            queued = queued[: max(room, 0)]
        for claimed in queued:
            claimed.schedule = schedule
            result.add(start(claimed, now))


def advance_backfill(backfill_id: int, now: datetime, result: TickResult) -> None:
    """Start the backfill's pending fires, oldest first, up to its cap of
    runs at once; mark it done when nothing is left to start or running."""
    with transaction.atomic():
        backfill = (
            Backfill.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("schedule__workflow__latest_version")
            .filter(pk=backfill_id, status=Backfill.Status.RUNNING)
            .first()
        )
        if backfill is None:
            return
        running = (
            backfill.fires.filter(status=Status.STARTED)
            .exclude(run=None)
            .exclude(run__status__in=TERMINAL_RUN_STATUSES)
            .count()
        )
        pending = backfill.fires.filter(status=Status.PENDING).order_by("fire_time")
        room = max(backfill.max_concurrent - running, 0)
        started = 0
        for claimed in pending[:room]:
            claimed.schedule = backfill.schedule
            fired = start(claimed, now)
            result.add(fired)
            started += fired.status == Status.STARTED
        if not running and not started and not pending.exists():
            backfill.status = Backfill.Status.DONE
            backfill.finished_at = now
            backfill.save(update_fields=["status", "finished_at"])
