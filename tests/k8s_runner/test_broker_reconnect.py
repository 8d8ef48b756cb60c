"""A worker comes back within a second or two of Redis, not Celery's 10 to
35 s: a real Redis of the test's own is stopped for 21 s (Celery's own loop
would next try 9 s after it is back) and started again on the same port,
and a run submitted then finishes promptly."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from flowcore.states import RunStatus
from k8s_runner.management.commands.run_embedded import worker_command
from tests.conftest import requires_service, shell_task, workflow_document
from tests.k8s_runner.test_worker import database_url, stop_worker, wait_for_end
from tests.net import free_port
from webapp.celery import app
from workflows.services.submit import create_workflow, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    requires_service("REDIS_URL"),
]

OUTAGE_SECONDS = 21


class Redis:
    """A redis-server of this test's own, stopped and started on one port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Redis]:
    server = Redis(tmp_path)
    server.start()
    monkeypatch.setattr(app.conf, "broker_url", server.url)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    yield server
    server.stop()


@pytest.fixture
def worker(own_redis: Redis, tmp_path: Path) -> Iterator[Path]:
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs the PostgreSQL test database")
    import os

    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": own_redis.url,
        "CELERY_BROKER_URL": own_redis.url,
        "FLOWDECK_DATA_DIR": str(tmp_path / "worker-data"),
    }
    log = tmp_path / "worker.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            worker_command(beat=False),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            start_new_session=True,
        )
    yield log
    stop_worker(process)


def test_a_worker_is_back_within_seconds_of_redis(
    own_redis: Redis, worker: Path, user: Any
) -> None:
    workflow = create_workflow(
        workflow_document("after-outage", [shell_task("hello", "echo hi")]),
        author=user,
    )
    before = wait_for_end(submit_run(workflow.latest_version, user=user), worker)
    assert before.status == RunStatus.SUCCEEDED
    own_redis.stop()
    time.sleep(OUTAGE_SECONDS)
    own_redis.start()
    back = time.monotonic()
    # This process's connections went with the old server; a web process
    # reconnects on its next send (docs/deployment.md), here done by hand.
    app._pool = None
    app.amqp._producer_pool = None
    run = submit_run(workflow.latest_version, user=user)
    run = wait_for_end(run, worker, timeout=60)
    took = time.monotonic() - back
    assert run.status == RunStatus.SUCCEEDED
    assert took < 6, f"{took:.1f} s after Redis returned\n{worker.read_text()[-3000:]}"
