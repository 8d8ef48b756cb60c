"""The production topology for real: PostgreSQL, Redis as the broker, and a
Celery worker process running the local backend."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection

from flowcore.states import (
    TERMINAL_RUN_STATUSES,
    TERMINAL_TASK_STATUSES,
    UNSUCCESSFUL_TASK_STATUSES,
    RunStatus,
    TaskStatus,
)
from k8s_runner.management.commands.run_embedded import worker_command
from tests.conftest import (
    doubling_sub_workflows,
    requires_service,
    shell_task,
    workflow_document,
)
from workflows.models import Attempt, Run, TaskRun
from workflows.services.control import retry_run
from workflows.services.submit import create_workflow, submit_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    requires_service("REDIS_URL"),
]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def broker_url(settings) -> str:
    # A database of its own: the rest of the suite leaves stray messages in db 0.
    url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/3"
    redis.Redis.from_url(url).flushdb()
    settings.CELERY_BROKER_URL = url
    from webapp.celery import app

    app.conf.broker_url = url
    yield url
    app.conf.broker_url = settings.CELERY_BROKER_URL


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            worker_command(beat=True, loglevel="INFO"),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            # Its own group: the embedded beat is a child process to stop with it.
            start_new_session=True,
        )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def worker_env(broker_url: str, tmp_path: Path) -> dict[str, str]:
    if connection.vendor != "postgresql":
        pytest.skip("the production topology test needs PostgreSQL")
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "FLOWDECK_DATA_DIR": str(tmp_path / "worker-data"),
        "FLOWDECK_SWEEP_SECONDS": "1",
    }


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path):
    process = start_worker(worker_env, tmp_path / "worker.log")
    yield process
    stop_worker(process)
    if process.returncode not in (0, -15):
        sys.stderr.write((tmp_path / "worker.log").read_text())


def wait_for_end(run: Run, log: Path, timeout: float = 60) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in TERMINAL_RUN_STATUSES:
            return run
        time.sleep(0.1)
    tasks = dict(run.tasks.values_list("name", "status"))
    events = list(run.events.values_list("seq", "kind", "task", "status"))[-15:]
    raise AssertionError(
        f"run still {run.status} after {timeout}s; tasks {tasks}; last events "
        f"{events}; worker log:\n{log.read_text(errors='replace')[-6000:]}"
    )


def test_a_worker_process_runs_a_submitted_workflow_and_its_retry(
    worker, user, tmp_path
):
    marker = tmp_path / "fixed"
    doc = workflow_document(
        "through-redis",
        [
            shell_task("extract", "echo extracted"),
            shell_task(
                "load",
                f"test -e {marker} || {{ echo broken >&2; exit 2; }}",
                dependencies=["extract"],
            ),
            shell_task("report", dependencies=["load"]),
        ],
    )
    workflow = create_workflow(doc, author=user)
    # submit_run hands the run to the worker through Redis on commit.
    log = tmp_path / "worker.log"
    run = wait_for_end(submit_run(workflow.latest_version, user=user), log)
    assert run.status == RunStatus.FAILED
    failed = Attempt.objects.get(task_run__run=run, task_run__name="load")
    assert failed.exit_code == 2
    assert Path(failed.log_path).read_text() == "broken\n"

    marker.touch()
    retry_run(run.pk, user=user)
    run = wait_for_end(run, log)
    assert run.status == RunStatus.SUCCEEDED
    assert dict(run.tasks.values_list("name", "attempts_count")) == {
        "extract": 1,
        "load": 2,
        "report": 1,
    }


def test_a_worker_killed_mid_run_loses_no_task_and_starts_none_twice(
    worker_env, user, tmp_path
):
    # No retries: a task run twice, or reported lost, would fail the run.
    doc = workflow_document(
        "survives-a-crash",
        [
            shell_task("first", "echo first"),
            shell_task("slow", "sleep 3; echo slept", dependencies=["first"]),
            # Reads slow's result: the value must cross the crash too.
            shell_task(
                "last", "echo got {{tasks.slow.outputs.result}}", dependencies=["slow"]
            ),
        ],
    )
    workflow = create_workflow(doc, author=user)
    log = tmp_path / "worker.log"
    first_worker = start_worker(worker_env, log)
    run = submit_run(workflow.latest_version, user=user)
    deadline = time.monotonic() + 60
    slow = None
    while time.monotonic() < deadline:
        slow = Attempt.objects.filter(
            task_run__run=run, task_run__name="slow", status="Running"
        ).first()
        if slow is not None:
            break
        time.sleep(0.05)
    assert slow is not None, log.read_text()
    # SIGKILL the worker and its beat: no shutdown code runs. The task's process
    # lives on in its own session.
    os.killpg(first_worker.pid, signal.SIGKILL)
    first_worker.wait()
    second_worker = start_worker(worker_env, log)
    try:
        run = wait_for_end(run, log)
    finally:
        stop_worker(second_worker)
    assert run.status == RunStatus.SUCCEEDED, log.read_text()[-3000:]
    attempts = list(
        Attempt.objects.filter(task_run__run=run)
        .order_by("task_run__position", "number")
        .values_list("task_run__name", "number", "status", "reason")
    )
    # The adopted attempt's wrapper kept its exit status across the crash: it
    # ran once, and its true result was recorded.
    assert attempts == [
        ("first", 1, "Succeeded", ""),
        ("slow", 1, "Succeeded", ""),
        ("last", 1, "Succeeded", ""),
    ]
    slow = Attempt.objects.get(task_run__run=run, task_run__name="slow")
    assert slow.exit_code == 0
    assert Path(slow.log_path).read_text() == "slept\n"
    last = Attempt.objects.get(task_run__run=run, task_run__name="last")
    assert Path(last.log_path).read_text() == "got slept\n"


def fan_out_document(name: str, ledger: Path, items: int = 50) -> dict[str, Any]:
    """A fan-out of `items` instances, 10 at a time, each writing its item to
    its own ledger file (a rerun writes it twice) and leaving its double; a
    fan-in task sums them. No retries: a rerun or a lost end fails the run."""
    return workflow_document(
        name,
        [
            shell_task(
                "each",
                f"echo {{{{item}}}} >> {ledger}/{{{{item}}}}; sleep 0.5; "
                "echo $(( {{item}} * 2 ))",
                withSequence={"count": items},
                parallelism=10,
            ),
            {
                "name": "sum",
                "image": "busybox:1.36",
                "dependencies": ["each"],
                "command": [
                    "python3",
                    "-c",
                    "import json, sys; print(sum(json.loads(sys.argv[1])))",
                    "{{tasks.each.outputs.result}}",
                ],
            },
        ],
        defaults={"retry": {"limit": 0}},
    )


def fan_counts(run: Run, group: str) -> tuple[tuple[int, int, int], tuple[int, int]]:
    """The fan-out's own counts (instances, done, failed), and what its
    instances' rows say (done, failed)."""
    fan = TaskRun.objects.get(run=run, name=group)
    instances = list(
        TaskRun.objects.filter(run=run, fan_group=group).values_list(
            "status", flat=True
        )
    )
    done = sum(TaskStatus(s) in TERMINAL_TASK_STATUSES for s in instances)
    failed = sum(TaskStatus(s) in UNSUCCESSFUL_TASK_STATUSES for s in instances)
    return (fan.fan_out or 0, fan.fan_done, fan.fan_failed), (done, failed)


