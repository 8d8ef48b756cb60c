"""The probes pass whatever the Host: a kubelet probes the pod's IP, which the
kustomize base's FLOWDECK_ALLOWED_HOSTS (like any real one) does not list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from webapp.env import env_list

pytestmark = pytest.mark.django_db

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
POD_IP = "10.244.1.17:8000"


def shipped_settings() -> dict[str, str]:
    """The ConfigMap of the kustomize base: the settings its pods start with."""
    return yaml.safe_load((DEPLOY / "configmap.yaml").read_text())["data"]


@pytest.fixture
def base_hosts(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = shipped_settings()
    monkeypatch.setenv("FLOWDECK_ALLOWED_HOSTS", shipped["FLOWDECK_ALLOWED_HOSTS"])
    settings.ALLOWED_HOSTS = env_list("FLOWDECK_ALLOWED_HOSTS", [])
    assert POD_IP.split(":")[0] not in settings.ALLOWED_HOSTS


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_probe_with_the_pod_ip_as_host_passes(client, base_hosts, path):
    response = client.get(path, HTTP_HOST=POD_IP)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_probe_over_plain_http_is_not_redirected_behind_tls(
    client, base_hosts, settings, path
):
    settings.SECURE_SSL_REDIRECT = True  # FLOWDECK_SECURE_COOKIES=true
    response = client.get(path, HTTP_HOST=POD_IP)
    assert response.status_code == 200


def test_everything_else_still_checks_the_host(client, base_hosts):
    assert client.get("/api/workflows/", HTTP_HOST=POD_IP).status_code == 400
    assert client.get("/login/", HTTP_HOST=POD_IP).status_code == 400


def test_a_probe_is_get_only(client, base_hosts):
    assert client.post("/healthz", HTTP_HOST=POD_IP).status_code == 405


def test_the_probes_are_answered_first() -> None:
    from django.conf import settings

    assert settings.MIDDLEWARE[0] == "webapp.probes.ProbeMiddleware"
