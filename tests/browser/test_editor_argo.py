"""Argo Workflows in the editor, in a real Chromium: an Argo file imported
through the Import… button is converted by the server and placed on the
canvas with its report beside it, saved with its original (first save only),
shown in the history and exported back; a file Flowdeck cannot run is
refused in the report with its paths; a file of several documents and a
CronWorkflow asks, opens one or imports them all into the project; a loop
over a dag comes in as a sub-workflow that fans out.

Set FLOWDECK_TEST_SCREENSHOTS=/tmp/somewhere to keep pictures of each state.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from schedules.models import Schedule
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_editor import PASSWORD, node, wait_valid
from tests.conftest import shell_task, workflow_document
from workflows.models import Project, Workflow
from workflows.services.submit import create_workflow

pytestmark = pytest.mark.django_db(transaction=True)

WIDE = {"width": 1440, "height": 900}
ARGO = Path(__file__).resolve().parents[1] / "fixtures" / "argo"

NIGHTLY = """\
# Nightly load, from Argo. <b>not markup</b>
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: nightly-load-
spec:
  entrypoint: main
  podGC: {strategy: OnPodSuccess}
  templates:
    - name: main
      dag:
        tasks:
          - name: extract
            template: step
          - name: load
            dependencies: [extract]
            template: step
    - name: step
      retryStrategy:
        limit: 2
        backoff: {duration: 5s, factor: 2, maxDuration: 1m}
      container:
        image: busybox:1.36
        command: [sh, -c, "echo step"]
"""

CALLER = """\
# The caller.
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: caller}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - name: greet
            templateRef: {name: greeting, template: hello}
            arguments: {parameters: [{name: who, value: ada}]}
"""
GREETING = """\
# The callee.
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: greeting}
spec:
  entrypoint: hello
  templates:
    - name: hello
      inputs: {parameters: [{name: who}]}
      container: {image: busybox, command: [echo, "{{inputs.parameters.who}}"]}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def open_editor(page: Any, path: str) -> None:
    log_in(page, "alice", PASSWORD)
    page.set_viewport_size(WIDE)
    page.goto(page.live_url(path))
    page.wait_for_selector(".fd-editor")


def open_export_menu(page: Any) -> None:
    # The menu stays open after a choice: open it only when it is closed.
    if not page.locator("details.fd-menu").evaluate("menu => menu.open"):
        page.click("summary:has-text('Export')")


def download_text(page: Any, button: str) -> str:
    with page.expect_download() as download:
        open_export_menu(page)
        page.click(f"button:has-text('{button}')")
    return Path(download.value.path()).read_text()


