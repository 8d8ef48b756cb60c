"""The schedules card of the workflow page: `{% workflow_schedules %}` draws
it from the page's `workflow` and `allowed` (the rows come from views)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

register = template.Library()


@register.inclusion_tag("schedules/_workflow_schedules.html", takes_context=True)
def workflow_schedules(context: template.Context) -> dict[str, Any]:
    from schedules.views import schedule_rows

    workflow = context["workflow"]
    schedules = list(workflow.schedules.select_related("workflow"))
    return {
        "workflow": workflow,
        "allowed": context.get("allowed", frozenset()),
        "rows": schedule_rows(schedules, now=timezone.now()),
        "csrf_token": context.get("csrf_token"),
        "request": context.get("request"),
    }
