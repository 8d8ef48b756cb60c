"""Run retention (FLOWDECK_RUN_RETENTION_DAYS, `manage.py prune_runs` and a
beat entry): finished runs older than the retention go, with their task runs,
attempts, outputs, events, claims, notifications and log files.

As workflows.services.retention does for artifacts: a bounded batch of runs
per transaction, their rows locked first (the lock order of every writer) and
the conditions read again under the lock, so a retry that reopens a run
either waits for the batch or makes the run no longer prunable. Locks are
taken with SKIP LOCKED on PostgreSQL: a run some transition holds is left for
the next pass rather than waited for, and nothing else is locked but the
batch's own rows (and, for a moment, the rows that point at them: a run
resubmitted from one, a schedule's fire). The log files go after the commit:
an interrupted pass leaves files of deleted runs, never runs without files,
and the next pass sweeps those (`sweep_orphan_logs`).

Never pruned: a run not finished; one whose parent run (it is a
sub-workflow's) is not finished, since the parent reads its outputs; one with
a child or debug run not finished; one holding or waiting on a semaphore.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from flowcore.states import TERMINAL_RUN_STATUSES
from workflows.models import Attempt, Run, SemaphoreClaim

logger = logging.getLogger(__name__)

# Runs per transaction: with ~3 tasks and ~10 events each, a batch deletes a
# few thousand rows and holds its locks for tens of milliseconds.
BATCH = 200
# The per-run directories the backends write under the data directory.
RUN_DIRECTORIES = ("logs", "work")


@dataclass(frozen=True, slots=True)
class PrunedBatch:
    run_ids: list[int]
    rows: int  # every row deleted, the runs' own included
    files: int  # log files and directories removed


def _unfinished() -> Q:
    return ~Q(status__in=TERMINAL_RUN_STATUSES)


def prunable(cutoff: datetime) -> QuerySet[Run]:
    """Finished runs that finished before `cutoff` and nothing live needs."""
    unfinished = Run.objects.filter(_unfinished())
    return (
        Run.objects.filter(status__in=TERMINAL_RUN_STATUSES, finished_at__lt=cutoff)
        # finished_at >= created_at: the bound lets `run_created` end the scan.
        .filter(created_at__lt=cutoff)
        .exclude(Exists(unfinished.filter(pk=OuterRef("parent_run_id"))))
        .exclude(Exists(unfinished.filter(parent_run=OuterRef("pk"))))
        .exclude(Exists(unfinished.filter(debug_of=OuterRef("pk"))))
        .exclude(Exists(SemaphoreClaim.objects.filter(run=OuterRef("pk"))))
    )


def prune_runs(
    cutoff: datetime,
    *,
    data_dir: Path,
    batch: int = BATCH,
    limit: int | None = None,
    dry_run: bool = False,
) -> Iterator[PrunedBatch]:
    """Delete the runs `prunable(cutoff)` chooses, oldest first, `batch` per
    transaction, then their files; yield each batch as it goes (with
    `dry_run`, only what would go). `limit`: at most that many runs this call
    (a beat entry's pass stays short; the next one goes on)."""
    after: tuple[datetime, int] | None = None
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        candidates = prunable(cutoff).order_by("created_at", "pk")
        if after is not None:
            # Keyset on (created_at, id): runs skipped (locked, or needed) are
            # not read again by this call.
            candidates = candidates.filter(
                Q(created_at__gt=after[0]) | Q(created_at=after[0], pk__gt=after[1])
            )
        found = list(candidates.values_list("created_at", "pk")[:size])
        if not found:
            return
        after = found[-1]
        ids = [pk for _, pk in found]
        done += len(ids)
        if dry_run:
            yield PrunedBatch(ids, 0, 0)
            continue
        pruned = _delete(cutoff, ids)
        if pruned is None:
            continue
        ids, rows, paths = pruned
        files = _remove_files(data_dir, ids, paths)
        yield PrunedBatch(ids, rows, files)


def _delete(
    cutoff: datetime, ids: list[int]
) -> tuple[list[int], int, list[str]] | None:
    """Delete the runs `ids` still prunable, in one transaction; their ids, the
    rows deleted and their attempts' log paths (None when none was left)."""
    # SKIP LOCKED where there is such a thing (SQLite locks nothing by row).
    skip = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        locked = list(
            prunable(cutoff)
            .filter(pk__in=ids)
            .order_by("pk")
            .select_for_update(skip_locked=skip)
            .values_list("pk", flat=True)
        )
        if not locked:
            return None
        paths = [
            path
            for path in Attempt.objects.filter(task_run__run__in=locked)
            .exclude(log_path="")
            .values_list("log_path", flat=True)
        ]
        # Django's collector: every relation to a run (other apps' too) is
        # deleted or set to NULL as its on_delete says.
        rows, _ = Run.objects.filter(pk__in=locked).delete()
    return locked, rows, paths


def _remove_files(data_dir: Path, ids: list[int], paths: list[str]) -> int:
    """The runs' directories under `data_dir` and any log of theirs kept
    elsewhere in it (never a file outside the data directory)."""
    removed = 0
    root = data_dir.resolve()
    for run_id in ids:
        for kind in RUN_DIRECTORIES:
            directory = root / kind / f"run-{run_id}"
            if directory.is_dir():
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
    for path in paths:
        log = Path(path).resolve()
        if not log.is_relative_to(root) or not log.exists():
            continue
        # The log and what sits beside it: `.exit`, a Job's `<n>.<index>.log`.
        for sibling in log.parent.glob(f"{log.stem}.*"):
            sibling.unlink(missing_ok=True)
            removed += 1
    return removed


def first_kept_id(cutoff: datetime) -> int:
    """An id no run created before `cutoff` reaches: that of the first run
    created since (no bound when there is none), for sweep_orphan_logs."""
    first = (
        Run.objects.filter(created_at__gte=cutoff)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    return sys.maxsize if first is None else first


def sweep_orphan_logs(data_dir: Path, *, below: int) -> int:
    """Remove the per-run directories of runs with an id under `below` that
    no longer exist (a pass interrupted after its commit left them); how
    many. The rows are read after the directories are listed, and a backend
    makes a run's directory only once its row is committed, so a new run's
    directory is never taken for an orphan; `below` keeps the sweep to the
    ids retention has reached."""
    removed = 0
    root = data_dir.resolve()
    for kind in RUN_DIRECTORIES:
        parent = root / kind
        if not parent.is_dir():
            continue
        found: dict[int, Path] = {}
        for directory in parent.glob("run-*"):
            number = directory.name.removeprefix("run-")
            if number.isdigit() and int(number) < below:
                found[int(number)] = directory
        numbers = sorted(found)
        existing: set[int] = set()
        for start in range(0, len(numbers), 1000):  # SQLite's variable limit
            existing.update(
                Run.objects.filter(pk__in=numbers[start : start + 1000]).values_list(
                    "pk", flat=True
                )
            )
        for run_id, directory in found.items():
            if run_id not in existing:
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
    return removed
