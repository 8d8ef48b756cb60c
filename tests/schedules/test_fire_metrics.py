"""flowdeck_schedule_fires by outcome and flowdeck_schedule_lateness_seconds."""

from __future__ import annotations

import pytest

from schedules.services.firing import tick
from tests.observability.scrape import sample
from tests.schedules.conftest import at

pytestmark = pytest.mark.django_db


def test_fires_are_counted_by_outcome_with_the_lateness_of_each_submission(
    make_schedule,
):
    make_schedule(overlap="forbid")
    submitted = sample("flowdeck_schedule_fires_total", outcome="submitted")
    skipped = sample("flowdeck_schedule_fires_total", outcome="skipped")
    late = sample("flowdeck_schedule_lateness_seconds_count")
    late_sum = sample("flowdeck_schedule_lateness_seconds_sum")

    tick(at(11, 0, 30))  # 30 s after its time: submitted, 30 s late
    tick(at(12))  # the 11:00 run still going: skipped (forbid)

    assert sample("flowdeck_schedule_fires_total", outcome="submitted") == (
        submitted + 1
    )
    assert sample("flowdeck_schedule_fires_total", outcome="skipped") == skipped + 1
    assert sample("flowdeck_schedule_lateness_seconds_count") == late + 1
    assert sample("flowdeck_schedule_lateness_seconds_sum") - late_sum == 30
