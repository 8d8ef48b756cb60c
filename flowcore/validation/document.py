"""Validate a workflow spec document: every problem, each at its field's path.

The document, its metadata and spec, parameters, defaults, retries and the
tasks; the parts a task shares with a Pod are in pod.py, data between tasks in
data.py, the primitives in checks.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any

from flowcore.spec_base import (
    API_VERSION,
    DEFAULT_RETRY_ON,
    IMAGE_PULL_POLICIES,
    KIND,
    MAX_PARALLELISM,
    MAX_PRIORITY,
    MAX_RETRY_DELAY,
    MAX_RETRY_LIMIT,
    MIN_PRIORITY,
    FieldError,
    Limits,
    field_path,
    parameter_text,
)
from flowcore.validation.checks import (
    _TASKS,
    _Check,
    _is_list,
    _name_of,
)
from flowcore.validation.daemon import DaemonChecks
from flowcore.validation.data import DataChecks
from flowcore.validation.flow import FlowChecks
from flowcore.validation.pod import _volumes_of
from flowcore.validation.workload import WorkloadChecks, container_names

# The interpreters whose `-c` takes the whole program as one argument.
_SCRIPT_RUNNERS = frozenset({"sh", "bash", "python", "python3"})


def _shares_containers(document: object) -> bool:
    """Whether one list or mapping appears twice (a YAML alias, or a cycle)."""
    seen: set[int] = set()
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if id(node) in seen:
            return True
        seen.add(id(node))
        pending.extend(children)
    return False


class Validator(FlowChecks, DataChecks, WorkloadChecks, DaemonChecks):
    """The whole document: where validation starts."""

    def document(self, document: object) -> None:
        if not isinstance(document, Mapping):
            self.error("", "document must be a mapping")
            return
        self.size(document)
        self.fields(
            document,
            "",
            {
                "apiVersion": partial(self.constant, expected=API_VERSION),
                "kind": partial(self.constant, expected=KIND),
                "metadata": self.metadata,
                "spec": self.spec,
            },
            required=("apiVersion", "kind", "metadata", "spec"),
        )

    def size(self, document: object) -> None:
        """The document is stored as JSON: it must be strict JSON, and small."""
        limit = self.limits.max_spec_bytes
        try:
            if _shares_containers(document):
                # YAML aliases: count chunk by chunk, so an alias bomb is cut off
                # at the limit instead of being expanded in full.
                size = 0
                for chunk in json.JSONEncoder(allow_nan=False).iterencode(document):
                    size += len(chunk)
                    if size > limit:
                        break
            else:
                size = len(json.dumps(document, allow_nan=False))
        except TypeError:
            self.error("", "document must contain only JSON values")
        except ValueError as exc:
            if "Circular" in str(exc):
                self.error("", "document must not contain circular references")
            elif "digits" in str(exc):  # int -> str refuses more than 4300 digits
                self.error("", "document must not contain numbers of over 4300 digits")
            else:
                self.error("", "document must not contain NaN or infinite numbers")
        except RecursionError:
            self.error("", "document is nested too deeply")
        else:
            if size > limit:
                self.error("", f"document is larger than {limit} bytes as JSON")

    def metadata(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "name": self.dns_label,
            "description": self.string,
            "labels": self.string_map,
        }
        self.fields(value, path, checks, required=("name",))

    def spec(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "parameters": self.parameters_,
            "defaults": self.defaults,
            "parallelism": partial(self.integer, low=1, high=MAX_PARALLELISM),
            "failFast": self.boolean,
            "maxActiveRuns": self.max_active_runs,
            "synchronization": self.synchronization,
            "timeout": self.duration,
            "sla": self.duration,
            "namespace": self.dns_label,
            "tasks": self.tasks,
            "onExit": self.on_exit,
            "outputs": self.workflow_outputs,
            "ui": self.ui,
        }
        self.fields(value, path, checks, required=("tasks",))

    def ui(self, value: object, path: str) -> None:
        # Free-form editor state: only its shape and its strings are checked.
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
        else:
            self.free_form(value, path)

    def parameters_(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.parameter_name, first=first, entry=where),
                "default": self.parameter_default,
                "description": self.string,
            }
            self.fields(item, where, checks, required=("name",))

    def parameter_name(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.identifier(value, path):
            return
        if value in first:
            self.error(path, f"duplicate parameter {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def parameter_default(self, value: object, path: str) -> None:
        if parameter_text(value) is None:
            self.error(path, "must be a string, number or boolean")
        elif isinstance(value, str):
            self.storable(value, path)

    def defaults(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "image": self.image,
            "imagePullPolicy": partial(self.choice, choices=IMAGE_PULL_POLICIES),
            "retry": self.retry,
            "timeout": self.duration,
            "serviceAccountName": self.dns_subdomain,
            "priorityClassName": self.dns_subdomain,
            "imagePullSecrets": self.image_pull_secrets,
            "affinity": self.affinity,
            "securityContext": self.security_context,
        }
        self.in_defaults = True
        try:
            self.fields(value, path, checks)
        finally:
            self.in_defaults = False

    def image(self, value: object, path: str) -> None:
        if self.template(value, path, nonempty=True):
            self.no_control(value, path)

    def retry(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "limit": partial(self.integer, low=0, high=MAX_RETRY_LIMIT),
            "backoff": self.backoff,
            "on": self.retry_on,
        }
        self.fields(value, path, checks)

    def backoff(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "delay": partial(self.duration, high=MAX_RETRY_DELAY),
            "factor": self.factor,
            "maxDelay": self.duration,
        }
        self.fields(value, path, checks)

    def retry_on(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            self.choice(item, where, DEFAULT_RETRY_ON)

    # tasks

    def tasks(self, value: object, path: str) -> None:
        items = self.items(value, path)
        if _is_list(value) and not items:
            self.error(path, "must have at least one task")
        elif len(items) > self.limits.max_tasks:
            limit = self.limits.max_tasks
            self.error(path, f"must have at most {limit} tasks (has {len(items)})")
        for index, (where, item) in enumerate(items):
            self.task(item, where, index)

    def task(self, value: object, path: str, index: int) -> None:
        checks: dict[str, _Check] = {
            "name": partial(self.task_name, index=index),
            "image": self.image,
            "command": self.command,
            "args": self.templates,
            "env": self.env,
            "resources": self.resources,
            "nodeSelector": self.string_map,
            "tolerations": self.tolerations,
            "priority": partial(self.integer, low=MIN_PRIORITY, high=MAX_PRIORITY),
            "retry": self.retry,
            "timeout": self.duration,
            "dependencies": partial(
                self.dependencies, index=index, own=_name_of(value)
            ),
            "imagePullPolicy": partial(self.choice, choices=IMAGE_PULL_POLICIES),
            "workingDir": self.absolute_path,
            "serviceAccountName": self.dns_subdomain,
            "priorityClassName": self.dns_subdomain,
            "imagePullSecrets": self.image_pull_secrets,
            "affinity": self.affinity,
            "volumes": self.volumes,
            "volumeMounts": partial(self.volume_mounts, declared=_volumes_of(value)),
            "securityContext": self.security_context,
            "outputs": self.outputs,
            "inputs": self.inputs,
            "when": self.when,
            "depends": partial(self.depends, index=index, own=_name_of(value)),
            "triggerRule": self.trigger_rule,
            "continueOn": self.continue_on,
            "withItems": self.with_items,
            "withParam": self.with_param,
            "withSequence": self.with_sequence,
            "parallelism": self.task_parallelism,
            "workflow": self.sub_workflow,
            "synchronization": self.synchronization,
            "initContainers": partial(
                self.containers,
                declared=_volumes_of(value),
                names=container_names(value),
            ),
            "sidecars": partial(
                self.containers,
                declared=_volumes_of(value),
                names=container_names(value),
            ),
            "kind": self.task_kind,
            "job": self.job,
            "daemon": self.boolean,
            "ports": self.daemon_ports,
            "readinessProbe": self.readiness_probe,
            "persistent": self.boolean,
            "storage": self.storage,
        }
        own = _name_of(value)
        self.current_task = own if own in self.task_index else None
        self.fanning_out = isinstance(value, Mapping) and any(
            value.get(key) is not None
            for key in ("withItems", "withParam", "withSequence")
        )
        try:
            task = self.fields(value, path, checks, required=("name",))
            self.flow_rules(task, path)
        finally:
            self.current_task = None
            self.fanning_out = False
        if task is None:
            return
        self.job_rules(task, path)
        self.daemon_rules(task, path)
        if task.get("workflow") is not None:
            self.sub_workflow_rules(task, path)
        elif task.get("image") is None and not self.default_image:
            self.error(
                field_path(path, "image"), "is required here or in spec.defaults.image"
            )

    def command(self, value: object, path: str) -> None:
        self.templates(value, path)
        # `sh -c ""` starts and does nothing: what the editor writes when its
        # Script box is cleared, never what anyone means to run.
        if (
            _is_list(value)
            and len(value) == 3
            and value[0] in _SCRIPT_RUNNERS
            and value[1] == "-c"
            and isinstance(value[2], str)
            and not value[2].strip()
        ):
            self.error(f"{path}[2]", "the script is empty: write what the task runs")

    def on_exit(self, value: object, path: str) -> None:
        """Exit handlers: tasks that run once the run's tasks are done."""
        items = self.items(value, path)
        if _is_list(value) and not items:
            self.error(path, "must have at least one task (or be left out)")
        total = self.main_count + len(items)
        if len(items) and total > self.limits.max_tasks:
            limit = self.limits.max_tasks
            self.error(path, f"tasks and exit handlers must be at most {limit}")
        for offset, (where, item) in enumerate(items):
            self.task(item, where, self.main_count + offset)

    def task_name(self, value: object, path: str, index: int) -> None:
        if not self.dns_label(value, path):
            return
        first = self.task_index.get(value, index)
        if first != index:
            self.error(
                path, f"duplicate task name {value!r} (first at {_TASKS}[{first}])"
            )

    def dependencies(
        self, value: object, path: str, index: int, own: str | None
    ) -> None:
        seen: set[str] = set()
        for position, (where, dependency) in enumerate(self.items(value, path)):
            if not self.string(dependency, where):
                continue
            if dependency == own:
                self.error(where, "a task cannot depend on itself")
            elif dependency in seen:
                self.error(where, f"duplicate dependency {dependency!r}")
            elif dependency not in self.task_index:
                self.error(where, f"unknown task {dependency!r}")
            elif index >= self.main_count and dependency not in self.exit_tasks:
                self.error(
                    where,
                    f"an exit handler runs after every task: it may depend only on "
                    f"other exit handlers, not on {dependency!r}",
                )
            elif index < self.main_count and dependency in self.exit_tasks:
                self.error(
                    where,
                    f"{dependency!r} is an exit handler, which runs after every task",
                )
            elif (index, position) in self.cycles:
                self.error(where, self.cycles[(index, position)])
            seen.add(dependency)

    def env(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.env_name, first=first, entry=where),
                "value": partial(self.template, env_value=True),
                "valueFrom": self.value_from,
                "secret": self.boolean,
            }
            entry = self.fields(item, where, checks, required=("name",))
            if entry is None:
                continue
            sources = [entry.get(key) is not None for key in ("value", "valueFrom")]
            if sum(sources) != 1:
                self.error(where, "must set exactly one of value or valueFrom")

    def env_name(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.identifier(value, path):
            return
        if value in first:
            self.error(path, f"duplicate env var {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def value_from(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "secretKeyRef": self.key_ref,
            "configMapKeyRef": self.key_ref,
        }
        source = self.fields(value, path, checks)
        if source is None:
            return
        if sum(source.get(key) is not None for key in checks) != 1:
            self.error(path, "must set exactly one of secretKeyRef or configMapKeyRef")

    def key_ref(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "name": partial(self.string, nonempty=True),
            "key": partial(self.string, nonempty=True),
            "optional": self.boolean,
        }
        self.fields(value, path, checks, required=("name", "key"))


def validate(
    document: Mapping[str, Any],
    limits: Limits = Limits(),  # noqa: B008 - frozen, so sharing it is safe
) -> list[FieldError]:
    """Every problem with the document, in document order; empty when it is valid.

    Within an object, errors follow its keys; a missing field and checks across
    fields come after. Never raises, whatever the shape of `document`.
    """
    validator = Validator(document, limits)
    validator.document(document)
    return validator.errors
