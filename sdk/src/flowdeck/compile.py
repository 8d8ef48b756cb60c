"""Compile a Flow to a Flowdeck workflow document.

Each node becomes a task that runs `python3 -c SCRIPT CALL [VALUE...]` in its
image: SCRIPT is the function's own source followed by a small runner, CALL
says how to build its arguments (literals inline, the others from the VALUEs
after it, which are `{{tasks.X.outputs.result}}`, `{{params.x}}` or
`{{item}}` for the server to fill in), and the runner writes the return value
as JSON to `$FLOWDECK_OUTPUTS/result.json`, the task's `result`. Like Hera's
script templates: nothing but a Python interpreter is needed in the image.
"""

from __future__ import annotations

import ast
import base64
import builtins
import inspect
import json
import textwrap
import types
from typing import TYPE_CHECKING, Any

from flowdeck.graph import FlowDefinitionError, Node, Parameter, TaskRef, leaves

if TYPE_CHECKING:
    from flowdeck.flows import Flow

DEFAULT_IMAGE = "python:3.12-slim"
RESULT_FILE = "result.json"
RESULT_PATH = f"/flowdeck/outputs/{RESULT_FILE}"

# Runs in the task's container, after the function's source: any Python 3.8+,
# the standard library only. It must not contain two opening braces in a row
# (the server would read them as a reference).
RUNNER = """

# flowdeck: call the task with its arguments, write its value as its result
def _flowdeck_run():
    import importlib, json, os, sys
    call = json.loads(sys.argv[1])
    def value(how):
        if "value" in how:
            return how["value"]
        text = sys.argv[how["argv"]]
        if how["as"] == "text":
            return text
        try:
            return json.loads(text)
        except ValueError:
            if how["as"] == "item":
                return text
            raise
    kwargs = {name: value(how) for name, how in call["arguments"].items()}
    if "module" in call:
        function = getattr(importlib.import_module(call["module"]), call["function"])
        function = getattr(function, "fn", function)
    else:
        function = globals()[call["function"]]
    result = function(**kwargs)
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        name = call["function"]
        sys.exit("flowdeck: the return value of %s is not JSON: %s" % (name, exc))
    directory = os.environ.get("FLOWDECK_OUTPUTS") or "/flowdeck/outputs"
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "result.json"), "w") as out:
        out.write(text)
_flowdeck_run()
"""


def _shielded(text: str) -> str:
    """Text the server passes through untouched: no `{{`, which it would
    read as a reference (a function's source may hold one)."""
    if "{{" not in text:
        return text
    encoded = base64.b64encode(text.encode()).decode()
    return f"exec(__import__('base64').b64decode('{encoded}').decode())"


def function_source(node: Node) -> str:
    """The function's source without its decorators, with what it uses of its
    module: modules imported again, constants copied. Anything else it uses
    (another function, a class) cannot travel: a clear error instead."""
    fn = node.task.fn
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise FlowDefinitionError(
            f"{node.name}: the source of {fn.__name__} is not available ({exc}); "
            "define it in a file, or use @task(module=True)"
        ) from None
    tree = ast.parse(source)
    definition = tree.body[0]
    if not isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        raise FlowDefinitionError(f"{node.name}: @task needs a plain def")
    if isinstance(definition, ast.AsyncFunctionDef):
        raise FlowDefinitionError(f"{node.name}: async tasks are not supported")
    definition.decorator_list = []
    if fn.__code__.co_freevars:
        raise FlowDefinitionError(
            f"{node.name}: {fn.__name__} uses {', '.join(fn.__code__.co_freevars)} "
            "of the function around it; only the function's own source ships to "
            "the server: define it at the top of a module"
        )
    preamble = []
    for name in sorted(_free_names(definition)):
        if name not in fn.__globals__:
            continue
        value = fn.__globals__[name]
        if isinstance(value, types.ModuleType):
            alias = "" if value.__name__ == name else f" as {name}"
            preamble.append(f"import {value.__name__}{alias}")
        elif value is None or isinstance(value, bool | int | float | str):
            preamble.append(f"{name} = {value!r}")
        else:
            raise FlowDefinitionError(
                f"{node.name}: {fn.__name__} uses {name!r} of its module "
                f"({type(value).__name__}); only the function's own source ships "
                "to the server: move it inside the function, or use "
                "@task(module=True, image=...) with an image that has your module"
            )
    body = ast.unparse(definition)
    return "\n".join([*preamble, body]) if preamble else body


