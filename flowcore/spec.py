"""Parse a workflow spec document (JSON or YAML) into plain dataclasses, and
render a task's parameters for a run.

Pure: no Django, no HTTP, no Kubernetes API calls. Every error carries the path of
the field it is about ("spec.tasks[3].resources.limits.cpu") so the API and the
editor can point at it. The format is documented in docs/spec.md.

The spec modules layer without cycles; this one is their front door and
re-exports what the others define:
  spec_base        FieldError, SpecError, Limits, constants, the scalar grammar
  spec_document    parse_document, dump_document (text <-> mapping)
  validation/      validate (mapping -> every FieldError), by part of the spec
  spec             the dataclasses, parse_spec, render_parameters, render_task
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flowcore.concurrency import KINDS, Synchronization
from flowcore.conditions import depended_tasks, parse_depends
from flowcore.fanout import FanOut, Sequence_, item_field, item_text
from flowcore.spec_base import (
    API_VERSION,
    DEFAULT_MAX_SPEC_BYTES,
    DEFAULT_MAX_TASKS,
    DEFAULT_RETRY_ON,
    KIND,
    MAX_NAME_LENGTH,
    MAX_PRIORITY,
    MAX_RETRY_LIMIT,
    MIN_PRIORITY,
    PROBE_KINDS,
    STANDARD_RESOURCES,
    TOLERATION_EFFECTS,
    TOLERATION_OPERATORS,
    TRIGGER_RULES,
    FieldError,
    Limits,
    SpecError,
    field_path,
    parameter_text,
    parse_duration,
    quantity_text,
    text_problem,
    to_seconds,
)
from flowcore.spec_document import dump_document, parse_document
from flowcore.templates import TEMPLATE, Reference, find_references, parse_reference
from flowcore.templates import render as render_template
from flowcore.validation import validate

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_SPEC_BYTES",
    "DEFAULT_MAX_TASKS",
    "DEFAULT_RETRY_ON",
    "KIND",
    "MAX_NAME_LENGTH",
    "MAX_PRIORITY",
    "MAX_RETRY_LIMIT",
    "MIN_PRIORITY",
    "STANDARD_RESOURCES",
    "TOLERATION_EFFECTS",
    "TOLERATION_OPERATORS",
    "Backoff",
    "ContainerSpec",
    "JobSpec",
    "DaemonSpec",
    "DaemonPort",
    "DaemonStorage",
    "EnvVar",
    "FieldError",
    "InputArtifact",
    "OutputArtifact",
    "OutputParameter",
    "Outputs",
    "WorkflowOutputArtifact",
    "WorkflowOutputParameter",
    "Limits",
    "Parameter",
    "Resources",
    "RetryPolicy",
    "SpecError",
    "SubWorkflow",
    "Synchronization",
    "TaskSpec",
    "WorkflowSpec",
    "dump_document",
    "parse_document",
    "parse_duration",
    "parse_spec",
    "render_parameters",
    "render_task",
    "validate",
]


@dataclass(frozen=True, slots=True)
class Backoff:
    delay: float = 10.0  # seconds before the first retry
    factor: float = 2.0
    max_delay: float = 300.0

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1 = first retry):
        min(max_delay, delay × factor^(n−1)), for any factor without overflow.

        The spec's ranges keep the product a finite float, but a version saved
        before they existed may have a factor such as 1e308, whose power no
        float holds: such a wait is past any cap.
        """
        try:
            wait = self.delay * self.factor ** (retry_number - 1)
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, wait)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    limit: int = 0  # retries after the first attempt
    backoff: Backoff = field(default_factory=Backoff)
    on: frozenset[str] = frozenset(DEFAULT_RETRY_ON)  # task statuses that retry


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str | None = None
    value_from: Mapping[str, Any] | None = None  # Kubernetes EnvVarSource shape
    secret: bool = False  # the value is never shown back


@dataclass(frozen=True, slots=True)
class Resources:
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One of a task's extra containers (`initContainers`, `sidecars`): the
    main container's fields, sharing the task's volumes and security context.
    `image` is the task's (after defaults) when the container names none."""

    name: str
    image: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()
    resources: Resources = field(default_factory=Resources)
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    working_dir: str | None = None
    image_pull_policy: str | None = None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """`kind: Job`: the task's pods run under a Kubernetes Job (docs/spec.md,
    "Jobs"), which retries them itself; the attempt is the whole Job."""

    completions: int = 1
    parallelism: int = 1
    completion_mode: str = "NonIndexed"  # Indexed: JOB_COMPLETION_INDEX 0 … n-1
    backoff_limit: int = 0  # pod failures the Job tolerates before it fails
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = None
    pod_failure_policy: Mapping[str, Any] | None = None  # Kubernetes' shape

    @property
    def indexed(self) -> bool:
        return self.completion_mode == "Indexed"


