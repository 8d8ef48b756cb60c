"""Errors the services raise for actions the current state forbids."""

from __future__ import annotations


class ActionRefused(Exception):
    """The current state forbids the action (the API answers 409)."""
