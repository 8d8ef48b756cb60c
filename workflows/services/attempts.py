"""Record what a backend reports about an attempt: started, finished, lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from workflows.blueprints import blueprint_for
from workflows.models import Attempt
from workflows.services.advance import Advance, advance_locked, end_attempt
from workflows.services.runlock import locked_run
from workflows.states import (
    TERMINAL_ATTEMPT_STATUSES,
    AttemptStatus,
    check_attempt_transition,
)


@dataclass(frozen=True, slots=True)
class Report:
    """One observation of an attempt by its backend."""

    attempt_id: int
    status: AttemptStatus
    handle: str = ""
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    log_path: str = ""
    at: datetime | None = None


def record_report(report: Report, *, advance: bool = True) -> Advance | None:
    """Apply a backend's report in one locked transaction and, when the attempt
    ended, plan the run in that same transaction so successors launch at once.

    Idempotent: a report that repeats what is recorded (a duplicate watch event,
    a redelivered message) changes nothing and returns None.
    """
    run_id = (
        Attempt.objects.filter(pk=report.attempt_id)
        .values_list("task_run__run_id", flat=True)
        .first()
    )
    if run_id is None:
        return None
    now = report.at or timezone.now()
    with locked_run(run_id, now) as txn:
        attempt = Attempt.objects.select_related("task_run").get(pk=report.attempt_id)
        task = attempt.task_run
        current = AttemptStatus(attempt.status)
        if current == report.status or current in TERMINAL_ATTEMPT_STATUSES:
            return None
        check_attempt_transition(current, report.status)
        extra = {}
        if report.handle:
            extra["handle"] = report.handle
        if report.log_path:
            extra["log_path"] = report.log_path
        if report.status in TERMINAL_ATTEMPT_STATUSES:
            if current is AttemptStatus.LAUNCHING or attempt.started_at is None:
                extra.setdefault("started_at", now)
            for name, value in extra.items():
                setattr(attempt, name, value)
            blueprint = blueprint_for(txn.run.version_id)
            moved = end_attempt(
                txn,
                blueprint,
                task,
                attempt,
                report.status,
                reason=report.reason,
                message=report.message,
                exit_code=report.exit_code,
            )
            if extra:
                attempt.save(update_fields=list(extra))
            if moved is None or not advance:
                return None
            return advance_locked(txn, {task.name: moved}, backend=attempt.backend)
        if report.status is AttemptStatus.RUNNING and attempt.started_at is None:
            extra["started_at"] = now
        txn.set_attempt_status(
            attempt,
            task.name,
            report.status,
            reason=report.reason,
            message=report.message,
            **extra,
        )
        return None
