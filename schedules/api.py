"""REST viewsets for schedules and backfills: declarative, writes through
schedules.services, permissions through workflows.permissions.

A schedule of a project you are not a member of is a 404; an action your role
there does not allow is a 403 naming the role. Bad input is a 400 keyed by the
field it names. Every change is recorded in the audit log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts import audit
from flowcore.fire_times import ScheduleError
from schedules.models import Backfill, Schedule
from schedules.serializers import (
    BackfillPreviewSerializer,
    BackfillRequestSerializer,
    BackfillSerializer,
    FireSerializer,
    FireTimesSerializer,
    PreviewRequestSerializer,
    ScheduleSerializer,
    UpcomingSerializer,
    invalid,
)
from schedules.services import backfills, editing
from workflows.api.filters import int_param
from workflows.api.views import FORBIDDEN, NOT_FOUND
from workflows.models import Project
from workflows.permissions import Action, require, visible_project_filter

MAX_UPCOMING_HOURS = 24 * 31
MAX_UPCOMING = 500

BAD_INPUT = OpenApiResponse(
    description="Keyed by the field that is wrong, with what is wrong with it "
    '(e.g. {"expression": ["the minute field has 61, outside 0-59"]}).'
)


def project_of(obj: Schedule | Backfill) -> Project:
    schedule = obj.schedule if isinstance(obj, Backfill) else obj
    return schedule.workflow.project


class ScheduleRole(BasePermission):
    """Once found among the visible ones (else 404), the role in the
    schedule's project must allow the view's action (else 403)."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        required: dict[str, Action] = getattr(view, "required_actions", {})
        wanted = required.get(getattr(view, "action", "") or "", Action.VIEW)
        if view.action == "backfills" and request.method == "GET":
            wanted = Action.VIEW
        try:
            require(request, wanted, project_of(obj), target=obj)
        except PermissionDenied as denied:
            raise exceptions.PermissionDenied(str(denied)) from None
        return True


