"""Who may do what: every API endpoint and every page, for every kind of person.

The matrix below is the contract: a row per endpoint or page, a status per
person. A project you are not a member of is a 404 (it does not exist for
you); a visible thing your role is too weak for is a 403; no credentials are a
401 on the API and a trip to the login page on the pages. Then: tokens that
are wrong, revoked or expired are a 401, and session-authenticated writes need
their CSRF token.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import AuditEntry
from artifacts.store import FilesystemStore
from flowcore.spec import dump_document
from tests.conftest import diamond_document, member
from workflows.models import (
    Attempt,
    AttemptOutput,
    Membership,
    Project,
    Role,
    Run,
    Semaphore,
    Workflow,
)
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db

ANON, VIEWER, EDITOR, OPERATOR, PADMIN, SITE, OUTSIDER = PEOPLE = (
    "anonymous",
    "viewer",
    "editor",
    "operator",
    "project admin",
    "site admin",
    "outsider",
)


@dataclass
class World:
    project: Project
    other: Project
    users: dict[str, Any]
    workflow: Workflow
    spare: Workflow
    run: Run
    target: Any  # a viewer of the project, whose role admins change
    newcomer: Any  # a user in no project

    def ids(self) -> dict[str, Any]:
        return {
            "project": self.project.pk,
            "workflow": self.workflow.pk,
            "spare": self.spare.pk,
            "run": self.run.pk,
            "target": self.target.pk,
        }


@pytest.fixture
def world(django_user_model: Any, tmp_path: Path) -> World:
    project = Project.objects.create(name="team")
    other = Project.objects.create(name="elsewhere")
    Semaphore.objects.create(project=project, name="warehouse", limit=1)
    make = django_user_model.objects.create_user
    users: dict[str, Any] = {ANON: None}
    for person, name, role in [
        (VIEWER, "vera", Role.VIEWER),
        (EDITOR, "eddie", Role.EDITOR),
        (OPERATOR, "otto", Role.OPERATOR),
        (PADMIN, "pam", Role.ADMIN),
    ]:
        users[person] = member(project, make(name), role)
    users[SITE] = django_user_model.objects.create_superuser("root")
    # An admin elsewhere: a strong role, but not in this project.
    users[OUTSIDER] = member(other, make("bob"), Role.ADMIN)
    target = member(project, make("tess"), Role.VIEWER)
    workflow = create_workflow(
        diamond_document(), project=project, author=users[PADMIN]
    )
    spare = create_workflow(
        diamond_document("spare"), project=project, author=users[PADMIN]
    )
    run = submit_run(workflow.latest_version, user=users[PADMIN])
    log = tmp_path / "a.log"
    log.write_text("hello\n")
    attempt = Attempt.objects.create(
        task_run=run.tasks.get(name="a"), number=1, backend="local", log_path=str(log)
    )
    stored = FilesystemStore(Path(settings.DATA_DIR) / "artifacts").put_file(log)
    AttemptOutput.objects.create(
        attempt=attempt,
        kind=AttemptOutput.Kind.ARTIFACT,
        name="data",
        sha256=stored.sha256,
        size=stored.size,
        filename="a.log",
    )
    return World(
        project=project,
        other=other,
        users=users,
        workflow=workflow,
        spare=spare,
        run=run,
        target=target,
        newcomer=make("nina"),
    )


Body = dict[str, Any] | str | Callable[[World], dict[str, Any]] | None


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    expected: tuple[int, int, int, int, int, int, int]  # in the order of PEOPLE
    body: Body = None
    # The client's keyword arguments: a JSON body unless they say otherwise.
    extra: dict[str, Any] = field(default_factory=lambda: {"format": "json"})

    def status_for(self, person: str) -> int:
        return self.expected[PEOPLE.index(person)]


def _edited(world: World) -> dict[str, Any]:
    return {"document": dump_document(diamond_document(parallelism=2))}


def _new_workflow(world: World) -> dict[str, Any]:
    return {
        "project": str(world.project.pk),
        "document": dump_document(diamond_document("from-page")),
    }


def _membership(world: World) -> dict[str, Any]:
    return {"project": str(world.project.pk), "role": Role.EDITOR}


def _new_schedule(world: World) -> dict[str, Any]:
    return {"workflow": world.workflow.pk, "name": "nightly", "expression": "@daily"}


def _backfill_range(world: World) -> dict[str, Any]:
    now = timezone.now()
    return {
        "start": (now - timedelta(hours=3)).isoformat(),
        "end": (now - timedelta(hours=1)).isoformat(),
    }


SCHEDULE_FORM = {
    "name": "nightly",
    "kind": "cron",
    "expression": "@daily",
    "timezone": "UTC",
    "enabled": "on",
    "overlap": "allow",
    "catch_up": "latest",
    "catch_up_limit": "10",
}


def _backfill_form(world: World) -> dict[str, Any]:
    end = timezone.now() - timedelta(hours=1)
    start = end - timedelta(hours=2)
    return {
        "start": f"{start:%Y-%m-%dT%H:%M}",
        "end": f"{end:%Y-%m-%dT%H:%M}",
        "max_concurrent": "1",
    }


def _schedule_ids(world: World) -> dict[str, Any]:
    """An hourly schedule of the workflow with a backfill still running, made
    only for the rows that need them."""
    from schedules.services.backfills import create_backfill
    from schedules.services.editing import create_schedule

    now = timezone.now()
    admin = world.users[PADMIN]
    schedule = create_schedule(
        world.workflow, {"name": "hourly", "expression": "@hourly"}, user=admin, now=now
    )
    backfill = create_backfill(
        schedule,
        now - timedelta(hours=6),
        now - timedelta(hours=3),
        max_concurrent=1,
        user=admin,
        now=now,
    )
    return {"schedule": schedule.pk, "backfill": backfill.pk}


def _rule_ids(world: World) -> dict[str, Any]:
    """A project-wide notification rule, made only for the rows that need it."""
    from notifications.models import NotificationRule

    rule = NotificationRule.objects.create(
        project=world.project,
        name="on-call",
        channel="webhook",
        url="https://hooks.example.com/x",
        events=["run.failed"],
    )
    return {"rule": rule.pk}


def _project_rule(world: World) -> dict[str, Any]:
    return {
        "project": world.project.pk,
        "name": "everything",
        "events": ["run.failed"],
        "channel": "webhook",
        "url": "https://hooks.example.com/all",
    }


def _workflow_rule(world: World) -> dict[str, Any]:
    return {**_project_rule(world), "workflow": world.workflow.pk, "name": "mine"}


NEW_PASSWORD = "Sturdy-horse-9431"

ARGO_FILE = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: from-argo}
spec:
  entrypoint: main
  templates:
    - {name: main, container: {image: busybox, command: ["true"]}}
"""

