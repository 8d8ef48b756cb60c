"""The concurrency rules, pure: when a Pending run may start (maxActiveRuns,
its own semaphore), when one more holder fits a semaphore or mutex, oldest
runs first, and the sentences people read while they wait."""

from __future__ import annotations

import pytest

from flowcore.concurrency import (
    Admission,
    Missing,
    Semaphores,
    SemaphoreState,
    Slots,
    Synchronization,
    Wait,
    admit,
    runs_text,
    semaphore_wait,
)

WAREHOUSE = Synchronization("semaphore", "warehouse")
LANE = Synchronization("mutex", "lane")


def test_a_run_starts_while_fewer_than_the_limit_are_active() -> None:
    assert admit("etl", 2, None, Admission(active=(41,), active_count=1)) is None
    assert admit("etl", None, None, Admission(active_count=500)) is None


def test_a_run_beyond_the_limit_waits_naming_the_active_runs() -> None:
    verdict = admit("etl", 2, None, Admission(active=(41, 43), active_count=2))
    assert verdict == Wait(
        "MaxActiveRuns", "waiting: 2 of 2 runs of etl are active (run 41, run 43)"
    )


def test_runs_submitted_earlier_go_first() -> None:
    # One slot free, but an older Pending run takes it.
    verdict = admit("etl", 2, None, Admission(active=(41,), active_count=1, ahead=1))
    assert verdict == Wait(
        "MaxActiveRuns",
        "waiting: 1 of 2 runs of etl are active (run 41); 1 submitted earlier "
        "goes first",
    )


def test_many_active_runs_are_summed_up() -> None:
    active = tuple(range(10, 15))
    verdict = admit("etl", 8, None, Admission(active=active, active_count=8))
    assert isinstance(verdict, Wait)
    assert verdict.message == (
        "waiting: 8 of 8 runs of etl are active (run 10, run 11, run 12, run 13, "
        "run 14 and 3 more)"
    )


def test_a_run_holding_a_semaphore_waits_for_a_slot_then_starts() -> None:
    full = SemaphoreState(limit=1, held=1, holders=(41,))
    assert admit("etl", None, WAREHOUSE, Admission(semaphore=full)) == Wait(
        "Semaphore", "waiting for semaphore warehouse (1 of 1 held by run 41)"
    )
    free = SemaphoreState(limit=2, held=1, holders=(41,))
    assert admit("etl", None, WAREHOUSE, Admission(semaphore=free)) is None


def test_max_active_runs_is_checked_before_the_semaphore() -> None:
    admission = Admission(
        active=(41,), active_count=1, semaphore=SemaphoreState(limit=None)
    )
    verdict = admit("etl", 1, WAREHOUSE, admission)
    assert isinstance(verdict, Wait) and verdict.reason == "MaxActiveRuns"


def test_a_run_whose_semaphore_was_deleted_can_never_start() -> None:
    verdict = admit("etl", None, WAREHOUSE, Admission())
    assert verdict == Missing(
        "SemaphoreMissing",
        "semaphore warehouse is not defined in the project (it was deleted after "
        "the workflow was saved); a project admin can define it again",
    )


@pytest.mark.parametrize(
    ("sync", "state", "message"),
    [
        (
            WAREHOUSE,
            SemaphoreState(limit=2, held=2, holders=(41, 43)),
            "waiting for semaphore warehouse (2 of 2 held by run 41, run 43)",
        ),
        (
            WAREHOUSE,
            SemaphoreState(limit=2, held=3, holders=(41, 41, 43)),
            "waiting for semaphore warehouse (3 of 2 held by run 41, run 43)",
        ),
        (
            WAREHOUSE,
            SemaphoreState(limit=2, held=1, holders=(41,), ahead=1),
            "waiting for semaphore warehouse (1 of 2 held by run 41; 1 waiter of "
            "an older run goes first)",
        ),
        (
            WAREHOUSE,
            SemaphoreState(limit=1, held=0, ahead=3),
            "waiting for semaphore warehouse (0 of 1 held; 3 waiters of older "
            "runs go first)",
        ),
        (
            LANE,
            SemaphoreState(limit=None, held=1, holders=(7,)),
            "waiting for mutex lane (held by run 7)",
        ),
        (
            LANE,
            SemaphoreState(limit=None, held=0, ahead=1),
            "waiting for mutex lane (free; 1 waiter of an older run goes first)",
        ),
    ],
)
def test_a_full_semaphore_says_who_holds_it(
    sync: Synchronization, state: SemaphoreState, message: str
) -> None:
    assert semaphore_wait(sync, state) == Wait("Semaphore", message)


def test_a_mutex_needs_no_definition_and_admits_one() -> None:
    assert semaphore_wait(LANE, SemaphoreState(limit=None)) is None
    assert semaphore_wait(LANE, SemaphoreState(limit=None), extra=[9]) == Wait(
        "Semaphore", "waiting for mutex lane (held by run 9)"
    )


def test_a_lowered_limit_lets_no_one_in_until_holders_drop_below_it() -> None:
    state = SemaphoreState(limit=1, held=2, holders=(3, 4))
    assert isinstance(semaphore_wait(WAREHOUSE, state), Wait)


def test_slots_count_what_a_plan_takes() -> None:
    slots = Slots(
        Semaphores(
            57,
            {
                WAREHOUSE: SemaphoreState(limit=2, held=1, holders=(41,)),
                LANE: SemaphoreState(limit=None),
            },
        )
    )
    assert slots.lacking(WAREHOUSE) is None
    slots.take(WAREHOUSE)
    assert slots.lacking(WAREHOUSE) == Wait(
        "Semaphore", "waiting for semaphore warehouse (2 of 2 held by run 41, run 57)"
    )
    assert slots.lacking(LANE) is None


def test_a_semaphore_the_services_did_not_load_makes_the_task_wait() -> None:
    assert Slots(None).lacking(LANE) == Wait("Semaphore", "waiting for mutex lane")


def test_runs_text_names_a_few_runs_once_each() -> None:
    assert runs_text([41, 41, 43]) == "run 41, run 43"
    assert runs_text(range(1, 8)) == ("run 1, run 2, run 3, run 4, run 5 and others")
    assert runs_text([1, 2], total=4) == "run 1, run 2 and 2 more"
    assert runs_text([]) == ""
