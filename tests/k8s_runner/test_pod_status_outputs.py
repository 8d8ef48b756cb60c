"""Pod status -> attempt Report for pods with Flowdeck's containers: the
task's exit 0 is not a success until the outputs helper has collected, a
task that fails ends at once, a failing init container is InputsUnavailable,
a helper that cannot start is an Error after the pull grace."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from kubernetes.client.models import V1Pod

from flowcore.states import AttemptStatus
from k8s_runner.pod_request import OutputsRequest
from k8s_runner.pod_status import (
    has_outputs_helper,
    outputs_wanted,
    pending_deadline,
    report_for,
)

PODS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "pods"
STARTED = datetime(2025, 3, 1, 10, 0, 2, tzinfo=UTC)
GRACE = 120.0
SOON = STARTED + timedelta(seconds=30)
LATE = STARTED + timedelta(seconds=GRACE)
WANTED = OutputsRequest(parameters=(("rows", "/flowdeck/outputs/rows", None),))
A = AttemptStatus


def running(at: str = "2025-03-01T10:00:05Z") -> dict[str, Any]:
    return {"running": {"startedAt": at}}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


def ended(code: int, at: str, message: str = "", reason: str = "") -> dict[str, Any]:
    terminated = {
        "exitCode": code,
        "reason": reason or ("Completed" if code == 0 else "Error"),
        "startedAt": "2025-03-01T10:00:05Z",
        "finishedAt": at,
    }
    if message:
        terminated["message"] = message
    return {"terminated": terminated}


def data_pod(
    main: dict[str, Any],
    helper: dict[str, Any] | None,
    init: dict[str, Any] | None = None,
    *,
    phase: str = "Running",
    deleting: bool = False,
) -> V1Pod:
    """A pod with outputs as the API returns it, in the given states (None:
    the helper has no status yet)."""
    data = json.loads((PODS / "running.json").read_text())
    spec = data["spec"]
    spec["initContainers"] = [{"name": "flowdeck-init", "image": "flowdeck:1"}]
    spec["containers"].append(
        {
            "name": "flowdeck-outputs",
            "image": "flowdeck:1",
            "env": [{"name": "FLOWDECK_HELPER_REQUEST", "value": WANTED.to_json()}],
        }
    )
    status = data["status"]
    status["phase"] = phase
    status["initContainerStatuses"] = [
        status_of("flowdeck-init", init or ended(0, "2025-03-01T10:00:04Z"))
    ]
    statuses = [status_of("main", main)]
    if helper is not None:
        statuses.append(status_of("flowdeck-outputs", helper))
    status["containerStatuses"] = statuses
    if deleting:
        data["metadata"]["deletionTimestamp"] = "2025-03-01T10:01:00Z"
        data["metadata"]["deletionGracePeriodSeconds"] = 30
    read: V1Pod = ApiClient().deserialize(json.dumps(data), "V1Pod", "application/json")
    return read


def status_of(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "image": "x",
        "imageID": "",
        "ready": "running" in state,
        "restartCount": 0,
        "state": state,
    }


def said(pod: V1Pod, now: datetime = SOON) -> tuple[Any, ...] | None:
    report = report_for(pod, now=now, image_pull_grace_seconds=GRACE)
    if report is None:
        return None
    return (report.status, report.reason, report.exit_code, report.message)


def test_the_pod_says_what_its_helper_collects() -> None:
    pod = data_pod(running(), running())
    assert has_outputs_helper(pod)
    assert outputs_wanted(pod) == WANTED
    plain = ApiClient().deserialize(
        (PODS / "running.json").read_text(), "V1Pod", "application/json"
    )
    assert not has_outputs_helper(plain) and outputs_wanted(plain) is None


def test_the_task_s_exit_0_is_running_until_the_outputs_are_collected() -> None:
    done = ended(0, "2025-03-01T10:00:09Z")
    assert said(data_pod(running(), running())) == (A.RUNNING, "", None, "")
    assert said(data_pod(done, running())) == (A.RUNNING, "", None, "")
    finished = data_pod(done, ended(0, "2025-03-01T10:00:11Z"), phase="Succeeded")
    report = report_for(finished, now=SOON, image_pull_grace_seconds=GRACE)
    assert report is not None
    assert (report.status, report.exit_code) == (A.SUCCEEDED, 0)
    # The attempt ends when its outputs are stored, not when its command did.
    assert report.at == datetime(2025, 3, 1, 10, 0, 11, tzinfo=UTC)


def test_a_failing_task_ends_at_once_whatever_its_helper_does() -> None:
    assert said(data_pod(ended(3, "2025-03-01T10:00:09Z"), running())) == (
        A.FAILED,
        "Error",
        3,
        "exited with code 3",
    )


def test_a_task_image_without_a_shell_says_it_needs_one() -> None:
    message = 'exec: "sh": executable file not found in $PATH'
    state = ended(128, "2025-03-01T10:00:09Z", message, reason="StartError")
    status, reason, code, text = said(data_pod(state, running()))  # type: ignore[misc]
    assert (status, reason, code) == (A.FAILED, "StartError", 128)
    assert (
        text
        == f"{message} (a task with outputs runs under /bin/sh: its image needs one)"
    )


def test_a_helper_that_fails_is_an_error_with_its_message() -> None:
    pod = data_pod(
        ended(0, "2025-03-01T10:00:09Z"),
        ended(1, "2025-03-01T10:00:10Z", "StoreError: bucket gone"),
        phase="Failed",
    )
    assert said(pod) == (
        A.ERROR,
        "OutputsHelperFailed",
        0,
        "Flowdeck's outputs helper exited with code 1: StoreError: bucket gone",
    )


def test_a_failing_init_container_is_inputs_unavailable() -> None:
    init = ended(1, "2025-03-01T10:00:04Z", "input artifact people: not in the store")
    pod = data_pod(waiting("PodInitializing"), waiting("PodInitializing"), init)
    assert said(pod) == (
        A.ERROR,
        "InputsUnavailable",
        None,
        "flowdeck-init: input artifact people: not in the store",
    )


@pytest.mark.parametrize("where", ["init", "helper"])
def test_a_helper_image_that_cannot_be_pulled_is_an_error_after_the_grace(
    where: str,
) -> None:
    pull = waiting("ImagePullBackOff", 'Back-off pulling image "flowdeck:1"')
    if where == "init":
        pod = data_pod(waiting("PodInitializing"), None, pull)
        before: tuple[Any, ...] = (A.PENDING, "ImagePullBackOff", None)
        name = "flowdeck-init"
    else:
        pod = data_pod(running(), pull)
        before = (A.RUNNING, "", None)
        name = "flowdeck-outputs"
    assert said(pod)[:3] == before  # type: ignore[index]
    assert pending_deadline(pod, GRACE) == STARTED + timedelta(seconds=GRACE)
    assert said(pod, LATE) == (
        A.ERROR,
        "ImagePullBackOff",
        None,
        f'{name}: Back-off pulling image "flowdeck:1"',
    )


def test_a_missing_artifact_secret_stops_a_finished_task_after_the_grace() -> None:
    config = waiting(
        "CreateContainerConfigError", 'secret "flowdeck-artifacts" not found'
    )
    pod = data_pod(ended(0, "2025-03-01T10:00:09Z"), config)
    assert said(pod)[0] is A.RUNNING  # type: ignore[index]
    assert said(pod, LATE)[:2] == (A.ERROR, "CreateContainerConfigError")  # type: ignore[index]


def test_a_pod_deleted_while_collecting_is_cancelling() -> None:
    pod = data_pod(ended(0, "2025-03-01T10:00:09Z"), running(), deleting=True)
    assert said(pod)[:2] == (A.CANCELLING, "Terminating")  # type: ignore[index]
