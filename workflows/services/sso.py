"""Apply the project roles a person's identity-provider groups grant, at each
single sign-on (accounts.oidc decides what they are; this writes them).

Only memberships marked `from_sso` are the provider's to change: a role
granted by hand in Flowdeck is left as it is, whatever the groups say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from workflows.models import Membership, Project, Role


@dataclass(frozen=True)
class RoleChange:
    project: Project
    before: str | None  # None: was not a member through the provider
    after: str | None  # None: no longer one


@dataclass(frozen=True)
class SyncResult:
    changes: list[RoleChange]
    unknown_projects: list[str]  # named by the mapping, not in Flowdeck
    kept_by_hand: list[str]  # projects where a hand-granted role stays


def sync_sso_roles(user: Any, wanted: Mapping[str, str]) -> SyncResult:
    """Make `user`'s provider-granted memberships exactly `wanted` (project
    name -> role): add, change and remove `from_sso` memberships, leave the
    others. Takes the row locks of every project touched, in primary-key
    order (as services.projects does one at a time), so a concurrent change
    of membership by an admin is not lost."""
    with transaction.atomic():
        current = {
            m.project_id: m
            for m in Membership.objects.filter(user=user).select_related("project")
        }
        projects = {p.name: p for p in Project.objects.filter(name__in=list(wanted))}
        touched = sorted(
            {p.pk for p in projects.values()}
            | {pk for pk, m in current.items() if m.from_sso}
        )
        list(Project.objects.select_for_update().filter(pk__in=touched).order_by("pk"))
        # Read again under the locks: what was read before may have changed.
        current = {
            m.project_id: m
            for m in Membership.objects.filter(user=user).select_related("project")
        }
        changes: list[RoleChange] = []
        kept: list[str] = []
        for name in sorted(projects):
            project, role = projects[name], wanted[name]
            membership = current.get(project.pk)
            if membership is None:
                Membership.objects.create(
                    project=project, user=user, role=Role(role), from_sso=True
                )
                changes.append(RoleChange(project, None, role))
            elif not membership.from_sso:
                kept.append(name)
            elif membership.role != role:
                changes.append(RoleChange(project, membership.role, role))
                membership.role = Role(role)
                membership.save(update_fields=["role"])
        wanted_ids = {p.pk for p in projects.values()}
        for project_id, membership in sorted(current.items()):
            if membership.from_sso and project_id not in wanted_ids:
                changes.append(RoleChange(membership.project, membership.role, None))
                membership.delete()
    unknown = sorted(set(wanted) - set(projects))
    return SyncResult(changes=changes, unknown_projects=unknown, kept_by_hand=kept)
