"""Data between tasks in the spec: outputs, input artifacts, references to
upstream outputs and the workflow's outputs; their validation, what the
blueprint learns from them, and their substitution at launch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcore.dataflow import DataFlow
from flowcore.spec import SpecError, parse_spec, render_task, validate
from flowcore.templates import Reference, find_references, parse_reference, render


def task(name: str, script: str = "true", **extra: Any) -> dict[str, Any]:
    return {"name": name, "command": ["sh", "-c", script], **extra}


def document(*tasks: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "data"},
        "spec": {"defaults": {"image": "python:3.11"}, "tasks": list(tasks), **spec},
    }


ROWS = {
    "parameters": [
        {
            "name": "rows",
            "valueFrom": {"path": "/flowdeck/outputs/rows", "default": "[]"},
        },
        {
            "name": "token",
            "valueFrom": {"path": "/flowdeck/outputs/token"},
            "secret": True,
        },
    ],
    "artifacts": [{"name": "data", "path": "/flowdeck/outputs/data.csv"}],
}


def etl(**load_extra: Any) -> dict[str, Any]:
    return document(
        task("extract", "echo [1,2,3]", outputs=copy.deepcopy(ROWS)),
        task(
            "transform",
            "echo {{tasks.extract.outputs.result}}",
            dependencies=["extract"],
            inputs={
                "artifacts": [
                    {
                        "name": "data",
                        "from": "{{tasks.extract.outputs.artifacts.data}}",
                        "path": "/data/in.csv",
                    }
                ]
            },
        ),
        task(
            "load",
            "echo {{ tasks.transform.outputs.result }} "
            "{{tasks.extract.outputs.parameters.rows}}",
            dependencies=["transform"],
            env=[
                {"name": "TOKEN", "value": "{{tasks.extract.outputs.parameters.token}}"}
            ],
            **load_extra,
        ),
        outputs={
            "parameters": [{"name": "total", "value": "{{tasks.load.outputs.result}}"}],
            "artifacts": [
                {"name": "raw", "from": "{{tasks.extract.outputs.artifacts.data}}"}
            ],
        },
    )


def errors_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in validate(doc)]


def test_the_extract_transform_load_shape_is_valid_and_parses() -> None:
    spec = parse_spec(etl())
    extract, transform, load = spec.tasks
    assert [p.name for p in extract.outputs.parameters] == ["rows", "token"]
    assert extract.outputs.parameter("rows").default == "[]"
    assert extract.outputs.parameter("token").secret is True
    assert extract.outputs.artifacts[0].path == "/flowdeck/outputs/data.csv"
    [data] = transform.input_artifacts
    assert (data.task, data.artifact, data.path) == ("extract", "data", "/data/in.csv")
    assert [p.name for p in spec.output_parameters] == ["total"]
    assert (spec.output_artifacts[0].task, spec.output_artifacts[0].artifact) == (
        "extract",
        "data",
    )


def test_the_data_flow_knows_what_each_task_reads_and_whose_result_is_kept() -> None:
    flow = DataFlow.of(parse_spec(etl()))
    assert flow.reads["extract"] == frozenset()
    assert flow.reads["transform"] == {
        Reference("tasks", "extract", "result"),
        Reference("tasks", "extract", "artifacts", "data"),
    }
    assert flow.upstreams_read("load") == {"transform", "extract"}
    # extract's and transform's results are read; load's by the run's outputs.
    assert flow.results == {"extract", "transform", "load"}


def test_a_task_reads_outputs_of_transitive_upstreams() -> None:
    assert errors_of(etl()) == []  # load reads extract through transform


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            lambda d: d["spec"]["tasks"][2]["command"].__setitem__(
                2, "echo {{tasks.nope.outputs.result}}"
            ),
            "spec.tasks[2].command[2]",
            "{{tasks.nope.outputs.result}}: refers to unknown task 'nope'",
        ),
        (
            lambda d: d["spec"]["tasks"][0]["command"].__setitem__(
                2, "echo {{tasks.load.outputs.result}}"
            ),
            "spec.tasks[0].command[2]",
            "{{tasks.load.outputs.result}}: task 'load' is not upstream of "
            "'extract': add it to 'extract''s dependencies (or to an upstream's)",
        ),
        (
            lambda d: d["spec"]["tasks"][1]["command"].__setitem__(
                2, "echo {{tasks.extract.outputs.parameters.columns}}"
            ),
            "spec.tasks[1].command[2]",
            "{{tasks.extract.outputs.parameters.columns}}: task 'extract' declares "
            "no output parameter 'columns'",
        ),
        (
            lambda d: d["spec"]["tasks"][1]["command"].__setitem__(
                2, "cat {{tasks.extract.outputs.artifacts.data}}"
            ),
            "spec.tasks[1].command[2]",
            "{{tasks.extract.outputs.artifacts.data}}: an artifact is passed with "
            "inputs.artifacts, not in a text",
        ),
        (
            lambda d: d["spec"]["tasks"][1]["command"].__setitem__(
                2, "echo {{tasks.extract.outputs.parameters.token}}"
            ),
            "spec.tasks[1].command[2]",
            "{{tasks.extract.outputs.parameters.token}}: a secret output can be "
            "passed in an env value only (where it stays masked)",
        ),
        (
            lambda d: d["spec"]["tasks"][0]["command"].__setitem__(
                2, "echo {{tasks.extract.outputs.result}}"
            ),
            "spec.tasks[0].command[2]",
            "{{tasks.extract.outputs.result}}: a task cannot use its own outputs",
        ),
        (
            lambda d: d["spec"]["tasks"][1]["command"].__setitem__(
                2, "echo {{tasks.extract.outputs.stdout}}"
            ),
            "spec.tasks[1].command[2]",
            "{{tasks.extract.outputs.stdout}}: unknown output 'stdout': a task's "
            "outputs are result, parameters.NAME and artifacts.NAME",
        ),
        (
            lambda d: (
                d["spec"]["tasks"][1]["args"].append("{{tasks.extract}}")
                if "args" in d["spec"]["tasks"][1]
                else d["spec"]["tasks"][1].__setitem__("args", ["{{tasks.extract}}"])
            ),
            "spec.tasks[1].args[0]",
            "{{tasks.extract}}: a task reference is {{tasks.TASK.outputs.result}}, "
            "{{tasks.TASK.outputs.parameters.NAME}}, "
            "{{tasks.TASK.outputs.artifacts.NAME}}, or a daemon's "
            "{{tasks.TASK.ip}} or {{tasks.TASK.service}}",
        ),
        (
            lambda d: d["spec"]["defaults"].__setitem__(
                "image", "repo/{{tasks.extract.outputs.result}}"
            ),
            "spec.defaults.image",
            "{{tasks.extract.outputs.result}}: a task's outputs cannot be used in "
            "spec.defaults",
        ),
        (
            lambda d: d["spec"]["outputs"]["parameters"][0].__setitem__(
                "value", "{{tasks.load.outputs.parameters.sum}}"
            ),
            "spec.outputs.parameters[0].value",
            "{{tasks.load.outputs.parameters.sum}}: task 'load' declares no output "
            "parameter 'sum'",
        ),
    ],
)
def test_a_bad_reference_is_an_error_that_names_both_ends(change, path, message):
    doc = etl()
    change(doc)
    assert errors_of(doc) == [(path, message)]


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (
            ("outputs", "parameters", 0, "valueFrom", "path"),
            "/tmp/rows",
            "must be a file under /flowdeck/outputs/ (the directory every backend "
            "keeps for a task's outputs), without '..' or '//'",
        ),
        (
            ("outputs", "parameters", 0, "valueFrom", "path"),
            "/flowdeck/outputs/../../etc/passwd",
            "must be a file under /flowdeck/outputs/ (the directory every backend "
            "keeps for a task's outputs), without '..' or '//'",
        ),
        (
            ("outputs", "artifacts", 0, "path"),
            "flowdeck/outputs/data.csv",
            "must be an absolute path (starting with '/')",
        ),
        (
            ("outputs", "parameters", 0, "name"),
            "-rows",
            "must be at most 63 letters, digits, '_' and '-', not starting with '-'",
        ),
    ],
)
def test_output_paths_and_names_are_checked(where, value, message):
    doc = etl()
    target = doc["spec"]["tasks"][0]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    path = "spec.tasks[0]." + ".".join(
        f"{k}" if isinstance(k, str) else f"[{k}]" for k in where
    ).replace(".[", "[")
    # (Renaming an output also breaks what reads it: that error comes after.)
    assert errors_of(doc)[0] == (path, message)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/proc/self/environ", "must not be under /proc"),
        ("/flowdeck/outputs/in.csv", "must not be under /flowdeck/outputs"),
        ("/data/../etc/shadow", "must be a file's absolute path, without '..' or '//'"),
        ("data/in.csv", "must be an absolute path (starting with '/')"),
    ],
)
def test_input_artifact_paths_are_checked(value, message):
    doc = etl()
    doc["spec"]["tasks"][1]["inputs"]["artifacts"][0]["path"] = value
    assert errors_of(doc) == [("spec.tasks[1].inputs.artifacts[0].path", message)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{{tasks.extract.outputs.result}}",
            "{{tasks.extract.outputs.result}}: must name an output artifact of an "
            "upstream task",
        ),
        (
            "file-{{tasks.extract.outputs.artifacts.data}}",
            "must be one reference to an upstream task's artifact, such as "
            "{{tasks.extract.outputs.artifacts.data}}",
        ),
        (
            "{{tasks.extract.outputs.artifacts.model}}",
            "{{tasks.extract.outputs.artifacts.model}}: task 'extract' declares no "
            "output artifact 'model'",
        ),
        (
            "{{tasks.load.outputs.artifacts.data}}",
            "{{tasks.load.outputs.artifacts.data}}: task 'load' is not upstream of "
            "'transform': add it to 'transform''s dependencies (or to an upstream's)",
        ),
    ],
)
def test_an_input_artifact_comes_from_one_upstream_artifact(source, message):
    doc = etl()
    doc["spec"]["tasks"][1]["inputs"]["artifacts"][0]["from"] = source
    assert errors_of(doc) == [("spec.tasks[1].inputs.artifacts[0].from", message)]


def test_duplicate_outputs_and_clashing_paths_are_errors() -> None:
    doc = etl()
    outputs = doc["spec"]["tasks"][0]["outputs"]
    outputs["parameters"].append(copy.deepcopy(outputs["parameters"][0]))
    outputs["artifacts"].append({"name": "copy", "path": "/flowdeck/outputs/data.csv"})
    assert errors_of(doc) == [
        (
            "spec.tasks[0].outputs.parameters[2].name",
            "duplicate output 'rows' (first at spec.tasks[0].outputs.parameters[0])",
        ),
        (
            "spec.tasks[0].outputs.artifacts[1].path",
            "two artifacts cannot be the same file (first at "
            "spec.tasks[0].outputs.artifacts[0])",
        ),
    ]


def test_other_templates_in_a_command_are_left_alone() -> None:
    doc = document(task("helm", "helm template --set x={{ .Values.x }} {{ itemx }}"))
    assert errors_of(doc) == []
    [helm] = parse_spec(doc).tasks
    assert render_task(helm, {}).command[2] == helm.command[2]


def test_rendering_substitutes_upstream_outputs_and_keeps_secrets_secret() -> None:
    load = parse_spec(etl()).tasks[2]
    rendered = render_task(
        load,
        {},
        {
            "tasks.transform.outputs.result": "[10, 20]",
            "tasks.extract.outputs.parameters.rows": "[1, 2]",
            "tasks.extract.outputs.parameters.token": "s3cr3t",
        },
        secret_outputs=frozenset({"tasks.extract.outputs.parameters.token"}),
    )
    assert rendered.command[2] == "echo [10, 20] [1, 2]"
    [token] = rendered.env
    assert (token.value, token.secret) == ("s3cr3t", True)


def test_rendering_without_an_upstream_output_names_it() -> None:
    load = parse_spec(etl()).tasks[2]
    with pytest.raises(SpecError) as error:
        render_task(load, {}, {"tasks.transform.outputs.result": "[]"})
    messages = [e.message for e in error.value.errors]
    assert messages == [
        "{{tasks.extract.outputs.parameters.rows}}: task 'extract' has no such "
        "output (it did not succeed, or did not write it)",
        "{{tasks.extract.outputs.parameters.token}}: task 'extract' has no such "
        "output (it did not succeed, or did not write it)",
    ]


_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    task=_NAMES,
    kind=st.sampled_from(["result", "parameters", "artifacts"]),
    output=_NAMES,
    spaces=st.sampled_from(["", " ", "  "]),
)
def test_every_reference_reads_back_as_itself(task, kind, output, spaces):
    reference = (
        Reference("tasks", task, "result")
        if kind == "result"
        else Reference("tasks", task, kind, output)
    )
    text = "{{" + spaces + reference.key + spaces + "}}"
    [found] = find_references(f"a {text} b")
    assert found.reference == reference == parse_reference(reference.key)
    assert render(f"a {text} b", lambda r: "V")[0] == "a V b"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_substitution_is_one_pass_whatever_the_values(value):
    text = "x={{tasks.a.outputs.result}} y={{params.p}}"
    out, missing = render(text, lambda r: value)
    assert out == f"x={value} y={value}" and missing == []


def test_the_json_schema_takes_outputs_and_inputs() -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads(
        (
            Path(__file__).resolve().parents[2] / "flowcore" / "spec_schema.json"
        ).read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(etl())) == []
    bad = etl()
    bad["spec"]["tasks"][0]["outputs"]["parameters"][0]["valueFrom"]["path"] = "/tmp/x"
    assert list(validator.iter_errors(bad))


def test_a_result_read_only_by_a_condition_or_a_fan_out_is_kept() -> None:
    doc = document(
        task("flip", "echo heads"),
        task("discover", "echo []"),
        task(
            "heads",
            dependencies=["flip"],
            when="{{tasks.flip.outputs.result}} == heads",
        ),
        task(
            "each",
            "echo {{item}}",
            dependencies=["discover"],
            withParam="{{tasks.discover.outputs.result}}",
        ),
    )
    flow = DataFlow.of(parse_spec(doc))
    assert flow.results == {"flip", "discover"}
    assert flow.upstreams_read("heads") == {"flip"}
