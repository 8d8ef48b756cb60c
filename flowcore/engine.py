"""The DAG engine: given a run's task states and the time, decide what happens next.

Pure: no I/O, no clock reads, no Django. The services feed it the states it asks
for (`tasks_to_load`) and apply the actions it returns, so one call costs in
proportion to what changed, not to the size of the DAG.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from flowcore.dag import Graph
from flowcore.dataflow import DataFlow
from flowcore.spec import TaskSpec, WorkflowSpec
from flowcore.spec_base import MAX_TIMEOUT, quantity_value
from flowcore.states import (
    BUSY_TASK_STATUSES,
    TERMINAL_TASK_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    AttemptStatus,
    RunStatus,
    TaskStatus,
)


@dataclass(frozen=True, slots=True)
class TaskState:
    status: TaskStatus
    attempts: int = 0  # attempts started so far
    started_at: datetime | None = None  # of the live attempt, for its timeout
    retry_at: datetime | None = None  # while Retrying: when the next attempt may start


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the run's project has left of its quota across all its runs (None:
    no limit on that resource). The `max_*` fields are the quota itself, for
    the messages that say why a task waits."""

    free_tasks: int | None = None
    free_cpu: Decimal | None = None  # cores
    free_memory: Decimal | None = None  # bytes
    max_tasks: int | None = None
    max_cpu: Decimal | None = None
    max_memory: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RunState:
    """What the engine may read of one run.

    `tasks` holds the tasks to examine plus their direct upstreams; `examine`
    names the ones to decide about (None: every task in `tasks`). `counts`
    covers every task of the run, loaded or not. `queued` lists Queued tasks
    best first (priority, then topological position), at least as many as
    there are free slots.
    """

    status: RunStatus
    started_at: datetime | None
    tasks: Mapping[str, TaskState]
    counts: Mapping[TaskStatus, int]
    examine: frozenset[str] | None = None
    queued: Sequence[str] = ()
    capacity: Capacity | None = None  # None: the project has no quota


@dataclass(frozen=True, slots=True)
class StartRun:
    pass


@dataclass(frozen=True, slots=True)
class QueueTask:
    task: str


@dataclass(frozen=True, slots=True)
class StartTask:
    task: str
    attempt: int  # the number of the attempt to create, from 1


@dataclass(frozen=True, slots=True)
class WaitForQuota:
    """A Queued task that could start but for its project's quota."""

    task: str
    reason: str


@dataclass(frozen=True, slots=True)
class SkipTask:
    task: str
    upstream: str  # the dependency that failed for good


@dataclass(frozen=True, slots=True)
class TimeOutTask:
    task: str
    message: str


@dataclass(frozen=True, slots=True)
class CancelTask:
    task: str
    reason: str


@dataclass(frozen=True, slots=True)
class FinishRun:
    status: RunStatus
    message: str = ""


Action = (
    StartRun
    | QueueTask
    | StartTask
    | WaitForQuota
    | SkipTask
    | TimeOutTask
    | CancelTask
    | FinishRun
)


@dataclass(frozen=True, slots=True)
class Plan:
    actions: list[Action]
    # A run-wide rule (failFast, the run's deadline, cancellation) now applies to
    # tasks this partial plan did not see: plan again with every task.
    rescan: bool = False
    # The earliest moment a later plan has something to do (a retry's backoff).
    wake_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    status: TaskStatus
    retry_at: datetime | None = None


def after_attempt(
    task: TaskSpec,
    attempt: int,
    result: AttemptStatus,
    now: datetime,
    *,
    retries_allowed: bool = True,
) -> AttemptOutcome:
    """The task's state once attempt number `attempt` ended with `result`."""
    if result is AttemptStatus.SUCCEEDED:
        return AttemptOutcome(TaskStatus.SUCCEEDED)
    if result is AttemptStatus.CANCELLED:
        return AttemptOutcome(TaskStatus.CANCELLED)
    final = TaskStatus.ERROR if result is AttemptStatus.ERROR else TaskStatus.FAILED
    policy = task.retry
    if retries_allowed and final.value in policy.on and attempt <= policy.limit:
        delay = policy.backoff.delay_before(attempt)
        return AttemptOutcome(TaskStatus.RETRYING, later(now, delay))
    return AttemptOutcome(final)


