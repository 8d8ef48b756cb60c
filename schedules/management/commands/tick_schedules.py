"""Fire due schedules once, now or at a given time (for operators and tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from schedules.services import firing


class Command(BaseCommand):
    help = (
        "Run one schedule tick, as Celery beat does every few seconds. --now "
        "pretends the time is another (ISO 8601 with offset), e.g. to test a "
        "schedule; times that fired stay fired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", help="ISO 8601 time with offset")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["now"]:
            try:
                now = datetime.fromisoformat(options["now"])
            except ValueError as error:
                raise CommandError(f"--now: {error}") from None
            if now.utcoffset() is None:
                raise CommandError("--now needs an offset, e.g. +00:00")
        result = firing.tick(now)
        self.stdout.write(
            f"started {len(result.started)}, skipped {len(result.skipped)}, "
            f"queued {len(result.queued)}, failed {len(result.failed)}"
        )
