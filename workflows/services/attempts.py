"""Record what a backend reports about attempts: started, finished, lost."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction

from flowcore.reports import Report as Report  # re-exported: its old home
from flowcore.reports import attempt_stamp
from flowcore.states import (
    ATTEMPT_TRANSITIONS,
    BUSY_TASK_STATUSES,
    TERMINAL_ATTEMPT_STATUSES,
    AttemptStatus,
    TaskStatus,
    check_attempt_transition,
)
from workflows.blueprints import blueprint_of
from workflows.models import Attempt, Run, RunEvent
from workflows.services import leadership, outputs, rows, subworkflows
from workflows.services.advance import Advance, advance_locked, end_attempt
from workflows.services.dispatch import request_reconcile
from workflows.services.runlock import RunTransaction, locked_run

log = logging.getLogger(__name__)


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

    Runs are independent: when one run's transaction fails (twice), its
    reported attempts end as Error with the reason and the other runs'
    reports are recorded all the same.
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
    if _batches(by_run):
        together = _record_together(by_run, advance=advance)
        if together is not None:
            return together
    advances = []
    for run_id, run_reports in by_run.items():
        for trial in range(_RECORD_TRIALS):
            try:
                result = _record_run_reports(run_id, run_reports, advance=advance)
            except Run.DoesNotExist:
                result = None  # deleted meanwhile: nothing to record
            except leadership.NotLeader:
                raise  # deposed: the new leader records what the pods did
            except Exception as error:
                if trial + 1 < _RECORD_TRIALS:
                    continue
                log.exception(
                    "recording %d report(s) of run %s failed", len(run_reports), run_id
                )
                result = _record_failure(run_id, run_reports, error)
            if result is not None:
                advances.append(result)
            break
    return advances


# A failed transaction is tried once more (a deadlock, a dropped connection)
# before its reports are given up as errors.
_RECORD_TRIALS = 2


def _batches(by_run: dict[int, list[Report]]) -> bool:
    """Whether to try several runs' reports in one transaction: on PostgreSQL
    (row locks: the runs locked meanwhile are only these), when not inside a
    caller's transaction already."""
    return (
        len(by_run) > 1
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


def _record_together(
    by_run: dict[int, list[Report]], *, advance: bool
) -> list[Advance] | None:
    """Every run's reports in one transaction: one commit (one WAL flush)
    for the batch instead of one per run, each run still locked and planned
    as on its own, its events and effects released only after the commit.
    The runs are locked in id order, so two such batches cannot deadlock (a
    deadlock with another writer is detected by the database and fails this).
    None when anything failed: nothing of it was committed, and the caller
    records run by run (a report recorded twice changes nothing)."""
    advances: list[Advance] = []
    try:
        with transaction.atomic():
            for run_id in sorted(by_run):
                result = _record_run_reports(
                    run_id, by_run[run_id], advance=advance, savepoint=False
                )
                if result is not None:
                    advances.append(result)
    except leadership.NotLeader:
        raise  # deposed: the new leader records what the pods did
    except Exception:
        log.info("recording %d runs' reports together failed: one by one", len(by_run))
        return None
    return advances


def _record_run_reports(
    run_id: int, run_reports: list[Report], *, advance: bool, savepoint: bool = True
) -> Advance | None:
    with locked_run(run_id, savepoint=savepoint) as txn:
        # A leader's writes only (the pod watcher's, when it is elected).
        leadership.check_fence()
        attempts = rows.attempts_with_tasks(run_id, (r.attempt_id for r in run_reports))
        changed: dict[str, TaskStatus] = {}
        strays: list[int] = []
        for report in run_reports:
            attempt = attempts.get(report.attempt_id)
            if attempt is None:
                continue  # a report naming another run's attempt
            if _is_stray(txn, attempt, report):
                strays.append(attempt.pk)
                continue
            moved = _apply_report(txn, attempt, report)
            if moved is not None:
                changed[attempt.task_run.name] = moved
        result: Advance | None = None
        if changed and advance:
            backend = attempts[run_reports[0].attempt_id].backend
            result = advance_locked(txn, changed, backend=backend)
        if strays:
            result = result or Advance(run_id)
            result.cancel.extend(strays)
        return result


def _record_failure(
    run_id: int, run_reports: list[Report], error: Exception
) -> Advance | None:
    """End the reported attempts (and their tasks) as Error, saying why, when
    their reports could not be recorded; the run's next plan moves on."""
    message = f"recording what the backend reported failed: {type(error).__name__}"
    if str(error):
        message += f": {error}"
    try:
        with locked_run(run_id) as txn:
            attempts = rows.attempts_with_tasks(
                run_id, (r.attempt_id for r in run_reports)
            )
            for attempt in attempts.values():
                if AttemptStatus(attempt.status) in TERMINAL_ATTEMPT_STATUSES:
                    continue
                txn.set_attempt_status(
                    attempt,
                    attempt.task_run.name,
                    AttemptStatus.ERROR,
                    reason="RecordFailed",
                    message=message,
                    finished_at=txn.now,
                )
                task = attempt.task_run
                if (
                    task.status in BUSY_TASK_STATUSES
                    and task.attempts_count == attempt.number
                ):
                    # A task being cancelled ends Cancelled, whatever happened.
                    final = (
                        TaskStatus.CANCELLED
                        if task.status == TaskStatus.CANCELLING
                        else TaskStatus.ERROR
                    )
                    txn.set_task_status(
                        task, final, reason="RecordFailed", message=message
                    )
            txn.after_commit(lambda: request_reconcile(run_id))
    except Exception:
        log.exception("recording the failure of run %s failed too", run_id)
    return None


def _is_stray(txn: RunTransaction, attempt: Attempt, report: Report) -> bool:
    """A process or pod that started although its attempt was cancelled first
    (the launch lost the race with the cancel): record its handle, say so in
    the run's log, and have it stopped (True)."""
    if attempt.status != AttemptStatus.CANCELLED or not report.handle:
        return False
    if report.status in TERMINAL_ATTEMPT_STATUSES:
        return False
    if attempt.handle == report.handle:
        return True  # seen before: stop it again, say nothing new
    attempt.handle = report.handle
    rows.save_fields(attempt, {"handle"})
    txn.event(
        RunEvent.Kind.ATTEMPT,
        task=attempt.task_run.name,
        attempt=attempt.number,
        status=AttemptStatus.CANCELLED,
        previous=AttemptStatus.CANCELLED,
        message="it started after it was cancelled; stopping it",
        data={"reason": "StartedAfterCancel"},
    )
    return True


def _apply_report(
    txn: RunTransaction, attempt: Attempt, report: Report
) -> TaskStatus | None:
    """Record one report; the task's new status when the attempt ended."""
    current = AttemptStatus(attempt.status)
    if current in TERMINAL_ATTEMPT_STATUSES:
        return None
    if report.attempt_stamp and report.attempt_stamp != attempt_stamp(
        attempt.created_at
    ):
        # Of a pod another attempt with this id left: the database was reset
        # or restored since (the launch deletes that pod and starts its own).
        log.warning(
            "ignored a report of attempt %s by a pod of another attempt with its"
            " id (recorded %s): %s",
            attempt.pk,
            report.attempt_stamp,
            report.status,
        )
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
    if report.status == AttemptStatus.SUCCEEDED and report.outputs is not None:
        # Before the end is recorded: its dependants are planned with them.
        child = subworkflows.child_of(attempt.handle)
        outputs.record_outputs(
            attempt,
            blueprint_of(txn.run).spec_of(task.name),
            report.outputs,
            secret=subworkflows.secret_outputs(child) if child is not None else None,
        )
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
