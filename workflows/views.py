"""Server-rendered pages: read through `permissions.visible`, act through services.

A page about something in a project you are not a member of is a 404; an
action your project role does not allow is a 403 (workflows.permissions
decides; the pages only show the buttons it allows). Every action is recorded
in the audit log; spec documents are shown with secret values masked.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from accounts import audit
from flowcore.secrets import mask_secrets
from flowcore.spec import FieldError, SpecError, dump_document, parse_document
from flowcore.states import (
    TERMINAL_RUN_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    RunStatus,
)
from flowcore.validation.backend import backend_warnings
from k8s_runner.logs import open_log, pod_events, read_tail
from workflows.api.serializers import RunSnapshotSerializer
from workflows.api.views import detail_queryset
from workflows.blueprints import blueprint_for
from workflows.graph import MAX_GRAPH_TASKS, render_version_svg
from workflows.ids import parse_id
from workflows.listing import (
    capped_counts,
    created_between,
    keyset_page,
    of_workflows,
    search_workflows,
    started_by,
    visible_runs,
)
from workflows.models import (
    TASK_PAGE_ORDER,
    Attempt,
    Project,
    Run,
    TaskRun,
    Workflow,
)
from workflows.permissions import (
    PHRASES,
    Action,
    allowed_actions,
    projects_where,
    require,
    visible,
    visible_projects,
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

PAGE_SIZE = 50
RECENT_RUNS = 10
RECENT_EVENTS = 50
LOG_TAIL_BYTES = 1024 * 1024
PARAMETER_FIELD = "param."  # run form inputs are named "param.<parameter name>"
MESSAGE_MAX_LENGTH = 500  # WorkflowVersion.message
RUN_STATUSES = [status.value for status in RunStatus]


RUN_ACTIONS = {
    "cancel": Action.CANCEL_RUN,
    "retry": Action.RETRY_RUN,
    "resubmit": Action.RESUBMIT_RUN,
}


def _workflows(request: HttpRequest) -> QuerySet[Workflow]:
    return visible(Workflow.objects.all(), request.user).select_related(
        "latest_version", "owner", "project"
    )


def _runs(request: HttpRequest) -> QuerySet[Run]:
    return visible(Run.objects.all(), request.user).select_related(
        "workflow__project", "version", "triggered_by"
    )


def _listed_runs(request: HttpRequest) -> QuerySet[Run]:
    """The runs list's: visible by workflow ids (listing.visible_runs), fast
    with a long history; without the versions' documents."""
    return (
        visible_runs(request.user)
        .select_related("workflow__project", "version", "triggered_by")
        .defer("version__document")
    )


def _project_filter(request: HttpRequest) -> tuple[str, list[Project]]:
    """The `?project=` id chosen among the projects the user sees ("" for all),
    and those projects for the filter's menu."""
    projects = list(visible_projects(request.user).only("pk", "name"))
    chosen = request.GET.get("project", "")
    if not any(str(project.pk) == chosen for project in projects):
        chosen = ""
    return chosen, projects


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
    project, projects = _project_filter(request)
    if project:
        workflows = workflows.filter(project_id=int(project))
    search = request.GET.get("q", "").strip()
    label = request.GET.get("label", "").strip()
    workflows = search_workflows(workflows, search, label)
    page = Paginator(workflows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "projects": projects,
        "selected_project": project,
        "search": search,
        "label": label,
        "can_create": projects_where(request.user, Action.CREATE_WORKFLOW).exists(),
    }
    return render(request, "workflows/workflow_list.html", context)


