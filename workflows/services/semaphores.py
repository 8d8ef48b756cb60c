"""Define, change and delete a project's semaphores, and say who holds them.

Callers check permissions first (workflows.permissions: project admins) and
record the change in the audit log. A change applies at the next plan of
each run: raising a limit or deleting a semaphore wakes its waiters after
commit (they take it, or end saying it is gone); lowering it stops no holder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from flowcore.concurrency import SEMAPHORE
from workflows.models import Project, Semaphore, SemaphoreClaim
from workflows.services import concurrency
from workflows.services.errors import ActionRefused
from workflows.services.quotas import lock_project


def create_semaphore(
    project: Project, *, name: str, limit: int, description: str = ""
) -> Semaphore:
    """A new semaphore of the project; ActionRefused when the name is taken."""
    try:
        with transaction.atomic():
            return Semaphore.objects.create(
                project=project, name=name, limit=limit, description=description
            )
    except IntegrityError:
        raise ActionRefused(
            f"project {project.name} already has a semaphore {name}"
        ) from None


def update_semaphore(
    semaphore: Semaphore, *, limit: int | None = None, description: str | None = None
) -> Semaphore:
    """Change the limit or the description; the name stays (specs name it)."""
    with transaction.atomic():
        # Planners read limits under the project's lock: they see the new one
        # once this commits, never half of it.
        lock_project(semaphore.project_id)
        locked = Semaphore.objects.get(pk=semaphore.pk)
        raised = limit is not None and limit > locked.limit
        fields = []
        if limit is not None:
            locked.limit = limit
            fields.append("limit")
        if description is not None:
            locked.description = description
            fields.append("description")
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
        if raised:
            key = (locked.project_id, SEMAPHORE, locked.name)
            transaction.on_commit(lambda: concurrency.wake_waiters(*key))
    return locked


def delete_semaphore(semaphore: Semaphore) -> None:
    """Delete it. Holders keep their slot until they end; what waits for it,
    and what would take it later, ends as an error naming it."""
    key = (semaphore.project_id, SEMAPHORE, semaphore.name)
    with transaction.atomic():
        lock_project(semaphore.project_id)
        semaphore.delete()
        transaction.on_commit(lambda: concurrency.wake_all_waiters(*key))


@dataclass(frozen=True, slots=True)
class Holder:
    run: int
    task: str  # "": the whole run
    held: bool


@dataclass(slots=True)
class Usage:
    """Who holds a semaphore or mutex of the project, and who waits for it."""

    kind: str
    name: str
    held: int = 0
    waits: int = 0
    holders: list[Holder] = field(default_factory=list)  # the first few
    waiting: list[Holder] = field(default_factory=list)  # the first few


_SHOWN = 50


def usage(project: Project) -> dict[tuple[str, str], Usage]:
    """Each semaphore or mutex of the project someone holds or waits for: how
    many hold and wait, and the first 50 holders and waiters, oldest run
    first (the order waiters get it in)."""
    claims = SemaphoreClaim.objects.filter(project=project)
    found = {
        (kind, name): Usage(kind, name, held, waits)
        for kind, name, held, waits in claims.values("kind", "name")
        .annotate(
            holding=Count("id", filter=Q(held=True)),
            waiting=Count("id", filter=Q(held=False)),
        )
        .values_list("kind", "name", "holding", "waiting")
    }
    for entry in found.values():
        line = claims.filter(kind=entry.kind, name=entry.name).order_by(
            "run_id", "task"
        )
        for held in (True, False):
            entry_line = entry.holders if held else entry.waiting
            entry_line.extend(
                Holder(run, task, held)
                for run, task in line.filter(held=held).values_list("run_id", "task")[
                    :_SHOWN
                ]
            )
    return found
