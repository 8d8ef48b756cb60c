"""Query-string filters of the list endpoints, each a DRF filter backend that
rejects a bad value with a 400 naming the parameter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from flowcore.states import RunStatus
from workflows.ids import MAX_ID, id_range_message, is_digits, parse_id
from workflows.listing import created_between, of_workflows, started_by
from workflows.models import Workflow

# The largest value a bigint column holds (ids, counts): nothing larger may
# reach the database, where it is an error (SQLite) or a needless query.
MAX_BIGINT = MAX_ID
_WHOLE = re.compile(r"[+-]?[0-9]+")


def int_param(
    request: Request, name: str, *, minimum: int = 0, maximum: int = MAX_BIGINT
) -> int | None:
    """The query parameter `name` as an int from minimum to maximum, None when
    absent; 400 naming the parameter and its range otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not _WHOLE.fullmatch(text):
        raise ValidationError({name: [f"must be a whole number, not {raw!r}"]})
    if len(text.lstrip("+-").lstrip("0")) > 19:  # past any bigint: no int()
        value = minimum - 1 if text.startswith("-") else maximum + 1
    else:
        value = int(text)
    if not minimum <= value <= maximum:
        raise ValidationError({name: [f"must be from {minimum} to {maximum}"]})
    return value


def _parameter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "required": False,
        "in": "query",
        "description": description,
        "schema": {"type": "string", **schema},
    }


class ListOnlyFilter(BaseFilterBackend):
    """Filters apply to lists only: a detail URL never 404s because of its query."""

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        if getattr(view, "action", None) != "list":
            return queryset
        return self.filter_list(request, queryset)

    def filter_list(self, request: Request, queryset: QuerySet[Any]) -> QuerySet[Any]:
        raise NotImplementedError


def project_lookup(request: Request, field: str) -> dict[str, Any]:
    """A filter on `field` (a project relation) from `?project=<id or name>`
    (a name has a letter, so digits are an id: 400 naming `project` when out
    of range)."""
    raw = request.query_params.get("project", "").strip()
    if not raw:
        return {}
    if is_digits(raw):
        project_id = parse_id(raw)
        if project_id is None:
            raise ValidationError({"project": [id_range_message("an id or a name")]})
        return {f"{field}_id": project_id}
    return {f"{field}__name": raw}


PROJECT_PARAMETER = _parameter("project", "Only those of this project (id or name).")


class WorkflowFilter(ListOnlyFilter):
    """`?project=<id or name>`; `?name=` exactly (how the command line finds a
    workflow); `?search=` in name and description; `?label=key:value` (or
    `?label=key` for any value), repeatable, every label must match."""

    def filter_list(self, request: Request, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = queryset.filter(**project_lookup(request, "project"))
        name = request.query_params.get("name", "").strip()
        if name:
            queryset = queryset.filter(name=name)
        search = request.query_params.get("search", "").strip()
        if search:
            queryset = queryset.filter(
                Q(name__icontains=search) | Q(description__icontains=search)
            )
        for index, label in enumerate(request.query_params.getlist("label")):
            key, colon, value = label.partition(":")
            if not key:
                raise ValidationError(
                    {"label": [f"expected key:value or key, got {label!r}"]}
                )
            if not colon:
                queryset = queryset.filter(labels__has_key=key)
                continue
            # A key transform object, not a `labels__<key>` lookup: label keys
            # may contain "__", dots and slashes.
            alias = f"label_{index}"
            queryset = queryset.alias(
                **{alias: KeyTextTransform(key, "labels")}
            ).filter(**{alias: value})
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            PROJECT_PARAMETER,
            _parameter("name", "Exactly this name (one per project)."),
            _parameter("search", "Text in the name or description (any case)."),
            {
                **_parameter(
                    "label",
                    "`key:value` or `key` (any value); repeat for several labels, "
                    "all of which must match.",
                ),
                "schema": {"type": "array", "items": {"type": "string"}},
                "explode": True,
            },
        ]


def moment_param(request: Request, name: str, *, end_of_day: bool) -> datetime | None:
    """`name` as an ISO date or date-time (UTC unless it says otherwise; a
    date means its first or, with end_of_day, its last moment); None when
    absent, 400 naming the parameter when it is neither."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            if day is not None:
                moment = datetime.combine(day, time.max if end_of_day else time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError(
            {name: [f"expected an ISO date or date-time, not {raw!r}"]}
        )
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment


class RunFilter(ListOnlyFilter):
    """`?project=<id or name>`, `?workflow=<id>`,
    `?status=<Status>[,<Status>...]`, `?who=<username>` (who started it) and
    `?since=` / `?until=` (created then, ISO date or date-time)."""

    def filter_list(self, request: Request, queryset: QuerySet[Any]) -> QuerySet[Any]:
        project = project_lookup(request, "project")
        if project:
            queryset = of_workflows(queryset, Workflow.objects.filter(**project))
        workflow = int_param(request, "workflow", minimum=1)
        if workflow is not None:
            queryset = queryset.filter(workflow_id=workflow)
        raw = request.query_params.get("status", "")
        if raw:
            allowed = [status.value for status in RunStatus]
            wanted = [part.strip() for part in raw.split(",") if part.strip()]
            unknown = [part for part in wanted if part not in allowed]
            if unknown or not wanted:
                named = ", ".join(map(repr, unknown or [raw]))
                raise ValidationError(
                    {
                        "status": [
                            f"unknown status {named}; "
                            f"use one or more of {', '.join(allowed)}"
                        ]
                    }
                )
            queryset = queryset.filter(status__in=wanted)
        who = request.query_params.get("who", "").strip()
        if who:
            queryset = started_by(queryset, who)
        return created_between(
            queryset,
            moment_param(request, "since", end_of_day=False),
            moment_param(request, "until", end_of_day=True),
        )

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            PROJECT_PARAMETER,
            _parameter("workflow", "Only runs of this workflow id.", type="integer"),
            _parameter(
                "status",
                "Only runs in this status; several separated by commas. One of: "
                + ", ".join(status.value for status in RunStatus),
            ),
            _parameter("who", "Only runs started by this username."),
            _parameter(
                "since", "Only runs created at or after this ISO date or date-time."
            ),
            _parameter(
                "until", "Only runs created at or before this ISO date or date-time."
            ),
        ]
