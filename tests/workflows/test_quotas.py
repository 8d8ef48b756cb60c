"""Project quotas: tasks beyond them wait in Queued with the reason shown, and
start when room frees up, across all the project's runs."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from flowcore.reports import Report
from flowcore.states import AttemptStatus, RunStatus, TaskStatus
from tests.conftest import run_tasks, shell_task, workflow_document
from workflows.models import Attempt, Project, Run, RunEvent, TaskRun, WorkflowVersion
from workflows.services import quotas
from workflows.services.advance import advance_run
from workflows.services.attempts import record_report
from workflows.services.projects import update_project
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def woken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The runs the quota service asked to plan again (instead of the broker)."""
    calls: list[int] = []
    monkeypatch.setattr(
        quotas, "request_reconcile", lambda run_id, at=None: calls.append(run_id)
    )
    return calls


def _workflow(user: Any, project: Project, name: str, tasks: list[dict[str, Any]]):
    return create_workflow(workflow_document(name, tasks), author=user, project=project)


def _cpu_task(name: str, cpu: str) -> dict[str, Any]:
    return shell_task(name, resources={"requests": {"cpu": cpu}})


def _running(project: Project) -> int:
    return TaskRun.objects.filter(
        run__workflow__project=project, status=TaskStatus.RUNNING
    ).count()


def _finish(task: TaskRun, status: AttemptStatus = AttemptStatus.SUCCEEDED) -> Any:
    attempt = Attempt.objects.get(task_run=task, number=task.attempts_count)
    record_report(Report(attempt.pk, AttemptStatus.RUNNING, handle="fake"))
    return record_report(Report(attempt.pk, status, exit_code=0))


def test_two_runs_never_run_more_tasks_than_the_project_quota(
    user: Any, project: Project, woken: list[int]
) -> None:
    update_project(project, max_running_tasks=2)
    tasks = [shell_task(name) for name in ("a", "b", "c")]
    workflow = _workflow(user, project, "wide", tasks)
    runs = [submit_run(workflow.latest_version, user=user) for _ in range(2)]
    for run in runs:
        advance_run(run.pk)
    assert _running(project) == 2
    peak = 2
    for _ in range(20):
        running = TaskRun.objects.filter(
            run__in=runs, status=TaskStatus.RUNNING
        ).first()
        if running is None:
            break
        _finish(running)
        for run_id in set(woken):
            advance_run(run_id)
        woken.clear()
        peak = max(peak, _running(project))
        assert _running(project) <= 2
    for run in runs:
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
    assert peak == 2


def test_a_waiting_task_says_why_in_the_api_and_on_the_run_page(
    user: Any, project: Project, api: Any, client: Any
) -> None:
    update_project(project, max_running_tasks=1)
    workflow = _workflow(user, project, "pair", [shell_task("a"), shell_task("b")])
    run = submit_run(workflow.latest_version, user=user)
    advance_run(run.pk)
    waiting = TaskRun.objects.get(run=run, name="b")
    message = "waiting for project quota: 1 of 1 running tasks in use"
    assert (waiting.status, waiting.reason, waiting.message) == (
        TaskStatus.QUEUED,
        "Quota",
        message,
    )
    task = next(t for t in run_tasks(api, run.pk) if t["name"] == "b")
    assert (task["reason"], task["message"]) == ("Quota", message)
    client.force_login(user)
    page = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert "Quota" in page and message in page


def test_the_reason_is_recorded_once_not_at_every_plan(
    user: Any, project: Project
) -> None:
    update_project(project, max_running_tasks=1)
    workflow = _workflow(user, project, "pair", [shell_task("a"), shell_task("b")])
    run = submit_run(workflow.latest_version, user=user)
    for _ in range(3):
        advance_run(run.pk)
    events = RunEvent.objects.filter(run=run, task="b", data__reason="Quota")
    assert events.count() == 1


