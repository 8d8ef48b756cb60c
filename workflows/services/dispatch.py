"""Hand work to the dispatcher through the broker, by task name.

The services never import the dispatcher: they name its Celery tasks, so the
domain stays independent of how attempts are run.

Every message sent here is a nudge, never the only record of work: the state
is committed before it is sent, and the sweep (Celery beat, every
FLOWDECK_SWEEP_SECONDS) plans every unfinished run whatever the broker lost.
So a broker that is down is logged, not raised: the caller's change stands
(an API answer after a commit must not be a 500) and the sweep dispatches it
once the broker is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from celery import current_app
from kombu.exceptions import OperationalError

RECONCILE_TASK = "k8s_runner.tasks.reconcile_run"

log = logging.getLogger(__name__)

# The runs whose reconcile the broker did not take, collected for the caller
# that asked (deferred_dispatches): an API answer says the run waits.
_deferred: ContextVar[set[int] | None] = ContextVar("deferred_dispatches", default=None)


def request_reconcile(run_id: int, *, at: datetime | None = None) -> bool:
    """Ask a worker to plan and advance the run, now or at `at`. Call after
    commit. False when the broker could not take the message (logged): the
    sweep advances the run instead, once the broker answers again."""
    if at is not None and _beyond_visibility(at):
        # A worker holds a delayed message unacknowledged until its time;
        # past the broker's visibility timeout Redis hands it to another
        # worker too, again and again. The sweep plans every unfinished run
        # every few seconds: it wakes this one when the time comes.
        return True
    try:
        current_app.send_task(RECONCILE_TASK, args=[run_id], eta=at)
    except (OperationalError, OSError) as error:
        log.warning(
            "run %s: the broker did not take its reconcile (%s); the sweep "
            "will dispatch it when the broker is back",
            run_id,
            error,
        )
        deferred = _deferred.get()
        if deferred is not None:
            deferred.add(run_id)
        return False
    return True


def _beyond_visibility(at: datetime) -> bool:
    """Whether `at` is further away than half the broker's visibility timeout
    (a margin for the task's own run time); never on a broker without one."""
    timeout = current_app.conf.broker_transport_options.get("visibility_timeout")
    if not timeout:
        return False
    return (at - datetime.now(UTC)).total_seconds() > timeout / 2


@contextmanager
def deferred_dispatches() -> Iterator[set[int]]:
    """Collect, for the block, the ids of the runs whose reconcile the broker
    refused (their on-commit hooks run inside the block)."""
    runs: set[int] = set()
    token = _deferred.set(runs)
    try:
        yield runs
    finally:
        _deferred.reset(token)
