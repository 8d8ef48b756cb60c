"""Concurrency at run time, through the services on PostgreSQL: maxActiveRuns
keeps further runs Pending with the reason shown and starts them oldest
first; semaphores and mutexes keep tasks (or whole runs) Queued (Pending)
until a slot frees; the claim rows say who holds what; two planners racing
never exceed a limit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from flowcore.reports import Report
from flowcore.spec import SpecError
from flowcore.states import AttemptStatus, RunStatus, TaskStatus
from tests.conftest import run_tasks, shell_task, workflow_document
from workflows.models import (
    Attempt,
    Project,
    Run,
    RunEvent,
    Semaphore,
    SemaphoreClaim,
    TaskRun,
    Workflow,
)
from workflows.services import concurrency
from workflows.services.advance import advance_run
from workflows.services.attempts import record_report
from workflows.services.control import ActionRefused, cancel_run, retry_run
from workflows.services.semaphores import (
    create_semaphore,
    delete_semaphore,
    update_semaphore,
    usage,
)
from workflows.services.submit import create_workflow, submit_run, update_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def woken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The runs the concurrency service asked to plan again (not the broker)."""
    calls: list[int] = []
    monkeypatch.setattr(
        concurrency, "request_reconcile", lambda run_id, at=None: calls.append(run_id)
    )
    return calls


def _workflow(
    user: Any, project: Project, name: str, tasks: list[dict[str, Any]], **spec: Any
) -> Workflow:
    return create_workflow(
        workflow_document(name, tasks, **spec), author=user, project=project
    )


def _submit(workflow: Workflow, user: Any) -> Run:
    return submit_run(workflow.latest_version, user=user)


def _finish(task: TaskRun, status: AttemptStatus = AttemptStatus.SUCCEEDED) -> Any:
    attempt = Attempt.objects.get(task_run=task, number=task.attempts_count)
    record_report(Report(attempt.pk, AttemptStatus.RUNNING, handle="fake"))
    return record_report(Report(attempt.pk, status, exit_code=0))


def _finish_run(run: Run) -> None:
    """Succeed every task of the run as it starts."""
    for _ in range(50):
        running = TaskRun.objects.filter(run=run, status=TaskStatus.RUNNING).first()
        if running is None:
            break
        _finish(running)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.message


def _status(run: Run) -> str:
    run.refresh_from_db()
    return run.status


def _task(run: Run, name: str) -> TaskRun:
    return TaskRun.objects.get(run=run, name=name)


def _holders(name: str) -> list[tuple[int, str]]:
    return list(
        SemaphoreClaim.objects.filter(name=name, held=True)
        .order_by("run_id", "task")
        .values_list("run_id", "task")
    )


# --- maxActiveRuns ----------------------------------------------------------------


def test_a_run_beyond_max_active_runs_waits_pending_saying_why(
    user: Any, project: Project, woken: list[int]
) -> None:
    etl = _workflow(user, project, "etl", [shell_task("a")], maxActiveRuns=2)
    runs = [_submit(etl, user) for _ in range(3)]
    for run in runs:
        advance_run(run.pk)
    first, second, third = runs
    assert [_status(r) for r in runs] == ["Running", "Running", "Pending"]
    message = (
        f"waiting: 2 of 2 runs of etl are active (run {first.pk}, run {second.pk})"
    )
    assert third.message == message
    assert _task(third, "a").status == TaskStatus.PENDING
    [event] = RunEvent.objects.filter(run=third, data__reason="MaxActiveRuns")
    assert (event.kind, event.status, event.message) == ("run", "Pending", message)

    _finish_run(first)
    assert woken == [third.pk]
    advance_run(third.pk)
    assert (_status(third), third.message) == ("Running", "")
    assert _task(third, "a").status == TaskStatus.RUNNING


def test_the_runs_list_and_the_run_page_say_why_a_run_waits(
    user: Any, project: Project, client: Any
) -> None:
    etl = _workflow(user, project, "etl", [shell_task("a")], maxActiveRuns=1)
    first, second = _submit(etl, user), _submit(etl, user)
    advance_run(first.pk)
    advance_run(second.pk)
    message = f"waiting: 1 of 1 runs of etl are active (run {first.pk})"
    client.force_login(user)
    runs = client.get("/runs/").content.decode()
    assert f'<div class="run-note muted">{message}</div>' in runs
    assert runs.count("run-note") == 1  # the running one has none
    page = client.get(f"/runs/{second.pk}/").content.decode()
    assert f'<dt>Message</dt><dd class="pre-line">{message}</dd>' in page


