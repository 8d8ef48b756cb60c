"""Control flow on the live run page, in a real Chromium, with the runs
carried out by the real local backend (k8s_runner.reconcile, as
test_run_data.py does): a skipped task reads grey with the condition it
evaluated, and a fan-out is one stacked node whose counts follow its
instances live, with their list behind it.

Set FLOWDECK_TEST_SCREENSHOTS=/tmp/somewhere to keep pictures of each state.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import expect

from flowcore.states import TERMINAL_RUN_STATUSES
from k8s_runner import reconcile
from tests.browser.conftest import screenshot
from tests.browser.test_run_data import (
    WIDE,
    example,
    quiet_backend,  # noqa: F401 (autouse: every local process ends first)
    run_to_end,
    workflow_from,
)
from tests.browser.test_run_monitor import PASSWORD, node, open_run
from tests.conftest import member, workflow_document
from workflows.models import Project, Role, Run, TaskRun

pytestmark = pytest.mark.django_db(transaction=True)

FAN_OUT = 200
PARALLELISM = 20


@pytest.fixture
def operator(django_user_model: Any, project: Project) -> Any:
    olga = django_user_model.objects.create_user("olga", password=PASSWORD)
    return member(project, olga, Role.OPERATOR)


def test_the_coin_flips_skipped_side_reads_grey_with_the_condition_it_evaluated(
    live_page: Any, operator: Any, project: Project
) -> None:
    run = workflow_from(example("coin-flip"), operator, project)
    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    node(live_page, "tails", "Pending").wait_for()

    run = run_to_end(run)
    assert run.status == "Succeeded"
    side, other = (
        ("heads", "tails")
        if TaskRun.objects.get(run=run, name="heads").status == "Succeeded"
        else ("tails", "heads")
    )
    condition = (
        f"when '{{{{tasks.flip.outputs.result}}}} == {other}' is false "
        f"({side} == {other})"
    )
    skipped = node(live_page, other, "Skipped")
    expect(skipped).to_have_attribute("data-reason", "Condition")
    expect(skipped).to_have_class(re.compile(r"\bfd-node--skipped\b"))
    # The node says why, once: not "Skipped: Skipped".
    expect(skipped.locator(".fd-node__subtitle")).to_have_text("Skipped: Condition")
    expect(skipped).to_have_attribute(
        "title", f"{other}: Skipped: Condition — {condition}"
    )
    # Grey: its colour is the legend's Skipped, and the node is dashed.
    colour = skipped.evaluate("e => getComputedStyle(e).borderLeftColor")
    assert colour == "rgb(148, 163, 184)", colour
    assert skipped.evaluate("e => getComputedStyle(e).borderTopStyle") == "dashed"
    node(live_page, side, "Succeeded").wait_for()
    node(live_page, "report", "Succeeded").wait_for()
    legend = live_page.get_by_test_id("legend")
    expect(legend.locator('[data-status="Skipped"]')).not_to_have_class(
        re.compile("absent")
    )
    expect(legend.locator('[data-status="Expanded"]')).to_have_class(
        re.compile("absent")
    )
    # The timeline marks where it was skipped.
    mark = live_page.locator(f'[data-row="{other}"] .fd-gantt__mark')
    expect(mark).to_have_attribute("title", re.compile(re.escape(condition)))
    screenshot(live_page, "control-flow-1-coin-flip-skipped")

    # Its drawer says why, and that it never ran.
    skipped.click()
    drawer = live_page.locator(f'.fd-drawer[data-task="{other}"]')
    expect(drawer.get_by_test_id("task-why")).to_have_text(f"Condition: {condition}")
    expect(drawer).to_contain_text("It did not run (Skipped: Condition)")
    screenshot(live_page, "control-flow-2-skipped-drawer")


def in_background(function: Any) -> Future[Any]:
    """Run `function` in a thread without Playwright's loop while the test
    watches the page (off_loop waits for it; this does not)."""

    def call() -> Any:
        try:
            return function()
        finally:
            connections.close_all()

    pool = ThreadPoolExecutor(1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def carry_out(run: Run, timeout: float = 240) -> Run:
    reconcile.reconcile(run.pk)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in TERMINAL_RUN_STATUSES:
            return run
        reconcile.sweep()
        time.sleep(0.1)
    raise AssertionError(f"run still {run.status}")


def fan_counts(page: Any) -> dict[str, int]:
    """The fan-out node's counts, read at one moment (one call into the page:
    the node may be drawn again between two reads)."""
    counts = page.locator('.fd-node[data-task="each"] [data-testid=fan-counts]')
    return counts.evaluate(
        "e => Object.fromEntries(['total', 'running', 'succeeded', 'failed', "
        "'queued'].map(k => [k, Number(e.dataset[k] || 0)]))"
    )


def test_a_200_item_fan_out_counts_live_and_lists_its_instances(
    live_page: Any, operator: Any, project: Project
) -> None:
    document = workflow_document(
        "wide-map",
        [
            {"name": "start", "image": "busybox:1.36", "command": ["true"]},
            {
                "name": "each",
                "image": "busybox:1.36",
                "command": ["true"],
                "dependencies": ["start"],
                "withSequence": {"count": FAN_OUT},
                "parallelism": PARALLELISM,
            },
            {
                "name": "after",
                "image": "busybox:1.36",
                "command": ["true"],
                "dependencies": ["each"],
            },
        ],
    )
    run = workflow_from(document, operator, project)
    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    node(live_page, "each", "Pending").wait_for()

    going = in_background(lambda: carry_out(run))
    # The fan-out becomes one stacked node counting its instances as they go.
    fan = node(live_page, "each", "Expanded")
    fan.wait_for(timeout=60_000)
    expect(fan).to_have_class(re.compile(r"\bfd-node--stack\b"))
    assert fan_counts(live_page)["total"] == FAN_OUT
    # Never more running than its parallelism, and the count only grows.
    seen_midway = False
    succeeded = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        counts = fan_counts(live_page)
        assert counts["running"] <= PARALLELISM, counts
        assert counts["succeeded"] >= succeeded, counts
        assert counts["failed"] == 0, counts
        assert sum(counts[k] for k in ("running", "succeeded", "queued")) == FAN_OUT
        succeeded = counts["succeeded"]
        if not seen_midway and 0 < succeeded < FAN_OUT:
            seen_midway = True
            screenshot(live_page, "control-flow-3-fan-out-running")
            # The list opens while it runs: Running shows what runs.
            fan.click()
            panel = live_page.locator('.fd-fanout[data-fanout="each"]')
            panel.locator("[data-filter=running]").click()
            rows = panel.locator("tbody tr")
            for status in rows.evaluate_all("rs => rs.map(r => r.dataset.status)"):
                assert status in ("Running", "Retrying"), status
            screenshot(live_page, "control-flow-4-instances-running")
            panel.get_by_role("button", name="Close the fan-out").click()
        if succeeded == FAN_OUT:
            break
        live_page.wait_for_timeout(150)
    assert succeeded == FAN_OUT, fan_counts(live_page)
    assert seen_midway, "the page never showed the fan-out part way"
    run = going.result(timeout=120)
    assert run.status == "Succeeded"
    done = node(live_page, "each", "Succeeded")
    node(live_page, "after", "Succeeded").wait_for()
    expect(done.get_by_test_id("fan-counts")).to_have_text("200 succeeded of 200")
    # Not 200 nodes: the graph has the workflow's three tasks.
    expect(live_page.locator(".react-flow__node")).to_have_count(3)
    screenshot(live_page, "control-flow-5-fan-out-done")

    # Its instances: index, item, status, attempts, duration; a page at a time.
    done.click()
    panel = live_page.locator('.fd-fanout[data-fanout="each"]')
    expect(panel.get_by_test_id("fanout-summary")).to_have_text("200 succeeded of 200")
    expect(panel.get_by_test_id("instances-range")).to_have_text("1–100 of 200")
    first = panel.locator('tr[data-instance="each[0]"]')
    expect(first.locator("td").nth(1)).to_have_text("0")  # withSequence's item
    expect(first.locator("td").nth(2)).to_have_text("Succeeded")
    expect(first.locator("td").nth(3)).to_have_text("1")
    expect(first.locator("td").nth(4)).to_have_text(re.compile(r"^\d+(\.\d)?s$"))
    panel.get_by_role("button", name="Next").click()
    expect(panel.get_by_test_id("instances-range")).to_have_text("101–200 of 200")
    expect(panel.locator("tbody tr").first).to_have_attribute(
        "data-instance", "each[100]"
    )
    screenshot(live_page, "control-flow-6-instance-list")
    # Filtering: none failed; the failed filter says so; all again.
    failed = panel.locator("[data-filter=failed]")
    expect(failed).to_have_text("Failed 0")
    failed.click()
    expect(failed).to_have_attribute("aria-pressed", "true")
    expect(panel).to_contain_text("No instance in this state.")
    panel.locator("[data-filter=succeeded]").click()
    expect(panel.get_by_test_id("instances-range")).to_have_text("1–100 of 200")

    # One instance's drawer, opened from the keyboard: its log, attempts and
    # item, and the way back to the list as it was.
    panel.get_by_role("button", name="Open each[42]").focus()
    live_page.keyboard.press("Enter")
    drawer = live_page.locator('.fd-drawer[data-task="each[42]"]')
    expect(drawer.locator("[data-field=item]")).to_have_text("42")
    expect(drawer.get_by_role("tab", name="Attempts (1)")).to_be_visible()
    expect(live_page.get_by_test_id("log-lines")).to_be_visible()
    drawer.get_by_role("tab", name="Inputs / Outputs").click()
    expect(drawer.get_by_test_id("task-data")).to_be_visible()
    screenshot(live_page, "control-flow-7-instance-drawer")
    drawer.get_by_role("button", name="← All instances of each").click()
    expect(panel.locator("[data-filter=succeeded]")).to_have_attribute(
        "aria-pressed", "true"
    )
