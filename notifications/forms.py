"""The project page's form for a notification rule."""

from __future__ import annotations

from typing import Any

from django import forms

from notifications.models import RULE_EVENTS, Channel
from workflows.models import Project, Workflow


class NotificationRuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    workflow = forms.ModelChoiceField(
        queryset=Workflow.objects.none(),
        required=False,
        empty_label="every workflow of the project",
    )
    events = forms.MultipleChoiceField(
        choices=[(event.value, event.label) for event in RULE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
    )
    channel = forms.ChoiceField(choices=Channel.choices)
    url = forms.CharField(max_length=2000, required=False, label="URL")
    recipients = forms.CharField(
        max_length=5000, required=False, help_text="email addresses, comma-separated"
    )
    secret = forms.CharField(
        max_length=200,
        required=False,
        label="Signing secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="webhooks: signs each delivery (HMAC-SHA256); never shown again",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workflow"].queryset = project.workflows.order_by("name")

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["recipients"] = [
            part.strip()
            for part in data.get("recipients", "").split(",")
            if part.strip()
        ]
        return data
