"""Delete the finished runs older than the retention, with their logs."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from workflows.services import run_retention


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


class Command(BaseCommand):
    help = (
        "Delete the runs that finished more than FLOWDECK_RUN_RETENTION_DAYS "
        "days ago (or --days) with their tasks, attempts, outputs, events and "
        "log files, a batch per short transaction; never a run still running "
        "or one a live run still needs. Safe to interrupt and to run again. "
        "--dry-run counts what it would delete."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=_positive,
            default=None,
            help="Override FLOWDECK_RUN_RETENTION_DAYS for this run.",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=run_retention.BATCH,
            help=f"Runs per transaction (default {run_retention.BATCH}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count, delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["days"] or settings.FLOWDECK_RUN_RETENTION_DAYS
        if days <= 0:
            raise CommandError(
                "run retention is off: set FLOWDECK_RUN_RETENTION_DAYS or --days"
            )
        cutoff = timezone.now() - timedelta(days=days)
        data_dir = Path(settings.DATA_DIR)
        dry_run: bool = options["dry_run"]
        runs = rows = files = 0
        for batch in run_retention.prune_runs(
            cutoff, data_dir=data_dir, batch=options["batch_size"], dry_run=dry_run
        ):
            runs += len(batch.run_ids)
            rows += batch.rows
            files += batch.files
            if options["verbosity"] >= 2:
                self.stdout.write(
                    f"runs {batch.run_ids[0]}..{batch.run_ids[-1]}: "
                    f"{len(batch.run_ids)} runs, {batch.rows} rows"
                )
        if dry_run:
            self.stdout.write(
                f"would delete {runs} runs finished before {cutoff:%Y-%m-%d %H:%M} UTC"
            )
            return
        files += run_retention.sweep_orphan_logs(
            data_dir, below=run_retention.first_kept_id(cutoff)
        )
        self.stdout.write(
            f"deleted {runs} runs finished before {cutoff:%Y-%m-%d %H:%M} UTC "
            f"({rows} rows, {files} log files and directories)"
        )
