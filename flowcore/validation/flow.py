"""Control flow in the spec: a task's `when` condition, its `depends`
expression, its trigger rule and what failures it forgives (`continueOn`)
(docs/spec.md, "Control flow").
"""

from __future__ import annotations

from collections.abc import Mapping

from flowcore.conditions import (
    ExpressionError,
    depended_tasks,
    parse_condition,
    parse_depends,
    references,
)
from flowcore.spec_base import TRIGGER_RULES, field_path
from flowcore.validation.checks import Checks, _Check


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
