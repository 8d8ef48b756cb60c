"""The server-rendered pages: login, visibility, forms, run actions, logs, admin."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from flowcore.spec import dump_document
from flowcore.states import AttemptStatus, RunStatus, TaskStatus
from tests.conftest import diamond_document, drive_run, shell_task, workflow_document
from workflows import views
from workflows.models import (
    Attempt,
    Run,
    RunEvent,
    TaskRun,
    Workflow,
    WorkflowVersion,
)
from workflows.services.submit import create_workflow, submit_run, update_workflow

pytestmark = pytest.mark.django_db
# Driving a run to its end takes real commits (advance_run refuses to run inside
# the transaction a plain django_db test is wrapped in).
driven = pytest.mark.django_db(transaction=True)

XSS = "<script>alert(1)</script>"


def text_of(response: Any) -> str:
    """The page as a person reads it: entities decoded."""
    return html.unescape(response.content.decode())


def params_document(name: str = "greeter") -> dict[str, Any]:
    return workflow_document(
        name,
        [shell_task("say", "echo {{params.greeting}} {{params.target}}")],
        parameters=[
            {"name": "greeting", "default": "hello", "description": "what to say"},
            {"name": "target"},
        ],
    )


@pytest.fixture
def run(diamond: Workflow, user: Any) -> Run:
    return submit_run(diamond.latest_version, user=user)


@pytest.fixture
def failed_run(diamond: Workflow, user: Any) -> Run:
    return drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def object_urls(run: Run) -> list[str]:
    """Pages about one workflow or run."""
    workflow = run.workflow_id
    return [
        reverse("workflow-detail", args=[workflow]),
        reverse("workflow-version", args=[workflow, 1]),
        reverse("workflow-edit", args=[workflow]),
        reverse("run-detail", args=[run.pk]),
        reverse("task-logs", args=[run.pk, "a"]),
        reverse("task-log-raw", args=[run.pk, "a"]),
    ]


def page_urls(run: Run) -> list[str]:
    listings = [reverse(name) for name in ("workflow-list", "run-list")]
    return [*listings, reverse("workflow-create"), *object_urls(run)]


def action_urls(run: Run) -> list[str]:
    return [
        reverse("workflow-run", args=[run.workflow_id]),
        reverse("run-action", args=[run.pk, "cancel"]),
        reverse("run-action", args=[run.pk, "retry"]),
        reverse("run-action", args=[run.pk, "resubmit"]),
        reverse("task-retry", args=[run.pk, "a"]),
    ]


# --- login ---------------------------------------------------------------------


def test_every_page_and_action_sends_a_stranger_to_the_login_page(client, run):
    for url in page_urls(run):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    for url in action_urls(run):
        response = client.post(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    assert Run.objects.count() == 1
    assert Run.objects.get().status == RunStatus.PENDING


def test_a_person_signs_in_and_lands_on_the_workflow_list(client, user):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'name="password"' in page.content.decode()
    response = client.post(
        reverse("login"), {"username": "alice", "password": "pw-alice-123"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("workflow-list")
    assert client.get(reverse("workflow-list")).status_code == 200


def test_a_wrong_password_is_refused(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "no"})
    assert response.status_code == 200
    assert "did not match" in text_of(response)


def test_logging_out_takes_a_post(alice):
    page = alice.get(reverse("workflow-list")).content.decode()
    assert f'<form method="post" action="{reverse("logout")}"' in page
    assert alice.get(reverse("logout")).status_code == 405
    response = alice.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert alice.get(reverse("workflow-list")).status_code == 302


def test_posts_need_a_csrf_token(user, diamond):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("workflow-run", args=[diamond.pk]))
    assert response.status_code == 403
    assert not Run.objects.exists()


# --- visibility ----------------------------------------------------------------


def test_another_users_workflows_and_runs_are_not_found(client, other_user, run):
    client.force_login(other_user)
    for url in object_urls(run):
        assert client.get(url).status_code == 404, url
    for url in action_urls(run):
        assert client.post(url).status_code == 404, url
    assert "diamond" not in client.get(reverse("workflow-list")).content.decode()
    runs = client.get(reverse("run-list")).content.decode()
    assert reverse("run-detail", args=[run.pk]) not in runs
    assert Run.objects.count() == 1


def test_a_superuser_sees_every_workflow_and_run(client, admin_user, run):
    client.force_login(admin_user)
    assert "diamond" in client.get(reverse("workflow-list")).content.decode()
    assert client.get(reverse("run-detail", args=[run.pk])).status_code == 200


# --- workflows -----------------------------------------------------------------


def test_the_list_shows_version_last_run_description_and_labels(alice, user, project):
    document = diamond_document()
    document["metadata"].update(description="Nightly ETL", labels={"team": "data"})
    workflow = create_workflow(document, author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    page = text_of(alice.get(reverse("workflow-list")))
    assert reverse("workflow-detail", args=[workflow.pk]) in page
    assert "v1" in page
    assert "Nightly ETL" in page
    assert "team=data" in page
    assert reverse("run-detail", args=[run.pk]) in page
    assert "Pending" in page


def test_the_detail_shows_spec_versions_runs_and_a_run_form(alice, user, project):
    workflow = create_workflow(
        params_document(), author=user, project=project, message="first cut"
    )
    run = submit_run(workflow.latest_version, parameters={"target": "x"}, user=user)
    response = alice.get(reverse("workflow-detail", args=[workflow.pk]))
    assert response.status_code == 200
    page = text_of(response)
    assert dump_document(workflow.latest_version.document) in page
    assert "  tasks:\n  - name: say\n    image: busybox:1.36\n" in page
    assert "first cut" in page
    assert "alice" in page
    assert reverse("run-detail", args=[run.pk]) in page
    assert f'action="{reverse("workflow-run", args=[workflow.pk])}"' in page
    assert 'name="param.greeting" value="hello"' in page
    assert 'name="param.target" value="" required' in page
    assert "what to say" in page


def test_a_version_page_shows_that_versions_spec(alice, user, project):
    workflow = create_workflow(diamond_document(), author=user, project=project)
    document = diamond_document()
    document["spec"]["tasks"].append(shell_task("e", dependencies=["d"]))
    update_workflow(workflow, document, author=user, message="add e")
    first = text_of(alice.get(reverse("workflow-version", args=[workflow.pk, 1])))
    second = text_of(alice.get(reverse("workflow-version", args=[workflow.pk, 2])))
    assert "name: e" not in first
    assert "name: e" in second
    assert "add e" in second
    missing = alice.get(reverse("workflow-version", args=[workflow.pk, 3]))
    assert missing.status_code == 404


def test_the_create_page_lists_every_spec_error_and_saves_nothing(alice):
    text = (
        "apiVersion: flowdeck.io/v1\n"
        "kind: Workflow\n"
        "metadata:\n"
        "  name: Bad_Name\n"
        "spec:\n"
        "  tasks:\n"
        "    - name: a\n"
        "      image: busybox\n"
        "      dependencies: [missing]\n"
        "    - image: busybox\n"
    )
    response = alice.post(
        reverse("workflow-create"), {"document": text, "message": "try"}
    )
    assert response.status_code == 400
    page = text_of(response)
    assert "metadata.name</code>: " in page
    assert "spec.tasks[0].dependencies[0]</code>: " in page
    assert "spec.tasks[1].name</code>: " in page
    assert text in page  # the text is kept for fixing
    assert 'value="try"' in page
    assert not Workflow.objects.exists()
    assert not WorkflowVersion.objects.exists()


def test_the_create_page_names_the_line_of_a_yaml_syntax_error(alice):
    response = alice.post(
        reverse("workflow-create"), {"document": "metadata: [unclosed\n"}
    )
    assert response.status_code == 400
    assert "invalid YAML at line" in text_of(response)
    assert not Workflow.objects.exists()


def test_creating_then_editing_makes_versions_one_and_two(alice, user):
    text = dump_document(diamond_document("etl"))
    response = alice.post(
        reverse("workflow-create"), {"document": text, "message": "start"}
    )
    workflow = Workflow.objects.get(name="etl")
    assert response["Location"] == reverse("workflow-detail", args=[workflow.pk])
    assert workflow.owner == user

    edit = alice.get(reverse("workflow-edit", args=[workflow.pk]))
    assert text in text_of(edit)  # prefilled with the latest version
    changed = text.replace("busybox:1.36", "alpine:3.20", 1)
    response = alice.post(
        reverse("workflow-edit", args=[workflow.pk]),
        {"document": changed, "message": "use alpine"},
    )
    assert response["Location"] == reverse("workflow-detail", args=[workflow.pk])
    versions = list(
        workflow.versions.order_by("number").values_list("number", "message")
    )
    assert versions == [(1, "start"), (2, "use alpine")]
    workflow.refresh_from_db()
    assert workflow.latest_version.number == 2
    page = text_of(alice.get(reverse("workflow-detail", args=[workflow.pk])))
    assert "Saved version 2 of etl." in page
    assert "alpine:3.20" in page


def test_editing_accepts_json_too(alice, user, project):
    workflow = create_workflow(diamond_document(), author=user, project=project)
    response = alice.post(
        reverse("workflow-edit", args=[workflow.pk]),
        {"document": json.dumps(diamond_document(parallelism=3)), "message": ""},
    )
    assert response.status_code == 302
    assert workflow.versions.count() == 2


def test_saving_an_unchanged_spec_keeps_the_version_and_says_so(alice, user, project):
    workflow = create_workflow(diamond_document(), author=user, project=project)
    response = alice.post(
        reverse("workflow-edit", args=[workflow.pk]),
        {"document": json.dumps(diamond_document()), "message": "nothing"},
        follow=True,
    )
    assert workflow.versions.count() == 1
    assert "No changes: diamond stays at version 1." in response.content.decode()


def test_an_edit_that_renames_the_workflow_is_refused(alice, diamond):
    text = dump_document(diamond_document("renamed"))
    response = alice.post(
        reverse("workflow-edit", args=[diamond.pk]), {"document": text}
    )
    assert response.status_code == 400
    assert "cannot rename workflow" in text_of(response)
    assert diamond.versions.count() == 1


def test_a_too_long_version_message_is_an_error_not_a_crash(alice):
    text = dump_document(diamond_document())
    response = alice.post(
        reverse("workflow-create"), {"document": text, "message": "x" * 501}
    )
    assert response.status_code == 400
    assert "message</code>: at most 500 characters" in text_of(response)
    assert not Workflow.objects.exists()


def test_the_run_form_starts_a_run_with_its_parameters(alice, user, project):
    workflow = create_workflow(params_document(), author=user, project=project)
    response = alice.post(
        reverse("workflow-run", args=[workflow.pk]),
        {"param.greeting": "", "param.target": "world"},
    )
    run = Run.objects.get()
    assert response["Location"] == reverse("run-detail", args=[run.pk])
    assert run.parameters == {"greeting": "hello", "target": "world"}
    assert run.trigger == Run.Trigger.MANUAL
    assert run.triggered_by == user


@pytest.mark.parametrize(
    ("posted", "error"),
    [
        ({"param.target": "x", "param.nope": "1"}, "parameters.nope</code>: unknown"),
        ({"param.greeting": "hi", "param.target": ""}, "parameters.target</code>: is"),
    ],
)
def test_the_run_form_refuses_an_unknown_or_missing_parameter(
    alice, user, posted, error, project
):
    workflow = create_workflow(params_document(), author=user, project=project)
    response = alice.post(reverse("workflow-run", args=[workflow.pk]), posted)
    assert response.status_code == 400
    page = text_of(response)
    assert error in page
    kept = posted.get("param.greeting", "hello")  # what was typed stays
    assert f'name="param.greeting" value="{kept}"' in page
    assert not Run.objects.exists()


def test_the_run_form_takes_only_posts(alice, diamond):
    response = alice.get(reverse("workflow-run", args=[diamond.pk]))
    assert response.status_code == 405


def test_descriptions_and_labels_are_escaped(alice, user, project):
    document = diamond_document()
    document["metadata"].update(description=XSS, labels={"x": XSS})
    workflow = create_workflow(document, author=user, project=project)
    for url in (
        reverse("workflow-list"),
        reverse("workflow-detail", args=[workflow.pk]),
        reverse("workflow-version", args=[workflow.pk, 1]),
    ):
        page = alice.get(url).content.decode()
        assert XSS not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url


# --- runs ----------------------------------------------------------------------


@driven
def test_the_run_list_filters_by_workflow_and_status(alice, user, failed_run, project):
    other = create_workflow(diamond_document("other"), author=user, project=project)
    pending = submit_run(other.latest_version, user=user)
    url = reverse("run-list")
    everything = alice.get(url).content.decode()
    assert reverse("run-detail", args=[failed_run.pk]) in everything
    assert reverse("run-detail", args=[pending.pk]) in everything
    by_workflow = alice.get(url, {"workflow": other.pk}).content.decode()
    assert reverse("run-detail", args=[failed_run.pk]) + '"' not in by_workflow
    assert reverse("run-detail", args=[pending.pk]) in by_workflow
    by_status = alice.get(url, {"status": "Failed"}).content.decode()
    assert reverse("run-detail", args=[failed_run.pk]) in by_status
    assert reverse("run-detail", args=[pending.pk]) + '"' not in by_status
    ignored = alice.get(url, {"status": "Bogus", "workflow": "x"})
    assert ignored.status_code == 200


def test_the_run_list_pages_by_fifty_older_and_newer(alice, user, diamond):
    runs = [submit_run(diamond.latest_version, user=user) for _ in range(51)]
    row = re.compile(r'href="/runs/(\d+)/">#\d+</a>')
    link = re.compile(r'href="\?(before|after)=(\d+)">')

    def page(**query: int) -> tuple[list[int], dict[str, int]]:
        html = alice.get(reverse("run-list"), query).content.decode()
        return [int(pk) for pk in row.findall(html)], {
            name: int(value) for name, value in link.findall(html)
        }

    first, links = page()
    assert first == [run.pk for run in reversed(runs[1:])]
    assert links == {"before": runs[1].pk}
    second, links = page(before=links["before"])
    assert second == [runs[0].pk]
    assert links == {"after": runs[0].pk}
    again, links = page(after=links["after"])
    assert again == first and links == {"before": runs[1].pk}


def test_the_run_page_shows_header_tasks_events_and_buttons(alice, user, run):
    page = text_of(alice.get(reverse("run-detail", args=[run.pk])))
    assert f"Run #{run.pk}" in page
    assert reverse("workflow-detail", args=[run.workflow_id]) in page
    assert reverse("workflow-version", args=[run.workflow_id, 1]) in page
    assert "<dt>Trigger</dt><dd>api</dd>" in page
    assert "<dt>Triggered by</dt><dd>alice</dd>" in page
    for name in "abcd":
        assert reverse("task-logs", args=[run.pk, name]) in page
    assert "submitted by alice" in page  # the first RunEvent
    assert reverse("run-action", args=[run.pk, "cancel"]) in page
    assert reverse("run-action", args=[run.pk, "resubmit"]) in page
    assert reverse("run-action", args=[run.pk, "retry"]) not in page
    assert reverse("task-retry", args=[run.pk, "a"]) not in page  # not finished
    assert f'href="{reverse("run-detail", args=[run.pk])}">Refresh' in page
    assert "http-equiv" not in page  # no auto-refresh


def test_the_run_page_hands_the_live_ui_the_run_and_the_allowed_actions(
    alice, user, run
):
    """The DAG is drawn in the browser (frontend/src/run), from the run as the
    API shows it; graphviz is no longer asked on every view of a run."""
    response = alice.get(reverse("run-detail", args=[run.pk]))
    page = response.content.decode()
    assert '<div id="flowdeck-run"></div>' in page
    data = response.context["ui_data"]
    assert data["run"]["id"] == run.pk
    assert [task["name"] for task in data["run"]["tasks"]] == list("abcd")
    assert "run.retry" in data["allowed"]
    assert data["urls"]["version"] == reverse(
        "workflow-version", args=[run.workflow_id, 1]
    )
    assert 'id="flowdeck-run-data" type="application/json"' in page


def test_cancel_stops_a_running_run(alice, run):
    response = alice.post(reverse("run-action", args=[run.pk, "cancel"]))
    assert response["Location"] == reverse("run-detail", args=[run.pk])
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLING
    page = text_of(alice.get(response["Location"]))
    assert f"Cancelling run {run.pk}." in page
    assert reverse("run-action", args=[run.pk, "cancel"]) not in page


def test_a_refused_action_shows_why_on_the_run_page(alice, run):
    response = alice.post(reverse("run-action", args=[run.pk, "retry"]), follow=True)
    assert response.redirect_chain == [(reverse("run-detail", args=[run.pk]), 302)]
    page = text_of(response)
    assert f"Cannot retry run {run.pk}: the run is Pending" in page
    assert 'class="message error"' in page


@driven
def test_cancelling_a_finished_run_is_refused(alice, failed_run):
    response = alice.post(
        reverse("run-action", args=[failed_run.pk, "cancel"]), follow=True
    )
    assert "the run already finished (Failed)" in text_of(response)
    failed_run.refresh_from_db()
    assert failed_run.status == RunStatus.FAILED


def test_an_unknown_action_is_not_found(alice, run):
    assert alice.post(f"/runs/{run.pk}/explode/").status_code == 404


@driven
def test_retry_previews_and_reruns_the_failed_branch(alice, failed_run):
    page = text_of(alice.get(reverse("run-detail", args=[failed_run.pk])))
    assert "Retrying runs these tasks again" in page
    assert "<code>b</code>, <code>d</code>" in page
    response = alice.post(reverse("run-action", args=[failed_run.pk, "retry"]))
    assert response["Location"] == reverse("run-detail", args=[failed_run.pk])
    statuses = dict(failed_run.tasks.values_list("name", "status"))
    assert statuses == {
        "a": TaskStatus.SUCCEEDED,
        "b": TaskStatus.PENDING,
        "c": TaskStatus.SUCCEEDED,
        "d": TaskStatus.PENDING,
    }
    assert "Retrying b, d." in text_of(alice.get(response["Location"]))


@driven
def test_retry_from_here_reruns_a_task_and_its_downstream(alice, failed_run):
    page = alice.get(reverse("run-detail", args=[failed_run.pk])).content.decode()
    assert reverse("task-retry", args=[failed_run.pk, "c"]) in page
    response = alice.post(reverse("task-retry", args=[failed_run.pk, "c"]))
    assert response["Location"] == reverse("run-detail", args=[failed_run.pk])
    statuses = dict(failed_run.tasks.values_list("name", "status"))
    assert statuses["c"] == TaskStatus.PENDING
    assert statuses["d"] == TaskStatus.PENDING
    assert statuses["b"] == TaskStatus.FAILED
    assert (
        alice.post(reverse("task-retry", args=[failed_run.pk, "zz"])).status_code == 404
    )


def test_retry_from_here_on_an_unfinished_run_is_refused(alice, run):
    response = alice.post(reverse("task-retry", args=[run.pk, "a"]), follow=True)
    assert "Cannot retry from a: the run is Pending" in text_of(response)


@driven
def test_resubmit_starts_a_new_run_and_goes_to_it(alice, user, failed_run):
    response = alice.post(reverse("run-action", args=[failed_run.pk, "resubmit"]))
    new = Run.objects.exclude(pk=failed_run.pk).get()
    assert response["Location"] == reverse("run-detail", args=[new.pk])
    assert new.resubmitted_from_id == failed_run.pk
    assert new.trigger == Run.Trigger.RESUBMIT
    page = text_of(alice.get(response["Location"]))
    assert f"as run {new.pk}" in page
    assert reverse("run-detail", args=[failed_run.pk]) in page


# --- logs ----------------------------------------------------------------------


@driven
def test_the_logs_page_shows_the_latest_attempts_log_escaped(
    alice, failed_run, tmp_path
):
    attempt = Attempt.objects.get(task_run__run=failed_run, task_run__name="b")
    log = tmp_path / "b.log"
    log.write_text(f"starting\n{XSS}\nexit 1\n")
    Attempt.objects.filter(pk=attempt.pk).update(log_path=str(log))
    response = alice.get(reverse("task-logs", args=[failed_run.pk, "b"]))
    page = response.content.decode()
    assert response.status_code == 200
    assert XSS not in page
    assert "starting\n&lt;script&gt;alert(1)&lt;/script&gt;\nexit 1" in page
    assert "Failed" in page
    assert "<td>1</td>" in page  # the exit code
    raw = reverse("task-log-raw", args=[failed_run.pk, "b"]) + "?attempt=1"
    assert raw in html.unescape(page)
    download = alice.get(raw)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == log.read_bytes()
    assert download["Content-Disposition"].startswith("attachment")


@driven
def test_the_logs_page_picks_an_attempt(alice, user, tmp_path, project):
    document = workflow_document(
        "flaky", [shell_task("x", retry={"limit": 1, "backoff": {"delay": "1s"}})]
    )
    workflow = create_workflow(document, author=user, project=project)
    run = drive_run(
        submit_run(workflow.latest_version, user=user), {"x": AttemptStatus.FAILED}
    )
    for attempt in Attempt.objects.filter(task_run__run=run):
        path = tmp_path / f"{attempt.number}.log"
        path.write_text(f"log of attempt {attempt.number}\n")
        Attempt.objects.filter(pk=attempt.pk).update(log_path=str(path))
    url = reverse("task-logs", args=[run.pk, "x"])
    assert "log of attempt 2" in alice.get(url).content.decode()
    first = alice.get(url, {"attempt": 1}).content.decode()
    assert "log of attempt 1" in first
    assert "log of attempt 2" not in first
    assert alice.get(url, {"attempt": 9}).status_code == 404


@driven
def test_the_logs_page_says_when_there_is_no_log_yet(alice, run, failed_run):
    page = alice.get(reverse("task-logs", args=[run.pk, "a"])).content.decode()
    assert "No attempt has started yet" in page
    page = alice.get(reverse("task-logs", args=[failed_run.pk, "a"])).content.decode()
    assert "No log yet" in page
    raw = reverse("task-log-raw", args=[failed_run.pk, "a"])
    assert alice.get(raw).status_code == 404


@driven
def test_a_long_log_shows_its_last_mebibyte_and_says_so(alice, failed_run, tmp_path):
    log = tmp_path / "big.log"
    line = "x" * 99 + "\n"
    with log.open("w") as handle:
        handle.write("FIRST LINE\n")
        handle.write(line * 12_000)  # ~1.2 MB
        handle.write("LAST LINE\n")
    Attempt.objects.filter(task_run__run=failed_run, task_run__name="a").update(
        log_path=str(log)
    )
    page = alice.get(reverse("task-logs", args=[failed_run.pk, "a"])).content.decode()
    assert "showing its last 1 MiB" in page
    assert "LAST LINE" in page
    assert "FIRST LINE" not in page


def test_reading_a_log_tail_starts_at_a_line_and_reports_truncation(tmp_path):
    log = tmp_path / "log"
    log.write_bytes(b"one\ntwo\nthree\n")
    assert views.read_log_tail(str(log), limit=100) == ("one\ntwo\nthree\n", False)
    assert views.read_log_tail(str(log), limit=8) == ("three\n", True)
    assert views.read_log_tail(str(tmp_path / "missing")) == (None, False)
    assert views.read_log_tail("") == (None, False)


# --- admin ---------------------------------------------------------------------


@driven
def test_every_admin_page_loads_for_a_superuser(client, admin_user, failed_run):
    client.force_login(admin_user)
    objects = {
        Workflow: failed_run.workflow,
        WorkflowVersion: failed_run.version,
        Run: failed_run,
        TaskRun: failed_run.tasks.first(),
        Attempt: Attempt.objects.filter(task_run__run=failed_run).first(),
        RunEvent: failed_run.events.first(),
    }
    assert client.get(reverse("admin:index")).status_code == 200
    for model, obj in objects.items():
        name = f"admin:workflows_{model._meta.model_name}"
        changelist = reverse(f"{name}_changelist")
        assert client.get(changelist).status_code == 200, model
        assert client.get(changelist, {"q": "b"}).status_code == 200, model
        if model in (Run, TaskRun, Attempt):
            filtered = client.get(changelist, {"status__exact": "Failed"})
            assert filtered.status_code == 200, model
            assert "0 results" not in filtered.content.decode(), model
        change = client.get(reverse(f"{name}_change", args=[obj.pk]))
        assert change.status_code == 200, model


def test_admin_cannot_add_change_or_delete_the_immutable_records(rf, admin_user):
    request = rf.get("/admin/")
    request.user = admin_user
    for model in (WorkflowVersion, RunEvent):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)


@driven
def test_admin_cannot_change_the_state_of_runs_tasks_or_attempts(
    rf, client, admin_user, failed_run
):
    request = rf.get("/admin/")
    request.user = admin_user
    for model in (Run, TaskRun, Attempt):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert "status" in model_admin.get_readonly_fields(request)
    client.force_login(admin_user)
    url = reverse("admin:workflows_run_change", args=[failed_run.pk])
    response = client.post(url, {"status": "Succeeded"})
    assert response.status_code == 403
    failed_run.refresh_from_db()
    assert failed_run.status == RunStatus.FAILED


def test_the_admin_adds_no_workflow_without_a_spec(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:workflows_workflow_add"))
    assert response.status_code == 403


def test_the_admin_changes_a_workflows_owner_and_nothing_else(
    client, admin_user, other_user, diamond
):
    client.force_login(admin_user)
    url = reverse("admin:workflows_workflow_change", args=[diamond.pk])
    response = client.post(url, {"owner": other_user.pk, "name": "renamed"})
    assert response.status_code == 302
    diamond.refresh_from_db()
    assert diamond.owner == other_user
    assert diamond.name == "diamond"
    delete = reverse("admin:workflows_workflow_delete", args=[diamond.pk])
    assert client.get(delete).status_code == 403
