"""Each runnable file of the Argo test set, imported through the API and run
on the embedded default (the local backend), ends as Argo documents it does:
the run's status and each task's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.workflows.test_outputs import log_of, quiet_backend, run_to_end  # noqa: F401
from workflows.models import Attempt, Run, TaskRun, Workflow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "argo"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def imported(api: APIClient, name: str) -> Workflow:
    response = api.post(
        "/api/workflows/import/",
        data=(FIXTURES / name).read_bytes(),
        content_type="application/yaml",
    )
    assert response.status_code == 201, response.content
    # The file's own workflow first (those made of its templates after).
    workflow = response.json()["workflows"][0]
    return Workflow.objects.get(pk=workflow["id"])


def statuses(run: Run) -> dict[str, str]:
    """Each task's status; a fan-out's instances under their own names."""
    return dict(TaskRun.objects.filter(run=run).values_list("name", "status"))


# The status Argo documents for each file, and its tasks' (those named).
EXPECTED: dict[str, tuple[str, dict[str, str]]] = {
    "dag-diamond.yaml": (
        "Succeeded",
        {"a": "Succeeded", "b": "Succeeded", "c": "Succeeded", "d": "Succeeded"},
    ),
    "steps.yaml": (
        "Succeeded",
        {"hello1": "Succeeded", "hello2a": "Succeeded", "hello2b": "Succeeded"},
    ),
    "parameters.yaml": ("Succeeded", {"print-message": "Succeeded"}),
    "output-parameter.yaml": (
        "Succeeded",
        {"generate-parameter": "Succeeded", "consume-parameter": "Succeeded"},
    ),
    "conditionals.yaml": (
        "Succeeded",
        {"print-hello": "Skipped", "always": "Succeeded"},
    ),
    "loops.yaml": ("Succeeded", {"print-message": "Succeeded", "count": "Succeeded"}),
    "loops-param.yaml": ("Succeeded", {"generate": "Succeeded", "sleep": "Succeeded"}),
    "retry-backoff.yaml": ("Succeeded", {"retry-backoff": "Succeeded"}),
    "timeouts.yaml": ("Failed", {"sleep": "Failed"}),
    "exit-handlers.yaml": (
        "Failed",
        {
            "intentional-fail": "Failed",
            "notify": "Succeeded",
            "celebrate": "Skipped",
            "cry": "Succeeded",
        },
    ),
    "continue-on-fail.yaml": (
        "Succeeded",
        {"a": "Succeeded", "b": "Succeeded", "c": "Failed", "d": "Succeeded"},
    ),
    "dag-nested.yaml": (
        "Succeeded",
        {n: "Succeeded" for n in ("first-a", "first-b", "second-a", "second-b")},
    ),
    "scripts.yaml": ("Succeeded", {"generate": "Succeeded", "print": "Succeeded"}),
    "resources-node-selector.yaml": ("Succeeded", {"main": "Succeeded"}),
    "volumes-emptydir.yaml": ("Succeeded", {"volumes-emptydir-example": "Succeeded"}),
    "cron.yaml": ("Succeeded", {"hello": "Succeeded"}),
    "loop-over-dag.yaml": ("Succeeded", {"each": "Succeeded", "after": "Succeeded"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_imported_argo_file_runs_to_the_status_argo_documents(
    api: APIClient, user: Any, name: str
) -> None:
    run = run_to_end(imported(api, name), user, timeout=60)
    status, tasks = EXPECTED[name]
    found = statuses(run)
    assert run.status == status, found
    assert {task: found.get(task) for task in tasks} == tasks


def test_values_travel_as_in_argo(api: APIClient, user: Any) -> None:
    run = run_to_end(imported(api, "output-parameter.yaml"), user)
    assert log_of(run, "consume-parameter") == "hello world\n"
    run = run_to_end(imported(api, "parameters.yaml"), user)
    assert log_of(run, "print-message") == "hello world\n"
    run = run_to_end(imported(api, "scripts.yaml"), user)
    drawn = int(log_of(run, "generate"))
    assert log_of(run, "print").startswith(f"the bash script drew {drawn} which is")


def test_loops_run_one_instance_per_item(api: APIClient, user: Any) -> None:
    run = run_to_end(imported(api, "loops.yaml"), user)
    logs = sorted(
        log_of(run, name)
        for name in TaskRun.objects.filter(run=run, fan_group="print-message")
        .exclude(fan_index=None)
        .values_list("name", flat=True)
    )
    assert logs == ["goodbye world\n", "hello world\n"]
    counts = TaskRun.objects.filter(run=run, fan_group="count").exclude(fan_index=None)
    assert counts.count() == 3
    run = run_to_end(imported(api, "loops-param.yaml"), user)
    sleeps = TaskRun.objects.filter(run=run, fan_group="sleep").exclude(fan_index=None)
    assert sorted(sleeps.values_list("fan_item", flat=True)) == [1, 2, 3]


def test_the_coin_flip_runs_one_side(api: APIClient, user: Any) -> None:
    run = run_to_end(imported(api, "coinflip.yaml"), user)
    assert run.status == "Succeeded"
    found = statuses(run)
    side = log_of(run, "flip-coin").strip()
    other = "tails" if side == "heads" else "heads"
    assert (found[side], found[other]) == ("Succeeded", "Skipped")


def test_the_retried_task_succeeds_on_its_third_attempt(
    api: APIClient, user: Any
) -> None:
    run = run_to_end(imported(api, "retry-backoff.yaml"), user, timeout=60)
    attempts = Attempt.objects.filter(task_run__run=run).order_by("number")
    assert [a.status for a in attempts] == ["Failed", "Failed", "Succeeded"]


def test_the_exit_handler_reads_the_failed_status(api: APIClient, user: Any) -> None:
    run = run_to_end(imported(api, "exit-handlers.yaml"), user)
    assert log_of(run, "notify") == "send e-mail: Failed\n"
    assert log_of(run, "cry") == "boohoo!\n"


def test_a_secret_key_ref_says_it_needs_kubernetes_on_the_embedded_default(
    api: APIClient, user: Any
) -> None:
    """Argo runs it with the cluster's secret; the local backend has no
    cluster secrets and says so (it runs on Kubernetes:
    tests/k8s_runner/test_kube_argo.py)."""
    run = run_to_end(imported(api, "secrets.yaml"), user)
    assert run.status == "Failed"
    task = TaskRun.objects.get(run=run, name="print-secret")
    assert task.status == "Error"
    assert "valueFrom references need the Kubernetes backend" in task.message


def test_a_loop_over_a_dag_runs_a_child_run_per_item(api: APIClient, user: Any) -> None:
    run = run_to_end(imported(api, "loop-over-dag.yaml"), user, timeout=60)
    assert run.status == "Succeeded"
    children = sorted(run.children.all(), key=lambda child: child.parent_task)
    assert [(c.parent_task, c.parameters["who"]) for c in children] == [
        ("each[0]", "ada"),
        ("each[1]", "grace"),
    ]
    assert [log_of(c, "first") for c in children] == ["hi ada\n", "hi grace\n"]
    assert log_of(run, "after") == '["bye ada", "bye grace"]\n'
