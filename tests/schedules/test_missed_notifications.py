"""`schedule.missed` notifications: a fire time skipped, failed, or started
later than FLOWDECK_SCHEDULE_TOLERANCE_SECONDS tells the rules that ask."""

from __future__ import annotations

import pytest

from notifications import delivery
from notifications.models import Notification, NotificationRule
from schedules.services.firing import tick
from tests.notifications.receivers import Receiver
from tests.schedules.conftest import at

pytestmark = pytest.mark.django_db


def test_a_skipped_or_late_fire_is_notified_once_and_an_on_time_one_is_not(
    make_schedule, project, settings
):
    settings.FLOWDECK_SCHEDULE_TOLERANCE_SECONDS = 300
    settings.FLOWDECK_BASE_URL = "https://flowdeck.example.com"
    receiver = Receiver()
    try:
        rule = NotificationRule.objects.create(
            project=project,
            name="schedules",
            channel="webhook",
            url=receiver.url,
            events=["schedule.missed"],
        )
        NotificationRule.objects.create(
            project=project,
            name="failures only",
            channel="webhook",
            url=receiver.url,
            events=["run.failed"],
        )
        forbid = make_schedule(overlap="forbid")
        tick(at(11, 0, 30))  # on time: nothing to say
        assert not Notification.objects.exists()
        tick(at(12))  # the 11:00 run still going: skipped
        tick(at(12))  # the same tick again: nothing new
        (skipped,) = Notification.objects.all()
        assert skipped.rule == rule and skipped.event == "schedule.missed"
        assert skipped.detail["status"] == "skipped"

        make_schedule(name="allowing", overlap="allow")
        tick(at(13, 10))  # 10 minutes after 13:00: started, but late
        late = Notification.objects.exclude(pk=skipped.pk).get(detail__name="allowing")
        assert late.detail["status"] == "started"
        assert "600 s after its time" in late.detail["reason"]

        assert delivery.deliver(skipped.pk) == "delivered"
        payload = receiver.received[0].json()
        assert payload["event"] == "schedule.missed"
        assert payload["schedule"]["name"] == forbid.name
        assert payload["schedule"]["url"] == (
            f"https://flowdeck.example.com/schedules/{forbid.pk}/"
        )
        assert "still going" in payload["schedule"]["reason"]
    finally:
        receiver.stop()
