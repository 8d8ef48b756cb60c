"""The Django admin: browse everything, change almost nothing.

Versions and run events are append-only records, and only workflows.services
moves runs, tasks and attempts between states, so those are shown read-only.
Nothing is deleted here: a delete would cascade into the versions runs pin and
into the audit trail (and would not stop a live run's pods).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from workflows.models import (
    Attempt,
    Membership,
    Project,
    Run,
    RunEvent,
    TaskRun,
    Workflow,
    WorkflowVersion,
)
from workflows.secrets import mask_secrets
from workflows.spec import dump_document


class ReadOnlyAdmin(admin.ModelAdmin):
    """Every field shown, none editable; nothing added, changed or deleted."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [field.name for field in self.model._meta.fields]
        extra = super().get_readonly_fields(request, obj)
        return fields + [name for name in extra if name not in fields]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    """Projects and members change on the project pages, which check roles and
    write the audit log; here they are only shown."""

    list_display = ["name", "namespace", "created_at"]
    search_fields = ["name", "description", "namespace"]
    inlines = [MembershipInline]


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "owner", "latest_version", "updated_at"]
    list_select_related = ["project", "owner", "latest_version"]
    list_filter = ["project", "owner"]
    search_fields = ["name", "description"]
    # The name, description and labels come from the spec and change with a new
    # version, and the project holds its permissions; only the owner is an
    # admin's to change.
    readonly_fields = [
        "project",
        "name",
        "description",
        "labels",
        "latest_version",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a workflow starts from a validated spec: pages or API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyAdmin):
    list_display = ["workflow", "number", "author", "message", "created_at"]
    list_select_related = ["workflow", "author"]
    search_fields = ["workflow__name", "message"]
    fields = ["workflow", "number", "author", "message", "created_at", "spec"]
    readonly_fields = ["spec"]

    @admin.display(description="spec")
    def spec(self, version: WorkflowVersion) -> SafeString:
        return format_html(
            "<pre>{}</pre>", dump_document(mask_secrets(version.document))
        )


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "workflow",
        "version_number",
        "status",
        "trigger",
        "triggered_by",
        "created_at",
        "finished_at",
    ]
    list_select_related = ["workflow", "version", "triggered_by"]
    list_filter = ["status", "trigger"]
    search_fields = ["=id", "workflow__name", "message"]
    date_hierarchy = "created_at"

    @admin.display(description="version", ordering="version__number")
    def version_number(self, run: Run) -> int:
        return run.version.number


@admin.register(TaskRun)
class TaskRunAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "run",
        "status",
        "attempts_count",
        "started_at",
        "finished_at",
        "reason",
    ]
    list_select_related = ["run__workflow"]
    list_filter = ["status"]
    search_fields = ["name", "=run__id", "run__workflow__name", "reason"]


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "status",
        "backend",
        "handle",
        "exit_code",
        "reason",
        "created_at",
        "finished_at",
    ]
    list_select_related = ["task_run"]
    list_filter = ["status", "backend"]
    search_fields = ["handle", "task_run__name", "=task_run__run__id", "reason"]


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdmin):
    list_display = [
        "run",
        "seq",
        "kind",
        "task",
        "attempt",
        "previous",
        "status",
        "created_at",
    ]
    list_select_related = ["run__workflow"]
    list_filter = ["kind"]
    search_fields = ["task", "message", "=run__id"]
