"""The audit log: every action recorded with who, what, outcome and address;
refusals too; never a secret; never changed or deleted; readable by admins."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib import admin
from django.db import IntegrityError, transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts import audit, tokens
from accounts.models import AppendOnlyError, AuditEntry
from flowcore.states import AttemptStatus
from tests.conftest import diamond_document, drive_run, member, shell_task
from workflows.models import Membership, Role
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"


@pytest.fixture
def api(user: Any) -> APIClient:
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.force_authenticate(user)
    return client


@pytest.fixture
def site_api(admin_user: Any) -> APIClient:
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.force_authenticate(admin_user)
    return client


def only(action: str) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(action=action))
    assert len(entries) == 1, [str(e) for e in entries]
    return entries[0]


def assert_entry(
    action: str,
    who: str,
    outcome: str = "success",
    target_type: str = "",
    project: Any = None,
) -> AuditEntry:
    entry = only(action)
    assert entry.username == who
    assert entry.outcome == outcome
    assert entry.remote_addr == ADDRESS
    if target_type:
        assert entry.target_type == target_type
        assert entry.target_id
    if project is not None:
        assert entry.project_id == project.pk
    return entry


# --- each audited action ---------------------------------------------------------


def test_workflow_create_update_and_delete_are_recorded(api, project):
    created = api.post(
        f"/api/workflows/?project={project.pk}", diamond_document(), format="json"
    ).json()
    entry = assert_entry(
        "workflow.create", "alice", target_type="workflow", project=project
    )
    assert entry.target_id == str(created["id"])
    assert entry.target_repr == "diamond"
    api.patch(
        f"/api/workflows/{created['id']}/",
        {"metadata": {"description": "x"}},
        format="json",
    )
    entry = assert_entry("workflow.update", "alice", target_type="workflow")
    assert entry.detail == {"version": 2}
    api.delete(f"/api/workflows/{created['id']}/")
    assert_entry("workflow.delete", "alice", target_type="workflow", project=project)


def test_run_submit_cancel_and_resubmit_are_recorded(api, diamond, project):
    run = api.post(f"/api/workflows/{diamond.pk}/runs/", {}, format="json").json()
    entry = assert_entry("run.submit", "alice", target_type="run", project=project)
    assert entry.target_id == str(run["id"])
    assert entry.detail == {"workflow": "diamond", "version": 1}
    api.post(f"/api/runs/{run['id']}/cancel/")
    assert_entry("run.cancel", "alice", target_type="run", project=project)
    new = api.post(f"/api/runs/{run['id']}/resubmit/", {}, format="json").json()
    entry = assert_entry("run.resubmit", "alice", target_type="run")
    assert entry.detail == {"new_run": new["id"]}


def test_a_refused_action_is_recorded_as_an_error_with_the_reason(api, diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    assert api.post(f"/api/runs/{run.pk}/retry/").status_code == 409
    entry = assert_entry("run.retry", "alice", "error", "run")
    assert "only a finished run can be retried" in entry.detail["reason"]
    response = api.put(
        f"/api/workflows/{diamond.pk}/", diamond_document("renamed"), format="json"
    )
    assert response.status_code == 400
    entry = assert_entry("workflow.update", "alice", "error", "workflow")
    assert entry.detail == {"invalid": ["metadata.name"]}


@pytest.mark.django_db(transaction=True)
def test_retry_and_retry_from_a_task_are_recorded(diamond, user, project):
    run = drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.force_authenticate(user)
    assert client.post(f"/api/runs/{run.pk}/retry/").status_code == 200
    entry = assert_entry("run.retry", "alice", target_type="run", project=project)
    assert entry.detail == {"rerun": ["b", "d"]}
    drive_run(run)
    assert client.post(f"/api/runs/{run.pk}/tasks/c/retry/").status_code == 200
    entry = assert_entry("run.retry_task", "alice", target_type="run")
    assert entry.detail == {"task": "c", "rerun": ["c", "d"]}


def test_a_permission_refusal_is_recorded_as_denied(
    diamond, project, django_user_model
):
    viewer = member(project, django_user_model.objects.create_user("vera"), "viewer")
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.force_authenticate(viewer)
    assert (
        client.post(f"/api/workflows/{diamond.pk}/runs/", {}, format="json").status_code
        == 403
    )
    entry = assert_entry("run.submit", "vera", "denied", "workflow", project)
    reason = "your role in project team is viewer; running workflows needs operator"
    assert entry.detail == {"reason": reason}
    page = Client(REMOTE_ADDR=ADDRESS)
    page.force_login(viewer)
    assert (
        page.post(f"/workflows/{diamond.pk}/edit/", {"document": ""}).status_code == 403
    )
    assert_entry("workflow.update", "vera", "denied", "workflow", project)


def test_membership_changes_are_recorded(api, project, django_user_model):
    nina = django_user_model.objects.create_user("nina")
    base = f"/api/projects/{project.pk}/members/"
    api.post(base, {"username": "nina", "role": "viewer"}, format="json")
    entry = assert_entry(
        "membership.add", "alice", target_type="membership", project=project
    )
    assert entry.detail == {"user": "nina", "role": "viewer"}
    api.patch(f"{base}{nina.pk}/", {"role": "operator"}, format="json")
    entry = assert_entry("membership.change", "alice", target_type="membership")
    assert entry.detail == {"user": "nina", "from": "viewer", "to": "operator"}
    api.delete(f"{base}{nina.pk}/")
    entry = assert_entry("membership.remove", "alice", project=project)
    assert entry.detail == {"user": "nina", "role": "operator"}


def test_project_create_and_update_are_recorded(site_api):
    created = site_api.post("/api/projects/", {"name": "fresh"}, format="json").json()
    entry = assert_entry("project.create", "root", target_type="project")
    assert entry.project_id == created["id"]
    site_api.patch(
        f"/api/projects/{created['id']}/", {"description": "d"}, format="json"
    )
    entry = assert_entry("project.update", "root", target_type="project")
    assert entry.detail == {"changed": ["description"]}


def test_token_create_and_revoke_are_recorded_without_the_secret(api):
    body = api.post("/api/tokens/", {"name": "ci"}, format="json").json()
    entry = assert_entry("token.create", "alice", target_type="personaltoken")
    assert body["token"] not in json.dumps(entry.detail) + entry.target_repr
    assert body["prefix"] in entry.target_repr
    api.delete(f"/api/tokens/{body['id']}/")
    assert_entry("token.revoke", "alice", target_type="personaltoken")


def test_user_management_is_recorded(admin_user, django_user_model, project):
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(admin_user)
    password = "Sturdy-horse-9431"
    client.post(
        "/users/new/",
        {"username": "newbie", "password1": password, "password2": password},
    )
    newbie = django_user_model.objects.get(username="newbie")
    entry = assert_entry("user.create", "root", target_type="user")
    assert entry.detail == {"username": "newbie", "staff": False}
    assert password not in json.dumps(entry.detail)
    client.post(f"/users/{newbie.pk}/", {"email": "n@example.com"})
    assert assert_entry("user.update", "root").detail == {"changed": ["email"]}
    client.post(f"/users/{newbie.pk}/active/", {"active": "false"})
    assert_entry("user.deactivate", "root", target_type="user")
    client.post(f"/users/{newbie.pk}/active/", {"active": "true"})
    assert_entry("user.reactivate", "root", target_type="user")
    client.post(
        f"/users/{newbie.pk}/password/",
        {"new_password1": "Another-9431-horse", "new_password2": "Another-9431-horse"},
    )
    entry = assert_entry("user.password_reset", "root", target_type="user")
    assert entry.detail == {}
    client.post(
        f"/users/{newbie.pk}/projects/", {"project": project.pk, "role": "editor"}
    )
    assert_entry("membership.add", "root", project=project)


def test_logins_and_failed_logins_are_recorded(user):
    client = Client(REMOTE_ADDR=ADDRESS)
    client.post("/login/", {"username": "alice", "password": "nope-guess"})
    entry = assert_entry("login.failure", "alice", "denied")
    assert entry.actor is None
    assert "nope-guess" not in json.dumps(entry.detail)
    client.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    entry = assert_entry("login.success", "alice", target_type="user")
    assert entry.actor == user
    assert entry.detail == {"via": "page"}


def test_an_api_login_is_recorded_as_a_login_and_a_new_token(user):
    client = APIClient(REMOTE_ADDR=ADDRESS)
    response = client.post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-123"}
    )
    assert assert_entry("login.success", "alice").detail == {"via": "api"}
    entry = assert_entry("token.create", "alice", target_type="personaltoken")
    assert response.json()["token"] not in json.dumps(entry.detail)
    user.refresh_from_db()
    assert user.last_login is not None


def test_a_password_change_is_recorded(user):
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(user)
    response = client.post(
        "/account/password/",
        {
            "old_password": "pw-alice-123",
            "new_password1": "Sturdy-horse-9431",
            "new_password2": "Sturdy-horse-9431",
        },
    )
    assert response.status_code == 302
    assert_entry("user.password_change", "alice", target_type="user")


# --- addresses -------------------------------------------------------------------


def test_the_forwarded_address_counts_only_behind_a_trusted_proxy(api, settings):
    spoofed = {"HTTP_X_FORWARDED_FOR": "198.51.100.1, 192.0.2.9"}
    api.post("/api/tokens/", {"name": "a"}, format="json", **spoofed)
    assert AuditEntry.objects.get().remote_addr == ADDRESS
    settings.FLOWDECK_TRUSTED_PROXIES = 1
    api.post("/api/tokens/", {"name": "b"}, format="json", **spoofed)
    # The proxy appended what it saw last; the client wrote the rest.
    assert AuditEntry.objects.order_by("-id").first().remote_addr == "192.0.2.9"


# --- never a secret --------------------------------------------------------------


def test_no_entry_holds_a_secret(api, project):
    document = diamond_document()
    document["spec"]["tasks"][0]["env"] = [
        {"name": "PASSWORD", "value": "hunter2", "secret": True}
    ]
    api.post(f"/api/workflows/?project={project.pk}", document, format="json")
    document["spec"]["tasks"][0]["env"][0]["value"] = "hunter3"
    api.put(
        f"/api/workflows/{AuditEntry.objects.get().target_id}/", document, format="json"
    )
    api.post("/api/auth/token/", {"username": "alice", "password": "pw-alice-123"})
    everything = json.dumps(list(AuditEntry.objects.values()), default=str)
    for secret in ("hunter2", "hunter3", "pw-alice-123"):
        assert secret not in everything


def test_the_helper_drops_detail_keys_that_name_secrets(user):
    entry = audit.record(
        user, "x.y", None, detail={"password": "p", "api_token": "t", "name": "ok"}
    )
    assert entry.detail == {"name": "ok"}


# --- append-only -----------------------------------------------------------------


def test_an_entry_cannot_be_changed_or_deleted(user):
    entry = audit.record(user, "run.cancel", ("run", 1, "run 1"))
    entry.action = "run.submit"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.get().save()
    forged = AuditEntry(pk=entry.pk, action="login.success", outcome="success")
    with pytest.raises(IntegrityError), transaction.atomic():
        forged.save()  # an INSERT, clashing with the pk, never an UPDATE
    assert AuditEntry.objects.get().action == "run.cancel"


def test_deleting_a_user_keeps_their_entries_and_name(django_user_model):
    temp = django_user_model.objects.create_user("temp")
    audit.record(temp, "token.create", ("personaltoken", 1, "x"))
    temp.delete()
    entry = AuditEntry.objects.get()
    assert entry.actor is None
    assert entry.username == "temp"


def test_the_admin_shows_entries_but_changes_none(rf, admin_user, client):
    audit.record(admin_user, "run.cancel", ("run", 1, "run 1"))
    request = rf.get("/admin/")
    request.user = admin_user
    model_admin = admin.site._registry[AuditEntry]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    client.force_login(admin_user)
    assert client.get("/admin/accounts/auditentry/").status_code == 200


def test_the_api_offers_no_way_to_write(site_api, admin_user):
    entry = audit.record(admin_user, "run.cancel", ("run", 1, "run 1"))
    assert (
        site_api.post("/api/audit/", {"action": "x"}, format="json").status_code == 405
    )
    assert site_api.delete(f"/api/audit/{entry.pk}/").status_code == 404
    assert site_api.patch(f"/api/audit/{entry.pk}/", {}).status_code == 404
    assert AuditEntry.objects.filter(action="run.cancel").count() == 1


# --- reading ---------------------------------------------------------------------


@pytest.fixture
def entries(user, other_user, project, other_project) -> None:
    audit.record(user, "run.submit", ("run", 1, "r1"), project=project)
    audit.record(user, "run.cancel", ("run", 1, "r1"), project=project)
    audit.record(other_user, "run.submit", ("run", 2, "r2"), project=other_project)
    audit.record(user, "token.create", ("personaltoken", 1, "t"))


def test_a_project_admin_reads_only_their_projects_entries(api, entries):
    body = api.get("/api/audit/").json()
    assert [e["action"] for e in body["results"]] == ["run.cancel", "run.submit"]
    assert body["results"][0]["project"] == {
        "id": body["results"][0]["project"]["id"],
        "name": "team",
    }
    assert body["results"][0]["target"] == {"type": "run", "id": "1", "repr": "r1"}


def test_a_site_admin_reads_everything_and_filters(site_api, entries, user):
    def actions(**query: str) -> list[str]:
        response = site_api.get("/api/audit/", query)
        assert response.status_code == 200, response.json()
        return [e["action"] for e in response.json()["results"]]

    assert len(actions()) == 4
    assert actions(project="elsewhere") == ["run.submit"]
    assert actions(user="alice") == ["token.create", "run.cancel", "run.submit"]
    assert actions(user=str(user.pk), action="run.") == ["run.cancel", "run.submit"]
    assert actions(action="run.submit") == ["run.submit", "run.submit"]
    assert actions(since="2000-01-01", until="2999-12-31T00:00:00Z") != []
    assert actions(until="2000-01-01") == []
    assert actions(outcome="denied") == []


@pytest.mark.parametrize("query", [{"since": "yesterday"}, {"outcome": "maybe"}])
def test_a_bad_audit_filter_is_a_400_naming_it(site_api, query):
    response = site_api.get("/api/audit/", query)
    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_the_audit_page_lists_and_filters_entries(client, admin_user, entries):
    client.force_login(admin_user)
    page = client.get("/audit/", {"action": "run.cancel"}).content.decode()
    assert "run.cancel" in page
    assert "token.create" not in page
    bad = client.get("/audit/", {"since": "soon"})
    assert bad.status_code == 400
    assert "<code>since</code>" in bad.content.decode()


def test_a_project_admin_sees_the_audit_link_and_a_viewer_does_not(
    client, user, project, django_user_model
):
    client.force_login(user)
    assert 'href="/audit/"' in client.get("/").content.decode()
    viewer = member(project, django_user_model.objects.create_user("vera"), Role.VIEWER)
    client.force_login(viewer)
    assert 'href="/audit/"' not in client.get("/").content.decode()
    assert client.get("/audit/").status_code == 403


def test_page_actions_are_recorded_with_the_address(user, project):
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(user)
    document = diamond_document()
    document["spec"]["tasks"].append(shell_task("e"))
    from flowcore.spec import dump_document

    client.post(
        "/workflows/new/", {"project": project.pk, "document": dump_document(document)}
    )
    assert_entry("workflow.create", "alice", target_type="workflow", project=project)
    workflow = create_workflow(diamond_document("other"), project=project, author=user)
    client.post(f"/workflows/{workflow.pk}/run/")
    assert_entry("run.submit", "alice", target_type="run", project=project)
    client.post(
        f"/projects/{project.pk}/members/",
        {"username": "alice", "role": "viewer"},
    )
    # alice is already a member: the refusal is recorded as an error.
    entry = assert_entry("membership.add", "alice", "error", project=project)
    assert "already a member" in entry.detail["reason"]
    assert Membership.objects.get(user=user).role == Role.ADMIN


def test_using_a_token_is_not_an_audited_action(user):
    _, key = tokens.issue(user, "ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.get("/api/workflows/")
    assert not AuditEntry.objects.exists()
