"""The local-process backend for the embedded mode and demos.

Each attempt runs `command + args` as a subprocess of the worker, in its own
session and working directory, its output in a log file under the data
directory. It ignores `image` and the Kubernetes-only fields. A slot count
bounds how many run at once; launches beyond it wait in a priority queue, the
way a pod waits for a node.

Attempts outlive the worker. A tiny shell wrapper, the session's leader, runs
the command and writes its exit status next to the log when it ends, so a
worker that restarts (after a kill -9 of everything but the tasks) records the
true result of what ran meanwhile instead of running it again. Where bubblewrap
is installed, the command runs in a sandbox that sees the file system read-only,
has its run's directory (and a private /tmp) to write in, and cannot see the
rest of the data directory: another project's logs and secrets, the database,
the secret key.
"""

from __future__ import annotations

import contextlib
import glob
import heapq
import itertools
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from artifacts.store import ArtifactStore
from flowcore.reports import CollectedOutputs, Report
from flowcore.states import AttemptStatus
from k8s_runner.backends import local_job
from k8s_runner.backends.base import BackendError, LiveAttempt, Reporter
from k8s_runner.backends.local_daemon import LocalDaemons, is_daemon_handle
from k8s_runner.backends.local_pod import Step, container_log, init_failure, pod_script
from k8s_runner.outputs import apply_outputs, collect, local_path, place_input
from k8s_runner.pod_request import ContainerRequest, OutputsRequest, PodRequest

logger = logging.getLogger(__name__)

# Only these of the worker's own variables reach a task: the rest (database
# URL, secret key) must not leak into user code.
_INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
_KILL_GRACE_SECONDS = 5.0
_ADOPTED_POLL_SECONDS = 0.5
# Cancels of attempts this backend has not (yet) been asked to launch: a launch
# that arrives after its cancel must not start anything.
_REMEMBERED_CANCELS = 10_000
# The session leader of every attempt: runs the command ("$@" after the exit
# and handle files' paths) and records how it ended. When the worker is alive
# it also waits for this shell; when it is not, the file is all that is left.
# `echo > file` needs no extra process; a reader only trusts the file once
# the shell is gone, so a half-written file is never read.
# It runs the command only once the worker has written its handle (pid:start)
# and closed its stdin: a worker killed in between (its stdin closes then too)
# leaves a shell that finds no handle of its own and exits without running
# anything, and the relaunch, finding no handle either, starts it afresh.
# Found, the handle lets a relaunch adopt the process instead. Either way the
# command runs once. `read` and `$$` are built in: no extra process.
# Every attempt's session leader is `sh -c WRAPPER flowdeck-attempt EXIT_FILE
# PID_FILE COMMAND...`, opening with this gate: it waits for the worker to
# put the handle on disk (closing stdin), and runs nothing unless that handle
# is its own, so a worker killed while spawning cannot leave a second copy
# running beside the one a restarted worker starts.
_GATE = (
    "pid_file=$2; read -r go; handle=; "
    '{ read -r handle < "$pid_file"; } 2>/dev/null; '
    'case "$handle" in "$$:"*) ;; *) exit 125 ;; esac; '
)
_WRAPPER = _GATE + (
    'exit_file=$1; shift 2; "$@" < /dev/null; code=$?; '
    'echo "$code" > "$exit_file"; exit "$code"'
)


@dataclass(frozen=True, slots=True)
class AttemptFiles:
    """Where one attempt's process works and leaves its traces."""

    workdir: Path
    log: Path

    @property
    def exit(self) -> Path:
        """The exit status, written by the wrapper when the command ends."""
        return self.log.with_suffix(".exit")

    @property
    def flowdeck(self) -> Path:
        """What the task sees as /flowdeck: its outputs and inputs."""
        return self.workdir / ".flowdeck"

    @property
    def wanted(self) -> Path:
        """The outputs to collect, kept for a worker that restarts meanwhile."""
        return self.log.with_suffix(".outputs.json")

    @property
    def pid(self) -> Path:
        """The wrapper's handle (pid:start), written as soon as it starts, so
        that a relaunch of an attempt whose handle was never recorded finds it."""
        return self.log.with_suffix(".pid")


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


