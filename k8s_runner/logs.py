"""What an attempt shows its readers: its log (archived, or live from its pod)
and its pod's Kubernetes Events. The one place the pages and the API ask."""

from __future__ import annotations

import io
import logging
from typing import IO, TYPE_CHECKING, Any

from k8s_runner.backends.base import BackendError
from workflows.states import LIVE_ATTEMPT_STATUSES

if TYPE_CHECKING:
    from k8s_runner.backends.kubernetes import KubernetesBackend
    from workflows.models import Attempt

logger = logging.getLogger(__name__)


def open_log(attempt: Attempt) -> IO[bytes] | None:
    """The attempt's log, readable from its start: the archived file when there
    is one; for a live Kubernetes attempt without one, what its pod has logged
    so far (read once, in memory); None when there is no log yet (the pod's
    container has not started, or the backend cannot be reached). The caller
    closes it."""
    if attempt.log_path:
        try:
            return open(attempt.log_path, "rb")  # noqa: SIM115 - the caller closes it
        except OSError:
            pass  # a Kubernetes attempt names its archive before it is written
    data = _live_log(attempt)
    return io.BytesIO(data) if data else None


def read_tail(log: IO[bytes], limit: int) -> tuple[str, bool]:
    """The last `limit` bytes of `log` as text, from a line boundary when cut,
    and whether that is less than the whole log."""
    log.seek(0, io.SEEK_END)
    size = log.tell()
    truncated = size > limit
    log.seek(max(0, size - limit))
    data = log.read(limit)
    if truncated:
        # Start at a line boundary rather than mid-line (or mid-character).
        newline = data.find(b"\n")
        if newline >= 0:
            data = data[newline + 1 :]
    return data.decode("utf-8", errors="replace"), truncated


def pod_events(attempt: Attempt) -> list[dict[str, Any]] | None:
    """The Kubernetes Events of the attempt's pod, oldest first; None for an
    attempt that has no pod (another backend, not launched yet). An API fault
    gives an empty list: events are a diagnosis aid, never worth an error page."""
    backend = _kubernetes_backend(attempt)
    if backend is None:
        return None
    try:
        return backend.events(attempt.handle)
    except BackendError as error:
        logger.warning("reading the events of %s failed: %s", attempt.handle, error)
        return []


def _live_log(attempt: Attempt) -> bytes:
    if attempt.status not in LIVE_ATTEMPT_STATUSES:
        return b""  # an ended attempt's log is its archive
    backend = _kubernetes_backend(attempt)
    if backend is None:
        return b""
    from k8s_runner.pod_status import split_handle

    namespace, name = split_handle(attempt.handle)
    try:
        return backend.read_log(namespace or backend.namespace, name)
    except BackendError as error:
        logger.warning("reading the live log of %s failed: %s", attempt.handle, error)
        return b""


def _kubernetes_backend(attempt: Attempt) -> KubernetesBackend | None:
    """The deployment's Kubernetes backend when `attempt` ran on it and has a
    pod (a handle), else None."""
    if attempt.backend != "kubernetes" or not attempt.handle:
        return None
    from k8s_runner import reconcile
    from k8s_runner.backends.kubernetes import KubernetesBackend

    try:
        backend = reconcile.get_backend()
    except BackendError:
        return None
    return backend if isinstance(backend, KubernetesBackend) else None
