"""Advance a run: load what the engine needs, plan, apply the plan's actions.

Returns the attempts to launch and to cancel; the dispatcher carries them out
through a backend once the transaction has committed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from flowcore import engine
from flowcore.concurrency import SEMAPHORE_REASON, Missing
from flowcore.conditions import references
from flowcore.engine import Blueprint, Plan, RunState, TaskState
from flowcore.fanout import instance_name, item_field, item_text
from flowcore.spec import SpecError, render_task
from flowcore.states import (
    BUSY_TASK_STATUSES,
    LIVE_ATTEMPT_STATUSES,
    TERMINAL_RUN_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    AttemptStatus,
    RunStatus,
    TaskStatus,
)
from flowcore.templates import Reference, find_references
from workflows.blueprints import blueprint_of, version_identity
from workflows.models import Attempt, Run, RunEvent, TaskRun
from workflows.services import concurrency, outputs, quotas, rows, subworkflows
from workflows.services.dispatch import request_reconcile
from workflows.services.runlock import RunTransaction, locked_run

_MAX_FOLLOW_UPS = 5
_ATTEMPT_INSERT_FIELDS = (
    "task_run",
    "number",
    "status",
    "backend",
    "handle",
    "request",
    "created_at",
    "reason",
    "message",
    "log_path",
)


@dataclass(frozen=True, slots=True)
class Launch:
    """An attempt recorded as Launching, with what a backend needs to start it."""

    attempt_id: int
    run_id: int
    workflow: str
    version: int
    task: str
    number: int
    request: dict[str, Any]  # the rendered TaskSpec
    # When the task became ready (Queued): its launch delay counts from here.
    ready_at: datetime | None = None
    # When the attempt was recorded: with its id, it tells this attempt from
    # one of another database (reset, restored) that had the same id.
    created_at: datetime | None = None


@dataclass(slots=True)
class Advance:
    """What the dispatcher must do after the transaction that produced it."""

    run_id: int
    launch: list[Launch] = field(default_factory=list)
    cancel: list[int] = field(default_factory=list)  # attempt ids
    finished: bool = False


def advance_run(
    run_id: int,
    changed: Mapping[str, TaskStatus] | None = None,
    *,
    now: datetime | None = None,
    backend: str = "",
) -> Advance:
    """Plan the run and apply the plan in one locked transaction.

    `changed` names the tasks whose states changed since the last plan, which
    keeps the plan small; None looks at every task (start, sweep, recovery).
    """
    if transaction.get_connection().in_atomic_block:
        # Launches must happen after commit; an outer transaction would delay it.
        raise RuntimeError("advance_run must not run inside a transaction")
    with locked_run(run_id, now) as txn:
        return advance_locked(txn, changed, backend=backend)


def advance_locked(
    txn: RunTransaction,
    changed: Mapping[str, TaskStatus] | None,
    *,
    backend: str = "",
) -> Advance:
    """advance_run for a caller that already holds the run's lock."""
    run = txn.run
    result = Advance(run.pk)
    if run.status in TERMINAL_RUN_STATUSES:
        return result
    blueprint = blueprint_of(run)
    if run.status == RunStatus.PENDING and _held_back(txn, blueprint, result):
        return result
    # Applying a plan can itself move tasks (a timed-out attempt fails its task);
    # those moves are planned again at once rather than at the next sweep.
    pending: Mapping[str, TaskStatus] | None = changed
    for _ in range(_MAX_FOLLOW_UPS):
        state = _load_state(txn, blueprint, pending)
        plan = engine.plan(blueprint, state, txn.now)
        if plan.rescan:
            state = _load_state(txn, blueprint, None)
            plan = engine.plan(blueprint, state, txn.now)
        follow_up = _apply(txn, blueprint, plan, result, backend=backend)
        for name in plan.unsettled:
            # Settled without running (Skipped, UpstreamFailed): its dependants
            # decide now, not at the next sweep.
            follow_up.setdefault(name, TaskStatus.SKIPPED)
        if not follow_up or run.status in TERMINAL_RUN_STATUSES:
            break
        pending = follow_up
    return result


