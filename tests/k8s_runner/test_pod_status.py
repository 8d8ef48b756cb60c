"""Pod status -> attempt Report, one real-looking pod per way a pod ends or
waits (tests/fixtures/pods/*.json), read the way the client reads the API."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes.client import ApiClient
from kubernetes.client.models import V1Pod

from flowcore.states import AttemptStatus
from k8s_runner.backends.kubernetes import PodParser
from k8s_runner.pod_status import (
    handle_of,
    is_finished,
    pending_deadline,
    report_for,
    split_handle,
)

ROOT = Path(__file__).resolve().parents[2]
PODS = ROOT / "tests" / "fixtures" / "pods"
STARTED = datetime(2025, 3, 1, 10, 0, 2, tzinfo=UTC)  # the fixtures' startTime
GRACE = 120.0
SOON = STARTED + timedelta(seconds=30)
LATE = STARTED + timedelta(seconds=GRACE)

A = AttemptStatus


def pod(name: str) -> V1Pod:
    text = (PODS / f"{name}.json").read_text()
    read: V1Pod = ApiClient().deserialize(text, "V1Pod", "application/json")
    return read


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# fixture: (status, reason, exit code, message start, at)
EXPECTED: dict[str, tuple[AttemptStatus, str, int | None, str, datetime | None]] = {
    "container-creating": (A.PENDING, "ContainerCreating", None, "", None),
    "unschedulable": (
        A.PENDING,
        "Unschedulable",
        None,
        "0/3 nodes are available: 1 node(s) had untolerated taint",
        None,
    ),
    "image-pull-backoff": (
        A.PENDING,
        "ImagePullBackOff",
        None,
        'Back-off pulling image "registry.example.com/etl/extract:2025-03-0l"',
        None,
    ),
    "err-image-pull": (
        A.PENDING,
        "ErrImagePull",
        None,
        "rpc error: code = NotFound",
        None,
    ),
    "create-container-config-error": (
        A.PENDING,
        "CreateContainerConfigError",
        None,
        'secret "warehouse-db" not found',
        None,
    ),
    "invalid-image-name": (
        A.ERROR,
        "InvalidImageName",
        None,
        "Failed to apply default image tag",
        SOON,
    ),
    "running": (A.RUNNING, "", None, "", at("2025-03-01T10:00:05Z")),
    "succeeded": (A.SUCCEEDED, "", 0, "", at("2025-03-01T10:04:41Z")),
    "failed-exit-code": (
        A.FAILED,
        "Error",
        3,
        "exited with code 3",
        at("2025-03-01T10:04:41Z"),
    ),
    "failed-with-message": (
        A.FAILED,
        "Error",
        1,
        "exited with code 1: Traceback (most recent call last):",
        at("2025-03-01T10:04:41Z"),
    ),
    "oom-killed": (
        A.FAILED,
        "OOMKilled",
        137,
        "exited with code 137: out of memory (OOMKilled)",
        at("2025-03-01T10:02:09Z"),
    ),
    "deadline-exceeded": (
        A.FAILED,
        "DeadlineExceeded",
        137,
        "Pod was active on the node longer than the specified deadline",
        at("2025-03-01T10:01:03Z"),
    ),
    "deadline-exceeded-while-creating": (
        A.FAILED,
        "DeadlineExceeded",
        None,
        "Pod was active on the node longer than the specified deadline",
        SOON,
    ),
    "evicted": (
        A.ERROR,
        "Evicted",
        137,
        "The node was low on resource: ephemeral-storage.",
        at("2025-03-01T10:03:01Z"),
    ),
    "preempted": (
        A.ERROR,
        "PreemptionByScheduler",
        143,
        "default-scheduler: preempting to accommodate a higher priority pod",
        at("2025-03-01T10:03:31Z"),
    ),
    "out-of-cpu": (
        A.ERROR,
        "OutOfcpu",
        None,
        "Pod was rejected: Node didn't have enough resource: cpu",
        SOON,
    ),
    "start-error": (
        A.FAILED,
        "StartError",
        128,
        "failed to create containerd task",
        at("2025-03-01T10:00:04Z"),
    ),
    "deleting-terminated": (
        A.FAILED,
        "Error",
        143,
        "exited with code 143",
        at("2025-03-01T10:02:01Z"),
    ),
    # Deleted while it runs: stopping within its grace period.
    "deleting-running": (
        A.CANCELLING,
        "Terminating",
        None,
        "the pod is being deleted; its container is stopping within its grace "
        "period of 30s",
        None,
    ),
}
# Pods that say nothing to report.
SILENT = ["node-lost", "not-ours"]


def test_every_fixture_is_covered_and_strictly_a_pod() -> None:
    names = {path.stem for path in PODS.glob("*.json")}
    assert names == set(EXPECTED) | set(SILENT)
    for name in names:
        # The strict model refuses unknown fields: no typo hides in a fixture.
        V1Pod.model_validate(json.loads((PODS / f"{name}.json").read_text()))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_pod_becomes_the_report_its_state_implies(name: str) -> None:
    status, reason, exit_code, message, when = EXPECTED[name]
    report = report_for(pod(name), now=SOON, image_pull_grace_seconds=GRACE)
    assert report is not None
    assert (report.status, report.reason, report.exit_code) == (
        status,
        reason,
        exit_code,
    )
    assert report.message.startswith(message)
    assert report.at == when
    assert report.attempt_id == int(pod(name).metadata.labels["flowdeck.io/attempt-id"])
    assert report.run_id == 311
    assert report.handle == f"flowdeck/{pod(name).metadata.name}"


def test_a_finished_pod_being_cleaned_up_says_nothing_new() -> None:
    cleaned = pod("succeeded")
    cleaned.metadata.deletion_timestamp = at("2025-03-01T10:05:00Z")
    cleaned.status.container_statuses = None
    assert report_for(cleaned, now=SOON, image_pull_grace_seconds=GRACE) is None


def test_a_pod_deleted_before_it_started_is_cancelling_too() -> None:
    waiting = pod("container-creating")
    waiting.metadata.deletion_timestamp = at("2025-03-01T10:05:00Z")
    report = report_for(waiting, now=SOON, image_pull_grace_seconds=GRACE)
    assert report is not None
    assert (report.status, report.reason) == (A.CANCELLING, "Terminating")


@pytest.mark.parametrize("name", SILENT)
def test_some_pods_have_nothing_to_report(name: str) -> None:
    assert report_for(pod(name), now=SOON, image_pull_grace_seconds=GRACE) is None


@pytest.mark.parametrize(
    "name", ["image-pull-backoff", "err-image-pull", "create-container-config-error"]
)
def test_a_wait_that_may_heal_becomes_an_error_after_the_grace(name: str) -> None:
    before = report_for(
        pod(name), now=LATE - timedelta(seconds=1), image_pull_grace_seconds=GRACE
    )
    after = report_for(pod(name), now=LATE, image_pull_grace_seconds=GRACE)
    assert before is not None and after is not None
    assert before.status == A.PENDING
    assert (after.status, after.reason, after.message) == (
        A.ERROR,
        before.reason,
        before.message,
    )
    assert after.at == LATE
    assert pending_deadline(pod(name), GRACE) == LATE


@pytest.mark.parametrize(
    "name", ["running", "container-creating", "unschedulable", "invalid-image-name"]
)
def test_only_a_wait_that_may_heal_has_a_deadline(name: str) -> None:
    assert pending_deadline(pod(name), GRACE) is None


def test_a_zero_grace_makes_a_failed_pull_an_error_at_once() -> None:
    report = report_for(
        pod("image-pull-backoff"), now=STARTED, image_pull_grace_seconds=0
    )
    assert report is not None and report.status == A.ERROR


def test_the_phase_alone_is_not_trusted_over_the_container() -> None:
    # A Failed phase with a clean exit of the container is still that exit.
    failed = pod("failed-exit-code")
    assert is_finished(failed)
    failed.status.container_statuses[0].state.terminated.exit_code = 0
    report = report_for(failed, now=SOON, image_pull_grace_seconds=GRACE)
    assert report is not None and report.status == A.SUCCEEDED
    assert not is_finished(pod("running"))


def test_a_pod_with_no_status_yet_is_pending() -> None:
    fresh = pod("running")
    fresh.status = None
    report = report_for(fresh, now=SOON, image_pull_grace_seconds=GRACE)
    assert report is not None and report.status == A.PENDING


def test_a_long_message_is_trimmed() -> None:
    noisy = pod("failed-with-message")
    noisy.status.container_statuses[0].state.terminated.message = "x" * 10_000
    report = report_for(noisy, now=SOON, image_pull_grace_seconds=GRACE)
    assert report is not None
    assert len(report.message) < 2100 and report.message.endswith("…")


def test_a_handle_names_the_namespace_and_the_pod() -> None:
    running = pod("running")
    assert handle_of(running) == "flowdeck/nightly-etl-311-transform-1"
    assert split_handle(handle_of(running)) == ("flowdeck", running.metadata.name)
    assert split_handle("bare-name") == (None, "bare-name")


def test_the_module_is_pure() -> None:
    code = (
        "import sys, k8s_runner.pod_status; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_the_watch_parser_reads_every_pod_as_the_client_does() -> None:
    """PodParser (the pod watcher's decoding, each pod's spec parsed once)
    gives the client's own model, field for field, for every fixture, the
    first time and from its memory."""
    parser = PodParser()
    for path in sorted(PODS.glob("*.json")):
        raw = json.loads(path.read_text())
        expected = pod(path.stem).to_dict()
        assert parser.pod(json.loads(path.read_text())).to_dict() == expected
        assert parser.pod(raw).to_dict() == expected


def test_the_watch_parser_parses_a_changed_spec_again() -> None:
    parser = PodParser()
    raw = json.loads((PODS / "running.json").read_text())
    first = parser.pod(raw)
    again = parser.pod(json.loads((PODS / "running.json").read_text()))
    assert again.spec is first.spec  # parsed once
    raw = json.loads((PODS / "running.json").read_text())  # each event is new JSON
    raw["spec"]["containers"][0]["image"] = "busybox:2"
    changed = parser.pod(raw)
    assert changed.spec is not first.spec
    assert changed.spec.containers[0].image == "busybox:2"
    parser.forget(raw)
    assert parser.pod(raw).spec is not changed.spec  # forgotten once deleted
