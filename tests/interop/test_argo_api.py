"""The Argo interop API: import a file (dry run, real, replace), keep the
original with the version, refuse what cannot run with its path and save
nothing, export a version as Argo YAML; who may do each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from accounts.models import AuditEntry
from flowcore.argo import convert_document, export_workflow
from flowcore.secrets import MASK
from flowcore.spec import parse_spec
from schedules.models import Schedule
from tests.conftest import member, shell_task, workflow_document
from workflows.models import Role, Workflow
from workflows.services.submit import create_workflow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "argo"

pytestmark = pytest.mark.django_db


def argo_file(name: str) -> str:
    return (FIXTURES / name).read_text()


def post_import(api: APIClient, text: str, query: str = "", **headers: Any) -> Any:
    return api.post(
        f"/api/workflows/import/{query}",
        data=text.encode(),
        content_type=headers.pop("content_type", "application/yaml"),
        **headers,
    )


def errors_of(response: Any) -> list[tuple[str, str]]:
    return [(e["path"], e["message"]) for e in response.json()["errors"]]


def test_importing_a_file_creates_the_workflow_and_keeps_the_original(
    api: APIClient, project: Any
) -> None:
    text = argo_file("dag-diamond.yaml")
    response = post_import(api, text)
    assert response.status_code == 201, response.content
    [imported] = response.json()["workflows"]
    assert (imported["name"], imported["version"], imported["created"]) == (
        "dag-diamond",
        1,
        True,
    )
    assert imported["notes"] == []
    workflow = Workflow.objects.get(pk=imported["id"])
    assert workflow.project == project
    assert {t.name for t in parse_spec(workflow.latest_version.document).tasks} == {
        "a",
        "b",
        "c",
        "d",
    }
    version = api.get(f"/api/workflows/{workflow.pk}/versions/1/").json()
    # The text as given, comment and all.
    assert version["source"] == {"format": "argo", "text": text}
    assert version["message"] == "imported from Argo (Workflow)"
    assert AuditEntry.objects.filter(
        action="workflow.create", target_id=str(workflow.pk)
    ).exists()


def test_the_report_comes_back_with_the_workflow(api: APIClient) -> None:
    response = post_import(api, argo_file("output-parameter.yaml"))
    assert response.status_code == 201
    [imported] = response.json()["workflows"]
    assert imported["notes"] == [
        {
            "path": "spec.templates[1].outputs",
            "message": "outputs written outside /flowdeck/outputs/ are copied there "
            "when the command ends (the image needs /bin/sh)",
            "essential": False,
        }
    ]


def test_a_cron_workflow_creates_its_schedule(api: APIClient) -> None:
    response = post_import(api, argo_file("cron.yaml"))
    assert response.status_code == 201, response.content
    [imported] = response.json()["workflows"]
    [listed] = imported["schedules"]
    schedule = Schedule.objects.get(pk=listed["id"])
    assert (
        schedule.name,
        schedule.expression,
        schedule.timezone,
        schedule.overlap,
        schedule.catch_up,
        schedule.enabled,
    ) == ("hello-world", "*/5 * * * *", "Europe/Berlin", "forbid", "none", True)
    assert schedule.workflow_id == imported["id"]
    assert schedule.next_fire_at is not None


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("unsupported-resource.yaml", "spec.templates[0].resource"),
        ("unsupported-suspend.yaml", "spec.templates[1].suspend"),
    ],
)
def test_what_cannot_run_is_a_400_naming_it_and_nothing_is_saved(
    api: APIClient, name: str, path: str
) -> None:
    response = post_import(api, argo_file(name))
    assert response.status_code == 400
    [(where, message)] = errors_of(response)
    assert where == path
    assert message.startswith("cannot be imported: a ")
    assert not Workflow.objects.exists()


def test_a_bad_schedule_undoes_the_whole_import(api: APIClient) -> None:
    text = argo_file("cron.yaml").replace("Europe/Berlin", "Mars/Olympus_Mons")
    text = argo_file("steps.yaml") + "---\n" + text
    response = post_import(api, text)
    assert response.status_code == 400
    [(where, message)] = errors_of(response)
    assert where == "documents[1].spec.timezone"
    assert "Mars/Olympus_Mons" in message
    assert not Workflow.objects.exists()
    assert not Schedule.objects.exists()


def test_a_file_of_several_documents_saves_callees_first_each_with_its_own_text(
    api: APIClient,
) -> None:
    caller = """# The caller.
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: caller}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - name: greet
            templateRef: {name: greeting, template: hello}
            arguments: {parameters: [{name: who, value: ada}]}
"""
    callee = """# The callee.
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: greeting}
spec:
  entrypoint: hello
  templates:
    - name: hello
      inputs: {parameters: [{name: who}]}
      container: {image: busybox, command: [echo, "{{inputs.parameters.who}}"]}
