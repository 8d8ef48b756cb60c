"""The editor's server side: its pages, the DAG picture export, the list's
thumbnails and search."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import diamond_document, member, shell_task, workflow_document
from workflows.dag_pictures import (
    MAX_EXPORT_TASKS,
    PictureError,
    document_graph,
    render_document,
    thumbnail_svg,
)
from workflows.models import Project, Role, Workflow
from workflows.services.submit import create_workflow

pytestmark = pytest.mark.django_db


def editor_data(response: Any) -> dict[str, Any]:
    match = re.search(
        r'<script id="flowdeck-editor-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, response.content[:500]
    return json.loads(match.group(1))


@pytest.fixture
def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- pictures ------------------------------------------------------------------


def test_the_graph_of_a_document_skips_what_does_not_parse() -> None:
    document = diamond_document()
    tasks = document["spec"]["tasks"]
    tasks += ["junk", {"name": "e", "dependencies": ["ghost", "e", "d", "d"]}]
    order, upstream = document_graph(document)
    assert order == ["a", "b", "c", "d", "e"]
    assert upstream["d"] == ["b", "c"]
    assert upstream["e"] == ["d"]
    assert document_graph({"spec": {"tasks": "nope"}}) == ([], {})


def test_a_thumbnail_draws_a_dot_per_task_and_a_line_per_edge_and_no_names() -> None:
    svg = thumbnail_svg(*document_graph(diamond_document()))
    assert svg.count("<circle") == 4
    assert svg.count("<line") == 4
    assert 'aria-label="DAG of 4 tasks"' in svg
    assert ">a<" not in svg


def test_a_thumbnail_of_a_cycle_or_a_huge_dag_still_draws() -> None:
    assert thumbnail_svg(["a", "b"], {"a": ["b"], "b": ["a"]}).count("<circle") == 2
    names = [f"t{i}" for i in range(2000)]
    upstream = {name: [names[i - 1]] if i else [] for i, name in enumerate(names)}
    svg = thumbnail_svg(names, upstream)
    assert svg.count("<circle") == 24  # long chains are sampled


def test_render_draws_svg_and_png_with_names_escaped() -> None:
    document = workflow_document(
        "w", [shell_task("a"), shell_task("b", dependencies=["a"])]
    )
    document["spec"]["tasks"][0]["name"] = "<b>a&</b>"
    document["spec"]["tasks"][1]["dependencies"] = ["<b>a&</b>"]
    svg = render_document(document, "svg").decode()
    assert "&lt;b&gt;a&amp;&lt;/b&gt;" in svg
    assert "<b>" not in svg
    assert render_document(document, "png").startswith(b"\x89PNG")


def test_render_refuses_an_empty_or_huge_document_and_unknown_formats() -> None:
    with pytest.raises(PictureError, match="no tasks"):
        render_document({"spec": {"tasks": []}}, "svg")
    with pytest.raises(PictureError, match="unknown format"):
        render_document(diamond_document(), "gif")
    huge = workflow_document(
        "w", [shell_task(f"t{i}") for i in range(MAX_EXPORT_TASKS + 1)]
    )
    with pytest.raises(PictureError, match="not drawn"):
        render_document(huge, "svg")


def test_the_graph_endpoint_answers_an_image_or_a_reason(api: APIClient) -> None:
    response = api.post("/api/workflows/graph/?as=png", diamond_document(), "json")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    response = api.post("/api/workflows/graph/", diamond_document(), "json")
    assert response["Content-Type"] == "image/svg+xml"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    response = api.post("/api/workflows/graph/?as=gif", diamond_document(), "json")
    assert response.status_code == 400
    assert response.json() == {"detail": "unknown format 'gif': use svg or png"}


# --- editor pages ------------------------------------------------------------------


def test_the_editor_page_hands_the_app_the_masked_document(
    browser: Client, user: Any, project: Project
) -> None:
    document = workflow_document(
        "with-secret",
        [shell_task("a", env=[{"name": "PW", "value": "hunter2", "secret": True}])],
    )
    workflow = create_workflow(document, author=user, project=project)
    response = browser.get(f"/workflows/{workflow.pk}/editor/")
    assert "hunter2" not in response.content.decode()
    data = editor_data(response)
    assert data["workflow"] == {
        "id": workflow.pk,
        "name": "with-secret",
        "version": 1,
        "project": {"id": project.pk, "name": "team"},
    }
    assert data["document"]["spec"]["tasks"][0]["env"][0]["value"] == "••••••"
    assert data["canRun"] is True
    assert '{% ui_entry "editor" %}' not in response.content.decode()
    assert "/static/ui/" in response.content.decode()


def test_an_editor_may_edit_but_not_run(
    django_user_model: Any, project: Project, diamond: Workflow
) -> None:
    eddie = member(project, django_user_model.objects.create_user("eddie"), "editor")
    client = Client()
    client.force_login(eddie)
    assert (
        editor_data(client.get(f"/workflows/{diamond.pk}/editor/"))["canRun"] is False
    )


def test_a_viewer_gets_the_editor_read_only(
    django_user_model: Any, project: Project, diamond: Workflow
) -> None:
    vera = member(project, django_user_model.objects.create_user("vera"), "viewer")
    client = Client()
    client.force_login(vera)
    response = client.get(f"/workflows/{diamond.pk}/editor/")
    assert response.status_code == 200
    data = editor_data(response)
    assert data["readOnly"] is True
    assert data["canRun"] is False
    assert data["document"]["metadata"]["name"] == "diamond"
    # The API stays the authority.
    refused = client.put(
        f"/api/workflows/{diamond.pk}/",
        data["document"],
        content_type="application/json",
    )
    assert refused.status_code == 403


def test_someone_outside_the_project_gets_no_editor(
    django_user_model: Any, diamond: Workflow
) -> None:
    client = Client()
    client.force_login(django_user_model.objects.create_user("stranger"))
    assert client.get(f"/workflows/{diamond.pk}/editor/").status_code == 404


def test_a_new_workflow_offers_the_projects_where_you_may_create(
    django_user_model: Any, project: Project, other_project: Project
) -> None:
    olga = django_user_model.objects.create_user("olga")
    member(project, olga, Role.EDITOR)
    member(other_project, olga, Role.VIEWER)
    client = Client()
    client.force_login(olga)
    data = editor_data(client.get("/workflows/new/editor/"))
    assert data["projects"] == [{"id": project.pk, "name": "team"}]
    assert data["project"] == str(project.pk)  # the only choice is chosen
    assert data["workflow"] is None and data["document"] is None
    assert data["runProjects"] == []  # an editor may create, not run


# --- the workflow list ---------------------------------------------------------------


def test_the_list_searches_names_descriptions_and_labels(
    browser: Client, user: Any, project: Project
) -> None:
    for name, description, labels in [
        ("nightly-etl", "loads the warehouse", {"team": "data"}),
        ("reports", "monthly numbers", {"team": "finance", "tier": "gold"}),
    ]:
        workflow = create_workflow(diamond_document(name), author=user, project=project)
        Workflow.objects.filter(pk=workflow.pk).update(
            description=description, labels=labels
        )

    def names(query: str) -> list[str]:
        page = browser.get(f"/?{query}").content.decode()
        return re.findall(r'href="/workflows/\d+/">([a-z-]+)</a>', page)

    assert sorted(names("")) == ["nightly-etl", "reports"]
    assert names("q=WAREHOUSE") == ["nightly-etl"]
    assert names("label=team:finance") == ["reports"]
    assert names("label=tier") == ["reports"]
    assert names("q=etl&label=team:finance") == []
    assert "No workflows match" in browser.get("/?q=nothing").content.decode()


def test_the_list_shows_a_thumbnail_and_links_the_editor(
    browser: Client, diamond: Workflow
) -> None:
    page = browser.get("/").content.decode()
    assert page.count('class="dag-thumb"') == 1
    assert 'href="/workflows/new/editor/"' in page
    detail = browser.get(f"/workflows/{diamond.pk}/").content.decode()
    assert f'href="/workflows/{diamond.pk}/editor/"' in detail
