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
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from k8s_runner.backends.base import Backend, BackendError, PodRequest
from workflows.models import Attempt, Run
from workflows.services.advance import Advance, advance_run
from workflows.services.attempts import Report, record_report
from workflows.states import LIVE_ATTEMPT_STATUSES, AttemptStatus, RunStatus

logger = logging.getLogger(__name__)

# An attempt recorded but not launched this long ago lost its launcher.
STALE_LAUNCH = timedelta(seconds=30)
_IDLE_CLOSE_SECONDS = 1.0

_backend: Backend | None = None
_backend_lock = threading.Lock()


def get_backend() -> Backend:
    global _backend
    with _backend_lock:
        if _backend is None:
            _backend = _make_backend()
        return _backend


def _make_backend() -> Backend:
    if settings.FLOWDECK_BACKEND == "local":
        from k8s_runner.backends.local import LocalBackend

        slots = settings.FLOWDECK_LOCAL_SLOTS or os.cpu_count() or 1
        return LocalBackend(
            report_pump.submit, data_dir=Path(settings.DATA_DIR), slots=slots
        )
    raise BackendError(
        f"backend {settings.FLOWDECK_BACKEND!r} is not available in this build",
        permanent=True,
    )


class ReportPump:
    """One thread that records backend reports in arrival order.

    Backends report from many threads (one per process, the pod watcher); a
    single writer keeps one database connection and never contends with
    itself for the run locks.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Report | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._busy = 0

    def submit(self, report: Report) -> None:
        with self._lock:
            self._busy += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="report-pump", daemon=True
                )
                self._thread.start()
        self._queue.put(report)

    def pending(self) -> int:
        with self._lock:
            return self._busy

    def _loop(self) -> None:
        while True:
            try:
                report = self._queue.get(timeout=_IDLE_CLOSE_SECONDS)
            except queue.Empty:
                # Idle: give the connection back rather than hold it open.
                connection.close()
                continue
            if report is None:
                return
            try:
                close_old_connections()
                handle_report(report)
            except Exception:
                logger.exception("recording %s failed", report)
            finally:
                with self._lock:
                    self._busy -= 1


report_pump = ReportPump()


def handle_report(report: Report) -> None:
    advance = record_report(report)
    if advance is not None:
        carry_out(advance)


def reconcile(run_id: int) -> Advance:
    """Plan the whole run and carry out the plan; idempotent."""
    backend = get_backend()
    advance = advance_run(run_id, backend=backend.name)
    carry_out(advance)
    return advance


def carry_out(advance: Advance) -> None:
    backend = get_backend()
    if advance.cancel:
        for attempt_id, handle in Attempt.objects.filter(
            pk__in=advance.cancel
        ).values_list("pk", "handle"):
            try:
                backend.cancel(attempt_id, handle)
            except BackendError:
                logger.exception("cancelling attempt %s failed", attempt_id)
    if advance.launch:
        launch_attempts(advance.launch)


def launch_attempts(attempt_ids: list[int]) -> None:
    backend = get_backend()
    attempts = Attempt.objects.filter(pk__in=attempt_ids).select_related(
        "task_run__run__workflow", "task_run__run__version"
    )
    for attempt in attempts:
        request = pod_request(attempt)
        try:
            backend.launch(request)
        except BackendError as error:
            if not error.permanent:
                logger.warning(
                    "launching %s failed, will retry: %s", request.name, error
                )
                continue
            handle_report(
                Report(
                    attempt.pk,
                    AttemptStatus.ERROR,
                    reason="LaunchFailed",
                    message=str(error),
                    at=timezone.now(),
                )
            )


def pod_request(attempt: Attempt) -> PodRequest:
    task = attempt.task_run
    run = task.run
    rendered = attempt.request
    return PodRequest(
        attempt_id=attempt.pk,
        run_id=run.pk,
        workflow=run.workflow.name,
        version=run.version.number,
        task=task.name,
        attempt=attempt.number,
        image=rendered.get("image"),
        command=tuple(rendered.get("command", ())),
        args=tuple(rendered.get("args", ())),
        env=tuple(rendered.get("env", ())),
        resources=rendered.get("resources", {}),
        node_selector=rendered.get("node_selector", {}),
        tolerations=tuple(rendered.get("tolerations", ())),
        priority=rendered.get("priority", 0),
        timeout=rendered.get("timeout"),
    )


def sweep() -> None:
    """Plan every unfinished run in full (timeouts, due retries, lost wake-ups)
    and launch attempts whose launcher died before launching them."""
    active = Run.objects.filter(
        status__in=[RunStatus.PENDING, RunStatus.RUNNING, RunStatus.CANCELLING]
    ).values_list("pk", flat=True)
    for run_id in active:
        try:
            reconcile(run_id)
        except Exception:
            logger.exception("reconciling run %s failed", run_id)
    stale = Attempt.objects.filter(
        status=AttemptStatus.LAUNCHING,
        handle="",
        created_at__lt=timezone.now() - STALE_LAUNCH,
        backend=get_backend().name,
    ).values_list("pk", flat=True)
    if stale:
        launch_attempts(list(stale))


def recover() -> None:
    """After a worker (re)start: reconcile the backend's view with the database."""
    backend = get_backend()
    live = list(
        Attempt.objects.filter(
            status__in=LIVE_ATTEMPT_STATUSES, backend=backend.name
        ).values_list("pk", "handle")
    )
    relaunch = backend.recover(live)
    if relaunch:
        launch_attempts(relaunch)
    sweep()