"""
    response = post_import(api, caller + "---\n" + callee)
    assert response.status_code == 201, response.content
    names = [w["name"] for w in response.json()["workflows"]]
    assert names == ["caller", "greeting"]  # the file's order
    first, second = (Workflow.objects.get(name=n) for n in names)
    assert second.pk < first.pk  # the callee was saved first
    assert first.latest_version.source["text"] == caller
    assert second.latest_version.source["text"] == callee
    call = first.latest_version.document["spec"]["tasks"][0]
    assert call["workflow"] == {"name": "greeting", "parameters": {"who": "ada"}}


def test_a_call_of_a_workflow_the_project_lacks_is_a_400(api: APIClient) -> None:
    text = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: caller}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: x, templateRef: {name: library, template: main}}
"""
    response = post_import(api, text)
    assert response.status_code == 400
    [(where, message)] = errors_of(response)
    assert where == "spec.tasks[0].workflow.name"
    assert "has no workflow 'library'" in message
    assert "converted from the file" in message


def test_a_taken_name_is_an_error_unless_replace(api: APIClient, project: Any) -> None:
    assert post_import(api, argo_file("steps.yaml")).status_code == 201
    again = post_import(api, argo_file("steps.yaml"))
    assert again.status_code == 400
    [(where, message)] = errors_of(again)
    assert where == "metadata.name"
    assert "exists in project team" in message
    changed = argo_file("steps.yaml").replace("hello2b", "hello2c")
    replaced = post_import(api, changed, "?replace=true&message=from%20git")
    assert replaced.status_code == 201, replaced.content
    [imported] = replaced.json()["workflows"]
    assert (imported["version"], imported["created"]) == (2, False)
    version = Workflow.objects.get(name="steps").latest_version
    assert version.message == "from git"
    assert version.source["text"] == changed
    assert AuditEntry.objects.filter(action="workflow.update").count() == 1


def test_two_documents_of_one_name_are_refused(api: APIClient) -> None:
    text = argo_file("steps.yaml") + "---\n" + argo_file("steps.yaml")
    response = post_import(api, text)
    assert response.status_code == 400
    assert errors_of(response) == [
        ("documents[1].metadata.name", "'steps' is also the name of documents[0]")
    ]


def test_a_dry_run_converts_and_checks_without_saving(api: APIClient) -> None:
    response = post_import(api, argo_file("conditionals.yaml"), "?dry_run=true")
    assert response.status_code == 200, response.content
    [document] = response.json()["documents"]
    assert document["kind"] == "Workflow"
    assert document["name"] == "conditional"
    assert document["document"]["spec"]["tasks"][0]["when"] == (
        "{{params.should_print}} == true"
    )
    assert document["errors"] == []
    assert [n["path"] for n in document["notes"]] == [
        "spec.arguments.parameters[0].name"
    ]
    assert not Workflow.objects.exists()


def test_a_dry_run_needs_no_project(django_user_model: Any) -> None:
    loner = django_user_model.objects.create_user("loner", password="pw-loner-123")
    client = APIClient()
    client.force_authenticate(loner)
    response = post_import(client, argo_file("steps.yaml"), "?dry_run=1")
    assert response.status_code == 200
    assert post_import(client, argo_file("steps.yaml")).status_code == 403


def test_a_dry_run_shows_what_the_spec_would_refuse(api: APIClient) -> None:
    text = argo_file("steps.yaml").replace("image: busybox", "image: ''", 1)
    response = post_import(api, text, "?dry_run=true")
    assert response.status_code == 200
    [document] = response.json()["documents"]
    # One template, called by each step: each task has its image.
    assert [e["path"] for e in document["errors"]] == [
        "spec.tasks[0].image",
        "spec.tasks[1].image",
        "spec.tasks[2].image",
    ]


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("apiVersion: v1\nkind: Pod\n", "apiVersion", "must be argoproj.io/v1alpha1"),
        ("a: b: c\n", "", "invalid YAML at line 1"),
        ("", "", "holds no document"),
        ("\x00", "", ""),
    ],
)
def test_a_file_that_is_not_argo_is_a_400_naming_where(
    api: APIClient, text: str, path: str, words: str
) -> None:
    response = post_import(api, text)
    assert response.status_code == 400
    body = response.json()
    if "errors" in body:
        [(where, message)] = errors_of(response)
        assert (where, words in message) == (path, True)


def test_the_body_must_be_the_file(api: APIClient) -> None:
    form = api.post("/api/workflows/import/", {"file": "x"})
    assert form.status_code == 400
    assert "send the Argo file" in form.json()["detail"]
    bad_bytes = post_import(api, "", content_type="application/yaml")
    assert bad_bytes.status_code == 400
    latin = api.post(
        "/api/workflows/import/", data=b"\xff\xfe", content_type="text/plain"
    )
    assert latin.status_code == 400
    assert "not valid UTF-8" in latin.json()["detail"]


@pytest.mark.parametrize("flag", ["replace", "dry_run"])
def test_a_flag_must_be_a_boolean(api: APIClient, flag: str) -> None:
    response = post_import(api, argo_file("steps.yaml"), f"?{flag}=maybe")
    assert response.status_code == 400
    assert response.json() == {flag: ["must be true or false"]}


