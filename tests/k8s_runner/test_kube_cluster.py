"""The Kubernetes test tier itself: a real API server and the kubelet simulator.

Only the official client is used here, so these tests show what a backend
will see. Against a real cluster (FLOWDECK_TEST_KUBECONFIG) the scripted
tests skip and the unscripted one runs a real busybox pod.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client, watch

from tests.k8s_runner.conftest import KubeEnvironment
from tests.k8s_runner.kubelet_sim import (
    NODE_NAME,
    CreateContainerConfigError,
    ErrImagePull,
    Evicted,
    Fail,
    ImagePullBackOff,
    KubeletSimulator,
    OOMKilled,
    RunUntilDeleted,
    Succeed,
    Unschedulable,
    Waiting,
)

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (.*)$")


def new_pod(name: str, task: str | None = None) -> client.V1Pod:
    labels = {"flowdeck.io/task": task} if task else {}
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[
                client.V1Container(
                    name="main",
                    image="busybox:1.36",
                    # What the simulator's default behaviour logs, too.
                    command=["sh", "-c", f"echo ran {name}"],
                )
            ],
        ),
    )


def wait_for(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    predicate: Callable[[client.V1Pod], bool],
    timeout: float = 30.0,
) -> client.V1Pod:
    end = time.monotonic() + timeout
    pod = None
    while time.monotonic() < end:
        pod = core.read_namespaced_pod(name, namespace)
        if predicate(pod):
            return pod
        time.sleep(0.05)
    raise AssertionError(f"pod {name} never matched; last status: {pod and pod.status}")


def phase_is(*phases: str) -> Callable[[client.V1Pod], bool]:
    return lambda pod: pod.status.phase in phases


def container_state(pod: client.V1Pod) -> client.V1ContainerState:
    return pod.status.container_statuses[0].state


@pytest.fixture
def core(kube: KubeEnvironment) -> Iterator[client.CoreV1Api]:
    with kube.api_client() as api:
        yield client.CoreV1Api(api)


def test_a_pod_is_bound_runs_and_succeeds_with_its_log(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    core.create_namespaced_pod(kube_namespace, new_pod("hello"))

    pod = wait_for(core, kube_namespace, "hello", phase_is("Succeeded"), 120)

    assert pod.spec.node_name
    terminated = container_state(pod).terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert pod.status.start_time and pod.status.pod_ip and pod.status.host_ip
    log = core.read_namespaced_pod_log("hello", kube_namespace)
    assert log == "ran hello\n"


def test_the_simulator_binds_to_its_node_and_reports_running(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("slow", Succeed(after=1.0))
    core.create_namespaced_pod(kube_namespace, new_pod("slow"))

    running = wait_for(core, kube_namespace, "slow", phase_is("Running"))
    assert running.spec.node_name == NODE_NAME
    assert container_state(running).running.started_at is not None
    ready = {c.type: c.status for c in running.status.conditions}
    assert ready == {
        "PodScheduled": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
    }
    done = wait_for(core, kube_namespace, "slow", phase_is("Succeeded", "Failed"))
    assert done.status.phase == "Succeeded"
    assert container_state(done).terminated.exit_code == 0


def test_a_scripted_failure_reports_its_exit_code(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("broken", Fail(exit_code=3, logs=["boom"]))
    core.create_namespaced_pod(kube_namespace, new_pod("broken"))

    pod = wait_for(core, kube_namespace, "broken", phase_is("Succeeded", "Failed"))

    assert pod.status.phase == "Failed"
    terminated = container_state(pod).terminated
    assert (terminated.exit_code, terminated.reason) == (3, "Error")
    assert core.read_namespaced_pod_log("broken", kube_namespace) == "boom\n"


def test_scripts_match_the_task_label_and_play_in_order(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("extract", Fail(exit_code=2), Succeed())
    for attempt in (1, 2, 3):
        core.create_namespaced_pod(kube_namespace, new_pod(f"x-{attempt}", "extract"))

    phases = [
        wait_for(
            core, kube_namespace, f"x-{n}", phase_is("Succeeded", "Failed")
        ).status.phase
        for n in (1, 2, 3)
    ]
    assert phases == ["Failed", "Succeeded", "Succeeded"]


def test_an_oom_killed_container_says_so(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("hungry", OOMKilled())
    core.create_namespaced_pod(kube_namespace, new_pod("hungry"))

    pod = wait_for(core, kube_namespace, "hungry", phase_is("Failed"))

    terminated = container_state(pod).terminated
    assert (terminated.exit_code, terminated.reason) == (137, "OOMKilled")


def test_an_evicted_pod_fails_with_reason_evicted(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("evicted", Evicted())
    core.create_namespaced_pod(kube_namespace, new_pod("evicted"))

    pod = wait_for(core, kube_namespace, "evicted", phase_is("Failed"))

    assert pod.status.reason == "Evicted"
    assert "low on resource" in pod.status.message


@pytest.mark.parametrize(
    "behaviour",
    [ImagePullBackOff(), ErrImagePull(), CreateContainerConfigError()],
    ids=lambda b: b.reason,
)
def test_a_container_that_cannot_start_waits_with_a_reason(
    core: client.CoreV1Api,
    kube_namespace: str,
    kubelet: KubeletSimulator,
    behaviour: Waiting,
) -> None:
    kubelet.script("stuck", behaviour)
    core.create_namespaced_pod(kube_namespace, new_pod("stuck"))

    pod = wait_for(
        core,
        kube_namespace,
        "stuck",
        lambda p: (
            bool(p.status.container_statuses)
            and container_state(p).waiting.reason == behaviour.reason
        ),
    )

    assert pod.status.phase == "Pending"
    assert container_state(pod).waiting.message
    with pytest.raises(client.ApiException) as error:
        core.read_namespaced_pod_log("stuck", kube_namespace)
    assert error.value.status == 400
    assert "waiting to start" in str(error.value.body)


def test_an_unschedulable_pod_carries_the_scheduler_message(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("huge", Unschedulable())
    core.create_namespaced_pod(kube_namespace, new_pod("huge"))

    pod = wait_for(
        core, kube_namespace, "huge", lambda p: bool(p.status.conditions), 10
    )

    assert pod.spec.node_name is None
    assert pod.status.phase == "Pending"
    [condition] = pod.status.conditions
    assert (condition.type, condition.status, condition.reason) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert condition.message == "0/3 nodes are available: 3 Insufficient cpu."


def test_logs_come_through_the_api_server_with_timestamps(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("talk", Succeed(logs=["one", "two", "three"]))
    core.create_namespaced_pod(kube_namespace, new_pod("talk"))
    wait_for(core, kube_namespace, "talk", phase_is("Succeeded"))

    stamped = core.read_namespaced_pod_log("talk", kube_namespace, timestamps=True)

    matches = [TIMESTAMPED.match(line) for line in stamped.splitlines()]
    assert all(matches), stamped
    assert [m[1] for m in matches if m] == ["one", "two", "three"]
    tail = core.read_namespaced_pod_log("talk", kube_namespace, tail_lines=1)
    assert tail == "three\n"


def test_logs_since_a_time_leave_out_earlier_lines(
    core: client.CoreV1Api,
    kube: KubeEnvironment,
    kube_namespace: str,
    kubelet: KubeletSimulator,
) -> None:
    kubelet.script("late", Succeed(logs=["early", "late"], line_interval=1.1))
    core.create_namespaced_pod(kube_namespace, new_pod("late"))
    wait_for(core, kube_namespace, "late", phase_is("Succeeded"))
    stamped = core.read_namespaced_pod_log("late", kube_namespace, timestamps=True)
    early = dt.datetime.fromisoformat(stamped.split(" ")[0])
    # sinceTime has whole seconds: the second after "early" is before "late".
    since = (early + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # sinceTime is not among read_namespaced_pod_log's parameters.
    with kube.api_client() as api:
        request = api.param_serialize(
            "GET",
            "/api/v1/namespaces/{namespace}/pods/{name}/log",
            path_params={"namespace": kube_namespace, "name": "late"},
            query_params=[("sinceTime", since)],
            auth_settings=["BearerToken"],
        )
        response = api.call_api(*request)
        response.read()

    assert response.status == 200
    assert response.data == b"late\n"


def test_follow_streams_lines_as_they_are_written(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("tick", Succeed(logs=["a", "b", "c", "d"], line_interval=0.4))
    core.create_namespaced_pod(kube_namespace, new_pod("tick"))
    wait_for(core, kube_namespace, "tick", phase_is("Running"))

    stream = core.read_namespaced_pod_log(
        "tick", kube_namespace, follow=True, _preload_content=False
    )
    arrivals = []
    for chunk in stream.stream(amt=None, decode_content=True):
        for line in chunk.decode().splitlines():
            arrivals.append((time.monotonic(), line))
    stream.release_conn()

    assert [line for _, line in arrivals] == ["a", "b", "c", "d"]
    assert arrivals[-1][0] - arrivals[0][0] > 0.6  # streamed, not in one piece


def test_a_watch_from_a_compacted_resource_version_gets_410(
    core: client.CoreV1Api, kube: KubeEnvironment, kube_namespace: str
) -> None:
    if not kube.simulated:
        pytest.skip("the local API server compacts every 5 s; a real one does not")
    old = core.list_namespaced_config_map(kube_namespace).metadata.resource_version
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="churn"))

    end = time.monotonic() + 20
    while True:
        # New revisions, so that a compaction moves past `old`.
        core.create_namespaced_config_map(kube_namespace, body)
        core.delete_namespaced_config_map("churn", kube_namespace)
        try:
            for _ in watch.Watch().stream(
                core.list_namespaced_config_map,
                kube_namespace,
                resource_version=old,
                timeout_seconds=1,
            ):
                pass
        except client.ApiException as error:
            assert error.status == 410
            return
        assert time.monotonic() < end, "resourceVersion was never compacted"


def test_deleting_a_running_pod_terminates_it_and_it_disappears(
    core: client.CoreV1Api, kube_namespace: str, kubelet: KubeletSimulator
) -> None:
    kubelet.script("forever", RunUntilDeleted(logs=["started"]))
    core.create_namespaced_pod(kube_namespace, new_pod("forever"))
    running = wait_for(core, kube_namespace, "forever", phase_is("Running"))

    events = watch.Watch().stream(
        core.list_namespaced_pod,
        kube_namespace,
        field_selector="metadata.name=forever",
        resource_version=running.metadata.resource_version,
        timeout_seconds=15,
    )
    core.delete_namespaced_pod("forever", kube_namespace)
    seen: list[tuple[str, int | None]] = []
    for event in events:
        state = container_state(event["object"])
        seen.append((event["type"], state.terminated and state.terminated.exit_code))
        if event["type"] == "DELETED":
            break

    assert ("MODIFIED", 143) in seen
    assert seen[-1][0] == "DELETED"
    with pytest.raises(client.ApiException) as error:
        core.read_namespaced_pod("forever", kube_namespace)
    assert error.value.status == 404


def test_each_test_gets_a_fresh_active_namespace(
    core: client.CoreV1Api, kube: KubeEnvironment, kube_namespace: str
) -> None:
    assert kube_namespace != kube.namespace
    assert core.read_namespace(kube_namespace).status.phase == "Active"
    assert core.list_namespaced_pod(kube_namespace).items == []
