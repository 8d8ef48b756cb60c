"""Whether a project's pods can go to its namespace, for the pages: asked of
the Kubernetes API with what Flowdeck's Role grants, and remembered a short
while so a page view costs at most one request per namespace."""

from __future__ import annotations

import threading
import time

from django.conf import settings

from k8s_runner.backends.base import BackendError

# How long an answer is kept: a namespace created (or a Role bound) shows
# as fixed within this time.
TTL_SECONDS = 30.0

_answers: dict[str, tuple[float, str | None]] = {}
_lock = threading.Lock()


def namespace_problem(namespace: str) -> str | None:
    """Why the Kubernetes backend cannot put pods in `namespace`, or None
    (always None with another backend)."""
    if settings.FLOWDECK_BACKEND != "kubernetes":
        return None
    now = time.monotonic()
    with _lock:
        kept = _answers.get(namespace)
    if kept is not None and now - kept[0] < TTL_SECONDS:
        return kept[1]
    from k8s_runner import reconcile
    from k8s_runner.backends.kubernetes import KubernetesBackend

    try:
        backend = reconcile.get_backend()
    except BackendError as error:
        problem: str | None = f"the Kubernetes API is not configured: {error}"
    else:
        problem = (
            backend.namespace_problem(namespace)
            if isinstance(backend, KubernetesBackend)
            else None
        )
    with _lock:
        _answers[namespace] = (now, problem)
    return problem


def forget() -> None:
    """Drop every remembered answer (tests, and after a project changes)."""
    with _lock:
        _answers.clear()
