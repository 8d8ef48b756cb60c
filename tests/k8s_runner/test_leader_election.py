"""Leader election of the pod watcher on the real kube-apiserver: two
`manage.py watch_pods` processes, one Lease; a kill -9 of the leader mid-run
and a partition of the leader from the API server."""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.db import connection
from kubernetes import watch

from flowcore.leader import LeaderElector, Timing
from flowcore.states import TERMINAL_RUN_STATUSES, AttemptStatus, RunStatus
from k8s_runner.backends.kubernetes import client_from_config
from k8s_runner.backends.lease import KubernetesLeaseLock
from k8s_runner.manifests import ATTEMPT_ID_LABEL, SELECTOR
from tests.conftest import shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import Flowdeck, WatcherProcess, wait_until
from tests.k8s_runner.kubelet_sim import Succeed
from workflows.models import Attempt, LeaderLease, Run, RunEvent, TaskRun
from workflows.services.submit import create_workflow, submit_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# A shortened lease (the settings allow it) keeps the handover within seconds.
LEASE, RENEW, RETRY = 3.0, 2.0, 0.5
ELECTION = {
    "FLOWDECK_LEADER_ELECTION": "kubernetes",
    "FLOWDECK_LEADER_LEASE_SECONDS": str(LEASE),
    "FLOWDECK_LEADER_RENEW_SECONDS": str(RENEW),
    "FLOWDECK_LEADER_RETRY_SECONDS": str(RETRY),
}


@pytest.fixture(autouse=True)
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs the PostgreSQL test database")


class PodCreations:
    """Every pod the API server created in a namespace, by attempt id (a
    watch from the start: deleted pods are counted too)."""

    def __init__(self, kube: Any, namespace: str) -> None:
        self.uids: dict[str, set[str]] = defaultdict(set)
        self._watch = watch.Watch()
        self._core = kube.core()
        self._namespace = namespace
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # stop() ends the stream abruptly
            for event in self._watch.stream(
                self._core.list_namespaced_pod,
                self._namespace,
                label_selector=SELECTOR,
                timeout_seconds=600,
            ):
                pod = event["object"]
                attempt = pod.metadata.labels[ATTEMPT_ID_LABEL]
                self.uids[attempt].add(pod.metadata.uid)

    def stop(self) -> None:
        self._watch.stop()


def logged_at(process: WatcherProcess, text: str) -> datetime:
    """When `process` first logged a line containing `text`."""
    for line in process.output().splitlines():
        if text in line:
            found = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", line)
            assert found, line
            return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
    raise AssertionError(f"{text!r} not in the log")


def layered_run(user: Any, layers: int, width: int) -> Run:
    """`layers` x `width` tasks, each layer after the whole previous one: the
    successors are launched by whichever watcher records the ends."""
    tasks = []
    for layer in range(layers):
        for index in range(width):
            extra = (
                {"dependencies": [f"t{layer - 1}-{i}" for i in range(width)]}
                if layer
                else {}
            )
            tasks.append(shell_task(f"t{layer}-{index}", **extra))
    workflow = create_workflow(workflow_document("layers", tasks), author=user)
    return submit_run(workflow.latest_version, user=user)


def wait_for_end(run: Run, timeout: float) -> Run:
    """No sweep here: only the watchers move the run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in TERMINAL_RUN_STATUSES:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run still {run.status} after {timeout}s")


def assert_each_end_recorded_once(run: Run, tasks: int) -> None:
    assert TaskRun.objects.filter(run=run).count() == tasks
    attempts = Attempt.objects.filter(task_run__run=run)
    assert attempts.count() == tasks  # none relaunched as lost
    assert set(attempts.values_list("status", flat=True)) == {AttemptStatus.SUCCEEDED}
    ends = RunEvent.objects.filter(
        run=run, kind=RunEvent.Kind.ATTEMPT, status=AttemptStatus.SUCCEEDED
    )
    assert ends.count() == tasks
    assert len(set(ends.values_list("task", flat=True))) == tasks


def test_the_follower_takes_over_a_killed_leader_and_nothing_is_done_twice(
    flowdeck: Flowdeck,
    kube: Any,
    kube_namespace: str,
    kubelet: Any,
    user: Any,
    tmp_path: Path,
) -> None:
    for layer in range(10):
        for index in range(5):
            kubelet.script(f"t{layer}-{index}", Succeed(after=0.4))
    creations = PodCreations(kube, kube_namespace)
    kubeconfig = str(kube.kubeconfig)
    first = WatcherProcess(
        kubeconfig, kube_namespace, tmp_path / "a.log", **ELECTION
    ).start(until_watching=False)
    second: WatcherProcess | None = None
    try:
        wait_until(lambda: first.says("leads (generation"), 60, "a leader")
        wait_until(lambda: first.says("watching pods in"), 60, "it to watch")
        second = WatcherProcess(
            kubeconfig, kube_namespace, tmp_path / "b.log", **ELECTION
        ).start(until_watching=False)
        wait_until(lambda: second.says("campaigns"), 60, "a follower")
        time.sleep(2 * RETRY)  # it has seen the Lease held
        assert not second.says("leads (generation")

        run = layered_run(user, layers=10, width=5)
        from k8s_runner import reconcile

        reconcile.reconcile(run.pk)
        wait_until(
            lambda: (
                Attempt.objects.filter(
                    task_run__run=run, status=AttemptStatus.SUCCEEDED
                ).count()
                >= 12
            ),
            60,
            "a few layers done",
        )
        first.kill()
        killed = time.monotonic()
        wait_until(lambda: second.says("leads (generation"), 30, "the takeover")
        took = time.monotonic() - killed
        # client-go's bound: the lease, plus a retry period to notice.
        assert took <= LEASE + 2 * RETRY + 1.5, took
        run = wait_for_end(run, 120)
        assert run.status == RunStatus.SUCCEEDED, second.output()[-3000:]
    finally:
        creations.stop()
        first.kill()
        if second is not None:
            second.stop()
    assert_each_end_recorded_once(run, 50)
    ids = {
        str(pk)
        for pk in Attempt.objects.filter(task_run__run=run).values_list("pk", flat=True)
    }
    assert set(creations.uids) == ids
    assert all(len(uids) == 1 for uids in creations.uids.values()), creations.uids
    assert LeaderLease.objects.get(name="pod-watcher").generation == 2


class Partition:
    """A TCP proxy to the API server that can stop forwarding: connections
    stay open, bytes go nowhere, as on a network partition."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.blocked = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        peers = {client: upstream, upstream: client}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select(list(peers), [], [], 0.2)
                if self.blocked.is_set():
                    continue  # read nothing, forward nothing
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._stop.set()
        self.server.close()


