"""Data between tasks on the live run page, in a real Chromium: the task
drawer's Inputs / Outputs tab, artifact downloads and the run's outputs in the
header, filling in while the page is open.

Unlike test_run_monitor.py, these runs are carried out by the real local
backend (k8s_runner.reconcile, as tests/workflows/test_outputs.py does) in
this process: the values, files and checksums the page shows are what the
tasks really wrote and what the artifact store really keeps, not numbers the
test made up. Its reports commit here and reach the page the way a worker's
do, through the event table the Daphne child tails.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from flowcore.spec import parse_document
from flowcore.states import TERMINAL_RUN_STATUSES
from k8s_runner import reconcile
from tests.browser.conftest import screenshot
from tests.browser.test_run_monitor import PASSWORD, node, off_loop, open_run
from tests.conftest import member, workflow_document
from workflows.models import Project, Role, Run
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = Path(settings.BASE_DIR) / "examples"
PEOPLE = b"id,name\n1,ada\n2,grace\n3,linus\n"
WIDE = {"width": 1440, "height": 900}


@pytest.fixture
def operator(django_user_model: Any, project: Project) -> Any:
    olga = django_user_model.objects.create_user("olga", password=PASSWORD)
    return member(project, olga, Role.OPERATOR)


@pytest.fixture(autouse=True)
def quiet_backend() -> Any:
    """Let every local process end and every report be recorded before the
    test's database is flushed."""
    yield
    backend = reconcile.get_backend()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if backend.idle() and reconcile.report_pump.unrecorded() == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the local backend or the report pump did not go quiet")


def workflow_from(document: dict[str, Any], user: Any, project: Project) -> Run:
    workflow = create_workflow(document, author=user, project=project)
    return submit_run(workflow.latest_version, user=user)


def example(name: str) -> dict[str, Any]:
    return parse_document((EXAMPLES / f"{name}.yaml").read_text())


def run_to_end(run: Run, timeout: float = 30) -> Run:
    """Launch the run on the local backend and wait for it to finish."""

    def go() -> Run:
        reconcile.reconcile(run.pk)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in TERMINAL_RUN_STATUSES:
                return run
            reconcile.sweep()
            time.sleep(0.1)
        raise AssertionError(f"run still {run.status}")

    return off_loop(go)


def open_tab(page: Any, task: str, status: str) -> None:
    node(page, task, status).click()
    page.get_by_role("tab", name="Inputs / Outputs").click()


def test_load_shows_the_values_it_read_and_the_page_fills_in_as_the_run_goes(
    live_page: Any, operator: Any, project: Project
) -> None:
    run = workflow_from(example("etl-values"), operator, project)
    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    open_tab(live_page, "load", "Pending")
    drawer = live_page.locator('.fd-drawer[data-task="load"]')
    expect(drawer).to_contain_text("No attempt yet")
    screenshot(live_page, "run-data-1-load-pending")

    run = run_to_end(run)
    assert run.status == "Succeeded", list(run.tasks.values("name", "message"))
    live_page.locator('.fd-run[data-run-status="Succeeded"]').wait_for()
    value = drawer.locator(
        '[data-input="{{tasks.transform.outputs.result}}"] [data-field=value]'
    )
    # Pretty-printed as JSON, short enough to stay on one line.
    expect(value).to_have_text("[10, 20, 30, 40, 50]")
    expect(value).to_have_attribute("data-json", "true")
    expect(
        drawer.locator('[data-input="{{tasks.transform.outputs.result}}"]')
    ).to_contain_text("from transform, attempt 1")
    expect(drawer.get_by_test_id("task-data")).to_contain_text("declares none")
    # The run returns what load received, in the header.
    returned = live_page.locator('[data-run-output="loaded"] [data-field=value]')
    expect(returned).to_have_text("[10, 20, 30, 40, 50]")
    screenshot(live_page, "run-data-2-load-inputs")

    # The tab stays open from task to task: transform read extract's result.
    node(live_page, "transform", "Succeeded").click()
    drawer = live_page.locator('.fd-drawer[data-task="transform"]')
    expect(
        drawer.locator(
            '[data-input="{{tasks.extract.outputs.result}}"] [data-field=value]'
        )
    ).to_have_text("[1, 2, 3, 4, 5]")
    expect(drawer.locator("[data-output=result] [data-field=value]")).to_have_text(
        "[10, 20, 30, 40, 50]"
    )

    # And load's log says the same.
    node(live_page, "load", "Succeeded").click()
    live_page.get_by_role("tab", name="Logs").click()
    expect(live_page.get_by_test_id("log-lines")).to_contain_text(
        "[10, 20, 30, 40, 50]"
    )


