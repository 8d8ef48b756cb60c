"""Create workflows, their versions and runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, connection, transaction

from flowcore.engine import Blueprint
from flowcore.secrets import restore_secrets
from flowcore.spec import FieldError, SpecError, parse_spec, render_parameters
from flowcore.states import TERMINAL_RUN_STATUSES, TaskStatus
from observability import tracing
from workflows.blueprints import blueprint_for, spec_limits
from workflows.models import (
    Attempt,
    Project,
    Run,
    RunEvent,
    TaskRun,
    Workflow,
    WorkflowVersion,
)
from workflows.services.concurrency import undefined_semaphores
from workflows.services.dispatch import request_reconcile
from workflows.services.errors import ActionRefused, IdempotencyConflict
from workflows.services.quotas import requested
from workflows.services.runlock import RunTransaction

SOURCE_FORMATS = ("argo",)
MAX_SOURCE_CHARACTERS = 1024 * 1024


def checked_source(source: Mapping[str, Any] | None) -> dict[str, str] | None:
    """What a version keeps of the document it was converted from:
    {"format": one of SOURCE_FORMATS, "text": the original}; SpecError at
    `source` otherwise."""
    if source is None:
        return None
    errors = []
    if not isinstance(source, Mapping):
        errors.append(FieldError("source", "must be an object with format and text"))
    else:
        if source.get("format") not in SOURCE_FORMATS:
            errors.append(
                FieldError(
                    "source.format", f"must be one of {', '.join(SOURCE_FORMATS)}"
                )
            )
        text = source.get("text")
        if not isinstance(text, str):
            errors.append(FieldError("source.text", "must be a string"))
        elif len(text) > MAX_SOURCE_CHARACTERS:
            errors.append(
                FieldError(
                    "source.text",
                    f"must be at most {MAX_SOURCE_CHARACTERS} characters",
                )
            )
        elif "\x00" in text:
            errors.append(FieldError("source.text", "may not contain a NUL character"))
        extra = sorted(set(source) - {"format", "text"})
        if extra:
            errors.append(FieldError(f"source.{extra[0]}", "is not a field of source"))
    if errors:
        raise SpecError(errors)
    assert isinstance(source, Mapping)
    return {"format": str(source["format"]), "text": str(source["text"])}


def _validated(document: Mapping[str, Any]) -> dict[str, Any]:
    parse_spec(document, spec_limits())  # raises SpecError with every problem
    return dict(document)


def _check_sub_workflows(project: Project, document: Mapping[str, Any]) -> None:
    """Every `workflow:` a task calls is a workflow of `project`, and none of
    them reaches this workflow again (through their latest versions): a 400
    naming the task's field; SpecError."""
    own = document["metadata"]["name"]
    tasks = [*document["spec"]["tasks"], *document["spec"].get("onExit", ())]
    calls = {
        index: task["workflow"]["name"]
        for index, task in enumerate(tasks)
        if task.get("workflow") is not None
    }
    if not calls:
        return
    known = dict(
        Workflow.objects.filter(project=project).values_list(
            "name", "latest_version__document"
        )
    )
    known[own] = document
    errors = []
    main = len(document["spec"]["tasks"])
    for index, name in calls.items():
        where = (
            f"spec.tasks[{index}].workflow.name"
            if index < main
            else f"spec.onExit[{index - main}].workflow.name"
        )
        if name not in known:
            errors.append(
                FieldError(where, f"project {project.name} has no workflow {name!r}")
            )
            continue
        path = _path_back(name, own, known)
        if path is not None:
            errors.append(
                FieldError(
                    where,
                    f"{' -> '.join([own, *path])}: a workflow cannot reach itself "
                    "through its sub-workflows",
                )
            )
    if errors:
        raise SpecError(errors)


