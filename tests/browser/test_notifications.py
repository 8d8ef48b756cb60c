"""Notification rules on the project page in a real Chromium: a project admin
adds a signed webhook rule, presses "Send test", and sees the delivery in the
log (the test process plays the worker, as in the other browser tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from notifications import delivery
from notifications.models import NotificationRule
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_run_monitor import off_loop
from tests.notifications.receivers import Receiver, receiver_fixture, verify

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-typed-in-the-browser"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiver_fixture()


def test_an_admin_adds_a_webhook_rule_sends_a_test_and_sees_it_delivered(
    page: Any, user: Any, project: Any, receiver: Receiver
) -> None:
    log_in(page, "alice", "pw-alice-123")
    page.goto(page.live_url(f"/projects/{project.pk}/"))
    expect(page.locator("#notifications")).to_contain_text("No notification rules")

    form = page.locator("#rule-form")
    form.get_by_label("Name").fill("on-call")
    form.get_by_label("Run failed").check()
    form.get_by_label("Task failed").check()
    form.get_by_label("Channel").select_option("webhook")
    form.get_by_label("URL").fill(receiver.url)
    form.get_by_label("Signing secret").fill(SECRET)
    form.get_by_role("button", name="Add rule").click()
    page.wait_for_load_state()

    rule_row = page.locator('tr[data-rule="on-call"]')
    expect(rule_row).to_contain_text("run.failed, task.failed")
    expect(rule_row).to_contain_text("(signed)")
    assert SECRET not in page.content()  # never shown again
    rule = off_loop(NotificationRule.objects.get)
    assert rule.secret == SECRET

    rule_row.get_by_role("button", name="Send test").click()
    page.wait_for_load_state()
    expect(page.locator("body")).to_contain_text("Sent a test notification")
    assert off_loop(delivery.sweep) == 1  # what a worker does next
    page.reload()
    logged = page.locator('#delivery-log tr[data-outcome="delivered"]')
    expect(logged).to_have_count(1)
    expect(logged).to_contain_text("on-call")
    expect(logged).to_contain_text("test")
    expect(logged).to_contain_text("200")
    screenshot(page, "project-notifications")

    (got,) = receiver.received
    assert verify(SECRET, got)
    assert got.json()["event"] == "test"
