"""Argo interop in the pure core: the test set of Argo documents converts to
valid Flowdeck workflows with the expected graph and report; exports are
valid Argo (checked with hera's models of Argo's API); Flowdeck → Argo →
Flowdeck gives the same spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hera.workflows import models as argo_models

from flowcore.argo import (
    ArgoError,
    Converted,
    convert_document,
    convert_text,
    export_workflow,
)
from flowcore.spec import parse_spec, validate
from flowcore.spec_document import parse_document

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "argo"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
ARGO_FILES = sorted(FIXTURES.glob("*.yaml"))
UNSUPPORTED = {"unsupported-resource.yaml", "unsupported-suspend.yaml"}


def converted(name: str) -> Converted:
    [result] = convert_text((FIXTURES / name).read_text())
    return result


def graph(result: Converted) -> dict[str, list[str]]:
    """Each task's dependencies (exit handlers under `exit:`)."""
    spec = result.document["spec"]
    shape = {t["name"]: t.get("dependencies", []) for t in spec["tasks"]}
    shape |= {
        f"exit:{t['name']}": t.get("dependencies", []) for t in spec.get("onExit", ())
    }
    return shape


def task(result: Converted, name: str) -> dict[str, Any]:
    spec = result.document["spec"]
    return next(
        t for t in [*spec["tasks"], *spec.get("onExit", ())] if t["name"] == name
    )


def as_argo_json(model: Any) -> Any:
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True))


def assert_valid_argo(document: dict[str, Any]) -> None:
    """Valid for Argo's own models, with no field they do not know (a field
    they do not know would be dropped from the dump)."""
    model = getattr(argo_models, document["kind"]).model_validate(document)
    assert as_argo_json(model) == json.loads(json.dumps(document))


# --- the test set ----------------------------------------------------------------


@pytest.mark.parametrize("path", ARGO_FILES, ids=lambda p: p.name)
def test_the_test_set_is_valid_argo(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        assert_valid_argo(document)


@pytest.mark.parametrize(
    "path", [p for p in ARGO_FILES if p.name not in UNSUPPORTED], ids=lambda p: p.name
)
def test_each_runnable_file_imports_as_a_valid_workflow_with_no_refusal(
    path: Path,
) -> None:
    for result in convert_text(path.read_text()):
        assert result.refused == []
        parse_spec(result.document)  # raises on any problem


EXPECTED_GRAPHS = {
    "dag-diamond.yaml": {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]},
    "steps.yaml": {"hello1": [], "hello2a": ["hello1"], "hello2b": ["hello1"]},
    "dag-nested.yaml": {
        "first-a": [],
        "first-b": ["first-a"],
        "second-a": ["first-b"],
        "second-b": ["second-a"],
    },
    "continue-on-fail.yaml": {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]},
    "coinflip.yaml": {"flip-coin": [], "heads": ["flip-coin"], "tails": ["flip-coin"]},
    "exit-handlers.yaml": {
        "intentional-fail": [],
        "exit:notify": [],
        "exit:celebrate": [],
        "exit:cry": [],
    },
    "output-parameter.yaml": {
        "generate-parameter": [],
        "consume-parameter": ["generate-parameter"],
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED_GRAPHS))
def test_dags_and_steps_become_dependencies(name: str) -> None:
    assert graph(converted(name)) == EXPECTED_GRAPHS[name]


def test_a_nested_dag_is_flattened_with_each_call_named_after_its_caller() -> None:
    result = converted("dag-nested.yaml")
    assert task(result, "first-a")["command"] == ["echo", "one A"]
    assert task(result, "second-b")["command"] == ["echo", "two B"]


def test_workflow_parameters_fill_the_entrypoint_inputs() -> None:
    result = converted("parameters.yaml")
    assert result.name == "hello-world-parameters"  # generateName, without its dash
    assert result.document["spec"]["parameters"] == [
        {"name": "message", "default": "hello world"}
    ]
    assert task(result, "print-message")["args"] == ["{{params.message}}"]
    assert result.notes == []


