"""Concurrency at run time: a workflow's maxActiveRuns, and the semaphores and
mutexes of a project (docs/spec.md, "Concurrency").

Who holds what is SemaphoreClaim rows, written here only, in the transaction
that starts a task or a run (held), queues it behind a full semaphore
(waiting) or ends it (deleted): RunTransaction calls release_* as a task or
run moves on. The rules and the messages are flowcore.concurrency's.

Locks, always after the run's own: the workflow's row when a Pending run of a
workflow with maxActiveRuns asks to start, then the project's row (the one
quotas take) when anything takes a semaphore. So two planners of one workflow,
or two runs reaching for one project's semaphores, decide one after the
other, and the second sees what the first took. A plan that takes nothing
locks nothing and queries nothing here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q

from flowcore.concurrency import (
    MUTEX,
    SEMAPHORE,
    SEMAPHORE_REASON,
    Admission,
    Missing,
    Semaphores,
    SemaphoreState,
    Synchronization,
    Wait,
    admit,
)
from flowcore.engine import Blueprint, TaskState
from flowcore.spec import FieldError
from flowcore.states import (
    BUSY_TASK_STATUSES,
    TERMINAL_RUN_STATUSES,
    RunStatus,
    TaskStatus,
)
from workflows.models import (
    Project,
    Run,
    RunEvent,
    Semaphore,
    SemaphoreClaim,
    TaskRun,
    Workflow,
)
from workflows.services.dispatch import request_reconcile
from workflows.services.quotas import lock_project
from workflows.services.rows import quote as _q
from workflows.services.rows import table as _table

if TYPE_CHECKING:
    from workflows.services.runlock import RunTransaction

logger = logging.getLogger(__name__)

_UNFINISHED = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.CANCELLING)
_ACTIVE = (RunStatus.RUNNING, RunStatus.CANCELLING)
# A task holds its claim while busy, waits in it while Queued.
_CLAIMING = frozenset({TaskStatus.QUEUED, *BUSY_TASK_STATUSES})
_MAY_START = frozenset({TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.QUEUED})
# How many holders a message names (and one more, to know there are more).
_HOLDERS = 6

# Workflows never change project: each workflow's, once read.
_projects: dict[int, int] = {}


def project_of(run: Run) -> int:
    project_id = _projects.get(run.workflow_id)
    if project_id is None:
        project_id = Workflow.objects.values_list("project_id", flat=True).get(
            pk=run.workflow_id
        )
        _projects[run.workflow_id] = project_id
    return project_id


# --- a Pending run: may it start? ---------------------------------------------


@cache
def _lock_workflow_sql() -> str:
    # NO KEY UPDATE: planners of the workflow queue behind each other, while
    # submit_run (inserting a run takes a KEY SHARE lock on it) does not wait.
    return (
        f"SELECT {_q('id')} FROM {_table(Workflow)} WHERE {_q('id')} = %s "
        "FOR NO KEY UPDATE"
    )


def admission(txn: RunTransaction, blueprint: Blueprint) -> Admission:
    """What starting the run depends on, with the locks that keep it true until
    commit: the workflow's row (maxActiveRuns), the project's (a semaphore)."""
    run, spec = txn.run, blueprint.spec
    active: tuple[int, ...] = ()
    active_count = ahead = 0
    if spec.max_active_runs is not None:
        if connection.features.has_select_for_update:
            with connection.cursor() as cursor:
                cursor.execute(_lock_workflow_sql(), [run.workflow_id])
        others = Run.objects.filter(workflow_id=run.workflow_id).exclude(pk=run.pk)
        running = others.filter(status__in=_ACTIVE)
        active_count = running.count()
        if active_count:
            active = tuple(
                running.order_by("pk").values_list("pk", flat=True)[:_HOLDERS]
            )
        ahead = others.filter(status=RunStatus.PENDING, pk__lt=run.pk).count()
    semaphore = None
    if spec.synchronization is not None:
        sync = spec.synchronization
        semaphore = _states(txn, [sync]).states[sync]
    return Admission(active, active_count, ahead, semaphore)


def admit_run(txn: RunTransaction, blueprint: Blueprint) -> Wait | Missing | None:
    """Decide whether the Pending run starts in this transaction. None: it
    does (its own semaphore is taken); a Wait was recorded on the run (reason,
    message, an event when it changes); Missing: its semaphore is gone."""
    spec = blueprint.spec
    if spec.max_active_runs is None and spec.synchronization is None:
        return None
    verdict = admit(
        spec.name, spec.max_active_runs, spec.synchronization, admission(txn, blueprint)
    )
    sync = spec.synchronization
    if isinstance(verdict, Wait):
        if sync is not None and verdict.reason == SEMAPHORE_REASON:
            _claim(txn, "", sync, held=False)
        _note_run_waiting(txn, verdict)
        return verdict
    if isinstance(verdict, Missing):
        return verdict
    if sync is not None:
        _claim(txn, "", sync, held=True)
    if spec.max_active_runs is not None and txn.run.message:
        # It waited: several runs may have ended at once, the next looks too.
        txn.runs_freed = True
    return None


def readmit(txn: RunTransaction, blueprint: Blueprint) -> Wait | Missing | None:
    """For a retry of a finished run: whether it may be active again now (as
    a Pending run would), its semaphore taken if so. Records nothing else."""
    spec = blueprint.spec
    if spec.max_active_runs is None and spec.synchronization is None:
        return None
    verdict = admit(
        spec.name,
        spec.max_active_runs,
        spec.synchronization,
        admission(txn, blueprint),
    )
    if verdict is None and spec.synchronization is not None:
        _claim(txn, "", spec.synchronization, held=True)
    return verdict


def _note_run_waiting(txn: RunTransaction, wait: Wait) -> None:
    """Say why the Pending run waits; an event only when that changes."""
    run = txn.run
    if run.message == wait.message:
        return
    run.message = wait.message
    txn.mark_run_fields({"message"})
    txn.event(
        RunEvent.Kind.RUN,
        status=run.status,
        previous=run.status,
        message=wait.message,
        data={"reason": wait.reason},
    )


# --- semaphores: what a plan may take -------------------------------------------


def needed(
    blueprint: Blueprint,
    tasks: Mapping[str, TaskState],
    names: Iterable[str],
) -> set[Synchronization]:
    """The semaphores the tasks among `names` that may start in this plan
    (Queued, or Pending or Retrying and about to be) would take."""
    wanted = set()
    for name in names:
        state = tasks.get(name)
        if state is None or state.status not in _MAY_START:
            continue
        sync = blueprint.spec_of(name).synchronization
        if sync is not None:
            wanted.add(sync)
    return wanted


def semaphores(
    txn: RunTransaction, syncs: Iterable[Synchronization]
) -> Semaphores | None:
    """The states of these semaphores for a plan of the run, under the
    project's row lock; None when there are none to load."""
    wanted = sorted(set(syncs))
    return _states(txn, wanted) if wanted else None


