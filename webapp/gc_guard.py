"""Garbage collection out of harm's way on Python 3.11.

Before 3.12, CPython can free a context's variables while a `ContextVar.set`
is still walking them: the set allocates, the allocation starts a garbage
collection, and a finalizer or weakref callback that collection runs sets a
variable of the same context (CPython gh-148891; a segmentation fault, fixed
only in newer versions). asgiref sets context variables on every sync/async
hop, which Django and Channels make on every request, websocket message and
test of a consumer, so any process of ours can meet it: the suite did, in
`asgiref.sync._restore_context`.

What triggers inside a set is *automatic* collection. With it off, a thread
of our own collects instead, whenever allocations pass the usual thresholds:
its collections start between the other threads' bytecodes, never inside
their `ContextVar.set`, and a finalizer it runs sets variables of its own
thread's context, not theirs.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

POLL_SECONDS = 0.05
# Every process of ours (Django set up, a Celery worker booted, Daphne
# listening) has started well within this.
FREEZE_AFTER_SECONDS = 30.0

_lock = threading.Lock()
_running = False


def needed() -> bool:
    return sys.version_info < (3, 12)


def install() -> None:
    """Turn automatic collection off and start the collecting thread (once per
    process, and again in a forked child, which has no thread of ours)."""
    if not needed():
        return
    global _running
    with _lock:
        if _running:
            return
        _running = True
    gc.disable()
    threading.Thread(target=_collect_forever, name="flowdeck-gc", daemon=True).start()


def _after_fork() -> None:
    global _running
    _running = False
    # A Celery pool process starts as a copy of its booted parent.
    _long_lived.born = time.monotonic() - FREEZE_AFTER_SECONDS
    install()


class _LongLived:
    """What CPython 3.11 keeps to decide whether a due full collection is worth
    it, which `gc` does not expose: the objects that survived the last full
    collection, and how many have reached the oldest generation since."""

    def __init__(self) -> None:
        self.total = 0
        self.pending = 0
        self.frozen = False
        self.born = time.monotonic()

    def full_worth_it(self) -> bool:
        # The interpreter's rule (gcmodule.c, collect_generations): a full
        # collection only once the objects promoted since the last one are a
        # quarter of those that survived it, so that its cost, linear in the
        # whole heap, stays linear in the allocations overall. A due full
        # collection without it ran every ~70,000 allocations: 200 ms of a
        # Django process's 240,000 objects each time, holding the GIL.
        return self.pending >= self.total // 4

    def collect_young(self) -> None:
        """Collect the two younger generations; what survives is promoted to
        the oldest (counted as the interpreter counts it: the young objects
        less the unreachable ones found)."""
        young = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))
        self.pending += max(0, young - gc.collect(1))

    def collect_fully(self) -> None:
        gc.collect(2)
        if not self.frozen and time.monotonic() - self.born >= FREEZE_AFTER_SECONDS:
            # What survives the first full collection once the process has
            # started (the modules, Django's and the Kubernetes client's
            # classes, 240,000 objects) is moved out of every later one's
            # sight for good, as gc.freeze() is meant for: a full collection
            # then costs what the process holds, not what it imported. Only
            # cyclic garbage among those objects is never freed; what
            # reference counting frees is freed as before. Not earlier: a
            # freeze in the middle of the imports would leave the rest of them
            # to every full collection.
            gc.freeze()
            self.frozen = True
        # Counted once per full collection (the list is the whole heap): the
        # young generations' counts above are small by comparison.
        self.total = len(gc.get_objects(generation=2))
        self.pending = 0


_long_lived = _LongLived()


def collect_due() -> int | None:
    """Collect the oldest generation whose count has passed its threshold, as
    the interpreter would; None when none has."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if thresholds[0] == 0 or counts[0] < thresholds[0]:
        return None
    if counts[1] < thresholds[1]:
        gc.collect(0)
        return 0
    if counts[2] >= thresholds[2] and _long_lived.full_worth_it():
        _long_lived.collect_fully()
        return 2
    _long_lived.collect_young()
    return 1


def _collect_forever() -> None:
    while True:
        time.sleep(POLL_SECONDS)
        collect_due()


if needed() and hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
