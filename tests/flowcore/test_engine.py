"""The pure DAG engine: table tests, and properties over random DAGs and failures.

A small simulator here plays the services' part (apply each action to the task
states) and the backend's (end running attempts with drawn outcomes).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcore import engine
from flowcore.engine import Blueprint, Capacity, RunState, TaskState
from flowcore.fanout import FanOut
from flowcore.simulation import T0, Simulation
from flowcore.spec import Backoff, Resources, RetryPolicy, TaskSpec, WorkflowSpec
from flowcore.spec_base import MAX_BACKOFF_FACTOR, MAX_RETRY_DELAY, MAX_RETRY_LIMIT
from flowcore.states import (
    TERMINAL_TASK_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    AttemptStatus,
    RunStatus,
    TaskStatus,
)


def make_spec(
    deps: dict[str, list[str]],
    *,
    parallelism: int | None = None,
    fail_fast: bool = False,
    retries: dict[str, int] | None = None,
    priorities: dict[str, int] | None = None,
    timeout: float | None = None,
    requests: dict[str, dict[str, str]] | None = None,
) -> WorkflowSpec:
    retries = retries or {}
    priorities = priorities or {}
    requests = requests or {}
    return WorkflowSpec(
        name="wf",
        tasks=tuple(
            TaskSpec(
                name=name,
                image="img",
                dependencies=tuple(upstream),
                retry=RetryPolicy(
                    limit=retries.get(name, 0), backoff=Backoff(delay=1, factor=2)
                ),
                priority=priorities.get(name, 0),
                timeout=timeout,
                resources=Resources(requests=requests.get(name, {})),
            )
            for name, upstream in deps.items()
        ),
        parallelism=parallelism,
        fail_fast=fail_fast,
    )


# --- table tests -----------------------------------------------------------------


def test_a_chain_starts_one_task_at_a_time_in_order() -> None:
    sim = Simulation(Blueprint.of(make_spec({"a": [], "b": ["a"], "c": ["b"]})))
    sim.run_to_end([])
    assert sim.started == ["a", "b", "c"]
    assert sim.run_status is RunStatus.SUCCEEDED


def test_parallelism_caps_running_tasks_and_priority_picks_first() -> None:
    deps = {"root": [], "low": ["root"], "high": ["root"], "mid": ["root"]}
    spec = make_spec(deps, parallelism=1, priorities={"high": 10, "mid": 5})
    sim = Simulation(Blueprint.of(spec))
    sim.run_to_end([])
    assert sim.started == ["root", "high", "mid", "low"]
    assert not sim.violations


def test_a_final_failure_skips_the_whole_downstream_closure() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": ["c"], "e": []}
    sim = Simulation(Blueprint.of(make_spec(deps)))
    sim.run_to_end([AttemptStatus.FAILED])
    statuses = {n: s.status for n, s in sim.tasks.items()}
    assert statuses == {
        "a": TaskStatus.FAILED,
        "b": TaskStatus.UPSTREAM_FAILED,
        "c": TaskStatus.UPSTREAM_FAILED,
        "d": TaskStatus.UPSTREAM_FAILED,
        "e": TaskStatus.SUCCEEDED,
    }
    assert sim.run_status is RunStatus.FAILED


def test_fail_fast_cancels_what_has_not_started() -> None:
    deps = {"a": [], "b": [], "c": ["b"]}
    sim = Simulation(Blueprint.of(make_spec(deps, parallelism=1, fail_fast=True)))
    sim.run_to_end([AttemptStatus.FAILED])
    assert sim.tasks["a"].status is TaskStatus.FAILED
    assert sim.tasks["b"].status is TaskStatus.CANCELLED
    assert sim.run_status is RunStatus.FAILED


@pytest.mark.parametrize(
    ("attempt", "expected_delay"), [(1, 10.0), (2, 20.0), (3, 40.0), (6, 300.0)]
)
def test_backoff_grows_exponentially_up_to_its_cap(
    attempt: int, expected_delay: float
) -> None:
    task = TaskSpec(
        name="x",
        retry=RetryPolicy(limit=10, backoff=Backoff(10, 2, 300)),
    )
    outcome = engine.after_attempt(task, attempt, AttemptStatus.FAILED, T0)
    assert outcome.status is TaskStatus.RETRYING
    assert outcome.retry_at == T0 + timedelta(seconds=expected_delay)


def test_retry_on_error_only_does_not_retry_a_program_failure() -> None:
    task = TaskSpec(name="x", retry=RetryPolicy(limit=3, on=frozenset({"Error"})))
    failed = engine.after_attempt(task, 1, AttemptStatus.FAILED, T0)
    errored = engine.after_attempt(task, 1, AttemptStatus.ERROR, T0)
    assert failed.status is TaskStatus.FAILED
    assert errored.status is TaskStatus.RETRYING


def test_a_running_task_past_its_timeout_is_timed_out() -> None:
    blueprint = Blueprint.of(make_spec({"a": []}, timeout=60))
    state = RunState(
        RunStatus.RUNNING,
        T0,
        {"a": TaskState(TaskStatus.RUNNING, 1, T0)},
        {TaskStatus.RUNNING: 1},
    )
    assert engine.plan(blueprint, state, T0 + timedelta(seconds=59)).actions == []
    plan = engine.plan(blueprint, state, T0 + timedelta(seconds=60))
    assert [type(a) for a in plan.actions] == [engine.TimeOutTask]


def test_a_cancelling_run_cancels_every_unfinished_task_and_ends_cancelled() -> None:
    blueprint = Blueprint.of(make_spec({"a": [], "b": ["a"]}))
    state = RunState(
        RunStatus.CANCELLING,
        T0,
        {"a": TaskState(TaskStatus.RUNNING, 1, T0), "b": TaskState(TaskStatus.PENDING)},
        {TaskStatus.RUNNING: 1, TaskStatus.PENDING: 1},
    )
    plan = engine.plan(blueprint, state, T0)
    assert plan.actions == [
        engine.CancelTask("a", "the run was cancelled"),
        engine.CancelTask("b", "the run was cancelled"),
    ]
    # a's attempt is being stopped (Cancelling): the run ends once it has.
    stopped = RunState(
        RunStatus.CANCELLING,
        T0,
        {
            "a": TaskState(TaskStatus.CANCELLED, 1, T0),
            "b": TaskState(TaskStatus.CANCELLED),
        },
        {TaskStatus.CANCELLED: 2},
    )
    plan = engine.plan(blueprint, stopped, T0)
    assert plan.actions == [engine.FinishRun(RunStatus.CANCELLED, "cancelled")]


def test_a_cancelling_task_is_not_cancelled_again_and_keeps_the_run_open() -> None:
    blueprint = Blueprint.of(make_spec({"a": []}))
    state = RunState(
        RunStatus.CANCELLING,
        T0,
        {"a": TaskState(TaskStatus.CANCELLING, 1, T0)},
        {TaskStatus.CANCELLING: 1},
    )
    assert engine.plan(blueprint, state, T0).actions == []


def test_a_cancelling_task_still_holds_its_slot() -> None:
    blueprint = Blueprint.of(make_spec({"a": [], "b": []}, parallelism=1))
    state = RunState(
        RunStatus.RUNNING,
        T0,
        {
            "a": TaskState(TaskStatus.CANCELLING, 1, T0),
            "b": TaskState(TaskStatus.QUEUED),
        },
        {TaskStatus.CANCELLING: 1, TaskStatus.QUEUED: 1},
        queued=["b"],
    )
    assert engine.plan(blueprint, state, T0).actions == []


def _queued_run(
    capacity: Capacity, requests: dict[str, dict[str, str]] | None = None
) -> tuple[Blueprint, RunState]:
    blueprint = Blueprint.of(make_spec({"a": [], "b": [], "c": []}, requests=requests))
    state = RunState(
        RunStatus.RUNNING,
        T0,
        {name: TaskState(TaskStatus.QUEUED) for name in "abc"},
        {TaskStatus.QUEUED: 3},
        queued=["a", "b", "c"],
        capacity=capacity,
    )
    return blueprint, state


def test_a_task_quota_starts_only_the_free_slots_and_says_why_the_rest_wait() -> None:
    blueprint, state = _queued_run(Capacity(free_tasks=1, max_tasks=8))
    plan = engine.plan(blueprint, state, T0)
    assert plan.actions == [
        engine.StartTask("a", 1),
        engine.WaitForQuota(
            "b", "waiting for project quota: 8 of 8 running tasks in use"
        ),
        engine.WaitForQuota(
            "c", "waiting for project quota: 8 of 8 running tasks in use"
        ),
    ]


@pytest.mark.parametrize(
    ("capacity", "requests", "message"),
    [
        (
            Capacity(free_cpu=Decimal("0.5"), max_cpu=Decimal(4)),
            {"a": {"cpu": "2"}},
            "waiting for project quota: needs 2 CPU; 0.5 of 4 free",
        ),
        (
            Capacity(free_cpu=Decimal("0.25"), max_cpu=Decimal(1)),
            {"a": {"cpu": "500m"}},
            "waiting for project quota: needs 0.5 CPU; 0.25 of 1 free",
        ),
        (
            Capacity(free_memory=Decimal(2**30), max_memory=Decimal(8 * 2**30)),
            {"a": {"memory": "4Gi"}},
            "waiting for project quota: needs 4Gi memory; 1Gi of 8Gi free",
        ),
        (
            Capacity(free_memory=Decimal(-5), max_memory=Decimal(512 * 2**20)),
            {"a": {"memory": "1536Mi"}},
            "waiting for project quota: needs 1.5Gi memory; 0 of 512Mi free",
        ),
    ],
)
def test_a_task_too_big_for_what_is_left_waits_with_the_numbers(
    capacity: Capacity, requests: dict[str, dict[str, str]], message: str
) -> None:
    blueprint, state = _queued_run(capacity, requests)
    plan = engine.plan(blueprint, state, T0)
    assert plan.actions == [
        engine.WaitForQuota("a", message),
        engine.WaitForQuota("b", "waiting for project quota: queued behind a"),
        engine.WaitForQuota("c", "waiting for project quota: queued behind a"),
    ]


def test_tasks_without_requests_count_nothing_against_cpu_and_memory() -> None:
    capacity = Capacity(free_cpu=Decimal(0), free_memory=Decimal(0))
    blueprint, state = _queued_run(capacity)
    plan = engine.plan(blueprint, state, T0)
    assert [type(a) for a in plan.actions] == [engine.StartTask] * 3


def test_small_tasks_start_while_they_fit_then_the_rest_wait() -> None:
    requests = {name: {"cpu": "1"} for name in "abc"}
    blueprint, state = _queued_run(
        Capacity(free_cpu=Decimal(2), max_cpu=Decimal(2)), requests
    )
    plan = engine.plan(blueprint, state, T0)
    assert plan.actions == [
        engine.StartTask("a", 1),
        engine.StartTask("b", 1),
        engine.WaitForQuota("c", "waiting for project quota: needs 1 CPU; 0 of 2 free"),
    ]


# --- values saved before the spec bounded them -------------------------------------
#
# Versions stored before durations, factors and quantities had a maximum are
# still read (blueprints parse them with strict=False). Whatever they hold, a
# plan must not raise: a sweep that raises on a run raises on it for ever.

YEAR = timedelta(days=365)
LONGEST = st.floats(min_value=1e-3, max_value=1e308)


@pytest.mark.parametrize(
    "backoff",
    [
        Backoff(delay=10, factor=1e308, max_delay=1e30),
        Backoff(delay=99999999999 * 86400, factor=2, max_delay=1e30),
        Backoff(delay=10, factor=10**30, max_delay=float(10**30)),
    ],
)
def test_a_stored_backoff_beyond_the_ranges_waits_at_most_a_year(
    backoff: Backoff,
) -> None:
    task = TaskSpec(name="x", retry=RetryPolicy(limit=50, backoff=backoff))
    outcome = engine.after_attempt(task, 49, AttemptStatus.FAILED, T0)
    assert outcome.status is TaskStatus.RETRYING
    assert outcome.retry_at == T0 + YEAR


def _running_for(timeout: float, *, run_timeout: bool) -> tuple[Blueprint, RunState]:
    spec = make_spec({"a": []}, timeout=None if run_timeout else timeout)
    if run_timeout:
        spec = replace(spec, timeout=timeout)
    state = RunState(
        RunStatus.RUNNING,
        T0,
        {"a": TaskState(TaskStatus.RUNNING, 1, T0)},
        {TaskStatus.RUNNING: 1},
    )
    return Blueprint.of(spec), state


@pytest.mark.parametrize("run_timeout", [True, False])
@pytest.mark.parametrize("timeout", [1e30, 1e308, 10.0**17])
def test_a_stored_timeout_beyond_any_date_never_fires_and_never_raises(
    timeout: float, run_timeout: bool
) -> None:
    # spec.timeout: 10**30 used to raise OverflowError on every sweep.
    blueprint, state = _running_for(timeout, run_timeout=run_timeout)
    for now in (T0, T0 + 100 * YEAR, datetime.max.replace(tzinfo=UTC)):
        assert engine.plan(blueprint, state, now).actions == []


@settings(max_examples=300, deadline=None)
@given(
    delay=LONGEST,
    factor=st.floats(min_value=1, max_value=1e308),
    max_delay=LONGEST,
    retry=st.integers(1, 1000),
)
def test_a_backoff_wait_is_finite_capped_and_grows_whatever_the_numbers(
    delay: float, factor: float, max_delay: float, retry: int
) -> None:
    backoff = Backoff(delay, factor, max_delay)
    wait = backoff.delay_before(retry)
    assert math.isfinite(wait)
    assert min(delay, max_delay) <= wait <= max_delay
    assert wait <= backoff.delay_before(retry + 1)


@settings(max_examples=300, deadline=None)
@given(
    delay=st.floats(min_value=1e-3, max_value=MAX_RETRY_DELAY),
    factor=st.floats(min_value=1, max_value=MAX_BACKOFF_FACTOR),
    retry=st.integers(1, MAX_RETRY_LIMIT + 1),
)
def test_within_the_spec_ranges_the_backoff_formula_never_overflows(
    delay: float, factor: float, retry: int
) -> None:
    # The documented formula, computed plainly, stays a finite float.
    assert math.isfinite(delay * factor ** (retry - 1))


@settings(max_examples=300, deadline=None)
@given(
    backoff=st.builds(Backoff, LONGEST, st.floats(1, 1e308), LONGEST),
    attempt=st.integers(1, MAX_RETRY_LIMIT),
    now=st.datetimes(timezones=st.just(UTC)),
)
def test_a_retry_time_is_always_a_date_at_most_a_year_away(
    backoff: Backoff, attempt: int, now: datetime
) -> None:
    task = TaskSpec(name="x", retry=RetryPolicy(limit=MAX_RETRY_LIMIT, backoff=backoff))
    outcome = engine.after_attempt(task, attempt, AttemptStatus.ERROR, now)
    assert outcome.retry_at is not None
    # At the end of datetime's range it is that end, sooner than a year away.
    assert timedelta(0) <= outcome.retry_at - now <= YEAR


def _plan_with_deadline(
    timeout: float, started: datetime, now: datetime, run_timeout: bool
) -> list[engine.Action]:
    blueprint, state = _running_for(timeout, run_timeout=run_timeout)
    state = replace(
        state,
        started_at=started,
        tasks={"a": TaskState(TaskStatus.RUNNING, 1, started)},
    )
    return engine.plan(blueprint, state, now).actions


@settings(max_examples=300, deadline=None)
@given(
    # Whole milliseconds up to 8e9 s, where a float still tells microseconds
    # apart, so the elapsed time compares exactly.
    timeout=st.integers(1, 8 * 10**12).map(lambda ms: ms / 1000),
    started=st.datetimes(timezones=st.just(UTC)),
    now=st.datetimes(timezones=st.just(UTC)),
    run_timeout=st.booleans(),
)
def test_a_deadline_fires_exactly_when_it_has_passed(
    timeout: float, started: datetime, now: datetime, run_timeout: bool
) -> None:
    actions = _plan_with_deadline(timeout, started, now, run_timeout)
    assert bool(actions) == ((now - started).total_seconds() >= timeout)


@settings(max_examples=300, deadline=None)
@given(
    timeout=LONGEST,
    started=st.datetimes(timezones=st.just(UTC)),
    now=st.datetimes(timezones=st.just(UTC)),
    run_timeout=st.booleans(),
)
def test_no_timeout_makes_a_plan_raise_whatever_the_dates(
    timeout: float, started: datetime, now: datetime, run_timeout: bool
) -> None:
    _plan_with_deadline(timeout, started, now, run_timeout)


def test_a_stored_request_too_large_for_any_quota_waits_with_a_message() -> None:
    # Formatting 1e100 bytes used to raise InvalidOperation in every plan.
    capacity = Capacity(free_memory=Decimal(2**30), max_memory=Decimal(8 * 2**30))
    blueprint, state = _queued_run(capacity, {"a": {"memory": "1e100"}})
    [first, *_] = engine.plan(blueprint, state, T0).actions
    assert isinstance(first, engine.WaitForQuota)
    assert first.reason.startswith("waiting for project quota: needs 90949470177")
    assert first.reason.endswith("000Ti memory; 1Gi of 8Gi free")


# --- properties over random DAGs -------------------------------------------------


@st.composite
def random_runs(draw: st.DrawFn) -> tuple[WorkflowSpec, list[AttemptStatus]]:
    size = draw(st.integers(1, 14))
    names = [f"t{i}" for i in range(size)]
    deps = {
        name: draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=3))
        if i
        else []
        for i, name in enumerate(names)
    }
    spec = make_spec(
        deps,
        parallelism=draw(st.one_of(st.none(), st.integers(1, 4))),
        fail_fast=draw(st.booleans()),
        retries={n: draw(st.integers(0, 2)) for n in names},
        priorities={n: draw(st.integers(-2, 2)) for n in names},
    )
    outcomes = draw(
        st.lists(
            st.sampled_from(
                [AttemptStatus.SUCCEEDED] * 3
                + [AttemptStatus.FAILED, AttemptStatus.ERROR]
            ),
            max_size=60,
        )
    )
    return spec, outcomes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_runs())
def test_every_random_run_terminates_with_the_status_its_tasks_imply(
    case: tuple[WorkflowSpec, list[AttemptStatus]],
) -> None:
    spec, outcomes = case
    blueprint = Blueprint.of(spec)
    sim = Simulation(blueprint)
    sim.run_to_end(outcomes)
    assert sim.violations == []
    statuses = {n: s.status for n, s in sim.tasks.items()}
    assert all(status in TERMINAL_TASK_STATUSES for status in statuses.values())
    all_succeeded = all(s is TaskStatus.SUCCEEDED for s in statuses.values())
    assert sim.run_status is (
        RunStatus.SUCCEEDED if all_succeeded else RunStatus.FAILED
    )
    for task in spec.tasks:
        # Retries never exceed the limit: attempts <= 1 + limit.
        assert sim.tasks[task.name].attempts <= 1 + task.retry.limit
        # A task runs at most once per attempt: no two live attempts.
        assert sim.started.count(task.name) == sim.tasks[task.name].attempts
        if statuses[task.name] is TaskStatus.UPSTREAM_FAILED:
            assert any(
                statuses[u] in UNSUCCESSFUL_TASK_STATUSES for u in task.dependencies
            )
        if statuses[task.name] is TaskStatus.SUCCEEDED:
            assert all(statuses[u] is TaskStatus.SUCCEEDED for u in task.dependencies)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_runs())
def test_incremental_plans_reach_the_same_end_as_full_plans(
    case: tuple[WorkflowSpec, list[AttemptStatus]],
) -> None:
    spec, outcomes = case
    full = Simulation(Blueprint.of(spec))
    full.run_to_end(list(outcomes))
    partial = Simulation(Blueprint.of(spec), incremental=True)
    partial.run_to_end(list(outcomes))
    assert partial.violations == []
    assert partial.started == full.started
    assert partial.tasks == full.tasks
    assert partial.run_status is full.run_status


@st.composite
def random_quota_runs(
    draw: st.DrawFn,
) -> tuple[WorkflowSpec, list[AttemptStatus], Capacity]:
    spec, outcomes = draw(random_runs())
    max_tasks = draw(st.one_of(st.none(), st.integers(1, 3)))
    max_cpu = draw(st.one_of(st.none(), st.integers(1, 4)))
    max_memory = draw(st.one_of(st.none(), st.integers(1, 4)))
    # Every task fits in the quota on its own, or it would wait forever.
    requests = {
        task.name: {
            "cpu": str(draw(st.integers(0, max_cpu or 4))),
            "memory": f"{draw(st.integers(0, max_memory or 4))}Gi",
        }
        for task in spec.tasks
    }
    tasks = tuple(
        replace(task, resources=Resources(requests=requests[task.name]))
        for task in spec.tasks
    )
    quota = Capacity(
        max_tasks=max_tasks,
        max_cpu=None if max_cpu is None else Decimal(max_cpu),
        max_memory=None if max_memory is None else Decimal(max_memory * 2**30),
    )
    return replace(spec, tasks=tasks), outcomes, quota


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_quota_runs())
def test_the_engine_never_starts_tasks_beyond_the_project_quota(
    case: tuple[WorkflowSpec, list[AttemptStatus], Capacity],
) -> None:
    spec, outcomes, quota = case
    for incremental in (False, True):
        sim = Simulation(Blueprint.of(spec), incremental=incremental, quota=quota)
        sim.run_to_end(list(outcomes))
        assert sim.violations == []
        assert sim.run_status in (RunStatus.SUCCEEDED, RunStatus.FAILED)


# --- control flow: trigger rules, conditions, depends, continueOn ------------------

RULES = [
    "allSucceeded",
    "allDone",
    "anyFailed",
    "anySucceeded",
    "noneFailed",
    "allFailed",
]


@st.composite
def random_flow_runs(
    draw: st.DrawFn,
) -> tuple[WorkflowSpec, list[AttemptStatus], dict[str, str]]:
    """Random DAGs whose tasks have random trigger rules, `when` conditions on
    random upstream results, and forgiving (continueOn) tasks."""
    spec, outcomes = draw(random_runs())
    tasks = []
    values: dict[str, str] = {}
    for task in spec.tasks:
        rule = draw(st.sampled_from(RULES)) if task.dependencies else RULES[0]
        when = None
        if task.dependencies and draw(st.booleans()):
            upstream = draw(st.sampled_from(task.dependencies))
            when = f"{{{{tasks.{upstream}.outputs.result}}}} == yes"
        forgive = draw(
            st.sampled_from(
                [frozenset(), frozenset({"Failed"}), frozenset({"Failed", "Error"})]
            )
        )
        values[f"tasks.{task.name}.outputs.result"] = draw(
            st.sampled_from(["yes", "no"])
        )
        tasks.append(replace(task, trigger_rule=rule, when=when, continue_on=forgive))
    return replace(spec, tasks=tuple(tasks)), outcomes, values


def _simulate(spec, outcomes, values, incremental=False):
    sim = Simulation(Blueprint.of(spec), incremental=incremental, values=values)
    sim.run_to_end(list(outcomes))
    return sim


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_flow_runs())
def test_no_task_starts_before_its_rule_allows_and_the_run_ends_as_its_tasks_say(
    case,
) -> None:
    spec, outcomes, values = case
    sim = _simulate(spec, outcomes, values)
    # The simulation checks every start against the rules read plainly.
    assert sim.violations == []
    statuses = {n: s.status for n, s in sim.tasks.items()}
    assert all(status in TERMINAL_TASK_STATUSES for status in statuses.values())
    failed = [
        n
        for n, status in statuses.items()
        if status in UNSUCCESSFUL_TASK_STATUSES
        and status.value not in spec.task(n).continue_on
    ]
    assert sim.run_status is (RunStatus.FAILED if failed else RunStatus.SUCCEEDED)
    for task in spec.tasks:
        status = statuses[task.name]
        if task.when and status is TaskStatus.SUCCEEDED:
            # It ran: its condition held.
            upstream = task.when.split(".")[1]
            assert values[f"tasks.{upstream}.outputs.result"] == "yes"
        if status is TaskStatus.UPSTREAM_FAILED and task.trigger_rule in (
            "allSucceeded",
            "noneFailed",
            "anySucceeded",
        ):
            assert any(
                statuses[u] in UNSUCCESSFUL_TASK_STATUSES for u in task.dependencies
            )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_flow_runs())
def test_incremental_plans_equal_full_plans_with_control_flow(case) -> None:
    spec, outcomes, values = case
    full = _simulate(spec, outcomes, values)
    partial = _simulate(spec, outcomes, values, incremental=True)
    assert partial.violations == []
    assert partial.started == full.started
    assert partial.tasks == full.tasks
    assert partial.run_status is full.run_status


def _run(deps, outcomes=(), values=None, **changes):
    spec = make_spec(deps)
    tasks = tuple(replace(task, **changes.get(task.name, {})) for task in spec.tasks)
    sim = Simulation(Blueprint.of(replace(spec, tasks=tasks)), values=values or {})
    sim.run_to_end(list(outcomes))
    assert sim.violations == []
    return sim


def _statuses(sim):
    return {n: s.status.value for n, s in sim.tasks.items()}


def test_a_false_condition_skips_the_task_and_its_plain_dependants_but_not_a_join():
    sim = _run(
        {
            "flip": [],
            "heads": ["flip"],
            "tails": ["flip"],
            "after": ["heads"],
            "join": ["heads", "tails"],
        },
        values={"tasks.flip.outputs.result": "tails"},
        heads={"when": "{{tasks.flip.outputs.result}} == heads"},
        tails={"when": "{{tasks.flip.outputs.result}} == tails"},
        join={"trigger_rule": "noneFailed"},
    )
    assert _statuses(sim) == {
        "flip": "Succeeded",
        "heads": "Skipped",
        "tails": "Succeeded",
        "after": "Skipped",
        "join": "Succeeded",
    }
    assert sim.run_status is RunStatus.SUCCEEDED


def test_the_skip_message_shows_the_condition_with_its_values():
    blueprint = Blueprint.of(
        replace(
            make_spec({"t": [], "d": ["t"]}),
            tasks=(
                TaskSpec(name="t", image="i"),
                TaskSpec(
                    name="d",
                    image="i",
                    dependencies=("t",),
                    when="{{tasks.t.outputs.result}} == ok",
                ),
            ),
        )
    )
    state = RunState(
        RunStatus.RUNNING,
        T0,
        {"t": TaskState(TaskStatus.SUCCEEDED), "d": TaskState(TaskStatus.PENDING)},
        {TaskStatus.SUCCEEDED: 1, TaskStatus.PENDING: 1},
        values={"tasks.t.outputs.result": "broken"},
    )
    [skip, _finish] = engine.plan(blueprint, state, T0).actions
    assert skip == engine.SkipTask(
        "d",
        "Condition",
        "when '{{tasks.t.outputs.result}} == ok' is false (broken == ok)",
    )


@pytest.mark.parametrize(
    ("rule", "upstreams", "expected"),
    [
        (
            "allSucceeded",
            [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED],
            "UpstreamFailed",
        ),
        ("allDone", [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED], "Succeeded"),
        ("anyFailed", [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED], "Succeeded"),
        ("anyFailed", [AttemptStatus.SUCCEEDED, AttemptStatus.SUCCEEDED], "Skipped"),
        ("anySucceeded", [AttemptStatus.FAILED, AttemptStatus.SUCCEEDED], "Succeeded"),
        (
            "anySucceeded",
            [AttemptStatus.FAILED, AttemptStatus.FAILED],
            "UpstreamFailed",
        ),
        (
            "noneFailed",
            [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED],
            "UpstreamFailed",
        ),
        ("allFailed", [AttemptStatus.FAILED, AttemptStatus.ERROR], "Succeeded"),
        ("allFailed", [AttemptStatus.FAILED, AttemptStatus.SUCCEEDED], "Skipped"),
    ],
)
def test_each_trigger_rule_decides_as_documented(rule, upstreams, expected):
    sim = _run(
        {"a": [], "b": [], "handler": ["a", "b"]},
        outcomes=upstreams,
        handler={"trigger_rule": rule},
    )
    assert sim.tasks["handler"].status.value == expected


def test_a_forgiven_failure_neither_fails_the_run_nor_its_dependants():
    sim = _run(
        {"flaky": [], "next": ["flaky"]},
        outcomes=[AttemptStatus.FAILED],
        flaky={"continue_on": frozenset({"Failed"})},
    )
    assert _statuses(sim) == {"flaky": "Failed", "next": "Succeeded"}
    assert sim.run_status is RunStatus.SUCCEEDED


def test_depends_runs_on_the_results_it_names():
    sim = _run(
        {"a": [], "b": [], "report": ["a", "b"]},
        outcomes=[AttemptStatus.SUCCEEDED, AttemptStatus.FAILED],
        report={"depends": "a.Succeeded && b.Failed"},
    )
    assert sim.tasks["report"].status is TaskStatus.SUCCEEDED
    sim = _run(
        {"a": [], "b": [], "report": ["a", "b"]},
        report={"depends": "a.Succeeded && b.Failed"},
    )
    assert sim.tasks["report"].status is TaskStatus.SKIPPED


# --- fan-out ----------------------------------------------------------------------


def _fan_spec(deps, fan_outs, **spec_options):
    spec = make_spec(deps, **spec_options)
    return replace(
        spec,
        tasks=tuple(
            replace(task, fan_out=fan_outs[task.name])
            if task.name in fan_outs
            else task
            for task in spec.tasks
        ),
    )


def test_a_fan_out_runs_an_instance_per_item_within_its_parallelism():
    spec = _fan_spec(
        {"process": [], "sum": ["process"]},
        {"process": FanOut(items=tuple(range(7)), parallelism=2)},
    )
    sim = Simulation(Blueprint.of(spec))
    sim.run_to_end([])
    assert sim.violations == []
    assert sim.started == [f"process[{i}]" for i in range(7)] + ["sum"]
    assert sim.tasks["process"] == TaskState(
        TaskStatus.SUCCEEDED, fan_out=7, fan_done=7
    )
    assert sim.run_status is RunStatus.SUCCEEDED


def test_a_failed_instance_fails_its_fan_out_once_all_are_done():
    spec = _fan_spec(
        {"process": [], "after": ["process"]},
        {"process": FanOut(items=("a", "b", "c"))},
    )
    sim = Simulation(Blueprint.of(spec))
    sim.run_to_end(
        [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.SUCCEEDED]
    )
    assert sim.violations == []
    statuses = {n: s.status.value for n, s in sim.tasks.items()}
    assert statuses == {
        "process": "Failed",
        "after": "UpstreamFailed",
        "process[0]": "Succeeded",
        "process[1]": "Failed",
        "process[2]": "Succeeded",
    }


def test_with_param_expands_over_an_upstream_list_or_errors_clearly():
    fan_out = FanOut(param="{{tasks.discover.outputs.result}}")
    spec = _fan_spec({"discover": [], "each": ["discover"]}, {"each": fan_out})
    sim = Simulation(
        Blueprint.of(spec), values={"tasks.discover.outputs.result": '["x", "y"]'}
    )
    sim.run_to_end([])
    assert sim.started == ["discover", "each[0]", "each[1]"]
    sim = Simulation(Blueprint.of(spec), values={"tasks.discover.outputs.result": "{}"})
    sim.run_to_end([])
    assert sim.tasks["each"].status is TaskStatus.ERROR
    sim = Simulation(Blueprint.of(spec), values={"tasks.discover.outputs.result": "[]"})
    sim.run_to_end([])
    assert sim.tasks["each"].status is TaskStatus.SUCCEEDED  # no items: nothing to do


@st.composite
def random_fan_out_runs(draw):
    spec, outcomes = draw(random_runs())
    fan_outs = {}
    for task in spec.tasks:
        if draw(st.integers(0, 3)) == 0:
            fan_outs[task.name] = FanOut(
                items=tuple(range(draw(st.integers(1, 6)))),
                parallelism=draw(st.one_of(st.none(), st.integers(1, 3))),
            )
    outcomes = outcomes + draw(
        st.lists(
            st.sampled_from([AttemptStatus.SUCCEEDED] * 4 + [AttemptStatus.FAILED]),
            max_size=40,
        )
    )
    return replace(
        spec,
        tasks=tuple(
            replace(t, fan_out=fan_outs[t.name]) if t.name in fan_outs else t
            for t in spec.tasks
        ),
    ), outcomes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_fan_out_runs())
def test_fan_outs_never_exceed_their_parallelism_and_end_as_their_instances_say(case):
    spec, outcomes = case
    full = Simulation(Blueprint.of(spec))
    full.run_to_end(list(outcomes))
    assert full.violations == []
    for group in Blueprint.of(spec).fan_outs:
        state = full.tasks[group]
        if state.fan_out is None:
            continue  # never expanded (an upstream failed)
        instances = [full.tasks[f"{group}[{i}]"].status for i in range(state.fan_out)]
        if all(s is TaskStatus.SUCCEEDED for s in instances):
            assert state.status is TaskStatus.SUCCEEDED
        elif all(s in TERMINAL_TASK_STATUSES for s in instances):
            assert state.status in (TaskStatus.FAILED, TaskStatus.CANCELLED)
    partial = Simulation(Blueprint.of(spec), incremental=True)
    partial.run_to_end(list(outcomes))
    assert partial.violations == []
    assert partial.started == full.started
    assert partial.tasks == full.tasks
    assert partial.run_status is full.run_status


# --- exit handlers ----------------------------------------------------------------


def _with_exits(spec, exits):
    """`exits`: {name: dependencies among exits}."""
    return replace(
        spec,
        tasks=spec.tasks
        + tuple(
            TaskSpec(name=name, image="i", dependencies=tuple(deps), exit_handler=True)
            for name, deps in exits.items()
        ),
    )


def test_exit_handlers_run_after_every_task_and_their_failure_is_not_the_runs():
    spec = _with_exits(
        make_spec({"a": [], "b": ["a"]}), {"notify": [], "cleanup": ["notify"]}
    )
    sim = Simulation(Blueprint.of(spec))
    # a succeeds, b fails, notify fails, cleanup is UpstreamFailed.
    sim.run_to_end(
        [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.FAILED]
    )
    assert sim.violations == []
    assert sim.started == ["a", "b", "notify"]
    assert (
        sim.run_status is RunStatus.FAILED
    )  # b failed; notify's failure is not counted
    spec = _with_exits(make_spec({"a": []}), {"notify": []})
    sim = Simulation(Blueprint.of(spec))
    sim.run_to_end([AttemptStatus.SUCCEEDED, AttemptStatus.FAILED])
    assert sim.run_status is RunStatus.SUCCEEDED


def test_exit_handlers_still_run_when_fail_fast_cancels_the_rest():
    spec = _with_exits(
        make_spec({"a": [], "b": [], "c": ["b"]}, parallelism=1, fail_fast=True),
        {"notify": []},
    )
    sim = Simulation(Blueprint.of(spec))
    sim.run_to_end([AttemptStatus.FAILED])
    assert sim.violations == []
    assert sim.tasks["notify"].status is TaskStatus.SUCCEEDED
    assert sim.tasks["c"].status is TaskStatus.CANCELLED
    assert sim.run_status is RunStatus.FAILED


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_fan_out_runs(), st.integers(0, 2))
def test_exit_handlers_never_start_early_and_plans_stay_incremental(case, exits):
    spec, outcomes = case
    spec = _with_exits(
        spec, {f"x{i}": [f"x{i - 1}"] if i else [] for i in range(exits)}
    )
    full = Simulation(Blueprint.of(spec))
    full.run_to_end(list(outcomes))
    assert full.violations == []
    partial = Simulation(Blueprint.of(spec), incremental=True)
    partial.run_to_end(list(outcomes))
    assert partial.violations == []
    assert partial.started == full.started
    assert partial.tasks == full.tasks
    assert partial.run_status is full.run_status
