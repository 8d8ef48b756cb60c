"""Who may open which websocket: the same rules as the REST API and the pages
(tests/test_permissions.py), for the same seven kinds of person. A run you may
not see is refused as not found (4404), no credentials as 4401."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from tests.conftest import requires_service
from tests.test_permissions import (  # noqa: F401 (the world fixture)
    OPERATOR,
    PEOPLE,
    World,
    world,
)
from tests.workflows.test_consumers import session_cookie
from webapp.asgi import websocket_app

# Transactional: database_sync_to_async closes a connection in a test transaction.
pytestmark = [pytest.mark.django_db(transaction=True), requires_service("REDIS_URL")]

OK = "accepted"

# anonymous, viewer, editor, operator, project admin, site admin, outsider
SOCKETS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "a run's events": ("/ws/runs/{run}/", (4401, OK, OK, OK, OK, OK, 4404)),
    "a task's log": ("/ws/runs/{run}/tasks/a/logs/", (4401, OK, OK, OK, OK, OK, 4404)),
    "the runs list": ("/ws/runs/", (4401, OK, OK, OK, OK, OK, OK)),
}


async def outcome(path: str, user: Any) -> Any:
    """OK when the socket is accepted and not refused, else the close code."""
    headers = [(b"origin", b"http://localhost")]
    if user is not None:
        headers.append(await database_sync_to_async(session_cookie)(user))
    socket = WebsocketCommunicator(websocket_app, path, headers=headers)
    connected, _ = await socket.connect()
    assert connected
    try:
        if await socket.receive_nothing(timeout=0.3):
            return OK
        first = await socket.receive_json_from()
        if first.get("type") != "error":
            return OK
        closed = await socket.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": first["code"]}
        return first["code"]
    finally:
        await socket.disconnect()


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("name", list(SOCKETS))
def test_each_websocket_answers_each_person_as_the_matrix_says(
    world: World,  # noqa: F811
    name: str,
    person: str,
) -> None:
    template, expected = SOCKETS[name]
    path = template.format(run=world.run.pk)
    got = async_to_sync(outcome)(path, world.users[person])
    assert got == expected[PEOPLE.index(person)], (name, person)


def test_a_deactivated_members_session_opens_no_websocket(world: World) -> None:  # noqa: F811
    operator = world.users[OPERATOR]
    operator.is_active = False
    operator.save()
    assert async_to_sync(outcome)(f"/ws/runs/{world.run.pk}/", operator) == 4401