def _held_back(txn: RunTransaction, blueprint: Blueprint, result: Advance) -> bool:
    """Whether the Pending run may not start now (maxActiveRuns, its own
    semaphore): it waits, saying why, without its tasks even being read; or,
    its semaphore deleted, it ends Failed and its tasks Cancelled."""
    verdict = concurrency.admit_run(txn, blueprint)
    if isinstance(verdict, Missing):
        names = TaskRun.objects.filter(run_id=txn.run.pk).values_list("name", flat=True)
        refusal = Plan(
            [
                engine.StartRun(),
                *(engine.CancelTask(name, verdict.message) for name in names),
                engine.FinishRun(RunStatus.FAILED, verdict.message),
            ]
        )
        _apply(txn, blueprint, refusal, result, backend="")
    return verdict is not None


# What the engine knows of a task (TaskState), its name first.
_STATE_COLUMNS = (
    "name",
    "status",
    "attempts_count",
    "started_at",
    "retry_at",
    "fan_out",
    "fan_done",
    "fan_failed",
)


def _load_state(
    txn: RunTransaction,
    blueprint: Blueprint,
    changed: Mapping[str, TaskStatus] | None,
) -> RunState:
    """The engine's view of the run."""
    run = txn.run
    counts = {TaskStatus(k): v for k, v in rows.task_counts(run.pk).items()}
    group_running = _group_running(run, blueprint, counts)
    queued: list[str] = []
    if counts.get(TaskStatus.QUEUED):
        queued = rows.queued_names(
            run.pk,
            engine.queue_window(blueprint.spec),
            engine.instance_slots(blueprint.limited_fan_outs, group_running),
        )
    if changed is None:
        loaded = {
            row[0]: TaskState(TaskStatus(row[1]), *row[2:])
            for row in TaskRun.objects.filter(run_id=run.pk)
            .order_by()
            .values_list(*_STATE_COLUMNS)
        }
        examine = None
    else:
        names = engine.tasks_to_load(blueprint.graph, changed)
        # Exit handlers are few: always examined, so they start as the last
        # task ends (the engine waits them until then).
        names |= blueprint.exit_tasks
        if counts.get(TaskStatus.RETRYING):
            names.update(rows.due_retries(run.pk, txn.now))
        examine = frozenset(names)
        needed = blueprint.needed(names)
        needed.update(queued)
        # The columns the engine reads, not whole rows: _apply loads the rows
        # of the few tasks a plan acts on.
        loaded = {
            row[0]: TaskState(TaskStatus(row[1]), *row[2:])
            for row in rows.task_columns(run.pk, needed, _STATE_COLUMNS)
        }
    return RunState(
        status=RunStatus(run.status),
        started_at=run.started_at,
        tasks=loaded,
        counts=counts,
        examine=examine,
        queued=queued,
        parameters=run.parameters,
        values=_condition_values(run, blueprint, loaded, examine),
        forgiven=_forgiven(run, blueprint, counts),
        group_running=group_running,
        max_fan_out=settings.FLOWDECK_MAX_FAN_OUT,
        # Only a run in a project with a quota pays for the usage query.
        capacity=quotas.capacity(run.quota_project_id)
        if run.quota_project_id is not None and queued_any(counts, queued)
        else None,
        # Only a plan with a task that may take a semaphore reads (and locks).
        semaphores=concurrency.semaphores(
            txn, concurrency.needed(blueprint, loaded, {*queued, *(examine or loaded)})
        )
        if blueprint.locks
        else None,
    )


def _condition_values(
    run: Run,
    blueprint: Blueprint,
    loaded: Mapping[str, TaskState],
    examine: frozenset[str] | None,
) -> dict[str, str]:
    """The upstream outputs the `when` of the Pending tasks examined read (and
    what an exit handler's reads of the run): one query, and none when no such
    task is examined."""
    if not blueprint.conditions and not blueprint.fan_outs:
        return {}
    names = loaded.keys() if examine is None else examine
    tasks: set[str] = set()
    reads_run = False
    for name in names:
        if name not in loaded or loaded[name].status is not TaskStatus.PENDING:
            continue
        condition = blueprint.conditions.get(name)
        if condition is not None:
            found = [ref.reference for ref in references(condition)]
            tasks.update(ref.name for ref in found if ref.root == "tasks")
            reads_run = reads_run or any(ref.root == "run" for ref in found)
        fan_out = blueprint.fan_outs.get(name)
        if fan_out is not None and fan_out.param is not None:
            # withParam's list, read like a condition's value.
            tasks.update(
                found.reference.name
                for found in find_references(fan_out.param)
                if found.reference is not None and found.reference.root == "tasks"
            )
    values: dict[str, str] = {}
    if reads_run:
        values |= {
            f"run.{key}": value for key, value in _run_values(run, blueprint).items()
        }
    if tasks:
        values |= outputs.upstream_outputs(run, tasks, blueprint).values
    return values


