"""The Kubernetes backend: every attempt a Pod. The only module that talks to the
Kubernetes API; the pod watcher (k8s_runner/watcher.py) goes through it too.

A launch creates the attempt's pod (its name derives from the attempt, so a
repeated launch meets 409 AlreadyExists and adopts the pod instead of running
the attempt twice) and reports it Pending with its handle (`namespace/name`)
and the path its log will be archived to. What happens next arrives through
the watcher, which turns pod events into reports (k8s_runner/pod_status.py).
API faults become BackendError: transient ones (429, 5xx, a lost connection)
are tried again later, the rest (a refused manifest, a missing namespace, a
quota) fail the attempt as Error. docs/kubernetes.md has the whole story.

A pod with outputs succeeds only with them: `complete` reads the line
Flowdeck's helper container left in its log (k8s_runner/helper.py) and the
result from the task's archived log, through the API, for as long as the pod
exists; the watcher deletes a pod only once its end is recorded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import config as kube_config
from kubernetes import watch as kube_watch
from kubernetes.client import (
    ApiClient,
    CoreV1Api,
    V1Capabilities,
    V1Container,
    V1Job,
    V1ListMeta,
    V1ObjectMeta,
    V1Pod,
    V1PodSecurityContext,
    V1PodSpec,
    V1PodStatus,
    V1SeccompProfile,
    V1SecurityContext,
    VersionApi,
)
from kubernetes.client.exceptions import ApiException

from flowcore.reports import Report
from flowcore.states import TERMINAL_ATTEMPT_STATUSES, AttemptStatus
from k8s_runner.backends.base import BackendError, LiveAttempt, Reporter
from k8s_runner.backends.kubernetes_daemons import (
    KubernetesDaemons,
    split_daemon_handle,
)
from k8s_runner.backends.kubernetes_jobs import KubernetesJobs
from k8s_runner.helper import decode_line
from k8s_runner.job_status import split_job_handle
from k8s_runner.manifests import (
    ALLOW_PRIVILEGED_HINT,
    ATTEMPT_ID_LABEL,
    ATTEMPT_LABEL,
    CONTAINER,
    NATIVE_SIDECARS_SINCE,
    OUTPUTS_CONTAINER,
    RUN_LABEL,
    SELECTOR,
    ArtifactBucket,
    ManifestError,
    ManifestSettings,
    attempt_id_of,
    pod_manifest,
    refused_privileges,
    stamp_of,
    task_of,
)
from k8s_runner.outputs import apply_outputs, result_from_log
from k8s_runner.pod_request import PodRequest
from k8s_runner.pod_status import handle_of, outputs_wanted, report_for, split_handle
from observability import metrics

logger = logging.getLogger(__name__)

_LIST_PAGE = 500
_ORPHAN_AGE_SECONDS = 120.0
_LOG_READ_SECONDS = 300.0
_LOG_CHUNK = 64 * 1024
# The helper's line is bounded by the caps (base64: 4/3 of the values, plus
# the artifacts' names and hashes); read at most this much more of its log.
_HELPER_LOG_SLACK = 1024 * 1024
# Faults worth trying again: throttling, timeouts, conflicts, a server in trouble,
# and 401 (a rotated service-account token is read again on the next call).
_TRANSIENT_STATUSES = frozenset({0, 401, 408, 409, 425, 429})


class ResourceExpired(BackendError):
    """410 Gone: the watch's resourceVersion was compacted away; list again."""


class NoLog(BackendError):
    """The pod has no log to read: its container has not started, or the pod
    is `gone`."""

    def __init__(self, message: str, *, gone: bool) -> None:
        super().__init__(message, permanent=False)
        self.gone = gone


NAMESPACE_MISSING = (
    "namespace {namespace} does not exist: create it and bind Flowdeck's Role "
    "in it (docs/kubernetes.md, Namespaces), or give the project a namespace "
    "that exists"
)
NAMESPACE_FORBIDDEN = (
    "Flowdeck's service account may not use namespace {namespace} (it does "
    "not exist, or has no RoleBinding of Flowdeck's Role): create it and bind "
    "the Role there (docs/kubernetes.md, Namespaces), or give the project a "
    "namespace Flowdeck may use"
)


def _rbac_denied(error: ApiException) -> bool:
    """A 403 from authorization ("pods is forbidden: User ... cannot create
    resource"), not one from admission (a quota, Pod Security): only the
    former is about the namespace."""
    return error.status == 403 and "cannot create resource" in str(error.body)


def namespace_error(status: int, namespace: str, request: PodRequest) -> BackendError:
    """A pod refused for its namespace (404: it does not exist; 403: no
    rights there, which is also what RBAC answers for one that does not
    exist), as a final Error that says what to do and where it came from."""
    if status == 404:
        reason, text = "NamespaceNotFound", NAMESPACE_MISSING
    else:
        reason, text = "NamespaceForbidden", NAMESPACE_FORBIDDEN
    source = (
        "the workflow's spec.namespace"
        if request.namespace
        else "the project's namespace"
        if request.project_namespace
        else "FLOWDECK_K8S_NAMESPACE"
    )
    return BackendError(
        f"{text.format(namespace=namespace)} (from {source})",
        permanent=True,
        reason=reason,
    )


