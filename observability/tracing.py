"""OpenTelemetry traces, off unless OTEL_TRACES_EXPORTER says `otlp` (or
`console`): one trace per run, from its submission through every reconcile,
launch and report of its tasks, whichever process does them
(docs/operations.md, "Traces").

A run's submission opens its trace and the run keeps the W3C `traceparent`
of that span (Run.traceparent); the worker, the watcher and the web later
start their spans as its children from there. So a slow start shows where
it spent its time: queueing in the broker, planning, creating the pod, or
waiting for it to run. The exporter is configured by the standard OTEL_*
variables only (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_enabled = False


def enabled() -> bool:
    return _enabled


def wanted() -> bool:
    """Tracing is asked for: OTEL_TRACES_EXPORTER otlp or console, and the
    SDK not disabled (OTEL_SDK_DISABLED)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() in (
        "otlp",
        "console",
    )


def configure(service: str) -> bool:
    """Install this process's tracer provider (once); False when tracing is
    off. `service` names the process unless OTEL_SERVICE_NAME does."""
    global _enabled
    if _enabled or not wanted():
        return _enabled
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter: SpanExporter
    if os.environ["OTEL_TRACES_EXPORTER"].strip().lower() == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def flush() -> None:
    """Export what is buffered (before a process exits on its own)."""
    if _enabled:
        from opentelemetry import trace

        provider: Any = trace.get_tracer_provider()
        provider.force_flush()


@contextmanager
def span(
    name: str, traceparent: str = "", **attributes: str | int | float | bool
) -> Iterator[None]:
    """A span named `name`, the child of `traceparent` when given (else of
    the current span); nothing at all while tracing is off."""
    if not _enabled:
        yield
        return
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import (
        TraceContextTextMapPropagator,
    )

    context = (
        TraceContextTextMapPropagator().extract({"traceparent": traceparent})
        if traceparent
        else None
    )
    tracer = trace.get_tracer("flowdeck")
    with tracer.start_as_current_span(name, context=context, attributes=attributes):
        yield


def record(
    name: str,
    traceparent: str,
    start_ns: int,
    end_ns: int,
    **attributes: str | int | float | bool,
) -> None:
    """A finished span with its own times: a report, from the moment the
    backend saw the change to the moment it was recorded."""
    if not _enabled or not traceparent:
        return
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import (
        TraceContextTextMapPropagator,
    )

    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    tracer = trace.get_tracer("flowdeck")
    started = tracer.start_span(
        name, context=context, attributes=attributes, start_time=start_ns
    )
    started.end(end_time=max(end_ns, start_ns))


def current_traceparent() -> str:
    """The W3C traceparent of the current span ("" while tracing is off)."""
    if not _enabled:
        return ""
    from opentelemetry.trace.propagation.tracecontext import (
        TraceContextTextMapPropagator,
    )

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent", "")
