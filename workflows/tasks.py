"""Celery tasks of the workflows app: thin, idempotent, no arguments that
could go stale."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from workflows.services import run_retention

# Runs one beat pass deletes at most: a pass stays well inside its period,
# and a large backlog (retention just switched on) goes over several.
PASS_LIMIT = 20_000


@shared_task(name="workflows.tasks.prune_runs", ignore_result=True)
def prune_runs() -> int:
    """Delete the finished runs past FLOWDECK_RUN_RETENTION_DAYS (nothing
    when it is 0); how many went."""
    days: int = settings.FLOWDECK_RUN_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    data_dir = Path(settings.DATA_DIR)
    pruned = sum(
        len(batch.run_ids)
        for batch in run_retention.prune_runs(
            cutoff, data_dir=data_dir, limit=PASS_LIMIT
        )
    )
    if pruned < PASS_LIMIT:  # caught up: the leftovers of interrupted passes
        run_retention.sweep_orphan_logs(
            data_dir, below=run_retention.first_kept_id(cutoff)
        )
    return pruned
