"""The REST API: every endpoint's answers, good and bad, as a client sees them."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from flowcore.states import AttemptStatus, RunStatus, TaskStatus
from tests.conftest import (
    diamond_document,
    drive_run,
    member,
    run_tasks,
    shell_task,
    workflow_document,
)
from workflows.models import Attempt, Run, TaskRun, Workflow, WorkflowVersion
from workflows.services.advance import advance_run
from workflows.services.submit import create_workflow, submit_run

WORKFLOWS = "/api/workflows/"
RUNS = "/api/runs/"

pytestmark = pytest.mark.django_db
driven = pytest.mark.django_db(transaction=True)


def params_document(name: str = "daily") -> dict[str, Any]:
    return workflow_document(
        name,
        [shell_task("report", "echo {{params.day}}")],
        parameters=[{"name": "day", "default": "x"}],
    )


def post_json(client: APIClient, url: str, body: Any = None, **extra: Any) -> Any:
    return client.post(url, body, format="json", **extra)


def submit(client: APIClient, workflow: Workflow, body: Any = None) -> Any:
    return post_json(client, f"{WORKFLOWS}{workflow.pk}/runs/", body or {})


def failed_b_run(diamond: Workflow, user: Any) -> Run:
    return drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )


def find_paths(data: Any, key: str) -> bool:
    if isinstance(data, dict):
        return key in data or any(find_paths(v, key) for v in data.values())
    if isinstance(data, list):
        return any(find_paths(v, key) for v in data)
    return False


# --- authentication --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", WORKFLOWS),
        ("post", WORKFLOWS),
        ("get", f"{WORKFLOWS}1/"),
        ("put", f"{WORKFLOWS}1/"),
        ("patch", f"{WORKFLOWS}1/"),
        ("delete", f"{WORKFLOWS}1/"),
        ("get", f"{WORKFLOWS}1/versions/"),
        ("get", f"{WORKFLOWS}1/versions/1/"),
        ("post", f"{WORKFLOWS}validate/"),
        ("post", f"{WORKFLOWS}1/runs/"),
        ("get", RUNS),
        ("get", f"{RUNS}1/"),
        ("post", f"{RUNS}1/retry/"),
        ("get", f"{RUNS}1/retry/preview/"),
        ("post", f"{RUNS}1/tasks/a/retry/"),
        ("post", f"{RUNS}1/cancel/"),
        ("post", f"{RUNS}1/resubmit/"),
        ("get", f"{RUNS}1/tasks/a/logs/"),
        ("get", f"{RUNS}1/events/"),
    ],
)
def test_every_endpoint_answers_401_without_credentials(method, url):
    response = getattr(APIClient(), method)(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_obtained_with_the_password_authenticates_requests(user):
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-123"}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    again = client.post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-123"}
    )
    # Each login makes a new named personal token (docs/api.md); both work.
    assert again.json()["token"] != token
    for key in (token, again.json()["token"]):
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert client.get(WORKFLOWS).status_code == 200


def test_wrong_credentials_get_a_400_that_says_so(user):
    response = APIClient().post(
        "/api/auth/token/",
        {"username": "alice", "password": "wrong"},
        format="json",
    )
    assert response.status_code == 400
    assert "Unable to log in" in response.json()["non_field_errors"][0]


def test_a_token_request_without_a_password_names_the_field(user):
    response = APIClient().post("/api/auth/token/", {"username": "alice"})
    assert response.status_code == 400
    assert "password" in response.json()


def test_a_bad_token_is_a_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(WORKFLOWS).status_code == 401


def test_a_session_login_authenticates_too(user):
    client = APIClient()
    assert client.login(username="alice", password="pw-alice-123")
    assert client.get(WORKFLOWS).status_code == 200


# --- creating workflows ----------------------------------------------------------


def test_creating_from_json_returns_the_workflow_with_its_first_version(api):
    response = post_json(api, f"{WORKFLOWS}?message=first", diamond_document())
    assert response.status_code == 201
    body = response.json()
    workflow = Workflow.objects.get()
    assert body["id"] == workflow.pk
    assert body["name"] == "diamond"
    assert body["owner"] == "alice"
    assert body["latest_version"]["number"] == 1
    assert body["latest_version"]["message"] == "first"
    assert body["latest_version"]["author"] == "alice"
    assert body["document"] == diamond_document()
    assert body["urls"]["self"].endswith(f"{WORKFLOWS}{workflow.pk}/")
    assert response["Location"] == body["urls"]["self"]


def test_creating_from_yaml_works_and_takes_the_message_from_a_header(api):
    document = diamond_document("from-yaml")
    document["metadata"]["labels"] = {"team": "data"}
    response = api.post(
        WORKFLOWS,
        yaml.safe_dump(document),
        content_type="application/yaml",
        HTTP_X_FLOWDECK_MESSAGE="from the editor",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["labels"] == {"team": "data"}
    assert body["latest_version"]["message"] == "from the editor"
    assert body["document"] == document


def test_every_spec_error_comes_back_at_once_with_its_path_and_nothing_is_saved(api):
    document = diamond_document()
    document["spec"]["tasks"][0]["dependencies"] = ["nowhere"]
    document["spec"]["tasks"][1]["image"] = ""
    document["metadata"]["name"] = "Not A DNS Name"
    response = post_json(api, WORKFLOWS, document)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "the workflow spec is invalid"
    paths = [error["path"] for error in body["errors"]]
    assert len(paths) >= 3
    assert "metadata.name" in paths
    assert any(path.startswith("spec.tasks[0]") for path in paths)
    assert any(path.startswith("spec.tasks[1]") for path in paths)
    assert all(error["message"] for error in body["errors"])
    assert Workflow.objects.count() == 0
    assert WorkflowVersion.objects.count() == 0


def test_a_quantity_too_large_to_store_is_refused_when_saved(api):
    # It used to be saved (201), then make every submit fail (500) storing
    # the request in a 64-bit column.
    task = shell_task("a", resources={"requests": {"cpu": "1e100"}})
    response = post_json(api, WORKFLOWS, workflow_document("huge", [task]))
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "path": "spec.tasks[0].resources.requests.cpu",
            "message": "must be at most 100000",
        }
    ]
    assert not Workflow.objects.exists()


def test_a_taken_name_is_an_error_at_metadata_name(api, diamond):
    response = post_json(api, WORKFLOWS, diamond_document())
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["metadata.name"]
    assert Workflow.objects.count() == 1


def test_a_body_that_is_not_a_document_is_a_spec_error(api):
    response = post_json(api, WORKFLOWS, ["not", "a", "mapping"])
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == ""


def test_unparseable_yaml_is_a_400_naming_the_line(api):
    response = api.post(
        WORKFLOWS, "metadata: [unclosed\n", content_type="application/yaml"
    )
    assert response.status_code == 400
    assert "line" in response.json()["detail"]
    assert Workflow.objects.count() == 0


def test_a_version_message_over_500_characters_is_refused(api):
    response = post_json(api, f"{WORKFLOWS}?message={'m' * 501}", diamond_document())
    assert response.status_code == 400
    assert "message" in response.json()
    assert Workflow.objects.count() == 0


def test_a_form_body_is_not_accepted(api):
    response = api.post(WORKFLOWS, {"metadata": "x"}, format="multipart")
    assert response.status_code == 415


# --- listing and reading workflows -----------------------------------------------


def test_the_list_is_paginated_and_shows_only_my_workflows(
    api, user, other_user, project, other_project
):
    create_workflow(diamond_document("mine"), author=user, project=project)
    create_workflow(
        diamond_document("theirs"), author=other_user, project=other_project
    )
    response = api.get(WORKFLOWS)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [item["name"] for item in body["results"]] == ["mine"]
    assert "document" not in body["results"][0]


def test_an_admin_sees_every_workflow(
    admin_user, user, other_user, project, other_project
):
    create_workflow(diamond_document("mine"), author=user, project=project)
    create_workflow(
        diamond_document("theirs"), author=other_user, project=other_project
    )
    client = APIClient()
    client.force_authenticate(admin_user)
    assert client.get(WORKFLOWS).json()["count"] == 2


def test_search_finds_workflows_by_name_or_description(api, user, project):
    described = diamond_document("nightly")
    described["metadata"]["description"] = "Loads the WAREHOUSE"
    create_workflow(described, author=user, project=project)
    create_workflow(diamond_document("reports"), author=user, project=project)

    def names(query: str) -> list[str]:
        response = api.get(WORKFLOWS, {"search": query})
        return [item["name"] for item in response.json()["results"]]

    assert names("warehouse") == ["nightly"]
    assert names("PORT") == ["reports"]
    assert names("absent") == []


def test_the_name_filter_matches_the_whole_name_only(api, user, project, other_project):
    create_workflow(diamond_document("etl"), author=user, project=project)
    create_workflow(diamond_document("etl-nightly"), author=user, project=project)
    member(other_project, user, "viewer")
    create_workflow(diamond_document("etl"), author=user, project=other_project)

    def found(**query: str) -> list[tuple[str, str]]:
        response = api.get(WORKFLOWS, query)
        assert response.status_code == 200, response.json()
        return [(w["project"]["name"], w["name"]) for w in response.json()["results"]]

    assert sorted(found(name="etl")) == [("elsewhere", "etl"), ("team", "etl")]
    assert found(name="etl", project="team") == [("team", "etl")]
    assert found(name="et") == []


def test_the_label_filter_matches_keys_and_values(api, user, project):
    for name, labels in [
        ("a-one", {"team": "data", "app.kubernetes.io/tier": "gold"}),
        ("b-two", {"team": "web"}),
        ("c-three", {}),
    ]:
        document = diamond_document(name)
        document["metadata"]["labels"] = labels
        create_workflow(document, author=user, project=project)

    def names(*labels: str) -> list[str]:
        response = api.get(WORKFLOWS, {"label": list(labels)})
        return [item["name"] for item in response.json()["results"]]

    assert names("team:data") == ["a-one"]
    assert names("team") == ["a-one", "b-two"]
    assert names("team:data", "app.kubernetes.io/tier:gold") == ["a-one"]
    assert names("team:web", "app.kubernetes.io/tier:gold") == []


def test_a_label_filter_without_a_key_is_a_400_naming_it(api):
    response = api.get(WORKFLOWS, {"label": ":value"})
    assert response.status_code == 400
    assert "label" in response.json()


def test_the_detail_has_the_latest_document(api, diamond):
    response = api.get(f"{WORKFLOWS}{diamond.pk}/")
    assert response.status_code == 200
    assert response.json()["document"] == diamond_document()


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("put", ""),
        ("patch", ""),
        ("delete", ""),
        ("get", "versions/"),
        ("get", "versions/1/"),
        ("post", "runs/"),
    ],
)
def test_another_users_workflow_is_a_404(
    api, other_user, method, suffix, other_project
):
    theirs = create_workflow(
        diamond_document("theirs"), author=other_user, project=other_project
    )
    response = getattr(api, method)(
        f"{WORKFLOWS}{theirs.pk}/{suffix}", diamond_document("theirs"), format="json"
    )
    assert response.status_code == 404
    assert theirs.versions.count() == 1
    assert Workflow.objects.filter(pk=theirs.pk).exists()


def test_an_unknown_workflow_is_a_404(api):
    assert api.get(f"{WORKFLOWS}999999/").status_code == 404


# --- updating and deleting -------------------------------------------------------


def test_put_saves_a_full_document_as_version_2(api, diamond):
    document = diamond_document()
    document["metadata"]["description"] = "now described"
    response = api.put(
        f"{WORKFLOWS}{diamond.pk}/?message=describe", document, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["latest_version"]["number"] == 2
    assert body["latest_version"]["message"] == "describe"
    assert body["description"] == "now described"
    assert body["document"] == document
    assert diamond.versions.count() == 2


def test_put_as_yaml_works_too(api, diamond):
    document = diamond_document()
    document["spec"]["tasks"].append(shell_task("e", dependencies=["d"]))
    response = api.put(
        f"{WORKFLOWS}{diamond.pk}/",
        yaml.safe_dump(document),
        content_type="application/yaml",
    )
    assert response.status_code == 200
    assert len(response.json()["document"]["spec"]["tasks"]) == 5


def test_put_cannot_rename_a_workflow(api, diamond):
    response = api.put(
        f"{WORKFLOWS}{diamond.pk}/", diamond_document("renamed"), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "metadata.name"
    assert diamond.versions.count() == 1


def test_an_invalid_put_saves_no_version(api, diamond):
    document = diamond_document()
    document["spec"]["tasks"] = []
    response = api.put(f"{WORKFLOWS}{diamond.pk}/", document, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]
    assert diamond.versions.count() == 1


def test_patch_merges_objects_and_keeps_everything_else(api, diamond):
    response = api.patch(
        f"{WORKFLOWS}{diamond.pk}/",
        {"metadata": {"description": "patched", "labels": {"tier": "gold"}}},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["latest_version"]["number"] == 2
    assert body["document"]["metadata"] == {
        "name": "diamond",
        "description": "patched",
        "labels": {"tier": "gold"},
    }
    assert body["document"]["spec"] == diamond_document()["spec"]
    assert body["labels"] == {"tier": "gold"}


def test_patch_replaces_lists_and_null_removes_a_key(api, diamond):
    api.patch(
        f"{WORKFLOWS}{diamond.pk}/", {"metadata": {"description": "x"}}, format="json"
    )
    response = api.patch(
        f"{WORKFLOWS}{diamond.pk}/",
        {"metadata": {"description": None}, "spec": {"tasks": [shell_task("only")]}},
        format="json",
    )
    assert response.status_code == 200
    document = response.json()["document"]
    assert "description" not in document["metadata"]
    assert document["spec"]["tasks"] == [shell_task("only")]
    assert response.json()["latest_version"]["number"] == 3


def test_an_invalid_patch_saves_no_version(api, diamond):
    response = api.patch(
        f"{WORKFLOWS}{diamond.pk}/",
        {"spec": {"tasks": [shell_task("a", dependencies=["a"])]}},
        format="json",
    )
    assert response.status_code == 400
    assert any(e["path"].startswith("spec.tasks[0]") for e in response.json()["errors"])
    assert diamond.versions.count() == 1


def test_delete_is_refused_while_a_run_has_not_finished(api, diamond, user):
    submit_run(diamond.latest_version, user=user)
    response = api.delete(f"{WORKFLOWS}{diamond.pk}/")
    assert response.status_code == 409
    assert "unfinished" in response.json()["detail"]
    assert Workflow.objects.filter(pk=diamond.pk).exists()


@driven
def test_delete_removes_a_workflow_whose_runs_finished(api, diamond, user):
    drive_run(submit_run(diamond.latest_version, user=user))
    response = api.delete(f"{WORKFLOWS}{diamond.pk}/")
    assert response.status_code == 204
    assert not Workflow.objects.exists()
    assert not Run.objects.exists()
    assert not WorkflowVersion.objects.exists()


# --- versions --------------------------------------------------------------------


def test_versions_are_listed_newest_first_without_documents(api, diamond, user):
    from workflows.services.submit import update_workflow

    changed = diamond_document(parallelism=2)
    update_workflow(diamond, changed, author=user, message="second")
    response = api.get(f"{WORKFLOWS}{diamond.pk}/versions/")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [v["number"] for v in results] == [2, 1]
    assert results[0] == {
        "number": 2,
        "message": "second",
        "author": "alice",
        "created_at": results[0]["created_at"],
        "source_format": None,
    }


def test_the_version_list_says_which_versions_were_converted_from_argo(
    api, diamond, user
):
    from workflows.services.submit import update_workflow

    source = {"format": "argo", "text": "apiVersion: argoproj.io/v1alpha1\n"}
    update_workflow(
        diamond, diamond_document(parallelism=2), author=user, source=source
    )
    update_workflow(diamond, diamond_document(parallelism=3), author=user)
    results = api.get(f"{WORKFLOWS}{diamond.pk}/versions/").json()["results"]
    assert [(v["number"], v["source_format"]) for v in results] == [
        (3, None),
        (2, "argo"),
        (1, None),
    ]
    # The original's text is in the version itself only.
    assert "source" not in results[1]
    assert api.get(f"{WORKFLOWS}{diamond.pk}/versions/2/").json()["source"] == source


def test_one_version_comes_with_its_document(api, diamond):
    response = api.get(f"{WORKFLOWS}{diamond.pk}/versions/1/")
    assert response.status_code == 200
    assert response.json()["document"] == diamond_document()
    assert response.json()["message"] == "created"


def test_an_unknown_version_is_a_404(api, diamond):
    assert api.get(f"{WORKFLOWS}{diamond.pk}/versions/7/").status_code == 404


# --- validate --------------------------------------------------------------------


def test_validate_says_a_good_document_is_valid_and_saves_nothing(api):
    response = post_json(api, f"{WORKFLOWS}validate/", diamond_document())
    assert response.status_code == 200
    assert response.json() == {
        "valid": True,
        "errors": [],
        "backend": "local",
        "warnings": [],
    }
    assert Workflow.objects.count() == 0


def test_validate_warns_of_a_task_the_local_backend_cannot_run(api, settings):
    document = diamond_document()
    document["spec"]["tasks"][1] = {"name": "b", "image": "alpine:3.20"}
    document["spec"]["tasks"][3]["dependencies"] = ["c"]
    response = post_json(api, f"{WORKFLOWS}validate/", document)
    body = response.json()
    assert body["valid"] is True
    assert [w["path"] for w in body["warnings"]] == ["spec.tasks[1].command"]
    assert "ignores image" in body["warnings"][0]["message"]
    settings.FLOWDECK_BACKEND = "kubernetes"
    body = post_json(api, f"{WORKFLOWS}validate/", document).json()
    assert body["backend"] == "kubernetes"
    assert body["warnings"] == []


def test_validate_lists_every_error_of_a_bad_document_with_a_200(api):
    document = diamond_document()
    document["spec"]["tasks"][3]["dependencies"] = ["b", "ghost"]
    document["spec"]["parallelism"] = -1
    response = api.post(
        f"{WORKFLOWS}validate/",
        yaml.safe_dump(document),
        content_type="application/yaml",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    paths = [error["path"] for error in body["errors"]]
    assert any(path.startswith("spec.tasks[3].dependencies") for path in paths)
    assert any(path.startswith("spec.parallelism") for path in paths)


def test_validate_answers_400_when_the_yaml_does_not_parse(api):
    response = api.post(
        f"{WORKFLOWS}validate/", "a: b: c\n", content_type="application/yaml"
    )
    assert response.status_code == 400


# --- submitting runs -------------------------------------------------------------


def test_a_run_is_submitted_with_parameters_and_returned_with_its_tasks(
    api, user, project
):
    workflow = create_workflow(params_document(), author=user, project=project)
    response = submit(api, workflow, {"parameters": {"day": "2024-05-01"}})
    assert response.status_code == 201
    body = response.json()
    run = Run.objects.get()
    assert body["id"] == run.pk
    assert body["workflow"] == {"id": workflow.pk, "name": "daily"}
    assert body["version"] == 1
    assert body["status"] == RunStatus.PENDING
    assert body["parameters"] == {"day": "2024-05-01"}
    assert body["triggered_by"] == "alice"
    assert body["duration_seconds"] is None
    assert body["summary"] == {
        "total": 1,
        "by_status": {TaskStatus.PENDING: 1},
        "groups": [],
    }
    assert body["urls"]["tasks"].endswith(f"/api/runs/{run.pk}/tasks/")
    tasks = run_tasks(api, run.pk)
    assert [task["name"] for task in tasks] == ["report"]
    assert tasks[0]["status"] == TaskStatus.PENDING


def test_parameter_defaults_fill_what_is_not_given(api, user, project):
    workflow = create_workflow(params_document(), author=user, project=project)
    response = submit(api, workflow)
    assert response.status_code == 201
    assert response.json()["parameters"] == {"day": "x"}


def test_a_token_client_submits_with_the_api_trigger(user, project):
    from accounts.tokens import issue

    workflow = create_workflow(params_document(), author=user, project=project)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue(user, 'ci')[1]}")
    assert submit(client, workflow).json()["trigger"] == Run.Trigger.API


def test_an_unknown_parameter_is_a_400_naming_it_and_starts_nothing(api, user, project):
    workflow = create_workflow(params_document(), author=user, project=project)
    response = submit(api, workflow, {"parameters": {"day": "1", "hour": "2"}})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"path": "parameters.hour", "message": "unknown parameter"}
    ]
    assert Run.objects.count() == 0


def test_a_parameter_with_a_nul_is_a_400_naming_it_and_starts_nothing(
    api, user, project
):
    workflow = create_workflow(params_document(), author=user, project=project)
    response = submit(api, workflow, {"parameters": {"day": "2024\x00-05-01"}})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "path": "parameters.day",
            "message": "must not contain a NUL character (U+0000)",
        }
    ]
    assert Run.objects.count() == 0


def test_parameters_that_are_not_an_object_are_a_400_naming_the_field(
    api, user, project
):
    workflow = create_workflow(params_document(), author=user, project=project)
    response = submit(api, workflow, {"parameters": ["day"]})
    assert response.status_code == 400
    assert "parameters" in response.json()
    assert Run.objects.count() == 0


def test_an_older_version_can_be_run(api, diamond, user):
    from workflows.services.submit import update_workflow

    update_workflow(diamond, params_document("diamond"), author=user)
    response = submit(api, diamond, {"version": 1})
    assert response.status_code == 201
    assert response.json()["version"] == 1
    tasks = run_tasks(api, response.json()["id"])
    assert [t["name"] for t in tasks] == ["a", "b", "c", "d"]


def test_an_unknown_version_to_run_is_a_400_naming_the_field(api, diamond):
    response = submit(api, diamond, {"version": 9})
    assert response.status_code == 400
    assert "version" in response.json()
    assert Run.objects.count() == 0


# --- listing runs ----------------------------------------------------------------


def test_runs_are_listed_newest_first_and_only_mine(
    api, diamond, user, other_user, other_project
):
    first = submit_run(diamond.latest_version, user=user)
    second = submit_run(diamond.latest_version, user=user)
    theirs = create_workflow(
        diamond_document("theirs"), author=other_user, project=other_project
    )
    submit_run(theirs.latest_version, user=other_user)
    response = api.get(RUNS)
    assert response.status_code == 200
    assert [run["id"] for run in response.json()["results"]] == [second.pk, first.pk]
    assert "tasks" not in response.json()["results"][0]


def test_runs_filter_by_workflow_and_status(api, diamond, user, project):
    other = create_workflow(diamond_document("other"), author=user, project=project)
    mine = submit_run(diamond.latest_version, user=user)
    submit_run(other.latest_version, user=user)

    def ids(**query: Any) -> list[int]:
        return [run["id"] for run in api.get(RUNS, query).json()["results"]]

    assert ids(workflow=diamond.pk) == [mine.pk]
    assert len(ids(status="Pending")) == 2
    assert ids(status="Running") == []
    assert len(ids(status="Running,Pending")) == 2


def test_a_bad_status_filter_is_a_400_naming_the_field_and_the_allowed_values(api):
    response = api.get(RUNS, {"status": "Done"})
    assert response.status_code == 400
    message = response.json()["status"][0]
    assert "Done" in message
    assert "Succeeded" in message and "Cancelling" in message


def test_a_workflow_filter_that_is_not_a_number_is_a_400(api):
    response = api.get(RUNS, {"workflow": "diamond"})
    assert response.status_code == 400
    assert "workflow" in response.json()


# --- run detail ------------------------------------------------------------------


@driven
def test_the_run_detail_has_every_task_with_its_dependencies_and_attempts(
    api, diamond, user, django_assert_max_num_queries
):
    run = failed_b_run(diamond, user)
    # The run, its tasks, their attempts (and the version's spec, if not cached).
    with django_assert_max_num_queries(4):
        response = api.get(f"{RUNS}{run.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == RunStatus.FAILED
    assert body["duration_seconds"] is not None and body["duration_seconds"] >= 0
    assert body["last_seq"] == run.last_seq > 0
    listed = run_tasks(api, run.pk)
    tasks = {task["name"]: task for task in listed}
    assert [task["name"] for task in listed][0] == "a"
    assert tasks["d"]["dependencies"] == ["b", "c"]
    assert tasks["a"]["dependencies"] == []
    assert tasks["b"]["status"] == TaskStatus.FAILED
    assert tasks["d"]["status"] == TaskStatus.UPSTREAM_FAILED
    assert tasks["d"]["attempts"] == []
    attempt = tasks["b"]["attempts"][0]
    assert attempt["number"] == 1
    assert attempt["status"] == AttemptStatus.FAILED
    assert attempt["exit_code"] == 1
    assert attempt["handle"].startswith("fake-")
    assert set(attempt) == {
        "number",
        "status",
        "backend",
        "handle",
        "created_at",
        "started_at",
        "finished_at",
        "exit_code",
        "reason",
        "message",
    }


def wide_document(name: str, count: int) -> dict[str, Any]:
    tasks = [shell_task(f"load-{i}") for i in range(count)]
    tasks.append(shell_task("report", dependencies=["load-0"]))
    return workflow_document(name, tasks)


def test_the_run_detail_summarises_its_tasks_instead_of_listing_them(
    api, user, project, django_assert_max_num_queries
):
    workflow = create_workflow(wide_document("wide", 300), author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    TaskRun.objects.filter(run=run, name__in=["load-3", "load-7"]).update(
        status=TaskStatus.FAILED
    )
    with django_assert_max_num_queries(3):
        body = api.get(f"{RUNS}{run.pk}/").json()
    assert "tasks" not in body
    assert body["summary"] == {
        "total": 301,
        "by_status": {TaskStatus.PENDING: 299, TaskStatus.FAILED: 2},
        "groups": [],
    }
    assert body["urls"]["tasks"] == f"http://testserver/api/runs/{run.pk}/tasks/"


def test_the_task_list_comes_a_page_at_a_time_in_topological_order(api, user, project):
    workflow = create_workflow(wide_document("wide", 300), author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    first = api.get(f"{RUNS}{run.pk}/tasks/").json()
    assert first["count"] == 301
    assert len(first["tasks"]) == 200
    assert first["next"] == (
        f"http://testserver/api/runs/{run.pk}/tasks/?offset=200&limit=200"
    )
    second = api.get(first["next"]).json()
    assert second["next"] is None
    names = [t["name"] for t in first["tasks"] + second["tasks"]]
    assert len(set(names)) == 301
    assert names.index("report") > names.index("load-0")
    assert second["tasks"][-1]["attempts"] == []


def test_the_task_list_filters_by_status_and_finds_a_name(api, user, project):
    workflow = create_workflow(wide_document("wide", 30), author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    TaskRun.objects.filter(run=run, name="load-12").update(status=TaskStatus.FAILED)
    TaskRun.objects.filter(run=run, name="load-21").update(status=TaskStatus.ERROR)

    def names(**query: Any) -> list[str]:
        return [task["name"] for task in run_tasks(api, run.pk, **query)]

    assert names(status="Failed,Error") == ["load-12", "load-21"]
    assert names(search="D-1") == ["load-1", *(f"load-{i}" for i in range(10, 20))]
    assert names(search="load-1", status="Failed") == ["load-12"]
    assert names(search="nothing") == []
    page = api.get(f"{RUNS}{run.pk}/tasks/", {"search": "load", "limit": 5}).json()
    assert (page["count"], len(page["tasks"])) == (30, 5)
    assert "search=load" in page["next"]


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ({"status": "Done"}, "status", "unknown status 'Done'"),
        ({"limit": "0"}, "limit", "must be from 1 to 1000"),
        ({"limit": "5000"}, "limit", "must be from 1 to 1000"),
        ({"offset": "-1"}, "offset", "must be from 0"),
        ({"search": "x" * 73}, "search", "at most 72 characters"),
    ],
)
def test_a_bad_task_list_query_is_a_400_naming_the_parameter(
    api, diamond, user, query, field, problem
):
    run = submit_run(diamond.latest_version, user=user)
    response = api.get(f"{RUNS}{run.pk}/tasks/", query)
    assert response.status_code == 400
    assert problem in response.json()[field][0]


def test_another_projects_run_tasks_are_a_404(api, other_user, other_project):
    theirs = create_workflow(
        diamond_document("theirs"), author=other_user, project=other_project
    )
    run = submit_run(theirs.latest_version, user=other_user)
    assert api.get(f"{RUNS}{run.pk}/tasks/").status_code == 404


@driven
def test_the_run_page_rows_are_what_the_task_serializer_shows(api, diamond, user, rf):
    from workflows.api.serializers import (
        TaskRunSerializer,
        all_task_rows,
        task_context,
    )
    from workflows.api.views import tasks_with_attempts

    run = failed_b_run(diamond, user)
    TaskRun.objects.filter(run=run, name="c").update(
        fan_group="", fan_item={"x": [1]}, message="why"
    )
    context = {"request": rf.get("/")}
    expected = TaskRunSerializer(
        tasks_with_attempts(run.tasks.all()),
        many=True,
        context=task_context(run, context),
    ).data
    shown = all_task_rows(run, context)
    assert json.loads(json.dumps(shown)) == json.loads(json.dumps(expected))
    assert any(task["attempts"] for task in shown)


def test_the_run_detail_marks_exit_handlers_and_names_the_workflow_a_task_runs(
    api, user, project
):
    create_workflow(
        workflow_document("etl", [shell_task("load")]), author=user, project=project
    )
    document = workflow_document(
        "nightly",
        [
            {"name": "latest", "workflow": {"name": "etl"}},
            {"name": "pinned", "workflow": {"name": "etl", "version": 1}},
            shell_task("check", dependencies=["latest", "pinned"]),
        ],
        onExit=[
            shell_task("report"),
            shell_task("notify", dependencies=["report"]),
        ],
    )
    workflow = create_workflow(document, author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    body = api.get(f"{RUNS}{run.pk}/").json()
    tasks = {
        task["name"]: (task["exit_handler"], task["workflow"], task["dependencies"])
        for task in run_tasks(api, run.pk)
    }
    assert tasks == {
        "latest": (False, {"name": "etl", "version": None}, []),
        "pinned": (False, {"name": "etl", "version": 1}, []),
        "check": (False, None, ["latest", "pinned"]),
        "report": (True, None, []),
        "notify": (True, None, ["report"]),
    }
    assert body["children"] == []


@driven
def test_each_instance_of_a_sub_workflow_fan_out_names_the_workflow_it_runs(
    api, user, project
):
    create_workflow(
        workflow_document(
            "square",
            [shell_task("calc", "echo {{params.n}}")],
            parameters=[{"name": "n"}],
        ),
        author=user,
        project=project,
    )
    document = workflow_document(
        "squares",
        [
            {
                "name": "each",
                "workflow": {"name": "square", "parameters": {"n": "{{item}}"}},
                "withItems": [2, 3],
            }
        ],
    )
    workflow = create_workflow(document, author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    advance_run(run.pk)
    body = api.get(f"{RUNS}{run.pk}/").json()
    square = {"name": "square", "version": None}
    assert {task["name"]: task["workflow"] for task in run_tasks(api, run.pk)} == {
        "each": square,
        "each[0]": square,
        "each[1]": square,
    }
    # The summary counts the fan-out's instances apart too.
    assert body["summary"]["total"] == 3
    [group] = body["summary"]["groups"]
    assert (group["name"], group["total"]) == ("each", 2)
    assert sum(group["by_status"].values()) == 2
    # Each instance's child run is the run's child, under the instance's name.
    assert sorted(child["task"] for child in body["children"]) == [
        "each[0]",
        "each[1]",
    ]


@driven
def test_the_run_detail_never_shows_the_rendered_request(api, diamond, user):
    run = drive_run(submit_run(diamond.latest_version, user=user))
    Attempt.objects.filter(task_run__run=run).update(
        request={"env": [{"name": "TOKEN", "value": "s3cret"}]}
    )
    response = api.get(f"{RUNS}{run.pk}/")
    assert not find_paths(response.json(), "request")
    assert "s3cret" not in response.content.decode()


def test_another_users_run_is_a_404_everywhere(api, other_user, other_project):
    theirs = create_workflow(
        diamond_document("theirs"), author=other_user, project=other_project
    )
    run = submit_run(theirs.latest_version, user=other_user)
    for method, suffix in [
        ("get", ""),
        ("post", "retry/"),
        ("get", "retry/preview/"),
        ("post", "tasks/a/retry/"),
        ("post", "cancel/"),
        ("post", "resubmit/"),
        ("get", "tasks/a/logs/"),
        ("get", "events/"),
    ]:
        response = getattr(api, method)(f"{RUNS}{run.pk}/{suffix}")
        assert response.status_code == 404, (method, suffix)
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING
    assert Run.objects.count() == 1


# --- retry -----------------------------------------------------------------------


def test_retrying_a_run_that_has_not_finished_is_a_409(api, diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    response = api.post(f"{RUNS}{run.pk}/retry/")
    assert response.status_code == 409
    assert "only a finished run" in response.json()["detail"]


@driven
def test_retry_after_a_failure_reruns_only_the_failed_branch(api, diamond, user):
    run = failed_b_run(diamond, user)
    response = api.post(f"{RUNS}{run.pk}/retry/")
    assert response.status_code == 200
    body = response.json()
    assert body["rerun"] == ["b", "d"]
    assert body["run"]["status"] == RunStatus.RUNNING
    assert body["run"]["summary"]["by_status"] == {
        TaskStatus.SUCCEEDED: 2,
        TaskStatus.PENDING: 2,
    }
    statuses = {task["name"]: task["status"] for task in run_tasks(api, run.pk)}
    assert statuses == {
        "a": TaskStatus.SUCCEEDED,
        "b": TaskStatus.PENDING,
        "c": TaskStatus.SUCCEEDED,
        "d": TaskStatus.PENDING,
    }
    run = drive_run(run)
    assert run.status == RunStatus.SUCCEEDED
    assert run.tasks.get(name="a").attempts_count == 1
    assert run.tasks.get(name="b").attempts_count == 2


@driven
def test_retrying_a_run_where_everything_succeeded_is_a_409(api, diamond, user):
    run = drive_run(submit_run(diamond.latest_version, user=user))
    response = api.post(f"{RUNS}{run.pk}/retry/")
    assert response.status_code == 409
    assert "nothing to retry" in response.json()["detail"]


@driven
def test_the_retry_preview_names_what_would_run_again(api, diamond, user):
    run = failed_b_run(diamond, user)
    url = f"{RUNS}{run.pk}/retry/preview/"
    assert api.get(url).json() == {"tasks": ["b", "d"]}
    assert api.get(url, {"task": "a"}).json() == {"tasks": ["a", "b", "c", "d"]}
    assert api.get(url, {"task": "c"}).json() == {"tasks": ["c", "d"]}
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_the_retry_preview_of_an_unknown_task_is_a_404(api, diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    response = api.get(f"{RUNS}{run.pk}/retry/preview/", {"task": "ghost"})
    assert response.status_code == 404
    assert "ghost" in response.json()["detail"]


@driven
def test_retry_from_a_task_reruns_it_and_its_downstream(api, diamond, user):
    run = drive_run(submit_run(diamond.latest_version, user=user))
    response = api.post(f"{RUNS}{run.pk}/tasks/c/retry/")
    assert response.status_code == 200
    assert response.json()["rerun"] == ["c", "d"]
    run = drive_run(run)
    assert run.status == RunStatus.SUCCEEDED
    assert run.tasks.get(name="c").attempts_count == 2
    assert run.tasks.get(name="b").attempts_count == 1


def test_retry_from_an_unknown_task_is_a_404(api, diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    response = api.post(f"{RUNS}{run.pk}/tasks/ghost/retry/")
    assert response.status_code == 404


def test_retry_from_a_task_of_a_running_run_is_a_409(api, diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    response = api.post(f"{RUNS}{run.pk}/tasks/a/retry/")
    assert response.status_code == 409
    assert TaskRun.objects.get(run=run, name="a").reason == ""


# --- cancel and resubmit ---------------------------------------------------------


def test_cancel_then_cancel_again_is_a_no_op(api, diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    first = api.post(f"{RUNS}{run.pk}/cancel/")
    assert first.status_code == 200
    assert first.json()["status"] == RunStatus.CANCELLING
    seq = first.json()["last_seq"]
    second = api.post(f"{RUNS}{run.pk}/cancel/")
    assert second.status_code == 200
    assert second.json()["status"] == RunStatus.CANCELLING
    assert second.json()["last_seq"] == seq


@driven
def test_cancelling_a_finished_run_is_a_409(api, diamond, user):
    run = drive_run(submit_run(diamond.latest_version, user=user))
    response = api.post(f"{RUNS}{run.pk}/cancel/")
    assert response.status_code == 409
    assert "already finished" in response.json()["detail"]


def test_resubmit_starts_a_new_run_with_the_same_parameters(api, user, project):
    workflow = create_workflow(params_document(), author=user, project=project)
    run = submit_run(workflow.latest_version, parameters={"day": "mon"}, user=user)
    response = api.post(f"{RUNS}{run.pk}/resubmit/")
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != run.pk
    assert body["parameters"] == {"day": "mon"}
    assert body["trigger"] == Run.Trigger.RESUBMIT
    assert body["resubmitted_from"] == run.pk


def test_resubmit_takes_new_parameters(api, user, project):
    workflow = create_workflow(params_document(), author=user, project=project)
    run = submit_run(workflow.latest_version, parameters={"day": "mon"}, user=user)
    response = post_json(
        api, f"{RUNS}{run.pk}/resubmit/", {"parameters": {"day": "tue"}}
    )
    assert response.status_code == 201
    assert response.json()["parameters"] == {"day": "tue"}


def test_resubmit_with_an_unknown_parameter_is_a_400(api, user, project):
    workflow = create_workflow(params_document(), author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    response = post_json(api, f"{RUNS}{run.pk}/resubmit/", {"parameters": {"x": "1"}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "parameters.x"
    assert Run.objects.count() == 1


# --- logs ------------------------------------------------------------------------


@pytest.fixture
def logged_run(diamond, user, tmp_path):
    """A run whose task b failed once and succeeded on retry, with a log file for
    each of b's attempts."""
    run = failed_b_run(diamond, user)
    for attempt in Attempt.objects.filter(task_run__run=run, task_run__name="b"):
        log = tmp_path / f"b-{attempt.number}.log"
        log.write_bytes(b"".join(b"line %d\n" % i for i in range(1, 11)))
        Attempt.objects.filter(pk=attempt.pk).update(log_path=str(log))
    return run


