"""Serve the embedded mode: the Daphne web server plus one Celery worker
(with its beat) as child processes, stopped together; with the Kubernetes
backend, the pod watcher (`watch_pods`) as a third."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


def worker_command(*, beat: bool = True, loglevel: str = "INFO") -> list[str]:
    """The embedded worker: one process with a thread pool, because the local
    backend's subprocesses are children of the process that launched them."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "webapp",
        "worker",
        "--pool=threads",
        "--concurrency=4",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        "flowdeck-embedded@%h",
    ]
    if beat:
        command += ["--beat", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME]
    return command


def web_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        host,
        "-p",
        str(port),
        "webapp.asgi:application",
    ]


def watcher_command() -> list[str]:
    return [sys.executable, "-m", "django", "watch_pods"]


def child_commands(host: str, port: int) -> list[list[str]]:
    """The child processes to run: the worker and the web server, and with the
    Kubernetes backend the pod watcher too (nothing else records what pods do)."""
    commands = [worker_command(), web_command(host, port)]
    if settings.FLOWDECK_BACKEND == "kubernetes":
        commands.append(watcher_command())
    return commands


def child_environment() -> dict[str, str]:
    """The children's environment: this one's, serving static files, and with
    no leader election (one process of each: nothing to elect, and no lease
    to wait for after a restart)."""
    return {
        **os.environ,
        "FLOWDECK_SERVE_STATIC": os.environ.get("FLOWDECK_SERVE_STATIC", "true"),
        "FLOWDECK_LEADER_ELECTION": "off",
    }


class Command(BaseCommand):
    help = "Run the web server and a Celery worker together (the embedded mode)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        env = {
            **child_environment(),
            # /metrics sums the web's and the worker's samples (docs/operations.md),
            # readable from this machine unless told otherwise.
            "PROMETHEUS_MULTIPROC_DIR": self._metrics_dir(),
            "FLOWDECK_METRICS_ALLOWED_NETWORKS": os.environ.get(
                "FLOWDECK_METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1"
            ),
        }
        # The worker's embedded beat is a process of its own that outlives a
        # worker killed (by us after its grace, or by a kill -9) and would
        # then fire schedules beside the next worker's beat: as the children's
        # subreaper this process inherits such orphans, and stops them too.
        # The children stay in this process group, so that a kill of the
        # group (a terminal's, `make run`'s) still reaches every one.
        _become_subreaper()
        children = [
            subprocess.Popen(command, env=env)
            for command in child_commands(options["host"], options["port"])
        ]
        self.stdout.write(
            f"Flowdeck on http://{options['host']}:{options['port']}/ "
            f"(data in {settings.DATA_DIR}); Ctrl-C stops it."
        )
        self._warn_without_sandbox()
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            _stop_orphans()
        failed = [
            child.args[2:5]
            for child in children
            if child.returncode not in (0, -15, None)
        ]
        if failed and not stopping:
            raise SystemExit(f"a Flowdeck process stopped unexpectedly: {failed}")

    def _metrics_dir(self) -> str:
        """A fresh directory for the children's metric files: a previous run's
        would add its counts to this one's."""
        given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if given:
            return given
        path = settings.DATA_DIR / "metrics"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(mode=0o700)
        return str(path)

    def _warn_without_sandbox(self) -> None:
        """Say at start-up, not at the first task, when local tasks will run
        unconfined (see docs/security.md, "The embedded mode")."""
        if settings.FLOWDECK_BACKEND != "local":
            return
        from k8s_runner.backends.local import Sandbox

        if settings.FLOWDECK_LOCAL_SANDBOX == "off":
            self.stderr.write(
                "WARNING: FLOWDECK_LOCAL_SANDBOX=off: tasks can read the data "
                "directory, with every project's secrets and the database."
            )
        elif (
            Sandbox(settings.FLOWDECK_LOCAL_SANDBOX, settings.DATA_DIR).program is None
        ):
            self.stderr.write(
                "WARNING: bubblewrap is not usable here, so tasks run without a "
                "sandbox and can read the data directory, with every project's "
                "secrets and the database. Install Debian's bubblewrap package."
                + (
                    " Tasks will not start (FLOWDECK_LOCAL_SANDBOX=on)."
                    if settings.FLOWDECK_LOCAL_SANDBOX == "on"
                    else ""
                )
            )


_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    """Orphans of our descendants become our children (Linux's prctl), not
    init's."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _stop_orphans() -> None:
    """SIGTERM, then SIGKILL after a grace, whatever child is left once the
    children we started have ended (orphans of theirs we inherited), and reap
    it."""
    deadline = time.monotonic() + 5
    sig = signal.SIGTERM
    while pids := children_of(os.getpid()):
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.1)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def children_of(pid: int) -> list[int]:
    """The process ids of a process's children, from /proc (empty once it has
    gone)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found
