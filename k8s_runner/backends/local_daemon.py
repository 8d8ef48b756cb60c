"""Daemon tasks on the local backend: a background process per daemon,
reached at 127.0.0.1 on the ports the task declares (docs/spec.md, "Daemons").

The attempt is Succeeded once the readiness probe passes (a TCP connection to
the port, an HTTP GET, or the probe's command exiting 0); the process then
serves for the rest of the run and is stopped when the run ends (end_run),
whatever its status. What a daemon needs on Kubernetes and cannot have here is
said in docs/kubernetes.md: no image, no Service (the address is 127.0.0.1, so
two daemons on one port cannot run at once: the second fails PortInUse), no
persistent volume (its working directory lasts as long as the run's).

Each daemon leaves a record under DATA_DIR/daemons/run-N/, so a worker that
restarts (even after a kill -9) can stop the daemons of runs that ended
meanwhile (sweep) and follow those that were still getting ready (recover).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowcore.reports import CollectedOutputs, Report
from flowcore.states import AttemptStatus
from k8s_runner.backends.base import BackendError, LiveAttempt, Reporter

if TYPE_CHECKING:
    from k8s_runner.backends.local import LocalBackend
    from k8s_runner.pod_request import PodRequest

logger = logging.getLogger(__name__)

HANDLE_PREFIX = "daemon:"
ADDRESS = "127.0.0.1"
# Kubernetes probes every 10 s by default; a local process is ready sooner.
_DEFAULT_PERIOD_SECONDS = 1.0
_DEFAULT_PROBE_TIMEOUT_SECONDS = 1.0
_KILL_GRACE_SECONDS = 5.0
# The daemon's session leader: runs the command, leaves its exit status.
_WRAPPER = 'exit_file=$1; shift; "$@" < /dev/null; echo "$?" > "$exit_file"'


@dataclass(slots=True)
class _Daemon:
    attempt_id: int
    run_id: int
    pid: int
    started: str
    process: subprocess.Popen[bytes] | None  # None: adopted after a restart
    cancelled: bool = False
    ready: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def is_daemon_handle(handle: str) -> bool:
    return handle.startswith(HANDLE_PREFIX)


def _accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((ADDRESS, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_of(value: object, ports: list[Mapping[str, Any]]) -> int:
    """A probe's port: a number, or the name of one of the daemon's ports."""
    if isinstance(value, int):
        return value
    for port in ports:
        if port.get("name") == value:
            return int(port["port"])
    return int(ports[0]["port"])


class LocalDaemons:
    """The daemons of a LocalBackend: started, probed, stopped."""

    def __init__(self, backend: LocalBackend, reporter: Reporter, data_dir: Path):
        self._backend = backend
        self._reporter = reporter
        self._records = data_dir / "daemons"
        self._lock = threading.Lock()
        self._live: dict[int, _Daemon] = {}  # getting ready
        # The processes this worker started, reaped when their run ends.
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    # -- what LocalBackend hands over ------------------------------------------------

    def launch(self, request: PodRequest) -> None:
        daemon = request.daemon or {}
        if not (request.command or request.args):
            raise BackendError(
                "the local backend runs a daemon's `command` and `args` and "
                "ignores `image`: give the task a command",
                permanent=True,
            )
        if request.init_containers or request.sidecars or request.volume_mounts:
            raise BackendError(
                "a daemon's init containers, sidecars and volumes need the "
                "Kubernetes backend",
                permanent=True,
            )
        with self._lock:
            if request.attempt_id in self._live:
                return
        files = self._backend.files(request)
        if self._resume(request, files.log):
            return
        busy = [p["port"] for p in daemon.get("ports", ()) if _accepts(p["port"])]
        if busy:
            raise BackendError(
                f"port {busy[0]} on {ADDRESS} already accepts connections (another "
                "daemon, or another program): the local backend gives every "
                "daemon the machine's address, so one port serves one daemon",
                permanent=True,
                reason="PortInUse",
            )
        env = self._backend._environment(request, files.workdir, str(files.flowdeck))
        argv = [*request.command, *request.args]
        if shutil.which(argv[0], path=env["PATH"]) is None:
            raise BackendError(
                f"could not start {argv[0]}: No such file or directory (or not "
                "executable)",
                permanent=True,
                reason="StartError",
            )
        files.workdir.mkdir(parents=True, exist_ok=True)
        files.log.parent.mkdir(parents=True, exist_ok=True)
        (files.flowdeck / "outputs").mkdir(parents=True, exist_ok=True)
        sandbox = self._backend._sandbox.prefix(
            files.workdir.parent.parent, files.workdir, files.flowdeck
        )
        with open(files.log, "ab") as log:
            process = subprocess.Popen(
                ["sh", "-c", _WRAPPER, "flowdeck-daemon", str(files.exit), *sandbox]
                + argv,
                cwd=files.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own group, to stop it whole; it outlives the worker, whose
                # successor stops it when its run has ended.
                start_new_session=True,
                close_fds=True,
                umask=0o022,
            )
        started = _start_time(process.pid) or ""
        record = _Daemon(
            request.attempt_id, request.run_id, process.pid, started, process
        )
        self._write_record(record, request.task, _noted_request(request, files.log))
        with self._lock:
            self._live[request.attempt_id] = record
            self._processes[request.attempt_id] = process
        handle = f"{HANDLE_PREFIX}{process.pid}:{started}"
        self._backend.report_running(request, handle, files.log)
        self._follow(request, record, handle)

    def cancel(self, attempt_id: int, handle: str) -> bool:
        """Stop a daemon that is getting ready (True: it was one)."""
        with self._lock:
            record = self._live.get(attempt_id)
            if record is not None:
                record.cancelled = True
        if record is not None:
            self._stop(record)
            return True
        if not is_daemon_handle(handle):
            return False
        pid, started = _parse(handle)
        if pid and _alive(pid, started):
            _stop_group(pid, started)
        return True

    def status(self, attempt_id: int, handle: str) -> Report | None:
        with self._lock:
            record = self._live.get(attempt_id)
        if record is not None and not record.ready:
            return Report(attempt_id, AttemptStatus.RUNNING, handle=handle)
        return None

    def recover(self, live: list[LiveAttempt]) -> list[LiveAttempt]:
        """Follow the daemons a previous worker started that were getting
        ready; the others' attempts are left for LocalBackend."""
        rest = []
        for attempt in live:
            if not is_daemon_handle(attempt.handle):
                rest.append(attempt)
                continue
            with self._lock:
                if attempt.attempt_id in self._live:
                    continue
            pid, started = _parse(attempt.handle)
            record_file = self._find_record(attempt.attempt_id)
            if not pid or record_file is None or not _alive(pid, started):
                self._reporter(
                    Report(
                        attempt.attempt_id,
                        AttemptStatus.ERROR,
                        reason="ProcessLost",
                        message="the daemon ended while no worker watched it",
                        at=_now(),
                    )
                )
                continue
            noted = json.loads(record_file.read_text())
            request = _request_of(noted)
            record = _Daemon(attempt.attempt_id, request.run_id, pid, started, None)
            with self._lock:
                self._live[attempt.attempt_id] = record
            self._follow(request, record, attempt.handle)
        return rest

    def end_run(self, run_id: int) -> None:
        """Stop every daemon of the run (it ended) and forget them."""
        directory = self._records / f"run-{run_id}"
        for path in sorted(directory.glob("*.json")):
            try:
                noted = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            with self._lock:
                self._live.pop(int(noted["attempt_id"]), None)
                process = self._processes.pop(int(noted["attempt_id"]), None)
            if process is not None and process.poll() is not None:
                continue  # it ended by itself, and is reaped now
            if _alive(int(noted["pid"]), str(noted["started"])):
                _stop_group(int(noted["pid"]), str(noted["started"]), process)
        shutil.rmtree(directory, ignore_errors=True)

    def sweep(self, finished: Callable[[set[int]], set[int]]) -> None:
        """Stop the daemons of runs that ended (`finished` says which of the
        given run ids did), a worker restart's leftovers included."""
        runs = {
            int(path.name.removeprefix("run-"))
            for path in self._records.glob("run-*")
            if path.name.removeprefix("run-").isdigit()
        }
        for run_id in finished(runs) if runs else ():
            self.end_run(run_id)

    # -- internals -------------------------------------------------------------------

    def _report(self, request: PodRequest, report: Report) -> None:
        self._reporter(replace(report, at=_now(), run_id=request.run_id or None))

    def _write_record(
        self, record: _Daemon, task: str, request: Mapping[str, Any]
    ) -> None:
        directory = self._records / f"run-{record.run_id}"
        directory.mkdir(parents=True, exist_ok=True)
        noted = {
            "attempt_id": record.attempt_id,
            "run_id": record.run_id,
            "task": task,
            "pid": record.pid,
            "started": record.started,
            **request,
        }
        partial = directory / f"{record.attempt_id}.tmp"
        partial.write_text(json.dumps(noted))
        partial.replace(directory / f"{record.attempt_id}.json")

    def _find_record(self, attempt_id: int) -> Path | None:
        return next(self._records.glob(f"run-*/{attempt_id}.json"), None)

    def _resume(self, request: PodRequest, log: Path) -> bool:
        """A relaunch of a daemon that started before: follow it."""
        path = self._find_record(request.attempt_id)
        if path is None:
            return False
        noted = json.loads(path.read_text())
        pid, started = int(noted["pid"]), str(noted["started"])
        if not _alive(pid, started):
            path.unlink(missing_ok=True)
            return False
        record = _Daemon(request.attempt_id, request.run_id, pid, started, None)
        with self._lock:
            self._live[request.attempt_id] = record
        handle = f"{HANDLE_PREFIX}{pid}:{started}"
        self._backend.report_running(request, handle, log)
        self._follow(request, record, handle)
        return True

    def _follow(self, request: PodRequest, record: _Daemon, handle: str) -> None:
        threading.Thread(
            target=self._probe_until_ready,
            args=(request, record, handle),
            name=f"daemon-{record.pid}",
            daemon=True,
        ).start()

    def _probe_until_ready(
        self, request: PodRequest, record: _Daemon, handle: str
    ) -> None:
        daemon = request.daemon or {}
        probe = daemon.get("readiness_probe") or {}
        period = float(probe.get("periodSeconds") or _DEFAULT_PERIOD_SECONDS)
        deadline = (
            time.monotonic() + request.timeout if request.timeout is not None else None
        )
        time.sleep(float(probe.get("initialDelaySeconds") or 0))
        report: Report
        while True:
            if record.cancelled:
                report = Report(request.attempt_id, AttemptStatus.CANCELLED)
                break
            code = _exit_code(record, self._backend.files(request).exit)
            if code is not None and record.cancelled:
                # Stopped by the cancel between the check above and this one.
                report = Report(request.attempt_id, AttemptStatus.CANCELLED)
                break
            if code is not None:
                report = Report(
                    request.attempt_id,
                    AttemptStatus.FAILED,
                    exit_code=code,
                    reason="DaemonExited",
                    message=f"exited with code {code} before it was ready",
                )
                break
            if self._ready(request, probe):
                ports = ", ".join(str(p["port"]) for p in daemon.get("ports", ()))
                record.ready = True
                report = Report(
                    request.attempt_id,
                    AttemptStatus.SUCCEEDED,
                    handle=handle,
                    message=f"ready at {ADDRESS} (ports {ports})",
                    outputs=CollectedOutputs(
                        parameters={"ip": ADDRESS, "service": ADDRESS}
                    ),
                )
                break
            if deadline is not None and time.monotonic() >= deadline:
                self._stop(record)
                report = Report(
                    request.attempt_id,
                    AttemptStatus.FAILED,
                    reason="DeadlineExceeded",
                    message=f"not ready within its timeout of {request.timeout:g}s",
                )
                break
            time.sleep(period)
        with self._lock:
            self._live.pop(request.attempt_id, None)
        self._report(request, report)

    def _ready(self, request: PodRequest, probe: Mapping[str, Any]) -> bool:
        ports = list((request.daemon or {}).get("ports", ()))
        timeout = float(probe.get("timeoutSeconds") or _DEFAULT_PROBE_TIMEOUT_SECONDS)
        if "exec" in probe:
            files = self._backend.files(request)
            env = self._backend._environment(
                request, files.workdir, str(files.flowdeck)
            )
            try:
                return (
                    subprocess.run(
                        list(probe["exec"].get("command") or ["false"]),
                        cwd=files.workdir,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        timeout=timeout,
                        check=False,
                    ).returncode
                    == 0
                )
            except (OSError, subprocess.TimeoutExpired):
                return False
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = _port_of(get.get("port"), ports)
            url = f"http://{ADDRESS}:{port}{get.get('path') or '/'}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    return bool(200 <= response.status < 400)
            except (OSError, urllib.error.URLError):
                return False
        port = _port_of((probe.get("tcpSocket") or {}).get("port"), ports)
        return _accepts(port, timeout)

    def _stop(self, record: _Daemon) -> None:
        _stop_group(record.pid, record.started, record.process)


