"""Control flow in the editor, in a real Chromium: a conditional task (its
condition completed where `{{` is typed), a trigger rule, a depends
expression, a fan-out over items with its parallelism and continueOn, built
with the mouse and the keyboard; the server's expression errors on their
fields with the position marked; the canvas's markers; saved, and checked in
the stored YAML.

Set FLOWDECK_TEST_SCREENSHOTS=/tmp/somewhere to keep pictures of each state.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_editor import (
    PASSWORD,
    connect,
    drop_template,
    edges,
    node,
    rename_selected,
    wait_until,
    wait_valid,
)
from workflows.models import Workflow

pytestmark = pytest.mark.django_db(transaction=True)

FLIP = "{{tasks.flip.outputs.result}}"
WIDE = {"width": 1440, "height": 900}


def edge(page: Any, source: str, target: str) -> Any:
    return page.locator(f'.react-flow__edge[data-id="{source}->{target}"]')


def test_a_condition_a_rule_depends_and_a_fan_out_are_built_saved_and_stored(
    page: Any, user: Any, project: Any
) -> None:
    log_in(page, "alice", PASSWORD)
    page.set_viewport_size(WIDE)
    page.goto(page.live_url("/workflows/new/editor/"))
    page.wait_for_selector(".fd-editor")
    page.fill("input[name=workflow-name]", "branching")
    panel = page.locator(".fd-panel")

    # flip, then heads dragged in and connected with the mouse.
    drop_template(page, "shell", 360, 80)
    rename_selected(page, "flip")
    drop_template(page, "shell", 180, 260)
    rename_selected(page, "heads")
    connect(page, "flip", "heads")
    wait_until(page, "document.querySelectorAll('.react-flow__edge').length == 1")

    # heads runs only when flip said heads: the reference picked from the
    # completions with the keyboard.
    page.click(node("heads"))
    when = panel.locator("input[name=when]")
    when.click()
    page.keyboard.type("{{")
    listbox = panel.get_by_role("listbox", name="References")
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox).to_contain_text("tasks.flip.outputs.result")
    page.keyboard.press("Enter")
    expect(when).to_have_value(FLIP)
    page.keyboard.type(" ==")
    # The server's error is on the field, the position marked in it.
    error = panel.locator('[data-error-path="spec.tasks[1].when"]')
    expect(error).to_contain_text("position 33: expected a value after '=='")
    expect(when).to_have_attribute("aria-invalid", "true")
    expect(panel.get_by_test_id("expression-pointer").locator("mark")).to_have_text(" ")
    screenshot(page, "editor-control-flow-1-when-error")
    page.keyboard.type(" heads")
    expect(error).to_have_count(0)
    marker = page.locator(node("heads")).get_by_test_id("when-marker")
    expect(marker).to_have_text("if")
    expect(page.locator(f"{node('heads')} .fd-node")).to_have_attribute(
        "title", re.compile(re.escape(f"Runs only when: {FLIP} == heads"))
    )

    # each: added from the keyboard, after flip, once per item.
    page.focus("[data-template=shell]")
    page.keyboard.press("Enter")
    rename_selected(page, "each")
    after_flip = panel.get_by_role("checkbox", name="flip", exact=True)
    after_flip.focus()
    page.keyboard.press("Space")
    panel.locator("select[name=fan-out]").select_option("items")
    items = panel.locator("textarea[name=withItems]")
    items.click()
    page.keyboard.type('a.csv\n42\n{"file": "b.csv"}')
    panel.locator("input[name=parallelism]").fill("2")
    panel.get_by_role("checkbox", name="failed (its program)").check()
    # Its script takes {{item}}, offered first.
    script = panel.locator("textarea[name=script]")
    script.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("echo {{")
    expect(listbox.get_by_role("option").first).to_contain_text("item")
    expect(listbox).to_contain_text("item.file")
    page.keyboard.press("Enter")
    expect(script).to_have_value("echo {{item}}")
    stack = page.locator(f"{node('each')} .fd-node")
    expect(stack).to_have_class(re.compile(r"\bfd-node--stack\b"))
    expect(stack.locator(".fd-node__badge--fan")).to_have_text("×3")
    screenshot(page, "editor-control-flow-2-fan-out")

    # report: after heads and each, whatever they did (noneFailed).
    page.focus("[data-template=shell]")
    page.keyboard.press("Enter")
    rename_selected(page, "report")
    for upstream in ("heads", "each"):
        panel.get_by_role("checkbox", name=upstream, exact=True).check()
    rule = panel.locator("select[name=triggerRule]")
    rule.focus()
    rule.select_option("noneFailed")
    expect(panel).to_contain_text("Starts every upstream is done and none failed")
    # Its incoming edges say so, dashed.
    for upstream in ("heads", "each"):
        label = edge(page, upstream, "report").locator(".react-flow__edge-text")
        expect(label).to_have_text("noneFailed")
    dash = edge(page, "heads", "report").locator("path.react-flow__edge-path")
    assert "6" in (dash.evaluate("e => getComputedStyle(e).strokeDasharray") or "")
    rule.evaluate("e => e.scrollIntoView({block: 'center'})")
    screenshot(page, "editor-control-flow-3-trigger-rule")

    # cleanup: a depends expression instead of dependencies. Switching
    # carries its dependency over; a typo is an error at its position.
    page.focus("[data-template=shell]")
    page.keyboard.press("Enter")
    rename_selected(page, "cleanup")
    panel.get_by_role("checkbox", name="each", exact=True).check()
    # Tasks added from the keyboard land near the middle: lay them out.
    page.click("button:has-text('Layout ↓')")
    panel.get_by_role("radio", name=re.compile("expression over their results")).check()
    depends = panel.locator("input[name=depends]")
    expect(depends).to_have_value("each")
    # Runs after is now the expression's, and says so.
    expect(panel.get_by_role("checkbox", name="each", exact=True)).to_be_disabled()
    depends.fill("each.Faild || heads.Skipped")
    error = panel.locator('[data-error-path="spec.tasks[4].depends"]')
    expect(error).to_contain_text("'each.Faild': a task's result is one of")
    expect(panel.get_by_test_id("expression-pointer").locator("mark")).to_have_text("e")
    depends.evaluate("e => e.scrollIntoView({block: 'center'})")
    screenshot(page, "editor-control-flow-4-depends-error")
    depends.fill("each.Failed || heads.Skipped")
    expect(error).to_have_count(0)
    wait_until(page, "document.querySelectorAll('.react-flow__edge').length == 6")
    assert {"each->cleanup", "heads->cleanup"} <= edges(page)
    expect(
        edge(page, "each", "cleanup").locator(".react-flow__edge-text")
    ).to_have_text("Failed")
    # Its expression's edge is not deleted from the canvas: it says where to.
    # (Clicked a third of the way along, away from its label.)
    point = page.evaluate(
        """() => {
          const path = document.querySelector('.react-flow__edge'
            + '[data-id="heads->cleanup"] .react-flow__edge-interaction');
          const at = path.getPointAtLength(path.getTotalLength() / 3);
          const box = path.ownerSVGElement.getScreenCTM();
          return [at.x * box.a + box.e, at.y * box.d + box.f];
        }"""
    )
    page.mouse.click(*point)
    expect(edge(page, "heads", "cleanup")).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("toast")).to_contain_text("by its depends expression")
    assert "heads->cleanup" in edges(page)
    wait_valid(page)
    screenshot(page, "editor-control-flow-5-canvas")

    page.click("button:has-text('Create')")
    page.fill("#fd-save-message", "branch and map")
    page.click("dialog button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/\d+/editor/$"))
    expect(page.get_by_test_id("toast")).to_contain_text("Saved version 1")

    # What was stored, and what the YAML view shows, in the spec's key order.
    stored = Workflow.objects.get(name="branching").latest_version.document
    text = page.locator("textarea[name=spec-text]").input_value()
    assert yaml.safe_load(text)["spec"]["tasks"] == stored["spec"]["tasks"]
    tasks = {task["name"]: task for task in stored["spec"]["tasks"]}
    assert tasks["heads"]["when"] == f"{FLIP} == heads"
    assert tasks["heads"]["dependencies"] == ["flip"]
    assert tasks["each"]["withItems"] == ["a.csv", 42, {"file": "b.csv"}]
    assert tasks["each"]["parallelism"] == 2
    assert tasks["each"]["continueOn"] == {"failed": True}
    assert tasks["each"]["command"] == ["sh", "-c", "echo {{item}}"]
    assert tasks["report"]["dependencies"] == ["heads", "each"]
    assert tasks["report"]["triggerRule"] == "noneFailed"
    assert tasks["cleanup"]["depends"] == "each.Failed || heads.Skipped"
    assert "dependencies" not in tasks["cleanup"]
    start = text.index("- name: each")
    indent = " " * (start - text.rindex("\n", 0, start) - 1 + 2)
    block = text[start : text.index("- name: report")]
    keys = re.findall(rf"^{indent}(\w+):", block, re.M)
    assert keys == [
        "image",
        "command",
        "dependencies",
        "continueOn",
        "withItems",
        "parallelism",
    ], keys

    # Opened again, the form shows it all back.
    page.reload()
    page.wait_for_selector(node("each"))
    page.click(node("each"))
    expect(panel.locator("select[name=fan-out]")).to_have_value("items")
    expect(panel.locator("textarea[name=withItems]")).to_have_value(
        'a.csv\n42\n{"file":"b.csv"}'
    )
    # (From the keyboard: after the reload the minimap covers it.)
    page.focus(node("cleanup"))
    page.keyboard.press("Enter")
    expect(panel.get_by_role("radio", name=re.compile("expression"))).to_be_checked()
