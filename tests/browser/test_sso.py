"""Single sign-on in a real Chromium: Flowdeck's button, the provider's own
login page (tests/oidc_provider/, in its own process), back to Flowdeck with
the group's role, and a sign-out that ends the provider's session too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.sso_roles import parse_group_roles
from tests.browser.conftest import screenshot
from tests.oidc_provider.running import Provider, running_provider
from workflows.models import Membership, Project


@pytest.fixture
def provider(live_server: Any, tmp_path: Path, settings: Any) -> Iterator[Provider]:
    with running_provider(
        tmp_path,
        redirect_uris=[f"{live_server.url}/login/oidc/callback/"],
        post_logout_redirect_uris=[f"{live_server.url}/login/"],
        users={"erin": {"password": "erin-at-the-idp", "groups": ["analysts"]}},
    ) as running:
        for name, value in running.settings().items():
            setattr(settings, name, value)
        settings.FLOWDECK_OIDC_GROUP_ROLES = parse_group_roles(
            '{"analysts": [["insights", "editor"]]}'
        )
        yield running


def _provider_login(page: Any, provider: Provider) -> None:
    page.wait_for_url(f"{provider.url}/login/**")
    page.fill("#provider-username", "erin")
    page.fill("#provider-password", "erin-at-the-idp")
    page.click("text=Sign in at the provider")


def test_a_person_signs_in_through_the_provider_and_out_of_both(
    page: Any, provider: Provider
) -> None:
    Project.objects.create(name="insights")
    page.goto(page.live_url("/login/"))
    screenshot(page, "sso-login-page")
    page.click("#sso-login")
    _provider_login(page, provider)
    page.wait_for_selector(".account .username")
    assert page.inner_text(".account .username") == "erin"
    assert page.url.startswith(page.live_url("/"))
    membership = Membership.objects.get(user__username="erin")
    assert (membership.project.name, membership.role, membership.from_sso) == (
        "insights",
        "editor",
        True,
    )
    page.click("text=Log out")
    page.wait_for_url(page.live_url("/login/"))
    # The provider's session ended too: signing in again asks for the password.
    page.click("#sso-login")
    _provider_login(page, provider)
    page.wait_for_selector(".account .username")
    assert page.inner_text(".account .username") == "erin"
