"""Errors the services raise for actions the current state forbids."""

from __future__ import annotations


class ActionRefused(Exception):
    """The current state forbids the action (the API answers 409)."""


class IdempotencyConflict(ActionRefused):
    """An `Idempotency-Key` used before with a different request (409)."""
