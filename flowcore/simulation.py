"""Drive runs in memory with the engine, playing the services and a backend.

Pure: shared by the engine's property tests and its benchmark. Actions are
applied the way the services apply them; running attempts end with drawn
outcomes, one at a time. Bookkeeping is incremental so that simulating a
10,000-task run costs what the engine costs, not more. Runs that share a
project's semaphores share a SemaphorePool and are driven by run_together.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from flowcore import engine
from flowcore.concurrency import (
    MUTEX,
    Semaphores,
    SemaphoreState,
    Synchronization,
)
from flowcore.engine import Blueprint, Capacity, RunState, TaskState
from flowcore.fanout import instance_name, split_instance
from flowcore.states import (
    BUSY_TASK_STATUSES,
    TERMINAL_TASK_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    AttemptStatus,
    RunStatus,
    TaskStatus,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_TERMINAL = TERMINAL_TASK_STATUSES
_UNSUCCESSFUL = UNSUCCESSFUL_TASK_STATUSES
_FINISHED_RUN = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


@dataclass
class SemaphorePool:
    """A project's semaphores as the services keep them: who holds each, who
    waits for it (SemaphoreClaim rows); `limits` are the defined semaphores'
    (a mutex needs none). Records any holder beyond a limit."""

    limits: dict[Synchronization, int] = field(default_factory=dict)
    holders: dict[Synchronization, dict[tuple[int, str], None]] = field(
        default_factory=dict
    )
    waiting: dict[Synchronization, dict[tuple[int, str], None]] = field(
        default_factory=dict
    )
    violations: list[str] = field(default_factory=list)

    def limit(self, sync: Synchronization) -> int | None:
        return 1 if sync.kind == MUTEX else self.limits.get(sync)

    def semaphores(self, run: int, syncs: Iterable[Synchronization]) -> Semaphores:
        states = {}
        for sync in syncs:
            holders = self.holders.get(sync, {})
            states[sync] = SemaphoreState(
                limit=self.limits.get(sync),
                held=len(holders),
                holders=tuple(sorted(holder for holder, _ in holders)),
                ahead=sum(1 for w, _ in self.waiting.get(sync, {}) if w < run),
            )
        return Semaphores(run, states)

    def moved(
        self,
        sync: Synchronization,
        key: tuple[int, str],
        old: TaskStatus,
        new: TaskStatus,
    ) -> None:
        """A task of this synchronization moved: it takes its slot as it starts
        and gives it back as its attempt ends; it stops waiting as it leaves
        the queue."""
        if new in BUSY_TASK_STATUSES and old not in BUSY_TASK_STATUSES:
            self.waiting.get(sync, {}).pop(key, None)
            holders = self.holders.setdefault(sync, {})
            holders[key] = None
            limit = self.limit(sync)
            if limit is None or len(holders) > limit:
                self.violations.append(f"{len(holders)} hold {sync} (limit {limit})")
        elif old in BUSY_TASK_STATUSES and new not in BUSY_TASK_STATUSES:
            self.holders.get(sync, {}).pop(key, None)
        elif old is TaskStatus.QUEUED and new is not TaskStatus.QUEUED:
            self.waiting.get(sync, {}).pop(key, None)

    def wait(self, sync: Synchronization, key: tuple[int, str]) -> None:
        self.waiting.setdefault(sync, {})[key] = None

    def held_by(self, run: int) -> list[str]:
        return [
            f"{sync} by {task}"
            for sync, holders in self.holders.items()
            for holder, task in holders
            if holder == run
        ]


@dataclass
class Simulation:
    blueprint: Blueprint
    incremental: bool = False
    now: datetime = T0
    run_status: RunStatus = RunStatus.PENDING
    tasks: dict[str, TaskState] = field(default_factory=dict)
    round_start: dict[str, int] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    changed: dict[str, TaskStatus] | None = None
    counts: Counter[TaskStatus] = field(default_factory=Counter)
    by_status: dict[TaskStatus, dict[str, None]] = field(default_factory=dict)
    # The Queued tasks best first, as (*_order(name), name), kept sorted.
    queue: list[tuple[int, int, int, str]] = field(default_factory=list)
    # {fan-out: its Running instances}, kept as they move.
    instances_running: Counter[str] = field(default_factory=Counter)
    # The project's quota (its max_* fields), when it has one: the simulation
    # plays the only run of the project.
    quota: Capacity | None = None
    # Called around each engine.plan call, for the benchmark's timers.
    on_plan: Callable[[float], None] | None = None
    # The upstream outputs `when` conditions read (Reference.key -> value) and
    # the run's parameters: what the services would load.
    values: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    # The project's semaphores, shared with the project's other runs, and
    # this run's id (older runs' waiters go first).
    pool: SemaphorePool | None = None
    run_id: int = 1

    def __post_init__(self) -> None:
        self.by_status = {status: {} for status in TaskStatus}
        for task in self.blueprint.spec.tasks:
            self._put(task.name, TaskState(TaskStatus.PENDING))
        self.round_start = {name: 1 for name in self.tasks}

    def _put(self, name: str, state: TaskState) -> None:
        old = self.tasks.get(name)
        if old is not None:
            self.counts[old.status] -= 1
            del self.by_status[old.status][name]
            self._count_instance(name, old.status, state.status)
            if old.status is TaskStatus.RUNNING:
                self._count_running(name, -1)
            if old.status is TaskStatus.QUEUED:
                key = (*self._order(name), name)
                del self.queue[bisect.bisect_left(self.queue, key)]
            sync = self.blueprint.spec_of(name).synchronization
            if self.pool is not None and sync is not None:
                self.pool.moved(sync, (self.run_id, name), old.status, state.status)
        self.tasks[name] = state
        self.counts[state.status] += 1
        self.by_status[state.status][name] = None
        if state.status is TaskStatus.QUEUED:
            bisect.insort(self.queue, (*self._order(name), name))
        elif state.status is TaskStatus.RUNNING:
            self._count_running(name, 1)

    def _count_running(self, name: str, change: int) -> None:
        group, index = split_instance(name)
        if index is not None:
            self.instances_running[group] += change

    def _count_instance(self, name: str, old: TaskStatus, new: TaskStatus) -> None:
        """What the services keep on a fan-out's row as its instances end."""
        group, index = split_instance(name)
        if index is None:
            return
        done = (new in _TERMINAL) - (old in _TERMINAL)
        failed = (new in _UNSUCCESSFUL) - (old in _UNSUCCESSFUL)
        if done or failed:
            counters = self.tasks[group]
            self.tasks[group] = replace(
                counters,
                fan_done=counters.fan_done + done,
                fan_failed=counters.fan_failed + failed,
            )

    def _order(self, name: str) -> tuple[int, int, int]:
        group, index = split_instance(name)
        priority = self.blueprint.tasks[group].priority
        position = self.blueprint.graph.position[group]
        return -priority, position, -1 if index is None else index

    def group_running(self) -> dict[str, int]:
        return {
            group: count for group, count in self.instances_running.items() if count
        }

    def queued(self) -> list[str]:
        """What the services pass as RunState.queued: the run's first Queued
        tasks (engine.queue_window), leaving out the instances of a fan-out
        past its free slots (engine.instance_slots)."""
        window = engine.queue_window(self.blueprint.spec)
        slots = engine.instance_slots(
            self.blueprint.limited_fan_outs, self.group_running()
        )
        queued: list[str] = []
        at = 0
        while at < len(self.queue) and len(queued) < window:
            priority, position, index, name = self.queue[at]
            group = split_instance(name)[0] if index >= 0 else name
            if group in slots:
                if slots[group] <= 0:
                    # Its instances are together in the queue: skip them all.
                    at = bisect.bisect_right(self.queue, (priority, position, 1 << 62))
                    continue
                slots[group] -= 1
            queued.append(name)
            at += 1
        return queued

    def view(self) -> RunState:
        counts = +self.counts
        capacity = self.capacity()
        if not self.incremental or self.changed is None:
            # A full plan sees every Queued task: the reference the property
            # tests hold the incremental plans (and their window) to.
            queued = [name for *_, name in self.queue]
            return RunState(
                self.run_status,
                T0,
                dict(self.tasks),
                counts,
                None,
                queued,
                capacity,
                parameters=self.parameters,
                values=self.values,
                forgiven=self.forgiven(),
                group_running=self.group_running(),
                semaphores=self.semaphores(),
            )
        queued = self.queued()
        names = engine.tasks_to_load(self.blueprint.graph, self.changed)
        # As the services do: exit handlers are few and always examined.
        names |= self.blueprint.exit_tasks
        names.update(
            n
            for n in self.by_status[TaskStatus.RETRYING]
            if (retry_at := self.tasks[n].retry_at) is not None and retry_at <= self.now
        )
        needed = self.blueprint.needed(names) | set(queued)
        return RunState(
            self.run_status,
            T0,
            {n: self.tasks[n] for n in needed},
            counts,
            frozenset(names),
            queued,
            capacity,
            parameters=self.parameters,
            values=self.values,
            forgiven=self.forgiven(),
            group_running=self.group_running(),
            semaphores=self.semaphores(),
        )

    def semaphores(self) -> Semaphores | None:
        if self.pool is None or not self.blueprint.locks:
            return None
        return self.pool.semaphores(self.run_id, self.blueprint.locks)

    def forgiven(self) -> int:
        """Failed or Errored tasks whose continueOn forgives it."""
        return sum(
            1
            for name, statuses in self.blueprint.forgiving.items()
            if self.tasks[name].status.value in statuses
        )

    def usage(self) -> tuple[int, Decimal, Decimal]:
        """(running tasks, CPU and memory they request)."""
        running = self.by_status[TaskStatus.RUNNING]
        requests = [engine.task_requests(self.blueprint.spec_of(n)) for n in running]
        return (
            len(running),
            sum((cpu for cpu, _ in requests), Decimal(0)),
            sum((memory for _, memory in requests), Decimal(0)),
        )

    def capacity(self) -> Capacity | None:
        quota = self.quota
        if quota is None:
            return None
        tasks, cpu, memory = self.usage()
        return replace(
            quota,
            free_tasks=None if quota.max_tasks is None else quota.max_tasks - tasks,
            free_cpu=None if quota.max_cpu is None else quota.max_cpu - cpu,
            free_memory=None if quota.max_memory is None else quota.max_memory - memory,
        )

    def _plan(self) -> engine.Plan:
        view = self.view()
        if self.on_plan is None:
            return engine.plan(self.blueprint, view, self.now)
        from time import perf_counter

        started = perf_counter()
        plan = engine.plan(self.blueprint, view, self.now)
        self.on_plan(perf_counter() - started)
        return plan

    def step(self) -> engine.Plan:
        plan = self._plan()
        if plan.rescan:
            self.changed = None
            plan = self._plan()
        self.changed = {}
        for action in plan.actions:
            self.apply(action)
        if plan.unsettled and self.incremental:
            # As the services do: plan again with the settled tasks' downstream.
            self.changed = {name: self.tasks[name].status for name in plan.unsettled}
            return self.step()
        return plan

    def apply(self, action: engine.Action) -> None:
        match action:
            case engine.StartRun():
                self.run_status = RunStatus.RUNNING
            case engine.QueueTask(task=name):
                self.set(name, TaskStatus.QUEUED)
            case engine.StartTask(task=name, attempt=number):
                state = self.tasks[name]
                if state.status is not TaskStatus.QUEUED:
                    self.violations.append(f"{name} started from {state.status}")
                why = self.not_yet(name)
                if why:
                    self.violations.append(f"{name} started although {why}")
                if number != state.attempts + 1:
                    self.violations.append(f"{name} attempt {number} out of order")
                self._put(name, TaskState(TaskStatus.RUNNING, number, self.now))
                self.started.append(name)
                if self.changed is not None:
                    self.changed[name] = TaskStatus.RUNNING
            case engine.ExpandTask(task=name, items=items):
                self._put(
                    name,
                    TaskState(TaskStatus.EXPANDED, fan_out=len(items)),
                )
                if self.changed is not None:
                    self.changed[name] = TaskStatus.EXPANDED
                for index in range(len(items)):
                    instance = instance_name(name, index)
                    self._put(instance, TaskState(TaskStatus.QUEUED))
                    self.round_start[instance] = 1
            case engine.FinishTask(task=name, status=status):
                self.set(name, status)
            case engine.FailUpstream(task=name):
                self.set(name, TaskStatus.UPSTREAM_FAILED)
            case engine.SkipTask(task=name):
                self.set(name, TaskStatus.SKIPPED)
            case engine.CancelTask(task=name):
                self.set(name, TaskStatus.CANCELLED)
            case engine.TimeOutTask(task=name):
                self.finish(name, AttemptStatus.FAILED)
            case engine.WaitForQuota(task=name):
                if self.tasks[name].status is not TaskStatus.QUEUED:
                    self.violations.append(f"{name} waits for quota, not queued")
            case engine.WaitForSemaphore(task=name, synchronization=sync):
                if self.tasks[name].status is not TaskStatus.QUEUED:
                    self.violations.append(f"{name} waits for {sync}, not queued")
                if self.pool is not None:
                    self.pool.wait(sync, (self.run_id, name))
            case engine.FinishRun(status=status):
                self.run_status = status
                held = self.pool.held_by(self.run_id) if self.pool else []
                if held:
                    self.violations.append(f"finished holding {', '.join(held)}")

    def not_yet(self, name: str) -> str:
        """Why `name` may not start now, by the rules of docs/spec.md read
        plainly (an oracle for the engine, written apart from it); "" when
        it may."""
        group, index = split_instance(name)
        if index is not None:
            status = self.tasks[group].status
            return "" if status is TaskStatus.EXPANDED else f"its fan-out is {status}"
        task = self.blueprint.tasks[name]
        upstreams = self.blueprint.graph.upstream[name]
        if task.exit_handler:
            main = [
                n
                for n, state in self.tasks.items()
                if split_instance(n)[0] not in self.blueprint.exit_tasks
                and state.status not in _TERMINAL
            ]
            if main:
                return f"task {main[0]} has not ended (an exit handler waits)"
        done = {
            u: self.tasks[u].status
            for u in upstreams
            if self.tasks[u].status in _TERMINAL
        }
        waiting = [u for u in upstreams if u not in done]

        def failed(u: str) -> bool:
            status = done[u]
            forgiven = status.value in self.blueprint.forgiving.get(u, ())
            return status in _UNSUCCESSFUL and not forgiven

        def ok(u: str) -> bool:
            return done[u] is TaskStatus.SUCCEEDED or (
                done[u] in _UNSUCCESSFUL and not failed(u)
            )

        rule = task.trigger_rule
        if task.depends is not None:
            rule = "allDone"  # and the expression held: checked by its own test
        if rule == "anyFailed":
            return "" if any(failed(u) for u in done) else "no upstream failed yet"
        if rule == "anySucceeded":
            return "" if any(ok(u) for u in done) else "no upstream succeeded yet"
        if waiting:
            return f"{waiting[0]} has not finished"
        if rule == "allSucceeded" and not all(ok(u) for u in upstreams):
            return "an upstream did not succeed"
        if rule == "noneFailed" and any(failed(u) for u in upstreams):
            return "an upstream failed"
        if rule == "allFailed" and not all(failed(u) for u in upstreams):
            return "an upstream did not fail"
        return ""

    def set(self, name: str, status: TaskStatus) -> None:
        self._put(name, replace(self.tasks[name], status=status))
        if self.changed is not None:
            self.changed[name] = status

    def finish(self, name: str, result: AttemptStatus) -> None:
        state = self.tasks[name]
        outcome = engine.after_attempt(
            self.blueprint.spec_of(name),
            state.attempts - self.round_start[name] + 1,
            result,
            self.now,
            retries_allowed=self.run_status is RunStatus.RUNNING,
        )
        self._put(
            name, replace(state, status=outcome.status, retry_at=outcome.retry_at)
        )
        self.changed = {name: outcome.status}

    def _check_quota(self) -> None:
        quota = self.quota
        if quota is None:
            return
        tasks, cpu, memory = self.usage()
        if quota.max_tasks is not None and tasks > quota.max_tasks:
            self.violations.append(f"{tasks} running > quota {quota.max_tasks}")
        if quota.max_cpu is not None and cpu > quota.max_cpu:
            self.violations.append(f"{cpu} CPU > quota {quota.max_cpu}")
        if quota.max_memory is not None and memory > quota.max_memory:
            self.violations.append(f"{memory} memory > quota {quota.max_memory}")

    def running(self) -> list[str]:
        return list(self.by_status[TaskStatus.RUNNING])

    def run_to_end(self, outcomes: list[AttemptStatus], max_steps: int = 10**6) -> None:
        self.changed = None
        self.step()
        draws = iter(outcomes)
        parallelism = self.blueprint.spec.parallelism
        for _ in range(max_steps):
            if self.run_status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
                return
            running = self.by_status[TaskStatus.RUNNING]
            if parallelism is not None and len(running) > parallelism:
                self.violations.append(f"{len(running)} running > {parallelism}")
            for group, count in self.group_running().items():
                limit = self.blueprint.fan_outs[group].parallelism
                if limit is not None and count > limit:
                    self.violations.append(f"{count} instances of {group} > {limit}")
            self._check_quota()
            if running:
                self.finish(next(iter(running)), next(draws, AttemptStatus.SUCCEEDED))
            else:
                waiting = [
                    s.retry_at
                    for n in self.by_status[TaskStatus.RETRYING]
                    if (s := self.tasks[n]).retry_at
                ]
                if not waiting:
                    self.violations.append("stuck: nothing running, run not finished")
                    return
                self.now = max(self.now, min(waiting))
                self.changed = {}
            self.step()
        self.violations.append("did not terminate")


