"""Live updates on the production topology: a Daphne web process, a Celery
worker process and Redis between them. Events the worker commits reach a
websocket client connected to the web process, pushed, in order, none missing."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from accounts import tokens
from tests.conftest import requires_service, shell_task, workflow_document
from tests.k8s_runner.test_worker import (  # noqa: F401 (fixtures)
    broker_url,
    stop_worker,
    worker,
    worker_env,
)
from tests.net import free_port, watch_run
from workflows.services.submit import create_workflow, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    requires_service("REDIS_URL"),
]


@pytest.fixture
def same_channel_layer(settings, broker_url: str) -> None:  # noqa: F811
    # This process publishes too (the submit): through the same Redis.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [broker_url]},
        }
    }


@pytest.fixture
def web(worker_env: dict[str, str], tmp_path: Path) -> Iterator[int]:  # noqa: F811
    port = free_port()
    env = {
        **worker_env,
        # A lost message would only show after a minute: what arrives sooner
        # was pushed.
        "FLOWDECK_LIVE_RESYNC_SECONDS": "60",
        "FLOWDECK_SERVE_STATIC": "false",
    }
    log = tmp_path / "daphne.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            + ["webapp.asgi:application"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.2)
    yield port
    stop_worker(process)


@pytest.mark.usefixtures("same_channel_layer", "worker")
def test_a_task_finishing_in_the_worker_reaches_a_browser_of_the_web_process(
    web, user, project
):
    workflow = create_workflow(
        workflow_document(
            "pushed",
            [
                shell_task("first", "sleep 1; echo one"),
                shell_task("second", "echo two", dependencies=["first"]),
            ],
        ),
        author=user,
        project=project,
    )
    key = tokens.issue(user, name="live")[1]
    run = submit_run(workflow.latest_version, user=user)
    seq, events = watch_run(f"ws://127.0.0.1:{web}/ws/runs/{run.pk}/", key, 30)
    seqs = list(range(1, seq + 1)) + [event["seq"] for event in events]
    assert seqs == list(range(1, len(seqs) + 1))  # none missing, none twice
    assert events[-1]["status"] == "Succeeded"
    finished = [
        event["task"]
        for event in events
        if event["kind"] == "task" and event["status"] == "Succeeded"
    ]
    assert finished == ["first", "second"]
