"""The Django admin: browse everything, change almost nothing.

Versions and run events are append-only records, and only workflows.services
moves runs, tasks and attempts between states, so those are shown read-only.
Nothing is deleted here: a delete would cascade into the versions runs pin and
into the audit trail (and would not stop a live run's pods).

Secret env values are masked here as everywhere (flowcore.secrets): fields
that may hold one (a version's document, an attempt's rendered task, a run's
parameters, also in its first event, and debug overrides, a schedule's
parameters) are excluded and shown through a masking display instead, and no
admin may search a JSON field (the system check flowdeck.E001), which would
find them by value.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from flowcore.secrets import (
    mask_overrides,
    mask_parameters,
    mask_request,
    mask_secrets,
)
from flowcore.spec import dump_document
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


def json_block(value: Any) -> SafeString:
    """A JSON value, already masked by the caller, as the admin shows it."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Every field shown but those in `exclude`, none editable; nothing added,
    changed or deleted."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        hidden = set(self.exclude or ())
        fields = [
            field.name for field in self.model._meta.fields if field.name not in hidden
        ]
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
    exclude = ["parameters", "overrides"]
    readonly_fields = ["run_parameters", "debug_overrides"]

    @admin.display(description="version", ordering="version__number")
    def version_number(self, run: Run) -> int:
        return run.version.number

    @admin.display(description="parameters")
    def run_parameters(self, run: Run) -> SafeString:
        return json_block(mask_parameters(run.parameters, run.version.document))

    @admin.display(description="overrides")
    def debug_overrides(self, run: Run) -> SafeString:
        document = run.version.document
        return json_block(mask_overrides(run.overrides, document, run.debug_task))


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
    exclude = ["request"]
    readonly_fields = ["rendered_task"]

    @admin.display(description="request")
    def rendered_task(self, attempt: Attempt) -> SafeString:
        return json_block(mask_request(attempt.request or {}))


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
    exclude = ["data"]
    readonly_fields = ["event_data"]

    @admin.display(description="data")
    def event_data(self, event: RunEvent) -> SafeString:
        data = event.data
        if isinstance(data, dict) and "parameters" in data:  # a run's submission
            document = event.run.version.document
            data = {**data, "parameters": mask_parameters(data["parameters"], document)}
        return json_block(data)
