"""Sub-workflows and exit handlers on the live run page, in a real Chromium,
with the runs carried out by the real local backend (as
test_run_control_flow.py does): a sub-workflow task's node links to its child
run as soon as it starts, the child's header links back to the task it is a
run of; exit handlers are drawn in their own "On exit" group, on the graph and
in the timeline.

Set FLOWDECK_TEST_SCREENSHOTS=/tmp/somewhere to keep pictures of each state.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_run_control_flow import carry_out, in_background
from tests.browser.test_run_data import (
    WIDE,
    example,
    quiet_backend,  # noqa: F401 (autouse: every local process ends first)
    run_to_end,
    workflow_from,
)
from tests.browser.test_run_monitor import PASSWORD, node, open_run
from tests.conftest import member, shell_task, workflow_document
from workflows.models import Project, Role, Run
from workflows.services.submit import create_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(django_user_model: Any, project: Project) -> Any:
    olga = django_user_model.objects.create_user("olga", password=PASSWORD)
    return member(project, olga, Role.OPERATOR)


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


def test_a_sub_workflow_task_links_to_its_child_run_and_the_child_back_to_it(
    live_page: Any, operator: Any, project: Project
) -> None:
    create_workflow(example("etl-values"), author=operator, project=project)
    run = workflow_from(example("sub-workflow"), operator, project)
    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    etl = node(live_page, "etl", "Pending")
    etl.wait_for()
    # What it runs is on the node before it starts.
    expect(etl).to_contain_text("runs etl-values")
    expect(etl.get_by_test_id("child-run-link")).to_have_count(0)

    going = in_background(lambda: carry_out(run, timeout=120))
    # The child run is not in the events: the page reads it as the task starts.
    link = live_page.locator('.fd-node[data-task="etl"]').get_by_test_id(
        "child-run-link"
    )
    expect(link).to_have_text(re.compile(r"^open run #\d+$"), timeout=60_000)
    run = going.result(timeout=150)
    assert run.status == "Succeeded"
    child = Run.objects.get(parent_run=run)
    expect(link).to_have_text(f"open run #{child.pk}")
    node(live_page, "etl", "Succeeded").wait_for()
    node(live_page, "announce", "Succeeded").wait_for()
    screenshot(live_page, "subworkflow-1-parent")

    # The drawer says what it runs and links the child too.
    node(live_page, "etl", "Succeeded").click()
    drawer = live_page.locator('.fd-drawer[data-task="etl"]')
    expect(drawer).to_contain_text("workflow etl-values (its latest version)")
    children = drawer.get_by_test_id("drawer-child-runs")
    expect(children).to_contain_text(f"run #{child.pk}")
    expect(children).to_contain_text("Succeeded")
    expect(drawer).to_contain_text("A sub-workflow has no log of its own")
    screenshot(live_page, "subworkflow-2-drawer")

    # Following the node's link opens the child, which finished well.
    live_page.locator('.fd-node[data-task="etl"]').get_by_test_id(
        "child-run-link"
    ).click()
    live_page.wait_for_url(re.compile(rf"/runs/{child.pk}/$"))
    live_page.locator('[data-connection="live"]').wait_for()
    expect(live_page.locator(".fd-run")).to_have_attribute(
        "data-run-status", "Succeeded"
    )
    lineage = live_page.get_by_test_id("parent-run")
    expect(lineage).to_have_text(f"run of task etl of run #{run.pk}")
    for name in ("extract", "transform", "load"):
        node(live_page, name, "Succeeded").wait_for()
    screenshot(live_page, "subworkflow-3-child")

    # And back: the task's link opens the parent with etl's drawer open.
    lineage.get_by_role("link", name="etl").click()
    live_page.wait_for_url(re.compile(rf"/runs/{run.pk}/#task-etl$"))
    expect(live_page.locator('.fd-drawer[data-task="etl"]')).to_be_visible()
    live_page.goto(live_page.live_url(f"/runs/{child.pk}/"))
    live_page.get_by_test_id("parent-run").get_by_role(
        "link", name=f"run #{run.pk}"
    ).click()
    live_page.wait_for_url(re.compile(rf"/runs/{run.pk}/$"))
    expect(live_page.get_by_test_id("parent-run")).to_have_count(0)


def test_each_instance_of_a_sub_workflow_fan_out_links_to_its_own_child_run(
    live_page: Any, operator: Any, project: Project
) -> None:
    square = workflow_document(
        "square",
        [shell_task("calc", "echo $(( {{params.n}} * {{params.n}} ))")],
        parameters=[{"name": "n"}],
    )
    create_workflow(square, author=operator, project=project)
    each = {
        "name": "each",
        "workflow": {"name": "square", "parameters": {"n": "{{item}}"}},
        "withItems": [2, 3],
    }
    run = run_to_end(
        workflow_from(workflow_document("squares", [each]), operator, project), 60
    )
    assert run.status == "Succeeded"
    children = {
        child.parent_task: child for child in Run.objects.filter(parent_run=run)
    }
    assert sorted(children) == ["each[0]", "each[1]"]

    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    fan = node(live_page, "each", "Succeeded")
    expect(fan).to_contain_text("runs square")
    fan.click()
    panel = live_page.locator('.fd-fanout[data-fanout="each"]')
    panel.get_by_role("button", name="Open each[1]").click()
    drawer = live_page.locator('.fd-drawer[data-task="each[1]"]')
    expect(drawer).to_contain_text("workflow square (its latest version)")
    child = children["each[1]"]
    links = drawer.get_by_test_id("drawer-child-runs")
    expect(links).to_have_text(re.compile(rf"^run #{child.pk}\s*Succeeded$"))
    screenshot(live_page, "subworkflow-4-instance-drawer")

    links.get_by_role("link", name=f"run #{child.pk}").click()
    live_page.wait_for_url(re.compile(rf"/runs/{child.pk}/$"))
    lineage = live_page.get_by_test_id("parent-run")
    expect(lineage).to_have_text(f"run of task each[1] of run #{run.pk}")
    lineage.get_by_role("link", name="each[1]").click()
    expect(live_page.locator('.fd-drawer[data-task="each[1]"]')).to_be_visible()


def test_an_exit_handler_is_drawn_in_the_on_exit_group_with_its_status(
    live_page: Any, operator: Any, project: Project
) -> None:
    run = workflow_from(example("exit-handler"), operator, project)
    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    report = node(live_page, "report", "Pending")
    report.wait_for()
    lane = live_page.get_by_test_id("exit-lane")
    expect(lane).to_have_text("On exit")
    # The handler is in the lane; the run's tasks are not.
    assert inside(box(report), box(lane))
    assert not inside(box(node(live_page, "load", "Pending")), box(lane))
    expect(report).to_have_attribute("data-exit-handler", "true")

    run = run_to_end(run)
    assert run.status == "Failed"
    report = node(live_page, "report", "Succeeded")
    report.wait_for()
    node(live_page, "load", "Failed").wait_for()
    assert inside(box(report), box(lane))
    # The timeline lists it under its own heading, after the run's tasks.
    timeline = live_page.get_by_test_id("timeline")
    heading = timeline.get_by_test_id("timeline-exit-group")
    expect(heading).to_contain_text("On exit")
    rows = timeline.locator("[data-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.row)"
    )
    assert rows == ["extract", "load", "report"], rows
    assert box(heading)["y"] > box(timeline.locator('[data-row="load"]'))["y"]
    assert box(heading)["y"] < box(timeline.locator('[data-row="report"]'))["y"]
    expect(
        timeline.locator('[data-row="report"] .fd-gantt__bar[data-status="Succeeded"]')
    ).to_have_count(1)
    screenshot(live_page, "exit-handler-1-run")

    report.click()
    drawer = live_page.locator('.fd-drawer[data-task="report"]')
    expect(drawer).to_contain_text("ran once every other task had ended")
    live_page.get_by_role("tab", name="Logs").click()
    expect(live_page.get_by_test_id("log-lines")).to_contain_text(
        "the run Failed: failures"
    )
    screenshot(live_page, "exit-handler-2-drawer")
