"""The live log websocket: the last lines, then lines as the task writes them,
an end when the attempt ends, and flow control that stops reading for a
browser that does not keep up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from flowcore.states import AttemptStatus
from k8s_runner import logs
from tests.conftest import requires_service
from tests.workflows.test_consumers import connect
from workflows import consumers
from workflows.models import Attempt, Run
from workflows.services.submit import submit_run

pytestmark = [pytest.mark.django_db(transaction=True), requires_service("REDIS_URL")]


@pytest.fixture
def running(diamond, user, tmp_path: Path) -> tuple[Run, Attempt, Path]:
    run = submit_run(diamond.latest_version, user=user)
    Run.objects.filter(pk=run.pk).update(status="Running")
    log = tmp_path / "a.log"
    log.write_text("one\ntwo\nthree\n")
    attempt = Attempt.objects.create(
        task_run=run.tasks.get(name="a"),
        number=1,
        backend="local",
        log_path=str(log),
        status=AttemptStatus.RUNNING,
    )
    return run, attempt, log


async def lines_until(
    socket: WebsocketCommunicator, count: int, *, ack: bool = True
) -> list[str]:
    lines: list[str] = []
    while len(lines) < count:
        message = await socket.receive_json_from(timeout=10)
        assert message["type"] == "lines", message
        lines += message["lines"]
        if ack:
            await socket.send_json_to({"type": "ack", "batch": message["batch"]})
    return lines


def finish(attempt: Attempt) -> None:
    Attempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.SUCCEEDED)


def test_it_starts_with_the_last_lines_then_follows_until_the_attempt_ends(
    running, user
):
    run, attempt, log = running

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/tasks/a/logs/?tail=2", user)
        await socket.connect()
        assert await lines_until(socket, 2) == ["two", "three"]
        with log.open("a") as out:
            out.write("four\nfi")
        assert await lines_until(socket, 1) == ["four"]
        with log.open("a") as out:
            out.write("ve\n")
        assert await lines_until(socket, 1) == ["five"]
        await database_sync_to_async(finish)(attempt)
        assert await socket.receive_json_from(timeout=10) == {
            "type": "end",
            "status": "Succeeded",
        }
        assert (await socket.receive_output(timeout=5))["code"] == 1000

    async_to_sync(scenario)()


def test_a_task_without_an_attempt_waits_for_one(diamond, user, tmp_path):
    run = submit_run(diamond.latest_version, user=user)
    Run.objects.filter(pk=run.pk).update(status="Running")
    log = tmp_path / "b.log"
    log.write_text("hello\n")

    def launch() -> None:
        Attempt.objects.create(
            task_run=run.tasks.get(name="b"),
            number=1,
            backend="local",
            log_path=str(log),
            status=AttemptStatus.SUCCEEDED,
        )

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/tasks/b/logs/", user)
        await socket.connect()
        assert await socket.receive_json_from(timeout=10) == {"type": "waiting"}
        await database_sync_to_async(launch)()
        assert await lines_until(socket, 1) == ["hello"]
        message = await socket.receive_json_from(timeout=10)
        assert message == {"type": "end", "status": "Succeeded"}

    async_to_sync(scenario)()


def test_a_browser_that_does_not_acknowledge_gets_no_more_than_the_window(
    running, user
):
    run, attempt, log = running
    with log.open("a") as out:
        for number in range(200_000):
            out.write(f"line {number} {'x' * 60}\n")

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/tasks/a/logs/?tail=250000", user)
        await socket.connect()
        await database_sync_to_async(finish)(attempt)
        batches: list[dict[str, Any]] = []
        while len(batches) < consumers.LOG_WINDOW:
            batches.append(await socket.receive_json_from(timeout=10))
        assert await socket.receive_nothing(timeout=0.5)  # waits for an ack
        await socket.send_json_to({"type": "ack", "batch": batches[-1]["batch"]})
        more = await socket.receive_json_from(timeout=10)
        assert more["batch"] == consumers.LOG_WINDOW + 1
        await socket.disconnect()

    async_to_sync(scenario)()


def test_leaving_stops_the_follower(running, user, monkeypatch):
    run, _attempt, _log = running
    followers: list[Any] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        followers.append(real(*args, **kwargs))
        return followers[-1]

    real = logs.follow_log
    monkeypatch.setattr(logs, "follow_log", recording)

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/tasks/a/logs/", user)
        await socket.connect()
        await lines_until(socket, 3)
        assert not followers[0].closed
        await socket.disconnect()

    async_to_sync(scenario)()
    assert followers[0].closed
