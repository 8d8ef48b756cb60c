"""Namespace isolation on the real kube-apiserver: an editor of project A who
names project B's namespace is refused when saving, when submitting (a
version saved before the rule, or a project whose list changed), when a
schedule fires, and in the backend before a pod is created."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from flowcore.states import AttemptStatus
from k8s_runner import reconcile
from schedules.models import ScheduledFire
from schedules.services import firing
from schedules.services.editing import create_schedule
from tests.conftest import member, shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import Flowdeck
from workflows.models import Attempt, Project, Role, Run, Workflow, WorkflowVersion
from workflows.services.projects import update_project
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def teams(flowdeck: Flowdeck, kube: Any) -> tuple[Project, Project]:
    a = Project.objects.create(name="team-a", namespace=kube.cluster.create_namespace())
    b = Project.objects.create(name="team-b", namespace=kube.cluster.create_namespace())
    return a, b


@pytest.fixture
def editor(django_user_model: Any, teams: tuple[Project, Project]) -> Any:
    eve = django_user_model.objects.create_user("eve", password="pw-eve-12345")
    return member(teams[0], eve, Role.EDITOR)


@pytest.fixture
def operator(django_user_model: Any, teams: tuple[Project, Project]) -> Any:
    """Of A: an editor who may also submit runs (roles add up)."""
    otto = django_user_model.objects.create_user("otto", password="pw-otto-12345")
    return member(teams[0], otto, Role.OPERATOR)


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def document(namespace: str, name: str = "job") -> dict[str, Any]:
    return workflow_document(name, [shell_task("a")], namespace=namespace)


def saved_before_the_rule(project: Project, namespace: str, author: Any) -> Workflow:
    """A workflow whose version names `namespace`, stored as a version saved
    before namespaces were checked would be (no service would save it now)."""
    workflow = create_workflow(
        document(project.default_namespace), author=author, project=project
    )
    version = WorkflowVersion.objects.create(
        workflow=workflow, number=2, document=document(namespace), author=author
    )
    Workflow.objects.filter(pk=workflow.pk).update(latest_version=version)
    workflow.refresh_from_db()
    return workflow


def test_naming_another_projects_namespace_is_refused_at_save(
    teams: tuple[Project, Project], editor: Any
) -> None:
    a, b = teams
    api = client_of(editor)
    refused = api.post(
        f"/api/workflows/?project={a.name}", document(b.namespace), format="json"
    )
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert error["path"] == "spec.namespace"
    assert b.namespace in error["message"] and a.namespace in error["message"]
    assert f"it may use: {a.namespace}" in error["message"]
    accepted = api.post(
        f"/api/workflows/?project={a.name}", document(a.namespace), format="json"
    )
    assert accepted.status_code == 201
    workflow_id = accepted.json()["id"]
    changed = api.put(
        f"/api/workflows/{workflow_id}/", document(b.namespace), format="json"
    )
    assert changed.status_code == 400
    assert changed.json()["errors"][0]["path"] == "spec.namespace"
    assert Workflow.objects.get(pk=workflow_id).versions.count() == 1


def test_a_run_naming_a_namespace_not_the_projects_is_refused_at_submit(
    teams: tuple[Project, Project], editor: Any, operator: Any
) -> None:
    a, b = teams
    api = client_of(operator)
    old = saved_before_the_rule(a, b.namespace, editor)
    refused = api.post(f"/api/workflows/{old.pk}/runs/", {}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["path"] == "spec.namespace"
    # A project whose list changed: allowed when saved, refused after.
    update_project(a, extra_namespaces=[b.namespace])
    allowed = create_workflow(document(b.namespace, "now"), author=editor, project=a)
    assert submit_run(allowed.latest_version, user=operator).pk
    update_project(a, extra_namespaces=[])
    again = api.post(f"/api/workflows/{allowed.pk}/runs/", {}, format="json")
    assert again.status_code == 400
    assert Run.objects.filter(workflow__in=[old, allowed]).count() == 1


def test_a_schedule_fire_of_a_refused_version_is_recorded_failed_not_started(
    teams: tuple[Project, Project], editor: Any
) -> None:
    a, b = teams
    old = saved_before_the_rule(a, b.namespace, editor)
    now = timezone.now()
    create_schedule(
        old,
        {
            "name": "nightly",
            "kind": "cron",
            "expression": "* * * * *",
            "timezone": "UTC",
        },
        user=editor,
        now=now - timezone.timedelta(minutes=2),
    )
    result = firing.tick(now)
    assert result.started == []
    (fire,) = ScheduledFire.objects.filter(schedule__workflow=old)
    assert fire.status == ScheduledFire.Status.FAILED
    assert "spec.namespace" in fire.reason and b.namespace in fire.reason
    assert not Run.objects.filter(workflow=old).exists()


def test_the_backend_refuses_a_pod_in_a_namespace_the_project_lost(
    flowdeck: Flowdeck, kube: Any, teams: tuple[Project, Project], editor: Any
) -> None:
    """Submitted while allowed, the project's list changes before the launch:
    the backend creates no pod in the other namespace and ends the attempt."""
    a, b = teams
    update_project(a, extra_namespaces=[b.namespace])
    workflow = create_workflow(document(b.namespace), author=editor, project=a)
    run = submit_run(workflow.latest_version, user=editor)
    update_project(a, extra_namespaces=[])
    reconcile.run_namespaces.clear()
    reconcile.reconcile(run.pk)
    attempt = Attempt.objects.get(task_run__run=run)
    assert attempt.status == AttemptStatus.ERROR
    assert f"namespace {b.namespace} is not one of the project's" in attempt.message
    assert kube.core().list_namespaced_pod(b.namespace).items == []