def test_a_parameter_with_a_dash_is_renamed_and_reported() -> None:
    result = converted("conditionals.yaml")
    assert [p["name"] for p in result.document["spec"]["parameters"]] == [
        "should_print"
    ]
    assert task(result, "print-hello")["when"] == "{{params.should_print}} == true"
    assert "when" not in task(result, "always")
    [note] = result.notes
    assert note.path == "spec.arguments.parameters[0].name"
    assert "'should-print' is 'should_print'" in note.message
    assert not note.essential


def test_an_output_parameter_read_elsewhere_is_copied_to_where_flowdeck_reads_it() -> (
    None
):
    result = converted("output-parameter.yaml")
    producer = task(result, "generate-parameter")
    assert producer["outputs"] == {
        "parameters": [
            {
                "name": "hello-param",
                "valueFrom": {
                    "path": "/flowdeck/outputs/hello-param",
                    "default": "Foobar",
                },
            }
        ]
    }
    assert producer["command"][:2] == ["sh", "-c"]
    assert (
        'cp -r "/tmp/hello_world.txt" "/flowdeck/outputs/hello-param"'
        in (producer["command"][2])
    )
    # The original command follows, run by the wrapper as "$@".
    assert producer["command"][3:] == [
        "argo-task",
        "sh",
        "-c",
        "sleep 0.1; echo -n hello world > /tmp/hello_world.txt",
    ]
    assert task(result, "consume-parameter")["args"] == [
        "{{tasks.generate-parameter.outputs.parameters.hello-param}}"
    ]
    assert [n.path for n in result.notes] == ["spec.templates[1].outputs"]


def test_the_coin_flip_conditions_read_the_script_result() -> None:
    result = converted("coinflip.yaml")
    flip = task(result, "flip-coin")
    assert flip["command"][:2] == ["python3", "-c"]
    assert "random.randint(0, 1)" in flip["command"][2]
    assert (
        task(result, "heads")["when"] == "{{tasks.flip-coin.outputs.result}} == heads"
    )
    assert (
        task(result, "tails")["when"] == "{{tasks.flip-coin.outputs.result}} == tails"
    )


def test_loops_become_fan_outs() -> None:
    result = converted("loops.yaml")
    assert task(result, "print-message")["withItems"] == [
        "hello world",
        "goodbye world",
    ]
    assert task(result, "print-message")["args"] == ["{{item}}"]
    assert task(result, "count")["withSequence"] == {"count": 3}
    param = converted("loops-param.yaml")
    assert task(param, "sleep")["withParam"] == "{{tasks.generate.outputs.result}}"
    assert task(param, "sleep")["dependencies"] == ["generate"]


def test_retry_strategy_and_backoff() -> None:
    result = converted("retry-backoff.yaml")
    assert task(result, "retry-backoff")["retry"] == {
        "limit": 3,
        "on": ["Failed", "Error"],
        "backoff": {"delay": "1s", "factor": 2.0, "maxDelay": "30s"},
    }
    [note] = result.notes
    assert note.path == "spec.templates[0].retryStrategy.backoff.maxDuration"


def test_argo_retries_on_failure_by_default() -> None:
    result = convert_document(
        argo_workflow([container("main", retryStrategy={"limit": 2})])
    )
    assert task(result, "main")["retry"] == {"limit": 2, "on": ["Failed"]}


def test_deadlines_become_timeouts() -> None:
    result = converted("timeouts.yaml")
    assert result.document["spec"]["timeout"] == "600s"
    assert task(result, "sleep")["timeout"] == "1s"


def test_an_exit_handler_reads_the_run_status() -> None:
    result = converted("exit-handlers.yaml")
    assert task(result, "notify")["args"] == ["echo send e-mail: {{run.status}}"]
    assert task(result, "celebrate")["when"] == "{{run.status}} == Succeeded"
    assert task(result, "cry")["when"] == "{{run.status}} != Succeeded"


def test_continue_on_failed() -> None:
    assert task(converted("continue-on-fail.yaml"), "c")["continueOn"] == {
        "failed": True
    }


