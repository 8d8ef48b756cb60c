"""Who may see and do what: the one place that decides.

Seeing follows membership: a project you are not a member of does not exist
for you, so its workflows and runs answer 404. Doing follows your role in the
project (ROLE_ACTIONS): a visible object whose project role is too low answers
403 with a sentence naming the role you have and the one the action needs.
Site administrators (is_superuser or is_staff) see and do everything.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet

from workflows.models import Membership, Project, Role, Run, Workflow


class Action(StrEnum):
    """What a person does; the values double as audit log action names."""

    VIEW = "workflow.view"
    CREATE_WORKFLOW = "workflow.create"
    UPDATE_WORKFLOW = "workflow.update"
    DELETE_WORKFLOW = "workflow.delete"
    SUBMIT_RUN = "run.submit"
    RETRY_RUN = "run.retry"
    RETRY_TASK = "run.retry_task"
    DEBUG_TASK = "run.debug_task"
    CANCEL_RUN = "run.cancel"
    RESUBMIT_RUN = "run.resubmit"
    UPDATE_PROJECT = "project.update"
    ADD_MEMBER = "membership.add"
    CHANGE_MEMBER = "membership.change"
    REMOVE_MEMBER = "membership.remove"
    VIEW_AUDIT = "audit.view"
    CREATE_SEMAPHORE = "semaphore.create"
    UPDATE_SEMAPHORE = "semaphore.update"
    DELETE_SEMAPHORE = "semaphore.delete"
    CREATE_SCHEDULE = "schedule.create"
    UPDATE_SCHEDULE = "schedule.update"
    DELETE_SCHEDULE = "schedule.delete"
    PAUSE_SCHEDULE = "schedule.pause"
    RESUME_SCHEDULE = "schedule.resume"
    BACKFILL_SCHEDULE = "schedule.backfill"
    CANCEL_BACKFILL = "schedule.backfill_cancel"
    # A project-wide notification rule (a workflow's is UPDATE_WORKFLOW).
    MANAGE_NOTIFICATIONS = "notification.manage"
    # Site-wide: only site administrators.
    CREATE_PROJECT = "project.create"
    MANAGE_USERS = "user.manage"


ROLES: tuple[Role, ...] = (Role.VIEWER, Role.EDITOR, Role.OPERATOR, Role.ADMIN)

# What each role adds to the one before it.
_GRANTS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.VIEW}),
    Role.EDITOR: frozenset(
        {
            Action.CREATE_WORKFLOW,
            Action.UPDATE_WORKFLOW,
            Action.DELETE_WORKFLOW,
            # Schedules belong to the workflow's authoring (schedules/).
            Action.CREATE_SCHEDULE,
            Action.UPDATE_SCHEDULE,
            Action.DELETE_SCHEDULE,
            Action.PAUSE_SCHEDULE,
            Action.RESUME_SCHEDULE,
            Action.BACKFILL_SCHEDULE,
            Action.CANCEL_BACKFILL,
        }
    ),
    Role.OPERATOR: frozenset(
        {
            Action.SUBMIT_RUN,
            Action.RETRY_RUN,
            Action.RETRY_TASK,
            # Runs a task again, with a command or image of one's choosing.
            Action.DEBUG_TASK,
            Action.CANCEL_RUN,
            Action.RESUBMIT_RUN,
        }
    ),
    Role.ADMIN: frozenset(
        {
            Action.UPDATE_PROJECT,
            Action.ADD_MEMBER,
            Action.CHANGE_MEMBER,
            Action.REMOVE_MEMBER,
            Action.VIEW_AUDIT,
            Action.MANAGE_NOTIFICATIONS,
            # Semaphores limit every workflow of the project (docs/spec.md).
            Action.CREATE_SEMAPHORE,
            Action.UPDATE_SEMAPHORE,
            Action.DELETE_SEMAPHORE,
        }
    ),
}


def _cumulative() -> dict[Role, frozenset[Action]]:
    table: dict[Role, frozenset[Action]] = {}
    so_far: frozenset[Action] = frozenset()
    for role in ROLES:
        so_far = so_far | _GRANTS[role]
        table[role] = so_far
    return table


ROLE_ACTIONS: dict[Role, frozenset[Action]] = _cumulative()
SITE_ONLY = frozenset({Action.CREATE_PROJECT, Action.MANAGE_USERS})
# Refusals of these are recorded in the audit log; looking is not.
AUDITED = frozenset(Action) - {Action.VIEW, Action.VIEW_AUDIT}

PHRASES: dict[Action, str] = {
    Action.VIEW: "seeing workflows, runs and logs",
    Action.CREATE_WORKFLOW: "creating workflows",
    Action.UPDATE_WORKFLOW: "editing workflows",
    Action.DELETE_WORKFLOW: "deleting workflows",
    Action.SUBMIT_RUN: "running workflows",
    Action.RETRY_RUN: "retrying runs",
    Action.RETRY_TASK: "retrying tasks",
    Action.DEBUG_TASK: "debugging tasks",
    Action.CANCEL_RUN: "cancelling runs",
    Action.RESUBMIT_RUN: "resubmitting runs",
    Action.UPDATE_PROJECT: "changing project settings",
    Action.ADD_MEMBER: "adding members",
    Action.CHANGE_MEMBER: "changing members' roles",
    Action.REMOVE_MEMBER: "removing members",
    Action.VIEW_AUDIT: "reading the audit log",
    Action.CREATE_SEMAPHORE: "defining semaphores",
    Action.UPDATE_SEMAPHORE: "changing semaphores",
    Action.DELETE_SEMAPHORE: "deleting semaphores",
    Action.CREATE_SCHEDULE: "creating schedules",
    Action.UPDATE_SCHEDULE: "editing schedules",
    Action.DELETE_SCHEDULE: "deleting schedules",
    Action.PAUSE_SCHEDULE: "pausing schedules",
    Action.RESUME_SCHEDULE: "resuming schedules",
    Action.BACKFILL_SCHEDULE: "backfilling schedules",
    Action.CANCEL_BACKFILL: "cancelling backfills",
    Action.MANAGE_NOTIFICATIONS: "managing the project's notification rules",
    Action.CREATE_PROJECT: "creating projects",
    Action.MANAGE_USERS: "managing users",
}


def is_site_admin(user: Any) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.is_staff)
    )


def visible_project_filter(user: Any, field: str) -> Q:
    """A filter on `field` (a project, or a relation leading to one) keeping
    the projects `user` may see."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])  # matches nothing
    if is_site_admin(user):
        return Q()
    member_of = Membership.objects.filter(user=user).values("project_id")
    return Q(**{f"{field}__in": member_of})


