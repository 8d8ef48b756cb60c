"""Websocket consumers: one run's events, the runs list, a task's log tail.

They authenticate, check the same permission as the REST API, subscribe and
forward; they never change state. The protocol is in docs/live.md.
"""

from __future__ import annotations

import asyncio
import functools
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from flowcore.states import TERMINAL_RUN_STATUSES
from observability import metrics
from workflows import live
from workflows.models import Attempt, Run, TaskRun
from workflows.permissions import visible

# Close codes: 4401 like HTTP 401, 4404 like 404, 4400 like 400.
UNAUTHENTICATED, NOT_FOUND, BAD_REQUEST = 4401, 4404, 4400


class Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class BaseConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Accepts, then refuses with a reason and a close code: a browser cannot
    read why a handshake was rejected, but it can read a message and a code."""

    # No channel of its own: the process's hub (workflows.live) listens for
    # everyone, so Redis is not read once per browser.
    channel_layer_alias = "flowdeck-consumers-use-the-hub"
    # The consumer's label in flowdeck_websocket_clients and _messages_sent.
    metrics_label = ""
    _counted = False

    async def connect(self) -> None:
        await self.accept()
        metrics.WEBSOCKET_CLIENTS.labels(self.metrics_label).inc()
        self._counted = True
        try:
            user = self.scope.get("user")
            if user is None or not user.is_authenticated:
                reason = self.scope.get("auth_error", "authentication required")
                raise Refused(UNAUTHENTICATED, reason)
            await self.start(user)
        except Refused as refusal:
            await self.send_json(
                {"type": "error", "code": refusal.code, "message": str(refusal)}
            )
            await self.close(code=refusal.code)

    async def start(self, user: Any) -> None:
        raise NotImplementedError

    async def websocket_disconnect(self, message: Any) -> None:
        if self._counted:
            self._counted = False
            metrics.WEBSOCKET_CLIENTS.labels(self.metrics_label).dec()
        await super().websocket_disconnect(message)

    async def send(
        self,
        text_data: str | None = None,
        bytes_data: bytes | None = None,
        close: bool = False,
    ) -> None:
        if text_data is not None or bytes_data is not None:
            _sent_counter(self.metrics_label).inc()
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def send_json(self, content: Any, close: bool = False) -> None:
        # AsyncJsonWebsocketConsumer.send_json skips send() above: count here.
        _sent_counter(self.metrics_label).inc()
        await super().send_json(content, close=close)

    def query(self, name: str) -> str | None:
        query = parse_qs(bytes(self.scope.get("query_string", b"")).decode())
        values = query.get(name)
        return values[-1] if values else None

    def query_int(self, name: str, *, minimum: int = 0) -> int | None:
        text = self.query(name)
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            raise Refused(BAD_REQUEST, f"{name}: expected a whole number") from None
        if value < minimum:
            raise Refused(BAD_REQUEST, f"{name}: must be at least {minimum}")
        return value


@functools.cache
def _sent_counter(label: str) -> Any:
    """The label's child of the counter: looked up once, not per frame."""
    return metrics.WEBSOCKET_MESSAGES.labels(label)


def visible_run(user: Any, run_id: int) -> Run:
    run = visible(Run.objects.all(), user).filter(pk=run_id).first()
    if run is None:
        raise Refused(NOT_FOUND, f"run {run_id} not found")
    return run


