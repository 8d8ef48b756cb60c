"""Ids and filters in URLs are range-checked before they reach the database
(workflows.ids), and a NUL character in a URL is refused (webapp.nul): a 400
naming the parameter or a 404, never a 500, on PostgreSQL and on the embedded
mode's SQLite alike (which raises on any integer past 2**63 - 1)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import diamond_document
from workflows.ids import MAX_ID, parse_id
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

BIG = 2**63  # one past the largest id


@pytest.fixture
def api(api: Any) -> Any:
    api.raise_request_exception = False  # a 500 is an answer to assert on
    return api


@pytest.fixture
def client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        (f"/api/runs/?workflow={BIG}", "workflow"),
        (f"/api/runs/?project={BIG}", "project"),
        (f"/api/workflows/?project={BIG}", "project"),
        (f"/api/audit/?project={BIG}", "project"),
        (f"/api/audit/?user={BIG}", "user"),
        (f"/api/schedules/?workflow={BIG}", "workflow"),
        (f"/api/runs/?workflow={'9' * 5000}", "workflow"),
    ],
)
def test_an_id_filter_past_the_largest_id_is_a_400_naming_it(
    api, diamond, url, parameter
):
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 400
    assert f"from 1 to {MAX_ID}" in response.json()[parameter][0]
    assert not any(str(BIG) in query["sql"] for query in queries.captured_queries)


@pytest.mark.parametrize(
    "url",
    [
        f"/api/runs/?workflow={MAX_ID}",
        f"/api/audit/?user={MAX_ID}",
        "/api/runs/?project=%C2%B2",  # "²": str.isdigit() says yes, int() no
        "/api/workflows/?project=%C2%B2",
        "/api/audit/?project=%C2%B2",
        "/api/audit/?user=%C2%B2",
    ],
)
def test_the_largest_id_and_digits_that_are_no_number_find_nothing(api, url):
    response = api.get(url)
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_member_id_past_the_largest_id_is_a_404_without_a_query_for_it(
    api, project, user
):
    url = f"/api/projects/{project.pk}/members/{BIG}/"
    with CaptureQueriesContext(connection) as queries:
        changed = api.patch(url, {"role": "viewer"}, format="json")
        removed = api.delete(url)
    assert (changed.status_code, removed.status_code) == (404, 404)
    assert changed.json() == {"detail": f"user {BIG} is not a member of team"}
    # SQLite raises OverflowError on such a parameter: it must never get one.
    assert not any(str(BIG) in query["sql"] for query in queries.captured_queries)


def test_creating_in_a_project_named_by_digits_that_are_no_id_is_a_400(api):
    for raw in ("%C2%B2", str(BIG)):
        response = api.post(
            f"/api/workflows/?project={raw}", diamond_document(), format="json"
        )
        assert response.status_code == 400
        assert "project" in response.json()
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/workflows/?label=%00:%00",
        "/api/workflows/?label=%00",
        "/api/workflows/?search=%00",
        "/api/runs/?who=%00",
        "/api/audit/?action=run.%00",
        "/api/runs/1/tasks/%00/logs/",
    ],
)
def test_a_nul_character_in_an_api_url_is_a_400_in_json(api, diamond, url):
    response = api.get(url)
    assert response.status_code == 400
    assert "NUL character" in response.json()["detail"]


@pytest.mark.parametrize(
    "url", ["/?q=%00", "/?label=%00:x", "/runs/?who=%00", "/audit/?action=%00"]
)
def test_a_nul_character_in_a_page_url_is_a_400(client, admin_user, url):
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 400


@pytest.mark.parametrize("workflow", ["%C2%B2", str(BIG)])
def test_the_runs_page_ignores_a_workflow_filter_that_is_no_id(
    client, diamond, workflow
):
    response = client.get(f"/runs/?workflow={workflow}")
    assert response.status_code == 200


def test_a_nul_in_the_version_message_header_is_a_400(api):
    response = api.post(
        "/api/workflows/",
        diamond_document(),
        format="json",
        headers={"X-Flowdeck-Message": "a\x00b"},
    )
    assert response.status_code == 400
    assert "message" in response.json()
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("007", 7),
        (str(MAX_ID), MAX_ID),
        (str(BIG), None),
        ("0", None),
        ("²", None),
        ("١", None),  # an Arabic-Indic one: int() reads it, a URL id is ASCII
        ("-1", None),
        ("9" * 5000, None),
    ],
)
def test_parse_id_takes_ascii_digits_within_the_bigint_range(text, expected):
    assert parse_id(text) == expected
