"""The runner backend interface: what the dispatcher asks of any backend.

A backend starts, stops and observes attempts. It reports what it observes to a
Reporter (the dispatcher), never writing to the database itself, so the engine
and the services never know which backend runs a task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flowcore.reports import Report
from k8s_runner.pod_request import PodRequest

Reporter = Callable[[Report], None]


class BackendError(Exception):
    """A backend call failed. `permanent` faults fail the attempt (as Error,
    with `reason`, LaunchFailed when it names none); transient ones are tried
    again later."""

    def __init__(
        self, message: str, *, permanent: bool = False, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LiveAttempt:
    """An attempt the database believes live, as recover() is given it."""

    attempt_id: int
    handle: str  # "" when it was never recorded as started
    log_path: str = ""


class Backend(Protocol):
    name: str

    def launch(self, request: PodRequest) -> None:
        """Start the attempt; repeating it for a launched attempt does nothing.
        Progress arrives later through the reporter."""

    def cancel(self, attempt_id: int, handle: str) -> None:
        """Stop the attempt if it still runs; idempotent."""

    def status(self, attempt_id: int, handle: str) -> Report | None:
        """What the backend knows of the attempt now; None when it knows nothing."""

    def logs(self, log_path: str, handle: str, *, offset: int = 0) -> bytes:
        """The attempt's output from byte `offset` on."""

    def recover(self, live: list[LiveAttempt]) -> list[int]:
        """After a restart: given every attempt the database believes live,
        adopt what still runs, report what ended, and return the ids that were
        never started and must be launched again."""