def _states(txn: RunTransaction, syncs: list[Synchronization]) -> Semaphores:
    run = txn.run
    project_id = project_of(run)
    if not txn.project_locked:
        lock_project(project_id)
        txn.project_locked = True
    names = sorted({sync.name for sync in syncs})
    limits = dict(
        Semaphore.objects.filter(project_id=project_id, name__in=names).values_list(
            "name", "limit"
        )
    )
    counts = {
        (kind, name): (held, ahead)
        for kind, name, held, ahead in SemaphoreClaim.objects.filter(
            project_id=project_id, name__in=names
        )
        .values("kind", "name")
        .annotate(
            holding=Count("id", filter=Q(held=True)),
            # Waiters of older unfinished runs go first (a finished run's
            # claims are deleted as it finishes; the filter is a safeguard).
            waiting=Count(
                "id",
                filter=Q(held=False, run_id__lt=run.pk, run__status__in=_UNFINISHED),
            ),
        )
        .values_list("kind", "name", "holding", "waiting")
    }
    states = {}
    for sync in syncs:
        held, ahead = counts.get((sync.kind, sync.name), (0, 0))
        limit = 1 if sync.kind == MUTEX else limits.get(sync.name)
        holders: tuple[int, ...] = ()
        if held and limit is not None and held + ahead >= limit:
            # Only a full semaphore's message names its holders.
            holders = tuple(
                SemaphoreClaim.objects.filter(
                    project_id=project_id, kind=sync.kind, name=sync.name, held=True
                )
                .order_by("run_id")
                .values_list("run_id", flat=True)
                .distinct()[:_HOLDERS]
            )
        states[sync] = SemaphoreState(limits.get(sync.name), held, holders, ahead)
    return Semaphores(run.pk, states)


