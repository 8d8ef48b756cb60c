"""Argo Workflows interop against the database (docs/argo.md): a file of Argo
documents imported as workflows, with the schedules of its CronWorkflows, all
or nothing; a version exported as an Argo document.

The conversion itself is flowcore.argo's; this module saves what it gives
through the services every other writer uses (workflows.services.submit,
schedules.services.editing), so the same checks apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from flowcore.argo import ArgoError, Converted, Note, convert_text, export_workflow
from flowcore.fire_times import ScheduleError
from flowcore.secrets import mask_secrets
from flowcore.spec import FieldError, SpecError
from schedules.models import Schedule
from schedules.services.editing import create_schedule, update_schedule
from workflows.models import Project, Workflow, WorkflowVersion
from workflows.services.submit import create_workflow, update_workflow

EXPORT_KINDS = ("Workflow", "WorkflowTemplate")
# A line that starts a YAML document of a stream.
_DOCUMENT_START = re.compile(r"^---(?:[ \t].*)?$", re.MULTILINE)


@dataclass(slots=True)
class Imported:
    workflow: Workflow
    version: WorkflowVersion
    created: bool  # False: an existing workflow got a new version (replace)
    notes: list[Note]
    schedules: list[Schedule]


def convert(text: str | bytes) -> list[Converted]:
    """The file's documents as Flowdeck workflows with their reports; a
    SpecError naming where a document is not an Argo workflow."""
    try:
        return convert_text(text)
    except ArgoError as error:
        raise SpecError([FieldError(error.path, error.message)]) from None


def refusals(converted: Sequence[Converted]) -> list[FieldError]:
    """What keeps the file from running as Argo would run it, each at its
    path in the Argo file."""
    return [
        FieldError(note.path, f"cannot be imported: {note.message}")
        for result in converted
        for note in result.refused
    ]


def import_argo(
    text: str,
    *,
    project: Project,
    author: Any,
    now: datetime,
    message: str = "",
    replace: bool = False,
) -> list[Imported]:
    """Save every document of an Argo file as a workflow of `project` (and
    each CronWorkflow's schedules), keeping its original text with the
    version. With `replace`, a workflow of the same name gets a new version
    (and a schedule of the same name new settings) instead of being an error.
    SpecError with every problem, and nothing saved, when any part cannot be.
    Callers check permissions first."""
    converted = convert(text)
    errors = refusals(converted)
    errors += _repeated_names(converted)
    if errors:
        raise SpecError(errors)
    originals = _original_texts(text, converted[-1].document_index + 1)
    imported: dict[int, Imported] = {}
    with transaction.atomic():
        for index in _callees_first(converted):
            result = converted[index]
            imported[index] = _save(
                result,
                result.document_index if len(originals) > 1 else None,
                originals[result.document_index],
                project=project,
                author=author,
                now=now,
                message=message or f"imported from Argo ({result.kind})",
                replace=replace,
            )
    return [imported[index] for index in range(len(converted))]


def export_version(version: WorkflowVersion, kind: str = "Workflow") -> dict[str, Any]:
    """The version as an Argo document of `kind`, secret values masked."""
    if kind not in EXPORT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EXPORT_KINDS)}")
    return export_workflow(mask_secrets(version.document), kind=kind)


def _save(
    result: Converted,
    index: int | None,
    original: str,
    *,
    project: Project,
    author: Any,
    now: datetime,
    message: str,
    replace: bool,
) -> Imported:
    source = {"format": "argo", "text": original}
    existing = (
        Workflow.objects.filter(project=project, name=result.name).first()
        if replace
        else None
    )
    try:
        if existing is not None:
            version = update_workflow(
                existing, result.document, author=author, message=message, source=source
            )
            workflow = existing
        else:
            workflow = create_workflow(
                result.document,
                author=author,
                project=project,
                message=message,
                source=source,
            )
            version = workflow.latest_version
    except SpecError as error:
        raise SpecError(
            [_in_converted(e.path, e.message, result.name, index) for e in error.errors]
        ) from None
    assert version is not None
    schedules = [
        _save_schedule(workflow, values, index, author=author, now=now)
        for values in result.schedules
    ]
    return Imported(workflow, version, existing is None, result.notes, schedules)


def _save_schedule(
    workflow: Workflow,
    values: Mapping[str, Any],
    index: int | None,
    *,
    author: Any,
    now: datetime,
) -> Schedule:
    where = "spec" if index is None else f"documents[{index}].spec"
    try:
        existing = workflow.schedules.filter(name=values["name"]).first()
        if existing is not None:
            return update_schedule(existing, values, now=now)
        return create_schedule(workflow, values, user=author, now=now)
    except ScheduleError as error:
        field = {"expression": "schedules", "timezone": "timezone"}.get(
            error.field, error.field
        )
        raise SpecError(
            [FieldError(f"{where}.{field}", f"the schedule: {error.message}")]
        ) from None


def _in_converted(path: str, message: str, name: str, index: int | None) -> FieldError:
    """An error of a converted workflow: its path is the Flowdeck document's,
    so the message says which document it was converted from."""
    origin = "the file" if index is None else f"documents[{index}]"
    return FieldError(
        path, f"{message} (in workflow {name!r}, converted from {origin})"
    )


def _repeated_names(converted: Sequence[Converted]) -> list[FieldError]:
    seen: dict[str, int] = {}
    errors = []
    for index, result in enumerate(converted):
        if result.name in seen:
            errors.append(
                FieldError(
                    f"documents[{index}].metadata.name",
                    f"{result.name!r} is also the name of "
                    f"documents[{seen[result.name]}]",
                )
            )
        seen.setdefault(result.name, index)
    return errors


def _callees_first(converted: Sequence[Converted]) -> list[int]:
    """The documents' indexes, each after the ones of the file it calls as a
    sub-workflow (document order otherwise; a cycle is left to
    create_workflow, which names it)."""
    index_of = {result.name: i for i, result in enumerate(converted)}
    calls = {
        i: {
            index_of[task["workflow"]["name"]]
            for task in [
                *result.document["spec"]["tasks"],
                *result.document["spec"].get("onExit", ()),
            ]
            if task.get("workflow") and task["workflow"]["name"] in index_of
        }
        for i, result in enumerate(converted)
    }
    order: list[int] = []
    remaining = list(range(len(converted)))
    while remaining:
        ready = [i for i in remaining if calls[i] <= set(order) | {i}]
        if not ready:
            ready = remaining[:1]
        order.append(ready[0])
        remaining.remove(ready[0])
    return order


def _original_texts(text: str, count: int) -> list[str]:
    """Each document's own text, comments included, split where a line
    starts a document; the whole text for each when the split does not give
    one part per document (a `---` inside a block scalar, say)."""
    parts = [part.strip("\n") for part in _DOCUMENT_START.split(text)]
    parts = [part for part in parts if _has_content(part)]
    if len(parts) != count:
        return [text] * count
    return [part + "\n" for part in parts]


def _has_content(part: str) -> bool:
    return any(
        line.strip() and not line.lstrip().startswith("#") and line.strip() != "..."
        for line in part.splitlines()
    )
