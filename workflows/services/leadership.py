"""Leases in the database and fencing by generation, for replicated roles.

`DatabaseLock` is a LeaseLock (flowcore/leader.py) on a LeaderLease row, for
deployments without Kubernetes; its times are the database's clock, the one
clock every replica shares. Whatever the lock, a new leader raises the row's
`generation` before it acts (`raise_fence`, or the take itself) and every
write a leader makes in its role checks, in the same transaction, that the
generation is still its own (`check_fence`): a deposed leader that has not
noticed yet (paused, partitioned) has its transaction refused with NotLeader,
and since the check holds a share lock on the row, a new leader's raise waits
for a deposed leader's last transaction to end.

A process that leads names its fence with `hold` (the pod watcher: its report
pump is another thread); work done on a leader's behalf elsewhere carries it
in `fencing` (a schedules tick a beat sent, run by a worker). `check_fence` is
a no-op where there is neither (web, workers, the embedded mode).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Now

from workflows.models import LeaderLease

WATCHER = "pod-watcher"
BEAT = "beat"


class NotLeader(Exception):
    """This process's fence is stale: another replica leads now."""


@dataclass(frozen=True, slots=True)
class Fence:
    """The role this process leads, with the generation it won, and whether
    it still may act (the elector's own deadline)."""

    name: str
    generation: int
    alive: Callable[[], bool] = lambda: True


_held: Fence | None = None
_held_lock = threading.Lock()
_carried: ContextVar[Fence | None] = ContextVar("fence", default=None)


@contextmanager
def fencing(fence: Fence | None) -> Iterator[None]:
    """Check `fence` in the fenced writes made within (this thread, this task)."""
    token = _carried.set(fence)
    try:
        yield
    finally:
        _carried.reset(token)


def hold(fence: Fence | None) -> None:
    """Name the fence this process's writes carry (None: none)."""
    global _held
    with _held_lock:
        _held = fence


def held() -> Fence | None:
    return _held


def check_fence(fence: Fence | None = None) -> None:
    """Inside the transaction of a leader's write: refuse it (NotLeader) when
    `fence` (default: the one carried, else the one this process holds) is no
    longer current."""
    fence = fence or _carried.get() or _held
    if fence is None:
        return
    if not fence.alive():
        raise NotLeader(f"{fence.name}: this replica's lease ran out")
    current = _generation_for_share(fence.name)
    if current != fence.generation:
        raise NotLeader(
            f"{fence.name}: generation {fence.generation} was replaced by {current}"
        )


def _generation_for_share(name: str) -> int | None:
    assert connection.in_atomic_block, "check_fence belongs in the write's transaction"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT generation FROM workflows_leaderlease"
                " WHERE name = %s FOR SHARE",
                [name],
            )
            row = cursor.fetchone()
        return None if row is None else int(row[0])
    return (
        LeaderLease.objects.select_for_update()
        .filter(name=name)
        .values_list("generation", flat=True)
        .first()
    )


def raise_fence(name: str, holder: str) -> int:
    """A new leader's first write (with a lock outside the database): a
    generation no earlier leader holds."""
    with transaction.atomic():
        LeaderLease.objects.get_or_create(name=name)
        LeaderLease.objects.filter(name=name).update(
            holder=holder, generation=F("generation") + 1
        )
        return int(LeaderLease.objects.get(name=name).generation)


class DatabaseLock:
    """A LeaseLock on the LeaderLease row `name`, timed by the database."""

    def __init__(self, name: str) -> None:
        self.name = name

    def try_take(self, identity: str, lease_seconds: float) -> int | None:
        lease = timedelta(seconds=lease_seconds)
        try:
            with transaction.atomic():
                LeaderLease.objects.get_or_create(name=self.name)
                ours = Q(holder=identity, expires_at__gt=Now())
                free = Q(holder="") | Q(expires_at=None) | Q(expires_at__lte=Now())
                row = LeaderLease.objects.filter(name=self.name)
                if row.filter(ours).update(expires_at=Now() + lease):
                    return int(row.values_list("generation", flat=True).get())
                if row.filter(free).update(
                    holder=identity,
                    generation=F("generation") + 1,
                    expires_at=Now() + lease,
                ):
                    return int(row.values_list("generation", flat=True).get())
                return None
        finally:
            _close_in_thread()

    def renew(self, identity: str, generation: int, lease_seconds: float) -> bool:
        try:
            return bool(
                LeaderLease.objects.filter(
                    name=self.name, holder=identity, generation=generation
                ).update(expires_at=Now() + timedelta(seconds=lease_seconds))
            )
        finally:
            _close_in_thread()

    def release(self, identity: str, generation: int) -> None:
        try:
            LeaderLease.objects.filter(
                name=self.name, holder=identity, generation=generation
            ).update(holder="", expires_at=None)
        finally:
            _close_in_thread()


def _close_in_thread() -> None:
    """The elector's thread uses the database rarely: no connection kept."""
    if threading.current_thread() is not threading.main_thread():
        connection.close()
