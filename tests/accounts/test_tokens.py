"""Personal API tokens: shown once, stored hashed, named, revocable, expiring."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import PersonalToken

pytestmark = pytest.mark.django_db

TOKENS = "/api/tokens/"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_new_token_is_shown_once_and_stored_as_a_hash(api, user):
    response = api.post(TOKENS, {"name": "ci", "expires_in_days": 7}, format="json")
    assert response.status_code == 201
    body = response.json()
    key = body["token"]
    assert key.startswith("fdk_") and len(key) >= 50
    assert body["name"] == "ci"
    assert body["prefix"] == key[:12]
    token = PersonalToken.objects.get()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = [str(value) for value in PersonalToken.objects.values().get().values()]
    assert key not in stored
    assert (
        timedelta(days=6, hours=23)
        < token.expires_at - timezone.now()
        <= timedelta(days=7)
    )
    listed = api.get(TOKENS).json()["results"]
    assert listed == [
        {
            "id": token.pk,
            "name": "ci",
            "prefix": key[:12],
            "created_at": listed[0]["created_at"],
            "last_used_at": None,
            "expires_at": listed[0]["expires_at"],
            "expired": False,
        }
    ]
    assert bearer(key).get("/api/workflows/").status_code == 200


def test_a_user_has_many_tokens_and_sees_only_their_own(api, user, other_user):
    tokens.issue(user, "one")
    tokens.issue(user, "two")
    theirs, _ = tokens.issue(other_user, "bobs")
    assert sorted(t["name"] for t in api.get(TOKENS).json()["results"]) == [
        "one",
        "two",
    ]
    assert api.delete(f"{TOKENS}{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoking_stops_a_token_at_once_and_hides_it(api, user):
    token, key = tokens.issue(user, "ci")
    client = bearer(key)
    assert client.get("/api/workflows/").status_code == 200
    assert api.delete(f"{TOKENS}{token.pk}/").status_code == 204
    assert client.get("/api/workflows/").status_code == 401
    assert api.get(TOKENS).json()["results"] == []
    assert api.delete(f"{TOKENS}{token.pk}/").status_code == 404


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "x", "expires_in_days": 0}]
)
def test_a_token_needs_a_name_and_a_positive_expiry(api, body):
    response = api.post(TOKENS, body, format="json")
    assert response.status_code == 400
    assert not PersonalToken.objects.exists()


def test_last_used_is_written_at_most_once_a_minute(user):
    token, key = tokens.issue(user, "ci")
    client = bearer(key)
    client.get("/api/workflows/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get("/api/workflows/")
    token.refresh_from_db()
    assert token.last_used_at == first
    earlier = first - timedelta(minutes=2)
    PersonalToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    client.get("/api/workflows/")
    token.refresh_from_db()
    assert token.last_used_at > first


def test_the_password_endpoint_makes_a_named_expiring_token(user, settings):
    settings.FLOWDECK_LOGIN_TOKEN_DAYS = 30
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-123"}
    )
    assert response.status_code == 200
    body = response.json()
    token = PersonalToken.objects.get()
    assert body["name"] == token.name
    assert token.name.startswith("api-login ")
    assert token.expires_at is not None
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    settings.FLOWDECK_LOGIN_TOKEN_DAYS = 0
    APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-123"}
    )
    assert PersonalToken.objects.filter(expires_at__isnull=True).count() == 1


def test_a_deactivated_user_cannot_get_a_token(user):
    user.is_active = False
    user.save()
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-123"}
    )
    assert response.status_code == 400
    assert not PersonalToken.objects.exists()


def test_the_token_endpoint_ignores_a_session(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-123"}
    )
    assert response.status_code == 200


# --- the page ------------------------------------------------------------------------


def test_the_tokens_page_shows_a_new_secret_once_then_only_its_prefix(client, user):
    client.force_login(user)
    response = client.post("/account/tokens/", {"name": "laptop"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    token = PersonalToken.objects.get()
    key = page.split('id="new-token" class="token-secret" value="')[1].split('"')[0]
    assert tokens.authenticate_key(key).pk == token.pk
    assert "shown only this once" in page
    again = client.get("/account/tokens/").content.decode()
    assert key not in again
    assert token.prefix in again
    assert "laptop" in again


def test_the_tokens_page_revokes_only_your_own(client, user, other_user):
    mine, _ = tokens.issue(user, "mine")
    theirs, _ = tokens.issue(other_user, "theirs")
    client.force_login(user)
    assert client.post(f"/account/tokens/{theirs.pk}/revoke/").status_code == 404
    response = client.post(f"/account/tokens/{mine.pk}/revoke/", follow=True)
    assert "Revoked the token mine." in response.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None


def test_a_bad_token_form_is_a_400(client, user):
    client.force_login(user)
    response = client.post("/account/tokens/", {"name": "", "expires_in_days": "-1"})
    assert response.status_code == 400
    assert not PersonalToken.objects.exists()


def test_changing_the_password_works_and_keeps_tokens(user):
    _, key = tokens.issue(user, "ci")
    client = Client()
    client.force_login(user)
    response = client.post(
        "/account/password/",
        {
            "old_password": "pw-alice-123",
            "new_password1": "Sturdy-horse-9431",
            "new_password2": "Sturdy-horse-9431",
        },
    )
    assert response["Location"] == "/account/password/done/"
    user.refresh_from_db()
    assert user.check_password("Sturdy-horse-9431")
    assert bearer(key).get("/api/workflows/").status_code == 200
    weak = client.post(
        "/account/password/",
        {
            "old_password": "Sturdy-horse-9431",
            "new_password1": "12345678",
            "new_password2": "12345678",
        },
    )
    assert weak.status_code == 200
    assert "too common" in weak.content.decode()


# --- upgrading from DRF tokens --------------------------------------------------


def test_drf_tokens_become_personal_tokens_on_upgrade(user):
    from importlib import import_module

    migration = import_module("accounts.migrations.0002_import_drf_tokens")
    key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created timestamp with time zone NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [key, user.pk, timezone.now() - timedelta(days=3)],
        )
    with connection.schema_editor() as editor:
        migration.import_drf_tokens(apps, editor)
        migration.import_drf_tokens(apps, editor)  # twice changes nothing
    token = PersonalToken.objects.get()
    assert token.prefix == key[:8]
    assert token.created_at < timezone.now() - timedelta(days=2)
    assert bearer(key).get("/api/workflows/").status_code == 200
