"""Record what a backend reports about attempts: started, finished, lost."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from workflows.blueprints import blueprint_of
from workflows.models import Attempt, RunEvent
from workflows.reports import Report as Report  # re-exported: its old home
from workflows.services import rows
from workflows.services.advance import Advance, advance_locked, end_attempt
from workflows.services.runlock import RunTransaction, locked_run
from workflows.states import (
    ATTEMPT_TRANSITIONS,
    TERMINAL_ATTEMPT_STATUSES,
    AttemptStatus,
    TaskStatus,
    check_attempt_transition,
)


def record_report(report: Report, *, advance: bool = True) -> Advance | None:
    """record_reports for one report: the run's Advance, or None."""
    advances = record_reports([report], advance=advance)
    return advances[0] if advances else None


def record_reports(reports: Iterable[Report], *, advance: bool = True) -> list[Advance]:
    """Apply backends' reports, one locked transaction per run, in order.

    When attempts ended, the run is planned in that same transaction so their
    successors can launch at once; the returned Advances say what to launch.
    Idempotent: a report that repeats what is recorded (a duplicate watch
    event, a redelivered message) changes nothing.
    """
    reports = list(reports)
    attempt_runs = {r.attempt_id: r.run_id for r in reports if r.run_id is not None}
    unknown = {r.attempt_id for r in reports} - attempt_runs.keys()
    if unknown:
        attempt_runs.update(
            Attempt.objects.filter(pk__in=unknown).values_list("pk", "task_run__run_id")
        )
    by_run: dict[int, list[Report]] = defaultdict(list)
    for report in reports:
        if report.attempt_id in attempt_runs:
            by_run[attempt_runs[report.attempt_id]].append(report)
    advances = []
    for run_id, run_reports in by_run.items():
        with locked_run(run_id) as txn:
            attempts = rows.attempts_with_tasks(
                run_id, (r.attempt_id for r in run_reports)
            )
            changed: dict[str, TaskStatus] = {}
            for report in run_reports:
                if report.attempt_id not in attempts:
                    continue  # a report naming another run's attempt
                moved = _apply_report(txn, attempts[report.attempt_id], report)
                if moved is not None:
                    changed[attempts[report.attempt_id].task_run.name] = moved
            if changed and advance:
                backend = attempts[run_reports[0].attempt_id].backend
                advances.append(advance_locked(txn, changed, backend=backend))
    return advances


def _apply_report(
    txn: RunTransaction, attempt: Attempt, report: Report
) -> TaskStatus | None:
    """Record one report; the task's new status when the attempt ended."""
    current = AttemptStatus(attempt.status)
    if current in TERMINAL_ATTEMPT_STATUSES:
        return None
    if current == report.status:
        _note_waiting(txn, attempt, report)
        return None
    if report.status not in ATTEMPT_TRANSITIONS[current]:
        # Reports from several sources (the launcher, a pod watcher) can arrive
        # out of order: a Pending after the Running it came before says nothing.
        return None
    check_attempt_transition(current, report.status)
    at = report.at or txn.now
    extra: dict[str, Any] = {}
    if report.handle:
        extra["handle"] = report.handle
    if report.log_path:
        extra["log_path"] = report.log_path
    if attempt.started_at is None and report.status not in (
        AttemptStatus.PENDING,
        AttemptStatus.CANCELLING,
    ):
        extra["started_at"] = at
    task = attempt.task_run
    if report.status not in TERMINAL_ATTEMPT_STATUSES:
        txn.set_attempt_status(
            attempt,
            task.name,
            report.status,
            reason=report.reason,
            message=report.message,
            **extra,
        )
        return None
    return end_attempt(
        txn,
        blueprint_of(txn.run),
        task,
        attempt,
        report.status,
        reason=report.reason,
        message=report.message,
        exit_code=report.exit_code,
        finished_at=at,
        **extra,
    )


def _note_waiting(txn: RunTransaction, attempt: Attempt, report: Report) -> None:
    """A Pending attempt's new reason to wait (ContainerCreating, then
    ImagePullBackOff, say), recorded so that people see why it waits."""
    if report.status is not AttemptStatus.PENDING or not report.reason:
        return
    if (report.reason, report.message) == (attempt.reason, attempt.message):
        return
    attempt.reason, attempt.message = report.reason, report.message
    rows.save_fields(attempt, {"reason", "message"})
    txn.event(
        RunEvent.Kind.ATTEMPT,
        task=attempt.task_run.name,
        attempt=attempt.number,
        status=report.status,
        previous=report.status,
        message=report.message,
        data={"reason": report.reason},
    )
