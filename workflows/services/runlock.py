"""The locked run transaction every state change goes through.

`locked_run` opens a transaction, locks the Run row (SELECT ... FOR UPDATE) and
yields a RunTransaction that checks each change against the transition table,
writes the changed columns and appends the RunEvent that records it. Locking
the run first, always, gives every writer the same lock order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from flowcore.engine import Blueprint
from flowcore.states import (
    TERMINAL_RUN_STATUSES,
    TERMINAL_TASK_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    AttemptStatus,
    RunStatus,
    TaskStatus,
    check_attempt_transition,
    check_run_transition,
    check_task_transition,
)
from notifications import outbox
from workflows import live
from workflows.blueprints import blueprint_of
from workflows.models import Attempt, Run, RunEvent, TaskRun
from workflows.services import concurrency, rows, telemetry
from workflows.services.telemetry import Observation, elapsed


class RunTransaction:
    """Changes to one run; the caller holds the run's row lock (see locked_run)."""

    def __init__(self, run: Run, now: datetime) -> None:
        self.run = run
        self.now = now
        self._events: list[RunEvent] = []
        self._run_fields: set[str] = set()
        self._after_commit: list[Callable[[], None]] = []
        self._unsaved_tasks: dict[int, tuple[TaskRun, set[str]]] = {}
        # Transitions to count once committed (workflows.services.telemetry).
        self._observed: list[Observation] = []
        # Changes notification rules may ask about: (event, its seq, task).
        self._notify: list[tuple[str, int, str]] = []
        # Set once an attempt in a project with a quota ended (see quotas).
        self.quota_freed = False
        # Set once the project's row is locked (services.concurrency).
        self.project_locked = False
        # What others may wait for, woken after commit (services.concurrency):
        # semaphores given back, semaphores a waiter took (the next one looks),
        # (project, kind, name); and whether the run finished or started
        # after waiting (the workflow's next waiting run looks).
        self.released: set[tuple[int, str, str]] = set()
        self.chained: set[tuple[int, str, str]] = set()
        self.runs_freed = False
        self._blueprint: Blueprint | None = None

    def blueprint(self) -> Blueprint:
        if self._blueprint is None:
            self._blueprint = blueprint_of(self.run)
        return self._blueprint

    def mark_run_fields(self, fields: set[str]) -> None:
        """Write these columns of the run at flush() (no status change)."""
        self._run_fields |= fields

    def event(
        self,
        kind: str,
        *,
        task: str = "",
        attempt: int | None = None,
        status: str = "",
        previous: str = "",
        message: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.run.last_seq += 1
        self._run_fields.add("last_seq")
        self._events.append(
            RunEvent(
                run=self.run,
                seq=self.run.last_seq,
                kind=kind,
                task=task,
                attempt=attempt,
                status=status,
                previous=previous,
                message=message,
                data=data or {},
                created_at=self.now,
            )
        )

    def set_run_status(self, status: RunStatus, message: str = "") -> bool:
        """Move the run; False when it is already there (a repeat is a no-op)."""
        current = RunStatus(self.run.status)
        if current == status:
            return False
        check_run_transition(current, status)
        self.run.status = status
        self._run_fields.add("status")
        if status is RunStatus.RUNNING:
            self._observed.append(Observation("run_started"))
            if self.run.started_at is None:
                self.run.started_at = self.now
                self._run_fields.add("started_at")
            self.run.finished_at = None
            self._run_fields.add("finished_at")
        elif status in TERMINAL_RUN_STATUSES:
            self.run.finished_at = self.now
            self._run_fields.add("finished_at")
            # It holds and waits for nothing now: its semaphores' waiters, and
            # the workflow's next run waiting for maxActiveRuns, may go.
            concurrency.release_run(self, self.blueprint())
            self.runs_freed = True
            self._observed.append(
                Observation(
                    "run_finished", status, elapsed(self.run.started_at, self.now)
                )
            )
        if message or self.run.message:
            self.run.message = message
            self._run_fields.add("message")
        self.event(RunEvent.Kind.RUN, status=status, previous=current, message=message)
        if status in outbox.RUN_EVENTS:
            self._notify.append((outbox.RUN_EVENTS[status], self.run.last_seq, ""))
        return True

    def set_run_outputs(self, outputs: dict[str, Any]) -> None:
        """What the run returns (spec.outputs), recorded as it succeeds."""
        self.run.outputs = outputs
        self._run_fields.add("outputs")
        self.event(
            RunEvent.Kind.MESSAGE,
            message="outputs: "
            + ", ".join(
                [*outputs.get("parameters", {}), *outputs.get("artifacts", {})]
            ),
            data={"missing": outputs["missing"]} if outputs.get("missing") else None,
        )

    def expire_artifacts(self, artifacts: list[str], reason: str) -> None:
        """The artifacts of the run's tasks (`task/name`) were deleted (the
        caller deleted their rows): the run's own outputs name theirs as
        missing, with `reason`, and an event says what went."""
        outputs = dict(self.run.outputs or {})
        returned = outputs.get("artifacts") or {}
        if returned:
            outputs["artifacts"] = {}
            outputs["missing"] = {
                **outputs.get("missing", {}),
                **dict.fromkeys(returned, reason),
            }
            self.run.outputs = outputs
            self._run_fields.add("outputs")
        self.event(
            RunEvent.Kind.MESSAGE,
            message=f"artifacts deleted: {reason}",
            data={"artifacts": artifacts, "outputs": sorted(returned)},
        )

    def set_task_status(
        self,
        task: TaskRun,
        status: TaskStatus,
        *,
        reason: str = "",
        message: str = "",
        defer: bool = False,
        event_data: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move a task and set `fields` with it; False when it is already there.

        `defer` holds the row's UPDATE until save_tasks(), so a task that moves
        twice in one plan (Queued, then Running) is written once. Queries that
        read task rows must come after save_tasks(). `event_data` goes into the
        event's data next to the reason (docs/live.md).
        """
        current = TaskStatus(task.status)
        if current == status:
            return False
        check_task_transition(current, status)
        if self.blueprint().locks:
            concurrency.release_task(self, self.blueprint(), task.name, current, status)
        if task.fan_group:
            _count_instance(task, current, status)
        task.status = status
        task.reason = reason
        task.message = message
        if status in (
            TaskStatus.SUCCEEDED,
            TaskStatus.FAILED,
            TaskStatus.ERROR,
            TaskStatus.UPSTREAM_FAILED,
            TaskStatus.SKIPPED,
            TaskStatus.CANCELLED,
        ):
            fields.setdefault("finished_at", self.now)
            self._observed.append(
                Observation(
                    "task_finished",
                    status,
                    elapsed(task.started_at, fields["finished_at"] or self.now),
                )
            )
        elif status is TaskStatus.RUNNING:
            self._observed.append(Observation("task_started"))
        elif status is TaskStatus.QUEUED:
            # Scheduling latency counts from here (see set_attempt_status).
            fields.setdefault("queued_at", self.now)
        for name, value in fields.items():
            setattr(task, name, value)
        columns = {"status", "reason", "message", *fields}
        if defer:
            _, unsaved = self._unsaved_tasks.setdefault(id(task), (task, set()))
            unsaved |= columns
        else:
            rows.save_fields(task, columns)
        self.event(
            RunEvent.Kind.TASK,
            task=task.name,
            attempt=task.attempts_count or None,
            status=status,
            previous=current,
            message=message,
            data={**({"reason": reason} if reason else {}), **(event_data or {})}
            or None,
        )
        if status in (TaskStatus.FAILED, TaskStatus.ERROR):
            # Final: a task that will be retried goes to Retrying instead.
            self._notify.append(("task.failed", self.run.last_seq, task.name))
        return True

    def set_attempt_status(
        self,
        attempt: Attempt,
        task_name: str,
        status: AttemptStatus,
        *,
        reason: str = "",
        message: str = "",
        **fields: Any,
    ) -> bool:
        current = AttemptStatus(attempt.status)
        if current == status:
            return False
        check_attempt_transition(current, status)
        if (
            fields.get("started_at")
            and attempt.started_at is None
            and Attempt.task_run.is_cached(attempt)  # type: ignore[attr-defined]
        ):
            # The program runs: from Queued to here is the scheduling latency.
            self._observed.append(
                Observation(
                    "program_started",
                    seconds=elapsed(attempt.task_run.queued_at, fields["started_at"]),
                )
            )
        attempt.status = status
        attempt.reason = reason or attempt.reason
        attempt.message = message or attempt.message
        for name, value in fields.items():
            setattr(attempt, name, value)
        rows.save_fields(attempt, {"status", "reason", "message", *fields})
        data: dict[str, Any] = {}
        if reason:
            data["reason"] = reason
        if attempt.exit_code is not None:
            data["exit_code"] = attempt.exit_code
        self.event(
            RunEvent.Kind.ATTEMPT,
            task=task_name,
            attempt=attempt.number,
            status=status,
            previous=current,
            message=message,
            data=data,
        )
        return True

    def defer_task_fields(self, task: TaskRun, columns: set[str]) -> None:
        """Write these columns of the task at save_tasks() (no status change)."""
        _, unsaved = self._unsaved_tasks.setdefault(id(task), (task, set()))
        unsaved |= columns

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def save_tasks(self) -> None:
        for task, columns in self._unsaved_tasks.values():
            rows.save_fields(task, columns)
        self._unsaved_tasks = {}

    def flush(self) -> None:
        if self.released or self.chained or self.runs_freed:
            concurrency.wake_after_commit(self)
        self.save_tasks()
        if self._notify:
            # The outbox rows commit with the change they report, or not at all.
            outbox.enqueue(self.run, self._notify, self.now)
            self._notify = []
        if self._events:
            rows.insert_events(self._events)
            live.publish_after_commit(self.run, self._events)
            self._events = []
        if self._run_fields:
            rows.save_fields(self.run, self._run_fields)
            self._run_fields = set()
        for callback in self._after_commit:
            transaction.on_commit(callback)
        self._after_commit = []
        if self._observed:
            observed, self._observed = self._observed, []
            workflow_id = self.run.workflow_id
            transaction.on_commit(lambda: telemetry.record(workflow_id, observed))


def _count_instance(task: TaskRun, current: TaskStatus, status: TaskStatus) -> None:
    """Keep a fan-out's counts of done and unsuccessful instances as one of
    them moves (the engine ends the fan-out when all are done)."""
    done = (status in TERMINAL_TASK_STATUSES) - (current in TERMINAL_TASK_STATUSES)
    failed = (status in UNSUCCESSFUL_TASK_STATUSES) - (
        current in UNSUCCESSFUL_TASK_STATUSES
    )
    if done or failed:
        rows.count_instance(task.run_id, task.fan_group, done, failed)


@contextmanager
def locked_run(
    run_id: int, now: datetime | None = None, *, savepoint: bool = True
) -> Iterator[RunTransaction]:
    """A transaction holding the run's row lock; raises Run.DoesNotExist.
    Inside another transaction, savepoint=False makes a failure here fail
    that whole transaction (and costs no SAVEPOINT round trips)."""
    with transaction.atomic(savepoint=savepoint):
        txn = RunTransaction(rows.lock_run(run_id), now or timezone.now())
        yield txn
        txn.flush()
