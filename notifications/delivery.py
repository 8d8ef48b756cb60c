"""Delivering the outbox: claim a due notification, send it with no
transaction open, record the attempt in the delivery log, and retry with
exponential backoff until FLOWDECK_NOTIFY_MAX_ATTEMPTS.

A claim is a compare-and-swap on the row (pending, due, not claimed or its
claim expired), so two workers never send one notification at once; a
worker killed mid-send leaves a claim that expires, and the sweep sends it
again with the same key (X-Flowdeck-Delivery), which the receiver dedupes.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications import channels, outbox, payloads
from notifications.models import (
    Delivery,
    Event,
    Notification,
    NotificationRule,
)
from observability import metrics
from workflows.models import Run

logger = logging.getLogger(__name__)

_SWEEP_BATCH = 200


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: the base, doubled each time,
    at most an hour."""
    base = settings.FLOWDECK_NOTIFY_RETRY_SECONDS
    return float(min(base * 2 ** (attempt - 1), 3600.0))


def _lease() -> timedelta:
    return timedelta(seconds=settings.FLOWDECK_NOTIFY_TIMEOUT_SECONDS * 2 + 5)


def claim(notification_id: int) -> bool:
    now = timezone.now()
    return bool(
        Notification.objects.filter(
            Q(claimed_until=None) | Q(claimed_until__lt=now),
            pk=notification_id,
            status=Notification.Status.PENDING,
            next_attempt_at__lte=now,
        ).update(claimed_until=now + _lease(), attempts=F("attempts") + 1)
    )


def deliver(notification_id: int) -> str | None:
    """Send the notification if it is due and nobody else is sending it;
    its status afterwards (None: not claimed)."""
    if not claim(notification_id):
        return None
    notification = Notification.objects.select_related(
        "rule__project", "run__workflow", "run__version"
    ).get(pk=notification_id)
    began = time.monotonic()
    at = timezone.now()
    code: int | None = None
    error = ""
    try:
        code = channels.send(notification.rule, payloads.build(notification))
    except channels.SendFailed as failed:
        code, error = failed.code, str(failed)
    except Exception as failed:  # a bug must not lose the notification
        logger.exception("notification %s failed", notification.key)
        error = f"{type(failed).__name__}: {failed}"
    took = int((time.monotonic() - began) * 1000)
    return _record(notification, at, code, error, took)


def _record(
    notification: Notification, at: object, code: int | None, error: str, took: int
) -> str:
    now = timezone.now()
    with transaction.atomic():
        Delivery.objects.create(
            notification=notification,
            attempt=notification.attempts,
            at=at,
            outcome=Delivery.Outcome.ERROR if error else Delivery.Outcome.DELIVERED,
            response_code=code,
            error=error[:500],
            duration_ms=took,
        )
        fields: dict[str, object] = {"claimed_until": None}
        if not error:
            fields |= {"status": Notification.Status.DELIVERED, "delivered_at": now}
        elif notification.attempts >= settings.FLOWDECK_NOTIFY_MAX_ATTEMPTS:
            fields["status"] = Notification.Status.FAILED
        else:
            wait = backoff(notification.attempts)
            fields["next_attempt_at"] = now + timedelta(seconds=wait)
            transaction.on_commit(
                lambda: outbox.send_for_delivery([notification.pk], countdown=wait)
            )
        Notification.objects.filter(pk=notification.pk).update(**fields)
    result = str(fields.get("status", "retry"))
    metrics.NOTIFICATION_ATTEMPTS.labels(notification.rule.channel, result).inc()
    return "pending" if result == "retry" else result


def sweep() -> int:
    """Deliver what is due (a retry whose message was lost, a notification
    whose worker died): the outbox, not the broker, is what must not lose
    them. Also writes deadline misses. Returns how many it tried."""
    find_deadline_misses()
    now = timezone.now()
    due = list(
        Notification.objects.filter(
            Q(claimed_until=None) | Q(claimed_until__lt=now),
            status=Notification.Status.PENDING,
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:_SWEEP_BATCH]
    )
    for notification_id in due:
        try:
            deliver(notification_id)
        except Exception:
            logger.exception("delivering notification %s failed", notification_id)
    return len(due)


def find_deadline_misses() -> None:
    """An outbox row for each rule asking about deadline misses and each of
    its runs still running past its workflow's `sla`."""
    from workflows.blueprints import blueprint_of

    rules = [
        rule
        for rule in NotificationRule.objects.filter(enabled=True)
        if Event.DEADLINE_MISSED in rule.events
    ]
    if not rules:
        return
    now = timezone.now()
    projects = {rule.project_id for rule in rules}
    running = Run.objects.filter(
        status="Running",
        workflow__project_id__in=projects,
        started_at__isnull=False,
    ).select_related("workflow", "version")
    rows = []
    for run in running:
        sla = blueprint_of(run).spec.sla
        if sla is None or run.started_at + timedelta(seconds=sla) > now:
            continue
        for rule in rules:
            if rule.project_id == run.workflow.project_id and rule.workflow_id in (
                None,
                run.workflow_id,
            ):
                rows.append(
                    Notification(
                        rule=rule,
                        run=run,
                        event=Event.DEADLINE_MISSED,
                        key=f"rule-{rule.pk}/run-{run.pk}/deadline-"
                        f"{int(run.started_at.timestamp())}",
                        next_attempt_at=now,
                    )
                )
    if rows:
        with transaction.atomic():
            outbox.store(rows)


def send_test(rule: NotificationRule) -> Notification:
    """ "Send test": a notification of the rule with no run, delivered now by
    the caller's worker like any other (so it shows in the delivery log)."""
    now = timezone.now()
    with transaction.atomic():
        notification = Notification.objects.create(
            rule=rule,
            event=Event.TEST,
            key=f"rule-{rule.pk}/test-{now.timestamp():.6f}",
            next_attempt_at=now,
        )
        transaction.on_commit(lambda: outbox.send_for_delivery([notification.pk]))
    return notification