@login_required
def workflow_detail(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(_workflows(request), pk=pk)
    return _workflow_page(request, workflow)


@login_required
@require_POST
def workflow_run(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(_workflows(request), pk=pk)
    require(request, Action.SUBMIT_RUN, workflow.project, target=workflow)
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
    version = workflow.latest_version
    try:
        with audit.recording(
            request,
            Action.SUBMIT_RUN,
            workflow,
            detail={"workflow": workflow.name, "version": version.number},
        ) as entry:
            run = submit_run(
                version,
                parameters=parameters,
                user=request.user,
                trigger=Run.Trigger.MANUAL,
            )
            entry.target = run
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
        "allowed": allowed_actions(request.user, workflow.project),
        "version": version,
        "versions": workflow.versions.select_related("author"),
        "runs": workflow.runs.select_related("version", "triggered_by")[:RECENT_RUNS],
        "run_errors": list(errors),
        "parameters": [],
        "document_yaml": "",
        "graph_svg": "",
        "graph_note": "",
        "backend_warnings": [],
    }
    if version is not None:
        blueprint = blueprint_for(version.pk, version.document)
        context["backend_warnings"] = backend_warnings(
            version.document, settings.FLOWDECK_BACKEND
        )
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
        context["document_yaml"] = dump_document(mask_secrets(version.document))
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
        "document_yaml": dump_document(mask_secrets(version.document)),
        "newer": versions.filter(number__gt=number).order_by("number").first(),
        "older": versions.filter(number__lt=number).order_by("-number").first(),
        **_graph(len(blueprint.graph), lambda: render_version_svg(version)),
    }
    return render(request, "workflows/version_detail.html", context)


def _creatable_projects(request: HttpRequest) -> list[Project]:
    projects = list(projects_where(request.user, Action.CREATE_WORKFLOW))
    if not projects:
        if request.method == "POST":
            audit.record(
                request,
                Action.CREATE_WORKFLOW,
                outcome=audit.Outcome.DENIED,
                detail={"reason": "no project where the user may create"},
            )
        raise PermissionDenied(
            f"{PHRASES[Action.CREATE_WORKFLOW]} needs the editor role in a "
            "project, and you have it in none"
        )
    return projects


def _chosen_project(request: HttpRequest, projects: list[Project]) -> Project:
    """The posted project among those the user sees (SpecError at `project`
    when none is chosen); 403 when the role there cannot create workflows."""
    raw = request.POST.get("project", "")
    wanted = parse_id(raw)
    project = (
        visible_projects(request.user).filter(pk=wanted).first() if wanted else None
    )
    if project is None and not raw and len(projects) == 1:
        project = projects[0]
    if project is None:
        raise SpecError([FieldError("project", "choose a project")])
    require(request, Action.CREATE_WORKFLOW, project)
    return project


@login_required
def workflow_create(request: HttpRequest) -> HttpResponse:
    projects = _creatable_projects(request)
    if request.method != "POST":
        chosen = request.GET.get("project", "")
        if len(projects) == 1:
            chosen = str(projects[0].pk)
        return _editor(request, None, "", "", projects=projects, project=chosen)
    text = request.POST.get("document", "")
    message = request.POST.get("message", "")
    posted = request.POST.get("project", "")
    try:
        project = _chosen_project(request, projects)
        _check_message(message)
        document = parse_document(text)
        with audit.recording(request, Action.CREATE_WORKFLOW, project=project) as entry:
            workflow = create_workflow(
                document, project=project, author=request.user, message=message
            )
            entry.target = workflow
            entry.detail["version"] = 1
    except SpecError as error:
        return _editor(
            request,
            None,
            text,
            message,
            error.errors,
            status=400,
            projects=projects,
            project=posted,
        )
    messages.success(request, f"Created workflow {workflow.name}.")
    return redirect("workflow-detail", pk=workflow.pk)


@login_required
def workflow_edit(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(_workflows(request), pk=pk)
    require(request, Action.UPDATE_WORKFLOW, workflow.project, target=workflow)
    if request.method != "POST":
        version = workflow.latest_version
        text = "" if version is None else dump_document(mask_secrets(version.document))
        return _editor(request, workflow, text, "")
    text = request.POST.get("document", "")
    message = request.POST.get("message", "")
    previous = workflow.latest_version_id
    try:
        _check_message(message)
        document = parse_document(text)
        with audit.recording(request, Action.UPDATE_WORKFLOW, workflow) as entry:
            version = update_workflow(
                workflow, document, author=request.user, message=message
            )
            entry.detail["version"] = version.number
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
    projects: list[Project] | None = None,
    project: str = "",
) -> HttpResponse:
    context = {
        "workflow": workflow,
        "document": text,
        "message": message,
        "errors": list(errors),
        "message_max_length": MESSAGE_MAX_LENGTH,
        "projects": projects or [],
        "selected_project": project,
    }
    return render(request, "workflows/workflow_form.html", context, status=status)


# --- runs ----------------------------------------------------------------------