# --- claims ----------------------------------------------------------------------


def hold_task(txn: RunTransaction, task: str, sync: Synchronization) -> None:
    """The task starts: it holds its semaphore until its attempt ends."""
    if _claim(txn, task, sync, held=True):
        # It waited: more slots may have freed at once, the next waiter looks.
        txn.chained.add(_key(txn, sync))


def wait_task(txn: RunTransaction, task: str, sync: Synchronization) -> None:
    """The task waits for its semaphore: it keeps its place in line."""
    _claim(txn, task, sync, held=False)


def _claim(
    txn: RunTransaction, task: str, sync: Synchronization, *, held: bool
) -> bool:
    """Write the claim; True when a waiting claim became held."""
    run = txn.run
    claims = SemaphoreClaim.objects.filter(run_id=run.pk, task=task)
    if held and claims.filter(held=False).update(held=True, since=txn.now):
        return True
    # A repeat (a claim already there) changes nothing.
    SemaphoreClaim.objects.bulk_create(
        [
            SemaphoreClaim(
                project_id=project_of(run),
                kind=sync.kind,
                name=sync.name,
                run_id=run.pk,
                task=task,
                held=held,
                since=txn.now,
            )
        ],
        ignore_conflicts=True,
    )
    return False


def release_task(
    txn: RunTransaction,
    blueprint: Blueprint,
    task: str,
    current: TaskStatus,
    status: TaskStatus,
) -> None:
    """The task moved from `current` to `status`: a busy task that stops
    gives its slot back (its waiters are woken after commit), a queued one
    that leaves the queue without starting leaves the line."""
    sync = blueprint.spec_of(task).synchronization
    if sync is None or current not in _CLAIMING or status in _CLAIMING:
        return
    SemaphoreClaim.objects.filter(run_id=txn.run.pk, task=task).delete()
    if current in BUSY_TASK_STATUSES:
        txn.released.add(_key(txn, sync))


def release_run(txn: RunTransaction, blueprint: Blueprint) -> None:
    """The run finished: it holds and waits for nothing any more."""
    if not blueprint.locks and blueprint.spec.synchronization is None:
        return
    claims = SemaphoreClaim.objects.filter(run_id=txn.run.pk)
    held = claims.filter(held=True).values_list("project_id", "kind", "name")
    txn.released.update(held)
    claims.delete()


def _key(txn: RunTransaction, sync: Synchronization) -> tuple[int, str, str]:
    return project_of(txn.run), sync.kind, sync.name


# --- waking up, after commit ----------------------------------------------------


def wake_after_commit(txn: RunTransaction) -> None:
    """Register the wake-ups of what this transaction freed: the oldest waiter
    of each semaphore it gave back (or took from the line: the next one looks,
    other than itself), and the workflow's oldest waiting run when it finished
    (or started after waiting). Each run is asked once."""
    released, chained = sorted(txn.released), sorted(txn.chained - txn.released)
    workflow_id = txn.run.workflow_id if txn.runs_freed else None
    run_id = txn.run.pk
    txn.released, txn.chained, txn.runs_freed = set(), set(), False
    txn.after_commit(lambda: wake(released, chained, workflow_id, run_id))


def wake(
    released: Iterable[tuple[int, str, str]],
    chained: Iterable[tuple[int, str, str]],
    workflow_id: int | None,
    run_id: int,
) -> None:
    """See wake_after_commit. Call after commit."""
    runs = [_oldest_waiter(*key) for key in released]
    runs += [_oldest_waiter(*key, exclude=run_id) for key in chained]
    if workflow_id is not None:
        runs.append(_oldest_waiting_run(workflow_id, exclude=run_id))
    for waiting in dict.fromkeys(run for run in runs if run is not None):
        request_reconcile(waiting)


def _oldest_waiter(
    project_id: int, kind: str, name: str, *, exclude: int | None = None
) -> int | None:
    return (
        SemaphoreClaim.objects.filter(
            project_id=project_id, kind=kind, name=name, held=False
        )
        .exclude(run_id=exclude)
        .order_by("run_id")
        .values_list("run_id", flat=True)
        .first()
    )


