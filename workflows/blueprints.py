"""Parsed, graph-compiled specs of workflow versions, cached per process.

Versions are immutable, so a version's Blueprint never goes stale; the cache
only bounds memory.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Any

from django.conf import settings

from workflows.engine import Blueprint
from workflows.spec import Limits, parse_spec

_CACHE_SIZE = 64
_cache: OrderedDict[int, Blueprint] = OrderedDict()
_lock = Lock()


def spec_limits() -> Limits:
    return Limits(
        max_tasks=settings.FLOWDECK_MAX_TASKS,
        max_spec_bytes=settings.FLOWDECK_MAX_SPEC_BYTES,
        allow_privileged=settings.FLOWDECK_K8S_ALLOW_PRIVILEGED,
    )


def blueprint_for(version_id: int, document: dict[str, Any] | None = None) -> Blueprint:
    with _lock:
        cached = _cache.get(version_id)
        if cached is not None:
            _cache.move_to_end(version_id)
            return cached
    if document is None:
        from workflows.models import WorkflowVersion

        document = WorkflowVersion.objects.values_list("document", flat=True).get(
            pk=version_id
        )
    # Stored versions were validated when saved; the limits may have shrunk since,
    # which must not make existing runs unreadable. (Whether privileged pods are
    # still allowed is checked again when one is launched.)
    blueprint = Blueprint.of(
        parse_spec(document, Limits(10**9, 10**12, allow_privileged=True))
    )
    with _lock:
        _cache[version_id] = blueprint
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return blueprint


_identities: dict[int, tuple[str, int]] = {}


def version_identity(version_id: int) -> tuple[str, int]:
    """(workflow name, version number): both immutable, so cached for good."""
    identity = _identities.get(version_id)
    if identity is None:
        from workflows.models import WorkflowVersion

        identity = WorkflowVersion.objects.values_list("workflow__name", "number").get(
            pk=version_id
        )
        _identities[version_id] = identity
    return identity