LAST_FAILURES = 5
FAILURE_WINDOW = 50
FALLBACK_TASKS = 300


def _filtered_runs(request: HttpRequest) -> tuple[QuerySet[Run], dict[str, str]]:
    """The runs the list's filters choose, all but `status` (the dashboard
    counts every status of that set), and the filters as applied ("" when
    absent or invalid, so a bad value shows as no filter rather than an error)."""
    runs = _listed_runs(request)
    project, _ = _project_filter(request)
    chosen = {
        "project": project,
        "workflow": request.GET.get("workflow", ""),
        "who": request.GET.get("who", "").strip(),
        "since": request.GET.get("since", ""),
        "until": request.GET.get("until", ""),
    }
    if project:
        runs = of_workflows(runs, Workflow.objects.filter(project_id=int(project)))
    workflow = parse_id(chosen["workflow"])
    if workflow is not None:
        runs = runs.filter(workflow_id=workflow)
    else:
        chosen["workflow"] = ""
    if chosen["who"]:
        runs = started_by(runs, chosen["who"])
    since, until = _parse_date(chosen["since"]), _parse_date(chosen["until"])
    if since is None:
        chosen["since"] = ""
    if until is None:
        chosen["until"] = ""
    # Moments, not `created_at__date`: a comparison with the column itself
    # can use its index (`run_created`), one with a function of it cannot.
    runs = created_between(
        runs,
        None if since is None else _moment(since, time.min),
        None if until is None else _moment(until, time.max),
    )
    return runs, chosen


def _dashboard(runs: QuerySet[Run]) -> dict[str, Any]:
    """Counts by status (capped: listing.capped_counts) and the last failures:
    the latest to finish among the newest FAILURE_WINDOW failed runs, so
    neither reads more than an index range whatever the history's size."""
    newest_failed = runs.filter(status=RunStatus.FAILED).order_by("-id")
    failures = sorted(
        newest_failed[:FAILURE_WINDOW],
        key=lambda run: (run.finished_at or run.created_at, run.pk),
        reverse=True,
    )
    return {
        "counts": capped_counts(runs, RUN_STATUSES),
        "failures": [
            {
                "id": run.pk,
                "workflow": run.workflow.name,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "message": run.message,
                "url": reverse("run-detail", args=[run.pk]),
            }
            for run in failures[:LAST_FAILURES]
        ],
    }


def _parse_date(text: str) -> Any:
    try:
        return parse_date(text)
    except ValueError:
        return None


