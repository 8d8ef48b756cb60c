"""What a person does to a run: cancel it, retry it, retry from a task,
resubmit it, debug one of its tasks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Q

from flowcore.fanout import split_instance
from flowcore.spec import FieldError, SpecError, parse_spec, render_parameters
from flowcore.states import (
    TERMINAL_RUN_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    IllegalTransition,
    RunStatus,
    TaskStatus,
)
from workflows.blueprints import (
    DEBUG_OVERRIDES,
    blueprint_of,
    debug_document,
    debug_limits,
    spec_limits,
)
from workflows.models import Project, Run, RunEvent, TaskRun
from workflows.services import concurrency
from workflows.services.dispatch import request_reconcile
from workflows.services.errors import ActionRefused
from workflows.services.quotas import requested
from workflows.services.runlock import RunTransaction, locked_run
from workflows.services.submit import submit_run

__all__ = [
    "ActionRefused",
    "cancel_run",
    "debug_task",
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
    graph = blueprint_of(run).graph
    if task_name is not None:
        starts = [task_name]
    else:
        starts = list(
            run.tasks.filter(status__in=UNSUCCESSFUL_TASK_STATUSES).values_list(
                "name", flat=True
            )
        )
    closure = graph.downstream_closure({split_instance(name)[0] for name in starts})
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


def debug_task(
    run_id: int,
    task_name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    user: Any = None,
) -> Run:
    """A new run of the run's version holding only `task_name`, without its
    dependencies, with `overrides` (command, args, env, image) applied: to
    try a fix, or to keep the task's container up (`sleep 3600`) and look
    inside. The original run is not touched and may still be running.

    Raises TaskRun.DoesNotExist for an unknown task and SpecError, with
    paths named after the overrides ("command", "env[0].name"), when the
    overridden task is not valid."""
    run = Run.objects.select_related("version").get(pk=run_id)
    if not run.tasks.filter(name=task_name).exists():
        raise TaskRun.DoesNotExist(f"run {run_id} has no task {task_name!r}")
    overrides = _checked_overrides(overrides or {})
    document = debug_document(run.version.document, task_name, overrides)
    try:
        spec = parse_spec(
            document, debug_limits(spec_limits(), run.version.document, task_name)
        )
    except SpecError as error:
        kept = len(document["spec"]["tasks"][0].get("env", ())) - len(
            overrides.get("env", ())
        )
        raise SpecError(
            [FieldError(_override_path(e.path, kept), e.message) for e in error.errors]
        ) from error
    [task] = spec.tasks
    parameters = render_parameters(spec, run.parameters)
    with transaction.atomic():
        project = Project.objects.get(workflows__pk=run.workflow_id)
        debug = Run.objects.create(
            workflow_id=run.workflow_id,
            quota_project=project if project.has_quota else None,
            version=run.version,
            parameters=parameters,
            trigger=Run.Trigger.DEBUG,
            triggered_by=user if user is not None and user.is_authenticated else None,
            debug_of=run,
            debug_task=task_name,
            overrides=overrides,
        )
        cpu, memory = requested(task)
        TaskRun.objects.create(
            run=debug,
            name=task_name,
            position=0,
            priority=task.priority,
            cpu_request_milli=cpu,
            memory_request_bytes=memory,
        )
        txn = RunTransaction(debug, debug.created_at)
        txn.event(
            RunEvent.Kind.RUN,
            status=debug.status,
            message=f"debug of task {task_name} of run {run.pk} by {_who(user)}",
            # Names only: override values may be secret.
            data={
                "debug_of": run.pk,
                "task": task_name,
                "overrides": sorted(overrides),
            },
        )
        txn.after_commit(lambda: request_reconcile(debug.pk))
        txn.flush()
    return debug


def _checked_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides, if they have the shape debug_document needs; the spec's
    validation judges their values."""
    if not isinstance(overrides, Mapping):
        raise SpecError([FieldError("overrides", "must be an object")])
    errors = [
        FieldError(key, f"cannot be overridden; only {', '.join(DEBUG_OVERRIDES)}")
        for key in overrides
        if key not in DEBUG_OVERRIDES
    ]
    env = overrides.get("env", [])
    if not isinstance(env, list):
        errors.append(FieldError("env", "must be a list of {name, value}"))
    else:
        for index, entry in enumerate(env):
            if not isinstance(entry, Mapping) or set(entry) - {"name", "value"}:
                message = "must be an object with name and value only"
                errors.append(FieldError(f"env[{index}]", message))
    if errors:
        raise SpecError(errors)
    return {key: overrides[key] for key in DEBUG_OVERRIDES if key in overrides}


