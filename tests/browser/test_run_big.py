"""A big run's page (a small one here, so the tests are quick; the 10,000-task
figures are benchmarks/big_run.py's): the task summary, collapsed groups, and
a task found by name and opened, even one drawn inside a group."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.test_run_monitor import off_loop, open_run
from tests.browser.test_run_monitor import operator as operator  # the fixture
from tests.conftest import shell_task, workflow_document
from workflows.models import Project, Run, TaskRun
from workflows.services.advance import advance_run
from workflows.services.submit import create_workflow, submit_run


def staged_run(operator: Any, project: Project) -> Run:
    """Two stages, each a gate and 60 workers after it; s0-gate succeeded,
    s0-w7 failed, s0-w8 running."""
    tasks = []
    for stage in range(2):
        gate = f"s{stage}-gate"
        tasks.append(
            shell_task(gate, dependencies=[f"s{stage - 1}-gate"] if stage else [])
        )
        tasks += [shell_task(f"s{stage}-w{i}", dependencies=[gate]) for i in range(60)]
    document = workflow_document("stages", tasks)
    workflow = create_workflow(document, author=operator, project=project)
    run = submit_run(workflow.latest_version, user=operator)
    advance_run(run.pk)
    TaskRun.objects.filter(run=run, name="s0-gate").update(status="Succeeded")
    TaskRun.objects.filter(run=run, name="s0-w7").update(status="Failed")
    TaskRun.objects.filter(run=run, name="s0-w8").update(status="Running")
    return run


def test_a_big_run_opens_on_a_summary_and_collapsed_groups(
    live_page: Any, operator: Any, project: Project
) -> None:
    run = off_loop(staged_run, operator, project)
    open_run(live_page, run)
    summary = live_page.locator("[data-testid=task-summary]")
    expect(summary).to_contain_text("122 · ")
    for part in ("1 Succeeded", "1 Failed", "1 Running"):
        expect(summary).to_contain_text(part)
    # Each stage's 60 workers are one node: 2 gates and 2 groups in all.
    live_page.locator(".fd-node", has_text="×60").first.wait_for()
    drawn = live_page.locator(".fd-node").all_inner_texts()
    assert len(drawn) <= 4, drawn
    assert sum("×60" in text for text in drawn) >= 1, drawn


def test_a_task_inside_a_group_is_found_by_name_and_opened(
    live_page: Any, operator: Any, project: Project
) -> None:
    run = off_loop(staged_run, operator, project)
    open_run(live_page, run)
    finder = live_page.locator("[data-testid=find-task]")
    finder.fill("W7")
    results = live_page.locator("[data-testid=find-results] li")
    # Any case, anywhere in the name: s0-w7 and s1-w7, in the run's order.
    expect(results).to_have_count(2)
    expect(results.first).to_contain_text("s0-w7")
    expect(results.first).to_contain_text("Failed")
    results.first.locator("button").click()
    drawer = live_page.locator('.fd-drawer[data-task="s0-w7"]')
    expect(drawer).to_be_visible()
    expect(finder).to_have_value("")
    # Enter opens the best match: the exact name.
    finder.fill("s1-w5")
    finder.press("Enter")
    expect(live_page.locator('.fd-drawer[data-task="s1-w5"]')).to_be_visible()
    finder.fill("no-such-task")
    expect(live_page.locator("[data-testid=find-results]")).to_contain_text(
        "no task matches"
    )
