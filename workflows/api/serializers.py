"""Representations of workflows, versions, runs, tasks, attempts and events.

Everything here is read-only except WorkflowDocumentSerializer, whose input is
a whole spec document and whose writes go through workflows.services. No
serializer writes a status, and none exposes Attempt.request: the rendered
task holds environment values that may be secret. Every document shown goes
through flowcore.secrets.mask_secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Count
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from flowcore.secrets import MASK, mask_secrets
from flowcore.spec import API_VERSION, KIND, FieldError, SpecError
from workflows.blueprints import blueprint_of
from workflows.models import (
    TASK_PAGE_ORDER,
    Attempt,
    Project,
    Run,
    RunEvent,
    TaskRun,
    Workflow,
    WorkflowVersion,
)
from workflows.services.submit import create_workflow, update_workflow


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON Merge Patch (RFC 7386): mappings merge recursively, a null removes
    the key, anything else (lists included) replaces the target's value."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _url(name: str, *args: Any, context: Mapping[str, Any], query: str = "") -> str:
    url = reverse(f"api:{name}", args=args, request=context.get("request"))
    return f"{url}?{query}" if query else url


# --- errors (for the schema) ----------------------------------------------------


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class FieldErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text='Where, e.g. "spec.tasks[3].image".')
    message = serializers.CharField()


class SpecErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True)


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = FieldErrorSerializer(many=True)
    backend = serializers.CharField(
        help_text="The backend this server runs tasks on (local or kubernetes)."
    )
    warnings = FieldErrorSerializer(
        many=True,
        help_text="What this server's backend cannot run, though the document "
        "is valid: a task without a command where the backend ignores images.",
    )


# --- workflows and versions -----------------------------------------------------


class VersionSummarySerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = WorkflowVersion
        fields = ["number", "message", "author", "created_at"]
        read_only_fields = fields


class VersionListItemSerializer(VersionSummarySerializer):
    source_format = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="What the version was converted from (argo), its original kept "
        "in the version's `source`; null for a document written as Flowdeck's.",
    )

    class Meta(VersionSummarySerializer.Meta):
        fields = [*VersionSummarySerializer.Meta.fields, "source_format"]
        read_only_fields = fields


class VersionSourceSerializer(serializers.Serializer):
    format = serializers.CharField(help_text="What it was: argo.")
    text = serializers.CharField(help_text="The original document, as it was given.")


class VersionSerializer(VersionSummarySerializer):
    document = serializers.SerializerMethodField(
        help_text="The spec document; secret env values are masked."
    )
    source = VersionSourceSerializer(
        read_only=True,
        allow_null=True,
        help_text="What the document was converted from (an Argo workflow), "
        "kept for reference; null for a document written as Flowdeck's.",
    )

    class Meta(VersionSummarySerializer.Meta):
        fields = [*VersionSummarySerializer.Meta.fields, "document", "source"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_document(self, version: WorkflowVersion) -> Any:
        return mask_secrets(version.document)


class ProjectRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name"]
        read_only_fields = fields


class WorkflowUrlsSerializer(serializers.Serializer):
    self = serializers.URLField()
    versions = serializers.URLField()
    runs = serializers.URLField(help_text="The workflow's runs, newest first.")
    submit = serializers.URLField(help_text="POST here to start a run.")


class WorkflowListSerializer(serializers.ModelSerializer):
    project = ProjectRefSerializer(read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    latest_version = VersionSummarySerializer(read_only=True)
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = [
            "id",
            "project",
            "name",
            "description",
            "labels",
            "owner",
            "created_at",
            "updated_at",
            "latest_version",
            "urls",
        ]
        read_only_fields = fields

    @extend_schema_field(WorkflowUrlsSerializer)
    def get_urls(self, workflow: Workflow) -> dict[str, str]:
        context = self.context
        return {
            "self": _url("workflow-detail", workflow.pk, context=context),
            "versions": _url("workflow-versions", workflow.pk, context=context),
            "runs": _url("run-list", context=context, query=f"workflow={workflow.pk}"),
            "submit": _url("workflow-runs", workflow.pk, context=context),
        }


class WorkflowSerializer(WorkflowListSerializer):
    document = serializers.SerializerMethodField(
        help_text="The spec document of the latest version; secret env values "
        "are masked."
    )

    class Meta(WorkflowListSerializer.Meta):
        fields = [*WorkflowListSerializer.Meta.fields, "document"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_document(self, workflow: Workflow) -> dict[str, Any] | None:
        version = workflow.latest_version
        return mask_secrets(version.document) if version is not None else None


class WorkflowDocumentSerializer(serializers.BaseSerializer):
    """Input: the request body is the spec document itself (JSON or YAML), or
    `{"document": <the spec document>, "source": {"format": "argo", "text":
    <what it was converted from>}}` to keep the original with the version.

    A partial update merges the body over the latest document (merge_patch).
    Saving goes through services.create_workflow / update_workflow, which raise
    SpecError with every problem; the output is a WorkflowSerializer.
    """

    # The browsable API looks for HiddenFields here; the document has no fields.
    fields: Mapping[str, serializers.Field] = {}

    def get_initial(self) -> dict[str, Any]:
        # What the browsable API's form starts from.
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": ""},
            "spec": {"tasks": []},
        }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise SpecError(
                [FieldError("", "the body must be a spec document (a mapping)")]
            )
        source = None
        if "document" in data and "apiVersion" not in data:
            extra = sorted(set(data) - {"document", "source"})
            if extra:
                raise SpecError(
                    [FieldError(extra[0], "is not a field (document, source)")]
                )
            if not isinstance(data["document"], Mapping):
                raise SpecError(
                    [FieldError("document", "must be a spec document (a mapping)")]
                )
            source = data.get("source")
            data = data["document"]
        document = dict(data)
        if self.partial and self.instance is not None:
            latest = self.instance.latest_version
            document = merge_patch(latest.document if latest else {}, document)
        return {"document": document, "source": source}

    def create(self, validated_data: dict[str, Any]) -> Workflow:
        return create_workflow(
            validated_data["document"],
            project=validated_data["project"],
            author=validated_data["author"],
            message=validated_data.get("message", ""),
            source=validated_data.get("source"),
        )

    def update(self, instance: Workflow, validated_data: dict[str, Any]) -> Workflow:
        update_workflow(
            instance,
            validated_data["document"],
            author=validated_data["author"],
            message=validated_data.get("message", ""),
            source=validated_data.get("source"),
        )
        return Workflow.objects.select_related(
            "owner", "project", "latest_version__author"
        ).get(pk=instance.pk)

    def to_representation(self, instance: Workflow) -> dict[str, Any]:
        return WorkflowSerializer(instance, context=self.context).data


class RunSubmitSerializer(serializers.Serializer):
    parameters = serializers.DictField(
        required=False,
        help_text="Values of the spec's parameters; defaults fill the rest.",
    )
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Run this version number instead of the latest.",
    )


class RunResubmitSerializer(serializers.Serializer):
    parameters = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="New parameter values; omitted or null keeps the run's own.",
    )


# --- runs, tasks, attempts, events ------------------------------------------------


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        # Never `request`: it holds the task's env values, which may be secret.
        fields = [
            "number",
            "status",
            "backend",
            "handle",
            "created_at",
            "started_at",
            "finished_at",
            "exit_code",
            "reason",
            "message",
        ]
        read_only_fields = fields


class SubWorkflowCallSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The workflow of the project it runs.")
    version = serializers.IntegerField(
        allow_null=True, help_text="Its version; null: the latest when it starts."
    )


class TaskRunSerializer(serializers.ModelSerializer):
    dependencies = serializers.SerializerMethodField()
    exit_handler = serializers.SerializerMethodField(
        help_text="In spec.onExit: runs once every other task has ended."
    )
    workflow = serializers.SerializerMethodField(
        help_text="A sub-workflow task (or an instance of one that fans out): the "
        "workflow it runs (its child runs are the run's children); null for a "
        "container."
    )
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = TaskRun
        fields = [
            "name",
            "status",
            "position",
            "priority",
            "attempts_count",
            "round_start",
            "started_at",
            "finished_at",
            "retry_at",
            "reason",
            "message",
            "dependencies",
            "exit_handler",
            "workflow",
            "fan_group",
            "fan_index",
            "fan_item",
            "fan_out",
            "fan_done",
            "fan_failed",
            "attempts",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "round_start": {
                "help_text": "The number of its first attempt since the run was "
                "last retried (1 when it never was)."
            },
            "fan_group": {"help_text": "For an instance of a fan-out: its task."},
            "fan_index": {"help_text": "For an instance: its item's index."},
            "fan_item": {"help_text": "For an instance: its item."},
            "fan_out": {"help_text": "For a fan-out once expanded: its instances."},
            "fan_done": {"help_text": "For a fan-out: its instances that ended."},
            "fan_failed": {
                "help_text": "For a fan-out: its instances that did not succeed."
            },
        }

    def get_dependencies(self, task: TaskRun) -> list[str]:
        upstream: Mapping[str, tuple[str, ...]] = self.context["upstream"]
        return list(upstream.get(task.name, ()))

    def get_exit_handler(self, task: TaskRun) -> bool:
        # An instance of a fan-out is one if its fan-out is.
        return (task.fan_group or task.name) in self.context["exit_tasks"]

    @extend_schema_field(SubWorkflowCallSerializer(allow_null=True))
    def get_workflow(self, task: TaskRun) -> dict[str, Any] | None:
        # An instance of a fan-out runs its fan-out's workflow (a child run each).
        call = self.context["calls"].get(task.fan_group or task.name)
        return None if call is None else {"name": call.name, "version": call.version}


class WorkflowRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Workflow
        fields = ["id", "name"]
        read_only_fields = fields


class RunUrlsSerializer(serializers.Serializer):
    self = serializers.URLField()
    workflow = serializers.URLField()
    events = serializers.URLField()
    tasks = serializers.URLField(
        help_text="Its tasks, a page at a time (GET /api/runs/{id}/tasks/)."
    )


class StatusCountsField(serializers.DictField):
    """{task status: how many}; statuses with none are left out."""

    child = serializers.IntegerField()


class TaskGroupSummarySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The fan-out's task.")
    total = serializers.IntegerField(help_text="Its instances so far.")
    by_status = StatusCountsField()


class RunSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Every task row of the run.")
    by_status = StatusCountsField()
    groups = TaskGroupSummarySerializer(
        many=True, help_text="Each fan-out's instances, by status."
    )


class RunSerializer(serializers.ModelSerializer):
    workflow = WorkflowRefSerializer(read_only=True)
    project = ProjectRefSerializer(source="workflow.project", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    triggered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    duration_seconds = serializers.SerializerMethodField(
        help_text="Finished minus started; while running, the time so far; "
        "null until the run starts."
    )
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "project",
            "workflow",
            "version",
            "status",
            "parameters",
            "trigger",
            "triggered_by",
            "resubmitted_from",
            "debug_of",
            "debug_task",
            "message",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "last_seq",
            "parent_run",
            "parent_task",
            "depth",
            "urls",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "parent_run": {
                "help_text": "A sub-workflow's run: the run it is a step of."
            },
            "parent_task": {"help_text": "A sub-workflow's run: the task it is."},
            "depth": {"help_text": "How many sub-workflow calls deep the run is."},
        }

    def get_duration_seconds(self, run: Run) -> float | None:
        if run.started_at is None:
            return None
        end = run.finished_at or timezone.now()
        return round((end - run.started_at).total_seconds(), 3)

    @extend_schema_field(RunUrlsSerializer)
    def get_urls(self, run: Run) -> dict[str, str]:
        context = self.context
        return {
            "self": _url("run-detail", run.pk, context=context),
            "workflow": _url("workflow-detail", run.workflow_id, context=context),
            "events": _url("run-events", run.pk, context=context),
            "tasks": _url("run-tasks", run.pk, context=context),
        }


class RunDetailSerializer(RunSerializer):
    summary = serializers.SerializerMethodField(
        help_text="How many tasks are in each status, in all and per fan-out. "
        "The tasks themselves are at urls.tasks, a page at a time."
    )

    outputs = serializers.SerializerMethodField(
        help_text="What the run returned (spec.outputs), once it succeeded: "
        "parameters {name: {value, secret}} (secret values masked) and artifacts "
        "{name: {size, sha256, filename, task, url}}."
    )

    children = serializers.SerializerMethodField(
        help_text="The runs its sub-workflow tasks started: {id, task, status}."
    )

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "outputs", "children", "summary"]
        read_only_fields = fields

    @extend_schema_field(RunSummarySerializer)
    def get_summary(self, run: Run) -> dict[str, Any]:
        return run_summary(run.pk)

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_children(self, run: Run) -> list[dict[str, Any]]:
        # Only a run whose spec calls sub-workflows can have any: no query else.
        if not any(task.workflow for task in blueprint_of(run).spec.tasks):
            return []
        return [
            {"id": pk, "task": task, "status": status}
            for pk, task, status in run.children.order_by("pk").values_list(
                "pk", "parent_task", "status"
            )
        ]

    @extend_schema_field(serializers.DictField())
    def get_outputs(self, run: Run) -> dict[str, Any]:
        returned = run.outputs or {}
        if not returned:
            return {}
        request = self.context.get("request")
        parameters = {
            name: {**item, "value": MASK if item.get("secret") else item["value"]}
            for name, item in returned.get("parameters", {}).items()
        }
        artifacts = {}
        for name, item in returned.get("artifacts", {}).items():
            url = reverse(
                "api:run-task-artifact",
                args=[run.pk, item["task"], item.get("artifact", name)],
                request=request,
            )
            artifacts[name] = {**item, "url": url}
        shown: dict[str, Any] = {"parameters": parameters, "artifacts": artifacts}
        if returned.get("missing"):
            shown["missing"] = returned["missing"]
        return shown


def run_summary(run_id: int) -> dict[str, Any]:
    """How many of the run's tasks are in each status, in all and per fan-out
    (one grouped query over the run's rows; the `task_queue_fan` index covers
    it)."""
    by_status: dict[str, int] = {}
    groups: dict[str, dict[str, Any]] = {}
    rows = (
        TaskRun.objects.filter(run_id=run_id)
        .order_by()
        .values_list("fan_group", "status")
        .annotate(n=Count("id"))
    )
    for group, status, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        if group:
            entry = groups.setdefault(
                group, {"name": group, "total": 0, "by_status": {}}
            )
            entry["total"] += n
            entry["by_status"][status] = n
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "groups": sorted(groups.values(), key=lambda entry: entry["name"]),
    }


def task_context(run: Run, context: Mapping[str, Any]) -> dict[str, Any]:
    """What TaskRunSerializer needs from the run's blueprint (cached per
    version, a debug run's per run: the spec is parsed at most once)."""
    blueprint = blueprint_of(run)
    return {
        **context,
        "upstream": blueprint.graph.upstream,
        "exit_tasks": blueprint.exit_tasks,
        "calls": {
            task.name: task.workflow
            for task in blueprint.spec.tasks
            if task.workflow is not None
        },
    }


