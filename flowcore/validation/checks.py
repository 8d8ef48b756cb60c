"""The primitives every part of the spec's validation uses: one error list,
fields in document order, scalars, names, paths, quantities and templates.

Pure: no Django; `kubernetes` is imported lazily (through the quantity grammar).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

from flowcore.conditions import ExpressionError, depended_tasks, parse_depends
from flowcore.dag import find_cycles
from flowcore.spec_base import (
    MAX_BACKOFF_FACTOR,
    MAX_BYTES,
    MAX_NAME_LENGTH,
    MAX_SUBDOMAIN_LENGTH,
    MAX_TIMEOUT,
    FieldError,
    Limits,
    control_problem,
    field_path,
    quantity_value,
    text_problem,
    to_seconds,
)
from flowcore.templates import (
    ADDRESS,
    ARTIFACTS,
    PARAMETERS,
    Reference,
    find_references,
)

_TASKS = "spec.tasks"
_Check = Callable[[Any, str], object]
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")

_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_list(value: object) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    return isinstance(value, list | tuple)


def _mapping_at(value: object, key: str) -> Mapping[Any, Any]:
    item = value.get(key) if isinstance(value, Mapping) else None
    return item if isinstance(item, Mapping) else {}


def _name_of(task: object) -> str | None:
    name = task.get("name") if isinstance(task, Mapping) else None
    return name if isinstance(name, str) else None


def _unknown_field(key: object) -> str:
    if key is True:
        return (
            "unknown field true (YAML 1.1 reads an unquoted `on` key as true;"
            " quote it or load the document with parse_document)"
        )
    return f"unknown field {key!r}"


def _declared_parameters(spec: Mapping[Any, Any]) -> set[str]:
    declared = spec.get("parameters")
    if not _is_list(declared):
        return set()
    return {name for item in declared if (name := _name_of(item)) is not None}


@dataclass(frozen=True, slots=True)
class _Declared:
    """A task's declared outputs, gathered before the tasks are checked."""

    parameters: Mapping[str, bool]  # name -> secret
    artifacts: frozenset[str]
    # A sub-workflow task: its outputs are its child run's, which this
    # document does not declare, so any name may be read.
    open: bool = False


def _declared_outputs(
    tasks: Sequence[Any], index: Mapping[str, int]
) -> dict[str, _Declared]:
    declared: dict[str, _Declared] = {}
    for name, i in index.items():
        outputs = _mapping_at(tasks[i], "outputs")
        parameters: dict[str, bool] = {}
        entries = outputs.get("parameters")
        for entry in entries if _is_list(entries) else ():
            output = _name_of(entry)
            if output is not None:
                parameters.setdefault(
                    output, isinstance(entry, Mapping) and entry.get("secret") is True
                )
        artifacts = outputs.get("artifacts")
        declared[name] = _Declared(
            parameters,
            frozenset(
                output
                for entry in (artifacts if _is_list(artifacts) else ())
                if (output := _name_of(entry)) is not None
            ),
            open=isinstance(tasks[i], Mapping) and tasks[i].get("workflow") is not None,
        )
    return declared


def _lock_of(value: object) -> tuple[str, str] | None:
    """(kind, name) of a `synchronization` mapping naming exactly one."""
    if not isinstance(value, Mapping):
        return None
    named = [(k, value[k]) for k in ("semaphore", "mutex") if value.get(k) is not None]
    return named[0] if len(named) == 1 and isinstance(named[0][1], str) else None


def _dependencies_of(task: object) -> object:
    """A task's `dependencies`; or, for a task with `depends` instead, the
    tasks its expression names (in order, once each)."""
    if not isinstance(task, Mapping):
        return None
    dependencies = task.get("dependencies")
    depends = task.get("depends")
    if dependencies is None and isinstance(depends, str):
        try:
            node = parse_depends(depends)
        except ExpressionError:
            return None  # reported where depends is checked
        return list(dict.fromkeys(item.task for item in depended_tasks(node)))
    return dependencies