@driven
def test_the_log_of_the_latest_attempt_comes_as_text(api, logged_run, tmp_path):
    (tmp_path / "b-1.log").write_bytes(b"the first attempt\n")
    response = api.get(f"{RUNS}{logged_run.pk}/tasks/b/logs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Flowdeck-Log-Status"] == "complete"
    assert response["X-Flowdeck-Attempt"] == "1"
    assert b"".join(response.streaming_content) == b"the first attempt\n"


@driven
def test_the_log_of_a_named_attempt_and_its_tail(api, diamond, user, tmp_path):
    run = failed_b_run(diamond, user)
    api.post(f"{RUNS}{run.pk}/retry/")
    run = drive_run(run)
    for attempt in Attempt.objects.filter(task_run__run=run, task_run__name="b"):
        log = tmp_path / f"b-{attempt.number}.log"
        log.write_text(f"attempt {attempt.number}\nlast line\n")
        Attempt.objects.filter(pk=attempt.pk).update(log_path=str(log))
    url = f"{RUNS}{run.pk}/tasks/b/logs/"
    latest = api.get(url)
    assert latest["X-Flowdeck-Attempt"] == "2"
    assert b"".join(latest.streaming_content) == b"attempt 2\nlast line\n"
    first = api.get(url, {"attempt": 1})
    assert b"".join(first.streaming_content) == b"attempt 1\nlast line\n"
    tail = api.get(url, {"attempt": 1, "tail": 10})
    assert tail["Content-Length"] == "10"
    assert b"".join(tail.streaming_content) == b"last line\n"
    huge = api.get(url, {"tail": 10**12})
    assert b"".join(huge.streaming_content) == b"attempt 2\nlast line\n"