class Sandbox:
    """The bubblewrap command line that confines one attempt, or none.

    `mode` is "auto" (confine when bubblewrap works here), "on" (refuse to
    launch without it) or "off". `writable` are extra directories tasks may
    write in (shared scratch space an operator chose).
    """

    def __init__(
        self, mode: str, data_dir: Path, writable: Sequence[Path] = ()
    ) -> None:
        self.mode = mode
        self.data_dir = data_dir
        self.writable = tuple(writable)
        self._program: str | None = None
        self._probed = False
        self._lock = threading.Lock()

    @property
    def program(self) -> str | None:
        """bubblewrap's path when it is to be used; None when tasks run bare."""
        with self._lock:
            if not self._probed:
                self._probed = True
                self._program = self._probe()
            return self._program

    def _probe(self) -> str | None:
        if self.mode == "off":
            return None
        program = shutil.which("bwrap")
        problem = "bubblewrap (bwrap) is not installed"
        if program is not None:
            trial = subprocess.run(
                [program, "--ro-bind", "/", "/", "--unshare-pid", "true"],
                capture_output=True,
                timeout=10,
            )
            if trial.returncode == 0:
                return program
            problem = f"bwrap does not work here: {trial.stderr.decode().strip()}"
        if self.mode == "on":
            logger.error("local tasks cannot run: %s", problem)
        else:
            logger.warning(
                "local tasks run WITHOUT a sandbox (%s): a task can read the "
                "data directory %s, and with it every project's secrets; "
                "install bubblewrap (Debian package bubblewrap)",
                problem,
                self.data_dir,
            )
        return None

    def prefix(
        self,
        run_dir: Path,
        workdir: Path,
        flowdeck: Path | None = None,
        inputs: Sequence[tuple[Path, str]] = (),
        volumes: Sequence[tuple[Path, str, bool]] = (),
    ) -> list[str]:
        """The command line to put before the task's own: `flowdeck` is shown
        at /flowdeck, each (file, path) of `inputs` read-only at its path,
        each (directory, path, read only) of `volumes` at its path."""
        program = self.program
        if program is None:
            if self.mode == "on":
                raise BackendError(
                    "FLOWDECK_LOCAL_SANDBOX=on but bubblewrap is not usable here",
                    permanent=True,
                )
            return []
        # Later mounts cover earlier ones: the data directory is hidden even
        # where it lies under /tmp or a writable path, then this run's part of
        # it is shown again, writable.
        # The root is an empty tmpfs holding the host's entries read-only, so
        # an input artifact or a volume can be placed at a path the host does
        # not have (/data/in.csv, /mnt/vol) as it can in a container.
        command = [program, "--tmpfs", "/"]
        targets = {path for _, path in inputs} | {path for _, path, _ in volumes}
        command += _shown("/", targets)
        command += [
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--unshare-pid",
            "--unshare-ipc",
            "--die-with-parent",
            "--tmpfs",
            "/tmp",
        ]
        for path in self.writable:
            command += ["--bind-try", str(path), str(path)]
        # Before the run's own directory, which must show even where a volume
        # covers where it lies (a scratch /tmp, with the data directory in it).
        for source, path, read_only in volumes:
            command += ["--ro-bind" if read_only else "--bind", str(source), path]
        command += [
            "--tmpfs",
            str(self.data_dir),
            "--bind",
            str(run_dir),
            str(run_dir),
        ]
        if flowdeck is not None:
            command += ["--bind", str(flowdeck), "/flowdeck"]
        for source, path in inputs:
            command += ["--ro-bind", str(source), path]
        # The directories made on the way to them, read-only again once they
        # hold what they show.
        for directory in _made_on_the_way(targets):
            command += ["--remount-ro", directory]
        command += ["--chdir", str(workdir), "--"]
        return command


_OWN_MOUNTS = {"dev", "proc", "tmp"}


def _made_on_the_way(targets: set[str]) -> list[str]:
    """The directories _shown makes a tmpfs of, on the way to `targets`:
    those of the host's (not links) that hold one below them."""
    made = set()
    for target in targets:
        parts = target.strip("/").split("/")[:-1]
        if not parts or parts[0] in _OWN_MOUNTS:
            continue
        for depth in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:depth])
            if os.path.islink(path) or not os.path.isdir(path):
                break
            made.add(path)
    return sorted(made)


def _empty_dirs(
    volume_mounts: Sequence[Mapping[str, object]], files: AttemptFiles
) -> list[tuple[Path, str, bool]]:
    """Each volume mount of a container of the attempt as (directory, path,
    read only): an emptyDir is a directory of the attempt's own, as it is the
    pod's, which every container mounting it shares."""
    mounts = []
    for mount in volume_mounts:
        directory = files.workdir.parent / f".volumes-{files.workdir.name}"
        directory = directory / str(mount["name"])
        if mount.get("subPath"):
            directory = directory / str(mount["subPath"])
        directory.mkdir(parents=True, exist_ok=True)
        place = os.path.normpath(str(mount["mountPath"]))
        mounts.append((directory, place, bool(mount.get("readOnly"))))
    return mounts


