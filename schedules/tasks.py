"""Celery tasks of schedules: the periodic tick, thin and safe to overlap."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from schedules.services import firing


@shared_task(name="schedules.tasks.tick")
def tick() -> None:
    """Sent by Celery beat every FLOWDECK_SCHEDULE_TICK_SECONDS. Several beats
    (or a slow tick overlapping the next) are safe: see services.firing."""
    firing.tick(timezone.now())