def test_an_artifact_downloads_from_the_drawer_and_the_header_with_its_checksum(
    live_page: Any, operator: Any, project: Project
) -> None:
    run = run_to_end(workflow_from(example("csv-line-count"), operator, project))
    assert run.status == "Succeeded", list(run.tasks.values("name", "message"))
    digest = hashlib.sha256(PEOPLE).hexdigest()
    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    open_tab(live_page, "write-csv", "Succeeded")
    card = live_page.locator('.fd-drawer [data-artifact="people"]')
    expect(card.locator("[data-field=size]")).to_have_text(f"{len(PEOPLE)} bytes")
    sha = card.locator("[data-sha256]")
    expect(sha).to_have_text(digest[:12] + "…")
    assert sha.get_attribute("title") == digest
    live_page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    card.get_by_role("button", name="Copy the sha256 of people").click()
    expect(card.get_by_role("button", name="Copy the sha256 of people")).to_have_text(
        "copied"
    )
    assert live_page.evaluate("navigator.clipboard.readText()") == digest
    screenshot(live_page, "run-data-3-write-csv-artifact")

    with live_page.expect_download() as downloading:
        card.get_by_role("link", name="Download people").click()
    download = downloading.value
    assert download.suggested_filename == "people.csv"
    body = Path(download.path()).read_bytes()
    assert body == PEOPLE
    assert hashlib.sha256(body).hexdigest() == sha.get_attribute("data-sha256")

    # count-lines got it as an input, placed where its task said.
    open_tab(live_page, "count-lines", "Succeeded")
    placed = live_page.locator('.fd-drawer [data-artifact="people"]')
    expect(placed.locator("[data-field=path]")).to_have_text(
        "/flowdeck/inputs/people.csv"
    )
    expect(placed).to_contain_text("from write-csv")
    expect(
        live_page.locator(".fd-drawer [data-output=result] [data-field=value]")
    ).to_have_text("4")

    # The header returns both, and its link is the API's, with the checksum.
    header = live_page.get_by_test_id("run-outputs")
    expect(header.locator('[data-run-output="lines"] [data-field=value]')).to_have_text(
        "4"
    )
    link = header.locator('[data-artifact="people"]').get_by_role("link")
    answer = live_page.request.get(link.get_attribute("href"))
    assert answer.status == 200
    assert answer.body() == PEOPLE
    assert answer.headers["x-flowdeck-sha256"] == digest
    screenshot(live_page, "run-data-4-count-lines-input-artifact")


def test_the_header_shows_what_the_run_returned_and_what_it_could_not(
    live_page: Any, operator: Any, project: Project
) -> None:
    maybe = {
        "name": "maybe",
        "command": ["sh", "-c"],
        "args": [
            'echo 3 > "$FLOWDECK_OUTPUTS/rows"; '
            'printf s3cr3t > "$FLOWDECK_OUTPUTS/token"; '
            'seq 1 40 > "$FLOWDECK_OUTPUTS/lines"'
        ],
        "outputs": {
            "parameters": [
                {"name": "rows", "valueFrom": {"path": "/flowdeck/outputs/rows"}},
                {
                    "name": "token",
                    "valueFrom": {"path": "/flowdeck/outputs/token"},
                    "secret": True,
                },
                {"name": "lines", "valueFrom": {"path": "/flowdeck/outputs/lines"}},
            ],
            "artifacts": [
                {
                    "name": "report",
                    "path": "/flowdeck/outputs/report.txt",
                    "optional": True,
                }
            ],
        },
    }
    document = workflow_document(
        "returns",
        [maybe],
        defaults={"image": "busybox:1.36"},
        outputs={
            "parameters": [
                {"name": "rows", "value": "{{tasks.maybe.outputs.parameters.rows}}"},
                {"name": "token", "value": "{{tasks.maybe.outputs.parameters.token}}"},
            ],
            "artifacts": [
                {"name": "report", "from": "{{tasks.maybe.outputs.artifacts.report}}"}
            ],
        },
    )
    run = workflow_from(document, operator, project)
    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    assert live_page.get_by_test_id("run-outputs").count() == 0

    run = run_to_end(run)
    assert run.status == "Succeeded", list(run.tasks.values("name", "message"))
    header = live_page.get_by_test_id("run-outputs")
    expect(header.locator('[data-run-output="rows"] [data-field=value]')).to_have_text(
        "3"
    )
    token = header.locator('[data-run-output="token"]')
    expect(token).to_contain_text("••••••")
    expect(token).not_to_contain_text("s3cr3t")
    expect(header.locator('[data-missing="report"]')).to_contain_text(
        "task 'maybe' left no 'report'"
    )

    # The drawer masks the secret and folds the long value.
    open_tab(live_page, "maybe", "Succeeded")
    drawer = live_page.locator(".fd-drawer")
    expect(drawer.locator('[data-output-parameter="token"]')).to_contain_text("secret")
    expect(drawer).not_to_contain_text("s3cr3t")
    lines = drawer.locator('[data-output-parameter="lines"]')
    expect(lines.locator("[data-field=value]")).not_to_contain_text("40")
    screenshot(live_page, "run-data-5-returned-and-missing")
    lines.get_by_role("button", name="Show all 40 lines").click()
    expect(lines.locator("[data-field=value]")).to_contain_text("39\n40")
    expect(lines.get_by_role("button", name="Show less")).to_have_attribute(
        "aria-expanded", "true"
    )
