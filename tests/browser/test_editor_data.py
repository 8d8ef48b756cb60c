"""Data between tasks in the editor, in a real Chromium: outputs declared in
the task form, references picked from the completions offered where `{{` is
typed (upstream tasks only), the server's reference errors on the field that
holds them, input artifacts chosen from what upstream tasks declare, and the
workflow's outputs; saved, and in the YAML."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_editor import PASSWORD, node, wait_valid
from tests.conftest import workflow_document
from workflows.models import Workflow
from workflows.services.submit import create_workflow

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM_ROWS = "{{tasks.extract.outputs.parameters.rows}}"


def script_task(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A task the form shows as a shell script (`sh -c SCRIPT`)."""
    return {
        "name": name,
        "image": "busybox:1.36",
        "command": ["sh", "-c", script],
        **extra,
    }


@pytest.fixture
def pipeline(user: Any, project: Any) -> Workflow:
    """extract → load, and report on its own (upstream of nothing)."""
    document = workflow_document(
        "pipeline",
        [
            script_task("extract", 'echo 3 > "$FLOWDECK_OUTPUTS/rows"'),
            script_task("load", "echo loading", dependencies=["extract"]),
            script_task("report", "true"),
        ],
    )
    return create_workflow(document, author=user, project=project)


def test_an_output_is_declared_referenced_through_completions_and_saved(
    page: Any, pipeline: Workflow
) -> None:
    log_in(page, "alice", PASSWORD)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(page.live_url(f"/workflows/{pipeline.pk}/editor/"))
    page.wait_for_selector(node("load"))
    panel = page.locator(".fd-panel")

    # extract declares an output parameter; its file follows its name.
    page.click(node("extract"))
    panel.get_by_role("button", name="+ Add output parameter").click()
    panel.get_by_label("Output parameter 1 name").fill("rows")
    expect(panel.get_by_label("Output parameter 1 file")).to_have_value(
        "/flowdeck/outputs/rows"
    )
    panel.get_by_label("Output parameter 1 description").fill("How many rows")
    panel.get_by_role("button", name="+ Add artifact").click()
    panel.get_by_label("Artifact 1 name").fill("data")
    panel.get_by_label("Artifact 1 path").fill("/flowdeck/outputs/data.csv")
    # The YAML view follows the form.
    expect(page.locator("textarea[name=spec-text]")).to_have_value(
        re.compile(r"path: /flowdeck/outputs/data\.csv")
    )
    screenshot(page, "editor-1-outputs-declared")

    # In load's script, {{ offers extract's outputs (upstream), not report's.
    page.click(node("load"))
    script = panel.locator("textarea[name=script]")
    script.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" {{")
    listbox = panel.get_by_role("listbox", name="References")
    expect(listbox.get_by_role("option")).to_have_count(2)
    expect(listbox).to_contain_text("tasks.extract.outputs.result")
    expect(listbox).to_contain_text("tasks.extract.outputs.parameters.rows")
    expect(listbox).to_contain_text("How many rows")
    expect(listbox).not_to_contain_text("report")
    expect(script).to_have_attribute("aria-expanded", "true")
    screenshot(page, "editor-2-completions")
    # Keyboard: narrow it down, move, insert.
    page.keyboard.type("out")
    page.keyboard.press("ArrowDown")
    selected = listbox.locator("[aria-selected=true]")
    expect(selected).to_contain_text("parameters.rows")
    expect(script).to_have_attribute(
        "aria-activedescendant", selected.get_attribute("id")
    )
    page.keyboard.press("Enter")
    expect(script).to_have_value(f"echo loading {UPSTREAM_ROWS}")
    expect(listbox).to_have_count(0)
    expect(script).to_have_attribute("aria-expanded", "false")
    # Escape closes the list without leaving the field.
    page.keyboard.type(" {{")
    expect(listbox).to_be_visible()
    page.keyboard.press("Escape")
    expect(listbox).to_have_count(0)
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    expect(script).to_have_value(f"echo loading {UPSTREAM_ROWS}")

    # A reference to a task that is not upstream: the server's error is on
    # the Arguments box, naming the line.
    args = panel.locator("textarea[name=args]")
    args.fill("first\n{{tasks.report.outputs.result}}")
    error = panel.locator('[data-error-path="spec.tasks[1].args[1]"]')
    expect(error).to_contain_text("Line 2:")
    expect(error).to_contain_text("not upstream of 'load'")
    expect(args).to_have_attribute("aria-invalid", "true")
    screenshot(page, "editor-3-reference-error-on-its-field")
    args.fill("")

    # load takes extract's artifact: name and path filled from the choice.
    panel.get_by_role("button", name="+ Add input artifact").click()
    panel.get_by_label("Input 1 from").select_option(
        "{{tasks.extract.outputs.artifacts.data}}"
    )
    expect(panel.get_by_label("Input 1 name")).to_have_value("data")
    expect(panel.get_by_label("Input 1 path")).to_have_value(
        "/flowdeck/inputs/data.csv"
    )
    panel.get_by_label("Input 1 path").scroll_into_view_if_needed()
    screenshot(page, "editor-4-input-artifact")

    # The workflow returns extract's rows, picked with the mouse.
    page.click(".react-flow__pane", position={"x": 30, "y": 30})
    panel.get_by_role("button", name="+ Add output", exact=True).click()
    panel.get_by_label("Output 1 name", exact=True).fill("rows")
    value = panel.get_by_label("Output 1 value", exact=True)
    value.click()
    page.keyboard.type("{{ext")
    panel.get_by_role("option", name=re.compile(r"parameters\.rows")).click()
    expect(value).to_have_value(UPSTREAM_ROWS)
    expect(value).to_be_focused()
    wait_valid(page)
    screenshot(page, "editor-5-workflow-outputs")

    page.click("button:has-text('Save')")
    page.fill("#fd-save-message", "pass rows to load")
    page.click("dialog button[type=submit]")
    page.wait_for_selector("[data-testid=toast]:has-text('Saved version 2')")

    text = page.locator("textarea[name=spec-text]").input_value()
    assert f'- "echo loading {UPSTREAM_ROWS}"' in text, text
    saved = yaml.safe_load(text)
    tasks = {task["name"]: task for task in saved["spec"]["tasks"]}
    assert tasks["extract"]["outputs"] == {
        "parameters": [
            {
                "name": "rows",
                "valueFrom": {"path": "/flowdeck/outputs/rows"},
                "description": "How many rows",
            }
        ],
        "artifacts": [{"name": "data", "path": "/flowdeck/outputs/data.csv"}],
    }
    assert tasks["load"]["inputs"] == {
        "artifacts": [
            {
                "name": "data",
                "from": "{{tasks.extract.outputs.artifacts.data}}",
                "path": "/flowdeck/inputs/data.csv",
            }
        ]
    }
    assert "args" not in tasks["load"]
    assert saved["spec"]["outputs"] == {
        "parameters": [{"name": "rows", "value": UPSTREAM_ROWS}]
    }
    pipeline.refresh_from_db()
    stored = pipeline.latest_version.document
    assert stored["spec"]["tasks"][1]["command"] == [
        "sh",
        "-c",
        f"echo loading {UPSTREAM_ROWS}",
    ]
    assert stored["spec"]["outputs"] == saved["spec"]["outputs"]
