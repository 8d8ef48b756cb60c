"""A worker killed with SIGKILL while it delivers a notification, on the
production topology (PostgreSQL, Redis, Celery worker processes): the outbox
row committed with the run's end, so the next worker delivers it, with the
same delivery key, and a receiver that dedupes on it processes it once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
import redis

from flowcore.states import RunStatus
from notifications.models import Delivery, Notification, NotificationRule
from tests.conftest import requires_service, shell_task, workflow_document
from tests.k8s_runner.test_worker import (  # noqa: F401 (fixtures)
    broker_url,
    start_worker,
    stop_worker,
    wait_for_end,
    worker_env,
)
from tests.notifications.receivers import Receiver
from workflows.services.submit import create_workflow, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    requires_service("REDIS_URL"),
]


def test_a_notification_survives_a_kill_9_between_commit_and_delivery(
    worker_env: dict[str, str],  # noqa: F811
    broker_url: str,  # noqa: F811
    user,
    project,
    tmp_path: Path,
) -> None:
    receiver = Receiver(hang_first=True)
    env = {
        **worker_env,
        "FLOWDECK_NOTIFY_TIMEOUT_SECONDS": "3",  # a claim lasts 2 x 3 + 5 s
        "FLOWDECK_NOTIFY_SWEEP_SECONDS": "0.5",
    }
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    second = None
    try:
        NotificationRule.objects.create(
            project=project,
            name="on-call",
            channel="webhook",
            url=receiver.url,
            events=["run.failed"],
            secret="k",
        )
        workflow = create_workflow(
            workflow_document("nightly", [shell_task("load", "exit 3")]),
            author=user,
            project=project,
        )
        run = wait_for_end(submit_run(workflow.latest_version, user=user), log)
        assert run.status == RunStatus.FAILED
        # The worker committed the run's end with the outbox row, then began
        # delivering: the receiver holds that request, and the worker dies.
        receiver.wait_for(1)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        notification = Notification.objects.get()
        assert notification.status == "pending" and notification.claimed_until
        assert not Delivery.objects.exists()
        # Nothing left in the broker either: only the outbox remembers it.
        redis.Redis.from_url(broker_url).flushdb()
        receiver.release.set()

        second = start_worker(env, log)
        deadline = time.monotonic() + 45
        while notification.status != "delivered":
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.2)
            notification.refresh_from_db()
        keys = [got.headers["X-Flowdeck-Delivery"] for got in receiver.received]
        assert keys == [notification.key, notification.key]
        assert receiver.processed_keys == [notification.key]  # exactly once
        (delivered,) = Delivery.objects.filter(notification=notification)
        assert (delivered.attempt, delivered.outcome) == (2, "delivered")
        time.sleep(1.5)  # a few more sweeps: nothing is sent again
        assert len(receiver.received) == 2
    finally:
        receiver.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            stop_worker(second)