def test_a_worker_killed_mid_fan_out_runs_every_instance_exactly_once(
    worker_env, user, tmp_path
):
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    env = {**worker_env, "FLOWDECK_LOCAL_SLOTS": "10"}
    workflow = create_workflow(fan_out_document("fan-out-crash", ledger), author=user)
    log = tmp_path / "worker.log"
    first_worker = start_worker(env, log)
    run = submit_run(workflow.latest_version, user=user)
    deadline = time.monotonic() + 90
    instances = TaskRun.objects.filter(run=run, fan_group="each")
    while time.monotonic() < deadline:
        done = instances.filter(status__in=TERMINAL_TASK_STATUSES).count()
        running = instances.filter(status=TaskStatus.RUNNING).count()
        if done >= 15 and running >= 5:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the fan-out never got going:\n{log.read_text()}")
    os.killpg(first_worker.pid, signal.SIGKILL)
    first_worker.wait()
    # What the dead worker committed is consistent: counts and rows agree.
    counted, seen = fan_counts(run, "each")
    assert counted[0] == 50 and counted[1:] == seen, (counted, seen)
    assert 0 < seen[0] < 50, "killed mid-fan-out"
    second_worker = start_worker(env, log)
    try:
        run = wait_for_end(run, log, timeout=120)
    finally:
        stop_worker(second_worker)
    unsuccessful = list(
        Attempt.objects.filter(task_run__run=run)
        .exclude(status="Succeeded")
        .values_list("task_run__name", "status", "reason", "message")
    )
    assert run.status == RunStatus.SUCCEEDED, (unsuccessful, log.read_text()[-3000:])
    assert fan_counts(run, "each") == ((50, 50, 0), (50, 0))
    # Every instance ran exactly once: one attempt each, one line in its ledger.
    attempts = Counter(
        Attempt.objects.filter(task_run__run=run).values_list(
            "task_run__name", "status"
        )
    )
    assert attempts == Counter(
        {(f"each[{i}]", "Succeeded"): 1 for i in range(50)} | {("sum", "Succeeded"): 1}
    )
    for i in range(50):
        assert (ledger / str(i)).read_text() == f"{i}\n", i
    # Each instance's end was recorded once, and its value reached the fan-in.
    ends = Counter(
        run.events.filter(kind="task", status="Succeeded").values_list(
            "task", flat=True
        )
    )
    assert set(ends.values()) == {1} and len(ends) == 52
    total = Attempt.objects.get(task_run__run=run, task_run__name="sum")
    assert json.loads(total.request["command"][-1]) == [2 * i for i in range(50)]
    assert Path(total.log_path).read_text() == f"{2 * sum(range(50))}\n"


