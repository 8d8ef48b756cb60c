"""Run and task states, the legal transitions between them, and terminal checks.

Pure: imported by the engine and the services alike, knows nothing of Django.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "Pending"  # waiting for its dependencies
    QUEUED = "Queued"  # dependencies met, waiting for a slot (parallelism)
    RUNNING = "Running"  # an attempt is live in the backend
    # A fan-out whose instances (task[0], task[1], ...) were made and run.
    EXPANDED = "Expanded"
    RETRYING = "Retrying"  # the last attempt failed; the next waits for its backoff
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"  # the program failed (non-zero exit, timeout)
    ERROR = "Error"  # the infrastructure failed (process lost, pod evicted)
    UPSTREAM_FAILED = "UpstreamFailed"
    # Did not run, and that is no failure: its condition (`when`, `depends`) was
    # false, or its trigger rule says an upstream's outcome makes it moot.
    SKIPPED = "Skipped"
    # Cancelled while its attempt ran: the attempt is being stopped (a pod
    # deleted within its grace period) and still holds its slot and quota.
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"


class RunStatus(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"


class AttemptStatus(StrEnum):
    LAUNCHING = "Launching"  # recorded, not yet handed to the backend
    PENDING = (
        "Pending"  # accepted by the backend, not yet running (no slot, pod pending)
    )
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    # Being stopped, not yet stopped: the pod has a deletionTimestamp (a cancel,
    # or a deletion by someone else) and its container still runs.
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"


# Plain value lists, for the OpenAPI schema's enum names.
RUN_STATUS_VALUES = [status.value for status in RunStatus]
TASK_STATUS_VALUES = [status.value for status in TaskStatus]
ATTEMPT_STATUS_VALUES = [status.value for status in AttemptStatus]

TERMINAL_TASK_STATUSES = frozenset(
    {
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.ERROR,
        TaskStatus.UPSTREAM_FAILED,
        TaskStatus.SKIPPED,
        TaskStatus.CANCELLED,
    }
)
# A task in one of these did not succeed and will not run again unless a person
# retries. (Skipped is no failure: nothing to retry, and it fails no run.)
UNSUCCESSFUL_TASK_STATUSES = TERMINAL_TASK_STATUSES - {
    TaskStatus.SUCCEEDED,
    TaskStatus.SKIPPED,
}
TERMINAL_RUN_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
)
TERMINAL_ATTEMPT_STATUSES = frozenset(
    {
        AttemptStatus.SUCCEEDED,
        AttemptStatus.FAILED,
        AttemptStatus.ERROR,
        AttemptStatus.CANCELLED,
    }
)
LIVE_ATTEMPT_STATUSES = frozenset(
    {
        AttemptStatus.LAUNCHING,
        AttemptStatus.PENDING,
        AttemptStatus.RUNNING,
        AttemptStatus.CANCELLING,
    }
)
# Tasks whose attempt holds a slot (parallelism) and the project's quota.
BUSY_TASK_STATUSES = frozenset({TaskStatus.RUNNING, TaskStatus.CANCELLING})

_T = TaskStatus
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _T.PENDING: frozenset(
        {
            _T.QUEUED,
            _T.UPSTREAM_FAILED,
            _T.SKIPPED,
            _T.CANCELLED,
            # A fan-out: expanded, or done at once (no items; items unreadable).
            _T.EXPANDED,
            _T.SUCCEEDED,
            _T.ERROR,
        }
    ),
    _T.EXPANDED: frozenset({_T.SUCCEEDED, _T.FAILED, _T.CANCELLED}),
    # Error: its semaphore was deleted while it waited (SemaphoreMissing).
    _T.QUEUED: frozenset({_T.RUNNING, _T.UPSTREAM_FAILED, _T.CANCELLED, _T.ERROR}),
    _T.RUNNING: frozenset(
        {_T.SUCCEEDED, _T.FAILED, _T.ERROR, _T.RETRYING, _T.CANCELLING, _T.CANCELLED}
    ),
    # A cancelled task's attempt ends as it may: the task ends Cancelled.
    _T.CANCELLING: frozenset({_T.CANCELLED}),
    _T.RETRYING: frozenset({_T.QUEUED, _T.CANCELLED}),
    # Terminal states only move back to Pending, when a person asks for a retry.
    # A retried fan-out goes back to Expanded: only its failed instances rerun.
    _T.SUCCEEDED: frozenset({_T.PENDING, _T.EXPANDED}),
    _T.FAILED: frozenset({_T.PENDING, _T.EXPANDED}),
    _T.ERROR: frozenset({_T.PENDING}),
    _T.UPSTREAM_FAILED: frozenset({_T.PENDING}),
    _T.SKIPPED: frozenset({_T.PENDING}),
    _T.CANCELLED: frozenset({_T.PENDING, _T.EXPANDED}),
}

_R = RunStatus
RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    _R.PENDING: frozenset({_R.RUNNING, _R.CANCELLING, _R.CANCELLED}),
    _R.RUNNING: frozenset({_R.SUCCEEDED, _R.FAILED, _R.CANCELLING, _R.CANCELLED}),
    _R.CANCELLING: frozenset({_R.CANCELLED}),
    _R.SUCCEEDED: frozenset({_R.RUNNING}),
    _R.FAILED: frozenset({_R.RUNNING}),
    _R.CANCELLED: frozenset({_R.RUNNING}),
}

_A = AttemptStatus
ATTEMPT_TRANSITIONS: dict[AttemptStatus, frozenset[AttemptStatus]] = {
    _A.LAUNCHING: frozenset(
        {
            _A.PENDING,
            _A.RUNNING,
            _A.SUCCEEDED,
            _A.FAILED,
            _A.ERROR,
            _A.CANCELLING,
            _A.CANCELLED,
        }
    ),
    _A.PENDING: frozenset(
        {_A.RUNNING, _A.SUCCEEDED, _A.FAILED, _A.ERROR, _A.CANCELLING, _A.CANCELLED}
    ),
    _A.RUNNING: frozenset(
        {_A.SUCCEEDED, _A.FAILED, _A.ERROR, _A.CANCELLING, _A.CANCELLED}
    ),
    # How it ends: Cancelled when Flowdeck cancelled it; when someone else
    # deleted the pod, what the container did (or Error, PodDeleted).
    _A.CANCELLING: frozenset({_A.SUCCEEDED, _A.FAILED, _A.ERROR, _A.CANCELLED}),
    _A.SUCCEEDED: frozenset(),
    _A.FAILED: frozenset(),
    _A.ERROR: frozenset(),
    _A.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    """A state change the transition table forbids."""

    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"{kind} cannot go from {current} to {target}")
        self.kind = kind
        self.current = current
        self.target = target


def is_terminal_task(status: TaskStatus) -> bool:
    return status in TERMINAL_TASK_STATUSES


def is_terminal_run(status: RunStatus) -> bool:
    return status in TERMINAL_RUN_STATUSES


def check_task_transition(current: TaskStatus, target: TaskStatus) -> None:
    if target not in TASK_TRANSITIONS[current]:
        raise IllegalTransition("task", current, target)


def check_run_transition(current: RunStatus, target: RunStatus) -> None:
    if target not in RUN_TRANSITIONS[current]:
        raise IllegalTransition("run", current, target)


def check_attempt_transition(current: AttemptStatus, target: AttemptStatus) -> None:
    if target not in ATTEMPT_TRANSITIONS[current]:
        raise IllegalTransition("attempt", current, target)
