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


def create_project(*, name: str, description: str = "", namespace: str = "") -> Project:
    return Project.objects.create(
        name=name, description=description, namespace=namespace or name
    )


def update_project(project: Project, **changes: Any) -> Project:
    """Change the description or the namespace; the name stays."""
    fields = [name for name in ("description", "namespace") if name in changes]
    for name in fields:
        setattr(project, name, changes[name])
    if fields:
        project.save(update_fields=fields)
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
        membership.save(update_fields=["role"])
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