def later(now: datetime, seconds: float) -> datetime:
    """`now` plus a wait of `seconds`, never raising.

    The spec caps every wait at MAX_TIMEOUT (365 days), but a version saved
    before it did may ask for 10**30 seconds, which timedelta cannot hold:
    the wait is capped here too. A time past the end of datetime's range
    (a clock near year 9999) becomes that end.
    """
    if not seconds <= MAX_TIMEOUT:  # NaN included
        seconds = MAX_TIMEOUT
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=now.tzinfo)


def has_passed(started: datetime, seconds: float, now: datetime) -> bool:
    """Whether the deadline `seconds` after `started` has come, never raising.

    A deadline past the end of datetime's range (a timeout saved before
    timeouts had a maximum, such as 10**30 seconds) never comes.
    """
    try:
        return now >= started + timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # ValueError: NaN seconds
        return False


def tasks_to_load(graph: Graph, changed: Mapping[str, TaskStatus]) -> set[str]:
    """The tasks whose states a plan needs after `changed` reached these states.

    A success may make its children ready; a final failure skips everything
    downstream, so the whole closure is examined in one plan.
    """
    examine = set(changed)
    for name, status in changed.items():
        if status in UNSUCCESSFUL_TASK_STATUSES:
            examine |= graph.downstream_closure([name])
        else:
            examine.update(graph.downstream[name])
    return examine


@dataclass(frozen=True, slots=True)
class Blueprint:
    """A spec with its graph and task index, built once per workflow version."""

    spec: WorkflowSpec
    graph: Graph
    tasks: Mapping[str, TaskSpec]
    data: DataFlow

    @classmethod
    def of(cls, spec: WorkflowSpec) -> Blueprint:
        graph = Graph.build({task.name: task.dependencies for task in spec.tasks})
        tasks = {task.name: task for task in spec.tasks}
        return cls(spec, graph, tasks, DataFlow.of(spec))


def plan(blueprint: Blueprint, run: RunState, now: datetime) -> Plan:
    return _Planner(blueprint, run, now).plan()


