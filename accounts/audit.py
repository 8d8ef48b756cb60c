"""Record who did what in the audit log: one helper, called at every action.

    audit.record(request, "run.cancel", run)
    with audit.recording(request, "workflow.update", workflow) as entry:
        ...  # success when the block ends, error when it raises

Details are small JSON objects that never hold a secret: keys that name one
are dropped before anything is written.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from accounts.models import AuditEntry

Outcome = AuditEntry.Outcome

# A detail key containing any of these is never stored (defence in depth: no
# caller should pass one).
_SECRET_WORDS = ("password", "secret", "token", "key", "env")
_MAX_REPR = 200


def client_address(request: Any) -> str | None:
    """The client's IP address: REMOTE_ADDR, or, behind the number of trusted
    proxies FLOWDECK_TRUSTED_PROXIES, the address the outermost one saw (the
    entry it appended to X-Forwarded-For). Clients cannot spoof it: entries
    to the left of the trusted proxies' are ignored."""
    if request is None:
        return None
    meta = getattr(request, "META", {})
    address = meta.get("REMOTE_ADDR") or None
    proxies = settings.FLOWDECK_TRUSTED_PROXIES
    if proxies:
        forwarded = [
            part.strip()
            for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def _target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, tuple):
        kind, pk, text = target
        return str(kind), str(pk), str(text)[:_MAX_REPR]
    if isinstance(target, models.Model):
        return target._meta.model_name or "", str(target.pk), str(target)[:_MAX_REPR]
    raise TypeError(f"not an audit target: {target!r}")


def _project_id(target: Any) -> int | None:
    from workflows.models import Project

    if isinstance(target, Project):
        return target.pk
    project_id = getattr(target, "project_id", None)
    if project_id is not None:
        return int(project_id)
    workflow = getattr(target, "workflow", None)  # a run
    return getattr(workflow, "project_id", None)


def _clean(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    if not detail:
        return {}
    cleaned: dict[str, Any] = {}
    for key, value in detail.items():
        if any(word in key.lower() for word in _SECRET_WORDS):
            continue
        cleaned[key] = _clean(value) if isinstance(value, Mapping) else value
    return cleaned


def record(
    request_or_actor: Any,
    action: str,
    target: Any = None,
    outcome: str = Outcome.SUCCESS,
    detail: Mapping[str, Any] | None = None,
    *,
    project: Any = None,
    username: str | None = None,
    actor: Any = None,
) -> AuditEntry:
    """Append one entry. `request_or_actor` is the request (its user and client
    address are recorded) or a user (for actions without a request) or None;
    `actor` names the user when the request's is not (yet) the one acting.
    `target` is a model instance or a (type, id, text) tuple; the project is
    taken from it unless given."""
    request = request_or_actor if hasattr(request_or_actor, "META") else None
    if actor is None:
        actor = (
            getattr(request, "user", None) if request is not None else request_or_actor
        )
    if actor is not None and not actor.is_authenticated:
        actor = None
    kind, pk, text = _target(target)
    if project is not None:
        project_id = project.pk
    else:
        try:
            project_id = _project_id(target)
        except ObjectDoesNotExist:
            project_id = None
    return AuditEntry.objects.create(
        actor=actor,
        username=username if username is not None else getattr(actor, "username", ""),
        action=str(action),
        outcome=str(outcome),
        target_type=kind,
        target_id=pk,
        target_repr=text,
        project_id=project_id,
        remote_addr=client_address(request),
        detail=_clean(detail),
    )


@dataclass
class Pending:
    """What `recording` will write; the block may fill in the target (for a
    create) and add to the detail."""

    target: Any = None
    detail: dict[str, Any] = field(default_factory=dict)
    project: Any = None


@contextmanager
def recording(
    request: Any,
    action: str,
    target: Any = None,
    *,
    project: Any = None,
    detail: Mapping[str, Any] | None = None,
) -> Iterator[Pending]:
    """Record `action` as a success when the block ends, or as an error when
    it raises (and re-raise). Errors keep only where a spec was wrong and why
    a state refused, never the document."""
    from flowcore.spec import SpecError

    pending = Pending(target=target, detail=dict(detail or {}), project=project)
    try:
        yield pending
    except SpecError as error:
        paths = [e.path for e in error.errors][:20]
        record(
            request,
            action,
            pending.target,
            Outcome.ERROR,
            {**pending.detail, "invalid": paths},
            project=pending.project,
        )
        raise
    except Exception as error:
        reason = str(error)[:300] if _is_refusal(error) else type(error).__name__
        record(
            request,
            action,
            pending.target,
            Outcome.ERROR,
            {**pending.detail, "reason": reason},
            project=pending.project,
        )
        raise
    record(
        request,
        action,
        pending.target,
        Outcome.SUCCESS,
        pending.detail,
        project=pending.project,
    )


def _is_refusal(error: Exception) -> bool:
    from flowcore.states import IllegalTransition
    from workflows.services.errors import ActionRefused

    return isinstance(error, ActionRefused | IllegalTransition | ObjectDoesNotExist)
