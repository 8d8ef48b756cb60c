"""Real receivers on loopback for the notification tests: an HTTP server that
records what it is sent (and can fail or hang first), and an SMTP server
(aiosmtpd)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.net import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers `fail_first` requests with 500, then 200; with `hang_first`,
    holds the first request until `release` is set."""

    fail_first: int = 0
    hang_first: bool = False
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    answered: list[int] = field(default_factory=list)
    processed_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got = Received(self.path, dict(self.headers.items()), body)
                receiver.received.append(got)
                if receiver.hang_first and len(receiver.received) == 1:
                    receiver.release.wait(60)
                    return  # never answered: the sender died meanwhile
                code = 500 if len(receiver.received) <= receiver.fail_first else 200
                if code == 200:
                    # What a receiver that dedupes on the delivery key keeps.
                    key = got.headers.get("X-Flowdeck-Delivery", "")
                    if key not in receiver.processed_keys:
                        receiver.processed_keys.append(key)
                receiver.answered.append(code)
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"got {len(self.received)} of {count}"
            time.sleep(0.05)
        return self.received

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def verify(secret: str, received: Received, *, tolerance: float = 300) -> bool:
    """What a webhook receiver does: recompute the signature over the
    timestamp and the body, compare in constant time, refuse an old timestamp."""
    timestamp = received.headers["X-Flowdeck-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    mac = hmac.new(
        secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256
    )
    return hmac.compare_digest(
        received.headers["X-Flowdeck-Signature"], "sha256=" + mac.hexdigest()
    )


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Message]:
        return self.inbox.messages


def receiver_fixture(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)
    try:
        yield receiver
    finally:
        receiver.stop()
