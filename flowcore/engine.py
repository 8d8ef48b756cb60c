"""The DAG engine: given a run's task states and the time, decide what happens next.

Pure: no I/O, no clock reads, no Django. The services feed it the states it asks
for (`tasks_to_load`) and apply the actions it returns, so one call costs in
proportion to what changed, not to the size of the DAG.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flowcore.concurrency import Missing, Semaphores, Slots, Synchronization
from flowcore.conditions import (
    Node,
    Unresolved,
    evaluate,
    evaluate_depends,
    parse_condition,
    parse_depends,
    show,
)
from flowcore.dag import Graph
from flowcore.dataflow import DataFlow
from flowcore.fanout import (
    DEFAULT_MAX_ITEMS,
    FanOut,
    ItemsError,
    instance_name,
    items_from_value,
    split_instance,
    static_items,
)
from flowcore.spec import TaskSpec, WorkflowSpec
from flowcore.spec_base import MAX_TIMEOUT, TRIGGER_RULES, quantity_value
from flowcore.states import (
    BUSY_TASK_STATUSES,
    TERMINAL_TASK_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    AttemptStatus,
    RunStatus,
    TaskStatus,
)
from flowcore.templates import TEMPLATE, Reference, parse_reference


@dataclass(frozen=True, slots=True)
class TaskState:
    status: TaskStatus
    attempts: int = 0  # attempts started so far
    started_at: datetime | None = None  # of the live attempt, for its timeout
    retry_at: datetime | None = None  # while Retrying: when the next attempt may start
    # A fan-out task once expanded: its instances, how many are done, and
    # how many of those did not succeed (kept by the services).
    fan_out: int | None = None
    fan_done: int = 0
    fan_failed: int = 0


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
    best first (priority, then topological position, then instance index),
    at least as many as there are free slots (`queue_window`); it may leave
    out the instances of a fan-out past its free slots (`instance_slots`),
    which could not start anyway: a fan-out of 10,000 items, 100 at a time,
    then costs a plan what its next instance costs, not its whole queue.
    """

    status: RunStatus
    started_at: datetime | None
    tasks: Mapping[str, TaskState]
    counts: Mapping[TaskStatus, int]
    examine: frozenset[str] | None = None
    queued: Sequence[str] = ()
    capacity: Capacity | None = None  # None: the project has no quota
    # The run's parameters and the upstream outputs the `when` conditions of
    # the examined tasks read (Reference.key -> value).
    parameters: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)
    # Failed or Errored tasks whose continueOn forgives it: no run failure.
    forgiven: int = 0
    # Running instances of the fan-outs that limit theirs (parallelism).
    group_running: Mapping[str, int] = field(default_factory=dict)
    max_fan_out: int = DEFAULT_MAX_ITEMS
    # The semaphores the queued tasks may take (None: none of them needs one).
    semaphores: Semaphores | None = None


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
class WaitForSemaphore:
    """A Queued task that could start but for its semaphore or mutex."""

    task: str
    synchronization: Synchronization
    reason: str


@dataclass(frozen=True, slots=True)
class FailUpstream:
    """The task will not run because an upstream failed (UpstreamFailed)."""

    task: str
    upstream: str  # the dependency that failed for good


@dataclass(frozen=True, slots=True)
class SkipTask:
    """The task will not run, and that is no failure (Skipped): its condition
    was false, or its trigger rule makes it moot."""

    task: str
    reason: str  # Condition, TriggerRule, Depends, UpstreamSkipped
    message: str


