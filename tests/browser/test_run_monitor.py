"""The live run page in a real browser against a real Daphne: nodes change
colour, retries run and logs stream without a reload.

The test plays the backend through the services (as tests.conftest.drive_run
does); each change commits in the test process and reaches the page through
the channel layer, like a change made by a Celery worker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.db import connections
from playwright.sync_api import expect

from flowcore.states import AttemptStatus
from tests.browser.conftest import log_in
from tests.conftest import (
    diamond_document,
    drive_run,
    member,
    shell_task,
    workflow_document,
)
from workflows.models import Attempt, Membership, Project, Role, Run, Workflow
from workflows.services.advance import advance_run
from workflows.services.attempts import Report, record_report
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-olga-123"
T = TypeVar("T")


def off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `function` in a thread without Playwright's event loop: Django's
    ORM refuses a thread with a running event loop, and the connections
    it opens there would outlive the test."""

    def call() -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def operator(django_user_model: Any, project: Project) -> Any:
    olga = django_user_model.objects.create_user("olga", password=PASSWORD)
    return member(project, olga, Role.OPERATOR)


@pytest.fixture
def diamond_workflow(operator: Any, project: Project) -> Workflow:
    return create_workflow(diamond_document(), author=operator, project=project)


def running(launches: Any) -> dict[str, int]:
    """Report each launched attempt Running; their attempt ids by task name."""
    ids = {}
    for launch in launches:
        record_report(Report(launch.attempt_id, AttemptStatus.RUNNING, handle="fake"))
        ids[Attempt.objects.get(pk=launch.attempt_id).task_run.name] = launch.attempt_id
    return ids


def start(run: Run) -> dict[str, int]:
    """Launch what is ready and report it Running."""
    return running(advance_run(run.pk).launch)


def finish(
    attempt_id: int, status: AttemptStatus = AttemptStatus.SUCCEEDED
) -> dict[str, int]:
    """End an attempt; the attempts that started because of it are reported
    Running (by task name)."""
    result = record_report(
        Report(attempt_id, status, exit_code=0 if status == "Succeeded" else 1)
    )
    return running(result.launch if result is not None else [])


def node(page: Any, task: str, status: str) -> Any:
    return page.locator(f'.fd-node[data-task="{task}"][data-status="{status}"]')


def open_run(page: Any, run: Run) -> None:
    log_in(page, "olga", PASSWORD)
    page.goto(page.live_url(f"/runs/{run.pk}/"))
    page.locator('[data-connection="live"]').wait_for()


def test_a_node_turns_from_running_to_succeeded_without_a_reload(
    live_page: Any, diamond_workflow: Workflow, operator: Any
) -> None:
    run = submit_run(diamond_workflow.latest_version, user=operator)
    launched = off_loop(start, run)
    assert list(launched) == ["a"]
    open_run(live_page, run)
    node(live_page, "a", "Running").wait_for()
    live_page.evaluate("window.__notReloaded = true")

    launched = off_loop(finish, launched["a"])
    node(live_page, "a", "Succeeded").wait_for()
    assert live_page.evaluate("window.__notReloaded") is True
    node(live_page, "b", "Running").wait_for()
    node(live_page, "c", "Running").wait_for()
    off_loop(finish, launched["b"])
    launched = off_loop(finish, launched["c"])
    off_loop(finish, launched["d"])
    live_page.locator('.fd-run[data-run-status="Succeeded"]').wait_for()
    assert live_page.evaluate("window.__notReloaded") is True


def test_retry_reruns_only_the_failed_branch_and_the_page_shows_it_succeed(
    live_page: Any, diamond_workflow: Workflow, operator: Any
) -> None:
    run = submit_run(diamond_workflow.latest_version, user=operator)
    run = off_loop(drive_run, run, {"b": AttemptStatus.FAILED})
    assert run.status == "Failed"
    open_run(live_page, run)
    node(live_page, "b", "Failed").wait_for()
    node(live_page, "d", "UpstreamFailed").wait_for()

    live_page.get_by_role("button", name="Retry", exact=True).click()
    preview = live_page.get_by_test_id("retry-preview")
    preview.wait_for()
    assert preview.inner_text().split() == ["b", "d"]
    live_page.get_by_role("button", name="Confirm retry").click()
    live_page.locator('.fd-run[data-run-status="Running"]').wait_for()
    node(live_page, "b", "Pending").wait_for()

    off_loop(drive_run, Run.objects.get(pk=run.pk))
    node(live_page, "b", "Succeeded").wait_for()
    node(live_page, "d", "Succeeded").wait_for()
    live_page.locator('.fd-run[data-run-status="Succeeded"]').wait_for()
    attempts = {
        name: Attempt.objects.filter(task_run__run=run, task_run__name=name).count()
        for name in "abcd"
    }
    assert attempts == {"a": 1, "b": 2, "c": 1, "d": 1}
    # The retried task shows its second attempt.
    assert node(live_page, "b", "Succeeded").inner_text().strip().endswith("2")