def _free_names(definition: ast.FunctionDef) -> set[str]:
    """Names the function reads that it does not bind itself (globals and
    builtins), however deep (comprehensions, nested functions)."""
    loaded: set[str] = set()
    bound: set[str] = set()
    for child in ast.walk(definition):
        if isinstance(child, ast.Name):
            (loaded if isinstance(child.ctx, ast.Load) else bound).add(child.id)
        elif isinstance(child, ast.arg):
            bound.add(child.arg)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if child is not definition:
                bound.add(child.name)
        elif isinstance(child, ast.Import | ast.ImportFrom):
            for alias in child.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(child, ast.Global | ast.Nonlocal):
            loaded.update(child.names)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            bound.add(child.name)
    return {name for name in loaded - bound if not hasattr(builtins, name)}


def braces(text: str) -> str:
    """`{{text}}`: a reference for the server to fill in."""
    return "{{" + text + "}}"


def _reference(value: Any) -> str:
    if isinstance(value, TaskRef):
        return braces(f"tasks.{value.node.name}.outputs.result")
    if isinstance(value, Parameter):
        return braces(f"params.{value.name}")
    raise AssertionError(value)


def compile_node(node: Node, flow: Flow) -> dict[str, Any]:
    task = node.task
    call: dict[str, Any] = {"function": task.fn.__name__, "arguments": {}}
    values: list[str] = []
    spec: dict[str, Any] = {"name": node.name}
    for name, value in node.arguments.items():
        if name == node.mapped:
            values.append("{{item}}")
            how = "json" if isinstance(value, list | tuple) else "item"
            call["arguments"][name] = {"argv": len(values) + 1, "as": how}
            if isinstance(value, list | tuple):
                # Each item as its JSON text: `{{item}}` then gives that text,
                # so a string item that looks like JSON stays a string.
                spec["withItems"] = [json.dumps(item) for item in value]
            else:
                spec["withParam"] = _reference(value)
        elif isinstance(value, TaskRef | Parameter):
            values.append(_reference(value))
            how = (
                "text"
                if isinstance(value, Parameter) and value.kind == "text"
                else "json"
            )
            call["arguments"][name] = {"argv": len(values) + 1, "as": how}
        else:
            call["arguments"][name] = {"value": value}
    if task.module:
        if task.image is None:
            raise FlowDefinitionError(
                f"{node.name}: @task(module=True) imports {task.fn.__module__} in "
                "the task's container: give the image that has it (image=...)"
            )
        call["module"] = task.fn.__module__
        script = RUNNER.lstrip()
    else:
        script = function_source(node) + RUNNER
    if task.image:
        spec["image"] = task.image
    spec["command"] = ["python3", "-c", _shielded(script)]
    spec["args"] = [_shielded(json.dumps(call, sort_keys=True)), *values]
    upstream = [up.name for up in node.upstream]
    if upstream:
        spec["dependencies"] = upstream
    if task.env or task.secrets:
        env: list[dict[str, Any]] = [
            {"name": key, "value": value} for key, value in task.env.items()
        ]
        for key, source in task.secrets.items():
            secret, _, item = source.partition(":")
            env.append(
                {
                    "name": key,
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": item}},
                }
            )
        spec["env"] = env
    if task.resources:
        spec["resources"] = task.resources
    if task.node_selector:
        spec["nodeSelector"] = task.node_selector
    if task.tolerations:
        spec["tolerations"] = task.tolerations
    if task.retries:
        delay = _duration(task.retry_delay_seconds)
        spec["retry"] = {
            "limit": task.retries,
            "backoff": {"delay": delay, "factor": 1, "maxDelay": delay},
        }
    if task.timeout is not None:
        spec["timeout"] = _duration(task.timeout)
    spec["outputs"] = {"result": {"valueFrom": {"path": RESULT_PATH}}}
    return spec


def _duration(seconds: float) -> str:
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def compile_flow(flow: Flow) -> dict[str, Any]:
    if not flow.nodes:
        raise FlowDefinitionError(f"flow {flow.name!r} has no tasks")
    parameters = []
    for parameter in flow.parameters.values():
        entry: dict[str, Any] = {"name": parameter.name}
        if parameter.default is not None:
            default = parameter.default
            if not isinstance(default, str | int | float | bool):
                default = json.dumps(default)
            entry["default"] = default
        if parameter.description:
            entry["description"] = parameter.description
        parameters.append(entry)
    spec: dict[str, Any] = {}
    if parameters:
        spec["parameters"] = parameters
    spec["defaults"] = {"image": flow.image or DEFAULT_IMAGE}
    spec["tasks"] = [compile_node(node, flow) for node in flow.nodes.values()]
    spec["outputs"] = {
        "parameters": [
            {"name": node.name, "value": braces(f"tasks.{node.name}.outputs.result")}
            for node in leaves(flow.nodes.values())
        ]
    }
    metadata: dict[str, Any] = {"name": flow.name}
    if flow.description:
        metadata["description"] = flow.description
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": spec,
    }


def to_yaml(document: dict[str, Any]) -> str:
    """YAML in the server's canonical order, scripts as literal blocks."""
    from flowcore.spec import dump_document

    return dump_document(document, blocks=True)
