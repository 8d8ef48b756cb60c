"""Server-rendered pages: read through `visible_to`, act only through the services."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from workflows.blueprints import blueprint_for
from workflows.graph import MAX_GRAPH_TASKS, render_run_svg, render_version_svg
from workflows.models import (
    Attempt,
    Run,
    RunQuerySet,
    TaskRun,
    Workflow,
    WorkflowQuerySet,
)
from workflows.services.control import (
    ActionRefused,
    cancel_run,
    rerun_preview,
    resubmit_run,
    retry_from_task,
    retry_run,
)
from workflows.services.submit import create_workflow, submit_run, update_workflow
from workflows.spec import FieldError, SpecError, dump_document, parse_document
from workflows.states import (
    TERMINAL_RUN_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    RunStatus,
)

PAGE_SIZE = 50
RECENT_RUNS = 10
RECENT_EVENTS = 50
LOG_TAIL_BYTES = 1024 * 1024
PARAMETER_FIELD = "param."  # run form inputs are named "param.<parameter name>"
MESSAGE_MAX_LENGTH = 500  # WorkflowVersion.message
RUN_STATUSES = [status.value for status in RunStatus]


def _workflows(request: HttpRequest) -> WorkflowQuerySet:
    return Workflow.objects.visible_to(request.user).select_related(
        "latest_version", "owner"
    )


def _runs(request: HttpRequest) -> RunQuerySet:
    return Run.objects.visible_to(request.user).select_related(
        "workflow", "version", "triggered_by"
    )


def _graph(task_count: int, draw: Callable[[], str]) -> dict[str, Any]:
    if task_count > MAX_GRAPH_TASKS:
        note = (
            f"This DAG has {task_count} tasks; graphs of more than "
            f"{MAX_GRAPH_TASKS} tasks are not drawn."
        )
        return {"graph_svg": "", "graph_note": note}
    svg = draw()
    if not svg:
        if shutil.which("dot") is None:
            note = "Install graphviz to see the graph."
        else:
            note = "The graph could not be drawn."
        return {"graph_svg": "", "graph_note": note}
    # Safe to inline: dot escapes every label it writes, and workflows.graph
    # only hands it URLs made of URL-safe characters.
    return {"graph_svg": mark_safe(svg), "graph_note": ""}


# --- workflows -----------------------------------------------------------------


@login_required
def workflow_list(request: HttpRequest) -> HttpResponse:
    latest_run = Run.objects.filter(workflow=OuterRef("pk")).order_by("-id")
    workflows = _workflows(request).annotate(
        last_run_id=Subquery(latest_run.values("pk")[:1]),
        last_run_status=Subquery(latest_run.values("status")[:1]),
    )
    page = Paginator(workflows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "workflows/workflow_list.html", {"page": page})


@login_required
def workflow_detail(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(_workflows(request), pk=pk)
    return _workflow_page(request, workflow)


@login_required
@require_POST
def workflow_run(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(_workflows(request), pk=pk)
    if workflow.latest_version is None:
        raise Http404("the workflow has no version to run")
    posted = {
        key.removeprefix(PARAMETER_FIELD): value
        for key, value in request.POST.items()
        if key.startswith(PARAMETER_FIELD)
    }
    # A form cannot leave a field out, so an empty field means "not given":
    # the default applies, and a parameter without one is reported missing.
    parameters = {name: value for name, value in posted.items() if value != ""}
    try:
        run = submit_run(
            workflow.latest_version,
            parameters=parameters,
            user=request.user,
            trigger=Run.Trigger.MANUAL,
        )
    except SpecError as error:
        return _workflow_page(
            request, workflow, values=posted, errors=error.errors, status=400
        )
    messages.success(request, f"Started run {run.pk}.")
    return redirect("run-detail", pk=run.pk)


def _workflow_page(
    request: HttpRequest,
    workflow: Workflow,
    *,
    values: Mapping[str, str] | None = None,
    errors: Iterable[FieldError] = (),
    status: int = 200,
) -> HttpResponse:
    version = workflow.latest_version
    context: dict[str, Any] = {
        "workflow": workflow,
        "version": version,
        "versions": workflow.versions.select_related("author"),
        "runs": workflow.runs.select_related("version", "triggered_by")[:RECENT_RUNS],
        "run_errors": list(errors),
        "parameters": [],
        "document_yaml": "",
        "graph_svg": "",
        "graph_note": "",
    }
    if version is not None:
        blueprint = blueprint_for(version.pk, version.document)
        values = values or {}
        context["parameters"] = [
            {
                "name": parameter.name,
                "field": PARAMETER_FIELD + parameter.name,
                "value": values.get(parameter.name, parameter.default or ""),
                "required": parameter.default is None,
                "description": parameter.description,
            }
            for parameter in blueprint.spec.parameters
        ]
        context["document_yaml"] = dump_document(version.document)
        context.update(
            _graph(len(blueprint.graph), lambda: render_version_svg(version))
        )
    return render(request, "workflows/workflow_detail.html", context, status=status)


@login_required
def workflow_version(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    workflow = get_object_or_404(_workflows(request), pk=pk)
    version = get_object_or_404(
        workflow.versions.select_related("author"), number=number
    )
    blueprint = blueprint_for(version.pk, version.document)
    versions = workflow.versions.only("number")
    context = {
        "workflow": workflow,
        "version": version,
        "document_yaml": dump_document(version.document),
        "newer": versions.filter(number__gt=number).order_by("number").first(),
        "older": versions.filter(number__lt=number).order_by("-number").first(),
        **_graph(len(blueprint.graph), lambda: render_version_svg(version)),
    }
    return render(request, "workflows/version_detail.html", context)


@login_required
def workflow_create(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _editor(request, None, "", "")
    text = request.POST.get("document", "")
    message = request.POST.get("message", "")
    try:
        _check_message(message)
        workflow = create_workflow(
            parse_document(text), author=request.user, message=message
        )
    except SpecError as error:
        return _editor(request, None, text, message, error.errors, status=400)
    messages.success(request, f"Created workflow {workflow.name}.")
    return redirect("workflow-detail", pk=workflow.pk)


@login_required
def workflow_edit(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(_workflows(request), pk=pk)
    if request.method != "POST":
        version = workflow.latest_version
        text = "" if version is None else dump_document(version.document)
        return _editor(request, workflow, text, "")
    text = request.POST.get("document", "")
    message = request.POST.get("message", "")
    previous = workflow.latest_version_id
    try:
        _check_message(message)
        version = update_workflow(
            workflow, parse_document(text), author=request.user, message=message
        )
    except SpecError as error:
        return _editor(request, workflow, text, message, error.errors, status=400)
    if version.pk == previous:
        messages.info(
            request, f"No changes: {workflow.name} stays at version {version.number}."
        )
    else:
        messages.success(request, f"Saved version {version.number} of {workflow.name}.")
    return redirect("workflow-detail", pk=workflow.pk)


def _check_message(message: str) -> None:
    if len(message) > MESSAGE_MAX_LENGTH:
        raise SpecError(
            [FieldError("message", f"at most {MESSAGE_MAX_LENGTH} characters")]
        )


def _editor(
    request: HttpRequest,
    workflow: Workflow | None,
    text: str,
    message: str,
    errors: Iterable[FieldError] = (),
    *,
    status: int = 200,
) -> HttpResponse:
    context = {
        "workflow": workflow,
        "document": text,
        "message": message,
        "errors": list(errors),
        "message_max_length": MESSAGE_MAX_LENGTH,
    }
    return render(request, "workflows/workflow_form.html", context, status=status)


# --- runs ----------------------------------------------------------------------


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = _runs(request)
    workflow_id = request.GET.get("workflow", "")
    status = request.GET.get("status", "")
    if workflow_id.isdigit():
        runs = runs.filter(workflow_id=int(workflow_id))
    else:
        workflow_id = ""
    if status in RUN_STATUSES:
        runs = runs.filter(status=status)
    else:
        status = ""
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "workflows": Workflow.objects.visible_to(request.user).values_list(
            "pk", "name"
        ),
        "statuses": RUN_STATUSES,
        "selected_workflow": workflow_id,
        "selected_status": status,
    }
    return render(request, "workflows/run_list.html", context)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs(request), pk=pk)
    tasks = list(run.tasks.all())
    finished = run.status in TERMINAL_RUN_STATUSES
    retryable = finished and any(
        task.status in UNSUCCESSFUL_TASK_STATUSES for task in tasks
    )
    context = {
        "run": run,
        "tasks": tasks,
        "finished": finished,
        "can_cancel": not finished and run.status != RunStatus.CANCELLING,
        "retry_preview": rerun_preview(run) if retryable else [],
        "events": run.events.order_by("-seq")[:RECENT_EVENTS],
        **_graph(len(tasks), lambda: render_run_svg(run)),
    }
    return render(request, "workflows/run_detail.html", context)


@login_required
@require_POST
def run_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    run = get_object_or_404(_runs(request), pk=pk)
    try:
        if action == "cancel":
            cancel_run(run.pk, user=request.user)
            messages.success(request, f"Cancelling run {run.pk}.")
        elif action == "retry":
            names = retry_run(run.pk, user=request.user)
            messages.success(request, f"Retrying {', '.join(names)}.")
        elif action == "resubmit":
            new = resubmit_run(run.pk, user=request.user)
            messages.success(request, f"Resubmitted run {run.pk} as run {new.pk}.")
            return redirect("run-detail", pk=new.pk)
        else:
            raise Http404(f"no action {action!r}")
    except (ActionRefused, SpecError) as refusal:
        messages.error(request, f"Cannot {action} run {run.pk}: {refusal}")
    return redirect("run-detail", pk=run.pk)


# --- tasks ---------------------------------------------------------------------


def _task(request: HttpRequest, pk: int, name: str) -> tuple[Run, TaskRun]:
    run = get_object_or_404(_runs(request), pk=pk)
    return run, get_object_or_404(TaskRun, run=run, name=name)


@login_required
@require_POST
def task_retry(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    run, task = _task(request, pk, name)
    try:
        names = retry_from_task(run.pk, task.name, user=request.user)
    except ActionRefused as refusal:
        messages.error(request, f"Cannot retry from {task.name}: {refusal}")
    else:
        messages.success(request, f"Retrying {', '.join(names)}.")
    return redirect("run-detail", pk=run.pk)


def _chosen_attempt(request: HttpRequest, attempts: list[Attempt]) -> Attempt | None:
    wanted = request.GET.get("attempt")
    if wanted is None:
        return attempts[-1] if attempts else None
    for attempt in attempts:
        if str(attempt.number) == wanted:
            return attempt
    raise Http404(f"no attempt {wanted}")


def read_log_tail(path: str, limit: int = LOG_TAIL_BYTES) -> tuple[str | None, bool]:
    """The last `limit` bytes of the log at `path` as text, and whether that is
    less than the whole file; (None, False) when there is no log (yet)."""
    if not path:
        return None, False
    try:
        with open(path, "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            truncated = size > limit
            log.seek(max(0, size - limit))
            data = log.read(limit)
    except OSError:
        return None, False
    if truncated:
        # Start at a line boundary rather than mid-line (or mid-character).
        newline = data.find(b"\n")
        if newline >= 0:
            data = data[newline + 1 :]
    return data.decode("utf-8", errors="replace"), truncated


@login_required
def task_logs(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    run, task = _task(request, pk, name)
    attempts = list(task.attempts.all())
    attempt = _chosen_attempt(request, attempts)
    log_text, truncated = (
        read_log_tail(attempt.log_path) if attempt is not None else (None, False)
    )
    context = {
        "run": run,
        "task": task,
        "attempts": attempts,
        "attempt": attempt,
        "log_text": log_text,
        "truncated": truncated,
        "tail_mib": LOG_TAIL_BYTES // (1024 * 1024),
    }
    return render(request, "workflows/task_logs.html", context)


@login_required
def task_log_raw(request: HttpRequest, pk: int, name: str) -> FileResponse:
    run, task = _task(request, pk, name)
    attempt = _chosen_attempt(request, list(task.attempts.all()))
    if attempt is None or not attempt.log_path:
        raise Http404("no log yet")
    try:
        log = open(attempt.log_path, "rb")  # noqa: SIM115 - FileResponse closes it
    except OSError as error:
        raise Http404("no log yet") from error
    return FileResponse(
        log,
        as_attachment=True,
        filename=f"run-{run.pk}-{task.name}-{attempt.number}.log",
        content_type="text/plain; charset=utf-8",
    )
