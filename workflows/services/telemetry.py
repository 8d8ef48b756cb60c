"""What each committed transition adds to the metrics (docs/operations.md).

RunTransaction notes the transitions as it makes them and hands them here
after its commit, so a rolled-back transaction counts nothing and a repeated
transition (a no-op) counts once. Labels are the project's and workflow's
names, looked up once per workflow per process; never a run or an instance.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from observability import metrics
from workflows.models import Workflow

logger = logging.getLogger(__name__)

_names: dict[int, tuple[str, str]] = {}
_names_lock = threading.Lock()
_MAX_NAMES = 4096


@dataclass(frozen=True, slots=True)
class Observation:
    """One transition worth counting: `what` is run_started, run_finished,
    task_started, task_finished or program_started; `seconds` a duration
    (or None when the start is unknown)."""

    what: str
    status: str = ""
    seconds: float | None = None


def elapsed(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


def labels_of(workflow_id: int) -> tuple[str, str]:
    """(project name, workflow name): a renamed project keeps its old name
    here until the process restarts (workflow names do not change)."""
    with _names_lock:
        found = _names.get(workflow_id)
    if found is None:
        found = Workflow.objects.values_list("project__name", "name").get(
            pk=workflow_id
        )
        with _names_lock:
            if len(_names) >= _MAX_NAMES:
                _names.clear()
            _names[workflow_id] = found
    return found


def record(workflow_id: int, observations: list[Observation]) -> None:
    """Count committed transitions; never raises (metrics must not fail a run)."""
    try:
        project, workflow = labels_of(workflow_id)
        for seen in observations:
            _count(project, workflow, seen)
    except Exception:
        logger.exception("counting %d transition(s) failed", len(observations))


def _count(project: str, workflow: str, seen: Observation) -> None:
    match seen.what:
        case "run_started":
            metrics.RUNS_STARTED.labels(project, workflow).inc()
        case "run_finished":
            metrics.RUNS_FINISHED.labels(project, workflow, seen.status).inc()
            if seen.seconds is not None:
                metrics.RUN_DURATION.labels(project, workflow, seen.status).observe(
                    seen.seconds
                )
        case "task_started":
            metrics.TASKS_STARTED.labels(project, workflow).inc()
        case "task_finished":
            metrics.TASKS_FINISHED.labels(project, workflow, seen.status).inc()
            if seen.seconds is not None:
                metrics.TASK_DURATION.labels(project, seen.status).observe(seen.seconds)
        case "program_started":
            if seen.seconds is not None:
                metrics.SCHEDULING_LATENCY.labels(project).observe(seen.seconds)
