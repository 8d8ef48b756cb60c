"""A project's service accounts on the real kube-apiserver: its default goes
into the pods of tasks that name none; a workflow naming one the project does
not allow is refused when saved (a 400 naming the field and the allowed
list), when submitted or fired, and in the backend before a pod is created."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from kubernetes.client import V1ObjectMeta, V1ServiceAccount
from rest_framework.test import APIClient

from flowcore.states import AttemptStatus
from k8s_runner import reconcile
from k8s_runner.manifests import RUN_LABEL
from schedules.models import ScheduledFire
from schedules.services import firing
from schedules.services.editing import create_schedule
from tests.conftest import member, shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import Flowdeck
from workflows.models import (
    Attempt,
    Membership,
    Project,
    Role,
    Run,
    Workflow,
    WorkflowVersion,
)
from workflows.services.projects import update_project
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def project(flowdeck: Flowdeck, kube: Any) -> Project:
    namespace = kube.cluster.create_namespace()
    for name in ("etl-runner", "etl-reader", "cluster-admin-ish"):
        kube.core().create_namespaced_service_account(
            namespace, V1ServiceAccount(metadata=V1ObjectMeta(name=name))
        )
    return Project.objects.create(
        name="team-a",
        namespace=namespace,
        default_service_account="etl-runner",
        service_accounts=["etl-reader"],
    )


@pytest.fixture
def editor(django_user_model: Any, project: Project) -> Any:
    eve = django_user_model.objects.create_user("eve", password="pw-eve-12345")
    return member(project, eve, Role.OPERATOR)


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def document(account: str | None = None, name: str = "job") -> dict[str, Any]:
    extra = {"serviceAccountName": account} if account else {}
    return workflow_document(name, [shell_task("a", **extra)])


def saved_before_the_rule(project: Project, account: str, author: Any) -> Workflow:
    """A workflow whose version names `account`, stored as no service would
    save it now (before the project's rule, or before its list changed)."""
    workflow = create_workflow(document(), author=author, project=project)
    version = WorkflowVersion.objects.create(
        workflow=workflow, number=2, document=document(account), author=author
    )
    Workflow.objects.filter(pk=workflow.pk).update(latest_version=version)
    workflow.refresh_from_db()
    return workflow


def pod_of(kube: Any, project: Project, run: Run) -> Any:
    (pod,) = kube.core().list_namespaced_pod(project.namespace).items
    assert pod.metadata.labels[RUN_LABEL] == str(run.pk)
    return pod


def test_the_default_goes_into_pods_of_tasks_naming_none(
    kube: Any, project: Project, editor: Any
) -> None:
    run = submit_run(
        create_workflow(document(), author=editor, project=project).latest_version,
        user=editor,
    )
    reconcile.reconcile(run.pk)
    assert pod_of(kube, project, run).spec.service_account_name == "etl-runner"


def test_a_task_may_name_an_allowed_one(
    kube: Any, project: Project, editor: Any
) -> None:
    workflow = create_workflow(document("etl-reader"), author=editor, project=project)
    run = submit_run(workflow.latest_version, user=editor)
    reconcile.reconcile(run.pk)
    assert pod_of(kube, project, run).spec.service_account_name == "etl-reader"


def test_naming_another_is_refused_at_save_naming_the_field_and_list(
    project: Project, editor: Any
) -> None:
    api = client_of(editor)
    refused = api.post(
        f"/api/workflows/?project={project.name}",
        document("cluster-admin-ish"),
        format="json",
    )
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert error["path"] == "spec.tasks[0].serviceAccountName"
    assert (
        "'cluster-admin-ish' is not a service account of project team-a"
        in (error["message"])
    )
    assert "it may use: etl-runner, etl-reader" in error["message"]
    defaults = workflow_document(
        "d", [shell_task("a")], defaults={"serviceAccountName": "cluster-admin-ish"}
    )
    refused = api.post(
        f"/api/workflows/?project={project.name}", defaults, format="json"
    )
    assert refused.json()["errors"][0]["path"] == ("spec.defaults.serviceAccountName")
    assert not Workflow.objects.exists()


def test_a_run_naming_one_not_allowed_is_refused_at_submit_and_fire(
    project: Project, editor: Any
) -> None:
    old = saved_before_the_rule(project, "cluster-admin-ish", editor)
    refused = client_of(editor).post(
        f"/api/workflows/{old.pk}/runs/", {}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["path"] == "spec.tasks[0].serviceAccountName"
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
    assert firing.tick(now).started == []
    (fire,) = ScheduledFire.objects.filter(schedule__workflow=old)
    assert fire.status == ScheduledFire.Status.FAILED
    assert "serviceAccountName" in fire.reason and "cluster-admin-ish" in fire.reason
    assert not Run.objects.filter(workflow=old).exists()


def test_the_backend_refuses_a_pod_with_an_account_the_project_lost(
    kube: Any, project: Project, editor: Any
) -> None:
    """Submitted while allowed, the project's list changes before the launch:
    no pod is created and the attempt ends with the reason."""
    workflow = create_workflow(document("etl-reader"), author=editor, project=project)
    run = submit_run(workflow.latest_version, user=editor)
    update_project(project, service_accounts=[])
    reconcile.run_namespaces.clear()
    reconcile.reconcile(run.pk)
    attempt = Attempt.objects.get(task_run__run=run)
    assert attempt.status == AttemptStatus.ERROR
    assert "service account etl-reader is not one of the project's (etl-runner)" in (
        attempt.message
    )
    assert kube.core().list_namespaced_pod(project.namespace).items == []


def test_only_site_admins_set_them_and_bad_names_are_refused(
    project: Project, editor: Any, admin_user: Any
) -> None:
    # A project admin may not: the accounts decide the pods' cluster rights.
    Membership.objects.filter(user=editor).update(role=Role.ADMIN)
    refused = client_of(editor).patch(
        f"/api/projects/{project.pk}/",
        {"service_accounts": ["etl-reader", "cluster-admin-ish"]},
        format="json",
    )
    assert refused.status_code == 403
    admin = client_of(admin_user)
    bad = admin.patch(
        f"/api/projects/{project.pk}/",
        {"service_accounts": ["Not_A_Name"], "default_service_account": "x" * 300},
        format="json",
    )
    assert bad.status_code == 400, bad.json()
    assert "service_accounts" in str(bad.json())
    assert "default_service_account" in str(bad.json())
    good = admin.patch(
        f"/api/projects/{project.pk}/",
        {"service_accounts": ["etl-reader", "etl-reader", "batch"]},
        format="json",
    )
    assert good.status_code == 200
    assert good.json()["service_accounts"] == ["etl-reader", "batch"]
    project.refresh_from_db()
    assert project.service_account_names() == ["etl-runner", "etl-reader", "batch"]
