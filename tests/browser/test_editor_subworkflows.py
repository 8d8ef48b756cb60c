"""Sub-workflows and exit handlers in the editor, in a real Chromium: a task
made to run another workflow of the project (picked from the project's
workflows, a version, its parameters with `{{` completions; its container
fields gone), what that workflow returns offered downstream; a task made an
exit handler (drawn in the On exit lane, `{{run.` offered, edges to the
run's tasks refused); the server's errors on the fields; saved, stored and
shown back.

Set FLOWDECK_TEST_SCREENSHOTS=/tmp/somewhere to keep pictures of each state.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_editor import (
    PASSWORD,
    connect,
    node,
    rename_selected,
    wait_until,
    wait_valid,
)
from tests.conftest import shell_task, workflow_document
from workflows.models import Project, Workflow
from workflows.services.submit import create_workflow, update_workflow

pytestmark = pytest.mark.django_db(transaction=True)

WIDE = {"width": 1440, "height": 900}


def called_workflow(user: Any, project: Project) -> Workflow:
    """etl, at version 2: a required parameter, one with a default, and an
    output it returns (version 1 had no description)."""
    document = workflow_document(
        "etl",
        [shell_task("load", "echo {{params.day}} {{params.rows}}")],
        parameters=[
            {"name": "day", "description": "Which day to load"},
            {"name": "rows", "default": "10"},
        ],
        outputs={
            "parameters": [
                {
                    "name": "loaded",
                    "value": "{{tasks.load.outputs.result}}",
                    "description": "What load printed",
                }
            ]
        },
    )
    workflow = create_workflow(document, author=user, project=project)
    document["metadata"]["description"] = "Loads one day"
    update_workflow(workflow, document, author=user, message="described")
    return workflow


def add_shell_task(page: Any, name: str) -> None:
    page.focus("[data-template=shell]")
    page.keyboard.press("Enter")
    rename_selected(page, name)


def box(locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None
    return found


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        outer["x"] <= inner["x"]
        and outer["y"] <= inner["y"]
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"]
    )


def test_a_sub_workflow_and_an_exit_handler_are_built_saved_and_shown_back(
    page: Any, user: Any, project: Project
) -> None:
    called_workflow(user, project)
    create_workflow(
        workflow_document("other", [shell_task("x")]), author=user, project=project
    )
    log_in(page, "alice", PASSWORD)
    page.set_viewport_size(WIDE)
    page.goto(page.live_url("/workflows/new/editor/"))
    page.wait_for_selector(".fd-editor")
    page.fill("input[name=workflow-name]", "nightly")
    panel = page.locator(".fd-panel")

    add_shell_task(page, "count")
    add_shell_task(page, "etl")
    panel.get_by_role("checkbox", name="count", exact=True).check()

    # etl runs another workflow: its container fields go, and it says so.
    panel.get_by_role("radio", name="another workflow").check()
    expect(panel).to_contain_text(
        "A task that runs a workflow has no container: removed its image, command"
    )
    expect(panel.locator("input[name=image]")).to_have_count(0)
    expect(panel.locator("textarea[name=script]")).to_have_count(0)
    # It may still run once per item: a child run each.
    expect(panel.locator("select[name=fan-out]")).to_have_count(1)
    # Until one is picked, the server says what is missing, on the field.
    name_error = panel.locator('[data-error-path="spec.tasks[1].workflow.name"]')
    expect(name_error).to_be_visible()
    picker = panel.locator("select[name=workflow-name]")
    # The project's workflows, not this one.
    options = picker.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["", "etl", "other"], options
    picker.select_option("etl")
    expect(name_error).to_have_count(0)
    expect(page.locator(node("etl"))).to_contain_text("runs etl")

    # Its versions, newest first; and the parameters of its latest.
    versions = panel.locator("select[name=workflow-version]")
    expect(versions.locator("option")).to_have_text(["latest", "v2 (latest now)", "v1"])
    versions.select_option("1")
    parameters = panel.get_by_test_id("sub-workflow-parameters")
    expect(parameters.locator("[data-parameter]")).to_have_count(2)
    expect(parameters).to_contain_text("day (required)")
    expect(parameters).to_contain_text("Which day to load")
    expect(parameters).to_contain_text("etl uses its default, 10")
    day = panel.locator("input[name=workflow-param-day]")
    day.click()
    page.keyboard.type("{{")
    listbox = panel.get_by_role("listbox", name="References")
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox).to_contain_text("tasks.count.outputs.result")
    page.keyboard.press("Enter")
    expect(day).to_have_value("{{tasks.count.outputs.result}}")
    screenshot(page, "editor-subworkflow-1-form")

    # announce, after etl, is offered what etl returns.
    add_shell_task(page, "announce")
    panel.get_by_role("checkbox", name="etl", exact=True).check()
    script = panel.locator("textarea[name=script]")
    script.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("echo {{tasks.etl")
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox).to_contain_text("tasks.etl.outputs.parameters.loaded")
    expect(listbox).to_contain_text("returned by etl (workflow etl): What load printed")
    page.keyboard.press("Enter")

    # report becomes an exit handler: into its lane, after everything.
    add_shell_task(page, "report")
    panel.get_by_role("checkbox", name="announce", exact=True).check()
    panel.get_by_role("checkbox", name=re.compile("^Exit handler")).check()
    expect(page.get_by_test_id("toast")).to_contain_text(
        "report is an exit handler: it runs once every other task has ended. "
        "Removed announce → report"
    )
    page.click("button:has-text('Layout ↓')")
    lane = page.get_by_test_id("exit-lane")
    expect(lane).to_have_text("On exit")
    report = page.locator(node("report"))
    assert inside(box(report), box(lane))
    for other in ("count", "etl", "announce"):
        assert not inside(box(page.locator(node(other))), box(lane)), other
    # Its Runs after lists exit handlers only, and its texts read the run.
    expect(panel).to_contain_text("No other exit handlers.")
    script = panel.locator("textarea[name=script]")
    script.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("echo {{run.")
    expect(listbox.get_by_role("option")).to_have_text(
        [
            re.compile("^run.status"),
            re.compile("^run.failures"),
            re.compile("^run.id"),
        ]
    )
    page.keyboard.press("Enter")
    expect(script).to_have_value("echo {{run.status}}")

    # An edge between the run's tasks and an exit handler is refused.
    connect(page, "announce", "report")
    expect(page.get_by_test_id("toast")).to_contain_text(
        "Refused: report is an exit handler"
    )
    wait_until(page, "document.querySelectorAll('.react-flow__edge').length == 2")

    # The server's errors land on an exit handler's fields: spec.onExit[0].
    page.fill(".fd-panel input[name=image]", "")
    image_error = panel.locator('[data-error-path="spec.onExit[0].image"]')
    expect(image_error).to_contain_text("is required")
    expect(page.locator(f"{node('report')} .fd-node")).to_have_class(
        re.compile(r"\bfd-node--invalid\b")
    )
    screenshot(page, "editor-subworkflow-2-exit-handler")
    page.fill(".fd-panel input[name=image]", "busybox:1.36")
    expect(image_error).to_have_count(0)
    wait_valid(page)

    page.click("button:has-text('Create')")
    page.fill("#fd-save-message", "nightly")
    page.click("dialog button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/\d+/editor/$"))
    expect(page.get_by_test_id("toast")).to_contain_text("Saved version 1")

    stored = Workflow.objects.get(name="nightly").latest_version.document["spec"]
    assert [task["name"] for task in stored["tasks"]] == ["count", "etl", "announce"]
    etl = stored["tasks"][1]
    assert etl == {
        "name": "etl",
        "dependencies": ["count"],
        "workflow": {
            "name": "etl",
            "version": 1,
            "parameters": {"day": "{{tasks.count.outputs.result}}"},
        },
    }
    assert stored["tasks"][2]["command"] == [
        "sh",
        "-c",
        "echo {{tasks.etl.outputs.parameters.loaded}}",
    ]
    assert [task["name"] for task in stored["onExit"]] == ["report"]
    assert stored["onExit"][0]["command"][2] == "echo {{run.status}}"
    assert "dependencies" not in stored["onExit"][0]

    # Opened again: the lane, the call and its parameters come back.
    page.reload()
    page.wait_for_selector(node("report"))
    expect(page.get_by_test_id("exit-lane")).to_be_visible()
    page.focus(node("etl"))
    page.keyboard.press("Enter")
    expect(panel.locator("select[name=workflow-name]")).to_have_value("etl")
    expect(panel.locator("select[name=workflow-version]")).to_have_value("1")
    expect(panel.locator("input[name=workflow-param-day]")).to_have_value(
        "{{tasks.count.outputs.result}}"
    )
    page.focus(node("report"))
    page.keyboard.press("Enter")
    expect(
        panel.get_by_role("checkbox", name=re.compile("^Exit handler"))
    ).to_be_checked()

    # Back to a task of the run: out of the lane, which goes with it.
    panel.get_by_role("checkbox", name=re.compile("^Exit handler")).uncheck()
    expect(page.get_by_test_id("toast")).to_contain_text(
        "report is a task of the run again"
    )
    expect(page.get_by_test_id("exit-lane")).to_have_count(0)
    screenshot(page, "editor-subworkflow-3-reloaded")
