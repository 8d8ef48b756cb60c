"""The Kubernetes backend's daemon attempts (docs/spec.md, "Daemons"): a
Deployment (a StatefulSet when persistent) and a Service per attempt
(k8s_runner/daemon_manifests.py).

A launch creates the workload, then its Service (owned by the workload), and
reports the attempt Pending with the handle `daemon:Kind:namespace/name`. A
follower thread reads the workload until its controller says a replica is
ready (status.readyReplicas), then reports the attempt Succeeded with its
address, the Service's cluster IP and DNS name, as the outputs `ip` and
`service`. Before that, the task's timeout (else the Deployment's
progressDeadlineSeconds) bounds the wait: the objects are deleted and the
attempt fails, to be retried as the task's retry policy says. Once ready, the
daemon serves until its run ends: end_run deletes every daemon object of the
run, and the sweep those of every ended run (a kill -9 of the worker, a lost
end_run), found by their labels. Flowdeck deletes the pods and claims itself
too rather than trust the garbage collector, which the tests' API server does
not run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubernetes.client import AppsV1Api, V1DeleteOptions
from kubernetes.client.exceptions import ApiException

from flowcore.reports import CollectedOutputs, Report
from flowcore.states import AttemptStatus
from k8s_runner.backends.base import BackendError, LiveAttempt
from k8s_runner.daemon_manifests import (
    DAEMON_ATTEMPT_ID_LABEL,
    daemon_attempt_id_of,
    daemon_selector,
    service_manifest,
    workload_manifest,
)
from k8s_runner.manifests import RUN_LABEL, ManifestError, stamp_of
from k8s_runner.pod_request import PodRequest

if TYPE_CHECKING:
    from k8s_runner.backends.kubernetes import KubernetesBackend

logger = logging.getLogger(__name__)

HANDLE_PREFIX = "daemon:"
_POLL_SECONDS = 1.0
_KINDS = ("Deployment", "StatefulSet")


def daemon_handle(kind: str, namespace: str, name: str) -> str:
    return f"{HANDLE_PREFIX}{kind}:{namespace}/{name}"


def split_daemon_handle(handle: str) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of a daemon's handle; None for any other."""
    if not handle.startswith(HANDLE_PREFIX):
        return None
    kind, _, rest = handle[len(HANDLE_PREFIX) :].partition(":")
    namespace, _, name = rest.rpartition("/")
    return kind, namespace, name


@dataclass(slots=True)
class _Followed:
    request: PodRequest
    kind: str
    namespace: str
    name: str
    cancelled: bool = False


