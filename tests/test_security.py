"""Deployment settings pass Django's deploy checks; what people type into
names, descriptions and usernames is shown escaped on every page."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from accounts import audit, tokens
from tests.conftest import diamond_document, member
from workflows.models import Project, Role
from workflows.services.submit import create_workflow

ROOT = Path(__file__).resolve().parent.parent
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _django(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLOWDECK_SECURE", "FLOWDECK_HSTS", "FLOWDECK_SSL"))
    }
    environment.update(DJANGO_SETTINGS_MODULE="webapp.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "FLOWDECK_SECURE_COOKIES": "true",
    "FLOWDECK_ALLOWED_HOSTS": "flowdeck.example.com",
}


def test_check_deploy_reports_nothing_with_the_production_variables():
    key = secrets.token_urlsafe(50)[:50]
    result = _django(
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('check', deploy=True, fail_level='WARNING')\n",
        FLOWDECK_SECRET_KEY=key,
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr


def test_without_https_the_deploy_check_names_what_is_missing():
    result = _django(
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('check', deploy=True, fail_level='WARNING')\n"
    )
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


def _settings(*names: str, **env: str) -> dict[str, Any]:
    code = (
        "import json, django; django.setup()\n"
        "from django.conf import settings\n"
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}},"
        " default=str))\n"
    )
    result = _django(code, FLOWDECK_SECRET_KEY="x" * 50, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_https_turns_on_secure_cookies_redirects_and_hsts():
    values = _settings(
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
        **PRODUCTION,
        FLOWDECK_HSTS_SECONDS="600",
        FLOWDECK_TRUSTED_PROXIES="1",
    )
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


def test_the_cache_is_redis_when_redis_url_is_set():
    values = _settings("CACHES", REDIS_URL="redis://127.0.0.1:1/0")
    assert values["CACHES"]["default"]["BACKEND"].endswith("RedisCache")
    values = _settings("CACHES", REDIS_URL="")
    assert values["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")


def test_a_bad_security_variable_stops_start_up():
    result = _django("import django; django.setup()", FLOWDECK_HSTS_SECONDS="a year")
    assert result.returncode != 0
    assert "FLOWDECK_HSTS_SECONDS must be an integer" in result.stderr


@pytest.mark.django_db
def test_pages_forbid_framing_and_sniffing(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


# --- escaping what people type --------------------------------------------------------


@pytest.fixture
def hostile(db: Any, django_user_model: Any, admin_user: Any) -> dict[str, Any]:
    """A project, a member, a token and audit entries whose free text is a
    script. Usernames this odd cannot be typed into the forms, but an account
    made another way (manage.py, an identity provider) can carry one."""
    project = Project.objects.create(name="team", description=XSS)
    evil = django_user_model.objects.create_user(XSS)
    member(project, evil, Role.ADMIN)
    member(project, admin_user, Role.ADMIN)
    workflow_doc = diamond_document()
    workflow_doc["metadata"]["description"] = XSS
    workflow = create_workflow(workflow_doc, project=project, author=evil)
    tokens.issue(admin_user, XSS)
    audit.record(evil, "membership.add", ("membership", 1, XSS), detail={"x": XSS})
    return {"project": project, "user": evil, "workflow": workflow}


@pytest.mark.django_db
def test_hostile_names_and_descriptions_are_escaped_everywhere(
    client, admin_user, hostile
):
    client.force_login(admin_user)
    project, evil, workflow = hostile["project"], hostile["user"], hostile["workflow"]
    for path in [
        "/",
        "/projects/",
        f"/projects/{project.pk}/",
        f"/workflows/{workflow.pk}/",
        "/users/",
        f"/users/{evil.pk}/",
        "/account/tokens/",
        "/audit/",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.content.decode()
        assert XSS not in page, path
        assert ESCAPED in page, path


@pytest.mark.django_db
def test_a_hostile_username_is_escaped_for_its_owner_too(hostile):
    client = Client()
    client.force_login(hostile["user"])
    page = client.get(f"/projects/{hostile['project'].pk}/").content.decode()
    assert XSS not in page
    assert ESCAPED in page


@pytest.mark.django_db
def test_a_403_message_naming_a_hostile_project_is_escaped(django_user_model):
    # Names are DNS labels through every form and the API; the ORM does not check.
    project = Project.objects.create(name=XSS)
    viewer = member(project, django_user_model.objects.create_user("vera"), "viewer")
    workflow = create_workflow(diamond_document(), project=project, author=viewer)
    client = Client()
    client.force_login(viewer)
    response = client.get(f"/workflows/{workflow.pk}/edit/")
    assert response.status_code == 403
    page = response.content.decode()
    assert XSS not in page
    assert f"Your role in project {ESCAPED} is viewer" in page
