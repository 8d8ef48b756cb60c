"""Apply the engine's decisions through a backend, and feed its reports back.

The services decide and record; this module carries out what they return
(launch, cancel) once their transaction has committed, and turns a backend's
reports into service calls. The hot path, an attempt ending and its successors
starting, runs here in-process without waiting on the broker.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import QuerySet
from django.utils import timezone

import artifacts
from flowcore.states import (
    LIVE_ATTEMPT_STATUSES,
    TERMINAL_ATTEMPT_STATUSES,
    AttemptStatus,
    RunStatus,
)
from k8s_runner.backends.base import Backend, BackendError, LiveAttempt
from k8s_runner.pod_request import (
    ContainerRequest,
    InputArtifactRequest,
    OutputsRequest,
    PodRequest,
)
from observability import metrics, tracing
from workflows.models import Attempt, Run
from workflows.services import concurrency, subworkflows
from workflows.services.advance import Advance, Launch, advance_run
from workflows.services.attempts import Report, record_reports

logger = logging.getLogger(__name__)

# An attempt recorded but not launched this long ago lost its launcher.
STALE_LAUNCH = timedelta(seconds=30)
_IDLE_CLOSE_SECONDS = 1.0
_MAX_BATCH = 500
# How long a batch of "started" reports waits for an end to record with them:
# longer than a sandboxed start of a short task (bubblewrap alone takes 3-6 ms
# here, more under load), so that its start and end share one transaction.
_COALESCE_SECONDS = 0.02

_backend: Backend | None = None
_backend_lock = threading.Lock()


class RunNamespaces:
    """The project namespaces of each run (its default first, "" for the
    installation's, then the others it may use), looked up once per run and
    kept (the most recent `size` runs).

    Keyed by run, not by version or project: a project's namespace may change,
    and a run that started in one namespace keeps its pods there (its handles,
    the watcher's namespaces and its logs stay in one place); runs started after
    the change go to the new one. The hot path (a task ends, its successors
    start) then costs no query; a run's first launch costs one.

    The same query reads the project's service accounts (its default first,
    "" for none, then the others; empty: no rule), kept beside: accounts().
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._cache: OrderedDict[int, tuple[str, ...]] = OrderedDict()
        self._accounts: dict[int, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def get(self, run_ids: set[int]) -> dict[int, tuple[str, ...]]:
        """{run id: its project's namespaces}, the default first ("" for a run
        that is gone, and for a project without one: the backend then uses its
        own, FLOWDECK_K8S_NAMESPACE, as Project.namespaces() says)."""
        with self._lock:
            found = {r: self._cache[r] for r in run_ids if r in self._cache}
            for run_id in found:
                self._cache.move_to_end(run_id)
        missing = run_ids - found.keys()
        if missing:
            looked_up: dict[int, tuple[str, ...]] = {}
            accounts: dict[int, tuple[str, ...]] = {}
            for pk, own, extra, account, others in Run.objects.filter(
                pk__in=missing
            ).values_list(
                "pk",
                "workflow__project__namespace",
                "workflow__project__extra_namespaces",
                "workflow__project__default_service_account",
                "workflow__project__service_accounts",
            ):
                looked_up[pk] = (own or "", *(extra or ()))
                accounts[pk] = service_account_rule(account, others)
            for run_id in missing:
                found[run_id] = looked_up.get(run_id) or ("",)
            self.remember(found, accounts)
        return found

    def accounts(self, run_id: int) -> tuple[str, ...]:
        """The run's project's service accounts, as get() last read them."""
        with self._lock:
            return self._accounts.get(run_id, ())

    def remember(
        self,
        namespaces: dict[int, tuple[str, ...]],
        accounts: dict[int, tuple[str, ...]] | None = None,
    ) -> None:
        with self._lock:
            self._cache.update(namespaces)
            self._accounts.update(accounts or {})
            while len(self._cache) > self.size:
                run_id, _ = self._cache.popitem(last=False)
                self._accounts.pop(run_id, None)

    def get_cached(self, run_id: int) -> tuple[str, ...] | None:
        with self._lock:
            return self._cache.get(run_id)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._accounts.clear()


def service_account_rule(default: str, others: Any) -> tuple[str, ...]:
    """A project's service accounts for a PodRequest: (default or "", *the
    others), or () when it sets neither (no rule)."""
    if not default and not others:
        return ()
    return (default or "", *dict.fromkeys(others or ()))


run_namespaces = RunNamespaces()


class RunTraces:
    """The traceparent of each run (its trace, observability.tracing), looked
    up only while tracing is on, and kept for the most recent `size` runs."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._cache: OrderedDict[int, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_ids: set[int]) -> dict[int, str]:
        if not tracing.enabled():
            return {}
        with self._lock:
            found = {r: self._cache[r] for r in run_ids if r in self._cache}
        missing = run_ids - found.keys()
        if missing:
            found.update(
                Run.objects.filter(pk__in=missing).values_list("pk", "traceparent")
            )
            with self._lock:
                self._cache.update(found)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return found

    def of(self, run_id: int) -> str:
        return self.get({run_id}).get(run_id, "")


run_traces = RunTraces()


def get_backend() -> Backend:
    global _backend
    with _backend_lock:
        if _backend is None:
            _backend = _make_backend()
        return _backend


def _make_backend() -> Backend:
    if settings.FLOWDECK_BACKEND == "local":
        from k8s_runner.backends.local import LocalBackend, Sandbox

        slots = settings.FLOWDECK_LOCAL_SLOTS or os.cpu_count() or 1
        data_dir = Path(settings.DATA_DIR)
        sandbox = Sandbox(
            settings.FLOWDECK_LOCAL_SANDBOX,
            data_dir,
            [Path(path) for path in settings.FLOWDECK_LOCAL_SANDBOX_PATHS],
        )
        return LocalBackend(
            report_pump.submit,
            data_dir=data_dir,
            slots=slots,
            sandbox=sandbox,
            store=artifacts.from_settings(),
        )
    if settings.FLOWDECK_BACKEND == "kubernetes":
        from k8s_runner.backends.kubernetes import KubernetesBackend

        return KubernetesBackend.from_settings(report_pump.submit)
    raise BackendError(
        f"backend {settings.FLOWDECK_BACKEND!r} is not available in this build",
        permanent=True,
    )


class ReportPump:
    """One thread that records backend reports in arrival order.

    Backends report from many threads (one per process, the pod watcher). A
    single writer keeps one database connection, never contends with itself
    for run locks, and records whatever has piled up in one transaction per
    run: an attempt that started and ended between two writes costs one.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Report] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._unrecorded = 0

    def submit(self, report: Report) -> None:
        with self._lock:
            self._unrecorded += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="report-pump", daemon=True
                )
                self._thread.start()
        self._queue.put(report)

    def unrecorded(self) -> int:
        with self._lock:
            return self._unrecorded

    def _loop(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=_IDLE_CLOSE_SECONDS)]
            except queue.Empty:
                # Idle: give the connection back rather than hold it open.
                connection.close()
                continue
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    if any(r.status in TERMINAL_ATTEMPT_STATUSES for r in batch):
                        break
                    # Only "started" reports so far: a short task's end is likely
                    # a moment away, and recording both together halves the
                    # transactions. An end is never held back.
                    try:
                        batch.append(self._queue.get(timeout=_COALESCE_SECONDS))
                    except queue.Empty:
                        break
            try:
                close_old_connections()
                handle_reports(batch)
            except Exception:
                logger.exception("recording %d report(s) failed", len(batch))
            finally:
                with self._lock:
                    self._unrecorded -= len(batch)


