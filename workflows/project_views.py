"""Project pages: the projects you are in, each with its members and its
semaphores; project admins change settings, members and semaphores here, site
administrators create projects.

Permissions are decided in workflows.permissions; writes go through
workflows.services.projects and workflows.services.semaphores and are recorded
in the audit log.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import audit
from k8s_runner.namespaces import namespace_problem
from workflows.forms import (
    MemberAddForm,
    ProjectForm,
    ProjectSettingsForm,
    RoleForm,
    SemaphoreForm,
    SemaphoreLimitForm,
)
from workflows.models import Membership, Project, Role, Semaphore
from workflows.permissions import (
    Action,
    allowed_actions,
    can,
    is_site_admin,
    require,
    role_of,
    visible,
)
from workflows.services import projects as project_services
from workflows.services import semaphores as semaphore_services
from workflows.services.errors import ActionRefused


def _project(request: HttpRequest, pk: int) -> Project:
    return get_object_or_404(visible(Project.objects.all(), request.user), pk=pk)


def back_to_project(
    request: HttpRequest,
    project: Project,
    message: str,
    *,
    level: int = messages.SUCCESS,
) -> HttpResponse:
    """Back to the project page after a change made there (the notification
    rules' too), with `message` saying what happened."""
    messages.add_message(request, level, message)
    return redirect("project-detail", pk=project.pk)


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    form = ProjectForm()
    status = 200
    if request.method == "POST":
        require(request, Action.CREATE_PROJECT)
        form = ProjectForm(request.POST)
        if form.is_valid():
            with audit.recording(request, Action.CREATE_PROJECT) as entry:
                project = project_services.create_project(**form.cleaned_data)
                entry.target = entry.project = project
            return back_to_project(request, project, f"Created project {project.name}.")
        status = 400
    projects = (
        visible(Project.objects.all(), request.user)
        .annotate(workflow_count=Count("workflows", distinct=True))
        .order_by("name")
    )
    roles = dict(
        Membership.objects.filter(user=request.user).values_list("project_id", "role")
    )
    rows = [(project, roles.get(project.pk, "")) for project in projects]
    context = {
        "rows": rows,
        "form": form,
        "can_create": can(request.user, Action.CREATE_PROJECT),
    }
    return render(request, "workflows/project_list.html", context, status=status)


def project_page(
    request: HttpRequest,
    project: Project,
    *,
    settings_form: ProjectSettingsForm | None = None,
    member_form: MemberAddForm | None = None,
    semaphore_form: SemaphoreForm | None = None,
    rule_form: Any = None,
    status: int = 200,
) -> HttpResponse:
    from notifications.forms import NotificationRuleForm
    from notifications.models import Delivery
    from notifications.rules import masked_url

    rules = list(project.notification_rules.select_related("workflow"))
    for rule in rules:
        rule.shown_url = masked_url(rule)
    memberships = project.memberships.select_related("user").order_by("user__username")
    used = semaphore_services.usage(project)
    semaphores = [
        (semaphore, used.pop(("semaphore", semaphore.name), None))
        for semaphore in project.semaphores.order_by("name")
    ]
    context: dict[str, Any] = {
        "project": project,
        "role": role_of(request.user, project),
        "allowed": allowed_actions(request.user, project),
        "memberships": memberships,
        "roles": Role.choices,
        "settings_form": settings_form
        or ProjectSettingsForm(
            instance=project, site_admin=is_site_admin(request.user)
        ),
        "member_form": member_form or MemberAddForm(),
        "workflows": project.workflows.order_by("name").only("pk", "name")[:100],
        "namespace_problem": namespace_problem(project.default_namespace),
        "semaphores": semaphores,
        # Mutexes need no definition: shown while someone holds or waits.
        "mutexes": [u for key, u in sorted(used.items()) if key[0] == "mutex"],
        "semaphore_form": semaphore_form or SemaphoreForm(project=project),
        "notification_rules": rules,
        "rule_form": rule_form or NotificationRuleForm(project=project),
        "deliveries": Delivery.objects.filter(notification__rule__project=project)
        .select_related("notification__rule")
        .order_by("-at", "-id")[:20],
    }
    return render(request, "workflows/project_detail.html", context, status=status)


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    if request.method != "POST":
        return project_page(request, project)
    require(request, Action.UPDATE_PROJECT, project)
    form = ProjectSettingsForm(
        request.POST,
        instance=Project.objects.get(pk=pk),
        site_admin=is_site_admin(request.user),
    )
    if not form.is_valid():
        return project_page(request, project, settings_form=form, status=400)
    with audit.recording(
        request,
        Action.UPDATE_PROJECT,
        project,
        detail={"changed": sorted(form.changed_data)},
    ):
        project_services.update_project(project, **form.cleaned_data)
    return back_to_project(request, project, f"Saved the settings of {project.name}.")


@login_required
@require_POST
def member_add(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    require(request, Action.ADD_MEMBER, project)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return project_page(request, project, member_form=form, status=400)
    user, role = form.cleaned_data["username"], form.cleaned_data["role"]
    try:
        with audit.recording(
            request,
            Action.ADD_MEMBER,
            project=project,
            detail={"user": user.username, "role": role},
        ) as entry:
            entry.target = project_services.add_member(project, user, role)
    except ActionRefused as refusal:
        return back_to_project(request, project, str(refusal), level=messages.ERROR)
    return back_to_project(request, project, f"Added {user.username} as {role}.")


def _membership(project: Project, user_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "project"),
        project=project,
        user_id=user_id,
    )


@login_required
@require_POST
def member_change(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    project = _project(request, pk)
    membership = _membership(project, user_id)
    require(request, Action.CHANGE_MEMBER, project, target=membership)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return back_to_project(
            request,
            project,
            "Choose a role: viewer, editor, operator or admin.",
            level=messages.ERROR,
        )
    role = form.cleaned_data["role"]
    username = membership.user.username
    try:
        with audit.recording(
            request,
            Action.CHANGE_MEMBER,
            membership,
            detail={"user": username, "from": membership.role, "to": role},
        ):
            project_services.change_role(membership, role)
    except ActionRefused as refusal:
        return back_to_project(request, project, str(refusal), level=messages.ERROR)
    return back_to_project(request, project, f"{username} is now {role}.")


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    project = _project(request, pk)
    membership = _membership(project, user_id)
    require(request, Action.REMOVE_MEMBER, project, target=membership)
    username = membership.user.username
    try:
        with audit.recording(
            request,
            Action.REMOVE_MEMBER,
            membership,
            detail={"user": username, "role": membership.role},
        ):
            project_services.remove_member(membership)
    except ActionRefused as refusal:
        return back_to_project(request, project, str(refusal), level=messages.ERROR)
    return back_to_project(request, project, f"Removed {username} from {project.name}.")


def _semaphore(project: Project, name: str) -> Semaphore:
    return get_object_or_404(Semaphore, project=project, name=name)


@login_required
@require_POST
def semaphore_add(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    require(request, Action.CREATE_SEMAPHORE, project)
    form = SemaphoreForm(request.POST, project=project)
    if not form.is_valid():
        return project_page(request, project, semaphore_form=form, status=400)
    values = form.cleaned_data
    try:
        with audit.recording(
            request,
            Action.CREATE_SEMAPHORE,
            project=project,
            detail={"name": values["name"], "limit": values["limit"]},
        ) as entry:
            entry.target = semaphore_services.create_semaphore(project, **values)
    except ActionRefused as refusal:
        return back_to_project(request, project, str(refusal), level=messages.ERROR)
    return back_to_project(
        request, project, f"Defined semaphore {values['name']} ({values['limit']})."
    )


@login_required
@require_POST
def semaphore_change(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    project = _project(request, pk)
    semaphore = _semaphore(project, name)
    require(request, Action.UPDATE_SEMAPHORE, project, target=semaphore)
    form = SemaphoreLimitForm(request.POST)
    if not form.is_valid():
        return back_to_project(
            request,
            project,
            f"The limit of {name}: " + " ".join(form.errors.get("limit", [])),
            level=messages.ERROR,
        )
    limit = form.cleaned_data["limit"]
    with audit.recording(
        request,
        Action.UPDATE_SEMAPHORE,
        semaphore,
        detail={"name": name, "limit": {"from": semaphore.limit, "to": limit}},
    ):
        semaphore_services.update_semaphore(semaphore, limit=limit)
    return back_to_project(request, project, f"Semaphore {name} now admits {limit}.")


@login_required
@require_POST
def semaphore_delete(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    project = _project(request, pk)
    semaphore = _semaphore(project, name)
    require(request, Action.DELETE_SEMAPHORE, project, target=semaphore)
    with audit.recording(
        request,
        Action.DELETE_SEMAPHORE,
        semaphore,
        detail={"name": name, "limit": semaphore.limit},
    ):
        semaphore_services.delete_semaphore(semaphore)
    return back_to_project(request, project, f"Deleted semaphore {name}.")
