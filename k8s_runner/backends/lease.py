"""A LeaseLock (flowcore/leader.py) on a coordination.k8s.io/v1 Lease, the way
client-go's resourcelock.LeaseLock does it.

A candidate takes the Lease when it is free or its record has not changed for
`lease_seconds` of the candidate's own clock (client-go's observedTime: the
holder's timestamps are never compared with ours, so clock skew between
replicas does not matter). Every write is a replace with the
resourceVersion read, so two candidates cannot both take it: the loser gets
409 Conflict. The generation returned is the database fence's
(workflows/services/leadership.py raise_fence, via `fence`), raised after the
Lease is won, since the Lease's own leaseTransitions restarts at 0 when
someone deletes it.

The Role needs exactly: leases get, create, update (deploy/kubernetes/role.yaml).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kubernetes.client import (
    ApiClient,
    CoordinationV1Api,
    V1Lease,
    V1LeaseSpec,
    V1ObjectMeta,
)
from kubernetes.client.exceptions import ApiException


class KubernetesLeaseLock:
    def __init__(
        self,
        api_client: Callable[[], ApiClient],
        namespace: str,
        name: str,
        *,
        fence: Callable[[str], int],
        request_timeout: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_client = api_client
        self._api: CoordinationV1Api | None = None
        self.namespace = namespace
        self.name = name
        self.fence = fence
        self.request_timeout = request_timeout
        self.monotonic = monotonic
        # What we last saw of the Lease, and when (our clock).
        self._observed: tuple[str, str, int] | None = (
            None  # holder, renewTime, transitions
        )
        self._observed_at = 0.0
        self._lock = threading.Lock()

    @property
    def api(self) -> CoordinationV1Api:
        if self._api is None:
            self._api = CoordinationV1Api(self._make_client())
        return self._api

    def try_take(self, identity: str, lease_seconds: float) -> int | None:
        now = datetime.now(UTC)
        try:
            lease: V1Lease = self.api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self.request_timeout
            )
        except ApiException as error:
            if error.status != 404:
                raise
            return self._create(identity, lease_seconds, now)
        spec = lease.spec or V1LeaseSpec()
        holder = spec.holder_identity or ""
        record = (holder, str(spec.renew_time), spec.lease_transitions or 0)
        with self._lock:
            if record != self._observed:
                self._observed = record
                self._observed_at = self.monotonic()
            expired = self.monotonic() - self._observed_at >= lease_seconds
        if holder and holder != identity and not expired:
            return None
        if holder != identity:
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
            spec.acquire_time = now
        spec.holder_identity = identity
        spec.lease_duration_seconds = max(1, round(lease_seconds))
        spec.renew_time = now
        lease.spec = spec
        try:
            self.api.replace_namespaced_lease(
                self.name, self.namespace, lease, _request_timeout=self.request_timeout
            )
        except ApiException as error:
            if error.status == 409:
                return None  # someone else wrote it first
            raise
        return self.fence(identity)

    def _create(self, identity: str, lease_seconds: float, now: datetime) -> int | None:
        lease = V1Lease(
            metadata=V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=V1LeaseSpec(
                holder_identity=identity,
                lease_duration_seconds=max(1, round(lease_seconds)),
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
        try:
            self.api.create_namespaced_lease(
                self.namespace, lease, _request_timeout=self.request_timeout
            )
        except ApiException as error:
            if error.status == 409:
                return None
            raise
        return self.fence(identity)

    def renew(self, identity: str, generation: int, lease_seconds: float) -> bool:
        lease: V1Lease = self.api.read_namespaced_lease(
            self.name, self.namespace, _request_timeout=self.request_timeout
        )
        spec = lease.spec or V1LeaseSpec()
        if spec.holder_identity != identity:
            return False
        spec.renew_time = datetime.now(UTC)
        spec.lease_duration_seconds = max(1, round(lease_seconds))
        try:
            self.api.replace_namespaced_lease(
                self.name, self.namespace, lease, _request_timeout=self.request_timeout
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    def release(self, identity: str, generation: int) -> None:
        lease: V1Lease = self.api.read_namespaced_lease(
            self.name, self.namespace, _request_timeout=self.request_timeout
        )
        spec = lease.spec or V1LeaseSpec()
        if spec.holder_identity != identity:
            return
        # client-go's ReleaseOnCancel: an empty holder, a 1 s lease.
        spec.holder_identity = None
        spec.lease_duration_seconds = 1
        spec.renew_time = datetime.now(UTC)
        lease.spec = spec
        self.api.replace_namespaced_lease(
            self.name, self.namespace, lease, _request_timeout=self.request_timeout
        )
