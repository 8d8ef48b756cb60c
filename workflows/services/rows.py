"""Hand-written SQL for the hot path: the statements every task's start and end run.

The ORM compiles each query anew, which costs ten times what SQLite takes to
run these statements; for the handful a task transition needs, the SQL is
built once per shape here and the rest of the application keeps the ORM.
Values go through each field's get_db_prep_save and rows come back through
the converters the ORM's compiler applies and Model.from_db, so conversions
(datetimes on SQLite, JSON) stay Django's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models

from workflows.models import Attempt, Run, RunEvent, TaskRun

M = TypeVar("M", bound=models.Model)

# Below SQLite's smallest limit on bound variables (999 before 3.32).
_IN_CHUNK = 900


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def table(model: type[models.Model]) -> str:
    return quote(model._meta.db_table)


@cache
def _update_sql(model: type[models.Model], fields: tuple[str, ...]) -> str:
    columns = ", ".join(
        f"{quote(model._meta.get_field(f).column)} = %s" for f in fields
    )
    return f"UPDATE {table(model)} SET {columns} WHERE {quote('id')} = %s"


@cache
def _insert_sql(model: type[models.Model], fields: tuple[str, ...]) -> str:
    columns = ", ".join(quote(model._meta.get_field(f).column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {table(model)} ({columns}) VALUES ({marks})"


def _prep(model: type[models.Model], field: str, value: Any) -> Any:
    return model._meta.get_field(field).get_db_prep_save(value, connection)


def save_fields(instance: models.Model, fields: Iterable[str]) -> None:
    """UPDATE the instance's row with the current values of `fields`."""
    model = type(instance)
    names = tuple(sorted(fields))
    params = [
        _prep(model, f, getattr(instance, model._meta.get_field(f).attname))
        for f in names
    ]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, names), [*params, instance.pk])


def insert(instance: models.Model, fields: Sequence[str]) -> None:
    """INSERT the instance (its `fields`) and set its primary key."""
    model = type(instance)
    names = tuple(fields)
    # pre_save fills auto_now_add fields, as Model.save() would.
    params = [
        model._meta.get_field(f).get_db_prep_save(
            model._meta.get_field(f).pre_save(instance, True), connection
        )
        for f in names
    ]
    sql = _insert_sql(model, names)
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(f"{sql} RETURNING {quote('id')}", params)
            instance.pk = cursor.fetchone()[0]
        else:
            cursor.execute(sql, params)
            instance.pk = cursor.lastrowid
    instance._state.adding = False


_EVENT_FIELDS = ("run", *RunEvent.PUBLIC_FIELDS)


def insert_events(events: Sequence[RunEvent]) -> None:
    rows = [
        [
            _prep(RunEvent, f, getattr(e, RunEvent._meta.get_field(f).attname))
            for f in _EVENT_FIELDS
        ]
        for e in events
    ]
    with connection.cursor() as cursor:
        cursor.executemany(_insert_sql(RunEvent, _EVENT_FIELDS), rows)


def lock_run(run_id: int) -> Run:
    """The run's row, locked FOR UPDATE where the database has row locks (SQLite
    transactions here are BEGIN IMMEDIATE: the whole database is the lock)."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    rows = read_models(Run, f"{quote('id')} = %s{lock}", [run_id])
    if not rows:
        raise Run.DoesNotExist(f"run {run_id} does not exist")
    return rows[0]


Converter = tuple[int, Any, Callable[[Any, Any, Any], Any]]


@cache
def _converters(
    model: type[models.Model], fields: tuple[str, ...], vendor: str
) -> tuple[Converter, ...]:
    """(index, column, converter) for the selected `fields`: the backend's
    converters, then the field's, as the ORM's compiler applies them. Kept
    per database vendor: the backend's are methods of the first connection's
    operations, which read only settings and the connection's time zone,
    alike in every thread's connection."""
    found = []
    for index, name in enumerate(fields):
        col = model._meta.get_field(name).get_col(model._meta.db_table)
        for converter in (
            *connection.ops.get_db_converters(col),
            *col.get_db_converters(connection),
        ):
            found.append((index, col, converter))
    return tuple(found)


def _convert(rows: list[tuple[Any, ...]], converters: Sequence[Converter]) -> list[Any]:
    if not converters:
        return rows
    converted = []
    for row in rows:
        values = list(row)
        for index, col, converter in converters:
            values[index] = converter(values[index], col, connection)
        converted.append(values)
    return converted


@cache
def _whole_row(
    model: type[models.Model],
) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """Its concrete fields' names and attribute names, and their columns to
    select, in the order Model.from_db takes them."""
    fields = model._meta.concrete_fields
    return (
        tuple(field.name for field in fields),
        tuple(field.attname for field in fields),
        ", ".join(quote(field.column) for field in fields),
    )


def read_models(model: type[M], condition: str, params: Sequence[Any]) -> list[M]:
    """The rows of `model` WHERE `condition` (which may end in FOR UPDATE), as
    Model.raw() would build them: the same converters, then Model.from_db.
    Without the RawQuerySet's work on every query (mapping the columns to the
    fields, finding their converters): a transition reads the locked run and
    its reported attempts and tasks, and that work was a tenth of the
    embedded worker's CPU (py-spy, docs/performance.md)."""
    names, attnames, selected = _whole_row(model)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {selected} FROM {table(model)} WHERE {condition}", params
        )
        rows = cursor.fetchall()
    converters = _converters(model, names, connection.vendor)
    alias = connection.alias
    # from_db builds positionally when every concrete field is there.
    return [
        model.from_db(alias, attnames, values) for values in _convert(rows, converters)
    ]


