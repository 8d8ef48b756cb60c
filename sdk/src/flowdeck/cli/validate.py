"""Offline validation with the server's own validator (flowcore), each error
placed at its line and column in the YAML (or JSON) it came from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flowcore.spec import SpecError, parse_document, validate

_SEGMENT = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    line: int | None = None  # 1-based, as editors count
    column: int | None = None

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}:{self.column}: " if self.line else f"{file}: "
        return f"{where}{self.path or '(document)'}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }


def split_path(path: str) -> list[str | int]:
    """`spec.tasks[1].resources.limits["nvidia.com/gpu"]` -> its keys and indices."""
    parts: list[str | int] = []
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None or match.end() == position:
            break
        key, index, quoted = match.groups()
        if index is not None:
            parts.append(int(index))
        elif quoted is not None:
            parts.append(quoted.encode().decode("unicode_escape"))
        else:
            parts.append(key)
        position = match.end()
    return parts


def locate(text: str, path: str, *, at_key: bool = False) -> tuple[int, int] | None:
    """Where `path` is in the YAML text: the deepest node of it that exists
    (a missing field points at the mapping that lacks it); `at_key`: the key
    of the last part rather than its value (an unknown field's name)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    parts = split_path(path)
    for position, part in enumerate(parts):
        child = None
        if isinstance(part, int) and isinstance(node, yaml.SequenceNode):
            child = node.value[part] if part < len(node.value) else None
        elif isinstance(part, str) and isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    last = position == len(parts) - 1
                    child = key if at_key and last else value
                    break
        if child is None:
            break
        node = child
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


def validate_text(text: str) -> list[Problem]:
    try:
        document = parse_document(text)
    except SpecError as exc:
        return [Problem(e.path, e.message) for e in exc.errors]
    return validate_document(document, text)


def validate_document(document: Any, text: str | None = None) -> list[Problem]:
    problems = []
    for error in validate(document):
        at_key = error.message.startswith("unknown field")
        place = locate(text, error.path, at_key=at_key) if text is not None else None
        line, column = place if place else (None, None)
        problems.append(Problem(error.path, error.message, line, column))
    return problems


def read_document(file: Path) -> tuple[dict[str, Any], str]:
    text = file.read_text()
    return parse_document(text), text