def test_waiting_runs_start_oldest_first(
    user: Any, project: Project, woken: list[int]
) -> None:
    etl = _workflow(user, project, "etl", [shell_task("a")], maxActiveRuns=1)
    first, second, third = (_submit(etl, user) for _ in range(3))
    # The youngest is planned first, then the others: it still waits its turn.
    advance_run(third.pk)
    third.refresh_from_db()
    assert third.message == (
        "waiting: 0 of 1 runs of etl are active; 2 submitted earlier go first"
    )
    for run in (first, second, third):
        advance_run(run.pk)
    third.refresh_from_db()
    assert third.message.endswith(f"(run {first.pk}); 1 submitted earlier goes first")
    _finish_run(first)
    advance_run(third.pk)
    assert _status(third) == "Pending"
    advance_run(second.pk)
    assert _status(second) == "Running"


def test_the_reason_is_recorded_once_and_the_tasks_are_not_read(
    user: Any, project: Project
) -> None:
    tasks = [shell_task(f"t{i}") for i in range(40)]
    etl = _workflow(user, project, "etl", tasks, maxActiveRuns=1)
    _submit(etl, user)
    advance_run(Run.objects.get().pk)
    waiting = _submit(etl, user)
    advance_run(waiting.pk)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            advance_run(waiting.pk)
    assert RunEvent.objects.filter(run=waiting, data__reason="MaxActiveRuns").count()
    assert (
        RunEvent.objects.filter(run=waiting, data__reason="MaxActiveRuns").count() == 1
    )
    # A waiting run costs the same whatever its size: its tasks are not read.
    assert not any("workflows_taskrun" in q["sql"] for q in queries.captured_queries)


def test_a_cancelled_waiting_run_lets_the_next_one_go(
    user: Any, project: Project, woken: list[int]
) -> None:
    etl = _workflow(user, project, "etl", [shell_task("a")], maxActiveRuns=1)
    first, second, third = (_submit(etl, user) for _ in range(3))
    for run in (first, second, third):
        advance_run(run.pk)
    cancel_run(second.pk)
    advance_run(second.pk)
    assert _status(second) == "Cancelled"
    _finish_run(first)
    assert third.pk in woken
    advance_run(third.pk)
    assert _status(third) == "Running"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
def test_two_planners_never_start_more_runs_than_max_active_runs(
    user: Any, project: Project, woken: list[int]
) -> None:
    etl = _workflow(user, project, "etl", [shell_task("a")], maxActiveRuns=1)
    for _ in range(5):
        runs = [_submit(etl, user) for _ in range(2)]
        _race([lambda r=r: advance_run(r.pk) for r in runs])
        active = Run.objects.filter(workflow=etl, status=RunStatus.RUNNING).count()
        assert active <= 1
        Run.objects.filter(workflow=etl).delete()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
def test_a_retry_racing_a_start_never_exceeds_max_active_runs(
    user: Any, project: Project, woken: list[int]
) -> None:
    """Counting older Pending runs keeps two Pending runs apart without a lock;
    a finished run retried while a younger one starts is counted by neither:
    only the workflow's row lock makes one of them wait for the other."""
    etl = _workflow(user, project, "etl", [shell_task("a")], maxActiveRuns=1)
    for _ in range(5):
        failed = _submit(etl, user)
        advance_run(failed.pk)
        _finish(_task(failed, "a"), AttemptStatus.FAILED)
        pending = _submit(etl, user)

        def retry(run_id: int = failed.pk) -> None:
            with suppress(ActionRefused):  # the other one won: refused, saying why
                retry_run(run_id)

        _race([retry, lambda r=pending.pk: advance_run(r)])
        active = Run.objects.filter(workflow=etl, status=RunStatus.RUNNING).count()
        assert active <= 1
        Run.objects.filter(workflow=etl).delete()


