"""The pod watcher: what Flowdeck's pods do, as attempt reports, without polling.

One watch per namespace, with the label selector every Flowdeck pod carries:
list, then watch from the list's resourceVersion with bookmarks (so a quiet
namespace's position stays fresh), each request ended by the server after
`watch_timeout_seconds` and resumed from the last resourceVersion seen. A
410 Gone (the position was compacted away) lists again; a pod the database
believes live that is missing from the new list, and confirmed gone, ends as
Error ("pod disappeared"). Other faults reconnect with exponential backoff.

A pod deleted before its container ended (a cancel, or someone else's
delete) reports Cancelling while it lingers within its grace period; the
attempt ends when the container does or the pod is gone. An attempt left
Cancelling with a pod nobody deleted (the cancel's delete failed) has its pod
deleted here after `_CANCEL_RETRY_SECONDS`.

Every event goes through report_for to the reporter (the report pump, which
records it and launches the successors of a finished task in this process).
A finished attempt's log is archived under the data directory first, so the
report that ends it names a complete log. A pod with outputs succeeds with
them (KubernetesBackend.complete reads them through the API); when they
cannot be read yet, nothing is reported and the pod is looked at again
`_OUTPUTS_RETRY_SECONDS` later: it stays until its end is recorded, so a
watcher killed meanwhile loses nothing (the next one's list finds it).
Once the database has recorded an attempt's end, and `keep_finished_seconds`
have passed, its pod is deleted; so is a pod whose attempt ended for another
reason (a cancel whose delete failed, a timeout) or that no attempt owns.

`PodWatcher.run_once()` drives every namespace one step (a list, or one watch
request) plus the housekeeping, deterministically, for tests; `run_forever`
runs a thread per namespace until its stop event is set. There, with `lanes`,
a namespace's thread only reads the stream: each pod's events are handled in
order by one of `lanes` threads chosen by the pod's uid, so one pod's log
archive (a read through the API server) does not hold up every other pod of
the namespace. Nothing is acknowledged to the server, so a watcher killed with
events still queued loses nothing either: the next one lists.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from kubernetes.client import V1Job, V1Pod

from flowcore.reports import Report
from flowcore.states import TERMINAL_ATTEMPT_STATUSES, AttemptStatus
from k8s_runner.backends.base import BackendError
from k8s_runner.backends.kubernetes import (
    KubernetesBackend,
    PodStream,
    ResourceExpired,
    where,
)
from k8s_runner.job_status import job_handle, report_for_job
from k8s_runner.manifests import attempt_id_of, stamp_of
from k8s_runner.pod_status import (
    handle_of,
    has_outputs_helper,
    has_sidecars,
    is_finished,
    pending_deadline,
    report_for,
)
from observability import metrics

logger = logging.getLogger(__name__)

_TERMINAL = frozenset(status.value for status in TERMINAL_ATTEMPT_STATUSES)
# The canceller deletes the pod just after it records Cancelling; only a pod
# still not deleted this long after is deleted here.
_CANCEL_RETRY_SECONDS = 10.0
# A pod's outputs that could not be read (an API fault) are read again then.
_OUTPUTS_RETRY_SECONDS = 2.0


class AttemptBook(Protocol):
    """What the watcher asks the database."""

    def live_namespaces(self) -> set[str]:
        """Namespaces that live Kubernetes attempts asked for (the workflow's
        spec.namespace, else the run's project's)."""

    def live_handles(self, namespace: str) -> dict[int, str]:
        """{attempt id: handle} of live attempts with a pod in `namespace`."""

    def statuses(self, attempt_ids: Iterable[int]) -> dict[int, str]:
        """{attempt id: status} of the attempts that exist."""


class DatabaseBook:
    """The AttemptBook of the Django models."""

    def live_namespaces(self) -> set[str]:
        from flowcore.states import LIVE_ATTEMPT_STATUSES
        from workflows.models import Attempt

        rows = (
            Attempt.objects.filter(
                status__in=LIVE_ATTEMPT_STATUSES, backend=KubernetesBackend.name
            )
            .values_list(
                "request__namespace", "task_run__run__workflow__project__namespace"
            )
            .distinct()
        )
        # The workflow's own namespace wins, as in KubernetesBackend.namespace_for.
        return {
            own if isinstance(own, str) and own else project
            for own, project in rows
            if (isinstance(own, str) and own) or project
        }

    def live_handles(self, namespace: str) -> dict[int, str]:
        from flowcore.states import LIVE_ATTEMPT_STATUSES
        from workflows.models import Attempt

        return dict(
            Attempt.objects.filter(
                status__in=LIVE_ATTEMPT_STATUSES,
                backend=KubernetesBackend.name,
                handle__startswith=f"{namespace}/",
            ).values_list("pk", "handle")
        )

    def statuses(self, attempt_ids: Iterable[int]) -> dict[int, str]:
        from workflows.models import Attempt

        return dict(
            Attempt.objects.filter(pk__in=list(attempt_ids)).values_list("pk", "status")
        )


@dataclass(slots=True)
class _Tracked:
    """A pod the watcher has seen and not yet seen deleted."""

    namespace: str
    name: str
    attempt_id: int
    pod: V1Pod
    said: tuple[str, str, str] | None = None  # the last report: status, reason, message
    log_path: str | None = None  # archived (None: not yet)
    ended_at: datetime | None = None  # when its attempt was first seen ended
    deleting: bool = False
    recheck_at: datetime | None = None  # a wait that may turn into an Error
    cancelling_since: datetime | None = None  # its attempt first seen Cancelling
    completed: Report | None = None  # its end with its outputs, once read


class NamespaceWatch:
    """The list-then-watch loop of one namespace."""

    def __init__(self, watcher: PodWatcher, namespace: str) -> None:
        self.watcher = watcher
        self.namespace = namespace
        self.resource_version: str | None = None
        self.lists = 0  # how many times it listed (a 410 lists again)
        # When the apiserver last told it something (an event, a bookmark, a
        # list, a watch request it ended on time): the watcher's lag counts
        # from here (time.time(); None before the first list).
        self.heard_at: float | None = None
        self._stream: PodStream | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def step(self) -> None:
        """List if there is no position to watch from, else one watch request
        (ended by the server's timeout, a 410, a fault, or stop())."""
        if self.resource_version is None:
            self.relist()
            return
        backend = self.watcher.backend
        stream = backend.watch_pods(
            self.namespace,
            self.resource_version,
            timeout_seconds=self.watcher.watch_timeout_seconds,
        )
        with self._lock:
            if self._stopped:
                return
            self._stream = stream
        try:
            for event in stream:
                self.heard()
                metrics.WATCHER_EVENTS.labels(event.kind).inc()
                if event.resource_version:
                    self.resource_version = event.resource_version
                if event.pod is not None:
                    self.watcher.dispatch(event.kind, event.pod)
            self.heard()  # the server ended the request on time: all was said
        except ResourceExpired:
            logger.info("watch of %s expired (410): listing again", self.namespace)
            self.resource_version = None
        finally:
            with self._lock:
                self._stream = None

    def heard(self) -> None:
        self.heard_at = time.time()
        metrics.WATCHER_LAST_EVENT.set(self.heard_at)

    def relist(self) -> None:
        pods, version = self.watcher.backend.list_pods(self.namespace)
        self.lists += 1
        metrics.WATCHER_RELISTS.inc()
        self.heard()
        present = set()
        for pod in pods:
            attempt_id = attempt_id_of(pod.metadata.labels if pod.metadata else None)
            if attempt_id is not None:
                present.add(attempt_id)
            self.watcher.dispatch("LISTED", pod)
        self.watcher.missing(self.namespace, present)
        self.resource_version = version

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            stream = self._stream
        if stream is not None:
            stream.stop()


class JobWatch(NamespaceWatch):
    """The list-then-watch loop of one namespace's Jobs (kind: Job attempts)."""

    def step(self) -> None:
        if self.resource_version is None:
            self.relist()
            return
        stream = self.watcher.backend.jobs.watch(
            self.namespace,
            self.resource_version,
            timeout_seconds=self.watcher.watch_timeout_seconds,
        )
        with self._lock:
            if self._stopped:
                return
            self._stream = stream
        try:
            for event in stream:
                if event.resource_version:
                    self.resource_version = event.resource_version
                if event.pod is not None:
                    self.watcher.handle_job(event.kind, event.pod)
        except ResourceExpired:
            self.resource_version = None
        finally:
            with self._lock:
                self._stream = None

    def relist(self) -> None:
        jobs, version = self.watcher.backend.jobs.list_jobs(self.namespace)
        self.lists += 1
        for job in jobs:
            self.watcher.handle_job("LISTED", job)
        self.resource_version = version


@dataclass(slots=True)
class _TrackedJob:
    """A Job the watcher has seen and not yet seen deleted."""

    namespace: str
    name: str
    attempt_id: int
    job: V1Job
    said: tuple[str, str, str] | None = None
    archived: str | None = None  # the attempt's log, once its end was archived
    ended_at: datetime | None = None
    deleting: bool = False


class PodWatcher:
    def __init__(
        self,
        backend: KubernetesBackend,
        *,
        book: AttemptBook | None = None,
        keep_finished_seconds: float = 0.0,
        watch_timeout_seconds: int = 300,
        housekeeping_seconds: float = 1.0,
        backoff_seconds: tuple[float, float] = (0.5, 30.0),
        clock: Callable[[], datetime] | None = None,
        lanes: int = 0,
    ) -> None:
        self.backend = backend
        # Threads handling pods' events in run_forever (0: the reading thread).
        self.lanes = lanes
        self._lanes: _Lanes | None = None
        self.book = book or DatabaseBook()
        self.keep_finished_seconds = keep_finished_seconds
        self.watch_timeout_seconds = watch_timeout_seconds
        self.housekeeping_seconds = housekeeping_seconds
        self.backoff_seconds = backoff_seconds
        self.clock = clock or backend.clock
        self.watches: dict[str, NamespaceWatch] = {}
        self.job_watches: dict[str, JobWatch] = {}
        self._pods: dict[str, _Tracked] = {}  # by uid
        self._jobs: dict[str, _TrackedJob] = {}  # by uid
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, backend: KubernetesBackend) -> PodWatcher:
        from django.conf import settings

        return cls(
            backend,
            keep_finished_seconds=settings.FLOWDECK_K8S_KEEP_FINISHED_PODS_SECONDS,
            watch_timeout_seconds=settings.FLOWDECK_K8S_WATCH_TIMEOUT_SECONDS,
            lanes=LANES,
        )

    # -- driving -------------------------------------------------------------------

    def namespaces(self) -> set[str]:
        """The backend's namespace, the ones it launched into, and the ones
        live attempts asked for (launched by other processes)."""
        names = self.backend.namespaces() | self.book.live_namespaces()
        for name in names:
            self.backend.remember_namespace(name)
        return names

    def run_once(self) -> None:
        """One step of every namespace's watch, then the housekeeping."""
        for namespace in sorted(self.namespaces()):
            self._watch_of(namespace).step()
            self._job_watch_of(namespace).step()
        self.housekeep()

    def run_forever(self, stop: threading.Event) -> None:
        """A thread per namespace (started as namespaces appear) and the
        housekeeping in this one, until `stop` is set."""
        threads: dict[str, threading.Thread] = {}
        if self.lanes:
            self._lanes = _Lanes(self.lanes, self.handle)
        try:
            while not stop.is_set():
                try:
                    for namespace in self.namespaces() - threads.keys():
                        thread = threading.Thread(
                            target=self._loop,
                            args=(self._watch_of(namespace), stop),
                            name=f"watch-{namespace}",
                            daemon=True,
                        )
                        threads[namespace] = thread
                        thread.start()
                        # Its Jobs too (kind: Job attempts), in a thread of
                        # their own.
                        jobs = threading.Thread(
                            target=self._loop,
                            args=(self._job_watch_of(namespace), stop),
                            name=f"watch-jobs-{namespace}",
                            daemon=True,
                        )
                        threads[f"jobs:{namespace}"] = jobs
                        jobs.start()
                    _refresh_connection()
                    self.housekeep()
                except Exception:
                    logger.exception("pod watcher housekeeping failed")
                stop.wait(self.housekeeping_seconds)
        finally:
            for watch in [*self.watches.values(), *self.job_watches.values()]:
                watch.stop()
            for thread in threads.values():
                thread.join(10)
            if self._lanes is not None:
                self._lanes.stop()
                self._lanes = None
            _close_connection()

    def _loop(self, watch: NamespaceWatch, stop: threading.Event) -> None:
        delay = self.backoff_seconds[0]
        try:
            while not stop.is_set():
                try:
                    _refresh_connection()
                    watch.step()
                    delay = self.backoff_seconds[0]
                except Exception as error:  # a fault: reconnect, later and later
                    if stop.is_set():
                        break
                    logger.warning(
                        "watch of %s failed, again in %.1fs: %s",
                        watch.namespace,
                        delay,
                        error,
                    )
                    stop.wait(delay)
                    delay = min(delay * 2, self.backoff_seconds[1])
        finally:
            _close_connection()

    def _watch_of(self, namespace: str) -> NamespaceWatch:
        with self._lock:
            if namespace not in self.watches:
                self.watches[namespace] = NamespaceWatch(self, namespace)
            return self.watches[namespace]

    def _job_watch_of(self, namespace: str) -> JobWatch:
        with self._lock:
            if namespace not in self.job_watches:
                self.job_watches[namespace] = JobWatch(self, namespace)
            return self.job_watches[namespace]

    # -- Jobs ----------------------------------------------------------------------

    def handle_job(self, kind: str, job: V1Job) -> Report | None:
        """One sighting of a kind: Job attempt's Job, as the report it implies
        (its conditions decide; its logs archived before its end is said)."""
        metadata = job.metadata
        attempt_id = attempt_id_of(metadata.labels if metadata else None)
        uid = metadata.uid if metadata else None
        if attempt_id is None or not uid or metadata is None:
            return None
        now = self.clock()
        report = report_for_job(job, now=now)
        with self._lock:
            tracked = self._jobs.get(uid)
            if tracked is None:
                tracked = _TrackedJob(
                    metadata.namespace or "", metadata.name or "", attempt_id, job
                )
                self._jobs[uid] = tracked
            tracked.job = job
            if kind == "DELETED":
                del self._jobs[uid]
        if kind == "DELETED" and (
            report is None or report.status not in TERMINAL_ATTEMPT_STATUSES
        ):
            report = Report(
                attempt_id,
                AttemptStatus.ERROR,
                handle=job_handle(tracked.namespace, tracked.name),
                reason="JobDeleted",
                message="the Job was deleted before it finished",
                at=now,
                attempt_stamp=stamp_of(job),
            )
        if report is None:
            return None
        if report.status in TERMINAL_ATTEMPT_STATUSES:
            if tracked.archived is None and kind != "DELETED":
                try:
                    tracked.archived = self.backend.jobs.archive(job)
                except (BackendError, KeyError, ValueError) as error:
                    logger.warning("could not archive the logs of a Job: %s", error)
                    tracked.archived = ""
            if tracked.archived:
                report = replace(report, log_path=tracked.archived)
        said = (report.status.value, report.reason, report.message)
        with self._lock:
            if tracked.said == said:
                return None
            tracked.said = said
        self.backend.report(report)
        return report

    def _collect_jobs(self, now: datetime) -> None:
        """Delete the Jobs of ended attempts once kept long enough, and those of
        Cancelling attempts a cancel failed to delete."""
        with self._lock:
            candidates = [job for job in self._jobs.values() if not job.deleting]
        if not candidates:
            return
        statuses = self.book.statuses({job.attempt_id for job in candidates})
        for job in candidates:
            status = statuses.get(job.attempt_id)
            cancelling = status == AttemptStatus.CANCELLING.value
            if status is not None and status not in _TERMINAL and not cancelling:
                continue
            if job.ended_at is None:
                job.ended_at = now
            keep = _CANCEL_RETRY_SECONDS if cancelling else self.keep_finished_seconds
            if (now - job.ended_at).total_seconds() < keep:
                continue
            try:
                self.backend.jobs.delete(job.namespace, job.name)
            except BackendError as error:
                logger.warning("deleting Job %s failed: %s", job.name, error)
                continue
            job.deleting = True

    def measure_lag(self) -> float:
        """Seconds since the quietest namespace last heard from the apiserver
        (flowdeck_watcher_lag_seconds); 0 before any namespace listed."""
        with self._lock:
            heard = [w.heard_at for w in self.watches.values() if w.heard_at]
        lag = max(0.0, time.time() - min(heard)) if heard else 0.0
        metrics.WATCHER_LAG.set(lag)
        return lag

    # -- events --------------------------------------------------------------------

    def dispatch(self, kind: str, pod: V1Pod) -> None:
        """handle() now, or in the pod's lane (run_forever with lanes)."""
        lanes = self._lanes
        uid = pod.metadata.uid if pod.metadata else None
        if lanes is None or not uid:
            self.handle(kind, pod)
        else:
            lanes.put(uid, kind, pod)

    def handle(self, kind: str, pod: V1Pod) -> Report | None:
        """Turn one sighting of a pod into the report it implies (sent on only
        when it says something new); None when it says nothing."""
        attempt_id = attempt_id_of(pod.metadata.labels if pod.metadata else None)
        uid = pod.metadata.uid if pod.metadata else None
        if attempt_id is None or not uid:
            return None
        namespace, name = where(pod)
        now = self.clock()
        report = report_for(
            pod, now=now, image_pull_grace_seconds=self.backend.image_pull_grace_seconds
        )
        with self._lock:
            tracked = self._pods.get(uid)
            if tracked is None:
                tracked = _Tracked(namespace, name, attempt_id, pod)
                self._pods[uid] = tracked
            tracked.pod = pod
            if kind == "DELETED":
                del self._pods[uid]
        if kind == "DELETED":
            return self._deleted(tracked, report, now)
        if report is None:
            return None
        with contextlib.suppress(KeyError, ValueError):
            # Every report names the log's place: whichever is recorded first
            # (the launcher's or this one) tells the UI where to look.
            report = replace(report, log_path=str(self.backend.log_path_of(pod)))
        if report.status in TERMINAL_ATTEMPT_STATUSES:
            tracked.recheck_at = None
            if tracked.log_path is None:
                tracked.log_path = self.backend.archive_quietly(pod)
            if tracked.log_path:
                report = replace(report, log_path=tracked.log_path)
            if has_outputs_helper(pod):
                if tracked.completed is None:
                    try:
                        tracked.completed = self.backend.complete(pod, report)
                    except BackendError as error:
                        logger.warning(
                            "the outputs of %s cannot be read yet: %s",
                            handle_of(pod),
                            error,
                        )
                        tracked.recheck_at = now + timedelta(
                            seconds=_OUTPUTS_RETRY_SECONDS
                        )
                        return None
                report = tracked.completed
        else:
            grace = self.backend.image_pull_grace_seconds
            tracked.recheck_at = pending_deadline(pod, grace)
        return self._send(tracked, report)

    def _deleted(
        self, tracked: _Tracked, report: Report | None, now: datetime
    ) -> Report | None:
        """The pod is gone. If it ended, that is its report; if not, its attempt
        ends as Error (the report changes nothing when the attempt had already
        ended: a cancel, or a pod deleted after its end was recorded)."""
        if report is None or report.status not in TERMINAL_ATTEMPT_STATUSES:
            report = Report(
                tracked.attempt_id,
                AttemptStatus.ERROR,
                handle=handle_of(tracked.pod),
                reason="PodDeleted",
                message="the pod was deleted before its container finished",
                at=now,
                attempt_stamp=stamp_of(tracked.pod),
            )
        elif tracked.completed is not None:
            report = tracked.completed
        elif report.status is AttemptStatus.SUCCEEDED and has_outputs_helper(
            tracked.pod
        ):
            # Its logs went with it: a success without its outputs would
            # starve its dependants.
            report = replace(
                report,
                status=AttemptStatus.ERROR,
                reason="PodDeleted",
                message="the pod was deleted before its outputs were read",
                log_path=tracked.log_path or "",
            )
        elif tracked.log_path:
            report = replace(report, log_path=tracked.log_path)
        return self._send(tracked, report)

    def missing(self, namespace: str, present: set[int]) -> None:
        """After a list: live attempts whose pod is not in it and, read again
        (it may have been created after the list), is really gone, end as
        Error."""
        for attempt_id, handle in self.book.live_handles(namespace).items():
            if attempt_id in present:
                continue
            _, name = handle.split("/", 1)
            if self.backend.read_pod(namespace, name) is not None:
                continue
            self.backend.report(
                Report(
                    attempt_id,
                    AttemptStatus.ERROR,
                    handle=handle,
                    reason="PodLost",
                    message=f"pod {handle} disappeared",
                    at=self.clock(),
                )
            )

    def _send(self, tracked: _Tracked, report: Report) -> Report | None:
        said = (report.status.value, report.reason, report.message)
        with self._lock:
            if tracked.said == said:
                return None  # a repeat (a relist, a label change): nothing new
            tracked.said = said
        self.backend.report(report)
        return report

    # -- housekeeping --------------------------------------------------------------

    def housekeep(self) -> None:
        """Look again at pods waiting on something that may heal once their
        grace is over, and delete the pods of ended attempts."""
        self.measure_lag()
        now = self.clock()
        with self._lock:
            tracked = list(self._pods.values())
        for pod in tracked:
            if pod.recheck_at is not None and now >= pod.recheck_at:
                self.handle("RECHECK", pod.pod)
        self._collect(tracked, now)
        self._collect_jobs(now)

    def _collect(self, tracked: list[_Tracked], now: datetime) -> None:
        candidates = [pod for pod in tracked if not pod.deleting]
        if not candidates:
            return
        statuses = self.book.statuses({pod.attempt_id for pod in candidates})
        for pod in candidates:
            status = statuses.get(pod.attempt_id)
            if status == AttemptStatus.CANCELLING.value:
                self._finish_cancel(pod, now)
                continue
            if status is not None and status not in _TERMINAL:
                continue
            # Ended (or owned by no attempt at all): delete it once kept long
            # enough, with its log archived first. An ended attempt's pod whose
            # outputs helper still runs (waiting for a task that died without
            # a word: OOM-killed with its shell, say) is not kept: it would
            # wait for ever, holding its node.
            if pod.ended_at is None:
                pod.ended_at = now
            # Nor one whose sidecars outlive the task's container (a server
            # without native sidecars): deleting the pod stops them.
            waits = (
                has_outputs_helper(pod.pod) or has_sidecars(pod.pod)
            ) and not is_finished(pod.pod)
            keep = 0.0 if status is not None and waits else self.keep_finished_seconds
            if (now - pod.ended_at).total_seconds() < keep:
                continue
            if pod.log_path is None:
                pod.log_path = self.backend.archive_quietly(pod.pod)
            try:
                self.backend.delete_pod(
                    pod.namespace,
                    pod.name,
                    grace_seconds=self.backend.delete_grace_seconds,
                )
            except BackendError as error:
                logger.warning("deleting pod %s failed: %s", handle_of(pod.pod), error)
                continue
            pod.deleting = True

    def _finish_cancel(self, pod: _Tracked, now: datetime) -> None:
        """Delete the pod of a Cancelling attempt if no one has (the cancel's
        own delete failed, or the worker died before it)."""
        metadata = pod.pod.metadata
        if metadata is not None and metadata.deletion_timestamp is not None:
            return
        if pod.cancelling_since is None:
            pod.cancelling_since = now
        if (now - pod.cancelling_since).total_seconds() < _CANCEL_RETRY_SECONDS:
            return
        if pod.log_path is None:
            pod.log_path = self.backend.archive_quietly(pod.pod) or None
        try:
            self.backend.delete_pod(
                pod.namespace, pod.name, grace_seconds=self.backend.delete_grace_seconds
            )
        except BackendError as error:
            logger.warning("deleting pod %s failed: %s", handle_of(pod.pod), error)
            return
        pod.deleting = True


