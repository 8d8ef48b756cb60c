"""Project admins define semaphores in the API and on the project page; every
member sees who holds and who waits for each; changes are audited, and a
workflow naming one that does not exist is a 400 at the field."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEntry
from tests.conftest import member, shell_task, workflow_document
from workflows.models import Project, Role, Semaphore
from workflows.services.advance import advance_run
from workflows.services.semaphores import create_semaphore
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db


def _url(project: Project, name: str = "") -> str:
    base = f"/api/projects/{project.pk}/semaphores/"
    return f"{base}{name}/" if name else base


def test_a_project_admin_defines_changes_and_deletes_a_semaphore(
    api: APIClient, project: Project
) -> None:
    created = api.post(
        _url(project),
        {"name": "warehouse", "limit": 2, "description": "the big tables"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert {k: body[k] for k in ("name", "limit", "description", "held")} == {
        "name": "warehouse",
        "limit": 2,
        "description": "the big tables",
        "held": 0,
    }
    assert (body["holders"], body["waiting"]) == ([], [])
    changed = api.patch(
        _url(project, "warehouse"), {"limit": 1, "name": "other"}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["name"], changed.json()["limit"]) == ("warehouse", 1)
    assert api.get(_url(project)).json()["results"][0]["limit"] == 1
    assert api.delete(_url(project, "warehouse")).status_code == 204
    assert not Semaphore.objects.exists()
    assert api.get(_url(project, "warehouse")).status_code == 404
    entries = AuditEntry.objects.filter(action__startswith="semaphore.").order_by("pk")
    assert [(e.action, e.outcome, e.project_id) for e in entries] == [
        ("semaphore.create", "success", project.pk),
        ("semaphore.update", "success", project.pk),
        ("semaphore.delete", "success", project.pk),
    ]
    assert entries[1].detail["limit"] == {"from": 2, "to": 1}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "Warehouse", "limit": 1}, "name", "lower-case letters"),
        ({"name": "w" * 64, "limit": 1}, "name", "no more than 63"),
        ({"name": "warehouse", "limit": 0}, "limit", "greater than or equal to 1"),
        ({"name": "warehouse", "limit": 10001}, "limit", "less than or equal to"),
        ({"name": "warehouse"}, "limit", "required"),
        ({"name": "taken", "limit": 1}, "name", "already has a semaphore taken"),
    ],
)
def test_a_bad_semaphore_is_a_400_naming_the_field(
    api: APIClient, project: Project, body: dict[str, Any], field: str, message: str
) -> None:
    create_semaphore(project, name="taken", limit=1)
    response = api.post(_url(project), body, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert api.patch(
        _url(project, "taken"), {"limit": -1}, format="json"
    ).status_code == (400)


@pytest.mark.django_db(transaction=True)  # advance_run commits
def test_members_see_who_holds_and_who_waits(
    project: Project, user: Any, django_user_model: Any
) -> None:
    create_semaphore(project, name="warehouse", limit=1)
    load = shell_task("load", synchronization={"semaphore": "warehouse"})
    workflow = create_workflow(
        workflow_document("etl", [load]), author=user, project=project
    )
    first, second = (submit_run(workflow.latest_version) for _ in range(2))
    advance_run(first.pk)
    advance_run(second.pk)
    viewer = member(project, django_user_model.objects.create_user("vera"), "viewer")
    client = APIClient()
    client.force_authenticate(viewer)
    body = client.get(_url(project, "warehouse")).json()
    assert body["held"] == 1
    assert body["holders"] == [{"run": first.pk, "task": "load"}]
    assert body["waiting"] == [{"run": second.pk, "task": "load"}]
    assert client.patch(_url(project, "warehouse"), {"limit": 5}).status_code == 403


def test_saving_a_workflow_naming_an_undefined_semaphore_is_a_400_at_the_field(
    api: APIClient, project: Project
) -> None:
    document = workflow_document(
        "etl", [shell_task("load", synchronization={"semaphore": "warehouse"})]
    )
    response = api.post(f"/api/workflows/?project={project.pk}", document, "json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["path"] == "spec.tasks[0].synchronization.semaphore"
    assert error["message"].startswith(
        "semaphore 'warehouse' is not defined in project team"
    )
    api.post(_url(project), {"name": "warehouse", "limit": 1}, format="json")
    response = api.post(f"/api/workflows/?project={project.pk}", document, "json")
    assert response.status_code == 201, response.json()


def test_the_schema_documents_the_semaphore_endpoints(api: APIClient) -> None:
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths["/api/projects/{id}/semaphores/"]) >= {"get", "post"}
    assert set(paths["/api/projects/{id}/semaphores/{name}/"]) >= {
        "get",
        "patch",
        "delete",
    }


# --- the project page -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # advance_run commits
def test_the_project_page_shows_semaphores_and_mutexes_in_use(
    client: Any, user: Any, project: Project
) -> None:
    create_semaphore(project, name="warehouse", limit=1, description="big tables")
    tasks = [
        shell_task("load", synchronization={"semaphore": "warehouse"}),
        shell_task("index", synchronization={"mutex": "search"}),
    ]
    workflow = create_workflow(
        workflow_document("etl", tasks), author=user, project=project
    )
    first, second = (submit_run(workflow.latest_version) for _ in range(2))
    advance_run(first.pk)
    advance_run(second.pk)
    client.force_login(user)
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "big tables" in page and "1 of 1" in page
    held = f'<a href="/runs/{first.pk}/">run #{first.pk}</a> <code>load</code>'
    waits = f'<a href="/runs/{second.pk}/">run #{second.pk}</a> <code>load</code>'
    assert held in page and waits in page
    assert 'data-mutex="search"' in page
    assert "Define semaphore" in page


def test_a_project_admin_manages_semaphores_on_the_page(
    client: Any, user: Any, project: Project, django_user_model: Any
) -> None:
    client.force_login(user)
    url = reverse("semaphore-add", args=[project.pk])
    bad = client.post(url, {"name": "Warehouse", "limit": "0"})
    assert bad.status_code == 400
    assert not Semaphore.objects.exists()
    assert client.post(url, {"name": "warehouse", "limit": "2"}).status_code == 302
    assert client.post(url, {"name": "warehouse", "limit": "2"}).status_code == 400
    change = reverse("semaphore-change", args=[project.pk, "warehouse"])
    assert client.post(change, {"limit": "4"}).status_code == 302
    assert Semaphore.objects.get().limit == 4
    client.post(change, {"limit": "0"})
    assert Semaphore.objects.get().limit == 4
    delete = reverse("semaphore-delete", args=[project.pk, "warehouse"])
    assert client.post(delete).status_code == 302
    assert not Semaphore.objects.exists()
    viewer = member(project, django_user_model.objects.create_user("vera"), Role.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "Define semaphore" not in page and 'name="limit"' not in page
