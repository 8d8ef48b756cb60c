"""Container logs for the kubelet simulator, served the way a kubelet does.

The API server proxies `GET /api/v1/namespaces/{ns}/pods/{pod}/log` to
`https://<node InternalIP>:<kubeletEndpoint port>/containerLogs/{ns}/{pod}/
{container}` with `follow`, `timestamps`, `sinceTime`, `sinceSeconds`,
`tailLines`, `limitBytes` and `previous`. `LogServer` answers that on
127.0.0.1 with a self-signed certificate (the API server does not verify a
kubelet's certificate unless --kubelet-certificate-authority is set) from a
`LogStore` the simulator's players write to. A container that has not
started answers 400 "is waiting to start: <reason>", as a kubelet does;
`previous` is always 400 (containers never restart here). `sinceTime` keeps
lines at or after it (the API server passes whole seconds); `tailLines`
applies to the lines already written, then a follow goes on with the new
ones. `LogStore.drop_followers()` ends every follow in progress, as a kubelet
or API server restart would, for tests of resuming.
"""

from __future__ import annotations

import datetime as dt
import http.server
import logging
import ssl
import tempfile
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.k8s_runner.kube_cluster import self_signed_certificate

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339nano(moment: dt.datetime) -> str:
    """The kubelet's fixed-width RFC3339Nano timestamp ("…T10:00:00.123456000Z")."""
    utc = moment.astimezone(dt.UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}000Z"


@dataclass
class ContainerLog:
    lines: list[tuple[dt.datetime, str]] = field(default_factory=list)
    waiting: str | None = "ContainerCreating"  # why the container has not started
    closed: bool = False  # the container exited: a follow ends here


class LogStore:
    """What each container "wrote", by (namespace, pod, container)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.logs: dict[tuple[str, str, str], ContainerLog] = {}
        self.drops = 0  # bumped by drop_followers()
        self.follows = 0  # follow requests answered so far

    def open(self, key: tuple[str, str, str]) -> None:
        with self.changed:
            self.logs.setdefault(key, ContainerLog())

    def update(
        self, key: tuple[str, str, str], change: Callable[[ContainerLog], None]
    ) -> None:
        with self.changed:
            change(self.logs.setdefault(key, ContainerLog()))
            self.changed.notify_all()

    def drop_followers(self) -> None:
        """End every follow in progress mid-stream (the client sees the
        response end while the container still runs)."""
        with self.changed:
            self.drops += 1
            self.changed.notify_all()

    def close_all(self) -> None:
        with self.changed:
            for log in self.logs.values():
                log.closed = True
            self.changed.notify_all()


class LogHandler(http.server.BaseHTTPRequestHandler):
    """Answers the API server's GET /containerLogs/{ns}/{pod}/{container}."""

    server: LogServer

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._error(404, "not found")
            return
        key = (parts[1], parts[2], parts[3])
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        store = self.server.store
        with store.changed:
            log = store.logs.get(key)
            waiting = log.waiting if log else None
        if log is None:
            self._error(404, f'pod "{key[1]}" container "{key[2]}" not found')
            return
        if query.get("previous") == "true":
            self._error(
                400,
                f'previous terminated container "{key[2]}" in pod "{key[1]}" not found',
            )
            return
        if waiting is not None:
            self._error(
                400,
                f'container "{key[2]}" in pod "{key[1]}" is waiting to start: '
                f"{waiting}",
            )
            return
        self._stream(key, query)

    def _stream(self, key: tuple[str, str, str], query: dict[str, str]) -> None:
        follow = query.get("follow") == "true"
        timestamps = query.get("timestamps") == "true"
        since: dt.datetime | None = None
        try:
            if "sinceTime" in query:
                since = dt.datetime.fromisoformat(query["sinceTime"])
            elif "sinceSeconds" in query:
                since = now() - dt.timedelta(seconds=int(query["sinceSeconds"]))
            tail = int(query["tailLines"]) if "tailLines" in query else None
            budget = int(query["limitBytes"]) if "limitBytes" in query else None
        except ValueError as error:
            self._error(400, str(error))
            return

        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        store = self.server.store
        sent = 0
        first = True
        with store.changed:
            generation = store.drops
            store.follows += follow
        while True:
            with store.changed:
                log = store.logs[key]
                while follow and not first and sent == len(log.lines):
                    if log.closed or self.server.stopping or store.drops != generation:
                        return
                    store.changed.wait(1)
                if store.drops != generation:
                    return
                lines = log.lines[sent:]
                sent = len(log.lines)
                closed = log.closed
            selected = [line for line in lines if since is None or line[0] >= since]
            if first and tail is not None:
                selected = selected[-tail:] if tail else []
            first = False
            for moment, text in selected:
                data = f"{rfc3339nano(moment)} {text}\n" if timestamps else text + "\n"
                raw = data.encode()
                if budget is not None:
                    raw, budget = raw[:budget], budget - len(raw[:budget])
                try:
                    self.wfile.write(raw)
                    self.wfile.flush()
                except OSError:
                    return  # the client went away
                if budget == 0:
                    return
            if not follow or closed:
                return

    def _error(self, code: int, message: str) -> None:
        body = message.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("log server: " + format, *args)


class LogServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: LogStore) -> None:
        super().__init__((LOOPBACK, 0), LogHandler)
        cert, key = self_signed_certificate("kubelet-simulator", (LOOPBACK,))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="flowdeck-kubelet-") as tmp:
            (Path(tmp) / "kubelet.crt").write_bytes(cert)
            (Path(tmp) / "kubelet.key").write_bytes(key)
            context.load_cert_chain(
                Path(tmp) / "kubelet.crt", Path(tmp) / "kubelet.key"
            )
        # The handshake happens in the handler's thread, not in accept().
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        self.store = store
        self.stopping = False

    @property
    def port(self) -> int:
        return int(self.server_address[1])