@driven
def test_a_job_attempts_completion_log_is_served_by_its_index(
    api, logged_run, tmp_path
):
    (tmp_path / "b-1.log").write_bytes(b"index 0: pod p succeeded\n")
    (tmp_path / "b-1.0.log").write_bytes(b"shard 0\n")
    url = f"{RUNS}{logged_run.pk}/tasks/b/logs/"
    shard = api.get(url, {"index": 0})
    assert b"".join(shard.streaming_content) == b"shard 0\n"
    assert shard["X-Flowdeck-Log-Status"] == "complete"
    missing = api.get(url, {"index": 7})
    assert (missing.status_code, missing["X-Flowdeck-Log-Status"]) == (200, "waiting")
    assert api.get(url, {"index": -1}).status_code == 400


@driven
def test_a_log_not_written_yet_is_an_empty_200_marked_waiting(api, diamond, user):
    run = failed_b_run(diamond, user)
    response = api.get(f"{RUNS}{run.pk}/tasks/a/logs/")
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-Flowdeck-Log-Status"] == "waiting"
    Attempt.objects.filter(task_run__run=run).update(log_path="/nonexistent/a.log")
    response = api.get(f"{RUNS}{run.pk}/tasks/a/logs/")
    assert response["X-Flowdeck-Log-Status"] == "waiting"