API: dict[str, Case] = {
    # anonymous, viewer, editor, operator, project admin, site admin, outsider
    "list workflows": Case(
        "get", "/api/workflows/", (401, 200, 200, 200, 200, 200, 200)
    ),
    "create workflow": Case(
        "post",
        "/api/workflows/?project={project}",
        (401, 403, 201, 201, 201, 201, 400),
        diamond_document("new-one"),
    ),
    "read workflow": Case(
        "get", "/api/workflows/{workflow}/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "replace workflow": Case(
        "put",
        "/api/workflows/{workflow}/",
        (401, 403, 200, 200, 200, 200, 404),
        diamond_document(parallelism=2),
    ),
    "patch workflow": Case(
        "patch",
        "/api/workflows/{workflow}/",
        (401, 403, 200, 200, 200, 200, 404),
        {"metadata": {"description": "patched"}},
    ),
    "delete workflow": Case(
        "delete", "/api/workflows/{spare}/", (401, 403, 204, 204, 204, 204, 404)
    ),
    "list versions": Case(
        "get",
        "/api/workflows/{workflow}/versions/",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "read version": Case(
        "get",
        "/api/workflows/{workflow}/versions/1/",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "validate": Case(
        "post",
        "/api/workflows/validate/",
        (401, 200, 200, 200, 200, 200, 200),
        diamond_document(),
    ),
    # The editor's export: draws the posted document, saves nothing.
    "draw a document": Case(
        "post",
        "/api/workflows/graph/?as=svg",
        (401, 200, 200, 200, 200, 200, 200),
        diamond_document(),
    ),
    # Argo interop (docs/argo.md): importing creates workflows.
    "import an argo file": Case(
        "post",
        "/api/workflows/import/?project={project}",
        (401, 403, 201, 201, 201, 201, 400),
        ARGO_FILE,
        {"content_type": "application/yaml"},
    ),
    # A dry run converts the posted file and saves nothing.
    "convert an argo file": Case(
        "post",
        "/api/workflows/import/?dry_run=true",
        (401, 200, 200, 200, 200, 200, 200),
        ARGO_FILE,
        {"content_type": "application/yaml"},
    ),
    "export a version to argo": Case(
        "get",
        "/api/workflows/{workflow}/versions/1/export/?format=argo",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "submit run": Case(
        "post",
        "/api/workflows/{workflow}/runs/",
        (401, 403, 403, 201, 201, 201, 404),
        {},
    ),
    "list runs": Case("get", "/api/runs/", (401, 200, 200, 200, 200, 200, 200)),
    "read run": Case("get", "/api/runs/{run}/", (401, 200, 200, 200, 200, 200, 404)),
    "list a run's tasks": Case(
        "get", "/api/runs/{run}/tasks/", (401, 200, 200, 200, 200, 200, 404)
    ),
    # The run is Pending: allowed people get the state's 409, not a 403.
    "retry run": Case(
        "post", "/api/runs/{run}/retry/", (401, 403, 403, 409, 409, 409, 404)
    ),
    "retry preview": Case(
        "get", "/api/runs/{run}/retry/preview/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "retry task": Case(
        "post", "/api/runs/{run}/tasks/a/retry/", (401, 403, 403, 409, 409, 409, 404)
    ),
    # A new run of its own: allowed on a run that has not finished.
    "debug task": Case(
        "post",
        "/api/runs/{run}/tasks/a/debug/",
        (401, 403, 403, 201, 201, 201, 404),
        {},
    ),
    "cancel run": Case(
        "post", "/api/runs/{run}/cancel/", (401, 403, 403, 200, 200, 200, 404)
    ),
    "resubmit run": Case(
        "post", "/api/runs/{run}/resubmit/", (401, 403, 403, 201, 201, 201, 404), {}
    ),
    "task logs": Case(
        "get", "/api/runs/{run}/tasks/a/logs/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "run events": Case(
        "get", "/api/runs/{run}/events/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "task pod events": Case(
        "get", "/api/runs/{run}/tasks/a/events/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "task request": Case(
        "get", "/api/runs/{run}/tasks/a/request/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "task outputs": Case(
        "get", "/api/runs/{run}/tasks/a/outputs/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "task artifact": Case(
        "get",
        "/api/runs/{run}/tasks/a/artifacts/data/",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "list projects": Case("get", "/api/projects/", (401, 200, 200, 200, 200, 200, 200)),
    "create project": Case(
        "post",
        "/api/projects/",
        (401, 403, 403, 403, 403, 201, 403),
        {"name": "fresh"},
    ),
    "read project": Case(
        "get", "/api/projects/{project}/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "change project": Case(
        "patch",
        "/api/projects/{project}/",
        (401, 403, 403, 403, 200, 200, 404),
        {"description": "changed"},
    ),
    "list members": Case(
        "get", "/api/projects/{project}/members/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "add member": Case(
        "post",
        "/api/projects/{project}/members/",
        (401, 403, 403, 403, 201, 201, 404),
        {"username": "nina", "role": "viewer"},
    ),
    "change member": Case(
        "patch",
        "/api/projects/{project}/members/{target}/",
        (401, 403, 403, 403, 200, 200, 404),
        {"role": "editor"},
    ),
    "remove member": Case(
        "delete",
        "/api/projects/{project}/members/{target}/",
        (401, 403, 403, 403, 204, 204, 404),
    ),
    # Semaphores: members see them, project admins manage them.
    "list semaphores": Case(
        "get",
        "/api/projects/{project}/semaphores/",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "create semaphore": Case(
        "post",
        "/api/projects/{project}/semaphores/",
        (401, 403, 403, 403, 201, 201, 404),
        {"name": "lanes", "limit": 2},
    ),
    "read semaphore": Case(
        "get",
        "/api/projects/{project}/semaphores/warehouse/",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "change semaphore": Case(
        "patch",
        "/api/projects/{project}/semaphores/warehouse/",
        (401, 403, 403, 403, 200, 200, 404),
        {"limit": 3},
    ),
    "delete semaphore": Case(
        "delete",
        "/api/projects/{project}/semaphores/warehouse/",
        (401, 403, 403, 403, 204, 204, 404),
    ),
    "list tokens": Case("get", "/api/tokens/", (401, 200, 200, 200, 200, 200, 200)),
    "websocket ticket": Case(
        "post", "/api/ws-ticket/", (401, 200, 200, 200, 200, 200, 200)
    ),
    "create token": Case(
        "post", "/api/tokens/", (401, 201, 201, 201, 201, 201, 201), {"name": "ci"}
    ),
    "revoke own token": Case(
        "delete", "/api/tokens/{own_token}/", (401, 204, 204, 204, 204, 204, 204)
    ),
    # The outsider is an admin of their own project: they read its entries.
    "audit log": Case("get", "/api/audit/", (401, 403, 403, 403, 200, 200, 200)),
    # Schedules: viewers see them, editors manage them (schedules/).
    "list schedules": Case(
        "get", "/api/schedules/", (401, 200, 200, 200, 200, 200, 200)
    ),
    "create schedule": Case(
        "post", "/api/schedules/", (401, 403, 201, 201, 201, 201, 400), _new_schedule
    ),
    "read schedule": Case(
        "get", "/api/schedules/{schedule}/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "change schedule": Case(
        "patch",
        "/api/schedules/{schedule}/",
        (401, 403, 200, 200, 200, 200, 404),
        {"expression": "@daily"},
    ),
    "delete schedule": Case(
        "delete", "/api/schedules/{schedule}/", (401, 403, 204, 204, 204, 204, 404)
    ),
    "pause schedule": Case(
        "post",
        "/api/schedules/{schedule}/pause/",
        (401, 403, 200, 200, 200, 200, 404),
    ),
    "resume schedule": Case(
        "post",
        "/api/schedules/{schedule}/resume/",
        (401, 403, 200, 200, 200, 200, 404),
    ),
    "schedule fires": Case(
        "get",
        "/api/schedules/{schedule}/fires/",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "preview schedule": Case(
        "post",
        "/api/schedules/preview/",
        (401, 200, 200, 200, 200, 200, 200),
        {"expression": "@daily"},
    ),
    "upcoming schedules": Case(
        "get", "/api/schedules/upcoming/", (401, 200, 200, 200, 200, 200, 200)
    ),
    "list schedule backfills": Case(
        "get",
        "/api/schedules/{schedule}/backfills/",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "backfill schedule": Case(
        "post",
        "/api/schedules/{schedule}/backfills/",
        (401, 403, 201, 201, 201, 201, 404),
        _backfill_range,
    ),
    "backfill preview": Case(
        "post",
        "/api/schedules/{schedule}/backfills/preview/",
        (401, 200, 200, 200, 200, 200, 404),
        _backfill_range,
    ),
    "list backfills": Case(
        "get", "/api/backfills/", (401, 200, 200, 200, 200, 200, 200)
    ),
    "read backfill": Case(
        "get", "/api/backfills/{backfill}/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "cancel backfill": Case(
        "post",
        "/api/backfills/{backfill}/cancel/",
        (401, 403, 200, 200, 200, 200, 404),
    ),
    # Notification rules: viewers see them; a project's are its admins', a
    # workflow's its editors' (notifications/).
    "list notification rules": Case(
        "get", "/api/notification-rules/", (401, 200, 200, 200, 200, 200, 200)
    ),
    "create project notification rule": Case(
        "post",
        "/api/notification-rules/",
        (401, 403, 403, 403, 201, 201, 400),
        _project_rule,
    ),
    "create workflow notification rule": Case(
        "post",
        "/api/notification-rules/",
        (401, 403, 201, 201, 201, 201, 400),
        _workflow_rule,
    ),
    "read notification rule": Case(
        "get", "/api/notification-rules/{rule}/", (401, 200, 200, 200, 200, 200, 404)
    ),
    "change notification rule": Case(
        "patch",
        "/api/notification-rules/{rule}/",
        (401, 403, 403, 403, 200, 200, 404),
        {"name": "renamed"},
    ),
    "delete notification rule": Case(
        "delete",
        "/api/notification-rules/{rule}/",
        (401, 403, 403, 403, 204, 204, 404),
    ),
    "test notification rule": Case(
        "post",
        "/api/notification-rules/{rule}/test/",
        (401, 403, 403, 403, 202, 202, 404),
    ),
    "notification deliveries": Case(
        "get",
        "/api/notification-rules/{rule}/deliveries/",
        (401, 200, 200, 200, 200, 200, 404),
    ),
    "schema": Case("get", "/api/schema/", (200, 200, 200, 200, 200, 200, 200)),
    "api docs": Case("get", "/api/docs/", (200, 200, 200, 200, 200, 200, 200)),
    "api root": Case("get", "/api/", (401, 200, 200, 200, 200, 200, 200)),
}

PAGES: dict[str, Case] = {
    "workflow list": Case("get", "/", (302, 200, 200, 200, 200, 200, 200)),
    "project list": Case("get", "/projects/", (302, 200, 200, 200, 200, 200, 200)),
    "create project": Case(
        "post", "/projects/", (302, 403, 403, 403, 403, 302, 403), {"name": "fresh"}
    ),
    "project page": Case(
        "get", "/projects/{project}/", (302, 200, 200, 200, 200, 200, 404)
    ),
    "project settings": Case(
        "post",
        "/projects/{project}/",
        (302, 403, 403, 403, 302, 302, 404),
        {"description": "changed", "namespace": "team-ns"},
    ),
    "add member": Case(
        "post",
        "/projects/{project}/members/",
        (302, 403, 403, 403, 302, 302, 404),
        {"username": "nina", "role": "viewer"},
    ),
    "change member": Case(
        "post",
        "/projects/{project}/members/{target}/",
        (302, 403, 403, 403, 302, 302, 404),
        {"role": "editor"},
    ),
    "remove member": Case(
        "post",
        "/projects/{project}/members/{target}/remove/",
        (302, 403, 403, 403, 302, 302, 404),
    ),
    "add project notification rule": Case(
        "post",
        "/projects/{project}/notifications/",
        (302, 403, 403, 403, 302, 302, 404),
        {
            "name": "all",
            "events": ["run.failed"],
            "channel": "webhook",
            "url": "https://hooks.example.com/x",
        },
    ),
    "add workflow notification rule": Case(
        "post",
        "/projects/{project}/notifications/",
        (302, 403, 302, 302, 302, 302, 404),
        lambda world: {
            "name": "mine",
            "workflow": str(world.workflow.pk),
            "events": ["run.failed"],
            "channel": "webhook",
            "url": "https://hooks.example.com/x",
        },
    ),
    "test notification rule": Case(
        "post",
        "/projects/{project}/notifications/{rule}/test/",
        (302, 403, 403, 403, 302, 302, 404),
    ),
    "delete notification rule": Case(
        "post",
        "/projects/{project}/notifications/{rule}/delete/",
        (302, 403, 403, 403, 302, 302, 404),
    ),
    "define semaphore": Case(
        "post",
        "/projects/{project}/semaphores/",
        (302, 403, 403, 403, 302, 302, 404),
        {"name": "lanes", "limit": "2", "description": ""},
    ),
    "change semaphore": Case(
        "post",
        "/projects/{project}/semaphores/warehouse/",
        (302, 403, 403, 403, 302, 302, 404),
        {"limit": "3"},
    ),
    "delete semaphore": Case(
        "post",
        "/projects/{project}/semaphores/warehouse/delete/",
        (302, 403, 403, 403, 302, 302, 404),
    ),
    "new workflow form": Case(
        "get", "/workflows/new/", (302, 403, 200, 200, 200, 200, 200)
    ),
    # The outsider may create workflows, but not in a project they cannot see.
    "create workflow": Case(
        "post", "/workflows/new/", (302, 403, 302, 302, 302, 302, 400), _new_workflow
    ),
    "new workflow editor": Case(
        "get", "/workflows/new/editor/", (302, 403, 200, 200, 200, 200, 200)
    ),
    # A viewer gets it read-only (tests/workflows/test_editor_pages.py).
    "workflow editor": Case(
        "get", "/workflows/{workflow}/editor/", (302, 200, 200, 200, 200, 200, 404)
    ),
    "workflow page": Case(
        "get", "/workflows/{workflow}/", (302, 200, 200, 200, 200, 200, 404)
    ),
    "version page": Case(
        "get", "/workflows/{workflow}/versions/1/", (302, 200, 200, 200, 200, 200, 404)
    ),
    "edit form": Case(
        "get", "/workflows/{workflow}/edit/", (302, 403, 200, 200, 200, 200, 404)
    ),
    "edit workflow": Case(
        "post",
        "/workflows/{workflow}/edit/",
        (302, 403, 302, 302, 302, 302, 404),
        _edited,
    ),
    "run workflow": Case(
        "post", "/workflows/{workflow}/run/", (302, 403, 403, 302, 302, 302, 404)
    ),
    "run list": Case("get", "/runs/", (302, 200, 200, 200, 200, 200, 200)),
    "run page": Case("get", "/runs/{run}/", (302, 200, 200, 200, 200, 200, 404)),
    "cancel run": Case(
        "post", "/runs/{run}/cancel/", (302, 403, 403, 302, 302, 302, 404)
    ),
    "retry run": Case(
        "post", "/runs/{run}/retry/", (302, 403, 403, 302, 302, 302, 404)
    ),
    "resubmit run": Case(
        "post", "/runs/{run}/resubmit/", (302, 403, 403, 302, 302, 302, 404)
    ),
    "retry task": Case(
        "post", "/runs/{run}/tasks/a/retry/", (302, 403, 403, 302, 302, 302, 404)
    ),
    "task logs": Case(
        "get", "/runs/{run}/tasks/a/logs/", (302, 200, 200, 200, 200, 200, 404)
    ),
    "raw log": Case(
        "get", "/runs/{run}/tasks/a/logs/raw/", (302, 200, 200, 200, 200, 200, 404)
    ),
    "token page": Case("get", "/account/tokens/", (302, 200, 200, 200, 200, 200, 200)),
    "create token": Case(
        "post", "/account/tokens/", (302, 200, 200, 200, 200, 200, 200), {"name": "ci"}
    ),
    "revoke token": Case(
        "post",
        "/account/tokens/{own_token}/revoke/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    "password page": Case(
        "get", "/account/password/", (302, 200, 200, 200, 200, 200, 200)
    ),
    "password changed page": Case(
        "get", "/account/password/done/", (302, 200, 200, 200, 200, 200, 200)
    ),
    "user list": Case("get", "/users/", (302, 403, 403, 403, 403, 200, 403)),
    "new user form": Case("get", "/users/new/", (302, 403, 403, 403, 403, 200, 403)),
    "create user": Case(
        "post",
        "/users/new/",
        (302, 403, 403, 403, 403, 302, 403),
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    ),
    "user page": Case("get", "/users/{target}/", (302, 403, 403, 403, 403, 200, 403)),
    "change user": Case(
        "post",
        "/users/{target}/",
        (302, 403, 403, 403, 403, 302, 403),
        {"email": "tess@example.com"},
    ),
    "deactivate user": Case(
        "post",
        "/users/{target}/active/",
        (302, 403, 403, 403, 403, 302, 403),
        {"active": "false"},
    ),
    "reset password": Case(
        "post",
        "/users/{target}/password/",
        (302, 403, 403, 403, 403, 302, 403),
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    ),
    "assign project": Case(
        "post",
        "/users/{target}/projects/",
        (302, 403, 403, 403, 403, 302, 403),
        _membership,
    ),
    "audit page": Case("get", "/audit/", (302, 403, 403, 403, 200, 200, 200)),
    "upcoming runs": Case("get", "/schedules/", (302, 200, 200, 200, 200, 200, 200)),
    "schedule preview": Case(
        "get",
        "/schedules/preview/",
        (302, 200, 200, 200, 200, 200, 200),
        SCHEDULE_FORM,
    ),
    "new schedule form": Case(
        "get",
        "/workflows/{workflow}/schedules/new/",
        (302, 403, 200, 200, 200, 200, 404),
    ),
    "create schedule": Case(
        "post",
        "/workflows/{workflow}/schedules/new/",
        (302, 403, 302, 302, 302, 302, 404),
        SCHEDULE_FORM,
    ),
    "schedule page": Case(
        "get", "/schedules/{schedule}/", (302, 200, 200, 200, 200, 200, 404)
    ),
    "edit schedule form": Case(
        "get", "/schedules/{schedule}/edit/", (302, 403, 200, 200, 200, 200, 404)
    ),
    "edit schedule": Case(
        "post",
        "/schedules/{schedule}/edit/",
        (302, 403, 302, 302, 302, 302, 404),
        SCHEDULE_FORM,
    ),
    "pause schedule": Case(
        "post", "/schedules/{schedule}/pause/", (302, 403, 302, 302, 302, 302, 404)
    ),
    "resume schedule": Case(
        "post", "/schedules/{schedule}/resume/", (302, 403, 302, 302, 302, 302, 404)
    ),
    "delete schedule": Case(
        "post", "/schedules/{schedule}/delete/", (302, 403, 302, 302, 302, 302, 404)
    ),
    "backfill schedule": Case(
        "post",
        "/schedules/{schedule}/backfills/",
        (302, 403, 302, 302, 302, 302, 404),
        _backfill_form,
    ),
    "cancel backfill": Case(
        "post", "/backfills/{backfill}/cancel/", (302, 403, 302, 302, 302, 302, 404)
    ),
    # Django's admin: site administrators only; others are sent to its login.
    "django admin": Case("get", "/admin/", (302, 302, 302, 302, 302, 200, 302)),
}


def _path(case: Case, world: World, user: Any) -> str:
    ids = world.ids()
    if "{schedule}" in case.path or "{backfill}" in case.path:
        ids.update(_schedule_ids(world))
    if "{rule}" in case.path:
        ids.update(_rule_ids(world))
    if "{own_token}" in case.path:
        ids["own_token"] = (
            tokens.issue(user, "mine")[0].pk if user is not None else 999_999
        )
    return case.path.format(**ids)


def _body(case: Case, world: World) -> dict[str, Any] | str | None:
    return case.body(world) if callable(case.body) else case.body


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("name", list(API))
def test_the_api_answers_each_person_as_the_matrix_says(world, name, person):
    case = API[name]
    user = world.users[person]
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    response = getattr(client, case.method)(
        _path(case, world, user), _body(case, world), **case.extra
    )
    expected = case.status_for(person)
    assert response.status_code == expected, (name, person, response.content[:300])
    if expected == 403:
        assert response.json()["detail"], (name, person)


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("name", list(PAGES))
def test_the_pages_answer_each_person_as_the_matrix_says(world, name, person):
    case = PAGES[name]
    user = world.users[person]
    client = Client()
    if user is not None:
        client.force_login(user)
    response = getattr(client, case.method)(
        _path(case, world, user), _body(case, world) or {}
    )
    expected = case.status_for(person)
    assert response.status_code == expected, (name, person, response.content[:300])
    if expected == 302:
        to_login = response["Location"].startswith(("/login/", "/admin/login/"))
        assert to_login == (person == ANON or name == "django admin"), (
            name,
            person,
            response["Location"],
        )


# --- what a 403 says and leaves behind -------------------------------------------


def test_a_403_names_the_role_and_the_role_needed(world):
    client = APIClient()
    client.force_authenticate(world.users[VIEWER])
    response = client.post(f"/api/workflows/{world.workflow.pk}/runs/", {}, "json")
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "your role in project team is viewer; running workflows needs operator"
    )
    client.force_authenticate(world.users[EDITOR])
    response = client.post(f"/api/runs/{world.run.pk}/cancel/")
    assert response.json()["detail"] == (
        "your role in project team is editor; cancelling runs needs operator"
    )
    assert not Run.objects.exclude(pk=world.run.pk).exists()
    world.run.refresh_from_db()
    assert world.run.status == "Pending"


def test_a_403_page_says_why(world):
    client = Client()
    client.force_login(world.users[VIEWER])
    response = client.get(f"/workflows/{world.workflow.pk}/edit/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your role in project team is viewer; editing workflows needs editor" in page


def test_site_only_actions_say_they_need_a_site_administrator(world):
    client = APIClient()
    client.force_authenticate(world.users[PADMIN])
    response = client.post("/api/projects/", {"name": "fresh"}, format="json")
    assert response.json()["detail"] == "creating projects needs a site administrator"


def test_a_staff_member_is_a_site_administrator(world, django_user_model):
    staff = django_user_model.objects.create_user("stan", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    assert client.get(f"/api/workflows/{world.workflow.pk}/").status_code == 200
    assert (
        client.post("/api/projects/", {"name": "x1"}, format="json").status_code == 201
    )


def test_a_refused_change_leaves_everything_as_it_was(world):
    client = APIClient()
    client.force_authenticate(world.users[VIEWER])
    client.put(
        f"/api/workflows/{world.workflow.pk}/", diamond_document(parallelism=9), "json"
    )
    client.delete(f"/api/workflows/{world.spare.pk}/")
    client.patch(
        f"/api/projects/{world.project.pk}/members/{world.target.pk}/",
        {"role": "admin"},
        "json",
    )
    assert world.workflow.versions.count() == 1
    assert Workflow.objects.filter(pk=world.spare.pk).exists()
    assert Membership.objects.get(user=world.target).role == Role.VIEWER


def test_the_lists_show_only_the_projects_you_are_in(world):
    client = APIClient()
    client.force_authenticate(world.users[OUTSIDER])
    theirs = create_workflow(
        diamond_document("theirs"), project=world.other, author=world.users[OUTSIDER]
    )
    assert [w["id"] for w in client.get("/api/workflows/").json()["results"]] == [
        theirs.pk
    ]
    assert client.get("/api/runs/").json()["results"] == []
    assert [p["name"] for p in client.get("/api/projects/").json()["results"]] == [
        "elsewhere"
    ]
    names = [e["project"] for e in client.get("/api/audit/").json()["results"]]
    assert all(project is None or project["name"] == "elsewhere" for project in names)


def test_a_deactivated_member_can_do_nothing(world):
    operator = world.users[OPERATOR]
    operator.is_active = False
    operator.save()
    client = APIClient()
    client.force_authenticate(operator)
    assert client.get(f"/api/workflows/{world.workflow.pk}/").status_code == 404


# --- tokens ---------------------------------------------------------------------


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_acts_with_its_users_roles(world):
    _, key = tokens.issue(world.users[VIEWER], "script")
    client = _token_client(key)
    assert client.get(f"/api/workflows/{world.workflow.pk}/").status_code == 200
    assert client.post(f"/api/runs/{world.run.pk}/cancel/").status_code == 403


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        ("wrong", "Invalid token."),
        ("revoked", "This token has been revoked."),
        ("expired", "This token has expired."),
        ("inactive", "User inactive or deleted."),
    ],
)
def test_a_wrong_revoked_or_expired_token_is_a_401(world, spoil, message):
    user = world.users[OPERATOR]
    token, key = tokens.issue(user, "script")
    if spoil == "wrong":
        key = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    elif spoil == "revoked":
        tokens.revoke(token)
    elif spoil == "expired":
        token.expires_at = timezone.now() - timedelta(seconds=1)
        token.save()
    else:
        user.is_active = False
        user.save()
    client = _token_client(key)
    for method, path in [
        ("get", "/api/workflows/"),
        ("post", f"/api/runs/{world.run.pk}/cancel/"),
        ("get", "/api/tokens/"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 401, (spoil, path)
        assert response.json()["detail"] == message
        assert response["WWW-Authenticate"] == "Token"
    world.run.refresh_from_db()
    assert world.run.status == "Pending"


def test_a_malformed_authorization_header_is_a_401(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token two parts")
    assert client.get("/api/workflows/").status_code == 401


# --- CSRF -------------------------------------------------------------------------


def test_session_writes_to_the_api_need_the_csrf_token(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.users[OPERATOR])
    assert client.get("/api/workflows/").status_code == 200  # reads need none
    refused = [
        client.post(f"/api/runs/{world.run.pk}/cancel/"),
        client.post(f"/api/workflows/{world.workflow.pk}/runs/", {}, format="json"),
        client.post("/api/tokens/", {"name": "x"}, format="json"),
        client.delete(f"/api/workflows/{world.spare.pk}/"),
    ]
    for response in refused:
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
    world.run.refresh_from_db()
    assert world.run.status == "Pending"
    assert Run.objects.count() == 1
    assert Workflow.objects.filter(pk=world.spare.pk).exists()
    # With the cookie's token in the header, the same write goes through.
    client.get("/account/tokens/")
    csrf = client.cookies["csrftoken"].value
    response = client.post(f"/api/runs/{world.run.pk}/cancel/", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200


def test_token_writes_need_no_csrf_token(world):
    _, key = tokens.issue(world.users[OPERATOR], "script")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post(f"/api/runs/{world.run.pk}/cancel/").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/projects/{project}/members/", {"username": "nina", "role": "admin"}),
        ("/account/tokens/", {"name": "x"}),
        ("/users/{target}/password/", {"new_password1": "x", "new_password2": "x"}),
        ("/runs/{run}/cancel/", {}),
    ],
)
def test_page_forms_need_the_csrf_token(world, path, body):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users[SITE])
    response = client.post(path.format(**world.ids()), body)
    assert response.status_code == 403
    assert not Membership.objects.filter(user=world.newcomer).exists()
    world.run.refresh_from_db()
    assert world.run.status == "Pending"
    assert (
        not AuditEntry.objects.filter(outcome="success")
        .exclude(action="login.success")
        .exists()
    )


def test_the_browsable_api_renders_for_a_viewer_and_refuses_their_writes(world):
    client = APIClient()
    client.force_authenticate(world.users[VIEWER])
    for path in (f"/api/workflows/{world.workflow.pk}/", f"/api/runs/{world.run.pk}/"):
        response = client.get(path, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, path
    response = client.delete(
        f"/api/workflows/{world.spare.pk}/", HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 403


# --- the matrix covers every route ---------------------------------------------

# Reachable by anyone on purpose: probes, signing in and out, getting a token.
# /metrics answers a bearer token or an allowed network, not a person
# (tests/observability/test_metrics.py); the empty icon is public, as the
# `data:,` icon of every page is.
PUBLIC_ROUTES = {
    "healthz",
    "readyz",
    "metrics",
    "favicon.ico",
    "login/",
    "login/oidc/",  # single sign-on: tests/accounts/test_oidc.py
    "login/oidc/callback/",
    "logout/",
    "api/auth/token/",
}


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def _bare(route: str) -> str:
    return route.replace("^", "").replace("$", "")


def _any_ids(path: str) -> str:
    names = [name for _, name, _, _ in string.Formatter().parse(path) if name]
    return path.format(**dict.fromkeys(names, 1))


def test_every_route_is_in_the_matrix() -> None:
    """A new endpoint or page without a row here fails: nobody forgets to
    decide who may use it. Django's admin has its own staff checks (one row);
    DRF's `.json`-suffixed twins share their views with the routes covered."""
    routes = {
        _bare(route)
        for route in _routes(get_resolver().url_patterns)
        if not route.startswith("admin/") and "format" not in route
    }
    covered = {
        _bare(resolve(_any_ids(case.path).split("?")[0]).route)
        for case in [*API.values(), *PAGES.values()]
    }
    assert routes - covered - PUBLIC_ROUTES == set()
