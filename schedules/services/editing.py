"""Create, change, pause, resume and delete schedules; check what people type.

Every check raises ScheduleError naming the field (fire_times.ScheduleError),
which the API answers with a 400 and the pages show next to the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from flowcore.fire_times import (
    ScheduleError,
    Trigger,
    check_placeholders,
    fire_parameters,
    make_trigger,
    next_after,
    next_times,
)
from flowcore.spec import SpecError, render_parameters
from schedules.models import Schedule
from workflows.blueprints import blueprint_for
from workflows.models import Workflow

PREVIEW_COUNT = 5

# What a person sets on a schedule; everything else is bookkeeping.
EDITABLE = (
    "name",
    "kind",
    "expression",
    "timezone",
    "start_at",
    "end_at",
    "parameters",
    "enabled",
    "overlap",
    "max_active",
    "catch_up",
    "catch_up_limit",
)


def min_interval() -> timedelta:
    return timedelta(seconds=settings.FLOWDECK_SCHEDULE_MIN_INTERVAL)


def trigger_of(schedule: Schedule) -> Trigger:
    """The schedule's trigger, as saved (checked when it was saved, so the
    minimum interval, which may have changed since, is not applied again)."""
    return make_trigger(
        schedule.kind,
        schedule.expression,
        schedule.timezone,
        schedule.start_at,
        schedule.end_at,
    )


@dataclass
class Checked:
    trigger: Trigger
    values: dict[str, Any] = field(default_factory=dict)


def check(
    values: Mapping[str, Any], workflow: Workflow | None = None, *, now: datetime
) -> Checked:
    """Check a schedule's settings (all of EDITABLE that matter; missing ones
    take the model's defaults). With `workflow`, the parameters must also fit
    its latest version. Raises ScheduleError naming the first bad field."""
    data = {name: values[name] for name in EDITABLE if name in values}
    name = str(data.get("name", "x")).strip()
    if not name:
        raise ScheduleError("name", "may not be blank")
    try:
        trigger = make_trigger(
            str(data.get("kind", Schedule.Kind.CRON)),
            str(data.get("expression", "")),
            str(data.get("timezone", "UTC")),
            data.get("start_at"),
            data.get("end_at"),
            min_interval=min_interval(),
            strict=True,
        )
    except ScheduleError as error:
        # The model's names for the fields the pure module calls start and end.
        field_name = {"start": "start_at", "end": "end_at"}.get(
            error.field, error.field
        )
        raise ScheduleError(field_name, error.message) from None
    for choice, kinds in (
        ("overlap", Schedule.Overlap),
        ("catch_up", Schedule.CatchUp),
    ):
        if choice in data and data[choice] not in kinds.values:
            raise ScheduleError(
                choice,
                f"must be one of {', '.join(kinds.values)}, not {data[choice]!r}",
            )
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise ScheduleError("parameters", "must be an object of names to values")
    check_placeholders(parameters)
    if workflow is not None and workflow.latest_version is not None:
        version = workflow.latest_version
        spec = blueprint_for(version.pk, version.document).spec
        sample = fire_parameters(parameters, now, trigger.zone)
        try:
            render_parameters(spec, sample)
        except SpecError as error:
            first = error.errors[0]
            raise ScheduleError(first.path, first.message) from None
    return Checked(trigger, data)


def preview(
    values: Mapping[str, Any], *, now: datetime, count: int = PREVIEW_COUNT
) -> list[datetime]:
    """The next `count` fire times of settings not saved yet."""
    return next_times(check(values, now=now).trigger, now, count)


def upcoming(schedule: Schedule, *, now: datetime, count: int) -> list[datetime]:
    """The schedule's next `count` fire times (none while it is paused).
    Times before its cursor were handled already (a tick run with a pretended
    later time, say), so they are not shown as coming."""
    if not schedule.enabled or schedule.next_fire_at is None:
        return []
    after = now
    if schedule.next_fire_at > now:
        after = schedule.next_fire_at - timedelta(microseconds=1)
    try:
        trigger = trigger_of(schedule)
    except ScheduleError:
        # Saved under rules since changed (a zone gone from the zone data):
        # it shows no times rather than breaking every list it is in.
        return []
    return next_times(trigger, after, count)


def upcoming_across(
    schedules: Iterable[Schedule], *, now: datetime, until: datetime, limit: int
) -> list[tuple[datetime, Schedule]]:
    """The fire times of `schedules` from `now` to `until`, soonest first, at
    most `limit` of them: a calendar of what will run."""
    found: list[tuple[datetime, Schedule]] = []
    for schedule in schedules:
        found.extend(
            (t, schedule)
            for t in upcoming(schedule, now=now, count=limit)
            if t <= until
        )
    found.sort(key=lambda item: (item[0], item[1].pk))
    return found[:limit]


def _name_taken(name: str) -> ScheduleError:
    return ScheduleError("name", f"the workflow has a schedule named {name!r}")


def create_schedule(
    workflow: Workflow, values: Mapping[str, Any], *, user: Any, now: datetime
) -> Schedule:
    """A new schedule of `workflow`, due at its first fire time after `now`."""
    checked = check(values, workflow, now=now)
    schedule = Schedule(workflow=workflow, **checked.values)
    schedule.name = schedule.name.strip()
    schedule.created_by = user if getattr(user, "is_authenticated", False) else None
    schedule.next_fire_at = (
        next_after(checked.trigger, now) if schedule.enabled else None
    )
    try:
        with transaction.atomic():
            schedule.save()
    except IntegrityError:
        raise _name_taken(schedule.name) from None
    return schedule


def update_schedule(
    schedule: Schedule, values: Mapping[str, Any], *, now: datetime
) -> Schedule:
    """Change some settings; the next fire time is counted again from `now`
    (times that already fired stay fired: the fires' unique constraint)."""
    current = {name: getattr(schedule, name) for name in EDITABLE}
    merged = {**current, **{k: v for k, v in values.items() if k in EDITABLE}}
    checked = check(merged, schedule.workflow, now=now)
    try:
        with transaction.atomic():
            locked = Schedule.objects.select_for_update().get(pk=schedule.pk)
            for name, value in checked.values.items():
                setattr(locked, name, value)
            locked.name = locked.name.strip()
            locked.next_fire_at = (
                next_after(checked.trigger, now) if locked.enabled else None
            )
            locked.save()
    except IntegrityError:
        raise _name_taken(str(merged["name"])) from None
    schedule.refresh_from_db()
    return schedule


def set_enabled(schedule: Schedule, enabled: bool, *, now: datetime) -> Schedule:
    """Pause or resume. Times passed while paused are not caught up: resuming
    is due at the first fire time after `now`. Repeating either is a no-op."""
    with transaction.atomic():
        locked = Schedule.objects.select_for_update().get(pk=schedule.pk)
        if locked.enabled != enabled:
            locked.enabled = enabled
            locked.next_fire_at = (
                next_after(trigger_of(locked), now) if enabled else None
            )
            locked.note = "" if enabled else locked.note
            locked.save(update_fields=["enabled", "next_fire_at", "note", "updated_at"])
    schedule.refresh_from_db()
    return schedule


def delete_schedule(schedule: Schedule) -> None:
    """Delete the schedule with its fires and backfills; its runs stay (they
    are the workflow's) and go on to their end."""
    with transaction.atomic():
        Schedule.objects.filter(pk=schedule.pk).delete()
