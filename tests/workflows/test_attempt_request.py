"""What an attempt asked for, as the run page's drawer shows it: the rendered
task with secret values masked, its resources and, for Kubernetes, the Pod
manifest (valid against the official schema) without the secret either."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from rest_framework.test import APIClient

from flowcore.secrets import MASK
from tests.conftest import shell_task, workflow_document
from tests.k8s_runner.test_manifests import SCHEMA_VERSIONS
from workflows.models import Attempt, Run
from workflows.services.advance import advance_run
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "hunter2-do-not-show"


@pytest.fixture
def run(user: Any, project: Any) -> Run:
    document = workflow_document(
        "asks",
        [
            shell_task(
                "t",
                "echo hi",
                env=[
                    {"name": "PASSWORD", "value": SECRET, "secret": True},
                    {"name": "PLAIN", "value": "visible"},
                ],
                resources={
                    "requests": {"cpu": "250m", "memory": "64Mi"},
                    "limits": {"memory": "128Mi"},
                },
            )
        ],
    )
    workflow = create_workflow(document, author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    advance_run(run.pk)  # records attempt 1 of `t`
    return run


def described(api: APIClient, run: Run) -> dict[str, Any]:
    response = api.get(f"/api/runs/{run.pk}/tasks/t/request/?attempt=1")
    assert response.status_code == 200, response.content
    assert SECRET.encode() not in response.content
    return response.json()


def test_a_local_attempt_shows_its_request_masked_and_its_resources(
    api: APIClient, run: Run
) -> None:
    body = described(api, run)
    env = {entry["name"]: entry["value"] for entry in body["request"]["env"]}
    assert env == {"PASSWORD": MASK, "PLAIN": "visible"}
    assert body["resources"]["requests"] == {"cpu": "250m", "memory": "64Mi"}
    assert body["manifest"] is None and body["node"] is None


def test_a_kubernetes_attempt_shows_its_pod_manifest_masked_and_valid(
    api: APIClient, run: Run
) -> None:
    Attempt.objects.filter(task_run__run=run).update(
        backend="kubernetes", handle="team/asks-pod"
    )
    manifest = described(api, run)["manifest"]
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)
    container = manifest["spec"]["containers"][0]
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert env["PASSWORD"] == MASK and env["PLAIN"] == "visible"
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "64Mi"}
    assert manifest["metadata"]["labels"]["flowdeck.io/task"] == "t"


def test_another_projects_attempt_is_not_found(other_user: Any, run: Run) -> None:
    api = APIClient()
    api.force_authenticate(other_user)
    assert api.get(f"/api/runs/{run.pk}/tasks/t/request/").status_code == 404


def test_a_task_without_an_attempt_says_so(api: APIClient, user: Any, run: Run) -> None:
    fresh = submit_run(run.version, user=user)
    response = api.get(f"/api/runs/{fresh.pk}/tasks/t/request/")
    assert response.status_code == 404
    assert response.json()["detail"] == "task 't' has no attempt yet"