def _shown(directory: str, targets: set[str]) -> list[str]:
    """bwrap arguments that show the entries of `directory` (a tmpfs in the
    sandbox) read-only, symbolic links as links. A directory on the way to a
    target path is a tmpfs of its own holding its entries, so that the target
    can be created in it without touching the host."""
    arguments: list[str] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return arguments
    for entry in entries:
        if directory == "/" and entry.name in _OWN_MOUNTS:
            continue
        path = entry.path
        if path in targets:
            continue  # bound there afterwards
        if entry.is_symlink():
            arguments += ["--symlink", os.readlink(path), path]
        elif entry.is_dir():
            if any(target.startswith(path + "/") for target in targets):
                arguments += ["--tmpfs", path, *_shown(path, targets)]
            else:
                # -try: an entry removed since it was listed (another
                # program's scratch directory) must not stop the task.
                arguments += ["--ro-bind-try", path, path]
        else:
            arguments += ["--ro-bind-try", path, path]
    return arguments


class _Reaper:
    """One thread that waits for every attempt's process, all their pidfds in
    one poll, and ends what outlives its timeout.

    A thread per process costs every launch a thread start, which waits for
    the new thread to be scheduled: on a busy machine that hand-off sat in
    the path of a chain of short tasks, launch after launch.
    """

    def __init__(
        self,
        on_exit: Callable[[_Live, int | None], None],
        on_timeout: Callable[[_Live], None],
    ) -> None:
        self._on_exit = on_exit
        self._on_timeout = on_timeout
        self._lock = threading.Lock()
        self._added: list[tuple[int, _Live, float | None]] = []
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def watch(self, live: _Live) -> bool:
        """Wait for the process of `live` and report it; False when this kernel
        (or platform) has no pidfds, so that the caller waits another way."""
        assert live.process is not None
        try:
            pidfd = os.pidfd_open(live.pid)
        except (AttributeError, OSError):
            return False
        timeout = live.request.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if self._wake is None:
                self._wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="local-reaper", daemon=True
                )
                self._thread.start()
            self._added.append((pidfd, live, deadline))
            wake = self._wake[1]
        with contextlib.suppress(BlockingIOError):  # already awake: enough
            os.write(wake, b"\0")
        return True

    def _loop(self) -> None:
        assert self._wake is not None
        poller = select.poll()
        poller.register(self._wake[0], select.POLLIN)
        watched: dict[int, _Live] = {}
        deadlines: dict[int, float] = {}
        while True:
            timeout = None
            if deadlines:
                left = min(deadlines.values()) - time.monotonic()
                timeout = max(0, int(left * 1000) + 1)
            ready = [fd for fd, _ in poller.poll(timeout)]
            with self._lock:
                added, self._added = self._added, []
            for pidfd, live, deadline in added:
                poller.register(pidfd, select.POLLIN)
                watched[pidfd] = live
                if deadline is not None:
                    deadlines[pidfd] = deadline
            for fd in ready:
                if fd == self._wake[0]:
                    with contextlib.suppress(BlockingIOError):
                        os.read(fd, 4096)
                    continue
                poller.unregister(fd)
                os.close(fd)
                live = watched.pop(fd)
                deadlines.pop(fd, None)
                assert live.process is not None
                try:
                    self._on_exit(live, live.process.wait())
                except Exception:
                    logger.exception("reporting the end of %s failed", live.pid)
            now = time.monotonic()
            for fd in [fd for fd, at in deadlines.items() if at <= now]:
                del deadlines[fd]  # still watched: its end is reported as usual
                watched[fd].timed_out = True
                try:
                    self._on_timeout(watched[fd])
                except Exception:
                    logger.exception("ending %s after its timeout failed", fd)