report_pump = ReportPump()


def handle_reports(reports: list[Report]) -> None:
    with metrics.RECONCILE_DURATION.labels("reports").time():
        carry_out_all(record_reports(reports))
    if tracing.enabled():
        _trace_reports(reports)


def _trace_reports(reports: list[Report]) -> None:
    """A span per report in its run's trace: from when the backend saw the
    change (the pod watcher's event, a process's exit) to its recording."""
    unknown = {r.attempt_id for r in reports if r.run_id is None}
    runs_of = dict(
        Attempt.objects.filter(pk__in=unknown).values_list("pk", "task_run__run_id")
    )
    run_ids = {r.run_id or runs_of.get(r.attempt_id) for r in reports} - {None}
    parents = run_traces.get({run_id for run_id in run_ids if run_id is not None})
    recorded = time.time_ns()
    for report in reports:
        run_id = report.run_id or runs_of.get(report.attempt_id)
        seen = int(report.at.timestamp() * 1e9) if report.at else recorded
        tracing.record(
            "flowdeck.report",
            parents.get(run_id or 0, ""),
            seen,
            recorded,
            **{
                "flowdeck.attempt_id": report.attempt_id,
                "flowdeck.status": str(report.status),
                "flowdeck.reason": report.reason or "",
            },
        )


