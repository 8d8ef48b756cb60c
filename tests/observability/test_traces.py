"""One trace per run on the production topology: a Daphne web process and a
Celery worker (PostgreSQL, Redis) export OTLP/HTTP to a real receiver started
by the test; the run's submission, its reconciles, launches and reports are
spans of one trace across both processes. Off without OTEL_TRACES_EXPORTER."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from accounts import tokens
from flowcore.states import RunStatus
from observability import tracing
from tests.conftest import requires_service, shell_task, workflow_document
from tests.k8s_runner.test_worker import (  # noqa: F401 (fixtures)
    broker_url,
    start_worker,
    stop_worker,
    wait_for_end,
    worker_env,
)
from tests.net import free_port
from workflows.models import Run
from workflows.services.submit import create_workflow

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    requires_service("REDIS_URL"),
]


class OtlpReceiver:
    """An OTLP/HTTP trace collector: decodes what it is sent (protobuf)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    service = next(
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    )
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            receiver.spans.append(
                                {
                                    "service": service,
                                    "name": span.name,
                                    "trace": span.trace_id.hex(),
                                    "id": span.span_id.hex(),
                                    "parent": span.parent_span_id.hex(),
                                    "attributes": {
                                        a.key: a.value for a in span.attributes
                                    },
                                }
                            )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.stop()


def _web(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    port = int(env["FLOWDECK_TEST_WEB_PORT"])
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            + ["webapp.asgi:application"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.2)


def test_a_run_is_one_trace_from_the_web_through_the_worker(
    worker_env: dict[str, str],  # noqa: F811
    collector: OtlpReceiver,
    user,
    project,
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **worker_env,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "FLOWDECK_SERVE_STATIC": "false",
        "FLOWDECK_TEST_WEB_PORT": str(port),
    }
    workflow = create_workflow(
        workflow_document(
            "traced",
            [
                shell_task("first", "echo one"),
                shell_task("second", dependencies=["first"]),
            ],
        ),
        author=user,
        project=project,
    )
    key = tokens.issue(user, name="trace")[1]
    worker = start_worker(env, tmp_path / "worker.log")
    web = _web(env, tmp_path / "web.log")
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/workflows/{workflow.pk}/runs/",
            b"{}",
            {"Content-Type": "application/json", "Authorization": f"Token {key}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        run = wait_for_end(Run.objects.get(workflow=workflow), tmp_path / "worker.log")
        assert run.status == RunStatus.SUCCEEDED
        assert run.traceparent.startswith("00-")
        trace_id = run.traceparent.split("-")[1]

        def of_run() -> list[dict[str, Any]]:
            return [s for s in collector.spans if s["trace"] == trace_id]

        def complete() -> bool:
            spans = of_run()
            parents = {s["parent"] for s in spans if s["name"] == "flowdeck.run.submit"}
            return sum(s["name"] == "flowdeck.report" for s in spans) >= 4 and any(
                s["id"] in parents for s in spans
            )

        deadline = time.monotonic() + 20
        while not complete():
            assert time.monotonic() < deadline, [
                (s["service"], s["name"], s["id"], s["parent"]) for s in of_run()
            ]
            time.sleep(0.2)
    finally:
        stop_worker(web)
        stop_worker(worker)

    spans = of_run()
    names = {(s["service"], s["name"]) for s in spans}
    assert ("flowdeck-web", "flowdeck.run.submit") in names
    assert ("flowdeck-worker", "flowdeck.reconcile") in names
    assert ("flowdeck-worker", "flowdeck.launch") in names
    # The HTTP request (Django's instrumentation) is the root of the trace.
    (submit,) = [s for s in spans if s["name"] == "flowdeck.run.submit"]
    (root,) = [s for s in spans if s["id"] == submit["parent"]]
    assert root["service"] == "flowdeck-web" and root["parent"] == ""
    # Every dispatch span hangs off the submission, in whichever process.
    for span in spans:
        if span["name"] in ("flowdeck.reconcile", "flowdeck.launch", "flowdeck.report"):
            assert span["parent"] == submit["id"], span
    launched = {
        s["attributes"]["flowdeck.task"].string_value
        for s in spans
        if s["name"] == "flowdeck.launch"
    }
    assert launched == {"first", "second"}


def test_tracing_is_off_unless_the_exporter_is_asked_for(monkeypatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert not tracing.wanted()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    assert tracing.wanted()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.wanted()
    with tracing.span("nothing"):  # off in this process: no provider, no cost
        assert tracing.current_traceparent() == ""
