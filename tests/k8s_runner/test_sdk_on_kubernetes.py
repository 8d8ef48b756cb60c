"""The tutorial written with the SDK, compiled and run on the Kubernetes
backend for real: a real kube-apiserver (and etcd), and the kubelet simulator
running each pod's containers as processes (the compiled task's `python3 -c`
under Flowdeck's wrapper, the outputs helper reading its result.json). Its
values go from pod to pod through the API only."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.states import RunStatus
from k8s_runner import reconcile
from tests.k8s_runner.flowdeck_kube import Flowdeck, attempts_of, wait_until
from tests.k8s_runner.kubelet_containers import bubblewrap
from tests.k8s_runner.kubelet_sim import KubeletSimulator, RunContainers
from tests.k8s_runner.test_kubernetes_outputs import explain, log_of, outputs_of
from tests.sdk.flows import map_flow
from tests.sdk.tutorial import load_tutorial
from workflows.services.submit import create_workflow, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(
        bubblewrap() is None, reason="the kubelet simulator runs containers in bwrap"
    ),
]


@pytest.fixture(autouse=True)
def real_containers(kubelet: KubeletSimulator) -> None:
    kubelet.default = RunContainers()


def test_the_sdk_tutorial_passes_its_values_from_pod_to_pod(
    flowdeck: Flowdeck, user: Any
) -> None:
    document = load_tutorial("kubernetes_tutorial").flow.to_spec()
    workflow = create_workflow(document, author=user)  # what flow.deploy() saves
    flowdeck.start_watcher()
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    run = flowdeck.finish(run, 90)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    assert log_of(run, "load") == "[10, 20, 30, 40, 50]\n"
    assert outputs_of(run, "transform") == {("result", ""): "[10, 20, 30, 40, 50]"}
    [load] = attempts_of(run, "load")
    assert load.request["args"][1] == "[10, 20, 30, 40, 50]"
    wait_until(lambda: not flowdeck.pods(), what="the finished pods' deletion")


def test_an_sdk_map_fans_out_into_pods(flowdeck: Flowdeck, user: Any) -> None:
    workflow = create_workflow(map_flow().to_spec(), author=user)
    flowdeck.start_watcher()
    run = submit_run(workflow.latest_version, user=user, parameters={"count": "3"})
    reconcile.reconcile(run.pk)
    run = flowdeck.finish(run, 90)
    assert run.status == RunStatus.SUCCEEDED, explain(run)
    assert outputs_of(run, "total") == {("result", ""): '"sum=14"'}
