"""Delete expired artifacts and the blobs nothing references (run it daily)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

import artifacts
from artifacts.store import StoreError
from workflows.services import retention


def _hours(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


class Command(BaseCommand):
    help = (
        "With FLOWDECK_ARTIFACT_RETENTION_DAYS=N>0, delete the artifacts of runs "
        "finished more than N days ago; then delete every blob in the artifact "
        "store that no task's output references and that nothing has stored for "
        "the grace period. --dry-run lists what it would delete."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List, delete nothing."
        )
        parser.add_argument(
            "--grace-hours",
            type=_hours,
            default=24,
            help="Keep unreferenced blobs stored within this many hours (default "
            "24): an attempt stores its artifacts before its end, which records "
            "them, is committed. At least 1.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.BATCH,
            help=f"Runs per transaction (default {retention.BATCH}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        verbose = options["verbosity"] >= 2 or (dry_run and options["verbosity"] >= 1)
        days: int = settings.FLOWDECK_ARTIFACT_RETENTION_DAYS
        now = timezone.now()
        would = "would delete" if dry_run else "deleted"
        try:
            store = artifacts.from_settings()
        except StoreError as error:
            raise CommandError(f"artifact store: {error}") from error

        cutoff = None
        runs = rows = 0
        if days > 0:
            cutoff = now - timedelta(days=days)
            for run in retention.expire_artifacts(
                cutoff,
                now=now,
                reason=retention.retention_reason(days),
                dry_run=dry_run,
                batch=max(1, options["batch_size"]),
            ):
                runs += 1
                rows += run.rows
                if verbose:
                    named = ", ".join([*run.artifacts, *run.outputs]) or "-"
                    self.stdout.write(
                        f"run {run.run_id} (finished {run.finished_at:%Y-%m-%d}): "
                        f"{would} {run.rows} artifact row(s): {named}"
                    )
        elif verbose:
            self.stdout.write(
                "FLOWDECK_ARTIFACT_RETENTION_DAYS is 0: runs keep their artifacts; "
                "only blobs nothing references are deleted"
            )

        blobs = size = 0
        try:
            for blob in retention.sweep_blobs(
                store,
                now=now,
                grace=timedelta(hours=options["grace_hours"]),
                dry_run=dry_run,
                expiring_before=cutoff if dry_run else None,
            ):
                blobs += 1
                size += blob.size
                if verbose:
                    self.stdout.write(
                        f"blob {blob.sha256} ({_size(blob.size)}, stored "
                        f"{blob.modified:%Y-%m-%d %H:%M}): {would}"
                    )
        except StoreError as error:
            raise CommandError(f"artifact store: {error}") from error
        self.stdout.write(
            f"{would} the artifacts of {runs} run(s) ({rows} row(s)) and "
            f"{blobs} blob(s) ({_size(size)}) from the {store.name} store"
        )
