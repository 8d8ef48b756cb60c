"""Secret env values: masked wherever a spec document is shown, kept when the
mask comes back on save, never in logs, events or the audit log."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.contrib import admin
from django.utils import timezone

from accounts.models import AuditEntry
from flowcore.secrets import MASK, mask_secrets, restore_secrets
from flowcore.spec import SpecError, dump_document
from schedules.services.editing import create_schedule
from tests.conftest import diamond_document
from workflows.models import Attempt, RunEvent, Workflow, WorkflowVersion
from workflows.services.advance import advance_run
from workflows.services.control import debug_task
from workflows.services.submit import create_workflow, submit_run

SECRET = "hunter2-s3cr3t"


def secret_document(value: str = SECRET, **extra: Any) -> dict[str, Any]:
    document = diamond_document()
    document["spec"]["tasks"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": value, "secret": True},
        {"name": "DB_HOST", "value": "db.internal"},
    ]
    document["spec"]["tasks"][2]["env"] = [
        {"name": "API_KEY", "value": "k-123", "secret": True, **extra}
    ]
    return document


# --- the helpers (pure) -----------------------------------------------------------


def test_masking_hides_only_secret_values_and_leaves_the_original_alone():
    document = secret_document()
    masked = mask_secrets(document)
    env = masked["spec"]["tasks"][0]["env"]
    assert env == [
        {"name": "DB_PASSWORD", "value": MASK, "secret": True},
        {"name": "DB_HOST", "value": "db.internal"},
    ]
    assert masked["spec"]["tasks"][2]["env"][0]["value"] == MASK
    assert document == secret_document()
    plain = diamond_document()
    assert mask_secrets(plain) is plain


def test_restoring_puts_back_the_stored_value_of_the_same_task_and_name():
    stored = secret_document()
    edited = mask_secrets(stored)
    edited["spec"]["tasks"][0]["env"].append(
        {"name": "NEW", "value": "typed", "secret": True}
    )
    restored = restore_secrets(edited, stored)
    assert restored["spec"]["tasks"][0]["env"][0]["value"] == SECRET
    assert restored["spec"]["tasks"][0]["env"][2]["value"] == "typed"
    assert restored["spec"]["tasks"][2]["env"][0]["value"] == "k-123"


def test_a_mask_without_a_stored_value_or_no_longer_secret_is_an_error():
    stored = secret_document()
    edited = mask_secrets(stored)
    edited["spec"]["tasks"][0]["env"][0]["name"] = "RENAMED"
    del edited["spec"]["tasks"][2]["env"][0]["secret"]
    with pytest.raises(SpecError) as raised:
        restore_secrets(edited, stored)
    paths = [error.path for error in raised.value.errors]
    assert paths == ["spec.tasks[0].env[0].value", "spec.tasks[2].env[0].value"]
    with pytest.raises(SpecError):
        restore_secrets(mask_secrets(stored), None)


# --- the API ----------------------------------------------------------------------


@pytest.fixture
def secret_workflow(user: Any, project: Any) -> Workflow:
    return create_workflow(secret_document(), project=project, author=user)


@pytest.mark.django_db
def test_no_api_answer_shows_a_secret(api, secret_workflow, project):
    url = f"/api/workflows/{secret_workflow.pk}/"
    for path in [
        url,
        f"{url}versions/",
        f"{url}versions/1/",
        "/api/workflows/",
        f"/api/workflows/?project={project.pk}",
    ]:
        response = api.get(path)
        assert response.status_code == 200
        assert SECRET not in response.content.decode(), path
        assert "k-123" not in response.content.decode(), path
    detail = api.get(url).json()["document"]
    assert detail["spec"]["tasks"][0]["env"][0]["value"] == MASK
    assert detail["spec"]["tasks"][0]["env"][1]["value"] == "db.internal"
    version = api.get(f"{url}versions/1/").json()["document"]
    assert version == detail
    html_page = api.get(url, HTTP_ACCEPT="text/html").content.decode()
    assert SECRET not in html_page


@pytest.mark.django_db
def test_putting_back_the_masked_document_keeps_the_secret(api, secret_workflow):
    url = f"/api/workflows/{secret_workflow.pk}/"
    document = api.get(url).json()["document"]
    same = api.put(url, document, format="json")
    assert same.status_code == 200
    assert same.json()["latest_version"]["number"] == 1  # nothing changed
    document["metadata"]["description"] = "described"
    changed = api.put(url, yaml.safe_dump(document), content_type="application/yaml")
    assert changed.json()["latest_version"]["number"] == 2
    stored = WorkflowVersion.objects.get(workflow=secret_workflow, number=2).document
    assert stored["spec"]["tasks"][0]["env"][0]["value"] == SECRET
    assert stored["spec"]["tasks"][2]["env"][0]["value"] == "k-123"
    assert stored["metadata"]["description"] == "described"


@pytest.mark.django_db
def test_a_patch_keeps_secrets_and_a_new_value_replaces_one(api, secret_workflow):
    url = f"/api/workflows/{secret_workflow.pk}/"
    api.patch(url, {"metadata": {"description": "x"}}, format="json")
    latest = Workflow.objects.get(pk=secret_workflow.pk).latest_version.document
    assert latest["spec"]["tasks"][0]["env"][0]["value"] == SECRET
    document = api.get(url).json()["document"]
    document["spec"]["tasks"][0]["env"][0]["value"] = "rotated"
    response = api.put(url, document, format="json")
    assert response.json()["document"]["spec"]["tasks"][0]["env"][0]["value"] == MASK
    latest = Workflow.objects.get(pk=secret_workflow.pk).latest_version.document
    assert latest["spec"]["tasks"][0]["env"][0]["value"] == "rotated"
    assert latest["spec"]["tasks"][2]["env"][0]["value"] == "k-123"


@pytest.mark.django_db
def test_revealing_a_secret_by_unmarking_it_is_refused(api, secret_workflow):
    url = f"/api/workflows/{secret_workflow.pk}/"
    document = api.get(url).json()["document"]
    document["spec"]["tasks"][0]["env"][0]["secret"] = False
    response = api.put(url, document, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "spec.tasks[0].env[0].value"
    assert secret_workflow.versions.count() == 1


@pytest.mark.django_db
def test_creating_with_a_mask_is_an_error_at_its_path(api, project):
    response = api.post(
        f"/api/workflows/?project={project.pk}",
        secret_document(MASK),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "path": "spec.tasks[0].env[0].value",
            "message": response.json()["errors"][0]["message"],
        }
    ]
    assert "hidden secret value" in response.json()["errors"][0]["message"]


# --- the pages --------------------------------------------------------------------


@pytest.mark.django_db
def test_no_page_shows_a_secret(client, user, secret_workflow):
    client.force_login(user)
    for path in [
        f"/workflows/{secret_workflow.pk}/",
        f"/workflows/{secret_workflow.pk}/versions/1/",
        f"/workflows/{secret_workflow.pk}/edit/",
    ]:
        page = html.unescape(client.get(path).content.decode())
        assert SECRET not in page, path
        assert f"value: {MASK}" in page, path


@pytest.mark.django_db
def test_saving_the_edit_form_unchanged_keeps_the_secret(client, user, secret_workflow):
    client.force_login(user)
    form = html.unescape(
        client.get(f"/workflows/{secret_workflow.pk}/edit/").content.decode()
    )
    text = form.split('required\n    placeholder="')[1].split(">\n", 1)[1]
    text = text.split("</textarea>")[0]
    assert text == dump_document(mask_secrets(secret_workflow.latest_version.document))
    changed = text.replace("db.internal", "db2.internal")
    response = client.post(
        f"/workflows/{secret_workflow.pk}/edit/", {"document": changed}
    )
    assert response.status_code == 302
    latest = Workflow.objects.get(pk=secret_workflow.pk).latest_version.document
    assert latest["spec"]["tasks"][0]["env"] == [
        {"name": "DB_PASSWORD", "value": SECRET, "secret": True},
        {"name": "DB_HOST", "value": "db2.internal"},
    ]


@pytest.mark.django_db
def test_the_admin_shows_versions_masked(client, admin_user, secret_workflow):
    client.force_login(admin_user)
    version = secret_workflow.latest_version
    page = client.get(
        f"/admin/workflows/workflowversion/{version.pk}/change/"
    ).content.decode()
    assert SECRET not in page
    assert admin.site._registry[WorkflowVersion].spec(version).count(MASK) == 2


PARAMETER_SECRET = "param-s3cr3t"
OVERRIDE_SECRET = "debug-s3cr3t"
SCHEDULE_SECRET = "sched-s3cr3t"
EVERY_SECRET = [SECRET, "k-123", PARAMETER_SECRET, OVERRIDE_SECRET, SCHEDULE_SECRET]


@pytest.fixture
def secrets_everywhere(user: Any, project: Any) -> None:
    """A secret in a version's document, a run's parameters (through a secret
    env var that uses one), a debug run's overrides, the attempts' rendered
    tasks and a schedule's parameters."""
    document = secret_document()
    document["spec"]["parameters"] = [{"name": "token", "default": "none"}]
    document["spec"]["tasks"][0]["env"].append(
        {"name": "TOKEN", "value": "{{params.token}}", "secret": True}
    )
    workflow = create_workflow(document, project=project, author=user)
    run = submit_run(
        workflow.latest_version, user=user, parameters={"token": PARAMETER_SECRET}
    )
    advance_run(run.pk)
    debug = debug_task(
        run.pk,
        "a",
        overrides={"env": [{"name": "DB_PASSWORD", "value": OVERRIDE_SECRET}]},
        user=user,
    )
    advance_run(debug.pk)
    create_schedule(
        workflow,
        {
            "name": "nightly",
            "kind": "cron",
            "expression": "0 3 * * *",
            "parameters": {"token": SCHEDULE_SECRET},
        },
        user=user,
        now=timezone.now(),
    )
    assert Attempt.objects.count() == 2


