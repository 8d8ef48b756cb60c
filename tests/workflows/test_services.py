"""The state machine: runs move only through the services, every move recorded."""

from __future__ import annotations

import pytest

from flowcore.states import AttemptStatus, RunStatus, TaskStatus
from tests.conftest import diamond_document, drive_run, shell_task, workflow_document
from workflows.models import RunEvent
from workflows.services.control import (
    ActionRefused,
    cancel_run,
    retry_from_task,
    retry_run,
)
from workflows.services.submit import create_workflow, submit_run

pytestmark = pytest.mark.django_db(transaction=True)


def statuses(run):
    return dict(run.tasks.values_list("name", "status"))


def test_a_diamond_runs_to_success_in_dependency_order(diamond, user):
    run = drive_run(submit_run(diamond.latest_version, user=user))
    assert run.status == RunStatus.SUCCEEDED
    assert set(statuses(run).values()) == {TaskStatus.SUCCEEDED}
    started = list(
        RunEvent.objects.filter(run=run, kind="task", status="Running").values_list(
            "task", flat=True
        )
    )
    assert started[0] == "a" and started[-1] == "d"


def test_a_failure_skips_downstream_and_fails_the_run(diamond, user):
    run = drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )
    assert run.status == RunStatus.FAILED
    assert statuses(run) == {
        "a": TaskStatus.SUCCEEDED,
        "b": TaskStatus.FAILED,
        "c": TaskStatus.SUCCEEDED,
        "d": TaskStatus.UPSTREAM_FAILED,
    }


def test_retry_keeps_succeeded_tasks_and_reruns_the_failed_branch(diamond, user):
    run = drive_run(
        submit_run(diamond.latest_version, user=user), {"b": AttemptStatus.FAILED}
    )
    assert retry_run(run.pk, user=user) == ["b", "d"]
    run = drive_run(run)
    assert run.status == RunStatus.SUCCEEDED
    assert run.tasks.get(name="a").attempts_count == 1
    assert run.tasks.get(name="b").attempts_count == 2


def test_retrying_a_running_run_is_refused(diamond, user):
    run = submit_run(diamond.latest_version, user=user)
    with pytest.raises(ActionRefused):
        retry_run(run.pk)
    with pytest.raises(ActionRefused):
        retry_from_task(run.pk, "a")


def test_automatic_retries_stop_at_the_limit(user, project):
    doc = workflow_document(
        "flaky",
        [shell_task("x", retry={"limit": 2, "backoff": {"delay": "1s"}})],
    )
    workflow = create_workflow(doc, author=user, project=project)
    run = drive_run(
        submit_run(workflow.latest_version, user=user), {"x": AttemptStatus.FAILED}
    )
    assert run.status == RunStatus.FAILED
    assert run.tasks.get(name="x").attempts_count == 3


def test_cancel_cancels_everything_not_finished(diamond, user):
    from workflows.services.advance import advance_run

    run = submit_run(diamond.latest_version, user=user)
    advance_run(run.pk)
    cancel_run(run.pk, user=user)
    advance_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert set(statuses(run).values()) == {TaskStatus.CANCELLED}


def test_event_sequence_numbers_are_dense_and_ordered(diamond, user):
    run = drive_run(submit_run(diamond.latest_version, user=user))
    seqs = list(run.events.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert run.last_seq == len(seqs)


def test_an_invalid_document_saves_nothing(user, project):
    from flowcore.spec import SpecError
    from workflows.models import Workflow

    doc = diamond_document()
    doc["spec"]["tasks"][0]["dependencies"] = ["d"]
    with pytest.raises(SpecError):
        create_workflow(doc, author=user, project=project)
    assert not Workflow.objects.exists()


def test_a_report_of_another_attempt_with_the_same_id_is_not_recorded(diamond, user):
    """A pod another attempt with this id left (the database reset or restored
    since) reports for the new attempt: its stamp tells it apart. Reports
    with the attempt's own stamp, or none (the local backend's), count."""
    from flowcore.reports import Report, attempt_stamp
    from workflows.models import Attempt
    from workflows.services.advance import advance_run
    from workflows.services.attempts import record_reports

    run = submit_run(diamond.latest_version, user=user)
    advance_run(run.pk)
    attempt = Attempt.objects.get(task_run__run=run)
    old = "2000-01-01T00:00:00+00:00"
    record_reports([Report(attempt.pk, AttemptStatus.SUCCEEDED, attempt_stamp=old)])
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.LAUNCHING
    own = attempt_stamp(attempt.created_at)
    record_reports(
        [Report(attempt.pk, AttemptStatus.RUNNING, handle="ns/p", attempt_stamp=own)]
    )
    record_reports([Report(attempt.pk, AttemptStatus.SUCCEEDED, exit_code=0)])
    attempt.refresh_from_db()
    assert (attempt.status, attempt.handle) == (AttemptStatus.SUCCEEDED, "ns/p")


def test_the_hot_path_reads_whole_rows_as_the_orm_does(diamond, user):
    """rows.read_models (the locked run, the reported attempts and their tasks
    on every transition) builds the models the ORM builds: every field's
    value equal, datetimes aware, JSON decoded, foreign keys as ids."""
    from django.utils import timezone

    from workflows.models import Attempt, Run, TaskRun
    from workflows.services import rows

    run = drive_run(submit_run(diamond.latest_version, user=user))
    Run.objects.filter(pk=run.pk).update(parameters={"greeting": "hi", "n": 1})
    TaskRun.objects.filter(run=run, name="a").update(retry_at=timezone.now())
    attempt = Attempt.objects.filter(task_run__run=run).first()
    assert attempt is not None
    for model, pk in (
        (Run, run.pk),
        (TaskRun, attempt.task_run_id),
        (Attempt, attempt.pk),
    ):
        [lean] = rows.read_models(model, f"{rows.quote('id')} = %s", [pk])
        orm = model.objects.get(pk=pk)
        for field in model._meta.concrete_fields:
            value = getattr(lean, field.attname)
            assert value == getattr(orm, field.attname), field.name
            assert type(value) is type(getattr(orm, field.attname)), field.name
        assert lean._state.adding is False and lean._state.db == orm._state.db
    [lean_run] = rows.read_models(Run, f"{rows.quote('id')} = %s", [run.pk])
    assert lean_run.parameters == {"greeting": "hi", "n": 1}
    assert lean_run.created_at.tzinfo is not None
    assert rows.read_models(Run, f"{rows.quote('id')} = %s", [0]) == []


def test_a_plan_reads_the_same_task_columns_as_the_orm(diamond, user):
    """rows.task_columns (the plan's lean read) converts as values_list does:
    aware datetimes (a timeout compares them with now), None, integers."""
    from django.utils import timezone

    from workflows.models import TaskRun
    from workflows.services import rows

    run = submit_run(diamond.latest_version, user=user)
    now = timezone.now()
    TaskRun.objects.filter(run=run, name="a").update(
        started_at=now, retry_at=now, attempts_count=2
    )
    columns = ("name", "status", "attempts_count", "started_at", "retry_at")
    names = ["a", "b", "nothing-of-that-name"]
    lean = sorted(rows.task_columns(run.pk, names, columns))
    assert lean == sorted(
        TaskRun.objects.filter(run=run, name__in=names).values_list(*columns)
    )
    assert lean[0][:3] == ("a", TaskStatus.PENDING, 2)
    assert lean[0][3] == now and lean[0][3].tzinfo is not None
    assert lean[1][3] is None
