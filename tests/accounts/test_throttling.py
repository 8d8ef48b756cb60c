"""Failed logins per username and address: after five, a pause, on the login
page and on the token endpoint alike."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AuditEntry, PersonalToken

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.20"


def page_login(password: str, *, username: str = "alice", address: str = ADDRESS):
    return Client(REMOTE_ADDR=address).post(
        "/login/", {"username": username, "password": password}
    )


def api_login(password: str, *, username: str = "alice", address: str = ADDRESS):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/auth/token/", {"username": username, "password": password}
    )


def fail(times: int, login=page_login, **where: str) -> None:
    for _ in range(times):
        response = login("not-it", **where)
        assert response.status_code in (200, 400), response.status_code


def test_the_sixth_login_after_five_failures_is_refused_even_with_the_password(user):
    fail(5)
    response = page_login("pw-alice-123")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-in attempts" in page
    assert "Try again in 15 minutes." in page
    assert "_auth_user_id" not in response.client.session
    entry = AuditEntry.objects.filter(action="login.failure").first()
    assert entry.detail == {"reason": "throttled", "via": "page"}


def test_the_token_endpoint_answers_429_with_retry_after(user):
    fail(5, api_login)
    response = api_login("pw-alice-123")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.json()["detail"]
    assert 0 < int(response["Retry-After"]) <= 900
    assert not PersonalToken.objects.exists()


def test_page_and_api_failures_count_together(user):
    fail(3)
    fail(2, api_login)
    assert page_login("pw-alice-123").status_code == 429


def test_other_addresses_and_other_usernames_are_not_held_back(user, other_user):
    fail(5)
    assert page_login("pw-alice-123", address="198.51.100.21").status_code == 302
    assert page_login("pw-bob-123", username="bob", address=ADDRESS).status_code == 302


def test_four_failures_then_success_start_the_count_again(user):
    fail(4)
    assert page_login("pw-alice-123").status_code == 302
    fail(4)
    assert page_login("pw-alice-123").status_code == 302


def test_the_lockout_ends_after_its_window(user, settings):
    settings.FLOWDECK_LOGIN_LOCKOUT_SECONDS = 1
    settings.FLOWDECK_LOGIN_MAX_FAILURES = 2
    fail(2)
    assert page_login("pw-alice-123").status_code == 429
    time.sleep(1.2)
    assert page_login("pw-alice-123").status_code == 302


def test_unknown_usernames_are_throttled_too(db):
    fail(5, username="ghost")
    assert page_login("x", username="ghost").status_code == 429


def test_forging_x_forwarded_for_does_not_escape_the_token_endpoints_rate(user):
    client = APIClient(REMOTE_ADDR=ADDRESS)
    answers = [
        client.post(
            "/api/auth/token/",
            {"username": "alice", "password": "pw-alice-123"},
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",
        ).status_code
        for number in range(21)
    ]
    assert answers == [200] * 20 + [429]