_VERBS = (
    ("creating", "create"),
    ("listing", "list"),
    ("finding", "list"),
    ("watching", "watch"),
    ("reading the log", "log"),
    ("following the log", "log"),
    ("reading", "get"),
    ("deleting", "delete"),
)


def _verb(doing: str) -> str:
    return next((verb for start, verb in _VERBS if doing.startswith(start)), "other")


def api_error(error: BaseException, doing: str) -> BackendError:
    """A Kubernetes API fault as a BackendError that says whether it is final
    (and counted in flowdeck_kubernetes_api_errors by verb and status)."""
    code = error.status or 0 if isinstance(error, ApiException) else 0
    metrics.KUBE_API_ERRORS.labels(_verb(doing), str(code)).inc()
    if isinstance(error, ApiException):
        status = error.status or 0
        text = f"{doing}: {status} {_api_message(error)}".rstrip()
        if status == 410:
            return ResourceExpired(text)
        transient = status in _TRANSIENT_STATUSES or status >= 500
        return BackendError(text, permanent=not transient)
    return BackendError(f"{doing}: {error}", permanent=False)


_API_FAULTS = (ApiException, urllib3.exceptions.HTTPError, OSError)


def delete_object(
    delete: Callable[..., object], namespace: str, name: str, what: str, **options: Any
) -> None:
    """Delete a pod or Job with the client's `delete` call (`options` are its
    keyword arguments): one already gone is fine, any other fault a
    BackendError saying what was being deleted."""
    doing = f"deleting {what} {namespace}/{name}"
    try:
        # Not preloaded: the answer (the whole object, being deleted) is not
        # needed, and building its model cost the pod watcher a third of
        # each delete's CPU.
        response: urllib3.BaseHTTPResponse = delete(  # type: ignore[assignment]
            name, namespace, _preload_content=False, **options
        )
    except ApiException as error:
        if error.status != 404:
            raise api_error(error, doing) from error
        return
    except _API_FAULTS as error:
        raise api_error(error, doing) from error
    try:
        if response.status != 404 and not 200 <= response.status < 300:
            raise api_error(ApiException(http_resp=response), doing)
    finally:
        response.release_conn()


def _api_message(error: ApiException) -> str:
    try:
        body = json.loads(error.body or "")
    except ValueError:
        return str(error.reason or "")
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(error.reason or "")