def _path_back(start: str, target: str, known: Mapping[str, Any]) -> list[str] | None:
    """The chain of sub-workflow calls from `start` back to `target`, if any."""
    pending: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while pending:
        name, path = pending.pop()
        if name == target:
            return path
        if name in seen:
            continue
        seen.add(name)
        document = known.get(name) or {}
        spec = document.get("spec", {}) if isinstance(document, dict) else {}
        for task in [*spec.get("tasks", ()), *spec.get("onExit", ())]:
            call = task.get("workflow") if isinstance(task, dict) else None
            if isinstance(call, dict) and isinstance(call.get("name"), str):
                pending.append((call["name"], [*path, call["name"]]))
    return None


def namespace_refusal(
    project: Project, document: Mapping[str, Any]
) -> FieldError | None:
    """Why the document's spec.namespace is not the project's to use, or None
    (it names none, or one of the project's: Project.namespaces)."""
    spec = document.get("spec")
    namespace = spec.get("namespace") if isinstance(spec, Mapping) else None
    if not namespace:
        return None
    allowed = project.namespaces()
    if namespace in allowed:
        return None
    return FieldError(
        "spec.namespace",
        f"{namespace!r} is not a namespace of project {project.name}; "
        f"it may use: {', '.join(allowed)}",
    )


def service_account_refusals(
    project: Project, document: Mapping[str, Any]
) -> list[FieldError]:
    """Where the document names a serviceAccountName its project does not
    allow (Project.service_account_names; none when the project has no rule):
    in spec.defaults, a task or an exit handler."""
    allowed = project.service_account_names()
    spec = document.get("spec")
    if not allowed or not isinstance(spec, Mapping):
        return []
    named: list[tuple[str, object]] = []
    defaults = spec.get("defaults")
    if isinstance(defaults, Mapping):
        named.append(("spec.defaults", defaults.get("serviceAccountName")))
    for key in ("tasks", "onExit"):
        for index, task in enumerate(spec.get(key) or ()):
            if isinstance(task, Mapping):
                named.append((f"spec.{key}[{index}]", task.get("serviceAccountName")))
    return [
        FieldError(
            f"{where}.serviceAccountName",
            f"{name!r} is not a service account of project {project.name}; "
            f"it may use: {', '.join(allowed)}",
        )
        for where, name in named
        if name and name not in allowed
    ]


def _require_own_namespace(project: Project, document: Mapping[str, Any]) -> None:
    """The document's namespace and service accounts must be its project's."""
    refusal = namespace_refusal(project, document)
    refusals = [refusal] if refusal is not None else []
    refusals += service_account_refusals(project, document)
    if refusals:
        raise SpecError(refusals)


def _require_semaphores(project: Project, document: Mapping[str, Any]) -> None:
    """The semaphores a document names must exist in its project: the pure
    validator cannot know them, the server can (docs/spec.md, Concurrency)."""
    errors = undefined_semaphores(project, document)
    if errors:
        raise SpecError(errors)


DEFAULT_PROJECT = "default"


def default_project() -> Project:
    """The project "default": where workflows made before projects existed
    went, and where create_workflow puts one when given no project."""
    project, _ = Project.objects.get_or_create(name=DEFAULT_PROJECT)
    return project


def create_workflow(
    document: Mapping[str, Any],
    *,
    author: Any,
    project: Project | None = None,
    message: str = "",
    source: Mapping[str, Any] | None = None,
) -> Workflow:
    """A new workflow in `project` (the "default" project when None) with its
    first version (keeping `source`, what the document was converted from);
    SpecError when the spec is invalid or the name is taken in the project.
    Callers check permissions first (workflows.permissions)."""
    source = checked_source(source)
    document = _validated(restore_secrets(document, None))
    if project is None:
        project = default_project()
    _check_sub_workflows(project, document)
    _require_semaphores(project, document)
    _require_own_namespace(project, document)
    metadata = document["metadata"]
    name_taken = SpecError(
        [
            FieldError(
                "metadata.name",
                f"a workflow with this name exists in project {project.name}",
            )
        ]
    )
    if Workflow.objects.filter(project=project, name=metadata["name"]).exists():
        raise name_taken
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                project=project,
                name=metadata["name"],
                description=metadata.get("description", ""),
                labels=metadata.get("labels", {}),
                owner=author,
            )
            _add_version(
                workflow,
                document,
                author=author,
                message=message or "created",
                source=source,
            )
    except IntegrityError:
        # Someone created the same name between the check and the insert.
        raise name_taken from None
    return workflow


