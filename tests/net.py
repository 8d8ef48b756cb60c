"""Loopback helpers shared by the test servers (PostgreSQL, Redis, the
embedded server, the Kubernetes test cluster)."""

from __future__ import annotations

import json
import socket
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def watch_run(url: str, token: str, timeout: float = 60) -> tuple[int, list[Any]]:
    """Watch /ws/runs/<id>/ as a token's owner until the run's final event:
    (the snapshot's seq, every event after it, in the order received)."""
    import websocket

    connection = websocket.create_connection(
        url, header=[f"Authorization: Token {token}"], timeout=timeout
    )
    try:
        snapshot = json.loads(connection.recv())
        assert snapshot["type"] == "snapshot", snapshot
        events: list[Any] = []
        while not (
            events
            and events[-1]["kind"] == "run"
            and events[-1]["status"] in ("Succeeded", "Failed", "Cancelled")
        ):
            message = json.loads(connection.recv())
            assert message["type"] == "events", message
            events += message["events"]
    finally:
        connection.close()
    return snapshot["seq"], events
