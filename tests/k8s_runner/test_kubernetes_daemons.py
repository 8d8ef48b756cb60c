"""Daemon tasks on Kubernetes: the manifests against the official schemas, and
runs on the real kube-apiserver (1.20, which runs no controllers: the kubelet
simulator writes the Deployment's and StatefulSet's status as their
controllers would, tests/k8s_runner/kubelet_daemons.py; the Service's cluster
IP is the API server's own). Whatever the run's end, its daemon objects go."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from django.db import connection
from kubernetes.client import ApiClient, AppsV1Api

from flowcore.spec import Limits, parse_document, parse_spec, render_task
from flowcore.states import TERMINAL_RUN_STATUSES, AttemptStatus, RunStatus
from k8s_runner import reconcile
from k8s_runner.backends.base import BackendError
from k8s_runner.daemon_manifests import (
    DAEMON_ATTEMPT_ID_LABEL,
    daemon_selector,
    service_manifest,
    service_name,
    workload_manifest,
)
from k8s_runner.manifests import ATTEMPT_ID_LABEL, ManifestSettings
from k8s_runner.pod_request import PodRequest
from k8s_runner.reconcile import pod_request
from tests.conftest import shell_task
from tests.k8s_runner.flowdeck_kube import (
    Flowdeck,
    WatcherProcess,
    attempts_of,
    wait_until,
)
from tests.k8s_runner.kubelet_sim import Fail, RunUntilDeleted, Succeed
from tests.k8s_runner.test_manifests import ROOT, SCHEMA_VERSIONS
from workflows.models import Attempt
from workflows.services.advance import Launch
from workflows.services.control import cancel_run


def as_json(manifest: Any) -> dict[str, Any]:
    data: dict[str, Any] = ApiClient().sanitize_for_serialization(manifest)
    return data


def assert_valid(manifest: Any) -> dict[str, Any]:
    data = as_json(manifest)
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(data, version, strict=True)
    return data


def daemon_request(**daemon: Any) -> PodRequest:
    fields: dict[str, Any] = {
        "ports": [{"name": "pg", "port": 5432}],
        "readiness_probe": {"tcpSocket": {"port": "pg"}},
        "persistent": False,
        "storage": None,
        **daemon,
    }
    return PodRequest(
        attempt_id=41,
        run_id=7,
        workflow="wf",
        version=1,
        task="db",
        attempt=1,
        image="postgres:16",
        command=(),
        args=(),
        timeout=120.0,
        daemon=fields,
    )


# -- manifests --------------------------------------------------------------------


def test_a_daemon_is_a_valid_deployment_whose_pods_are_not_the_attempts() -> None:
    data = assert_valid(
        workload_manifest(daemon_request(), namespace="w", settings=ManifestSettings())
    )
    assert data["kind"] == "Deployment"
    assert data["metadata"]["name"] == "wf-7-db-1"
    spec = data["spec"]
    assert spec["replicas"] == 1 and spec["progressDeadlineSeconds"] == 150
    template = spec["template"]
    # The pod watcher follows attempts by this label: not a daemon's pods.
    assert ATTEMPT_ID_LABEL not in template["metadata"]["labels"]
    assert template["metadata"]["labels"][DAEMON_ATTEMPT_ID_LABEL] == "41"
    assert template["spec"]["restartPolicy"] == "Always"
    assert "activeDeadlineSeconds" not in template["spec"]
    [main] = template["spec"]["containers"]
    assert main["ports"] == [{"containerPort": 5432, "name": "pg"}]
    assert main["readinessProbe"] == {"tcpSocket": {"port": "pg"}, "periodSeconds": 2}
    assert set(spec["selector"]["matchLabels"].items()) <= set(
        template["metadata"]["labels"].items()
    )


def test_a_persistent_daemon_is_a_valid_statefulset_with_its_claim() -> None:
    request = daemon_request(
        persistent=True,
        storage={
            "size": "2Gi",
            "mount_path": "/var/lib/postgresql/data",
            "storage_class_name": "fast",
        },
    )
    data = assert_valid(
        workload_manifest(request, namespace="w", settings=ManifestSettings())
    )
    assert data["kind"] == "StatefulSet"
    spec = data["spec"]
    assert spec["serviceName"] == "wf-7-db"
    [claim] = spec["volumeClaimTemplates"]
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "fast",
        "resources": {"requests": {"storage": "2Gi"}},
    }
    [main] = spec["template"]["spec"]["containers"]
    assert main["volumeMounts"] == [
        {"name": "data", "mountPath": "/var/lib/postgresql/data"}
    ]
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    # A server before 1.27 would drop the policy: left out, the sweep deletes.
    older = as_json(
        workload_manifest(
            request, namespace="w", settings=ManifestSettings(), server=(1, 20)
        )
    )
    assert "persistentVolumeClaimRetentionPolicy" not in older["spec"]


def test_the_service_is_valid_stable_per_task_and_owned_by_the_workload() -> None:
    workload = workload_manifest(
        daemon_request(), namespace="w", settings=ManifestSettings()
    )
    workload.metadata.uid = "1234"
    data = assert_valid(
        service_manifest(daemon_request(), namespace="w", owner=workload)
    )
    assert data["metadata"]["name"] == "wf-7-db"
    assert data["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "wf-7-db-1",
            "uid": "1234",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert data["spec"]["ports"] == [
        {"name": "pg", "port": 5432, "protocol": "TCP", "targetPort": 5432}
    ]
    assert data["spec"]["selector"] == {
        "flowdeck.io/run": "7",
        DAEMON_ATTEMPT_ID_LABEL: "41",
    }
    # A DNS-1035 label whatever the names: a letter first, 63 at most.
    odd = service_name("9-lives", 12, "x" * 70)
    assert odd[0].isalpha() and len(odd) <= 63
    assert service_name("wf", 7, "db") == service_name("wf", 7, "db")


def test_the_daemon_example_makes_valid_manifests() -> None:
    document = parse_document((ROOT / "examples" / "daemon.yaml").read_text())
    spec = parse_spec(document, Limits())
    task = spec.tasks[0]
    rendered = dataclasses.asdict(render_task(task, {}, {}))
    rendered["retry"]["on"] = sorted(rendered["retry"]["on"])
    request = pod_request(Launch(1, 7, spec.name, 3, task.name, 1, rendered))
    settings = ManifestSettings()
    assert_valid(workload_manifest(request, namespace="w", settings=settings))
    assert_valid(service_manifest(request, namespace="w"))


# -- on the API server ----------------------------------------------------------------


def daemon_objects(flowdeck: Flowdeck) -> dict[str, list[str]]:
    apps = AppsV1Api(flowdeck.core.api_client)
    selector = daemon_selector()
    ns = flowdeck.namespace

    def names(items: list[Any]) -> list[str]:
        return sorted(item.metadata.name for item in items)

    return {
        kind: found
        for kind, found in {
            "Deployment": names(
                apps.list_namespaced_deployment(ns, label_selector=selector).items
            ),
            "StatefulSet": names(
                apps.list_namespaced_stateful_set(ns, label_selector=selector).items
            ),
            "Service": names(
                flowdeck.core.list_namespaced_service(ns, label_selector=selector).items
            ),
        }.items()
        if found
    }


def db_task(**fields: Any) -> dict[str, Any]:
    return shell_task(
        "db",
        "serve",
        daemon=True,
        ports=[{"name": "pg", "port": 5432}],
        **fields,
    )


def client_task() -> dict[str, Any]:
    return shell_task(
        "client",
        "psql -h {{tasks.db.ip}} -p 5432; echo {{tasks.db.service}}",
        dependencies=["db"],
    )


def client_args(run: Any) -> str:
    [attempt] = attempts_of(run, "client")
    return " ".join(attempt.request["args"])


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        (Succeed(after=0.2), RunStatus.SUCCEEDED),
        (Fail(exit_code=2), RunStatus.FAILED),
    ],
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_ready_deployment_hands_its_address_and_goes_with_the_run(
    flowdeck: Flowdeck, kubelet: Any, user: Any, behaviour: Any, status: str
) -> None:
    kubelet.script("client", behaviour)
    flowdeck.start_watcher()
    run = flowdeck.run("served", [db_task(), client_task()], user)
    seen: dict[str, list[str]] = {}

    def deployed() -> bool:
        seen.update(daemon_objects(flowdeck))
        return "Service" in seen

    wait_until(deployed, 30, "the daemon's Deployment and Service")
    run = flowdeck.finish(run, 60)
    assert run.status == status
    [db] = attempts_of(run, "db")
    assert (db.status, db.handle.split("/")[0]) == (
        AttemptStatus.SUCCEEDED,
        f"daemon:Deployment:{flowdeck.namespace}",
    )
    name = service_name("served", run.pk, "db")
    assert seen == {"Deployment": [f"served-{run.pk}-db-1"], "Service": [name]}
    ip = db.outputs.get(name="ip").value
    assert ip.count(".") == 3  # the cluster IP the API server gave the Service
    assert client_args(run) == (
        f"psql -h {ip} -p 5432; echo {name}.{flowdeck.namespace}.svc"
    )
    wait_until(lambda: not daemon_objects(flowdeck), 30, "the daemon's clean-up")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_cancelling_the_run_deletes_its_daemon(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("client", RunUntilDeleted())
    flowdeck.start_watcher()
    run = flowdeck.run("cancelled", [db_task(), client_task()], user)
    wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, task_run__name="client", status=AttemptStatus.RUNNING
        ).exists(),
        30,
        "the client to run",
    )
    assert daemon_objects(flowdeck)
    cancel_run(run.pk)
    reconcile.reconcile(run.pk)
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.CANCELLED
    wait_until(lambda: not daemon_objects(flowdeck), 30, "the daemon's clean-up")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_sweep_deletes_the_daemons_of_a_run_whose_controller_died(
    flowdeck: Flowdeck, kubelet: Any, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill -9 between the run's end and its end_run: the daemon is left
    behind, and the next sweep (a restarted worker's) finds it by its labels."""
    kubelet.script("client", Succeed(after=0.2))
    flowdeck.start_watcher()
    backend = flowdeck.backend
    monkeypatch.setattr(backend, "end_run", lambda run_id: None)  # never happened
    run = flowdeck.run("killed", [db_task(), client_task()], user)

    def ended() -> bool:
        # Not flowdeck.finish: its sweep would clean up before we look.
        run.refresh_from_db()
        return run.status in TERMINAL_RUN_STATUSES

    wait_until(ended, 60, "the run's end")
    assert run.status == RunStatus.SUCCEEDED
    assert daemon_objects(flowdeck)  # left behind
    monkeypatch.undo()
    # The restarted worker: a new backend, which knows nothing of the run.
    reconcile._backend = None
    reconcile.sweep()
    wait_until(lambda: not daemon_objects(flowdeck), 30, "the sweep's clean-up")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_controller_killed_mid_run_leaves_no_daemon_behind(
    flowdeck: Flowdeck,
    kubelet: Any,
    kube: Any,
    kube_namespace: str,
    user: Any,
    tmp_path: Path,
) -> None:
    """kill -9 of a real `manage.py watch_pods` while the daemon serves its
    dependant: the dependant's pod ends unwatched, the next watcher records
    the run's end (it never launched the daemon, so it has no end_run of its
    own to carry out), and the next sweep deletes the daemon's objects."""
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs the PostgreSQL test database")
    kubelet.script("client", Succeed(after=3))
    log = tmp_path / "watcher.log"
    first = WatcherProcess(kube.kubeconfig, kube_namespace, log).start()
    second = WatcherProcess(kube.kubeconfig, kube_namespace, log)
    try:
        run = flowdeck.run("killed", [db_task(), client_task()], user)
        wait_until(
            lambda: Attempt.objects.filter(
                task_run__run=run,
                task_run__name="client",
                status=AttemptStatus.RUNNING,
            ).exists(),
            60,
            "the client to run beside its daemon",
        )
        assert daemon_objects(flowdeck)
        first.kill()
        second.start()
        run = flowdeck.finish(run, 60)
    finally:
        first.kill()
        second.stop()
    assert run.status == RunStatus.SUCCEEDED, second.output()[-3000:]
    # The restarted worker's sweep: a new backend, which knows nothing of it.
    reconcile._backend = None
    reconcile.sweep()
    wait_until(lambda: not daemon_objects(flowdeck), 30, "the sweep's clean-up")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_daemon_never_ready_fails_at_its_timeout_and_is_deleted(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.workloads.never_ready.add("db")
    flowdeck.start_watcher()
    run = flowdeck.run("stuck", [db_task(timeout="2s"), client_task()], user)
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.FAILED
    [db] = attempts_of(run, "db")
    assert (db.status, db.reason) == (AttemptStatus.FAILED, "DeadlineExceeded")
    # Its dependant never ran: an upstream failed.
    assert not Attempt.objects.filter(task_run__run=run, task_run__name="client")
    wait_until(lambda: not daemon_objects(flowdeck), 30, "the daemon's clean-up")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_persistent_daemon_runs_as_a_statefulset(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("client", Succeed(after=0.2))
    flowdeck.start_watcher()
    storage = {"size": "1Gi", "mountPath": "/var/lib/postgresql/data"}
    run = flowdeck.run(
        "kept", [db_task(persistent=True, storage=storage), client_task()], user
    )
    seen: dict[str, list[str]] = {}

    def deployed() -> bool:
        seen.update(daemon_objects(flowdeck))
        return "StatefulSet" in seen and "Service" in seen

    wait_until(deployed, 30, "the daemon's StatefulSet and Service")
    apps = AppsV1Api(flowdeck.core.api_client)
    [stateful] = apps.list_namespaced_stateful_set(
        flowdeck.namespace, label_selector=daemon_selector(run.pk)
    ).items
    [claim] = stateful.spec.volume_claim_templates
    assert claim.spec.resources.requests == {"storage": "1Gi"}
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.SUCCEEDED
    [db] = attempts_of(run, "db")
    assert db.handle.startswith(f"daemon:StatefulSet:{flowdeck.namespace}/")
    wait_until(lambda: not daemon_objects(flowdeck), 30, "the daemon's clean-up")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_daemon_another_attempt_with_the_id_left_is_deleted_not_adopted(
    flowdeck: Flowdeck,
) -> None:
    """As for a pod: after a database reset or restore, the new attempt's
    Deployment name meets the one an old attempt with its id left (here made
    straight through the API), which is deleted and the launch tried again."""
    backend = flowdeck.backend
    reports: list[Any] = []
    backend._reporter = reports.append
    old = dataclasses.replace(
        daemon_request(), attempt_created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    apps = AppsV1Api(flowdeck.core.api_client)
    namespace = flowdeck.namespace
    left = apps.create_namespaced_deployment(
        namespace,
        workload_manifest(old, namespace=namespace, settings=backend.manifest_settings),
    )
    new = dataclasses.replace(old, attempt_created_at=datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(BackendError) as raised:
        backend.launch(new)
    assert not raised.value.permanent and "left by another attempt" in str(raised.value)
    wait_until(
        lambda: not daemon_objects(flowdeck), 30, "the old Deployment's deletion"
    )
    backend.launch(new)
    [created] = apps.list_namespaced_deployment(
        namespace, label_selector=daemon_selector()
    ).items
    assert created.metadata.uid != left.metadata.uid
    stamp = created.metadata.annotations["flowdeck.io/attempt-created"]
    assert stamp == "2026-03-01T00:00:00+00:00"
    assert reports[0].attempt_stamp == stamp
    backend.cancel(new.attempt_id, reports[0].handle)
    wait_until(lambda: not daemon_objects(flowdeck), 30, "the daemon's clean-up")
