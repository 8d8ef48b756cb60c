"""Shared fixtures: projects, users and their roles, API clients, workflows, and
a driver that plays the part of a backend so service and API tests can take
runs through every state."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from rest_framework.test import APIClient

from flowcore.states import TERMINAL_RUN_STATUSES, AttemptStatus
from workflows.models import Attempt, Membership, Project, Role, Run, Workflow
from workflows.services.advance import Advance, advance_run
from workflows.services.attempts import Report, record_report
from workflows.services.submit import create_workflow, submit_run


def requires_service(variable: str) -> pytest.MarkDecorator:
    """Skip (never in CI: the plugin fails first) when a real server is missing."""
    missing = os.environ.get(f"FLOWDECK_TEST_NO_{variable}")
    return pytest.mark.skipif(bool(missing), reason=f"{variable}: {missing}")


def shell_task(name: str, script: str = "true", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": "busybox:1.36",
        "command": ["sh", "-c"],
        "args": [script],
        **extra,
    }


def workflow_document(
    name: str, tasks: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"tasks": tasks, **spec},
    }


def diamond_document(name: str = "diamond", **spec: Any) -> dict[str, Any]:
    return workflow_document(
        name,
        [
            shell_task("a"),
            shell_task("b", dependencies=["a"]),
            shell_task("c", dependencies=["a"]),
            shell_task("d", dependencies=["b", "c"]),
        ],
        **spec,
    )


def doubling_sub_workflows(
    items: int, calc: str = "sleep 1; echo $(( {{params.n}} * 2 ))"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A child workflow whose task runs `calc` (returning twice its parameter
    `n`; one pod), and a parent that fans it out, one child run per item, 2 at
    a time, then sums what they returned. No retries anywhere: a child lost or
    run twice fails the run (the crash tests of sub-workflows)."""
    child = workflow_document(
        "double",
        [shell_task("calc", calc)],
        parameters=[{"name": "n"}],
        outputs={
            "parameters": [
                {"name": "doubled", "value": "{{tasks.calc.outputs.result}}"}
            ]
        },
        defaults={"retry": {"limit": 0}},
    )
    parent = workflow_document(
        "doubles",
        [
            {
                "name": "each",
                "workflow": {"name": "double", "parameters": {"n": "{{item}}"}},
                "withSequence": {"count": items},
                "parallelism": 2,
            },
            {
                "name": "sum",
                "image": "python:3.12-slim",
                "dependencies": ["each"],
                "command": [
                    "python3",
                    "-c",
                    "import json, sys; print(sum(json.loads(sys.argv[1])))",
                    "{{tasks.each.outputs.parameters.doubled}}",
                ],
            },
        ],
        defaults={"retry": {"limit": 0}},
    )
    return child, parent


@pytest.fixture(autouse=True)
def _fresh_cache_and_fast_hashing(settings: Any) -> None:
    """Each test its own empty cache (login throttling and API rate limits
    live there; the suite's Redis would carry them from test to test), and a
    fast password hasher (PBKDF2 costs ~0.1 s a user)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4()}",
        }
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def project(db: Any) -> Project:
    return Project.objects.create(name="team")


@pytest.fixture
def other_project(db: Any) -> Project:
    return Project.objects.create(name="elsewhere")


def member(project: Project, user: Any, role: str) -> Any:
    Membership.objects.create(project=project, user=user, role=Role(role))
    return user


@pytest.fixture
def user(django_user_model: Any, project: Project) -> Any:
    """alice, an admin of `project`: she may do anything in it, as before
    projects existed she could with her own workflows."""
    alice = django_user_model.objects.create_user("alice", password="pw-alice-123")
    return member(project, alice, Role.ADMIN)


@pytest.fixture
def other_user(django_user_model: Any, other_project: Project) -> Any:
    """bob, an admin of another project: he sees nothing of `project`."""
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    return member(other_project, bob, Role.ADMIN)


@pytest.fixture
def admin_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root", password="pw-root-123")


@pytest.fixture
def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def diamond(user: Any, project: Project) -> Workflow:
    return create_workflow(diamond_document(), author=user, project=project)


Outcome = AttemptStatus | Callable[[str, int], AttemptStatus]


def drive_run(
    run: Run,
    outcomes: Mapping[str, Outcome] | None = None,
    *,
    default: AttemptStatus = AttemptStatus.SUCCEEDED,
    max_steps: int = 10_000,
) -> Run:
    """Advance `run` to its end, ending each launched attempt with the outcome
    named for its task (a status, or a function of task name and attempt
    number). Plays the backend through the same service calls a real one uses.
    """
    outcomes = outcomes or {}
    work = advance_run(run.pk)
    launches = list(work.launch)
    steps = 0
    while launches and steps < max_steps:
        steps += 1
        launch = launches.pop(0)
        attempt = Attempt.objects.select_related("task_run").get(pk=launch.attempt_id)
        name, number = attempt.task_run.name, attempt.number
        wanted = outcomes.get(name, default)
        status = wanted(name, number) if callable(wanted) else wanted
        record_report(
            Report(attempt.pk, AttemptStatus.RUNNING, handle=f"fake-{attempt.pk}")
        )
        result: Advance | None = record_report(
            Report(attempt.pk, status, exit_code=0 if status == "Succeeded" else 1)
        )
        if result is not None:
            launches.extend(result.launch)
        if not launches:
            # Retries wait for their backoff: plan again, as the sweep would.
            run.refresh_from_db()
            if run.status not in TERMINAL_RUN_STATUSES:
                launches.extend(advance_run(run.pk, now=_next_retry(run)).launch)
    run.refresh_from_db()
    return run


def _next_retry(run: Run) -> Any:
    from django.db.models import Min
    from django.utils import timezone

    due = run.tasks.aggregate(due=Min("retry_at"))["due"]
    return max(due, timezone.now()) if due else timezone.now()


__all__ = ["drive_run", "member", "submit_run", "requires_service"]


# A real S3-protocol server (moto's), for the artifact store's tests.
from tests.s3 import s3_bucket, s3_endpoint  # noqa: E402, F401


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Celery app publishes to a port nobody listens on, as when Redis is
    stopped: fresh connection pools, so nothing cached hides it."""
    from tests.net import free_port
    from webapp.celery import app

    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)


def run_tasks(api: APIClient, run_id: int, **query: Any) -> list[dict[str, Any]]:
    """Every task of the run through GET /api/runs/{id}/tasks/, page by page
    (the run's detail has a summary, not its tasks)."""
    url: str | None = f"/api/runs/{run_id}/tasks/"
    params: dict[str, Any] | None = query
    tasks: list[dict[str, Any]] = []
    while url is not None:
        response = api.get(url, params)
        assert response.status_code == 200, response.content
        page = response.json()
        tasks.extend(page["tasks"])
        url, params = page["next"], None
    return tasks
