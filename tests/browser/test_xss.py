"""In a real browser: what users write is shown as text and never runs, and
signing in and out works through the real forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from flowcore.states import AttemptStatus
from tests.browser.conftest import log_in
from tests.conftest import drive_run, member, shell_task, workflow_document
from workflows.models import Attempt, Project, Role, Workflow
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '"><svg onload=window.__xss=1>',
]
PASSWORD = "pw-alice-123"


def _assert_inert(page: Any, path: str, payload: str) -> None:
    page.goto(page.live_url(path))
    page.wait_for_load_state("load")
    assert payload in page.inner_text("body"), path
    assert page.evaluate("typeof window.__xss") == "undefined", path


@pytest.fixture
def site(django_user_model: Any, project: Project, tmp_path: Path) -> Any:
    """Every place a user's text reaches a page, for each payload."""
    alice = django_user_model.objects.create_user("alice", password=PASSWORD)
    member(project, alice, Role.ADMIN)
    pages: list[tuple[str, str]] = []
    for index, payload in enumerate(PAYLOADS):
        intruder = django_user_model.objects.create_user(f"{payload}{index}")
        member(project, intruder, Role.VIEWER)
        document = workflow_document(
            f"wf-{index}",
            [shell_task("a", "echo {{params.greeting}}")],
            parameters=[{"name": "greeting"}],
        )
        workflow = create_workflow(document, author=alice, project=project)
        Workflow.objects.filter(pk=workflow.pk).update(
            description=payload, labels={"team": payload}
        )
        run = submit_run(
            workflow.latest_version, parameters={"greeting": payload}, user=alice
        )
        run = drive_run(run, default=AttemptStatus.FAILED)
        log = tmp_path / f"{index}.log"
        log.write_text(f"starting\n{payload}\n")
        Attempt.objects.filter(task_run__run=run).update(log_path=str(log))
        pages += [
            (reverse("workflow-detail", args=[workflow.pk]), payload),
            (reverse("run-detail", args=[run.pk]), payload),
            (reverse("task-logs", args=[run.pk, "a"]), payload),
        ]
    return alice, pages


@pytest.mark.parametrize("index", range(len(PAYLOADS)))
def test_payloads_show_as_text_and_never_run(
    page: Any, site: Any, project: Project, index: int
) -> None:
    _, pages = site
    payload = PAYLOADS[index]
    Project.objects.filter(pk=project.pk).update(description=payload)
    log_in(page, "alice", PASSWORD)
    project_page = reverse("project-detail", args=[project.pk])
    _assert_inert(page, project_page, payload)  # the description
    _assert_inert(page, project_page, f"{payload}{index}")  # a member's username
    for path, text in pages:
        if text == payload:
            _assert_inert(page, path, text)
    _assert_inert(page, reverse("workflow-list"), payload)  # labels in the list


def test_the_login_form_signs_in(page: Any, user: Any) -> None:
    log_in(page, "alice", "pw-alice-123")
    assert page.url == page.live_url(reverse("workflow-list"))
    assert "alice" in page.inner_text("header")


def test_a_wrong_password_shows_the_error(page: Any, user: Any) -> None:
    log_in(page, "alice", "not-her-password")
    assert page.url.startswith(page.live_url("/login/"))
    alert = page.inner_text("[role=alert]")
    assert "did not match" in alert
    page.goto(page.live_url(reverse("workflow-list")))
    assert page.url.startswith(page.live_url("/login/"))


def test_logging_out_ends_the_session(page: Any, user: Any) -> None:
    log_in(page, "alice", "pw-alice-123")
    page.click("header button:has-text('Log out')")
    page.wait_for_load_state()
    page.goto(page.live_url(reverse("workflow-list")))
    assert page.url.startswith(page.live_url("/login/"))
