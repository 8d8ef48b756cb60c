"""Liveness and readiness probes, answered without authentication by design:
they reveal only whether the process, the database, the broker and the
artifact store answer (and, for the store, why not: a missing bucket's name,
an unwritable directory)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

import artifacts
from webapp.celery import app as celery_app


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unavailable: {type(error).__name__}"
    try:
        with celery_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as error:  # noqa: BLE001
        checks["broker"] = f"unavailable: {type(error).__name__}"
    checks["artifact store"] = _artifact_store()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def _artifact_store() -> str:
    """ "ok", or why no artifact can be stored or served: workers store them
    as tasks end and the web serves them, so neither is ready without it."""
    try:
        problem = artifacts.from_settings().check()
    except artifacts.StoreError as error:  # a bucket not configured
        problem = str(error)
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        problem = type(error).__name__
    return "ok" if problem is None else f"unavailable: {problem}"
