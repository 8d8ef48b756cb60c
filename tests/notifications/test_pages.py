"""The workflow page shows the rules that tell people about its runs; an
editor may test the workflow's own rules, only an admin the project's."""

from __future__ import annotations

import pytest
from django.test import Client

from notifications.models import Notification, NotificationRule
from tests.conftest import member
from workflows.models import Role

pytestmark = pytest.mark.django_db


def test_the_workflow_page_lists_its_rules_and_offers_send_test_by_role(
    diamond, project, django_user_model
):
    own = NotificationRule.objects.create(
        project=project,
        workflow=diamond,
        name="diamond-owners",
        channel="slack",
        url="https://hooks.slack.example/services/T0/B0/secret-token",
        events=["run.failed"],
    )
    NotificationRule.objects.create(
        project=project,
        name="platform",
        channel="email",
        recipients=["ops@example.com"],
        events=["run.failed", "run.deadline_missed"],
    )
    eve = member(
        project,
        django_user_model.objects.create_user("eve", password="pw-eve-12345"),
        Role.EDITOR,
    )
    client = Client()
    client.force_login(eve)
    page = client.get(f"/workflows/{diamond.pk}/").content.decode()
    assert "diamond-owners" in page and "platform" in page
    assert "ops@example.com" in page
    assert "secret-token" not in page  # a Slack URL shows its host only
    assert page.count(">Send test<") == 1  # the workflow's rule, not the project's
    response = client.post(f"/projects/{project.pk}/notifications/{own.pk}/test/")
    assert response.status_code == 302
    assert Notification.objects.get(rule=own).event == "test"
