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
    assert entry.detail == {"reason": "throttled", "via": "page", "limit": "username"}


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


# --- every login path, and guessing across usernames ----------------------------------


def admin_login(password: str, *, username: str = "root", address: str = ADDRESS):
    return Client(REMOTE_ADDR=address).post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
    )


def test_the_admin_login_refuses_the_right_password_after_five_failures(admin_user):
    fail(5, admin_login)
    assert [admin_login("not-it").status_code for _ in range(3)] == [429] * 3
    response = admin_login("pw-root-123")
    assert response.status_code == 429
    assert "_auth_user_id" not in response.client.session
    assert "Too many failed sign-in attempts" in response.content.decode()
    entry = AuditEntry.objects.filter(action="login.failure").first()
    assert entry.detail == {"reason": "throttled", "via": "admin", "limit": "username"}


def test_admin_page_and_api_failures_count_together(admin_user):
    fail(2, admin_login)
    fail(2, page_login, username="root")
    fail(1, api_login, username="root")
    assert admin_login("pw-root-123").status_code == 429
    assert api_login("pw-root-123", username="root").status_code == 429


def test_any_authenticate_call_is_refused_during_a_lockout(user):
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    fail(5)
    request = RequestFactory().post("/elsewhere/", REMOTE_ADDR=ADDRESS)
    assert authenticate(request, username="alice", password="pw-alice-123") is None


def test_one_address_guessing_across_usernames_is_locked_out_of_all_of_them(user):
    for number in range(20):
        response = page_login("guess", username=f"someone{number}")
        assert response.status_code == 200, number
    refused = page_login("pw-alice-123")
    assert refused.status_code == 429
    assert "Too many failed sign-in attempts from your address" in (
        refused.content.decode()
    )
    api = api_login("pw-alice-123")
    assert api.status_code == 429
    assert 0 < int(api["Retry-After"]) <= 900
    assert admin_login("anything", username="alice").status_code == 429
    entry = AuditEntry.objects.filter(action="login.failure").first()
    assert entry.detail == {"reason": "throttled", "via": "admin", "limit": "address"}
    assert page_login("pw-alice-123", address="198.51.100.21").status_code == 302


def test_the_address_limit_is_a_setting(user, settings):
    settings.FLOWDECK_LOGIN_ADDRESS_MAX_FAILURES = 3
    for number in range(3):
        page_login("guess", username=f"someone{number}")
    assert page_login("pw-alice-123").status_code == 429


def proxied_login(password: str, forwarded: str, *, username: str = "alice"):
    return Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded).post(
        "/login/", {"username": username, "password": password}
    )


def test_behind_a_trusted_proxy_the_client_it_saw_is_counted(user, settings):
    settings.FLOWDECK_TRUSTED_PROXIES = 1
    settings.FLOWDECK_LOGIN_ADDRESS_MAX_FAILURES = 3
    for number in range(3):
        # The client forges the left of the header; the proxy appends the truth.
        forwarded = f"192.0.2.{number}, 203.0.113.9"
        assert proxied_login("x", forwarded, username=f"u{number}").status_code == 200
    assert proxied_login("pw-alice-123", "203.0.113.9").status_code == 429
    # Another client behind the same proxy is not held back.
    assert proxied_login("pw-alice-123", "203.0.113.10").status_code == 302


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
