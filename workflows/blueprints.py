"""Parsed, graph-compiled specs of workflow versions, cached per process.

Versions are immutable, so a version's Blueprint never goes stale; the cache
only bounds memory. A debug run plans with a spec of its own (one task of its
version, alone, with overrides), cached by run: `blueprint_of(run)` is what
planners ask for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from threading import Lock
from typing import TYPE_CHECKING, Any

from django.conf import settings

from flowcore.engine import Blueprint
from flowcore.spec import Limits, parse_spec

if TYPE_CHECKING:
    from workflows.models import Run

_CACHE_SIZE = 64
_cache: OrderedDict[int, Blueprint] = OrderedDict()
_lock = Lock()
# Debug runs' blueprints, by run id: each run has its own overrides.
_debug_cache: OrderedDict[int, Blueprint] = OrderedDict()
# What a debug run may change of its task.
DEBUG_OVERRIDES = ("command", "args", "env", "image")
# Stored versions were validated when saved; the limits may have shrunk and the
# rules grown stricter since, which must not make existing runs unreadable.
# (Whether privileged pods are still allowed is checked again when one is
# launched; the engine and backends cope with values older rules let through.)
STORED = Limits(10**9, 10**12, allow_privileged=True, strict=False)


def spec_limits() -> Limits:
    return Limits(
        max_tasks=settings.FLOWDECK_MAX_TASKS,
        max_spec_bytes=settings.FLOWDECK_MAX_SPEC_BYTES,
        allow_privileged=settings.FLOWDECK_K8S_ALLOW_PRIVILEGED,
        max_fan_out=settings.FLOWDECK_MAX_FAN_OUT,
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
    blueprint = Blueprint.of(parse_spec(document, STORED))
    with _lock:
        _cache[version_id] = blueprint
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return blueprint


def blueprint_of(run: Run) -> Blueprint:
    """The blueprint `run` plans with: its version's, or for a debug run, the
    debugged task alone with its overrides (see debug_document)."""
    if not run.debug_task:
        return blueprint_for(run.version_id)
    with _lock:
        cached = _debug_cache.get(run.pk)
        if cached is not None:
            _debug_cache.move_to_end(run.pk)
            return cached
    from workflows.models import WorkflowVersion

    version = WorkflowVersion.objects.values_list("document", flat=True).get(
        pk=run.version_id
    )
    document = debug_document(version, run.debug_task, run.overrides or {})
    blueprint = Blueprint.of(
        parse_spec(document, debug_limits(STORED, version, run.debug_task))
    )
    with _lock:
        _debug_cache[run.pk] = blueprint
        if len(_debug_cache) > _CACHE_SIZE:
            _debug_cache.popitem(last=False)
    return blueprint


def debug_document(
    document: Mapping[str, Any], task: str, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The spec document of a debug run: `task` of `document` alone, without
    its dependencies or retries (a debug run runs once), with `overrides`:
    `command`, `args` and `image` replace the task's; `env` entries replace
    the task's variables of the same name (a secret one's stays secret) and
    add the others (after them).
    KeyError when the document has no such task. Pure."""
    spec = dict(document["spec"])
    original = next((item for item in spec["tasks"] if item.get("name") == task), None)
    if original is None:
        raise KeyError(task)
    debugged = {
        key: value
        for key, value in original.items()
        if key not in ("dependencies", "retry")
    }
    for key in ("command", "args", "image"):
        if key in overrides:
            debugged[key] = overrides[key]
    if "env" in overrides:
        replaced = {entry.get("name") for entry in overrides["env"]}
        kept = [e for e in original.get("env", ()) if e.get("name") not in replaced]
        # A value typed over a secret variable is as secret: it stays masked
        # wherever the debug run's task is shown.
        secret = {e.get("name") for e in original.get("env", ()) if e.get("secret")}
        added = [
            {**entry, "secret": True} if entry.get("name") in secret else entry
            for entry in overrides["env"]
        ]
        debugged["env"] = [*kept, *added]
    spec["tasks"] = [debugged]
    spec.pop("outputs", None)  # a debug run returns nothing
    return {**document, "spec": spec}


def debug_limits(limits: Limits, document: Mapping[str, Any], task: str) -> Limits:
    """`limits` for the debug document of `task`: its references to the other
    tasks' outputs stay valid (they are read from the run it debugs)."""
    others = {
        item.get("name")
        for item in document["spec"]["tasks"]
        if isinstance(item, Mapping) and item.get("name") != task
    }
    return replace(limits, external_tasks=frozenset(n for n in others if n))


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
