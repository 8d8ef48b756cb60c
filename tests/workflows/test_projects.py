"""Projects: workflows live in them, members have roles, names are unique per
project; the API and pages that manage them; the upgrade into "default"."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import audit, tokens
from accounts.models import AuditEntry, PersonalToken
from flowcore.spec import dump_document
from tests.conftest import diamond_document, member
from workflows.models import Membership, Project, Role, Workflow
from workflows.permissions import ROLE_ACTIONS, Action, required_role
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db

PROJECTS = "/api/projects/"


@pytest.fixture
def site(admin_user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


# --- the role table --------------------------------------------------------------


def test_each_role_may_do_what_the_weaker_ones_may_and_more():
    viewer, editor, operator, admin = (ROLE_ACTIONS[r] for r in Role)
    assert viewer < editor < operator < admin
    assert viewer == {Action.VIEW}
    assert Action.UPDATE_WORKFLOW in editor - viewer
    assert Action.SUBMIT_RUN in operator - editor
    assert Action.ADD_MEMBER in admin - operator
    assert Action.CREATE_PROJECT not in admin
    assert required_role(Action.CANCEL_RUN) == Role.OPERATOR
    assert required_role(Action.MANAGE_USERS) is None


# --- creating workflows in projects ----------------------------------------------


def test_a_member_of_one_project_creates_there_without_naming_it(api, project):
    response = api.post("/api/workflows/", diamond_document(), format="json")
    assert response.status_code == 201
    assert response.json()["project"] == {"id": project.pk, "name": "team"}


def test_a_member_of_several_projects_must_name_one(api, user, other_project):
    member(other_project, user, Role.EDITOR)
    response = api.post("/api/workflows/", diamond_document(), format="json")
    assert response.status_code == 400
    assert "several projects" in response.json()["project"][0]
    by_name = api.post(
        "/api/workflows/?project=elsewhere", diamond_document(), format="json"
    )
    assert by_name.json()["project"]["name"] == "elsewhere"
    by_id = api.post(
        f"/api/workflows/?project={other_project.pk}",
        diamond_document("two"),
        format="json",
    )
    assert by_id.status_code == 201


def test_the_several_projects_answer_names_them(api, user, other_project):
    member(other_project, user, Role.EDITOR)
    response = api.post("/api/workflows/", diamond_document(), format="json")
    assert response.json()["project"] == [
        "you are a member of several projects (elsewhere, team): name one with "
        "?project=<id or name>"
    ]


def test_a_site_admin_in_no_project_creates_in_the_default_project(
    admin_user, project, other_project
):
    """The first administrator, made with createsuperuser, is a member of no
    project but sees them all: not "a member of several projects"."""
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.post("/api/workflows/", diamond_document(), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["project"]["name"] == "default"


def test_a_site_admin_in_one_project_creates_there(admin_user, project, other_project):
    member(project, admin_user, Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.post("/api/workflows/", diamond_document(), format="json")
    assert response.json()["project"]["name"] == "team"


def test_an_unknown_or_invisible_project_is_a_400_naming_it(api, other_project):
    for name in ("nowhere", "elsewhere", str(other_project.pk)):
        response = api.post(
            f"/api/workflows/?project={name}", diamond_document(), format="json"
        )
        assert response.status_code == 400
        assert list(response.json()) == ["project"]
    assert not Workflow.objects.exists()


def test_a_user_in_no_project_cannot_create(django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("nobody"))
    response = client.post("/api/workflows/", diamond_document(), format="json")
    assert response.status_code == 403
    assert "not a member of any project" in response.json()["detail"]


def test_names_are_unique_per_project_not_globally(user, other_user, project):
    create_workflow(diamond_document(), project=project, author=user)
    elsewhere = Project.objects.get(name="elsewhere")
    create_workflow(diamond_document(), project=elsewhere, author=other_user)
    assert Workflow.objects.filter(name="diamond").count() == 2
    from flowcore.spec import SpecError

    with pytest.raises(SpecError) as raised:
        create_workflow(diamond_document(), project=project, author=user)
    assert raised.value.errors[0].path == "metadata.name"
    assert "in project team" in raised.value.errors[0].message


def test_without_a_project_a_workflow_goes_to_default(user, settings):
    workflow = create_workflow(diamond_document(), author=user)
    assert workflow.project.name == "default"
    # Empty: the installation's namespace, FLOWDECK_K8S_NAMESPACE.
    assert workflow.project.namespace == ""
    assert workflow.project.namespaces() == [settings.FLOWDECK_K8S_NAMESPACE]


def test_lists_filter_by_project_id_or_name(admin_user, user, other_user, project):
    mine = create_workflow(diamond_document(), project=project, author=user)
    elsewhere = Project.objects.get(name="elsewhere")
    theirs = create_workflow(
        diamond_document("x"), project=elsewhere, author=other_user
    )
    submit_run(mine.latest_version, user=user)
    run = submit_run(theirs.latest_version, user=other_user)
    client = APIClient()
    client.force_authenticate(admin_user)
    for value in ("elsewhere", str(elsewhere.pk)):
        workflows = client.get("/api/workflows/", {"project": value}).json()
        assert [w["id"] for w in workflows["results"]] == [theirs.pk]
        runs = client.get("/api/runs/", {"project": value}).json()
        assert [r["id"] for r in runs["results"]] == [run.pk]
        assert runs["results"][0]["project"] == {
            "id": elsewhere.pk,
            "name": "elsewhere",
        }
    assert client.get("/api/runs/", {"project": "nowhere"}).json()["results"] == []


# --- the projects API -------------------------------------------------------------


def test_a_site_admin_creates_a_project_in_the_installation_s_namespace(site, settings):
    settings.FLOWDECK_K8S_NAMESPACE = "flowdeck"
    response = site.post(PROJECTS, {"name": "data-eng", "description": "d"}, "json")
    assert response.status_code == 201
    body = response.json()
    assert (body["namespace"], body["namespaces"]) == ("", ["flowdeck"])
    assert body["role"] is None
    named = site.post(PROJECTS, {"name": "ml", "namespace": "ml-prod"}, "json")
    assert named.json()["namespace"] == "ml-prod"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Data_Eng"},
        {"name": "-edge"},
        {"name": "1234"},
        {"name": "x" * 64},
        {"name": "ok", "namespace": "Not Valid"},
        {"name": "team"},
    ],
)
def test_a_project_name_or_namespace_must_be_a_free_dns_label(site, project, body):
    response = site.post(PROJECTS, body, format="json")
    assert response.status_code == 400, body
    assert set(response.json()) <= {"name", "namespace"}


def test_a_project_admin_changes_settings_but_not_the_name(api, project):
    response = api.patch(
        f"{PROJECTS}{project.pk}/",
        {"name": "renamed", "description": "new"},
        format="json",
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.name, project.description) == ("team", "new")
    assert response.json()["role"] == "admin"


def test_only_a_site_admin_changes_a_projects_namespaces(api, site, project, settings):
    """The namespaces decide what a project's runs may touch on the cluster:
    a project admin may not widen them, even for a project of theirs."""
    url = f"{PROJECTS}{project.pk}/"
    for body in ({"namespace": "team-prod"}, {"extra_namespaces": ["other"]}):
        refused = api.patch(url, body, format="json")
        assert refused.status_code == 403, body
        assert "site administrator" in refused.json()["detail"]
    # Sending back what is there already is no change: allowed.
    same = api.patch(url, {"namespace": project.namespace}, format="json")
    assert same.status_code == 200
    changed = site.patch(
        url,
        {"namespace": "team-prod", "extra_namespaces": ["team-gpu", "team-gpu"]},
        format="json",
    )
    assert changed.status_code == 200
    assert changed.json()["namespaces"] == ["team-prod", "team-gpu"]
    bad = site.patch(url, {"extra_namespaces": ["Not Valid"]}, format="json")
    assert bad.status_code == 400 and "extra_namespaces" in bad.json()
    # Blank: back to the installation's namespace.
    blank = site.patch(url, {"namespace": "", "extra_namespaces": []}, format="json")
    assert blank.status_code == 200
    assert blank.json()["namespaces"] == [settings.FLOWDECK_K8S_NAMESPACE]


def test_members_are_listed_added_changed_and_removed(api, project, django_user_model):
    nina = django_user_model.objects.create_user("nina")
    url = f"{PROJECTS}{project.pk}/members/"
    added = api.post(url, {"username": "nina", "role": "viewer"}, format="json")
    assert added.status_code == 201
    assert added.json()["username"] == "nina"
    listed = api.get(url).json()["results"]
    assert [(m["username"], m["role"]) for m in listed] == [
        ("alice", "admin"),
        ("nina", "viewer"),
    ]
    changed = api.patch(f"{url}{nina.pk}/", {"role": "operator"}, format="json")
    assert changed.json()["role"] == "operator"
    assert api.delete(f"{url}{nina.pk}/").status_code == 204
    assert api.delete(f"{url}{nina.pk}/").status_code == 404
    assert not Membership.objects.filter(user=nina).exists()


def test_adding_someone_twice_or_nobody_is_refused(api, project, django_user_model):
    url = f"{PROJECTS}{project.pk}/members/"
    twice = api.post(url, {"username": "alice", "role": "viewer"}, format="json")
    assert twice.status_code == 409
    assert "already a member" in twice.json()["detail"]
    ghost = api.post(url, {"username": "ghost", "role": "viewer"}, format="json")
    assert ghost.status_code == 400
    assert "username" in ghost.json()
    django_user_model.objects.create_user("gone", is_active=False)
    gone = api.post(url, {"username": "gone", "role": "viewer"}, format="json")
    assert gone.status_code == 400
    bad_role = api.post(url, {"username": "alice", "role": "owner"}, format="json")
    assert "role" in bad_role.json()


def test_the_last_admin_can_be_neither_demoted_nor_removed(api, user, project):
    url = f"{PROJECTS}{project.pk}/members/{user.pk}/"
    demote = api.patch(url, {"role": "operator"}, format="json")
    assert demote.status_code == 409
    assert "last admin of team" in demote.json()["detail"]
    assert api.delete(url).status_code == 409
    assert Membership.objects.get(user=user).role == Role.ADMIN


def test_with_a_second_admin_the_first_may_step_down(
    api, user, project, django_user_model
):
    member(project, django_user_model.objects.create_user("ada"), Role.ADMIN)
    url = f"{PROJECTS}{project.pk}/members/{user.pk}/"
    assert api.patch(url, {"role": "viewer"}, format="json").status_code == 200
    # Now a viewer: she can no longer manage members.
    assert api.delete(url).status_code == 403


def test_the_role_shown_is_your_own(api, project, other_project, user):
    member(other_project, user, Role.VIEWER)
    roles = {p["name"]: p["role"] for p in api.get(PROJECTS).json()["results"]}
    assert roles == {"team": "admin", "elsewhere": "viewer"}


# --- pages --------------------------------------------------------------------------


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def test_the_project_page_lists_members_and_offers_admins_the_forms(
    alice, client, project, django_user_model
):
    viewer = member(project, django_user_model.objects.create_user("vera"), "viewer")
    page = alice.get(f"/projects/{project.pk}/").content.decode()
    assert "vera" in page and "alice" in page
    assert f'action="/projects/{project.pk}/members/"' in page
    assert f'action="/projects/{project.pk}/members/{viewer.pk}/remove/"' in page
    assert "Save settings" in page
    client.force_login(viewer)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "vera" in page
    assert "/members/" not in page
    assert "Save settings" not in page


def test_members_are_managed_on_the_project_page(alice, project, django_user_model):
    nina = django_user_model.objects.create_user("nina")
    response = alice.post(
        f"/projects/{project.pk}/members/",
        {"username": "nina", "role": "editor"},
        follow=True,
    )
    assert "Added nina as editor." in response.content.decode()
    alice.post(f"/projects/{project.pk}/members/{nina.pk}/", {"role": "operator"})
    assert Membership.objects.get(user=nina).role == "operator"
    alice.post(f"/projects/{project.pk}/members/{nina.pk}/remove/")
    assert not Membership.objects.filter(user=nina).exists()
    unknown = alice.post(
        f"/projects/{project.pk}/members/", {"username": "ghost", "role": "viewer"}
    )
    assert unknown.status_code == 400
    assert "no active user" in unknown.content.decode()


def test_the_last_admin_is_kept_on_the_page_too(alice, user, project):
    response = alice.post(
        f"/projects/{project.pk}/members/{user.pk}/remove/", follow=True
    )
    assert "last admin of team" in response.content.decode()
    assert Membership.objects.filter(user=user).exists()


def test_a_site_admin_creates_a_project_on_the_list_page(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/projects/").content.decode()
    assert "Create project" in page
    response = client.post("/projects/", {"name": "fresh", "description": "d"})
    created = Project.objects.get(name="fresh")
    assert response["Location"] == f"/projects/{created.pk}/"
    assert created.namespace == ""  # the installation's
    bad = client.post("/projects/", {"name": "Bad Name"})
    assert bad.status_code == 400


def test_the_lists_show_and_filter_by_project(alice, user, project, other_project):
    member(other_project, user, Role.VIEWER)
    mine = create_workflow(diamond_document("mine"), project=project, author=user)
    theirs = create_workflow(
        diamond_document("theirs"), project=other_project, author=user
    )
    run = submit_run(theirs.latest_version, user=user)
    submit_run(mine.latest_version, user=user)
    everything = alice.get("/").content.decode()
    assert "mine" in everything and "theirs" in everything
    assert f'href="/projects/{project.pk}/">team</a>' in everything
    filtered = alice.get("/", {"project": other_project.pk}).content.decode()
    assert f"/workflows/{theirs.pk}/" in filtered
    assert f"/workflows/{mine.pk}/" not in filtered
    runs = alice.get("/runs/", {"project": other_project.pk}).content.decode()
    assert f'href="/runs/{run.pk}/"' in runs
    assert re.findall(r'href="/runs/\d+/"', runs) == [f'href="/runs/{run.pk}/"']
    ignored = alice.get("/", {"project": "999999"})
    assert "mine" in ignored.content.decode()


def test_the_create_page_asks_for_a_project_when_there_are_several(
    alice, user, project, other_project
):
    member(other_project, user, Role.EDITOR)
    form = alice.get("/workflows/new/").content.decode()
    assert "Choose a project" in form
    text = dump_document(diamond_document())
    missing = alice.post("/workflows/new/", {"document": text})
    assert missing.status_code == 400
    assert "project</code>: choose a project" in missing.content.decode()
    response = alice.post(
        "/workflows/new/", {"document": text, "project": other_project.pk}
    )
    assert response.status_code == 302
    assert Workflow.objects.get().project == other_project


def test_buttons_follow_the_role(client, project, diamond, user, django_user_model):
    run = submit_run(diamond.latest_version, user=user)
    editor = member(project, django_user_model.objects.create_user("eddie"), "editor")
    client.force_login(editor)
    page = client.get(f"/workflows/{diamond.pk}/").content.decode()
    assert f'href="/workflows/{diamond.pk}/edit/"' in page
    assert f'action="/workflows/{diamond.pk}/run/"' not in page
    assert "needs the operator role" in page
    run_page = client.get(f"/runs/{run.pk}/").content.decode()
    assert f"/runs/{run.pk}/cancel/" not in run_page
    assert f"/runs/{run.pk}/resubmit/" not in run_page
    viewer = member(project, django_user_model.objects.create_user("vera"), "viewer")
    client.force_login(viewer)
    page = client.get(f"/workflows/{diamond.pk}/").content.decode()
    assert f'href="/workflows/{diamond.pk}/edit/"' not in page
    assert "New workflow" not in client.get("/").content.decode()


# --- bootstrap and the upgrade ---------------------------------------------------


def test_bootstrap_makes_admin_an_admin_of_default_with_the_examples(monkeypatch):
    monkeypatch.setenv("FLOWDECK_ADMIN_PASSWORD", "boot-pw-123")
    out = StringIO()
    call_command("bootstrap", stdout=out)
    project = Project.objects.get(name="default")
    assert Membership.objects.get(project=project, user__username="admin").role == (
        Role.ADMIN
    )
    assert set(project.workflows.values_list("name", flat=True)) == {
        "coin-flip",
        "csv-line-count",
        "daemon",
        "etl-values",
        "exit-handler",
        "fan-out",
        "flaky-etl",
        "hello-diamond",
        "indexed-job",
        "map-sum",
        "sidecar",
        "sub-workflow",
        "warehouse-customers",
        "warehouse-orders",
    }
    # The two warehouse examples share a semaphore of 1, made for them once.
    assert "defined semaphore warehouse (limit 1)" in out.getvalue()
    assert list(project.semaphores.values_list("name", "limit")) == [("warehouse", 1)]
    again = StringIO()
    call_command("bootstrap", stdout=again)
    assert again.getvalue() == ""
    assert Workflow.objects.count() == 14


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_moves_existing_workflows_into_default():
    executor = MigrationExecutor(connection)
    before = [("workflows", "0001_initial")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    users = old.get_model("auth", "User")
    ann = users.objects.create(username="ann")
    ben = users.objects.create(username="ben")
    users.objects.create(username="cid")  # owns nothing: stays out
    for name, owner in [("etl", ann), ("report", ben), ("sync", ann)]:
        old.get_model("workflows", "Workflow").objects.create(name=name, owner=owner)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    default = Project.objects.get(name="default")
    assert default.namespace == ""  # made "default", then the installation's
    assert set(Workflow.objects.values_list("project__name", flat=True)) == {"default"}
    assert sorted(
        Membership.objects.filter(project=default).values_list("user__username", "role")
    ) == [("ann", "operator"), ("ben", "operator")]


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_of_an_empty_database_makes_no_project():
    executor = MigrationExecutor(connection)
    executor.migrate([("workflows", "0001_initial")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert not Project.objects.exists()


def test_the_admin_shows_projects_tokens_and_audit_entries_read_only(
    client, admin_user, user, project
):
    token, key = tokens.issue(user, "ci")
    entry = audit.record(user, "token.create", token)
    client.force_login(admin_user)
    for model, obj in [(Project, project), (PersonalToken, token), (AuditEntry, entry)]:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        assert client.get(reverse(f"{name}_changelist")).status_code == 200, model
        change = client.get(reverse(f"{name}_change", args=[obj.pk]))
        assert change.status_code == 200, model
        assert key not in change.content.decode()
        assert token.key_hash not in change.content.decode()
        assert (
            client.post(reverse(f"{name}_change", args=[obj.pk]), {}).status_code == 403
        )


def test_the_namespaces_on_the_project_page_are_a_site_admins_to_set(
    alice, project, admin_user
):
    from django.test import Client

    page = alice.get(f"/projects/{project.pk}/").content.decode()
    assert 'name="namespace"' not in page and 'name="extra_namespaces"' not in page
    # A project admin's POST naming namespaces changes the rest, not them.
    alice.post(
        f"/projects/{project.pk}/",
        {"description": "mine", "namespace": "taken", "extra_namespaces": "x"},
    )
    project.refresh_from_db()
    assert (project.description, project.namespace) == ("mine", "")
    assert project.extra_namespaces == []
    site = Client()
    site.force_login(admin_user)
    page = site.get(f"/projects/{project.pk}/").content.decode()
    assert 'name="namespace"' in page and 'name="extra_namespaces"' in page
    site.post(
        f"/projects/{project.pk}/",
        {"description": "mine", "namespace": "team", "extra_namespaces": "gpu, ml gpu"},
    )
    project.refresh_from_db()
    assert project.namespaces() == ["team", "gpu", "ml"]
    assert bad_namespaces_refused(site, project)


def bad_namespaces_refused(site, project) -> bool:
    response = site.post(
        f"/projects/{project.pk}/",
        {"description": "mine", "namespace": "team", "extra_namespaces": "Not_OK"},
    )
    project.refresh_from_db()
    return response.status_code == 400 and project.extra_namespaces == ["gpu", "ml"]


def test_the_service_accounts_on_the_project_page_are_a_site_admins_to_set(
    alice, project, admin_user
):
    from django.test import Client

    page = alice.get(f"/projects/{project.pk}/").content.decode()
    assert 'name="service_accounts"' not in page
    assert 'name="default_service_account"' not in page
    alice.post(
        f"/projects/{project.pk}/",
        {
            "description": "mine",
            "default_service_account": "root",
            "service_accounts": "cluster-admin",
        },
    )
    project.refresh_from_db()
    assert project.service_account_names() == []
    site = Client()
    site.force_login(admin_user)
    site.post(
        f"/projects/{project.pk}/",
        {
            "description": "mine",
            "namespace": "",
            "default_service_account": "runner",
            "service_accounts": "reader, batch reader",
        },
    )
    project.refresh_from_db()
    assert project.service_account_names() == ["runner", "reader", "batch"]
    page = site.get(f"/projects/{project.pk}/").content.decode()
    assert "<code>runner</code> (default)" in page
    refused = site.post(
        f"/projects/{project.pk}/",
        {"description": "mine", "default_service_account": "Bad_Name"},
    )
    assert refused.status_code == 400
    assert "must be a DNS subdomain" in refused.content.decode()
    project.refresh_from_db()
    assert project.default_service_account == "runner"