@dataclass(frozen=True, slots=True)
class ExpandTask:
    """A fan-out task's upstreams allow it: one instance per item (its
    instances, `task[0]`..., are Queued, and some start in this plan)."""

    task: str
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class FinishTask:
    """A task ends without an attempt: a fan-out when its instances are done
    (or it had no items), or one whose items could not be read (Error)."""

    task: str
    status: TaskStatus
    reason: str = ""
    message: str = ""


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
    | WaitForSemaphore
    | FailUpstream
    | SkipTask
    | ExpandTask
    | FinishTask
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
    # Tasks this plan settled without running them (Skipped, UpstreamFailed)
    # whose dependants it did not see: plan again with their downstream, as
    # with any change (tasks_to_load).
    unsettled: frozenset[str] = frozenset()


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

    A success may make its children ready (or skip them: a condition, a
    trigger rule; the plan then names them unsettled and the next plan looks
    at their downstream); a final failure or a skip may settle everything
    downstream, so the whole closure is examined in one plan.
    """
    examine = set(changed)
    for changed_name, status in changed.items():
        name, index = split_instance(changed_name)
        if index is not None:
            # An instance: its fan-out may now be done (a plan settles it and
            # asks for its downstream then, see Plan.unsettled).
            examine.add(name)
            continue
        if status in UNSUCCESSFUL_TASK_STATUSES or status is TaskStatus.SKIPPED:
            examine |= graph.downstream_closure([name])
        else:
            examine.update(graph.downstream[name])
    return examine


# Queued tasks a plan is given at most when the run sets no parallelism.
QUEUE_WINDOW = 1000


def queue_window(spec: WorkflowSpec) -> int:
    """How many of the run's Queued tasks (RunState.queued) a plan needs: the
    run's parallelism, which bounds what can start, else QUEUE_WINDOW."""
    return spec.parallelism or QUEUE_WINDOW


def instance_slots(
    limited_fan_outs: Mapping[str, int], group_running: Mapping[str, int]
) -> dict[str, int]:
    """{fan-out: how many more of its instances may start now} for the fan-outs
    that limit theirs; RunState.queued need hold no more of their instances."""
    return {
        group: max(0, limit - group_running.get(group, 0))
        for group, limit in limited_fan_outs.items()
    }


@dataclass(frozen=True, slots=True)
class Blueprint:
    """A spec with its graph and task index, built once per workflow version."""

    spec: WorkflowSpec
    graph: Graph
    tasks: Mapping[str, TaskSpec]
    data: DataFlow
    # Parsed `when` and `depends` of the tasks that have them.
    conditions: Mapping[str, Node]
    depends: Mapping[str, Node]
    # Tasks with the default rule, no condition and no forgiving upstream:
    # judged by their shared upstream tuple (the fast path).
    plain: frozenset[str]
    # Tasks whose failures do not fail the run: {name: forgiven statuses}.
    forgiving: Mapping[str, frozenset[str]]
    fan_outs: Mapping[str, FanOut]
    exit_tasks: frozenset[str]
    # The fan-outs that limit how many of their instances run: {name: limit}.
    limited_fan_outs: Mapping[str, int] = field(default_factory=dict)
    # Where each task stands in the queue: (-priority, position, -1); an
    # instance takes its fan-out's with its index last.
    queue_keys: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    # The semaphores and mutexes the tasks hold (spec.synchronization aside).
    locks: frozenset[Synchronization] = frozenset()

    def spec_of(self, name: str) -> TaskSpec:
        """The spec of a task, or of the fan-out an instance belongs to."""
        return self.tasks[split_instance(name)[0]]

    def needed(self, names: Iterable[str]) -> set[str]:
        """`names` and what deciding them reads: their direct upstreams, and
        each instance's fan-out."""
        tasks = set()
        result = set()
        for name in names:
            group, index = split_instance(name)
            result.add(name)
            tasks.add(group)
            if index is not None:
                result.add(group)
        result |= self.graph.with_upstreams(tasks)
        return result

    @classmethod
    def of(cls, spec: WorkflowSpec) -> Blueprint:
        graph = Graph.build({task.name: task.dependencies for task in spec.tasks})
        tasks = {task.name: task for task in spec.tasks}
        conditions = {t.name: parse_condition(t.when) for t in spec.tasks if t.when}
        depends = {t.name: parse_depends(t.depends) for t in spec.tasks if t.depends}
        forgiving = {t.name: t.continue_on for t in spec.tasks if t.continue_on}
        special = {
            t.name
            for t in spec.tasks
            if t.name in conditions
            or t.name in depends
            or t.trigger_rule != TRIGGER_RULES[0]
            or any(upstream in forgiving for upstream in t.dependencies)
        }
        plain = frozenset(tasks) - special
        fan_outs = {t.name: t.fan_out for t in spec.tasks if t.fan_out is not None}
        limited_fan_outs = {
            name: fan_out.parallelism
            for name, fan_out in fan_outs.items()
            if fan_out.parallelism is not None
        }
        return cls(
            spec,
            graph,
            tasks,
            DataFlow.of(spec),
            conditions,
            depends,
            plain,
            forgiving,
            fan_outs,
            frozenset(t.name for t in spec.tasks if t.exit_handler),
            limited_fan_outs,
            {
                task.name: (-task.priority, graph.position[task.name], -1)
                for task in spec.tasks
            },
            frozenset(t.synchronization for t in spec.tasks if t.synchronization),
        )


