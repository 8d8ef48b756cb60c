"""The local backend's init containers and sidecars, with real processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flowcore.states import AttemptStatus
from k8s_runner.backends.base import BackendError, LiveAttempt
from k8s_runner.backends.local import LocalBackend
from k8s_runner.backends.local_pod import container_log, init_failure, pod_script
from k8s_runner.pod_request import ContainerRequest
from tests.k8s_runner.test_local_backend import (
    TERMINAL,
    Reports,
    request,
    sandboxed,
)


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def backend(reports: Reports, tmp_path: Path) -> LocalBackend:
    return LocalBackend(reports, data_dir=tmp_path, slots=2)


def container(name: str, script: str, **fields: object) -> ContainerRequest:
    return ContainerRequest(name=name, command=("sh", "-c", script), **fields)  # type: ignore[arg-type]


def test_init_containers_run_in_order_before_the_command(
    backend: LocalBackend, reports: Reports, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    backend.launch(
        request(
            1,
            f"echo main >> {trace}; echo the task output",
            init_containers=(
                container("one", f"sleep 0.2; echo one >> {trace}; echo init out"),
                container(
                    "two",
                    f"echo two:$WHO >> {trace}",
                    env=({"name": "WHO", "value": "me"},),
                ),
            ),
        )
    )
    running = reports.wait_for(1, {AttemptStatus.RUNNING})
    done = reports.wait_for(1, TERMINAL)
    assert done.status == AttemptStatus.SUCCEEDED
    assert trace.read_text().split() == ["one", "two:me", "main"]
    # Each container's output is its own: the task's log is the command's.
    log = Path(running.log_path)
    assert log.read_text() == "the task output\n"
    assert container_log(log, "one").read_text() == "init out\n"


def test_a_failed_init_container_fails_the_attempt_and_nothing_after_runs(
    backend: LocalBackend, reports: Reports, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    backend.launch(
        request(
            2,
            f"echo main >> {trace}",
            init_containers=(
                container("fetch", "echo no schema >&2; exit 6"),
                container("after", f"echo after >> {trace}"),
            ),
            sidecars=(container("proxy", f"echo proxy >> {trace}"),),
        )
    )
    done = reports.wait_for(2, TERMINAL)
    assert (done.status, done.reason, done.exit_code) == (
        AttemptStatus.FAILED,
        "InitContainerFailed",
        6,
    )
    assert done.message == "init container fetch exited with code 6"
    assert not trace.exists()


def test_a_failed_init_container_is_read_back_after_a_restart(
    reports: Reports, tmp_path: Path
) -> None:
    first = LocalBackend(reports, data_dir=tmp_path, slots=1)
    first.launch(request(3, "true", init_containers=(container("i", "exit 4"),)))
    running = reports.wait_for(3, {AttemptStatus.RUNNING})
    reports.wait_for(3, TERMINAL)  # the first worker's report, lost with it
    again = Reports()
    restarted = LocalBackend(again, data_dir=tmp_path, slots=1)
    restarted.recover([LiveAttempt(3, running.handle, running.log_path)])
    ended = again.wait_for(3, TERMINAL, timeout=2)
    assert (ended.status, ended.reason) == (AttemptStatus.FAILED, "InitContainerFailed")


def test_a_sidecar_runs_beside_the_command_and_is_stopped_when_it_ends(
    backend: LocalBackend, reports: Reports, tmp_path: Path
) -> None:
    stopped = tmp_path / "stopped"
    sidecar = container(
        "server",
        f"trap 'echo stopping; echo yes > {stopped}; exit 0' TERM; "
        "echo up; while :; do sleep 0.05; done",
    )
    started = time.monotonic()
    backend.launch(
        request(
            4,
            # The command waits for the sidecar to be up, as a client would.
            # -s: the sidecar's log may not exist yet (its shell opens it).
            'for i in $(seq 50); do grep -qs up "$LOG" && break; sleep 0.05; done; '
            "echo saw the sidecar; exit 3",
            sidecars=(sidecar,),
            env=(
                {
                    "name": "LOG",
                    "value": str(tmp_path / "logs/run-7/task-4/1.server.log"),
                },
            ),
        )
    )
    running = reports.wait_for(4, {AttemptStatus.RUNNING})
    done = reports.wait_for(4, TERMINAL)
    # The command's status, whatever the sidecar did.
    assert (done.status, done.exit_code) == (AttemptStatus.FAILED, 3)
    assert time.monotonic() - started < 5
    assert stopped.read_text() == "yes\n"
    assert Path(running.log_path).read_text() == "saw the sidecar\n"
    assert container_log(Path(running.log_path), "server").read_text() == (
        "up\nstopping\n"
    )


def test_a_sidecar_that_ignores_sigterm_is_killed_after_the_grace(
    tmp_path: Path,
) -> None:
    import subprocess

    from k8s_runner.backends.local_pod import Step

    exit_file = tmp_path / "exit"
    log = tmp_path / "side.log"
    script = pod_script(
        [],
        [
            Step(
                "stubborn",
                ("sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"),
                log,
            )
        ],
        stop_seconds=0.3,
    )
    started = time.monotonic()
    result = subprocess.run(
        ["sh", "-c", script, "flowdeck-attempt", str(exit_file), "", "true"],
        timeout=10,
    )
    assert result.returncode == 0
    assert time.monotonic() - started < 3
    assert exit_file.read_text() == "0\n"


def test_the_exit_file_tells_an_init_failure_from_an_exit_status() -> None:
    assert init_failure("6 init fetch\n") == (6, "fetch")
    assert init_failure("6") is None
    assert init_failure("x init fetch") is None


def test_what_the_local_backend_cannot_do_for_a_container_is_refused(
    backend: LocalBackend,
) -> None:
    with pytest.raises(BackendError, match="container s: the local backend runs"):
        backend.launch(request(5, "true", sidecars=(ContainerRequest(name="s"),)))
    secret = ContainerRequest(
        name="s",
        command=("true",),
        env=({"name": "T", "value_from": {"secretKeyRef": {"name": "a", "key": "b"}}},),
    )
    with pytest.raises(BackendError, match="container s: env T: valueFrom"):
        backend.launch(request(6, "true", sidecars=(secret,)))


def test_a_missing_program_in_a_container_is_a_start_error(
    backend: LocalBackend, reports: Reports
) -> None:
    missing = ContainerRequest(name="fetch", command=("/no/such/program",))
    backend.launch(request(7, "true", init_containers=(missing,)))
    done = reports.wait_for(7, TERMINAL)
    assert (done.status, done.reason) == (AttemptStatus.FAILED, "StartError")
    assert "/no/such/program (container fetch)" in done.message


def test_containers_share_the_tasks_empty_dir_in_the_sandbox(
    reports: Reports, tmp_path: Path
) -> None:
    backend = sandboxed(reports, tmp_path / "data")
    backend.launch(
        request(
            8,
            "cat /work/schema.sql",
            volumes=({"name": "work", "emptyDir": {}},),
            volume_mounts=({"name": "work", "mountPath": "/work"},),
            init_containers=(
                container(
                    "fetch",
                    "echo 'create table t;' > /in/schema.sql",
                    volume_mounts=({"name": "work", "mountPath": "/in"},),
                ),
            ),
        )
    )
    running = reports.wait_for(8, {AttemptStatus.RUNNING})
    assert reports.wait_for(8, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert Path(running.log_path).read_text() == "create table t;\n"