def update_workflow(
    workflow: Workflow,
    document: Mapping[str, Any],
    *,
    author: Any,
    message: str = "",
    source: Mapping[str, Any] | None = None,
) -> WorkflowVersion:
    """Save `document` as the workflow's next version (keeping `source`, what
    it was converted from); the name cannot change.

    A document identical to the latest version's is not saved again: the
    latest version is returned. Secret env values that come back masked keep
    the latest version's value (flowcore.secrets).
    """
    source = checked_source(source)
    latest = workflow.latest_version
    document = restore_secrets(document, latest.document if latest else None)
    document = _validated(document)
    _check_sub_workflows(workflow.project, document)
    _require_semaphores(workflow.project, document)
    _require_own_namespace(workflow.project, document)
    if document["metadata"]["name"] != workflow.name:
        raise SpecError(
            [
                FieldError(
                    "metadata.name",
                    f"cannot rename workflow {workflow.name!r}; create a new one",
                )
            ]
        )
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        latest = locked.latest_version
        if latest is not None and latest.document == document:
            return latest
        version = _add_version(
            locked, document, author=author, message=message, source=source
        )
    workflow.refresh_from_db()
    return version


def delete_workflow(workflow: Workflow) -> None:
    """Delete `workflow` unless one of its runs has not finished.

    The workflow's row lock makes a concurrent submit_run wait (inserting a run
    takes a key-share lock on it), so no run can start between the check and
    the delete.
    """
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        live = locked.runs.exclude(status__in=TERMINAL_RUN_STATUSES).count()
        if live:
            raise ActionRefused(
                f"{locked.name} has {live} unfinished run(s); cancel them or "
                "wait for them to finish"
            )
        # Runs first: they protect the versions they ran.
        Run.objects.filter(workflow=locked).delete()
        locked.delete()


def _add_version(
    workflow: Workflow,
    document: dict[str, Any],
    *,
    author: Any,
    message: str,
    source: dict[str, str] | None = None,
) -> WorkflowVersion:
    # The caller holds the workflow's lock (or just created it), so numbers are
    # allocated one at a time.
    last = workflow.versions.order_by("-number").values_list("number", flat=True)
    number = (last.first() or 0) + 1
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=number,
        document=document,
        author=author,
        message=message,
        source=source,
    )
    metadata = document["metadata"]
    workflow.latest_version = version
    workflow.description = metadata.get("description", "")
    workflow.labels = metadata.get("labels", {})
    workflow.save(
        update_fields=["latest_version", "description", "labels", "updated_at"]
    )
    return version


def submit_run(
    version: WorkflowVersion,
    *,
    parameters: Mapping[str, Any] | None = None,
    user: Any = None,
    trigger: str = Run.Trigger.API,
    resubmitted_from: Run | None = None,
    parent: tuple[Run, str, Attempt] | None = None,
    idempotency: tuple[str, str] | None = None,
) -> Run:
    """A new Pending run of `version` with one Pending TaskRun per task;
    `parent` (run, task, attempt) for a sub-workflow's run; `idempotency`
    (key, request hash) kept with it (submit_run_once).

    Raises SpecError naming a parameter that is unknown or missing, or a
    spec.namespace that is not (or no longer) one of the project's: a version
    saved before the rule, or a project whose namespaces changed since.
    """
    with tracing.span(
        "flowdeck.run.submit", **{"flowdeck.workflow_version": version.pk}
    ):
        return _submit_run(
            version, parameters, user, trigger, resubmitted_from, parent, idempotency
        )


