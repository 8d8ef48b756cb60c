"""The pod watcher, step by step, against a scripted stand-in for the cluster:
list then watch, bookmarks, 410 Gone, deletions, the pull grace, clean-up,
reconnecting; and the backend's own pure parts (errors, the rate limiter)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.client.models import V1Pod

from flowcore.reports import Report
from flowcore.states import AttemptStatus
from k8s_runner.backends.base import BackendError
from k8s_runner.backends.kubernetes import (
    KubernetesBackend,
    PodEvent,
    ResourceExpired,
    TokenBucket,
    api_error,
)
from k8s_runner.pod_request import PodRequest
from k8s_runner.watcher import DatabaseBook, PodWatcher

PODS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "pods"
T0 = datetime(2025, 3, 1, 10, 0, 30, tzinfo=UTC)
NS = "flowdeck"


def pod(fixture: str, *, attempt_id: int = 1207, uid: str | None = None) -> V1Pod:
    data = json.loads((PODS / f"{fixture}.json").read_text())
    data["metadata"]["labels"]["flowdeck.io/attempt-id"] = str(attempt_id)
    data["metadata"]["name"] = f"pod-{attempt_id}"
    data["metadata"]["uid"] = uid or f"uid-{attempt_id}"
    read: V1Pod = ApiClient().deserialize(json.dumps(data), "V1Pod", "application/json")
    return read


class Stream:
    def __init__(self, events: Iterable[PodEvent | Exception]) -> None:
        self.events = list(events)
        self.stopped = False

    def __iter__(self) -> Iterator[PodEvent]:
        for event in self.events:
            if self.stopped:
                return
            if isinstance(event, Exception):
                raise event
            yield event

    def stop(self) -> None:
        self.stopped = True


class FakeJobs:
    """The Job side of the backend: no Jobs unless a test lists some."""

    def __init__(self) -> None:
        self.listings: list[tuple[list[Any], str]] = []
        self.deleted: list[str] = []
        self.archived: list[str] = []

    def list_jobs(self, namespace: str) -> tuple[list[Any], str]:
        return self.listings.pop(0) if self.listings else ([], "1")

    def watch(
        self, namespace: str, resource_version: str, *, timeout_seconds: int
    ) -> Stream:
        return Stream([])

    def archive(self, job: Any) -> str:
        self.archived.append(job.metadata.name)
        return f"/logs/{job.metadata.name}.log"

    def delete(self, namespace: str, name: str) -> None:
        self.deleted.append(name)


class FakeCluster:
    """The part of KubernetesBackend the watcher uses, scripted."""

    def __init__(self) -> None:
        self.jobs = FakeJobs()
        self.now = T0
        self.image_pull_grace_seconds = 120.0
        self.delete_grace_seconds = 30
        self.listings: list[tuple[list[V1Pod], str]] = []
        self.streams: list[Stream | Exception] = []
        self.calls: list[tuple[Any, ...]] = []
        self.reports: list[Report] = []
        self.existing: set[str] = set()  # names read_pod finds
        self.deleted: list[str] = []
        self.archived: list[str] = []
        self._namespaces = {NS}

    def clock(self) -> datetime:
        return self.now

    def namespaces(self) -> set[str]:
        return set(self._namespaces)

    def remember_namespace(self, namespace: str) -> None:
        self._namespaces.add(namespace)

    def list_pods(self, namespace: str) -> tuple[list[V1Pod], str]:
        self.calls.append(("list", namespace))
        return self.listings.pop(0)

    def watch_pods(
        self, namespace: str, resource_version: str, *, timeout_seconds: int
    ) -> Stream:
        self.calls.append(("watch", namespace, resource_version, timeout_seconds))
        stream = self.streams.pop(0) if self.streams else Stream([])
        if isinstance(stream, Exception):
            raise stream
        return stream

    def read_pod(self, namespace: str, name: str) -> V1Pod | None:
        return pod("running") if name in self.existing else None

    def delete_pod(self, namespace: str, name: str, *, grace_seconds: int) -> None:
        self.deleted.append(name)

    def log_path_of(self, pod: V1Pod) -> Path:
        return Path(f"/logs/{pod.metadata.name}.log")

    def archive_quietly(self, pod: V1Pod) -> str:
        self.archived.append(pod.metadata.name)
        return f"/logs/{pod.metadata.name}.log"

    def report(self, report: Report) -> None:
        self.reports.append(report)


class Book:
    def __init__(self) -> None:
        self.handles: dict[int, str] = {}
        self.status: dict[int, str] = {}

    def live_namespaces(self) -> set[str]:
        return set()

    def live_handles(self, namespace: str) -> dict[int, str]:
        return dict(self.handles)

    def statuses(self, attempt_ids: Iterable[int]) -> dict[int, str]:
        return {i: self.status[i] for i in attempt_ids if i in self.status}


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def book() -> Book:
    return Book()


@pytest.fixture
def watcher(cluster: FakeCluster, book: Book) -> PodWatcher:
    return PodWatcher(cluster, book=book, watch_timeout_seconds=300)  # type: ignore[arg-type]


def event(kind: str, item: V1Pod | None, version: str) -> PodEvent:
    return PodEvent(kind, item, version)


def said(cluster: FakeCluster) -> list[tuple[int, str, str]]:
    return [(r.attempt_id, r.status.value, r.reason) for r in cluster.reports]


# --- list, then watch -----------------------------------------------------------


def test_it_lists_then_watches_from_the_lists_resource_version(
    cluster: FakeCluster, watcher: PodWatcher
) -> None:
    cluster.listings.append(([pod("running", attempt_id=1)], "100"))
    cluster.streams.append(
        Stream(
            [
                event("MODIFIED", pod("succeeded", attempt_id=1), "104"),
                event("BOOKMARK", None, "130"),
            ]
        )
    )
    watcher.run_once()
    watcher.run_once()
    watcher.run_once()
    assert cluster.calls == [
        ("list", NS),
        ("watch", NS, "100", 300),
        ("watch", NS, "130", 300),  # the bookmark moved the position on
    ]
    assert said(cluster) == [(1, "Running", ""), (1, "Succeeded", "")]
    # Every report names where the log goes, not only the last one.
    assert [r.log_path for r in cluster.reports] == ["/logs/pod-1.log"] * 2


def test_a_finished_attempts_log_is_archived_before_the_report_that_ends_it(
    cluster: FakeCluster, watcher: PodWatcher
) -> None:
    cluster.listings.append(([pod("oom-killed", attempt_id=3)], "7"))
    watcher.run_once()
    [report] = cluster.reports
    assert cluster.archived == ["pod-3"]
    assert (report.status, report.reason, report.log_path) == (
        AttemptStatus.FAILED,
        "OOMKilled",
        "/logs/pod-3.log",
    )


def test_what_was_said_already_is_not_said_again(
    cluster: FakeCluster, watcher: PodWatcher
) -> None:
    running = pod("running", attempt_id=1)
    cluster.listings.append(([running], "1"))
    cluster.streams.append(
        Stream([event("MODIFIED", running, "2"), event("MODIFIED", running, "3")])
    )
    watcher.run_once()
    watcher.run_once()
    assert said(cluster) == [(1, "Running", "")]


def test_a_410_lists_again_and_a_pod_gone_meanwhile_ends_as_error(
    cluster: FakeCluster, book: Book, watcher: PodWatcher
) -> None:
    cluster.listings.append(([pod("running", attempt_id=1)], "10"))
    cluster.streams.append(Stream([ResourceExpired("too old resource version")]))
    cluster.listings.append(([pod("succeeded", attempt_id=1)], "50"))
    watcher.run_once()  # the list
    # Attempt 2 ran, then vanished while the watch was away; attempt 3's pod
    # was created after the list (read_pod finds it); 1 ended meanwhile.
    book.handles = {1: f"{NS}/pod-1", 2: f"{NS}/pod-2", 3: f"{NS}/pod-3"}
    cluster.existing = {"pod-3"}
    watcher.run_once()  # the watch meets 410
    watch = watcher.watches[NS]
    assert watch.resource_version is None
    watcher.run_once()  # lists again
    assert watch.lists == 2 and watch.resource_version == "50"
    assert said(cluster) == [
        (1, "Running", ""),
        (1, "Succeeded", ""),
        (2, "Error", "PodLost"),
    ]
    assert cluster.reports[-1].message == f"pod {NS}/pod-2 disappeared"


def test_a_deleted_pod_that_had_not_finished_ends_its_attempt_as_error(
    cluster: FakeCluster, watcher: PodWatcher
) -> None:
    cluster.listings.append(([pod("running", attempt_id=1)], "1"))
    cluster.streams.append(
        Stream(
            [
                event("DELETED", pod("running", attempt_id=1), "2"),
                event("MODIFIED", pod("succeeded", attempt_id=2), "3"),
                event("DELETED", pod("succeeded", attempt_id=2), "4"),
            ]
        )
    )
    watcher.run_once()
    watcher.run_once()
    assert said(cluster) == [
        (1, "Running", ""),
        (1, "Error", "PodDeleted"),
        (2, "Succeeded", ""),  # its deletion says nothing new
    ]


def test_a_wait_that_may_heal_becomes_an_error_without_a_new_event(
    cluster: FakeCluster, watcher: PodWatcher
) -> None:
    cluster.listings.append(([pod("image-pull-backoff", attempt_id=4)], "1"))
    watcher.run_once()
    assert said(cluster) == [(4, "Pending", "ImagePullBackOff")]
    cluster.now = T0 + timedelta(seconds=60)
    watcher.housekeep()
    assert len(cluster.reports) == 1
    cluster.now = T0 + timedelta(seconds=92)  # startTime 10:00:02 + 120 s
    watcher.housekeep()
    assert said(cluster)[-1] == (4, "Error", "ImagePullBackOff")
    assert cluster.archived == ["pod-4"]


# --- clean-up -------------------------------------------------------------------


def test_pods_of_ended_attempts_are_deleted_once_the_end_is_recorded(
    cluster: FakeCluster, book: Book, watcher: PodWatcher
) -> None:
    watcher.keep_finished_seconds = 10
    cluster.listings.append(
        (
            [
                pod("succeeded", attempt_id=1),
                pod("running", attempt_id=2),  # a cancel whose delete failed
                pod("running", attempt_id=3),  # still running
                pod("running", attempt_id=4),  # no attempt owns it
            ],
            "1",
        )
    )
    book.status = {1: "Running", 2: "Cancelled", 3: "Running"}
    watcher.run_once()
    assert cluster.deleted == []  # 1's end is not recorded yet; 2 and 4 kept 10 s
    book.status[1] = "Succeeded"
    cluster.now += timedelta(seconds=5)
    watcher.housekeep()
    assert cluster.deleted == []
    cluster.now += timedelta(seconds=6)
    watcher.housekeep()
    assert cluster.deleted == ["pod-2", "pod-4"]  # 1's retention counts from now
    cluster.now += timedelta(seconds=10)
    watcher.housekeep()
    watcher.housekeep()
    assert cluster.deleted == ["pod-2", "pod-4", "pod-1"]
    # Each log was archived before its pod went.
    assert set(cluster.archived) == {"pod-1", "pod-2", "pod-4"}


# --- running for real -------------------------------------------------------------


def test_it_reconnects_after_faults_and_stops_when_asked(
    cluster: FakeCluster, watcher: PodWatcher
) -> None:
    watcher.backoff_seconds = (0.01, 0.02)
    watcher.housekeeping_seconds = 0.01
    cluster.listings.append(([], "1"))
    cluster.listings.append(([pod("running", attempt_id=9)], "2"))
    cluster.streams = [
        BackendError("connection refused"),
        BackendError("connection refused"),
        Stream([ResourceExpired("gone")]),
    ]
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run_forever, args=(stop,))
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not cluster.reports and datetime.now(UTC) < deadline:
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert said(cluster) == [(9, "Running", "")]
    kinds = [call[0] for call in cluster.calls[:5]]
    assert kinds == ["list", "watch", "watch", "watch", "list"]


# --- the backend's pure parts -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "permanent", "kind"),
    [
        (400, True, BackendError),
        (403, True, BackendError),
        (404, True, BackendError),
        (422, True, BackendError),
        (401, False, BackendError),
        (409, False, BackendError),
        (429, False, BackendError),
        (500, False, BackendError),
        (503, False, BackendError),
        (410, False, ResourceExpired),
    ],
)
def test_api_faults_say_whether_they_are_final(
    status: int, permanent: bool, kind: type[BackendError]
) -> None:
    body = json.dumps({"kind": "Status", "message": f"it went {status}"})
    error = api_error(ApiException(status=status, reason="x", body=body), "creating")
    assert type(error) is kind
    assert error.permanent is permanent
    assert str(error) == f"creating: {status} it went {status}"


def test_a_connection_fault_is_transient() -> None:
    error = api_error(ConnectionRefusedError("refused"), "listing pods")
    assert not error.permanent and "refused" in str(error)


def test_the_rate_limiter_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(10, 3, clock=lambda: now[0], sleep=sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3:] == pytest.approx([0.1, 0.1, 0.1])
    assert TokenBucket(0, 1).acquire() == 0  # 0: unlimited


def test_a_privileged_pod_is_refused_unless_allowed(tmp_path: Path) -> None:
    def no_client() -> Any:
        raise AssertionError("the API is not reached")

    backend = KubernetesBackend(
        lambda report: None, api_client=no_client, data_dir=tmp_path
    )
    request = PodRequest(
        1, 1, "wf", 1, "t", 1, "busybox", (), (), security_context={"privileged": True}
    )
    with pytest.raises(BackendError) as raised:
        backend.launch(request)
    assert raised.value.permanent
    assert str(raised.value) == (
        "securityContext privileged: true is not allowed unless an administrator"
        " allows privileged containers (FLOWDECK_K8S_ALLOW_PRIVILEGED)"
    )


def test_the_database_book_finds_live_attempts(
    transactional_db: Any, user: Any
) -> None:
    from tests.conftest import shell_task, workflow_document
    from workflows.models import Attempt
    from workflows.services.advance import advance_run
    from workflows.services.projects import update_project
    from workflows.services.submit import create_workflow, default_project, submit_run

    update_project(default_project(), extra_namespaces=["team-a"])
    document = workflow_document(
        "book", [shell_task("a"), shell_task("b")], namespace="team-a"
    )
    run = submit_run(create_workflow(document, author=user).latest_version, user=user)
    advance_run(run.pk, backend="kubernetes")
    a, b = Attempt.objects.filter(task_run__run=run).order_by("task_run__name")
    Attempt.objects.filter(pk=a.pk).update(handle="team-a/book-1-a-1")
    Attempt.objects.filter(pk=b.pk).update(status="Succeeded", handle="team-a/x")
    book = DatabaseBook()
    assert book.live_namespaces() == {"team-a"}
    assert book.live_handles("team-a") == {a.pk: "team-a/book-1-a-1"}
    assert book.live_handles("other") == {}
    assert book.statuses([a.pk, b.pk, 0]) == {a.pk: "Launching", b.pk: "Succeeded"}


def test_a_pod_fixture_copy_is_independent() -> None:
    first = pod("running", attempt_id=1)
    second = copy.deepcopy(first)
    second.metadata.labels["x"] = "y"
    assert "x" not in first.metadata.labels


def test_reports_out_of_order_and_new_waiting_reasons_are_recorded_sensibly(
    transactional_db: Any, user: Any
) -> None:
    """The launcher's Pending and the watcher's reports race: a Pending that
    arrives after Running changes nothing (and breaks nothing), while a new
    reason to wait is shown on a Pending attempt."""
    from tests.conftest import shell_task, workflow_document
    from workflows.models import Attempt
    from workflows.services.advance import advance_run
    from workflows.services.attempts import record_reports
    from workflows.services.submit import create_workflow, submit_run

    document = workflow_document("order", [shell_task("a"), shell_task("b")])
    run = submit_run(create_workflow(document, author=user).latest_version, user=user)
    advance_run(run.pk, backend="kubernetes")
    a, b = Attempt.objects.filter(task_run__run=run).order_by("task_run__name")
    pending = AttemptStatus.PENDING
    record_reports(
        [
            Report(a.pk, AttemptStatus.RUNNING, handle="ns/a", log_path="/l/a"),
            Report(a.pk, pending, handle="ns/a", log_path="/l/a"),
            Report(b.pk, pending, handle="ns/b"),
            Report(b.pk, pending, reason="ContainerCreating"),
            Report(b.pk, pending, reason="ImagePullBackOff", message="Back-off"),
        ]
    )
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, a.handle, a.log_path) == ("Running", "ns/a", "/l/a")
    assert (b.status, b.handle, b.reason, b.message) == (
        "Pending",
        "ns/b",
        "ImagePullBackOff",
        "Back-off",
    )


def test_the_command_needs_the_kubernetes_backend(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.management import CommandError, call_command

    from k8s_runner import reconcile

    settings.FLOWDECK_BACKEND = "local"
    monkeypatch.setattr(reconcile, "_backend", None)
    with pytest.raises(CommandError, match="needs FLOWDECK_BACKEND=kubernetes"):
        call_command("watch_pods")
    reconcile._backend = None


def test_lanes_keep_each_pods_events_in_order_and_do_not_wait_for_other_pods():
    """A pod whose event is slow to handle (its log archive) holds up its own
    later events only."""
    import time

    from kubernetes.client import V1ObjectMeta

    from k8s_runner.watcher import _Lanes

    slow_started, release = threading.Event(), threading.Event()
    handled: list[tuple[str, str]] = []
    done = threading.Event()

    def handle(kind: str, pod: V1Pod) -> None:
        if (pod.metadata.uid, kind) == ("slow", "MODIFIED"):
            slow_started.set()
            assert release.wait(10)
        handled.append((pod.metadata.uid, kind))
        if len(handled) == 5:
            done.set()

    def pod(uid: str) -> V1Pod:
        return V1Pod(metadata=V1ObjectMeta(uid=uid, name=uid))

    lanes = _Lanes(8, handle)
    # A uid that falls in another lane than "slow".
    other = next(
        f"pod-{i}" for i in range(100) if hash(f"pod-{i}") % 8 != hash("slow") % 8
    )
    try:
        lanes.put("slow", "MODIFIED", pod("slow"))
        lanes.put("slow", "DELETED", pod("slow"))
        assert slow_started.wait(10)
        for kind in ("ADDED", "MODIFIED", "DELETED"):
            lanes.put(other, kind, pod(other))
        deadline = time.monotonic() + 10
        while len(handled) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        # The other pod went through while the slow one was still held.
        assert handled == [(other, "ADDED"), (other, "MODIFIED"), (other, "DELETED")]
        release.set()
        assert done.wait(10)
        assert handled[3:] == [("slow", "MODIFIED"), ("slow", "DELETED")]
    finally:
        release.set()
        lanes.stop()
