"""Getting committed RunEvents to the websocket consumers (docs/live.md).

Consumers subscribe to channel-layer groups: `run-<id>` for one run's events
and `runs` for runs changing status. Two sources feed those groups:

- push (Redis): the state machine publishes each transaction's events after it
  commits, from whichever process made the change (a Celery worker, the pod
  watcher, a web request), to every web process through Redis;
- tail (the embedded mode, no Redis): the worker is another process and the
  in-memory channel layer cannot cross processes, so each web process runs one
  EventTail that reads new rows of the RunEvent table and feeds its own groups.

Either way the RunEvent table is the truth: a consumer delivers events by their
dense per-run `seq`, fills any gap from the table, and re-checks the table now
and then, so a lost message delays an event but never loses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from workflows.models import Run, RunEvent

log = logging.getLogger(__name__)

RUNS_GROUP = "runs"
# Events per message and per read of the table: bounds a consumer's memory when
# it catches up on a long run.
BATCH = 500


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def event_payload(event: RunEvent) -> dict[str, Any]:
    """An event as the websocket sends it: the fields of RunEventSerializer."""
    return {
        "seq": event.seq,
        "kind": event.kind,
        "task": event.task,
        "attempt": event.attempt,
        "status": event.status,
        "previous": event.previous,
        "message": event.message,
        "data": event.data,
        "created_at": _iso(event.created_at),
    }


def _iso(moment: Any) -> str:
    text: str = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def events_after(run_id: int, seq: int, limit: int = BATCH) -> list[dict[str, Any]]:
    """The run's events after `seq`, oldest first, at most `limit` of them."""
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=seq).order_by("seq")
    return [event_payload(event) for event in events[:limit]]


def last_seq(run_id: int) -> int | None:
    """The run's newest event; None when the run is gone."""
    return Run.objects.filter(pk=run_id).values_list("last_seq", flat=True).first()


# -- push: after commit, from the process that made the change -----------------


def publish_after_commit(run: Run, events: Sequence[RunEvent]) -> None:
    """Publish a transaction's events once it commits (called by the state
    machine inside the transaction; does nothing in tail mode)."""
    if not settings.FLOWDECK_LIVE_PUSH or not events:
        return
    from django.db import transaction

    payloads = [event_payload(event) for event in events]
    run_changed = any(event.kind == RunEvent.Kind.RUN for event in events)
    run_id = run.pk
    transaction.on_commit(lambda: publish(run_id, payloads, run_changed))


def publish(run_id: int, payloads: list[dict[str, Any]], run_changed: bool) -> None:
    """Send events to the run's group (and a nudge to the runs list).

    A failure is logged, not raised: the change is committed already, and
    consumers find the events in the table when they next re-check it.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send)(layer, run_id, payloads, run_changed)
    except Exception:
        log.warning("could not publish events of run %s", run_id, exc_info=True)


async def _send(
    layer: Any, run_id: int, payloads: list[dict[str, Any]], run_changed: bool
) -> None:
    for start in range(0, len(payloads), BATCH):
        await layer.group_send(
            run_group(run_id),
            {"type": "run.events", "events": payloads[start : start + BATCH]},
        )
    if run_changed:
        await layer.group_send(RUNS_GROUP, {"type": "run.changed", "run_id": run_id})


# -- tail: one reader of the RunEvent table per web process --------------------


class EventTail:
    """Reads RunEvent rows newer than a cursor and feeds this process's groups.

    One per process and event loop, started by the first consumer and stopped
    when the last one leaves, so an idle server does not query at all. Rows are
    read by primary key: where ids are not handed out in commit order
    (PostgreSQL), a row committed late is still found by the consumer's gap
    check or its periodic re-check.
    """

    def __init__(self) -> None:
        self.subscribers = 0
        self.cursor: int | None = None
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def subscribe(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new loop (tests): start afresh on it
            self.subscribers, self.task, self.loop = 0, None, loop
        self.subscribers += 1
        if self.task is None or self.task.done():
            self.cursor = await database_sync_to_async(_newest_event_id)()
            self.task = loop.create_task(self._run())

    async def unsubscribe(self) -> None:
        if asyncio.get_running_loop() is not self.loop:
            return
        self.subscribers -= 1
        if self.subscribers <= 0 and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        layer = get_channel_layer()
        while True:
            try:
                rows, self.cursor = await database_sync_to_async(_events_since)(
                    self.cursor
                )
                if rows:
                    await _dispatch(layer, rows)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reading new run events failed", exc_info=True)
            await asyncio.sleep(settings.FLOWDECK_LIVE_TAIL_SECONDS)


def _newest_event_id() -> int:
    return RunEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events_since(cursor: int | None) -> tuple[list[RunEvent], int | None]:
    rows = list(RunEvent.objects.filter(id__gt=cursor or 0).order_by("id")[: BATCH * 4])
    return rows, (rows[-1].id if rows else cursor)


async def _dispatch(layer: Any, rows: Iterable[RunEvent]) -> None:
    by_run: dict[int, list[dict[str, Any]]] = {}
    changed: set[int] = set()
    for row in rows:
        by_run.setdefault(row.run_id, []).append(event_payload(row))
        if row.kind == RunEvent.Kind.RUN:
            changed.add(row.run_id)
    for run_id, payloads in by_run.items():
        await _send(layer, run_id, payloads, run_changed=run_id in changed)


tail = EventTail()


async def subscribe_to_source() -> None:
    """Make sure this process receives events: a no-op with push, else tail."""
    if not settings.FLOWDECK_LIVE_PUSH:
        await tail.subscribe()


async def unsubscribe_from_source() -> None:
    if not settings.FLOWDECK_LIVE_PUSH:
        await tail.unsubscribe()
