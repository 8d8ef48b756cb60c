"""The Django admin for schedules: shown, never changed here (the pages and the
API check roles, keep the next fire time right and write the audit log)."""

from __future__ import annotations

from django.contrib import admin

from schedules.models import Backfill, Schedule, ScheduledFire
from workflows.admin import ReadOnlyAdmin


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
