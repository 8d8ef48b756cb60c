"""Dynamic fan-out: a task that runs once per item (`withItems`, `withParam`,
`withSequence`), its instances' names, and `{{item}}` in their fields
(docs/spec.md, "Fan-out").

An instance of task `process` is named `process[3]` (its item's index): the
brackets cannot appear in a task's own name, so an instance's name always
tells its task, and the engine needs no lookup to find it.

Pure: the standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_ITEMS = 10_000


@dataclass(frozen=True, slots=True)
class Sequence_:
    """`withSequence`: `count` items from 0, or `start` to `end` inclusive,
    each shown with `format` (a printf-like `%d`/`%02d`, or none)."""

    start: int
    end: int  # inclusive
    format: str | None = None

    def items(self) -> list[str]:
        step = 1 if self.end >= self.start else -1
        numbers = range(self.start, self.end + step, step)
        return [self.format % n if self.format else str(n) for n in numbers]

    def __len__(self) -> int:
        return abs(self.end - self.start) + 1


@dataclass(frozen=True, slots=True)
class FanOut:
    """How a task fans out: one of `items`, `param` (a reference to a JSON
    list produced upstream) or `sequence`; at most `parallelism` instances
    run at once."""

    items: tuple[Any, ...] | None = None
    param: str | None = None  # the reference text, such as {{tasks.x.outputs.result}}
    sequence: Sequence_ | None = None
    parallelism: int | None = None


def instance_name(task: str, index: int) -> str:
    return f"{task}[{index}]"


def split_instance(name: str) -> tuple[str, int | None]:
    """(the task, the index) of an instance name; (name, None) for a task."""
    if not name.endswith("]"):
        return name, None
    task, _, index = name[:-1].partition("[")
    if not index.isdigit():
        return name, None
    return task, int(index)


class ItemsError(ValueError):
    """A `withParam` value that is not a list of items, or too long a list."""


def items_from_value(value: str, limit: int = DEFAULT_MAX_ITEMS) -> list[Any]:
    """The items a `withParam` value holds: a JSON list (of anything)."""
    try:
        items = json.loads(value)
    except ValueError:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ItemsError(f"withParam needs a JSON list, not {shown!r}") from None
    if not isinstance(items, list):
        raise ItemsError(f"withParam needs a JSON list, not a {type(items).__name__}")
    if len(items) > limit:
        raise ItemsError(
            f"withParam gave {len(items)} items; at most {limit} are allowed "
            "(FLOWDECK_MAX_FAN_OUT)"
        )
    return items


def static_items(fan_out: FanOut) -> list[Any] | None:
    """The items when the spec alone says them; None for withParam."""
    if fan_out.items is not None:
        return list(fan_out.items)
    if fan_out.sequence is not None:
        return list(fan_out.sequence.items())
    return None


def item_text(item: Any) -> str:
    """An item as `{{item}}` substitutes it: text as is, anything else JSON."""
    return item if isinstance(item, str) else json.dumps(item, sort_keys=True)


def item_field(item: Any, path: Sequence[str]) -> str | None:
    """`{{item.a.b}}` of an item (None when it has no such field)."""
    value = item
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return item_text(value)