class LocalBackend:
    name = "local"
    # recover() is cheap here (a /proc read per attempt), so the sweep runs it.
    recovers_in_sweep = True

    def __init__(
        self,
        reporter: Reporter,
        *,
        data_dir: Path,
        slots: int,
        sandbox: Sandbox | None = None,
        store: ArtifactStore | None = None,
    ) -> None:
        self._reporter = reporter
        self._store = store
        self._data_dir = data_dir
        self._slots = max(1, slots)
        self._sandbox = sandbox or Sandbox("off", data_dir)
        self._lock = threading.Lock()
        self._queue: list[tuple[int, int, PodRequest]] = []
        self._order = itertools.count()
        self._queued: set[int] = set()
        self._live: dict[int, _Live | None] = {}  # None: a slot reserved, spawning
        self._cancelled: OrderedDict[int, None] = OrderedDict()
        self._daemons = LocalDaemons(self, reporter, data_dir)
        self._reaper = _Reaper(self._finish, self._terminate)

    # -- the Backend interface ---------------------------------------------------

    def launch(self, request: PodRequest) -> None:
        if request.daemon is not None:
            # A daemon takes no slot: it serves for the rest of the run.
            self._daemons.launch(request)
            return
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
        self._check_volumes(request, request.volume_mounts)
        for container in (*request.init_containers, *request.sidecars):
            self._check_container(request, container)
        policy = (request.job or {}).get("pod_failure_policy") or {}
        for rule in policy.get("rules") or ():
            if rule.get("onPodConditions"):
                raise BackendError(
                    "job.podFailurePolicy: rules onPodConditions need the "
                    "Kubernetes backend (the local backend matches exit codes)",
                    permanent=True,
                )
        with self._lock:
            if request.attempt_id in self._queued or request.attempt_id in self._live:
                return
            cancelled = request.attempt_id in self._cancelled
            if not cancelled:
                self._queued.add(request.attempt_id)
                heapq.heappush(
                    self._queue, (-request.priority, next(self._order), request)
                )
        if cancelled:
            self._report(request, Report(request.attempt_id, AttemptStatus.CANCELLED))
            return
        self._fill()

    def cancel(self, attempt_id: int, handle: str) -> None:
        if self._daemons.cancel(attempt_id, handle):
            return
        with self._lock:
            self._remember_cancel(attempt_id)
            queued = attempt_id in self._queued
            self._queued.discard(attempt_id)  # dropped when it reaches the head
            live = self._live.get(attempt_id)
            if live is not None:
                live.cancelled = True
        if queued:
            self._reporter(Report(attempt_id, AttemptStatus.CANCELLED, at=_now()))
        elif live is not None:
            self._terminate(live)
        elif handle:
            # Started by an earlier worker and not adopted (yet): stop it by its
            # handle, if that process is still the one we started.
            pid, started = _parse_handle(handle)
            if pid and process_start_time(pid) == started:
                _signal_group(pid, signal.SIGTERM)

    def status(self, attempt_id: int, handle: str) -> Report | None:
        if is_daemon_handle(handle):
            return self._daemons.status(attempt_id, handle)
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

    def recover(self, live: list[LiveAttempt]) -> list[int]:
        relaunch: list[int] = []
        for attempt in self._daemons.recover(live):
            with self._lock:
                known = attempt.attempt_id in self._live or (
                    attempt.attempt_id in self._queued
                )
            if known:
                continue
            if not attempt.handle:
                # Never recorded as started; launch() finds it if it did start.
                relaunch.append(attempt.attempt_id)
                continue
            exit_file = (
                Path(attempt.log_path).with_suffix(".exit")
                if attempt.log_path
                else None
            )
            pid, started = _parse_handle(attempt.handle)
            if pid and process_start_time(pid) == started:
                self._adopt(attempt.attempt_id, pid, started, exit_file)
            else:
                self._reporter(
                    self._ended(attempt.attempt_id, exit_file, cancelled=False)
                )
        return relaunch

    def end_run(self, run_id: int) -> None:
        """The run ended: stop its daemons."""
        self._daemons.end_run(run_id)

    def sweep_daemons(self, ended: Callable[[set[int]], set[int]]) -> None:
        """Stop the daemons of runs that `ended` says have ended."""
        self._daemons.sweep(ended)

    def idle(self) -> bool:
        with self._lock:
            return not self._live and not self._queued

    def files(self, request: PodRequest) -> AttemptFiles:
        run_dir = f"run-{request.run_id}"
        return AttemptFiles(
            workdir=self._data_dir
            / "work"
            / run_dir
            / request.task
            / str(request.attempt),
            log=self._data_dir
            / "logs"
            / run_dir
            / request.task
            / f"{request.attempt}.log",
        )

    # -- internals -----------------------------------------------------------------

    def _remember_cancel(self, attempt_id: int) -> None:
        """Keep the cancel of an attempt (the caller holds the lock)."""
        self._cancelled[attempt_id] = None
        self._cancelled.move_to_end(attempt_id)
        while len(self._cancelled) > _REMEMBERED_CANCELS:
            self._cancelled.popitem(last=False)

    def _report(self, request: PodRequest, report: Report) -> None:
        self._reporter(replace(report, at=_now(), run_id=request.run_id or None))

    def report_running(self, request: PodRequest, handle: str, log: Path) -> None:
        """Report a launched (or adopted) attempt Running, with the handle that
        finds its process again and its log (for tasks and daemons alike)."""
        self._report(
            request,
            Report(
                request.attempt_id,
                AttemptStatus.RUNNING,
                handle=handle,
                log_path=str(log),
            ),
        )

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
            try:
                self._start(request)
            except Exception as error:
                # Whatever went wrong, the attempt ends with the reason and its
                # slot is free again: one bad task must never block the rest.
                logger.exception("launching attempt %s failed", request.attempt_id)
                with self._lock:
                    self._live.pop(request.attempt_id, None)
                self._report(
                    request,
                    Report(
                        request.attempt_id,
                        AttemptStatus.ERROR,
                        reason="LaunchFailed",
                        message=f"could not launch: {error}",
                    ),
                )

    def _environment(
        self,
        request: PodRequest,
        workdir: Path,
        flowdeck: str,
        variables: Sequence[Mapping[str, object]] | None = None,
    ) -> dict[str, str]:
        """Flowdeck's variables and the task's (or an extra container's
        `variables`)."""
        env = {key: os.environ[key] for key in _INHERITED_ENV if key in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env["HOME"] = str(workdir)
        env["FLOWDECK_WORKFLOW"] = request.workflow
        env["FLOWDECK_RUN_ID"] = str(request.run_id)
        env["FLOWDECK_TASK"] = request.task
        env["FLOWDECK_ATTEMPT"] = str(request.attempt)
        # Scratch space the run's tasks and attempts share (workdir's grandparent).
        env["FLOWDECK_RUN_DIR"] = str(workdir.parent.parent)
        # Where to write outputs and find inputs: /flowdeck/... in the sandbox
        # (as in a pod), the attempt's own directory without one.
        env["FLOWDECK_OUTPUTS"] = f"{flowdeck}/outputs"
        env["FLOWDECK_INPUTS"] = f"{flowdeck}/inputs"
        for variable in request.env if variables is None else variables:
            env[str(variable["name"])] = str(variable.get("value") or "")
        return env

    def _start(self, request: PodRequest) -> None:
        """Start the attempt in its reserved slot, or find that it started
        before (a relaunch after a restart) and follow that instead."""
        files = self.files(request)
        if self._resume(request, files):
            return
        sandboxed = self._sandbox.program is not None
        flowdeck = "/flowdeck" if sandboxed else str(files.flowdeck)
        env = self._environment(request, files.workdir, flowdeck)
        extra = (*request.init_containers, *request.sidecars)
        for argv, who in [
            (request.command or request.args, ""),
            *((own.command or own.args, f" (container {own.name})") for own in extra),
        ]:
            if shutil.which(argv[0], path=env["PATH"]) is None:
                with self._lock:
                    self._live.pop(request.attempt_id, None)
                self._report(
                    request,
                    Report(
                        request.attempt_id,
                        AttemptStatus.FAILED,
                        reason="StartError",
                        message=f"could not start {argv[0]}{who}: No such file or "
                        "directory (or not executable)",
                        log_path=str(files.log),
                    ),
                )
                return
        files.workdir.mkdir(parents=True, exist_ok=True)
        files.log.parent.mkdir(parents=True, exist_ok=True)
        bound = self._prepare_data(request, files, sandboxed=sandboxed)

        def sandbox_for(mounts: Sequence[Mapping[str, object]]) -> list[str]:
            return self._sandbox.prefix(
                files.workdir.parent.parent,
                files.workdir,
                files.flowdeck,
                bound,
                _empty_dirs(mounts, files),
            )

        def step(own: ContainerRequest) -> Step:
            variables = self._environment(request, files.workdir, flowdeck, own.env)
            return Step(
                own.name,
                (
                    "env",
                    "-i",
                    *(f"{name}={value}" for name, value in variables.items()),
                    *sandbox_for(own.volume_mounts),
                    *own.command,
                    *own.args,
                ),
                container_log(files.log, own.name),
            )

        pod = (
            pod_script(
                [step(own) for own in request.init_containers],
                [step(own) for own in request.sidecars],
            )
            if extra
            else ""
        )
        wrapper = _GATE + pod if pod else _WRAPPER
        command = [
            *sandbox_for(request.volume_mounts),
            *request.command,
            *request.args,
        ]
        if request.job is not None:
            command = self._job_command(request, files, pod, command)
            wrapper = _WRAPPER
        with open(files.log, "ab") as log:
            process = subprocess.Popen(
                [
                    "sh",
                    "-c",
                    wrapper,
                    "flowdeck-attempt",
                    str(files.exit),
                    str(files.pid),
                    *command,
                ],
                cwd=files.workdir,
                env=env,
                stdin=subprocess.PIPE,  # closed once the handle is on disk
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: kill it whole; outlive us
                close_fds=True,
                umask=0o022,
            )
        assert process.stdin is not None
        try:
            started = process_start_time(process.pid)
            if started is None:
                # Gone already (it did not even wait for its stdin): the handle
                # cannot tell it from a later process with its pid, so only
                # this worker's wait knows how it ended.
                logger.warning(
                    "attempt %s: process %s ended as it started (exit status %s)",
                    request.attempt_id,
                    process.pid,
                    process.poll(),
                )
            handle = f"{process.pid}:{started or ''}"
            _write_handle(files.pid, handle, request.stamp)
        finally:
            # The command starts now (or, if the handle could not be written,
            # the wrapper exits without starting it).
            process.stdin.close()
        live = _Live(request, process, process.pid)
        with self._lock:
            self._live[request.attempt_id] = live
            cancelled = request.attempt_id in self._cancelled
            live.cancelled = cancelled
        self.report_running(request, handle, files.log)
        if cancelled:  # cancelled while it was being started
            self._terminate(live)
        if not self._reaper.watch(live):
            threading.Thread(
                target=self._wait, args=(live,), name=f"wait-{process.pid}", daemon=True
            ).start()

    def _job_command(
        self, request: PodRequest, files: AttemptFiles, script: str, one: list[str]
    ) -> list[str]:
        """The command line of a Job attempt: the local Job controller, told
        how to run each completion (`one`, under the pod `script` of its init
        containers and sidecars if it has any)."""
        job = request.job or {}
        if script:
            pod_exit = str(files.log.with_suffix(".pod.exit"))  # read by none
            one = ["sh", "-c", script, "flowdeck-pod", pod_exit, "", *one]
        described = {
            "completions": job.get("completions", 1),
            "parallelism": min(job.get("parallelism", 1), self._slots),
            "indexed": job.get("completion_mode") == "Indexed",
            "backoff_limit": job.get("backoff_limit", 0),
            "deadline": job.get("active_deadline_seconds"),
            "rules": (job.get("pod_failure_policy") or {}).get("rules") or [],
            "argv": one,
            "logs": str(files.log.with_suffix(".{index}.log")),
            "status": str(job_status_path(files.log)),
        }
        path = files.log.with_suffix(".job-request.json")
        path.write_text(json.dumps(described))
        return [sys.executable, local_job.__file__, str(path)]

    def _resume(self, request: PodRequest, files: AttemptFiles) -> bool:
        """True when this attempt started before: its end is reported, or its
        still running process adopted, and nothing is started again."""
        try:
            handle, _, stamp = files.pid.read_text().strip().partition("\n")
        except FileNotFoundError:
            return False
        pid, started = _parse_handle(handle)
        own = request.stamp
        if stamp and own and stamp != own:
            # Another attempt's, with the same id: the database was reset or
            # restored since. Its end is not this attempt's, nor its outputs;
            # its process, if it still runs, has nowhere to report to and
            # would write its end over this attempt's.
            if pid and process_start_time(pid) == started:
                _signal_group(pid, signal.SIGKILL)
            logger.warning(
                "attempt %s: removed the files another attempt with the same id "
                "left in %s (recorded %s; the database was reset or restored "
                "since), and starts afresh",
                request.attempt_id,
                files.log.parent,
                stamp,
            )
            _remove_attempt_files(files)
            return False
        if pid and process_start_time(pid) == started:
            self.report_running(request, handle, files.log)
            self._adopt(request.attempt_id, pid, started, files.exit)
            return True
        with self._lock:
            self._live.pop(request.attempt_id, None)
        self._reporter(
            replace(
                self._ended(request.attempt_id, files.exit, cancelled=False),
                handle=handle,
                log_path=str(files.log),
                run_id=request.run_id or None,
            )
        )
        return True

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
        else:
            report = _exit_report(request.attempt_id, code)
            if request.job is not None:
                report = _job_report(request.attempt_id, code, self.files(request).log)
            elif code and request.init_containers:
                report = _init_report(request.attempt_id, self.files(request).exit) or (
                    report
                )
            if report.status == AttemptStatus.SUCCEEDED and request.outputs.wanted:
                report = self._with_outputs(
                    report,
                    request.outputs,
                    self.files(request).flowdeck,
                    self.files(request).log,
                )
        # Report before forgetting the attempt: a sweep that finds it unknown
        # must find its report already queued ahead of any "lost" verdict.
        self._report(request, report)
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
                if live.process is None and process_start_time(live.pid) is None:
                    break
                time.sleep(0.05)
            # The leader may be gone while children it spawned still run.
            _signal_group(live.pid, signal.SIGKILL)

        threading.Thread(target=escalate, daemon=True).start()

    def _check_container(self, request: PodRequest, own: ContainerRequest) -> None:
        """What the local backend cannot do for an extra container, said."""
        if not (own.command or own.args):
            raise BackendError(
                f"container {own.name}: the local backend runs `command` and "
                "`args` and ignores `image`: give it a command",
                permanent=True,
            )
        for variable in own.env:
            if variable.get("value_from"):
                raise BackendError(
                    f"container {own.name}: env {variable['name']}: valueFrom "
                    "references need the Kubernetes backend",
                    permanent=True,
                )
        self._check_volumes(request, own.volume_mounts)

    def _check_volumes(
        self, request: PodRequest, volume_mounts: Sequence[Mapping[str, object]]
    ) -> None:
        """A mounted volume is an emptyDir (the only kind this backend has),
        and the sandbox, which mounts it, is on."""
        kinds = {
            str(volume.get("name")): next(
                (key for key in volume if key != "name"), "unknown"
            )
            for volume in request.volumes
        }
        for mount in volume_mounts:
            kind = kinds.get(str(mount.get("name")), "unknown")
            if kind != "emptyDir":
                raise BackendError(
                    f"volume {mount.get('name')}: a {kind} volume needs the "
                    "Kubernetes backend (the local backend has emptyDir only)",
                    permanent=True,
                )
            place = os.path.normpath(str(mount.get("mountPath")))
            if place == "/" or place.split("/")[1] in ("dev", "proc", "flowdeck"):
                raise BackendError(
                    f"volume {mount.get('name')}: the local backend cannot mount "
                    f"a volume at {place}",
                    permanent=True,
                )
            if self._sandbox.program is None:
                raise BackendError(
                    f"volume {mount.get('name')}: the local backend mounts an "
                    "emptyDir volume in its sandbox, which is off here (install "
                    "bubblewrap, FLOWDECK_LOCAL_SANDBOX)",
                    permanent=True,
                )

    def _prepare_data(
        self, request: PodRequest, files: AttemptFiles, *, sandboxed: bool
    ) -> list[tuple[Path, str]]:
        """Make the attempt's /flowdeck, fetch its input artifacts, and note
        the outputs to collect; the inputs to bind at their own paths."""
        (files.flowdeck / "outputs").mkdir(parents=True, exist_ok=True)
        (files.flowdeck / "inputs").mkdir(parents=True, exist_ok=True)
        if request.outputs.wanted:
            files.wanted.write_text(
                json.dumps(
                    {"outputs": asdict(request.outputs), "root": str(files.flowdeck)}
                )
            )
        if not request.input_artifacts:
            return []
        if self._store is None:
            raise BackendError("no artifact store is configured", permanent=True)
        elsewhere = [
            item
            for item in request.input_artifacts
            if not item.path.startswith("/flowdeck/")
        ]
        if elsewhere and not sandboxed:
            paths = ", ".join(item.path for item in elsewhere)
            raise BackendError(
                f"input artifacts at {paths} need the sandbox (bubblewrap) on the "
                "local backend; place them under /flowdeck/inputs/ and read them "
                "at $FLOWDECK_INPUTS instead",
                permanent=True,
            )
        bound: list[tuple[Path, str]] = []
        for item in request.input_artifacts:
            if item.path.startswith("/flowdeck/"):
                place_input(item, self._store, local_path(files.flowdeck, item.path))
            else:
                target = files.flowdeck / "inputs" / ".bound" / item.name
                place_input(item, self._store, target)
                bound.append((target, item.path))
        return bound

    def _with_outputs(
        self, report: Report, wanted: OutputsRequest, root: Path, log: Path | None
    ) -> Report:
        """The Succeeded report with what the attempt left, or a failure
        saying which output is wrong."""
        try:
            outputs = collect(wanted, root, log=log, store=self._store)
        except OSError as error:
            outputs = CollectedOutputs(
                reason="OutputUnreadable", problem=f"reading outputs failed: {error}"
            )
        return apply_outputs(report, outputs)

    def _ended(
        self, attempt_id: int, exit_file: Path | None, *, cancelled: bool
    ) -> Report:
        """_ended, with the outputs of a success that no worker watched."""
        report = _ended(attempt_id, exit_file, cancelled=cancelled)
        if report.status != AttemptStatus.SUCCEEDED or exit_file is None:
            return report
        try:
            noted = json.loads(exit_file.with_suffix(".outputs.json").read_text())
        except (OSError, ValueError):
            return report  # it declared no outputs
        wanted = _outputs_request(noted["outputs"])
        return self._with_outputs(
            report, wanted, Path(noted["root"]), exit_file.with_suffix(".log")
        )

    def _adopt(
        self, attempt_id: int, pid: int, started: str, exit_file: Path | None
    ) -> None:
        """Follow a process a previous worker started: we cannot wait() for it,
        so poll until it is gone, then read the exit status it left."""
        request = PodRequest(attempt_id, 0, "", 0, "", 0, None, (), ())
        live = _Live(request, None, pid)
        with self._lock:
            self._live[attempt_id] = live
            live.cancelled = attempt_id in self._cancelled

        def poll() -> None:
            while process_start_time(pid) == started:
                time.sleep(_ADOPTED_POLL_SECONDS)
            self._reporter(self._ended(attempt_id, exit_file, cancelled=live.cancelled))
            with self._lock:
                self._live.pop(attempt_id, None)
            self._fill()

        threading.Thread(target=poll, name=f"adopted-{pid}", daemon=True).start()


def _exit_report(attempt_id: int, code: int | None) -> Report:
    """What an exit code says about the attempt."""
    if code == 0:
        return Report(attempt_id, AttemptStatus.SUCCEEDED, exit_code=0)
    if code is not None and code < 0:  # the wrapper itself was killed
        code = 128 - code
    if code is not None and code > 128 and _signal_name(code - 128):
        return Report(
            attempt_id,
            AttemptStatus.FAILED,
            exit_code=code,
            reason="Signal",
            message=f"exited with code {code} (killed by {_signal_name(code - 128)})",
        )
    return Report(
        attempt_id,
        AttemptStatus.FAILED,
        exit_code=code,
        reason="Error",
        message=f"exited with code {code}",
    )


def job_status_path(log: Path) -> Path:
    """Where the local Job controller leaves a Job attempt's outcome."""
    return log.with_suffix(".job.json")


def _job_report(attempt_id: int, code: int | None, log: Path) -> Report:
    """A Job attempt's end, as its conditions say (the controller's status
    file); its exit status alone when there is none (it was killed)."""
    try:
        status = json.loads(job_status_path(log).read_text())
    except (OSError, ValueError):
        return _exit_report(attempt_id, code)
    if status.get("condition") == "Complete":
        return Report(
            attempt_id,
            AttemptStatus.SUCCEEDED,
            exit_code=0,
            message=str(status.get("message", "")),
        )
    return Report(
        attempt_id,
        AttemptStatus.FAILED,
        exit_code=code,
        reason=str(status.get("reason") or "JobFailed"),
        message=str(status.get("message", "")),
    )


def _init_failed(attempt_id: int, code: int, name: str) -> Report:
    return Report(
        attempt_id,
        AttemptStatus.FAILED,
        exit_code=code,
        reason="InitContainerFailed",
        message=f"init container {name} exited with code {code}",
    )


def _init_report(attempt_id: int, exit_file: Path) -> Report | None:
    """The failure of an init container, when the exit file says one failed."""
    try:
        failed = init_failure(exit_file.read_text())
    except OSError:
        return None
    return None if failed is None else _init_failed(attempt_id, *failed)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return ""


def _ended(attempt_id: int, exit_file: Path | None, *, cancelled: bool) -> Report:
    """The report of an attempt whose process is gone, from the exit status its
    wrapper left; an Error when it left none (killed with its wrapper)."""
    try:
        if exit_file is None:
            raise FileNotFoundError("no log path recorded")
        text = exit_file.read_text().strip()
        ended_at = datetime.fromtimestamp(exit_file.stat().st_mtime, UTC)
        failed_init = init_failure(text)
        if not cancelled and job_status_path(exit_file).exists():
            return replace(
                _job_report(attempt_id, int(text), exit_file.with_suffix(".log")),
                at=ended_at,
            )
        if failed_init is not None and not cancelled:
            return replace(_init_failed(attempt_id, *failed_init), at=ended_at)
        code = failed_init[0] if failed_init else int(text)
    except (OSError, ValueError):
        if cancelled:
            return Report(attempt_id, AttemptStatus.CANCELLED, at=_now())
        return Report(
            attempt_id,
            AttemptStatus.ERROR,
            reason="ProcessLost",
            message="the process ended while no worker watched it and left no "
            "exit status",
            at=_now(),
        )
    if cancelled:
        return Report(attempt_id, AttemptStatus.CANCELLED, exit_code=code, at=ended_at)
    return replace(_exit_report(attempt_id, code), at=ended_at)


def _outputs_request(noted: dict[str, object]) -> OutputsRequest:
    def rows(key: str) -> tuple[tuple[object, ...], ...]:
        value = noted.get(key) or []
        assert isinstance(value, list)
        return tuple(tuple(row) for row in value)

    fields = {k: v for k, v in noted.items() if k not in ("parameters", "artifacts")}
    return OutputsRequest(
        parameters=rows("parameters"),  # type: ignore[arg-type]
        artifacts=rows("artifacts"),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def _write_handle(path: Path, handle: str, stamp: str) -> None:
    """Write the handle whole or not at all: the wrapper (its first line) and a
    relaunch read it; the attempt's stamp on the second line."""
    partial = path.with_suffix(".pid.tmp")
    partial.write_text(f"{handle}\n{stamp}\n")
    partial.replace(path)


def _remove_attempt_files(files: AttemptFiles) -> None:
    """Remove what an attempt left: its working directory, its volumes and
    every file of its own beside its log (N.log, N.exit, N.pid, N.*.log...)."""
    for directory in (
        files.workdir,
        files.workdir.parent / f".volumes-{files.workdir.name}",
    ):
        shutil.rmtree(directory, ignore_errors=True)
    for path in files.log.parent.glob(f"{glob.escape(files.log.stem)}.*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _parse_handle(handle: str) -> tuple[int | None, str]:
    pid_text, _, started = handle.partition(":")
    try:
        return int(pid_text), started
    except ValueError:
        return None, ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