def test_scripts_run_their_source_with_their_interpreter() -> None:
    result = converted("scripts.yaml")
    generate = task(result, "generate")
    assert generate["command"][:2] == ["bash", "-c"]
    assert "od -N2" in generate["command"][2]
    shown = task(result, "print")
    assert shown["command"][:2] == ["python3", "-c"]
    assert 'int("{{tasks.generate.outputs.result}}")' in shown["command"][2]


def test_pod_fields_are_carried_over() -> None:
    main = task(converted("resources-node-selector.yaml"), "main")
    assert main["nodeSelector"] == {"disktype": "ssd"}
    assert main["tolerations"] == [
        {
            "key": "dedicated",
            "operator": "Equal",
            "value": "etl",
            "effect": "NoSchedule",
        }
    ]
    assert main["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "128Mi"},
    }


def test_a_secret_key_ref_is_kept() -> None:
    [env] = task(converted("secrets.yaml"), "print-secret")["env"]
    assert env == {
        "name": "MYSECRETPASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "my-secret", "key": "mypassword"}},
    }


def test_a_workflow_volume_is_declared_on_the_task_that_mounts_it() -> None:
    step = task(converted("volumes-emptydir.yaml"), "volumes-emptydir-example")
    assert step["volumes"] == [{"name": "workdir", "emptyDir": {}}]
    assert step["volumeMounts"] == [{"name": "workdir", "mountPath": "/mnt/vol"}]


def test_a_cron_workflow_gives_a_schedule() -> None:
    result = converted("cron.yaml")
    assert result.kind == "CronWorkflow"
    assert result.schedules == [
        {
            "name": "hello-world",
            "kind": "cron",
            "expression": "*/5 * * * *",
            "timezone": "Europe/Berlin",
            "overlap": "forbid",
            "catch_up": "none",
            "enabled": True,
        }
    ]


def test_the_older_single_schedule_field_and_a_starting_deadline() -> None:
    document = yaml.safe_load((FIXTURES / "cron.yaml").read_text())
    del document["spec"]["schedules"]
    document["spec"] |= {
        "schedule": "0 * * * *",
        "startingDeadlineSeconds": 60,
        "suspend": True,
    }
    result = convert_document(document)
    [schedule] = result.schedules
    assert (schedule["expression"], schedule["catch_up"], schedule["enabled"]) == (
        "0 * * * *",
        "latest",
        False,
    )
    assert [n.path for n in result.notes] == ["spec.startingDeadlineSeconds"]


@pytest.mark.parametrize(
    ("name", "path", "words"),
    [
        (
            "unsupported-resource.yaml",
            "spec.templates[0].resource",
            "resource template",
        ),
        ("unsupported-suspend.yaml", "spec.templates[1].suspend", "suspend template"),
    ],
)
def test_unsupported_templates_are_refused_with_their_path(
    name: str, path: str, words: str
) -> None:
    result = converted(name)
    [refused] = result.refused
    assert refused.path == path
    assert words in refused.message
    assert refused.as_dict() == {
        "path": path,
        "message": refused.message,
        "essential": True,
    }


# --- smaller documents ------------------------------------------------------------


def container(name: str, *command: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "container": {"image": "busybox", "command": list(command) or ["true"]},
        **fields,
    }


def argo_workflow(
    templates: list[dict[str, Any]], entrypoint: str | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {
            "entrypoint": entrypoint or templates[0]["name"],
            "templates": templates,
            **spec,
        },
    }


def dag(name: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "dag": {"tasks": list(tasks)}}


def test_a_template_used_several_times_becomes_several_tasks() -> None:
    result = convert_document(
        argo_workflow(
            [
                dag(
                    "main",
                    {"name": "one", "template": "echo"},
                    {"name": "two", "template": "echo", "dependencies": ["one"]},
                ),
                container("echo", "echo", "hi"),
            ]
        )
    )
    assert graph(result) == {"one": [], "two": ["one"]}