def reconcile(run_id: int) -> Advance:
    """Plan the whole run and carry out the plan; idempotent."""
    with (
        metrics.RECONCILE_DURATION.labels("reconcile").time(),
        tracing.span(
            "flowdeck.reconcile", run_traces.of(run_id), **{"flowdeck.run_id": run_id}
        ),
    ):
        backend = get_backend()
        advance = advance_run(run_id, backend=backend.name)
        carry_out(advance)
    return advance


def carry_out(advance: Advance) -> None:
    carry_out_all([advance])


def carry_out_all(advances: list[Advance]) -> None:
    """Carry out committed Advances: cancels first, then every launch, several
    at once where the backend allows it (see _in_parallel)."""
    backend = get_backend()
    for advance in advances:
        if advance.finished:
            end_run(backend, advance.run_id)
    for advance in advances:
        if not advance.cancel:
            continue
        for attempt_id, handle in Attempt.objects.filter(
            pk__in=advance.cancel
        ).values_list("pk", "handle"):
            try:
                backend.cancel(attempt_id, handle)
            except Exception:
                # The sweep and recovery ask again; the other cancels go on.
                logger.exception("cancelling attempt %s failed", attempt_id)
    launches = [launch for advance in advances for launch in advance.launch]
    if not launches:
        return
    run_ids = {launch.run_id for launch in launches}
    # Only a Kubernetes pod has a namespace: the local backend skips the query.
    namespaces = run_namespaces.get(run_ids) if backend.name == "kubernetes" else {}
    traces = run_traces.get(run_ids)
    requests = [
        pod_request(
            one, namespaces.get(one.run_id), run_namespaces.accounts(one.run_id)
        )
        for one in launches
    ]

    def create(index: int) -> Exception | None:
        launch = launches[index]
        with tracing.span(
            "flowdeck.launch",
            traces.get(launch.run_id, ""),
            **{
                "flowdeck.run_id": launch.run_id,
                "flowdeck.task": launch.task,
                "flowdeck.attempt": launch.number,
                "flowdeck.backend": backend.name,
            },
        ):
            return _try_launch(backend, requests[index])

    # What failed is recorded here, in this thread, in launch order.
    for launch, request, error in zip(
        launches, requests, _in_parallel(backend, len(launches), create), strict=True
    ):
        if _settle_launch(request, error) and launch.ready_at is not None:
            metrics.LAUNCH_DELAY.labels(backend.name).observe(
                max(0.0, (timezone.now() - launch.ready_at).total_seconds())
            )


# Pod creates in flight at once from one process (the pod watcher's report
# pump launches the successors of every run it records): each create is a
# round trip to the API server that waits on etcd, so one at a time caps the
# whole installation at one create per round trip.
PARALLEL_LAUNCHES = 8
_launcher: ThreadPoolExecutor | None = None
_launcher_lock = threading.Lock()


