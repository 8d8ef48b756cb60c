"""Schedules of a workflow, each time one fired, and backfills of past ranges.

Rows change only through schedules.services. A ScheduledFire is unique per
(schedule, fire time): the insert that wins starts the run, in the same
transaction, so a time never starts two runs however many schedulers race.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from workflows.models import Run, Workflow

# The ranges of docs/schedules.md#ranges that a column holds.
MAX_ACTIVE = 1000
MAX_CATCH_UP = 1000
MAX_BACKFILL_CONCURRENCY = 100


class Schedule(models.Model):
    class Kind(models.TextChoices):
        CRON = "cron"
        INTERVAL = "interval"

    class Overlap(models.TextChoices):
        """What a fire does while earlier scheduled runs are still going."""

        ALLOW = "allow"  # start anyway (up to max_active)
        FORBID = "forbid"  # skip this time, and record why
        REPLACE = "replace"  # cancel the running ones, then start
        QUEUE = "queue"  # start when they end

    class CatchUp(models.TextChoices):
        """What to start for times missed while no scheduler ran."""

        NONE = "none"
        LATEST = "latest"
        ALL = "all"

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="schedules"
    )
    name = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CRON)
    # Five cron fields or an @alias; or an interval such as "every 10m".
    expression = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    overlap = models.CharField(
        max_length=16, choices=Overlap.choices, default=Overlap.ALLOW
    )
    # At most this many of the schedule's runs at once; null: no limit (allow,
    # replace) or one (forbid, queue).
    max_active = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_ACTIVE)],
    )
    catch_up = models.CharField(
        max_length=16, choices=CatchUp.choices, default=CatchUp.LATEST
    )
    # How many missed times "all" starts at most (the newest ones).
    catch_up_limit = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(MAX_CATCH_UP)]
    )
    # The earliest fire time not handled yet; null when the schedule has ended.
    next_fire_at = models.DateTimeField(null=True, blank=True)
    # The last thing worth telling about catching up ("missed 3 times ...").
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workflow", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "name"], name="unique_schedule_name"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_fire_at"],
                name="schedule_due",
                condition=Q(enabled=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name}/{self.name}"

    @property
    def project_id(self) -> int:
        """For the audit log, which files entries under a target's project."""
        return self.workflow.project_id


class Backfill(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        CANCELLED = "cancelled"

    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="backfills"
    )
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    max_concurrent = models.PositiveIntegerField(
        default=1,
        validators=[
            MinValueValidator(1),
            MaxValueValidator(MAX_BACKFILL_CONCURRENCY),
        ],
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RUNNING
    )
    total = models.PositiveIntegerField(default=0)  # fires it created
    already_fired = models.PositiveIntegerField(default=0)  # times it left alone
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"backfill {self.pk} of {self.schedule}"

    @property
    def project_id(self) -> int:
        return self.schedule.workflow.project_id


class ScheduledFire(models.Model):
    class Status(models.TextChoices):
        STARTED = "started"  # its run was submitted
        SKIPPED = "skipped"  # see reason
        QUEUED = "queued"  # waits for the schedule's running runs to end
        PENDING = "pending"  # a backfill's, waiting for room under its cap
        FAILED = "failed"  # the run could not be submitted; see reason

    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="fires"
    )
    fire_time = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices)
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    backfill = models.ForeignKey(
        Backfill,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="fires",
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["schedule", "-fire_time"]
        constraints = [
            # Exactly once: the loser of a race to insert a time gets an
            # IntegrityError and starts nothing.
            models.UniqueConstraint(
                fields=["schedule", "fire_time"], name="schedule_fires_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["schedule", "fire_time"],
                name="fires_waiting",
                condition=Q(status__in=["queued", "pending"]),
            ),
            models.Index(
                fields=["schedule", "status"],
                name="fires_started",
                condition=Q(status="started"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} at {self.fire_time:%Y-%m-%d %H:%M:%S}"