def _race(calls: list[Callable[[], Any]]) -> None:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def call(work: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(work,)) for work in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_retry_is_refused_while_the_workflow_has_its_active_runs(
    user: Any, project: Project, woken: list[int]
) -> None:
    flaky = _workflow(user, project, "flaky", [shell_task("a")], maxActiveRuns=1)
    failed = _submit(flaky, user)
    advance_run(failed.pk)
    _finish(_task(failed, "a"), AttemptStatus.FAILED)
    assert _status(failed) == "Failed"
    busy = _submit(flaky, user)
    advance_run(busy.pk)
    with pytest.raises(ActionRefused, match="1 of 1 runs of flaky are active"):
        retry_run(failed.pk)
    assert _status(failed) == "Failed"
    _finish_run(busy)
    assert retry_run(failed.pk) == ["a"]
    assert _status(failed) == "Running"


# --- semaphores and mutexes on tasks ------------------------------------------------


def _warehouse_pair(user: Any, project: Project, limit: int = 1) -> list[Workflow]:
    create_semaphore(project, name="warehouse", limit=limit)
    load = shell_task("load", synchronization={"semaphore": "warehouse"})
    return [
        _workflow(user, project, name, [shell_task("extract"), {**load}])
        for name in ("orders", "customers")
    ]


def test_a_task_waits_for_its_semaphore_naming_who_holds_it_then_starts(
    user: Any, project: Project, woken: list[int]
) -> None:
    orders, customers = _warehouse_pair(user, project)
    first, second = _submit(orders, user), _submit(customers, user)
    advance_run(first.pk)
    advance_run(second.pk)
    assert _task(first, "load").status == TaskStatus.RUNNING
    waiting = _task(second, "load")
    message = f"waiting for semaphore warehouse (1 of 1 held by run {first.pk})"
    assert (waiting.status, waiting.reason, waiting.message) == (
        TaskStatus.QUEUED,
        "Semaphore",
        message,
    )
    assert _task(second, "extract").status == TaskStatus.RUNNING  # needs none
    assert _holders("warehouse") == [(first.pk, "load")]
    assert SemaphoreClaim.objects.get(held=False).run_id == second.pk

    _finish(_task(first, "load"))
    assert woken == [second.pk]
    assert _holders("warehouse") == []
    advance_run(second.pk)
    started = _task(second, "load")
    assert (started.status, started.reason, started.message) == ("Running", "", "")
    assert _holders("warehouse") == [(second.pk, "load")]
    _finish_run(second)
    _finish_run(first)
    assert not SemaphoreClaim.objects.exists()


def test_the_waiting_reason_reads_well_in_the_api_and_on_the_run_page(
    user: Any, project: Project, api: Any, client: Any
) -> None:
    orders, customers = _warehouse_pair(user, project)
    first, second = _submit(orders, user), _submit(customers, user)
    advance_run(first.pk)
    advance_run(second.pk)
    message = f"waiting for semaphore warehouse (1 of 1 held by run {first.pk})"
    task = next(t for t in run_tasks(api, second.pk) if t["name"] == "load")
    assert (task["status"], task["reason"], task["message"]) == (
        "Queued",
        "Semaphore",
        message,
    )
    client.force_login(user)
    page = client.get(f"/runs/{second.pk}/").content.decode()
    assert "<strong>Semaphore</strong>: " + message in page


def test_a_slot_freed_by_a_run_goes_to_the_older_run_waiting(
    user: Any, project: Project, woken: list[int]
) -> None:
    create_semaphore(project, name="warehouse", limit=1)
    loads = [
        shell_task(f"load{i}", synchronization={"semaphore": "warehouse"})
        for i in range(3)
    ]
    older = _workflow(
        user,
        project,
        "once",
        [
            shell_task("extract"),
            shell_task(
                "load",
                dependencies=["extract"],
                synchronization={"semaphore": "warehouse"},
            ),
        ],
    )
    busy = _workflow(user, project, "busy", loads, parallelism=1)
    old_run, busy_run = _submit(older, user), _submit(busy, user)
    advance_run(old_run.pk)
    advance_run(busy_run.pk)
    _finish(_task(old_run, "extract"))  # now its load waits behind busy's load0
    assert _task(old_run, "load").reason == "Semaphore"
    _finish(_task(busy_run, "load0"))
    # busy planned at once in the same transaction, but the older run's load
    # is first in line: busy's next load waits, saying so.
    load1 = _task(busy_run, "load1")
    assert load1.status == TaskStatus.QUEUED
    assert load1.message == (
        "waiting for semaphore warehouse (0 of 1 held; 1 waiter of an older run "
        "goes first)"
    )
    assert old_run.pk in woken
    advance_run(old_run.pk)
    assert _task(old_run, "load").status == TaskStatus.RUNNING


