"""The notification rules API: secrets written and never read back, checks
keyed by field, "Send test" and the delivery log, the audit log, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from accounts.models import AuditEntry
from notifications import delivery
from notifications.models import NotificationRule
from tests.notifications.receivers import Receiver, receiver_fixture, verify

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-never-shown-again"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiver_fixture()


def webhook(project, url: str = "https://hooks.example.com/flowdeck", **extra):
    return {
        "project": project.pk,
        "name": "on-call",
        "events": ["run.failed", "task.failed"],
        "channel": "webhook",
        "url": url,
        "secret": SECRET,
        **extra,
    }


def test_a_webhook_rule_keeps_its_secret_and_never_shows_it(api, project):
    response = api.post("/api/notification-rules/", webhook(project), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert "secret" not in body and body["has_secret"] is True
    assert body["events"] == ["run.failed", "task.failed"]
    assert SECRET not in json.dumps(
        api.get(f"/api/notification-rules/{body['id']}/").json()
    )
    assert SECRET not in json.dumps(api.get("/api/notification-rules/").json())
    assert NotificationRule.objects.get().secret == SECRET
    # A change without a secret keeps it; the audit log never holds it.
    patched = api.patch(
        f"/api/notification-rules/{body['id']}/", {"name": "pager"}, format="json"
    )
    assert patched.status_code == 200
    assert NotificationRule.objects.get().secret == SECRET
    entries = AuditEntry.objects.filter(action="notification.manage")
    assert entries.count() == 2
    assert all(SECRET not in json.dumps(entry.detail) for entry in entries)


def test_a_slack_url_is_a_secret_too(api, project):
    response = api.post(
        "/api/notification-rules/",
        webhook(
            project,
            "https://hooks.slack.example/services/T000/B000/XXXXsecretXXXX",
            channel="slack",
            secret="",
        ),
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["url"] == "https://hooks.slack.example/…"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": ""}, "url"),
        ({"events": []}, "events"),
        ({"events": ["run.exploded"]}, "events"),
        ({"channel": "email", "recipients": []}, "recipients"),
        ({"channel": "email", "recipients": ["not an address"]}, "recipients"),
        ({"channel": "pigeon"}, "channel"),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field(api, project, change, field):
    response = api.post(
        "/api/notification-rules/", {**webhook(project), **change}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()


def test_a_workflow_rule_must_be_of_the_projects_workflow(
    api, project, other_project, user
):
    from tests.conftest import diamond_document
    from workflows.services.submit import create_workflow

    elsewhere = create_workflow(
        diamond_document("x"), author=user, project=other_project
    )
    response = api.post(
        "/api/notification-rules/",
        webhook(project, workflow=elsewhere.pk),
        format="json",
    )
    assert response.status_code == 400


def test_send_test_delivers_and_the_log_shows_it(api, project, receiver, settings):
    settings.FLOWDECK_NOTIFY_TIMEOUT_SECONDS = 5
    rule = api.post(
        "/api/notification-rules/", webhook(project, receiver.url), format="json"
    ).json()
    sent = api.post(f"/api/notification-rules/{rule['id']}/test/")
    assert sent.status_code == 202
    delivery.deliver(sent.json()["notification"])  # what the worker does
    (got,) = receiver.received
    assert verify(SECRET, got) and got.json()["event"] == "test"
    log = api.get(f"/api/notification-rules/{rule['id']}/deliveries/").json()
    assert [(d["event"], d["outcome"], d["response_code"]) for d in log] == [
        ("test", "delivered", 200)
    ]
    assert log[0]["key"] == sent.json()["key"]


def test_the_openapi_schema_describes_the_rules(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/notification-rules/" in schema["paths"]
    assert "/api/notification-rules/{id}/test/" in schema["paths"]
    assert "/api/notification-rules/{id}/deliveries/" in schema["paths"]
    components = schema["components"]["schemas"]
    assert "secret" not in components["NotificationRule"]["properties"]
    assert "secret" in components["NotificationRuleRequest"]["properties"]
