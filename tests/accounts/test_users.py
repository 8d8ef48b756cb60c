"""User management by site administrators: list, create, change, deactivate,
reset passwords, assign projects, see tokens and last logins."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts import tokens
from workflows.models import Membership, Role

pytestmark = pytest.mark.django_db

PASSWORD = "Sturdy-horse-9431"


@pytest.fixture
def root(client: Client, admin_user: Any) -> Client:
    client.force_login(admin_user)
    return client


def test_the_list_searches_and_shows_roles_and_last_logins(root, user, other_user):
    Client().post("/login/", {"username": "alice", "password": "pw-alice-123"})
    page = root.get("/users/").content.decode()
    assert "alice" in page and "bob" in page and "root" in page
    assert "superuser" in page
    found = root.get("/users/", {"q": "ali"}).content.decode()
    assert "alice" in found and "bob" not in found
    user.refresh_from_db()
    assert user.last_login is not None
    assert user.last_login.strftime("%Y-%m-%d %H:%M") in found


def test_a_created_user_can_sign_in(root, django_user_model):
    response = root.post(
        "/users/new/",
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "is_staff": "on",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    newbie = django_user_model.objects.get(username="newbie")
    assert response["Location"] == f"/users/{newbie.pk}/"
    assert newbie.is_staff and not newbie.is_superuser
    assert newbie.email == "newbie@example.com"
    assert Client().login(username="newbie", password=PASSWORD)


def test_a_weak_or_mismatched_password_is_refused(root, django_user_model):
    for first, second in [("12345678", "12345678"), (PASSWORD, PASSWORD + "x")]:
        response = root.post(
            "/users/new/", {"username": "n", "password1": first, "password2": second}
        )
        assert response.status_code == 400
    assert not django_user_model.objects.filter(username="n").exists()


def test_deactivating_stops_sign_in_and_tokens_and_reactivating_restores(root, user):
    _, key = tokens.issue(user, "ci")
    root.post(f"/users/{user.pk}/active/", {"active": "false"})
    user.refresh_from_db()
    assert not user.is_active
    assert not Client().login(username="alice", password="pw-alice-123")
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/workflows/").status_code == 401
    root.post(f"/users/{user.pk}/active/", {"active": "true"})
    assert Client().login(username="alice", password="pw-alice-123")
    assert api.get("/api/workflows/").status_code == 200


def test_a_password_reset_sets_the_new_password(root, user):
    response = root.post(
        f"/users/{user.pk}/password/",
        {"new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert response.status_code == 302
    assert Client().login(username="alice", password=PASSWORD)
    weak = root.post(
        f"/users/{user.pk}/password/",
        {"new_password1": "password", "new_password2": "password"},
    )
    assert weak.status_code == 400


def test_projects_and_roles_are_assigned_changed_and_removed(root, user, other_project):
    url = f"/users/{user.pk}/projects/"
    root.post(url, {"project": other_project.pk, "role": "viewer"})
    assert Membership.objects.get(user=user, project=other_project).role == "viewer"
    root.post(url, {"project": other_project.pk, "role": "operator"})
    assert Membership.objects.get(user=user, project=other_project).role == "operator"
    root.post(url, {"project": other_project.pk, "role": ""})
    assert not Membership.objects.filter(user=user, project=other_project).exists()


def test_the_user_page_shows_tokens_memberships_and_last_login(root, user):
    token, key = tokens.issue(user, "deploy-bot")
    tokens.revoke(tokens.issue(user, "old")[0])
    page = root.get(f"/users/{user.pk}/").content.decode()
    assert "deploy-bot" in page and token.prefix in page
    assert key not in page
    assert "revoked" in page
    assert "team" in page and "admin" in page
    assert "Last login" in page


def test_only_a_superuser_may_change_a_superusers_account(
    client, admin_user, django_user_model
):
    staff = django_user_model.objects.create_user("stan", is_staff=True)
    client.force_login(staff)
    assert client.get(f"/users/{admin_user.pk}/").status_code == 200
    for path, body in [
        ("password/", {"new_password1": PASSWORD, "new_password2": PASSWORD}),
        ("active/", {"active": "false"}),
        ("", {"email": "x@example.com"}),
    ]:
        response = client.post(f"/users/{admin_user.pk}/{path}", body)
        assert response.status_code == 403, path
    admin_user.refresh_from_db()
    assert admin_user.is_active
    assert admin_user.check_password("pw-root-123")


def test_no_one_deactivates_or_demotes_themselves(client, django_user_model):
    staff = django_user_model.objects.create_user("stan", is_staff=True)
    client.force_login(staff)
    client.post(f"/users/{staff.pk}/active/", {"active": "false"})
    client.post(f"/users/{staff.pk}/", {"email": "", "is_staff": ""})
    staff.refresh_from_db()
    assert staff.is_active and staff.is_staff


def test_the_users_link_shows_only_for_site_admins(client, user, admin_user):
    client.force_login(user)
    assert 'href="/users/"' not in client.get("/").content.decode()
    client.force_login(admin_user)
    assert 'href="/users/"' in client.get("/").content.decode()


def test_a_project_admin_is_not_a_site_admin(client, user):
    assert Membership.objects.get(user=user).role == Role.ADMIN
    client.force_login(user)
    assert client.get("/users/").status_code == 403
