"""Writing notifications: inside the transaction of the change they report.

RunTransaction (workflows/services/runlock.py) calls `enqueue` as it flushes,
so the outbox row commits with the state change or not at all; the delivery
task is sent by name after the commit (the state machine never imports the
dispatcher or a channel). A change repeated is a no-op before it gets here,
and the key (rule, run, the change's event seq) is unique, so no change is
ever notified twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from celery import current_app
from django.db import transaction
from django.db.models import Q

from notifications.models import Event, Notification, NotificationRule
from workflows.models import Run, Workflow

DELIVER_TASK = "notifications.tasks.deliver"

RUN_EVENTS = {
    "Failed": Event.RUN_FAILED,
    "Succeeded": Event.RUN_SUCCEEDED,
    "Cancelled": Event.RUN_CANCELLED,
}


def rules_for(run: Run) -> list[NotificationRule]:
    """The enabled rules of the run's workflow and of its whole project (one
    query)."""
    return list(
        NotificationRule.objects.filter(enabled=True).filter(
            Q(workflow_id=run.workflow_id)
            | Q(workflow=None, project__workflows__id=run.workflow_id)
        )
    )


def enqueue(run: Run, changes: Iterable[tuple[str, int, str]], now: datetime) -> None:
    """Outbox rows for `changes` (event, the RunEvent seq that recorded it, the
    task it is about); the caller holds the run's transaction."""
    changes = list(changes)
    rules = rules_for(run)
    rows = [
        Notification(
            rule=rule,
            run=run,
            event=event,
            task=task,
            key=f"rule-{rule.pk}/run-{run.pk}/seq-{seq}",
            next_attempt_at=now,
        )
        for rule in rules
        for event, seq, task in changes
        if event in rule.events
    ]
    if rows:
        store(rows)


def schedule_missed(
    fires: list[tuple[int, int, dict[str, object]]], now: datetime
) -> None:
    """Outbox rows for fire times that did not start in time: (workflow id,
    fire id, what to say); the caller holds the transaction."""
    if not fires:
        return
    rules = (
        NotificationRule.objects.filter(enabled=True)
        .filter(
            Q(workflow_id__in={w for w, _, _ in fires})
            | Q(workflow=None, project__workflows__id__in={w for w, _, _ in fires})
        )
        .select_related("project")
    )
    workflows = dict(
        Workflow.objects.filter(pk__in={w for w, _, _ in fires}).values_list(
            "pk", "project_id"
        )
    )
    rows = [
        Notification(
            rule=rule,
            event=Event.SCHEDULE_MISSED,
            detail=detail,
            key=f"rule-{rule.pk}/fire-{fire_id}",
            next_attempt_at=now,
        )
        for rule in rules
        if Event.SCHEDULE_MISSED in rule.events
        for workflow_id, fire_id, detail in fires
        if rule.workflow_id == workflow_id
        or (rule.workflow_id is None and rule.project_id == workflows.get(workflow_id))
    ]
    if rows:
        store(rows)


def store(rows: list[Notification]) -> None:
    """Insert what is new (a key already there is kept as it is) and send each
    new one for delivery once the transaction commits."""
    keys = [row.key for row in rows]
    existing = set(
        Notification.objects.filter(key__in=keys).values_list("key", flat=True)
    )
    Notification.objects.bulk_create(
        [row for row in rows if row.key not in existing], ignore_conflicts=True
    )
    ids = list(
        Notification.objects.filter(key__in=set(keys) - existing).values_list(
            "id", flat=True
        )
    )
    if ids:
        transaction.on_commit(lambda: send_for_delivery(ids))


def send_for_delivery(ids: list[int], *, countdown: float | None = None) -> None:
    for notification_id in ids:
        current_app.send_task(DELIVER_TASK, args=[notification_id], countdown=countdown)