def _group_running(
    run: Run, blueprint: Blueprint, counts: Mapping[TaskStatus, int]
) -> dict[str, int]:
    """Running instances of each fan-out that limits them (one query, only
    when there are such fan-outs and something runs)."""
    limited = list(blueprint.limited_fan_outs)
    if not limited or not any(counts.get(s) for s in BUSY_TASK_STATUSES):
        return {}
    running = (
        TaskRun.objects.filter(
            run_id=run.pk, fan_group__in=limited, status__in=BUSY_TASK_STATUSES
        )
        .values("fan_group")
        .annotate(count=Count("id"))
        .values_list("fan_group", "count")
    )
    return dict(running)


def _forgiven(run: Run, blueprint: Blueprint, counts: Mapping[TaskStatus, int]) -> int:
    """How many failed tasks their continueOn forgives (a query only when the
    spec forgives any and something failed)."""
    if not blueprint.forgiving or not (
        counts.get(TaskStatus.FAILED) or counts.get(TaskStatus.ERROR)
    ):
        return 0
    failed = TaskRun.objects.filter(
        run_id=run.pk,
        name__in=list(blueprint.forgiving),
        status__in=[TaskStatus.FAILED, TaskStatus.ERROR],
    ).values_list("name", "status")
    return sum(1 for name, status in failed if status in blueprint.forgiving[name])


def _apply(
    txn: RunTransaction,
    blueprint: Blueprint,
    plan: Plan,
    result: Advance,
    *,
    backend: str,
) -> dict[str, TaskStatus]:
    """Carry out the plan; returns tasks moved by side effects of the actions."""
    follow_up: dict[str, TaskStatus] = {}
    expanded = {
        instance_name(action.task, index)
        for action in plan.actions
        if isinstance(action, engine.ExpandTask)
        for index in range(len(action.items))
    }
    # Instances an expansion creates are not in the database yet.
    touched = {
        action.task
        for action in plan.actions
        if not isinstance(action, engine.StartRun | engine.FinishRun)
    } - expanded
    task_rows = rows.tasks_named(txn.run.pk, touched) if touched else {}
    for action in plan.actions:
        match action:
            case engine.StartRun():
                txn.set_run_status(RunStatus.RUNNING)
            case engine.QueueTask(task=name):
                txn.set_task_status(
                    task_rows[name], TaskStatus.QUEUED, retry_at=None, defer=True
                )
            case engine.StartTask(task=name, attempt=number):
                lock = blueprint.spec_of(name).synchronization
                if lock is not None:
                    # Before the attempt: one that cannot start gives it back.
                    concurrency.hold_task(txn, name, lock)
                launch, moved = _start_attempt(
                    txn, blueprint, task_rows[name], number, backend
                )
                if launch is not None:
                    result.launch.append(launch)
                elif moved is not None:
                    follow_up[name] = moved
            case engine.WaitForQuota(task=name, reason=message):
                _note_waiting(txn, task_rows[name], quotas.QUOTA_REASON, message)
            case engine.WaitForSemaphore(task=name, synchronization=lock, reason=text):
                task = task_rows[name]
                if task.reason != SEMAPHORE_REASON:
                    concurrency.wait_task(txn, name, lock)  # in line, once
                _note_waiting(txn, task, SEMAPHORE_REASON, text)
            case engine.ExpandTask(task=name, items=items):
                task_rows.update(_expand(txn, task_rows[name], items))
            case engine.FinishTask(task=name, status=status, reason=why, message=text):
                txn.set_task_status(
                    task_rows[name], status, reason=why, message=text, defer=True
                )
            case engine.FailUpstream(task=name, upstream=upstream):
                txn.set_task_status(
                    task_rows[name],
                    TaskStatus.UPSTREAM_FAILED,
                    reason="UpstreamFailed",
                    message=f"upstream task {upstream} did not succeed",
                    defer=True,
                )
            case engine.SkipTask(task=name, reason=reason, message=message):
                txn.set_task_status(
                    task_rows[name],
                    TaskStatus.SKIPPED,
                    reason=reason,
                    message=message,
                    defer=True,
                )
            case engine.TimeOutTask(task=name, message=message):
                attempt = _live_attempt(task_rows[name])
                if attempt is not None:
                    moved = end_attempt(
                        txn,
                        blueprint,
                        task_rows[name],
                        attempt,
                        AttemptStatus.FAILED,
                        reason="DeadlineExceeded",
                        message=message,
                    )
                    result.cancel.append(attempt.pk)
                    if moved is not None:
                        follow_up[name] = moved
            case engine.CancelTask(task=name, reason=reason):
                if _cancel_task(txn, task_rows[name], reason, result):
                    # The engine expected it Cancelling: plan again, it may be
                    # the run's last live task.
                    follow_up[name] = TaskStatus.CANCELLED
            case engine.FinishRun(status=status, message=message):
                if status is RunStatus.SUCCEEDED:
                    returned = outputs.run_outputs(txn.run, blueprint)
                    if returned:
                        txn.set_run_outputs(returned)
                txn.set_run_status(status, message)
                if txn.run.parent_attempt_id is not None:
                    txn.after_commit(partial(subworkflows.report_child_end, txn.run.pk))
                result.finished = True
    txn.save_tasks()
    if plan.wake_at is not None:
        run_id, wake_at = txn.run.pk, plan.wake_at
        txn.after_commit(lambda: request_reconcile(run_id, at=wake_at))
    return follow_up


