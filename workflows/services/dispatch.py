"""Hand work to the dispatcher through the broker, by task name.

The services never import the dispatcher: they name its Celery tasks, so the
domain stays independent of how attempts are run.
"""

from __future__ import annotations

from datetime import datetime

from celery import current_app

RECONCILE_TASK = "k8s_runner.tasks.reconcile_run"


def request_reconcile(run_id: int, *, at: datetime | None = None) -> None:
    """Ask a worker to plan and advance the run, now or at `at`. Call after commit."""
    current_app.send_task(RECONCILE_TASK, args=[run_id], eta=at)
