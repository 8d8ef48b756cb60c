"""Celery tasks of notifications: thin, take ids, idempotent."""

from __future__ import annotations

from celery import shared_task

from notifications import delivery


@shared_task(name="notifications.tasks.deliver")
def deliver(notification_id: int) -> None:
    delivery.deliver(notification_id)


@shared_task(name="notifications.tasks.sweep")
def sweep() -> None:
    delivery.sweep()
