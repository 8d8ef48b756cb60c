"""Getting committed RunEvents to the websocket consumers (docs/live.md).

Each web process has one Hub per event loop. Consumers register with it; the
hub alone listens for events and fans each batch out to its local consumers,
encoded once. Two sources feed the hubs:

- push (Redis): the state machine publishes each transaction's events after it
  commits, from whichever process made the change (a Celery worker, the pod
  watcher, a web request), to the channel-layer group `run-<id>` (and a nudge
  to `runs`), which each hub joins once for all its watchers of that run;
- tail (the embedded mode, no Redis): the worker is another process and the
  in-memory channel layer cannot cross processes, so the hub reads new rows of
  the RunEvent table itself.

Either way the RunEvent table is the truth: a consumer delivers events by their
dense per-run `seq` and fills any gap from the table, and the hub re-checks the
table now and then, so a lost message delays an event but never loses it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from workflows.models import Run, RunEvent

log = logging.getLogger(__name__)

RUNS_GROUP = "runs"
# Events per message and per read of the table: bounds a consumer's memory when
# it catches up on a long run.
BATCH = 500


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def event_payload(event: RunEvent) -> dict[str, Any]:
    """An event as the websocket sends it: what RunEventSerializer shows."""
    payload = {name: getattr(event, name) for name in RunEvent.PUBLIC_FIELDS}
    payload["created_at"] = _iso(event.created_at)
    return payload


def _iso(moment: Any) -> str:
    text: str = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def events_after(
    run_id: int, seq: int, limit: int = BATCH, upto: int | None = None
) -> list[dict[str, Any]]:
    """The run's events after `seq` (up to `upto`), oldest first, at most
    `limit` of them."""
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=seq)
    if upto is not None:
        events = events.filter(seq__lte=upto)
    rows = events.order_by("seq").values_list(*RunEvent.PUBLIC_FIELDS)[:limit]
    payloads = [dict(zip(RunEvent.PUBLIC_FIELDS, row, strict=True)) for row in rows]
    for payload in payloads:
        payload["created_at"] = _iso(payload["created_at"])
    return payloads


def last_seq(run_id: int) -> int | None:
    """The run's newest event; None when the run is gone."""
    return Run.objects.filter(pk=run_id).values_list("last_seq", flat=True).first()


# -- push: after commit, from the process that made the change -----------------


def publish_after_commit(run: Run, events: Sequence[RunEvent]) -> None:
    """Publish a transaction's events once it commits (called by the state
    machine inside the transaction; does nothing in tail mode)."""
    if not settings.FLOWDECK_LIVE_PUSH or not events:
        return
    payloads = [event_payload(event) for event in events]
    run_changed = any(event.kind == RunEvent.Kind.RUN for event in events)
    run_id = run.pk
    transaction.on_commit(lambda: publish(run_id, payloads, run_changed))


def publish(run_id: int, payloads: list[dict[str, Any]], run_changed: bool) -> None:
    """Send events to the run's group (and a nudge to the runs list).

    Returns at once: the process's publisher thread sends them, in the order
    they were published. A failure is logged, not raised: the change is
    committed already, and consumers find the events in the table when they
    next re-check it.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    publisher.send(layer, run_id, payloads, run_changed)


class Publisher:
    """One thread per process, with an event loop of its own, that sends to the
    channel layer in publication order.

    The callers are sync code in arbitrary threads (the report pump, a web
    request's on-commit hook, a test). `async_to_sync` there would run the
    coroutine in the caller's thread and copy its context variables back and
    forth, which fails where that thread hosts another event loop (Playwright's
    sync API marks its loop running in the caller's thread between calls) and
    crashed the interpreter once greenlets were involved. Here the caller only
    hands a message to a queue; nothing async ever runs in its thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Message] | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def send(
        self,
        layer: Any,
        run_id: int,
        payloads: list[dict[str, Any]],
        run_changed: bool,
    ) -> None:
        loop, messages = self._started()
        with self._lock:
            self._pending += 1
        loop.call_soon_threadsafe(
            messages.put_nowait, (layer, run_id, payloads, run_changed)
        )

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until everything published so far was sent (or failed)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _started(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[_Message]]:
        with self._lock:
            # A forked child (a Celery prefork worker) has the loop object but
            # not the thread: start its own.
            if self._loop is None or self._queue is None or self._pid != os.getpid():
                ready = threading.Event()
                self._pid = os.getpid()
                self._pending = 0
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._run,
                    args=(self._loop, ready),
                    name="live-publisher",
                    daemon=True,
                ).start()
                ready.wait()
            assert self._queue is not None
            return self._loop, self._queue

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._queue = asyncio.Queue()
            ready.set()
            while True:
                layer, run_id, payloads, run_changed = await self._queue.get()
                try:
                    await _send(layer, run_id, payloads, run_changed)
                except Exception:
                    log.warning(
                        "could not publish events of run %s", run_id, exc_info=True
                    )
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

        loop.run_until_complete(main())