def admin_pages(client: Any) -> Iterator[tuple[str, str]]:
    """(url, text) of every admin list and every object's change page."""
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls = [base] + [
            f"{base}{pk}/change/" for pk in model.objects.values_list("pk", flat=True)
        ]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            yield url, html.unescape(response.content.decode())


@pytest.mark.django_db(transaction=True)
def test_no_admin_page_shows_a_secret_value(client, admin_user, secrets_everywhere):
    client.force_login(admin_user)
    for url, page in admin_pages(client):
        for secret in EVERY_SECRET:
            assert secret not in page, (url, secret)
    attempt = Attempt.objects.filter(task_run__run__debug_of=None).get()
    page = client.get(f"/admin/workflows/attempt/{attempt.pk}/change/")
    assert page.content.decode().count(MASK) == 2  # DB_PASSWORD, TOKEN
    assert "db.internal" in page.content.decode()  # not secret: shown


@pytest.mark.django_db(transaction=True)
def test_searching_the_admin_for_a_secret_value_finds_nothing(
    client, admin_user, secrets_everywhere
):
    client.force_login(admin_user)
    for model, model_admin in admin.site._registry.items():
        if not model_admin.search_fields:
            continue
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for secret in EVERY_SECRET:
            found = client.get(url, {"q": secret}).context["cl"].result_count
            assert found == 0, (url, secret)


