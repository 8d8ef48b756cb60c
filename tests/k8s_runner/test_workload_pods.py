"""Pods with the task's own init containers and sidecars: the manifest (native
sidecars or ordinary containers), what their statuses say about the attempt,
and the watcher stopping sidecars that outlive the task's container."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient
from kubernetes.client.models import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1Job,
    V1JobCondition,
    V1JobStatus,
    V1Pod,
    V1PodStatus,
)

from flowcore.spec import parse_document
from k8s_runner.backends.kubernetes import server_version
from k8s_runner.job_status import report_for_job, split_job_handle
from k8s_runner.manifests import (
    ManifestError,
    ManifestSettings,
    job_manifest,
    pod_manifest,
)
from k8s_runner.pod_request import ContainerRequest, OutputsRequest, PodRequest
from k8s_runner.pod_status import has_sidecars, report_for
from k8s_runner.watcher import PodWatcher
from tests.k8s_runner.test_manifests import (
    ROOT,
    SCHEMA_VERSIONS,
    as_json,
    requests_of,
)
from tests.k8s_runner.test_watcher import Book, FakeCluster

NOW = datetime(2025, 3, 1, 10, 0, 30, tzinfo=UTC)
# The first schema with native sidecars (restartPolicy on a container).
NATIVE_SCHEMAS = tuple(v for v in SCHEMA_VERSIONS if v >= "1.29")


def request(**fields: Any) -> PodRequest:
    base: dict[str, Any] = {
        "attempt_id": 41,
        "run_id": 7,
        "workflow": "etl",
        "version": 3,
        "task": "load",
        "attempt": 1,
        "image": "busybox:1.36",
        "command": ("sh", "-c", "psql -h 127.0.0.1 -f /work/schema.sql"),
        "args": (),
        "volumes": ({"name": "work", "emptyDir": {}},),
        "volume_mounts": ({"name": "work", "mountPath": "/work"},),
        "security_context": {"runAsUser": 1000},
        "init_containers": (
            ContainerRequest(
                name="fetch",
                image="curl:8",
                command=("sh", "-c", "curl -o /work/schema.sql http://s/x"),
                env=({"name": "DAY", "value": "2025-03-01"},),
                resources={"requests": {"cpu": "50m"}, "limits": {"memory": "64Mi"}},
                volume_mounts=({"name": "work", "mountPath": "/work"},),
            ),
        ),
        "sidecars": (
            ContainerRequest(
                name="proxy",
                image="proxy:2",
                args=("--port=5432",),
                env=(
                    {
                        "name": "TOKEN",
                        "value_from": {"secretKeyRef": {"name": "db", "key": "t"}},
                    },
                ),
            ),
        ),
    }
    return PodRequest(**{**base, **fields})


def manifest(native: bool, **fields: Any) -> V1Pod:
    return pod_manifest(
        request(**fields),
        namespace="flowdeck",
        settings=ManifestSettings(native_sidecars=native),
    )


# --- the manifest -----------------------------------------------------------------


def test_without_native_sidecars_a_sidecar_is_an_ordinary_container() -> None:
    pod = manifest(native=False)
    data = as_json(pod)
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(data, version, strict=True)
    spec = data["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["fetch"]
    assert [c["name"] for c in spec["containers"]] == ["main", "proxy"]
    assert all("restartPolicy" not in c for c in spec["containers"])
    annotations = data["metadata"]["annotations"]
    assert annotations["flowdeck.io/init-containers"] == "fetch"
    assert annotations["flowdeck.io/sidecars"] == "proxy"
    assert annotations["kubectl.kubernetes.io/default-container"] == "main"


def test_with_native_sidecars_a_sidecar_is_a_restartable_init_container() -> None:
    data = as_json(manifest(native=True))
    assert NATIVE_SCHEMAS  # the newest schema has them
    for version in NATIVE_SCHEMAS:
        kubernetes_validate.validate(data, version, strict=True)
    spec = data["spec"]
    assert [(c["name"], c.get("restartPolicy")) for c in spec["initContainers"]] == [
        ("fetch", None),
        ("proxy", "Always"),  # after the task's init containers, as locally
    ]
    assert [c["name"] for c in spec["containers"]] == ["main"]
    # Why an older server gets the other shape: it has no such field.
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(data, "1.25.0", strict=True)


def test_an_extra_container_has_its_own_fields_and_the_tasks_security() -> None:
    spec = as_json(manifest(native=False))["spec"]
    fetch = spec["initContainers"][0]
    assert fetch["image"] == "curl:8"
    assert fetch["command"] == ["sh", "-c", "curl -o /work/schema.sql http://s/x"]
    assert fetch["resources"] == {
        "requests": {"cpu": "50m"},
        "limits": {"memory": "64Mi"},
    }
    assert fetch["volumeMounts"] == [{"name": "work", "mountPath": "/work"}]
    assert fetch["securityContext"] == {
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
    }
    env = {e["name"]: e for e in fetch["env"]}
    assert env["DAY"]["value"] == "2025-03-01"
    assert env["FLOWDECK_TASK"]["value"] == "load"
    proxy = spec["containers"][1]
    assert proxy["env"][-1] == {
        "name": "TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "t"}},
    }


def test_flowdecks_init_container_runs_before_the_tasks_own() -> None:
    pod = manifest(
        native=True, outputs=OutputsRequest(result=True), command=("sh", "-c", "x")
    )
    names = [c.name for c in pod.spec.init_containers]
    assert names == ["flowdeck-init", "fetch", "proxy"]
    assert [c.name for c in pod.spec.containers] == ["main", "flowdeck-outputs"]
    # /flowdeck is the task container's only.
    assert "FLOWDECK_OUTPUTS" not in {e.name for e in pod.spec.init_containers[1].env}


def test_the_full_fixtures_containers_reach_the_pod() -> None:
    document = parse_document((ROOT / "tests/fixtures/full.yaml").read_text())
    load = next(r for r in requests_of(document) if r.task == "load")
    assert [c.name for c in load.init_containers] == ["fetch-schema"]
    pod = pod_manifest(load, namespace="w", settings=ManifestSettings())
    data = as_json(pod)
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(data, version, strict=True)
    assert [c["name"] for c in data["spec"]["containers"]] == ["main", "db-proxy"]


def test_the_server_version_decides_native_sidecars() -> None:
    assert server_version("1", "20") == (1, 20)
    assert server_version("1", "29+") == (1, 29)
    assert server_version("1", "") == (0, 0)


# --- what the statuses say ---------------------------------------------------------


def terminated(code: int, reason: str = "") -> V1ContainerState:
    return V1ContainerState(
        terminated=V1ContainerStateTerminated(
            exit_code=code,
            reason=reason or ("Completed" if code == 0 else "Error"),
            finished_at=NOW,
        )
    )


RUNNING = V1ContainerState(running=V1ContainerStateRunning(started_at=NOW))
INITIALIZING = V1ContainerState(
    waiting=V1ContainerStateWaiting(reason="PodInitializing")
)


def status(name: str, state: V1ContainerState) -> V1ContainerStatus:
    return V1ContainerStatus(
        name=name, image="i", image_id="", ready=False, restart_count=0, state=state
    )


def with_status(pod: V1Pod, phase: str, init: list[Any], main: list[Any]) -> V1Pod:
    pod.metadata.labels["flowdeck.io/attempt-id"] = "41"
    pod.status = V1PodStatus(
        phase=phase,
        start_time=NOW,
        init_container_statuses=[status(n, s) for n, s in init] or None,
        container_statuses=[status(n, s) for n, s in main],
    )
    return pod


def said(pod: V1Pod) -> tuple[str, str, str, int | None]:
    report = report_for(pod, now=NOW, image_pull_grace_seconds=120)
    assert report is not None
    return report.status.value, report.reason, report.message, report.exit_code


def test_a_failed_init_container_is_the_tasks_failure_with_its_reason() -> None:
    pod = with_status(
        manifest(native=False),
        "Failed",
        [("fetch", terminated(6))],
        [("main", INITIALIZING), ("proxy", INITIALIZING)],
    )
    assert said(pod) == (
        "Failed",
        "InitContainerFailed",
        "init container fetch exited with code 6",
        6,
    )


def test_a_sidecar_still_running_does_not_hold_the_tasks_end() -> None:
    pod = with_status(
        manifest(native=False),
        "Running",
        [("fetch", terminated(0))],
        [("main", terminated(0)), ("proxy", RUNNING)],
    )
    assert said(pod)[0] == "Succeeded"
    assert has_sidecars(pod)


def test_a_native_sidecar_stopped_at_the_end_is_no_failure() -> None:
    pod = with_status(
        manifest(native=True),
        "Succeeded",
        [("fetch", terminated(0)), ("proxy", terminated(143))],
        [("main", terminated(0))],
    )
    assert said(pod)[:2] == ("Succeeded", "")


def test_a_running_native_sidecar_does_not_hide_what_the_task_waits_on() -> None:
    pull = V1ContainerState(
        waiting=V1ContainerStateWaiting(
            reason="ImagePullBackOff", message='Back-off pulling image "busybox"'
        )
    )
    pod = with_status(
        manifest(native=True),
        "Pending",
        [("fetch", terminated(0)), ("proxy", RUNNING)],
        [("main", pull)],
    )
    assert said(pod)[:2] == ("Pending", "ImagePullBackOff")


def test_a_pod_without_extra_containers_has_no_sidecars() -> None:
    pod = manifest(native=False, sidecars=(), init_containers=())
    assert not has_sidecars(pod)
    assert "flowdeck.io/sidecars" not in pod.metadata.annotations


# --- the watcher ------------------------------------------------------------------


def listed(pod: V1Pod, uid: str) -> V1Pod:
    data = ApiClient().sanitize_for_serialization(pod)
    data["metadata"]["uid"] = uid
    data["metadata"]["name"] = f"pod-{uid}"
    read: V1Pod = ApiClient().deserialize(json.dumps(data), "V1Pod", "application/json")
    return read


def test_the_watcher_deletes_at_once_a_pod_whose_sidecar_outlives_the_task() -> None:
    cluster, book = FakeCluster(), Book()
    watcher = PodWatcher(cluster, book=book, watch_timeout_seconds=300)  # type: ignore[arg-type]
    watcher.keep_finished_seconds = 600
    outliving = with_status(
        manifest(native=False),
        "Running",
        [("fetch", terminated(0))],
        [("main", terminated(0)), ("proxy", RUNNING)],
    )
    plain = with_status(
        manifest(native=False, sidecars=()),
        "Succeeded",
        [("fetch", terminated(0))],
        [("main", terminated(0))],
    )
    plain.metadata.labels["flowdeck.io/attempt-id"] = "42"
    cluster.listings.append(([listed(outliving, "a"), listed(plain, "b")], "1"))
    book.status = {41: "Succeeded", 42: "Succeeded"}
    watcher.run_once()
    # The sidecar's pod goes at once (deleting it stops the sidecar); the
    # other is kept the usual 600 s.
    assert cluster.deleted == ["pod-a"]
    cluster.now += timedelta(seconds=601)
    watcher.housekeep()
    assert cluster.deleted == ["pod-a", "pod-b"]


# --- Jobs -------------------------------------------------------------------------


def job_request(**job: Any) -> PodRequest:
    base = {
        "completions": 4,
        "parallelism": 2,
        "completion_mode": "Indexed",
        "backoff_limit": 1,
        "active_deadline_seconds": 900,
        "ttl_seconds_after_finished": 3600,
        "pod_failure_policy": None,
    }
    return request(sidecars=(), init_containers=(), job={**base, **job})


def test_a_job_manifest_is_valid_and_its_pods_are_not_the_attempts() -> None:
    job = job_manifest(job_request(), namespace="w", settings=ManifestSettings())
    data = as_json(job)
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(data, version, strict=True)
    spec = data["spec"]
    assert {k: spec[k] for k in spec if k != "template"} == {
        "completions": 4,
        "parallelism": 2,
        "completionMode": "Indexed",
        "backoffLimit": 1,
        "activeDeadlineSeconds": 900,
        "ttlSecondsAfterFinished": 3600,
    }
    assert data["metadata"]["name"] == "etl-7-load-1"
    assert data["metadata"]["labels"]["flowdeck.io/attempt-id"] == "41"
    # The pod watcher follows the Job, not its pods: they carry another label.
    labels = spec["template"]["metadata"]["labels"]
    assert "flowdeck.io/attempt-id" not in labels
    assert labels["flowdeck.io/job-attempt-id"] == "41"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_a_pod_failure_policy_is_the_newer_schemas_only() -> None:
    policy = {
        "rules": [
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}
        ]
    }
    data = as_json(
        job_manifest(
            job_request(pod_failure_policy=policy),
            namespace="w",
            settings=ManifestSettings(),
        )
    )
    kubernetes_validate.validate(data, SCHEMA_VERSIONS[-1], strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(data, "1.25.0", strict=True)
    assert data["spec"]["podFailurePolicy"] == policy


@pytest.mark.parametrize(
    ("server", "job", "words"),
    [
        ((1, 20), {}, "completionMode: Indexed needs Kubernetes 1.21 or newer"),
        (
            (1, 25),
            {"pod_failure_policy": {"rules": []}, "completion_mode": "NonIndexed"},
            "podFailurePolicy needs Kubernetes 1.26 or newer (the server is 1.25)",
        ),
    ],
)
def test_what_an_older_server_would_drop_is_refused(
    server: tuple[int, int], job: dict[str, Any], words: str
) -> None:
    with pytest.raises(ManifestError, match=re.escape(words)):
        job_manifest(
            job_request(**job),
            namespace="w",
            settings=ManifestSettings(),
            server=server,
        )


def test_before_1_21_the_ttl_is_left_to_flowdecks_clean_up() -> None:
    job = job_manifest(
        job_request(completion_mode="NonIndexed"),
        namespace="w",
        settings=ManifestSettings(),
        server=(1, 20),
    )
    assert job.spec.ttl_seconds_after_finished is None
    assert job.spec.completion_mode is None


def a_job(conditions: list[V1JobCondition], **status: Any) -> V1Job:
    job = job_manifest(job_request(), namespace="w", settings=ManifestSettings())
    job.status = V1JobStatus(conditions=conditions or None, **status)
    return job


def job_said(job: V1Job) -> tuple[str, str, str]:
    report = report_for_job(job, now=NOW)
    assert report is not None
    return report.status.value, report.reason, report.message


def test_the_attempt_follows_the_jobs_conditions_not_its_pods() -> None:
    assert job_said(a_job([]))[0] == "Pending"
    # A pod failed, the controller runs another: still running.
    assert job_said(a_job([], active=1, failed=1, start_time=NOW))[0] == "Running"
    complete = V1JobCondition(type="Complete", status="True")
    assert job_said(a_job([complete], succeeded=4)) == (
        "Succeeded",
        "",
        "4 of 4 completions succeeded",
    )
    failed = V1JobCondition(
        type="Failed",
        status="True",
        reason="BackoffLimitExceeded",
        message="Job has reached the specified backoff limit",
    )
    assert job_said(a_job([failed], succeeded=1, failed=2)) == (
        "Failed",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit (1 of 4 completions "
        "succeeded, 2 pods failed)",
    )
    report = report_for_job(a_job([]), now=NOW)
    assert report is not None and report.handle == "job:w/etl-7-load-1"
    assert split_job_handle(report.handle) == ("w", "etl-7-load-1")
    assert split_job_handle("w/pod") is None
