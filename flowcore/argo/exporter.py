"""A Flowdeck workflow as an Argo `Workflow` (or `WorkflowTemplate`).

One container template per task, a `dag` template `main` wiring them (and
`exit-handler` for onExit), references spelled Argo's way. Argo resolves a
task's references where its template is called, so every reference a task's
text makes (a parameter, an upstream output, the item) reaches its template as
an input parameter the dag passes; `main` takes the workflow's parameters as
its inputs, so that another workflow can call it with a `templateRef`. What Argo has no
field for (a trigger rule, a fan-out's own parallelism, where a result is
read from) travels as `flowdeck.io/...` annotations on the task's template, so
that importing the export gives the same workflow back; Argo applies such
annotations to the pod and otherwise ignores them.

Pure: plain mappings in and out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flowcore.argo.importer import ARGO_API_VERSION, SEMAPHORE_CONFIG_MAP
from flowcore.spec_base import DAEMON_FIELDS, to_seconds

ANNOTATION = "flowdeck.io/"
_REF = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_FAILED = ("Failed", "Errored")
_DONE = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted")


def export_workflow(
    document: Mapping[str, Any], *, kind: str = "Workflow"
) -> dict[str, Any]:
    """The Argo document of a (valid) Flowdeck spec document. Secret values
    are exported as the document holds them: pass a masked document."""
    metadata = document["metadata"]
    spec = document["spec"]
    defaults = spec.get("defaults", {})
    tasks = list(spec["tasks"])
    exits = list(spec.get("onExit", ()))
    argo_spec: dict[str, Any] = {"entrypoint": "main"}
    parameters = [
        {
            "name": p["name"],
            **({"value": str(p["default"])} if p.get("default") is not None else {}),
            **({"description": p["description"]} if p.get("description") else {}),
        }
        for p in spec.get("parameters", ())
    ]
    if parameters:
        argo_spec["arguments"] = {"parameters": parameters}
    if spec.get("parallelism") is not None:
        argo_spec["parallelism"] = spec["parallelism"]
    if spec.get("timeout") is not None:
        argo_spec["activeDeadlineSeconds"] = int(to_seconds(spec["timeout"]))
    for key in ("serviceAccountName", "priorityClassName", "affinity"):
        if defaults.get(key) is not None:
            argo_spec[key] = defaults[key]
    if defaults.get("imagePullSecrets"):
        argo_spec["imagePullSecrets"] = [
            {"name": n} for n in defaults["imagePullSecrets"]
        ]
    if exits:
        argo_spec["onExit"] = "exit-handler"
    if spec.get("synchronization"):
        argo_spec["synchronization"] = argo_synchronization(spec["synchronization"])
    if any(_uses_flowdeck_dir(task) for task in [*tasks, *exits]):
        argo_spec["volumes"] = [{"name": "flowdeck", "emptyDir": {}}]
    main = _dag("main", tasks, spec.get("outputs", {}), "inputs.parameters", defaults)
    if parameters:
        main["inputs"] = {
            "parameters": [
                {
                    "name": p["name"],
                    **({"default": p["value"]} if "value" in p else {}),
                }
                for p in parameters
            ]
        }
    templates: list[dict[str, Any]] = [main]
    if exits:
        templates.append(
            _dag("exit-handler", exits, {}, "workflow.parameters", defaults)
        )
    for task in [*tasks, *exits]:
        if task.get("workflow") is None:
            templates.append(_template(task, defaults))
    argo_spec["templates"] = templates
    argo_metadata: dict[str, Any] = {"name": metadata["name"]}
    if metadata.get("labels"):
        argo_metadata["labels"] = dict(metadata["labels"])
    if metadata.get("description"):
        argo_metadata["annotations"] = {
            "workflows.argoproj.io/description": metadata["description"]
        }
    if spec.get("maxActiveRuns") is not None:
        # Argo has no such limit: kept for the way back.
        argo_metadata.setdefault("annotations", {})[ANNOTATION + "max-active-runs"] = (
            str(spec["maxActiveRuns"])
        )
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": kind,
        "metadata": argo_metadata,
        "spec": argo_spec,
    }


def argo_synchronization(sync: Mapping[str, Any]) -> dict[str, Any]:
    """`{semaphore: NAME}` or `{mutex: NAME}` as Argo's synchronization: a
    mutex by name, a semaphore as a key of SEMAPHORE_CONFIG_MAP (whose value
    Argo reads as its limit)."""
    if sync.get("mutex"):
        return {"mutexes": [{"name": sync["mutex"]}]}
    return {
        "semaphores": [
            {
                "configMapKeyRef": {
                    "name": SEMAPHORE_CONFIG_MAP,
                    "key": sync["semaphore"],
                }
            }
        ]
    }


def argo_text(text: str, parameters: str = "workflow.parameters") -> str:
    """Flowdeck's references spelled Argo's way, the workflow's parameters
    read from `parameters`."""

    def replace(match: re.Match[str]) -> str:
        parts = match.group(1).split(".")
        if parts[0] == "params" and len(parts) == 2:
            return "{{" + parameters + "." + parts[1] + "}}"
        if parts[:2] == ["run", "status"]:
            return "{{workflow.status}}"
        if parts[:2] == ["run", "failures"]:
            return "{{workflow.failures}}"
        if parts[:2] == ["run", "id"]:
            return "{{workflow.uid}}"
        return match.group(0)

    return _REF.sub(replace, text)


def _passed(task: Mapping[str, Any]) -> dict[str, str]:
    """The task's references Argo resolves only where a template is called
    (parameters, upstream outputs, the fan-out's item), each with the name of the input
    parameter that brings it into the task's template."""
    texts = [
        task.get("image", ""),
        *task.get("command", ()),
        *task.get("args", ()),
        *(entry.get("value", "") for entry in task.get("env", ())),
    ]
    passed: dict[str, str] = {}
    for text in texts:
        for match in _REF.finditer(str(text)):
            expression = match.group(1)
            if expression.split(".", 1)[0] in ("params", "tasks", "item"):
                passed.setdefault(expression, expression.replace(".", "-"))
    return passed


def _template_text(text: str, passed: Mapping[str, str]) -> str:
    """A task's text as its template reads it: passed references through the
    template's inputs, the rest spelled Argo's way."""

    def replace(match: re.Match[str]) -> str:
        name = passed.get(match.group(1))
        if name is None:
            return match.group(0)
        return "{{inputs.parameters." + name + "}}"

    return argo_text(_REF.sub(replace, text))


def _uses_flowdeck_dir(task: Mapping[str, Any]) -> bool:
    outputs = task.get("outputs", {})
    return bool(
        outputs.get("parameters")
        or outputs.get("artifacts")
        or outputs.get("result")
        or task.get("inputs", {}).get("artifacts")
    )


def _dag(
    name: str,
    tasks: list[Mapping[str, Any]],
    outputs: Mapping[str, Any],
    parameters: str,
    defaults: Mapping[str, Any],
) -> dict[str, Any]:
    """The dag template `name` of `tasks`, reading the workflow's parameters
    from `parameters` (its inputs, or the workflow's)."""

    def text(value: str) -> str:
        return argo_text(value, parameters)

    entries = []
    calls: dict[str, dict[str, Any]] = {}
    for task in tasks:
        entry: dict[str, Any] = {"name": task["name"]}
        call = task.get("workflow")
        if call is not None:
            entry["templateRef"] = {"name": call["name"], "template": "main"}
            settings = _call_settings(task, defaults)
            if settings:
                calls[task["name"]] = settings
            if call.get("parameters"):
                entry["arguments"] = {
                    "parameters": [
                        {"name": k, "value": text(str(v))}
                        for k, v in call["parameters"].items()
                    ]
                }
        else:
            entry["template"] = task["name"]
            passed = [
                {"name": name, "value": text("{{" + expression + "}}")}
                for expression, name in _passed(task).items()
            ]
            if passed:
                entry["arguments"] = {"parameters": passed}
        rule = task.get("triggerRule", "allSucceeded")
        upstream = list(task.get("dependencies", ()))
        if task.get("depends"):
            entry["depends"] = task["depends"]
        elif upstream and rule == "noneFailed":
            entry["dependencies"] = upstream
        elif upstream:
            entry["depends"] = _depends_of(rule, upstream)
        if task.get("when"):
            entry["when"] = text(task["when"])
        for key in ("withItems", "withSequence", "continueOn"):
            if task.get(key) is not None:
                entry[key] = task[key]
        if task.get("withParam"):
            entry["withParam"] = text(task["withParam"])
        artifacts = task.get("inputs", {}).get("artifacts", ())
        if artifacts:
            entry.setdefault("arguments", {})["artifacts"] = [
                {"name": a["name"], "from": a["from"]} for a in artifacts
            ]
        entries.append(entry)
    template: dict[str, Any] = {"name": name, "dag": {"tasks": entries}}
    if calls:
        template["metadata"] = {
            "annotations": {ANNOTATION + "calls": json.dumps(calls, sort_keys=True)}
        }
    declared = [
        {
            "name": p["name"],
            "valueFrom": {"parameter": text(p["value"])},
            **({"description": p["description"]} if p.get("description") else {}),
        }
        for p in outputs.get("parameters", ())
    ]
    if declared:
        template["outputs"] = {"parameters": declared}
    artifacts = [
        {"name": a["name"], "from": a["from"]} for a in outputs.get("artifacts", ())
    ]
    if artifacts:
        template.setdefault("outputs", {})["artifacts"] = artifacts
    return template


def _call_settings(
    task: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """What a sub-workflow task has that a templateRef call has no field for
    (Argo ignores it: docs/argo.md)."""
    settings: dict[str, Any] = {}
    timeout = task.get("timeout", defaults.get("timeout"))
    if timeout is not None:
        settings["timeout"] = timeout
    retry = _effective_retry(task, defaults)
    if retry:
        settings["retry"] = retry
    if task.get("priority"):
        settings["priority"] = task["priority"]
    return settings


def _effective_retry(
    task: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The task's retry over the defaults', as parse_spec merges them."""
    base, own = defaults.get("retry", {}), task.get("retry", {})
    retry = {**base, **own}
    backoff = {**base.get("backoff", {}), **own.get("backoff", {})}
    if backoff:
        retry["backoff"] = backoff
    return retry


def _depends_of(rule: str, upstream: list[str]) -> str:
    """A trigger rule as an Argo depends expression over the upstreams."""

    def any_of(task: str, results: tuple[str, ...]) -> str:
        return "(" + " || ".join(f"{task}.{r}" for r in results) + ")"

    if rule == "allSucceeded":
        return " && ".join(f"{u}.Succeeded" for u in upstream)
    if rule == "allDone":
        return " && ".join(any_of(u, _DONE) for u in upstream)
    if rule == "anyFailed":
        return " || ".join(any_of(u, _FAILED) for u in upstream)
    if rule == "anySucceeded":
        return " || ".join(f"{u}.Succeeded" for u in upstream)
    # allFailed
    return " && ".join(any_of(u, _FAILED) for u in upstream)


def _template(task: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    passed = _passed(task)
    container: dict[str, Any] = {
        "image": _template_text(str(task.get("image", defaults.get("image"))), passed)
    }
    for key in ("command", "args"):
        if task.get(key):
            container[key] = [_template_text(str(item), passed) for item in task[key]]
    env = []
    for entry in task.get("env", ()):
        if "valueFrom" in entry:
            env.append({"name": entry["name"], "valueFrom": entry["valueFrom"]})
        else:
            env.append(
                {
                    "name": entry["name"],
                    "value": _template_text(str(entry.get("value", "")), passed),
                }
            )
    if _uses_flowdeck_dir(task):
        env += [
            {"name": "FLOWDECK_OUTPUTS", "value": "/flowdeck/outputs"},
            {"name": "FLOWDECK_INPUTS", "value": "/flowdeck/inputs"},
        ]
    if env:
        container["env"] = env
    for key in ("workingDir", "resources", "securityContext"):
        if task.get(key):
            container[key] = task[key]
    pull = task.get("imagePullPolicy", defaults.get("imagePullPolicy"))
    if pull:
        container["imagePullPolicy"] = pull
    mounts = list(task.get("volumeMounts", ()))
    if _uses_flowdeck_dir(task):
        mounts.append({"name": "flowdeck", "mountPath": "/flowdeck"})
    if mounts:
        container["volumeMounts"] = mounts
    template: dict[str, Any] = {"name": task["name"], "container": container}
    for key in ("initContainers", "sidecars"):
        if task.get(key):
            template[key] = [
                _extra_container(own, container["image"], passed) for own in task[key]
            ]
    if task.get("volumes"):
        template["volumes"] = list(task["volumes"])
    if task.get("synchronization"):
        template["synchronization"] = argo_synchronization(task["synchronization"])
    for key in (
        "nodeSelector",
        "tolerations",
        "affinity",
        "priorityClassName",
        "serviceAccountName",
    ):
        if task.get(key):
            template[key] = task[key]
    retry = _effective_retry(task, defaults)
    if retry:
        template["retryStrategy"] = _retry_strategy(retry)
    timeout = task.get("timeout", defaults.get("timeout"))
    if timeout is not None:
        template["activeDeadlineSeconds"] = int(to_seconds(timeout))
    outputs = task.get("outputs", {})
    argo_outputs: dict[str, Any] = {}
    if outputs.get("parameters"):
        argo_outputs["parameters"] = [
            {
                "name": p["name"],
                "valueFrom": {
                    "path": p["valueFrom"]["path"],
                    **(
                        {"default": p["valueFrom"]["default"]}
                        if p["valueFrom"].get("default") is not None
                        else {}
                    ),
                },
            }
            for p in outputs["parameters"]
        ]
    if outputs.get("artifacts"):
        argo_outputs["artifacts"] = [
            {
                "name": a["name"],
                "path": a["path"],
                **({"optional": True} if a.get("optional") else {}),
            }
            for a in outputs["artifacts"]
        ]
    if argo_outputs:
        template["outputs"] = argo_outputs
    inputs: dict[str, Any] = {}
    if passed:
        inputs["parameters"] = [{"name": name} for name in passed.values()]
    artifacts = task.get("inputs", {}).get("artifacts", ())
    if artifacts:
        inputs["artifacts"] = [
            {
                "name": a["name"],
                "path": a["path"],
                **({"optional": True} if a.get("optional") else {}),
            }
            for a in artifacts
        ]
    if inputs:
        template["inputs"] = inputs
    annotations = _annotations(task)
    if annotations:
        template["metadata"] = {"annotations": annotations}
    if task.get("daemon") is True:
        template["daemon"] = True
    return template


def _extra_container(
    own: Mapping[str, Any], image: str, passed: Mapping[str, str]
) -> dict[str, Any]:
    """An init container or sidecar as Argo's (the same fields; Argo stops
    sidecars when the main container ends, as Flowdeck does)."""
    container: dict[str, Any] = {
        "name": own["name"],
        "image": _template_text(str(own["image"]), passed)
        if own.get("image")
        else image,
    }
    for key in ("command", "args"):
        if own.get(key):
            container[key] = [_template_text(str(item), passed) for item in own[key]]
    env = [
        {"name": entry["name"], "valueFrom": entry["valueFrom"]}
        if "valueFrom" in entry
        else {
            "name": entry["name"],
            "value": _template_text(str(entry.get("value", "")), passed),
        }
        for entry in own.get("env", ())
    ]
    if env:
        container["env"] = env
    for key in ("workingDir", "imagePullPolicy", "resources", "volumeMounts"):
        if own.get(key):
            container[key] = own[key]
    return container


def _retry_strategy(retry: Mapping[str, Any]) -> dict[str, Any]:
    strategy: dict[str, Any] = {"limit": retry.get("limit", 0)}
    on = set(retry.get("on", ["Failed", "Error"]))
    strategy["retryPolicy"] = (
        "Always"
        if on == {"Failed", "Error"}
        else "OnFailure"
        if on == {"Failed"}
        else "OnError"
    )
    backoff = retry.get("backoff", {})
    if backoff:
        strategy["backoff"] = {
            **({"duration": backoff["delay"]} if "delay" in backoff else {}),
            **(
                {"factor": _int_or_string(backoff["factor"])}
                if "factor" in backoff
                else {}
            ),
            **({"cap": backoff["maxDelay"]} if "maxDelay" in backoff else {}),
        }
    return strategy


def _int_or_string(number: float) -> int | str:
    """A number as Argo's IntOrString fields take it: a whole number as an
    int, any other as text."""
    return int(number) if float(number).is_integer() else str(number)


def _annotations(task: Mapping[str, Any]) -> dict[str, str]:
    annotations = {}
    rule = task.get("triggerRule")
    if rule and not task.get("depends"):
        annotations[ANNOTATION + "trigger-rule"] = rule
    elif task.get("dependencies") and not task.get("depends"):
        annotations[ANNOTATION + "trigger-rule"] = "allSucceeded"
    if task.get("parallelism") is not None:
        annotations[ANNOTATION + "parallelism"] = str(task["parallelism"])
    path = task.get("outputs", {}).get("result", {}).get("valueFrom", {}).get("path")
    if path:
        annotations[ANNOTATION + "result-path"] = path
    if task.get("priority"):
        annotations[ANNOTATION + "priority"] = str(task["priority"])
    secret = [e["name"] for e in task.get("env", ()) if e.get("secret")]
    if secret:
        annotations[ANNOTATION + "secret-env"] = ",".join(secret)
    secret_outputs = [
        p["name"]
        for p in task.get("outputs", {}).get("parameters", ())
        if p.get("secret")
    ]
    if secret_outputs:
        annotations[ANNOTATION + "secret-outputs"] = ",".join(secret_outputs)
    if task.get("kind") == "Job":
        # Argo runs the template as one pod; the import gives the Job back.
        annotations[ANNOTATION + "job"] = json.dumps(
            task.get("job") or {}, sort_keys=True, separators=(",", ":")
        )
    if task.get("daemon") is True:
        # The template is an Argo daemon too; its Service, ports, probe and
        # storage come back with the import.
        annotations[ANNOTATION + "daemon"] = json.dumps(
            {key: task[key] for key in DAEMON_FIELDS if task.get(key) is not None},
            sort_keys=True,
            separators=(",", ":"),
        )
    return annotations
