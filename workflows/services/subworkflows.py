"""Sub-workflows: a task that runs another workflow of its project as one
step (docs/spec.md, "Sub-workflows").

The task's attempt starts a child run (in the parent's transaction, so both
or neither exist) and stays Running while it runs; the child's end is
reported to that attempt after the child's commit, with the child's outputs
as the task's. A parent cancelled cancels its child. The sweep settles a
parent whose report was lost in a crash (`settle_children`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from flowcore.reports import CollectedOutputs, Report, StoredArtifact
from flowcore.spec import SpecError, SubWorkflow
from flowcore.states import AttemptStatus, RunStatus
from flowcore.templates import render as render_template
from workflows.models import Attempt, Run, TaskRun, Workflow, WorkflowVersion

log = logging.getLogger(__name__)

BACKEND = "subworkflow"
_HANDLE = "run/"

_ENDS = {
    RunStatus.SUCCEEDED: AttemptStatus.SUCCEEDED,
    RunStatus.FAILED: AttemptStatus.FAILED,
    RunStatus.CANCELLED: AttemptStatus.CANCELLED,
}


class ChildRefused(Exception):
    """The child run cannot start; the message says why (the attempt's Error)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def child_of(handle: str) -> int | None:
    """The child run's id from a sub-workflow attempt's handle."""
    if not handle.startswith(_HANDLE):
        return None
    text = handle[len(_HANDLE) :]
    return int(text) if text.isdigit() else None


def start_child(
    parent: Run,
    task: TaskRun,
    attempt: Attempt,
    call: SubWorkflow,
    resolve: Any,
) -> Run:
    """Submit the child run of `call` for `attempt` (inside the parent's
    locked transaction); ChildRefused saying why it cannot start. `resolve`
    gives the values of the references in its parameters."""
    from workflows.services.submit import submit_run

    depth = parent.depth + 1
    limit = settings.FLOWDECK_MAX_SUBWORKFLOW_DEPTH
    if depth > limit:
        raise ChildRefused(
            "TooDeep",
            f"sub-workflow {call.name} would be {depth} calls deep; at most "
            f"{limit} (FLOWDECK_MAX_SUBWORKFLOW_DEPTH)",
        )
    project_id = Workflow.objects.filter(pk=parent.workflow_id).values_list(
        "project_id", flat=True
    )[0]
    workflow = Workflow.objects.filter(project_id=project_id, name=call.name).first()
    if workflow is None:
        raise ChildRefused(
            "SubWorkflowNotFound", f"the project has no workflow {call.name!r}"
        )
    versions = WorkflowVersion.objects.filter(workflow=workflow)
    version = (
        versions.filter(number=call.version).first()
        if call.version is not None
        else versions.order_by("-number").first()
    )
    if version is None:
        raise ChildRefused(
            "SubWorkflowNotFound",
            f"workflow {call.name!r} has no version {call.version}",
        )
    parameters = {}
    for name, template in call.parameters.items():
        text, missing = render_template(template, resolve)
        if missing:
            raise ChildRefused(
                "InputsUnavailable", f"parameters.{name}: {missing[0]} has no value"
            )
        parameters[name] = text
    try:
        return submit_run(
            version,
            parameters=parameters,
            user=parent.triggered_by,
            trigger=Run.Trigger.SUBWORKFLOW,
            parent=(parent, task.name, attempt),
        )
    except SpecError as error:
        problems = "; ".join(f"{e.path}: {e.message}" for e in error.errors)
        # A child naming a namespace its project may not use (saved before the
        # rule, or the project's list changed since): refused like a submit.
        paths = [e.path for e in error.errors]
        reason = (
            "NamespaceRefused"
            if "spec.namespace" in paths
            else "ServiceAccountRefused"
            if any(p.endswith(".serviceAccountName") for p in paths)
            else "InvalidParameters"
        )
        raise ChildRefused(reason, problems) from error


def handle_of(child: Run) -> str:
    return f"{_HANDLE}{child.pk}"


def report_child_end(child_id: int) -> None:
    """Tell the parent's attempt that its child run ended (after the child's
    commit), with the child's outputs; then have the parent planned.
    Idempotent: a repeated report changes nothing."""
    from workflows.services.attempts import record_reports
    from workflows.services.dispatch import request_reconcile

    child = (
        Run.objects.filter(pk=child_id)
        .values("status", "outputs", "parent_attempt_id", "parent_run_id", "message")
        .first()
    )
    if child is None or child["parent_attempt_id"] is None:
        return
    status = _ENDS.get(RunStatus(child["status"]))
    if status is None:
        return  # not ended
    report = Report(
        child["parent_attempt_id"],
        status,
        reason="" if status is AttemptStatus.SUCCEEDED else "SubWorkflow",
        message=f"run {child_id} {child['status'].lower()}"
        + (f": {child['message']}" if child["message"] else ""),
        at=timezone.now(),
        run_id=child["parent_run_id"],
        outputs=_outputs_of(child["outputs"] or {})
        if status is AttemptStatus.SUCCEEDED
        else None,
    )
    record_reports([report], advance=False)
    request_reconcile(child["parent_run_id"])


def _outputs_of(returned: dict[str, Any]) -> CollectedOutputs:
    """A child run's outputs as its parent task's."""
    return CollectedOutputs(
        parameters={
            name: item["value"]
            for name, item in (returned.get("parameters") or {}).items()
        },
        artifacts=tuple(
            StoredArtifact(
                name,
                item["sha256"],
                item.get("size", 0),
                item.get("filename", name),
                item.get("directory", False),
            )
            for name, item in (returned.get("artifacts") or {}).items()
        ),
    )


def secret_outputs(child_id: int) -> frozenset[str]:
    """The child run's secret output parameters (the parent keeps them so)."""
    returned = (
        Run.objects.filter(pk=child_id).values_list("outputs", flat=True).first() or {}
    )
    return frozenset(
        name
        for name, item in (returned.get("parameters") or {}).items()
        if item.get("secret")
    )


def cancel_child(child_id: int, reason: str) -> None:
    """Cancel a child run because its parent task was cancelled."""
    from workflows.services.control import ActionRefused, cancel_run

    # Already ended (its end is reported), or gone.
    with contextlib.suppress(ActionRefused, Run.DoesNotExist):
        cancel_run(child_id)
    log.info("cancelled sub-workflow run %s: %s", child_id, reason)


def settle_children() -> int:
    """For the sweep: report the end of every child run whose parent attempt
    still waits (its report was lost in a crash). How many were settled."""
    waiting = Attempt.objects.filter(
        backend=BACKEND,
        status__in=[AttemptStatus.RUNNING, AttemptStatus.CANCELLING],
    ).values_list("handle", flat=True)
    children = [child for handle in waiting if (child := child_of(handle))]
    ended = Run.objects.filter(
        pk__in=children,
        status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED],
    ).values_list("pk", flat=True)
    settled = 0
    for child_id in ended:
        report_child_end(child_id)
        settled += 1
    return settled
