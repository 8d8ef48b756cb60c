"""Control flow in the spec: a task's `when` condition, its `depends`
expression, its trigger rule, what failures it forgives (`continueOn`), its
fan-out, and concurrency (`maxActiveRuns`, `synchronization`) (docs/spec.md,
"Control flow").
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from flowcore.conditions import (
    ExpressionError,
    depended_tasks,
    parse_condition,
    parse_depends,
    references,
)
from flowcore.spec_base import (
    MAX_ACTIVE_RUNS,
    MAX_PARALLELISM,
    TRIGGER_RULES,
    field_path,
)
from flowcore.templates import TEMPLATE, ReferenceError_, parse_reference
from flowcore.validation.checks import Checks, _Check, _lock_of

# What a sub-workflow task may not have: it starts a run, not a container.
_CONTAINER_FIELDS = (
    "image",
    "command",
    "args",
    "env",
    "resources",
    "volumes",
    "volumeMounts",
    "workingDir",
    "securityContext",
    "outputs",
    "inputs",
    "initContainers",
    "sidecars",
    "kind",
    "job",
    "daemon",
    "ports",
    "readinessProbe",
    "persistent",
    "storage",
)


class FlowChecks(Checks):
    """Checks of the fields that decide whether and when a task runs."""

    def when(self, value: object, path: str) -> None:
        if not self.string(value, path, nonempty=True):
            return
        try:
            node = parse_condition(value)
        except ExpressionError as error:
            self.error(path, f"{value!r}: {error}")
            return
        for ref in references(node):
            problem = self.reference_problem(ref.reference)
            if problem is not None:
                self.error(
                    path,
                    f"{value!r}: position {ref.position + 1}: {ref.text}: {problem}",
                )

    def depends(self, value: object, path: str, index: int, own: str | None) -> None:
        if not self.string(value, path, nonempty=True):
            return
        try:
            node = parse_depends(value)
        except ExpressionError as error:
            self.error(path, f"{value!r}: {error}")
            return
        seen: list[str] = []
        for item in depended_tasks(node):
            where = f"{value!r}: position {item.position + 1}"
            if item.task == own:
                self.error(path, f"{where}: a task cannot depend on itself")
            elif item.task not in self.task_index:
                self.error(path, f"{where}: unknown task {item.task!r}")
            elif item.task not in seen:
                seen.append(item.task)
        for position in range(len(seen)):
            if (index, position) in self.cycles:
                self.error(path, self.cycles[(index, position)])

    def with_items(self, value: object, path: str) -> None:
        items = self.items(value, path)
        if isinstance(value, list) and not items:
            self.error(path, "must have at least one item")
        elif len(items) > self.limits.max_fan_out:
            self.error(
                path,
                f"must have at most {self.limits.max_fan_out} items (has {len(items)})",
            )
        for where, item in items:
            if isinstance(item, str):
                self.storable(item, where)
            elif not isinstance(item, int | float | bool | dict | list):
                self.error(where, "must be a string, number, boolean, list or mapping")
            else:
                self.free_form(item, where)

    def with_param(self, value: object, path: str) -> None:
        """One reference to a JSON list: an upstream output or a parameter."""
        if not self.string(value, path, nonempty=True):
            return
        match = TEMPLATE.fullmatch(value.strip())
        if match is None:
            self.error(
                path,
                "must be one reference to a JSON list, such as "
                "{{tasks.discover.outputs.result}} or {{params.files}}",
            )
            return
        try:
            reference = parse_reference(match.group(1))
        except ReferenceError_ as error:
            self.error(path, f"{value.strip()}: {error}")
            return
        if reference.root == "item":
            problem: str | None = "must name an upstream output or a parameter"
        else:
            problem = self.reference_problem(reference)
        if problem is not None:
            self.error(path, f"{value.strip()}: {problem}")

    def with_sequence(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "count": partial(self.integer, low=1, high=self.limits.max_fan_out),
            "start": partial(self.integer, low=-(10**9), high=10**9),
            "end": partial(self.integer, low=-(10**9), high=10**9),
            "format": self.sequence_format,
        }
        sequence = self.fields(value, path, checks)
        if sequence is None:
            return
        has = {key: sequence.get(key) is not None for key in ("count", "end")}
        if has["count"] == has["end"]:
            self.error(path, "must set exactly one of count or end")
            return
        start, end = sequence.get("start", 0), sequence.get("end")
        if (
            isinstance(start, int)
            and isinstance(end, int)
            and abs(end - start) + 1 > self.limits.max_fan_out
        ):
            self.error(path, f"must have at most {self.limits.max_fan_out} items")

    def sequence_format(self, value: object, path: str) -> None:
        if not self.string(value, path, nonempty=True):
            return
        try:
            value % 1
        except (TypeError, ValueError):
            self.error(path, "must hold one %d, such as item-%03d")

    def task_parallelism(self, value: object, path: str) -> None:
        self.integer(value, path, low=1, high=MAX_PARALLELISM)

    def sub_workflow(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {
            "name": self.dns_label,
            "version": partial(self.integer, low=1, high=10**9),
            "parameters": self.sub_workflow_parameters,
        }
        self.fields(value, path, checks, required=("name",))

    def sub_workflow_parameters(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping of parameter names to values")
            return
        for key, item in value.items():
            where = field_path(path, key)
            if not isinstance(key, str) or not key:
                self.error(where, "keys must be parameter names")
            elif isinstance(item, bool | int | float):
                continue
            else:
                self.template(item, where)

    def sub_workflow_rules(self, task: Mapping[object, object], path: str) -> None:
        """A sub-workflow task runs another workflow, not a container."""
        for key in _CONTAINER_FIELDS:
            if task.get(key) is not None:
                self.error(
                    field_path(path, key),
                    "a task with workflow runs that workflow, not a container: "
                    f"leave {key} out",
                )

    def max_active_runs(self, value: object, path: str) -> None:
        self.integer(value, path, low=1, high=MAX_ACTIVE_RUNS)

    def synchronization(self, value: object, path: str) -> None:
        """`{semaphore: NAME}` or `{mutex: NAME}`: names are DNS labels, like
        the project's semaphores (whether one exists is the server's check)."""
        checks: dict[str, _Check] = {
            "semaphore": self.dns_label,
            "mutex": self.dns_label,
        }
        sync = self.fields(value, path, checks)
        if sync is None:
            return
        if sum(sync.get(kind) is not None for kind in checks) != 1:
            self.error(path, "must set exactly one of semaphore or mutex")

    def trigger_rule(self, value: object, path: str) -> None:
        self.choice(value, path, TRIGGER_RULES)

    def continue_on(self, value: object, path: str) -> None:
        checks: dict[str, _Check] = {"failed": self.boolean, "error": self.boolean}
        self.fields(value, path, checks)

    def flow_rules(self, task: object, path: str) -> None:
        """Checks across a task's control-flow fields."""
        if not isinstance(task, Mapping):
            return
        if task.get("depends") is not None and task.get("dependencies") is not None:
            self.error(
                field_path(path, "depends"),
                "set depends or dependencies, not both (depends names its tasks)",
            )
        fan_outs = [
            key for key in ("withItems", "withParam", "withSequence") if task.get(key)
        ]
        if len(fan_outs) > 1:
            self.error(
                field_path(path, fan_outs[1]),
                f"set one of withItems, withParam or withSequence (not {fan_outs[0]} "
                "too)",
            )
        if task.get("parallelism") is not None and not fan_outs:
            self.error(
                field_path(path, "parallelism"),
                "limits the instances of a fan-out: set withItems, withParam or "
                "withSequence",
            )
        lock = _lock_of(task.get("synchronization"))
        if lock is not None and lock == self.run_lock:
            kind, name = lock
            self.error(
                field_path(path, "synchronization"),
                f"the whole run holds {kind} {name} while it runs "
                "(spec.synchronization): a task of it cannot take it again",
            )
        rule = task.get("triggerRule")
        has_upstream = bool(task.get("depends") or task.get("dependencies"))
        if rule not in (None, TRIGGER_RULES[0]) and not has_upstream:
            self.error(
                field_path(path, "triggerRule"),
                "a trigger rule needs upstream tasks (dependencies or depends)",
            )
        if task.get("depends") is not None and rule not in (None, TRIGGER_RULES[0]):
            self.error(
                field_path(path, "triggerRule"),
                "depends decides when the task runs: no trigger rule with it",
            )