_TASK_PATH = re.compile(r"spec\.tasks\[0\]\.?")
_ENV_PATH = re.compile(r"env\[(\d+)\]")


def _override_path(path: str, kept: int) -> str:
    """A spec error's path in the debug document as a path in the overrides:
    "spec.tasks[0].command" is "command"; the overriding env entries follow
    the `kept` variables of the task's own."""
    if not _TASK_PATH.match(path):
        return path
    inner = _TASK_PATH.sub("", path, count=1)
    match = _ENV_PATH.match(inner)
    if match is not None and int(match.group(1)) >= kept:
        inner = f"env[{int(match.group(1)) - kept}]{inner[match.end() :]}"
    return inner or "task"


def _require_finished(txn: RunTransaction) -> None:
    status = RunStatus(txn.run.status)
    if status not in TERMINAL_RUN_STATUSES:
        raise ActionRefused(f"the run is {status}; only a finished run can be retried")


def _rerun(txn: RunTransaction, starts: list[str], message: str) -> list[str]:
    """Reset `starts` and everything downstream of them to run again.

    A fan-out in the closure runs again over the items it expanded into
    (withParam is not read again): the failed instances only when the retry
    started from them, every instance otherwise; its row goes back to
    Expanded. Instances that succeeded and are not rerun keep their outputs.
    """
    blueprint = blueprint_of(txn.run)
    graph = blueprint.graph
    instances = {name for name in starts if split_instance(name)[1] is not None}
    # The failed instances' fan-outs are in the closure through their task.
    tasks = {split_instance(name)[0] for name in starts}
    names = graph.downstream_closure(tasks)
    # Fan-outs reached other than through their own failed instances rerun
    # whole.
    whole = {
        name
        for name in names
        if name in blueprint.fan_outs
        and not any(split_instance(i)[0] == name for i in instances)
    }
    rows = TaskRun.objects.filter(run_id=txn.run.pk).filter(
        Q(name__in=names) | Q(name__in=instances) | Q(fan_group__in=whole)
    )
    # Active again: within maxActiveRuns and holding its run's semaphore, as
    # when it started; refused rather than queued (a finished run cannot go
    # back to Pending), saying why.
    verdict = concurrency.readmit(txn, blueprint)
    if verdict is not None:
        raise ActionRefused(f"the run cannot run again now: {verdict.message}")
    try:
        txn.set_run_status(RunStatus.RUNNING, message)
    except IllegalTransition as error:
        raise ActionRefused(str(error)) from error
    rerun: list[str] = []
    for task in sorted(rows, key=lambda t: (t.position, t.fan_index or -1)):
        expanded = task.name in blueprint.fan_outs and task.fan_out is not None
        if (
            task.fan_group
            and task.fan_group not in whole
            and task.status in _SETTLED_FOR_RETRY
        ):
            continue  # an instance that succeeded: kept
        target = TaskStatus.EXPANDED if expanded else TaskStatus.PENDING
        if TaskStatus(task.status) == target:
            continue
        txn.set_task_status(
            task,
            target,
            reason="Retried",
            message=message,
            round_start=task.attempts_count + 1,
            retry_at=None,
            started_at=None,
            finished_at=None,
        )
        rerun.append(task.name)
    run_id = txn.run.pk
    txn.after_commit(lambda: request_reconcile(run_id))
    return sorted(names, key=graph.position.__getitem__) + sorted(
        (n for n in rerun if split_instance(n)[1] is not None),
        key=lambda n: (graph.position[split_instance(n)[0]], split_instance(n)[1]),
    )


# An instance that ended so is kept by a retry that does not rerun its fan-out
# whole.
_SETTLED_FOR_RETRY = frozenset({TaskStatus.SUCCEEDED, TaskStatus.SKIPPED})


def _who(user: Any) -> str:
    return getattr(user, "username", "") or "system"
