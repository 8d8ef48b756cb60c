"""Init containers and sidecars on the real kube-apiserver (1.20, without
native sidecars), the kubelet simulator running each pod's containers as
processes: an init container filling the task's volume, one failing, and a
sidecar outliving the task's container until Flowdeck deletes the pod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import V1ObjectMeta

from flowcore.spec import parse_document
from flowcore.states import AttemptStatus, RunStatus
from k8s_runner import reconcile
from k8s_runner.manifests import ManifestSettings, pod_manifest
from tests.conftest import shell_task
from tests.k8s_runner.flowdeck_kube import Flowdeck, attempts_of, wait_until
from tests.k8s_runner.kubelet_containers import bubblewrap
from tests.k8s_runner.kubelet_sim import KubeletSimulator, RunContainers
from tests.k8s_runner.test_manifests import ROOT
from tests.k8s_runner.test_workload_pods import request
from workflows.services.submit import create_workflow, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(
        bubblewrap() is None, reason="the kubelet simulator runs containers in bwrap"
    ),
]
WORK = {"volumes": [{"name": "work", "emptyDir": {}}]}


@pytest.fixture(autouse=True)
def real_containers(kubelet: KubeletSimulator) -> None:
    kubelet.default = RunContainers()


def container(name: str, script: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": ["sh", "-c", script], **fields}


def test_an_init_container_fills_the_volume_the_task_reads(
    flowdeck: Flowdeck, user: Any
) -> None:
    flowdeck.start_watcher()
    task = shell_task(
        "load",
        "cat /work/schema.sql",
        volumeMounts=[{"name": "work", "mountPath": "/work"}],
        initContainers=[
            container(
                "fetch",
                "echo fetching; echo 'create table t;' > /in/schema.sql",
                volumeMounts=[{"name": "work", "mountPath": "/in"}],
            )
        ],
        **WORK,
    )
    run = flowdeck.finish(flowdeck.run("init-ok", [task], user), 60)
    assert run.status == RunStatus.SUCCEEDED
    [attempt] = attempts_of(run, "load")
    # The archived log is the task's container's only.
    assert Path(attempt.log_path).read_text() == "create table t;\n"


def test_a_failing_init_container_fails_the_task_with_its_reason(
    flowdeck: Flowdeck, kubelet: KubeletSimulator, user: Any
) -> None:
    flowdeck.start_watcher()
    task = shell_task(
        "load",
        "echo should not run",
        initContainers=[container("fetch", "echo no schema >&2; exit 6")],
    )
    run = flowdeck.finish(flowdeck.run("init-fails", [task], user), 60)
    assert run.status == RunStatus.FAILED
    [attempt] = attempts_of(run, "load")
    assert (attempt.status, attempt.reason, attempt.exit_code) == (
        AttemptStatus.FAILED,
        "InitContainerFailed",
        6,
    )
    assert attempt.message == "init container fetch exited with code 6"
    _, pod = attempt.handle.split("/")
    assert kubelet.logged(flowdeck.namespace, pod, "fetch") == ["no schema"]
    assert kubelet.logged(flowdeck.namespace, pod, "main") == []


def test_a_sidecar_outliving_the_task_is_stopped_by_deleting_the_pod(
    flowdeck: Flowdeck, kubelet: KubeletSimulator, user: Any, settings: Any
) -> None:
    settings.FLOWDECK_K8S_DELETE_GRACE_SECONDS = 5  # time for its trap
    flowdeck.backend.delete_grace_seconds = 5
    flowdeck.backend_keep = 3600.0  # a plain finished pod would stay an hour
    flowdeck.start_watcher()
    task = shell_task(
        "query",
        "until grep -qs up /shared/state; do sleep 0.05; done; echo queried",
        volumeMounts=[{"name": "work", "mountPath": "/shared"}],
        sidecars=[
            container(
                "server",
                "trap 'echo stopping; exit 0' TERM; echo up > /s/state; echo up; "
                "while :; do sleep 0.05; done",
                volumeMounts=[{"name": "work", "mountPath": "/s"}],
            )
        ],
        **WORK,
    )
    run = flowdeck.finish(flowdeck.run("sidecar", [task], user), 60)
    assert run.status == RunStatus.SUCCEEDED
    # 1.20 has no native sidecars: the sidecar is an ordinary container.
    assert flowdeck.backend.native_sidecars() is False
    [attempt] = attempts_of(run, "query")
    assert Path(attempt.log_path).read_text() == "queried\n"
    _, pod = attempt.handle.split("/")
    wait_until(lambda: not flowdeck.pods(), 30, "the pod's deletion")
    assert kubelet.logged(flowdeck.namespace, pod, "server") == ["up", "stopping"]


def test_an_older_api_server_drops_a_native_sidecars_restart_policy(
    flowdeck: Flowdeck,
) -> None:
    """Why sidecars are ordinary containers before 1.29: 1.20 stores the
    native shape without its restartPolicy, an init container that would
    never end and never let the task's container start."""
    pod = pod_manifest(
        request(),
        namespace=flowdeck.namespace,
        settings=ManifestSettings(native_sidecars=True),
    )
    pod.metadata = V1ObjectMeta(name="native-shape", namespace=flowdeck.namespace)
    created = flowdeck.core.create_namespaced_pod(flowdeck.namespace, pod)
    proxy = created.spec.init_containers[-1]
    assert proxy.name == "proxy"
    assert proxy.restart_policy is None
    flowdeck.core.delete_namespaced_pod("native-shape", flowdeck.namespace)


def test_the_sidecar_example_runs_on_kubernetes(flowdeck: Flowdeck, user: Any) -> None:
    flowdeck.start_watcher()
    document = parse_document((ROOT / "examples" / "sidecar.yaml").read_text())
    workflow = create_workflow(document, author=user)
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    run = flowdeck.finish(run, 60)
    assert run.status == RunStatus.SUCCEEDED
    [attempt] = attempts_of(run, "query")
    assert Path(attempt.log_path).read_text() == "hello from the sidecar\n"
    wait_until(lambda: not flowdeck.pods(), 30, "the pod's deletion")