# Lanes of the pod watcher run by watch_pods (PodWatcher.from_settings).
LANES = 8


class _Lanes:
    """`count` threads, each handling the events of the pods hashed to it in
    the order they came: one pod's events stay in order, different pods'
    proceed side by side."""

    def __init__(self, count: int, handle: Callable[[str, V1Pod], object]) -> None:
        self._handle = handle
        self._queues: list[queue.SimpleQueue[tuple[str, V1Pod] | None]] = [
            queue.SimpleQueue() for _ in range(count)
        ]
        self._threads = [
            threading.Thread(
                target=self._run, args=(lane,), name=f"pod-lane-{i}", daemon=True
            )
            for i, lane in enumerate(self._queues)
        ]
        for thread in self._threads:
            thread.start()

    def put(self, uid: str, kind: str, pod: V1Pod) -> None:
        self._queues[hash(uid) % len(self._queues)].put((kind, pod))

    def stop(self) -> None:
        """Handle what is queued, then end the threads."""
        for lane in self._queues:
            lane.put(None)
        for thread in self._threads:
            thread.join(10)

    def _run(self, lane: queue.SimpleQueue[tuple[str, V1Pod] | None]) -> None:
        try:
            while (item := lane.get()) is not None:
                try:
                    _refresh_connection()
                    self._handle(*item)
                except Exception:
                    # Dropped, as the reading thread dropped it (it resumed
                    # after the event): the pod's next event, the
                    # housekeeping's recheck or the next list say it again.
                    logger.exception("handling an event of a pod failed")
        finally:
            _close_connection()


def _refresh_connection() -> None:
    """Drop this thread's database connection if it is too old or broken (a
    watch can sit for minutes between two uses of it)."""
    from django.db import close_old_connections

    close_old_connections()


def _close_connection() -> None:
    """Give this thread's database connection back as the thread ends."""
    with contextlib.suppress(Exception):
        from django.db import connection

        connection.close()
