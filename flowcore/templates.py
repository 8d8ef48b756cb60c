"""References in a spec's text fields: `{{params.x}}` and the outputs of
upstream tasks, `{{tasks.extract.outputs.result}}`, read and substituted.

Only the roots Flowdeck knows are references; any other `{{ ... }}` (a Helm or
Go template inside a command, say) is text and left as it is.

    {{params.NAME}}
    {{tasks.TASK.outputs.result}}
    {{tasks.TASK.outputs.parameters.NAME}}
    {{tasks.TASK.outputs.artifacts.NAME}}   (in inputs.artifacts[].from and
                                             spec.outputs.artifacts[].from only)
    {{tasks.TASK.ip}}, {{tasks.TASK.service}} (a daemon task's address)
    {{item}}, {{item.FIELD}}                 (in a fan-out task: its instance's item)
    {{run.status}}, {{run.failures}}, {{run.id}}   (in an exit handler)

Pure: the standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# A `{{ ... }}` whose first word is a root Flowdeck interprets.
TEMPLATE = re.compile(
    r"\{\{\s*((?:params|tasks|item|run)\.[^{}\s]*|params|tasks|item|run)\s*\}\}"
)
# What an exit handler may read of the run that ended.
RUN_FIELDS = ("status", "failures", "id")
_NAME = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_]*")

RESULT = "result"
PARAMETERS = "parameters"
ARTIFACTS = "artifacts"
OUTPUT_KINDS = (RESULT, PARAMETERS, ARTIFACTS)
# A daemon's address (docs/spec.md, "Daemons"): `{{tasks.db.ip}}` is the kind
# ADDRESS with the output "ip". Stored as the daemon attempt's output
# parameters of these names, which a daemon declares none of its own.
ADDRESS = "address"
ADDRESS_FIELDS = ("ip", "service")


@dataclass(frozen=True, slots=True)
class Reference:
    """One parsed reference. `root` is "params" or "tasks"; `name` the
    parameter's or task's name; for a task, `kind` is result, parameters or
    artifacts and `output` the output's name (empty for the result)."""

    root: str
    name: str
    kind: str = ""
    output: str = ""

    @property
    def key(self) -> str:
        """The canonical text inside the braces: one key per distinct value."""
        if self.root == "params":
            return f"params.{self.name}"
        if self.root == "item":
            return f"item.{self.name}" if self.name else "item"
        if self.root == "run":
            return f"run.{self.name}"
        if self.kind == RESULT:
            return f"tasks.{self.name}.outputs.result"
        if self.kind == ADDRESS:
            return f"tasks.{self.name}.{self.output}"
        return f"tasks.{self.name}.outputs.{self.kind}.{self.output}"

    def __str__(self) -> str:
        return "{{" + self.key + "}}"


class ReferenceError_(ValueError):
    """A `{{params...}}` or `{{tasks...}}` that does not parse."""


def parse_reference(expression: str) -> Reference:
    """The reference written inside the braces; ReferenceError_ saying what is
    wrong with it."""
    parts = expression.split(".")
    root = parts[0]
    if root == "item":
        if any(not part for part in parts[1:]):
            raise ReferenceError_("an item reference is {{item}} or {{item.FIELD}}")
        return Reference("item", ".".join(parts[1:]))
    if root == "run":
        if len(parts) != 2 or parts[1] not in RUN_FIELDS:
            raise ReferenceError_(
                "a run reference is {{run.status}}, {{run.failures}} or {{run.id}}"
            )
        return Reference("run", parts[1])
    if root == "params":
        if len(parts) != 2 or not parts[1]:
            raise ReferenceError_("a parameter reference is {{params.NAME}}")
        return Reference("params", parts[1])
    if len(parts) == 3 and parts[1] and parts[2] in ADDRESS_FIELDS:
        return Reference("tasks", parts[1], ADDRESS, parts[2])
    if len(parts) < 4 or parts[2] != "outputs" or not parts[1]:
        raise ReferenceError_(
            "a task reference is {{tasks.TASK.outputs.result}}, "
            "{{tasks.TASK.outputs.parameters.NAME}}, "
            "{{tasks.TASK.outputs.artifacts.NAME}}, or a daemon's "
            "{{tasks.TASK.ip}} or {{tasks.TASK.service}}"
        )
    task, kind = parts[1], parts[3]
    if kind == RESULT and len(parts) == 4:
        return Reference("tasks", task, RESULT)
    if kind in (PARAMETERS, ARTIFACTS) and len(parts) == 5 and parts[4]:
        return Reference("tasks", task, kind, parts[4])
    raise ReferenceError_(
        f"unknown output {'.'.join(parts[3:])!r}: a task's outputs are result, "
        "parameters.NAME and artifacts.NAME"
    )


@dataclass(frozen=True, slots=True)
class Found:
    """A reference as it appears in a text: parsed, or the reason it is not."""

    text: str  # the whole `{{ ... }}` as written
    reference: Reference | None
    problem: str = ""


def find_references(text: str) -> Iterator[Found]:
    """Every `{{params...}}` and `{{tasks...}}` in `text`, in order."""
    for match in TEMPLATE.finditer(text):
        try:
            yield Found(match.group(0), parse_reference(match.group(1)))
        except ReferenceError_ as error:
            yield Found(match.group(0), None, str(error))


def render(
    text: str, resolve: Callable[[Reference], str | None]
) -> tuple[str, list[Reference]]:
    """`text` with every reference replaced by what `resolve` gives, in one
    pass (a value that itself holds a reference stays as it is); also the
    references `resolve` had no value for (left as written)."""
    missing: list[Reference] = []

    def substitute(match: re.Match[str]) -> str:
        try:
            reference = parse_reference(match.group(1))
        except ReferenceError_:
            return match.group(0)
        value = resolve(reference)
        if value is None:
            missing.append(reference)
            return match.group(0)
        return value

    return TEMPLATE.sub(substitute, text), missing


def is_name(text: str) -> bool:
    """Whether `text` may name an output (letters, digits, `_` and `-`)."""
    return _NAME.fullmatch(text) is not None
