"""Validate a workflow spec document; see document.validate."""

from __future__ import annotations

from flowcore.validation.document import validate

__all__ = ["validate"]