def _oldest_waiting_run(workflow_id: int, *, exclude: int) -> int | None:
    """The workflow's oldest Pending run that waits (it says why)."""
    return (
        Run.objects.filter(workflow_id=workflow_id, status=RunStatus.PENDING)
        .exclude(pk=exclude)
        .exclude(message="")
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def wake_waiters(project_id: int, kind: str, name: str) -> None:
    """Ask for a plan of the oldest run waiting for this semaphore (its limit
    was raised; as each waiter takes a slot, the next is asked in turn)."""
    waiting = _oldest_waiter(project_id, kind, name)
    if waiting is not None:
        request_reconcile(waiting)


def wake_all_waiters(project_id: int, kind: str, name: str) -> None:
    """Ask for a plan of every run waiting for this semaphore (it was deleted:
    they end, saying it is gone)."""
    waiting = (
        SemaphoreClaim.objects.filter(
            project_id=project_id, kind=kind, name=name, held=False
        )
        .order_by("run_id")
        .values_list("run_id", flat=True)
        .distinct()
    )
    for run_id in list(waiting):
        request_reconcile(run_id)


# --- repair, in the sweep ---------------------------------------------------------


def _left_behind() -> Q:
    """Claims whose owner no longer claims anything: the run finished, or the
    task is neither Queued nor busy (release_run's and release_task's rules)."""
    claiming = TaskRun.objects.filter(
        run_id=OuterRef("run_id"), name=OuterRef("task"), status__in=_CLAIMING
    )
    return Q(run__status__in=TERMINAL_RUN_STATUSES) | (~Q(task="") & ~Exists(claiming))


def release_left_behind(limit: int = 100) -> int:
    """For the sweep, and so after every restart: delete the claims that no
    longer match their task's or run's state, and wake what waits for them.
    How many were deleted.

    Claims are written in the transaction that moves their owner, so a crash
    (kill -9 of a worker) rolls both back together and leaves none behind;
    this is the safety net for a bug or a hand-edited database, which would
    otherwise keep a semaphore full for ever. One query finds nothing in the
    usual case; each run found is repaired under its own lock, where the rule
    is checked again (the owner may have moved since).
    """
    # Imported here: runlock imports this module.
    from workflows.services.runlock import locked_run

    runs = list(
        SemaphoreClaim.objects.filter(_left_behind())
        .order_by("run_id")
        .values_list("run_id", flat=True)
        .distinct()[:limit]
    )
    deleted = 0
    for run_id in runs:
        with locked_run(run_id) as txn:
            stale = SemaphoreClaim.objects.filter(_left_behind(), run_id=run_id)
            found = list(
                stale.values_list("project_id", "kind", "name", "task", "held")
            )
            if not found:
                continue
            stale.delete()
            deleted += len(found)
            txn.released.update(
                (project, kind, name) for project, kind, name, _, held in found if held
            )
            named = ", ".join(
                f"{kind} {name} ({task or 'the run'})"
                for _, kind, name, task, _ in found
            )
            logger.warning("run %s: released claims left behind: %s", run_id, named)
            txn.event(
                RunEvent.Kind.MESSAGE,
                message=f"released what it no longer held or waited for: {named}",
                data={"reason": "ClaimLeftBehind"},
            )
    return deleted


# --- saving a workflow ------------------------------------------------------------


def named_semaphores(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, name) of each semaphore (not mutex) a validated document names."""
    spec = document.get("spec") or {}
    named: list[tuple[str, str]] = []
    own = spec.get("synchronization") or {}
    if own.get(SEMAPHORE):
        named.append(("spec.synchronization.semaphore", own[SEMAPHORE]))
    for key in ("tasks", "onExit"):
        for index, task in enumerate(spec.get(key) or ()):
            sync = task.get("synchronization") or {}
            if sync.get(SEMAPHORE):
                path = f"spec.{key}[{index}].synchronization.semaphore"
                named.append((path, sync[SEMAPHORE]))
    return named


def undefined_semaphores(
    project: Project, document: Mapping[str, Any]
) -> list[FieldError]:
    """Errors at each `synchronization.semaphore` of a validated document that
    names no semaphore of the project (mutexes need none)."""
    named = named_semaphores(document)
    if not named:
        return []
    defined = set(
        Semaphore.objects.filter(
            project=project, name__in={name for _, name in named}
        ).values_list("name", flat=True)
    )
    return [
        FieldError(
            path,
            f"semaphore {name!r} is not defined in project {project.name}: a "
            "project admin defines it on the project page, or use a mutex "
            f"(synchronization: {{mutex: {name}}})",
        )
        for path, name in named
        if name not in defined
    ]
