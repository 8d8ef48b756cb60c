"""Fuzz every operation of /api/schema/ with schemathesis: requests that fit
the schema and requests that do not, some with the ids of real objects so
they reach past the lookups. No answer may be a 5xx, so a new endpoint or
parameter cannot bring back a 500 that nobody thought to try by hand.

Deterministic (derandomized) and bounded (EXAMPLES per operation and mode):
about half a minute on a small machine. Each request runs in a transaction
that is rolled back, so every one sees the same project, workflow, run,
schedule and backfill whatever the ones before it deleted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from accounts import tokens
from flowcore.states import AttemptStatus
from schedules.models import Backfill
from schedules.services.editing import create_schedule
from tests.conftest import diamond_document, drive_run, member
from workflows.models import Role
from workflows.services.semaphores import create_semaphore
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)  # drive_run commits

EXAMPLES = 12  # per operation and mode, with and without real ids


@pytest.fixture
def app() -> Iterator[Any]:
    """Django's WSGI handler, in this thread on the test's connection: as the
    test client does, it must not close the connection after a request (the
    request runs inside the transaction its example rolls back)."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        for signal in (signals.request_started, signals.request_finished):
            signal.connect(close_old_connections)


@pytest.fixture
def world(admin_user: Any, project: Any) -> dict[str, Any]:
    """What the ids resolve to: a site admin who is also a member of a
    project with a workflow, a finished run, a schedule, a backfill and a
    semaphore."""
    member(project, admin_user, Role.ADMIN)
    workflow = create_workflow(diamond_document(), author=admin_user, project=project)
    run = drive_run(submit_run(workflow.latest_version), {"b": AttemptStatus.FAILED})
    schedule = create_schedule(
        workflow,
        {"name": "hourly", "expression": "0 * * * *"},
        user=admin_user,
        now=run.created_at,
    )
    backfill = Backfill.objects.create(
        schedule=schedule, start_at=run.created_at, end_at=run.created_at
    )
    create_semaphore(project, name="warehouse", limit=1)
    token, key = tokens.issue(admin_user, "fuzz")
    return {
        "authorization": f"Token {key}",
        "ids": {
            "workflows": workflow.pk,
            "runs": run.pk,
            "projects": project.pk,
            "schedules": schedule.pk,
            "backfills": backfill.pk,
            "tokens": token.pk,
        },
        "user_id": admin_user.pk,
    }


def real_path_parameters(path: str, world: dict[str, Any]) -> dict[str, Any]:
    collection = path.removeprefix("/api/").split("/")[0]
    known = {
        "id": world["ids"].get(collection),
        "user_id": world["user_id"],
        "number": 1,
        "task": "b",
        "name": "warehouse",  # a semaphore
    }
    return {name: value for name, value in known.items() if value is not None}


def operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def test_no_operation_answers_a_server_error(app: Any, world: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/schema/", app)
    headers = {"Authorization": world["authorization"]}
    failures: list[str] = []
    seen = 0
    for operation in operations(schema):
        seen += 1
        real = real_path_parameters(operation.path, world)
        names = {parameter.name for parameter in operation.path_parameters}
        fixed = {name: value for name, value in real.items() if name in names}
        strategies = [
            operation.as_strategy(generation_mode=mode, path_parameters=ids)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for ids in ([None, fixed] if fixed else [None])
        ]

        @settings(
            max_examples=EXAMPLES * len(strategies),
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report it
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def call(case: Any) -> None:
            with transaction.atomic():
                response = case.call(headers=headers)
                transaction.set_rollback(True)
            if response.status_code >= 500:
                failures.append(
                    f"{response.status_code} {case.as_curl_command(headers=headers)}"
                )

        call()
    assert seen > 40, "the schema lost its operations"
    assert not failures, "\n".join(sorted(set(failures))[:20])
