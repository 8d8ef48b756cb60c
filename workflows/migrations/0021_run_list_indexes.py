"""Indexes for the runs list's keyset pages under each filter (issue 19,
"a long history"), built without blocking writes on PostgreSQL.

CREATE INDEX CONCURRENTLY takes no lock that stops inserts and updates of
runs, so the migration can run while workers change run states; it cannot run
in a transaction, hence `atomic = False`. SQLite (the embedded mode) has no
such thing and a plain CREATE INDEX is what it gets. `run_status` goes: the
new `run_status_id` starts with the same column and serves its queries too.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def _concurrently(schema_editor: Any) -> dict[str, bool]:
    return (
        {"concurrently": True}
        if schema_editor.connection.vendor == "postgresql"
        else {}
    )


class AddIndexConcurrently(migrations.AddIndex):
    """AddIndex, CONCURRENTLY on PostgreSQL (django.contrib.postgres's own
    fails on SQLite)."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **_concurrently(schema_editor))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(
                model, self.index, **_concurrently(schema_editor)
            )


class RemoveIndexConcurrently(migrations.RemoveIndex):
    """RemoveIndex, CONCURRENTLY on PostgreSQL."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[
                app_label, self.model_name_lower
            ].get_index_by_name(self.name)
            schema_editor.remove_index(model, index, **_concurrently(schema_editor))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(
                self.name
            )
            schema_editor.add_index(model, index, **_concurrently(schema_editor))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflows", "0020_sso_and_service_accounts"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(fields=["status", "-id"], name="run_status_id"),
        ),
        RemoveIndexConcurrently(model_name="run", name="run_status"),
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(
                fields=["workflow", "status", "-id"], name="run_workflow_status"
            ),
        ),
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(fields=["triggered_by", "-id"], name="run_who"),
        ),
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(fields=["created_at", "id"], name="run_created"),
        ),
    ]