def test_depends_expressions_name_the_flowdeck_tasks_of_nested_calls() -> None:
    result = convert_document(
        argo_workflow(
            [
                dag(
                    "main",
                    {"name": "inner", "template": "pair"},
                    {"name": "after", "template": "leaf", "depends": "inner.Failed"},
                    {"name": "plain", "template": "leaf", "depends": "inner"},
                ),
                dag(
                    "pair",
                    {"name": "x", "template": "leaf"},
                    {"name": "y", "template": "leaf"},
                ),
                container("leaf"),
            ]
        )
    )
    assert task(result, "after")["depends"] == "(inner-x.Failed || inner-y.Failed)"
    assert task(result, "plain")["depends"] == "(inner-x && inner-y)"
    parse_spec(result.document)


def test_steps_outputs_are_referenced_through_the_flowdeck_task() -> None:
    result = convert_document(
        argo_workflow(
            [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "make", "template": "leaf"}],
                        [
                            {
                                "name": "use",
                                "template": "show",
                                "arguments": {
                                    "parameters": [
                                        {
                                            "name": "v",
                                            "value": "{{steps.make.outputs.result}}",
                                        }
                                    ]
                                },
                            }
                        ],
                    ],
                },
                container("leaf", "echo", "7"),
                {
                    "name": "show",
                    "inputs": {"parameters": [{"name": "v"}]},
                    "container": {
                        "image": "busybox",
                        "command": ["echo", "{{inputs.parameters.v}}"],
                    },
                },
            ]
        )
    )
    assert task(result, "use")["command"] == ["echo", "{{tasks.make.outputs.result}}"]
    assert task(result, "use")["dependencies"] == ["make"]


def test_a_task_after_a_conditional_one_runs_when_it_is_skipped_as_in_argo() -> None:
    result = convert_document(
        argo_workflow(
            [
                dag(
                    "main",
                    {"name": "maybe", "template": "leaf", "when": "1 == 2"},
                    {"name": "after", "template": "leaf", "dependencies": ["maybe"]},
                ),
                container("leaf"),
            ]
        )
    )
    assert task(result, "after")["triggerRule"] == "noneFailed"


@pytest.mark.parametrize(
    ("call", "path", "words"),
    [
        (
            {"name": "x", "inline": {"container": {"image": "busybox"}}},
            "spec.templates[0].dag.tasks[0].inline",
            "inline templates",
        ),
        (
            {"name": "x", "template": "nowhere"},
            "spec.templates[0].dag.tasks[0].template",
            "names no template",
        ),
        (
            {"name": "x", "template": "leaf-daemon"},
            "spec.templates[3].daemon",
            "daemon is not carried over",
        ),
    ],
)
def test_what_cannot_run_as_argo_would_is_refused(
    call: dict[str, Any], path: str, words: str
) -> None:
    result = convert_document(
        argo_workflow(
            [
                dag("main", call),
                dag(
                    "pair",
                    {"name": "a", "template": "leaf"},
                    {"name": "b", "template": "leaf"},
                ),
                container("leaf"),
                container("leaf-daemon", daemon=True),
            ]
        )
    )
    assert [(n.path, words in n.message) for n in result.refused] == [(path, True)]


def test_init_containers_and_sidecars_are_carried_over_with_their_volumes() -> None:
    leaf = container(
        "leaf",
        "cat",
        "/work/x",
        volumes=[
            {"name": "work", "emptyDir": {}},
            {"name": "conf", "configMap": {"name": "c"}},
        ],
        initContainers=[
            {
                "name": "fill",
                "image": "alpine",
                "command": ["sh", "-c", "echo {{inputs.parameters.word}} > /w/x"],
                "volumeMounts": [{"name": "work", "mountPath": "/w"}],
            }
        ],
        sidecars=[
            {
                "name": "proxy",
                "image": "envoy",
                "env": [{"name": "A", "value": "b"}],
                "mirrorVolumeMounts": True,
                "volumeMounts": [{"name": "conf", "mountPath": "/etc/envoy"}],
            }
        ],
        inputs={"parameters": [{"name": "word", "value": "hi"}]},
    )
    leaf["container"]["volumeMounts"] = [{"name": "work", "mountPath": "/work"}]
    result = convert_document(argo_workflow([leaf]))
    assert result.refused == [] and result.notes == []
    converted = task(result, "leaf")
    assert converted["initContainers"] == [
        {
            "name": "fill",
            "image": "alpine",
            "command": ["sh", "-c", "echo {{params.word}} > /w/x"],
            "volumeMounts": [{"name": "work", "mountPath": "/w"}],
        }
    ]
    assert converted["sidecars"] == [
        {
            "name": "proxy",
            "image": "envoy",
            "env": [{"name": "A", "value": "b"}],
            "volumeMounts": [
                {"name": "work", "mountPath": "/work"},
                {"name": "conf", "mountPath": "/etc/envoy"},
            ],
        }
    ]
    # A volume only a sidecar mounts is the task's too.
    assert [v["name"] for v in converted["volumes"]] == ["work", "conf"]
    assert validate(result.document) == []
    back = export_workflow(result.document)
    [template] = [t for t in back["spec"]["templates"] if t["name"] == "leaf"]
    assert [c["name"] for c in template["sidecars"]] == ["proxy"]
    assert_valid_argo(back)


