"""{% dag_thumbnail workflow %}: the workflow list's sketch of each DAG."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from workflows.dag_pictures import version_thumbnail

register = template.Library()


@register.simple_tag
def dag_thumbnail(workflow: Any) -> SafeString:
    version = workflow.latest_version
    if version is None:
        return mark_safe("")
    # Safe: thumbnail_svg writes numbers only, never a task name.
    return mark_safe(version_thumbnail(version.pk, version.document))
