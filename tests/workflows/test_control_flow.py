"""Control flow for real: conditions, trigger rules, depends and continueOn
through the services and the local backend."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import run_tasks, shell_task, workflow_document
from tests.workflows.test_outputs import example, quiet_backend, run_to_end  # noqa: F401
from workflows.models import RunEvent, TaskRun
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
    listed = run_tasks(api, run.pk)
    shown = {t["name"]: (t["status"], t["reason"]) for t in listed}
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
    listed = run_tasks(api, run.pk)
    shown = {t["name"]: t for t in listed}
    assert shown["square[2]"]["fan_group"] == "square"
    assert shown["square[2]"]["fan_item"] == 3
    # Each fan-out is followed by its instances in item order, whatever the
    # database does with the fan-out's empty index.
    assert [t["name"] for t in listed] == [
        "generate",
        "square",
        *(f"square[{i}]" for i in range(6)),
        "total",
    ]
    # The live page learns of the instances from the expansion's event alone.
    expanded = RunEvent.objects.get(run=run, task="square", status="Expanded")
    assert expanded.data == {"reason": "Expanded", "fan_out": 6}


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


def test_an_exit_handler_reports_the_runs_failures_and_its_own_fail_changes_nothing(
    project, user
):
    from tests.workflows.test_outputs import log_of

    workflow = create_workflow(example("exit-handler"), author=user, project=project)
    run = run_to_end(workflow, user)
    assert run.status == "Failed"
    tasks = statuses(run)
    assert tasks["report"][0] == "Succeeded"
    line = log_of(run, "report")
    assert line.startswith(
        'the run Failed: failures [{"task": "load", "status": "Failed"'
    )
    # An exit handler that fails leaves a succeeding run green.
    doc = workflow_document(
        "failing-handler",
        [shell_task("a")],
        onExit=[shell_task("notify", "exit 1")],
    )
    run = run_to_end(create_workflow(doc, author=user, project=project), user)
    assert (run.status, statuses(run)["notify"][0]) == ("Succeeded", "Failed")


def test_exit_handler_conditions_read_the_runs_status(project, user):
    handlers = [
        shell_task("celebrate", when="{{run.status}} == Succeeded"),
        shell_task("cry", when="{{run.status}} != Succeeded"),
    ]
    for script, ran, skipped in (
        ("exit 1", "cry", "celebrate"),
        ("true", "celebrate", "cry"),
    ):
        doc = workflow_document(
            f"moods-{ran}", [shell_task("main", script)], onExit=handlers
        )
        run = run_to_end(create_workflow(doc, author=user, project=project), user)
        tasks = statuses(run)
        assert tasks[ran][0] == "Succeeded"
        assert tasks[skipped][0] == "Skipped"
        assert "is false" in tasks[skipped][1]


def test_a_sub_workflow_runs_as_one_step_and_hands_back_its_outputs(project, user, api):
    from tests.workflows.test_outputs import log_of

    create_workflow(example("etl-values"), author=user, project=project)
    parent = create_workflow(example("sub-workflow"), author=user, project=project)
    run = run_to_end(parent, user, timeout=60)
    assert run.status == "Succeeded", statuses(run)
    assert log_of(run, "announce") == "etl loaded [10, 20, 30, 40, 50]\n"
    [child] = run.children.all()
    assert (child.parent_task, child.status, child.depth) == ("etl", "Succeeded", 1)
    assert child.trigger == "subworkflow"
    body = api.get(f"/api/runs/{run.pk}/").json()
    assert body["children"] == [{"id": child.pk, "task": "etl", "status": "Succeeded"}]
    child_body = api.get(f"/api/runs/{child.pk}/").json()
    assert (child_body["parent_run"], child_body["parent_task"]) == (run.pk, "etl")
    outputs = api.get(f"/api/runs/{run.pk}/tasks/etl/outputs/").json()
    assert outputs["parameters"][0]["value"] == "[10, 20, 30, 40, 50]"


def test_cancelling_a_parent_cancels_its_child(project, user):
    from k8s_runner import reconcile
    from tests.workflows.test_outputs import wait_for
    from workflows.services.control import cancel_run
    from workflows.services.submit import submit_run

    slow = workflow_document("slow", [shell_task("wait", "sleep 30")])
    create_workflow(slow, author=user, project=project)
    doc = workflow_document(
        "calls-slow", [{"name": "inner", "workflow": {"name": "slow"}}]
    )
    parent = create_workflow(doc, author=user, project=project)
    run = submit_run(parent.latest_version, user=user)
    reconcile.reconcile(run.pk)
    import time

    deadline = time.monotonic() + 20
    while not run.children.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = run.children.get()
    reconcile.reconcile(child.pk)
    cancel_run(run.pk, user=user)
    reconcile.reconcile(run.pk)
    child = wait_for(child)
    run = wait_for(run)
    assert (run.status, child.status) == ("Cancelled", "Cancelled")


def test_a_sub_workflow_fans_out_one_child_run_per_item(project, user):
    from tests.workflows.test_outputs import log_of

    child = workflow_document(
        "square",
        [shell_task("calc", "echo $(( {{params.n}} * {{params.n}} ))")],
        parameters=[{"name": "n"}],
        outputs={
            "parameters": [{"name": "sq", "value": "{{tasks.calc.outputs.result}}"}]
        },
    )
    create_workflow(child, author=user, project=project)
    parent = workflow_document(
        "squares",
        [
            {
                "name": "each",
                "workflow": {"name": "square", "parameters": {"n": "{{item}}"}},
                "withItems": [2, 3, 4],
                "parallelism": 2,
            },
            shell_task(
                "total",
                "python3 -c 'import json, sys; "
                "print(sum(map(int, json.loads(sys.argv[1]))))'"
                " '{{tasks.each.outputs.parameters.sq}}'",
                dependencies=["each"],
            ),
        ],
    )
    run = run_to_end(
        create_workflow(parent, author=user, project=project), user, timeout=60
    )
    assert run.status == "Succeeded", statuses(run)
    children = {c.parent_task: c for c in run.children.all()}
    assert sorted(children) == ["each[0]", "each[1]", "each[2]"]
    assert [children[f"each[{i}]"].parameters for i in range(3)] == [
        {"n": "2"},
        {"n": "3"},
        {"n": "4"},
    ]
    assert log_of(run, "total") == "29\n"


def test_a_crash_between_a_child_runs_end_and_its_report_loses_and_repeats_nothing(
    project, user, monkeypatch
):
    """The child run's end commits, then its process dies before telling the
    parent (the on-commit report) and sweeps nothing more: the parent's task
    waits on. The next sweep settles it from the child's row, once; the parent
    carries on with the child's outputs and nothing runs twice."""
    from k8s_runner import reconcile
    from tests.workflows.test_outputs import log_of, wait_for
    from workflows.models import Attempt, Run
    from workflows.services import subworkflows
    from workflows.services.submit import submit_run

    create_workflow(example("etl-values"), author=user, project=project)
    parent = create_workflow(example("sub-workflow"), author=user, project=project)
    run = submit_run(parent.latest_version, user=user)
    lost: list[int] = []
    monkeypatch.setattr(subworkflows, "report_child_end", lost.append)
    reconcile.reconcile(run.pk)  # starts etl: the child run, in the same commit
    child = wait_for(Run.objects.get(parent_run=run), timeout=60)
    assert child.status == "Succeeded"
    assert child.pk in lost  # reported, and lost
    etl = Attempt.objects.get(task_run__run=run, task_run__name="etl")
    assert (etl.status, etl.handle) == ("Running", f"run/{child.pk}")
    run.refresh_from_db()
    assert run.status == "Running"

    monkeypatch.undo()  # a live process again
    run = wait_for(run, timeout=60)
    assert run.status == "Succeeded", statuses(run)
    assert subworkflows.settle_children() == 0  # nothing left waiting
    subworkflows.report_child_end(child.pk)  # a repeated report changes nothing
    assert list(run.children.values_list("pk", flat=True)) == [child.pk]
    assert Counter(
        Attempt.objects.filter(task_run__run__in=[run, child]).values_list(
            "task_run__run_id", "task_run__name", "number", "status"
        )
    ) == Counter(
        {
            (run.pk, "etl", 1, "Succeeded"): 1,
            (run.pk, "announce", 1, "Succeeded"): 1,
            **{
                (child.pk, name, 1, "Succeeded"): 1
                for name in child.tasks.values_list("name", flat=True)
            },
        }
    )
    ends = Counter(
        run.events.filter(kind="task", status="Succeeded").values_list(
            "task", flat=True
        )
    )
    assert ends == Counter({"etl": 1, "announce": 1})
    assert log_of(run, "announce") == "etl loaded [10, 20, 30, 40, 50]\n"