def test_a_worker_killed_mid_sub_workflow_runs_every_child_exactly_once(
    worker_env, user, tmp_path
):
    """kill -9 of the worker while a fan-out of sub-workflows runs: some child
    runs ended, some with their task's process running (it outlives the
    worker), the rest not started. After a restart every item has one child
    run whose task ran once, and the parent read every child's output once."""
    items = 6
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    n = "{{params.n}}"
    # A rerun writes its n to the ledger twice.
    child_doc, parent_doc = doubling_sub_workflows(
        items, f"echo {n} >> {ledger}/{n}; sleep 1; echo $(( {n} * 2 ))"
    )
    create_workflow(child_doc, author=user)
    workflow = create_workflow(parent_doc, author=user)
    log = tmp_path / "worker.log"
    first_worker = start_worker(worker_env, log)
    run = submit_run(workflow.latest_version, user=user)
    children = Run.objects.filter(parent_run=run)
    child_attempts = Attempt.objects.filter(task_run__run__parent_run=run)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ended = children.filter(status=RunStatus.SUCCEEDED).count()
        running = child_attempts.filter(status="Running").count()
        if ended >= 2 and running >= 1:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the sub-workflows never got going:\n{log.read_text()}")
    os.killpg(first_worker.pid, signal.SIGKILL)
    first_worker.wait()
    counted, seen = fan_counts(run, "each")
    assert counted[0] == items and counted[1:] == seen, (counted, seen)
    assert children.count() < items, "killed mid-fan-out"
    second_worker = start_worker(worker_env, log)
    try:
        run = wait_for_end(run, log, timeout=120)
    finally:
        stop_worker(second_worker)
    unsuccessful = list(
        Attempt.objects.filter(task_run__run__in=[run, *children])
        .exclude(status="Succeeded")
        .values_list("task_run__run_id", "task_run__name", "status", "message")
    )
    assert run.status == RunStatus.SUCCEEDED, (unsuccessful, log.read_text()[-3000:])
    assert fan_counts(run, "each") == ((items, items, 0), (items, 0))
    # One child run per item, each Succeeded with its item as its parameter.
    assert sorted(
        children.values_list("parent_task", "status", "parameters")
    ) == sorted((f"each[{i}]", "Succeeded", {"n": str(i)}) for i in range(items))
    # One attempt per parent task (an instance's is its child run), one per
    # child's task, and each child's task ran once: one line in its ledger.
    assert Counter(
        Attempt.objects.filter(task_run__run=run).values_list(
            "task_run__name", "status"
        )
    ) == Counter(
        {(f"each[{i}]", "Succeeded"): 1 for i in range(items)}
        | {("sum", "Succeeded"): 1}
    )
    assert Counter(child_attempts.values_list("task_run__name", "status")) == Counter(
        {("calc", "Succeeded"): items}
    )
    assert child_attempts.count() == items
    for i in range(items):
        assert (ledger / str(i)).read_text() == f"{i}\n", i
    # Each instance's end was recorded once, and the fan-in read every value.
    ends = Counter(
        run.events.filter(kind="task", status="Succeeded").values_list(
            "task", flat=True
        )
    )
    assert set(ends.values()) == {1} and len(ends) == items + 2
    total = Attempt.objects.get(task_run__run=run, task_run__name="sum")
    assert json.loads(total.request["command"][-1]) == [2 * i for i in range(items)]
    assert Path(total.log_path).read_text() == f"{2 * sum(range(items))}\n"
