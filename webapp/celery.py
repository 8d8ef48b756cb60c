"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.worker.consumer import Consumer as CeleryConsumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """The worker's consumer, reconnecting to the broker promptly.

    Celery's reconnect loop waits 2 s, then 4, 6, ... up to 30 s between
    attempts (kombu's defaults, which no setting reaches), so a worker came
    back 10 to 35 s after Redis did, and runs accepted meanwhile waited. Here
    it tries at once, then every FLOWDECK_BROKER_RETRY_MAX_SECONDS at most
    (CELERY_WORKER_CONSUMER names this class)."""

    def ensure_connected(self, conn: Any) -> Any:
        from django.conf import settings

        retry = conn.ensure_connection
        most = settings.FLOWDECK_BROKER_RETRY_MAX_SECONDS

        def ensure_connection(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("interval_start", 0)
            kwargs.setdefault("interval_step", min(0.5, most))
            kwargs.setdefault("interval_max", most)
            return retry(*args, **kwargs)

        conn.ensure_connection = ensure_connection
        return super().ensure_connected(conn)
