"""Control flow in the spec: when, depends, triggerRule and continueOn are
validated with paths and positions, and build into the task; so do the
concurrency fields (maxActiveRuns, synchronization)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.spec import Synchronization, parse_spec, validate


def task(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["true"], **extra}


def document(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "flow"},
        "spec": {
            "parameters": [{"name": "env", "default": "dev"}],
            "tasks": [
                task(
                    "tests",
                    outputs={
                        "parameters": [
                            {
                                "name": "verdict",
                                "valueFrom": {"path": "/flowdeck/outputs/v"},
                            }
                        ]
                    },
                ),
                *tasks,
            ],
        },
    }


def errors_of(*tasks: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in validate(document(*tasks))]


def test_control_flow_fields_build_into_the_task() -> None:
    spec = parse_spec(
        document(
            task(
                "deploy",
                dependencies=["tests"],
                when="{{tasks.tests.outputs.result}} == ok && {{params.env}} != dev",
                triggerRule="noneFailed",
                continueOn={"failed": True},
            ),
            task("report", depends="tests.Failed || deploy"),
        )
    )
    _, deploy, report = spec.tasks
    assert deploy.trigger_rule == "noneFailed"
    assert deploy.continue_on == frozenset({"Failed"})
    assert deploy.when.startswith("{{tasks.tests")
    # depends names its tasks: they become the dependencies.
    assert report.dependencies == ("tests", "deploy")


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        (
            {"dependencies": ["tests"], "when": "{{tasks.tests.outputs.result}} =="},
            "spec.tasks[1].when",
            "'{{tasks.tests.outputs.result}} ==': position 34: expected a value "
            "after '==', found the end",
        ),
        (
            {"when": "{{tasks.tests.outputs.result}} == ok"},
            "spec.tasks[1].when",
            "'{{tasks.tests.outputs.result}} == ok': position 1: "
            "{{tasks.tests.outputs.result}}: task 'tests' is not upstream of 'deploy': "
            "add it to 'deploy''s dependencies (or to an upstream's)",
        ),
        (
            {"dependencies": ["tests"], "when": "{{params.region}} == eu"},
            "spec.tasks[1].when",
            "'{{params.region}} == eu': position 1: {{params.region}}: refers to "
            "unknown parameter 'region'",
        ),
        (
            {
                "dependencies": ["tests"],
                "when": "{{tasks.tests.outputs.parameters.x}} == 1",
            },
            "spec.tasks[1].when",
            "'{{tasks.tests.outputs.parameters.x}} == 1': position 1: "
            "{{tasks.tests.outputs.parameters.x}}: task 'tests' declares no output "
            "parameter 'x'",
        ),
        (
            {"depends": "tests.Finished"},
            "spec.tasks[1].depends",
            "'tests.Finished': position 1: 'tests.Finished': a task's result is one of "
            "Succeeded, Failed, Errored, Skipped, Omitted, Cancelled",
        ),
        (
            {"depends": "tests && nowhere"},
            "spec.tasks[1].depends",
            "'tests && nowhere': position 10: unknown task 'nowhere'",
        ),
        (
            {"depends": "tests", "dependencies": ["tests"]},
            "spec.tasks[1].depends",
            "set depends or dependencies, not both (depends names its tasks)",
        ),
        (
            {"triggerRule": "anyFailed"},
            "spec.tasks[1].triggerRule",
            "a trigger rule needs upstream tasks (dependencies or depends)",
        ),
        (
            {"dependencies": ["tests"], "triggerRule": "oneSuccess"},
            "spec.tasks[1].triggerRule",
            "must be one of allSucceeded, allDone, anyFailed, anySucceeded, "
            "noneFailed, allFailed",
        ),
        (
            {"continueOn": {"failed": "yes"}},
            "spec.tasks[1].continueOn.failed",
            "must be true or false",
        ),
    ],
)
def test_control_flow_mistakes_name_the_field_and_the_position(extra, path, message):
    assert errors_of(task("deploy", **extra)) == [(path, message)]


def test_a_cycle_through_depends_is_reported_at_depends() -> None:
    errors = errors_of(
        task("a", depends="b.Succeeded"), task("b", depends="a || tests")
    )
    assert errors == [("spec.tasks[2].depends", "dependency cycle: b -> a -> b")]


# --- concurrency: maxActiveRuns and synchronization ---------------------------


def with_spec(*tasks: dict[str, Any], **spec: Any) -> dict[str, Any]:
    doc = document(*tasks)
    doc["spec"].update(spec)
    return doc


def test_concurrency_fields_build_into_the_spec_and_its_tasks() -> None:
    spec = parse_spec(
        with_spec(
            task("load", synchronization={"semaphore": "warehouse"}),
            task("index", synchronization={"mutex": "search", "semaphore": None}),
            maxActiveRuns=2,
            synchronization={"mutex": "nightly"},
        )
    )
    assert spec.max_active_runs == 2
    assert spec.synchronization == Synchronization("mutex", "nightly")
    tests, load, index = spec.tasks
    assert tests.synchronization is None
    assert load.synchronization == Synchronization("semaphore", "warehouse")
    assert index.synchronization == Synchronization("mutex", "search")
    assert str(load.synchronization) == "semaphore warehouse"


def test_without_them_nothing_is_limited() -> None:
    spec = parse_spec(document())
    assert (spec.max_active_runs, spec.synchronization) == (None, None)


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"maxActiveRuns": 0}, "spec.maxActiveRuns", "must be between 1 and 10000"),
        (
            {"maxActiveRuns": 10001},
            "spec.maxActiveRuns",
            "must be between 1 and 10000",
        ),
        ({"maxActiveRuns": "2"}, "spec.maxActiveRuns", "must be an integer"),
        ({"maxActiveRuns": True}, "spec.maxActiveRuns", "must be an integer"),
        (
            {"synchronization": {}},
            "spec.synchronization",
            "must set exactly one of semaphore or mutex",
        ),
        (
            {"synchronization": {"semaphore": "a", "mutex": "b"}},
            "spec.synchronization",
            "must set exactly one of semaphore or mutex",
        ),
        (
            {"synchronization": {"semaphore": "Warehouse"}},
            "spec.synchronization.semaphore",
            "must be lowercase letters, digits and '-', starting and ending with "
            "a letter or digit",
        ),
        (
            {"synchronization": {"lock": "x"}},
            "spec.synchronization.lock",
            "unknown field 'lock'",
        ),
        ({"synchronization": "warehouse"}, "spec.synchronization", "must be a mapping"),
    ],
)
def test_concurrency_mistakes_name_the_field(spec, path, message) -> None:
    errors = [(e.path, e.message) for e in validate(with_spec(**spec))]
    assert (path, message) in errors, errors


def test_a_task_names_its_semaphore_with_the_same_rules() -> None:
    errors = errors_of(task("load", synchronization={"mutex": ""}))
    assert errors == [("spec.tasks[1].synchronization.mutex", "must not be empty")]


def test_a_task_cannot_take_what_its_whole_run_holds() -> None:
    # It would wait for ever for a slot its own run holds.
    doc = with_spec(
        task("load", synchronization={"mutex": "warehouse"}),
        task("copy", synchronization={"semaphore": "warehouse"}),
        synchronization={"mutex": "warehouse"},
    )
    assert [(e.path, e.message) for e in validate(doc)] == [
        (
            "spec.tasks[1].synchronization",
            "the whole run holds mutex warehouse while it runs "
            "(spec.synchronization): a task of it cannot take it again",
        )
    ]
