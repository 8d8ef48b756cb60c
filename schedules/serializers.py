"""Representations of schedules, their fires and backfills for the REST API.

Input is checked by schedules.services.editing.check (the pages use the same
checks), and a ScheduleError becomes a 400 keyed by the field it names.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from rest_framework import serializers

from flowcore.fire_times import ScheduleError
from schedules.models import MAX_BACKFILL_CONCURRENCY, Backfill, Schedule, ScheduledFire
from schedules.services import editing
from workflows.models import Workflow
from workflows.permissions import visible

MAX_PREVIEW = 50


def invalid(error: ScheduleError) -> serializers.ValidationError:
    return serializers.ValidationError({error.field: [error.message]})


class ScheduleWorkflowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class FireSerializer(serializers.ModelSerializer):
    run_status = serializers.CharField(source="run.status", default=None)

    class Meta:
        model = ScheduledFire
        fields = [
            "id",
            "fire_time",
            "status",
            "reason",
            "run",
            "run_status",
            "backfill",
            "started_at",
        ]
        read_only_fields = fields


class ScheduleSerializer(serializers.ModelSerializer):
    """A schedule. `workflow` is set when it is created; `next_fire_times`
    are the next five (none while paused), `last_fire` the newest fire."""

    workflow = serializers.PrimaryKeyRelatedField(queryset=Workflow.objects.none())
    workflow_name = serializers.CharField(source="workflow.name", read_only=True)
    next_fire_times = serializers.SerializerMethodField()
    last_fire = serializers.SerializerMethodField()
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None
    )

    class Meta:
        model = Schedule
        fields = [
            "id",
            "workflow",
            "workflow_name",
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
            "next_fire_at",
            "next_fire_times",
            "last_fire",
            "note",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["next_fire_at", "note", "created_at", "updated_at"]
        # The services say a name is taken, naming the field (DRF's own
        # unique-together check would answer with non_field_errors).
        validators: list[Any] = []
        extra_kwargs = {
            "kind": {"help_text": "cron (5 fields or an @alias) or interval"},
            "expression": {
                "help_text": 'e.g. "0 6 * * mon-fri", "@daily" or "every 10m"'
            },
            "timezone": {"help_text": "An IANA zone, e.g. Europe/Berlin"},
            "parameters": {
                "help_text": "The runs' parameters; {{schedule.time}}, "
                "{{schedule.time_utc}}, {{schedule.date}} and "
                "{{schedule.timestamp}} are replaced by the fire time."
            },
            "max_active": {
                "help_text": "At most this many of its runs at once (empty: no "
                "limit for allow/replace, one for forbid/queue)."
            },
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        field = self.fields["workflow"]
        if self.instance is not None:
            field.read_only = True
        elif request is not None:
            field.queryset = visible(Workflow.objects.all(), request.user)

    def get_next_fire_times(self, schedule: Schedule) -> list[str]:
        """ISO 8601 with the schedule's own offset: 02:30+02:00 reads better
        than 00:30+00:00 and is the same instant."""
        times = editing.upcoming(schedule, now=timezone.now(), count=5)
        zone = ZoneInfo(schedule.timezone)
        return [t.astimezone(zone).isoformat() for t in times]

    def get_last_fire(self, schedule: Schedule) -> dict[str, Any] | None:
        fire = (
            schedule.fires.select_related("run")
            .exclude(status=ScheduledFire.Status.PENDING)
            .order_by("-fire_time")
            .first()
        )
        return FireSerializer(fire).data if fire is not None else None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        workflow = attrs.get("workflow") or getattr(self.instance, "workflow", None)
        values = attrs
        if self.instance is not None:
            current = {name: getattr(self.instance, name) for name in editing.EDITABLE}
            values = {**current, **attrs}
        try:
            editing.check(values, workflow, now=timezone.now())
        except ScheduleError as error:
            raise invalid(error) from None
        return attrs


class PreviewRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(Schedule.Kind.choices, default=Schedule.Kind.CRON)
    expression = serializers.CharField(max_length=200)
    timezone = serializers.CharField(max_length=64, default="UTC")
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    end_at = serializers.DateTimeField(required=False, allow_null=True)
    count = serializers.IntegerField(min_value=1, max_value=MAX_PREVIEW, default=5)


class FireTimesSerializer(serializers.Serializer):
    fire_times = serializers.ListField(child=serializers.DateTimeField())


class BackfillSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None
    )
    started = serializers.SerializerMethodField()
    pending = serializers.SerializerMethodField()

    class Meta:
        model = Backfill
        fields = [
            "id",
            "schedule",
            "start_at",
            "end_at",
            "max_concurrent",
            "status",
            "total",
            "already_fired",
            "started",
            "pending",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_started(self, backfill: Backfill) -> int:
        return backfill.fires.filter(status=ScheduledFire.Status.STARTED).count()

    def get_pending(self, backfill: Backfill) -> int:
        return backfill.fires.filter(status=ScheduledFire.Status.PENDING).count()


class BackfillRequestSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    max_concurrent = serializers.IntegerField(
        min_value=1, max_value=MAX_BACKFILL_CONCURRENCY, default=1
    )


class PlannedFireSerializer(serializers.Serializer):
    fire_time = serializers.DateTimeField()
    already_fired = serializers.BooleanField()
    run = serializers.IntegerField(allow_null=True)


class BackfillPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Fire times in the range.")
    new = serializers.IntegerField(help_text="Runs the backfill would create.")
    fire_times = PlannedFireSerializer(many=True)


class UpcomingSerializer(serializers.Serializer):
    fire_time = serializers.DateTimeField(help_text="In UTC.")
    local_time = serializers.DateTimeField(help_text="In the schedule's zone.")
    schedule = serializers.IntegerField()
    schedule_name = serializers.CharField()
    timezone = serializers.CharField()
    workflow = ScheduleWorkflowSerializer()
    project = serializers.CharField()
