"""Data between tasks in the database: what an attempt left (its result,
output parameters and artifacts), what a task about to start reads of its
upstreams, and what a run returns (docs/spec.md, "Data between tasks").

The engine never sees values: a task's upstream outputs are read when it is
launched (one query, only for tasks that read any), and an attempt's outputs
are written in the transaction that records its end, before its dependants
are planned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F

from flowcore.engine import Blueprint
from flowcore.reports import CollectedOutputs
from flowcore.spec import TaskSpec
from flowcore.states import AttemptStatus
from flowcore.templates import (
    ADDRESS,
    ADDRESS_FIELDS,
    ARTIFACTS,
    PARAMETERS,
    RESULT,
    Reference,
)
from flowcore.templates import render as render_template
from workflows.models import Attempt, AttemptOutput, Run

_KIND_OF = {
    RESULT: AttemptOutput.Kind.RESULT,
    PARAMETERS: AttemptOutput.Kind.PARAMETER,
    ARTIFACTS: AttemptOutput.Kind.ARTIFACT,
}


@dataclass(slots=True)
class UpstreamOutputs:
    """The outputs of some tasks' latest successful attempts."""

    values: dict[str, str] = field(default_factory=dict)  # Reference.key -> text
    secret: set[str] = field(default_factory=set)  # keys of secret values
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> blob
    attempts: dict[str, int] = field(default_factory=dict)  # task -> attempt number


def upstream_outputs(
    run: Run, tasks: Iterable[str], blueprint: Blueprint | None = None
) -> UpstreamOutputs:
    """The outputs of `tasks` in `run` (for a debug run, in the run it
    debugs: the debugged task sees the inputs it failed with), from each
    task's latest attempt if it succeeded. A fan-out's output is the JSON
    list of its instances' values, in item order (`blueprint` says which
    tasks fan out)."""
    names = set(tasks)
    found = UpstreamOutputs()
    if not names:
        return found
    source_run = run.debug_of_id if run.debug_task and run.debug_of_id else run.pk
    fan_outs = names & set(blueprint.fan_outs) if blueprint is not None else set()
    if fan_outs:
        _gather_instances(source_run, fan_outs, found)
        names -= fan_outs
    rows = AttemptOutput.objects.filter(
        attempt__task_run__run_id=source_run,
        attempt__task_run__name__in=names,
        attempt__status=AttemptStatus.SUCCEEDED,
        attempt__number=F("attempt__task_run__attempts_count"),
    ).values_list(
        "attempt__task_run__name",
        "attempt__number",
        "kind",
        "name",
        "value",
        "secret",
        "sha256",
        "size",
        "filename",
        "directory",
    )
    for (
        task,
        number,
        kind,
        name,
        value,
        secret,
        sha256,
        size,
        filename,
        directory,
    ) in rows:
        found.attempts[task] = number
        if kind == AttemptOutput.Kind.RESULT:
            key = Reference("tasks", task, RESULT).key
        elif kind == AttemptOutput.Kind.PARAMETER:
            key = Reference("tasks", task, PARAMETERS, name).key
            if name in ADDRESS_FIELDS:
                # A daemon's address, kept as its parameters (it declares none
                # of its own): read as {{tasks.TASK.ip}} and .service.
                found.values[Reference("tasks", task, ADDRESS, name).key] = value
        else:
            key = Reference("tasks", task, ARTIFACTS, name).key
            found.artifacts[key] = {
                "sha256": sha256,
                "size": size,
                "filename": filename,
                "directory": directory,
            }
            continue
        found.values[key] = value
        if secret:
            found.secret.add(key)
    return found


def _gather_instances(run_id: int, groups: set[str], found: UpstreamOutputs) -> None:
    """Each fan-out's result and parameters as the JSON list of its
    instances' values (JSON values embedded as such), in item order."""
    rows = (
        AttemptOutput.objects.filter(
            attempt__task_run__run_id=run_id,
            attempt__task_run__fan_group__in=groups,
            attempt__status=AttemptStatus.SUCCEEDED,
            attempt__number=F("attempt__task_run__attempts_count"),
        )
        .exclude(kind=AttemptOutput.Kind.ARTIFACT)
        .order_by("attempt__task_run__fan_index")
        .values_list("attempt__task_run__fan_group", "kind", "name", "value", "secret")
    )
    lists: dict[str, list[Any]] = {}
    for group, kind, name, value, secret in rows:
        if kind == AttemptOutput.Kind.RESULT:
            key = Reference("tasks", group, RESULT).key
        else:
            key = Reference("tasks", group, PARAMETERS, name).key
        lists.setdefault(key, []).append(_as_json(value))
        if secret:
            found.secret.add(key)
    for key, values in lists.items():
        found.values[key] = json.dumps(values)


