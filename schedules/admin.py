"""The Django admin for schedules: shown, never changed here (the pages and the
API check roles, keep the next fire time right and write the audit log)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString

from flowcore.secrets import mask_parameters
from schedules.models import Backfill, Schedule, ScheduledFire
from workflows.admin import ReadOnlyAdmin, json_block


@admin.register(Schedule)
class ScheduleAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "workflow",
        "expression",
        "timezone",
        "enabled",
        "next_fire_at",
    ]
    list_select_related = ["workflow"]
    list_filter = ["enabled", "kind", "overlap", "catch_up"]
    search_fields = ["name", "workflow__name", "expression"]
    exclude = ["parameters"]
    readonly_fields = ["run_parameters"]

    @admin.display(description="parameters")
    def run_parameters(self, schedule: Schedule) -> SafeString:
        # A fire runs the latest version: its secret variables say what to hide.
        version = schedule.workflow.latest_version
        document = version.document if version is not None else None
        return json_block(mask_parameters(schedule.parameters, document))


@admin.register(ScheduledFire)
class ScheduledFireAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "fire_time", "status", "run", "backfill"]
    list_select_related = ["schedule__workflow"]
    list_filter = ["status"]
    raw_id_fields = ["run"]


@admin.register(Backfill)
class BackfillAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "start_at", "end_at", "status", "total"]
    list_select_related = ["schedule__workflow"]
    list_filter = ["status"]
