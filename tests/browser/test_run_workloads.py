"""A Job task on the live run page, in a real Chromium: the drawer shows the
Job's settings, both retry budgets and their product, and its shards, each
with the log its pods left. The run is carried out by the real local backend
(its Job controller runs the completions as processes)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import test_run_data
from tests.browser.conftest import screenshot
from tests.browser.test_run_data import WIDE, run_to_end, workflow_from
from tests.browser.test_run_monitor import node, open_run
from tests.conftest import workflow_document
from workflows.models import Project

pytestmark = pytest.mark.django_db(transaction=True)


# The run-data tests' fixtures: an operator, and a local backend gone quiet
# before the database is flushed.
@pytest.fixture
def olga(operator: Any) -> Any:
    return operator


operator = test_run_data.operator
quiet_backend = test_run_data.quiet_backend


def test_a_jobs_shards_and_retry_budgets_are_shown_with_their_logs(
    live_page: Any, olga: Any, project: Project
) -> None:
    document = workflow_document(
        "sharded",
        [
            {
                "name": "shards",
                "image": "busybox:1.36",
                "command": ["sh", "-c", 'echo "shard $JOB_COMPLETION_INDEX"'],
                "kind": "Job",
                "job": {
                    "completions": 3,
                    "parallelism": 2,
                    "completionMode": "Indexed",
                    "backoffLimit": 1,
                },
                "retry": {"limit": 2},
            }
        ],
    )
    run = workflow_from(document, olga, project)
    run = run_to_end(run)
    assert run.status == "Succeeded", list(run.tasks.values("name", "message"))
    live_page.set_viewport_size(WIDE)
    open_run(live_page, run)
    node(live_page, "shards", "Succeeded").click()
    drawer = live_page.locator('.fd-drawer[data-task="shards"]')
    job = drawer.get_by_test_id("job-shards")
    expect(job.locator("[data-field=job]")).to_have_text(
        "3 completions, 2 at once, indexed"
    )
    expect(job.locator("[data-field=retries]")).to_have_text(
        "backoffLimit 1 (failed pods within this Job) × Flowdeck retry 2 (a new Job "
        "each): up to 6 pods per completion"
    )
    shards = job.get_by_role("group", name="Shards").get_by_role("button")
    expect(shards).to_have_count(3)
    expect(shards.nth(2)).to_contain_text("#2")
    expect(shards.nth(2)).to_contain_text("succeeded")
    shards.nth(2).click()
    expect(job.get_by_test_id("shard-log")).to_have_text("shard 2\n")
    screenshot(live_page, "run-job-shards")