def _noted_request(request: PodRequest, log: Path) -> dict[str, Any]:
    """What a later worker needs to probe the daemon again."""
    return {
        "daemon": dict(request.daemon or {}),
        "timeout": request.timeout,
        "workflow": request.workflow,
        "version": request.version,
        "attempt": request.attempt,
        "log": str(log),
    }


def _request_of(noted: Mapping[str, Any]) -> PodRequest:
    from k8s_runner.pod_request import PodRequest

    return PodRequest(
        attempt_id=int(noted["attempt_id"]),
        run_id=int(noted["run_id"]),
        workflow=str(noted.get("workflow", "")),
        version=int(noted.get("version", 0)),
        task=str(noted["task"]),
        attempt=int(noted.get("attempt", 1)),
        image=None,
        command=(),
        args=(),
        timeout=noted.get("timeout"),
        daemon=noted.get("daemon") or {},
    )


def _exit_code(record: _Daemon, exit_file: Path) -> int | None:
    """The daemon's exit status once it has ended; None while it runs."""
    if record.process is not None:
        code = record.process.poll()
        if code is None:
            return None
    elif _alive(record.pid, record.started):
        return None
    try:
        return int(exit_file.read_text().strip())
    except (OSError, ValueError):
        return -1


def _parse(handle: str) -> tuple[int | None, str]:
    pid_text, _, started = handle.removeprefix(HANDLE_PREFIX).partition(":")
    try:
        return int(pid_text), started
    except ValueError:
        return None, ""


def _start_time(pid: int) -> str | None:
    # Imported here: local.py imports this module.
    from k8s_runner.backends.local import process_start_time

    return process_start_time(pid)


def _alive(pid: int, started: str) -> bool:
    return _start_time(pid) == started


def _stop_group(
    pid: int, started: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    """SIGTERM the daemon's process group, SIGKILL it after a grace period in
    the background (what is left of the group too: the leader may be gone while
    what it started still runs)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)

    def escalate() -> None:
        deadline = time.monotonic() + _KILL_GRACE_SECONDS
        while time.monotonic() < deadline:
            # poll() reaps our own child, which would otherwise linger a zombie.
            if process is not None and process.poll() is not None:
                break
            if process is None and not _alive(pid, started):
                break
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    threading.Thread(target=escalate, daemon=True).start()