class TokenBucket:
    """At most `rate` acquisitions a second on average, `burst` at once;
    `rate` 0 means no limit. Thread-safe; acquire() waits for a token."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token, waiting for one if need be; the seconds waited."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(
                self.burst, self._tokens + (now - self._stamp) * self.rate
            )
            self._stamp = now
            self._tokens -= 1
            # A negative balance is the queue: each waiter sleeps its share.
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait:
            self._sleep(wait)
        return wait


@dataclass(frozen=True, slots=True)
class PodEvent:
    """One event of a pod watch: ADDED, MODIFIED, DELETED or BOOKMARK (whose
    pod is None: a bookmark only moves the resourceVersion on)."""

    kind: str
    pod: V1Pod | None
    resource_version: str | None


class PodParser:
    """Watch events' pods as V1Pod, each pod's spec parsed once.

    The client's own watch decodes every event's JSON, encodes it again and
    decodes it a second time before building the model, and a pod's spec (its
    containers, their environment) is most of the model while it does not
    change after creation: together about a fifth of the pod watcher's CPU
    per task (py-spy, benchmarks/production.py --profile). The raw spec is
    compared with the one parsed before, so a spec that does change (an
    image updated in place) is parsed again."""

    LIMIT = 20_000  # pods remembered; past it the memory starts over

    def __init__(self) -> None:
        self._specs: dict[str, tuple[dict[str, Any], V1PodSpec]] = {}

    def pod(self, raw: dict[str, Any]) -> V1Pod:
        uid = (raw.get("metadata") or {}).get("uid")
        spec_raw = raw.get("spec")
        if spec_raw is None or not uid:
            whole = V1Pod.from_dict(raw)
            assert whole is not None  # a dict makes a model
            return whole
        known = self._specs.get(uid)
        if known is not None and known[0] == spec_raw:
            spec = known[1]
        else:
            parsed = V1PodSpec.from_dict(spec_raw)
            assert parsed is not None  # a dict makes a model
            spec = parsed
            if len(self._specs) >= self.LIMIT:
                self._specs.clear()
            self._specs[uid] = (spec_raw, spec)
        # As V1Pod.from_dict builds it, but with the spec as it is: assigning
        # it to a validated model would copy it.
        metadata, status = raw.get("metadata"), raw.get("status")
        return V1Pod.model_construct(
            api_version=raw.get("apiVersion"),
            kind=raw.get("kind"),
            metadata=V1ObjectMeta.from_dict(metadata) if metadata is not None else None,
            spec=spec,
            status=V1PodStatus.from_dict(status) if status is not None else None,
        )

    def forget(self, raw: dict[str, Any]) -> None:
        """The pod was deleted: its spec is not needed again."""
        self._specs.pop((raw.get("metadata") or {}).get("uid") or "", None)


class _PodWatch(kube_watch.Watch):
    """The client's watch (its streaming, its stop) with PodParser's decoding
    of each event in place of its own."""

    def __init__(self, parser: PodParser) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._parser = parser

    def unmarshal_event(self, data: str, return_type: object) -> dict[str, Any] | None:
        if not data or data.isspace():
            return None
        try:
            event: dict[str, Any] = json.loads(data)
        except json.JSONDecodeError:
            return None
        raw = event["raw_object"] = event["object"]
        version = ((raw or {}).get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = version
        if event["type"] not in ("BOOKMARK", "ERROR"):
            event["object"] = self._parser.pod(raw)
            if event["type"] == "DELETED":
                self._parser.forget(raw)
        return event


class PodStream:
    """The events of one watch request; stop() ends it from another thread."""

    def __init__(self, watch: kube_watch.Watch, events: Iterator[dict[str, Any]]):
        self._watch = watch
        self._events = events

    def __iter__(self) -> Iterator[PodEvent]:
        try:
            for event in self._events:
                kind = event["type"]
                raw = event.get("raw_object") or {}
                version = (raw.get("metadata") or {}).get("resourceVersion")
                pod = event["object"] if kind != "BOOKMARK" else None
                yield PodEvent(kind, pod, version)
        except _API_FAULTS as error:
            raise api_error(error, "watching pods") from error

    def stop(self) -> None:
        self._watch.stop()  # type: ignore[no-untyped-call]


def log_path_for(data_dir: Path, run_id: int, task: str, attempt: int) -> Path:
    """Where an attempt's log is archived: the local backend's layout."""
    return data_dir / "logs" / f"run-{run_id}" / task / f"{attempt}.log"


class KubernetesBackend:
    name = "kubernetes"
    # launch() may run in several threads at once (reconcile._in_parallel):
    # its client's connection pool and the create limiter are thread-safe.
    parallel_launches = True

    def __init__(
        self,
        reporter: Reporter,
        *,
        api_client: Callable[[], ApiClient],
        data_dir: Path,
        namespace: str = "default",
        delete_grace_seconds: int = 30,
        image_pull_grace_seconds: float = 120.0,
        create_qps: float = 20.0,
        create_burst: int = 40,
        allow_privileged: bool = False,
        manifest_settings: ManifestSettings = ManifestSettings(),  # noqa: B008 - frozen
        request_timeout: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        native_sidecars: bool | None = None,
    ) -> None:
        self._reporter = reporter
        self._make_client = api_client
        self._client: ApiClient | None = None
        self._client_lock = threading.Lock()
        self.data_dir = data_dir
        self.namespace = namespace
        self.delete_grace_seconds = delete_grace_seconds
        self.image_pull_grace_seconds = image_pull_grace_seconds
        self.allow_privileged = allow_privileged
        self.manifest_settings = manifest_settings
        self.request_timeout = request_timeout
        self.clock = clock
        self.create_limiter = TokenBucket(create_qps, create_burst)
        self._namespaces = {namespace}
        self._namespaces_lock = threading.Lock()
        # None: asked of the server (its version) the first time a task has
        # sidecars.
        self._native_sidecars = native_sidecars
        self._server: tuple[int, int] | None = None
        self.jobs = KubernetesJobs(self)
        self.daemons = KubernetesDaemons(self)
        self._pod_parser = PodParser()

    @classmethod
    def from_settings(cls, reporter: Reporter) -> KubernetesBackend:
        """The backend as the deployment's settings describe it (read now)."""
        from django.conf import settings

        kubeconfig = settings.FLOWDECK_K8S_KUBECONFIG
        context = settings.FLOWDECK_K8S_CONTEXT
        bucket = (
            ArtifactBucket(
                bucket=settings.FLOWDECK_ARTIFACT_S3_BUCKET,
                prefix=settings.FLOWDECK_ARTIFACT_S3_PREFIX,
                endpoint=settings.FLOWDECK_ARTIFACT_S3_ENDPOINT,
                region=settings.FLOWDECK_ARTIFACT_S3_REGION,
            )
            if settings.FLOWDECK_ARTIFACT_STORE == "s3"
            else None
        )
        return cls(
            reporter,
            api_client=lambda: client_from_config(kubeconfig, context),
            data_dir=Path(settings.DATA_DIR),
            namespace=settings.FLOWDECK_K8S_NAMESPACE,
            delete_grace_seconds=settings.FLOWDECK_K8S_DELETE_GRACE_SECONDS,
            image_pull_grace_seconds=settings.FLOWDECK_K8S_IMAGE_PULL_GRACE_SECONDS,
            create_qps=settings.FLOWDECK_K8S_CREATE_QPS,
            create_burst=settings.FLOWDECK_K8S_CREATE_BURST,
            allow_privileged=settings.FLOWDECK_K8S_ALLOW_PRIVILEGED,
            manifest_settings=ManifestSettings(
                helper_image=settings.FLOWDECK_K8S_HELPER_IMAGE,
                artifact_bucket=bucket,
                artifact_secret=settings.FLOWDECK_K8S_ARTIFACT_SECRET,
            ),
        )

    # -- the Backend interface ---------------------------------------------------

    def launch(self, request: PodRequest) -> None:
        refused = refused_privileges(request.security_context)
        if refused and not self.allow_privileged:
            raise BackendError(
                f"securityContext {', '.join(refused)} {ALLOW_PRIVILEGED_HINT}",
                permanent=True,
            )
        namespace = self.namespace_for(request)
        refusal = self.namespace_refusal(
            request, namespace
        ) or self.service_account_refusal(request)
        if refusal is not None:
            raise BackendError(refusal, permanent=True)
        if request.job is not None:
            self.jobs.launch(request, namespace)
            return
        if request.daemon is not None:
            self.daemons.launch(request, namespace)
            return
        settings = self.manifest_settings_for(request)
        try:
            pod = pod_manifest(request, namespace=namespace, settings=settings)
        except ManifestError as error:
            raise BackendError(str(error), permanent=True) from error
        except ValueError as error:  # the client's models refused a field
            raise BackendError(
                f"invalid pod for {request.name}: {error}", permanent=True
            ) from error
        self.remember_namespace(namespace)
        self.create_limiter.acquire()
        began = time.monotonic()
        try:
            created = self.core.create_namespaced_pod(
                namespace, pod, _request_timeout=self.request_timeout
            )
            metrics.POD_CREATE.observe(time.monotonic() - began)
        except ApiException as error:
            if error.status == 409:
                self._adopt(request, namespace)
                return
            failure = api_error(error, f"creating pod {namespace}/{request.name}")
            if error.status == 404 or _rbac_denied(error):
                raise namespace_error(error.status, namespace, request) from error
            raise failure from error
        except _API_FAULTS as error:
            raise api_error(
                error, f"creating pod {namespace}/{request.name}"
            ) from error
        self._reporter(
            Report(
                request.attempt_id,
                AttemptStatus.PENDING,
                handle=handle_of(created),
                log_path=str(
                    self.log_path(request.run_id, request.task, request.attempt)
                ),
                at=self.clock(),
                run_id=request.run_id,
                attempt_stamp=request.stamp,
            )
        )

    def native_sidecars(self) -> bool:
        """Whether the server runs sidecars natively (init containers with
        restartPolicy Always: Kubernetes 1.29 and newer). An older server
        would keep such an init container running and never start the
        task's: there sidecars are ordinary containers instead."""
        if self._native_sidecars is None:
            self._native_sidecars = self.server() >= NATIVE_SIDECARS_SINCE
        return self._native_sidecars

    def server(self) -> tuple[int, int]:
        """The API server's (major, minor) version, asked once."""
        if self._server is None:
            try:
                info = VersionApi(self.core.api_client).get_code(
                    _request_timeout=self.request_timeout
                )
            except _API_FAULTS as error:
                raise api_error(error, "reading the server's version") from error
            self._server = server_version(info.major, info.minor)
        return self._server

    def manifest_settings_for(self, request: PodRequest) -> ManifestSettings:
        """The manifest settings, with what the server decides for this task."""
        if not request.sidecars:
            return self.manifest_settings
        return replace(self.manifest_settings, native_sidecars=self.native_sidecars())

    def namespace_for(self, request: PodRequest) -> str:
        """Where the attempt's pod goes: the workflow's spec.namespace, else its
        project's namespace, else the backend's (FLOWDECK_K8S_NAMESPACE)."""
        return request.namespace or request.project_namespace or self.namespace

    def namespace_refusal(self, request: PodRequest, namespace: str) -> str | None:
        """Why `namespace` is not one the request's project may use (checked
        again here, after save and submit: defence in depth), or None."""
        if not request.allowed_namespaces:
            return None
        allowed = [name or self.namespace for name in request.allowed_namespaces]
        if namespace in allowed:
            return None
        return (
            f"namespace {namespace} is not one of the project's "
            f"({', '.join(dict.fromkeys(allowed))}): refused before creating "
            f"pod {request.name}"
        )

    def service_account_refusal(self, request: PodRequest) -> str | None:
        """Why the task's serviceAccountName is not one the request's project
        allows (checked again here, after save and submit), or None."""
        named = request.service_account_name
        allowed = request.allowed_service_accounts
        if not named or not allowed or named in allowed:
            return None
        return (
            f"service account {named} is not one of the project's "
            f"({', '.join(allowed)}): refused before creating pod {request.name}"
        )

    def namespace_problem(self, namespace: str) -> str | None:
        """Why pods cannot go to `namespace` (it does not exist, or this
        service account may not create pods there), or None when they can.

        A dry-run create of a minimal pod: the one question the Role lets us
        ask (listing pods in a namespace that does not exist answers an empty
        list, and reading namespaces is cluster-wide). Nothing is stored. A
        refusal by a policy or a quota is the pod's business, not the
        namespace's: not reported here."""
        probe = V1Pod(
            metadata=V1ObjectMeta(name="flowdeck-namespace-check"),
            spec=V1PodSpec(
                restart_policy="Never",
                security_context=V1PodSecurityContext(
                    run_as_non_root=True,
                    run_as_user=65534,
                    seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
                ),
                containers=[
                    V1Container(
                        name="check",
                        image=self.manifest_settings.helper_image,
                        security_context=V1SecurityContext(
                            allow_privilege_escalation=False,
                            capabilities=V1Capabilities(drop=["ALL"]),
                        ),
                    )
                ],
            ),
        )
        try:
            self.core.create_namespaced_pod(
                namespace, probe, dry_run="All", _request_timeout=self.request_timeout
            )
        except ApiException as error:
            if error.status == 404:
                return NAMESPACE_MISSING.format(namespace=namespace)
            if _rbac_denied(error):
                return NAMESPACE_FORBIDDEN.format(namespace=namespace)
            if error.status and error.status < 500:
                return None  # a policy, a quota, a webhook: about the pod
            return f"could not check namespace {namespace}: {error.status}"
        except _API_FAULTS as error:
            return f"could not check namespace {namespace}: {error}"
        return None

    def cancel(self, attempt_id: int, handle: str) -> None:
        """Archive what the attempt logged so far, then delete its pod with the
        configured grace period (a Job attempt: its Job and pods); a pod
        already gone is fine."""
        if split_daemon_handle(handle) is not None:
            self.daemons.cancel(attempt_id, handle)
            return
        if split_job_handle(handle) is not None or not handle:
            self.jobs.cancel(attempt_id, handle)
            if handle:
                return
        for pod in self._pods_of(attempt_id, handle):
            namespace, name = where(pod)
            with contextlib.suppress(BackendError):
                self.archive_log(pod)
            self.delete_pod(namespace, name, grace_seconds=self.delete_grace_seconds)

    def status(self, attempt_id: int, handle: str) -> Report | None:
        if split_daemon_handle(handle) is not None:
            return self.daemons.status(attempt_id, handle)
        if split_job_handle(handle) is not None:
            return self.jobs.status(attempt_id, handle)
        namespace, name = split_handle(handle)
        if not name:
            return None
        pod = self.read_pod(namespace or self.namespace, name)
        if pod is None or attempt_id_of(_labels(pod)) != attempt_id:
            return None
        report = report_for(
            pod,
            now=self.clock(),
            image_pull_grace_seconds=self.image_pull_grace_seconds,
        )
        return None if report is None else self.complete(pod, report)

    def logs(self, log_path: str, handle: str, *, offset: int = 0) -> bytes:
        """The archived log when there is one, else what the pod has logged."""
        if log_path:
            with contextlib.suppress(FileNotFoundError), open(log_path, "rb") as log:
                log.seek(offset)
                return log.read()
        if split_daemon_handle(handle) is not None:
            return self.daemons.logs(handle)[offset:]
        namespace, name = split_handle(handle)
        if not name or split_job_handle(handle) is not None:
            return b""  # a Job's logs are read once it has ended
        return self.read_log(namespace or self.namespace, name)[offset:]

    def recover(self, live: list[LiveAttempt]) -> list[int]:
        """After a restart: adopt the pods of live attempts (reporting what they
        say, archiving the finished ones' logs), delete pods no live attempt
        owns, report Error for attempts whose pod vanished, and return the
        attempts never launched (no handle, no pod) for launching again."""
        started = self.clock()
        live = self.daemons.recover(live)
        jobs = [a for a in live if split_job_handle(a.handle) is not None]
        relaunched = self.jobs.recover(jobs, started) if jobs else []
        live = [a for a in live if split_job_handle(a.handle) is None]
        handles = {attempt.attempt_id: attempt.handle for attempt in live}
        for handle in handles.values():
            namespace, _ = split_handle(handle)
            if namespace:
                self.remember_namespace(namespace)
        found: set[int] = set()
        for namespace in sorted(self.namespaces()):
            pods, _ = self.list_pods(namespace)
            for pod in pods:
                attempt_id = attempt_id_of(_labels(pod))
                if attempt_id is None:
                    continue
                if attempt_id in handles:
                    found.add(attempt_id)
                    self.observe(pod)
                elif _orphaned(pod, started):
                    logger.info(
                        "deleting orphan pod %s: attempt %s is not live",
                        handle_of(pod),
                        attempt_id,
                    )
                    self.archive_quietly(pod)
                    self.delete_pod(
                        *where(pod), grace_seconds=self.delete_grace_seconds
                    )
        relaunch = []
        for attempt_id, handle in handles.items():
            if attempt_id in found:
                continue
            if not handle:
                relaunch.append(attempt_id)
                continue
            self._reporter(
                Report(
                    attempt_id,
                    AttemptStatus.ERROR,
                    reason="PodLost",
                    message=f"pod {handle} disappeared while the worker was away",
                    at=self.clock(),
                )
            )
        return relaunch + relaunched

    def end_run(self, run_id: int) -> None:
        """The run ended: delete its daemons' objects."""
        self.daemons.end_run(run_id)

    def sweep_daemons(self, ended: Callable[[set[int]], set[int]]) -> None:
        """Delete the daemon objects of runs that `ended` says have ended."""
        self.daemons.sweep(ended)

    # -- what the watcher shares ---------------------------------------------------

    @property
    def core(self) -> CoreV1Api:
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = self._make_client()
                except (kube_config.ConfigException, OSError) as error:
                    raise BackendError(
                        f"cannot configure the Kubernetes client: {error}",
                        permanent=True,
                    ) from error
            return CoreV1Api(self._client)

    def namespaces(self) -> set[str]:
        with self._namespaces_lock:
            return set(self._namespaces)

    def remember_namespace(self, namespace: str) -> None:
        with self._namespaces_lock:
            self._namespaces.add(namespace)

    def log_path(self, run_id: int, task: str, attempt: int) -> Path:
        return log_path_for(self.data_dir, run_id, task, attempt)

    def log_path_of(self, pod: V1Pod | V1Job) -> Path:
        """Where the log of the attempt `pod` runs is archived (from its labels;
        KeyError or ValueError for a pod without them)."""
        labels = _labels(pod)
        annotations = (pod.metadata.annotations if pod.metadata else None) or {}
        task = task_of(labels, annotations)
        return self.log_path(int(labels[RUN_LABEL]), task, int(labels[ATTEMPT_LABEL]))

    def observe(self, pod: V1Pod) -> Report | None:
        """Report what `pod` says now; a finished attempt's log is archived
        first, so the report that ends it names a complete log."""
        report = report_for(
            pod,
            now=self.clock(),
            image_pull_grace_seconds=self.image_pull_grace_seconds,
        )
        if report is None:
            return None
        if report.status in TERMINAL_ATTEMPT_STATUSES:
            path = self.archive_quietly(pod)
            if path:
                report = replace(report, log_path=path)
            try:
                report = self.complete(pod, report)
            except BackendError as error:
                # The pod stays until its end is recorded: the watcher (its
                # list, or a look again) reads the outputs later.
                logger.warning(
                    "the outputs of %s cannot be read yet: %s", handle_of(pod), error
                )
                return None
        self._reporter(report)
        return report

    def complete(self, pod: V1Pod, report: Report) -> Report:
        """A Succeeded report of a pod with outputs, with them: the helper's
        line from its log, the result from the task's log (archived first if
        `report` names no archive), held to their caps; or the failure they
        make. Any other report as it is. BackendError (transient) when they
        cannot be read now: ask again later, the pod is still there."""
        if report.status is not AttemptStatus.SUCCEEDED:
            return report
        try:
            wanted = outputs_wanted(pod)
        except ValueError as error:
            return _helper_failed(report, str(error))
        if wanted is None:
            return report
        namespace, name = where(pod)
        try:
            log = b"".join(
                self._log_chunks(
                    namespace,
                    name,
                    container=OUTPUTS_CONTAINER,
                    limit_bytes=2 * wanted.max_total_bytes + _HELPER_LOG_SLACK,
                )
            )
        except NoLog as error:
            if not error.gone:
                raise BackendError(str(error)) from error
            return _outputs_lost(report)
        try:
            decoded = decode_line(log.decode("utf-8", errors="replace"))
        except (ValueError, KeyError, TypeError) as error:
            return _helper_failed(report, f"its line cannot be read: {error}")
        if decoded is None:
            return _helper_failed(report, "it left no outputs in its log")
        outputs, counted, seen = decoded
        if seen != 0:
            return _helper_failed(report, f"it saw the task exit with {seen}")
        if wanted.result and not wanted.result_path and not outputs.problem:
            try:
                path = report.log_path or self.archive_log(pod)
            except NoLog as error:
                if not error.gone:
                    raise BackendError(str(error)) from error
                return _outputs_lost(report)
            report = replace(report, log_path=path)
            outputs = result_from_log(outputs, counted, wanted, Path(path))
        return apply_outputs(report, outputs)

    def list_pods(self, namespace: str) -> tuple[list[V1Pod], str]:
        """Every Flowdeck pod in `namespace`, and the list's resourceVersion to
        watch from (pages of a list share one consistent snapshot)."""
        pods: list[V1Pod] = []
        token: str | None = None
        version = ""
        while True:
            try:
                page = self.core.list_namespaced_pod(
                    namespace,
                    label_selector=SELECTOR,
                    limit=_LIST_PAGE,
                    _continue=token,
                    _request_timeout=self.request_timeout,
                )
            except _API_FAULTS as error:
                raise api_error(error, f"listing pods in {namespace}") from error
            pods.extend(page.items or [])
            listed = page.metadata or V1ListMeta()
            version = version or listed.resource_version or ""
            token = listed.var_continue
            if not token:
                return pods, version

    def watch_pods(
        self, namespace: str, resource_version: str, *, timeout_seconds: int
    ) -> PodStream:
        """Flowdeck's pods in `namespace` changing after `resource_version`, for
        at most `timeout_seconds` (the server ends the request then)."""
        watch = _PodWatch(self._pod_parser)
        events = watch.stream(  # type: ignore[no-untyped-call]
            self.core.list_namespaced_pod,
            namespace,
            label_selector=SELECTOR,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=int(timeout_seconds),
            # The client gives up a little after the server should have ended it.
            _request_timeout=(self.request_timeout, timeout_seconds + 30),
        )
        return PodStream(watch, events)

    def read_pod(self, namespace: str, name: str) -> V1Pod | None:
        try:
            pod: V1Pod = self.core.read_namespaced_pod(
                name, namespace, _request_timeout=self.request_timeout
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise api_error(error, f"reading pod {namespace}/{name}") from error
        except _API_FAULTS as error:
            raise api_error(error, f"reading pod {namespace}/{name}") from error
        return pod

    def delete_pod(self, namespace: str, name: str, *, grace_seconds: int) -> None:
        delete_object(
            self.core.delete_namespaced_pod,
            namespace,
            name,
            "pod",
            grace_period_seconds=grace_seconds,
            _request_timeout=self.request_timeout,
        )

    def events(self, handle: str) -> list[dict[str, Any]]:
        """The Kubernetes Events about the pod `handle` (`namespace/name`), the
        oldest first, each as {type, reason, message, count, first_time,
        last_time, source} (times as ISO 8601 text, or None). Events expire
        (an hour by default), so an old pod has none."""
        namespace, name = split_handle(handle)
        if not name:
            return []
        namespace = namespace or self.namespace
        try:
            listed = self.core.list_namespaced_event(
                namespace,
                field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}",
                _request_timeout=self.request_timeout,
            )
        except _API_FAULTS as error:
            raise api_error(error, f"listing the events of {handle}") from error
        found = [_event_dict(event) for event in listed.items or []]
        found.sort(key=lambda event: event["last_time"] or event["first_time"] or "")
        return found

    def read_log(self, namespace: str, name: str) -> bytes:
        """What the pod's container logged; b"" before it has started (or once
        the pod is gone)."""
        try:
            return b"".join(self._log_chunks(namespace, name))
        except NoLog:
            return b""

    def open_log_stream(
        self,
        namespace: str,
        name: str,
        *,
        follow: bool,
        tail_lines: int | None = None,
        since_time: str | None = None,
        read_timeout: float = 1.0,
    ) -> urllib3.BaseHTTPResponse:
        """The pod's log with a timestamp on every line, as a raw response to
        read (and release) by the caller: followed when `follow`, from
        `since_time` (RFC 3339, whole seconds: the API's precision) or the
        last `tail_lines` lines. Each read waits at most `read_timeout`.
        NoLog when there is none (the container has not started, or the pod
        is gone); BackendError for other faults.

        The client's read_namespaced_pod_log has no `since_time`, so the
        request is built with the client's own serializer."""
        doing = f"following the log of {namespace}/{name}"
        query: list[tuple[str, Any]] = [
            ("container", CONTAINER),
            ("follow", "true" if follow else "false"),
            ("timestamps", "true"),
        ]
        if since_time is not None:
            query.append(("sinceTime", since_time))
        elif tail_lines is not None:
            query.append(("tailLines", tail_lines))
        client = self.core.api_client
        try:
            request = client.param_serialize(
                method="GET",
                resource_path="/api/v1/namespaces/{namespace}/pods/{name}/log",
                path_params={"namespace": namespace, "name": name},
                query_params=query,
                # What the generated read_namespaced_pod_log asks for: the API
                # server refuses text/plain as an Accept (406), and answers
                # logs as text whatever this says.
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response: urllib3.BaseHTTPResponse = client.call_api(
                *request, _request_timeout=(self.request_timeout, read_timeout)
            ).response
        except _API_FAULTS as error:
            raise api_error(error, doing) from error
        if 200 <= response.status < 300:
            return response
        try:
            body = response.read().decode("utf-8", errors="replace").strip()
        except _API_FAULTS:
            body = ""
        finally:
            response.release_conn()
        if response.status in (400, 404):
            # 400: the container has not started; 404: the pod is gone.
            raise NoLog(f"{doing}: {body}", gone=response.status == 404)
        raise BackendError(
            f"{doing}: {response.status} {body}".rstrip(),
            permanent=not (
                response.status in _TRANSIENT_STATUSES or response.status >= 500
            ),
        )

    def archive_log(self, pod: V1Pod) -> str:
        """Write the pod's whole log under the data directory (atomically: a
        reader never sees half of it); the path. A pod already gone keeps the
        archive written before (say by a cancel); NoLog if there is none."""
        namespace, name = where(pod)
        path = self.log_path_of(pod)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".archive-")
        try:
            with os.fdopen(descriptor, "wb") as out:
                try:
                    for chunk in self._log_chunks(namespace, name):
                        out.write(chunk)
                except NoLog as error:
                    if path.exists() or error.gone:
                        raise
                    # The container never started (a failed pull): its log is
                    # empty, and an empty file says so.
            os.replace(temporary, path)
        except NoLog:
            os.unlink(temporary)
            if path.exists():
                return str(path)
            raise
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return str(path)

    def archive_quietly(self, pod: V1Pod) -> str:
        """archive_log, or "" when the log cannot be read (the pod is gone, the
        node is down): the attempt's end is recorded all the same."""
        try:
            return self.archive_log(pod)
        except (BackendError, KeyError, ValueError) as error:
            logger.warning("could not archive the log of %s: %s", handle_of(pod), error)
            return ""

    def report(self, report: Report) -> None:
        self._reporter(report)

    # -- internals -----------------------------------------------------------------

    def _adopt(self, request: PodRequest, namespace: str) -> None:
        """The pod exists already (a repeated launch): report what it says."""
        pod = self.read_pod(namespace, request.name)
        if pod is None:
            raise BackendError(
                f"pod {namespace}/{request.name} exists and vanished: try again"
            )
        owner = attempt_id_of(_labels(pod))
        if owner != request.attempt_id:
            raise BackendError(
                f"pod {namespace}/{request.name} belongs to attempt {owner}, not"
                f" {request.attempt_id}",
                permanent=True,
            )
        left = stamp_of(pod)
        if left and request.stamp and left != request.stamp:
            # Another attempt's, with the same id: the database was reset or
            # restored since. Its end is not this attempt's: it goes, and the
            # launch is tried again (a transient error) once it has gone.
            self.delete_pod(namespace, request.name, grace_seconds=0)
            raise BackendError(
                f"pod {namespace}/{request.name} was left by another attempt with"
                f" id {request.attempt_id} (recorded {left}; the database was reset"
                " or restored since): deleted it, the launch is tried again"
            )
        self.observe(pod)

    def _pods_of(self, attempt_id: int, handle: str) -> list[V1Pod]:
        namespace, name = split_handle(handle)
        if name:
            pod = self.read_pod(namespace or self.namespace, name)
            if pod is not None and attempt_id_of(_labels(pod)) == attempt_id:
                return [pod]
            return []
        # No handle recorded yet (the launch's report is still on its way):
        # find the pod by its attempt label wherever this backend puts pods.
        selector = f"{SELECTOR},{ATTEMPT_ID_LABEL}={attempt_id}"
        found = []
        for space in sorted(self.namespaces()):
            try:
                page = self.core.list_namespaced_pod(
                    space,
                    label_selector=selector,
                    _request_timeout=self.request_timeout,
                )
            except _API_FAULTS as error:
                raise api_error(
                    error, f"finding the pod of attempt {attempt_id}"
                ) from error
            found.extend(page.items or [])
        return found

    def _log_chunks(
        self,
        namespace: str,
        name: str,
        *,
        container: str = CONTAINER,
        limit_bytes: int | None = None,
    ) -> Iterator[bytes]:
        doing = f"reading the log of {namespace}/{name}"
        if container != CONTAINER:
            doing += f" ({container})"
        try:
            # Not preloaded: the raw urllib3 response, read in chunks.
            response: urllib3.BaseHTTPResponse = self.core.read_namespaced_pod_log(  # type: ignore[assignment]
                name,
                namespace,
                container=container,
                limit_bytes=limit_bytes,
                _preload_content=False,
                _request_timeout=(self.request_timeout, _LOG_READ_SECONDS),
            )
        except ApiException as error:
            # 400: the container has not started (ContainerCreating, a pull in
            # progress); 404: the pod is gone. Neither has a log to give.
            if error.status in (400, 404):
                gone = error.status == 404
                raise NoLog(f"{doing}: {_api_message(error)}", gone=gone) from error
            raise api_error(error, doing) from error
        except _API_FAULTS as error:
            raise api_error(error, doing) from error
        try:
            if response.status in (400, 404):
                raise NoLog(f"{doing}: {response.status}", gone=response.status == 404)
            if not 200 <= response.status < 300:
                raise BackendError(f"{doing}: {response.status}")
            yield from response.stream(_LOG_CHUNK)
        except _API_FAULTS as error:
            raise api_error(error, doing) from error
        finally:
            response.release_conn()