def test_a_mutex_needs_no_definition(
    user: Any, project: Project, woken: list[int]
) -> None:
    index = shell_task("index", synchronization={"mutex": "search"})
    workflow = _workflow(user, project, "indexer", [index])
    first, second = _submit(workflow, user), _submit(workflow, user)
    advance_run(first.pk)
    advance_run(second.pk)
    assert _task(second, "index").message == (
        f"waiting for mutex search (held by run {first.pk})"
    )


def test_a_retrying_task_gives_its_slot_back_until_it_runs_again(
    user: Any, project: Project, woken: list[int]
) -> None:
    create_semaphore(project, name="warehouse", limit=1)
    load = shell_task(
        "load",
        synchronization={"semaphore": "warehouse"},
        retry={"limit": 1, "backoff": {"delay": "1h"}},
    )
    first = _submit(_workflow(user, project, "flaky", [load]), user)
    advance_run(first.pk)
    _finish(_task(first, "load"), AttemptStatus.FAILED)
    assert _task(first, "load").status == TaskStatus.RETRYING
    assert _holders("warehouse") == []


def test_cancelling_a_run_takes_its_tasks_out_of_line(
    user: Any, project: Project, woken: list[int]
) -> None:
    orders, customers = _warehouse_pair(user, project)
    first, second = _submit(orders, user), _submit(customers, user)
    advance_run(first.pk)
    advance_run(second.pk)
    cancel_run(second.pk)
    advance_run(second.pk)
    assert not SemaphoreClaim.objects.filter(run=second).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
def test_two_planners_never_hold_a_semaphore_beyond_its_limit(
    user: Any, project: Project, woken: list[int]
) -> None:
    orders, customers = _warehouse_pair(user, project)
    for _ in range(5):
        runs = [_submit(orders, user), _submit(customers, user)]
        _race([lambda r=r: advance_run(r.pk) for r in runs])
        running = TaskRun.objects.filter(
            run__in=runs, name="load", status=TaskStatus.RUNNING
        ).count()
        assert running <= 1
        assert len(_holders("warehouse")) == running
        Run.objects.filter(pk__in=[r.pk for r in runs]).delete()


def test_an_exit_handler_waits_for_its_mutex_like_any_task(
    user: Any, project: Project, woken: list[int]
) -> None:
    holder = _workflow(
        user, project, "holder", [shell_task("hold", synchronization={"mutex": "m"})]
    )
    tidy = shell_task("tidy", synchronization={"mutex": "m"})
    etl = _workflow(user, project, "etl", [shell_task("a")], onExit=[tidy])
    first, second = _submit(holder, user), _submit(etl, user)
    advance_run(first.pk)
    advance_run(second.pk)
    _finish(_task(second, "a"))
    waiting = _task(second, "tidy")
    assert (waiting.status, waiting.message) == (
        TaskStatus.QUEUED,
        f"waiting for mutex m (held by run {first.pk})",
    )
    _finish_run(first)
    assert second.pk in woken
    advance_run(second.pk)
    assert _task(second, "tidy").status == TaskStatus.RUNNING
    _finish_run(second)
    assert not SemaphoreClaim.objects.exists()


# --- crashes: no claim outlives what it claims for ---------------------------------