def run_together(
    sims: Sequence[Simulation],
    outcomes: Sequence[AttemptStatus],
    picks: Sequence[int],
    max_steps: int = 10**5,
) -> list[str]:
    """Drive runs that share a SemaphorePool to their ends, as a backend and
    the services would: one running attempt ends at a time (chosen among
    every run's by `picks`), its run plans at once, then every other run with
    queued tasks plans again (the wake-ups that follow a freed slot). Returns
    what went wrong, the runs' own violations included; [] when nothing."""
    problems: list[str] = []
    for sim in sims:
        sim.changed = None
        sim.step()
    draws, chosen = iter(outcomes), iter(picks)
    for _ in range(max_steps):
        live = [sim for sim in sims if sim.run_status not in _FINISHED_RUN]
        if not live:
            break
        running = [(sim, name) for sim in live for name in sim.running()]
        moved: Simulation | None = None
        if running:
            moved, name = running[next(chosen, 0) % len(running)]
            moved.finish(name, next(draws, AttemptStatus.SUCCEEDED))
            moved.step()
        else:
            waits = [
                retry_at
                for sim in live
                for n in sim.by_status[TaskStatus.RETRYING]
                if (retry_at := sim.tasks[n].retry_at) is not None
            ]
            if not waits:
                problems.append("stuck: nothing running, runs not finished")
                break
            for sim in live:
                sim.now = max(sim.now, min(waits))
                sim.changed = {}
                sim.step()
        for sim in live:
            if sim is not moved and sim.by_status[TaskStatus.QUEUED]:
                sim.changed = {} if sim.incremental else None
                sim.step()
    else:
        problems.append("did not terminate")
    for sim in sims:
        problems.extend(f"run {sim.run_id}: {v}" for v in sim.violations)
        if sim.pool is not None and sim.pool.violations:
            problems.extend(sim.pool.violations)
            sim.pool.violations.clear()
    return problems