class _Upstreams:
    """Every task's upstream tasks, direct and transitive (a cycle's tasks are
    upstream of each other; the cycle itself is reported elsewhere), worked
    out on demand: only tasks that refer to another task's outputs ask, and
    the full closure of a 10,000-task layered DAG is tens of millions of
    entries (it took seconds when it was computed up front)."""

    def __init__(self, tasks: Sequence[Any], index: Mapping[str, int]) -> None:
        self.direct: dict[str, list[str]] = {}
        for name, i in index.items():
            dependencies = _dependencies_of(tasks[i])
            self.direct[name] = [
                d
                for d in (dependencies if _is_list(dependencies) else ())
                if isinstance(d, str) and d in index
            ]
        self.extra: dict[str, frozenset[str]] = {}
        self.known: dict[str, frozenset[str]] = {}

    def add(self, name: str, upstream: frozenset[str]) -> None:
        """Make every task of `upstream` upstream of `name` too."""
        self.extra[name] = self.extra.get(name, frozenset()) | upstream
        self.known.pop(name, None)

    def of(self, start: str) -> frozenset[str]:
        known = self.known.get(start)
        if known is not None:
            return known
        seen: set[str] = set(self.extra.get(start, ()))
        pending = list(self.direct.get(start, ()))
        while pending:
            upstream = pending.pop()
            if upstream in seen:
                continue
            seen.add(upstream)
            pending.extend(self.direct.get(upstream, ()))
        result = frozenset(seen)
        self.known[start] = result
        return result


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
        dependencies = _dependencies_of(task)
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


