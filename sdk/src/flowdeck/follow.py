"""Follow a run on the server live over its websocket (docs/live.md) and show
it: a redrawn progress line on a terminal, plain lines when piped, each
finished task's log, and the failures as they happen."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from flowdeck.client import Client, FlowdeckError

FINAL_RUN = ("Succeeded", "Failed", "Cancelled")
FINAL_TASK = ("Succeeded", "Failed", "Error", "Skipped", "UpstreamFailed", "Cancelled")
FAILING = ("Failed", "Error", "UpstreamFailed", "Cancelled")


@dataclass
class RunView:
    """What is known of a run: its status and each task's (fan-out instances
    `task[i]` included, the fan-out itself `Expanded` until they end)."""

    run_id: int
    status: str = "Pending"
    tasks: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    seq: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINAL_RUN

    # Tasks a bounded snapshot left out (a big run's Pending and finished
    # ones), by status, from its summary: counted until an event names them.
    unlisted: Counter[str] = field(default_factory=Counter)

    def counts(self) -> Counter[str]:
        return Counter(self.tasks.values()) + self.unlisted

    def load(self, run: dict[str, Any]) -> None:
        self.status = run["status"]
        for task in run.get("tasks", []):
            self.tasks[task["name"]] = task["status"]
            if task.get("message"):
                self.messages[task["name"]] = task["message"]
        self.unlisted = Counter()
        if run.get("tasks_complete") is False:
            by_status = (run.get("summary") or {}).get("by_status") or {}
            self.unlisted = Counter(by_status) - Counter(self.tasks.values())

    def change(self, task: str, status: str, previous: str) -> None:
        if task not in self.tasks and self.unlisted.get(previous, 0) > 0:
            self.unlisted[previous] -= 1
        self.tasks[task] = status


Listener = Callable[[RunView, list[dict[str, Any]]], None]


def follow_run(
    client: Client,
    run_id: int,
    listener: Listener,
    *,
    timeout: float | None = None,
) -> RunView:
    """Watch run `run_id` until it ends, calling `listener(view, events)` with
    the snapshot (no events) and then with each batch of task and run events.
    A lost connection resumes from the last event seen (`?since=`)."""
    import websocket

    view = RunView(run_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    failures = 0
    while not view.finished:
        since = f"&since={view.seq}" if view.seq else ""
        url = client.ws_url(f"/ws/runs/{run_id}/?ticket={client.ws_ticket()}{since}")
        try:
            connection = websocket.create_connection(url, timeout=5)
        except (OSError, websocket.WebSocketException) as exc:
            failures += 1
            if failures > 5:
                raise FlowdeckError(f"cannot follow run {run_id}: {exc}") from None
            time.sleep(min(2.0, 0.2 * failures))
            continue
        try:
            while not view.finished:
                if deadline is not None and time.monotonic() > deadline:
                    raise FlowdeckError(f"run {run_id} did not finish in {timeout:g} s")
                try:
                    raw = connection.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                if not raw:
                    break  # closed by the server: reconnect from view.seq
                _apply(view, json.loads(raw), listener)
                failures = 0
        except (OSError, websocket.WebSocketConnectionClosedException):
            failures += 1
            if failures > 5:
                raise
        finally:
            connection.close()
    return view


def _apply(view: RunView, message: dict[str, Any], listener: Listener) -> None:
    if message.get("type") == "snapshot":
        view.load(message["run"])
        view.seq = message.get("seq", 0)
        listener(view, [])
        return
    if message.get("type") != "events":
        return
    changes = []
    for event in message["events"]:
        if event["seq"] <= view.seq:
            continue  # already applied (a reconnect's overlap)
        view.seq = event["seq"]
        if event["kind"] == "run":
            view.status = event["status"]
            changes.append(event)
        elif event["kind"] == "task" and event.get("task"):
            view.change(event["task"], event["status"], event.get("previous", ""))
            if event.get("message"):
                view.messages[event["task"]] = event["message"]
            changes.append(event)
    if changes:
        listener(view, changes)


class Progress:
    """Shows a followed run on `stream` (standard error: standard output stays
    for what a program reads). On a terminal: one redrawn line with the task
    counts by state and a bar, failures printed above it as they happen.
    Piped: one plain line per change. With `logs`, each task's log when it
    ends, each line prefixed with the task's name."""

    def __init__(
        self,
        client: Client,
        name: str,
        *,
        stream: IO[str] | None = None,
        live: bool | None = None,
        logs: bool = True,
    ) -> None:
        self.client = client
        self.name = name
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.logs = logs
        self.width = 0

    def __call__(self, view: RunView, events: list[dict[str, Any]]) -> None:
        if not events:
            self._line(f"run {view.run_id} of {self.name}: {view.status}")
        for event in events:
            if event["kind"] == "run":
                continue
            task, status = event["task"], event["status"]
            message = event.get("message") or ""
            if not self.live:
                suffix = f": {message}" if message and status in FAILING else ""
                self._line(f"{task}: {status}{suffix}")
            elif status in FAILING:
                self._line(f"✗ {task} {status}" + (f": {message}" if message else ""))
            if self.logs and status in FINAL_TASK and event.get("attempt"):
                self._log(view.run_id, task, int(event["attempt"]))
        if self.live:
            self._draw(view)

    def _log(self, run_id: int, task: str, attempt: int) -> None:
        try:
            text, _ = self.client.log(run_id, task, attempt)
        except FlowdeckError:
            return
        for line in text.splitlines():
            self._line(f"{task} | {line}")

    def _line(self, text: str) -> None:
        if self.live and self.width:
            self.stream.write("\r\x1b[K")
            self.width = 0
        print(text, file=self.stream, flush=True)

    def _draw(self, view: RunView) -> None:
        counts = view.counts()
        total = sum(v for k, v in counts.items() if k != "Expanded") or 1
        done = sum(counts[s] for s in FINAL_TASK)
        filled = round(20 * done / total)
        bar = "█" * filled + "░" * (20 - filled)
        parts = " · ".join(f"{state} {n}" for state, n in sorted(counts.items()))
        text = f"{self.name} {view.status} {bar} {done}/{total}  {parts}"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self.width = len(text)
        if view.finished:
            self.stream.write("\n")
            self.width = 0


FAILED_TASK = ("Failed", "Error", "Cancelled")


def failure_summary(
    run: dict[str, Any], tasks: list[dict[str, Any]] | None = None
) -> str:
    """One line: the run's status and its failed tasks with their reasons
    (of `tasks`, by default the run's "tasks")."""
    failed = [
        t
        for t in (run.get("tasks", []) if tasks is None else tasks)
        if t["status"] in FAILED_TASK and not t.get("fan_group")
    ]
    head = f"run {run['id']} {run['status']}"
    if not failed:
        return head
    parts = []
    for task in failed[:5]:
        why = task.get("message") or task.get("reason") or ""
        parts.append(f"{task['name']} {task['status']}" + (f" ({why})" if why else ""))
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return f"{head}: " + "; ".join(parts) + more
