"""Serving the metrics: who may read them, one process's or all of them, and
the small HTTP server of the processes without a web server (Celery workers,
the pod watcher) on FLOWDECK_METRICS_PORT.

No Django here: the caller passes the token and networks from its settings.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import (
    ThreadingWSGIServer,
    _SilentHandler,
    choose_encoder,
)
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def parse_networks(values: Iterable[str]) -> list[Network]:
    """`10.0.0.0/8`, `127.0.0.1` (one address) ...; ValueError names a bad one."""
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values]


def allowed(
    address: str | None,
    authorization: str,
    *,
    token: str,
    networks: Sequence[Network],
) -> bool:
    """May this client read the metrics? From an allowed network, or with
    `Authorization: Bearer <token>` when a token is set; nobody otherwise."""
    if token:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    if address and networks:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)
    return False


def registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """What to expose: in multiprocess mode every process's samples summed
    from PROMETHEUS_MULTIPROC_DIR, else this process's; plus `extra`
    collectors (read at scrape time)."""
    if multiprocess_dir():
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    elif extra:
        collected = CollectorRegistry()
        collected.register(_Default())
    else:
        return REGISTRY
    for collector in extra:
        collected.register(collector)
    return collected


class _Default(Collector):
    """This process's default registry, inside another registry."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def render(collected: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """The exposition body in the format `accept` asks for (text or OpenMetrics)."""
    encoder, content_type = choose_encoder(accept)
    return encoder(collected), content_type


def process_exited(pid: int) -> None:
    """Drop a dead process's live gauges (multiprocess mode; its counters stay)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve(
    port: int,
    *,
    token: str,
    networks: Sequence[Network],
    host: str = "",
    extra: Callable[[], Iterable[Collector]] = tuple,
) -> WSGIServer:
    """Serve GET /metrics on `port` in a daemon thread, with the same rules as
    the web's /metrics (the client's address is the socket's: no proxies)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not allowed(
            environ.get("REMOTE_ADDR"),
            environ.get("HTTP_AUTHORIZATION", ""),
            token=token,
            networks=networks,
        ):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [CLOSED]
        body, content_type = render(registry(extra()), environ.get("HTTP_ACCEPT", ""))
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    server = make_server(
        host, port, app, ThreadingWSGIServer, handler_class=_SilentHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, name="metrics-server", daemon=True
    )
    thread.start()
    logger.info("metrics on port %s", server.server_port)
    return server


CLOSED = (
    b"metrics are closed to this client: see FLOWDECK_METRICS_TOKEN and "
    b"FLOWDECK_METRICS_ALLOWED_NETWORKS in docs/operations.md\n"
)
