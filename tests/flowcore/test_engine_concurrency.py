"""Semaphores and mutexes in the engine: table tests of what a plan starts and
what waits (and why), and properties over random runs sharing a project's
semaphores: holders never exceed a limit, every run ends, and incremental
plans decide exactly as full ones."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcore import engine
from flowcore.concurrency import Semaphores, SemaphoreState, Synchronization
from flowcore.engine import Blueprint, Capacity, RunState, TaskState
from flowcore.fanout import FanOut
from flowcore.simulation import T0, SemaphorePool, Simulation, run_together
from flowcore.spec import Resources, WorkflowSpec
from flowcore.states import (
    TERMINAL_TASK_STATUSES,
    AttemptStatus,
    RunStatus,
    TaskStatus,
)
from tests.flowcore.test_engine import make_spec, random_runs

WAREHOUSE = Synchronization("semaphore", "warehouse")
LANE = Synchronization("mutex", "lane")


def _locking(spec: WorkflowSpec, locks: dict[str, Synchronization]) -> Blueprint:
    tasks = tuple(
        replace(task, synchronization=locks.get(task.name)) for task in spec.tasks
    )
    return Blueprint.of(replace(spec, tasks=tasks))


def _queued(
    blueprint: Blueprint,
    states: dict[Synchronization, SemaphoreState],
    *,
    capacity: Capacity | None = None,
) -> engine.Plan:
    names = [task.name for task in blueprint.spec.tasks]
    state = RunState(
        RunStatus.RUNNING,
        T0,
        {name: TaskState(TaskStatus.QUEUED) for name in names},
        {TaskStatus.QUEUED: len(names)},
        queued=names,
        capacity=capacity,
        semaphores=Semaphores(57, states),
    )
    return engine.plan(blueprint, state, T0)


def _started(plan: engine.Plan) -> list[str]:
    return [a.task for a in plan.actions if isinstance(a, engine.StartTask)]


def test_a_full_semaphore_holds_its_tasks_back_and_lets_the_others_start() -> None:
    blueprint = _locking(
        make_spec({"a": [], "b": [], "c": []}), {"a": WAREHOUSE, "b": WAREHOUSE}
    )
    full = SemaphoreState(limit=2, held=2, holders=(41, 43))
    plan = _queued(blueprint, {WAREHOUSE: full})
    message = "waiting for semaphore warehouse (2 of 2 held by run 41, run 43)"
    assert plan.actions == [
        engine.WaitForSemaphore("a", WAREHOUSE, message),
        engine.WaitForSemaphore("b", WAREHOUSE, message),
        engine.StartTask("c", 1),
    ]


def test_the_free_slots_go_in_queue_order_and_the_rest_say_who_took_them() -> None:
    blueprint = _locking(
        make_spec({"a": [], "b": [], "c": []}, priorities={"c": 5}),
        {"a": LANE, "b": LANE, "c": LANE},
    )
    plan = _queued(blueprint, {LANE: SemaphoreState(limit=None)})
    assert plan.actions == [
        engine.StartTask("c", 1),
        engine.WaitForSemaphore("a", LANE, "waiting for mutex lane (held by run 57)"),
        engine.WaitForSemaphore("b", LANE, "waiting for mutex lane (held by run 57)"),
    ]


def test_an_older_run_waiting_goes_first_even_with_a_slot_free() -> None:
    blueprint = _locking(make_spec({"a": []}), {"a": WAREHOUSE})
    state = SemaphoreState(limit=2, held=1, holders=(41,), ahead=1)
    plan = _queued(blueprint, {WAREHOUSE: state})
    assert plan.actions == [
        engine.WaitForSemaphore(
            "a",
            WAREHOUSE,
            "waiting for semaphore warehouse (1 of 2 held by run 41; 1 waiter of "
            "an older run goes first)",
        )
    ]


def test_a_task_waiting_for_its_semaphore_does_not_hold_back_the_quota_line() -> None:
    blueprint = _locking(make_spec({"a": [], "b": []}), {"a": LANE})
    capacity = Capacity(free_tasks=1, max_tasks=4)
    plan = _queued(blueprint, {LANE: SemaphoreState(None, 1, (9,))}, capacity=capacity)
    assert _started(plan) == ["b"]


def test_a_task_that_fits_its_semaphore_but_not_the_quota_takes_no_slot() -> None:
    blueprint = _locking(make_spec({"a": [], "b": []}), {"a": LANE, "b": LANE})
    capacity = Capacity(free_tasks=0, max_tasks=4)
    plan = _queued(blueprint, {LANE: SemaphoreState(limit=None)}, capacity=capacity)
    reasons = [type(action).__name__ for action in plan.actions]
    # a waits for the quota without taking the mutex: b, next, could have it.
    assert reasons == ["WaitForQuota", "WaitForQuota"]


def test_a_deleted_semaphore_ends_its_task_as_an_error_and_its_dependants_follow() -> (
    None
):
    blueprint = _locking(
        make_spec({"load": [], "report": ["load"]}), {"load": WAREHOUSE}
    )
    state = RunState(
        RunStatus.RUNNING,
        T0,
        {
            "load": TaskState(TaskStatus.QUEUED),
            "report": TaskState(TaskStatus.PENDING),
        },
        {TaskStatus.QUEUED: 1, TaskStatus.PENDING: 1},
        queued=["load"],
        semaphores=Semaphores(57, {WAREHOUSE: SemaphoreState(limit=None)}),
    )
    plan = engine.plan(blueprint, state, T0)
    [action] = plan.actions
    assert isinstance(action, engine.FinishTask)
    assert (action.task, action.status, action.reason) == (
        "load",
        TaskStatus.ERROR,
        "SemaphoreMissing",
    )
    assert action.message.startswith("semaphore warehouse is not defined")
    # Its dependants were judged before it ended: the next plan judges them.
    assert plan.unsettled == frozenset({"load"})
    follow_up = replace(
        state,
        tasks={**state.tasks, "load": TaskState(TaskStatus.ERROR)},
        counts={TaskStatus.ERROR: 1, TaskStatus.PENDING: 1},
        examine=frozenset({"load", "report"}),
        queued=[],
    )
    actions = engine.plan(blueprint, follow_up, T0).actions
    assert engine.FailUpstream("report", "load") in actions
    assert engine.FinishRun(RunStatus.FAILED, "2 task(s) did not succeed") in actions


def test_each_instance_of_a_fan_out_holds_a_slot() -> None:
    spec = make_spec({"fan": []})
    fan = replace(
        spec.tasks[0], fan_out=FanOut(items=(1, 2, 3)), synchronization=WAREHOUSE
    )
    blueprint = Blueprint.of(replace(spec, tasks=(fan,)))
    state = RunState(
        RunStatus.RUNNING,
        T0,
        {"fan": TaskState(TaskStatus.PENDING)},
        {TaskStatus.PENDING: 1},
        semaphores=Semaphores(57, {WAREHOUSE: SemaphoreState(limit=2)}),
    )
    plan = engine.plan(blueprint, state, T0)
    assert _started(plan) == ["fan[0]", "fan[1]"]
    assert [a.task for a in plan.actions if isinstance(a, engine.WaitForSemaphore)] == [
        "fan[2]"
    ]


def test_a_spec_without_semaphores_never_looks_at_them() -> None:
    blueprint = Blueprint.of(make_spec({"a": []}))
    assert blueprint.locks == frozenset()
    plan = _queued(blueprint, {})
    assert _started(plan) == ["a"]


# --- properties: runs of several workflows sharing a project's semaphores ------


LIMITS = {WAREHOUSE: 1, Synchronization("semaphore", "pool"): 2}
SYNCS = [WAREHOUSE, Synchronization("semaphore", "pool"), LANE]


@st.composite
def shared_runs(
    draw: st.DrawFn,
) -> tuple[list[Blueprint], list[AttemptStatus], list[int], dict[Synchronization, int]]:
    blueprints = []
    for _ in range(draw(st.integers(2, 3))):
        spec, _ = draw(random_runs())
        locks = {
            task.name: lock
            for task in spec.tasks
            if (lock := draw(st.one_of(st.none(), st.sampled_from(SYNCS))))
        }
        blueprints.append(_locking(spec, locks))
    outcomes = draw(
        st.lists(
            st.sampled_from([AttemptStatus.SUCCEEDED] * 3 + [AttemptStatus.FAILED]),
            max_size=80,
        )
    )
    picks = draw(st.lists(st.integers(0, 20), max_size=80))
    limits = {
        sync: draw(st.integers(1, 3)) if sync.name == "pool" else limit
        for sync, limit in LIMITS.items()
    }
    return blueprints, outcomes, picks, limits


def _together(
    blueprints: list[Blueprint],
    outcomes: list[AttemptStatus],
    picks: list[int],
    limits: dict[Synchronization, int],
    *,
    incremental: bool,
) -> tuple[list[Simulation], list[str]]:
    pool = SemaphorePool(limits=dict(limits))
    sims = [
        Simulation(blueprint, incremental=incremental, pool=pool, run_id=40 + i)
        for i, blueprint in enumerate(blueprints)
    ]
    return sims, run_together(sims, outcomes, picks)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_runs())
def test_holders_never_exceed_a_limit_and_every_run_ends(case) -> None:
    blueprints, outcomes, picks, limits = case
    sims, problems = _together(blueprints, outcomes, picks, limits, incremental=True)
    assert problems == []
    for sim in sims:
        assert sim.run_status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
        assert all(s.status in TERMINAL_TASK_STATUSES for s in sim.tasks.values())
    assert sims[0].pool is not None
    assert all(not holders for holders in sims[0].pool.holders.values())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_runs())
def test_incremental_plans_share_semaphores_exactly_as_full_plans(case) -> None:
    blueprints, outcomes, picks, limits = case
    full, problems = _together(blueprints, outcomes, picks, limits, incremental=False)
    assert problems == []
    partial, problems = _together(blueprints, outcomes, picks, limits, incremental=True)
    assert problems == []
    for one, other in zip(full, partial, strict=True):
        assert other.started == one.started
        assert other.tasks == one.tasks
        assert other.run_status is one.run_status


def test_a_run_cannot_take_back_the_slot_it_freed_while_an_older_run_waits() -> None:
    """Run 41 loads ten times through a mutex; run 40, older, needs it once. As
    soon as 41's first load ends, 40's goes next, not 41's second."""
    pool = SemaphorePool()
    many = _locking(
        make_spec({f"l{i}": [] for i in range(10)}, parallelism=1),
        {f"l{i}": LANE for i in range(10)},
    )
    once = _locking(make_spec({"load": []}), {"load": LANE})
    younger = Simulation(many, pool=pool, run_id=41)
    older = Simulation(once, pool=pool, run_id=40)
    younger.changed = None
    younger.step()
    older.changed = None
    older.step()
    assert younger.running() == ["l0"] and older.tasks["load"].status is (
        TaskStatus.QUEUED
    )
    younger.finish("l0", AttemptStatus.SUCCEEDED)
    younger.step()
    assert younger.running() == []
    older.changed = None
    older.step()
    assert older.running() == ["load"]


def test_quota_and_semaphores_together_keep_both_limits() -> None:
    spec = make_spec(
        {f"t{i}": [] for i in range(6)},
        requests={f"t{i}": {"cpu": "1"} for i in range(6)},
    )
    tasks = tuple(
        replace(task, resources=Resources(requests={"cpu": "1"})) for task in spec.tasks
    )
    blueprint = _locking(
        replace(spec, tasks=tasks), {f"t{i}": WAREHOUSE for i in range(0, 6, 2)}
    )
    pool = SemaphorePool(limits={WAREHOUSE: 1})
    sim = Simulation(
        blueprint,
        pool=pool,
        quota=Capacity(max_cpu=Decimal(2)),
    )
    assert run_together([sim], [], []) == []
    assert sim.run_status is RunStatus.SUCCEEDED