@extend_schema(tags=["schedules"])
class ScheduleViewSet(viewsets.ModelViewSet):
    """Schedules: cron or interval triggers that start runs of a workflow."""

    queryset = Schedule.objects.select_related(
        "workflow__project", "workflow__latest_version", "created_by"
    )
    serializer_class = ScheduleSerializer
    permission_classes = [IsAuthenticated, ScheduleRole]
    required_actions = {
        "update": Action.UPDATE_SCHEDULE,
        "partial_update": Action.UPDATE_SCHEDULE,
        "destroy": Action.DELETE_SCHEDULE,
        "pause": Action.PAUSE_SCHEDULE,
        "resume": Action.RESUME_SCHEDULE,
        "backfills": Action.BACKFILL_SCHEDULE,
        "backfill_preview": Action.VIEW,
    }

    def get_queryset(self) -> QuerySet[Schedule]:
        queryset = (
            super()
            .get_queryset()
            .filter(visible_project_filter(self.request.user, "workflow__project"))
        )
        workflow = int_param(self.request, "workflow", minimum=1)
        if workflow is not None and self.action == "list":
            queryset = queryset.filter(workflow_id=workflow)
        return queryset

    @extend_schema(
        parameters=[OpenApiParameter("workflow", int, description="Only this one's.")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        responses={201: ScheduleSerializer, 400: BAD_INPUT, 403: FORBIDDEN},
        description="Attach a schedule to a workflow you can see (needs the "
        "editor role in its project). Bad input is a 400 naming the field: an "
        "invalid cron expression, an unknown time zone, an end before the "
        "start, an interval under FLOWDECK_SCHEDULE_MIN_INTERVAL, parameters "
        "the workflow does not take.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    @extend_schema(
        responses={
            200: ScheduleSerializer,
            400: BAD_INPUT,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        description="Change a schedule (editor); its next fire time is counted "
        "again from now.",
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    @extend_schema(
        responses={
            200: ScheduleSerializer,
            400: BAD_INPUT,
            403: FORBIDDEN,
            404: NOT_FOUND,
        }
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Delete the schedule with its fires and backfills (editor); "
        "its runs stay.",
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        workflow = data.pop("workflow")
        require(self.request, Action.CREATE_SCHEDULE, workflow.project, target=workflow)
        with audit.recording(
            self.request,
            Action.CREATE_SCHEDULE,
            project=workflow.project,
            detail={"workflow": workflow.name, "expression": data.get("expression")},
        ) as entry:
            try:
                schedule = editing.create_schedule(
                    workflow, data, user=self.request.user, now=timezone.now()
                )
            except ScheduleError as error:
                raise invalid(error) from None
            entry.target = schedule
        serializer.instance = schedule

    def perform_update(self, serializer: BaseSerializer) -> None:
        schedule = serializer.instance
        changes = dict(serializer.validated_data)
        with audit.recording(
            self.request,
            Action.UPDATE_SCHEDULE,
            schedule,
            detail={"changed": sorted(changes)},
        ):
            try:
                editing.update_schedule(schedule, changes, now=timezone.now())
            except ScheduleError as error:
                raise invalid(error) from None

    def perform_destroy(self, instance: Schedule) -> None:
        with audit.recording(self.request, Action.DELETE_SCHEDULE, instance):
            editing.delete_schedule(instance)

    def _set_enabled(self, request: Request, enabled: bool) -> Response:
        schedule = self.get_object()
        verb = Action.RESUME_SCHEDULE if enabled else Action.PAUSE_SCHEDULE
        with audit.recording(request, verb, schedule):
            editing.set_enabled(schedule, enabled, now=timezone.now())
        data = ScheduleSerializer(schedule, context=self.get_serializer_context()).data
        return Response(data)

    @extend_schema(
        request=None,
        responses={200: ScheduleSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Stop firing (editor). Queued fires wait until resumed.",
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._set_enabled(request, False)

    @extend_schema(
        request=None,
        responses={200: ScheduleSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Fire again from the next fire time after now (editor); "
        "times passed while paused are not caught up.",
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._set_enabled(request, True)

    @extend_schema(
        responses={200: FireSerializer(many=True), 404: NOT_FOUND},
        description="Every time the schedule fired, newest first: started (with "
        "its run), skipped or failed (with why), queued, or pending (a "
        "backfill's).",
    )
    @action(detail=True, methods=["get"])
    def fires(self, request: Request, pk: str | None = None) -> Response:
        schedule = self.get_object()
        fires = schedule.fires.select_related("run").order_by("-fire_time")
        page = self.paginate_queryset(fires)
        return self.get_paginated_response(FireSerializer(page, many=True).data)

    @extend_schema(
        request=PreviewRequestSerializer,
        responses={200: FireTimesSerializer, 400: BAD_INPUT},
        description="The next fire times of settings not saved yet (count, "
        "default 5), with the same checks as saving them.",
    )
    @action(detail=False, methods=["post"], pagination_class=None)
    def preview(self, request: Request) -> Response:
        serializer = PreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        count = values.pop("count")
        try:
            times = editing.preview(values, now=timezone.now(), count=count)
        except ScheduleError as error:
            raise invalid(error) from None
        zone = ZoneInfo(values["timezone"])
        return Response({"fire_times": [t.astimezone(zone).isoformat() for t in times]})

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "hours",
                int,
                description=f"How far ahead: 1-{MAX_UPCOMING_HOURS} (default 24).",
            ),
            OpenApiParameter(
                "limit",
                int,
                description=f"At most this many: 1-{MAX_UPCOMING} (default 100).",
            ),
        ],
        responses={200: UpcomingSerializer(many=True)},
        description="What will run: the fire times of every enabled schedule "
        "you can see, soonest first.",
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def upcoming(self, request: Request) -> Response:
        hours = int_param(request, "hours", minimum=1, maximum=MAX_UPCOMING_HOURS)
        limit = int_param(request, "limit", minimum=1, maximum=MAX_UPCOMING)
        hours, limit = hours or 24, limit or 100
        now = timezone.now()
        schedules = self.get_queryset().filter(enabled=True)
        items = editing.upcoming_across(
            schedules, now=now, until=now + timedelta(hours=hours), limit=limit
        )
        return Response(
            [
                {
                    "fire_time": when.isoformat(),
                    "local_time": when.astimezone(
                        ZoneInfo(schedule.timezone)
                    ).isoformat(),
                    "schedule": schedule.pk,
                    "schedule_name": schedule.name,
                    "timezone": schedule.timezone,
                    "workflow": {
                        "id": schedule.workflow_id,
                        "name": schedule.workflow.name,
                    },
                    "project": schedule.workflow.project.name,
                }
                for when, schedule in items
            ]
        )

    @extend_schema(
        request=BackfillRequestSerializer,
        responses={
            200: BackfillSerializer(many=True),
            201: BackfillSerializer,
            400: BAD_INPUT,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        description="GET: the schedule's backfills. POST: run the schedule for "
        "the fire times from start to end (both in the past), at most "
        "max_concurrent runs at once; times that already fired are left alone "
        "(editor).",
    )
    @action(detail=True, methods=["get", "post"])
    def backfills(self, request: Request, pk: str | None = None) -> Response:
        schedule = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(
                schedule.backfills.select_related("created_by")
            )
            return self.get_paginated_response(BackfillSerializer(page, many=True).data)
        serializer = BackfillRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with audit.recording(
            request,
            Action.BACKFILL_SCHEDULE,
            schedule,
            detail={"start": data["start"].isoformat(), "end": data["end"].isoformat()},
        ) as entry:
            try:
                backfill = backfills.create_backfill(
                    schedule,
                    data["start"],
                    data["end"],
                    max_concurrent=data["max_concurrent"],
                    user=request.user,
                    now=timezone.now(),
                )
            except ScheduleError as error:
                raise invalid(error) from None
            entry.detail["backfill"] = backfill.pk
            entry.detail["runs"] = backfill.total
        return Response(
            BackfillSerializer(backfill).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=BackfillRequestSerializer,
        responses={200: BackfillPreviewSerializer, 400: BAD_INPUT, 404: NOT_FOUND},
        description="The fire times a backfill of the range would run, each "
        "marked when it already fired (it will not run again).",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="backfills/preview",
        url_name="backfill-preview",
    )
    def backfill_preview(self, request: Request, pk: str | None = None) -> Response:
        schedule = self.get_object()
        serializer = BackfillRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            planned = backfills.preview(
                schedule, data["start"], data["end"], now=timezone.now()
            )
        except ScheduleError as error:
            raise invalid(error) from None
        return Response(
            {
                "count": len(planned),
                "new": sum(p.fire is None for p in planned),
                "fire_times": [
                    {
                        "fire_time": p.fire_time.isoformat(),
                        "already_fired": p.fire is not None,
                        "run": p.fire.run_id if p.fire is not None else None,
                    }
                    for p in planned
                ],
            }
        )


@extend_schema(tags=["schedules"])
class BackfillViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Backfills of the schedules you can see, newest first."""

    queryset = Backfill.objects.select_related(
        "schedule__workflow__project", "created_by"
    )
    serializer_class = BackfillSerializer
    permission_classes = [IsAuthenticated, ScheduleRole]
    required_actions = {"cancel": Action.CANCEL_BACKFILL}

    def get_queryset(self) -> QuerySet[Backfill]:
        return (
            super()
            .get_queryset()
            .filter(
                visible_project_filter(self.request.user, "schedule__workflow__project")
            )
        )

    @extend_schema(
        request=None,
        responses={200: BackfillSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Stop the backfill (editor): fires not started are dropped "
        "and its unfinished runs are cancelled. Cancelling again changes nothing.",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        backfill = self.get_object()
        with audit.recording(
            request, Action.CANCEL_BACKFILL, backfill, project=project_of(backfill)
        ):
            backfills.cancel_backfill(backfill, now=timezone.now())
        return Response(BackfillSerializer(backfill).data)
