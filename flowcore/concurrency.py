"""Concurrency limits, pure: a workflow's `maxActiveRuns`, and the semaphores
and mutexes its runs and tasks hold (docs/spec.md, "Concurrency").

The services load what a decision needs (the runs of the workflow that are
active, who holds a semaphore and how many of older runs wait for it) and
apply the verdicts; the rules, and the sentences people read, live here.

Fairness: a run or task waits while older runs wait for the same thing, so
the oldest run goes first and a run that frees a slot cannot take it straight
back while another waits (the services count only the waiters of *older*
runs as `ahead`; within a run the engine keeps its own queue order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

SEMAPHORE = "semaphore"
MUTEX = "mutex"
KINDS = (SEMAPHORE, MUTEX)

# Reasons shown on a waiting task or run, and on a task that cannot ever start.
SEMAPHORE_REASON = "Semaphore"
MAX_RUNS_REASON = "MaxActiveRuns"
MISSING_REASON = "SemaphoreMissing"

# How many holders a message names before "and N more".
_SHOWN = 5


@dataclass(frozen=True, slots=True, order=True)
class Synchronization:
    """What a task or a whole run holds while it runs: a project's semaphore
    (its limit set by a project admin) or a mutex (a semaphore of 1 that needs
    no setup). Semaphores and mutexes are separate names."""

    kind: str  # SEMAPHORE or MUTEX
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class SemaphoreState:
    """One semaphore as a plan sees it."""

    limit: int | None  # None: no such semaphore in the project (deleted since)
    held: int = 0  # slots held, by every run of the project (this one too)
    holders: tuple[int, ...] = ()  # some of the runs holding it, oldest first
    ahead: int = 0  # tasks and runs of older runs waiting for it: first in line


@dataclass(frozen=True, slots=True)
class Semaphores:
    """The semaphores a run's queued tasks may take, and the run's id (the
    messages name the runs that hold a semaphore, this one included)."""

    run: int
    states: Mapping[Synchronization, SemaphoreState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Wait:
    """Not now: the reason and the sentence shown on the task or run."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Missing:
    """Never: the semaphore is not defined (it was deleted since the workflow
    was saved, which checks that it exists)."""

    reason: str
    message: str


def missing(sync: Synchronization) -> Missing:
    return Missing(
        MISSING_REASON,
        f"{sync} is not defined in the project (it was deleted after the "
        "workflow was saved); a project admin can define it again",
    )


def runs_text(runs: Sequence[int], total: int | None = None) -> str:
    """ "run 41, run 43": distinct, in order, a few of them; "... and 3 more"
    when `total` says how many there are, "... and others" past the few."""
    distinct = list(dict.fromkeys(runs))
    shown = ", ".join(f"run {run}" for run in distinct[:_SHOWN])
    if total is not None and total > min(len(distinct), _SHOWN):
        return f"{shown} and {total - min(len(distinct), _SHOWN)} more"
    if len(distinct) > _SHOWN:
        return f"{shown} and others"
    return shown


def semaphore_wait(
    sync: Synchronization, state: SemaphoreState, extra: Sequence[int] = ()
) -> Wait | Missing | None:
    """Whether one more holder fits; `extra` names the runs of holders taken
    in this plan (the planned run's own). None when it fits."""
    limit = 1 if sync.kind == MUTEX else state.limit
    if limit is None:
        return missing(sync)
    held = state.held + len(extra)
    if held + state.ahead < limit:
        return None
    holders = runs_text([*state.holders, *extra])
    by = f" by {holders}" if holders else ""
    if sync.kind == MUTEX:
        parts = [f"held{by}" if held else "free"]
    else:
        parts = [f"{held} of {limit} held{by if held else ''}"]
    if state.ahead:
        waiters = (
            "1 waiter of an older run goes"
            if state.ahead == 1
            else (f"{state.ahead} waiters of older runs go")
        )
        parts.append(f"{waiters} first")
    return Wait(SEMAPHORE_REASON, f"waiting for {sync} ({'; '.join(parts)})")


class Slots:
    """The semaphores of one plan as its tasks take them, one at a time."""

    def __init__(self, semaphores: Semaphores | None) -> None:
        self.semaphores = semaphores
        self.taken: dict[Synchronization, list[int]] = {}

    def lacking(self, sync: Synchronization) -> Wait | Missing | None:
        """Why a task holding `sync` may not start now; None when it may."""
        if self.semaphores is None or sync not in self.semaphores.states:
            # Not loaded: the services load every semaphore a candidate names,
            # so this is a bug; waiting is the safe side of it.
            return Wait(SEMAPHORE_REASON, f"waiting for {sync}")
        state = self.semaphores.states[sync]
        return semaphore_wait(sync, state, self.taken.get(sync, ()))

    def take(self, sync: Synchronization) -> None:
        run = self.semaphores.run if self.semaphores is not None else 0
        self.taken.setdefault(sync, []).append(run)


@dataclass(frozen=True, slots=True)
class Admission:
    """What a Pending run's start depends on (only what its spec limits)."""

    # The workflow's runs that started and have not finished (not this one),
    # oldest first, and how many there are in all.
    active: tuple[int, ...] = ()
    active_count: int = 0
    # The workflow's Pending runs submitted before this one: they start first.
    ahead: int = 0
    # The state of the run's own semaphore (spec.synchronization).
    semaphore: SemaphoreState | None = None


def admit(
    workflow: str,
    max_active_runs: int | None,
    sync: Synchronization | None,
    admission: Admission,
) -> Wait | Missing | None:
    """Whether a Pending run of `workflow` may start now (None), waits, or can
    never start (its semaphore is gone). Oldest first: Pending runs submitted
    earlier count as taken slots."""
    if max_active_runs is not None:
        busy = admission.active_count + admission.ahead
        if busy >= max_active_runs:
            return Wait(
                MAX_RUNS_REASON,
                _runs_message(workflow, max_active_runs, admission),
            )
    if sync is not None:
        state = admission.semaphore or SemaphoreState(limit=None)
        return semaphore_wait(sync, state)
    return None


def _runs_message(workflow: str, limit: int, admission: Admission) -> str:
    count = admission.active_count
    runs = runs_text(admission.active, count)
    active = f"{count} of {limit} runs of {workflow} are active"
    if runs:
        active += f" ({runs})"
    if admission.ahead:
        go = "goes" if admission.ahead == 1 else "go"
        active += f"; {admission.ahead} submitted earlier {go} first"
    return f"waiting: {active}"
