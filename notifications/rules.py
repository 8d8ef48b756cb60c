"""Notification rules: checking and saving them, for the API and the pages.

Who may change a rule: a project's admins for project-wide rules, its
editors for a workflow's (workflows.permissions: MANAGE_NOTIFICATIONS,
UPDATE_WORKFLOW); `action_for` says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from notifications.models import RULE_EVENTS, Channel, NotificationRule
from workflows.models import Project, Workflow
from workflows.permissions import Action

MAX_RECIPIENTS = 20
_EVENTS = {event.value for event in RULE_EVENTS}


class RuleError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def action_for(workflow: Workflow | None) -> Action:
    return Action.MANAGE_NOTIFICATIONS if workflow is None else Action.UPDATE_WORKFLOW


def check(values: Mapping[str, Any], project: Project) -> dict[str, Any]:
    """The rule's fields, checked; raises RuleError naming the field."""
    checked = dict(values)
    workflow = checked.get("workflow")
    if workflow is not None and workflow.project_id != project.pk:
        raise RuleError("workflow", "must be a workflow of the rule's project")
    events = checked.get("events")
    if events is not None:
        if not isinstance(events, list) or not events:
            raise RuleError("events", f"must list some of {', '.join(sorted(_EVENTS))}")
        unknown = [e for e in events if e not in _EVENTS]
        if unknown:
            raise RuleError("events", f"unknown events: {', '.join(map(str, unknown))}")
        checked["events"] = sorted(set(events))
    channel = checked.get("channel")
    if channel in (Channel.WEBHOOK, Channel.SLACK):
        url = checked.get("url") or ""
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise RuleError("url", "must be an http:// or https:// URL") from None
        checked["recipients"] = []
    elif channel == Channel.EMAIL:
        recipients = checked.get("recipients") or []
        if not isinstance(recipients, list) or not recipients:
            raise RuleError("recipients", "must list at least one email address")
        if len(recipients) > MAX_RECIPIENTS:
            raise RuleError("recipients", f"at most {MAX_RECIPIENTS} addresses")
        for address in recipients:
            try:
                EmailValidator()(address)
            except ValidationError:
                raise RuleError(
                    "recipients", f"{address!r} is not an email address"
                ) from None
        checked["url"] = ""
        checked["secret"] = ""
    return checked


def create_rule(
    project: Project, values: Mapping[str, Any], *, user: Any
) -> NotificationRule:
    checked = check(values, project)
    return NotificationRule.objects.create(project=project, created_by=user, **checked)


def update_rule(rule: NotificationRule, values: Mapping[str, Any]) -> NotificationRule:
    merged = {
        "channel": rule.channel,
        "url": rule.url,
        "recipients": rule.recipients,
        **values,
    }
    checked = check(merged, rule.project)
    for name, value in checked.items():
        if name == "secret" and value == "" and "secret" not in values:
            continue  # not given: kept
        setattr(rule, name, value)
    rule.save()
    return rule


def masked_url(rule: NotificationRule) -> str:
    """A Slack-compatible URL carries its secret in the path: only the host."""
    if rule.channel != Channel.SLACK or not rule.url:
        return rule.url
    parts = urlsplit(rule.url)
    return f"{parts.scheme}://{parts.netloc}/…"
