"""How the processes treat the broker (docs/deployment.md, "When Redis goes
away"): workers reconnect within a second or so, unacknowledged messages come
back after five minutes, not kombu's hour, and tasks are acknowledged late."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kombu.exceptions import OperationalError

from tests.net import free_port
from webapp.celery import Consumer, app
from workflows.services import dispatch


def test_messages_are_acknowledged_late_and_come_back_after_five_minutes() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.broker_transport_options["visibility_timeout"] == 300
    assert app.conf.broker_connection_max_retries is None  # never give up


def test_a_worker_retries_the_broker_every_second_not_every_thirty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Celery's own loop waits 2 + 4 + 6 s over four attempts; ours about 1.5."""
    assert app.conf.worker_consumer == "webapp.celery:Consumer"
    monkeypatch.setattr(app.conf, "broker_connection_max_retries", 4)
    consumer = Consumer.__new__(Consumer)
    consumer.app = app
    consumer.first_connection_attempt = False
    consumer.broker_connection_retry_attempt = 0
    connection = app.connection_for_read(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(OperationalError):
        consumer.ensure_connected(connection)
    assert time.monotonic() - started < 4.0
    assert consumer.broker_connection_retry_attempt >= 3


def test_a_wake_up_beyond_the_visibility_timeout_is_left_to_the_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(
        dispatch.current_app, "send_task", lambda *a, **k: sent.append(k["eta"])
    )
    now = datetime.now(UTC)
    assert dispatch.request_reconcile(1, at=now + timedelta(hours=1))
    assert sent == []
    soon = now + timedelta(seconds=30)
    assert dispatch.request_reconcile(1, at=soon)
    assert sent == [soon]


def test_periodic_messages_expire_instead_of_piling_up() -> None:
    for entry in app.conf.beat_schedule.values():
        assert entry["options"]["expires"] >= 10