def _in_parallel(
    backend: Backend, count: int, create: Callable[[int], Exception | None]
) -> list[Exception | None]:
    """create(0..count-1), several at once when the backend says
    `parallel_launches`; their results in order. Every attempt launched here
    is committed already and its pod is named after it, so launches are
    independent and their order does not matter. The local backend does not
    say it: its processes are its own threads' children."""
    if count == 1 or not getattr(backend, "parallel_launches", False):
        return [create(index) for index in range(count)]
    global _launcher
    with _launcher_lock:
        if _launcher is None:
            _launcher = ThreadPoolExecutor(
                PARALLEL_LAUNCHES, thread_name_prefix="launch"
            )
        pool = _launcher
    return list(pool.map(create, range(count)))


def end_run(backend: Backend, run_id: int) -> None:
    """The run ended: its daemons (docs/spec.md, "Daemons") stop, whatever its
    status. A backend without daemons has no end_run; a failure is left to the
    sweep, which stops the daemons of every ended run."""
    stop = getattr(backend, "end_run", None)
    if stop is None:
        return
    try:
        stop(run_id)
    except Exception:
        logger.exception("stopping the daemons of run %s failed", run_id)


def ended_runs(run_ids: set[int]) -> set[int]:
    """Which of `run_ids` have ended (or are gone): their daemons may go."""
    live = set(
        Run.objects.filter(
            pk__in=run_ids,
            status__in=[RunStatus.PENDING, RunStatus.RUNNING, RunStatus.CANCELLING],
        ).values_list("pk", flat=True)
    )
    return run_ids - live


def launch_attempt(request: PodRequest) -> bool:
    """Hand the attempt to the backend (True when it took it); a launch that
    fails for good (a permanent BackendError, or any other exception: a bug,
    a value the backend chokes on) ends the attempt as an Error with the
    reason, so that nothing waits on it."""
    return _settle_launch(request, _try_launch(get_backend(), request))


def _try_launch(backend: Backend, request: PodRequest) -> Exception | None:
    try:
        backend.launch(request)
    except Exception as error:
        return error
    return None


def _settle_launch(request: PodRequest, error: Exception | None) -> bool:
    if error is None:
        return True
    if isinstance(error, BackendError):
        if not error.permanent:
            # The sweep launches it again once it is stale.
            logger.warning("launching %s failed, will retry: %s", request.name, error)
            return False
        _launch_failed(request, str(error), error.reason)
    else:
        logger.error("launching %s failed", request.name, exc_info=error)
        _launch_failed(request, f"{type(error).__name__}: {error}")
    return False


def _launch_failed(request: PodRequest, message: str, reason: str = "") -> None:
    handle_reports(
        [
            Report(
                request.attempt_id,
                AttemptStatus.ERROR,
                reason=reason or "LaunchFailed",
                message=message,
                at=timezone.now(),
            )
        ]
    )


def relaunch(attempt_ids: list[int]) -> None:
    """Launch recorded attempts again (lost launcher, restart); idempotent."""
    attempts = list(
        Attempt.objects.filter(pk__in=attempt_ids).select_related("task_run")
    )
    # Each run once, and without its version's document or its own JSON: a
    # restart in a 10,000-task run relaunches a thousand queued attempts, and
    # decoding the whole spec once per attempt kept the worker from starting.
    runs = Run.objects.filter(
        pk__in={attempt.task_run.run_id for attempt in attempts}
    ).select_related("workflow__project", "version")
    by_id = {
        run.pk: run
        for run in runs.only(
            "workflow__name",
            "workflow__project__namespace",
            "workflow__project__extra_namespaces",
            "version__number",
        )
    }
    for attempt in attempts:
        run = by_id[attempt.task_run.run_id]
        attempt.task_run.run = run
        # Read in the same query; a run already launched keeps its namespace.
        project = run.workflow.project
        namespaces = run_namespaces.get_cached(run.pk) or (
            project.namespace,
            *project.extra_namespaces,
        )
        accounts = service_account_rule(
            project.default_service_account, project.service_accounts
        )
        run_namespaces.remember({run.pk: namespaces}, {run.pk: accounts})
        launch_attempt(pod_request(launch_of(attempt), namespaces, accounts))


