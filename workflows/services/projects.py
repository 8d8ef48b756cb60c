"""Create projects and change who is in them, with which role.

Membership changes take the project's row lock, so two admins demoting each
other at once cannot leave a project without an admin. Callers check
permissions first (workflows.permissions).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from workflows.models import Membership, Project, Role
from workflows.services.errors import ActionRefused
from workflows.services.quotas import sync_runs, wake_waiting_runs

QUOTA_FIELDS = {"max_running_tasks", "max_cpu", "max_memory"}


def create_project(
    *,
    name: str,
    description: str = "",
    namespace: str = "",
    extra_namespaces: list[str] | None = None,
    default_service_account: str = "",
    service_accounts: list[str] | None = None,
    **quotas: Any,
) -> Project:
    """A new project; its pods go to `namespace`, or with none to the
    installation's (FLOWDECK_K8S_NAMESPACE), which the deployment's RBAC
    already grants."""
    project = Project.objects.create(
        name=name,
        description=description,
        namespace=namespace,
        extra_namespaces=extra_namespaces or [],
        default_service_account=default_service_account,
        service_accounts=service_accounts or [],
    )
    if quotas:
        update_project(project, **quotas)
    return project


PLACEMENT_FIELDS = (
    "namespace",
    "extra_namespaces",
    "default_service_account",
    "service_accounts",
)
_SETTINGS = ("description", *PLACEMENT_FIELDS, *QUOTA_FIELDS)


def update_project(project: Project, **changes: Any) -> Project:
    """Change the description, the namespace or the quotas; the name stays.

    A changed quota applies to the project's unfinished runs at their next
    plan; runs that waited for it are planned again after commit."""
    fields = [name for name in _SETTINGS if name in changes]
    before = {name: getattr(project, name) for name in QUOTA_FIELDS}
    for name in fields:
        value = changes[name]
        if name == "max_running_tasks" and not value:
            value = None  # no limit
        elif name in QUOTA_FIELDS and not value:
            value = ""
        setattr(project, name, value)
    if fields:
        with transaction.atomic():
            quota_changed = before != {n: getattr(project, n) for n in QUOTA_FIELDS}
            if quota_changed:
                # Runs before the project: planners lock their run, then the
                # project (services/quotas.capacity); the other order deadlocks.
                sync_runs(project)
            project.save(update_fields=fields)
            if quota_changed:
                project_id = project.pk
                transaction.on_commit(lambda: wake_waiting_runs(project_id, 0))
    return project


def add_member(project: Project, user: Any, role: str) -> Membership:
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)
        existing = Membership.objects.filter(project=project, user=user).first()
        if existing is not None:
            raise ActionRefused(
                f"{user.get_username()} is already a member of {project.name} "
                f"({existing.role}); change the role instead"
            )
        return Membership.objects.create(project=project, user=user, role=Role(role))


def change_role(membership: Membership, role: str) -> Membership:
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=membership.project_id)
        membership = Membership.objects.select_related("project", "user").get(
            pk=membership.pk
        )
        if membership.role == Role.ADMIN and role != Role.ADMIN:
            _keep_an_admin(membership)
        membership.role = Role(role)
        # A role set by hand is Flowdeck's from now on: the next single
        # sign-on leaves it alone (services.sso).
        membership.from_sso = False
        membership.save(update_fields=["role", "from_sso"])
    return membership


def remove_member(membership: Membership) -> None:
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=membership.project_id)
        membership = Membership.objects.select_related("project", "user").get(
            pk=membership.pk
        )
        if membership.role == Role.ADMIN:
            _keep_an_admin(membership)
        membership.delete()


def _keep_an_admin(leaving: Membership) -> None:
    others = Membership.objects.filter(
        project_id=leaving.project_id, role=Role.ADMIN
    ).exclude(pk=leaving.pk)
    if not others.exists():
        raise ActionRefused(
            f"{leaving.user.get_username()} is the last admin of "
            f"{leaving.project.name}; make someone else admin first"
        )