def test_harmless_fields_are_reported_but_not_refused() -> None:
    result = convert_document(
        argo_workflow(
            [container("main", metadata={"labels": {"a": "b"}}, memoize={"key": "k"})],
            podGC={"strategy": "OnPodSuccess"},
        )
    )
    assert result.refused == []
    assert {n.path for n in result.notes} == {
        "spec.podGC",
        "spec.templates[0].metadata",
        "spec.templates[0].memoize",
    }


def test_a_pod_spec_patch_gives_what_maps_and_reports_the_rest() -> None:
    patch = (
        '{"nodeSelector": {"pool": "big"}, "hostPID": true, "containers": '
        '[{"name": "main", "resources": {"limits": {"memory": "1Gi"}}}]}'
    )
    result = convert_document(argo_workflow([container("main", podSpecPatch=patch)]))
    main = task(result, "main")
    assert main["nodeSelector"] == {"pool": "big"}
    assert main["resources"] == {"limits": {"memory": "1Gi"}}
    [note] = result.notes
    assert (note.path, "hostPID" in note.message) == (
        "spec.templates[0].podSpecPatch",
        True,
    )


def test_a_workflow_template_takes_its_entrypoint_inputs_as_parameters() -> None:
    template = argo_workflow(
        [
            {
                "name": "main",
                "inputs": {"parameters": [{"name": "who", "default": "world"}]},
                "container": {
                    "image": "busybox",
                    "command": ["echo", "{{inputs.parameters.who}}"],
                },
            }
        ]
    )
    template["kind"] = "WorkflowTemplate"
    result = convert_document(template)
    assert result.document["spec"]["parameters"] == [
        {"name": "who", "default": "world"}
    ]
    assert task(result, "main")["command"] == ["echo", "{{params.who}}"]


def test_a_template_ref_to_another_document_of_the_file_is_a_sub_workflow() -> None:
    text = """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: greet}
spec:
  entrypoint: hello
  templates:
    - name: hello
      inputs: {parameters: [{name: who}]}
      container: {image: busybox, command: [echo, "{{inputs.parameters.who}}"]}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: caller}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - name: call
            templateRef: {name: greet, template: hello}
            arguments: {parameters: [{name: who, value: ada}]}
          - name: other
            templateRef: {name: greet, template: not-the-entrypoint}
"""
    greet, caller = convert_text(text)
    assert greet.document["spec"]["parameters"] == [{"name": "who"}]
    assert task(caller, "call")["workflow"] == {
        "name": "greet",
        "parameters": {"who": "ada"},
    }
    [refused] = caller.refused
    assert (
        refused.path
        == "documents[1].spec.templates[0].dag.tasks[1].templateRef.template"
    )


