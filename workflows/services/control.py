"""What a person does to a run: cancel it, retry it, retry from a task, resubmit."""

from __future__ import annotations

from typing import Any

from workflows.blueprints import blueprint_for
from workflows.models import Run, TaskRun
from workflows.services.dispatch import request_reconcile
from workflows.services.errors import ActionRefused
from workflows.services.runlock import RunTransaction, locked_run
from workflows.services.submit import submit_run
from workflows.states import (
    TERMINAL_RUN_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    IllegalTransition,
    RunStatus,
    TaskStatus,
)

__all__ = [
    "ActionRefused",
    "cancel_run",
    "rerun_preview",
    "resubmit_run",
    "retry_from_task",
    "retry_run",
]


def cancel_run(run_id: int, *, user: Any = None) -> Run:
    """Stop the run: live attempts are cancelled, nothing new starts."""
    with locked_run(run_id) as txn:
        status = RunStatus(txn.run.status)
        if status in (RunStatus.CANCELLING, RunStatus.CANCELLED):
            return txn.run  # a repeated cancel is a no-op
        if status in TERMINAL_RUN_STATUSES:
            raise ActionRefused(f"the run already finished ({status})")
        txn.set_run_status(RunStatus.CANCELLING, f"cancelled by {_who(user)}")
        txn.after_commit(lambda: request_reconcile(run_id))
        return txn.run


def retry_run(run_id: int, *, user: Any = None) -> list[str]:
    """Run again every task that did not succeed and everything downstream of
    it; succeeded tasks are kept. Returns the names that will run again."""
    with locked_run(run_id) as txn:
        _require_finished(txn)
        unsuccessful = TaskRun.objects.filter(
            run_id=run_id, status__in=UNSUCCESSFUL_TASK_STATUSES
        ).values_list("name", flat=True)
        if not unsuccessful:
            raise ActionRefused("every task succeeded; there is nothing to retry")
        return _rerun(txn, list(unsuccessful), f"retried by {_who(user)}")


def retry_from_task(run_id: int, task_name: str, *, user: Any = None) -> list[str]:
    """Run `task_name` and everything downstream of it again."""
    with locked_run(run_id) as txn:
        _require_finished(txn)
        if not TaskRun.objects.filter(run_id=run_id, name=task_name).exists():
            raise TaskRun.DoesNotExist(f"run {run_id} has no task {task_name!r}")
        return _rerun(txn, [task_name], f"retried from {task_name} by {_who(user)}")


def rerun_preview(run: Run, task_name: str | None = None) -> list[str]:
    """The tasks a retry would run again, for showing before it is confirmed."""
    graph = blueprint_for(run.version_id).graph
    if task_name is not None:
        starts = [task_name]
    else:
        starts = list(
            run.tasks.filter(status__in=UNSUCCESSFUL_TASK_STATUSES).values_list(
                "name", flat=True
            )
        )
    closure = graph.downstream_closure(starts)
    return sorted(closure, key=graph.position.__getitem__)


def resubmit_run(run_id: int, *, user: Any = None, parameters: Any = None) -> Run:
    """A new run of the same version, with the same or the given parameters."""
    run = Run.objects.select_related("version").get(pk=run_id)
    return submit_run(
        run.version,
        parameters=run.parameters if parameters is None else parameters,
        user=user,
        trigger=Run.Trigger.RESUBMIT,
        resubmitted_from=run,
    )


def _require_finished(txn: RunTransaction) -> None:
    status = RunStatus(txn.run.status)
    if status not in TERMINAL_RUN_STATUSES:
        raise ActionRefused(f"the run is {status}; only a finished run can be retried")


def _rerun(txn: RunTransaction, starts: list[str], message: str) -> list[str]:
    graph = blueprint_for(txn.run.version_id).graph
    names = graph.downstream_closure(starts)
    tasks = TaskRun.objects.filter(run_id=txn.run.pk, name__in=names)
    try:
        txn.set_run_status(RunStatus.RUNNING, message)
    except IllegalTransition as error:
        raise ActionRefused(str(error)) from error
    for task in sorted(tasks, key=lambda t: t.position):
        txn.set_task_status(
            task,
            TaskStatus.PENDING,
            reason="Retried",
            message=message,
            round_start=task.attempts_count + 1,
            retry_at=None,
            started_at=None,
            finished_at=None,
        )
    run_id = txn.run.pk
    txn.after_commit(lambda: request_reconcile(run_id))
    return sorted(names, key=graph.position.__getitem__)


def _who(user: Any) -> str:
    return getattr(user, "username", "") or "system"
