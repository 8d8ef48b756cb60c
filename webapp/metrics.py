"""GET /metrics for Prometheus, and the HTTP latency of every request by route.

Closed unless FLOWDECK_METRICS_TOKEN or FLOWDECK_METRICS_ALLOWED_NETWORKS
opens it (docs/operations.md). Besides every process's counters (multiprocess
mode), the web's scrape reads the queue from the database: tasks Queued and
Running per project, with why they wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accounts.audit import client_address
from flowcore.concurrency import MISSING_REASON, SEMAPHORE_REASON
from flowcore.states import TaskStatus
from observability import exposition, metrics
from workflows.models import TaskRun
from workflows.services.quotas import QUOTA_REASON

# Why a Queued task waits: the project's quota, a semaphore or mutex, or a
# free slot under its run's parallelism (no reason: the engine starts it as
# soon as one is free).
_WAITING = {
    QUOTA_REASON: "quota",
    SEMAPHORE_REASON: "semaphore",
    MISSING_REASON: "semaphore",
}


class QueueCollector(Collector):
    """flowdeck_tasks{project, status, reason}: read from the database at
    scrape time, so it is right whichever process moved the tasks."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "flowdeck_tasks",
            "Tasks Queued or Running now, per project; a Queued task's reason "
            "says what it waits for (quota, semaphore, parallelism).",
            labels=["project", "status", "reason"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        for row in (
            TaskRun.objects.filter(status__in=[TaskStatus.QUEUED, TaskStatus.RUNNING])
            .values_list("run__workflow__project__name", "status", "reason")
            .annotate(count=Count("id"))
            .order_by()
        ):
            project, status, reason, count = row
            why = _WAITING.get(reason, "parallelism") if status == "Queued" else ""
            key = (project, status, why)
            counts[key] = counts.get(key, 0) + count
        for (project, status, why), count in sorted(counts.items()):
            family.add_metric([project, status, why], count)
        yield family


def _networks() -> list[exposition.Network]:
    return exposition.parse_networks(settings.FLOWDECK_METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not exposition.allowed(
        client_address(request),
        request.headers.get("Authorization", ""),
        token=settings.FLOWDECK_METRICS_TOKEN,
        networks=_networks(),
    ):
        return HttpResponse(exposition.CLOSED, status=403, content_type="text/plain")
    body, content_type = exposition.render(
        exposition.registry([QueueCollector()]), request.headers.get("Accept", "")
    )
    return HttpResponse(body, content_type=content_type)


def serve_from_settings() -> None:
    """The metrics server of a worker or the watcher, on FLOWDECK_METRICS_PORT
    (0: none)."""
    if settings.FLOWDECK_METRICS_PORT:
        exposition.serve(
            settings.FLOWDECK_METRICS_PORT,
            token=settings.FLOWDECK_METRICS_TOKEN,
            networks=_networks(),
        )


class RequestMetricsMiddleware(MiddlewareMixin):
    """flowdeck_http_request_duration_seconds by the route's name (never its
    path: ids would make a series each)."""

    def __init__(self, get_response: Callable[..., Any]) -> None:
        super().__init__(get_response)

    def process_request(self, request: HttpRequest) -> None:
        request._metrics_began = time.monotonic()  # type: ignore[attr-defined]

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        began = getattr(request, "_metrics_began", None)
        if began is not None:
            metrics.HTTP_DURATION.labels(
                route_of(request), _method(request.method), str(response.status_code)
            ).observe(time.monotonic() - began)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(method: str | None) -> str:
    return method if method in _METHODS else "other"


def route_of(request: HttpRequest) -> str:
    """The resolved route's name (`run-detail`, `api:...`), its pattern when
    it has no name, or `unmatched`."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unmatched"
