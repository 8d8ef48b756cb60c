"""Control flow for real: conditions, trigger rules, depends and continueOn
through the services and the local backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import shell_task, workflow_document
from tests.workflows.test_outputs import example, quiet_backend, run_to_end  # noqa: F401
from workflows.models import TaskRun
from workflows.services.submit import create_workflow

pytestmark = pytest.mark.django_db(transaction=True)


def statuses(run: Any) -> dict[str, tuple[str, str]]:
    return {
        name: (status, message)
        for name, status, message in TaskRun.objects.filter(run=run).values_list(
            "name", "status", "message"
        )
    }


def test_the_coin_flip_runs_one_side_and_skips_the_other_saying_why(project, user, api):
    workflow = create_workflow(example("coin-flip"), author=user, project=project)
    run = run_to_end(workflow, user)
    assert run.status == "Succeeded"
    tasks = statuses(run)
    side = "heads" if tasks["heads"][0] == "Succeeded" else "tails"
    other = "tails" if side == "heads" else "heads"
    assert tasks[side][0] == "Succeeded"
    assert tasks[other] == (
        "Skipped",
        f"when '{{{{tasks.flip.outputs.result}}}} == {other}' is false "
        f"({side} == {other})",
    )
    assert tasks["report"][0] == "Succeeded"
    body = api.get(f"/api/runs/{run.pk}/").json()
    shown = {t["name"]: (t["status"], t["reason"]) for t in body["tasks"]}
    assert shown[other] == ("Skipped", "Condition")


def test_failure_handlers_run_when_their_rules_say(project, user):
    doc = workflow_document(
        "handlers",
        [
            shell_task("load", "exit 3"),
            shell_task("cleanup", dependencies=["load"], triggerRule="anyFailed"),
            shell_task("celebrate", dependencies=["load"], triggerRule="allSucceeded"),
            shell_task("report", depends="load.Failed && cleanup"),
        ],
    )
    run = run_to_end(create_workflow(doc, author=user, project=project), user)
    assert {n: s for n, (s, _) in statuses(run).items()} == {
        "load": "Failed",
        "cleanup": "Succeeded",
        "celebrate": "UpstreamFailed",
        "report": "Succeeded",
    }
    assert run.status == "Failed"  # load failed, handled or not


def test_continue_on_forgives_a_failure_for_its_dependants_and_the_run(project, user):
    doc = workflow_document(
        "forgiving",
        [
            shell_task("optional", "exit 3", continueOn={"failed": True}),
            shell_task("next", dependencies=["optional"]),
        ],
    )
    run = run_to_end(create_workflow(doc, author=user, project=project), user)
    assert {n: s for n, (s, _) in statuses(run).items()} == {
        "optional": "Failed",
        "next": "Succeeded",
    }
    assert run.status == "Succeeded"


def test_a_condition_on_a_missing_output_skips_and_names_it(project, user):
    doc = workflow_document(
        "unresolved",
        [
            shell_task("a", "echo x", when="{{params.go}} == yes"),
            shell_task(
                "b",
                "echo y",
                dependencies=["a"],
                triggerRule="allDone",
                when="{{tasks.a.outputs.result}} == x",
            ),
        ],
        parameters=[{"name": "go", "default": "no"}],
    )
    run = run_to_end(create_workflow(doc, author=user, project=project), user)
    tasks = statuses(run)
    assert tasks["a"][0] == "Skipped"
    assert tasks["b"] == (
        "Skipped",
        "when '{{tasks.a.outputs.result}} == x': "
        "{{tasks.a.outputs.result}} has no value",
    )


def test_a_map_fans_out_over_a_generated_list_and_sums_it_back(project, user, api):
    workflow = create_workflow(example("map-sum"), author=user, project=project)
    run = run_to_end(workflow, user, timeout=60)
    assert run.status == "Succeeded", statuses(run)
    tasks = TaskRun.objects.filter(run=run)
    instances = tasks.filter(fan_group="square").order_by("fan_index")
    assert [(t.name, t.fan_item, t.status) for t in instances] == [
        (f"square[{i}]", i + 1, "Succeeded") for i in range(6)
    ]
    square = tasks.get(name="square")
    assert (square.status, square.fan_out, square.fan_done, square.fan_failed) == (
        "Succeeded",
        6,
        6,
        0,
    )
    # 1 + 4 + 9 + 16 + 25 + 36
    assert run.outputs["parameters"]["total"]["value"] == "91"
    shown = {t["name"]: t for t in api.get(f"/api/runs/{run.pk}/").json()["tasks"]}
    assert shown["square[2]"]["fan_group"] == "square"
    assert shown["square[2]"]["fan_item"] == 3


def test_a_retry_reruns_only_the_failed_instances(project, user, tmp_path):
    marker = tmp_path / "fixed"
    doc = workflow_document(
        "flaky-map",
        [
            shell_task(
                "each",
                f'test "{{{{item}}}}" != b || test -e {marker}',
                withItems=["a", "b", "c"],
            ),
            shell_task("after", dependencies=["each"]),
        ],
    )
    run = run_to_end(create_workflow(doc, author=user, project=project), user)
    assert run.status == "Failed"
    tasks = statuses(run)
    assert tasks["each[1]"][0] == "Failed"
    assert tasks["each"] == ("Failed", "1 of 3 instances did not succeed")
    assert tasks["after"][0] == "UpstreamFailed"
    marker.touch()
    from k8s_runner import reconcile
    from tests.workflows.test_outputs import wait_for
    from workflows.services.control import retry_run

    rerun = retry_run(run.pk, user=user)
    assert rerun == ["each", "after", "each[1]"]
    reconcile.reconcile(run.pk)
    run = wait_for(run)
    assert run.status == "Succeeded"
    attempts = dict(
        TaskRun.objects.filter(run=run).values_list("name", "attempts_count")
    )
    assert attempts == {"each": 0, "each[0]": 1, "each[1]": 2, "each[2]": 1, "after": 1}


def test_a_fan_out_at_its_limit_does_not_hold_back_the_tasks_queued_behind_it(
    project, user
):
    """The run lets 3 tasks run and `wide` 1 instance: its 7 queued instances
    come first in the queue but cannot start, so they must not fill the
    window of queued tasks a plan reads (3 here) and starve `c`."""
    from flowcore.states import AttemptStatus
    from workflows.models import Attempt
    from workflows.services.advance import advance_run
    from workflows.services.attempts import Report, record_reports
    from workflows.services.submit import submit_run

    doc = workflow_document(
        "clogged",
        [
            shell_task("wide", withSequence={"count": 8}, parallelism=1),
            shell_task("a"),
            shell_task("b"),
            shell_task("c"),
        ],
        parallelism=3,
    )
    workflow = create_workflow(doc, author=user, project=project)
    run = submit_run(workflow.latest_version, user=user)
    first = advance_run(run.pk, backend="local")
    assert [launch.task for launch in first.launch] == ["wide[0]", "a", "b"]
    a = Attempt.objects.get(task_run__run=run, task_run__name="a")
    [after_a] = record_reports([Report(a.pk, AttemptStatus.SUCCEEDED, exit_code=0)])
    assert [launch.task for launch in after_a.launch] == ["c"]
    # And when wide[0] ends, wide[1] takes its slot within the fan-out.
    wide = Attempt.objects.get(task_run__run=run, task_run__name="wide[0]")
    [after_wide] = record_reports(
        [Report(wide.pk, AttemptStatus.SUCCEEDED, exit_code=0)]
    )
    assert [launch.task for launch in after_wide.launch] == ["wide[1]"]
