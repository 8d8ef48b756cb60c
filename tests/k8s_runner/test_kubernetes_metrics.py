"""The Kubernetes backend's and the pod watcher's metrics against the real
kube-apiserver, with the kubelet simulator: pod creation latency, API errors
by verb and code, watch events, relists and the watcher's lag."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from flowcore.states import RunStatus
from k8s_runner.backends.kubernetes import api_error
from tests.conftest import shell_task
from tests.k8s_runner.flowdeck_kube import Flowdeck, wait_until
from tests.observability.scrape import sample
from workflows.models import Attempt

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_pod_creation_latency_watch_events_and_lag_are_measured(
    flowdeck: Flowdeck, user: Any
) -> None:
    created = sample("flowdeck_pod_create_seconds_count")
    created_sum = sample("flowdeck_pod_create_seconds_sum")
    relists = sample("flowdeck_watcher_relists_total")
    added = sample("flowdeck_watcher_events_total", type="ADDED")
    launches = sample("flowdeck_task_launch_delay_seconds_count", backend="kubernetes")
    watcher = flowdeck.start_watcher()
    run = flowdeck.run(
        "two-pods", [shell_task("a"), shell_task("b", dependencies=["a"])], user
    )
    assert flowdeck.finish(run).status == RunStatus.SUCCEEDED

    assert sample("flowdeck_pod_create_seconds_count") == created + 2
    spent = sample("flowdeck_pod_create_seconds_sum") - created_sum
    assert 0 < spent < 10
    assert (
        sample("flowdeck_task_launch_delay_seconds_count", backend="kubernetes")
        == launches + 2
    )
    assert sample("flowdeck_watcher_relists_total") >= relists + 1  # its first list
    assert sample("flowdeck_watcher_events_total", type="ADDED") >= added + 2
    # The watch is live: it heard from the apiserver within its 5 s requests.
    wait_until(lambda: watcher.measure_lag() < 6, 10, "a fresh watch")
    assert sample("flowdeck_watcher_lag_seconds") < 6
    assert sample("flowdeck_watcher_last_event_timestamp_seconds") > time.time() - 10

    # A watch that hears nothing falls behind, and the gauge says by how much.
    flowdeck.stop_watcher()
    for watch in watcher.watches.values():
        assert watch.heard_at is not None
        watch.heard_at -= 300
    assert watcher.measure_lag() >= 300
    assert sample("flowdeck_watcher_lag_seconds") >= 300


def test_a_refused_pod_creation_counts_an_api_error_by_verb_and_code(
    flowdeck: Flowdeck, user: Any
) -> None:
    refused = sample("flowdeck_kubernetes_api_errors_total", verb="create", code="404")
    run = flowdeck.run(
        "nowhere", [shell_task("a")], user, namespace="no-such-namespace"
    )
    assert flowdeck.finish(run).status == RunStatus.FAILED
    attempt = Attempt.objects.get(task_run__run=run)
    assert attempt.reason == "LaunchFailed"
    assert (
        sample("flowdeck_kubernetes_api_errors_total", verb="create", code="404")
        == refused + 1
    )


@pytest.mark.parametrize(
    ("doing", "verb"),
    [
        ("creating pod ns/p", "create"),
        ("listing pods in ns", "list"),
        ("watching pods", "watch"),
        ("reading pod ns/p", "get"),
        ("reading the log of ns/p", "log"),
        ("deleting pod ns/p", "delete"),
        ("something new", "other"),
    ],
)
def test_every_api_fault_is_counted_by_verb(doing: str, verb: str) -> None:
    before = sample("flowdeck_kubernetes_api_errors_total", verb=verb, code="503")
    api_error(ApiException(status=503), doing)
    after = sample("flowdeck_kubernetes_api_errors_total", verb=verb, code="503")
    assert after == before + 1
    before = sample("flowdeck_kubernetes_api_errors_total", verb=verb, code="0")
    api_error(OSError("connection reset"), doing)
    assert (
        sample("flowdeck_kubernetes_api_errors_total", verb=verb, code="0")
        == before + 1
    )
