"""Elected beats (webapp/beat.py): only the leader sends, a deposed beat's
tick claims nothing, and across a kill -9 of the leader every fire time
fires once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from k8s_runner.management.commands.run_embedded import worker_command
from schedules import tasks
from schedules.models import Schedule, ScheduledFire
from schedules.services import firing
from tests.conftest import requires_service
from tests.k8s_runner.flowdeck_kube import database_url, wait_until
from workflows.models import Run
from workflows.services import leadership, submit
from workflows.services.leadership import Fence, NotLeader

pytestmark = pytest.mark.django_db(transaction=True)

LEASE, RENEW, RETRY = 3.0, 2.0, 0.5


def test_a_tick_of_a_deposed_beat_claims_no_fire(
    make_schedule: Callable[..., Schedule], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit, "request_reconcile", lambda run_id, at=None: None)
    make_schedule(now=timezone.now() - timedelta(hours=2))
    stale = leadership.raise_fence(leadership.BEAT, "beat-a")
    current = leadership.raise_fence(leadership.BEAT, "beat-b")
    tasks.tick(fence=stale)
    assert ScheduledFire.objects.count() == 0
    with leadership.fencing(Fence(leadership.BEAT, stale)), pytest.raises(NotLeader):
        firing.tick(timezone.now())
    tasks.tick(fence=current)
    assert ScheduledFire.objects.count() == Run.objects.count() == 1
    tasks.tick()  # an unelected beat's tick: no fence to check
    assert ScheduledFire.objects.count() == 1


class Process:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=django_settings.BASE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def beat_env(tmp_path: Path, settings: Any) -> Iterator[dict[str, str]]:
    if connection.vendor != "postgresql":
        pytest.skip("processes sharing the database need PostgreSQL")
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis")
    url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/4"
    redis.Redis.from_url(url).flushdb()
    yield {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "FLOWDECK_DATA_DIR": str(tmp_path / "data"),
        "FLOWDECK_SCHEDULE_TICK_SECONDS": "0.5",
        "FLOWDECK_SWEEP_SECONDS": "1",
        "FLOWDECK_LEADER_ELECTION": "database",
        "FLOWDECK_LEADER_LEASE_SECONDS": str(LEASE),
        "FLOWDECK_LEADER_RENEW_SECONDS": str(RENEW),
        "FLOWDECK_LEADER_RETRY_SECONDS": str(RETRY),
    }


def beat(env: dict[str, str], tmp_path: Path, name: str) -> Process:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "webapp",
        "beat",
        "--loglevel=INFO",
        "--schedule",
        str(tmp_path / f"{name}-schedule"),
    ]
    return Process(command, env, tmp_path / f"{name}.log")


SENDS = "Sending due task flowdeck-schedules"


@pytest.mark.slow
@requires_service("REDIS_URL")
def test_two_beats_fire_each_time_once_across_a_kill_of_the_leader(
    beat_env: dict[str, str],
    make_schedule: Callable[..., Schedule],
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.FLOWDECK_SCHEDULE_MIN_INTERVAL = 1
    (tmp_path / "data").mkdir()
    # The every-minute schedule, shortened to every 2 s (the settings allow
    # it), with every missed time caught up: a gap would show as a late fire,
    # a duplicate as two.
    schedule = make_schedule(
        now=timezone.now(),
        name="often",
        kind="interval",
        expression="every 2s",
        catch_up="all",
    )
    worker = Process(worker_command(beat=False), beat_env, tmp_path / "worker.log")
    first = beat(beat_env, tmp_path, "a")
    second: Process | None = None
    try:
        wait_until(lambda: SENDS in first.output(), 60, "the first beat to send")
        second = beat(beat_env, tmp_path, "b")
        wait_until(lambda: "campaigns" in second.output(), 60, "the second beat")
        time.sleep(4)
        assert SENDS not in second.output()  # a follower sends nothing
        first.kill()
        killed = time.monotonic()
        wait_until(lambda: SENDS in second.output(), 30, "the takeover")
        assert time.monotonic() - killed <= LEASE + 2 * RETRY + 2.0
        time.sleep(5)
    finally:
        first.kill()
        if second is not None:
            second.stop()
        worker.stop()
    times = list(
        ScheduledFire.objects.filter(schedule=schedule)
        .order_by("fire_time")
        .values_list("fire_time", flat=True)
    )
    assert len(times) >= 6, times
    assert len(set(times)) == len(times)
    steps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert steps == {timedelta(seconds=2)}, times  # none missed, none twice
    assert Run.objects.filter(workflow=schedule.workflow).count() == len(times)