def server_version(major: str, minor: str) -> tuple[int, int]:
    """(major, minor) of /version's strings; managed clusters write the minor
    as "29+". (0, 0) when it cannot be read: the older shape is the safe one."""
    try:
        return int(major.rstrip("+")), int(minor.rstrip("+"))
    except (AttributeError, ValueError):
        return 0, 0


def _helper_failed(report: Report, problem: str) -> Report:
    return replace(
        report,
        status=AttemptStatus.ERROR,
        reason="OutputsHelperFailed",
        message=f"Flowdeck's outputs helper failed: {problem}",
    )


def _outputs_lost(report: Report) -> Report:
    return replace(
        report,
        status=AttemptStatus.ERROR,
        reason="PodDeleted",
        message="the pod was deleted before its outputs were read",
    )


def where(pod: V1Pod) -> tuple[str, str]:
    """The pod's (namespace, name)."""
    metadata = pod.metadata or V1ObjectMeta()
    return metadata.namespace or "", metadata.name or ""


def _event_dict(event: Any) -> dict[str, Any]:
    def text(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    last = event.last_timestamp or event.event_time
    source = event.source
    return {
        "type": event.type or "",
        "reason": event.reason or "",
        "message": event.message or "",
        "count": event.count or 1,
        "first_time": text(event.first_timestamp or last),
        "last_time": text(last),
        "source": (source.component if source else None) or "",
    }


def _labels(pod: V1Pod | V1Job) -> dict[str, str]:
    return dict((pod.metadata.labels if pod.metadata else None) or {})


def _orphaned(pod: V1Pod, since: datetime) -> bool:
    """Whether a pod no live attempt owns may be deleted. A young one is left
    alone: its attempt may have started after the caller read the live ones
    (the margin also covers clocks that disagree)."""
    metadata = pod.metadata or V1ObjectMeta()
    if metadata.deletion_timestamp is not None:
        return False
    created = metadata.creation_timestamp
    return created is None or (since - created).total_seconds() > _ORPHAN_AGE_SECONDS


def client_from_config(kubeconfig: str = "", context: str = "") -> ApiClient:
    """A client from `kubeconfig` (else $KUBECONFIG, else ~/.kube/config) and
    `context` (else the current one), or the in-cluster service account when
    there is no kubeconfig at all."""
    from kubernetes.client import Configuration

    path = kubeconfig or os.environ.get("KUBECONFIG", "")
    default = Path(kube_config.KUBE_CONFIG_DEFAULT_LOCATION).expanduser()
    # What new_client_from_config does, with room for the connections one
    # process holds at once (see CONNECTIONS).
    configuration = type.__call__(Configuration)
    if path or default.exists():
        kube_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path or None,
            context=context or None,
            client_configuration=configuration,
            persist_config=False,
        )
    else:
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize, CONNECTIONS
    )
    return ApiClient(configuration)


# Connections kept open to the API server by one process: the watch streams,
# the launches in flight (reconcile.PARALLEL_LAUNCHES), log reads and deletes.
# The client's default (five per CPU) is reached on a small node, and each
# connection beyond it is a new TLS handshake, thrown away after one request.
CONNECTIONS = 32