def test_a_workflow_that_reaches_itself_through_sub_workflows_is_refused(project, user):
    from flowcore.spec import SpecError

    a = workflow_document("a", [shell_task("t")])
    workflow_a = create_workflow(a, author=user, project=project)
    create_workflow(
        workflow_document("b", [{"name": "call-a", "workflow": {"name": "a"}}]),
        author=user,
        project=project,
    )
    from workflows.services.submit import update_workflow

    a_calls_b = workflow_document("a", [{"name": "call-b", "workflow": {"name": "b"}}])
    with pytest.raises(SpecError) as error:
        update_workflow(workflow_a, a_calls_b, author=user)
    assert [(e.path, e.message) for e in error.value.errors] == [
        (
            "spec.tasks[0].workflow.name",
            "a -> b -> a: a workflow cannot reach itself through its sub-workflows",
        )
    ]
    missing = workflow_document("c", [{"name": "x", "workflow": {"name": "nope"}}])
    with pytest.raises(SpecError) as error:
        create_workflow(missing, author=user, project=project)
    assert error.value.errors[0].message == "project team has no workflow 'nope'"


def test_the_page_without_javascript_lists_instances_under_their_fan_out(
    project, user, client
):
    workflow = create_workflow(example("map-sum"), author=user, project=project)
    run = run_to_end(workflow, user, timeout=60)
    client.force_login(user)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    rows = page[page.index("<h2>Tasks</h2>") : page.index("<h2>Recent events</h2>")]
    order = [rows.index(f'id="task-{name}"') for name in ("square", "square[0]")]
    assert order == sorted(order)
    assert rows.count('class="fan-instance"') == 6
    assert '<code class="fan-item" title="its item">3</code>' in rows
    assert "6 of 6 done" in rows
    # Expanded's reason only repeats its status: not shown as "Expanded: ...".
    assert "<strong>Expanded</strong>" not in rows


