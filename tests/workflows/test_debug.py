"""Debugging a task: POST /api/runs/{id}/tasks/{name}/debug/ runs that one task
again, alone, as a new run with overrides, on the real local backend."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from flowcore.states import TERMINAL_RUN_STATUSES, RunStatus
from k8s_runner import reconcile
from k8s_runner.pod_request import pod_name
from tests.conftest import member, run_tasks, shell_task, workflow_document
from workflows.blueprints import debug_document
from workflows.models import Attempt, Project, Role, Run, TaskRun
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quiet_backend() -> Any:
    """Let the local backend's processes end and their reports be recorded
    before the test's database is flushed."""
    yield
    backend = reconcile.get_backend()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if backend.idle() and reconcile.report_pump.unrecorded() == 0:  # type: ignore[attr-defined]
            return
        time.sleep(0.05)
    raise AssertionError("the local backend or the report pump did not go quiet")


@pytest.fixture
def run(user: Any, project: Project) -> Run:
    """A run of a two-task workflow: `greet` needs `setup`."""
    document = workflow_document(
        "greeting",
        [
            shell_task("setup", "echo setting up"),
            shell_task(
                "greet",
                "echo hello $WHO",
                dependencies=["setup"],
                env=[{"name": "WHO", "value": "world"}, {"name": "KEEP", "value": "k"}],
                retry={"limit": 3},
            ),
        ],
    )
    workflow = create_workflow(document, author=user, project=project)
    return submit_run(workflow.latest_version, user=user)


def debug_url(run: Run, task: str = "greet") -> str:
    return f"/api/runs/{run.pk}/tasks/{task}/debug/"


def wait_for_end(run: Run, timeout: float = 20) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in TERMINAL_RUN_STATUSES:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run still {run.status} after {timeout}s")


def test_a_debug_run_runs_the_overridden_task_alone_and_its_log_shows_it(
    api: APIClient, run: Run
) -> None:
    response = api.post(
        debug_url(run),
        {
            "command": ["sh", "-c"],
            "args": ["echo debugging $WHO $KEEP"],
            "env": [{"name": "WHO", "value": "you"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    debug = Run.objects.get(pk=body["id"])
    assert (debug.debug_of_id, debug.debug_task, debug.trigger) == (
        run.pk,
        "greet",
        Run.Trigger.DEBUG,
    )
    assert (body["debug_of"], body["debug_task"]) == (run.pk, "greet")
    # Only the debugged task, without the dependency it has in its workflow.
    listed = run_tasks(api, debug.pk)
    assert [(t["name"], t["dependencies"]) for t in listed] == [("greet", [])]
    reconcile.reconcile(debug.pk)
    assert wait_for_end(debug).status == RunStatus.SUCCEEDED
    attempt = Attempt.objects.get(task_run__run=debug)
    assert Path(attempt.log_path).read_text() == "debugging you k\n"
    # The local backend has no pod to exec into; the log's place is given.
    commands = body["commands"]
    assert commands["exec"] is None and "not available" in commands["note"]
    assert commands["log_path"] == attempt.log_path
    assert commands["log_url"].endswith(f"/api/runs/{debug.pk}/tasks/greet/logs/")
    # The original run is untouched.
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING
    assert not TaskRun.objects.filter(run=run).exclude(status="Pending").exists()


def test_a_debug_run_does_not_retry(api: APIClient, run: Run) -> None:
    response = api.post(debug_url(run), {"args": ["exit 3"]}, format="json")
    debug = Run.objects.get(pk=response.json()["id"])
    reconcile.reconcile(debug.pk)
    assert wait_for_end(debug).status == RunStatus.FAILED
    assert Attempt.objects.filter(task_run__run=debug).count() == 1


def test_the_commands_name_the_pod_the_debug_attempt_will_have(
    api: APIClient, run: Run, project: Project, settings: Any
) -> None:
    settings.FLOWDECK_BACKEND = "kubernetes"
    Project.objects.filter(pk=project.pk).update(namespace="team-ns")
    response = api.post(debug_url(run), {"command": ["sleep", "3600"]}, format="json")
    assert response.status_code == 201
    debug_id = response.json()["id"]
    pod = pod_name("greeting", debug_id, "greet", 1)
    commands = response.json()["commands"]
    assert commands["exec"] == f"kubectl exec -it -n team-ns {pod} -- sh"
    assert commands["logs"] == f"kubectl logs -f -n team-ns {pod}"


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"command": "sleep 3600"}, "command"),
        ({"args": [1, 2]}, "args[0]"),
        ({"env": [{"name": "1bad", "value": "x"}]}, "env[0].name"),
        ({"env": [{"name": "A"}]}, "env[0]"),
        ({"env": "A=1"}, "env"),
        ({"memory": "1Gi"}, "memory"),
        ({"image": ""}, "image"),
        # What execve cannot pass (PostgreSQL cannot store it either).
        ({"args": ["sleep", "36\x0000"]}, "args[1]"),
        ({"command": ["s\x00h"]}, "command[0]"),
        ({"env": [{"name": "A", "value": "\x00"}]}, "env[0].value"),
        ({"image": "busybox\n"}, "image"),
    ],
)
def test_a_bad_override_is_a_400_naming_the_field(
    api: APIClient, run: Run, overrides: dict[str, Any], path: str
) -> None:
    response = api.post(debug_url(run), overrides, format="json")
    assert response.status_code == 400, response.json()
    paths = [error["path"] for error in response.json()["errors"]]
    assert path in paths
    assert Run.objects.count() == 1  # no debug run was made


