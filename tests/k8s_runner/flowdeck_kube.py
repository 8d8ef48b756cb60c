"""Flowdeck on the test cluster, for the tests that run whole workflows on the
Kubernetes backend (the `flowdeck` fixture, tests/k8s_runner/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from kubernetes.client import CoreV1Api

from flowcore.states import TERMINAL_RUN_STATUSES
from k8s_runner import reconcile
from k8s_runner.backends.kubernetes import KubernetesBackend
from k8s_runner.manifests import ATTEMPT_ID_LABEL, SELECTOR
from k8s_runner.pod_request import PodRequest
from k8s_runner.watcher import PodWatcher
from tests.conftest import workflow_document
from workflows.models import Attempt, Run
from workflows.services.submit import create_workflow, submit_run

FAST_RETRY = {"limit": 2, "backoff": {"delay": "1s", "factor": 1}}


def wait_until(
    condition: Callable[[], Any], timeout: float = 30, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


class Flowdeck:
    """Flowdeck on the test cluster: the backend the settings describe, the
    report pump, and a pod watcher thread that can be stopped and restarted."""

    def __init__(self, core: CoreV1Api, namespace: str) -> None:
        self.core = core
        self.namespace = namespace
        self.backend = reconcile.get_backend()
        assert isinstance(self.backend, KubernetesBackend)
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self.watcher: PodWatcher | None = None

    def start_watcher(self) -> PodWatcher:
        assert self._thread is None
        self.watcher = PodWatcher(
            self.backend,
            watch_timeout_seconds=5,
            housekeeping_seconds=0.1,
            backoff_seconds=(0.1, 1.0),
            keep_finished_seconds=self.backend_keep,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.watcher.run_forever, args=(self._stop,), daemon=True
        )
        self._thread.start()
        return self.watcher

    def stop_watcher(self) -> None:
        if self._thread is None or self._stop is None:
            return
        self._stop.set()
        self._thread.join(15)
        assert not self._thread.is_alive()
        self._thread = None

    backend_keep = 0.0

    def run(
        self, name: str, tasks: list[dict[str, Any]], user: Any, **spec: Any
    ) -> Run:
        workflow = create_workflow(workflow_document(name, tasks, **spec), author=user)
        run = submit_run(workflow.latest_version, user=user)
        reconcile.reconcile(run.pk)
        return run

    def finish(self, run: Run, timeout: float = 60) -> Run:
        """Wait for the run's end; the sweep stands in for Celery beat (it wakes
        retries once their backoff has passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in TERMINAL_RUN_STATUSES:
                return run
            reconcile.sweep()
            time.sleep(0.2)
        raise AssertionError(f"run still {run.status} after {timeout}s")

    def pods(self) -> list[Any]:
        return self.core.list_namespaced_pod(
            self.namespace, label_selector=SELECTOR
        ).items

    def pods_per_attempt(self) -> Counter[str]:
        return Counter(pod.metadata.labels[ATTEMPT_ID_LABEL] for pod in self.pods())


def true_pod(
    attempt_id: int, run_id: int, workflow: str, task: str, **extra: Any
) -> PodRequest:
    """A request for the first attempt of a task that runs `true` in busybox,
    launched straight at the backend (no run in the database)."""
    return PodRequest(
        attempt_id=attempt_id,
        run_id=run_id,
        workflow=workflow,
        version=1,
        task=task,
        attempt=1,
        image="busybox",
        command=("true",),
        args=(),
        **extra,
    )


def attempts_of(run: Run, task: str) -> list[Attempt]:
    return list(
        Attempt.objects.filter(task_run__run=run, task_run__name=task).order_by(
            "number"
        )
    )


ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database, for another process to use (PostgreSQL only)."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class WatcherProcess:
    """A real `manage.py watch_pods` process on the test cluster and database,
    its output in `log`, started in a session of its own so that kill() is a
    kill -9 of all of it. Needs the PostgreSQL test database (a second
    process cannot share the in-memory SQLite one)."""

    def __init__(
        self, kubeconfig: Path | str, namespace: str, log: Path, **env: str
    ) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url(),
            "FLOWDECK_DATA_DIR": str(settings.DATA_DIR),
            "FLOWDECK_BACKEND": "kubernetes",
            "FLOWDECK_K8S_KUBECONFIG": str(kubeconfig),
            "FLOWDECK_K8S_NAMESPACE": namespace,
            "FLOWDECK_K8S_DELETE_GRACE_SECONDS": "0",
            "FLOWDECK_K8S_WATCH_TIMEOUT_SECONDS": "5",
            **env,
        }
        self.env.pop("REDIS_URL", None)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, until_watching: bool = True) -> WatcherProcess:
        """Start it and, unless told otherwise (a standby under leader
        election never watches), wait until it watches (it recovered first):
        a run submitted sooner may end before the watcher sees it running."""
        assert self.process is None or self.process.poll() is not None
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "watch_pods"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not until_watching:
            return self

        def watching() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"watch_pods exited:\n{self.output()[-3000:]}")
            with open(self.log, "rb") as log:
                log.seek(offset)
                return b"watching pods in" in log.read()

        wait_until(watching, 60, "watch_pods to start watching")
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def says(self, text: str) -> bool:
        return text in self.output()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, no shutdown code runs."""
        if self.process is None:
            return
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        if self.process is not None and self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
