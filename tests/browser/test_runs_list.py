"""The runs list in a real browser against a real Daphne: a row changes
status in place, a new run appears on top, the dashboard's counts follow."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from flowcore.states import AttemptStatus
from tests.browser.conftest import log_in
from tests.browser.test_run_monitor import PASSWORD, finish, off_loop, start
from tests.conftest import diamond_document, drive_run
from workflows.models import Run, Workflow
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def diamond_workflow(operator: Any, project: Any) -> Workflow:
    return create_workflow(diamond_document(), author=operator, project=project)


@pytest.fixture
def operator(django_user_model: Any, project: Any) -> Any:
    from tests.conftest import member
    from workflows.models import Role

    olga = django_user_model.objects.create_user("olga", password=PASSWORD)
    return member(project, olga, Role.OPERATOR)


def row(page: Any, run: Run, status: str) -> Any:
    return page.locator(f'tr[data-run-id="{run.pk}"][data-status="{status}"]')


def number(page: Any, status: str) -> Any:
    return page.locator(f'.dashboard-count[data-status="{status}"] .dashboard-number')


def count(page: Any, status: str) -> str:
    return str(number(page, status).inner_text())


def test_the_runs_list_updates_rows_and_counts_live(
    live_page: Any, diamond_workflow: Workflow, operator: Any
) -> None:
    running = submit_run(diamond_workflow.latest_version, user=operator)
    launched = off_loop(start, running)
    log_in(live_page, "olga", PASSWORD)
    live_page.goto(live_page.live_url("/runs/"))
    live_page.locator('#runs-live[data-connection="live"]').wait_for()
    row(live_page, running, "Running").wait_for()
    assert count(live_page, "Running") == "1"
    assert count(live_page, "Succeeded") == "0"

    launched = off_loop(finish, launched["a"])
    for name in ("b", "c"):
        launched.update(off_loop(finish, launched[name]))
    off_loop(finish, launched["d"])
    row(live_page, running, "Succeeded").wait_for()
    expect(number(live_page, "Succeeded")).to_have_text("1")
    assert count(live_page, "Running") == "0"

    newer = off_loop(submit_run, diamond_workflow.latest_version, user=operator)
    row(live_page, newer, "Pending").wait_for()
    first = live_page.locator("#runs-table tbody tr").first
    assert first.get_attribute("data-run-id") == str(newer.pk)
    assert first.locator("a").first.inner_text() == f"#{newer.pk}"


def test_a_new_failure_shows_in_the_last_failures(
    live_page: Any, diamond_workflow: Workflow, operator: Any
) -> None:
    log_in(live_page, "olga", PASSWORD)
    live_page.goto(live_page.live_url("/runs/?status=Failed"))
    live_page.locator('#runs-live[data-connection="live"]').wait_for()
    assert live_page.locator("#runs-failures").inner_text().strip() == "None."
    run = off_loop(submit_run, diamond_workflow.latest_version, user=operator)
    run = off_loop(drive_run, run, {"a": AttemptStatus.FAILED})
    failure = live_page.locator(f'#runs-failures a[href="/runs/{run.pk}/"]')
    failure.wait_for()
    # The list filtered by Failed shows it once it failed.
    row(live_page, run, "Failed").wait_for()


def test_the_first_run_appears_on_an_empty_list(
    live_page: Any, diamond_workflow: Workflow, operator: Any
) -> None:
    log_in(live_page, "olga", PASSWORD)
    live_page.goto(live_page.live_url("/runs/"))
    live_page.locator('#runs-live[data-connection="live"]').wait_for()
    live_page.get_by_text("No runs.").wait_for()
    live_page.evaluate("window.__notReloaded = true")
    run = off_loop(submit_run, diamond_workflow.latest_version, user=operator)
    row(live_page, run, "Pending").wait_for()
    assert live_page.evaluate("window.__notReloaded") is True
    expect(number(live_page, "Pending")).to_have_text("1")