def launch_of(attempt: Attempt, request: dict[str, Any] | None = None) -> Launch:
    """The Launch a recorded attempt was (or would be) started from; `request`
    replaces its recorded request (masked, say). Needs the attempt's task run,
    run, workflow and version loaded."""
    run = attempt.task_run.run
    return Launch(
        attempt.pk,
        run.pk,
        run.workflow.name,
        run.version.number,
        attempt.task_run.name,
        attempt.number,
        attempt.request if request is None else request,
        created_at=attempt.created_at,
    )


def pod_request(
    launch: Launch,
    project_namespaces: tuple[str, ...] | str | None = None,
    project_accounts: tuple[str, ...] = (),
) -> PodRequest:
    """What the backend is asked to run; `project_namespaces` are the run's
    project's (its default first: "" for the installation's), of which the
    backend checks the pod's namespace is one; `project_accounts` its service
    accounts (service_account_rule), which the backend checks the same way."""
    if isinstance(project_namespaces, str):
        project_namespaces = (project_namespaces,)
    allowed = tuple(project_namespaces or ())
    rendered = launch.request
    return PodRequest(
        attempt_id=launch.attempt_id,
        run_id=launch.run_id,
        workflow=launch.workflow,
        version=launch.version,
        task=launch.task,
        attempt=launch.number,
        attempt_created_at=launch.created_at,
        image=rendered.get("image"),
        command=tuple(rendered.get("command", ())),
        args=tuple(rendered.get("args", ())),
        env=tuple(rendered.get("env", ())),
        resources=rendered.get("resources", {}),
        node_selector=rendered.get("node_selector", {}),
        tolerations=tuple(rendered.get("tolerations", ())),
        priority=rendered.get("priority", 0),
        timeout=rendered.get("timeout"),
        image_pull_policy=rendered.get("image_pull_policy"),
        working_dir=rendered.get("working_dir"),
        affinity=rendered.get("affinity") or {},
        priority_class_name=rendered.get("priority_class_name"),
        service_account_name=rendered.get("service_account_name"),
        project_service_account=(project_accounts[0] if project_accounts else None)
        or None,
        allowed_service_accounts=tuple(n for n in project_accounts if n),
        image_pull_secrets=tuple(rendered.get("image_pull_secrets", ())),
        volumes=tuple(rendered.get("volumes", ())),
        volume_mounts=tuple(rendered.get("volume_mounts", ())),
        security_context=rendered.get("security_context") or {},
        namespace=rendered.get("namespace"),
        project_namespace=(allowed[0] if allowed else None) or None,
        allowed_namespaces=allowed,
        outputs=outputs_request(rendered),
        input_artifacts=tuple(
            InputArtifactRequest(
                name=item["name"],
                path=item["path"],
                sha256=item["sha256"],
                filename=item.get("filename", ""),
                size=item.get("size", 0),
                directory=item.get("directory", False),
            )
            for item in (rendered.get("inputs") or {}).get("artifacts", ())
        ),
        init_containers=tuple(
            map(ContainerRequest.of, rendered.get("init_containers", ()))
        ),
        sidecars=tuple(map(ContainerRequest.of, rendered.get("sidecars", ()))),
        job=rendered.get("job"),
        daemon=rendered.get("daemon"),
    )


def outputs_request(rendered: dict[str, Any]) -> OutputsRequest:
    """What to collect of an attempt, from its rendered task and the caps the
    settings put on outputs."""
    declared = rendered.get("outputs") or {}
    return OutputsRequest(
        parameters=tuple(
            (p["name"], p["path"], p.get("default"))
            for p in declared.get("parameters", ())
        ),
        artifacts=tuple(
            (a["name"], a["path"], a.get("optional", False))
            for a in declared.get("artifacts", ())
        ),
        result=bool(rendered.get("result_wanted")),
        result_path=declared.get("result_path"),
        max_parameter_bytes=settings.FLOWDECK_OUTPUT_PARAMETER_MAX_BYTES,
        max_total_bytes=settings.FLOWDECK_OUTPUT_TASK_MAX_BYTES,
        max_result_bytes=settings.FLOWDECK_OUTPUT_RESULT_MAX_BYTES,
    )


