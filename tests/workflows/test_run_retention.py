"""Run retention (FLOWDECK_RUN_RETENTION_DAYS): what goes (old finished runs
with their rows and log files) and what stays (anything live or needed by a
live run), idempotent and interruptible, and a live run's transitions never
wait for a batch (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from flowcore.states import AttemptStatus, RunStatus
from schedules.models import ScheduledFire
from schedules.services.editing import create_schedule
from tests.conftest import drive_run
from workflows import tasks
from workflows.models import Attempt, Run, RunEvent, TaskRun, Workflow
from workflows.services import run_retention
from workflows.services.advance import advance_run
from workflows.services.attempts import Report, record_report
from workflows.services.submit import submit_run

pytestmark = pytest.mark.django_db(transaction=True)

DAYS = 30


@pytest.fixture(autouse=True)
def _own_data_dir(settings: Any, tmp_path: Path) -> None:
    """Each test its own data directory: the orphan sweep looks at all of it."""
    settings.DATA_DIR = tmp_path / "data"


def aged(run: Run, days: float) -> Run:
    """Make `run` as old as `days` (created and, when finished, finished then)."""
    moment = timezone.now() - timedelta(days=days)
    Run.objects.filter(pk=run.pk).update(created_at=moment)
    Run.objects.filter(pk=run.pk, finished_at__isnull=False).update(finished_at=moment)
    return Run.objects.get(pk=run.pk)


def with_logs(run: Run) -> list[Path]:
    """Give each of the run's attempts a log file where the backends put one."""
    logs = []
    for attempt in Attempt.objects.filter(task_run__run=run).select_related("task_run"):
        log = (
            Path(settings.DATA_DIR)
            / "logs"
            / f"run-{run.pk}"
            / attempt.task_run.name
            / f"{attempt.number}.log"
        )
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("hello\n")
        log.with_suffix(".exit").write_text("0")
        Attempt.objects.filter(pk=attempt.pk).update(log_path=str(log))
        logs.append(log)
    work = Path(settings.DATA_DIR) / "work" / f"run-{run.pk}"
    work.mkdir(parents=True, exist_ok=True)
    return logs


def finished(diamond: Workflow, user: Any, days: float, **extra: Any) -> Run:
    run = drive_run(submit_run(diamond.latest_version, user=user))
    if extra:
        Run.objects.filter(pk=run.pk).update(**extra)
    return aged(run, days)


def prune(batch: int = run_retention.BATCH) -> list[int]:
    cutoff = timezone.now() - timedelta(days=DAYS)
    return [
        pk
        for done in run_retention.prune_runs(
            cutoff, data_dir=Path(settings.DATA_DIR), batch=batch
        )
        for pk in done.run_ids
    ]


def test_old_finished_runs_go_with_their_rows_and_logs(
    diamond: Workflow, user: Any
) -> None:
    old = finished(diamond, user, DAYS + 5)
    logs = with_logs(old)
    failed = aged(
        drive_run(
            submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
        ),
        DAYS + 1,
    )
    recent = finished(diamond, user, DAYS - 1)
    recent_logs = with_logs(recent)
    assert TaskRun.objects.filter(run=old).exists()

    assert sorted(prune()) == sorted([old.pk, failed.pk])

    for gone in (old, failed):
        assert not Run.objects.filter(pk=gone.pk).exists()
        assert not TaskRun.objects.filter(run_id=gone.pk).exists()
        assert not Attempt.objects.filter(task_run__run_id=gone.pk).exists()
        assert not RunEvent.objects.filter(run_id=gone.pk).exists()
    assert not any(log.exists() for log in logs)
    assert not (Path(settings.DATA_DIR) / "logs" / f"run-{old.pk}").exists()
    assert not (Path(settings.DATA_DIR) / "work" / f"run-{old.pk}").exists()
    assert Run.objects.filter(pk=recent.pk).exists()
    assert all(log.exists() for log in recent_logs)


def test_live_runs_and_runs_live_ones_need_stay(diamond: Workflow, user: Any) -> None:
    running = submit_run(diamond.latest_version, user=user)
    advance_run(running.pk)
    running = aged(running, DAYS + 5)
    assert running.status == RunStatus.RUNNING
    # A sub-workflow's run, finished, whose parent still runs: the parent
    # reads its outputs.
    child_of_live = finished(diamond, user, DAYS + 5, parent_run=running)
    # A finished parent whose child still runs, and one whose debug run does.
    parent = finished(diamond, user, DAYS + 5)
    live_child = submit_run(diamond.latest_version, user=user)
    Run.objects.filter(pk=live_child.pk).update(parent_run=parent)
    debugged = finished(diamond, user, DAYS + 5)
    live_debug = submit_run(diamond.latest_version, user=user)
    Run.objects.filter(pk=live_debug.pk).update(debug_of=debugged)

    assert prune() == []
    kept = {running.pk, child_of_live.pk, parent.pk, debugged.pk}
    assert set(Run.objects.filter(pk__in=kept).values_list("pk", flat=True)) == kept


