"""Map domain errors to HTTP answers: 400 with every field error, 409 for
actions the state forbids, 404 for what does not exist or is not visible, 413
for a body over the size limit, 503 when the database or Redis does not answer,
always as JSON (webapp/errors.py turns Django's own 500 into JSON too)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import (
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from flowcore.spec import SpecError
from flowcore.states import IllegalTransition
from workflows.api.parsers import too_large
from workflows.services.control import ActionRefused


def spec_error_response(error: SpecError) -> Response:
    return Response(
        {
            "detail": "the workflow spec is invalid",
            "errors": [e.as_dict() for e in error.errors],
        },
        status=status.HTTP_400_BAD_REQUEST,
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, SpecError):
        return spec_error_response(exc)
    if isinstance(exc, ActionRefused | IllegalTransition):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is down, unreachable, or gave up a transaction (a
        # deadlock): a retry is the answer; a run submission retried with the
        # same Idempotency-Key cannot start twice.
        return Response(
            {"detail": "the database is unavailable; try again shortly"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        # Django's cache on Redis (login throttling) did not answer.
        return Response(
            {"detail": "Redis is unavailable; try again shortly"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": str(exc) or "not found"}, status=404)
    if isinstance(exc, RequestDataTooBig):
        # Django's check of a form body (or DRF reading one): its own answer
        # is an HTML page without the limit.
        exc = too_large()
    elif isinstance(exc, SuspiciousOperation):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
