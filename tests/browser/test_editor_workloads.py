"""Workload kinds in the editor, in a real Chromium: a task made a Kubernetes
Job with its settings (the retries' product said), given an init container
and a sidecar; the server's error lands on a sidecar's field; saved and
stored as the spec says (docs/spec.md, "Jobs", "Init containers and
sidecars")."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_editor import PASSWORD, rename_selected, wait_valid
from workflows.models import Project, Workflow

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_with_an_init_container_and_a_sidecar_is_built_and_saved(
    page: Any, user: Any, project: Project
) -> None:
    log_in(page, "alice", PASSWORD)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(page.live_url("/workflows/new/editor/"))
    page.wait_for_selector(".fd-editor")
    page.fill("input[name=workflow-name]", "shards")
    panel = page.locator(".fd-panel")
    page.focus("[data-template=shell]")
    page.keyboard.press("Enter")
    rename_selected(page, "work")

    # One pod by default; a Job shows its settings and what retries multiply.
    kind = panel.get_by_label("Workload kind")
    expect(kind).to_have_value("Pod")
    expect(panel.get_by_label("Job Completions")).to_have_count(0)
    kind.select_option("Job")
    panel.get_by_label("Job Completions").fill("4")
    panel.get_by_label("Job Parallelism").fill("2")
    panel.get_by_label("Job Backoff limit").fill("3")
    panel.get_by_label("Indexed completions").check()
    expect(panel.get_by_role("note")).to_contain_text(
        "this Job survives 3 failed pods, and Flowdeck starts up to 0 more Jobs"
    )
    # The server's range check, on the field.
    panel.get_by_label("Job Parallelism").fill("5000")
    error = panel.locator('[data-error-path="spec.tasks[0].job.parallelism"]')
    expect(error).to_contain_text("must be between 1 and 1000")
    panel.get_by_label("Job Parallelism").fill("2")
    expect(error).to_have_count(0)

    # An init container and a sidecar.
    panel.get_by_role("button", name="+ Add init container").click()
    panel.get_by_label("init container 1 name").fill("fetch")
    panel.get_by_label("init container 1 script").fill("echo fetching")
    panel.get_by_role("button", name="+ Add sidecar").click()
    panel.get_by_label("sidecar 1 name").fill("main")
    sidecar_error = panel.locator('[data-error-path="spec.tasks[0].sidecars[0].name"]')
    expect(sidecar_error).to_contain_text("'main' is the task's own container")
    panel.get_by_label("sidecar 1 name").fill("proxy")
    panel.get_by_label("sidecar 1 image").fill("envoyproxy/envoy:v1.31")
    panel.get_by_label("sidecar 1 script").fill("envoy -c /etc/envoy.yaml")
    expect(sidecar_error).to_have_count(0)
    wait_valid(page)
    screenshot(page, "editor-workloads-1-job")

    page.click("button:has-text('Create')")
    page.fill("#fd-save-message", "shards")
    page.click("dialog button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/\d+/editor/$"))
    expect(page.get_by_test_id("toast")).to_contain_text("Saved version 1")
    [task] = Workflow.objects.get(name="shards").latest_version.document["spec"][
        "tasks"
    ]
    assert task["kind"] == "Job"
    assert task["job"] == {
        "completions": 4,
        "parallelism": 2,
        "backoffLimit": 3,
        "completionMode": "Indexed",
    }
    assert task["initContainers"] == [
        {"name": "fetch", "command": ["sh", "-c", "echo fetching"]}
    ]
    assert task["sidecars"] == [
        {
            "name": "proxy",
            "command": ["sh", "-c", "envoy -c /etc/envoy.yaml"],
            "image": "envoyproxy/envoy:v1.31",
        }
    ]

    # Shown back after a reload; back to one pod drops the Job's settings.
    page.reload()
    page.wait_for_selector(".fd-editor")
    page.locator('.react-flow__node[data-id="work"]').click()
    expect(panel.get_by_label("Workload kind")).to_have_value("Job")
    expect(panel.get_by_label("Job Completions")).to_have_value("4")
    expect(panel.get_by_label("sidecar 1 image")).to_have_value(
        "envoyproxy/envoy:v1.31"
    )
    panel.get_by_label("Workload kind").select_option("Pod")
    expect(panel.get_by_label("Job Completions")).to_have_count(0)
    wait_valid(page)
