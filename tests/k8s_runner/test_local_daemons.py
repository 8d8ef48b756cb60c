"""Daemon tasks on the local backend, with real processes: ready once the port
answers, their address handed to dependants, stopped when the run ends
whatever its status, and after a worker restart."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from flowcore.states import AttemptStatus, RunStatus
from k8s_runner import reconcile
from k8s_runner.backends.base import BackendError, LiveAttempt
from k8s_runner.backends.local import LocalBackend
from tests.conftest import shell_task, workflow_document
from tests.k8s_runner.test_local_backend import TERMINAL, Reports, request
from tests.net import free_port
from workflows.models import Attempt
from workflows.services.control import cancel_run
from workflows.services.submit import create_workflow, submit_run


def serves(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stopped(port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not serves(port):
            return True
        time.sleep(0.05)
    return False


def server_script(port: int, delay: float = 0.3) -> str:
    # Sleeps first, so a probe that passed without the server would be caught.
    return (
        f"sleep {delay}; mkdir -p site; echo hello from the daemon > site/index.html;"
        f" exec python3 -m http.server {port} --bind 127.0.0.1 --directory site"
    )


def daemon_fields(port: int, **probe: Any) -> dict[str, Any]:
    return {
        "ports": [{"name": "http", "port": port}],
        "readiness_probe": probe or {"tcpSocket": {"port": port}},
        "persistent": False,
        "storage": None,
    }


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def backend(reports: Reports, tmp_path: Path) -> LocalBackend:
    return LocalBackend(reports, data_dir=tmp_path, slots=1)


def test_a_daemon_succeeds_once_its_port_answers_and_stops_with_its_run(
    backend: LocalBackend, reports: Reports
) -> None:
    port = free_port()
    backend.launch(request(1, server_script(port), daemon=daemon_fields(port)))
    running = reports.wait_for(1, {AttemptStatus.RUNNING})
    assert running.handle.startswith("daemon:")
    done = reports.wait_for(1, TERMINAL)
    assert done.status == AttemptStatus.SUCCEEDED
    assert done.outputs is not None
    assert dict(done.outputs.parameters) == {"ip": "127.0.0.1", "service": "127.0.0.1"}
    assert serves(port)
    # A daemon takes no slot: with one slot, an ordinary task still runs.
    backend.launch(request(2, "echo beside"))
    assert reports.wait_for(2, TERMINAL).status == AttemptStatus.SUCCEEDED
    backend.end_run(7)
    assert stopped(port)


def test_an_http_or_command_probe_decides_readiness(
    backend: LocalBackend, reports: Reports, tmp_path: Path
) -> None:
    port = free_port()
    backend.launch(
        request(
            1,
            server_script(port),
            daemon=daemon_fields(port, httpGet={"path": "/", "port": "http"}),
        )
    )
    assert reports.wait_for(1, TERMINAL).status == AttemptStatus.SUCCEEDED
    flag = tmp_path / "flag"
    other = free_port()
    backend.launch(
        request(
            2,
            f"sleep 0.5; touch {flag}; sleep 60",
            daemon=daemon_fields(other, exec={"command": ["test", "-e", str(flag)]}),
        )
    )
    assert reports.wait_for(2, TERMINAL).status == AttemptStatus.SUCCEEDED
    assert flag.exists()
    backend.end_run(7)
    assert stopped(port)


def test_a_daemon_that_exits_or_is_not_ready_in_time_fails(
    backend: LocalBackend, reports: Reports
) -> None:
    backend.launch(request(1, "exit 4", daemon=daemon_fields(free_port())))
    exited = reports.wait_for(1, TERMINAL)
    assert (exited.status, exited.reason, exited.exit_code) == (
        AttemptStatus.FAILED,
        "DaemonExited",
        4,
    )
    backend.launch(
        request(2, "sleep 60", daemon=daemon_fields(free_port()), timeout=1.0)
    )
    late = reports.wait_for(2, TERMINAL)
    assert (late.status, late.reason) == (AttemptStatus.FAILED, "DeadlineExceeded")
    assert late.message == "not ready within its timeout of 1s"


def test_a_port_already_served_is_refused(
    backend: LocalBackend, reports: Reports
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BackendError, match="already accepts connections") as err:
            backend.launch(request(1, "sleep 1", daemon=daemon_fields(port)))
    assert err.value.permanent and err.value.reason == "PortInUse"


def test_cancelling_a_daemon_that_is_getting_ready_stops_it(
    backend: LocalBackend, reports: Reports, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    backend.launch(
        request(1, f"echo $$ > {trace}; sleep 60", daemon=daemon_fields(free_port()))
    )
    running = reports.wait_for(1, {AttemptStatus.RUNNING})
    backend.cancel(1, running.handle)
    assert reports.wait_for(1, TERMINAL).status == AttemptStatus.CANCELLED


def test_a_restarted_worker_stops_the_daemons_of_ended_runs(
    backend: LocalBackend, reports: Reports, tmp_path: Path
) -> None:
    port = free_port()
    backend.launch(request(1, server_script(port), daemon=daemon_fields(port)))
    assert reports.wait_for(1, TERMINAL).status == AttemptStatus.SUCCEEDED
    # The worker is gone (kill -9): a new one knows the daemon by its record.
    again = LocalBackend(Reports(), data_dir=tmp_path, slots=1)
    again.sweep_daemons(lambda runs: set())  # run 7 has not ended: it serves on
    assert serves(port)
    again.sweep_daemons(lambda runs: runs & {7})
    assert stopped(port)


def test_a_restarted_worker_follows_a_daemon_still_getting_ready(
    backend: LocalBackend, reports: Reports, tmp_path: Path
) -> None:
    port = free_port()
    backend.launch(request(1, server_script(port, 1.5), daemon=daemon_fields(port)))
    running = reports.wait_for(1, {AttemptStatus.RUNNING})
    later = Reports()
    again = LocalBackend(later, data_dir=tmp_path, slots=1)
    assert again.recover([LiveAttempt(1, running.handle, running.log_path)]) == []
    done = later.wait_for(1, TERMINAL)
    assert done.status == AttemptStatus.SUCCEEDED
    again.end_run(7)
    assert stopped(port)


# -- through the services, with the database -------------------------------------


def daemon_workflow(
    name: str, port: int, client_script: str, user: Any, project: Any
) -> Any:
    document = workflow_document(
        name,
        [
            shell_task(
                "web",
                server_script(port),
                daemon=True,
                ports=[{"name": "http", "port": port}],
                readinessProbe={"tcpSocket": {"port": "http"}, "periodSeconds": 1},
            ),
            shell_task("client", client_script, dependencies=["web"]),
        ],
    )
    return create_workflow(document, project=project, author=user)


def wait_for(run: Any, statuses: set[str], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in statuses:
            return run
        reconcile.sweep()
        time.sleep(0.1)
    raise AssertionError(f"run still {run.status}")


@pytest.fixture
def local_backend(settings: Any, tmp_path: Path) -> Any:
    settings.FLOWDECK_BACKEND = "local"
    settings.DATA_DIR = str(tmp_path)
    reconcile._backend = None
    yield
    reconcile._backend = None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("client", "status"),
    [
        (
            'python3 -c "import urllib.request; print(urllib.request.urlopen('
            "'http://{{tasks.web.ip}}:PORT/').read().decode().strip())\"",
            RunStatus.SUCCEEDED,
        ),
        ("echo {{tasks.web.service}}; exit 3", RunStatus.FAILED),
    ],
)
def test_a_dependant_reads_the_daemons_address_and_the_daemon_stops_with_the_run(
    local_backend: Any, user: Any, project: Any, client: str, status: str
) -> None:
    port = free_port()
    workflow = daemon_workflow(
        "served", port, client.replace("PORT", str(port)), user, project
    )
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    run = wait_for(run, {RunStatus.SUCCEEDED, RunStatus.FAILED})
    assert run.status == status
    web = Attempt.objects.get(task_run__run=run, task_run__name="web")
    client_attempt = Attempt.objects.get(task_run__run=run, task_run__name="client")
    assert web.status == AttemptStatus.SUCCEEDED
    log = Path(client_attempt.log_path).read_text()
    if status == RunStatus.SUCCEEDED:
        assert log == "hello from the daemon\n"
    else:
        assert log == "127.0.0.1\n"
    assert stopped(port)


@pytest.mark.django_db(transaction=True)
def test_cancelling_the_run_stops_its_daemon(
    local_backend: Any, user: Any, project: Any
) -> None:
    port = free_port()
    workflow = daemon_workflow("cancelled", port, "sleep 60", user, project)
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    deadline = time.monotonic() + 30
    while not Attempt.objects.filter(
        task_run__run=run, task_run__name="client", status=AttemptStatus.RUNNING
    ).exists():
        assert time.monotonic() < deadline, "the client never started"
        reconcile.sweep()
        time.sleep(0.1)
    assert serves(port)
    cancel_run(run.pk, user=user)
    reconcile.reconcile(run.pk)
    run = wait_for(run, {RunStatus.CANCELLED})
    assert stopped(port)
