"""Scraping real processes after a failing and a succeeding run: the embedded
server's /metrics (Daphne and its worker adding up through
PROMETHEUS_MULTIPROC_DIR), and a Celery worker of the production topology
(PostgreSQL, Redis) on its own FLOWDECK_METRICS_PORT."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowcore.states import RunStatus
from tests.conftest import requires_service, shell_task, workflow_document
from tests.k8s_runner.test_worker import (  # noqa: F401 (fixtures)
    broker_url,
    start_worker,
    stop_worker,
    wait_for_end,
    worker_env,
)
from tests.net import free_port
from tests.observability.scrape import Samples, parse, scrape, total, value
from tests.test_embedded import Server, server, workflow_id  # noqa: F401
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.slow


def scrape_until(
    url: str, ready: Callable[[Samples], float], token: str = ""
) -> Samples:
    """Scrape until `ready(samples)` (what a worker commits is counted after
    its commit, a moment after the run's status is visible)."""
    deadline = time.monotonic() + 15
    while True:
        status, body = scrape(url, token)
        assert status == 200, body
        samples = parse(body)
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def test_the_embedded_servers_metrics_add_up_the_web_and_the_worker(
    server: Server,  # noqa: F811
) -> None:
    flaky = workflow_id(server, "flaky-etl")
    status, run = server.request("POST", f"/api/workflows/{flaky}/runs/", {})
    assert status == 201, run
    assert server.wait_for_run(run["id"])["status"] == "Failed"
    status, _ = server.request("POST", f"/api/runs/{run['id']}/retry/")
    assert status == 200
    assert server.wait_for_run(run["id"])["status"] == "Succeeded"

    url = f"http://127.0.0.1:{server.port}/metrics"
    wf = {"workflow": "flaky-etl"}
    samples = scrape_until(
        url,
        lambda s: total(s, "flowdeck_runs_finished_total", **wf, status="Succeeded"),
    )
    # Counted by the worker process, served by the web process.
    assert total(samples, "flowdeck_runs_started_total", **wf) == 2  # run, retry
    assert total(samples, "flowdeck_runs_finished_total", **wf, status="Failed") == 1
    assert total(samples, "flowdeck_runs_finished_total", **wf, status="Succeeded") == 1
    assert (
        total(samples, "flowdeck_run_duration_seconds_count", **wf, status="Failed")
        == 1
    )
    # load failed once (exit 3), then report never ran: UpstreamFailed.
    assert total(samples, "flowdeck_tasks_finished_total", **wf, status="Failed") == 1
    assert (
        total(samples, "flowdeck_tasks_finished_total", **wf, status="UpstreamFailed")
        == 1
    )
    # 4 of the 5 tasks (report never ran), then load and report after the retry.
    assert total(samples, "flowdeck_tasks_started_total", **wf) == 6
    assert total(samples, "flowdeck_task_scheduling_latency_seconds_count") == 6
    assert (
        value(samples, "flowdeck_task_launch_delay_seconds_count", backend="local") == 6
    )
    assert total(samples, "flowdeck_sweep_duration_seconds_count") >= 1
    # The web's own: requests by route, and the queue read from the database.
    assert (
        total(
            samples,
            "flowdeck_http_request_duration_seconds_count",
            route="api:run-detail",
            status="200",
        )
        >= 2
    )
    assert total(samples, "flowdeck_tasks", status="Running") == 0


def test_metrics_of_the_embedded_server_are_closed_to_other_networks(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path / "data")  # noqa: F811
    server.env["FLOWDECK_METRICS_ALLOWED_NETWORKS"] = "10.9.0.0/16"
    server.env["FLOWDECK_METRICS_TOKEN"] = "embedded-scrape-token"
    server.manage("migrate", "--noinput")
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        assert scrape(url)[0] == 403
        assert scrape(url, "embedded-scrape-token")[0] == 200
    finally:
        server.stop()


@pytest.fixture
def metrics_worker(
    worker_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[str, str]]:
    """A worker of the production topology serving its metrics on a port."""
    port = free_port()
    token = "worker-scrape-token"
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {
        **worker_env,
        "FLOWDECK_METRICS_PORT": str(port),
        "FLOWDECK_METRICS_TOKEN": token,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    process = start_worker(env, tmp_path / "worker.log")
    yield f"http://127.0.0.1:{port}/metrics", token
    stop_worker(process)
    if process.returncode not in (0, -15):
        sys.stderr.write((tmp_path / "worker.log").read_text())


@pytest.mark.django_db(transaction=True)
@requires_service("REDIS_URL")
def test_a_worker_of_the_production_topology_serves_its_metrics(
    metrics_worker: tuple[str, str], user, project, tmp_path: Path
) -> None:
    url, token = metrics_worker
    workflow = create_workflow(
        workflow_document(
            "nightly",
            [
                shell_task("extract", "echo extracted"),
                shell_task("load", "exit {{params.code}}", dependencies=["extract"]),
            ],
            parameters=[{"name": "code", "default": "4"}],
        ),
        author=user,
        project=project,
    )
    log = tmp_path / "worker.log"
    deadline = time.monotonic() + 30
    while True:  # the worker is up when its port answers
        try:
            if scrape(url, token)[0] == 200:
                break
        except OSError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    assert scrape(url)[0] == 403  # no token, and no network allowed

    failed = wait_for_end(submit_run(workflow.latest_version, user=user), log)
    assert failed.status == RunStatus.FAILED
    wf = {"project": "team", "workflow": "nightly"}
    samples = scrape_until(
        url,
        lambda s: value(s, "flowdeck_runs_finished_total", **wf, status="Failed"),
        token,
    )
    assert value(samples, "flowdeck_runs_finished_total", **wf, status="Failed") == 1
    assert value(samples, "flowdeck_runs_finished_total", **wf, status="Succeeded") == 0
    assert value(samples, "flowdeck_tasks_finished_total", **wf, status="Failed") == 1

    succeeded = wait_for_end(
        submit_run(workflow.latest_version, user=user, parameters={"code": "0"}), log
    )
    assert succeeded.status == RunStatus.SUCCEEDED
    samples = scrape_until(
        url,
        lambda s: value(s, "flowdeck_runs_finished_total", **wf, status="Succeeded"),
        token,
    )
    assert value(samples, "flowdeck_runs_finished_total", **wf, status="Succeeded") == 1
    assert value(samples, "flowdeck_runs_finished_total", **wf, status="Failed") == 1
    assert value(samples, "flowdeck_runs_started_total", **wf) == 2
    assert value(samples, "flowdeck_tasks_started_total", **wf) == 4
    assert (
        value(samples, "flowdeck_tasks_finished_total", **wf, status="Succeeded") == 3
    )
    assert (
        value(samples, "flowdeck_run_duration_seconds_count", **wf, status="Succeeded")
        == 1
    )
    assert (
        value(
            samples,
            "flowdeck_task_duration_seconds_bucket",
            project="team",
            status="Succeeded",
            le="+Inf",
        )
        == 3
    )
    assert (
        value(samples, "flowdeck_task_scheduling_latency_seconds_count", project="team")
        == 4
    )
    assert (
        value(samples, "flowdeck_reconcile_duration_seconds_count", kind="reconcile")
        >= 2
    )
    assert (
        value(samples, "flowdeck_reconcile_duration_seconds_count", kind="reports") >= 1
    )
    assert value(samples, "flowdeck_sweep_duration_seconds_count") >= 1
