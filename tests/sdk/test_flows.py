"""Building flows and compiling them to the server's spec: what is recorded,
what is refused where it is written, and what the compiled tasks do when the
server runs them (their scripts run here with the server's substitutions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flowcore.fanout import item_text
from flowcore.spec import parse_document, parse_spec, validate
from flowdeck import Flow, FlowDefinitionError, Parameter, task
from flowdeck.compile import DEFAULT_IMAGE, RESULT_PATH, braces
from tests.sdk import flows
from tests.sdk.tutorial import load_tutorial


def test_calls_in_a_flow_record_nodes_and_edges_and_run_nothing() -> None:
    tutorial = load_tutorial()
    flow = tutorial.flow
    assert list(flow.nodes) == ["extract", "transform", "load"]
    assert [up.name for up in flow.nodes["load"].upstream] == ["transform"]
    assert tutorial.extract() == [1, 2, 3, 4, 5]  # outside a flow: the function


def test_the_tutorial_compiles_to_a_valid_spec_with_results_as_outputs() -> None:
    document = load_tutorial().flow.to_spec()
    assert validate(document) == []
    spec = parse_spec(document)
    assert [t.name for t in spec.tasks] == ["extract", "transform", "load"]
    tasks = {t["name"]: t for t in document["spec"]["tasks"]}
    assert document["spec"]["defaults"]["image"] == DEFAULT_IMAGE
    assert tasks["transform"]["dependencies"] == ["extract"]
    assert tasks["transform"]["args"][1] == "{{tasks.extract.outputs.result}}"
    assert tasks["load"]["outputs"] == {"result": {"valueFrom": {"path": RESULT_PATH}}}
    assert "def transform(data):" in tasks["transform"]["command"][2]
    assert "@task" not in tasks["transform"]["command"][2]
    assert document["spec"]["outputs"]["parameters"] == [
        {"name": "load", "value": "{{tasks.load.outputs.result}}"}
    ]


def test_to_yaml_reads_back_as_the_same_document_with_scripts_as_blocks() -> None:
    flow = load_tutorial().flow
    text = flow.to_yaml()
    assert "    - |\n      def extract():\n" in text
    assert parse_document(text) == flow.to_spec()


def test_map_parameters_retries_and_timeouts_compile_to_the_spec() -> None:
    document = flows.map_flow().to_spec()
    assert validate(document) == []
    spec = document["spec"]
    assert spec["parameters"] == [
        {"name": "count", "default": 4},
        {"name": "label", "default": "sum"},
    ]
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert tasks["square"]["withParam"] == "{{tasks.numbers.outputs.result}}"
    assert tasks["square"]["args"][1] == "{{item}}"
    assert tasks["numbers"]["args"][1] == "{{params.count}}"

    with Flow("knobs") as flow:
        flows.patient("k")
        flows.slow()
    tasks = {t["name"]: t for t in flow.to_spec()["spec"]["tasks"]}
    assert tasks["patient"]["retry"] == {
        "limit": 2,
        "backoff": {"delay": "50ms", "factor": 1, "maxDelay": "50ms"},
    }
    assert tasks["slow"]["timeout"] == "200ms"


def test_task_options_reach_the_spec() -> None:
    @task(
        name="heavy",
        image="ghcr.io/acme/etl:1",
        resources={"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}},
        env={"MODE": "fast"},
        secrets={"DB_PASSWORD": "db-creds:password"},
        node_selector={"disk": "ssd"},
        tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )
    def crunch() -> int:
        return 1

    with Flow("options") as flow:
        crunch()
    [compiled] = flow.to_spec()["spec"]["tasks"]
    assert compiled["name"] == "heavy"
    assert compiled["image"] == "ghcr.io/acme/etl:1"
    assert compiled["resources"]["limits"] == {"memory": "1Gi"}
    assert compiled["env"] == [
        {"name": "MODE", "value": "fast"},
        {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}},
        },
    ]
    assert compiled["nodeSelector"] == {"disk": "ssd"}
    assert compiled["tolerations"][0]["key"] == "gpu"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: flows.echo("x", {1, 2}), "argument 'data' is not JSON-serialisable"),
        (lambda: flows.echo("x", float("nan")), "not JSON-serialisable"),
        (lambda: flows.square.map([1, object()]), "item 1 is not JSON-serialisable"),
        (lambda: flows.square(1, 2), "square: too many positional arguments"),
        (lambda: flows.echo("x", [flows.square(1)]), "inside a list or dict"),
        (lambda: flows.square.map(3), "map over a list"),
    ],
)
def test_mistakes_are_refused_where_the_flow_is_written(
    build: Any, message: str
) -> None:
    with Flow("wrong"), pytest.raises(FlowDefinitionError, match=message):
        build()


def test_a_reference_cannot_be_used_as_a_value_while_building() -> None:
    with Flow("wrong"):
        result = flows.square(2)
        with pytest.raises(FlowDefinitionError, match="not known while the flow"):
            if result:
                pass


def test_what_cannot_travel_with_the_source_is_a_clear_error() -> None:
    def helper() -> int:
        return 1

    @task
    def uses_a_closure() -> int:
        return helper()

    with Flow("closure") as flow:
        uses_a_closure()
    with pytest.raises(FlowDefinitionError, match="uses helper of the function"):
        flow.to_spec()
    with Flow("module") as flow:
        module_task = task(module=True)(flows.square.fn)
        module_task(3)
    with pytest.raises(FlowDefinitionError, match="give the image"):
        flow.to_spec()


def test_an_invalid_flow_name_gets_the_servers_message() -> None:
    with Flow("My Flow") as flow:
        flows.square(2)
    assert flow.validate() == [
        "metadata.name: must be lowercase letters, digits and '-', starting and "
        "ending with a letter or digit"
    ]


def test_a_decorated_flow_takes_its_parameters_from_its_arguments() -> None:
    spec = flows.decorated.to_spec()["spec"]
    assert spec["parameters"] == [
        {"name": "count", "default": 3},
        {"name": "label", "default": "n"},
    ]
    result = flows.decorated(count=4, label="t")
    assert result["total"].value == "t=30"


def _run_compiled(
    document: dict[str, Any], parameters: dict[str, str], tmp: Path
) -> dict[str, Any]:
    """Play the server: run each compiled task's command in document order,
    substituting what the server would (parameters, upstream results, items)
    and reading each result from the file the task wrote."""
    results: dict[str, str] = {}

    def substitute(text: str, item: Any = None) -> str:
        for name, value in parameters.items():
            text = text.replace(braces(f"params.{name}"), value)
        for name, value in results.items():
            text = text.replace(braces(f"tasks.{name}.outputs.result"), value)
        if item is not None:
            text = text.replace("{{item}}", item_text(item))
        return text

    for compiled in document["spec"]["tasks"]:
        if "withParam" in compiled:
            items = json.loads(substitute(compiled["withParam"]))
        elif "withItems" in compiled:
            items = compiled["withItems"]
        else:
            items = [None]
        values = []
        for index, item in enumerate(items):
            outputs = tmp / f"{compiled['name']}-{index}"
            outputs.mkdir()
            argv = [substitute(a, item) for a in compiled["command"] + compiled["args"]]
            assert argv[0] == "python3"
            subprocess.run(
                [sys.executable, *argv[1:]],
                env={**os.environ, "FLOWDECK_OUTPUTS": str(outputs)},
                check=True,
                cwd=tmp,
            )
            values.append((outputs / "result.json").read_text())
        fan_out = "withParam" in compiled or "withItems" in compiled
        results[compiled["name"]] = (
            "[" + ", ".join(values) + "]" if fan_out else values[0]
        )
    return {name: json.loads(value) for name, value in results.items()}


def test_compiled_tasks_compute_what_the_local_run_does(tmp_path: Path) -> None:
    flow = flows.map_flow()
    results = _run_compiled(flow.to_spec(), {"count": "5", "label": "total"}, tmp_path)
    assert results["square"] == [1, 4, 9, 16, 25]
    assert results["total"] == "total=55"
    local = flow.run(parameters={"count": "5", "label": "total"}, quiet=True)
    assert {name: t.value for name, t in local.tasks.items()} == results


def test_literal_items_keep_their_types_through_the_server(tmp_path: Path) -> None:
    with Flow("literal") as flow:
        flows.echo.map(["1", 2, None, "{{x}}", "x"], Parameter("data", default=[1]))
    document = flow.to_spec()
    assert validate(document) == []
    results = _run_compiled(document, {"data": "[1]"}, tmp_path)
    assert [json.loads(v)[0] for v in results["echo"]] == ["1", 2, None, "{{x}}", "x"]


def test_a_source_with_double_braces_is_shipped_untouched(tmp_path: Path) -> None:
    @task
    def braces() -> str:
        return "{{params.x}}" + "{{"

    with Flow("braces") as flow:
        braces()
    document = flow.to_spec()
    assert validate(document) == []
    assert _run_compiled(document, {}, tmp_path) == {"braces": "{{params.x}}{{"}


def test_module_globals_travel_as_imports_and_constants(tmp_path: Path) -> None:
    with Flow("uses-json") as flow:
        flows.echo("a", [1])
    script = flow.to_spec()["spec"]["tasks"][0]["command"][2]
    assert script.startswith("import json\n")
    assert _run_compiled(flow.to_spec(), {}, tmp_path) == {"echo": '["a", [1]]'}
