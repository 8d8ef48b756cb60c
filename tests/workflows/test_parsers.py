"""Request bodies within the shared limits (workflows.api.parsers): nesting,
duplicate keys, infinite numbers and size are refused with a JSON answer
naming the limit, on every endpoint, before anything trips over them."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from tests.schedules.conftest import stamped_document
from workflows.api.parsers import MAX_DEPTH, json_too_deep, loaded_too_deep
from workflows.models import Workflow
from workflows.services.submit import create_workflow

pytestmark = pytest.mark.django_db

DEEP = 950  # about 2 KB of brackets: enough to exhaust the stack before


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient(raise_request_exception=False)


@pytest.fixture
def stamped(user: Any, project: Any) -> Workflow:
    return create_workflow(stamped_document(), author=user, project=project)


def schedule_body(stamped: Workflow, **values: Any) -> dict[str, Any]:
    return {
        "workflow": stamped.pk,
        "name": "nightly",
        "kind": "cron",
        "expression": "0 2 * * *",
        "timezone": "UTC",
        "parameters": {"when": "{{schedule.time}}"},
        **values,
    }


def test_a_deeply_nested_body_is_a_400_even_without_logging_in(anonymous):
    response = anonymous.post(
        "/api/auth/token/", nested_array(DEEP), content_type="application/json"
    )
    assert response.status_code == 400
    assert f"nested more than {MAX_DEPTH} levels" in response.json()["detail"]


@pytest.mark.parametrize(
    "body", [nested_array(DEEP), nested_object(DEEP)], ids=["array", "object"]
)
def test_a_deeply_nested_json_document_is_refused_before_it_is_parsed(api, body):
    response = api.post(
        "/api/workflows/validate/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested more than" in response.json()["detail"]


@pytest.mark.parametrize(
    "text",
    [
        "metadata: " + nested_array(DEEP),  # flow style
        "metadata:\n" + "".join(f"{'  ' * i}- \n" for i in range(DEEP)),  # block
        '{"metadata": ' + nested_array(DEEP) + "}",  # YAML read as JSON first
    ],
    ids=["flow", "block", "json"],
)
def test_a_deeply_nested_yaml_body_is_refused_too(api, text):
    response = api.post("/api/workflows/", text, content_type="application/yaml")
    assert response.status_code == 400
    assert "nested more than" in response.json()["detail"]
    assert not Workflow.objects.exists()


def test_a_document_as_deep_as_the_limit_is_accepted(api, stamped):
    deep: Any = "x"
    for _ in range(MAX_DEPTH - 3):  # the body, parameters and "when" are 3
        deep = [deep]
    body = schedule_body(stamped, parameters={"when": "t", "label": deep})
    response = api.post("/api/schedules/", body, format="json")
    # Deep enough to parse; the workflow's parameter is a string, not a list.
    assert response.status_code == 400
    assert "parameters.label" in response.json()


def test_a_duplicate_key_in_json_is_refused_like_in_yaml(api):
    for text, content_type in (
        ('{"kind": "Workflow", "kind": "Other"}', "application/json"),
        ("kind: Workflow\nkind: Other\n", "application/yaml"),
    ):
        response = api.post("/api/workflows/validate/", text, content_type=content_type)
        assert response.status_code == 400, content_type
        assert "duplicate key 'kind'" in response.json()["detail"]


def test_a_duplicate_key_in_a_login_is_refused_not_the_last_one_used(anonymous, user):
    body = '{"username": "nobody", "username": "alice", "password": "pw-alice-123"}'
    response = anonymous.post("/api/auth/token/", body, content_type="application/json")
    assert response.status_code == 400
    assert "duplicate key 'username'" in response.json()["detail"]


def test_a_number_too_large_for_a_float_is_a_400_not_infinity(api, stamped):
    body = json.dumps(schedule_body(stamped)).replace('"{{schedule.time}}"', "1e999")
    response = api.post("/api/schedules/", body, content_type="application/json")
    assert response.status_code == 400
    assert "1e999 is out of range" in response.json()["detail"]


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml"])
def test_a_body_over_the_size_limit_gets_json_naming_the_limit(
    api, settings, content_type
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = '{"metadata": {"description": "' + "x" * 10_000 + '"}}'
    response = api.post("/api/workflows/validate/", body, content_type=content_type)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "larger than 10000 bytes" in response.json()["detail"]


def test_a_form_body_over_the_size_limit_gets_json_too(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api.post("/api/tokens/", {"name": "x" * 10_000}, format="multipart")
    assert response.status_code == 413
    assert "larger than 10000 bytes" in response.json()["detail"]


# --- the counting itself ----------------------------------------------------------


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert not json_too_deep(json.dumps({"script": "[" * 500 + '\\"{' * 500}))
    assert json_too_deep(nested_array(MAX_DEPTH + 1))
    assert not json_too_deep(nested_array(MAX_DEPTH))


def test_a_yaml_alias_counts_the_depth_of_what_it_stands_for():
    inner: Any = "x"
    for _ in range(60):
        inner = [inner]
    # Each alias alone is 60 deep; placed inside one another, 120.
    document = yaml.safe_load(
        f"a: &a {json.dumps(inner)}\nb: &b [[[{'[' * 56}*a{']' * 56}]]]\n"
    )
    assert not loaded_too_deep(document["a"])
    assert loaded_too_deep(document)


def test_a_yaml_alias_bomb_is_measured_in_the_time_of_its_text():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 40)]
    document = yaml.safe_load("\n".join(lines))  # 10**40 leaves if expanded
    assert not loaded_too_deep(document)


def test_a_list_that_contains_itself_is_too_deep():
    looped: list[Any] = []
    looped.append(looped)
    assert loaded_too_deep(looped)
