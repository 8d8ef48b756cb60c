"""The leader elector's loop (flowcore/leader.py) on an in-memory lock."""

from __future__ import annotations

import threading
import time

import pytest

from flowcore.leader import LeaderElector, Timing


class MemoryLock:
    """A LeaseLock in memory; `partitioned` makes every call fail."""

    def __init__(self) -> None:
        self.holder = ""
        self.generation = 0
        self.partitioned = False
        self.released: list[str] = []

    def try_take(self, identity: str, lease_seconds: float) -> int | None:
        if self.partitioned:
            raise ConnectionError("partitioned")
        if self.holder in ("", identity):
            if self.holder != identity:
                self.generation += 1
            self.holder = identity
            return self.generation
        return None

    def renew(self, identity: str, generation: int, lease_seconds: float) -> bool:
        if self.partitioned:
            raise ConnectionError("partitioned")
        return self.holder == identity and self.generation == generation

    def release(self, identity: str, generation: int) -> None:
        self.released.append(identity)
        if self.holder == identity:
            self.holder = ""


FAST = Timing(lease_seconds=0.6, renew_seconds=0.4, retry_seconds=0.05)
# For a test that needs the leader to keep its lease while it looks: a pause
# of the whole test process past FAST's 0.4 s deadline (a full garbage
# collection late in the suite, a busy machine) rightly ends the lease.
PATIENT = Timing(lease_seconds=4.0, renew_seconds=3.0, retry_seconds=0.05)


def test_the_timing_must_leave_the_old_leader_time_to_stop() -> None:
    assert Timing() == Timing(15.0, 10.0, 2.0)  # client-go's defaults
    with pytest.raises(ValueError, match="retry < renew deadline < lease"):
        Timing(lease_seconds=10, renew_seconds=10, retry_seconds=2)


def test_a_leader_cut_off_from_its_lock_stops_at_the_renew_deadline() -> None:
    lock = MemoryLock()
    elector = LeaderElector(lock, "a", timing=PATIENT)
    stop, until = threading.Event(), threading.Event()
    done = threading.Event()
    assert elector.acquire(stop) == 1
    # A daemon, as every thread here: a failed assertion must not leave a
    # thread that keeps the whole test process from exiting.
    keeper = threading.Thread(
        target=elector.keep, args=(stop, until, done), daemon=True
    )
    keeper.start()
    time.sleep(0.3)
    assert elector.is_leader() and not until.is_set()
    lock.partitioned = True
    cut = time.monotonic()
    assert until.wait(PATIENT.lease_seconds + 2)
    assert time.monotonic() - cut < PATIENT.lease_seconds  # before anyone may take it
    assert not elector.is_leader()
    assert lock.released == []  # lost, not released: it cannot reach the lock
    done.set()
    keeper.join(2)


def test_a_lease_taken_by_another_ends_the_work_and_a_clean_stop_releases() -> None:
    lock = MemoryLock()
    elector = LeaderElector(lock, "a", timing=FAST)
    stop = threading.Event()
    rounds: list[int | None] = []

    def work(until: threading.Event) -> None:
        rounds.append(elector.generation)
        if len(rounds) == 1:
            lock.holder, lock.generation = "b", 2  # b takes it over
            assert until.wait(2)
            lock.holder = ""  # and leaves: a campaigns and wins again
        else:
            stop.set()
            assert until.wait(2)

    runner = threading.Thread(target=elector.lead, args=(stop, work), daemon=True)
    runner.start()
    runner.join(5)
    assert rounds == [1, 3]
    assert lock.released == ["a"] and lock.holder == ""
