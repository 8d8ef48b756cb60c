"""Fixtures for schedules: a workflow that takes the fire time as a
parameter, a clock the test sets, and a way to make and finish runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from schedules.models import Schedule
from schedules.services.editing import create_schedule
from tests.conftest import shell_task, workflow_document
from workflows.models import Project, Run, Workflow
from workflows.services.submit import create_workflow

# A Monday, 10:00 UTC: every test's "now" unless it says otherwise.
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def stamped_document(name: str = "stamped") -> dict[str, Any]:
    return workflow_document(
        name,
        [shell_task("say", "echo {{params.when}}")],
        parameters=[{"name": "when"}, {"name": "label", "default": "plain"}],
    )


@pytest.fixture
def stamped(user: Any, project: Project) -> Workflow:
    return create_workflow(stamped_document(), author=user, project=project)


@pytest.fixture
def make_schedule(stamped: Workflow, user: Any) -> Callable[..., Schedule]:
    """An hourly schedule of `stamped` made at T0 (due at 11:00), with any
    setting overridden."""

    def make(now: datetime = T0, **values: Any) -> Schedule:
        settings = {
            "name": "hourly",
            "kind": "cron",
            "expression": "0 * * * *",
            "timezone": "UTC",
            "parameters": {"when": "{{schedule.time}}"},
            **values,
        }
        return create_schedule(stamped, settings, user=user, now=now)

    return make


def finish(run: Run | int | None, status: str = "Succeeded") -> None:
    """End a run as its backend would have (tests only: the services own
    statuses, but the scheduler only reads them)."""
    assert run is not None
    run_id = run if isinstance(run, int) else run.pk
    Run.objects.filter(pk=run_id).update(status=status)
