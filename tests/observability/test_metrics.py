"""The metrics the state machine, the dispatcher, the HTTP layer and the
websocket consumers count, read from this process's registry, and the
/metrics endpoint that serves them (closed unless opened)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone

from flowcore.states import AttemptStatus, RunStatus
from observability import exposition
from tests.conftest import drive_run, requires_service, shell_task, workflow_document
from tests.observability.scrape import parse, sample, total, value
from workflows.models import Attempt, TaskRun
from workflows.services.advance import advance_run
from workflows.services.attempts import Report, record_report
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def open_metrics(settings: Any) -> None:
    settings.FLOWDECK_METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]


def scrape_view(**headers: str) -> tuple[int, str]:
    response = Client().get("/metrics", **headers)
    return response.status_code, response.content.decode()


# -- the endpoint ----------------------------------------------------------------


def test_metrics_are_closed_when_neither_a_token_nor_a_network_opens_them(db):
    status, body = scrape_view()
    assert status == 403
    assert "FLOWDECK_METRICS_TOKEN" in body
    assert "flowdeck_" not in body


def test_the_bearer_token_opens_them_and_a_wrong_one_does_not(settings):
    settings.FLOWDECK_METRICS_TOKEN = "s3cret-scrape-token"
    assert scrape_view(HTTP_AUTHORIZATION="Bearer nope")[0] == 403
    assert scrape_view(HTTP_AUTHORIZATION="Token s3cret-scrape-token")[0] == 403
    status, body = scrape_view(HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert status == 200
    assert "# TYPE flowdeck_runs_finished_total counter" in body


def test_an_allowed_network_opens_them_to_its_addresses_only(settings):
    settings.FLOWDECK_METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    assert scrape_view(REMOTE_ADDR="10.1.2.3")[0] == 200
    assert scrape_view(REMOTE_ADDR="10.2.0.1")[0] == 403
    assert scrape_view(REMOTE_ADDR="127.0.0.1")[0] == 403


def test_behind_a_trusted_proxy_the_forwarded_address_decides(settings):
    settings.FLOWDECK_METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    settings.FLOWDECK_TRUSTED_PROXIES = 1
    # The proxy itself is on loopback; the client it forwards is not allowed.
    assert (
        scrape_view(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8")[0] == 403
    )
    assert (
        scrape_view(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.0.9")[0] == 200
    )


def test_a_bad_network_setting_stops_the_process():
    import os

    from django.core.exceptions import ImproperlyConfigured

    from webapp.env import env_networks

    os.environ["FLOWDECK_TEST_NETWORKS"] = "10.0.0.0/8,not-a-network"
    try:
        with pytest.raises(ImproperlyConfigured, match="not-a-network"):
            env_networks("FLOWDECK_TEST_NETWORKS", [])
    finally:
        del os.environ["FLOWDECK_TEST_NETWORKS"]


# -- runs and tasks ------------------------------------------------------------------


def test_a_succeeding_and_a_failing_run_count_by_project_workflow_and_status(
    diamond, user, project
):
    labels = {"project": project.name, "workflow": diamond.name}
    started = sample("flowdeck_runs_started_total", **labels)
    succeeded = sample(
        "flowdeck_runs_finished_total", **labels, status=RunStatus.SUCCEEDED
    )
    failed = sample("flowdeck_runs_finished_total", **labels, status=RunStatus.FAILED)
    tasks_started = sample("flowdeck_tasks_started_total", **labels)
    tasks_ok = sample("flowdeck_tasks_finished_total", **labels, status="Succeeded")
    upstream_failed = sample(
        "flowdeck_tasks_finished_total", **labels, status="UpstreamFailed"
    )
    durations = sample(
        "flowdeck_run_duration_seconds_count", **labels, status=RunStatus.SUCCEEDED
    )

    assert drive_run(submit_run(diamond.latest_version, user=user)).status == (
        RunStatus.SUCCEEDED
    )
    run = drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )
    assert run.status == RunStatus.FAILED

    assert sample("flowdeck_runs_started_total", **labels) == started + 2
    assert (
        sample("flowdeck_runs_finished_total", **labels, status=RunStatus.SUCCEEDED)
        == succeeded + 1
    )
    assert (
        sample("flowdeck_runs_finished_total", **labels, status=RunStatus.FAILED)
        == failed + 1
    )
    # 4 tasks, then a, b and c (d never starts: its upstream b failed).
    assert sample("flowdeck_tasks_started_total", **labels) == tasks_started + 7
    assert (
        sample("flowdeck_tasks_finished_total", **labels, status="Succeeded")
        == tasks_ok + 6
    )
    assert (
        sample("flowdeck_tasks_finished_total", **labels, status="UpstreamFailed")
        == upstream_failed + 1
    )
    assert (
        sample(
            "flowdeck_run_duration_seconds_count",
            **labels,
            status=RunStatus.SUCCEEDED,
        )
        == durations + 1
    )


def test_a_repeated_report_counts_nothing_twice(diamond, user, project):
    labels = {"project": project.name, "workflow": diamond.name}
    run = submit_run(diamond.latest_version, user=user)
    launch = advance_run(run.pk).launch[0]
    before = sample("flowdeck_tasks_finished_total", **labels, status="Succeeded")
    for _ in range(3):  # a redelivered report is a no-op, and counts nothing
        record_report(Report(launch.attempt_id, AttemptStatus.RUNNING, handle="x"))
        record_report(Report(launch.attempt_id, AttemptStatus.SUCCEEDED, exit_code=0))
    assert (
        sample("flowdeck_tasks_finished_total", **labels, status="Succeeded")
        == before + 1
    )


def test_scheduling_latency_counts_from_queued_to_the_program_running(
    diamond, user, project
):
    run = submit_run(diamond.latest_version, user=user)
    count = sample("flowdeck_task_scheduling_latency_seconds_count", project="team")
    total_before = sample(
        "flowdeck_task_scheduling_latency_seconds_sum", project="team"
    )
    launch = advance_run(run.pk).launch[0]
    task = TaskRun.objects.get(run=run, name="a")
    assert task.queued_at is not None
    started = task.queued_at + timezone.timedelta(seconds=42)
    record_report(
        Report(launch.attempt_id, AttemptStatus.RUNNING, handle="x", at=started)
    )
    assert (
        sample("flowdeck_task_scheduling_latency_seconds_count", project="team")
        == count + 1
    )
    observed = (
        sample("flowdeck_task_scheduling_latency_seconds_sum", project="team")
        - total_before
    )
    assert observed == pytest.approx(42, abs=0.01)
    assert Attempt.objects.get(pk=launch.attempt_id).started_at == started


def test_no_label_names_a_run_or_a_fan_out_instance(settings, user, project):
    settings.FLOWDECK_METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    workflow = create_workflow(
        workflow_document(
            "fan",
            [shell_task("each", withItems=["x", "y", "z"])],
        ),
        author=user,
        project=project,
    )
    run = drive_run(submit_run(workflow.latest_version, user=user))
    assert run.status == RunStatus.SUCCEEDED
    status, body = scrape_view()
    assert status == 200
    ours = "\n".join(line for line in body.splitlines() if line.startswith("flowdeck_"))
    labels = set(re.findall(r'(\w+)="', ours))
    assert labels <= {
        "project", "workflow", "status", "reason", "backend", "verb", "code",
        "type", "kind", "outcome", "consumer", "route", "method", "le", "channel",
        "result",
    }  # fmt: skip
    assert "each[" not in body
    assert f'"{run.pk}"' not in body


# -- the queue ----------------------------------------------------------------------


def test_the_queue_gauge_reads_queued_and_running_tasks_per_project(
    open_metrics, user, project
):
    workflow = create_workflow(
        workflow_document(
            "wide", [shell_task(f"t{i}") for i in range(5)], parallelism=2
        ),
        author=user,
        project=project,
    )
    run = submit_run(workflow.latest_version, user=user)
    advance_run(run.pk)
    samples = parse(scrape_view()[1])
    assert (
        value(samples, "flowdeck_tasks", project="team", status="Running", reason="")
        == 2
    )
    assert (
        value(
            samples,
            "flowdeck_tasks",
            project="team",
            status="Queued",
            reason="parallelism",
        )
        == 3
    )


def test_a_task_waiting_for_a_semaphore_is_queued_for_that_reason(
    open_metrics, user, project
):
    from workflows.services.semaphores import create_semaphore

    create_semaphore(project, name="warehouse", limit=1)
    workflow = create_workflow(
        workflow_document(
            "loads",
            [shell_task("load", synchronization={"semaphore": "warehouse"})],
        ),
        author=user,
        project=project,
    )
    for _ in range(2):
        advance_run(submit_run(workflow.latest_version, user=user).pk)
    samples = parse(scrape_view()[1])
    team = {"project": "team"}
    assert value(samples, "flowdeck_tasks", **team, status="Running", reason="") == 1
    waiting = value(
        samples, "flowdeck_tasks", **team, status="Queued", reason="semaphore"
    )
    assert waiting == 1


# -- HTTP ---------------------------------------------------------------------------


def test_http_latency_is_labelled_by_route_name_never_by_path(
    open_metrics, api, diamond, user
):
    run = submit_run(diamond.latest_version, user=user)
    before = sample(
        "flowdeck_http_request_duration_seconds_count",
        route="api:run-detail",
        method="GET",
        status="200",
    )
    assert api.get(f"/api/runs/{run.pk}/").status_code == 200
    assert api.get("/api/runs/999999/").status_code == 404
    assert (
        sample(
            "flowdeck_http_request_duration_seconds_count",
            route="api:run-detail",
            method="GET",
            status="200",
        )
        == before + 1
    )
    assert sample(
        "flowdeck_http_request_duration_seconds_count",
        route="api:run-detail",
        method="GET",
        status="404",
    )
    Client().get("/no/such/page/42")
    body = scrape_view()[1]
    assert 'route="unmatched"' in body
    routes = {dict(labels).get("route") for _, labels in parse(body)}
    assert not any("/" in route or "999999" in route for route in routes if route)


# -- the standalone server of workers and the watcher ---------------------------


def test_the_metrics_server_of_a_worker_answers_only_whom_it_should():
    from tests.observability.scrape import scrape

    server = exposition.serve(
        0,
        host="127.0.0.1",
        token="worker-token",
        networks=exposition.parse_networks(["10.0.0.0/8"]),
    )
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        assert scrape(url)[0] == 403  # loopback is not in the allowed network
        assert scrape(url, "wrong")[0] == 403
        status, body = scrape(url, "worker-token")
        assert status == 200
        assert "flowdeck_sweep_duration_seconds" in body
    finally:
        server.shutdown()
        server.server_close()


def test_a_sweep_and_a_reconcile_are_timed(diamond, user):
    from k8s_runner import reconcile

    sweeps = sample("flowdeck_sweep_duration_seconds_count")
    reconciles = sample("flowdeck_reconcile_duration_seconds_count", kind="reconcile")
    reconcile.sweep()
    assert sample("flowdeck_sweep_duration_seconds_count") == sweeps + 1
    assert (
        sample("flowdeck_reconcile_duration_seconds_count", kind="reconcile")
        >= reconciles
    )


# -- websockets ----------------------------------------------------------------------


@requires_service("REDIS_URL")
def test_websocket_clients_and_messages_are_counted(user):
    from tests.workflows.test_consumers import connect

    clients = sample("flowdeck_websocket_clients", consumer="runs")
    sent = sample("flowdeck_websocket_messages_sent_total", consumer="runs")

    async def scenario() -> None:
        socket = await connect("/ws/runs/", user)
        connected, _ = await socket.connect()
        assert connected
        assert (await socket.receive_json_from(timeout=10))["type"] == "ready"
        assert sample("flowdeck_websocket_clients", consumer="runs") == clients + 1
        await socket.disconnect()

    async_to_sync(scenario)()
    assert sample("flowdeck_websocket_clients", consumer="runs") == clients
    assert sample("flowdeck_websocket_messages_sent_total", consumer="runs") == sent + 1


def test_the_total_helper_sums_series():
    samples = parse('a{x="1",y="2"} 3\na{x="1",y="3"} 4\na{x="2"} 5\n')
    assert total(samples, "a", x="1") == 7
