"""Fixtures for tests against a real kube-apiserver (see kube_cluster.py).

`kube` (session): one cluster for the whole session, started on first use
(about 5 s): `.kubeconfig`, `.api_client()`, `.namespace` (a shared one),
`.simulated` (False on a real cluster), `.cluster` (the KubeCluster). Skipped
when the binaries are missing, except with CI=true where that is an error.
With FLOWDECK_TEST_KUBECONFIG set, the tests use that cluster instead.
`kube_namespace` (function): a fresh namespace. `kubelet` (function): a
`KubeletSimulator` for that namespace; against a real cluster it is a stand-in
whose `script()` skips the test, since a real kubelet cannot be scripted.
`flowdeck` (function): Flowdeck's Kubernetes backend on that namespace, with a
pod watcher to start and stop (tests/k8s_runner/flowdeck_kube.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from k8s_runner import reconcile
from tests.k8s_runner.flowdeck_kube import Flowdeck, wait_until
from tests.k8s_runner.kube_cluster import ClusterUnavailable, KubeCluster
from tests.k8s_runner.kubelet_sim import Behaviour, KubeletSimulator
from workflows.models import Project
from workflows.services.submit import default_project


class KubeEnvironment:
    """What a test gets from `kube`: the kubeconfig, clients, a namespace."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster
        self.kubeconfig = cluster.kubeconfig
        self.namespace = cluster.namespace
        self.simulated = not cluster.external

    def api_client(self) -> client.ApiClient:
        return self.cluster.api_client()

    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client())


class RealKubelet:
    """The `kubelet` fixture on a real cluster: nothing to start or script."""

    simulated = False
    errors: tuple[str, ...] = ()

    def script(self, key: str, *behaviours: Behaviour) -> None:
        pytest.skip("scripted pod behaviour needs the kubelet simulator")


@pytest.fixture(scope="session")
def kube() -> Iterator[KubeEnvironment]:
    try:
        cluster = KubeCluster.from_environment()
    except ClusterUnavailable as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"kube-apiserver tier cannot run in CI: {error}")
        pytest.skip(f"no kube-apiserver: {error}")
    try:
        yield KubeEnvironment(cluster)
    finally:
        cluster.stop()


@pytest.fixture
def kube_namespace(kube: KubeEnvironment) -> Iterator[str]:
    name = kube.cluster.create_namespace()
    yield name
    if kube.cluster.external:
        kube.cluster.delete_namespace(name)


@pytest.fixture
def kubelet(
    kube: KubeEnvironment, kube_namespace: str
) -> Iterator[KubeletSimulator | RealKubelet]:
    if not kube.simulated:
        yield RealKubelet()
        return
    with kube.api_client() as api, KubeletSimulator(api, kube_namespace) as sim:
        yield sim
    assert not sim.errors, f"kubelet simulator errors: {sim.errors}"


@pytest.fixture
def flowdeck(
    kube: Any,
    kube_namespace: str,
    kubelet: Any,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Flowdeck]:
    if not getattr(kubelet, "simulated", True):
        pytest.skip("these runs script pods through the kubelet simulator")
    # The project's namespace is where its runs' pods go.
    Project.objects.filter(pk=default_project().pk).update(namespace=kube_namespace)
    reconcile.run_namespaces.clear()
    settings.FLOWDECK_BACKEND = "kubernetes"
    settings.FLOWDECK_K8S_KUBECONFIG = str(kube.kubeconfig)
    settings.FLOWDECK_K8S_CONTEXT = ""
    settings.FLOWDECK_K8S_NAMESPACE = kube_namespace
    settings.FLOWDECK_K8S_DELETE_GRACE_SECONDS = 0
    settings.FLOWDECK_K8S_IMAGE_PULL_GRACE_SECONDS = 1.0
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(reconcile, "_backend", None)
    deck = Flowdeck(kube.core(), kube_namespace)
    try:
        yield deck
    finally:
        deck.stop_watcher()
        wait_until(lambda: reconcile.report_pump.unrecorded() == 0, 10, "the pump")
        reconcile._backend = None
