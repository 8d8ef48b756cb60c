"""Start the test OpenID Connect provider (serve.py) in a process of its own
and drive its pages the way a browser would (for the tests without one)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "flowdeck-test"


@dataclass
class Provider:
    url: str  # the issuer
    client_id: str
    client_secret: str
    control_secret: str

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def set_groups(self, username: str, groups: list[str]) -> None:
        self._control({"groups": {username: groups}})

    def set_faults(self, **faults: Any) -> None:
        """What the next ID tokens get wrong: aud=..., iat_offset=seconds,
        tamper=True; none: correct tokens again."""
        self._control({"faults": faults})

    def _control(self, body: Mapping[str, Any]) -> None:
        response = requests.post(
            f"{self.url}/control/",
            data=json.dumps(body),
            headers={"X-Control-Secret": self.control_secret},
            timeout=10,
        )
        response.raise_for_status()

    def settings(self) -> dict[str, Any]:
        """Flowdeck's settings for this provider."""
        return {
            "FLOWDECK_OIDC_ISSUER": self.issuer,
            "FLOWDECK_OIDC_CLIENT_ID": self.client_id,
            "FLOWDECK_OIDC_CLIENT_SECRET": self.client_secret,
            "FLOWDECK_OIDC_SCOPES": "openid profile email",
            "FLOWDECK_OIDC_PROVIDER_NAME": "Test IdP",
        }


def _rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@contextmanager
def running_provider(
    directory: Path,
    *,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] = (),  # type: ignore[assignment]
    users: Mapping[str, Mapping[str, Any]],
) -> Iterator[Provider]:
    port = free_port()
    provider = Provider(
        url=f"http://127.0.0.1:{port}",
        client_id=CLIENT_ID,
        client_secret=secrets.token_urlsafe(24),
        control_secret=secrets.token_urlsafe(16),
    )
    seed = {
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "users": users,
    }
    environment = {
        **os.environ,
        "OIDC_PROVIDER_DB": str(directory / "provider.sqlite3"),
        "OIDC_PROVIDER_RSA_KEY": _rsa_key(),
        "OIDC_PROVIDER_CONTROL": provider.control_secret,
        "PYTHONPATH": str(ROOT),
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    log = (directory / "provider.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.oidc_provider.serve",
            str(port),
            json.dumps(seed),
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                found = requests.get(
                    f"{provider.issuer}/.well-known/openid-configuration", timeout=2
                )
                if found.ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the test OpenID Connect provider did not start:\n"
                    + (directory / "provider.log").read_text()[-3000:]
                )
            time.sleep(0.1)
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def provider_sign_in(
    authorize_url: str, username: str, password: str
) -> requests.Response:
    """Follow the provider's pages from Flowdeck's redirect to its
    authorization endpoint: its login form, then the authorization (granted
    without asking: the client is trusted); the answer redirects back to
    Flowdeck's callback (or, refused, says why)."""
    session = requests.Session()
    answer = session.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    login_url = urljoin(authorize_url, answer.headers["Location"])
    session.get(login_url, timeout=10).raise_for_status()
    next_url = login_url.split("next=", 1)[1] if "next=" in login_url else ""
    from urllib.parse import unquote

    answer = session.post(
        login_url,
        data={
            "username": username,
            "password": password,
            "next": unquote(next_url),
            "csrfmiddlewaretoken": session.cookies["provider_csrftoken"],
        },
        headers={"Referer": login_url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:500]
    return session.get(
        urljoin(authorize_url, answer.headers["Location"]),
        allow_redirects=False,
        timeout=10,
    )
