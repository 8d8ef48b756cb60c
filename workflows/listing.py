"""Search for the workflow list page: text in the name or description, and a
label (`key:value`, or `key` for any value), as the API's ?search= and
?label= do."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform

from workflows.models import Workflow


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
