"""Validate a workflow spec document: every problem, each at its field's path.

Pure: no Django; `kubernetes` is imported lazily (through the quantity grammar).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from decimal import Decimal
from functools import partial
from typing import Any, TypeGuard

from flowcore.dag import find_cycles
from flowcore.spec_base import (
    AFFINITY_KINDS,
    ALLOW_PRIVILEGED_SETTING,
    API_VERSION,
    DEFAULT_RETRY_ON,
    EMPTY_DIR_MEDIA,
    IMAGE_PULL_POLICIES,
    KIND,
    MAX_AFFINITY_WEIGHT,
    MAX_BACKOFF_FACTOR,
    MAX_BYTES,
    MAX_FILE_MODE,
    MAX_ID,
    MAX_NAME_LENGTH,
    MAX_PARALLELISM,
    MAX_PRIORITY,
    MAX_RETRY_DELAY,
    MAX_RETRY_LIMIT,
    MAX_SUBDOMAIN_LENGTH,
    MAX_TIMEOUT,
    MAX_TOLERATION_SECONDS,
    MIN_PRIORITY,
    PARAM_REF,
    STANDARD_RESOURCES,
    TOLERATION_EFFECTS,
    TOLERATION_OPERATORS,
    VOLUME_SOURCES,
    FieldError,
    Limits,
    control_problem,
    field_path,
    parameter_text,
    quantity_maximum,
    quantity_text,
    quantity_value,
    text_problem,
    to_seconds,
)

_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_CAPABILITY = re.compile(r"[A-Z][A-Z0-9_]*")
# The Kubernetes model of each kind of affinity, checked field by field.
_AFFINITY_MODELS = {
    "nodeAffinity": "V1NodeAffinity",
    "podAffinity": "V1PodAffinity",
    "podAntiAffinity": "V1PodAntiAffinity",
}
_PYDANTIC_MESSAGES = {
    "missing": "is required",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}
_NOT_ALLOWED = (
    "is not allowed unless an administrator allows privileged containers"
    f" ({ALLOW_PRIVILEGED_SETTING})"
)


def _is_list(value: object) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    return isinstance(value, list | tuple)


def _mapping_at(value: object, key: str) -> Mapping[Any, Any]:
    item = value.get(key) if isinstance(value, Mapping) else None
    return item if isinstance(item, Mapping) else {}


def _name_of(task: object) -> str | None:
    name = task.get("name") if isinstance(task, Mapping) else None
    return name if isinstance(name, str) else None


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


def _unknown_field(key: object) -> str:
    if key is True:
        return (
            "unknown field true (YAML 1.1 reads an unquoted `on` key as true;"
            " quote it or load the document with parse_document)"
        )
    return f"unknown field {key!r}"


def _volumes_of(task: object) -> set[str]:
    """The names of the volumes a task declares, for its mounts to refer to."""
    entries = task.get("volumes") if isinstance(task, Mapping) else None
    if not _is_list(entries):
        return set()
    return {name for entry in entries if (name := _name_of(entry)) is not None}


def _path_to(path: str, location: Sequence[object]) -> str:
    for part in location:
        path = f"{path}[{part}]" if isinstance(part, int) else field_path(path, part)
    return path


def _kubernetes_shape(
    value: Mapping[Any, Any], model: str, path: str
) -> list[FieldError]:
    """What Kubernetes' own model `model` (V1NodeAffinity, ...) finds wrong with
    `value`: unknown fields (its wire names only), missing ones, wrong types."""
    # Imported here: the client is slow to import and only these fields need it.
    import pydantic
    from kubernetes.client import models

    errors: list[FieldError] = []
    model_class = getattr(models, model)
    _unknown_kubernetes_fields(value, model_class, path, errors)
    try:
        model_class.model_validate(dict(value))
    except pydantic.ValidationError as exc:
        for problem in exc.errors():
            if problem["type"] == "extra_forbidden":
                continue  # reported above, with the wire names
            message = _PYDANTIC_MESSAGES.get(problem["type"], problem["msg"])
            errors.append(FieldError(_path_to(path, problem["loc"]), message))
    return errors


_MODEL_TYPE = re.compile(r"(List\[)?(V1\w+)\]?")


def _unknown_kubernetes_fields(
    value: object, model_class: Any, path: str, errors: list[FieldError]
) -> None:
    from kubernetes.client import models

    if not isinstance(value, Mapping):
        return  # a type error, which the model reports
    types = {
        wire: model_class.openapi_types[name]
        for name, wire in model_class.attribute_map.items()
    }
    for key, item in value.items():
        where = field_path(path, key)
        if key not in types:
            errors.append(FieldError(where, _unknown_field(key)))
            continue
        nested = _MODEL_TYPE.fullmatch(types[key])
        if nested is None or item is None:
            continue
        inner = getattr(models, nested.group(2))
        if nested.group(1) is None:
            _unknown_kubernetes_fields(item, inner, where, errors)
        elif _is_list(item):
            for i, element in enumerate(item):
                _unknown_kubernetes_fields(element, inner, f"{where}[{i}]", errors)


# --- validation ----------------------------------------------------------------

_TASKS = "spec.tasks"
_Check = Callable[[Any, str], object]


def _declared_parameters(spec: Mapping[Any, Any]) -> set[str]:
    declared = spec.get("parameters")
    if not _is_list(declared):
        return set()
    return {name for item in declared if (name := _name_of(item)) is not None}


def _cycles(
    tasks: Sequence[Any], index: Mapping[str, int]
) -> dict[tuple[int, int], str]:
    """{(task index, dependency index): "dependency cycle: a -> b -> a"} for the
    dependency entry that closes each cycle.

    One depth-first search from the tasks in document order, along edges from
    upstream to downstream, so a cycle reads the way work would flow. Each back
    edge closes one distinct cycle; removing the reported entries removes every
    cycle.
    """
    # Only a task's first occurrence can be depended on: a duplicate name, a
    # missing one and an entry that is invalid anyway (reported where it is) add
    # no edge that could close a cycle.
    downstream: dict[str, list[str]] = {name: [] for name in index}
    entries: dict[tuple[str, str], tuple[int, int]] = {}  # edge -> its entry
    for i, task in enumerate(tasks):
        own = _name_of(task)
        dependencies = task.get("dependencies") if isinstance(task, Mapping) else None
        if own is None or index[own] != i or not _is_list(dependencies):
            continue
        for j, dependency in enumerate(dependencies):
            edge = (dependency, own)
            if (
                isinstance(dependency, str)
                and dependency != own
                and dependency in index
                and edge not in entries
            ):
                downstream[dependency].append(own)
                entries[edge] = (i, j)

    closing: dict[tuple[int, int], str] = {}
    for cycle in find_cycles(downstream):
        # The back edge runs from the last task to the first, so the entry that
        # closes the cycle is the first task's dependency on the last one.
        loop = " -> ".join([*cycle, cycle[0]])
        closing[entries[(cycle[-1], cycle[0])]] = f"dependency cycle: {loop}"
    return closing


class _Validator:
    """One pass over a document that collects every error instead of stopping."""

    def __init__(self, document: Mapping[Any, Any], limits: Limits) -> None:
        self.errors: list[FieldError] = []
        self.limits = limits
        spec = _mapping_at(document, "spec")
        # Gathered up front so references can be checked where they occur.
        self.parameters = _declared_parameters(spec)
        tasks = spec.get("tasks")
        task_list = list(tasks) if _is_list(tasks) else []
        self.task_index: dict[str, int] = {}
        for i, task in enumerate(task_list):
            name = _name_of(task)
            if name is not None:
                self.task_index.setdefault(name, i)
        self.default_image = _mapping_at(spec, "defaults").get("image") is not None
        self.cycles = _cycles(task_list, self.task_index)

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def fields(
        self,
        value: object,
        path: str,
        checks: Mapping[str, _Check],
        required: Sequence[str] = (),
    ) -> Mapping[Any, Any] | None:
        """Check an object's fields in document order; null means not set."""
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return None
        for key, item in value.items():
            where = field_path(path, key)
            if not isinstance(key, str) or key not in checks:
                self.error(where, _unknown_field(key))
            elif item is None:
                if key in required:
                    self.error(where, "is required")
            else:
                checks[key](item, where)
        for key in required:
            if key not in value:
                self.error(field_path(path, key), "is required")
        return value

    def items(self, value: object, path: str) -> list[tuple[str, Any]]:
        if not _is_list(value):
            self.error(path, "must be a list")
            return []
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]

    # scalars

    def string(
        self, value: object, path: str, nonempty: bool = False
    ) -> TypeGuard[str]:
        if not isinstance(value, str):
            self.error(path, "must be a string")
            return False
        if not self.storable(value, path):
            return False
        if nonempty and not value.strip():
            self.error(path, "must not be empty")
            return False
        return True

    def storable(self, text: str, path: str) -> bool:
        """Whether `text` can be stored and given to a process: no NUL, no
        unpaired surrogate."""
        problem = text_problem(text) if self.limits.strict else None
        if problem is not None:
            self.error(path, problem)
        return problem is None

    def no_control(self, text: str, path: str) -> bool:
        """Whether `text` is free of control characters, as an image or a path
        must be."""
        problem = control_problem(text) if self.limits.strict else None
        if problem is not None:
            self.error(path, problem)
        return problem is None

    def free_form(self, value: object, path: str) -> None:
        """Check every string (keys included) of a free-form value: ui, affinity.

        Iterative, and each container is visited once, so neither deep nesting
        nor a YAML alias bomb makes it explode (size() reports those).
        """
        if not self.limits.strict:
            return
        seen: set[int] = set()
        pending: list[tuple[str, object]] = [(path, value)]
        while pending:
            where, node = pending.pop()
            if isinstance(node, str):
                self.storable(node, where)
                continue
            if not isinstance(node, Mapping | list | tuple) or id(node) in seen:
                continue
            seen.add(id(node))
            children: list[tuple[str, object]] = []
            if isinstance(node, Mapping):
                for key, item in node.items():
                    at = field_path(where, key)
                    if isinstance(key, str):
                        self.storable(key, at)
                    children.append((at, item))
            else:
                children = [(f"{where}[{i}]", item) for i, item in enumerate(node)]
            pending.extend(reversed(children))  # in document order

    def boolean(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            self.error(path, "must be true or false")

    def integer(
        self, value: object, path: str, low: int | None = None, high: int | None = None
    ) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, "must be an integer")
        elif not self.limits.strict:
            return  # a stored version met the ranges of its day
        elif low is not None and high is not None and not low <= value <= high:
            self.error(path, f"must be between {low} and {high}")
        elif low is not None and value < low:
            self.error(path, f"must be at least {low}")

    def factor(self, value: object, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, "must be a number")
            return
        # A stored version may exceed today's maximum, not a float's: it is
        # built with float(). (Comparisons are exact for any int, false for NaN.)
        high = MAX_BACKOFF_FACTOR if self.limits.strict else sys.float_info.max
        if not 1 <= value <= high:
            self.error(path, f"must be a number between 1 and {MAX_BACKOFF_FACTOR}")

    def choice(self, value: object, path: str, choices: Sequence[str]) -> bool:
        if not isinstance(value, str) or value not in choices:
            self.error(path, f"must be one of {', '.join(choices)}")
            return False
        return True

    def constant(self, value: object, path: str, expected: str) -> None:
        if value != expected:
            self.error(path, f"must be {expected!r}")

    def duration(self, value: object, path: str, high: int = MAX_TIMEOUT) -> None:
        try:
            seconds = to_seconds(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return
        if self.limits.strict and seconds > high:
            self.error(path, f"must be at most {_duration_text(high)}")

    def dns_label(self, value: object, path: str) -> TypeGuard[str]:
        if not self.string(value, path, nonempty=True):
            return False
        if len(value) > MAX_NAME_LENGTH:
            self.error(path, f"must be at most {MAX_NAME_LENGTH} characters")
        elif not _DNS_LABEL.fullmatch(value):
            self.error(
                path,
                "must be lowercase letters, digits and '-', starting and ending"
                " with a letter or digit",
            )
        else:
            return True
        return False

    def identifier(self, value: object, path: str) -> TypeGuard[str]:
        if not self.string(value, path, nonempty=True):
            return False
        if not _IDENTIFIER.fullmatch(value):
            self.error(
                path, "must be letters, digits and '_', not starting with a digit"
            )
            return False
        return True

    def dns_subdomain(self, value: object, path: str) -> TypeGuard[str]:
        if not self.string(value, path, nonempty=True):
            return False
        if len(value) > MAX_SUBDOMAIN_LENGTH:
            self.error(path, f"must be at most {MAX_SUBDOMAIN_LENGTH} characters")
        elif not _DNS_SUBDOMAIN.fullmatch(value):
            self.error(
                path,
                "must be lowercase letters, digits, '-' and '.', each part between"
                " dots starting and ending with a letter or digit",
            )
        else:
            return True
        return False

    def absolute_path(self, value: object, path: str) -> TypeGuard[str]:
        if not self.string(value, path, nonempty=True):
            return False
        if not self.no_control(value, path):
            return False
        if not value.startswith("/"):
            self.error(path, "must be an absolute path (starting with '/')")
            return False
        return True

    def relative_path(self, value: object, path: str) -> None:
        if not self.string(value, path, nonempty=True):
            return
        if not self.no_control(value, path):
            return
        if value.startswith("/"):
            self.error(path, "must be a relative path (not starting with '/')")
        elif ".." in value.split("/"):
            self.error(path, "must not contain '..'")

    def quantity(
        self, value: object, path: str, maximum: tuple[Decimal, str] = MAX_BYTES
    ) -> Decimal | None:
        """The quantity's value; None (reported) when it is invalid or too large."""
        try:
            amount = quantity_value(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return None
        high, shown = maximum
        if self.limits.strict and amount > high:
            self.error(path, f"must be at most {shown}")
            return None
        return amount

    def template(
        self, value: object, path: str, nonempty: bool = False
    ) -> TypeGuard[str]:
        if not self.string(value, path, nonempty=nonempty):
            return False
        names = dict.fromkeys(m.group(1) for m in PARAM_REF.finditer(value))
        for name in names:
            if name not in self.parameters:
                self.error(path, f"refers to unknown parameter {name!r}")
        return True

    def templates(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            self.template(item, where)

    def string_map(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return
        for key, item in value.items():
            where = field_path(path, key)
            if not isinstance(key, str):
                self.error(where, "keys must be strings")
            elif self.storable(key, where):
                self.string(item, where)

    # the document

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
            "timeout": self.duration,
            "namespace": self.dns_label,
            "tasks": self.tasks,
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
        self.fields(value, path, checks)

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
            "command": self.templates,
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
        }
        task = self.fields(value, path, checks, required=("name",))
        if task is not None and task.get("image") is None and not self.default_image:
            self.error(
                field_path(path, "image"), "is required here or in spec.defaults.image"
            )

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
            elif (index, position) in self.cycles:
                self.error(where, self.cycles[(index, position)])
            seen.add(dependency)

    def env(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.env_name, first=first, entry=where),
                "value": self.template,
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

    def resources(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "requests": self.quantities,
            "limits": self.quantities,
        }
        resources = self.fields(value, path, checks)
        if resources is None:
            return
        written = resources.get("limits")
        written = written if isinstance(written, Mapping) else {}
        requests = _valid_quantities(resources.get("requests"))
        limits = _valid_quantities(written)
        for name, amount in requests.items():
            where = field_path(field_path(path, "requests"), name)
            limit = limits.get(name)
            if "/" in name and name not in written:
                # Kubernetes rejects a pod that overcommits an extended resource.
                self.error(where, "must also be set in limits for an extended resource")
            elif limit is None:
                continue  # no limit, or an invalid one reported where it is
            elif "/" in name and amount != limit:
                self.error(where, "must equal the limit for an extended resource")
            elif amount > limit:
                shown = quantity_text(written[name])
                self.error(where, f"must not exceed the limit ({shown})")

    def quantities(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return
        for name, amount in value.items():
            where = field_path(path, name)
            if isinstance(name, str) and not self.storable(name, where):
                continue
            if not isinstance(name, str) or not _resource_name_ok(name):
                self.error(
                    where,
                    f"unknown resource {name!r}: use cpu, memory, ephemeral-storage"
                    " or an extended resource such as nvidia.com/gpu",
                )
                continue
            parsed = self.quantity(amount, where, quantity_maximum(name))
            if parsed is None:
                continue
            if "/" in name and parsed != parsed.to_integral_value():
                self.error(where, "must be a whole number for an extended resource")

    def image_pull_secrets(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            if not self.dns_subdomain(item, where):
                continue
            if item in first:
                self.error(where, f"duplicate secret {item!r} (first at {first[item]})")
            else:
                first[item] = where

    def affinity(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            kind: partial(self.kubernetes_object, model=_AFFINITY_MODELS[kind])
            for kind in AFFINITY_KINDS
        }
        affinity = self.fields(value, path, checks)
        if affinity is not None:
            self.affinity_weights(affinity, path)

    def affinity_weights(self, affinity: Mapping[Any, Any], path: str) -> None:
        """Kubernetes' range for each preferred term's weight, which its model
        types but does not bound; a type error is the model's to report."""
        preferred = "preferredDuringSchedulingIgnoredDuringExecution"
        for kind in AFFINITY_KINDS:
            terms = _mapping_at(affinity, kind).get(preferred)
            if not _is_list(terms):
                continue
            where = field_path(field_path(path, kind), preferred)
            for i, term in enumerate(terms):
                weight = term.get("weight") if isinstance(term, Mapping) else None
                if type(weight) is int:
                    self.integer(weight, f"{where}[{i}].weight", 1, MAX_AFFINITY_WEIGHT)

    def kubernetes_object(self, value: object, path: str, model: str) -> None:
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return
        self.errors.extend(_kubernetes_shape(value, model, path))
        self.free_form(value, path)

    def volumes(self, value: object, path: str) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.volume_name, first=first, entry=where),
                "emptyDir": self.empty_dir,
                "configMap": self.config_map_volume,
                "secret": self.secret_volume,
                "persistentVolumeClaim": self.claim_volume,
            }
            volume = self.fields(item, where, checks, required=("name",))
            if volume is None:
                continue
            if sum(volume.get(key) is not None for key in VOLUME_SOURCES) != 1:
                self.error(
                    where,
                    "must set exactly one of emptyDir, configMap, secret or"
                    " persistentVolumeClaim",
                )

    def volume_name(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.dns_label(value, path):
            return
        if value in first:
            self.error(path, f"duplicate volume {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def empty_dir(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "medium": partial(self.choice, choices=EMPTY_DIR_MEDIA),
            "sizeLimit": self.quantity,
        }
        self.fields(value, path, checks)

    def config_map_volume(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "name": self.dns_subdomain,
            "items": self.key_paths,
        }
        self.fields(value, path, checks, required=("name",))

    def secret_volume(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "secretName": self.dns_subdomain,
            "items": self.key_paths,
        }
        self.fields(value, path, checks, required=("secretName",))

    def claim_volume(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "claimName": self.dns_subdomain,
            "readOnly": self.boolean,
        }
        self.fields(value, path, checks, required=("claimName",))

    def key_paths(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "key": self.config_key,
                "path": self.relative_path,
                "mode": partial(self.integer, low=0, high=MAX_FILE_MODE),
            }
            self.fields(item, where, checks, required=("key", "path"))

    def config_key(self, value: object, path: str) -> None:
        if self.string(value, path, nonempty=True) and not _CONFIG_KEY.fullmatch(value):
            self.error(path, "must be letters, digits, '-', '_' and '.'")

    def volume_mounts(self, value: object, path: str, declared: set[str]) -> None:
        first: dict[str, str] = {}
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "name": partial(self.mount_name, declared=declared),
                "mountPath": partial(self.mount_path, first=first, entry=where),
                "readOnly": self.boolean,
                "subPath": self.relative_path,
            }
            self.fields(item, where, checks, required=("name", "mountPath"))

    def mount_name(self, value: object, path: str, declared: set[str]) -> None:
        if self.string(value, path, nonempty=True) and value not in declared:
            self.error(path, f"unknown volume {value!r}: declare it in volumes")

    def mount_path(
        self, value: object, path: str, first: dict[str, str], entry: str
    ) -> None:
        if not self.absolute_path(value, path):
            return
        if value in first:
            self.error(path, f"duplicate mountPath {value!r} (first at {first[value]})")
        else:
            first[value] = entry

    def security_context(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "runAsUser": partial(self.integer, low=0, high=MAX_ID),
            "runAsGroup": partial(self.integer, low=0, high=MAX_ID),
            "runAsNonRoot": self.boolean,
            "readOnlyRootFilesystem": self.boolean,
            "allowPrivilegeEscalation": self.privilege_flag,
            "privileged": self.privilege_flag,
            "capabilities": self.capabilities,
        }
        context = self.fields(value, path, checks)
        if context is not None:
            self.security_rules(context, path)

    def privilege_flag(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            self.error(path, "must be true or false")
        elif value and not self.limits.allow_privileged:
            name = path.rsplit(".", 1)[-1]
            self.error(path, f"{name}: true {_NOT_ALLOWED}")

    def capabilities(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "add": partial(self.capability_list, adding=True),
            "drop": partial(self.capability_list, adding=False),
        }
        self.fields(value, path, checks)

    def capability_list(self, value: object, path: str, adding: bool) -> None:
        items = self.items(value, path)
        for where, item in items:
            if self.string(item, where, nonempty=True) and not _CAPABILITY.fullmatch(
                item
            ):
                self.error(
                    where,
                    "must be a capability name in capitals, such as NET_ADMIN or ALL",
                )
        if adding and items and not self.limits.allow_privileged:
            self.error(path, f"adding capabilities {_NOT_ALLOWED}")

    def security_rules(self, context: Mapping[Any, Any], path: str) -> None:
        # The rules Kubernetes enforces, so the pod is not refused at run time.
        escalation = context.get("allowPrivilegeEscalation")
        if escalation is False:
            where = field_path(path, "allowPrivilegeEscalation")
            if context.get("privileged") is True:
                self.error(where, "must not be false when privileged is true")
            added = _mapping_at(context, "capabilities").get("add")
            if _is_list(added) and {"SYS_ADMIN", "CAP_SYS_ADMIN"} & {
                item for item in added if isinstance(item, str)
            }:
                self.error(where, "must not be false when adding SYS_ADMIN")
        user = context.get("runAsUser")
        if context.get("runAsNonRoot") is True and user == 0 and type(user) is int:
            self.error(
                field_path(path, "runAsUser"), "must not be 0 when runAsNonRoot is true"
            )

    def tolerations(self, value: object, path: str) -> None:
        for where, item in self.items(value, path):
            checks: dict[str, _Check] = {
                "key": self.string,
                "operator": partial(self.choice, choices=TOLERATION_OPERATORS),
                "value": self.string,
                "effect": partial(self.choice, choices=TOLERATION_EFFECTS),
                "tolerationSeconds": partial(
                    self.integer, low=0, high=MAX_TOLERATION_SECONDS
                ),
            }
            toleration = self.fields(item, where, checks)
            if toleration is not None:
                self.toleration_rules(toleration, where)

    def toleration_rules(self, toleration: Mapping[Any, Any], path: str) -> None:
        # The rules Kubernetes enforces, so the pod is not rejected at run time.
        # Each applies only to well-typed fields, which were checked just before.
        operator = toleration.get("operator") or "Equal"
        value, key = toleration.get("value"), toleration.get("key")
        if operator == "Exists" and isinstance(value, str) and value:
            self.error(
                field_path(path, "value"), "must be empty when operator is Exists"
            )
        if operator == "Equal" and key in (None, ""):
            self.error(field_path(path, "key"), "is required unless operator is Exists")
        seconds = toleration.get("tolerationSeconds")
        if (
            isinstance(seconds, int)
            and not isinstance(seconds, bool)
            and toleration.get("effect") != "NoExecute"
        ):
            self.error(
                field_path(path, "tolerationSeconds"), "needs effect NoExecute to apply"
            )


def _duration_text(seconds: int) -> str:
    """A whole number of seconds as the largest unit that divides it: '365d'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _resource_name_ok(name: str) -> bool:
    return name in STANDARD_RESOURCES or "/" in name


def _valid_quantities(value: object) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        return {}
    result = {}
    for name, amount in value.items():
        if isinstance(name, str) and _resource_name_ok(name):
            # A bad or too large quantity is reported where quantities are
            # checked, not compared again.
            with suppress(ValueError):
                parsed = quantity_value(amount)
                if parsed <= quantity_maximum(name)[0]:
                    result[name] = parsed
    return result


def validate(
    document: Mapping[str, Any],
    limits: Limits = Limits(),  # noqa: B008 - frozen, so sharing it is safe
) -> list[FieldError]:
    """Every problem with the document, in document order; empty when it is valid.

    Within an object, errors follow its keys; a missing field and checks across
    fields come after. Never raises, whatever the shape of `document`.
    """
    validator = _Validator(document, limits)
    validator.document(document)
    return validator.errors
