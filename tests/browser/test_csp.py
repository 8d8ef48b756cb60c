"""Every page works under the Content-Security-Policy (webapp/csp.py): Chromium
reports no refused script, style, image or connection, and an injected inline
script would not run."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.browser.conftest import log_in
from tests.browser.test_run_monitor import off_loop
from tests.conftest import diamond_document, drive_run
from webapp.csp import POLICY
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_response_carries_the_policy(admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    for path in ["/", "/runs/", "/api/docs/", "/api/docs/?script", "/admin/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Security-Policy"] == POLICY, path


def test_the_pages_run_under_the_policy_without_a_refusal(
    live_page: Any, admin_user: Any, project: Any
) -> None:
    workflow = off_loop(
        create_workflow, diamond_document(), author=admin_user, project=project
    )
    run = off_loop(drive_run, off_loop(submit_run, workflow.latest_version))
    refused: list[str] = []
    live_page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    live_page.on("pageerror", lambda error: refused.append(str(error)))
    log_in(live_page, "root", "pw-root-123")
    pages = {
        "/": "text=diamond",
        f"/workflows/{workflow.pk}/": "text=diamond",
        f"/workflows/{workflow.pk}/editor/": ".react-flow__node",
        "/workflows/new/editor/": ".react-flow",
        "/runs/": f"text=#{run.pk}",
        f"/runs/{run.pk}/": ".react-flow__node",
        "/schedules/": "h1",
        "/api/docs/": ".swagger-ui .opblock",
        "/admin/": "#site-name",
    }
    for path, ready in pages.items():
        live_page.goto(live_page.live_url(path))
        live_page.wait_for_selector(ready, timeout=15_000)
        live_page.wait_for_timeout(300)
        assert not refused, (path, refused)


def test_an_injected_inline_script_does_not_run(
    live_page: Any, admin_user: Any
) -> None:
    log_in(live_page, "root", "pw-root-123")
    live_page.goto(live_page.live_url("/runs/"))
    ran = live_page.evaluate(
        """() => {
            window.injected = false;
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.appendChild(script);
            return window.injected;
        }"""
    )
    assert ran is False
