"""Where a project's pods go, and what Flowdeck says when they cannot go
there: the default project follows FLOWDECK_K8S_NAMESPACE (the namespace the
deployment configures and grants), and a namespace that does not exist is a
clear Error on the attempt and a warning on the project page, not a raw 404."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps

from flowcore.states import AttemptStatus, RunStatus
from k8s_runner import namespaces, reconcile
from tests.conftest import shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import Flowdeck
from workflows.models import Attempt, Project
from workflows.services.projects import create_project
from workflows.services.submit import create_workflow, default_project, submit_run

MIGRATION = importlib.import_module(
    "workflows.migrations.0015_project_namespace_installation"
)


@pytest.mark.django_db
def test_the_default_project_uses_the_configured_namespace(settings: Any) -> None:
    settings.FLOWDECK_K8S_NAMESPACE = "flowdeck"
    project = default_project()
    assert project.namespace == ""
    assert project.namespaces() == ["flowdeck"]
    assert project.default_namespace == "flowdeck"


@pytest.mark.django_db
def test_the_default_project_made_with_namespace_default_follows_the_setting(
    settings: Any,
) -> None:
    """Installations whose default project was made before: the migration
    moves it from "default" to the installation's namespace; a namespace
    someone chose stays."""
    settings.FLOWDECK_K8S_NAMESPACE = "flowdeck"
    Project.objects.update_or_create(name="default", defaults={"namespace": "default"})
    Project.objects.create(name="chosen", namespace="default")
    MIGRATION.default_project_to_the_installation_namespace(apps, None)
    assert Project.objects.get(name="default").default_namespace == "flowdeck"
    assert Project.objects.get(name="chosen").default_namespace == "default"


@pytest.mark.django_db
def test_a_new_project_without_a_namespace_uses_the_installation_s(
    settings: Any,
) -> None:
    settings.FLOWDECK_K8S_NAMESPACE = "flowdeck"
    assert create_project(name="team-x").namespaces() == ["flowdeck"]
    assert create_project(name="team-y", namespace="ml").namespaces() == ["ml"]


@pytest.mark.django_db
def test_the_project_pages_show_the_installation_s_namespace(
    settings: Any, client: Any, admin_user: Any
) -> None:
    settings.FLOWDECK_K8S_NAMESPACE = "flowdeck"
    project = create_project(name="team-x")
    client.force_login(admin_user)
    assert "<code>flowdeck</code>" in client.get("/projects/").content.decode()
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Namespace <code>flowdeck</code> (the installation's)" in page


@pytest.mark.django_db
def test_the_project_api_shows_where_pods_go(settings: Any, admin_user: Any) -> None:
    from rest_framework.test import APIClient

    settings.FLOWDECK_K8S_NAMESPACE = "flowdeck"
    client = APIClient()
    client.force_authenticate(admin_user)
    body = client.post("/api/projects/", {"name": "team-x"}, format="json").json()
    assert (body["namespace"], body["namespaces"]) == ("", ["flowdeck"])
    changed = client.patch(
        f"/api/projects/{body['id']}/", {"namespace": "ml"}, format="json"
    ).json()
    assert changed["namespaces"] == ["ml"]
    back = client.patch(
        f"/api/projects/{body['id']}/", {"namespace": ""}, format="json"
    ).json()
    assert back["namespaces"] == ["flowdeck"]


# --- against the real kube-apiserver ------------------------------------------------


@pytest.fixture
def missing_namespace() -> Iterator[str]:
    namespaces.forget()
    yield f"team-x-{secrets.token_hex(3)}"
    namespaces.forget()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_in_a_namespace_that_does_not_exist_ends_with_a_clear_error(
    flowdeck: Flowdeck, user: Any, missing_namespace: str
) -> None:
    team = Project.objects.create(name="team-x", namespace=missing_namespace)
    workflow = create_workflow(
        workflow_document("lost", [shell_task("a")]), author=user, project=team
    )
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    run = flowdeck.finish(run)
    assert run.status == RunStatus.FAILED
    attempt = Attempt.objects.get(task_run__run=run)
    assert (attempt.status, attempt.reason) == (
        AttemptStatus.ERROR,
        "NamespaceNotFound",
    )
    assert attempt.message.startswith(
        f"namespace {missing_namespace} does not exist: create it and bind "
        "Flowdeck's Role in it"
    )
    assert attempt.message.endswith("(from the project's namespace)")
    assert "404" not in attempt.message


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_project_page_warns_when_its_namespace_does_not_exist(
    flowdeck: Flowdeck,
    client: Any,
    user: Any,
    project: Project,
    missing_namespace: str,
) -> None:
    client.force_login(user)
    page = client.get(f"/projects/{project.pk}/")
    assert 'id="namespace-warning"' not in page.content.decode()  # it exists
    namespaces.forget()
    Project.objects.filter(pk=project.pk).update(namespace=missing_namespace)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'id="namespace-warning"' in page
    assert f"namespace {missing_namespace} does not exist" in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_backend_says_which_namespaces_it_may_use(
    flowdeck: Flowdeck, missing_namespace: str
) -> None:
    assert flowdeck.backend.namespace_problem(flowdeck.namespace) is None
    problem = flowdeck.backend.namespace_problem(missing_namespace)
    assert problem is not None and "does not exist" in problem


@pytest.mark.django_db
def test_another_backend_never_warns(settings: Any, missing_namespace: str) -> None:
    settings.FLOWDECK_BACKEND = "local"
    assert namespaces.namespace_problem(missing_namespace) is None


# --- refusals that are about the namespace, and those that are not ------------------

RBAC_DENIED = (
    '{"kind":"Status","message":"pods is forbidden: User \\"system:serviceaccount:'
    'flowdeck:flowdeck\\" cannot create resource \\"pods\\" in API group \\"\\" in '
    'the namespace \\"team-x\\"","reason":"Forbidden","code":403}'
)
QUOTA_EXCEEDED = (
    '{"kind":"Status","message":"pods \\"x\\" is forbidden: exceeded quota: '
    'compute","reason":"Forbidden","code":403}'
)


def refusing_backend(tmp_path: Any, status: int, body: str) -> Any:
    from kubernetes.client.exceptions import ApiException

    from k8s_runner.backends.kubernetes import KubernetesBackend

    class Refusing:
        def create_namespaced_pod(self, *args: Any, **kwargs: Any) -> Any:
            error = ApiException(status=status, reason="Forbidden")
            error.body = body
            raise error

    class Backend(KubernetesBackend):
        @property
        def core(self) -> Any:
            return Refusing()

    return Backend(lambda report: None, api_client=lambda: None, data_dir=tmp_path)


def a_request(**fields: Any) -> Any:
    from k8s_runner.pod_request import PodRequest

    return PodRequest(1, 1, "wf", 1, "t", 1, "busybox", ("true",), (), **fields)


def test_rbac_refusing_the_namespace_is_namespace_forbidden(tmp_path: Any) -> None:
    from k8s_runner.backends.base import BackendError

    backend = refusing_backend(tmp_path, 403, RBAC_DENIED)
    with pytest.raises(BackendError) as raised:
        backend.launch(a_request(project_namespace="team-x"))
    assert (raised.value.permanent, raised.value.reason) == (True, "NamespaceForbidden")
    assert str(raised.value).startswith(
        "Flowdeck's service account may not use namespace team-x"
    )
    assert backend.namespace_problem("team-x").startswith(
        "Flowdeck's service account may not use namespace team-x"
    )


def test_a_quota_refusing_the_pod_is_not_about_the_namespace(tmp_path: Any) -> None:
    from k8s_runner.backends.base import BackendError

    backend = refusing_backend(tmp_path, 403, QUOTA_EXCEEDED)
    with pytest.raises(BackendError) as raised:
        backend.launch(a_request(project_namespace="team-x"))
    assert raised.value.reason == ""  # LaunchFailed, with the API's message
    assert "exceeded quota" in str(raised.value)
    assert backend.namespace_problem("team-x") is None
