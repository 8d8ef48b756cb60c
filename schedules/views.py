"""Pages of schedules: the form (with the next fire times shown before
saving), a schedule's fires and backfills, pause/resume/delete, and the
upcoming runs across workflows.

Read through visible_project_filter (someone else's project is a 404), act
through schedules.services after workflows.permissions.require (403 naming
the role), record every change in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import audit
from flowcore.fire_times import ScheduleError, next_times
from schedules.forms import BackfillForm, ScheduleForm
from schedules.models import Backfill, Schedule
from schedules.services import backfills, editing
from workflows.blueprints import blueprint_for
from workflows.models import Workflow
from workflows.permissions import (
    Action,
    allowed_actions,
    require,
    visible,
    visible_project_filter,
)

PREVIEW_COUNT = 5
UPCOMING_DAYS = 7
UPCOMING_LIMIT = 300
FIRES_PAGE = 50


def _schedules(request: HttpRequest) -> QuerySet[Schedule]:
    return Schedule.objects.filter(
        visible_project_filter(request.user, "workflow__project")
    ).select_related("workflow__project", "workflow__latest_version")


def _parameter_names(workflow: Workflow) -> list[str]:
    version = workflow.latest_version
    if version is None:
        return []
    spec = blueprint_for(version.pk, version.document).spec
    return [parameter.name for parameter in spec.parameters]


def local_times(times: list[datetime], zone_name: str) -> list[datetime]:
    zone = ZoneInfo(zone_name)
    return [t.astimezone(zone) for t in times]


def schedule_rows(schedules: list[Schedule], *, now: datetime) -> list[dict[str, Any]]:
    """What the workflow page shows of each schedule: its next five fire
    times in its zone, its last fire and that fire's run."""
    rows = []
    for schedule in schedules:
        last = (
            schedule.fires.select_related("run")
            .exclude(status="pending")
            .order_by("-fire_time")
            .first()
        )
        upcoming = editing.upcoming(schedule, now=now, count=PREVIEW_COUNT)
        rows.append(
            {
                "schedule": schedule,
                "next_times": local_times(upcoming, schedule.timezone),
                "last": last,
                "last_local": (
                    last.fire_time.astimezone(ZoneInfo(schedule.timezone))
                    if last
                    else None
                ),
            }
        )
    return rows


# --- the form --------------------------------------------------------------------


def _form_page(
    request: HttpRequest,
    workflow: Workflow,
    form: ScheduleForm,
    *,
    schedule: Schedule | None = None,
    preview: list[datetime] | None = None,
    status: int = 200,
) -> HttpResponse:
    zone = form.data.get("timezone") or (schedule.timezone if schedule else "UTC")
    context = {
        "workflow": workflow,
        "schedule": schedule,
        "form": form,
        "parameters": form.parameter_rows(),
        "preview": preview,
        "preview_zone": zone,
    }
    return render(request, "schedules/schedule_form.html", context, status=status)


def _submitted(
    request: HttpRequest,
    workflow: Workflow,
    form: ScheduleForm,
    save: Callable[[dict[str, Any]], Schedule],
    schedule: Schedule | None = None,
) -> HttpResponse:
    """Preview or save a posted form: the Preview button shows the next fire
    times without saving; errors come back next to their fields (400)."""
    if not form.is_valid():
        return _form_page(request, workflow, form, schedule=schedule, status=400)
    values = dict(form.cleaned_data)
    now = timezone.now()
    try:
        if "preview" in request.POST:
            trigger = editing.check(values, workflow, now=now).trigger
            times = next_times(trigger, now, PREVIEW_COUNT)
            zone = values["timezone"]
            return _form_page(
                request,
                workflow,
                form,
                schedule=schedule,
                preview=local_times(times, zone),
            )
        saved = save(values)
    except ScheduleError as error:
        form.add_schedule_error(error)
        return _form_page(request, workflow, form, schedule=schedule, status=400)
    messages.success(request, f"Saved schedule {saved.name}.")
    return redirect("workflow-detail", pk=workflow.pk)