def _expand(
    txn: RunTransaction, group: TaskRun, items: tuple[Any, ...]
) -> dict[str, TaskRun]:
    """Make a fan-out's instances, Queued, and count them on its row."""
    instances = [
        TaskRun(
            run_id=group.run_id,
            name=instance_name(group.name, index),
            status=TaskStatus.QUEUED,
            queued_at=txn.now,
            position=group.position,
            priority=group.priority,
            cpu_request_milli=group.cpu_request_milli,
            memory_request_bytes=group.memory_request_bytes,
            fan_group=group.name,
            fan_index=index,
            fan_item=item,
        )
        for index, item in enumerate(items)
    ]
    TaskRun.objects.bulk_create(instances, batch_size=1000)
    txn.set_task_status(
        group,
        TaskStatus.EXPANDED,
        reason="Expanded",
        message=f"{len(items)} instances",
        fan_out=len(items),
        fan_done=0,
        fan_failed=0,
        defer=True,
        # The live page learns of the instances from this event alone (their
        # rows are made without one each): it draws them Queued at once.
        event_data={"fan_out": len(items)},
    )
    return {task.name: task for task in instances}


def queued_any(counts: Mapping[TaskStatus, int], queued: list[str]) -> bool:
    # Tasks queued in this very plan (Pending or Retrying before) may start too.
    return bool(
        queued or counts.get(TaskStatus.PENDING) or counts.get(TaskStatus.RETRYING)
    )


def _note_waiting(
    txn: RunTransaction, task: TaskRun, reason: str, message: str
) -> None:
    """Say why a Queued task waits (Quota, Semaphore); an event only when the
    reason changes, so that every plan of a crowded project does not flood the
    run's log."""
    if (task.reason, task.message) == (reason, message):
        return
    task.reason, task.message = reason, message
    txn.defer_task_fields(task, {"reason", "message"})
    txn.event(
        RunEvent.Kind.TASK,
        task=task.name,
        status=task.status,
        previous=task.status,
        message=message,
        data={"reason": reason},
    )


