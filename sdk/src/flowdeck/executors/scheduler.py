"""Run a flow's graph on an executor: start each task when its upstreams
succeeded, fan out `.map` calls, retry and time out attempts the way the
server does, and report each state change.

The rules are the server's defaults (docs/spec.md): a task retries after a
failure or a timeout until `retries` extra attempts are spent, `retry_delay`
apart; a task whose upstream failed ends UpstreamFailed; a fan-out ends
Succeeded when every instance did, Failed otherwise; values pass as JSON.
"""

from __future__ import annotations

import heapq
import itertools
import json
import queue
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

from flowdeck.graph import Node, Parameter, TaskRef
from flowdeck.results import (
    ERROR,
    FAILED,
    SUCCEEDED,
    UPSTREAM_FAILED,
    FlowResult,
    TaskResult,
)

if TYPE_CHECKING:
    from flowdeck.flows import Flow


class Handle(Protocol):
    """A submitted call (concurrent.futures.Future, distributed.Future)."""

    def add_done_callback(self, fn: Callable[[Any], None], /) -> None: ...

    def result(self) -> Any: ...

    def cancel(self) -> Any: ...


class Submitter(Protocol):
    def submit(
        self, fn: Callable[..., Any], kwargs: dict[str, Any], key: str
    ) -> Handle: ...


def invoke(fn: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[bool, str]:
    """Call a task's function where the executor runs it: (True, its value
    as JSON) or (False, why it failed). Values cross as JSON, as they do on
    the server, so a value that could not travel there fails here too."""
    try:
        value = fn(**kwargs)
    except Exception:
        return False, traceback.format_exc()
    try:
        return True, json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return False, f"the return value of {fn.__name__} is not JSON: {exc}"


class ParameterError(ValueError):
    """Parameters given to a run that the flow does not accept."""


def resolve_parameters(flow: Flow, given: Mapping[str, Any] | None) -> dict[str, Any]:
    given = dict(given or {})
    unknown = sorted(set(given) - set(flow.parameters))
    if unknown:
        raise ParameterError(
            f"flow {flow.name!r} has no parameter {', '.join(map(repr, unknown))}"
        )
    values: dict[str, Any] = {}
    for name, parameter in flow.parameters.items():
        if name in given:
            values[name] = parameter.decode(given[name])
        elif parameter.required:
            raise ParameterError(f"parameter {name!r} is required")
        else:
            values[name] = parameter.default
    return values


@dataclass
class _Unit:
    """A task, or one instance of a fan-out, with its attempts."""

    key: str
    node: Node
    kwargs: dict[str, Any]
    attempts: int = 0
    state: str = "Pending"
    value: Any = None
    error: str = ""
    deadline: float | None = None
    handle: Handle | None = None


@dataclass
class _NodeState:
    state: str = "Pending"
    units: list[_Unit] = field(default_factory=list)
    value: Any = None
    error: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)


class Printer:
    """Each state change as a line on standard error (or nowhere)."""

    def __init__(self, flow: str, quiet: bool, stream: IO[str] | None = None) -> None:
        self.flow = flow
        self.quiet = quiet
        self.stream = stream

    def __call__(self, key: str, state: str, detail: str = "") -> None:
        if self.quiet:
            return
        stream = self.stream or sys.stderr
        clock = time.strftime("%H:%M:%S")
        suffix = f": {detail}" if detail else ""
        print(f"[{clock}] {self.flow} {key}: {state}{suffix}", file=stream, flush=True)