def test_a_cpu_quota_holds_back_a_big_task_while_small_ones_run(
    user: Any, project: Project, woken: list[int]
) -> None:
    update_project(project, max_cpu="2")
    small = _workflow(
        user, project, "small", [_cpu_task("s1", "500m"), _cpu_task("s2", "1")]
    )
    big = _workflow(user, project, "big", [_cpu_task("huge", "2")])
    small_run = submit_run(small.latest_version, user=user)
    big_run = submit_run(big.latest_version, user=user)
    advance_run(small_run.pk)
    advance_run(big_run.pk)
    huge = TaskRun.objects.get(run=big_run, name="huge")
    assert huge.status == TaskStatus.QUEUED
    assert huge.message == "waiting for project quota: needs 2 CPU; 0.5 of 2 free"
    assert _running(project) == 2

    _finish(TaskRun.objects.get(run=small_run, name="s1"))
    assert woken == [big_run.pk]
    advance_run(big_run.pk)
    huge.refresh_from_db()
    assert huge.status == TaskStatus.QUEUED
    assert huge.message == "waiting for project quota: needs 2 CPU; 1 of 2 free"

    woken.clear()
    _finish(TaskRun.objects.get(run=small_run, name="s2"))
    assert woken == [big_run.pk]
    advance_run(big_run.pk)
    huge.refresh_from_db()
    assert (huge.status, huge.reason, huge.message) == (TaskStatus.RUNNING, "", "")


def test_when_a_task_ends_the_waiting_one_in_the_same_run_starts(
    user: Any, project: Project
) -> None:
    update_project(project, max_running_tasks=1)
    workflow = _workflow(user, project, "pair", [shell_task("a"), shell_task("b")])
    run = submit_run(workflow.latest_version, user=user)
    advance_run(run.pk)
    result = _finish(TaskRun.objects.get(run=run, name="a"))
    assert [launch.task for launch in result.launch] == ["b"]
    assert TaskRun.objects.get(run=run, name="b").status == TaskStatus.RUNNING


def test_raising_the_quota_wakes_the_waiting_runs(
    user: Any, project: Project, woken: list[int]
) -> None:
    update_project(project, max_running_tasks=1)
    workflow = _workflow(user, project, "pair", [shell_task("a"), shell_task("b")])
    run = submit_run(workflow.latest_version, user=user)
    advance_run(run.pk)
    update_project(project, max_running_tasks=None)
    assert woken == [run.pk]
    assert Run.objects.get(pk=run.pk).quota_project_id is None
    launched = advance_run(run.pk).launch
    assert [launch.task for launch in launched] == ["b"]


def test_the_submit_records_each_task_s_requests_in_integers(
    user: Any, project: Project
) -> None:
    task = shell_task("t", resources={"requests": {"cpu": "250m", "memory": "1Gi"}})
    workflow = _workflow(user, project, "one", [task, shell_task("u")])
    run = submit_run(workflow.latest_version, user=user)
    assert dict(
        run.tasks.values_list("name", "cpu_request_milli", "memory_request_bytes")
        .order_by("name")
        .values_list("name", "cpu_request_milli")
    ) == {"t": 250, "u": 0}
    assert run.tasks.get(name="t").memory_request_bytes == 2**30


def test_a_version_stored_before_quantities_had_a_maximum_still_submits(
    user: Any, project: Project
) -> None:
    # It used to fail with a 500: 1e100 CPUs do not fit TaskRun's 64-bit columns.
    workflow = _workflow(user, project, "old", [shell_task("t")])
    version = workflow.latest_version
    huge = {"cpu": "1e100", "memory": "99999999999999999999Ei"}
    stored = workflow_document("old", [shell_task("t", resources={"requests": huge})])
    WorkflowVersion.objects.filter(pk=version.pk).update(document=stored)
    version.refresh_from_db()
    run = submit_run(version, user=user)
    assert run.tasks.values_list("cpu_request_milli", "memory_request_bytes").get() == (
        10**8,
        2**60,
    )


def test_without_a_quota_planning_runs_no_quota_query(
    user: Any, project: Project
) -> None:
    workflow = _workflow(user, project, "pair", [shell_task("a"), shell_task("b")])
    run = submit_run(workflow.latest_version, user=user)
    with CaptureQueriesContext(connection) as plain:
        advance_run(run.pk)
    assert not any("max_running_tasks" in q["sql"] for q in plain.captured_queries)

    update_project(project, max_running_tasks=5)
    other = submit_run(workflow.latest_version, user=user)
    with CaptureQueriesContext(connection) as quota:
        advance_run(other.pk)
    usage = [q for q in quota.captured_queries if "max_running_tasks" in q["sql"]]
    assert len(usage) == 1


