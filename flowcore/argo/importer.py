"""Argo Workflows documents as Flowdeck workflows, with a report.

The entrypoint's graph is flattened: every container or script template a
`dag` task or a step calls becomes one Flowdeck task, named after the tasks
that lead to it (`outer-inner`); `steps` groups become dependencies on the
group before; `{{inputs.parameters.x}}` is replaced by the caller's argument;
references to tasks and steps become references to the Flowdeck tasks that
produce them. Whatever cannot be carried over is a Note with its path in the
Argo document; a Note is `essential` when the workflow could not run as Argo
would run it without it (then the import is refused).

Pure: plain data in and out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from flowcore.spec_base import API_VERSION, KIND, SpecError
from flowcore.spec_document import parse_documents

ARGO_API_VERSION = "argoproj.io/v1alpha1"
# The ConfigMap a Flowdeck export names its semaphores in: Argo reads a
# semaphore's limit from a ConfigMap key, Flowdeck from the project.
SEMAPHORE_CONFIG_MAP = "flowdeck-semaphores"
# What a file may expand to (its values, aliases written out).
MAX_VALUES = 1_000_000
KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
OUTPUTS_DIR = "/flowdeck/outputs"
_ANNOTATION = "flowdeck.io/"
# Where a leaf keeps the trigger rule an export noted, until its call sets it.
_RULE = "flowdeck.io/trigger-rule"
# Argo fields Flowdeck leaves out without changing what the workflow does.
_HARMLESS = {
    "podGC": "pods are deleted by Flowdeck once their logs are archived",
    "ttlStrategy": "runs are kept by Flowdeck's own retention",
    "archiveLogs": "Flowdeck always archives logs",
    "podMetadata": "pod labels and annotations are Flowdeck's own",
    "metrics": "Argo's custom metrics are not carried over",
    "hooks": "lifecycle hooks are not carried over",
    "workflowMetadata": "not carried over",
    "artifactRepositoryRef": "Flowdeck uses its own artifact store",
    "artifactGC": "Flowdeck collects artifacts with its retention setting",
    "securityContext": "the pod-level security context is not carried over "
    "(set securityContext on tasks)",
    "podDisruptionBudget": "not carried over",
    "dnsConfig": "not carried over",
    "dnsPolicy": "not carried over",
    "hostNetwork": "not carried over",
    "executor": "not carried over",
    "retryStrategy": "a workflow-level retryStrategy is not carried over "
    "(retries are per task)",
}
# What the importer reads, at each level of a document; any other field is
# reported as not carried over (no silent drops).
_SPEC_FIELDS = {
    "entrypoint",
    "arguments",
    "templates",
    "volumes",
    "onExit",
    "parallelism",
    "activeDeadlineSeconds",
    "serviceAccountName",
    "priorityClassName",
    "affinity",
    "imagePullSecrets",
    "nodeSelector",
    "tolerations",
    "podSpecPatch",
    "synchronization",
    *_HARMLESS,
}
# Fields the workflow cannot run as Argo would without.
_ESSENTIAL_SPEC_FIELDS = {
    "workflowTemplateRef": "a Workflow that only refers to a WorkflowTemplate: "
    "import the WorkflowTemplate itself",
}
_TEMPLATE_FIELDS = {
    "name",
    "inputs",
    "outputs",
    "container",
    "script",
    "dag",
    "steps",
    "metadata",
    "nodeSelector",
    "tolerations",
    "affinity",
    "priorityClassName",
    "serviceAccountName",
    "retryStrategy",
    "activeDeadlineSeconds",
    "timeout",
    "volumes",
    "podSpecPatch",
    "sidecars",
    "initContainers",
    "daemon",
    "memoize",
    "synchronization",
    "metrics",
    "parallelism",
    "failFast",
}
_CONTAINER_FIELDS = {
    "name",
    "image",
    "command",
    "args",
    "source",
    "env",
    "envFrom",
    "workingDir",
    "imagePullPolicy",
    "resources",
    "securityContext",
    "volumeMounts",
}
_CALL_FIELDS = {
    "name",
    "template",
    "templateRef",
    "inline",
    "arguments",
    "dependencies",
    "depends",
    "when",
    "withItems",
    "withParam",
    "withSequence",
    "continueOn",
    "onExit",
    "hooks",
    "target",
}
_UNSUPPORTED_TEMPLATES = (
    "resource",
    "suspend",
    "http",
    "data",
    "containerSet",
    "plugin",
)
_INTERPRETER_FLAGS = {"node": "-e", "ruby": "-e", "perl": "-e"}
_REF = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_DNS_INVALID = re.compile(r"[^a-z0-9-]+")
_PARAM_INVALID = re.compile(r"[^A-Za-z0-9_]")
_RETRY_ON = {
    "Always": ["Failed", "Error"],
    "OnFailure": ["Failed"],
    "OnError": ["Error"],
    "OnTransientError": ["Error"],
}
_RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned")
_DEPENDS_WORD = re.compile(
    r"(?<![\w.-])([A-Za-z0-9_][A-Za-z0-9_-]*)(?:\.(AnySucceeded|AllFailed|"
    + "|".join(_RESULTS)
    + r"))?"
)


class ArgoError(ValueError):
    """A document that is not an Argo workflow Flowdeck can import; `path`
    says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class Note:
    """Something of the Argo document that was not carried over as it was."""

    path: str
    message: str
    essential: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "essential": self.essential}


@dataclass(slots=True)
class Converted:
    kind: str
    name: str
    document: dict[str, Any]  # a Flowdeck spec document
    schedules: list[dict[str, Any]]  # a CronWorkflow's, as schedule settings
    notes: list[Note]
    original: dict[str, Any]
    # Which document of the file it came from (0 for a file of one).
    document_index: int = 0
    # Made of one of the document's templates (a loop over a dag or steps
    # template runs it as a sub-workflow): that template's name.
    generated_from: str | None = None
    # The workflows made that way for this one (convert_text lists them
    # after it).
    generated: list[Converted] = field(default_factory=list)

    @property
    def refused(self) -> list[Note]:
        return [note for note in self.notes if note.essential]


def convert_text(text: str | bytes) -> list[Converted]:
    """Every document of a YAML (or JSON) text, converted; ArgoError for one
    that is not an Argo workflow."""
    try:
        documents = parse_documents(text)
    except SpecError as error:
        raise ArgoError("", error.errors[0].message) from None
    if not documents:
        raise ArgoError("", "the file holds no document")
    if _expanded_size(documents) > MAX_VALUES:
        raise ArgoError(
            "",
            f"the file expands to more than {MAX_VALUES} values (through YAML "
            "aliases): write it out",
        )
    batch = {
        str(_mapping(doc.get("metadata")).get("name", "")): doc
        for doc in documents
        if isinstance(doc, Mapping)
    }
    converted = []
    for i, doc in enumerate(documents):
        result = convert_document(
            doc, batch=batch, index=i if len(documents) > 1 else None
        )
        for each in (result, *result.generated):
            each.document_index = i
            converted.append(each)
    return converted


