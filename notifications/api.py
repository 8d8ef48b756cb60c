"""REST viewsets for notification rules: declarative, writes through
notifications.rules, permissions through workflows.permissions, every change
audited (never with its secret).

A rule of a project you are not a member of is a 404; project-wide rules
need the project admin role, a workflow's rules the editor role (403 naming
it). "Send test" delivers a test notification through the rule's channel
like any other, so it lands in the delivery log.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer, ValidationError

from accounts import audit
from notifications import delivery, rules
from notifications.models import Delivery, NotificationRule
from notifications.serializers import (
    DeliverySerializer,
    NotificationRuleSerializer,
    TestSentSerializer,
)
from workflows.api.filters import int_param
from workflows.api.views import FORBIDDEN, NOT_FOUND
from workflows.permissions import Action, require, visible_projects

BAD_INPUT = OpenApiResponse(
    description='Keyed by the field that is wrong (e.g. {"url": ["must be an '
    'http:// or https:// URL"]}).'
)
_LOG_LIMIT = 200


def _require(request: Request, rule: NotificationRule, wanted: Action) -> None:
    try:
        require(request, wanted, rule.project, target=rule)
    except PermissionDenied as denied:
        raise exceptions.PermissionDenied(str(denied)) from None


class RuleRole(BasePermission):
    """Seeing a rule needs the viewer role; changing it, testing it or
    deleting it the role its scope asks for (rules.action_for)."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if view.action in ("retrieve", "deliveries"):
            _require(request, obj, Action.VIEW)
        else:
            _require(request, obj, rules.action_for(obj.workflow))
        return True


def _invalid(error: rules.RuleError) -> ValidationError:
    return ValidationError({error.field: [error.message]})


@extend_schema(tags=["notifications"])
class NotificationRuleViewSet(viewsets.ModelViewSet):
    """Notification rules: who is told about which runs' ends, failures and
    deadline misses, through a webhook, email or a Slack-compatible webhook."""

    queryset = NotificationRule.objects.select_related(
        "project", "workflow", "created_by"
    )
    serializer_class = NotificationRuleSerializer
    permission_classes = [IsAuthenticated, RuleRole]

    def get_queryset(self) -> QuerySet[NotificationRule]:
        queryset = (
            super()
            .get_queryset()
            .filter(project__in=visible_projects(self.request.user))
        )
        project = int_param(self.request, "project", minimum=1)
        if project is not None and self.action == "list":
            queryset = queryset.filter(project_id=project)
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "projects": visible_projects(self.request.user),
        }

    @extend_schema(
        parameters=[OpenApiParameter("project", int, description="Only this one's.")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        responses={201: NotificationRuleSerializer, 400: BAD_INPUT, 403: FORBIDDEN},
        description="Add a rule to a project (project admin) or to one of its "
        "workflows (editor). Webhook and Slack rules need `url`, email rules "
        "`recipients`; a webhook's `secret` signs its deliveries.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        project = data.pop("project")
        wanted = rules.action_for(data.get("workflow"))
        try:
            require(self.request, wanted, project, target=project)
        except PermissionDenied as denied:
            raise exceptions.PermissionDenied(str(denied)) from None
        with audit.recording(
            self.request,
            Action.MANAGE_NOTIFICATIONS,
            project=project,
            detail={"channel": data.get("channel"), "events": data.get("events")},
        ) as entry:
            try:
                rule = rules.create_rule(project, data, user=self.request.user)
            except rules.RuleError as error:
                raise _invalid(error) from None
            entry.target = rule
        serializer.instance = rule

    def perform_update(self, serializer: BaseSerializer) -> None:
        rule = serializer.instance
        changes = dict(serializer.validated_data)
        changes.pop("project", None)
        if "workflow" in changes and changes["workflow"] != rule.workflow:
            # Moving a rule to another scope needs the role of that scope too.
            _require(self.request, rule, rules.action_for(changes["workflow"]))
        with audit.recording(
            self.request,
            Action.MANAGE_NOTIFICATIONS,
            rule,
            detail={"changed": sorted(changes)},
        ):
            try:
                rules.update_rule(rule, changes)
            except rules.RuleError as error:
                raise _invalid(error) from None

    def perform_destroy(self, instance: NotificationRule) -> None:
        with audit.recording(
            self.request,
            Action.MANAGE_NOTIFICATIONS,
            instance,
            detail={"deleted": True},
        ):
            instance.delete()

    @extend_schema(
        request=None,
        responses={202: TestSentSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Send a test notification through the rule's channel now; "
        "its delivery shows in the rule's delivery log.",
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        with audit.recording(
            request, Action.MANAGE_NOTIFICATIONS, rule, detail={"test": True}
        ):
            notification = delivery.send_test(rule)
        return Response(
            {"notification": notification.pk, "key": notification.key},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        responses={200: DeliverySerializer(many=True), 404: NOT_FOUND},
        description="The rule's delivery log, newest first (at most 200): each "
        "attempt with its outcome, HTTP status, error and time.",
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        log = Delivery.objects.filter(notification__rule=rule).select_related(
            "notification"
        )[:_LOG_LIMIT]
        return Response(DeliverySerializer(log, many=True).data)