@dataclass(frozen=True, slots=True)
class DaemonPort:
    port: int
    name: str = ""  # the Service port's name; "p<port>" when none is given


@dataclass(frozen=True, slots=True)
class DaemonStorage:
    """`persistent: true`: a volume claim of `size` (of `storage_class_name`,
    the cluster's default class when None) mounted at `mount_path`."""

    size: str
    mount_path: str
    storage_class_name: str | None = None


@dataclass(frozen=True, slots=True)
class DaemonSpec:
    """`daemon: true`: a long-lived service for the rest of the run (docs/spec.md,
    "Daemons"), Succeeded once ready; its dependants read its address."""

    ports: tuple[DaemonPort, ...]
    # Kubernetes' Probe shape (tcpSocket, exec or httpGet and the timings);
    # none given: a TCP connection to the first port.
    readiness_probe: Mapping[str, Any] = field(default_factory=dict)
    persistent: bool = False
    storage: DaemonStorage | None = None  # with persistent


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    default: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class OutputParameter:
    """A small value the task leaves in a file (`valueFrom.path`)."""

    name: str
    path: str
    default: str | None = None  # when the file is missing; None: it must exist
    secret: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class OutputArtifact:
    """A file or directory the task leaves at `path`, kept in the artifact store."""

    name: str
    path: str
    optional: bool = False  # a missing file is no error
    description: str = ""


@dataclass(frozen=True, slots=True)
class Outputs:
    parameters: tuple[OutputParameter, ...] = ()
    artifacts: tuple[OutputArtifact, ...] = ()
    # `outputs.result.valueFrom.path`: where the result is read from instead of
    # the task's output (its log).
    result_path: str | None = None

    def parameter(self, name: str) -> OutputParameter | None:
        return next((p for p in self.parameters if p.name == name), None)


@dataclass(frozen=True, slots=True)
class InputArtifact:
    """An upstream task's artifact, placed at `path` before the command starts."""

    name: str
    task: str  # the upstream task
    artifact: str  # its output artifact's name
    path: str
    optional: bool = False  # an upstream artifact that was optional and missing


@dataclass(frozen=True, slots=True)
class WorkflowOutputParameter:
    name: str
    value: str  # a template of upstream outputs, rendered when the run ends
    description: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowOutputArtifact:
    name: str
    task: str
    artifact: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class SubWorkflow:
    """`workflow:` on a task: run another workflow of the project as its step."""

    name: str
    version: int | None = None  # None: its latest version when the task starts
    parameters: Mapping[str, str] = field(default_factory=dict)  # templates


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    image: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()
    resources: Resources = field(default_factory=Resources)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    priority: int = 0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None  # seconds per attempt
    dependencies: tuple[str, ...] = ()
    # Kubernetes only (the local backend ignores them). Mappings keep the
    # Kubernetes wire shape (camelCase), as tolerations do.
    image_pull_policy: str | None = None  # Always, IfNotPresent, Never
    working_dir: str | None = None
    affinity: Mapping[str, Any] = field(default_factory=dict)
    priority_class_name: str | None = None
    service_account_name: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    security_context: Mapping[str, Any] = field(default_factory=dict)
    namespace: str | None = None  # the workflow's spec.namespace, for every task
    outputs: Outputs = field(default_factory=Outputs)
    input_artifacts: tuple[InputArtifact, ...] = ()
    # Control flow (docs/spec.md): whether and when the task runs.
    when: str | None = None  # a condition over values; false: Skipped
    depends: str | None = None  # over upstream results; sets `dependencies`
    trigger_rule: str = TRIGGER_RULES[0]
    continue_on: frozenset[str] = frozenset()  # "Failed", "Error": no run failure
    fan_out: FanOut | None = None  # one instance per item (docs/spec.md, Fan-out)
    workflow: SubWorkflow | None = None  # runs that workflow instead of a container
    exit_handler: bool = False  # in spec.onExit: runs once the other tasks are done
    # A semaphore or mutex the task holds while it runs (docs/spec.md,
    # Concurrency); a fan-out's instances each hold one.
    synchronization: Synchronization | None = None
    # Run one after the other before the main container; a failure fails it.
    init_containers: tuple[ContainerSpec, ...] = ()
    # Run beside the main container and are stopped when it ends.
    sidecars: tuple[ContainerSpec, ...] = ()
    job: JobSpec | None = None  # kind: Job; None: one Pod
    daemon: DaemonSpec | None = None  # daemon: true; None: runs to its end


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    name: str
    tasks: tuple[TaskSpec, ...]
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    parameters: tuple[Parameter, ...] = ()
    parallelism: int | None = None  # max tasks running at once in one run
    fail_fast: bool = False
    timeout: float | None = None  # seconds for the whole run
    # Seconds a run should take at most: past it, still running, it is a
    # deadline miss (a notification), not a failure (that is `timeout`).
    sla: float | None = None
    ui: Mapping[str, Any] = field(default_factory=dict)
    namespace: str | None = None  # overrides the backend's namespace
    output_parameters: tuple[WorkflowOutputParameter, ...] = ()
    output_artifacts: tuple[WorkflowOutputArtifact, ...] = ()
    # Concurrency (docs/spec.md): the most runs of the workflow active at once,
    # and a semaphore or mutex each run holds while it runs.
    max_active_runs: int | None = None
    synchronization: Synchronization | None = None

    def task(self, name: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)


