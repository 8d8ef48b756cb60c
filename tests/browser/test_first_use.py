"""The browser UI as a new user finds it (issue 12): what got in the way of a
first session in Chromium at 1440×900, each fixed and held here."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flowcore.states import AttemptStatus
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_editor import (
    drop_template,
    rename_selected,
    toast,
    wait_valid,
)
from tests.browser.test_run_monitor import off_loop
from tests.conftest import drive_run, workflow_document
from workflows.models import Project, Run, Workflow
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-alice-123"
STATUS = "[data-testid=validation-status]"


def open_editor(page: Any, path: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(page.live_url(path))
    page.wait_for_selector(".fd-editor")


def status_is(page: Any, text: str) -> None:
    page.wait_for_selector(f"{STATUS}:text-is('{text}')")


# --- 1. a task that cannot run is not "Valid" ----------------------------------


def test_a_container_without_a_command_is_flagged_and_an_empty_script_refused(
    page: Any, user: Any, project: Project
) -> None:
    log_in(page, "alice", PASSWORD)
    open_editor(page, "/workflows/new/editor/")
    page.fill("input[name=workflow-name]", "first")
    drop_template(page, "container", 420, 160)
    rename_selected(page, "c")
    # The embedded server runs tasks with the local backend, which ignores
    # images: a task without a command cannot run there, and says so.
    status_is(page, "Valid, but 1 task cannot run here")
    warning = page.locator(".fd-panel .fd-field", has_text="What it runs")
    assert "ignores image" in warning.inner_text()
    assert "cannot run on this server" in page.inner_text("[data-testid=problems]")
    screenshot(page, "first-use-container-warning")
    page.select_option(".fd-panel select[name=command-mode]", "shell")
    page.fill(".fd-panel textarea[name=script]", "echo hi")
    wait_valid(page)

    # A cleared script is a problem of the document itself.
    page.fill(".fd-panel textarea[name=script]", "")
    status_is(page, "1 problem")
    page.wait_for_selector('.fd-panel [data-error-path="spec.tasks[0].command[2]"]')
    assert "script is empty" in page.inner_text(".fd-panel")


def test_the_workflow_page_warns_of_a_task_this_server_cannot_run(
    page: Any, user: Any, project: Project
) -> None:
    document = workflow_document("imageonly", [{"name": "c", "image": "alpine:3.20"}])
    workflow = create_workflow(document, author=user, project=project)
    log_in(page, "alice", PASSWORD)
    page.goto(page.live_url(f"/workflows/{workflow.pk}/"))
    warning = page.locator("[data-testid=backend-warnings]")
    assert "spec.tasks[0].command" in warning.inner_text()
    assert "ignores image" in warning.inner_text()


# --- 3. saving with known problems ---------------------------------------------


def test_saving_with_problems_is_refused_before_the_message_and_counted_once(
    page: Any, user: Any, project: Project
) -> None:
    log_in(page, "alice", PASSWORD)
    open_editor(page, "/workflows/new/editor/")
    page.fill("input[name=workflow-name]", "broken")
    drop_template(page, "shell", 420, 160)
    page.fill(".fd-panel input[name=image]", "")
    page.fill(".fd-panel textarea[name=script]", "")
    status_is(page, "2 problems")
    page.click("button:has-text('Create')")
    page.wait_for_selector("[data-testid=toast]:has-text('Not saved')")
    # No message was asked for: the problems are pointed at instead.
    assert page.locator("dialog[open]").count() == 0
    assert "fix the problems" in toast(page)
    # One count: the header's is the list's.
    assert page.inner_text("[data-testid=problems] summary") == "2 problems"
    assert page.inner_text(STATUS) == "2 problems"
    # ...and the message ends with its reason: an edit.
    page.fill(".fd-panel input[name=image]", "busybox:1.36")
    page.wait_for_selector("[data-testid=toast]", state="detached")
    assert Workflow.objects.count() == 0


# --- 2. the Debug dialog ---------------------------------------------------------


def test_debug_starts_from_the_tasks_own_script_and_sends_only_what_changed(
    live_page: Any, user: Any, project: Project
) -> None:
    document = workflow_document(
        "scripted",
        [
            {
                "name": "load",
                "image": "busybox:1.36",
                "command": ["sh", "-c", "echo load"],
                "env": [{"name": "MODE", "value": "fast"}],
            }
        ],
    )
    workflow = create_workflow(document, author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    run = off_loop(drive_run, run, {"load": AttemptStatus.FAILED})
    log_in(live_page, "alice", PASSWORD)
    live_page.set_viewport_size({"width": 1440, "height": 900})
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/"))
    live_page.locator('.fd-node[data-task="load"][data-status="Failed"]').click()
    live_page.get_by_role("button", name="Debug").click()
    dialog = live_page.get_by_role("dialog")
    script = dialog.locator("textarea[name=script]")
    script.wait_for()
    assert dialog.locator("select[name=command-mode]").input_value() == "shell"
    assert script.input_value() == "echo load"
    assert dialog.locator("textarea[name=env]").input_value() == "MODE=fast"
    assert dialog.locator("input[name=image]").input_value() == "busybox:1.36"
    script.fill("echo debug one line; sleep 1")
    screenshot(live_page, "first-use-debug-dialog")
    dialog.get_by_role("button", name="Start debug run").click()
    live_page.get_by_role("link", name=re.compile(r"run #\d+")).wait_for()
    new = Run.objects.exclude(pk=run.pk).get()
    assert new.overrides == {"command": ["sh", "-c", "echo debug one line; sleep 1"]}
