"""Single sign-on against a real OpenID Connect provider (django-oauth-toolkit,
tests/oidc_provider/) running in its own process on loopback: the code flow
with PKCE, the ID token's checks, group -> role mapping at each sign-in, and
who may still use a password."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from accounts.models import AuditEntry
from accounts.sso_roles import ROLE_ORDER, parse_group_roles, roles_for
from tests.oidc_provider.running import Provider, provider_sign_in, running_provider
from workflows.models import Membership, Project, Role

pytestmark = pytest.mark.django_db

GROUP_ROLES = (
    '{"data-eng": [["etl", "editor"], ["reports", "viewer"]],'
    ' "platform": [["etl", "admin"]], "auditors": [["reports", "operator"]]}'
)
USERS = {
    "alice": {
        "password": "alice-at-the-idp",
        "email": "alice@example.com",
        "groups": ["data-eng", "platform"],
    },
    "carol": {"password": "carol-at-the-idp", "groups": []},
    "nobody": {"password": "nobody-at-the-idp", "groups": ["data-eng"]},
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with running_provider(
        tmp_path_factory.mktemp("idp"),
        redirect_uris=["http://testserver/login/oidc/callback/"],
        post_logout_redirect_uris=["http://testserver/login/"],
        users=USERS,
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def sso(provider: Provider, settings: Any) -> Iterator[Provider]:
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    settings.FLOWDECK_OIDC_GROUP_ROLES = parse_group_roles(GROUP_ROLES)
    settings.FLOWDECK_OIDC_LEEWAY_SECONDS = 60
    provider.set_faults()
    provider.set_groups("alice", ["data-eng", "platform"])
    yield provider
    provider.set_faults()


@pytest.fixture
def projects(db: Any) -> dict[str, Project]:
    return {
        name: Project.objects.create(name=name) for name in ("etl", "reports", "ops")
    }


def sign_in(client: Client, username: str, password: str | None = None) -> Any:
    """Flowdeck's sign-in through the provider's pages; Flowdeck's answer to
    the callback."""
    start = client.get("/login/oidc/", {"next": "/projects/"})
    assert start.status_code == 302, start.content[:500]
    authorize = start["Location"]
    query = parse_qs(urlparse(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["nonce"] and query["state"]
    back = provider_sign_in(
        authorize, username, password or USERS[username]["password"]
    )
    assert back.status_code == 302, back.text[:500]
    location = urlparse(back.headers["Location"])
    assert location.path == "/login/oidc/callback/"
    return client.get(f"{location.path}?{location.query}")


def roles_of(username: str) -> dict[str, tuple[str, bool]]:
    return {
        m.project.name: (m.role, m.from_sso)
        for m in Membership.objects.filter(user__username=username).select_related(
            "project"
        )
    }


def signed_in_as(client: Client) -> str | None:
    from django.contrib.auth import get_user_model

    pk = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=pk).username if pk else None


# --- the pure mapping --------------------------------------------------------------


def test_the_role_order_is_the_models():
    assert list(ROLE_ORDER) == list(Role.values)


def test_the_highest_role_of_several_groups_wins():
    mapping = parse_group_roles(GROUP_ROLES)
    assert roles_for(["data-eng", "platform", "unknown"], mapping) == {
        "etl": "admin",
        "reports": "viewer",
    }
    assert roles_for(["data-eng", "auditors"], mapping)["reports"] == "operator"
    assert roles_for([], mapping) == {}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[1]", "JSON object"),
        ('{"g": "etl"}', "['g'] must be a list"),
        ('{"g": [["etl"]]}', "['g'][0] must be a [project, role] pair"),
        ('{"g": [["etl", "owner"]]}', "role 'owner' is not one of"),
        ("{", "is not JSON"),
    ],
)
def test_a_bad_mapping_is_refused_naming_where(text, named):
    with pytest.raises(ValueError, match=None) as error:
        parse_group_roles(text)
    assert named in str(error.value)


# --- signing in through the provider ------------------------------------------------


def test_it_signs_in_through_the_provider_and_maps_groups_to_roles(
    client, projects, caplog
):
    caplog.set_level(logging.DEBUG)
    response = sign_in(client, "alice")
    assert response.status_code == 302
    assert response["Location"] == "/projects/"
    assert signed_in_as(client) == "alice"
    # data-eng: etl editor, reports viewer; platform: etl admin -> admin wins.
    assert roles_of("alice") == {"etl": ("admin", True), "reports": ("viewer", True)}
    entries = AuditEntry.objects.filter(action="membership.sso").order_by("pk")
    assert {(e.target_repr, e.detail["from"], e.detail["to"]) for e in entries} == {
        ("etl", None, "admin"),
        ("reports", None, "viewer"),
    }
    login = AuditEntry.objects.get(action="login.success")
    assert login.detail == {"via": "sso"} and login.username == "alice"
    # No token or secret in the log records, at any level.
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert client.session["flowdeck_oidc_id_token"][:20] not in text
    assert "code_verifier" not in text


def test_a_person_removed_from_a_group_loses_the_role_at_next_sign_in(
    client, projects, sso
):
    sign_in(client, "alice")
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    # A role granted by hand in Flowdeck: the provider never touches it.
    Membership.objects.create(project=projects["ops"], user=alice, role=Role.OPERATOR)
    sso.set_groups("alice", ["data-eng"])
    client.logout()
    sign_in(client, "alice")
    assert roles_of("alice") == {
        "etl": ("editor", True),
        "reports": ("viewer", True),
        "ops": ("operator", False),
    }
    sso.set_groups("alice", [])
    client.logout()
    sign_in(client, "alice")
    assert roles_of("alice") == {"ops": ("operator", False)}
    changes = [
        (e.target_repr, e.detail["from"], e.detail["to"])
        for e in AuditEntry.objects.filter(action="membership.sso").order_by("pk")
    ]
    assert changes[-3:] == [
        ("etl", "admin", "editor"),
        ("etl", "editor", None),
        ("reports", "viewer", None),
    ]


def test_a_role_granted_by_hand_is_kept_over_the_groups(client, projects, admin_user):
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.create_user("alice")
    Membership.objects.create(project=projects["etl"], user=alice, role=Role.VIEWER)
    sign_in(client, "alice")
    assert roles_of("alice") == {"etl": ("viewer", False), "reports": ("viewer", True)}
    # ...and the users page says where each role came from.
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(f"/users/{alice.pk}/").content.decode()
    assert "single sign-on (groups, at each sign-in)" in page
    assert page.count("membership-origin") == 2


def test_an_unknown_user_is_made_at_first_sign_in_with_no_password(client, projects):
    sign_in(client, "carol")
    from django.contrib.auth import get_user_model

    carol = get_user_model().objects.get(username="carol")
    assert not carol.has_usable_password()
    assert AuditEntry.objects.filter(action="user.create", username="carol").exists()
    assert roles_of("carol") == {}


def test_an_unknown_user_is_refused_when_creation_is_off(client, settings, projects):
    settings.FLOWDECK_OIDC_CREATE_USERS = False
    response = sign_in(client, "nobody")
    assert response.status_code == 403
    assert "There is no Flowdeck account for nobody" in response.content.decode()
    assert signed_in_as(client) is None
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="nobody").exists()
    assert not Membership.objects.filter(user__username="nobody").exists()


def _refused(client: Client, response: Any, caplog: Any) -> str:
    page = response.content.decode()
    assert response.status_code == 400, page[:500]
    assert signed_in_as(client) is None
    assert "Sign in with Test IdP" in page  # the person can try again
    # Neither the page nor the log holds the token or the client secret.
    assert "eyJ" not in page and "eyJ" not in caplog.text
    return page


def test_a_tampered_id_token_is_refused(client, projects, sso, caplog):
    sso.set_faults(tamper=True)
    response = sign_in(client, "alice")
    page = _refused(client, response, caplog)
    assert "ID token was not valid" in page
    assert not Membership.objects.exists()
    entry = AuditEntry.objects.get(action="login.failure")
    assert entry.detail["via"] == "sso" and "invalid id token" in entry.detail["reason"]


@pytest.mark.parametrize(
    "faults",
    [
        {"aud": "another-client"},
        # An authorized party of ours does not make another audience ours.
        {"aud": ["another-client"], "azp": "flowdeck-test"},
    ],
)
def test_an_id_token_for_another_audience_is_refused(
    client, projects, sso, caplog, faults
):
    sso.set_faults(**faults)
    page = _refused(client, sign_in(client, "alice"), caplog)
    assert "Invalid claim: &#x27;aud&#x27;" in page


@pytest.mark.parametrize("offset", [45, -(300 + 45)])
def test_clock_skew_within_the_leeway_is_accepted(client, projects, sso, offset):
    # +45: issued 45 s "in the future"; -345: expired 45 s ago (tokens live 300 s).
    sso.set_faults(iat_offset=offset)
    response = sign_in(client, "alice")
    assert response.status_code == 302, response.content.decode()[:800]
    assert signed_in_as(client) == "alice"


@pytest.mark.parametrize(
    ("offset", "why"), [(120, "issued in the future"), (-(300 + 120), "expired")]
)
def test_clock_skew_beyond_the_leeway_is_refused(
    client, projects, sso, caplog, offset, why
):
    sso.set_faults(iat_offset=offset)
    page = _refused(client, sign_in(client, "alice"), caplog)
    assert why in page


def test_a_callback_without_this_browsers_state_is_refused(client, projects):
    response = client.get("/login/oidc/callback/", {"code": "x", "state": "forged"})
    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert "refused the sign-in" in response.content.decode()


def test_the_login_page_offers_the_provider_and_none_without_it(client, settings):
    assert "Sign in with Test IdP" in client.get("/login/").content.decode()
    settings.FLOWDECK_OIDC_ISSUER = ""
    page = client.get("/login/").content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.get("/login/oidc/")["Location"] == "/login/"


def test_sign_out_ends_the_providers_session_too(client, projects, sso):
    sign_in(client, "alice")
    response = client.post("/logout/")
    assert signed_in_as(client) is None
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == sso.url
    assert location.path == "/o/logout/"
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/login/"]
    assert query["client_id"] == [sso.client_id] and query["id_token_hint"]


# --- who may still use a password ---------------------------------------------------


def test_password_login_off_for_all_but_superusers(
    client, settings, projects, django_user_model
):
    settings.FLOWDECK_PASSWORD_LOGIN = "admin"
    django_user_model.objects.create_user("dave", password="dave-has-a-password")
    django_user_model.objects.create_superuser("root", password="root-has-one-too")
    response = client.post(
        "/login/", {"username": "dave", "password": "dave-has-a-password"}
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert "Signing in with a password is turned off here." in page
    assert "Sign in with Test IdP" in page
    api = client.post(
        "/api/auth/token/",
        {"username": "dave", "password": "dave-has-a-password"},
        content_type="application/json",
    )
    assert api.status_code in (400, 401, 403) and "token" not in api.json()
    assert Client().login(username="root", password="root-has-one-too")
    # ...while single sign-on works.
    assert sign_in(client, "alice").status_code == 302
    assert signed_in_as(client) == "alice"


def test_password_login_off_entirely(client, settings, django_user_model):
    settings.FLOWDECK_PASSWORD_LOGIN = "off"
    django_user_model.objects.create_superuser("root", password="root-has-one-too")
    assert not Client().login(username="root", password="root-has-one-too")
    assert 'name="password"' not in client.get("/login/").content.decode()
    denied = AuditEntry.objects.filter(action="login.failure", username="root")
    assert denied.filter(detail__reason="password login off").exists()


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FLOWDECK_OIDC_ISSUER": "https://id.example.com"}, "FLOWDECK_OIDC_CLIENT_ID"),
        (
            {"FLOWDECK_OIDC_GROUP_ROLES": '{"g": [["etl", "owner"]]}'},
            "FLOWDECK_OIDC_GROUP_ROLES ['g'][0]: role 'owner'",
        ),
        ({"FLOWDECK_PASSWORD_LOGIN": "maybe"}, "FLOWDECK_PASSWORD_LOGIN"),
    ],
)
def test_a_bad_setting_stops_the_server_naming_the_variable(env, named):
    import os
    import subprocess
    import sys
    from pathlib import Path

    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_OIDC")
    }
    environment.update(DJANGO_SETTINGS_MODULE="webapp.settings", **env)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and named in result.stderr