def test_a_template_ref_outside_the_file_is_a_sub_workflow_the_project_must_have() -> (
    None
):
    result = convert_document(
        argo_workflow(
            [
                dag(
                    "main",
                    {"name": "x", "templateRef": {"name": "lib", "template": "main"}},
                )
            ]
        )
    )
    assert task(result, "x")["workflow"] == {"name": "lib"}
    [note] = result.notes
    assert not note.essential
    assert "must exist in the project" in note.message


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("a: b: c\n", "", "invalid YAML at line 1, column 5"),
        ("a: 1\na: 2\n", "", "duplicate key 'a'"),
        ("", "", "holds no document"),
        ("- 1\n", "", "must be a mapping"),
        ("apiVersion: v1\nkind: Pod\n", "apiVersion", "must be argoproj.io/v1alpha1"),
        ("apiVersion: argoproj.io/v1alpha1\nkind: Sensor\n", "kind", "must be one of"),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
            "spec: {templates: [{name: a}, {name: b}]}\n",
            "spec.entrypoint",
            "is required",
        ),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
            "spec: {entrypoint: c, templates: [{name: a}]}\n",
            "spec.entrypoint",
            "names no template",
        ),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
            "spec: {entrypoint: a, templates: [{name: a}]}\n",
            "metadata.name",
            "is required",
        ),
    ],
)
def test_a_document_that_is_not_an_argo_workflow_is_an_error_naming_where(
    text: str, path: str, words: str
) -> None:
    with pytest.raises(ArgoError) as raised:
        convert_text(text)
    assert raised.value.path == path
    assert words in raised.value.message


def test_an_alias_bomb_is_refused_before_it_is_written_out() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(ArgoError) as raised:
        convert_text("\n".join(lines))
    assert "expands to more than 1000000 values" in raised.value.message


def test_a_second_document_error_names_the_document() -> None:
    text = (FIXTURES / "steps.yaml").read_text() + "\n---\napiVersion: v1\nkind: Pod\n"
    with pytest.raises(ArgoError) as raised:
        convert_text(text)
    assert raised.value.path == "documents[1].apiVersion"


# --- export and round trips ----------------------------------------------------------


def flowdeck_documents() -> list[tuple[str, dict[str, Any]]]:
    documents = [(p.name, parse_document(p.read_text())) for p in EXAMPLES]
    for path in ARGO_FILES:
        if path.name not in UNSUPPORTED:
            for result in convert_text(path.read_text()):
                documents.append((f"argo/{path.name}", result.document))
    return documents


DOCUMENTS = flowdeck_documents()


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
@pytest.mark.parametrize("kind", ["Workflow", "WorkflowTemplate"])
def test_an_export_is_valid_argo(
    name: str, document: dict[str, Any], kind: str
) -> None:
    exported = export_workflow(document, kind=kind)
    assert exported["kind"] == kind
    assert_valid_argo(exported)


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_flowdeck_to_argo_to_flowdeck_gives_the_same_spec(
    name: str, document: dict[str, Any]
) -> None:
    back = convert_document(export_workflow(document))
    assert back.refused == []
    assert parse_spec(back.document) == parse_spec(document)


def test_the_examples_round_trip_without_a_note() -> None:
    """Nothing an export writes needs reporting when it comes back."""
    for path in EXAMPLES:
        back = convert_document(export_workflow(parse_document(path.read_text())))
        # Only a call of another workflow is worth a word: it must be there.
        left = [n for n in back.notes if "as a sub-workflow" not in n.message]
        assert left == [], path.name


def test_an_export_passes_references_to_templates_as_argo_resolves_them() -> None:
    """Argo resolves a task's references where its template is called: the
    dag passes them as arguments, the template reads its inputs."""
    document = parse_document((ROOT / "examples" / "map-sum.yaml").read_text())
    exported = export_workflow(document)
    templates = {t["name"]: t for t in exported["spec"]["templates"]}
    for template in templates.values():
        if "container" in template:
            text = json.dumps(template["container"])
            assert "{{tasks." not in text and "{{item" not in text, template["name"]
    assert templates["main"]["inputs"]["parameters"] == [
        {"name": "count", "default": "6"}
    ]
    [square] = [t for t in templates["main"]["dag"]["tasks"] if t["name"] == "square"]
    assert {"name": "item", "value": "{{item}}"} in square["arguments"]["parameters"]