def test_a_crash_before_commit_leaves_no_claim_behind(
    user: Any, project: Project, woken: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker killed (-9) mid-plan never commits: its connection drops and
    # the claim goes with the task's start, written in the same transaction.
    create_semaphore(project, name="warehouse", limit=1)
    load = shell_task("load", synchronization={"semaphore": "warehouse"})
    run = _submit(_workflow(user, project, "orders", [load]), user)

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("killed after the claim was written")

    with monkeypatch.context() as patch:
        patch.setattr("workflows.services.advance._start_attempt", killed)
        with pytest.raises(RuntimeError):
            advance_run(run.pk)
    assert not SemaphoreClaim.objects.exists()
    assert (_status(run), _task(run, "load").status) == ("Pending", "Pending")
    advance_run(run.pk)  # the restarted worker's plan
    assert _holders("warehouse") == [(run.pk, "load")]


def test_an_attempt_lost_in_a_crash_gives_its_slot_back(
    user: Any, project: Project, woken: list[int]
) -> None:
    # After a restart the backend reports a process that died with the worker
    # as lost: the task ends, and its slot goes to the run waiting for it.
    orders, customers = _warehouse_pair(user, project)
    first, second = _submit(orders, user), _submit(customers, user)
    advance_run(first.pk)
    advance_run(second.pk)
    load = _task(first, "load")
    attempt = Attempt.objects.get(task_run=load, number=1)
    record_report(Report(attempt.pk, AttemptStatus.RUNNING, handle="fake"))
    record_report(
        Report(
            attempt.pk,
            AttemptStatus.ERROR,
            reason="ProcessLost",
            message="the process ended while no worker watched it",
        )
    )
    assert _task(first, "load").status == TaskStatus.ERROR
    assert _holders("warehouse") == []
    assert second.pk in woken
    advance_run(second.pk)
    assert _holders("warehouse") == [(second.pk, "load")]


def test_the_sweep_releases_claims_left_behind_and_wakes_their_waiters(
    user: Any, project: Project, woken: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from k8s_runner import reconcile

    orders, customers = _warehouse_pair(user, project)
    first, second = _submit(orders, user), _submit(customers, user)
    advance_run(first.pk)
    advance_run(second.pk)
    # What no service does (a bug, a hand-edited database): the task ended
    # and its claim stayed, which would keep the semaphore full for ever.
    TaskRun.objects.filter(run=first, name="load").update(status=TaskStatus.FAILED)
    planned: list[int] = []
    monkeypatch.setattr(reconcile, "reconcile", planned.append)
    reconcile.sweep()  # as after every restart, and every few seconds
    assert _holders("warehouse") == []
    assert SemaphoreClaim.objects.get().run_id == second.pk  # still in line
    assert woken == [second.pk]
    assert second.pk in planned
    [event] = RunEvent.objects.filter(run=first, data__reason="ClaimLeftBehind")
    assert event.message == (
        "released what it no longer held or waited for: semaphore warehouse (load)"
    )
    advance_run(second.pk)
    assert _holders("warehouse") == [(second.pk, "load")]
    # What matches its owner's state stays.
    assert concurrency.release_left_behind() == 0
    assert _holders("warehouse") == [(second.pk, "load")]


def test_a_finished_runs_claims_left_behind_are_released(
    user: Any, project: Project, woken: list[int]
) -> None:
    orders, customers = _warehouse_pair(user, project)
    first, second = _submit(orders, user), _submit(customers, user)
    advance_run(first.pk)
    advance_run(second.pk)
    Run.objects.filter(pk=second.pk).update(status=RunStatus.CANCELLED)
    assert concurrency.release_left_behind() == 1
    assert list(SemaphoreClaim.objects.values_list("run_id", "held")) == [
        (first.pk, True)
    ]
    assert woken == []  # it only waited: it freed no slot


# --- semaphores on a whole run ------------------------------------------------------


def test_a_run_holding_a_mutex_keeps_the_next_run_pending_until_it_ends(
    user: Any, project: Project, woken: list[int]
) -> None:
    nightly = _workflow(
        user,
        project,
        "nightly",
        [shell_task("a"), shell_task("b", dependencies=["a"])],
        synchronization={"mutex": "nightly"},
    )
    first, second = _submit(nightly, user), _submit(nightly, user)
    advance_run(first.pk)
    advance_run(second.pk)
    assert _status(second) == "Pending"
    assert second.message == f"waiting for mutex nightly (held by run {first.pk})"
    assert _holders("nightly") == [(first.pk, "")]
    _finish_run(first)
    assert woken == [second.pk]
    advance_run(second.pk)
    assert _status(second) == "Running"
    assert _holders("nightly") == [(second.pk, "")]


# --- defining, changing, deleting ---------------------------------------------------


def test_saving_a_workflow_that_names_an_undefined_semaphore_is_an_error_at_the_field(
    user: Any, project: Project
) -> None:
    tasks = [
        shell_task("a", synchronization={"mutex": "free-for-all"}),
        shell_task("b", synchronization={"semaphore": "warehouse"}),
    ]
    document = workflow_document(
        "etl",
        tasks,
        synchronization={"semaphore": "lanes"},
        onExit=[shell_task("tidy", synchronization={"semaphore": "warehouse"})],
    )
    with pytest.raises(SpecError) as raised:
        create_workflow(document, author=user, project=project)
    assert [(e.path, e.message) for e in raised.value.errors] == [
        (
            "spec.synchronization.semaphore",
            "semaphore 'lanes' is not defined in project team: a project admin "
            "defines it on the project page, or use a mutex (synchronization: "
            "{mutex: lanes})",
        ),
        (
            "spec.tasks[1].synchronization.semaphore",
            "semaphore 'warehouse' is not defined in project team: a project "
            "admin defines it on the project page, or use a mutex "
            "(synchronization: {mutex: warehouse})",
        ),
        (
            "spec.onExit[0].synchronization.semaphore",
            "semaphore 'warehouse' is not defined in project team: a project "
            "admin defines it on the project page, or use a mutex "
            "(synchronization: {mutex: warehouse})",
        ),
    ]
    create_semaphore(project, name="warehouse", limit=2)
    create_semaphore(project, name="lanes", limit=2)
    workflow = create_workflow(document, author=user, project=project)
    delete_semaphore(Semaphore.objects.get(name="lanes"))
    with pytest.raises(SpecError, match="semaphore 'lanes' is not defined"):
        update_workflow(workflow, {**document}, author=user, message="again")


def test_a_deleted_semaphore_ends_what_waits_for_it_as_an_error(
    user: Any, project: Project, woken: list[int]
) -> None:
    create_semaphore(project, name="warehouse", limit=1)
    load = shell_task("load", synchronization={"semaphore": "warehouse"})
    report = shell_task("report", dependencies=["load"])
    workflow = _workflow(user, project, "etl", [load, report])
    first, second = _submit(workflow, user), _submit(workflow, user)
    advance_run(first.pk)
    advance_run(second.pk)
    delete_semaphore(Semaphore.objects.get(name="warehouse"))
    assert woken == [second.pk]
    advance_run(second.pk)
    gone = _task(second, "load")
    assert (gone.status, gone.reason) == (TaskStatus.ERROR, "SemaphoreMissing")
    assert gone.message.startswith("semaphore warehouse is not defined")
    assert _task(second, "report").status == TaskStatus.UPSTREAM_FAILED
    assert _status(second) == "Failed"
    # The holder keeps its slot until it ends.
    assert _holders("warehouse") == [(first.pk, "load")]
    _finish_run(first)


def test_a_run_whose_own_semaphore_was_deleted_fails_saying_so(
    user: Any, project: Project, woken: list[int]
) -> None:
    create_semaphore(project, name="lanes", limit=1)
    workflow = _workflow(
        user, project, "etl", [shell_task("a")], synchronization={"semaphore": "lanes"}
    )
    delete_semaphore(Semaphore.objects.get(name="lanes"))
    run = _submit(workflow, user)
    advance_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.message.startswith("semaphore lanes is not defined in the project")
    assert _task(run, "a").status == TaskStatus.CANCELLED
    assert not SemaphoreClaim.objects.exists()


def test_raising_a_limit_wakes_the_oldest_waiter_and_lowering_stops_no_one(
    user: Any, project: Project, woken: list[int]
) -> None:
    orders, customers = _warehouse_pair(user, project)
    first, second = _submit(orders, user), _submit(customers, user)
    advance_run(first.pk)
    advance_run(second.pk)
    semaphore = Semaphore.objects.get(name="warehouse")
    update_semaphore(semaphore, limit=2)
    assert woken == [second.pk]
    advance_run(second.pk)
    assert len(_holders("warehouse")) == 2
    update_semaphore(semaphore, limit=1, description="one at a time")
    assert len(_holders("warehouse")) == 2  # nobody is stopped
    third = _submit(orders, user)
    advance_run(third.pk)
    assert _task(third, "load").message == (
        f"waiting for semaphore warehouse (2 of 1 held by run {first.pk}, "
        f"run {second.pk})"
    )
    used = usage(project)[("semaphore", "warehouse")]
    assert [(h.run, h.task) for h in used.holders] == [
        (first.pk, "load"),
        (second.pk, "load"),
    ]
    assert [(h.run, h.task) for h in used.waiting] == [(third.pk, "load")]


def test_a_plan_without_concurrency_pays_nothing_for_it(
    user: Any, project: Project
) -> None:
    workflow = _workflow(user, project, "plain", [shell_task("a"), shell_task("b")])
    run = _submit(workflow, user)
    with CaptureQueriesContext(connection) as queries:
        advance_run(run.pk)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "semaphore" not in sql
    assert "NO KEY UPDATE" not in sql