def visible_projects(user: Any) -> QuerySet[Project]:
    return visible(Project.objects.all(), user)


# How each model reaches its project, for visible().
_PROJECT_OF: dict[type[Model], str] = {
    Project: "pk",
    Workflow: "project",
    Run: "workflow__project",
}

M = TypeVar("M", bound=Model)


def visible(queryset: QuerySet[M], user: Any) -> QuerySet[M]:
    """The rows of `queryset` (projects, workflows or runs) in projects `user`
    may see: everything for site admins, their projects' for members, nothing
    for anyone else."""
    return queryset.filter(visible_project_filter(user, _PROJECT_OF[queryset.model]))


def role_of(user: Any, project: Project) -> Role | None:
    """`user`'s role in `project`, None when not a member."""
    if user is None or not user.is_authenticated:
        return None
    role = (
        Membership.objects.filter(user=user, project=project)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def required_role(action: Action) -> Role | None:
    """The weakest role that may do `action`; None for site-wide actions."""
    for role in ROLES:
        if action in ROLE_ACTIONS[role]:
            return role
    return None


def allowed_actions(user: Any, project: Project) -> frozenset[Action]:
    """Everything `user` may do in `project`, for pages to show or hide buttons."""
    if is_site_admin(user):
        return frozenset(Action)
    role = role_of(user, project) if user.is_active else None
    return ROLE_ACTIONS[role] if role is not None else frozenset()


def can(user: Any, action: Action, project: Project | None = None) -> bool:
    """Whether `user` may do `action` in `project` (None: a site-wide action)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if is_site_admin(user):
        return True
    if project is None or action in SITE_ONLY:
        return False
    role = role_of(user, project)
    return role is not None and action in ROLE_ACTIONS[role]


def projects_where(user: Any, action: Action) -> QuerySet[Project]:
    """The projects in which `user` may do `action`."""
    if is_site_admin(user):
        return Project.objects.all()
    if not user.is_authenticated or not user.is_active or action in SITE_ONLY:
        return Project.objects.none()
    roles = [role for role in ROLES if action in ROLE_ACTIONS[role]]
    return Project.objects.filter(
        pk__in=Membership.objects.filter(user=user, role__in=roles).values("project_id")
    )


def denial(user: Any, action: Action, project: Project | None) -> str:
    """Why `user` may not do `action`, as a sentence for a 403."""
    phrase = PHRASES[action]
    needed = required_role(action)
    if needed is None or project is None:
        return f"{phrase} needs a site administrator"
    role = role_of(user, project)
    if role is None:
        return (
            f"you are not a member of project {project.name}; {phrase} needs {needed}"
        )
    return f"your role in project {project.name} is {role}; {phrase} needs {needed}"


def require(
    request: Any,
    action: Action,
    project: Project | None = None,
    *,
    target: Any = None,
) -> None:
    """Return if the request's user may do `action`; otherwise record the
    refusal in the audit log (for actions that change something) and raise
    PermissionDenied, which the API and the pages answer with a 403."""
    user = request.user
    if can(user, action, project):
        return
    message = denial(user, action, project)
    if action in AUDITED:
        from accounts import audit

        audit.record(
            request,
            action,
            target if target is not None else project,
            audit.Outcome.DENIED,
            {"reason": message},
            project=project,
        )
    raise PermissionDenied(message)