def test_a_project_admin_sets_quotas_through_the_api(
    api: Any, project: Project
) -> None:
    url = f"/api/projects/{project.pk}/"
    response = api.patch(
        url,
        {"max_running_tasks": 8, "max_cpu": "4", "max_memory": "8Gi"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["max_cpu"], response.json()["max_memory"]) == ("4", "8Gi")
    project.refresh_from_db()
    assert (project.max_running_tasks, project.max_cpu, project.max_memory) == (
        8,
        "4",
        "8Gi",
    )
    bad = api.patch(url, {"max_cpu": "lots", "max_running_tasks": 0}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()) == {"max_cpu", "max_running_tasks"}
    cleared = api.patch(url, {"max_cpu": None, "max_memory": ""}, format="json")
    assert cleared.json()["max_cpu"] is None and cleared.json()["max_memory"] is None
    project.refresh_from_db()
    assert project.max_running_tasks == 8 and not project.max_cpu


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_running_tasks", 2**63, "less than or equal to 1000000"),
        ("max_running_tasks", 1_000_001, "less than or equal to 1000000"),
        ("max_cpu", "1e999", "must be from 1m to 1000000 (CPUs)"),
        ("max_cpu", "1000001", "must be from 1m to 1000000 (CPUs)"),
        ("max_cpu", "0.0001", "must be from 1m to 1000000 (CPUs)"),
        ("max_memory", "1e999", "must be from 1 (byte) to 1Ei"),
        ("max_memory", "2Ei", "must be from 1 (byte) to 1Ei"),
    ],
)
def test_a_quota_out_of_its_range_is_a_400_naming_it_and_changes_nothing(
    api: Any, project: Project, field: str, value: Any, message: str
) -> None:
    api.raise_request_exception = False  # a 500 is an answer to assert on
    response = api.patch(f"/api/projects/{project.pk}/", {field: value}, format="json")
    assert response.status_code == 400
    assert message in response.json()[field][0]
    project.refresh_from_db()
    assert not project.has_quota


def test_the_largest_quotas_are_accepted(api: Any, project: Project) -> None:
    largest = {"max_running_tasks": 1_000_000, "max_cpu": "1M", "max_memory": "1Ei"}
    response = api.patch(f"/api/projects/{project.pk}/", largest, format="json")
    assert response.status_code == 200, response.json()
    smallest = {"max_running_tasks": 1, "max_cpu": "1m", "max_memory": "1"}
    response = api.patch(f"/api/projects/{project.pk}/", smallest, format="json")
    assert response.status_code == 200, response.json()


def test_the_project_page_holds_quotas_to_the_same_ranges(
    client: Any, user: Any, project: Project
) -> None:
    client.force_login(user)
    url = reverse("project-detail", args=[project.pk])
    body = {"description": "", "namespace": "team"}
    for field, value in (
        ("max_running_tasks", str(2**63)),
        ("max_cpu", "1e999"),
        ("max_memory", "2Ei"),
    ):
        response = client.post(url, {**body, field: value})
        assert response.status_code == 400, field
    project.refresh_from_db()
    assert not project.has_quota


def test_a_project_admin_sets_quotas_on_the_project_page(
    client: Any, user: Any, project: Project
) -> None:
    client.force_login(user)
    url = reverse("project-detail", args=[project.pk])
    body = {"description": "", "namespace": "team", "max_running_tasks": "3"}
    response = client.post(url, {**body, "max_cpu": "2", "max_memory": "nonsense"})
    assert response.status_code == 400
    response = client.post(url, {**body, "max_cpu": "2", "max_memory": "1Gi"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.max_running_tasks, project.max_cpu, project.max_memory) == (
        3,
        "2",
        "1Gi",
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
def test_runs_planned_at_the_same_instant_share_the_quota(
    user: Any, project: Project, woken: list[int]
) -> None:
    import threading

    update_project(project, max_running_tasks=2)
    workflow = _workflow(user, project, "racers", [shell_task("a"), shell_task("b")])
    for _ in range(5):
        runs = [submit_run(workflow.latest_version, user=user) for _ in range(2)]
        barrier = threading.Barrier(len(runs))
        errors: list[BaseException] = []

        def plan(
            run_id: int,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                barrier.wait()
                advance_run(run_id)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=plan, args=(r.pk,)) for r in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert _running(project) <= 2
        Run.objects.filter(pk__in=[r.pk for r in runs]).delete()