@dataclass(slots=True)
class _Planner:
    blueprint: Blueprint
    run: RunState
    now: datetime
    status: dict[str, TaskStatus] = field(default_factory=dict)
    counts: Counter[TaskStatus] = field(default_factory=Counter)
    actions: list[Action] = field(default_factory=list)
    verdicts: dict[int, tuple[str | None, bool]] = field(default_factory=dict)

    def plan(self) -> Plan:
        run = self.run
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            return Plan([])
        self.status = {name: state.status for name, state in run.tasks.items()}
        self.counts = Counter(run.counts)
        if run.status is RunStatus.PENDING:
            self.actions.append(StartRun())
        examine = self._examined()
        if run.status is RunStatus.CANCELLING:
            return self._cancel_all(examine, "the run was cancelled")
        if self._deadline_passed():
            timeout = self.spec.timeout
            return self._cancel_all(
                examine, f"the run exceeded its timeout of {timeout:g}s"
            )
        newly_queued: list[str] = []
        wake_at: datetime | None = None
        for name in examine:
            state = run.tasks[name]
            status = self.status[name]
            if status is TaskStatus.PENDING:
                self._settle_pending(name, newly_queued)
            elif status is TaskStatus.RETRYING:
                if state.retry_at is None or state.retry_at <= self.now:
                    self._move(name, TaskStatus.QUEUED, QueueTask(name))
                    newly_queued.append(name)
                elif wake_at is None or state.retry_at < wake_at:
                    wake_at = state.retry_at
            elif status is TaskStatus.QUEUED:
                newly_queued.append(name)
            elif status is TaskStatus.RUNNING:
                self._check_timeout(name, state)
        failed = self._has_failure()
        rescan = False
        if failed and self.spec.fail_fast:
            rescan = run.examine is not None
            for name in examine:
                if self.status[name] in (
                    TaskStatus.PENDING,
                    TaskStatus.QUEUED,
                    TaskStatus.RETRYING,
                ):
                    self._move(
                        name,
                        TaskStatus.CANCELLED,
                        CancelTask(name, "failFast: another task failed"),
                    )
        else:
            self._start_queued(newly_queued)
        self._maybe_finish()
        return Plan(self.actions, rescan=rescan, wake_at=wake_at)

    def _examined(self) -> list[str]:
        names: Iterable[str] = (
            self.run.tasks if self.run.examine is None else self.run.examine
        )
        position = self.graph.position
        # Topological order lets a skip cascade through the DAG in one pass.
        return sorted(names, key=position.__getitem__)

    def _deadline_passed(self) -> bool:
        timeout, started = self.spec.timeout, self.run.started_at
        return (
            timeout is not None
            and started is not None
            and has_passed(started, timeout, self.now)
        )

    def _settle_pending(self, name: str, newly_queued: list[str]) -> None:
        failed_upstream, ready = self._judge(self.graph.upstream[name])
        if failed_upstream is not None:
            self._move(
                name, TaskStatus.UPSTREAM_FAILED, SkipTask(name, failed_upstream)
            )
        elif ready:
            self._move(name, TaskStatus.QUEUED, QueueTask(name))
            newly_queued.append(name)

    def _judge(self, upstreams: tuple[str, ...]) -> tuple[str | None, bool]:
        """(an upstream that failed for good, whether all succeeded).

        Cached per shared upstream tuple within one plan: every member of the
        tuple comes earlier in topological order and so is settled before the
        first task that depends on it is judged.
        """
        key = id(upstreams)
        verdict = self.verdicts.get(key)
        if verdict is None:
            failed, ready = None, True
            for upstream in upstreams:
                status = self.status[upstream]
                if status in UNSUCCESSFUL_TASK_STATUSES:
                    failed = upstream
                    break
                if status is not TaskStatus.SUCCEEDED:
                    ready = False
            verdict = self.verdicts[key] = (failed, ready and failed is None)
        return verdict

    def _check_timeout(self, name: str, state: TaskState) -> None:
        timeout = self.spec_task(name).timeout
        if (
            timeout is not None
            and state.started_at is not None
            and has_passed(state.started_at, timeout, self.now)
        ):
            # The task's status follows once the services record the attempt's end.
            self.actions.append(
                TimeOutTask(name, f"the attempt exceeded its timeout of {timeout:g}s")
            )

    def _start_queued(self, newly_queued: list[str]) -> None:
        limit = self.spec.parallelism
        # A Cancelling task's attempt still runs (a pod in its grace period).
        running = sum(self.counts[status] for status in BUSY_TASK_STATUSES)
        free = None if limit is None else max(0, limit - running)
        if free == 0:
            return
        candidates = dict.fromkeys(self.run.queued)
        candidates.update(dict.fromkeys(newly_queued))
        position = self.graph.position
        ordered = sorted(
            (name for name in candidates if self.status.get(name) is TaskStatus.QUEUED),
            key=lambda name: (-self.spec_task(name).priority, position[name]),
        )
        if free is not None:
            ordered = ordered[:free]
        quota = None if self.run.capacity is None else _Quota(self.run.capacity)
        blocked: str | None = None
        for name in ordered:
            if quota is not None:
                # In order: once a task does not fit, the ones after it wait
                # too, so a big task is not starved by a stream of small ones.
                requests = task_requests(self.spec_task(name))
                why = quota.lacking(requests)
                if why is None and blocked is not None:
                    why = f"waiting for project quota: queued behind {blocked}"
                if why is not None:
                    blocked = blocked or name
                    self.actions.append(WaitForQuota(name, why))
                    continue
                quota.take(requests)
            attempts = self.run.tasks[name].attempts if name in self.run.tasks else 0
            self._move(name, TaskStatus.RUNNING, StartTask(name, attempts + 1))

    def _cancel_all(self, examine: list[str], reason: str) -> Plan:
        for name in examine:
            status = self.status[name]
            if status is TaskStatus.RUNNING:
                # Its attempt is stopped; the task is Cancelled once it ended
                # (the services end it at once if it never reached a backend).
                self._move(name, TaskStatus.CANCELLING, CancelTask(name, reason))
            elif status not in TERMINAL_TASK_STATUSES | {TaskStatus.CANCELLING}:
                self._move(name, TaskStatus.CANCELLED, CancelTask(name, reason))
        self._maybe_finish()
        return Plan(self.actions, rescan=self.run.examine is not None)

    def _has_failure(self) -> bool:
        return bool(self.counts[TaskStatus.FAILED] or self.counts[TaskStatus.ERROR])

    def _maybe_finish(self) -> None:
        unfinished = sum(
            count
            for status, count in self.counts.items()
            if status not in TERMINAL_TASK_STATUSES
        )
        if unfinished:
            return
        if self.run.status is RunStatus.CANCELLING:
            self.actions.append(FinishRun(RunStatus.CANCELLED, "cancelled"))
        elif self.counts[TaskStatus.SUCCEEDED] == len(self.graph):
            self.actions.append(FinishRun(RunStatus.SUCCEEDED))
        elif self._deadline_passed():
            self.actions.append(
                FinishRun(RunStatus.FAILED, "the run exceeded its timeout")
            )
        else:
            unsuccessful = sum(self.counts[s] for s in UNSUCCESSFUL_TASK_STATUSES)
            self.actions.append(
                FinishRun(RunStatus.FAILED, f"{unsuccessful} task(s) did not succeed")
            )

    def _move(self, name: str, target: TaskStatus, action: Action) -> None:
        self.counts[self.status[name]] -= 1
        self.counts[target] += 1
        self.status[name] = target
        self.actions.append(action)

    @property
    def spec(self) -> WorkflowSpec:
        return self.blueprint.spec

    @property
    def graph(self) -> Graph:
        return self.blueprint.graph

    def spec_task(self, name: str) -> TaskSpec:
        return self.blueprint.tasks[name]