def _duration_text(seconds: int) -> str:
    """A whole number of seconds as the largest unit that divides it: '365d'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Checks:
    """One pass over a document that collects every error instead of stopping."""

    def __init__(self, document: Mapping[Any, Any], limits: Limits) -> None:
        self.errors: list[FieldError] = []
        self.limits = limits
        spec = _mapping_at(document, "spec")
        # Gathered up front so references can be checked where they occur.
        self.parameters = _declared_parameters(spec)
        tasks = spec.get("tasks")
        exits = spec.get("onExit")
        main_list = list(tasks) if _is_list(tasks) else []
        exit_list = list(exits) if _is_list(exits) else []
        # Exit handlers are numbered after the tasks (their index in onExit
        # plus main_count), so one index names any task.
        self.main_count = len(main_list)
        task_list = main_list + exit_list
        self.task_index: dict[str, int] = {}
        for i, task in enumerate(task_list):
            name = _name_of(task)
            if name is not None:
                self.task_index.setdefault(name, i)
        self.exit_tasks = frozenset(
            name for name, i in self.task_index.items() if i >= self.main_count
        )
        self.default_image = _mapping_at(spec, "defaults").get("image") is not None
        # Tasks that run as Jobs, which leave no outputs to refer to.
        self.job_tasks = frozenset(
            name
            for task in task_list
            if isinstance(task, Mapping)
            and task.get("kind") == "Job"
            and (name := _name_of(task)) is not None
        )
        # Daemon tasks, whose only values are their address (ip, service).
        self.daemon_tasks = frozenset(
            name
            for task in task_list
            if isinstance(task, Mapping)
            and task.get("daemon") is True
            and (name := _name_of(task)) is not None
        )
        self.cycles = _cycles(task_list, self.task_index)
        self.declared_outputs = _declared_outputs(task_list, self.task_index)
        self.upstreams = _Upstreams(task_list, self.task_index)
        # An exit handler runs after every task: all of them are upstream of it.
        main_names = frozenset(self.task_index) - self.exit_tasks
        for name in self.exit_tasks:
            self.upstreams.add(name, main_names)
        # The task whose fields are being checked (None outside a task): its
        # references may name its upstream tasks' outputs only.
        self.current_task: str | None = None
        self.in_defaults = False  # spec.defaults: no task's outputs exist there
        self.fanning_out = False  # the current task has withItems/withParam/...
        # What the whole run holds (spec.synchronization), which its tasks
        # cannot take again.
        self.run_lock = _lock_of(spec.get("synchronization"))

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
        self,
        value: object,
        path: str,
        nonempty: bool = False,
        *,
        env_value: bool = False,
    ) -> TypeGuard[str]:
        """A text that may hold references: every `{{params...}}` must name a
        declared parameter, every `{{tasks...}}` an output of an upstream task
        (a secret one only in an env value, which is masked like the output)."""
        if not self.string(value, path, nonempty=nonempty):
            return False
        seen: set[str] = set()
        for found in find_references(value):
            if found.text in seen:
                continue
            seen.add(found.text)
            if found.reference is None:
                self.error(path, f"{found.text}: {found.problem}")
                continue
            problem = self.reference_problem(found.reference, env_value=env_value)
            if problem is None:
                continue
            if found.reference.root == "params":
                self.error(path, problem)  # the parameter's name says it all
            else:
                self.error(path, f"{found.text}: {problem}")
        return True

    def reference_problem(
        self, reference: Reference, *, env_value: bool = False, artifact: bool = False
    ) -> str | None:
        """What is wrong with a reference where it is written; None if nothing.
        `artifact`: it stands where an artifact is expected (inputs.artifacts'
        `from`), not in a text."""
        if reference.root == "run":
            if artifact:
                return "must name an output artifact of an upstream task"
            if self.current_task not in self.exit_tasks:
                return "{{run...}} is set only in an exit handler (spec.onExit)"
            return None
        if reference.root == "item":
            if artifact:
                return "must name an output artifact of an upstream task"
            if not self.fanning_out:
                return (
                    "{{item}} is set only in a task with withItems, withParam or "
                    "withSequence"
                )
            return None
        if reference.root == "params":
            if artifact:
                return "must name an output artifact of an upstream task"
            if reference.name in self.parameters:
                return None
            return f"refers to unknown parameter {reference.name!r}"
        task = reference.name
        if self.in_defaults:
            return "a task's outputs cannot be used in spec.defaults"
        declared = self.declared_outputs.get(task)
        if declared is None and task in self.limits.external_tasks:
            return None  # checked where that task is declared
        if declared is None:
            return f"refers to unknown task {task!r}"
        current = self.current_task
        if current is not None:
            if task == current:
                return "a task cannot use its own outputs"
            if task not in self.upstreams.of(current):
                return (
                    f"task {task!r} is not upstream of {current!r}: add it to "
                    f"{current!r}'s dependencies (or to an upstream's)"
                )
        if reference.kind == ADDRESS:
            if artifact:
                return "must name an output artifact of an upstream task"
            if task not in self.daemon_tasks:
                return (
                    f"task {task!r} is not a daemon: only a daemon (daemon: true) "
                    f"has an address ({{{{tasks.{task}.{reference.output}}}}})"
                )
            return None
        if task in self.daemon_tasks:
            return (
                f"task {task!r} is a daemon, which leaves no outputs: read its "
                f"address, {{{{tasks.{task}.ip}}}} or {{{{tasks.{task}.service}}}}"
            )
        if task in self.job_tasks:
            return f"task {task!r} runs as a Job, which leaves no outputs"
        if reference.kind == ARTIFACTS:
            if not artifact:
                return "an artifact is passed with inputs.artifacts, not in a text"
            if reference.output not in declared.artifacts and not declared.open:
                return f"task {task!r} declares no output artifact {reference.output!r}"
            return None
        if artifact:
            return "must name an output artifact of an upstream task"
        if reference.kind == PARAMETERS:
            secret = declared.parameters.get(reference.output)
            if secret is None and declared.open:
                return None
            if secret is None:
                return (
                    f"task {task!r} declares no output parameter {reference.output!r}"
                )
            if secret and not env_value:
                return (
                    "a secret output can be passed in an env value only (where it "
                    "stays masked)"
                )
        return None

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