def _as_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def input_artifacts(task: TaskSpec, upstream: UpstreamOutputs) -> list[dict[str, Any]]:
    """The task's input artifacts, each with the blob it takes; a missing one
    that is not optional raises LookupError naming it."""
    placed = []
    for item in task.input_artifacts:
        key = Reference("tasks", item.task, ARTIFACTS, item.artifact).key
        blob = upstream.artifacts.get(key)
        if blob is None:
            if item.optional:
                continue
            raise LookupError(
                f"input artifact {item.name}: task {item.task!r} left no artifact "
                f"{item.artifact!r}"
            )
        placed.append({"name": item.name, "path": item.path, **blob})
    return placed


def record_outputs(
    attempt: Attempt,
    task: TaskSpec,
    outputs: CollectedOutputs,
    *,
    secret: frozenset[str] | None = None,
) -> list[AttemptOutput]:
    """Store what the attempt left (the caller holds its run's lock); `secret`
    names secret parameters the spec does not (a sub-workflow's)."""
    secret = (secret or frozenset()) | {
        p.name for p in task.outputs.parameters if p.secret
    }
    rows = []
    if outputs.result is not None:
        rows.append(
            AttemptOutput(
                attempt=attempt,
                kind=AttemptOutput.Kind.RESULT,
                value=outputs.result,
                size=len(outputs.result.encode()),
            )
        )
    rows += [
        AttemptOutput(
            attempt=attempt,
            kind=AttemptOutput.Kind.PARAMETER,
            name=name,
            value=value,
            secret=name in secret,
            size=len(value.encode()),
        )
        for name, value in outputs.parameters.items()
    ]
    rows += [
        AttemptOutput(
            attempt=attempt,
            kind=AttemptOutput.Kind.ARTIFACT,
            name=artifact.name,
            size=artifact.size,
            sha256=artifact.sha256,
            filename=artifact.filename,
            directory=artifact.directory,
        )
        for artifact in outputs.artifacts
    ]
    # ignore_conflicts: a report recorded twice (a redelivery) changes nothing.
    return AttemptOutput.objects.bulk_create(rows, ignore_conflicts=True)


def run_outputs(run: Run, blueprint: Blueprint) -> dict[str, Any]:
    """What the run returns, from its tasks' outputs (spec.outputs); an output
    whose sources did not all succeed is left out, with the reason."""
    spec = blueprint.spec
    if not spec.output_parameters and not spec.output_artifacts:
        return {}
    upstream = upstream_outputs(
        run, {reference.name for reference in blueprint.data.workflow_reads}, blueprint
    )
    parameters: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for output in spec.output_parameters:
        text, absent = render_template(output.value, _resolver(run, upstream.values))
        if absent:
            missing[output.name] = f"{absent[0]} has no value"
            continue
        uses_secret = any(key in output.value for key in upstream.secret)
        parameters[output.name] = {"value": text, "secret": uses_secret}
    artifacts: dict[str, Any] = {}
    for artifact in spec.output_artifacts:
        key = Reference("tasks", artifact.task, ARTIFACTS, artifact.artifact).key
        blob = upstream.artifacts.get(key)
        if blob is None:
            missing[artifact.name] = (
                f"task {artifact.task!r} left no {artifact.artifact!r}"
            )
        else:
            artifacts[artifact.name] = {
                **blob,
                "task": artifact.task,
                "artifact": artifact.artifact,
            }
    result: dict[str, Any] = {"parameters": parameters, "artifacts": artifacts}
    if missing:
        result["missing"] = missing
    return result


def _resolver(run: Run, values: Mapping[str, str]) -> Any:
    def resolve(reference: Reference) -> str | None:
        if reference.root == "params":
            value = run.parameters.get(reference.name)
            return None if value is None else str(value)
        return values.get(reference.key)

    return resolve
