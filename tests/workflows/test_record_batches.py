"""Several runs' reports in one transaction (services/attempts.py), as the
report pump records them on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from flowcore.reports import Report
from flowcore.states import AttemptStatus
from workflows.models import Attempt, RunEvent, Workflow
from workflows.services import attempts
from workflows.services.advance import advance_run
from workflows.services.attempts import record_reports
from workflows.services.submit import submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("batches are for PostgreSQL's row locks")


def launching(diamond: Workflow, user: Any) -> Attempt:
    run = submit_run(diamond.latest_version, user=user)
    advance_run(run.pk)
    return Attempt.objects.get(task_run__run=run)


def running_events(attempt: Attempt) -> list[int]:
    return list(
        RunEvent.objects.filter(
            run_id=attempt.task_run.run_id, kind="attempt", status="Running"
        ).values_list("seq", flat=True)
    )


def test_several_runs_reports_are_recorded_together(
    diamond: Workflow, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = launching(diamond, user), launching(diamond, user)
    together: list[int] = []
    real = attempts._record_together

    def spy(by_run: Any, *, advance: bool) -> Any:
        result = real(by_run, advance=advance)
        together.append(0 if result is None else len(by_run))
        return result

    monkeypatch.setattr(attempts, "_record_together", spy)
    record_reports(
        [
            Report(first.pk, AttemptStatus.RUNNING, handle="ns/first"),
            Report(second.pk, AttemptStatus.RUNNING, handle="ns/second"),
        ]
    )
    assert together == [2]
    for attempt in (first, second):
        attempt.refresh_from_db()
        assert attempt.status == AttemptStatus.RUNNING
        assert len(running_events(attempt)) == 1


def test_a_run_that_fails_in_a_batch_leaves_the_others_recorded_once(
    diamond: Workflow, user: Any
) -> None:
    first, second = launching(diamond, user), launching(diamond, user)
    gone = first.task_run.run_id + second.task_run.run_id + 1000
    record_reports(
        [
            Report(first.pk, AttemptStatus.RUNNING, handle="ns/first"),
            Report(second.pk, AttemptStatus.RUNNING, handle="ns/second"),
            # A run that does not exist (deleted meanwhile): locking it fails
            # the batch, which is redone run by run.
            Report(first.pk + 10_000, AttemptStatus.RUNNING, run_id=gone),
        ]
    )
    for attempt in (first, second):
        attempt.refresh_from_db()
        assert attempt.status == AttemptStatus.RUNNING
        # Nothing of the batch that failed was kept: one event, not two.
        assert len(running_events(attempt)) == 1
