"""Artifact retention and garbage collection (`manage.py gc_artifacts`).

Two steps, each safe to interrupt and to run again:

1. `expire_artifacts`: the runs that finished before a cutoff (the retention,
   FLOWDECK_ARTIFACT_RETENTION_DAYS) lose their artifacts: their artifact
   AttemptOutput rows are deleted, the artifacts their outputs name move to
   `missing`, and a RunEvent says so. A batch of runs per transaction, their
   rows locked first (the lock order of every writer), so a retry that
   reopens a run waits for the batch or makes the run no longer expire.
2. `sweep_blobs`: every blob no AttemptOutput row references is deleted,
   once it has not been stored for a grace period by the store's clock.

The grace period is what keeps a blob whose row is not committed yet: an
attempt stores its artifacts before the report of its end is recorded, and
storing a blob again refreshes its time (artifacts.store). The collector
reads the rows after it lists the blobs, and `delete_stale` looks at a blob's
time again as it deletes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from artifacts.store import ArtifactStore, StoredBlob
from flowcore.states import TERMINAL_RUN_STATUSES
from workflows.models import AttemptOutput, Run
from workflows.services.runlock import RunTransaction

T = TypeVar("T")

# Runs per transaction: their rows stay locked while their artifact rows go.
BATCH = 100
# Blobs whose references are looked up in one query.
BLOB_BATCH = 1000


@dataclass(frozen=True, slots=True)
class ExpiredRun:
    run_id: int
    finished_at: datetime
    artifacts: list[str]  # the tasks' artifacts, as "task/name"
    rows: int  # AttemptOutput rows (one per attempt that left each)
    outputs: list[str]  # the run's own output artifacts


def retention_reason(days: int) -> str:
    return (
        f"kept {days} day{'s' if days != 1 else ''} after the run finished "
        "(FLOWDECK_ARTIFACT_RETENTION_DAYS)"
    )


def expired(cutoff: datetime) -> QuerySet[Run]:
    """Finished runs whose artifacts expire: they finished before `cutoff`
    and still have artifact rows or output artifacts."""
    has_rows = AttemptOutput.objects.filter(
        kind=AttemptOutput.Kind.ARTIFACT, attempt__task_run__run=OuterRef("pk")
    )
    names_artifacts = Q(outputs__has_key="artifacts") & ~Q(outputs__artifacts={})
    return Run.objects.filter(
        Q(Exists(has_rows)) | names_artifacts,
        finished_at__lt=cutoff,
        status__in=TERMINAL_RUN_STATUSES,
    )


def expire_artifacts(
    cutoff: datetime,
    *,
    now: datetime,
    reason: str,
    dry_run: bool = False,
    batch: int = BATCH,
) -> Iterator[ExpiredRun]:
    """Delete the artifacts of the runs finished before `cutoff`, a batch of
    runs per transaction; yield each run's as it goes (only list them, with
    `dry_run`)."""
    after = 0
    while True:
        ids = list(
            expired(cutoff)
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        after = ids[-1]
        if dry_run:
            runs = list(expired(cutoff).filter(pk__in=ids).order_by("pk"))
            yield from _described(runs)
            continue
        with transaction.atomic():
            # Locked and read again: a run reopened by a retry since the
            # query above no longer expires.
            runs = list(
                expired(cutoff).filter(pk__in=ids).select_for_update().order_by("pk")
            )
            gone = list(_described(runs))
            AttemptOutput.objects.filter(
                kind=AttemptOutput.Kind.ARTIFACT,
                attempt__task_run__run__in=[run.pk for run in runs],
            ).delete()
            for run, described in zip(runs, gone, strict=True):
                txn = RunTransaction(run, now)
                txn.expire_artifacts(described.artifacts, reason)
                txn.flush()
        yield from gone


def _described(runs: list[Run]) -> Iterator[ExpiredRun]:
    rows: dict[int, list[str]] = {run.pk: [] for run in runs}
    found = (
        AttemptOutput.objects.filter(
            kind=AttemptOutput.Kind.ARTIFACT, attempt__task_run__run__in=list(rows)
        )
        .order_by()
        .values_list("attempt__task_run__run_id", "attempt__task_run__name", "name")
    )
    for run_id, task, name in found:
        rows[run_id].append(f"{task}/{name}")
    for run in runs:
        assert run.finished_at is not None  # expired() asks for it
        yield ExpiredRun(
            run.pk,
            run.finished_at,
            sorted(set(rows[run.pk])),
            len(rows[run.pk]),
            sorted((run.outputs or {}).get("artifacts") or {}),
        )


def sweep_blobs(
    store: ArtifactStore,
    *,
    now: datetime,
    grace: timedelta,
    dry_run: bool = False,
    expiring_before: datetime | None = None,
    batch: int = BLOB_BATCH,
) -> Iterator[StoredBlob]:
    """Delete (with `dry_run`, only list) every blob no AttemptOutput row
    references that was last stored before `now - grace`; yield each.

    `expiring_before`, for a dry run: count the rows `expire_artifacts` would
    delete (runs finished before it) as gone, so the list is what a real run
    deletes."""
    # Whole seconds, as S3 keeps time: a blob stored in the cutoff's second
    # counts as new.
    stale_before = (now - grace).replace(microsecond=0)
    for group in _batched(store.blobs(), batch):
        # The rows are read after the blobs were listed: a row committed
        # before this query keeps its blob, and an attempt still storing one
        # refreshed the blob's time, which delete_stale looks at again.
        old = {blob.sha256: blob for blob in group if blob.modified < stale_before}
        if not old:
            continue
        rows = AttemptOutput.objects.filter(sha256__in=list(old)).exclude(sha256="")
        if expiring_before is not None:
            rows = rows.exclude(
                kind=AttemptOutput.Kind.ARTIFACT,
                attempt__task_run__run__finished_at__lt=expiring_before,
                attempt__task_run__run__status__in=TERMINAL_RUN_STATUSES,
            )
        referenced = set(rows.values_list("sha256", flat=True))
        for sha256, blob in old.items():
            if sha256 in referenced:
                continue
            if dry_run or store.delete_stale(sha256, stale_before):
                yield blob


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    group: list[T] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group
