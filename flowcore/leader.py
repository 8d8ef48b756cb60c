"""Leader election: one of several replicas does the work, the others stand by.

The loop of client-go's leaderelection package over a `LeaseLock` (a
Kubernetes Lease, a database row): a candidate tries to take the lease every
`retry_seconds`; the leader renews it every `retry_seconds` and, when it has
not managed to for `renew_seconds`, stops acting. A candidate takes a lease
only once its holder has not renewed it for `lease_seconds`; since
renew_seconds < lease_seconds, the old leader has stopped before a new one
can start (given clocks that run at the same rate; fencing by generation, in
the database, covers the rest: see workflows/services/leadership.py).

Every take returns a generation, larger than any before it: the fencing token
the leader's writes carry. Pure: the lock and the clock are passed in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Timing:
    """client-go's defaults: lease 15 s, renew deadline 10 s, retry 2 s."""

    lease_seconds: float = 15.0
    renew_seconds: float = 10.0
    retry_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_seconds < self.renew_seconds < self.lease_seconds:
            raise ValueError(
                "leader election needs 0 < retry < renew deadline < lease "
                f"(got {self.retry_seconds}, {self.renew_seconds}, "
                f"{self.lease_seconds})"
            )


class LeaseLock(Protocol):
    """Where the lease lives. Each call is one bounded round trip."""

    def try_take(self, identity: str, lease_seconds: float) -> int | None:
        """Take the lease if it is free, expired (not renewed by its holder
        for `lease_seconds`) or already ours; the generation we hold it
        with, or None when someone else holds it. Raises on a fault."""

    def renew(self, identity: str, generation: int, lease_seconds: float) -> bool:
        """Renew our lease; False when it is no longer ours. Raises on a fault."""

    def release(self, identity: str, generation: int) -> None:
        """Give the lease up (on a clean stop) so a follower takes it at once."""


class LeaderElector:
    """Campaign for `lock` as `identity`; `lead(stop, work)` runs `work` while
    leading, as many times as leadership is won, until `stop` is set."""

    def __init__(
        self,
        lock: LeaseLock,
        identity: str,
        *,
        timing: Timing = Timing(),  # noqa: B008 - frozen
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = lock
        self.identity = identity
        self.timing = timing
        self.monotonic = monotonic
        self.generation: int | None = None
        self._renewed_at = 0.0
        self._state = threading.Lock()

    def is_leader(self) -> bool:
        """Whether we may act now: we hold the lease and renewed it within the
        renew deadline (checked afresh on every call, so a leader cut off from
        the lock stops acting at the deadline even if a call to it hangs)."""
        with self._state:
            return (
                self.generation is not None
                and self.monotonic() - self._renewed_at < self.timing.renew_seconds
            )

    def acquire(self, stop: threading.Event) -> int | None:
        """Block until we lead (the generation) or `stop` is set (None)."""
        while not stop.is_set():
            started = self.monotonic()
            try:
                generation = self.lock.try_take(
                    self.identity, self.timing.lease_seconds
                )
            except Exception as error:
                logger.warning("taking the lease failed: %s", error)
                generation = None
            if generation is not None:
                with self._state:
                    self.generation = generation
                    self._renewed_at = started
                logger.info("%s leads (generation %s)", self.identity, generation)
                return generation
            stop.wait(self.timing.retry_seconds)
        return None

    def keep(
        self, stop: threading.Event, until: threading.Event, done: threading.Event
    ) -> None:
        """Renew every retry period until `done` (the work returned: release
        the lease) or the lease is lost (past the renew deadline, or taken).
        `until` is set when `stop` is, so the work winds down while the lease
        is still renewed (a clean stop records what it holds as the leader),
        and when this returns, whatever the reason."""
        lost = False
        try:
            while not done.is_set():
                if stop.is_set():
                    until.set()
                    done.wait(self.timing.retry_seconds)
                else:
                    stop.wait(self.timing.retry_seconds)
                generation = self.generation
                if done.is_set() or generation is None:
                    break
                started = self.monotonic()
                try:
                    ours = self.lock.renew(
                        self.identity, generation, self.timing.lease_seconds
                    )
                except Exception as error:
                    logger.warning("renewing the lease failed: %s", error)
                    ours = True  # maybe: the deadline decides
                else:
                    if ours:
                        with self._state:
                            self._renewed_at = max(self._renewed_at, started)
                if not ours or not self.is_leader():
                    logger.warning(
                        "%s lost the lease (generation %s)", self.identity, generation
                    )
                    lost = True
                    return
        finally:
            with self._state:
                generation, self.generation = self.generation, None
            until.set()
            if not lost and generation is not None:
                try:
                    self.lock.release(self.identity, generation)
                except Exception as error:
                    logger.warning("releasing the lease failed: %s", error)

    def lead(
        self, stop: threading.Event, work: Callable[[threading.Event], None]
    ) -> None:
        """Until `stop`: win the lease, run `work(until)` while renewing it in
        a thread (`until` is set on `stop` or on losing the lease; `work`
        must return soon after), and campaign again when it was lost."""
        while not stop.is_set():
            if self.acquire(stop) is None:
                return
            until = threading.Event()
            done = threading.Event()
            keeper = threading.Thread(
                target=self.keep, args=(stop, until, done), name="lease", daemon=True
            )
            keeper.start()
            try:
                work(until)
            finally:
                done.set()  # its end, on `until` or a fault of its own: hand over
                keeper.join(self.timing.lease_seconds)