class RunConsumer(BaseConsumer):
    """/ws/runs/<id>/: a snapshot (or the events after ?since=), then every
    event in seq order, each exactly once."""

    metrics_label = "run"
    run_id: int
    sent_seq = 0
    watching = False

    async def start(self, user: Any) -> None:
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        since = self.query_int("since")
        await database_sync_to_async(visible_run)(user, self.run_id)
        self.lock = asyncio.Lock()
        async with self.lock:
            # Watch before reading: an event committed meanwhile is then either
            # in what we read or in a batch offered later (dropped by seq).
            await live.hub().watch_run(self.run_id, self)
            self.watching = True
            if since is None:
                seq, text = await live.hub().snapshot(
                    self.run_id, partial(snapshot, user, self.run_id)
                )
                self.sent_seq = seq
                await self.send(text_data=text)
            else:
                self.sent_seq = since
            await self.catch_up()

    async def disconnect(self, code: int) -> None:
        if self.watching:
            self.watching = False
            await live.hub().unwatch_run(self.run_id, self)

    async def offer(self, events: list[dict[str, Any]], text: str) -> None:
        """A batch from the hub, sorted by seq; `text` is it encoded."""
        async with self.lock:
            first, last = events[0]["seq"], events[-1]["seq"]
            if last <= self.sent_seq:
                return
            if first == self.sent_seq + 1 and last - first == len(events) - 1:
                await self.send(text_data=text)  # the usual case: as it came
                self.sent_seq = last
            elif first <= self.sent_seq + 1 and _dense(events):
                await self.deliver([e for e in events if e["seq"] > self.sent_seq])
            else:
                await self.catch_up()  # a gap: the table has them all, in order

    async def catch_up_now(self) -> None:
        async with self.lock:
            await self.catch_up()

    async def catch_up(self) -> None:
        """Send every event in the table after the last one sent; lock held."""
        while True:
            events = await database_sync_to_async(live.events_after)(
                self.run_id, self.sent_seq
            )
            if not events:
                return
            await self.deliver(events)
            if len(events) < live.BATCH:
                return

    async def deliver(self, events: list[dict[str, Any]]) -> None:
        await self.send_json({"type": "events", "events": events})
        self.sent_seq = events[-1]["seq"]


def _dense(events: list[dict[str, Any]]) -> bool:
    return all(
        later["seq"] == earlier["seq"] + 1
        for earlier, later in zip(events, events[1:], strict=False)
    )


def snapshot(user: Any, run_id: int) -> tuple[int, dict[str, Any]]:
    """The run as GET /api/runs/<id>/ shows it (with its task summary) plus its
    tasks, bounded (RunSnapshotSerializer), and the seq it is at least at.

    The seq is read first: events after it are sent afterwards even if the
    serialized state already shows them (applying an event twice is harmless).
    """
    from workflows.api.serializers import RunSnapshotSerializer
    from workflows.api.views import detail_queryset

    seq = live.last_seq(run_id)
    # Bounded: a 10,000-task run's snapshot has its summary and the tasks that
    # are live or failed, not every row (docs/live.md).
    run = detail_queryset(user).filter(pk=run_id).first()
    if seq is None or run is None:
        raise Refused(NOT_FOUND, f"run {run_id} not found")
    return seq, dict(RunSnapshotSerializer(run, context={"bounded": True}).data)


class RunListConsumer(BaseConsumer):
    """/ws/runs/: every run the user can see, each time it changes status."""

    metrics_label = "runs"
    watching = False

    async def start(self, user: Any) -> None:
        self.user = user
        await live.hub().watch_list(self)
        self.watching = True
        # From here on no change is missed: a client may fetch its list now.
        await self.send_json({"type": "ready"})

    async def disconnect(self, code: int) -> None:
        if self.watching:
            self.watching = False
            await live.hub().unwatch_list(self)

    async def run_changed(self, run_id: int) -> None:
        run = await database_sync_to_async(run_summary)(self.user, run_id)
        if run is not None:
            await self.send_json({"type": "run", "run": run})


def run_summary(user: Any, run_id: int) -> dict[str, Any] | None:
    """The run as an item of GET /api/runs/; None if the user cannot see it."""
    from workflows.api.serializers import RunSerializer

    run = (
        visible(Run.objects.all(), user)
        .select_related("workflow__project", "version", "triggered_by")
        .defer("version__document")
        .filter(pk=run_id)
        .first()
    )
    return None if run is None else dict(RunSerializer(run).data)


