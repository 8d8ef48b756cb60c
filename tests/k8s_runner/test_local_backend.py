"""The local-process backend with real subprocesses: success, failure, timeout,
cancel, slots and restart recovery."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flowcore.states import AttemptStatus
from k8s_runner.backends.base import BackendError, LiveAttempt
from k8s_runner.backends.local import (
    LocalBackend,
    Sandbox,
    _shown,
    process_start_time,
)
from k8s_runner.pod_request import PodRequest
from workflows.services.attempts import Report

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {
    AttemptStatus.SUCCEEDED,
    AttemptStatus.FAILED,
    AttemptStatus.ERROR,
    AttemptStatus.CANCELLED,
}


class Reports:
    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Report] = queue.SimpleQueue()
        self.seen: list[Report] = []

    def __call__(self, report: Report) -> None:
        self.queue.put(report)

    def wait_for(
        self, attempt_id: int, statuses: set[str], timeout: float = 10
    ) -> Report:
        for report in self.seen:
            if report.attempt_id == attempt_id and report.status in statuses:
                return report
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                report = self.queue.get(timeout=0.05)
            except queue.Empty:
                continue
            self.seen.append(report)
            if report.attempt_id == attempt_id and report.status in statuses:
                return report
        raise AssertionError(f"no {statuses} report for attempt {attempt_id}")


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def backend(reports: Reports, tmp_path: Path) -> LocalBackend:
    return LocalBackend(reports, data_dir=tmp_path, slots=2)


def request(attempt_id: int, script: str, **extra: object) -> PodRequest:
    fields: dict[str, object] = {
        "attempt_id": attempt_id,
        "run_id": 7,
        "workflow": "wf",
        "version": 1,
        "task": f"task-{attempt_id}",
        "attempt": 1,
        "image": "ignored",
        "command": ("sh", "-c"),
        "args": (script,),
    }
    fields.update(extra)
    return PodRequest(**fields)  # type: ignore[arg-type]


def test_a_zero_exit_succeeds_and_its_output_is_in_the_log(backend, reports):
    backend.launch(request(1, "echo hello from $FLOWDECK_TASK; echo oops >&2"))
    running = reports.wait_for(1, {AttemptStatus.RUNNING})
    done = reports.wait_for(1, TERMINAL)
    assert done.status == AttemptStatus.SUCCEEDED and done.exit_code == 0
    assert Path(running.log_path).read_text() == "hello from task-1\noops\n"


def test_a_non_zero_exit_fails_with_its_code(backend, reports):
    backend.launch(request(2, "exit 3"))
    done = reports.wait_for(2, TERMINAL)
    assert done.status == AttemptStatus.FAILED
    assert done.exit_code == 3
    assert "exited with code 3" in done.message


def test_a_missing_program_fails_with_a_clear_message(backend, reports):
    backend.launch(request(3, "", command=("/no/such/program",), args=()))
    done = reports.wait_for(3, TERMINAL)
    assert done.status == AttemptStatus.FAILED
    assert done.reason == "StartError"
    assert "No such file" in done.message


def test_the_timeout_kills_the_whole_process_group(backend, reports, tmp_path):
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    backend.launch(request(4, f"sleep 30 & echo $! > {pid_file}; wait", timeout=0.5))
    done = reports.wait_for(4, TERMINAL)
    assert time.monotonic() - started < 5
    assert done.status == AttemptStatus.FAILED
    assert done.reason == "DeadlineExceeded"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 7
    while process_start_time(child) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_start_time(child) is None, "the background child survived"


def test_cancel_stops_a_running_attempt(backend, reports):
    backend.launch(request(5, "sleep 30"))
    running = reports.wait_for(5, {AttemptStatus.RUNNING})
    backend.cancel(5, running.handle)
    done = reports.wait_for(5, TERMINAL)
    assert done.status == AttemptStatus.CANCELLED


def test_slots_bound_concurrency_and_the_queue_honours_priority(reports, tmp_path):
    backend = LocalBackend(reports, data_dir=tmp_path, slots=1)
    order = tmp_path / "order"
    backend.launch(request(10, f"sleep 0.3; echo first >> {order}"))
    backend.launch(request(11, f"echo low >> {order}", priority=0))
    backend.launch(request(12, f"echo high >> {order}", priority=5))
    for attempt_id in (10, 11, 12):
        assert reports.wait_for(attempt_id, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert order.read_text().split() == ["first", "high", "low"]


def test_cancelling_a_queued_attempt_never_starts_it(reports, tmp_path):
    backend = LocalBackend(reports, data_dir=tmp_path, slots=1)
    backend.launch(request(20, "sleep 0.5"))
    backend.launch(request(21, f"touch {tmp_path / 'ran'}"))
    backend.cancel(21, "")
    assert reports.wait_for(21, TERMINAL).status == AttemptStatus.CANCELLED
    assert reports.wait_for(20, TERMINAL).status == AttemptStatus.SUCCEEDED
    time.sleep(0.2)
    assert not (tmp_path / "ran").exists()


def test_a_repeated_launch_of_the_same_attempt_runs_it_once(backend, reports, tmp_path):
    marker = tmp_path / "count"
    backend.launch(request(30, f"echo x >> {marker}; sleep 0.2"))
    backend.launch(request(30, f"echo x >> {marker}; sleep 0.2"))
    reports.wait_for(30, TERMINAL)
    assert marker.read_text() == "x\n"


def test_tasks_do_not_inherit_the_servers_secrets(
    backend, reports, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret")
    monkeypatch.setenv("FLOWDECK_SECRET_KEY", "very-secret")
    out = tmp_path / "env"
    backend.launch(
        request(40, f"env > {out}", env=({"name": "MODE", "value": "full"},))
    )
    reports.wait_for(40, TERMINAL)
    env = out.read_text()
    assert "MODE=full" in env and "FLOWDECK_RUN_ID=7" in env
    assert "secret" not in env


def test_kubernetes_only_env_references_are_refused(backend):
    ref = {"name": "PW", "value_from": {"secretKeyRef": {"name": "db", "key": "pw"}}}
    with pytest.raises(BackendError) as error:
        backend.launch(request(50, "true", env=(ref,)))
    assert error.value.permanent and "valueFrom" in str(error.value)


def test_a_task_without_a_command_is_refused(backend):
    with pytest.raises(BackendError, match="command"):
        backend.launch(request(51, "", command=(), args=()))


def test_after_a_restart_live_processes_are_adopted_and_keep_their_exit_status(
    reports, tmp_path
):
    first = LocalBackend(reports, data_dir=tmp_path, slots=2)
    first.launch(request(60, "sleep 1; exit 3"))
    running = reports.wait_for(60, {AttemptStatus.RUNNING})
    # A new backend stands for the restarted worker: it did not start pid 60.
    restarted_reports = Reports()
    restarted = LocalBackend(restarted_reports, data_dir=tmp_path, slots=2)
    gone_handle = f"{os.getpid() + 10**6}:1"
    relaunch = restarted.recover(
        [
            LiveAttempt(60, running.handle, running.log_path),
            LiveAttempt(61, gone_handle, str(tmp_path / "none.log")),
            LiveAttempt(62, ""),
        ]
    )
    assert relaunch == [62]
    lost = restarted_reports.wait_for(61, TERMINAL, timeout=2)
    assert lost.status == AttemptStatus.ERROR and lost.reason == "ProcessLost"
    assert restarted.status(60, running.handle) is not None  # adopted while it runs
    ended = restarted_reports.wait_for(60, TERMINAL, timeout=10)
    assert (ended.status, ended.exit_code) == (AttemptStatus.FAILED, 3)


def test_a_process_that_ended_while_no_worker_watched_reports_its_true_result(
    reports, tmp_path
):
    first = LocalBackend(reports, data_dir=tmp_path, slots=2)
    first.launch(request(63, "echo done"))
    running = reports.wait_for(63, {AttemptStatus.RUNNING})
    reports.wait_for(63, TERMINAL)  # the first worker's report, lost with it
    restarted_reports = Reports()
    restarted = LocalBackend(restarted_reports, data_dir=tmp_path, slots=2)
    assert restarted.recover([LiveAttempt(63, running.handle, running.log_path)]) == []
    ended = restarted_reports.wait_for(63, TERMINAL, timeout=2)
    assert (ended.status, ended.exit_code) == (AttemptStatus.SUCCEEDED, 0)
    assert ended.at is not None


def test_relaunching_an_attempt_whose_start_was_never_recorded_does_not_run_it_twice(
    reports, tmp_path
):
    marker = tmp_path / "runs"
    first = LocalBackend(reports, data_dir=tmp_path, slots=2)
    first.launch(request(64, f"echo x >> {marker}; sleep 1"))
    reports.wait_for(64, {AttemptStatus.RUNNING})
    # The worker died before the Running report was recorded: the database
    # still says Launching with no handle, so recovery launches it again.
    restarted_reports = Reports()
    restarted = LocalBackend(restarted_reports, data_dir=tmp_path, slots=2)
    restarted.launch(request(64, f"echo x >> {marker}; sleep 1"))
    assert restarted_reports.wait_for(64, {AttemptStatus.RUNNING}).handle
    ended = restarted_reports.wait_for(64, TERMINAL, timeout=10)
    assert ended.status == AttemptStatus.SUCCEEDED
    assert marker.read_text() == "x\n"


def test_an_attempt_with_the_id_of_another_from_a_reset_database_runs_afresh(
    reports, tmp_path
):
    """A database reset or restored gives its ids again, and a new attempt
    finds the files an old one with its id left: the old end must not be
    taken for its own, nor the old log or outputs, while a relaunch of the
    same attempt still finds its own."""
    marker = tmp_path / "runs"
    old_created = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    old = request(66, "echo old; exit 0", attempt_created_at=old_created)
    first = LocalBackend(reports, data_dir=tmp_path, slots=2)
    first.launch(old)
    assert reports.wait_for(66, TERMINAL).status == AttemptStatus.SUCCEEDED
    stale = first.files(old)
    (stale.workdir / "left-behind").write_text("old")

    same_reports = Reports()  # the same attempt again: its end, not a rerun
    LocalBackend(same_reports, data_dir=tmp_path, slots=2).launch(
        request(66, f"echo x >> {marker}", attempt_created_at=old_created)
    )
    again = same_reports.wait_for(66, TERMINAL)
    assert (again.status, again.exit_code) == (AttemptStatus.SUCCEEDED, 0)
    assert not marker.exists()

    new_reports = Reports()
    new = request(
        66,
        f"echo new; echo x >> {marker}; exit 3",
        attempt_created_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    LocalBackend(new_reports, data_dir=tmp_path, slots=2).launch(new)
    running = new_reports.wait_for(66, {AttemptStatus.RUNNING})
    ended = new_reports.wait_for(66, TERMINAL)
    assert (ended.status, ended.exit_code) == (AttemptStatus.FAILED, 3)
    assert marker.read_text() == "x\n"
    assert Path(running.log_path).read_text() == "new\n"
    assert not (stale.workdir / "left-behind").exists()


def test_a_process_left_running_by_an_attempt_of_a_reset_database_is_stopped(
    reports, tmp_path
):
    """Its end has nowhere to go, and it would write it over the new
    attempt's, which has the same files."""
    first = LocalBackend(reports, data_dir=tmp_path, slots=2)
    first.launch(
        request(67, "sleep 30", attempt_created_at=datetime(2026, 1, 1, tzinfo=UTC))
    )
    old_pid = int(reports.wait_for(67, {AttemptStatus.RUNNING}).handle.split(":")[0])
    new_reports = Reports()
    LocalBackend(new_reports, data_dir=tmp_path, slots=2).launch(
        request(67, "exit 5", attempt_created_at=datetime(2026, 2, 1, tzinfo=UTC))
    )
    ended = new_reports.wait_for(67, TERMINAL)
    assert (ended.status, ended.exit_code) == (AttemptStatus.FAILED, 5)
    deadline = time.monotonic() + 5
    while process_start_time(old_pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # the first backend's reaper collects it
    assert process_start_time(old_pid) is None


# A worker process that launches one attempt and is killed with SIGKILL at a
# chosen moment of the launch (the hook runs in place of what follows it).
_DYING_WORKER = """
import os, signal, sys, time
from pathlib import Path
from k8s_runner.backends import local
from k8s_runner.pod_request import PodRequest

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

where, data_dir, script = sys.argv[1:]
if where == "after-spawn":  # Popen returned; the handle not yet computed
    local.process_start_time = die
else:  # the handle on disk; the process not yet told to go on
    write = local._write_handle
    local._write_handle = lambda *args: (write(*args), die())
backend = local.LocalBackend(lambda report: None, data_dir=Path(data_dir), slots=1)
backend.launch(PodRequest(65, 7, "wf", 1, "task-65", 1, None, ("sh", "-c"), (script,)))
time.sleep(30)
"""


@pytest.mark.parametrize("where", ["after-spawn", "after-handle"])
def test_a_worker_killed_while_it_spawns_a_process_leaves_it_run_once(
    reports, tmp_path, where
):
    """Killed between spawning the attempt's process and recording its handle,
    the worker left a process the relaunch cannot find: the process waits
    for its handle to be on disk before running the command, and runs it
    only then; a relaunch starts it afresh or adopts it, never both."""
    marker = tmp_path / "runs"
    script = f"echo x >> {marker}; sleep 0.5"
    dying = subprocess.run(
        [sys.executable, "-c", _DYING_WORKER, where, str(tmp_path), script],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    )
    assert dying.returncode == -signal.SIGKILL, dying.stderr.decode()
    time.sleep(0.3)  # an orphan that would run the command has started it
    restarted = LocalBackend(reports, data_dir=tmp_path, slots=1)
    restarted.launch(request(65, script))
    ended = reports.wait_for(65, TERMINAL, timeout=10)
    assert (ended.status, ended.exit_code) == (AttemptStatus.SUCCEEDED, 0)
    time.sleep(0.3)
    assert marker.read_text() == "x\n"


def test_a_launch_that_fails_in_any_way_ends_as_an_error_and_frees_its_slot(
    reports, tmp_path
):
    backend = LocalBackend(reports, data_dir=tmp_path, slots=1)
    # A NUL byte cannot reach execve: Popen raises ValueError, not OSError.
    backend.launch(request(70, "echo \0 bad"))
    failed = reports.wait_for(70, TERMINAL)
    assert (failed.status, failed.reason) == (AttemptStatus.ERROR, "LaunchFailed")
    assert "null byte" in failed.message
    backend.launch(request(71, "true"))
    assert reports.wait_for(71, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert backend.idle()


def test_a_launch_that_arrives_after_its_cancel_starts_nothing(
    backend, reports, tmp_path
):
    backend.cancel(72, "")
    backend.launch(request(72, f"touch {tmp_path / 'ran'}"))
    assert reports.wait_for(72, TERMINAL).status == AttemptStatus.CANCELLED
    time.sleep(0.3)
    assert not (tmp_path / "ran").exists()
    assert backend.idle()


def test_a_cancel_that_arrives_while_the_process_starts_kills_it(
    backend, reports, monkeypatch
):
    original = backend.files

    def slow_files(req: PodRequest):  # the cancel lands while _start runs
        backend.cancel(req.attempt_id, "")
        return original(req)

    monkeypatch.setattr(backend, "files", slow_files)
    started = time.monotonic()
    backend.launch(request(73, "sleep 30"))
    done = reports.wait_for(73, TERMINAL)
    assert done.status == AttemptStatus.CANCELLED
    assert time.monotonic() - started < 5


def sandboxed(reports: Reports, data_dir: Path, **options: object) -> LocalBackend:
    if shutil.which("bwrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bubblewrap is missing: .ci/run installs it")
        pytest.skip("bubblewrap (bwrap) is not installed")
    sandbox = Sandbox("on", data_dir, **options)  # type: ignore[arg-type]
    return LocalBackend(reports, data_dir=data_dir, slots=2, sandbox=sandbox)


def test_a_sandboxed_task_sees_only_its_own_run_of_the_data_directory(
    reports, tmp_path
):
    data = tmp_path / "data"
    (data / "logs" / "run-1").mkdir(parents=True)
    (data / "secret_key").write_text("top secret")
    (data / "logs" / "run-1" / "other.log").write_text("another run's log")
    backend = sandboxed(reports, data)
    script = (
        f"cat {data}/secret_key; cat {data}/logs/run-1/other.log; "
        "ls /proc | grep -c '^[0-9]' > procs; "
        f'echo mine > "$FLOWDECK_RUN_DIR/shared"; touch /usr/escaped; '
        "echo private > /tmp/scratch; echo finished"
    )
    backend.launch(request(80, script))
    running = reports.wait_for(80, {AttemptStatus.RUNNING})
    assert reports.wait_for(80, TERMINAL).status == AttemptStatus.SUCCEEDED
    log = Path(running.log_path).read_text()
    assert "top secret" not in log and "another run's log" not in log
    assert "No such file" in log and "Read-only file system" in log
    assert log.rstrip().endswith("finished")
    run_dir = data / "work" / "run-7"
    assert (run_dir / "shared").read_text() == "mine\n"
    assert not Path("/usr/escaped").exists()
    # Its own pid namespace: the shell, bwrap's init and the ls, not the worker.
    assert int((run_dir / "task-80" / "1" / "procs").read_text()) < 5


def test_a_sandboxed_task_may_write_where_the_operator_allows(reports, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    backend = sandboxed(reports, tmp_path / "data", writable=[shared])
    backend.launch(request(81, f"echo hi > {shared}/out"))
    assert reports.wait_for(81, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert (shared / "out").read_text() == "hi\n"


def test_without_a_usable_sandbox_the_on_mode_refuses_to_launch(reports, tmp_path):
    sandbox = Sandbox("on", tmp_path)
    sandbox._probed, sandbox._program = True, None  # as where bwrap is missing
    backend = LocalBackend(reports, data_dir=tmp_path, slots=1, sandbox=sandbox)
    backend.launch(request(82, "true"))
    failed = reports.wait_for(82, TERMINAL)
    assert (failed.status, failed.reason) == (AttemptStatus.ERROR, "LaunchFailed")
    assert "bubblewrap" in failed.message


def with_volume(
    attempt_id: int, script: str, volume: dict, **mount: object
) -> PodRequest:
    return request(
        attempt_id,
        script,
        volumes=({"name": "scratch", **volume},),
        volume_mounts=({"name": "scratch", **mount},),
    )


def test_an_empty_dir_volume_is_the_attempts_own_directory_at_its_path(
    reports, tmp_path
):
    """As in a pod: mounted where asked (even inside a directory the host
    has, whose entries stay visible and read-only), writable, and empty for
    each attempt; the host's directory is untouched."""
    backend = sandboxed(reports, tmp_path / "data")
    host_entries = sorted(os.listdir("/usr/share"))[:1]
    script = (
        "mount | grep -c ' /usr/share/scratch ' ; ls /usr/share/scratch | wc -l; "
        "echo kept > /usr/share/scratch/file; cat /usr/share/scratch/file; "
        f"test -e /usr/share/{host_entries[0]} && echo host-visible; "
        "touch /usr/share/other 2>/dev/null || echo read-only"
    )
    volume = {"emptyDir": {}}
    backend.launch(with_volume(90, script, volume, mountPath="/usr/share/scratch"))
    running = reports.wait_for(90, {AttemptStatus.RUNNING})
    assert reports.wait_for(90, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert Path(running.log_path).read_text().split() == [
        "1",
        "0",
        "kept",
        "host-visible",
        "read-only",
    ]
    assert not Path("/usr/share/scratch").exists()
    backend.launch(
        with_volume(91, "ls /mnt/vol | wc -l", volume, mountPath="/mnt//vol/")
    )
    again = reports.wait_for(91, {AttemptStatus.RUNNING})
    assert reports.wait_for(91, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert Path(again.log_path).read_text().strip() == "0"
    # A scratch /tmp of its own, as pods often have.
    backend.launch(
        with_volume(
            95, "echo x > /tmp/a; mount | grep -c ' /tmp '", volume, mountPath="/tmp"
        )
    )
    tmp = reports.wait_for(95, {AttemptStatus.RUNNING})
    assert reports.wait_for(95, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert int(Path(tmp.log_path).read_text()) >= 1
    [kept] = (tmp_path / "data" / "work").glob("run-7/task-95/.volumes-1/scratch/a")
    assert kept.read_text() == "x\n"


def test_a_read_only_empty_dir_cannot_be_written(reports, tmp_path):
    backend = sandboxed(reports, tmp_path / "data")
    backend.launch(
        with_volume(
            92, "touch /data/x", {"emptyDir": {}}, mountPath="/data", readOnly=True
        )
    )
    running = reports.wait_for(92, {AttemptStatus.RUNNING})
    assert reports.wait_for(92, TERMINAL).status == AttemptStatus.FAILED
    assert "Read-only file system" in Path(running.log_path).read_text()


@pytest.mark.parametrize(
    ("volume", "mount", "words"),
    [
        (
            {"configMap": {"name": "settings"}},
            {"mountPath": "/etc/settings"},
            "a configMap volume needs the Kubernetes backend",
        ),
        (
            {"persistentVolumeClaim": {"claimName": "data"}},
            {"mountPath": "/data"},
            "a persistentVolumeClaim volume needs the Kubernetes backend",
        ),
        (
            {"emptyDir": {}},
            {"mountPath": "/proc/x"},
            "cannot mount a volume at /proc/x",
        ),
        ({"emptyDir": {}}, {"mountPath": "/"}, "cannot mount a volume at /"),
    ],
)
def test_a_volume_the_local_backend_cannot_mount_is_refused_with_why(
    backend, volume, mount, words
):
    with pytest.raises(BackendError) as raised:
        backend.launch(with_volume(93, "true", volume, **mount))
    assert words in str(raised.value)
    assert raised.value.permanent


def test_without_the_sandbox_an_empty_dir_is_refused(reports, tmp_path):
    backend = LocalBackend(
        reports, data_dir=tmp_path, slots=1, sandbox=Sandbox("off", tmp_path)
    )
    with pytest.raises(BackendError) as raised:
        backend.launch(with_volume(94, "true", {"emptyDir": {}}, mountPath="/data"))
    assert "sandbox, which is off here" in str(raised.value)


def test_a_directory_removed_after_it_was_listed_does_not_stop_the_sandbox(
    tmp_path: Path,
) -> None:
    """Another program's scratch directory may vanish between listing a
    directory's entries and bwrap mounting them (pytest's own tmp dirs did)."""
    program = shutil.which("bwrap")
    if program is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    host = tmp_path / "host"
    (host / "kept").mkdir(parents=True)
    (host / "scratch").mkdir()
    shown = _shown(str(host), {str(host / "mnt" / "volume")})
    (host / "scratch").rmdir()
    ended = subprocess.run(
        [program, "--bind", "/", "/", "--tmpfs", str(host), *shown, "--", "true"],
        capture_output=True,
        text=True,
    )
    assert ended.returncode == 0, ended.stderr