def test_an_export_keeps_what_argo_has_no_field_for_in_annotations() -> None:
    document = {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {
            "tasks": [
                {"name": "a", "image": "busybox", "command": ["true"]},
                {
                    "name": "b",
                    "image": "busybox",
                    "command": ["echo", "{{item}}"],
                    "dependencies": ["a"],
                    "triggerRule": "allDone",
                    "withItems": [1, 2, 3],
                    "parallelism": 2,
                    "priority": 5,
                },
            ]
        },
    }
    exported = export_workflow(document)
    b = next(t for t in exported["spec"]["templates"] if t["name"] == "b")
    assert b["metadata"]["annotations"] == {
        "flowdeck.io/trigger-rule": "allDone",
        "flowdeck.io/parallelism": "2",
        "flowdeck.io/priority": "5",
    }
    entry = exported["spec"]["templates"][0]["dag"]["tasks"][1]
    assert entry["depends"] == (
        "(a.Succeeded || a.Failed || a.Errored || a.Skipped || a.Omitted)"
    )
    assert entry["arguments"] == {"parameters": [{"name": "item", "value": "{{item}}"}]}
    assert parse_spec(convert_document(exported).document) == parse_spec(document)


def test_every_field_left_out_is_reported_never_dropped_in_silence() -> None:
    template = container("main", schedulerName="fast")
    template["container"]["ports"] = [{"containerPort": 80}]
    result = convert_document(
        argo_workflow(
            [dag("flow", {"name": "x", "template": "main", "retries": 3}), template],
            hostAliases=[{"ip": "10.0.0.1", "hostnames": ["db"]}],
        )
    )
    assert result.refused == []
    assert {(n.path, n.message) for n in result.notes} == {
        ("spec.hostAliases", "not carried over"),
        ("spec.templates[0].dag.tasks[0].retries", "not carried over"),
        ("spec.templates[1].schedulerName", "not carried over"),
        ("spec.templates[1].container.ports", "not carried over"),
    }


def test_a_workflow_that_only_refers_to_a_template_is_refused() -> None:
    document = argo_workflow([container("main")])
    document["spec"] = {
        "workflowTemplateRef": {"name": "shared"},
        "entrypoint": "main",
        "templates": [container("main")],
    }
    [refused] = convert_document(document).refused
    assert refused.path == "spec.workflowTemplateRef"


def test_the_workflows_node_selector_and_tolerations_apply_to_every_task() -> None:
    ssd = {"key": "ssd", "operator": "Exists"}
    gpu = {"key": "gpu", "operator": "Exists"}
    result = convert_document(
        argo_workflow(
            [
                dag(
                    "flow",
                    {"name": "a", "template": "plain"},
                    {"name": "b", "template": "own"},
                ),
                container("plain"),
                container("own", nodeSelector={"pool": "gpu"}, tolerations=[gpu]),
            ],
            nodeSelector={"pool": "general", "zone": "a"},
            tolerations=[ssd],
        )
    )
    assert task(result, "a")["nodeSelector"] == {"pool": "general", "zone": "a"}
    assert task(result, "a")["tolerations"] == [ssd]
    assert task(result, "b")["nodeSelector"] == {"pool": "gpu", "zone": "a"}
    assert task(result, "b")["tolerations"] == [ssd, gpu]


def test_a_loop_over_a_dag_runs_it_as_a_sub_workflow_per_item() -> None:
    parent, made = convert_text((FIXTURES / "loop-over-dag.yaml").read_text())
    assert (made.name, made.generated_from) == ("loop-dag-pair", "pair")
    assert task(parent, "each") == {
        "name": "each",
        "workflow": {
            "name": "loop-dag-pair",
            "parameters": {"who": "{{item}}", "greeting": "{{params.greeting}}"},
        },
        "withItems": ["ada", "grace"],
    }
    # The loop's output is each child's, fanned in.
    assert task(parent, "after")["command"] == [
        "echo",
        "{{tasks.each.outputs.parameters.said}}",
    ]
    assert made.document["spec"]["parameters"] == [
        {"name": "greeting", "default": "hi"},
        {"name": "who"},
    ]
    assert task(made, "first")["command"] == [
        "echo",
        "{{params.greeting}} {{params.who}}",
    ]
    assert made.document["spec"]["outputs"] == {
        "parameters": [{"name": "said", "value": "{{tasks.second.outputs.result}}"}]
    }
    [note] = parent.notes
    assert note.path == "spec.templates[0].dag.tasks[0]"
    assert "runs workflow 'loop-dag-pair'" in note.message
    assert made.notes == []


