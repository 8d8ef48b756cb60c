"""The notifications card of the workflow page: `{% workflow_notifications %}`
lists the rules that tell people about this workflow's runs (its own and its
project's), with "Send test" for those who may manage them."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Q

register = template.Library()


@register.inclusion_tag(
    "notifications/_workflow_notifications.html", takes_context=True
)
def workflow_notifications(context: template.Context) -> dict[str, Any]:
    from notifications.models import NotificationRule
    from notifications.rules import masked_url

    workflow = context["workflow"]
    allowed = context.get("allowed", frozenset())
    rules = list(
        NotificationRule.objects.filter(project_id=workflow.project_id).filter(
            Q(workflow=workflow) | Q(workflow=None)
        )
    )
    for rule in rules:
        rule.shown_url = masked_url(rule)
        rule.manageable = (
            "workflow.update" in allowed
            if rule.workflow_id
            else "notification.manage" in allowed
        )
    return {
        "workflow": workflow,
        "rules": rules,
        "allowed": allowed,
        "csrf_token": context.get("csrf_token"),
        "request": context.get("request"),
    }
