"""Lists that stay fast with a long history: search for the workflow list
page (text in the name or description, and a label, `key:value` or `key`, as
the API's ?search= and ?label= do), and the runs list's building blocks
(the runs a person may see, keyset pages, capped counts).

With a million runs nothing here counts or skips over the whole table: a page
is the next PAGE rows of an index ending in the run's id (every filter has
one, workflows.models.Run.Meta), and a count stops at COUNT_CAP
(docs/performance.md, "A long history")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Max, Min, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform

from workflows.models import Run, Workflow
from workflows.permissions import is_site_admin, visible

# Past this, a count shows as "10,000+": exact figures beyond it would cost a
# scan of every matching run on each refresh of the dashboard.
COUNT_CAP = 10_000
# Runs filtered by their workflows' ids up to this many workflows; past it, by
# a subquery (SQLite's limit on a statement's variables is 32,766).
MAX_LISTED_WORKFLOWS = 5_000
# How far apart in time two runs may be made and still get their ids in the
# other order (created_between): the moment between Django setting
# `created_at` and PostgreSQL drawing the id, and the clocks of several
# hosts submitting runs disagreeing, with a wide margin.
ORDER_SLACK = timedelta(minutes=5)


def search_workflows(
    workflows: QuerySet[Workflow], search: str, label: str
) -> QuerySet[Workflow]:
    if search:
        workflows = workflows.filter(
            Q(name__icontains=search) | Q(description__icontains=search)
        )
    key, colon, value = label.partition(":")
    if key and not colon:
        workflows = workflows.filter(labels__has_key=key)
    elif key:
        # A key transform, not `labels__<key>`: keys may hold "__", dots, slashes.
        workflows = workflows.alias(label_value=KeyTextTransform(key, "labels")).filter(
            label_value=value
        )
    return workflows


def of_workflows(runs: QuerySet[Run], workflows: QuerySet[Workflow]) -> QuerySet[Run]:
    """`runs` of `workflows` only, by the workflows' ids read first.

    A list of ids, not a join to the workflows' projects: PostgreSQL knows
    from its statistics of `workflow_id` how many runs a list of ids holds,
    so a project with few runs is read through `run_workflow` and a common
    one along the primary key; through a join it cannot tell, and walks the
    whole history backwards looking for a project with none."""
    ids = list(
        workflows.order_by().values_list("pk", flat=True)[: MAX_LISTED_WORKFLOWS + 1]
    )
    if len(ids) > MAX_LISTED_WORKFLOWS:
        return runs.filter(workflow__in=workflows.order_by().values("pk"))
    return runs.filter(workflow_id__in=ids)


def visible_runs(user: Any, runs: QuerySet[Run] | None = None) -> QuerySet[Run]:
    """`runs` (every run by default) in the projects `user` may see: the same
    rows as permissions.visible, through of_workflows."""
    runs = Run.objects.all() if runs is None else runs
    if is_site_admin(user):
        return runs
    return of_workflows(runs, visible(Workflow.objects.all(), user))


def started_by(runs: QuerySet[Run], username: str) -> QuerySet[Run]:
    """`runs` started by `username`, by the person's id read first: the
    filter is then on the column `run_who` starts with, not a join."""
    person = (
        get_user_model()
        .objects.filter(username=username)
        .values_list("pk", flat=True)
        .first()
    )
    return runs.none() if person is None else runs.filter(triggered_by_id=person)


def created_between(
    runs: QuerySet[Run], since: datetime | None, until: datetime | None
) -> QuerySet[Run]:
    """`runs` created from `since` to `until` (either may be None), with the
    ids those bounds imply added, so a newest-first page reads from where
    the range starts instead of walking back through every newer run.

    A run's id comes from the sequence in the INSERT whose `created_at`
    Django set just before, so ids follow creation times but for runs made
    within a moment of each other; within ORDER_SLACK of each bound the ids
    are read exactly, from the (created_at, id) index. The date filters stay
    as they are: the ids only say where to look."""
    if since is not None:
        runs = runs.filter(created_at__gte=since)
        first = (
            Run.objects.filter(created_at__gte=since)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if first is None:
            return runs.none()
        lowest = (
            Run.objects.filter(created_at__gte=first)
            .filter(created_at__lte=first + ORDER_SLACK)
            .aggregate(lowest=Min("pk"))["lowest"]
        )
        runs = runs.filter(pk__gte=lowest)
    if until is not None:
        runs = runs.filter(created_at__lte=until)
        last = (
            Run.objects.filter(created_at__lte=until)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if last is None:
            return runs.none()
        highest = (
            Run.objects.filter(created_at__gte=last - ORDER_SLACK)
            .filter(created_at__lte=last)
            .aggregate(highest=Max("pk"))["highest"]
        )
        runs = runs.filter(pk__lte=highest)
    return runs


def capped_counts(
    runs: QuerySet[Run], statuses: Iterable[str], cap: int = COUNT_CAP
) -> dict[str, int | str]:
    """How many of `runs` are in each status: a number up to `cap`, the text
    "10,000+" past it. Each count reads at most cap + 1 entries of an index
    (`run_status_id`, `run_workflow_status`), whatever the history's size."""
    # One statement, each status's count over a subquery that stops at
    # cap + 1 rows: one round trip to the database instead of one a status.
    parts: list[str] = []
    params: list[Any] = []
    wanted = list(statuses)
    for index, status in enumerate(wanted):
        capped = runs.filter(status=status).order_by().values("pk")[: cap + 1]
        try:
            sql, inner = capped.query.sql_with_params()
        except EmptyResultSet:  # a filter nothing can match (no workflows)
            continue
        parts.append(f"SELECT {index}, COUNT(*) FROM ({sql}) capped_{index}")
        params.extend(inner)
    found = dict.fromkeys(range(len(wanted)), 0)
    if parts:
        with connections[runs.db].cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            found.update({int(index): int(n) for index, n in cursor.fetchall()})
    return {
        status: f"{cap:,}+" if found[index] > cap else found[index]
        for index, status in enumerate(wanted)
    }


@dataclass(frozen=True, slots=True)
class KeysetPage:
    """One page of runs, newest first, and the ids its links start from:
    `older` for ?before= (None on the last page), `newer` for ?after= (None
    on the first)."""

    object_list: list[Run]
    newer: int | None
    older: int | None

    @property
    def first(self) -> bool:
        return self.newer is None


def keyset_page(
    runs: QuerySet[Run], *, before: int | None, after: int | None, size: int
) -> KeysetPage:
    """The `size` runs just older than `before` (or newer than `after`; the
    newest without either), newest first: one index range read, whatever the
    page's depth, where an OFFSET reads every row it skips."""
    if after is not None:
        # Read upwards from `after`, then show them newest first.
        rows = list(runs.filter(pk__gt=after).order_by("pk")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        newer = rows[0].pk if rows and more_newer else None
        older = rows[-1].pk if rows else after + 1
        return KeysetPage(rows, newer, older)
    if before is not None:
        runs = runs.filter(pk__lt=before)
    rows = list(runs.order_by("-pk")[: size + 1])
    older = rows[size - 1].pk if len(rows) > size else None
    rows = rows[:size]
    newer = rows[0].pk if rows and before is not None else None
    return KeysetPage(rows, newer, older)
