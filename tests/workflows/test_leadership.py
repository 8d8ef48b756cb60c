"""Leases in the database and fencing by generation (services/leadership.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flowcore.reports import Report
from flowcore.states import AttemptStatus
from workflows.models import Attempt, LeaderLease, Workflow
from workflows.services import leadership
from workflows.services.advance import advance_run
from workflows.services.attempts import record_report
from workflows.services.leadership import DatabaseLock, Fence, NotLeader
from workflows.services.submit import submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_fence_held() -> Iterator[None]:
    yield
    leadership.hold(None)


def a_launching_attempt(diamond: Workflow, user: Any) -> Attempt:
    run = submit_run(diamond.latest_version, user=user)
    advance_run(run.pk)
    return Attempt.objects.get(task_run__run=run)


def test_a_deposed_leaders_report_is_refused_and_records_nothing(
    diamond: Workflow, user: Any
) -> None:
    attempt = a_launching_attempt(diamond, user)
    won = leadership.raise_fence(leadership.WATCHER, "a")
    leadership.hold(Fence(leadership.WATCHER, won))
    record_report(Report(attempt.pk, AttemptStatus.RUNNING, handle="ns/pod"))
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.RUNNING
    # Another replica wins the lease: this one's next write is refused whole,
    # and the attempt is not ended as an Error either.
    assert leadership.raise_fence(leadership.WATCHER, "b") == won + 1
    with pytest.raises(NotLeader, match="replaced"):
        record_report(Report(attempt.pk, AttemptStatus.SUCCEEDED, exit_code=0))
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.RUNNING


def test_a_leader_past_its_renew_deadline_writes_nothing(
    diamond: Workflow, user: Any
) -> None:
    attempt = a_launching_attempt(diamond, user)
    won = leadership.raise_fence(leadership.WATCHER, "a")
    leadership.hold(Fence(leadership.WATCHER, won, alive=lambda: False))
    with pytest.raises(NotLeader, match="ran out"):
        record_report(Report(attempt.pk, AttemptStatus.RUNNING, handle="ns/pod"))
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.LAUNCHING


def test_processes_that_lead_nothing_write_unfenced(
    diamond: Workflow, user: Any
) -> None:
    attempt = a_launching_attempt(diamond, user)
    leadership.raise_fence(leadership.WATCHER, "a")
    record_report(Report(attempt.pk, AttemptStatus.RUNNING, handle="ns/pod"))
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.RUNNING


def test_the_database_lock_is_held_by_one_until_it_expires_or_is_released() -> None:
    lock = DatabaseLock("test-role")
    assert lock.try_take("a", 0.5) == 1
    assert lock.try_take("b", 0.5) is None
    assert lock.try_take("a", 0.5) == 1  # ours: renewed, same generation
    assert lock.renew("a", 1, 0.5)
    time.sleep(0.7)
    assert lock.try_take("b", 0.5) == 2  # expired: b's, a new generation
    assert not lock.renew("a", 1, 0.5)
    lock.release("b", 2)
    assert lock.try_take("a", 30) == 3  # released: at once
    row = LeaderLease.objects.get(name="test-role")
    assert (row.holder, row.generation) == ("a", 3)


def test_a_new_leaders_fence_waits_for_the_old_leaders_write_to_end(
    diamond: Workflow, user: Any
) -> None:
    """The check holds a share lock on the row: a raise made meanwhile
    commits after the deposed leader's transaction, never in its middle."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row share locks are PostgreSQL's")
    won = leadership.raise_fence(leadership.WATCHER, "a")
    raised = threading.Event()

    def other_leader() -> None:
        leadership.raise_fence(leadership.WATCHER, "b")
        raised.set()
        connection.close()

    with transaction.atomic():
        leadership.check_fence(Fence(leadership.WATCHER, won))
        thread = threading.Thread(target=other_leader)
        thread.start()
        assert not raised.wait(0.5)
    thread.join(5)
    assert raised.is_set()
    with transaction.atomic(), pytest.raises(NotLeader):
        leadership.check_fence(Fence(leadership.WATCHER, won))