def test_what_points_at_a_pruned_run_is_kept_without_it(
    diamond: Workflow, user: Any
) -> None:
    old = finished(diamond, user, DAYS + 5)
    resubmitted = submit_run(diamond.latest_version, user=user)
    Run.objects.filter(pk=resubmitted.pk).update(resubmitted_from=old)
    schedule = create_schedule(
        diamond,
        {"name": "hourly", "kind": "cron", "expression": "0 * * * *"},
        user=user,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    fire = ScheduledFire.objects.create(
        schedule=schedule,
        fire_time=datetime(2026, 1, 1, tzinfo=UTC),
        status=ScheduledFire.Status.STARTED,
        run=old,
    )

    assert prune() == [old.pk]

    resubmitted.refresh_from_db()
    fire.refresh_from_db()
    assert resubmitted.resubmitted_from_id is None
    assert fire.run_id is None


def test_it_is_idempotent_and_an_interrupted_pass_is_finished_by_the_next(
    diamond: Workflow, user: Any
) -> None:
    runs = [finished(diamond, user, DAYS + 5) for _ in range(3)]
    for run in runs:
        with_logs(run)
    cutoff = timezone.now() - timedelta(days=DAYS)
    data_dir = Path(settings.DATA_DIR)
    passes = run_retention.prune_runs(cutoff, data_dir=data_dir, batch=1)
    first = next(passes)
    passes.close()  # interrupted after its first batch
    assert first.run_ids == [runs[0].pk]
    assert Run.objects.filter(pk__in=[r.pk for r in runs[1:]]).count() == 2

    # A pass killed between its commit and its files leaves a directory.
    orphan = data_dir / "logs" / f"run-{runs[0].pk}" / "a"
    orphan.mkdir(parents=True)
    assert sorted(prune(batch=1)) == [runs[1].pk, runs[2].pk]
    assert prune() == []
    swept = run_retention.sweep_orphan_logs(
        data_dir, below=run_retention.first_kept_id(cutoff)
    )
    assert swept == 1 and not orphan.parent.exists()
    assert not Run.objects.filter(pk__in=[r.pk for r in runs]).exists()


def test_a_retry_between_the_choice_and_the_lock_saves_the_run(
    diamond: Workflow, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conditions are read again under the lock: a run reopened after the
    batch was chosen is not deleted."""
    old = finished(diamond, user, DAYS + 5)
    real_delete = run_retention._delete

    def reopened_first(cutoff: datetime, ids: list[int]) -> Any:
        Run.objects.filter(pk=old.pk).update(status=RunStatus.RUNNING)
        return real_delete(cutoff, ids)

    monkeypatch.setattr(run_retention, "_delete", reopened_first)
    assert prune() == []
    assert Run.objects.filter(pk=old.pk).exists()


def test_the_command_and_the_beat_task_prune_with_the_setting(
    diamond: Workflow, user: Any, settings: Any, capsys: Any
) -> None:
    settings.FLOWDECK_RUN_RETENTION_DAYS = 0
    with pytest.raises(CommandError, match="FLOWDECK_RUN_RETENTION_DAYS"):
        call_command("prune_runs")
    assert tasks.prune_runs() == 0

    first, second = (finished(diamond, user, DAYS + 5) for _ in range(2))
    call_command("prune_runs", days=DAYS, dry_run=True)
    assert "would delete 2 runs" in capsys.readouterr().out
    assert Run.objects.filter(pk__in=[first.pk, second.pk]).count() == 2
    call_command("prune_runs", days=DAYS, batch_size=1)
    assert "deleted 2 runs" in capsys.readouterr().out

    third = finished(diamond, user, DAYS + 5)
    settings.FLOWDECK_RUN_RETENTION_DAYS = DAYS
    assert tasks.prune_runs() == 1
    assert not Run.objects.filter(pk=third.pk).exists()


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="row locks: PostgreSQL",
)
def test_a_live_runs_transitions_proceed_while_a_batch_deletes(
    diamond: Workflow, user: Any
) -> None:
    olds = [finished(diamond, user, DAYS + 5) for _ in range(3)]
    live = submit_run(diamond.latest_version, user=user)
    launched = advance_run(live.pk).launch
    cutoff = timezone.now() - timedelta(days=DAYS)
    holding = threading.Event()
    release = threading.Event()
    outcome: dict[str, Any] = {}

    def batch_held_open() -> None:
        try:
            with transaction.atomic():
                outcome["deleted"] = run_retention._delete(
                    cutoff, [old.pk for old in olds]
                )
                holding.set()
                release.wait(30)  # the batch's locks stay held meanwhile
        finally:
            holding.set()
            connection.close()

    worker = threading.Thread(target=batch_held_open)
    worker.start()
    try:
        assert holding.wait(30)
        # With the batch open and uncommitted, the live run's attempt starts
        # and ends, and its successors launch: none of it may wait.
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        attempt = launched[0].attempt_id
        record_report(Report(attempt, AttemptStatus.RUNNING, handle="fake"))
        record_report(Report(attempt, AttemptStatus.SUCCEEDED, exit_code=0))
        live.refresh_from_db()
        assert live.status == RunStatus.RUNNING
        assert TaskRun.objects.get(run=live, name="a").status == "Succeeded"
        assert Attempt.objects.filter(task_run__run=live).count() > 1
    finally:
        release.set()
        worker.join(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert sorted(outcome["deleted"][0]) == sorted(old.pk for old in olds)
    assert not Run.objects.filter(pk__in=[old.pk for old in olds]).exists()


@pytest.mark.parametrize(("days", "scheduled"), [("0", False), ("30", True)])
def test_the_beat_runs_retention_only_when_it_is_on(days: str, scheduled: bool) -> None:
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json, webapp.settings as s; "
        "print(json.dumps(s.CELERY_BEAT_SCHEDULE.get('flowdeck-run-retention')))"
    )
    env = {**os.environ, "FLOWDECK_RUN_RETENTION_DAYS": days}
    env["FLOWDECK_RUN_RETENTION_SECONDS"] = "900"
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    entry = json.loads(out.stdout.strip().splitlines()[-1])
    if not scheduled:
        assert entry is None
        return
    assert entry["task"] == "workflows.tasks.prune_runs"
    assert entry["schedule"] == 900.0
    assert entry["options"] == {"expires": 1800.0}