_Message = tuple[Any, int, list[dict[str, Any]], bool]
publisher = Publisher()


async def _send(
    layer: Any, run_id: int, payloads: list[dict[str, Any]], run_changed: bool
) -> None:
    for start in range(0, len(payloads), BATCH):
        await layer.group_send(
            run_group(run_id),
            {
                "type": "run.events",
                "run_id": run_id,
                "events": payloads[start : start + BATCH],
            },
        )
    if run_changed:
        await layer.group_send(RUNS_GROUP, {"type": "run.changed", "run_id": run_id})


# -- the hub: one listener per web process, fanning out to its consumers --------

# Batches that arrive within this window go to each browser as one message:
# under load, fewer and larger frames; idle, a few milliseconds of latency.
COALESCE_SECONDS = 0.01
MAX_COALESCE_SECONDS = 0.03
SNAPSHOT_REUSE_SECONDS = 1.0


class RunWatcher(Protocol):
    sent_seq: int

    async def offer(self, events: list[dict[str, Any]], text: str) -> None: ...

    async def catch_up_now(self) -> None: ...


class RunListWatcher(Protocol):
    async def run_changed(self, run_id: int) -> None: ...


class Hub:
    """This process's subscriptions, shared by all of its consumers.

    One channel-layer channel per hub joins the group of each run watched here
    (and `runs` while a runs list is open), so Redis sends each batch once per
    process, not once per browser; the batch is encoded to JSON once.
    """

    def __init__(self) -> None:
        self.runs: dict[int, set[RunWatcher]] = {}
        self.lists: set[RunListWatcher] = set()
        self.pending: dict[int, list[dict[str, Any]]] = {}
        self.changed: set[int] = set()
        self.flush_handle: asyncio.TimerHandle | None = None
        self.flush_lock = asyncio.Lock()
        # Per watched run, the last seq offered to its watchers: batches are
        # passed on in order and without gaps, filled from the table once.
        self.known: dict[int, int] = {}
        # Per run, the snapshot being or last built, and when: a crowd opening
        # one run shares one read of it instead of each reading 2,000 tasks.
        self.snapshots: dict[int, tuple[float, asyncio.Future[tuple[int, str]]]] = {}
        self.channel: str | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.cursor: int | None = None
        self.layer: Any = None

    # registration ---------------------------------------------------------------

    async def watch_run(self, run_id: int, watcher: RunWatcher) -> None:
        await self._start()
        watchers = self.runs.setdefault(run_id, set())
        watchers.add(watcher)
        if len(watchers) == 1:
            if self.channel is not None:
                await self.layer.group_add(run_group(run_id), self.channel)
            # Read after subscribing: what is committed by now is in the table
            # (and in each new watcher's snapshot); what is not, we will receive.
            seq = await database_sync_to_async(last_seq)(run_id)
            self.known[run_id] = seq or 0

    async def unwatch_run(self, run_id: int, watcher: RunWatcher) -> None:
        watchers = self.runs.get(run_id, set())
        watchers.discard(watcher)
        if not watchers:
            self.runs.pop(run_id, None)
            self.known.pop(run_id, None)
            self.snapshots.pop(run_id, None)
            if self.channel is not None:
                await self.layer.group_discard(run_group(run_id), self.channel)
        await self._stop_when_idle()

    async def watch_list(self, watcher: RunListWatcher) -> None:
        await self._start()
        if not self.lists and self.channel is not None:
            await self.layer.group_add(RUNS_GROUP, self.channel)
        self.lists.add(watcher)

    async def unwatch_list(self, watcher: RunListWatcher) -> None:
        self.lists.discard(watcher)
        if not self.lists and self.channel is not None:
            await self.layer.group_discard(RUNS_GROUP, self.channel)
        await self._stop_when_idle()

    async def _start(self) -> None:
        if self.tasks:
            return
        loop = asyncio.get_running_loop()
        if settings.FLOWDECK_LIVE_PUSH:
            self.layer = get_channel_layer()
            # The default prefix: channels_redis reads all of a process's own
            # channels through one queue named by that prefix.
            self.channel = await self.layer.new_channel()
            self.tasks.append(loop.create_task(self._receive()))
        else:
            self.cursor = await database_sync_to_async(_newest_event_id)()
            self.tasks.append(loop.create_task(self._tail()))
        self.tasks.append(loop.create_task(self._recheck()))

    async def _stop_when_idle(self) -> None:
        if self.runs or self.lists:
            return
        for task in self.tasks:
            task.cancel()
        self.tasks, self.channel = [], None

    async def snapshot(
        self, run_id: int, build: Callable[[], tuple[int, dict[str, Any]]]
    ) -> tuple[int, str]:
        """(seq, encoded snapshot message) of the run, built by `build` in a
        thread, or reused if another watcher had it built within the last
        SNAPSHOT_REUSE_SECONDS: a snapshot at an older seq is as good, the
        events after it follow."""
        loop = asyncio.get_running_loop()
        cached = self.snapshots.get(run_id)
        if cached is not None and loop.time() - cached[0] < SNAPSHOT_REUSE_SECONDS:
            return await asyncio.shield(cached[1])
        future: asyncio.Future[tuple[int, str]] = loop.create_future()
        self.snapshots[run_id] = (loop.time(), future)
        try:
            seq, run = await database_sync_to_async(build)()
        except BaseException as error:
            self.snapshots.pop(run_id, None)
            future.set_exception(error)
            future.exception()  # retrieved: the other waiters re-raise it
            raise
        text = json.dumps(
            {"type": "snapshot", "seq": seq, "run": run}, cls=DjangoJSONEncoder
        )
        future.set_result((seq, text))
        return seq, text

    # sources --------------------------------------------------------------------

    async def _receive(self) -> None:
        channel = self.channel
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("receiving run events failed", exc_info=True)
                await asyncio.sleep(1)
                continue
            if message.get("type") == "run.events":
                self.add(message["run_id"], message["events"], False)
            elif message.get("type") == "run.changed":
                self.add(message["run_id"], [], True)

    async def _tail(self) -> None:
        while True:
            try:
                rows, self.cursor = await database_sync_to_async(_events_since)(
                    self.cursor
                )
                for row in rows:
                    self.add(
                        row.run_id, [event_payload(row)], row.kind == RunEvent.Kind.RUN
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reading new run events failed", exc_info=True)
            await asyncio.sleep(settings.FLOWDECK_LIVE_TAIL_SECONDS)

    async def _recheck(self) -> None:
        """Now and then compare with the table, in case a message was lost.

        The hub reads what it missed once per run. A watcher is only made to
        read the table itself if it is still short of what the hub had passed
        on at the previous check: offers queued since are on their way, and
        sending every watcher to the table at once would stall them all.
        """
        offered_before: dict[int, int] = {}
        while True:
            await asyncio.sleep(settings.FLOWDECK_LIVE_RESYNC_SECONDS)
            run_ids = list(self.runs)
            if not run_ids:
                continue
            newest = await database_sync_to_async(_last_seqs)(run_ids)
            async with self.flush_lock:
                for run_id, seq in newest.items():
                    known = self.known.get(run_id)
                    if known is not None and known < seq:
                        await self._pass_on(run_id, [])
                    previous = offered_before.get(run_id, 0)
                    for watcher in list(self.runs.get(run_id, ())):
                        if watcher.sent_seq < previous:
                            asyncio.ensure_future(watcher.catch_up_now())
                offered_before = {
                    run_id: self.known[run_id]
                    for run_id in run_ids
                    if run_id in self.known
                }

    # fan-out --------------------------------------------------------------------

    def add(self, run_id: int, events: list[dict[str, Any]], run_changed: bool) -> None:
        if events and run_id in self.runs:
            self.pending.setdefault(run_id, []).extend(events)
        if run_changed and self.lists:
            self.changed.add(run_id)
        if self.flush_handle is None and (self.pending or self.changed):
            loop = asyncio.get_running_loop()
            # More watchers, longer windows: each flush costs a frame per
            # browser, so under load fewer, larger frames keep latency down.
            watchers = sum(len(w) for w in self.runs.values()) + len(self.lists)
            window = min(MAX_COALESCE_SECONDS, COALESCE_SECONDS * (1 + watchers / 50))
            self.flush_handle = loop.call_later(window, self.flush)

    def flush(self) -> None:
        self.flush_handle = None
        asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        async with self.flush_lock:
            pending, self.pending = self.pending, {}
            changed, self.changed = self.changed, set()
            for run_id, events in pending.items():
                await self._pass_on(run_id, events)
        for run_id in changed:
            for list_watcher in list(self.lists):
                asyncio.ensure_future(list_watcher.run_changed(run_id))

    async def _pass_on(self, run_id: int, events: list[dict[str, Any]]) -> None:
        """Offer the run's events after the last offered, in order, gap-free;
        flush_lock held. Batches published after their commits can arrive out
        of order (the worker's threads publish concurrently), but an event is
        committed before any later one of its run, so a gap is in the table."""
        known = self.known.get(run_id)
        if known is None:
            return
        by_seq = {event["seq"]: event for event in events if event["seq"] > known}
        fresh = [by_seq[seq] for seq in sorted(by_seq)]
        if (
            not fresh
            or fresh[0]["seq"] != known + 1
            or len(fresh) != (fresh[-1]["seq"] - known)
        ):
            upto = fresh[-1]["seq"] if fresh else None
            fresh = await database_sync_to_async(events_after)(
                run_id, known, BATCH * 4, upto
            )
        if not fresh or run_id not in self.known:
            return
        self.known[run_id] = fresh[-1]["seq"]
        text = json.dumps({"type": "events", "events": fresh})
        for watcher in list(self.runs.get(run_id, ())):
            asyncio.ensure_future(watcher.offer(fresh, text))


def _newest_event_id() -> int:
    return RunEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events_since(cursor: int | None) -> tuple[list[RunEvent], int | None]:
    rows = list(RunEvent.objects.filter(id__gt=cursor or 0).order_by("id")[: BATCH * 4])
    return rows, (rows[-1].id if rows else cursor)


def _last_seqs(run_ids: Iterable[int]) -> dict[int, int]:
    return dict(Run.objects.filter(pk__in=list(run_ids)).values_list("pk", "last_seq"))


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """This event loop's hub (a server has one loop; tests start many)."""
    loop = asyncio.get_running_loop()
    for stale in [other for other in _hubs if other.is_closed()]:
        del _hubs[stale]
    if loop not in _hubs:
        _hubs[loop] = Hub()
    return _hubs[loop]
