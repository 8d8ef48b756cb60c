"""Celery tasks: thin, take ids, idempotent."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from k8s_runner import reconcile


@shared_task(name="k8s_runner.tasks.reconcile_run")
def reconcile_run(run_id: int) -> None:
    reconcile.reconcile(run_id)


@shared_task(name="k8s_runner.tasks.sweep")
def sweep() -> None:
    reconcile.sweep()


@worker_ready.connect
def _recover_on_start(**kwargs: Any) -> None:
    reconcile.recover()