def convert_document(
    document: Any,
    *,
    batch: Mapping[str, Any] | None = None,
    index: int | None = None,
) -> Converted:
    """One Argo document as a Flowdeck workflow (and schedules)."""
    where = "" if index is None else f"documents[{index}]"
    if not isinstance(document, Mapping):
        raise ArgoError(where, "must be a mapping (an Argo Workflow document)")
    if document.get("apiVersion") != ARGO_API_VERSION:
        raise ArgoError(
            _at(where, "apiVersion"),
            f"must be {ARGO_API_VERSION} (this is {document.get('apiVersion')!r})",
        )
    kind = document.get("kind")
    if kind not in KINDS:
        raise ArgoError(_at(where, "kind"), f"must be one of {', '.join(KINDS)}")
    return _Importer(document, str(kind), batch or {}, where).convert()


def _expanded_size(value: Any) -> int:
    """How many values `value` holds once its shared parts (YAML aliases) are
    written out: counted once per container, so an alias bomb costs what its
    text does to measure."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes or not isinstance(node, dict | list):
            continue
        children = list(node.values() if isinstance(node, dict) else node)
        if done:
            sizes[id(node)] = 1 + sum(
                sizes.get(id(child), 1) if isinstance(child, dict | list) else 1
                for child in children
            )
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children)
    return sizes.get(id(value), 1)


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def parameter_name(text: str) -> str:
    """An Argo parameter's name as a Flowdeck one (letters, digits and _)."""
    name = _PARAM_INVALID.sub("_", text)
    return f"p_{name}" if name[:1].isdigit() else name


def dns_label(text: str) -> str:
    label = _DNS_INVALID.sub("-", text.lower()).strip("-")
    return label[:63].rstrip("-") or "task"


@dataclass(slots=True)
class _Sub:
    """What an expanded call left: its first and last Flowdeck tasks, and the
    Flowdeck text each of its outputs reads as."""

    roots: list[str]
    sinks: list[str]
    outputs: dict[str, str] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)  # made for it
    # The one Flowdeck task whose outputs are the call's, whatever they are
    # named (a leaf, or a call of another workflow).
    single: str | None = None

    def output(self, key: str) -> str | None:
        if self.single is not None:
            return "{{tasks." + self.single + ".outputs." + key + "}}"
        return self.outputs.get(key)


