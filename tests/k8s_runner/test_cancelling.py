"""The Cancelling state: a cancelled attempt whose process or pod is still
stopping (a pod deleted within its grace period) is Cancelling, holds its slot
and quota, and ends Cancelled once it is gone; through the services, and
against the real API server with the kubelet simulator keeping a deleted pod
running for a while."""

from __future__ import annotations

import time
from typing import Any

import pytest

from flowcore.states import AttemptStatus, RunStatus, TaskStatus
from k8s_runner import reconcile
from tests.conftest import shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import Flowdeck, attempts_of, wait_until
from tests.k8s_runner.kubelet_behaviours import RunUntilDeleted
from workflows.models import Attempt, Run, RunEvent, TaskRun
from workflows.services.advance import advance_run
from workflows.services.attempts import Report, record_report
from workflows.services.control import cancel_run
from workflows.services.submit import create_workflow, submit_run


def started_run(user: Any, *, handle: bool = True) -> tuple[Run, Attempt]:
    """A one-task run whose attempt a backend runs (with a handle), or that
    was recorded but not yet handed to one."""
    workflow = create_workflow(
        workflow_document("one", [shell_task("t", "sleep 600")]), author=user
    )
    run = submit_run(workflow.latest_version, user=user)
    [launch] = advance_run(run.pk).launch
    if handle:
        record_report(Report(launch.attempt_id, AttemptStatus.RUNNING, handle="ns/p"))
    return run, Attempt.objects.get(pk=launch.attempt_id)


def statuses(run: Run) -> tuple[str, str, str]:
    run.refresh_from_db()
    task = TaskRun.objects.get(run=run)
    attempt = Attempt.objects.get(task_run=task)
    return run.status, task.status, attempt.status


def cancel(run: Run) -> list[int]:
    cancel_run(run.pk)
    return advance_run(run.pk).cancel


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_running_attempt_is_cancelling_until_it_ends(user: Any) -> None:
    run, attempt = started_run(user)
    assert cancel(run) == [attempt.pk]  # the backend is asked to stop it
    assert statuses(run) == ("Cancelling", "Cancelling", "Cancelling")
    # The pod's deletion shows up while it lingers: nothing changes.
    record_report(Report(attempt.pk, AttemptStatus.CANCELLING, reason="Terminating"))
    assert statuses(run) == ("Cancelling", "Cancelling", "Cancelling")
    # Its container ends on SIGTERM: that is the cancel's end, not a failure.
    record_report(
        Report(attempt.pk, AttemptStatus.FAILED, exit_code=143, message="code 143")
    )
    assert statuses(run) == ("Cancelled", "Cancelled", "Cancelled")
    attempt.refresh_from_db()
    assert (attempt.reason, attempt.exit_code) == ("Cancelled", 143)
    assert attempt.message == "the run was cancelled"


@pytest.mark.django_db(transaction=True)
def test_each_step_of_a_cancel_is_a_run_event(user: Any) -> None:
    run, attempt = started_run(user)
    cancel(run)
    record_report(Report(attempt.pk, AttemptStatus.CANCELLED))
    moves = list(
        RunEvent.objects.filter(run=run, previous__gt="")
        .order_by("seq")
        .values_list("kind", "previous", "status")
    )
    assert moves[-6:] == [
        ("run", "Running", "Cancelling"),
        ("attempt", "Running", "Cancelling"),
        ("task", "Running", "Cancelling"),
        ("attempt", "Cancelling", "Cancelled"),
        ("task", "Cancelling", "Cancelled"),
        ("run", "Cancelling", "Cancelled"),
    ]


@pytest.mark.django_db(transaction=True)
def test_an_attempt_no_backend_has_yet_is_cancelled_at_once(user: Any) -> None:
    run, attempt = started_run(user, handle=False)
    assert cancel(run) == [attempt.pk]
    assert statuses(run) == ("Cancelled", "Cancelled", "Cancelled")


@pytest.mark.django_db(transaction=True)
def test_a_pod_deleted_by_someone_else_is_cancelling_then_ends_as_it_ended(
    user: Any,
) -> None:
    run, attempt = started_run(user)
    record_report(Report(attempt.pk, AttemptStatus.CANCELLING, reason="Terminating"))
    assert statuses(run) == ("Running", "Running", "Cancelling")
    record_report(Report(attempt.pk, AttemptStatus.ERROR, reason="PodDeleted"))
    assert statuses(run) == ("Failed", "Error", "Error")


# --- against the real API server ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_cancelled_pod_lingers_as_cancelling_then_ends_cancelled(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    # The program takes 3 s to stop after SIGTERM; the grace period allows 30.
    kubelet.script("slow", RunUntilDeleted(logs=["working"], stop_delay=3.0))
    flowdeck.backend.delete_grace_seconds = 30
    flowdeck.start_watcher()
    run = flowdeck.run("slow", [shell_task("slow")], user)
    wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, status=AttemptStatus.RUNNING
        ).exists(),
        what="the running attempt",
    )
    cancel_run(run.pk)
    reconcile.reconcile(run.pk)
    [pod] = flowdeck.pods()
    assert pod.metadata.deletion_timestamp is not None  # it lingers...
    [attempt] = attempts_of(run, "slow")
    assert attempt.status == AttemptStatus.CANCELLING  # ...and shows as such
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLING
    assert TaskRun.objects.get(run=run).status == TaskStatus.CANCELLING
    started = time.monotonic()
    run = flowdeck.finish(run)
    assert time.monotonic() - started > 1.5  # not before the pod stopped
    assert run.status == RunStatus.CANCELLED
    [attempt] = attempts_of(run, "slow")
    assert attempt.status == AttemptStatus.CANCELLED
    assert attempt.exit_code == 143
    wait_until(lambda: not flowdeck.pods(), what="the pod to be gone")
