"""`kind: Job` on the real kube-apiserver (1.20, which runs no controllers:
the kubelet simulator plays the Job controller, tests/k8s_runner/kubelet_jobs.py,
and the kubelet for the Job's pods). The attempt follows the Job's
conditions; its pods' logs are archived per completion; a cancel and the
clean-up delete the Job and its pods; what 1.20 lacks is refused."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import BatchV1Api

from flowcore.states import AttemptStatus, RunStatus
from k8s_runner import reconcile
from k8s_runner.backends.base import BackendError, LiveAttempt
from k8s_runner.job_status import job_handle, report_for_job
from k8s_runner.manifests import SELECTOR
from tests.conftest import shell_task
from tests.k8s_runner.flowdeck_kube import (
    FAST_RETRY,
    Flowdeck,
    attempts_of,
    true_pod,
    wait_until,
)
from tests.k8s_runner.kubelet_sim import Fail, RunUntilDeleted, Succeed
from workflows.models import Attempt
from workflows.services.control import cancel_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def jobs(flowdeck: Flowdeck) -> list[Any]:
    batch = BatchV1Api(flowdeck.core.api_client)
    return batch.list_namespaced_job(flowdeck.namespace, label_selector=SELECTOR).items


def job_pods(flowdeck: Flowdeck) -> list[Any]:
    return flowdeck.core.list_namespaced_pod(
        flowdeck.namespace, label_selector="job-name"
    ).items


def job_task(name: str, **job: Any) -> dict[str, Any]:
    return shell_task(name, kind="Job", job=job)


def test_a_job_runs_its_completions_and_the_attempt_follows_its_conditions(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("shards", Succeed(after=0.3, logs=["shard done"]))
    flowdeck.start_watcher()
    run = flowdeck.run("job", [job_task("shards", completions=3, parallelism=2)], user)
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.SUCCEEDED
    [attempt] = attempts_of(run, "shards")
    assert (attempt.status, attempt.message) == (
        AttemptStatus.SUCCEEDED,
        "3 of 3 completions succeeded",
    )
    assert attempt.handle == f"job:{flowdeck.namespace}/{attempt.handle.split('/')[-1]}"
    log = Path(attempt.log_path)
    lines = log.read_text().splitlines()
    pod = re.compile(r"index (\d): pod (\S+) (.*)")
    said = [pod.fullmatch(line) for line in lines]
    assert [(m.group(1), m.group(3)) for m in said if m] == [
        (str(i), "succeeded") for i in range(3)
    ]
    assert all(m and m.group(2).startswith(attempt.handle.split("/")[-1]) for m in said)
    for i in range(3):
        assert log.with_suffix(f".{i}.log").read_text() == "shard done\n"
    # Cleaned up once the end was recorded: the Job and its pods.
    wait_until(lambda: not jobs(flowdeck) and not job_pods(flowdeck), 30, "clean-up")


def test_a_failed_pod_is_run_again_within_the_backoff_limit(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("flaky", Fail(exit_code=3, logs=["boom"]), Succeed(logs=["ok"]))
    flowdeck.start_watcher()
    run = flowdeck.run("job-flaky", [job_task("flaky", backoffLimit=1)], user)
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.SUCCEEDED
    [attempt] = attempts_of(run, "flaky")
    log = Path(attempt.log_path)
    # A NonIndexed Job's pods are numbered by creation time, which has whole
    # seconds: two made within one second may come in either order.
    ends = sorted(line.split()[-1] for line in log.read_text().splitlines())
    assert ends == ["3", "succeeded"]
    assert sorted(log.with_suffix(f".{i}.log").read_text() for i in (0, 1)) == [
        "boom\n",
        "ok\n",
    ]


def test_past_the_backoff_limit_the_job_fails_and_flowdecks_retry_starts_another(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("broken", Fail(exit_code=2))
    flowdeck.backend_keep = 3600.0  # keep the pods to count them
    flowdeck.start_watcher()
    task = job_task("broken", backoffLimit=1)
    task["retry"] = {**FAST_RETRY, "limit": 1}
    run = flowdeck.finish(flowdeck.run("job-broken", [task], user), 60)
    assert run.status == RunStatus.FAILED
    attempts = attempts_of(run, "broken")
    assert [(a.status, a.reason) for a in attempts] == [
        (AttemptStatus.FAILED, "BackoffLimitExceeded")
    ] * 2
    assert attempts[0].message == (
        "Job has reached the specified backoff limit (0 of 1 completions "
        "succeeded, 2 pods failed)"
    )
    # The two budgets multiply: 2 Jobs x (backoffLimit + 1) pods.
    assert len(job_pods(flowdeck)) == 4


def test_the_jobs_deadline_fails_it(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("slow", RunUntilDeleted())
    flowdeck.start_watcher()
    run = flowdeck.run("job-slow", [job_task("slow", activeDeadlineSeconds=1)], user)
    run = flowdeck.finish(run, 60)
    [attempt] = attempts_of(run, "slow")
    assert (attempt.status, attempt.reason) == (
        AttemptStatus.FAILED,
        "DeadlineExceeded",
    )
    wait_until(lambda: not job_pods(flowdeck), 30, "the pods' deletion")


def test_cancelling_a_job_deletes_it_and_its_pods(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("forever", RunUntilDeleted(logs=["working"]))
    flowdeck.start_watcher()
    run = flowdeck.run(
        "job-cancel", [job_task("forever", completions=2, parallelism=2)], user
    )
    wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, status=AttemptStatus.RUNNING
        ).exists(),
        what="the running attempt",
    )
    wait_until(lambda: len(job_pods(flowdeck)) == 2, 30, "two pods")
    cancel_run(run.pk)
    reconcile.reconcile(run.pk)
    wait_until(lambda: not jobs(flowdeck) and not job_pods(flowdeck), 30, "deletion")
    run = flowdeck.finish(run)
    assert run.status == RunStatus.CANCELLED
    [attempt] = attempts_of(run, "forever")
    assert attempt.status == AttemptStatus.CANCELLED


def test_what_the_server_lacks_is_refused_saying_so(
    flowdeck: Flowdeck, user: Any
) -> None:
    flowdeck.start_watcher()
    run = flowdeck.run(
        "job-indexed",
        [job_task("indexed", completions=2, completionMode="Indexed")],
        user,
    )
    run = flowdeck.finish(run, 30)
    [attempt] = attempts_of(run, "indexed")
    assert (attempt.status, attempt.reason) == (AttemptStatus.ERROR, "LaunchFailed")
    assert (
        "completionMode: Indexed needs Kubernetes 1.21 or newer (the server is 1.20)"
        in (attempt.message)
    )
    assert not jobs(flowdeck)


def test_a_job_that_ends_while_nobody_watches_is_recorded_after_a_restart(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("late", Succeed(after=1.0, logs=["done"]))
    flowdeck.start_watcher()
    run = flowdeck.run("job-restart", [job_task("late")], user)
    wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, status=AttemptStatus.RUNNING
        ).exists(),
        what="the running attempt",
    )
    flowdeck.stop_watcher()  # the Job completes while nobody watches
    wait_until(
        lambda: any(
            c.type == "Complete"
            for job in jobs(flowdeck)
            for c in (job.status.conditions or [])
        ),
        30,
        "the Job's completion",
    )
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    reconcile.recover()  # a restarted worker adopts the Job and records its end
    run = flowdeck.finish(run, 30)
    assert run.status == RunStatus.SUCCEEDED
    [attempt] = attempts_of(run, "late")
    assert Path(attempt.log_path).with_suffix(".0.log").read_text() == "done\n"
    assert len(jobs(flowdeck)) == 1  # one Job: nothing launched twice


def test_an_orphan_job_is_deleted_by_recovery(flowdeck: Flowdeck, kubelet: Any) -> None:
    kubelet.script("orphan", RunUntilDeleted())
    backend = flowdeck.backend
    orphan = true_pod(
        999_998,
        1,
        "gone",
        "orphan",
        job={"completions": 1, "parallelism": 1, "backoff_limit": 0},
    )
    backend.launch(orphan)
    wait_until(lambda: job_pods(flowdeck), 30, "the orphan's pod")
    assert backend.recover([LiveAttempt(123_457, "job:x/never")]) == []
    wait_until(lambda: not jobs(flowdeck) and not job_pods(flowdeck), 30, "deletion")


def test_a_job_another_attempt_with_the_id_left_is_deleted_not_adopted(
    flowdeck: Flowdeck, kubelet: Any
) -> None:
    """As for a pod: after a database reset or restore the new attempt's Job
    name meets the Job an old attempt with its id left, which is deleted and
    the launch tried again; the Job's reports carry its attempt's stamp."""
    kubelet.script("again", RunUntilDeleted())
    reports: list[Any] = []
    backend = flowdeck.backend
    backend._reporter = reports.append
    old = true_pod(
        999_997,
        2,
        "reset",
        "again",
        job={"completions": 1, "parallelism": 1, "backoff_limit": 0},
        attempt_created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    backend.launch(old)
    [left] = jobs(flowdeck)
    assert reports[0].attempt_stamp == "2026-01-01T00:00:00+00:00"
    new = replace(old, attempt_created_at=datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(BackendError) as raised:
        backend.launch(new)
    assert not raised.value.permanent and "left by another attempt" in str(raised.value)
    wait_until(lambda: not jobs(flowdeck), 30, "the old Job's deletion")
    backend.launch(new)
    [created] = jobs(flowdeck)
    assert created.metadata.uid != left.metadata.uid
    observed = report_for_job(created, now=backend.clock())
    assert observed is not None
    assert observed.attempt_stamp == "2026-03-01T00:00:00+00:00"
    backend.jobs.cancel(999_997, job_handle(flowdeck.namespace, created.metadata.name))
    wait_until(lambda: not jobs(flowdeck) and not job_pods(flowdeck), 30, "deletion")