class _Importer:
    def __init__(
        self,
        document: Mapping[str, Any],
        kind: str,
        batch: Mapping[str, Any],
        where: str,
        *,
        made_of: str | None = None,
        name: str | None = None,
        made: dict[str, tuple[str, set[str]]] | None = None,
        generated: list[Converted] | None = None,
    ) -> None:
        self.document = document
        self.kind = kind
        self.batch = batch
        self.where = where
        # A workflow made of template `made_of` of the document, named `name`.
        self.made_of = made_of
        self.forced_name = name
        # Shared by every importer of the document: the workflows made of its
        # templates (template -> (name, parameters)), and their conversions.
        self.made = made if made is not None else {}
        self.generated = generated if generated is not None else []
        self.name = ""
        self.notes: list[Note] = []
        self.names: set[str] = set()
        self.tasks: list[dict[str, Any]] = []
        self.exit_tasks: list[dict[str, Any]] = []
        self.parameter_names: dict[str, str] = {}
        # The entrypoint's synchronization: the whole run holds it.
        self.entrypoint = ""
        self.run_sync: dict[str, str] | None = None
        spec_path = _at(where, "spec")
        spec = _mapping(document.get("spec"))
        if kind == "CronWorkflow":
            spec = _mapping(spec.get("workflowSpec"))
            spec_path = _at(spec_path, "workflowSpec")
        self.spec = spec
        self.spec_path = spec_path
        self.templates = {
            str(t.get("name")): (i, t)
            for i, t in enumerate(_list(spec.get("templates")))
            if isinstance(t, Mapping)
        }
        self.volumes = {
            str(v.get("name")): v
            for v in _list(spec.get("volumes"))
            if isinstance(v, Mapping)
        }

    def note(self, path: str, message: str, *, essential: bool = False) -> None:
        self.notes.append(Note(path, message, essential))

    # -- the document ------------------------------------------------------------

    def convert(self) -> Converted:
        metadata = _mapping(self.document.get("metadata"))
        raw_name = str(metadata.get("name") or metadata.get("generateName") or "")
        name = self.forced_name or dns_label(raw_name.rstrip("-"))
        if not raw_name:
            raise ArgoError(_at(self.where, "metadata.name"), "is required")
        self.name = name
        entrypoint = self.made_of or self.spec.get("entrypoint")
        if entrypoint is None and len(self.templates) == 1:
            entrypoint = next(iter(self.templates))
        if entrypoint is None:
            raise ArgoError(_at(self.spec_path, "entrypoint"), "is required")
        if str(entrypoint) not in self.templates:
            raise ArgoError(
                _at(self.spec_path, "entrypoint"),
                f"names no template of the document ({entrypoint!r})",
            )
        parameters = self._parameters(str(entrypoint))
        for key in self.spec if self.made_of is None else ():
            if key in _HARMLESS:
                self.note(_at(self.spec_path, key), _HARMLESS[key])
            elif key in _ESSENTIAL_SPEC_FIELDS:
                self.note(
                    _at(self.spec_path, key),
                    _ESSENTIAL_SPEC_FIELDS[key],
                    essential=True,
                )
            elif key not in _SPEC_FIELDS:
                self.note(_at(self.spec_path, key), "not carried over")
        spec: dict[str, Any] = {}
        if parameters:
            spec["parameters"] = parameters
        defaults = self._defaults()
        if defaults:
            spec["defaults"] = defaults
        if isinstance(self.spec.get("parallelism"), int):
            spec["parallelism"] = self.spec["parallelism"]
        if "synchronization" in self.spec:
            sync = self._synchronization(
                self.spec["synchronization"], _at(self.spec_path, "synchronization")
            )
            if sync:
                spec["synchronization"] = sync
        annotations = _mapping(metadata.get("annotations"))
        most = str(annotations.get(_ANNOTATION + "max-active-runs", ""))
        if most.isdigit():
            spec["maxActiveRuns"] = int(most)
        deadline = self.spec.get("activeDeadlineSeconds")
        if deadline is not None:
            spec["timeout"] = _seconds(deadline)
        # Argo fills the entrypoint's (and the exit handler's) inputs from the
        # workflow's arguments of the same name.
        arguments = {
            original: "{{params." + name + "}}"
            for original, name in self.parameter_names.items()
        }
        self.entrypoint = str(entrypoint)
        main = self._expand(str(entrypoint), "", arguments, {}, depth=0)
        if self.run_sync is not None:
            if "synchronization" in spec:
                self.note(
                    _at(self.spec_path, "synchronization"),
                    "Flowdeck holds one semaphore or mutex per run: the "
                    "entrypoint's synchronization is not carried over",
                    essential=True,
                )
            else:
                spec["synchronization"] = self.run_sync
        self.tasks = main.tasks
        outputs = self._workflow_outputs(str(entrypoint), main)
        spec["tasks"] = self.tasks
        on_exit = self.spec.get("onExit") if self.made_of is None else None
        if on_exit is not None:
            if str(on_exit) not in self.templates:
                self.note(
                    _at(self.spec_path, "onExit"),
                    f"names no template ({on_exit!r})",
                    essential=True,
                )
            else:
                exits = self._expand(str(on_exit), "", arguments, {}, depth=0)
                spec["onExit"] = exits.tasks
        if outputs:
            spec["outputs"] = outputs
        for task in [*self.tasks, *spec.get("onExit", ())]:
            task.pop(_RULE, None)
        document = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": self._metadata(name, metadata),
            "spec": spec,
        }
        made_alone = self.kind == "CronWorkflow" and self.made_of is None
        return Converted(
            self.kind,
            name,
            document,
            self._schedules(name) if made_alone else [],
            self.notes,
            dict(self.document),
            generated_from=self.made_of,
            generated=self.generated if self.made_of is None else [],
        )

    def _metadata(self, name: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"name": name}
        annotations = _mapping(metadata.get("annotations"))
        description = annotations.get("workflows.argoproj.io/description")
        if isinstance(description, str):
            result["description"] = description
        labels = {
            str(k): str(v)
            for k, v in _mapping(metadata.get("labels")).items()
            if isinstance(v, str | int | float | bool)
        }
        if labels:
            result["labels"] = labels
        return result

    def _parameters(self, entrypoint: str) -> list[dict[str, Any]]:
        """The workflow's arguments, and the entrypoint's inputs none of them
        fills (a WorkflowTemplate's way of taking parameters), as Flowdeck
        parameters."""
        path = _at(self.spec_path, "arguments.parameters")
        index, template = self.templates[entrypoint]
        inputs_path = _at(
            _at(_at(self.spec_path, "templates"), index), "inputs.parameters"
        )
        declared = [
            (_at(path, i), p)
            for i, p in enumerate(
                _list(_mapping(self.spec.get("arguments")).get("parameters"))
            )
        ]
        named = {str(_mapping(p).get("name")) for _, p in declared}
        declared += [
            (_at(inputs_path, i), p)
            for i, p in enumerate(
                _list(_mapping(template.get("inputs")).get("parameters"))
            )
            if isinstance(p, Mapping) and str(p.get("name")) not in named
        ]
        result = []
        for where, parameter in declared:
            if not isinstance(parameter, Mapping) or "name" not in parameter:
                self.note(where, "a parameter without a name is left out")
                continue
            original = str(parameter["name"])
            name = parameter_name(original)
            if name != original:
                self.note(
                    _at(where, "name"),
                    f"parameter {original!r} is {name!r} (letters, digits and _ only)",
                )
            self.parameter_names[original] = name
            entry: dict[str, Any] = {"name": name}
            value = parameter.get("value", parameter.get("default"))
            if value is not None:
                entry["default"] = str(value)
            if isinstance(parameter.get("description"), str):
                entry["description"] = parameter["description"]
            if "enum" in parameter:
                self.note(
                    _at(where, "enum"),
                    "the list of allowed values is not checked",
                )
            if "valueFrom" in parameter:
                self.note(
                    _at(where, "valueFrom"),
                    "a parameter's valueFrom is not carried over: give it a value",
                    essential=value is None,
                )
            result.append(entry)
        return result

    def _defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        for key in ("serviceAccountName", "priorityClassName", "affinity"):
            if self.spec.get(key) is not None:
                defaults[key] = self.spec[key]
        secrets = [
            s.get("name")
            for s in _list(self.spec.get("imagePullSecrets"))
            if isinstance(s, Mapping) and s.get("name")
        ]
        if secrets:
            defaults["imagePullSecrets"] = secrets
        return defaults

    def _schedules(self, name: str) -> list[dict[str, Any]]:
        cron = _mapping(self.document.get("spec"))
        path = _at(self.where, "spec")
        expressions = _list(cron.get("schedules")) or (
            [cron["schedule"]] if isinstance(cron.get("schedule"), str) else []
        )
        if not expressions:
            self.note(
                _at(path, "schedule"),
                "a CronWorkflow without a schedule",
                essential=True,
            )
        overlap = {
            "Allow": "allow",
            "Forbid": "forbid",
            "Replace": "replace",
        }.get(str(cron.get("concurrencyPolicy", "Allow")), "allow")
        deadline = cron.get("startingDeadlineSeconds")
        catch_up = "latest" if isinstance(deadline, int) and deadline > 0 else "none"
        if deadline:
            self.note(
                _at(path, "startingDeadlineSeconds"),
                "a missed time is started once (catch-up latest), however late",
            )
        for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            if key in cron:
                self.note(_at(path, key), "runs are kept by Flowdeck's own retention")
        return [
            {
                "name": name if len(expressions) == 1 else f"{name}-{i + 1}",
                "kind": "cron",
                "expression": str(expression),
                "timezone": str(cron.get("timezone") or "UTC"),
                "overlap": overlap,
                "catch_up": catch_up,
                "enabled": not cron.get("suspend", False),
            }
            for i, expression in enumerate(expressions)
        ]

    # -- the graph ------------------------------------------------------------------

    def _template(self, name: str, path: str) -> tuple[str, Mapping[str, Any]] | None:
        found = self.templates.get(name)
        if found is None:
            self.note(
                path, f"names no template of the document ({name!r})", essential=True
            )
            return None
        index, template = found
        return _at(_at(self.spec_path, "templates"), index), template

    def _expand(
        self,
        template_name: str,
        prefix: str,
        inputs: Mapping[str, str],
        artifacts: Mapping[str, str],
        *,
        depth: int,
        call_path: str = "",
    ) -> _Sub:
        found = self._template(
            template_name, call_path or _at(self.spec_path, "entrypoint")
        )
        if found is None:
            return _Sub([], [])
        path, template = found
        if depth > 20:
            self.note(
                path, "templates call each other more than 20 deep", essential=True
            )
            return _Sub([], [])
        self._left_out(template, _TEMPLATE_FIELDS, path)
        inputs = {**self._input_defaults(template), **inputs}
        if ("dag" in template or "steps" in template) and "synchronization" in template:
            self._group_synchronization(template, path, template_name, depth)
        if "dag" in template:
            return self._dag(template, path, prefix, inputs, depth)
        if "steps" in template:
            return self._steps(template, path, prefix, inputs, depth)
        for kind in _UNSUPPORTED_TEMPLATES:
            if kind in template:
                self.note(
                    _at(path, kind),
                    f"a {kind} template cannot run on Flowdeck",
                    essential=True,
                )
                return _Sub([], [])
        if "container" in template or "script" in template:
            name = self._unique(prefix.rstrip("-") or dns_label(template_name))
            task = self._leaf(template, path, name, inputs, artifacts)
            return _Sub([name], [name], tasks=[task], single=name)
        self.note(path, "a template with nothing to run", essential=True)
        return _Sub([], [])

    def _group_synchronization(
        self, template: Mapping[str, Any], path: str, name: str, depth: int
    ) -> None:
        """A dag's or steps' synchronization holds for the whole group: the
        entrypoint's is the run's (spec.synchronization); any other group's
        has no Flowdeck equivalent, and dropping it would let two in."""
        where = _at(path, "synchronization")
        sync = self._synchronization(template["synchronization"], where)
        if sync is None:
            return
        if depth == 0 and name == self.entrypoint and self.run_sync is None:
            self.run_sync = sync
            return
        self.note(
            where,
            "a group's synchronization (held while its whole dag or steps run) "
            "is not carried over: hold it on the workflow or on its tasks",
            essential=True,
        )

    def _left_out(self, value: Mapping[str, Any], read: set[str], path: str) -> None:
        """Report each field of `value` the importer does not read, once."""
        for key in value:
            if key not in read and key not in _UNSUPPORTED_TEMPLATES:
                where = _at(path, str(key))
                if not any(note.path == where for note in self.notes):
                    self.note(where, "not carried over")

    def _input_defaults(self, template: Mapping[str, Any]) -> dict[str, str]:
        defaults = {}
        for parameter in _list(_mapping(template.get("inputs")).get("parameters")):
            if isinstance(parameter, Mapping) and parameter.get("name") is not None:
                value = parameter.get("value", parameter.get("default"))
                if value is not None:
                    defaults[str(parameter["name"])] = str(value)
        return defaults

    def _unique(self, name: str) -> str:
        base = dns_label(name)
        candidate, n = base, 2
        while candidate in self.names:
            suffix = f"-{n}"
            candidate = base[: 63 - len(suffix)] + suffix
            n += 1
        self.names.add(candidate)
        return candidate

    def _dag(
        self,
        template: Mapping[str, Any],
        path: str,
        prefix: str,
        inputs: Mapping[str, str],
        depth: int,
    ) -> _Sub:
        dag = _mapping(template.get("dag"))
        dag_path = _at(path, "dag")
        entries = [
            (i, t)
            for i, t in enumerate(_list(dag.get("tasks")))
            if isinstance(t, Mapping)
        ]
        for key in ("failFast", "target"):
            if key in dag:
                self.note(_at(dag_path, key), "not carried over")
        scope: dict[str, _Sub] = {}
        made: list[dict[str, Any]] = []
        by_name = {str(t.get("name")): (i, t) for i, t in entries}
        calls = self._call_settings(template, path)
        for argo_name in _dag_order({n: t for n, (_, t) in by_name.items()}):
            i, entry = by_name[argo_name]
            entry_path = _at(_at(dag_path, "tasks"), i)
            upstream = [
                str(d) for d in _list(entry.get("dependencies")) if str(d) in by_name
            ]
            depends = entry.get("depends")
            sub = self._call(
                entry, entry_path, prefix + argo_name + "-", inputs, scope, depth
            )
            if depends is not None:
                expression = self._depends(
                    str(depends), scope, _at(entry_path, "depends")
                )
                for root in sub.roots:
                    _task_named(sub.tasks, root)["depends"] = expression
            else:
                needed = [
                    s for dep in upstream for s in scope.get(dep, _Sub([], [])).sinks
                ]
                for root in sub.roots:
                    if needed:
                        _task_named(sub.tasks, root)["dependencies"] = needed
            for root in sub.roots:
                _exported_rule(_task_named(sub.tasks, root))
            if sub.single is not None and argo_name in calls:
                _task_named(sub.tasks, sub.single).update(calls[argo_name])
            scope[argo_name] = sub
            made.extend(sub.tasks)
        return self._sub_of(made, scope, template, path, inputs)

    def _call_settings(
        self, template: Mapping[str, Any], path: str
    ) -> dict[str, dict[str, Any]]:
        """The settings of sub-workflow calls a Flowdeck export noted on the
        dag (docs/argo.md)."""
        annotations = _mapping(_mapping(template.get("metadata")).get("annotations"))
        text = annotations.get(_ANNOTATION + "calls")
        if text is None:
            return {}
        try:
            calls = json.loads(str(text))
        except ValueError:
            calls = None
        if not isinstance(calls, dict):
            self.note(
                _at(path, f"metadata.annotations.{_ANNOTATION}calls"),
                "not a JSON object: left out",
            )
            return {}
        return {
            str(name): {
                key: value
                for key, value in _mapping(settings).items()
                if key in ("timeout", "retry", "priority")
            }
            for name, settings in calls.items()
        }

    def _steps(
        self,
        template: Mapping[str, Any],
        path: str,
        prefix: str,
        inputs: Mapping[str, str],
        depth: int,
    ) -> _Sub:
        steps_path = _at(path, "steps")
        scope: dict[str, _Sub] = {}
        made: list[dict[str, Any]] = []
        previous: list[str] = []
        for g, group in enumerate(_list(template.get("steps"))):
            group_path = _at(steps_path, g)
            current: list[str] = []
            for s, step in enumerate(_list(group)):
                if not isinstance(step, Mapping):
                    continue
                argo_name = str(step.get("name"))
                sub = self._call(
                    step,
                    _at(group_path, s),
                    prefix + argo_name + "-",
                    inputs,
                    scope,
                    depth,
                )
                for root in sub.roots:
                    if previous:
                        _task_named(sub.tasks, root)["dependencies"] = list(previous)
                scope[argo_name] = sub
                made.extend(sub.tasks)
                current.extend(sub.sinks)
            previous = current or previous
        return self._sub_of(made, scope, template, path, inputs)

    def _relax_after_conditions(self, tasks: list[dict[str, Any]]) -> None:
        """Argo runs a task whose upstream was skipped by its condition (a
        skipped dependency counts as done): Flowdeck's rule for that is
        noneFailed."""
        conditional = {task["name"] for task in tasks if "when" in task}
        for task in tasks:
            if (
                set(task.get("dependencies", ())) & conditional
                and "triggerRule" not in task
                and _RULE not in task
            ):
                task["triggerRule"] = "noneFailed"

    def _sub_of(
        self,
        made: list[dict[str, Any]],
        scope: Mapping[str, _Sub],
        template: Mapping[str, Any],
        path: str,
        inputs: Mapping[str, str],
    ) -> _Sub:
        names = [task["name"] for task in made]
        has_upstream = {name for task in made for name in task.get("dependencies", ())}
        for task in made:
            if "depends" in task:
                has_upstream |= {m[0] for m in _DEPENDS_WORD.findall(task["depends"])}
        self._relax_after_conditions(made)
        roots = [
            t["name"] for t in made if not t.get("dependencies") and "depends" not in t
        ]
        sinks = [name for name in names if name not in has_upstream]
        outputs: dict[str, str] = {}
        declared = _mapping(template.get("outputs"))
        for kind, source_key in (("parameters", "parameter"), ("artifacts", "from")):
            for i, output in enumerate(_list(declared.get(kind))):
                if not isinstance(output, Mapping):
                    continue
                where = _at(_at(path, f"outputs.{kind}"), i)
                source = (
                    _mapping(output.get("valueFrom")).get(source_key)
                    if kind == "parameters"
                    else output.get(source_key)
                )
                if isinstance(source, str):
                    outputs[f"{kind}.{output.get('name')}"] = self._rewrite(
                        source, scope, inputs, where
                    )
                else:
                    field_name = (
                        "valueFrom.parameter" if kind == "parameters" else "from"
                    )
                    self.note(
                        where,
                        f"output {output.get('name')!r}: only one taken from a "
                        f"task's output ({field_name}) is carried over",
                    )
        return _Sub(roots, sinks, outputs, made)

    def _call(
        self,
        entry: Mapping[str, Any],
        path: str,
        prefix: str,
        inputs: Mapping[str, str],
        scope: Mapping[str, _Sub],
        depth: int,
    ) -> _Sub:
        """A dag task or a step: the template it calls, with its arguments,
        condition, loop and continueOn."""
        self._left_out(entry, _CALL_FIELDS, path)
        arguments = _mapping(entry.get("arguments"))
        values = {
            str(p.get("name")): self._rewrite(
                str(p.get("value", "")),
                scope,
                inputs,
                _at(path, f"arguments.parameters[{i}]"),
            )
            for i, p in enumerate(_list(arguments.get("parameters")))
            if isinstance(p, Mapping)
        }
        artifacts = {
            str(a.get("name")): self._rewrite(
                str(a.get("from", "")), scope, inputs, path
            )
            for a in _list(arguments.get("artifacts"))
            if isinstance(a, Mapping) and a.get("from")
        }
        if "templateRef" in entry:
            sub = self._template_ref(entry, path, prefix, values)
            return self._call_fields(entry, path, inputs, scope, sub)
        called = self.templates.get(str(entry.get("template")))
        looped = any(k in entry for k in ("withItems", "withParam", "withSequence"))
        if (
            looped
            and called is not None
            and ("dag" in called[1] or "steps" in called[1])
        ):
            sub = self._looped_group(str(entry["template"]), path, prefix, values)
            return self._call_fields(entry, path, inputs, scope, sub)
        if "inline" in entry:
            self.note(
                _at(path, "inline"),
                "inline templates are not carried over",
                essential=True,
            )
            return _Sub([], [])
        if "template" not in entry:
            self.note(path, "calls no template", essential=True)
            return _Sub([], [])
        sub = self._expand(
            str(entry["template"]),
            prefix,
            values,
            artifacts,
            depth=depth + 1,
            call_path=_at(path, "template"),
        )
        return self._call_fields(entry, path, inputs, scope, sub)

    def _call_fields(
        self,
        entry: Mapping[str, Any],
        path: str,
        inputs: Mapping[str, str],
        scope: Mapping[str, _Sub],
        sub: _Sub,
    ) -> _Sub:
        """A call's condition, loop and continueOn, on what it expanded to."""
        single = len(sub.tasks) == 1
        for key in ("withItems", "withParam", "withSequence", "when", "continueOn"):
            if key not in entry:
                continue
            if not single and key != "when":
                self.note(
                    _at(path, key),
                    f"{key} on a call of a dag or steps template is not carried over",
                    essential=key != "continueOn",
                )
                continue
            value = entry[key]
            if key in ("withParam", "when"):
                value = self._rewrite(str(value), scope, inputs, _at(path, key))
            if key == "withSequence":
                value = {
                    k: int(v) if k != "format" else v
                    for k, v in _mapping(value).items()
                    if k in ("count", "start", "end", "format")
                }
            if key == "continueOn":
                value = {
                    k: bool(v)
                    for k, v in _mapping(value).items()
                    if k in ("failed", "error")
                }
            for root in sub.roots if key == "when" else [t["name"] for t in sub.tasks]:
                _task_named(sub.tasks, root)[key] = value
        for key in ("onExit", "hooks", "target"):
            if key in entry:
                self.note(_at(path, key), "not carried over")
        return sub

    def _looped_group(
        self, template_name: str, path: str, prefix: str, values: Mapping[str, str]
    ) -> _Sub:
        """A loop over a dag or steps template: the template becomes a
        workflow of its own (made once per document), and the call a task
        that runs it as a sub-workflow, one child run per item."""
        made = self.made.get(template_name)
        if made is None:
            child_name = dns_label(f"{self.name}-{template_name}")
            child = _Importer(
                self.document,
                self.kind,
                self.batch,
                self.where,
                made_of=template_name,
                name=child_name,
                made=self.made,
                generated=self.generated,
            )
            # Known before it converts: a template that loops over itself.
            self.made[template_name] = (child_name, set())
            converted = child.convert()
            made = (child_name, set(child.parameter_names.values()))
            self.made[template_name] = made
            self.generated.append(converted)
        child_name, accepted = made
        passed = {parameter_name(k): v for k, v in values.items()}
        # The workflow's own parameters, which its templates read too.
        for flowdeck_name in self.parameter_names.values():
            passed.setdefault(flowdeck_name, "{{params." + flowdeck_name + "}}")
        name = self._unique(prefix.rstrip("-"))
        call: dict[str, Any] = {"name": child_name}
        parameters = {k: v for k, v in passed.items() if k in accepted}
        if parameters:
            call["parameters"] = parameters
        self.note(
            path,
            f"a loop over template {template_name!r}: each item runs workflow "
            f"{child_name!r}, made of that template, as a sub-workflow",
        )
        return _Sub(
            [name], [name], tasks=[{"name": name, "workflow": call}], single=name
        )

    def _template_ref(
        self,
        entry: Mapping[str, Any],
        path: str,
        prefix: str,
        values: Mapping[str, str],
    ) -> _Sub:
        ref = _mapping(entry.get("templateRef"))
        ref_path = _at(path, "templateRef")
        other = self.batch.get(str(ref.get("name")))
        if other is not None:
            entrypoint = _mapping(_mapping(other).get("spec")).get("entrypoint")
            if ref.get("template") != entrypoint:
                self.note(
                    _at(ref_path, "template"),
                    f"calls {ref.get('template')!r}, not the entrypoint of "
                    f"{ref.get('name')!r}: only a call of a WorkflowTemplate's "
                    "entrypoint is carried over (as a sub-workflow)",
                    essential=True,
                )
                return _Sub([], [])
        else:
            self.note(
                ref_path,
                f"calls workflow {dns_label(str(ref.get('name')))!r} as a "
                f"sub-workflow: it must exist in the project, and "
                f"{ref.get('template')!r} must be its entrypoint",
            )
        name = self._unique(prefix.rstrip("-"))
        task: dict[str, Any] = {
            "name": name,
            "workflow": {"name": dns_label(str(ref.get("name")))},
        }
        if values:
            task["workflow"]["parameters"] = {
                parameter_name(key): value for key, value in values.items()
            }
        return _Sub([name], [name], tasks=[task], single=name)

    def _depends(self, expression: str, scope: Mapping[str, _Sub], path: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name, result = match.group(1), match.group(2)
            sub = scope.get(name)
            if sub is None:
                return match.group(0)
            if result in ("AnySucceeded", "AllFailed", "Daemoned"):
                self.note(path, f"{name}.{result} reads as {name}.Succeeded")
                result = "Succeeded"
            parts = [f"{sink}.{result}" if result else sink for sink in sub.sinks]
            if len(parts) == 1:
                return parts[0]
            joiner = " || " if result in ("Failed", "Errored") else " && "
            return "(" + joiner.join(parts) + ")"

        return _DEPENDS_WORD.sub(replace, expression)

    # -- a container or script --------------------------------------------------

    def _leaf(
        self,
        template: Mapping[str, Any],
        path: str,
        name: str,
        inputs: Mapping[str, str],
        artifacts: Mapping[str, str],
    ) -> dict[str, Any]:
        script = "script" in template
        body = _mapping(template.get("script" if script else "container"))
        body_path = _at(path, "script" if script else "container")
        self._left_out(body, _CONTAINER_FIELDS, body_path)

        def text(value: Any, where: str) -> str:
            return self._rewrite(str(value), {}, inputs, where)

        task: dict[str, Any] = {"name": name}
        if body.get("image") is not None:
            task["image"] = text(body["image"], _at(body_path, "image"))
        command = [
            text(c, _at(body_path, "command")) for c in _list(body.get("command"))
        ]
        args = [text(a, _at(body_path, "args")) for a in _list(body.get("args"))]
        if script:
            source = text(body.get("source", ""), _at(body_path, "source"))
            interpreter = command or ["sh"]
            flag = _INTERPRETER_FLAGS.get(interpreter[0].rsplit("/", 1)[-1], "-c")
            command = [*interpreter, flag, source]
        outputs, copies = self._outputs(template, path)
        if copies:
            command, args = _with_copies(command, args, copies)
            self.note(
                _at(path, "outputs"),
                "outputs written outside /flowdeck/outputs/ are copied there when the "
                "command ends (the image needs /bin/sh)",
            )
        if command:
            task["command"] = command
        if args:
            task["args"] = args
        env = self._env(body, body_path, inputs)
        if env:
            task["env"] = env
        for key in ("workingDir", "imagePullPolicy", "resources"):
            if body.get(key):
                task[key] = body[key]
        if body.get("securityContext"):
            task["securityContext"] = body["securityContext"]
        mounts = [m for m in _list(body.get("volumeMounts")) if isinstance(m, Mapping)]
        if mounts:
            self._volumes(task, mounts, template, _at(body_path, "volumeMounts"))
        for key in (
            "nodeSelector",
            "tolerations",
            "affinity",
            "priorityClassName",
            "serviceAccountName",
        ):
            if template.get(key):
                task[key] = template[key]
        # The workflow's own apply to every pod: Argo merges a node selector
        # (the template's keys winning) and adds the tolerations.
        if isinstance(self.spec.get("nodeSelector"), Mapping):
            merged = {**self.spec["nodeSelector"], **task.get("nodeSelector", {})}
            task["nodeSelector"] = merged
        if isinstance(self.spec.get("tolerations"), list):
            task["tolerations"] = [
                *self.spec["tolerations"],
                *task.get("tolerations", []),
            ]
        if "podSpecPatch" in self.spec:
            self._pod_spec_patch(
                task, self.spec["podSpecPatch"], self.spec_path, once=True
            )
        if "retryStrategy" in template:
            retry = self._retry(
                _mapping(template["retryStrategy"]), _at(path, "retryStrategy")
            )
            if retry:
                task["retry"] = retry
        for key in ("activeDeadlineSeconds", "timeout"):
            if template.get(key) is not None:
                task["timeout"] = _seconds(template[key])
        if outputs:
            task["outputs"] = outputs
        inputs_artifacts = self._input_artifacts(template, path, artifacts)
        if inputs_artifacts:
            task["inputs"] = {"artifacts": inputs_artifacts}
        if "podSpecPatch" in template:
            self._pod_spec_patch(task, template["podSpecPatch"], path)
        if "synchronization" in template:
            sync = self._synchronization(
                template["synchronization"], _at(path, "synchronization")
            )
            if sync:
                task["synchronization"] = sync
        for key in ("initContainers", "sidecars"):
            containers = self._extra_containers(task, template, path, key, inputs)
            if containers:
                task[key] = containers
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        exported_daemon = _ANNOTATION + "daemon" in annotations
        for key in ("daemon", "memoize", "metrics"):
            if key == "daemon" and exported_daemon:
                continue  # Flowdeck's own daemon: its annotation brings it back
            if key in template:
                self.note(
                    _at(path, key),
                    f"{key} is not carried over",
                    essential=key == "daemon",
                )
        self._flowdeck_annotations(task, template, path)
        return task

    def _extra_containers(
        self,
        task: dict[str, Any],
        template: Mapping[str, Any],
        path: str,
        key: str,
        inputs: Mapping[str, str],
    ) -> list[dict[str, Any]]:
        """A template's init containers or sidecars as the task's; the volumes
        they mount join the task's."""
        converted = []
        for i, body in enumerate(_list(template.get(key))):
            if not isinstance(body, Mapping):
                continue
            where = _at(_at(path, key), i)
            self._left_out(
                body,
                (_CONTAINER_FIELDS - {"source", "securityContext"})
                | {"mirrorVolumeMounts"},
                where,
            )
            container: dict[str, Any] = {"name": str(body.get("name", f"c{i}"))}
            for part in ("image", "command", "args"):
                value = body.get(part)
                if isinstance(value, list):
                    container[part] = [
                        self._rewrite(str(v), {}, inputs, _at(where, part))
                        for v in value
                    ]
                elif value is not None:
                    container[part] = self._rewrite(
                        str(value), {}, inputs, _at(where, part)
                    )
            env = self._env(body, where, inputs)
            if env:
                container["env"] = env
            for part in ("workingDir", "imagePullPolicy", "resources"):
                if body.get(part):
                    container[part] = body[part]
            mounts = [
                m for m in _list(body.get("volumeMounts")) if isinstance(m, Mapping)
            ]
            if body.get("mirrorVolumeMounts"):
                mounts = [*task.get("volumeMounts", ()), *mounts]
            if mounts:
                own: dict[str, Any] = {}
                self._volumes(own, mounts, template, _at(where, "volumeMounts"))
                names = {v["name"] for v in task.get("volumes", ())}
                for volume in own.get("volumes", ()):
                    if volume["name"] not in names:
                        task.setdefault("volumes", []).append(volume)
                if own.get("volumeMounts"):
                    container["volumeMounts"] = own["volumeMounts"]
            converted.append(container)
        return converted

    def _synchronization(self, value: Any, where: str) -> dict[str, str] | None:
        """Argo's synchronization (`semaphores`, `mutexes`, or the older
        `semaphore`, `mutex`) as Flowdeck's one semaphore or mutex: a
        semaphore is named by its ConfigMap key, and its limit is the
        project's (docs/spec.md, Concurrency)."""
        sync = _mapping(value)
        semaphores = [*_list(sync.get("semaphores")), sync.get("semaphore")]
        mutexes = [*_list(sync.get("mutexes")), sync.get("mutex")]
        found: list[tuple[str, str]] = []
        for item in semaphores:
            if item is None:
                continue
            ref = _mapping(_mapping(item).get("configMapKeyRef"))
            if not ref.get("key"):
                self.note(
                    where,
                    "a semaphore without a configMapKeyRef key is not carried over",
                    essential=True,
                )
                continue
            name = dns_label(str(ref["key"]))
            found.append(("semaphore", name))
            if ref.get("name") != SEMAPHORE_CONFIG_MAP:
                self.note(
                    where,
                    f"semaphore {name}: its limit is the project's semaphore "
                    f"{name} (a project admin defines it), not ConfigMap "
                    f"{ref.get('name')}'s",
                )
        for item in mutexes:
            if item is None:
                continue
            mutex = _mapping(item).get("name")
            if mutex:
                found.append(("mutex", dns_label(str(mutex))))
        if len(found) > 1:
            kind, name = found[0]
            self.note(
                where,
                f"Flowdeck holds one semaphore or mutex per task or run: only "
                f"{kind} {name} is carried over",
                essential=True,
            )
        if not found:
            return None
        kind, name = found[0]
        return {kind: name}

    def _pod_spec_patch(
        self, task: dict[str, Any], patch: Any, path: str, *, once: bool = False
    ) -> None:
        """The parts of a podSpecPatch a task has fields for: the pod's
        scheduling fields and the main container's resources. `once`: the
        workflow's, applied to every task but reported once."""
        where = _at(path, "podSpecPatch")
        reported = once and any(note.path == where for note in self.notes)
        try:
            parsed = yaml.safe_load(patch) if isinstance(patch, str) else patch
        except yaml.YAMLError:
            parsed = None
        if not isinstance(parsed, Mapping):
            if not reported:
                self.note(where, "not a YAML or JSON object: not carried over")
            return
        left = []
        for key, value in parsed.items():
            if key in (
                "nodeSelector",
                "tolerations",
                "affinity",
                "priorityClassName",
                "serviceAccountName",
            ):
                task[str(key)] = value
            elif key == "containers" and isinstance(value, list):
                for container in value:
                    container = _mapping(container)
                    extra = set(container) - {"name", "resources"}
                    if container.get("name") == "main" and not extra:
                        if container.get("resources") is not None:
                            task["resources"] = container["resources"]
                    else:
                        left.append(f"containers[{container.get('name')}]")
            else:
                left.append(str(key))
        if left and not reported:
            self.note(
                where,
                f"{', '.join(left)} of the patch not carried over (only the pod's "
                "scheduling fields and the main container's resources are)",
            )

    def _flowdeck_annotations(
        self, task: dict[str, Any], template: Mapping[str, Any], path: str
    ) -> None:
        """What a Flowdeck export left in annotations (docs/argo.md)."""
        metadata = _mapping(template.get("metadata"))
        annotations = _mapping(metadata.get("annotations"))
        own = {
            str(k)[len(_ANNOTATION) :]: str(v)
            for k, v in annotations.items()
            if str(k).startswith(_ANNOTATION)
        }
        foreign = set(metadata) - {"annotations"} or set(annotations) - {
            _ANNOTATION + k for k in own
        }
        if foreign:
            self.note(
                _at(path, "metadata"), "pod labels and annotations are not carried over"
            )
        if "trigger-rule" in own:
            task[_RULE] = own["trigger-rule"]
        if own.get("parallelism", "").isdigit():
            task["parallelism"] = int(own["parallelism"])
        if "result-path" in own:
            task.setdefault("outputs", {})["result"] = {
                "valueFrom": {"path": own["result-path"]}
            }
        if own.get("priority", "").lstrip("-").isdigit():
            task["priority"] = int(own["priority"])
        secret = set(own.get("secret-env", "").split(","))
        for entry in task.get("env", ()):
            if entry["name"] in secret:
                entry["secret"] = True
        secret_outputs = set(own.get("secret-outputs", "").split(","))
        for parameter in task.get("outputs", {}).get("parameters", ()):
            if parameter["name"] in secret_outputs:
                parameter["secret"] = True
        if "job" in own:
            try:
                job = json.loads(own["job"])
            except ValueError:
                job = None
            if isinstance(job, dict):
                task["kind"] = "Job"
                if job:
                    task["job"] = job
            else:
                self.note(_at(path, "metadata"), "flowdeck.io/job is not a JSON object")
        if "daemon" in own:
            try:
                daemon = json.loads(own["daemon"])
            except ValueError:
                daemon = None
            if isinstance(daemon, dict):
                task["daemon"] = True
                task.update(daemon)
            else:
                self.note(
                    _at(path, "metadata"), "flowdeck.io/daemon is not a JSON object"
                )

    def _env(
        self, body: Mapping[str, Any], path: str, inputs: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        env = []
        for i, entry in enumerate(_list(body.get("env"))):
            if not isinstance(entry, Mapping) or "name" not in entry:
                continue
            where = _at(_at(path, "env"), i)
            if "valueFrom" in entry:
                source = _mapping(entry["valueFrom"])
                kept = {
                    k: source[k]
                    for k in ("secretKeyRef", "configMapKeyRef")
                    if k in source
                }
                if not kept:
                    self.note(
                        where,
                        f"env {entry['name']}: valueFrom {sorted(source)} is not "
                        "carried over",
                    )
                    continue
                env.append({"name": entry["name"], "valueFrom": kept})
            elif entry["name"] in ("FLOWDECK_OUTPUTS", "FLOWDECK_INPUTS"):
                continue  # what every Flowdeck backend sets
            else:
                env.append(
                    {
                        "name": entry["name"],
                        "value": self._rewrite(
                            str(entry.get("value", "")), {}, inputs, where
                        ),
                    }
                )
        if body.get("envFrom"):
            self.note(
                _at(path, "envFrom"), "envFrom is not carried over: list the variables"
            )
        return env

    def _volumes(
        self,
        task: dict[str, Any],
        mounts: list[Mapping[str, Any]],
        template: Mapping[str, Any],
        path: str,
    ) -> None:
        own = {
            str(v.get("name")): v
            for v in _list(template.get("volumes"))
            if isinstance(v, Mapping)
        }
        volumes, kept = [], []
        for i, mount in enumerate(mounts):
            name = str(mount.get("name"))
            if name == "flowdeck" and mount.get("mountPath") == "/flowdeck":
                continue  # what every Flowdeck backend mounts itself
            volume = own.get(name) or self.volumes.get(name)
            if volume is None:
                self.note(
                    _at(path, i),
                    f"mounts volume {name!r}, which is declared nowhere",
                    essential=True,
                )
                continue
            source = [
                k
                for k in ("emptyDir", "configMap", "secret", "persistentVolumeClaim")
                if k in volume
            ]
            if not source:
                self.note(
                    _at(path, i),
                    f"volume {name!r}: only emptyDir, configMap, secret and "
                    "persistentVolumeClaim volumes are carried over",
                    essential=True,
                )
                continue
            if volume not in volumes:
                volumes.append({"name": name, source[0]: volume[source[0]] or {}})
            kept.append(
                {
                    k: mount[k]
                    for k in ("name", "mountPath", "subPath", "readOnly")
                    if k in mount
                }
            )
        if volumes:
            task["volumes"] = volumes
            task["volumeMounts"] = kept

    def _retry(self, strategy: Mapping[str, Any], path: str) -> dict[str, Any]:
        retry: dict[str, Any] = {}
        limit = strategy.get("limit")
        if limit is not None:
            try:
                retry["limit"] = min(50, int(str(limit)))
            except ValueError:
                self.note(
                    _at(path, "limit"), f"limit {limit!r} is not a number: no retries"
                )
        # Argo's default policy is OnFailure.
        policy = strategy.get("retryPolicy") or "OnFailure"
        retry["on"] = _RETRY_ON.get(str(policy), ["Failed", "Error"])
        if policy not in _RETRY_ON:
            self.note(_at(path, "retryPolicy"), f"{policy!r} is read as Always")
        if policy == "OnTransientError":
            self.note(_at(path, "retryPolicy"), "OnTransientError retries every Error")
        backoff = _mapping(strategy.get("backoff"))
        converted: dict[str, Any] = {}
        if backoff.get("duration") is not None:
            converted["delay"] = _seconds(backoff["duration"])
        if backoff.get("factor") is not None:
            converted["factor"] = float(str(backoff["factor"]))
        if backoff.get("cap") is not None:
            converted["maxDelay"] = _seconds(backoff["cap"])
        if backoff.get("maxDuration") is not None:
            self.note(
                _at(path, "backoff.maxDuration"),
                "the cap on the whole time spent retrying is not carried over "
                "(the task's timeout bounds each attempt)",
            )
        if converted:
            retry["backoff"] = converted
        for key in ("expression", "affinity"):
            if key in strategy:
                self.note(_at(path, key), "not carried over")
        return retry

    def _outputs(
        self, template: Mapping[str, Any], path: str
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The template's outputs, with the copies (Argo path, Flowdeck path)
        that bring files written elsewhere under /flowdeck/outputs/."""
        outputs = _mapping(template.get("outputs"))
        converted: dict[str, Any] = {}
        copies: list[tuple[str, str]] = []
        parameters = []
        for i, parameter in enumerate(_list(outputs.get("parameters"))):
            where = _at(_at(path, "outputs.parameters"), i)
            if not isinstance(parameter, Mapping) or "name" not in parameter:
                continue
            source = _mapping(parameter.get("valueFrom"))
            if "path" not in source:
                self.note(
                    where,
                    f"output {parameter['name']}: only valueFrom.path is carried over",
                    essential=False,
                )
                continue
            target = _target(str(source["path"]), str(parameter["name"]))
            if str(source["path"]) != target:
                copies.append((str(source["path"]), target))
            entry: dict[str, Any] = {
                "name": str(parameter["name"]),
                "valueFrom": {"path": target},
            }
            if source.get("default") is not None:
                entry["valueFrom"]["default"] = str(source["default"])
            parameters.append(entry)
        if parameters:
            converted["parameters"] = parameters
        artifacts = []
        for i, artifact in enumerate(_list(outputs.get("artifacts"))):
            where = _at(_at(path, "outputs.artifacts"), i)
            if not isinstance(artifact, Mapping) or "path" not in artifact:
                continue
            for key in (
                "s3",
                "gcs",
                "git",
                "http",
                "oss",
                "hdfs",
                "azure",
                "artifactory",
            ):
                if key in artifact:
                    self.note(
                        _at(where, key), "kept in Flowdeck's artifact store instead"
                    )
            target = _target(str(artifact["path"]), str(artifact["name"]))
            if str(artifact["path"]) != target:
                copies.append((str(artifact["path"]), target))
            entry = {"name": str(artifact["name"]), "path": target}
            if artifact.get("optional"):
                entry["optional"] = True
            artifacts.append(entry)
        if artifacts:
            converted["artifacts"] = artifacts
        if "result" in outputs:
            self.note(_at(path, "outputs.result"), "the result is the task's output")
        return converted, copies

    def _input_artifacts(
        self, template: Mapping[str, Any], path: str, sources: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        placed = []
        for i, artifact in enumerate(
            _list(_mapping(template.get("inputs")).get("artifacts"))
        ):
            if not isinstance(artifact, Mapping):
                continue
            where = _at(_at(path, "inputs.artifacts"), i)
            name = str(artifact.get("name"))
            source = sources.get(name) or artifact.get("from")
            if not source or "path" not in artifact:
                self.note(
                    where,
                    f"input artifact {name}: only one taken from an upstream task's "
                    "output artifact is carried over",
                    essential=not artifact.get("optional"),
                )
                continue
            entry: dict[str, Any] = {
                "name": name,
                "from": str(source),
                "path": str(artifact["path"]),
            }
            if artifact.get("optional"):
                entry["optional"] = True
            placed.append(entry)
        return placed

    def _workflow_outputs(self, entrypoint: str, main: _Sub) -> dict[str, Any]:
        """The entrypoint's outputs, as the workflow's."""
        declared = _mapping(self.templates[entrypoint][1].get("outputs"))
        result: dict[str, Any] = {}
        for kind, field_name in (("parameters", "value"), ("artifacts", "from")):
            entries = []
            for output in _list(declared.get(kind)):
                if not isinstance(output, Mapping) or "name" not in output:
                    continue
                source = main.output(f"{kind}.{output['name']}")
                if source is None:
                    continue
                entry = {"name": str(output["name"]), field_name: source}
                if isinstance(output.get("description"), str):
                    entry["description"] = output["description"]
                entries.append(entry)
            if entries:
                result[kind] = entries
        return result

    # -- references --------------------------------------------------------------------

    def _rewrite(
        self,
        text: str,
        scope: Mapping[str, _Sub],
        inputs: Mapping[str, str],
        path: str,
    ) -> str:
        def replace(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            parts = expression.split(".")
            if parts[:2] == ["inputs", "parameters"] and len(parts) == 3:
                if parts[2] in inputs:
                    return inputs[parts[2]]
                self.note(
                    path,
                    f"{{{{{expression}}}}}: the template's caller passes no such "
                    "parameter",
                    essential=True,
                )
                return match.group(0)
            if parts[:2] == ["workflow", "parameters"] and len(parts) == 3:
                return "{{params." + self.parameter_names.get(parts[2], parts[2]) + "}}"
            if parts[:2] == ["workflow", "status"]:
                return "{{run.status}}"
            if parts[:2] == ["workflow", "failures"]:
                return "{{run.failures}}"
            if parts[:2] in (["workflow", "uid"], ["workflow", "name"]):
                return "{{run.id}}"
            if parts[0] == "item":
                return match.group(0)
            if parts[0] == "tasks" and len(parts) == 3 and parts[2] == "ip":
                return match.group(0)  # a daemon's address, written alike
            if (
                parts[0] in ("tasks", "steps")
                and len(parts) >= 4
                and parts[2] == "outputs"
            ):
                sub = scope.get(parts[1])
                found = sub.output(".".join(parts[3:])) if sub is not None else None
                if found is not None:
                    return found
            self.note(path, f"{{{{{expression}}}}} is not carried over (left as it is)")
            return match.group(0)

        return _REF.sub(replace, text)


def _exported_rule(task: dict[str, Any]) -> None:
    """A task a Flowdeck export wrote: its trigger rule, noted on its
    template, replaces the depends expression written for Argo's sake."""
    rule = task.get(_RULE)
    if rule is None:
        return
    if "depends" in task:
        named = [m[0] for m in _DEPENDS_WORD.findall(task.pop("depends"))]
        task["dependencies"] = list(dict.fromkeys(named))
    if rule != "allSucceeded":
        task["triggerRule"] = rule


def _task_named(tasks: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(task for task in tasks if task["name"] == name)


def _dag_order(tasks: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """The dag's tasks, each after the ones it depends on (document order
    otherwise; a cycle's tasks come last, in document order)."""
    done: set[str] = set()
    remaining = list(tasks)
    while remaining:
        progressed = False
        for name in list(remaining):
            entry = tasks[name]
            needed = {str(d) for d in _list(entry.get("dependencies"))}
            if isinstance(entry.get("depends"), str):
                needed |= {m[0] for m in _DEPENDS_WORD.findall(entry["depends"])}
            if (needed & set(tasks)) <= done:
                done.add(name)
                remaining.remove(name)
                progressed = True
                yield name
        if not progressed:
            yield from remaining
            return


def _target(path: str, name: str) -> str:
    """Where Flowdeck reads an output that Argo reads at `path`."""
    if path.startswith(OUTPUTS_DIR + "/"):
        return path
    return f"{OUTPUTS_DIR}/{dns_label(name)}"


def _seconds(value: Any) -> str:
    """An Argo duration (seconds as a number or text, or a Go duration such
    as 1m30s) as a Flowdeck one."""
    text = str(value).strip()
    if text.isdigit():
        return f"{text}s"
    return text


def _with_copies(
    command: list[str], args: list[str], copies: list[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """The command run under sh, copying the outputs it wrote elsewhere to
    where Flowdeck reads them once it ends, and ending as it did."""
    steps = " ".join(
        f'cp -r "{source}" "{target}" 2>/dev/null;' for source, target in copies
    )
    script = f'"$@"; code=$?; mkdir -p {OUTPUTS_DIR}; {steps} exit $code'
    return ["sh", "-c", script, "argo-task", *command, *args], []
