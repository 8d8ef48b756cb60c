"""Exactly once on PostgreSQL: schedulers racing in threads with their own
connections start one run per (schedule, fire time), never two."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from schedules.models import Schedule, ScheduledFire
from schedules.services import firing
from tests.schedules.conftest import at
from workflows.models import Run
from workflows.services import submit

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"
    ),
]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs need not be planned: only who starts them matters here."""
    monkeypatch.setattr(submit, "request_reconcile", lambda run_id, at=None: None)


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in `count` threads released at once; re-raise any error."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_two_schedulers_ticking_at_once_start_each_fire_time_once(make_schedule):
    schedules = [make_schedule(name=f"s{i}", catch_up="all") for i in range(8)]
    for round_, now in enumerate([at(11, 0, 1), at(12, 0, 1), at(14, 0, 1)]):
        results = race(2, lambda _, now=now: firing.tick(now))
        started = sum(len(result.started) for result in results)
        assert started == len(schedules) * (1 if round_ < 2 else 2)
    # 11:00, 12:00, 13:00 (caught up) and 14:00 for each schedule.
    assert ScheduledFire.objects.count() == Run.objects.count() == 8 * 4
    for schedule in schedules:
        times = list(
            schedule.fires.order_by("fire_time").values_list("fire_time", flat=True)
        )
        assert times == [at(11), at(12), at(13), at(14)]


def test_the_unique_claim_holds_when_schedulers_skip_the_row_lock(make_schedule):
    """Even schedulers that bypass the schedule's row lock (a stale cursor, a
    clock far off) cannot both start a time: the second insert of the claim
    waits for the first transaction and then fails."""
    schedule = make_schedule()

    def fire_without_lock(_: int) -> int | None:
        with transaction.atomic():
            mine = Schedule.objects.select_related("workflow__latest_version").get(
                pk=schedule.pk
            )
            claimed = firing.fire(mine, at(11), at(11, 0, 1))
            return claimed.pk if claimed is not None else None

    for _ in range(3):
        claims = race(4, fire_without_lock)
        assert len([c for c in claims if c is not None]) <= 1
    assert Run.objects.count() == 1
    assert schedule.fires.get().status == ScheduledFire.Status.STARTED
