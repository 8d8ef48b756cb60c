"""Every page at 1280, 1440 and 1920 px wide, measured in the page: nothing
wider than its place or cut off, no cramped field, and the controls' text at
WCAG AA contrast (4.5:1, 3:1 for large text), hovered toggles included.

The measuring is tests/browser/page_audit.js, run in Chromium; no service.
With FLOWDECK_TEST_SCREENSHOTS set, a picture of each page at each width.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from flowcore.states import AttemptStatus
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_run_monitor import off_loop
from tests.conftest import diamond_document, drive_run, member
from workflows.models import Project, Role, Workflow
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)

AUDIT = (Path(__file__).parent / "page_audit.js").read_text()
WIDTHS = (1280, 1440, 1920)
# Toggles whose pressed or selected state is shown by colour: hovered too.
TOGGLES = (
    "[aria-pressed=true], [aria-selected=true], [aria-checked=true], "
    "button.fd-primary, button.primary"
)


def _resources_document() -> dict[str, Any]:
    document = diamond_document(parallelism=2, timeout="30m")
    document["spec"]["tasks"][1]["resources"] = {
        "requests": {"cpu": "250m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "256Mi", "nvidia.com/gpu": "1"},
    }
    document["spec"]["tasks"][1]["timeout"] = "5m"
    document["spec"]["tasks"][1]["retry"] = {"limit": 2}
    # A line longer than the text view is wide.
    document["spec"]["tasks"][0]["args"] = [
        "echo 'a script line that is much longer than the text pane is wide' && true"
    ]
    return document


@pytest.fixture
def site(django_user_model: Any, project: Project) -> dict[str, Any]:
    root = django_user_model.objects.create_superuser("root", password="pw-root-123")
    member(project, root, Role.ADMIN)
    workflow = create_workflow(_resources_document(), author=root, project=project)
    run = submit_run(workflow.latest_version, user=root)
    run = off_loop(drive_run, run, {"b": AttemptStatus.FAILED})
    return {"workflow": workflow, "run": run, "project": project}


def _editor_task(page: Any) -> None:
    page.wait_for_selector('.react-flow__node[data-id="b"]')
    page.click('.react-flow__node[data-id="b"]')
    page.wait_for_selector(".fd-panel input[name=image]")


def _run_drawer(page: Any) -> None:
    page.locator('.fd-node[data-task="b"]').click()
    page.locator(".fd-drawer").wait_for()


def _debug_dialog(page: Any) -> None:
    _run_drawer(page)
    page.get_by_role("button", name="Debug").click()
    page.locator("[role=dialog] textarea[name=command]").wait_for()
    # The answer's commands, with the API URL to copy.
    page.get_by_role("button", name="Start debug run").click()
    page.get_by_text("Its log over the API").wait_for()


def _pages(site: dict[str, Any]) -> list[tuple[str, str, Callable[[Any], None] | None]]:
    workflow: Workflow = site["workflow"]
    run = site["run"]
    project = site["project"]
    return [
        ("workflows", "/", None),
        ("workflow", f"/workflows/{workflow.pk}/", None),
        ("version", f"/workflows/{workflow.pk}/versions/1/", None),
        ("editor", f"/workflows/{workflow.pk}/editor/", _editor_task),
        ("editor-workflow", f"/workflows/{workflow.pk}/editor/", None),
        ("editor-new", "/workflows/new/editor/", None),
        ("workflow-form", "/workflows/new/", None),
        ("schedule-form", f"/workflows/{workflow.pk}/schedules/new/", None),
        ("runs", "/runs/", None),
        ("run", f"/runs/{run.pk}/", None),
        ("run-drawer", f"/runs/{run.pk}/", _run_drawer),
        ("run-debug", f"/runs/{run.pk}/", _debug_dialog),
        ("task-logs", f"/runs/{run.pk}/tasks/b/logs/", None),
        ("projects", "/projects/", None),
        ("project", f"/projects/{project.pk}/", None),
        ("schedules", "/schedules/", None),
        ("tokens", "/account/tokens/", None),
        ("password", "/account/password/", None),
        ("users", "/users/", None),
        ("audit", "/audit/", None),
        ("not-found", "/workflows/999/", None),
    ]


def _audit(page: Any) -> list[str]:
    problems: list[str] = page.evaluate(AUDIT, None)
    toggles = page.locator(TOGGLES)
    for index in range(toggles.count()):
        toggle = toggles.nth(index)
        if not toggle.is_visible() or not toggle.is_enabled():
            continue
        try:
            toggle.hover(timeout=1000)
        except PlaywrightError:
            continue  # under a dialog: not hoverable now
        problems += [
            f"{problem} (hovered)"
            for problem in page.evaluate(AUDIT, None)
            if problem.startswith("contrast")
        ]
    page.mouse.move(0, 0)
    return sorted(set(problems))


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_its_width_and_reads_at_aa_contrast(
    live_page: Any, site: dict[str, Any], width: int
) -> None:
    live_page.set_viewport_size({"width": width, "height": 900})
    found: dict[str, list[str]] = {}
    live_page.goto(live_page.live_url("/login/"))
    found["login"] = _audit(live_page)
    log_in(live_page, "root", "pw-root-123")
    for name, path, prepare in _pages(site):
        live_page.goto(live_page.live_url(path))
        live_page.wait_for_load_state("networkidle")
        if prepare:
            prepare(live_page)
        live_page.wait_for_timeout(200)
        screenshot(live_page, f"layout-{width}-{name}")
        problems = _audit(live_page)
        if problems:
            found[name] = problems
    found = {name: problems for name, problems in found.items() if problems}
    report = "\n".join(
        f"{name}:\n  " + "\n  ".join(problems) for name, problems in found.items()
    )
    assert not found, f"at {width}px:\n{report}"
