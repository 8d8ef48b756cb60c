"""The local-process backend for the embedded mode and demos.

Each attempt runs `command + args` as a subprocess of the worker, in its own
process group and working directory, its output in a log file under the data
directory. It ignores `image` and the Kubernetes-only fields. A slot count
bounds how many run at once; launches beyond it wait in a priority queue, the
way a pod waits for a node.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from k8s_runner.backends.base import BackendError, PodRequest, Reporter
from workflows.services.attempts import Report
from workflows.states import AttemptStatus

logger = logging.getLogger(__name__)

# Only these of the worker's own variables reach a task: the rest (database
# URL, secret key) must not leak into user code.
_INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
_KILL_GRACE_SECONDS = 5.0
_ADOPTED_POLL_SECONDS = 0.5


@dataclass(slots=True)
class _Live:
    request: PodRequest
    process: subprocess.Popen[bytes] | None  # None: adopted after a restart
    pid: int
    cancelled: bool = False
    timed_out: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), which tells a
    process from a later one that reused its pid; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has finished
        return None
    return fields[19]


class LocalBackend:
    name = "local"
    # recover() is cheap here (a /proc read per attempt), so the sweep runs it.
    recovers_in_sweep = True

    def __init__(self, reporter: Reporter, *, data_dir: Path, slots: int) -> None:
        self._reporter = reporter
        self._data_dir = data_dir
        self._slots = max(1, slots)
        self._lock = threading.Lock()
        self._queue: list[tuple[int, int, PodRequest]] = []
        self._order = itertools.count()
        self._queued: set[int] = set()
        self._live: dict[int, _Live | None] = {}  # None: a slot reserved, spawning

    # -- the Backend interface ---------------------------------------------------

    def launch(self, request: PodRequest) -> None:
        if not (request.command or request.args):
            raise BackendError(
                "the local backend runs `command` and `args` and ignores `image`: "
                "give the task a command",
                permanent=True,
            )
        for variable in request.env:
            if variable.get("value_from"):
                raise BackendError(
                    f"env {variable['name']}: valueFrom references need the "
                    "Kubernetes backend",
                    permanent=True,
                )
        with self._lock:
            if request.attempt_id in self._queued or request.attempt_id in self._live:
                return
            self._queued.add(request.attempt_id)
            heapq.heappush(self._queue, (-request.priority, next(self._order), request))
        self._fill()

    def cancel(self, attempt_id: int, handle: str) -> None:
        with self._lock:
            if attempt_id in self._queued:
                self._queued.discard(attempt_id)  # dropped when it reaches the head
                queued = True
            else:
                queued = False
            live = self._live.get(attempt_id)
            if live is not None:
                live.cancelled = True
        if queued:
            self._reporter(Report(attempt_id, AttemptStatus.CANCELLED, at=_now()))
        elif live is not None:
            self._terminate(live)

    def status(self, attempt_id: int, handle: str) -> Report | None:
        with self._lock:
            if attempt_id in self._queued:
                return Report(attempt_id, AttemptStatus.PENDING)
            if attempt_id in self._live:
                return Report(attempt_id, AttemptStatus.RUNNING, handle=handle)
        pid, started = _parse_handle(handle)
        if pid and process_start_time(pid) == started:
            return Report(attempt_id, AttemptStatus.RUNNING, handle=handle)
        return None

    def logs(self, log_path: str, handle: str, *, offset: int = 0) -> bytes:
        try:
            with open(log_path, "rb") as log:
                log.seek(offset)
                return log.read()
        except FileNotFoundError:
            return b""

    def recover(self, live: list[tuple[int, str]]) -> list[int]:
        relaunch: list[int] = []
        for attempt_id, handle in live:
            with self._lock:
                if attempt_id in self._live or attempt_id in self._queued:
                    continue
            if not handle:
                relaunch.append(attempt_id)
                continue
            pid, started = _parse_handle(handle)
            if pid and process_start_time(pid) == started:
                self._adopt(attempt_id, pid, handle)
            else:
                self._reporter(
                    Report(
                        attempt_id,
                        AttemptStatus.ERROR,
                        reason="ProcessLost",
                        message="the process had ended when the worker restarted; "
                        "its exit status is unknown",
                        at=_now(),
                    )
                )
        return relaunch

    def idle(self) -> bool:
        with self._lock:
            return not self._live and not self._queued

    # -- internals -----------------------------------------------------------------

    def _fill(self) -> None:
        while True:
            with self._lock:
                request = None
                while self._queue and len(self._live) < self._slots:
                    _, _, candidate = heapq.heappop(self._queue)
                    if candidate.attempt_id in self._queued:
                        request = candidate
                        self._queued.discard(candidate.attempt_id)
                        self._live[candidate.attempt_id] = None
                        break
                if request is None:
                    return
            self._spawn(request)

    def _paths(self, request: PodRequest) -> tuple[Path, Path]:
        run_dir = f"run-{request.run_id}"
        workdir = (
            self._data_dir / "work" / run_dir / request.task / str(request.attempt)
        )
        log = (
            self._data_dir / "logs" / run_dir / request.task / f"{request.attempt}.log"
        )
        return workdir, log

    def _environment(self, request: PodRequest, workdir: Path) -> dict[str, str]:
        env = {key: os.environ[key] for key in _INHERITED_ENV if key in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env["HOME"] = str(workdir)
        env["FLOWDECK_WORKFLOW"] = request.workflow
        env["FLOWDECK_RUN_ID"] = str(request.run_id)
        env["FLOWDECK_TASK"] = request.task
        env["FLOWDECK_ATTEMPT"] = str(request.attempt)
        # Scratch space the run's tasks and attempts share (workdir's grandparent).
        env["FLOWDECK_RUN_DIR"] = str(workdir.parent.parent)
        for variable in request.env:
            env[variable["name"]] = variable.get("value") or ""
        return env

    def _spawn(self, request: PodRequest) -> None:
        workdir, log_path = self._paths(request)
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    [*request.command, *request.args],
                    cwd=workdir,
                    env=self._environment(request, workdir),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own group: kill it whole
                    close_fds=True,
                )
        except OSError as error:
            with self._lock:
                self._live.pop(request.attempt_id, None)
            program = (request.command or request.args)[0]
            self._reporter(
                Report(
                    request.attempt_id,
                    AttemptStatus.FAILED,
                    reason="StartError",
                    message=f"could not start {program}: {error.strerror or error}",
                    log_path=str(log_path),
                    at=_now(),
                    run_id=request.run_id,
                )
            )
            self._fill()
            return
        handle = f"{process.pid}:{process_start_time(process.pid) or ''}"
        live = _Live(request, process, process.pid)
        with self._lock:
            self._live[request.attempt_id] = live
        self._reporter(
            Report(
                request.attempt_id,
                AttemptStatus.RUNNING,
                handle=handle,
                log_path=str(log_path),
                at=_now(),
                run_id=request.run_id,
            )
        )
        threading.Thread(
            target=self._wait, args=(live,), name=f"wait-{process.pid}", daemon=True
        ).start()

    def _wait(self, live: _Live) -> None:
        assert live.process is not None
        request = live.request
        try:
            code = live.process.wait(timeout=request.timeout)
        except subprocess.TimeoutExpired:
            live.timed_out = True
            self._terminate(live)
            code = live.process.wait()
        self._finish(live, code)

    def _finish(self, live: _Live, code: int | None) -> None:
        request = live.request
        if live.cancelled:
            report = Report(request.attempt_id, AttemptStatus.CANCELLED, exit_code=code)
        elif live.timed_out:
            report = Report(
                request.attempt_id,
                AttemptStatus.FAILED,
                exit_code=code,
                reason="DeadlineExceeded",
                message=f"killed after its timeout of {request.timeout:g}s",
            )
        elif code == 0:
            report = Report(request.attempt_id, AttemptStatus.SUCCEEDED, exit_code=0)
        elif code is not None and code < 0:
            name = signal.Signals(-code).name
            report = Report(
                request.attempt_id,
                AttemptStatus.FAILED,
                exit_code=128 - code,
                reason="Signal",
                message=f"killed by {name}",
            )
        else:
            report = Report(
                request.attempt_id,
                AttemptStatus.FAILED,
                exit_code=code,
                reason="Error",
                message=f"exited with code {code}",
            )
        # Report before forgetting the attempt: a sweep that finds it unknown
        # must find its report already queued ahead of any "lost" verdict.
        self._reporter(replace(report, at=_now(), run_id=request.run_id or None))
        with self._lock:
            self._live.pop(request.attempt_id, None)
        self._fill()

    def _terminate(self, live: _Live) -> None:
        """SIGTERM the attempt's process group, SIGKILL it after a grace period."""
        _signal_group(live.pid, signal.SIGTERM)

        def escalate() -> None:
            deadline = time.monotonic() + _KILL_GRACE_SECONDS
            while time.monotonic() < deadline:
                if live.process is not None and live.process.poll() is not None:
                    break
                time.sleep(0.05)
            # The leader may be gone while children it spawned still run.
            _signal_group(live.pid, signal.SIGKILL)

        threading.Thread(target=escalate, daemon=True).start()

    def _adopt(self, attempt_id: int, pid: int, handle: str) -> None:
        """Follow a process a previous worker started: we cannot wait() for it,
        so poll until it is gone; its exit status is lost with the old worker."""
        request = PodRequest(attempt_id, 0, "", 0, "", 0, None, (), ())
        live = _Live(request, None, pid)
        with self._lock:
            self._live[attempt_id] = live
        started = handle.partition(":")[2]

        def poll() -> None:
            while process_start_time(pid) == started:
                time.sleep(_ADOPTED_POLL_SECONDS)
            status = AttemptStatus.CANCELLED if live.cancelled else AttemptStatus.ERROR
            self._reporter(
                Report(
                    attempt_id,
                    status,
                    reason="ProcessLost",
                    message="the worker restarted while the process ran; "
                    "its exit status is unknown",
                    at=_now(),
                )
            )
            with self._lock:
                self._live.pop(attempt_id, None)
            self._fill()

        threading.Thread(target=poll, name=f"adopted-{pid}", daemon=True).start()


def _parse_handle(handle: str) -> tuple[int | None, str]:
    pid_text, _, started = handle.partition(":")
    try:
        return int(pid_text), started
    except ValueError:
        return None, ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
