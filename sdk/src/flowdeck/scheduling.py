"""Run something on a schedule in this process until interrupted.

every_10_seconds = IntervalSchedule(interval=10)

@schedule(every_10_seconds)
def pipeline():
    flow.run(executor=LocalExecutor())

pipeline()   # runs it at every fire time; Ctrl-C stops cleanly
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flowdeck.schedules import Schedule

T = TypeVar("T")


def run_on_schedule(
    when: Schedule,
    job: Callable[[], T],
    *,
    stop: threading.Event | None = None,
    max_runs: int | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> T:
    """Call `job` at each fire time of `when` until Ctrl-C, `stop` is set or
    `max_runs` calls were made; returns the last call's value (None if none).
    A call that outlasts a fire time skips it: runs never overlap here."""
    stop = stop or threading.Event()
    last: Any = None
    runs = 0
    try:
        while max_runs is None or runs < max_runs:
            fire = when.next_after(now())
            print(f"[flowdeck] next run at {fire.isoformat()}", file=sys.stderr)
            if stop.wait(max(0.0, (fire - now()).total_seconds())):
                break
            last = job()
            runs += 1
    except KeyboardInterrupt:
        print("[flowdeck] schedule stopped", file=sys.stderr)
    return last  # type: ignore[no-any-return]


def schedule(
    when: Schedule,
    *,
    stop: threading.Event | None = None,
    max_runs: int | None = None,
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Make calling the decorated function run it on `when`, in this process,
    until interrupted (Ctrl-C), `stop` is set or `max_runs` runs were made."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def repeat(*args: Any, **kwargs: Any) -> T:
            return run_on_schedule(
                when, lambda: fn(*args, **kwargs), stop=stop, max_runs=max_runs
            )

        return repeat

    return decorate
