"""Who may read which audit entries, and the filters of the audit API and page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import AuditEntry
from workflows.ids import id_range_message, is_digits, parse_id
from workflows.permissions import Action, is_site_admin, projects_where

FILTERS = ("project", "user", "action", "outcome", "since", "until")


class FilterError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def readable_entries(user: Any) -> QuerySet[AuditEntry] | None:
    """Every entry for site admins; a project admin's projects' entries; None
    (a 403) for anyone else."""
    if is_site_admin(user):
        return AuditEntry.objects.all()
    projects = projects_where(user, Action.VIEW_AUDIT)
    if not projects.exists():
        return None
    return AuditEntry.objects.filter(project__in=projects)


def _moment(raw: str, *, end_of_day: bool) -> datetime | None:
    moment = parse_datetime(raw)
    if moment is None:
        day = parse_date(raw)
        if day is None:
            return None
        moment = datetime.combine(day, time.max if end_of_day else time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


def apply_filters(
    entries: QuerySet[AuditEntry], params: Mapping[str, str]
) -> QuerySet[AuditEntry]:
    """Narrow `entries` by `?project=` (id or name), `?user=` (id or username),
    `?action=` (exact, or a prefix ending in "."), `?outcome=`, and `?since=` /
    `?until=` (ISO date or date-time, UTC unless it says otherwise). A bad
    value raises FilterError naming the parameter."""
    errors: dict[str, str] = {}
    for name, by_id, by_name in (
        ("project", "project_id", "project__name"),
        ("user", "actor_id", "username"),
    ):
        raw = params.get(name, "").strip()
        if not raw:
            continue
        if not is_digits(raw):
            entries = entries.filter(**{by_name: raw})
        elif (found := parse_id(raw)) is None:
            errors[name] = id_range_message(f"a {name} name or an id")
        else:
            entries = entries.filter(**{by_id: found})
    action = params.get("action", "").strip()
    if action:
        if action.endswith("."):
            entries = entries.filter(action__startswith=action)
        else:
            entries = entries.filter(action=action)
    outcome = params.get("outcome", "").strip()
    if outcome:
        if outcome not in AuditEntry.Outcome.values:
            allowed = ", ".join(AuditEntry.Outcome.values)
            errors["outcome"] = f"unknown outcome {outcome!r}; use one of {allowed}"
        else:
            entries = entries.filter(outcome=outcome)
    for name, lookup, end_of_day in (
        ("since", "created_at__gte", False),
        ("until", "created_at__lte", True),
    ):
        raw = params.get(name, "").strip()
        if not raw:
            continue
        moment = _moment(raw, end_of_day=end_of_day)
        if moment is None:
            errors[name] = (
                f"expected a date (2024-05-01) or a date-time "
                f"(2024-05-01T12:00:00Z), not {raw!r}"
            )
        else:
            entries = entries.filter(**{lookup: moment})
    if errors:
        raise FilterError(errors)
    return entries