def test_logs_appear_while_the_task_is_still_running(
    live_page: Any, diamond_workflow: Workflow, operator: Any, tmp_path: Path
) -> None:
    run = submit_run(diamond_workflow.latest_version, user=operator)
    launched = off_loop(start, run)
    log = tmp_path / "a.log"
    log.write_text("starting up\n")
    Attempt.objects.filter(pk=launched["a"]).update(log_path=str(log))
    open_run(live_page, run)
    node(live_page, "a", "Running").click()
    lines = live_page.get_by_test_id("log-lines")
    lines.get_by_text("starting up").wait_for()

    with log.open("a") as out:
        out.write("loading 1000 rows\n")
    lines.get_by_text("loading 1000 rows").wait_for()
    assert Attempt.objects.get(pk=launched["a"]).status == "Running"
    assert re.search(r"1\s*starting up", lines.inner_text())

    live_page.get_by_label("Search the log").fill("ROWS")
    expect(live_page.locator(".fd-log__line")).to_have_count(1)
    assert re.search(r"2\s*loading 1000 rows", lines.inner_text())
    download = live_page.get_by_role("link", name="Download")
    raw = f"/runs/{run.pk}/tasks/a/logs/raw/?attempt=1"
    assert download.get_attribute("href") == raw

    off_loop(finish, launched["a"])
    live_page.locator('.fd-log[data-log-state="ended"]').wait_for()


def test_a_viewer_sees_no_buttons_that_change_the_run(
    live_page: Any, diamond_workflow: Workflow, django_user_model: Any, project: Project
) -> None:
    viewer = django_user_model.objects.create_user("vera", password=PASSWORD)
    member(project, viewer, Role.VIEWER)
    run = submit_run(diamond_workflow.latest_version, user=viewer)
    log_in(live_page, "vera", PASSWORD)
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/"))
    live_page.locator(".fd-run").wait_for()
    for name in ("Retry", "Cancel", "Resubmit"):
        assert live_page.get_by_role("button", name=name, exact=True).count() == 0


def test_debug_starts_a_run_of_the_task_and_shows_how_to_look_at_it(
    live_page: Any, diamond_workflow: Workflow, operator: Any
) -> None:
    run = submit_run(diamond_workflow.latest_version, user=operator)
    run = off_loop(drive_run, run, {"b": AttemptStatus.FAILED})
    open_run(live_page, run)
    node(live_page, "b", "Failed").click()
    live_page.get_by_role("button", name="Debug").click()
    live_page.fill("textarea[name=command]", "sleep\n3600")
    live_page.fill("textarea[name=env]", "DEBUG=1")
    live_page.get_by_role("button", name="Start debug run").click()
    started = live_page.get_by_role("link", name=re.compile(r"run #\d+"))
    started.wait_for()
    new = Run.objects.exclude(pk=run.pk).get()
    assert started.get_attribute("href") == f"/runs/{new.pk}/"
    assert [task.name for task in new.tasks.all()] == ["b"]
    assert new.overrides["command"] == ["sleep", "3600"]
    live_page.get_by_text("Its log over the API").wait_for()


def test_resubmit_starts_a_new_run_with_the_edited_parameters(
    live_page: Any, operator: Any, project: Project
) -> None:
    document = diamond_document(parameters=[{"name": "greeting", "default": "hi"}])
    workflow = create_workflow(document, author=operator, project=project)
    run = submit_run(workflow.latest_version, user=operator)
    open_run(live_page, run)
    live_page.get_by_role("button", name="Resubmit").click()
    live_page.fill('input[name="param.greeting"]', "hello")
    live_page.get_by_role("button", name="Start new run").click()
    new_url = re.compile(rf"/runs/(?!{run.pk}/)\d+/$")
    live_page.wait_for_url(new_url)
    new = Run.objects.exclude(pk=run.pk).get()
    assert live_page.url.endswith(f"/runs/{new.pk}/")
    assert new.parameters == {"greeting": "hello"}
    assert new.resubmitted_from_id == run.pk