def task_requests(task: TaskSpec) -> tuple[Decimal, Decimal]:
    """The task's requested (cpu cores, memory bytes); 0 for one not requested."""
    requests = task.resources.requests
    cpu, memory = requests.get("cpu"), requests.get("memory")
    return (
        Decimal(0) if cpu is None else quantity_value(cpu),
        Decimal(0) if memory is None else quantity_value(memory),
    )


@dataclass(slots=True)
class _Quota:
    """The project's capacity as tasks take it, one task at a time."""

    capacity: Capacity
    tasks: int | None = None
    cpu: Decimal | None = None
    memory: Decimal | None = None

    def __post_init__(self) -> None:
        capacity = self.capacity
        self.tasks, self.cpu, self.memory = (
            capacity.free_tasks,
            capacity.free_cpu,
            capacity.free_memory,
        )

    def lacking(self, requests: tuple[Decimal, Decimal]) -> str | None:
        """Why a task with these requests does not fit; None when it does."""
        cpu, memory = requests
        capacity = self.capacity
        if self.tasks is not None and self.tasks <= 0:
            limit = capacity.max_tasks
            used = "all" if limit is None else f"{limit - self.tasks} of {limit}"
            return f"waiting for project quota: {used} running tasks in use"
        if self.cpu is not None and cpu and cpu > self.cpu:
            return _wanting("CPU", cpu, self.cpu, capacity.max_cpu, _cores)
        if self.memory is not None and memory and memory > self.memory:
            return _wanting("memory", memory, self.memory, capacity.max_memory, _bytes)
        return None

    def take(self, requests: tuple[Decimal, Decimal]) -> None:
        cpu, memory = requests
        if self.tasks is not None:
            self.tasks -= 1
        if self.cpu is not None:
            self.cpu -= cpu
        if self.memory is not None:
            self.memory -= memory


def _wanting(
    what: str,
    wanted: Decimal,
    free: Decimal,
    limit: Decimal | None,
    show: Callable[[Decimal], str],
) -> str:
    room = show(max(free, Decimal(0)))
    of = "" if limit is None else f" of {show(limit)}"
    return f"waiting for project quota: needs {show(wanted)} {what}; {room}{of} free"


def _cores(amount: Decimal) -> str:
    return f"{amount.normalize():f}"


_BINARY_UNITS = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def _bytes(amount: Decimal) -> str:
    for suffix, size in _BINARY_UNITS:
        if amount >= size:
            # Formatted, not quantize()d: a request stored before quantities had
            # a maximum (1e100 bytes) has more digits than quantize allows.
            return f"{amount / size:.1f}".removesuffix(".0") + suffix
    return f"{amount.normalize():f}"