@login_required
def schedule_create(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(
        visible(Workflow.objects.all(), request.user).select_related("project"), pk=pk
    )
    require(request, Action.CREATE_SCHEDULE, workflow.project, target=workflow)
    names = _parameter_names(workflow)
    if request.method != "POST":
        return _form_page(request, workflow, ScheduleForm(parameters=names))

    def save(values: dict[str, Any]) -> Schedule:
        with audit.recording(
            request, Action.CREATE_SCHEDULE, project=workflow.project
        ) as entry:
            schedule = editing.create_schedule(
                workflow, values, user=request.user, now=timezone.now()
            )
            entry.target = schedule
        return schedule

    form = ScheduleForm(request.POST, parameters=names)
    return _submitted(request, workflow, form, save)


@login_required
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(_schedules(request), pk=pk)
    workflow = schedule.workflow
    require(request, Action.UPDATE_SCHEDULE, workflow.project, target=schedule)
    names = _parameter_names(workflow)
    if request.method != "POST":
        form = ScheduleForm.for_schedule(schedule, names)
        return _form_page(request, workflow, form, schedule=schedule)

    def save(values: dict[str, Any]) -> Schedule:
        with audit.recording(request, Action.UPDATE_SCHEDULE, schedule):
            return editing.update_schedule(schedule, values, now=timezone.now())

    form = ScheduleForm(request.POST, parameters=names)
    return _submitted(request, workflow, form, save, schedule)


@login_required
def schedule_preview(request: HttpRequest) -> JsonResponse:
    """The next fire times of the form as typed so far, for the script that
    shows them while a person types (the Preview button does the same)."""
    form = ScheduleForm(request.GET)
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        return JsonResponse({"errors": errors}, status=400)
    values = dict(form.cleaned_data)
    values.pop("parameters", None)
    try:
        times = editing.preview(values, now=timezone.now(), count=PREVIEW_COUNT)
    except ScheduleError as error:
        return JsonResponse({"errors": {error.field: [error.message]}}, status=400)
    zone = values["timezone"]
    return JsonResponse(
        {
            "fire_times": [t.isoformat() for t in times],
            "local": [f"{t:%a %Y-%m-%d %H:%M %Z}" for t in local_times(times, zone)],
        }
    )


# --- one schedule ----------------------------------------------------------------


def _detail_page(
    request: HttpRequest,
    schedule: Schedule,
    backfill_form: BackfillForm | None = None,
    planned: list[backfills.PlannedFire] | None = None,
    status: int = 200,
) -> HttpResponse:
    zone = ZoneInfo(schedule.timezone)
    fires = schedule.fires.select_related("run", "backfill").order_by("-fire_time")
    page = Paginator(fires, FIRES_PAGE).get_page(request.GET.get("page"))
    context = {
        "schedule": schedule,
        "workflow": schedule.workflow,
        "allowed": allowed_actions(request.user, schedule.workflow.project),
        "row": schedule_rows([schedule], now=timezone.now())[0],
        "page": page,
        "zone": zone,
        "backfills": schedule.backfills.select_related("created_by")[:20],
        "backfill_form": backfill_form or BackfillForm(zone=zone),
        "planned": planned,
        "planned_new": sum(p.fire is None for p in planned or []),
    }
    return render(request, "schedules/schedule_detail.html", context, status=status)


@login_required
def schedule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, get_object_or_404(_schedules(request), pk=pk))


TOGGLES = {
    "pause": (Action.PAUSE_SCHEDULE, False),
    "resume": (Action.RESUME_SCHEDULE, True),
}


