"""What a valid document asks of this server's backend that it cannot do.

Warnings, not errors: the document is valid and another server (another
backend) runs it; the editor and the workflow page say so before a run fails.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowcore.spec_base import FieldError

# Backends that run `command` and `args` as a process and never pull `image`.
IMAGELESS_BACKENDS = frozenset({"local"})


def runs_images(backend: str) -> bool:
    return backend not in IMAGELESS_BACKENDS


def backend_warnings(document: object, backend: str) -> list[FieldError]:
    """A warning at `command` for each container task that has neither a
    command nor arguments, when `backend` ignores images (the image's
    entrypoint is what such a task would run). Never raises."""
    if runs_images(backend):
        return []
    spec = document.get("spec") if isinstance(document, Mapping) else None
    if not isinstance(spec, Mapping):
        return []
    warnings: list[FieldError] = []
    for key in ("tasks", "onExit"):
        tasks = spec.get(key)
        if not isinstance(tasks, list):
            continue
        for index, task in enumerate(tasks):
            if not isinstance(task, Mapping) or task.get("workflow") is not None:
                continue
            if task.get("command") or task.get("args"):
                continue
            warnings.append(
                FieldError(
                    f"spec.{key}[{index}].command",
                    f"this server's {backend} backend runs command and args and "
                    "ignores image: give the task a command, or it cannot run",
                )
            )
    return warnings