def test_an_argo_file_is_converted_onto_the_canvas_saved_with_its_original_and_exported(
    page: Any, user: Any, project: Project, tmp_path: Path
) -> None:
    open_editor(page, "/workflows/new/editor/")
    page.set_input_files(
        "[data-testid=import-file]", write(tmp_path, "nightly.yaml", NIGHTLY)
    )
    page.wait_for_selector(node("load"))
    expect(page.locator(node("extract"))).to_be_visible()
    expect(page.locator("input[name=workflow-name]")).to_have_value("nightly-load")

    # The report, beside the canvas: what did not carry over, at its Argo path.
    report = page.get_by_test_id("conversion-report")
    expect(report).to_contain_text("Converted from Argo")
    expect(report).to_contain_text("nightly.yaml: Workflow → workflow nightly-load")
    notes = report.locator("[data-report=note]")
    expect(notes).to_have_count(2)  # the template's note once, though two tasks call it
    expect(notes.nth(0)).to_have_attribute("data-path", "spec.podGC")
    expect(notes.nth(1)).to_contain_text(
        "spec.templates[1].retryStrategy.backoff.maxDuration the cap on the whole "
        "time spent retrying is not carried over"
    )
    expect(report).to_contain_text("Problems in the converted workflow (0)")
    canvas = page.get_by_test_id("canvas").bounding_box()
    beside = report.bounding_box()
    assert beside["x"] >= canvas["x"] + canvas["width"] - 1, (canvas, beside)
    wait_valid(page)
    screenshot(page, "editor-argo-1-report")

    # Created: the first version keeps the Argo original.
    page.click("button:has-text('Create')")
    page.fill("#fd-save-message", "from argo")
    page.click("dialog button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/\d+/editor/$"))
    expect(page.get_by_test_id("toast")).to_contain_text("Saved version 1")
    workflow = Workflow.objects.get(name="nightly-load")
    assert workflow.latest_version.source == {"format": "argo", "text": NIGHTLY}
    # The report stays until dismissed.
    expect(report).to_be_visible()
    report.get_by_role("button", name="Dismiss the conversion report").click()
    expect(report).to_have_count(0)

    # The next save is an ordinary one.
    page.click(node("load"))
    page.fill(".fd-panel input[name=image]", "busybox:1.37")
    wait_valid(page)
    page.click("button:has-text('Save')")
    page.fill("#fd-save-message", "newer busybox")
    page.click("dialog button[type=submit]")
    expect(page.get_by_test_id("toast")).to_contain_text("Saved version 2")
    workflow.refresh_from_db()
    assert workflow.latest_version.source is None

    # The history marks v1, and shows its original as text.
    page.click("button:has-text('History')")
    dialog = page.locator("dialog[open]")
    expect(dialog.locator('[data-version="1"]')).to_contain_text("Converted from Argo")
    expect(dialog.locator('[data-version="2"]')).not_to_contain_text("Argo")
    dialog.locator('[data-version="1"]').get_by_role(
        "button", name="View the original"
    ).click()
    original = dialog.get_by_test_id("argo-original")
    source = original.locator("pre")
    expect(source).to_have_text(NIGHTLY)
    expect(source.locator("b")).to_have_count(0)  # text, never markup
    assert source.evaluate("e => getComputedStyle(e).fontFamily").startswith(
        "ui-monospace"
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    original.get_by_role("button", name="Copy the original").click()
    expect(original).to_contain_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == NIGHTLY
    screenshot(page, "editor-argo-2-history")
    dialog.get_by_role("button", name="Close").click()

    # Exported as Argo: the version shown, as a Workflow or a WorkflowTemplate.
    exported = yaml.safe_load(download_text(page, "Argo Workflow (YAML)"))
    assert (exported["apiVersion"], exported["kind"]) == (
        "argoproj.io/v1alpha1",
        "Workflow",
    )
    assert "busybox:1.37" in yaml.safe_dump(exported)
    expect(page.get_by_test_id("toast")).to_have_text(
        re.compile("^Downloaded v2 as an Argo Workflow\\.")
    )
    template = yaml.safe_load(download_text(page, "Argo WorkflowTemplate (YAML)"))
    assert template["kind"] == "WorkflowTemplate"

    # With unsaved changes, the saved version is exported, and it says so.
    page.click(node("load"))
    page.fill(".fd-panel input[name=image]", "busybox:1.38")
    open_export_menu(page)
    expect(page.get_by_test_id("argo-export-note")).to_have_text(
        "Argo: exports v2 as saved, without your unsaved changes."
    )
    screenshot(page, "editor-argo-3-export-menu")
    with page.expect_download() as download:
        page.click("button:has-text('Argo Workflow (YAML)')")
    assert "busybox:1.38" not in Path(download.value.path()).read_text()
    expect(page.get_by_test_id("toast")).to_contain_text(
        "the saved version, without your unsaved changes"
    )


def test_a_new_workflow_explains_why_it_cannot_be_exported_as_argo(
    page: Any, user: Any, project: Project
) -> None:
    open_editor(page, "/workflows/new/editor/")
    page.click("summary:has-text('Export')")
    expect(page.locator("button:has-text('Argo Workflow (YAML)')")).to_be_disabled()
    expect(page.get_by_test_id("argo-export-note")).to_have_text(
        "Argo exports a saved version: create the workflow first."
    )


def test_a_file_flowdeck_cannot_run_is_refused_in_the_report_with_its_paths(
    page: Any, user: Any, project: Project, tmp_path: Path
) -> None:
    open_editor(page, "/workflows/new/editor/")
    text = (ARGO / "unsupported-suspend.yaml").read_text()
    page.set_input_files(
        "[data-testid=import-file]", write(tmp_path, "approve.yaml", text)
    )
    report = page.get_by_test_id("conversion-report")
    expect(report).to_have_attribute("data-refused", "true")
    expect(report).to_contain_text("Cannot import")
    expect(report).to_contain_text("Nothing was placed on the canvas")
    refused = report.locator("[data-report=error]")
    expect(refused).to_have_count(1)
    expect(refused).to_have_attribute("data-path", "spec.templates[1].suspend")
    expect(refused).to_contain_text("a suspend template cannot run on Flowdeck")
    expect(page.get_by_test_id("toast")).to_contain_text(
        "Cannot import approve.yaml: 1 part Flowdeck cannot run (see the report)."
    )
    expect(page.locator(".react-flow__node")).to_have_count(0)
    expect(page.get_by_test_id("empty-hint")).to_be_visible()
    screenshot(page, "editor-argo-4-refused")


def test_a_file_of_several_documents_opens_one_or_imports_all_into_the_project(
    page: Any, user: Any, project: Project, tmp_path: Path
) -> None:
    target = create_workflow(
        workflow_document("target", [shell_task("old")]),
        author=user,
        project=project,
    )
    cron = (ARGO / "cron.yaml").read_text()
    text = f"{CALLER}---\n{GREETING}---\n{cron}"
    file = write(tmp_path, "bundle.yaml", text)
    open_editor(page, f"/workflows/{target.pk}/editor/")
    page.set_input_files("[data-testid=import-file]", file)

    dialog = page.locator("dialog[open]")
    rows = dialog.get_by_test_id("argo-documents").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Workflow")
    expect(rows.nth(1)).to_contain_text("WorkflowTemplate")
    expect(rows.nth(2)).to_contain_text("CronWorkflow")
    expect(rows.nth(2)).to_contain_text(
        "hello-world: */5 * * * * in Europe/Berlin, never two at once"
    )
    expect(dialog.get_by_role("button", name="Import all into team")).to_be_enabled()
    screenshot(page, "editor-argo-5-several")

    # One of them onto the canvas: the saved workflow keeps its name, and
    # its first save keeps that document's own text.
    rows.nth(1).get_by_role("button", name="Open on the canvas").click()
    expect(dialog).to_have_count(0)
    page.wait_for_selector(node("hello"))
    expect(page.locator(node("old"))).to_have_count(0)
    expect(page.get_by_test_id("conversion-report")).to_contain_text(
        "bundle.yaml: WorkflowTemplate → workflow greeting"
    )
    text_view = page.locator("textarea[name=spec-text]").input_value()
    assert "name: target" in text_view
    wait_valid(page)
    page.click("button:has-text('Save')")
    page.click("dialog button[type=submit]")
    expect(page.get_by_test_id("toast")).to_contain_text("Saved version 2")
    assert target.versions.get(number=2).source == {"format": "argo", "text": GREETING}

    # The whole file into the project: its workflows and its schedule.
    page.set_input_files("[data-testid=import-file]", file)
    dialog.get_by_role("button", name="Import all into team").click()
    done = dialog.get_by_test_id("argo-imported")
    expect(done).to_contain_text("Imported 3 workflows into team")
    for name in ("caller", "greeting", "hello-world"):
        workflow = Workflow.objects.get(project=project, name=name)
        # The first link: a CronWorkflow's schedule has its name too.
        row = done.locator(f'[data-workflow="{name}"]')
        link = row.get_by_role("link", name=name, exact=True).first
        expect(link).to_have_attribute("href", f"/workflows/{workflow.pk}/editor/")
    schedule = Schedule.objects.get(name="hello-world")
    expect(done.get_by_role("link", name="hello-world").last).to_have_attribute(
        "href", f"/schedules/{schedule.pk}/"
    )
    screenshot(page, "editor-argo-6-imported")

    # The caller's editor: its task runs the imported template as a sub-workflow.
    done.locator('[data-workflow="caller"]').get_by_role("link", name="caller").click()
    page.wait_for_selector(node("greet"))
    expect(page.locator(node("greet"))).to_contain_text("runs greeting")


def test_a_loop_over_a_dag_is_imported_as_a_sub_workflow_that_fans_out(
    page: Any, user: Any, project: Project, tmp_path: Path
) -> None:
    open_editor(page, "/workflows/new/editor/")
    text = (ARGO / "loop-over-dag.yaml").read_text()
    page.set_input_files(
        "[data-testid=import-file]", write(tmp_path, "loop.yaml", text)
    )
    # One Argo document, two workflows: the loop's dag became one of its own.
    dialog = page.locator("dialog[open]")
    rows = dialog.get_by_test_id("argo-documents").locator("tbody tr")
    expect(rows).to_have_count(2)
    dialog.get_by_role("button", name="Import all into team").click()
    done = dialog.get_by_test_id("argo-imported")
    expect(done).to_contain_text("Imported 2 workflows into team")
    done.locator('[data-workflow="loop-dag"]').get_by_role(
        "link", name="loop-dag", exact=True
    ).click()

    each = page.locator(node("each"))
    expect(each).to_contain_text("runs loop-dag-pair")
    expect(each).to_contain_text("×2")
    each.click()
    panel = page.locator(".fd-panel")
    expect(panel.locator("select[name=workflow-name]")).to_have_value("loop-dag-pair")
    expect(panel.locator("input[name=workflow-param-who]")).to_have_value("{{item}}")
    expect(panel.locator("select[name=fan-out]")).to_have_value("items")
    wait_valid(page)
    screenshot(page, "editor-argo-7-loop")