def _moment(day: date, at: time) -> datetime:
    return timezone.make_aware(datetime.combine(day, at))


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    """Runs, newest first, with filters and a dashboard (counts by status, the
    last failures). The page's script follows /ws/runs/ and asks this view for
    fresh dashboard figures as JSON (Accept: application/json) when runs
    change, so nothing polls."""
    runs, chosen = _filtered_runs(request)
    dashboard = _dashboard(runs)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(dashboard)
    status = request.GET.get("status", "")
    if status in RUN_STATUSES:
        runs = runs.filter(status=status)
    else:
        status = ""
    _, projects = _project_filter(request)
    page = keyset_page(
        runs,
        before=parse_id(request.GET.get("before", "")),
        after=parse_id(request.GET.get("after", "")),
        size=PAGE_SIZE,
    )
    filters = {**chosen, "status": status}
    context = {
        "page": page,
        "workflows": visible(Workflow.objects.all(), request.user).values_list(
            "pk", "name"
        ),
        "statuses": RUN_STATUSES,
        "projects": projects,
        "selected_workflow": chosen["workflow"],
        "selected_status": status,
        "selected_project": chosen["project"],
        "selected_who": chosen["who"],
        "selected_since": chosen["since"],
        "selected_until": chosen["until"],
        "filtered": any(filters.values()),
        "dashboard": dashboard,
        "counts": [(name, dashboard["counts"][name]) for name in RUN_STATUSES],
        "ui_data": {
            "filters": filters,
            # The live script adds new runs on top of the first page only.
            "page": 1 if page.first else 2,
            "page_size": PAGE_SIZE,
            "dashboard": dashboard,
        },
    }
    return render(request, "workflows/run_list.html", context)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The live run page: the browser UI starts from the run as the REST API
    shows it (so it draws at once) and follows its websocket from that seq;
    the server-rendered tables underneath are for browsers without JavaScript."""
    run = get_object_or_404(_runs(request), pk=pk)
    tasks = list(run.tasks.order_by(*TASK_PAGE_ORDER))
    finished = run.status in TERMINAL_RUN_STATUSES
    retryable = finished and any(
        task.status in UNSUCCESSFUL_TASK_STATUSES for task in tasks
    )
    allowed = allowed_actions(request.user, run.workflow.project)
    detail = detail_queryset(request.user).get(pk=run.pk)
    ui_data = {
        "run": RunSnapshotSerializer(detail, context={"request": request}).data,
        # For showing buttons only: the API decides again on every action.
        "allowed": sorted(str(action) for action in allowed),
        "urls": {
            "workflow": reverse("workflow-detail", args=[run.workflow_id]),
            "version": reverse(
                "workflow-version", args=[run.workflow_id, run.version.number]
            ),
            "project": reverse("project-detail", args=[run.workflow.project_id]),
            "runs": reverse("run-list"),
        },
    }
    context = {
        "run": run,
        "allowed": allowed,
        # The no-JavaScript table stops somewhere: the live page shows them all.
        "tasks": tasks[:FALLBACK_TASKS],
        "tasks_not_shown": max(0, len(tasks) - FALLBACK_TASKS),
        "finished": finished,
        "can_cancel": not finished and run.status != RunStatus.CANCELLING,
        "retry_preview": rerun_preview(run) if retryable else [],
        "events": run.events.order_by("-seq")[:RECENT_EVENTS],
        "ui_data": ui_data,
    }
    return render(request, "workflows/run_detail.html", context)


@login_required
@require_POST
def run_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    run = get_object_or_404(_runs(request), pk=pk)
    if action not in RUN_ACTIONS:
        raise Http404(f"no action {action!r}")
    require(request, RUN_ACTIONS[action], run.workflow.project, target=run)
    try:
        with audit.recording(request, RUN_ACTIONS[action], run) as entry:
            if action == "cancel":
                cancel_run(run.pk, user=request.user)
                messages.success(request, f"Cancelling run {run.pk}.")
            elif action == "retry":
                names = retry_run(run.pk, user=request.user)
                entry.detail["rerun"] = names[:50]
                messages.success(request, f"Retrying {', '.join(names)}.")
            else:
                new = resubmit_run(run.pk, user=request.user)
                entry.detail["new_run"] = new.pk
                messages.success(request, f"Resubmitted run {run.pk} as run {new.pk}.")
                return redirect("run-detail", pk=new.pk)
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
    require(request, Action.RETRY_TASK, run.workflow.project, target=run)
    try:
        with audit.recording(
            request, Action.RETRY_TASK, run, detail={"task": task.name}
        ) as entry:
            names = retry_from_task(run.pk, task.name, user=request.user)
            entry.detail["rerun"] = names[:50]
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
            return read_tail(log, limit)
    except OSError:
        return None, False


@login_required
def task_logs(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    run, task = _task(request, pk, name)
    attempts = list(task.attempts.all())
    attempt = _chosen_attempt(request, attempts)
    log_text: str | None = None
    truncated = False
    log = open_log(attempt) if attempt is not None else None
    if log is not None:
        with log:
            log_text, truncated = read_tail(log, LOG_TAIL_BYTES)
    context = {
        "run": run,
        "task": task,
        "attempts": attempts,
        "attempt": attempt,
        "log_text": log_text,
        "truncated": truncated,
        "tail_mib": LOG_TAIL_BYTES // (1024 * 1024),
        # The pod's Kubernetes Events; None for an attempt without a pod.
        "pod_events": pod_events(attempt) if attempt is not None else None,
    }
    return render(request, "workflows/task_logs.html", context)


@login_required
def task_log_raw(request: HttpRequest, pk: int, name: str) -> FileResponse:
    run, task = _task(request, pk, name)
    attempt = _chosen_attempt(request, list(task.attempts.all()))
    log = open_log(attempt) if attempt is not None else None
    if attempt is None or log is None:
        raise Http404("no log yet")
    return FileResponse(
        log,
        as_attachment=True,
        filename=f"run-{run.pk}-{task.name}-{attempt.number}.log",
        content_type="text/plain; charset=utf-8",
    )
