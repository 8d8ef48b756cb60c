"""The browser UI as a new user finds it (issue 12): what got in the way of a
first session in Chromium at 1440×900, each fixed and held here."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.db.models import F
from playwright.sync_api import expect

from flowcore.states import AttemptStatus
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_editor import (
    CANVAS,
    connect,
    drop_template,
    node,
    rename_selected,
    toast,
    wait_valid,
)
from tests.browser.test_run_monitor import off_loop
from tests.conftest import (
    diamond_document,
    drive_run,
    member,
    shell_task,
    workflow_document,
)
from workflows.models import Attempt, Project, Role, Run, TaskRun, Workflow
from workflows.services.submit import create_workflow, submit_run, update_workflow

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


# --- 4, 5, 7. the run's duration and timeline after a retry; a near-zero run --


def _backdate(run: Run, seconds: int) -> None:
    """Move everything that happened in `run` so far `seconds` into the past,
    as if the retry came that much later."""
    shift = timedelta(seconds=seconds)
    Run.objects.filter(pk=run.pk).update(
        started_at=F("started_at") - shift, finished_at=F("finished_at") - shift
    )
    TaskRun.objects.filter(run=run).update(
        started_at=F("started_at") - shift, finished_at=F("finished_at") - shift
    )
    Attempt.objects.filter(task_run__run=run).update(
        created_at=F("created_at") - shift,
        started_at=F("started_at") - shift,
        finished_at=F("finished_at") - shift,
    )


def test_a_retried_run_shows_its_latest_round_apart_from_the_total(
    live_page: Any, user: Any, project: Project
) -> None:
    workflow = create_workflow(diamond_document(), author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    run = off_loop(drive_run, run, {"b": AttemptStatus.FAILED})
    _backdate(run, 400)
    log_in(live_page, "alice", PASSWORD)
    live_page.set_viewport_size({"width": 1440, "height": 900})
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/"))
    live_page.locator('.fd-node[data-task="b"][data-status="Failed"]').click()
    live_page.get_by_role("button", name="Retry from here").click()
    live_page.get_by_role("button", name="Confirm retry").click()
    notice = live_page.get_by_text(re.compile(r"^Retrying 2 tasks"))
    notice.wait_for()
    off_loop(drive_run, Run.objects.get(pk=run.pk))
    live_page.locator('.fd-run[data-run-status="Succeeded"]').wait_for()
    # The retry's banner ends with the run it was about.
    notice.wait_for(state="detached")

    round_seconds = live_page.get_by_test_id("round-duration").inner_text()
    total = live_page.get_by_test_id("run-duration").inner_text()
    assert re.fullmatch(r"\d\.\ds", round_seconds), round_seconds
    assert re.fullmatch(r"6m \d\ds", total), total

    timeline = live_page.get_by_test_id("timeline")
    assert timeline.get_attribute("data-focus") == "round"
    rows = timeline.locator(".fd-gantt__row")
    assert [rows.nth(i).get_attribute("data-row") for i in range(rows.count())] == [
        "b",
        "d",
    ]
    # The round's bars use the width, not slivers at the right.
    width = timeline.locator('[data-row="b"] .fd-gantt__track').bounding_box()["width"]
    bar = timeline.locator('[data-row="b"] .fd-gantt__bar').bounding_box()
    track = timeline.locator('[data-row="b"] .fd-gantt__track').bounding_box()
    assert bar["x"] - track["x"] < width * 0.05
    screenshot(live_page, "first-use-retried-run")
    live_page.get_by_role("button", name="Whole run").click()
    assert timeline.get_attribute("data-focus") == "run"
    assert rows.count() == 4
    assert timeline.locator('[data-row="b"] .fd-gantt__bar').count() == 2


def test_a_run_over_in_milliseconds_is_drawn_from_the_left_on_a_readable_axis(
    live_page: Any, user: Any, project: Project
) -> None:
    workflow = create_workflow(diamond_document(), author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    run = off_loop(drive_run, run, {"a": AttemptStatus.ERROR})
    log_in(live_page, "alice", PASSWORD)
    live_page.set_viewport_size({"width": 1440, "height": 900})
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/"))
    timeline = live_page.get_by_test_id("timeline")
    timeline.wait_for()
    track = timeline.locator('[data-row="a"] .fd-gantt__track').bounding_box()
    bar = timeline.locator('[data-row="a"] .fd-gantt__bar').bounding_box()
    assert bar["x"] - track["x"] < track["width"] * 0.02
    assert bar["width"] >= 2
    ticks = timeline.locator(".fd-gantt__tick").all_inner_texts()
    assert len(ticks) >= 5 and ticks[0] == "+0.0s" and ticks[-1] == "+1.0s", ticks
    screenshot(live_page, "first-use-instant-run")


# --- 8. tasks typed in the text view ----------------------------------------------


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"]
        and inner["y"] >= outer["y"]
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"]
    )


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_tasks_added_in_the_yaml_are_placed_by_the_layout_in_view(
    page: Any, user: Any, project: Project
) -> None:
    workflow = create_workflow(diamond_document(), author=user, project=project)
    log_in(page, "alice", PASSWORD)
    open_editor(page, f"/workflows/{workflow.pk}/editor/")
    page.wait_for_selector(node("d"))
    text = page.locator("textarea[name=spec-text]")
    expect(text).to_have_value(
        re.compile("apiVersion")
    )  # written after the first paint
    parsed = yaml.safe_load(text.input_value())
    for name in ("e", "f", "g"):
        parsed["spec"]["tasks"].append(
            {
                "name": name,
                "image": "busybox:1.36",
                "command": ["sh", "-c", "true"],
                "dependencies": ["d"],
            }
        )
    text.fill(yaml.safe_dump(parsed, sort_keys=False))
    page.wait_for_selector(node("g"))
    page.wait_for_timeout(400)  # the view settles
    canvas = page.locator(CANVAS).bounding_box()
    controls = page.locator(".react-flow__controls").bounding_box()
    minimap = page.locator(".react-flow__minimap").bounding_box()
    boxes = {name: page.locator(node(name)).bounding_box() for name in "defg"}
    screenshot(page, "first-use-yaml-added")
    for name in "efg":
        assert boxes[name] is not None, f"{name} is not drawn"
        assert _inside(boxes[name], canvas), name
        assert not _overlap(boxes[name], controls), name
        assert not _overlap(boxes[name], minimap), name
        # One layer after d, not on it nor on each other.
        assert boxes[name]["y"] > boxes["d"]["y"] + boxes["d"]["height"]
    assert not _overlap(boxes["e"], boxes["f"])
    assert not _overlap(boxes["f"], boxes["g"])


# --- 6. the run page's minimap ------------------------------------------------------


def test_the_run_pages_minimap_draws_every_node_when_the_graph_needs_one(
    live_page: Any, user: Any, project: Project
) -> None:
    tasks = [shell_task("start")]
    tasks += [shell_task(f"shard-{i}", dependencies=["start"]) for i in range(14)]
    tasks += [shell_task("end", dependencies=[f"shard-{i}" for i in range(14)])]
    wide = create_workflow(
        workflow_document("wide", tasks), author=user, project=project
    )
    run = submit_run(wide.latest_version, user=user)
    log_in(live_page, "alice", PASSWORD)
    live_page.set_viewport_size({"width": 1440, "height": 900})
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/"))
    minimap = live_page.locator(".fd-run .react-flow__minimap-node")
    nodes = live_page.locator(".fd-run .react-flow__node")
    live_page.locator('.fd-node[data-task="end"]').wait_for()
    live_page.wait_for_timeout(500)
    assert nodes.count() == 16
    assert minimap.count() == 16
    off_loop(drive_run, Run.objects.get(pk=run.pk))
    live_page.locator('.fd-run[data-run-status="Succeeded"]').wait_for()
    live_page.locator('.fd-node[data-task="start"]').click()  # the graph narrows
    live_page.wait_for_timeout(500)
    assert minimap.count() == 16

    # A graph drawn whole at full size needs no overview hiding its nodes.
    small = create_workflow(diamond_document(), author=user, project=project)
    run = submit_run(small.latest_version, user=user)
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/"))
    live_page.locator('.fd-node[data-task="d"]').wait_for()
    live_page.wait_for_timeout(500)
    assert live_page.locator(".fd-run .react-flow__minimap").count() == 0


# --- 9. unknown ids ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/workflows/999/", "/runs/999/", "/workflows/999/editor/", "/projects/999/"],
)
def test_an_unknown_id_gets_the_sites_404_page_with_a_way_back(
    page: Any, user: Any, project: Project, path: str
) -> None:
    log_in(page, "alice", PASSWORD)
    response = page.goto(page.live_url(path))
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert page.locator(".topbar").is_visible()  # the site's navigation
    page.get_by_role("link", name="Back to the workflows").click()
    page.wait_for_url(page.live_url("/"))


# --- 13. the admin's favicon ----------------------------------------------------------


def test_the_admin_asks_for_no_icon_that_is_missing(
    page: Any, django_user_model: Any
) -> None:
    django_user_model.objects.create_superuser("root", password="pw-root-123")
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    log_in(page, "root", "pw-root-123")
    page.goto(page.live_url("/admin/"))
    page.wait_for_load_state("networkidle")
    assert page.locator("#site-name").count() == 1
    assert missing == []
    icon = page.request.get(page.live_url("/favicon.ico"))
    assert icon.status == 200
    assert icon.headers["content-type"] == "image/x-icon"


# --- 10. a state said once ------------------------------------------------------------

REPEATED = re.compile(r"\b(UpstreamFailed|Failed|Error|Skipped|Cancelled)\b\W+\1\b")


def test_a_state_is_said_once_with_its_reason_only_when_it_adds_something(
    live_page: Any, user: Any, project: Project
) -> None:
    workflow = create_workflow(diamond_document(), author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    run = off_loop(drive_run, run, {"a": AttemptStatus.FAILED})
    log_in(live_page, "alice", PASSWORD)
    live_page.set_viewport_size({"width": 1440, "height": 900})
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/"))
    d = live_page.locator('.fd-node[data-task="d"][data-status="UpstreamFailed"]')
    d.wait_for()
    texts = [d.inner_text(), d.get_attribute("aria-label") or ""]
    d.click()
    drawer = live_page.locator(".fd-drawer, [data-testid=task-drawer]").first
    for tab in ("Attempts", "History"):
        live_page.get_by_role("tab", name=re.compile(f"^{tab}")).click()
        live_page.wait_for_timeout(300)
        texts.append(drawer.inner_text())
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/tasks/d/logs/"))
    texts.append(live_page.locator("main, body").first.inner_text())
    for text in texts:
        assert not REPEATED.search(text), text


# --- 12. viewers ---------------------------------------------------------------------


def test_a_viewer_gets_the_editor_read_only_with_history_and_diff(
    page: Any, user: Any, project: Project, django_user_model: Any
) -> None:
    workflow = create_workflow(
        diamond_document(), author=user, project=project, message="first"
    )
    update_workflow(
        workflow, diamond_document(parallelism=3), author=user, message="limit it"
    )
    member(
        project,
        django_user_model.objects.create_user("vera", password="pw-vera-123"),
        Role.VIEWER,
    )
    log_in(page, "vera", "pw-vera-123")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(page.live_url(f"/workflows/{workflow.pk}/"))
    page.get_by_role("link", name="View in editor").click()
    page.wait_for_selector(node("d"))
    assert page.locator("[data-testid=read-only]").is_visible()
    for name in ("Save", "Create", "Run…", "Import…", "Undo", "Layout ↓"):
        assert page.get_by_role("button", name=name, exact=True).count() == 0, name
    assert page.locator("[data-template]").count() == 0  # no palette
    assert (
        page.locator("textarea[name=spec-text]").get_attribute("readonly") is not None
    )

    # A task's form is there to read, every control disabled.
    spec_text = page.locator("textarea[name=spec-text]")
    expect(spec_text).to_have_value(re.compile("apiVersion"))
    text = spec_text.input_value()
    before = page.locator(node("b")).bounding_box()
    page.click(node("b"))
    assert page.locator(".fd-panel input[name=image]").input_value() == "busybox:1.36"
    assert page.locator(".fd-panel input[name=image]").is_disabled()
    assert page.locator(".fd-panel button", has_text="Delete").is_disabled()
    page.keyboard.press("Delete")
    page.mouse.move(before["x"] + 20, before["y"] + 10)
    page.mouse.down()
    page.mouse.move(before["x"] + 220, before["y"] + 160, steps=6)
    page.mouse.up()
    # Not deleted, not moved (a drag pans the view instead): the same document.
    page.wait_for_timeout(300)
    assert page.locator(node("b")).count() == 1
    assert page.locator("textarea[name=spec-text]").input_value() == text
    assert page.locator(".fd-editor").get_attribute("data-dirty") == "false"
    screenshot(page, "first-use-viewer-editor")

    # History and its diff are there; restoring is not.
    page.get_by_role("button", name="History").click()
    page.wait_for_selector(".fd-diff")
    assert "parallelism: 3" in page.inner_text(".fd-diff--added, .fd-diff--changed")
    assert "limit it" in page.inner_text(".fd-versions")
    assert page.locator(".fd-versions button", has_text="Restore").count() == 0


# --- 7. messages end when their reason does -------------------------------------------


def test_a_refusal_ends_with_the_next_edit(
    page: Any, user: Any, project: Project
) -> None:
    workflow = create_workflow(diamond_document(), author=user, project=project)
    log_in(page, "alice", PASSWORD)
    open_editor(page, f"/workflows/{workflow.pk}/editor/")
    page.wait_for_selector(node("d"))
    connect(page, "d", "a")
    assert "would close a cycle" in toast(page)
    page.click(node("c"))
    page.fill(".fd-panel input[name=image]", "busybox:1.37")
    page.wait_for_selector("[data-testid=toast]", state="detached", timeout=3000)


# --- 11. the run page's graph fills its box -------------------------------------------


def test_a_small_graph_on_the_run_page_is_not_lost_in_an_empty_box(
    live_page: Any, user: Any, project: Project
) -> None:
    workflow = create_workflow(diamond_document(), author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    log_in(live_page, "alice", PASSWORD)
    live_page.set_viewport_size({"width": 1440, "height": 900})
    live_page.goto(live_page.live_url(f"/runs/{run.pk}/"))
    live_page.locator('.fd-node[data-task="d"]').wait_for()
    live_page.wait_for_timeout(500)
    canvas = live_page.get_by_test_id("dag").bounding_box()
    boxes = [
        live_page.locator(f'.react-flow__node[data-id="{name}"]').bounding_box()
        for name in "abcd"
    ]
    left = min(box["x"] for box in boxes)
    right = max(box["x"] + box["width"] for box in boxes)
    top = min(box["y"] for box in boxes)
    bottom = max(box["y"] + box["height"] for box in boxes)
    used = (right - left) * (bottom - top) / (canvas["width"] * canvas["height"])
    screenshot(live_page, "first-use-run-graph")
    assert used > 0.2, f"the graph uses {used:.0%} of its box"
    assert all(_inside(box, canvas) for box in boxes)
