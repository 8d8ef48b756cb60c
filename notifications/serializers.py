"""Notification rules and their delivery log in the REST API. Secrets (the
webhook signing key, a Slack URL's path) are written, never read back."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications import rules
from notifications.models import Channel, Delivery, NotificationRule
from workflows.models import Project, Workflow


class NotificationRuleSerializer(serializers.ModelSerializer):
    """A rule: `workflow` null means every workflow of the project. `secret`
    (a webhook's signing key) is write-only: `has_secret` says one is set."""

    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.none())
    workflow = serializers.PrimaryKeyRelatedField(
        queryset=Workflow.objects.none(), allow_null=True, required=False
    )
    events = serializers.ListField(child=serializers.CharField(max_length=32))
    channel = serializers.ChoiceField(choices=Channel.choices)
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False
    )
    secret = serializers.CharField(
        max_length=200, required=False, allow_blank=True, write_only=True
    )
    has_secret = serializers.SerializerMethodField()
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None
    )

    class Meta:
        model = NotificationRule
        fields = [
            "id",
            "project",
            "workflow",
            "name",
            "events",
            "channel",
            "url",
            "recipients",
            "secret",
            "has_secret",
            "enabled",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "has_secret", "created_by", "created_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queryset = self.context.get("projects")
        if queryset is not None:
            self.fields["project"].queryset = queryset
            self.fields["workflow"].queryset = Workflow.objects.filter(
                project__in=queryset
            )
        if self.instance is not None and not isinstance(self.instance, list):
            # A rule stays in its project.
            self.fields["project"].read_only = True

    def get_has_secret(self, rule: NotificationRule) -> bool:
        return bool(rule.secret)

    def to_representation(self, rule: NotificationRule) -> dict[str, Any]:
        data = super().to_representation(rule)
        data["url"] = rules.masked_url(rule)
        return data


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="notification.event")
    key = serializers.CharField(source="notification.key")
    run = serializers.IntegerField(source="notification.run_id", allow_null=True)
    status = serializers.CharField(source="notification.status")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "at",
            "attempt",
            "outcome",
            "response_code",
            "error",
            "duration_ms",
            "event",
            "key",
            "run",
            "status",
        ]
        read_only_fields = fields


class TestSentSerializer(serializers.Serializer):
    notification = serializers.IntegerField()
    key = serializers.CharField()
