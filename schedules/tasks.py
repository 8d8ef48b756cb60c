"""Celery tasks of schedules: the periodic tick, thin and safe to overlap."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from schedules.services import firing
from workflows.services import leadership

log = logging.getLogger(__name__)


@shared_task(name="schedules.tasks.tick")
def tick(fence: int | None = None) -> None:
    """Sent by Celery beat every FLOWDECK_SCHEDULE_TICK_SECONDS. Several beats
    (or a slow tick overlapping the next) are safe: see services.firing. An
    elected beat sends its generation (`fence`): a tick of a deposed leader
    claims no fire (webapp/beat.py)."""
    carried = leadership.Fence(leadership.BEAT, fence) if fence is not None else None
    with leadership.fencing(carried):
        try:
            firing.tick(timezone.now())
        except leadership.NotLeader as error:
            log.info("schedules tick refused: %s", error)
