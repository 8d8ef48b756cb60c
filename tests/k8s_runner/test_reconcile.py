"""Whole runs through the database, the reconcile step and the real local
backend, in-process; and the race of two reconcilers on PostgreSQL."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from flowcore.states import TERMINAL_RUN_STATUSES, RunStatus, TaskStatus
from k8s_runner import reconcile
from k8s_runner.pod_request import PodRequest
from tests.conftest import shell_task, workflow_document
from workflows.models import Attempt, Run
from workflows.services.advance import advance_run
from workflows.services.control import cancel_run, retry_run
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quiet_backend():
    """Let every process end and every report be recorded before the test's
    database is flushed: a late write would race the flush (and deadlock it)."""
    yield
    backend = reconcile.get_backend()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if backend.idle() and reconcile.report_pump.unrecorded() == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the local backend or the report pump did not go quiet")


def wait_for_end(run: Run, timeout: float = 20) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in TERMINAL_RUN_STATUSES:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run still {run.status} after {timeout}s")


def test_a_workflow_runs_end_to_end_on_the_local_backend(user):
    doc = workflow_document(
        "e2e",
        [
            shell_task("a", "echo from a"),
            shell_task("b", "echo from b", dependencies=["a"]),
            shell_task("c", "echo from c", dependencies=["a"]),
            shell_task("d", "echo done", dependencies=["b", "c"]),
        ],
    )
    workflow = create_workflow(doc, author=user)
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    run = wait_for_end(run)
    assert run.status == RunStatus.SUCCEEDED
    attempt = Attempt.objects.get(task_run__run=run, task_run__name="b")
    assert attempt.exit_code == 0 and attempt.handle
    with open(attempt.log_path) as log:
        assert log.read() == "from b\n"


def test_a_task_runs_even_where_an_attempt_of_a_reset_database_left_its_end(
    user, tmp_path
):
    """After the database is reset (the embedded SQLite file deleted, say), run
    and attempt ids come again while the data directory keeps what their
    namesakes left: a new attempt must run, not take an old end for its own."""
    marker = tmp_path / "ran"
    doc = workflow_document("again", [shell_task("t", f"echo ran > {marker}; exit 4")])
    workflow = create_workflow(doc, author=user)
    run = submit_run(workflow.latest_version, user=user)
    backend = reconcile.get_backend()
    left = backend.files(PodRequest(0, run.pk, "", 0, "t", 1, None, (), ()))
    left.log.parent.mkdir(parents=True)
    left.pid.write_text("1:1\n2000-01-01T00:00:00+00:00\n")  # long gone
    left.exit.write_text("0\n")  # an old success
    reconcile.reconcile(run.pk)
    run = wait_for_end(run)
    assert run.status == RunStatus.FAILED
    assert marker.read_text() == "ran\n"
    assert Attempt.objects.get(task_run__run=run).exit_code == 4


def test_a_failed_run_retried_reruns_only_the_failed_branch(user, tmp_path):
    marker = tmp_path / "second-time"
    doc = workflow_document(
        "flaky",
        [
            shell_task("a"),
            shell_task(
                "b",
                f"test -e {marker} || {{ touch {marker}; exit 4; }}",
                dependencies=["a"],
            ),
            shell_task("c", dependencies=["a"]),
            shell_task("d", dependencies=["b"]),
        ],
    )
    workflow = create_workflow(doc, author=user)
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    run = wait_for_end(run)
    assert run.status == RunStatus.FAILED
    assert Attempt.objects.get(task_run__run=run, task_run__name="b").exit_code == 4
    assert retry_run(run.pk) == ["b", "d"]
    reconcile.reconcile(run.pk)
    run = wait_for_end(run)
    assert run.status == RunStatus.SUCCEEDED
    attempts = dict(run.tasks.values_list("name", "attempts_count"))
    assert attempts == {"a": 1, "b": 2, "c": 1, "d": 1}


def test_a_timed_out_task_is_killed_and_retried_then_fails(user):
    doc = workflow_document(
        "slow",
        [
            shell_task(
                "s",
                "sleep 30",
                timeout="1s",
                retry={"limit": 1, "backoff": {"delay": "1s"}},
            )
        ],
    )
    workflow = create_workflow(doc, author=user)
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        # The sweep stands in for the beat: it wakes the retry after its backoff.
        reconcile.sweep()
        run.refresh_from_db()
        if run.status in TERMINAL_RUN_STATUSES:
            break
        time.sleep(0.2)
    assert run.status == RunStatus.FAILED
    reasons = list(
        Attempt.objects.filter(task_run__run=run).values_list("reason", flat=True)
    )
    assert reasons == ["DeadlineExceeded", "DeadlineExceeded"]


def test_cancelling_a_run_stops_its_running_processes(user):
    doc = workflow_document("long", [shell_task("s", "sleep 30")])
    workflow = create_workflow(doc, author=user)
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    attempt = Attempt.objects.get(task_run__run=run)
    deadline = time.monotonic() + 10
    while not attempt.handle and time.monotonic() < deadline:
        time.sleep(0.05)
        attempt.refresh_from_db()
    cancel_run(run.pk)
    reconcile.reconcile(run.pk)
    run = wait_for_end(run)
    assert run.status == RunStatus.CANCELLED
    pid = int(attempt.handle.split(":")[0])
    from k8s_runner.backends.local import process_start_time

    deadline = time.monotonic() + 7
    while process_start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_start_time(pid) is None


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
def test_two_reconcilers_racing_on_postgresql_never_start_a_task_twice(user):
    tasks = [shell_task(f"t{i}") for i in range(20)]
    workflow = create_workflow(workflow_document("race", tasks), author=user)
    runs = [submit_run(workflow.latest_version, user=user) for _ in range(10)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def reconcile_all() -> None:
        try:
            barrier.wait()
            for run in runs:
                advance_run(run.pk)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=reconcile_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for run in runs:
        assert Attempt.objects.filter(task_run__run=run).count() == 20
        assert set(run.tasks.values_list("status", flat=True)) == {TaskStatus.RUNNING}
        assert run.events.filter(kind="attempt", status="Launching").count() == 20


def test_the_sweep_settles_an_attempt_whose_process_ended_unreported(user):
    from datetime import timedelta

    from django.utils import timezone

    from flowcore.states import AttemptStatus
    from workflows.services.attempts import Report, record_report

    workflow = create_workflow(
        workflow_document("lost", [shell_task("t", retry={"limit": 0})]), author=user
    )
    run = submit_run(workflow.latest_version, user=user)
    launch = advance_run(run.pk, backend="local").launch[0]
    # As if a worker recorded the start, then died before the end was reported.
    gone = subprocess.Popen(["true"])
    gone.wait()
    record_report(
        Report(
            launch.attempt_id,
            AttemptStatus.RUNNING,
            handle=f"{gone.pid}:0",
            at=timezone.now() - timedelta(minutes=5),
        )
    )
    reconcile.sweep()
    run = wait_for_end(run)
    attempt = Attempt.objects.get(pk=launch.attempt_id)
    assert (attempt.status, attempt.reason) == ("Error", "ProcessLost")
    assert run.status == RunStatus.FAILED


def test_launches_that_lose_the_race_with_a_cancel_start_nothing(user, tmp_path):
    ledger = tmp_path / "started"
    doc = workflow_document(
        "cancelled-early",
        [shell_task(f"t{n}", f"echo t{n} >> {ledger}; sleep 30") for n in range(4)],
    )
    workflow = create_workflow(doc, author=user)
    run = submit_run(workflow.latest_version, user=user)
    # The plan is committed (attempts Launching) but its launches are still on
    # their way to the backend when the cancel is planned and carried out.
    planned = advance_run(run.pk, backend="local")
    assert len(planned.launch) == 4
    cancel_run(run.pk)
    reconcile.reconcile(run.pk)
    reconcile.carry_out(planned)
    run = wait_for_end(run)
    assert run.status == RunStatus.CANCELLED
    time.sleep(0.5)
    assert not ledger.exists(), "a task of the cancelled run started"
    statuses = set(Attempt.objects.filter(task_run__run=run).values_list("status"))
    assert statuses == {("Cancelled",)}


def test_a_process_reported_started_after_its_cancel_is_stopped_and_recorded(user):
    from flowcore.states import AttemptStatus
    from workflows.services.attempts import Report, record_reports

    workflow = create_workflow(
        workflow_document("stray", [shell_task("t", "sleep 30")]), author=user
    )
    run = submit_run(workflow.latest_version, user=user)
    launch = advance_run(run.pk, backend="local").launch[0]
    cancel_run(run.pk)
    advance_run(run.pk, backend="local")  # the attempt is Cancelled, never launched
    # Another worker's launch got through anyway: its process reports Running.
    stray = subprocess.Popen(["sleep", "30"], start_new_session=True)
    from k8s_runner.backends.local import process_start_time

    handle = f"{stray.pid}:{process_start_time(stray.pid)}"
    try:
        [advance] = record_reports(
            [Report(launch.attempt_id, AttemptStatus.RUNNING, handle=handle)]
        )
        assert advance.cancel == [launch.attempt_id]
        reconcile.carry_out(advance)
        stray.wait(timeout=10)  # stopped by its handle
    finally:
        if stray.poll() is None:
            stray.kill()
    attempt = Attempt.objects.get(pk=launch.attempt_id)
    assert (attempt.status, attempt.handle) == ("Cancelled", handle)
    assert run.events.filter(data__reason="StartedAfterCancel").count() == 1
    # A repeated report (the watcher's next event) stops it again, quietly.
    assert record_reports(
        [Report(launch.attempt_id, AttemptStatus.RUNNING, handle=handle)]
    )[0].cancel == [launch.attempt_id]
    assert run.events.filter(data__reason="StartedAfterCancel").count() == 1


def test_one_runs_failing_reports_neither_block_nor_lose_another_runs(
    user, monkeypatch
):
    from flowcore.states import AttemptStatus
    from workflows.services import attempts as attempts_service
    from workflows.services.attempts import Report, record_reports

    workflow = create_workflow(
        workflow_document("pair", [shell_task("t")]), author=user
    )
    bad = submit_run(workflow.latest_version, user=user)
    good = submit_run(workflow.latest_version, user=user)
    bad_launch = advance_run(bad.pk, backend="local").launch[0]
    good_launch = advance_run(good.pk, backend="local").launch[0]
    apply_report = attempts_service._apply_report

    def broken(txn, attempt, report):
        if txn.run.pk == bad.pk:
            raise OverflowError("date value out of range")
        return apply_report(txn, attempt, report)

    monkeypatch.setattr(attempts_service, "_apply_report", broken)
    # The bad run's report comes first in the batch.
    record_reports(
        [
            Report(bad_launch.attempt_id, AttemptStatus.SUCCEEDED, exit_code=0),
            Report(good_launch.attempt_id, AttemptStatus.SUCCEEDED, exit_code=0),
        ]
    )
    good.refresh_from_db()
    assert good.status == RunStatus.SUCCEEDED
    failed = Attempt.objects.get(pk=bad_launch.attempt_id)
    assert (failed.status, failed.reason) == ("Error", "RecordFailed")
    assert "OverflowError: date value out of range" in failed.message
    assert bad.tasks.get().status == TaskStatus.ERROR


@pytest.mark.parametrize("restart", ["sweep", "recover"])
def test_a_crash_between_a_fan_out_s_expansion_and_its_launches_loses_nothing(
    user, tmp_path, monkeypatch, restart
):
    """The plan that expands a fan-out commits its instances and the first
    attempts (Launching), then the process dies before launching any. The
    sweep (once they are stale) or a restarted worker's recovery launches
    them; every instance runs once and the fan-in reads every value."""
    from flowcore.states import AttemptStatus

    ledger = tmp_path / "ledger"
    ledger.mkdir()
    doc = workflow_document(
        "expanded",
        [
            shell_task(
                "each",
                f"echo {{{{item}}}} >> {ledger}/{{{{item}}}}; echo {{{{item}}}}",
                withSequence={"count": 50},
                parallelism=10,
            ),
            shell_task(
                "gather",
                "echo {{tasks.each.outputs.result}}",
                dependencies=["each"],
            ),
        ],
        defaults={"retry": {"limit": 0}},
    )
    workflow = create_workflow(doc, author=user)
    run = submit_run(workflow.latest_version, user=user)
    lost = advance_run(run.pk, backend="local")  # committed, never carried out
    fan = run.tasks.get(name="each")
    assert (fan.status, fan.fan_out) == (TaskStatus.EXPANDED, 50)
    assert len(lost.launch) == 10
    launching = Attempt.objects.filter(task_run__run=run, handle="")
    assert set(launching.values_list("status", flat=True)) == {"Launching"}
    assert launching.count() == 10

    if restart == "sweep":
        reconcile.sweep()  # not stale yet: neither relaunched nor started anew
        time.sleep(0.3)
        assert Attempt.objects.filter(task_run__run=run).count() == 10
        assert not any(ledger.iterdir())
        monkeypatch.setattr(reconcile, "STALE_LAUNCH", timedelta(0))
        reconcile.sweep()
    else:
        reconcile.recover()
    run = wait_for_end(run, timeout=60)
    assert run.status == RunStatus.SUCCEEDED
    fan.refresh_from_db()
    assert (fan.status, fan.fan_out, fan.fan_done, fan.fan_failed) == (
        TaskStatus.SUCCEEDED,
        50,
        50,
        0,
    )
    attempts = Counter(
        Attempt.objects.filter(task_run__run=run).values_list(
            "task_run__name", "number", "status"
        )
    )
    expected = {(f"each[{i}]", 1, AttemptStatus.SUCCEEDED): 1 for i in range(50)}
    assert attempts == Counter(expected | {("gather", 1, AttemptStatus.SUCCEEDED): 1})
    for i in range(50):
        assert (ledger / str(i)).read_text() == f"{i}\n"
    gather = Attempt.objects.get(task_run__run=run, task_run__name="gather")
    assert Path(gather.log_path).read_text() == f"{list(range(50))}\n"


class _SlowPodBackend:
    """Creates take a while, as against an API server: a launch returns only
    once `together` launches are in flight at the same time."""

    name = "slow-pods"
    parallel_launches = True

    def __init__(self, together: int, refuse: set[int]) -> None:
        self.barrier = threading.Barrier(together, timeout=10)
        self.refuse = refuse
        self.threads: set[int] = set()

    def idle(self) -> bool:
        return True

    def launch(self, request):
        from k8s_runner.backends.base import BackendError

        self.threads.add(threading.get_ident())
        if request.attempt_id in self.refuse:
            raise BackendError("refused for good", permanent=True)
        self.barrier.wait()


def test_a_batchs_launches_are_in_flight_together_and_failures_recorded_here(
    monkeypatch,
):
    """The pump launches every successor of a batch at once where the backend
    allows it; what failed for good is recorded by the calling thread, in
    launch order (its database connection, its transaction order)."""
    from workflows.services.advance import Advance, Launch

    backend = _SlowPodBackend(together=4, refuse={5, 6})
    monkeypatch.setattr(reconcile, "_backend", backend)
    failed: list[tuple[int, int]] = []
    monkeypatch.setattr(
        reconcile,
        "_launch_failed",
        lambda request, message, reason="": failed.append(
            (request.attempt_id, threading.get_ident())
        ),
    )

    def launch(attempt_id: int, run_id: int) -> Launch:
        request = {"image": "busybox", "command": ["true"]}
        return Launch(attempt_id, run_id, "w", 1, f"t{attempt_id}", 1, request)

    advances = [
        Advance(1, launch=[launch(1, 1), launch(2, 1), launch(5, 1)]),
        Advance(2, launch=[launch(3, 2), launch(4, 2), launch(6, 2)]),
    ]
    reconcile.carry_out_all(advances)  # the barrier of 4 would time out one by one
    assert len(backend.threads) >= 4
    assert failed == [(5, threading.get_ident()), (6, threading.get_ident())]
