"""Whole runs on the Kubernetes backend against a real kube-apiserver + etcd,
with the kubelet simulator playing scheduler and kubelet (tests/k8s_runner/
conftest.py): every attempt a Pod, watched not polled, restart-safe."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from flowcore.spec import Limits
from flowcore.states import TERMINAL_RUN_STATUSES, AttemptStatus, RunStatus
from k8s_runner import reconcile
from k8s_runner.backends.base import BackendError, LiveAttempt
from k8s_runner.backends.kubernetes import ResourceExpired, delete_object
from k8s_runner.watcher import PodWatcher
from tests.conftest import shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import (
    FAST_RETRY,
    Flowdeck,
    attempts_of,
    true_pod,
    wait_until,
)
from tests.k8s_runner.kubelet_sim import (
    Evicted,
    Fail,
    ImagePullBackOff,
    KubeletSimulator,
    OOMKilled,
    RunUntilDeleted,
    Succeed,
)
from tests.k8s_runner.test_manifests import SHAPES, requests_of
from workflows.models import Attempt, Project, Run
from workflows.services.control import cancel_run
from workflows.services.submit import create_workflow, submit_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# --- whole runs ------------------------------------------------------------------


def test_a_diamond_runs_with_every_attempt_a_pod(flowdeck: Flowdeck, user: Any) -> None:
    flowdeck.backend_keep = 3600.0  # keep the pods to count them
    flowdeck.start_watcher()
    run = flowdeck.run(
        "diamond",
        [
            shell_task("a"),
            shell_task("b", dependencies=["a"]),
            shell_task("c", dependencies=["a"]),
            shell_task("d", dependencies=["b", "c"]),
        ],
        user,
    )
    run = flowdeck.finish(run)
    assert run.status == RunStatus.SUCCEEDED
    attempts = Attempt.objects.filter(task_run__run=run)
    assert attempts.count() == 4
    counts = flowdeck.pods_per_attempt()
    assert counts == Counter({str(attempt.pk): 1 for attempt in attempts})
    for attempt in attempts:
        namespace, name = attempt.handle.split("/")
        assert namespace == flowdeck.namespace
        assert attempt.status == AttemptStatus.SUCCEEDED and attempt.exit_code == 0
        assert attempt.started_at and attempt.finished_at
        assert Path(attempt.log_path).read_text() == f"ran {name}\n"
    # Pods run in dependency order: b and c only after a ended, d after both.
    ends = {a.task_run.name: a.finished_at for a in attempts.select_related("task_run")}
    starts = {
        a.task_run.name: a.started_at for a in attempts.select_related("task_run")
    }
    assert starts["b"] >= ends["a"] and starts["c"] >= ends["a"]
    assert starts["d"] >= max(ends["b"], ends["c"])


def test_finished_pods_are_deleted_once_their_end_is_recorded(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("slow", Succeed(after=1.0))
    flowdeck.start_watcher()
    run = flowdeck.run("tidy", [shell_task("quick"), shell_task("slow")], user)
    wait_until(
        lambda: (
            Attempt.objects.filter(
                task_run__run=run, status=AttemptStatus.SUCCEEDED
            ).count()
            == 1
        ),
        what="the quick task",
    )
    # The quick one's pod goes while the slow one still runs.
    wait_until(lambda: len(flowdeck.pods()) == 1, what="the quick pod's deletion")
    assert flowdeck.finish(run).status == RunStatus.SUCCEEDED
    wait_until(lambda: not flowdeck.pods(), what="every pod's deletion")
    for attempt in Attempt.objects.filter(task_run__run=run):
        assert Path(attempt.log_path).read_text().startswith("ran ")


def test_a_failed_exit_code_is_retried_per_the_retry_limit(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("flaky", Fail(exit_code=3), Fail(exit_code=4), Succeed())
    kubelet.script("broken", Fail(exit_code=2))
    flowdeck.start_watcher()
    run = flowdeck.run(
        "retries",
        [
            shell_task("flaky", retry=FAST_RETRY),
            shell_task("broken", retry={**FAST_RETRY, "limit": 1}),
        ],
        user,
    )
    run = flowdeck.finish(run)
    assert run.status == RunStatus.FAILED
    flaky = attempts_of(run, "flaky")
    assert [(a.status, a.exit_code) for a in flaky] == [
        (AttemptStatus.FAILED, 3),
        (AttemptStatus.FAILED, 4),
        (AttemptStatus.SUCCEEDED, 0),
    ]
    assert flaky[0].message == "exited with code 3"
    broken = attempts_of(run, "broken")
    assert [(a.status, a.exit_code) for a in broken] == [(AttemptStatus.FAILED, 2)] * 2


def test_an_eviction_is_an_error_retried_only_when_retry_on_says_error(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("tolerant", Evicted(), Succeed())
    kubelet.script("strict", Evicted(), Succeed())
    flowdeck.start_watcher()
    run = flowdeck.run(
        "evictions",
        [
            shell_task("tolerant", retry={**FAST_RETRY, "on": ["Error"]}),
            shell_task("strict", retry={**FAST_RETRY, "on": ["Failed"]}),
        ],
        user,
    )
    run = flowdeck.finish(run)
    tolerant = attempts_of(run, "tolerant")
    assert [a.status for a in tolerant] == [
        AttemptStatus.ERROR,
        AttemptStatus.SUCCEEDED,
    ]
    assert tolerant[0].reason == "Evicted"
    assert tolerant[0].message.startswith("The node was low on resource: memory.")
    strict = attempts_of(run, "strict")
    assert [(a.status, a.reason) for a in strict] == [(AttemptStatus.ERROR, "Evicted")]
    assert run.tasks.get(name="strict").status == "Error"


def test_an_oom_kill_is_recorded_as_such(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("hungry", OOMKilled())
    flowdeck.start_watcher()
    run = flowdeck.finish(flowdeck.run("oom", [shell_task("hungry")], user))
    [attempt] = attempts_of(run, "hungry")
    assert (attempt.status, attempt.reason, attempt.exit_code) == (
        AttemptStatus.FAILED,
        "OOMKilled",
        137,
    )
    assert "out of memory" in attempt.message


def test_an_image_that_cannot_be_pulled_is_an_error_after_the_grace(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("pull", ImagePullBackOff())
    flowdeck.start_watcher()
    run = flowdeck.run(
        "pulls", [shell_task("pull", image="registry.invalid/x:1")], user
    )
    # First Pending, with the kubelet's reason for the UI to show...
    pending = wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, status=AttemptStatus.PENDING, reason="ImagePullBackOff"
        ).first(),
        what="a Pending attempt showing ImagePullBackOff",
    )
    assert 'Back-off pulling image "registry.invalid/x:1"' in pending.message
    # ...then an Error once the grace (1 s here) is over, with no new pod event.
    run = flowdeck.finish(run)
    [attempt] = attempts_of(run, "pull")
    assert (attempt.status, attempt.reason) == (AttemptStatus.ERROR, "ImagePullBackOff")
    assert attempt.finished_at is not None
    wait_until(lambda: not flowdeck.pods(), what="the stuck pod's deletion")


def test_cancelling_a_run_deletes_its_pods(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("forever", RunUntilDeleted(logs=["working"]))
    flowdeck.start_watcher()
    run = flowdeck.run("cancel", [shell_task("forever")], user)
    wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, status=AttemptStatus.RUNNING
        ).exists(),
        what="the running attempt",
    )
    assert len(flowdeck.pods()) == 1
    cancel_run(run.pk)
    reconcile.reconcile(run.pk)
    wait_until(lambda: not flowdeck.pods(), what="the pod's deletion")
    run = flowdeck.finish(run)
    assert run.status == RunStatus.CANCELLED
    [attempt] = attempts_of(run, "forever")
    assert attempt.status == AttemptStatus.CANCELLED
    # What it logged before the cancel was archived.
    assert Path(attempt.log_path).read_text() == "working\n"


def test_a_pod_deleted_behind_our_back_ends_its_attempt_as_error(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("victim", RunUntilDeleted())
    flowdeck.start_watcher()
    run = flowdeck.run("victim", [shell_task("victim")], user)
    attempt = wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, status=AttemptStatus.RUNNING
        ).first(),
        what="the running attempt",
    )
    namespace, name = attempt.handle.split("/")
    flowdeck.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    run = flowdeck.finish(run)
    attempt.refresh_from_db()
    # The simulator ends the container (143) before it removes the pod, as a
    # kubelet does: that exit is what the attempt records.
    assert attempt.status in (AttemptStatus.FAILED, AttemptStatus.ERROR)
    assert run.status == RunStatus.FAILED


# --- the watch and restarts ---------------------------------------------------------


def test_a_compacted_watch_lists_again_without_losing_events(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    """Driven step by step: the watcher lists, then sleeps through everything
    the run does and through etcd's compaction, so its next watch gets 410
    Gone; it lists again and the run still completes."""
    kubelet.script("gone", RunUntilDeleted())
    watcher = PodWatcher(flowdeck.backend, watch_timeout_seconds=1)
    watcher.run_once()  # the first list
    watch = watcher.watches[flowdeck.namespace]
    assert watch.lists == 1
    run = flowdeck.run(
        "compacted", [shell_task("a"), shell_task("b", dependencies=["a"])], user
    )
    other = flowdeck.run("doomed", [shell_task("gone")], user)
    [doomed] = attempts_of(other, "gone")
    # Wait until a's pod has ended (it runs 0.1 s) and the doomed pod runs; then
    # delete the doomed pod while nobody watches.
    wait_until(
        lambda: (
            all(pod.status.phase in ("Succeeded", "Running") for pod in flowdeck.pods())
            and len(flowdeck.pods()) == 2
        ),
        what="a ended and the doomed pod running",
    )

    def handle_recorded() -> bool:
        # From the launch's own report (the report pump records it a moment
        # later, after its coalescing window), not from an event: nobody
        # watches.
        doomed.refresh_from_db()
        return bool(doomed.handle)

    wait_until(handle_recorded, 10, "the doomed attempt's handle")
    flowdeck.core.delete_namespaced_pod(
        doomed.handle.split("/")[1], flowdeck.namespace, grace_period_seconds=0
    )
    wait_until(lambda: len(flowdeck.pods()) == 1, what="the doomed pod's removal")
    stale = watch.resource_version

    def compacted() -> bool:
        # A probe of our own (its events go nowhere): a watch from the stale
        # position replays what happened until etcd has compacted it away.
        try:
            for _ in flowdeck.backend.watch_pods(
                flowdeck.namespace, stale, timeout_seconds=1
            ):
                pass
        except ResourceExpired:
            return True
        return False

    wait_until(compacted, 60, "etcd to compact the stale resourceVersion")
    watcher.run_once()  # watches from the stale position: 410, so it lists next
    assert watch.resource_version is None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        watcher.run_once()
        run.refresh_from_db()
        other.refresh_from_db()
        if (
            run.status in TERMINAL_RUN_STATUSES
            and other.status in TERMINAL_RUN_STATUSES
        ):
            break
        reconcile.sweep()
    assert watch.lists >= 2
    assert run.status == RunStatus.SUCCEEDED
    doomed.refresh_from_db()
    assert (doomed.status, doomed.reason) == (AttemptStatus.ERROR, "PodLost")
    assert doomed.message.endswith("disappeared")


def test_a_bookmark_moves_the_watch_position_on(flowdeck: Flowdeck) -> None:
    watcher = PodWatcher(flowdeck.backend, watch_timeout_seconds=2)
    watcher.run_once()
    watch = watcher.watches[flowdeck.namespace]
    listed = watch.resource_version
    # Something else changes in the cluster, not in our pods: a config map.
    from kubernetes.client import V1ConfigMap, V1ObjectMeta

    flowdeck.core.create_namespaced_config_map(
        flowdeck.namespace,
        V1ConfigMap(metadata=V1ObjectMeta(name="unrelated"), data={"a": "b"}),
    )
    watcher.run_once()  # one watch request, ended by its 2 s timeout
    assert watch.resource_version is not None
    assert watch.lists == 1  # no 410, no new list
    assert int(watch.resource_version) >= int(listed)


def test_the_watcher_killed_mid_run_loses_no_task_and_starts_none_twice(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    flowdeck.backend_keep = 3600.0  # keep every pod to count them
    for task in ("a", "b", "c", "d", "e"):
        kubelet.script(task, Succeed(after=0.6))
    flowdeck.start_watcher()
    run = flowdeck.run(
        "restart",
        [
            shell_task("a"),
            shell_task("b", dependencies=["a"]),
            shell_task("c", dependencies=["a"]),
            shell_task("d", dependencies=["b", "c"]),
            shell_task("e", dependencies=["d"]),
        ],
        user,
    )
    wait_until(
        lambda: Attempt.objects.filter(
            task_run__run=run, task_run__name="b", status=AttemptStatus.RUNNING
        ).exists(),
        what="b running",
    )
    flowdeck.stop_watcher()  # b and c finish while nobody watches
    wait_until(
        lambda: sum(pod.status.phase == "Succeeded" for pod in flowdeck.pods()) == 3,
        what="a, b and c to end unwatched",
    )
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    reconcile.recover()  # what a restarted worker does, then a new watcher
    flowdeck.start_watcher()
    run = flowdeck.finish(run)
    assert run.status == RunStatus.SUCCEEDED
    attempts = Attempt.objects.filter(task_run__run=run)
    assert sorted(a.task_run.name for a in attempts.select_related("task_run")) == [
        "a",
        "b",
        "c",
        "d",
        "e",
    ]
    assert flowdeck.pods_per_attempt() == Counter({str(a.pk): 1 for a in attempts})
    assert all(Path(a.log_path).read_text().startswith("ran ") for a in attempts)


def test_recover_relaunches_what_was_never_launched_and_deletes_orphans(
    flowdeck: Flowdeck, kubelet: Any, user: Any
) -> None:
    kubelet.script("orphan", RunUntilDeleted())
    backend = flowdeck.backend
    orphan = true_pod(999_999, 1, "gone", "orphan")
    backend.launch(orphan)
    wait_until(lambda: len(flowdeck.pods()) == 1, what="the orphan pod")
    # A young orphan is left alone (its attempt may be newer than the list
    # of live ones); pretend it is old.
    later = backend.clock() + timedelta(minutes=5)
    backend.clock = lambda: later
    assert backend.recover([LiveAttempt(123_456, "")]) == [123_456]
    wait_until(lambda: not flowdeck.pods(), what="the orphan's deletion")


def test_a_repeated_launch_adopts_the_pod_instead_of_starting_another(
    flowdeck: Flowdeck, kubelet: Any
) -> None:
    reports: list[Any] = []
    backend = flowdeck.backend
    backend._reporter = reports.append
    request = true_pod(77, 5, "twice", "t")
    backend.launch(request)
    backend.launch(request)
    assert len(flowdeck.pods()) == 1
    assert [r.status for r in reports][:1] == [AttemptStatus.PENDING]
    assert all(r.handle == f"{flowdeck.namespace}/twice-5-t-1" for r in reports)
    # A pod of that name that is another attempt's is not adopted.
    impostor = dataclasses.replace(request, attempt_id=78)
    with pytest.raises(BackendError) as raised:
        backend.launch(impostor)
    assert raised.value.permanent and "belongs to attempt 77" in str(raised.value)


def test_a_pod_another_attempt_with_the_id_left_is_deleted_not_adopted(
    flowdeck: Flowdeck, kubelet: Any
) -> None:
    """A database reset or restored gives ids again: the new attempt's pod name
    meets the old attempt's pod. Its stamp tells them apart; the old one is
    deleted and the launch tried again (transient), then it creates its own,
    and a report of the old pod carries the old stamp."""
    reports: list[Any] = []
    backend = flowdeck.backend
    backend._reporter = reports.append
    old = true_pod(
        79,
        6,
        "again",
        "t",
        attempt_created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    backend.launch(old)
    [left] = flowdeck.pods()
    assert reports[0].attempt_stamp == "2026-01-01T00:00:00+00:00"
    new = dataclasses.replace(old, attempt_created_at=datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(BackendError) as raised:
        backend.launch(new)
    assert not raised.value.permanent
    assert "left by another attempt with id 79" in str(raised.value)
    wait_until(lambda: not flowdeck.pods(), what="the old pod's deletion")
    backend.launch(new)
    [created] = flowdeck.pods()
    assert created.metadata.uid != left.metadata.uid
    annotations = created.metadata.annotations
    assert annotations["flowdeck.io/attempt-created"] == "2026-03-01T00:00:00+00:00"
    observed = backend.observe(created)  # what the watcher reports of it
    assert observed is not None
    assert observed.attempt_stamp == "2026-03-01T00:00:00+00:00"
    # The same attempt launched again still adopts its own pod.
    backend.launch(new)
    assert [pod.metadata.uid for pod in flowdeck.pods()] == [created.metadata.uid]


def test_deleting_a_pod_gone_already_is_fine_and_a_refused_delete_says_why(
    flowdeck: Flowdeck,
) -> None:
    """The delete reads only the answer's status (not the pod it returns):
    404 is done, anything else a BackendError naming the pod and the cause."""
    namespace = flowdeck.namespace
    flowdeck.backend.delete_pod(namespace, "never-was", grace_seconds=0)
    flowdeck.core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "plain"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        },
    )
    with pytest.raises(BackendError) as raised:
        # Every delete of ours goes through delete_object; the API server
        # refuses this one's options.
        delete_object(
            flowdeck.core.delete_namespaced_pod,
            namespace,
            "plain",
            "pod",
            propagation_policy="Sometimes",
        )
    assert str(raised.value).startswith(f"deleting pod {namespace}/plain: 4")
    assert "Sometimes" in str(raised.value)
    assert raised.value.permanent
    assert flowdeck.backend.read_pod(namespace, "plain") is not None
    flowdeck.backend.delete_pod(namespace, "plain", grace_seconds=0)
    wait_until(
        lambda: flowdeck.backend.read_pod(namespace, "plain") is None,
        what="the pod's deletion",
    )


def test_the_apiserver_refusing_a_pod_is_a_permanent_error(flowdeck: Flowdeck) -> None:
    request = true_pod(
        88,
        5,
        "bad",
        "t",
        namespace="no-such-namespace",
    )
    with pytest.raises(BackendError) as raised:
        flowdeck.backend.launch(request)
    assert raised.value.permanent
    assert raised.value.reason == "NamespaceNotFound"
    assert str(raised.value).startswith("namespace no-such-namespace does not exist")
    assert str(raised.value).endswith("(from the workflow's spec.namespace)")


@pytest.mark.parametrize(
    "task",
    [task for _, task in SHAPES],
    ids=[name for name, _ in SHAPES],
)
def test_the_api_server_accepts_every_task_shape(
    flowdeck: Flowdeck, task: dict[str, Any]
) -> None:
    """The offline schema check's counterpart: the real API server (1.20 here)
    validates and admits each pod; none is played (no task is scripted, and
    the pods are deleted before the simulator gets far)."""
    from kubernetes.client import SchedulingV1Api, V1ObjectMeta, V1PriorityClass

    scheduling = SchedulingV1Api(flowdeck.core.api_client)
    for name in ("batch.low",):
        with contextlib.suppress(ApiException):  # 409: made by an earlier case
            scheduling.create_priority_class(
                V1PriorityClass(metadata=V1ObjectMeta(name=name), value=10)
            )
    document = workflow_document("shapes", [task])
    [request] = requests_of(document, Limits(allow_privileged=True))
    backend = flowdeck.backend
    backend.allow_privileged = True
    request = dataclasses.replace(request, namespace=flowdeck.namespace)
    if request.security_context.get("privileged"):
        # This API server runs without --allow-privileged, as a cluster whose
        # policy forbids them would: a final refusal, the attempt's Error.
        with pytest.raises(BackendError) as raised:
            backend.launch(request)
        assert raised.value.permanent
        assert "privileged: Forbidden: disallowed by cluster policy" in str(
            raised.value
        )
        return
    backend.launch(request)
    [pod] = flowdeck.pods()
    assert pod.metadata.name == request.name
    assert pod.spec.containers[0].name == "main"


# --- namespaces ------------------------------------------------------------------


def test_a_run_s_pods_go_to_its_project_s_namespace_or_another_of_its_it_names(
    flowdeck: Flowdeck, kube: Any, user: Any
) -> None:
    elsewhere = kube.cluster.create_namespace()
    blue = Project.objects.create(
        name="blue", namespace=elsewhere, extra_namespaces=[flowdeck.namespace]
    )
    flowdeck.start_watcher()
    home = flowdeck.run("home", [shell_task("a")], user)
    away = submit_run(
        create_workflow(
            workflow_document("away", [shell_task("a"), shell_task("b")]),
            author=user,
            project=blue,
        ).latest_version,
        user=user,
    )
    pinned = submit_run(
        create_workflow(
            workflow_document(
                "pinned", [shell_task("a")], namespace=flowdeck.namespace
            ),
            author=user,
            project=blue,
        ).latest_version,
        user=user,
    )
    reconcile.reconcile(away.pk)
    reconcile.reconcile(pinned.pk)
    # A watcher in another process learns the new namespace from the database.
    from k8s_runner.watcher import DatabaseBook

    assert {flowdeck.namespace, elsewhere} <= DatabaseBook().live_namespaces()
    with (
        kube.api_client() as api,
        KubeletSimulator(api, elsewhere, node_name="sim-node-blue") as sim,
    ):
        for run in (home, away, pinned):
            assert flowdeck.finish(run).status == RunStatus.SUCCEEDED
    assert not sim.errors

    def namespaces_of(run: Run) -> set[str]:
        return {
            handle.split("/")[0]
            for handle in Attempt.objects.filter(task_run__run=run).values_list(
                "handle", flat=True
            )
        }

    assert namespaces_of(home) == {flowdeck.namespace}
    assert namespaces_of(away) == {elsewhere}
    assert namespaces_of(pinned) == {flowdeck.namespace}
    assert elsewhere in flowdeck.watcher.watches  # type: ignore[union-attr]


def test_a_project_s_new_namespace_applies_to_new_runs_not_to_a_running_one(
    diamond: Any, project: Project
) -> None:
    cache = reconcile.RunNamespaces(size=2)
    Project.objects.filter(pk=project.pk).update(namespace="team")
    running = submit_run(diamond.latest_version, user=diamond.owner)
    assert cache.get({running.pk}) == {running.pk: ("team",)}
    Project.objects.filter(pk=project.pk).update(
        namespace="moved", extra_namespaces=["gpu"]
    )
    later = submit_run(diamond.latest_version, user=diamond.owner)
    assert cache.get({running.pk, later.pk}) == {
        running.pk: ("team",),
        later.pk: ("moved", "gpu"),
    }
    cache.remember({-1: ("x",)})  # the least recently used run falls out
    assert cache.get_cached(running.pk) is None
