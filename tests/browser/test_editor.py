"""The visual DAG editor in a real Chromium: a workflow built with the mouse
and the keyboard only, saved, reloaded, edited as YAML, run; history, import
and export."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser.conftest import log_in
from tests.conftest import diamond_document, member
from workflows.models import Role, Run, Workflow
from workflows.services.submit import create_workflow, update_workflow

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-alice-123"
CANVAS = "[data-testid=canvas]"


def node(name: str) -> str:
    return f'.react-flow__node[data-id="{name}"]'


def open_editor(page: Any, path: str) -> None:
    page.set_viewport_size({"width": 1700, "height": 1000})
    page.goto(page.live_url(path))
    page.wait_for_selector(".fd-editor")


def drop_template(page: Any, template: str, x: int, y: int) -> None:
    """Drag a palette template onto the canvas at (x, y) of the canvas."""
    page.drag_and_drop(
        f"[data-template={template}]", CANVAS, target_position={"x": x, "y": y}
    )


def rename_selected(page: Any, name: str) -> None:
    field = page.locator(".fd-panel input[name=name]")
    field.fill(name)
    field.press("Enter")
    page.wait_for_selector(node(name))


def centre(page: Any, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def connect(page: Any, source: str, target: str) -> None:
    """Drag from the source's output handle to the target's input handle."""
    x1, y1 = centre(page, f"{node(source)} .react-flow__handle.source")
    x2, y2 = centre(page, f"{node(target)} .react-flow__handle.target")
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2, steps=5)
    page.mouse.move(x2, y2, steps=5)
    page.mouse.up()


def edges(page: Any) -> set[str]:
    ids = page.eval_on_selector_all(
        ".react-flow__edge", "els => els.map(e => e.getAttribute('data-id'))"
    )
    return set(ids)


def wait_until(page: Any, expression: str, timeout: float = 15) -> None:
    """Poll `expression` in the page until it is truthy. (wait_for_function
    compiles its predicate with eval, which the site's CSP refuses.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def wait_valid(page: Any) -> None:
    page.wait_for_selector("[data-testid=validation-status]:text-is('Valid')")


def toast(page: Any) -> str:
    return page.locator("[data-testid=toast]").inner_text()


def test_a_diamond_built_with_mouse_and_keyboard_is_saved_reloaded_edited_and_run(
    page: Any, user: Any, project: Any
) -> None:
    log_in(page, "alice", PASSWORD)
    open_editor(page, "/workflows/new/editor/")
    assert page.locator("[data-testid=empty-hint]").is_visible()

    page.fill("input[name=workflow-name]", "drawn")
    # Three tasks dragged from the palette, one added from the keyboard.
    drop_template(page, "shell", 420, 120)
    rename_selected(page, "a")
    drop_template(page, "python", 220, 300)
    rename_selected(page, "b")
    drop_template(page, "container", 620, 300)
    rename_selected(page, "c")
    page.focus("[data-template=shell]")
    page.keyboard.press("Enter")
    rename_selected(page, "d")
    # Dragged from the middle of the view to below b and c.
    canvas = page.locator(CANVAS).bounding_box()
    page.locator(node("d")).hover()
    page.mouse.down()
    page.mouse.move(canvas["x"] + 420, canvas["y"] + 480, steps=8)
    page.mouse.up()
    assert not page.locator("[data-testid=empty-hint]").count()

    # Edges by dragging handle to handle, and one by keyboard in the form.
    connect(page, "a", "b")
    connect(page, "a", "c")
    connect(page, "b", "d")
    page.click(node("d"))
    checkbox = page.locator(".fd-panel").get_by_role("checkbox", name="c", exact=True)
    checkbox.focus()
    page.keyboard.press("Space")
    wait_until(page, "document.querySelectorAll('.react-flow__edge').length == 4")
    assert edges(page) == {"a->b", "a->c", "b->d", "c->d"}

    # A cycle is refused with a message, and nothing changes.
    connect(page, "d", "a")
    assert "would close a cycle" in toast(page)
    assert "a → b → d → a" in toast(page) or "a → c → d → a" in toast(page)
    assert len(edges(page)) == 4

    # The task form: image, script, env, resources with units, retries.
    page.click(node("c"))
    page.fill(".fd-panel input[name=image]", "")
    # The server's validator flags the missing image on the node and the field.
    page.wait_for_selector(
        '.fd-panel [data-error-path="spec.tasks[2].image"]', timeout=10_000
    )
    assert "required" in page.locator(node("c")).inner_text()
    page.fill(".fd-panel input[name=image]", "alpine:3.20")
    page.select_option(".fd-panel select[name=command-mode]", "shell")
    page.fill(".fd-panel textarea[name=script]", "echo $GREETING")
    page.click("text=+ Add variable")
    page.fill("[aria-label='Variable 1 name']", "GREETING")
    page.fill("[aria-label='Variable 1 value']", "{{params.greeting}}")
    page.fill("[aria-label='CPU request']", "250")
    page.select_option("[aria-label='CPU request unit']", "m")
    page.fill("[aria-label='Memory limit']", "256")
    page.select_option("[aria-label='Memory limit unit']", "Mi")
    page.fill(".fd-panel input[name=retry-limit]", "2")
    page.fill(".fd-panel input[name=timeout]", "5")
    page.select_option("[aria-label='Timeout unit']", "m")
    page.fill(".fd-panel input[name=priority]", "10")
    # An unknown parameter is an error at that string...
    page.wait_for_selector('[data-error-path="spec.tasks[2].env[0].value"]')
    # ...until the workflow declares it, with a default.
    page.keyboard.press("Escape")
    page.click(".react-flow__pane", position={"x": 30, "y": 30})
    page.click("text=+ Add parameter")
    page.fill("[aria-label='Parameter 1 name']", "greeting")
    page.fill("[aria-label='Parameter 1 default']", "hello")
    page.fill(".fd-panel input[name=parallelism]", "2")
    wait_valid(page)

    # Create: version 1, with a message.
    page.click("button:has-text('Create')")
    page.fill("#fd-save-message", "first draft")
    page.click("dialog button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/\d+/editor/$"))
    assert "Saved version 1" in toast(page)
    workflow = Workflow.objects.get(name="drawn")
    document = workflow.latest_version.document
    assert workflow.latest_version.message == "first draft"
    tasks = {task["name"]: task for task in document["spec"]["tasks"]}
    assert tasks["d"]["dependencies"] == ["b", "c"]
    assert tasks["c"]["command"] == ["sh", "-c", "echo $GREETING"]
    assert tasks["c"]["resources"] == {
        "requests": {"cpu": "250m"},
        "limits": {"memory": "256Mi"},
    }
    assert tasks["c"]["retry"] == {"limit": 2}
    assert tasks["c"]["timeout"] == "5m"
    assert tasks["c"]["priority"] == 10
    assert document["spec"]["parallelism"] == 2
    assert set(document["spec"]["ui"]["positions"]) == {"a", "b", "c", "d"}

    # Reload: the same graph, in the same places, with the same values.
    before = {name: page.locator(node(name)).bounding_box() for name in "abcd"}
    page.reload()
    page.wait_for_selector(node("d"))
    assert edges(page) == {"a->b", "a->c", "b->d", "c->d"}
    after = {name: page.locator(node(name)).bounding_box() for name in "abcd"}
    assert _shape(before) == _shape(after)
    page.click(node("c"))
    assert page.input_value(".fd-panel input[name=image]") == "alpine:3.20"
    assert page.input_value("[aria-label='CPU request']") == "250"

    # The YAML view: a syntax error is reported with its line; a valid edit
    # changes the canvas.
    text = page.locator("textarea[name=spec-text]")
    good = text.input_value()
    text.fill(good + "  oops: [unclosed\n")
    page.wait_for_selector("[data-testid=text-error]")
    assert re.match(r"Line \d+", page.inner_text("[data-testid=text-error]"))
    parsed = yaml.safe_load(good)
    parsed["spec"]["tasks"].append(
        {
            "name": "e",
            "image": "busybox",
            "command": ["sh", "-c", "true"],
            "dependencies": ["d"],
        }
    )
    text.fill(yaml.safe_dump(parsed, sort_keys=False))
    page.wait_for_selector(node("e"))
    assert "d->e" in edges(page)
    assert not page.locator("[data-testid=text-error]").count()
    wait_valid(page)

    page.click("button:has-text('Save')")
    page.fill("#fd-save-message", "add e from YAML")
    page.click("dialog button[type=submit]")
    page.wait_for_selector("[data-testid=toast]:has-text('Saved version 2')")
    workflow.refresh_from_db()
    assert workflow.latest_version.number == 2

    # Run it with its parameter's default filled in, and land on the run page.
    page.click("button:has-text('Run…')")
    assert page.input_value("#fd-param-greeting") == "hello"
    page.click("dialog button:has-text('Start run')")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run = Run.objects.get(workflow=workflow)
    assert page.url.endswith(f"/runs/{run.pk}/")
    assert run.version.number == 2
    assert run.parameters == {"greeting": "hello"} or run.parameters


