"""`kind: Job` on the local backend: its completions run as processes the way
the Job controller runs pods (parallelism up to the slots, the backoff limit,
the pod failure policy's exit codes, the deadline, JOB_COMPLETION_INDEX)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from flowcore.states import AttemptStatus
from k8s_runner.backends.base import BackendError, LiveAttempt
from k8s_runner.backends.local import LocalBackend, job_status_path
from k8s_runner.backends.local_job import rule_action
from tests.k8s_runner.test_local_backend import TERMINAL, Reports, request


@pytest.fixture
def reports() -> Reports:
    return Reports()


def job(**fields: Any) -> dict[str, Any]:
    base = {
        "completions": 1,
        "parallelism": 1,
        "completion_mode": "NonIndexed",
        "backoff_limit": 0,
        "active_deadline_seconds": None,
        "ttl_seconds_after_finished": None,
        "pod_failure_policy": None,
    }
    return {**base, **fields}


def index_logs(log: Path) -> dict[str, str]:
    return {
        path.name: path.read_text()
        for path in sorted(log.parent.glob(f"{log.stem}.*.log"))
    }


def test_an_indexed_job_runs_every_index_with_its_number_up_to_the_slots(
    reports: Reports, tmp_path: Path
) -> None:
    backend = LocalBackend(reports, data_dir=tmp_path, slots=2)
    trace = tmp_path / "trace"
    script = (
        f'echo "start $JOB_COMPLETION_INDEX $(date +%s.%N)" >> {trace}; sleep 0.3; '
        'echo "shard $JOB_COMPLETION_INDEX"'
    )
    backend.launch(
        request(
            1,
            script,
            job=job(completions=4, parallelism=3, completion_mode="Indexed"),
        )
    )
    running = reports.wait_for(1, {AttemptStatus.RUNNING})
    done = reports.wait_for(1, TERMINAL)
    assert (done.status, done.message) == (
        AttemptStatus.SUCCEEDED,
        "4 of 4 completions succeeded",
    )
    log = Path(running.log_path)
    assert index_logs(log) == {f"1.{i}.log": f"shard {i}\n" for i in range(4)}
    # The attempt's own log tells what happened, a line per completion.
    assert sorted(
        line.split(" pod ")[0] + " " + line.split()[-1]
        for line in log.read_text().splitlines()
    ) == [f"index {i}: succeeded" for i in range(4)]
    # At most 2 at once (the slots), though parallelism says 3.
    starts = sorted(float(line.split()[2]) for line in trace.read_text().splitlines())
    assert starts[2] - starts[0] >= 0.25
    status = json.loads(job_status_path(log).read_text())
    assert (status["succeeded"], status["failed"], status["pods"]) == (4, 0, 4)


def test_failures_are_retried_up_to_the_backoff_limit(
    reports: Reports, tmp_path: Path
) -> None:
    backend = LocalBackend(reports, data_dir=tmp_path, slots=2)
    counter = tmp_path / "count"
    # Fails twice, then succeeds: within a backoffLimit of 2.
    script = (
        f"echo x >> {counter}; n=$(wc -l < {counter}); "
        '[ "$n" -ge 3 ] && echo ok || { echo "try $n"; exit 7; }'
    )
    backend.launch(request(2, script, job=job(backoff_limit=2)))
    done = reports.wait_for(2, TERMINAL)
    assert done.status == AttemptStatus.SUCCEEDED
    # One more failure than the limit fails the Job, with the controller's reason.
    counter.unlink()
    backend.launch(request(3, script, job=job(backoff_limit=1)))
    running = reports.wait_for(3, {AttemptStatus.RUNNING})
    failed = reports.wait_for(3, TERMINAL)
    assert (failed.status, failed.reason, failed.exit_code) == (
        AttemptStatus.FAILED,
        "BackoffLimitExceeded",
        7,
    )
    assert failed.message == (
        "Job has reached the specified backoff limit (1): 2 failed pods, the last "
        "completion 0 with exit code 7"
    )
    assert Path(running.log_path).read_text().splitlines() == [
        "index 0: pod 1 failed with exit code 7 (1 of 2 failures allowed)",
        "index 0: pod 2 failed with exit code 7 (2 of 2 failures allowed)",
    ]
    assert index_logs(Path(running.log_path)) == {"1.0.log": "try 1\ntry 2\n"}


def test_the_pod_failure_policy_fails_the_job_or_ignores_a_failure(
    reports: Reports, tmp_path: Path
) -> None:
    backend = LocalBackend(reports, data_dir=tmp_path, slots=1)
    policy = {
        "rules": [
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
        ]
    }
    backend.launch(
        request(4, "exit 42", job=job(backoff_limit=5, pod_failure_policy=policy))
    )
    done = reports.wait_for(4, TERMINAL)
    assert (done.status, done.reason, done.exit_code) == (
        AttemptStatus.FAILED,
        "PodFailurePolicy",
        42,
    )
    counter = tmp_path / "count"
    script = f'echo x >> {counter}; n=$(wc -l < {counter}); [ "$n" -ge 3 ] || exit 3'
    backend.launch(request(5, script, job=job(pod_failure_policy=policy)))
    assert reports.wait_for(5, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert rule_action(policy["rules"], 1) == "Count"
    not_in = [
        {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [1]}}
    ]
    assert rule_action(not_in, 2) == "FailJob"


def test_the_jobs_deadline_stops_its_completions(
    reports: Reports, tmp_path: Path
) -> None:
    backend = LocalBackend(reports, data_dir=tmp_path, slots=2)
    started = time.monotonic()
    backend.launch(
        request(
            6,
            "sleep 30",
            job=job(completions=2, parallelism=2, active_deadline_seconds=1),
        )
    )
    done = reports.wait_for(6, TERMINAL, timeout=15)
    assert (done.status, done.reason) == (AttemptStatus.FAILED, "DeadlineExceeded")
    assert time.monotonic() - started < 10


def test_cancelling_a_job_stops_every_completion(
    reports: Reports, tmp_path: Path
) -> None:
    backend = LocalBackend(reports, data_dir=tmp_path, slots=2)
    pids = tmp_path / "pids"
    backend.launch(
        request(
            7,
            f"echo $$ >> {pids}; sleep 30",
            job=job(completions=2, parallelism=2),
        )
    )
    running = reports.wait_for(7, {AttemptStatus.RUNNING})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        not pids.exists() or len(pids.read_text().split()) < 2
    ):
        time.sleep(0.05)
    backend.cancel(7, running.handle)
    assert reports.wait_for(7, TERMINAL).status == AttemptStatus.CANCELLED

    def alive(pid: str) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(map(alive, pids.read_text().split())):
        time.sleep(0.05)
    assert not any(map(alive, pids.read_text().split()))


def test_a_finished_job_is_read_back_after_a_restart(
    reports: Reports, tmp_path: Path
) -> None:
    first = LocalBackend(reports, data_dir=tmp_path, slots=1)
    first.launch(request(8, "exit 9", job=job()))
    running = reports.wait_for(8, {AttemptStatus.RUNNING})
    reports.wait_for(8, TERMINAL)  # the first worker's report, lost with it
    again = Reports()
    restarted = LocalBackend(again, data_dir=tmp_path, slots=1)
    restarted.recover([LiveAttempt(8, running.handle, running.log_path)])
    ended = again.wait_for(8, TERMINAL, timeout=2)
    assert (ended.status, ended.reason) == (
        AttemptStatus.FAILED,
        "BackoffLimitExceeded",
    )


def test_pod_condition_rules_need_kubernetes(reports: Reports, tmp_path: Path) -> None:
    backend = LocalBackend(reports, data_dir=tmp_path, slots=1)
    policy = {
        "rules": [
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            }
        ]
    }
    with pytest.raises(BackendError, match="onPodConditions need the Kubernetes"):
        backend.launch(request(9, "true", job=job(pod_failure_policy=policy)))
