"""Workflows, their immutable versions, runs, task runs, attempts and run events.

Status fields are written only by workflows.services (see the transition table
in workflows.states); everything else here is read-only bookkeeping.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from workflows.states import AttemptStatus, RunStatus, TaskStatus


def _choices(enum: type[Any]) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


class WorkflowQuerySet(models.QuerySet["Workflow"]):
    def visible_to(self, user: Any) -> WorkflowQuerySet:
        """What `user` may see; projects and roles refine this later."""
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(owner=user)


class Workflow(models.Model):
    name = models.CharField(max_length=63, unique=True)
    description = models.TextField(blank=True)
    labels = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="workflows"
    )
    latest_version = models.ForeignKey(
        "WorkflowVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImmutableError(Exception):
    pass


class WorkflowVersion(models.Model):
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    document = models.JSONField()  # the spec document exactly as validated
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "number"], name="unique_version_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Runs pin a version: changing one would rewrite what past runs ran.
        if self.pk is not None:
            raise ImmutableError("workflow versions cannot be changed")
        super().save(*args, **kwargs)


class RunQuerySet(models.QuerySet["Run"]):
    def visible_to(self, user: Any) -> RunQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(workflow__owner=user)


class Run(models.Model):
    class Trigger(models.TextChoices):
        MANUAL = "manual"
        API = "api"
        RESUBMIT = "resubmit"
        SCHEDULE = "schedule"

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="runs"
    )
    version = models.ForeignKey(
        WorkflowVersion, on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(
        max_length=16, choices=_choices(RunStatus), default=RunStatus.PENDING
    )
    parameters = models.JSONField(default=dict, blank=True)
    trigger = models.CharField(
        max_length=16, choices=Trigger.choices, default=Trigger.API
    )
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    resubmitted_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveBigIntegerField(default=0)  # of its newest RunEvent

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status"], name="run_status"),
            models.Index(fields=["workflow", "-id"], name="run_workflow"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name} run {self.pk}"


class TaskRun(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tasks")
    name = models.CharField(max_length=63)
    status = models.CharField(
        max_length=16, choices=_choices(TaskStatus), default=TaskStatus.PENDING
    )
    position = models.PositiveIntegerField()  # topological, for ordering and tie-breaks
    priority = models.IntegerField(default=0)
    attempts_count = models.PositiveIntegerField(default=0)
    # The first attempt number since the last manual retry: automatic retries
    # count from here, so a person's retry gets the full retry budget again.
    round_start = models.PositiveIntegerField(default=1)
    retry_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # of the live attempt
    finished_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="unique_task_in_run")
        ]
        indexes = [
            models.Index(
                fields=["run", "status", "-priority", "position"], name="task_queue"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.name}"


class Attempt(models.Model):
    task_run = models.ForeignKey(
        TaskRun, on_delete=models.CASCADE, related_name="attempts"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=_choices(AttemptStatus), default=AttemptStatus.LAUNCHING
    )
    backend = models.CharField(max_length=32)
    handle = models.CharField(max_length=253, blank=True)  # pid, pod name, ...
    request = models.JSONField(default=dict)  # the rendered task it runs
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    log_path = models.CharField(max_length=1024, blank=True)

    class Meta:
        ordering = ["task_run", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["task_run", "number"], name="unique_attempt_number"
            )
        ]
        indexes = [
            models.Index(
                fields=["status"],
                name="live_attempts",
                condition=Q(status__in=["Launching", "Pending", "Running"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_run} #{self.number}"


class RunEvent(models.Model):
    class Kind(models.TextChoices):
        RUN = "run"
        TASK = "task"
        ATTEMPT = "attempt"
        MESSAGE = "message"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    task = models.CharField(max_length=63, blank=True)
    attempt = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, blank=True)
    previous = models.CharField(max_length=16, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="unique_event_seq")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.kind} {self.task} {self.status}"