def test_the_page_without_javascript_shows_a_skipped_task_with_its_condition(
    project, user, client
):
    workflow = create_workflow(example("coin-flip"), author=user, project=project)
    run = run_to_end(workflow, user)
    skipped = TaskRun.objects.get(run=run, status="Skipped")
    client.force_login(user)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert '<span class="badge status-skipped">Skipped</span>' in page
    why = "<strong>Condition</strong>: when &#x27;{{tasks.flip.outputs.result}}"
    assert why in page
    assert f"== {skipped.name}&#x27; is false" in page


def test_a_sub_workflow_naming_a_namespace_not_its_projects_is_refused(project, user):
    """Its version was saved before namespaces were checked: the parent's
    task ends refused, no child run starts."""
    from workflows.models import Attempt, Workflow, WorkflowVersion

    child = create_workflow(
        workflow_document("child", [shell_task("a")]), author=user, project=project
    )
    foreign = workflow_document("child", [shell_task("a")], namespace="not-ours")
    version = WorkflowVersion.objects.create(
        workflow=child, number=2, document=foreign, author=user
    )
    Workflow.objects.filter(pk=child.pk).update(latest_version=version)
    doc = workflow_document("calls", [{"name": "inner", "workflow": {"name": "child"}}])
    parent = create_workflow(doc, author=user, project=project)
    run = run_to_end(parent, user, timeout=30)
    assert run.status == "Failed", statuses(run)
    assert not run.children.exists()
    attempt = Attempt.objects.get(task_run__run=run, task_run__name="inner")
    assert attempt.reason == "NamespaceRefused"
    assert "'not-ours' is not a namespace of project" in attempt.message


def test_a_sub_workflow_naming_a_service_account_not_its_projects_is_refused(
    project, user
):
    from workflows.models import Attempt, Workflow, WorkflowVersion

    project.default_service_account = "runner"
    project.save(update_fields=["default_service_account"])
    child = create_workflow(
        workflow_document("child", [shell_task("a")]), author=user, project=project
    )
    foreign = workflow_document(
        "child", [shell_task("a", serviceAccountName="cluster-admin")]
    )
    version = WorkflowVersion.objects.create(
        workflow=child, number=2, document=foreign, author=user
    )
    Workflow.objects.filter(pk=child.pk).update(latest_version=version)
    doc = workflow_document("calls", [{"name": "inner", "workflow": {"name": "child"}}])
    parent = create_workflow(doc, author=user, project=project)
    run = run_to_end(parent, user, timeout=30)
    assert run.status == "Failed", statuses(run)
    assert not run.children.exists()
    attempt = Attempt.objects.get(task_run__run=run, task_run__name="inner")
    assert attempt.reason == "ServiceAccountRefused"
    assert "'cluster-admin' is not a service account of project" in attempt.message