def _start_attempt(
    txn: RunTransaction,
    blueprint: Blueprint,
    task: TaskRun,
    number: int,
    backend: str,
) -> tuple[Launch | None, TaskStatus | None]:
    """Record the attempt as Launching and what to launch; or, when the inputs
    it reads are not there (an upstream output missing), its end at once: the
    attempt is an Error and the task moves on (the second value)."""
    spec = blueprint.spec_of(task.name)
    reads = blueprint.data.upstreams_read(spec.name)
    upstream = outputs.upstream_outputs(txn.run, reads, blueprint) if reads else None
    problem = ""
    try:
        rendered = render_task(
            spec,
            txn.run.parameters,
            upstream.values if upstream else None,
            frozenset(upstream.secret) if upstream else frozenset(),
            **({"item": task.fan_item} if task.fan_group else {}),
            run_values=_run_values(txn.run, blueprint) if spec.exit_handler else None,
        )
        artifacts = outputs.input_artifacts(spec, upstream) if upstream else []
    except SpecError as error:
        problem = "; ".join(e.message for e in error.errors)
    except LookupError as error:
        problem = str(error)
    request = _jsonable(dataclasses.asdict(rendered)) if not problem else {}
    if request and spec.name in blueprint.data.results:
        request["result_wanted"] = True
    if request and upstream is not None:
        # Which attempt of each upstream it read (the run page shows those
        # values as its inputs), and the blobs it takes.
        request["inputs"] = {"attempts": upstream.attempts, "artifacts": artifacts}
    if spec.workflow is not None:
        backend = subworkflows.BACKEND
    attempt = Attempt(task_run=task, number=number, backend=backend, request=request)
    rows.insert(attempt, _ATTEMPT_INSERT_FIELDS)
    txn.set_task_status(
        task,
        TaskStatus.RUNNING,
        attempts_count=number,
        started_at=txn.now,
        finished_at=None,
        retry_at=None,
        defer=True,
    )
    txn.event(
        RunEvent.Kind.ATTEMPT,
        task=task.name,
        attempt=number,
        status=AttemptStatus.LAUNCHING,
    )
    reason = "InputsUnavailable"
    if not problem and spec.workflow is not None:
        # No backend: the attempt is the child run, started right here.
        try:
            child = subworkflows.start_child(
                txn.run,
                task,
                attempt,
                spec.workflow,
                _resolver(
                    txn.run,
                    upstream.values if upstream else {},
                    task.fan_item if task.fan_group else _NO_ITEM,
                ),
            )
        except subworkflows.ChildRefused as refused:
            problem, reason = str(refused), refused.reason
        else:
            txn.set_attempt_status(
                attempt,
                task.name,
                AttemptStatus.RUNNING,
                message=f"started run {child.pk} of {spec.workflow.name}",
                handle=subworkflows.handle_of(child),
                started_at=txn.now,
            )
            return None, None
    if problem:
        moved = end_attempt(
            txn,
            blueprint,
            task,
            attempt,
            AttemptStatus.ERROR,
            reason=reason,
            message=problem,
        )
        return None, moved
    workflow, version = version_identity(txn.run.version_id)
    launch = Launch(
        attempt.pk,
        txn.run.pk,
        workflow,
        version,
        task.name,
        number,
        request,
        ready_at=task.queued_at,
        created_at=attempt.created_at,
    )
    return launch, None


_NO_ITEM = object()


def _resolver(run: Run, values: Mapping[str, str], item: Any = _NO_ITEM) -> Any:
    """Values of the references a sub-workflow's parameters make (an
    instance's item too, when it is one of a fan-out's)."""

    def resolve(reference: Reference) -> str | None:
        if reference.root == "params":
            return run.parameters.get(reference.name)
        if reference.root == "item":
            if item is _NO_ITEM:
                return None
            if reference.name:
                return item_field(item, reference.name.split("."))
            return item_text(item)
        return values.get(reference.key)

    return resolve


def _run_values(run: Run, blueprint: Blueprint) -> dict[str, str]:
    """What an exit handler reads of the run: the status its tasks imply,
    their failures (a JSON list, at most 100), its id."""
    failed = list(
        TaskRun.objects.filter(run_id=run.pk, status__in=UNSUCCESSFUL_TASK_STATUSES)
        .exclude(name__in=blueprint.exit_tasks)
        .order_by("position", "fan_index")
        .values("name", "status", "reason", "message")[:100]
    )
    if run.status == RunStatus.CANCELLING:
        status = RunStatus.CANCELLED
    else:
        forgiven = sum(
            1
            for task in failed
            if task["status"] in blueprint.forgiving.get(task["name"], ())
        )
        status = RunStatus.FAILED if len(failed) > forgiven else RunStatus.SUCCEEDED
    return {
        "status": status.value,
        "failures": json.dumps([{"task": task.pop("name"), **task} for task in failed]),
        "id": str(run.pk),
    }