class KubernetesDaemons:
    """The daemon side of one KubernetesBackend."""

    def __init__(self, backend: KubernetesBackend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._followed: dict[int, _Followed] = {}
        # The runs this process launched or followed daemons of: a run's end
        # costs API calls only for these (called on every run's end, on the
        # hot path); the sweep finds the others' by label.
        self._runs: set[int] = set()

    @property
    def apps(self) -> AppsV1Api:
        return AppsV1Api(self.backend.core.api_client)

    # -- the Backend interface, for daemon attempts --------------------------------

    def launch(self, request: PodRequest, namespace: str) -> None:
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        backend = self.backend
        with self._lock:
            if request.attempt_id in self._followed:
                return
        try:
            workload = workload_manifest(
                request,
                namespace=namespace,
                settings=backend.manifest_settings,
                server=backend.server(),
            )
        except (ManifestError, ValueError) as error:
            raise BackendError(
                f"invalid daemon for {request.name}: {error}", permanent=True
            ) from error
        kind = workload.kind or "Deployment"
        backend.remember_namespace(namespace)
        backend.create_limiter.acquire()
        doing = f"creating {kind} {namespace}/{request.name}"
        try:
            created = self._create(kind, namespace, workload)
        except ApiException as error:
            if error.status != 409:
                raise api_error(error, doing) from error
            created = self._read(kind, namespace, request.name)
            owner = daemon_attempt_id_of(
                created.metadata.labels if created and created.metadata else None
            )
            if owner != request.attempt_id:
                raise BackendError(
                    f"{kind} {namespace}/{request.name} belongs to attempt {owner}, "
                    f"not {request.attempt_id}",
                    permanent=True,
                ) from error
            left = stamp_of(created) if created is not None else ""
            if left and request.stamp and left != request.stamp:
                # Another attempt's, with the same id (see
                # KubernetesBackend._adopt): its objects go, and the launch is
                # tried again.
                self.delete_attempt(namespace, request.attempt_id)
                raise BackendError(
                    f"{kind} {namespace}/{request.name} was left by another attempt"
                    f" with id {request.attempt_id} (recorded {left}; the database"
                    " was reset or restored since): deleted it, the launch is tried"
                    " again"
                ) from error
        except _API_FAULTS as error:
            raise api_error(error, doing) from error
        self._ensure_service(request, namespace, created)
        backend.report(
            Report(
                request.attempt_id,
                AttemptStatus.PENDING,
                handle=daemon_handle(kind, namespace, request.name),
                log_path=str(
                    backend.log_path(request.run_id, request.task, request.attempt)
                ),
                at=backend.clock(),
                run_id=request.run_id,
                attempt_stamp=request.stamp,
            )
        )
        self._follow(_Followed(request, kind, namespace, request.name))

    def cancel(self, attempt_id: int, handle: str) -> None:
        """Delete the attempt's objects; its follower reports it Cancelled
        (or this call, when no follower runs here)."""
        where = split_daemon_handle(handle)
        if where is None:
            return
        with self._lock:
            followed = self._followed.get(attempt_id)
            if followed is not None:
                followed.cancelled = True
        self.delete_attempt(where[1], attempt_id)
        if followed is None:
            self.backend.report(
                Report(attempt_id, AttemptStatus.CANCELLED, at=self.backend.clock())
            )

    def status(self, attempt_id: int, handle: str) -> Report | None:
        where = split_daemon_handle(handle)
        if where is None:
            return None
        workload = self._read(*where)
        if workload is None:
            return None
        return Report(attempt_id, AttemptStatus.RUNNING, handle=handle)

    def logs(self, handle: str) -> bytes:
        """What the daemon's pod has logged (it runs on: nothing is archived)."""
        where = split_daemon_handle(handle)
        if where is None:
            return b""
        _, namespace, name = where
        workload = self._read(*where)
        labels = (
            (workload.metadata.labels or {}) if workload and workload.metadata else {}
        )
        attempt = labels.get(DAEMON_ATTEMPT_ID_LABEL)
        if attempt is None:
            return b""
        pods = self.backend.core.list_namespaced_pod(
            namespace,
            label_selector=f"{DAEMON_ATTEMPT_ID_LABEL}={attempt}",
            _request_timeout=self.backend.request_timeout,
        ).items
        for pod in pods:
            if pod.metadata and pod.metadata.name:
                with contextlib.suppress(BackendError):
                    return self.backend.read_log(namespace, pod.metadata.name)
        return b""

    def recover(self, live: list[LiveAttempt]) -> list[LiveAttempt]:
        """Follow again the daemons a previous worker was following; the
        other attempts are left for the backend."""
        rest = []
        for attempt in live:
            where = split_daemon_handle(attempt.handle)
            if where is None:
                rest.append(attempt)
                continue
            with self._lock:
                if attempt.attempt_id in self._followed:
                    continue
            kind, namespace, name = where
            workload = self._read(kind, namespace, name)
            if workload is None:
                self.backend.report(
                    Report(
                        attempt.attempt_id,
                        AttemptStatus.ERROR,
                        reason="DaemonLost",
                        message=f"{kind} {namespace}/{name} disappeared while the "
                        "worker was away",
                        at=self.backend.clock(),
                    )
                )
                continue
            self._follow(
                _Followed(_request_of(workload, attempt), kind, namespace, name)
            )
        return rest

    def end_run(self, run_id: int) -> None:
        """Delete every daemon object of the run, in every namespace in use."""
        with self._lock:
            if run_id not in self._runs:
                return
            self._runs.discard(run_id)
        for namespace in sorted(self.backend.namespaces()):
            self._delete_selected(namespace, daemon_selector(run_id))

    def sweep(self, ended: Callable[[set[int]], set[int]]) -> None:
        """Delete the daemon objects of runs that `ended` says have ended."""
        for namespace in sorted(self.backend.namespaces()):
            runs: set[int] = set()
            for listed in self._listers(namespace):
                for item in listed(namespace, label_selector=daemon_selector()).items:
                    labels = (item.metadata.labels or {}) if item.metadata else {}
                    if labels.get(RUN_LABEL, "").isdigit():
                        runs.add(int(labels[RUN_LABEL]))
            for run_id in sorted(ended(runs)) if runs else ():
                logger.info("deleting the daemons of ended run %s", run_id)
                self._delete_selected(namespace, daemon_selector(run_id))

    def delete_attempt(self, namespace: str, attempt_id: int) -> None:
        self._delete_selected(
            namespace, f"{daemon_selector()},{DAEMON_ATTEMPT_ID_LABEL}={attempt_id}"
        )

    # -- internals -------------------------------------------------------------------

    def _create(self, kind: str, namespace: str, body: Any) -> Any:
        timeout = self.backend.request_timeout
        if kind == "StatefulSet":
            return self.apps.create_namespaced_stateful_set(
                namespace, body, _request_timeout=timeout
            )
        return self.apps.create_namespaced_deployment(
            namespace, body, _request_timeout=timeout
        )

    def _read(self, kind: str, namespace: str, name: str) -> Any:
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        read = (
            self.apps.read_namespaced_stateful_set
            if kind == "StatefulSet"
            else self.apps.read_namespaced_deployment
        )
        try:
            return read(name, namespace, _request_timeout=self.backend.request_timeout)
        except ApiException as error:
            if error.status == 404:
                return None
            raise api_error(error, f"reading {kind} {namespace}/{name}") from error
        except _API_FAULTS as error:
            raise api_error(error, f"reading {kind} {namespace}/{name}") from error

    def _ensure_service(self, request: PodRequest, namespace: str, owner: Any) -> None:
        """Create the Service, or point the one a previous attempt left (same
        stable name) at this attempt's pods."""
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        core = self.backend.core
        service = service_manifest(request, namespace=namespace, owner=owner)
        name = (service.metadata.name if service.metadata else None) or ""
        doing = f"creating Service {namespace}/{name}"
        try:
            core.create_namespaced_service(
                namespace, service, _request_timeout=self.backend.request_timeout
            )
        except ApiException as error:
            if error.status != 409:
                raise api_error(error, doing) from error
            patch = {
                "metadata": {
                    "labels": service.metadata.labels if service.metadata else {},
                    "ownerReferences": core.api_client.sanitize_for_serialization(
                        service.metadata.owner_references if service.metadata else []
                    )
                    or None,
                },
                "spec": {"selector": service.spec.selector if service.spec else {}},
            }
            try:
                core.patch_namespaced_service(
                    name,
                    namespace,
                    patch,
                    _request_timeout=self.backend.request_timeout,
                )
            except (ApiException, *_API_FAULTS) as again:
                raise api_error(
                    again, f"updating Service {namespace}/{name}"
                ) from again
        except _API_FAULTS as error:
            raise api_error(error, doing) from error

    def _follow(self, followed: _Followed) -> None:
        with self._lock:
            self._followed[followed.request.attempt_id] = followed
            self._runs.add(followed.request.run_id)
        threading.Thread(
            target=self._until_ready,
            args=(followed,),
            name=f"daemon-{followed.request.attempt_id}",
            daemon=True,
        ).start()

    def _until_ready(self, followed: _Followed) -> None:
        request = followed.request
        timeout = request.timeout
        deadline = time.monotonic() + timeout if timeout is not None else None
        running = False
        report: Report | None = None
        while report is None:
            try:
                report, running = self._check(followed, deadline, running)
            except BackendError as error:
                logger.warning("following daemon %s: %s", followed.name, error)
            if report is None:
                time.sleep(_POLL_SECONDS)
        with self._lock:
            self._followed.pop(request.attempt_id, None)
        self.backend.report(report)

    def _check(
        self, followed: _Followed, deadline: float | None, running: bool
    ) -> tuple[Report | None, bool]:
        """The attempt's end once there is one; whether it was reported Running."""
        request = followed.request
        backend = self.backend

        def ended(status: AttemptStatus, **fields: Any) -> Report:
            return Report(
                request.attempt_id,
                status,
                at=backend.clock(),
                run_id=request.run_id or None,
                **fields,
            )

        if followed.cancelled:
            return ended(AttemptStatus.CANCELLED), running
        workload = self._read(followed.kind, followed.namespace, followed.name)
        if workload is None and followed.cancelled:
            # Deleted by the cancel between the check above and the read.
            return ended(AttemptStatus.CANCELLED), running
        if workload is None:
            return (
                ended(
                    AttemptStatus.ERROR,
                    reason="DaemonLost",
                    message=f"{followed.kind} {followed.namespace}/{followed.name} "
                    "was deleted before it was ready",
                ),
                running,
            )
        status = workload.status
        if status is not None and (status.ready_replicas or 0) >= 1:
            return self._ready(followed), running
        if status is not None and (status.replicas or 0) >= 1 and not running:
            backend.report(ended(AttemptStatus.RUNNING))
            running = True
        for condition in (status.conditions or []) if status else []:
            if (
                condition.type == "Progressing"
                and condition.status == "False"
                and condition.reason == "ProgressDeadlineExceeded"
            ):
                self.delete_attempt(followed.namespace, request.attempt_id)
                return (
                    ended(
                        AttemptStatus.FAILED,
                        reason="ProgressDeadlineExceeded",
                        message=condition.message or "the rollout did not progress",
                    ),
                    running,
                )
        if deadline is not None and time.monotonic() >= deadline:
            self.delete_attempt(followed.namespace, request.attempt_id)
            return (
                ended(
                    AttemptStatus.FAILED,
                    reason="DeadlineExceeded",
                    message=f"not ready within its timeout of {request.timeout:g}s",
                ),
                running,
            )
        return None, running

    def _ready(self, followed: _Followed) -> Report:
        """Succeeded, with the Service's address as the outputs."""
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error
        from k8s_runner.daemon_manifests import service_name

        request = followed.request
        name = service_name(request.workflow, request.run_id, request.task)
        try:
            service = self.backend.core.read_namespaced_service(
                name, followed.namespace, _request_timeout=self.backend.request_timeout
            )
        except (ApiException, *_API_FAULTS) as error:
            raise api_error(
                error, f"reading Service {followed.namespace}/{name}"
            ) from error
        ip = (service.spec.cluster_ip if service.spec else None) or ""
        dns = f"{name}.{followed.namespace}.svc"
        return Report(
            request.attempt_id,
            AttemptStatus.SUCCEEDED,
            message=f"ready: Service {dns} ({ip})",
            at=self.backend.clock(),
            run_id=request.run_id or None,
            outputs=CollectedOutputs(parameters={"ip": ip, "service": dns}),
        )

    def _listers(self, namespace: str) -> list[Callable[..., Any]]:
        core, apps = self.backend.core, self.apps
        return [
            apps.list_namespaced_deployment,
            apps.list_namespaced_stateful_set,
            core.list_namespaced_service,
            core.list_namespaced_persistent_volume_claim,
        ]

    def _delete_selected(self, namespace: str, selector: str) -> None:
        """Delete the workloads, then the Services, claims and pods selected
        (a real cluster's garbage collector would take all but the claims of
        an old server; the tests' API server runs none)."""
        from k8s_runner.backends.kubernetes import _API_FAULTS, api_error

        core, apps = self.backend.core, self.apps
        timeout = self.backend.request_timeout
        body = V1DeleteOptions(propagation_policy="Background")
        pairs: list[tuple[Callable[..., Any], Callable[..., Any]]] = [
            (apps.list_namespaced_deployment, apps.delete_namespaced_deployment),
            (apps.list_namespaced_stateful_set, apps.delete_namespaced_stateful_set),
            (core.list_namespaced_service, core.delete_namespaced_service),
            (
                core.list_namespaced_persistent_volume_claim,
                core.delete_namespaced_persistent_volume_claim,
            ),
            (core.list_namespaced_pod, core.delete_namespaced_pod),
        ]
        for listed, delete in pairs:
            try:
                items = listed(
                    namespace, label_selector=selector, _request_timeout=timeout
                ).items
            except (ApiException, *_API_FAULTS) as error:
                raise api_error(
                    error, f"listing daemon objects in {namespace}"
                ) from error
            for item in items:
                name = item.metadata.name if item.metadata else None
                if not name:
                    continue
                try:
                    # Unread: an older server answers some deletes (a Service's)
                    # with a Status, which the client's models cannot read.
                    delete(
                        name,
                        namespace,
                        body=body,
                        _request_timeout=timeout,
                        _preload_content=False,
                    ).release_conn()
                except ApiException as error:
                    if error.status != 404:
                        raise api_error(
                            error, f"deleting {namespace}/{name}"
                        ) from error
                except _API_FAULTS as error:
                    raise api_error(error, f"deleting {namespace}/{name}") from error


def _request_of(workload: Any, attempt: LiveAttempt) -> PodRequest:
    """Enough of a followed attempt's request to follow it again after a
    restart, from its workload (names, labels, the readiness deadline gone:
    the progress deadline still bounds it)."""
    from k8s_runner.manifests import (
        TASK_ANNOTATION,
        VERSION_ANNOTATION,
        WORKFLOW_ANNOTATION,
    )

    metadata = workload.metadata
    labels = metadata.labels or {}
    annotations = metadata.annotations or {}
    return PodRequest(
        attempt_id=attempt.attempt_id,
        run_id=int(labels.get(RUN_LABEL, "0")),
        workflow=annotations.get(WORKFLOW_ANNOTATION, ""),
        version=int(annotations.get(VERSION_ANNOTATION, "0") or 0),
        task=annotations.get(TASK_ANNOTATION, ""),
        attempt=0,
        image=None,
        command=(),
        args=(),
        daemon={},
    )