def _in_chunks(
    model: type[M], where: str, params: list[Any], column: str, values: Sequence[Any]
) -> list[M]:
    found: list[M] = []
    for start in range(0, len(values), _IN_CHUNK):
        chunk = list(values[start : start + _IN_CHUNK])
        marks = ", ".join(["%s"] * len(chunk))
        condition = f"{where} AND {quote(column)} IN ({marks})"
        found.extend(read_models(model, condition, [*params, *chunk]))
    return found


def tasks_named(run_id: int, names: Iterable[str]) -> dict[str, TaskRun]:
    rows = _in_chunks(
        TaskRun, f"{quote('run_id')} = %s", [run_id], "name", sorted(names)
    )
    return {task.name: task for task in rows}


def task_columns(
    run_id: int, names: Iterable[str], columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    """`columns` of the run's tasks among `names`, as the ORM's values_list
    would give them. A plan reads a few columns of hundreds of tasks (each end
    in a layered DAG reads the next layer and its upstreams): whole rows,
    every datetime parsed and a model built for each, were half of a layered
    run's report pump (py-spy, docs/performance.md)."""
    fields = [TaskRun._meta.get_field(column) for column in columns]
    selected = ", ".join(quote(field.column) for field in fields)
    found: list[tuple[Any, ...]] = []
    values = sorted(names)
    with connection.cursor() as cursor:
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start : start + _IN_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT {selected} FROM {table(TaskRun)} WHERE "
                f"{quote('run_id')} = %s AND {quote('name')} IN ({marks})",
                [run_id, *chunk],
            )
            found.extend(cursor.fetchall())
    converters = _converters(TaskRun, tuple(columns), connection.vendor)
    return [tuple(row) for row in _convert(found, converters)]


def task_counts(run_id: int) -> dict[str, int]:
    sql = (
        f"SELECT {quote('status')}, COUNT(*) FROM {table(TaskRun)} "
        f"WHERE {quote('run_id')} = %s GROUP BY {quote('status')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id])
        return dict(cursor.fetchall())


def queued_names(
    run_id: int, limit: int, instance_slots: Mapping[str, int] | None = None
) -> list[str]:
    """The run's first `limit` Queued tasks, best first (priority, position,
    instance index). The instances of each fan-out in `instance_slots` come
    only as many as it has free slots (engine.instance_slots): past those
    they could not start, and a long queue of them (a fan-out of 10,000, 100
    at a time) would otherwise fill the window and keep the tasks queued
    behind them from starting."""
    order = (
        f"ORDER BY {quote('priority')} DESC, {quote('position')}, "
        f"{quote('fan_index')} LIMIT %s"
    )
    where = f"WHERE {quote('run_id')} = %s AND {quote('status')} = %s"
    if not instance_slots:
        sql = f"SELECT {quote('name')} FROM {table(TaskRun)} {where} {order}"
        with connection.cursor() as cursor:
            cursor.execute(sql, [run_id, "Queued", limit])
            return [name for (name,) in cursor.fetchall()]
    columns = ", ".join(quote(c) for c in ("name", "priority", "position", "fan_index"))
    groups = sorted(instance_slots)
    marks = ", ".join(["%s"] * len(groups))
    parts = [
        f"SELECT {columns} FROM {table(TaskRun)} {where} "
        f"AND {quote('fan_group')} NOT IN ({marks}) {order}"
    ]
    params: list[Any] = [run_id, "Queued", *groups, limit]
    for group in groups:
        if instance_slots[group] > 0:
            parts.append(
                f"SELECT {columns} FROM {table(TaskRun)} {where} "
                f"AND {quote('fan_group')} = %s {order}"
            )
            params += [run_id, "Queued", group, min(instance_slots[group], limit)]
    # Each part its own subquery: a LIMIT inside a compound SELECT needs one.
    sql = " UNION ALL ".join(
        f"SELECT * FROM ({part}) AS {quote(f'part{n}')}" for n, part in enumerate(parts)
    )
    sql += " ORDER BY 2 DESC, 3, 4 LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return [row[0] for row in cursor.fetchall()]


def due_retries(run_id: int, now: datetime) -> list[str]:
    sql = (
        f"SELECT {quote('name')} FROM {table(TaskRun)} WHERE {quote('run_id')} = %s "
        f"AND {quote('status')} = %s AND {quote('retry_at')} <= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id, "Retrying", _prep(TaskRun, "retry_at", now)])
        return [name for (name,) in cursor.fetchall()]


def attempts_with_tasks(run_id: int, attempt_ids: Iterable[int]) -> dict[int, Attempt]:
    """The run's attempts among `attempt_ids`, each with its task_run loaded."""
    attempts = _in_chunks(Attempt, "1 = 1", [], "id", sorted(set(attempt_ids)))
    tasks = {
        task.pk: task
        for task in _in_chunks(
            TaskRun,
            f"{quote('run_id')} = %s",
            [run_id],
            "id",
            sorted({a.task_run_id for a in attempts}),
        )
    }
    found = {}
    for attempt in attempts:
        task = tasks.get(attempt.task_run_id)
        if task is not None:  # an attempt of another run is not this run's
            attempt.task_run = task
            found[attempt.pk] = attempt
    return found


def count_instance(run_id: int, group: str, done: int, failed: int) -> None:
    """Add to a fan-out's counts of done and unsuccessful instances."""
    sql = (
        f"UPDATE {table(TaskRun)} SET {quote('fan_done')} = {quote('fan_done')} + %s, "
        f"{quote('fan_failed')} = {quote('fan_failed')} + %s "
        f"WHERE {quote('run_id')} = %s AND {quote('name')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [done, failed, run_id, group])
