"""The Argo test set on the Kubernetes backend: each runnable file, imported
as a person imports it, runs through a real kube-apiserver (and etcd) with
the kubelet simulator running every pod's containers, to the status Argo
documents for it (the same table the embedded default meets:
tests/interop/test_argo_runs.py)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from kubernetes.client import V1ObjectMeta, V1Secret

from flowcore.states import RunStatus
from interop.services import import_argo
from k8s_runner import reconcile
from tests.interop.test_argo_runs import EXPECTED
from tests.k8s_runner.flowdeck_kube import Flowdeck, attempts_of
from tests.k8s_runner.kubelet_containers import bubblewrap
from tests.k8s_runner.kubelet_sim import KubeletSimulator, RunContainers
from workflows.models import Run, TaskRun
from workflows.services.submit import default_project, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(
        bubblewrap() is None, reason="the kubelet simulator runs containers in bwrap"
    ),
]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "argo"


@pytest.fixture(autouse=True)
def real_containers(kubelet: KubeletSimulator) -> None:
    kubelet.default = RunContainers()


def run_argo_file(flowdeck: Flowdeck, name: str, user: Any) -> Run:
    [imported, *_] = import_argo(
        (FIXTURES / name).read_text(),
        project=default_project(),
        author=user,
        now=timezone.now(),
    )
    run = submit_run(imported.version, user=user)
    reconcile.reconcile(run.pk)
    return flowdeck.finish(run, 90)


def log_of(run: Run, task: str) -> str:
    return Path(attempts_of(run, task)[-1].log_path).read_text()


@pytest.mark.parametrize(
    "name",
    [
        # Those whose pods do something the embedded runs do not show.
        "dag-diamond.yaml",
        "output-parameter.yaml",
        "coinflip.yaml",
        "loops-param.yaml",
        "retry-backoff.yaml",
        "timeouts.yaml",
        "exit-handlers.yaml",
        "continue-on-fail.yaml",
        "scripts.yaml",
        "resources-node-selector.yaml",
        "volumes-emptydir.yaml",
        "loop-over-dag.yaml",
    ],
)
def test_an_imported_argo_file_runs_on_kubernetes_to_the_status_argo_documents(
    flowdeck: Flowdeck, user: Any, name: str
) -> None:
    flowdeck.start_watcher()
    run = run_argo_file(flowdeck, name, user)
    found = dict(TaskRun.objects.filter(run=run).values_list("name", "status"))
    if name == "coinflip.yaml":  # its table is its side's
        side = log_of(run, "flip-coin").strip()
        other = "tails" if side == "heads" else "heads"
        assert (run.status, found[side], found[other]) == (
            "Succeeded",
            "Succeeded",
            "Skipped",
        )
        return
    status, tasks = EXPECTED[name]
    assert run.status == status, found
    assert {task: found.get(task) for task in tasks} == tasks
    if name == "output-parameter.yaml":
        assert log_of(run, "consume-parameter") == "hello world\n"
    if name == "volumes-emptydir.yaml":
        assert log_of(run, "volumes-emptydir-example") == "Volume mounted and found\n"


def test_a_secret_key_ref_reads_the_clusters_secret(
    flowdeck: Flowdeck, user: Any, kube_namespace: str
) -> None:
    flowdeck.core.create_namespaced_secret(
        kube_namespace,
        V1Secret(
            metadata=V1ObjectMeta(name="my-secret"),
            data={"mypassword": base64.b64encode(b"S3cr3t!").decode()},
        ),
    )
    flowdeck.start_watcher()
    run = run_argo_file(flowdeck, "secrets.yaml", user)
    assert run.status == RunStatus.SUCCEEDED
    assert log_of(run, "print-secret") == "secret length 7\n"