def test_a_template_looped_over_twice_is_made_once() -> None:
    looped = {"template": "pair", "withItems": [1, 2]}
    [parent, made] = convert_text(
        yaml.safe_dump(
            argo_workflow(
                [
                    dag("main", {"name": "a", **looped}, {"name": "b", **looped}),
                    dag("pair", {"name": "x", "template": "leaf"}),
                    container("leaf"),
                ]
            )
        )
    )
    assert made.name == "w-pair"
    assert (
        task(parent, "a")["workflow"]
        == task(parent, "b")["workflow"]
        == {"name": "w-pair"}
    )


# --- concurrency: synchronization and maxActiveRuns ---------------------------------


def test_semaphores_mutexes_and_max_active_runs_export_and_come_back() -> None:
    document = {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {
            "maxActiveRuns": 2,
            "synchronization": {"mutex": "nightly"},
            "tasks": [
                {
                    "name": "load",
                    "image": "busybox",
                    "command": ["true"],
                    "synchronization": {"semaphore": "warehouse"},
                }
            ],
        },
    }
    exported = export_workflow(document)
    assert_valid_argo(exported)
    assert exported["spec"]["synchronization"] == {"mutexes": [{"name": "nightly"}]}
    load = next(t for t in exported["spec"]["templates"] if t["name"] == "load")
    assert load["synchronization"] == {
        "semaphores": [
            {"configMapKeyRef": {"name": "flowdeck-semaphores", "key": "warehouse"}}
        ]
    }
    assert exported["metadata"]["annotations"] == {"flowdeck.io/max-active-runs": "2"}
    back = convert_document(exported)
    assert (back.refused, back.notes) == ([], [])
    assert parse_spec(back.document) == parse_spec(document)


def test_argo_synchronization_imports_as_one_semaphore_or_mutex() -> None:
    sync = {"semaphores": [{"configMapKeyRef": {"name": "limits", "key": "db"}}]}
    result = convert_document(
        argo_workflow(
            [
                dag(
                    "main",
                    {"name": "a", "template": "write"},
                    {"name": "b", "template": "index"},
                ),
                container("write", synchronization=sync),
                container("index", synchronization={"mutex": {"name": "Search"}}),
            ],
            synchronization={"mutexes": [{"name": "nightly"}]},
        )
    )
    assert result.refused == []
    spec = result.document["spec"]
    assert spec["synchronization"] == {"mutex": "nightly"}
    assert task(result, "a")["synchronization"] == {"semaphore": "db"}
    assert task(result, "b")["synchronization"] == {"mutex": "search"}
    [note] = result.notes
    assert note.path == "spec.templates[1].synchronization"
    assert "its limit is the project's semaphore db" in note.message


def test_two_locks_on_one_template_are_refused_naming_where() -> None:
    both = {
        "mutexes": [{"name": "a"}],
        "semaphores": [
            {"configMapKeyRef": {"name": "flowdeck-semaphores", "key": "b"}}
        ],
    }
    result = convert_document(argo_workflow([container("main", synchronization=both)]))
    assert [(n.path, n.message) for n in result.refused] == [
        (
            "spec.templates[0].synchronization",
            "Flowdeck holds one semaphore or mutex per task or run: only "
            "semaphore b is carried over",
        )
    ]


def test_a_group_s_synchronization_is_the_run_s_at_the_entrypoint_only() -> None:
    lock = {"mutexes": [{"name": "nightly"}]}
    main = {**dag("main", {"name": "a", "template": "pair"}), "synchronization": lock}
    pair = {
        **dag("pair", {"name": "x", "template": "leaf"}),
        "synchronization": {"mutexes": [{"name": "inner"}]},
    }
    result = convert_document(argo_workflow([main, pair, container("leaf")]))
    assert result.document["spec"]["synchronization"] == {"mutex": "nightly"}
    assert [n.path for n in result.refused] == ["spec.templates[1].synchronization"]
    assert "hold it on the workflow or on its tasks" in result.refused[0].message