def sweep() -> None:
    """Plan every unfinished run in full (timeouts, due retries, lost wake-ups)
    and launch attempts whose launcher died before launching them; release
    semaphore claims left behind first (services.concurrency)."""
    began = time.monotonic()
    try:
        _sweep()
    finally:
        metrics.SWEEP_DURATION.observe(time.monotonic() - began)


def _sweep() -> None:
    backend = get_backend()
    # First: a semaphore slot left behind is free for the plans that follow.
    try:
        concurrency.release_left_behind()
    except Exception:
        logger.exception("releasing semaphore claims left behind failed")
    active = Run.objects.filter(
        status__in=[RunStatus.PENDING, RunStatus.RUNNING, RunStatus.CANCELLING]
    ).values_list("pk", flat=True)
    for run_id in active:
        try:
            reconcile(run_id)
        except Exception:
            logger.exception("reconciling run %s failed", run_id)
    # A sub-workflow whose end was not reported to its parent (a crash
    # between the child's commit and the report).
    subworkflows.settle_children()
    # Daemons whose run ended while their end_run was lost (a crash, a kill -9
    # of the worker, an API error): found by their labels or records.
    sweep_daemons = getattr(backend, "sweep_daemons", None)
    if sweep_daemons is not None:
        try:
            sweep_daemons(ended_runs)
        except Exception:
            logger.exception("sweeping the daemons of ended runs failed")
    stale_launches = Attempt.objects.filter(
        status=AttemptStatus.LAUNCHING,
        handle="",
        created_at__lt=timezone.now() - STALE_LAUNCH,
        backend=backend.name,
    ).values_list("pk", flat=True)
    stale = list(stale_launches)
    if stale and getattr(backend, "recovers_in_sweep", False):
        # The local backend queues launches beyond its slots: an attempt it
        # holds is waiting for a slot, not lost (a wide run keeps a thousand
        # there for minutes). Asking it costs no query.
        stale = [pk for pk in stale if backend.status(pk, "") is None]
    if stale:
        relaunch(stale)
    if getattr(backend, "recovers_in_sweep", False):
        # A process can end with its report lost (a crash between the two):
        # the backend settles live attempts it no longer knows of.
        settled = timezone.now() - STALE_LAUNCH
        live = _live_attempts(
            Attempt.objects.filter(
                status__in=[
                    AttemptStatus.PENDING,
                    AttemptStatus.RUNNING,
                    AttemptStatus.CANCELLING,
                ],
                backend=backend.name,
                started_at__lt=settled,
            )
        )
        if live:
            backend.recover(live)


def _live_attempts(attempts: QuerySet[Attempt]) -> list[LiveAttempt]:
    return [
        LiveAttempt(attempt_id, handle, log_path)
        for attempt_id, handle, log_path in attempts.values_list(
            "pk", "handle", "log_path"
        )
    ]


def recover() -> None:
    """After a worker (re)start: reconcile the backend's view with the database."""
    backend = get_backend()
    live = _live_attempts(
        Attempt.objects.filter(status__in=LIVE_ATTEMPT_STATUSES, backend=backend.name)
    )
    never_started = backend.recover(live)
    if never_started:
        relaunch(never_started)
    # A cancel the previous worker recorded may not have reached the backend
    # (and an adopted process is not stopped by adopting it): ask again.
    for attempt_id, handle in Attempt.objects.filter(
        status=AttemptStatus.CANCELLING, backend=backend.name
    ).values_list("pk", "handle"):
        try:
            backend.cancel(attempt_id, handle)
        except BackendError:
            logger.exception("cancelling attempt %s failed", attempt_id)
    sweep()
