"""Run submission when something is down: never a 500 after a commit (201 and
the sweep dispatches it, or a JSON refusal with nothing saved), every API
error JSON, and an Idempotency-Key that makes a retried submission safe."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from k8s_runner import reconcile
from tests.conftest import diamond_document
from workflows.models import Run
from workflows.services.submit import create_workflow

WORKFLOWS = "/api/workflows/"


def submit(client: APIClient, workflow: Any, body: Any = None, **headers: str) -> Any:
    return client.post(
        f"{WORKFLOWS}{workflow.pk}/runs/", body or {}, format="json", headers=headers
    )


@pytest.mark.django_db(transaction=True)
def test_a_submission_while_the_broker_is_down_is_a_201_the_sweep_dispatches(
    api, diamond, broker_down, monkeypatch
):
    response = submit(api, diamond)
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["dispatch"] == "deferred"
    run = Run.objects.get(pk=body["id"])
    assert run.status == "Pending"
    # The sweep plans every unfinished run: this one is among them.
    swept: list[int] = []
    monkeypatch.setattr(reconcile, "reconcile", swept.append)
    monkeypatch.setattr(reconcile, "get_backend", lambda: SimpleNamespace(name="local"))
    monkeypatch.setattr(reconcile.subworkflows, "settle_children", lambda: None)
    reconcile.sweep()
    assert run.pk in swept


@pytest.mark.django_db(transaction=True)
def test_a_submission_with_the_broker_up_says_it_was_queued(api, diamond):
    response = submit(api, diamond)
    assert response.status_code == 201
    assert response.json()["dispatch"] == "queued"


@pytest.mark.django_db
def test_a_database_failure_is_a_json_503_and_saves_nothing(api, diamond, monkeypatch):
    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr("workflows.api.views.submit_run", down)
    response = submit(api, diamond)
    assert response.status_code == 503
    assert response.json() == {
        "detail": "the database is unavailable; try again shortly"
    }
    assert response["Retry-After"] == "5"
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_an_unexpected_error_under_api_is_a_json_500(api, diamond, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("workflows.api.views.submit_run", broken)
    api.raise_request_exception = False
    response = submit(api, diamond)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "internal server error" in response.json()["detail"]


@pytest.mark.django_db
def test_an_unknown_api_url_is_a_json_404(api):
    response = api.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "not found"}


@pytest.mark.django_db
def test_pages_keep_their_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


# --- Idempotency-Key ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_first_run(api, diamond):
    first = submit(api, diamond, {"parameters": {}}, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    again = submit(api, diamond, {"parameters": {}}, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["dispatch"] == "earlier"
    assert Run.objects.count() == 1
    run = Run.objects.get()
    assert run.idempotency_key == "k-1"
    assert len(run.idempotency_hash) == 64


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_409(api, diamond):
    submit(api, diamond, {}, **{"Idempotency-Key": "k-2"})
    response = submit(api, diamond, {"version": 1}, **{"Idempotency-Key": "k-2"})
    assert response.status_code == 409
    assert "Idempotency-Key 'k-2'" in response.json()["detail"]
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_a_key_is_scoped_to_the_person_and_the_workflow(
    api, diamond, user, project, django_user_model
):
    from tests.conftest import member

    other = create_workflow(diamond_document("other"), author=user, project=project)
    submit(api, diamond, {}, **{"Idempotency-Key": "shared"})
    assert submit(api, other, {}, **{"Idempotency-Key": "shared"}).status_code == 201
    carol = member(project, django_user_model.objects.create_user("carol"), "operator")
    client = APIClient()
    client.force_authenticate(carol)
    assert (
        submit(client, diamond, {}, **{"Idempotency-Key": "shared"}).status_code == 201
    )
    assert Run.objects.count() == 3


@pytest.mark.django_db
def test_without_a_key_every_submission_is_a_new_run(api, diamond):
    submit(api, diamond)
    submit(api, diamond)
    assert Run.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_a_400_naming_the_header(api, diamond, key):
    response = submit(api, diamond, {}, **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json() == {
        "Idempotency-Key": ["must be 1 to 255 printable ASCII characters"]
    }
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_a_login_while_redis_is_down_is_a_json_503(monkeypatch, user):
    """Login throttling keeps its counts in Django's cache, on Redis."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(*args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("Error 111 connecting to redis:6379")

    monkeypatch.setattr("accounts.throttling.cache.get_many", down)
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-123"}
    )
    assert response.status_code == 503
    assert response.json() == {"detail": "Redis is unavailable; try again shortly"}
