"""The Kubernetes backend's `kind: Job` attempts: a batch/v1 Job per attempt.

A launch creates the attempt's Job (named as its pod would be: a repeated
launch meets AlreadyExists and adopts it) and reports it Pending with the
handle `job:namespace/name`. The Job controller runs its pods; the watcher
follows the Job itself (k8s_runner/watcher.py, its Job watch) and the attempt
ends as the Job's conditions say (k8s_runner/job_status.py). Before the
report that ends it, each of its pods' logs is archived, per completion index
(`<attempt>.<index>.log`, the pods of one index in the order they ran), and
the attempt's log gets a line per pod. Cancelling, and the clean-up once the
end is recorded, delete the Job and its pods (Flowdeck deletes the pods
itself rather than trust the garbage collector, which some API servers, such
as the tests', do not run).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from kubernetes.client import BatchV1Api, V1DeleteOptions, V1Job, V1ListMeta, V1Pod
from kubernetes.client.exceptions import ApiException

from flowcore.reports import Report
from flowcore.states import TERMINAL_ATTEMPT_STATUSES, AttemptStatus
from k8s_runner.backends.base import BackendError, LiveAttempt
from k8s_runner.job_status import job_handle, report_for_job, split_job_handle
from k8s_runner.manifests import (
    ATTEMPT_ID_LABEL,
    COMPLETION_INDEX_ANNOTATION,
    JOB_ATTEMPT_ID_LABEL,
    SELECTOR,
    ManifestError,
    attempt_id_of,
    job_manifest,
    stamp_of,
)
from k8s_runner.pod_request import PodRequest

if TYPE_CHECKING:
    from k8s_runner.backends.kubernetes import KubernetesBackend, PodStream

logger = logging.getLogger(__name__)


class KubernetesJobs:
    """The Job side of one KubernetesBackend."""

    def __init__(self, backend: KubernetesBackend) -> None:
        self.backend = backend

    @property
    def batch(self) -> BatchV1Api:
        return BatchV1Api(self.backend.core.api_client)

    # -- the Backend interface, for Job attempts -----------------------------------

    def launch(self, request: PodRequest, namespace: str) -> None:
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        backend = self.backend
        try:
            job = job_manifest(
                request,
                namespace=namespace,
                settings=backend.manifest_settings_for(request),
                server=backend.server(),
            )
        except (ManifestError, ValueError) as error:
            raise BackendError(
                f"invalid Job for {request.name}: {error}", permanent=True
            ) from error
        backend.remember_namespace(namespace)
        backend.create_limiter.acquire()
        doing = f"creating Job {namespace}/{request.name}"
        try:
            self.batch.create_namespaced_job(
                namespace, job, _request_timeout=backend.request_timeout
            )
        except ApiException as error:
            if error.status != 409:
                raise api_error(error, doing) from error
            self.adopt(request, namespace)
            return
        except _API_FAULTS as error:
            raise api_error(error, doing) from error
        backend.report(
            Report(
                request.attempt_id,
                AttemptStatus.PENDING,
                handle=job_handle(namespace, request.name),
                log_path=str(
                    backend.log_path(request.run_id, request.task, request.attempt)
                ),
                at=backend.clock(),
                run_id=request.run_id,
                attempt_stamp=request.stamp,
            )
        )

    def adopt(self, request: PodRequest, namespace: str) -> None:
        job = self.read(namespace, request.name)
        if job is None:
            raise BackendError(f"Job {namespace}/{request.name} exists and vanished")
        owner = attempt_id_of(job.metadata.labels if job.metadata else None)
        if owner != request.attempt_id:
            raise BackendError(
                f"Job {namespace}/{request.name} belongs to attempt {owner}, not "
                f"{request.attempt_id}",
                permanent=True,
            )
        left = stamp_of(job)
        if left and request.stamp and left != request.stamp:
            # Another attempt's, with the same id (see KubernetesBackend._adopt).
            self.delete(namespace, request.name)
            raise BackendError(
                f"Job {namespace}/{request.name} was left by another attempt with"
                f" id {request.attempt_id} (recorded {left}; the database was reset"
                " or restored since): deleted it, the launch is tried again"
            )
        self.observe(job)

    def cancel(self, attempt_id: int, handle: str) -> None:
        """Archive what the Job's pods logged, then delete it and them."""
        for job in self.jobs_of(attempt_id, handle):
            metadata = job.metadata
            if metadata is None or metadata.namespace is None or not metadata.name:
                continue
            with contextlib.suppress(BackendError, KeyError, ValueError):
                self.archive(job)
            self.delete(metadata.namespace, metadata.name)

    def status(self, attempt_id: int, handle: str) -> Report | None:
        where = split_job_handle(handle)
        if where is None:
            return None
        job = self.read(*where)
        if job is None or attempt_id_of(
            job.metadata.labels if job.metadata else None
        ) != (attempt_id):
            return None
        return report_for_job(job, now=self.backend.clock())

    def recover(self, live: list[LiveAttempt], started: object) -> list[int]:
        """Adopt the Jobs of live Job attempts, report the vanished ones lost,
        delete the Jobs no live attempt owns; the attempts to launch again."""
        handles = {attempt.attempt_id: attempt.handle for attempt in live}
        for handle in handles.values():
            where = split_job_handle(handle)
            if where is not None:
                self.backend.remember_namespace(where[0])
        found: set[int] = set()
        for namespace in sorted(self.backend.namespaces()):
            jobs, _ = self.list_jobs(namespace)
            for job in jobs:
                attempt_id = attempt_id_of(
                    job.metadata.labels if job.metadata else None
                )
                if attempt_id is None:
                    continue
                if attempt_id in handles:
                    found.add(attempt_id)
                    self.observe(job)
                else:
                    logger.info("deleting orphan Job %s/%s", *where_of(job))
                    self.delete(*where_of(job))
        relaunch = []
        for attempt_id, handle in handles.items():
            if attempt_id in found:
                continue
            if not handle:
                relaunch.append(attempt_id)
                continue
            self.backend.report(
                Report(
                    attempt_id,
                    AttemptStatus.ERROR,
                    reason="JobLost",
                    message=f"Job {handle} disappeared while the worker was away",
                    at=self.backend.clock(),
                )
            )
        return relaunch

    # -- what the watcher uses -----------------------------------------------------

    def observe(self, job: V1Job, archived: bool = False) -> Report | None:
        """Report what the Job says now; a finished one's logs are archived
        first (unless `archived`), so the report that ends it names them."""
        report = report_for_job(job, now=self.backend.clock())
        if report is None:
            return None
        if report.status in TERMINAL_ATTEMPT_STATUSES and not archived:
            try:
                report = _with_log(report, self.archive(job))
            except (BackendError, KeyError, ValueError) as error:
                logger.warning("could not archive the logs of a Job: %s", error)
        self.backend.report(report)
        return report

    def read(self, namespace: str, name: str) -> V1Job | None:
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        try:
            job: V1Job = self.batch.read_namespaced_job(
                name, namespace, _request_timeout=self.backend.request_timeout
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise api_error(error, f"reading Job {namespace}/{name}") from error
        except _API_FAULTS as error:
            raise api_error(error, f"reading Job {namespace}/{name}") from error
        return job

    def list_jobs(self, namespace: str) -> tuple[list[V1Job], str]:
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        try:
            listed = self.batch.list_namespaced_job(
                namespace,
                label_selector=SELECTOR,
                _request_timeout=self.backend.request_timeout,
            )
        except _API_FAULTS as error:
            raise api_error(error, f"listing Jobs in {namespace}") from error
        meta = listed.metadata or V1ListMeta()
        return list(listed.items or []), meta.resource_version or ""

    def watch(
        self, namespace: str, resource_version: str, *, timeout_seconds: int
    ) -> PodStream:
        """Flowdeck's Jobs in `namespace` changing after `resource_version`
        (each event's `pod` is the Job)."""
        from kubernetes import watch as kube_watch

        from k8s_runner.backends.kubernetes import PodStream

        watch = kube_watch.Watch()  # type: ignore[no-untyped-call]
        events = watch.stream(  # type: ignore[no-untyped-call]
            self.batch.list_namespaced_job,
            namespace,
            label_selector=SELECTOR,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=int(timeout_seconds),
            _request_timeout=(self.backend.request_timeout, timeout_seconds + 30),
        )
        return PodStream(watch, events)

    def pods_of(self, job: V1Job) -> list[V1Pod]:
        """The Job's pods, oldest first."""
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        namespace, _ = where_of(job)
        labels = (job.metadata.labels if job.metadata else None) or {}
        selector = f"{SELECTOR},{JOB_ATTEMPT_ID_LABEL}={labels.get(ATTEMPT_ID_LABEL)}"
        try:
            listed = self.backend.core.list_namespaced_pod(
                namespace,
                label_selector=selector,
                _request_timeout=self.backend.request_timeout,
            )
        except _API_FAULTS as error:
            raise api_error(error, f"listing the pods of {namespace}") from error
        pods = list(listed.items or [])
        pods.sort(key=lambda pod: (_created(pod), where_of(pod)[1]))
        return pods

    def archive(self, job: V1Job) -> str:
        """Each of the Job's pods' logs appended to its index's archive, and a
        line per pod in the attempt's log; the attempt's log's path."""
        from k8s_runner.backends.kubernetes import NoLog

        backend = self.backend
        log = backend.log_path_of(job)
        log.parent.mkdir(parents=True, exist_ok=True)
        pods = self.pods_of(job)
        written: dict[str, list[bytes]] = {}
        lines = []
        for number, pod in enumerate(pods):
            index = _index(pod, number)
            namespace, name = where_of(pod)
            try:
                text = b"".join(backend._log_chunks(namespace, name))
            except NoLog:
                text = b""
            written.setdefault(index, []).append(text)
            lines.append(f"index {index}: pod {name} {_ended(pod)}\n")
        for index, parts in written.items():
            path = log.with_suffix(f".{index}.log")
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(b"".join(parts))
            temporary.replace(path)
        temporary = log.with_suffix(".tmp")
        temporary.write_text("".join(lines))
        temporary.replace(log)
        return str(log)

    def delete(self, namespace: str, name: str) -> None:
        """The Job, then its pods (the garbage collector may not run)."""
        from k8s_runner.backends.kubernetes import delete_object

        delete_object(
            self.batch.delete_namespaced_job,
            namespace,
            name,
            "Job",
            body=V1DeleteOptions(propagation_policy="Background"),
            _request_timeout=self.backend.request_timeout,
        )
        for pod in self._pods_named(namespace, name):
            with contextlib.suppress(BackendError):
                self.backend.delete_pod(
                    *where_of(pod), grace_seconds=self.backend.delete_grace_seconds
                )

    def jobs_of(self, attempt_id: int, handle: str) -> list[V1Job]:
        where = split_job_handle(handle)
        if where is not None:
            job = self.read(*where)
            return [job] if job is not None else []
        found = []
        for namespace in sorted(self.backend.namespaces()):
            jobs, _ = self.list_jobs(namespace)
            found += [
                job
                for job in jobs
                if attempt_id_of(job.metadata.labels if job.metadata else None)
                == attempt_id
            ]
        return found

    def _pods_named(self, namespace: str, job_name: str) -> list[V1Pod]:
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        try:
            listed = self.backend.core.list_namespaced_pod(
                namespace,
                label_selector=f"job-name={job_name}",
                _request_timeout=self.backend.request_timeout,
            )
        except _API_FAULTS as error:
            raise api_error(error, f"listing the pods of Job {job_name}") from error
        return list(listed.items or [])


def where_of(obj: V1Job | V1Pod) -> tuple[str, str]:
    metadata = obj.metadata
    return (metadata.namespace or "", metadata.name or "") if metadata else ("", "")


def _created(pod: V1Pod) -> str:
    stamp = pod.metadata.creation_timestamp if pod.metadata else None
    return stamp.isoformat() if stamp else ""


def _index(pod: V1Pod, number: int) -> str:
    """The pod's completion index (an Indexed Job's), else its place among the
    Job's pods."""
    annotations = (pod.metadata.annotations if pod.metadata else None) or {}
    return str(annotations.get(COMPLETION_INDEX_ANNOTATION, number))


def _ended(pod: V1Pod) -> str:
    status = pod.status
    for container in (status.container_statuses if status else None) or []:
        if container.name == "main" and container.state and container.state.terminated:
            code = container.state.terminated.exit_code
            return "succeeded" if code == 0 else f"failed with exit code {code}"
    phase = status.phase if status else None
    return (phase or "Pending").lower()


def _with_log(report: Report, path: str) -> Report:
    from dataclasses import replace

    return replace(report, log_path=path)