def test_a_task_that_has_not_started_has_a_waiting_log(api, diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    response = api.get(f"{RUNS}{run.pk}/tasks/a/logs/")
    assert response.status_code == 200
    assert response["X-Flowdeck-Log-Status"] == "waiting"


@driven
def test_the_log_of_an_unknown_task_or_attempt_is_a_404(api, logged_run):
    assert api.get(f"{RUNS}{logged_run.pk}/tasks/ghost/logs/").status_code == 404
    response = api.get(f"{RUNS}{logged_run.pk}/tasks/b/logs/", {"attempt": 5})
    assert response.status_code == 404
    assert "no attempt 5" in response.json()["detail"]


@pytest.mark.parametrize(
    "query", [{"attempt": "latest"}, {"attempt": 0}, {"tail": "-1"}]
)
def test_a_bad_log_query_is_a_400_naming_the_parameter(api, diamond, user, query):
    run = submit_run(diamond.latest_version, user=user)
    response = api.get(f"{RUNS}{run.pk}/tasks/a/logs/", query)
    assert response.status_code == 400
    assert set(response.json()) == set(query)


# --- events ----------------------------------------------------------------------


@driven
def test_events_come_in_order_after_since(api, diamond, user):
    run = drive_run(submit_run(diamond.latest_version, user=user))
    everything = api.get(f"{RUNS}{run.pk}/events/").json()
    seqs = [event["seq"] for event in everything["events"]]
    assert seqs == list(range(1, run.last_seq + 1))
    assert everything["last_seq"] == run.last_seq
    assert everything["next_since"] is None
    assert everything["events"][0]["kind"] == "run"
    later = api.get(f"{RUNS}{run.pk}/events/", {"since": 3}).json()
    assert [event["seq"] for event in later["events"]] == seqs[3:]
    assert (
        api.get(f"{RUNS}{run.pk}/events/", {"since": run.last_seq}).json()["events"]
        == []
    )


@driven
def test_events_come_in_pages_with_the_next_since(api, diamond, user):
    run = drive_run(submit_run(diamond.latest_version, user=user))
    page = api.get(f"{RUNS}{run.pk}/events/", {"since": 0, "limit": 2}).json()
    assert [event["seq"] for event in page["events"]] == [1, 2]
    assert page["next_since"] == 2
    page = api.get(f"{RUNS}{run.pk}/events/", {"since": 2, "limit": 2}).json()
    assert [event["seq"] for event in page["events"]] == [3, 4]


@pytest.mark.parametrize("since", ["soon", "-1", "1.5"])
def test_a_bad_since_is_a_400_naming_it(api, diamond, user, since):
    run = submit_run(diamond.latest_version, user=user)
    response = api.get(f"{RUNS}{run.pk}/events/", {"since": since})
    assert response.status_code == 400
    assert "since" in response.json()


# --- schema and health -----------------------------------------------------------


def test_the_openapi_schema_documents_every_endpoint(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for path in [
        "/api/auth/token/",
        "/api/workflows/",
        "/api/workflows/{id}/",
        "/api/workflows/{id}/versions/",
        "/api/workflows/{id}/versions/{number}/",
        "/api/workflows/validate/",
        "/api/workflows/{id}/runs/",
        "/api/runs/",
        "/api/runs/{id}/",
        "/api/runs/{id}/retry/",
        "/api/runs/{id}/retry/preview/",
        "/api/runs/{id}/tasks/{task}/retry/",
        "/api/runs/{id}/cancel/",
        "/api/runs/{id}/resubmit/",
        "/api/runs/{id}/tasks/{task}/logs/",
        "/api/runs/{id}/events/",
        "/api/runs/{id}/tasks/",
        "/api/projects/",
        "/api/projects/{id}/",
        "/api/projects/{id}/members/",
        "/api/projects/{id}/members/{user_id}/",
        "/api/tokens/",
        "/api/tokens/{id}/",
        "/api/audit/",
    ]:
        assert path in paths, path
    create = paths["/api/workflows/"]["post"]
    assert set(create["requestBody"]["content"]) == {
        "application/json",
        "application/yaml",
    }
    schemas = json.loads(response.content)["components"]["schemas"]
    assert "tasks" not in schemas["RunDetail"]["properties"]
    assert "summary" in schemas["RunDetail"]["properties"]
    listing = paths["/api/runs/{id}/tasks/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "status",
        "search",
        "group",
        "offset",
        "limit",
    }
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["$ref"].endswith("/TaskPage")


def test_healthz_answers_200_without_authentication(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_json_with_its_checks(client):
    response = client.get("/readyz")
    assert response.status_code in (200, 503)
    assert "checks" in response.json()


def test_the_browsable_api_renders_workflow_and_run_pages(api, diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    for url in [
        "/api/",
        WORKFLOWS,
        f"{WORKFLOWS}{diamond.pk}/",
        f"{WORKFLOWS}{diamond.pk}/versions/",
        RUNS,
        f"{RUNS}{run.pk}/",
    ]:
        response = api.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html")


def test_saving_an_unchanged_document_creates_no_new_version(api, diamond):
    response = api.put(f"{WORKFLOWS}{diamond.pk}/", diamond_document(), format="json")
    assert response.status_code == 200
    assert response.json()["latest_version"]["number"] == 1
    assert diamond.versions.count() == 1
