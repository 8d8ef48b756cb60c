"""A daemon task in a real Chromium: made a daemon in the editor's task form
(its port, its readiness probe, the local backend's limits said), saved as
the spec says; then run on the real local backend, its address shown in the
run page's task drawer (docs/spec.md, "Daemons")."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import test_run_data
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_editor import PASSWORD, rename_selected, wait_valid
from tests.browser.test_run_data import WIDE, run_to_end
from tests.browser.test_run_monitor import node
from tests.net import free_port
from workflows.models import Project, Workflow
from workflows.services.submit import submit_run

pytestmark = pytest.mark.django_db(transaction=True)

quiet_backend = test_run_data.quiet_backend


def test_a_daemon_set_in_the_editor_runs_and_shows_its_address(
    live_page: Any, user: Any, project: Project
) -> None:
    page = live_page
    port = free_port()
    log_in(page, "alice", PASSWORD)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(page.live_url("/workflows/new/editor/"))
    page.wait_for_selector(".fd-editor")
    page.fill("input[name=workflow-name]", "served")
    panel = page.locator(".fd-panel")
    page.focus("[data-template=shell]")
    page.keyboard.press("Enter")
    rename_selected(page, "web")
    panel.locator("textarea[name=script]").fill(
        f"exec python3 -m http.server {port} --bind 127.0.0.1"
    )

    # Off by default; on, it offers its ports, probe and persistence.
    daemon = panel.get_by_label("Runs as a daemon")
    expect(daemon).not_to_be_checked()
    expect(panel.get_by_label("Daemon ports")).to_have_count(0)
    daemon.check()
    ports = panel.get_by_label("Daemon ports")
    ports.fill(f"http:{port}")
    ports.press("Tab")
    expect(panel.get_by_label("Readiness probe", exact=True)).to_have_value("tcp")
    panel.get_by_label("Readiness probe", exact=True).select_option("http")
    probe = panel.get_by_label("Readiness probe value")
    probe.fill("/")
    probe.press("Tab")
    note = panel.get_by_role("note").filter(has_text="{{tasks.web.ip}}")
    expect(note).to_contain_text("Locally it is a background process at 127.0.0.1")
    # persistent without its storage: the server's error on the field.
    panel.get_by_label("Persistent").check()
    storage_error = panel.locator('[data-error-path="spec.tasks[0].storage"]')
    expect(storage_error).to_contain_text("is required with persistent: true")
    panel.get_by_label("Persistent").uncheck()
    expect(storage_error).to_have_count(0)
    wait_valid(page)
    screenshot(page, "editor-daemon")

    page.click("button:has-text('Create')")
    page.fill("#fd-save-message", "a daemon")
    page.click("dialog button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/\d+/editor/$"))
    expect(page.get_by_test_id("toast")).to_contain_text("Saved version 1")
    workflow = Workflow.objects.get(name="served")
    [task] = workflow.latest_version.document["spec"]["tasks"]
    assert task["daemon"] is True
    assert task["ports"] == [{"name": "http", "port": port}]
    assert task["readinessProbe"] == {"httpGet": {"path": "/", "port": "http"}}
    assert "persistent" not in task and "storage" not in task

    # Run on the local backend: the drawer says where it served.
    run = run_to_end(submit_run(workflow.latest_version, user=user))
    assert run.status == "Succeeded", list(run.tasks.values("name", "message"))
    page.set_viewport_size(WIDE)
    page.goto(page.live_url(f"/runs/{run.pk}/"))
    page.locator('[data-connection="live"]').wait_for()
    node(page, "web", "Succeeded").click()
    drawer = page.locator('.fd-drawer[data-task="web"]')
    address = drawer.get_by_test_id("daemon-address").locator("[data-field=address]")
    expect(address).to_have_text(
        f"serves at 127.0.0.1, port {port} (http); stopped when the run ends"
    )
    screenshot(page, "run-daemon-address")
