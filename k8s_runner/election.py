"""The leader elector of a replicated role (the pod watcher, the beat), as the
settings describe it: a Kubernetes Lease, a database row, or none."""

from __future__ import annotations

import os
import socket

from django.core.exceptions import ImproperlyConfigured

from flowcore.leader import LeaderElector, LeaseLock, Timing
from workflows.services import leadership


def identity() -> str:
    """This replica's name: the pod's (its host name) and the process id."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}-{os.getpid()}"


def elector_for(role: str) -> LeaderElector | None:
    """The elector of `role` (leadership.WATCHER, leadership.BEAT), or None
    when FLOWDECK_LEADER_ELECTION is off."""
    from django.conf import settings

    kind = settings.FLOWDECK_LEADER_ELECTION
    if kind == "off":
        return None
    try:
        timing = Timing(
            lease_seconds=settings.FLOWDECK_LEADER_LEASE_SECONDS,
            renew_seconds=settings.FLOWDECK_LEADER_RENEW_SECONDS,
            retry_seconds=settings.FLOWDECK_LEADER_RETRY_SECONDS,
        )
    except ValueError as error:
        raise ImproperlyConfigured(f"FLOWDECK_LEADER_*: {error}") from error
    lock: LeaseLock
    if kind == "kubernetes":
        from k8s_runner.backends.kubernetes import client_from_config
        from k8s_runner.backends.lease import KubernetesLeaseLock

        kubeconfig = settings.FLOWDECK_K8S_KUBECONFIG
        context = settings.FLOWDECK_K8S_CONTEXT
        lock = KubernetesLeaseLock(
            lambda: client_from_config(kubeconfig, context),
            settings.FLOWDECK_K8S_NAMESPACE,
            f"flowdeck-{role}",
            fence=lambda holder: leadership.raise_fence(role, holder),
            request_timeout=timing.retry_seconds,
        )
    else:
        lock = leadership.DatabaseLock(role)
    return LeaderElector(lock, identity(), timing=timing)


def fence_of(elector: LeaderElector, role: str, generation: int) -> leadership.Fence:
    """The fence a leader's writes carry while `elector` says it leads."""
    return leadership.Fence(role, generation, elector.is_leader)