@login_required
@require_POST
def schedule_toggle(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    schedule = get_object_or_404(_schedules(request), pk=pk)
    if verb not in TOGGLES:
        raise Http404(f"no action {verb!r}")
    action, enabled = TOGGLES[verb]
    require(request, action, schedule.workflow.project, target=schedule)
    with audit.recording(request, action, schedule):
        editing.set_enabled(schedule, enabled, now=timezone.now())
    messages.success(
        request, f"{'Resumed' if enabled else 'Paused'} schedule {schedule.name}."
    )
    return redirect(_safe_next(request, schedule))


def _safe_next(request: HttpRequest, schedule: Schedule) -> str:
    """Back to the schedule's page when asked, else to its workflow's (never
    a URL from the form: no open redirect)."""
    if request.POST.get("next") == "schedule":
        return reverse("schedule-detail", args=[schedule.pk])
    return reverse("workflow-detail", args=[schedule.workflow_id])


@login_required
@require_POST
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(_schedules(request), pk=pk)
    require(request, Action.DELETE_SCHEDULE, schedule.workflow.project, target=schedule)
    with audit.recording(request, Action.DELETE_SCHEDULE, schedule):
        editing.delete_schedule(schedule)
    messages.success(request, f"Deleted schedule {schedule.name}.")
    return redirect("workflow-detail", pk=schedule.workflow_id)


@login_required
@require_POST
def schedule_backfill(request: HttpRequest, pk: int) -> HttpResponse:
    """Preview (the Preview button) or start a backfill of a past range."""
    schedule = get_object_or_404(_schedules(request), pk=pk)
    require(
        request, Action.BACKFILL_SCHEDULE, schedule.workflow.project, target=schedule
    )
    form = BackfillForm(request.POST, zone=ZoneInfo(schedule.timezone))
    if not form.is_valid():
        return _detail_page(request, schedule, form, status=400)
    data = form.cleaned_data
    now = timezone.now()
    try:
        if "preview" in request.POST:
            planned = backfills.preview(schedule, data["start"], data["end"], now=now)
            return _detail_page(request, schedule, form, planned)
        with audit.recording(
            request,
            Action.BACKFILL_SCHEDULE,
            schedule,
            detail={"start": data["start"].isoformat(), "end": data["end"].isoformat()},
        ) as entry:
            backfill = backfills.create_backfill(
                schedule,
                data["start"],
                data["end"],
                max_concurrent=data["max_concurrent"],
                user=request.user,
                now=now,
            )
            entry.detail["backfill"] = backfill.pk
    except ScheduleError as error:
        field = {"end": "end", "start": "start", "max_concurrent": "max_concurrent"}
        form.add_error(field.get(error.field), error.message)
        return _detail_page(request, schedule, form, status=400)
    messages.success(
        request,
        f"Backfill {backfill.pk}: {backfill.total} run(s), "
        f"{backfill.already_fired} time(s) already fired.",
    )
    return redirect("schedule-detail", pk=schedule.pk)


@login_required
@require_POST
def backfill_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    backfill = get_object_or_404(
        Backfill.objects.filter(
            visible_project_filter(request.user, "schedule__workflow__project")
        ).select_related("schedule__workflow__project"),
        pk=pk,
    )
    project = backfill.schedule.workflow.project
    require(request, Action.CANCEL_BACKFILL, project, target=backfill)
    with audit.recording(request, Action.CANCEL_BACKFILL, backfill, project=project):
        backfills.cancel_backfill(backfill, now=timezone.now())
    messages.success(request, f"Cancelled backfill {backfill.pk}.")
    return redirect("schedule-detail", pk=backfill.schedule_id)


# --- across workflows ------------------------------------------------------------


@login_required
def upcoming(request: HttpRequest) -> HttpResponse:
    """A calendar-like list: the next week's fire times of every enabled
    schedule you can see, by day (UTC), soonest first."""
    now = timezone.now()
    schedules = list(_schedules(request).filter(enabled=True))
    items = editing.upcoming_across(
        schedules,
        now=now,
        until=now + timedelta(days=UPCOMING_DAYS),
        limit=UPCOMING_LIMIT,
    )
    entries = [
        {
            "utc": when,
            "local": when.astimezone(ZoneInfo(schedule.timezone)),
            "schedule": schedule,
        }
        for when, schedule in items
    ]
    days = [
        {"day": day, "entries": list(group)}
        for day, group in groupby(entries, key=lambda e: e["utc"].date())
    ]
    context = {
        "days": days,
        "count": len(entries),
        "limit": UPCOMING_LIMIT,
        "week": UPCOMING_DAYS,
        "schedules": _schedules(request).order_by("workflow__name", "name"),
    }
    return render(request, "schedules/upcoming.html", context)