class _Ready:
    """The verdict that a task may start (its condition still to be checked)."""


_READY = _Ready()
# None: wait; _READY: start; FailUpstream or SkipTask: settled without running.
_Verdict = _Ready | FailUpstream | SkipTask | None


class _Unjudged:
    """Not in a plan's cache of verdicts yet (None is a verdict: wait)."""


_UNJUDGED = _Unjudged()


# Actions that settle a task without running it (Plan.unsettled).
_SETTLING = (FailUpstream, SkipTask, FinishTask)


def plan(blueprint: Blueprint, run: RunState, now: datetime) -> Plan:
    return _Planner(blueprint, run, now).plan()


@dataclass(slots=True)
class _Planner:
    blueprint: Blueprint
    run: RunState
    now: datetime
    status: dict[str, TaskStatus] = field(default_factory=dict)
    # A defaultdict, not a Counter: building a Counter from the run's counts
    # cost about a microsecond a plan, a tenth of a chain's.
    counts: defaultdict[TaskStatus, int] = field(init=False)
    actions: list[Action] = field(default_factory=list)
    verdicts: dict[int, _Verdict] = field(default_factory=dict)

    def plan(self) -> Plan:
        run = self.run
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            return Plan([])
        self.status = {name: state.status for name, state in run.tasks.items()}
        self.counts = defaultdict(int, run.counts)
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
            elif status is TaskStatus.EXPANDED:
                self._settle_fan_out(name, state)
        failed = self._has_failure()
        rescan = False
        if failed and self.spec.fail_fast:
            rescan = run.examine is not None
            cancelled = []
            for name in examine:
                if name in self.blueprint.exit_tasks:
                    continue  # they run once the tasks are done
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
                    cancelled.append(name)
            self._settle_after_cancel(cancelled)
        unsettled = self._unsettled()
        if failed and self.spec.fail_fast and self.blueprint.exit_tasks:
            self._run_exit_handlers(examine)
        elif not (failed and self.spec.fail_fast) and not unsettled:
            # With tasks unsettled, the follow-up plan (their dependants seen)
            # starts what is queued: in the order a full plan would.
            # A task whose semaphore is gone ends Error there, after the
            # others were judged: its dependants are judged in the next plan.
            unsettled |= self._start_queued(newly_queued)
        self._maybe_finish()
        return Plan(self.actions, rescan=rescan, wake_at=wake_at, unsettled=unsettled)

    def _unsettled(self) -> frozenset[str]:
        examined = self.run.examine
        if examined is None:
            return frozenset()
        downstream = self.graph.downstream
        return frozenset(
            action.task
            for action in self.actions
            if isinstance(action, _SETTLING)
            and not examined.issuperset(downstream[action.task])
        )

    def _examined(self) -> list[str]:
        names: Iterable[str] = (
            self.run.tasks if self.run.examine is None else self.run.examine
        )
        # Topological order lets a skip cascade through the DAG in one pass;
        # a fan-out comes before its instances.
        if not self.blueprint.fan_outs:
            return sorted(names, key=self.graph.position.__getitem__)
        return sorted(names, key=self._order)

    def _order(self, name: str) -> tuple[int, int]:
        position = self.graph.position.get(name)
        if position is not None:  # a task (an instance's name has brackets)
            return position, -1
        group, index = split_instance(name)
        return self.graph.position[group], -1 if index is None else index

    def _deadline_passed(self) -> bool:
        timeout, started = self.spec.timeout, self.run.started_at
        return (
            timeout is not None
            and started is not None
            and has_passed(started, timeout, self.now)
        )

    def _settle_pending(self, name: str, newly_queued: list[str]) -> None:
        blueprint = self.blueprint
        if (
            name in blueprint.exit_tasks
            and not blueprint.graph.upstream[name]
            and self._main_unfinished()
        ):
            return  # an exit handler waits for every task to end
        if name in blueprint.plain:
            verdict = self._judge(blueprint.graph.upstream[name])
        else:
            group, index = split_instance(name)
            if index is not None:
                # An instance (retried): it may start while its fan-out runs.
                if self.status.get(group) is TaskStatus.EXPANDED:
                    self._move(name, TaskStatus.QUEUED, QueueTask(name))
                    newly_queued.append(name)
                return
            verdict = self._decide(name)
        if verdict is None:
            return  # wait
        if isinstance(verdict, FailUpstream | SkipTask):
            status = (
                TaskStatus.UPSTREAM_FAILED
                if isinstance(verdict, FailUpstream)
                else TaskStatus.SKIPPED
            )
            self._move(name, status, replace(verdict, task=name))
            return
        condition = self.blueprint.conditions.get(name)
        if condition is not None:
            skipped = self._condition_false(name, condition)
            if skipped is not None:
                self._move(name, TaskStatus.SKIPPED, skipped)
                return
        fan_out = self.blueprint.fan_outs.get(name)
        if fan_out is not None:
            self._expand(name, fan_out, newly_queued)
            return
        self._move(name, TaskStatus.QUEUED, QueueTask(name))
        newly_queued.append(name)

    def _expand(self, name: str, fan_out: FanOut, newly_queued: list[str]) -> None:
        items = static_items(fan_out)
        if items is None:
            value = self._resolve_text(fan_out.param or "")
            try:
                if value is None:
                    raise ItemsError(f"withParam: {fan_out.param} has no value")
                items = items_from_value(value, self.run.max_fan_out)
            except ItemsError as error:
                self._move(
                    name,
                    TaskStatus.ERROR,
                    FinishTask(name, TaskStatus.ERROR, "BadItems", str(error)),
                )
                return
        if not items:
            self._move(
                name,
                TaskStatus.SUCCEEDED,
                FinishTask(name, TaskStatus.SUCCEEDED, "NoItems", "no items"),
            )
            return
        self._move(name, TaskStatus.EXPANDED, ExpandTask(name, tuple(items)))
        for index in range(len(items)):
            instance = instance_name(name, index)
            self.status[instance] = TaskStatus.QUEUED
            self.counts[TaskStatus.QUEUED] += 1
            newly_queued.append(instance)

    def _settle_after_cancel(self, cancelled: list[str]) -> None:
        """Settle the fan-outs whose last unfinished instances this plan
        cancelled (the services count those only as they apply the plan)."""
        newly_done: Counter[str] = Counter()
        for name in cancelled:
            group, index = split_instance(name)
            if index is not None:
                newly_done[group] += 1
        for group, count in newly_done.items():
            state = self.run.tasks.get(group)
            if state is None or self.status.get(group) is not TaskStatus.EXPANDED:
                continue
            self._settle_fan_out(
                group,
                replace(
                    state,
                    fan_done=state.fan_done + count,
                    fan_failed=state.fan_failed + count,
                ),
            )

    def _settle_fan_out(self, name: str, state: TaskState) -> None:
        """A fan-out whose instances are all done ends: Failed when one did
        not succeed."""
        if state.fan_out is None or state.fan_done < state.fan_out:
            return
        if state.fan_failed:
            message = f"{state.fan_failed} of {state.fan_out} instances did not succeed"
            self._move(
                name,
                TaskStatus.FAILED,
                FinishTask(name, TaskStatus.FAILED, "InstancesFailed", message),
            )
        else:
            message = f"all {state.fan_out} instances succeeded"
            self._move(
                name,
                TaskStatus.SUCCEEDED,
                FinishTask(name, TaskStatus.SUCCEEDED, "", message),
            )

    def _resolve_text(self, text: str) -> str | None:
        """The value of a lone reference (withParam) from what the plan has."""
        match = TEMPLATE.fullmatch(text.strip())
        if match is None:
            return None
        reference = parse_reference(match.group(1))
        if reference.root == "params":
            return self.run.parameters.get(reference.name)
        return self.run.values.get(reference.key)

    def _judge(self, upstreams: tuple[str, ...]) -> _Verdict:
        """The default rule (allSucceeded) over plain upstreams: an upstream
        that failed fails it, one skipped skips it, all succeeded start it.

        Cached per shared upstream tuple within one plan (the verdict names no
        task: _settle_pending fills it in): every member of the tuple comes
        earlier in topological order and so is settled before the first task
        that depends on it is judged.
        """
        key = id(upstreams)
        cached = self.verdicts.get(key, _UNJUDGED)
        if not isinstance(cached, _Unjudged):
            return cached
        verdict: _Verdict = _READY
        skipped: str | None = None
        status_of = self.status
        for upstream in upstreams:
            status = status_of[upstream]
            if status is TaskStatus.SUCCEEDED:
                continue
            if status in UNSUCCESSFUL_TASK_STATUSES:
                verdict = FailUpstream("", upstream)
                break
            if status is TaskStatus.SKIPPED:
                skipped = skipped or upstream
            else:
                verdict = None
        if verdict is _READY and skipped is not None:
            verdict = SkipTask(
                "", "UpstreamSkipped", f"upstream task {skipped} was skipped"
            )
        self.verdicts[key] = verdict
        return verdict

    def _outcome(self, upstream: str) -> str:
        """An upstream as a trigger rule sees it: ok, skipped, failed or
        pending. A failure its continueOn forgives counts as ok."""
        status = self.status[upstream]
        if status is TaskStatus.SUCCEEDED:
            return "ok"
        if status is TaskStatus.SKIPPED:
            return "skipped"
        if status in UNSUCCESSFUL_TASK_STATUSES:
            if status.value in self.blueprint.forgiving.get(upstream, ()):
                return "ok"
            return "failed"
        return "pending"

    def _decide(self, name: str) -> _Verdict:
        """A task with a trigger rule, a depends expression or a forgiving
        upstream: wait (None), start (_READY), or a FailUpstream/SkipTask."""
        # The first upstream of each outcome (ok, skipped, failed, pending).
        first: dict[str, str] = {}
        for upstream in self.graph.upstream[name]:
            first.setdefault(self._outcome(upstream), upstream)
        done = "pending" not in first
        depends = self.blueprint.depends.get(name)
        if depends is not None:
            if not done:
                return None
            if evaluate_depends(depends, self.status.__getitem__):
                return _READY
            text = self.blueprint.tasks[name].depends
            return SkipTask("", "Depends", f"depends {text!r} is false")
        rule = self.blueprint.tasks[name].trigger_rule
        if rule == "allSucceeded":
            if "failed" in first:
                return FailUpstream("", first["failed"])
            if not done:
                return None
            if "skipped" in first:
                return SkipTask(
                    "",
                    "UpstreamSkipped",
                    f"upstream task {first['skipped']} was skipped",
                )
            return _READY
        if rule == "noneFailed":
            if "failed" in first:
                return FailUpstream("", first["failed"])
            return _READY if done else None
        if rule == "allDone":
            return _READY if done else None
        if rule == "anyFailed":
            if "failed" in first:
                return _READY
            if not done:
                return None
            return SkipTask("", "TriggerRule", "anyFailed: no upstream task failed")
        if rule == "anySucceeded":
            if "ok" in first:
                return _READY
            if not done:
                return None
            if "failed" in first:
                return FailUpstream("", first["failed"])
            return SkipTask(
                "", "TriggerRule", "anySucceeded: no upstream task succeeded"
            )
        # allFailed
        survivor = first.get("ok") or first.get("skipped")
        if survivor is not None:
            return SkipTask(
                "", "TriggerRule", f"allFailed: upstream task {survivor} did not fail"
            )
        return _READY if done else None

    def _condition_false(self, name: str, condition: Node) -> SkipTask | None:
        """A Skip when the task's `when` is false (or reads a value that is
        not there); None when it is true."""
        text = self.blueprint.tasks[name].when or ""

        def resolve(reference: Reference) -> str | None:
            if reference.root == "params":
                return self.run.parameters.get(reference.name)
            return self.run.values.get(reference.key)

        try:
            if evaluate(condition, resolve):
                return None
        except Unresolved as missing:
            return SkipTask(name, "ConditionUnresolved", f"when {text!r}: {missing}")
        shown = show(condition, resolve)
        return SkipTask(name, "Condition", f"when {text!r} is false ({shown})")

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

    def _start_queued(self, newly_queued: list[str]) -> frozenset[str]:
        """Start what the queue's order, the parallelism, the semaphores and
        the quota allow; returns the tasks ended because their semaphore no
        longer exists."""
        limit = self.spec.parallelism
        # A Cancelling task's attempt still runs (a pod in its grace period).
        running = sum(self.counts[status] for status in BUSY_TASK_STATUSES)
        free = None if limit is None else max(0, limit - running)
        if free == 0:
            return frozenset()
        quota = None if self.run.capacity is None else _Quota(self.run.capacity)
        slots = Slots(self.run.semaphores) if self.blueprint.locks else None
        blocked: str | None = None
        gone: set[str] = set()
        for name in self._startable(newly_queued, free):
            lock = None if slots is None else self.spec_task(name).synchronization
            if slots is not None and lock is not None:
                # Before the quota: a task waiting for its semaphore does not
                # hold back the tasks behind it that need another or none.
                lacking = slots.lacking(lock)
                if isinstance(lacking, Missing):
                    action = FinishTask(
                        name, TaskStatus.ERROR, lacking.reason, lacking.message
                    )
                    self._move(name, TaskStatus.ERROR, action)
                    gone.add(name)
                    continue
                if lacking is not None:
                    self.actions.append(WaitForSemaphore(name, lock, lacking.message))
                    continue
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
            if slots is not None and lock is not None:
                slots.take(lock)
            attempts = self.run.tasks[name].attempts if name in self.run.tasks else 0
            self._move(name, TaskStatus.RUNNING, StartTask(name, attempts + 1))
        return frozenset(gone)

    def _startable(self, newly_queued: list[str], free: int | None) -> list[str]:
        """The first `free` (None: all) Queued tasks, best first, without the
        instances past their fan-out's parallelism.

        `run.queued` comes best first already: only the tasks queued in this
        plan are sorted, and the two are merged lazily, so a plan reads as
        far into a long queue (a wide fan-out's instances) as it starts
        tasks, not to its end."""
        key = self._queue_key
        queued = self.run.queued
        merged: Iterable[str]
        if len(newly_queued) > 1:
            newly_queued = sorted(newly_queued, key=key)
        if not queued:
            merged = newly_queued
        elif not newly_queued:
            merged = queued
        else:
            merged = heapq.merge(queued, newly_queued, key=key)
        limited = self.blueprint.limited_fan_outs
        running = dict(self.run.group_running) if limited else {}
        seen: set[str] = set()
        chosen: list[str] = []
        for name in merged:
            if free is not None and len(chosen) >= free:
                break
            if name in seen or self.status.get(name) is not TaskStatus.QUEUED:
                continue
            seen.add(name)
            if limited:
                group, index = split_instance(name)
                cap = limited.get(group) if index is not None else None
                if cap is not None:
                    if running.get(group, 0) >= cap:
                        continue
                    running[group] = running.get(group, 0) + 1
            chosen.append(name)
        return chosen

    def _queue_key(self, name: str) -> tuple[int, int, int]:
        key = self.blueprint.queue_keys.get(name)
        if key is not None:  # a task
            return key
        group, index = split_instance(name)
        priority, position, _ = self.blueprint.queue_keys[group]
        return priority, position, -1 if index is None else index

    def _cancel_all(self, examine: list[str], reason: str) -> Plan:
        exits = self.blueprint.exit_tasks
        for name in examine:
            if name in exits:
                continue  # exit handlers run whatever ended the run
            status = self.status[name]
            if status is TaskStatus.RUNNING:
                # Its attempt is stopped; the task is Cancelled once it ended
                # (the services end it at once if it never reached a backend).
                self._move(name, TaskStatus.CANCELLING, CancelTask(name, reason))
            elif status not in TERMINAL_TASK_STATUSES | {TaskStatus.CANCELLING}:
                self._move(name, TaskStatus.CANCELLED, CancelTask(name, reason))
        if exits:
            self._run_exit_handlers(examine)
        self._maybe_finish()
        return Plan(self.actions, rescan=self.run.examine is not None)

    def _run_exit_handlers(self, examine: list[str]) -> None:
        """Exit handlers of a cancelled (or timed out) run still run."""
        queued: list[str] = []
        for name in examine:
            if name in self.blueprint.exit_tasks:
                if self.status[name] is TaskStatus.PENDING:
                    self._settle_pending(name, queued)
                elif self.status[name] is TaskStatus.QUEUED:
                    queued.append(name)
        self._start_queued(queued)

    def _main_unfinished(self) -> int:
        """Tasks other than exit handlers that have not ended."""
        unfinished = sum(
            count
            for status, count in self.counts.items()
            if status not in TERMINAL_TASK_STATUSES
        )
        return unfinished - sum(
            1
            for name in self.blueprint.exit_tasks
            if self.status.get(name, TaskStatus.PENDING) not in TERMINAL_TASK_STATUSES
        )

    def _exit_unsuccessful(self) -> int:
        return sum(
            1
            for name in self.blueprint.exit_tasks
            if self.status.get(name) in UNSUCCESSFUL_TASK_STATUSES
        )

    def _has_failure(self) -> bool:
        failures = self.counts[TaskStatus.FAILED] + self.counts[TaskStatus.ERROR]
        return failures > self.run.forgiven

    def _maybe_finish(self) -> None:
        unfinished = sum(
            count
            for status, count in self.counts.items()
            if status not in TERMINAL_TASK_STATUSES
        )
        if unfinished:
            return
        # An exit handler's failure is recorded, not the run's (as Argo's).
        unsuccessful = sum(self.counts[s] for s in UNSUCCESSFUL_TASK_STATUSES)
        unsuccessful -= self.run.forgiven + self._exit_unsuccessful()
        if self.run.status is RunStatus.CANCELLING:
            self.actions.append(FinishRun(RunStatus.CANCELLED, "cancelled"))
        elif unsuccessful <= 0:
            self.actions.append(FinishRun(RunStatus.SUCCEEDED))
        elif self._deadline_passed():
            self.actions.append(
                FinishRun(RunStatus.FAILED, "the run exceeded its timeout")
            )
        else:
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
        return self.blueprint.spec_of(name)


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
