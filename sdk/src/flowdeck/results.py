"""What a run of a flow gives back: each task's state, value and error."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowdeck.graph import TaskRef

# The server's task states (flowcore.states), which local runs use too.
SUCCEEDED = "Succeeded"
FAILED = "Failed"
ERROR = "Error"
UPSTREAM_FAILED = "UpstreamFailed"
SKIPPED = "Skipped"
CANCELLED = "Cancelled"
FINAL_RUN_STATES = ("Succeeded", "Failed", "Cancelled")


@dataclass
class TaskResult:
    """One task of a run: its state, and its value when it succeeded (a
    fan-out's value is the list of its instances' values, in item order)."""

    name: str
    state: str
    error: str = ""
    attempts: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)
    _value: Any = None
    _load: Callable[[], Any] | None = field(default=None, repr=False)

    @property
    def value(self) -> Any:
        if self._load is not None:
            self._value, self._load = self._load(), None
        return self._value

    @property
    def is_successful(self) -> bool:
        return self.state == SUCCEEDED


@dataclass
class FlowResult:
    """The end of a run: `state` and a TaskResult per task, by name or by the
    reference its call returned (`result[transformed].value`)."""

    flow: str
    state: str
    tasks: dict[str, TaskResult]
    run_id: int | None = None  # on a server
    url: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str | TaskRef) -> TaskResult:
        name = key.name if isinstance(key, TaskRef) else key
        return self.tasks[name]

    def __iter__(self) -> Iterator[TaskResult]:
        return iter(self.tasks.values())

    def is_successful(self) -> bool:
        return self.state == SUCCEEDED

    @property
    def failures(self) -> list[TaskResult]:
        return [t for t in self.tasks.values() if t.state in (FAILED, ERROR)]

    def summary(self) -> str:
        """One line: the state, and the tasks that failed with why."""
        if self.state == SUCCEEDED:
            return f"{self.flow}: Succeeded ({len(self.tasks)} tasks)"
        failed = "; ".join(
            f"{t.name} {t.state}"
            + (f": {t.error.strip().splitlines()[-1]}" if t.error else "")
            for t in self.failures
        )
        return f"{self.flow}: {self.state}" + (f" ({failed})" if failed else "")

    def values(self) -> Mapping[str, Any]:
        return {name: task.value for name, task in self.tasks.items()}
