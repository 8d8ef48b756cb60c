"""The project page's notification rules: add one, "Send test", delete one.
Permissions as in the API (notifications.rules.action_for); audited."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from accounts import audit
from notifications import delivery, rules
from notifications.forms import NotificationRuleForm
from notifications.models import NotificationRule
from workflows.models import Project
from workflows.permissions import Action, require, visible
from workflows.project_views import back_to_project, project_page


def _project(request: HttpRequest, pk: int) -> Project:
    return get_object_or_404(visible(Project.objects.all(), request.user), pk=pk)


def _rule(project: Project, rule_id: int) -> NotificationRule:
    return get_object_or_404(
        NotificationRule.objects.select_related("project", "workflow"),
        project=project,
        pk=rule_id,
    )


@login_required
@require_POST
def rule_add(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    form = NotificationRuleForm(request.POST, project=project)
    if not form.is_valid():
        return project_page(request, project, rule_form=form, status=400)
    values = form.values()
    require(request, rules.action_for(values.get("workflow")), project)
    try:
        with audit.recording(
            request,
            Action.MANAGE_NOTIFICATIONS,
            project=project,
            detail={"channel": values["channel"], "events": values["events"]},
        ) as entry:
            entry.target = rules.create_rule(project, values, user=request.user)
    except rules.RuleError as error:
        form.add_error(
            error.field if error.field in form.fields else None, error.message
        )
        return project_page(request, project, rule_form=form, status=400)
    return back_to_project(
        request, project, f"Added the notification rule {values['name']}."
    )


@login_required
@require_POST
def rule_test(request: HttpRequest, pk: int, rule_id: int) -> HttpResponse:
    project = _project(request, pk)
    rule = _rule(project, rule_id)
    require(request, rules.action_for(rule.workflow), project, target=rule)
    with audit.recording(
        request, Action.MANAGE_NOTIFICATIONS, rule, detail={"test": True}
    ):
        delivery.send_test(rule)
    return back_to_project(
        request,
        project,
        f"Sent a test notification for {rule.name}: see the delivery log.",
    )


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int, rule_id: int) -> HttpResponse:
    project = _project(request, pk)
    rule = _rule(project, rule_id)
    require(request, rules.action_for(rule.workflow), project, target=rule)
    with audit.recording(
        request, Action.MANAGE_NOTIFICATIONS, rule, detail={"deleted": True}
    ):
        rule.delete()
    return back_to_project(
        request, project, f"Deleted the notification rule {rule.name}."
    )
