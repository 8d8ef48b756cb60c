"""Project quotas: what a project has left, and waking runs when room frees up.

A run whose project has a quota carries `quota_project` (kept by submit_run and
update_project), so planning a run without one costs no query here at all.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from django.db import connection

from flowcore.engine import Capacity, task_requests
from flowcore.spec import TaskSpec
from flowcore.spec_base import MAX_BYTES, MAX_CPU, quantity_value
from flowcore.states import TERMINAL_RUN_STATUSES, TaskStatus
from workflows.models import Project, Run, TaskRun, Workflow
from workflows.services.dispatch import request_reconcile
from workflows.services.rows import quote as _q
from workflows.services.rows import table as _table

QUOTA_REASON = "Quota"
_MILLI = Decimal(1000)


def requested(task: TaskSpec) -> tuple[int, int]:
    """The task's (cpu millicores, memory bytes) requests, for TaskRun's columns.

    Capped at the spec's maxima: a version saved before quantities had one may
    request 1e100 CPUs, which no 64-bit column holds. Only the stored count is
    capped; the engine compares the full amounts, so such a task still waits
    for room in a quota.
    """
    cpu, memory = task_requests(task)
    cpu, memory = min(cpu, MAX_CPU[0]), min(memory, MAX_BYTES[0])
    return int((cpu * _MILLI).to_integral_value()), int(memory.to_integral_value())


@cache
def _usage_sql() -> str:
    # One statement: the quota and the sums over the project's running tasks,
    # Cancelling ones included: their pods still run within their grace period
    # (the partial index quota_tasks keeps the scan to live tasks).
    return (
        f"SELECT p.{_q('max_running_tasks')}, p.{_q('max_cpu')}, "
        f"p.{_q('max_memory')}, u.n, u.cpu, u.mem "
        f"FROM {_table(Project)} p CROSS JOIN ("
        f"SELECT COUNT(*) AS n, COALESCE(SUM(t.{_q('cpu_request_milli')}), 0) AS cpu, "
        f"COALESCE(SUM(t.{_q('memory_request_bytes')}), 0) AS mem "
        f"FROM {_table(TaskRun)} t "
        f"JOIN {_table(Run)} r ON r.{_q('id')} = t.{_q('run_id')} "
        f"JOIN {_table(Workflow)} w ON w.{_q('id')} = r.{_q('workflow_id')} "
        f"WHERE w.{_q('project_id')} = %s AND t.{_q('status')} IN (%s, %s)) u "
        f"WHERE p.{_q('id')} = %s"
    )


@cache
def _lock_sql() -> str:
    return f"SELECT {_q('id')} FROM {_table(Project)} WHERE {_q('id')} = %s FOR UPDATE"


def lock_project(project_id: int) -> None:
    """Take the project's row lock until commit: planners that read or take
    what the project shares (its quota, its semaphores) decide one after the
    other. The caller holds its run's lock, always taken first. SQLite's
    transactions already lock the whole database."""
    if connection.features.has_select_for_update:
        with connection.cursor() as cursor:
            cursor.execute(_lock_sql(), [project_id])


def capacity(project_id: int) -> Capacity | None:
    """What the project has left across all its runs; None without a quota.

    The caller holds its run's lock; this takes the project's row lock next
    (always in that order), so two runs of one project plan one after the
    other and the second sees the tasks the first started. SQLite's
    transactions already lock the whole database.
    """
    lock_project(project_id)
    with connection.cursor() as cursor:
        cursor.execute(
            _usage_sql(),
            [project_id, TaskStatus.RUNNING, TaskStatus.CANCELLING, project_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    max_tasks, max_cpu, max_memory, running, cpu_milli, memory = row
    if not (max_tasks or max_cpu or max_memory):
        return None
    cpu_limit = quantity_value(max_cpu) if max_cpu else None
    memory_limit = quantity_value(max_memory) if max_memory else None
    return Capacity(
        free_tasks=None if not max_tasks else max_tasks - running,
        free_cpu=None
        if cpu_limit is None
        else cpu_limit - Decimal(int(cpu_milli)) / _MILLI,
        free_memory=None if memory_limit is None else memory_limit - int(memory),
        max_tasks=max_tasks or None,
        max_cpu=cpu_limit,
        max_memory=memory_limit,
    )


def wake_waiting_runs(project_id: int, finished_run_id: int) -> None:
    """Ask for a plan of the project's other runs whose tasks wait for quota.

    Call after commit, once running tasks of the project have ended."""
    waiting = (
        TaskRun.objects.filter(
            run__workflow__project_id=project_id,
            status=TaskStatus.QUEUED,
            reason=QUOTA_REASON,
        )
        .exclude(run_id=finished_run_id)
        .exclude(run__status__in=TERMINAL_RUN_STATUSES)
        .order_by("run_id")
        .values_list("run_id", flat=True)
        .distinct()
    )
    for run_id in list(waiting):
        request_reconcile(run_id)


def sync_runs(project: Project) -> None:
    """Mark the project's unfinished runs with whether the project has a quota."""
    Run.objects.filter(workflow__project=project).exclude(
        status__in=TERMINAL_RUN_STATUSES
    ).update(quota_project=project if project.has_quota else None)