def test_an_admin_searching_a_json_field_fails_the_system_checks():
    from django.contrib.admin import ModelAdmin, site

    from workflows.checks import admin_searches_no_json

    class Careless(ModelAdmin):
        search_fields = ["handle", "request", "task_run__run__parameters"]

    errors = admin_searches_no_json(registry={Attempt: Careless(Attempt, site)})
    assert [error.id for error in errors] == ["flowdeck.E001"] * 2
    assert "'request'" in errors[0].msg and "Attempt" in errors[0].msg
    assert admin_searches_no_json() == []


# --- nowhere else -----------------------------------------------------------------


@pytest.mark.django_db
def test_secrets_reach_no_event_audit_entry_or_log(api, user, project, caplog):
    caplog.set_level(logging.DEBUG)
    response = api.post(
        f"/api/workflows/?project={project.pk}", secret_document(), format="json"
    )
    workflow = Workflow.objects.get(pk=response.json()["id"])
    api.post(f"/api/workflows/{workflow.pk}/runs/", {}, format="json")
    submit_run(workflow.latest_version, user=user)
    stored = json.dumps(
        [
            list(RunEvent.objects.values()),
            list(AuditEntry.objects.values()),
        ],
        default=str,
    )
    assert SECRET not in stored
    assert SECRET not in caplog.text