_TASK_COLUMNS = (
    "id",
    "name",
    "status",
    "position",
    "priority",
    "attempts_count",
    "round_start",
    "started_at",
    "finished_at",
    "retry_at",
    "reason",
    "message",
    "fan_group",
    "fan_index",
    "fan_item",
    "fan_out",
    "fan_done",
    "fan_failed",
)
_ATTEMPT_COLUMNS = tuple(AttemptSerializer.Meta.fields)
_TIMES = frozenset({"created_at", "started_at", "finished_at", "retry_at"})
_DATETIME = serializers.DateTimeField()


def _shown(column: str, value: Any) -> Any:
    if column in _TIMES and value is not None:
        return _DATETIME.to_representation(value)
    return value


def all_task_rows(run: Run, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What TaskRunSerializer(many=True) shows for every task of `run`, read
    with two value queries instead of model instances: the run page of a
    10,000-task run spent seconds building and serializing them (tested
    equal in tests/workflows/test_api.py)."""
    full = task_context(run, context)
    upstream: Mapping[str, tuple[str, ...]] = full["upstream"]
    exits = full["exit_tasks"]
    calls = full["calls"]
    attempts: dict[int, list[dict[str, Any]]] = {}
    for task_id, *values in (
        Attempt.objects.filter(task_run__run_id=run.pk)
        .order_by("task_run_id", "number")
        .values_list("task_run_id", *_ATTEMPT_COLUMNS)
    ):
        attempts.setdefault(task_id, []).append(
            {c: _shown(c, v) for c, v in zip(_ATTEMPT_COLUMNS, values, strict=True)}
        )
    rows = []
    for values in (
        TaskRun.objects.filter(run_id=run.pk)
        .order_by(*TASK_PAGE_ORDER)
        .values_list(*_TASK_COLUMNS)
    ):
        row = {c: _shown(c, v) for c, v in zip(_TASK_COLUMNS, values, strict=True)}
        task_id = row.pop("id")
        name, group = row["name"], row["fan_group"]
        call = calls.get(group or name)
        row["dependencies"] = list(upstream.get(name, ()))
        row["exit_handler"] = (group or name) in exits
        row["workflow"] = (
            None if call is None else {"name": call.name, "version": call.version}
        )
        row["attempts"] = attempts.get(task_id, [])
        rows.append({field: row[field] for field in TaskRunSerializer.Meta.fields})
    return rows


# A websocket snapshot lists every task of a run up to this many; past it,
# only the tasks that are neither waiting nor done (docs/live.md).
SNAPSHOT_TASKS = 1000
# What a bounded snapshot leaves out: counted in its summary only.
QUIET_TASK_STATUSES = ("Pending", "Succeeded", "Skipped")


class RunSnapshotSerializer(RunDetailSerializer):
    """The run as the run page starts from: the detail with every task. With
    `bounded` in the context (the websocket's snapshot), a run of more than
    SNAPSHOT_TASKS tasks lists only those neither Pending, Succeeded nor
    Skipped, at most SNAPSHOT_TASKS, and says so with tasks_complete."""

    tasks = serializers.SerializerMethodField()
    tasks_complete = serializers.SerializerMethodField()

    class Meta(RunDetailSerializer.Meta):
        fields = [*RunDetailSerializer.Meta.fields, "tasks", "tasks_complete"]
        read_only_fields = fields

    def _bounded(self, run: Run) -> bool:
        if not self.context.get("bounded"):
            return False
        cached = getattr(run, "_snapshot_bounded", None)
        if cached is None:
            cached = run.tasks.count() > SNAPSHOT_TASKS
            run._snapshot_bounded = cached  # type: ignore[attr-defined]
        return bool(cached)

    def get_tasks_complete(self, run: Run) -> bool:
        return not self._bounded(run)

    @extend_schema_field(TaskRunSerializer(many=True))
    def get_tasks(self, run: Run) -> list[dict[str, Any]]:
        from workflows.api.views import tasks_with_attempts

        rows: Any
        if self._bounded(run):
            rows = tasks_with_attempts(
                run.tasks.exclude(status__in=QUIET_TASK_STATUSES)
            )[:SNAPSHOT_TASKS]
        else:
            return all_task_rows(run, self.context)
        return TaskRunSerializer(
            rows, many=True, context=task_context(run, self.context)
        ).data


class TaskPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Tasks matching the filters.")
    next = serializers.URLField(allow_null=True, help_text="The next page.")
    tasks = TaskRunSerializer(many=True)


class DebugEnvSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(allow_blank=True)


class DebugOverridesSerializer(serializers.Serializer):
    """For the schema only: debug_task validates the overrides through the
    spec's own validation, so its errors name the field."""

    command = serializers.ListField(child=serializers.CharField(), required=False)
    args = serializers.ListField(child=serializers.CharField(), required=False)
    env = DebugEnvSerializer(
        many=True,
        required=False,
        help_text="Replace the task's variables of the same name, add the others.",
    )
    image = serializers.CharField(required=False)


class DebugCommandsSerializer(serializers.Serializer):
    backend = serializers.CharField()
    namespace = serializers.CharField(allow_null=True)
    pod = serializers.CharField(allow_null=True)
    exec = serializers.CharField(
        allow_null=True, help_text="kubectl exec into the pod; null without pods."
    )
    logs = serializers.CharField(
        allow_null=True, help_text="kubectl logs -f of the pod; null without pods."
    )
    log_path = serializers.CharField(
        allow_null=True, help_text="The local backend: the log file."
    )
    log_url = serializers.URLField(help_text="The task's log in this API.")
    note = serializers.CharField()


class DebugRunSerializer(RunDetailSerializer):
    """The debug run, plus how to look at its pod."""

    commands = DebugCommandsSerializer(read_only=True)

    class Meta(RunDetailSerializer.Meta):
        fields = [*RunDetailSerializer.Meta.fields, "commands"]
        read_only_fields = fields


class RetrySerializer(serializers.Serializer):
    run = RunDetailSerializer()
    rerun = serializers.ListField(
        child=serializers.CharField(), help_text="The tasks that will run again."
    )


class RerunPreviewSerializer(serializers.Serializer):
    tasks = serializers.ListField(
        child=serializers.CharField(),
        help_text="The tasks a retry would run again, in topological order.",
    )


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = list(RunEvent.PUBLIC_FIELDS)
        read_only_fields = fields


class RunEventPageSerializer(serializers.Serializer):
    events = RunEventSerializer(many=True)
    last_seq = serializers.IntegerField(help_text="The run's newest event.")
    next_since = serializers.IntegerField(
        allow_null=True,
        help_text="Pass as `since` for the next page; null when this page "
        "reaches last_seq.",
    )


class PodEventSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Normal or Warning.")
    reason = serializers.CharField(help_text="Scheduled, Pulling, BackOff, ...")
    message = serializers.CharField()
    count = serializers.IntegerField(help_text="How many times it happened.")
    first_time = serializers.DateTimeField(allow_null=True)
    last_time = serializers.DateTimeField(allow_null=True)
    source = serializers.CharField(help_text="The component that reported it.")


class AttemptRequestSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    backend = serializers.CharField()
    resources = serializers.DictField(help_text="requests and limits asked for.")
    node = serializers.CharField(
        allow_null=True, help_text="The Kubernetes node of its pod; null if none."
    )
    request = serializers.DictField(
        help_text="The rendered task it runs; secret env values read ••••••."
    )
    manifest = serializers.DictField(
        allow_null=True,
        help_text="The Pod manifest (Kubernetes backend), secrets masked; null "
        "for the local backend.",
    )


class PodEventListSerializer(serializers.Serializer):
    attempt = serializers.IntegerField(
        allow_null=True, help_text="The attempt number served; null: none yet."
    )
    events = PodEventSerializer(
        many=True,
        allow_null=True,
        help_text="Oldest first; null when the attempt has no pod.",
    )