def test_importing_needs_the_editor_role(
    django_user_model: Any, project: Any, other_user: Any
) -> None:
    viewer = member(
        project,
        django_user_model.objects.create_user("vic", password="pw-vic-12345"),
        Role.VIEWER,
    )
    client = APIClient()
    client.force_authenticate(viewer)
    response = post_import(client, argo_file("steps.yaml"))
    assert response.status_code == 403
    assert "editor" in response.json()["detail"]
    outsider = APIClient()
    outsider.force_authenticate(other_user)
    response = post_import(outsider, argo_file("steps.yaml"), f"?project={project.pk}")
    assert response.status_code == 400
    assert "project" in response.json()
    assert post_import(APIClient(), argo_file("steps.yaml")).status_code in (401, 403)
    assert not Workflow.objects.exists()


# --- export ----------------------------------------------------------------------


@pytest.fixture
def secretive(user: Any, project: Any) -> Workflow:
    document = workflow_document(
        "secretive",
        [
            shell_task(
                "use",
                'test -n "$TOKEN"',
                env=[{"name": "TOKEN", "value": "hunter2", "secret": True}],
            ),
            shell_task(
                "after", "echo {{tasks.use.outputs.result}}", dependencies=["use"]
            ),
        ],
    )
    return create_workflow(document, author=user, project=project)


def test_a_version_exports_as_argo_yaml_with_secrets_masked(
    api: APIClient, secretive: Workflow
) -> None:
    response = api.get(f"/api/workflows/{secretive.pk}/versions/1/export/?format=argo")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/yaml")
    assert 'filename="secretive-v1.argo.yaml"' in response["Content-Disposition"]
    assert b"hunter2" not in response.content
    exported = yaml.safe_load(response.content)
    assert exported["kind"] == "Workflow"
    use = next(t for t in exported["spec"]["templates"] if t["name"] == "use")
    assert use["container"]["env"][0] == {"name": "TOKEN", "value": MASK}
    back = convert_document(exported)
    assert [t.name for t in parse_spec(back.document).tasks] == ["use", "after"]


def test_an_export_as_json_or_as_a_workflow_template(
    api: APIClient, secretive: Workflow
) -> None:
    response = api.get(
        f"/api/workflows/{secretive.pk}/versions/1/export/?kind=WorkflowTemplate",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert response.json()["kind"] == "WorkflowTemplate"
    version = secretive.latest_version
    assert response.json() == export_workflow(
        {**version.document, **_masked(version.document)}, kind="WorkflowTemplate"
    )


def _masked(document: dict[str, Any]) -> dict[str, Any]:
    from flowcore.secrets import mask_secrets

    return mask_secrets(document)


@pytest.mark.parametrize(
    ("query", "field"),
    [("?kind=CronWorkflow", "kind"), ("?format=xml", "format")],
)
def test_a_bad_export_query_is_a_400_naming_it(
    api: APIClient, secretive: Workflow, query: str, field: str
) -> None:
    response = api.get(
        f"/api/workflows/{secretive.pk}/versions/1/export/{query}",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/workflows/{id}/versions/9/export/",
        "/api/workflows/99999/versions/1/export/",
        "/api/workflows/abc/versions/1/export/",
        "/api/workflows/{id}/versions/99999999999999999999999/export/",
    ],
)
def test_an_unknown_workflow_or_version_is_a_404(
    api: APIClient, secretive: Workflow, path: str
) -> None:
    response = api.get(path.format(id=secretive.pk))
    assert response.status_code == 404


def test_exporting_needs_to_see_the_workflow(
    other_user: Any, secretive: Workflow
) -> None:
    outsider = APIClient()
    outsider.force_authenticate(other_user)
    url = f"/api/workflows/{secretive.pk}/versions/1/export/"
    assert outsider.get(url).status_code == 404
    assert APIClient().get(url).status_code in (401, 403)


# --- the editor's save, with the original -----------------------------------


def test_saving_a_converted_document_keeps_its_source(api: APIClient) -> None:
    text = argo_file("steps.yaml")
    [document] = post_import(api, text, "?dry_run=true").json()["documents"]
    created = api.post(
        "/api/workflows/",
        {"document": document["document"], "source": {"format": "argo", "text": text}},
        format="json",
    )
    assert created.status_code == 201, created.content
    workflow = Workflow.objects.get(pk=created.json()["id"])
    assert workflow.latest_version.source == {"format": "argo", "text": text}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            {"document": {}, "source": {"format": "airflow", "text": "x"}},
            "source.format",
        ),
        ({"document": {}, "source": {"format": "argo", "text": 3}}, "source.text"),
        (
            {"document": {}, "source": {"format": "argo", "text": "x", "y": 1}},
            "source.y",
        ),
        ({"document": [], "source": None}, "document"),
        ({"document": {}, "extra": 1}, "extra"),
    ],
)
def test_a_bad_source_is_a_400_naming_it(
    api: APIClient, body: dict[str, Any], path: str
) -> None:
    response = api.post("/api/workflows/", body, format="json")
    assert response.status_code == 400
    assert path in [e["path"] for e in response.json()["errors"]]
    assert not Workflow.objects.exists()
