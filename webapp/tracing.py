"""Turning OpenTelemetry on for a process (observability.tracing), with the
Django and Celery instrumentation; nothing happens unless OTEL_TRACES_EXPORTER
asks for it (docs/operations.md, "Traces")."""

from __future__ import annotations

from observability import tracing


def setup_web() -> None:
    """Before the ASGI application is built: Django's middleware must be in
    place when the handler loads it."""
    if tracing.configure("flowdeck-web"):
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().instrument()


def setup_worker() -> None:
    if tracing.configure("flowdeck-worker"):
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument()


def setup_watcher() -> None:
    tracing.configure("flowdeck-watcher")
