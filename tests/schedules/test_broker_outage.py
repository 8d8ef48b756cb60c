"""A broker outage is downtime like any other for schedules: a fire whose run
the broker could not dispatch is started and kept (the sweep dispatches it),
and the fires beat could not send a tick for follow the catch-up policy."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError

from schedules.models import ScheduledFire
from schedules.services.firing import tick
from tests.schedules.conftest import at
from webapp.celery import app

pytestmark = pytest.mark.django_db(transaction=True)

Status = ScheduledFire.Status


def fires(schedule) -> list[tuple[str, str]]:
    return [
        (f"{fire.fire_time:%H:%M}", fire.status)
        for fire in ScheduledFire.objects.filter(schedule=schedule).order_by(
            "fire_time"
        )
    ]


def test_a_fire_whose_run_the_broker_cannot_take_is_started_and_kept(
    make_schedule, broker_down
):
    """The tick reached a worker, then Redis went: the run is committed with
    its fire, and the tick reports no error (it used to raise after the
    commit, from the on-commit dispatch)."""
    schedule = make_schedule()
    result = tick(at(11, 0, 5))
    assert result.errors == []
    assert fires(schedule) == [("11:00", Status.STARTED)]
    fire = ScheduledFire.objects.get(schedule=schedule)
    assert fire.run is not None and fire.run.status == "Pending"
    schedule.refresh_from_db()
    assert schedule.next_fire_at == at(12)


@pytest.mark.parametrize(
    ("policy", "started", "noted"),
    [
        ("none", [], "catch-up none: none of them"),
        ("latest", ["15:00"], "catch-up latest: the newest of them"),
        ("all", ["11:00", "12:00", "13:00", "14:00", "15:00"], ""),
    ],
)
def test_fires_missed_while_the_broker_was_down_follow_the_catch_up_policy(
    make_schedule, monkeypatch, policy, started, noted
):
    schedule = make_schedule(catch_up=policy)
    # 10:59 to 15:30 Redis is down: beat cannot send a single tick ("Couldn't
    # apply scheduled task"), so no worker ticks.
    with monkeypatch.context() as outage:
        from tests.net import free_port

        outage.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
        outage.setattr(app, "_pool", None)
        outage.setattr(app.amqp, "_producer_pool", None)
        with pytest.raises(OperationalError):
            app.send_task("schedules.tasks.tick")
    # Redis is back; the first tick beat sends:
    result = tick(at(15, 30))
    assert result.errors == []
    assert [t for t, s in fires(schedule) if s == Status.STARTED] == started
    schedule.refresh_from_db()
    assert noted in schedule.note
    assert schedule.next_fire_at == at(16)
