"""System checks: tell an operator at start-up what the pages will miss or
what is misconfigured, and refuse an admin that would let search find secret
values. None of them reaches out to another server: /readyz does that."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import models


@register()
def graphviz_dot_installed(**kwargs: Any) -> list[Warning]:
    if shutil.which("dot"):
        return []
    return [
        Warning(
            "Graphviz's `dot` program is not on PATH, so run pages cannot draw "
            "the DAG.",
            hint="Install graphviz (Debian: apt-get install graphviz).",
            id="flowdeck.W001",
        )
    ]


@register()
def artifact_store_configured(**kwargs: Any) -> list[Error]:
    """S3 without a bucket stores no artifact: every task that leaves one
    would fail as it ends. Whether the bucket exists is /readyz's question."""
    if (
        settings.FLOWDECK_ARTIFACT_STORE == "s3"
        and not settings.FLOWDECK_ARTIFACT_S3_BUCKET
    ):
        return [
            Error(
                "FLOWDECK_ARTIFACT_STORE is s3 but FLOWDECK_ARTIFACT_S3_BUCKET "
                "is not set: no task could store an output artifact and none "
                "could be downloaded.",
                hint="Set FLOWDECK_ARTIFACT_S3_BUCKET to an existing bucket (and "
                "FLOWDECK_ARTIFACT_S3_ENDPOINT for MinIO or Ceph), or "
                "FLOWDECK_ARTIFACT_STORE=filesystem; see docs/configuration.md.",
                id="flowdeck.E002",
            )
        ]
    return []


def _searched_field(model: Any, path: str) -> models.Field[Any, Any] | None:
    """The model field a search path ends at, before any lookup or JSON key
    ("task_run__run__parameters__token" ends at Run.parameters)."""
    field = None
    for part in path.lstrip("^=@").split("__"):
        if model is None:
            break  # a lookup or a key inside the field before
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            break
        model = field.related_model
    return field if isinstance(field, models.Field) else None


@register(Tags.admin)
def admin_searches_no_json(
    app_configs: Sequence[AppConfig] | None = None,
    *,
    registry: Mapping[Any, Any] | None = None,
    **kwargs: Any,
) -> list[Error]:
    """Spec documents, rendered tasks, parameters and overrides are JSON
    fields that hold secret env values: an admin searching one would find
    objects by a secret's value (and so confirm a guess)."""
    if registry is None:
        from django.contrib import admin

        registry = admin.site._registry
    errors = []
    for model, model_admin in registry.items():
        if app_configs is not None and model._meta.app_config not in app_configs:
            continue
        for path in model_admin.search_fields or ():
            field = _searched_field(model, path)
            if isinstance(field, models.JSONField):
                errors.append(
                    Error(
                        f"{type(model_admin).__name__} searches {path!r} of "
                        f"{model.__name__}, which ends at the JSON field "
                        f"{field.model.__name__}.{field.name}: JSON fields may "
                        "hold secret env values, and search would find them "
                        "by value.",
                        hint="Search names, messages and ids only.",
                        obj=model_admin,
                        id="flowdeck.E001",
                    )
                )
    return errors
