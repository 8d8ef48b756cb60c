"""The visual DAG editor's pages: the same React app for a new workflow and
for a saved one. The page only hands the app its starting data (a json_script
tag); the app reads and writes through the REST API, which checks every
permission again."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from flowcore.secrets import mask_secrets
from workflows.models import Workflow
from workflows.permissions import (
    PHRASES,
    Action,
    allowed_actions,
    projects_where,
    require,
    visible,
)


def _page(request: HttpRequest, data: dict[str, Any], title: str) -> HttpResponse:
    return render(
        request, "workflows/editor.html", {"editor_data": data, "title": title}
    )


@login_required
def editor_new(request: HttpRequest) -> HttpResponse:
    projects = [
        {"id": project.pk, "name": project.name}
        for project in projects_where(request.user, Action.CREATE_WORKFLOW).order_by(
            "name"
        )
    ]
    if not projects:
        raise PermissionDenied(
            f"{PHRASES[Action.CREATE_WORKFLOW]} needs the editor role in a "
            "project, and you have it in none"
        )
    chosen = request.GET.get("project", "")
    if len(projects) == 1:
        chosen = str(projects[0]["id"])
    elif not any(str(project["id"]) == chosen for project in projects):
        chosen = ""
    data: dict[str, Any] = {
        "workflow": None,
        "document": None,
        "projects": projects,
        "project": chosen,
        "canRun": False,
        # Which of them let the user run it once it is created.
        "runProjects": list(
            projects_where(request.user, Action.SUBMIT_RUN).values_list("pk", flat=True)
        ),
    }
    return _page(request, data, "New workflow")


@login_required
def editor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(
        visible(Workflow.objects.all(), request.user).select_related(
            "project", "latest_version"
        ),
        pk=pk,
    )
    # Whoever may see the workflow gets the editor; without the editor role
    # it is read-only (the API refuses their writes all the same).
    allowed = allowed_actions(request.user, workflow.project)
    read_only = Action.UPDATE_WORKFLOW not in allowed
    if read_only:
        require(request, Action.VIEW, workflow.project, target=workflow)
    version = workflow.latest_version
    data: dict[str, Any] = {
        "workflow": {
            "id": workflow.pk,
            "name": workflow.name,
            "version": version.number if version else None,
            "project": {"id": workflow.project_id, "name": workflow.project.name},
        },
        # Secret values never reach the browser; the mask sent back on save
        # keeps the stored value (flowcore.secrets).
        "document": mask_secrets(version.document) if version else None,
        "projects": [],
        "project": str(workflow.project_id),
        "canRun": not read_only and Action.SUBMIT_RUN in allowed,
        "readOnly": read_only,
    }
    title = f"{workflow.name} (read-only)" if read_only else f"Edit {workflow.name}"
    return _page(request, data, title)
