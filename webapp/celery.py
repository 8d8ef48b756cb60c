"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_process_shutdown
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


@worker_init.connect
def _serve_metrics(sender: Any = None, **kwargs: Any) -> None:
    """The worker's metrics on FLOWDECK_METRICS_PORT, from its main process
    (with PROMETHEUS_MULTIPROC_DIR, its pool's processes add up there); and
    its traces, when tasks run in this process (a threads or solo pool)."""
    from webapp.metrics import serve_from_settings

    serve_from_settings()
    pool = getattr(sender, "pool_cls", None)
    if "prefork" not in str(getattr(pool, "__module__", pool)):
        from webapp.tracing import setup_worker

        setup_worker()


@worker_process_init.connect
def _trace_pool_process(**kwargs: Any) -> None:
    # A prefork child: its own exporter thread (threads do not survive a fork).
    from webapp.tracing import setup_worker

    setup_worker()


@worker_process_shutdown.connect
def _forget_process(pid: int | None = None, **kwargs: Any) -> None:
    from observability.exposition import process_exited

    process_exited(pid or os.getpid())
