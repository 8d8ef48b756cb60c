"""The websocket consumers (docs/live.md) through the whole ASGI stack: origin
check, session/ticket/token authentication, routing, permission, then the
snapshot and the ordered, gap-free event feed, from Redis (push) or from the
event table (tail)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tokens
from flowcore.states import AttemptStatus
from tests.conftest import drive_run, requires_service
from webapp.asgi import websocket_app
from workflows import live
from workflows.models import RunEvent
from workflows.services.control import cancel_run
from workflows.services.submit import submit_run

pytestmark = [pytest.mark.django_db(transaction=True), requires_service("REDIS_URL")]

ORIGIN = (b"origin", b"http://localhost")


def session_cookie(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    return (b"cookie", cookie.encode())


async def connect(
    path: str, user: Any = None, headers: list[tuple[bytes, bytes]] | None = None
) -> WebsocketCommunicator:
    given = [ORIGIN] if headers is None else headers
    if user is not None:
        given = [*given, await database_sync_to_async(session_cookie)(user)]
    return WebsocketCommunicator(websocket_app, path, headers=given)


def run_async(test: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(test)()


async def receive_until(
    socket: WebsocketCommunicator, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        message = await socket.receive_json_from(timeout=10)
        messages.append(message)
        if done(message):
            return messages


def event_seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for m in messages if m["type"] == "events" for e in m["events"]]


def reaches(seq: int) -> Callable[[dict[str, Any]], bool]:
    return lambda message: seq in event_seqs([message])


@pytest.fixture
def fast_recheck(settings: Any) -> None:
    settings.FLOWDECK_LIVE_RESYNC_SECONDS = 0.2


@pytest.fixture
def tail_mode(settings: Any) -> None:
    """The embedded mode: no Redis, so the web process tails the event table."""
    settings.FLOWDECK_LIVE_PUSH = False
    settings.FLOWDECK_LIVE_TAIL_SECONDS = 0.05
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }


def test_a_big_runs_snapshot_has_its_summary_and_only_its_live_tasks(
    user, project, monkeypatch
):
    from flowcore.states import TaskStatus
    from tests.conftest import shell_task, workflow_document
    from workflows.api import serializers
    from workflows.models import TaskRun
    from workflows.services.submit import create_workflow

    monkeypatch.setattr(serializers, "SNAPSHOT_TASKS", 20)
    document = workflow_document("wide", [shell_task(f"w{i}") for i in range(30)])
    workflow = create_workflow(document, author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    TaskRun.objects.filter(run=run, name__in=["w3", "w4"]).update(
        status=TaskStatus.RUNNING
    )
    TaskRun.objects.filter(run=run, name="w5").update(status=TaskStatus.FAILED)
    TaskRun.objects.filter(run=run, name="w6").update(status=TaskStatus.SUCCEEDED)

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/", user)
        connected, _ = await socket.connect()
        assert connected
        snapshot = (await socket.receive_json_from(timeout=10))["run"]
        assert [t["name"] for t in snapshot["tasks"]] == ["w3", "w4", "w5"]
        assert snapshot["tasks_complete"] is False
        assert snapshot["summary"]["by_status"] == {
            "Pending": 26,
            "Running": 2,
            "Failed": 1,
            "Succeeded": 1,
        }
        await socket.disconnect()

    run_async(scenario)


def test_it_sends_a_snapshot_then_every_event_in_order(diamond, user):
    run = submit_run(diamond.latest_version, user=user)

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/", user)
        connected, _ = await socket.connect()
        assert connected
        snapshot = await socket.receive_json_from(timeout=10)
        assert snapshot["type"] == "snapshot"
        assert snapshot["seq"] == 1
        assert snapshot["run"]["id"] == run.pk
        assert [t["name"] for t in snapshot["run"]["tasks"]] == ["a", "b", "c", "d"]
        assert snapshot["run"]["tasks_complete"] is True
        finished = await database_sync_to_async(drive_run)(run)
        assert finished.status == "Succeeded"
        messages = await receive_until(socket, reaches(finished.last_seq))
        assert event_seqs(messages) == list(range(2, finished.last_seq + 1))
        await socket.disconnect()

    run_async(scenario)
    sent = list(RunEvent.objects.filter(run=run).order_by("seq"))
    assert sent[-1].status == "Succeeded"


def test_events_carry_what_the_page_needs_to_recolour_a_node(diamond, user):
    run = submit_run(diamond.latest_version, user=user)

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/", user)
        await socket.connect()
        await socket.receive_json_from(timeout=10)
        finished = await database_sync_to_async(drive_run)(
            run, {"b": AttemptStatus.FAILED}
        )
        messages = await receive_until(socket, reaches(finished.last_seq))
        events = [e for m in messages if m["type"] == "events" for e in m["events"]]
        failed = [e for e in events if e["kind"] == "attempt" and e["task"] == "b"]
        assert failed[-1]["status"] == "Failed"
        assert failed[-1]["data"]["exit_code"] == 1
        task_d = [e for e in events if e["kind"] == "task" and e["task"] == "d"]
        assert task_d[-1]["status"] == "UpstreamFailed"
        assert events[-1]["kind"] == "run"
        assert events[-1]["status"] == "Failed"
        assert events[-1]["created_at"].endswith("Z")
        await socket.disconnect()

    run_async(scenario)


def test_a_reconnect_with_since_replays_the_missed_events_without_a_snapshot(
    diamond, user
):
    run = drive_run(submit_run(diamond.latest_version, user=user))

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/?since=3", user)
        await socket.connect()
        messages = await receive_until(socket, reaches(run.last_seq))
        assert all(m["type"] == "events" for m in messages)
        assert event_seqs(messages) == list(range(4, run.last_seq + 1))
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()

    run_async(scenario)


def test_a_gap_in_the_published_events_is_filled_from_the_event_table(
    diamond, user, monkeypatch
):
    run = submit_run(diamond.latest_version, user=user)
    # Lose every published message but the last: the consumer must notice the
    # gap when that one arrives and read the rest from the table.
    sent: list[tuple[int, list[dict[str, Any]], bool]] = []
    monkeypatch.setattr(live, "publish", lambda *args: sent.append(args))

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/", user)
        await socket.connect()
        await socket.receive_json_from(timeout=10)
        finished = await database_sync_to_async(drive_run)(run)
        run_id, payloads, changed = sent[-1]
        await database_sync_to_async(monkeypatch.undo)()
        await database_sync_to_async(live.publish)(run_id, payloads, changed)
        messages = await receive_until(socket, reaches(finished.last_seq))
        assert event_seqs(messages) == list(range(2, finished.last_seq + 1))
        await socket.disconnect()

    run_async(scenario)


def test_events_whose_messages_were_all_lost_arrive_at_the_next_recheck(
    diamond, user, monkeypatch, fast_recheck
):
    run = submit_run(diamond.latest_version, user=user)
    monkeypatch.setattr(live, "publish", lambda *args: None)

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/", user)
        await socket.connect()
        await socket.receive_json_from(timeout=10)
        finished = await database_sync_to_async(drive_run)(run)
        messages = await receive_until(socket, reaches(finished.last_seq))
        assert event_seqs(messages) == list(range(2, finished.last_seq + 1))
        await socket.disconnect()

    run_async(scenario)


def test_without_redis_the_web_process_tails_the_event_table(diamond, user, tail_mode):
    run = submit_run(diamond.latest_version, user=user)

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/", user)
        await socket.connect()
        assert (await socket.receive_json_from(timeout=10))["type"] == "snapshot"
        finished = await database_sync_to_async(drive_run)(run)
        messages = await receive_until(socket, reaches(finished.last_seq))
        assert event_seqs(messages) == list(range(2, finished.last_seq + 1))
        await socket.disconnect()
        assert not live.hub().tasks  # the last watcher stopped the reader

    run_async(scenario)


def test_two_watchers_of_one_run_each_get_every_event_once(diamond, user):
    run = submit_run(diamond.latest_version, user=user)

    async def scenario() -> None:
        sockets = [await connect(f"/ws/runs/{run.pk}/", user) for _ in range(2)]
        for socket in sockets:
            await socket.connect()
            await socket.receive_json_from(timeout=10)
        finished = await database_sync_to_async(drive_run)(run)
        for socket in sockets:
            messages = await receive_until(socket, reaches(finished.last_seq))
            assert event_seqs(messages) == list(range(2, finished.last_seq + 1))
            await socket.disconnect()

    run_async(scenario)


async def refusal(socket: WebsocketCommunicator) -> tuple[dict[str, Any], int]:
    connected, _ = await socket.connect()
    assert connected  # accepted, so the client can read why it is refused
    message = await socket.receive_json_from(timeout=10)
    closed = await socket.receive_output(timeout=10)
    assert closed["type"] == "websocket.close"
    return message, closed["code"]


@pytest.mark.parametrize(
    "path",
    ["/ws/runs/{run}/", "/ws/runs/{run}/tasks/a/logs/", "/ws/runs/"],
)
def test_an_anonymous_connection_is_refused_with_4401(diamond, user, path):
    run = submit_run(diamond.latest_version, user=user)

    async def scenario() -> None:
        message, code = await refusal(await connect(path.format(run=run.pk)))
        assert code == 4401
        assert message == {
            "type": "error",
            "code": 4401,
            "message": "authentication required",
        }

    run_async(scenario)


@pytest.mark.parametrize("path", ["/ws/runs/{run}/", "/ws/runs/{run}/tasks/a/logs/"])
def test_another_projects_run_is_refused_as_not_found(diamond, user, other_user, path):
    run = submit_run(diamond.latest_version, user=user)

    async def scenario() -> None:
        message, code = await refusal(
            await connect(path.format(run=run.pk), other_user)
        )
        assert code == 4404
        assert message["message"] == f"run {run.pk} not found"

    run_async(scenario)


def test_an_unknown_task_and_a_bad_since_are_named(diamond, user):
    run = submit_run(diamond.latest_version, user=user)

    async def scenario() -> None:
        message, code = await refusal(
            await connect(f"/ws/runs/{run.pk}/tasks/nope/logs/", user)
        )
        assert (code, message["message"]) == (4404, f"run {run.pk} has no task 'nope'")
        message, code = await refusal(
            await connect(f"/ws/runs/{run.pk}/?since=x", user)
        )
        assert (code, message["message"]) == (4400, "since: expected a whole number")

    run_async(scenario)


def test_the_runs_feed_shows_each_user_only_the_runs_they_can_see(
    diamond, user, other_user
):
    async def scenario() -> None:
        mine = await connect("/ws/runs/", user)
        theirs = await connect("/ws/runs/", other_user)
        for socket in (mine, theirs):
            assert (await socket.connect())[0]
            assert await socket.receive_json_from(timeout=10) == {"type": "ready"}
        run = await database_sync_to_async(submit_run)(
            diamond.latest_version, user=user
        )
        message = await mine.receive_json_from(timeout=10)
        assert message["type"] == "run"
        assert (message["run"]["id"], message["run"]["status"]) == (run.pk, "Pending")
        await database_sync_to_async(cancel_run)(run.pk, user=user)
        statuses = []
        while "Cancelling" not in statuses:
            statuses.append((await mine.receive_json_from(timeout=10))["run"]["status"])
        assert await theirs.receive_nothing(timeout=0.5)
        for socket in (mine, theirs):
            await socket.disconnect()

    run_async(scenario)


def test_an_api_client_connects_with_a_ticket_and_no_origin(diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    key = tokens.issue(user, name="ci")[1]
    response = APIClient().post(
        "/api/ws-ticket/", HTTP_AUTHORIZATION=f"Token {key}", format="json"
    )
    assert response.status_code == 200
    ticket = response.json()["ticket"]
    assert key not in ticket

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/?ticket={ticket}", headers=[])
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from(timeout=10))["type"] == "snapshot"
        await socket.disconnect()

    run_async(scenario)


def test_a_ticket_is_refused_once_it_expires(diamond, user, settings):
    run = submit_run(diamond.latest_version, user=user)
    client = APIClient()
    client.force_authenticate(user)
    ticket = client.post("/api/ws-ticket/").json()["ticket"]
    settings.FLOWDECK_WS_TICKET_SECONDS = -1

    async def scenario() -> None:
        message, code = await refusal(
            await connect(f"/ws/runs/{run.pk}/?ticket={ticket}", headers=[])
        )
        assert code == 4401
        assert message["message"] == "the ticket has expired; ask for a new one"

    run_async(scenario)


def ticket_from_token(user: Any) -> tuple[Any, str]:
    token, key = tokens.issue(user, name="ci")
    response = APIClient().post("/api/ws-ticket/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    return token, response.json()["ticket"]


def revoke(token: Any) -> None:
    tokens.revoke(token)


def expire(token: Any) -> None:
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save(update_fields=["expires_at"])


def deactivate(token: Any) -> None:
    token.user.is_active = False
    token.user.save(update_fields=["is_active"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (revoke, "the token that asked for the ticket has been revoked"),
        (expire, "the token that asked for the ticket has expired"),
        (deactivate, "the ticket's user is not active"),
    ],
)
def test_a_ticket_is_refused_once_the_token_that_asked_for_it_stops_working(
    diamond, user, change, reason
):
    run = submit_run(diamond.latest_version, user=user)
    token, ticket = ticket_from_token(user)
    change(token)

    async def scenario() -> None:
        message, code = await refusal(
            await connect(f"/ws/runs/{run.pk}/?ticket={ticket}", headers=[])
        )
        assert code == 4401
        assert message["message"] == reason

    run_async(scenario)


def test_a_ticket_asked_for_by_a_session_needs_no_token(diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    client = Client()
    client.force_login(user)
    ticket = client.post("/api/ws-ticket/").json()["ticket"]

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/?ticket={ticket}", headers=[])
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from(timeout=10))["type"] == "snapshot"
        await socket.disconnect()

    run_async(scenario)


def test_a_token_in_the_authorization_header_is_accepted_and_a_bad_one_named(
    diamond, user
):
    run = submit_run(diamond.latest_version, user=user)
    key = tokens.issue(user, name="ci")[1]

    async def scenario() -> None:
        good = await connect(
            f"/ws/runs/{run.pk}/", headers=[(b"authorization", f"Token {key}".encode())]
        )
        assert (await good.connect())[0]
        assert (await good.receive_json_from(timeout=10))["type"] == "snapshot"
        await good.disconnect()
        message, code = await refusal(
            await connect(
                f"/ws/runs/{run.pk}/", headers=[(b"authorization", b"Token nope")]
            )
        )
        assert code == 4401
        assert "token" in message["message"].lower()

    run_async(scenario)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([(b"origin", b"http://evil.example")], id="foreign origin"),
        pytest.param([], id="no origin, only the cookie"),
    ],
)
def test_a_handshake_from_elsewhere_is_rejected_before_it_is_accepted(
    diamond, user, headers
):
    run = submit_run(diamond.latest_version, user=user)

    async def scenario() -> None:
        socket = await connect(f"/ws/runs/{run.pk}/", user, headers=headers)
        connected, _ = await socket.connect()
        assert not connected

    run_async(scenario)


def test_the_ticket_endpoint_needs_credentials():
    assert APIClient().post("/api/ws-ticket/").status_code == 401