def _shape(boxes: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Positions relative to task a, to the pixel (fitView may pan the view)."""
    ax, ay = boxes["a"]["x"], boxes["a"]["y"]
    scale = boxes["a"]["width"]
    return {
        name: (round((box["x"] - ax) / scale * 10), round((box["y"] - ay) / scale * 10))
        for name, box in boxes.items()
    }


@pytest.fixture
def two_versions(user: Any, project: Any) -> Workflow:
    workflow = create_workflow(
        diamond_document(), author=user, project=project, message="first"
    )
    update_workflow(
        workflow, diamond_document(parallelism=3), author=user, message="limit it"
    )
    return workflow


def test_edits_undo_redo_copy_paste_and_layout_from_the_keyboard(
    page: Any, two_versions: Workflow
) -> None:
    log_in(page, "alice", PASSWORD)
    open_editor(page, f"/workflows/{two_versions.pk}/editor/")
    page.wait_for_selector(node("d"))
    # Laid out on first open (the stored spec has no positions): not a change.
    assert page.locator(".fd-editor").get_attribute("data-dirty") == "false"

    # Delete a task with the keyboard; Ctrl+Z brings it and its edges back.
    page.click(node("b"))
    page.keyboard.press("Delete")
    page.wait_for_selector(node("b"), state="detached")
    assert edges(page) == {"a->c", "c->d"}
    page.keyboard.press("Control+z")
    page.wait_for_selector(node("b"))
    assert edges(page) == {"a->b", "a->c", "b->d", "c->d"}
    page.keyboard.press("Control+Shift+z")
    page.wait_for_selector(node("b"), state="detached")
    page.keyboard.press("Control+z")
    page.wait_for_selector(node("b"))

    # Multi-select b and c, copy and paste: copies keep no outside edges.
    page.click(node("b"))
    page.click(node("c"), modifiers=["Shift"])
    assert "2 selected" in page.inner_text(".fd-palette")
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    page.wait_for_selector(node("b-2"))
    page.wait_for_selector(node("c-2"))
    assert not any(edge.endswith("-2") for edge in edges(page))
    # Duplicate with Ctrl+D, then select everything and delete the copies.
    page.click(node("a"))
    page.keyboard.press("Control+d")
    page.wait_for_selector(node("a-2"))
    page.keyboard.press("Control+z")
    page.wait_for_selector(node("a-2"), state="detached")

    # A connection is selected by clicking it and deleted with the keyboard,
    # even while a task was selected (React Flow unselects it as a change of
    # its own, which must not undo the edge's selection).
    page.click(node("c"))
    middle = page.evaluate(
        """() => {
          const path = document.querySelector(
            '.react-flow__edge[data-id="a->b"] .react-flow__edge-interaction');
          const point = path.getPointAtLength(path.getTotalLength() / 2);
          const box = path.ownerSVGElement.getScreenCTM();
          return [point.x * box.a + box.e, point.y * box.d + box.f];
        }"""
    )
    page.mouse.click(*middle)
    page.keyboard.press("Delete")
    page.wait_for_selector('.react-flow__edge[data-id="a->b"]', state="detached")
    assert "Deleted 1 connection" in toast(page)
    assert page.locator(node("c")).count() == 1
    page.keyboard.press("Control+z")
    page.wait_for_selector('.react-flow__edge[data-id="a->b"]')

    # A task is selected from the keyboard: focus it, press Enter.
    page.focus(node("c"))
    page.keyboard.press("Enter")
    assert page.input_value(".fd-panel input[name=name]") == "c"

    # Auto-layout left to right puts d to the right of a.
    page.click("button:has-text('Layout →')")
    page.wait_for_timeout(200)
    a = page.locator(node("a")).bounding_box()
    d = page.locator(node("d")).bounding_box()
    assert d["x"] > a["x"] + a["width"]
    assert page.locator(".fd-editor").get_attribute("data-dirty") == "true"

    # Leaving with unsaved changes asks first.
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]


def test_history_diff_restore_import_and_export(
    page: Any, two_versions: Workflow, tmp_path: Path
) -> None:
    log_in(page, "alice", PASSWORD)
    open_editor(page, f"/workflows/{two_versions.pk}/editor/")
    page.wait_for_selector(node("d"))

    # History: v1 against v2 side by side, the changed line marked.
    page.click("button:has-text('History')")
    page.wait_for_selector(".fd-diff")
    assert "parallelism: 3" in page.inner_text(".fd-diff--added, .fd-diff--changed")
    assert "limit it" in page.inner_text(".fd-versions")
    # Restore v1 and save it as v3.
    page.locator(".fd-versions tr", has_text="first").locator("button").click()
    assert "Restored v1" in toast(page)
    page.click("button:has-text('Save')")
    assert page.input_value("#fd-save-message") == "restore v1"
    page.click("dialog button[type=submit]")
    page.wait_for_selector("[data-testid=toast]:has-text('Saved version 3')")
    two_versions.refresh_from_db()
    assert "parallelism" not in two_versions.latest_version.document["spec"]

    # Export the YAML file and the picture (graphviz on the server).
    with page.expect_download() as download:
        page.click("summary:has-text('Export')")
        page.click("button:has-text('YAML file')")
    exported = yaml.safe_load(Path(download.value.path()).read_text())
    assert [task["name"] for task in exported["spec"]["tasks"]] == list("abcd")
    with page.expect_download() as picture:
        page.click("button:has-text('Picture (SVG)')")
    assert "<svg" in Path(picture.value.path()).read_text()

    # Import a YAML file: the canvas shows it; the workflow keeps its name.
    exported["metadata"]["name"] = "renamed"
    exported["spec"]["tasks"].append(
        {"name": "e", "image": "busybox", "dependencies": ["a"]}
    )
    source = tmp_path / "more.yaml"
    source.write_text(yaml.safe_dump(exported, sort_keys=False))
    page.set_input_files("[data-testid=import-file]", str(source))
    page.wait_for_selector(node("e"))
    assert "Imported more.yaml" in toast(page)
    assert "a->e" in edges(page)
    assert "name: diamond" in page.input_value("textarea[name=spec-text]")


PAYLOAD = '<img src=x onerror="window.__xss=1">'


def test_what_users_wrote_shows_as_text_in_the_editor(
    page: Any, user: Any, project: Any
) -> None:
    document = diamond_document("inert")
    document["metadata"]["description"] = PAYLOAD
    document["metadata"]["labels"] = {"team": PAYLOAD}
    document["spec"]["parameters"] = [{"name": "p", "default": PAYLOAD}]
    document["spec"]["tasks"][0]["command"] = ["sh", "-c", PAYLOAD]
    workflow = create_workflow(document, author=user, project=project)
    log_in(page, "alice", PASSWORD)
    open_editor(page, f"/workflows/{workflow.pk}/editor/")
    page.wait_for_selector(node("d"))
    assert page.input_value(".fd-panel textarea[name=description]") == PAYLOAD
    wait_until(page, "document.querySelector('textarea[name=spec-text]').value")
    assert "window.__xss=1" in page.input_value("textarea[name=spec-text]")
    page.click(node("a"))
    assert page.input_value(".fd-panel textarea[name=script]") == PAYLOAD
    page.click("button:has-text('Run…')")
    assert page.input_value("#fd-param-p") == PAYLOAD
    page.keyboard.press("Escape")
    page.click("button:has-text('History')")
    page.wait_for_selector(".fd-versions")
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_a_new_workflow_is_created_in_the_project_picked_and_json_edits_work(
    page: Any, user: Any, project: Any, other_project: Any
) -> None:
    member(other_project, user, Role.EDITOR)
    log_in(page, "alice", PASSWORD)
    open_editor(page, "/workflows/new/editor/")
    # Typed as JSON in the text view this time.
    page.click("[role=radio]:has-text('JSON')")
    text = page.locator("textarea[name=spec-text]")
    wait_until(page, "document.querySelector('textarea[name=spec-text]').value")
    document = diamond_document("picked")
    text.fill(json.dumps(document, indent=2)[:-3])  # cut short: invalid
    page.wait_for_selector("[data-testid=text-error]")
    assert re.match(r"Line \d+", page.inner_text("[data-testid=text-error]"))
    text.fill(json.dumps(document, indent=2))
    page.wait_for_selector(node("d"))
    assert edges(page) == {"a->b", "a->c", "b->d", "c->d"}
    wait_valid(page)

    # Two projects: creating without choosing one is refused at the field.
    page.click("button:has-text('Create')")
    page.click("dialog button[type=submit]")
    page.wait_for_selector('.fd-panel [data-error-path="project"]')
    page.select_option(".fd-panel select[name=project]", str(other_project.pk))
    page.click("button:has-text('Create')")
    page.click("dialog button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/\d+/editor/$"))
    assert Workflow.objects.get(name="picked").project == other_project