class Scheduler:
    def __init__(
        self,
        flow: Flow,
        parameters: dict[str, Any],
        submitter: Submitter,
        printer: Callable[[str, str, str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flow = flow
        self.parameters = parameters
        self.submitter = submitter
        self.say = printer
        self.clock = clock
        self.nodes = {name: _NodeState() for name in flow.nodes}
        self.done: queue.Queue[tuple[_Unit, int, Handle]] = queue.Queue()
        self.retries: list[tuple[float, int, _Unit]] = []
        self.running: dict[int, _Unit] = {}
        self.order = itertools.count()

    def run(self) -> FlowResult:
        while True:
            self._settle()
            if all(_final(s.state) for s in self.nodes.values()):
                break
            self._wait()
        state = (
            SUCCEEDED
            if all(s.state == SUCCEEDED for s in self.nodes.values())
            else FAILED
        )
        tasks = {
            name: TaskResult(
                name,
                s.state,
                error=s.error,
                attempts=sum(u.attempts for u in s.units),
                inputs=s.inputs,
                _value=s.value,
            )
            for name, s in self.nodes.items()
        }
        result = FlowResult(self.flow.name, state, tasks)
        self.say("run", state, "" if state == SUCCEEDED else result.summary())
        return result

    # Deciding what starts

    def _settle(self) -> None:
        changed = True
        while changed:
            changed = False
            for name, node in self.flow.nodes.items():
                state = self.nodes[name]
                if state.state != "Pending":
                    continue
                upstream = [self.nodes[up.name].state for up in node.upstream]
                if any(_final(s) and s != SUCCEEDED for s in upstream):
                    state.state = UPSTREAM_FAILED
                    self.say(name, UPSTREAM_FAILED, "")
                    changed = True
                elif all(s == SUCCEEDED for s in upstream):
                    self._start(node)
                    changed = True

    def _argument(self, value: Any) -> Any:
        if isinstance(value, TaskRef):
            return self.nodes[value.node.name].value
        if isinstance(value, Parameter):
            return self.parameters[value.name]
        return value

    def _start(self, node: Node) -> None:
        state = self.nodes[node.name]
        kwargs = {key: self._argument(v) for key, v in node.arguments.items()}
        state.inputs = kwargs
        if node.mapped is None:
            state.state = "Running"
            state.units = [_Unit(node.name, node, kwargs)]
        else:
            items = kwargs[node.mapped]
            if not isinstance(items, list | tuple):
                state.state = ERROR
                state.error = f"map needs a list, not {type(items).__name__}"
                self.say(node.name, ERROR, state.error)
                return
            if not items:
                state.state, state.value = SUCCEEDED, []
                self.say(node.name, SUCCEEDED, "no items")
                return
            state.state = "Expanded"
            self.say(node.name, "Expanded", f"{len(items)} instances")
            state.units = [
                _Unit(f"{node.name}[{i}]", node, {**kwargs, node.mapped: item})
                for i, item in enumerate(items)
            ]
        for unit in state.units:
            self._launch(unit)

    def _launch(self, unit: _Unit) -> None:
        unit.attempts += 1
        unit.state = "Running"
        number = unit.attempts
        task = unit.node.task
        now = self.clock()
        unit.deadline = now + task.timeout if task.timeout is not None else None
        handle = self.submitter.submit(
            invoke, {"fn": task.fn, "kwargs": unit.kwargs}, unit.key
        )
        unit.handle = handle
        self.running[id(unit)] = unit
        retry = f" (attempt {number} of {task.retries + 1})" if number > 1 else ""
        self.say(unit.key, "Running", retry.strip(" ()"))
        handle.add_done_callback(lambda h: self.done.put((unit, number, h)))

    # Waiting for what ends

    def _wait(self) -> None:
        now = self.clock()
        wakes = [when for when, _, _ in self.retries[:1]]
        wakes += [u.deadline for u in self.running.values() if u.deadline is not None]
        timeout = max(0.0, min(wakes) - now) if wakes else None
        try:
            unit, number, handle = self.done.get(timeout=timeout)
        except queue.Empty:
            pass
        else:
            self._finished(unit, number, handle)
        now = self.clock()
        for unit in list(self.running.values()):
            if unit.deadline is not None and unit.deadline <= now:
                del self.running[id(unit)]
                if unit.handle is not None:
                    unit.handle.cancel()
                seconds = unit.node.task.timeout
                self._failed(unit, f"timed out after {seconds:g}s")
        while self.retries and self.retries[0][0] <= now:
            _, _, unit = heapq.heappop(self.retries)
            self._launch(unit)

    def _finished(self, unit: _Unit, number: int, handle: Handle) -> None:
        if number != unit.attempts or id(unit) not in self.running:
            return  # an attempt already given up (timed out)
        del self.running[id(unit)]
        try:
            ok, payload = handle.result()
        except Exception as exc:  # the executor lost it: a worker died
            self._failed(unit, f"{type(exc).__name__}: {exc}", state=ERROR)
            return
        if not ok:
            self._failed(unit, payload)
            return
        unit.state, unit.value, unit.error = SUCCEEDED, json.loads(payload), ""
        self.say(unit.key, SUCCEEDED, "")
        self._unit_ended(unit)

    def _failed(self, unit: _Unit, error: str, state: str = FAILED) -> None:
        task = unit.node.task
        unit.error = error
        last = error.strip().splitlines()[-1] if error.strip() else state
        if unit.attempts <= task.retries:
            delay = task.retry_delay_seconds
            unit.state = "Retrying"
            self.say(unit.key, "Retrying", f"{last}; again in {delay:g}s")
            heapq.heappush(self.retries, (self.clock() + delay, next(self.order), unit))
            return
        unit.state = state
        self.say(unit.key, state, last)
        self._unit_ended(unit)

    def _unit_ended(self, unit: _Unit) -> None:
        state = self.nodes[unit.node.name]
        if not all(_final(u.state) for u in state.units):
            return
        if unit.node.mapped is None:
            state.state, state.value, state.error = unit.state, unit.value, unit.error
            return
        failed = [u for u in state.units if u.state != SUCCEEDED]
        if failed:
            state.state = FAILED
            state.error = (
                f"{len(failed)} of {len(state.units)} instances did not succeed: "
                + failed[0].error.strip().splitlines()[-1]
            )
        else:
            state.state = SUCCEEDED
            state.value = [u.value for u in state.units]
        self.say(unit.node.name, state.state, state.error)


def _final(state: str) -> bool:
    return state in (SUCCEEDED, FAILED, ERROR, UPSTREAM_FAILED, "Skipped", "Cancelled")
