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
    install()


def collect_due() -> int | None:
    """Collect the oldest generation whose count has passed its threshold, as
    the interpreter would; None when none has."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if thresholds[0] == 0 or counts[0] < thresholds[0]:
        return None
    generation = 0
    if counts[1] >= thresholds[1]:
        generation = 1
        if counts[2] >= thresholds[2]:
            generation = 2
    gc.collect(generation)
    return generation


def _collect_forever() -> None:
    while True:
        time.sleep(POLL_SECONDS)
        collect_due()


if needed() and hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