# -- logs -------------------------------------------------------------------------

# Lines in flight to one browser before the server waits for its acknowledgement:
# a task printing faster than the page renders is read no faster than that.
LOG_WINDOW = 8
LOG_WAIT_SECONDS = 0.5


class LogConsumer(BaseConsumer):
    """/ws/runs/<id>/tasks/<name>/logs/?attempt=N&tail=200: a live log tail.

    Flow control: each `lines` message carries a `batch` number and the client
    acknowledges with {"type": "ack", "batch": n}; at most LOG_WINDOW batches
    are unacknowledged, so memory stays bounded whatever the task writes.
    """

    metrics_label = "logs"
    pump: asyncio.Task[None] | None = None
    follower: Any = None

    async def start(self, user: Any) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        self.run_id, self.task_name = int(kwargs["run_id"]), kwargs["name"]
        self.attempt_number = self.query_int("attempt", minimum=1)
        tail = self.query_int("tail")
        self.tail = 200 if tail is None else tail
        await database_sync_to_async(visible_task)(user, self.run_id, self.task_name)
        self.sent_batches = 0
        self.acked = 0
        self.acked_event = asyncio.Event()
        self.pump = asyncio.get_running_loop().create_task(self.follow())

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ack":
            batch = content.get("batch")
            if isinstance(batch, int) and batch > self.acked:
                self.acked = batch
                self.acked_event.set()

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            self.follower.close()
        if self.pump is not None:
            self.pump.cancel()

    async def follow(self) -> None:
        from k8s_runner.logs import follow_log

        attempt_id = await self.wait_for_attempt()
        if attempt_id is None:
            await self.finish(None)
            return
        self.follower = follow_log(attempt_id, tail_lines=self.tail)
        batches = iter(self.follower)
        try:
            while True:
                batch = await asyncio.to_thread(next, batches, None)
                if batch is None:
                    break
                if batch:
                    await self.send_lines(batch)
        finally:
            self.follower.close()
        status = await database_sync_to_async(attempt_status)(attempt_id)
        await self.finish(status)

    async def send_lines(self, lines: list[str]) -> None:
        while self.sent_batches - self.acked >= LOG_WINDOW:
            self.acked_event.clear()
            await self.acked_event.wait()
        self.sent_batches += 1
        await self.send_json(
            {"type": "lines", "batch": self.sent_batches, "lines": lines}
        )

    async def wait_for_attempt(self) -> int | None:
        """The attempt to follow; waits for it while the run may still start it."""
        told = False
        while True:
            attempt_id, run_over = await database_sync_to_async(find_attempt)(
                self.run_id, self.task_name, self.attempt_number
            )
            if attempt_id is not None or run_over:
                return attempt_id
            if not told:
                await self.send_json({"type": "waiting"})
                told = True
            await asyncio.sleep(LOG_WAIT_SECONDS)

    async def finish(self, status: str | None) -> None:
        await self.send_json({"type": "end", "status": status})
        await self.close(code=1000)


def visible_task(user: Any, run_id: int, name: str) -> None:
    run = visible_run(user, run_id)
    if not TaskRun.objects.filter(run=run, name=name).exists():
        raise Refused(NOT_FOUND, f"run {run_id} has no task {name!r}")


def find_attempt(run_id: int, task: str, number: int | None) -> tuple[int | None, bool]:
    """(the attempt's id or None, whether the run is over so none will come)."""
    attempts = Attempt.objects.filter(task_run__run_id=run_id, task_run__name=task)
    if number is not None:
        attempts = attempts.filter(number=number)
    attempt_id = attempts.order_by("-number").values_list("id", flat=True).first()
    status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    return attempt_id, status is None or status in TERMINAL_RUN_STATUSES


def attempt_status(attempt_id: int) -> str | None:
    return (
        Attempt.objects.filter(pk=attempt_id).values_list("status", flat=True).first()
    )