def _cancel_task(
    txn: RunTransaction, task: TaskRun, reason: str, result: Advance
) -> bool:
    """Cancel the task and have its live attempt stopped after commit. An
    attempt a backend has taken (a process, a pod) is Cancelling, and so is
    its task, until the backend reports it ended: it still holds its slot and
    quota meanwhile. One never handed over is Cancelled at once. True when a
    Running task went straight to Cancelled."""
    attempt = _live_attempt(task)
    running = task.status == TaskStatus.RUNNING
    if attempt is not None:
        child = subworkflows.child_of(attempt.handle)
        if attempt.backend == subworkflows.BACKEND and child is not None:
            # Its child run ends as cancelled and reports it (no backend).
            txn.after_commit(lambda: subworkflows.cancel_child(child, reason))
        else:
            result.cancel.append(attempt.pk)
        launched = attempt.status != AttemptStatus.LAUNCHING or bool(attempt.handle)
        if running and launched:
            txn.set_attempt_status(
                attempt,
                task.name,
                AttemptStatus.CANCELLING,
                reason="Cancelled",
                message=reason,
            )
            txn.set_task_status(
                task, TaskStatus.CANCELLING, reason="Cancelled", message=reason
            )
            return False
        txn.set_attempt_status(
            attempt,
            task.name,
            AttemptStatus.CANCELLED,
            reason="Cancelled",
            message=reason,
            finished_at=txn.now,
        )
    txn.set_task_status(task, TaskStatus.CANCELLED, reason="Cancelled", message=reason)
    return running


def _live_attempt(task: TaskRun) -> Attempt | None:
    return (
        task.attempts.filter(status__in=LIVE_ATTEMPT_STATUSES)
        .order_by("-number")
        .first()
    )


def end_attempt(
    txn: RunTransaction,
    blueprint: Blueprint,
    task: TaskRun,
    attempt: Attempt,
    status: AttemptStatus,
    *,
    reason: str = "",
    message: str = "",
    exit_code: int | None = None,
    **attempt_fields: Any,
) -> TaskStatus | None:
    """Record the attempt's end and move its task on (retry, succeed, fail).

    Returns the task's new status, or None when the task did not move (the
    attempt is stale: the task already moved on, say after a cancel).
    """
    fields: dict[str, Any] = {"finished_at": txn.now, **attempt_fields}
    if exit_code is not None:
        fields["exit_code"] = exit_code
    cancelled = (
        attempt.status == AttemptStatus.CANCELLING
        and task.status == TaskStatus.CANCELLING
        and task.attempts_count == attempt.number
    )
    if cancelled:
        # Flowdeck cancelled it: however the process or pod then ended (exit
        # 143, deleted), it was a cancel; the exit code is kept.
        status, reason, message = AttemptStatus.CANCELLED, "", ""
    if not txn.set_attempt_status(
        attempt, task.name, status, reason=reason, message=message, **fields
    ):
        return None
    if task.status not in BUSY_TASK_STATUSES or task.attempts_count != attempt.number:
        return None
    project_id = txn.run.quota_project_id
    if project_id is not None and not txn.quota_freed:
        # Room in the project's quota frees up: its other runs may start tasks.
        txn.quota_freed = True
        run_id = txn.run.pk
        txn.after_commit(lambda: quotas.wake_waiting_runs(project_id, run_id))
    if cancelled:
        txn.set_task_status(
            task, TaskStatus.CANCELLED, reason="Cancelled", message=task.message
        )
        return TaskStatus.CANCELLED
    retries_allowed = txn.run.status == RunStatus.RUNNING
    round_number = attempt.number - task.round_start + 1
    outcome = engine.after_attempt(
        blueprint.spec_of(task.name),
        round_number,
        status,
        txn.now,
        retries_allowed=retries_allowed,
    )
    text = message
    if outcome.status is TaskStatus.RETRYING and outcome.retry_at is not None:
        seconds = (outcome.retry_at - txn.now).total_seconds()
        text = f"{message}; retrying in {seconds:g}s".lstrip("; ")
        run_id, retry_at = txn.run.pk, outcome.retry_at
        txn.after_commit(lambda: request_reconcile(run_id, at=retry_at))
    txn.set_task_status(
        task,
        outcome.status,
        reason=reason,
        message=text,
        retry_at=outcome.retry_at,
    )
    return outcome.status


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    return value