def proxied_kubeconfig(kubeconfig: Path, port: int, path: Path) -> tuple[str, int]:
    """A copy of `kubeconfig` whose server is the proxy on `port`; the API
    server's address."""
    config = yaml.safe_load(kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    found = re.match(r"https://([^:/]+):(\d+)", server)
    assert found, server
    config["clusters"][0]["cluster"]["server"] = f"https://{found.group(1)}:{port}"
    path.write_text(yaml.safe_dump(config))
    return found.group(1), int(found.group(2))


@pytest.fixture
def partition(kube: Any) -> Iterator[Partition]:
    config = yaml.safe_load(Path(kube.kubeconfig).read_text())
    server = config["clusters"][0]["cluster"]["server"]
    found = re.match(r"https://([^:/]+):(\d+)", server)
    assert found, server
    proxy = Partition((found.group(1), int(found.group(2))))
    yield proxy
    proxy.close()


def test_a_partitioned_leader_stops_acting_before_the_follower_takes_over(
    flowdeck: Flowdeck,
    kube: Any,
    kube_namespace: str,
    kubelet: Any,
    user: Any,
    tmp_path: Path,
    partition: Partition,
) -> None:
    behind_proxy = tmp_path / "proxied-kubeconfig"
    proxied_kubeconfig(Path(kube.kubeconfig), partition.port, behind_proxy)
    first = WatcherProcess(
        str(behind_proxy), kube_namespace, tmp_path / "a.log", **ELECTION
    ).start(until_watching=False)
    second: WatcherProcess | None = None
    try:
        wait_until(lambda: first.says("watching pods in"), 60, "a leader")
        second = WatcherProcess(
            str(kube.kubeconfig), kube_namespace, tmp_path / "b.log", **ELECTION
        ).start(until_watching=False)
        wait_until(lambda: second.says("campaigns"), 60, "a follower")
        time.sleep(2 * RETRY)
        partition.blocked.set()
        wait_until(lambda: second.says("leads (generation"), 30, "the takeover")
        # The old leader gave up at its renew deadline, before the lease ran
        # out for the follower.
        assert first.says("lost the lease")
        assert logged_at(first, "lost the lease") < logged_at(
            second, "leads (generation"
        )
        # The new leader does the work; the old one, cut off, records nothing.
        run = layered_run(user, layers=3, width=3)
        from k8s_runner import reconcile

        reconcile.reconcile(run.pk)
        run = wait_for_end(run, 90)
        assert run.status == RunStatus.SUCCEEDED, second.output()[-3000:]
        # Healed, it stays a follower: the lease is held.
        partition.blocked.clear()
        time.sleep(LEASE)
        assert first.output().count("leads (generation") == 1
    finally:
        first.kill()
        if second is not None:
            second.stop()
    assert_each_end_recorded_once(run, 9)


def test_the_lease_lock_lets_one_candidate_lead_and_a_stale_one_wait(
    kube: Any, kube_namespace: str, transactional_db: Any
) -> None:
    """Two electors on one Lease in this process: one leads; the other takes
    over only once the leader's record has stood still for a lease."""
    generations = iter(range(1, 100))

    def lock() -> KubernetesLeaseLock:
        return KubernetesLeaseLock(
            lambda: client_from_config(str(kube.kubeconfig)),
            kube_namespace,
            "flowdeck-test",
            fence=lambda holder: next(generations),
            request_timeout=2.0,
        )

    timing = Timing(lease_seconds=1.5, renew_seconds=1.0, retry_seconds=0.2)
    a = LeaderElector(lock(), "a", timing=timing)
    b = LeaderElector(lock(), "b", timing=timing)
    stop_a, stop_b = threading.Event(), threading.Event()
    assert a.acquire(stop_a) == 1
    assert b.lock.try_take("b", timing.lease_seconds) is None
    lost, done = threading.Event(), threading.Event()
    keeper = threading.Thread(target=a.keep, args=(stop_a, lost, done), daemon=True)
    keeper.start()
    time.sleep(2.5)  # renewed all along: b never gets it
    assert b.lock.try_take("b", timing.lease_seconds) is None
    assert a.is_leader()
    stop_a.set()  # a clean stop releases the lease: b takes it at once
    done.set()
    keeper.join(5)
    assert b.acquire(stop_b) == 2
    stop_b.set()
