"""Forms of the project pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from workflows.models import Project, Role


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description", "namespace"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "namespace": "Empty: the installation's namespace (FLOWDECK_K8S_NAMESPACE)."
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["namespace"].required = False


class ProjectSettingsForm(forms.ModelForm):
    """The name stays: scripts and namespaces refer to it."""

    class Meta:
        model = Project
        fields = [
            "description",
            "namespace",
            "max_running_tasks",
            "max_cpu",
            "max_memory",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "max_running_tasks": "Quota: running tasks",
            "max_cpu": "Quota: CPU",
            "max_memory": "Quota: memory",
        }


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)

    def clean_username(self) -> Any:
        username = self.cleaned_data["username"]
        user = (
            get_user_model().objects.filter(username=username, is_active=True).first()
        )
        if user is None:
            raise forms.ValidationError(f"There is no active user {username!r}.")
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