def test_a_viewer_may_not_debug_and_an_outsider_does_not_see_the_run(
    run: Run, project: Project, django_user_model: Any, other_user: Any
) -> None:
    viewer = django_user_model.objects.create_user("vera", password="x")
    member(project, viewer, Role.VIEWER)
    client = APIClient()
    client.force_authenticate(viewer)
    refused = client.post(debug_url(run), {}, format="json")
    assert refused.status_code == 403
    assert "debugging tasks needs operator" in refused.json()["detail"]
    client.force_authenticate(other_user)
    assert client.post(debug_url(run), {}, format="json").status_code == 404


def test_an_unknown_task_is_a_404(api: APIClient, run: Run) -> None:
    assert api.post(debug_url(run, "nope"), {}, format="json").status_code == 404


def test_debugging_is_in_the_audit_log(api: APIClient, run: Run) -> None:
    from accounts.models import AuditEntry

    api.post(debug_url(run), {"args": ["true"]}, format="json")
    entry = AuditEntry.objects.get(action="run.debug_task")
    assert entry.detail["task"] == "greet"
    assert entry.detail["overrides"] == ["args"]


def test_the_debug_document_keeps_other_variables_and_drops_dependencies() -> None:
    document = workflow_document(
        "w",
        [
            shell_task("a"),
            shell_task(
                "b",
                dependencies=["a"],
                env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
            ),
        ],
    )
    debugged = debug_document(
        document, "b", {"env": [{"name": "Y", "value": "3"}], "image": "alpine"}
    )
    [task] = debugged["spec"]["tasks"]
    assert "dependencies" not in task
    assert task["image"] == "alpine"
    assert task["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]
    assert document["spec"]["tasks"][1]["image"] == "busybox:1.36"  # not changed


def test_a_value_typed_over_a_secret_variable_stays_secret() -> None:
    document = workflow_document(
        "w",
        [
            shell_task(
                "a",
                env=[
                    {"name": "PASSWORD", "value": "stored", "secret": True},
                    {"name": "HOST", "value": "db"},
                ],
            )
        ],
    )
    overrides = {
        "env": [
            {"name": "PASSWORD", "value": "typed"},
            {"name": "HOST", "value": "db2"},
            {"name": "NEW", "value": "n"},
        ]
    }
    [task] = debug_document(document, "a", overrides)["spec"]["tasks"]
    assert task["env"] == [
        {"name": "PASSWORD", "value": "typed", "secret": True},
        {"name": "HOST", "value": "db2"},
        {"name": "NEW", "value": "n"},
    ]


def test_a_debug_runs_picture_shows_only_the_debugged_task(
    api: APIClient, run: Run
) -> None:
    from workflows.graph import render_run_svg

    response = api.post(debug_url(run), {"args": ["sleep 1"]}, format="json")
    svg = render_run_svg(Run.objects.get(pk=response.json()["id"]))
    assert ">greet<" in svg
    assert ">setup<" not in svg
