"""Notification rules, the outbox of notifications to deliver, and the log of
each delivery attempt."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from workflows.models import Project, Run, Workflow


class Event(models.TextChoices):
    RUN_FAILED = "run.failed"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_CANCELLED = "run.cancelled"
    TASK_FAILED = "task.failed"  # a task failed its last retry
    DEADLINE_MISSED = "run.deadline_missed"  # still running past the workflow's sla
    # A schedule's fire time that did not start a run within the tolerance:
    # skipped, failed, or submitted late (FLOWDECK_SCHEDULE_TOLERANCE_SECONDS).
    SCHEDULE_MISSED = "schedule.missed"
    TEST = "test"  # "Send test"


RULE_EVENTS = [event for event in Event if event is not Event.TEST]


class Channel(models.TextChoices):
    WEBHOOK = "webhook"  # JSON, signed with HMAC-SHA256
    EMAIL = "email"  # Django's mail backend: plain text and HTML
    SLACK = "slack"  # a Slack-compatible incoming webhook (Mattermost, Teams)


class NotificationRule(models.Model):
    """Tell `target` (a URL, or email addresses) about `events` of the runs of
    a project's workflows, or of one workflow."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="notification_rules"
    )
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notification_rules",
    )
    name = models.CharField(max_length=100)
    events = models.JSONField(default=list)  # Event values
    channel = models.CharField(max_length=16, choices=Channel.choices)
    url = models.URLField(max_length=2000, blank=True)  # webhook, slack
    recipients = models.JSONField(default=list, blank=True)  # email addresses
    # The webhook's signing key: written, never shown again.
    secret = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name", "id"]
        indexes = [models.Index(fields=["project", "enabled"], name="rules_of_project")]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.name}"


class Notification(models.Model):
    """One notification for one rule: the outbox row, written in the
    transaction of the change it reports, delivered after the commit."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after FLOWDECK_NOTIFY_MAX_ATTEMPTS

    rule = models.ForeignKey(
        NotificationRule, on_delete=models.CASCADE, related_name="notifications"
    )
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    event = models.CharField(max_length=32, choices=Event.choices)
    task = models.CharField(max_length=72, blank=True)
    # What else the payload says (a missed schedule's fire).
    detail = models.JSONField(default=dict, blank=True)
    # What the receiver dedupes on (X-Flowdeck-Delivery): one per rule and
    # state change, so a repeated change or a redelivery never makes another.
    key = models.CharField(max_length=200, unique=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # A worker delivering it holds it until then (a worker killed mid-way
    # lets it go when this passes).
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notifications_due",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return self.key


class Delivery(models.Model):
    """One attempt to deliver a notification: the delivery log."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered"
        ERROR = "error"

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    attempt = models.PositiveIntegerField()
    at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.notification_id}#{self.attempt}"
