"""Output for people (tables) and for programs (JSON, YAML), on stdout only;
progress and errors go to stderr."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def emit(data: Any, fmt: str, table: Callable[[], str] | None = None) -> None:
    """Print `data` as JSON or YAML, or as the table `table()` builds."""
    if fmt == "json":
        print(json.dumps(data, indent=2, sort_keys=False, default=str))
    elif fmt == "yaml":
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    elif table is not None:
        text = table()
        if text:
            print(text)
    else:
        print(json.dumps(data, indent=2, default=str))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    cells = [[name.upper() for name, _ in columns]]
    for row in rows:
        cells.append([_cell(get(row)) for _, get in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "   ".join(
            cell.ljust(width) for cell, width in zip(line, widths, strict=True)
        ).rstrip()
        for line in cells
    )


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())


def age(timestamp: str | None, now: dt.datetime | None = None) -> str:
    """An ISO time as how long ago it was: 5s, 3m, 2h, 4d."""
    if not timestamp:
        return "-"
    try:
        moment = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    seconds = ((now or dt.datetime.now(dt.UTC)) - moment).total_seconds()
    return duration(max(0.0, seconds))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"
    return f"{seconds // 86400:.0f}d{seconds % 86400 // 3600:02.0f}h"


def note(text: str) -> None:
    """A line for the person at the terminal, never for a program."""
    print(text, file=sys.stderr)