def test_a_wide_fan_out_is_one_node_until_expanded(
    live_page: Any, operator: Any, project: Project
) -> None:
    tasks = [shell_task("start")]
    tasks += [shell_task(f"shard-{i}", dependencies=["start"]) for i in range(120)]
    document = workflow_document("wide", tasks)
    workflow = create_workflow(document, author=operator, project=project)
    run = submit_run(workflow.latest_version, user=operator)
    open_run(live_page, run)
    group = live_page.locator(".fd-node", has_text="×120")
    group.wait_for()
    assert live_page.locator(".fd-node").count() == 2
    group.click()
    live_page.locator('.fd-node[data-task="shard-119"]').wait_for(state="attached")
    assert live_page.locator(".fd-node").count() == 121


def test_the_server_s_refusal_is_shown_when_the_role_changed_meanwhile(
    live_page: Any, diamond_workflow: Workflow, operator: Any, project: Project
) -> None:
    run = submit_run(diamond_workflow.latest_version, user=operator)
    run = off_loop(drive_run, run, {"b": AttemptStatus.FAILED})
    open_run(live_page, run)
    # The page showed the buttons for an operator; the server decides again.
    Membership.objects.filter(project=project, user=operator).update(role=Role.VIEWER)
    live_page.get_by_role("button", name="Retry", exact=True).click()
    live_page.get_by_test_id("retry-preview").wait_for()
    live_page.get_by_role("button", name="Confirm retry").click()
    refusal = live_page.get_by_role("alert")
    refusal.wait_for()
    assert "viewer" in refusal.inner_text()
    assert "operator" in refusal.inner_text()
    assert Run.objects.get(pk=run.pk).status == "Failed"


def test_after_a_drop_it_reconnects_since_its_last_event_and_misses_nothing(
    live_page: Any, diamond_workflow: Workflow, operator: Any
) -> None:
    run = submit_run(diamond_workflow.latest_version, user=operator)
    launched = off_loop(start, run)
    connections_made: list[str] = []
    routes: list[Any] = []

    def through(route: Any) -> None:
        connections_made.append(route.url)
        if len(connections_made) == 2:
            # While the page is away, `a` finishes and `b`, `c` start.
            launched.update(off_loop(finish, launched["a"]))
        route.connect_to_server()
        routes.append(route)

    live_page.route_web_socket(re.compile(r"/ws/runs/\d+/"), through)
    open_run(live_page, run)
    node(live_page, "a", "Running").wait_for()
    seq = Run.objects.get(pk=run.pk).last_seq
    assert connections_made[0].endswith(f"?since={seq}")

    routes[0].close(code=1011)
    node(live_page, "a", "Succeeded").wait_for()
    node(live_page, "b", "Running").wait_for()
    assert connections_made[1].endswith(f"?since={seq}")
    live_page.locator('[data-connection="live"]').wait_for()
    off_loop(finish, launched["b"])
    node(live_page, "b", "Succeeded").wait_for()


def test_the_drawer_shows_what_the_attempt_asked_for_with_secrets_masked(
    live_page: Any, operator: Any, project: Project
) -> None:
    document = workflow_document(
        "asks",
        [
            shell_task(
                "t",
                env=[{"name": "TOKEN", "value": "s3cr3t-value", "secret": True}],
                resources={"requests": {"cpu": "250m", "memory": "64Mi"}},
            )
        ],
    )
    workflow = create_workflow(document, author=operator, project=project)
    run = submit_run(workflow.latest_version, user=operator)
    off_loop(start, run)
    open_run(live_page, run)
    node(live_page, "t", "Running").click()
    live_page.get_by_role("tab", name="Request").click()
    resources = live_page.locator('[data-field="resources"]')
    expect(resources).to_have_text("requests.cpu: 250m, requests.memory: 64Mi")
    shown = live_page.locator('[data-field="manifest"]').inner_text()
    assert '"TOKEN"' in shown and "s3cr3t-value" not in shown
    assert "••••••" in shown
