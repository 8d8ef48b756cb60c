"""A Kubernetes attempt's live log and its pod's Events, as the task logs page
and the API show them, against the real test cluster (k8s_runner/logs.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.urls import reverse
from kubernetes import client
from rest_framework.test import APIClient

from flowcore.states import AttemptStatus
from k8s_runner import reconcile
from tests.conftest import shell_task, workflow_document
from tests.k8s_runner.flowdeck_kube import Flowdeck, wait_until
from tests.k8s_runner.kubelet_behaviours import RunUntilDeleted, Waiting
from workflows.models import Attempt, Project, Run
from workflows.services.control import cancel_run
from workflows.services.submit import create_workflow, submit_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def start(flowdeck: Flowdeck, project: Project, user: Any, name: str) -> Run:
    """A one-task run of `project` (whose pods go to the test namespace)."""
    Project.objects.filter(pk=project.pk).update(namespace=flowdeck.namespace)
    workflow = create_workflow(
        workflow_document(name, [shell_task("t")]), author=user, project=project
    )
    run = submit_run(workflow.latest_version, user=user)
    reconcile.reconcile(run.pk)
    return run


def attempt_of(run: Run) -> Attempt:
    return wait_until(
        lambda: Attempt.objects.filter(task_run__run=run).exclude(handle="").first(),
        20,
        "the attempt's pod",
    )


def test_a_running_pod_s_log_is_read_live_by_the_api_and_the_page(
    flowdeck: Flowdeck, kubelet: Any, project: Project, user: Any
) -> None:
    kubelet.script("t", RunUntilDeleted(logs=("first line",)))
    flowdeck.start_watcher()
    run = start(flowdeck, project, user, "live")
    attempt = attempt_of(run)
    wait_until(
        lambda: Attempt.objects.get(pk=attempt.pk).status == AttemptStatus.RUNNING,
        20,
        "the attempt running",
    )
    namespace, name = attempt.handle.split("/")
    kubelet.write_log(namespace, name, "second line")
    api = APIClient()
    api.force_authenticate(user)
    url = f"/api/runs/{run.pk}/tasks/t/logs/"

    def served() -> Any:
        response = api.get(url)
        return response if b"second line" in b"".join(response) else None

    response = wait_until(served, 10, "the live log")
    assert response.status_code == 200
    assert response["X-Flowdeck-Log-Status"] == "live"
    assert b"first line\n" in b"".join(api.get(url))
    page = APIClient()
    page.force_login(user)
    html = page.get(reverse("task-logs", args=[run.pk, "t"])).content.decode()
    assert "first line" in html and "second line" in html
    raw = page.get(reverse("task-log-raw", args=[run.pk, "t"]))
    assert b"second line" in b"".join(raw.streaming_content)
    cancel_run(run.pk, user=user)
    reconcile.reconcile(run.pk)


def test_a_pod_not_started_yet_gives_an_empty_waiting_log(
    flowdeck: Flowdeck, kubelet: Any, project: Project, user: Any
) -> None:
    kubelet.script("t", Waiting(reason="ContainerCreating", message="pulling"))
    run = start(flowdeck, project, user, "slow")
    attempt_of(run)
    api = APIClient()
    api.force_authenticate(user)
    response = api.get(f"/api/runs/{run.pk}/tasks/t/logs/")
    assert response.status_code == 200
    assert b"".join(response) == b""
    assert response["X-Flowdeck-Log-Status"] == "waiting"


def test_the_pod_s_events_are_in_the_api_and_on_the_page(
    flowdeck: Flowdeck,
    kubelet: Any,
    project: Project,
    user: Any,
    other_user: Any,
) -> None:
    kubelet.script("t", Waiting(reason="ErrImagePull", message="no such image"))
    run = start(flowdeck, project, user, "eventful")
    attempt = attempt_of(run)
    namespace, name = attempt.handle.split("/")
    # The simulator plays no scheduler events: write the ones a real one would.
    core = flowdeck.core
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for number, (kind, reason, message, count) in enumerate(
        [
            ("Normal", "Scheduled", f"assigned {namespace}/{name} to node", 1),
            ("Warning", "Failed", "Failed to pull image: no such image", 3),
        ]
    ):
        core.create_namespaced_event(
            namespace,
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(name=f"{name}.{number}"),
                involved_object=client.V1ObjectReference(
                    kind="Pod", name=name, namespace=namespace, api_version="v1"
                ),
                type=kind,
                reason=reason,
                message=message,
                count=count,
                first_timestamp=moment,
                last_timestamp=moment.replace(second=5 + number),
                source=client.V1EventSource(component="default-scheduler"),
            ),
        )
    # An event about another pod is not this attempt's.
    core.create_namespaced_event(
        namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="someone-else.1"),
            involved_object=client.V1ObjectReference(
                kind="Pod", name="someone-else", namespace=namespace
            ),
            reason="Scheduled",
            message="not ours",
        ),
    )
    api = APIClient()
    api.force_authenticate(user)
    url = f"/api/runs/{run.pk}/tasks/t/events/"
    body = api.get(url, {"attempt": 1}).json()
    assert body["attempt"] == 1
    assert [(e["type"], e["reason"], e["count"]) for e in body["events"]] == [
        ("Normal", "Scheduled", 1),
        ("Warning", "Failed", 3),
    ]
    assert body["events"][1]["message"] == "Failed to pull image: no such image"
    assert body["events"][1]["last_time"].startswith("2026-01-02T03:04:06")
    assert api.get(url, {"attempt": 2}).status_code == 404
    outsider = APIClient()
    outsider.force_authenticate(other_user)
    assert outsider.get(url).status_code == 404
    page = APIClient()
    page.force_login(user)
    html = page.get(reverse("task-logs", args=[run.pk, "t"])).content.decode()
    assert "Failed to pull image: no such image" in html and "not ours" not in html
    cancel_run(run.pk, user=user)
    reconcile.reconcile(run.pk)


def test_an_attempt_without_a_pod_has_no_events(api: APIClient, diamond: Any) -> None:
    run = submit_run(diamond.latest_version, user=diamond.owner)
    body = api.get(f"/api/runs/{run.pk}/tasks/a/events/").json()
    assert body == {"attempt": None, "events": None}


def test_a_pods_node_and_manifest_are_shown_for_its_attempt(
    flowdeck: Flowdeck, kubelet: Any, project: Project, user: Any
) -> None:
    from tests.k8s_runner.kubelet_sim import NODE_NAME

    kubelet.script("t", RunUntilDeleted(logs=("up",)))
    flowdeck.start_watcher()
    run = start(flowdeck, project, user, "placed")
    attempt = attempt_of(run)
    wait_until(
        lambda: Attempt.objects.get(pk=attempt.pk).status == AttemptStatus.RUNNING,
        20,
        "the attempt running",
    )
    api = APIClient()
    api.force_authenticate(user)
    body = api.get(f"/api/runs/{run.pk}/tasks/t/request/").json()
    namespace, name = attempt.handle.split("/")
    assert body["node"] == NODE_NAME
    assert body["manifest"]["metadata"] == {
        **body["manifest"]["metadata"],
        "name": name,
        "namespace": namespace,
    }
    cancel_run(run.pk, user=user)