def _submit_run(
    version: WorkflowVersion,
    parameters: Mapping[str, Any] | None,
    user: Any,
    trigger: str,
    resubmitted_from: Run | None,
    parent: tuple[Run, str, Attempt] | None,
    idempotency: tuple[str, str] | None,
) -> Run:
    blueprint = blueprint_for(version.pk, version.document)
    values = render_parameters(blueprint.spec, parameters or {})
    key, request_hash = idempotency or ("", "")
    with transaction.atomic():
        project = Project.objects.get(workflows__pk=version.workflow_id)
        _require_own_namespace(project, version.document)
        run = Run.objects.create(
            workflow_id=version.workflow_id,
            quota_project=project if project.has_quota else None,
            version=version,
            parameters=values,
            trigger=trigger,
            traceparent=tracing.current_traceparent(),
            triggered_by=user if user is not None and user.is_authenticated else None,
            resubmitted_from=resubmitted_from,
            idempotency_key=key,
            idempotency_hash=request_hash,
            **(
                {
                    "parent_run": parent[0],
                    "parent_task": parent[1],
                    "parent_attempt": parent[2],
                    "depth": parent[0].depth + 1,
                }
                if parent is not None
                else {}
            ),
        )
        _insert_task_rows(run.pk, blueprint)
        txn = RunTransaction(run, run.created_at)
        who = getattr(user, "username", "") or "system"
        txn.event(
            RunEvent.Kind.RUN,
            status=run.status,
            message=f"submitted by {who} ({trigger}) from version {version.number}"
            + (f" for task {parent[1]} of run {parent[0].pk}" if parent else ""),
            data={"parameters": values},
        )
        txn.after_commit(lambda: request_reconcile(run.pk))
        txn.flush()
    return run


# Rows per INSERT: one bound parameter (the name) a row keeps a statement under
# SQLite's oldest limit of 999 parameters.
_ROWS_PER_INSERT = 900


def _insert_task_rows(run_id: int, blueprint: Blueprint) -> None:
    """One Pending TaskRun per task of `blueprint`, a few multi-row INSERTs in
    the caller's transaction.

    Building 10,000 model instances and letting bulk_create prepare 200,000
    values took over a second; the row is mostly constants. The numbers are
    ints we computed (formatted into the statement), the name is bound."""
    graph = blueprint.graph
    table = connection.ops.quote_name(TaskRun._meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(TaskRun._meta.get_field(field).column)
        for field in (
            "run",
            "name",
            "status",
            "position",
            "priority",
            "attempts_count",
            "round_start",
            "reason",
            "message",
            "cpu_request_milli",
            "memory_request_bytes",
            "fan_group",
            "fan_done",
            "fan_failed",
        )
    )
    pending = str(TaskStatus.PENDING)
    assert pending.isalpha()
    values: list[str] = []
    names: list[str] = []
    for task in blueprint.spec.tasks:
        cpu, memory = requested(task)
        values.append(
            f"({int(run_id)}, %s, '{pending}', {int(graph.position[task.name])}, "
            f"{int(task.priority)}, 0, 1, '', '', {int(cpu)}, {int(memory)}, '', 0, 0)"
        )
        names.append(task.name)
    with connection.cursor() as cursor:
        for start in range(0, len(values), _ROWS_PER_INSERT):
            chunk = values[start : start + _ROWS_PER_INSERT]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join(chunk)}",
                names[start : start + _ROWS_PER_INSERT],
            )


def submit_run_once(
    version: WorkflowVersion,
    *,
    key: str,
    request_hash: str,
    user: Any,
    **submit: Any,
) -> tuple[Run, bool]:
    """submit_run, at most once per (workflow, user, `key`): (the run, True)
    the first time, (that same run, False) when the key was used before with
    the same `request_hash`. IdempotencyConflict when it came with another.

    The unique constraint on (workflow, triggered_by, idempotency_key) decides
    between two requests racing with one key: the loser's insert fails and it
    returns the winner's run."""

    def earlier() -> Run | None:
        run = Run.objects.filter(
            workflow_id=version.workflow_id, triggered_by=user, idempotency_key=key
        ).first()
        if run is not None and run.idempotency_hash != request_hash:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} was used for run {run.pk} with a "
                "different request; use a new key for a new run"
            )
        return run

    found = earlier()
    if found is not None:
        return found, False
    try:
        run = submit_run(version, user=user, idempotency=(key, request_hash), **submit)
    except IntegrityError:
        found = earlier()
        if found is None:
            raise
        return found, False
    return run, True