# --- building ------------------------------------------------------------------


def _compact(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """The mapping without null fields (null means not set), nested ones too."""
    if value is None:
        return {}
    return {key: _compact_item(item) for key, item in value.items() if item is not None}


def _compact_item(item: Any) -> Any:
    if isinstance(item, Mapping):
        return _compact(item)
    if isinstance(item, list | tuple):
        return [_compact_item(element) for element in item]
    return item


def _optional_seconds(value: object) -> float | None:
    return None if value is None else to_seconds(value)


def _build_retry(
    default: Mapping[str, Any] | None, own: Mapping[str, Any] | None
) -> RetryPolicy:
    base, override = _compact(default), _compact(own)
    merged = {**base, **override}
    backoff = {**base.get("backoff", {}), **override.get("backoff", {})}
    converted = {
        attribute: convert(backoff[key])
        for key, attribute, convert in (
            ("delay", "delay", to_seconds),
            ("factor", "factor", float),
            ("maxDelay", "max_delay", to_seconds),
        )
        if key in backoff
    }
    return RetryPolicy(
        limit=merged.get("limit", 0),
        backoff=Backoff(**converted),
        on=frozenset(merged.get("on", DEFAULT_RETRY_ON)),
    )


def _build_env(entry: Mapping[str, Any]) -> EnvVar:
    entry = _compact(entry)
    return EnvVar(
        name=entry["name"],
        value=entry.get("value"),
        value_from=entry.get("valueFrom"),
        secret=entry.get("secret", False),
    )


def _build_resources(resources: Mapping[str, Any]) -> Resources:
    return Resources(
        requests={
            name: quantity_text(amount)
            for name, amount in resources.get("requests", {}).items()
        },
        limits={
            name: quantity_text(amount)
            for name, amount in resources.get("limits", {}).items()
        },
    )


def _build_container(
    container: Mapping[str, Any], image: str | None, pull_policy: str | None
) -> ContainerSpec:
    return ContainerSpec(
        name=container["name"],
        image=container.get("image", image),
        command=tuple(container.get("command", ())),
        args=tuple(container.get("args", ())),
        env=tuple(_build_env(entry) for entry in container.get("env", ())),
        resources=_build_resources(container.get("resources", {})),
        volume_mounts=tuple(container.get("volumeMounts", ())),
        working_dir=container.get("workingDir"),
        image_pull_policy=container.get("imagePullPolicy", pull_policy),
    )


def _build_job(task: Mapping[str, Any]) -> JobSpec | None:
    if task.get("kind") != "Job":
        return None
    job = task.get("job", {})
    return JobSpec(
        completions=job.get("completions", 1),
        parallelism=job.get("parallelism", 1),
        completion_mode=job.get("completionMode", "NonIndexed"),
        backoff_limit=job.get("backoffLimit", 0),
        active_deadline_seconds=job.get("activeDeadlineSeconds"),
        ttl_seconds_after_finished=job.get("ttlSecondsAfterFinished"),
        pod_failure_policy=job.get("podFailurePolicy"),
    )


def _build_daemon(task: Mapping[str, Any]) -> DaemonSpec | None:
    if not task.get("daemon"):
        return None
    ports = tuple(
        DaemonPort(port=item["port"], name=item.get("name", ""))
        for item in task.get("ports", ())
    )
    probe = dict(task.get("readinessProbe") or {})
    if ports and not any(kind in probe for kind in PROBE_KINDS):
        probe["tcpSocket"] = {"port": ports[0].port}
    storage = task.get("storage")
    return DaemonSpec(
        ports=ports,
        readiness_probe=probe,
        persistent=bool(task.get("persistent")),
        storage=None
        if storage is None
        else DaemonStorage(
            size=storage["size"],
            mount_path=storage["mountPath"],
            storage_class_name=storage.get("storageClassName"),
        ),
    )


def _build_volume(volume: Mapping[str, Any]) -> dict[str, Any]:
    empty_dir = volume.get("emptyDir")
    if empty_dir is None or "sizeLimit" not in empty_dir:
        return dict(volume)
    # A quantity may be written as a number; Kubernetes takes a string.
    size = quantity_text(empty_dir["sizeLimit"])
    return {**volume, "emptyDir": {**empty_dir, "sizeLimit": size}}


def _artifact_source(text: str) -> tuple[str, str]:
    """(task, artifact) of a validated `{{tasks.X.outputs.artifacts.Y}}`."""
    match = TEMPLATE.fullmatch(text.strip())
    assert match is not None  # validated
    reference = parse_reference(match.group(1))
    return reference.name, reference.output


def _build_outputs(outputs: Mapping[str, Any]) -> Outputs:
    result = outputs.get("result", {}).get("valueFrom", {})
    return Outputs(
        parameters=tuple(
            OutputParameter(
                name=entry["name"],
                path=entry["valueFrom"]["path"],
                default=entry["valueFrom"].get("default"),
                secret=entry.get("secret", False),
                description=entry.get("description", ""),
            )
            for entry in outputs.get("parameters", ())
        ),
        artifacts=tuple(
            OutputArtifact(
                name=entry["name"],
                path=entry["path"],
                optional=entry.get("optional", False),
                description=entry.get("description", ""),
            )
            for entry in outputs.get("artifacts", ())
        ),
        result_path=result.get("path"),
    )


def _build_input_artifact(entry: Mapping[str, Any]) -> InputArtifact:
    task, artifact = _artifact_source(entry["from"])
    return InputArtifact(
        name=entry["name"],
        task=task,
        artifact=artifact,
        path=entry["path"],
        optional=entry.get("optional", False),
    )


def _build_sub_workflow(value: Mapping[str, Any] | None) -> SubWorkflow | None:
    if value is None:
        return None
    return SubWorkflow(
        name=value["name"],
        version=value.get("version"),
        parameters={
            key: parameter_text(item) or ""
            for key, item in value.get("parameters", {}).items()
        },
    )


def _build_fan_out(task: Mapping[str, Any]) -> FanOut | None:
    sequence = task.get("withSequence")
    if "withItems" in task:
        fan_out = FanOut(items=tuple(task["withItems"]))
    elif "withParam" in task:
        fan_out = FanOut(param=task["withParam"].strip())
    elif sequence is not None:
        start = sequence.get("start", 0)
        end = sequence["end"] if "end" in sequence else start + sequence["count"] - 1
        fan_out = FanOut(sequence=Sequence_(start, end, sequence.get("format")))
    else:
        return None
    return replace(fan_out, parallelism=task.get("parallelism"))


def _build_synchronization(value: Mapping[str, Any] | None) -> Synchronization | None:
    """`{semaphore: NAME}` or `{mutex: NAME}` (validated: exactly one)."""
    for kind in KINDS:
        if value and value.get(kind) is not None:
            return Synchronization(kind, value[kind])
    return None


def _dependencies(task: Mapping[str, Any]) -> tuple[str, ...]:
    """Its `dependencies`, or the tasks its `depends` names (in order, once)."""
    if "depends" in task:
        named = depended_tasks(parse_depends(task["depends"]))
        return tuple(dict.fromkeys(item.task for item in named))
    return tuple(task.get("dependencies", ()))


def _build_task(
    task: Mapping[str, Any], defaults: Mapping[str, Any], namespace: str | None
) -> TaskSpec:
    task = _compact(task)

    def own_or_default(key: str, empty: Any = None) -> Any:
        # A task's own value replaces the default whole; none is merged.
        return task.get(key, defaults.get(key, empty))

    # A sub-workflow task runs no container: the default image is not its.
    image = None if task.get("workflow") else task.get("image", defaults.get("image"))
    pull_policy = own_or_default("imagePullPolicy")
    return TaskSpec(
        name=task["name"],
        image=image,
        command=tuple(task.get("command", ())),
        args=tuple(task.get("args", ())),
        env=tuple(_build_env(entry) for entry in task.get("env", ())),
        resources=_build_resources(task.get("resources", {})),
        node_selector=dict(task.get("nodeSelector", {})),
        tolerations=tuple(_compact(item) for item in task.get("tolerations", ())),
        priority=task.get("priority", 0),
        retry=_build_retry(defaults.get("retry"), task.get("retry")),
        timeout=_optional_seconds(task.get("timeout", defaults.get("timeout"))),
        dependencies=_dependencies(task),
        image_pull_policy=pull_policy,
        working_dir=task.get("workingDir"),
        affinity=own_or_default("affinity", {}),
        priority_class_name=own_or_default("priorityClassName"),
        service_account_name=own_or_default("serviceAccountName"),
        image_pull_secrets=tuple(own_or_default("imagePullSecrets", ())),
        volumes=tuple(_build_volume(volume) for volume in task.get("volumes", ())),
        volume_mounts=tuple(task.get("volumeMounts", ())),
        security_context=own_or_default("securityContext", {}),
        namespace=namespace,
        when=task.get("when"),
        depends=task.get("depends"),
        trigger_rule=task.get("triggerRule", TRIGGER_RULES[0]),
        continue_on=frozenset(
            status
            for key, status in (("failed", "Failed"), ("error", "Error"))
            if task.get("continueOn", {}).get(key)
        ),
        fan_out=_build_fan_out(task),
        workflow=_build_sub_workflow(task.get("workflow")),
        synchronization=_build_synchronization(task.get("synchronization")),
        outputs=_build_outputs(task.get("outputs", {})),
        input_artifacts=tuple(
            _build_input_artifact(entry)
            for entry in task.get("inputs", {}).get("artifacts", ())
        ),
        init_containers=tuple(
            _build_container(item, image, pull_policy)
            for item in task.get("initContainers", ())
        ),
        sidecars=tuple(
            _build_container(item, image, pull_policy)
            for item in task.get("sidecars", ())
        ),
        job=_build_job(task),
        daemon=_build_daemon(task),
    )


def parse_spec(
    document: Mapping[str, Any],
    limits: Limits = Limits(),  # noqa: B008 - frozen, so sharing it is safe
) -> WorkflowSpec:
    """The validated spec with defaults applied to every task; raises SpecError."""
    errors = validate(document, limits)
    if errors:
        raise SpecError(errors)
    metadata = _compact(document["metadata"])
    # ui is free-form and kept exactly as given.
    spec = _compact({**document["spec"], "ui": None})
    defaults = spec.get("defaults", {})
    namespace = spec.get("namespace")
    parameters = tuple(
        Parameter(
            name=item["name"],
            default=parameter_text(item.get("default")),
            description=item.get("description", ""),
        )
        for item in map(_compact, spec.get("parameters", ()))
    )
    return WorkflowSpec(
        name=metadata["name"],
        tasks=tuple(_build_task(task, defaults, namespace) for task in spec["tasks"])
        + tuple(
            replace(_build_task(task, defaults, namespace), exit_handler=True)
            for task in spec.get("onExit", ())
        ),
        description=metadata.get("description", ""),
        labels=dict(metadata.get("labels", {})),
        parameters=parameters,
        parallelism=spec.get("parallelism"),
        fail_fast=spec.get("failFast", False),
        timeout=_optional_seconds(spec.get("timeout")),
        sla=_optional_seconds(spec.get("sla")),
        ui=document["spec"].get("ui") or {},
        namespace=namespace,
        output_parameters=tuple(
            WorkflowOutputParameter(
                entry["name"], entry["value"], entry.get("description", "")
            )
            for entry in spec.get("outputs", {}).get("parameters", ())
        ),
        output_artifacts=tuple(
            WorkflowOutputArtifact(
                entry["name"],
                *_artifact_source(entry["from"]),
                entry.get("description", ""),
            )
            for entry in spec.get("outputs", {}).get("artifacts", ())
        ),
        max_active_runs=spec.get("maxActiveRuns"),
        synchronization=_build_synchronization(spec.get("synchronization")),
    )


# --- parameters ----------------------------------------------------------------


def render_parameters(
    spec: WorkflowSpec, supplied: Mapping[str, str]
) -> dict[str, str]:
    """The run's parameter values: defaults overridden by `supplied`; SpecError on
    an unknown name, a parameter with neither default nor value, or a value
    with a NUL (it would end up in a process's arguments or environment).

    Numbers and booleans are accepted and turned into strings ("true", "1.5").
    """
    declared = {parameter.name for parameter in spec.parameters}
    errors: list[FieldError] = []
    values: dict[str, str] = {}
    for name, value in supplied.items():
        where = field_path("parameters", name)
        text = parameter_text(value)
        if name not in declared:
            errors.append(FieldError(where, "unknown parameter"))
        elif text is None:
            errors.append(FieldError(where, "must be a string, number or boolean"))
        elif (problem := text_problem(text)) is not None:
            errors.append(FieldError(where, problem))
        else:
            values[name] = text
    result: dict[str, str] = {}
    for parameter in spec.parameters:
        where = field_path("parameters", parameter.name)
        if parameter.name in values:
            result[parameter.name] = values[parameter.name]
        elif parameter.name in supplied:
            continue  # its value was refused above
        elif parameter.default is None:
            errors.append(FieldError(where, "is required"))
        elif (problem := text_problem(parameter.default)) is not None:
            # A default saved before NUL was refused (see Limits.strict).
            errors.append(FieldError(where, f"default {problem}"))
        else:
            result[parameter.name] = parameter.default
    if errors:
        raise SpecError(errors)
    return result


_NO_ITEM = object()


def render_task(
    task: TaskSpec,
    parameters: Mapping[str, str],
    outputs: Mapping[str, str] | None = None,
    secret_outputs: frozenset[str] = frozenset(),
    item: Any = _NO_ITEM,
    run_values: Mapping[str, str] | None = None,
) -> TaskSpec:
    """The task with every {{params.x}} and {{tasks.X.outputs...}} in image,
    command, args and env replaced, its init containers' and sidecars' too.

    `outputs` maps each upstream output's key (Reference.key, such as
    "tasks.extract.outputs.result") to its value; an env var that takes a key
    in `secret_outputs` becomes secret itself. One pass: a substituted value
    that itself contains a reference stays as it is. SpecError if a referenced
    parameter has no value, or an upstream output none (it did not run).
    """
    known = outputs or {}
    missing: dict[str, Reference] = {}

    def resolve(reference: Reference) -> str | None:
        if reference.root == "item":
            if item is _NO_ITEM:
                return None  # not an instance: left as written
            value = (
                item_field(item, reference.name.split("."))
                if reference.name
                else item_text(item)
            )
        elif reference.root == "run":
            value = (run_values or {}).get(reference.name)
        elif reference.root == "params":
            value = parameters.get(reference.name)
        else:
            value = known.get(reference.key)
        if value is None:
            missing.setdefault(reference.key, reference)
        return value

    def render(text: str) -> str:
        return render_template(text, resolve)[0]

    def render_env(env: EnvVar) -> EnvVar:
        if env.value is None:
            return env
        uses_secret = any(
            found.reference is not None and found.reference.key in secret_outputs
            for found in find_references(env.value)
        )
        return replace(env, value=render(env.value), secret=env.secret or uses_secret)

    def render_container(container: ContainerSpec) -> ContainerSpec:
        return replace(
            container,
            image=None if container.image is None else render(container.image),
            command=tuple(map(render, container.command)),
            args=tuple(map(render, container.args)),
            env=tuple(map(render_env, container.env)),
        )

    rendered = replace(
        task,
        image=None if task.image is None else render(task.image),
        command=tuple(map(render, task.command)),
        args=tuple(map(render, task.args)),
        env=tuple(map(render_env, task.env)),
        init_containers=tuple(map(render_container, task.init_containers)),
        sidecars=tuple(map(render_container, task.sidecars)),
    )
    if missing:
        raise SpecError(
            [
                FieldError(field_path("parameters", ref.name), "is required")
                if ref.root == "params"
                else FieldError(
                    field_path("tasks", task.name),
                    f"{ref}: the item has no such field",
                )
                if ref.root == "item"
                else FieldError(
                    field_path("tasks", task.name),
                    f"{ref}: task {ref.name!r} has no such output (it did not "
                    "succeed, or did not write it)",
                )
                for ref in missing.values()
            ]
        )
    return rendered
